/*
 * writer.c - the logs thread: drains logs_append's queue in batches and writes them.
 *
 * Per cycle: wait for work (logs_append signals only a waiting thread), let events
 * gather for opts.batch_ms (less when the queue passes its high-water mark or on a
 * flush), take the whole queue, write new groups and streams (a stream always reaches
 * the streams file before any event naming it: it was created before its events were
 * queued), then per group one write() of all its records per segment, then index them
 * (group->rw exclusive, memory only) so readers see them. Segments rotate past
 * opts.segment_bytes; past opts.group_cap_bytes (or retention) the oldest segment is
 * dropped from the index and then unlinked. fdatasync runs at most every
 * opts.fsync_ms over the segments written since the last one, never per line.
 */
#include "logs/logs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool syncing(const struct logs *l)
{
    return l->o.fsync_ms != LOGS_FSYNC_NEVER;
}

/* Creates the group's directory and group file (written to a temporary name, then
 * renamed, so a crash never leaves a half-written name). */
static bool persist_group(struct logs *l, struct logs_group *g)
{
    if (mkdirat(l->dir_fd, g->dir, 0700) != 0 && errno != EEXIST)
        return false;
    if (g->dir_fd < 0)
        g->dir_fd = openat(l->dir_fd, g->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (g->dir_fd < 0)
        return false;
    struct qr_buf b;
    qr_buf_init(&b, 64 + LOGS_MAX_NAME);
    uint32_t magic = LOGS_GROUP_MAGIC, len = (uint32_t)g->name_len;
    (void)qr_buf_add(&b, &magic, 4); /* fits: the buffer is sized for the largest name */
    (void)qr_buf_add(&b, &g->creation_ms, 8);
    (void)qr_buf_add(&b, &len, 4);
    (void)qr_buf_add(&b, g->name, g->name_len);
    int fd =
        openat(g->dir_fd, "group.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    bool ok = fd >= 0 && write_all(fd, b.p, b.len) && (!syncing(l) || fdatasync(fd) == 0);
    if (fd >= 0)
        close(fd);
    ok = ok && renameat(g->dir_fd, "group.tmp", g->dir_fd, "group") == 0;
    if (ok && syncing(l))
        (void)fsync(l->dir_fd); /* the entry is in the directory; durability is best-effort */
    qr_buf_dispose(&b);
    g->persisted = ok;
    return ok;
}

/* Appends streams [n_persisted, n) (snapshot in s) to the streams file in one write. */
static void persist_streams(struct logs_group *g, struct logs_stream **s, size_t n)
{
    struct qr_buf b;
    qr_buf_init(&b, SIZE_MAX);
    for (size_t i = g->n_persisted; i < n; i++) {
        uint32_t magic = LOGS_STREAM_MAGIC, no = s[i - g->n_persisted]->no;
        uint32_t len = (uint32_t)s[i - g->n_persisted]->name_len;
        (void)qr_buf_add(&b, &magic, 4); /* unbounded buffer: cannot fail */
        (void)qr_buf_add(&b, &no, 4);
        (void)qr_buf_add(&b, &s[i - g->n_persisted]->creation_ms, 8);
        (void)qr_buf_add(&b, &len, 4);
        (void)qr_buf_add(&b, s[i - g->n_persisted]->name, len);
    }
    int fd =
        openat(g->dir_fd, "streams", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        struct stat st;
        bool ok = fstat(fd, &st) == 0;
        if (ok && !write_all(fd, b.p, b.len)) {
            ok = false;
            if (ftruncate(fd, st.st_size) != 0)
                ok = false; /* a torn record is cut at open anyway */
        }
        if (ok)
            g->n_persisted = n;
        close(fd);
    }
    qr_buf_dispose(&b);
}

/* Writes the catalog entries of every dirty group. The list is copied under l->mu: once
 * a group's flag is cleared, logs_append may put it on a new list (and reuse cat_next)
 * while this runs. A group that could not be written goes back on the list, to be
 * retried on the next cycle. */
static void persist_catalog(struct logs *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n_list = 0;
    for (struct logs_group *g = l->cat_dirty; g; g = g->cat_next)
        n_list++;
    struct logs_group **list = n_list ? qr_xmalloc(n_list * sizeof(*list)) : NULL;
    n_list = 0;
    for (struct logs_group *g = l->cat_dirty; g; g = g->cat_next) {
        list[n_list++] = g;
        g->cat_dirty = false;
    }
    l->cat_dirty = NULL;
    pthread_mutex_unlock(&l->mu);

    for (size_t i = 0; i < n_list; i++) {
        struct logs_group *g = list[i];
        bool ok = g->persisted || persist_group(l, g);
        pthread_mutex_lock(&l->mu);
        size_t n = g->n_streams, k = ok ? n - g->n_persisted : 0;
        struct logs_stream **snap = k ? qr_xmalloc(k * sizeof(*snap)) : NULL;
        if (k)
            memcpy(snap, g->by_no + g->n_persisted, k * sizeof(*snap));
        pthread_mutex_unlock(&l->mu);
        if (k)
            persist_streams(g, snap, n);
        free(snap);
        if (!ok || g->n_persisted < n) {
            pthread_mutex_lock(&l->mu);
            logs_mark_dirty(l, g);
            pthread_mutex_unlock(&l->mu);
        }
    }
    free(list);
}

/* ---- segments ---- */

static void seg_name(uint32_t no, char out[32])
{
    snprintf(out, 32, "%010" PRIu32 ".seg", no);
}

static void sync_group(struct logs_group *g)
{
    if (g->wfd >= 0 && g->dirty)
        (void)fdatasync(g->wfd); /* best-effort: logs are not acknowledged as durable */
    g->dirty = false;
}

/* Opens the segment to append to: the newest one while it has room, else a new one. */
static bool open_segment(struct logs *l, struct logs_group *g, bool rotate)
{
    if (g->wfd >= 0) {
        if (!rotate)
            return true;
        if (syncing(l))
            sync_group(g);
        close(g->wfd);
        g->wfd = -1;
    }
    char name[32];
    pthread_rwlock_rdlock(&g->rw);
    bool reuse = !rotate && g->n_segs && g->segs[g->n_segs - 1].size < l->o.segment_bytes;
    uint32_t no = reuse ? g->segs[g->n_segs - 1].no : g->next_seg;
    uint64_t size = reuse ? g->segs[g->n_segs - 1].size : 0;
    pthread_rwlock_unlock(&g->rw);
    seg_name(no, name);
    int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (reuse ? 0 : O_CREAT | O_TRUNC);
    g->wfd = openat(g->dir_fd, name, flags, 0600);
    if (g->wfd < 0)
        return false;
    g->wseg = no;
    g->wsize = size;
    if (!reuse) {
        g->next_seg = no + 1;
        pthread_rwlock_wrlock(&g->rw);
        logs_seg_add(g, no, 0, 0);
        pthread_rwlock_unlock(&g->rw);
    }
    return true;
}

/* Removes g's oldest segment from the index, then from disk. */
static void drop_oldest(struct logs *l, struct logs_group *g)
{
    pthread_rwlock_wrlock(&g->rw);
    struct logs_seg s = g->segs[0];
    while (g->ent_start < g->n_ent && g->ent[g->ent_start].seg == s.no)
        g->ent_start++;
    memmove(g->segs, g->segs + 1, (g->n_segs - 1) * sizeof(*g->segs));
    g->n_segs--;
    pthread_rwlock_unlock(&g->rw);
    pthread_mutex_lock(&l->mu);
    g->stored_bytes -= s.size;
    pthread_mutex_unlock(&l->mu);
    char name[32];
    seg_name(s.no, name);
    (void)unlinkat(g->dir_fd, name, 0); /* a leftover file is indexed again at open */
    atomic_fetch_add_explicit(&l->n_removed, 1, memory_order_relaxed);
}

static void enforce_limits(struct logs *l, struct logs_group *g)
{
    int64_t cutoff = l->o.retention_ms > 0 ? now_ms() - l->o.retention_ms : INT64_MIN;
    for (;;) {
        pthread_rwlock_rdlock(&g->rw);
        bool drop = g->n_segs > 1 &&
                    (g->stored_bytes > l->o.group_cap_bytes || g->segs[0].max_ingest_ms < cutoff);
        pthread_rwlock_unlock(&g->rw);
        if (!drop)
            break;
        drop_oldest(l, g);
    }
}

struct pending {
    struct logs_ent *ent;
    int64_t *ingest;
    size_t n, cap;
};

/* Writes buf to the open segment and indexes its records. */
static bool commit(struct logs *l, struct logs_group *g, struct qr_buf *buf, struct pending *p)
{
    bool ok = buf->len == 0 || write_all(g->wfd, buf->p, buf->len);
    if (!ok) {
        /* Keep the segment parseable; if even that fails, the next open cuts it there. */
        if (ftruncate(g->wfd, (off_t)g->wsize) != 0)
            g->dirty = true;
        p->n = 0;
        qr_buf_reset(buf);
        return false;
    }
    int64_t max_ingest = 0;
    pthread_rwlock_wrlock(&g->rw);
    for (size_t i = 0; i < p->n; i++) {
        logs_index_add(g, &p->ent[i]);
        if (p->ingest[i] > max_ingest)
            max_ingest = p->ingest[i];
    }
    struct logs_seg *s = &g->segs[g->n_segs - 1];
    s->size += buf->len;
    if (max_ingest > s->max_ingest_ms)
        s->max_ingest_ms = max_ingest;
    pthread_rwlock_unlock(&g->rw);
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < p->n; i++)
        logs_stream_note(g->by_no[p->ent[i].stream], p->ent[i].ts_ms, p->ingest[i],
                         sizeof(struct rec_hdr) + p->ent[i].len);
    g->stored_bytes += buf->len;
    pthread_mutex_unlock(&l->mu);
    g->wsize += buf->len;
    g->dirty = g->dirty || buf->len > 0;
    atomic_fetch_add_explicit(&l->n_written, p->n, memory_order_relaxed);
    p->n = 0;
    qr_buf_reset(buf);
    return true;
}

/* Writes one group's events of this batch (list at g->b_head), freeing them. */
static void write_group(struct logs *l, struct logs_group *g, struct qr_buf *buf, struct pending *p)
{
    bool ok = g->persisted && g->n_persisted > 0 && open_segment(l, g, false);
    for (struct logs_qitem *it = g->b_head, *next; it; it = next) {
        next = it->next;
        size_t rec = sizeof(struct rec_hdr) + it->len;
        if (ok && g->wsize + buf->len > 0 && g->wsize + buf->len + rec > l->o.segment_bytes) {
            ok = commit(l, g, buf, p) && open_segment(l, g, true);
        }
        /* A stream the streams file could not take yet: its events cannot be named
         * after a restart, so they are dropped like a full queue's. */
        if (ok && it->s->no < g->n_persisted) {
            struct rec_hdr h = {LOGS_REC_MAGIC,    0,         it->s->no,
                                (uint32_t)it->len, it->ts_ms, it->ingest_ms};
            h.crc = logs_rec_crc(&h, it->msg);
            if (p->n == p->cap) {
                p->cap = p->cap ? 2 * p->cap : 256;
                p->ent = qr_xrealloc(p->ent, p->cap * sizeof(*p->ent));
                p->ingest = qr_xrealloc(p->ingest, p->cap * sizeof(*p->ingest));
            }
            p->ent[p->n] = (struct logs_ent){g->wseg, (uint32_t)(g->wsize + buf->len),
                                             (uint32_t)it->len, it->s->no, it->ts_ms};
            p->ingest[p->n++] = it->ingest_ms;
            (void)qr_buf_add(buf, &h, sizeof(h)); /* unbounded buffer */
            (void)qr_buf_add(buf, it->msg, it->len);
        } else {
            atomic_fetch_add_explicit(&l->n_dropped, 1, memory_order_relaxed);
        }
        free(it);
    }
    if (ok)
        (void)commit(l, g, buf, p); /* a failed write was counted nowhere: logs are lossy */
    g->b_head = g->b_tail = NULL;
    enforce_limits(l, g);
}

/* Writes a batch (a list of queued events, oldest first) group by group. */
static void write_batch(struct logs *l, struct logs_qitem *items, struct logs_group **dirty)
{
    struct logs_group *touched = NULL;
    for (struct logs_qitem *it = items, *next; it; it = next) {
        next = it->next;
        it->next = NULL;
        struct logs_group *g = it->g;
        if (!g->in_batch) {
            g->in_batch = true;
            g->batch_next = touched;
            touched = g;
        }
        if (g->b_tail)
            g->b_tail->next = it;
        else
            g->b_head = it;
        g->b_tail = it;
    }
    struct qr_buf buf;
    qr_buf_init(&buf, SIZE_MAX);
    struct pending p = {0};
    for (struct logs_group *g = touched, *next; g; g = next) {
        next = g->batch_next;
        g->in_batch = false;
        bool was_dirty = g->dirty;
        write_group(l, g, &buf, &p);
        if (g->dirty && !was_dirty) {
            g->sync_next = *dirty;
            *dirty = g;
        }
    }
    qr_buf_dispose(&buf);
    free(p.ent);
    free(p.ingest);
}

static void sync_all(struct logs_group **dirty)
{
    for (struct logs_group *g = *dirty, *next; g; g = next) {
        next = g->sync_next;
        sync_group(g);
        g->sync_next = NULL;
    }
    *dirty = NULL;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A CLOCK_MONOTONIC deadline (q_cv's clock) ms from now. */
static struct timespec deadline_in(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000;
    ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

static bool has_work(const struct logs *l)
{
    return l->stop || l->q_head || l->catalog_pending || l->flush_wanted;
}

/* Waits, holding l->q_mu, until there is work, or until the fsync timer of the
 * segments written since last_sync is due (then returns with nothing queued). */
static void wait_work(struct logs *l, bool dirty, int64_t last_sync)
{
    while (!has_work(l)) {
        l->w_idle = true; /* set and waited on under q_mu: no append can slip between */
        if (!dirty || !syncing(l)) {
            pthread_cond_wait(&l->q_cv, &l->q_mu);
            continue;
        }
        int64_t left = last_sync + (int64_t)l->o.fsync_ms - mono_ms();
        struct timespec ts = deadline_in(left > 0 ? left : 0);
        if (left <= 0 || pthread_cond_timedwait(&l->q_cv, &l->q_mu, &ts) == ETIMEDOUT)
            break;
    }
    l->w_idle = false;
}

/* Lets queued events gather for opts.batch_ms, holding l->q_mu, so a stream of lines
 * costs one wake-up and one write() per batch instead of per line. A flush, close or
 * a queue past q_high ends it at once; a catalog change alone does not start one. */
static void gather(struct logs *l)
{
    if (!l->q_head)
        return;
    struct timespec ts = deadline_in((int64_t)l->o.batch_ms);
    while (!l->stop && !l->flush_wanted && l->q_bytes < l->q_high) {
        l->w_gather = true;
        if (pthread_cond_timedwait(&l->q_cv, &l->q_mu, &ts) == ETIMEDOUT)
            break;
    }
    l->w_gather = false;
}

void *logs_writer_main(void *arg)
{
    struct logs *l = arg;
    struct logs_group *dirty = NULL;
    int64_t last_sync = mono_ms();
    for (;;) {
        pthread_mutex_lock(&l->q_mu);
        wait_work(l, dirty != NULL, last_sync);
        gather(l);
        struct logs_qitem *items = l->q_head;
        l->q_head = l->q_tail = NULL;
        l->q_bytes = 0;
        l->catalog_pending = false;
        l->flush_wanted = false;
        bool stop = l->stop;
        uint64_t cycle = ++l->cycles_begun;
        pthread_mutex_unlock(&l->q_mu);

        persist_catalog(l);
        write_batch(l, items, &dirty);
        int64_t now = mono_ms();
        if (syncing(l) && dirty && (stop || now - last_sync >= (int64_t)l->o.fsync_ms)) {
            sync_all(&dirty);
            last_sync = now;
        }

        pthread_mutex_lock(&l->q_mu);
        l->cycles_done = cycle;
        pthread_cond_broadcast(&l->done_cv);
        pthread_mutex_unlock(&l->q_mu);
        if (stop)
            break;
    }
    return NULL;
}
