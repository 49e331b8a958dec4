/*
 * sig_fields.h - the request the signature harnesses (fuzz_sigv2.c, fuzz_sigv4.c) build
 * from their input: split on NUL bytes into fields, the first n_defaults of them (method,
 * path, query, then the values of three named headers, then any harness-specific ones)
 * taking a valid default when the input does not reach them, and the fields after those as
 * name/value pairs of extra headers. A named header whose field is exactly "\x01" is left
 * out. Every request also carries host and an x-amz-meta-a with inner whitespace.
 */
#ifndef QR_FUZZ_SIG_FIELDS_H
#define QR_FUZZ_SIG_FIELDS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sigv4.h"

#define SIG_MAX_FIELDS 40

struct sig_req {
    struct qr_slice f[SIG_MAX_FIELDS];
    size_t nf;
    struct sigv4_header h[SIG_MAX_FIELDS];
    size_t nh;
};

static void sig_req_build(struct sig_req *r, const uint8_t *data, size_t size,
                          const char *const *defaults, size_t n_defaults,
                          const char *const names[3])
{
    size_t start = 0;
    r->nf = 0;
    for (size_t i = 0; i <= size && r->nf < SIG_MAX_FIELDS; i++) {
        if (i == size || data[i] == 0) {
            r->f[r->nf++] = qr_slice(data + start, i - start);
            start = i + 1;
        }
    }
    for (size_t i = r->nf; i < n_defaults; i++)
        r->f[i] = qr_slice_cstr(defaults[i]);
    if (r->nf < n_defaults)
        r->nf = n_defaults;
    r->nh = 0;
    r->h[r->nh++] = (struct sigv4_header){QR_SLICE_LIT("host"), QR_SLICE_LIT("127.0.0.1:9000")};
    r->h[r->nh++] =
        (struct sigv4_header){QR_SLICE_LIT("x-amz-meta-a"), QR_SLICE_LIT("  a \t b  ")};
    for (size_t i = 0; i < 3; i++)
        if (!(r->f[3 + i].len == 1 && r->f[3 + i].p[0] == 1))
            r->h[r->nh++] = (struct sigv4_header){qr_slice_cstr(names[i]), r->f[3 + i]};
    for (size_t i = n_defaults; i + 1 < r->nf; i += 2)
        r->h[r->nh++] = (struct sigv4_header){r->f[i], r->f[i + 1]};
}

/* A parsed field must be NUL-terminated within its buffer. */
static void check_cstr(const char *s, size_t cap)
{
    if (memchr(s, '\0', cap) == NULL)
        abort();
}

#endif
