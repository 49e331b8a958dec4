/*
 * fuzz_chunked.c - libFuzzer harness for sigv4_chunked_decode (auth/sigv4.h).
 *
 * Byte 0 picks the mode (bit 0: signed chunks with a fixed key and seed, bit 1: a
 * declared decoded length taken from byte 1, bit 2: a small output cap), byte 2 the
 * number of trailer slots (0..3); the rest is the aws-chunked body. Besides memory
 * safety it checks the contract: only documented errors; on success the output length
 * matches the declared length and the trailers are bounded, lower-case and
 * NUL-terminated; on failure nothing half-decoded stays in the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    uint8_t mode = data[0];
    int64_t decoded_len = (mode & 2) ? data[1] : -1;
    size_t max_tr = data[2] % 4;
    struct qr_slice body = qr_slice(data + 3, size - 3);

    struct sigv4_chunk_ctx ctx;
    memset(&ctx, 0x5a, sizeof(ctx.key));
    memcpy(ctx.scope, "20261125/us-east-1/s3/aws4_request", 35);
    memcpy(ctx.amz_date, "20261125T120000Z", 17);
    memcpy(ctx.seed_signature, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
           65);

    struct qr_buf out;
    struct sigv4_trailer tr[3];
    size_t n_tr = 99;
    qr_buf_init(&out, (mode & 4) ? 16 : 1 << 20);
    enum qr_err e =
        sigv4_chunked_decode(body, (mode & 1) ? &ctx : NULL, decoded_len, &out, tr, max_tr, &n_tr);
    switch (e) {
    case QR_OK:
        if (decoded_len >= 0 && out.len != (size_t)decoded_len)
            abort();
        if (n_tr > max_tr)
            abort();
        for (size_t i = 0; i < n_tr; i++) {
            if (!memchr(tr[i].name, '\0', sizeof(tr[i].name)) ||
                !memchr(tr[i].value, '\0', sizeof(tr[i].value)) || tr[i].name[0] == '\0')
                abort();
            for (const char *p = tr[i].name; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    abort();
        }
        break;
    case QR_E_BAD_INPUT:
    case QR_E_SIGNATURE:
    case QR_E_TOO_LARGE:
    case QR_E_INCOMPLETE_BODY:
    case QR_E_CHUNK_SIZE:
        if (out.len != 0)
            abort();
        break;
    default:
        abort();
    }
    qr_buf_dispose(&out);
    return 0;
}
