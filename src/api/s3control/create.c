/*
 * create.c - CreateJob's request body into a struct batch_def, with the shape checks of
 * the model (required members, lengths, enums, map and list sizes). Elements are found
 * by local name: clients differ in namespaces and element order. Every copy into the
 * definition is bounded by the model's limit before it happens. Operations and
 * parameters quarry does not run are refused here, naming them (501), never ignored.
 */
#include "api/s3control/s3control_int.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "api/authorize.h"
#include "api/xml.h"
#include "obj/obj.h"
#include "util/checksum.h"
#include "util/codec.h"
#include "util/limits.h"

/* Copies a slice into a NUL-terminated buffer the caller sized; an empty slice may have
 * no pointer at all (libxml2's empty text). */
static void copy_text(char *out, struct qr_slice t)
{
    if (t.len)
        memcpy(out, t.p, t.len);
    out[t.len] = '\0';
}

/* Copies an element's text (1..max bytes, or 0..max when !required_nonempty). */
static bool text_into(struct s3c_op *op, xmlNodePtr n, const char *what, char *out, size_t max,
                      bool nonempty)
{
    struct qr_slice t = xml_text(n);
    if ((nonempty && t.len == 0) || t.len > max) {
        s3c_fail(op, 400, "BadRequestException", "%s must be %s to %zu characters long.", what,
                 nonempty ? "1" : "0", max);
        return false;
    }
    copy_text(out, t);
    return true;
}

static bool required(struct s3c_op *op, xmlNodePtr parent, const char *name, const char *what,
                     char *out, size_t max)
{
    xmlNodePtr n = xml_child(parent, name);
    if (n == NULL) {
        s3c_fail(op, 400, "BadRequestException", "%s is required.", what);
        return false;
    }
    return text_into(op, n, what, out, max, true);
}

static bool parse_bool(struct s3c_op *op, xmlNodePtr n, const char *what, bool *out)
{
    struct qr_slice t = xml_text(n);
    if (qr_slice_eq_lit(t, "true") || qr_slice_eq_lit(t, "false")) {
        *out = qr_slice_eq_lit(t, "true");
        return true;
    }
    s3c_fail(op, 400, "BadRequestException", "%s must be true or false.", what);
    return false;
}

/* A list of <member><Key/><Value/></member> under S3's tag rules (obj_tags_check: keys
 * 1-128 characters, values 0-256, no aws: prefix, no duplicates), at most max. */
static bool parse_kv_list(struct s3c_op *op, xmlNodePtr parent, struct batch_kv *kv, size_t max,
                          size_t *out_n, const char *too_many)
{
    static const char *const msgs[] = {
        [OBJ_TAG_OK] = "",
        [OBJ_TAG_TOO_MANY] = "Too many tags.",
        [OBJ_TAG_KEY_INVALID] = "A tag Key must be 1 to 128 characters long.",
        [OBJ_TAG_VALUE_INVALID] = "A tag Value must be at most 256 characters long.",
        [OBJ_TAG_AWS_PREFIX] = "Tag keys cannot start with aws:.",
        [OBJ_TAG_DUPLICATE] = "Tag keys must be unique.",
    };
    struct obj_tag ot[BATCH_MAX_JOB_TAGS + 1];
    size_t n = 0;
    for (xmlNodePtr m = xml_child(parent, "member"); m; m = xml_next(m, "member")) {
        xmlNodePtr k = xml_child(m, "Key"), v = xml_child(m, "Value");
        if (n == max) {
            s3c_fail(op, 400, too_many, "At most %zu tags are allowed.", max);
            return false;
        }
        if (!k || !v) {
            s3c_fail(op, 400, "BadRequestException", "A tag needs a Key and a Value.");
            return false;
        }
        ot[n++] = (struct obj_tag){xml_text(k), xml_text(v)};
    }
    enum obj_tag_problem p = obj_tags_check(ot, n, max, NULL);
    if (p != OBJ_TAG_OK) {
        s3c_fail(op, 400, p == OBJ_TAG_TOO_MANY ? too_many : "BadRequestException", "%s", msgs[p]);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        /* 128 and 256 characters of UTF-8 fit the byte buffers (4 bytes each at most) */
        copy_text(kv[i].key, ot[i].key);
        copy_text(kv[i].value, ot[i].value);
    }
    *out_n = n;
    return true;
}

bool s3c_parse_tags(struct s3c_op *op, xmlNodePtr parent, struct batch_tags *t)
{
    return parse_kv_list(op, parent, t->v, BATCH_MAX_JOB_TAGS, &t->n, "TooManyTagsException");
}

/* ---- operations ---- */

static bool parse_lambda(struct s3c_op *op, xmlNodePtr n, struct batch_def *d)
{
    xmlNodePtr v, ua;
    d->op = BATCH_OP_LAMBDA;
    snprintf(d->schema, sizeof(d->schema), "1.0");
    if (!required(op, n, "FunctionArn", "LambdaInvoke FunctionArn", d->function_arn, 1024))
        return false;
    if ((v = xml_child(n, "InvocationSchemaVersion"))) {
        struct qr_slice s = xml_text(v);
        if (!qr_slice_eq_lit(s, "1.0") && !qr_slice_eq_lit(s, "2.0")) {
            s3c_fail(op, 400, "BadRequestException", "InvocationSchemaVersion must be 1.0 or 2.0.");
            return false;
        }
        copy_text(d->schema, s);
    }
    if ((ua = xml_child(n, "UserArguments"))) {
        size_t k = 0;
        for (xmlNodePtr e = xml_child(ua, "entry"); e; e = xml_next(e, "entry")) {
            struct qr_slice ks = xml_text(xml_child(e, "key")),
                            vs = xml_text(xml_child(e, "value"));
            if (k == BATCH_MAX_USER_ARGS || ks.len == 0 || ks.len > 64 || vs.len > 1024) {
                s3c_fail(op, 400, "BadRequestException",
                         "UserArguments: at most 10 entries, keys 1 to 64 characters, values "
                         "up to 1024.");
                return false;
            }
            copy_text(d->user_args[k].key, ks);
            copy_text(d->user_args[k].value, vs);
            k++;
        }
        if (k == 0) {
            s3c_fail(op, 400, "BadRequestException", "UserArguments must have 1 to 10 entries.");
            return false;
        }
        d->n_user_args = k;
    }
    return true;
}

/* S3PutObjectCopy members quarry does not apply: refused rather than ignored. */
static const char *const copy_unsupported[] = {
    "AccessControlGrants", "RedirectLocation",  "SSEAwsKmsKeyId",
    "BucketKeyEnabled",    "ChecksumAlgorithm",
};

/* GOVERNANCE or COMPLIANCE; NONE for anything else. */
static enum store_lock_mode lock_mode_of(struct qr_slice s)
{
    return qr_slice_eq_lit(s, "GOVERNANCE")   ? STORE_LOCK_GOVERNANCE
           : qr_slice_eq_lit(s, "COMPLIANCE") ? STORE_LOCK_COMPLIANCE
                                              : STORE_LOCK_NONE;
}

/* A Mode element and a date element that come together (both or neither), the mode
 * GOVERNANCE or COMPLIANCE: into *mode (NONE when neither) and *until_ms. */
static bool mode_and_date(xmlNodePtr m, xmlNodePtr u, enum store_lock_mode *mode, int64_t *until_ms)
{
    *mode = lock_mode_of(xml_text(m));
    return (m != NULL) == (u != NULL) && (!m || *mode != STORE_LOCK_NONE) &&
           (!u || qr_time_parse_http(xml_text(u), until_ms));
}

/* A character of an HTTP header name (RFC 9110 tchar): a UserMetadata key becomes one. */
static bool tchar(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A NewObjectMetadata string: it becomes a response header of every copy, so no control
 * character (a CR or LF would split the header) gets in. */
static bool meta_text(struct s3c_op *op, xmlNodePtr m, const char *name, char *out)
{
    xmlNodePtr v = xml_child(m, name);
    struct qr_slice t = xml_text(v);
    for (size_t i = 0; i < t.len; i++)
        if (t.p[i] < 0x20 || t.p[i] == 0x7f) {
            s3c_fail(op, 400, "BadRequestException",
                     "NewObjectMetadata %s must not hold control characters.", name);
            return false;
        }
    return !v || text_into(op, v, name, out, BATCH_META_MAX, false);
}

/* MetadataDirective (COPY or REPLACE) and NewObjectMetadata, as CopyObject's
 * x-amz-metadata-directive with the standard headers and x-amz-meta-* it replaces; the
 * members that ask for what quarry does not apply are refused by name. */
static bool parse_new_metadata(struct s3c_op *op, xmlNodePtr n, struct batch_def *d)
{
    static const char *const unsupported[] = {"ContentLength", "ContentMD5", "RequesterCharged",
                                              "SSEAlgorithm"};
    xmlNodePtr dir = xml_child(n, "MetadataDirective"), m = xml_child(n, "NewObjectMetadata");
    struct qr_slice ds = xml_text(dir);
    if (dir && !qr_slice_eq_lit(ds, "COPY") && !qr_slice_eq_lit(ds, "REPLACE")) {
        s3c_fail(op, 400, "BadRequestException", "MetadataDirective must be COPY or REPLACE.");
        return false;
    }
    d->copy_replace_meta = qr_slice_eq_lit(ds, "REPLACE");
    if (m && !d->copy_replace_meta) {
        s3c_fail(op, 400, "BadRequestException",
                 "NewObjectMetadata is applied with MetadataDirective REPLACE only.");
        return false;
    }
    if (!m)
        return true;
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(*unsupported); i++)
        if (xml_child(m, unsupported[i])) {
            s3c_fail(op, 501, "NotImplemented",
                     "S3PutObjectCopy NewObjectMetadata %s is not supported by this server.",
                     unsupported[i]);
            return false;
        }
    for (size_t i = 0; i < batch_n_meta_members; i++)
        if (!meta_text(op, m, batch_meta_members[i].xml, (char *)d + batch_meta_members[i].off))
            return false;
    xmlNodePtr v = xml_child(m, "HttpExpiresDate");
    if (v && !qr_time_parse_http(xml_text(v), &d->meta_expires_ms)) {
        s3c_fail(op, 400, "BadRequestException",
                 "NewObjectMetadata HttpExpiresDate is not a date.");
        return false;
    }
    /* UserMetadata: names as HTTP header names, values without control characters, the
     * whole within S3's user metadata size, as x-amz-meta-* headers are held to */
    size_t bytes = 0, k = 0;
    xmlNodePtr um = xml_child(m, "UserMetadata");
    for (xmlNodePtr e = um ? xml_child(um, "entry") : NULL; e; e = xml_next(e, "entry")) {
        struct qr_slice ks = xml_text(xml_child(e, "key")), vs = xml_text(xml_child(e, "value"));
        bool ok = k < BATCH_MAX_USER_META && ks.len > 0 && ks.len <= BATCH_TAG_KEY_MAX &&
                  vs.len <= BATCH_TAG_VALUE_MAX;
        for (size_t i = 0; ok && i < ks.len; i++)
            ok = tchar(ks.p[i]);
        for (size_t i = 0; ok && i < vs.len; i++)
            ok = vs.p[i] >= 0x20 && vs.p[i] != 0x7f;
        bytes += ks.len + vs.len;
        if (!ok || bytes > QR_MAX_USER_META) {
            s3c_fail(op, 400, "BadRequestException",
                     "NewObjectMetadata UserMetadata: at most %u entries, keys HTTP header names, "
                     "values without control characters, %u bytes in all.",
                     (unsigned)BATCH_MAX_USER_META, (unsigned)QR_MAX_USER_META);
            return false;
        }
        copy_text(d->meta_user[k].key, ks);
        copy_text(d->meta_user[k].value, vs);
        k++;
    }
    d->n_meta_user = k;
    return true;
}

/* NewObjectTagging, the source's date conditions and the Object Lock parameters, as
 * CopyObject's x-amz-tagging (with TaggingDirective REPLACE),
 * x-amz-copy-source-if-(un)modified-since and x-amz-object-lock-* headers. Whether the
 * target bucket has Object Lock and the date is still ahead are each task's questions, as
 * for CopyObject. */
static bool parse_copy_extras(struct s3c_op *op, xmlNodePtr n, struct batch_def *d)
{
    xmlNodePtr v, lh = xml_child(n, "ObjectLockLegalHoldStatus");
    xmlNodePtr lm = xml_child(n, "ObjectLockMode"), lu = xml_child(n, "ObjectLockRetainUntilDate");
    if ((v = xml_child(n, "NewObjectTagging"))) {
        d->copy_new_tags = true;
        if (!parse_kv_list(op, v, d->obj_tags, OBJ_TAGS_MAX, &d->n_obj_tags,
                           "BadRequestException"))
            return false;
    }
    /* CannedAccessControlList: objects always belong to the bucket owner (one account,
     * BucketOwnerEnforced), so these two grant what the copy has anyway, as PutObject's
     * x-amz-acl; every other ACL is refused by name */
    struct qr_slice acl = xml_text(xml_child(n, "CannedAccessControlList"));
    if (xml_child(n, "CannedAccessControlList") && !qr_slice_eq_lit(acl, "private") &&
        !qr_slice_eq_lit(acl, "bucket-owner-full-control")) {
        s3c_fail(op, 501, "NotImplemented",
                 "S3PutObjectCopy CannedAccessControlList %.*s is not supported by this server "
                 "(access control lists).",
                 (int)(acl.len > 32 ? 32 : acl.len), (const char *)acl.p);
        return false;
    }
    copy_text(d->copy_acl, acl); /* one of the two above, or empty */
    /* RequesterPays: no quarry bucket has Requester Pays, and S3 ignores the request's
     * consent on such buckets (PutObject's x-amz-request-payer, likewise) */
    xmlNodePtr rp = xml_child(n, "RequesterPays");
    if (rp && !parse_bool(op, rp, "RequesterPays", &d->copy_requester_pays))
        return false;
    xmlNodePtr ms = xml_child(n, "ModifiedSinceConstraint"),
               us = xml_child(n, "UnModifiedSinceConstraint");
    if ((ms && !qr_time_parse_http(xml_text(ms), &d->copy_modified_since_ms)) ||
        (us && !qr_time_parse_http(xml_text(us), &d->copy_unmodified_since_ms)) ||
        (ms && d->copy_modified_since_ms <= 0) || (us && d->copy_unmodified_since_ms <= 0)) {
        s3c_fail(op, 400, "BadRequestException",
                 "S3PutObjectCopy ModifiedSinceConstraint and UnModifiedSinceConstraint must be "
                 "dates after 1970.");
        return false;
    }
    struct qr_slice hold = xml_text(lh);
    d->copy_lock_hold_given = lh != NULL;
    d->copy_lock_hold = qr_slice_eq_lit(hold, "ON");
    if ((lh && !d->copy_lock_hold && !qr_slice_eq_lit(hold, "OFF")) ||
        !mode_and_date(lm, lu, &d->copy_lock_mode, &d->copy_lock_until_ms)) {
        s3c_fail(op, 400, "BadRequestException",
                 "S3PutObjectCopy ObjectLockLegalHoldStatus must be ON or OFF, and ObjectLockMode "
                 "(GOVERNANCE or COMPLIANCE) and ObjectLockRetainUntilDate come together.");
        return false;
    }
    return true;
}

static bool parse_copy(struct s3c_op *op, xmlNodePtr n, struct batch_def *d)
{
    xmlNodePtr v;
    d->op = BATCH_OP_COPY;
    for (size_t i = 0; i < sizeof(copy_unsupported) / sizeof(*copy_unsupported); i++)
        if (xml_child(n, copy_unsupported[i])) {
            s3c_fail(op, 501, "NotImplemented",
                     "S3PutObjectCopy parameter %s is not supported by this server.",
                     copy_unsupported[i]);
            return false;
        }
    if (!parse_new_metadata(op, n, d))
        return false;
    if ((v = xml_child(n, "StorageClass")) && !qr_slice_eq_lit(xml_text(v), "STANDARD") &&
        !qr_slice_eq_lit(xml_text(v), "EXPRESS_ONEZONE")) {
        s3c_fail(op, 501, "NotImplemented", "S3PutObjectCopy StorageClass %.*s is not supported.",
                 (int)(xml_text(v).len > 32 ? 32 : xml_text(v).len), (const char *)xml_text(v).p);
        return false;
    }
    if (!required(op, n, "TargetResource", "S3PutObjectCopy TargetResource", d->target_resource,
                  BATCH_ARN_MAX) ||
        !parse_copy_extras(op, n, d))
        return false;
    return !(v = xml_child(n, "TargetKeyPrefix")) ||
           text_into(op, v, "TargetKeyPrefix", d->target_prefix, BATCH_PREFIX_MAX, false);
}

/* S3ComputeObjectChecksum: FULL_OBJECT or COMPOSITE with the algorithms quarry's S3
 * computes; CRC64NVME is full-object only, as in S3. */
static bool parse_checksum(struct s3c_op *op, xmlNodePtr n, struct batch_def *d)
{
    struct qr_slice alg = xml_text(xml_child(n, "ChecksumAlgorithm"));
    struct qr_slice type = xml_text(xml_child(n, "ChecksumType"));
    enum qr_ck ck;
    d->op = BATCH_OP_CHECKSUM;
    d->checksum_composite = qr_slice_eq_lit(type, "COMPOSITE");
    if (type.len && !d->checksum_composite && !qr_slice_eq_lit(type, "FULL_OBJECT")) {
        s3c_fail(op, 400, "BadRequestException",
                 "S3ComputeObjectChecksum ChecksumType must be FULL_OBJECT or COMPOSITE.");
        return false;
    }
    if (!qr_ck_from_name((const char *)alg.p, alg.len, &ck)) {
        s3c_fail(op, alg.len ? 501 : 400, alg.len ? "NotImplemented" : "BadRequestException",
                 "S3ComputeObjectChecksum ChecksumAlgorithm must be one of CRC32, CRC32C, "
                 "CRC64NVME, SHA1, SHA256, MD5.");
        return false;
    }
    if (ck == QR_CK_CRC64NVME && d->checksum_composite) {
        s3c_fail(op, 400, "BadRequestException",
                 "S3ComputeObjectChecksum: CRC64NVME supports only the FULL_OBJECT ChecksumType.");
        return false;
    }
    d->checksum_alg = (int)ck;
    return true;
}

/* S3SetObjectLegalHoldOperation: LegalHold (required) with Status ON or OFF (required). */
static bool parse_legal_hold(struct s3c_op *op, xmlNodePtr n, struct batch_def *d)
{
    struct qr_slice st = xml_text(xml_child(xml_child(n, "LegalHold"), "Status"));
    d->op = BATCH_OP_LEGAL_HOLD;
    if (!qr_slice_eq_lit(st, "ON") && !qr_slice_eq_lit(st, "OFF")) {
        s3c_fail(op, 400, "BadRequestException",
                 "S3PutObjectLegalHold needs LegalHold with a Status of ON or OFF.");
        return false;
    }
    d->hold_on = qr_slice_eq_lit(st, "ON");
    return true;
}

/* S3SetObjectRetentionOperation: Retention (required) with Mode and RetainUntilDate both
 * (the retention to set) or neither (the retention removed, as PutObjectRetention with an
 * empty Retention does); BypassGovernanceRetention. Whether the date is still ahead is
 * each task's question, as for PutObjectRetention. */
static bool parse_retention(struct s3c_op *op, xmlNodePtr n, struct batch_def *d)
{
    xmlNodePtr r = xml_child(n, "Retention"), b = xml_child(n, "BypassGovernanceRetention");
    xmlNodePtr m = r ? xml_child(r, "Mode") : NULL, u = r ? xml_child(r, "RetainUntilDate") : NULL;
    d->op = BATCH_OP_RETENTION;
    if (b && !parse_bool(op, b, "BypassGovernanceRetention", &d->ret_bypass))
        return false;
    if (!r || !mode_and_date(m, u, &d->ret_mode, &d->ret_until_ms)) {
        s3c_fail(op, 400, "BadRequestException",
                 "S3PutObjectRetention needs Retention with a Mode of GOVERNANCE or COMPLIANCE "
                 "and a RetainUntilDate, or neither to remove the retention.");
        return false;
    }
    return true;
}

static bool parse_operation(struct s3c_op *op, xmlNodePtr opn, struct batch_def *d)
{
    xmlNodePtr n = NULL, only = NULL;
    size_t count = 0;
    for (xmlNodePtr c = opn ? opn->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE) {
            count++;
            only = c;
        }
    if (count != 1) {
        s3c_fail(op, 400, "BadRequestException", "Operation must name exactly one operation.");
        return false;
    }
    const char *name = (const char *)only->name;
    if ((n = xml_child(opn, "LambdaInvoke")))
        return parse_lambda(op, n, d);
    if ((n = xml_child(opn, "S3PutObjectCopy")))
        return parse_copy(op, n, d);
    if ((n = xml_child(opn, "S3PutObjectTagging"))) {
        d->op = BATCH_OP_PUT_TAGGING;
        xmlNodePtr ts = xml_child(n, "TagSet");
        return !ts || parse_kv_list(op, ts, d->obj_tags, OBJ_TAGS_MAX, &d->n_obj_tags,
                                    "BadRequestException");
    }
    if ((n = xml_child(opn, "S3DeleteObjectTagging"))) {
        d->op = BATCH_OP_DELETE_TAGGING;
        return true;
    }
    if ((n = xml_child(opn, "S3ComputeObjectChecksum")))
        return parse_checksum(op, n, d);
    if ((n = xml_child(opn, "S3PutObjectLegalHold")))
        return parse_legal_hold(op, n, d);
    if ((n = xml_child(opn, "S3PutObjectRetention")))
        return parse_retention(op, n, d);
    s3c_fail(op, 501, "NotImplemented", "The %.64s operation is not supported by this server.",
             name);
    return false;
}

/* ---- manifest and report ---- */

static bool parse_fields(struct s3c_op *op, xmlNodePtr fl, struct batch_def *d)
{
    static const struct {
        const char *name;
        enum batch_field f;
    } names[] = {{"Ignore", BATCH_F_IGNORE},
                 {"Bucket", BATCH_F_BUCKET},
                 {"Key", BATCH_F_KEY},
                 {"VersionId", BATCH_F_VERSION}};
    unsigned seen = 0;
    for (xmlNodePtr m = xml_child(fl, "member"); m; m = xml_next(m, "member")) {
        size_t i;
        for (i = 0; i < 4 && !qr_slice_eq_lit(xml_text(m), names[i].name); i++)
            ;
        if (i == 4 || d->n_fields == BATCH_MAX_FIELDS ||
            (names[i].f != BATCH_F_IGNORE && (seen >> names[i].f) & 1)) {
            s3c_fail(op, 400, "BadRequestException",
                     "Manifest Fields must list Ignore, Bucket, Key and VersionId, each of the "
                     "last three at most once.");
            return false;
        }
        seen |= 1u << names[i].f;
        d->fields[d->n_fields++] = names[i].f;
    }
    if (!((seen >> BATCH_F_BUCKET) & 1) || !((seen >> BATCH_F_KEY) & 1)) {
        s3c_fail(op, 400, "BadRequestException",
                 "Manifest Fields must include Bucket and Key for S3BatchOperations_CSV_20180820.");
        return false;
    }
    return true;
}

static bool manifest_version(struct s3c_op *op, xmlNodePtr loc, struct batch_def *d)
{
    xmlNodePtr v;
    if ((v = xml_child(loc, "ObjectVersionId")) &&
        !text_into(op, v, "ObjectVersionId", d->mf_version, 1024, true))
        return false;
    if (d->mf_version[0] && strcmp(d->mf_version, "null") != 0) {
        s3c_fail(op, 501, "NotImplemented", "Versioned manifests are not supported.");
        return false;
    }
    return true;
}

/* ---- ManifestGenerator ---- */

/* A list with exactly one member (KeyNameConstraint: "an array of strings with a length of
 * 1 string"), 1..1024 bytes. */
static bool one_member(struct s3c_op *op, xmlNodePtr list, const char *what, char *out)
{
    xmlNodePtr m = xml_child(list, "member");
    if (m == NULL || xml_next(m, "member") != NULL) {
        s3c_fail(op, 400, "BadRequestException", "%s must list exactly one string.", what);
        return false;
    }
    return text_into(op, m, what, out, BATCH_KEY_MAX, true);
}

/* Each member must be one of names; sets bit i for names[i]. */
static bool enum_bits(struct s3c_op *op, xmlNodePtr list, const char *what,
                      const char *const *names, size_t n, unsigned *out)
{
    *out = 0;
    for (xmlNodePtr m = xml_child(list, "member"); m; m = xml_next(m, "member")) {
        size_t i;
        for (i = 0; i < n && !qr_slice_eq_lit(xml_text(m), names[i]); i++)
            ;
        if (i == n) {
            s3c_fail(op, 400, "BadRequestException", "%s has a value that is not valid.", what);
            return false;
        }
        *out |= 1u << i;
    }
    if (*out == 0) {
        s3c_fail(op, 400, "BadRequestException", "%s must list at least one value.", what);
        return false;
    }
    return true;
}

static bool gen_time(struct s3c_op *op, xmlNodePtr f, const char *name, int64_t *out)
{
    xmlNodePtr v = xml_child(f, name);
    if (v && (!qr_time_parse_http(xml_text(v), out) || *out <= 0)) {
        s3c_fail(op, 400, "BadRequestException", "Filter %s must be a timestamp.", name);
        return false;
    }
    return true;
}

static bool gen_size(struct s3c_op *op, xmlNodePtr f, const char *name, int64_t *out)
{
    xmlNodePtr v = xml_child(f, name);
    uint64_t n;
    *out = -1;
    if (v && !qr_slice_u64(xml_text(v), INT64_MAX, &n)) {
        s3c_fail(op, 400, "BadRequestException", "Filter %s must be a non-negative integer.",
                 name);
        return false;
    }
    if (v)
        *out = (int64_t)n;
    return true;
}

static bool parse_gen_filter(struct s3c_op *op, xmlNodePtr f, struct batch_def *d)
{
    static const char *const repl[] = {"COMPLETED", "FAILED", "REPLICA", "NONE"};
    static const char *const classes[] = {"STANDARD",    "STANDARD_IA",         "ONEZONE_IA",
                                          "GLACIER",     "INTELLIGENT_TIERING", "DEEP_ARCHIVE",
                                          "GLACIER_IR"};
    xmlNodePtr v, k;
    bool elig = false;
    if ((v = xml_child(f, "EligibleForReplication")) &&
        !parse_bool(op, v, "Filter EligibleForReplication", &elig))
        return false;
    if (elig) {
        s3c_fail(op, 501, "NotImplemented",
                 "Filter EligibleForReplication needs a replication configuration on the source "
                 "bucket; this server has no bucket replication.");
        return false;
    }
    if (xml_child(f, "MatchAnyObjectEncryption")) {
        s3c_fail(op, 501, "NotImplemented",
                 "Filter MatchAnyObjectEncryption is not supported by this server.");
        return false;
    }
    if (!gen_time(op, f, "CreatedAfter", &d->gen_after_ms) ||
        !gen_time(op, f, "CreatedBefore", &d->gen_before_ms) ||
        !gen_size(op, f, "ObjectSizeGreaterThanBytes", &d->gen_gt) ||
        !gen_size(op, f, "ObjectSizeLessThanBytes", &d->gen_lt))
        return false;
    if ((v = xml_child(f, "ObjectReplicationStatuses")) &&
        !enum_bits(op, v, "Filter ObjectReplicationStatuses", repl, 4, &d->gen_repl))
        return false;
    if ((v = xml_child(f, "MatchAnyStorageClass")) &&
        !enum_bits(op, v, "Filter MatchAnyStorageClass", classes, 7, &d->gen_classes))
        return false;
    if ((k = xml_child(f, "KeyNameConstraint")) &&
        (((v = xml_child(k, "MatchAnyPrefix")) &&
          !one_member(op, v, "KeyNameConstraint MatchAnyPrefix", d->gen_prefix)) ||
         ((v = xml_child(k, "MatchAnySuffix")) &&
          !one_member(op, v, "KeyNameConstraint MatchAnySuffix", d->gen_suffix)) ||
         ((v = xml_child(k, "MatchAnySubstring")) &&
          !one_member(op, v, "KeyNameConstraint MatchAnySubstring", d->gen_substr))))
        return false;
    return true;
}

static bool parse_gen_output(struct s3c_op *op, xmlNodePtr o, struct batch_def *d)
{
    xmlNodePtr v;
    if (!required(op, o, "Bucket", "ManifestOutputLocation Bucket", d->gen_out_bucket, 128))
        return false;
    if (!qr_slice_eq_lit(xml_text(xml_child(o, "ManifestFormat")),
                         "S3InventoryReport_CSV_20211130")) {
        s3c_fail(op, 400, "BadRequestException",
                 "ManifestOutputLocation ManifestFormat must be S3InventoryReport_CSV_20211130.");
        return false;
    }
    if (xml_child(o, "ManifestEncryption")) {
        s3c_fail(op, 501, "NotImplemented",
                 "ManifestOutputLocation ManifestEncryption is not supported by this server.");
        return false;
    }
    if ((v = xml_child(o, "ExpectedManifestBucketOwner")) &&
        !qr_slice_eq(xml_text(v), qr_slice_cstr(op->server->cfg.account_id))) {
        s3c_fail(op, 403, "AccessDenied",
                 "ExpectedManifestBucketOwner is not the owner of the manifest output bucket.");
        return false;
    }
    return !(v = xml_child(o, "ManifestPrefix")) ||
           text_into(op, v, "ManifestOutputLocation ManifestPrefix", d->gen_out_prefix, 512, true);
}

static bool parse_generator(struct s3c_op *op, xmlNodePtr g, struct batch_def *d)
{
    static const enum batch_field bkv[] = {BATCH_F_BUCKET, BATCH_F_KEY, BATCH_F_VERSION};
    xmlNodePtr s = xml_child(g, "S3JobManifestGenerator"), v;
    if (s == NULL) {
        s3c_fail(op, 400, "BadRequestException",
                 "ManifestGenerator must hold an S3JobManifestGenerator.");
        return false;
    }
    d->mf_format = BATCH_MF_GENERATOR;
    memcpy(d->fields, bkv, sizeof(bkv));
    d->n_fields = 3;
    d->gen_gt = d->gen_lt = -1;
    if (!required(op, s, "SourceBucket", "S3JobManifestGenerator SourceBucket", d->gen_source,
                  128))
        return false;
    if (!(v = xml_child(s, "EnableManifestOutput"))) {
        s3c_fail(op, 400, "BadRequestException",
                 "S3JobManifestGenerator EnableManifestOutput is required.");
        return false;
    }
    if (!parse_bool(op, v, "EnableManifestOutput", &d->gen_output))
        return false;
    if ((v = xml_child(s, "ExpectedBucketOwner")) &&
        !qr_slice_eq(xml_text(v), qr_slice_cstr(op->server->cfg.account_id))) {
        s3c_fail(op, 403, "AccessDenied", "ExpectedBucketOwner is not the owner of the bucket.");
        return false;
    }
    if ((v = xml_child(s, "Filter")) && !parse_gen_filter(op, v, d))
        return false;
    if ((v = xml_child(s, "ManifestOutputLocation")) && !parse_gen_output(op, v, d))
        return false;
    if (d->gen_output && d->gen_out_bucket[0] == '\0') {
        s3c_fail(op, 400, "BadRequestException",
                 "EnableManifestOutput needs a ManifestOutputLocation.");
        return false;
    }
    return true;
}

static bool parse_manifest(struct s3c_op *op, xmlNodePtr root, struct batch_def *d)
{
    xmlNodePtr m = xml_child(root, "Manifest"), spec, loc, v;
    xmlNodePtr g = xml_child(root, "ManifestGenerator");
    if ((m == NULL) == (g == NULL)) {
        s3c_fail(op, 400, "BadRequestException",
                 "Exactly one of Manifest or ManifestGenerator is required.");
        return false;
    }
    if (g)
        return parse_generator(op, g, d);
    if (!(spec = xml_child(m, "Spec")) || !(loc = xml_child(m, "Location"))) {
        s3c_fail(op, 400, "BadRequestException", "Manifest needs Spec and Location.");
        return false;
    }
    struct qr_slice f = xml_text(xml_child(spec, "Format"));
    if (qr_slice_eq_lit(f, "S3InventoryReport_CSV_20161130")) {
        /* The columns come from manifest.json; the expanded task list is Bucket,Key,
         * VersionId (batch/expand.c). */
        static const enum batch_field inv[] = {BATCH_F_BUCKET, BATCH_F_KEY, BATCH_F_VERSION};
        d->mf_format = BATCH_MF_INVENTORY;
        memcpy(d->fields, inv, sizeof(inv));
        d->n_fields = 3;
        return required(op, loc, "ObjectArn", "Manifest Location ObjectArn", d->mf_arn, 2000) &&
               required(op, loc, "ETag", "Manifest Location ETag", d->mf_etag,
                        sizeof(d->mf_etag) - 1) &&
               manifest_version(op, loc, d);
    }
    if (!qr_slice_eq_lit(f, "S3BatchOperations_CSV_20180820")) {
        s3c_fail(op, 400, "BadRequestException",
                 "Manifest Spec Format must be S3BatchOperations_CSV_20180820 or "
                 "S3InventoryReport_CSV_20161130.");
        return false;
    }
    d->mf_format = BATCH_MF_CSV;
    if (!(v = xml_child(spec, "Fields"))) {
        s3c_fail(op, 400, "BadRequestException", "Manifest Spec Fields is required for CSV.");
        return false;
    }
    if (!parse_fields(op, v, d) ||
        !required(op, loc, "ObjectArn", "Manifest Location ObjectArn", d->mf_arn, 2000) ||
        !required(op, loc, "ETag", "Manifest Location ETag", d->mf_etag, sizeof(d->mf_etag) - 1))
        return false;
    return manifest_version(op, loc, d);
}

static bool parse_report(struct s3c_op *op, xmlNodePtr root, struct batch_def *d)
{
    xmlNodePtr r = xml_child(root, "Report"), v;
    if (r == NULL || !(v = xml_child(r, "Enabled"))) {
        s3c_fail(op, 400, "BadRequestException", "Report with Enabled is required.");
        return false;
    }
    if (!parse_bool(op, v, "Report Enabled", &d->report_enabled))
        return false;
    if (!d->report_enabled)
        return true;
    if (!required(op, r, "Bucket", "Report Bucket", d->report_bucket_arn, 128))
        return false;
    struct qr_slice fmt = xml_text(xml_child(r, "Format"));
    if (!qr_slice_eq_lit(fmt, "Report_CSV_20180820")) {
        s3c_fail(op, 400, "BadRequestException", "Report Format must be Report_CSV_20180820.");
        return false;
    }
    d->report_has_format = true;
    if ((v = xml_child(r, "ReportScope"))) {
        struct qr_slice s = xml_text(v);
        if (!qr_slice_eq_lit(s, "AllTasks") && !qr_slice_eq_lit(s, "FailedTasksOnly")) {
            s3c_fail(op, 400, "BadRequestException",
                     "ReportScope must be AllTasks or FailedTasksOnly.");
            return false;
        }
        d->report_has_scope = true;
        d->report_failed_only = qr_slice_eq_lit(s, "FailedTasksOnly");
    }
    return !(v = xml_child(r, "Prefix")) ||
           text_into(op, v, "Report Prefix", d->report_prefix, 512, true);
}

static bool parse_job_fields(struct s3c_op *op, xmlNodePtr root, struct batch_def *d)
{
    xmlNodePtr v;
    uint64_t prio;
    if (!required(op, root, "ClientRequestToken", "ClientRequestToken", d->token, 64))
        return false;
    if (!(v = xml_child(root, "Priority")) || !qr_slice_u64(xml_text(v), 2147483647u, &prio)) {
        s3c_fail(op, 400, "BadRequestException",
                 "Priority is required: an integer from 0 to 2147483647.");
        return false;
    }
    d->priority = (int64_t)prio;
    if (!required(op, root, "RoleArn", "RoleArn", d->role_arn, 2048))
        return false;
    if (strncmp(d->role_arn, "arn:", 4) != 0 || !strstr(d->role_arn, ":iam::") ||
        !strstr(d->role_arn, ":role/")) {
        s3c_fail(op, 400, "BadRequestException", "RoleArn must be an IAM role ARN.");
        return false;
    }
    if ((v = xml_child(root, "ConfirmationRequired")) &&
        !parse_bool(op, v, "ConfirmationRequired", &d->confirmation_required))
        return false;
    return !(v = xml_child(root, "Description")) ||
           text_into(op, v, "Description", d->description, 256, true);
}

bool s3c_parse_create(struct s3c_op *op, xmlDocPtr doc, struct batch_def *d,
                      struct batch_tags *tags)
{
    xmlNodePtr root = xml_root(doc, "CreateJobRequest"), v;
    memset(d, 0, sizeof(*d));
    memset(tags, 0, sizeof(*tags));
    if (root == NULL) {
        s3c_fail(op, 400, "MalformedXML", "The root element must be CreateJobRequest.");
        return false;
    }
    if (!xml_child(root, "Operation")) {
        s3c_fail(op, 400, "BadRequestException", "Operation is required.");
        return false;
    }
    if (!parse_job_fields(op, root, d) || !parse_operation(op, xml_child(root, "Operation"), d) ||
        !parse_manifest(op, root, d) || !parse_report(op, root, d))
        return false;
    if ((v = xml_child(root, "Tags")) && !s3c_parse_tags(op, v, tags))
        return false;
    batch_strip_progress_tags(tags); /* the server's own tags (batch/progress.c) */
    return true;
}
