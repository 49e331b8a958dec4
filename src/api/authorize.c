/*
 * authorize.c - api_authorize: the request's global condition keys (aws:username,
 * aws:userid, aws:PrincipalArn, aws:PrincipalAccount, aws:SourceIp, aws:SecureTransport,
 * aws:CurrentTime, aws:EpochTime, aws:RequestedRegion) joined with the operation's own,
 * the principal resolved in the snapshot current when the request is decided, and the
 * decision recorded for the access log.
 */
#include "api/authorize.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/codec.h"

/* the global keys, an operation's own, and an S3 Control request's job keys and tags: a
 * key past the end would be dropped, so the bound is above what any request brings */
#define MAX_CTX (16 + AUTHZ_JOB_KEYS)

struct ctx_vals {
    struct policy_kv kv[MAX_CTX];
    const char *vals[MAX_CTX];
    size_t n;
};

static void put(struct ctx_vals *c, const char *key, const char *v)
{
    if (c->n == MAX_CTX || !v)
        return;
    c->vals[c->n] = v;
    c->kv[c->n] = (struct policy_kv){key, &c->vals[c->n], 1};
    c->n++;
}

static void source_ip(struct api_req *ar, char *out, size_t cap)
{
    struct sockaddr_storage sa;
    out[0] = '\0';
    socklen_t len = ar->req->conn->callbacks->get_peername(ar->req->conn, (struct sockaddr *)&sa);
    if (len == 0)
        return;
    if (sa.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, out, (socklen_t)cap);
    else if (sa.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, out, (socklen_t)cap);
}

void api_principal(struct api_req *ar, struct auth_principal *out)
{
    const struct authz_snap *s = authz_acquire(ar->server->authz);
    authz_principal(s, &ar->id, ar->server->cfg.account_id, out);
    out->identity = NULL; /* borrowed from s, which is released now */
    out->n_identity = 0;
    out->session_cache = NULL; /* so is this: such a principal is never decided on */
    authz_release(s);
}

bool api_authorize(struct api_req *ar, const struct api_authz *q, char *msg, size_t cap)
{
    h2o_mem_pool_t *pool = &ar->req->pool;
    struct auth_principal *p = qr_xmalloc(sizeof(*p)); /* per call: DeleteObjects decides 1000 */
    const struct authz_snap *s = authz_acquire(ar->server->authz);
    authz_principal(s, &ar->id, ar->server->cfg.account_id, p);

    struct ctx_vals c = {.n = 0};
    char ip[64], now[32], epoch[24];
    source_ip(ar, ip, sizeof(ip));
    int64_t ms = api_now_ms();
    authz_note_use(ar->server->authz, &ar->id, ar->auth.service, ar->auth.region, ms);
    qr_time_iso8601(ms, now);
    snprintf(epoch, sizeof(epoch), "%lld", (long long)(ms / 1000));
    if (p->user_name[0])
        put(&c, "aws:username", p->user_name);
    put(&c, "aws:userid", p->unique_id);
    put(&c, "aws:PrincipalArn", p->role_arn[0] ? p->role_arn : p->arn);
    put(&c, "aws:PrincipalAccount", p->account);
    put(&c, "aws:SourceIp", ip[0] ? ip : NULL);
    put(&c, "aws:SecureTransport", "false");
    put(&c, "aws:CurrentTime", now);
    put(&c, "aws:EpochTime", epoch);
    put(&c, "aws:RequestedRegion", ar->server->cfg.region);
    for (size_t i = 0; i < q->n_ctx && c.n < MAX_CTX; i++)
        c.kv[c.n++] = q->ctx[i];

    struct authz_check chk = {
        .action = q->action,
        .resource = q->resource,
        .resource_policy = q->policy_bucket.len ? authz_bucket_policy(s, q->policy_bucket)
                           : q->policy_function ? authz_function_policy(s, q->policy_function)
                                                : NULL,
        .ctx = c.kv,
        .n_ctx = c.n,
    };
    struct policy_verdict v;
    authz_decide(p, &chk, &v);
    bool ok = v.decision == POLICY_DECISION_ALLOW;
    if (!ar->principal_arn || strcmp(ar->principal_arn, p->arn) != 0)
        ar->principal_arn = h2o_strdup(pool, p->arn, SIZE_MAX).base;
    if (!ar->az_action || strcmp(ar->az_action, q->action) != 0)
        ar->az_action = h2o_strdup(pool, q->action, SIZE_MAX).base;
    ar->az_decision = ok ? 'A' : v.decision == POLICY_DECISION_EXPLICIT_DENY ? 'D' : 'I';
    if (!ok)
        authz_deny_message(p, &chk, &v, msg, cap);
    authz_release(s);
    free(p);
    return ok;
}

void api_resource_arn(const struct api_req *ar, enum authz_res res, bool directory,
                      struct qr_slice bucket, struct qr_slice key, const char *function, char *buf,
                      size_t cap)
{
    const struct qr_config *cfg = &ar->server->cfg;
    int b = (int)(bucket.len > 255 ? 255 : bucket.len);
    switch (res) {
    case AUTHZ_RES_BUCKET:
        if (directory)
            snprintf(buf, cap, "arn:aws:s3express:%s:%s:bucket/%.*s", cfg->region, cfg->account_id,
                     b, (const char *)bucket.p);
        else
            snprintf(buf, cap, "arn:aws:s3:::%.*s", b, (const char *)bucket.p);
        return;
    case AUTHZ_RES_OBJECT:
        snprintf(buf, cap, "arn:aws:s3:::%.*s/%.*s", b, (const char *)bucket.p,
                 (int)(key.len > 1100 ? 1100 : key.len), (const char *)key.p);
        return;
    case AUTHZ_RES_FUNCTION:
        snprintf(buf, cap, "arn:aws:lambda:%s:%s:function:%s", cfg->region, cfg->account_id,
                 function ? function : "*");
        return;
    case AUTHZ_RES_LOG_GROUP:
        snprintf(buf, cap, "arn:aws:logs:%s:%s:log-group:*", cfg->region, cfg->account_id);
        return;
    case AUTHZ_RES_NONE:
    case AUTHZ_RES_IAM:
    case AUTHZ_RES_JOB: /* the S3 Control API builds it (it has the job id) */
        break;
    }
    snprintf(buf, cap, "*");
}
