/*
 * routes.c - which S3 operation a request is, exactly. The table below is the botocore S3
 * model's requestUri of every operation (method, the sub-resource word in the query,
 * the parameters and the header that tell apart operations sharing a URI), plus the query
 * parameters each operation takes. A request is routed only when its sub-resource words
 * are exactly the route's and every other query parameter is one the operation takes;
 * anything else is refused (501 naming what was not understood), never carried out as a
 * plainer operation. The same table prints docs/s3.md's operation list (quarry
 * s3-operations), so the documentation cannot drift from the code.
 *
 * Headers that change what an operation means (encryption, object lock, ACL grants, ...)
 * are refused by a second table unless their value changes nothing in quarry.
 */
#include "api/s3/s3_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/names.h"

#define NONE NULL

/* Query parameters of operations (the model's location "querystring" members). */
static const char *const p_list_buckets[] = {"max-buckets",   "continuation-token",    "prefix",
                                             "bucket-region", "max-directory-buckets", NULL};
static const char *const p_list_v1[] = {"delimiter", "encoding-type", "marker",
                                        "max-keys",  "prefix",        NULL};
static const char *const p_list_v2[] = {
    "delimiter",   "encoding-type", "max-keys",           "prefix",
    "fetch-owner", "start-after",   "continuation-token", NULL};
static const char *const p_versions[] = {"delimiter", "encoding-type",     "key-marker", "max-keys",
                                         "prefix",    "version-id-marker", NULL};
static const char *const p_uploads[] = {
    "delimiter", "encoding-type", "key-marker", "max-uploads", "prefix", "upload-id-marker", NULL};
static const char *const p_get_object[] = {"response-cache-control",
                                           "response-content-disposition",
                                           "response-content-encoding",
                                           "response-content-language",
                                           "response-content-type",
                                           "response-expires",
                                           "versionId",
                                           "partNumber",
                                           NULL};
static const char *const p_list_parts[] = {"max-parts", "part-number-marker", NULL};
static const char *const p_version[] = {"versionId", NULL};
static const char *const p_token[] = {"continuation-token", NULL};
static const char *const p_select[] = {"select-type", NULL};

#define W   (S3_RUN_ON_WORKER | S3_WRITES)
#define VR  S3_VERSION_READ
#define VD  S3_VERSION_DELETE
#define GP  S3_GP_ONLY
#define SVC S3_ON_SERVICE
#define BKT S3_ON_BUCKET
#define OBJ S3_ON_OBJECT

/* First match wins among routes with the same words: the ones that need more come first.
 * fn NULL: the model has the operation, quarry does not (501 naming it). One operation per
 * entry reads better than clang-format's one field per line. */
/* clang-format off */
static const struct s3_route routes[] = {
    /* service */
    {"GET", SVC, NONE, NONE, {NONE}, NONE, p_list_buckets, "ListBuckets", "ListDirectoryBuckets",
     s3_list_buckets, 0},

    /* the S3 Object Lambda call, addressed by its own path */
    {"POST", BKT, NONE, NONE, {NONE}, NONE, NULL, "WriteGetObjectResponse", NONE, NULL,
     GP | S3_PATH_IS_OP},

    /* bucket, no sub-resource */
    {"HEAD", BKT, NONE, NONE, {NONE}, NONE, NULL, "HeadBucket", NONE, s3_head_bucket, 0},
    {"PUT", BKT, NONE, NONE, {NONE}, NONE, NULL, "CreateBucket", NONE, s3_create_bucket,
     W | S3_NO_BUCKET_CHECK},
    {"DELETE", BKT, NONE, NONE, {NONE}, NONE, NULL, "DeleteBucket", NONE, s3_delete_bucket, W},
    {"GET", BKT, NONE, NONE, {NONE}, NONE, p_list_v1, "ListObjects", NONE, s3_list_objects_v1, GP},

    /* bucket sub-resources quarry serves */
    {"GET", BKT, "list-type", "2", {NONE}, NONE, p_list_v2, "ListObjectsV2", NONE,
     s3_list_objects_v2, 0},
    {"GET", BKT, "session", NONE, {NONE}, NONE, NULL, "CreateSession", NONE, s3_create_session,
     S3_NO_BUCKET_CHECK},
    {"GET", BKT, "location", NONE, {NONE}, NONE, NULL, "GetBucketLocation", NONE,
     s3_get_bucket_location, 0},
    {"GET", BKT, "uploads", NONE, {NONE}, NONE, p_uploads, "ListMultipartUploads", NONE,
     s3_list_uploads, 0},
    {"GET", BKT, "versions", NONE, {NONE}, NONE, p_versions, "ListObjectVersions", NONE,
     s3_list_object_versions, GP},
    {"GET", BKT, "versioning", NONE, {NONE}, NONE, NULL, "GetBucketVersioning", NONE,
     s3_get_bucket_versioning, GP},
    {"PUT", BKT, "versioning", NONE, {NONE}, NONE, NULL, "PutBucketVersioning", NONE,
     s3_put_bucket_versioning, W | GP},
    {"POST", BKT, "delete", NONE, {NONE}, NONE, NULL, "DeleteObjects", NONE, s3_delete_objects, W},

    /* bucket sub-resources quarry does not serve */
    {"GET", BKT, "abac", NONE, {NONE}, NONE, NULL, "GetBucketAbac", NONE, NULL, 0},
    {"PUT", BKT, "abac", NONE, {NONE}, NONE, NULL, "PutBucketAbac", NONE, NULL, 0},
    {"GET", BKT, "accelerate", NONE, {NONE}, NONE, NULL, "GetBucketAccelerateConfiguration", NONE,
     NULL, GP},
    {"PUT", BKT, "accelerate", NONE, {NONE}, NONE, NULL, "PutBucketAccelerateConfiguration", NONE,
     NULL, GP},
    {"GET", BKT, "acl", NONE, {NONE}, NONE, NULL, "GetBucketAcl", NONE, NULL, GP},
    {"PUT", BKT, "acl", NONE, {NONE}, NONE, NULL, "PutBucketAcl", NONE, NULL, 0},
    {"DELETE", BKT, "analytics", NONE, {"id"}, NONE, NULL, "DeleteBucketAnalyticsConfiguration",
     NONE, NULL, GP},
    {"GET", BKT, "analytics", NONE, {"id"}, NONE, NULL, "GetBucketAnalyticsConfiguration", NONE,
     NULL, GP},
    {"GET", BKT, "analytics", NONE, {NONE}, NONE, p_token, "ListBucketAnalyticsConfigurations",
     NONE, NULL, GP},
    {"PUT", BKT, "analytics", NONE, {"id"}, NONE, NULL, "PutBucketAnalyticsConfiguration", NONE,
     NULL, GP},
    {"DELETE", BKT, "cors", NONE, {NONE}, NONE, NULL, "DeleteBucketCors", NONE, NULL, GP},
    {"GET", BKT, "cors", NONE, {NONE}, NONE, NULL, "GetBucketCors", NONE, NULL, GP},
    {"PUT", BKT, "cors", NONE, {NONE}, NONE, NULL, "PutBucketCors", NONE, NULL, GP},
    {"DELETE", BKT, "encryption", NONE, {NONE}, NONE, NULL, "DeleteBucketEncryption", NONE,
     s3_delete_bucket_encryption, W},
    {"GET", BKT, "encryption", NONE, {NONE}, NONE, NULL, "GetBucketEncryption", NONE,
     s3_get_bucket_encryption, 0},
    {"PUT", BKT, "encryption", NONE, {NONE}, NONE, NULL, "PutBucketEncryption", NONE,
     s3_put_bucket_encryption, W},
    {"DELETE", BKT, "intelligent-tiering", NONE, {"id"}, NONE, NULL,
     "DeleteBucketIntelligentTieringConfiguration", NONE, NULL, GP},
    {"GET", BKT, "intelligent-tiering", NONE, {"id"}, NONE, NULL,
     "GetBucketIntelligentTieringConfiguration", NONE, NULL, GP},
    {"GET", BKT, "intelligent-tiering", NONE, {NONE}, NONE, p_token,
     "ListBucketIntelligentTieringConfigurations", NONE, NULL, GP},
    {"PUT", BKT, "intelligent-tiering", NONE, {"id"}, NONE, NULL,
     "PutBucketIntelligentTieringConfiguration", NONE, NULL, GP},
    {"DELETE", BKT, "inventory", NONE, {"id"}, NONE, NULL, "DeleteBucketInventoryConfiguration",
     NONE, NULL, 0},
    {"GET", BKT, "inventory", NONE, {"id"}, NONE, NULL, "GetBucketInventoryConfiguration", NONE,
     NULL, 0},
    {"GET", BKT, "inventory", NONE, {NONE}, NONE, p_token, "ListBucketInventoryConfigurations",
     NONE, NULL, 0},
    {"PUT", BKT, "inventory", NONE, {"id"}, NONE, NULL, "PutBucketInventoryConfiguration", NONE,
     NULL, 0},
    {"DELETE", BKT, "lifecycle", NONE, {NONE}, NONE, NULL, "DeleteBucketLifecycle", NONE, NULL, 0},
    {"GET", BKT, "lifecycle", NONE, {NONE}, NONE, NULL, "GetBucketLifecycleConfiguration",
     "GetBucketLifecycle", NULL, 0},
    {"PUT", BKT, "lifecycle", NONE, {NONE}, NONE, NULL, "PutBucketLifecycleConfiguration",
     "PutBucketLifecycle", NULL, S3_ALSO_GP_ONLY},
    {"GET", BKT, "logging", NONE, {NONE}, NONE, NULL, "GetBucketLogging", NONE, NULL, GP},
    {"PUT", BKT, "logging", NONE, {NONE}, NONE, NULL, "PutBucketLogging", NONE, NULL, 0},
    {"DELETE", BKT, "metadataConfiguration", NONE, {NONE}, NONE, NULL,
     "DeleteBucketMetadataConfiguration", NONE, NULL, 0},
    {"GET", BKT, "metadataConfiguration", NONE, {NONE}, NONE, NULL,
     "GetBucketMetadataConfiguration", NONE, NULL, 0},
    {"POST", BKT, "metadataConfiguration", NONE, {NONE}, NONE, NULL,
     "CreateBucketMetadataConfiguration", NONE, NULL, 0},
    {"PUT", BKT, "metadataInventoryTable", NONE, {NONE}, NONE, NULL,
     "UpdateBucketMetadataInventoryTableConfiguration", NONE, NULL, 0},
    {"PUT", BKT, "metadataJournalTable", NONE, {NONE}, NONE, NULL,
     "UpdateBucketMetadataJournalTableConfiguration", NONE, NULL, 0},
    {"DELETE", BKT, "metadataTable", NONE, {NONE}, NONE, NULL,
     "DeleteBucketMetadataTableConfiguration", NONE, NULL, 0},
    {"GET", BKT, "metadataTable", NONE, {NONE}, NONE, NULL, "GetBucketMetadataTableConfiguration",
     NONE, NULL, 0},
    {"POST", BKT, "metadataTable", NONE, {NONE}, NONE, NULL,
     "CreateBucketMetadataTableConfiguration", NONE, NULL, 0},
    {"DELETE", BKT, "metrics", NONE, {"id"}, NONE, NULL, "DeleteBucketMetricsConfiguration", NONE,
     NULL, 0},
    {"GET", BKT, "metrics", NONE, {"id"}, NONE, NULL, "GetBucketMetricsConfiguration", NONE, NULL, 0},
    {"GET", BKT, "metrics", NONE, {NONE}, NONE, p_token, "ListBucketMetricsConfigurations", NONE,
     NULL, 0},
    {"PUT", BKT, "metrics", NONE, {"id"}, NONE, NULL, "PutBucketMetricsConfiguration", NONE, NULL, 0},
    {"GET", BKT, "notification", NONE, {NONE}, NONE, NULL, "GetBucketNotificationConfiguration",
     "GetBucketNotification", NULL, GP | S3_ALSO_GP_ONLY},
    {"PUT", BKT, "notification", NONE, {NONE}, NONE, NULL, "PutBucketNotificationConfiguration",
     "PutBucketNotification", NULL, GP | S3_ALSO_GP_ONLY},
    {"GET", BKT, "object-lock", NONE, {NONE}, NONE, NULL, "GetObjectLockConfiguration", NONE,
     s3_get_object_lock_config, GP},
    {"PUT", BKT, "object-lock", NONE, {NONE}, NONE, NULL, "PutObjectLockConfiguration", NONE,
     s3_put_object_lock_config, W | GP},
    {"DELETE", BKT, "ownershipControls", NONE, {NONE}, NONE, NULL, "DeleteBucketOwnershipControls",
     NONE, NULL, GP},
    {"GET", BKT, "ownershipControls", NONE, {NONE}, NONE, NULL, "GetBucketOwnershipControls", NONE,
     NULL, GP},
    {"PUT", BKT, "ownershipControls", NONE, {NONE}, NONE, NULL, "PutBucketOwnershipControls", NONE,
     NULL, GP},
    {"DELETE", BKT, "policy", NONE, {NONE}, NONE, NULL, "DeleteBucketPolicy", NONE,
     s3_delete_bucket_policy, W},
    {"GET", BKT, "policy", NONE, {NONE}, NONE, NULL, "GetBucketPolicy", NONE, s3_get_bucket_policy,
     0},
    {"PUT", BKT, "policy", NONE, {NONE}, NONE, NULL, "PutBucketPolicy", NONE, s3_put_bucket_policy,
     W},
    {"GET", BKT, "policyStatus", NONE, {NONE}, NONE, NULL, "GetBucketPolicyStatus", NONE, NULL, GP},
    {"DELETE", BKT, "publicAccessBlock", NONE, {NONE}, NONE, NULL, "DeletePublicAccessBlock", NONE,
     NULL, GP},
    {"GET", BKT, "publicAccessBlock", NONE, {NONE}, NONE, NULL, "GetPublicAccessBlock", NONE, NULL,
     GP},
    {"PUT", BKT, "publicAccessBlock", NONE, {NONE}, NONE, NULL, "PutPublicAccessBlock", NONE, NULL,
     GP},
    {"DELETE", BKT, "replication", NONE, {NONE}, NONE, NULL, "DeleteBucketReplication", NONE, NULL,
     GP},
    {"GET", BKT, "replication", NONE, {NONE}, NONE, NULL, "GetBucketReplication", NONE, NULL, GP},
    {"PUT", BKT, "replication", NONE, {NONE}, NONE, NULL, "PutBucketReplication", NONE, NULL, GP},
    {"GET", BKT, "requestPayment", NONE, {NONE}, NONE, NULL, "GetBucketRequestPayment", NONE, NULL,
     GP},
    {"PUT", BKT, "requestPayment", NONE, {NONE}, NONE, NULL, "PutBucketRequestPayment", NONE, NULL,
     GP},
    {"DELETE", BKT, "tagging", NONE, {NONE}, NONE, NULL, "DeleteBucketTagging", NONE, NULL, GP},
    {"GET", BKT, "tagging", NONE, {NONE}, NONE, NULL, "GetBucketTagging", NONE, NULL, GP},
    {"PUT", BKT, "tagging", NONE, {NONE}, NONE, NULL, "PutBucketTagging", NONE, NULL, GP},
    {"DELETE", BKT, "website", NONE, {NONE}, NONE, NULL, "DeleteBucketWebsite", NONE, NULL, GP},
    {"GET", BKT, "website", NONE, {NONE}, NONE, NULL, "GetBucketWebsite", NONE, NULL, GP},
    {"PUT", BKT, "website", NONE, {NONE}, NONE, NULL, "PutBucketWebsite", NONE, NULL, GP},

    /* object, no sub-resource */
    {"PUT", OBJ, NONE, NONE, {"partNumber", "uploadId"}, "x-amz-copy-source", NULL,
     "UploadPartCopy", NONE, s3_upload_part_copy, W},
    {"PUT", OBJ, NONE, NONE, {"partNumber", "uploadId"}, NONE, NULL, "UploadPart", NONE,
     s3_upload_part, W},
    {"PUT", OBJ, NONE, NONE, {NONE}, "x-amz-copy-source", NULL, "CopyObject", NONE,
     s3_copy_object, W},
    {"PUT", OBJ, NONE, NONE, {NONE}, NONE, NULL, "PutObject", NONE, s3_put_object, W},
    {"GET", OBJ, NONE, NONE, {"uploadId"}, NONE, p_list_parts, "ListParts", NONE, s3_list_parts,
     0},
    {"GET", OBJ, NONE, NONE, {NONE}, NONE, p_get_object, "GetObject", NONE, s3_get_object, VR},
    {"HEAD", OBJ, NONE, NONE, {NONE}, NONE, p_get_object, "HeadObject", NONE, s3_get_object, VR},
    {"POST", OBJ, NONE, NONE, {"uploadId"}, NONE, NULL, "CompleteMultipartUpload", NONE,
     s3_complete_mpu, W},
    {"DELETE", OBJ, NONE, NONE, {"uploadId"}, NONE, NULL, "AbortMultipartUpload", NONE,
     s3_abort_mpu, W},
    {"DELETE", OBJ, NONE, NONE, {NONE}, NONE, p_version, "DeleteObject", NONE, s3_delete_object,
     W | VD},

    /* object sub-resources */
    {"POST", OBJ, "uploads", NONE, {NONE}, NONE, NULL, "CreateMultipartUpload", NONE,
     s3_create_mpu, W},
    {"GET", OBJ, "tagging", NONE, {NONE}, NONE, p_version, "GetObjectTagging", NONE,
     s3_get_object_tagging, GP | VR},
    {"PUT", OBJ, "tagging", NONE, {NONE}, NONE, p_version, "PutObjectTagging", NONE,
     s3_put_object_tagging, W | GP | VR},
    {"DELETE", OBJ, "tagging", NONE, {NONE}, NONE, p_version, "DeleteObjectTagging", NONE,
     s3_delete_object_tagging, W | GP | VR},
    {"GET", OBJ, "acl", NONE, {NONE}, NONE, p_version, "GetObjectAcl", NONE, NULL, GP},
    {"PUT", OBJ, "acl", NONE, {NONE}, NONE, p_version, "PutObjectAcl", NONE, NULL, 0},
    {"GET", OBJ, "attributes", NONE, {NONE}, NONE, p_version, "GetObjectAttributes", NONE, NULL, 0},
    {"PUT", OBJ, "encryption", NONE, {NONE}, NONE, p_version, "UpdateObjectEncryption", NONE, NULL,
     GP},
    {"GET", OBJ, "legal-hold", NONE, {NONE}, NONE, p_version, "GetObjectLegalHold", NONE,
     s3_get_object_legal_hold, GP | VR},
    {"PUT", OBJ, "legal-hold", NONE, {NONE}, NONE, p_version, "PutObjectLegalHold", NONE,
     s3_put_object_legal_hold, W | GP | VR},
    {"PUT", OBJ, "renameObject", NONE, {NONE}, NONE, NULL, "RenameObject", NONE, NULL, 0},
    {"POST", OBJ, "restore", NONE, {NONE}, NONE, p_version, "RestoreObject", NONE, NULL, GP},
    {"GET", OBJ, "retention", NONE, {NONE}, NONE, p_version, "GetObjectRetention", NONE,
     s3_get_object_retention, GP | VR},
    {"PUT", OBJ, "retention", NONE, {NONE}, NONE, p_version, "PutObjectRetention", NONE,
     s3_put_object_retention, W | GP | VR},
    {"POST", OBJ, "select", NONE, {NONE}, NONE, p_select, "SelectObjectContent", NONE, NULL, GP},
    {"GET", OBJ, "torrent", NONE, {NONE}, NONE, NULL, "GetObjectTorrent", NONE, NULL, GP},
};
/* clang-format on */

#undef W
#undef VR
#undef VD
#undef GP
#undef SVC
#undef BKT
#undef OBJ

#define N_ROUTES (sizeof(routes) / sizeof(*routes))

/* Parameters of authentication and of SDK bookkeeping that belong to no operation. The
 * JavaScript presigner hoists x-amz-* headers into the query; these two only ask for
 * checksum headers in the answer or name the algorithm of a checksum sent elsewhere, so
 * leaving them unread changes nothing stored. Any other hoisted header is refused. */
static const char *const global_params[] = {
    "x-id",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
    "x-amz-security-token",
    "X-Amz-S3session-Token",
    "X-Amz-Content-Sha256",
    "x-amz-checksum-mode",
    "x-amz-sdk-checksum-algorithm",
};

static bool in_list(const char *const *list, struct qr_slice name)
{
    for (size_t i = 0; list && list[i]; i++)
        if (qr_slice_eq_lit(name, list[i]))
            return true;
    return false;
}

static bool is_global(struct qr_slice name)
{
    for (size_t i = 0; i < sizeof(global_params) / sizeof(*global_params); i++)
        if (qr_slice_ieq_lit(name, global_params[i]))
            return true;
    return false;
}

/* The sub-resource words of the table, each once, ordered by length then bytes: every
 * query parameter of every request is looked up here (a presigned GET has six). */
static struct qr_slice words[N_ROUTES];
static size_t n_words;
static pthread_once_t words_once = PTHREAD_ONCE_INIT;

static int word_cmp(struct qr_slice a, struct qr_slice b)
{
    if (a.len != b.len)
        return a.len < b.len ? -1 : 1;
    return a.len ? memcmp(a.p, b.p, a.len) : 0;
}

static int word_qsort_cmp(const void *a, const void *b)
{
    return word_cmp(*(const struct qr_slice *)a, *(const struct qr_slice *)b);
}

static void words_build(void)
{
    size_t n = 0;
    for (size_t i = 0; i < N_ROUTES; i++)
        if (routes[i].sub)
            words[n++] = qr_slice_cstr(routes[i].sub);
    qsort(words, n, sizeof(*words), word_qsort_cmp);
    n_words = 0;
    for (size_t i = 0; i < n; i++)
        if (n_words == 0 || word_cmp(words[n_words - 1], words[i]) != 0)
            words[n_words++] = words[i];
}

/* A sub-resource word is one that some operation's requestUri names. */
static bool is_word(struct qr_slice name)
{
    pthread_once(&words_once, words_build);
    size_t lo = 0, hi = n_words;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = word_cmp(name, words[mid]);
        if (c == 0)
            return true;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

static bool takes_param(const struct s3_route *r, struct qr_slice name)
{
    if (r->sub && qr_slice_eq_lit(name, r->sub))
        return true;
    for (size_t i = 0; i < 2 && r->need[i]; i++)
        if (qr_slice_eq_lit(name, r->need[i]))
            return true;
    return in_list(r->params, name) || is_global(name);
}

static bool route_matches(const struct s3_route *r, const struct s3_op *op, struct qr_slice method,
                          enum s3_scope scope, const struct qr_slice *word)
{
    if (r->scope != scope || !qr_slice_eq_lit(method, r->method))
        return false;
    if ((r->flags & S3_PATH_IS_OP) && !qr_slice_eq_lit(op->bucket, r->op))
        return false;
    if (word ? !r->sub || !qr_slice_eq_lit(*word, r->sub) : r->sub != NULL)
        return false;
    for (size_t i = 0; i < 2 && r->need[i]; i++)
        if (!api_has_param(op->ar, r->need[i]))
            return false;
    struct qr_slice v;
    return !r->header || api_header(op->ar, r->header, &v);
}

/* A client's name for an error message: at most 64 bytes, anything but printable ASCII
 * shown as '?', so the XML stays well-formed UTF-8 whatever was sent. */
static const char *shown(struct qr_slice in, char out[65])
{
    size_t n = in.len > 64 ? 64 : in.len;
    for (size_t i = 0; i < n; i++)
        out[i] = in.p[i] >= 0x20 && in.p[i] < 0x7f ? (char)in.p[i] : '?';
    out[n] = '\0';
    return out;
}

static void refuse(struct s3_route_refusal *out, int status, const char *code)
{
    out->status = status;
    out->code = code;
}

bool s3_route_find(struct s3_op *op, struct qr_slice method, struct s3_route_refusal *out)
{
    struct api_req *ar = op->ar;
    enum s3_scope scope = op->bucket.len == 0 ? S3_ON_SERVICE
                          : op->key.len == 0  ? S3_ON_BUCKET
                                              : S3_ON_OBJECT;
    const struct qr_slice *word = NULL;
    char nbuf[65];
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < ar->n_params; i++) {
        struct qr_slice n = ar->params[i].name;
        for (size_t j = 0; j < i; j++) {
            if (qr_slice_eq(n, ar->params[j].name)) {
                refuse(out, 400, "InvalidArgument");
                snprintf(out->msg, sizeof(out->msg), "The query parameter %s is repeated.",
                         shown(n, nbuf));
                return false;
            }
        }
        if (!is_word(n))
            continue;
        if (word) {
            refuse(out, 501, "NotImplemented");
            snprintf(out->msg, sizeof(out->msg),
                     "A request with both ?%.*s and ?%.*s names no operation quarry implements.",
                     (int)word->len, (const char *)word->p, (int)n.len, (const char *)n.p);
            return false;
        }
        word = &ar->params[i].name;
    }
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (route_matches(&routes[i], op, method, scope, word)) {
            op->route = &routes[i];
            break;
        }
    }
    static const char *const scope_name[] = {"the service", "a bucket", "an object"};
    if (!op->route) {
        refuse(out, 501, "NotImplemented");
        snprintf(out->msg, sizeof(out->msg),
                 "%s on %s%s%.*s is not an operation quarry implements.", shown(method, nbuf),
                 scope_name[scope], word ? " with ?" : "", word ? (int)word->len : 0,
                 word ? (const char *)word->p : "");
        return false;
    }
    const struct s3_route *r = op->route;
    for (size_t i = 0; i < ar->n_params; i++) {
        struct qr_slice n = ar->params[i].name;
        if (takes_param(r, n))
            continue;
        refuse(out, 501, "NotImplemented");
        snprintf(out->msg, sizeof(out->msg),
                 "The query parameter %s is not one %s takes; quarry does not guess what it "
                 "means.",
                 shown(n, nbuf), r->op);
        return false;
    }
    struct qr_slice v;
    if (r->sub_value && (!api_param(ar, r->sub, &v) || !qr_slice_eq_lit(v, r->sub_value))) {
        refuse(out, 400, "InvalidArgument");
        snprintf(out->msg, sizeof(out->msg), "Invalid value for %s: only %s is supported.", r->sub,
                 r->sub_value);
        return false;
    }
    /* x-id names the operation the SDK meant: a disagreement means a request we misread. */
    if (api_param(ar, "x-id", &v) && !qr_slice_eq_lit(v, r->op) &&
        !(r->also && qr_slice_eq_lit(v, r->also))) {
        refuse(out, 501, "NotImplemented");
        snprintf(out->msg, sizeof(out->msg), "x-id=%s does not name %s, which this request is.",
                 shown(v, nbuf), r->op);
        return false;
    }
    return true;
}

/* ---- headers that change what an operation means ---- */

enum hdr_match {
    HDR_EXACT,
    HDR_PREFIX,
};

/* A header quarry refuses unless its value changes nothing here. */
struct hdr_rule {
    const char *name; /* lower-case name, or its prefix */
    enum hdr_match match;
    const char *const *noop;  /* values that change nothing in quarry (case-insensitive) */
    const char *const *valid; /* values S3 knows; others get 400 InvalidArgument. NULL: any */
    bool owner;               /* the value must be quarry's account id, else 403 */
    const char *why;          /* what quarry lacks, for the 501 message */
    s3_fn dir_fn;             /* the handler that takes it on directory buckets, or NULL */
};

static const char *const v_false[] = {"false", NULL};
static const char *const v_bool[] = {"true", "false", NULL};
/* Objects always belong to the bucket owner (one account, BucketOwnerEnforced), so
 * bucket-owner-full-control grants exactly what private does. */
static const char *const v_acl_noop[] = {"private", "bucket-owner-full-control", NULL};
static const char *const v_acl[] = {"private",
                                    "public-read",
                                    "public-read-write",
                                    "authenticated-read",
                                    "aws-exec-read",
                                    "bucket-owner-read",
                                    "bucket-owner-full-control",
                                    "log-delivery-write",
                                    NULL};
static const char *const v_sse[] = {"AES256", "aws:kms", "aws:kms:dsse", NULL};
static const char *const v_ownership[] = {"BucketOwnerEnforced", NULL};
static const char *const v_requester[] = {"requester", NULL};
static const char *const v_namespace_noop[] = {"global", NULL};
static const char *const v_namespace[] = {"global", "account-regional", NULL};
/* The checksum algorithms body.c verifies; the model has more (SHA512, MD5, XXHASH*),
 * which would otherwise be stored unverified. */
static const char *const v_ck_algs[] = {"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", NULL};
static const char *const v_ck_trailers[] = {"x-amz-checksum-crc32",     "x-amz-checksum-crc32c",
                                            "x-amz-checksum-crc64nvme", "x-amz-checksum-sha1",
                                            "x-amz-checksum-sha256",    NULL};

/* Who takes the encryption headers (sse.c reads them; KMS ones are refused there). */
static const s3_fn sse_writers[] = {s3_put_object, s3_copy_object, s3_create_mpu, NULL};
static const s3_fn sse_c_users[] = {s3_put_object, s3_copy_object,      s3_create_mpu,
                                    s3_upload_part, s3_upload_part_copy, s3_get_object,
                                    s3_complete_mpu, NULL};
static const s3_fn sse_c_copiers[] = {s3_copy_object, s3_upload_part_copy, NULL};

/* Rules whose headers some handlers take on both bucket types, checking the value
 * themselves (the rule's valid list still applies first). */
static const struct {
    const char *name; /* a hdr_rule's name */
    const s3_fn *fns; /* NULL-terminated */
} hdr_takers[] = {
    {"x-amz-server-side-encryption", sse_writers},
    {"x-amz-server-side-encryption-", sse_c_users},
    {"x-amz-copy-source-server-side-encryption-", sse_c_copiers},
};

static const struct hdr_rule hdr_rules[] = {
    {"x-amz-server-side-encryption-bucket-key-enabled", HDR_EXACT, v_false, v_bool, false,
     "S3 Bucket Keys (SSE-KMS)", NULL},
    {"x-amz-server-side-encryption", HDR_EXACT, NULL, v_sse, false,
     "server-side encryption on this operation", NULL},
    {"x-amz-server-side-encryption-", HDR_PREFIX, NULL, NULL, false,
     "server-side encryption headers on this operation", NULL},
    {"x-amz-copy-source-server-side-encryption-", HDR_PREFIX, NULL, NULL, false,
     "copy-source encryption headers on this operation", NULL},
    {"x-amz-object-lock-", HDR_PREFIX, NULL, NULL, false, "Object Lock", NULL},
    {"x-amz-bucket-object-lock-enabled", HDR_EXACT, v_false, v_bool, false, "Object Lock", NULL},
    {"x-amz-bucket-object-lock-token", HDR_EXACT, NULL, NULL, false,
     "Object Lock tokens (S3 Replication)", NULL},
    {"x-amz-acl", HDR_EXACT, v_acl_noop, v_acl, false, "access control lists", NULL},
    {"x-amz-grant-", HDR_PREFIX, NULL, NULL, false, "access control lists", NULL},
    {"x-amz-object-ownership", HDR_EXACT, v_ownership, NULL, false,
     "object ownership other than BucketOwnerEnforced", NULL},
    {"x-amz-website-redirect-location", HDR_EXACT, NULL, NULL, false, "static website hosting",
     NULL},
    {"x-amz-mfa", HDR_EXACT, NULL, NULL, false, "MFA delete", NULL},
    /* Requester Pays is never enabled on a quarry bucket, and S3 ignores the header on
     * buckets without it: the bucket owner pays, nothing else changes. */
    {"x-amz-request-payer", HDR_EXACT, v_requester, v_requester, false, "Requester Pays", NULL},
    /* Read by the handlers that delete or change retention; elsewhere it changes nothing. */
    {"x-amz-bypass-governance-retention", HDR_EXACT, v_bool, v_bool, false, "Object Lock", NULL},
    {"x-amz-write-offset-bytes", HDR_EXACT, NULL, NULL, false, "appends to objects", NULL},
    /* S3 has these on directory buckets only (model: DeleteObject). */
    {"x-amz-if-match-size", HDR_EXACT, NULL, NULL, false,
     "delete conditions on size outside DeleteObject on directory buckets", s3_delete_object},
    {"x-amz-if-match-last-modified-time", HDR_EXACT, NULL, NULL, false,
     "delete conditions on time outside DeleteObject on directory buckets", s3_delete_object},
    {"x-amz-if-match-initiated-time", HDR_EXACT, NULL, NULL, false,
     "abort conditions outside AbortMultipartUpload on directory buckets", s3_abort_mpu},
    {"x-amz-bucket-namespace", HDR_EXACT, v_namespace_noop, v_namespace, false,
     "account-regional bucket namespaces", NULL},
    {"x-amz-sdk-checksum-algorithm", HDR_EXACT, v_ck_algs, NULL, false, "this checksum algorithm",
     NULL},
    {"x-amz-checksum-algorithm", HDR_EXACT, v_ck_algs, NULL, false, "this checksum algorithm",
     NULL},
    {"x-amz-trailer", HDR_EXACT, v_ck_trailers, NULL, false, "this trailing checksum", NULL},
    {"x-amz-checksum-sha512", HDR_EXACT, NULL, NULL, false, "SHA512 checksums", NULL},
    {"x-amz-checksum-md5", HDR_EXACT, NULL, NULL, false, "MD5 flexible checksums", NULL},
    {"x-amz-checksum-xxhash", HDR_PREFIX, NULL, NULL, false, "XXHASH checksums", NULL},
    {"x-amz-expected-bucket-owner", HDR_EXACT, NULL, NULL, true, NULL, NULL},
    {"x-amz-source-expected-bucket-owner", HDR_EXACT, NULL, NULL, true, NULL, NULL},
};

/* Rules whose headers some handlers take on general purpose buckets (Object Lock: those
 * writes check the bucket has it, lock.c); elsewhere the rule above applies. */
static const struct {
    const char *rule;
    s3_fn fn[3];
} gp_takes[] = {
    {"x-amz-object-lock-", {s3_put_object, s3_copy_object, s3_create_mpu}},
    {"x-amz-bucket-object-lock-enabled", {s3_create_bucket}},
};

static bool gp_taken(const struct s3_op *op, const struct hdr_rule *r)
{
    for (size_t i = 0; i < sizeof(gp_takes) / sizeof(*gp_takes) && !op->directory; i++) {
        if (strcmp(gp_takes[i].rule, r->name) != 0)
            continue;
        for (size_t j = 0; j < 3; j++)
            if (gp_takes[i].fn[j] && gp_takes[i].fn[j] == op->route->fn)
                return true;
    }
    return false;
}

static bool value_in(const char *const *list, struct qr_slice v)
{
    for (size_t i = 0; list && list[i]; i++)
        if (qr_slice_ieq_lit(v, list[i]))
            return true;
    return false;
}

static bool fn_in(const s3_fn *list, s3_fn fn)
{
    for (size_t i = 0; list && list[i]; i++)
        if (list[i] == fn)
            return true;
    return false;
}

static bool taken_by(const struct hdr_rule *r, s3_fn fn)
{
    for (size_t i = 0; i < sizeof(hdr_takers) / sizeof(*hdr_takers); i++)
        if (strcmp(hdr_takers[i].name, r->name) == 0)
            return fn_in(hdr_takers[i].fns, fn);
    return false;
}

static const struct hdr_rule *rule_for(struct qr_slice name)
{
    for (size_t i = 0; i < sizeof(hdr_rules) / sizeof(*hdr_rules); i++) {
        const struct hdr_rule *r = &hdr_rules[i];
        struct qr_slice rn = qr_slice_cstr(r->name);
        if (r->match == HDR_EXACT ? qr_slice_ieq(name, rn)
                                  : name.len > rn.len && qr_slice_ieq(qr_slice(name.p, rn.len), rn))
            return r;
    }
    return NULL;
}

bool s3_route_headers_ok(struct s3_op *op, struct s3_route_refusal *out)
{
    const h2o_headers_t *h = &op->ar->req->headers;
    const char *account = op->ar->server->cfg.account_id;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < h->size; i++) {
        struct qr_slice n = qr_slice(h->entries[i].name->base, h->entries[i].name->len);
        struct qr_slice v = qr_slice(h->entries[i].value.base, h->entries[i].value.len);
        const struct hdr_rule *r = rule_for(n);
        if (!r)
            continue;
        char nbuf[65];
        if (r->owner) {
            if (qr_slice_eq(v, qr_slice_cstr(account)))
                continue;
            refuse(out, 403, "AccessDenied");
            snprintf(out->msg, sizeof(out->msg), "Access Denied");
            return false;
        }
        if (value_in(r->noop, v) || (r->dir_fn && op->directory && op->route->fn == r->dir_fn))
            continue;
        if (gp_taken(op, r) && (!r->valid || value_in(r->valid, v)))
            continue;
        if (r->valid && !value_in(r->valid, v)) {
            refuse(out, 400, "InvalidArgument");
            snprintf(out->msg, sizeof(out->msg), "Invalid value for header %s.", shown(n, nbuf));
            return false;
        }
        if (taken_by(r, op->route->fn))
            continue;
        refuse(out, 501, "NotImplemented");
        snprintf(out->msg, sizeof(out->msg),
                 "A header you provided implies functionality that is not implemented: %s "
                 "(quarry has no %s).",
                 shown(n, nbuf), r->why);
        return false;
    }
    return true;
}

/* ---- version ids ---- */

/* The form of the version ids S3 hands out: 32 characters of [A-Za-z0-9._]. Anything else
 * is "Invalid version id specified" there, whether or not such a version exists. */
static bool version_id_wellformed(struct qr_slice v)
{
    if (v.len != 32)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        uint8_t c = v.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_'))
            return false;
    }
    return true;
}

enum s3_version_verdict s3_route_version(struct s3_op *op, struct s3_route_refusal *out)
{
    struct qr_slice v;
    memset(out, 0, sizeof(*out));
    if (!(op->route->flags & (S3_VERSION_READ | S3_VERSION_DELETE)) ||
        !api_param(op->ar, "versionId", &v) || qr_slice_eq_lit(v, "null"))
        return S3_VERSION_CURRENT;
    /* Directory buckets have no versioning: the null version is the only one there is.
     * Elsewhere a well-formed id goes to the handler, which asks the store for it. */
    if (op->directory || !version_id_wellformed(v)) {
        refuse(out, 400, "InvalidArgument");
        snprintf(out->msg, sizeof(out->msg), "Invalid version id specified");
        return S3_VERSION_REFUSED;
    }
    return S3_VERSION_CURRENT;
}

bool s3_version_id_wellformed(struct qr_slice v)
{
    return version_id_wellformed(v);
}

/* ---- the documentation table ---- */

static void print_state(FILE *f, const struct s3_route *r, bool dir, bool gp_only)
{
    if (dir && gp_only)
        fputs(" NotImplemented (S3 has none) |", f);
    else if (!r->fn)
        fputs(" NotImplemented |", f);
    else
        fputs(" implemented |", f);
}

static void print_row(FILE *f, const struct s3_route *r, const char *name)
{
    unsigned gp = r->also && strcmp(name, r->also) == 0 ? S3_ALSO_GP_ONLY : S3_GP_ONLY;
    bool gp_only = (r->flags & gp) != 0;
    fprintf(f, "| %s | `%s /%s%s%s%s%s` |", name, r->method,
            r->flags & S3_PATH_IS_OP    ? r->op
            : r->scope == S3_ON_SERVICE ? ""
                                        : "{Bucket}",
            r->scope == S3_ON_OBJECT ? "/{Key+}" : "", r->sub ? "?" : "", r->sub ? r->sub : "",
            r->sub_value ? "=2" : "");
    print_state(f, r, false, gp_only);
    print_state(f, r, true, gp_only);
    fputc('\n', f);
}

struct doc_row {
    const char *name;
    const struct s3_route *r;
};

static int doc_row_cmp(const void *a, const void *b)
{
    return strcmp(((const struct doc_row *)a)->name, ((const struct doc_row *)b)->name);
}

void s3_routes_print(FILE *f)
{
    struct doc_row rows[2 * N_ROUTES];
    size_t n = 0;
    for (size_t i = 0; i < N_ROUTES; i++) {
        rows[n++] = (struct doc_row){routes[i].op, &routes[i]};
        if (routes[i].also)
            rows[n++] = (struct doc_row){routes[i].also, &routes[i]};
    }
    qsort(rows, n, sizeof(*rows), doc_row_cmp);
    fputs("| operation | request | general purpose bucket | directory bucket |\n"
          "|---|---|---|---|\n",
          f);
    for (size_t i = 0; i < n; i++)
        print_row(f, rows[i].r, rows[i].name);
}
