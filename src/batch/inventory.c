/*
 * inventory.c - the parsers of an S3InventoryReport_CSV_20161130 manifest: its
 * manifest.json, its gzipped CSV data files read line by line in bounded memory, and one
 * data line turned into a task. Everything here reads untrusted bytes (a manifest is any
 * object a client wrote), so it is pure (no store) and has a fuzz harness
 * (tests/fuzz/fuzz_inventory.c); expand.c does the reading from the store.
 */
#include "batch/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "util/buf.h"
#include "util/codec.h"

#define GZ_IN_BUF  (64u * 1024u)
#define GZ_OUT_BUF (64u * 1024u) /* > 2 * 16 KiB lines: a compaction always makes room */
#define LINE_MAX_B (16u * 1024u) /* as BATCH_LINE_MAX (batch_int.h) */

static enum qr_err bad(char msg[128], const char *what)
{
    snprintf(msg, 128, "%s", what);
    return QR_E_BAD_INPUT;
}

/* ---- manifest.json ---- */

static const char *json_str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* "Bucket, Key, VersionId, ..." -> one field per column (the rest are Ignore). */
static enum qr_err parse_schema(const char *schema, struct batch_inv *out, char msg[128])
{
    static const struct {
        const char *name;
        enum batch_field f;
    } known[] = {{"Bucket", BATCH_F_BUCKET}, {"Key", BATCH_F_KEY}, {"VersionId", BATCH_F_VERSION}};
    unsigned seen = 0;
    const char *p = schema;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n == 0 || out->n_cols == BATCH_INV_MAX_COLS)
            return bad(msg, "manifest.json fileSchema is malformed");
        enum batch_field f = BATCH_F_IGNORE;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (strlen(known[i].name) == n && memcmp(known[i].name, p, n) == 0)
                f = known[i].f;
        if (f != BATCH_F_IGNORE && (seen >> f) & 1)
            return bad(msg, "manifest.json fileSchema names a column twice");
        seen |= 1u << f;
        out->cols[out->n_cols++] = f;
        if (end == NULL)
            break;
        p = end + 1;
    }
    if (!((seen >> BATCH_F_BUCKET) & 1) || !((seen >> BATCH_F_KEY) & 1))
        return bad(msg, "manifest.json fileSchema has no Bucket or no Key column");
    return QR_OK;
}

static enum qr_err parse_file(json_t *f, struct batch_inv_file *out, char msg[128])
{
    const char *key = json_str(f, "key"), *md5 = json_str(f, "MD5checksum");
    json_t *size = json_object_get(f, "size");
    if (!json_is_object(f) || key == NULL || md5 == NULL || key[0] == '\0' ||
        strlen(key) > BATCH_KEY_MAX || strlen(md5) != 32)
        return bad(msg, "manifest.json files entries need key, size and MD5checksum");
    for (size_t i = 0; i < 32; i++) {
        if (qr_hex_val((uint8_t)md5[i]) < 0)
            return bad(msg, "manifest.json MD5checksum is not hexadecimal");
        out->md5[i] = (char)(md5[i] >= 'A' && md5[i] <= 'F' ? md5[i] - 'A' + 'a' : md5[i]);
    }
    out->md5[32] = '\0';
    if (json_is_integer(size) && json_integer_value(size) >= 0)
        out->size = (uint64_t)json_integer_value(size);
    else
        return bad(msg, "manifest.json files size is not a non-negative integer");
    snprintf(out->key, sizeof(out->key), "%s", key);
    return QR_OK;
}

/* destinationBucket: "arn:aws:s3:::name" (as AWS writes it) or a plain name. */
static enum qr_err parse_dest(const char *dest, struct batch_inv *out, char msg[128])
{
    static const char arn[] = "arn:aws:s3:::";
    if (dest == NULL)
        return bad(msg, "manifest.json has no destinationBucket");
    if (strncmp(dest, arn, sizeof(arn) - 1) == 0)
        dest += sizeof(arn) - 1;
    size_t n = strlen(dest);
    if (n < 3 || n > 63 || strchr(dest, '/'))
        return bad(msg, "manifest.json destinationBucket is not a bucket");
    memcpy(out->dest_bucket, dest, n + 1);
    return QR_OK;
}

enum qr_err batch_inv_parse(struct qr_slice json, struct batch_inv *out, char msg[128])
{
    memset(out, 0, sizeof(*out));
    if (json.len > BATCH_INV_JSON_MAX)
        return bad(msg, "manifest.json is larger than 8 MiB");
    json_t *o = json_loadb((const char *)json.p, json.len, JSON_REJECT_DUPLICATES, NULL);
    enum qr_err err;
    json_t *files = json_object_get(o, "files");
    const char *fmt = json_str(o, "fileFormat"), *schema = json_str(o, "fileSchema");
    if (!json_is_object(o))
        err = bad(msg, "manifest.json is not a JSON object");
    else if (fmt == NULL || strcmp(fmt, "CSV") != 0)
        err = bad(msg, "manifest.json fileFormat is not CSV");
    else if (schema == NULL)
        err = bad(msg, "manifest.json has no fileSchema");
    else if (!json_is_array(files) || json_array_size(files) > BATCH_INV_MAX_FILES)
        err = bad(msg, "manifest.json files is not an array of at most 100000 entries");
    else if ((err = parse_dest(json_str(o, "destinationBucket"), out, msg)) == QR_OK)
        err = parse_schema(schema, out, msg);
    if (err == QR_OK && json_array_size(files) > 0) {
        out->files = qr_xmalloc(json_array_size(files) * sizeof(*out->files));
        for (size_t i = 0; i < json_array_size(files) && err == QR_OK; i++)
            if ((err = parse_file(json_array_get(files, i), &out->files[i], msg)) == QR_OK)
                out->n_files++;
    }
    json_decref(o);
    if (err != QR_OK)
        batch_inv_dispose(out);
    return err;
}

void batch_inv_dispose(struct batch_inv *inv)
{
    free(inv->files);
    inv->files = NULL;
    inv->n_files = 0;
}

enum qr_err batch_inv_line(const struct batch_inv *inv, struct qr_slice line,
                           struct batch_task *out, char msg[128])
{
    return batch_csv_line(line, inv->cols, inv->n_cols, out, msg);
}

/* Appends s as a CSV field, quoted when it holds a comma, a quote or a line end. */
static bool put_field(const char *s, size_t n, char *out, size_t cap, size_t *pos)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (quote) {
        if (*pos >= cap)
            return false;
        out[(*pos)++] = '"';
    }
    for (size_t i = 0; i < n; i++) {
        if (*pos + 2 >= cap)
            return false;
        if (s[i] == '"')
            out[(*pos)++] = '"';
        out[(*pos)++] = s[i];
    }
    if (quote) {
        if (*pos >= cap)
            return false;
        out[(*pos)++] = '"';
    }
    return true;
}

size_t batch_task_csv(const struct batch_task *t, char *out, size_t cap)
{
    size_t pos = 0;
    if (!put_field(t->bucket, strlen(t->bucket), out, cap, &pos) || pos + 1 >= cap)
        return 0;
    out[pos++] = ',';
    if (!put_field(t->key_raw, t->key_raw_len, out, cap, &pos) || pos + 1 >= cap)
        return 0;
    out[pos++] = ',';
    if (!put_field(t->version, strlen(t->version), out, cap, &pos) || pos + 1 >= cap)
        return 0;
    out[pos++] = '\n';
    return pos;
}

/* ---- gzip lines ---- */

struct batch_gzlines {
    z_stream z;
    batch_pull_fn pull;
    void *arg;
    EVP_MD_CTX *md5;
    uint8_t in[GZ_IN_BUF];
    uint8_t out[GZ_OUT_BUF];
    size_t off, len;  /* unread decompressed bytes: out[off, len) */
    bool in_eof;      /* the pull function said there is no more */
    bool member_end;  /* inflate finished a gzip member */
    bool done;        /* no more decompressed bytes will come */
    uint64_t line_no; /* of the last line returned */
};

void batch_gzlines_new(batch_pull_fn pull, void *arg, struct batch_gzlines **out)
{
    struct batch_gzlines *g = qr_xmalloc(sizeof(*g));
    memset(g, 0, offsetof(struct batch_gzlines, in));
    g->off = g->len = 0;
    g->in_eof = g->member_end = g->done = false;
    g->line_no = 0;
    g->pull = pull;
    g->arg = arg;
    if (inflateInit2(&g->z, 15 + 16) != Z_OK) /* gzip only: a data file is .csv.gz */
        abort();                             /* zlib fails here only on allocation */
    g->md5 = EVP_MD_CTX_new();
    if (g->md5 == NULL || EVP_DigestInit_ex(g->md5, EVP_md5(), NULL) != 1)
        abort();
    *out = g;
}

void batch_gzlines_free(struct batch_gzlines *g)
{
    if (g == NULL)
        return;
    inflateEnd(&g->z);
    EVP_MD_CTX_free(g->md5);
    free(g);
}

/* Decompresses more into out[len..]; sets done at the end of the last member. */
static enum qr_err inflate_more(struct batch_gzlines *g)
{
    for (;;) {
        if (g->z.avail_in == 0 && !g->in_eof) {
            size_t got = 0;
            enum qr_err err = g->pull(g->arg, g->in, sizeof(g->in), &got);
            if (err != QR_OK)
                return err;
            if (got > sizeof(g->in))
                return QR_E_INTERNAL;
            EVP_DigestUpdate(g->md5, g->in, got);
            g->in_eof = got == 0;
            g->z.next_in = g->in;
            g->z.avail_in = (uInt)got;
        }
        if (g->member_end) {
            if (g->z.avail_in == 0 && g->in_eof) {
                g->done = true;
                return QR_OK;
            }
            if (g->z.avail_in == 0)
                continue;
            if (inflateReset(&g->z) != Z_OK) /* another member follows */
                return QR_E_BAD_INPUT;
            g->member_end = false;
        }
        if (g->z.avail_in == 0 && g->in_eof)
            return QR_E_BAD_INPUT; /* cut short inside a member (or empty) */
        size_t before = g->len;
        g->z.next_out = g->out + g->len;
        g->z.avail_out = (uInt)(sizeof(g->out) - g->len);
        int rc = inflate(&g->z, Z_NO_FLUSH);
        g->len = sizeof(g->out) - g->z.avail_out;
        if (rc == Z_STREAM_END)
            g->member_end = true;
        else if (rc != Z_OK && rc != Z_BUF_ERROR)
            return QR_E_BAD_INPUT;
        if (g->len > before || g->len == sizeof(g->out))
            return QR_OK;
    }
}

enum qr_err batch_gzlines_next(struct batch_gzlines *g, struct qr_slice *line, bool *eof)
{
    for (;;) {
        uint8_t *nl = memchr(g->out + g->off, '\n', g->len - g->off);
        size_t start = g->off, end;
        if (nl) {
            end = (size_t)(nl - g->out);
            g->off = end + 1;
        } else if (g->len - g->off > LINE_MAX_B) {
            return QR_E_TOO_LARGE;
        } else if (!g->done) {
            memmove(g->out, g->out + g->off, g->len - g->off);
            g->len -= g->off;
            g->off = 0;
            enum qr_err err = inflate_more(g);
            if (err != QR_OK)
                return err;
            continue;
        } else if (g->off == g->len) {
            *eof = true;
            return QR_OK;
        } else {
            end = g->len; /* a last line without a line end */
            g->off = g->len;
        }
        if (end - start > LINE_MAX_B)
            return QR_E_TOO_LARGE;
        g->line_no++;
        if (end > start && g->out[end - 1] == '\r')
            end--;
        if (end == start)
            continue;
        *line = qr_slice(g->out + start, end - start);
        *eof = false;
        return QR_OK;
    }
}

uint64_t batch_gzlines_line_no(const struct batch_gzlines *g)
{
    return g->line_no;
}

void batch_gzlines_md5(struct batch_gzlines *g, char hex[33])
{
    unsigned char d[16];
    unsigned int n = 0;
    EVP_DigestFinal_ex(g->md5, d, &n);
    for (size_t i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}
