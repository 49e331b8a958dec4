/*
 * version.c - versioning and Object Lock in the store: a bucket's versioning state and
 * lock defaults, installing a new current version (a fresh id, the null version
 * replaced, or the one row of a never-versioned bucket updated), delete markers,
 * deleting one version, and per-version tags, retention and legal hold.
 *
 * Ordering: a key's versions are ordered by rowid. Every new version is a new row, and
 * SQLite gives a new row a rowid above every existing one, so the newest version has the
 * highest rowid and is the one with latest = 1 (schema.c). Deleting the current version
 * hands latest to the next highest rowid of the key, found with two seeks whatever the
 * number of versions: the newest version with an id (objects_by_key_seq) and the null
 * version (schema.c). A delete marker found there becomes current, so the key reads as
 * deleted, as in S3.
 * References: a version's extents hold their blob references until that version's row
 * is deleted, so copies and older versions keep sharing blobs; a blob goes only when its
 * last row does (w_unref).
 * Locks: a version under legal hold or unexpired retention is never deleted here, and
 * COMPLIANCE retention is never shortened, whoever asks (the API has no way around it).
 */
#include "store/store_int.h"

#include <stdio.h>
#include <string.h>

#include "util/codec.h"

#define DAY_MS (86400LL * 1000LL)

void col_vlock(sqlite3_stmt *s, int first, enum store_versioning *versioning,
               bool *lock_enabled, enum store_lock_mode *lock_mode, uint32_t *lock_days,
               uint32_t *lock_years)
{
    int v = sqlite3_column_int(s, first);
    *versioning = v == STORE_VERS_ENABLED     ? STORE_VERS_ENABLED
                  : v == STORE_VERS_SUSPENDED ? STORE_VERS_SUSPENDED
                                              : STORE_VERS_OFF;
    *lock_enabled = sqlite3_column_int(s, first + 1) != 0;
    int m = sqlite3_column_int(s, first + 2);
    *lock_mode = m == STORE_LOCK_GOVERNANCE   ? STORE_LOCK_GOVERNANCE
                 : m == STORE_LOCK_COMPLIANCE ? STORE_LOCK_COMPLIANCE
                                              : STORE_LOCK_NONE;
    *lock_days = (uint32_t)sqlite3_column_int64(s, first + 3);
    *lock_years = (uint32_t)sqlite3_column_int64(s, first + 4);
}

enum qr_err w_bucket_get(struct store *st, struct qr_slice name, struct w_bucket *out)
{
    /* a batch window's copies name one destination bucket thousands of times */
    if (w_bucket_cached(st, name, true, out))
        return QR_OK;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = stmt_get(&st->wc, ST_BUCKET_VSTATE);
    if (s == NULL)
        return QR_E_DB;
    bind_bytes(s, 1, name);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        col_vlock(s, 1, &out->versioning, &out->lock_enabled, &out->lock_mode, &out->lock_days,
                  &out->lock_years);
    }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return QR_E_NO_SUCH_BUCKET;
    if (rc != SQLITE_ROW)
        return db_fail(st->wdb, "bucket state");
    w_bucket_remember(st, name, out, true);
    return QR_OK;
}

bool w_lock_blocks(const struct store_lock *l, bool bypass, int64_t now_ms)
{
    if (l->legal_hold)
        return true;
    if (l->mode == STORE_LOCK_NONE || l->until_ms <= now_ms)
        return false;
    return l->mode == STORE_LOCK_COMPLIANCE || !bypass;
}

static enum qr_err run_key_stmt(struct store *st, enum stmt_id id, int64_t bucket_id,
                                struct qr_slice key)
{
    sqlite3_stmt *s = stmt_get(&st->wc, id);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, bucket_id);
    bind_bytes(s, 2, key);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? QR_OK : db_fail(st->wdb, "version order");
}

/* Deletes one version's row and drops its references. */
static enum qr_err drop_row(struct store *st, const struct w_obj *o)
{
    sqlite3_stmt *s = stmt_get(&st->wc, ST_OBJ_DELETE);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, o->rowid);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, "object delete");
    return w_unref(st, o->ext, o->n_ext);
}

/* The bucket's default retention applied to a new version that asked for none. */
static void default_retention(const struct w_bucket *b, struct w_row *row)
{
    if (!b->lock_enabled || row->marker || row->lock.mode != STORE_LOCK_NONE ||
        b->lock_mode == STORE_LOCK_NONE)
        return;
    int64_t days = b->lock_days ? (int64_t)b->lock_days : (int64_t)b->lock_years * 365;
    row->lock.mode = b->lock_mode;
    row->lock.until_ms = row->mtime_ms + days * DAY_MS;
}

/* A new version id: 16 hex digits of time and a counter, then 16 random ones. The time
 * part makes ids of one key arrive in rising order, so the (bucket, key, version_id)
 * index grows at its end like the table does instead of taking random inserts; the random
 * part makes ids unguessable and unique across restarts. Writer thread only. */
static void new_version_id(char out[40])
{
    static uint16_t counter;
    uint64_t t = ((uint64_t)store_now_ms() << 16) | counter++;
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, t >>= 4)
        out[i] = hex[t & 15];
    qr_random_hex(out + 16, 8);
    out[STORE_VERSION_ID_LEN] = '\0';
}

enum qr_err w_obj_install(struct store *st, const struct w_bucket *b, struct w_row *row,
                          const struct w_obj *cur, char out_vid[40])
{
    enum qr_err err;
    out_vid[0] = '\0';
    if (b->versioning == STORE_VERS_OFF) {
        row->version_id = NULL; /* the one row of the key, updated in place */
        row->rowid = cur->has_row ? cur->rowid : 0;
        if ((err = w_obj_write(st, row)) != QR_OK)
            return err;
        return cur->has_row ? w_unref(st, cur->ext, cur->n_ext) : QR_OK;
    }
    if (b->versioning == STORE_VERS_SUSPENDED) {
        /* the null version is replaced, wherever it is in the key's history */
        struct w_obj null_v;
        if ((err = w_obj_find_v(st, row->bucket_id, row->key, QR_SLICE_LIT("null"), &null_v)) !=
            QR_OK)
            return err;
        err = null_v.has_row ? drop_row(st, &null_v) : QR_OK;
        w_obj_dispose(&null_v);
        if (err != QR_OK)
            return err;
        memcpy(out_vid, "null", 5);
    } else {
        new_version_id(out_vid);
    }
    default_retention(b, row);
    row->version_id = out_vid;
    if (cur->has_row) {
        /* cur is the current version found in this transaction (if it was the null
         * version just dropped, this changes nothing) */
        sqlite3_stmt *s = stmt_get(&st->wc, ST_OBJ_UNLATEST);
        if (s == NULL)
            return QR_E_DB;
        sqlite3_bind_int64(s, 1, cur->rowid);
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            return db_fail(st->wdb, "version order");
    }
    return w_obj_write(st, row);
}

/* ---- buckets ---- */

struct bucket_vchange {
    struct store_change ch;
    struct qr_slice name;
    enum store_versioning v;
    bool lock;
    enum store_lock_mode mode;
    uint32_t days, years;
};

static enum qr_err apply_set_versioning(struct store *st, struct store_change *ch)
{
    struct bucket_vchange *c = (struct bucket_vchange *)ch;
    struct w_bucket b;
    enum qr_err err = w_bucket_get(st, c->name, &b);
    if (err != QR_OK)
        return err;
    if (b.lock_enabled && c->v != STORE_VERS_ENABLED)
        return QR_E_CONFLICT;
    sqlite3_stmt *s = stmt_get(&st->wc, c->lock ? ST_BUCKET_SET_LOCK : ST_BUCKET_SET_VERSIONING);
    if (s == NULL)
        return QR_E_DB;
    bind_bytes(s, 1, c->name);
    if (c->lock) {
        sqlite3_bind_int(s, 2, (int)c->mode);
        sqlite3_bind_int64(s, 3, c->days);
        sqlite3_bind_int64(s, 4, c->years);
    } else {
        sqlite3_bind_int(s, 2, (int)c->v);
    }
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? QR_OK : db_fail(st->wdb, "bucket versioning");
}

enum qr_err store_bucket_set_versioning(struct store *st, struct qr_slice name,
                                        enum store_versioning v)
{
    if (v == STORE_VERS_OFF)
        return QR_E_BAD_INPUT; /* S3 has no way back to never-versioned */
    struct bucket_vchange c = {.ch.apply = apply_set_versioning, .name = name, .v = v};
    return writer_submit(st, &c.ch);
}

enum qr_err store_bucket_set_lock(struct store *st, struct qr_slice name, enum store_lock_mode mode,
                                  uint32_t days, uint32_t years)
{
    struct bucket_vchange c = {.ch.apply = apply_set_versioning,
                               .name = name,
                               .v = STORE_VERS_ENABLED,
                               .lock = true,
                               .mode = mode,
                               .days = days,
                               .years = years};
    return writer_submit(st, &c.ch);
}

/* ---- delete ---- */

struct delete_change {
    struct store_change ch;
    const struct store_delete *d;
    struct store_delete_result *out;
};

/* Deletes one named version for good. */
static enum qr_err delete_version(struct store *st, const struct w_bucket *b,
                                  const struct store_delete *d, struct store_delete_result *out)
{
    struct w_obj v;
    enum qr_err err = w_obj_find_v(st, b->id, d->key, d->version, &v);
    if (err != QR_OK || !v.has_row)
        goto out; /* S3: deleting a version that does not exist is success */
    if (w_lock_blocks(&v.lock, d->bypass_governance, store_now_ms())) {
        err = QR_E_DENIED;
        goto out;
    }
    if (v.exists && (err = w_cond_check(d->cond, &v)) != QR_OK)
        goto out;
    if ((err = drop_row(st, &v)) != QR_OK)
        goto out;
    /* the newest remaining version (if any) is current; a no-op when it already was */
    if ((err = run_key_stmt(st, ST_OBJ_PROMOTE, b->id, d->key)) != QR_OK)
        goto out;
    out->marker = v.marker;
    memcpy(out->version_id, v.version_id, sizeof(out->version_id));
out:
    w_obj_dispose(&v);
    return err;
}

static enum qr_err apply_delete_v(struct store *st, struct store_change *ch)
{
    struct delete_change *c = (struct delete_change *)ch;
    const struct store_delete *d = c->d;
    struct w_bucket b;
    struct w_obj cur;
    enum qr_err err = w_bucket_get(st, d->bucket, &b);
    if (err != QR_OK)
        return err;
    if (d->version.len)
        return delete_version(st, &b, d, c->out);
    if ((err = w_obj_find(st, b.id, d->key, &cur)) != QR_OK)
        return err;
    if ((err = w_cond_check(d->cond, &cur)) != QR_OK)
        goto out;
    if (b.versioning == STORE_VERS_OFF) {
        err = cur.has_row ? drop_row(st, &cur) : QR_OK;
        goto out;
    }
    /* versioned: the delete is a new version, a marker with no bytes */
    struct w_row row = {
        .bucket_id = b.id,
        .key = d->key,
        .mtime_ms = store_now_ms(),
        .etag = "",
        .is_inline = true,
        .marker = true,
    };
    if ((err = w_obj_install(st, &b, &row, &cur, c->out->version_id)) != QR_OK)
        goto out;
    c->out->marker = true;
out:
    w_obj_dispose(&cur);
    return err;
}

enum qr_err store_obj_delete_v(struct store *st, const struct store_delete *d,
                               struct store_delete_result *out)
{
    memset(out, 0, sizeof(*out));
    struct delete_change c = {.ch.apply = apply_delete_v, .d = d, .out = out};
    return writer_submit(st, &c.ch);
}

/* ---- per-version tags, retention, legal hold ---- */

struct vkey_change {
    struct store_change ch;
    struct qr_slice bucket, key, version;
    struct qr_slice tags;
    enum store_lock_mode mode;
    int64_t until_ms;
    bool flag; /* retention: bypass; legal hold: on */
};

/* The version a per-version change names (empty: the current one); markers are not
 * versions with attributes. */
static enum qr_err vkey_find(struct store *st, struct vkey_change *c, struct w_obj *o)
{
    int64_t id;
    enum qr_err err = w_bucket_id(st, c->bucket, &id);
    if (err != QR_OK)
        return err;
    err = c->version.len ? w_obj_find_v(st, id, c->key, c->version, o)
                         : w_obj_find(st, id, c->key, o);
    if (err == QR_OK && !o->exists)
        err = QR_E_NO_SUCH_KEY;
    return err;
}

static enum qr_err apply_set_tags_v(struct store *st, struct store_change *ch)
{
    struct vkey_change *c = (struct vkey_change *)ch;
    int64_t id;
    enum qr_err err = w_bucket_id(st, c->bucket, &id);
    if (err != QR_OK)
        return err;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_OBJ_SET_TAGS_V);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, id);
    bind_bytes(s, 2, c->key);
    bind_bytes(s, 3, c->tags);
    bind_text_slice(s, 4, c->version);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, "set tags");
    return sqlite3_changes(st->wdb) == 0 ? QR_E_NO_SUCH_KEY : QR_OK;
}

enum qr_err store_obj_set_tags_v(struct store *st, struct qr_slice bucket, struct qr_slice key,
                                 struct qr_slice version, struct qr_slice tags)
{
    if (version.len == 0)
        return store_obj_set_tags(st, bucket, key, tags);
    struct vkey_change c = {.ch.apply = apply_set_tags_v,
                            .bucket = bucket,
                            .key = key,
                            .version = version,
                            .tags = tags};
    return writer_submit(st, &c.ch);
}

/* Whether new retention (mode, until) keeps at least what cur promises: the same or a
 * stronger mode, until no earlier. */
static bool retention_kept(const struct store_lock *cur, enum store_lock_mode mode, int64_t until)
{
    return mode != STORE_LOCK_NONE && (mode == cur->mode || mode == STORE_LOCK_COMPLIANCE) &&
           until >= cur->until_ms;
}

static enum qr_err apply_set_retention(struct store *st, struct store_change *ch)
{
    struct vkey_change *c = (struct vkey_change *)ch;
    struct w_obj o = {0};
    enum qr_err err = vkey_find(st, c, &o);
    if (err != QR_OK)
        goto out;
    struct store_lock held = o.lock;
    held.legal_hold = false; /* a legal hold does not stop retention changes */
    if (w_lock_blocks(&held, c->flag, store_now_ms()) &&
        !retention_kept(&o.lock, c->mode, c->until_ms)) {
        err = QR_E_DENIED;
        goto out;
    }
    sqlite3_stmt *s = stmt_get(&st->wc, ST_OBJ_SET_RETENTION);
    if (s == NULL) {
        err = QR_E_DB;
        goto out;
    }
    sqlite3_bind_int64(s, 1, o.rowid);
    sqlite3_bind_int(s, 2, (int)c->mode);
    sqlite3_bind_int64(s, 3, c->mode == STORE_LOCK_NONE ? 0 : c->until_ms);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        err = db_fail(st->wdb, "set retention");
out:
    w_obj_dispose(&o);
    return err;
}

enum qr_err w_obj_set_retention(struct store *st, struct qr_slice bucket, struct qr_slice key,
                                struct qr_slice version, enum store_lock_mode mode,
                                int64_t until_ms, bool bypass)
{
    struct vkey_change c = {.bucket = bucket,
                            .key = key,
                            .version = version,
                            .mode = mode,
                            .until_ms = until_ms,
                            .flag = bypass};
    return apply_set_retention(st, &c.ch);
}

enum qr_err store_obj_set_retention(struct store *st, struct qr_slice bucket, struct qr_slice key,
                                    struct qr_slice version, enum store_lock_mode mode,
                                    int64_t until_ms, bool bypass)
{
    struct vkey_change c = {.ch.apply = apply_set_retention,
                            .bucket = bucket,
                            .key = key,
                            .version = version,
                            .mode = mode,
                            .until_ms = until_ms,
                            .flag = bypass};
    return writer_submit(st, &c.ch);
}

static enum qr_err apply_set_hold(struct store *st, struct store_change *ch)
{
    struct vkey_change *c = (struct vkey_change *)ch;
    struct w_obj o = {0};
    enum qr_err err = vkey_find(st, c, &o);
    if (err == QR_OK) {
        sqlite3_stmt *s = stmt_get(&st->wc, ST_OBJ_SET_HOLD);
        if (s == NULL) {
            err = QR_E_DB;
        } else {
            sqlite3_bind_int64(s, 1, o.rowid);
            sqlite3_bind_int(s, 2, c->flag);
            int rc = sqlite3_step(s);
            sqlite3_reset(s);
            if (rc != SQLITE_DONE)
                err = db_fail(st->wdb, "set legal hold");
        }
    }
    w_obj_dispose(&o);
    return err;
}

enum qr_err w_obj_set_hold(struct store *st, struct qr_slice bucket, struct qr_slice key,
                           struct qr_slice version, bool on)
{
    struct vkey_change c = {.bucket = bucket, .key = key, .version = version, .flag = on};
    return apply_set_hold(st, &c.ch);
}

enum qr_err store_obj_set_legal_hold(struct store *st, struct qr_slice bucket, struct qr_slice key,
                                     struct qr_slice version, bool on)
{
    struct vkey_change c = {
        .ch.apply = apply_set_hold, .bucket = bucket, .key = key, .version = version, .flag = on};
    return writer_submit(st, &c.ch);
}
