/*
 * batch_authz.c - what deciding a batch task as the job's role costs: ns per
 * batch_authorize_task for a copy task (source read + destination write: two decisions)
 * and a LambdaInvoke task (one), next to one bare authz_decide of the same principal, and
 * the per-window refresh (one snapshot pointer compare). The role carries the walkthrough
 * job's three-statement policy; the buckets have no policy.
 *   bench/batch-authz [ITERATIONS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch/batch_int.h"
#include "store/store_iam.h"

#define ACCT "123456789012"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void put(struct store *st, const char *kind, const char *parent, const char *name,
                const char *doc)
{
    struct store_iam_op op = {STORE_IAM_UPSERT, kind, qr_slice_cstr(parent), qr_slice_cstr(name),
                              qr_slice_cstr(doc)};
    if (store_iam_change(st, &op, 1, NULL) != QR_OK)
        abort();
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    char dir[] = "/tmp/quarry-batch-authz-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    struct store_opts so = {.dir = dir, .no_fsync = true};
    struct store *st;
    struct store_reader *r;
    struct authz *a;
    if (store_open(&so, &st) || store_reader_new(st, &r) || authz_new(ACCT, &a))
        return 1;
    put(st, "role", "", "batch-ops", "{\"id\":\"AROABATCH\",\"path\":\"/\",\"max\":3600}");
    put(st, "inline", "role:batch-ops", "p",
        "{\"Version\":\"2012-10-17\",\"Statement\":["
        "{\"Effect\":\"Allow\",\"Action\":\"lambda:InvokeFunction\",\"Resource\":"
        "\"arn:aws:lambda:us-east-1:" ACCT ":function:s3batchops-function*\"},"
        "{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\",\"s3:GetObjectVersion\"],"
        "\"Resource\":\"arn:aws:s3:::src/*\"},"
        "{\"Effect\":\"Allow\",\"Action\":\"s3:PutObject\",\"Resource\":\"arn:aws:s3:::dst/*\"}]}");
    if (authz_reload(a, r))
        return 1;
    struct batch_engine e;
    memset(&e, 0, sizeof(e));
    e.o.authz = a;
    snprintf(e.account_id, sizeof(e.account_id), ACCT);
    snprintf(e.region, sizeof(e.region), "us-east-1");
    struct batch_role *role = malloc(sizeof(*role));
    batch_role_open(role, &e, "job-1", "arn:aws:iam::" ACCT ":role/batch-ops");
    struct batch_def *d = calloc(1, sizeof(*d));
    struct batch_task *t = calloc(1, sizeof(*t));
    snprintf(t->bucket, sizeof(t->bucket), "src");
    snprintf(t->key, sizeof(t->key), "photos/2026/12/07/some-object-key-%06d.jpg", 42);
    t->key_len = strlen(t->key);
    char msg[BATCH_MSG_MAX + 1];
    long allowed = 0;

    struct authz_check c = {"s3:GetObject", "arn:aws:s3:::src/photos/2026/12/07/k.jpg", NULL,
                            role->kv, role->n_kv};
    struct policy_verdict v;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        authz_decide(&role->p, &c, &v);
        allowed += v.decision == POLICY_DECISION_ALLOW;
    }
    double bare = (now_ns() - t0) / (double)n;

    d->op = BATCH_OP_COPY;
    snprintf(d->target_resource, sizeof(d->target_resource), "arn:aws:s3:::dst");
    snprintf(d->target_prefix, sizeof(d->target_prefix), "copied/");
    t0 = now_ns();
    for (long i = 0; i < n; i++)
        allowed += batch_authorize_task(role, d, t, msg, sizeof(msg));
    double copy = (now_ns() - t0) / (double)n;

    d->op = BATCH_OP_LAMBDA;
    snprintf(d->function_arn, sizeof(d->function_arn),
             "arn:aws:lambda:us-east-1:" ACCT ":function:s3batchops-function");
    t0 = now_ns();
    for (long i = 0; i < n; i++)
        allowed += batch_authorize_task(role, d, t, msg, sizeof(msg));
    double lam = (now_ns() - t0) / (double)n;

    t0 = now_ns();
    for (long i = 0; i < n / 100; i++)
        batch_role_refresh(role);
    double refresh = (now_ns() - t0) / (double)(n / 100);

    printf("one authz_decide (s3:GetObject, the role's policy)   %7.0f ns\n", bare);
    printf("copy task (read source + write destination)          %7.0f ns = %.1f decisions\n",
           copy, copy / bare);
    printf("LambdaInvoke task (lambda:InvokeFunction)            %7.0f ns = %.1f decisions\n",
           lam, lam / bare);
    printf("per-window refresh (IAM unchanged)                   %7.0f ns\n", refresh);
    if (allowed != 3 * n) {
        fprintf(stderr, "unexpected denials: %ld of %ld\n", 3 * n - allowed, 3 * n);
        return 1;
    }
    batch_role_close(role);
    free(role);
    free(d);
    free(t);
    authz_free(a);
    store_reader_free(r);
    store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
