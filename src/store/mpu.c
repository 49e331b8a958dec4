/*
 * mpu.c - multipart uploads: create, parts (written or copied), list, complete, abort.
 *
 * A part is always a list of extents over blobs (never inline), so completion only
 * concatenates extent lists: the listed parts' references move to the object unchanged,
 * parts not listed drop theirs, and the upload's rows go, all in one transaction. The
 * listed parts' sizes stay with the object (objects.part_sizes), since GetObject
 * ?partNumber=N serves part N long after the parts rows are gone.
 * UploadPartCopy slices the source's extent list and takes new references; only an
 * inline source (small by definition) has its range written to a new blob, in two
 * steps: the writer copies the bytes out, the caller writes the blob off the writer
 * thread, then a second change stores the part.
 */
#include "store/store_int.h"

#include <openssl/crypto.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/ckd.h"
#include "util/limits.h"

/* ---- writer-side helpers ---- */

/* The upload named by (bucket, key, id). Errors: QR_E_NO_SUCH_UPLOAD, QR_E_DB. */
static enum qr_err w_upload_find(struct store *st, struct qr_slice bucket, struct qr_slice key,
                                 struct qr_slice id, struct qr_buf *out_headers,
                                 struct qr_buf *out_tags, int64_t *out_bucket_id,
                                 struct qr_buf *out_sse)
{
    enum qr_err err = QR_OK;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_UP_FIND);
    if (s == NULL)
        return QR_E_DB;
    bind_text_slice(s, 1, id);
    bind_bytes(s, 2, bucket);
    bind_bytes(s, 3, key);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        err = QR_E_NO_SUCH_UPLOAD;
    } else if (rc != SQLITE_ROW) {
        err = db_fail(st->wdb, "upload find");
    } else {
        if (out_bucket_id)
            *out_bucket_id = sqlite3_column_int64(s, 2);
        size_t hn = (size_t)sqlite3_column_bytes(s, 0), tn = (size_t)sqlite3_column_bytes(s, 1);
        if (out_headers) {
            qr_buf_init(out_headers, hn);
            if (hn)
                err = qr_buf_add(out_headers, sqlite3_column_blob(s, 0), hn);
        }
        if (out_tags && err == QR_OK) {
            qr_buf_init(out_tags, tn);
            if (tn)
                err = qr_buf_add(out_tags, sqlite3_column_blob(s, 1), tn);
        }
        size_t sn = (size_t)sqlite3_column_bytes(s, 7);
        if (out_sse && err == QR_OK && sn)
            err = qr_buf_add(out_sse, sqlite3_column_blob(s, 7), sn);
    }
    sqlite3_reset(s);
    return err;
}

/* The lock state an upload was created with (CreateMultipartUpload's headers). */
static enum qr_err w_upload_lock(struct store *st, const char *upload, struct store_lock *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = stmt_get(&st->wc, ST_UP_LOCK);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, upload);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        int m = sqlite3_column_int(s, 0);
        out->mode = m == STORE_LOCK_GOVERNANCE   ? STORE_LOCK_GOVERNANCE
                    : m == STORE_LOCK_COMPLIANCE ? STORE_LOCK_COMPLIANCE
                                                 : STORE_LOCK_NONE;
        out->until_ms = sqlite3_column_int64(s, 1);
        out->legal_hold = sqlite3_column_int(s, 2) != 0;
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? QR_OK : db_fail(st->wdb, "upload lock");
}

/* One part as loaded for completion or abort. */
struct part_row {
    uint32_t number;
    uint64_t size;
    char etag[80];
    struct store_extent *ext; /* heap */
    size_t n_ext;
    bool used; /* listed in the completion */
};

struct part_set {
    struct part_row *v;
    size_t n, cap;
};

static void part_set_dispose(struct part_set *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        free(ps->v[i].ext);
    free(ps->v);
    memset(ps, 0, sizeof(*ps));
}

/* All parts of an upload in number order (at most QR_MAX_PARTS rows). */
static enum qr_err parts_load(struct store *st, const char *upload, struct part_set *out)
{
    enum qr_err err = QR_OK;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_PART_ALL);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, upload);
    int rc;
    while (err == QR_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 16;
            out->v = qr_xrealloc(out->v, out->cap * sizeof(*out->v));
        }
        struct part_row *p = &out->v[out->n];
        memset(p, 0, sizeof(*p));
        p->number = (uint32_t)sqlite3_column_int64(s, 0);
        p->size = (uint64_t)sqlite3_column_int64(s, 1);
        col_text(s, 2, p->etag, sizeof(p->etag));
        err = ext_unpack_heap(sqlite3_column_blob(s, 3), (size_t)sqlite3_column_bytes(s, 3),
                              &p->ext, &p->n_ext);
        if (err == QR_OK)
            out->n++;
    }
    if (err == QR_OK && rc != SQLITE_DONE)
        err = db_fail(st->wdb, "parts load");
    sqlite3_reset(s);
    return err;
}

static enum qr_err exec_text(struct store *st, enum stmt_id id, const char *upload)
{
    sqlite3_stmt *s = stmt_get(&st->wc, id);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, upload);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, "upload rows");
    return QR_OK;
}

/* Drops the references of every part not marked used, then the upload's rows. */
static enum qr_err drop_parts(struct store *st, const char *upload, const struct part_set *ps)
{
    enum qr_err err = QR_OK;
    for (size_t i = 0; i < ps->n && err == QR_OK; i++)
        if (!ps->v[i].used)
            err = w_unref(st, ps->v[i].ext, ps->v[i].n_ext);
    if (err == QR_OK)
        err = exec_text(st, ST_PART_DELETE_ALL, upload);
    if (err == QR_OK)
        err = exec_text(st, ST_UP_DELETE, upload);
    return err;
}

enum qr_err w_upload_drop(struct store *st, const char *upload_id)
{
    struct part_set ps = {0};
    enum qr_err err = parts_load(st, upload_id, &ps);
    if (err == QR_OK)
        err = drop_parts(st, upload_id, &ps);
    part_set_dispose(&ps);
    return err;
}

/* Replaces part (upload, number) with these extents, whose references are already
 * counted, and drops the references of the part it replaces. */
static enum qr_err w_part_write(struct store *st, const char *upload, const struct store_part *p,
                                uint64_t size, const struct store_extent *ext, size_t n_ext)
{
    enum qr_err err = QR_OK;
    struct store_extent *old = NULL;
    size_t n_old = 0;
    uint8_t *packed = NULL;

    if (n_ext > STORE_MAX_EXTENTS)
        return QR_E_TOO_LARGE;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_PART_FIND);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, upload);
    sqlite3_bind_int64(s, 2, p->number);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        err = ext_unpack_heap(sqlite3_column_blob(s, 2), (size_t)sqlite3_column_bytes(s, 2), &old,
                              &n_old);
    else if (rc != SQLITE_DONE)
        err = db_fail(st->wdb, "part find");
    sqlite3_reset(s);
    if (err != QR_OK)
        goto out;

    s = stmt_get(&st->wc, ST_PART_UPSERT);
    if (s == NULL) {
        err = QR_E_DB;
        goto out;
    }
    packed = qr_xmalloc(n_ext * STORE_EXT_BYTES);
    ext_pack(ext, n_ext, packed);
    bind_text(s, 1, upload);
    sqlite3_bind_int64(s, 2, p->number);
    sqlite3_bind_int64(s, 3, (int64_t)size);
    bind_text(s, 4, p->etag);
    sqlite3_bind_int(s, 5, (int)p->ck.alg);
    sqlite3_bind_int(s, 6, (int)p->ck.type);
    bind_text(s, 7, p->ck.alg == STORE_CK_NONE ? "" : p->ck.b64);
    sqlite3_bind_int64(s, 8, store_now_ms());
    bind_bytes(s, 9, qr_slice(packed, n_ext * STORE_EXT_BYTES));
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s); /* packed is freed below */
    if (rc != SQLITE_DONE) {
        err = db_fail(st->wdb, "part write");
        goto out;
    }
    err = w_unref(st, old, n_old);
out:
    free(packed);
    free(old);
    return err;
}

/* Copies a slice (bounded by the 64-char id column) into a NUL-terminated id. */
static bool upload_id_cstr(struct qr_slice id, char out[65])
{
    if (id.len == 0 || id.len > 64 || memchr(id.p, '\0', id.len))
        return false;
    memcpy(out, id.p, id.len);
    out[id.len] = '\0';
    return true;
}

/* ---- create ---- */

struct create_change {
    struct store_change ch;
    const struct store_mpu_create *c;
    char id[65];
};

static enum qr_err apply_create(struct store *st, struct store_change *ch)
{
    struct create_change *c = (struct create_change *)ch;
    int64_t bucket_id = 0;
    enum qr_err err = w_bucket_id(st, c->c->bucket, &bucket_id);
    if (err != QR_OK)
        return err;
    sqlite3_stmt *s = stmt_get(&st->wc, ST_UP_INSERT);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, c->id);
    sqlite3_bind_int64(s, 2, bucket_id);
    bind_bytes(s, 3, c->c->key);
    sqlite3_bind_int64(s, 4, store_now_ms());
    bind_bytes(s, 5, c->c->headers);
    bind_bytes(s, 6, c->c->tags);
    sqlite3_bind_int(s, 7, (int)c->c->ck_alg);
    sqlite3_bind_int(s, 8, (int)c->c->ck_type);
    uint8_t env[CRYPT_ENV_BYTES];
    if (c->c->sse.mode != STORE_SSE_NONE) { /* the mode and key MD5; never the key */
        struct crypt_env e = {.mode = (uint8_t)c->c->sse.mode};
        memcpy(e.key_md5, c->c->sse.key_md5, 16);
        crypt_env_pack(&e, env);
        sqlite3_bind_blob(s, 9, env, sizeof(env), SQLITE_STATIC);
    }
    sqlite3_bind_int(s, 10, (int)c->c->lock.mode);
    sqlite3_bind_int64(s, 11, c->c->lock.mode == STORE_LOCK_NONE ? 0 : c->c->lock.until_ms);
    sqlite3_bind_int(s, 12, c->c->lock.legal_hold);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, "upload insert");
    return QR_OK;
}

enum qr_err store_mpu_create(struct store *st, const struct store_mpu_create *c, char out_id[65])
{
    struct create_change cc = {.ch.apply = apply_create, .c = c};
    uint8_t rnd[16];
    size_t got = 0;
    while (got < sizeof(rnd)) {
        ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "store: getrandom: %s\n", strerror(errno));
            return QR_E_INTERNAL;
        }
        got += (size_t)n;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(rnd); i++) {
        cc.id[2 * i] = hex[rnd[i] >> 4];
        cc.id[2 * i + 1] = hex[rnd[i] & 15];
    }
    cc.id[2 * sizeof(rnd)] = '\0';
    enum qr_err err = writer_submit(st, &cc.ch);
    if (err == QR_OK)
        memcpy(out_id, cc.id, sizeof(cc.id));
    return err;
}

/* ---- parts ---- */

struct part_change {
    struct store_change ch;
    struct qr_slice bucket, key;
    char upload[65];
    const struct store_part *part;
    uint64_t size; /* bytes of the part */
    bool has_blob; /* a freshly written blob holds the part */
    uint64_t blob;
    struct crypt_env env; /* the blob's envelope */
    /* copy_part only */
    struct qr_slice src_bucket, src_key, src_version;
    uint64_t off;
    struct qr_buf inline_copy; /* out: bytes of an inline source's range */
    bool need_blob;            /* out: write inline_copy to a blob and store again */
};

static enum qr_err apply_put_part(struct store *st, struct store_change *ch)
{
    struct part_change *c = (struct part_change *)ch;
    struct store_extent ext = {.blob = c->blob, .off = 0, .len = c->size};
    enum qr_err err =
        w_upload_find(st, c->bucket, c->key, qr_slice_cstr(c->upload), NULL, NULL, NULL, NULL);
    if (err != QR_OK)
        return err;
    if (c->has_blob && (err = w_blob_new_sse(st, c->blob, c->size, &c->env)) != QR_OK)
        return err;
    return w_part_write(st, c->upload, c->part, c->size, &ext, c->has_blob ? 1 : 0);
}

static bool part_number_ok(uint32_t n)
{
    return n >= 1 && n <= QR_MAX_PARTS;
}

/* Writes data to a blob and stores it as the part; the part change is prepared. */
static enum qr_err put_part_bytes(struct store *st, struct part_change *c, struct qr_slice data)
{
    enum qr_err err;
    c->ch.apply = apply_put_part;
    c->size = data.len;
    if (c->part->has_blob) { /* already written as it arrived: adopt it */
        c->has_blob = true;
        c->blob = store_blob_stream_id(c->part->blob);
        blob_stream_env(c->part->blob, &c->env); /* encrypted as it was written */
    } else {
        c->has_blob = data.len > 0;
        if (c->has_blob &&
            (err = blob_write_sse(st, data, &c->part->sse, &c->blob, &c->env)) != QR_OK)
            return err;
    }
    err = writer_submit(st, &c->ch);
    if (c->has_blob) {
        if (err == QR_OK)
            blob_settle(st, c->blob);
        else
            blob_discard(st, c->blob);
    }
    return err;
}

enum qr_err store_mpu_put_part(struct store *st, struct qr_slice bucket, struct qr_slice key,
                               struct qr_slice upload_id, const struct store_part *part,
                               struct qr_slice data)
{
    struct part_change c = {.bucket = bucket, .key = key, .part = part};
    enum qr_err err = QR_OK;
    if (!upload_id_cstr(upload_id, c.upload))
        err = QR_E_NO_SUCH_UPLOAD;
    else if (!part_number_ok(part->number))
        err = QR_E_BAD_INPUT;
    if (err != QR_OK) {
        if (part->has_blob)
            blob_discard(st, store_blob_stream_id(part->blob)); /* adopted whatever the
                                                                   outcome */
        return err;
    }
    return put_part_bytes(st, &c, data);
}

/* Extents of [off, off+len) of an extent list. *out heap (free()). */
static void ext_slice(const struct store_extent *e, size_t n, uint64_t off, uint64_t len,
                      struct store_extent **out, size_t *out_n)
{
    struct store_extent *r = qr_xmalloc((n ? n : 1) * sizeof(*r));
    size_t k = 0;
    uint64_t pos = 0, end = off + len; /* the caller checked off + len <= size */
    for (size_t i = 0; i < n && pos < end; pos += e[i].len, i++) {
        uint64_t a = off > pos ? off : pos;
        uint64_t b = end < pos + e[i].len ? end : pos + e[i].len;
        if (a >= b)
            continue;
        r[k].blob = e[i].blob;
        r[k].off = e[i].off + (a - pos);
        r[k].len = b - a;
        k++;
    }
    *out = r;
    *out_n = k;
}

/* Decrypts the copy of [off, off+len) of an encrypted inline source. SSE-C sources
 * would need their key here, which the store is never given: QR_E_NOT_IMPLEMENTED. */
static enum qr_err open_range(struct store *st, const struct full_obj *src, uint64_t off,
                              struct qr_buf *b)
{
    struct crypt_env env;
    uint8_t key[32];
    if (!crypt_env_unpack(src->sse.p, src->sse.len, &env))
        return QR_E_DB;
    if (env.mode != STORE_SSE_S3)
        return QR_E_NOT_IMPLEMENTED;
    enum qr_err err = crypt_env_key(st->master, &env, key);
    if (err == QR_OK)
        crypt_ctr(key, env.iv, off, b->p, b->len);
    OPENSSL_cleanse(key, sizeof(key));
    return err;
}

static enum qr_err apply_copy_part(struct store *st, struct store_change *ch)
{
    struct part_change *c = (struct part_change *)ch;
    struct full_obj src;
    struct store_extent *ext = NULL;
    size_t n_ext = 0;
    int64_t sb;
    uint64_t end;

    enum qr_err err =
        w_upload_find(st, c->bucket, c->key, qr_slice_cstr(c->upload), NULL, NULL, NULL, NULL);
    if (err != QR_OK)
        return err;
    if ((err = w_bucket_id(st, c->src_bucket, &sb)) != QR_OK)
        return err;
    if ((err = w_obj_full_v(st, sb, c->src_key, c->src_version, &src)) != QR_OK)
        return err;
    if (qr_add_overflow(c->off, c->size, &end) || end > src.size) {
        err = QR_E_INVALID_RANGE;
        goto out;
    }
    if (src.is_inline && c->size > 0) {
        /* hand the bytes back; the caller writes a blob outside the writer */
        qr_buf_init(&c->inline_copy, c->size);
        err = qr_buf_add(&c->inline_copy, src.data.p + c->off, c->size);
        if (err == QR_OK && src.sse.len)
            err = open_range(st, &src, c->off, &c->inline_copy);
        c->need_blob = err == QR_OK;
        goto out;
    }
    ext_slice(src.ext, src.n_ext, c->off, c->size, &ext, &n_ext);
    if ((err = w_ref(st, ext, n_ext)) != QR_OK)
        goto out;
    err = w_part_write(st, c->upload, c->part, c->size, ext, n_ext);
out:
    free(ext);
    full_obj_dispose(&src);
    return err;
}

enum qr_err store_mpu_copy_part(struct store *st, struct qr_slice bucket, struct qr_slice key,
                                struct qr_slice upload_id, const struct store_part *part,
                                struct qr_slice src_bucket, struct qr_slice src_key, uint64_t off,
                                uint64_t len)
{
    return store_mpu_copy_part_v(st, bucket, key, upload_id, part, src_bucket, src_key,
                                 qr_slice(NULL, 0), off, len);
}

enum qr_err store_mpu_copy_part_v(struct store *st, struct qr_slice bucket, struct qr_slice key,
                                  struct qr_slice upload_id, const struct store_part *part,
                                  struct qr_slice src_bucket, struct qr_slice src_key,
                                  struct qr_slice src_version, uint64_t off, uint64_t len)
{
    struct part_change c = {.ch.apply = apply_copy_part,
                            .bucket = bucket,
                            .key = key,
                            .part = part,
                            .size = len,
                            .src_bucket = src_bucket,
                            .src_key = src_key,
                            .src_version = src_version,
                            .off = off};
    qr_buf_init(&c.inline_copy, 0);
    if (!upload_id_cstr(upload_id, c.upload))
        return QR_E_NO_SUCH_UPLOAD;
    if (!part_number_ok(part->number))
        return QR_E_BAD_INPUT;
    enum qr_err err = writer_submit(st, &c.ch);
    if (err == QR_OK && c.need_blob) {
        /* The bytes are a consistent snapshot of the source as of that commit; the
         * second change only needs the upload to still exist. */
        struct part_change p = {.bucket = bucket, .key = key, .part = part};
        memcpy(p.upload, c.upload, sizeof(p.upload));
        err = put_part_bytes(st, &p, qr_slice(c.inline_copy.p, c.inline_copy.len));
    }
    qr_buf_dispose(&c.inline_copy);
    return err;
}

/* ---- complete, abort ---- */

struct complete_change {
    struct store_change ch;
    const struct store_mpu_complete *c;
    char upload[65];
    int64_t mtime_ms;    /* out */
    char version_id[40]; /* out */
};

static struct part_row *part_lookup(struct part_set *ps, uint32_t number)
{
    size_t lo = 0, hi = ps->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ps->v[mid].number == number)
            return &ps->v[mid];
        if (ps->v[mid].number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The object a completion makes: its extents and its part sizes, both heap (free()). */
struct completed {
    struct store_extent *ext;
    size_t n_ext;
    uint64_t size;
    uint8_t *part_sizes; /* c->n * STORE_PART_SIZE_BYTES, in the listed order */
};

/* Checks the listed parts and concatenates their extents. Every listed number names a
 * distinct existing part, so c->n <= ps->n <= QR_MAX_PARTS once this succeeds. */
static enum qr_err complete_extents(const struct store_mpu_complete *c, struct part_set *ps,
                                    struct completed *out)
{
    size_t n_ext = 0;
    uint64_t size = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (i > 0 && c->numbers[i] <= c->numbers[i - 1])
            return QR_E_INVALID_PART_ORDER;
    }
    for (size_t i = 0; i < c->n; i++) {
        struct part_row *p = part_lookup(ps, c->numbers[i]);
        if (p == NULL || c->etags[i] == NULL || strcmp(p->etag, c->etags[i]) != 0)
            return QR_E_INVALID_PART;
        if (i + 1 < c->n && p->size < QR_MIN_PART_SIZE)
            return QR_E_TOO_SMALL;
        if (qr_add_overflow(size, p->size, &size) || qr_add_overflow(n_ext, p->n_ext, &n_ext))
            return QR_E_TOO_LARGE;
    }
    if (n_ext > STORE_MAX_EXTENTS || size > QR_MAX_OBJECT_SIZE)
        return QR_E_TOO_LARGE;
    struct store_extent *e = qr_xmalloc((n_ext ? n_ext : 1) * sizeof(*e));
    /* GetObject ?partNumber=N serves part N's bytes: the boundaries must outlive the parts */
    uint8_t *sizes = qr_xmalloc(c->n * STORE_PART_SIZE_BYTES);
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct part_row *p = part_lookup(ps, c->numbers[i]);
        if (p->n_ext)
            memcpy(e + k, p->ext, p->n_ext * sizeof(*e));
        k += p->n_ext;
        le64_put(sizes + i * STORE_PART_SIZE_BYTES, p->size);
        p->used = true; /* its references move to the object */
    }
    out->ext = e;
    out->n_ext = n_ext;
    out->size = size;
    out->part_sizes = sizes;
    return QR_OK;
}

/* How long a completed upload answers retries of its CompleteMultipartUpload. */
#define COMPLETED_TTL_MS (24ll * 3600 * 1000)

/* Remembers a completion for retries and forgets a few expired ones (bounded work per
 * completion, so the table stays as large as a day of completions). */
static enum qr_err w_remember_completed(struct store *st, const struct store_mpu_complete *c,
                                        const char *upload, int64_t bucket_id, int64_t now_ms,
                                        const char *version_id)
{
    sqlite3_stmt *s = stmt_get(&st->wc, ST_DONE_INSERT);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, upload);
    sqlite3_bind_int64(s, 2, bucket_id);
    bind_bytes(s, 3, c->key);
    bind_text(s, 4, c->etag);
    sqlite3_bind_int(s, 5, (int)c->ck.alg);
    sqlite3_bind_int(s, 6, (int)c->ck.type);
    bind_text(s, 7, c->ck.alg == STORE_CK_NONE ? "" : c->ck.b64);
    sqlite3_bind_int64(s, 8, now_ms);
    bind_text(s, 9, version_id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, "completed upload");
    s = stmt_get(&st->wc, ST_DONE_EXPIRE);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, now_ms - COMPLETED_TTL_MS);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? QR_OK : db_fail(st->wdb, "completed upload expiry");
}

static enum qr_err apply_complete(struct store *st, struct store_change *ch)
{
    struct complete_change *cc = (struct complete_change *)ch;
    const struct store_mpu_complete *c = cc->c;
    struct qr_buf headers, tags, sse;
    struct part_set ps = {0};
    struct w_obj cur = {0};
    struct completed obj = {0};
    int64_t bucket_id = 0;
    struct w_bucket b;

    qr_buf_init(&headers, 0);
    qr_buf_init(&tags, 0);
    qr_buf_init(&sse, CRYPT_ENV_BYTES);
    enum qr_err err =
        w_upload_find(st, c->bucket, c->key, c->upload_id, &headers, &tags, &bucket_id, &sse);
    struct store_lock lock;
    if (err != QR_OK || (err = w_bucket_get(st, c->bucket, &b)) != QR_OK ||
        (err = w_upload_lock(st, cc->upload, &lock)) != QR_OK)
        goto out;
    if (c->n == 0) {
        err = QR_E_BAD_INPUT;
        goto out;
    }
    if ((err = parts_load(st, cc->upload, &ps)) != QR_OK ||
        (err = complete_extents(c, &ps, &obj)) != QR_OK ||
        (err = w_obj_find(st, bucket_id, c->key, &cur)) != QR_OK ||
        (err = w_cond_check(&c->cond, &cur)) != QR_OK)
        goto out;
    cc->mtime_ms = store_now_ms();
    struct w_row row = {
        .bucket_id = bucket_id,
        .key = c->key,
        .size = obj.size,
        .mtime_ms = cc->mtime_ms,
        .etag = c->etag,
        .headers = qr_slice(headers.p, headers.len),
        .tags = qr_slice(tags.p, tags.len),
        .ck = &c->ck,
        .parts = (uint32_t)c->n,
        .part_sizes = qr_slice(obj.part_sizes, c->n * STORE_PART_SIZE_BYTES),
        .ext = obj.ext,
        .n_ext = obj.n_ext,
        .sse = qr_slice(sse.p, sse.len), /* the upload's mode; each part's blob has its key */
        .lock = lock,
    };
    if ((err = w_obj_install(st, &b, &row, &cur, cc->version_id)) != QR_OK)
        goto out;
    if ((err = drop_parts(st, cc->upload, &ps)) == QR_OK)
        err = w_remember_completed(st, c, cc->upload, bucket_id, cc->mtime_ms, cc->version_id);
out:
    free(obj.ext);
    free(obj.part_sizes);
    w_obj_dispose(&cur);
    part_set_dispose(&ps);
    qr_buf_dispose(&headers);
    qr_buf_dispose(&tags);
    qr_buf_dispose(&sse);
    return err;
}

enum qr_err store_mpu_complete(struct store *st, const struct store_mpu_complete *c,
                               struct store_put_result *out)
{
    struct complete_change cc = {.ch.apply = apply_complete, .c = c};
    if (!upload_id_cstr(c->upload_id, cc.upload))
        return QR_E_NO_SUCH_UPLOAD;
    enum qr_err err = writer_submit(st, &cc.ch);
    if (err == QR_OK) {
        out->mtime_ms = cc.mtime_ms;
        memcpy(out->version_id, cc.version_id, sizeof(out->version_id));
    }
    return err;
}

struct abort_change {
    struct store_change ch;
    struct qr_slice bucket, key;
    char upload[65];
    bool if_initiated; /* abort only an upload initiated at initiated_ms (seconds) */
    int64_t initiated_ms;
};

static enum qr_err w_upload_created(struct store *st, const char *upload, int64_t bucket_id,
                                    struct qr_slice key, int64_t *out)
{
    sqlite3_stmt *s = stmt_get(&st->wc, ST_UP_CREATED);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, upload);
    sqlite3_bind_int64(s, 2, bucket_id);
    bind_bytes(s, 3, key);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? QR_OK : db_fail(st->wdb, "upload created");
}

static enum qr_err apply_abort(struct store *st, struct store_change *ch)
{
    struct abort_change *c = (struct abort_change *)ch;
    int64_t bucket_id = 0, created = 0;
    enum qr_err err =
        w_upload_find(st, c->bucket, c->key, qr_slice_cstr(c->upload), NULL, NULL, &bucket_id, NULL);
    if (err == QR_E_NO_SUCH_UPLOAD && c->if_initiated)
        return QR_OK; /* the model: a missing upload satisfies the condition */
    if (err != QR_OK)
        return err;
    if (c->if_initiated) {
        if ((err = w_upload_created(st, c->upload, bucket_id, c->key, &created)) != QR_OK)
            return err;
        if (created / 1000 != c->initiated_ms / 1000)
            return QR_E_PRECONDITION;
    }
    return w_upload_drop(st, c->upload);
}

enum qr_err store_mpu_abort(struct store *st, struct qr_slice bucket, struct qr_slice key,
                            struct qr_slice upload_id)
{
    struct abort_change c = {.ch.apply = apply_abort, .bucket = bucket, .key = key};
    if (!upload_id_cstr(upload_id, c.upload))
        return QR_E_NO_SUCH_UPLOAD;
    return writer_submit(st, &c.ch);
}

enum qr_err store_mpu_abort_if_initiated(struct store *st, struct qr_slice bucket,
                                         struct qr_slice key, struct qr_slice upload_id,
                                         int64_t initiated_ms)
{
    struct abort_change c = {.ch.apply = apply_abort,
                             .bucket = bucket,
                             .key = key,
                             .if_initiated = true,
                             .initiated_ms = initiated_ms};
    if (!upload_id_cstr(upload_id, c.upload))
        return QR_OK; /* no such upload: the condition holds */
    return writer_submit(st, &c.ch);
}

/* ---- reads ---- */

static void col_upload(sqlite3_stmt *s, int id_col, int key_col, int created_col, int alg_col,
                       h2o_mem_pool_t *pool, struct store_upload_info *u)
{
    memset(u, 0, sizeof(*u));
    col_text(s, id_col, u->id, sizeof(u->id));
    u->key = col_slice(s, key_col, pool);
    u->created_ms = sqlite3_column_int64(s, created_col);
    int a = sqlite3_column_int(s, alg_col);
    u->ck_alg = (a >= STORE_CK_NONE && a <= STORE_CK_SHA256) ? (enum store_ck_alg)a : STORE_CK_NONE;
    u->ck_type = sqlite3_column_int(s, alg_col + 1) == STORE_CK_COMPOSITE ? STORE_CK_COMPOSITE
                                                                          : STORE_CK_FULL_OBJECT;
}

enum qr_err store_mpu_get(struct store_reader *r, struct qr_slice bucket, struct qr_slice key,
                          struct qr_slice upload_id, h2o_mem_pool_t *pool,
                          struct store_upload_info *out)
{
    char id[65];
    if (!upload_id_cstr(upload_id, id))
        return QR_E_NO_SUCH_UPLOAD;
    sqlite3_stmt *s = stmt_get(&r->c, ST_UP_FIND);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, id);
    bind_bytes(s, 2, bucket);
    bind_bytes(s, 3, key);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        col_upload(s, 3, 3, 4, 5, pool, out);
        memcpy(out->id, id, sizeof(id)); /* column 3 is the key; the id is the one asked */
        out->headers = col_slice(s, 0, pool);
        struct crypt_env env;
        if (sqlite3_column_type(s, 7) != SQLITE_NULL &&
            crypt_env_unpack(sqlite3_column_blob(s, 7), (size_t)sqlite3_column_bytes(s, 7), &env)) {
            out->sse.mode = (enum store_sse_mode)env.mode;
            memcpy(out->sse.key_md5, env.key_md5, 16);
        }
    }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return QR_E_NO_SUCH_UPLOAD;
    if (rc != SQLITE_ROW)
        return db_fail(r->db, "upload get");
    return QR_OK;
}

enum qr_err store_mpu_completed(struct store_reader *r, struct qr_slice bucket, struct qr_slice key,
                                struct qr_slice upload_id, struct store_mpu_done *out)
{
    char id[65];
    if (!upload_id_cstr(upload_id, id))
        return QR_E_NO_SUCH_UPLOAD;
    sqlite3_stmt *s = stmt_get(&r->c, ST_DONE_FIND);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, id);
    bind_bytes(s, 2, bucket);
    bind_bytes(s, 3, key);
    sqlite3_bind_int64(s, 4, store_now_ms() - COMPLETED_TTL_MS);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        col_text(s, 0, out->etag, sizeof(out->etag));
        col_checksum(s, 1, 2, 3, &out->ck);
        col_text(s, 4, out->version_id, sizeof(out->version_id));
    }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return QR_E_NO_SUCH_UPLOAD;
    return rc == SQLITE_ROW ? QR_OK : db_fail(r->db, "completed upload get");
}

enum qr_err store_mpu_list_parts(struct store_reader *r, struct qr_slice bucket,
                                 struct qr_slice key, struct qr_slice upload_id, uint32_t after,
                                 size_t max, h2o_mem_pool_t *pool, struct store_part **out,
                                 size_t *out_n, bool *out_truncated)
{
    enum qr_err err;
    struct store_upload_info info;
    struct store_part *parts;
    size_t n = 0;
    bool truncated = false;
    int rc;

    if (max > QR_MAX_KEYS)
        max = QR_MAX_KEYS;
    bool own_txn = false;
    if ((err = reader_read_begin(r, &own_txn)) != QR_OK)
        return err;
    if ((err = store_mpu_get(r, bucket, key, upload_id, pool, &info)) != QR_OK)
        goto out;
    sqlite3_stmt *s = stmt_get(&r->c, ST_PART_LIST);
    if (s == NULL) {
        err = QR_E_DB;
        goto out;
    }
    parts = pool_alloc(pool, max * sizeof(*parts));
    bind_text(s, 1, info.id);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, (int64_t)max + 1);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == max) {
            truncated = max > 0;
            continue;
        }
        struct store_part *p = &parts[n++];
        memset(p, 0, sizeof(*p));
        p->number = (uint32_t)sqlite3_column_int64(s, 0);
        p->size = (uint64_t)sqlite3_column_int64(s, 1);
        p->mtime_ms = sqlite3_column_int64(s, 2);
        col_text(s, 3, p->etag, sizeof(p->etag));
        col_checksum(s, 4, 5, 6, &p->ck);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        err = db_fail(r->db, "part list");
        goto out;
    }
    *out = parts;
    *out_n = n;
    *out_truncated = truncated;
out:
    reader_read_end(r, own_txn);
    return err;
}

/* Where an upload listing starts: the row value (key, created_ms, id) to list after. */
struct up_bound {
    struct qr_slice key;
    int64_t created;
    struct qr_slice id;
};

static enum qr_err upload_lower_bound(struct store_reader *r, int64_t bucket_id,
                                      struct qr_slice prefix, struct qr_slice after_key,
                                      struct qr_slice after_id, struct up_bound *out)
{
    /* no upload-id marker (or an unknown one): past every upload of after_key */
    struct up_bound b = {.key = after_key, .created = INT64_MAX, .id = QR_SLICE_LIT("")};
    if (after_key.len == 0) {
        b.created = INT64_MIN;
    } else if (after_id.len) {
        sqlite3_stmt *s = stmt_get(&r->c, ST_UP_CREATED);
        if (s == NULL)
            return QR_E_DB;
        bind_text_slice(s, 1, after_id);
        sqlite3_bind_int64(s, 2, bucket_id);
        bind_bytes(s, 3, after_key);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            b.created = sqlite3_column_int64(s, 0);
            b.id = after_id;
        }
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return db_fail(r->db, "upload marker");
    }
    if (qr_slice_cmp(prefix, b.key) > 0)
        b = (struct up_bound){.key = prefix, .created = INT64_MIN, .id = QR_SLICE_LIT("")};
    *out = b;
    return QR_OK;
}

enum qr_err store_mpu_list(struct store_reader *r, struct qr_slice bucket, struct qr_slice prefix,
                           struct qr_slice after_key, struct qr_slice after_id, size_t max,
                           h2o_mem_pool_t *pool, struct store_upload_info **out, size_t *out_n,
                           bool *out_truncated)
{
    enum qr_err err;
    int64_t bucket_id = 0;
    struct up_bound lo = {0};
    struct qr_slice hi;
    struct store_upload_info *list;
    size_t n = 0;
    bool truncated = false;
    int rc;

    if (max > QR_MAX_KEYS)
        max = QR_MAX_KEYS;
    bool own_txn = false;
    if ((err = reader_read_begin(r, &own_txn)) != QR_OK)
        return err;
    if ((err = db_bucket_id(&r->c, bucket, &bucket_id)) != QR_OK ||
        (err = upload_lower_bound(r, bucket_id, prefix, after_key, after_id, &lo)) != QR_OK)
        goto out;
    bool bounded = prefix.len && key_successor(prefix, pool, &hi);
    sqlite3_stmt *s = stmt_get(&r->c, bounded ? ST_UP_LIST_BOUNDED : ST_UP_LIST_UNBOUNDED);
    if (s == NULL) {
        err = QR_E_DB;
        goto out;
    }
    list = pool_alloc(pool, max * sizeof(*list));
    sqlite3_bind_int64(s, 1, bucket_id);
    bind_bytes(s, 2, lo.key);
    sqlite3_bind_int64(s, 3, lo.created);
    bind_text_slice(s, 4, lo.id);
    if (bounded)
        bind_bytes(s, 5, hi);
    sqlite3_bind_int64(s, 6, (int64_t)max + 1);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == max) {
            truncated = max > 0;
            continue;
        }
        col_upload(s, 0, 1, 2, 3, pool, &list[n]);
        list[n++].headers = col_slice(s, 5, pool);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        err = db_fail(r->db, "upload list");
        goto out;
    }
    *out = list;
    *out_n = n;
    *out_truncated = truncated;
out:
    reader_read_end(r, own_txn);
    return err;
}
