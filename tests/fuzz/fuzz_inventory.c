/*
 * fuzz_inventory.c - libFuzzer harness for the S3InventoryReport_CSV_20161130 parsers
 * (batch/batch.h): batch_inv_parse (manifest.json) and the gzip line reader with
 * batch_inv_line on each line, as the engine's preparation runs them.
 *
 * Byte 0 picks the target: even -> the rest is a manifest.json; odd -> the rest is a data
 * file's bytes (as stored, gzipped), pulled in chunks of (byte 0 >> 1) + 1 bytes so chunk
 * boundaries move, parsed with the schema "Bucket, Key, VersionId, Size". Besides memory
 * safety it checks the contract: only the documented errors, messages set, parsed files
 * with 32 hex digits of MD5, lines within 16 KiB.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch/batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct src {
    const uint8_t *p;
    size_t n, chunk;
};

static enum qr_err pull(void *arg, uint8_t *dst, size_t cap, size_t *got)
{
    struct src *s = arg;
    size_t n = s->n < s->chunk ? s->n : s->chunk;
    if (n > cap)
        n = cap;
    memcpy(dst, s->p, n);
    s->p += n;
    s->n -= n;
    *got = n;
    return QR_OK;
}

static void fuzz_json(const uint8_t *data, size_t size)
{
    struct batch_inv inv;
    char msg[128] = "";
    enum qr_err e = batch_inv_parse(qr_slice(data, size), &inv, msg);
    if (e != QR_OK) {
        if (e != QR_E_BAD_INPUT || msg[0] == '\0')
            abort();
        return;
    }
    if (inv.n_cols == 0 || inv.dest_bucket[0] == '\0')
        abort();
    for (size_t i = 0; i < inv.n_files; i++)
        if (strlen(inv.files[i].md5) != 32 || inv.files[i].key[0] == '\0')
            abort();
    batch_inv_dispose(&inv);
}

static void fuzz_gz(const uint8_t *data, size_t size, size_t chunk)
{
    static const char json[] = "{\"destinationBucket\":\"arn:aws:s3:::dst\",\"fileFormat\":"
                               "\"CSV\",\"fileSchema\":\"Bucket, Key, VersionId, Size\","
                               "\"files\":[]}";
    struct batch_inv inv;
    char msg[128];
    if (batch_inv_parse(qr_slice(json, sizeof(json) - 1), &inv, msg) != QR_OK)
        abort();
    struct src s = {.p = data, .n = size, .chunk = chunk};
    struct batch_gzlines *g;
    batch_gzlines_new(pull, &s, &g);
    struct batch_task *t = malloc(sizeof(*t));
    char *out = malloc(16 * 1024 + 16);
    bool eof = false;
    while (!eof) {
        struct qr_slice line;
        enum qr_err e = batch_gzlines_next(g, &line, &eof);
        if (e == QR_E_BAD_INPUT || e == QR_E_TOO_LARGE)
            break;
        if (e != QR_OK)
            abort();
        if (eof)
            break;
        if (line.len == 0 || line.len > 16 * 1024)
            abort();
        if (batch_inv_line(&inv, line, t, msg) == QR_OK)
            (void)batch_task_csv(t, out, 16 * 1024 + 16);
    }
    char md5[33];
    batch_gzlines_md5(g, md5);
    batch_gzlines_free(g);
    free(out);
    free(t);
    batch_inv_dispose(&inv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] % 2 == 0)
        fuzz_json(data + 1, size - 1);
    else
        fuzz_gz(data + 1, size - 1, (size_t)(data[0] >> 1) + 1);
    return 0;
}
