/*
 * parse.c - request heads: picohttpparser (exported by libh2o) splits the head, then
 * the headers that decide framing are checked here, strictly, because a request whose
 * length two parties read differently is how requests are smuggled: one Content-Length
 * (repeats must agree), never together with Transfer-Encoding, and chunked is the only
 * transfer coding. Pure functions on a buffer: no sockets, no allocation.
 */
#include "http/http.h"

#include <string.h>

#include "util/picohttp.h"



/* True when list (a comma-separated header value) holds token, case-insensitively. */
static bool has_token(struct qr_slice list, const char *token)
{
    struct qr_slice want = qr_slice_cstr(token);
    size_t i = 0;
    while (i < list.len) {
        while (i < list.len && (list.p[i] == ' ' || list.p[i] == '\t' || list.p[i] == ','))
            i++;
        size_t start = i;
        while (i < list.len && list.p[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (list.p[end - 1] == ' ' || list.p[end - 1] == '\t'))
            end--;
        if (qr_slice_ieq(qr_slice(list.p + start, end - start), want))
            return true;
    }
    return false;
}

static bool name_is(const struct http_hdr *h, const char *lname)
{
    return qr_slice_ieq_lit(h->name, lname);
}

/* Content-Length, Transfer-Encoding, Expect, Connection, Host: the framing headers. */
static enum qr_err framing(struct http_head *out)
{
    bool te = false, conn_close = false, conn_keep = false;
    for (size_t i = 0; i < out->n_hdrs; i++) {
        const struct http_hdr *h = &out->hdrs[i];
        if (name_is(h, "content-length")) {
            uint64_t n;
            if (!qr_slice_u64(h->value, INT64_MAX, &n))
                return QR_E_BAD_INPUT;
            if (out->has_length && n != out->content_length)
                return QR_E_BAD_INPUT;
            out->has_length = true;
            out->content_length = n;
        } else if (name_is(h, "transfer-encoding")) {
            if (te || !qr_slice_ieq(h->value, QR_SLICE_LIT("chunked")))
                return te ? QR_E_BAD_INPUT : QR_E_NOT_IMPLEMENTED;
            te = true;
        } else if (name_is(h, "expect")) {
            if (qr_slice_ieq(h->value, QR_SLICE_LIT("100-continue")))
                out->expect_continue = true;
        } else if (name_is(h, "connection")) {
            conn_close |= has_token(h->value, "close");
            conn_keep |= has_token(h->value, "keep-alive");
        } else if (name_is(h, "host")) {
            if (out->host.p != NULL)
                return QR_E_BAD_INPUT;
            out->host = h->value;
        }
    }
    if (te && out->has_length)
        return QR_E_BAD_INPUT;
    out->chunked = te;
    out->keep_alive = out->minor >= 1 ? !conn_close : conn_keep;
    return QR_OK;
}

enum qr_err http_parse_head(const char *buf, size_t len, struct http_head *out, bool *done)
{
    struct phr_header ph[HTTP_MAX_HEADERS];
    const char *m, *p;
    size_t ml, pl, nh = HTTP_MAX_HEADERS;
    int minor = -1;
    *done = false;
    out->method = out->target = qr_slice(NULL, 0);
    out->minor = 0;
    out->head_len = 0;
    out->n_hdrs = 0;
    out->host = qr_slice(NULL, 0);
    out->has_length = out->chunked = out->expect_continue = out->keep_alive = false;
    out->content_length = 0;
    size_t scan = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;
    int r = phr_parse_request(buf, scan, &m, &ml, &p, &pl, &minor, ph, &nh, 0);
    if (r == -2)
        return scan == HTTP_MAX_HEAD ? QR_E_TOO_LARGE : QR_OK;
    if (r < 0 || ml == 0 || pl == 0 || minor < 0 || minor > 1)
        return QR_E_BAD_INPUT;
    out->method = qr_slice(m, ml);
    out->target = qr_slice(p, pl);
    out->minor = minor;
    out->n_hdrs = nh;
    for (size_t i = 0; i < nh; i++) {
        /* a NULL name is an obsolete line folding continuation: refused, S3 does too */
        if (ph[i].name == NULL || ph[i].name_len == 0)
            return QR_E_BAD_INPUT;
        out->hdrs[i].name = qr_slice(ph[i].name, ph[i].name_len);
        out->hdrs[i].value = qr_slice(ph[i].value, ph[i].value_len);
    }
    out->head_len = (size_t)r;
    enum qr_err e = framing(out);
    if (e == QR_OK)
        *done = true;
    return e;
}

ssize_t http_chunked_decode(struct http_chunked *d, char *buf, size_t *len)
{
    struct phr_chunked_decoder pd = {d->bytes_left_in_chunk, d->consume_trailer, d->hex_count,
                                     d->state};
    ssize_t r = phr_decode_chunked(&pd, buf, len);
    d->bytes_left_in_chunk = pd.bytes_left_in_chunk;
    d->hex_count = pd._hex_count;
    d->state = pd._state;
    return r;
}
