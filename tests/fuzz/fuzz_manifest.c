/*
 * fuzz_manifest.c - libFuzzer harness for batch_csv_line (batch/batch.h), the parser of
 * S3BatchOperations_CSV_20180820 manifest lines.
 *
 * Byte 0 picks the Fields spec (Bucket,Key / Bucket,Key,VersionId / Ignore,Bucket,Key /
 * Key,Bucket); the rest is split at newlines and each line parsed, as the engine does.
 * Besides memory safety it checks the contract: only QR_OK or QR_E_BAD_INPUT (with a
 * message); on success the bucket and key are non-empty, the decoded key fits 1024 bytes
 * and is never longer than its raw form, and every output is NUL-terminated in bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch/batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum batch_field specs[4][3] = {
        {BATCH_F_BUCKET, BATCH_F_KEY},
        {BATCH_F_BUCKET, BATCH_F_KEY, BATCH_F_VERSION},
        {BATCH_F_IGNORE, BATCH_F_BUCKET, BATCH_F_KEY},
        {BATCH_F_KEY, BATCH_F_BUCKET},
    };
    static const size_t n_fields[4] = {2, 3, 3, 2};
    if (size < 1)
        return 0;
    unsigned spec = data[0] % 4;
    struct batch_task *t = malloc(sizeof(*t));
    size_t i = 1;
    while (i <= size) {
        size_t end = i;
        while (end < size && data[end] != '\n')
            end++;
        char msg[128] = "";
        enum qr_err e =
            batch_csv_line(qr_slice(data + i, end - i), specs[spec], n_fields[spec], t, msg);
        if (e != QR_OK && e != QR_E_BAD_INPUT)
            abort();
        if (e == QR_E_BAD_INPUT && (msg[0] == '\0' || memchr(msg, 0, sizeof(msg)) == NULL))
            abort();
        if (e == QR_OK) {
            if (t->bucket[0] == '\0' || t->key_len == 0 || t->key_len > BATCH_KEY_MAX ||
                t->key_len > t->key_raw_len || t->key[t->key_len] != '\0' ||
                t->key_raw[t->key_raw_len] != '\0' ||
                memchr(t->version, 0, sizeof(t->version)) == NULL)
                abort();
        }
        i = end + 1;
    }
    free(t);
    return 0;
}
