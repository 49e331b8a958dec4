/*
 * policy.c - bucket policies (PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy) on
 * both bucket types. A policy is validated as a resource policy before it is stored with
 * the IAM rows, and the IAM snapshot is rebuilt so the next request is decided under it.
 */
#include "api/s3/s3_int.h"

#include <string.h>

#include "auth/authz.h"
#include "auth/policy.h"
#include "store/store_iam.h"

#define MAX_BUCKET_POLICY (20u * 1024u) /* S3's limit for a bucket policy */

static bool bucket_exists(struct s3_op *op)
{
    struct store_bucket b;
    enum qr_err e = store_bucket_get(op->reader, op->bucket, &b);
    if (e)
        s3_fail(op, e);
    return e == QR_OK;
}

static void changed(struct s3_op *op)
{
    if (authz_reload(op->ar->server->authz, op->reader) != QR_OK)
        server_log(op->ar->server, QR_LOG_ERROR, "quarry: IAM snapshot reload failed");
}

void s3_put_bucket_policy(struct s3_op *op)
{
    struct s3_body body;
    if (!bucket_exists(op) || !s3_body_read(op, MAX_BUCKET_POLICY, S3_BODY_PAYLOAD, &body))
        return;
    struct policy *p = NULL;
    char why[300];
    char *msg = h2o_mem_alloc_pool(op->pool, sizeof(why));
    if (policy_parse(body.data, POLICY_RESOURCE, &p, why, sizeof(why)) != QR_OK) {
        memcpy(msg, why, sizeof(why));
        s3_fail_code(op, 400, "MalformedPolicy", msg);
        s3_body_dispose(&body);
        return;
    }
    policy_free(p);
    char name[64];
    size_t n = op->bucket.len < sizeof(name) ? op->bucket.len : sizeof(name) - 1;
    memcpy(name, op->bucket.p, n);
    name[n] = '\0';
    struct store_iam_op c = {STORE_IAM_UPSERT, "bucketpolicy", qr_slice_cstr(""),
                             qr_slice_cstr(name), body.data};
    enum qr_err e = store_iam_change(op->store, &c, 1, NULL);
    s3_body_dispose(&body);
    if (e) {
        s3_fail(op, e);
        return;
    }
    changed(op);
    op->status = 204;
}

void s3_get_bucket_policy(struct s3_op *op)
{
    if (!bucket_exists(op))
        return;
    char name[64];
    size_t n = op->bucket.len < sizeof(name) ? op->bucket.len : sizeof(name) - 1;
    memcpy(name, op->bucket.p, n);
    name[n] = '\0';
    const struct authz_snap *s = authz_acquire(op->ar->server->authz);
    const struct authz_row *r = authz_row(s, "bucketpolicy", "", name);
    if (r) {
        (void)qr_buf_add(&op->body, r->doc.p, r->doc.len);
        op->content_type = "application/json";
    } else {
        s3_fail_code(op, 404, "NoSuchBucketPolicy", "The bucket policy does not exist");
    }
    authz_release(s);
}

void s3_delete_bucket_policy(struct s3_op *op)
{
    if (!bucket_exists(op))
        return;
    char name[64];
    size_t n = op->bucket.len < sizeof(name) ? op->bucket.len : sizeof(name) - 1;
    memcpy(name, op->bucket.p, n);
    name[n] = '\0';
    struct store_iam_op c = {STORE_IAM_DELETE_ANY, "bucketpolicy", qr_slice_cstr(""),
                             qr_slice_cstr(name), qr_slice_cstr("")};
    enum qr_err e = store_iam_change(op->store, &c, 1, NULL);
    if (e) {
        s3_fail(op, e);
        return;
    }
    changed(op);
    op->status = 204;
}
