/*
 * report.c - the completion report (Report_CSV_20180820) in AWS's layout:
 *   PREFIX/job-ID/manifest.json
 *   PREFIX/job-ID/results/<hex>.csv   (succeeded and failed tasks in separate files)
 *
 * Rows come from the job's result rows in manifest order, so each manifest line appears
 * exactly once. Columns: Bucket, Key, VersionId, TaskStatus, HTTPStatusCode, ErrorCode,
 * ResultMessage - the order of AWS's published report rows (the status code before the
 * error code), although manifest.json's ReportSchema string names ErrorCode first, as
 * AWS's does; see docs/batch.md. Keys are written as the manifest wrote them (URL-encoded)
 * so a report line matches its manifest line. File names are derived from the job id,
 * so writing a report again after a crash replaces the same objects. A results file is
 * stored in 8 MiB parts as it is produced: memory stays bounded however many tasks.
 */
#include "batch/batch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include "util/buf.h"
#include "util/codec.h"

#define REPORT_PART (8u * 1024u * 1024u) /* bytes of a results file held before they are stored */
#define REPORT_PAGE 1000u

/* A CSV field: quoted when it holds a comma, quote or line break ("" for a quote). */
static enum qr_err csv_field(struct qr_buf *b, const char *p, size_t n)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = p[i] == ',' || p[i] == '"' || p[i] == '\n' || p[i] == '\r';
    if (!quote)
        return qr_buf_add(b, p, n);
    enum qr_err err = qr_buf_add(b, "\"", 1);
    for (size_t i = 0; i < n && err == QR_OK; i++)
        err = p[i] == '"' ? qr_buf_add(b, "\"\"", 2) : qr_buf_add(b, p + i, 1);
    return err == QR_OK ? qr_buf_add(b, "\"", 1) : err;
}

static enum qr_err csv_row(struct qr_buf *b, const struct store_job_row *r)
{
    char http[16];
    int hl = snprintf(http, sizeof(http), "%d", r->http);
    const char *status = r->failed ? "failed" : "succeeded";
    enum qr_err err = csv_field(b, (const char *)r->bucket.p, r->bucket.len);
    if (!err)
        err = qr_buf_add(b, ",", 1);
    if (!err)
        err = csv_field(b, (const char *)r->key.p, r->key.len);
    if (!err)
        err = qr_buf_add(b, ",", 1);
    if (!err)
        err = csv_field(b, (const char *)r->version.p, r->version.len);
    if (!err)
        err = qr_buf_add(b, ",", 1);
    if (!err)
        err = qr_buf_add(b, status, strlen(status));
    if (!err)
        err = qr_buf_add(b, ",", 1);
    if (!err)
        err = qr_buf_add(b, http, (size_t)hl);
    if (!err)
        err = qr_buf_add(b, ",", 1);
    if (!err)
        err = csv_field(b, r->code, strlen(r->code));
    if (!err)
        err = qr_buf_add(b, ",", 1);
    if (!err)
        err = csv_field(b, r->message, strlen(r->message));
    if (!err)
        err = qr_buf_add(b, "\n", 1);
    return err;
}

static void hex16(const unsigned char d[16], char out[33])
{
    for (size_t i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static enum qr_err put(struct batch_engine *e, const char *bucket, const char *key,
                       struct qr_slice data)
{
    unsigned char d[MD5_DIGEST_LENGTH];
    char etag[33];
    EVP_Digest(data.p ? data.p : (const uint8_t *)"", data.len, d, NULL, EVP_md5(), NULL);
    hex16(d, etag);
    struct store_put p = {
        .bucket = qr_slice_cstr(bucket),
        .key = qr_slice_cstr(key),
        .data = data,
        .etag = etag,
    };
    struct store_put_result res;
    return store_obj_put(e->o.store, &p, &res);
}

/* One results file, written as it is produced: up to REPORT_PART bytes are held, then
 * they go to the store as a part of a multipart upload, so a report of any size needs
 * bounded memory. A file that fits one part is one plain PUT. */
struct rfile {
    struct batch_engine *e;
    const char *bucket;
    char key[BATCH_PREFIX_MAX + 128];
    struct qr_buf buf;    /* bytes not yet stored */
    EVP_MD_CTX *md5;      /* of the whole file: the report's MD5Checksum */
    EVP_MD_CTX *etag_md5; /* of the parts' binary MD5s: the object's ETag */
    char upload[65];      /* "" until the first part */
    uint32_t parts;
    char (*etags)[33]; /* heap, parts of them */
    uint64_t bytes;
};

static void rfile_init(struct rfile *f, struct batch_engine *e, const char *bucket)
{
    memset(f, 0, sizeof(*f));
    f->e = e;
    f->bucket = bucket;
    qr_buf_init(&f->buf, REPORT_PART + 2 * BATCH_LINE_MAX);
    f->md5 = EVP_MD_CTX_new();
    f->etag_md5 = EVP_MD_CTX_new();
    if (f->md5 == NULL || f->etag_md5 == NULL)
        abort(); /* allocation failure */
    EVP_DigestInit_ex(f->md5, EVP_md5(), NULL);
    EVP_DigestInit_ex(f->etag_md5, EVP_md5(), NULL);
}

static void rfile_dispose(struct rfile *f)
{
    if (f->upload[0]) {
        /* An upload left unfinished (an error) is dropped with its parts. */
        enum qr_err ignored = store_mpu_abort(f->e->o.store, qr_slice_cstr(f->bucket),
                                              qr_slice_cstr(f->key), qr_slice_cstr(f->upload));
        (void)ignored;
    }
    qr_buf_dispose(&f->buf);
    EVP_MD_CTX_free(f->md5);
    EVP_MD_CTX_free(f->etag_md5);
    free(f->etags);
}

static enum qr_err rfile_flush_part(struct rfile *f)
{
    enum qr_err err;
    if (f->upload[0] == '\0') {
        struct store_mpu_create c = {.bucket = qr_slice_cstr(f->bucket),
                                     .key = qr_slice_cstr(f->key)};
        if ((err = store_mpu_create(f->e->o.store, &c, f->upload)) != QR_OK) {
            f->upload[0] = '\0';
            return err;
        }
    }
    unsigned char d[MD5_DIGEST_LENGTH];
    EVP_Digest(f->buf.p, f->buf.len, d, NULL, EVP_md5(), NULL);
    EVP_DigestUpdate(f->etag_md5, d, sizeof(d));
    f->etags = realloc(f->etags, sizeof(*f->etags) * (f->parts + 1));
    if (f->etags == NULL)
        abort(); /* allocation failure */
    hex16(d, f->etags[f->parts]);
    struct store_part part = {.number = f->parts + 1, .size = f->buf.len};
    memcpy(part.etag, f->etags[f->parts], 33);
    err = store_mpu_put_part(f->e->o.store, qr_slice_cstr(f->bucket), qr_slice_cstr(f->key),
                             qr_slice_cstr(f->upload), &part, qr_slice(f->buf.p, f->buf.len));
    if (err == QR_OK) {
        f->parts++;
        qr_buf_reset(&f->buf);
    }
    return err;
}

static enum qr_err rfile_row(struct rfile *f, const struct store_job_row *r)
{
    size_t before = f->buf.len;
    enum qr_err err = csv_row(&f->buf, r);
    if (err != QR_OK)
        return err;
    EVP_DigestUpdate(f->md5, f->buf.p + before, f->buf.len - before);
    f->bytes += f->buf.len - before;
    return f->buf.len >= REPORT_PART ? rfile_flush_part(f) : QR_OK;
}

/* Stores what is left; out_md5 gets the whole file's MD5. */
static enum qr_err rfile_finish(struct rfile *f, char out_md5[33])
{
    unsigned char d[MD5_DIGEST_LENGTH];
    EVP_DigestFinal_ex(f->md5, d, NULL);
    hex16(d, out_md5);
    if (f->parts == 0)
        return put(f->e, f->bucket, f->key, qr_slice(f->buf.p, f->buf.len));
    enum qr_err err = f->buf.len ? rfile_flush_part(f) : QR_OK;
    if (err != QR_OK)
        return err;
    uint32_t *numbers = qr_xmalloc(sizeof(*numbers) * f->parts);
    const char **etags = qr_xmalloc(sizeof(*etags) * f->parts);
    for (uint32_t i = 0; i < f->parts; i++) {
        numbers[i] = i + 1;
        etags[i] = f->etags[i];
    }
    char etag[48];
    EVP_DigestFinal_ex(f->etag_md5, d, NULL);
    hex16(d, etag);
    snprintf(etag + 32, sizeof(etag) - 32, "-%u", f->parts);
    struct store_mpu_complete c = {
        .bucket = qr_slice_cstr(f->bucket),
        .key = qr_slice_cstr(f->key),
        .upload_id = qr_slice_cstr(f->upload),
        .numbers = numbers,
        .etags = etags,
        .n = f->parts,
        .etag = etag,
    };
    struct store_put_result res;
    err = store_mpu_complete(f->e->o.store, &c, &res);
    if (err == QR_OK)
        f->upload[0] = '\0';
    free(numbers);
    free(etags);
    return err;
}

/* The job's results in manifest order, each row into its status's file. */
static enum qr_err collect(struct batch_engine *e, const struct store_job *job, bool failed_only,
                           struct rfile *ok, struct rfile *bad)
{
    uint64_t from = 0;
    for (;;) {
        h2o_mem_pool_t pool;
        struct store_job_row *rows;
        size_t n;
        h2o_mem_init_pool(&pool);
        enum qr_err err =
            store_job_results(e->reader, job->id, from, failed_only, REPORT_PAGE, &pool, &rows, &n);
        for (size_t i = 0; i < n && err == QR_OK; i++) {
            err = rfile_row(rows[i].failed ? bad : ok, &rows[i]);
            from = rows[i].line + 1;
        }
        h2o_mem_clear_pool(&pool);
        if (err != QR_OK || n < REPORT_PAGE)
            return err;
    }
}

/* "PREFIX/job-ID/results/<40 hex>.csv": the hex is derived from the job id and status. */
static void result_key(const char *base, const char *id, const char *status, char *out, size_t cap)
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    char in[96], hex[41];
    int n = snprintf(in, sizeof(in), "%s/%s", id, status);
    SHA256((const unsigned char *)in, (size_t)n, h);
    for (size_t i = 0; i < 20; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    snprintf(out, cap, "%sresults/%s.csv", base, hex);
}

static enum qr_err put_manifest(struct batch_engine *e, const char *bucket, const char *base,
                                char (*keys)[BATCH_PREFIX_MAX + 128], char (*md5s)[33],
                                const char *const *status, size_t n)
{
    char when[QR_TIME_ISO8601_LEN], key[BATCH_PREFIX_MAX + 128];
    qr_time_iso8601(qr_now_ms(), when);
    json_t *results = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(results,
                              json_pack("{ss ss ss ss}", "TaskExecutionStatus", status[i], "Bucket",
                                        bucket, "MD5Checksum", md5s[i], "Key", keys[i]));
    json_t *m = json_pack("{ss ss so ss}", "Format", "Report_CSV_20180820", "ReportCreationDate",
                          when, "Results", results, "ReportSchema",
                          "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, "
                          "ResultMessage");
    char *s = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(m);
    if (s == NULL)
        abort(); /* jansson fails only on allocation */
    snprintf(key, sizeof(key), "%smanifest.json", base);
    enum qr_err err = put(e, bucket, key, qr_slice_cstr(s));
    free(s);
    return err;
}

enum qr_err batch_write_report(struct batch_engine *e, const struct store_job *job,
                               const struct batch_def *d)
{
    static const char *const names[2] = {"succeeded", "failed"};
    char bucket[64], base[BATCH_PREFIX_MAX + 64];
    char keys[2][BATCH_PREFIX_MAX + 128], md5s[2][33];
    const char *status[2];
    struct rfile files[2]; /* succeeded, failed */
    size_t n = 0;
    if (!d->report_enabled)
        return QR_OK;
    if (!batch_bucket_of_arn(d->report_bucket_arn, bucket))
        return QR_E_NO_SUCH_BUCKET;
    size_t pl = strlen(d->report_prefix);
    snprintf(base, sizeof(base), "%s%sjob-%s/", d->report_prefix,
             pl && d->report_prefix[pl - 1] != '/' ? "/" : "", job->id);
    for (size_t i = 0; i < 2; i++) {
        rfile_init(&files[i], e, bucket);
        result_key(base, job->id, names[i], files[i].key, sizeof(files[i].key));
    }
    enum qr_err err = collect(e, job, d->report_failed_only, &files[0], &files[1]);
    for (size_t i = 0; i < 2 && err == QR_OK; i++) {
        /* AWS lists a file for each status that has tasks. */
        if (files[i].bytes == 0)
            continue;
        err = rfile_finish(&files[i], md5s[n]);
        memcpy(keys[n], files[i].key, sizeof(keys[n]));
        status[n++] = names[i];
    }
    if (err == QR_OK)
        err = put_manifest(e, bucket, base, keys, md5s, status, n);
    rfile_dispose(&files[0]);
    rfile_dispose(&files[1]);
    return err;
}
