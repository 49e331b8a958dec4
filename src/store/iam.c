/*
 * iam.c - the IAM rows (see store_iam.h): one table, changes of several steps applied
 * atomically by the writer, and a full scan for the snapshot. IAM changes are rare and
 * the scan runs once per change, so statements are prepared per call rather than cached.
 */
#include "store/store_iam.h"

#include <stdio.h>
#include <string.h>

#include "store/store_int.h"

struct iam_change {
    struct store_change ch;
    const struct store_iam_op *ops;
    size_t n;
    size_t failed;
};

static const char *const op_sql[] = {
    [STORE_IAM_INSERT] = "INSERT INTO iam(kind, parent, name, doc) VALUES(?1, ?2, ?3, ?4)",
    [STORE_IAM_UPSERT] =
        "INSERT OR REPLACE INTO iam(kind, parent, name, doc) VALUES(?1, ?2, ?3, ?4)",
    [STORE_IAM_UPDATE] = "UPDATE iam SET doc=?4 WHERE kind=?1 AND parent=?2 AND name=?3",
    [STORE_IAM_DELETE] = "DELETE FROM iam WHERE kind=?1 AND parent=?2 AND name=?3",
    [STORE_IAM_DELETE_ANY] = "DELETE FROM iam WHERE kind=?1 AND parent=?2 AND name=?3",
    [STORE_IAM_DELETE_KIDS] = "DELETE FROM iam WHERE kind=?1 AND parent=?2",
    [STORE_IAM_ABSENT] = "SELECT 1 FROM iam WHERE kind=?1 AND parent=?2 LIMIT 1",
    [STORE_IAM_PRESENT] = "SELECT 1 FROM iam WHERE kind=?1 AND parent=?2 AND name=?3",
};

/* Binds only the parameters the statement has: sqlite3 refuses an index past them. */
static void bind_op(sqlite3_stmt *s, const struct store_iam_op *o)
{
    int n = sqlite3_bind_parameter_count(s);
    bind_text(s, 1, o->kind);
    bind_text_slice(s, 2, o->parent);
    if (n >= 3)
        bind_text_slice(s, 3, o->name);
    if (n >= 4)
        bind_bytes(s, 4, o->doc);
}

static enum qr_err run_op(struct store *st, const struct store_iam_op *o)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->wdb, op_sql[o->op], -1, &s, NULL) != SQLITE_OK)
        return db_fail(st->wdb, "iam prepare");
    bind_op(s, o);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    switch (o->op) {
    case STORE_IAM_INSERT:
        if (rc == SQLITE_CONSTRAINT)
            return QR_E_CONFLICT;
        break;
    case STORE_IAM_ABSENT:
        return rc == SQLITE_ROW ? QR_E_CONFLICT : rc == SQLITE_DONE ? QR_OK : QR_E_DB;
    case STORE_IAM_PRESENT:
        return rc == SQLITE_ROW ? QR_OK : rc == SQLITE_DONE ? QR_E_NO_SUCH_KEY : QR_E_DB;
    default:
        break;
    }
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, "iam change");
    if ((o->op == STORE_IAM_UPDATE || o->op == STORE_IAM_DELETE) && sqlite3_changes(st->wdb) != 1)
        return QR_E_NO_SUCH_KEY;
    return QR_OK;
}

static enum qr_err apply(struct store *st, struct store_change *ch)
{
    struct iam_change *c = (struct iam_change *)ch;
    for (size_t i = 0; i < c->n; i++) {
        enum qr_err e = run_op(st, &c->ops[i]);
        if (e != QR_OK) {
            c->failed = i;
            return e;
        }
    }
    return QR_OK;
}

enum qr_err store_iam_change(struct store *st, const struct store_iam_op *ops, size_t n,
                             size_t *out_failed)
{
    struct iam_change c = {.ch.apply = apply, .ops = ops, .n = n, .failed = 0};
    enum qr_err e = writer_submit(st, &c.ch);
    if (out_failed)
        *out_failed = c.failed;
    return e;
}

static enum qr_err scan_db(sqlite3 *db, store_iam_row_cb cb, void *arg)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT kind, parent, name, doc FROM iam ORDER BY kind, parent, name",
                           -1, &s, NULL) != SQLITE_OK)
        return db_fail(db, "iam scan");
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_iam_row row = {
            (const char *)sqlite3_column_text(s, 0),
            (const char *)sqlite3_column_text(s, 1),
            (const char *)sqlite3_column_text(s, 2),
            qr_slice(sqlite3_column_blob(s, 3), (size_t)sqlite3_column_bytes(s, 3)),
        };
        if (!row.kind || !row.parent || !row.name || !cb(arg, &row)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? QR_OK : db_fail(db, "iam scan");
}

enum qr_err store_iam_scan(struct store_reader *r, store_iam_row_cb cb, void *arg)
{
    return scan_db(r->db, cb, arg);
}

enum qr_err store_iam_scan_dir(const char *data_dir, store_iam_row_cb cb, void *arg)
{
    char path[4096];
    sqlite3 *db = NULL;
    int n = snprintf(path, sizeof(path), "%s/meta.db", data_dir);
    if (n < 0 || (size_t)n >= sizeof(path))
        return QR_E_BAD_INPUT;
    enum qr_err e = db_open(path, true, false, false, &db);
    if (e == QR_OK)
        e = scan_db(db, cb, arg);
    sqlite3_close(db);
    return e;
}
