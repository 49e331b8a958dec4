/* buf.c - the bounded growable buffer of buf.h. */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *qr_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

void *qr_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort();
    return q;
}

char *qr_xstrndup(const char *s, size_t n)
{
    char *d = qr_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void qr_buf_init(struct qr_buf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void qr_buf_dispose(struct qr_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

void qr_buf_reset(struct qr_buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

static enum qr_err reserve(struct qr_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return QR_E_TOO_LARGE;
    size_t need = b->len + n + 1; /* room for the NUL */
    if (need <= b->cap)
        return QR_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->p = qr_xrealloc(b->p, cap);
    b->cap = cap;
    return QR_OK;
}

enum qr_err qr_buf_add(struct qr_buf *b, const void *p, size_t n)
{
    enum qr_err e = reserve(b, n);
    if (e)
        return e;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return QR_OK;
}

enum qr_err qr_buf_adds(struct qr_buf *b, const char *s)
{
    return qr_buf_add(b, s, strlen(s));
}

enum qr_err qr_buf_addf(struct qr_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return QR_E_INTERNAL;
    if ((size_t)n < sizeof(small))
        return qr_buf_add(b, small, (size_t)n);
    enum qr_err e = reserve(b, (size_t)n);
    if (e)
        return e;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return QR_OK;
}

uint8_t *qr_buf_take(struct qr_buf *b, size_t *out_len)
{
    uint8_t *p = b->p;
    *out_len = b->len;
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
