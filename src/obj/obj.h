/*
 * obj.h - S3's object rules, once, between the wire handlers (api/s3) and the store, for
 * every caller: the S3 API and the batch engine. Typed requests and results; no h2o
 * request, no AWS error strings (problems are enums and qr_err values that each wire
 * family maps to its own codes).
 *
 * Today: the tag-set rules (one validator for PutObjectTagging and batch
 * S3PutObjectTagging, and the stored form of a tag set) and the copy rules (which
 * ETag, tags and headers a copy gets, copying onto itself) that CopyObject and batch
 * S3PutObjectCopy share.
 *
 * Threads: any; nothing here blocks except what says so.
 */
#ifndef QR_OBJ_H
#define QR_OBJ_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/checksum.h"
#include "util/err.h"
#include "util/slice.h"

#define OBJ_TAG_KEY_CHARS 128u /* Unicode characters (AWS "Categorizing your storage using tags")  \
                                */
#define OBJ_TAG_VALUE_CHARS 256u
#define OBJ_TAGS_MAX        10u           /* tags on one object */
#define OBJ_TAGS_STORED_MAX (16u * 1024u) /* the stored form of 10 maximal tags fits */

/* One tag; bytes borrowed, UTF-8. */
struct obj_tag {
    struct qr_slice key;
    struct qr_slice value;
};

/* What is wrong with a tag set, in the order AWS checks. */
enum obj_tag_problem {
    OBJ_TAG_OK,
    OBJ_TAG_TOO_MANY,      /* more than the caller's maximum */
    OBJ_TAG_KEY_INVALID,   /* empty or over 128 characters */
    OBJ_TAG_VALUE_INVALID, /* over 256 characters */
    OBJ_TAG_AWS_PREFIX,    /* key starts with "aws:" (reserved) */
    OBJ_TAG_DUPLICATE,     /* two tags with the same key */
};

/* Checks a tag set of at most max tags (OBJ_TAGS_MAX for an object; S3 Control job tags
 * allow 50) against S3's rules; *out_index (may be NULL) gets the offending tag. */
enum obj_tag_problem obj_tags_check(const struct obj_tag *t, size_t n, size_t max,
                                    size_t *out_index);

/* The stored form of a tag set ("k1=v1&k2=v2", each part percent-encoded), appended to
 * out. Errors: QR_E_TOO_LARGE (out's cap). */
enum qr_err obj_tags_encode(const struct obj_tag *t, size_t n, struct qr_buf *out)
    __attribute__((warn_unused_result));

/* ---- digests of stored bytes (digest.c) ---- */

/* Feeds bytes [off, off+len) of o (inline or in its blobs) to each of the n digests st,
 * reading through store_obj_cursor in pieces of up to cap bytes into buf (the caller's,
 * reused; unused, and may be NULL, for an inline object). Errors: QR_E_IO (a blob is missing or short), QR_E_INTERNAL (the range lies
 * beyond the object, or o is still sealed). Any thread; blocks on the disk. */
enum qr_err obj_digest_range(struct store *st, const struct store_obj *o, uint64_t off,
                             uint64_t len, struct qr_ck_state *ck, size_t n, uint8_t *buf,
                             size_t cap) __attribute__((warn_unused_result));

/* ---- stored headers (headers.c) ----
 * An object's or upload's headers as api/s3 stores them: "name NUL value NUL" pairs,
 * names lower case. Read here by every reader that needs one of them (responses,
 * listings, the batch manifest generator's storage-class filter). */

/* Appends the pair (name lower case). Errors: QR_E_TOO_LARGE (b's limit). */
enum qr_err obj_header_add(struct qr_buf *b, struct qr_slice name, struct qr_slice value)
    __attribute__((warn_unused_result));
/* The pair at *pos, advancing *pos; false at the end (or at a torn pair). */
bool obj_header_next(struct qr_slice enc, size_t *pos, struct qr_slice *name,
                     struct qr_slice *value);
/* The value of header name (lower case); false when absent. */
bool obj_header_find(struct qr_slice enc, const char *name, struct qr_slice *value);
/* The storage class S3 shows for an object (or upload) with these headers: EXPRESS_ONEZONE
 * in a directory bucket, else the class it was written with, STANDARD when none. */
struct qr_slice obj_storage_class(struct qr_slice enc, bool directory);

/* A copy as a caller asks for it. */
struct obj_copy_req {
    struct qr_slice src_bucket, src_key;
    struct qr_slice dst_bucket, dst_key;
    bool dst_directory;      /* the destination is a directory bucket */
    bool replace_headers;    /* MetadataDirective REPLACE: headers below */
    struct qr_slice headers; /* opaque encoded headers for REPLACE */
    bool replace_tags;       /* TaggingDirective REPLACE: tags below */
    struct qr_slice tags;    /* stored form */
    const char *src_md5_hex; /* the source body's MD5 when known (single-part objects on
                                general purpose buckets), or NULL */
    struct store_cond cond;  /* conditions on the destination */
};

/* Applies the copy rules to a request and its source object: the result is the store's
 * copy to run (sharing the source's blobs). etag_buf (80 bytes, caller's) holds a new
 * ETag when one is made. src borrowed; NULL when the caller did not read the source (the
 * batch engine, whose copy reads it inside the committing transaction): then the source
 * is not pinned by ETag and a general purpose copy keeps the source's ETag. Errors: QR_E_BAD_INPUT
 * (copy onto itself without replacing anything: S3 refuses it). Any thread. */
enum qr_err obj_copy_plan(const struct obj_copy_req *req, const struct store_obj *src,
                          char etag_buf[80], struct store_copy *out)
    __attribute__((warn_unused_result));

#endif
