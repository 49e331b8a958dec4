/*
 * form.c - the form-encoded body parser of the query protocol (IAM, STS). One pass, each
 * byte read once, output never longer than input.
 */
#include "util/form.h"

#include <string.h>

#include "util/codec.h"

/* Decodes raw into dst; returns the length or -1 on a bad escape or a NUL. */
static long decode(struct qr_slice raw, char *dst)
{
    size_t n;
    if (!qr_uri_decode_into(raw, true, (uint8_t *)dst, &n) || memchr(dst, 0, n) != NULL)
        return -1;
    return (long)n;
}

enum qr_err qr_form_parse(struct qr_slice in, char *scratch, struct qr_form_pair *out, size_t max,
                          size_t *out_n)
{
    size_t n = 0, i = 0, o = 0;
    while (i < in.len) {
        size_t end = i;
        while (end < in.len && in.p[end] != '&')
            end++;
        if (end > i) {
            size_t eq = i;
            while (eq < end && in.p[eq] != '=')
                eq++;
            if (n == max)
                return QR_E_TOO_LARGE;
            long nl = decode(qr_slice(in.p + i, eq - i), scratch + o);
            if (nl <= 0)
                return QR_E_BAD_INPUT;
            out[n].name = qr_slice(scratch + o, (size_t)nl);
            o += (size_t)nl;
            struct qr_slice v =
                eq < end ? qr_slice(in.p + eq + 1, end - eq - 1) : qr_slice(NULL, 0);
            long vl = decode(v, scratch + o);
            if (vl < 0)
                return QR_E_BAD_INPUT;
            out[n].value = qr_slice(scratch + o, (size_t)vl);
            o += (size_t)vl;
            n++;
        }
        i = end + 1;
    }
    *out_n = n;
    return QR_OK;
}

bool qr_form_get(const struct qr_form_pair *p, size_t n, const char *name, struct qr_slice *out)
{
    for (size_t i = 0; i < n; i++) {
        if (qr_slice_eq_lit(p[i].name, name)) {
            *out = p[i].value;
            return true;
        }
    }
    return false;
}
