/*
 * writer.c - the single writer thread and group commit, plus the reference-counting
 * helpers that run inside its transactions.
 *
 * The writer owns the only write connection. Callers queue a struct store_change and
 * sleep on their own condition variable. The writer takes everything queued, runs BEGIN IMMEDIATE,
 * applies each change inside its own SAVEPOINT (a change that fails its checks is rolled back alone
 * and gets its error), persists the blob-id marks, COMMITs once and wakes all callers: N concurrent
 * writes share one WAL fsync. After the wake it unlinks the blobs freed by that transaction (their
 * gc rows committed with it) and deletes those gc rows in the next transaction. A change's apply
 * must not block on anything but SQLite.
 *
 * Two queues, so a batch job never stalls user requests: interactive changes (every
 * request's) and bulk changes (a batch window of tasks). A transaction takes every
 * interactive change first, then a slice of the bulk change at the head of its queue.
 * A bulk apply asks writer_should_yield after each task and stops early (ch->more) as
 * soon as an interactive change is waiting or the transaction holds WRITER_BULK_MAX
 * tasks or has used WRITER_BULK_MS of the writer's CPU; the waiting interactive changes
 * then join that same commit, and the bulk change continues in the next transaction. A
 * transaction that starts with requests adds at most WRITER_BULK_BESIDE_REQUESTS tasks
 * after them. So a user PUT waits behind at most one task plus one commit (or sixteen
 * tasks), and no transaction grows without bound. The price: each such commit is an
 * fsync the batch job would not have paid, so a job runs slower while requests arrive.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The cap on one transaction's bulk work: tasks, and milliseconds of CPU applying them. */
#define WRITER_BULK_MAX 4096u
#define WRITER_BULK_MS  10
/* The bulk tasks a transaction that already holds requests may add: enough that a job
 * still advances under a steady stream of requests, few enough (a copy costs ~15 us)
 * that those requests hardly wait for them. */
#define WRITER_BULK_BESIDE_REQUESTS 16u

/* Deletes the gc rows of blobs already unlinked. Errors: QR_E_DB. */
static enum qr_err gc_rows_delete(struct store *st)
{
    for (size_t i = 0; i < st->gc_done.n; i++) {
        sqlite3_stmt *s = stmt_get(&st->wc, ST_GC_DELETE);
        if (s == NULL)
            return QR_E_DB;
        sqlite3_bind_int64(s, 1, (int64_t)st->gc_done.v[i]);
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            return db_fail(st->wdb, "gc delete");
    }
    return QR_OK;
}

/* Applies one change in its savepoint. Returns QR_E_DB only when the savepoint machinery
 * itself fails (the whole transaction is then abandoned). */
static enum qr_err apply_one(struct store *st, struct store_change *ch)
{
    size_t mark = st->freed.n;
    enum qr_err err = stmt_exec(&st->wc, ST_SAVEPOINT);
    if (err != QR_OK)
        return err;
    ch->err = ch->apply(st, ch);
    if (ch->err != QR_OK) {
        st->freed.n = mark; /* those frees are rolled back with the change */
        err = stmt_exec(&st->wc, ST_ROLLBACK_TO);
        if (err != QR_OK)
            return err;
    }
    return stmt_exec(&st->wc, ST_RELEASE);
}

/* The writer's own CPU time: the slice budget counts work done, not wall time, so a
 * writer starved of CPU on a busy machine does not cut its slices (and pay a commit)
 * every few tasks. */
static int64_t work_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool writer_should_yield(struct store *st)
{
    if (atomic_load_explicit(&st->q_waiting, memory_order_relaxed) > 0)
        return true;
    if (st->txn_bulk_n >= (st->txn_requests ? WRITER_BULK_BESIDE_REQUESTS : WRITER_BULK_MAX))
        return true;
    /* The clock only every 64 units: a copy costs tens of microseconds. */
    return (st->txn_bulk_n & 63) == 0 && work_ns() - st->txn_t0_ns > WRITER_BULK_MS * 1000000LL;
}

void writer_bulk_unit(struct store *st)
{
    st->txn_bulk_n++;
}

/* Takes every queued interactive change (NULL when none). */
static struct store_change *take_interactive(struct store *st)
{
    pthread_mutex_lock(&st->mu);
    struct store_change *l = st->q_head;
    st->q_head = st->q_tail = NULL;
    atomic_store_explicit(&st->q_waiting, 0, memory_order_relaxed);
    pthread_mutex_unlock(&st->mu);
    return l;
}

/* Wakes the callers of a committed (or failed) list. After done is set the caller may
 * free its change: read next first. Asynchronous changes are set aside and told after
 * the lock is released. */
static void wake_list(struct store *st, struct store_change *list)
{
    struct store_change *async = NULL;
    pthread_mutex_lock(&st->mu);
    for (struct store_change *ch = list, *next; ch; ch = next) {
        next = ch->next;
        if (ch->on_done) {
            ch->next = async;
            async = ch;
            continue;
        }
        ch->done = true;
        pthread_cond_signal(&ch->cv);
    }
    pthread_mutex_unlock(&st->mu);
    for (struct store_change *ch = async, *next; ch; ch = next) {
        next = ch->next;
        ch->on_done(ch);
    }
}

/* Applies a list of changes; *n counts them. */
static enum qr_err apply_list(struct store *st, struct store_change *list, size_t *n)
{
    enum qr_err err = QR_OK;
    for (struct store_change *ch = list; ch && err == QR_OK; ch = ch->next, (*n)++)
        err = apply_one(st, ch);
    return err;
}

/* Appends b to the list at *a. */
static void list_join(struct store_change **a, struct store_change *b)
{
    while (*a)
        a = &(*a)->next;
    *a = b;
}

/* One transaction: the interactive changes queued, then (if any) a slice of the bulk
 * change at the head of its queue; when the bulk change stopped early because
 * interactive changes arrived meanwhile, those join this same commit. */
static void run_batch(struct store *st, struct store_change *batch, struct store_change *bulk)
{
    size_t n = 0;
    st->txn_t0_ns = work_ns();
    st->txn_bulk_n = 0;
    st->txn_requests = batch != NULL;
    st->w_buckets_touched = false;
    enum qr_err err = stmt_exec(&st->wc, ST_BEGIN_IMMEDIATE);
    if (err == QR_OK)
        err = gc_rows_delete(st);
    if (err == QR_OK)
        err = apply_list(st, batch, &n);
    /* A bulk change not reached stays queued, untouched, for the next transaction. */
    bool bulk_in = bulk != NULL && err == QR_OK;
    if (bulk_in) {
        bulk->more = false;
        err = apply_one(st, bulk);
        n++;
        /* Interactive changes that arrived while the slice ran join its commit rather
         * than waiting for it and then for one of their own. */
        if (err == QR_OK && atomic_load_explicit(&st->q_waiting, memory_order_relaxed) > 0) {
            struct store_change *late = take_interactive(st);
            err = apply_list(st, late, &n);
            list_join(&batch, late);
        }
    }
    if (err == QR_OK)
        err = blob_persist_marks(st);
    if (err == QR_OK)
        err = stmt_exec(&st->wc, ST_COMMIT);
    if (err != QR_OK) {
        if (!sqlite3_get_autocommit(st->wdb))
            (void)stmt_exec(&st->wc, ST_ROLLBACK); /* logged by stmt_exec */
        st->freed.n = 0;
        st->pending_reserved = 0;
        for (struct store_change *ch = batch; ch; ch = ch->next)
            ch->err = QR_E_DB;
        if (bulk_in) {
            bulk->err = QR_E_DB;
            bulk->more = false;
        }
    } else {
        st->gc_done.n = 0;
        blob_publish_marks(st);
        if (st->w_buckets_touched)
            atomic_fetch_add_explicit(&st->bucket_gen, 1, memory_order_release);
        atomic_fetch_add_explicit(&st->n_commits, 1, memory_order_release);
        atomic_fetch_add_explicit(&st->n_changes, n, memory_order_relaxed);
    }

    wake_list(st, batch);
    if (bulk_in && !bulk->more) {
        pthread_mutex_lock(&st->mu);
        st->b_head = bulk->next;
        if (st->b_head == NULL)
            st->b_tail = NULL;
        pthread_mutex_unlock(&st->mu);
        bulk->next = NULL;
        wake_list(st, bulk);
    }

    if (st->freed.n)
        blob_unlink_freed(st);
    ckpt_after_commit(st);
}

static void *writer_main(void *arg)
{
    struct store *st = arg;
    (void)pthread_setname_np(pthread_self(), "quarry-writer"); /* top -H, perf */
    for (;;) {
        pthread_mutex_lock(&st->mu);
        while (st->q_head == NULL && (st->b_head == NULL || st->bulk_paused) && !st->stopping)
            pthread_cond_wait(&st->wake, &st->mu);
        struct store_change *batch = st->q_head;
        st->q_head = st->q_tail = NULL;
        atomic_store_explicit(&st->q_waiting, 0, memory_order_relaxed);
        /* the bulk change stays queued until it has finished */
        struct store_change *bulk = st->bulk_paused && !st->stopping ? NULL : st->b_head;
        bool stop = st->stopping;
        pthread_mutex_unlock(&st->mu);
        if (batch || bulk)
            run_batch(st, batch, bulk);
        else if (stop)
            break;
    }
    return NULL;
}

enum qr_err writer_start(struct store *st)
{
    if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
        fprintf(stderr, "store: cannot start the writer thread\n");
        return QR_E_INTERNAL;
    }
    st->writer_started = true;
    return QR_OK;
}

void writer_stop(struct store *st)
{
    if (!st->writer_started)
        return;
    pthread_mutex_lock(&st->mu);
    st->stopping = true;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->writer, NULL);
    st->writer_started = false;
    /* Rows of blobs unlinked after the last commit: delete them now rather than
     * redoing the unlinks at the next open. */
    if (st->gc_done.n && stmt_exec(&st->wc, ST_BEGIN_IMMEDIATE) == QR_OK) {
        if (gc_rows_delete(st) == QR_OK && stmt_exec(&st->wc, ST_COMMIT) == QR_OK)
            st->gc_done.n = 0;
        else if (!sqlite3_get_autocommit(st->wdb))
            (void)stmt_exec(&st->wc, ST_ROLLBACK); /* open redoes the gc rows */
    }
}

static void enqueue(struct store *st, struct store_change *ch)
{
    struct store_change **head = ch->bulk ? &st->b_head : &st->q_head;
    struct store_change **tail = ch->bulk ? &st->b_tail : &st->q_tail;
    if (*tail)
        (*tail)->next = ch;
    else
        *head = ch;
    *tail = ch;
    if (!ch->bulk)
        atomic_fetch_add_explicit(&st->q_waiting, 1, memory_order_relaxed);
    pthread_cond_signal(&st->wake);
}

void writer_submit_async(struct store *st, struct store_change *ch)
{
    ch->done = false;
    ch->err = QR_OK;
    ch->more = false;
    ch->next = NULL;
    pthread_mutex_lock(&st->mu);
    enqueue(st, ch);
    pthread_mutex_unlock(&st->mu);
}

enum qr_err writer_submit(struct store *st, struct store_change *ch)
{
    ch->on_done = NULL;
    ch->bulk = false;
    ch->done = false;
    ch->err = QR_OK;
    ch->next = NULL;
    pthread_cond_init(&ch->cv, NULL);
    pthread_mutex_lock(&st->mu);
    enqueue(st, ch);
    while (!ch->done)
        pthread_cond_wait(&ch->cv, &st->mu);
    pthread_mutex_unlock(&st->mu);
    pthread_cond_destroy(&ch->cv);
    return ch->err;
}

/* ---- helpers for changes (writer thread, inside the transaction) ---- */

bool w_bucket_cached(struct store *st, struct qr_slice name, bool need_state, struct w_bucket *out)
{
    if (!st->bcache_on)
        return false;
    for (size_t i = 0; i < 2; i++)
        if (st->bcache[i].len == name.len && name.len &&
            memcmp(st->bcache[i].name, name.p, name.len) == 0) {
            if (need_state && !st->bcache[i].has_state)
                return false;
            *out = st->bcache[i].b;
            return true;
        }
    return false;
}

void w_bucket_remember(struct store *st, struct qr_slice name, const struct w_bucket *b,
                       bool has_state)
{
    if (!st->bcache_on || name.len == 0 || name.len >= sizeof(st->bcache[0].name))
        return;
    /* the newest entry goes to slot 0, the one before it to slot 1 */
    if (!(st->bcache[0].len == name.len && memcmp(st->bcache[0].name, name.p, name.len) == 0))
        st->bcache[1] = st->bcache[0];
    memcpy(st->bcache[0].name, name.p, name.len);
    st->bcache[0].len = name.len;
    st->bcache[0].b = *b;
    st->bcache[0].has_state = has_state;
}

enum qr_err w_bucket_id(struct store *st, struct qr_slice name, int64_t *out)
{
    struct w_bucket b = {0};
    if (w_bucket_cached(st, name, false, &b)) {
        *out = b.id;
        return QR_OK;
    }
    enum qr_err err = db_bucket_id(&st->wc, name, out);
    if (err == QR_OK) {
        b.id = *out;
        w_bucket_remember(st, name, &b, false);
    }
    return err;
}

void w_bucket_cache_on(struct store *st)
{
    st->bcache[0].len = st->bcache[1].len = 0;
    st->bcache_on = true;
}

void w_bucket_cache_off(struct store *st)
{
    st->bcache_on = false;
}

static enum qr_err step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, what);
    return QR_OK;
}

enum qr_err w_ref(struct store *st, const struct store_extent *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *s = stmt_get(&st->wc, ST_BLOB_INC);
        if (s == NULL)
            return QR_E_DB;
        sqlite3_bind_int64(s, 1, (int64_t)e[i].blob);
        enum qr_err err = step_done(st, s, "blob ref");
        if (err != QR_OK)
            return err;
        if (sqlite3_changes(st->wdb) != 1) {
            fprintf(stderr, "store: extent names blob %llu without a row\n",
                    (unsigned long long)e[i].blob);
            return QR_E_DB;
        }
    }
    return QR_OK;
}

static enum qr_err unref_one(struct store *st, uint64_t blob)
{
    sqlite3_stmt *s = stmt_get(&st->wc, ST_BLOB_DEC);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, (int64_t)blob);
    int rc = sqlite3_step(s);
    int64_t left = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, "blob unref");
    if (left < 0) {
        fprintf(stderr, "store: unref of blob %llu without a row\n", (unsigned long long)blob);
        return QR_E_DB;
    }
    if (left > 0)
        return QR_OK;
    /* Last reference: the row goes and the id is recorded in gc in this same
     * transaction, so the unlink after commit is redone at open if we crash first. */
    s = stmt_get(&st->wc, ST_BLOB_DELETE);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, (int64_t)blob);
    enum qr_err err = step_done(st, s, "blob delete");
    if (err != QR_OK)
        return err;
    s = stmt_get(&st->wc, ST_GC_INSERT);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, (int64_t)blob);
    err = step_done(st, s, "gc insert");
    if (err != QR_OK)
        return err;
    id_vec_push(&st->freed, blob);
    return QR_OK;
}

enum qr_err w_unref(struct store *st, const struct store_extent *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum qr_err err = unref_one(st, e[i].blob);
        if (err != QR_OK)
            return err;
    }
    return QR_OK;
}

enum qr_err w_unref_packed(struct store *st, const void *p, size_t len)
{
    struct store_extent *e;
    size_t n;
    enum qr_err err = ext_unpack_heap(p, len, &e, &n);
    if (err != QR_OK)
        return err;
    err = w_unref(st, e, n);
    free(e);
    return err;
}

enum qr_err w_blob_new(struct store *st, uint64_t id, uint64_t size)
{
    return w_blob_new_sse(st, id, size, NULL);
}

enum qr_err w_blob_new_sse(struct store *st, uint64_t id, uint64_t size,
                           const struct crypt_env *env)
{
    sqlite3_stmt *s = stmt_get(&st->wc, ST_BLOB_INSERT);
    if (s == NULL)
        return QR_E_DB;
    uint8_t packed[CRYPT_ENV_BYTES];
    sqlite3_bind_int64(s, 1, (int64_t)id);
    sqlite3_bind_int64(s, 2, (int64_t)size);
    if (env && env->mode != STORE_SSE_NONE) { /* else left unbound: NULL, a plain blob */
        crypt_env_pack(env, packed);
        sqlite3_bind_blob(s, 3, packed, sizeof(packed), SQLITE_TRANSIENT);
    }
    enum qr_err err = step_done(st, s, "blob insert");
    sqlite3_clear_bindings(s);
    return err;
}

uint64_t store_debug_commits(struct store *st)
{
    return atomic_load_explicit(&st->n_commits, memory_order_relaxed);
}

uint64_t store_debug_changes(struct store *st)
{
    return atomic_load_explicit(&st->n_changes, memory_order_relaxed);
}

static enum qr_err apply_nothing(struct store *st, struct store_change *ch)
{
    return QR_OK;
}

void store_debug_sync(struct store *st)
{
    struct store_change ch = {.apply = apply_nothing};
    (void)writer_submit(st, &ch); /* only the ordering matters */
}
