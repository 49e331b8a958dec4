/*
 * session_policy.c - what a session policy costs a request: ns per authz_decide for a
 * role session without a session policy (baseline) and with a ten-statement one (the
 * bench/policy_eval.c identity document, passed to AssumeRole as Policy), next to ns per
 * policy_parse of that document (what each such request paid when session policies were
 * parsed per request), and the number of compilations the decisions caused.
 *
 *   session_policy [ITERATIONS]   (default 200000 per round, 7 rounds; median printed)
 *
 * Built and run by bench/session-policy against $BUILD/libqcore.a.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/authz.h"

#define ROUNDS 7

/* ten statements, as bench/policy_eval.c's identity policy */
static const char session_doc[] =
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
    "[\"arn:aws:lambda:*:123456789012:function:team-*\"]},"
    "{\"Sid\":\"Net\",\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":"
    "{\"NotIpAddress\":{\"aws:SourceIp\":[\"10.0.0.0/8\",\"127.0.0.0/8\",\"::1/128\"]}}},"
    "{\"Sid\":\"Hours\",\"Effect\":\"Deny\",\"Action\":\"s3:Delete*\",\"Resource\":\"*\","
    "\"Condition\":{\"DateGreaterThan\":{\"aws:CurrentTime\":\"2030-01-01T00:00:00Z\"}}},"
    "{\"Sid\":\"Read\",\"Effect\":\"Allow\",\"Action\":[\"s3:Get*\",\"s3:List*\"],\"Resource\":"
    "[\"arn:aws:s3:::bench\",\"arn:aws:s3:::bench/*\"]},"
    "{\"Sid\":\"Keys\",\"Effect\":\"Deny\",\"Action\":\"s3:ListBucket\",\"Resource\":\"*\","
    "\"Condition\":{\"NumericGreaterThan\":{\"s3:max-keys\":\"1000\"}}},"
    "{\"Sid\":\"NoIam\",\"Effect\":\"Deny\",\"NotAction\":[\"s3:*\",\"logs:*\",\"lambda:*\"],"
    "\"Resource\":\"*\"}]}";

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

static double decide_ns(const struct authz_snap *s, const struct creds_identity *id, long iters)
{
    static const char *const v_ip[] = {"127.0.0.1"};
    const struct policy_kv ctx[] = {{"aws:SourceIp", v_ip, 1}};
    struct authz_check c = {"s3:GetObject", "arn:aws:s3:::bench/obj-000042", NULL, ctx, 1};
    struct auth_principal *p = malloc(sizeof(*p));
    struct policy_verdict v;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        authz_principal(s, id, "123456789012", p); /* per request, as api_authorize does */
        authz_decide(p, &c, &v);
        __asm__ volatile("" : : "r"(&v) : "memory");
    }
    double ns = (now_ns() - t0) / (double)iters;
    free(p);
    return ns;
}

static double parse_ns(long iters)
{
    char why[128];
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        struct policy *p;
        if (policy_parse(qr_slice_cstr(session_doc), POLICY_IDENTITY, &p, why, sizeof(why)) !=
            QR_OK) {
            fprintf(stderr, "session policy: %s\n", why);
            exit(1);
        }
        policy_free(p);
    }
    return (now_ns() - t0) / (double)iters;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 200000;
    if (iters <= 0)
        iters = 200000;
    struct authz *a;
    if (authz_new("123456789012", &a) != QR_OK)
        return 1;
    const struct authz_snap *s = authz_acquire(a);
    struct creds_identity *plain = calloc(1, sizeof(*plain)), *narrowed;
    plain->kind = CREDS_ROLE_SESSION;
    strcpy(plain->principal, "arn:aws:iam::123456789012:role/bench");
    strcpy(plain->session_name, "bench");
    narrowed = malloc(sizeof(*narrowed));
    memcpy(narrowed, plain, sizeof(*plain));
    snprintf(narrowed->policy, sizeof(narrowed->policy), "%s", session_doc);

    double r[3][ROUNDS];
    uint64_t c0 = authz_session_compiles();
    for (int k = 0; k < ROUNDS; k++) {
        r[0][k] = decide_ns(s, plain, iters);
        r[1][k] = decide_ns(s, narrowed, iters);
        r[2][k] = parse_ns(iters / 10 ? iters / 10 : 1);
    }
    uint64_t compiled = authz_session_compiles() - c0;
    static const char *const names[] = {"role session, no session policy",
                                        "role session, 10-statement session policy",
                                        "policy_parse of that policy (old per-request cost)"};
    printf("authz_principal + authz_decide, %ld calls x %d rounds, median ns/call\n", iters,
           ROUNDS);
    for (int i = 0; i < 3; i++) {
        qsort(r[i], ROUNDS, sizeof(r[i][0]), cmp_d);
        printf("  %-52s %9.1f ns\n", names[i], r[i][ROUNDS / 2]);
    }
    printf("  session policy compilations for %ld decisions: %llu\n", iters * ROUNDS,
           (unsigned long long)compiled);
    free(plain);
    free(narrowed);
    authz_release(s);
    authz_free(a);
    return compiled == 1 ? 0 : 1;
}
