/*
 * job.c - the rows of S3 Batch Operations jobs (store_job.h): jobs, their task results
 * and the manifest pin.
 *
 * Every change runs on the writer thread inside its group-commit transaction, so a
 * job's cursor, counters and result rows move together, and a copy or tagging task's
 * object change commits with its result row (one savepoint per task: a task that fails
 * undoes only itself). Statements are prepared per call: a change handles a whole window
 * of tasks, so the preparation is paid once per window, not per task.
 * The tables are created by store_job_init, not by schema.c, so a data directory of an
 * older quarry gains them on its first start with batch jobs.
 */
#include "store/store_job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

static const char job_schema[] =
    "CREATE TABLE IF NOT EXISTS batch_jobs(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    " token TEXT NOT NULL UNIQUE, req_hash TEXT NOT NULL, state INTEGER NOT NULL,"
    " priority INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
    " terminated_ms INTEGER NOT NULL DEFAULT 0, suspended_ms INTEGER NOT NULL DEFAULT 0,"
    " active_ms INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0,"
    " succeeded INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,"
    " cursor INTEGER NOT NULL DEFAULT 0, manifest_off INTEGER NOT NULL DEFAULT 0,"
    " def TEXT NOT NULL, tags TEXT NOT NULL, status_reason TEXT NOT NULL DEFAULT '',"
    " failures TEXT NOT NULL DEFAULT '', pinned INTEGER NOT NULL DEFAULT 0,"
    " man_size INTEGER NOT NULL DEFAULT 0, man_inline BLOB, man_ext BLOB);"
    "CREATE INDEX IF NOT EXISTS batch_jobs_run ON batch_jobs(state, priority, seq);"
    "CREATE TABLE IF NOT EXISTS batch_results(job_seq INTEGER NOT NULL, line INTEGER NOT NULL,"
    " failed INTEGER NOT NULL, bucket BLOB NOT NULL, key BLOB NOT NULL, version TEXT NOT NULL,"
    " code TEXT NOT NULL, http INTEGER NOT NULL, message TEXT NOT NULL,"
    " PRIMARY KEY(job_seq, line)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS batch_holds(job_seq INTEGER NOT NULL, ext BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS batch_holds_job ON batch_holds(job_seq);";

#define JOB_COLS                                                                                   \
    "seq,id,state,priority,created_ms,terminated_ms,suspended_ms,active_ms,total,succeeded,"       \
    "failed,cursor,manifest_off,pinned,def,tags,status_reason,failures"

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        (void)db_fail(db, sql);
        return NULL;
    }
    return s;
}

/* Runs a prepared statement that returns no rows and finalizes it. */
static enum qr_err run_done(sqlite3 *db, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? QR_OK : db_fail(db, what);
}

static struct qr_slice col_text_pool(sqlite3_stmt *s, int i, h2o_mem_pool_t *pool)
{
    size_t n = (size_t)sqlite3_column_bytes(s, i);
    const unsigned char *p = sqlite3_column_text(s, i);
    char *d = pool_alloc(pool, n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return qr_slice(d, n);
}

static void col_job(sqlite3_stmt *s, h2o_mem_pool_t *pool, struct store_job *j)
{
    memset(j, 0, sizeof(*j));
    j->seq = sqlite3_column_int64(s, 0);
    col_text(s, 1, j->id, sizeof(j->id));
    j->state = sqlite3_column_int(s, 2);
    j->priority = sqlite3_column_int64(s, 3);
    j->created_ms = sqlite3_column_int64(s, 4);
    j->terminated_ms = sqlite3_column_int64(s, 5);
    j->suspended_ms = sqlite3_column_int64(s, 6);
    j->active_ms = sqlite3_column_int64(s, 7);
    j->total = (uint64_t)sqlite3_column_int64(s, 8);
    j->succeeded = (uint64_t)sqlite3_column_int64(s, 9);
    j->failed = (uint64_t)sqlite3_column_int64(s, 10);
    j->cursor = (uint64_t)sqlite3_column_int64(s, 11);
    j->manifest_off = (uint64_t)sqlite3_column_int64(s, 12);
    j->pinned = sqlite3_column_int(s, 13) != 0;
    j->def = col_text_pool(s, 14, pool);
    j->tags = col_text_pool(s, 15, pool);
    j->status_reason = col_text_pool(s, 16, pool);
    j->failures = col_text_pool(s, 17, pool);
}

/* ---- init ---- */

struct sql_change {
    struct store_change ch;
    const char *sql;
};

static enum qr_err apply_sql(struct store *st, struct store_change *ch)
{
    struct sql_change *c = (struct sql_change *)ch;
    if (sqlite3_exec(st->wdb, c->sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(st->wdb, "job schema");
    /* man_sse (the crypt_env of an encrypted inline manifest) came after the table: a
     * nullable column added in place, instant on any table size */
    sqlite3_stmt *s = prep(st->wdb, "SELECT 1 FROM pragma_table_info('batch_jobs')"
                                    " WHERE name='man_sse'");
    if (s == NULL)
        return QR_E_DB;
    bool has = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    if (!has && sqlite3_exec(st->wdb, "ALTER TABLE batch_jobs ADD COLUMN man_sse BLOB", NULL,
                             NULL, NULL) != SQLITE_OK)
        return db_fail(st->wdb, "job schema man_sse");
    return QR_OK;
}

enum qr_err store_job_init(struct store *st)
{
    struct sql_change c = {.ch.apply = apply_sql, .sql = job_schema};
    return writer_submit(st, &c.ch);
}

/* ---- create ---- */

struct create_change {
    struct store_change ch;
    const struct store_job_new *n;
    char id[STORE_JOB_ID_MAX + 1];
    bool existing;
};

static enum qr_err apply_create(struct store *st, struct store_change *ch)
{
    struct create_change *c = (struct create_change *)ch;
    const struct store_job_new *n = c->n;
    sqlite3_stmt *s = prep(st->wdb, "SELECT id, req_hash FROM batch_jobs WHERE token=?1");
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, n->token);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(s, 1);
        bool same = h && strcmp(h, n->req_hash) == 0;
        col_text(s, 0, c->id, sizeof(c->id));
        sqlite3_finalize(s);
        c->existing = true;
        return same ? QR_OK : QR_E_CONFLICT;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, "job token");
    s = prep(st->wdb, "INSERT INTO batch_jobs(id,token,req_hash,state,priority,created_ms,def,tags)"
                      " VALUES(?1,?2,?3,?4,?5,?6,?7,?8)");
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, n->id);
    bind_text(s, 2, n->token);
    bind_text(s, 3, n->req_hash);
    sqlite3_bind_int(s, 4, n->state);
    sqlite3_bind_int64(s, 5, n->priority);
    sqlite3_bind_int64(s, 6, n->now_ms);
    bind_text_slice(s, 7, n->def);
    bind_text_slice(s, 8, n->tags);
    snprintf(c->id, sizeof(c->id), "%s", n->id);
    return run_done(st->wdb, s, "job insert");
}

enum qr_err store_job_create(struct store *st, const struct store_job_new *n,
                             char out_id[STORE_JOB_ID_MAX + 1], bool *out_existing)
{
    struct create_change c = {.ch.apply = apply_create, .n = n};
    enum qr_err err = writer_submit(st, &c.ch);
    if (err == QR_OK) {
        memcpy(out_id, c.id, sizeof(c.id));
        *out_existing = c.existing;
    }
    return err;
}

/* ---- reads ---- */

enum qr_err store_job_get(struct store_reader *r, struct qr_slice id, h2o_mem_pool_t *pool,
                          struct store_job *out)
{
    sqlite3_stmt *s = prep(r->db, "SELECT " JOB_COLS " FROM batch_jobs WHERE id=?1");
    if (s == NULL)
        return QR_E_DB;
    bind_text_slice(s, 1, id);
    int rc = sqlite3_step(s);
    enum qr_err err = QR_OK;
    if (rc == SQLITE_ROW)
        col_job(s, pool, out);
    else
        err = rc == SQLITE_DONE ? QR_E_NO_SUCH_KEY : db_fail(r->db, "job get");
    sqlite3_finalize(s);
    return err;
}

static enum qr_err list_rows(struct store_reader *r, sqlite3_stmt *s, size_t max,
                             h2o_mem_pool_t *pool, struct store_job **out, size_t *out_n,
                             bool *out_truncated)
{
    struct store_job *v = pool_alloc(pool, sizeof(*v) * (max ? max : 1));
    size_t n = 0;
    int rc;
    bool more = false;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == max) {
            more = true;
            break;
        }
        col_job(s, pool, &v[n++]);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(r->db, "job list");
    *out = v;
    *out_n = n;
    if (out_truncated)
        *out_truncated = more;
    return QR_OK;
}

enum qr_err store_job_list(struct store_reader *r, uint64_t state_mask, int64_t before, size_t max,
                           h2o_mem_pool_t *pool, struct store_job **out, size_t *out_n,
                           bool *out_truncated)
{
    sqlite3_stmt *s = prep(r->db, "SELECT " JOB_COLS " FROM batch_jobs WHERE seq<?1 AND"
                                  " ((?2 >> state) & 1) ORDER BY seq DESC");
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, before);
    sqlite3_bind_int64(s, 2, (int64_t)state_mask);
    return list_rows(r, s, max, pool, out, out_n, out_truncated);
}

enum qr_err store_job_runnable(struct store_reader *r, uint64_t state_mask, size_t max,
                               h2o_mem_pool_t *pool, struct store_job **out, size_t *out_n)
{
    /* "state IN (...)" from the mask's bits (our own integers, never input), so the
     * (state, priority, seq) index finds the few runnable jobs among all the finished
     * ones; the engine asks often. */
    char sql[512], in[160];
    size_t n = 0;
    for (int b = 0; b < 64 && n + 4 < sizeof(in); b++)
        if ((state_mask >> b) & 1)
            n += (size_t)snprintf(in + n, sizeof(in) - n, "%s%d", n ? "," : "", b);
    in[n] = '\0';
    snprintf(sql, sizeof(sql),
             "SELECT " JOB_COLS " FROM batch_jobs WHERE state IN (%s)"
             " ORDER BY priority DESC, seq ASC",
             n ? in : "-1");
    sqlite3_stmt *s = prep(r->db, sql);
    if (s == NULL)
        return QR_E_DB;
    return list_rows(r, s, max, pool, out, out_n, NULL);
}

/* ---- update ---- */

/* The writer's view of a job's row: seq, state, cursor and the manifest pin. */
struct w_job {
    int64_t seq;
    int state;
    uint64_t cursor;
    bool pinned;
    struct qr_buf ext; /* packed pinned extents (owned) */
};

static enum qr_err w_job_get(struct store *st, const char *id, struct w_job *out)
{
    /* Cached: every window's record reads the job first. */
    sqlite3_stmt *s = stmt_get(&st->wc, ST_JOB_W_GET);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    enum qr_err err = QR_OK;
    memset(out, 0, sizeof(*out));
    qr_buf_init(&out->ext, STORE_MAX_EXTENTS * STORE_EXT_BYTES);
    if (rc == SQLITE_ROW) {
        out->seq = sqlite3_column_int64(s, 0);
        out->state = sqlite3_column_int(s, 1);
        out->cursor = (uint64_t)sqlite3_column_int64(s, 2);
        out->pinned = sqlite3_column_int(s, 3) != 0;
        err = qr_buf_add(&out->ext, sqlite3_column_blob(s, 4), (size_t)sqlite3_column_bytes(s, 4));
    } else {
        err = rc == SQLITE_DONE ? QR_E_NO_SUCH_KEY : db_fail(st->wdb, "job find");
    }
    sqlite3_reset(s);
    if (err != QR_OK)
        qr_buf_dispose(&out->ext);
    return err;
}

static enum qr_err w_set_int(struct store *st, int64_t seq, const char *col, int64_t v)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "UPDATE batch_jobs SET %s=?2 WHERE seq=?1", col);
    sqlite3_stmt *s = prep(st->wdb, sql);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_int64(s, 2, v);
    return run_done(st->wdb, s, col);
}

static enum qr_err w_set_text(struct store *st, int64_t seq, const char *col, struct qr_slice v)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "UPDATE batch_jobs SET %s=?2 WHERE seq=?1", col);
    sqlite3_stmt *s = prep(st->wdb, sql);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, seq);
    bind_text_slice(s, 2, v);
    return run_done(st->wdb, s, col);
}

/* Drops the job's holds on data files (store_job_hold): one reference per extent. */
static enum qr_err w_drop_holds(struct store *st, int64_t seq)
{
    sqlite3_stmt *s = prep(st->wdb, "SELECT ext FROM batch_holds WHERE job_seq=?1");
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, seq);
    enum qr_err err = QR_OK;
    int rc;
    while (err == QR_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
        err = w_unref_packed(st, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
    if (err == QR_OK && rc != SQLITE_DONE)
        err = db_fail(st->wdb, "job holds");
    sqlite3_finalize(s);
    if (err != QR_OK)
        return err;
    s = prep(st->wdb, "DELETE FROM batch_holds WHERE job_seq=?1");
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, seq);
    return run_done(st->wdb, s, "job holds drop");
}

static enum qr_err w_unpin(struct store *st, struct w_job *j)
{
    enum qr_err err = w_drop_holds(st, j->seq);
    if (err != QR_OK || !j->pinned)
        return err;
    err = w_unref_packed(st, j->ext.p, j->ext.len);
    if (err != QR_OK)
        return err;
    sqlite3_stmt *s = prep(st->wdb, "UPDATE batch_jobs SET pinned=0, man_inline=NULL,"
                                    " man_ext=NULL, man_sse=NULL WHERE seq=?1");
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, j->seq);
    return run_done(st->wdb, s, "job unpin");
}

struct update_change {
    struct store_change ch;
    const struct store_job_update *u;
    int prev_state;
};

/* The flag -> column table of the integer fields of an update. */
static enum qr_err apply_update_ints(struct store *st, int64_t seq,
                                     const struct store_job_update *u)
{
    const struct {
        unsigned flag;
        const char *col;
        int64_t v;
    } ints[] = {
        {STORE_JOB_SET_STATE, "state", u->state},
        {STORE_JOB_SET_PRIORITY, "priority", u->priority},
        {STORE_JOB_SET_TERMINATED, "terminated_ms", u->terminated_ms},
        {STORE_JOB_SET_SUSPENDED, "suspended_ms", u->suspended_ms},
        {STORE_JOB_SET_TOTAL, "total", (int64_t)u->total},
    };
    enum qr_err err = QR_OK;
    for (size_t i = 0; i < sizeof(ints) / sizeof(*ints) && err == QR_OK; i++)
        if (u->set & ints[i].flag)
            err = w_set_int(st, seq, ints[i].col, ints[i].v);
    return err;
}

static enum qr_err apply_update(struct store *st, struct store_change *ch)
{
    struct update_change *c = (struct update_change *)ch;
    const struct store_job_update *u = c->u;
    struct w_job j;
    enum qr_err err = w_job_get(st, u->id, &j);
    if (err != QR_OK)
        return err;
    c->prev_state = j.state;
    if (u->from_states && !((u->from_states >> j.state) & 1)) {
        err = QR_E_CONFLICT;
        goto out;
    }
    err = apply_update_ints(st, j.seq, u);
    if (err == QR_OK && (u->set & STORE_JOB_SET_TAGS))
        err = w_set_text(st, j.seq, "tags", u->tags);
    if (err == QR_OK && (u->set & STORE_JOB_SET_REASON))
        err = w_set_text(st, j.seq, "status_reason", u->reason);
    if (err == QR_OK && (u->set & STORE_JOB_SET_FAILURES))
        err = w_set_text(st, j.seq, "failures", u->failures);
    if (err == QR_OK && (u->set & STORE_JOB_UNPIN))
        err = w_unpin(st, &j);
out:
    qr_buf_dispose(&j.ext);
    return err;
}

enum qr_err store_job_update(struct store *st, const struct store_job_update *u, int *out_state)
{
    struct update_change c = {.ch.apply = apply_update, .u = u};
    enum qr_err err = writer_submit(st, &c.ch);
    if (out_state && (err == QR_OK || err == QR_E_CONFLICT))
        *out_state = c.prev_state;
    return err;
}

/* ---- the manifest pin ---- */

struct pin_change {
    struct store_change ch;
    const char *id;
    struct qr_slice bucket, key;
    const char *etag;
};

static enum qr_err w_pin_write(struct store *st, int64_t seq, const struct full_obj *o)
{
    enum qr_err err = w_ref(st, o->ext, o->n_ext);
    if (err != QR_OK)
        return err;
    size_t n = o->n_ext * STORE_EXT_BYTES;
    uint8_t *packed = n ? qr_xmalloc(n) : NULL;
    if (n)
        ext_pack(o->ext, o->n_ext, packed);
    sqlite3_stmt *s = prep(st->wdb, "UPDATE batch_jobs SET pinned=1, man_size=?2,"
                                    " man_inline=?3, man_ext=?4, man_sse=?5 WHERE seq=?1");
    if (s == NULL) {
        free(packed);
        return QR_E_DB;
    }
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_int64(s, 2, (int64_t)o->size);
    if (o->is_inline)
        bind_bytes(s, 3, qr_slice(o->data.p, o->data.len));
    else
        sqlite3_bind_null(s, 3);
    bind_bytes(s, 4, qr_slice(packed, n));
    if (o->is_inline && o->sse.len) /* the inline copy stays encrypted, under its envelope */
        bind_bytes(s, 5, qr_slice(o->sse.p, o->sse.len));
    err = run_done(st->wdb, s, "job pin");
    free(packed);
    return err;
}

static enum qr_err apply_pin(struct store *st, struct store_change *ch)
{
    struct pin_change *c = (struct pin_change *)ch;
    struct w_job j;
    struct full_obj o;
    int64_t bucket_id;
    enum qr_err err = w_job_get(st, c->id, &j);
    if (err != QR_OK)
        return err == QR_E_NO_SUCH_KEY ? QR_E_NO_SUCH_UPLOAD : err;
    if (j.pinned)
        goto out;
    if ((err = w_bucket_id(st, c->bucket, &bucket_id)) != QR_OK ||
        (err = w_obj_full(st, bucket_id, c->key, &o)) != QR_OK)
        goto out;
    if (c->etag && strcmp(c->etag, o.etag) != 0)
        err = QR_E_PRECONDITION;
    else
        err = w_pin_write(st, j.seq, &o);
    full_obj_dispose(&o);
out:
    qr_buf_dispose(&j.ext);
    return err;
}

enum qr_err store_job_pin(struct store *st, const char *id, struct qr_slice bucket,
                          struct qr_slice key, const char *etag)
{
    struct pin_change c = {
        .ch.apply = apply_pin, .id = id, .bucket = bucket, .key = key, .etag = etag};
    return writer_submit(st, &c.ch);
}

/* ---- the spool: a task list written at preparation, pinned like a manifest ---- */

struct store_job_spool {
    struct store *st;
    uint8_t *buf; /* STORE_JOB_SPOOL_CHUNK bytes, heap */
    size_t len;
    struct store_extent *ext; /* one per blob written, heap */
    size_t n_ext, cap_ext;
    uint64_t size;
    bool owned; /* the blobs belong to a pin now */
};

void store_job_spool_new(struct store *st, struct store_job_spool **out)
{
    struct store_job_spool *sp = qr_xmalloc(sizeof(*sp));
    memset(sp, 0, sizeof(*sp));
    sp->st = st;
    sp->buf = qr_xmalloc(STORE_JOB_SPOOL_CHUNK);
    *out = sp;
}

static enum qr_err spool_flush(struct store_job_spool *sp)
{
    if (sp->len == 0)
        return QR_OK;
    if (sp->n_ext == STORE_MAX_EXTENTS)
        return QR_E_TOO_LARGE;
    if (sp->n_ext == sp->cap_ext) {
        sp->cap_ext = sp->cap_ext ? 2 * sp->cap_ext : 16;
        sp->ext = qr_xrealloc(sp->ext, sp->cap_ext * sizeof(*sp->ext));
    }
    uint64_t id;
    enum qr_err err = blob_write(sp->st, qr_slice(sp->buf, sp->len), &id);
    if (err != QR_OK)
        return err;
    sp->ext[sp->n_ext++] = (struct store_extent){.blob = id, .off = 0, .len = sp->len};
    sp->len = 0;
    return QR_OK;
}

enum qr_err store_job_spool_write(struct store_job_spool *sp, struct qr_slice data)
{
    while (data.len > 0) {
        size_t room = STORE_JOB_SPOOL_CHUNK - sp->len, n = data.len < room ? data.len : room;
        memcpy(sp->buf + sp->len, data.p, n);
        sp->len += n;
        sp->size += n;
        data.p += n;
        data.len -= n;
        if (sp->len == STORE_JOB_SPOOL_CHUNK) {
            enum qr_err err = spool_flush(sp);
            if (err != QR_OK)
                return err;
        }
    }
    return QR_OK;
}

uint64_t store_job_spool_size(const struct store_job_spool *sp)
{
    return sp->size;
}

struct spool_change {
    struct store_change ch;
    const char *id;
    struct store_job_spool *sp;
};

/* New blob rows (refcount 1: the pin's reference) and the pin, in one transaction. */
static enum qr_err apply_spool_pin(struct store *st, struct store_change *ch)
{
    struct spool_change *c = (struct spool_change *)ch;
    struct store_job_spool *sp = c->sp;
    struct w_job j;
    enum qr_err err = w_job_get(st, c->id, &j);
    if (err != QR_OK)
        return err == QR_E_NO_SUCH_KEY ? QR_E_NO_SUCH_UPLOAD : err;
    if (j.pinned)
        goto out;
    for (size_t i = 0; i < sp->n_ext && err == QR_OK; i++)
        err = w_blob_new(st, sp->ext[i].blob, sp->ext[i].len);
    size_t n = sp->n_ext * STORE_EXT_BYTES;
    uint8_t *packed = n ? qr_xmalloc(n) : NULL;
    if (n)
        ext_pack(sp->ext, sp->n_ext, packed);
    sqlite3_stmt *s = err == QR_OK ? prep(st->wdb, "UPDATE batch_jobs SET pinned=1, man_size=?2,"
                                                   " man_inline=?3, man_ext=?4 WHERE seq=?1")
                                   : NULL;
    if (err == QR_OK && s == NULL)
        err = QR_E_DB;
    if (s) {
        sqlite3_bind_int64(s, 1, j.seq);
        sqlite3_bind_int64(s, 2, (int64_t)sp->size);
        if (sp->n_ext == 0) /* nothing written: an empty inline manifest */
            sqlite3_bind_zeroblob(s, 3, 0);
        else
            sqlite3_bind_null(s, 3);
        bind_bytes(s, 4, qr_slice(packed, n));
        err = run_done(st->wdb, s, "job spool pin");
    }
    free(packed);
    if (err == QR_OK)
        sp->owned = true;
out:
    /* The task list is pinned (now or before): the data files it came from are not needed */
    if (err == QR_OK)
        err = w_drop_holds(st, j.seq);
    qr_buf_dispose(&j.ext);
    return err;
}

enum qr_err store_job_spool_pin(struct store_job_spool *sp, const char *id)
{
    enum qr_err err = spool_flush(sp);
    if (err != QR_OK)
        return err;
    struct spool_change c = {.ch.apply = apply_spool_pin, .id = id, .sp = sp};
    err = writer_submit(sp->st, &c.ch);
    if (err != QR_OK)
        sp->owned = false; /* the transaction rolled back: the blobs are still ours */
    return err;
}

void store_job_spool_free(struct store_job_spool *sp)
{
    if (sp == NULL)
        return;
    for (size_t i = 0; i < sp->n_ext; i++) {
        if (sp->owned)
            blob_settle(sp->st, sp->ext[i].blob);
        else
            blob_discard(sp->st, sp->ext[i].blob);
    }
    free(sp->ext);
    free(sp->buf);
    free(sp);
}

/* ---- holds on data files read at preparation ---- */

struct hold_change {
    struct store_change ch;
    const char *id;
    struct qr_slice bucket, key;
    struct full_obj o; /* filled by the writer; the caller disposes it */
    bool have;
};

static enum qr_err apply_hold(struct store *st, struct store_change *ch)
{
    struct hold_change *c = (struct hold_change *)ch;
    struct w_job j;
    int64_t bucket_id;
    enum qr_err err = w_job_get(st, c->id, &j);
    if (err != QR_OK)
        return err == QR_E_NO_SUCH_KEY ? QR_E_NO_SUCH_UPLOAD : err;
    qr_buf_dispose(&j.ext);
    if ((err = w_bucket_id(st, c->bucket, &bucket_id)) != QR_OK ||
        (err = w_obj_full(st, bucket_id, c->key, &c->o)) != QR_OK)
        return err;
    c->have = true;
    if (c->o.is_inline || c->o.n_ext == 0)
        return QR_OK; /* the bytes are copied out: nothing to hold */
    if ((err = w_ref(st, c->o.ext, c->o.n_ext)) != QR_OK)
        return err;
    size_t n = c->o.n_ext * STORE_EXT_BYTES;
    uint8_t *packed = qr_xmalloc(n);
    ext_pack(c->o.ext, c->o.n_ext, packed);
    sqlite3_stmt *s = prep(st->wdb, "INSERT INTO batch_holds(job_seq, ext) VALUES(?1, ?2)");
    if (s == NULL) {
        free(packed);
        return QR_E_DB;
    }
    sqlite3_bind_int64(s, 1, j.seq);
    bind_bytes(s, 2, qr_slice(packed, n));
    err = run_done(st->wdb, s, "job hold");
    free(packed);
    return err;
}

enum qr_err store_job_hold(struct store *st, struct store_reader *r, const char *id,
                           struct qr_slice bucket, struct qr_slice key, h2o_mem_pool_t *pool,
                           struct store_job_held *out)
{
    struct hold_change c = {.ch.apply = apply_hold, .id = id, .bucket = bucket, .key = key};
    enum qr_err err = writer_submit(st, &c.ch);
    memset(out, 0, sizeof(*out));
    if (err == QR_OK) {
        out->size = c.o.size;
        memcpy(out->etag, c.o.etag, sizeof(out->etag));
        if (c.o.is_inline || c.o.n_ext == 0) {
            uint8_t *p = h2o_mem_alloc_pool(pool, c.o.data.len + 1);
            if (c.o.data.len)
                memcpy(p, c.o.data.p, c.o.data.len);
            /* inline bytes are stored sealed under the object's envelope: open them here,
             * as store_obj_get does; an SSE-C object cannot be read without its key */
            struct store_obj tmp = {._inline_buf = p, .inline_data = qr_slice(p, c.o.data.len)};
            err = store_inline_open(st, c.o.sse.len ? c.o.sse.p : NULL, c.o.sse.len, &tmp);
            if (err == QR_OK && tmp.sealed)
                err = QR_E_DENIED;
            out->inline_data = qr_slice(p, c.o.data.len);
        } else {
            out->ext = h2o_mem_alloc_pool(pool, c.o.n_ext * sizeof(*out->ext));
            memcpy(out->ext, c.o.ext, c.o.n_ext * sizeof(*out->ext));
            out->n_ext = c.o.n_ext;
            bool sealed = false;
            err = store_extents_open(r, out->ext, out->n_ext, &sealed);
            if (err == QR_OK && sealed)
                err = QR_E_DENIED;
        }
    }
    if (c.have)
        full_obj_dispose(&c.o);
    return err;
}

enum qr_err store_job_manifest(struct store_reader *r, const char *id, h2o_mem_pool_t *pool,
                               struct store_job_manifest *out)
{
    sqlite3_stmt *s = prep(r->db, "SELECT pinned, man_size, man_inline, man_ext, man_sse FROM batch_jobs"
                                  " WHERE id=?1");
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    enum qr_err err = QR_OK;
    memset(out, 0, sizeof(*out));
    if (rc != SQLITE_ROW || sqlite3_column_int(s, 0) == 0) {
        err = rc == SQLITE_ROW || rc == SQLITE_DONE ? QR_E_NO_SUCH_KEY : db_fail(r->db, "manifest");
        goto out;
    }
    out->size = (uint64_t)sqlite3_column_int64(s, 1);
    if (sqlite3_column_type(s, 2) != SQLITE_NULL) {
        struct store_obj o = {0};
        size_t n = (size_t)sqlite3_column_bytes(s, 2);
        o._inline_buf = pool_alloc(pool, n);
        if (n)
            memcpy(o._inline_buf, sqlite3_column_blob(s, 2), n);
        o.inline_data = qr_slice(o._inline_buf, n);
        err = store_inline_open(r->st, sqlite3_column_blob(s, 4),
                                (size_t)sqlite3_column_bytes(s, 4), &o);
        out->inline_data = o.inline_data;
        if (out->inline_data.p == NULL)
            out->inline_data.p = (const uint8_t *)"";
        if (err == QR_OK && o.sealed)
            err = QR_E_NOT_IMPLEMENTED; /* an SSE-C manifest: its key is not ours to keep */
    } else {
        err = ext_unpack_pool(sqlite3_column_blob(s, 3), (size_t)sqlite3_column_bytes(s, 3), pool,
                              &out->ext, &out->n_ext);
        if (err == QR_OK)
            err = store_extents_open(r, out->ext, out->n_ext, NULL);
    }
out:
    sqlite3_finalize(s);
    return err;
}

/* ---- progress ---- */

struct progress_change {
    struct store_change ch;
    const struct store_job_progress *p;
    size_t next; /* rows applied by earlier transactions (a bulk record in parts) */
};

/* A task's effect in a savepoint of its own: a failure rolls back only this task. */
static enum qr_err w_effect(struct store *st, struct store_job_row *row, enum qr_err *out_effect)
{
    size_t mark = st->freed.n;
    enum qr_err err = stmt_exec(&st->wc, ST_SAVEPOINT);
    if (err != QR_OK)
        return err;
    int64_t mtime;
    enum qr_err e = QR_E_INTERNAL;
    switch (row->effect) {
    case STORE_JOB_EFFECT_COPY:
        e = w_obj_copy(st, &row->copy, &mtime);
        break;
    case STORE_JOB_EFFECT_TAGS:
        e = w_obj_set_tags(st, row->obj_bucket, row->obj_key, row->tags);
        break;
    case STORE_JOB_EFFECT_HOLD:
        e = w_obj_set_hold(st, row->obj_bucket, row->obj_key, row->obj_version, row->flag);
        break;
    case STORE_JOB_EFFECT_RETENTION:
        e = w_obj_set_retention(st, row->obj_bucket, row->obj_key, row->obj_version, row->lock_mode,
                                row->lock_until_ms, row->flag);
        break;
    case STORE_JOB_EFFECT_NONE:
        break;
    }
    if (e != QR_OK) {
        st->freed.n = mark;
        if ((err = stmt_exec(&st->wc, ST_ROLLBACK_TO)) != QR_OK)
            return err;
    }
    *out_effect = e;
    return stmt_exec(&st->wc, ST_RELEASE);
}

static enum qr_err w_row_insert(struct store *st, sqlite3_stmt *s, int64_t seq,
                                const struct store_job_row *row)
{
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_int64(s, 2, (int64_t)row->line);
    sqlite3_bind_int(s, 3, row->failed);
    bind_bytes(s, 4, row->bucket);
    bind_bytes(s, 5, row->key);
    bind_text_slice(s, 6, row->version);
    bind_text(s, 7, row->code);
    sqlite3_bind_int(s, 8, row->http);
    bind_text(s, 9, row->message);
    return sqlite3_step(s) == SQLITE_DONE ? QR_OK : db_fail(st->wdb, "job result");
}

/* Applies rows from *next on; stops early (*out_more) when the writer asks a bulk
 * change to yield. */
static enum qr_err w_rows(struct store *st, const struct store_job_progress *p, int64_t seq,
                          bool bulk, size_t *next, uint64_t *out_ok, uint64_t *out_failed,
                          bool *out_more)
{
    sqlite3_stmt *s = stmt_get(&st->wc, ST_JOB_RESULT_PUT);
    if (s == NULL)
        return QR_E_DB;
    enum qr_err err = QR_OK;
    size_t i = *next;
    while (i < p->n && err == QR_OK) {
        struct store_job_row *row = &p->rows[i];
        if (row->effect != STORE_JOB_EFFECT_NONE) {
            enum qr_err e = QR_OK;
            if ((err = w_effect(st, row, &e)) != QR_OK)
                break;
            p->outcome(p->arg, row, e);
        }
        err = w_row_insert(st, s, seq, row);
        *(row->failed ? out_failed : out_ok) += 1;
        i++;
        if (bulk) {
            writer_bulk_unit(st);
            if (i < p->n && writer_should_yield(st)) {
                *out_more = true;
                break;
            }
        }
    }
    *next = i;
    sqlite3_reset(s);
    return err;
}

static enum qr_err apply_progress(struct store *st, struct store_change *ch)
{
    struct progress_change *c = (struct progress_change *)ch;
    const struct store_job_progress *p = c->p;
    struct w_job j;
    uint64_t ok = 0, failed = 0;
    size_t from = c->next;
    bool more = false;
    /* Only a record that knows where each line ends may commit in parts. */
    bool bulk = ch->bulk && p->ends != NULL;
    enum qr_err err = w_job_get(st, p->id, &j);
    if (err != QR_OK)
        return err;
    if (j.cursor != p->cursor_from + from) {
        err = QR_E_CONFLICT;
        goto out;
    }
    size_t next = from;
    w_bucket_cache_on(st);
    err = w_rows(st, p, j.seq, bulk, &next, &ok, &failed, &more);
    w_bucket_cache_off(st);
    if (err != QR_OK)
        goto out;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_JOB_PROGRESS);
    if (s == NULL) {
        err = QR_E_DB;
        goto out;
    }
    sqlite3_bind_int64(s, 1, j.seq);
    sqlite3_bind_int64(s, 2, (int64_t)(more ? p->cursor_from + next : p->cursor_to));
    sqlite3_bind_int64(s, 3, (int64_t)(more ? p->ends[next - 1] : p->manifest_off));
    sqlite3_bind_int64(s, 4, (int64_t)ok);
    sqlite3_bind_int64(s, 5, (int64_t)failed);
    sqlite3_bind_int64(s, 6, more ? 0 : p->active_ms);
    err = sqlite3_step(s) == SQLITE_DONE ? QR_OK : db_fail(st->wdb, "job progress");
    sqlite3_reset(s);
    if (err == QR_OK) {
        /* The rows up to next commit with this transaction or the change fails as a
         * whole; either way they are not applied again. */
        c->next = next;
        ch->more = more;
    }
out:
    qr_buf_dispose(&j.ext);
    return err;
}

enum qr_err store_job_progress(struct store *st, const struct store_job_progress *p)
{
    struct progress_change c = {.ch.apply = apply_progress, .p = p};
    return writer_submit(st, &c.ch);
}

struct progress_async {
    struct progress_change c;
    store_job_progress_cb cb;
    void *arg;
};

static void progress_async_done(struct store_change *ch)
{
    struct progress_async *a = (struct progress_async *)ch;
    store_job_progress_cb cb = a->cb;
    void *arg = a->arg;
    enum qr_err err = ch->err;
    free(a);
    cb(arg, err);
}

void store_job_progress_async(struct store *st, const struct store_job_progress *p,
                              store_job_progress_cb cb, void *arg)
{
    struct progress_async *a = qr_xmalloc(sizeof(*a));
    memset(a, 0, sizeof(*a));
    a->c.ch.apply = apply_progress;
    a->c.ch.on_done = progress_async_done;
    a->c.ch.bulk = true;
    a->c.p = p;
    a->cb = cb;
    a->arg = arg;
    writer_submit_async(st, &a->c.ch);
}

enum qr_err store_job_results(struct store_reader *r, const char *id, uint64_t from,
                              bool failed_only, size_t max, h2o_mem_pool_t *pool,
                              struct store_job_row **out, size_t *out_n)
{
    sqlite3_stmt *s = prep(r->db, "SELECT line,failed,bucket,key,version,code,http,message"
                                  " FROM batch_results WHERE job_seq=(SELECT seq FROM batch_jobs"
                                  " WHERE id=?1) AND line>=?2 AND (?3=0 OR failed=1)"
                                  " ORDER BY line LIMIT ?4");
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, (int64_t)from);
    sqlite3_bind_int(s, 3, failed_only);
    sqlite3_bind_int64(s, 4, (int64_t)max);
    struct store_job_row *v = pool_alloc(pool, sizeof(*v) * (max ? max : 1));
    size_t n = 0;
    int rc = SQLITE_DONE;
    while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_job_row *row = &v[n++];
        memset(row, 0, sizeof(*row));
        row->line = (uint64_t)sqlite3_column_int64(s, 0);
        row->failed = sqlite3_column_int(s, 1) != 0;
        row->bucket = col_slice(s, 2, pool);
        row->key = col_slice(s, 3, pool);
        row->version = col_text_pool(s, 4, pool);
        col_text(s, 5, row->code, sizeof(row->code));
        row->http = sqlite3_column_int(s, 6);
        col_text(s, 7, row->message, sizeof(row->message));
    }
    if (n < max && rc != SQLITE_DONE) {
        sqlite3_finalize(s);
        return db_fail(r->db, "job results");
    }
    sqlite3_finalize(s);
    *out = v;
    *out_n = n;
    return QR_OK;
}
