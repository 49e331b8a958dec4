/*
 * authz_decide.c - principals, the operation table and the decision. Each API names its
 * operation as its route table does; the table gives the IAM action and the kind of
 * resource (AWS's Service Authorization Reference), so a new route without an entry is
 * refused rather than silently allowed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authz_int.h"
#include "util/buf.h"

/* ---- the operation table ---- */

#define B AUTHZ_RES_BUCKET
#define O AUTHZ_RES_OBJECT
#define N AUTHZ_RES_NONE
static const struct authz_op s3_ops[] = {
    {"ListBuckets", "s3:ListAllMyBuckets", N},
    {"ListDirectoryBuckets", "s3express:ListAllMyDirectoryBuckets", N},
    {"CreateSession", "s3express:CreateSession", B},
    {"GetBucketLocation", "s3:GetBucketLocation", B},
    {"ListMultipartUploads", "s3:ListBucketMultipartUploads", B},
    {"ListObjectsV2", "s3:ListBucket", B},
    {"ListObjects", "s3:ListBucket", B},
    {"ListObjectVersions", "s3:ListBucketVersions", B},
    {"GetBucketVersioning", "s3:GetBucketVersioning", B},
    {"PutBucketVersioning", "s3:PutBucketVersioning", B},
    {"DeleteObjects", "s3:DeleteObject", B}, /* each key is checked as s3:DeleteObject too */
    {"HeadBucket", "s3:ListBucket", B},
    {"CreateBucket", "s3:CreateBucket", B},
    {"DeleteBucket", "s3:DeleteBucket", B},
    {"GetBucketPolicy", "s3:GetBucketPolicy", B},
    {"PutBucketPolicy", "s3:PutBucketPolicy", B},
    {"DeleteBucketPolicy", "s3:DeleteBucketPolicy", B},
    {"GetBucketEncryption", "s3:GetEncryptionConfiguration", B},
    {"PutBucketEncryption", "s3:PutEncryptionConfiguration", B},
    {"DeleteBucketEncryption", "s3:PutEncryptionConfiguration", B},
    {"ListParts", "s3:ListMultipartUploadParts", O},
    {"GetObjectTagging", "s3:GetObjectTagging", O},
    {"PutObjectTagging", "s3:PutObjectTagging", O},
    {"DeleteObjectTagging", "s3:DeleteObjectTagging", O},
    {"UploadPartCopy", "s3:PutObject", O},
    {"UploadPart", "s3:PutObject", O},
    {"CreateMultipartUpload", "s3:PutObject", O},
    {"CompleteMultipartUpload", "s3:PutObject", O},
    {"AbortMultipartUpload", "s3:AbortMultipartUpload", O},
    {"CopyObject", "s3:PutObject", O},
    {"GetObject", "s3:GetObject", O},
    {"HeadObject", "s3:GetObject", O},
    {"PutObject", "s3:PutObject", O},
    {"DeleteObject", "s3:DeleteObject", O},
    {"GetObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration", B},
    {"PutObjectLockConfiguration", "s3:PutBucketObjectLockConfiguration", B},
    {"GetObjectRetention", "s3:GetObjectRetention", O},
    {"PutObjectRetention", "s3:PutObjectRetention", O},
    {"GetObjectLegalHold", "s3:GetObjectLegalHold", O},
    {"PutObjectLegalHold", "s3:PutObjectLegalHold", O},
};

/* Directory buckets: bucket-level (regional) operations have s3express actions on the
 * bucket ARN; object (zonal) operations are authorised by s3express:CreateSession, with
 * s3express:SessionMode telling reads from writes. */
static const struct authz_op s3express_ops[] = {
    {"CreateBucket", "s3express:CreateBucket", B},
    {"DeleteBucket", "s3express:DeleteBucket", B},
    {"GetBucketPolicy", "s3express:GetBucketPolicy", B},
    {"PutBucketPolicy", "s3express:PutBucketPolicy", B},
    {"DeleteBucketPolicy", "s3express:DeleteBucketPolicy", B},
    {"GetBucketEncryption", "s3express:GetEncryptionConfiguration", B},
    {"PutBucketEncryption", "s3express:PutEncryptionConfiguration", B},
    {"DeleteBucketEncryption", "s3express:PutEncryptionConfiguration", B},
};
#undef B
#undef O

#define F AUTHZ_RES_FUNCTION
static const struct authz_op lambda_ops[] = {
    {"CreateFunction", "lambda:CreateFunction", F},
    {"ListFunctions", "lambda:ListFunctions", N},
    {"GetFunction", "lambda:GetFunction", F},
    {"DeleteFunction", "lambda:DeleteFunction", F},
    {"GetFunctionConfiguration", "lambda:GetFunctionConfiguration", F},
    {"UpdateFunctionConfiguration", "lambda:UpdateFunctionConfiguration", F},
    {"UpdateFunctionCode", "lambda:UpdateFunctionCode", F},
    {"PublishVersion", "lambda:PublishVersion", F},
    {"ListVersionsByFunction", "lambda:ListVersionsByFunction", F},
    {"CreateAlias", "lambda:CreateAlias", F},
    {"ListAliases", "lambda:ListAliases", F},
    {"GetAlias", "lambda:GetAlias", F},
    {"UpdateAlias", "lambda:UpdateAlias", F},
    {"DeleteAlias", "lambda:DeleteAlias", F},
    {"Invoke", "lambda:InvokeFunction", F},
    {"InvokeAsync", "lambda:InvokeFunction", F},
    {"PutFunctionConcurrency", "lambda:PutFunctionConcurrency", F},
    {"GetFunctionConcurrency", "lambda:GetFunctionConcurrency", F},
    {"DeleteFunctionConcurrency", "lambda:DeleteFunctionConcurrency", F},
    {"TagResource", "lambda:TagResource", F},
    {"UntagResource", "lambda:UntagResource", F},
    {"ListTags", "lambda:ListTags", F},
    {"GetAccountSettings", "lambda:GetAccountSettings", N},
    {"AddPermission", "lambda:AddPermission", F},
    {"RemovePermission", "lambda:RemovePermission", F},
    {"GetPolicy", "lambda:GetPolicy", F},
};
#undef F

/* S3 Control jobs (Service Authorization Reference, Amazon S3): CreateJob and ListJobs have
 * no resource type, the others act on the job. */
#define J AUTHZ_RES_JOB
static const struct authz_op s3control_ops[] = {
    {"CreateJob", "s3:CreateJob", N},
    {"ListJobs", "s3:ListJobs", N},
    {"DescribeJob", "s3:DescribeJob", J},
    {"UpdateJobPriority", "s3:UpdateJobPriority", J},
    {"UpdateJobStatus", "s3:UpdateJobStatus", J},
    {"GetJobTagging", "s3:GetJobTagging", J},
    {"PutJobTagging", "s3:PutJobTagging", J},
    {"DeleteJobTagging", "s3:DeleteJobTagging", J},
};
#undef J
#undef N

/* The job condition keys of each S3 Control action (Service Authorization Reference,
 * "Actions, resources, and condition keys for Amazon S3"). DescribeJob, GetJobTagging and
 * ListJobs have none. */
enum {
    JK_REQ_PRIO = 1u << 0,  /* s3:RequestJobPriority (Numeric) */
    JK_REQ_OP = 1u << 1,    /* s3:RequestJobOperation (String) */
    JK_EX_PRIO = 1u << 2,   /* s3:ExistingJobPriority (Numeric) */
    JK_EX_OP = 1u << 3,     /* s3:ExistingJobOperation (String) */
    JK_SUSPENDED = 1u << 4, /* s3:JobSuspendedCause (String) */
    JK_REQ_TAGS = 1u << 5,  /* aws:RequestTag/${TagKey}, aws:TagKeys */
};

static const struct {
    const char *action;
    unsigned keys;
} job_keys[] = {
    {"s3:CreateJob", JK_REQ_PRIO | JK_REQ_OP | JK_REQ_TAGS},
    {"s3:UpdateJobPriority", JK_REQ_PRIO | JK_EX_PRIO | JK_EX_OP},
    {"s3:UpdateJobStatus", JK_EX_PRIO | JK_EX_OP | JK_SUSPENDED},
    {"s3:PutJobTagging", JK_EX_PRIO | JK_EX_OP | JK_REQ_TAGS},
    {"s3:DeleteJobTagging", JK_EX_PRIO | JK_EX_OP},
};

static void job_key(struct authz_job_ctx *c, const char *key, const char *v)
{
    c->vals[c->n] = v;
    c->kv[c->n] = (struct policy_kv){key, &c->vals[c->n], 1};
    c->n++;
}

static unsigned job_keys_of(const char *action)
{
    for (size_t i = 0; i < sizeof(job_keys) / sizeof(*job_keys); i++)
        if (strcmp(job_keys[i].action, action) == 0)
            return job_keys[i].keys;
    return 0;
}

size_t authz_job_tags(const char *action, const char *const *keys, const char *const *values,
                      size_t n, struct authz_job_ctx *out)
{
    if (!(job_keys_of(action) & JK_REQ_TAGS) || n == 0 || n > AUTHZ_JOB_TAGS ||
        out->n + n + 1 > AUTHZ_JOB_KEYS)
        return out->n;
    for (size_t i = 0; i < n; i++)
        if (strlen(keys[i]) > AUTHZ_JOB_TAG_KEY)
            return out->n;
    for (size_t i = 0; i < n; i++) {
        snprintf(out->tag_names[i], sizeof(out->tag_names[i]), "aws:RequestTag/%s", keys[i]);
        job_key(out, out->tag_names[i], values[i]);
    }
    out->kv[out->n++] = (struct policy_kv){"aws:TagKeys", keys, n};
    return out->n;
}

size_t authz_job_ctx(const char *action, const struct authz_job_facts *f, struct authz_job_ctx *out)
{
    unsigned k = job_keys_of(action);
    out->n = 0;
    if ((k & JK_REQ_PRIO) && f->request_priority >= 0) {
        snprintf(out->num[0], sizeof(out->num[0]), "%lld", (long long)f->request_priority);
        job_key(out, "s3:RequestJobPriority", out->num[0]);
    }
    if ((k & JK_REQ_OP) && f->request_operation)
        job_key(out, "s3:RequestJobOperation", f->request_operation);
    if ((k & JK_EX_PRIO) && f->existing_priority >= 0) {
        snprintf(out->num[1], sizeof(out->num[1]), "%lld", (long long)f->existing_priority);
        job_key(out, "s3:ExistingJobPriority", out->num[1]);
    }
    if ((k & JK_EX_OP) && f->existing_operation)
        job_key(out, "s3:ExistingJobOperation", f->existing_operation);
    if ((k & JK_SUSPENDED) && f->suspended_cause)
        job_key(out, "s3:JobSuspendedCause", f->suspended_cause);
    return out->n;
}

struct svc_table {
    const char *service;
    const struct authz_op *ops;
    size_t n;
};

static const struct svc_table tables[] = {
    {"s3", s3_ops, sizeof(s3_ops) / sizeof(*s3_ops)},
    {"s3express", s3express_ops, sizeof(s3express_ops) / sizeof(*s3express_ops)},
    {"lambda", lambda_ops, sizeof(lambda_ops) / sizeof(*lambda_ops)},
    {"s3control", s3control_ops, sizeof(s3control_ops) / sizeof(*s3control_ops)},
};

const struct authz_op *authz_find_op(const char *service, const char *op)
{
    for (size_t t = 0; t < sizeof(tables) / sizeof(*tables); t++) {
        if (strcmp(tables[t].service, service) != 0)
            continue;
        for (size_t i = 0; i < tables[t].n; i++)
            if (strcmp(tables[t].ops[i].op, op) == 0)
                return &tables[t].ops[i];
    }
    return NULL;
}

/* The documents of a session's PolicyArns, from the snapshot (customer policies: their
 * default version) or the AWS managed table; one that no longer exists allows nothing. */
static void session_policies(const struct authz_snap *s, const char *policy,
                             struct auth_principal *p)
{
    static const char none[] = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
                               "\"Deny\",\"Action\":\"*\",\"Resource\":\"*\"}]}";
    size_t pl = strlen(AUTH_SESSION_ARNS_PREFIX);
    p->session_policy = policy[0] ? policy : NULL;
    if (policy[0]) {
        p->session_key = policy;
        p->session_hash = authz_session_hash(policy, strlen(policy));
        p->session_cache = s->sessions;
    }
    if (strncmp(policy, AUTH_SESSION_ARNS_PREFIX, pl) != 0)
        return;
    const char *nl = strchr(policy, '\n');
    p->session_policy = nl && nl[1] ? nl + 1 : NULL;
    const char *a = policy + pl, *end = nl ? nl : policy + strlen(policy);
    while (a < end && p->n_session_docs < AUTH_MAX_SESSION_ARNS) {
        const char *comma = memchr(a, ',', (size_t)(end - a));
        size_t n = (size_t)((comma ? comma : end) - a);
        char arn[2100];
        snprintf(arn, sizeof(arn), "%.*s", (int)(n < 2099 ? n : 2099), a);
        const char *doc = NULL;
        const struct authz_row *r = authz_row(s, "policy", "", arn);
        if (r) {
            char *dv = authz_doc_str(r->doc, "default", "v1");
            const struct authz_row *v = authz_row(s, "pversion", arn, dv);
            free(dv);
            doc = v ? (const char *)v->doc.p : NULL;
        } else {
            doc = policy_managed_document(arn);
        }
        p->session_docs[p->n_session_docs++] = doc ? doc : none;
        a = comma ? comma + 1 : end;
    }
}

/* ---- principals ---- */

static void from_role(const struct authz_snap *s, const char *role_arn, const char *session,
                      struct auth_principal *p)
{
    const struct az_ident *r = authz_find_ident(s->roles, s->n_roles, authz_arn_last(role_arn));
    p->exists = r && strcmp(r->arn, role_arn) == 0;
    snprintf(p->role_arn, sizeof(p->role_arn), "%s", role_arn);
    snprintf(p->arn, sizeof(p->arn), "arn:aws:sts::%s:assumed-role/%s/%s", p->account,
             authz_arn_last(role_arn), session);
    snprintf(p->session_name, sizeof(p->session_name), "%s", session);
    snprintf(p->unique_id, sizeof(p->unique_id), "%s:%s", p->exists ? r->id : "AROAUNKNOWN",
             session);
    if (p->exists) {
        p->identity = r->pols;
        p->n_identity = r->n_pols;
    }
}

void authz_role_principal(const struct authz_snap *s, const char *account, const char *role_arn,
                          const char *session, struct auth_principal *p)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->account, sizeof(p->account), "%s", account);
    p->kind = AUTH_ROLE_SESSION;
    from_role(s, role_arn, session, p);
}

static void from_user(const struct authz_snap *s, const char *user_arn, struct auth_principal *p)
{
    const char *name = authz_arn_last(user_arn);
    const struct az_ident *u = authz_find_ident(s->users, s->n_users, name);
    p->exists = u && strcmp(u->arn, user_arn) == 0;
    snprintf(p->arn, sizeof(p->arn), "%s", user_arn);
    snprintf(p->user_name, sizeof(p->user_name), "%s", name);
    snprintf(p->unique_id, sizeof(p->unique_id), "%s", p->exists ? u->id : "AIDAUNKNOWN");
    if (p->exists) {
        p->identity = u->pols;
        p->n_identity = u->n_pols;
    }
}

void authz_principal(const struct authz_snap *s, const struct creds_identity *id,
                     const char *account, struct auth_principal *p)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->account, sizeof(p->account), "%s", account);
    p->expires_ms = id->expires_ms;
    bool root = strcmp(id->principal, "root") == 0;
    switch (id->kind) {
    case CREDS_LONG_TERM:
        if (root) {
            p->kind = AUTH_ROOT;
            p->exists = true;
            snprintf(p->arn, sizeof(p->arn), "arn:aws:iam::%s:root", account);
            snprintf(p->unique_id, sizeof(p->unique_id), "%s", account);
        } else {
            p->kind = AUTH_USER;
            from_user(s, id->principal, p);
        }
        break;
    case CREDS_S3EXPRESS:
        /* A session acts for whoever created it; its bucket and mode bound it further. */
        p->kind = AUTH_S3EXPRESS;
        if (root) {
            p->exists = true;
            snprintf(p->arn, sizeof(p->arn), "arn:aws:iam::%s:root", account);
        } else if (strstr(id->principal, ":user/")) {
            from_user(s, id->principal, p);
        } else {
            snprintf(p->arn, sizeof(p->arn), "%s", id->principal);
            p->exists = true;
        }
        break;
    case CREDS_FUNCTION:
        p->kind = AUTH_FUNCTION;
        from_role(s, id->principal, id->function, p);
        break;
    case CREDS_ROLE_SESSION:
        p->kind = AUTH_ROLE_SESSION;
        from_role(s, id->principal, id->session_name, p);
        session_policies(s, id->policy, p);
        break;
    case CREDS_USER_SESSION:
        p->kind = root ? AUTH_ROOT : AUTH_USER_SESSION;
        if (root) {
            p->exists = true;
            snprintf(p->arn, sizeof(p->arn), "arn:aws:iam::%s:root", account);
            snprintf(p->unique_id, sizeof(p->unique_id), "%s", account);
        } else {
            from_user(s, id->principal, p);
        }
        break;
    }
}

/* ---- deciding ---- */

/* The account's root may always read, replace and delete a bucket policy, even one that
 * denies it explicitly: AWS's way out of a policy that locks everyone out (S3 User
 * Guide, "Bucket policies": root "can perform the GetBucketPolicy, PutBucketPolicy, and
 * DeleteBucketPolicy actions, even if the bucket policy explicitly denies"). */
static const char *const root_escape_actions[] = {
    "s3:GetBucketPolicy",        "s3:PutBucketPolicy",        "s3:DeleteBucketPolicy",
    "s3express:GetBucketPolicy", "s3express:PutBucketPolicy", "s3express:DeleteBucketPolicy",
};

static bool root_escape(const struct auth_principal *p, const char *action)
{
    if (p->kind != AUTH_ROOT || !action)
        return false;
    for (size_t i = 0; i < sizeof(root_escape_actions) / sizeof(*root_escape_actions); i++)
        if (strcmp(action, root_escape_actions[i]) == 0)
            return true;
    return false;
}

void authz_decide(const struct auth_principal *p, const struct authz_check *c,
                  struct policy_verdict *out)
{
    if (root_escape(p, c->action)) {
        memset(out, 0, sizeof(*out));
        out->decision = POLICY_DECISION_ALLOW;
        return;
    }
    /* Session policies come compiled from the snapshot's memo: parsed once per session
     * policy text and snapshot, never per request. */
    const struct policy *sessions[AUTH_MAX_SESSION_ARNS + 1];
    size_t ns = 0;
    const struct az_sess *held = p->session_key && p->session_cache ? authz_sess_get(p) : NULL;
    bool bad = p->session_key && !p->session_cache; /* resolved in a released snapshot */
    if (held)
        ns = authz_sess_policies(held, sessions, &bad);
    if (bad) {
        if (held)
            authz_sess_put(held);
        memset(out, 0, sizeof(*out));
        out->decision = POLICY_DECISION_IMPLICIT_DENY;
        return;
    }
    struct policy_set set = {
        .identity = p->exists ? p->identity : NULL,
        .n_identity = p->exists ? p->n_identity : 0,
        .resource = c->resource_policy,
        .session = sessions,
        .n_session = ns,
        .is_root =
            p->kind == AUTH_ROOT || (p->kind == AUTH_S3EXPRESS && strstr(p->arn, ":root") != NULL),
    };
    struct policy_request r = {
        .action = c->action,
        .resource = c->resource,
        .principal_arn = p->arn,
        .principal_role = p->role_arn[0] ? p->role_arn : NULL,
        .account = p->account,
        .service = NULL,
        .ctx = c->ctx,
        .n_ctx = c->n_ctx,
    };
    policy_decide(&set, &r, out);
    if (held)
        authz_sess_put(held);
}

void authz_deny_message(const struct auth_principal *p, const struct authz_check *c,
                        const struct policy_verdict *v, char *buf, size_t cap)
{
    const char *who = p->kind == AUTH_ROOT ? "Root" : "User";
    if (v->decision == POLICY_DECISION_EXPLICIT_DENY) {
        const char *where = v->source == POLICY_SRC_RESOURCE  ? "a resource-based"
                            : v->source == POLICY_SRC_SESSION ? "a session"
                                                              : "an identity-based";
        snprintf(buf, cap,
                 "%s: %s is not authorized to perform: %s on resource: %s with an explicit "
                 "deny in %s policy",
                 who, p->arn, c->action, c->resource, where);
        return;
    }
    if (v->source == POLICY_SRC_SESSION || ((p->session_policy || p->n_session_docs) &&
                                            v->source == POLICY_SRC_NONE && p->n_identity > 0)) {
        snprintf(buf, cap,
                 "%s: %s is not authorized to perform: %s on resource: %s because no session "
                 "policy allows the %s action",
                 who, p->arn, c->action, c->resource, c->action);
        return;
    }
    snprintf(buf, cap,
             "%s: %s is not authorized to perform: %s on resource: %s because no "
             "identity-based policy allows the %s action",
             who, p->arn, c->action, c->resource, c->action);
}

bool authz_role_allows(struct authz *a, const char *role_arn, const char *session_name,
                       const char *action, const char *resource, struct qr_slice bucket, char *msg,
                       size_t cap)
{
    const struct authz_snap *s = authz_acquire(a);
    struct creds_identity *id = qr_xmalloc(sizeof(*id));
    struct auth_principal *p = qr_xmalloc(sizeof(*p));
    memset(id, 0, sizeof(*id));
    id->kind = CREDS_ROLE_SESSION;
    snprintf(id->principal, sizeof(id->principal), "%s", role_arn);
    snprintf(id->session_name, sizeof(id->session_name), "%s", session_name);
    authz_principal(s, id, s->account, p);
    struct authz_check c = {action, resource, bucket.len ? authz_bucket_policy(s, bucket) : NULL,
                            NULL, 0};
    struct policy_verdict v;
    authz_decide(p, &c, &v);
    bool ok = v.decision == POLICY_DECISION_ALLOW;
    if (!ok)
        authz_deny_message(p, &c, &v, msg, cap);
    free(id);
    free(p);
    authz_release(s);
    return ok;
}
