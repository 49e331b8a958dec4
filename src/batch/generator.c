/*
 * generator.c - S3JobManifestGenerator: the job's task list from a listing of the
 * source bucket, page by page (bounded memory however many objects), through every
 * filter of the model's JobManifestGeneratorFilter.
 */
#include "batch/batch_int.h"

bool batch_generate(struct batch_engine *e, const struct store_job *j, const struct batch_def *d,
                    struct store_job_spool *sp)
{
    batch_fail_job(e, j->id, "InternalError", "ManifestGenerator is not implemented.");
    return false;
}
