/*
 * bucket.c - CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation and the
 * S3 Express CreateSession. A bucket's type follows from its name (clients decide the
 * same way): names ending --x-s3 are directory buckets.
 */
#include "api/s3/s3_int.h"

#include <stdio.h>
#include <string.h>

#include <libxml/tree.h>

#include "api/xml.h"
#include "util/codec.h"
#include "util/limits.h"
#include "util/names.h"

/* Reads the optional CreateBucketConfiguration into b (region, zone). */
static bool read_config(struct s3_op *op, struct qr_slice zone, struct store_bucket *b)
{
    struct s3_body body;
    xmlDocPtr doc = NULL;
    bool ok = false;
    if (!s3_body_read(op, QR_MAX_XML_BODY, S3_BODY_PAYLOAD, &body))
        goto out;
    if (body.data.len == 0) {
        ok = true; /* no configuration: defaults (old clients create directory buckets so) */
        goto out;
    }
    xmlNodePtr root;
    if (xml_parse(body.data, &doc) != QR_OK ||
        !(root = xml_root(doc, "CreateBucketConfiguration"))) {
        s3_fail_malformed(op);
        goto out;
    }
    if (xml_child(root, "Tags")) {
        /* quarry keeps no bucket tags: creating the bucket without them would drop them */
        s3_fail_code(op, 501, "NotImplemented",
                     "A request element you provided implies functionality that is not "
                     "implemented: bucket tags (CreateBucketConfiguration.Tags).");
        goto out;
    }
    struct qr_slice lc = xml_text(xml_child(root, "LocationConstraint"));
    xmlNodePtr loc = xml_child(root, "Location");
    xmlNodePtr bk = xml_child(root, "Bucket");
    if (op->directory) {
        struct qr_slice type = xml_text(xml_child(loc, "Type"));
        struct qr_slice name = xml_text(xml_child(loc, "Name"));
        struct qr_slice btype = xml_text(xml_child(bk, "Type"));
        if ((loc && !qr_slice_eq_lit(type, "AvailabilityZone") &&
             !qr_slice_eq_lit(type, "LocalZone")) ||
            (bk && !qr_slice_eq_lit(btype, "Directory"))) {
            s3_fail_malformed(op);
            goto out;
        }
        if (loc && !qr_slice_eq(name, zone)) {
            s3_fail_code(op, 400, "InvalidBucketName",
                         "The zone in the bucket name does not match Location.Name.");
            goto out;
        }
    } else if (loc || bk) {
        s3_fail_code(op, 400, "InvalidArgument",
                     "Location and Bucket.Type are for directory buckets (names ending "
                     "--x-s3).");
        goto out;
    } else if (lc.len) {
        if (lc.len >= sizeof(b->region) || qr_slice_eq_lit(lc, "us-east-1")) {
            s3_fail_code(op, 400, "InvalidLocationConstraint",
                         "The specified location-constraint is not valid");
            goto out;
        }
        memcpy(b->region, lc.p, lc.len);
        b->region[lc.len] = '\0';
    }
    ok = true;
out:
    if (doc)
        xmlFreeDoc(doc);
    s3_body_dispose(&body);
    return ok;
}

void s3_create_bucket(struct s3_op *op)
{
    struct store_bucket b;
    memset(&b, 0, sizeof(b));
    bool dir = false;
    struct qr_slice zone = qr_slice(NULL, 0);
    if (!qr_bucket_name_valid(op->bucket, &dir) || (dir && !qr_bucket_zone(op->bucket, &zone)) ||
        zone.len >= sizeof(b.zone)) {
        s3_fail(op, QR_E_INVALID_BUCKET_NAME);
        return;
    }
    memcpy(b.name, op->bucket.p, op->bucket.len);
    b.type = dir ? STORE_BUCKET_DIRECTORY : STORE_BUCKET_GENERAL;
    b.created_ms = op->now_ms;
    snprintf(b.region, sizeof(b.region), "%s", op->ar->server->cfg.region);
    if (dir)
        memcpy(b.zone, zone.p, zone.len);
    if (!read_config(op, zone, &b))
        return;
    struct qr_slice lk;
    /* the header table lets only "true"/"false" through, and only on general purpose */
    b.lock_enabled = s3_hdr(op, "x-amz-bucket-object-lock-enabled", &lk) &&
                     qr_slice_ieq(lk, QR_SLICE_LIT("true"));
    enum qr_err e = store_bucket_create(op->store, &b);
    if (e == QR_E_BUCKET_EXISTS && !dir && strcmp(b.region, "us-east-1") == 0) {
        /* us-east-1 answers 200 to an owner re-creating a general purpose bucket. */
        e = QR_OK;
    }
    if (e) {
        s3_fail(op, e);
        return;
    }
    char loc[80];
    int n = snprintf(loc, sizeof(loc), "/%.*s", (int)op->bucket.len, (const char *)op->bucket.p);
    s3_header(op, "Location", loc, (size_t)n);
}

void s3_delete_bucket(struct s3_op *op)
{
    enum qr_err e = store_bucket_delete(op->store, op->bucket);
    if (e) {
        s3_fail(op, e);
        return;
    }
    op->status = 204;
}

void s3_head_bucket(struct s3_op *op)
{
    struct store_bucket b;
    enum qr_err e = store_bucket_get(op->reader, op->bucket, &b);
    if (e) {
        s3_fail(op, e);
        return;
    }
    s3_header_s(op, "x-amz-bucket-region", b.region);
    if (b.type == STORE_BUCKET_DIRECTORY) {
        s3_header_s(op, "x-amz-bucket-location-type", "AvailabilityZone");
        s3_header_s(op, "x-amz-bucket-location-name", b.zone);
    }
    s3_header_s(op, "x-amz-access-point-alias", "false");
}

void s3_get_bucket_location(struct s3_op *op)
{
    struct store_bucket b;
    enum qr_err e = store_bucket_get(op->reader, op->bucket, &b);
    if (e) {
        s3_fail(op, e);
        return;
    }
    xml_begin(&op->body, "LocationConstraint", S3_NS);
    /* us-east-1 is the empty constraint, for historical reasons. */
    if (strcmp(b.region, "us-east-1") != 0)
        xml_text_escaped(&op->body, qr_slice_cstr(b.region));
    xml_close(&op->body, "LocationConstraint");
}

/* No bucket has had versioning enabled (PutBucketVersioning is not implemented), and
 * S3 answers a never-versioned bucket with an empty configuration: no Status. */
void s3_get_bucket_versioning(struct s3_op *op)
{
    struct store_bucket b;
    enum qr_err e = store_bucket_get(op->reader, op->bucket, &b);
    if (e) {
        s3_fail(op, e);
        return;
    }
    /* a bucket that never had versioning answers an empty configuration, as S3 */
    xml_begin(&op->body, "VersioningConfiguration", S3_NS);
    if (b.versioning != STORE_VERS_OFF)
        xml_elem_s(&op->body, "Status",
                   b.versioning == STORE_VERS_ENABLED ? "Enabled" : "Suspended");
    xml_close(&op->body, "VersioningConfiguration");
}

/*
 * CreateSession works on a bucket that does not exist yet: boto3 and the SDK for
 * JavaScript ask for a session before CreateBucket of a directory bucket and sign the
 * CreateBucket with it (reference/clients.md).
 */
void s3_create_session(struct s3_op *op)
{
    const struct creds_identity *id = &op->ar->id;
    bool dir;
    if (!qr_bucket_name_valid(op->bucket, &dir)) {
        s3_fail(op, QR_E_INVALID_BUCKET_NAME);
        return;
    }
    if (!op->directory) {
        s3_fail_code(op, 400, "InvalidRequest",
                     "CreateSession is only for directory buckets (names ending --x-s3).");
        return;
    }
    if (id->kind != CREDS_LONG_TERM) {
        s3_fail(op, QR_E_DENIED);
        return;
    }
    enum creds_mode mode = CREDS_READ_WRITE;
    struct qr_slice v;
    if (s3_hdr(op, "x-amz-create-session-mode", &v)) {
        if (qr_slice_eq_lit(v, "ReadOnly")) {
            mode = CREDS_READ_ONLY;
        } else if (!qr_slice_eq_lit(v, "ReadWrite")) {
            s3_fail_code(op, 400, "InvalidArgument",
                         "x-amz-create-session-mode must be ReadWrite or ReadOnly.");
            return;
        }
    }
    struct creds_session s;
    enum qr_err e = creds_s3express_session(op->ar->server->creds, id->principal, op->bucket, mode,
                                            op->now_ms, QR_SESSION_TTL_S, &s);
    if (e) {
        s3_fail(op, e);
        return;
    }
    xml_begin(&op->body, "CreateSessionResult", S3_NS);
    xml_open(&op->body, "Credentials");
    xml_elem_s(&op->body, "SessionToken", s.token);
    xml_elem_s(&op->body, "SecretAccessKey", s.secret);
    xml_elem_s(&op->body, "AccessKeyId", s.akid);
    char t[32];
    qr_time_iso8601(s.expires_ms, t);
    xml_elem_s(&op->body, "Expiration", t);
    xml_close(&op->body, "Credentials");
    xml_close(&op->body, "CreateSessionResult");
    creds_session_wipe(&s);
}
