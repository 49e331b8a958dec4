/*
 * test_names.c - util/names.h: bucket naming rules (AWS "General purpose bucket naming
 * rules" and "Directory bucket naming rules"; examples from those pages and from
 * shared/reference/aws-s3.md section 1) and key validation. The UTF-8 table's expected
 * values agree with python3's strict bytes.decode("utf-8") plus the no-NUL rule; the
 * exhaustive tests compare against a second, decode-then-range-check reference here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/limits.h"
#include "util/names.h"

#define S(x) x, sizeof(x) - 1

enum kind { BAD, GP, DIR };

static const struct {
    const char *name;
    size_t len;
    enum kind kind;
    const char *zone; /* for DIR */
} bucket_cases[] = {
    /* general purpose, valid */
    {S("abc"), GP, NULL},
    {S("my-bucket"), GP, NULL},
    {S("docexamplebucket1"), GP, NULL},
    {S("my.example.s3.bucket"), GP, NULL},
    {S("a1b2"), GP, NULL},
    {S("123"), GP, NULL},
    {S("1.2.3"), GP, NULL}, /* three groups is not an IP form */
    {S("1.2.3.4.5"), GP, NULL},
    {S("1.2.3.4a"), GP, NULL},
    {S("my--bucket"), GP, NULL}, /* "--" is fine outside the reserved suffixes */
    {S("a-.b"), GP, NULL},
    {S("xn-abc"), GP, NULL},
    {S("sthree"), GP, NULL},
    {S("amzn-s3-demo"), GP, NULL},
    {S("abc-s3alia"), GP, NULL},
    {S("abc-x-s3"), GP, NULL},
    {S("abc-ol-s3"), GP, NULL},
    {S("abcmrap"), GP, NULL},
    /* general purpose, invalid */
    {S(""), BAD, NULL},
    {S("a"), BAD, NULL},
    {S("ab"), BAD, NULL},
    {S("ABC"), BAD, NULL},
    {S("docExampleBucket"), BAD, NULL},
    {S("doc_example_bucket"), BAD, NULL},
    {S("doc example"), BAD, NULL},
    {S("ab/c"), BAD, NULL},
    {S("abc\0"), BAD, NULL},
    {S("caf\xc3\xa9"), BAD, NULL},
    {S("-abc"), BAD, NULL},
    {S("abc-"), BAD, NULL},
    {S(".abc"), BAD, NULL},
    {S("abc."), BAD, NULL},
    {S("a..b"), BAD, NULL},
    {S("192.168.5.4"), BAD, NULL},
    {S("1.2.3.4"), BAD, NULL},
    {S("999.999.999.999"), BAD, NULL},
    {S("xn--abc"), BAD, NULL},
    {S("sthree-abc"), BAD, NULL},
    {S("sthree-configurator"), BAD, NULL},
    {S("amzn-s3-demo-bucket"), BAD, NULL},
    {S("doc-example-bucket-s3alias"), BAD, NULL},
    {S("doc-example-bucket--ol-s3"), BAD, NULL},
    {S("doc-example-bucket.mrap"), BAD, NULL},
    {S("doc-example-bucket--xa-s3"), BAD, NULL},
    {S("doc-example-bucket--table-s3"), BAD, NULL},
    /* directory, valid */
    {S("logs--usw2-az1--x-s3"), DIR, "usw2-az1"},
    {S("data--use1-az4--x-s3"), DIR, "use1-az4"},
    {S("bucket-base-name--usw2-az1--x-s3"), DIR, "usw2-az1"},
    {S("b--use1-lax1-az1--x-s3"), DIR, "use1-lax1-az1"}, /* local zone id */
    {S("my--base--use1-az4--x-s3"), DIR, "use1-az4"},    /* zone is after the last "--" */
    {S("1--z--x-s3"), DIR, "z"},
    /* directory, invalid */
    {S("--x-s3"), BAD, NULL},
    {S("a--x-s3"), BAD, NULL},          /* no zone */
    {S("data----x-s3"), BAD, NULL},     /* empty zone */
    {S("--use1-az4--x-s3"), BAD, NULL}, /* empty base */
    {S("-data--use1-az4--x-s3"), BAD, NULL},
    {S("data---use1-az4--x-s3"), BAD, NULL}, /* base would end in '-' */
    {S("data--use1-az4---x-s3"), BAD, NULL}, /* zone would end in '-' */
    {S("data--use1-az4-x-s3"), GP, NULL},    /* not the directory suffix at all */
    {S("Data--use1-az4--x-s3"), BAD, NULL},
    {S("data--use1-AZ4--x-s3"), BAD, NULL},
    {S("data--use1-az4--X-S3"), BAD, NULL},
    {S("my.data--use1-az4--x-s3"), BAD, NULL}, /* no dots in directory names */
    {S("data--use1_az4--x-s3"), BAD, NULL},
    {S("xn--data--use1-az4--x-s3"), BAD, NULL},
    {S("sthree-data--use1-az4--x-s3"), BAD, NULL},
    {S("amzn-s3-demo-data--use1-az4--x-s3"), BAD, NULL},
};

static void test_bucket_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bucket_cases / sizeof bucket_cases[0]; i++) {
        struct qr_slice name = qr_slice(bucket_cases[i].name, bucket_cases[i].len);
        bool dir = (i & 1) != 0; /* sentinel: must stay untouched on failure */
        bool want_dir = dir;
        bool ok = qr_bucket_name_valid(name, &dir);
        assert_int_equal(ok, bucket_cases[i].kind != BAD);
        if (ok)
            assert_int_equal(dir, bucket_cases[i].kind == DIR);
        else
            assert_int_equal(dir, want_dir);
        assert_int_equal(qr_bucket_name_valid(name, NULL), ok);

        struct qr_slice zone = QR_SLICE_LIT("untouched");
        bool has_zone = qr_bucket_zone(name, &zone);
        assert_int_equal(has_zone, bucket_cases[i].kind == DIR);
        if (has_zone) {
            assert_true(qr_slice_eq_lit(zone, bucket_cases[i].zone));
            /* a sub-slice of the name, not a copy */
            assert_true(zone.p > name.p && zone.p + zone.len <= name.p + name.len);
        } else {
            assert_true(qr_slice_eq_lit(zone, "untouched"));
        }
    }
}

/* Lengths 2..64 built in code, so the boundaries are exact: 3..63 including the suffix. */
static void test_bucket_lengths(void **state)
{
    static const char dir_tail[] = "--use1-az4--x-s3";
    const size_t tail = sizeof dir_tail - 1;
    char name[80];
    (void)state;
    for (size_t len = 1; len <= 64; len++) {
        bool dir = false;
        memset(name, 'a', len);
        assert_int_equal(qr_bucket_name_valid(qr_slice(name, len), &dir),
                         len >= QR_MIN_BUCKET_NAME_LEN && len <= QR_MAX_BUCKET_NAME_LEN);
        assert_false(dir);
        if (len <= tail)
            continue;
        memcpy(name + len - tail, dir_tail, tail);
        struct qr_slice zone;
        bool ok = qr_bucket_name_valid(qr_slice(name, len), &dir);
        assert_int_equal(ok, len <= QR_MAX_BUCKET_NAME_LEN);
        assert_true(!ok || dir);
        assert_int_equal(qr_bucket_zone(qr_slice(name, len), &zone), ok);
    }
}

static void test_bucket_null_slice(void **state)
{
    (void)state;
    struct qr_slice zone;
    assert_false(qr_bucket_name_valid(qr_slice(NULL, 0), NULL));
    assert_false(qr_bucket_zone(qr_slice(NULL, 0), &zone));
}

static const struct {
    const char *key;
    size_t len;
    bool ok;
} key_cases[] = {
    {S("a"), true},
    {S("/"), true},
    {S(".."), true},
    {S("%"), true},
    {S("%2F%zz"), true},
    {S("a/b/../c"), true},
    {S("\x01\x7f\x09\x0a\x0d"), true},
    {S(" "), true},
    {S("\xc2\x80"), true},
    {S("\xdf\xbf"), true},
    {S("\xe0\xa0\x80"), true},
    {S("\xef\xbf\xbf"), true}, /* U+FFFF: a noncharacter, but well-formed */
    {S("\xef\xbf\xbe"), true},
    {S("\xed\x9f\xbf"), true}, /* U+D7FF, just below the surrogates */
    {S("\xee\x80\x80"), true}, /* U+E000, just above */
    {S("\xf0\x90\x80\x80"), true},
    {S("\xf4\x8f\xbf\xbf"), true}, /* U+10FFFF */
    {S("caf\xc3\xa9"), true},
    {S("\xe6\x97\xa5\xe6\x9c\xac"), true},
    {S("\xf0\x9f\x98\x80"), true},
    {S(""), false},
    {S("\x00"), false},
    {S("a\x00\x62"), false},
    {S("\x80"), false},
    {S("\xbf"), false},
    {S("\xc0\x80"), false}, /* overlong NUL */
    {S("\xc1\xbf"), false},
    {S("\xc2"), false},
    {S("\xc2\x41"), false},
    {S("\xc2\xc0"), false},
    {S("\xe0\x80\x80"), false},
    {S("\xe0\x9f\xbf"), false},
    {S("\xed\xa0\x80"), false}, /* U+D800 */
    {S("\xed\xbf\xbf"), false}, /* U+DFFF */
    {S("\xe1\x80"), false},
    {S("\xe1\x80\x41"), false},
    {S("\xf0\x80\x80\x80"), false},
    {S("\xf0\x8f\xbf\xbf"), false},
    {S("\xf4\x90\x80\x80"), false}, /* U+110000 */
    {S("\xf5\x80\x80\x80"), false},
    {S("\xf8\x88\x80\x80\x80"), false},
    {S("\xfe"), false},
    {S("\xff"), false},
    {S("\xf0\x90\x80"), false},
    {S("abc\xe2\x82"), false},
};

static void test_key_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof key_cases / sizeof key_cases[0]; i++)
        assert_int_equal(qr_key_valid(qr_slice(key_cases[i].key, key_cases[i].len)),
                         key_cases[i].ok);
}

static void test_key_length(void **state)
{
    uint8_t *k = malloc(QR_MAX_KEY_LEN + 4);
    (void)state;
    assert_non_null(k);
    memset(k, 'k', QR_MAX_KEY_LEN + 4);
    assert_true(qr_key_valid(qr_slice(k, QR_MAX_KEY_LEN)));
    assert_false(qr_key_valid(qr_slice(k, QR_MAX_KEY_LEN + 1)));
    /* 1024 bytes of 4-byte characters is fine; a character may not straddle the end */
    for (size_t i = 0; i + 4 <= QR_MAX_KEY_LEN + 4; i += 4)
        memcpy(k + i, "\xf0\x9f\x98\x80", 4);
    assert_true(qr_key_valid(qr_slice(k, QR_MAX_KEY_LEN)));
    assert_false(qr_key_valid(qr_slice(k, QR_MAX_KEY_LEN - 1)));
    free(k);
}

/*
 * Reference: read the sequence length from the lead byte's high bits, decode the code
 * point, then apply the range rules. Returns whether p[0..n) is exactly one valid
 * non-NUL character.
 */
static bool ref_one_char(const uint8_t *p, size_t n)
{
    size_t want;
    uint32_t cp;
    if (p[0] < 0x80) {
        want = 1, cp = p[0];
    } else if ((p[0] & 0xE0) == 0xC0) {
        want = 2, cp = p[0] & 0x1F;
    } else if ((p[0] & 0xF0) == 0xE0) {
        want = 3, cp = p[0] & 0x0F;
    } else if ((p[0] & 0xF8) == 0xF0) {
        want = 4, cp = p[0] & 0x07;
    } else {
        return false;
    }
    if (n != want)
        return false;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return false;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0)
        return false;
    return true;
}

/* Every 1-, 2- and 3-byte string, and every 4-byte string with a plausible lead byte. */
static void test_key_exhaustive(void **state)
{
    uint8_t b[4];
    (void)state;
    for (uint32_t v = 0; v < 256; v++) {
        b[0] = (uint8_t)v;
        assert_int_equal(qr_key_valid(qr_slice(b, 1)), ref_one_char(b, 1));
    }
    for (uint32_t v = 0; v < (1u << 16); v++) {
        b[0] = (uint8_t)(v >> 8), b[1] = (uint8_t)v;
        bool want = ref_one_char(b, 2) || (ref_one_char(b, 1) && ref_one_char(b + 1, 1));
        assert_int_equal(qr_key_valid(qr_slice(b, 2)), want);
    }
    for (uint32_t v = 0xE00000; v < 0xF00000; v++) { /* 3-byte leads, any tail */
        b[0] = (uint8_t)(v >> 16), b[1] = (uint8_t)(v >> 8), b[2] = (uint8_t)v;
        if (qr_key_valid(qr_slice(b, 3)) != ref_one_char(b, 3))
            fail_msg("3-byte %02x %02x %02x", b[0], b[1], b[2]);
    }
    for (uint32_t v = 0xF00000; v < 0xF80000; v++) { /* 4-byte leads, 3rd/4th continuation */
        for (uint32_t t = 0; t < 64; t++) {
            b[0] = (uint8_t)(v >> 16), b[1] = (uint8_t)(v >> 8), b[2] = (uint8_t)v;
            b[3] = (uint8_t)(0x80 | t);
            if (b[2] < 0x80 || b[2] > 0xBF)
                continue;
            if (qr_key_valid(qr_slice(b, 4)) != ref_one_char(b, 4))
                fail_msg("4-byte %02x %02x %02x %02x", b[0], b[1], b[2], b[3]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_names),      cmocka_unit_test(test_bucket_lengths),
        cmocka_unit_test(test_bucket_null_slice), cmocka_unit_test(test_key_table),
        cmocka_unit_test(test_key_length),        cmocka_unit_test(test_key_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
