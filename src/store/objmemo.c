/*
 * objmemo.c - a reader's memo of the small objects it read in its current snapshot.
 *
 * A GET of a 4 KiB object spent a fifth of its CPU finding and copying the object's row
 * (SQL, B-tree descent, overflow pages), the same row every time for a hot object. An
 * event loop's reader holds one read transaction across requests while nothing is
 * committed (store_reader_fresh), so every read in that transaction sees the same
 * snapshot: a row read once in it is the row every later read in it would return. The
 * memo keeps such rows (inline, not SSE-C, at most MEMO_ENTRY_MAX bytes) and is emptied
 * whenever the reader starts a new snapshot, so it can never be staler than the reads it
 * replaces. A hit copies the entry into the request's pool: the arena is reset by the
 * next snapshot while a response may still be in flight.
 *
 * Layout: a bump arena of entries and a 4-way set-associative slot table; a slot is valid
 * when it carries the memo's current generation, so emptying is O(1) (generation + 1,
 * arena offset 0). A full set replaces one of its slots; a full arena starts over (the
 * working set is bigger than the memo, and what is hot comes back at the next reads).
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#define MEMO_SETS      2048u       /* power of two */
#define MEMO_WAYS      4u          /* slots per set: hot keys sharing a set stay */
#define MEMO_ARENA     (8u << 20)  /* bytes of entries per reader */
#define MEMO_ENTRY_MAX (16u << 10) /* larger rows are read from SQLite each time */

struct memo_slot {
    uint32_t gen; /* == memo->gen: valid */
    uint32_t off; /* entry's offset in the arena */
};

/* An entry in the arena: the result as store_obj_get_v fills it, its slices stored as
 * lengths, then the bytes in this order: bucket, key, version, headers, tags,
 * part_sizes, inline data. */
struct memo_ent {
    uint32_t hash;
    uint32_t blen, klen, vlen;
    bool with_data;
    struct store_obj o; /* pointers meaningless here; lengths valid */
};

struct obj_memo {
    uint64_t hits; /* reads served from the memo (tests) */
    uint64_t snap; /* the reader's snapshot these entries were read in */
    uint32_t gen;
    size_t used;
    uint8_t *arena; /* MEMO_ARENA bytes, allocated at first fill */
    struct memo_slot slots[MEMO_SETS * MEMO_WAYS];
};

static uint32_t memo_hash(struct qr_slice b, struct qr_slice k, struct qr_slice v, bool with_data)
{
    uint32_t h = 2166136261u ^ (with_data ? 0x9e3779b9u : 0); /* FNV-1a over the three */
    const struct qr_slice parts[3] = {b, k, v};
    for (int i = 0; i < 3; i++) {
        for (size_t j = 0; j < parts[i].len; j++)
            h = (h ^ parts[i].p[j]) * 16777619u;
        h = (h ^ 0xffu) * 16777619u; /* separator: ("ab","c") and ("a","bc") differ */
    }
    return h;
}

void objmemo_enable(struct store_reader *r)
{
    if (r->memo == NULL && (r->memo = calloc(1, sizeof(*r->memo))) != NULL)
        r->memo->gen = 1; /* the zeroed slots are not valid */
}

void objmemo_free(struct store_reader *r)
{
    if (r->memo) {
        free(r->memo->arena);
        free(r->memo);
        r->memo = NULL;
    }
}

/* Forgets every entry. A generation that wraps around (a commit a millisecond, for 50
 * days) would revive slots pointing at bytes since overwritten: those are cleared. */
static void memo_empty(struct obj_memo *m)
{
    if (++m->gen == 0) {
        memset(m->slots, 0, sizeof(m->slots));
        m->gen = 1;
    }
    m->used = 0;
}

/* Empties m when r has begun another snapshot since m was filled; whether m may serve. */
static bool memo_current(struct store_reader *r, struct obj_memo *m)
{
    if (!r->held)
        return false;
    if (m->snap != r->snap) {
        m->snap = r->snap;
        memo_empty(m);
    }
    return true;
}

static struct memo_slot *memo_set(struct obj_memo *m, uint32_t h)
{
    return &m->slots[(h & (MEMO_SETS - 1)) * MEMO_WAYS];
}

/* The valid entries of h's set, one by one: *way starts at 0. */
static struct memo_ent *memo_next(struct obj_memo *m, uint32_t h, unsigned *way)
{
    struct memo_slot *set = memo_set(m, h);
    while (m->arena != NULL && *way < MEMO_WAYS) {
        struct memo_slot *s = &set[(*way)++];
        if (s->gen == m->gen) {
            struct memo_ent *e = (struct memo_ent *)(m->arena + s->off);
            if (e->hash == h)
                return e;
        }
    }
    return NULL;
}

static const uint8_t *take(const uint8_t **p, size_t n)
{
    const uint8_t *at = *p;
    *p += n;
    return at;
}

static struct qr_slice pool_copy(h2o_mem_pool_t *pool, const uint8_t *p, size_t n)
{
    if (n == 0)
        return qr_slice(NULL, 0);
    uint8_t *d = pool_alloc(pool, n);
    memcpy(d, p, n);
    return qr_slice(d, n);
}

bool objmemo_get(struct store_reader *r, struct qr_slice bucket, struct qr_slice key,
                 struct qr_slice version, bool with_data, h2o_mem_pool_t *pool,
                 struct store_obj *out)
{
    struct obj_memo *m = r->memo;
    if (m == NULL || !memo_current(r, m))
        return false;
    uint32_t h = memo_hash(bucket, key, version, with_data);
    struct memo_ent *e;
    const uint8_t *p = NULL, *k = NULL;
    for (unsigned way = 0; (e = memo_next(m, h, &way)) != NULL;) {
        if (e->with_data != with_data || e->blen != bucket.len || e->klen != key.len ||
            e->vlen != version.len)
            continue;
        p = (const uint8_t *)(e + 1);
        const uint8_t *b = take(&p, e->blen), *v;
        k = take(&p, e->klen);
        v = take(&p, e->vlen);
        if (memcmp(b, bucket.p, bucket.len) == 0 &&
            (key.len == 0 || memcmp(k, key.p, key.len) == 0) &&
            (version.len == 0 || memcmp(v, version.p, version.len) == 0))
            break;
    }
    if (e == NULL)
        return false;
    struct store_obj o = e->o;
    o.key = pool_copy(pool, k, e->klen);
    o.headers = pool_copy(pool, take(&p, o.headers.len), o.headers.len);
    o.tags = pool_copy(pool, take(&p, o.tags.len), o.tags.len);
    o.part_sizes = pool_copy(pool, take(&p, o.part_sizes.len), o.part_sizes.len);
    if (with_data) {
        size_t n = o.inline_data.len;
        o._inline_buf = pool_alloc(pool, n ? n : 1); /* non-NULL: the object is inline */
        if (n)
            memcpy(o._inline_buf, take(&p, n), n);
        o.inline_data = qr_slice(o._inline_buf, n);
    } else {
        o._inline_buf = NULL;
        o.inline_data = qr_slice(NULL, 0);
    }
    *out = o;
    m->hits++;
    return true;
}

uint64_t objmemo_hits(const struct store_reader *r)
{
    return r->memo ? r->memo->hits : 0;
}

void objmemo_debug_gen(struct store_reader *r, uint32_t gen)
{
    if (r->memo)
        r->memo->gen = gen;
}

static void put_bytes(uint8_t **p, const void *src, size_t n)
{
    if (n)
        memcpy(*p, src, n);
    *p += n;
}

void objmemo_put(struct store_reader *r, struct qr_slice bucket, struct qr_slice key,
                 struct qr_slice version, bool with_data, const struct store_obj *o)
{
    struct obj_memo *m = r->memo;
    if (m == NULL || o->sealed || o->n_ext != 0 || o->sse.mode == STORE_SSE_C ||
        (with_data && o->inline_data.p == NULL) || !memo_current(r, m))
        return;
    size_t data = with_data ? o->inline_data.len : 0;
    size_t size = sizeof(struct memo_ent) + bucket.len + key.len + version.len + o->headers.len +
                  o->tags.len + o->part_sizes.len + data;
    size = (size + 7) & ~(size_t)7;
    if (size > MEMO_ENTRY_MAX)
        return;
    if (m->arena == NULL && (m->arena = malloc(MEMO_ARENA)) == NULL)
        return; /* no memo: every read goes to SQLite, as without one */
    if (m->used + size > MEMO_ARENA)
        memo_empty(m); /* full: start over */
    uint32_t h = memo_hash(bucket, key, version, with_data);
    struct memo_ent *e = (struct memo_ent *)(m->arena + m->used);
    e->hash = h;
    e->blen = (uint32_t)bucket.len;
    e->klen = (uint32_t)key.len;
    e->vlen = (uint32_t)version.len;
    e->with_data = with_data;
    e->o = *o;
    e->o.inline_data.len = data;
    uint8_t *p = (uint8_t *)(e + 1);
    put_bytes(&p, bucket.p, bucket.len);
    put_bytes(&p, key.p, key.len);
    put_bytes(&p, version.p, version.len);
    put_bytes(&p, o->headers.p, o->headers.len);
    put_bytes(&p, o->tags.p, o->tags.len);
    put_bytes(&p, o->part_sizes.p, o->part_sizes.len);
    put_bytes(&p, o->inline_data.p, data);
    /* a free slot of the set (h missed, so no valid slot holds it), else one chosen by
     * the hash's high bits */
    struct memo_slot *set = memo_set(m, h), *slot = &set[(h >> 24) % MEMO_WAYS];
    for (unsigned w = 0; w < MEMO_WAYS; w++)
        if (set[w].gen != m->gen) {
            slot = &set[w];
            break;
        }
    *slot = (struct memo_slot){.gen = m->gen, .off = (uint32_t)m->used};
    m->used += size;
}
