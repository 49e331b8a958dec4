/*
 * names.c - bucket name and object key validation (names.h).
 * Rules from AWS's "General purpose bucket naming rules" and "Directory bucket naming
 * rules" pages (summarised in shared/reference/aws-s3.md section 1). A bucket name that
 * passes here is safe as a host label, a path segment and an XML text node; it is still
 * never used to build a file system path.
 */
#include "util/names.h"

#include "util/limits.h"

#define DIRECTORY_SUFFIX "--x-s3"

/* Reserved by AWS for both bucket kinds. */
static const char *const reserved_prefixes[] = {"xn--", "sthree-", "amzn-s3-demo-"};

/* Reserved for other resource kinds: access point aliases (-s3alias, and --xa-s3 for
 * directory buckets), Object Lambda (--ol-s3), multi-region access points (.mrap),
 * S3 Tables (--table-s3). "--x-s3" is not here: it selects the directory rules. */
static const char *const reserved_suffixes[] = {"-s3alias", "--ol-s3", ".mrap", "--xa-s3",
                                                "--table-s3"};

static bool is_lower_alnum(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool ends_with(struct qr_slice s, const char *lit)
{
    struct qr_slice suf = qr_slice_cstr(lit);
    return s.len >= suf.len && memcmp(s.p + s.len - suf.len, suf.p, suf.len) == 0;
}

static bool has_reserved_prefix(struct qr_slice s)
{
    for (size_t i = 0; i < sizeof reserved_prefixes / sizeof reserved_prefixes[0]; i++) {
        if (qr_slice_starts(s, qr_slice_cstr(reserved_prefixes[i])))
            return true;
    }
    return false;
}

/* Four non-empty all-digit groups separated by dots, whatever their values: AWS refuses
 * "192.168.5.4"; refusing "999.1.1.1" too costs nothing and avoids resolver quirks. */
static bool looks_like_ipv4(struct qr_slice s)
{
    size_t groups = 1, digits = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] == '.') {
            if (digits == 0)
                return false;
            groups++;
            digits = 0;
        } else if (s.p[i] >= '0' && s.p[i] <= '9') {
            digits++;
        } else {
            return false;
        }
    }
    return groups == 4 && digits > 0;
}

/*
 * Splits base--zoneid--x-s3 at the last "--" before the suffix. The zone id cannot
 * contain "--" and both parts must start and end with a letter or digit, so the split
 * is the only possible one. False if name is not a valid directory bucket name.
 */
static bool directory_split(struct qr_slice name, struct qr_slice *out_zone)
{
    const size_t suffix_len = sizeof DIRECTORY_SUFFIX - 1;
    if (name.len < QR_MIN_BUCKET_NAME_LEN || name.len > QR_MAX_BUCKET_NAME_LEN ||
        !ends_with(name, DIRECTORY_SUFFIX))
        return false;
    for (size_t i = 0; i < name.len; i++) {
        if (!is_lower_alnum(name.p[i]) && name.p[i] != '-')
            return false;
    }
    if (has_reserved_prefix(name))
        return false;
    size_t rest = name.len - suffix_len; /* base--zoneid */
    size_t sep = 0;
    bool found = false;
    for (size_t i = rest; i >= 2; i--) {
        if (name.p[i - 2] == '-' && name.p[i - 1] == '-') {
            sep = i - 2;
            found = true;
            break;
        }
    }
    if (!found)
        return false;
    size_t zone_off = sep + 2;
    size_t zone_len = rest - zone_off;
    if (sep == 0 || !is_lower_alnum(name.p[0]) || !is_lower_alnum(name.p[sep - 1]))
        return false;
    if (zone_len == 0 || !is_lower_alnum(name.p[zone_off]) || !is_lower_alnum(name.p[rest - 1]))
        return false;
    *out_zone = qr_slice(name.p + zone_off, zone_len);
    return true;
}

static bool general_valid(struct qr_slice name)
{
    if (name.len < QR_MIN_BUCKET_NAME_LEN || name.len > QR_MAX_BUCKET_NAME_LEN)
        return false;
    if (!is_lower_alnum(name.p[0]) || !is_lower_alnum(name.p[name.len - 1]))
        return false;
    for (size_t i = 0; i < name.len; i++) {
        uint8_t c = name.p[i];
        if (!is_lower_alnum(c) && c != '-' && c != '.')
            return false;
        if (c == '.' && i > 0 && name.p[i - 1] == '.')
            return false;
    }
    if (looks_like_ipv4(name) || has_reserved_prefix(name))
        return false;
    for (size_t i = 0; i < sizeof reserved_suffixes / sizeof reserved_suffixes[0]; i++) {
        if (ends_with(name, reserved_suffixes[i]))
            return false;
    }
    return true;
}

bool qr_bucket_name_valid(struct qr_slice name, bool *out_directory)
{
    bool directory = ends_with(name, DIRECTORY_SUFFIX);
    struct qr_slice zone;
    if (directory ? !directory_split(name, &zone) : !general_valid(name))
        return false;
    if (out_directory)
        *out_directory = directory;
    return true;
}

bool qr_bucket_zone(struct qr_slice name, struct qr_slice *out_zone)
{
    return directory_split(name, out_zone);
}

/* Length of the UTF-8 sequence at p[0..n), or 0 if it is not well-formed (RFC 3629:
 * shortest form only, no surrogates D800-DFFF, nothing above 10FFFF). */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    if (c < 0xC2) /* stray continuation byte, or an overlong 2-byte form */
        return 0;
    if (c < 0xE0) {
        len = 2;
    } else if (c < 0xF0) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c < 0xF5) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    }
    return len;
}

bool qr_key_valid(struct qr_slice key)
{
    if (key.len == 0 || key.len > QR_MAX_KEY_LEN)
        return false;
    for (size_t i = 0; i < key.len;) {
        if (key.p[i] == 0)
            return false;
        size_t n = utf8_seq(key.p + i, key.len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}
