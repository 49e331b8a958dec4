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
    CREDS_LONG_TERM, /* an access key of a principal */
    CREDS_S3EXPRESS, /* an S3 Express session, bound to one bucket */
    CREDS_FUNCTION,  /* a function's execution-role session (what STS AssumeRole
                        gives Lambda); principal is the role ARN */
};

enum creds_mode {
    CREDS_READ_WRITE,
    CREDS_READ_ONLY,
};

/* What a valid access key id resolves to. */
struct creds_identity {
    enum creds_kind kind;
    char principal[128]; /* "root" for the root key; an ARN later */
    char secret[128];    /* NUL-terminated secret for signing; wipe after use */
    size_t secret_len;
    int64_t expires_ms;   /* temporary: expiry, else 0 */
    char bucket[64];      /* CREDS_S3EXPRESS: the session's bucket */
    enum creds_mode mode; /* CREDS_S3EXPRESS: session mode */
    char function[65];    /* CREDS_FUNCTION: the function name (the role session name) */
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
    char token[513];
    int64_t expires_ms;
};

/* Mints S3 Express session credentials for bucket, valid ttl_s seconds from now_ms,
 * for the principal of the long-term key that asked. Errors: QR_E_BAD_INPUT. */
enum qr_err creds_s3express_session(const struct creds *c, const char *principal,
                                    struct qr_slice bucket, enum creds_mode mode, int64_t now_ms,
                                    uint32_t ttl_s, struct creds_session *out)
    __attribute__((warn_unused_result));

/* Mints the temporary credentials a function runs with: a session of role_arn (the
 * principal, at most 127 bytes, printable) named after function (1..64 of
 * [A-Za-z0-9_-]), valid ttl_s (1..36 h) seconds from now_ms. creds_lookup resolves the
 * key to CREDS_FUNCTION with the token sent as X-Amz-Security-Token. Any thread.
 * Errors: QR_E_BAD_INPUT. */
enum qr_err creds_function_session(const struct creds *c, const char *role_arn,
                                   const char *function, int64_t now_ms, uint32_t ttl_s,
                                   struct creds_session *out) __attribute__((warn_unused_result));

/* Wipes secrets in an identity or session (OPENSSL_cleanse). */
void creds_identity_wipe(struct creds_identity *id);
void creds_session_wipe(struct creds_session *s);

#endif
