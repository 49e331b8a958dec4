/*
 * authfail.h - authentication and authorization failures in each service's own wire
 * format: S3 REST-XML <Error>, Lambda REST-JSON (x-amzn-ErrorType), CloudWatch Logs
 * JSON 1.1 (__type), IAM and STS query-protocol <ErrorResponse>. A client parses only
 * its own service's errors: an S3 <Error> sent to the Lambda SDK surfaces as "Unknown".
 */
#ifndef QR_API_AUTHFAIL_H
#define QR_API_AUTHFAIL_H

#include "api/api.h"
#include "util/err.h"

enum api_family {
    API_FAMILY_S3,     /* s3, s3express, and S3 Control */
    API_FAMILY_LAMBDA, /* REST-JSON */
    API_FAMILY_LOGS,   /* JSON 1.1 */
    API_FAMILY_IAM,    /* query protocol, IAM namespace */
    API_FAMILY_STS,    /* query protocol, STS namespace */
};

/* The family of ar: from the signed credential scope when it was parsed, else guessed
 * from the request's shape (X-Amz-Target, the Lambda date prefix, an Action form). */
enum api_family api_family_of(const struct api_req *ar);

/* Sends the failure err (QR_E_AUTH_*, QR_E_NO_SUCH_ACCESS_KEY, QR_E_SIGNATURE,
 * QR_E_CLOCK_SKEW, QR_E_EXPIRED, QR_E_TOKEN, QR_E_DENIED) in ar's family's format.
 * msg replaces the default message when non-NULL; unsigned_header, when non-NULL,
 * names the x-amz-* header that was present but not signed (S3 lists it in
 * <HeadersNotSigned>). Loop thread. */
void api_send_auth_failure(struct api_req *ar, enum qr_err err, const char *msg,
                           const char *unsigned_header);

#endif
