/*
 * fn.c - the function registry (functions, versions, aliases, reserved concurrency) and
 * the durable Event queue of store_fn.h.
 *
 * Every change is a struct store_change run by the writer, so its checks (exists,
 * RevisionId, CodeSha256, alias targets) hold at commit and PublishVersion's read of
 * $LATEST, choice of number and insert are one transaction. Version numbers come from
 * the $LATEST row's last_published, never from max(vnum): a deleted newest version's
 * number is not handed out again. The configuration JSON is copied byte for byte.
 * Reads are single statements (a join of a version with its $LATEST row), so each sees
 * one snapshot.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* ---- helpers ---- */

static enum qr_err step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, what);
    return QR_OK;
}

static void bind_json(sqlite3_stmt *s, int i, struct qr_slice v)
{
    bind_text_slice(s, i, v);
}

static bool text_eq(sqlite3_stmt *s, int col, const char *want)
{
    const unsigned char *p = sqlite3_column_text(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    return p && strlen(want) == n && memcmp(p, want, n) == 0;
}

/* $LATEST as the writer sees it. */
struct w_latest {
    char revision[37];
    char code_sha256[48];
    uint64_t code_size;
    int state;
    uint32_t last_published;
    char published_rev[37];
    struct qr_buf config; /* owned */
};

static enum qr_err w_latest_get(struct store *st, const char *name, struct w_latest *out)
{
    sqlite3_stmt *s = stmt_get(&st->wc, ST_FN_W_LATEST);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, name);
    int rc = sqlite3_step(s);
    enum qr_err err = QR_OK;
    if (rc == SQLITE_ROW) {
        col_text(s, 0, out->revision, sizeof(out->revision));
        col_text(s, 1, out->code_sha256, sizeof(out->code_sha256));
        out->code_size = (uint64_t)sqlite3_column_int64(s, 2);
        out->state = sqlite3_column_int(s, 3);
        out->last_published = (uint32_t)sqlite3_column_int64(s, 4);
        col_text(s, 5, out->published_rev, sizeof(out->published_rev));
        qr_buf_init(&out->config, STORE_FN_CONFIG_MAX);
        err =
            qr_buf_add(&out->config, sqlite3_column_text(s, 6), (size_t)sqlite3_column_bytes(s, 6));
        if (err != QR_OK)
            qr_buf_dispose(&out->config);
    } else if (rc == SQLITE_DONE) {
        err = QR_E_NO_SUCH_KEY;
    } else {
        err = db_fail(st->wdb, "function latest");
    }
    sqlite3_reset(s);
    return err;
}

static enum qr_err w_version_exists(struct store *st, struct qr_slice name, uint32_t v, bool *out)
{
    sqlite3_stmt *s = stmt_get(&st->wc, ST_FN_EXISTS_V);
    if (s == NULL)
        return QR_E_DB;
    bind_text_slice(s, 1, name);
    sqlite3_bind_int64(s, 2, v);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(st->wdb, "function exists");
    *out = rc == SQLITE_ROW;
    return QR_OK;
}

struct w_insert {
    const char *name;
    uint32_t vnum;
    const char *revision;
    const char *code_sha256;
    uint64_t code_size;
    int64_t now_ms;
    uint32_t last_published;
    const char *published_rev;
    struct qr_slice config, tags;
};

static enum qr_err w_insert_row(struct store *st, const struct w_insert *w)
{
    sqlite3_stmt *s = stmt_get(&st->wc, ST_FN_INSERT);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, w->name);
    sqlite3_bind_int64(s, 2, w->vnum);
    bind_text(s, 3, w->revision);
    bind_text(s, 4, w->code_sha256);
    sqlite3_bind_int64(s, 5, (int64_t)w->code_size);
    sqlite3_bind_int(s, 6, STORE_FN_ACTIVE);
    sqlite3_bind_int64(s, 7, w->now_ms);
    sqlite3_bind_int64(s, 8, w->last_published);
    bind_text(s, 9, w->published_rev);
    bind_json(s, 10, w->config);
    bind_json(s, 11, w->tags);
    return step_done(st, s, "function insert");
}

static enum qr_err w_set_published(struct store *st, const char *name, uint32_t v, const char *rev)
{
    sqlite3_stmt *s = stmt_get(&st->wc, ST_FN_SET_PUBLISHED);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, name);
    sqlite3_bind_int64(s, 2, v);
    bind_text(s, 3, rev);
    return step_done(st, s, "function published");
}

/* Inserts $LATEST's current content as version last_published+1. */
static enum qr_err w_publish(struct store *st, const char *name, const struct w_latest *l,
                             const char *revision, struct qr_slice config, int64_t now_ms,
                             uint32_t *out_version)
{
    if (l->last_published == UINT32_MAX)
        return QR_E_TOO_LARGE;
    uint32_t v = l->last_published + 1;
    struct w_insert w = {
        .name = name,
        .vnum = v,
        .revision = revision,
        .code_sha256 = l->code_sha256,
        .code_size = l->code_size,
        .now_ms = now_ms,
        .published_rev = "",
        .config = config.len ? config : qr_slice(l->config.p, l->config.len),
        .tags = qr_slice(NULL, 0),
    };
    enum qr_err err = w_insert_row(st, &w);
    if (err == QR_OK)
        err = w_set_published(st, name, v, l->revision);
    if (err == QR_OK)
        *out_version = v;
    return err;
}

/* ---- create / update / publish / delete ---- */

struct fn_change {
    struct store_change ch;
    const struct store_fn_create *create;
    const struct store_fn_update *update;
    const struct store_fn_publish *publish;
    struct qr_slice name;
    uint32_t version;
    int32_t reserved;
    uint32_t out_version;
};

static enum qr_err apply_create(struct store *st, struct store_change *ch)
{
    const struct store_fn_create *c = ((struct fn_change *)ch)->create;
    bool exists;
    enum qr_err err = w_version_exists(st, qr_slice_cstr(c->name), STORE_FN_LATEST, &exists);
    if (err != QR_OK)
        return err;
    if (exists)
        return QR_E_CONFLICT;
    struct w_insert w = {
        .name = c->name,
        .vnum = STORE_FN_LATEST,
        .revision = c->revision,
        .code_sha256 = c->code_sha256,
        .code_size = c->code_size,
        .now_ms = c->now_ms,
        .last_published = c->publish_revision ? 1 : 0,
        .published_rev = c->publish_revision ? c->revision : "",
        .config = c->config,
        .tags = c->tags,
    };
    err = w_insert_row(st, &w);
    if (err != QR_OK || !c->publish_revision)
        return err;
    w.vnum = 1;
    w.revision = c->publish_revision;
    w.last_published = 0;
    w.published_rev = "";
    w.tags = qr_slice(NULL, 0);
    return w_insert_row(st, &w);
}

enum qr_err store_fn_create(struct store *st, const struct store_fn_create *c)
{
    if (c->config.len > STORE_FN_CONFIG_MAX || c->tags.len > STORE_FN_CONFIG_MAX)
        return QR_E_TOO_LARGE;
    struct fn_change f = {.ch.apply = apply_create, .create = c};
    return writer_submit(st, &f.ch);
}

static enum qr_err apply_update(struct store *st, struct store_change *ch)
{
    struct fn_change *f = (struct fn_change *)ch;
    const struct store_fn_update *u = f->update;
    struct w_latest l;
    enum qr_err err = w_latest_get(st, u->name, &l);
    if (err != QR_OK)
        return err;
    if (u->if_revision && strcmp(u->if_revision, l.revision) != 0) {
        err = QR_E_PRECONDITION;
        goto out;
    }
    sqlite3_stmt *s = stmt_get(&st->wc, ST_FN_UPDATE);
    if (s == NULL) {
        err = QR_E_DB;
        goto out;
    }
    const char *sha = u->code_sha256 ? u->code_sha256 : l.code_sha256;
    uint64_t size = u->code_sha256 ? u->code_size : l.code_size;
    bind_text(s, 1, u->name);
    bind_text(s, 2, u->revision);
    bind_text(s, 3, sha);
    sqlite3_bind_int64(s, 4, (int64_t)size);
    sqlite3_bind_int64(s, 5, u->now_ms);
    bind_json(s, 6, u->config);
    err = step_done(st, s, "function update");
    if (err != QR_OK || !u->publish_revision)
        goto out;
    /* The version is a copy of what was just written. */
    snprintf(l.revision, sizeof(l.revision), "%s", u->revision);
    snprintf(l.code_sha256, sizeof(l.code_sha256), "%s", sha);
    l.code_size = size;
    qr_buf_reset(&l.config);
    err = qr_buf_add(&l.config, u->config.p, u->config.len);
    if (err == QR_OK)
        err = w_publish(st, u->name, &l, u->publish_revision, qr_slice(NULL, 0), u->now_ms,
                        &f->out_version);
out:
    qr_buf_dispose(&l.config);
    return err;
}

enum qr_err store_fn_update(struct store *st, const struct store_fn_update *u,
                            uint32_t *out_version)
{
    if (u->config.len > STORE_FN_CONFIG_MAX)
        return QR_E_TOO_LARGE;
    struct fn_change f = {.ch.apply = apply_update, .update = u};
    enum qr_err err = writer_submit(st, &f.ch);
    if (err == QR_OK)
        *out_version = f.out_version;
    return err;
}

static enum qr_err apply_publish(struct store *st, struct store_change *ch)
{
    struct fn_change *f = (struct fn_change *)ch;
    const struct store_fn_publish *p = f->publish;
    struct w_latest l;
    enum qr_err err = w_latest_get(st, p->name, &l);
    if (err != QR_OK)
        return err;
    if ((p->if_revision && strcmp(p->if_revision, l.revision) != 0) ||
        (p->if_code_sha256 && strcmp(p->if_code_sha256, l.code_sha256) != 0)) {
        err = QR_E_PRECONDITION;
        goto out;
    }
    if (p->config.len == 0 && l.last_published > 0 && strcmp(l.published_rev, l.revision) == 0) {
        bool exists;
        err = w_version_exists(st, qr_slice_cstr(p->name), l.last_published, &exists);
        if (err != QR_OK)
            goto out;
        if (exists) { /* nothing changed since: AWS returns that version again */
            f->out_version = l.last_published;
            goto out;
        }
    }
    err = w_publish(st, p->name, &l, p->revision, p->config, p->now_ms, &f->out_version);
out:
    qr_buf_dispose(&l.config);
    return err;
}

enum qr_err store_fn_publish(struct store *st, const struct store_fn_publish *p,
                             uint32_t *out_version)
{
    if (p->config.len > STORE_FN_CONFIG_MAX)
        return QR_E_TOO_LARGE;
    struct fn_change f = {.ch.apply = apply_publish, .publish = p};
    enum qr_err err = writer_submit(st, &f.ch);
    if (err == QR_OK)
        *out_version = f.out_version;
    return err;
}

static enum qr_err exec_name(struct store *st, enum stmt_id id, struct qr_slice name,
                             const char *what)
{
    sqlite3_stmt *s = stmt_get(&st->wc, id);
    if (s == NULL)
        return QR_E_DB;
    bind_text_slice(s, 1, name);
    return step_done(st, s, what);
}

static enum qr_err apply_delete(struct store *st, struct store_change *ch)
{
    struct fn_change *f = (struct fn_change *)ch;
    bool exists;
    enum qr_err err = w_version_exists(st, f->name, f->version, &exists);
    if (err != QR_OK)
        return err;
    if (!exists)
        return QR_E_NO_SUCH_KEY;
    if (f->version == STORE_FN_LATEST) {
        err = exec_name(st, ST_FN_ALIAS_DELETE_ALL, f->name, "alias delete all");
        if (err == QR_OK)
            err = exec_name(st, ST_FN_DELETE_ALL, f->name, "function delete");
        return err;
    }
    sqlite3_stmt *s = stmt_get(&st->wc, ST_FN_ALIAS_OF_V);
    if (s == NULL)
        return QR_E_DB;
    bind_text_slice(s, 1, f->name);
    sqlite3_bind_int64(s, 2, f->version);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return QR_E_CONFLICT;
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, "alias of version");
    s = stmt_get(&st->wc, ST_FN_DELETE_V);
    if (s == NULL)
        return QR_E_DB;
    bind_text_slice(s, 1, f->name);
    sqlite3_bind_int64(s, 2, f->version);
    return step_done(st, s, "version delete");
}

enum qr_err store_fn_delete(struct store *st, struct qr_slice name, uint32_t version)
{
    struct fn_change f = {.ch.apply = apply_delete, .name = name, .version = version};
    return writer_submit(st, &f.ch);
}

static enum qr_err apply_concurrency(struct store *st, struct store_change *ch)
{
    struct fn_change *f = (struct fn_change *)ch;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_FN_SET_RESERVED);
    if (s == NULL)
        return QR_E_DB;
    bind_text_slice(s, 1, f->name);
    if (f->reserved < 0)
        sqlite3_bind_null(s, 2);
    else
        sqlite3_bind_int(s, 2, f->reserved);
    enum qr_err err = step_done(st, s, "function concurrency");
    if (err == QR_OK && sqlite3_changes(st->wdb) != 1)
        err = QR_E_NO_SUCH_KEY;
    return err;
}

enum qr_err store_fn_set_concurrency(struct store *st, struct qr_slice name, int32_t reserved)
{
    struct fn_change f = {.ch.apply = apply_concurrency, .name = name, .reserved = reserved};
    return writer_submit(st, &f.ch);
}

/* ---- reads ---- */

static void row_fn(sqlite3_stmt *s, h2o_mem_pool_t *pool, struct store_fn *out)
{
    memset(out, 0, sizeof(*out));
    col_text(s, 0, out->name, sizeof(out->name));
    out->version = (uint32_t)sqlite3_column_int64(s, 1);
    col_text(s, 2, out->revision, sizeof(out->revision));
    col_text(s, 3, out->code_sha256, sizeof(out->code_sha256));
    out->code_size = (uint64_t)sqlite3_column_int64(s, 4);
    int state = sqlite3_column_int(s, 5);
    out->state = state == STORE_FN_PENDING  ? STORE_FN_PENDING
                 : state == STORE_FN_FAILED ? STORE_FN_FAILED
                                            : STORE_FN_ACTIVE;
    out->last_modified_ms = sqlite3_column_int64(s, 6);
    out->reserved = sqlite3_column_type(s, 7) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 7);
    out->last_published = (uint32_t)sqlite3_column_int64(s, 8);
    out->config = col_slice(s, 9, pool);
    out->tags = col_slice(s, 10, pool);
}

enum qr_err store_fn_get(struct store_reader *r, struct qr_slice name, uint32_t version,
                         h2o_mem_pool_t *pool, struct store_fn *out)
{
    sqlite3_stmt *s = stmt_get(&r->c, ST_FN_GET);
    if (s == NULL)
        return QR_E_DB;
    bind_text_slice(s, 1, name);
    sqlite3_bind_int64(s, 2, version);
    int rc = sqlite3_step(s);
    enum qr_err err = QR_OK;
    if (rc == SQLITE_ROW)
        row_fn(s, pool, out);
    else if (rc == SQLITE_DONE)
        err = QR_E_NO_SUCH_KEY;
    else
        err = db_fail(r->db, "function get");
    sqlite3_reset(s);
    return err;
}

/* Reads one row of a list statement into the element at out. */
typedef void (*row_cb)(sqlite3_stmt *s, h2o_mem_pool_t *pool, void *out);

/* Steps a bound list statement that was given LIMIT max+1 into an array of max elements
 * of elem bytes in pool; the extra row only says the list is truncated. */
static enum qr_err collect_rows(struct store_reader *r, sqlite3_stmt *s, size_t max, size_t elem,
                                row_cb row, const char *what, h2o_mem_pool_t *pool, void **out,
                                size_t *out_n, bool *out_truncated)
{
    uint8_t *list = pool_alloc(pool, elem * (max ? max : 1));
    size_t n = 0;
    bool truncated = false;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == max) {
            truncated = true;
            break;
        }
        row(s, pool, list + elem * n++);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(r->db, what);
    *out = list;
    *out_n = n;
    *out_truncated = truncated;
    return QR_OK;
}

static void row_fn_any(sqlite3_stmt *s, h2o_mem_pool_t *pool, void *out)
{
    row_fn(s, pool, out);
}

static enum qr_err collect_fns(struct store_reader *r, sqlite3_stmt *s, size_t max,
                               h2o_mem_pool_t *pool, struct store_fn **out, size_t *out_n,
                               bool *out_truncated)
{
    void *list = NULL;
    enum qr_err err = collect_rows(r, s, max, sizeof(**out), row_fn_any, "function list", pool,
                                   &list, out_n, out_truncated);
    if (err == QR_OK)
        *out = list;
    return err;
}

enum qr_err store_fn_list(struct store_reader *r, struct qr_slice after_name,
                          uint32_t after_version, bool all_versions, size_t max,
                          h2o_mem_pool_t *pool, struct store_fn **out, size_t *out_n,
                          bool *out_truncated)
{
    if (max > 10000)
        max = 10000;
    sqlite3_stmt *s = stmt_get(&r->c, all_versions ? ST_FN_LIST_ALL : ST_FN_LIST_LATEST);
    if (s == NULL)
        return QR_E_DB;
    bind_text_slice(s, 1, after_name);
    sqlite3_bind_int64(s, 2, after_version);
    sqlite3_bind_int64(s, 3, (int64_t)max + 1);
    return collect_fns(r, s, max, pool, out, out_n, out_truncated);
}

enum qr_err store_fn_versions(struct store_reader *r, struct qr_slice name, int64_t after,
                              size_t max, h2o_mem_pool_t *pool, struct store_fn **out,
                              size_t *out_n, bool *out_truncated)
{
    if (max > 10000)
        max = 10000;
    sqlite3_stmt *s = stmt_get(&r->c, ST_FN_VERSIONS);
    if (s == NULL)
        return QR_E_DB;
    bind_text_slice(s, 1, name);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, (int64_t)max + 1);
    enum qr_err err = collect_fns(r, s, max, pool, out, out_n, out_truncated);
    if (err == QR_OK && *out_n == 0 && after < 0)
        err = QR_E_NO_SUCH_KEY;
    return err;
}

/* ---- aliases ---- */

struct alias_change {
    struct store_change ch;
    const struct store_fn_alias_put *put;
    struct qr_slice function, name;
};

static enum qr_err apply_alias_put(struct store *st, struct store_change *ch)
{
    const struct store_fn_alias_put *a = ((struct alias_change *)ch)->put;
    struct qr_slice fname = qr_slice_cstr(a->function);
    bool exists;
    enum qr_err err = w_version_exists(st, fname, STORE_FN_LATEST, &exists);
    if (err != QR_OK)
        return err;
    if (!exists)
        return QR_E_NO_SUCH_KEY;

    /* the alias as it is now */
    sqlite3_stmt *s = stmt_get(&st->wc, ST_FN_ALIAS_GET);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, a->function);
    bind_text(s, 2, a->name);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sqlite3_reset(s);
        return db_fail(st->wdb, "alias get");
    }
    bool have = rc == SQLITE_ROW;
    bool rev_ok = !have || !a->if_revision || text_eq(s, 3, a->if_revision);
    uint32_t version = a->version;
    struct qr_buf desc, routing;
    qr_buf_init(&desc, STORE_FN_CONFIG_MAX);
    qr_buf_init(&routing, STORE_FN_CONFIG_MAX);
    if (have && version == UINT32_MAX)
        version = (uint32_t)sqlite3_column_int64(s, 2);
    if (have && a->description.p == NULL)
        err = qr_buf_add(&desc, sqlite3_column_text(s, 4), (size_t)sqlite3_column_bytes(s, 4));
    if (have && a->routing.p == NULL && err == QR_OK)
        err = qr_buf_add(&routing, sqlite3_column_text(s, 5), (size_t)sqlite3_column_bytes(s, 5));
    sqlite3_reset(s);
    if (err != QR_OK)
        goto out;
    if (a->create && have) {
        err = QR_E_CONFLICT;
        goto out;
    }
    if (!a->create && !have) {
        err = QR_E_NO_SUCH_KEY;
        goto out;
    }
    if (!rev_ok) {
        err = QR_E_PRECONDITION;
        goto out;
    }
    if (version == UINT32_MAX) {
        err = QR_E_BAD_INPUT;
        goto out;
    }
    if ((err = w_version_exists(st, fname, version, &exists)) != QR_OK)
        goto out;
    if (!exists) {
        err = QR_E_NO_SUCH_KEY;
        goto out;
    }
    s = stmt_get(&st->wc, a->create ? ST_FN_ALIAS_INSERT : ST_FN_ALIAS_UPDATE);
    if (s == NULL) {
        err = QR_E_DB;
        goto out;
    }
    bind_text(s, 1, a->function);
    bind_text(s, 2, a->name);
    sqlite3_bind_int64(s, 3, version);
    bind_text(s, 4, a->revision);
    bind_text_slice(s, 5, a->description.p ? a->description : qr_slice(desc.p, desc.len));
    bind_text_slice(s, 6, a->routing.p ? a->routing : qr_slice(routing.p, routing.len));
    err = step_done(st, s, "alias put");
out:
    qr_buf_dispose(&desc);
    qr_buf_dispose(&routing);
    return err;
}

enum qr_err store_fn_alias_put(struct store *st, const struct store_fn_alias_put *a)
{
    if (a->description.len > STORE_FN_CONFIG_MAX || a->routing.len > STORE_FN_CONFIG_MAX)
        return QR_E_TOO_LARGE;
    struct alias_change c = {.ch.apply = apply_alias_put, .put = a};
    return writer_submit(st, &c.ch);
}

static enum qr_err apply_alias_delete(struct store *st, struct store_change *ch)
{
    struct alias_change *c = (struct alias_change *)ch;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_FN_ALIAS_DELETE);
    if (s == NULL)
        return QR_E_DB;
    bind_text_slice(s, 1, c->function);
    bind_text_slice(s, 2, c->name);
    enum qr_err err = step_done(st, s, "alias delete");
    if (err == QR_OK && sqlite3_changes(st->wdb) != 1)
        err = QR_E_NO_SUCH_KEY;
    return err;
}

enum qr_err store_fn_alias_delete(struct store *st, struct qr_slice function, struct qr_slice name)
{
    struct alias_change c = {.ch.apply = apply_alias_delete, .function = function, .name = name};
    return writer_submit(st, &c.ch);
}

static void row_alias(sqlite3_stmt *s, h2o_mem_pool_t *pool, struct store_fn_alias *out)
{
    memset(out, 0, sizeof(*out));
    col_text(s, 0, out->function, sizeof(out->function));
    col_text(s, 1, out->name, sizeof(out->name));
    out->version = (uint32_t)sqlite3_column_int64(s, 2);
    col_text(s, 3, out->revision, sizeof(out->revision));
    out->description = col_slice(s, 4, pool);
    out->routing = col_slice(s, 5, pool);
}

static void row_alias_any(sqlite3_stmt *s, h2o_mem_pool_t *pool, void *out)
{
    row_alias(s, pool, out);
}

enum qr_err store_fn_alias_get(struct store_reader *r, struct qr_slice function,
                               struct qr_slice name, h2o_mem_pool_t *pool,
                               struct store_fn_alias *out)
{
    sqlite3_stmt *s = stmt_get(&r->c, ST_FN_ALIAS_GET);
    if (s == NULL)
        return QR_E_DB;
    bind_text_slice(s, 1, function);
    bind_text_slice(s, 2, name);
    int rc = sqlite3_step(s);
    enum qr_err err = QR_OK;
    if (rc == SQLITE_ROW)
        row_alias(s, pool, out);
    else if (rc == SQLITE_DONE)
        err = QR_E_NO_SUCH_KEY;
    else
        err = db_fail(r->db, "alias get");
    sqlite3_reset(s);
    return err;
}

enum qr_err store_fn_alias_list(struct store_reader *r, struct qr_slice function,
                                struct qr_slice after, uint32_t version, size_t max,
                                h2o_mem_pool_t *pool, struct store_fn_alias **out, size_t *out_n,
                                bool *out_truncated)
{
    if (max > 10000)
        max = 10000;
    sqlite3_stmt *s = stmt_get(&r->c, ST_FN_ALIAS_LIST);
    if (s == NULL)
        return QR_E_DB;
    bind_text_slice(s, 1, function);
    bind_text_slice(s, 2, after);
    sqlite3_bind_int64(s, 3, version == UINT32_MAX ? -1 : (int64_t)version);
    sqlite3_bind_int64(s, 4, (int64_t)max + 1);
    void *list = NULL;
    enum qr_err err = collect_rows(r, s, max, sizeof(**out), row_alias_any, "alias list", pool,
                                   &list, out_n, out_truncated);
    if (err == QR_OK)
        *out = list;
    return err;
}

/* ---- Event queue ---- */

struct ev_change {
    struct store_change ch;
    struct qr_slice target, payload;
    const char *request_id;
    int64_t id, now_ms, when_ms, lease_ms;
    size_t max;
    h2o_mem_pool_t *pool; /* the blocked caller's: it does not touch it meanwhile */
    struct store_fn_event *out;
    size_t out_n;
};

static enum qr_err apply_ev_enqueue(struct store *st, struct store_change *ch)
{
    struct ev_change *e = (struct ev_change *)ch;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_EV_INSERT);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, e->request_id);
    bind_text_slice(s, 2, e->target);
    bind_bytes(s, 3, e->payload);
    sqlite3_bind_int64(s, 4, e->now_ms);
    return step_done(st, s, "event insert");
}

enum qr_err store_fn_event_enqueue(struct store *st, struct qr_slice target, const char *request_id,
                                   struct qr_slice payload, int64_t now_ms)
{
    if (payload.len > STORE_FN_EVENT_MAX || target.len > 1024)
        return QR_E_TOO_LARGE;
    struct ev_change e = {.ch.apply = apply_ev_enqueue,
                          .target = target,
                          .payload = payload,
                          .request_id = request_id,
                          .now_ms = now_ms};
    return writer_submit(st, &e.ch);
}

static enum qr_err apply_ev_claim(struct store *st, struct store_change *ch)
{
    struct ev_change *e = (struct ev_change *)ch;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_EV_DUE);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, e->now_ms);
    sqlite3_bind_int64(s, 2, (int64_t)e->max);
    struct store_fn_event *list = pool_alloc(e->pool, sizeof(*list) * (e->max ? e->max : 1));
    size_t n = 0;
    int rc = SQLITE_DONE;
    while (n < e->max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_fn_event *ev = &list[n++];
        memset(ev, 0, sizeof(*ev));
        ev->id = sqlite3_column_int64(s, 0);
        col_text(s, 1, ev->request_id, sizeof(ev->request_id));
        ev->target = col_slice(s, 2, e->pool);
        ev->payload = col_slice(s, 3, e->pool);
        ev->enqueued_ms = sqlite3_column_int64(s, 4);
        ev->attempts = (uint32_t)sqlite3_column_int64(s, 5) + 1;
        ev->next_attempt_ms = e->now_ms + e->lease_ms;
    }
    sqlite3_reset(s);
    if (n < e->max && rc != SQLITE_DONE)
        return db_fail(st->wdb, "event due");
    for (size_t i = 0; i < n; i++) {
        s = stmt_get(&st->wc, ST_EV_LEASE);
        if (s == NULL)
            return QR_E_DB;
        sqlite3_bind_int64(s, 1, list[i].id);
        sqlite3_bind_int64(s, 2, list[i].next_attempt_ms);
        enum qr_err err = step_done(st, s, "event lease");
        if (err != QR_OK)
            return err;
    }
    e->out = list;
    e->out_n = n;
    return QR_OK;
}

enum qr_err store_fn_event_claim(struct store *st, int64_t now_ms, int64_t lease_ms, size_t max,
                                 h2o_mem_pool_t *pool, struct store_fn_event **out, size_t *out_n)
{
    if (max > 1000)
        max = 1000;
    struct ev_change e = {.ch.apply = apply_ev_claim,
                          .now_ms = now_ms,
                          .lease_ms = lease_ms,
                          .max = max,
                          .pool = pool};
    enum qr_err err = writer_submit(st, &e.ch);
    if (err == QR_OK) {
        *out = e.out;
        *out_n = e.out_n;
    }
    return err;
}

static enum qr_err apply_ev_ack(struct store *st, struct store_change *ch)
{
    struct ev_change *e = (struct ev_change *)ch;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_EV_DELETE);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, e->id);
    return step_done(st, s, "event delete");
}

enum qr_err store_fn_event_ack(struct store *st, int64_t id)
{
    struct ev_change e = {.ch.apply = apply_ev_ack, .id = id};
    return writer_submit(st, &e.ch);
}

static enum qr_err apply_ev_retry(struct store *st, struct store_change *ch)
{
    struct ev_change *e = (struct ev_change *)ch;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_EV_RETRY);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, e->id);
    sqlite3_bind_int64(s, 2, e->when_ms);
    return step_done(st, s, "event retry");
}

static enum qr_err apply_ev_unlease(struct store *st, struct store_change *ch)
{
    struct ev_change *e = (struct ev_change *)ch;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_EV_UNLEASE);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, e->when_ms);
    return step_done(st, s, "event unlease");
}

enum qr_err store_fn_event_release_leases(struct store *st, int64_t now_ms)
{
    struct ev_change e = {.ch.apply = apply_ev_unlease, .when_ms = now_ms};
    return writer_submit(st, &e.ch);
}

enum qr_err store_fn_event_retry(struct store *st, int64_t id, int64_t next_attempt_ms)
{
    struct ev_change e = {.ch.apply = apply_ev_retry, .id = id, .when_ms = next_attempt_ms};
    return writer_submit(st, &e.ch);
}

enum qr_err store_fn_event_next_due(struct store_reader *r, int64_t *out)
{
    sqlite3_stmt *s = stmt_get(&r->c, ST_EV_NEXT);
    if (s == NULL)
        return QR_E_DB;
    int rc = sqlite3_step(s);
    int64_t v = INT64_MAX;
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return db_fail(r->db, "event next");
    *out = v;
    return QR_OK;
}

enum qr_err store_fn_code_used(struct store_reader *r, const char *code_sha256, bool *out)
{
    /* Rare (deletes and code updates): not worth a cached statement or an index. */
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT 1 FROM functions WHERE code_sha256 = ?1 LIMIT 1", -1,
                           &s, NULL) != SQLITE_OK)
        return db_fail(r->db, "function code references");
    sqlite3_bind_text(s, 1, code_sha256, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    enum qr_err err = QR_OK;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        *out = rc == SQLITE_ROW;
    else
        err = db_fail(r->db, "function code references");
    sqlite3_finalize(s);
    return err;
}
