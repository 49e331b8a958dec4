/*
 * s3_int.h - shared by the files of src/api/s3/ only: one S3 operation in flight (struct s3_op),
 * the route table's handler type and the helpers handlers share.
 *
 * An operation is decoded on the loop thread, run by its handler either there (reads:
 * index lookups with LIMIT) or on a worker (anything that writes or hashes a body), and
 * finished on the loop thread: s3_finish sends what the handler left in the op.
 * A handler never sends; it fills status, headers, body or an error.
 */
#ifndef QR_API_S3_INT_H
#define QR_API_S3_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "api/s3/s3.h"
#include "server.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/checksum.h"

#define S3_NS               "http://s3.amazonaws.com/doc/2006-03-01/"
#define S3_MAX_RESP_HEADERS 48
#define S3_MAX_XML_OUT      (8u * 1024u * 1024u) /* a 1000-key page of 1024-byte keys fits */

struct s3_op;
typedef void (*s3_fn)(struct s3_op *op);

enum s3_flags {
    S3_RUN_ON_WORKER = 1 << 0,   /* writes or hashes a body: never on the loop */
    S3_GP_ONLY = 1 << 1,         /* not supported on directory buckets: 501 there */
    S3_WRITES = 1 << 2,          /* refused to ReadOnly sessions */
    S3_NO_BUCKET_CHECK = 1 << 3, /* works on a bucket that may not exist (CreateSession) */
    S3_VERSION_READ = 1 << 4,    /* takes versionId and reads or changes that version */
    S3_VERSION_DELETE = 1 << 5,  /* takes versionId and deletes that version */
    S3_PATH_IS_OP = 1 << 6,      /* addressed as /OperationName, not a bucket */
    S3_ALSO_GP_ONLY = 1 << 7,    /* the route's other name has no directory-bucket form */
};

enum s3_scope {
    S3_ON_SERVICE, /* no bucket in the address */
    S3_ON_BUCKET,  /* a bucket, no key */
    S3_ON_OBJECT,  /* a bucket and a key */
};

/* One operation of the S3 model as it appears on the wire (routes.c). A request is this
 * operation when method and scope match, its only sub-resource word is sub (or it has
 * none and sub is NULL), every need[] parameter and the header are present, and each
 * other query parameter is in params (or is an authentication parameter or x-id). */
struct s3_route {
    const char *method;
    enum s3_scope scope;
    const char *sub;           /* the sub-resource word of its requestUri, or NULL */
    const char *sub_value;     /* the value sub must have ("2" for list-type), or NULL */
    const char *need[2];       /* parameters that select it among same-URI operations */
    const char *header;        /* header that selects it (x-amz-copy-source), or NULL */
    const char *const *params; /* further query parameters it takes, NULL-terminated */
    const char *op;            /* the model's operation name: logs, x-id, 501s, docs */
    const char *also;          /* the model's other name for the same request, or NULL */
    s3_fn fn;                  /* NULL: 501 NotImplemented naming op */
    unsigned flags;            /* enum s3_flags */
};

/* Why a request is refused before any handler runs: status, S3 code and message. */
struct s3_route_refusal {
    int status;
    const char *code; /* static string */
    char msg[256];
};

/* Whether ar's query is PutObject's (none but signing parameters) or UploadPart's
 * (uploadId and partNumber); *out_part: UploadPart. */
bool s3_object_put_query(const struct api_req *ar, bool *out_part);

/* Picks op->route for the request (op->bucket and op->key decoded). False: no operation
 * of quarry's is exactly this request; *out says what to answer. Loop thread. */
bool s3_route_find(struct s3_op *op, struct qr_slice method, struct s3_route_refusal *out);
/* Checks the headers that change an operation's meaning (encryption, object lock, ACLs,
 * expected bucket owner, ...). False: *out says what to answer. Loop thread. */
bool s3_route_headers_ok(struct s3_op *op, struct s3_route_refusal *out);

enum s3_version_verdict {
    S3_VERSION_CURRENT,       /* no versionId, "null" or a well-formed id: the handler reads
                                 it (s3_version_param) and the store says if it exists */
    S3_VERSION_REFUSED,       /* *out says what to answer */
    S3_VERSION_ABSENT_DELETE, /* delete of a version that cannot exist: 204, change nothing */
};
/* Whether op->route may go on with its versionId parameter: malformed ids, and any id
 * but "null" on a directory bucket, are refused. Loop thread. */
enum s3_version_verdict s3_route_version(struct s3_op *op, struct s3_route_refusal *out);
/* Whether v has the form of an S3 version id (32 characters of [A-Za-z0-9._]). */
bool s3_version_id_wellformed(struct qr_slice v);

struct s3_resp_header {
    const char *name;  /* static string */
    const char *value; /* lives in op->pool */
    size_t len;
};

struct s3_op {
    struct qr_job job; /* when run on a worker */
    struct api_req *ar;
    h2o_mem_pool_t *pool;        /* req pool on the loop; own_pool on a worker */
    h2o_mem_pool_t own_pool;     /* cleared when the request is disposed */
    struct store_reader *reader; /* the running thread's reader */
    struct store *store;
    const struct s3_route *route;
    struct qr_slice bucket; /* decoded bucket name (lives in req pool) */
    struct qr_slice key;    /* decoded key (lives in req pool), empty for bucket ops */
    bool directory;         /* the bucket name is a directory bucket's */
    int64_t now_ms;
    uint64_t body_counted;       /* bytes counted by server_body_acquire, released at dispose */
    struct put_state *put_state; /* PutObject on the fast path (object.c), in the req pool */
    enum qr_err async_err;       /* its store outcome, set on the writer thread */

    /* result */
    int status;           /* 0 until the handler decides */
    enum qr_err err;      /* QR_OK, or the error to render */
    const char *err_code; /* override of the code err maps to, or NULL */
    const char *err_msg;  /* override of the message, or NULL */
    struct s3_resp_header hdrs[S3_MAX_RESP_HEADERS];
    size_t n_hdrs;
    struct qr_buf body; /* response body (XML), max S3_MAX_XML_OUT */
    const char *content_type;
    bool stream; /* GetObject: send obj bytes [off, off+len) */
    struct store_obj obj;
    uint64_t off, len;
};

/* The request's body for a handler (decoded aws-chunked, hash verified), see body.c. */
struct s3_body {
    struct qr_slice data;  /* the payload bytes */
    struct qr_buf decoded; /* storage when the body was aws-chunked; else unused */
    bool have_ck;          /* a checksum header/trailer was given and verified */
    enum qr_ck ck_alg;
    uint8_t ck[QR_CK_MAX_DIGEST];
    uint8_t md5[16]; /* MD5 of data (always computed: it is the ETag) */
};

/* What the x-amz-checksum-* headers of a request describe. */
enum s3_body_kind {
    S3_BODY_PAYLOAD,  /* the body itself (PutObject, UploadPart, XML requests) */
    S3_BODY_COMPLETE, /* CompleteMultipartUpload: the headers describe the whole object */
};

/* Reads and verifies the body: aws-chunked decoding with chunk signatures, the
 * x-amz-content-sha256 hash, Content-MD5, x-amz-checksum-* (header or trailer; headers
 * only for S3_BODY_PAYLOAD). max bounds the decoded size. On failure sets
 * op->err/err_code. Call s3_body_dispose afterwards whatever it returned. Worker. */
/* The digest of b's bytes, reading a streamed encrypted body back through its key (its
 * mapping is ciphertext). False with op failed (the blob could not be read). */
bool s3_body_digest(struct s3_op *op, const struct s3_body *b, enum qr_ck alg, uint8_t *out);
bool s3_body_read(struct s3_op *op, uint64_t max, enum s3_body_kind kind, struct s3_body *out);
void s3_body_dispose(struct s3_body *b);

/* Sets MalformedXML; returns false so parsers can `return s3_fail_malformed(op);`. */
bool s3_fail_malformed(struct s3_op *op);
/* Sets an error result. */
void s3_fail(struct s3_op *op, enum qr_err err);
void s3_fail_code(struct s3_op *op, int status, const char *code, const char *msg);
/* Adds a response header (value copied into op->pool). */
void s3_header(struct s3_op *op, const char *name, const char *value, size_t len);
void s3_header_s(struct s3_op *op, const char *name, const char *value);
/* Adds "ETag: \"etag\"". */
void s3_header_etag(struct s3_op *op, const char *etag);

/* Header and parameter access for handlers. */
bool s3_hdr(struct s3_op *op, const char *lname, struct qr_slice *out);
bool s3_param(struct s3_op *op, const char *name, struct qr_slice *out);

/* Standard headers + user metadata <-> the store's opaque encoding (meta.c). */
enum qr_err s3_meta_from_request(struct s3_op *op, struct qr_slice *out);
void s3_meta_to_response(struct s3_op *op, struct qr_slice meta);
/* The MD5 hex kept in the encoded metadata (for ETags of copies), or NULL. */
const char *s3_meta_md5(struct s3_op *op, struct qr_slice meta);
/* Adds ":md5" to an encoding; new encoding lives in op->pool. */
struct qr_slice s3_meta_with_md5(struct s3_op *op, struct qr_slice meta, const uint8_t md5[16]);
/* Parses x-amz-tagging (query-string form) into the canonical stored form, under
 * PutObjectTagging's rules (s3_tags_valid). Errors (op failed): QR_E_BAD_INPUT. */
enum qr_err s3_tags_from_header(struct s3_op *op, struct qr_slice hdr, struct qr_slice *out);
struct obj_tag;
/* S3's rules for a tag set (obj_tags_check), failing op with AWS's code and message (400
 * InvalidTag, or BadRequest for more than 10 tags). Shared by PutObjectTagging and
 * x-amz-tagging. */
bool s3_tags_valid(struct s3_op *op, const struct obj_tag *t, size_t n);

/* "FULL_OBJECT" or "COMPOSITE". */
const char *s3_ck_type_name(enum store_ck_type t);
/* The checksum headers/values on responses. */
void s3_checksum_headers(struct s3_op *op, const struct store_checksum *ck);
enum store_ck_alg s3_ck_to_store(enum qr_ck alg);
bool s3_ck_from_store(enum store_ck_alg a, enum qr_ck *out);

/* ETag for a new object: MD5 hex on general purpose buckets, random on directory ones. */
void s3_new_etag(struct s3_op *op, const uint8_t md5[16], char out[80]);
/* Parses an ETag from a header or XML (quotes optional) into out (no quotes). */
bool s3_etag_parse(struct qr_slice in, char out[80]);
/* Reads If-Match / If-None-Match for writes into cond. Returns false (op failed) on
 * values S3 does not allow on writes. */
bool s3_write_conditions(struct s3_op *op, struct store_cond *cond);

/* ---- server-side encryption (sse.c) ---- */

/* The encryption a write asks for: SSE-C headers, x-amz-server-side-encryption, else
 * the bucket's rule, else SSE-S3. False with op failed (bad SSE-C headers, KMS). */
bool s3_sse_for_write(struct s3_op *op, struct store_sse *out);
/* A streamed body's blob is encrypted as want says (or there was no stream); else op
 * failed (503: the choice changed while the body came). */
bool s3_sse_stream_fits(struct s3_op *op, const struct store_sse *want);
/* Checks the SSE-C headers of a read (copy_source: the x-amz-copy-source-... ones)
 * against o and unseals it. False with op failed as S3 refuses. */
bool s3_sse_open(struct s3_op *op, struct store_obj *o, bool copy_source);
/* The x-amz-server-side-encryption* response headers for sse. */
void s3_sse_headers(struct s3_op *op, const struct store_sse *sse);
/* ETag of a new object: s3_new_etag, or random for SSE-C (as S3's are). */
void s3_sse_etag(struct s3_op *op, const struct store_sse *sse, const uint8_t md5[16],
                 char out[80]);
/* Parses an UploadPart's SSE-C headers against its upload's encryption into *out.
 * False with op failed. */
bool s3_sse_for_part(struct s3_op *op, const struct store_sse *upload, struct store_sse *out);
/* Whether a copy from src may share its blobs as dst asks (SSE-C needs the same key on
 * both sides; quarry does not re-encrypt a copy). False with op failed (501). */
bool s3_sse_copy_shares(struct s3_op *op, const struct store_sse *src, const struct store_sse *dst);
void s3_put_bucket_encryption(struct s3_op *op);
void s3_get_bucket_encryption(struct s3_op *op);
void s3_delete_bucket_encryption(struct s3_op *op);

/* Handlers (one per operation), by family. */
void s3_list_buckets(struct s3_op *op);
void s3_create_bucket(struct s3_op *op);
void s3_delete_bucket(struct s3_op *op);
void s3_head_bucket(struct s3_op *op);
void s3_get_bucket_location(struct s3_op *op);
void s3_create_session(struct s3_op *op);
void s3_list_objects_v2(struct s3_op *op);
void s3_list_objects_v1(struct s3_op *op);
void s3_put_object(struct s3_op *op);
/* PutObject of a body small enough for a row, from the loop: decodes and hashes it here
 * and has the store commit it without a worker; the answer goes out from the loop when
 * the writer is done (s3_finish). False: op is already answered-ready (failed): call
 * s3_finish. Loop thread. */
bool s3_put_object_async(struct s3_op *op);
/* Sends what a handler left in op. Loop thread. */
void s3_finish(struct s3_op *op);
void s3_get_object(struct s3_op *op);
void s3_delete_object(struct s3_op *op);
void s3_delete_objects(struct s3_op *op);
void s3_copy_object(struct s3_op *op);
void s3_get_object_tagging(struct s3_op *op);
void s3_put_object_tagging(struct s3_op *op);
void s3_delete_object_tagging(struct s3_op *op);
void s3_create_mpu(struct s3_op *op);
void s3_upload_part(struct s3_op *op);
void s3_upload_part_copy(struct s3_op *op);
void s3_complete_mpu(struct s3_op *op);
void s3_abort_mpu(struct s3_op *op);
void s3_list_parts(struct s3_op *op);
void s3_list_uploads(struct s3_op *op);
void s3_list_object_versions(struct s3_op *op);
void s3_get_bucket_versioning(struct s3_op *op);
void s3_put_bucket_versioning(struct s3_op *op);
/* Object Lock (lock.c). */
void s3_get_object_lock_config(struct s3_op *op);
void s3_put_object_lock_config(struct s3_op *op);
void s3_get_object_retention(struct s3_op *op);
void s3_put_object_retention(struct s3_op *op);
void s3_get_object_legal_hold(struct s3_op *op);
void s3_put_object_legal_hold(struct s3_op *op);
/* The x-amz-object-lock-* headers of a write into *out. A bucket without Object Lock
 * gets InvalidRequest (as S3). False with op failed. Worker or loop (one row read). */
bool s3_lock_headers(struct s3_op *op, struct store_lock *out);
/* x-amz-bypass-governance-retention: true, and the caller may use it
 * (s3:BypassGovernanceRetention on key). False with op failed when refused. */
bool s3_lock_bypass(struct s3_op *op, struct qr_slice key, bool *out);
/* Lock headers of a GET/HEAD answer. */
void s3_lock_response_headers(struct s3_op *op, const struct store_lock *l);

/* x-amz-copy-source-if-* against the source, with S3's pairing rules. */
bool s3_copy_source_conditions(struct s3_op *op, const struct store_obj *src);
/* Feeds bytes [off, off+len) of an object (inline or in blob extents) to n running
 * digests. Reads blob files: worker thread. Errors: QR_E_IO, QR_E_INTERNAL. */
enum qr_err s3_digest_range(struct s3_op *op, const struct store_obj *obj, uint64_t off,
                            uint64_t len, struct qr_ck_state *st, size_t n);
/* Parses x-amz-copy-source into bucket and key (decoded, in op->pool). */
bool s3_copy_source(struct s3_op *op, struct qr_slice *out_bucket, struct qr_slice *out_key);
/* Same, with its ?versionId= ("null" or a well-formed id; empty when absent). */
bool s3_copy_source_v(struct s3_op *op, struct qr_slice *out_bucket, struct qr_slice *out_key,
                      struct qr_slice *out_version);

/* ---- versions (common.c) ---- */

/* The request's versionId for a route that takes one, or empty. */
struct qr_slice s3_version_param(struct s3_op *op);
/* x-amz-version-id of a version read from the store (none for a never-versioned
 * bucket's null version, as S3). */
void s3_version_headers(struct s3_op *op, const struct store_obj *o);
/* Fails op with a read error of store_obj_get_v: a current delete marker is 404
 * NoSuchKey with x-amz-delete-marker, a missing version 404 NoSuchVersion. */
void s3_fail_version(struct s3_op *op, enum qr_err e, struct qr_slice version,
                     const struct store_obj *o);

/* For ?partNumber=N: checks the parameter against obj and the Range header and sets
 * *out_off and *out_len to the part's bytes (a non-multipart object is one part). Returns
 * false with op failed (s3_fail_code) on bad input. Adds x-amz-mp-parts-count for
 * multipart objects. obj borrowed. Loop thread (no I/O). */
bool s3_part_range(struct s3_op *op, const struct store_obj *obj, struct qr_slice part_param,
                   uint64_t *out_off, uint64_t *out_len);

/* Bucket policies (policy.c). */
void s3_put_bucket_policy(struct s3_op *op);
void s3_get_bucket_policy(struct s3_op *op);
void s3_delete_bucket_policy(struct s3_op *op);

/* The authorization of the request (authorize.c) for the operation name (the route's) and
 * its route flags: the credential kind's rules, then the IAM decision. False after
 * s3_fail: the caller sends the error. Loop thread. */
bool s3_authorize(struct s3_op *op, const char *name, unsigned flags);
/* One more key of the same request (DeleteObjects): action on bucket/key. Any thread that
 * owns op. */
bool s3_authorize_key(struct s3_op *op, const char *action, struct qr_slice key);

#endif
