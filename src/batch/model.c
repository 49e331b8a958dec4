/*
 * model.c - the model's names for a job definition: the operations, and NewObjectMetadata's
 * string members with the headers they become (CreateJob's parser, DescribeJob and the
 * copy tasks read the same table).
 */
#include "batch/batch.h"

#include <stddef.h>

static const char *const op_names[] = {
    [BATCH_OP_LAMBDA] = "LambdaInvoke",
    [BATCH_OP_COPY] = "S3PutObjectCopy",
    [BATCH_OP_PUT_TAGGING] = "S3PutObjectTagging",
    [BATCH_OP_DELETE_TAGGING] = "S3DeleteObjectTagging",
    [BATCH_OP_CHECKSUM] = "S3ComputeObjectChecksum",
    [BATCH_OP_LEGAL_HOLD] = "S3PutObjectLegalHold",
    [BATCH_OP_RETENTION] = "S3PutObjectRetention",
};

const struct batch_meta_member batch_meta_members[] = {
    {"ContentType", "content-type", offsetof(struct batch_def, meta_type)},
    {"ContentDisposition", "content-disposition", offsetof(struct batch_def, meta_disposition)},
    {"ContentLanguage", "content-language", offsetof(struct batch_def, meta_language)},
    {"CacheControl", "cache-control", offsetof(struct batch_def, meta_cache)},
    {"ContentEncoding", "content-encoding", offsetof(struct batch_def, meta_encoding)},
};
const size_t batch_n_meta_members = sizeof(batch_meta_members) / sizeof(*batch_meta_members);

const char *batch_op_name(enum batch_op o)
{
    return (unsigned)o < sizeof(op_names) / sizeof(*op_names) ? op_names[o] : NULL;
}
