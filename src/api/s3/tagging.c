/*
 * tagging.c - GetObjectTagging, PutObjectTagging and DeleteObjectTagging (general
 * purpose buckets only; the route table refuses directory buckets).
 *
 * The rules and the stored form come from obj/ (shared with batch tagging jobs). The store
 * keeps a tag set as opaque bytes. The form is the one s3_tags_from_header (meta.c) writes
 * for x-amz-tagging, so both ways of tagging agree: "k1=v1&k2=v2", each
 * key and value percent-encoded with qr_uri_encode (keep_slash false), in the order
 * given. A tag set read back is decoded from that form; nothing else parses it.
 */
#include "api/s3/s3_int.h"

#include <string.h>

#include "api/xml.h"
#include "obj/obj.h"
#include "util/codec.h"
#include "util/limits.h"

#define TAGS_MAX_BYTES (16u * 1024u) /* 10 tags of 128 + 256 characters, encoded, fit */

/* One tag, decoded. */
struct tag {
    struct qr_slice key; /* borrowed: from the XML document or op->pool */
    struct qr_slice value;
};

/* ---- the stored form ---- */

/* Decodes one percent-encoded field of the stored form into op->pool. */
static enum qr_err decode_field(struct s3_op *op, struct qr_slice raw, struct qr_slice *out)
{
    struct qr_buf b;
    qr_buf_init(&b, TAGS_MAX_BYTES);
    enum qr_err e = qr_uri_decode(raw, false, &b);
    if (!e) {
        h2o_iovec_t v = h2o_strdup(op->pool, b.p ? (const char *)b.p : "", b.len);
        *out = qr_slice(v.base, v.len);
    }
    qr_buf_dispose(&b);
    return e;
}

/* Splits the stored form into at most QR_MAX_TAGS tags (op->pool). */
static enum qr_err tags_decode(struct s3_op *op, struct qr_slice s, struct tag *out, size_t *out_n)
{
    size_t i = 0, n = 0;
    enum qr_err e = QR_OK;
    while (i < s.len && !e) {
        size_t end = i, eq;
        while (end < s.len && s.p[end] != '&')
            end++;
        for (eq = i; eq < end && s.p[eq] != '='; eq++)
            ;
        if (n == QR_MAX_TAGS)
            return QR_E_INTERNAL; /* the writers never store more */
        e = decode_field(op, qr_slice(s.p + i, eq - i), &out[n].key);
        out[n].value = qr_slice(NULL, 0);
        if (!e && eq < end)
            e = decode_field(op, qr_slice(s.p + eq + 1, end - eq - 1), &out[n].value);
        n++;
        i = end + 1;
    }
    *out_n = n;
    return e;
}

/* Writes tags in the stored form (obj_tags_encode) into op->pool. */
static enum qr_err tags_encode(struct s3_op *op, const struct tag *t, size_t n,
                               struct qr_slice *out)
{
    struct qr_buf b;
    struct obj_tag ot[QR_MAX_TAGS];
    qr_buf_init(&b, TAGS_MAX_BYTES);
    for (size_t i = 0; i < n && i < QR_MAX_TAGS; i++)
        ot[i] = (struct obj_tag){t[i].key, t[i].value};
    enum qr_err e = obj_tags_encode(ot, n < QR_MAX_TAGS ? n : QR_MAX_TAGS, &b);
    if (!e) {
        h2o_iovec_t v = h2o_strdup(op->pool, b.p ? (const char *)b.p : "", b.len);
        *out = qr_slice(v.base, v.len);
    }
    qr_buf_dispose(&b);
    return e;
}

/* ---- GetObjectTagging ---- */

void s3_get_object_tagging(struct s3_op *op)
{
    struct store_obj obj;
    struct tag tags[QR_MAX_TAGS];
    size_t n = 0;
    struct qr_slice ver = s3_version_param(op);
    enum qr_err e = store_obj_get_v(op->reader, op->bucket, op->key, ver, false, op->pool, &obj);
    if (!e && obj.is_marker) {
        s3_fail_code(op, 405, "MethodNotAllowed",
                     "The specified method is not allowed against this resource.");
        return;
    }
    if (e) {
        s3_fail_version(op, e, ver, &obj);
        return;
    }
    if ((e = tags_decode(op, obj.tags, tags, &n)) != QR_OK) {
        s3_fail(op, e);
        return;
    }
    s3_version_headers(op, &obj);
    xml_begin(&op->body, "Tagging", S3_NS);
    xml_open(&op->body, "TagSet");
    for (size_t i = 0; i < n; i++) {
        xml_open(&op->body, "Tag");
        xml_elem(&op->body, "Key", tags[i].key);
        xml_elem(&op->body, "Value", tags[i].value);
        xml_close(&op->body, "Tag");
    }
    xml_close(&op->body, "TagSet");
    xml_close(&op->body, "Tagging");
    op->status = 200;
}

/* ---- PutObjectTagging ---- */

/* AWS's per-tag and per-set rules (obj_tags_check, shared with batch tagging jobs and
 * x-amz-tagging), with AWS's codes and messages. */
bool s3_tags_valid(struct s3_op *op, const struct obj_tag *ot, size_t n)
{
    static const char *const msgs[] = {
        [OBJ_TAG_OK] = NULL,
        [OBJ_TAG_TOO_MANY] = "Object tags cannot be greater than 10",
        [OBJ_TAG_KEY_INVALID] = "The TagKey you have provided is invalid",
        [OBJ_TAG_VALUE_INVALID] = "The TagValue you have provided is invalid",
        [OBJ_TAG_AWS_PREFIX] = "Your TagKey cannot be prefixed with aws:",
        [OBJ_TAG_DUPLICATE] = "Cannot provide multiple Tags with the same key",
    };
    enum obj_tag_problem p = obj_tags_check(ot, n, OBJ_TAGS_MAX, NULL);
    if (p == OBJ_TAG_OK)
        return true;
    s3_fail_code(op, 400, p == OBJ_TAG_TOO_MANY ? "BadRequest" : "InvalidTag", msgs[p]);
    return false;
}

static bool tags_valid(struct s3_op *op, const struct tag *t, size_t n)
{
    struct obj_tag ot[QR_MAX_TAGS];
    for (size_t i = 0; i < n && i < QR_MAX_TAGS; i++)
        ot[i] = (struct obj_tag){t[i].key, t[i].value};
    return s3_tags_valid(op, ot, n);
}

/* <Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging> into out (borrowing
 * from doc). */
static bool parse_tagging(struct s3_op *op, xmlDocPtr doc, struct tag *out, size_t *out_n)
{
    xmlNodePtr set = xml_child(xml_root(doc, "Tagging"), "TagSet");
    size_t n = 0;
    if (!set)
        return s3_fail_malformed(op);
    for (xmlNodePtr t = xml_child(set, "Tag"); t; t = xml_next(t, "Tag")) {
        xmlNodePtr k = xml_child(t, "Key"), v = xml_child(t, "Value");
        if (!k || !v)
            return s3_fail_malformed(op);
        if (n == QR_MAX_TAGS) {
            s3_fail_code(op, 400, "BadRequest", "Object tags cannot be greater than 10");
            return false;
        }
        out[n++] = (struct tag){xml_text(k), xml_text(v)};
    }
    *out_n = n;
    return tags_valid(op, out, n);
}

/* Stores tags (stored form) on the object and sets the success status. */
static void set_tags(struct s3_op *op, struct qr_slice tags, int status)
{
    struct qr_slice ver = s3_version_param(op);
    enum qr_err e = store_obj_set_tags_v(op->store, op->bucket, op->key, ver, tags);
    if (e) {
        struct store_obj none;
        memset(&none, 0, sizeof(none));
        s3_fail_version(op, e, ver, &none);
        return;
    }
    if (ver.len)
        s3_header(op, "x-amz-version-id", (const char *)ver.p, ver.len);
    op->status = status;
}

void s3_put_object_tagging(struct s3_op *op)
{
    struct s3_body body;
    xmlDocPtr doc = NULL;
    struct tag tags[QR_MAX_TAGS];
    struct qr_slice enc;
    size_t n = 0;
    /* body.c may hold a decoded buffer even when it fails: dispose it on every path. */
    if (!s3_body_read(op, QR_MAX_XML_BODY, S3_BODY_PAYLOAD, &body))
        goto out;
    if (xml_parse(body.data, &doc) != QR_OK) {
        s3_fail_malformed(op);
        goto out;
    }
    if (!parse_tagging(op, doc, tags, &n))
        goto out;
    enum qr_err e = tags_encode(op, tags, n, &enc);
    if (e) {
        s3_fail(op, e);
        goto out;
    }
    set_tags(op, enc, 200);
out:
    if (doc)
        xmlFreeDoc(doc);
    s3_body_dispose(&body);
}

/* ---- DeleteObjectTagging ---- */

void s3_delete_object_tagging(struct s3_op *op)
{
    set_tags(op, qr_slice(NULL, 0), 204);
}
