/*
 * generator.c - S3JobManifestGenerator: the job's task list from a listing of the
 * source bucket, page by page (1,000 keys a page, the last key carried to the next:
 * bounded memory however many objects), through every filter of the model's
 * JobManifestGeneratorFilter. MatchAnyPrefix narrows the listing itself; the other
 * filters look at each listed object. With EnableManifestOutput the generated manifest
 * is written as it goes (S3InventoryReport_CSV_20211130: gzipped CSV data files of at
 * most GEN_FILE_MAX compressed bytes each, then manifest.json naming them with their
 * MD5s) under <ManifestPrefix>/job-<id>/ in the output bucket.
 *
 * All of it runs as the job's role: s3:ListBucket on the source bucket, s3:PutObject on
 * each object written (generator_allowed decides the listing, manifest.json and the first
 * data file before anything is read or written; out_put decides each object again). The
 * storage-class filter takes each object's storage class from the listing, as S3's
 * ListObjectsV2 shows it under s3:ListBucket (its StorageClass field): nothing else of
 * an object is read, so no s3:GetObject is asked.
 *
 * What quarry's objects are, for the filters that ask about features it lacks: none is
 * replicated (ReplicationStatus NONE), and a general purpose bucket's object has the
 * storage class it was written with (STANDARD when none was given).
 */
#include "batch/batch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "obj/obj.h"
#include "util/buf.h"
#include "util/codec.h"

#define GEN_PAGE     1000u
#define GEN_FILE_MAX (8u * 1024u * 1024u) /* compressed bytes per generated data file */
#define GEN_FILES    10000u               /* data files per generated manifest, at most */

/* The model's S3StorageClass enum, in the order of create.c's bits. */
static const char *const classes[] = {"STANDARD",     "STANDARD_IA", "ONEZONE_IA", "GLACIER",
                                      "INTELLIGENT_TIERING", "DEEP_ARCHIVE", "GLACIER_IR"};

static enum qr_err check_gp(struct store_reader *r, const char *arn, const char *what,
                            char msg[256])
{
    char b[64];
    struct store_bucket sb;
    if (!batch_bucket_of_arn(arn, b)) {
        snprintf(msg, 256, "%s %.150s is not a valid bucket ARN", what, arn);
        return QR_E_BAD_INPUT;
    }
    enum qr_err err = store_bucket_get(r, qr_slice_cstr(b), &sb);
    if (err == QR_E_NO_SUCH_BUCKET) {
        snprintf(msg, 256, "%s names a bucket that does not exist", what);
        return QR_E_BAD_INPUT;
    }
    if (err == QR_OK && sb.type == STORE_BUCKET_DIRECTORY) {
        snprintf(msg, 256, "Directory buckets are not supported as the %s", what);
        return QR_E_BAD_INPUT;
    }
    return err;
}

enum qr_err batch_check_generator(struct store_reader *r, const struct batch_def *d, char msg[256])
{
    enum qr_err err = check_gp(r, d->gen_source, "S3JobManifestGenerator SourceBucket", msg);
    if (err == QR_OK && d->gen_out_bucket[0])
        err = check_gp(r, d->gen_out_bucket, "ManifestOutputLocation Bucket", msg);
    return err;
}

/* ---- filters ---- */

/* The bit of the storage class the object was written with (the listing's headers). */
static unsigned class_bit(struct qr_slice headers)
{
    struct qr_slice cls = obj_storage_class(headers, false);
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
        if (qr_slice_eq_lit(cls, classes[i]))
            return 1u << i;
    return 0;
}

static bool key_matches(const struct batch_def *d, struct qr_slice k)
{
    size_t sl = strlen(d->gen_suffix), bl = strlen(d->gen_substr);
    if (sl && (k.len < sl || memcmp(k.p + k.len - sl, d->gen_suffix, sl) != 0))
        return false;
    return bl == 0 || (k.len >= bl && memmem(k.p, k.len, d->gen_substr, bl) != NULL);
}

static bool matches(const struct batch_def *d, const struct store_list_entry *x)
{
    if (x->is_prefix || !key_matches(d, x->key))
        return false;
    if ((d->gen_gt >= 0 && x->size <= (uint64_t)d->gen_gt) ||
        (d->gen_lt >= 0 && x->size >= (uint64_t)d->gen_lt))
        return false;
    if ((d->gen_after_ms && x->mtime_ms <= d->gen_after_ms) ||
        (d->gen_before_ms && x->mtime_ms >= d->gen_before_ms))
        return false;
    if (d->gen_repl && !(d->gen_repl & BATCH_REPL_NONE))
        return false; /* nothing in quarry is replicated: only NONE matches */
    return d->gen_classes == 0 || (d->gen_classes & class_bit(x->headers)) != 0;
}

/* bucket,key(URL-encoded),\n (fields Bucket,Key,VersionId; quarry lists current objects). */
static size_t task_line(const char *bucket, struct qr_slice key, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = (size_t)snprintf(out, cap, "%s,", bucket);
    for (size_t i = 0; i < key.len && n + 4 < cap; i++) {
        uint8_t c = key.p[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n++] = ',';
    out[n++] = '\n';
    return n;
}

/* ---- the generated manifest (EnableManifestOutput) ---- */

struct gen_out {
    struct batch_engine *e;
    struct batch_role *role; /* every object written is decided as the job's role */
    char *msg;               /* BATCH_MSG_MAX + 1: the role's AccessDenied message */
    char next_id[37];        /* the name of the next data file (decided before the listing) */
    char bucket[64];
    char base[BATCH_PREFIX_MAX + 64]; /* <prefix>/job-<id>/ */
    z_stream z;
    bool zinit;
    struct qr_buf gz; /* the current data file, compressed */
    json_t *files;    /* manifest.json's files */
};

/* Whether the role may write key in the output bucket (s3:PutObject). */
static bool out_allowed(struct gen_out *o, const char *key)
{
    return batch_role_object(o->role, qr_slice_cstr(o->bucket), qr_slice_cstr(key), false, true,
                             o->msg, BATCH_MSG_MAX + 1);
}

/* Stores one object of the generated manifest; QR_E_DENIED (nothing written) when the
 * role may not write it. */
static enum qr_err out_put(struct gen_out *o, const char *key, struct qr_slice data, char md5[33])
{
    if (!out_allowed(o, key))
        return QR_E_DENIED;
    unsigned char d[16];
    EVP_Digest(data.p ? data.p : (const uint8_t *)"", data.len, d, NULL, EVP_md5(), NULL);
    for (size_t i = 0; i < 16; i++)
        snprintf(md5 + 2 * i, 3, "%02x", d[i]);
    struct store_put p = {.bucket = qr_slice_cstr(o->bucket), .key = qr_slice_cstr(key),
                          .data = data, .etag = md5};
    struct store_put_result res;
    return store_obj_put(o->e->o.store, &p, &res);
}

static enum qr_err out_deflate(struct gen_out *o, const void *p, size_t n, int flush)
{
    if (!o->zinit) {
        memset(&o->z, 0, sizeof(o->z));
        if (deflateInit2(&o->z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return QR_E_INTERNAL;
        o->zinit = true;
    }
    o->z.next_in = (Bytef *)(uintptr_t)p;
    o->z.avail_in = (uInt)n;
    int rc;
    do {
        uint8_t chunk[16384];
        o->z.next_out = chunk;
        o->z.avail_out = sizeof(chunk);
        rc = deflate(&o->z, flush);
        enum qr_err err = qr_buf_add(&o->gz, chunk, sizeof(chunk) - o->z.avail_out);
        if (err != QR_OK)
            return err;
    } while (o->z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    return QR_OK;
}

/* Finishes the current data file (if any) and stores it. */
static enum qr_err out_flush(struct gen_out *o)
{
    if (!o->zinit)
        return QR_OK;
    enum qr_err err = out_deflate(o, "", 0, Z_FINISH);
    deflateEnd(&o->z);
    o->zinit = false;
    if (err == QR_OK && json_array_size(o->files) >= GEN_FILES)
        err = QR_E_TOO_LARGE;
    char key[sizeof(o->base) + 64], md5[33];
    snprintf(key, sizeof(key), "%sdata/%s.csv.gz", o->base, o->next_id);
    qr_uuid4(o->next_id);
    if (err == QR_OK)
        err = out_put(o, key, qr_slice(o->gz.p, o->gz.len), md5);
    if (err == QR_OK)
        json_array_append_new(o->files, json_pack("{ss sI ss}", "key", key, "size",
                                                  (json_int_t)o->gz.len, "MD5checksum", md5));
    o->gz.len = 0;
    return err;
}

/* One generated row: "bucket","key" as inventory writes it. */
static enum qr_err out_row(struct gen_out *o, const char *bucket, const char *line, size_t n)
{
    /* line is bucket,KEY,\n: quote the two fields (URL-encoded keys hold no quote) */
    const char *k = line + strlen(bucket) + 1;
    size_t kl = n - strlen(bucket) - 3;
    char row[BATCH_RAW_KEY_MAX + 80];
    int m = snprintf(row, sizeof(row), "\"%s\",\"%.*s\"\n", bucket, (int)kl, k);
    enum qr_err err = out_deflate(o, row, (size_t)m, Z_NO_FLUSH);
    if (err == QR_OK && o->gz.len >= GEN_FILE_MAX)
        err = out_flush(o);
    return err;
}

static enum qr_err out_manifest(struct gen_out *o, const char *source)
{
    enum qr_err err = out_flush(o);
    if (err != QR_OK)
        return err;
    char now[24], key[sizeof(o->base) + 16], md5[33], dest[80];
    snprintf(now, sizeof(now), "%lld", (long long)qr_now_ms());
    snprintf(dest, sizeof(dest), "arn:aws:s3:::%s", o->bucket);
    json_t *m = json_pack("{ss ss ss ss ss ss sO}", "sourceBucket", source, "destinationBucket",
                          dest, "version", "2021-11-30", "creationTimestamp", now, "fileFormat",
                          "CSV", "fileSchema", "Bucket, Key", "files", o->files);
    char *s = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(m);
    if (s == NULL)
        abort(); /* jansson fails only on allocation */
    snprintf(key, sizeof(key), "%smanifest.json", o->base);
    err = out_put(o, key, qr_slice_cstr(s), md5);
    free(s);
    return err;
}

void batch_generated_manifest_key(const struct batch_def *d, const char *job_id, char *out,
                                  size_t cap)
{
    size_t pl = strlen(d->gen_out_prefix);
    snprintf(out, cap, "%s%sjob-%s/manifest.json", d->gen_out_prefix,
             pl && d->gen_out_prefix[pl - 1] != '/' ? "/" : "", job_id);
}

bool batch_generated_manifest(struct store_reader *r, const struct batch_def *d,
                              const char *job_id, char *arn, size_t arn_cap, char etag[80])
{
    char bucket[64], key[BATCH_PREFIX_MAX + 128];
    if (!d->gen_output || !batch_bucket_of_arn(d->gen_out_bucket, bucket))
        return false;
    batch_generated_manifest_key(d, job_id, key, sizeof(key));
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    struct store_obj o;
    bool ok = store_obj_get(r, qr_slice_cstr(bucket), qr_slice_cstr(key), false, &pool, &o) ==
              QR_OK;
    if (ok) {
        snprintf(arn, arn_cap, "arn:aws:s3:::%s/%s", bucket, key);
        snprintf(etag, 80, "\"%.76s\"", o.etag);
    }
    h2o_mem_clear_pool(&pool);
    return ok;
}

/* ---- the listing ---- */

#define GEN_WRITE_DENIED "Writing the generated manifest is forbidden: AccessDenied"

/* Fails the job for a generated manifest that could not be written. */
static void fail_output(struct batch_engine *e, const struct store_job *j, enum qr_err err)
{
    if (err == QR_E_DENIED)
        batch_fail_job(e, j->id, "AccessDenied", GEN_WRITE_DENIED);
    else if (err == QR_E_TOO_LARGE)
        batch_fail_job(e, j->id, "InternalError", "The generated manifest is too large.");
    else
        batch_fail_job(e, j->id, "ManifestWriteFailed",
                       "The generated manifest could not be written to the output bucket.");
}

/* Before anything is listed or written: the role may list the source bucket (ListObjectsV2:
 * s3:ListBucket) and, with EnableManifestOutput, write manifest.json and the first data
 * file under the output prefix (s3:PutObject), so the usual denial writes nothing. Every
 * later data file is decided again when it is stored (out_put). */
static bool generator_allowed(struct batch_engine *e, const struct store_job *j,
                              const char *bucket, struct gen_out *out)
{
    batch_role_refresh(out->role);
    if (!batch_role_list(out->role, qr_slice_cstr(bucket), out->msg, BATCH_MSG_MAX + 1)) {
        batch_fail_job(e, j->id, "AccessDenied",
                       "Listing the source bucket of the manifest generator is forbidden: "
                       "AccessDenied");
        return false;
    }
    if (out->bucket[0] == '\0')
        return true;
    char key[sizeof(out->base) + 64];
    snprintf(key, sizeof(key), "%smanifest.json", out->base);
    bool ok = out_allowed(out, key);
    snprintf(key, sizeof(key), "%sdata/%s.csv.gz", out->base, out->next_id);
    if (ok && !out_allowed(out, key))
        ok = false;
    if (!ok)
        batch_fail_job(e, j->id, "AccessDenied", GEN_WRITE_DENIED);
    return ok;
}

static bool list_all(struct batch_engine *e, const struct store_job *j, const struct batch_def *d,
                     const char *bucket, struct store_job_spool *sp, struct gen_out *out)
{
    char *after = qr_xmalloc(BATCH_KEY_MAX + 1), *line = qr_xmalloc(BATCH_RAW_KEY_MAX + 80);
    size_t after_len = 0;
    bool more = true, ok = true;
    while (more && ok) {
        h2o_mem_pool_t pool;
        h2o_mem_init_pool(&pool);
        struct store_list_opts lo = {.prefix = qr_slice_cstr(d->gen_prefix),
                                     .after = qr_slice(after, after_len),
                                     .max = GEN_PAGE};
        struct store_list_result res;
        enum qr_err err = store_list(e->reader, qr_slice_cstr(bucket), &lo, &pool, &res);
        if (err != QR_OK) {
            batch_fail_job(e, j->id, err == QR_E_NO_SUCH_BUCKET ? "NoSuchBucket" : "InternalError",
                           "The source bucket of the manifest generator could not be listed.");
            ok = false;
        }
        for (size_t i = 0; ok && i < res.n; i++) {
            const struct store_list_entry *x = &res.e[i];
            if (!matches(d, x))
                continue;
            size_t n = task_line(bucket, x->key, line, BATCH_RAW_KEY_MAX + 80);
            err = store_job_spool_write(sp, qr_slice(line, n));
            if (err == QR_OK && out)
                err = out_row(out, bucket, line, n);
            if (err != QR_OK) {
                fail_output(e, j, err);
                ok = false;
            }
        }
        if (ok && res.n > 0) {
            const struct store_list_entry *last = &res.e[res.n - 1];
            after_len = last->key.len <= BATCH_KEY_MAX ? last->key.len : BATCH_KEY_MAX;
            memcpy(after, last->key.p, after_len);
        }
        more = ok && res.truncated && res.n > 0;
        h2o_mem_clear_pool(&pool);
        if (more && batch_engine_stopping(e))
            ok = false; /* preparation starts over at the next start */
    }
    free(line);
    free(after);
    return ok;
}

bool batch_generate(struct batch_engine *e, const struct store_job *j, const struct batch_def *d,
                    struct batch_role *role, struct store_job_spool *sp)
{
    char bucket[64];
    if (!batch_bucket_of_arn(d->gen_source, bucket)) {
        batch_fail_job(e, j->id, "InvalidManifest", "The SourceBucket is not a bucket ARN.");
        return false;
    }
    struct gen_out out = {.e = e, .role = role};
    bool want = d->gen_output;
    if (want) {
        if (!batch_bucket_of_arn(d->gen_out_bucket, out.bucket)) {
            batch_fail_job(e, j->id, "InvalidManifest", "The output bucket is not a bucket ARN.");
            return false;
        }
        char key[sizeof(out.base) + 16];
        batch_generated_manifest_key(d, j->id, key, sizeof(key));
        snprintf(out.base, sizeof(out.base), "%.*s", (int)(strlen(key) - strlen("manifest.json")),
                 key);
        qr_buf_init(&out.gz, 2u * GEN_FILE_MAX);
        out.files = json_array();
        qr_uuid4(out.next_id);
    }
    /* A dry run changes nothing: its role is still asked whether it could write the
     * generated manifest, but nothing is written. */
    bool write = want && !batch_dry_run_wanted(j);
    out.msg = qr_xmalloc(BATCH_MSG_MAX + 1);
    bool ok = generator_allowed(e, j, bucket, &out) &&
              list_all(e, j, d, bucket, sp, write ? &out : NULL);
    enum qr_err err = QR_OK;
    if (ok && write && (err = out_manifest(&out, bucket)) != QR_OK) {
        fail_output(e, j, err);
        ok = false;
    }
    free(out.msg);
    if (want) {
        if (out.zinit)
            deflateEnd(&out.z);
        qr_buf_dispose(&out.gz);
        json_decref(out.files);
    }
    return ok;
}
