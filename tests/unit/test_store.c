/*
 * test_store.c - store/: buckets, objects (inline and blob), copies sharing blobs,
 * listing (checked against a naive reference lister over the sorted key set), multipart,
 * conditions, crash recovery of blobs, reopen, and group commit under 16 threads.
 * Real SQLite and real files in a mkdtemp directory; white-box only through store_int.h
 * (blob paths, commit counters) and direct SQL on meta.db to stage a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "store/store.h"
#include "store_fx.h"
#include "store/store_int.h"
#include "util/limits.h"

#define SL(s) QR_SLICE_LIT(s)

static int setup(void **state)
{
    struct fx *f = fx_new("/tmp/qr-store-XXXXXX", false);
    if (f == NULL)
        return -1;
    struct store_bucket b = {.name = "bkt", .type = STORE_BUCKET_GENERAL, .region = "us-east-1"};
    assert_int_equal(store_bucket_create(f->st, &b), QR_OK);
    *state = f;
    return 0;
}

/* ---- helpers ---- */

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

static enum qr_err put_cond(struct fx *f, const char *bucket, struct qr_slice key, const void *data,
                            size_t n, const char *etag, struct store_cond cond)
{
    struct store_put p = {.bucket = qr_slice_cstr(bucket),
                          .key = key,
                          .data = qr_slice(data, n),
                          .etag = etag,
                          .headers = SL("h"),
                          .cond = cond};
    struct store_put_result res;
    return store_obj_put(f->st, &p, &res);
}

static enum qr_err put(struct fx *f, struct qr_slice key, const void *data, size_t n,
                       const char *etag)
{
    return put_cond(f, "bkt", key, data, n, etag, (struct store_cond){0});
}

/* Reads a version's bytes (the current one: version empty) through the public API
 * (inline or pread over extents), unsealing SSE-C with key when given. */
static uint8_t *read_obj_v(struct fx *f, const char *bucket, struct qr_slice key,
                           struct qr_slice version, const uint8_t *sse_key, size_t *out_n)
{
    struct store_obj o;
    assert_int_equal(
        store_obj_get_v(f->r, qr_slice_cstr(bucket), key, version, true, &f->pool, &o), QR_OK);
    if (sse_key)
        assert_int_equal(store_obj_unseal(&o, sse_key), QR_OK);
    uint8_t *buf = malloc(o.size ? o.size : 1);
    if (o.inline_data.p) {
        assert_int_equal(o.inline_data.len, o.size);
        memcpy(buf, o.inline_data.p, o.size);
    } else {
        uint64_t pos = 0;
        for (size_t i = 0; i < o.n_ext; i++) {
            int fd;
            assert_int_equal(store_blob_open(f->st, o.ext[i].blob, &fd), QR_OK);
            ssize_t got = pread(fd, buf + pos, o.ext[i].len, (off_t)o.ext[i].off);
            assert_int_equal(got, (ssize_t)o.ext[i].len);
            store_extent_decrypt(&o.ext[i], o.ext[i].off, buf + pos, o.ext[i].len);
            close(fd);
            pos += o.ext[i].len;
        }
        assert_int_equal(pos, o.size);
    }
    *out_n = o.size;
    return buf;
}

static uint8_t *read_obj(struct fx *f, const char *bucket, struct qr_slice key, size_t *out_n)
{
    return read_obj_v(f, bucket, key, qr_slice(NULL, 0), NULL, out_n);
}

static void assert_obj(struct fx *f, const char *bucket, struct qr_slice key, const void *data,
                       size_t n)
{
    size_t got_n;
    uint8_t *got = read_obj(f, bucket, key, &got_n);
    assert_int_equal(got_n, n);
    assert_memory_equal(got, data, n ? n : 0);
    free(got);
}

static struct store_obj head_in(struct fx *f, const char *bucket, struct qr_slice key)
{
    struct store_obj o;
    assert_int_equal(store_obj_get(f->r, qr_slice_cstr(bucket), key, false, &f->pool, &o), QR_OK);
    return o;
}

static struct store_obj head(struct fx *f, struct qr_slice key)
{
    struct store_obj o;
    assert_int_equal(store_obj_get(f->r, SL("bkt"), key, false, &f->pool, &o), QR_OK);
    return o;
}

static uint64_t first_blob(struct fx *f, struct qr_slice key)
{
    struct store_obj o;
    assert_int_equal(store_obj_get(f->r, SL("bkt"), key, false, &f->pool, &o), QR_OK);
    assert_true(o.n_ext >= 1);
    return o.ext[0].blob;
}

static bool blob_file_exists(struct fx *f, uint64_t id, bool tmp)
{
    char rel[48], path[160];
    struct stat sb;
    if (f->st)
        store_debug_sync(f->st);
    blob_relpath(id, tmp, rel);
    snprintf(path, sizeof(path), "%s/objects/%s", f->dir, rel);
    return stat(path, &sb) == 0;
}

static void make_blob_file(struct fx *f, uint64_t id, bool tmp)
{
    char rel[48], path[160];
    blob_relpath(id, tmp, rel);
    snprintf(path, sizeof(path), "%s/objects/%.2s", f->dir, rel);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/objects/%.5s", f->dir, rel);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/objects/%s", f->dir, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "orphan", 6), 6);
    close(fd);
}

static size_t n_files;
static bool bad_file;
static char walk_root[64];

static int count_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    if (flag != FTW_F)
        return 0;
    const char *rel = p + strlen(walk_root) + 1;
    if (strncmp(rel, "objects/", 8) == 0) {
        /* objects/ab/cd/<16 hex>: nothing else may exist under DATA/objects */
        if (strlen(rel) != 8 + 6 + 16)
            bad_file = true;
        n_files++;
    } else if (strncmp(rel, "meta.db", 7) != 0 && strcmp(rel, "keys/sse.key") != 0) {
        bad_file = true; /* keys/sse.key: the master key of SSE-S3 (store/crypt.c) */
    }
    return 0;
}

/* Blob files under DATA/objects; fails the test on any unexpected file under DATA. */
static size_t count_blob_files(struct fx *f)
{
    store_debug_sync(f->st);
    n_files = 0;
    bad_file = false;
    strcpy(walk_root, f->dir);
    nftw(f->dir, count_cb, 16, FTW_PHYS);
    assert_false(bad_file);
    return n_files;
}

static void mkbucket(struct fx *f, const char *name, enum store_bucket_type t)
{
    struct store_bucket b = {.type = t, .created_ms = 1700000000000, .region = "us-west-2"};
    strcpy(b.name, name);
    if (t == STORE_BUCKET_DIRECTORY)
        strcpy(b.zone, "usw2-az1");
    assert_int_equal(store_bucket_create(f->st, &b), QR_OK);
}

/* ---- buckets ---- */

static void test_buckets(void **state)
{
    struct fx *f = *state;
    struct store_bucket b, *list;
    size_t n;
    bool trunc;

    mkbucket(f, "alpha", STORE_BUCKET_GENERAL);
    mkbucket(f, "beta", STORE_BUCKET_GENERAL);
    mkbucket(f, "dir--usw2-az1--x-s3", STORE_BUCKET_DIRECTORY);
    struct store_bucket dup = {.name = "alpha"};
    assert_int_equal(store_bucket_create(f->st, &dup), QR_E_BUCKET_EXISTS);

    assert_int_equal(store_bucket_get(f->r, SL("dir--usw2-az1--x-s3"), &b), QR_OK);
    assert_int_equal(b.type, STORE_BUCKET_DIRECTORY);
    assert_string_equal(b.zone, "usw2-az1");
    assert_string_equal(b.region, "us-west-2");
    assert_int_equal(b.created_ms, 1700000000000);
    assert_int_equal(store_bucket_get(f->r, SL("nope"), &b), QR_E_NO_SUCH_BUCKET);

    assert_int_equal(
        store_bucket_list(f->r, STORE_BUCKET_GENERAL, SL(""), 1000, &f->pool, &list, &n, &trunc),
        QR_OK);
    assert_int_equal(n, 3); /* alpha, beta, bkt */
    assert_string_equal(list[0].name, "alpha");
    assert_string_equal(list[1].name, "beta");
    assert_string_equal(list[2].name, "bkt");
    assert_false(trunc);
    assert_int_equal(
        store_bucket_list(f->r, STORE_BUCKET_GENERAL, SL("alpha"), 1, &f->pool, &list, &n, &trunc),
        QR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "beta");
    assert_true(trunc);
    assert_int_equal(
        store_bucket_list(f->r, STORE_BUCKET_DIRECTORY, SL(""), 10, &f->pool, &list, &n, &trunc),
        QR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "dir--usw2-az1--x-s3");

    /* not empty while an object exists; uploads are dropped with the bucket */
    assert_int_equal(put_cond(f, "beta", SL("k"), "x", 1, "e", (struct store_cond){0}), QR_OK);
    assert_int_equal(store_bucket_delete(f->st, SL("beta")), QR_E_BUCKET_NOT_EMPTY);
    assert_int_equal(store_obj_delete(f->st, SL("beta"), SL("k"), NULL), QR_OK);
    struct store_mpu_create mc = {.bucket = SL("beta"), .key = SL("up")};
    char id[65];
    assert_int_equal(store_mpu_create(f->st, &mc, id), QR_OK);
    uint8_t *big = pattern(100000, 1);
    struct store_part part = {.number = 1, .etag = "p1"};
    assert_int_equal(store_mpu_put_part(f->st, SL("beta"), SL("up"), qr_slice_cstr(id), &part,
                                        qr_slice(big, 100000)),
                     QR_OK);
    free(big);
    assert_int_equal(count_blob_files(f), 1);
    assert_int_equal(store_bucket_delete(f->st, SL("beta")), QR_OK);
    assert_int_equal(count_blob_files(f), 0);
    assert_int_equal(store_bucket_get(f->r, SL("beta"), &b), QR_E_NO_SUCH_BUCKET);
    assert_int_equal(store_bucket_delete(f->st, SL("beta")), QR_E_NO_SUCH_BUCKET);
    struct store_upload_info ui;
    assert_int_equal(store_mpu_get(f->r, SL("beta"), SL("up"), qr_slice_cstr(id), &f->pool, &ui),
                     QR_E_NO_SUCH_UPLOAD);
    assert_int_equal(put_cond(f, "beta", SL("k"), "x", 1, "e", (struct store_cond){0}),
                     QR_E_NO_SUCH_BUCKET);
}

/* ---- objects ---- */

/* store_reader_fresh: reads share one snapshot until the store commits again; a fresh
 * call after a commit sees it; listings (their own BEGIN when nothing is held) work while
 * a snapshot is held; after store_reader_end every read is its own snapshot again. */
static void test_reader_fresh(void **state)
{
    struct fx *f = *state;
    struct store_obj o;
    struct store_list_opts lo = {.max = 10};
    struct store_list_result lr;
    assert_int_equal(put(f, SL("k"), "one", 3, "e1"), QR_OK);
    store_reader_fresh(f->r);
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("k"), true, &f->pool, &o), QR_OK);
    assert_string_equal(o.etag, "e1");
    assert_int_equal(put(f, SL("k"), "two", 3, "e2"), QR_OK);
    assert_int_equal(put(f, SL("k2"), "x", 1, "e3"), QR_OK);
    /* without fresh: still the held snapshot, listing included */
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("k"), true, &f->pool, &o), QR_OK);
    assert_string_equal(o.etag, "e1");
    assert_int_equal(store_list(f->r, SL("bkt"), &lo, &f->pool, &lr), QR_OK);
    assert_int_equal(lr.n, 1);
    store_reader_fresh(f->r);
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("k"), true, &f->pool, &o), QR_OK);
    assert_string_equal(o.etag, "e2");
    assert_int_equal(store_list(f->r, SL("bkt"), &lo, &f->pool, &lr), QR_OK);
    assert_int_equal(lr.n, 2);
    store_reader_fresh(f->r); /* nothing committed since: the same snapshot, no error */
    store_reader_end(f->r);
    store_reader_end(f->r); /* twice is harmless */
    assert_int_equal(put(f, SL("k"), "three", 5, "e4"), QR_OK);
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("k"), true, &f->pool, &o), QR_OK);
    assert_string_equal(o.etag, "e4");
    assert_int_equal(store_list(f->r, SL("bkt"), &lo, &f->pool, &lr), QR_OK);
    assert_int_equal(lr.n, 2);
}

/* store_bucket_get remembers buckets: a change to a bucket row (default encryption, a
 * delete, a re-create) is seen at once through an autocommit reader, and through a held
 * snapshot once it is renewed -- also when the memo was filled from an older snapshot
 * after the change committed (the memo then carries that snapshot's gen). */
static void test_bucket_memo(void **state)
{
    struct fx *f = *state;
    struct store_bucket b;
    mkbucket(f, "memo", STORE_BUCKET_GENERAL);
    for (int i = 0; i < 3; i++) { /* fill, then hit */
        assert_int_equal(store_bucket_get(f->r, SL("memo"), &b), QR_OK);
        assert_string_equal(b.sse_rule, "");
    }
    assert_int_equal(store_bucket_set_sse(f->st, SL("memo"), "AES256"), QR_OK);
    assert_int_equal(store_bucket_get(f->r, SL("memo"), &b), QR_OK);
    assert_string_equal(b.sse_rule, "AES256");

    store_reader_fresh(f->r); /* a snapshot (it begins at its first read) ... */
    struct store_obj o;
    assert_int_equal(store_obj_get(f->r, SL("memo"), SL("none"), false, &f->pool, &o),
                     QR_E_NO_SUCH_KEY);
    assert_int_equal(store_bucket_set_sse(f->st, SL("memo"), "aws:kms"), QR_OK);
    /* ... older than the change: read (and remembered) from it */
    assert_int_equal(store_bucket_get(f->r, SL("memo"), &b), QR_OK);
    assert_string_equal(b.sse_rule, "AES256");
    store_reader_fresh(f->r);
    assert_int_equal(store_bucket_get(f->r, SL("memo"), &b), QR_OK);
    assert_string_equal(b.sse_rule, "aws:kms");
    store_reader_end(f->r);

    assert_int_equal(store_bucket_delete(f->st, SL("memo")), QR_OK);
    assert_int_equal(store_bucket_get(f->r, SL("memo"), &b), QR_E_NO_SUCH_BUCKET);
    mkbucket(f, "memo", STORE_BUCKET_GENERAL);
    assert_int_equal(store_bucket_get(f->r, SL("memo"), &b), QR_OK);
    assert_string_equal(b.sse_rule, "");
    /* an object write leaves the memo alone and changes nothing it holds */
    assert_int_equal(put_cond(f, "memo", SL("k"), "v", 1, "e", (struct store_cond){0}), QR_OK);
    assert_int_equal(store_bucket_get(f->r, SL("memo"), &b), QR_OK);
    assert_string_equal(b.name, "memo");
}

static void test_put_get(void **state)
{
    struct fx *f = *state;
    uint8_t *small = pattern(4096, 2), *big = pattern(300000, 3);
    struct store_put p = {
        .bucket = SL("bkt"),
        .key = SL("small"),
        .data = qr_slice(small, 4096),
        .etag = "etag-small",
        .headers = SL("content-type: text/plain"),
        .tags = SL("a=b"),
        .ck = {.alg = STORE_CK_CRC32C, .type = STORE_CK_FULL_OBJECT, .b64 = "AAAAAA=="}};
    struct store_put_result res;
    int64_t before = store_now_ms();
    assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
    assert_true(res.mtime_ms >= before && res.mtime_ms <= store_now_ms());
    assert_int_equal(count_blob_files(f), 0); /* inline: no file */

    assert_int_equal(put(f, SL("big"), big, 300000, "etag-big"), QR_OK);
    assert_int_equal(count_blob_files(f), 1);
    assert_int_equal(put(f, SL("empty"), "", 0, "etag-empty"), QR_OK);

    struct store_obj o;
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("small"), true, &f->pool, &o), QR_OK);
    assert_int_equal(o.size, 4096);
    assert_int_equal(o.mtime_ms, res.mtime_ms);
    assert_string_equal(o.etag, "etag-small");
    assert_true(qr_slice_eq_lit(o.headers, "content-type: text/plain"));
    assert_true(qr_slice_eq_lit(o.tags, "a=b"));
    assert_true(qr_slice_eq_lit(o.key, "small"));
    assert_int_equal(o.ck.alg, STORE_CK_CRC32C);
    assert_string_equal(o.ck.b64, "AAAAAA==");
    assert_int_equal(o.n_ext, 0);
    assert_memory_equal(o.inline_data.p, small, 4096);

    o = head(f, SL("big"));
    assert_int_equal(o.size, 300000);
    assert_null(o.inline_data.p);
    assert_int_equal(o.n_ext, 1);
    assert_int_equal(o.ext[0].off, 0);
    assert_int_equal(o.ext[0].len, 300000);
    assert_int_equal(o.ck.alg, STORE_CK_NONE);
    assert_obj(f, "bkt", SL("big"), big, 300000);
    assert_obj(f, "bkt", SL("small"), small, 4096);

    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("empty"), true, &f->pool, &o), QR_OK);
    assert_int_equal(o.size, 0);
    assert_non_null(o.inline_data.p);
    assert_int_equal(o.inline_data.len, 0);

    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("nope"), true, &f->pool, &o),
                     QR_E_NO_SUCH_KEY);
    assert_int_equal(store_obj_get(f->r, SL("nob"), SL("big"), true, &f->pool, &o),
                     QR_E_NO_SUCH_BUCKET);
    assert_int_equal(put_cond(f, "nob", SL("x"), big, 300000, "e", (struct store_cond){0}),
                     QR_E_NO_SUCH_BUCKET);
    assert_int_equal(count_blob_files(f), 1); /* the failed put's blob is gone */

    /* tags */
    assert_int_equal(store_obj_set_tags(f->st, SL("bkt"), SL("big"), SL("x=y&z=w")), QR_OK);
    o = head(f, SL("big"));
    assert_true(qr_slice_eq_lit(o.tags, "x=y&z=w"));
    assert_int_equal(store_obj_set_tags(f->st, SL("bkt"), SL("nope"), SL("")), QR_E_NO_SUCH_KEY);

    /* delete: missing key is success; deleting frees the blob */
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("nope"), NULL), QR_OK);
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("big"), NULL), QR_OK);
    assert_int_equal(count_blob_files(f), 0);
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("big"), true, &f->pool, &o),
                     QR_E_NO_SUCH_KEY);
    free(small);
    free(big);
}

static void test_overwrite_frees(void **state)
{
    struct fx *f = *state;
    uint8_t *a = pattern(200000, 4), *b = pattern(150000, 5);
    assert_int_equal(put(f, SL("k"), a, 200000, "a"), QR_OK);
    uint64_t ida = first_blob(f, SL("k"));
    assert_true(blob_file_exists(f, ida, false));
    assert_int_equal(put(f, SL("k"), b, 150000, "b"), QR_OK);
    uint64_t idb = first_blob(f, SL("k"));
    assert_true(idb != ida);
    assert_false(blob_file_exists(f, ida, false));
    assert_true(blob_file_exists(f, idb, false));
    assert_obj(f, "bkt", SL("k"), b, 150000);
    assert_int_equal(put(f, SL("k"), "tiny", 4, "c"), QR_OK);
    assert_false(blob_file_exists(f, idb, false));
    assert_int_equal(count_blob_files(f), 0);
    assert_obj(f, "bkt", SL("k"), "tiny", 4);
    free(a);
    free(b);
}

static enum qr_err copy(struct fx *f, struct qr_slice src, struct qr_slice dst,
                        const char *src_etag, struct store_cond cond)
{
    struct store_copy cp = {.src_bucket = SL("bkt"),
                            .src_key = src,
                            .src_etag = src_etag,
                            .dst_bucket = SL("bkt"),
                            .dst_key = dst,
                            .cond = cond};
    struct store_put_result res;
    return store_obj_copy(f->st, &cp, &res);
}

static void test_copy_shares(void **state)
{
    struct fx *f = *state;
    uint8_t *a = pattern(500000, 6);
    assert_int_equal(put(f, SL("src"), a, 500000, "ea"), QR_OK);
    uint64_t id = first_blob(f, SL("src"));
    assert_int_equal(copy(f, SL("src"), SL("dst"), NULL, (struct store_cond){0}), QR_OK);
    assert_int_equal(count_blob_files(f), 1);
    assert_int_equal(first_blob(f, SL("dst")), id);
    struct store_obj o = head(f, SL("dst"));
    assert_string_equal(o.etag, "ea");
    assert_true(qr_slice_eq_lit(o.headers, "h"));

    /* copy onto itself with new headers keeps the blob */
    struct store_copy self = {.src_bucket = SL("bkt"),
                              .src_key = SL("dst"),
                              .dst_bucket = SL("bkt"),
                              .dst_key = SL("dst"),
                              .etag = "new",
                              .replace_headers = true,
                              .headers = SL("h2"),
                              .replace_ck = true,
                              .ck = {.alg = STORE_CK_SHA1, .b64 = "2jmj7l5rSw0yVb/vlWAYkK/YBwk="}};
    struct store_put_result res;
    assert_int_equal(store_obj_copy(f->st, &self, &res), QR_OK);
    o = head(f, SL("dst"));
    assert_string_equal(o.etag, "new");
    assert_true(qr_slice_eq_lit(o.headers, "h2"));
    assert_int_equal(o.ck.alg, STORE_CK_SHA1);
    assert_string_equal(o.ck.b64, "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    assert_true(blob_file_exists(f, id, false));
    /* without replace_ck the source's checksum travels with the copy */
    assert_int_equal(copy(f, SL("dst"), SL("dst2"), NULL, (struct store_cond){0}), QR_OK);
    o = head(f, SL("dst2"));
    assert_int_equal(o.ck.alg, STORE_CK_SHA1);
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("dst2"), NULL), QR_OK);

    assert_int_equal(copy(f, SL("src"), SL("x"), "wrong", (struct store_cond){0}),
                     QR_E_PRECONDITION);
    assert_int_equal(copy(f, SL("missing"), SL("x"), NULL, (struct store_cond){0}),
                     QR_E_NO_SUCH_KEY);
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("src"), NULL), QR_OK);
    assert_true(blob_file_exists(f, id, false));
    assert_obj(f, "bkt", SL("dst"), a, 500000);
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("dst"), NULL), QR_OK);
    assert_false(blob_file_exists(f, id, false));
    assert_int_equal(count_blob_files(f), 0);

    /* inline copies copy the row's bytes */
    assert_int_equal(put(f, SL("s"), "hello", 5, "eh"), QR_OK);
    assert_int_equal(copy(f, SL("s"), SL("t"), "eh", (struct store_cond){0}), QR_OK);
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("s"), NULL), QR_OK);
    assert_obj(f, "bkt", SL("t"), "hello", 5);
    assert_int_equal(count_blob_files(f), 0);
    free(a);
}

/* A copy or put onto an existing key of a never-versioned bucket rewrites the row it
 * found by rowid (ST_OBJ_REWRITE), never through the upsert; onto a new key, the upsert
 * inserts. Either way the key holds the new object's bytes, and nothing else changes. */
static void test_rewrite_by_rowid(void **state)
{
    struct fx *f = *state;
    assert_int_equal(put(f, SL("a"), "alpha", 5, "ea"), QR_OK);
    assert_int_equal(put(f, SL("b"), "bravo!", 6, "eb"), QR_OK);
    (void)store_debug_steps(f->st, ST_OBJ_REWRITE);
    (void)store_debug_steps(f->st, ST_OBJ_UPSERT);
    assert_int_equal(copy(f, SL("a"), SL("b"), NULL, (struct store_cond){0}), QR_OK);
    assert_true(store_debug_steps(f->st, ST_OBJ_REWRITE) > 0);
    assert_int_equal(store_debug_steps(f->st, ST_OBJ_UPSERT), 0);
    assert_obj(f, "bkt", SL("b"), "alpha", 5);
    assert_string_equal(head(f, SL("b")).etag, "ea");
    assert_obj(f, "bkt", SL("a"), "alpha", 5);

    assert_int_equal(copy(f, SL("b"), SL("c"), NULL, (struct store_cond){0}), QR_OK);
    assert_int_equal(store_debug_steps(f->st, ST_OBJ_REWRITE), 0);
    assert_true(store_debug_steps(f->st, ST_OBJ_UPSERT) > 0);
    assert_obj(f, "bkt", SL("c"), "alpha", 5);

    /* a blob-backed copy over an inline row, then an inline put over it: the blob is
     * shared while both name it and goes with its last row */
    uint8_t *big = pattern(300000, 9);
    assert_int_equal(put(f, SL("big"), big, 300000, "eg"), QR_OK);
    uint64_t id = first_blob(f, SL("big"));
    assert_int_equal(copy(f, SL("big"), SL("a"), NULL, (struct store_cond){0}), QR_OK);
    assert_true(store_debug_steps(f->st, ST_OBJ_REWRITE) > 0);
    assert_int_equal(first_blob(f, SL("a")), id);
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("big"), NULL), QR_OK);
    assert_obj(f, "bkt", SL("a"), big, 300000);
    assert_int_equal(put(f, SL("a"), "tiny", 4, "et"), QR_OK);
    assert_true(store_debug_steps(f->st, ST_OBJ_REWRITE) > 0);
    store_debug_sync(f->st);
    assert_false(blob_file_exists(f, id, false));
    assert_obj(f, "bkt", SL("a"), "tiny", 4);
    free(big);
}

static void test_path_keys(void **state)
{
    struct fx *f = *state;
    static const char *const keys[] = {"../../etc/passwd", "/abs/olute", "a/../../../x", "..",
                                       "objects/00/00/0000000000000001"};
    uint8_t *big = pattern(100000, 7);
    char outside[128];
    struct stat sb;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        assert_int_equal(put(f, qr_slice_cstr(keys[i]), big, 100000, "e"), QR_OK);
        assert_int_equal(put(f, qr_slice_cstr(keys[i]), big, 10, "e"), QR_OK);
        assert_int_equal(put(f, qr_slice_cstr(keys[i]), big, 100000 - i, "e"), QR_OK);
        assert_obj(f, "bkt", qr_slice_cstr(keys[i]), big, 100000 - i);
    }
    assert_int_equal(count_blob_files(f), 5); /* count_blob_files fails on stray files */
    snprintf(outside, sizeof(outside), "%s/../etc", f->dir);
    assert_int_not_equal(stat(outside, &sb), 0);
    snprintf(outside, sizeof(outside), "%s/abs", f->dir);
    assert_int_not_equal(stat(outside, &sb), 0);
    free(big);
}

/* ---- listing ---- */

static const struct {
    const char *k;
    size_t n;
} list_keys[] = {
#define K(s)                                                                                       \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
    K("a"),
    K("a/"),
    K("a/b"),
    K("a/b/c"),
    K("a/c"),
    K("a%2Fb"),
    K("a%2f"),
    K("ab"),
    K("b/x"),
    K("b/y/z"),
    K("b0"),
    K("c"),
    K("d//e"),
    K("d/e"),
    K("\xc3\xa9t\xc3\xa9/1"),
    K("\xc3\xa9t\xc3\xa9/2"),
    K("\xe6\x97\xa5\xe6\x9c\xac/\xe8\xaa\x9e"),
    K("\xff"),
    K("\xff\xff"),
    K("\xff\xff/z"),
    K("\xff/a"),
    K("x\x00y"),
    K("x\x00z/q"),
    K("x"),
#undef K
};
#define N_LIST_KEYS (sizeof(list_keys) / sizeof(list_keys[0]))

static int cmp_slice_p(const void *a, const void *b)
{
    return qr_slice_cmp(*(const struct qr_slice *)a, *(const struct qr_slice *)b);
}

struct ref_entry {
    struct qr_slice key;
    bool is_prefix;
};

/* Naive reference: walk every key in byte order, apply prefix, roll-up, after, max. */
static size_t ref_list(const struct qr_slice *sorted, size_t n, const struct store_list_opts *o,
                       struct ref_entry *out, bool *trunc)
{
    size_t k = 0;
    *trunc = false;
    if (o->max == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        struct qr_slice key = sorted[i], cand = key;
        bool is_prefix = false;
        if (!qr_slice_starts(key, o->prefix))
            continue;
        if (o->delimiter.len) {
            for (size_t j = o->prefix.len; j + o->delimiter.len <= key.len; j++) {
                if (memcmp(key.p + j, o->delimiter.p, o->delimiter.len) == 0) {
                    cand = qr_slice(key.p, j + o->delimiter.len);
                    is_prefix = true;
                    break;
                }
            }
        }
        if (qr_slice_cmp(cand, o->after) <= 0)
            continue;
        if (k && out[k - 1].is_prefix && is_prefix && qr_slice_eq(out[k - 1].key, cand))
            continue;
        if (k == o->max) {
            *trunc = true;
            break;
        }
        out[k].key = cand;
        out[k].is_prefix = is_prefix;
        k++;
    }
    return k;
}

static void check_list(struct fx *f, const struct qr_slice *sorted, size_t n,
                       const struct store_list_opts *o)
{
    struct ref_entry want[64];
    bool want_trunc;
    size_t wn = ref_list(sorted, n, o, want, &want_trunc);
    struct store_list_result res;
    assert_int_equal(store_list(f->r, SL("bkt"), o, &f->pool, &res), QR_OK);
    assert_int_equal(res.n, wn);
    assert_int_equal(res.truncated, want_trunc);
    for (size_t i = 0; i < wn; i++) {
        assert_true(qr_slice_eq(res.e[i].key, want[i].key));
        assert_int_equal(res.e[i].is_prefix, want[i].is_prefix);
        if (!res.e[i].is_prefix) {
            assert_string_equal(res.e[i].etag, "etag");
            assert_int_equal(res.e[i].size, res.e[i].key.len);
        }
    }
}

static void test_list(void **state)
{
    struct fx *f = *state;
    struct qr_slice sorted[N_LIST_KEYS];
    for (size_t i = 0; i < N_LIST_KEYS; i++) {
        sorted[i] = qr_slice(list_keys[i].k, list_keys[i].n);
        /* body = key bytes, so entry sizes are checkable */
        assert_int_equal(put(f, sorted[i], list_keys[i].k, list_keys[i].n, "etag"), QR_OK);
    }
    /* another bucket's keys never show */
    mkbucket(f, "other", STORE_BUCKET_GENERAL);
    assert_int_equal(put_cond(f, "other", SL("a/zz"), "q", 1, "e", (struct store_cond){0}), QR_OK);
    qsort(sorted, N_LIST_KEYS, sizeof(sorted[0]), cmp_slice_p);

    /* hand-checked cases first, so the reference is not the only oracle */
    struct store_list_opts o = {.delimiter = SL("/"), .max = 1000};
    struct store_list_result res;
    assert_int_equal(store_list(f->r, SL("bkt"), &o, &f->pool, &res), QR_OK);
    static const char *const top[] = {"a",
                                      "a%2Fb",
                                      "a%2f",
                                      "a/",
                                      "ab",
                                      "b/",
                                      "b0",
                                      "c",
                                      "d/",
                                      "x",
                                      "x\0y",
                                      "x\0z/",
                                      "\xc3\xa9t\xc3\xa9/",
                                      "\xe6\x97\xa5\xe6\x9c\xac/",
                                      "\xff",
                                      "\xff/",
                                      "\xff\xff",
                                      "\xff\xff/"};
    static const size_t top_len[] = {1, 5, 4, 2, 2, 2, 2, 1, 2, 1, 3, 4, 6, 7, 1, 2, 2, 3};
    assert_int_equal(res.n, sizeof(top) / sizeof(top[0]));
    for (size_t i = 0; i < res.n; i++)
        assert_true(qr_slice_eq(res.e[i].key, qr_slice(top[i], top_len[i])));
    assert_false(res.truncated);

    o = (struct store_list_opts){.prefix = SL("a/"), .delimiter = SL("/"), .max = 2};
    assert_int_equal(store_list(f->r, SL("bkt"), &o, &f->pool, &res), QR_OK);
    assert_int_equal(res.n, 2);
    assert_true(qr_slice_eq_lit(res.e[0].key, "a/") && !res.e[0].is_prefix);
    assert_true(qr_slice_eq_lit(res.e[1].key, "a/b"));
    assert_true(res.truncated);
    o.after = SL("a/b");
    assert_int_equal(store_list(f->r, SL("bkt"), &o, &f->pool, &res), QR_OK);
    assert_int_equal(res.n, 2);
    assert_true(qr_slice_eq_lit(res.e[0].key, "a/b/") && res.e[0].is_prefix);
    assert_true(qr_slice_eq_lit(res.e[1].key, "a/c"));
    assert_false(res.truncated);

    o = (struct store_list_opts){.max = 0};
    assert_int_equal(store_list(f->r, SL("bkt"), &o, &f->pool, &res), QR_OK);
    assert_int_equal(res.n, 0);
    assert_false(res.truncated);
    assert_int_equal(store_list(f->r, SL("nob"), &o, &f->pool, &res), QR_E_NO_SUCH_BUCKET);

    /* every combination against the reference */
    static const char *const prefixes[] = {"",     "a",        "a/", "b",       "x",
                                           "\xff", "\xff\xff", "zz", "\xc3\xa9"};
    static const char *const delims[] = {"", "/", "%", "//", "b", "\xff"};
    static const char *const afters[] = {"",   "a", "a/",   "a/b",   "a/b/",         "b",
                                         "b/", "c", "\xff", "\xff/", "\xff\xff\xff", "x"};
    static const size_t maxes[] = {0, 1, 2, 3, 5, 1000};
    size_t combos = 0;
    for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++)
        for (size_t d = 0; d < sizeof(delims) / sizeof(delims[0]); d++)
            for (size_t a = 0; a < sizeof(afters) / sizeof(afters[0]); a++)
                for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
                    o = (struct store_list_opts){.prefix = qr_slice_cstr(prefixes[p]),
                                                 .delimiter = qr_slice_cstr(delims[d]),
                                                 .after = qr_slice_cstr(afters[a]),
                                                 .max = maxes[m]};
                    check_list(f, sorted, N_LIST_KEYS, &o);
                    combos++;
                }
    assert_int_equal(combos, 9 * 6 * 12 * 6);

    /* paging with after = last entry visits everything exactly once */
    for (size_t d = 0; d < 2; d++) {
        struct qr_slice after = SL("");
        size_t total = 0, pages = 0;
        do {
            o = (struct store_list_opts){
                .delimiter = qr_slice_cstr(delims[d]), .after = after, .max = 2};
            assert_int_equal(store_list(f->r, SL("bkt"), &o, &f->pool, &res), QR_OK);
            total += res.n;
            pages++;
            if (res.n)
                after = res.e[res.n - 1].key;
        } while (res.truncated);
        assert_int_equal(total, d == 0 ? N_LIST_KEYS : 18);
        assert_true(pages <= total / 2 + 1);
    }
}

/* ---- direct SQL on meta.db (staging crashes and old schemas) ---- */

static void sql(const char *dir, const char *q)
{
    char path[128];
    sqlite3 *db;
    snprintf(path, sizeof(path), "%s/meta.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, q, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "sql: %s\n", msg);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(db);
}

static int64_t sql_int(const char *dir, const char *q)
{
    char path[128];
    sqlite3 *db;
    sqlite3_stmt *s;
    snprintf(path, sizeof(path), "%s/meta.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

/* ---- multipart ---- */

#define MIB (1024u * 1024u)

static void part_put(struct fx *f, const char *id, uint32_t num, const char *etag, const uint8_t *p,
                     size_t n)
{
    struct store_part part = {.number = num};
    strcpy(part.etag, etag);
    assert_int_equal(
        store_mpu_put_part(f->st, SL("bkt"), SL("mp"), qr_slice_cstr(id), &part, qr_slice(p, n)),
        QR_OK);
}

static enum qr_err complete(struct fx *f, const char *id, const uint32_t *nums,
                            const char *const *etags, size_t n, struct store_cond cond)
{
    struct store_mpu_complete c = {.bucket = SL("bkt"),
                                   .key = SL("mp"),
                                   .upload_id = qr_slice_cstr(id),
                                   .numbers = nums,
                                   .etags = etags,
                                   .n = n,
                                   .etag = "final-3",
                                   .cond = cond};
    struct store_put_result res;
    return store_mpu_complete(f->st, &c, &res);
}

/* Checks part_sizes against the expected sizes, decoding the little-endian packing here
 * rather than through the store's own helper. */
static void assert_part_sizes(const struct store_obj *o, const uint64_t *want, size_t n)
{
    assert_int_equal(o->parts, n);
    assert_int_equal(o->part_sizes.len, n * 8);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *b = o->part_sizes.p + i * 8;
        uint64_t v = 0;
        for (size_t j = 0; j < 8; j++)
            v |= (uint64_t)b[j] << (8 * j);
        assert_int_equal(v, want[i]);
    }
}

static void test_multipart(void **state)
{
    struct fx *f = *state;
    char id[65];
    struct store_mpu_create mc = {.bucket = SL("bkt"),
                                  .key = SL("mp"),
                                  .headers = SL("mh"),
                                  .tags = SL("mt"),
                                  .ck_alg = STORE_CK_SHA256,
                                  .ck_type = STORE_CK_COMPOSITE};
    assert_int_equal(store_mpu_create(f->st, &mc, id), QR_OK);
    assert_int_equal(strlen(id), 32);
    struct store_mpu_create bad = {.bucket = SL("nob"), .key = SL("mp")};
    char id2[65];
    assert_int_equal(store_mpu_create(f->st, &bad, id2), QR_E_NO_SUCH_BUCKET);

    uint8_t *p1 = pattern(5 * MIB, 10), *p2 = pattern(5 * MIB + 7, 11), *p3 = pattern(1000, 12);
    uint8_t *p1b = pattern(5 * MIB, 13);
    /* out of order, then replace part 1 */
    part_put(f, id, 3, "e3", p3, 1000);
    part_put(f, id, 1, "e1", p1, 5 * MIB);
    part_put(f, id, 2, "e2", p2, 5 * MIB + 7);
    assert_int_equal(count_blob_files(f), 3);
    part_put(f, id, 1, "e1b", p1b, 5 * MIB);
    assert_int_equal(count_blob_files(f), 3); /* the replaced part's blob is gone */
    part_put(f, id, 4, "e4", p3, 10);         /* never listed: freed at completion */
    assert_int_equal(count_blob_files(f), 4);

    struct store_part *parts;
    size_t n;
    bool trunc;
    assert_int_equal(store_mpu_list_parts(f->r, SL("bkt"), SL("mp"), qr_slice_cstr(id), 0, 2,
                                          &f->pool, &parts, &n, &trunc),
                     QR_OK);
    assert_int_equal(n, 2);
    assert_true(trunc);
    assert_int_equal(parts[0].number, 1);
    assert_string_equal(parts[0].etag, "e1b");
    assert_int_equal(parts[1].number, 2);
    assert_int_equal(parts[1].size, 5 * MIB + 7);
    assert_int_equal(store_mpu_list_parts(f->r, SL("bkt"), SL("mp"), qr_slice_cstr(id), 2, 10,
                                          &f->pool, &parts, &n, &trunc),
                     QR_OK);
    assert_int_equal(n, 2);
    assert_false(trunc);
    assert_int_equal(parts[0].number, 3);
    assert_int_equal(store_mpu_list_parts(f->r, SL("bkt"), SL("other"), qr_slice_cstr(id), 0, 10,
                                          &f->pool, &parts, &n, &trunc),
                     QR_E_NO_SUCH_UPLOAD);

    struct store_upload_info ui;
    assert_int_equal(store_mpu_get(f->r, SL("bkt"), SL("mp"), qr_slice_cstr(id), &f->pool, &ui),
                     QR_OK);
    assert_string_equal(ui.id, id);
    assert_true(qr_slice_eq_lit(ui.key, "mp"));
    assert_int_equal(ui.ck_alg, STORE_CK_SHA256);
    assert_int_equal(ui.ck_type, STORE_CK_COMPOSITE);

    const uint32_t nums[] = {1, 2, 3};
    const char *const good[] = {"e1b", "e2", "e3"};
    const char *const stale[] = {"e1", "e2", "e3"};
    const uint32_t disorder[] = {2, 1, 3};
    const uint32_t small_first[] = {3, 4};
    const char *const small_etags[] = {"e3", "e4"};
    const uint32_t missing[] = {1, 5};
    const char *const missing_etags[] = {"e1b", "e5"};
    assert_int_equal(complete(f, id, nums, stale, 3, (struct store_cond){0}), QR_E_INVALID_PART);
    assert_int_equal(complete(f, id, disorder, good, 3, (struct store_cond){0}),
                     QR_E_INVALID_PART_ORDER);
    assert_int_equal(complete(f, id, small_first, small_etags, 2, (struct store_cond){0}),
                     QR_E_TOO_SMALL);
    assert_int_equal(complete(f, id, missing, missing_etags, 2, (struct store_cond){0}),
                     QR_E_INVALID_PART);
    assert_int_equal(complete(f, "nope", nums, good, 3, (struct store_cond){0}),
                     QR_E_NO_SUCH_UPLOAD);
    assert_int_equal(put(f, SL("mp"), "old", 3, "old"), QR_OK);
    assert_int_equal(complete(f, id, nums, good, 3, (struct store_cond){.if_none_match_any = true}),
                     QR_E_PRECONDITION);
    assert_int_equal(count_blob_files(f), 4); /* failed completions changed nothing */
    struct store_mpu_done done;
    assert_int_equal(store_mpu_completed(f->r, SL("bkt"), SL("mp"), qr_slice_cstr(id), &done),
                     QR_E_NO_SUCH_UPLOAD); /* not completed yet */
    assert_int_equal(complete(f, id, nums, good, 3, (struct store_cond){.if_match = "old"}), QR_OK);
    assert_int_equal(count_blob_files(f), 3); /* part 4 freed */
    /* the completion is remembered for a retry, for that bucket and key only */
    assert_int_equal(store_mpu_completed(f->r, SL("bkt"), SL("mp"), qr_slice_cstr(id), &done),
                     QR_OK);
    assert_string_equal(done.etag, "final-3");
    assert_int_equal(store_mpu_completed(f->r, SL("bkt"), SL("other"), qr_slice_cstr(id), &done),
                     QR_E_NO_SUCH_UPLOAD);
    assert_int_equal(store_mpu_completed(f->r, SL("nob"), SL("mp"), qr_slice_cstr(id), &done),
                     QR_E_NO_SUCH_UPLOAD);
    assert_int_equal(complete(f, id, nums, good, 3, (struct store_cond){0}), QR_E_NO_SUCH_UPLOAD);

    size_t total = 5 * MIB + 5 * MIB + 7 + 1000;
    uint8_t *want = malloc(total);
    memcpy(want, p1b, 5 * MIB);
    memcpy(want + 5 * MIB, p2, 5 * MIB + 7);
    memcpy(want + 10 * MIB + 7, p3, 1000);
    assert_obj(f, "bkt", SL("mp"), want, total);
    struct store_obj o = head(f, SL("mp"));
    assert_int_equal(o.parts, 3);
    assert_int_equal(o.n_ext, 3);
    assert_string_equal(o.etag, "final-3");
    assert_true(qr_slice_eq_lit(o.headers, "mh"));
    assert_true(qr_slice_eq_lit(o.tags, "mt"));
    /* part boundaries survive the parts rows, in listed order; part 4 was not listed */
    const uint64_t mp_sizes[] = {5 * MIB, 5 * MIB + 7, 1000};
    assert_part_sizes(&o, mp_sizes, 3);
    struct store_obj og;
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("mp"), true, &f->pool, &og), QR_OK);
    assert_part_sizes(&og, mp_sizes, 3);
    /* a copy carries them; a plain put (over a multipart key too) has none */
    assert_int_equal(copy(f, SL("mp"), SL("mpcopy"), NULL, (struct store_cond){0}), QR_OK);
    struct store_obj oc = head(f, SL("mpcopy"));
    assert_part_sizes(&oc, mp_sizes, 3);
    assert_int_equal(sql_int(f->dir, "SELECT length(part_sizes) FROM objects"
                                     " WHERE key=CAST('mpcopy' AS BLOB)"),
                     24);
    assert_int_equal(put(f, SL("mpcopy"), p3, 1000, "plain"), QR_OK);
    oc = head(f, SL("mpcopy"));
    assert_int_equal(oc.parts, 0);
    assert_int_equal(oc.part_sizes.len, 0);
    assert_int_equal(sql_int(f->dir, "SELECT part_sizes IS NULL FROM objects"
                                     " WHERE key=CAST('mpcopy' AS BLOB)"),
                     1);
    assert_int_equal(put(f, SL("plainbig"), p1, 100000, "pb"), QR_OK);
    oc = head(f, SL("plainbig"));
    assert_int_equal(oc.parts, 0);
    assert_int_equal(oc.part_sizes.len, 0);
    assert_int_equal(copy(f, SL("plainbig"), SL("mpcopy"), NULL, (struct store_cond){0}), QR_OK);
    oc = head(f, SL("mpcopy"));
    assert_int_equal(oc.parts, 0);
    assert_int_equal(oc.part_sizes.len, 0);
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("mpcopy"), NULL), QR_OK);
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("plainbig"), NULL), QR_OK);
    assert_int_equal(store_mpu_get(f->r, SL("bkt"), SL("mp"), qr_slice_cstr(id), &f->pool, &ui),
                     QR_E_NO_SUCH_UPLOAD);
    assert_int_equal(store_mpu_list_parts(f->r, SL("bkt"), SL("mp"), qr_slice_cstr(id), 0, 10,
                                          &f->pool, &parts, &n, &trunc),
                     QR_E_NO_SUCH_UPLOAD);

    /* copy_part: ranges spanning extents of the multipart object share its blobs */
    char id3[65];
    struct store_mpu_create mc3 = {.bucket = SL("bkt"), .key = SL("cp")};
    assert_int_equal(store_mpu_create(f->st, &mc3, id3), QR_OK);
    struct store_part cpart = {.number = 1, .etag = "c1"};
    uint64_t off = 5 * MIB - 100, len = 5 * MIB + 7 + 200; /* tail of 1, all of 2, head of 3 */
    assert_int_equal(store_mpu_copy_part(f->st, SL("bkt"), SL("cp"), qr_slice_cstr(id3), &cpart,
                                         SL("bkt"), SL("mp"), off, len),
                     QR_OK);
    assert_int_equal(count_blob_files(f), 3);
    struct store_part cpart2 = {.number = 2, .etag = "c2"};
    assert_int_equal(store_mpu_copy_part(f->st, SL("bkt"), SL("cp"), qr_slice_cstr(id3), &cpart2,
                                         SL("bkt"), SL("mp"), total - 10, 11),
                     QR_E_INVALID_RANGE);
    assert_int_equal(store_mpu_copy_part(f->st, SL("bkt"), SL("cp"), qr_slice_cstr(id3), &cpart2,
                                         SL("bkt"), SL("nokey"), 0, 1),
                     QR_E_NO_SUCH_KEY);
    assert_int_equal(store_mpu_copy_part(f->st, SL("bkt"), SL("cp"), SL("badid"), &cpart2,
                                         SL("bkt"), SL("mp"), 0, 1),
                     QR_E_NO_SUCH_UPLOAD);
    /* from an inline source: a new small blob */
    assert_int_equal(put(f, SL("inl"), "0123456789", 10, "i"), QR_OK);
    assert_int_equal(store_mpu_copy_part(f->st, SL("bkt"), SL("cp"), qr_slice_cstr(id3), &cpart2,
                                         SL("bkt"), SL("inl"), 2, 5),
                     QR_OK);
    assert_int_equal(count_blob_files(f), 4);
    const uint32_t cnums[] = {1, 2};
    const char *const cetags[] = {"c1", "c2"};
    struct store_mpu_complete cc = {.bucket = SL("bkt"),
                                    .key = SL("cp"),
                                    .upload_id = qr_slice_cstr(id3),
                                    .numbers = cnums,
                                    .etags = cetags,
                                    .n = 2,
                                    .etag = "cp-2"};
    struct store_put_result res;
    assert_int_equal(store_mpu_complete(f->st, &cc, &res), QR_OK);
    uint8_t *cwant = malloc(len + 5);
    memcpy(cwant, want + off, len);
    memcpy(cwant + len, "23456", 5);
    assert_obj(f, "bkt", SL("cp"), cwant, len + 5);
    free(cwant);
    const uint64_t cp_sizes[] = {len, 5};
    o = head(f, SL("cp"));
    assert_part_sizes(&o, cp_sizes, 2);
    /* deleting the source keeps the blobs the copy still uses */
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("mp"), NULL), QR_OK);
    assert_int_equal(count_blob_files(f), 4); /* the copy's extents name all three blobs */
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("cp"), NULL), QR_OK);
    assert_int_equal(count_blob_files(f), 0);

    /* abort frees every part; list uploads */
    char a1[65], a2[65], a3[65];
    struct store_mpu_create m1 = {.bucket = SL("bkt"), .key = SL("k/1")};
    struct store_mpu_create m2 = {.bucket = SL("bkt"), .key = SL("k/2")};
    struct store_mpu_create m3 = {.bucket = SL("bkt"), .key = SL("z")};
    assert_int_equal(store_mpu_create(f->st, &m1, a1), QR_OK);
    assert_int_equal(store_mpu_create(f->st, &m1, a2), QR_OK);
    assert_int_equal(store_mpu_create(f->st, &m3, a3), QR_OK);
    struct store_upload_info *ups;
    assert_int_equal(
        store_mpu_list(f->r, SL("bkt"), SL("k/"), SL(""), SL(""), 10, &f->pool, &ups, &n, &trunc),
        QR_OK);
    assert_int_equal(n, 2);
    assert_false(trunc);
    assert_true(qr_slice_eq_lit(ups[0].key, "k/1") && qr_slice_eq_lit(ups[1].key, "k/1"));
    /* same key: ordered by creation, then id */
    assert_true(ups[0].created_ms < ups[1].created_ms ||
                (ups[0].created_ms == ups[1].created_ms && strcmp(ups[0].id, ups[1].id) < 0));
    char first_id[65];
    strcpy(first_id, ups[0].id);
    assert_int_equal(store_mpu_list(f->r, SL("bkt"), SL(""), SL("k/1"), qr_slice_cstr(first_id), 1,
                                    &f->pool, &ups, &n, &trunc),
                     QR_OK);
    assert_int_equal(n, 1);
    assert_true(trunc);
    assert_string_equal(ups[0].id, strcmp(first_id, a1) == 0 ? a2 : a1);
    assert_int_equal(
        store_mpu_list(f->r, SL("bkt"), SL(""), SL("k/1"), SL(""), 10, &f->pool, &ups, &n, &trunc),
        QR_OK);
    assert_int_equal(n, 1);
    assert_true(qr_slice_eq_lit(ups[0].key, "z"));
    (void)m2;

    struct store_part ap = {.number = 1, .etag = "x"};
    assert_int_equal(
        store_mpu_put_part(f->st, SL("bkt"), SL("k/1"), qr_slice_cstr(a1), &ap, qr_slice(p3, 1000)),
        QR_OK);
    ap.number = 2;
    assert_int_equal(store_mpu_put_part(f->st, SL("bkt"), SL("k/1"), qr_slice_cstr(a1), &ap,
                                        qr_slice(p1, 100000)),
                     QR_OK);
    assert_int_equal(
        store_mpu_put_part(f->st, SL("bkt"), SL("k/1"), SL("nope"), &ap, qr_slice(p1, 100000)),
        QR_E_NO_SUCH_UPLOAD);
    assert_int_equal(
        store_mpu_put_part(f->st, SL("bkt"), SL("z"), qr_slice_cstr(a1), &ap, qr_slice(p1, 100000)),
        QR_E_NO_SUCH_UPLOAD); /* the id belongs to another key */
    assert_int_equal(count_blob_files(f), 2);
    assert_int_equal(store_mpu_abort(f->st, SL("bkt"), SL("k/1"), qr_slice_cstr(a1)), QR_OK);
    assert_int_equal(count_blob_files(f), 0);
    assert_int_equal(store_mpu_abort(f->st, SL("bkt"), SL("k/1"), qr_slice_cstr(a1)),
                     QR_E_NO_SUCH_UPLOAD);
    free(p1);
    free(p2);
    free(p3);
    free(p1b);
    free(want);
}

/* ---- conditions ---- */

static void test_conditions(void **state)
{
    struct fx *f = *state;
    struct store_cond none_match = {.if_none_match_any = true};
    assert_int_equal(put_cond(f, "bkt", SL("c"), "1", 1, "e1", none_match), QR_OK);
    assert_int_equal(put_cond(f, "bkt", SL("c"), "2", 1, "e2", none_match), QR_E_PRECONDITION);
    assert_int_equal(
        put_cond(f, "bkt", SL("c"), "2", 1, "e2", (struct store_cond){.if_match = "zz"}),
        QR_E_PRECONDITION);
    assert_int_equal(
        put_cond(f, "bkt", SL("c"), "2", 1, "e2", (struct store_cond){.if_match = "e1"}), QR_OK);
    assert_obj(f, "bkt", SL("c"), "2", 1);
    assert_int_equal(
        put_cond(f, "bkt", SL("new"), "2", 1, "e2", (struct store_cond){.if_match = "e1"}),
        QR_E_NO_SUCH_KEY);
    struct store_cond wrong = {.if_match = "e1"}, right = {.if_match = "e2"};
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("c"), &wrong), QR_E_PRECONDITION);
    assert_obj(f, "bkt", SL("c"), "2", 1);
    /* size and time conditions: checked against an existing object, true for a missing one */
    struct store_obj cur = head(f, SL("c"));
    struct store_cond size_bad = {.if_size = true, .size = 2},
                      time_bad = {.if_mtime = true, .mtime_ms = cur.mtime_ms - 2000};
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("c"), &size_bad), QR_E_PRECONDITION);
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("c"), &time_bad), QR_E_PRECONDITION);
    assert_obj(f, "bkt", SL("c"), "2", 1);
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("nothing"), &size_bad), QR_OK);
    struct store_cond any = {.if_match = "*"};
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("nothing"), &any), QR_E_NO_SUCH_KEY);
    right.if_size = right.if_mtime = true; /* with If-Match: all three must hold */
    right.size = 1;
    right.mtime_ms = cur.mtime_ms;
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("c"), &right), QR_OK);
    assert_int_equal(copy(f, SL("missing"), SL("c"), NULL, none_match), QR_E_NO_SUCH_KEY);
    assert_int_equal(put(f, SL("s"), "s", 1, "es"), QR_OK);
    assert_int_equal(copy(f, SL("s"), SL("c"), NULL, none_match), QR_OK);
    assert_int_equal(copy(f, SL("s"), SL("c"), NULL, none_match), QR_E_PRECONDITION);
}

/* ---- crash recovery and reopen ---- */

static void test_gc_recovery(void **state)
{
    struct fx *f = *state;
    uint8_t *big = pattern(100000, 20);
    char q[256];
    assert_int_equal(put(f, SL("gone"), big, 100000, "g"), QR_OK);
    assert_int_equal(put(f, SL("kept"), big, 90000, "k"), QR_OK);
    uint64_t gone = first_blob(f, SL("gone")), kept = first_blob(f, SL("kept"));
    fx_close(f);

    /* crash after the commit that freed "gone", before its unlink: row gone, gc row
     * present, file present */
    snprintf(q, sizeof(q),
             "DELETE FROM objects WHERE key=CAST('gone' AS BLOB); DELETE FROM blobs WHERE id=%llu;"
             " INSERT INTO gc(blob) VALUES(%llu);",
             (unsigned long long)gone, (unsigned long long)gone);
    sql(f->dir, q);
    /* crash after a rename, before the commit: files with ids handed out but unsettled */
    uint64_t lwm = (uint64_t)sql_int(f->dir, "SELECT v FROM meta WHERE k='blob_lwm'");
    uint64_t reserved = (uint64_t)sql_int(f->dir, "SELECT v FROM meta WHERE k='blob_reserved'");
    assert_true(lwm <= kept + 1 && reserved > lwm + 300);
    make_blob_file(f, lwm + 3, false);
    make_blob_file(f, lwm + 300, true);
    make_blob_file(f, reserved - 1, false);
    assert_true(blob_file_exists(f, gone, false));

    fx_open(f);
    assert_false(blob_file_exists(f, gone, false));
    assert_false(blob_file_exists(f, lwm + 3, false));
    assert_false(blob_file_exists(f, lwm + 300, true));
    assert_false(blob_file_exists(f, reserved - 1, false));
    assert_true(blob_file_exists(f, kept, false));
    assert_obj(f, "bkt", SL("kept"), big, 90000);
    assert_int_equal(count_blob_files(f), 1);
    fx_close(f);
    assert_int_equal(sql_int(f->dir, "SELECT count(*) FROM gc"), 0);
    /* ids are never reused: the counter restarted at the old reservation */
    fx_open(f);
    assert_int_equal(put(f, SL("new"), big, 100000, "n"), QR_OK);
    assert_true(first_blob(f, SL("new")) >= reserved);
    free(big);
}

static void test_reopen(void **state)
{
    struct fx *f = *state;
    uint8_t *big = pattern(70000, 21);
    char id[65];
    assert_int_equal(put(f, SL("i"), "inline", 6, "ei"), QR_OK);
    assert_int_equal(put(f, SL("b"), big, 70000, "eb"), QR_OK);
    mkbucket(f, "dir--usw2-az1--x-s3", STORE_BUCKET_DIRECTORY);
    struct store_mpu_create mc = {.bucket = SL("bkt"), .key = SL("mp")};
    assert_int_equal(store_mpu_create(f->st, &mc, id), QR_OK);
    part_put(f, id, 7, "e7", big, 70000);
    /* a freed blob whose gc row is deleted at close */
    assert_int_equal(put(f, SL("tmp"), big, 65537, "t"), QR_OK);
    assert_int_equal(store_obj_delete(f->st, SL("bkt"), SL("tmp"), NULL), QR_OK);
    fx_close(f);
    assert_int_equal(sql_int(f->dir, "SELECT count(*) FROM gc"), 0);
    fx_open(f);
    assert_obj(f, "bkt", SL("i"), "inline", 6);
    assert_obj(f, "bkt", SL("b"), big, 70000);
    struct store_bucket b;
    assert_int_equal(store_bucket_get(f->r, SL("dir--usw2-az1--x-s3"), &b), QR_OK);
    struct store_part *parts;
    size_t n;
    bool trunc;
    assert_int_equal(store_mpu_list_parts(f->r, SL("bkt"), SL("mp"), qr_slice_cstr(id), 0, 10,
                                          &f->pool, &parts, &n, &trunc),
                     QR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(parts[0].number, 7);
    assert_int_equal(parts[0].size, 70000);
    assert_int_equal(count_blob_files(f), 2);
    free(big);
}

/* A data directory from before objects.part_sizes existed: reopening adds the column;
 * old multipart rows read with no sizes (and copy as such), new completions record them. */
static void test_migrate_part_sizes(void **state)
{
    struct fx *f = *state;
    char id[65];
    struct store_mpu_create mc = {.bucket = SL("bkt"), .key = SL("mp")};
    const uint32_t one[] = {1};
    const char *const e1[] = {"e1"};
    assert_int_equal(store_mpu_create(f->st, &mc, id), QR_OK);
    part_put(f, id, 1, "e1", (const uint8_t *)"0123456789", 10);
    assert_int_equal(complete(f, id, one, e1, 1, (struct store_cond){0}), QR_OK);
    fx_close(f);
    sql(f->dir, "ALTER TABLE objects DROP COLUMN part_sizes");
    fx_open(f);
    assert_int_equal(sql_int(f->dir, "SELECT count(*) FROM pragma_table_info('objects')"
                                     " WHERE name='part_sizes'"),
                     1);
    struct store_obj o = head(f, SL("mp"));
    assert_int_equal(o.parts, 1);
    assert_int_equal(o.part_sizes.len, 0);
    assert_obj(f, "bkt", SL("mp"), "0123456789", 10);
    assert_int_equal(copy(f, SL("mp"), SL("mp2"), NULL, (struct store_cond){0}), QR_OK);
    o = head(f, SL("mp2"));
    assert_int_equal(o.parts, 1);
    assert_int_equal(o.part_sizes.len, 0);
    assert_int_equal(store_mpu_create(f->st, &mc, id), QR_OK);
    part_put(f, id, 1, "e1", (const uint8_t *)"abc", 3);
    assert_int_equal(complete(f, id, one, e1, 1, (struct store_cond){0}), QR_OK);
    const uint64_t sizes[] = {3};
    o = head(f, SL("mp"));
    assert_part_sizes(&o, sizes, 1);
    /* a corrupt size list is an error, never a wrong part */
    fx_close(f);
    sql(f->dir, "UPDATE objects SET part_sizes=X'0102' WHERE key=CAST('mp' AS BLOB)");
    fx_open(f);
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("mp"), false, &f->pool, &o), QR_E_DB);
}

/* ---- encryption at rest (crypt.c) ---- */

/* CTR at any offset equals the same bytes of one pass from 0; a wrapped key whose
 * envelope was altered (mode, iv or the wrapped bytes) does not open. */
static void test_crypt(void **state)
{
    (void)state;
    uint8_t key[32], master[32], plain[1000], whole[1000], part[1000];
    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (uint8_t)(i * 7 + 3);
    memset(master, 0x5a, sizeof(master));
    struct store_sse sse = {.mode = STORE_SSE_S3};
    struct crypt_env env, got;
    assert_int_equal(crypt_env_new(master, &sse, &env, key), QR_OK);
    memcpy(whole, plain, sizeof(whole));
    crypt_ctr(key, env.iv, 0, whole, sizeof(whole));
    assert_memory_not_equal(whole, plain, sizeof(plain));
    const size_t cuts[][2] = {{0, 1}, {1, 16}, {15, 2}, {17, 300}, {999, 1}, {5, 995}};
    for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        memcpy(part, whole + cuts[c][0], cuts[c][1]);
        crypt_ctr(key, env.iv, cuts[c][0], part, cuts[c][1]);
        assert_memory_equal(part, plain + cuts[c][0], cuts[c][1]);
    }
    uint8_t packed[CRYPT_ENV_BYTES], k2[32];
    crypt_env_pack(&env, packed);
    assert_true(crypt_env_unpack(packed, sizeof(packed), &got));
    assert_int_equal(crypt_env_key(master, &got, k2), QR_OK);
    assert_memory_equal(k2, key, 32);
    for (size_t i = 0; i < sizeof(packed); i++) {
        if (i >= 17 && i < 33)
            continue; /* the key MD5 field is unused by SSE-S3 */
        uint8_t t[CRYPT_ENV_BYTES];
        memcpy(t, packed, sizeof(t));
        t[i] ^= 1;
        if (crypt_env_unpack(t, sizeof(t), &got))
            assert_int_not_equal(crypt_env_key(master, &got, k2), QR_OK);
    }
    master[0] ^= 1;
    assert_int_not_equal(crypt_env_key(master, &env, k2), QR_OK);
    /* a counter that wraps past 2^128 carries like the 128-bit add it is */
    memset(env.iv, 0xff, sizeof(env.iv));
    memcpy(whole, plain, sizeof(whole));
    crypt_ctr(key, env.iv, 0, whole, sizeof(whole));
    memcpy(part, whole + 33, 100);
    crypt_ctr(key, env.iv, 33, part, 100);
    assert_memory_equal(part, plain + 33, 100);
}

static enum qr_err put_sse(struct fx *f, struct qr_slice key, const void *data, size_t n,
                           const struct store_sse *sse)
{
    struct store_put p = {.bucket = SL("bkt"), .key = key, .data = qr_slice(data, n),
                          .etag = "e", .headers = SL("h"), .sse = *sse};
    struct store_put_result res;
    return store_obj_put(f->st, &p, &res);
}

/* Reads [off, off+len) of o through a cursor in chunks of `chunk` bytes. */
static enum qr_err cursor_read(struct fx *f, const struct store_obj *o, uint64_t off, uint64_t len,
                               size_t chunk, uint8_t *out, size_t *out_n)
{
    struct store_obj_cursor c;
    store_obj_cursor_init(&c, f->st, o, off, len);
    size_t got = 0;
    enum qr_err err;
    *out_n = 0;
    while ((err = store_obj_read(&c, out + *out_n, chunk, &got)) == QR_OK && got > 0) {
        *out_n += got;
        if (got < chunk) { /* short only at the end: the next read gives nothing */
            assert_int_equal(store_obj_read(&c, out + *out_n, chunk, &got), QR_OK);
            assert_int_equal(got, 0);
            break;
        }
    }
    store_obj_cursor_close(&c);
    return err;
}

/* The one reader of object bytes: ranges that start, end and cross inside extents of a
 * multipart object spread over three blobs, inline and SSE-S3 objects, clipping at the
 * end; sealed bytes, missing blobs and an inline row read without its data are errors,
 * never wrong bytes. */
static void test_obj_cursor(void **state)
{
    struct fx *f = *state;
    char id[65];
    struct store_mpu_create mc = {.bucket = SL("bkt"), .key = SL("mp"), .headers = SL("h")};
    assert_int_equal(store_mpu_create(f->st, &mc, id), QR_OK);
    const size_t n1 = 5 * MIB, n2 = 5 * MIB + 7, n3 = 1000, total = n1 + n2 + n3;
    uint8_t *whole = pattern(total, 21);
    part_put(f, id, 1, "e1", whole, n1);
    part_put(f, id, 2, "e2", whole + n1, n2);
    part_put(f, id, 3, "e3", whole + n1 + n2, n3);
    const uint32_t nums[] = {1, 2, 3};
    const char *const etags[] = {"e1", "e2", "e3"};
    assert_int_equal(complete(f, id, nums, etags, 3, (struct store_cond){0}), QR_OK);
    struct store_obj o;
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("mp"), true, &f->pool, &o), QR_OK);
    assert_int_equal(o.n_ext, 3);
    uint8_t *buf = malloc(total);
    size_t n;
    static const struct {
        uint64_t off, len;
        size_t chunk;
    } cases[] = {
        {0, UINT64_MAX, 256 * 1024},       /* all of it */
        {0, UINT64_MAX, 4093},             /* odd chunks across both boundaries */
        {5 * MIB - 3, 10, 7},              /* a range across the first boundary */
        {10 * MIB + 7 - 1, 2, 1},          /* one byte each side of the second */
        {5 * MIB, 5 * MIB + 7, 1 << 20},   /* exactly the second extent */
        {10 * MIB + 500, 1 << 20, 64},     /* clipped at the end */
        {10 * MIB + 7 + 1000, 10, 16},     /* at the end: nothing */
        {20 * MIB, 10, 16},                /* beyond it: nothing */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t off = cases[i].off < total ? cases[i].off : total;
        uint64_t want = total - off < cases[i].len ? total - off : cases[i].len;
        assert_int_equal(cursor_read(f, &o, cases[i].off, cases[i].len, cases[i].chunk, buf, &n),
                         QR_OK);
        assert_int_equal(n, want);
        assert_memory_equal(buf, whole + off, n ? n : 0);
    }
    /* an extent list shorter than the object: an error, not a short object */
    struct store_obj cut = o;
    cut.n_ext = 2;
    assert_int_equal(cursor_read(f, &cut, 0, UINT64_MAX, 1 << 20, buf, &n), QR_E_INTERNAL);
    /* a blob gone under the row: QR_E_IO */
    char rel[48], path[600];
    blob_relpath(o.ext[2].blob, false, rel);
    snprintf(path, sizeof(path), "%s/objects/%s", f->dir, rel);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(cursor_read(f, &o, 10 * MIB, UINT64_MAX, 1 << 20, buf, &n), QR_E_IO);
    assert_int_equal(cursor_read(f, &o, 0, 100, 1 << 20, buf, &n), QR_OK); /* others fine */

    /* inline, SSE-S3 in a blob, SSE-C sealed then unsealed */
    struct store_sse s3 = {.mode = STORE_SSE_S3}, c = {.mode = STORE_SSE_C};
    memset(c.key, 0x42, 32);
    unsigned mn = 0;
    assert_int_equal(EVP_Digest(c.key, 32, c.key_md5, &mn, EVP_md5(), NULL), 1);
    assert_int_equal(put(f, SL("small"), whole, 100, "e"), QR_OK);
    assert_int_equal(put_sse(f, SL("enc"), whole, 300000, &s3), QR_OK);
    assert_int_equal(put_sse(f, SL("sealed"), whole, 300000, &c), QR_OK);
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("small"), true, &f->pool, &o), QR_OK);
    assert_int_equal(cursor_read(f, &o, 10, 50, 7, buf, &n), QR_OK);
    assert_int_equal(n, 50);
    assert_memory_equal(buf, whole + 10, 50);
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("small"), false, &f->pool, &o), QR_OK);
    assert_int_equal(cursor_read(f, &o, 0, 10, 7, buf, &n), QR_E_INTERNAL); /* no data read */
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("enc"), true, &f->pool, &o), QR_OK);
    assert_int_equal(cursor_read(f, &o, 1, UINT64_MAX, 65536, buf, &n), QR_OK);
    assert_int_equal(n, 300000 - 1);
    assert_memory_equal(buf, whole + 1, n);
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("sealed"), true, &f->pool, &o), QR_OK);
    assert_int_equal(cursor_read(f, &o, 0, UINT64_MAX, 65536, buf, &n), QR_E_INTERNAL);
    assert_int_equal(n, 0);
    assert_int_equal(store_obj_unseal(&o, c.key), QR_OK);
    assert_int_equal(cursor_read(f, &o, 0, UINT64_MAX, 65536, buf, &n), QR_OK);
    assert_int_equal(n, 300000);
    assert_memory_equal(buf, whole, n);
    free(buf);
    free(whole);
}

/* Encrypted objects read back whole through the store; the blob file does not hold the
 * plaintext; an SSE-C object is sealed until the right key is given. */
/* The object memo of a loop's reader (objmemo.c): within one snapshot a read is served
 * from it (the hit counter moves) and equals what SQLite returns; a copy handed out is the
 * caller's; a commit and store_reader_fresh, or store_reader_idle after a commit, show
 * the new row; SSE-S3 bytes come back decrypted once, SSE-C ones sealed every time; more
 * objects than the arena holds (it starts over) and keys differing only by bucket,
 * version or data/no-data each read right. */
static void test_obj_memo(void **state)
{
    struct fx *f = *state;
    struct store_obj o;
    store_reader_cache(f->r, 2048); /* an event loop's reader: the memo is on */
    assert_int_equal(put(f, SL("k"), "one", 3, "e1"), QR_OK);
    store_reader_fresh(f->r);
    uint64_t h0 = objmemo_hits(f->r);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("k"), true, &f->pool, &o), QR_OK);
        assert_string_equal(o.etag, "e1");
        assert_int_equal(o.inline_data.len, 3);
        assert_memory_equal(o.inline_data.p, "one", 3);
        assert_int_equal(o.key.len, 1);
        o._inline_buf[0] = 'X'; /* the caller's copy: the next read is unchanged */
    }
    assert_int_equal(objmemo_hits(f->r), h0 + 2);
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("k"), false, &f->pool, &o), QR_OK);
    assert_null(o.inline_data.p);
    assert_string_equal(o.etag, "e1");
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("k"), false, &f->pool, &o), QR_OK);
    assert_null(o.inline_data.p);
    assert_int_equal(objmemo_hits(f->r), h0 + 3);

    /* a commit: the held snapshot (and so the memo) still says e1, a fresh one e2 */
    assert_int_equal(put(f, SL("k"), "two!", 4, "e2"), QR_OK);
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("k"), true, &f->pool, &o), QR_OK);
    assert_string_equal(o.etag, "e1");
    store_reader_fresh(f->r);
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("k"), true, &f->pool, &o), QR_OK);
    assert_string_equal(o.etag, "e2");
    assert_memory_equal(o.inline_data.p, "two!", 4);
    /* between passes: kept while nothing commits, given up after a commit */
    store_reader_idle(f->r);
    uint64_t h1 = objmemo_hits(f->r);
    store_reader_fresh(f->r);
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("k"), true, &f->pool, &o), QR_OK);
    assert_int_equal(objmemo_hits(f->r), h1 + 1);
    assert_int_equal(put(f, SL("k"), "three", 5, "e3"), QR_OK);
    store_reader_idle(f->r);
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("k"), true, &f->pool, &o), QR_OK);
    assert_string_equal(o.etag, "e3");
    store_reader_idle(f->r); /* a pass that used nothing gives the snapshot up */
    store_reader_fresh(f->r);
    store_reader_idle(f->r);
    store_reader_idle(f->r);
    assert_int_equal(put(f, SL("k"), "four", 4, "e4"), QR_OK);
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("k"), true, &f->pool, &o), QR_OK);
    assert_string_equal(o.etag, "e4");

    /* a generation that wraps around does not revive slots of long ago: filled at gen 1
     * (this memo's first), the next snapshot after UINT32_MAX must not find them */
    struct store_reader *r2;
    assert_int_equal(store_reader_new(f->st, &r2), QR_OK);
    store_reader_cache(r2, 2048);
    store_reader_fresh(r2);
    assert_int_equal(store_obj_get(r2, SL("bkt"), SL("k"), true, &f->pool, &o), QR_OK);
    assert_string_equal(o.etag, "e4");
    objmemo_debug_gen(r2, UINT32_MAX);
    assert_int_equal(put(f, SL("k"), "five", 4, "e5"), QR_OK);
    store_reader_fresh(r2);
    uint64_t h3 = objmemo_hits(r2);
    assert_int_equal(store_obj_get(r2, SL("bkt"), SL("k"), true, &f->pool, &o), QR_OK);
    assert_string_equal(o.etag, "e5");
    assert_int_equal(objmemo_hits(r2), h3);
    store_reader_free(r2);

    /* same key in another bucket */
    mkbucket(f, "b2", STORE_BUCKET_GENERAL);
    assert_int_equal(put_cond(f, "b2", SL("k"), "other", 5, "o1", (struct store_cond){0}), QR_OK);
    store_reader_fresh(f->r);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(store_obj_get(f->r, SL("b2"), SL("k"), true, &f->pool, &o), QR_OK);
        assert_string_equal(o.etag, "o1");
        assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("k"), true, &f->pool, &o), QR_OK);
        assert_string_equal(o.etag, "e5");
    }

    /* encrypted at rest */
    struct store_sse s3 = {.mode = STORE_SSE_S3}, c = {.mode = STORE_SSE_C};
    memset(c.key, 0x42, 32);
    unsigned mn = 0;
    assert_int_equal(EVP_Digest(c.key, 32, c.key_md5, &mn, EVP_md5(), NULL), 1);
    uint8_t *data = pattern(4096, 3);
    assert_int_equal(put_sse(f, SL("s3"), data, 4096, &s3), QR_OK);
    assert_int_equal(put_sse(f, SL("ssec"), data, 100, &c), QR_OK);
    store_reader_fresh(f->r);
    uint64_t h2 = objmemo_hits(f->r);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("s3"), true, &f->pool, &o), QR_OK);
        assert_memory_equal(o.inline_data.p, data, 4096);
        assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("ssec"), true, &f->pool, &o), QR_OK);
        assert_true(o.sealed);
        assert_int_equal(store_obj_unseal(&o, c.key), QR_OK);
        assert_memory_equal(o.inline_data.p, data, 100);
    }
    assert_int_equal(objmemo_hits(f->r), h2 + 2); /* the SSE-S3 one only */

    /* more than the arena holds (8 MiB): it starts over, every read stays right */
    enum { N = 2200 };
    for (int i = 0; i < N; i++) {
        char k[24];
        snprintf(k, sizeof(k), "many/%04d", i);
        data[0] = (uint8_t)i;
        data[1] = (uint8_t)(i >> 8);
        assert_int_equal(put(f, qr_slice_cstr(k), data, 4096, "m"), QR_OK);
    }
    store_reader_fresh(f->r);
    for (int round = 0; round < 3; round++, h2o_mem_clear_pool(&f->pool))
        for (int i = 0; i < N; i++) {
            char k[24];
            snprintf(k, sizeof(k), "many/%04d", i);
            assert_int_equal(store_obj_get(f->r, SL("bkt"), qr_slice_cstr(k), true, &f->pool, &o),
                             QR_OK);
            assert_int_equal(o.inline_data.len, 4096);
            assert_int_equal(o.inline_data.p[0] | o.inline_data.p[1] << 8, i);
            assert_memory_equal(o.inline_data.p + 2, data + 2, 4094);
            assert_int_equal(o.key.len, strlen(k));
            assert_memory_equal(o.key.p, k, o.key.len);
        }
    free(data);
}

static void test_sse_at_rest(void **state)
{
    struct fx *f = *state;
    struct store_sse s3 = {.mode = STORE_SSE_S3}, c = {.mode = STORE_SSE_C};
    size_t big = 100 * 1024;
    uint8_t *data = pattern(big, 7), wrong[32];
    memset(c.key, 0x42, 32);
    memset(wrong, 0x43, 32);
    unsigned mn = 0;
    assert_int_equal(EVP_Digest(c.key, 32, c.key_md5, &mn, EVP_md5(), NULL), 1);
    assert_int_equal(put_sse(f, SL("small"), data, 100, &s3), QR_OK);
    assert_int_equal(put_sse(f, SL("big"), data, big, &s3), QR_OK);
    assert_obj(f, "bkt", SL("small"), data, 100);
    assert_obj(f, "bkt", SL("big"), data, big);
    struct store_obj o;
    assert_int_equal(store_obj_get(f->r, SL("bkt"), SL("big"), true, &f->pool, &o), QR_OK);
    assert_int_equal(o.sse.mode, STORE_SSE_S3);
    uint8_t *raw = malloc(big);
    int fd;
    assert_int_equal(store_blob_open(f->st, o.ext[0].blob, &fd), QR_OK);
    assert_int_equal(pread(fd, raw, big, 0), (ssize_t)big);
    close(fd);
    assert_memory_not_equal(raw, data, big);
    for (const char *k = "cs"; *k; k++) { /* a blob and an inline SSE-C object */
        struct qr_slice key = qr_slice((const uint8_t *)k, 1);
        size_t n = *k == 'c' ? big : 100;
        assert_int_equal(put_sse(f, key, data, n, &c), QR_OK);
        assert_int_equal(store_obj_get(f->r, SL("bkt"), key, true, &f->pool, &o), QR_OK);
        assert_true(o.sealed);
        assert_int_equal(store_obj_unseal(&o, wrong), QR_E_DENIED);
        assert_int_equal(store_obj_unseal(&o, c.key), QR_OK);
        assert_false(o.sealed);
        if (o.inline_data.p) {
            assert_memory_equal(o.inline_data.p, data, n);
        } else {
            assert_int_equal(store_blob_open(f->st, o.ext[0].blob, &fd), QR_OK);
            assert_int_equal(pread(fd, raw, n, 0), (ssize_t)n);
            close(fd);
            assert_memory_not_equal(raw, data, n);
            store_extent_decrypt(&o.ext[0], 0, raw, n);
            assert_memory_equal(raw, data, n);
        }
    }
    free(raw);
    free(data);
}

/* A data directory from before encryption (no sse columns) opens; its objects read as
 * they were stored; new ones are encrypted. */
static void test_migrate_sse_columns(void **state)
{
    struct fx *f = *state;
    uint8_t *data = pattern(80 * 1024, 3);
    assert_int_equal(put(f, SL("old-small"), data, 10, "e"), QR_OK);
    assert_int_equal(put(f, SL("old-big"), data, 80 * 1024, "e"), QR_OK);
    fx_close(f);
    sql(f->dir, "ALTER TABLE objects DROP COLUMN sse");
    sql(f->dir, "ALTER TABLE blobs DROP COLUMN sse");
    sql(f->dir, "ALTER TABLE uploads DROP COLUMN sse");
    sql(f->dir, "ALTER TABLE buckets DROP COLUMN sse");
    sql(f->dir, "PRAGMA user_version=0");
    fx_open(f);
    assert_int_equal(sql_int(f->dir, "SELECT count(*) FROM pragma_table_info('blobs')"
                                     " WHERE name='sse'"),
                     1);
    assert_obj(f, "bkt", SL("old-small"), data, 10);
    assert_obj(f, "bkt", SL("old-big"), data, 80 * 1024);
    struct store_sse s3 = {.mode = STORE_SSE_S3};
    assert_int_equal(put_sse(f, SL("new"), data, 80 * 1024, &s3), QR_OK);
    assert_obj(f, "bkt", SL("new"), data, 80 * 1024);
    free(data);
}

/* ---- versioning ---- */

/* A versioned put; returns its version id in vid. */
static void vput(struct fx *f, struct qr_slice key, const void *data, size_t n, char vid[40])
{
    struct store_put p = {
        .bucket = SL("vb"), .key = key, .data = qr_slice(data, n), .etag = "e", .headers = SL("h")};
    struct store_put_result res;
    assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
    memcpy(vid, res.version_id, 40);
}

static enum qr_err vdel(struct fx *f, struct qr_slice key, const char *version, bool bypass,
                        struct store_delete_result *res)
{
    struct store_delete d = {.bucket = SL("vb"),
                             .key = key,
                             .version = version ? qr_slice_cstr(version) : qr_slice(NULL, 0),
                             .bypass_governance = bypass};
    return store_obj_delete_v(f->st, &d, res);
}

/* The listing of every version of vb, as "key@vid[*][M]" strings in order. */
static size_t vlist(struct fx *f, struct store_list_entry *out, size_t max)
{
    struct store_list_opts o = {.max = max, .versions = true};
    struct store_list_result r;
    assert_int_equal(store_list(f->r, SL("vb"), &o, &f->pool, &r), QR_OK);
    memcpy(out, r.e, r.n * sizeof(*out));
    return r.n;
}

static void test_versions_order_and_markers(void **state)
{
    struct fx *f = *state;
    mkbucket(f, "vb", STORE_BUCKET_GENERAL);
    char v[4][40];
    size_t big = 200 * 1024;
    uint8_t *a = pattern(big, 1), *b = pattern(big, 2);
    /* before versioning: the null version, no id */
    vput(f, SL("k"), a, big, v[0]);
    assert_string_equal(v[0], "");
    assert_int_equal(store_bucket_set_versioning(f->st, SL("vb"), STORE_VERS_ENABLED), QR_OK);
    vput(f, SL("k"), b, big, v[1]);
    vput(f, SL("k"), "small", 5, v[2]);
    assert_int_equal(strlen(v[1]), STORE_VERSION_ID_LEN);
    assert_string_not_equal(v[1], v[2]);
    assert_int_equal(count_blob_files(f), 2); /* both blob versions kept */
    struct store_list_entry e[8];
    assert_int_equal(vlist(f, e, 8), 3);
    assert_string_equal(e[0].version_id, v[2]); /* newest first */
    assert_true(e[0].is_latest);
    assert_string_equal(e[1].version_id, v[1]);
    assert_string_equal(e[2].version_id, "null");
    assert_false(e[1].is_latest || e[2].is_latest);
    /* resume inside the key after a version id */
    struct store_list_opts o = {
        .max = 8, .versions = true, .after = SL("k"), .after_version = qr_slice_cstr(v[2])};
    struct store_list_result r;
    assert_int_equal(store_list(f->r, SL("vb"), &o, &f->pool, &r), QR_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.e[0].version_id, v[1]);
    /* a delete marker hides the key, keeps the versions */
    struct store_delete_result dr;
    assert_int_equal(vdel(f, SL("k"), NULL, false, &dr), QR_OK);
    assert_true(dr.marker);
    struct store_obj ob;
    assert_int_equal(store_obj_get(f->r, SL("vb"), SL("k"), false, &f->pool, &ob),
                     QR_E_NO_SUCH_KEY);
    assert_true(ob.is_marker);
    assert_string_equal(ob.version_id, dr.version_id);
    struct store_list_opts lo = {.max = 10};
    assert_int_equal(store_list(f->r, SL("vb"), &lo, &f->pool, &r), QR_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(
        store_obj_get_v(f->r, SL("vb"), SL("k"), qr_slice_cstr(v[1]), false, &f->pool, &ob), QR_OK);
    assert_int_equal(ob.size, big);
    /* a version id that names nothing changes nothing */
    assert_int_equal(vdel(f, SL("k"), "0123456789abcdef0123456789abcdef", false, &dr), QR_OK);
    assert_int_equal(dr.version_id[0], '\0');
    assert_int_equal(vlist(f, e, 8), 4);
    /* deleting the marker by id makes the newest version current again */
    char marker[40];
    memcpy(marker, e[0].version_id, 40);
    assert_int_equal(vdel(f, SL("k"), marker, false, &dr), QR_OK);
    assert_true(dr.marker);
    assert_int_equal(store_obj_get(f->r, SL("vb"), SL("k"), false, &f->pool, &ob), QR_OK);
    assert_string_equal(ob.version_id, v[2]);
    /* deleting a version frees its blob; the others stay */
    assert_int_equal(vdel(f, SL("k"), v[1], false, &dr), QR_OK);
    assert_int_equal(count_blob_files(f), 1);
    assert_obj(f, "vb", SL("k"), "small", 5);
    assert_int_equal(vdel(f, SL("k"), "null", false, &dr), QR_OK);
    assert_int_equal(count_blob_files(f), 0);
    free(a);
    free(b);
}

static void test_versions_suspended_and_copies(void **state)
{
    struct fx *f = *state;
    mkbucket(f, "vb", STORE_BUCKET_GENERAL);
    assert_int_equal(store_bucket_set_versioning(f->st, SL("vb"), STORE_VERS_ENABLED), QR_OK);
    size_t big = 150 * 1024;
    uint8_t *a = pattern(big, 3);
    char v1[40], n1[40], n2[40];
    vput(f, SL("k"), a, big, v1);
    /* a copy of a version shares its blob: deleting the source version keeps the copy */
    struct store_copy cp = {.src_bucket = SL("vb"),
                            .src_key = SL("k"),
                            .src_version = qr_slice_cstr(v1),
                            .dst_bucket = SL("vb"),
                            .dst_key = SL("c")};
    struct store_put_result res;
    assert_int_equal(store_obj_copy(f->st, &cp, &res), QR_OK);
    assert_int_equal(strlen(res.version_id), STORE_VERSION_ID_LEN);
    assert_int_equal(count_blob_files(f), 1);
    assert_int_equal(store_bucket_set_versioning(f->st, SL("vb"), STORE_VERS_SUSPENDED), QR_OK);
    vput(f, SL("k"), a, big, n1);
    assert_string_equal(n1, "null");
    assert_int_equal(count_blob_files(f), 2);
    vput(f, SL("k"), "x", 1, n2); /* replaces the null version and frees its blob */
    assert_int_equal(count_blob_files(f), 1);
    struct store_delete_result dr;
    assert_int_equal(vdel(f, SL("k"), NULL, false, &dr), QR_OK);
    assert_true(dr.marker);
    assert_string_equal(dr.version_id, "null");
    struct store_list_entry e[8];
    assert_int_equal(vlist(f, e, 8), 3); /* c, k@null marker, k@v1 */
    assert_true(e[1].is_marker && e[1].is_latest);
    assert_string_equal(e[2].version_id, v1);
    assert_int_equal(vdel(f, SL("k"), v1, false, &dr), QR_OK);
    assert_int_equal(count_blob_files(f), 1); /* the copy still holds it */
    assert_obj(f, "vb", SL("c"), a, big);
    assert_int_equal(store_bucket_set_versioning(f->st, SL("vb"), STORE_VERS_OFF), QR_E_BAD_INPUT);
    free(a);
}

/* Versions are encrypted like the one row of a never-versioned key: each version keeps
 * its own envelope (inline ones their sealed bytes, never the plaintext), a copy of an
 * encrypted version shares its blob and key, and deleting versions frees the blob only
 * with its last reference. */
static void test_versions_sse(void **state)
{
    struct fx *f = *state;
    mkbucket(f, "vb", STORE_BUCKET_GENERAL);
    assert_int_equal(store_bucket_set_versioning(f->st, SL("vb"), STORE_VERS_ENABLED), QR_OK);
    size_t big = 120 * 1024;
    uint8_t *a = pattern(big, 5), *b = pattern(big, 6);
    struct store_sse s3 = {.mode = STORE_SSE_S3}, c = {.mode = STORE_SSE_C};
    memset(c.key, 0x42, 32);
    unsigned mn = 0;
    assert_int_equal(EVP_Digest(c.key, 32, c.key_md5, &mn, EVP_md5(), NULL), 1);
    const struct {
        const uint8_t *data;
        size_t n;
        const struct store_sse *sse;
    } puts_[] = {{a, big, &s3}, {b, 100, &s3}, {b, big, &c}};
    char vid[3][40];
    for (size_t i = 0; i < 3; i++) {
        struct store_put p = {.bucket = SL("vb"),
                              .key = SL("k"),
                              .data = qr_slice(puts_[i].data, puts_[i].n),
                              .etag = "e",
                              .headers = SL("h"),
                              .sse = *puts_[i].sse};
        struct store_put_result res;
        assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
        memcpy(vid[i], res.version_id, 40);
    }
    assert_int_equal(count_blob_files(f), 2);
    /* no row holds the inline version's plaintext */
    char q[160], hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
    snprintf(q, sizeof(q), "SELECT count(*) FROM objects WHERE instr(data, X'%s') > 0", hex);
    assert_int_equal(sql_int(f->dir, q), 0);
    assert_int_equal(sql_int(f->dir, "SELECT count(*) FROM objects WHERE sse IS NULL"), 0);
    for (size_t i = 0; i < 3; i++) {
        struct store_obj o;
        assert_int_equal(store_obj_get_v(f->r, SL("vb"), SL("k"), qr_slice_cstr(vid[i]), false,
                                         &f->pool, &o),
                         QR_OK);
        assert_int_equal(o.sse.mode, puts_[i].sse->mode);
        size_t n;
        uint8_t *got = read_obj_v(f, "vb", SL("k"), qr_slice_cstr(vid[i]),
                                  puts_[i].sse == &c ? c.key : NULL, &n);
        assert_int_equal(n, puts_[i].n);
        assert_memory_equal(got, puts_[i].data, n);
        free(got);
    }
    /* a copy of the first (SSE-S3) version shares its encrypted blob */
    struct store_copy cp = {.src_bucket = SL("vb"),
                            .src_key = SL("k"),
                            .src_version = qr_slice_cstr(vid[0]),
                            .dst_bucket = SL("vb"),
                            .dst_key = SL("copy")};
    struct store_put_result res;
    assert_int_equal(store_obj_copy(f->st, &cp, &res), QR_OK);
    assert_int_equal(count_blob_files(f), 2);
    assert_int_equal(head_in(f, "vb", SL("copy")).sse.mode, STORE_SSE_S3);
    assert_obj(f, "vb", SL("copy"), a, big);
    struct store_delete_result dr;
    assert_int_equal(vdel(f, SL("k"), vid[0], false, &dr), QR_OK);
    assert_int_equal(count_blob_files(f), 2); /* the copy still holds it */
    assert_obj(f, "vb", SL("copy"), a, big);
    assert_int_equal(vdel(f, SL("copy"), res.version_id, false, &dr), QR_OK);
    assert_int_equal(count_blob_files(f), 1);
    assert_int_equal(vdel(f, SL("k"), vid[2], false, &dr), QR_OK); /* the SSE-C blob */
    assert_int_equal(count_blob_files(f), 0);
    assert_obj(f, "vb", SL("k"), b, 100); /* the inline version is current again */
    free(a);
    free(b);
}

static void test_versions_lock(void **state)
{
    struct fx *f = *state;
    struct store_bucket b = {.name = "vb", .type = STORE_BUCKET_GENERAL, .lock_enabled = true};
    assert_int_equal(store_bucket_create(f->st, &b), QR_OK);
    assert_int_equal(store_bucket_set_versioning(f->st, SL("vb"), STORE_VERS_SUSPENDED),
                     QR_E_CONFLICT);
    int64_t later = store_now_ms() + 86400000;
    struct store_put p = {.bucket = SL("vb"),
                          .key = SL("c"),
                          .data = SL("c"),
                          .etag = "e",
                          .headers = SL("h"),
                          .lock = {.mode = STORE_LOCK_COMPLIANCE, .until_ms = later}};
    struct store_put_result res;
    assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
    char c[40];
    memcpy(c, res.version_id, 40);
    struct store_delete_result dr;
    assert_int_equal(vdel(f, SL("c"), c, true, &dr), QR_E_DENIED);
    assert_int_equal(store_obj_set_retention(f->st, SL("vb"), SL("c"), qr_slice_cstr(c),
                                             STORE_LOCK_GOVERNANCE, later, true),
                     QR_E_DENIED);
    assert_int_equal(store_obj_set_retention(f->st, SL("vb"), SL("c"), qr_slice_cstr(c),
                                             STORE_LOCK_COMPLIANCE, later + 1000, false),
                     QR_OK);
    /* governance: bypass deletes; a legal hold stops even that */
    p.key = SL("g");
    p.lock = (struct store_lock){.mode = STORE_LOCK_GOVERNANCE, .until_ms = later};
    assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
    char g[40];
    memcpy(g, res.version_id, 40);
    assert_int_equal(vdel(f, SL("g"), g, false, &dr), QR_E_DENIED);
    assert_int_equal(store_obj_set_legal_hold(f->st, SL("vb"), SL("g"), qr_slice_cstr(g), true),
                     QR_OK);
    assert_int_equal(vdel(f, SL("g"), g, true, &dr), QR_E_DENIED);
    assert_int_equal(store_obj_set_legal_hold(f->st, SL("vb"), SL("g"), qr_slice_cstr(g), false),
                     QR_OK);
    assert_int_equal(vdel(f, SL("g"), g, true, &dr), QR_OK);
    /* default retention applies to new versions */
    assert_int_equal(store_bucket_set_lock(f->st, SL("vb"), STORE_LOCK_GOVERNANCE, 2, 0), QR_OK);
    p.key = SL("d");
    p.lock = (struct store_lock){0};
    assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
    struct store_obj o;
    assert_int_equal(store_obj_get(f->r, SL("vb"), SL("d"), false, &f->pool, &o), QR_OK);
    assert_int_equal(o.lock.mode, STORE_LOCK_GOVERNANCE);
    assert_true(o.lock.until_ms >= o.mtime_ms + 2 * 86400000LL);
    /* survives a reopen */
    fx_close(f);
    fx_open(f);
    assert_int_equal(vdel(f, SL("c"), c, true, &dr), QR_E_DENIED);
}

/* ListObjects pages over keys whose current version is a delete marker: each live key
 * once, in order, however the markers fall against the page size. */
static void test_versions_list_skips_markers(void **state)
{
    struct fx *f = *state;
    mkbucket(f, "vb", STORE_BUCKET_GENERAL);
    assert_int_equal(store_bucket_set_versioning(f->st, SL("vb"), STORE_VERS_ENABLED), QR_OK);
    const char *keys = "abcdefghijklmnop";
    const char *dead = "bdeijkl";
    char vid[40];
    for (const char *k = keys; *k; k++)
        vput(f, qr_slice(k, 1), "x", 1, vid);
    struct store_delete_result dr;
    for (const char *k = dead; *k; k++)
        assert_int_equal(vdel(f, qr_slice(k, 1), NULL, false, &dr), QR_OK);
    for (size_t max = 1; max <= 5; max++) {
        char got[32] = "";
        size_t n = 0;
        struct qr_slice after = {0};
        for (;;) {
            struct store_list_opts o = {.max = max, .after = after};
            struct store_list_result r;
            assert_int_equal(store_list(f->r, SL("vb"), &o, &f->pool, &r), QR_OK);
            for (size_t i = 0; i < r.n; i++)
                got[n++] = (char)r.e[i].key.p[0];
            if (!r.truncated)
                break;
            after = r.e[r.n - 1].key;
        }
        got[n] = '\0';
        assert_string_equal(got, "acfghmnop");
    }
}

/* A data dir from before versioning: the columns, index and schema version are added on
 * open, and its objects are the current null versions. */
static void test_migrate_versioning(void **state)
{
    struct fx *f = *state;
    assert_int_equal(put(f, SL("old"), "bytes", 5, "e"), QR_OK);
    fx_close(f);
    sql(f->dir, "DROP INDEX objects_latest");
    static const char *const cols[] = {"objects.latest",       "objects.marker",
                                       "objects.lock_mode",    "objects.lock_until_ms",
                                       "objects.legal_hold",   "buckets.versioning",
                                       "buckets.lock_enabled", "buckets.lock_mode",
                                       "buckets.lock_days",    "buckets.lock_years",
                                       "uploads.lock_mode",    "uploads.lock_until_ms",
                                       "uploads.legal_hold",   "completed_uploads.version_id"};
    for (size_t i = 0; i < sizeof(cols) / sizeof(*cols); i++) {
        char q[128];
        const char *dot = strchr(cols[i], '.');
        snprintf(q, sizeof(q), "ALTER TABLE %.*s DROP COLUMN %s", (int)(dot - cols[i]), cols[i],
                 dot + 1);
        sql(f->dir, q);
    }
    sql(f->dir, "PRAGMA user_version=5"); /* what a directory with encryption says */
    fx_open(f);
    assert_int_equal(sql_int(f->dir, "SELECT count(*) FROM sqlite_master"
                                     " WHERE type='index' AND name='objects_latest'"),
                     1);
    assert_int_equal(sql_int(f->dir, "PRAGMA user_version"), 21);
    assert_obj(f, "bkt", SL("old"), "bytes", 5);
    struct store_bucket b;
    assert_int_equal(store_bucket_get(f->r, SL("bkt"), &b), QR_OK);
    assert_int_equal(b.versioning, STORE_VERS_OFF);
    assert_int_equal(store_bucket_set_versioning(f->st, SL("bkt"), STORE_VERS_ENABLED), QR_OK);
    struct store_put p = {
        .bucket = SL("bkt"), .key = SL("old"), .data = SL("new"), .etag = "e", .headers = SL("h")};
    struct store_put_result res;
    assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
    assert_obj(f, "bkt", SL("old"), "new", 3);
    struct store_obj o;
    assert_int_equal(store_obj_get_v(f->r, SL("bkt"), SL("old"), SL("null"), true, &f->pool, &o),
                     QR_OK);
    assert_int_equal(o.size, 5);
}

/* ---- group commit ---- */

#define GC_THREADS 16
#define GC_PUTS    10000

struct gc_arg {
    struct fx *f;
    unsigned t;
    const uint8_t *body;
    int fails;
};

static void *gc_worker(void *p)
{
    struct gc_arg *a = p;
    for (unsigned i = a->t; i < GC_PUTS; i += GC_THREADS) {
        char key[32];
        int n = snprintf(key, sizeof(key), "gc/%05u", i);
        if (put(a->f, qr_slice(key, (size_t)n), a->body, 4096, "e") != QR_OK)
            a->fails++;
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    struct fx *f = *state;
    pthread_t th[GC_THREADS];
    struct gc_arg args[GC_THREADS];
    uint8_t *body = pattern(4096, 30);
    uint64_t c0 = store_debug_commits(f->st), n0 = store_debug_changes(f->st);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned t = 0; t < GC_THREADS; t++) {
        args[t] = (struct gc_arg){.f = f, .t = t, .body = body};
        assert_int_equal(pthread_create(&th[t], NULL, gc_worker, &args[t]), 0);
    }
    for (unsigned t = 0; t < GC_THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].fails, 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    uint64_t commits = store_debug_commits(f->st) - c0;
    uint64_t changes = store_debug_changes(f->st) - n0;
    printf("group commit: %d inline 4 KiB puts from %d threads in %.3f s (%.0f puts/s), "
           "%llu commits (%.1f puts per commit)\n",
           GC_PUTS, GC_THREADS, secs, GC_PUTS / secs, (unsigned long long)commits,
           (double)changes / (double)(commits ? commits : 1));
    assert_int_equal(changes, GC_PUTS);
    assert_true(commits < GC_PUTS / 2); /* fsyncs were shared */
    assert_int_equal(count_blob_files(f), 0);

    /* all there, in order */
    struct qr_slice after = SL("");
    size_t total = 0;
    struct store_list_result res;
    do {
        struct store_list_opts o = {.prefix = SL("gc/"), .after = after, .max = 1000};
        assert_int_equal(store_list(f->r, SL("bkt"), &o, &f->pool, &res), QR_OK);
        for (size_t i = 0; i < res.n; i++) {
            char want[32];
            int n = snprintf(want, sizeof(want), "gc/%05zu", total + i);
            assert_true(qr_slice_eq(res.e[i].key, qr_slice(want, (size_t)n)));
        }
        total += res.n;
        after = res.e[res.n - 1].key;
    } while (res.truncated);
    assert_int_equal(total, GC_PUTS);
    free(body);
}

/* The writer's WAL writes are gathered into one write per commit (walbuf.c): whatever a
 * commit's size (a few frames, several 124 KiB pieces, past the 1 MiB buffer), another
 * connection reads every acknowledged put at once, with fsync and without (then the
 * commit's publication in the shared index is what writes the frames), and all of it is
 * there after a reopen. */
#define WB_THREADS 24 /* 24 rows of 60 KiB waiting together: a commit past 1 MiB */
#define WB_PUTS    48 /* per thread */

struct wb_arg {
    struct fx *f;
    unsigned t;
    int fails;
};

static void *wb_worker(void *p)
{
    struct wb_arg *a = p;
    struct store_reader *r;
    h2o_mem_pool_t pool;
    if (store_reader_new(a->f->st, &r) != QR_OK) {
        a->fails++;
        return NULL;
    }
    h2o_mem_init_pool(&pool);
    for (unsigned i = 0; i < WB_PUTS; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "wb/%u/%03u", a->t, i);
        size_t len = (i % 3 == 0) ? 60 * 1024 : (i % 3 == 1) ? 300 : 5000;
        uint8_t *body = pattern(len, a->t * 1000 + i);
        struct store_obj o;
        if (put(a->f, qr_slice(key, (size_t)n), body, len, "e") != QR_OK ||
            store_obj_get(r, SL("bkt"), qr_slice(key, (size_t)n), true, &pool, &o) != QR_OK ||
            o.size != len || o.inline_data.p == NULL || memcmp(o.inline_data.p, body, len) != 0)
            a->fails++;
        h2o_mem_clear_pool(&pool);
        free(body);
    }
    store_reader_free(r);
    return NULL;
}

static void wal_gathered(struct fx *f)
{
    pthread_t th[WB_THREADS];
    struct wb_arg args[WB_THREADS];
    for (unsigned t = 0; t < WB_THREADS; t++) {
        args[t] = (struct wb_arg){.f = f, .t = t};
        assert_int_equal(pthread_create(&th[t], NULL, wb_worker, &args[t]), 0);
    }
    for (unsigned t = 0; t < WB_THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].fails, 0);
    }
    fx_close(f);
    fx_open(f);
    for (unsigned t = 0; t < WB_THREADS; t++)
        for (unsigned i = 0; i < WB_PUTS; i++) {
            char key[32];
            int n = snprintf(key, sizeof(key), "wb/%u/%03u", t, i);
            size_t len = (i % 3 == 0) ? 60 * 1024 : (i % 3 == 1) ? 300 : 5000;
            uint8_t *body = pattern(len, t * 1000 + i);
            assert_obj(f, "bkt", qr_slice(key, (size_t)n), body, len);
            free(body);
        }
}

static void test_wal_gathered(void **state)
{
    wal_gathered(*state); /* fsync on: each commit's sync writes its frames */
}

static void test_wal_gathered_no_fsync(void **state)
{
    struct fx *f = fx_new("/tmp/qr-store-XXXXXX", true);
    struct store_bucket b = {.name = "bkt", .type = STORE_BUCKET_GENERAL, .region = "us-east-1"};
    assert_int_equal(store_bucket_create(f->st, &b), QR_OK);
    wal_gathered(f); /* no sync: the index publication writes them */
    void *st = f;
    fx_teardown(&st);
}

/* A blob written as a body arrives: adopted by a put it becomes the object (no second
 * file); aborted, or left uncommitted by a crash, it leaves no file behind; a put that
 * fails (no such bucket) discards the blob it was handed. */
static void test_blob_stream(void **state)
{
    struct fx *f = *state;
    uint8_t *big = pattern(300000, 30);
    struct store_blob_stream *w;
    assert_int_equal(store_blob_stream_open(f->st, NULL, &w), QR_OK);
    for (size_t off = 0; off < 300000; off += 100000)
        assert_int_equal(store_blob_stream_write(w, big + off, 100000), QR_OK);
    assert_int_equal(store_blob_stream_commit(w), QR_OK);
    uint64_t id = store_blob_stream_id(w);
    assert_true(blob_file_exists(f, id, false));
    struct store_put p = {.bucket = SL("bkt"), .key = SL("s"), .data = qr_slice(big, 300000),
                          .etag = "e", .headers = SL("h"), .has_blob = true, .blob = w};
    struct store_put_result res;
    assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
    store_blob_stream_release(w);
    assert_obj(f, "bkt", SL("s"), big, 300000);
    assert_int_equal(first_blob(f, SL("s")), id);
    assert_int_equal(count_blob_files(f), 1);

    /* aborted before and after its commit */
    assert_int_equal(store_blob_stream_open(f->st, NULL, &w), QR_OK);
    assert_int_equal(store_blob_stream_write(w, big, 1000), QR_OK);
    store_blob_stream_abort(w);
    assert_int_equal(store_blob_stream_open(f->st, NULL, &w), QR_OK);
    assert_int_equal(store_blob_stream_write(w, big, 1000), QR_OK);
    assert_int_equal(store_blob_stream_commit(w), QR_OK);
    store_blob_stream_abort(w);
    assert_int_equal(count_blob_files(f), 1);

    /* handed to a put that fails: discarded */
    assert_int_equal(store_blob_stream_open(f->st, NULL, &w), QR_OK);
    assert_int_equal(store_blob_stream_write(w, big, 70000), QR_OK);
    assert_int_equal(store_blob_stream_commit(w), QR_OK);
    p.bucket = SL("nobucket");
    p.data = qr_slice(big, 70000);
    p.blob = w;
    assert_int_equal(store_obj_put(f->st, &p, &res), QR_E_NO_SUCH_BUCKET);
    store_blob_stream_release(w);
    assert_int_equal(count_blob_files(f), 1);

    /* a crash while writing (temp file) and after the commit, before any row */
    struct store_blob_stream *w1, *w2;
    assert_int_equal(store_blob_stream_open(f->st, NULL, &w1), QR_OK);
    assert_int_equal(store_blob_stream_write(w1, big, 70000), QR_OK);
    assert_int_equal(store_blob_stream_open(f->st, NULL, &w2), QR_OK);
    assert_int_equal(store_blob_stream_write(w2, big, 70000), QR_OK);
    assert_int_equal(store_blob_stream_commit(w2), QR_OK);
    uint64_t id1 = store_blob_stream_id(w1), id2 = store_blob_stream_id(w2);
    assert_true(blob_file_exists(f, id1, true));
    assert_true(blob_file_exists(f, id2, false));
    fx_close(f);
    store_blob_stream_release(w1); /* the process is gone: nobody aborts them */
    store_blob_stream_release(w2);
    fx_open(f);
    assert_false(blob_file_exists(f, id1, true));
    assert_false(blob_file_exists(f, id2, false));
    assert_int_equal(count_blob_files(f), 1);
    assert_obj(f, "bkt", SL("s"), big, 300000);
    free(big);
}

/* A streamed blob written under SSE-S3 and SSE-C: ciphertext in the file across pieces
 * of uneven sizes, plaintext back through store_blob_stream_read at an odd offset, and
 * the adopting put records its envelope, so the object reads back (SSE-C once unsealed). */
static void test_blob_stream_sse(void **state)
{
    struct fx *f = *state;
    enum { N = 300007 };
    uint8_t *data = pattern(N, 41), *raw = malloc(N);
    struct store_sse s3 = {.mode = STORE_SSE_S3}, c = {.mode = STORE_SSE_C};
    memset(c.key, 0x5a, 32);
    unsigned mn = 0;
    assert_int_equal(EVP_Digest(c.key, 32, c.key_md5, &mn, EVP_md5(), NULL), 1);
    const struct store_sse *modes[] = {&s3, &c};
    for (size_t m = 0; m < 2; m++) {
        struct store_blob_stream *w;
        assert_int_equal(store_blob_stream_open(f->st, modes[m], &w), QR_OK);
        for (size_t off = 0, k = 1; off < N; off += k, k = k * 7 + 13)
            assert_int_equal(store_blob_stream_write(w, data + off, off + k > N ? N - off : k),
                             QR_OK);
        assert_int_equal(store_blob_stream_commit(w), QR_OK);
        int fd;
        assert_int_equal(store_blob_open(f->st, store_blob_stream_id(w), &fd), QR_OK);
        assert_int_equal(pread(fd, raw, N, 0), (ssize_t)N);
        close(fd);
        assert_memory_not_equal(raw, data, N);
        assert_int_equal(store_blob_stream_read(w, 65537, raw, 1000), QR_OK);
        assert_memory_equal(raw, data + 65537, 1000);
        struct qr_slice key = m ? SL("c") : SL("s3");
        struct store_put p = {.bucket = SL("bkt"), .key = key, .data = qr_slice(data, N),
                              .etag = "e", .headers = SL("h"), .has_blob = true, .blob = w,
                              .sse = *modes[m]};
        struct store_put_result res;
        assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
        store_blob_stream_release(w);
        struct store_obj o;
        assert_int_equal(store_obj_get(f->r, SL("bkt"), key, true, &f->pool, &o), QR_OK);
        assert_int_equal(o.sse.mode, modes[m]->mode);
        if (m == 1) {
            assert_true(o.sealed);
            assert_int_equal(store_obj_unseal(&o, c.key), QR_OK);
        }
        assert_int_equal(store_blob_open(f->st, o.ext[0].blob, &fd), QR_OK);
        assert_int_equal(pread(fd, raw, N - 3, 3), (ssize_t)(N - 3));
        close(fd);
        store_extent_decrypt(&o.ext[0], 3, raw, N - 3);
        assert_memory_equal(raw, data + 3, N - 3);
    }
    free(raw);
    free(data);
}

/* Ciphertext of n bytes under AES-256-CTR from counter iv, computed here with EVP
 * directly rather than through crypt.c. */
static void ctr_ref(const uint8_t key[32], const uint8_t iv[16], const uint8_t *in, uint8_t *out,
                    size_t n)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0;
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_ctr(), NULL, key, iv), 1);
    assert_int_equal(EVP_EncryptUpdate(c, out, &len, in, (int)n), 1);
    EVP_CIPHER_CTX_free(c);
}

/* crypt_ctr is AES-256-CTR as OpenSSL computes it (blobs written before the bulk cipher
 * moved to libgcrypt read the same), also where the 128-bit counter carries across
 * 32- and 64-bit words and wraps, from any offset, in place and out of place. */
static void test_ctr_matches_openssl(void **state)
{
    (void)state;
    enum { N = 4096 };
    static const uint8_t ivs[][16] = {
        {0},
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xf0},
        {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0},
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0},
        {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8},
    };
    static const size_t cuts[][2] = {{0, N}, {1, 15}, {15, 2}, {33, 1000}, {255, 3000}, {4095, 1}};
    uint8_t key[32], *plain = pattern(N, 44), want[N], got[N], out[N];
    for (size_t i = 0; i < 32; i++)
        key[i] = (uint8_t)(i * 13 + 1);
    for (size_t v = 0; v < sizeof(ivs) / sizeof(ivs[0]); v++) {
        ctr_ref(key, ivs[v], plain, want, N);
        for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
            size_t off = cuts[c][0], n = cuts[c][1];
            memcpy(got, plain + off, n);
            crypt_ctr(key, ivs[v], off, got, n);
            assert_memory_equal(got, want + off, n);
            crypt_ctr_to(key, ivs[v], off, out, want + off, n);
            assert_memory_equal(out, plain + off, n);
        }
    }
    free(plain);
}

/* Bodies and pieces larger than the store's scratch buffer, in sizes that split AES
 * blocks: the file holds exactly AES-256-CTR of the plaintext from the envelope's
 * counter (checked against EVP, SSE-C so the key is known), and the caller's plaintext
 * is left as it was. */
static void test_sse_pieces_span_scratch(void **state)
{
    struct fx *f = *state;
    enum { N = 2 * MIB + 12345 };
    uint8_t *data = pattern(N, 43), *copy = malloc(N), *raw = malloc(N), *want = malloc(N);
    memcpy(copy, data, N);
    struct store_sse c = {.mode = STORE_SSE_C};
    memset(c.key, 0x6b, 32);
    unsigned mn = 0;
    assert_int_equal(EVP_Digest(c.key, 32, c.key_md5, &mn, EVP_md5(), NULL), 1);
    static const size_t pieces[] = {3, 700001, 262144, 262145, N - 3 - 700001 - 262144 - 262145};
    for (int streamed = 0; streamed < 2; streamed++) {
        struct qr_slice key = streamed ? SL("streamed") : SL("whole");
        struct store_put p = {.bucket = SL("bkt"), .key = key, .data = qr_slice(data, N),
                              .etag = "e", .headers = SL("h"), .sse = c};
        struct store_blob_stream *w = NULL;
        if (streamed) {
            assert_int_equal(store_blob_stream_open(f->st, &c, &w), QR_OK);
            size_t off = 0;
            for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); off += pieces[i++])
                assert_int_equal(store_blob_stream_write(w, data + off, pieces[i]), QR_OK);
            assert_int_equal(off, N);
            assert_int_equal(store_blob_stream_commit(w), QR_OK);
            p.has_blob = true;
            p.blob = w;
        }
        struct store_put_result res;
        assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
        if (w != NULL)
            store_blob_stream_release(w);
        assert_memory_equal(data, copy, N);
        struct store_obj o;
        assert_int_equal(store_obj_get(f->r, SL("bkt"), key, true, &f->pool, &o), QR_OK);
        assert_int_equal(store_obj_unseal(&o, c.key), QR_OK);
        assert_int_equal(o.n_ext, 1);
        int fd;
        assert_int_equal(store_blob_open(f->st, o.ext[0].blob, &fd), QR_OK);
        assert_int_equal(pread(fd, raw, N, 0), (ssize_t)N);
        close(fd);
        ctr_ref(c.key, o.ext[0].iv, data, want, N);
        assert_memory_equal(raw, want, N);
        store_extent_decrypt(&o.ext[0], 0, raw, N);
        assert_memory_equal(raw, data, N);
    }
    free(data);
    free(copy);
    free(raw);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_buckets, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_put_get, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reader_fresh, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bucket_memo, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_obj_memo, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_overwrite_frees, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_copy_shares, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_by_rowid, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_path_keys, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_multipart, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_obj_cursor, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_conditions, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_gc_recovery, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_part_sizes, setup, fx_teardown),
        cmocka_unit_test(test_crypt),
        cmocka_unit_test_setup_teardown(test_sse_at_rest, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_sse_columns, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_versions_order_and_markers, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_versions_suspended_and_copies, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_versions_sse, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_versions_lock, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_versions_list_skips_markers, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_versioning, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_wal_gathered, setup, fx_teardown),
        cmocka_unit_test(test_wal_gathered_no_fsync),
        cmocka_unit_test_setup_teardown(test_blob_stream, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_blob_stream_sse, setup, fx_teardown),
        cmocka_unit_test(test_ctr_matches_openssl),
        cmocka_unit_test_setup_teardown(test_sse_pieces_span_scratch, setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
