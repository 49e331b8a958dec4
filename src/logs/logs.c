/*
 * logs.c - the log store's catalog (groups and streams in memory), logs_append's
 * bounded queue, and loading everything back at open.
 *
 * logs_append never does I/O: it finds or creates the group and stream in memory,
 * copies the event into the queue and wakes the logs thread (writer.c) only if that
 * waits. A full queue drops its oldest events rather than make the caller wait: the
 * caller is often the functions engine's event loop, and a stalled disk must not stall
 * invocations.
 * Opening reads every group's files once; a record cut short by a crash (bad magic,
 * bad crc, past the end) ends its segment, which is truncated there.
 */
#include "logs/logs_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <zlib.h>

#include "util/buf.h"
#include "util/ckd.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t logs_rec_crc(const struct rec_hdr *h, const uint8_t *msg)
{
    const uint8_t *p = (const uint8_t *)h;
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, p + 8, (uInt)(sizeof(*h) - 8));
    if (h->len)
        c = crc32(c, msg, (uInt)h->len);
    return (uint32_t)c;
}

void logs_event_id(const struct logs_group *g, uint64_t pos, char out[LOGS_EVENT_ID_LEN])
{
    /* 20 digits of the group hash, 12 of the segment, 24 of the offset: 56 digits like
     * AWS's ids, unique in the store and the same on every read. */
    snprintf(out, LOGS_EVENT_ID_LEN, "%020" PRIu64 "%012" PRIu32 "%024" PRIu32, g->hash64,
             (uint32_t)(pos >> 32), (uint32_t)pos);
}

/* ---- catalog ---- */

/* Binary search over n sorted names; name_at gives the i-th. Returns where name is
 * (*found) or would be inserted. */
static size_t name_search(const void *arr, size_t n,
                          struct qr_slice (*name_at)(const void *, size_t), struct qr_slice name,
                          bool *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = qr_slice_cmp(name_at(arr, mid), name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static struct qr_slice group_name_at(const void *arr, size_t i)
{
    const struct logs_group *const *g = arr;
    return qr_slice(g[i]->name, g[i]->name_len);
}

static struct qr_slice stream_name_at(const void *arr, size_t i)
{
    const struct logs_stream *const *st = arr;
    return qr_slice(st[i]->name, st[i]->name_len);
}

/* Index where name is or would be inserted in l->groups. Caller holds l->mu. */
static size_t group_slot(struct logs *l, struct qr_slice name, bool *found)
{
    return name_search(l->groups, l->n_groups, group_name_at, name, found);
}

struct logs_group *logs_find_group(struct logs *l, struct qr_slice name)
{
    bool found;
    size_t i = group_slot(l, name, &found);
    return found ? l->groups[i] : NULL;
}

static size_t stream_slot(struct logs_group *g, struct qr_slice name, bool *found)
{
    return name_search(g->by_name, g->n_streams, stream_name_at, name, found);
}

struct logs_stream *logs_find_stream(struct logs_group *g, struct qr_slice name)
{
    bool found;
    size_t i = stream_slot(g, name, &found);
    return found ? g->by_name[i] : NULL;
}

static void group_dir_name(struct qr_slice name, char dir[LOGS_DIR_LEN], uint64_t *hash64)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256(name.p ? name.p : (const uint8_t *)"", name.len, d);
    dir[0] = 'g';
    for (size_t i = 0; i < 16; i++) {
        dir[1 + 2 * i] = hex[d[i] >> 4];
        dir[2 + 2 * i] = hex[d[i] & 15];
    }
    dir[33] = '\0';
    uint64_t h = 0;
    for (size_t i = 0; i < 8; i++)
        h = h << 8 | d[i];
    *hash64 = h;
}

/* Makes a group in memory (not yet on disk) and inserts it. Caller holds l->mu. */
static struct logs_group *group_insert(struct logs *l, struct qr_slice name, size_t slot,
                                       int64_t creation_ms)
{
    struct logs_group *g = qr_xmalloc(sizeof(*g));
    memset(g, 0, sizeof(*g));
    g->name = qr_xmalloc(name.len);
    memcpy(g->name, name.p, name.len);
    g->name_len = name.len;
    group_dir_name(name, g->dir, &g->hash64);
    g->creation_ms = creation_ms;
    pthread_rwlock_init(&g->rw, NULL);
    g->dir_fd = -1;
    g->wfd = -1;
    g->next_seg = 1;
    if (l->n_groups == l->cap_groups) {
        l->cap_groups = l->cap_groups ? 2 * l->cap_groups : 16;
        l->groups = qr_xrealloc(l->groups, l->cap_groups * sizeof(*l->groups));
    }
    memmove(&l->groups[slot + 1], &l->groups[slot], (l->n_groups - slot) * sizeof(*l->groups));
    l->groups[slot] = g;
    l->n_groups++;
    return g;
}

/* Makes a stream with the next number and inserts it. Caller holds l->mu. */
static struct logs_stream *stream_insert(struct logs_group *g, struct qr_slice name, size_t slot,
                                         int64_t creation_ms)
{
    struct logs_stream *s = qr_xmalloc(sizeof(*s));
    memset(s, 0, sizeof(*s));
    s->name = qr_xmalloc(name.len);
    memcpy(s->name, name.p, name.len);
    s->name_len = name.len;
    s->no = (uint32_t)g->n_streams;
    s->creation_ms = creation_ms;
    if (g->n_streams == g->cap_streams) {
        g->cap_streams = g->cap_streams ? 2 * g->cap_streams : 8;
        g->by_no = qr_xrealloc(g->by_no, g->cap_streams * sizeof(*g->by_no));
        g->by_name = qr_xrealloc(g->by_name, g->cap_streams * sizeof(*g->by_name));
    }
    memmove(&g->by_name[slot + 1], &g->by_name[slot], (g->n_streams - slot) * sizeof(*g->by_name));
    g->by_name[slot] = s;
    g->by_no[g->n_streams++] = s;
    return s;
}

static void group_free(struct logs_group *g)
{
    for (size_t i = 0; i < g->n_streams; i++) {
        free(g->by_no[i]->name);
        free(g->by_no[i]);
    }
    free(g->by_no);
    free(g->by_name);
    free(g->ent);
    free(g->segs);
    if (g->wfd >= 0)
        close(g->wfd);
    if (g->dir_fd >= 0)
        close(g->dir_fd);
    pthread_rwlock_destroy(&g->rw);
    free(g->name);
    free(g);
}

static bool name_ok(struct qr_slice n)
{
    return n.len >= 1 && n.len <= LOGS_MAX_NAME;
}

/* Finds or creates group (and stream when stream.len) in memory. Caller holds l->mu.
 * Sets *created when something new needs writing. */
static void ensure(struct logs *l, struct qr_slice group, struct qr_slice stream,
                   struct logs_group **out_g, struct logs_stream **out_s, bool *created)
{
    bool found;
    size_t slot = group_slot(l, group, &found);
    struct logs_group *g = found ? l->groups[slot] : NULL;
    if (!g) {
        g = group_insert(l, group, slot, now_ms());
        logs_mark_dirty(l, g);
        *created = true;
    }
    struct logs_stream *s = NULL;
    if (stream.len) {
        slot = stream_slot(g, stream, &found);
        s = found ? g->by_name[slot] : stream_insert(g, stream, slot, now_ms());
        if (!found) {
            logs_mark_dirty(l, g);
            *created = true;
        }
    }
    *out_g = g;
    *out_s = s;
}

void logs_mark_dirty(struct logs *l, struct logs_group *g)
{
    if (g->cat_dirty)
        return;
    g->cat_dirty = true;
    g->cat_next = l->cat_dirty;
    l->cat_dirty = g;
}

/* Ends the logs thread's wait, whichever it is in. Caller holds l->q_mu. */
static void wake_writer(struct logs *l)
{
    l->w_idle = l->w_gather = false;
    l->n_wake++;
    pthread_cond_signal(&l->q_cv);
}

static void catalog_changed(struct logs *l)
{
    pthread_mutex_lock(&l->q_mu);
    l->catalog_pending = true;
    wake_writer(l);
    pthread_mutex_unlock(&l->q_mu);
}

enum qr_err logs_group_create(struct logs *l, struct qr_slice group)
{
    if (!name_ok(group))
        return QR_E_BAD_INPUT;
    pthread_mutex_lock(&l->mu);
    bool found;
    size_t slot = group_slot(l, group, &found);
    if (!found)
        logs_mark_dirty(l, group_insert(l, group, slot, now_ms()));
    pthread_mutex_unlock(&l->mu);
    if (found)
        return LOGS_E_EXISTS;
    catalog_changed(l);
    return QR_OK;
}

enum qr_err logs_stream_create(struct logs *l, struct qr_slice group, struct qr_slice stream)
{
    enum qr_err e = QR_OK;
    if (!name_ok(group) || !name_ok(stream))
        return QR_E_BAD_INPUT;
    pthread_mutex_lock(&l->mu);
    struct logs_group *g = logs_find_group(l, group);
    bool found = false;
    size_t slot = 0;
    if (!g)
        e = LOGS_E_NO_GROUP;
    else
        slot = stream_slot(g, stream, &found);
    if (!e && found)
        e = LOGS_E_EXISTS;
    if (!e) {
        (void)stream_insert(g, stream, slot, now_ms()); /* owned by g */
        logs_mark_dirty(l, g);
    }
    pthread_mutex_unlock(&l->mu);
    if (!e)
        catalog_changed(l);
    return e;
}

bool logs_group_exists(struct logs *l, struct qr_slice group)
{
    pthread_mutex_lock(&l->mu);
    bool r = logs_find_group(l, group) != NULL;
    pthread_mutex_unlock(&l->mu);
    return r;
}

/* ---- append ---- */

enum qr_err logs_append(struct logs *l, struct qr_slice group, struct qr_slice stream,
                        int64_t ts_ms, struct qr_slice message)
{
    if (!name_ok(group) || !name_ok(stream))
        return QR_E_BAD_INPUT;
    if (message.len > LOGS_MAX_MESSAGE)
        return QR_E_TOO_LARGE;
    struct logs_qitem *it = qr_xmalloc(sizeof(*it) + message.len);
    it->next = NULL;
    it->ts_ms = ts_ms;
    it->ingest_ms = now_ms();
    it->len = message.len;
    if (message.len)
        memcpy(it->msg, message.p, message.len);
    size_t cost = sizeof(*it) + message.len;

    bool created = false;
    pthread_mutex_lock(&l->mu);
    ensure(l, group, stream, &it->g, &it->s, &created);
    pthread_mutex_unlock(&l->mu);

    struct logs_qitem *dropped = NULL;
    uint64_t n_dropped = 0;
    pthread_mutex_lock(&l->q_mu);
    /* Full: the oldest events go, so the newest (the ones that explain a failure that
     * is happening now) survive. Freed after unlocking. */
    while (l->q_head && l->q_bytes + cost > l->o.queue_bytes) {
        struct logs_qitem *d = l->q_head;
        l->q_head = d->next;
        if (!l->q_head)
            l->q_tail = NULL;
        l->q_bytes -= sizeof(*d) + d->len;
        d->next = dropped;
        dropped = d;
        n_dropped++;
    }
    it->seq = ++l->q_seq;
    if (l->q_tail)
        l->q_tail->next = it;
    else
        l->q_head = it;
    l->q_tail = it;
    l->q_bytes += cost;
    if (created)
        l->catalog_pending = true;
    /* Signal only a logs thread that is idle (the queue was empty) or gathering past the
     * high-water mark; otherwise it is busy and takes the whole queue when done. */
    if (l->w_idle || (l->w_gather && l->q_bytes >= l->q_high))
        wake_writer(l);
    pthread_mutex_unlock(&l->q_mu);

    while (dropped) {
        struct logs_qitem *d = dropped;
        dropped = d->next;
        free(d);
    }
    atomic_fetch_add_explicit(&l->n_appended, 1, memory_order_relaxed);
    if (n_dropped)
        atomic_fetch_add_explicit(&l->n_dropped, n_dropped, memory_order_relaxed);
    return QR_OK;
}

void logs_flush(struct logs *l)
{
    pthread_mutex_lock(&l->q_mu);
    uint64_t want = l->cycles_begun + 1;
    l->flush_wanted = true;
    wake_writer(l);
    while (l->cycles_done < want && l->thr_started)
        pthread_cond_wait(&l->done_cv, &l->q_mu);
    pthread_mutex_unlock(&l->q_mu);
}

void logs_stats(struct logs *l, struct logs_stats *out)
{
    out->appended = atomic_load_explicit(&l->n_appended, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&l->n_dropped, memory_order_relaxed);
    out->written = atomic_load_explicit(&l->n_written, memory_order_relaxed);
    out->segments_removed = atomic_load_explicit(&l->n_removed, memory_order_relaxed);
}

/* ---- loading ---- */

/* Reads a whole small file relative to dfd into b (max bounds it). */
static enum qr_err read_file(int dfd, const char *name, struct qr_buf *b)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return QR_E_IO;
    enum qr_err e = QR_OK;
    uint8_t tmp[65536];
    for (;;) {
        ssize_t r = read(fd, tmp, sizeof(tmp));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = QR_E_IO;
            break;
        }
        if (r == 0)
            break;
        e = qr_buf_add(b, tmp, (size_t)r);
        if (e)
            break;
    }
    close(fd);
    return e;
}

/* Cuts a torn tail so the next append lands right after the last good record. If this
 * fails the file stays as it was: loading stops at the same record next time, and
 * what is appended after the torn bytes is lost then, never misread. */
static void truncate_at(int dfd, const char *name, uint64_t len)
{
    int fd = openat(dfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    int r = ftruncate(fd, (off_t)len); /* see above: failure is survivable */
    (void)r;
    close(fd);
}

static bool rd32(const struct qr_buf *b, size_t *pos, uint32_t *v)
{
    if (b->len - *pos < 4)
        return false;
    memcpy(v, b->p + *pos, 4);
    *pos += 4;
    return true;
}

static bool rd64(const struct qr_buf *b, size_t *pos, int64_t *v)
{
    if (b->len - *pos < 8)
        return false;
    memcpy(v, b->p + *pos, 8);
    *pos += 8;
    return true;
}

/* Loads the streams file; a torn last record is cut off. */
static void load_streams(struct logs_group *g)
{
    struct qr_buf b;
    qr_buf_init(&b, (size_t)1 << 30);
    if (read_file(g->dir_fd, "streams", &b) != QR_OK) {
        qr_buf_dispose(&b);
        return;
    }
    size_t pos = 0, good = 0;
    for (;;) {
        uint32_t magic, no, len;
        int64_t cr;
        if (!rd32(&b, &pos, &magic) || magic != LOGS_STREAM_MAGIC || !rd32(&b, &pos, &no) ||
            !rd64(&b, &pos, &cr) || !rd32(&b, &pos, &len) || len == 0 || len > LOGS_MAX_NAME ||
            b.len - pos < len || no != g->n_streams)
            break;
        struct qr_slice name = qr_slice(b.p + pos, len);
        pos += len;
        bool found;
        size_t slot = stream_slot(g, name, &found);
        if (found)
            break;
        (void)stream_insert(g, name, slot, cr);
        good = pos;
    }
    if (good < b.len)
        truncate_at(g->dir_fd, "streams", good);
    g->n_persisted = g->n_streams;
    qr_buf_dispose(&b);
}

void logs_seg_add(struct logs_group *g, uint32_t no, uint64_t size, int64_t max_ingest)
{
    if (g->n_segs == g->cap_segs) {
        g->cap_segs = g->cap_segs ? 2 * g->cap_segs : 8;
        g->segs = qr_xrealloc(g->segs, g->cap_segs * sizeof(*g->segs));
    }
    g->segs[g->n_segs++] = (struct logs_seg){no, size, max_ingest};
    if (no >= g->next_seg)
        g->next_seg = no + 1;
    g->stored_bytes += size;
}

void logs_index_add(struct logs_group *g, const struct logs_ent *e)
{
    if (g->n_ent == g->cap_ent) {
        if (g->ent_start > g->n_ent / 2) {
            /* Most of the array is entries of removed segments: slide instead of grow. */
            memmove(g->ent, g->ent + g->ent_start, (g->n_ent - g->ent_start) * sizeof(*g->ent));
            g->n_ent -= g->ent_start;
            g->ent_start = 0;
        } else {
            g->cap_ent = g->cap_ent ? 2 * g->cap_ent : 1024;
            g->ent = qr_xrealloc(g->ent, g->cap_ent * sizeof(*g->ent));
        }
    }
    g->ent[g->n_ent++] = *e;
}

void logs_stream_note(struct logs_stream *s, int64_t ts, int64_t ingest, uint64_t bytes)
{
    if (!s->has_events || ts < s->first_ms)
        s->first_ms = ts;
    if (!s->has_events || ts > s->last_ms)
        s->last_ms = ts;
    if (!s->has_events || ingest > s->last_ingest_ms)
        s->last_ingest_ms = ingest;
    s->has_events = true;
    s->stored_bytes += bytes;
}

/* Indexes one segment file, cutting it at the first bad record. */
static void load_segment(struct logs_group *g, uint32_t no)
{
    char name[32];
    snprintf(name, sizeof(name), "%010" PRIu32 ".seg", no);
    struct qr_buf b;
    qr_buf_init(&b, (size_t)1 << 31);
    if (read_file(g->dir_fd, name, &b) != QR_OK) {
        qr_buf_dispose(&b);
        return;
    }
    size_t pos = 0;
    int64_t max_ingest = 0;
    while (b.len - pos >= sizeof(struct rec_hdr) && pos <= UINT32_MAX) {
        struct rec_hdr h;
        memcpy(&h, b.p + pos, sizeof(h));
        if (h.magic != LOGS_REC_MAGIC || h.len > LOGS_MAX_MESSAGE ||
            b.len - pos - sizeof(h) < h.len || logs_rec_crc(&h, b.p + pos + sizeof(h)) != h.crc)
            break;
        if (h.stream < g->n_streams) {
            /* A stream missing from a torn streams file loses its events: they cannot
             * be named. */
            struct logs_ent e = {no, (uint32_t)pos, h.len, h.stream, h.ts_ms};
            logs_index_add(g, &e);
            logs_stream_note(g->by_no[h.stream], h.ts_ms, h.ingest_ms, sizeof(h) + h.len);
        }
        if (h.ingest_ms > max_ingest)
            max_ingest = h.ingest_ms;
        pos += sizeof(h) + h.len;
    }
    if (pos < b.len)
        truncate_at(g->dir_fd, name, pos);
    logs_seg_add(g, no, pos, max_ingest);
    qr_buf_dispose(&b);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Segment numbers in the group directory, ascending. */
static void load_segments(struct logs_group *g)
{
    int fd = openat(g->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    uint32_t *nos = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *s = de->d_name;
        if (strlen(s) != 14 || strcmp(s + 10, ".seg") != 0)
            continue;
        uint64_t v;
        if (!qr_slice_u64(qr_slice(s, 10), UINT32_MAX, &v) || v == 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            nos = qr_xrealloc(nos, cap * sizeof(*nos));
        }
        nos[n++] = (uint32_t)v;
    }
    closedir(d);
    if (n)
        qsort(nos, n, sizeof(*nos), cmp_u32);
    for (size_t i = 0; i < n; i++)
        load_segment(g, nos[i]);
    free(nos);
}

/* Loads one group directory (name "g<32 hex>") if its group file names it. */
static void load_group(struct logs *l, const char *dname)
{
    int dfd = openat(l->dir_fd, dname, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0)
        return;
    struct qr_buf b;
    qr_buf_init(&b, 64 + LOGS_MAX_NAME);
    size_t pos = 0;
    uint32_t magic, len;
    int64_t cr;
    bool ok = read_file(dfd, "group", &b) == QR_OK && rd32(&b, &pos, &magic) &&
              magic == LOGS_GROUP_MAGIC && rd64(&b, &pos, &cr) && rd32(&b, &pos, &len) &&
              len >= 1 && len <= LOGS_MAX_NAME && b.len - pos == len;
    char dir[LOGS_DIR_LEN];
    uint64_t h;
    struct qr_slice name = ok ? qr_slice(b.p + pos, len) : qr_slice(NULL, 0);
    if (ok) {
        group_dir_name(name, dir, &h);
        ok = strcmp(dir, dname) == 0;
    }
    bool found = false;
    size_t slot = ok ? group_slot(l, name, &found) : 0;
    if (!ok || found) {
        close(dfd);
        qr_buf_dispose(&b);
        return;
    }
    struct logs_group *g = group_insert(l, name, slot, cr);
    g->dir_fd = dfd;
    g->persisted = true;
    load_streams(g);
    load_segments(g);
    qr_buf_dispose(&b);
}

static enum qr_err load_all(struct logs *l)
{
    int fd = openat(l->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return QR_E_IO;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) == LOGS_DIR_LEN - 1 && de->d_name[0] == 'g')
            load_group(l, de->d_name);
    }
    closedir(d);
    return QR_OK;
}

static void fill_defaults(struct logs_opts *o)
{
    if (o->group_cap_bytes == 0)
        o->group_cap_bytes = 64ull << 20;
    if (o->segment_bytes == 0)
        o->segment_bytes = 4ull << 20;
    if (o->segment_bytes > (1ull << 30)) /* record offsets are 32-bit */
        o->segment_bytes = 1ull << 30;
    if (o->queue_bytes == 0)
        o->queue_bytes = 16ull << 20;
    if (o->fsync_ms == 0)
        o->fsync_ms = 1000;
    if (o->batch_ms == 0)
        o->batch_ms = 2;
    if (o->batch_ms > 60000)
        o->batch_ms = 60000;
}

enum qr_err logs_open(const char *data_dir, const struct logs_opts *o, struct logs **out)
{
    enum qr_err e = QR_OK;
    struct logs *l = qr_xmalloc(sizeof(*l));
    memset(l, 0, sizeof(*l));
    l->dir_fd = -1;
    if (o)
        l->o = *o;
    fill_defaults(&l->o);
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->q_mu, NULL);
    /* The logs thread's timed waits are intervals: a wall-clock step must not stretch them. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->q_cv, &ca);
    pthread_condattr_destroy(&ca);
    l->q_high = (size_t)(l->o.queue_bytes / LOGS_QUEUE_HIGH_DIV);
    pthread_cond_init(&l->done_cv, NULL);

    int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        e = QR_E_IO;
        goto out;
    }
    if (mkdirat(dfd, "logs", 0700) != 0 && errno != EEXIST) {
        close(dfd);
        e = QR_E_IO;
        goto out;
    }
    l->dir_fd = openat(dfd, "logs", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    close(dfd);
    if (l->dir_fd < 0) {
        e = QR_E_IO;
        goto out;
    }
    e = load_all(l);
    if (e)
        goto out;
    if (pthread_create(&l->thr, NULL, logs_writer_main, l) != 0) {
        e = QR_E_INTERNAL;
        goto out;
    }
    l->thr_started = true;
    (void)pthread_setname_np(l->thr, "quarry-logs"); /* for top -H and perf; cosmetic */
out:
    if (e) {
        logs_close(l);
        return e;
    }
    *out = l;
    return QR_OK;
}

void logs_close(struct logs *l)
{
    if (!l)
        return;
    if (l->thr_started) {
        pthread_mutex_lock(&l->q_mu);
        l->stop = true;
        wake_writer(l);
        pthread_mutex_unlock(&l->q_mu);
        pthread_join(l->thr, NULL);
    }
    while (l->q_head) {
        struct logs_qitem *d = l->q_head;
        l->q_head = d->next;
        free(d);
    }
    for (size_t i = 0; i < l->n_groups; i++)
        group_free(l->groups[i]);
    free(l->groups);
    if (l->dir_fd >= 0)
        close(l->dir_fd);
    pthread_cond_destroy(&l->done_cv);
    pthread_cond_destroy(&l->q_cv);
    pthread_mutex_destroy(&l->q_mu);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
