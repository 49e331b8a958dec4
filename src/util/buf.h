/*
 * buf.h - a growable byte buffer whose maximum size is fixed at init (curl's dynbuf).
 * Every append checks the maximum first, so input can never grow it past its cap.
 * Allocation failure aborts (qr_xmalloc): running out of memory is not a client error.
 */
#ifndef QR_BUF_H
#define QR_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct qr_buf {
    uint8_t *p; /* owned; NULL until the first append; always NUL-terminated after one */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    size_t max; /* len never exceeds this */
};

void *qr_xmalloc(size_t n);
void *qr_xrealloc(void *p, size_t n);
char *qr_xstrndup(const char *s, size_t n);

/* Initialises an empty buffer that may hold at most max bytes. */
void qr_buf_init(struct qr_buf *b, size_t max);
/* Frees the storage; the buffer may be reused after qr_buf_init. */
void qr_buf_dispose(struct qr_buf *b);
/* Empties the buffer, keeping its storage. */
void qr_buf_reset(struct qr_buf *b);
/* Appends n bytes; QR_E_TOO_LARGE (buffer unchanged) when len + n > max. */
enum qr_err qr_buf_add(struct qr_buf *b, const void *p, size_t n);
/* Appends a C string. */
enum qr_err qr_buf_adds(struct qr_buf *b, const char *s);
/* Appends printf output. */
enum qr_err qr_buf_addf(struct qr_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hands the storage to the caller (free with free()); the buffer becomes empty. */
uint8_t *qr_buf_take(struct qr_buf *b, size_t *out_len);

#endif
