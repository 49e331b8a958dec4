/*
 * copy.c - the copy rules shared by CopyObject and batch S3PutObjectCopy (obj.h).
 *
 * Which ETag a copy gets: a directory bucket makes a new opaque one (S3 Express ETags are
 * not MD5s); a general purpose bucket gets the body's MD5 when it is known, else the
 * source's ETag (multipart sources keep their "-N" form). A directory bucket keeps no
 * tags. A copy onto itself must replace something, or S3 refuses it. Conditions on the
 * source's ETag are pinned: the store checks the source is still the one planned for.
 */
#include "obj/obj.h"

#include <stdio.h>
#include <string.h>

#include "util/codec.h"

enum qr_err obj_copy_plan(const struct obj_copy_req *req, const struct store_obj *src,
                          char etag_buf[80], struct store_copy *out)
{
    bool same =
        qr_slice_eq(req->src_bucket, req->dst_bucket) && qr_slice_eq(req->src_key, req->dst_key);
    if (same && !req->replace_headers)
        return QR_E_BAD_INPUT;
    memset(out, 0, sizeof(*out));
    out->src_bucket = req->src_bucket;
    out->src_key = req->src_key;
    out->src_etag = src ? src->etag : NULL;
    out->dst_bucket = req->dst_bucket;
    out->dst_key = req->dst_key;
    out->replace_headers = req->replace_headers;
    out->headers = req->headers;
    out->replace_tags = req->replace_tags || req->dst_directory;
    out->tags = req->dst_directory ? qr_slice(NULL, 0) : req->tags;
    out->cond = req->cond;
    if (req->dst_directory) {
        qr_random_hex(etag_buf, 16);
        out->etag = etag_buf;
    } else if (req->src_md5_hex && src && src->parts == 0) {
        snprintf(etag_buf, 80, "%s", req->src_md5_hex);
        out->etag = etag_buf;
    }
    return QR_OK;
}
