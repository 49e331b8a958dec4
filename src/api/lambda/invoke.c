/*
 * invoke.c - Invoke (RequestResponse, Event, DryRun) and the dedupe table of retried
 * synchronous invokes.
 *
 * RequestResponse: the function is resolved on the loop (index lookups), handed to the
 * engine with fn_invoke, and the engine's callback (engine thread) copies the result
 * into the op and returns it to the loop with server_job_return. Event: the payload is
 * queued durably on a worker (store write) and answered 202; event.c runs it. DryRun:
 * 204 once the function resolves.
 *
 * Dedupe: SDKs retry a timed-out or failed Invoke with the same amz-sdk-invocation-id.
 * The key (caller's access key id, function + qualifier, invocation id) maps to an entry
 * that is either running (a retry waits for the first run's result instead of running
 * again) or done (its result is replayed for DEDUPE_TTL_MS). Throttles and service
 * errors are not kept: retrying those should run. Bounded by DEDUPE_MAX entries and
 * DEDUPE_MAX_BYTES of payload; only done entries are evicted, oldest first.
 *
 * Status choices (reference 1.6): a function error, an init failure (the body the runtime
 * posted to /runtime/init/error) and a response over 6 MB are all 200 with
 * X-Amz-Function-Error: Unhandled (the last with errorType Function.ResponseSizeTooLarge);
 * a throttle is 429; an engine that cannot start the function is 500 ServiceException.
 */
#include "api/lambda/lambda_int.h"

#include "fn/fn_resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fn/code.h"
#include "util/checksum.h"
#include "util/codec.h"

#define DEDUPE_MAX       1024u
#define DEDUPE_MAX_BYTES (64u * 1024u * 1024u)
#define DEDUPE_TTL_MS    (15 * 60 * 1000)
#define DEDUPE_KEY_MAX   512u

struct lambda_dedupe_entry {
    char key[DEDUPE_KEY_MAX];
    bool done; /* res is final */
    int64_t done_ms;
    struct lambda_inv_result res; /* heap copies (when done) */
    char executed_version[16];
    struct lambda_op *waiters;               /* retries waiting for the first run */
    struct lambda_dedupe_entry *prev, *next; /* list, oldest first */
};

struct lambda_dedupe {
    pthread_mutex_t mu; /* guards everything below and entries' fields */
    struct lambda_dedupe_entry *head, *tail;
    size_t n;
    size_t bytes; /* payload + log bytes held by done entries */
};

enum qr_err lambda_dedupe_new(struct lambda_dedupe **out)
{
    struct lambda_dedupe *d = qr_xmalloc(sizeof(*d));
    memset(d, 0, sizeof(*d));
    pthread_mutex_init(&d->mu, NULL);
    *out = d;
    return QR_OK;
}

static void res_dispose(struct lambda_inv_result *r)
{
    free(r->payload);
    free(r->log_tail);
    r->payload = NULL;
    r->log_tail = NULL;
}

static void res_copy(struct lambda_inv_result *dst, const struct lambda_inv_result *src)
{
    *dst = *src;
    dst->payload = NULL;
    dst->log_tail = NULL;
    if (src->payload_len) {
        dst->payload = qr_xmalloc(src->payload_len);
        memcpy(dst->payload, src->payload, src->payload_len);
    }
    if (src->log_tail) {
        dst->log_tail = qr_xmalloc(src->log_tail_len + 1);
        memcpy(dst->log_tail, src->log_tail, src->log_tail_len);
        dst->log_tail[src->log_tail_len] = '\0';
    }
}

static void unlink_entry(struct lambda_dedupe *d, struct lambda_dedupe_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        d->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        d->tail = e->prev;
    d->n--;
    if (e->done)
        d->bytes -= e->res.payload_len + e->res.log_tail_len;
}

static void entry_free(struct lambda_dedupe_entry *e)
{
    res_dispose(&e->res);
    free(e);
}

void lambda_dedupe_free(struct lambda_dedupe *d)
{
    if (d == NULL)
        return;
    for (struct lambda_dedupe_entry *e = d->head, *next; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* Drops expired done entries and, while over a bound, the oldest done ones. mu held. */
static void evict(struct lambda_dedupe *d, int64_t now, size_t want_bytes)
{
    for (struct lambda_dedupe_entry *e = d->head, *next; e; e = next) {
        next = e->next;
        if (!e->done)
            continue;
        bool expired = now - e->done_ms > DEDUPE_TTL_MS;
        bool over = d->n >= DEDUPE_MAX || d->bytes + want_bytes > DEDUPE_MAX_BYTES;
        if (!expired && !over)
            continue;
        unlink_entry(d, e);
        entry_free(e);
    }
}

/* ---- the engine's view of a function ---- */

bool lambda_fn_config(struct qr_server *s, struct lambda_op *op, const struct store_fn *fn,
                      h2o_mem_pool_t *pool, struct fn_config *out)
{
    struct fn_resolve_env env = {s->cfg.data_dir, s->cfg.region, s->cfg.account_id};
    if (fn_config_from_row(&env, fn, pool, out) == QR_OK)
        return true;
    if (op)
        lambda_fail(op, 500, "ServiceException", "The stored configuration is corrupt.");
    return false;
}

/* ---- responses ---- */

static void respond(struct lambda_op *op)
{
    struct lambda_inv_result *r = &op->res;
    lambda_header(op, "X-Amz-Executed-Version", op->executed_version, strlen(op->executed_version));
    if (op->want_tail && r->log_tail) {
        char *b64 = qr_xmalloc((r->log_tail_len + 2) / 3 * 4 + 1);
        size_t n = qr_b64_encode((const uint8_t *)r->log_tail, r->log_tail_len, b64);
        lambda_header(op, "X-Amz-Log-Result", b64, n);
        free(b64);
    }
    switch (r->status) {
    case FN_OK:
        break;
    case FN_FUNCTION_ERROR:
    case FN_INIT_FAILED:
        lambda_header(op, "X-Amz-Function-Error", "Unhandled", 9);
        break;
    case FN_TOO_LARGE: {
        lambda_header(op, "X-Amz-Function-Error", "Unhandled", 9);
        free(r->payload);
        char body[256];
        int n = snprintf(body, sizeof(body),
                         "{\"errorMessage\":\"Response payload size exceeded maximum allowed "
                         "payload size (%u bytes).\",\"errorType\":\"Function."
                         "ResponseSizeTooLarge\"}",
                         LAMBDA_MAX_PAYLOAD);
        r->payload = (uint8_t *)qr_xstrndup(body, (size_t)n);
        r->payload_len = (size_t)n;
        break;
    }
    case FN_THROTTLED:
        lambda_fail(op, 429, "TooManyRequestsException", "Rate Exceeded.");
        op->err_reason = op->reserved >= 0 ? "ReservedFunctionConcurrentInvocationLimitExceeded"
                                           : "ConcurrentInvocationLimitExceeded";
        return;
    case FN_SERVICE_ERROR:
        lambda_fail(op, 500, "ServiceException", "The function could not be started (%s).",
                    r->error_type[0] ? r->error_type : "engine error");
        return;
    }
    op->status = 200;
    op->raw = r->payload;
    op->raw_len = r->payload_len;
    r->payload = NULL;
}

static void invoke_done(struct qr_job *job)
{
    struct lambda_op *op = H2O_STRUCT_FROM_MEMBER(struct lambda_op, job, job);
    respond(op);
    lambda_finish(op);
}

/* Keeps a result: in the op and, for its dedupe entry, in the table and every waiter.
 * Then returns the op (and the waiters) to their loops. Any thread. */
static void complete(struct lambda_op *op, const struct lambda_inv_result *r)
{
    res_copy(&op->res, r);
    struct lambda_op *waiters = NULL;
    if (op->dd) {
        struct lambda_dedupe *d = op->lx->dd;
        struct lambda_dedupe_entry *e = op->dd;
        bool keep = r->status != FN_THROTTLED && r->status != FN_SERVICE_ERROR;
        size_t bytes = r->payload_len + r->log_tail_len;
        pthread_mutex_lock(&d->mu);
        waiters = e->waiters;
        e->waiters = NULL;
        if (keep && bytes <= DEDUPE_MAX_BYTES / 4) {
            evict(d, qr_now_ms(), bytes);
            res_copy(&e->res, r);
            e->done = true;
            e->done_ms = qr_now_ms();
            d->bytes += bytes;
        } else {
            unlink_entry(d, e);
            entry_free(e);
        }
        pthread_mutex_unlock(&d->mu);
        op->dd = NULL;
    }
    for (struct lambda_op *w = waiters, *next; w; w = next) {
        next = w->dd_next;
        res_copy(&w->res, r);
        w->dd = NULL;
        w->job.done = invoke_done;
        server_job_return(&w->job);
    }
    op->job.done = invoke_done;
    server_job_return(&op->job);
}

static void on_result(void *arg, struct fn_result *res)
{
    struct lambda_op *op = arg;
    struct lambda_inv_result r = {.status = res->status};
    snprintf(r.error_type, sizeof(r.error_type), "%s", res->error_type ? res->error_type : "");
    r.payload = res->payload;
    r.payload_len = res->payload_len;
    r.log_tail = res->log_tail;
    r.log_tail_len = res->log_tail ? res->log_tail_len : 0;
    snprintf(r.request_id, sizeof(r.request_id), "%s", res->request_id);
    complete(op, &r); /* copies: res's buffers die when this callback returns */
}

void lambda_invoke_dispose(struct lambda_op *op)
{
    res_dispose(&op->res);
}

/* ---- Event: durable enqueue on a worker ---- */

static void event_run(struct qr_job *job)
{
    struct lambda_op *op = H2O_STRUCT_FROM_MEMBER(struct lambda_op, job, job);
    char arn[256], target[400];
    lambda_fn_arn(op, op->t.name, arn, sizeof(arn));
    if (op->t.qual[0])
        snprintf(target, sizeof(target), "%s:%s", arn, op->t.qual);
    else
        snprintf(target, sizeof(target), "%s", arn);
    enum qr_err err = store_fn_event_enqueue(op->server->store, qr_slice_cstr(target), op->rid,
                                             op->body, op->now_ms);
    if (err != QR_OK) {
        lambda_fail_err(op, err, "The event could not be queued.");
        return;
    }
    if (op->lx)
        lambda_events_kick(op->lx->ev);
    op->status = 202;
}

static void event_done(struct qr_job *job)
{
    struct lambda_op *op = H2O_STRUCT_FROM_MEMBER(struct lambda_op, job, job);
    lambda_finish(op);
}

/* ---- Invoke ---- */

static bool header_is(struct lambda_op *op, const char *name, const char *value, bool *out_set)
{
    struct qr_slice v;
    *out_set = api_header(op->ar, name, &v);
    return *out_set && qr_slice_eq_lit(v, value);
}

enum dd_outcome {
    DD_RUN,    /* run it (op->dd set when the table waits for this run) */
    DD_WAIT,   /* a run with the same key is in flight: op is queued on it */
    DD_REPLAY, /* op->res holds the earlier run's result */
};

/* Looks op up under its dedupe key (caller, function + qualifier, invocation id). */
static enum dd_outcome dedupe_join(struct lambda_op *op)
{
    struct qr_slice id;
    if (op->lx == NULL || !api_header(op->ar, "amz-sdk-invocation-id", &id) || id.len == 0 ||
        id.len > 128)
        return DD_RUN;
    char key[DEDUPE_KEY_MAX];
    int kn = snprintf(key, sizeof(key), "%s\n%s:%s\n%.*s", op->ar->auth.akid, op->t.name,
                      op->t.qual, (int)id.len, (const char *)id.p);
    if (kn < 0 || (size_t)kn >= sizeof(key))
        return DD_RUN;
    struct lambda_dedupe *d = op->lx->dd;
    enum dd_outcome out = DD_RUN;
    pthread_mutex_lock(&d->mu);
    evict(d, qr_now_ms(), 0);
    struct lambda_dedupe_entry *e = d->head;
    while (e && strcmp(e->key, key) != 0)
        e = e->next;
    if (e && e->done) {
        res_copy(&op->res, &e->res);
        out = DD_REPLAY;
    } else if (e) {
        op->dd_next = e->waiters;
        e->waiters = op;
        out = DD_WAIT;
    } else if (d->n < DEDUPE_MAX) { /* full of running entries: run without dedupe */
        e = qr_xmalloc(sizeof(*e));
        memset(e, 0, sizeof(*e));
        memcpy(e->key, key, (size_t)kn + 1);
        e->prev = d->tail;
        if (d->tail)
            d->tail->next = e;
        else
            d->head = e;
        d->tail = e;
        d->n++;
        op->dd = e;
    }
    pthread_mutex_unlock(&d->mu);
    return out;
}

void lambda_invoke(struct lambda_op *op)
{
    struct store_fn fn;
    bool set;
    op->job.thread = op->ar->thread;
    if (!lambda_resolve(op, &op->t, op->pool, &fn))
        goto finish;
    lambda_version_str(fn.version, op->executed_version);
    op->reserved = fn.reserved;
    struct qr_slice itype;
    bool event = false, dry = false;
    if (api_header(op->ar, "x-amz-invocation-type", &itype)) {
        event = qr_slice_eq_lit(itype, "Event");
        dry = qr_slice_eq_lit(itype, "DryRun");
        if (!event && !dry && !qr_slice_eq_lit(itype, "RequestResponse")) {
            lambda_fail(op, 400, "InvalidParameterValueException",
                        "InvocationType must be RequestResponse, Event or DryRun.");
            goto finish;
        }
    }
    op->want_tail = header_is(op, "x-amz-log-type", "Tail", &set) && !event;
    size_t max = event ? LAMBDA_MAX_EVENT : LAMBDA_MAX_PAYLOAD;
    if (op->body.len > max) {
        lambda_fail(op, 413, "RequestTooLargeException",
                    "Request must be smaller than %zu bytes for the Invoke operation", max);
        goto finish;
    }
    if (fn.state != STORE_FN_ACTIVE) {
        lambda_fail(op, 409, "ResourceConflictException",
                    "The operation cannot be performed at this time. The function is currently "
                    "in the following state: %s",
                    fn.state == STORE_FN_PENDING ? "Pending" : "Failed");
        goto finish;
    }
    if (dry) {
        op->status = 204;
        goto finish;
    }
    if (event) {
        op->pool = &op->own_pool;
        op->job.run = event_run;
        op->job.done = event_done;
        server_submit(op->server, &op->job);
        return;
    }
    struct qr_slice cc = qr_slice(NULL, 0);
    if (api_header(op->ar, "x-amz-client-context", &cc) && cc.len > 3583 * 4 / 3 + 4) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "Client context must be at most 3583 bytes.");
        goto finish;
    }
    if (op->server->fn == NULL) {
        lambda_fail(op, 500, "ServiceException", "The functions engine is not running.");
        goto finish;
    }
    struct fn_config cfg;
    if (!lambda_fn_config(op->server, op, &fn, op->pool, &cfg))
        goto finish;

    switch (dedupe_join(op)) {
    case DD_WAIT:
        return; /* complete() of the first run returns this op */
    case DD_REPLAY:
        respond(op);
        goto finish;
    case DD_RUN:
        break;
    }
    /* The function sees the ARN it was invoked by: with the alias when one was named. */
    char invoked[320];
    snprintf(invoked, sizeof(invoked), "%s%s%s", cfg.arn, op->t.qual[0] ? ":" : "", op->t.qual);
    struct fn_invoke inv = {
        .cfg = &cfg,
        .payload = op->body,
        .request_id = op->rid,
        .client_context = cc,
        .want_log_tail = op->want_tail,
        .invoked_arn = invoked,
    };
    enum qr_err err = fn_invoke(op->server->fn, &inv, on_result, op);
    if (err != QR_OK) {
        /* refused before it started: waiters (if any) get the same answer */
        struct lambda_inv_result r = {
            .status = err == QR_E_TOO_LARGE ? FN_TOO_LARGE
                      : err == QR_E_BUSY    ? FN_THROTTLED
                                            : FN_SERVICE_ERROR,
        };
        snprintf(r.error_type, sizeof(r.error_type), "%s", qr_errname(err));
        complete(op, &r);
    }
    return;
finish:
    lambda_finish(op);
}
