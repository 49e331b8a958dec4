/*
 * tags.c - S3's tag-set rules and the stored form of a tag set (obj.h).
 *
 * Lengths are counted in Unicode characters, as AWS counts them; the input is well-formed
 * UTF-8 (libxml2 hands out nothing else, and the batch wire layer takes it from XML too).
 * The stored form is what api/s3/tagging.c decodes for GetObjectTagging.
 */
#include "obj/obj.h"

#include "util/codec.h"

static size_t utf8_chars(struct qr_slice s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++)
        n += (s.p[i] & 0xC0) != 0x80;
    return n;
}

enum obj_tag_problem obj_tags_check(const struct obj_tag *t, size_t n, size_t max,
                                    size_t *out_index)
{
    size_t dummy;
    size_t *at = out_index ? out_index : &dummy;
    *at = 0;
    if (n > max) {
        *at = max;
        return OBJ_TAG_TOO_MANY;
    }
    for (size_t i = 0; i < n; i++) {
        *at = i;
        if (t[i].key.len == 0 || utf8_chars(t[i].key) > OBJ_TAG_KEY_CHARS)
            return OBJ_TAG_KEY_INVALID;
        if (utf8_chars(t[i].value) > OBJ_TAG_VALUE_CHARS)
            return OBJ_TAG_VALUE_INVALID;
        if (qr_slice_starts(t[i].key, QR_SLICE_LIT("aws:")))
            return OBJ_TAG_AWS_PREFIX;
        for (size_t j = 0; j < i; j++)
            if (qr_slice_eq(t[i].key, t[j].key))
                return OBJ_TAG_DUPLICATE;
    }
    return OBJ_TAG_OK;
}

enum qr_err obj_tags_encode(const struct obj_tag *t, size_t n, struct qr_buf *out)
{
    enum qr_err e = QR_OK;
    for (size_t i = 0; i < n && e == QR_OK; i++) {
        if (i > 0)
            e = qr_buf_add(out, "&", 1);
        if (e == QR_OK)
            e = qr_uri_encode(t[i].key, false, out);
        if (e == QR_OK)
            e = qr_buf_add(out, "=", 1);
        if (e == QR_OK)
            e = qr_uri_encode(t[i].value, false, out);
    }
    return e;
}
