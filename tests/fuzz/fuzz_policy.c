/*
 * fuzz_policy.c - libFuzzer harness for policy_parse and policy_eval (auth/policy.h): the
 * IAM API and PutBucketPolicy hand it documents straight from clients, and the request
 * side (resource ARNs, condition values such as s3:prefix) is client bytes too.
 * Input: a policy document, then optionally a NUL byte and newline-separated request
 * fields (action, resource, principal ARN, then key=value context pairs). Each kind of
 * document is tried; a parsed one is evaluated against the fuzzed request and a fixed
 * one, and through policy_decide. Besides memory safety it checks the contract: a refusal
 * comes with a one-line reason of valid UTF-8 and leaves *out untouched.
 * Build: see tests/fuzz/Makefile (fuzz_policy_SRC).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 12

struct fuzz_req {
    char *buf;
    const char *field[MAX_FIELDS];
    size_t n;
    struct policy_kv kv[MAX_FIELDS];
    const char *vals[MAX_FIELDS];
    struct policy_request r;
};

static void req_from(const uint8_t *p, size_t len, struct fuzz_req *q)
{
    memset(q, 0, sizeof(*q));
    q->buf = malloc(len + 1);
    memcpy(q->buf, p, len);
    q->buf[len] = '\0';
    char *s = q->buf;
    while (q->n < MAX_FIELDS) {
        q->field[q->n++] = s;
        char *nl = memchr(s, '\n', strlen(s));
        if (!nl)
            break;
        *nl = '\0';
        s = nl + 1;
    }
    q->r.action = q->n > 0 ? q->field[0] : "s3:GetObject";
    q->r.resource = q->n > 1 ? q->field[1] : "*";
    q->r.principal_arn = q->n > 2 ? q->field[2] : NULL;
    q->r.principal_role = "arn:aws:iam::111122223333:role/r";
    q->r.account = "111122223333";
    q->r.service = "lambda.amazonaws.com";
    for (size_t i = 3; i < q->n; i++) {
        char *eq = strchr(q->field[i], '=');
        struct policy_kv *kv = &q->kv[q->r.n_ctx++];
        kv->key = q->field[i];
        kv->values = &q->vals[i];
        if (eq) {
            *eq = '\0';
            q->vals[i] = eq + 1;
            kv->n_values = 1;
        }
    }
    q->r.ctx = q->kv;
}

/* The reason is one line of valid UTF-8 (it goes into an XML error message). */
static int why_ok(const char *why)
{
    const unsigned char *q = (const unsigned char *)why;
    if (!*q)
        return 0;
    while (*q) {
        size_t n = *q < 0x80             ? 1
                   : (*q & 0xE0) == 0xC0 ? 2
                   : (*q & 0xF0) == 0xE0 ? 3
                   : (*q & 0xF8) == 0xF0 ? 4
                                         : 0;
        if (n == 0 || *q < 0x20)
            return 0;
        for (size_t i = 1; i < n; i++)
            if ((q[i] & 0xC0) != 0x80)
                return 0;
        q += n;
    }
    return 1;
}

static void check(const struct policy *p, const struct policy_request *r)
{
    struct policy_match m;
    enum policy_effect e = policy_eval(p, r, &m);
    if (e != POLICY_NO_MATCH && m.policy != p)
        abort();
    const struct policy *ids[1] = {p};
    struct policy_set s = {
        .identity = ids, .n_identity = 1, .resource = p, .session = ids, .n_session = 1};
    struct policy_verdict v;
    policy_decide(&s, r, &v);
    if (e == POLICY_DENY && v.decision != POLICY_DECISION_EXPLICIT_DENY)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t doc_len = nul ? (size_t)(nul - data) : size;
    struct fuzz_req q;
    req_from(nul ? nul + 1 : data + size, nul ? size - doc_len - 1 : 0, &q);
    static const char *const fixed_vals[] = {"home/alice/x", "192.0.2.1", "2026-01-01T00:00:00Z"};
    struct policy_kv fixed_kv[] = {
        {"s3:prefix", &fixed_vals[0], 1},
        {"aws:SourceIp", &fixed_vals[1], 1},
        {"aws:CurrentTime", &fixed_vals[2], 1},
    };
    struct policy_request fixed = {.action = "s3:GetObject",
                                   .resource = "arn:aws:s3:::bkt/home/alice/x",
                                   .principal_arn = "arn:aws:iam::111122223333:user/alice",
                                   .account = "111122223333",
                                   .ctx = fixed_kv,
                                   .n_ctx = 3};
    for (int kind = POLICY_IDENTITY; kind <= POLICY_TRUST; kind++) {
        struct policy *p = (struct policy *)(uintptr_t)0x1;
        char why[128];
        enum qr_err e =
            policy_parse(qr_slice(data, doc_len), (enum policy_kind)kind, &p, why, sizeof(why));
        if (e != QR_OK) {
            if (p != (struct policy *)(uintptr_t)0x1 || !why_ok(why) ||
                (e != QR_E_BAD_INPUT && e != QR_E_TOO_LARGE))
                abort();
            continue;
        }
        size_t nk;
        const char *const *keys = policy_context_keys(p, &nk);
        for (size_t i = 0; i < nk; i++)
            if (!keys[i] || !keys[i][0])
                abort();
        check(p, &q.r);
        check(p, &fixed);
        policy_free(p);
    }
    free(q.buf);
    return 0;
}
