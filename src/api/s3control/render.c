/*
 * render.c - jobs as S3 Control shows them: JobDescriptor (DescribeJob), the list entry
 * of ListJobs and tag sets. The definition is echoed as the client gave it (Manifest,
 * Operation, Report), so a client comparing what it sent with DescribeJob sees the same.
 */
#include "api/s3control/s3control_int.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "api/xml.h"
#include "util/checksum.h"

const char *s3c_op_name(enum batch_op o)
{
    return batch_op_name(o);
}

static const char *const field_names[] = {
    [BATCH_F_IGNORE] = "Ignore",
    [BATCH_F_BUCKET] = "Bucket",
    [BATCH_F_KEY] = "Key",
    [BATCH_F_VERSION] = "VersionId",
};

/* <tag><item><k/><v/></item>...</tag>: a tag list (member/Key/Value) or a map of the model
 * (entry/key/value). */
static void render_pairs(struct qr_buf *b, const char *tag, const char *item, const char *k,
                         const char *v, const struct batch_kv *kv, size_t n)
{
    xml_open(b, tag);
    for (size_t i = 0; i < n; i++) {
        xml_open(b, item);
        xml_elem_s(b, k, kv[i].key);
        xml_elem_s(b, v, kv[i].value);
        xml_close(b, item);
    }
    xml_close(b, tag);
}

void s3c_render_tags(struct qr_buf *b, const char *tag, const struct batch_kv *kv, size_t n)
{
    render_pairs(b, tag, "member", "Key", "Value", kv, n);
}

/* A map of the model (UserArguments, UserMetadata); nothing when empty. */
static void render_map(struct qr_buf *b, const char *tag, const struct batch_kv *kv, size_t n)
{
    if (n)
        render_pairs(b, tag, "entry", "key", "value", kv, n);
}

static const char *lock_mode_name(enum store_lock_mode m)
{
    return m == STORE_LOCK_COMPLIANCE ? "COMPLIANCE" : "GOVERNANCE";
}

/* MetadataDirective REPLACE and the NewObjectMetadata members given. */
static void render_new_metadata(struct qr_buf *b, const struct batch_def *d)
{
    xml_elem_s(b, "MetadataDirective", "REPLACE");
    xml_open(b, "NewObjectMetadata");
    for (size_t i = 0; i < batch_n_meta_members; i++)
        if (*((const char *)d + batch_meta_members[i].off))
            xml_elem_s(b, batch_meta_members[i].xml, (const char *)d + batch_meta_members[i].off);
    if (d->meta_expires_ms)
        xml_elem_time(b, "HttpExpiresDate", d->meta_expires_ms);
    render_map(b, "UserMetadata", d->meta_user, d->n_meta_user);
    xml_close(b, "NewObjectMetadata");
}

static void render_operation(struct qr_buf *b, const struct batch_def *d)
{
    xml_open(b, "Operation");
    xml_open(b, batch_op_name(d->op));
    switch (d->op) {
    case BATCH_OP_LAMBDA:
        xml_elem_s(b, "FunctionArn", d->function_arn);
        xml_elem_s(b, "InvocationSchemaVersion", d->schema);
        render_map(b, "UserArguments", d->user_args, d->n_user_args);
        break;
    case BATCH_OP_COPY:
        xml_elem_s(b, "TargetResource", d->target_resource);
        if (d->target_prefix[0])
            xml_elem_s(b, "TargetKeyPrefix", d->target_prefix);
        if (d->copy_replace_meta)
            render_new_metadata(b, d);
        if (d->copy_new_tags)
            s3c_render_tags(b, "NewObjectTagging", d->obj_tags, d->n_obj_tags);
        if (d->copy_acl[0])
            xml_elem_s(b, "CannedAccessControlList", d->copy_acl);
        if (d->copy_requester_pays)
            xml_elem_bool(b, "RequesterPays", true);
        if (d->copy_modified_since_ms)
            xml_elem_time(b, "ModifiedSinceConstraint", d->copy_modified_since_ms);
        if (d->copy_unmodified_since_ms)
            xml_elem_time(b, "UnModifiedSinceConstraint", d->copy_unmodified_since_ms);
        if (d->copy_lock_hold_given)
            xml_elem_s(b, "ObjectLockLegalHoldStatus", d->copy_lock_hold ? "ON" : "OFF");
        if (d->copy_lock_mode != STORE_LOCK_NONE) {
            xml_elem_s(b, "ObjectLockMode", lock_mode_name(d->copy_lock_mode));
            xml_elem_time(b, "ObjectLockRetainUntilDate", d->copy_lock_until_ms);
        }
        break;
    case BATCH_OP_PUT_TAGGING:
        s3c_render_tags(b, "TagSet", d->obj_tags, d->n_obj_tags);
        break;
    case BATCH_OP_DELETE_TAGGING:
        break;
    case BATCH_OP_CHECKSUM:
        xml_elem_s(b, "ChecksumAlgorithm", qr_ck_name((enum qr_ck)d->checksum_alg));
        xml_elem_s(b, "ChecksumType", d->checksum_composite ? "COMPOSITE" : "FULL_OBJECT");
        break;
    case BATCH_OP_LEGAL_HOLD:
        xml_open(b, "LegalHold");
        xml_elem_s(b, "Status", d->hold_on ? "ON" : "OFF");
        xml_close(b, "LegalHold");
        break;
    case BATCH_OP_RETENTION:
        if (d->ret_bypass)
            xml_elem_bool(b, "BypassGovernanceRetention", true);
        xml_open(b, "Retention");
        if (d->ret_mode != STORE_LOCK_NONE) {
            xml_elem_time(b, "RetainUntilDate", d->ret_until_ms);
            xml_elem_s(b, "Mode", lock_mode_name(d->ret_mode));
        }
        xml_close(b, "Retention");
        break;
    }
    xml_close(b, batch_op_name(d->op));
    xml_close(b, "Operation");
}

static void render_manifest(struct qr_buf *b, const struct batch_def *d)
{
    xml_open(b, "Manifest");
    xml_open(b, "Spec");
    if (d->mf_format == BATCH_MF_INVENTORY) {
        xml_elem_s(b, "Format", "S3InventoryReport_CSV_20161130");
    } else {
        xml_elem_s(b, "Format", "S3BatchOperations_CSV_20180820");
        xml_open(b, "Fields");
        for (size_t i = 0; i < d->n_fields; i++)
            xml_elem_s(b, "member", field_names[d->fields[i]]);
        xml_close(b, "Fields");
    }
    xml_close(b, "Spec");
    xml_open(b, "Location");
    xml_elem_s(b, "ObjectArn", d->mf_arn);
    if (d->mf_version[0])
        xml_elem_s(b, "ObjectVersionId", d->mf_version);
    xml_elem_s(b, "ETag", d->mf_etag);
    xml_close(b, "Location");
    xml_close(b, "Manifest");
}

static void render_time_if(struct qr_buf *b, const char *tag, int64_t ms)
{
    if (ms)
        xml_elem_time(b, tag, ms);
}

static void render_size_if(struct qr_buf *b, const char *tag, int64_t v)
{
    if (v >= 0)
        xml_elem_u64(b, tag, (uint64_t)v);
}

/* A bit set of names as a <member> list under tag (nothing when no bit is set). */
static void render_bits(struct qr_buf *b, const char *tag, unsigned bits,
                        const char *const *names, size_t n)
{
    if (bits == 0)
        return;
    xml_open(b, tag);
    for (size_t i = 0; i < n; i++)
        if (bits >> i & 1)
            xml_elem_s(b, "member", names[i]);
    xml_close(b, tag);
}

static void render_one(struct qr_buf *b, const char *tag, const char *v)
{
    if (!v[0])
        return;
    xml_open(b, tag);
    xml_elem_s(b, "member", v);
    xml_close(b, tag);
}

/* The ManifestGenerator as CreateJob gave it (the create.c enum orders). */
static void render_generator(struct qr_buf *b, const struct batch_def *d)
{
    static const char *const repl[] = {"COMPLETED", "FAILED", "REPLICA", "NONE"};
    static const char *const classes[] = {"STANDARD",    "STANDARD_IA",         "ONEZONE_IA",
                                          "GLACIER",     "INTELLIGENT_TIERING", "DEEP_ARCHIVE",
                                          "GLACIER_IR"};
    xml_open(b, "ManifestGenerator");
    xml_open(b, "S3JobManifestGenerator");
    xml_elem_s(b, "SourceBucket", d->gen_source);
    if (d->gen_out_bucket[0]) {
        xml_open(b, "ManifestOutputLocation");
        xml_elem_s(b, "Bucket", d->gen_out_bucket);
        if (d->gen_out_prefix[0])
            xml_elem_s(b, "ManifestPrefix", d->gen_out_prefix);
        xml_elem_s(b, "ManifestFormat", "S3InventoryReport_CSV_20211130");
        xml_close(b, "ManifestOutputLocation");
    }
    xml_open(b, "Filter");
    render_time_if(b, "CreatedAfter", d->gen_after_ms);
    render_time_if(b, "CreatedBefore", d->gen_before_ms);
    render_bits(b, "ObjectReplicationStatuses", d->gen_repl, repl, 4);
    if (d->gen_prefix[0] || d->gen_suffix[0] || d->gen_substr[0]) {
        xml_open(b, "KeyNameConstraint");
        render_one(b, "MatchAnyPrefix", d->gen_prefix);
        render_one(b, "MatchAnySuffix", d->gen_suffix);
        render_one(b, "MatchAnySubstring", d->gen_substr);
        xml_close(b, "KeyNameConstraint");
    }
    render_size_if(b, "ObjectSizeGreaterThanBytes", d->gen_gt);
    render_size_if(b, "ObjectSizeLessThanBytes", d->gen_lt);
    render_bits(b, "MatchAnyStorageClass", d->gen_classes, classes, 7);
    xml_close(b, "Filter");
    xml_elem_bool(b, "EnableManifestOutput", d->gen_output);
    xml_close(b, "S3JobManifestGenerator");
    xml_close(b, "ManifestGenerator");
}

/* GeneratedManifestDescriptor once the generated manifest has been written. */
static void render_generated(struct s3c_op *op, struct qr_buf *b, const struct batch_job *j)
{
    char arn[BATCH_ARN_MAX + BATCH_PREFIX_MAX + 128], etag[80];
    if (!batch_generated_manifest(op->reader, j->def, j->row.id, arn, sizeof(arn), etag))
        return;
    xml_open(b, "GeneratedManifestDescriptor");
    xml_elem_s(b, "Format", "S3InventoryReport_CSV_20211130");
    xml_open(b, "Location");
    xml_elem_s(b, "ObjectArn", arn);
    xml_elem_s(b, "ETag", etag);
    xml_close(b, "Location");
    xml_close(b, "GeneratedManifestDescriptor");
}

static void render_report(struct qr_buf *b, const struct batch_def *d)
{
    xml_open(b, "Report");
    if (d->report_enabled) {
        xml_elem_s(b, "Bucket", d->report_bucket_arn);
        xml_elem_s(b, "Format", "Report_CSV_20180820");
    }
    xml_elem_bool(b, "Enabled", d->report_enabled);
    if (d->report_enabled && d->report_prefix[0])
        xml_elem_s(b, "Prefix", d->report_prefix);
    if (d->report_enabled)
        xml_elem_s(b, "ReportScope", d->report_failed_only ? "FailedTasksOnly" : "AllTasks");
    xml_close(b, "Report");
}

static void render_progress(struct qr_buf *b, const struct batch_job *j)
{
    xml_open(b, "ProgressSummary");
    xml_elem_u64(b, "TotalNumberOfTasks", j->row.total);
    xml_elem_u64(b, "NumberOfTasksSucceeded", j->row.succeeded);
    xml_elem_u64(b, "NumberOfTasksFailed", j->row.failed);
    xml_open(b, "Timers");
    xml_elem_u64(b, "ElapsedTimeInActiveSeconds", (uint64_t)j->elapsed_s);
    xml_close(b, "Timers");
    xml_close(b, "ProgressSummary");
}

void s3c_render_job(struct s3c_op *op, struct qr_buf *b, const struct batch_job *j)
{
    const struct batch_def *d = j->def;
    const struct qr_config *c = &op->server->cfg;
    char arn[160];
    snprintf(arn, sizeof(arn), "arn:aws:s3:%s:%s:job/%s", c->region, c->account_id, j->row.id);
    xml_open(b, "Job");
    xml_elem_s(b, "JobId", j->row.id);
    xml_elem_bool(b, "ConfirmationRequired", d->confirmation_required);
    if (d->description[0])
        xml_elem_s(b, "Description", d->description);
    xml_elem_s(b, "JobArn", arn);
    xml_elem_s(b, "Status", s3c_state_name((enum batch_state)j->row.state));
    if (d->mf_format == BATCH_MF_GENERATOR)
        render_generator(b, d);
    else
        render_manifest(b, d);
    render_operation(b, d);
    xml_elem_u64(b, "Priority", (uint64_t)j->row.priority);
    render_progress(b, j);
    if (j->row.status_reason.len)
        xml_elem(b, "StatusUpdateReason", j->row.status_reason);
    if (j->n_failures) {
        xml_open(b, "FailureReasons");
        for (size_t i = 0; i < j->n_failures; i++) {
            xml_open(b, "member");
            xml_elem_s(b, "FailureCode", j->failures[i].code);
            xml_elem_s(b, "FailureReason", j->failures[i].reason);
            xml_close(b, "member");
        }
        xml_close(b, "FailureReasons");
    }
    render_report(b, d);
    xml_elem_time(b, "CreationTime", j->row.created_ms);
    if (j->row.terminated_ms)
        xml_elem_time(b, "TerminationDate", j->row.terminated_ms);
    xml_elem_s(b, "RoleArn", d->role_arn);
    if (j->row.state == BATCH_SUSPENDED && j->row.suspended_ms) {
        xml_elem_time(b, "SuspendedDate", j->row.suspended_ms);
        xml_elem_s(b, "SuspendedCause", "ConfirmationRequired");
    }
    if (d->mf_format == BATCH_MF_GENERATOR)
        render_generated(op, b, j);
    xml_close(b, "Job");
}

void s3c_render_list_entry(struct qr_buf *b, const struct batch_job *j)
{
    xml_open(b, "member");
    xml_elem_s(b, "JobId", j->row.id);
    if (j->def->description[0])
        xml_elem_s(b, "Description", j->def->description);
    xml_elem_s(b, "Operation", batch_op_name(j->def->op));
    xml_elem_u64(b, "Priority", (uint64_t)j->row.priority);
    xml_elem_s(b, "Status", s3c_state_name((enum batch_state)j->row.state));
    xml_elem_time(b, "CreationTime", j->row.created_ms);
    if (j->row.terminated_ms)
        xml_elem_time(b, "TerminationDate", j->row.terminated_ms);
    render_progress(b, j);
    xml_close(b, "member");
}
