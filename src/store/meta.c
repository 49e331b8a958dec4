/*
 * meta.c - store_open/close, readers, buckets and single objects (get, put, copy,
 * delete, tags).
 *
 * Every state change is a struct store_change run by the writer (writer.c); the checks
 * it depends on (bucket exists, conditions, source etag) run inside that transaction,
 * so they hold at commit. Reads go through a store_reader's own connection and read in
 * one statement (a join) or one read transaction, so they see one snapshot.
 * Reference counts: an object row's extents each hold one reference on their blob; a
 * change that adds extents takes the new references before it drops the old ones, so a
 * copy onto itself never frees what it keeps.
 */
#include "store/store_int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/limits.h"

/* ---- open / close ---- */

static char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = qr_xmalloc(a + b + 2);
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* The writer connection's update hook: notes a change to a bucket row, so that the
 * commit invalidates the readers' bucket memos (store_bucket_get). Writer thread. */
static void on_row_change(void *arg, int op, const char *db, const char *table, sqlite3_int64 row)
{
    (void)op, (void)db, (void)row;
    if (strcmp(table, "buckets") == 0)
        ((struct store *)arg)->w_buckets_touched = true;
}

static void store_free(struct store *st)
{
    writer_stop(st);
    ckpt_stop(st);
    stmt_cache_dispose(&st->wc);
    if (st->wdb)
        sqlite3_close(st->wdb);
    if (st->objects_fd >= 0)
        close(st->objects_fd);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->wake);
    pthread_mutex_destroy(&st->blob_mu);
    id_vec_dispose(&st->inflight);
    id_vec_dispose(&st->freed);
    id_vec_dispose(&st->gc_done);
    free(st->db_path);
    free(st->dir);
    free(st);
}

static enum qr_err make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "store: mkdir %s: %s\n", path, strerror(errno));
        return QR_E_IO;
    }
    return QR_OK;
}

/* SQLite's process-wide settings, once before its first use. Without memory statistics
 * its allocator takes no global mutex: with them, every loop's row reads contended on it
 * (a futex wake per GET at two loops). quarry reads no sqlite3_status counters. */
static void sqlite_configure(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); /* fails only after initialize */
}

enum qr_err store_open(const struct store_opts *opts, struct store **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_configure);
    enum qr_err err;
    struct store *st = qr_xmalloc(sizeof(*st));
    char *objects = NULL;

    memset(st, 0, sizeof(*st));
    st->objects_fd = -1;
    st->dir = qr_xstrndup(opts->dir, strlen(opts->dir));
    st->db_path = path_join(opts->dir, "meta.db");
    st->no_fsync = opts->no_fsync;
    st->inline_max = opts->inline_max ? opts->inline_max : QR_INLINE_MAX;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->wake, NULL);
    pthread_mutex_init(&st->blob_mu, NULL);
    atomic_init(&st->n_commits, 0);
    atomic_init(&st->bucket_gen, 0);
    atomic_init(&st->n_changes, 0);

    objects = path_join(opts->dir, "objects");
    if ((err = make_dir(opts->dir)) != QR_OK || (err = make_dir(objects)) != QR_OK)
        goto out;
    if ((err = crypt_master_load(opts->dir, st->master)) != QR_OK)
        goto out;
    st->objects_fd = open(objects, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->objects_fd < 0) {
        fprintf(stderr, "store: open %s: %s\n", objects, strerror(errno));
        err = QR_E_IO;
        goto out;
    }
    if (!st->no_fsync) {
        /* the objects/ entry itself must survive a crash before any blob under it */
        int dfd = open(opts->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd); /* best effort: only matters on the very first open */
            close(dfd);
        }
    }
    if ((err = db_open(st->db_path, false, st->no_fsync, true, &st->wdb)) != QR_OK)
        goto out;
    stmt_cache_init(&st->wc, st->wdb);
    /* Checkpoints run on their own thread (ckpt.c): a COMMIT only appends to the WAL. */
    if (sqlite3_exec(st->wdb, "PRAGMA wal_autocheckpoint=0;", NULL, NULL, NULL) != SQLITE_OK) {
        err = db_fail(st->wdb, "wal_autocheckpoint");
        goto out;
    }
    /* Savepoints (one per change, one per batch task) journal the pages they touch;
     * past 64 KiB SQLite spills that journal to a temporary file, written and read back
     * with a system call per page. A batch slice touches megabytes: keep it in memory. */
    (void)sqlite3_exec(st->wdb, "PRAGMA temp_store=MEMORY;", NULL, NULL,
                       NULL); /* a tuning pragma that fails leaves correct defaults */
    ckpt_watch(st);
    sqlite3_update_hook(st->wdb, on_row_change, st);
    if ((err = blob_recover(st)) != QR_OK)
        goto out;
    if ((err = ckpt_start(st)) != QR_OK)
        goto out;
    err = writer_start(st);
out:
    free(objects);
    if (err != QR_OK) {
        store_free(st);
        st = NULL;
    }
    *out = st;
    return err;
}

void store_close(struct store *st)
{
    if (st)
        store_free(st);
}

enum qr_err store_reader_new(struct store *st, struct store_reader **out)
{
    sqlite3 *db;
    enum qr_err err = db_open(st->db_path, true, st->no_fsync, false, &db);
    if (err != QR_OK)
        return err;
    /* Readers do not map the database: a reader whose next snapshot follows a commit
     * unmaps all of its mapping (SQLite drops what it fetched when the database changed),
     * and that munmap, with its TLB shootdown on every core, cost a third of the server
     * CPU of a 4 KiB PUT (112 -> 80 us per PUT without it; GETs without writes keep their
     * snapshot and page cache, and measured the same either way). A 2 MiB page cache
     * each (an event loop's reader asks for more: store_reader_cache). */
    (void)sqlite3_exec(db, "PRAGMA mmap_size=0; PRAGMA cache_size=-2048;", NULL, NULL,
                       NULL); /* a tuning pragma that fails leaves correct defaults */
    struct store_reader *r = qr_xmalloc(sizeof(*r));
    r->st = st;
    r->db = db;
    r->held = false;
    r->seq = 0;
    r->bgen = 0;
    r->snap = 0;
    r->used = false;
    r->began_ms = 0;
    r->memo = NULL;
    memset(r->bmemo, 0, sizeof(r->bmemo));
    stmt_cache_init(&r->c, db);
    *out = r;
    return QR_OK;
}

/* How long a busy thread may keep one snapshot between passes (store_reader_idle). */
#define READER_HOLD_MS 1000

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void store_reader_fresh(struct store_reader *r)
{
    /* Read before BEGIN, and the snapshot starts at the first read after it: the
     * snapshot holds at least every commit counted here. */
    uint64_t now = atomic_load_explicit(&r->st->n_commits, memory_order_acquire);
    r->used = true;
    if (r->held && now == r->seq)
        return;
    if (r->held)
        store_reader_end(r); /* resets what is stepping, then commits */
    else
        stmt_cache_reset_busy(&r->c);
    uint64_t bgen = atomic_load_explicit(&r->st->bucket_gen, memory_order_acquire);
    if (stmt_exec(&r->c, ST_BEGIN) == QR_OK) {
        r->held = true;
        r->snap++;
        r->began_ms = mono_ms();
        r->seq = now;
        r->bgen = bgen;
    }
}

void store_reader_end(struct store_reader *r)
{
    if (!r->held)
        return;
    r->held = false;
    /* A statement left stepping would keep the old snapshot past COMMIT. */
    stmt_cache_reset_busy(&r->c);
    (void)stmt_exec(&r->c, ST_COMMIT); /* logged by stmt_exec; a read commit cannot lose data */
}

void store_reader_idle(struct store_reader *r)
{
    if (!r->held)
        return;
    /* A snapshot nothing was committed after is the newest: it pins no older WAL frames
     * than a new one would, and keeping it keeps the object memo. It is still given up
     * when the pass used none of it (an idle loop holds nothing, so a TRUNCATE
     * checkpoint, which waits for readers of the WAL, is not kept waiting) and after
     * READER_HOLD_MS, so no busy loop holds one snapshot for long either. */
    bool keep = r->used &&
                atomic_load_explicit(&r->st->n_commits, memory_order_acquire) == r->seq &&
                mono_ms() - r->began_ms < READER_HOLD_MS;
    r->used = false;
    if (!keep)
        store_reader_end(r);
}

void store_reader_cache(struct store_reader *r, unsigned kib)
{
    char sql[64];
    objmemo_enable(r);
    snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%u;", kib);
    (void)sqlite3_exec(r->db, sql, NULL, NULL, NULL); /* failing leaves the default */
}

enum qr_err reader_read_begin(struct store_reader *r, bool *own)
{
    *own = !r->held;
    return *own ? stmt_exec(&r->c, ST_BEGIN) : QR_OK;
}

void reader_read_end(struct store_reader *r, bool own)
{
    if (own)
        (void)stmt_exec(&r->c, ST_COMMIT); /* ends the read snapshot; nothing to lose */
}

void store_reader_free(struct store_reader *r)
{
    if (r == NULL)
        return;
    store_reader_end(r);
    objmemo_free(r);
    stmt_cache_dispose(&r->c);
    sqlite3_close(r->db);
    free(r);
}

enum qr_err store_blob_open(struct store *st, uint64_t blob, int *out_fd)
{
    char rel[48];
    blob_relpath(blob, false, rel);
    int fd = openat(st->objects_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        fprintf(stderr, "store: open blob %s: %s\n", rel, strerror(errno));
        return QR_E_IO;
    }
    *out_fd = fd;
    return QR_OK;
}

/* ---- buckets ---- */

struct bucket_change {
    struct store_change ch;
    const struct store_bucket *b; /* create */
    struct qr_slice name;         /* delete */
};

static enum qr_err apply_bucket_create(struct store *st, struct store_change *ch)
{
    struct bucket_change *c = (struct bucket_change *)ch;
    struct qr_slice name = qr_slice_cstr(c->b->name);
    int64_t id;
    enum qr_err err = w_bucket_id(st, name, &id);
    if (err == QR_OK)
        return QR_E_BUCKET_EXISTS;
    if (err != QR_E_NO_SUCH_BUCKET)
        return err;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_BUCKET_INSERT);
    if (s == NULL)
        return QR_E_DB;
    bind_bytes(s, 1, name);
    sqlite3_bind_int(s, 2, (int)c->b->type);
    sqlite3_bind_int64(s, 3, c->b->created_ms ? c->b->created_ms : store_now_ms());
    bind_text(s, 4, c->b->region);
    bind_text(s, 5, c->b->zone);
    /* a bucket with Object Lock is versioned from its first write */
    sqlite3_bind_int(s, 6, c->b->lock_enabled ? STORE_VERS_ENABLED : STORE_VERS_OFF);
    sqlite3_bind_int(s, 7, c->b->lock_enabled);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, "bucket insert");
    return QR_OK;
}

enum qr_err store_bucket_create(struct store *st, const struct store_bucket *b)
{
    struct bucket_change c = {.ch.apply = apply_bucket_create, .b = b};
    if (memchr(b->name, '\0', sizeof(b->name)) == NULL)
        return QR_E_INVALID_BUCKET_NAME;
    return writer_submit(st, &c.ch);
}

static enum qr_err apply_bucket_delete(struct store *st, struct store_change *ch)
{
    struct bucket_change *c = (struct bucket_change *)ch;
    int64_t id;
    enum qr_err err = w_bucket_id(st, c->name, &id);
    if (err != QR_OK)
        return err;

    sqlite3_stmt *s = stmt_get(&st->wc, ST_BUCKET_ANY_OBJECT);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return QR_E_BUCKET_NOT_EMPTY;
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, "bucket objects");

    /* S3 deletes a bucket with unfinished uploads and drops them. */
    for (;;) {
        char upload[65];
        s = stmt_get(&st->wc, ST_UP_OF_BUCKET);
        if (s == NULL)
            return QR_E_DB;
        sqlite3_bind_int64(s, 1, id);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            col_text(s, 0, upload, sizeof(upload));
        sqlite3_reset(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW)
            return db_fail(st->wdb, "bucket uploads");
        if ((err = w_upload_drop(st, upload)) != QR_OK)
            return err;
    }

    s = stmt_get(&st->wc, ST_BUCKET_DELETE);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, "bucket delete");
    return QR_OK;
}

enum qr_err store_bucket_delete(struct store *st, struct qr_slice name)
{
    struct bucket_change c = {.ch.apply = apply_bucket_delete, .name = name};
    return writer_submit(st, &c.ch);
}

struct bucket_sse_change {
    struct store_change ch;
    struct qr_slice name;
    const char *rule;
};

static enum qr_err apply_bucket_sse(struct store *st, struct store_change *ch)
{
    struct bucket_sse_change *c = (struct bucket_sse_change *)ch;
    int64_t id;
    enum qr_err err = w_bucket_id(st, c->name, &id);
    if (err != QR_OK)
        return err;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_BUCKET_SET_SSE);
    if (s == NULL)
        return QR_E_DB;
    bind_bytes(s, 1, c->name);
    bind_text(s, 2, c->rule);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? QR_OK : db_fail(st->wdb, "bucket encryption");
}

enum qr_err store_bucket_set_sse(struct store *st, struct qr_slice name, const char *rule)
{
    if (strlen(rule) >= sizeof(((struct store_bucket *)0)->sse_rule))
        return QR_E_TOO_LARGE;
    struct bucket_sse_change c = {.ch.apply = apply_bucket_sse, .name = name, .rule = rule};
    return writer_submit(st, &c.ch);
}

static void col_bucket(sqlite3_stmt *s, struct store_bucket *b)
{
    memset(b, 0, sizeof(*b));
    size_t n = (size_t)sqlite3_column_bytes(s, 0);
    const void *p = sqlite3_column_blob(s, 0);
    if (n >= sizeof(b->name))
        n = sizeof(b->name) - 1;
    if (n)
        memcpy(b->name, p, n);
    b->type = sqlite3_column_int(s, 1) == STORE_BUCKET_DIRECTORY ? STORE_BUCKET_DIRECTORY
                                                                 : STORE_BUCKET_GENERAL;
    b->created_ms = sqlite3_column_int64(s, 2);
    col_text(s, 3, b->region, sizeof(b->region));
    col_text(s, 4, b->zone, sizeof(b->zone));
    /* ST_BUCKET_GET and ST_BUCKET_LIST share these columns */
    if (sqlite3_column_type(s, 5) != SQLITE_NULL)
        col_text(s, 5, b->sse_rule, sizeof(b->sse_rule));
    col_vlock(s, 6, &b->versioning, &b->lock_enabled, &b->lock_mode, &b->lock_days,
              &b->lock_years);
}

static struct bucket_memo *bucket_memo_slot(struct store_reader *r, struct qr_slice name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < name.len; i++)
        h = (h ^ name.p[i]) * 16777619u;
    return &r->bmemo[h % (sizeof(r->bmemo) / sizeof(*r->bmemo))];
}

enum qr_err store_bucket_get(struct store_reader *r, struct qr_slice name, struct store_bucket *out)
{
    /* A memo is good while no commit has changed a bucket since before the snapshot it
     * was read from: the gen is read before that snapshot began (store_reader_fresh, or
     * here before this statement's own snapshot), so a memo is never newer than its gen
     * says, and a bump makes every older memo miss. */
    uint64_t gen = atomic_load_explicit(&r->st->bucket_gen, memory_order_acquire);
    struct bucket_memo *m = name.len < sizeof(m->b.name) ? bucket_memo_slot(r, name) : NULL;
    if (m && m->valid && m->gen == gen && strlen(m->b.name) == name.len &&
        memcmp(m->b.name, name.p, name.len) == 0) {
        *out = m->b;
        return QR_OK;
    }
    uint64_t fill_gen = r->held ? r->bgen : gen;
    sqlite3_stmt *s = stmt_get(&r->c, ST_BUCKET_GET);
    if (s == NULL)
        return QR_E_DB;
    bind_bytes(s, 1, name);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        col_bucket(s, out);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return QR_E_NO_SUCH_BUCKET;
    if (rc != SQLITE_ROW)
        return db_fail(r->db, "bucket get");
    if (m) {
        m->b = *out;
        m->gen = fill_gen;
        m->valid = true;
    }
    return QR_OK;
}

enum qr_err store_bucket_list(struct store_reader *r, enum store_bucket_type type,
                              struct qr_slice after, size_t max, h2o_mem_pool_t *pool,
                              struct store_bucket **out_list, size_t *out_n, bool *out_truncated)
{
    if (max > QR_MAX_KEYS)
        max = QR_MAX_KEYS;
    sqlite3_stmt *s = stmt_get(&r->c, ST_BUCKET_LIST);
    if (s == NULL)
        return QR_E_DB;
    struct store_bucket *list = pool_alloc(pool, max * sizeof(*list));
    size_t n = 0;
    bool truncated = false;
    int rc;
    sqlite3_bind_int(s, 1, (int)type);
    bind_bytes(s, 2, after);
    sqlite3_bind_int64(s, 3, (int64_t)max + 1);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == max) {
            truncated = true;
            continue;
        }
        col_bucket(s, &list[n++]);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(r->db, "bucket list");
    *out_list = list;
    *out_n = n;
    *out_truncated = truncated && max > 0;
    return QR_OK;
}

/* ---- objects: writer-side helpers ---- */

/* objects.part_sizes holds nothing or exactly one size per part; logs a row that does not. */
static bool part_sizes_ok(size_t len, uint32_t parts)
{
    if (len == 0 || len == (size_t)parts * STORE_PART_SIZE_BYTES)
        return true;
    fprintf(stderr, "store: corrupt part sizes (%zu bytes for %u parts)\n", len, parts);
    return false;
}

/* A lock mode column, anything unknown read as NONE. */
static enum store_lock_mode col_lock_mode(sqlite3_stmt *s, int i)
{
    int m = sqlite3_column_int(s, i);
    return m == STORE_LOCK_GOVERNANCE   ? STORE_LOCK_GOVERNANCE
           : m == STORE_LOCK_COMPLIANCE ? STORE_LOCK_COMPLIANCE
                                        : STORE_LOCK_NONE;
}

/* Runs ST_OBJ_FIND or ST_OBJ_FIND_V (already bound) into out. */
static enum qr_err obj_find_run(struct store *st, sqlite3_stmt *s, struct w_obj *out)
{
    enum qr_err err = QR_OK;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->has_row = true;
        out->marker = sqlite3_column_int(s, 5) != 0;
        out->exists = !out->marker;
        out->rowid = sqlite3_column_int64(s, 0);
        col_text(s, 1, out->etag, sizeof(out->etag));
        out->size = (uint64_t)sqlite3_column_int64(s, 3);
        out->mtime_ms = sqlite3_column_int64(s, 4);
        col_text(s, 6, out->version_id, sizeof(out->version_id));
        out->lock.mode = col_lock_mode(s, 7);
        out->lock.until_ms = sqlite3_column_int64(s, 8);
        out->lock.legal_hold = sqlite3_column_int(s, 9) != 0;
        err = ext_unpack_heap(sqlite3_column_blob(s, 2), (size_t)sqlite3_column_bytes(s, 2),
                              &out->ext, &out->n_ext);
    } else if (rc != SQLITE_DONE) {
        err = db_fail(st->wdb, "object find");
    }
    sqlite3_reset(s);
    return err;
}

enum qr_err w_obj_find(struct store *st, int64_t bucket_id, struct qr_slice key, struct w_obj *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = stmt_get(&st->wc, ST_OBJ_FIND);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, bucket_id);
    bind_bytes(s, 2, key);
    return obj_find_run(st, s, out);
}

enum qr_err w_obj_find_v(struct store *st, int64_t bucket_id, struct qr_slice key,
                         struct qr_slice version, struct w_obj *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = stmt_get(&st->wc, ST_OBJ_FIND_V);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, bucket_id);
    bind_bytes(s, 2, key);
    bind_text_slice(s, 3, version);
    return obj_find_run(st, s, out);
}

void w_obj_dispose(struct w_obj *o)
{
    free(o->ext);
    o->ext = NULL;
    o->n_ext = 0;
}

enum qr_err w_cond_check(const struct store_cond *c, const struct w_obj *cur)
{
    if (c == NULL)
        return QR_OK;
    if (c->if_none_match_any && cur->exists)
        return QR_E_PRECONDITION;
    /* S3 answers If-Match on a missing key with 404 NoSuchKey, not 412. */
    if (c->if_match && !cur->exists)
        return QR_E_NO_SUCH_KEY;
    /* "*" matches any existing object (If-Match on DeleteObject, RFC 9110). */
    if (c->if_match && strcmp(c->if_match, "*") != 0 && strcmp(cur->etag, c->if_match) != 0)
        return QR_E_PRECONDITION;
    /* Size and time conditions (directory-bucket deletes) hold for a missing object. */
    if (cur->exists && c->if_size && cur->size != c->size)
        return QR_E_PRECONDITION;
    if (cur->exists && c->if_mtime && cur->mtime_ms / 1000 != c->mtime_ms / 1000)
        return QR_E_PRECONDITION;
    return QR_OK;
}

enum qr_err w_obj_write(struct store *st, const struct w_row *row)
{
    enum qr_err err = QR_OK;
    uint8_t *packed = NULL;
    static const struct store_checksum none = {.alg = STORE_CK_NONE};
    const struct store_checksum *ck = row->ck ? row->ck : &none;

    if (!row->is_inline && row->n_ext > STORE_MAX_EXTENTS)
        return QR_E_TOO_LARGE;
    assert(row->part_sizes.len == 0 ||
           row->part_sizes.len == (size_t)row->parts * STORE_PART_SIZE_BYTES);
    bool rewrite = row->version_id == NULL && row->rowid != 0;
    sqlite3_stmt *s = stmt_get(&st->wc, row->version_id ? ST_OBJ_INSERT_V
                                        : rewrite       ? ST_OBJ_REWRITE
                                                        : ST_OBJ_UPSERT);
    if (s == NULL)
        return QR_E_DB;
    if (rewrite)
        sqlite3_bind_int64(s, 16, row->rowid);
    if (row->version_id) {
        /* ?15 is sse, bound below for both statements */
        bind_text(s, 16, row->version_id);
        sqlite3_bind_int(s, 17, row->marker);
        sqlite3_bind_int(s, 18, (int)row->lock.mode);
        sqlite3_bind_int64(s, 19, row->lock.mode == STORE_LOCK_NONE ? 0 : row->lock.until_ms);
        sqlite3_bind_int(s, 20, row->lock.legal_hold);
    }
    sqlite3_bind_int64(s, 1, row->bucket_id);
    bind_bytes(s, 2, row->key);
    sqlite3_bind_int64(s, 3, (int64_t)row->size);
    sqlite3_bind_int64(s, 4, row->mtime_ms);
    bind_text(s, 5, row->etag);
    bind_bytes(s, 6, row->headers);
    bind_bytes(s, 7, row->tags);
    sqlite3_bind_int(s, 8, (int)ck->alg);
    sqlite3_bind_int(s, 9, (int)ck->type);
    bind_text(s, 10, ck->alg == STORE_CK_NONE ? "" : ck->b64);
    sqlite3_bind_int64(s, 11, row->parts);
    if (row->is_inline) {
        bind_bytes(s, 12, row->data);
    } else {
        packed = qr_xmalloc(row->n_ext * STORE_EXT_BYTES);
        ext_pack(row->ext, row->n_ext, packed);
        bind_bytes(s, 13, qr_slice(packed, row->n_ext * STORE_EXT_BYTES));
    }
    if (row->part_sizes.len) /* left unbound: NULL */
        bind_bytes(s, 14, row->part_sizes);
    if (row->sse.len) /* left unbound: NULL, stored as given */
        bind_bytes(s, 15, row->sse);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s); /* packed is freed below */
    if (rc != SQLITE_DONE)
        err = db_fail(st->wdb, "object write");
    else if (rewrite && sqlite3_changes(st->wdb) != 1)
        err = db_fail(st->wdb, "object rewrite: the row found is gone"); /* a caller's bug */
    free(packed);
    return err;
}

/* ---- put ---- */

struct put_change {
    struct store_change ch;
    const struct store_put *put;
    bool has_blob; /* the body is in blob, else inline */
    uint64_t blob;
    int64_t mtime_ms;     /* out */
    char version_id[40];  /* out */
    struct crypt_env env; /* the blob's or inline bytes' envelope (mode NONE: plain) */
    uint8_t *sealed;      /* inline bytes encrypted, or NULL (plain); owned */
};

/* The object row's envelope: an inline object's whole one (its data key lives there),
 * else the mode and key MD5 only (each blob carries its own key). */
static struct qr_slice row_env(const struct crypt_env *env, bool is_inline, uint8_t out[CRYPT_ENV_BYTES])
{
    if (env->mode == STORE_SSE_NONE)
        return qr_slice(NULL, 0);
    struct crypt_env e = *env;
    if (!is_inline) {
        memset(e.iv, 0, sizeof(e.iv));
        memset(e.wrapped, 0, sizeof(e.wrapped));
    }
    crypt_env_pack(&e, out);
    return qr_slice(out, CRYPT_ENV_BYTES);
}

/* Encrypts an inline body into c->sealed (a row never holds an encrypted object's
 * plaintext). Errors: QR_E_INTERNAL. */
static enum qr_err seal_inline(struct store *st, struct put_change *c)
{
    const struct store_put *p = c->put;
    if (p->sse.mode == STORE_SSE_NONE)
        return QR_OK;
    uint8_t key[32];
    enum qr_err err = crypt_env_new(st->master, &p->sse, &c->env, key);
    if (err == QR_OK) {
        c->sealed = qr_xmalloc(p->data.len ? p->data.len : 1);
        if (p->data.len)
            memcpy(c->sealed, p->data.p, p->data.len);
        crypt_ctr(key, c->env.iv, 0, c->sealed, p->data.len);
    }
    OPENSSL_cleanse(key, sizeof(key));
    return err;
}

static enum qr_err apply_put(struct store *st, struct store_change *ch)
{
    struct put_change *c = (struct put_change *)ch;
    const struct store_put *p = c->put;
    struct w_obj cur;
    struct w_bucket b;
    struct store_extent ext = {.blob = c->blob, .off = 0, .len = p->data.len};

    enum qr_err err = w_bucket_get(st, p->bucket, &b);
    if (err != QR_OK)
        return err;
    if ((err = w_obj_find(st, b.id, p->key, &cur)) != QR_OK)
        goto out;
    if ((err = w_cond_check(&p->cond, &cur)) != QR_OK)
        goto out;
    if (c->has_blob && (err = w_blob_new_sse(st, c->blob, p->data.len, &c->env)) != QR_OK)
        goto out;
    c->mtime_ms = store_now_ms();
    uint8_t env[CRYPT_ENV_BYTES];
    struct w_row row = {
        .bucket_id = b.id,
        .key = p->key,
        .size = p->data.len,
        .mtime_ms = c->mtime_ms,
        .etag = p->etag,
        .headers = p->headers,
        .tags = p->tags,
        .ck = &p->ck,
        .is_inline = !c->has_blob,
        .data = c->sealed ? qr_slice(c->sealed, p->data.len) : p->data,
        .ext = &ext,
        .n_ext = c->has_blob ? 1 : 0,
        .sse = row_env(&c->env, !c->has_blob, env),
        .lock = p->lock,
    };
    err = w_obj_install(st, &b, &row, &cur, c->version_id);
out:
    w_obj_dispose(&cur);
    return err;
}

struct put_async {
    struct put_change c;
    store_put_cb cb;
    void *arg;
};

static void put_async_done(struct store_change *ch)
{
    struct put_async *a = (struct put_async *)ch;
    struct store_put_result res = {.mtime_ms = a->c.mtime_ms};
    memcpy(res.version_id, a->c.version_id, sizeof(res.version_id));
    store_put_cb cb = a->cb;
    void *arg = a->arg;
    enum qr_err err = ch->err;
    free(a->c.sealed);
    free(a);
    cb(arg, err, &res);
}

bool store_obj_put_async(struct store *st, const struct store_put *put, store_put_cb cb, void *arg)
{
    if (put->data.len > st->inline_max)
        return false;
    struct put_async *a = qr_xmalloc(sizeof(*a));
    memset(a, 0, sizeof(*a));
    a->c.ch.apply = apply_put;
    a->c.ch.on_done = put_async_done;
    a->c.put = put;
    a->cb = cb;
    a->arg = arg;
    if (seal_inline(st, &a->c) != QR_OK) {
        free(a); /* nothing queued: the caller's store_obj_put reports the failure */
        return false;
    }
    writer_submit_async(st, &a->c.ch);
    return true;
}

enum qr_err store_obj_put(struct store *st, const struct store_put *put,
                          struct store_put_result *out)
{
    struct put_change c = {.ch.apply = apply_put, .put = put};
    enum qr_err err;

    if (put->has_blob) { /* written as it arrived (api/stream.c): adopt it */
        c.blob = store_blob_stream_id(put->blob);
        blob_stream_env(put->blob, &c.env); /* encrypted as it was written */
        c.has_blob = true;
    } else if (put->data.len > st->inline_max && put->data.len > 0) {
        if ((err = blob_write_sse(st, put->data, &put->sse, &c.blob, &c.env)) != QR_OK)
            return err;
        c.has_blob = true;
    } else if ((err = seal_inline(st, &c)) != QR_OK) {
        return err;
    }
    err = writer_submit(st, &c.ch);
    free(c.sealed);
    if (c.has_blob) {
        if (err == QR_OK)
            blob_settle(st, c.blob);
        else
            blob_discard(st, c.blob);
    }
    if (err == QR_OK) {
        out->mtime_ms = c.mtime_ms;
        memcpy(out->version_id, c.version_id, sizeof(out->version_id));
    }
    return err;
}

/* ---- copy ---- */

void full_obj_dispose(struct full_obj *o)
{
    qr_buf_dispose(&o->headers);
    qr_buf_dispose(&o->tags);
    qr_buf_dispose(&o->data);
    qr_buf_dispose(&o->part_sizes);
    qr_buf_dispose(&o->sse);
    free(o->ext);
}

static enum qr_err col_to_buf(sqlite3_stmt *s, int i, struct qr_buf *b)
{
    size_t n = (size_t)sqlite3_column_bytes(s, i);
    qr_buf_init(b, n);
    return n ? qr_buf_add(b, sqlite3_column_blob(s, i), n) : QR_OK;
}

enum qr_err w_obj_full(struct store *st, int64_t bucket_id, struct qr_slice key,
                       struct full_obj *out)
{
    return w_obj_full_v(st, bucket_id, key, qr_slice(NULL, 0), out);
}

enum qr_err w_obj_full_v(struct store *st, int64_t bucket_id, struct qr_slice key,
                         struct qr_slice version, struct full_obj *out)
{
    enum qr_err err = QR_OK;
    memset(out, 0, sizeof(*out));
    qr_buf_init(&out->headers, 0);
    qr_buf_init(&out->tags, 0);
    qr_buf_init(&out->data, 0);
    qr_buf_init(&out->part_sizes, 0);
    qr_buf_init(&out->sse, 0);
    sqlite3_stmt *s = stmt_get(&st->wc, version.len ? ST_OBJ_FULL_V : ST_OBJ_FULL);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, bucket_id);
    bind_bytes(s, 2, key);
    if (version.len)
        bind_text_slice(s, 3, version);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE || (rc == SQLITE_ROW && sqlite3_column_int(s, 12) != 0)) {
        err = QR_E_NO_SUCH_KEY; /* a delete marker has no bytes to read */
    } else if (rc != SQLITE_ROW) {
        err = db_fail(st->wdb, "object read");
    } else {
        out->size = (uint64_t)sqlite3_column_int64(s, 0);
        out->mtime_ms = sqlite3_column_int64(s, 13);
        col_text(s, 1, out->etag, sizeof(out->etag));
        col_checksum(s, 4, 5, 6, &out->ck);
        out->parts = (uint32_t)sqlite3_column_int64(s, 7);
        out->is_inline = sqlite3_column_type(s, 8) != SQLITE_NULL;
        if ((err = col_to_buf(s, 2, &out->headers)) == QR_OK &&
            (err = col_to_buf(s, 3, &out->tags)) == QR_OK &&
            (err = col_to_buf(s, 8, &out->data)) == QR_OK &&
            (err = col_to_buf(s, 10, &out->part_sizes)) == QR_OK &&
            (err = col_to_buf(s, 11, &out->sse)) == QR_OK && !out->is_inline)
            err = ext_unpack_heap(sqlite3_column_blob(s, 9), (size_t)sqlite3_column_bytes(s, 9),
                                  &out->ext, &out->n_ext);
        if (err == QR_OK && !part_sizes_ok(out->part_sizes.len, out->parts))
            err = QR_E_DB;
    }
    sqlite3_reset(s);
    if (err != QR_OK) {
        full_obj_dispose(out);
        memset(out, 0, sizeof(*out));
    }
    return err;
}

struct copy_change {
    struct store_change ch;
    const struct store_copy *cp;
    int64_t mtime_ms;    /* out */
    char version_id[40]; /* out */
};

enum qr_err w_obj_copy(struct store *st, const struct store_copy *cp, int64_t *out_mtime)
{
    char vid[40];
    return w_obj_copy_v(st, cp, out_mtime, vid);
}

enum qr_err w_obj_copy_v(struct store *st, const struct store_copy *cp, int64_t *out_mtime,
                         char out_vid[40])
{
    struct full_obj src;
    struct w_obj cur = {0};
    struct w_bucket db;
    int64_t sb;

    enum qr_err err = w_bucket_id(st, cp->src_bucket, &sb);
    if (err != QR_OK)
        return err;
    if ((err = w_obj_full_v(st, sb, cp->src_key, cp->src_version, &src)) != QR_OK)
        return err;
    /* Last-Modified has whole seconds, and so have the dates it is compared with */
    int64_t src_s = src.mtime_ms / 1000;
    if ((cp->src_etag && strcmp(cp->src_etag, src.etag) != 0) ||
        (cp->src_modified_since_ms && src_s <= cp->src_modified_since_ms / 1000) ||
        (cp->src_unmodified_since_ms && src_s > cp->src_unmodified_since_ms / 1000)) {
        err = QR_E_PRECONDITION;
        goto out;
    }
    if ((err = w_bucket_get(st, cp->dst_bucket, &db)) != QR_OK ||
        (err = w_obj_find(st, db.id, cp->dst_key, &cur)) != QR_OK ||
        (err = w_cond_check(&cp->cond, &cur)) != QR_OK)
        goto out;
    /* new references first: a copy onto itself must not free its own blobs */
    if ((err = w_ref(st, src.ext, src.n_ext)) != QR_OK)
        goto out;
    *out_mtime = store_now_ms();
    struct w_row row = {
        .bucket_id = db.id,
        .key = cp->dst_key,
        .size = src.size,
        .mtime_ms = *out_mtime,
        .etag = cp->etag ? cp->etag : src.etag,
        .headers = cp->replace_headers ? cp->headers : qr_slice(src.headers.p, src.headers.len),
        .tags = cp->replace_tags ? cp->tags : qr_slice(src.tags.p, src.tags.len),
        .ck = cp->replace_ck ? &cp->ck : &src.ck,
        .parts = src.parts,
        .part_sizes = qr_slice(src.part_sizes.p, src.part_sizes.len),
        .is_inline = src.is_inline,
        .data = qr_slice(src.data.p, src.data.len),
        .ext = src.ext,
        .n_ext = src.n_ext,
        .sse = qr_slice(src.sse.p, src.sse.len), /* shared blobs keep their keys */
        .lock = cp->lock,
    };
    err = w_obj_install(st, &db, &row, &cur, out_vid);
out:
    w_obj_dispose(&cur);
    full_obj_dispose(&src);
    return err;
}

static enum qr_err apply_copy(struct store *st, struct store_change *ch)
{
    struct copy_change *c = (struct copy_change *)ch;
    return w_obj_copy_v(st, c->cp, &c->mtime_ms, c->version_id);
}

enum qr_err store_obj_copy(struct store *st, const struct store_copy *cp,
                           struct store_put_result *out)
{
    struct copy_change c = {.ch.apply = apply_copy, .cp = cp};
    enum qr_err err = writer_submit(st, &c.ch);
    if (err == QR_OK) {
        out->mtime_ms = c.mtime_ms;
        memcpy(out->version_id, c.version_id, sizeof(out->version_id));
    }
    return err;
}

/* ---- delete, tags ---- */

struct key_change {
    struct store_change ch;
    struct qr_slice bucket, key;
    const struct store_cond *cond;
    struct qr_slice tags;
};

enum qr_err store_obj_delete(struct store *st, struct qr_slice bucket, struct qr_slice key,
                             const struct store_cond *cond)
{
    struct store_delete d = {.bucket = bucket, .key = key, .cond = cond};
    struct store_delete_result res;
    return store_obj_delete_v(st, &d, &res);
}

enum qr_err w_obj_set_tags(struct store *st, struct qr_slice bucket, struct qr_slice key,
                           struct qr_slice tags)
{
    int64_t bucket_id = 0;
    enum qr_err err = w_bucket_id(st, bucket, &bucket_id);
    if (err != QR_OK)
        return err;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_OBJ_SET_TAGS);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, bucket_id);
    bind_bytes(s, 2, key);
    bind_bytes(s, 3, tags);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, "set tags");
    return sqlite3_changes(st->wdb) == 0 ? QR_E_NO_SUCH_KEY : QR_OK;
}

static enum qr_err apply_set_tags(struct store *st, struct store_change *ch)
{
    struct key_change *c = (struct key_change *)ch;
    return w_obj_set_tags(st, c->bucket, c->key, c->tags);
}

enum qr_err store_obj_set_tags(struct store *st, struct qr_slice bucket, struct qr_slice key,
                               struct qr_slice tags)
{
    struct key_change c = {.ch.apply = apply_set_tags, .bucket = bucket, .key = key, .tags = tags};
    return writer_submit(st, &c.ch);
}

/* ---- get ---- */

/* Part sizes of a row into pool: NULL (no parts, or a row from before sizes were
 * recorded) reads as empty. Errors: QR_E_DB (corrupt). */
static enum qr_err col_part_sizes(sqlite3_stmt *s, int i, uint32_t parts, h2o_mem_pool_t *pool,
                                  struct qr_slice *out)
{
    if (!part_sizes_ok((size_t)sqlite3_column_bytes(s, i), parts))
        return QR_E_DB;
    *out = qr_slice(NULL, 0);
    if (sqlite3_column_type(s, i) != SQLITE_NULL)
        *out = col_slice(s, i, pool);
    return QR_OK;
}

/* Decrypts an inline object's bytes (in its pool copy) under its envelope; SSE-C bytes
 * stay sealed until store_obj_unseal. Errors: QR_E_IO (the envelope does not open). */
static enum qr_err open_inline(struct store *st, const struct crypt_env *env,
                               struct store_obj *o);

enum qr_err store_inline_open(struct store *st, const void *env_p, size_t env_n,
                              struct store_obj *o)
{
    struct crypt_env env = {0};
    if (env_p != NULL && !crypt_env_unpack(env_p, env_n, &env))
        return QR_E_DB;
    return open_inline(st, &env, o);
}

static enum qr_err open_inline(struct store *st, const struct crypt_env *env, struct store_obj *o)
{
    if (env->mode == STORE_SSE_C) {
        memcpy(o->sse_iv, env->iv, 16);
        o->sealed = true;
        return QR_OK;
    }
    if (env->mode != STORE_SSE_S3 || o->inline_data.len == 0)
        return QR_OK;
    uint8_t key[32];
    enum qr_err err = crypt_env_key(st->master, env, key);
    if (err == QR_OK)
        crypt_ctr(key, env->iv, 0, o->_inline_buf, o->inline_data.len);
    OPENSSL_cleanse(key, sizeof(key));
    return err;
}

/* Gives each extent its blob's mode, iv and (SSE-S3) unwrapped data key. Extents of one
 * blob in a row (a multipart object's parts never share one, copies' ranges may) reuse
 * the previous lookup. Errors: QR_E_DB, QR_E_IO. */
enum qr_err store_extents_open(struct store_reader *r, struct store_extent *ext, size_t n,
                               bool *sealed)
{
    for (size_t i = 0; i < n; i++) {
        struct store_extent *x = &ext[i];
        if (i > 0 && ext[i - 1].blob == x->blob) {
            uint64_t off = x->off, len = x->len;
            *x = ext[i - 1];
            x->off = off;
            x->len = len;
            continue;
        }
        sqlite3_stmt *s = stmt_get(&r->c, ST_BLOB_SSE);
        if (s == NULL)
            return QR_E_DB;
        sqlite3_bind_int64(s, 1, (int64_t)x->blob);
        int rc = sqlite3_step(s);
        struct crypt_env env = {0};
        bool bad = rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL &&
                   !crypt_env_unpack(sqlite3_column_blob(s, 0),
                                     (size_t)sqlite3_column_bytes(s, 0), &env);
        sqlite3_reset(s);
        if (rc != SQLITE_ROW || bad)
            return rc == SQLITE_ROW || rc == SQLITE_DONE ? QR_E_DB : db_fail(r->db, "blob sse");
        x->sse = env.mode;
        memcpy(x->iv, env.iv, 16);
        if (env.mode == STORE_SSE_C && sealed)
            *sealed = true;
        else if (env.mode == STORE_SSE_C)
            return QR_E_NOT_IMPLEMENTED; /* the caller has no way to give the key */
        else if (env.mode == STORE_SSE_S3 && crypt_env_key(r->st->master, &env, x->key) != QR_OK)
            return QR_E_IO;
    }
    return QR_OK;
}

enum qr_err store_obj_get(struct store_reader *r, struct qr_slice bucket, struct qr_slice key,
                          bool with_data, h2o_mem_pool_t *pool, struct store_obj *out)
{
    return store_obj_get_v(r, bucket, key, qr_slice(NULL, 0), with_data, pool, out);
}

enum qr_err store_obj_get_v(struct store_reader *r, struct qr_slice bucket, struct qr_slice key,
                            struct qr_slice version, bool with_data, h2o_mem_pool_t *pool,
                            struct store_obj *out)
{
    enum qr_err err = QR_OK;
    if (objmemo_get(r, bucket, key, version, with_data, pool, out))
        return QR_OK;
    struct store_obj o;
    sqlite3_stmt *s = stmt_get(&r->c, version.len ? ST_OBJ_GET_V : ST_OBJ_GET);
    if (s == NULL)
        return QR_E_DB;
    bind_bytes(s, 1, bucket);
    bind_bytes(s, 2, key);
    sqlite3_bind_int(s, 3, with_data);
    if (version.len)
        bind_text_slice(s, 4, version);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        err = QR_E_NO_SUCH_BUCKET;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        err = db_fail(r->db, "object get");
        goto out;
    }
    out->is_marker = false;
    out->versioned = sqlite3_column_int(s, 20) != STORE_VERS_OFF;
    if (sqlite3_column_type(s, 0) == SQLITE_NULL) {
        err = QR_E_NO_SUCH_KEY;
        goto out;
    }
    if (sqlite3_column_int(s, 16) != 0 && version.len == 0) {
        /* the current version is a delete marker: no such key, but say which marker */
        out->is_marker = true;
        col_text(s, 15, out->version_id, sizeof(out->version_id));
        err = QR_E_NO_SUCH_KEY;
        goto out;
    }
    memset(&o, 0, sizeof(o));
    o.versioned = sqlite3_column_int(s, 20) != STORE_VERS_OFF;
    col_text(s, 15, o.version_id, sizeof(o.version_id));
    o.is_marker = sqlite3_column_int(s, 16) != 0;
    o.lock.mode = col_lock_mode(s, 17);
    o.lock.until_ms = sqlite3_column_int64(s, 18);
    o.lock.legal_hold = sqlite3_column_int(s, 19) != 0;
    uint8_t *k = pool_alloc(pool, key.len);
    if (key.len)
        memcpy(k, key.p, key.len);
    o.key = qr_slice(k, key.len);
    o.size = (uint64_t)sqlite3_column_int64(s, 1);
    o.mtime_ms = sqlite3_column_int64(s, 2);
    col_text(s, 3, o.etag, sizeof(o.etag));
    o.headers = col_slice(s, 4, pool);
    o.tags = col_slice(s, 5, pool);
    col_checksum(s, 6, 7, 8, &o.ck);
    o.parts = (uint32_t)sqlite3_column_int64(s, 9);
    if ((err = col_part_sizes(s, 13, o.parts, pool, &o.part_sizes)) != QR_OK)
        goto out;
    struct crypt_env env = {0};
    if (sqlite3_column_type(s, 14) != SQLITE_NULL &&
        !crypt_env_unpack(sqlite3_column_blob(s, 14), (size_t)sqlite3_column_bytes(s, 14), &env)) {
        err = QR_E_DB;
        goto out;
    }
    o.sse.mode = (enum store_sse_mode)env.mode;
    memcpy(o.sse.key_md5, env.key_md5, 16);
    if (sqlite3_column_int(s, 10) == 0) {
        /* inline: without data (HEAD) both inline_data and ext stay empty */
        if (with_data) {
            size_t n = (size_t)sqlite3_column_bytes(s, 11);
            o._inline_buf = pool_alloc(pool, n);
            if (n)
                memcpy(o._inline_buf, sqlite3_column_blob(s, 11), n);
            o.inline_data = qr_slice(o._inline_buf, n);
            err = open_inline(r->st, &env, &o);
        }
    } else {
        err = ext_unpack_pool(sqlite3_column_blob(s, 12), (size_t)sqlite3_column_bytes(s, 12), pool,
                              &o.ext, &o.n_ext);
        /* the blob rows are read while s is active: the same snapshot as the object row */
        if (err == QR_OK)
            err = store_extents_open(r, o.ext, o.n_ext, &o.sealed);
    }
    if (err == QR_OK) {
        *out = o;
        objmemo_put(r, bucket, key, version, with_data, &o);
    }
out:
    sqlite3_reset(s);
    return err;
}

enum qr_err store_obj_unseal(struct store_obj *o, const uint8_t key[32])
{
    uint8_t md5[16];
    unsigned n = 0;
    if (o->sse.mode != STORE_SSE_C)
        return QR_OK;
    if (EVP_Digest(key, 32, md5, &n, EVP_md5(), NULL) != 1 ||
        CRYPTO_memcmp(md5, o->sse.key_md5, 16) != 0)
        return QR_E_DENIED;
    if (!o->sealed)
        return QR_OK;
    if (o->_inline_buf && o->inline_data.len)
        crypt_ctr(key, o->sse_iv, 0, o->_inline_buf, o->inline_data.len);
    for (size_t i = 0; i < o->n_ext; i++)
        if (o->ext[i].sse == STORE_SSE_C)
            memcpy(o->ext[i].key, key, 32);
    o->sealed = false;
    return QR_OK;
}
