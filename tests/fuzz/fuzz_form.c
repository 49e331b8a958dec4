/*
 * fuzz_form.c - libFuzzer harness for qr_form_parse (util/form.h), the parser of the
 * query protocol's form-encoded bodies (IAM, STS) and of the query string it falls back
 * to. Besides memory safety it checks the contract: on QR_OK every pair has a non-empty
 * name, names and values lie inside the scratch buffer and together never exceed the
 * input, and no decoded byte is NUL; errors are one of the two documented codes.
 * Build: make -C tests/fuzz build/fuzz_form
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qr_form_pair pairs[16];
    char *scratch = malloc(size + 1);
    size_t n = 0;
    enum qr_err e = qr_form_parse(qr_slice(data, size), scratch, pairs, 16, &n);
    if (e == QR_OK) {
        size_t total = 0;
        if (n > 16)
            abort();
        for (size_t i = 0; i < n; i++) {
            const char *np = (const char *)pairs[i].name.p, *vp = (const char *)pairs[i].value.p;
            if (pairs[i].name.len == 0 || np < scratch || np + pairs[i].name.len > scratch + size)
                abort();
            if (pairs[i].value.len && (vp < scratch || vp + pairs[i].value.len > scratch + size))
                abort();
            if (memchr(np, 0, pairs[i].name.len) ||
                (pairs[i].value.len && memchr(vp, 0, pairs[i].value.len)))
                abort();
            total += pairs[i].name.len + pairs[i].value.len;
        }
        if (total > size)
            abort();
        struct qr_slice v;
        if (qr_form_get(pairs, n, "Action", &v) && v.len > size)
            abort();
    } else if (e != QR_E_BAD_INPUT && e != QR_E_TOO_LARGE) {
        abort();
    }
    free(scratch);
    return 0;
}
