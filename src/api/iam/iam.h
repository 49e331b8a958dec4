/*
 * iam.h - the IAM API (query protocol: form-encoded POST, XML responses) and STS, over
 * the IAM rows of the store and the compiled snapshot of auth/authz.
 */
#ifndef QR_API_IAM_H
#define QR_API_IAM_H

struct api_req;

/* Handles one authenticated IAM request. Loop thread. */
void iam_handle(struct api_req *ar);
/* Handles one authenticated STS request. Loop thread. */
void sts_handle(struct api_req *ar);

#endif
