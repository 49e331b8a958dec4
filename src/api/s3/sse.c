/*
 * sse.c - server-side encryption on the wire: which encryption a write asks for (its
 * headers, else the bucket's default, else SSE-S3 as S3 does for every new object),
 * the customer key of an SSE-C read or copy source checked against the object's, the
 * x-amz-server-side-encryption* response headers, and Put/Get/DeleteBucketEncryption.
 * The bytes themselves are encrypted and decrypted by the store (store/crypt.c).
 *
 * SSE-C keys travel in headers; S3 takes them over HTTPS only, and so does quarry
 * unless started with --sse-c-over-http (a loopback-only deployment's choice). The key
 * is never stored or logged: only its MD5, which S3 gives back too.
 * SSE-KMS (aws:kms, aws:kms:dsse) needs a key service quarry does not have: 501.
 */
#include "api/s3/s3_int.h"

#include <stdio.h>
#include <string.h>

#include <libxml/tree.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api/xml.h"
#include "util/checksum.h"
#include "util/codec.h"
#include "util/limits.h"

#define SSE_C_PREFIX      "x-amz-server-side-encryption-customer-"
#define SSE_C_COPY_PREFIX "x-amz-copy-source-server-side-encryption-customer-"

static const char kms_msg[] =
    "A header you provided implies functionality that is not implemented: SSE-KMS "
    "(quarry has no key management service; use AES256 or SSE-C).";

static bool hdr_p(struct s3_op *op, const char *prefix, const char *suffix, struct qr_slice *out)
{
    char name[96];
    snprintf(name, sizeof(name), "%s%s", prefix, suffix);
    return s3_hdr(op, name, out);
}

/* Whether the connection is HTTPS (h2o sets the scheme from the socket). */
static bool secure(struct s3_op *op)
{
    return op->ar->req->scheme == &H2O_URL_SCHEME_HTTPS;
}

/* Parses one SSE-C header triple. *present: any of the three was given. False with op
 * failed on a missing, malformed or inconsistent one, as S3 words them. */
static bool customer_key(struct s3_op *op, const char *prefix, bool *present, struct store_sse *out)
{
    struct qr_slice alg, key, md5;
    bool a = hdr_p(op, prefix, "algorithm", &alg), k = hdr_p(op, prefix, "key", &key),
         m = hdr_p(op, prefix, "key-md5", &md5);
    *present = a || k || m;
    if (!*present)
        return true;
    if (op->directory) {
        s3_fail_code(op, 400, "InvalidArgument",
                     "Server Side Encryption with Customer provided keys is not supported for "
                     "directory buckets.");
        return false;
    }
    if (!secure(op) && !op->ar->server->cfg.sse_c_plain_http) {
        s3_fail_code(op, 400, "InvalidRequest",
                     "Requests specifying Server Side Encryption with Customer provided keys "
                     "must be made over a secure connection.");
        return false;
    }
    const char *missing = !a   ? "a valid encryption algorithm"
                          : !k ? "an appropriate secret key"
                          : !m ? "the client calculated MD5 of the secret key"
                               : NULL;
    if (missing) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "Requests specifying Server Side Encryption with Customer provided keys must "
                 "provide %s.",
                 missing);
        s3_fail_code(op, 400, "InvalidArgument", h2o_strdup(op->pool, msg, SIZE_MAX).base);
        return false;
    }
    if (!qr_slice_eq_lit(alg, "AES256")) {
        s3_fail_code(op, 400, "InvalidEncryptionAlgorithmError",
                     "The Encryption request you specified is not valid. Supported value: AES256.");
        return false;
    }
    size_t kn = 0, mn = 0;
    uint8_t given_md5[16], calc[16];
    unsigned cn = 0;
    memset(out, 0, sizeof(*out));
    if (key.len > 64 || qr_b64_decode((const char *)key.p, key.len, out->key, 32, &kn) != QR_OK ||
        kn != 32) {
        s3_fail_code(op, 400, "InvalidArgument",
                     "The secret key was invalid for the specified algorithm.");
        return false;
    }
    if (md5.len > 32 ||
        qr_b64_decode((const char *)md5.p, md5.len, given_md5, sizeof(given_md5), &mn) != QR_OK ||
        mn != 16 || EVP_Digest(out->key, 32, calc, &cn, EVP_md5(), NULL) != 1 ||
        CRYPTO_memcmp(calc, given_md5, 16) != 0) {
        OPENSSL_cleanse(out->key, sizeof(out->key));
        s3_fail_code(op, 400, "InvalidArgument",
                     "The calculated MD5 hash of the key did not match the hash that was "
                     "provided.");
        return false;
    }
    out->mode = STORE_SSE_C;
    memcpy(out->key_md5, calc, 16);
    return true;
}

/* SSE-KMS headers (key id, context, bucket key) mean KMS whatever else is sent. */
static bool kms_asked(struct s3_op *op)
{
    struct qr_slice v;
    return hdr_p(op, "x-amz-server-side-encryption-", "aws-kms-key-id", &v) ||
           hdr_p(op, "x-amz-server-side-encryption-", "context", &v);
}

bool s3_sse_for_write(struct s3_op *op, struct store_sse *out)
{
    struct qr_slice v;
    bool c, have = s3_hdr(op, "x-amz-server-side-encryption", &v);
    memset(out, 0, sizeof(*out));
    if (!customer_key(op, SSE_C_PREFIX, &c, out))
        return false;
    if (c && (have || kms_asked(op))) {
        s3_fail_code(op, 400, "InvalidArgument",
                     "Server Side Encryption with Customer provided key is incompatible with the "
                     "encryption method specified");
        return false;
    }
    if (c)
        return true;
    if (kms_asked(op) || (have && !qr_slice_eq_lit(v, "AES256"))) {
        s3_fail_code(op, 501, "NotImplemented", kms_msg); /* routes.c let only S3's values by */
        return false;
    }
    out->mode = STORE_SSE_S3;
    if (have || !op->ar->server->cfg.no_default_sse)
        return true;
    /* the measurement mode: only a bucket rule encrypts what did not ask */
    struct store_bucket b;
    if (store_bucket_get(op->reader, op->bucket, &b) != QR_OK || b.sse_rule[0] == '\0')
        out->mode = STORE_SSE_NONE;
    return true;
}

bool s3_sse_for_part(struct s3_op *op, const struct store_sse *upload, struct store_sse *out)
{
    bool present;
    memset(out, 0, sizeof(*out));
    if (kms_asked(op)) {
        s3_fail_code(op, 501, "NotImplemented", kms_msg);
        return false;
    }
    if (!customer_key(op, SSE_C_PREFIX, &present, out))
        return false;
    if (upload->mode != STORE_SSE_C) {
        if (present) {
            OPENSSL_cleanse(out->key, sizeof(out->key));
            s3_fail_code(op, 400, "InvalidRequest",
                         "The encryption parameters are not applicable to this object.");
            return false;
        }
        out->mode = upload->mode;
        return true;
    }
    if (!present) {
        s3_fail_code(op, 400, "InvalidRequest",
                     "The multipart upload initiate requested encryption. Subsequent part "
                     "requests must include the appropriate encryption parameters.");
        return false;
    }
    if (CRYPTO_memcmp(out->key_md5, upload->key_md5, 16) != 0) {
        OPENSSL_cleanse(out->key, sizeof(out->key));
        s3_fail_code(op, 400, "InvalidRequest",
                     "The provided encryption parameters did not match the ones used "
                     "originally.");
        return false;
    }
    return true;
}

bool s3_sse_open(struct s3_op *op, struct store_obj *o, bool copy_source)
{
    struct store_sse given;
    bool present;
    if (!copy_source && kms_asked(op)) {
        s3_fail_code(op, 501, "NotImplemented", kms_msg);
        return false;
    }
    if (!customer_key(op, copy_source ? SSE_C_COPY_PREFIX : SSE_C_PREFIX, &present, &given))
        return false;
    if (o->sse.mode != STORE_SSE_C && present) {
        s3_fail_code(op, 400, "InvalidRequest",
                     "The encryption parameters are not applicable to this object.");
        return false;
    }
    if (o->sse.mode != STORE_SSE_C)
        return true;
    if (!present) {
        s3_fail_code(op, 400, "InvalidRequest",
                     "The object was stored using a form of Server Side Encryption. The correct "
                     "parameters must be provided to retrieve the object.");
        return false;
    }
    enum qr_err e = store_obj_unseal(o, given.key);
    OPENSSL_cleanse(given.key, sizeof(given.key));
    if (e) {
        s3_fail_code(op, 403, "AccessDenied", "Access Denied");
        return false;
    }
    return true;
}

bool s3_sse_copy_shares(struct s3_op *op, const struct store_sse *src, const struct store_sse *dst)
{
    bool src_c = src->mode == STORE_SSE_C, dst_c = dst->mode == STORE_SSE_C;
    if (src_c == dst_c && (!src_c || CRYPTO_memcmp(src->key_md5, dst->key_md5, 16) == 0))
        return true;
    s3_fail_code(op, 501, "NotImplemented",
                 "A header you provided implies functionality that is not implemented: a copy "
                 "that changes the customer-provided key (quarry shares the source's encrypted "
                 "bytes and does not re-encrypt them).");
    return false;
}

void s3_sse_headers(struct s3_op *op, const struct store_sse *sse)
{
    if (sse->mode == STORE_SSE_S3) {
        s3_header_s(op, "x-amz-server-side-encryption", "AES256");
    } else if (sse->mode == STORE_SSE_C) {
        char b64[32];
        size_t n = qr_b64_encode(sse->key_md5, 16, b64);
        s3_header_s(op, SSE_C_PREFIX "algorithm", "AES256");
        s3_header(op, SSE_C_PREFIX "key-MD5", b64, n);
    }
}

void s3_sse_etag(struct s3_op *op, const struct store_sse *sse, const uint8_t md5[16],
                 char out[80])
{
    if (sse->mode == STORE_SSE_C)
        qr_random_hex(out, 16); /* S3's SSE-C ETags are not the MD5 of the plaintext */
    else
        s3_new_etag(op, md5, out);
}

/* ---- Put/Get/DeleteBucketEncryption ---- */

/* The stored rule: "AES256", with " bk" when BucketKeyEnabled was true. */
static bool parse_rule(struct s3_op *op, xmlDocPtr doc, char rule[64])
{
    xmlNodePtr root = xmlDocGetRootElement(doc), r, d;
    if (root == NULL || xmlStrcmp(root->name, (const xmlChar *)"ServerSideEncryptionConfiguration"))
        return s3_fail_malformed(op);
    r = xml_child(root, "Rule");
    if (r == NULL || xml_next(r, "Rule") != NULL)
        return s3_fail_malformed(op); /* exactly one rule, as S3 takes */
    if (xml_child(r, "BlockedEncryptionTypes")) {
        s3_fail_code(op, 501, "NotImplemented",
                     "A header you provided implies functionality that is not implemented: "
                     "BlockedEncryptionTypes.");
        return false;
    }
    d = xml_child(r, "ApplyServerSideEncryptionByDefault");
    struct qr_slice alg = xml_text(xml_child(d, "SSEAlgorithm"));
    struct qr_slice bk = xml_text(xml_child(r, "BucketKeyEnabled"));
    if (d == NULL || alg.len == 0)
        return s3_fail_malformed(op);
    bool kms = qr_slice_eq_lit(alg, "aws:kms") || qr_slice_eq_lit(alg, "aws:kms:dsse");
    if (op->directory && qr_slice_eq_lit(alg, "aws:kms:dsse"))
        kms = false; /* not a value directory buckets know: InvalidArgument below */
    if (kms) {
        s3_fail_code(op, 501, "NotImplemented", kms_msg);
        return false;
    }
    if (!qr_slice_eq_lit(alg, "AES256")) {
        s3_fail_code(op, 400, "InvalidArgument", "The server side encryption algorithm is invalid.");
        return false;
    }
    if (xml_child(d, "KMSMasterKeyID")) {
        s3_fail_code(op, 400, "InvalidArgument",
                     "a KMSMasterKeyID is not applicable if the default sse algorithm is not "
                     "aws:kms or aws:kms:dsse");
        return false;
    }
    if (bk.len && !qr_slice_eq_lit(bk, "true") && !qr_slice_eq_lit(bk, "false"))
        return s3_fail_malformed(op);
    snprintf(rule, 64, "AES256%s", qr_slice_eq_lit(bk, "true") ? " bk" : "");
    return true;
}

void s3_put_bucket_encryption(struct s3_op *op)
{
    struct s3_body body;
    xmlDocPtr doc = NULL;
    char rule[64];
    if (!s3_body_read(op, QR_MAX_XML_BODY, S3_BODY_PAYLOAD, &body))
        goto out;
    if (xml_parse(body.data, &doc) != QR_OK) {
        s3_fail_malformed(op);
        goto out;
    }
    if (!parse_rule(op, doc, rule))
        goto out;
    enum qr_err e = store_bucket_set_sse(op->store, op->bucket, rule);
    if (e)
        s3_fail(op, e);
    else
        op->status = 200;
out:
    if (doc)
        xmlFreeDoc(doc);
    s3_body_dispose(&body);
}

/* Without a rule of its own a bucket answers S3's default: SSE-S3, Bucket Keys off on
 * general purpose buckets and always on for directory buckets. */
void s3_get_bucket_encryption(struct s3_op *op)
{
    struct store_bucket b;
    enum qr_err e = store_bucket_get(op->reader, op->bucket, &b);
    if (e) {
        s3_fail(op, e);
        return;
    }
    bool bk = op->directory || strstr(b.sse_rule, " bk") != NULL;
    xml_begin(&op->body, "ServerSideEncryptionConfiguration", S3_NS);
    xml_open(&op->body, "Rule");
    xml_open(&op->body, "ApplyServerSideEncryptionByDefault");
    xml_elem_s(&op->body, "SSEAlgorithm", "AES256");
    xml_close(&op->body, "ApplyServerSideEncryptionByDefault");
    xml_elem_s(&op->body, "BucketKeyEnabled", bk ? "true" : "false");
    xml_close(&op->body, "Rule");
    xml_close(&op->body, "ServerSideEncryptionConfiguration");
}

/* S3 then applies its default (SSE-S3) again: 204. */
void s3_delete_bucket_encryption(struct s3_op *op)
{
    enum qr_err e = store_bucket_set_sse(op->store, op->bucket, "");
    if (e)
        s3_fail(op, e);
    else
        op->status = 204;
}
