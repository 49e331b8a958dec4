/*
 * fuzz_sigv4.c - libFuzzer harness for sigv4_parse and sigv4_verify (auth/sigv4.h).
 *
 * The input is split on NUL bytes into fields: method, path, query, Authorization,
 * X-Amz-Date, x-amz-content-sha256, then name/value pairs of extra headers. A field the
 * input does not reach takes a valid default and a field that is exactly "\x01" is left
 * out, so the fuzzer starts from a well-formed signed request and spends its time deep in
 * the parser and the canonicaliser rather than on the first byte. Besides memory safety
 * it checks the contract: only documented errors, and a parsed request has bounded,
 * NUL-terminated fields and a lower-case hex signature. The request is built by
 * sig_fields.h, shared with fuzz_sigv2.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sigv4.h"
#include "sig_fields.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const defaults[6] = {
    "GET",
    "/mybucket/a%20b//k",
    "list-type=2&prefix=a%2Fb&session",
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/s3/aws4_request, "
    "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-a, "
    "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "20261125T120000Z",
    "UNSIGNED-PAYLOAD",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[3] = {"authorization", "x-amz-date", "x-amz-content-sha256"};
    struct sig_req r;
    sig_req_build(&r, data, size, defaults, 6, names);
    struct qr_slice *f = r.f;

    struct sigv4_input in = {f[0], f[1], f[2], r.h, r.nh, 1795608060000LL};
    struct sigv4_auth a;
    enum qr_err e = sigv4_parse(&in, &a);
    switch (e) {
    case QR_OK:
        break;
    case QR_E_AUTH_MISSING:
    case QR_E_AUTH_MALFORMED:
    case QR_E_CLOCK_SKEW:
    case QR_E_EXPIRED:
        return 0;
    default:
        abort();
    }
    check_cstr(a.akid, sizeof(a.akid));
    check_cstr(a.date, sizeof(a.date));
    check_cstr(a.region, sizeof(a.region));
    check_cstr(a.service, sizeof(a.service));
    check_cstr(a.amz_date, sizeof(a.amz_date));
    check_cstr(a.payload_hash, sizeof(a.payload_hash));
    if (strlen(a.signature) != 64 || strspn(a.signature, "0123456789abcdef") != 64 ||
        a.akid[0] == '\0' || strlen(a.amz_date) != 16)
        abort();

    struct sigv4_chunk_ctx ctx;
    char body_hex[65];
    sigv4_sha256_hex(data, size, body_hex);
    e = sigv4_verify(&in, &a, QR_SLICE_LIT("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                     a.payload_hash[0] ? NULL : body_hex, &ctx);
    if (e != QR_OK && e != QR_E_SIGNATURE && e != QR_E_AUTH_MALFORMED)
        abort();
    if (e == QR_OK)
        sigv4_chunk_ctx_wipe(&ctx);
    return 0;
}
