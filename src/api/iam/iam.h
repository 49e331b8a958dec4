/*
 * iam.h - the IAM API (query protocol: form-encoded POST, XML responses) and STS, over
 * the IAM rows of the store and the compiled snapshot of auth/authz.
 */
#ifndef QR_API_IAM_H
#define QR_API_IAM_H

#include <stdint.h>

#include "util/err.h"

struct api_req;
struct qr_server;
struct iam_keyuse;

/* Handles one authenticated IAM request. Loop thread. */
void iam_handle(struct api_req *ar);
/* Handles one authenticated STS request. Loop thread. */
void sts_handle(struct api_req *ar);

/* Saves access key use (authz_uses_due) every every_ms milliseconds (0: a minute) from a
 * thread of its own, and everything not saved yet when stopped. Start after the store and
 * the IAM snapshot exist; stop after the last request (loops and workers joined). Main
 * thread. Errors: QR_E_IO (no thread). */
enum qr_err iam_keyuse_start(struct qr_server *s, uint32_t every_ms, struct iam_keyuse **out)
    __attribute__((warn_unused_result));
void iam_keyuse_stop(struct iam_keyuse *k);

#endif
