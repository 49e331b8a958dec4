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
 * so writing a report again after a crash replaces the same objects.
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

#define REPORT_MAX  (512u * 1024u * 1024u) /* one results file held for its PUT */
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

static void md5_hex(const void *p, size_t n, char out[33])
{
    unsigned char d[MD5_DIGEST_LENGTH];
    EVP_Digest(p, n, d, NULL, EVP_md5(), NULL);
    for (size_t i = 0; i < sizeof(d); i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The job's results, split by status into two files (succeeded only when wanted). */
static enum qr_err collect(struct batch_engine *e, const struct store_job *job, bool failed_only,
                           struct qr_buf *ok, struct qr_buf *bad)
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
            err = csv_row(rows[i].failed ? bad : ok, &rows[i]);
            from = rows[i].line + 1;
        }
        h2o_mem_clear_pool(&pool);
        if (err != QR_OK)
            return err;
        if (n < REPORT_PAGE)
            return QR_OK;
    }
}

static enum qr_err put(struct batch_engine *e, const char *bucket, const char *key,
                       struct qr_slice data)
{
    char etag[33];
    md5_hex(data.p ? data.p : (const uint8_t *)"", data.len, etag);
    struct store_put p = {
        .bucket = qr_slice_cstr(bucket),
        .key = qr_slice_cstr(key),
        .data = data,
        .etag = etag,
    };
    struct store_put_result res;
    return store_obj_put(e->o.store, &p, &res);
}

/* "PREFIX/job-ID/results/<40 hex>.csv": the hex is derived from the job id and status. */
static void result_key(const char *base, const char *id, const char *status, char *out,
                       size_t cap)
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
        json_array_append_new(results, json_pack("{ss ss ss ss}", "TaskExecutionStatus",
                                                 status[i], "Bucket", bucket, "MD5Checksum",
                                                 md5s[i], "Key", keys[i]));
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
    char bucket[64], base[BATCH_PREFIX_MAX + 64];
    char keys[2][BATCH_PREFIX_MAX + 128], md5s[2][33];
    const char *status[2];
    struct qr_buf ok, bad;
    size_t n = 0;
    if (!d->report_enabled)
        return QR_OK;
    if (!batch_bucket_of_arn(d->report_bucket_arn, bucket))
        return QR_E_NO_SUCH_BUCKET;
    size_t pl = strlen(d->report_prefix);
    snprintf(base, sizeof(base), "%s%sjob-%s/", d->report_prefix,
             pl && d->report_prefix[pl - 1] != '/' ? "/" : "", job->id);
    qr_buf_init(&ok, REPORT_MAX);
    qr_buf_init(&bad, REPORT_MAX);
    enum qr_err err = collect(e, job, d->report_failed_only, &ok, &bad);
    const struct {
        struct qr_buf *b;
        const char *status;
        bool want;
    } files[2] = {{&ok, "succeeded", !d->report_failed_only}, {&bad, "failed", true}};
    for (size_t i = 0; i < 2 && err == QR_OK; i++) {
        if (!files[i].want || (files[i].b->len == 0 && i == 0 && d->report_failed_only))
            continue;
        if (files[i].b->len == 0)
            continue; /* AWS lists a file per status that has tasks */
        result_key(base, job->id, files[i].status, keys[n], sizeof(keys[n]));
        md5_hex(files[i].b->p, files[i].b->len, md5s[n]);
        status[n] = files[i].status;
        err = put(e, bucket, keys[n], qr_slice(files[i].b->p, files[i].b->len));
        n++;
    }
    if (err == QR_OK)
        err = put_manifest(e, bucket, base, keys, md5s, status, n);
    qr_buf_dispose(&ok);
    qr_buf_dispose(&bad);
    return err;
}
