/*
 * expand.c - preparation of the manifest formats that are not one CSV object: an
 * S3InventoryReport_CSV_20161130 manifest (manifest.json and its gzipped data files) and
 * an S3JobManifestGenerator (generator.c). Either is turned, once, into the job's task
 * list in the CSV layout Bucket,Key,VersionId and pinned (store_job_spool), so the
 * engine, the windows and a resumed job read every format alike, and changing or
 * deleting the inventory's objects after Preparing changes nothing for the job.
 *
 * manifest.json and each data file are held for the job while they are read
 * (store_job_hold: a reference on their blobs, dropped once the task list is pinned or
 * the job ends), so overwriting or deleting them during Preparing changes nothing either.
 * The data files are streamed (a 64 KiB read buffer, inflate, one line at a time) and
 * each one's MD5 is checked against manifest.json: a mismatch, a corrupt file or a
 * malformed line fails the job in Preparing naming the file (and the line).
 *
 * Both run as the job's role (role.c): every data file is decided (s3:GetObject) before
 * the first is read; the generator's listing and writes are decided in generator.c.
 */
#include "batch/batch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"

/* A sequential reader of one held object's bytes. */
struct objsrc {
    struct store *st;
    struct store_obj o; /* in pool: size, ETag, inline bytes or extents */
    struct store_obj_cursor cur;
};

static enum qr_err objsrc_pull(void *arg, uint8_t *dst, size_t cap, size_t *got)
{
    struct objsrc *s = arg;
    return store_obj_read(&s->cur, dst, cap, got);
}

/* Holds the object for the job (store_job_hold) and points s at the held bytes. */
static enum qr_err objsrc_hold(struct batch_engine *e, const struct store_job *j,
                               const char *bucket, const char *key, h2o_mem_pool_t *pool,
                               struct objsrc *s)
{
    struct store_job_held h;
    enum qr_err err =
        store_job_hold(e->o.store, e->reader, j->id, qr_slice_cstr(bucket), qr_slice_cstr(key),
                       pool, &h);
    if (err != QR_OK)
        return err;
    memset(&s->o, 0, sizeof(s->o));
    s->o.size = h.size;
    memcpy(s->o.etag, h.etag, sizeof(s->o.etag));
    s->o.inline_data = h.inline_data;
    s->o.ext = h.ext;
    s->o.n_ext = h.n_ext;
    store_obj_cursor_init(&s->cur, s->st, &s->o, 0, UINT64_MAX);
    return QR_OK;
}

static void objsrc_close(struct objsrc *s)
{
    store_obj_cursor_close(&s->cur);
}

/* Reads the manifest object (ETag checked) whole: manifest.json is small and bounded. */
static bool read_manifest_json(struct batch_engine *e, const struct store_job *j,
                               const struct batch_def *d, h2o_mem_pool_t *pool, struct qr_buf *out)
{
    char bucket[64], reason[256], etag[80];
    const char *key;
    struct objsrc s = {.st = e->o.store, .cur = {.fd = -1}};
    if (!batch_manifest_object(d->mf_arn, bucket, &key) ||
        objsrc_hold(e, j, bucket, key, pool, &s) != QR_OK) {
        snprintf(reason, sizeof(reason), "Reading the manifest failed: %.200s does not exist.",
                 d->mf_arn);
        batch_fail_job(e, j->id, "ManifestNotFound", reason);
        return false;
    }
    batch_etag_unquoted(d->mf_etag, etag);
    if (strcmp(etag, s.o.etag) != 0) {
        snprintf(reason, sizeof(reason),
                 "The ETag of the manifest object does not match the ETag %.80s given in the "
                 "job's Manifest Location.",
                 d->mf_etag);
        batch_fail_job(e, j->id, "ManifestETagMismatch", reason);
        return false;
    }
    if (s.o.size > BATCH_INV_JSON_MAX) {
        batch_fail_job(e, j->id, "ManifestFormatError",
                       "The inventory manifest.json is larger than 8 MiB.");
        return false;
    }
    enum qr_err err = QR_OK;
    uint8_t chunk[8192];
    size_t got = 1;
    while (err == QR_OK && got > 0 && (err = objsrc_pull(&s, chunk, sizeof(chunk), &got)) == QR_OK)
        err = qr_buf_add(out, chunk, got);
    objsrc_close(&s);
    if (err != QR_OK)
        batch_fail_job(e, j->id, "InternalError", "The manifest could not be read.");
    return err == QR_OK;
}

/* Streams one data file into the spool. reason gets why it failed. */
static bool expand_file(struct batch_engine *e, const struct store_job *j,
                        const struct batch_inv *inv, const struct batch_inv_file *f,
                        struct store_job_spool *sp, char reason[256])
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    struct objsrc s = {.st = e->o.store, .cur = {.fd = -1}};
    struct batch_task *t = qr_xmalloc(sizeof(*t));
    char *line = qr_xmalloc(BATCH_LINE_MAX + 16), msg[128], md5[33];
    struct batch_gzlines *g = NULL;
    bool ok = false, eof = false;
    enum qr_err err = objsrc_hold(e, j, inv->dest_bucket, f->key, &pool, &s);
    if (err != QR_OK) {
        snprintf(reason, 256, "Inventory data file %.120s does not exist in bucket %.63s.", f->key,
                 inv->dest_bucket);
        goto out;
    }
    batch_gzlines_new(objsrc_pull, &s, &g);
    while (!eof) {
        struct qr_slice l;
        if ((err = batch_gzlines_next(g, &l, &eof)) != QR_OK) {
            snprintf(reason, 256, "Inventory data file %.150s %s.", f->key,
                     err == QR_E_TOO_LARGE    ? "has a line longer than 16 KiB"
                     : err == QR_E_BAD_INPUT ? "is not a valid gzip file"
                                             : "could not be read");
            goto out;
        }
        if (eof)
            break;
        size_t n = 0;
        if (batch_inv_line(inv, l, t, msg) != QR_OK ||
            (n = batch_task_csv(t, line, BATCH_LINE_MAX + 16)) == 0) {
            snprintf(reason, 256, "Inventory data file %.80s line %llu is malformed: %.80s.",
                     f->key, (unsigned long long)batch_gzlines_line_no(g),
                     n == 0 && msg[0] ? msg : "too long");
            goto out;
        }
        if ((err = store_job_spool_write(sp, qr_slice(line, n))) != QR_OK) {
            snprintf(reason, 256, "The task list could not be written.");
            goto out;
        }
    }
    batch_gzlines_md5(g, md5);
    if (strcmp(md5, f->md5) != 0) {
        snprintf(reason, 256,
                 "Inventory data file %.80s has MD5 %.32s, not the MD5checksum %.32s that "
                 "manifest.json gives.",
                 f->key, md5, f->md5);
        goto out;
    }
    ok = true;
out:
    batch_gzlines_free(g);
    objsrc_close(&s);
    h2o_mem_clear_pool(&pool);
    free(line);
    free(t);
    return ok;
}

/* The role reads every data file (AWS's Batch Operations permissions: an inventory
 * manifest needs read access to manifest.json and to all its CSV data files), each
 * s3:GetObject on its own ARN; all are decided before the first is read, so a denial reads
 * nothing. The job fails as for a manifest it may not read. */
static bool data_files_allowed(struct batch_engine *e, const struct store_job *j,
                               struct batch_role *role, const struct batch_inv *inv)
{
    char *msg = qr_xmalloc(BATCH_MSG_MAX + 1);
    bool ok = true;
    batch_role_refresh(role);
    for (size_t i = 0; ok && i < inv->n_files; i++)
        ok = batch_role_object(role, qr_slice_cstr(inv->dest_bucket),
                               qr_slice_cstr(inv->files[i].key), false, false, msg,
                               BATCH_MSG_MAX + 1);
    if (!ok)
        batch_fail_job(e, j->id, "AccessDenied", "Reading the manifest is forbidden: AccessDenied");
    free(msg);
    return ok;
}

/* S3InventoryReport_CSV_20161130: manifest.json, then each data file in its order. */
static bool expand_inventory(struct batch_engine *e, const struct store_job *j,
                             const struct batch_def *d, struct batch_role *role,
                             struct store_job_spool *sp)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    struct qr_buf json;
    qr_buf_init(&json, BATCH_INV_JSON_MAX);
    struct batch_inv inv = {0};
    char msg[128], reason[256];
    bool ok = false;
    if (!read_manifest_json(e, j, d, &pool, &json))
        goto out;
    if (batch_inv_parse(qr_slice(json.p, json.len), &inv, msg) != QR_OK) {
        snprintf(reason, sizeof(reason), "The inventory manifest.json is malformed: %s.", msg);
        batch_fail_job(e, j->id, "ManifestFormatError", reason);
        goto out;
    }
    if (!data_files_allowed(e, j, role, &inv))
        goto out;
    for (size_t i = 0; i < inv.n_files; i++) {
        if (batch_engine_stopping(e))
            goto out; /* preparation starts over at the next start */
        if (!expand_file(e, j, &inv, &inv.files[i], sp, reason)) {
            batch_fail_job(e, j->id, "ManifestFormatError", reason);
            goto out;
        }
    }
    ok = true;
out:
    batch_inv_dispose(&inv);
    qr_buf_dispose(&json);
    h2o_mem_clear_pool(&pool);
    return ok;
}

bool batch_expand_manifest(struct batch_engine *e, const struct store_job *j,
                           const struct batch_def *d)
{
    if (j->pinned)
        return true; /* expanded before a restart */
    struct store_job_spool *sp;
    store_job_spool_new(e->o.store, &sp);
    /* Preparation reads (data files, the source listing) and writes (the generated
     * manifest) as the job's role, like its tasks (role.c). */
    struct batch_role *role = qr_xmalloc(sizeof(*role));
    batch_role_open(role, e, j->id, d->role_arn);
    bool ok = d->mf_format == BATCH_MF_INVENTORY ? expand_inventory(e, j, d, role, sp)
                                                 : batch_generate(e, j, d, role, sp);
    batch_role_close(role);
    free(role);
    if (ok) {
        enum qr_err err = store_job_spool_pin(sp, j->id);
        if (err != QR_OK && err != QR_E_NO_SUCH_UPLOAD)
            batch_fail_job(e, j->id, "InternalError", "The task list could not be stored.");
        ok = err == QR_OK;
    }
    store_job_spool_free(sp);
    return ok;
}
