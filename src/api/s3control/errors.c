/*
 * errors.c - an S3 Control operation's error result, kept apart from routing so the
 * CreateJob parser's fuzz harness (tests/fuzz/fuzz_createjob.c) links the server's own.
 */
#include "api/s3control/s3control_int.h"

#include <stdarg.h>
#include <stdio.h>

void s3c_fail(struct s3c_op *op, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op->err_msg, sizeof(op->err_msg), fmt, ap);
    va_end(ap);
    op->status = status;
    op->err_code = code;
}

void s3c_fail_err(struct s3c_op *op, enum qr_err err)
{
    switch (err) {
    case QR_E_NO_SUCH_KEY:
        s3c_fail(op, 404, "NotFoundException", "The specified job was not found.");
        break;
    case QR_E_CONFLICT:
        s3c_fail(op, 409, "JobStatusException",
                 "The job's current status does not allow this change.");
        break;
    case QR_E_BUSY:
        s3c_fail(op, 429, "TooManyRequestsException", "Too many requests, try again.");
        break;
    default:
        s3c_fail(op, 500, "InternalServiceException", "%s", qr_strerror(err));
        break;
    }
}
