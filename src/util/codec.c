/*
 * codec.c - URI and XML escaping, timestamps, Range parsing and random ids (codec.h).
 * Every parser here reads a (pointer, length) slice through a bounded cursor and never
 * looks past its end; none calls strlen, sscanf or strtol on its input. Calendar
 * arithmetic is proleptic Gregorian on int64 days, so no libc time zone state (TZ,
 * localtime) is involved.
 */
#include "util/codec.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/ckd.h"

/* Every timestamp we render lies in [0000-01-01T00:00:00.000Z, 9999-12-31T23:59:59.999Z]. */
#define MS_PER_DAY INT64_C(86400000)
#define MIN_MS     (INT64_C(-719528) * MS_PER_DAY)     /* 0000-01-01 is day -719528 */
#define MAX_MS     (INT64_C(2932897) * MS_PER_DAY - 1) /* 10000-01-01 is day 2932897 */

static const char upper_hex[] = "0123456789ABCDEF";

/* Restores out after a failed append: "on error *out is as it was". */
static void buf_truncate(struct qr_buf *out, size_t len)
{
    out->len = len;
    if (out->p)
        out->p[len] = '\0';
}

/* ---- URI ------------------------------------------------------------------------- */

bool qr_uri_decode_into(struct qr_slice in, bool plus_is_space, uint8_t *dst, size_t *out_len)
{
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.p[i];
        if (c == '%') {
            int hi = in.len - i >= 3 ? qr_hex_val(in.p[i + 1]) : -1;
            int lo = hi >= 0 ? qr_hex_val(in.p[i + 2]) : -1;
            if (lo < 0)
                return false;
            c = (uint8_t)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        dst[n++] = c;
    }
    *out_len = n;
    return true;
}

enum qr_err qr_uri_decode(struct qr_slice in, bool plus_is_space, struct qr_buf *out)
{
    if (in.len == 0) /* in.p may be NULL: no pointer arithmetic on it */
        return QR_OK;
    size_t start_len = out->len;
    enum qr_err err = QR_OK;
    size_t run = 0; /* start of the pending run of bytes copied unchanged */
    size_t i = 0;
    while (i < in.len) {
        uint8_t c = in.p[i];
        if (c != '%' && !(c == '+' && plus_is_space)) {
            i++;
            continue;
        }
        if ((err = qr_buf_add(out, in.p + run, i - run)) != QR_OK)
            goto out;
        uint8_t dec = ' ';
        if (c == '%') {
            int hi = in.len - i >= 3 ? qr_hex_val(in.p[i + 1]) : -1;
            int lo = in.len - i >= 3 ? qr_hex_val(in.p[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                err = QR_E_BAD_INPUT;
                goto out;
            }
            dec = (uint8_t)(hi << 4 | lo);
            i += 3;
        } else {
            i++;
        }
        if ((err = qr_buf_add(out, &dec, 1)) != QR_OK)
            goto out;
        run = i;
    }
    err = qr_buf_add(out, in.p + run, i - run);
out:
    if (err != QR_OK)
        buf_truncate(out, start_len);
    return err;
}

static bool uri_unreserved(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

enum qr_err qr_uri_encode(struct qr_slice in, bool keep_slash, struct qr_buf *out)
{
    if (in.len == 0) /* in.p may be NULL: no pointer arithmetic on it */
        return QR_OK;
    size_t start_len = out->len;
    enum qr_err err = QR_OK;
    size_t run = 0;
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.p[i];
        if (uri_unreserved(c) || (c == '/' && keep_slash))
            continue;
        char esc[3] = {'%', upper_hex[c >> 4], upper_hex[c & 15]};
        if ((err = qr_buf_add(out, in.p + run, i - run)) != QR_OK ||
            (err = qr_buf_add(out, esc, sizeof esc)) != QR_OK)
            goto out;
        run = i + 1;
    }
    err = qr_buf_add(out, in.p + run, in.len - run);
out:
    if (err != QR_OK)
        buf_truncate(out, start_len);
    return err;
}

/* ---- XML ------------------------------------------------------------------------- */

/* The replacement text for c, written to tmp when it is computed; NULL to keep c. */
static const char *xml_entity(uint8_t c, char tmp[8])
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&apos;";
    case '\t':
    case '\n':
        return NULL;
    default:
        break;
    }
    if (c >= 0x20)
        return NULL;
    /* XML 1.0 has no literal form for these; S3 writes a character reference. */
    size_t n = 0;
    tmp[n++] = '&';
    tmp[n++] = '#';
    tmp[n++] = 'x';
    if (c >= 16)
        tmp[n++] = upper_hex[c >> 4];
    tmp[n++] = upper_hex[c & 15];
    tmp[n++] = ';';
    tmp[n] = '\0';
    return tmp;
}

enum qr_err qr_xml_escape(struct qr_slice in, struct qr_buf *out)
{
    if (in.len == 0) /* in.p may be NULL: no pointer arithmetic on it */
        return QR_OK;
    size_t start_len = out->len;
    enum qr_err err = QR_OK;
    size_t run = 0;
    for (size_t i = 0; i < in.len; i++) {
        char tmp[8];
        const char *ent = xml_entity(in.p[i], tmp);
        if (!ent)
            continue;
        if ((err = qr_buf_add(out, in.p + run, i - run)) != QR_OK ||
            (err = qr_buf_adds(out, ent)) != QR_OK)
            goto out;
        run = i + 1;
    }
    err = qr_buf_add(out, in.p + run, in.len - run);
out:
    if (err != QR_OK)
        buf_truncate(out, start_len);
    return err;
}

/* ---- calendar ---------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date: March-based years put the leap
 * day last, so the day of the year is a linear function of the month. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

struct civil {
    int64_t year;
    unsigned month, day, hour, min, sec, ms, wday; /* wday 0 = Sunday */
};

static void civil_from_ms(int64_t ms, struct civil *c)
{
    if (ms < MIN_MS)
        ms = MIN_MS;
    if (ms > MAX_MS)
        ms = MAX_MS;
    int64_t z = ms / MS_PER_DAY, rem = ms % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        z--;
    }
    c->wday = (unsigned)(((z % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    c->ms = (unsigned)(rem % 1000);
    c->sec = (unsigned)(rem / 1000 % 60);
    c->min = (unsigned)(rem / 60000 % 60);
    c->hour = (unsigned)(rem / 3600000);
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    c->day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    c->month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    c->year = yoe + era * 400 + (c->month <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static const char *const wday_short[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wday_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};
static const char *const month_short[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Writes v as exactly n decimal digits (v < 10^n). */
static char *put_digits(char *o, unsigned v, unsigned n)
{
    for (unsigned i = n; i > 0; i--) {
        o[i - 1] = (char)('0' + v % 10);
        v /= 10;
    }
    return o + n;
}

static char *put_str(char *o, const char *s)
{
    while (*s)
        *o++ = *s++;
    return o;
}

void qr_time_iso8601(int64_t ms, char out[QR_TIME_ISO8601_LEN])
{
    struct civil c;
    civil_from_ms(ms, &c);
    char *o = put_digits(out, (unsigned)c.year, 4);
    *o++ = '-';
    o = put_digits(o, c.month, 2);
    *o++ = '-';
    o = put_digits(o, c.day, 2);
    *o++ = 'T';
    o = put_digits(o, c.hour, 2);
    *o++ = ':';
    o = put_digits(o, c.min, 2);
    *o++ = ':';
    o = put_digits(o, c.sec, 2);
    *o++ = '.';
    o = put_digits(o, c.ms, 3);
    *o++ = 'Z';
    *o = '\0';
}

void qr_time_http(int64_t ms, char out[QR_TIME_HTTP_LEN])
{
    struct civil c;
    civil_from_ms(ms, &c);
    char *o = put_str(out, wday_short[c.wday]);
    o = put_str(o, ", ");
    o = put_digits(o, c.day, 2);
    *o++ = ' ';
    o = put_str(o, month_short[c.month - 1]);
    *o++ = ' ';
    o = put_digits(o, (unsigned)c.year, 4);
    *o++ = ' ';
    o = put_digits(o, c.hour, 2);
    *o++ = ':';
    o = put_digits(o, c.min, 2);
    *o++ = ':';
    o = put_digits(o, c.sec, 2);
    o = put_str(o, " GMT");
    *o = '\0';
}

int64_t qr_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- bounded cursor parsing ---------------------------------------------------------- */

struct cur {
    const uint8_t *p; /* borrowed input */
    size_t len;       /* bytes at p */
    size_t pos;       /* next byte to read; pos <= len */
};

static bool cur_end(const struct cur *c)
{
    return c->pos == c->len;
}

static bool cur_peek(const struct cur *c, uint8_t ch)
{
    return c->pos < c->len && c->p[c->pos] == ch;
}

/* Consumes the exact bytes of lit if they come next. */
static bool cur_lit(struct cur *c, const char *lit)
{
    size_t n = 0;
    while (lit[n])
        n++;
    if (c->len - c->pos < n || memcmp(c->p + c->pos, lit, n) != 0)
        return false;
    c->pos += n;
    return true;
}

/* Consumes min..max decimal digits (stopping at the first non-digit) into *out. */
static bool cur_digits(struct cur *c, unsigned min, unsigned max, unsigned *out)
{
    unsigned v = 0, n = 0;
    while (n < max && c->pos < c->len && c->p[c->pos] >= '0' && c->p[c->pos] <= '9') {
        v = v * 10 + (unsigned)(c->p[c->pos] - '0');
        c->pos++;
        n++;
    }
    if (n < min)
        return false;
    *out = v;
    return true;
}

/* Consumes one of the n names (none may be a prefix of another); sets *out to its index. */
static bool cur_name(struct cur *c, const char *const *names, size_t n, unsigned *out)
{
    for (size_t i = 0; i < n; i++) {
        if (cur_lit(c, names[i])) {
            *out = (unsigned)i;
            return true;
        }
    }
    return false;
}

static bool cur_month(struct cur *c, unsigned *out)
{
    unsigned i;
    if (!cur_name(c, month_short, 12, &i))
        return false;
    *out = i + 1;
    return true;
}

/* "HH:MM:SS" */
static bool cur_hms(struct cur *c, struct civil *t)
{
    return cur_digits(c, 2, 2, &t->hour) && cur_lit(c, ":") && cur_digits(c, 2, 2, &t->min) &&
           cur_lit(c, ":") && cur_digits(c, 2, 2, &t->sec);
}

static bool cur_zone(struct cur *c)
{
    return cur_lit(c, "GMT") || cur_lit(c, "UTC");
}

/* Range-checks t and converts it. Seconds may be 60 (a leap second), which lands on
 * the next minute's :00 as POSIX time does. */
static bool civil_to_ms(const struct civil *t, int64_t *out_ms)
{
    if (t->year < 0 || t->year > 9999 || t->month < 1 || t->month > 12 || t->day < 1 ||
        t->day > days_in_month(t->year, t->month) || t->hour > 23 || t->min > 59 || t->sec > 60 ||
        t->ms > 999)
        return false;
    int64_t days = days_from_civil(t->year, t->month, t->day);
    *out_ms = days * MS_PER_DAY + (int64_t)t->hour * 3600000 + (int64_t)t->min * 60000 +
              (int64_t)t->sec * 1000 + t->ms;
    return true;
}

static bool parse_iso(struct cur *c, struct civil *t)
{
    unsigned y;
    if (!cur_digits(c, 4, 4, &y) || !cur_lit(c, "-") || !cur_digits(c, 2, 2, &t->month) ||
        !cur_lit(c, "-") || !cur_digits(c, 2, 2, &t->day) || !cur_lit(c, "T") || !cur_hms(c, t))
        return false;
    t->year = y;
    if (cur_lit(c, ".")) {
        unsigned n = 0;
        t->ms = 0;
        while (c->pos < c->len && c->p[c->pos] >= '0' && c->p[c->pos] <= '9') {
            if (++n > 9)
                return false;
            if (n <= 3)
                t->ms = t->ms * 10 + (unsigned)(c->p[c->pos] - '0');
            c->pos++;
        }
        if (n == 0)
            return false;
        for (; n < 3; n++)
            t->ms *= 10;
    }
    return cur_lit(c, "Z");
}

/* After "Sunday": ", 06-Nov-94 08:49:37 GMT" */
static bool parse_rfc850(struct cur *c, struct civil *t)
{
    unsigned yy;
    if (!cur_lit(c, ", ") || !cur_digits(c, 2, 2, &t->day) || !cur_lit(c, "-") ||
        !cur_month(c, &t->month) || !cur_lit(c, "-") || !cur_digits(c, 2, 2, &yy) ||
        !cur_lit(c, " ") || !cur_hms(c, t) || !cur_lit(c, " ") || !cur_zone(c))
        return false;
    t->year = yy < 70 ? 2000 + yy : 1900 + yy;
    return true;
}

/* After "Sun": ", 06 Nov 1994 08:49:37 GMT" */
static bool parse_imf(struct cur *c, struct civil *t)
{
    unsigned y;
    if (!cur_lit(c, ", ") || !cur_digits(c, 1, 2, &t->day) || !cur_lit(c, " ") ||
        !cur_month(c, &t->month) || !cur_lit(c, " ") || !cur_digits(c, 4, 4, &y) ||
        !cur_lit(c, " ") || !cur_hms(c, t) || !cur_lit(c, " ") || !cur_zone(c))
        return false;
    t->year = y;
    return true;
}

/* After "Sun": " Nov  6 08:49:37 1994" (day padded with a space to two characters) */
static bool parse_asctime(struct cur *c, struct civil *t)
{
    unsigned y;
    if (!cur_lit(c, " ") || !cur_month(c, &t->month) || !cur_lit(c, " "))
        return false;
    if (cur_lit(c, " ")) {
        if (!cur_digits(c, 1, 1, &t->day))
            return false;
    } else if (!cur_digits(c, 2, 2, &t->day)) {
        return false;
    }
    if (!cur_lit(c, " ") || !cur_hms(c, t) || !cur_lit(c, " ") || !cur_digits(c, 4, 4, &y))
        return false;
    t->year = y;
    return true;
}

bool qr_time_parse_http(struct qr_slice s, int64_t *out_ms)
{
    struct cur c = {s.p, s.len, 0};
    struct civil t = {0};
    unsigned wd;
    bool ok;
    if (s.len > 64) /* the longest form is 30 bytes; 9 fraction digits make ISO 30 */
        return false;
    if (s.len > 0 && s.p[0] >= '0' && s.p[0] <= '9') {
        ok = parse_iso(&c, &t);
    } else if (cur_name(&c, wday_long, 7, &wd)) {
        ok = parse_rfc850(&c, &t);
    } else {
        ok = cur_name(&c, wday_short, 7, &wd) &&
             (cur_peek(&c, ',') ? parse_imf(&c, &t) : parse_asctime(&c, &t));
    }
    return ok && cur_end(&c) && civil_to_ms(&t, out_ms);
}

bool qr_time_parse_amz(struct qr_slice s, int64_t *out_ms)
{
    struct cur c = {s.p, s.len, 0};
    struct civil t = {0};
    unsigned y;
    if (!cur_digits(&c, 4, 4, &y) || !cur_digits(&c, 2, 2, &t.month) ||
        !cur_digits(&c, 2, 2, &t.day) || !cur_lit(&c, "T") || !cur_digits(&c, 2, 2, &t.hour) ||
        !cur_digits(&c, 2, 2, &t.min) || !cur_digits(&c, 2, 2, &t.sec) || !cur_lit(&c, "Z") ||
        !cur_end(&c))
        return false;
    t.year = y;
    return civil_to_ms(&t, out_ms);
}

/* ---- Range ------------------------------------------------------------------------- */

/* One or more digits; a value past UINT64_MAX saturates (it is then "beyond any
 * object", which is exactly how RFC 9110 wants a huge position treated). */
static bool cur_pos(struct cur *c, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = c->pos;
    for (; c->pos < c->len && c->p[c->pos] >= '0' && c->p[c->pos] <= '9'; c->pos++) {
        uint64_t d = (uint64_t)(c->p[c->pos] - '0');
        if (qr_mul_overflow(v, (uint64_t)10, &v) || qr_add_overflow(v, d, &v))
            v = UINT64_MAX;
    }
    if (c->pos == start)
        return false;
    *out = v;
    return true;
}

static void cur_ows(struct cur *c)
{
    while (cur_peek(c, ' ') || cur_peek(c, '\t'))
        c->pos++;
}

enum qr_err qr_range_parse(struct qr_slice header, uint64_t size, uint64_t *out_off,
                           uint64_t *out_len)
{
    struct cur c = {header.p, header.len, 0};
    uint64_t first, last = UINT64_MAX, off, len;
    if (header.len < 6 || !qr_slice_ieq(qr_slice(header.p, 6), QR_SLICE_LIT("bytes=")))
        return QR_E_BAD_INPUT;
    c.pos = 6;
    cur_ows(&c);
    if (cur_lit(&c, "-")) {
        uint64_t suffix;
        if (!cur_pos(&c, &suffix))
            return QR_E_BAD_INPUT;
        cur_ows(&c);
        if (!cur_end(&c))
            return QR_E_BAD_INPUT; /* a list of ranges, or junk */
        if (suffix == 0 || size == 0)
            return QR_E_INVALID_RANGE;
        off = suffix >= size ? 0 : size - suffix;
        len = size - off;
    } else {
        if (!cur_pos(&c, &first) || !cur_lit(&c, "-"))
            return QR_E_BAD_INPUT;
        bool has_last = cur_pos(&c, &last);
        cur_ows(&c);
        if (!cur_end(&c))
            return QR_E_BAD_INPUT;
        if (has_last && last < first)
            return QR_E_BAD_INPUT; /* RFC 9110 14.1.1: invalid, so the header is ignored */
        if (first >= size)
            return QR_E_INVALID_RANGE;
        if (last > size - 1)
            last = size - 1;
        off = first;
        if (qr_add_overflow(last - first, (uint64_t)1, &len))
            return QR_E_BAD_INPUT; /* unreachable: last < size */
    }
    *out_off = off;
    *out_len = len;
    return QR_OK;
}

/* ---- random ids -------------------------------------------------------------------- */

static void random_bytes(uint8_t *p, size_t n)
{
    while (n > 0) {
        int chunk = n > 4096 ? 4096 : (int)n;
        if (RAND_bytes(p, chunk) != 1)
            abort(); /* no entropy: an id could repeat, and nothing sane remains */
        p += chunk;
        n -= (size_t)chunk;
    }
}

void qr_random_hex(char *out, size_t nbytes)
{
    static const char lower_hex[] = "0123456789abcdef";
    uint8_t b[32];
    size_t o = 0;
    while (nbytes > 0) {
        size_t n = nbytes < sizeof b ? nbytes : sizeof b;
        random_bytes(b, n);
        for (size_t i = 0; i < n; i++) {
            out[o++] = lower_hex[b[i] >> 4];
            out[o++] = lower_hex[b[i] & 15];
        }
        nbytes -= n;
    }
    out[o] = '\0';
    OPENSSL_cleanse(b, sizeof b);
}

void qr_uuid4(char out[37])
{
    static const char lower_hex[] = "0123456789abcdef";
    uint8_t b[16];
    random_bytes(b, sizeof b);
    b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3F) | 0x80); /* variant 10xx */
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = lower_hex[b[i] >> 4];
        out[o++] = lower_hex[b[i] & 15];
    }
    out[o] = '\0';
}
