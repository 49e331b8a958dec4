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

/* The encryption a streamed PutObject or UploadPart body gets, chosen before the body
 * arrives as the handler will choose it (headers, the upload's, the bucket's default,
 * the server's). False: not a body that streams, or one whose choice the handler would
 * refuse or that cannot be known yet (no such bucket or upload): read it into memory
 * and let the handler answer. Loop thread (reads through ar->thread->reader). */
bool s3_sse_for_stream(struct api_req *ar, struct store_sse *out);
/* The checks a request with a body gets before the body is invited ("100 Continue") or
 * read, once it is authenticated: the bucket it addresses exists (unless it creates
 * one), and a PutObject or UploadPart payload is at most 5 GiB. False after answering
 * (NoSuchBucket, EntityTooLarge); the HTTP layer then drops the body. Loop thread
 * (reads through ar->thread->reader). */
bool s3_before_body(struct api_req *ar);
/* The bucket and decoded key a request addresses (pool strings); directory: a directory
 * bucket's name. False: not an S3 object address. */
bool s3_object_target(struct api_req *ar, struct qr_slice *bucket, struct qr_slice *key,
                      bool *directory);

/* Prints the table of every S3 operation of the model and its state in quarry, per
 * bucket type (markdown; docs/s3.md carries it). Main thread. */
void s3_routes_print(FILE *f);

#endif
