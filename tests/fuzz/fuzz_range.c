/*
 * fuzz_range.c - libFuzzer harness for qr_range_parse (util/codec.h), the parser of the
 * Range and x-amz-copy-source-range headers. The first 8 input bytes (little-endian)
 * are the object size, so sizes near UINT64_MAX get exercised; the rest is the header
 * value. Besides memory safety it checks the contract: a QR_OK range is non-empty and
 * lies inside the object, and errors are one of the two documented codes.
 * Build: clang -fsanitize=fuzzer,address,undefined -Isrc tests/fuzz/fuzz_range.c
 *        src/util/codec.c src/util/buf.c src/util/err.c -lcrypto
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t obj_size = 0;
    if (size >= 8) {
        for (int i = 7; i >= 0; i--)
            obj_size = obj_size << 8 | data[i];
        data += 8;
        size -= 8;
    }
    uint64_t off = 0, len = 0;
    enum qr_err e = qr_range_parse(qr_slice(data, size), obj_size, &off, &len);
    switch (e) {
    case QR_OK:
        if (len == 0 || off >= obj_size || len > obj_size - off)
            abort();
        break;
    case QR_E_INVALID_RANGE:
    case QR_E_BAD_INPUT:
        if (off != 0 || len != 0) /* out-params untouched on error */
            abort();
        break;
    default:
        abort();
    }
    return 0;
}
