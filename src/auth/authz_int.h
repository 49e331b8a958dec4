/*
 * authz_int.h - what the files of the authorization module share: the snapshot's layout.
 * Nothing outside src/auth/authz*.c includes it.
 */
#ifndef QR_AUTHZ_INT_H
#define QR_AUTHZ_INT_H

#include <stdatomic.h>

#include "auth/authz.h"

#define AZ_MAX_MANAGED 512 /* distinct managed policies compiled per snapshot */

/* A user or a role: its name, ARN, unique id and every identity policy that applies. */
struct az_ident {
    char *name;
    char *arn;
    char *id;
    const struct policy **pols; /* owned array; the policies are in the snapshot's owned list */
    size_t n_pols;
    const struct policy *trust; /* roles: the trust policy, or NULL */
    uint32_t max_s;             /* roles: MaxSessionDuration */
};

struct az_key {
    char akid[129];
    char secret[129];
    const char *user; /* the row's parent, owned by the snapshot */
    bool active;
};

struct az_bp {
    const char *bucket; /* the row's name */
    const struct policy *p;
};

struct az_managed {
    const char *arn;
    const struct policy *p; /* NULL: unknown or unparsable */
};

/* Invariant: immutable once published; freed when refs drops to zero. */
struct authz_snap {
    atomic_int refs;
    char account[13];
    struct authz_row *rows; /* sorted by (kind, parent, name), strings owned */
    size_t n_rows, cap_rows;
    struct policy **owned; /* every compiled policy */
    size_t n_owned, cap_owned;
    struct az_ident *users; /* sorted by name (rows order) */
    size_t n_users;
    struct az_ident *roles; /* sorted by name */
    size_t n_roles;
    struct az_key *keys; /* sorted by akid */
    size_t n_keys;
    struct az_bp *bps;
    size_t n_bps;
    struct az_bp *fps; /* function policies: bucket is the function name */
    size_t n_fps;
    struct az_managed managed[AZ_MAX_MANAGED];
    size_t n_managed;
    struct az_sess_cache *sessions; /* compiled session policies: a memo, the one part that
                                       changes after publication (own mutex) */
};

/* ---- compiled session policies (authz_session.c) ---- */

struct az_sess;       /* one session policy text, compiled; reference counted */
struct az_sess_cache; /* a snapshot's table of them */

struct az_sess_cache *authz_sess_cache_new(void);
void authz_sess_cache_free(struct az_sess_cache *c);
/* The compiled session policies of p (p->session_key in p->session_cache), compiled on
 * the first use and held for the caller until authz_sess_put. Any thread. */
const struct az_sess *authz_sess_get(const struct auth_principal *p);
void authz_sess_put(const struct az_sess *e);
/* Copies e's policies (at most AUTH_MAX_SESSION_ARNS + 1) to out; *bad when a document
 * did not compile (the session is allowed nothing). Borrowed while e is held. */
size_t authz_sess_policies(const struct az_sess *e, const struct policy **out, bool *bad);
/* The table's hash of a session policy text (not cryptographic: memcmp decides). */
uint64_t authz_session_hash(const char *text, size_t len);

const struct az_ident *authz_find_ident(const struct az_ident *v, size_t n, const char *name);
const char *authz_arn_last(const char *arn);

#endif
