/* s3control.h - the S3 Control REST-XML API (Batch Operations jobs), used by route.c. */
#ifndef QR_API_S3CONTROL_H
#define QR_API_S3CONTROL_H

#include "api/api.h"

/* Handles an authenticated request under /v20180820/ (any Host: clients put the account
 * id in front of the endpoint's host, which is ignored; x-amz-account-id names the
 * account). Loop thread; the operation itself runs on a worker. */
void s3control_handle(struct api_req *ar);

#endif
