/*
 * csv.c - one line of an S3BatchOperations_CSV_20180820 manifest (batch_csv_line).
 *
 * The line is hostile input, already bounded by the reader (BATCH_LINE_MAX). Fields are
 * parsed with a cursor, never with string functions, and copied only after their length
 * was checked against the field's buffer. Keys are percent-decoded with '+' as a space
 * (AWS's own sample functions decode with unquote_plus, so a literal '+' is written %2B)
 * and must fit S3's 1024-byte limit. A field may be double-quoted ("" stands for a
 * quote): AWS's pages do not forbid it and spreadsheet exports produce it.
 */
#include "batch/batch.h"

#include <stdio.h>
#include <string.h>

#include "util/codec.h"
#include "util/names.h"

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
    /* S3's rule for keys (UTF-8, no NUL): a key no object can have fails here, in
     * Preparing, rather than as a task; it also keeps the LambdaInvoke event valid JSON. */
    if (!qr_key_valid(qr_slice(t->key, n)))
        return bad(msg, "the key is not valid UTF-8 or contains a NUL byte");
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
