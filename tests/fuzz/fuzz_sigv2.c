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
#include "sig_fields.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const defaults[7] = {
    "PUT",
    "/mybucket",
    "tagging&versionId=null&response-content-type=a%2Fb&x=y",
    "AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
    "Tue, 27 Mar 2007 19:36:42 +0000",
    "text/plain",
    "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[3] = {"authorization", "date", "content-type"};
    struct sig_req r;
    sig_req_build(&r, data, size, defaults, 7, names);
    struct qr_slice *f = r.f;

    struct sigv4_input in = {f[0], f[1], f[2], r.h, r.nh, 1795608060000LL};
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
