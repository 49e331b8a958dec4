/*
 * sigv4.c - AWS Signature Version 4 on the server side: parse the Authorization header
 * or a presigned query, rebuild the canonical request from the raw path, query and
 * headers exactly as they arrived, compare signatures, and decode aws-chunked bodies.
 *
 * Invariants: every input is a (pointer, length) slice and is read only inside its
 * bounds; every size derived from input is checked (ckd.h) before it is used; signatures
 * are compared with CRYPTO_memcmp over all 64 hex characters; signing keys and secrets
 * copied to the stack are wiped with OPENSSL_cleanse before return. Nothing here logs.
 *
 * Choices the header leaves open:
 *  - a header named in SignedHeaders that the request does not carry is QR_E_SIGNATURE
 *    (the request is not the one that was signed), found by sigv4_verify;
 *  - auth->payload_hash holds the exact payload line of the canonical request
 *    ("UNSIGNED-PAYLOAD", "STREAMING-...", or the declared hex as sent), and is "" only
 *    when the caller must hash the body (no x-amz-content-sha256);
 *  - for presigned URLs auth->signed_headers and the token slices are the raw query
 *    values, still percent-encoded (the tokens quarry mints use only unreserved chars).
 */
#include "auth/sigv4.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "util/ckd.h"
#include "util/codec.h"
#include "util/limits.h"

/* Bounds on what we canonicalise. The HTTP layer caps all headers at
 * QR_MAX_HEADER_BYTES; these keep sigv4 safe even when called with more. */
#define SIGV4_MAX_PATH           16384u         /* raw path; a key is <= 1024 bytes */
#define SIGV4_MAX_QUERY          32768u         /* presigned URLs with STS tokens fit */
#define SIGV4_MAX_PARAMS         1024u          /* query parameters */
#define SIGV4_MAX_CANONICAL      (256u * 1024u) /* canonical request */
#define SIGV4_MAX_SECRET         256u           /* secret access key */
#define SIGV4_MAX_METHOD         32u
#define SIGV4_MAX_SIGNED_HEADERS 4096u /* the SignedHeaders list itself */
#define SIGV4_MAX_CHUNK_LINE     128u  /* "hex;chunk-signature=<64 hex>" */

static const char EMPTY_SHA256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
static const char HEX_UPPER[] = "0123456789ABCDEF";
static const char HEX_LOWER[] = "0123456789abcdef";

/* ---- small byte helpers ---------------------------------------------------------- */

static bool is_unreserved(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static bool is_space(uint8_t c)
{
    /* Python's str.split() whitespace in ASCII, which botocore uses to trim values. */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_lower_tchar(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
           c == '+' || c == '^' || c == '`' || c == '|' || c == '~';
}

static struct qr_slice slice_trim(struct qr_slice s)
{
    while (s.len && is_space(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len && is_space(s.p[s.len - 1]))
        s.len--;
    return s;
}

/* Position of the first c in s at or after from, or s.len. */
static size_t slice_find(struct qr_slice s, size_t from, uint8_t c)
{
    for (size_t i = from; i < s.len; i++)
        if (s.p[i] == c)
            return i;
    return s.len;
}

static struct qr_slice slice_sub(struct qr_slice s, size_t from, size_t to)
{
    return qr_slice(s.p + from, to - from);
}

/* Copies s into a NUL-terminated char array of size cap; false when it does not fit. */
static bool copy_cstr(char *dst, size_t cap, struct qr_slice s)
{
    if (s.len >= cap)
        return false;
    if (s.len)
        memcpy(dst, s.p, s.len);
    dst[s.len] = '\0';
    return true;
}

/* 64 hex chars (either case) -> lower-case NUL-terminated into out[65]. */
static bool parse_sig_hex(struct qr_slice s, char out[65])
{
    if (s.len != 64)
        return false;
    for (size_t i = 0; i < 64; i++) {
        int v = qr_hex_val(s.p[i]);
        if (v < 0)
            return false;
        out[i] = HEX_LOWER[v];
    }
    out[64] = '\0';
    return true;
}

static void hex_lower(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX_LOWER[p[i] >> 4];
        out[2 * i + 1] = HEX_LOWER[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/*
 * SHA-256 and HMAC-SHA256 through OpenSSL's low-level SHA256_* calls: every request
 * takes six HMACs and two hashes here, and OpenSSL 3's EVP and HMAC() one-shots fetch the
 * algorithm from the provider store each time (locks shared by all loop threads). The
 * low-level calls are deprecated in OpenSSL 3 but remain, and cost a fraction of that.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void sha256(const void *data, size_t len, uint8_t out[32])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    if (len)
        SHA256_Update(&c, data, len);
    SHA256_Final(out, &c);
}

static void hmac_sha256(const uint8_t *key, size_t key_len, const void *msg, size_t len,
                        uint8_t out[32])
{
    uint8_t k[64] = {0}, pad[64], inner[32];
    SHA256_CTX c;
    if (key_len > sizeof(k))
        sha256(key, key_len, k);
    else if (key_len)
        memcpy(k, key, key_len);
    for (size_t i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    SHA256_Init(&c);
    SHA256_Update(&c, pad, 64);
    if (len)
        SHA256_Update(&c, msg, len);
    SHA256_Final(inner, &c);
    for (size_t i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    SHA256_Init(&c);
    SHA256_Update(&c, pad, 64);
    SHA256_Update(&c, inner, 32);
    SHA256_Final(out, &c);
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(&c, sizeof(c));
}
#pragma GCC diagnostic pop

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    sha256(data, len, md);
    hex_lower(md, sizeof(md), out);
}

/* Percent-decodes one byte at s.p[*i]; a '%' not followed by two hex digits stays a
 * literal '%' (it is then re-encoded as %25, as a client that signed it verbatim did). */
static uint8_t decode_at(struct qr_slice s, size_t *i)
{
    uint8_t c = s.p[*i];
    if (c == '%' && s.len - *i > 2) {
        int hi = qr_hex_val(s.p[*i + 1]), lo = qr_hex_val(s.p[*i + 2]);
        if (hi >= 0 && lo >= 0) {
            *i += 2;
            return (uint8_t)(hi * 16 + lo);
        }
    }
    return c;
}

static enum qr_err add_encoded_byte(struct qr_buf *b, uint8_t c, bool keep_slash)
{
    if (is_unreserved(c) || (keep_slash && c == '/'))
        return qr_buf_add(b, &c, 1);
    char esc[3] = {'%', HEX_UPPER[c >> 4], HEX_UPPER[c & 15]};
    return qr_buf_add(b, esc, 3);
}

/* AWS UriEncode of the percent-decoded s ('/' encoded too unless keep_slash). A raw '+'
 * is a '+' (SigV4 has no form encoding), and the query decoder of route.c reads it the
 * same way, so what is verified is what is used. Bytes are staged on the stack and
 * appended in runs: this runs over every byte of every signed path and query. */
static enum qr_err add_reencoded(struct qr_buf *b, struct qr_slice s, bool keep_slash)
{
    char run[256];
    size_t n = 0;
    enum qr_err err = QR_OK;
    for (size_t i = 0; i < s.len && err == QR_OK; i++) {
        uint8_t c = decode_at(s, &i);
        if (n + 3 > sizeof(run)) {
            err = qr_buf_add(b, run, n);
            n = 0;
        }
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            run[n++] = (char)c;
        } else {
            run[n++] = '%';
            run[n++] = HEX_UPPER[c >> 4];
            run[n++] = HEX_UPPER[c & 15];
        }
    }
    if (err == QR_OK && n)
        err = qr_buf_add(b, run, n);
    return err;
}

/* Percent-decodes s into dst (cap bytes, NUL-terminated); false when it does not fit. */
static bool decode_cstr(char *dst, size_t cap, struct qr_slice s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (n + 1 >= cap)
            return false;
        dst[n++] = (char)decode_at(s, &i);
    }
    if (cap == 0)
        return false;
    dst[n] = '\0';
    return true;
}

/* ---- request header access --------------------------------------------------------- */

/* The value of the only header named name (lower-case literal); false when absent.
 * *out_dup is set when the header appears more than once. */
static bool find_header(const struct sigv4_input *in, const char *name, struct qr_slice *out,
                        bool *out_dup)
{
    struct qr_slice want = qr_slice_cstr(name);
    bool found = false;
    *out_dup = false;
    for (size_t i = 0; i < in->n_headers; i++) {
        if (!qr_slice_ieq(in->headers[i].name, want))
            continue;
        if (found)
            *out_dup = true;
        else
            *out = in->headers[i].value;
        found = true;
    }
    return found;
}

/* ---- dates ------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool digits(const uint8_t *p, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    *out = v;
    return true;
}

static bool civil_ok(unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s)
{
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59)
        return false;
    return d <= mdays[mo - 1] + (mo == 2 && is_leap(y));
}

static int64_t civil_ms(unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s)
{
    int64_t days = days_from_civil(y, mo, d);
    return ((days * 86400) + h * 3600 + mi * 60 + s) * 1000;
}

/* yyyymmddTHHMMSSZ -> ms since the epoch. */
static bool parse_amz_date(struct qr_slice s, int64_t *out_ms)
{
    unsigned y, mo, d, h, mi, sec;
    if (s.len != 16 || s.p[8] != 'T' || s.p[15] != 'Z')
        return false;
    if (!digits(s.p, 4, &y) || !digits(s.p + 4, 2, &mo) || !digits(s.p + 6, 2, &d) ||
        !digits(s.p + 9, 2, &h) || !digits(s.p + 11, 2, &mi) || !digits(s.p + 13, 2, &sec))
        return false;
    if (!civil_ok(y, mo, d, h, mi, sec))
        return false;
    *out_ms = civil_ms(y, mo, d, h, mi, sec);
    return true;
}

/* RFC 1123 "Wed, 25 Nov 2026 12:00:00 GMT" (botocore writes "-0000" for the zone) ->
 * yyyymmddTHHMMSSZ and ms. */
static bool parse_http_date(struct qr_slice s, char amz[17], int64_t *out_ms)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    unsigned y, mo = 0, d, h, mi, sec;
    if (s.len < 29 || s.p[3] != ',' || s.p[4] != ' ' || s.p[7] != ' ' || s.p[11] != ' ' ||
        s.p[16] != ' ' || s.p[19] != ':' || s.p[22] != ':' || s.p[25] != ' ')
        return false;
    struct qr_slice zone = slice_sub(s, 26, s.len);
    if (!qr_slice_eq_lit(zone, "GMT") && !qr_slice_eq_lit(zone, "-0000") &&
        !qr_slice_eq_lit(zone, "+0000") && !qr_slice_eq_lit(zone, "UTC"))
        return false;
    for (unsigned i = 0; i < 12; i++)
        if (memcmp(s.p + 8, months + 3 * i, 3) == 0)
            mo = i + 1;
    if (mo == 0 || !digits(s.p + 5, 2, &d) || !digits(s.p + 12, 4, &y) ||
        !digits(s.p + 17, 2, &h) || !digits(s.p + 20, 2, &mi) || !digits(s.p + 23, 2, &sec))
        return false;
    if (!civil_ok(y, mo, d, h, mi, sec))
        return false;
    amz[0] = (char)('0' + y / 1000);
    amz[1] = (char)('0' + y / 100 % 10);
    amz[2] = (char)('0' + y / 10 % 10);
    amz[3] = (char)('0' + y % 10);
    amz[4] = (char)('0' + mo / 10);
    amz[5] = (char)('0' + mo % 10);
    amz[6] = (char)('0' + d / 10);
    amz[7] = (char)('0' + d % 10);
    amz[8] = 'T';
    amz[9] = (char)('0' + h / 10);
    amz[10] = (char)('0' + h % 10);
    amz[11] = (char)('0' + mi / 10);
    amz[12] = (char)('0' + mi % 10);
    amz[13] = (char)('0' + sec / 10);
    amz[14] = (char)('0' + sec % 10);
    amz[15] = 'Z';
    amz[16] = '\0';
    *out_ms = civil_ms(y, mo, d, h, mi, sec);
    return true;
}

/* ---- authorization fields ---------------------------------------------------------- */

static bool scope_word_ok(struct qr_slice s, size_t max)
{
    if (s.len == 0 || s.len > max)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

/* "AKID/yyyymmdd/region/service/aws4_request" (already percent-decoded). */
static bool parse_credential(struct qr_slice cred, struct sigv4_auth *out)
{
    size_t cut[4], n = 0, i = cred.len;
    while (i > 0 && n < 4) {
        i--;
        if (cred.p[i] == '/')
            cut[n++] = i;
    }
    if (n != 4)
        return false;
    /* cut[3] < cut[2] < cut[1] < cut[0] */
    struct qr_slice akid = slice_sub(cred, 0, cut[3]);
    struct qr_slice date = slice_sub(cred, cut[3] + 1, cut[2]);
    struct qr_slice region = slice_sub(cred, cut[2] + 1, cut[1]);
    struct qr_slice service = slice_sub(cred, cut[1] + 1, cut[0]);
    struct qr_slice term = slice_sub(cred, cut[0] + 1, cred.len);
    unsigned ymd;
    if (akid.len == 0 || akid.len > 128 || date.len != 8 || !digits(date.p, 8, &ymd) ||
        !scope_word_ok(region, 32) || !scope_word_ok(service, 32) ||
        !qr_slice_eq_lit(term, "aws4_request"))
        return false;
    for (size_t k = 0; k < akid.len; k++)
        if (akid.p[k] <= 0x20 || akid.p[k] >= 0x7f)
            return false;
    return copy_cstr(out->akid, sizeof(out->akid), akid) &&
           copy_cstr(out->date, sizeof(out->date), date) &&
           copy_cstr(out->region, sizeof(out->region), region) &&
           copy_cstr(out->service, sizeof(out->service), service);
}

/* A decoded SignedHeaders list: lower-case names separated by ';', host among them. */
static bool signed_headers_ok(struct qr_slice s)
{
    bool host = false;
    size_t start = 0;
    if (s.len == 0 || s.len > SIGV4_MAX_SIGNED_HEADERS)
        return false;
    while (start <= s.len) {
        size_t end = slice_find(s, start, ';');
        struct qr_slice name = slice_sub(s, start, end);
        if (name.len == 0)
            return false;
        for (size_t i = 0; i < name.len; i++)
            if (!is_lower_tchar(name.p[i]))
                return false;
        if (qr_slice_eq_lit(name, "host"))
            host = true;
        start = end + 1;
    }
    return host;
}

static bool payload_from_value(struct qr_slice v, struct sigv4_auth *out)
{
    static const struct {
        const char *lit;
        enum sigv4_payload kind;
    } modes[] = {
        {"UNSIGNED-PAYLOAD", SIGV4_PAYLOAD_UNSIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", SIGV4_PAYLOAD_STREAMING},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", SIGV4_PAYLOAD_STREAMING_TRAILER},
        {"STREAMING-UNSIGNED-PAYLOAD-TRAILER", SIGV4_PAYLOAD_UNSIGNED_TRAILER},
    };
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (qr_slice_eq_lit(v, modes[i].lit)) {
            out->payload = modes[i].kind;
            return copy_cstr(out->payload_hash, sizeof(out->payload_hash), v);
        }
    }
    /* 64 hex: kept as sent, since the canonical request carries it verbatim. */
    if (v.len != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (qr_hex_val(v.p[i]) < 0)
            return false;
    out->payload = SIGV4_PAYLOAD_HASH;
    return copy_cstr(out->payload_hash, sizeof(out->payload_hash), v);
}

static bool is_s3_service(const char *service)
{
    return strcmp(service, "s3") == 0 || strcmp(service, "s3express") == 0;
}

/* ---- query iteration --------------------------------------------------------------- */

struct query_iter {
    struct qr_slice q;
    size_t pos;
};

/* Next non-empty "name[=value]" pair; false at the end. */
static bool query_next(struct query_iter *it, struct qr_slice *name, struct qr_slice *value)
{
    while (it->pos <= it->q.len && it->q.len > 0) {
        size_t end = slice_find(it->q, it->pos, '&');
        struct qr_slice pair = slice_sub(it->q, it->pos, end);
        it->pos = end + 1;
        if (pair.len == 0)
            continue;
        size_t eq = slice_find(pair, 0, '=');
        *name = slice_sub(pair, 0, eq);
        *value = eq < pair.len ? slice_sub(pair, eq + 1, pair.len) : qr_slice(NULL, 0);
        return true;
    }
    return false;
}

/* A query parameter's name, percent-decoded into buf (NUL-terminated); false when it is
 * too long to be one quarry reads. Decoded once per parameter, then compared. */
#define QNAME_BUF 48
static bool qname_decode(struct qr_slice raw, char buf[QNAME_BUF])
{
    return raw.len < 3 * QNAME_BUF && decode_cstr(buf, QNAME_BUF, raw);
}

/* Compares a raw query name with lit after percent-decoding (names are short). */
static bool qname_is(struct qr_slice raw, const char *lit, bool icase)
{
    char buf[QNAME_BUF];
    if (!qname_decode(raw, buf))
        return false;
    return icase ? qr_slice_ieq(qr_slice_cstr(buf), qr_slice_cstr(lit)) : strcmp(buf, lit) == 0;
}

static bool query_has_presign(struct qr_slice q)
{
    struct query_iter it = {q, 0};
    struct qr_slice n, v;
    char nm[QNAME_BUF];
    while (query_next(&it, &n, &v))
        if (qname_decode(n, nm) &&
            (strcmp(nm, "X-Amz-Algorithm") == 0 || strcmp(nm, "X-Amz-Credential") == 0 ||
             strcmp(nm, "X-Amz-Signature") == 0))
            return true;
    return false;
}

/* ---- parse ------------------------------------------------------------------------- */

static enum qr_err parse_header_auth(const struct sigv4_input *in, struct qr_slice authz,
                                     struct sigv4_auth *out)
{
    static const char ALG[] = "AWS4-HMAC-SHA256";
    struct qr_slice cred = {0}, sh = {0}, sig = {0}, v;
    bool have_cred = false, have_sh = false, have_sig = false, dup;

    if (!qr_slice_starts(authz, QR_SLICE_LIT(ALG)) || authz.len == sizeof(ALG) - 1 ||
        authz.p[sizeof(ALG) - 1] != ' ')
        return QR_E_AUTH_MALFORMED;
    struct qr_slice rest = slice_sub(authz, sizeof(ALG) - 1, authz.len);
    size_t pos = 0;
    while (pos <= rest.len) { /* a trailing ',' leaves an empty part: malformed */
        size_t end = slice_find(rest, pos, ',');
        struct qr_slice part = slice_trim(slice_sub(rest, pos, end));
        pos = end + 1;
        if (part.len == 0)
            return QR_E_AUTH_MALFORMED;
        size_t eq = slice_find(part, 0, '=');
        if (eq == part.len)
            return QR_E_AUTH_MALFORMED;
        struct qr_slice key = slice_sub(part, 0, eq), val = slice_sub(part, eq + 1, part.len);
        if (qr_slice_eq_lit(key, "Credential") && !have_cred) {
            cred = val;
            have_cred = true;
        } else if (qr_slice_eq_lit(key, "SignedHeaders") && !have_sh) {
            sh = val;
            have_sh = true;
        } else if (qr_slice_eq_lit(key, "Signature") && !have_sig) {
            sig = val;
            have_sig = true;
        } else {
            return QR_E_AUTH_MALFORMED; /* unknown or repeated component */
        }
    }
    if (!have_cred || !have_sh || !have_sig || !parse_credential(cred, out) ||
        !signed_headers_ok(sh) || !parse_sig_hex(sig, out->signature))
        return QR_E_AUTH_MALFORMED;
    out->signed_headers = sh;

    if (find_header(in, "x-amz-date", &v, &dup)) {
        if (dup || !copy_cstr(out->amz_date, sizeof(out->amz_date), v) ||
            !parse_amz_date(v, &out->request_ms))
            return QR_E_AUTH_MALFORMED;
    } else if (find_header(in, "date", &v, &dup)) {
        if (dup || !parse_http_date(v, out->amz_date, &out->request_ms))
            return QR_E_AUTH_MALFORMED;
    } else {
        return QR_E_AUTH_MALFORMED;
    }

    if (find_header(in, "x-amz-content-sha256", &v, &dup)) {
        if (dup || !payload_from_value(v, out))
            return QR_E_AUTH_MALFORMED;
    } else {
        out->payload = SIGV4_PAYLOAD_HASH; /* lambda, iam, sts: the caller hashes the body */
        out->payload_hash[0] = '\0';
    }
    if (find_header(in, "x-amz-security-token", &v, &dup)) {
        if (dup)
            return QR_E_AUTH_MALFORMED;
        out->security_token = v;
    }
    if (find_header(in, "x-amz-s3session-token", &v, &dup)) {
        if (dup)
            return QR_E_AUTH_MALFORMED;
        out->session_token = v;
    }
    return QR_OK;
}

/* The presigned parameters we read, each raw (still percent-encoded). */
struct presign_params {
    struct qr_slice alg, cred, date, expires, sh, sig, sha;
    bool have_alg, have_cred, have_date, have_expires, have_sh, have_sig, have_sha;
    bool dup;
};

static void take_param(struct qr_slice v, struct qr_slice *slot, bool *have, bool *dup)
{
    if (*have)
        *dup = true;
    *slot = v;
    *have = true;
}

static enum qr_err parse_presigned(const struct sigv4_input *in, struct sigv4_auth *out)
{
    struct presign_params pp = {0};
    struct query_iter it = {in->query, 0};
    struct qr_slice n, v;
    bool tok_dup = false, have_tok = false, have_sess = false;
    char buf[320];

    char nm[QNAME_BUF];
    while (query_next(&it, &n, &v)) {
        if (!qname_decode(n, nm))
            continue;
        struct qr_slice ns = qr_slice_cstr(nm);
        if (strcmp(nm, "X-Amz-Algorithm") == 0)
            take_param(v, &pp.alg, &pp.have_alg, &pp.dup);
        else if (strcmp(nm, "X-Amz-Credential") == 0)
            take_param(v, &pp.cred, &pp.have_cred, &pp.dup);
        else if (strcmp(nm, "X-Amz-Date") == 0)
            take_param(v, &pp.date, &pp.have_date, &pp.dup);
        else if (strcmp(nm, "X-Amz-Expires") == 0)
            take_param(v, &pp.expires, &pp.have_expires, &pp.dup);
        else if (strcmp(nm, "X-Amz-SignedHeaders") == 0)
            take_param(v, &pp.sh, &pp.have_sh, &pp.dup);
        else if (strcmp(nm, "X-Amz-Signature") == 0)
            take_param(v, &pp.sig, &pp.have_sig, &pp.dup);
        else if (qr_slice_ieq(ns, QR_SLICE_LIT("X-Amz-Content-Sha256")))
            take_param(v, &pp.sha, &pp.have_sha, &pp.dup);
        else if (qr_slice_ieq(ns, QR_SLICE_LIT("X-Amz-Security-Token")))
            take_param(v, &out->security_token, &have_tok, &tok_dup);
        else if (qr_slice_ieq(ns, QR_SLICE_LIT("X-Amz-S3session-Token")))
            take_param(v, &out->session_token, &have_sess, &tok_dup);
    }
    if (pp.dup || tok_dup || !pp.have_alg || !pp.have_cred || !pp.have_date || !pp.have_expires ||
        !pp.have_sh || !pp.have_sig)
        return QR_E_AUTH_MALFORMED;

    if (!decode_cstr(buf, sizeof(buf), pp.alg) || strcmp(buf, "AWS4-HMAC-SHA256") != 0)
        return QR_E_AUTH_MALFORMED;
    if (!decode_cstr(buf, sizeof(buf), pp.cred) || !parse_credential(qr_slice_cstr(buf), out))
        return QR_E_AUTH_MALFORMED;
    if (!decode_cstr(out->amz_date, sizeof(out->amz_date), pp.date) ||
        !parse_amz_date(qr_slice_cstr(out->amz_date), &out->request_ms))
        return QR_E_AUTH_MALFORMED;
    uint64_t exp;
    if (!decode_cstr(buf, sizeof(buf), pp.expires) ||
        !qr_slice_u64(qr_slice_cstr(buf), QR_MAX_PRESIGN_EXPIRES, &exp) || exp == 0)
        return QR_E_AUTH_MALFORMED;
    out->expires_s = (int64_t)exp;
    if (!decode_cstr(buf, sizeof(buf), pp.sig) ||
        !parse_sig_hex(qr_slice_cstr(buf), out->signature))
        return QR_E_AUTH_MALFORMED;

    char *shbuf = qr_xmalloc(SIGV4_MAX_SIGNED_HEADERS + 1);
    bool sh_ok = decode_cstr(shbuf, SIGV4_MAX_SIGNED_HEADERS + 1, pp.sh) &&
                 signed_headers_ok(qr_slice_cstr(shbuf));
    free(shbuf);
    if (!sh_ok)
        return QR_E_AUTH_MALFORMED;
    out->signed_headers = pp.sh;

    if (pp.have_sha) {
        if (!decode_cstr(buf, sizeof(buf), pp.sha) || !payload_from_value(qr_slice_cstr(buf), out))
            return QR_E_AUTH_MALFORMED;
    } else if (is_s3_service(out->service)) {
        out->payload = SIGV4_PAYLOAD_UNSIGNED;
        memcpy(out->payload_hash, "UNSIGNED-PAYLOAD", sizeof("UNSIGNED-PAYLOAD"));
    } else {
        /* Non-S3 presigned requests (botocore SigV4QueryAuth) sign the body hash. */
        out->payload = SIGV4_PAYLOAD_HASH;
        out->payload_hash[0] = '\0';
    }
    return QR_OK;
}

enum qr_err sigv4_parse(const struct sigv4_input *in, struct sigv4_auth *out)
{
    struct sigv4_auth a;
    struct qr_slice authz;
    bool dup, have_header;
    enum qr_err err;

    memset(&a, 0, sizeof(a));
    if (in->path.len > SIGV4_MAX_PATH || in->query.len > SIGV4_MAX_QUERY)
        return QR_E_AUTH_MALFORMED;
    have_header = find_header(in, "authorization", &authz, &dup);
    bool presign = query_has_presign(in->query);
    if (!have_header && !presign)
        return QR_E_AUTH_MISSING;
    if (have_header && (dup || presign))
        return QR_E_AUTH_MALFORMED; /* two authentication mechanisms: AWS refuses too */

    a.presigned = presign;
    err = presign ? parse_presigned(in, &a) : parse_header_auth(in, authz, &a);
    if (err != QR_OK)
        return err;
    if (memcmp(a.date, a.amz_date, 8) != 0)
        return QR_E_AUTH_MALFORMED; /* scope date must be the request date */

    /* Times: request_ms is within 9999-12-31, now_ms is the server clock; neither sum
     * below can overflow int64, but the clock comes from the caller, so check anyway. */
    int64_t lo, hi;
    if (qr_add_overflow(a.request_ms, QR_MAX_CLOCK_SKEW_MS, &hi) ||
        qr_add_overflow(in->now_ms, QR_MAX_CLOCK_SKEW_MS, &lo))
        return QR_E_AUTH_MALFORMED;
    if (a.presigned) {
        int64_t end;
        if (a.request_ms > lo)
            return QR_E_CLOCK_SKEW; /* dated in the future */
        if (qr_add_overflow(a.request_ms, a.expires_s * 1000, &end))
            return QR_E_AUTH_MALFORMED;
        if (in->now_ms > end)
            return QR_E_EXPIRED;
    } else if (a.request_ms > lo || in->now_ms > hi) {
        return QR_E_CLOCK_SKEW;
    }
    *out = a;
    return QR_OK;
}

/* ---- canonical request ------------------------------------------------------------- */

/* S3: no normalisation; each segment decoded then re-encoded ('%2F' stays '%2F'). */
static enum qr_err add_uri_s3(struct qr_buf *b, struct qr_slice path)
{
    enum qr_err err = QR_OK;
    if (path.len == 0)
        return qr_buf_add(b, "/", 1);
    size_t pos = 0;
    while (err == QR_OK && pos <= path.len) {
        size_t end = slice_find(path, pos, '/');
        err = add_reencoded(b, slice_sub(path, pos, end), false);
        if (err == QR_OK && end < path.len)
            err = qr_buf_add(b, "/", 1);
        pos = end + 1;
    }
    return err;
}

/*
 * Other services (botocore SigV4Auth._normalize_url_path, the JS SDK's getCanonicalPath):
 * drop empty and '.' segments, resolve '..', keep a trailing '/', then URI-encode the
 * still-encoded path once more, so "%3A" on the wire is "%253A" in the canonical URI.
 */
static enum qr_err add_uri_other(struct qr_buf *b, struct qr_slice path)
{
    size_t cap = path.len / 2 + 2, n = 0;
    struct qr_slice *segs = qr_xmalloc(cap * sizeof(*segs));
    enum qr_err err = QR_OK;
    size_t pos = 0;

    while (pos <= path.len && path.len > 0) {
        size_t end = slice_find(path, pos, '/');
        struct qr_slice seg = slice_sub(path, pos, end);
        pos = end + 1;
        if (seg.len == 0 || qr_slice_eq_lit(seg, "."))
            continue;
        if (qr_slice_eq_lit(seg, "..")) {
            if (n)
                n--;
            continue;
        }
        segs[n++] = seg; /* n <= number of '/' + 1 <= path.len / 2 + 1 for non-empty segs */
    }
    if (path.len == 0 || path.p[0] == '/')
        err = qr_buf_add(b, "/", 1);
    for (size_t i = 0; i < n && err == QR_OK; i++) {
        for (size_t k = 0; k < segs[i].len && err == QR_OK; k++)
            err = add_encoded_byte(b, segs[i].p[k], false);
        if (err == QR_OK && i + 1 < n)
            err = qr_buf_add(b, "/", 1);
    }
    if (err == QR_OK && n > 0 && path.p[path.len - 1] == '/')
        err = qr_buf_add(b, "/", 1);
    free(segs);
    return err;
}

struct qparam {
    size_t name_off, name_len, val_off, val_len; /* into the scratch buffer */
};

/* qsort has no context argument, so each entry carries the scratch buffer's base. */
struct qparam_sort {
    const uint8_t *base;
    struct qparam p;
};

static int qparam_cmp(const void *va, const void *vb)
{
    const struct qparam_sort *a = va, *b = vb;
    int c = qr_slice_cmp(qr_slice(a->base + a->p.name_off, a->p.name_len),
                         qr_slice(b->base + b->p.name_off, b->p.name_len));
    if (c)
        return c;
    return qr_slice_cmp(qr_slice(a->base + a->p.val_off, a->p.val_len),
                        qr_slice(b->base + b->p.val_off, b->p.val_len));
}

/* Whether s is already the AWS UriEncode of its own percent-decoding: unreserved bytes
 * as they are, every other byte as %XX in upper case. Re-encoding it changes nothing. */
static bool is_canonical_enc(struct qr_slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (is_unreserved(s.p[i]))
            continue;
        if (s.p[i] != '%' || s.len - i < 3)
            return false;
        uint8_t h = s.p[i + 1], l = s.p[i + 2];
        bool hex = ((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F')) &&
                   ((l >= '0' && l <= '9') || (l >= 'A' && l <= 'F'));
        if (!hex || is_unreserved((uint8_t)(qr_hex_val(h) * 16 + qr_hex_val(l))))
            return false;
        i += 2;
    }
    return true;
}

/* The canonical query when the query already is one, as the SDKs' presigners send it:
 * every name and value canonically encoded and the pairs in order. Then it is copied as
 * it is (a valueless pair gets its "=", the presign signature is left out), with no
 * decoding, re-encoding or sorting; false (nothing written) sends the query the long way,
 * which produces the same bytes for such a query. */
static bool add_query_as_is(struct qr_buf *b, struct qr_slice query, bool presigned,
                            enum qr_err *err)
{
    struct query_iter it = {query, 0};
    struct qr_slice n, v, pn = {0}, pv = {0};
    size_t np = 0;
    while (query_next(&it, &n, &v)) {
        if (presigned && qr_slice_eq_lit(n, "X-Amz-Signature"))
            continue; /* canonical: the raw name is the decoded one */
        if (++np > SIGV4_MAX_PARAMS || !is_canonical_enc(n) || !is_canonical_enc(v))
            return false;
        int c = np > 1 ? qr_slice_cmp(pn, n) : -1;
        if (c > 0 || (c == 0 && qr_slice_cmp(pv, v) > 0))
            return false;
        pn = n;
        pv = v;
    }
    it = (struct query_iter){query, 0};
    *err = QR_OK;
    bool first = true;
    while (*err == QR_OK && query_next(&it, &n, &v)) {
        if (presigned && qr_slice_eq_lit(n, "X-Amz-Signature"))
            continue;
        if (!first)
            *err = qr_buf_add(b, "&", 1);
        first = false;
        if (*err == QR_OK)
            *err = qr_buf_add(b, n.p, n.len);
        if (*err == QR_OK)
            *err = qr_buf_add(b, "=", 1);
        if (*err == QR_OK && v.len)
            *err = qr_buf_add(b, v.p, v.len);
    }
    return true;
}

/* Canonical query: every pair decoded and re-encoded, "name=" for a valueless one,
 * sorted by encoded name then value; the presign signature itself left out. */
static enum qr_err add_query(struct qr_buf *b, struct qr_slice query, bool presigned)
{
    struct query_iter it = {query, 0};
    struct qr_slice n, v;
    struct qr_buf scratch;
    struct qparam_sort *ps = NULL;
    size_t np = 0, cap = 0;
    enum qr_err err = QR_OK;

    if (add_query_as_is(b, query, presigned, &err))
        return err;
    qr_buf_init(&scratch, 3 * SIGV4_MAX_QUERY);
    /* Allocate now: with only empty names and values ("?=") scratch.p would stay NULL,
     * and NULL + 0 is undefined behaviour (found by fuzz_sigv4). */
    err = qr_buf_add(&scratch, "", 0);
    while (err == QR_OK && query_next(&it, &n, &v)) {
        if (presigned && qname_is(n, "X-Amz-Signature", false))
            continue;
        if (np == SIGV4_MAX_PARAMS) {
            err = QR_E_AUTH_MALFORMED;
            break;
        }
        if (np == cap) {
            cap = cap ? 2 * cap : 16;
            ps = qr_xrealloc(ps, cap * sizeof(*ps));
        }
        struct qparam *p = &ps[np].p;
        p->name_off = scratch.len;
        err = add_reencoded(&scratch, n, false);
        p->name_len = scratch.len - p->name_off;
        p->val_off = scratch.len;
        if (err == QR_OK)
            err = add_reencoded(&scratch, v, false);
        p->val_len = scratch.len - p->val_off;
        np++;
    }
    for (size_t i = 0; i < np; i++)
        ps[i].base = scratch.p;
    if (err == QR_OK && np > 1)
        qsort(ps, np, sizeof(*ps), qparam_cmp);
    for (size_t i = 0; i < np && err == QR_OK; i++) {
        if (i)
            err = qr_buf_add(b, "&", 1);
        if (err == QR_OK)
            err = qr_buf_add(b, scratch.p + ps[i].p.name_off, ps[i].p.name_len);
        if (err == QR_OK)
            err = qr_buf_add(b, "=", 1);
        if (err == QR_OK && ps[i].p.val_len)
            err = qr_buf_add(b, scratch.p + ps[i].p.val_off, ps[i].p.val_len);
    }
    free(ps);
    qr_buf_dispose(&scratch);
    return err;
}

/* Appends a header value trimmed, inner whitespace runs collapsed to one space. */
static enum qr_err add_trimall(struct qr_buf *b, struct qr_slice v)
{
    enum qr_err err = QR_OK;
    bool pending_space = false;
    v = slice_trim(v);
    for (size_t i = 0; i < v.len && err == QR_OK; i++) {
        if (is_space(v.p[i])) {
            pending_space = true;
            continue;
        }
        if (pending_space)
            err = qr_buf_add(b, " ", 1);
        pending_space = false;
        if (err == QR_OK)
            err = qr_buf_add(b, v.p + i, 1);
    }
    return err;
}

/* "name:v1,v2\n" for each name of the decoded SignedHeaders list, in its order.
 * QR_E_SIGNATURE when a signed header is absent. */
static enum qr_err add_headers(struct qr_buf *b, const struct sigv4_input *in,
                               struct qr_slice names)
{
    enum qr_err err = QR_OK;
    size_t pos = 0;
    while (err == QR_OK && pos <= names.len) {
        size_t end = slice_find(names, pos, ';');
        struct qr_slice name = slice_sub(names, pos, end);
        pos = end + 1;
        size_t seen = 0;
        err = qr_buf_add(b, name.p, name.len);
        if (err == QR_OK)
            err = qr_buf_add(b, ":", 1);
        for (size_t i = 0; i < in->n_headers && err == QR_OK; i++) {
            if (!qr_slice_ieq(in->headers[i].name, name))
                continue;
            if (seen++)
                err = qr_buf_add(b, ",", 1);
            if (err == QR_OK)
                err = add_trimall(b, in->headers[i].value);
        }
        if (err == QR_OK && seen == 0)
            err = QR_E_SIGNATURE;
        if (err == QR_OK)
            err = qr_buf_add(b, "\n", 1);
    }
    return err;
}

static bool method_ok(struct qr_slice m)
{
    if (m.len == 0 || m.len > SIGV4_MAX_METHOD)
        return false;
    for (size_t i = 0; i < m.len; i++)
        if (m.p[i] < 'A' || m.p[i] > 'Z')
            return false;
    return true;
}

/* Builds the canonical request into cr. */
static enum qr_err canonical_request(const struct sigv4_input *in, const struct sigv4_auth *auth,
                                     struct qr_slice signed_headers, const char *payload,
                                     struct qr_buf *cr)
{
    enum qr_err err = qr_buf_add(cr, in->method.p, in->method.len);
    if (err == QR_OK)
        err = qr_buf_add(cr, "\n", 1);
    if (err == QR_OK)
        err = is_s3_service(auth->service) ? add_uri_s3(cr, in->path) : add_uri_other(cr, in->path);
    if (err == QR_OK)
        err = qr_buf_add(cr, "\n", 1);
    if (err == QR_OK)
        err = add_query(cr, in->query, auth->presigned);
    if (err == QR_OK)
        err = qr_buf_add(cr, "\n", 1);
    if (err == QR_OK)
        err = add_headers(cr, in, signed_headers);
    if (err == QR_OK)
        err = qr_buf_add(cr, "\n", 1);
    if (err == QR_OK)
        err = qr_buf_add(cr, signed_headers.p, signed_headers.len);
    if (err == QR_OK)
        err = qr_buf_add(cr, "\n", 1);
    if (err == QR_OK)
        err = qr_buf_adds(cr, payload);
    return err;
}

/* kSigning = HMAC chain over "AWS4"+secret, date, region, service, "aws4_request". */
static bool derive_key_uncached(struct qr_slice secret, const struct sigv4_auth *auth,
                                uint8_t out[32])
{
    uint8_t k[SIGV4_MAX_SECRET + 4];
    uint8_t t[32];
    if (secret.len > SIGV4_MAX_SECRET)
        return false;
    memcpy(k, "AWS4", 4);
    if (secret.len)
        memcpy(k + 4, secret.p, secret.len);
    hmac_sha256(k, 4 + secret.len, auth->date, strlen(auth->date), t);
    hmac_sha256(t, 32, auth->region, strlen(auth->region), t);
    hmac_sha256(t, 32, auth->service, strlen(auth->service), t);
    hmac_sha256(t, 32, "aws4_request", 12, out);
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(t, sizeof(t));
    return true;
}

/* The last few signing keys this thread derived, as SDKs keep theirs: the key changes
 * only with the secret, the day, the region and the service, and deriving it is four
 * HMACs per request. Thread-local, so no lock; the secret is compared in constant time
 * and held no longer than the thread (a deactivated key is refused before this runs). */
#define KEY_MEMO_N 4
struct key_memo {
    uint8_t secret[SIGV4_MAX_SECRET];
    size_t secret_len; /* 0: empty slot */
    char date[9], region[33], service[33];
    uint8_t key[32];
};
static __thread struct key_memo key_memo[KEY_MEMO_N];
static __thread unsigned key_memo_next;

static bool memo_matches(const struct key_memo *m, struct qr_slice secret,
                         const struct sigv4_auth *auth)
{
    return m->secret_len != 0 && m->secret_len == secret.len && strcmp(m->date, auth->date) == 0 &&
           strcmp(m->region, auth->region) == 0 && strcmp(m->service, auth->service) == 0 &&
           CRYPTO_memcmp(m->secret, secret.p, secret.len) == 0;
}

static bool derive_key(struct qr_slice secret, const struct sigv4_auth *auth, uint8_t out[32])
{
    if (secret.len == 0 || secret.len > SIGV4_MAX_SECRET)
        return derive_key_uncached(secret, auth, out);
    for (unsigned i = 0; i < KEY_MEMO_N; i++) {
        if (memo_matches(&key_memo[i], secret, auth)) {
            memcpy(out, key_memo[i].key, 32);
            return true;
        }
    }
    if (!derive_key_uncached(secret, auth, out))
        return false;
    struct key_memo *m = &key_memo[key_memo_next++ % KEY_MEMO_N];
    memcpy(m->secret, secret.p, secret.len);
    m->secret_len = secret.len;
    memcpy(m->date, auth->date, sizeof(m->date));
    memcpy(m->region, auth->region, sizeof(m->region));
    memcpy(m->service, auth->service, sizeof(m->service));
    memcpy(m->key, out, 32);
    return true;
}

enum qr_err sigv4_verify(const struct sigv4_input *in, const struct sigv4_auth *auth,
                         struct qr_slice secret, const char *body_sha256_hex,
                         struct sigv4_chunk_ctx *out_chunk)
{
    struct qr_buf cr, sts;
    uint8_t key[32], mac[32];
    char cr_hex[65], sig[65], scope[128];
    char *sh = NULL;
    const char *payload = auth->payload_hash;
    enum qr_err err = QR_OK;

    qr_buf_init(&cr, SIGV4_MAX_CANONICAL);
    qr_buf_init(&sts, 512);
    if (payload[0] == '\0') {
        struct qr_slice given =
            body_sha256_hex ? qr_slice_cstr(body_sha256_hex) : qr_slice(NULL, 0);
        if (!parse_sig_hex(given, sig)) { /* a hex SHA-256 has the shape of a signature */
            err = QR_E_AUTH_MALFORMED;
            goto out;
        }
        payload = body_sha256_hex;
    }
    if (!method_ok(in->method) || in->path.len > SIGV4_MAX_PATH ||
        in->query.len > SIGV4_MAX_QUERY) {
        err = QR_E_AUTH_MALFORMED;
        goto out;
    }
    sh = qr_xmalloc(SIGV4_MAX_SIGNED_HEADERS + 1);
    if (!decode_cstr(sh, SIGV4_MAX_SIGNED_HEADERS + 1, auth->signed_headers) ||
        !signed_headers_ok(qr_slice_cstr(sh))) {
        err = QR_E_AUTH_MALFORMED;
        goto out;
    }
    err = canonical_request(in, auth, qr_slice_cstr(sh), payload, &cr);
    if (err == QR_E_TOO_LARGE)
        err = QR_E_AUTH_MALFORMED;
    if (err != QR_OK)
        goto out;
    sigv4_sha256_hex(cr.p, cr.len, cr_hex);

    int n = snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", auth->date, auth->region,
                     auth->service);
    if (n < 0 || (size_t)n >= sizeof(scope)) {
        err = QR_E_AUTH_MALFORMED;
        goto out;
    }
    err = qr_buf_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", auth->amz_date, scope, cr_hex);
    if (err != QR_OK) {
        err = QR_E_AUTH_MALFORMED;
        goto out;
    }
    if (!derive_key(secret, auth, key)) {
        err = QR_E_AUTH_MALFORMED;
        goto out;
    }
    hmac_sha256(key, sizeof(key), sts.p, sts.len, mac);
    hex_lower(mac, sizeof(mac), sig);
    if (CRYPTO_memcmp(sig, auth->signature, 64) != 0) {
        err = QR_E_SIGNATURE;
        goto out;
    }
    if (out_chunk) {
        memcpy(out_chunk->key, key, sizeof(key));
        memcpy(out_chunk->scope, scope, sizeof(scope));
        memcpy(out_chunk->amz_date, auth->amz_date, sizeof(out_chunk->amz_date));
        memcpy(out_chunk->seed_signature, auth->signature, sizeof(out_chunk->seed_signature));
    }
out:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(mac, sizeof(mac));
    free(sh);
    qr_buf_dispose(&sts);
    qr_buf_dispose(&cr);
    return err;
}

void sigv4_chunk_ctx_wipe(struct sigv4_chunk_ctx *c)
{
    if (c)
        OPENSSL_cleanse(c, sizeof(*c));
}

/* ---- aws-chunked ------------------------------------------------------------------- */

/* HMAC over "<alg>\n<date>\n<scope>\n<prev>\n<rest>" with the chunk context's key. */
static void chain_sig(const struct sigv4_chunk_ctx *ctx, const char *alg, const char *prev,
                      const char *rest, char out[65])
{
    char msg[400];
    uint8_t mac[32];
    int n = snprintf(msg, sizeof(msg), "%s\n%s\n%s\n%s\n%s", alg, ctx->amz_date, ctx->scope, prev,
                     rest);
    /* Every part has a fixed bound (scope < 128): n always fits. */
    hmac_sha256(ctx->key, sizeof(ctx->key), msg, n > 0 ? (size_t)n : 0, mac);
    hex_lower(mac, sizeof(mac), out);
    OPENSSL_cleanse(mac, sizeof(mac));
}

/* "<hex>[;chunk-signature=<sig>]" -> size and, when signed, the signature. */
static enum qr_err parse_chunk_line(struct qr_slice line, bool is_signed, uint64_t *size,
                                    char sig[65])
{
    static const char EXT[] = ";chunk-signature=";
    size_t i = 0;
    uint64_t v = 0;
    while (i < line.len && qr_hex_val(line.p[i]) >= 0) {
        if (i == 16)
            return QR_E_BAD_INPUT; /* more than 64 bits of size */
        v = v * 16 + (uint64_t)qr_hex_val(line.p[i]);
        i++;
    }
    if (i == 0)
        return QR_E_BAD_INPUT;
    struct qr_slice rest = slice_sub(line, i, line.len);
    if (!is_signed) {
        if (rest.len != 0)
            return QR_E_BAD_INPUT;
    } else if (!qr_slice_starts(rest, QR_SLICE_LIT(EXT)) ||
               !parse_sig_hex(slice_sub(rest, sizeof(EXT) - 1, rest.len), sig)) {
        return QR_E_BAD_INPUT;
    }
    *size = v;
    return QR_OK;
}

/* Parses one trailer line into a lower-case name and a trimmed value. */
static bool parse_trailer_line(struct qr_slice line, char lname[64], struct qr_slice *value)
{
    size_t colon = slice_find(line, 0, ':');
    struct qr_slice name = slice_trim(slice_sub(line, 0, colon));
    if (colon == line.len || name.len == 0 || name.len >= 64)
        return false;
    for (size_t i = 0; i < name.len; i++) {
        uint8_t c = name.p[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c + 32);
        if (!is_lower_tchar(c))
            return false;
        lname[i] = (char)c;
    }
    lname[name.len] = '\0';
    *value = slice_trim(slice_sub(line, colon + 1, line.len));
    for (size_t i = 0; i < value->len; i++)
        if (value->p[i] < 0x20 || value->p[i] == 0x7f)
            return false;
    return true;
}
enum {
    CS_LINE,    /* gathering a chunk header line */
    CS_DATA,    /* inside a chunk's data */
    CS_CR,      /* the CR after a chunk's data */
    CS_LF,      /* the LF after it */
    CS_TRAILER, /* gathering trailer lines after the final chunk */
    CS_DONE,    /* the empty line after the trailers came: nothing may follow */
};

void sigv4_chunked_init(struct sigv4_chunked *d, const struct sigv4_chunk_ctx *ctx,
                        int64_t decoded_len, size_t max_trailers)
{
    memset(d, 0, sizeof(*d));
    d->ctx = ctx;
    d->decoded_len = decoded_len;
    d->max_trailers = max_trailers < SIGV4_MAX_TRAILERS ? max_trailers : SIGV4_MAX_TRAILERS;
    d->state = CS_LINE;
    if (ctx) {
        memcpy(d->prev, ctx->seed_signature, sizeof(d->prev));
        d->prev[64] = '\0';
    }
}

void sigv4_chunked_wipe(struct sigv4_chunked *d)
{
    OPENSSL_cleanse(d->prev, sizeof(d->prev));
    OPENSSL_cleanse(d->sig, sizeof(d->sig));
    OPENSSL_cleanse(&d->sha, sizeof(d->sha));
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
/* The current chunk's data has all passed: its signature must chain from prev. */
static bool chunk_signed_ok(struct sigv4_chunked *d)
{
    uint8_t md[32];
    char rest[65 + 1 + 64 + 1], want[65], dh[65];
    SHA256_Final(md, &d->sha);
    hex_lower(md, sizeof(md), dh);
    snprintf(rest, sizeof(rest), "%s\n%s", EMPTY_SHA256, dh);
    chain_sig(d->ctx, "AWS4-HMAC-SHA256-PAYLOAD", d->prev, rest, want);
    if (CRYPTO_memcmp(want, d->sig, 64) != 0)
        return false;
    memcpy(d->prev, d->sig, 65);
    return true;
}

/* A complete chunk header line: the next chunk begins (or the final one came). */
static enum qr_err on_chunk_line(struct sigv4_chunked *d, struct qr_slice line)
{
    uint64_t size, total;
    enum qr_err err = parse_chunk_line(line, d->ctx != NULL, &size, d->sig);
    if (err != QR_OK)
        return err;
    if (qr_add_overflow(d->total, size, &total) ||
        (d->decoded_len >= 0 && total > (uint64_t)d->decoded_len))
        return QR_E_INCOMPLETE_BODY;
    if (size > 0 && d->small_seen)
        return QR_E_CHUNK_SIZE;
    d->small_seen = size < SIGV4_MIN_CHUNK;
    if (d->ctx)
        SHA256_Init(&d->sha);
    d->left = size;
    if (size > 0) {
        d->state = CS_DATA;
        return QR_OK;
    }
    if (d->ctx && !chunk_signed_ok(d))
        return QR_E_SIGNATURE;
    d->state = CS_TRAILER;
    return QR_OK;
}
#pragma GCC diagnostic pop

/* The trailers ended (an empty line, or the end of the body): a signed stream's trailers
 * must carry a trailer signature over them, chained from the final chunk's. */
static enum qr_err trailers_end(struct sigv4_chunked *d)
{
    if (!d->ctx || (d->n_trailers == 0 && !d->tsig[0]))
        return QR_OK;
    if (!d->tsig[0])
        return QR_E_SIGNATURE; /* a signed stream with unsigned trailers */
    char mdhex[65], want[65];
    sigv4_sha256_hex(d->canon, d->canon_len, mdhex);
    chain_sig(d->ctx, "AWS4-HMAC-SHA256-TRAILER", d->prev, mdhex, want);
    return CRYPTO_memcmp(want, d->tsig, 64) == 0 ? QR_OK : QR_E_SIGNATURE;
}

/* A complete trailer line: "name:value", or the empty line that ends them. */
static enum qr_err on_trailer_line(struct sigv4_chunked *d, struct qr_slice line)
{
    char lname[64] = {0}; /* copied whole into the trailer: no stack bytes after the NUL */
    struct qr_slice value;
    if (line.len == 0) {
        d->state = CS_DONE;
        return trailers_end(d);
    }
    if (d->tsig[0] || !parse_trailer_line(line, lname, &value))
        return QR_E_BAD_INPUT; /* malformed, or after the trailer signature */
    if (strcmp(lname, "x-amz-trailer-signature") == 0)
        return d->ctx && parse_sig_hex(value, d->tsig) ? QR_OK : QR_E_BAD_INPUT;
    struct sigv4_trailer *t = &d->trailers[d->n_trailers];
    if (d->n_trailers == d->max_trailers || value.len >= sizeof(t->value))
        return QR_E_BAD_INPUT;
    memcpy(t->name, lname, sizeof(lname));
    memcpy(t->value, value.p, value.len);
    t->value[value.len] = '\0';
    d->n_trailers++;
    /* name < 64, value < 128: each fits its share of canon */
    int n = snprintf(d->canon + d->canon_len, sizeof(d->canon) - d->canon_len, "%s:%s\n", t->name,
                     t->value);
    d->canon_len += n > 0 ? (size_t)n : 0;
    return QR_OK;
}

/* One byte of a line; a line ends at CRLF and is at most max bytes before it. */
static enum qr_err line_byte(struct sigv4_chunked *d, uint8_t c, size_t max)
{
    if (c == '\n' && d->line_len > 0 && d->line[d->line_len - 1] == '\r') {
        struct qr_slice line = qr_slice(d->line, d->line_len - 1);
        d->line_len = 0;
        return d->state == CS_LINE ? on_chunk_line(d, line) : on_trailer_line(d, line);
    }
    if (d->line_len > max)
        return QR_E_BAD_INPUT; /* max bytes and a CR are in: only LF may come */
    d->line[d->line_len++] = (char)c;
    return QR_OK;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
/* The data run at the front of in (up to the chunk's end) moves to out. */
static size_t data_run(struct sigv4_chunked *d, const uint8_t *in, size_t n, uint8_t *out)
{
    size_t k = d->left < n ? (size_t)d->left : n;
    if (d->ctx)
        SHA256_Update(&d->sha, in, k);
    if (out != in)
        memmove(out, in, k);
    d->left -= k;
    d->total += k;
    return k;
}
#pragma GCC diagnostic pop

enum qr_err sigv4_chunked_feed(struct sigv4_chunked *d, uint8_t *buf, size_t len, size_t *out_len)
{
    size_t i = 0, o = 0;
    enum qr_err err = d->err;
    while (err == QR_OK && i < len) {
        switch (d->state) {
        case CS_LINE:
            err = line_byte(d, buf[i++], SIGV4_MAX_CHUNK_LINE);
            break;
        case CS_TRAILER:
            err = line_byte(d, buf[i++], SIGV4_MAX_TRAILER_LINE);
            break;
        case CS_DATA: {
            size_t k = data_run(d, buf + i, len - i, buf + o);
            i += k;
            o += k;
            if (d->left == 0) {
                d->state = CS_CR;
                if (d->ctx && !chunk_signed_ok(d))
                    err = QR_E_SIGNATURE;
            }
            break;
        }
        case CS_CR:
        case CS_LF:
            if (buf[i++] != (d->state == CS_CR ? '\r' : '\n'))
                err = QR_E_BAD_INPUT;
            d->state = d->state == CS_CR ? CS_LF : CS_LINE;
            break;
        default:
            err = QR_E_BAD_INPUT; /* bytes after the final empty line */
            break;
        }
    }
    d->err = err;
    *out_len = err == QR_OK ? o : 0;
    return err;
}

enum qr_err sigv4_chunked_end(struct sigv4_chunked *d)
{
    if (d->err != QR_OK)
        return d->err;
    enum qr_err err = QR_OK;
    if (d->state == CS_TRAILER && d->line_len == 0)
        err = trailers_end(d); /* tolerated: the body ends after the final chunk or a trailer */
    else if (d->state != CS_DONE)
        err = QR_E_BAD_INPUT; /* cut short */
    if (err == QR_OK && d->decoded_len >= 0 && d->total != (uint64_t)d->decoded_len)
        err = QR_E_INCOMPLETE_BODY;
    d->state = CS_DONE;
    d->err = err != QR_OK ? err : QR_E_BAD_INPUT; /* nothing may be fed after the end */
    return err;
}

enum qr_err sigv4_chunked_decode(struct qr_slice body, const struct sigv4_chunk_ctx *ctx,
                                 int64_t decoded_len, struct qr_buf *out,
                                 struct sigv4_trailer *trailers, size_t max_trailers,
                                 size_t *out_n_trailers)
{
    enum { STEP = 16 * 1024 };
    size_t start_len = out->len;
    struct sigv4_chunked *d = qr_xmalloc(sizeof(*d));
    uint8_t *tmp = qr_xmalloc(STEP);
    enum qr_err err = QR_OK;
    sigv4_chunked_init(d, ctx, decoded_len, max_trailers);
    for (size_t pos = 0; pos < body.len && err == QR_OK;) {
        size_t n = body.len - pos < STEP ? body.len - pos : STEP, got;
        memcpy(tmp, body.p + pos, n);
        pos += n;
        err = sigv4_chunked_feed(d, tmp, n, &got);
        if (err == QR_OK)
            err = qr_buf_add(out, tmp, got);
    }
    if (err == QR_OK)
        err = sigv4_chunked_end(d);
    if (err == QR_OK) {
        memcpy(trailers, d->trailers, d->n_trailers * sizeof(*trailers));
        *out_n_trailers = d->n_trailers;
    } else if (out->p) {
        out->len = start_len; /* nothing half-decoded is left behind */
        out->p[start_len] = '\0';
    }
    sigv4_chunked_wipe(d);
    free(d);
    free(tmp);
    return err;
}
