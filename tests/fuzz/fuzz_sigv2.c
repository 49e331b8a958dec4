/*
 * fuzz_sigv2.c - libFuzzer harness for sigv2_parse and sigv2_verify (auth/sigv2.h).
 *
 * The input is split on NUL bytes into fields: method, path, query, Authorization, Date,
 * Content-Type, resource prefix, then name/value pairs of extra headers. A field the input
 * does not reach takes a valid default (a header-signed PUT of a bucket) and a field that
 * is exactly "\x01" is left out, so the fuzzer starts from a well-formed request and
 * spends its time in the parser and the string-to-sign (sub-resources, x-amz-* headers,
 * the bucket-level "/bucket/" retry). Besides memory safety it checks the contract: only
 * documented errors, and a parsed request has NUL-terminated fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sigv2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 40

static const char *const defaults[7] = {
    "PUT",
    "/mybucket",
    "tagging&versionId=null&response-content-type=a%2Fb&x=y",
    "AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
    "Tue, 27 Mar 2007 19:36:42 +0000",
    "text/plain",
    "",
};

static void check_cstr(const char *s, size_t cap)
{
    if (memchr(s, '\0', cap) == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qr_slice f[MAX_FIELDS];
    size_t nf = 0, start = 0;
    for (size_t i = 0; i <= size && nf < MAX_FIELDS; i++) {
        if (i == size || data[i] == 0) {
            f[nf++] = qr_slice(data + start, i - start);
            start = i + 1;
        }
    }
    for (size_t i = nf; i < 7; i++)
        f[i] = qr_slice_cstr(defaults[i]);
    if (nf < 7)
        nf = 7;

    struct sigv4_header h[MAX_FIELDS];
    size_t nh = 0;
    static const char *const names[3] = {"authorization", "date", "content-type"};
    h[nh++] = (struct sigv4_header){QR_SLICE_LIT("host"), QR_SLICE_LIT("127.0.0.1:9000")};
    h[nh++] = (struct sigv4_header){QR_SLICE_LIT("x-amz-meta-a"), QR_SLICE_LIT("  a \t b  ")};
    for (size_t i = 0; i < 3; i++)
        if (!(f[3 + i].len == 1 && f[3 + i].p[0] == 1))
            h[nh++] = (struct sigv4_header){qr_slice_cstr(names[i]), f[3 + i]};
    for (size_t i = 7; i + 1 < nf; i += 2)
        h[nh++] = (struct sigv4_header){f[i], f[i + 1]};

    struct sigv4_input in = {f[0], f[1], f[2], h, nh, 1795608060000LL};
    struct sigv2_auth a;
    enum qr_err e = sigv2_parse(&in, &a);
    switch (e) {
    case QR_OK:
        break;
    case QR_E_AUTH_MISSING:
    case QR_E_AUTH_MALFORMED:
    case QR_E_EXPIRED:
        return 0;
    default:
        abort();
    }
    check_cstr(a.akid, sizeof(a.akid));
    check_cstr(a.signature, sizeof(a.signature));
    e = sigv2_verify(&in, &a, QR_SLICE_LIT("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), f[6]);
    if (e != QR_OK && e != QR_E_SIGNATURE && e != QR_E_AUTH_MALFORMED)
        abort();
    return 0;
}
