/*
 * slice.h - bytes as (pointer, length), never NUL-terminated, and small helpers.
 * Network bytes travel as struct qr_slice; nothing here calls strlen on them.
 */
#ifndef QR_SLICE_H
#define QR_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct qr_slice {
    const uint8_t *p; /* borrowed; may be NULL when len == 0 */
    size_t len;       /* bytes at p */
};

#define QR_SLICE_LIT(s) ((struct qr_slice){(const uint8_t *)(s), sizeof(s) - 1})

static inline struct qr_slice qr_slice(const void *p, size_t len)
{
    return (struct qr_slice){(const uint8_t *)p, len};
}

/* A slice over a NUL-terminated C string the program owns (never network bytes). */
static inline struct qr_slice qr_slice_cstr(const char *s)
{
    return (struct qr_slice){(const uint8_t *)s, s ? strlen(s) : 0};
}

static inline bool qr_slice_eq(struct qr_slice a, struct qr_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Equal to the C string lit (NULL: the empty string). Walks both at once and stops at
 * the first difference, with no strlen: routing compares every query parameter against
 * tables of such words, and most comparisons fail at the first byte. */
static inline bool qr_slice_eq_lit(struct qr_slice a, const char *lit)
{
    if (lit == NULL)
        return a.len == 0;
    for (size_t i = 0; i < a.len; i++)
        if (lit[i] == '\0' || (uint8_t)lit[i] != a.p[i])
            return false;
    return lit[a.len] == '\0';
}

/* ASCII case-insensitive equality (header names, enum values). */
static inline uint8_t qr_ascii_lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

static inline bool qr_slice_ieq(struct qr_slice a, struct qr_slice b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (qr_ascii_lower(a.p[i]) != qr_ascii_lower(b.p[i]))
            return false;
    return true;
}

/* qr_slice_ieq against a C string, stopping at the first difference (no strlen). */
static inline bool qr_slice_ieq_lit(struct qr_slice a, const char *lit)
{
    for (size_t i = 0; i < a.len; i++)
        if (lit[i] == '\0' || qr_ascii_lower(a.p[i]) != qr_ascii_lower((uint8_t)lit[i]))
            return false;
    return lit[a.len] == '\0';
}

/* Non-empty and ASCII digits only (no sign, no space). */
static inline bool qr_slice_all_digits(struct qr_slice s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
    return true;
}

static inline bool qr_slice_starts(struct qr_slice a, struct qr_slice prefix)
{
    return a.len >= prefix.len && (prefix.len == 0 || memcmp(a.p, prefix.p, prefix.len) == 0);
}

/* Byte order comparison, as S3 lists keys: <0, 0, >0. */
static inline int qr_slice_cmp(struct qr_slice a, struct qr_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

/*
 * Parses a decimal unsigned integer that is the whole slice: no sign, no spaces, not
 * empty, at most max. Returns false on any of those.
 */
static inline bool qr_slice_u64(struct qr_slice s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (s.len == 0 || s.len > 20)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

#endif
