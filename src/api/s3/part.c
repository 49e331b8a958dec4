/*
 * part.c - GetObject/HeadObject ?partNumber=N: which bytes of an object part N is.
 *
 * AWS documents partNumber as "effectively a 'ranged' GET request for the part
 * specified", so the caller answers it like a Range request (206 + Content-Range), with
 * x-amz-mp-parts-count added for multipart objects. A non-multipart object is one part:
 * partNumber=1 is the whole object (AWS answers 206 with "Content-Range: bytes 0-9/10"
 * for a 10-byte object, seen in versity/versitygw#2074), any other number is 416
 * InvalidPartNumber. An empty part (an empty object) has no byte range to name: the
 * caller then answers 200 with no Content-Range, because the CRT's auto-ranged GET
 * (aws-c-s3) falls back to partNumber=1 precisely to fetch empty objects.
 * Part boundaries come from store_obj.part_sizes, recorded at CompleteMultipartUpload.
 */
#include "api/s3/s3_int.h"

#include <stdio.h>

#include "util/ckd.h"
#include "util/limits.h"

static bool fail_unsatisfiable(struct s3_op *op)
{
    s3_fail_code(op, 416, "InvalidPartNumber", "The requested partnumber is not satisfiable");
    return false;
}

/* Offset and length of part n (1-based, <= obj->parts) of a multipart object. */
static bool multipart_range(struct s3_op *op, const struct store_obj *obj, uint32_t n,
                            uint64_t *out_off, uint64_t *out_len)
{
    if (!store_obj_has_part_sizes(obj)) {
        /* completed before the store recorded part sizes: the boundaries are lost */
        s3_fail_code(op, 501, "NotImplemented",
                     "The part boundaries of this object were not recorded; partNumber is not "
                     "available for it.");
        return false;
    }
    uint64_t off = 0, end;
    for (uint32_t i = 0; i + 1 < n; i++) {
        if (qr_add_overflow(off, store_obj_part_size(obj, i), &off))
            goto corrupt;
    }
    uint64_t len = store_obj_part_size(obj, n - 1);
    if (qr_add_overflow(off, len, &end) || end > obj->size)
        goto corrupt;
    *out_off = off;
    *out_len = len;
    return true;
corrupt:
    /* the sizes disagree with the object's size: never serve bytes of the wrong part */
    fprintf(stderr, "s3: part sizes of an object exceed its size %llu\n",
            (unsigned long long)obj->size);
    s3_fail(op, QR_E_INTERNAL);
    return false;
}

bool s3_part_range(struct s3_op *op, const struct store_obj *obj, struct qr_slice part_param,
                   uint64_t *out_off, uint64_t *out_len)
{
    uint64_t n;
    struct qr_slice v;
    if (!qr_slice_u64(part_param, QR_MAX_PARTS, &n) || n == 0) {
        s3_fail_code(op, 400, "InvalidArgument",
                     "Part number must be an integer between 1 and 10000, inclusive");
        return false;
    }
    /* Any Range header, even one the Range path would ignore as malformed. */
    if (s3_hdr(op, "range", &v)) {
        s3_fail_code(op, 400, "InvalidRequest",
                     "Cannot specify both Range header and partNumber query parameter");
        return false;
    }
    if (obj->parts == 0) {
        if (n != 1)
            return fail_unsatisfiable(op);
        *out_off = 0;
        *out_len = obj->size;
        return true;
    }
    if (n > obj->parts)
        return fail_unsatisfiable(op);
    if (!multipart_range(op, obj, (uint32_t)n, out_off, out_len))
        return false;
    char c[16];
    int l = snprintf(c, sizeof(c), "%u", obj->parts);
    s3_header(op, "x-amz-mp-parts-count", c, (size_t)l);
    return true;
}
