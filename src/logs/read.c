/*
 * read.c - the store's read calls: list groups and streams (memory only), filter a
 * group's events and read one stream's events (index in memory, messages by pread).
 *
 * Every call is bounded: at most LOGS_SCAN_MAX index entries examined, LOGS_READ_MAX
 * message bytes returned and LOGS_SCAN_READ message bytes read for pattern matching;
 * when a bound stops a scan the token says where to go on. A scan covers only the
 * index entries that existed when it began, after snapshotting the streams, so every
 * entry it sees names a stream it knows. Tokens are positions (segment, offset), which
 * never change and are never reused, so paging survives segments being removed.
 */
#include "logs/logs_int.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"

#define LOGS_SCAN_READ (16u * 1024u * 1024u) /* bytes read to test patterns, per call */

/* ---- tokens ---- */

static const char hexd[] = "0123456789abcdef";

static void hex_name(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[p[i] >> 4];
        out[2 * i + 1] = hexd[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexv(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes lower-case hex into out (at most LOGS_MAX_NAME bytes). */
static bool unhex(struct qr_slice s, uint8_t out[LOGS_MAX_NAME], size_t *out_len)
{
    if (s.len == 0 || s.len % 2 || s.len / 2 > LOGS_MAX_NAME)
        return false;
    for (size_t i = 0; i < s.len / 2; i++) {
        int a = hexv(s.p[2 * i]), b = hexv(s.p[2 * i + 1]);
        if (a < 0 || b < 0)
            return false;
        out[i] = (uint8_t)(a << 4 | b);
    }
    *out_len = s.len / 2;
    return true;
}

static void pos_token(const char *prefix, uint64_t pos, char out[LOGS_TOKEN_LEN])
{
    snprintf(out, LOGS_TOKEN_LEN, "%s%020" PRIu64, prefix, pos);
}

static bool parse_pos(struct qr_slice s, uint64_t *out)
{
    return s.len == 20 && qr_slice_u64(s, UINT64_MAX, out);
}

/* ---- lists ---- */

void logs_list_free(struct logs_list *p)
{
    free(p->groups);
    free(p->streams);
    p->groups = NULL;
    p->streams = NULL;
    p->n = 0;
}

enum qr_err logs_list_groups(struct logs *l, struct qr_slice prefix, size_t limit,
                             struct qr_slice token, struct logs_list *out)
{
    uint8_t after[LOGS_MAX_NAME];
    size_t after_len = 0;
    if (limit < 1 || limit > LOGS_MAX_LIST || (token.len && !unhex(token, after, &after_len)))
        return QR_E_BAD_INPUT;
    memset(out, 0, sizeof(*out));
    out->groups = qr_xmalloc(limit * sizeof(*out->groups));
    pthread_mutex_lock(&l->mu);
    /* Binary search for the first name >= prefix (or > the token's name). */
    struct qr_slice from = token.len ? qr_slice(after, after_len) : prefix;
    size_t lo = 0, hi = l->n_groups;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = qr_slice_cmp(qr_slice(l->groups[mid]->name, l->groups[mid]->name_len), from);
        if (c < 0 || (c == 0 && token.len))
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < l->n_groups; i++) {
        const struct logs_group *g = l->groups[i];
        struct qr_slice name = qr_slice(g->name, g->name_len);
        if (!qr_slice_starts(name, prefix))
            break;
        if (out->n == limit) {
            const struct logs_group *last = l->groups[i - 1];
            hex_name(last->name, last->name_len, out->next_token);
            out->has_next = true;
            break;
        }
        out->groups[out->n++] = (struct logs_group_info){name, g->creation_ms, g->stored_bytes};
    }
    pthread_mutex_unlock(&l->mu);
    return QR_OK;
}

struct stream_key {
    struct qr_slice name;
    int64_t last_ms;
};

static int key_cmp(enum logs_stream_order o, const struct stream_key *a, const struct stream_key *b)
{
    if (o == LOGS_ORDER_LAST_EVENT && a->last_ms != b->last_ms)
        return a->last_ms < b->last_ms ? -1 : 1;
    return qr_slice_cmp(a->name, b->name);
}

struct sort_ent {
    struct stream_key k;
    const struct logs_stream *s;
};

static int cmp_time_asc(const void *a, const void *b)
{
    return key_cmp(LOGS_ORDER_LAST_EVENT, &((const struct sort_ent *)a)->k,
                   &((const struct sort_ent *)b)->k);
}

/* Token of a stream list: "<last_ms>.<hex name>" of the last stream returned. */
static bool parse_stream_token(struct qr_slice t, uint8_t buf[LOGS_MAX_NAME], struct stream_key *k)
{
    size_t dot = 0;
    while (dot < t.len && t.p[dot] != '.')
        dot++;
    uint64_t ms;
    size_t n;
    if (dot == t.len || !qr_slice_u64(qr_slice(t.p, dot), INT64_MAX, &ms) ||
        !unhex(qr_slice(t.p + dot + 1, t.len - dot - 1), buf, &n))
        return false;
    k->last_ms = (int64_t)ms;
    k->name = qr_slice(buf, n);
    return true;
}

enum qr_err logs_list_streams(struct logs *l, const struct logs_stream_q *q, struct logs_list *out)
{
    uint8_t tbuf[LOGS_MAX_NAME];
    struct stream_key after = {{NULL, 0}, 0};
    if (q->limit < 1 || q->limit > LOGS_MAX_LIST ||
        (q->token.len && !parse_stream_token(q->token, tbuf, &after)))
        return QR_E_BAD_INPUT;
    enum qr_err e = QR_OK;
    memset(out, 0, sizeof(*out));
    struct sort_ent *v = NULL;
    size_t n = 0;
    pthread_mutex_lock(&l->mu);
    struct logs_group *g = logs_find_group(l, q->group);
    if (!g) {
        e = LOGS_E_NO_GROUP;
        goto out;
    }
    v = qr_xmalloc((g->n_streams + 1) * sizeof(*v));
    for (size_t i = 0; i < g->n_streams; i++) {
        const struct logs_stream *s = g->by_name[i];
        struct qr_slice name = qr_slice(s->name, s->name_len);
        if (!qr_slice_starts(name, q->prefix))
            continue;
        v[n++] = (struct sort_ent){{name, s->has_events ? s->last_ms : 0}, s};
    }
    /* by_name is already in name order; only LastEventTime needs a sort. */
    if (q->order == LOGS_ORDER_LAST_EVENT)
        qsort(v, n, sizeof(*v), cmp_time_asc);
    out->streams = qr_xmalloc(q->limit * sizeof(*out->streams));
    for (size_t k = 0; k < n; k++) {
        const struct sort_ent *se = &v[q->descending ? n - 1 - k : k];
        if (q->token.len) {
            int c = key_cmp(q->order, &se->k, &after);
            if (q->descending ? c >= 0 : c <= 0)
                continue;
        }
        if (out->n == q->limit) {
            const struct logs_stream_info *last = &out->streams[out->n - 1];
            int w = snprintf(out->next_token, sizeof(out->next_token), "%" PRId64 ".",
                             q->order == LOGS_ORDER_LAST_EVENT ? last->last_event_ms : 0);
            hex_name(last->name.p, last->name.len, out->next_token + w);
            out->has_next = true;
            break;
        }
        const struct logs_stream *s = se->s;
        out->streams[out->n++] = (struct logs_stream_info){qr_slice(s->name, s->name_len),
                                                           s->creation_ms,
                                                           s->has_events,
                                                           s->first_ms,
                                                           s->last_ms,
                                                           s->last_ingest_ms,
                                                           s->stored_bytes};
    }
out:
    pthread_mutex_unlock(&l->mu);
    free(v);
    return e;
}

/* ---- events ---- */

void logs_events_free(struct logs_events *p)
{
    free(p->ev);
    free(p->_mem);
    p->ev = NULL;
    p->_mem = NULL;
    p->n = 0;
}

/* Reads messages of one group, keeping the last segment open. */
struct seg_reader {
    const struct logs_group *g;
    int fd;
    uint32_t seg;
};

/* Output being built: events with message offsets into mem, fixed up at the end. */
struct ev_out {
    struct logs_event *ev;
    size_t *off;
    size_t n;
    uint8_t *mem; /* all messages, back to back */
    size_t len, cap;
};

/* Appends entry e's message to o->mem; sets *ingest. Caller holds g->rw shared. */
static enum qr_err read_msg(struct seg_reader *r, const struct logs_ent *e, struct ev_out *o,
                            int64_t *ingest)
{
    if (r->fd < 0 || r->seg != e->seg) {
        if (r->fd >= 0)
            close(r->fd);
        char name[32];
        snprintf(name, sizeof(name), "%010" PRIu32 ".seg", e->seg);
        r->fd = openat(r->g->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        r->seg = e->seg;
        if (r->fd < 0)
            return QR_E_IO;
    }
    struct rec_hdr h;
    if (pread(r->fd, &h, sizeof(h), e->off) != (ssize_t)sizeof(h) || h.magic != LOGS_REC_MAGIC ||
        h.len != e->len)
        return QR_E_IO;
    /* Sizes are bounded by the callers' budgets (LOGS_SCAN_READ + one message). */
    if (o->cap - o->len < e->len) {
        o->cap = 2 * o->cap + e->len;
        o->mem = qr_xrealloc(o->mem, o->cap);
    }
    if (e->len &&
        pread(r->fd, o->mem + o->len, e->len, (off_t)e->off + (off_t)sizeof(h)) != (ssize_t)e->len)
        return QR_E_IO;
    o->len += e->len;
    *ingest = h.ingest_ms;
    return QR_OK;
}

static void out_init(struct ev_out *o, size_t limit)
{
    o->ev = qr_xmalloc(limit * sizeof(*o->ev));
    o->off = qr_xmalloc(limit * sizeof(*o->off));
    o->n = 0;
    o->mem = NULL;
    o->len = o->cap = 0;
}

static void out_finish(struct ev_out *o, struct logs_events *res)
{
    res->_mem = o->mem;
    for (size_t i = 0; i < o->n; i++)
        o->ev[i].message.p = res->_mem ? res->_mem + o->off[i] : NULL;
    res->ev = o->ev;
    res->n = o->n;
    free(o->off);
}

static void out_discard(struct ev_out *o)
{
    free(o->ev);
    free(o->off);
    free(o->mem);
}

static bool in_time(bool has_start, int64_t start, bool has_end, int64_t end, int64_t ts)
{
    return (!has_start || ts >= start) && (!has_end || ts < end);
}

/* Snapshot of a group's streams: names by number, and which ones a query wants. */
struct snap {
    struct logs_group *g;
    size_t n_ent; /* index entries [.., n_ent) existed at the snapshot */
    size_t n;
    struct qr_slice *names;
    bool *want;
};

/* Takes g->rw shared (kept until snap_release), then the stream names. */
static enum qr_err snap_take(struct logs *l, struct qr_slice group, struct snap *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_lock(&l->mu);
    s->g = logs_find_group(l, group);
    pthread_mutex_unlock(&l->mu);
    if (!s->g)
        return LOGS_E_NO_GROUP;
    pthread_rwlock_rdlock(&s->g->rw);
    s->n_ent = s->g->n_ent;
    pthread_mutex_lock(&l->mu);
    s->n = s->g->n_streams;
    s->names = qr_xmalloc((s->n + 1) * sizeof(*s->names));
    s->want = qr_xmalloc(s->n + 1);
    for (size_t i = 0; i < s->n; i++) {
        s->names[i] = qr_slice(s->g->by_no[i]->name, s->g->by_no[i]->name_len);
        s->want[i] = false;
    }
    pthread_mutex_unlock(&l->mu);
    return QR_OK;
}

static void snap_release(struct snap *s)
{
    if (s->g)
        pthread_rwlock_unlock(&s->g->rw);
    free(s->names);
    free(s->want);
}

size_t logs_ent_lower_bound(const struct logs_group *g, uint64_t pos)
{
    size_t lo = g->ent_start, hi = g->n_ent;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (logs_ent_pos(&g->ent[mid]) < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void emit(struct ev_out *o, const struct snap *s, const struct logs_ent *e, int64_t ingest,
                 size_t msg_at)
{
    struct logs_event *ev = &o->ev[o->n];
    ev->stream = s->names[e->stream];
    ev->ts_ms = e->ts_ms;
    ev->ingest_ms = ingest;
    ev->message = qr_slice(NULL, e->len);
    logs_event_id(s->g, logs_ent_pos(e), ev->event_id);
    o->off[o->n++] = msg_at;
}

enum qr_err logs_filter(struct logs *l, const struct logs_filter_q *q, struct logs_events *out)
{
    uint64_t from = 0;
    if (q->limit < 1 || q->limit > LOGS_MAX_LIMIT || (q->token.len && !parse_pos(q->token, &from)))
        return QR_E_BAD_INPUT;
    struct snap s;
    enum qr_err e = snap_take(l, q->group, &s);
    if (e) {
        snap_release(&s);
        return e;
    }
    for (size_t i = 0; i < s.n; i++) {
        if (q->streams) {
            for (size_t k = 0; k < q->n_streams && !s.want[i]; k++)
                s.want[i] = qr_slice_eq(s.names[i], q->streams[k]);
        } else {
            s.want[i] = qr_slice_starts(s.names[i], q->prefix);
        }
    }
    memset(out, 0, sizeof(*out));
    struct ev_out o;
    out_init(&o, q->limit);
    struct seg_reader r = {s.g, -1, 0};
    const struct logs_group *g = s.g;
    size_t examined = 0, scanned_bytes = 0;
    for (size_t i = q->token.len ? logs_ent_lower_bound(g, from) : g->ent_start; i < s.n_ent; i++) {
        const struct logs_ent *en = &g->ent[i];
        if (o.n == q->limit || o.len >= LOGS_READ_MAX || examined >= LOGS_SCAN_MAX ||
            scanned_bytes >= LOGS_SCAN_READ) {
            out->has_next = true;
            pos_token("", logs_ent_pos(en), out->next_token);
            break;
        }
        examined++;
        if (en->stream >= s.n || !s.want[en->stream] ||
            !in_time(q->has_start, q->start_ms, q->has_end, q->end_ms, en->ts_ms))
            continue;
        if (o.n && o.len + en->len > LOGS_READ_MAX) {
            out->has_next = true;
            pos_token("", logs_ent_pos(en), out->next_token);
            break;
        }
        size_t at = o.len;
        int64_t ingest;
        e = read_msg(&r, en, &o, &ingest);
        if (e)
            break;
        scanned_bytes += en->len;
        if (q->pattern && !logs_pattern_match(q->pattern, qr_slice(o.mem + at, en->len))) {
            o.len = at;
            continue;
        }
        emit(&o, &s, en, ingest, at);
    }
    if (r.fd >= 0)
        close(r.fd);
    snap_release(&s);
    if (e) {
        out_discard(&o);
        return e;
    }
    out_finish(&o, out);
    return QR_OK;
}

/* GetLogEvents reading newest first from before position `before`. */
static enum qr_err get_backward(const struct logs_get_q *q, struct snap *s, uint32_t stream,
                                uint64_t before, struct logs_events *out, struct ev_out *o)
{
    const struct logs_group *g = s->g;
    size_t j = logs_ent_lower_bound(g, before);
    if (j > s->n_ent)
        j = s->n_ent;
    size_t *pick = qr_xmalloc(q->limit * sizeof(*pick));
    size_t np = 0, bytes = 0, examined = 0;
    bool budget = false;
    size_t i = j;
    for (; i > g->ent_start; i--) {
        const struct logs_ent *en = &g->ent[i - 1];
        if (np == q->limit || examined >= LOGS_SCAN_MAX ||
            (np && bytes + en->len > LOGS_READ_MAX)) {
            budget = np == 0;
            break;
        }
        examined++;
        if (en->stream != stream ||
            !in_time(q->has_start, q->start_ms, q->has_end, q->end_ms, en->ts_ms))
            continue;
        pick[np++] = i - 1;
        bytes += en->len;
    }
    enum qr_err e = QR_OK;
    struct seg_reader r = {g, -1, 0};
    for (size_t k = np; k > 0 && !e; k--) {
        const struct logs_ent *en = &g->ent[pick[k - 1]];
        size_t at = o->len;
        int64_t ingest;
        e = read_msg(&r, en, o, &ingest);
        if (!e)
            emit(o, s, en, ingest, at);
    }
    if (r.fd >= 0)
        close(r.fd);
    if (np) {
        pos_token("b/", logs_ent_pos(&g->ent[pick[np - 1]]), out->backward_token);
        pos_token("f/", logs_ent_pos(&g->ent[pick[0]]), out->next_token);
    } else {
        /* Nothing before: keep the backward token (or the position the budget reached)
         * and go forward from the newest entry examined. */
        uint64_t b = budget ? logs_ent_pos(&g->ent[i]) : before;
        pos_token("b/", b == UINT64_MAX ? 0 : b, out->backward_token);
        pos_token("f/", j > g->ent_start ? logs_ent_pos(&g->ent[j - 1]) : 0, out->next_token);
    }
    free(pick);
    return e;
}

/* GetLogEvents reading oldest first after position `after` (0: from the start). */
static enum qr_err get_forward(const struct logs_get_q *q, struct snap *s, uint32_t stream,
                               uint64_t after, struct logs_events *out, struct ev_out *o)
{
    const struct logs_group *g = s->g;
    struct seg_reader r = {g, -1, 0};
    enum qr_err e = QR_OK;
    size_t examined = 0;
    uint64_t last_seen = after;
    bool stopped = false;
    uint64_t first_pos = 0, last_pos = 0;
    for (size_t i = logs_ent_lower_bound(g, after + 1); i < s->n_ent; i++) {
        const struct logs_ent *en = &g->ent[i];
        if (o->n == q->limit || examined >= LOGS_SCAN_MAX ||
            (o->n && o->len + en->len > LOGS_READ_MAX)) {
            stopped = true;
            break;
        }
        examined++;
        last_seen = logs_ent_pos(en);
        if (en->stream != stream ||
            !in_time(q->has_start, q->start_ms, q->has_end, q->end_ms, en->ts_ms))
            continue;
        size_t at = o->len;
        int64_t ingest;
        e = read_msg(&r, en, o, &ingest);
        if (e)
            break;
        if (o->n == 0)
            first_pos = logs_ent_pos(en);
        last_pos = logs_ent_pos(en);
        emit(o, s, en, ingest, at);
    }
    if (r.fd >= 0)
        close(r.fd);
    /* At the end of the stream the forward token is the newest event returned, or the
     * token given when nothing is new: the CLI's paginator stops on an unchanged token.
     * A scan cut by the budget hands back how far it got so the next call progresses. */
    uint64_t f = o->n ? last_pos : after;
    if (stopped && o->n == 0)
        f = last_seen;
    pos_token("f/", f, out->next_token);
    pos_token("b/", o->n ? first_pos : after + 1, out->backward_token);
    return e;
}

enum qr_err logs_get(struct logs *l, const struct logs_get_q *q, struct logs_events *out)
{
    uint64_t pos = 0;
    bool backward = !q->start_from_head;
    if (q->limit < 1 || q->limit > LOGS_MAX_LIMIT)
        return QR_E_BAD_INPUT;
    if (q->token.len) {
        if (q->token.len < 2 || (q->token.p[0] != 'f' && q->token.p[0] != 'b') ||
            q->token.p[1] != '/' || !parse_pos(qr_slice(q->token.p + 2, q->token.len - 2), &pos))
            return QR_E_BAD_INPUT;
        backward = q->token.p[0] == 'b';
    } else if (backward) {
        pos = UINT64_MAX;
    }
    struct snap s;
    enum qr_err e = snap_take(l, q->group, &s);
    uint32_t stream = 0;
    if (!e) {
        size_t k = 0;
        while (k < s.n && !qr_slice_eq(s.names[k], q->stream))
            k++;
        if (k == s.n)
            e = LOGS_E_NO_STREAM;
        stream = (uint32_t)k;
    }
    if (e) {
        snap_release(&s);
        return e;
    }
    memset(out, 0, sizeof(*out));
    struct ev_out o;
    out_init(&o, q->limit);
    e = backward ? get_backward(q, &s, stream, pos, out, &o)
                 : get_forward(q, &s, stream, pos, out, &o);
    snap_release(&s);
    if (e) {
        out_discard(&o);
        memset(out, 0, sizeof(*out));
        return e;
    }
    out_finish(&o, out);
    return QR_OK;
}
