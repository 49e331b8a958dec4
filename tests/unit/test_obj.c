/*
 * test_obj.c - obj/: S3's tag-set rules (AWS "Categorizing your storage using tags":
 * keys 1-128 characters, values 0-256, counted in Unicode characters; no aws: prefix; no
 * duplicate keys; at most 10 on an object), the stored form, and the copy rules shared by
 * CopyObject and batch S3PutObjectCopy (ETag choice per bucket type, tags on directory
 * buckets, the copy-onto-itself refusal), and the reader of stored headers (pairs, a torn
 * tail, the storage class a listing shows).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "obj/obj.h"

#define T(k, v)                                                                                    \
    {                                                                                              \
        QR_SLICE_LIT(k), QR_SLICE_LIT(v)                                                           \
    }

static void test_tag_rules(void **state)
{
    char k128[129], k129[130], v256[257], v257[258], u128[128 * 3 + 1];
    memset(k128, 'k', 128), k128[128] = 0;
    memset(k129, 'k', 129), k129[129] = 0;
    memset(v256, 'v', 256), v256[256] = 0;
    memset(v257, 'v', 257), v257[257] = 0;
    for (int i = 0; i < 128; i++)
        memcpy(u128 + 3 * i, "\xe6\x97\xa5", 3); /* 128 characters, 384 bytes */
    u128[384] = 0;
    const struct {
        struct obj_tag t[3];
        size_t n;
        enum obj_tag_problem want;
        size_t at;
    } cases[] = {
        {{T("a", "1"), T("b", "")}, 2, OBJ_TAG_OK, 0},
        {{{qr_slice_cstr(k128), QR_SLICE_LIT("x")}}, 1, OBJ_TAG_OK, 0},
        {{{qr_slice_cstr(u128), QR_SLICE_LIT("x")}}, 1, OBJ_TAG_OK, 0},
        {{{QR_SLICE_LIT("k"), qr_slice_cstr(v256)}}, 1, OBJ_TAG_OK, 0},
        {{T("", "x")}, 1, OBJ_TAG_KEY_INVALID, 0},
        {{T("ok", "x"), {qr_slice_cstr(k129), QR_SLICE_LIT("x")}}, 2, OBJ_TAG_KEY_INVALID, 1},
        {{{QR_SLICE_LIT("k"), qr_slice_cstr(v257)}}, 1, OBJ_TAG_VALUE_INVALID, 0},
        {{T("aws:x", "1")}, 1, OBJ_TAG_AWS_PREFIX, 0},
        {{T("AWS:x", "1")}, 1, OBJ_TAG_OK, 0}, /* the reserved prefix is lower case */
        {{T("a", "1"), T("b", "2"), T("a", "3")}, 3, OBJ_TAG_DUPLICATE, 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        size_t at = 99;
        enum obj_tag_problem p = obj_tags_check(cases[i].t, cases[i].n, OBJ_TAGS_MAX, &at);
        if (p != cases[i].want)
            fail_msg("case %zu: %d, want %d", i, p, cases[i].want);
        if (p != OBJ_TAG_OK)
            assert_int_equal(at, cases[i].at);
    }
    struct obj_tag many[11];
    for (int i = 0; i < 11; i++)
        many[i] = (struct obj_tag){QR_SLICE_LIT("k"), QR_SLICE_LIT("v")};
    assert_int_equal(obj_tags_check(many, 11, OBJ_TAGS_MAX, NULL), OBJ_TAG_TOO_MANY);
    assert_int_equal(obj_tags_check(many, 2, 50, NULL), OBJ_TAG_DUPLICATE);
}

static void test_tag_encode(void **state)
{
    struct obj_tag t[] = {T("a b", "1+1=2"), T("k&", "")};
    struct qr_buf b;
    qr_buf_init(&b, OBJ_TAGS_STORED_MAX);
    assert_int_equal(obj_tags_encode(t, 2, &b), QR_OK);
    assert_int_equal(b.len, strlen("a%20b=1%2B1%3D2&k%26="));
    assert_memory_equal(b.p, "a%20b=1%2B1%3D2&k%26=", b.len);
    qr_buf_dispose(&b);
    qr_buf_init(&b, 4);
    assert_int_equal(obj_tags_encode(t, 2, &b), QR_E_TOO_LARGE);
    qr_buf_dispose(&b);
}

static void test_copy_rules(void **state)
{
    struct store_obj src;
    memset(&src, 0, sizeof(src));
    strcpy(src.etag, "src-etag");
    char etag[80];
    struct store_copy cp;
    struct obj_copy_req r = {
        .src_bucket = QR_SLICE_LIT("b"),
        .src_key = QR_SLICE_LIT("k"),
        .dst_bucket = QR_SLICE_LIT("b"),
        .dst_key = QR_SLICE_LIT("k2"),
        .src_md5_hex = "0123456789abcdef0123456789abcdef",
        .replace_tags = true,
        .tags = QR_SLICE_LIT("a=1"),
    };
    /* general purpose: the body's MD5 when known, tags as asked, source pinned by ETag */
    assert_int_equal(obj_copy_plan(&r, &src, etag, &cp), QR_OK);
    assert_string_equal(cp.etag, "0123456789abcdef0123456789abcdef");
    assert_string_equal(cp.src_etag, "src-etag");
    assert_true(cp.replace_tags);
    assert_true(qr_slice_eq_lit(cp.tags, "a=1"));
    /* a multipart source keeps its own ETag */
    src.parts = 3;
    assert_int_equal(obj_copy_plan(&r, &src, etag, &cp), QR_OK);
    assert_null(cp.etag);
    /* directory destination: a new opaque ETag, no tags */
    r.dst_directory = true;
    assert_int_equal(obj_copy_plan(&r, &src, etag, &cp), QR_OK);
    assert_ptr_equal(cp.etag, etag);
    assert_int_equal(strlen(etag), 32);
    assert_true(cp.replace_tags);
    assert_int_equal(cp.tags.len, 0);
    /* onto itself: only when something is replaced */
    r.dst_key = QR_SLICE_LIT("k");
    r.dst_directory = false;
    assert_int_equal(obj_copy_plan(&r, &src, etag, &cp), QR_E_BAD_INPUT);
    r.replace_headers = true;
    assert_int_equal(obj_copy_plan(&r, &src, etag, &cp), QR_OK);
    /* no source read (batch): nothing pinned */
    assert_int_equal(obj_copy_plan(&r, NULL, etag, &cp), QR_OK);
    assert_null(cp.src_etag);
}

#define ENC(lit) qr_slice((const uint8_t *)(lit), sizeof(lit) - 1)

static void test_stored_headers(void **state)
{
    struct qr_slice enc = ENC("content-type\0text/plain\0x-amz-storage-class\0STANDARD_IA\0");
    struct qr_slice n, v;
    size_t pos = 0;
    assert_true(obj_header_next(enc, &pos, &n, &v));
    assert_true(qr_slice_eq_lit(n, "content-type") && qr_slice_eq_lit(v, "text/plain"));
    assert_true(obj_header_next(enc, &pos, &n, &v));
    assert_true(qr_slice_eq_lit(v, "STANDARD_IA"));
    assert_false(obj_header_next(enc, &pos, &n, &v));
    assert_true(obj_header_find(enc, "content-type", &v) && qr_slice_eq_lit(v, "text/plain"));
    assert_false(obj_header_find(enc, "content", &v)); /* whole names only */
    assert_true(qr_slice_eq_lit(obj_storage_class(enc, false), "STANDARD_IA"));
    assert_true(qr_slice_eq_lit(obj_storage_class(enc, true), "EXPRESS_ONEZONE"));
    assert_true(qr_slice_eq_lit(obj_storage_class(ENC("a\0b\0"), false), "STANDARD"));
    assert_true(qr_slice_eq_lit(obj_storage_class(qr_slice(NULL, 0), false), "STANDARD"));
    /* a torn tail (no NUL after the value, or after the name) is never read past */
    struct qr_slice torn = ENC("a\0b\0x-amz-storage-class\0GLACIER");
    assert_true(qr_slice_eq_lit(obj_storage_class(torn, false), "STANDARD"));
    pos = 0;
    assert_true(obj_header_next(torn, &pos, &n, &v));
    assert_false(obj_header_next(torn, &pos, &n, &v));
    assert_false(obj_header_find(ENC("x-amz-storage-class"), "x-amz-storage-class", &v));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tag_rules),
        cmocka_unit_test(test_tag_encode),
        cmocka_unit_test(test_copy_rules),
        cmocka_unit_test(test_stored_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
