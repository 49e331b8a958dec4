/*
 * creds.h - the one credential store: access key id -> secret, principal and, for
 * temporary credentials, session token, scope and expiry.
 *
 * Long-term keys: the root key given at start (more come with IAM later).
 * Temporary credentials (S3 Express CreateSession now; STS and function credentials
 * later) are stateless: the access key id carries kind, expiry and scope, and the
 * secret and token are HMACs under a server key kept in DATA/ (created once, 0600), so
 * they survive a restart without any write per session and cannot be forged.
 *
 * Thread-safety: after creds_new, every function may be called from any thread.
 */
#ifndef QR_CREDS_H
#define QR_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/slice.h"

struct creds;

enum creds_kind {
    CREDS_LONG_TERM,    /* an access key of a principal */
    CREDS_S3EXPRESS,    /* an S3 Express session, bound to one bucket */
    CREDS_FUNCTION,     /* a function's execution-role session (what STS AssumeRole
                           gives Lambda); principal is the role ARN */
    CREDS_ROLE_SESSION, /* STS AssumeRole: principal is the role ARN, session_name the
                           RoleSessionName, policy the session policy (may be empty) */
    CREDS_USER_SESSION, /* STS GetSessionToken: principal is the user's ARN */
};

#define CREDS_MAX_PRINCIPAL 1024 /* a role ARN with the longest path IAM allows */
#define CREDS_MAX_POLICY    2048 /* a packed session policy, as STS limits it */
#define CREDS_MAX_TOKEN     4400 /* the longest token minted, with its NUL */

enum creds_mode {
    CREDS_READ_WRITE,
    CREDS_READ_ONLY,
};

/* What a valid access key id resolves to. */
struct creds_identity {
    enum creds_kind kind;
    char principal[CREDS_MAX_PRINCIPAL + 1]; /* "root" for the root key, else an ARN */
    char secret[128];                        /* NUL-terminated secret for signing; wipe after use */
    size_t secret_len;
    int64_t expires_ms;    /* temporary: expiry, else 0 */
    char bucket[64];       /* CREDS_S3EXPRESS: the session's bucket */
    enum creds_mode mode;  /* CREDS_S3EXPRESS: session mode */
    char function[65];     /* CREDS_FUNCTION: the function name (the role session name) */
    int64_t issued_ms;     /* temporary: when it was minted (0 for tokens of format 1) */
    char session_name[65]; /* CREDS_ROLE_SESSION: RoleSessionName */
    char policy[CREDS_MAX_POLICY + 1]; /* CREDS_ROLE_SESSION: session policy JSON or "" */
    char akid[129];                    /* the access key id the request named */
};

/* Opens the store: the root key pair, and the server key file in data_dir (created
 * with 32 random bytes, mode 0600, fsynced, if absent). *out owned by caller (free with
 * creds_free). Errors: QR_E_IO, QR_E_BAD_INPUT (empty root key). Main thread. */
enum qr_err creds_new(const char *data_dir, const char *root_akid, const char *root_secret,
                      struct creds **out) __attribute__((warn_unused_result));
void creds_free(struct creds *c);

/*
 * Resolves an access key id at time now_ms. For temporary credentials the token the
 * request carried (x-amz-s3session-token or X-Amz-Security-Token) must be the one
 * issued with the key: compared in constant time. Errors: QR_E_NO_SUCH_ACCESS_KEY,
 * QR_E_TOKEN (missing or wrong token), QR_E_EXPIRED.
 */
enum qr_err creds_lookup(const struct creds *c, struct qr_slice akid, struct qr_slice token,
                         int64_t now_ms, struct creds_identity *out)
    __attribute__((warn_unused_result));

/* Temporary credentials as handed to a client. */
struct creds_session {
    char akid[129];
    char secret[129];
    char token[CREDS_MAX_TOKEN];
    int64_t expires_ms;
};

/* Mints S3 Express session credentials for bucket, valid ttl_s seconds from now_ms,
 * for the principal of the long-term key that asked. Errors: QR_E_BAD_INPUT. */
enum qr_err creds_s3express_session(const struct creds *c, const char *principal,
                                    struct qr_slice bucket, enum creds_mode mode, int64_t now_ms,
                                    uint32_t ttl_s, struct creds_session *out)
    __attribute__((warn_unused_result));

/* Mints the temporary credentials a function runs with: a session of role_arn (the
 * principal, at most CREDS_MAX_PRINCIPAL bytes, printable) named after function (1..64 of
 * [A-Za-z0-9_-]), valid ttl_s (1..36 h) seconds from now_ms. creds_lookup resolves the
 * key to CREDS_FUNCTION with the token sent as X-Amz-Security-Token. Any thread.
 * Errors: QR_E_BAD_INPUT. */
enum qr_err creds_function_session(const struct creds *c, const char *role_arn,
                                   const char *function, int64_t now_ms, uint32_t ttl_s,
                                   struct creds_session *out) __attribute__((warn_unused_result));

/* Mints STS AssumeRole credentials: a session of role_arn named session_name (2..64 of
 * [\w+=,.@-]) narrowed by policy (JSON, at most CREDS_MAX_POLICY bytes, may be empty),
 * valid ttl_s (1..36 h). Any thread. Errors: QR_E_BAD_INPUT. */
enum qr_err creds_role_session(const struct creds *c, const char *role_arn,
                               const char *session_name, struct qr_slice policy, int64_t now_ms,
                               uint32_t ttl_s, struct creds_session *out)
    __attribute__((warn_unused_result));

/* Mints STS GetSessionToken credentials for the IAM user user_arn. Errors: QR_E_BAD_INPUT. */
enum qr_err creds_user_session(const struct creds *c, const char *user_arn, int64_t now_ms,
                               uint32_t ttl_s, struct creds_session *out)
    __attribute__((warn_unused_result));

/* Ends every function credential of function minted up to now_ms: a deleted function's
 * environment variables stop working at once (a function created again under the same
 * name gets new ones). Credentials of functions also end with the process that minted
 * them, since the processes that held them end with it. Any thread. */
void creds_revoke_function(struct creds *c, const char *function, int64_t now_ms);

/* Wipes secrets in an identity or session (OPENSSL_cleanse). */
void creds_identity_wipe(struct creds_identity *id);
void creds_session_wipe(struct creds_session *s);

#endif
