/* s3.h - the S3 REST-XML API: entry point and error responses, used by route.c. */
#ifndef QR_API_S3_H
#define QR_API_S3_H

#include <stdio.h>

#include "api/api.h"
#include "util/err.h"

/* Handles an authenticated S3 request (service s3 or s3express). Loop thread. */
void s3_handle(struct api_req *ar);

/* Sends an S3 XML error with an explicit status and code. Loop thread. */
void s3_send_error_code(struct api_req *ar, int status, const char *code, const char *msg);
/* Sends the S3 error for an authentication failure. Loop thread. */
void s3_send_auth_error(struct api_req *ar, enum qr_err err);

/* Prints the table of every S3 operation of the model and its state in quarry, per
 * bucket type (markdown; docs/s3.md carries it). Main thread. */
void s3_routes_print(FILE *f);

#endif
