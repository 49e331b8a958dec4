/*
 * ckpt.c - WAL checkpoints off the commit path. The writer connection runs with
 * wal_autocheckpoint=0, so no COMMIT ever copies WAL frames into meta.db and fsyncs it
 * before its callers are answered. Instead:
 *  - this thread checkpoints PASSIVE on a connection of its own every CKPT_PERIOD_MS
 *    (it never blocks the writer or readers): the bulk of the copying happens here;
 *  - but under a steady stream of writes a concurrent checkpoint never catches up with
 *    the end of the WAL, and SQLite starts the WAL over only when a checkpoint has
 *    copied every frame. So once the WAL is past CKPT_WRITER_PAGES after a commit: with
 *    requests only, the writer runs that checkpoint itself when none is queued (nothing
 *    is appended meanwhile); with a batch job's bulk changes queued, the writer pauses
 *    them and asks this thread for a checkpoint at once: only the frames since the last
 *    pass and those of the few requests committed meanwhile are left to copy, and the
 *    WAL starts over after it. The writer does not wait for that checkpoint: it keeps
 *    committing requests meanwhile (a user PUT arriving during a checkpoint the writer
 *    ran itself waited for all of it and its fsync: the tail of PUT latency during a
 *    batch job). This thread runs at nice CKPT_NICE, so those requests get the CPU first.
 * When the WAL has grown past CKPT_TRUNCATE_FRAMES all the same (readers kept pinning
 * old frames), one TRUNCATE attempt resets it; that waits only for the busy timeout.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CKPT_PERIOD_MS       50
#define CKPT_TRUNCATE_FRAMES 65536 /* 256 MiB of 4 KiB frames */
#define CKPT_WRITER_PAGES    1024  /* 4 MiB */
#define CKPT_NICE            5     /* like the batch engine: requests get the CPU first */
#define CKPT_CATCH_UP_PASSES 4     /* checkpoints while bulk waits, to overtake requests */

struct store_ckpt {
    pthread_t tid;
    pthread_mutex_t mu; /* guards stop */
    pthread_cond_t cv;
    bool stop;   /* guarded by mu */
    bool asked;  /* the writer paused bulk changes for a checkpoint; guarded by mu */
    sqlite3 *db; /* this thread's connection */
    struct store *st;
};

/* Lets bulk changes run again. */
static void bulk_resume(struct store *st)
{
    pthread_mutex_lock(&st->mu);
    st->bulk_paused = false;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->mu);
}

static void *ckpt_main(void *arg)
{
    struct store_ckpt *c = arg;
    (void)pthread_setname_np(pthread_self(), "quarry-ckpt"); /* top -H, perf */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), CKPT_NICE);
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += CKPT_PERIOD_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&c->mu);
        while (!c->stop && !c->asked && pthread_cond_timedwait(&c->cv, &c->mu, &until) != ETIMEDOUT)
            ;
        bool stop = c->stop, asked = c->asked;
        c->asked = false;
        pthread_mutex_unlock(&c->mu);
        int log = 0, done = 0;
        sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        /* Requests committed during a pass leave frames behind: a short pass or two more
         * copies them while the bulk work still waits. */
        for (int i = 1; asked && i < CKPT_CATCH_UP_PASSES && log > done; i++)
            sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (asked)
            bulk_resume(c->st);
        if (log > CKPT_TRUNCATE_FRAMES)
            sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        if (stop)
            break;
    }
    return NULL;
}

enum qr_err ckpt_start(struct store *st)
{
    struct store_ckpt *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    enum qr_err err = db_open(st->db_path, false, st->no_fsync, false, &c->db);
    if (err != QR_OK) {
        free(c);
        return err;
    }
    sqlite3_busy_timeout(c->db, 100);
    c->st = st;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->tid, NULL, ckpt_main, c) != 0) {
        sqlite3_close(c->db);
        free(c);
        return QR_E_INTERNAL;
    }
    st->ckpt = c;
    return QR_OK;
}

void ckpt_stop(struct store *st)
{
    struct store_ckpt *c = st->ckpt;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->tid, NULL);
    sqlite3_close(c->db);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    st->ckpt = NULL;
}

static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct store *st = arg;
    st->wal_pages = pages;
    return SQLITE_OK;
}

void ckpt_watch(struct store *st)
{
    sqlite3_wal_hook(st->wdb, on_wal_commit, st);
}

void ckpt_after_commit(struct store *st)
{
    struct store_ckpt *c = st->ckpt;
    if (st->wal_pages < CKPT_WRITER_PAGES || c == NULL)
        return;
    pthread_mutex_lock(&st->mu);
    bool bulk = st->b_head != NULL;
    bool requests = st->q_head != NULL;
    st->bulk_paused = bulk;
    pthread_mutex_unlock(&st->mu);
    if (!bulk) {
        /* Requests only: the writer finishes the checkpoint itself between two
         * transactions, so nothing is appended meanwhile and the WAL surely starts over;
         * while requests are queued it waits (this thread keeps up meanwhile). SQLITE_BUSY
         * (this thread's checkpoint is running) just means: next time. */
        if (requests)
            return;
        (void)sqlite3_wal_checkpoint_v2(st->wdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        st->wal_pages = 0;
        return;
    }
    st->wal_pages = 0;
    pthread_mutex_lock(&c->mu);
    c->asked = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}
