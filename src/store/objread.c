/*
 * objread.c - the one reader of object bytes (store_obj_cursor): inline rows, or blob
 * extents read with pread and decrypted as stored. A cursor keeps one blob open and
 * walks extents in object order, so sequential readers pay one open per blob.
 */
#include "store/store_int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

bool store_obj_has_part_sizes(const struct store_obj *o)
{
    return o->parts > 0 && o->part_sizes.len == (size_t)o->parts * STORE_PART_SIZE_BYTES;
}

uint64_t store_obj_part_size(const struct store_obj *o, uint32_t i)
{
    const uint8_t *p = o->part_sizes.p + (size_t)i * STORE_PART_SIZE_BYTES;
    uint64_t v = 0;
    for (size_t k = 8; k > 0; k--) /* little-endian (mpu.c) */
        v = (v << 8) | p[k - 1];
    return v;
}

void store_bytes_cursor_init(struct store_obj_cursor *c, struct store *st, uint64_t size,
                             struct qr_slice inline_data, const struct store_extent *ext,
                             size_t n_ext, uint64_t off, uint64_t len)
{
    memset(c, 0, sizeof(*c));
    c->st = st;
    c->inl = inline_data;
    c->ext = ext;
    c->n_ext = n_ext;
    c->fd = -1;
    c->pos = off < size ? off : size;
    c->end = size - c->pos < len ? size : c->pos + len;
}

void store_obj_cursor_init(struct store_obj_cursor *c, struct store *st, const struct store_obj *o,
                           uint64_t off, uint64_t len)
{
    store_bytes_cursor_init(c, st, o->size, o->inline_data, o->ext, o->n_ext, off, len);
    c->sealed = o->sealed;
}

void store_obj_cursor_close(struct store_obj_cursor *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* One pread from the extent holding c->pos into dst (at most n bytes). */
static enum qr_err read_extent(struct store_obj_cursor *c, uint8_t *dst, size_t n, size_t *got)
{
    while (c->i < c->n_ext && c->pos >= c->ext_start + c->ext[c->i].len) {
        c->ext_start += c->ext[c->i].len;
        c->i++;
    }
    if (c->i >= c->n_ext)
        return QR_E_INTERNAL; /* the extents cover less than the object's size */
    const struct store_extent *x = &c->ext[c->i];
    if (c->fd < 0 || c->fd_blob != x->blob) {
        store_obj_cursor_close(c);
        enum qr_err err = store_blob_open(c->st, x->blob, &c->fd);
        if (err != QR_OK)
            return err;
        c->fd_blob = x->blob;
    }
    uint64_t in = c->pos - c->ext_start;
    if (n > x->len - in)
        n = (size_t)(x->len - in);
    ssize_t r;
    do
        r = pread(c->fd, dst, n, (off_t)(x->off + in));
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return QR_E_IO; /* the blob is shorter than its extent says: never expected */
    store_extent_decrypt(x, x->off + in, dst, (size_t)r);
    *got = (size_t)r;
    return QR_OK;
}

enum qr_err store_obj_read(struct store_obj_cursor *c, void *dst, size_t cap, size_t *got)
{
    uint8_t *out = dst;
    *got = 0;
    if (c->sealed)
        return QR_E_INTERNAL; /* ciphertext is never handed out as an object's bytes */
    if (cap > c->end - c->pos)
        cap = (size_t)(c->end - c->pos);
    if (c->inl.p) {
        if (c->end > c->inl.len)
            return QR_E_INTERNAL;
        memcpy(out, c->inl.p + c->pos, cap);
        c->pos += cap;
        *got = cap;
        return QR_OK;
    }
    while (*got < cap) {
        size_t n = 0;
        enum qr_err err = read_extent(c, out + *got, cap - *got, &n);
        if (err != QR_OK)
            return err;
        *got += n;
        c->pos += n;
    }
    return QR_OK;
}
