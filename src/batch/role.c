/*
 * role.c - a job acts as its RoleArn: every task, the manifest read and the report write
 * are decided here, as an assumed-role session of the job's role, by the same
 * authz_decide the request path uses.
 *
 * The principal is resolved once from the IAM snapshot and kept with the snapshot it was
 * resolved in (its identity policies are borrowed from it); before each window the
 * current snapshot is compared with the kept one and the principal rebuilt only when IAM
 * changed, so a role that loses a permission, or is deleted, denies from the next window
 * on. A decision per task is then the policy evaluation itself: no JSON, no SQL, no lock.
 */
#include "batch/batch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec.h"

/* The role session's name. AWS does not publish the name Batch Operations gives its
 * session; the job id makes each job's decisions traceable in the access log and in
 * AccessDenied messages (an IAM session name is at most 64 characters). */
static void session_name(const char *job_id, char out[65])
{
    snprintf(out, 65, "s3-batch-operations-%.44s", job_id);
}

static void resolve(struct batch_role *r)
{
    authz_role_principal(r->snap, r->account, r->role_arn, r->session, &r->p);
    r->n_kv = 0;
    const char *keys[] = {"aws:userid",          "aws:PrincipalArn", "aws:PrincipalAccount",
                          "aws:RequestedRegion", "aws:CurrentTime",  "aws:EpochTime"};
    const char *vals[] = {r->p.unique_id, r->p.role_arn, r->p.account, r->region, r->now, r->epoch};
    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
        r->vals[i] = vals[i];
        r->kv[r->n_kv++] = (struct policy_kv){keys[i], &r->vals[i], 1};
    }
}

void batch_role_open(struct batch_role *r, struct batch_engine *e, const char *job_id,
                     const char *role_arn)
{
    memset(r, 0, sizeof(*r));
    r->authz = e->o.authz;
    r->account = e->account_id;
    r->region = e->region;
    snprintf(r->role_arn, sizeof(r->role_arn), "%s", role_arn);
    session_name(job_id, r->session);
    r->s3x_prefix_len = (size_t)snprintf(r->s3x_prefix, sizeof(r->s3x_prefix),
                                         "arn:aws:s3express:%s:%s:bucket/", r->region, r->account);
    if (r->authz == NULL)
        return; /* no IAM: every decision denies (batch_role_allows) */
    r->snap = authz_acquire(r->authz);
    batch_role_refresh(r);
    resolve(r);
}

void batch_role_refresh(struct batch_role *r)
{
    int64_t ms = qr_now_ms();
    qr_time_iso8601(ms, r->now);
    snprintf(r->epoch, sizeof(r->epoch), "%lld", (long long)(ms / 1000));
    if (r->authz == NULL || r->snap == NULL)
        return;
    const struct authz_snap *cur = authz_acquire(r->authz);
    if (cur == r->snap) {
        authz_release(cur);
        return;
    }
    authz_release(r->snap);
    r->snap = cur;
    resolve(r);
}

void batch_role_close(struct batch_role *r)
{
    if (r->snap)
        authz_release(r->snap);
    r->snap = NULL;
}

bool batch_role_allows(struct batch_role *r, const char *action, const char *resource,
                       struct qr_slice bucket, const struct policy_kv *extra, size_t n_extra,
                       char *msg, size_t cap)
{
    if (r->snap == NULL) {
        snprintf(msg, cap, "User: %s is not authorized to perform: %s on resource: %s", r->role_arn,
                 action, resource);
        return false;
    }
    /* Extra keys (the session mode) are appended to a copy; most decisions need none. */
    struct policy_kv kv[BATCH_ROLE_CTX + 2];
    const struct policy_kv *ctx = r->kv;
    size_t n = r->n_kv;
    if (n_extra) {
        memcpy(kv, r->kv, sizeof(*kv) * n);
        for (size_t i = 0; i < n_extra && n < sizeof(kv) / sizeof(*kv); i++)
            kv[n++] = extra[i];
        ctx = kv;
    }
    struct authz_check c = {
        .action = action,
        .resource = resource,
        .resource_policy = bucket.len ? authz_bucket_policy(r->snap, bucket) : NULL,
        .ctx = ctx,
        .n_ctx = n,
    };
    struct policy_verdict v;
    authz_decide(&r->p, &c, &v);
    if (v.decision == POLICY_DECISION_ALLOW)
        return true;
    authz_deny_message(&r->p, &c, &v, msg, cap);
    return false;
}

/* Reading (write false) or writing an object as the role: s3:GetObject(Version) or
 * s3:PutObject on its ARN under the bucket policy; a directory bucket's zonal operations
 * are s3express:CreateSession on the bucket in ReadOnly or ReadWrite mode, as AWS decides
 * them. */
/* Appends n bytes of p at *at within cap (cut at cap; the caller sized buf for ARNs). */
static void add(char *buf, size_t cap, size_t *at, const void *p, size_t n)
{
    if (*at + n >= cap)
        n = cap - 1 - *at;
    memcpy(buf + *at, p, n);
    *at += n;
    buf[*at] = '\0';
}

/* A directory bucket's name ends in --x-s3; manifest lines are checked bucket names (csv.c),
 * so the suffix tells the type. */
static bool directory_bucket(struct qr_slice b)
{
    static const char sfx[] = "--x-s3";
    return b.len >= sizeof(sfx) - 1 &&
           memcmp(b.p + b.len - (sizeof(sfx) - 1), sfx, sizeof(sfx) - 1) == 0;
}

/* A directory bucket's objects and listings are zonal: the role needs a session on the
 * bucket, ReadWrite to write and ReadOnly to read. bucket: at most 63 bytes. */
static bool session_allows(struct batch_role *r, struct qr_slice bucket, bool write, char *msg,
                           size_t cap)
{
    char arn[160];
    size_t at = 0;
    const char *mode[1] = {write ? "ReadWrite" : "ReadOnly"};
    struct policy_kv kv = {"s3express:SessionMode", mode, 1};
    add(arn, sizeof(arn), &at, r->s3x_prefix, r->s3x_prefix_len);
    add(arn, sizeof(arn), &at, bucket.p, bucket.len);
    return batch_role_allows(r, "s3express:CreateSession", arn, bucket, &kv, 1, msg, cap);
}

bool batch_role_object(struct batch_role *r, struct qr_slice bucket, struct qr_slice key,
                       bool versioned, bool write, char *msg, size_t cap)
{
    char arn[BATCH_KEY_MAX + 160];
    size_t at = 0;
    if (bucket.len > 63)
        bucket.len = 63;
    if (key.len > BATCH_KEY_MAX)
        key.len = BATCH_KEY_MAX;
    if (directory_bucket(bucket))
        return session_allows(r, bucket, write, msg, cap);
    /* Built without snprintf: this runs for every task (twice for a copy). */
    add(arn, sizeof(arn), &at, "arn:aws:s3:::", 13);
    add(arn, sizeof(arn), &at, bucket.p, bucket.len);
    add(arn, sizeof(arn), &at, "/", 1);
    add(arn, sizeof(arn), &at, key.p, key.len);
    const char *action = write       ? "s3:PutObject"
                         : versioned ? "s3:GetObjectVersion"
                                     : "s3:GetObject";
    return batch_role_allows(r, action, arn, bucket, NULL, 0, msg, cap);
}

/* Listing a bucket as the role: s3:ListBucket on the bucket's ARN, the action of
 * ListObjectsV2 (a generator's listing of its source bucket); a directory bucket's listing
 * is a zonal operation, a ReadOnly session on the bucket. */
bool batch_role_list(struct batch_role *r, struct qr_slice bucket, char *msg, size_t cap)
{
    char arn[160];
    size_t at = 0;
    if (bucket.len > 63)
        bucket.len = 63;
    if (directory_bucket(bucket))
        return session_allows(r, bucket, false, msg, cap);
    add(arn, sizeof(arn), &at, "arn:aws:s3:::", 13);
    add(arn, sizeof(arn), &at, bucket.p, bucket.len);
    return batch_role_allows(r, "s3:ListBucket", arn, bucket, NULL, 0, msg, cap);
}

/* One S3 action on the task's object (tagging, legal hold, retention); these operations
 * over directory buckets are refused at CreateJob, so only general purpose buckets reach
 * here. */
static bool object_action(struct batch_role *r, const char *action, const struct batch_task *t,
                          char *msg, size_t cap)
{
    char arn[BATCH_KEY_MAX + 160];
    size_t at = 0, bl = strnlen(t->bucket, 63);
    add(arn, sizeof(arn), &at, "arn:aws:s3:::", 13);
    add(arn, sizeof(arn), &at, t->bucket, bl);
    add(arn, sizeof(arn), &at, "/", 1);
    add(arn, sizeof(arn), &at, t->key, t->key_len);
    return batch_role_allows(r, action, arn, qr_slice(t->bucket, bl), NULL, 0, msg, cap);
}

/* The function's ARN as the job names it (qualified or not), as Invoke decides it; a name
 * or partial ARN (fn_resolve accepts them) completed to the full ARN. Once per job turn. */
static const char *function_arn(struct batch_role *r, const char *f)
{
    if (r->fn_for == f)
        return r->fn_arn;
    if (strncmp(f, "arn:", 4) == 0)
        snprintf(r->fn_arn, sizeof(r->fn_arn), "%s", f);
    else if (strstr(f, ":function:"))
        snprintf(r->fn_arn, sizeof(r->fn_arn), "arn:aws:lambda:%s:%s", r->region, f);
    else
        snprintf(r->fn_arn, sizeof(r->fn_arn), "arn:aws:lambda:%s:%s:function:%s", r->region,
                 r->account, f);
    r->fn_for = f;
    return r->fn_arn;
}

bool batch_authorize_task(struct batch_role *r, const struct batch_def *d,
                          const struct batch_task *t, char *msg, size_t cap)
{
    struct qr_slice b = qr_slice_cstr(t->bucket), k = qr_slice(t->key, t->key_len);
    bool versioned = t->version[0] != '\0';
    switch (d->op) {
    case BATCH_OP_LAMBDA:
        return batch_role_allows(r, "lambda:InvokeFunction", function_arn(r, d->function_arn),
                                 qr_slice(NULL, 0), NULL, 0, msg, cap);
    case BATCH_OP_COPY: {
        char key[BATCH_KEY_MAX + 1];
        size_t pl = strlen(d->target_prefix);
        if (r->dst_for != d && !batch_bucket_of_arn(d->target_resource, r->dst))
            r->dst[0] = '\0';
        r->dst_for = d;
        if (r->dst[0] == '\0' || pl + t->key_len > BATCH_KEY_MAX) {
            snprintf(msg, cap, "The copy's destination is not valid.");
            return false;
        }
        memcpy(key, d->target_prefix, pl);
        memcpy(key + pl, t->key, t->key_len);
        return batch_role_object(r, b, k, versioned, false, msg, cap) &&
               batch_role_object(r, qr_slice_cstr(r->dst), qr_slice(key, pl + t->key_len), false,
                                 true, msg, cap);
    }
    case BATCH_OP_PUT_TAGGING:
        return object_action(r, versioned ? "s3:PutObjectVersionTagging" : "s3:PutObjectTagging", t,
                             msg, cap);
    case BATCH_OP_DELETE_TAGGING:
        return object_action(
            r, versioned ? "s3:DeleteObjectVersionTagging" : "s3:DeleteObjectTagging", t, msg, cap);
    case BATCH_OP_LEGAL_HOLD:
        return object_action(r, "s3:PutObjectLegalHold", t, msg, cap);
    case BATCH_OP_RETENTION:
        /* as PutObjectRetention with x-amz-bypass-governance-retention: both actions */
        return object_action(r, "s3:PutObjectRetention", t, msg, cap) &&
               (!d->ret_bypass || object_action(r, "s3:BypassGovernanceRetention", t, msg, cap));
    case BATCH_OP_CHECKSUM:
        return batch_role_object(r, b, k, versioned, false, msg, cap);
    }
    snprintf(msg, cap, "Access Denied");
    return false;
}

/* "arn:aws:s3:::bucket/key" -> bucket and key (CreateJob checked the form). */
static bool object_arn(const char *arn, struct qr_slice *bucket, struct qr_slice *key)
{
    static const char gp[] = "arn:aws:s3:::";
    if (strncmp(arn, gp, sizeof(gp) - 1) != 0)
        return false;
    const char *b = arn + sizeof(gp) - 1, *slash = strchr(b, '/');
    if (slash == NULL)
        return false;
    *bucket = qr_slice(b, (size_t)(slash - b));
    *key = qr_slice_cstr(slash + 1);
    return true;
}

bool batch_role_job_access(struct batch_engine *e, const struct store_job *j,
                           const struct batch_def *d, bool manifest, char code[64],
                           char reason[257])
{
    struct batch_role *r = qr_xmalloc(sizeof(*r));
    char *msg = qr_xmalloc(BATCH_MSG_MAX + 1);
    struct qr_slice b, k;
    bool ok = true;
    batch_role_open(r, e, j->id, d->role_arn);
    if (manifest && object_arn(d->mf_arn, &b, &k) &&
        !batch_role_object(r, b, k, d->mf_version[0] != '\0', false, msg, BATCH_MSG_MAX + 1)) {
        snprintf(code, 64, "AccessDenied");
        snprintf(reason, 257, "Reading the manifest is forbidden: AccessDenied");
        ok = false;
    }
    char bucket[64], key[BATCH_PREFIX_MAX + 64];
    if (ok && d->report_enabled && batch_bucket_of_arn(d->report_bucket_arn, bucket)) {
        /* The report's own key (report.c writes results/ and manifest.json under it). */
        size_t pl = strlen(d->report_prefix);
        snprintf(key, sizeof(key), "%s%sjob-%s/manifest.json", d->report_prefix,
                 pl && d->report_prefix[pl - 1] != '/' ? "/" : "", j->id);
        if (!batch_role_object(r, qr_slice_cstr(bucket), qr_slice_cstr(key), false, true, msg,
                               BATCH_MSG_MAX + 1)) {
            snprintf(code, 64, "ReportWriteFailed");
            snprintf(reason, 257, "Writing the completion report is forbidden: AccessDenied");
            ok = false;
        }
    }
    batch_role_close(r);
    free(r);
    free(msg);
    return ok;
}
