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

/* Why an SSE-C header triple was refused, as S3 words it. */
struct key_refusal {
    int status;
    const char *code;
    char msg[200];
};

static bool refuse(struct key_refusal *r, int status, const char *code, const char *msg)
{
    r->status = status;
    r->code = code;
    snprintf(r->msg, sizeof(r->msg), "%s", msg);
    return false;
}

/* Parses one SSE-C header triple of ar. *present: any of the three was given. False with
 * *why filled on a missing, malformed or inconsistent one. Shared by the handlers and by
 * the choice made before a body streams, so both read the headers the same way. */
static bool customer_key_of(struct api_req *ar, bool directory, const char *prefix,
                            bool *present, struct store_sse *out, struct key_refusal *why)
{
    struct qr_slice alg, key, md5;
    char name[96];
    snprintf(name, sizeof(name), "%s%s", prefix, "algorithm");
    bool a = api_header(ar, name, &alg);
    snprintf(name, sizeof(name), "%s%s", prefix, "key");
    bool k = api_header(ar, name, &key);
    snprintf(name, sizeof(name), "%s%s", prefix, "key-md5");
    bool m = api_header(ar, name, &md5);
    *present = a || k || m;
    memset(out, 0, sizeof(*out));
    if (!*present)
        return true;
    if (directory)
        return refuse(why, 400, "InvalidArgument",
                      "Server Side Encryption with Customer provided keys is not supported for "
                      "directory buckets.");
    if (ar->req->scheme != &H2O_URL_SCHEME_HTTPS && !ar->server->cfg.sse_c_plain_http)
        return refuse(why, 400, "InvalidRequest",
                      "Requests specifying Server Side Encryption with Customer provided keys "
                      "must be made over a secure connection.");
    const char *missing = !a   ? "a valid encryption algorithm"
                          : !k ? "an appropriate secret key"
                          : !m ? "the client calculated MD5 of the secret key"
                               : NULL;
    if (missing) {
        refuse(why, 400, "InvalidArgument", "");
        snprintf(why->msg, sizeof(why->msg),
                 "Requests specifying Server Side Encryption with Customer provided keys must "
                 "provide %s.",
                 missing);
        return false;
    }
    if (!qr_slice_eq_lit(alg, "AES256"))
        return refuse(why, 400, "InvalidEncryptionAlgorithmError",
                      "The Encryption request you specified is not valid. Supported value: "
                      "AES256.");
    size_t kn = 0, mn = 0;
    uint8_t given_md5[16], calc[16];
    unsigned cn = 0;
    if (key.len > 64 || qr_b64_decode((const char *)key.p, key.len, out->key, 32, &kn) != QR_OK ||
        kn != 32) {
        OPENSSL_cleanse(out->key, sizeof(out->key));
        return refuse(why, 400, "InvalidArgument",
                      "The secret key was invalid for the specified algorithm.");
    }
    if (md5.len > 32 ||
        qr_b64_decode((const char *)md5.p, md5.len, given_md5, sizeof(given_md5), &mn) != QR_OK ||
        mn != 16 || EVP_Digest(out->key, 32, calc, &cn, EVP_md5(), NULL) != 1 ||
        CRYPTO_memcmp(calc, given_md5, 16) != 0) {
        OPENSSL_cleanse(out->key, sizeof(out->key));
        return refuse(why, 400, "InvalidArgument",
                      "The calculated MD5 hash of the key did not match the hash that was "
                      "provided.");
    }
    out->mode = STORE_SSE_C;
    memcpy(out->key_md5, calc, 16);
    return true;
}

/* customer_key_of for a handler: false with op failed. */
static bool customer_key(struct s3_op *op, const char *prefix, bool *present, struct store_sse *out)
{
    struct key_refusal why;
    if (customer_key_of(op->ar, op->directory, prefix, present, out, &why))
        return true;
    s3_fail_code(op, why.status, why.code, h2o_strdup(op->pool, why.msg, SIZE_MAX).base);
    return false;
}

/* SSE-KMS headers (key id, context, bucket key) mean KMS whatever else is sent. */
static bool kms_asked_ar(struct api_req *ar)
{
    struct qr_slice v;
    return api_header(ar, "x-amz-server-side-encryption-aws-kms-key-id", &v) ||
           api_header(ar, "x-amz-server-side-encryption-context", &v);
}

static bool kms_asked(struct s3_op *op)
{
    return kms_asked_ar(op->ar);
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

/* A presigned URL's authentication parameters: SigV4's X-Amz-*, SigV2's (boto3's
 * default for S3 presigning) and its x-amz-security-token. */
static bool presign_param(struct qr_slice n)
{
    static const char *const v2[] = {"AWSAccessKeyId", "Signature", "Expires",
                                     "x-amz-security-token"};
    if (qr_slice_starts(n, QR_SLICE_LIT("X-Amz-")))
        return true;
    for (size_t i = 0; i < sizeof(v2) / sizeof(*v2); i++)
        if (qr_slice_eq(n, qr_slice_cstr(v2[i])))
            return true;
    return false;
}

/* Whether the query is that of PutObject or UploadPart: nothing but the upload's two
 * parameters, presigned-URL authentication and x-id. */
bool s3_object_put_query(const struct api_req *ar, bool *out_part)
{
    size_t upload = 0;
    for (size_t i = 0; i < ar->n_params; i++) {
        struct qr_slice n = ar->params[i].name;
        if (qr_slice_eq_lit(n, "uploadId") || qr_slice_eq_lit(n, "partNumber"))
            upload++;
        else if (!presign_param(n) && !qr_slice_eq_lit(n, "x-id"))
            return false;
    }
    *out_part = upload == 2;
    return upload == 0 || upload == 2;
}

/* UploadPart: the upload's encryption, as s3_sse_for_part will find it. */
static bool stream_part_sse(struct api_req *ar, struct qr_slice bucket, struct qr_slice key,
                            struct store_sse *out)
{
    struct qr_slice id;
    struct store_upload_info u;
    bool c = out->mode == STORE_SSE_C;
    if (!api_param(ar, "uploadId", &id) ||
        store_mpu_get(ar->thread->reader, bucket, key, id, &ar->req->pool, &u) != QR_OK)
        return false; /* no such upload: the handler says so */
    if (c != (u.sse.mode == STORE_SSE_C) ||
        (c && CRYPTO_memcmp(out->key_md5, u.sse.key_md5, 16) != 0))
        return false; /* the handler refuses the mismatch */
    out->mode = u.sse.mode;
    return true;
}

bool s3_sse_for_stream(struct api_req *ar, struct store_sse *out)
{
    struct qr_slice bucket, key, v;
    struct key_refusal why;
    bool dir, part, c, have = api_header(ar, "x-amz-server-side-encryption", &v);
    memset(out, 0, sizeof(*out));
    /* other PUTs' bodies are parsed, not stored: they never stream */
    if (!s3_object_put_query(ar, &part) || api_header(ar, "x-amz-copy-source", &v) ||
        !s3_object_target(ar, &bucket, &key, &dir) || key.len == 0 || kms_asked_ar(ar))
        return false;
    if (!customer_key_of(ar, dir, SSE_C_PREFIX, &c, out, &why))
        return false;
    bool ok;
    if (part)
        ok = stream_part_sse(ar, bucket, key, out);
    else if (c)
        ok = !have; /* both: the handler refuses them */
    else if (have && !qr_slice_eq_lit(v, "AES256"))
        ok = false;
    else if (have || !ar->server->cfg.no_default_sse)
        ok = (out->mode = STORE_SSE_S3, true);
    else {
        struct store_bucket b;
        ok = store_bucket_get(ar->thread->reader, bucket, &b) == QR_OK;
        out->mode = ok && b.sse_rule[0] != '\0' ? STORE_SSE_S3 : STORE_SSE_NONE;
    }
    if (!ok)
        OPENSSL_cleanse(out, sizeof(*out));
    return ok;
}

bool s3_sse_stream_fits(struct s3_op *op, const struct store_sse *want)
{
    const struct api_streamed *sb = op->ar->streamed;
    if (sb == NULL)
        return true;
    if (sb->sse.mode == want->mode &&
        (want->mode != STORE_SSE_C || CRYPTO_memcmp(sb->sse.key_md5, want->key_md5, 16) == 0))
        return true;
    /* Changed since the body began (a bucket rule, an upload replaced): the blob holds
     * other ciphertext than this write wants; a retry streams it afresh. */
    s3_fail_code(op, 503, "SlowDown", "Please reduce your request rate.");
    return false;
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
