/*
 * test_policy.c - auth/policy.h: IAM policy parsing and evaluation, driven by tables.
 *
 * Each table row is one cmocka test: a document (JSON written with ' for " so that it
 * stays readable; ` stands for a real '), a request, and the outcome IAM documents for it.
 * Rows marked "doc:" are examples from AWS's IAM and S3 user guides with their documented
 * outcome. A row's request context is "key=v1|v2;key2=v" ("key" alone: present with no
 * value, i.e. an empty multi-valued key).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/policy.h"

#define ACCT  "111122223333"
#define ALICE "arn:aws:iam::111122223333:user/alice"
#define BOB   "arn:aws:iam::111122223333:user/bob"
#define ROLE  "arn:aws:iam::111122223333:role/lambda-ex"
#define SESS  "arn:aws:sts::111122223333:assumed-role/lambda-ex/fn1"
#define OTHER "arn:aws:iam::444455556666:user/mallory"

/* ---- request specs ---------------------------------------------------------------- */

struct req_spec {
    const char *action;
    const char *resource;
    const char *principal; /* NULL: none (a service) */
    const char *role;
    const char *account;
    const char *service;
    const char *ctx;
};

#define AS_ALICE(a, res, ctx) {a, res, ALICE, NULL, ACCT, NULL, ctx}
#define AS_BOB(a, res, ctx)   {a, res, BOB, NULL, ACCT, NULL, ctx}
#define AS_SESS(a, res, ctx)  {a, res, SESS, ROLE, ACCT, NULL, ctx}
#define AS_OTHER(a, res, ctx) {a, res, OTHER, NULL, "444455556666", NULL, ctx}
#define AS_SVC(a, res, svc)   {a, res, NULL, NULL, NULL, svc, NULL}

struct built {
    struct policy_request r;
    struct policy_kv kv[16];
    const char *vals[64];
    char buf[2048];
};

static void build_req(const struct req_spec *s, struct built *b)
{
    memset(b, 0, sizeof(*b));
    b->r = (struct policy_request){.action = s->action,
                                   .resource = s->resource,
                                   .principal_arn = s->principal,
                                   .principal_role = s->role,
                                   .account = s->account,
                                   .service = s->service,
                                   .ctx = b->kv};
    if (!s->ctx)
        return;
    assert_true(strlen(s->ctx) < sizeof(b->buf));
    strcpy(b->buf, s->ctx);
    size_t nv = 0;
    char *save = NULL;
    for (char *item = strtok_r(b->buf, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        struct policy_kv *kv = &b->kv[b->r.n_ctx++];
        char *eq = strchr(item, '=');
        kv->key = item;
        kv->values = &b->vals[nv];
        if (!eq)
            continue;
        *eq = '\0';
        char *v = eq + 1;
        for (;;) {
            char *bar = strchr(v, '|');
            if (bar)
                *bar = '\0';
            b->vals[nv++] = v;
            kv->n_values++;
            if (!bar)
                break;
            v = bar + 1;
        }
    }
}

/* ' -> ", ` -> ' */
static char *doc_text(const char *src)
{
    char *d = strdup(src);
    for (char *p = d; *p; p++)
        *p = *p == '\'' ? '"' : *p == '`' ? '\'' : *p;
    return d;
}

static struct policy *must_parse(const char *src, enum policy_kind kind)
{
    char why[256];
    struct policy *p = NULL;
    char *d = doc_text(src);
    enum qr_err e = policy_parse(qr_slice(d, strlen(d)), kind, &p, why, sizeof(why));
    if (e != QR_OK)
        fail_msg("parse failed: %s\n  document: %s", why, d);
    free(d);
    return p;
}

/* ---- documents -------------------------------------------------------------------- */

#define V12       "'Version':'2012-10-17',"
#define DOC(...)  "{" V12 "'Statement':[" __VA_ARGS__ "]}"
#define DOC08(...) "{'Statement':[" __VA_ARGS__ "]}"
#define ALLOW(act, res) "{'Effect':'Allow','Action':" act ",'Resource':" res "}"
#define DENY(act, res)  "{'Effect':'Deny','Action':" act ",'Resource':" res "}"
#define ALLOWC(act, res, cond) \
    "{'Effect':'Allow','Action':" act ",'Resource':" res ",'Condition':" cond "}"
#define DENYC(act, res, cond) \
    "{'Effect':'Deny','Action':" act ",'Resource':" res ",'Condition':" cond "}"
/* a condition on the request's key k, s3:GetObject on anything */
#define COND(cond) DOC(ALLOWC("'s3:GetObject'", "'*'", cond))
#define GET(ctx)   AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/k", ctx)

#define BKT  "arn:aws:s3:::bkt"
#define OBJ  "arn:aws:s3:::bkt/k"
#define FN   "arn:aws:lambda:us-east-1:111122223333:function:my-fn"

/* doc: IAM User Guide, "Allows IAM users to access their own home directory in S3" */
#define HOME_DOC                                                                              \
    DOC(ALLOW("['s3:ListAllMyBuckets','s3:GetBucketLocation']", "'arn:aws:s3:::*'") ","       \
        ALLOWC("'s3:ListBucket'", "'arn:aws:s3:::bucket-name'",                               \
               "{'StringLike':{'s3:prefix':['','home/','home/${aws:username}/*']}}") ","      \
        ALLOW("'s3:*'", "['arn:aws:s3:::bucket-name/home/${aws:username}',"                  \
                        "'arn:aws:s3:::bucket-name/home/${aws:username}/*']"))
#define HB "arn:aws:s3:::bucket-name"

/* doc: S3 User Guide, "Enforce encryption in transit": deny unless aws:SecureTransport */
#define TLS_DOC                                                                               \
    DOC("{'Sid':'RestrictToTLSRequestsOnly','Effect':'Deny','Principal':'*','Action':'s3:*',"  \
        "'Resource':['arn:aws:s3:::bkt','arn:aws:s3:::bkt/*'],"                               \
        "'Condition':{'Bool':{'aws:SecureTransport':'false'}}}")

/* doc: IAM User Guide, "AWS: Denies access to AWS based on the source IP" */
#define IP_DOC                                                                                \
    DOC(DENYC("'*'", "'*'",                                                                   \
              "{'NotIpAddress':{'aws:SourceIp':['192.0.2.0/24','203.0.113.0/24']},"           \
              "'Bool':{'aws:ViaAWSService':'false'}}"))

/* doc: IAM User Guide, MFA: deny when aws:MultiFactorAuthAge is absent (no MFA) */
#define MFA_DOC                                                                               \
    DOC(ALLOW("'ec2:*'", "'*'") ","                                                           \
        DENYC("'ec2:StopInstances'", "'*'", "{'Null':{'aws:MultiFactorAuthAge':'true'}}") "," \
        DENYC("'ec2:TerminateInstances'", "'*'",                                              \
              "{'NumericGreaterThan':{'aws:MultiFactorAuthAge':'3600'}}"))

/* doc: S3 User Guide bucket policy examples */
#define REFERER_DOC                                                                           \
    DOC("{'Sid':'AllowGetRequestsReferer','Effect':'Allow','Principal':'*',"                   \
        "'Action':['s3:GetObject','s3:GetObjectVersion'],'Resource':'" BKT "/*',"             \
        "'Condition':{'StringLike':{'aws:Referer':['https://www.example.com/*',"              \
        "'https://example.com/*']}}}")
#define MFA_BUCKET_DOC                                                                        \
    DOC("{'Sid':'','Effect':'Deny','Principal':'*','Action':'s3:*','Resource':'" BKT          \
        "/taxdocuments/*','Condition':{'Null':{'aws:MultiFactorAuthAge':true}}}")
#define VPCE_DOC                                                                              \
    DOC("{'Sid':'Access-to-specific-VPCE-only','Effect':'Deny','Principal':'*',"               \
        "'Action':'s3:*','Resource':['" BKT "','" BKT "/*'],"                                 \
        "'Condition':{'StringNotEquals':{'aws:SourceVpce':'vpce-1a2b3c4d'}}}")
#define ACL_DOC                                                                               \
    DOC("{'Effect':'Allow','Principal':{'AWS':'arn:aws:iam::444455556666:root'},"             \
        "'Action':'s3:PutObject','Resource':'" BKT "/*',"                                     \
        "'Condition':{'StringEquals':{'s3:x-amz-acl':'bucket-owner-full-control'}}}")
#define SSE_DOC                                                                               \
    DOC("{'Sid':'DenyUnencryptedObjectUploads','Effect':'Deny','Principal':'*',"              \
        "'Action':'s3:PutObject','Resource':'" BKT "/*',"                                     \
        "'Condition':{'Null':{'s3:x-amz-server-side-encryption':'true'}}}")
/* doc: IAM User Guide identity-policy examples */
#define WINDOW_DOC                                                                            \
    DOC(ALLOWC("'s3:GetObject'", "'*'",                                                       \
               "{'DateGreaterThan':{'aws:CurrentTime':'2020-04-01T00:00:00Z'},"               \
               "'DateLessThan':{'aws:CurrentTime':'2020-06-30T23:59:59Z'}}"))
#define KEYS_DOC                                                                              \
    DOC("{'Sid':'ManageOwnAccessKeys','Effect':'Allow','Action':['iam:CreateAccessKey',"      \
        "'iam:DeleteAccessKey','iam:GetAccessKeyLastUsed','iam:GetUser','iam:ListAccessKeys',"\
        "'iam:UpdateAccessKey'],'Resource':'arn:aws:iam::*:user/${aws:username}'}")
#define REGION_DOC                                                                            \
    DOC("{'Sid':'DenyAllOutsideRequestedRegions','Effect':'Deny','NotAction':['iam:*',"       \
        "'sts:*','s3:ListAllMyBuckets'],'Resource':'*','Condition':{'StringNotEquals':"       \
        "{'aws:RequestedRegion':['us-east-1','us-west-2']}}}")

/* AmazonS3ExpressReadOnlyAccess, first statement */
#define EXPRESS_RO                                                                            \
    DOC("{'Sid':'S3ExpressReadOnlySessionObjectAccess','Effect':'Allow',"                     \
        "'Action':'s3express:CreateSession','Resource':'*',"                                  \
        "'Condition':{'StringEquals':{'s3express:SessionMode':'ReadOnly'}}}")
#define XB "arn:aws:s3express:us-west-2:111122223333:bucket/b--usw2-az1--x-s3"

/* ---- table 1: one document, policy_eval ------------------------------------------- */

struct eval_case {
    const char *name;
    enum policy_kind kind;
    const char *doc;
    struct req_spec r;
    enum policy_effect want;
};

#define ID POLICY_IDENTITY
#define RS POLICY_RESOURCE
#define TR POLICY_TRUST
#define A  POLICY_ALLOW
#define D  POLICY_DENY
#define N  POLICY_NO_MATCH

static const struct eval_case eval_cases[] = {
    /* actions */
    {"action exact", ID, DOC(ALLOW("'s3:GetObject'", "'*'")), GET(NULL), A},
    {"action case-insensitive", ID, DOC(ALLOW("'S3:getobject'", "'*'")), GET(NULL), A},
    {"action other", ID, DOC(ALLOW("'s3:PutObject'", "'*'")), GET(NULL), N},
    {"action Get* matches GetObjectTagging", ID, DOC(ALLOW("'s3:Get*'", "'*'")),
     AS_ALICE("s3:GetObjectTagging", OBJ, NULL), A},
    {"action Get* not PutObject", ID, DOC(ALLOW("'s3:Get*'", "'*'")),
     AS_ALICE("s3:PutObject", OBJ, NULL), N},
    {"action * everything", ID, DOC(ALLOW("'*'", "'*'")), AS_ALICE("lambda:InvokeFunction", FN, NULL),
     A},
    {"action *Object infix", ID, DOC(ALLOW("'s3:*Object'", "'*'")),
     AS_ALICE("s3:DeleteObject", OBJ, NULL), A},
    {"action ? one char", ID, DOC(ALLOW("'s3:?etObject'", "'*'")), GET(NULL), A},
    {"action ? not two chars", ID, DOC(ALLOW("'s3:?etObject'", "'*'")),
     AS_ALICE("s3:GGetObject", OBJ, NULL), N},
    {"action vendor is not a prefix", ID, DOC(ALLOW("'s3express:*'", "'*'")), GET(NULL), N},
    {"action s3:* not s3express", ID, DOC(ALLOW("'s3:*'", "'*'")),
     AS_ALICE("s3express:CreateSession", XB, NULL), N},
    {"action array second", ID, DOC(ALLOW("['s3:PutObject','s3:GetObject']", "'*'")), GET(NULL), A},
    {"second statement allows", ID,
     DOC(ALLOW("'s3:PutObject'", "'*'") "," ALLOW("'s3:GetObject'", "'*'")), GET(NULL), A},
    /* resources */
    {"resource exact", ID, DOC(ALLOW("'s3:GetObject'", "'" OBJ "'")), GET(NULL), A},
    {"resource bkt/* crosses /", ID, DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/*'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/a/b/c", NULL), A},
    {"resource bkt/* not the bucket", ID, DOC(ALLOW("'s3:ListBucket'", "'arn:aws:s3:::bkt/*'")),
     AS_ALICE("s3:ListBucket", BKT, NULL), N},
    {"resource bkt* prefix matches bkt2", ID, DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt*'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt2/x", NULL), A},
    {"resource case-sensitive", ID, DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::Bkt/*'")), GET(NULL),
     N},
    {"resource ? one char", ID, DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/file?.txt'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/file1.txt", NULL), A},
    {"resource glob with literal tail", ID, DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::*/*.jpg'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/a/b.jpg", NULL), A},
    {"resource glob with literal tail: other suffix", ID,
     DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::*/*.jpg'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/a/b.jpeg", NULL), N},
    {"resource glob: tail and prefix overlap", ID, DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::ab*ba'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::aba", NULL), N},
    {"resource ? not two chars", ID, DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/file?.txt'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/file12.txt", NULL), N},
    {"resource array", ID, DOC(ALLOW("'s3:*'", "['" BKT "','" BKT "/*']")),
     AS_ALICE("s3:ListBucket", BKT, NULL), A},
    {"resource * for no-resource action", ID, DOC(ALLOW("'s3:ListAllMyBuckets'", "'*'")),
     AS_ALICE("s3:ListAllMyBuckets", "*", NULL), A},
    {"resource arn:aws:s3:::* for no-resource action", ID,
     DOC(ALLOW("'s3:ListAllMyBuckets'", "'arn:aws:s3:::*'")),
     AS_ALICE("s3:ListAllMyBuckets", "*", NULL), A},
    {"resource one bucket not for no-resource action", ID,
     DOC(ALLOW("'s3:*'", "'arn:aws:s3:::bkt/*'")), AS_ALICE("s3:ListAllMyBuckets", "*", NULL), N},
    {"lambda function and versions", ID,
     DOC(ALLOW("'lambda:InvokeFunction'", "['" FN "','" FN ":*']")),
     AS_ALICE("lambda:InvokeFunction", FN ":1", NULL), A},
    {"lambda other function", ID, DOC(ALLOW("'lambda:InvokeFunction'", "['" FN "','" FN ":*']")),
     AS_ALICE("lambda:InvokeFunction", FN "X", NULL), N},
    {"logs group wildcard (AWSLambdaExecute form)", ID, DOC(ALLOW("'logs:*'", "'arn:aws:logs:*:*:*'")),
     AS_ALICE("logs:PutLogEvents",
              "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/f:log-stream:s", NULL),
     A},
    {"Statement as a single object", ID,
     "{'Version':'2012-10-17','Statement':{'Effect':'Allow','Action':'s3:GetObject','Resource':'*'}}",
     GET(NULL), A},
    {"Version 2008 still evaluates wildcards", ID, DOC08(ALLOW("'s3:Get*'", "'arn:aws:s3:::bkt/*'")),
     GET(NULL), A},
    /* deny */
    {"deny statement", ID, DOC(DENY("'s3:GetObject'", "'*'")), GET(NULL), D},
    {"deny after allow wins", ID,
     DOC(ALLOW("'s3:*'", "'*'") "," DENY("'s3:GetObject'", "'" OBJ "'")), GET(NULL), D},
    {"deny other resource leaves allow", ID,
     DOC(ALLOW("'s3:*'", "'*'") "," DENY("'s3:GetObject'", "'arn:aws:s3:::bkt/secret/*'")),
     GET(NULL), A},
    /* NotAction / NotResource */
    {"NotAction allow: other service", ID,
     DOC("{'Effect':'Allow','NotAction':'iam:*','Resource':'*'}"), GET(NULL), A},
    {"NotAction allow: excluded action", ID,
     DOC("{'Effect':'Allow','NotAction':'iam:*','Resource':'*'}"),
     AS_ALICE("iam:CreateUser", "arn:aws:iam::111122223333:user/x", NULL), N},
    {"NotAction deny: everything else denied", ID,
     DOC("{'Effect':'Deny','NotAction':'s3:Get*','Resource':'*'}"),
     AS_ALICE("s3:PutObject", OBJ, NULL), D},
    {"NotAction deny: excepted action untouched", ID,
     DOC("{'Effect':'Deny','NotAction':'s3:Get*','Resource':'*'}"), GET(NULL), N},
    {"NotResource allow: other resource", ID,
     DOC("{'Effect':'Allow','Action':'s3:*','NotResource':'arn:aws:s3:::secret/*'}"), GET(NULL),
     A},
    {"NotResource allow: excluded resource", ID,
     DOC("{'Effect':'Allow','Action':'s3:*','NotResource':'arn:aws:s3:::secret/*'}"),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::secret/x", NULL), N},
    {"NotResource deny outside bucket", ID,
     DOC("{'Effect':'Deny','Action':'s3:*','NotResource':['" BKT "','" BKT "/*']}"),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::other/x", NULL), D},
    {"NotResource deny: inside bucket untouched", ID,
     DOC("{'Effect':'Deny','Action':'s3:*','NotResource':['" BKT "','" BKT "/*']}"), GET(NULL), N},
    /* String conditions */
    {"StringEquals match", ID, COND("{'StringEquals':{'aws:username':'alice'}}"),
     GET("aws:username=alice"), A},
    {"StringEquals mismatch", ID, COND("{'StringEquals':{'aws:username':'alice'}}"),
     GET("aws:username=bob"), N},
    {"StringEquals missing key", ID, COND("{'StringEquals':{'aws:username':'alice'}}"), GET(NULL), N},
    {"StringEquals value case-sensitive", ID, COND("{'StringEquals':{'aws:username':'Alice'}}"),
     GET("aws:username=alice"), N},
    {"StringEquals key case-insensitive", ID, COND("{'StringEquals':{'AWS:UserName':'alice'}}"),
     GET("aws:username=alice"), A},
    {"StringEquals values OR", ID, COND("{'StringEquals':{'aws:username':['bob','alice']}}"),
     GET("aws:username=alice"), A},
    {"StringEquals empty string value", ID, COND("{'StringEquals':{'s3:prefix':''}}"),
     GET("s3:prefix="), A},
    {"StringNotEquals differs", ID, COND("{'StringNotEquals':{'aws:username':'bob'}}"),
     GET("aws:username=alice"), A},
    {"StringNotEquals equal", ID, COND("{'StringNotEquals':{'aws:username':'alice'}}"),
     GET("aws:username=alice"), N},
    {"StringNotEquals values NOR", ID, COND("{'StringNotEquals':{'aws:username':['bob','alice']}}"),
     GET("aws:username=alice"), N},
    {"StringNotEquals missing key is true", ID, COND("{'StringNotEquals':{'aws:username':'bob'}}"),
     GET(NULL), A},
    {"StringEqualsIgnoreCase", ID, COND("{'StringEqualsIgnoreCase':{'aws:username':'ALICE'}}"),
     GET("aws:username=alice"), A},
    {"StringEqualsIgnoreCase mismatch", ID,
     COND("{'StringEqualsIgnoreCase':{'aws:username':'ALICEX'}}"), GET("aws:username=alice"), N},
    {"StringNotEqualsIgnoreCase equal", ID,
     COND("{'StringNotEqualsIgnoreCase':{'aws:username':'ALICE'}}"), GET("aws:username=alice"), N},
    {"StringNotEqualsIgnoreCase missing", ID,
     COND("{'StringNotEqualsIgnoreCase':{'aws:username':'ALICE'}}"), GET(NULL), A},
    {"StringLike prefix", ID, COND("{'StringLike':{'s3:prefix':'home/*'}}"),
     GET("s3:prefix=home/alice/"), A},
    {"StringLike no match", ID, COND("{'StringLike':{'s3:prefix':'home/*'}}"),
     GET("s3:prefix=work/"), N},
    {"StringLike case-sensitive", ID, COND("{'StringLike':{'s3:prefix':'Home/*'}}"),
     GET("s3:prefix=home/x"), N},
    {"StringLike ?", ID, COND("{'StringLike':{'s3:prefix':'v?/'}}"), GET("s3:prefix=v1/"), A},
    {"StringNotLike match", ID, COND("{'StringNotLike':{'s3:prefix':'home/*'}}"),
     GET("s3:prefix=home/a"), N},
    {"StringNotLike missing key is true", ID, COND("{'StringNotLike':{'s3:prefix':'home/*'}}"),
     GET(NULL), A},
    {"StringEqualsIfExists missing", ID, COND("{'StringEqualsIfExists':{'aws:username':'x'}}"),
     GET(NULL), A},
    {"StringEqualsIfExists present mismatch", ID,
     COND("{'StringEqualsIfExists':{'aws:username':'x'}}"), GET("aws:username=alice"), N},
    {"StringLikeIfExists present match", ID, COND("{'StringLikeIfExists':{'s3:prefix':'a*'}}"),
     GET("s3:prefix=abc"), A},
    {"two keys AND: one fails", ID,
     COND("{'StringEquals':{'aws:username':'alice','s3:prefix':'home/'}}"),
     GET("aws:username=alice;s3:prefix=work/"), N},
    {"two keys AND: both hold", ID,
     COND("{'StringEquals':{'aws:username':'alice','s3:prefix':'home/'}}"),
     GET("aws:username=alice;s3:prefix=home/"), A},
    {"two operators AND", ID,
     COND("{'StringEquals':{'aws:username':'alice'},'StringLike':{'s3:prefix':'x*'}}"),
     GET("aws:username=alice;s3:prefix=home/"), N},
    {"single-valued operator on multi-valued key: any", ID,
     COND("{'StringEquals':{'aws:TagKeys':'b'}}"), GET("aws:TagKeys=a|b"), A},
    /* Numeric */
    {"NumericLessThanEquals equal", ID, COND("{'NumericLessThanEquals':{'s3:max-keys':'10'}}"),
     GET("s3:max-keys=10"), A},
    {"NumericLessThanEquals above", ID, COND("{'NumericLessThanEquals':{'s3:max-keys':'10'}}"),
     GET("s3:max-keys=11"), N},
    {"NumericLessThanEquals not a number", ID,
     COND("{'NumericLessThanEquals':{'s3:max-keys':'10'}}"), GET("s3:max-keys=ten"), N},
    {"NumericLessThanEquals missing", ID, COND("{'NumericLessThanEquals':{'s3:max-keys':'10'}}"),
     GET(NULL), N},
    {"NumericLessThan JSON number value", ID, COND("{'NumericLessThan':{'s3:max-keys':100}}"),
     GET("s3:max-keys=99"), A},
    {"NumericLessThan equal is false", ID, COND("{'NumericLessThan':{'s3:max-keys':100}}"),
     GET("s3:max-keys=100"), N},
    {"NumericEquals decimal", ID, COND("{'NumericEquals':{'s3:max-keys':'1.5'}}"),
     GET("s3:max-keys=1.50"), A},
    {"NumericEquals negative", ID, COND("{'NumericEquals':{'aws:x':'-3'}}"), GET("aws:x=-3"), A},
    {"NumericNotEquals equal", ID, COND("{'NumericNotEquals':{'s3:max-keys':'5'}}"),
     GET("s3:max-keys=5"), N},
    {"NumericNotEquals missing is true", ID, COND("{'NumericNotEquals':{'s3:max-keys':'5'}}"),
     GET(NULL), A},
    {"NumericGreaterThan", ID, COND("{'NumericGreaterThan':{'s3:max-keys':'5'}}"),
     GET("s3:max-keys=6"), A},
    {"NumericGreaterThan equal", ID, COND("{'NumericGreaterThan':{'s3:max-keys':'5'}}"),
     GET("s3:max-keys=5"), N},
    {"NumericGreaterThanEquals", ID, COND("{'NumericGreaterThanEquals':{'s3:max-keys':'5'}}"),
     GET("s3:max-keys=5"), A},
    {"NumericLessThanIfExists missing", ID,
     COND("{'NumericLessThanIfExists':{'s3:max-keys':'5'}}"), GET(NULL), A},
    /* Date */
    {"DateGreaterThan ISO after", ID,
     COND("{'DateGreaterThan':{'aws:CurrentTime':'2020-01-01T00:00:00Z'}}"),
     GET("aws:CurrentTime=2026-12-07T18:00:00Z"), A},
    {"DateGreaterThan ISO before", ID,
     COND("{'DateGreaterThan':{'aws:CurrentTime':'2020-01-01T00:00:00Z'}}"),
     GET("aws:CurrentTime=2019-12-31T23:59:59Z"), N},
    {"DateLessThan epoch request vs ISO policy", ID,
     COND("{'DateLessThan':{'aws:EpochTime':'2026-01-01T00:00:00Z'}}"),
     GET("aws:EpochTime=1767225599"), A},
    {"DateLessThan epoch boundary", ID,
     COND("{'DateLessThan':{'aws:EpochTime':'2026-01-01T00:00:00Z'}}"),
     GET("aws:EpochTime=1767225600"), N},
    {"DateLessThanEquals epoch policy vs ISO request", ID,
     COND("{'DateLessThanEquals':{'aws:CurrentTime':'1767225600'}}"),
     GET("aws:CurrentTime=2026-01-01T00:00:00Z"), A},
    {"DateEquals date only is midnight UTC", ID,
     COND("{'DateEquals':{'aws:CurrentTime':'2026-01-01'}}"),
     GET("aws:CurrentTime=2026-01-01T00:00:00.000Z"), A},
    {"DateEquals offset", ID, COND("{'DateEquals':{'aws:CurrentTime':'2026-01-01T02:00:00+02:00'}}"),
     GET("aws:CurrentTime=2026-01-01T00:00:00Z"), A},
    {"DateNotEquals missing is true", ID, COND("{'DateNotEquals':{'aws:CurrentTime':'2026-01-01'}}"),
     GET(NULL), A},
    {"DateGreaterThanEquals equal", ID,
     COND("{'DateGreaterThanEquals':{'aws:CurrentTime':'2026-01-01T00:00:00Z'}}"),
     GET("aws:CurrentTime=2026-01-01T00:00:00Z"), A},
    {"Date garbage request value", ID,
     COND("{'DateGreaterThan':{'aws:CurrentTime':'2020-01-01T00:00:00Z'}}"),
     GET("aws:CurrentTime=yesterday"), N},
    {"DateNotEquals present and equal", ID, COND("{'DateNotEquals':{'aws:CurrentTime':'2026-01-01'}}"),
     GET("aws:CurrentTime=2026-01-01T00:00:00Z"), N},
    {"DateNotEquals present and different", ID,
     COND("{'DateNotEquals':{'aws:CurrentTime':'2026-01-01'}}"),
     GET("aws:CurrentTime=2026-01-02T00:00:00Z"), A},
    {"DateLessThanIfExists missing", ID,
     COND("{'DateLessThanIfExists':{'aws:TokenIssueTime':'2026-01-01T00:00:00Z'}}"), GET(NULL), A},
    {"DateLessThanIfExists present and later", ID,
     COND("{'DateLessThanIfExists':{'aws:TokenIssueTime':'2026-01-01T00:00:00Z'}}"),
     GET("aws:TokenIssueTime=2026-06-01T00:00:00Z"), N},
    {"Date with fraction and -hh:mm offset", ID,
     COND("{'DateEquals':{'aws:CurrentTime':'2025-12-31T19:00:00.000-05:00'}}"),
     GET("aws:CurrentTime=2026-01-01T00:00:00Z"), A},
    {"NumericEquals integer vs decimal request", ID, COND("{'NumericEquals':{'s3:max-keys':10}}"),
     GET("s3:max-keys=10.0"), A},
    {"StringEquals JSON number value", ID, COND("{'StringEquals':{'s3:max-keys':5}}"),
     GET("s3:max-keys=5"), A},
    {"StringLike several stars", ID, COND("{'StringLike':{'s3:prefix':'a*b*c'}}"),
     GET("s3:prefix=axxbyybzzc"), A},
    {"StringLike several stars, last part missing", ID, COND("{'StringLike':{'s3:prefix':'a*b*c'}}"),
     GET("s3:prefix=axxbyyb"), N},
    {"same key under two operators", ID,
     COND("{'NumericGreaterThan':{'s3:max-keys':'1'},'NumericLessThan':{'s3:max-keys':'10'}}"),
     GET("s3:max-keys=10"), N},
    /* Bool, Null, Binary */
    {"Bool true", ID, COND("{'Bool':{'aws:SecureTransport':'true'}}"),
     GET("aws:SecureTransport=true"), A},
    {"Bool mismatch", ID, COND("{'Bool':{'aws:SecureTransport':'true'}}"),
     GET("aws:SecureTransport=false"), N},
    {"Bool missing", ID, COND("{'Bool':{'aws:SecureTransport':'true'}}"), GET(NULL), N},
    {"Bool JSON boolean value", ID, COND("{'Bool':{'aws:SecureTransport':true}}"),
     GET("aws:SecureTransport=true"), A},
    {"BoolIfExists missing", ID, COND("{'BoolIfExists':{'aws:MultiFactorAuthPresent':'true'}}"),
     GET(NULL), A},
    {"Null true: key absent", ID, COND("{'Null':{'aws:TokenIssueTime':'true'}}"), GET(NULL), A},
    {"Null true: key present", ID, COND("{'Null':{'aws:TokenIssueTime':'true'}}"),
     GET("aws:TokenIssueTime=2026-01-01T00:00:00Z"), N},
    {"Null false: key present", ID, COND("{'Null':{'aws:TokenIssueTime':'false'}}"),
     GET("aws:TokenIssueTime=2026-01-01T00:00:00Z"), A},
    {"Null false: key absent", ID, COND("{'Null':{'aws:TokenIssueTime':'false'}}"), GET(NULL), N},
    {"Null true: empty multi-valued key", ID, COND("{'Null':{'aws:TagKeys':'true'}}"),
     GET("aws:TagKeys"), A},
    {"BinaryEquals", ID, COND("{'BinaryEquals':{'aws:x':'QmluYXJ5VmFsdWU='}}"),
     GET("aws:x=QmluYXJ5VmFsdWU="), A},
    {"BinaryEquals differs", ID, COND("{'BinaryEquals':{'aws:x':'QmluYXJ5VmFsdWU='}}"),
     GET("aws:x=QmluYXJ5VmFsdWF="), N},
    /* IP */
    {"IpAddress v4 inside", ID, COND("{'IpAddress':{'aws:SourceIp':'192.0.2.0/24'}}"),
     GET("aws:SourceIp=192.0.2.5"), A},
    {"IpAddress v4 outside", ID, COND("{'IpAddress':{'aws:SourceIp':'192.0.2.0/24'}}"),
     GET("aws:SourceIp=192.0.3.1"), N},
    {"IpAddress /20 boundary", ID, COND("{'IpAddress':{'aws:SourceIp':'10.1.16.0/20'}}"),
     GET("aws:SourceIp=10.1.31.255"), A},
    {"IpAddress /20 just outside", ID, COND("{'IpAddress':{'aws:SourceIp':'10.1.16.0/20'}}"),
     GET("aws:SourceIp=10.1.32.0"), N},
    {"IpAddress bare address", ID, COND("{'IpAddress':{'aws:SourceIp':'203.0.113.7'}}"),
     GET("aws:SourceIp=203.0.113.7"), A},
    {"IpAddress /0 any v4", ID, COND("{'IpAddress':{'aws:SourceIp':'0.0.0.0/0'}}"),
     GET("aws:SourceIp=8.8.8.8"), A},
    {"IpAddress v6 inside", ID, COND("{'IpAddress':{'aws:SourceIp':'2001:DB8:1234:5678::/64'}}"),
     GET("aws:SourceIp=2001:db8:1234:5678::1"), A},
    {"IpAddress v6 outside", ID, COND("{'IpAddress':{'aws:SourceIp':'2001:DB8:1234:5678::/64'}}"),
     GET("aws:SourceIp=2001:db8:1234:5679::1"), N},
    {"IpAddress v4 request vs v6 net", ID, COND("{'IpAddress':{'aws:SourceIp':'::/0'}}"),
     GET("aws:SourceIp=192.0.2.1"), N},
    {"IpAddress garbage request", ID, COND("{'IpAddress':{'aws:SourceIp':'0.0.0.0/0'}}"),
     GET("aws:SourceIp=localhost"), N},
    {"IpAddress missing", ID, COND("{'IpAddress':{'aws:SourceIp':'0.0.0.0/0'}}"), GET(NULL), N},
    {"NotIpAddress outside", ID, COND("{'NotIpAddress':{'aws:SourceIp':'192.0.2.0/24'}}"),
     GET("aws:SourceIp=198.51.100.1"), A},
    {"NotIpAddress inside", ID, COND("{'NotIpAddress':{'aws:SourceIp':'192.0.2.0/24'}}"),
     GET("aws:SourceIp=192.0.2.1"), N},
    {"NotIpAddress missing is true", ID, COND("{'NotIpAddress':{'aws:SourceIp':'192.0.2.0/24'}}"),
     GET(NULL), A},
    {"IpAddressIfExists missing", ID, COND("{'IpAddressIfExists':{'aws:SourceIp':'10.0.0.0/8'}}"),
     GET(NULL), A},
    {"IpAddressIfExists present outside", ID,
     COND("{'IpAddressIfExists':{'aws:SourceIp':'10.0.0.0/8'}}"), GET("aws:SourceIp=11.0.0.1"), N},
    {"IpAddress v6 bare loopback", ID, COND("{'IpAddress':{'aws:SourceIp':'::1'}}"),
     GET("aws:SourceIp=::1"), A},
    {"IpAddress list OR", ID, COND("{'IpAddress':{'aws:SourceIp':['10.0.0.0/8','192.0.2.0/24']}}"),
     GET("aws:SourceIp=192.0.2.200"), A},
    /* Arn */
    {"ArnLikeIfExists missing", ID, COND("{'ArnLikeIfExists':{'aws:SourceArn':'arn:aws:s3:::b'}}"),
     GET(NULL), A},
    {"ArnLike wildcard", ID, COND("{'ArnLike':{'aws:SourceArn':'arn:aws:s3:::bkt-*'}}"),
     GET("aws:SourceArn=arn:aws:s3:::bkt-1"), A},
    {"ArnEquals exact", ID, COND("{'ArnEquals':{'aws:SourceArn':'" FN "'}}"),
     GET("aws:SourceArn=" FN), A},
    {"ArnEquals behaves as ArnLike", ID,
     COND("{'ArnEquals':{'aws:SourceArn':'arn:aws:lambda:*:111122223333:function:*'}}"),
     GET("aws:SourceArn=" FN), A},
    {"ArnLike wildcard stays in its segment", ID,
     COND("{'ArnLike':{'aws:PrincipalArn':'arn:aws:iam::*:role/x'}}"),
     GET("aws:PrincipalArn=arn:aws:iam::111:222:role/x"), N},
    {"ArnLike request not an ARN", ID, COND("{'ArnLike':{'aws:SourceArn':'arn:aws:s3:::*'}}"),
     GET("aws:SourceArn=bucket"), N},
    {"ArnNotLike match", ID, COND("{'ArnNotLike':{'aws:SourceArn':'arn:aws:s3:::bkt-*'}}"),
     GET("aws:SourceArn=arn:aws:s3:::bkt-1"), N},
    {"ArnNotLike missing is true", ID, COND("{'ArnNotLike':{'aws:SourceArn':'arn:aws:s3:::b*'}}"),
     GET(NULL), A},
    {"ArnNotEquals differs", ID, COND("{'ArnNotEquals':{'aws:SourceArn':'arn:aws:s3:::b'}}"),
     GET("aws:SourceArn=arn:aws:s3:::c"), A},
    {"aws:PrincipalArn from the request", ID,
     COND("{'ArnLike':{'aws:PrincipalArn':'arn:aws:iam::111122223333:user/*'}}"), GET(NULL), A},
    /* ForAnyValue / ForAllValues */
    {"ForAnyValue one matches", ID, COND("{'ForAnyValue:StringEquals':{'aws:TagKeys':['a','b']}}"),
     GET("aws:TagKeys=c|a"), A},
    {"ForAnyValue none matches", ID,
     COND("{'ForAnyValue:StringEquals':{'aws:TagKeys':['a','b']}}"), GET("aws:TagKeys=c|d"), N},
    {"ForAnyValue missing is false", ID,
     COND("{'ForAnyValue:StringEquals':{'aws:TagKeys':['a','b']}}"), GET(NULL), N},
    {"ForAnyValue empty is false", ID,
     COND("{'ForAnyValue:StringEquals':{'aws:TagKeys':['a','b']}}"), GET("aws:TagKeys"), N},
    {"ForAllValues all match", ID, COND("{'ForAllValues:StringEquals':{'aws:TagKeys':['a','b']}}"),
     GET("aws:TagKeys=b|a"), A},
    {"ForAllValues one outside", ID,
     COND("{'ForAllValues:StringEquals':{'aws:TagKeys':['a','b']}}"), GET("aws:TagKeys=a|c"), N},
    {"ForAllValues missing is true", ID,
     COND("{'ForAllValues:StringEquals':{'aws:TagKeys':['a','b']}}"), GET(NULL), A},
    {"ForAllValues empty is true", ID,
     COND("{'ForAllValues:StringEquals':{'aws:TagKeys':['a','b']}}"), GET("aws:TagKeys"), A},
    {"ForAllValues StringLike", ID, COND("{'ForAllValues:StringLike':{'aws:TagKeys':'env*'}}"),
     GET("aws:TagKeys=env|environment"), A},
    {"ForAnyValue StringNotEquals: one differs", ID,
     COND("{'ForAnyValue:StringNotEquals':{'aws:TagKeys':'a'}}"), GET("aws:TagKeys=a|b"), A},
    {"ForAnyValue StringNotEquals: all equal", ID,
     COND("{'ForAnyValue:StringNotEquals':{'aws:TagKeys':'a'}}"), GET("aws:TagKeys=a"), N},
    {"ForAllValues StringNotLike: none match", ID,
     COND("{'ForAllValues:StringNotLike':{'aws:TagKeys':'sys*'}}"), GET("aws:TagKeys=a|b"), A},
    {"ForAllValues StringNotLike: one matches", ID,
     COND("{'ForAllValues:StringNotLike':{'aws:TagKeys':'sys*'}}"), GET("aws:TagKeys=a|system"), N},
    {"ForAnyValue:StringEqualsIfExists missing", ID,
     COND("{'ForAnyValue:StringEqualsIfExists':{'aws:TagKeys':'a'}}"), GET(NULL), A},
    /* policy variables */
    {"variable in resource", ID,
     DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/home/${aws:username}/*'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/home/alice/f", "aws:username=alice"), A},
    {"variable in resource: someone else's", ID,
     DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/home/${aws:username}/*'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/home/bob/f", "aws:username=alice"), N},
    {"variable with Version 2008 is literal", ID,
     DOC08(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/home/${aws:username}/*'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/home/alice/f", "aws:username=alice"), N},
    {"variable with Version 2008 matches the literal text", ID,
     DOC08(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/home/${aws:username}/*'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/home/${aws:username}/f", "aws:username=alice"),
     A},
    {"variable missing: no match", ID,
     DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/home/${aws:username}/*'")),
     AS_SESS("s3:GetObject", "arn:aws:s3:::bkt/home//f", NULL), N},
    {"variable default", ID,
     DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/home/${aws:username, `anon`}/*'")),
     AS_SESS("s3:GetObject", "arn:aws:s3:::bkt/home/anon/f", NULL), A},
    {"variable default unused when present", ID,
     DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/home/${aws:username, `anon`}/*'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/home/anon/f", "aws:username=alice"), N},
    {"${*} is a literal star", ID, DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/${*}'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/*", NULL), A},
    {"${*} is not a wildcard", ID, DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/${*}'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/x", NULL), N},
    {"${?} and ${$}", ID, DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/a${?}${$}'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/a?$", NULL), A},
    {"substituted * is literal", ID,
     DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/${aws:PrincipalTag/team}/*'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/x/y", "aws:PrincipalTag/team=*"), N},
    {"substituted * matches itself", ID,
     DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/${aws:PrincipalTag/team}/*'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/*/y", "aws:PrincipalTag/team=*"), A},
    {"multi-valued key is no variable", ID,
     DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::bkt/${aws:TagKeys}/*'")),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::bkt/a/x", "aws:TagKeys=a|b"), N},
    {"variable in condition value", ID,
     COND("{'StringLike':{'s3:prefix':'home/${aws:username}/*'}}"),
     GET("aws:username=alice;s3:prefix=home/alice/docs"), A},
    {"variable in condition value: other user", ID,
     COND("{'StringLike':{'s3:prefix':'home/${aws:username}/*'}}"),
     GET("aws:username=alice;s3:prefix=home/bob/"), N},
    {"variable ${aws:PrincipalArn} from the request", ID,
     COND("{'StringEquals':{'aws:x':'${aws:PrincipalArn}'}}"), GET("aws:x=" ALICE), A},
    {"variable ${aws:userid} session form", ID,
     DOC(ALLOW("'s3:*'", "'arn:aws:s3:::bkt/${aws:userid}/*'")),
     AS_SESS("s3:PutObject", "arn:aws:s3:::bkt/AROAEXAMPLE:fn1/x", "aws:userid=AROAEXAMPLE:fn1"), A},
    {"unresolved variable: NotResource statement applies to nothing", ID,
     DOC("{'Effect':'Allow','Action':'s3:*','NotResource':'arn:aws:s3:::bkt/${aws:username}/*'}"),
     AS_SESS("s3:GetObject", "arn:aws:s3:::other/x", NULL), N},
    {"resolved variable: NotResource statement applies", ID,
     DOC("{'Effect':'Allow','Action':'s3:*','NotResource':'arn:aws:s3:::bkt/${aws:username}/*'}"),
     AS_ALICE("s3:GetObject", "arn:aws:s3:::other/x", "aws:username=alice"), A},
    {"unresolved variable: negated condition does not hold", ID,
     COND("{'StringNotEquals':{'s3:prefix':'${aws:username}'}}"), GET("s3:prefix=x"), N},
    {"unresolved variable: Deny statement does not apply", ID,
     DOC(ALLOW("'s3:*'", "'*'") "," DENY("'s3:GetObject'", "'arn:aws:s3:::bkt/${aws:username}'")),
     AS_SESS("s3:GetObject", OBJ, NULL), A},
    {"variable in ArnLike value", ID,
     COND("{'ArnLike':{'aws:SourceArn':'arn:aws:s3:::${aws:username}-*'}}"),
     GET("aws:username=alice;aws:SourceArn=arn:aws:s3:::alice-logs"), A},
    {"${ in BinaryEquals is text, not a variable", ID,
     COND("{'BinaryEquals':{'aws:x':'${aws:username}'}}"),
     GET("aws:username=alice;aws:x=${aws:username}"), A},
    /* Principal (resource and trust policies) */
    {"Principal * matches anyone", RS,
     DOC("{'Effect':'Allow','Principal':'*','Action':'s3:GetObject','Resource':'" BKT "/*'}"),
     AS_OTHER("s3:GetObject", OBJ, NULL), A},
    {"Principal AWS * matches anyone", RS,
     DOC("{'Effect':'Allow','Principal':{'AWS':'*'},'Action':'s3:GetObject','Resource':'*'}"),
     GET(NULL), A},
    {"Principal account id", RS,
     DOC("{'Effect':'Allow','Principal':{'AWS':'" ACCT "'},'Action':'s3:*','Resource':'*'}"),
     GET(NULL), A},
    {"Principal account root ARN", RS,
     DOC("{'Effect':'Allow','Principal':{'AWS':'arn:aws:iam::" ACCT
         ":root'},'Action':'s3:*','Resource':'*'}"),
     AS_SESS("s3:GetObject", OBJ, NULL), A},
    {"Principal other account", RS,
     DOC("{'Effect':'Allow','Principal':{'AWS':'" ACCT "'},'Action':'s3:*','Resource':'*'}"),
     AS_OTHER("s3:GetObject", OBJ, NULL), N},
    {"Principal user ARN", RS,
     DOC("{'Effect':'Allow','Principal':{'AWS':'" ALICE "'},'Action':'s3:*','Resource':'*'}"),
     GET(NULL), A},
    {"Principal user ARN: other user", RS,
     DOC("{'Effect':'Allow','Principal':{'AWS':'" ALICE "'},'Action':'s3:*','Resource':'*'}"),
     AS_BOB("s3:GetObject", OBJ, NULL), N},
    {"Principal role ARN matches its sessions", RS,
     DOC("{'Effect':'Allow','Principal':{'AWS':'" ROLE "'},'Action':'s3:*','Resource':'*'}"),
     AS_SESS("s3:GetObject", OBJ, NULL), A},
    {"Principal session ARN", RS,
     DOC("{'Effect':'Allow','Principal':{'AWS':'" SESS "'},'Action':'s3:*','Resource':'*'}"),
     AS_SESS("s3:GetObject", OBJ, NULL), A},
    {"Principal array", RS,
     DOC("{'Effect':'Allow','Principal':{'AWS':['" BOB "','" ALICE
         "']},'Action':'s3:*','Resource':'*'}"),
     GET(NULL), A},
    {"Principal service", TR,
     DOC("{'Effect':'Allow','Principal':{'Service':'lambda.amazonaws.com'},'Action':'sts:AssumeRole'}"),
     AS_SVC("sts:AssumeRole", ROLE, "lambda.amazonaws.com"), A},
    {"Principal service: a user is not the service", TR,
     DOC("{'Effect':'Allow','Principal':{'Service':'lambda.amazonaws.com'},'Action':'sts:AssumeRole'}"),
     AS_ALICE("sts:AssumeRole", ROLE, NULL), N},
    {"Principal service: another service", TR,
     DOC("{'Effect':'Allow','Principal':{'Service':'lambda.amazonaws.com'},'Action':'sts:AssumeRole'}"),
     AS_SVC("sts:AssumeRole", ROLE, "batchoperations.s3.amazonaws.com"), N},
    {"trust external id condition", TR,
     DOC("{'Effect':'Allow','Principal':{'AWS':'" ALICE "'},'Action':'sts:AssumeRole',"
         "'Condition':{'StringEquals':{'sts:ExternalId':'xyz'}}}"),
     AS_ALICE("sts:AssumeRole", ROLE, "sts:ExternalId=xyz"), A},
    {"trust external id wrong", TR,
     DOC("{'Effect':'Allow','Principal':{'AWS':'" ALICE "'},'Action':'sts:AssumeRole',"
         "'Condition':{'StringEquals':{'sts:ExternalId':'xyz'}}}"),
     AS_ALICE("sts:AssumeRole", ROLE, "sts:ExternalId=abc"), N},
    {"NotPrincipal deny: others denied", RS,
     DOC("{'Effect':'Deny','NotPrincipal':{'AWS':'" ALICE "'},'Action':'s3:*','Resource':'*'}"),
     AS_BOB("s3:GetObject", OBJ, NULL), D},
    {"NotPrincipal deny: the excepted principal", RS,
     DOC("{'Effect':'Deny','NotPrincipal':{'AWS':'" ALICE "'},'Action':'s3:*','Resource':'*'}"),
     GET(NULL), N},
    {"NotPrincipal role ARN does not except its sessions", RS,
     DOC("{'Effect':'Deny','NotPrincipal':{'AWS':'" ROLE "'},'Action':'s3:*','Resource':'*'}"),
     AS_SESS("s3:GetObject", OBJ, NULL), D},
    {"NotPrincipal account does not except its users", RS,
     DOC("{'Effect':'Deny','NotPrincipal':{'AWS':'" ACCT "'},'Action':'s3:*','Resource':'*'}"),
     GET(NULL), D},
    {"NotPrincipal account excepts the root", RS,
     DOC("{'Effect':'Deny','NotPrincipal':{'AWS':'" ACCT "'},'Action':'s3:*','Resource':'*'}"),
     AS_ALICE("s3:GetObject", OBJ, NULL), D},
    /* documented examples */
    {"doc: NotPrincipal Bob and his account: Bob not denied", RS,
     DOC("{'Effect':'Deny','NotPrincipal':{'AWS':['" BOB "','arn:aws:iam::" ACCT ":root']},"
         "'Action':'s3:*','Resource':['" BKT "','" BKT "/*']}"),
     AS_BOB("s3:GetObject", OBJ, NULL), N},
    {"doc: NotPrincipal Bob and his account: others denied", RS,
     DOC("{'Effect':'Deny','NotPrincipal':{'AWS':['" BOB "','arn:aws:iam::" ACCT ":root']},"
         "'Action':'s3:*','Resource':['" BKT "','" BKT "/*']}"),
     GET(NULL), D},
    {"doc: NotPrincipal session, role and account: the session not denied", RS,
     DOC("{'Effect':'Deny','NotPrincipal':{'AWS':['" SESS "','" ROLE "','arn:aws:iam::" ACCT
         ":root']},'Action':'s3:*','Resource':['" BKT "','" BKT "/*']}"),
     AS_SESS("s3:GetObject", OBJ, NULL), N},
    {"doc: TLS-only bucket, plain HTTP denied", RS, TLS_DOC,
     AS_ALICE("s3:GetObject", OBJ, "aws:SecureTransport=false"), D},
    {"doc: TLS-only bucket, HTTPS not denied", RS, TLS_DOC,
     AS_ALICE("s3:GetObject", OBJ, "aws:SecureTransport=true"), N},
    {"doc: TLS-only bucket, other bucket untouched", RS, TLS_DOC,
     AS_ALICE("s3:GetObject", "arn:aws:s3:::other/k", "aws:SecureTransport=false"), N},
    {"doc: source IP outside ranges denied", ID, IP_DOC,
     GET("aws:SourceIp=198.51.100.1;aws:ViaAWSService=false"), D},
    {"doc: source IP inside range not denied", ID, IP_DOC,
     GET("aws:SourceIp=203.0.113.9;aws:ViaAWSService=false"), N},
    {"doc: source IP via an AWS service not denied", ID, IP_DOC,
     GET("aws:SourceIp=198.51.100.1;aws:ViaAWSService=true"), N},
    {"doc: MFA Null: no MFA, stop denied", ID, MFA_DOC,
     AS_ALICE("ec2:StopInstances", "*", NULL), D},
    {"doc: MFA Null: with MFA, stop allowed", ID, MFA_DOC,
     AS_ALICE("ec2:StopInstances", "*", "aws:MultiFactorAuthAge=100"), A},
    {"doc: MFA age over an hour, terminate denied", ID, MFA_DOC,
     AS_ALICE("ec2:TerminateInstances", "*", "aws:MultiFactorAuthAge=7200"), D},
    {"doc: MFA age fresh, terminate allowed", ID, MFA_DOC,
     AS_ALICE("ec2:TerminateInstances", "*", "aws:MultiFactorAuthAge=60"), A},
    {"doc: home dir, list own prefix", ID, HOME_DOC,
     AS_ALICE("s3:ListBucket", HB, "aws:username=alice;s3:prefix=home/alice/photos"), A},
    {"doc: home dir, list root prefix", ID, HOME_DOC,
     AS_ALICE("s3:ListBucket", HB, "aws:username=alice;s3:prefix="), A},
    {"doc: home dir, list home/", ID, HOME_DOC,
     AS_ALICE("s3:ListBucket", HB, "aws:username=alice;s3:prefix=home/"), A},
    {"doc: home dir, list another's prefix", ID, HOME_DOC,
     AS_ALICE("s3:ListBucket", HB, "aws:username=alice;s3:prefix=home/bob/"), N},
    {"doc: home dir, list without prefix key", ID, HOME_DOC,
     AS_ALICE("s3:ListBucket", HB, "aws:username=alice"), N},
    {"doc: home dir, get own object", ID, HOME_DOC,
     AS_ALICE("s3:GetObject", HB "/home/alice/f.txt", "aws:username=alice"), A},
    {"doc: home dir, put another's object", ID, HOME_DOC,
     AS_ALICE("s3:PutObject", HB "/home/bob/f.txt", "aws:username=alice"), N},
    {"doc: home dir, list all buckets", ID, HOME_DOC,
     AS_ALICE("s3:ListAllMyBuckets", "*", "aws:username=alice"), A},
    {"doc: referer-restricted bucket, from the site", RS, REFERER_DOC,
     AS_OTHER("s3:GetObject", OBJ, "aws:Referer=https://www.example.com/page.html"), A},
    {"doc: referer-restricted bucket, elsewhere", RS, REFERER_DOC,
     AS_OTHER("s3:GetObject", OBJ, "aws:Referer=https://evil.example.net/"), N},
    {"doc: referer-restricted bucket, no referer", RS, REFERER_DOC,
     AS_OTHER("s3:GetObject", OBJ, NULL), N},
    {"doc: MFA bucket policy, no MFA, denied", RS, MFA_BUCKET_DOC,
     AS_ALICE("s3:GetObject", BKT "/taxdocuments/2025.pdf", NULL), D},
    {"doc: MFA bucket policy, with MFA, not denied", RS, MFA_BUCKET_DOC,
     AS_ALICE("s3:GetObject", BKT "/taxdocuments/2025.pdf", "aws:MultiFactorAuthAge=30"), N},
    {"doc: MFA bucket policy, other prefix untouched", RS, MFA_BUCKET_DOC,
     AS_ALICE("s3:GetObject", BKT "/public/x", NULL), N},
    {"doc: VPC endpoint only, no endpoint, denied", RS, VPCE_DOC,
     AS_ALICE("s3:GetObject", OBJ, NULL), D},
    {"doc: VPC endpoint only, the endpoint, not denied", RS, VPCE_DOC,
     AS_ALICE("s3:GetObject", OBJ, "aws:SourceVpce=vpce-1a2b3c4d"), N},
    {"doc: VPC endpoint only, another endpoint, denied", RS, VPCE_DOC,
     AS_ALICE("s3:GetObject", OBJ, "aws:SourceVpce=vpce-ffffffff"), D},
    {"doc: bucket-owner-full-control required, given", RS, ACL_DOC,
     AS_OTHER("s3:PutObject", OBJ, "s3:x-amz-acl=bucket-owner-full-control"), A},
    {"doc: bucket-owner-full-control required, other ACL", RS, ACL_DOC,
     AS_OTHER("s3:PutObject", OBJ, "s3:x-amz-acl=public-read"), N},
    {"doc: deny unencrypted uploads, no header", RS, SSE_DOC, AS_ALICE("s3:PutObject", OBJ, NULL),
     D},
    {"doc: deny unencrypted uploads, header present", RS, SSE_DOC,
     AS_ALICE("s3:PutObject", OBJ, "s3:x-amz-server-side-encryption=AES256"), N},
    {"doc: date window, inside", ID, WINDOW_DOC,
     AS_ALICE("s3:GetObject", OBJ, "aws:CurrentTime=2020-04-01T12:00:00Z"), A},
    {"doc: date window, after", ID, WINDOW_DOC,
     AS_ALICE("s3:GetObject", OBJ, "aws:CurrentTime=2020-07-01T00:00:01Z"), N},
    {"doc: own access keys", ID, KEYS_DOC,
     AS_ALICE("iam:CreateAccessKey", "arn:aws:iam::" ACCT ":user/alice", "aws:username=alice"), A},
    {"doc: someone else's access keys", ID, KEYS_DOC,
     AS_ALICE("iam:DeleteAccessKey", "arn:aws:iam::" ACCT ":user/bob", "aws:username=alice"), N},
    {"doc: deny outside regions, other region", ID, REGION_DOC,
     AS_ALICE("lambda:InvokeFunction", FN, "aws:RequestedRegion=ap-south-1"), D},
    {"doc: deny outside regions, allowed region", ID, REGION_DOC,
     AS_ALICE("lambda:InvokeFunction", FN, "aws:RequestedRegion=us-east-1"), N},
    {"doc: deny outside regions, global service excepted", ID, REGION_DOC,
     AS_ALICE("iam:CreateUser", "*", "aws:RequestedRegion=ap-south-1"), N},
    {"doc: S3 Express read-only session", ID, EXPRESS_RO,
     AS_ALICE("s3express:CreateSession", XB, "s3express:SessionMode=ReadOnly"), A},
    {"doc: S3 Express read-only refuses ReadWrite", ID, EXPRESS_RO,
     AS_ALICE("s3express:CreateSession", XB, "s3express:SessionMode=ReadWrite"), N},
};

static void run_eval_case(void **state)
{
    const struct eval_case *c = *state;
    struct policy *p = must_parse(c->doc, c->kind);
    struct built b;
    build_req(&c->r, &b);
    struct policy_match m;
    enum policy_effect got = policy_eval(p, &b.r, &m);
    if (got != c->want)
        fail_msg("%s: got %d want %d", c->name, got, c->want);
    if (got == POLICY_NO_MATCH)
        assert_null(m.policy);
    else
        assert_ptr_equal(m.policy, p);
    policy_free(p);
}

/* ---- table 2: the policies of one request, policy_decide -------------------------- */

struct decide_case {
    const char *name;
    const char *identity[3];
    const char *resource;
    enum policy_kind resource_kind;
    const char *session[2];
    bool root;
    struct req_spec r;
    enum policy_decision want;
    enum policy_source want_src;
};

#define ALLOW_ALL_S3  DOC(ALLOW("'s3:*'", "'*'"))
#define ALLOW_GET     DOC(ALLOW("'s3:GetObject'", "'*'"))
#define RO_MANAGED                                                                            \
    DOC(ALLOW("['s3:Get*','s3:List*','s3:Describe*','s3-object-lambda:Get*',"                 \
              "'s3-object-lambda:List*']",                                                    \
              "'*'"))
#define BP(principal, effect, act, res)                                                       \
    DOC("{'Effect':'" effect "','Principal':" principal ",'Action':'" act "','Resource':'" res \
        "'}")
#define TP(principal) \
    DOC("{'Effect':'Allow','Principal':" principal ",'Action':'sts:AssumeRole'}")
#define TRUST_ACCT TP("{'AWS':'arn:aws:iam::" ACCT ":root'}")

#define DA POLICY_DECISION_ALLOW
#define DI POLICY_DECISION_IMPLICIT_DENY
#define DE POLICY_DECISION_EXPLICIT_DENY
#define SN POLICY_SRC_NONE
#define SI POLICY_SRC_IDENTITY
#define SR POLICY_SRC_RESOURCE
#define SS POLICY_SRC_SESSION

static const struct decide_case decide_cases[] = {
    {"identity allows", {ALLOW_GET}, NULL, RS, {NULL}, false, GET(NULL), DA, SI},
    {"no policy: implicit deny", {NULL}, NULL, RS, {NULL}, false, GET(NULL), DI, SN},
    {"identity allows other action: implicit deny", {ALLOW_GET}, NULL, RS, {NULL}, false,
     AS_ALICE("s3:PutObject", OBJ, NULL), DI, SN},
    {"second identity policy denies", {ALLOW_ALL_S3, DOC(DENY("'s3:GetObject'", "'*'"))}, NULL, RS,
     {NULL}, false, GET(NULL), DE, SI},
    {"group policy allows (third identity policy)",
     {DOC(ALLOW("'lambda:*'", "'*'")), DOC(ALLOW("'logs:*'", "'*'")), ALLOW_GET}, NULL, RS, {NULL},
     false, GET(NULL), DA, SI},
    {"bucket policy denies over identity allow", {ALLOW_ALL_S3},
     BP("'*'", "Deny", "s3:GetObject", BKT "/*"), RS, {NULL}, false, GET(NULL), DE, SR},
    {"bucket policy denies one prefix: inside", {ALLOW_ALL_S3},
     BP("'*'", "Deny", "s3:*", BKT "/private/*"), RS, {NULL}, false,
     AS_ALICE("s3:PutObject", BKT "/private/x", NULL), DE, SR},
    {"bucket policy denies one prefix: outside", {ALLOW_ALL_S3},
     BP("'*'", "Deny", "s3:*", BKT "/private/*"), RS, {NULL}, false,
     AS_ALICE("s3:PutObject", BKT "/public/x", NULL), DA, SI},
    {"bucket policy naming the user grants alone", {NULL},
     BP("{'AWS':'" ALICE "'}", "Allow", "s3:GetObject", BKT "/*"), RS, {NULL}, false, GET(NULL), DA,
     SR},
    {"bucket policy naming another user", {NULL},
     BP("{'AWS':'" BOB "'}", "Allow", "s3:GetObject", BKT "/*"), RS, {NULL}, false, GET(NULL), DI,
     SN},
    {"bucket policy naming the account delegates: no identity allow", {NULL},
     BP("{'AWS':'" ACCT "'}", "Allow", "s3:GetObject", BKT "/*"), RS, {NULL}, false, GET(NULL), DI,
     SN},
    {"bucket policy naming the account delegates: identity allows", {ALLOW_GET},
     BP("{'AWS':'" ACCT "'}", "Allow", "s3:GetObject", BKT "/*"), RS, {NULL}, false, GET(NULL), DA,
     SI},
    {"public bucket policy grants anyone", {NULL}, BP("'*'", "Allow", "s3:GetObject", BKT "/*"), RS,
     {NULL}, false, AS_OTHER("s3:GetObject", OBJ, NULL), DA, SR},
    {"session policy narrows: allowed action", {ALLOW_ALL_S3}, NULL, RS, {ALLOW_GET}, false,
     AS_SESS("s3:GetObject", OBJ, NULL), DA, SI},
    {"session policy narrows: other action", {ALLOW_ALL_S3}, NULL, RS, {ALLOW_GET}, false,
     AS_SESS("s3:PutObject", OBJ, NULL), DI, SS},
    {"session policy never widens", {ALLOW_GET}, NULL, RS, {ALLOW_ALL_S3}, false,
     AS_SESS("s3:PutObject", OBJ, NULL), DI, SN},
    {"session policy never widens to other services", {ALLOW_GET}, NULL, RS,
     {DOC(ALLOW("'*'", "'*'"))}, false, AS_SESS("iam:CreateUser", "*", NULL), DI, SN},
    {"second session policy (PolicyArns) allows", {ALLOW_ALL_S3}, NULL, RS,
     {DOC(ALLOW("'s3:List*'", "'*'")), ALLOW_GET}, false, AS_SESS("s3:GetObject", OBJ, NULL), DA,
     SI},
    {"session policy denies", {ALLOW_ALL_S3}, NULL, RS, {DOC(DENY("'s3:*'", "'*'"))}, false,
     AS_SESS("s3:GetObject", OBJ, NULL), DE, SS},
    {"resource policy naming the session ARN: not narrowed", {NULL},
     BP("{'AWS':'" SESS "'}", "Allow", "s3:PutObject", BKT "/*"), RS, {ALLOW_GET}, false,
     AS_SESS("s3:PutObject", OBJ, NULL), DA, SR},
    {"resource policy naming the role ARN: narrowed", {NULL},
     BP("{'AWS':'" ROLE "'}", "Allow", "s3:PutObject", BKT "/*"), RS, {ALLOW_GET}, false,
     AS_SESS("s3:PutObject", OBJ, NULL), DI, SS},
    {"resource policy naming the role ARN: session allows", {NULL},
     BP("{'AWS':'" ROLE "'}", "Allow", "s3:PutObject", BKT "/*"), RS, {ALLOW_ALL_S3}, false,
     AS_SESS("s3:PutObject", OBJ, NULL), DA, SR},
    {"role session without session policy uses the role's policies", {ALLOW_GET}, NULL, RS,
     {NULL}, false, AS_SESS("s3:GetObject", OBJ, NULL), DA, SI},
    {"identity deny beats a resource grant to the user", {DOC(DENY("'s3:*'", "'*'"))},
     BP("{'AWS':'" ALICE "'}", "Allow", "s3:GetObject", BKT "/*"), RS, {NULL}, false, GET(NULL), DE,
     SI},
    {"session deny beats a resource grant to the session", {NULL},
     BP("{'AWS':'" SESS "'}", "Allow", "s3:GetObject", BKT "/*"), RS,
     {DOC(DENY("'s3:GetObject'", "'*'"))}, false, AS_SESS("s3:GetObject", OBJ, NULL), DE, SS},
    {"anonymous caller, public bucket", {NULL}, BP("'*'", "Allow", "s3:GetObject", BKT "/*"), RS,
     {NULL}, false, {"s3:GetObject", OBJ, NULL, NULL, NULL, NULL, NULL}, DA, SR},
    {"anonymous caller, private bucket", {NULL},
     BP("{'AWS':'" ACCT "'}", "Allow", "s3:GetObject", BKT "/*"), RS, {NULL}, false,
     {"s3:GetObject", OBJ, NULL, NULL, NULL, NULL, NULL}, DI, SN},
    {"anonymous caller, no bucket policy", {NULL}, NULL, RS, {NULL}, false,
     {"s3:GetObject", OBJ, NULL, NULL, NULL, NULL, NULL}, DI, SN},
    {"resource policy: the strongest grant decides", {NULL},
     DOC("{'Effect':'Allow','Principal':{'AWS':'" ACCT "'},'Action':'s3:*','Resource':'*'},"
         "{'Effect':'Allow','Principal':{'AWS':'" SESS "'},'Action':'s3:*','Resource':'*'}"),
     RS, {ALLOW_GET}, false, AS_SESS("s3:PutObject", OBJ, NULL), DA, SR},
    {"root: allowed without policies", {NULL}, NULL, RS, {NULL}, true,
     {"iam:CreateUser", "*", "arn:aws:iam::" ACCT ":root", NULL, ACCT, NULL, NULL}, DA, SN},
    {"root: bucket policy deny applies", {NULL}, BP("'*'", "Deny", "s3:DeleteObject", BKT "/*"),
     RS, {NULL}, true,
     {"s3:DeleteObject", OBJ, "arn:aws:iam::" ACCT ":root", NULL, ACCT, NULL, NULL}, DE, SR},
    {"root: bucket policy deny elsewhere", {NULL}, BP("'*'", "Deny", "s3:DeleteObject", BKT "/*"),
     RS, {NULL}, true,
     {"s3:GetObject", OBJ, "arn:aws:iam::" ACCT ":root", NULL, ACCT, NULL, NULL}, DA, SN},
    {"trust names the account: identity must allow AssumeRole", {NULL}, TRUST_ACCT, TR, {NULL},
     false, AS_ALICE("sts:AssumeRole", ROLE, NULL), DI, SN},
    {"trust names the account: other account refused",
     {DOC(ALLOW("'sts:AssumeRole'", "'*'"))}, TRUST_ACCT, TR, {NULL}, false,
     AS_OTHER("sts:AssumeRole", ROLE, NULL), DI, SR},
    {"trust names the account: identity allows AssumeRole",
     {DOC(ALLOW("'sts:AssumeRole'", "'" ROLE "'"))}, TRUST_ACCT, TR, {NULL}, false,
     AS_ALICE("sts:AssumeRole", ROLE, NULL), DA, SI},
    {"trust names the caller: allowed alone", {NULL},
     TP("{'AWS':'" ALICE "'}"), TR, {NULL}, false,
     AS_ALICE("sts:AssumeRole", ROLE, NULL), DA, SR},
    {"trust names someone else: identity allow is not enough",
     {DOC(ALLOW("'sts:AssumeRole'", "'*'"))}, TP("{'AWS':'" BOB "'}"),
     TR, {NULL}, false, AS_ALICE("sts:AssumeRole", ROLE, NULL), DI, SR},
    {"trust for lambda: the service assumes", {NULL},
     TP("{'Service':'lambda.amazonaws.com'}"), TR, {NULL}, false,
     AS_SVC("sts:AssumeRole", ROLE, "lambda.amazonaws.com"), DA, SR},
    {"read-only user reads", {RO_MANAGED}, NULL, RS, {NULL}, false, GET(NULL), DA, SI},
    {"read-only user lists", {RO_MANAGED}, NULL, RS, {NULL}, false,
     AS_ALICE("s3:ListBucket", BKT, NULL), DA, SI},
    {"read-only user cannot put", {RO_MANAGED}, NULL, RS, {NULL}, false,
     AS_ALICE("s3:PutObject", OBJ, NULL), DI, SN},
    {"read-only user cannot delete", {RO_MANAGED}, NULL, RS, {NULL}, false,
     AS_ALICE("s3:DeleteObject", OBJ, NULL), DI, SN},
    {"read-only user cannot create users", {RO_MANAGED}, NULL, RS, {NULL}, false,
     AS_ALICE("iam:CreateUser", "arn:aws:iam::111122223333:user/x", NULL), DI, SN},
    {"read-only user cannot assume roles", {RO_MANAGED}, NULL, RS, {NULL}, false,
     AS_ALICE("sts:AssumeRole", ROLE, NULL), DI, SN},
    {"read-only user: S3 Express ReadWrite session refused", {RO_MANAGED}, NULL, RS, {NULL}, false,
     AS_ALICE("s3express:CreateSession", XB, "s3express:SessionMode=ReadWrite"), DI, SN},
    {"function policy lets a service invoke", {NULL},
     DOC("{'Sid':'s3invoke','Effect':'Allow','Principal':{'Service':'s3.amazonaws.com'},"
         "'Action':'lambda:InvokeFunction','Resource':'" FN "',"
         "'Condition':{'ArnLike':{'AWS:SourceArn':'arn:aws:s3:::bkt'}}}"),
     RS, {NULL}, false,
     {"lambda:InvokeFunction", FN, NULL, NULL, NULL, "s3.amazonaws.com",
      "aws:SourceArn=arn:aws:s3:::bkt"},
     DA, SR},
    {"function policy: wrong source bucket", {NULL},
     DOC("{'Sid':'s3invoke','Effect':'Allow','Principal':{'Service':'s3.amazonaws.com'},"
         "'Action':'lambda:InvokeFunction','Resource':'" FN "',"
         "'Condition':{'ArnLike':{'AWS:SourceArn':'arn:aws:s3:::bkt'}}}"),
     RS, {NULL}, false,
     {"lambda:InvokeFunction", FN, NULL, NULL, NULL, "s3.amazonaws.com",
      "aws:SourceArn=arn:aws:s3:::evil"},
     DI, SN},
    {"PassRole only to lambda (AWSLambda_FullAccess form)",
     {DOC(ALLOWC("'iam:PassRole'", "'*'",
                 "{'StringEquals':{'iam:PassedToService':'lambda.amazonaws.com'}}"))},
     NULL, RS, {NULL}, false, AS_ALICE("iam:PassRole", ROLE, "iam:PassedToService=lambda.amazonaws.com"),
     DA, SI},
    {"PassRole to another service refused",
     {DOC(ALLOWC("'iam:PassRole'", "'*'",
                 "{'StringEquals':{'iam:PassedToService':'lambda.amazonaws.com'}}"))},
     NULL, RS, {NULL}, false, AS_ALICE("iam:PassRole", ROLE, "iam:PassedToService=ec2.amazonaws.com"),
     DI, SN},
};

static void run_decide_case(void **state)
{
    const struct decide_case *c = *state;
    struct policy *id[3] = {0}, *sess[2] = {0}, *res = NULL;
    size_t n_id = 0, n_sess = 0;
    for (size_t i = 0; i < 3 && c->identity[i]; i++)
        id[n_id++] = must_parse(c->identity[i], POLICY_IDENTITY);
    for (size_t i = 0; i < 2 && c->session[i]; i++)
        sess[n_sess++] = must_parse(c->session[i], POLICY_IDENTITY);
    if (c->resource)
        res = must_parse(c->resource, c->resource_kind);
    struct built b;
    build_req(&c->r, &b);
    struct policy_set s = {.identity = (const struct policy *const *)id,
                           .n_identity = n_id,
                           .resource = res,
                           .session = (const struct policy *const *)sess,
                           .n_session = n_sess,
                           .is_root = c->root};
    struct policy_verdict v;
    policy_decide(&s, &b.r, &v);
    if (v.decision != c->want || v.source != c->want_src)
        fail_msg("%s: got decision %d source %d, want %d %d", c->name, v.decision, v.source,
                 c->want, c->want_src);
    if (v.decision == POLICY_DECISION_EXPLICIT_DENY ||
        (v.decision == POLICY_DECISION_ALLOW && c->want_src != SN))
        assert_non_null(v.match.policy);
    else
        assert_null(v.match.policy);
    for (size_t i = 0; i < n_id; i++)
        policy_free(id[i]);
    for (size_t i = 0; i < n_sess; i++)
        policy_free(sess[i]);
    policy_free(res);
}

/* ---- table 3: malformed documents --------------------------------------------------- */

struct bad_case {
    const char *name;
    enum policy_kind kind;
    const char *doc; /* NULL: built by the test (sizes) */
    enum qr_err want;
    const char *why; /* expected substring of the reason */
};

#define S1(x) DOC(x)

static const struct bad_case bad_cases[] = {
    {"not JSON", ID, "this is not json", QR_E_BAD_INPUT, "Syntax errors in policy."},
    {"truncated JSON", ID, "{'Version':'2012-10-17','Statement':[", QR_E_BAD_INPUT,
     "Syntax errors in policy."},
    {"empty document", ID, "", QR_E_BAD_INPUT, "Syntax errors in policy."},
    {"top-level array", ID, "[]", QR_E_BAD_INPUT, "Syntax errors in policy."},
    {"unknown Effect", ID, DOC("{'Effect':'allow','Action':'s3:*','Resource':'*'}"), QR_E_BAD_INPUT,
     "Invalid effect: allow"},
    {"missing Effect", ID, DOC("{'Action':'s3:*','Resource':'*'}"), QR_E_BAD_INPUT,
     "Missing required field Effect"},
    {"Effect not a string", ID, DOC("{'Effect':true,'Action':'s3:*','Resource':'*'}"),
     QR_E_BAD_INPUT, "Syntax errors in policy."},
    {"bad ARN", ID, DOC(ALLOW("'s3:*'", "'bucket/*'")), QR_E_BAD_INPUT,
     "Resource bucket/* must be in ARN format or \"*\"."},
    {"ARN with too few parts", ID, DOC(ALLOW("'s3:*'", "'arn:aws:s3'")), QR_E_BAD_INPUT,
     "must be in ARN format"},
    {"ARN without service", ID, DOC(ALLOW("'s3:*'", "'arn:aws::::x'")), QR_E_BAD_INPUT,
     "must be in ARN format"},
    {"wrong Version", ID, "{'Version':'2012-10-18','Statement':[" ALLOW("'s3:*'", "'*'") "]}",
     QR_E_BAD_INPUT, "Invalid Version"},
    {"Version not a string", ID, "{'Version':2012,'Statement':[" ALLOW("'s3:*'", "'*'") "]}",
     QR_E_BAD_INPUT, "Invalid Version"},
    {"Principal in identity policy", ID,
     DOC("{'Effect':'Allow','Principal':'*','Action':'s3:*','Resource':'*'}"), QR_E_BAD_INPUT,
     "Policy document should not specify a principal."},
    {"missing Resource", ID, DOC("{'Effect':'Allow','Action':'s3:*'}"), QR_E_BAD_INPUT,
     "Policy statement must contain resources."},
    {"missing Action", ID, DOC("{'Effect':'Allow','Resource':'*'}"), QR_E_BAD_INPUT,
     "Policy statement must contain actions."},
    {"empty Action array", ID, DOC("{'Effect':'Allow','Action':[],'Resource':'*'}"),
     QR_E_BAD_INPUT, "Policy statement must contain actions."},
    {"Action and NotAction", ID,
     DOC("{'Effect':'Allow','Action':'s3:*','NotAction':'iam:*','Resource':'*'}"),
     QR_E_BAD_INPUT, "both Action and NotAction"},
    {"Resource and NotResource", ID,
     DOC("{'Effect':'Allow','Action':'s3:*','Resource':'*','NotResource':'*'}"), QR_E_BAD_INPUT,
     "both Resource and NotResource"},
    {"Resource in trust policy", TR,
     DOC("{'Effect':'Allow','Principal':'*','Action':'sts:AssumeRole','Resource':'*'}"),
     QR_E_BAD_INPUT, "Has prohibited field Resource"},
    {"trust policy without Principal", TR, DOC("{'Effect':'Allow','Action':'sts:AssumeRole'}"),
     QR_E_BAD_INPUT, "Missing required field Principal"},
    {"bucket policy without Principal", RS, DOC(ALLOW("'s3:*'", "'*'")), QR_E_BAD_INPUT,
     "Missing required field Principal"},
    {"trust policy with a non-STS action", TR,
     DOC("{'Effect':'Allow','Principal':'*','Action':'s3:GetObject'}"), QR_E_BAD_INPUT,
     "AssumeRole policy may only specify STS AssumeRole actions."},
    {"oversized", ID, NULL, QR_E_TOO_LARGE, "exceeds the maximum size"},
    {"overlong resource pattern", ID, NULL, QR_E_BAD_INPUT, "exceeds 2048 characters"},
    {"duplicate keys", ID,
     "{'Version':'2012-10-17','Version':'2012-10-17','Statement':[" ALLOW("'s3:*'", "'*'") "]}",
     QR_E_BAD_INPUT, "duplicate"},
    {"duplicate keys in a statement", ID,
     DOC("{'Effect':'Allow','Effect':'Deny','Action':'s3:*','Resource':'*'}"), QR_E_BAD_INPUT,
     "duplicate"},
    {"deep nesting", ID, NULL, QR_E_BAD_INPUT, "nesting"},
    {"unknown statement field", ID, DOC("{'Effects':'Allow','Action':'s3:*','Resource':'*'}"),
     QR_E_BAD_INPUT, "Unknown field Effects"},
    {"unknown top-level field", ID, "{'Version':'2012-10-17','Statements':[]}", QR_E_BAD_INPUT,
     "Unknown field Statements"},
    {"missing Statement", ID, "{'Version':'2012-10-17'}", QR_E_BAD_INPUT,
     "Missing required field Statement"},
    {"empty Statement", ID, "{'Version':'2012-10-17','Statement':[]}", QR_E_BAD_INPUT,
     "at least one statement"},
    {"Statement a string", ID, "{'Version':'2012-10-17','Statement':'x'}", QR_E_BAD_INPUT,
     "Syntax errors in policy."},
    {"statement element not an object", ID, DOC("'x'"), QR_E_BAD_INPUT, "Syntax errors in policy."},
    {"action without vendor", ID, DOC(ALLOW("'GetObject'", "'*'")), QR_E_BAD_INPUT,
     "must be prefaced by a vendor"},
    {"action with two colons", ID, DOC(ALLOW("'s3:Get:Object'", "'*'")), QR_E_BAD_INPUT,
     "only one colon"},
    {"action vendor with a wildcard", ID, DOC(ALLOW("'s*:GetObject'", "'*'")), QR_E_BAD_INPUT,
     "Vendor s* is not valid"},
    {"action not a string", ID, DOC(ALLOW("5", "'*'")), QR_E_BAD_INPUT, "Syntax errors in policy."},
    {"unknown condition operator", ID, COND("{'StringEqualz':{'aws:username':'a'}}"),
     QR_E_BAD_INPUT, "Invalid Condition type : StringEqualz"},
    {"NullIfExists", ID, COND("{'NullIfExists':{'aws:username':'true'}}"), QR_E_BAD_INPUT,
     "Invalid Condition type"},
    {"ForAnyValue without operator", ID, COND("{'ForAnyValue:':{'aws:username':'a'}}"),
     QR_E_BAD_INPUT, "Invalid Condition type"},
    {"condition key without vendor", ID, COND("{'StringEquals':{'username':'a'}}"), QR_E_BAD_INPUT,
     "must be prefaced by a vendor"},
    {"condition values not an object", ID, COND("{'StringEquals':'a'}"), QR_E_BAD_INPUT,
     "Syntax errors in policy."},
    {"condition value an object", ID, COND("{'StringEquals':{'aws:username':{'a':1}}}"),
     QR_E_BAD_INPUT, "Syntax errors in policy."},
    {"bad CIDR", ID, COND("{'IpAddress':{'aws:SourceIp':'300.1.1.1/8'}}"), QR_E_BAD_INPUT,
     "Invalid value 300.1.1.1/8 for condition IpAddress"},
    {"CIDR prefix too long", ID, COND("{'IpAddress':{'aws:SourceIp':'10.0.0.0/33'}}"),
     QR_E_BAD_INPUT, "Invalid value"},
    {"bad date", ID, COND("{'DateLessThan':{'aws:CurrentTime':'2026-02-30T00:00:00Z'}}"),
     QR_E_BAD_INPUT, "Invalid value 2026-02-30T00:00:00Z for condition DateLessThan"},
    {"bad number", ID, COND("{'NumericLessThan':{'s3:max-keys':'1e3'}}"), QR_E_BAD_INPUT,
     "Invalid value 1e3 for condition NumericLessThan"},
    {"bad Bool", ID, COND("{'Bool':{'aws:SecureTransport':'yes'}}"), QR_E_BAD_INPUT,
     "Invalid value yes for condition Bool"},
    {"bad Null", ID, COND("{'Null':{'aws:username':'maybe'}}"), QR_E_BAD_INPUT,
     "for condition Null"},
    {"variable in a Numeric value", ID, COND("{'NumericLessThan':{'s3:max-keys':'${aws:x}'}}"),
     QR_E_BAD_INPUT, "Invalid value ${aws:x} for condition NumericLessThan"},
    {"variable in a Date value", ID,
     COND("{'DateLessThan':{'aws:CurrentTime':'${aws:TokenIssueTime}'}}"), QR_E_BAD_INPUT,
     "for condition DateLessThan"},
    {"variable in an IpAddress value", ID, COND("{'IpAddress':{'aws:SourceIp':'${aws:x}'}}"),
     QR_E_BAD_INPUT, "for condition IpAddress"},
    {"invalid AWS principal", RS,
     DOC("{'Effect':'Allow','Principal':{'AWS':'alice'},'Action':'s3:*','Resource':'*'}"),
     QR_E_BAD_INPUT, "Invalid principal in policy: \"AWS\":\"alice\""},
    {"wildcard in principal ARN", RS,
     DOC("{'Effect':'Allow','Principal':{'AWS':'arn:aws:iam::111122223333:role/*'},"
         "'Action':'s3:*','Resource':'*'}"),
     QR_E_BAD_INPUT, "Invalid principal in policy"},
    {"unknown principal type", RS,
     DOC("{'Effect':'Allow','Principal':{'Foo':'x'},'Action':'s3:*','Resource':'*'}"),
     QR_E_BAD_INPUT, "Invalid principal in policy: \"Foo\""},
    {"principal string other than *", RS,
     DOC("{'Effect':'Allow','Principal':'" ALICE "','Action':'s3:*','Resource':'*'}"),
     QR_E_BAD_INPUT, "Invalid principal in policy"},
    {"Sid not alphanumeric (IAM)", ID,
     DOC("{'Sid':'my sid','Effect':'Allow','Action':'s3:*','Resource':'*'}"), QR_E_BAD_INPUT,
     "Statement IDs (SID) must be alpha-numeric"},
    {"duplicate Sid", ID,
     DOC("{'Sid':'A','Effect':'Allow','Action':'s3:*','Resource':'*'},"
         "{'Sid':'A','Effect':'Deny','Action':'s3:*','Resource':'*'}"),
     QR_E_BAD_INPUT, "must be unique"},
    {"NUL in a string", ID, DOC(ALLOW("'s3:Get\\u0000Object'", "'*'")), QR_E_BAD_INPUT,
     "Syntax errors in policy."},
};

static char *big_doc(size_t target)
{
    const char *head = "{\"Version\":\"2012-10-17\",\"Statement\":[";
    const char *stmt = "{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"},";
    char *d = malloc(target + 256);
    strcpy(d, head);
    size_t len = strlen(d);
    while (len < target) {
        strcpy(d + len, stmt);
        len += strlen(stmt);
    }
    strcpy(d + len, "{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}");
    return d;
}

static char *long_resource_doc(size_t n)
{
    char *d = malloc(n + 200);
    int k = sprintf(d, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\","
                       "\"Resource\":\"arn:aws:s3:::");
    size_t len = (size_t)k;
    for (size_t i = strlen("arn:aws:s3:::"); i < n; i++)
        d[len++] = i % 2 ? '*' : 'a';
    strcpy(d + len, "\"}}");
    return d;
}

static char *deep_doc(size_t depth)
{
    char *d = malloc(depth * 2 + 1);
    for (size_t i = 0; i < depth; i++) {
        d[i] = '[';
        d[depth * 2 - 1 - i] = ']';
    }
    d[depth * 2] = '\0';
    return d;
}

static void run_bad_case(void **state)
{
    const struct bad_case *c = *state;
    char *d;
    if (c->doc)
        d = doc_text(c->doc);
    else if (c->want == QR_E_TOO_LARGE)
        d = big_doc(131072);
    else if (strstr(c->why, "2048"))
        d = long_resource_doc(2049);
    else
        d = deep_doc(10000);
    char why[256];
    struct policy *p = (struct policy *)(uintptr_t)0x1; /* must stay untouched */
    enum qr_err e = policy_parse(qr_slice(d, strlen(d)), c->kind, &p, why, sizeof(why));
    if (e != c->want || !strstr(why, c->why))
        fail_msg("%s: got %s \"%s\", want %s \"%s\"", c->name, qr_errname(e), why,
                 qr_errname(c->want), c->why);
    assert_ptr_equal(p, (struct policy *)(uintptr_t)0x1);
    assert_null(strchr(why, '\n'));
    free(d);
}

/* ---- single tests ------------------------------------------------------------------- */

static void test_managed_documents_parse(void **state)
{
    (void)state;
    size_t n;
    const char *const *arns = policy_managed_list(&n);
    assert_true(n >= 7);
    for (size_t i = 0; i < n; i++) {
        const char *d = policy_managed_document(arns[i]);
        assert_non_null(d);
        char why[256];
        struct policy *p;
        if (policy_parse(qr_slice_cstr(d), POLICY_IDENTITY, &p, why, sizeof(why)) != QR_OK)
            fail_msg("%s: %s", arns[i], why);
        policy_free(p);
    }
    size_t n_all;
    const struct policy_managed *all = policy_managed_all(&n_all);
    assert_int_equal(n_all, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(all[i].arn, arns[i]);
        assert_ptr_equal(policy_managed_find(arns[i]), &all[i]);
        /* the ARN is arn:aws:iam::aws:policy + path + name */
        char want[256];
        snprintf(want, sizeof(want), "arn:aws:iam::aws:policy%s%s", all[i].path, all[i].name);
        assert_string_equal(all[i].arn, want);
        assert_true(all[i].version[0] == 'v' && strlen(all[i].created) == 20 &&
                    strlen(all[i].updated) == 20 && strcmp(all[i].created, all[i].updated) <= 0);
        assert_non_null(all[i].description);
    }
    assert_null(policy_managed_document("arn:aws:iam::aws:policy/NoSuchPolicy"));
    assert_null(policy_managed_find("arn:aws:iam::aws:policy/NoSuchPolicy"));
    assert_null(policy_managed_document(NULL));
}

static void test_managed_semantics(void **state)
{
    (void)state;
    struct policy *p;
    char why[128];
    const char *d =
        policy_managed_document("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole");
    assert_int_equal(policy_parse(qr_slice_cstr(d), POLICY_IDENTITY, &p, why, sizeof(why)), QR_OK);
    struct policy_request r = {.action = "logs:PutLogEvents",
                               .resource = "arn:aws:logs:us-east-1:1:log-group:g:log-stream:s",
                               .principal_arn = SESS,
                               .principal_role = ROLE,
                               .account = ACCT};
    assert_int_equal(policy_eval(p, &r, NULL), POLICY_ALLOW);
    r.action = "s3:GetObject";
    assert_int_equal(policy_eval(p, &r, NULL), POLICY_NO_MATCH);
    policy_free(p);
}

static enum policy_decision managed_decide(const char *arn, const char *action,
                                           const char *resource)
{
    struct policy *p;
    char why[128];
    const char *d = policy_managed_document(arn);
    assert_non_null(d);
    assert_int_equal(policy_parse(qr_slice_cstr(d), POLICY_IDENTITY, &p, why, sizeof(why)), QR_OK);
    const struct policy *ids[1] = {p};
    struct policy_set set = {.identity = ids, .n_identity = 1};
    struct policy_request r = {.action = action, .resource = resource, .principal_arn = ALICE,
                               .account = ACCT};
    struct policy_verdict v;
    policy_decide(&set, &r, &v);
    policy_free(p);
    return v.decision;
}

/* The managed policies an operator hands out, by their real documents. */
static void test_managed_grants(void **state)
{
    (void)state;
    const char *ro = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
    const char *full = "arn:aws:iam::aws:policy/AmazonS3FullAccess";
    const char *xfull = "arn:aws:iam::aws:policy/AmazonS3ExpressFullAccess";
    const char *lrole = "arn:aws:iam::aws:policy/service-role/AWSLambdaRole";
    const char *lfull = "arn:aws:iam::aws:policy/AWSLambda_FullAccess";
    const char *lexec = "arn:aws:iam::aws:policy/AWSLambdaExecute";
    assert_int_equal(managed_decide(ro, "s3:GetObject", OBJ), DA);
    assert_int_equal(managed_decide(ro, "s3:ListAllMyBuckets", "*"), DA);
    assert_int_equal(managed_decide(ro, "s3:PutObject", OBJ), DI);
    assert_int_equal(managed_decide(ro, "s3:DeleteObject", OBJ), DI);
    assert_int_equal(managed_decide(ro, "s3express:CreateSession", XB), DI);
    assert_int_equal(managed_decide(full, "s3:DeleteBucket", BKT), DA);
    assert_int_equal(managed_decide(full, "iam:CreateUser", "*"), DI);
    assert_int_equal(managed_decide(xfull, "s3express:CreateSession", XB), DA);
    assert_int_equal(managed_decide(xfull, "s3:GetObject", OBJ), DI);
    assert_int_equal(managed_decide(lrole, "lambda:InvokeFunction", FN), DA);
    assert_int_equal(managed_decide(lrole, "lambda:DeleteFunction", FN), DI);
    assert_int_equal(managed_decide(lfull, "lambda:DeleteFunction", FN), DA);
    assert_int_equal(managed_decide(lfull, "iam:PassRole", ROLE), DI); /* needs PassedToService */
    assert_int_equal(managed_decide(lexec, "s3:PutObject", OBJ), DA);
    assert_int_equal(managed_decide(lexec, "s3:DeleteObject", OBJ), DI);
}

static void test_context_keys(void **state)
{
    (void)state;
    struct policy *p = must_parse(
        DOC(ALLOWC("'s3:ListBucket'", "'arn:aws:s3:::b/${aws:username}/${*}'",
                   "{'StringLike':{'s3:prefix':'${aws:userid, `x`}/*','AWS:UserName':'a'},"
                   "'IpAddress':{'aws:SourceIp':'10.0.0.0/8'}}") ","
            ALLOWC("'s3:GetObject'", "'*'", "{'Null':{'aws:sourceip':'false'}}")),
        POLICY_IDENTITY);
    size_t n;
    const char *const *k = policy_context_keys(p, &n);
    assert_int_equal(n, 4);
    assert_string_equal(k[0], "aws:username");
    assert_string_equal(k[1], "s3:prefix");
    assert_string_equal(k[2], "aws:userid");
    assert_string_equal(k[3], "aws:SourceIp");
    policy_free(p);
    p = must_parse(DOC(ALLOW("'s3:*'", "'*'")), POLICY_IDENTITY);
    policy_context_keys(p, &n);
    assert_int_equal(n, 0);
    policy_free(p);
}

/* A reason quotes client text; cut anywhere it stays one line of valid UTF-8. */
static void test_why_is_utf8(void **state)
{
    (void)state;
    /* 300 x U+00E9 ("é", 2 bytes): %.200s cuts inside a character */
    char doc[1024] = "{\"Statement\":{\"Effect\":\"";
    size_t len = strlen(doc);
    for (int i = 0; i < 301; i++) {
        doc[len++] = (char)0xC3;
        doc[len++] = (char)0xA9;
    }
    strcpy(doc + len, "\",\"Action\":\"s3:*\",\"Resource\":\"*\"}}");
    for (size_t cap = 1; cap < 240; cap++) {
        char why[256];
        struct policy *p;
        assert_int_equal(policy_parse(qr_slice_cstr(doc), POLICY_IDENTITY, &p, why, cap),
                         QR_E_BAD_INPUT);
        for (size_t i = 0; why[i]; i++) {
            unsigned char ch = (unsigned char)why[i];
            assert_true(ch >= 0x20);
            if (ch >= 0x80) { /* every lead byte here is followed by its continuation */
                assert_int_equal(ch, 0xC3);
                assert_int_equal((unsigned char)why[i + 1], 0xA9);
                i++;
            }
        }
    }
}

static void test_why_is_cut(void **state)
{
    (void)state;
    char why[8];
    struct policy *p;
    char *d = doc_text(DOC("{'Effect':'Maybe','Action':'s3:*','Resource':'*'}"));
    assert_int_equal(policy_parse(qr_slice_cstr(d), POLICY_IDENTITY, &p, why, sizeof(why)),
                     QR_E_BAD_INPUT);
    assert_int_equal(strlen(why), 7);
    assert_int_equal(policy_parse(qr_slice_cstr(d), POLICY_IDENTITY, &p, NULL, 0), QR_E_BAD_INPUT);
    free(d);
}

static void test_match_reports_statement(void **state)
{
    (void)state;
    struct policy *p = must_parse(DOC("{'Sid':'One','Effect':'Allow','Action':'s3:List*','Resource':'*'},"
                                      "{'Sid':'Two','Effect':'Deny','Action':'s3:GetObject','Resource':'*'}"),
                                  POLICY_IDENTITY);
    struct built b;
    struct req_spec rs = GET(NULL);
    build_req(&rs, &b);
    struct policy_match m;
    assert_int_equal(policy_eval(p, &b.r, &m), POLICY_DENY);
    assert_int_equal(m.statement, 1);
    assert_string_equal(m.sid, "Two");
    policy_free(p);
}

/* A NULL among a key's values matches nothing and does not crash. */
static void test_null_value(void **state)
{
    (void)state;
    struct policy *p = must_parse(COND("{'StringLike':{'aws:TagKeys':'*'}}"), POLICY_IDENTITY);
    const char *vals[] = {NULL, "a"};
    struct policy_kv kv = {"aws:TagKeys", vals, 1};
    struct policy_request r = {.action = "s3:GetObject", .resource = OBJ, .principal_arn = ALICE,
                               .account = ACCT, .ctx = &kv, .n_ctx = 1};
    assert_int_equal(policy_eval(p, &r, NULL), POLICY_NO_MATCH);
    kv.n_values = 2;
    assert_int_equal(policy_eval(p, &r, NULL), POLICY_ALLOW);
    policy_free(p);
}

/* A value that only the whole buffer holds: substitution past POLICY_MAX_EXPAND fails
 * closed, never overflows. */
static void test_expansion_bounded(void **state)
{
    (void)state;
    struct policy *p = must_parse(DOC(ALLOW("'s3:GetObject'", "'arn:aws:s3:::b/${aws:username}${aws:username}'")),
                                  POLICY_IDENTITY);
    static char longname[3000], res[7000];
    memset(longname, 'a', sizeof(longname) - 1);
    snprintf(res, sizeof(res), "arn:aws:s3:::b/%s%s", longname, longname);
    const char *vals[] = {longname};
    struct policy_kv kv = {"aws:username", vals, 1};
    struct policy_request r = {.action = "s3:GetObject", .resource = res, .principal_arn = ALICE,
                               .account = ACCT, .ctx = &kv, .n_ctx = 1};
    assert_int_equal(policy_eval(p, &r, NULL), POLICY_NO_MATCH);
    policy_free(p);
}

/* ---- runner --------------------------------------------------------------------------- */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int main(void)
{
    size_t n = COUNT(eval_cases) + COUNT(decide_cases) + COUNT(bad_cases) + 9;
    struct CMUnitTest *t = calloc(n, sizeof(*t));
    size_t k = 0;
    for (size_t i = 0; i < COUNT(eval_cases); i++)
        t[k++] = (struct CMUnitTest){eval_cases[i].name, run_eval_case, NULL, NULL,
                                     (void *)(uintptr_t)&eval_cases[i]};
    for (size_t i = 0; i < COUNT(decide_cases); i++)
        t[k++] = (struct CMUnitTest){decide_cases[i].name, run_decide_case, NULL, NULL,
                                     (void *)(uintptr_t)&decide_cases[i]};
    for (size_t i = 0; i < COUNT(bad_cases); i++)
        t[k++] = (struct CMUnitTest){bad_cases[i].name, run_bad_case, NULL, NULL,
                                     (void *)(uintptr_t)&bad_cases[i]};
    t[k++] = (struct CMUnitTest){"managed documents parse", test_managed_documents_parse, NULL,
                                 NULL, NULL};
    t[k++] = (struct CMUnitTest){"managed semantics", test_managed_semantics, NULL, NULL, NULL};
    t[k++] = (struct CMUnitTest){"why is cut", test_why_is_cut, NULL, NULL, NULL};
    t[k++] = (struct CMUnitTest){"managed grants", test_managed_grants, NULL, NULL, NULL};
    t[k++] = (struct CMUnitTest){"context keys", test_context_keys, NULL, NULL, NULL};
    t[k++] = (struct CMUnitTest){"why is UTF-8", test_why_is_utf8, NULL, NULL, NULL};
    t[k++] = (struct CMUnitTest){"NULL value", test_null_value, NULL, NULL, NULL};
    t[k++] = (struct CMUnitTest){"match reports statement", test_match_reports_statement, NULL,
                                 NULL, NULL};
    t[k++] = (struct CMUnitTest){"expansion bounded", test_expansion_bounded, NULL, NULL, NULL};
    int rc = _cmocka_run_group_tests("policy", t, k, NULL, NULL);
    free(t);
    return rc;
}
