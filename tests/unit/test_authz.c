/*
 * test_authz.c - the IAM snapshot and the decision, over a real store in a temporary
 * directory: rows written through store_iam_change are compiled by authz_reload; access
 * keys resolve (and stop when Inactive); users get their inline, attached and group
 * policies; role sessions get their role's policies narrowed by the session policy; a
 * deleted role's session gets nothing; bucket policies deny explicitly, root included;
 * a snapshot acquired before a change keeps its view; the operation table maps S3,
 * directory bucket, Lambda and S3 Control operations; the AccessDenied message is AWS's;
 * an in-process role principal (a batch job's) acts as its role; root escapes a lock-out
 * bucket policy for the bucket-policy actions only; key use is recorded for IAM users'
 * keys, coalesced, and handed out for saving at most once a minute; session policies are
 * compiled once per snapshot and policy text, evicted least recently used first; S3
 * Control actions get the job condition keys AWS lists for them, and numeric ones compare
 * as numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <ftw.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/authz.h"
#include "store/store.h"
#include "store/store_iam.h"

#define S(x) qr_slice_cstr(x)
#define ACCT "123456789012"

struct fx {
    char dir[64];
    struct store *st;
    struct store_reader *r;
    struct authz *a;
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/qr-authz-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    struct store_opts o = {.dir = f->dir, .no_fsync = true};
    assert_int_equal(store_open(&o, &f->st), QR_OK);
    assert_int_equal(store_reader_new(f->st, &f->r), QR_OK);
    assert_int_equal(authz_new(ACCT, &f->a), QR_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    authz_free(f->a);
    store_reader_free(f->r);
    store_close(f->st);
    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void put(struct fx *f, const char *kind, const char *parent, const char *name,
                const char *doc)
{
    struct store_iam_op op = {STORE_IAM_UPSERT, kind, S(parent), S(name), S(doc)};
    assert_int_equal(store_iam_change(f->st, &op, 1, NULL), QR_OK);
}

static void del(struct fx *f, const char *kind, const char *parent, const char *name)
{
    struct store_iam_op op = {STORE_IAM_DELETE, kind, S(parent), S(name), S("")};
    assert_int_equal(store_iam_change(f->st, &op, 1, NULL), QR_OK);
}

static const char *allow(const char *action, const char *resource, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"%s\","
             "\"Resource\":\"%s\"}]}",
             action, resource);
    return buf;
}

static enum policy_decision decide(const struct authz_snap *s, const struct creds_identity *id,
                                   const char *action, const char *resource,
                                   const struct policy *bucket_policy)
{
    struct auth_principal p;
    authz_principal(s, id, ACCT, &p);
    struct authz_check c = {action, resource, bucket_policy, NULL, 0};
    struct policy_verdict v;
    authz_decide(&p, &c, &v);
    return v.decision;
}

/* An IAM user with an active access key (its secret is not what these tests check). */
static void user_with_key(struct fx *f, const char *name, const char *id, const char *akid,
                          const char *secret)
{
    char user[128], key[128];
    snprintf(user, sizeof(user), "{\"id\":\"%s\",\"path\":\"/\",\"created\":1}", id);
    snprintf(key, sizeof(key), "{\"secret\":\"%s\",\"status\":\"Active\",\"created\":1}",
             secret);
    put(f, "user", "", name, user);
    put(f, "key", name, akid, key);
}

static void test_keys_and_user_policies(void **state)
{
    struct fx *f = *state;
    char b[512];
    user_with_key(f, "alice", "AIDAALICE", "AKIAALICE0000000000A", "s3cr3t");
    put(f, "inline", "user:alice", "own", allow("s3:GetObject", "arn:aws:s3:::b/own/*", b, sizeof(b)));
    put(f, "attached", "user:alice", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", "");
    put(f, "group", "", "writers", "{\"id\":\"AGPAW\",\"path\":\"/\"}");
    put(f, "member", "writers", "alice", "");
    put(f, "inline", "group:writers", "w", allow("s3:PutObject", "arn:aws:s3:::b/*", b, sizeof(b)));
    assert_int_equal(authz_reload(f->a, f->r), QR_OK);
    const struct authz_snap *s = authz_acquire(f->a);

    struct creds_identity id;
    assert_int_equal(authz_key_lookup(s, S("AKIAALICE0000000000A"), &id), QR_OK);
    assert_string_equal(id.principal, "arn:aws:iam::" ACCT ":user/alice");
    assert_string_equal(id.secret, "s3cr3t");
    assert_int_equal(authz_key_lookup(s, S("AKIAUNKNOWN000000000"), &id), QR_E_NO_SUCH_ACCESS_KEY);

    struct auth_principal p;
    authz_principal(s, &id, ACCT, &p);
    assert_int_equal(p.kind, AUTH_USER);
    assert_true(p.exists);
    assert_string_equal(p.user_name, "alice");
    assert_string_equal(p.unique_id, "AIDAALICE");
    assert_int_equal(p.n_identity, 3); /* inline, managed, the group's inline */
    assert_int_equal(decide(s, &id, "s3:GetObject", "arn:aws:s3:::x/y", NULL),
                     POLICY_DECISION_ALLOW); /* AmazonS3ReadOnlyAccess */
    assert_int_equal(decide(s, &id, "s3:PutObject", "arn:aws:s3:::b/k", NULL),
                     POLICY_DECISION_ALLOW); /* through the group */
    assert_int_equal(decide(s, &id, "s3:PutObject", "arn:aws:s3:::c/k", NULL),
                     POLICY_DECISION_IMPLICIT_DENY);
    assert_int_equal(decide(s, &id, "iam:CreateUser", "*", NULL), POLICY_DECISION_IMPLICIT_DENY);

    /* Inactive: the next snapshot refuses the key; the one held keeps its view. */
    put(f, "key", "alice", "AKIAALICE0000000000A",
        "{\"secret\":\"s3cr3t\",\"status\":\"Inactive\",\"created\":1}");
    assert_int_equal(authz_reload(f->a, f->r), QR_OK);
    assert_int_equal(authz_key_lookup(s, S("AKIAALICE0000000000A"), &id), QR_OK);
    const struct authz_snap *s2 = authz_acquire(f->a);
    assert_int_equal(authz_key_lookup(s2, S("AKIAALICE0000000000A"), &id),
                     QR_E_NO_SUCH_ACCESS_KEY);
    authz_release(s2);
    authz_release(s);
}

static void test_roles_sessions_and_bucket_policies(void **state)
{
    struct fx *f = *state;
    char b[512];
    put(f, "role", "", "reader",
        "{\"id\":\"AROAREADER\",\"path\":\"/svc/\",\"max\":7200,\"trust\":\"{\\\"Version\\\":"
        "\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\",\\\"Principal\\\":"
        "{\\\"Service\\\":\\\"lambda.amazonaws.com\\\"},\\\"Action\\\":\\\"sts:AssumeRole\\\"}]}\"}");
    put(f, "inline", "role:reader", "r", allow("s3:*", "*", b, sizeof(b)));
    put(f, "bucketpolicy", "", "b",
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Principal\":\"*\","
        "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::b/secret/*\"}]}");
    assert_int_equal(authz_reload(f->a, f->r), QR_OK);
    const struct authz_snap *s = authz_acquire(f->a);

    const char *arn, *rid;
    const struct policy *trust;
    uint32_t max;
    assert_true(authz_role(s, "reader", &arn, &rid, &trust, &max));
    assert_string_equal(arn, "arn:aws:iam::" ACCT ":role/svc/reader");
    assert_int_equal(max, 7200);
    assert_non_null(trust);
    assert_false(authz_role(s, "arn:aws:iam::" ACCT ":role/reader", NULL, NULL, NULL, NULL));

    struct creds_identity id;
    memset(&id, 0, sizeof(id));
    id.kind = CREDS_ROLE_SESSION;
    snprintf(id.principal, sizeof(id.principal), "%s", arn);
    snprintf(id.session_name, sizeof(id.session_name), "s1");
    struct auth_principal p;
    authz_principal(s, &id, ACCT, &p);
    assert_string_equal(p.arn, "arn:aws:sts::" ACCT ":assumed-role/reader/s1");
    assert_string_equal(p.unique_id, "AROAREADER:s1");
    const struct policy *bp = authz_bucket_policy(s, S("b"));
    assert_non_null(bp);
    assert_int_equal(decide(s, &id, "s3:PutObject", "arn:aws:s3:::b/k", bp), POLICY_DECISION_ALLOW);
    assert_int_equal(decide(s, &id, "s3:GetObject", "arn:aws:s3:::b/secret/k", bp),
                     POLICY_DECISION_EXPLICIT_DENY);

    /* a session policy narrows */
    snprintf(id.policy, sizeof(id.policy), "%s", allow("s3:GetObject", "*", b, sizeof(b)));
    assert_int_equal(decide(s, &id, "s3:PutObject", "arn:aws:s3:::b/k", bp),
                     POLICY_DECISION_IMPLICIT_DENY);
    assert_int_equal(decide(s, &id, "s3:GetObject", "arn:aws:s3:::b/k", bp), POLICY_DECISION_ALLOW);
    id.policy[0] = '\0';

    /* root: everything, except what a resource policy denies */
    struct creds_identity root;
    memset(&root, 0, sizeof(root));
    root.kind = CREDS_LONG_TERM;
    snprintf(root.principal, sizeof(root.principal), "root");
    assert_int_equal(decide(s, &root, "iam:DeleteRole", "*", NULL), POLICY_DECISION_ALLOW);
    assert_int_equal(decide(s, &root, "s3:GetObject", "arn:aws:s3:::b/secret/k", bp),
                     POLICY_DECISION_EXPLICIT_DENY);

    /* the message names the principal, action and resource as AWS does */
    struct authz_check c = {"s3:DeleteBucket", "arn:aws:s3:::z", NULL, NULL, 0};
    struct policy_verdict v;
    authz_principal(s, &id, ACCT, &p);
    authz_decide(&p, &c, &v);
    char msg[600];
    id.policy[0] = '\0';
    put(f, "inline", "role:reader", "r", allow("s3:GetObject", "*", b, sizeof(b)));
    authz_release(s);
    assert_int_equal(authz_reload(f->a, f->r), QR_OK);
    s = authz_acquire(f->a);
    authz_principal(s, &id, ACCT, &p);
    authz_decide(&p, &c, &v);
    authz_deny_message(&p, &c, &v, msg, sizeof(msg));
    assert_string_equal(msg, "User: arn:aws:sts::" ACCT ":assumed-role/reader/s1 is not "
                             "authorized to perform: s3:DeleteBucket on resource: "
                             "arn:aws:s3:::z because no identity-based policy allows the "
                             "s3:DeleteBucket action");

    /* what a job running as the role may do (Batch Operations tasks) */
    char jm[600];
    const char *role_arn = "arn:aws:iam::" ACCT ":role/svc/reader"; /* arn died with its snapshot */
    assert_true(authz_role_allows(f->a, role_arn, "job-1", "s3:GetObject", "arn:aws:s3:::b/k", S("b"),
                                  jm, sizeof(jm)));
    assert_false(authz_role_allows(f->a, role_arn, "job-1", "lambda:InvokeFunction",
                                   "arn:aws:lambda:us-east-1:" ACCT ":function:f", S(""), jm,
                                   sizeof(jm)));
    assert_non_null(strstr(jm, "assumed-role/reader/job-1 is not authorized to perform: "
                               "lambda:InvokeFunction"));

    /* the role deleted: its sessions act for nobody */
    del(f, "inline", "role:reader", "r");
    del(f, "role", "", "reader");
    authz_release(s);
    assert_int_equal(authz_reload(f->a, f->r), QR_OK);
    s = authz_acquire(f->a);
    authz_principal(s, &id, ACCT, &p);
    assert_false(p.exists);
    assert_int_equal(decide(s, &id, "s3:GetObject", "arn:aws:s3:::c/k", NULL),
                     POLICY_DECISION_IMPLICIT_DENY);
    authz_release(s);
}

/* An in-process caller acting as a role (a batch job): the role's session, its policies,
 * nothing once the role is gone. */
static void test_role_principal(void **state)
{
    struct fx *f = *state;
    char b[512];
    put(f, "role", "", "batch-ops", "{\"id\":\"AROABATCH\",\"path\":\"/\",\"max\":3600}");
    put(f, "inline", "role:batch-ops", "p",
        allow("s3:PutObject", "arn:aws:s3:::r/*", b, sizeof(b)));
    assert_int_equal(authz_reload(f->a, f->r), QR_OK);
    const struct authz_snap *s = authz_acquire(f->a);
    struct auth_principal p;
    authz_role_principal(s, ACCT, "arn:aws:iam::" ACCT ":role/batch-ops", "s3-batch-operations-j1",
                         &p);
    assert_true(p.exists);
    assert_int_equal(p.kind, AUTH_ROLE_SESSION);
    assert_string_equal(p.arn,
                        "arn:aws:sts::" ACCT ":assumed-role/batch-ops/s3-batch-operations-j1");
    assert_string_equal(p.role_arn, "arn:aws:iam::" ACCT ":role/batch-ops");
    struct authz_check c = {"s3:PutObject", "arn:aws:s3:::r/k", NULL, NULL, 0};
    struct policy_verdict v;
    authz_decide(&p, &c, &v);
    assert_int_equal(v.decision, POLICY_DECISION_ALLOW);
    c.action = "lambda:InvokeFunction";
    authz_decide(&p, &c, &v);
    assert_int_equal(v.decision, POLICY_DECISION_IMPLICIT_DENY);
    /* a role ARN with another path names another role */
    authz_role_principal(s, ACCT, "arn:aws:iam::" ACCT ":role/x/batch-ops", "s", &p);
    assert_false(p.exists);
    authz_release(s);
    del(f, "inline", "role:batch-ops", "p");
    del(f, "role", "", "batch-ops");
    assert_int_equal(authz_reload(f->a, f->r), QR_OK);
    s = authz_acquire(f->a);
    authz_role_principal(s, ACCT, "arn:aws:iam::" ACCT ":role/batch-ops", "s", &p);
    assert_false(p.exists);
    c.action = "s3:PutObject";
    authz_decide(&p, &c, &v);
    assert_int_equal(v.decision, POLICY_DECISION_IMPLICIT_DENY);
    authz_release(s);
}

static void test_operation_table(void **state)
{
    const struct authz_op *o = authz_find_op("s3", "GetObject");
    assert_non_null(o);
    assert_string_equal(o->action, "s3:GetObject");
    assert_int_equal(o->res, AUTHZ_RES_OBJECT);
    assert_string_equal(authz_find_op("s3", "HeadObject")->action, "s3:GetObject");
    assert_string_equal(authz_find_op("s3", "ListObjectsV2")->action, "s3:ListBucket");
    assert_string_equal(authz_find_op("s3", "UploadPartCopy")->action, "s3:PutObject");
    assert_string_equal(authz_find_op("s3express", "CreateBucket")->action, "s3express:CreateBucket");
    assert_null(authz_find_op("s3express", "GetObject")); /* zonal: CreateSession decides */
    assert_string_equal(authz_find_op("lambda", "Invoke")->action, "lambda:InvokeFunction");
    assert_int_equal(authz_find_op("lambda", "ListFunctions")->res, AUTHZ_RES_NONE);
    assert_null(authz_find_op("s3", "NoSuchOperation"));
    assert_null(authz_find_op("nope", "GetObject"));
    /* S3 Control: CreateJob and ListJobs on "*", the rest on the job */
    assert_string_equal(authz_find_op("s3control", "CreateJob")->action, "s3:CreateJob");
    assert_int_equal(authz_find_op("s3control", "ListJobs")->res, AUTHZ_RES_NONE);
    assert_string_equal(authz_find_op("s3control", "UpdateJobStatus")->action,
                        "s3:UpdateJobStatus");
    assert_int_equal(authz_find_op("s3control", "DeleteJobTagging")->res, AUTHZ_RES_JOB);
    assert_null(authz_find_op("s3control", "GetObject"));
    assert_string_equal(authz_find_op("s3", "ListBuckets")->action, "s3:ListAllMyBuckets");
    assert_string_equal(authz_find_op("s3", "ListDirectoryBuckets")->action,
                        "s3express:ListAllMyDirectoryBuckets");
}

/* The value of key among c's keys, or NULL. */
static const char *job_val(const struct authz_job_ctx *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->kv[i].key, key) == 0)
            return c->kv[i].values[0];
    return NULL;
}

/* Each S3 Control action gets the job condition keys the Service Authorization Reference
 * lists for it, and only those it has values for. */
static void test_job_keys_table(void **state)
{
    struct authz_job_ctx c;
    struct authz_job_facts all = {7, "LambdaInvoke", 2147483647, "S3PutObjectCopy",
                                  "AWAITING_CONFIRMATION"};
    assert_int_equal(authz_job_ctx("s3:CreateJob", &all, &c), 2);
    assert_string_equal(job_val(&c, "s3:RequestJobPriority"), "7");
    assert_string_equal(job_val(&c, "s3:RequestJobOperation"), "LambdaInvoke");
    assert_int_equal(authz_job_ctx("s3:UpdateJobPriority", &all, &c), 3);
    assert_string_equal(job_val(&c, "s3:RequestJobPriority"), "7");
    assert_string_equal(job_val(&c, "s3:ExistingJobPriority"), "2147483647");
    assert_string_equal(job_val(&c, "s3:ExistingJobOperation"), "S3PutObjectCopy");
    assert_null(job_val(&c, "s3:RequestJobOperation"));
    assert_int_equal(authz_job_ctx("s3:UpdateJobStatus", &all, &c), 3);
    assert_string_equal(job_val(&c, "s3:JobSuspendedCause"), "AWAITING_CONFIRMATION");
    assert_null(job_val(&c, "s3:RequestJobPriority"));
    assert_int_equal(authz_job_ctx("s3:PutJobTagging", &all, &c), 2);
    assert_int_equal(authz_job_ctx("s3:DeleteJobTagging", &all, &c), 2);
    assert_null(job_val(&c, "s3:JobSuspendedCause"));
    assert_int_equal(authz_job_ctx("s3:DescribeJob", &all, &c), 0);
    assert_int_equal(authz_job_ctx("s3:GetJobTagging", &all, &c), 0);
    assert_int_equal(authz_job_ctx("s3:ListJobs", &all, &c), 0);
    assert_int_equal(authz_job_ctx("s3:GetObject", &all, &c), 0);
    /* Unknown values give no key, never an empty or made-up one. */
    struct authz_job_facts none = {-1, NULL, -1, NULL, NULL};
    assert_int_equal(authz_job_ctx("s3:CreateJob", &none, &c), 0);
    assert_int_equal(authz_job_ctx("s3:UpdateJobStatus", &none, &c), 0);
    /* Tags: CreateJob and PutJobTagging only, each key and aws:TagKeys with them all. */
    static const char *const tk[] = {"department", "stage"}, *const tv[] = {"Finance", ""};
    struct authz_job_facts req = {3, "S3PutObjectCopy", -1, NULL, NULL};
    authz_job_ctx("s3:CreateJob", &req, &c);
    assert_int_equal(authz_job_tags("s3:CreateJob", tk, tv, 2, &c), 5);
    assert_string_equal(job_val(&c, "aws:RequestTag/department"), "Finance");
    assert_string_equal(job_val(&c, "aws:RequestTag/stage"), "");
    assert_string_equal(job_val(&c, "aws:TagKeys"), "department");
    assert_int_equal(c.kv[4].n_values, 2);
    assert_string_equal(c.kv[4].values[1], "stage");
    authz_job_ctx("s3:PutJobTagging", &all, &c);
    assert_int_equal(authz_job_tags("s3:PutJobTagging", tk, tv, 2, &c), 5);
    authz_job_ctx("s3:DeleteJobTagging", &all, &c);
    assert_int_equal(authz_job_tags("s3:DeleteJobTagging", tk, tv, 2, &c), 2);
    authz_job_ctx("s3:UpdateJobPriority", &all, &c);
    assert_int_equal(authz_job_tags("s3:UpdateJobPriority", tk, tv, 2, &c), 3);
    const char *many[AUTHZ_JOB_TAGS + 1];
    for (size_t i = 0; i <= AUTHZ_JOB_TAGS; i++)
        many[i] = "k";
    authz_job_ctx("s3:CreateJob", &none, &c);
    assert_int_equal(authz_job_tags("s3:CreateJob", many, many, AUTHZ_JOB_TAGS + 1, &c), 0);
    assert_int_equal(authz_job_tags("s3:CreateJob", many, many, AUTHZ_JOB_TAGS, &c),
                     AUTHZ_JOB_TAGS + 1);
    char longkey[AUTHZ_JOB_TAG_KEY + 2];
    memset(longkey, 'x', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    const char *lk[] = {longkey};
    authz_job_ctx("s3:CreateJob", &none, &c);
    assert_int_equal(authz_job_tags("s3:CreateJob", lk, tv, 1, &c), 0);
    struct authz_job_facts zero = {0, NULL, 0, NULL, NULL};
    assert_int_equal(authz_job_ctx("s3:UpdateJobPriority", &zero, &c), 2);
    assert_string_equal(job_val(&c, "s3:RequestJobPriority"), "0");
    assert_string_equal(job_val(&c, "s3:ExistingJobPriority"), "0");
}

/* A user whose policy conditions S3 Control actions on the job keys, decided through
 * authz_decide with the keys authz_job_ctx builds: numeric keys compare as numbers. */
static enum policy_decision job_decide_tags(const struct authz_snap *s,
                                            const struct creds_identity *id, const char *action,
                                            const char *const *keys, const char *const *values,
                                            size_t n)
{
    struct auth_principal p;
    struct authz_job_ctx *c = malloc(sizeof(*c));
    struct authz_job_facts f = {1, "S3PutObjectCopy", 1, "S3PutObjectCopy", NULL};
    authz_principal(s, id, ACCT, &p);
    authz_job_ctx(action, &f, c);
    size_t nk = authz_job_tags(action, keys, values, n, c);
    struct authz_check chk = {action, "*", NULL, c->kv, nk};
    struct policy_verdict v;
    authz_decide(&p, &chk, &v);
    free(c);
    return v.decision;
}

static enum policy_decision job_decide(const struct authz_snap *s, const struct creds_identity *id,
                                       const char *action, const struct authz_job_facts *f)
{
    struct auth_principal p;
    struct authz_job_ctx c;
    authz_principal(s, id, ACCT, &p);
    size_t n = authz_job_ctx(action, f, &c);
    struct authz_check chk = {action, "*", NULL, c.kv, n};
    struct policy_verdict v;
    authz_decide(&p, &chk, &v);
    return v.decision;
}

static void test_job_keys_decide(void **state)
{
    struct fx *f = *state;
    user_with_key(f, "ops", "AIDAOPS", "AKIAOPS0000000000000", "x");
    put(f, "inline", "user:ops", "jobs",
        "{\"Version\":\"2012-10-17\",\"Statement\":["
        "{\"Effect\":\"Allow\",\"Action\":\"s3:CreateJob\",\"Resource\":\"*\",\"Condition\":{"
        "\"NumericLessThanEquals\":{\"s3:RequestJobPriority\":\"10\"},"
        "\"StringEquals\":{\"s3:RequestJobOperation\":[\"S3PutObjectTagging\","
        "\"S3PutObjectCopy\"]}}},"
        "{\"Effect\":\"Allow\",\"Action\":\"s3:UpdateJobPriority\",\"Resource\":\"*\","
        "\"Condition\":{\"NumericLessThan\":{\"s3:ExistingJobPriority\":\"100\","
        "\"s3:RequestJobPriority\":\"100\"}}},"
        "{\"Effect\":\"Allow\",\"Action\":\"s3:UpdateJobStatus\",\"Resource\":\"*\","
        "\"Condition\":{\"StringEquals\":{\"s3:JobSuspendedCause\":\"AWAITING_CONFIRMATION\"}}},"
        "{\"Effect\":\"Allow\",\"Action\":[\"s3:PutJobTagging\",\"s3:DeleteJobTagging\"],"
        "\"Resource\":\"*\"},"
        "{\"Effect\":\"Deny\",\"Action\":[\"s3:PutJobTagging\",\"s3:DeleteJobTagging\"],"
        "\"Resource\":\"*\",\"Condition\":{\"StringEquals\":{\"s3:ExistingJobOperation\":"
        "\"LambdaInvoke\"}}}]}");
    user_with_key(f, "fin", "AIDAFIN", "AKIAFIN0000000000000", "x");
    put(f, "inline", "user:fin", "tags",
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":["
        "\"s3:CreateJob\",\"s3:PutJobTagging\"],\"Resource\":\"*\",\"Condition\":{"
        "\"StringEquals\":{\"aws:RequestTag/department\":\"Finance\"},"
        "\"ForAllValues:StringEquals\":{\"aws:TagKeys\":[\"department\",\"stage\"]}}}]}");
    assert_int_equal(authz_reload(f->a, f->r), QR_OK);
    const struct authz_snap *s = authz_acquire(f->a);
    struct creds_identity id;
    assert_int_equal(authz_key_lookup(s, S("AKIAOPS0000000000000"), &id), QR_OK);
    static const struct {
        const char *action;
        struct authz_job_facts f;
        enum policy_decision want;
    } cases[] = {
        /* CreateJob: 5, 9 and 10 pass (9 against "10" compares as a number, where a string
         * comparison would refuse it), 11 and 50 do not; an absent key fails the condition */
        {"s3:CreateJob", {5, "S3PutObjectTagging", -1, NULL, NULL}, POLICY_DECISION_ALLOW},
        {"s3:CreateJob", {10, "S3PutObjectCopy", -1, NULL, NULL}, POLICY_DECISION_ALLOW},
        {"s3:CreateJob", {9, "S3PutObjectCopy", -1, NULL, NULL}, POLICY_DECISION_ALLOW},
        {"s3:CreateJob", {50, "S3PutObjectTagging", -1, NULL, NULL}, POLICY_DECISION_IMPLICIT_DENY},
        {"s3:CreateJob", {11, "S3PutObjectTagging", -1, NULL, NULL}, POLICY_DECISION_IMPLICIT_DENY},
        {"s3:CreateJob", {5, "LambdaInvoke", -1, NULL, NULL}, POLICY_DECISION_IMPLICIT_DENY},
        {"s3:CreateJob", {-1, "S3PutObjectTagging", -1, NULL, NULL}, POLICY_DECISION_IMPLICIT_DENY},
        {"s3:CreateJob", {5, NULL, -1, NULL, NULL}, POLICY_DECISION_IMPLICIT_DENY},
        /* UpdateJobPriority: both the job's priority and the one asked for below 100 */
        {"s3:UpdateJobPriority", {50, NULL, 99, "LambdaInvoke", NULL}, POLICY_DECISION_ALLOW},
        {"s3:UpdateJobPriority",
         {50, NULL, 100, "LambdaInvoke", NULL},
         POLICY_DECISION_IMPLICIT_DENY},
        {"s3:UpdateJobPriority",
         {100, NULL, 5, "LambdaInvoke", NULL},
         POLICY_DECISION_IMPLICIT_DENY},
        {"s3:UpdateJobPriority", {5, NULL, -1, NULL, NULL}, POLICY_DECISION_IMPLICIT_DENY},
        /* UpdateJobStatus: only a job waiting for confirmation */
        {"s3:UpdateJobStatus",
         {-1, NULL, 1, "S3PutObjectCopy", "AWAITING_CONFIRMATION"},
         POLICY_DECISION_ALLOW},
        {"s3:UpdateJobStatus",
         {-1, NULL, 1, "S3PutObjectCopy", NULL},
         POLICY_DECISION_IMPLICIT_DENY},
        /* tagging: explicitly denied on LambdaInvoke jobs */
        {"s3:PutJobTagging", {-1, NULL, 1, "S3PutObjectCopy", NULL}, POLICY_DECISION_ALLOW},
        {"s3:DeleteJobTagging", {-1, NULL, 1, "LambdaInvoke", NULL}, POLICY_DECISION_EXPLICIT_DENY},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        enum policy_decision d = job_decide(s, &id, cases[i].action, &cases[i].f);
        if (d != cases[i].want)
            fail_msg("case %zu (%s): decision %d, want %d", i, cases[i].action, (int)d,
                     (int)cases[i].want);
    }
    /* tags: department Finance required, no key but department and stage */
    struct creds_identity fin;
    assert_int_equal(authz_key_lookup(s, S("AKIAFIN0000000000000"), &fin), QR_OK);
    static const char *const k1[] = {"department"}, *const k2[] = {"department", "stage"},
                             *const k3[] = {"department", "owner"};
    static const char *const finance[] = {"Finance", "QA"}, *const hr[] = {"HR", "QA"};
    assert_int_equal(job_decide_tags(s, &fin, "s3:CreateJob", k1, finance, 1),
                     POLICY_DECISION_ALLOW);
    assert_int_equal(job_decide_tags(s, &fin, "s3:CreateJob", k2, finance, 2),
                     POLICY_DECISION_ALLOW);
    assert_int_equal(job_decide_tags(s, &fin, "s3:PutJobTagging", k2, finance, 2),
                     POLICY_DECISION_ALLOW);
    assert_int_equal(job_decide_tags(s, &fin, "s3:CreateJob", k1, hr, 1),
                     POLICY_DECISION_IMPLICIT_DENY);
    assert_int_equal(job_decide_tags(s, &fin, "s3:CreateJob", k3, finance, 2),
                     POLICY_DECISION_IMPLICIT_DENY);
    assert_int_equal(job_decide_tags(s, &fin, "s3:CreateJob", k1, finance, 0),
                     POLICY_DECISION_IMPLICIT_DENY);
    authz_release(s);
}

/* Root may always manage a bucket policy, even one that denies it; nothing else. */
static void test_root_escapes_lockout(void **state)
{
    (void)state;
    struct policy *bp;
    char why[128];
    const char *deny = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\","
                       "\"Principal\":\"*\",\"Action\":\"*\",\"Resource\":\"*\"}]}";
    assert_int_equal(policy_parse(S(deny), POLICY_RESOURCE, &bp, why, sizeof(why)), QR_OK);
    struct authz *a;
    assert_int_equal(authz_new(ACCT, &a), QR_OK);
    const struct authz_snap *s = authz_acquire(a);
    struct creds_identity root = {.kind = CREDS_LONG_TERM};
    strcpy(root.principal, "root");
    static const char *const escape[] = {"s3:GetBucketPolicy", "s3:PutBucketPolicy",
                                         "s3:DeleteBucketPolicy", "s3express:PutBucketPolicy"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(decide(s, &root, escape[i], "arn:aws:s3:::b", bp), POLICY_DECISION_ALLOW);
    assert_int_equal(decide(s, &root, "s3:GetObject", "arn:aws:s3:::b/k", bp),
                     POLICY_DECISION_EXPLICIT_DENY);
    assert_int_equal(decide(s, &root, "s3:PutBucketAcl", "arn:aws:s3:::b", bp),
                     POLICY_DECISION_EXPLICIT_DENY);
    authz_release(s);
    authz_free(a);
    policy_free(bp);
}

/* Key use: IAM users' keys only, coalesced within a second, handed out for saving at most
 * once a minute. */
static void test_key_last_used(void **state)
{
    (void)state;
    struct authz *a;
    assert_int_equal(authz_new(ACCT, &a), QR_OK);
    struct creds_identity u = {.kind = CREDS_LONG_TERM}, root = {.kind = CREDS_LONG_TERM};
    strcpy(u.principal, "arn:aws:iam::" ACCT ":user/alice");
    strcpy(u.akid, "AKIAAAAAAAAAAAAAAAAA");
    strcpy(root.principal, "root");
    strcpy(root.akid, "ROOTKEY");
    struct authz_use x, *due;
    authz_note_use(a, &root, "s3", "us-east-1", 1000000);
    assert_false(authz_last_used(a, "ROOTKEY", &x));
    authz_note_use(a, &u, "s3", "us-east-1", 1000000);
    assert_true(authz_last_used(a, u.akid, &x));
    assert_int_equal(x.ms, 1000000);
    assert_string_equal(x.service, "s3");
    authz_note_use(a, &u, "s3", "us-east-1", 1000500); /* same scope within a second */
    assert_true(authz_last_used(a, u.akid, &x));
    assert_int_equal(x.ms, 1000000);
    authz_note_use(a, &u, "iam", "us-east-1", 1000600); /* another service: recorded */
    assert_true(authz_last_used(a, u.akid, &x));
    assert_string_equal(x.service, "iam");
    assert_int_equal(authz_uses_due(a, 1000700, &due), 1);
    assert_string_equal(due[0].akid, u.akid);
    free(due);
    authz_note_use(a, &u, "s3", "us-east-1", 1002000);
    assert_int_equal(authz_uses_due(a, 1030000, &due), 0); /* within the minute */
    assert_null(due);
    assert_int_equal(authz_uses_due(a, 1061000, &due), 1);
    assert_int_equal(due[0].ms, 1002000);
    free(due);
    assert_int_equal(authz_uses_due(a, 1200000, &due), 0); /* nothing changed */
    /* at a stop everything left goes, however recent the last save */
    authz_note_use(a, &u, "lambda", "us-east-1", 1201000);
    assert_int_equal(authz_uses_all(a, 1202000, &due), 1);
    assert_string_equal(due[0].service, "lambda");
    free(due);
    assert_int_equal(authz_uses_all(a, 1202000, &due), 0);
    /* a shorter interval (--key-use-flush-interval) */
    authz_set_use_flush_ms(a, 100);
    authz_note_use(a, &u, "s3", "us-east-1", 1203000);
    assert_int_equal(authz_uses_due(a, 1202050, &due), 0); /* 50 ms after the last save */
    assert_int_equal(authz_uses_due(a, 1202100, &due), 1);
    free(due);
    authz_free(a);
}

/* Session policies are compiled once per policy text and snapshot, not per request: two
 * sessions with different policies keep their own decisions through the memo, an entry
 * evicted by AUTHZ_SESSION_CACHE newer ones is compiled again and decides the same, and a
 * PolicyArns session follows its policy's default version across a reload. */
static void session_id(struct creds_identity *id, const char *policy)
{
    memset(id, 0, sizeof(*id));
    id->kind = CREDS_ROLE_SESSION;
    snprintf(id->principal, sizeof(id->principal), "arn:aws:iam::" ACCT ":role/worker");
    snprintf(id->session_name, sizeof(id->session_name), "s");
    snprintf(id->policy, sizeof(id->policy), "%s", policy);
}

static void test_session_policy_memo(void **state)
{
    struct fx *f = *state;
    char b[512];
    put(f, "role", "", "worker", "{\"id\":\"AROAWORKER\",\"path\":\"/\",\"max\":3600}");
    put(f, "inline", "role:worker", "all", allow("s3:*", "*", b, sizeof(b)));
    put(f, "policy", "", "arn:aws:iam::" ACCT ":policy/narrow",
        "{\"id\":\"ANPAN\",\"path\":\"/\",\"default\":\"v1\"}");
    put(f, "pversion", "arn:aws:iam::" ACCT ":policy/narrow", "v1",
        allow("s3:GetObject", "*", b, sizeof(b)));
    assert_int_equal(authz_reload(f->a, f->r), QR_OK);
    const struct authz_snap *s = authz_acquire(f->a);
    struct creds_identity *ra = malloc(sizeof(*ra)), *rb = malloc(sizeof(*rb));
    session_id(ra, allow("s3:GetObject", "arn:aws:s3:::b/*", b, sizeof(b)));
    session_id(rb, allow("s3:PutObject", "arn:aws:s3:::b/*", b, sizeof(b)));

    uint64_t c0 = authz_session_compiles();
    for (int i = 0; i < 100; i++) {
        assert_int_equal(decide(s, ra, "s3:GetObject", "arn:aws:s3:::b/k", NULL),
                         POLICY_DECISION_ALLOW);
        assert_int_equal(decide(s, ra, "s3:PutObject", "arn:aws:s3:::b/k", NULL),
                         POLICY_DECISION_IMPLICIT_DENY);
        assert_int_equal(decide(s, rb, "s3:GetObject", "arn:aws:s3:::b/k", NULL),
                         POLICY_DECISION_IMPLICIT_DENY);
        assert_int_equal(decide(s, rb, "s3:PutObject", "arn:aws:s3:::b/k", NULL),
                         POLICY_DECISION_ALLOW);
    }
    assert_int_equal(authz_session_compiles() - c0, 2); /* 400 decisions, two compilations */

    /* AUTHZ_SESSION_CACHE other sessions push ra's entry out (rb's, used last, too) */
    struct creds_identity *rx = malloc(sizeof(*rx));
    for (int i = 0; i < AUTHZ_SESSION_CACHE; i++) {
        char res[64];
        snprintf(res, sizeof(res), "arn:aws:s3:::other-%d/*", i);
        session_id(rx, allow("s3:GetObject", res, b, sizeof(b)));
        assert_int_equal(decide(s, rx, "s3:GetObject", "arn:aws:s3:::b/k", NULL),
                         POLICY_DECISION_IMPLICIT_DENY);
    }
    assert_int_equal(authz_session_compiles() - c0, 2 + AUTHZ_SESSION_CACHE);
    assert_int_equal(decide(s, ra, "s3:GetObject", "arn:aws:s3:::b/k", NULL),
                     POLICY_DECISION_ALLOW);
    assert_int_equal(decide(s, ra, "s3:PutObject", "arn:aws:s3:::b/k", NULL),
                     POLICY_DECISION_IMPLICIT_DENY);
    assert_int_equal(authz_session_compiles() - c0, 3 + AUTHZ_SESSION_CACHE); /* recompiled once */
    /* the last of the others is still there: no compilation */
    assert_int_equal(decide(s, rx, "s3:GetObject", "arn:aws:s3:::b/k", NULL),
                     POLICY_DECISION_IMPLICIT_DENY);
    assert_int_equal(authz_session_compiles() - c0, 3 + AUTHZ_SESSION_CACHE);

    /* a session policy that does not compile allows nothing, and stays refused */
    session_id(rx, "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Maybe\"}]}");
    assert_int_equal(decide(s, rx, "s3:GetObject", "arn:aws:s3:::b/k", NULL),
                     POLICY_DECISION_IMPLICIT_DENY);
    assert_int_equal(decide(s, rx, "s3:GetObject", "arn:aws:s3:::b/k", NULL),
                     POLICY_DECISION_IMPLICIT_DENY);

    /* PolicyArns: the default version of the snapshot the request runs in */
    session_id(rx, "arns:arn:aws:iam::" ACCT ":policy/narrow\n");
    assert_int_equal(decide(s, rx, "s3:GetObject", "arn:aws:s3:::b/k", NULL),
                     POLICY_DECISION_ALLOW);
    assert_int_equal(decide(s, rx, "s3:PutObject", "arn:aws:s3:::b/k", NULL),
                     POLICY_DECISION_IMPLICIT_DENY);
    put(f, "pversion", "arn:aws:iam::" ACCT ":policy/narrow", "v2",
        allow("s3:PutObject", "*", b, sizeof(b)));
    put(f, "policy", "", "arn:aws:iam::" ACCT ":policy/narrow",
        "{\"id\":\"ANPAN\",\"path\":\"/\",\"default\":\"v2\"}");
    assert_int_equal(authz_reload(f->a, f->r), QR_OK);
    assert_int_equal(decide(s, rx, "s3:GetObject", "arn:aws:s3:::b/k", NULL),
                     POLICY_DECISION_ALLOW); /* the snapshot held keeps its view */
    authz_release(s);
    s = authz_acquire(f->a);
    assert_int_equal(decide(s, rx, "s3:GetObject", "arn:aws:s3:::b/k", NULL),
                     POLICY_DECISION_IMPLICIT_DENY);
    assert_int_equal(decide(s, rx, "s3:PutObject", "arn:aws:s3:::b/k", NULL),
                     POLICY_DECISION_ALLOW);
    authz_release(s);
    free(ra);
    free(rb);
    free(rx);
}

/* Loops deciding at once while the memo evicts under them (more distinct session policies
 * than slots): every decision stays right, and an entry evicted while another thread
 * evaluates it is freed only after (ASan builds of this test see any use after free). */
struct memo_worker {
    const struct authz_snap *s;
    int seed;
    int wrong;
};

static void *memo_worker_main(void *arg)
{
    struct memo_worker *w = arg;
    struct creds_identity *id = malloc(sizeof(*id));
    char b[512], res[64], obj[64], other[64];
    for (int i = 0; i < 3000; i++) {
        int k = (i * 7 + w->seed * 13) % (AUTHZ_SESSION_CACHE + 40);
        snprintf(res, sizeof(res), "arn:aws:s3:::b%d/*", k);
        session_id(id, allow("s3:GetObject", res, b, sizeof(b)));
        snprintf(obj, sizeof(obj), "arn:aws:s3:::b%d/k", k);
        snprintf(other, sizeof(other), "arn:aws:s3:::b%d/k", k + 1);
        w->wrong += decide(w->s, id, "s3:GetObject", obj, NULL) != POLICY_DECISION_ALLOW;
        w->wrong += decide(w->s, id, "s3:GetObject", other, NULL) != POLICY_DECISION_IMPLICIT_DENY;
    }
    free(id);
    return NULL;
}

static void test_session_policy_memo_threads(void **state)
{
    struct fx *f = *state;
    char b[512];
    put(f, "role", "", "worker", "{\"id\":\"AROAWORKER\",\"path\":\"/\",\"max\":3600}");
    put(f, "inline", "role:worker", "all", allow("s3:*", "*", b, sizeof(b)));
    assert_int_equal(authz_reload(f->a, f->r), QR_OK);
    const struct authz_snap *s = authz_acquire(f->a);
    pthread_t t[4];
    struct memo_worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct memo_worker){s, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, memo_worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].wrong, 0);
    }
    authz_release(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keys_and_user_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles_sessions_and_bucket_policies, setup, teardown),
        cmocka_unit_test(test_operation_table),
        cmocka_unit_test(test_job_keys_table),
        cmocka_unit_test_setup_teardown(test_job_keys_decide, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_principal, setup, teardown),
        cmocka_unit_test(test_root_escapes_lockout),
        cmocka_unit_test(test_key_last_used),
        cmocka_unit_test_setup_teardown(test_session_policy_memo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_policy_memo_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
