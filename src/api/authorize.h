/*
 * authorize.h - the API side of the one decision point: builds the request's condition
 * keys, resolves the principal in the current IAM snapshot, asks auth/authz, records
 * principal, action and decision for the access log, and words the denial as AWS does.
 * Every API calls api_authorize once per request after routing (S3 through s3_authorize),
 * plus once per secondary resource (copy sources, DeleteObjects keys, iam:PassRole).
 */
#ifndef QR_API_AUTHORIZE_H
#define QR_API_AUTHORIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"
#include "auth/authz.h"

/* One request to decide: action and resource ARN, plus the bucket whose policy applies
 * (empty: none) and condition keys of the operation. */
struct api_authz {
    const char *action;
    const char *resource;
    struct qr_slice policy_bucket;
    const struct policy_kv *ctx;
    size_t n_ctx;
    const char *policy_function; /* the function whose resource policy applies, or NULL */
};

/* True when allowed. Otherwise msg (cap bytes) holds AWS's AccessDenied message. Any
 * thread that owns ar. */
bool api_authorize(struct api_req *ar, const struct api_authz *q, char *msg, size_t cap);

/* ar's principal in the current snapshot (for GetCallerIdentity). */
void api_principal(struct api_req *ar, struct auth_principal *out);

/* The resource ARN of an operation of the authz table (function or bucket or object)
 * into buf. */
void api_resource_arn(const struct api_req *ar, enum authz_res res, bool directory,
                      struct qr_slice bucket, struct qr_slice key, const char *function, char *buf,
                      size_t cap);

#endif
