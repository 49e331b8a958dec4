/*
 * codec.h - small wire encodings every API module needs: URI percent-coding, XML text
 * escaping, the three timestamp forms S3 uses, Range header parsing, random ids.
 * Pure functions over borrowed bytes (qr_random_hex/qr_uuid4 read OpenSSL's RNG,
 * qr_now_ms the clock): any thread. Appending functions leave *out exactly as it was
 * when they fail.
 */
#ifndef QR_CODEC_H
#define QR_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/slice.h"

/*
 * Percent-decodes in (borrowed) and appends the bytes to out. "%XX" needs two hex
 * digits of either case; '+' becomes ' ' only when plus_is_space (query strings and
 * form bodies, not paths). Decoded bytes are not checked (a %00 comes out as NUL):
 * validate keys with qr_key_valid afterwards.
 * Errors: QR_E_BAD_INPUT (a '%' without two hex digits), QR_E_TOO_LARGE (out's max).
 */
enum qr_err qr_uri_decode(struct qr_slice in, bool plus_is_space, struct qr_buf *out)
    __attribute__((warn_unused_result));

/* The same decoding into dst (borrowed, room for in.len bytes: decoding never lengthens);
 * *out_len gets the decoded length. False on a '%' without two hex digits. */
bool qr_uri_decode_into(struct qr_slice in, bool plus_is_space, uint8_t *dst, size_t *out_len)
    __attribute__((warn_unused_result));

/*
 * Percent-encodes in (borrowed) the way SigV4 and S3's encoding-type=url do: bytes in
 * A-Z a-z 0-9 - _ . ~ are kept, '/' is kept when keep_slash (object key paths), every
 * other byte becomes %XX with upper-case hex. Appends to out.
 * Errors: QR_E_TOO_LARGE (out's max).
 */
enum qr_err qr_uri_encode(struct qr_slice in, bool keep_slash, struct qr_buf *out)
    __attribute__((warn_unused_result));

/*
 * Appends in (borrowed) as XML character data or attribute value: & < > " ' become
 * &amp; &lt; &gt; &quot; &apos;, and bytes 0x00-0x1F other than TAB and LF become
 * "&#xN;" (upper-case hex, no leading zeros, e.g. "&#x1;", "&#xD;"), as S3 renders
 * keys holding control characters. CR is escaped as well because XML parsers turn a
 * literal CR into LF. Bytes >= 0x80 pass unchanged (keys are valid UTF-8).
 * Errors: QR_E_TOO_LARGE (out's max).
 */
enum qr_err qr_xml_escape(struct qr_slice in, struct qr_buf *out)
    __attribute__((warn_unused_result));

/* The value of one hex digit (either case), or -1. */
static inline int qr_hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Buffer sizes of the formatters below, NUL included. */
#define QR_TIME_ISO8601_LEN 25
#define QR_TIME_HTTP_LEN    30

/*
 * Formats ms since the epoch (UTC) as "2026-11-25T12:05:00.000Z" (S3 XML timestamps),
 * NUL-terminated. Times outside years 0000-9999 are clamped to that range.
 */
void qr_time_iso8601(int64_t ms, char out[QR_TIME_ISO8601_LEN]);

/*
 * Formats ms since the epoch as an IMF-fixdate, "Wed, 25 Nov 2026 12:05:00 GMT"
 * (Last-Modified, Date), NUL-terminated; milliseconds are dropped. Same clamping.
 */
void qr_time_http(int64_t ms, char out[QR_TIME_HTTP_LEN]);

/*
 * Parses an HTTP date (If-Modified-Since, If-Unmodified-Since, Expires) in any of the
 * forms RFC 9110 section 5.6.7 makes recipients accept:
 *   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"
 *   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT" (yy < 70 is 20yy, else 19yy)
 *   asctime      "Sun Nov  6 08:49:37 1994"
 * and also ISO 8601 UTC "2026-11-25T12:05:00Z" with optional 1-9 fraction digits
 * (truncated to ms), which some SDKs send for timestamp headers. "UTC" is accepted in
 * place of "GMT". Names are case-sensitive, fields are range-checked (day against
 * the month, second up to 60), the weekday is checked to be a name but not against the
 * date. False on anything else; *out_ms is untouched then.
 */
bool qr_time_parse_http(struct qr_slice s, int64_t *out_ms);

/* Parses the SigV4 form "20261125T120500Z" (X-Amz-Date) exactly; false otherwise. */
bool qr_time_parse_amz(struct qr_slice s, int64_t *out_ms);

/* Wall-clock ms since the epoch (CLOCK_REALTIME). */
int64_t qr_now_ms(void);

/*
 * Parses a Range header value holding one byte range against an object of size bytes:
 * "bytes=a-b", "bytes=a-" or "bytes=-n" (the last n bytes). The unit is
 * case-insensitive; whitespace is allowed after '=' and at the end. Sets the first
 * byte and the length on success (the end is clamped to size-1; a suffix longer
 * than the object means the whole object). Positions with more digits than fit in
 * 64 bits are read as "huge", which is what they are.
 * Errors:
 *   QR_E_INVALID_RANGE  well-formed but unsatisfiable: a >= size (so every range of
 *                       an empty object), or "bytes=-0". The caller answers 416.
 *   QR_E_BAD_INPUT      malformed, another unit, b < a, or several ranges. S3
 *                       ignores such a header and serves the whole object with 200:
 *                       the caller should do the same, not send an error.
 * Out-params are written only on QR_OK.
 */
enum qr_err qr_range_parse(struct qr_slice header, uint64_t size, uint64_t *out_off,
                           uint64_t *out_len) __attribute__((warn_unused_result));

/*
 * Writes 2*nbytes lower-case hex characters of cryptographically random bytes and a
 * NUL into out (which holds 2*nbytes+1 bytes). Aborts if OpenSSL's RNG fails: ids
 * and ETags must never repeat, and there is no safe fallback.
 */
void qr_random_hex(char *out, size_t nbytes);

/* Writes a random (version 4, RFC 9562) UUID, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx",
 * lower-case, NUL-terminated. Aborts if the RNG fails, as above. */
void qr_uuid4(char out[37]);

#endif
