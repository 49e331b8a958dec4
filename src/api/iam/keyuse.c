/*
 * keyuse.c - access key last-used dates reach the store without waiting for an IAM
 * request: a thread of its own wakes every flush interval (60 s unless
 * --key-use-flush-interval says otherwise) and saves what authz recorded since, and at
 * a clean stop saves everything not saved yet. The IAM worker still saves on its way
 * (the same rows), so GetAccessKeyLastUsed after a restart shows a use whichever ran.
 * Saving is a store write off every loop; a failure only loses last-used dates.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <pthread.h>

#include "api/iam/iam.h"
#include "api/iam/iam_int.h"

struct iam_keyuse {
    struct qr_server *server;
    pthread_t tid;
    pthread_mutex_t mu; /* guards stop */
    pthread_cond_t cv;  /* signalled by iam_keyuse_stop */
    bool stop;          /* guarded by mu */
    uint32_t every_ms;  /* wake-up period */
};

void iam_keyuse_save(struct qr_server *s, const struct authz_use *u, size_t n)
{
    if (!n)
        return;
    struct store_iam_op *w = qr_xmalloc(n * sizeof(*w));
    char(*docs)[160] = qr_xmalloc(n * sizeof(*docs));
    for (size_t i = 0; i < n; i++) {
        snprintf(docs[i], sizeof(docs[i]), "{\"ms\":%lld,\"service\":\"%s\",\"region\":\"%s\"}",
                 (long long)u[i].ms, u[i].service, u[i].region);
        w[i] = (struct store_iam_op){STORE_IAM_UPSERT, "keyuse", qr_slice_cstr(""),
                                     qr_slice_cstr(u[i].akid), qr_slice_cstr(docs[i])};
    }
    if (store_iam_change(s->store, w, n, NULL) != QR_OK)
        server_log(s, QR_LOG_WARN, "quarry: access key last-used not saved");
    free(docs);
    free(w);
}

static void save_due(struct qr_server *s, bool all)
{
    struct authz_use *u;
    int64_t now = api_now_ms();
    size_t n = all ? authz_uses_all(s->authz, now, &u) : authz_uses_due(s->authz, now, &u);
    iam_keyuse_save(s, u, n);
    free(u);
}

static void *keyuse_main(void *arg)
{
    struct iam_keyuse *k = arg;
    (void)pthread_setname_np(pthread_self(), "quarry-keyuse"); /* top -H, perf */
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += k->every_ms / 1000;
        until.tv_nsec += (long)(k->every_ms % 1000) * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&k->mu);
        while (!k->stop && pthread_cond_timedwait(&k->cv, &k->mu, &until) != ETIMEDOUT)
            ;
        bool stop = k->stop;
        pthread_mutex_unlock(&k->mu);
        save_due(k->server, stop);
        if (stop)
            return NULL;
    }
}

enum qr_err iam_keyuse_start(struct qr_server *s, uint32_t every_ms, struct iam_keyuse **out)
{
    struct iam_keyuse *k = qr_xmalloc(sizeof(*k));
    memset(k, 0, sizeof(*k));
    k->server = s;
    k->every_ms = every_ms ? every_ms : 60000;
    authz_set_use_flush_ms(s->authz, k->every_ms);
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    if (pthread_create(&k->tid, NULL, keyuse_main, k) != 0) {
        pthread_mutex_destroy(&k->mu);
        pthread_cond_destroy(&k->cv);
        free(k);
        return QR_E_IO;
    }
    *out = k;
    return QR_OK;
}

void iam_keyuse_stop(struct iam_keyuse *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->tid, NULL);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    free(k);
}
