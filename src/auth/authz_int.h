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
};

const struct az_ident *authz_find_ident(const struct az_ident *v, size_t n, const char *name);
const char *authz_arn_last(const char *arn);

#endif
