/*
 * headers.c - the stored header encoding (obj.h): its one writer and one walker of pairs.
 */
#include "obj/obj.h"

#include <string.h>

enum qr_err obj_header_add(struct qr_buf *b, struct qr_slice name, struct qr_slice value)
{
    enum qr_err e = qr_buf_add(b, name.p, name.len);
    if (!e)
        e = qr_buf_add(b, "\0", 1);
    if (!e)
        e = qr_buf_add(b, value.p, value.len);
    if (!e)
        e = qr_buf_add(b, "\0", 1);
    return e;
}

bool obj_header_next(struct qr_slice enc, size_t *pos, struct qr_slice *name,
                     struct qr_slice *value)
{
    size_t i = *pos;
    if (i >= enc.len)
        return false;
    const uint8_t *n = enc.p + i;
    const uint8_t *nz = memchr(n, 0, enc.len - i);
    if (!nz)
        return false;
    const uint8_t *v = nz + 1;
    const uint8_t *vz = memchr(v, 0, enc.len - (size_t)(v - enc.p));
    if (!vz)
        return false;
    *name = qr_slice(n, (size_t)(nz - n));
    *value = qr_slice(v, (size_t)(vz - v));
    *pos = (size_t)(vz - enc.p) + 1;
    return true;
}

bool obj_header_find(struct qr_slice enc, const char *name, struct qr_slice *value)
{
    size_t pos = 0;
    struct qr_slice n, v;
    while (obj_header_next(enc, &pos, &n, &v))
        if (qr_slice_eq_lit(n, name)) {
            *value = v;
            return true;
        }
    return false;
}

struct qr_slice obj_storage_class(struct qr_slice enc, bool directory)
{
    struct qr_slice v;
    if (directory)
        return QR_SLICE_LIT("EXPRESS_ONEZONE");
    if (obj_header_find(enc, "x-amz-storage-class", &v) && v.len > 0)
        return v;
    return QR_SLICE_LIT("STANDARD");
}
