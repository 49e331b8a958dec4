/*
 * manifest.c - S3BatchOperations_CSV_20180820 manifests: the line parser and a reader
 * that streams a pinned manifest (inline bytes or blob extents) from any byte offset.
 *
 * The manifest is hostile input. Lines are bounded (BATCH_LINE_MAX) before anything is
 * copied; fields are parsed with a cursor, never with string functions; keys are
 * percent-decoded with '+' as a space (AWS's own sample functions decode with
 * unquote_plus, so a literal '+' is written %2B) and must fit S3's 1024-byte limit.
 * A field may be double-quoted ("" stands for a quote), which AWS's pages do not
 * forbid and spreadsheet exports produce.
 */
#include "batch/batch_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/codec.h"
#include "util/names.h"

/* ---- one line ---- */

/* Reads the next field at *pos into out (cap bytes, unquoted); false on a bad quote or
 * an overlong field. */
static bool next_field(struct qr_slice line, size_t *pos, char *out, size_t cap, size_t *out_len)
{
    size_t i = *pos, n = 0;
    if (i < line.len && line.p[i] == '"') {
        i++;
        for (;;) {
            if (i == line.len)
                return false; /* unterminated quote */
            if (line.p[i] == '"') {
                if (i + 1 < line.len && line.p[i + 1] == '"') {
                    i++;
                } else {
                    i++;
                    break;
                }
            }
            if (n + 1 >= cap)
                return false;
            out[n++] = (char)line.p[i++];
        }
        if (i < line.len && line.p[i] != ',')
            return false; /* text after the closing quote */
    } else {
        while (i < line.len && line.p[i] != ',') {
            if (line.p[i] == '"' || n + 1 >= cap)
                return false;
            out[n++] = (char)line.p[i++];
        }
    }
    out[n] = '\0';
    *out_len = n;
    *pos = i;
    return true;
}

static enum qr_err bad(char msg[128], const char *m)
{
    snprintf(msg, 128, "%s", m);
    return QR_E_BAD_INPUT;
}

/* Percent-decodes the raw key ('+' is a space) into task->key. */
static enum qr_err decode_key(struct batch_task *t, char msg[128])
{
    size_t n = 0;
    for (size_t i = 0; i < t->key_raw_len; i++) {
        uint8_t c = (uint8_t)t->key_raw[i];
        if (c == '%') {
            int hi = i + 2 < t->key_raw_len ? qr_hex_val((uint8_t)t->key_raw[i + 1]) : -1;
            int lo = hi >= 0 ? qr_hex_val((uint8_t)t->key_raw[i + 2]) : -1;
            if (lo < 0)
                return bad(msg, "the key has a malformed percent-encoding");
            c = (uint8_t)(hi << 4 | lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (n == BATCH_KEY_MAX)
            return bad(msg, "the key is longer than 1024 bytes");
        t->key[n++] = (char)c;
    }
    t->key[n] = '\0';
    t->key_len = n;
    if (n == 0)
        return bad(msg, "the key is empty");
    return QR_OK;
}

enum qr_err batch_csv_line(struct qr_slice line, const enum batch_field *fields, size_t n_fields,
                           struct batch_task *out, char msg[128])
{
    char scratch[BATCH_RAW_KEY_MAX + 1];
    bool dir;
    size_t pos = 0, len;
    bool have_bucket = false, have_key = false;
    memset(out, 0, offsetof(struct batch_task, key));
    out->version[0] = '\0';
    for (size_t f = 0; f < n_fields; f++) {
        if (f > 0) {
            if (pos >= line.len || line.p[pos] != ',')
                return bad(msg, "the line has fewer fields than the manifest spec names");
            pos++;
        }
        if (!next_field(line, &pos, scratch, sizeof(scratch), &len))
            return bad(msg, "a field is malformed (quote) or too long");
        switch (fields[f]) {
        case BATCH_F_IGNORE:
            break;
        case BATCH_F_BUCKET:
            if (len == 0 || len > 63 || !qr_bucket_name_valid(qr_slice(scratch, len), &dir))
                return bad(msg, "the bucket name is not valid");
            memcpy(out->bucket, scratch, len + 1);
            have_bucket = true;
            break;
        case BATCH_F_KEY:
            memcpy(out->key_raw, scratch, len + 1);
            out->key_raw_len = len;
            have_key = true;
            break;
        case BATCH_F_VERSION:
            if (len > BATCH_KEY_MAX)
                return bad(msg, "the version id is too long");
            memcpy(out->version, scratch, len + 1);
            break;
        }
    }
    if (pos != line.len)
        return bad(msg, "the line has more fields than the manifest spec names");
    if (!have_bucket || !have_key)
        return bad(msg, "the manifest spec names no Bucket or no Key field");
    return decode_key(out, msg);
}

/* ---- the reader ---- */

enum qr_err batch_mreader_open(struct store *st, struct store_reader *r, const char *job_id,
                               uint64_t start, struct batch_mreader *out)
{
    memset(out, 0, sizeof(*out));
    h2o_mem_init_pool(&out->pool);
    enum qr_err err = store_job_manifest(r, job_id, &out->pool, &out->m);
    if (err != QR_OK) {
        h2o_mem_clear_pool(&out->pool);
        return err;
    }
    out->st = st;
    out->fd = -1;
    out->next_off = start;
    out->fill_off = start;
    out->buf = qr_xmalloc(BATCH_MREAD_BUF);
    return QR_OK;
}

void batch_mreader_close(struct batch_mreader *mr)
{
    if (mr->fd >= 0)
        close(mr->fd);
    free(mr->buf);
    h2o_mem_clear_pool(&mr->pool);
    mr->buf = NULL;
    mr->fd = -1;
}

/* Reads up to n bytes at manifest offset off; *got 0 at the end. */
static enum qr_err read_at(struct batch_mreader *mr, uint64_t off, uint8_t *dst, size_t n,
                           size_t *got)
{
    *got = 0;
    if (off >= mr->m.size)
        return QR_OK;
    if (mr->m.size - off < n)
        n = (size_t)(mr->m.size - off);
    if (mr->m.inline_data.p) {
        memcpy(dst, mr->m.inline_data.p + off, n);
        *got = n;
        return QR_OK;
    }
    uint64_t base = 0;
    for (size_t i = 0; i < mr->m.n_ext; i++) {
        const struct store_extent *x = &mr->m.ext[i];
        if (off >= base + x->len) {
            base += x->len;
            continue;
        }
        if (mr->fd < 0 || mr->fd_ext != i) {
            if (mr->fd >= 0)
                close(mr->fd);
            mr->fd = -1;
            enum qr_err err = store_blob_open(mr->st, x->blob, &mr->fd);
            if (err != QR_OK)
                return err;
            mr->fd_ext = i;
        }
        uint64_t in = off - base;
        size_t want = x->len - in < n ? (size_t)(x->len - in) : n;
        ssize_t r = pread(mr->fd, dst, want, (off_t)(x->off + in));
        if (r <= 0)
            return QR_E_IO;
        *got = (size_t)r;
        return QR_OK;
    }
    return QR_OK;
}

/* Moves unread bytes to the front and reads more; *eof when nothing more came. */
static enum qr_err fill(struct batch_mreader *mr, bool *eof)
{
    if (mr->off > 0) {
        memmove(mr->buf, mr->buf + mr->off, mr->len - mr->off);
        mr->len -= mr->off;
        mr->off = 0;
    }
    size_t got;
    enum qr_err err = read_at(mr, mr->fill_off, mr->buf + mr->len, BATCH_MREAD_BUF - mr->len, &got);
    if (err != QR_OK)
        return err;
    mr->len += got;
    mr->fill_off += got;
    *eof = got == 0;
    return QR_OK;
}

enum qr_err batch_mreader_next(struct batch_mreader *mr, struct qr_slice *out, bool *out_eof)
{
    bool eof = false;
    for (;;) {
        size_t i = mr->off;
        while (i < mr->len && mr->buf[i] != '\n')
            i++;
        bool have_nl = i < mr->len;
        if (!have_nl && !eof && i - mr->off <= BATCH_LINE_MAX) {
            enum qr_err err = fill(mr, &eof);
            if (err != QR_OK)
                return err;
            continue;
        }
        size_t start = mr->off, end = i;
        if (end - start > BATCH_LINE_MAX)
            return QR_E_TOO_LARGE;
        if (!have_nl && start == end) {
            *out_eof = true;
            return QR_OK;
        }
        mr->off = have_nl ? i + 1 : i;
        mr->line_no++;
        mr->next_off += mr->off - start;
        if (end > start && mr->buf[end - 1] == '\r')
            end--;
        if (end == start)
            continue; /* an empty line (a trailing one, or CRLF doubled) carries no task */
        *out = qr_slice(mr->buf + start, end - start);
        *out_eof = false;
        return QR_OK;
    }
}
