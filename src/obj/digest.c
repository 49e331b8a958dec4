/*
 * digest.c - digests over an object's stored bytes, for the S3 API (CopyObject and
 * UploadPartCopy checksums) and the batch engine (S3ComputeObjectChecksum) alike.
 */
#include "obj/obj.h"

enum qr_err obj_digest_range(struct store *st, const struct store_obj *o, uint64_t off,
                             uint64_t len, struct qr_ck_state *ck, size_t n, uint8_t *buf,
                             size_t cap)
{
    if (o->inline_data.p && !o->sealed) { /* in the row already: no copy (buf may be NULL) */
        if (off > o->inline_data.len || len > o->inline_data.len - off)
            return QR_E_INTERNAL;
        for (size_t i = 0; i < n; i++)
            qr_ck_update(&ck[i], o->inline_data.p + off, (size_t)len);
        return QR_OK;
    }
    struct store_obj_cursor cur;
    store_obj_cursor_init(&cur, st, o, off, len);
    size_t got = 0;
    enum qr_err e;
    while ((e = store_obj_read(&cur, buf, cap, &got)) == QR_OK && got > 0)
        for (size_t i = 0; i < n; i++)
            qr_ck_update(&ck[i], buf, got);
    store_obj_cursor_close(&cur);
    if (e == QR_OK && cur.pos != off + len)
        e = QR_E_INTERNAL; /* the range lies beyond the object */
    return e;
}
