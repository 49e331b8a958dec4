/*
 * authorize.c - the one authorization call of every S3 request, made by the dispatch in
 * s3.c once the operation, bucket and key are known. It applies the rules of the
 * credential kind (an S3 Express session: its bucket, its mode, never CreateSession, and
 * no copy source outside its bucket), then the account's IAM decision: the operation's
 * action on its bucket or object ARN (from auth/authz's table) under the bucket policy,
 * and s3:GetObject on a copy source. Directory buckets: regional operations have their
 * s3express actions; zonal ones need s3express:CreateSession on the bucket.
 */
#include "api/s3/s3_int.h"

#include <stdio.h>
#include <string.h>

#include "api/authorize.h"
#include "util/names.h"

#define MSG_CAP 2600

#define MSG_SESSION_SCOPE                                                                          \
    "The S3 Express session credentials are not valid for this bucket or operation."

/* An S3 Express session is bound to one bucket and a mode: reads only in ReadOnly, no new
 * session from a session, and a copy (CopyObject, UploadPartCopy) may read only its own
 * bucket, since the session authorises nothing else. */
static bool session_allows(struct s3_op *op, const char *name, unsigned flags)
{
    const struct creds_identity *id = &op->ar->id;
    if (id->kind != CREDS_S3EXPRESS)
        return true;
    if (!op->directory || !qr_slice_eq(op->bucket, qr_slice_cstr(id->bucket)))
        return false;
    if (id->mode == CREDS_READ_ONLY && (flags & S3_WRITES))
        return false;
    if (strcmp(name, "CreateSession") == 0)
        return false;
    struct qr_slice v, sb, sk;
    if (!s3_hdr(op, "x-amz-copy-source", &v))
        return true;
    /* Parsed exactly as the copy will parse it: the bucket checked is the bucket read. */
    return s3_copy_source(op, &sb, &sk) && qr_slice_eq(sb, qr_slice_cstr(id->bucket));
}

static bool deny(struct s3_op *op, char *msg)
{
    s3_fail_code(op, 403, "AccessDenied", msg);
    return false;
}

/* The condition keys S3 documents for listing: s3:prefix, s3:delimiter, s3:max-keys. */
static size_t list_ctx(struct s3_op *op, struct policy_kv *kv, const char **vals)
{
    static const char *const keys[][2] = {
        {"prefix", "s3:prefix"}, {"delimiter", "s3:delimiter"}, {"max-keys", "s3:max-keys"}};
    size_t n = 0;
    for (size_t i = 0; i < 3; i++) {
        struct qr_slice v;
        if (!s3_param(op, keys[i][0], &v))
            continue;
        vals[n] = h2o_strdup(&op->ar->req->pool, (const char *)v.p, v.len).base;
        kv[n] = (struct policy_kv){keys[i][1], &vals[n], 1};
        n++;
    }
    return n;
}

/* Zonal operations of a directory bucket without a session, and CreateSession itself:
 * s3express:CreateSession on the bucket, its SessionMode telling reads from writes. */
static bool authorize_zonal(struct s3_op *op, const char *name, unsigned flags, char *msg)
{
    char arn[400];
    const char *mode = (flags & S3_WRITES) ? "ReadWrite" : "ReadOnly";
    struct qr_slice h;
    if (strcmp(name, "CreateSession") == 0)
        mode = s3_hdr(op, "x-amz-create-session-mode", &h) && qr_slice_eq_lit(h, "ReadOnly")
                   ? "ReadOnly"
                   : "ReadWrite";
    api_resource_arn(op->ar, AUTHZ_RES_BUCKET, true, op->bucket, op->key, NULL, arn, sizeof(arn));
    const char *vals[1] = {mode};
    struct policy_kv kv = {"s3express:SessionMode", vals, 1};
    struct api_authz q = {"s3express:CreateSession", arn, op->bucket, &kv, 1, NULL};
    return api_authorize(op->ar, &q, msg, MSG_CAP) || deny(op, msg);
}

/* A copy reads its source: s3:GetObject on it, under the source bucket's policy. */
static bool authorize_copy_source(struct s3_op *op, char *msg)
{
    struct qr_slice v, sb, sk;
    if (!s3_hdr(op, "x-amz-copy-source", &v))
        return true;
    if (!s3_copy_source(op, &sb, &sk))
        return true; /* malformed: the handler refuses it with its own error */
    bool dir = false;
    (void)qr_bucket_name_valid(sb, &dir);
    char arn[1500];
    if (dir) {
        api_resource_arn(op->ar, AUTHZ_RES_BUCKET, true, sb, sk, NULL, arn, sizeof(arn));
        const char *vals[1] = {"ReadOnly"};
        struct policy_kv kv = {"s3express:SessionMode", vals, 1};
        struct api_authz q = {"s3express:CreateSession", arn, sb, &kv, 1, NULL};
        return api_authorize(op->ar, &q, msg, MSG_CAP) || deny(op, msg);
    }
    api_resource_arn(op->ar, AUTHZ_RES_OBJECT, false, sb, sk, NULL, arn, sizeof(arn));
    struct qr_slice sv;
    bool versioned = s3_copy_source_v(op, &sb, &sk, &sv) && sv.len;
    struct api_authz q = {
        versioned ? "s3:GetObjectVersion" : "s3:GetObject", arn, sb, NULL, 0, NULL};
    return api_authorize(op->ar, &q, msg, MSG_CAP) || deny(op, msg);
}

/* Operations on one named version are their own IAM actions (AWS's Service
 * Authorization Reference): GetObject with versionId is s3:GetObjectVersion, etc. */
static const char *version_action(struct s3_op *op, const char *name, const char *action)
{
    static const char *const map[][2] = {
        {"GetObject", "s3:GetObjectVersion"},
        {"HeadObject", "s3:GetObjectVersion"},
        {"DeleteObject", "s3:DeleteObjectVersion"},
        {"GetObjectTagging", "s3:GetObjectVersionTagging"},
        {"PutObjectTagging", "s3:PutObjectVersionTagging"},
        {"DeleteObjectTagging", "s3:DeleteObjectVersionTagging"},
    };
    struct qr_slice v;
    if (!api_param(op->ar, "versionId", &v))
        return action;
    for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
        if (strcmp(map[i][0], name) == 0)
            return map[i][1];
    return action;
}

/* ListBuckets and ListDirectoryBuckets share a route (GET /); the listing is of directory
 * buckets on the same condition as list.c's is_directory_listing, and is then authorised
 * as s3express:ListAllMyDirectoryBuckets. */
static const char *listing_name(struct s3_op *op, const char *name)
{
    struct qr_slice x;
    if (strcmp(name, "ListBuckets") != 0)
        return name;
    if ((op->ar->authed && strcmp(op->ar->auth.service, "s3express") == 0) ||
        (s3_param(op, "x-id", &x) && qr_slice_eq_lit(x, "ListDirectoryBuckets")))
        return "ListDirectoryBuckets";
    return name;
}

bool s3_authorize(struct s3_op *op, const char *name, unsigned flags)
{
    name = listing_name(op, name);
    if (!session_allows(op, name, flags)) {
        s3_fail_code(op, 403, "AccessDenied", MSG_SESSION_SCOPE);
        return false;
    }
    if (op->ar->id.kind == CREDS_S3EXPRESS)
        return true; /* authorised when the session was created */
    if (strcmp(name, "DeleteObjects") == 0 && !op->directory)
        return true; /* s3:DeleteObject is decided for each key (s3_authorize_key) */
    char *msg = h2o_mem_alloc_pool(&op->ar->req->pool, MSG_CAP);
    const struct authz_op *t = op->directory ? authz_find_op("s3express", name) : NULL;
    if (op->directory && !t)
        return authorize_zonal(op, name, flags, msg) && authorize_copy_source(op, msg);
    if (!t)
        t = authz_find_op("s3", name);
    if (!t) {
        snprintf(msg, MSG_CAP, "quarry has no authorization rule for %s.", name);
        return deny(op, msg);
    }
    char *arn = h2o_mem_alloc_pool(&op->ar->req->pool, 1500);
    api_resource_arn(op->ar, t->res, op->directory, op->bucket, op->key, NULL, arn, 1500);
    struct policy_kv kv[3];
    const char *vals[3];
    size_t n = t->res == AUTHZ_RES_BUCKET ? list_ctx(op, kv, vals) : 0;
    struct api_authz q = {version_action(op, name, t->action), arn,
                          t->res == AUTHZ_RES_NONE ? qr_slice(NULL, 0) : op->bucket, kv, n, NULL};
    if (!api_authorize(op->ar, &q, msg, MSG_CAP))
        return deny(op, msg);
    return authorize_copy_source(op, msg);
}

bool s3_authorize_key(struct s3_op *op, const char *action, struct qr_slice key)
{
    if (op->ar->id.kind == CREDS_S3EXPRESS)
        return true;
    char msg[MSG_CAP], arn[1500];
    api_resource_arn(op->ar, AUTHZ_RES_OBJECT, op->directory, op->bucket, key, NULL, arn,
                     sizeof(arn));
    if (op->directory)
        return true; /* zonal: s3express:CreateSession on the bucket was decided already */
    struct api_authz q = {action, arn, op->bucket, NULL, 0, NULL};
    return api_authorize(op->ar, &q, msg, sizeof(msg));
}
