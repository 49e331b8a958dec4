/*
 * event.c - the Event dispatcher: one thread that claims due events from the store's
 * durable queue, runs them through fn_invoke, and acks or reschedules each from the
 * result. Because a claim is a lease (store_fn_event_claim), an event whose run was lost
 * (quarry killed) becomes due again when the lease ends: at-least-once, as AWS's async
 * invocations are.
 *
 * Policy (AWS's defaults for asynchronous invocation): a function error is retried
 * twice, one minute and then two minutes later; throttles and engine errors are retried
 * with backoff; an event older than MAX_AGE_MS is dropped (logged). The engine's
 * callback runs on the engine thread and must not block, so it only queues the result
 * here; the store writes happen on this thread.
 */
#include "api/lambda/lambda_int.h"

#include "fn/fn_resolve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/codec.h"

#define MAX_INFLIGHT 32
#define MAX_AGE_MS   (6ll * 3600 * 1000)
#define LEASE_MS     (16ll * 60 * 1000) /* longer than the longest timeout (900 s) */
#define MAX_ATTEMPTS 3                  /* the first run and two retries */
#define POLL_MS      1000

struct ev_run {
    struct ev_run *next; /* done list, guarded by mu */
    struct lambda_events *ev;
    int64_t id;
    uint32_t attempts;
    int64_t enqueued_ms;
    enum fn_status status; /* set by the callback */
    char target[400];
};

struct lambda_events {
    struct lambda_ctx *lx;
    pthread_t tid;
    bool started;
    struct store_reader *reader; /* this thread's */
    pthread_mutex_t mu;          /* guards the fields below */
    pthread_cond_t cv;
    bool stop;
    bool kicked;
    struct ev_run *done; /* finished runs to ack or retry */
    size_t inflight;     /* runs handed to the engine, not yet done */
};

void lambda_events_kick(struct lambda_events *ev)
{
    if (ev == NULL)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->kicked = true;
    pthread_cond_signal(&ev->cv);
    pthread_mutex_unlock(&ev->mu);
}

static void on_event_result(void *arg, struct fn_result *res)
{
    struct ev_run *run = arg;
    struct lambda_events *ev = run->ev;
    run->status = res->status;
    pthread_mutex_lock(&ev->mu);
    run->next = ev->done;
    ev->done = run;
    pthread_cond_signal(&ev->cv);
    pthread_mutex_unlock(&ev->mu);
}

static void log_ev(struct lambda_events *ev, const struct ev_run *run, const char *what)
{
    server_log(ev->lx->server, QR_LOG_WARN, "lambda: event %lld for %s %s (attempt %u)",
               (long long)run->id, run->target, what, run->attempts);
}

/* After a run: ack, retry later, or drop. */
static void settle(struct lambda_events *ev, struct ev_run *run)
{
    struct store *st = ev->lx->server->store;
    int64_t now = qr_now_ms();
    int64_t when = 0;
    switch (run->status) {
    case FN_OK:
        break;
    case FN_FUNCTION_ERROR:
    case FN_INIT_FAILED:
    case FN_TOO_LARGE:
        if (run->attempts < MAX_ATTEMPTS)
            when = now + 60000ll * run->attempts;
        else
            log_ev(ev, run, "failed; retries exhausted, dropped");
        break;
    case FN_THROTTLED:
    case FN_SERVICE_ERROR: {
        uint32_t a = run->attempts > 8 ? 8 : run->attempts;
        when = now + (1000ll << a);
        break;
    }
    }
    if (when && when - run->enqueued_ms > MAX_AGE_MS) {
        log_ev(ev, run, "is older than the maximum event age, dropped");
        when = 0;
    }
    enum qr_err err =
        when ? store_fn_event_retry(st, run->id, when) : store_fn_event_ack(st, run->id);
    if (err != QR_OK)
        log_ev(ev, run, "could not be settled (it runs again after its lease)");
}

/* Parses "arn:aws:lambda:R:A:function:NAME[:QUAL]" as we stored it. */
/* Resolves and starts one claimed event; false when it cannot run (settled here). */
static void start(struct lambda_events *ev, const struct store_fn_event *e, h2o_mem_pool_t *pool)
{
    struct qr_server *s = ev->lx->server;
    struct ev_run *run = qr_xmalloc(sizeof(*run));
    memset(run, 0, sizeof(*run));
    run->ev = ev;
    run->id = e->id;
    run->attempts = e->attempts;
    run->enqueued_ms = e->enqueued_ms;
    snprintf(run->target, sizeof(run->target), "%.*s", (int)e->target.len,
             (const char *)e->target.p);

    /* The target was resolved when the event was queued; it may have gone since. */
    struct fn_resolve_env env = {s->cfg.data_dir, s->cfg.region, s->cfg.account_id};
    struct fn_config cfg;
    enum qr_err err = fn_resolve(ev->reader, &env, qr_slice_cstr(run->target), pool, &cfg);
    if (err == QR_E_NO_SUCH_KEY || err == QR_E_BAD_INPUT || err == QR_E_INTERNAL) {
        log_ev(ev, run, "names no function (deleted?), dropped");
        run->status = FN_OK; /* settle acks it */
        settle(ev, run);
        free(run);
        return;
    }
    if (err != QR_OK || s->fn == NULL) {
        run->status = FN_SERVICE_ERROR;
        settle(ev, run);
        free(run);
        return;
    }
    struct fn_invoke inv = {
        .cfg = &cfg,
        .payload = e->payload,
        .request_id = e->request_id,
    };
    pthread_mutex_lock(&ev->mu);
    ev->inflight++;
    pthread_mutex_unlock(&ev->mu);
    err = fn_invoke(s->fn, &inv, on_event_result, run);
    if (err != QR_OK) {
        pthread_mutex_lock(&ev->mu);
        ev->inflight--;
        pthread_mutex_unlock(&ev->mu);
        run->status = err == QR_E_TOO_LARGE ? FN_TOO_LARGE : FN_THROTTLED;
        settle(ev, run);
        free(run);
    }
}

static void *events_main(void *arg)
{
    struct lambda_events *ev = arg;
    (void)pthread_setname_np(pthread_self(), "quarry-events"); /* top -H, perf */
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    for (;;) {
        pthread_mutex_lock(&ev->mu);
        struct ev_run *done = ev->done;
        ev->done = NULL;
        size_t n_done = 0;
        for (struct ev_run *r = done; r; r = r->next)
            n_done++;
        ev->inflight -= n_done;
        bool stop = ev->stop;
        size_t room = MAX_INFLIGHT > ev->inflight ? MAX_INFLIGHT - ev->inflight : 0;
        ev->kicked = false;
        pthread_mutex_unlock(&ev->mu);

        for (struct ev_run *r = done, *next; r; r = next) {
            next = r->next;
            settle(ev, r);
            free(r);
        }
        if (stop)
            break;
        int64_t now = qr_now_ms();
        if (room > 0) {
            struct store_fn_event *list;
            size_t n = 0;
            if (store_fn_event_claim(ev->lx->server->store, now, LEASE_MS, room, &pool, &list,
                                     &n) == QR_OK) {
                for (size_t i = 0; i < n; i++)
                    start(ev, &list[i], &pool);
            }
            h2o_mem_clear_pool(&pool);
        }
        int64_t due = INT64_MAX;
        if (store_fn_event_next_due(ev->reader, &due) != QR_OK)
            due = INT64_MAX;
        int64_t wait = due == INT64_MAX ? POLL_MS : due - qr_now_ms();
        if (wait > POLL_MS)
            wait = POLL_MS;
        pthread_mutex_lock(&ev->mu);
        if (wait > 0 && !ev->kicked && !ev->stop && ev->done == NULL) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            (void)pthread_cond_timedwait(&ev->cv, &ev->mu, &ts); /* timeout is the poll */
        }
        pthread_mutex_unlock(&ev->mu);
    }
    h2o_mem_clear_pool(&pool);
    return NULL;
}

enum qr_err lambda_events_start(struct lambda_ctx *lx, struct lambda_events **out)
{
    struct lambda_events *ev = qr_xmalloc(sizeof(*ev));
    memset(ev, 0, sizeof(*ev));
    ev->lx = lx;
    pthread_mutex_init(&ev->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ev->cv, &ca);
    pthread_condattr_destroy(&ca);
    enum qr_err err = store_reader_new(lx->server->store, &ev->reader);
    /* Claims of an earlier run died with it: those events are due now, not when their
     * lease would have ended. */
    if (err == QR_OK)
        err = store_fn_event_release_leases(lx->server->store, api_now_ms());
    if (err == QR_OK && pthread_create(&ev->tid, NULL, events_main, ev) != 0)
        err = QR_E_INTERNAL;
    if (err != QR_OK) {
        lambda_events_free(ev);
        return err;
    }
    ev->started = true;
    *out = ev;
    return QR_OK;
}

void lambda_events_stop(struct lambda_events *ev)
{
    if (ev == NULL || !ev->started)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->stop = true;
    pthread_cond_signal(&ev->cv);
    pthread_mutex_unlock(&ev->mu);
    pthread_join(ev->tid, NULL);
    ev->started = false;
}

void lambda_events_free(struct lambda_events *ev)
{
    if (ev == NULL)
        return;
    lambda_events_stop(ev);
    /* Runs finished after the stop (fn_engine_free delivered them): their events stay
     * leased and run again at the next start (lambda_events_start releases leases). */
    for (struct ev_run *r = ev->done, *next; r; r = next) {
        next = r->next;
        free(r);
    }
    store_reader_free(ev->reader);
    pthread_cond_destroy(&ev->cv);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}
