/*
 * lock.c - PutBucketVersioning and Object Lock: the bucket's lock configuration
 * (default retention), a version's retention and legal hold, and the lock headers of
 * writes and reads. General purpose buckets only (the route table refuses the rest).
 *
 * The store enforces locks (store/version.c): every delete path goes through it, so no
 * handler, batch job or key of DeleteObjects can remove a locked version. Here we only
 * parse, check the caller may bypass GOVERNANCE, and answer in S3's words.
 */
#include "api/s3/s3_int.h"

#include <stdio.h>
#include <string.h>

#include <libxml/tree.h>

#include "api/xml.h"
#include "util/codec.h"
#include "util/limits.h"

#define DAY_MS (86400LL * 1000LL)

/* S3 requires an integrity header on these configuration bodies. */
static bool integrity_header(struct s3_op *op)
{
    static const char *const names[] = {
        "content-md5",
        "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c",
        "x-amz-checksum-sha1",
        "x-amz-checksum-sha256",
        "x-amz-checksum-crc64nvme",
        "x-amz-sdk-checksum-algorithm",
    };
    struct qr_slice v;
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
        if (s3_hdr(op, names[i], &v))
            return true;
    s3_fail_code(op, 400, "InvalidRequest",
                 "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests "
                 "with Object Lock parameters");
    return false;
}

/* Reads and parses an XML body whose root is root. False with op failed. *doc to free. */
static bool read_xml(struct s3_op *op, const char *root, xmlDocPtr *doc, xmlNodePtr *out)
{
    struct s3_body body;
    *doc = NULL;
    bool ok = s3_body_read(op, QR_MAX_XML_BODY, S3_BODY_PAYLOAD, &body);
    if (ok && (xml_parse(body.data, doc) != QR_OK || !(*out = xml_root(*doc, root))))
        ok = s3_fail_malformed(op);
    s3_body_dispose(&body);
    return ok;
}

static bool bucket_of(struct s3_op *op, struct store_bucket *b)
{
    enum qr_err e = store_bucket_get(op->reader, op->bucket, b);
    if (e)
        s3_fail(op, e);
    return e == QR_OK;
}

static void fail_no_lock(struct s3_op *op)
{
    s3_fail_code(op, 400, "InvalidRequest", "Bucket is missing Object Lock Configuration");
}

/* ---- PutBucketVersioning ---- */

void s3_put_bucket_versioning(struct s3_op *op)
{
    xmlDocPtr doc;
    xmlNodePtr root;
    if (!read_xml(op, "VersioningConfiguration", &doc, &root))
        goto out;
    struct qr_slice status = xml_text(xml_child(root, "Status"));
    xmlNodePtr mfa = xml_child(root, "MfaDelete");
    enum store_versioning v;
    if (qr_slice_eq_lit(status, "Enabled")) {
        v = STORE_VERS_ENABLED;
    } else if (qr_slice_eq_lit(status, "Suspended")) {
        v = STORE_VERS_SUSPENDED;
    } else {
        s3_fail_malformed(op);
        goto out;
    }
    if (mfa && !qr_slice_eq_lit(xml_text(mfa), "Disabled")) {
        /* S3 changes MfaDelete only with the root's MFA device in x-amz-mfa; quarry has
         * no MFA devices (and refuses x-amz-mfa itself). */
        s3_fail_code(op, 400, "InvalidRequest",
                     qr_slice_eq_lit(xml_text(mfa), "Enabled")
                         ? "MFA delete cannot be enabled: it needs an MFA device (x-amz-mfa), "
                           "which quarry does not have."
                         : "Invalid MfaDelete value.");
        goto out;
    }
    enum qr_err e = store_bucket_set_versioning(op->store, op->bucket, v);
    if (e == QR_E_CONFLICT)
        s3_fail_code(op, 409, "InvalidBucketState",
                     "An Object Lock configuration is present on this bucket, so the versioning "
                     "state cannot be changed.");
    else if (e)
        s3_fail(op, e);
out:
    if (doc)
        xmlFreeDoc(doc);
}

/* ---- ObjectLockConfiguration ---- */

static const char *mode_name(enum store_lock_mode m)
{
    return m == STORE_LOCK_COMPLIANCE ? "COMPLIANCE" : "GOVERNANCE";
}

static bool mode_parse(struct qr_slice v, enum store_lock_mode *out)
{
    if (qr_slice_eq_lit(v, "GOVERNANCE"))
        *out = STORE_LOCK_GOVERNANCE;
    else if (qr_slice_eq_lit(v, "COMPLIANCE"))
        *out = STORE_LOCK_COMPLIANCE;
    else
        return false;
    return true;
}

void s3_get_object_lock_config(struct s3_op *op)
{
    struct store_bucket b;
    if (!bucket_of(op, &b))
        return;
    if (!b.lock_enabled) {
        s3_fail_code(op, 404, "ObjectLockConfigurationNotFoundError",
                     "Object Lock configuration does not exist for this bucket");
        return;
    }
    struct qr_buf *x = &op->body;
    xml_begin(x, "ObjectLockConfiguration", S3_NS);
    xml_elem_s(x, "ObjectLockEnabled", "Enabled");
    if (b.lock_mode != STORE_LOCK_NONE) {
        xml_open(x, "Rule");
        xml_open(x, "DefaultRetention");
        xml_elem_s(x, "Mode", mode_name(b.lock_mode));
        if (b.lock_days)
            xml_elem_u64(x, "Days", b.lock_days);
        else
            xml_elem_u64(x, "Years", b.lock_years);
        xml_close(x, "DefaultRetention");
        xml_close(x, "Rule");
    }
    xml_close(x, "ObjectLockConfiguration");
}

/* <Rule><DefaultRetention>: mode and exactly one positive period. */
static bool parse_default_retention(struct s3_op *op, xmlNodePtr rule, enum store_lock_mode *mode,
                                    uint32_t *days, uint32_t *years)
{
    xmlNodePtr dr = xml_child(rule, "DefaultRetention");
    xmlNodePtr d = dr ? xml_child(dr, "Days") : NULL, y = dr ? xml_child(dr, "Years") : NULL;
    uint64_t n = 0;
    if (!dr || !mode_parse(xml_text(xml_child(dr, "Mode")), mode) || (d != NULL) == (y != NULL))
        return s3_fail_malformed(op);
    /* S3's limits: 36500 days, 100 years */
    if (!qr_slice_u64(xml_text(d ? d : y), d ? 36500 : 100, &n) || n == 0) {
        s3_fail_code(op, 400, "InvalidArgument",
                     "Default retention period must be a positive integer value");
        return false;
    }
    *days = d ? (uint32_t)n : 0;
    *years = y ? (uint32_t)n : 0;
    return true;
}

void s3_put_object_lock_config(struct s3_op *op)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr root;
    struct store_bucket b;
    if (!integrity_header(op) || !bucket_of(op, &b) ||
        !read_xml(op, "ObjectLockConfiguration", &doc, &root))
        goto out;
    if (!qr_slice_eq_lit(xml_text(xml_child(root, "ObjectLockEnabled")), "Enabled")) {
        s3_fail_malformed(op);
        goto out;
    }
    if (!b.lock_enabled && b.versioning != STORE_VERS_ENABLED) {
        s3_fail_code(op, 409, "InvalidBucketState",
                     "Versioning must be 'Enabled' on the bucket to apply a Object Lock "
                     "configuration");
        goto out;
    }
    enum store_lock_mode mode = STORE_LOCK_NONE;
    uint32_t days = 0, years = 0;
    xmlNodePtr rule = xml_child(root, "Rule");
    if (rule && !parse_default_retention(op, rule, &mode, &days, &years))
        goto out;
    enum qr_err e = store_bucket_set_lock(op->store, op->bucket, mode, days, years);
    if (e)
        s3_fail(op, e);
out:
    if (doc)
        xmlFreeDoc(doc);
}

/* ---- a version's retention and legal hold ---- */

bool s3_lock_bypass(struct s3_op *op, struct qr_slice key, bool *out)
{
    struct qr_slice v;
    *out = s3_hdr(op, "x-amz-bypass-governance-retention", &v) &&
           qr_slice_ieq(v, QR_SLICE_LIT("true"));
    if (*out && !s3_authorize_key(op, "s3:BypassGovernanceRetention", key)) {
        s3_fail_code(op, 403, "AccessDenied", "Access Denied");
        return false;
    }
    return true;
}

/* The version a retention/legal-hold request names, read for its lock state. */
static bool lock_target(struct s3_op *op, struct store_obj *o)
{
    struct store_bucket b;
    if (!bucket_of(op, &b))
        return false;
    if (!b.lock_enabled) {
        fail_no_lock(op);
        return false;
    }
    struct qr_slice ver = s3_version_param(op);
    enum qr_err e = store_obj_get_v(op->reader, op->bucket, op->key, ver, false, op->pool, o);
    if (!e && o->is_marker) {
        s3_fail_code(op, 405, "MethodNotAllowed",
                     "The specified method is not allowed against this resource.");
        return false;
    }
    if (e)
        s3_fail_version(op, e, ver, o);
    return e == QR_OK;
}

void s3_get_object_retention(struct s3_op *op)
{
    struct store_obj o;
    if (!lock_target(op, &o))
        return;
    if (o.lock.mode == STORE_LOCK_NONE) {
        s3_fail_code(op, 404, "NoSuchObjectLockConfiguration",
                     "The specified object does not have a ObjectLock configuration");
        return;
    }
    xml_begin(&op->body, "Retention", S3_NS);
    xml_elem_s(&op->body, "Mode", mode_name(o.lock.mode));
    xml_elem_time(&op->body, "RetainUntilDate", o.lock.until_ms);
    xml_close(&op->body, "Retention");
}

void s3_get_object_legal_hold(struct s3_op *op)
{
    struct store_obj o;
    if (!lock_target(op, &o))
        return;
    xml_begin(&op->body, "LegalHold", S3_NS);
    xml_elem_s(&op->body, "Status", o.lock.legal_hold ? "ON" : "OFF");
    xml_close(&op->body, "LegalHold");
}

static void fail_lock_store(struct s3_op *op, enum qr_err e, struct qr_slice ver)
{
    if (e == QR_E_DENIED) {
        s3_fail_code(op, 403, "AccessDenied",
                     "Access Denied because object protected by object lock.");
    } else if (e == QR_E_NO_SUCH_KEY) {
        struct store_obj none;
        memset(&none, 0, sizeof(none));
        s3_fail_version(op, e, ver, &none);
    } else {
        s3_fail(op, e);
    }
}

void s3_put_object_retention(struct s3_op *op)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr root;
    struct store_obj o;
    bool bypass;
    if (!integrity_header(op) || !lock_target(op, &o) || !s3_lock_bypass(op, op->key, &bypass) ||
        !read_xml(op, "Retention", &doc, &root))
        goto out;
    xmlNodePtr m = xml_child(root, "Mode"), d = xml_child(root, "RetainUntilDate");
    enum store_lock_mode mode = STORE_LOCK_NONE;
    int64_t until = 0;
    if ((m && !mode_parse(xml_text(m), &mode)) || (d && !qr_time_parse_http(xml_text(d), &until)) ||
        (m != NULL) != (d != NULL)) {
        s3_fail_malformed(op);
        goto out;
    }
    if (m && until <= op->now_ms) {
        s3_fail_code(op, 400, "InvalidArgument", "The retain until date must be in the future!");
        goto out;
    }
    struct qr_slice ver = s3_version_param(op);
    enum qr_err e =
        store_obj_set_retention(op->store, op->bucket, op->key, ver, mode, until, bypass);
    if (e)
        fail_lock_store(op, e, ver);
out:
    if (doc)
        xmlFreeDoc(doc);
}

void s3_put_object_legal_hold(struct s3_op *op)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr root;
    struct store_obj o;
    if (!integrity_header(op) || !lock_target(op, &o) || !read_xml(op, "LegalHold", &doc, &root))
        goto out;
    struct qr_slice st = xml_text(xml_child(root, "Status"));
    if (!qr_slice_eq_lit(st, "ON") && !qr_slice_eq_lit(st, "OFF")) {
        s3_fail_malformed(op);
        goto out;
    }
    struct qr_slice ver = s3_version_param(op);
    enum qr_err e =
        store_obj_set_legal_hold(op->store, op->bucket, op->key, ver, qr_slice_eq_lit(st, "ON"));
    if (e)
        fail_lock_store(op, e, ver);
out:
    if (doc)
        xmlFreeDoc(doc);
}

/* ---- lock headers of writes and reads ---- */

bool s3_lock_headers(struct s3_op *op, struct store_lock *out)
{
    struct qr_slice mode, until, hold;
    bool has_mode = s3_hdr(op, "x-amz-object-lock-mode", &mode);
    bool has_until = s3_hdr(op, "x-amz-object-lock-retain-until-date", &until);
    bool has_hold = s3_hdr(op, "x-amz-object-lock-legal-hold", &hold);
    memset(out, 0, sizeof(*out));
    if (!has_mode && !has_until && !has_hold)
        return true;
    struct store_bucket b;
    if (!bucket_of(op, &b))
        return false;
    if (!b.lock_enabled) {
        fail_no_lock(op);
        return false;
    }
    if (has_mode != has_until) {
        s3_fail_code(op, 400, "InvalidArgument",
                     "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both "
                     "be supplied");
        return false;
    }
    if (has_mode && (!mode_parse(mode, &out->mode) || !qr_time_parse_http(until, &out->until_ms))) {
        s3_fail_code(op, 400, "InvalidArgument", "Invalid Object Lock mode or retain until date.");
        return false;
    }
    if (has_mode && out->until_ms <= op->now_ms) {
        s3_fail_code(op, 400, "InvalidArgument", "The retain until date must be in the future!");
        return false;
    }
    if (has_hold) {
        if (!qr_slice_eq_lit(hold, "ON") && !qr_slice_eq_lit(hold, "OFF")) {
            s3_fail_code(op, 400, "InvalidArgument", "Legal Hold must be either of 'ON' or 'OFF'");
            return false;
        }
        out->legal_hold = qr_slice_eq_lit(hold, "ON");
    }
    return true;
}

void s3_lock_response_headers(struct s3_op *op, const struct store_lock *l)
{
    if (l->mode != STORE_LOCK_NONE) {
        char t[QR_TIME_ISO8601_LEN];
        qr_time_iso8601(l->until_ms, t);
        s3_header_s(op, "x-amz-object-lock-mode", mode_name(l->mode));
        s3_header_s(op, "x-amz-object-lock-retain-until-date", t);
    }
    if (l->legal_hold)
        s3_header_s(op, "x-amz-object-lock-legal-hold", "ON");
}
