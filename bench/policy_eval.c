/*
 * policy_eval.c - ns per authorization decision (policy_decide, auth/policy.h): what the
 * IAM issue asks to stay near zero on the hot path. A non-root user holds a ten-statement
 * identity policy (wildcards, a policy variable, conditions of several operators) and the
 * bucket has a three-statement bucket policy (TLS-only deny, a prefix deny, a grant to a
 * role); the baseline is root against the same bucket policy, measured in the same run.
 *
 *   policy_eval [ITERATIONS [SCENARIO]]   (default 1000000 per round, 7 rounds)
 *
 * Prints, per scenario, the median ns per call over the rounds and the ratio to the root
 * baseline. With SCENARIO (an index), runs only that one, so that
 * `valgrind --tool=callgrind` can count its instructions per call, a figure a busy
 * machine does not move (bench/policy-eval --instructions does that). Built and run by
 * bench/policy-eval against $BUILD/libqcore.a.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/policy.h"

#define ROUNDS 7

static const char identity_doc[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":["
    "{\"Sid\":\"List\",\"Effect\":\"Allow\",\"Action\":[\"s3:ListAllMyBuckets\","
    "\"s3:GetBucketLocation\"],\"Resource\":\"arn:aws:s3:::*\"},"
    "{\"Sid\":\"Home\",\"Effect\":\"Allow\",\"Action\":\"s3:ListBucket\",\"Resource\":"
    "\"arn:aws:s3:::data\",\"Condition\":{\"StringLike\":{\"s3:prefix\":[\"\",\"home/\","
    "\"home/${aws:username}/*\"]}}},"
    "{\"Sid\":\"Own\",\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":"
    "\"arn:aws:s3:::data/home/${aws:username}/*\"},"
    "{\"Sid\":\"Logs\",\"Effect\":\"Allow\",\"Action\":[\"logs:CreateLogGroup\","
    "\"logs:CreateLogStream\",\"logs:PutLogEvents\"],\"Resource\":\"*\"},"
    "{\"Sid\":\"Invoke\",\"Effect\":\"Allow\",\"Action\":\"lambda:InvokeFunction\",\"Resource\":"
    "[\"arn:aws:lambda:*:111122223333:function:team-*\","
    "\"arn:aws:lambda:*:111122223333:function:team-*:*\"]},"
    "{\"Sid\":\"Net\",\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
    "{\"NotIpAddress\":{\"aws:SourceIp\":[\"10.0.0.0/8\",\"127.0.0.0/8\",\"::1/128\"]}}},"
    "{\"Sid\":\"Hours\",\"Effect\":\"Deny\",\"Action\":\"s3:Delete*\",\"Resource\":\"*\","
    "\"Condition\":{\"DateGreaterThan\":{\"aws:CurrentTime\":\"2030-01-01T00:00:00Z\"}}},"
    "{\"Sid\":\"Read\",\"Effect\":\"Allow\",\"Action\":[\"s3:Get*\",\"s3:List*\"],\"Resource\":"
    "[\"arn:aws:s3:::shared\",\"arn:aws:s3:::shared/*\",\"arn:aws:s3:::bench\","
    "\"arn:aws:s3:::bench/*\"]},"
    "{\"Sid\":\"Keys\",\"Effect\":\"Deny\",\"Action\":\"s3:ListBucket\",\"Resource\":\"*\","
    "\"Condition\":{\"NumericGreaterThan\":{\"s3:max-keys\":\"1000\"}}},"
    "{\"Sid\":\"NoIam\",\"Effect\":\"Deny\",\"NotAction\":[\"s3:*\",\"logs:*\",\"lambda:*\","
    "\"sts:GetCallerIdentity\"],\"Resource\":\"*\"}]}";

static const char bucket_doc[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":["
    "{\"Sid\":\"TLS\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:*\",\"Resource\":"
    "[\"arn:aws:s3:::bench\",\"arn:aws:s3:::bench/*\"],\"Condition\":{\"Bool\":"
    "{\"aws:SecureTransport\":\"false\"}}},"
    "{\"Sid\":\"Private\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:*\","
    "\"Resource\":\"arn:aws:s3:::bench/private/*\"},"
    "{\"Sid\":\"Role\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
    "\"arn:aws:iam::111122223333:role/loader\"},\"Action\":\"s3:PutObject\",\"Resource\":"
    "\"arn:aws:s3:::bench/*\"}]}";

static struct policy *parse(const char *doc, enum policy_kind kind)
{
    struct policy *p;
    char why[256];
    if (policy_parse(qr_slice_cstr(doc), kind, &p, why, sizeof(why)) != QR_OK) {
        fprintf(stderr, "policy: %s\n", why);
        exit(1);
    }
    return p;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct scenario {
    const char *name;
    const struct policy_set *set;
    const struct policy_request *req;
    enum policy_decision want;
};

/* ns per call of one round of iters calls */
static double round_ns(const struct scenario *s, long iters)
{
    struct policy_verdict v;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        policy_decide(s->set, s->req, &v);
        __asm__ volatile("" : : "r"(&v) : "memory"); /* keep the call */
    }
    double ns = (now_ns() - t0) / (double)iters;
    if (v.decision != s->want) {
        fprintf(stderr, "%s: decision %d, expected %d\n", s->name, v.decision, s->want);
        exit(1);
    }
    return ns;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 1000000;
    if (iters <= 0)
        iters = 1000000;
    struct policy *id = parse(identity_doc, POLICY_IDENTITY);
    struct policy *bp = parse(bucket_doc, POLICY_RESOURCE);
    const struct policy *ids[1] = {id};
    struct policy_set user = {.identity = ids, .n_identity = 1, .resource = bp};
    struct policy_set root = {.resource = bp, .is_root = true};

    static const char *const v_user[] = {"alice"}, *const v_ip[] = {"127.0.0.1"},
                             *const v_tls[] = {"false"}, *const v_time[] = {"2026-12-07T18:00:00Z"};
    const struct policy_kv ctx[] = {
        {"aws:username", v_user, 1},
        {"aws:SourceIp", v_ip, 1},
        {"aws:SecureTransport", v_tls, 1},
        {"aws:CurrentTime", v_time, 1},
    };
    struct policy_request get = {.action = "s3:GetObject",
                                 .resource = "arn:aws:s3:::bench/obj-000042",
                                 .principal_arn = "arn:aws:iam::111122223333:user/alice",
                                 .account = "111122223333",
                                 .ctx = ctx,
                                 .n_ctx = 4};
    struct policy_request get_root = get;
    get_root.principal_arn = "arn:aws:iam::111122223333:root";
    /* TLS on: the bucket policy's first deny must not apply */
    static const char *const v_tls_on[] = {"true"};
    struct policy_kv ctx_tls[4];
    memcpy(ctx_tls, ctx, sizeof(ctx));
    ctx_tls[2].values = v_tls_on;
    struct policy_request get_tls = get;
    get_tls.ctx = ctx_tls;
    struct policy_request get_root_tls = get_root;
    get_root_tls.ctx = ctx_tls;
    struct policy_request home = get_tls;
    home.resource = "arn:aws:s3:::data/home/alice/notes.txt";
    home.action = "s3:PutObject";
    struct policy_request denied = get_tls;
    denied.action = "iam:CreateUser";
    denied.resource = "arn:aws:iam::111122223333:user/x";
    struct policy_request invoke = get_tls;
    invoke.action = "lambda:InvokeFunction";
    invoke.resource = "arn:aws:lambda:us-east-1:111122223333:function:team-resize";

    const struct scenario sc[] = {
        {"root GET (baseline)", &root, &get_root_tls, POLICY_DECISION_ALLOW},
        {"user GET bench/obj (allowed)", &user, &get_tls, POLICY_DECISION_ALLOW},
        {"user PUT home/${aws:username}/", &user, &home, POLICY_DECISION_ALLOW},
        {"user Invoke team-* (allowed)", &user, &invoke, POLICY_DECISION_ALLOW},
        {"user iam:CreateUser (explicit deny)", &user, &denied, POLICY_DECISION_EXPLICIT_DENY},
        {"user GET over plain HTTP (bucket deny)", &user, &get, POLICY_DECISION_EXPLICIT_DENY},
    };
    /* rounds interleave the scenarios, so that a busy machine slows them alike */
    enum { N_SC = sizeof(sc) / sizeof(sc[0]) };
    double r[N_SC][ROUNDS];
    if (argc > 2) {
        size_t only = (size_t)atol(argv[2]);
        if (only >= N_SC)
            return 2;
        for (int k = 0; k < ROUNDS; k++)
            (void)round_ns(&sc[only], iters); /* ns are meaningless under valgrind */
        printf("%s\n", sc[only].name);
        policy_free(id);
        policy_free(bp);
        return 0;
    }
    for (int k = 0; k < ROUNDS; k++)
        for (size_t i = 0; i < N_SC; i++)
            r[i][k] = round_ns(&sc[i], iters);
    printf("policy_decide, %ld calls x %d rounds, median ns/call\n", iters, ROUNDS);
    double base = 0;
    for (size_t i = 0; i < N_SC; i++) {
        qsort(r[i], ROUNDS, sizeof(r[i][0]), cmp_d);
        double ns = r[i][ROUNDS / 2];
        if (i == 0)
            base = ns;
        printf("  %-42s %8.1f ns  (x%.2f of root)\n", sc[i].name, ns, ns / base);
    }
    policy_free(id);
    policy_free(bp);
    return 0;
}
