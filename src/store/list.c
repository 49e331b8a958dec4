/*
 * list.c - one page of a bucket's keys in byte order, with prefix, delimiter roll-up,
 * an exclusive start (`after`, for keys and common prefixes alike) and a page size.
 *
 * The page is built from index range queries on objects(bucket_id, key, ...), each with
 * a LIMIT, in one read transaction. A query returns at most the entries still wanted
 * plus one; a key that rolls up into a common prefix ends the query: the prefix is
 * emitted and the next query starts at the prefix's successor, so the keys under a
 * prefix are never iterated. Each query thus emits an entry or ends the page, and a
 * page costs at most max + 2 queries.
 */
#include "store/store_int.h"

#include <string.h>

#include "util/limits.h"

bool key_successor(struct qr_slice s, h2o_mem_pool_t *pool, struct qr_slice *out)
{
    size_t n = s.len;
    while (n > 0 && s.p[n - 1] == 0xFF)
        n--;
    if (n == 0)
        return false;
    uint8_t *p = pool_alloc(pool, n);
    memcpy(p, s.p, n);
    p[n - 1]++;
    *out = qr_slice(p, n);
    return true;
}

/* Where the next query starts: keys >= lo (inclusive). */
static struct qr_slice after_bound(struct qr_slice after, h2o_mem_pool_t *pool)
{
    /* "strictly greater than after" is ">= after || 0x00" in byte order */
    uint8_t *p = pool_alloc(pool, after.len + 1);
    if (after.len)
        memcpy(p, after.p, after.len);
    p[after.len] = 0;
    return qr_slice(p, after.len + 1);
}

/* The common prefix of key (prefix + up to and including the first delimiter after the
 * prefix), or false when key does not roll up. */
static bool rollup(struct qr_slice key, const struct store_list_opts *o, struct qr_slice *out)
{
    size_t d = o->delimiter.len;
    if (d == 0 || key.len < o->prefix.len + d)
        return false;
    for (size_t i = o->prefix.len; i + d <= key.len; i++) {
        if (memcmp(key.p + i, o->delimiter.p, d) == 0) {
            *out = qr_slice(key.p, i + d);
            return true;
        }
    }
    return false;
}

struct page {
    const struct store_list_opts *o;
    h2o_mem_pool_t *pool;
    struct store_list_entry *e; /* room for o->max entries */
    size_t n;
    bool truncated;
    bool full; /* stop: page filled and the next entry seen */
};

/* Adds an entry, or marks the page truncated when it is already full. */
static struct store_list_entry *page_add(struct page *pg)
{
    if (pg->n == pg->o->max) {
        pg->truncated = true;
        pg->full = true;
        return NULL;
    }
    struct store_list_entry *x = &pg->e[pg->n++];
    memset(x, 0, sizeof(*x));
    return x;
}

/* Fills x from a row of a LIST_COLS statement. */
static void entry_from_row(struct page *pg, sqlite3_stmt *s, struct store_list_entry *x)
{
    x->key = col_slice(s, 0, pg->pool);
    x->size = (uint64_t)sqlite3_column_int64(s, 1);
    x->mtime_ms = sqlite3_column_int64(s, 2);
    col_text(s, 3, x->etag, sizeof(x->etag));
    int a = sqlite3_column_int(s, 4);
    x->ck_alg = (a >= STORE_CK_NONE && a <= STORE_CK_SHA256) ? (enum store_ck_alg)a : STORE_CK_NONE;
    x->ck_type =
        sqlite3_column_int(s, 5) == STORE_CK_COMPOSITE ? STORE_CK_COMPOSITE : STORE_CK_FULL_OBJECT;
    col_text(s, 6, x->version_id, sizeof(x->version_id));
    x->is_marker = sqlite3_column_int(s, 7) != 0;
    x->is_latest = sqlite3_column_int(s, 8) != 0;
    x->headers = col_slice(s, 9, pg->pool);
}

/* Runs one range query from lo; returns the next lower bound in *lo, or sets *done. */
static enum qr_err page_query(struct store_reader *r, int64_t bucket_id, struct page *pg,
                              struct qr_slice *lo, bool bounded, struct qr_slice hi, bool *done)
{
    enum qr_err err = QR_OK;
    bool versions = pg->o->versions;
    enum stmt_id id = versions ? (bounded ? ST_LISTV_BOUNDED : ST_LISTV_UNBOUNDED)
                               : (bounded ? ST_LIST_BOUNDED : ST_LIST_UNBOUNDED);
    sqlite3_stmt *s = stmt_get(&r->c, id);
    if (s == NULL)
        return QR_E_DB;
    int64_t limit = (int64_t)(pg->o->max - pg->n) + 1;
    sqlite3_bind_int64(s, 1, bucket_id);
    bind_bytes(s, 2, *lo);
    if (bounded)
        bind_bytes(s, 3, hi);
    sqlite3_bind_int64(s, 4, limit);

    int rc = SQLITE_DONE;
    bool rolled = false;
    int64_t rows = 0;
    struct qr_slice last = {0}; /* key of the last row read */
    bool skipped = false;
    while (!pg->full && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        rows++;
        struct qr_slice key =
            qr_slice(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
        /* a key whose current version is a delete marker is not listed, nor rolled up */
        if (!versions && sqlite3_column_int(s, 7) != 0) {
            last = col_slice(s, 0, pg->pool);
            skipped = true;
            continue;
        }
        struct qr_slice cp;
        if (rollup(key, pg->o, &cp)) {
            /* skip everything under cp; a prefix <= after was already returned */
            if (qr_slice_cmp(cp, pg->o->after) > 0) {
                struct store_list_entry *x = page_add(pg);
                if (x) {
                    uint8_t *p = pool_alloc(pg->pool, cp.len);
                    memcpy(p, cp.p, cp.len);
                    x->key = qr_slice(p, cp.len);
                    x->is_prefix = true;
                }
            }
            rolled = true;
            if (!key_successor(cp, pg->pool, lo))
                *done = true;
            break;
        }
        struct store_list_entry *x = page_add(pg);
        if (x == NULL)
            break;
        entry_from_row(pg, s, x);
        last = x->key;
    }
    if (!pg->full && !rolled) {
        if (rc != SQLITE_DONE)
            err = db_fail(r->db, "list");
        if (rows == limit && skipped) {
            /* skipped markers used up the LIMIT: more keys may follow the last row */
            *lo = after_bound(last, pg->pool);
        } else {
            /* the query ran dry below its LIMIT, or filled the page: nothing is left
             * (had a further key existed it would have been the LIMIT's extra row) */
            *done = true;
        }
    }
    sqlite3_reset(s);
    return err;
}

/* Versions listing resumed inside key o->after: its versions older than after_version. */
static enum qr_err key_rest(struct store_reader *r, int64_t bucket_id, struct page *pg)
{
    const struct store_list_opts *o = pg->o;
    struct qr_slice cp;
    if (!qr_slice_starts(o->after, o->prefix) || rollup(o->after, o, &cp))
        return QR_OK; /* outside the listing, or already returned as a common prefix */
    sqlite3_stmt *s = stmt_get(&r->c, ST_LISTV_KEY_REST);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, bucket_id);
    bind_bytes(s, 2, o->after);
    bind_text_slice(s, 3, o->after_version);
    sqlite3_bind_int64(s, 4, (int64_t)(o->max - pg->n) + 1);
    int rc;
    while (!pg->full && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_list_entry *x = page_add(pg);
        if (x == NULL)
            break;
        entry_from_row(pg, s, x);
    }
    sqlite3_reset(s);
    if (!pg->full && rc != SQLITE_DONE)
        return db_fail(r->db, "list versions");
    return QR_OK;
}

enum qr_err store_list(struct store_reader *r, struct qr_slice bucket,
                       const struct store_list_opts *o, h2o_mem_pool_t *pool,
                       struct store_list_result *out)
{
    enum qr_err err;
    struct store_list_opts opts = *o;
    struct page pg = {.o = &opts, .pool = pool};
    struct qr_slice lo, hi = {0};
    int64_t bucket_id = 0;
    bool done = false;

    if (opts.max > QR_MAX_KEYS)
        opts.max = QR_MAX_KEYS;
    bool own_txn = false;
    if ((err = reader_read_begin(r, &own_txn)) != QR_OK)
        return err;
    if ((err = db_bucket_id(&r->c, bucket, &bucket_id)) != QR_OK)
        goto out;

    pg.e = pool_alloc(pool, opts.max * sizeof(*pg.e));
    /* start at the larger of prefix (inclusive) and after (exclusive) */
    lo = opts.prefix;
    if (opts.after.len && qr_slice_cmp(opts.after, opts.prefix) >= 0)
        lo = after_bound(opts.after, pool);
    bool bounded = opts.prefix.len && key_successor(opts.prefix, pool, &hi);
    if (opts.max == 0) /* AWS: MaxKeys=0 is an empty page, not truncated */
        done = true;
    if (bounded && qr_slice_cmp(lo, hi) >= 0)
        done = true;
    if (!done && opts.versions && opts.after.len && opts.after_version.len)
        err = key_rest(r, bucket_id, &pg);
    while (!done && !pg.full && err == QR_OK)
        err = page_query(r, bucket_id, &pg, &lo, bounded, hi, &done);
    if (err != QR_OK)
        goto out;
    out->e = pg.e;
    out->n = pg.n;
    out->truncated = pg.truncated;
out:
    reader_read_end(r, own_txn);
    return err;
}
