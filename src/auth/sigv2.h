/*
 * sigv2.h - AWS Signature Version 2 for S3 (HMAC-SHA1): presigned query URLs
 * (AWSAccessKeyId, Signature, Expires) and the "Authorization: AWS id:sig" header.
 * boto3 still presigns with it by default when a client is built without
 * signature_version='s3v4', and old tools sign requests with it. No HTTP types; pure:
 * any thread.
 */
#ifndef QR_SIGV2_H
#define QR_SIGV2_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/sigv4.h"

struct sigv2_auth {
    bool presigned;        /* query form */
    char akid[129];        /* NUL-terminated */
    char signature[64];    /* base64 as sent, NUL-terminated */
    int64_t expires_s;     /* presigned: Expires (epoch seconds) */
    struct qr_slice token; /* x-amz-security-token (header or query), borrowed */
};

/* Parses SigV2 authentication; QR_E_AUTH_MISSING when the request carries none.
 * Errors also: QR_E_AUTH_MALFORMED, QR_E_EXPIRED (presigned past Expires). */
enum qr_err sigv2_parse(const struct sigv4_input *in, struct sigv2_auth *out)
    __attribute__((warn_unused_result));

/* Verifies the signature with secret. resource_prefix is "/bucket" for a virtual-hosted
 * request (the canonical resource always names the bucket), else empty.
 * Errors: QR_E_SIGNATURE. */
enum qr_err sigv2_verify(const struct sigv4_input *in, const struct sigv2_auth *auth,
                         struct qr_slice secret, struct qr_slice resource_prefix)
    __attribute__((warn_unused_result));

/* True when name is a query parameter SigV2 signs (a sub-resource or response-*
 * override); every other parameter of a SigV2 request is unsigned. */
bool sigv2_signed_param(struct qr_slice name);

#endif
