/*
 * s3control_int.h - shared by the files of src/api/s3control/ only: one operation in
 * flight, its error result, and the decoders/renderers of the job shapes.
 *
 * Files: s3control.c (routing, account check, the small operations), errors.c (an
 * operation's error result), create.c (CreateJob's XML -> struct batch_def with every
 * shape check of the model), render.c (JobDescriptor, JobListDescriptor, tags -> XML),
 * authorize.c (the IAM decision of each request).
 */
#ifndef QR_API_S3CONTROL_INT_H
#define QR_API_S3CONTROL_INT_H

#include <libxml/tree.h>

#include "api/api.h"
#include "api/s3control/s3control.h"
#include "batch/batch.h"
#include "server.h"
#include "util/buf.h"

#define S3C_NS      "http://awss3control.amazonaws.com/doc/2018-08-20/"
#define S3C_MAX_OUT (4u * 1024u * 1024u)

struct s3c_op {
    struct qr_job job;
    struct api_req *ar;
    struct qr_server *server;
    struct store_reader *reader; /* the worker's */
    h2o_mem_pool_t pool;         /* the worker's allocations; cleared with the request */
    struct qr_slice id;          /* job id from the path (decoded), or empty */
    const struct s3c_route *route;
    /* result */
    int status;
    const char *err_code; /* NULL: success */
    char err_msg[2600];   /* AccessDenied names the caller's ARN and the resource's */
    struct qr_buf body;   /* XML, max S3C_MAX_OUT */
};

/* Sets an error result (message formatted). */
void s3c_fail(struct s3c_op *op, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The error for a qr_err from batch/ (NotFound, JobStatus, Idempotency, ...). */
void s3c_fail_err(struct s3c_op *op, enum qr_err err);

/* The request's IAM decision: its s3: action on the job ARN or "*"; false with op failed
 * (403 AccessDenied with AWS's message). s3c_authorize: for actions without job condition
 * keys, from the loop thread once per request. The others decide on the worker, once per
 * request, with their keys: s3c_authorize_create with CreateJob's (the Priority and the
 * operation named in doc, each when well formed; doc may be NULL), s3c_authorize_existing
 * with the job's stored priority, operation and suspension (none when the job does not
 * exist, so a caller who may not act learns nothing of it) and request_priority (-1:
 * none). CreateJob's doc and PutJobTagging's tags_doc (NULL: none) also give the request's
 * tags (aws:RequestTag/KEY, aws:TagKeys). */
bool s3c_authorize(struct s3c_op *op);
bool s3c_authorize_create(struct s3c_op *op, xmlDocPtr doc);
bool s3c_authorize_existing(struct s3c_op *op, int64_t request_priority, xmlDocPtr tags_doc);

/* The caller passes role to the job (iam:PassRole), and the role exists and trusts
 * batchoperations.s3.amazonaws.com; false with op failed (403 or 400). */
bool s3c_role_usable(struct s3c_op *op, const char *role);
/* CreateJob's body into def and tags, its shape only (no store, no IAM: a parser of
 * untrusted bytes, fuzzed by tests/fuzz/fuzz_createjob.c); false with op failed. doc
 * borrowed. */
bool s3c_parse_create(struct s3c_op *op, xmlDocPtr doc, struct batch_def *def,
                      struct batch_tags *tags);
/* <Tags><member><Key/><Value/></member>...</Tags> children of parent into t (max 50);
 * false with op failed (TooManyTagsException, BadRequestException). */
bool s3c_parse_tags(struct s3c_op *op, xmlNodePtr parent, struct batch_tags *t);

/* The wire name of a state, from the one table. */
const char *s3c_state_name(enum batch_state s);
/* The state of a wire name; false when none. */
bool s3c_state_parse(struct qr_slice name, enum batch_state *out);

/* The wire name of an operation (its JobOperation member), from render.c's table; NULL
 * for a value outside it. */
const char *s3c_op_name(enum batch_op o);

/* Renders one job (DescribeJob's <Job>) / one list entry / a tag list into b. */
void s3c_render_job(struct s3c_op *op, struct qr_buf *b, const struct batch_job *j);
void s3c_render_list_entry(struct qr_buf *b, const struct batch_job *j);
void s3c_render_tags(struct qr_buf *b, const char *tag, const struct batch_kv *kv, size_t n);

#endif
