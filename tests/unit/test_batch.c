/*
 * test_batch.c - batch/: the CSV manifest line parser (a table of AWS's examples and the
 * boundary cases), the streaming reader of a pinned manifest (inline and blob-backed,
 * resumed from byte offsets, CRLF, overlong lines), and the store's job rows: a copy
 * task's effect and its result row commit together, a missing source fails the task
 * alone, the cursor refuses a stale window, the pin survives an overwrite; the inventory
 * parsers (manifest.json, gzip lines over moving chunk boundaries) and the spool that pins
 * an expanded task list (chunks, a second pin dropped, blobs freed at unpin) and the
 * holds on data files read at preparation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <zlib.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch/batch_int.h"
#include "store/store.h"
#include "store/store_int.h" /* store_debug_sync */
#include "store/store_job.h"

static const enum batch_field BK[] = {BATCH_F_BUCKET, BATCH_F_KEY};
static const enum batch_field BKV[] = {BATCH_F_BUCKET, BATCH_F_KEY, BATCH_F_VERSION};
static const enum batch_field IBK[] = {BATCH_F_IGNORE, BATCH_F_BUCKET, BATCH_F_KEY};

static const struct {
    const char *line;
    const enum batch_field *fields;
    size_t n_fields;
    bool ok;
    const char *bucket, *key, *version; /* expected when ok */
    size_t key_len;                     /* expected decoded length when ok */
} csv_cases[] = {
    /* AWS's examples (reference 6) */
    {"amzn-bucket,photos/2024/cat%20one.jpg", BK, 2, true, "amzn-bucket", "photos/2024/cat one.jpg",
     "", 23},
    {"my-bucket,dir/dog.jpg,3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", BKV, 3, true, "my-bucket",
     "dir/dog.jpg", "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", 11},
    /* '+' is a space; %2B a plus; unicode escapes */
    {"bkt,a+b%2Bc", BK, 2, true, "bkt", "a b+c", "", 5},
    {"bkt,%E6%97%A5", BK, 2, true, "bkt", "\xe6\x97\xa5", "", 3},
    {"bkt,%25%23%2C", BK, 2, true, "bkt", "%#,", "", 3},
    /* quoted fields, "" for a quote */
    {"\"bkt\",\"a%22b\"", BK, 2, true, "bkt", "a\"b", "", 3},
    {"\"bkt\",\"x\"\"y\"", BK, 2, true, "bkt", "x\"y", "", 3},
    {"7,bkt,k", IBK, 3, true, "bkt", "k", "", 1},
    {"bkt,k,", BKV, 3, true, "bkt", "k", "", 1},
    /* refused */
    {"bkt", BK, 2, false, NULL, NULL, NULL, 0},
    {"bkt,k,extra", BK, 2, false, NULL, NULL, NULL, 0},
    {"bkt,", BK, 2, false, NULL, NULL, NULL, 0},
    {",k", BK, 2, false, NULL, NULL, NULL, 0},
    {"Bad_Bucket,k", BK, 2, false, NULL, NULL, NULL, 0},
    {"bkt,%zz", BK, 2, false, NULL, NULL, NULL, 0},
    {"bkt,%4", BK, 2, false, NULL, NULL, NULL, 0},
    {"bkt,\"unterminated", BK, 2, false, NULL, NULL, NULL, 0},
    {"bkt,\"q\"tail", BK, 2, false, NULL, NULL, NULL, 0},
    {"bkt,a\"b", BK, 2, false, NULL, NULL, NULL, 0},
    {"bkt,%FF%FE", BK, 2, false, NULL, NULL, NULL, 0},       /* not UTF-8 */
    {"bkt,a%00b", BK, 2, false, NULL, NULL, NULL, 0},        /* NUL */
    {"bkt,\xc3\xa9", BK, 2, true, "bkt", "\xc3\xa9", "", 2}, /* raw UTF-8 is taken as is */
};

static void test_csv_table(void **state)
{
    struct batch_task *t = malloc(sizeof(*t));
    char msg[128];
    for (size_t i = 0; i < sizeof(csv_cases) / sizeof(*csv_cases); i++) {
        const char *l = csv_cases[i].line;
        enum qr_err e = batch_csv_line(qr_slice(l, strlen(l)), csv_cases[i].fields,
                                       csv_cases[i].n_fields, t, msg);
        if (!csv_cases[i].ok) {
            if (e != QR_E_BAD_INPUT)
                fail_msg("case %zu (%s): accepted", i, l);
            assert_true(msg[0] != '\0');
            continue;
        }
        if (e != QR_OK)
            fail_msg("case %zu (%s): %s", i, l, msg);
        assert_string_equal(t->bucket, csv_cases[i].bucket);
        assert_int_equal(t->key_len, csv_cases[i].key_len);
        assert_memory_equal(t->key, csv_cases[i].key, t->key_len);
        assert_string_equal(t->version, csv_cases[i].version);
    }
    free(t);
}

static void test_csv_key_limits(void **state)
{
    struct batch_task *t = malloc(sizeof(*t));
    char msg[128], line[4 * 1024];
    int n = snprintf(line, sizeof(line), "bkt,");
    memset(line + n, 'k', 1024);
    assert_int_equal(batch_csv_line(qr_slice(line, (size_t)n + 1024), BK, 2, t, msg), QR_OK);
    assert_int_equal(t->key_len, 1024);
    line[n + 1024] = 'k'; /* 1025 bytes decoded */
    assert_int_equal(batch_csv_line(qr_slice(line, (size_t)n + 1025), BK, 2, t, msg),
                     QR_E_BAD_INPUT);
    /* 1024 decoded bytes written as 3072 escapes still fit */
    for (int i = 0; i < 1024; i++)
        memcpy(line + n + 3 * i, "%41", 3);
    assert_int_equal(batch_csv_line(qr_slice(line, (size_t)n + 3072), BK, 2, t, msg), QR_OK);
    assert_int_equal(t->key_len, 1024);
    free(t);
}

/* ---- the store: pinned manifests and progress ---- */

struct fx {
    char dir[64];
    struct store *st;
    struct store_reader *r;
    h2o_mem_pool_t pool;
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/qr-batch-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    struct store_opts o = {.dir = f->dir, .no_fsync = true, .inline_max = 64};
    if (store_open(&o, &f->st) != QR_OK || store_reader_new(f->st, &f->r) != QR_OK ||
        store_job_init(f->st) != QR_OK)
        return -1;
    h2o_mem_init_pool(&f->pool);
    struct store_bucket b = {.name = "bkt", .type = STORE_BUCKET_GENERAL};
    if (store_bucket_create(f->st, &b) != QR_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    h2o_mem_clear_pool(&f->pool);
    store_reader_free(f->r);
    store_close(f->st);
    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void put(struct fx *f, const char *key, const char *data, size_t len)
{
    struct store_put p = {.bucket = QR_SLICE_LIT("bkt"),
                          .key = qr_slice_cstr(key),
                          .data = qr_slice(data, len),
                          .etag = "e1"};
    struct store_put_result res;
    assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
}

static void new_job(struct fx *f, const char *id)
{
    char out[STORE_JOB_ID_MAX + 1];
    bool existing;
    struct store_job_new n = {.id = id,
                              .token = id,
                              .req_hash = "h",
                              .state = 0,
                              .def = QR_SLICE_LIT("{}"),
                              .tags = QR_SLICE_LIT("{}")};
    assert_int_equal(store_job_create(f->st, &n, out, &existing), QR_OK);
    assert_false(existing);
}

/* Reads every line from offset start; returns the count, checks resumed offsets. */
static size_t read_all(struct fx *f, const char *id, uint64_t start, uint64_t *offs, size_t max)
{
    struct batch_mreader mr;
    bool eof = false;
    size_t n = 0;
    assert_int_equal(batch_mreader_open(f->st, f->r, id, start, &mr), QR_OK);
    while (n < max) {
        struct qr_slice line;
        assert_int_equal(batch_mreader_next(&mr, &line, &eof), QR_OK);
        if (eof)
            break;
        assert_true(line.len > 0 && line.p[line.len - 1] != '\r');
        offs[n++] = mr.next_off;
    }
    batch_mreader_close(&mr);
    return n;
}

static void test_mreader_blob_and_resume(void **state)
{
    struct fx *f = *state;
    /* 20000 CRLF lines: far over the 64-byte inline limit and the 64 KiB read buffer */
    size_t cap = 20000 * 32, len = 0;
    char *m = malloc(cap);
    for (int i = 0; i < 20000; i++)
        len += (size_t)snprintf(m + len, cap - len, "bkt,key-%d\r\n%s", i, i % 7 ? "" : "\r\n");
    put(f, "m.csv", m, len);
    new_job(f, "job-blob");
    assert_int_equal(
        store_job_pin(f->st, "job-blob", QR_SLICE_LIT("bkt"), QR_SLICE_LIT("m.csv"), "e1"), QR_OK);
    /* overwriting or deleting the manifest changes nothing for the pinned job */
    put(f, "m.csv", "bkt,other\n", 10);
    assert_int_equal(store_obj_delete(f->st, QR_SLICE_LIT("bkt"), QR_SLICE_LIT("m.csv"), NULL),
                     QR_OK);
    uint64_t *offs = malloc(sizeof(*offs) * 20001);
    assert_int_equal(read_all(f, "job-blob", 0, offs, 20001), 20000);
    assert_int_equal(offs[19999], len - 2); /* the empty line after it carries no task */
    uint64_t *offs2 = malloc(sizeof(*offs2) * 20001);
    /* resuming after line 12344 gives the same remaining lines and offsets */
    assert_int_equal(read_all(f, "job-blob", offs[12344], offs2, 20001), 20000 - 12345);
    assert_memory_equal(offs2, offs + 12345, sizeof(*offs) * (20000 - 12345));
    free(offs);
    free(offs2);
    free(m);
}

static void test_mreader_line_limit(void **state)
{
    struct fx *f = *state;
    size_t len = BATCH_LINE_MAX + 10;
    char *m = malloc(len);
    memset(m, 'a', len);
    put(f, "long.csv", m, len);
    new_job(f, "job-long");
    assert_int_equal(
        store_job_pin(f->st, "job-long", QR_SLICE_LIT("bkt"), QR_SLICE_LIT("long.csv"), "e1"),
        QR_OK);
    struct batch_mreader mr;
    struct qr_slice line;
    bool eof;
    assert_int_equal(batch_mreader_open(f->st, f->r, "job-long", 0, &mr), QR_OK);
    assert_int_equal(batch_mreader_next(&mr, &line, &eof), QR_E_TOO_LARGE);
    batch_mreader_close(&mr);
    /* a wrong ETag pins nothing */
    new_job(f, "job-etag");
    assert_int_equal(
        store_job_pin(f->st, "job-etag", QR_SLICE_LIT("bkt"), QR_SLICE_LIT("long.csv"), "other"),
        QR_E_PRECONDITION);
    assert_int_equal(batch_mreader_open(f->st, f->r, "job-etag", 0, &mr), QR_E_NO_SUCH_KEY);
    free(m);
}

static void outcome(void *arg, struct store_job_row *row, enum qr_err err)
{
    row->failed = err != QR_OK;
    row->http = err == QR_OK ? 200 : 404;
    snprintf(row->code, sizeof(row->code), "%s", err == QR_OK ? "" : qr_errname(err));
}

static void test_progress_commits_effect_with_row(void **state)
{
    struct fx *f = *state;
    put(f, "src", "hello", 5);
    new_job(f, "job-copy");
    struct store_job_row rows[2];
    memset(rows, 0, sizeof(rows));
    const char *srcs[2] = {"src", "missing"}, *dsts[2] = {"dst1", "dst2"};
    for (int i = 0; i < 2; i++) {
        rows[i].line = (uint64_t)i;
        rows[i].bucket = QR_SLICE_LIT("bkt");
        rows[i].key = qr_slice_cstr(srcs[i]);
        rows[i].effect = STORE_JOB_EFFECT_COPY;
        rows[i].copy.src_bucket = QR_SLICE_LIT("bkt");
        rows[i].copy.src_key = qr_slice_cstr(srcs[i]);
        rows[i].copy.dst_bucket = QR_SLICE_LIT("bkt");
        rows[i].copy.dst_key = qr_slice_cstr(dsts[i]);
    }
    struct store_job_progress p = {.id = "job-copy",
                                   .rows = rows,
                                   .n = 2,
                                   .cursor_from = 0,
                                   .cursor_to = 2,
                                   .manifest_off = 20,
                                   .outcome = outcome};
    assert_int_equal(store_job_progress(f->st, &p), QR_OK);
    /* the same window again (a stale cursor) is refused: no row twice */
    assert_int_equal(store_job_progress(f->st, &p), QR_E_CONFLICT);
    struct store_obj o;
    assert_int_equal(
        store_obj_get(f->r, QR_SLICE_LIT("bkt"), QR_SLICE_LIT("dst1"), true, &f->pool, &o), QR_OK);
    assert_memory_equal(o.inline_data.p, "hello", 5);
    assert_int_equal(
        store_obj_get(f->r, QR_SLICE_LIT("bkt"), QR_SLICE_LIT("dst2"), false, &f->pool, &o),
        QR_E_NO_SUCH_KEY);
    struct store_job j;
    assert_int_equal(store_job_get(f->r, QR_SLICE_LIT("job-copy"), &f->pool, &j), QR_OK);
    assert_int_equal(j.cursor, 2);
    assert_int_equal(j.manifest_off, 20);
    assert_int_equal(j.succeeded, 1);
    assert_int_equal(j.failed, 1);
    struct store_job_row *res;
    size_t n;
    assert_int_equal(store_job_results(f->r, "job-copy", 0, false, 10, &f->pool, &res, &n), QR_OK);
    assert_int_equal(n, 2);
    assert_false(res[0].failed);
    assert_true(res[1].failed);
    assert_string_equal(res[1].code, "E_NO_SUCH_KEY");
    assert_int_equal(store_job_results(f->r, "job-copy", 0, true, 10, &f->pool, &res, &n), QR_OK);
    assert_int_equal(n, 1);
}

static void test_idempotent_token(void **state)
{
    struct fx *f = *state;
    char out[STORE_JOB_ID_MAX + 1];
    bool existing;
    struct store_job_new n = {.id = "id-1",
                              .token = "tok",
                              .req_hash = "h1",
                              .def = QR_SLICE_LIT("{}"),
                              .tags = QR_SLICE_LIT("{}")};
    assert_int_equal(store_job_create(f->st, &n, out, &existing), QR_OK);
    n.id = "id-2";
    assert_int_equal(store_job_create(f->st, &n, out, &existing), QR_OK);
    assert_true(existing);
    assert_string_equal(out, "id-1");
    n.req_hash = "h2";
    assert_int_equal(store_job_create(f->st, &n, out, &existing), QR_E_CONFLICT);
}

/* ---- inventory reports ---- */

static void test_inv_parse_table(void **state)
{
    static const struct {
        const char *json;
        bool ok;
    } cases[] = {
        {"{\"sourceBucket\":\"s\",\"destinationBucket\":\"arn:aws:s3:::dst\",\"fileFormat\":\"CSV\","
         "\"fileSchema\":\"Bucket, Key, VersionId, IsLatest\",\"files\":[{\"key\":\"a/b.csv.gz\","
         "\"size\":12,\"MD5checksum\":\"F11166069f1990abeb9c97ace9cdfabc\"}]}",
         true},
        {"{\"destinationBucket\":\"dst\",\"fileFormat\":\"CSV\",\"fileSchema\":\"Key,Bucket\","
         "\"files\":[]}",
         true},
        {"[]", false},
        {"{\"destinationBucket\":\"dst\",\"fileFormat\":\"ORC\",\"fileSchema\":\"Bucket, Key\","
         "\"files\":[]}",
         false},
        {"{\"destinationBucket\":\"dst\",\"fileFormat\":\"CSV\",\"fileSchema\":\"Bucket, Size\","
         "\"files\":[]}",
         false},
        {"{\"destinationBucket\":\"dst\",\"fileFormat\":\"CSV\",\"fileSchema\":\"Bucket, Key, Key\","
         "\"files\":[]}",
         false},
        {"{\"destinationBucket\":\"dst\",\"fileFormat\":\"CSV\",\"fileSchema\":\"Bucket,,Key\","
         "\"files\":[]}",
         false},
        {"{\"destinationBucket\":\"dst\",\"fileFormat\":\"CSV\",\"fileSchema\":\"Bucket, Key\","
         "\"files\":[{\"key\":\"k\",\"size\":1,\"MD5checksum\":\"xyz\"}]}",
         false},
        {"{\"destinationBucket\":\"dst\",\"fileFormat\":\"CSV\",\"fileSchema\":\"Bucket, Key\","
         "\"files\":[{\"key\":\"k\",\"size\":-1,\"MD5checksum\":"
         "\"f11166069f1990abeb9c97ace9cdfabc\"}]}",
         false},
        {"{\"destinationBucket\":\"arn:aws:s3:::a/b\",\"fileFormat\":\"CSV\",\"fileSchema\":"
         "\"Bucket, Key\",\"files\":[]}",
         false},
        {"{\"fileFormat\":\"CSV\",\"fileSchema\":\"Bucket, Key\",\"files\":[]}", false},
        {"{\"destinationBucket\":\"dst\",\"destinationBucket\":\"dst\",\"fileFormat\":\"CSV\","
         "\"fileSchema\":\"Bucket, Key\",\"files\":[]}",
         false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct batch_inv inv;
        char msg[128] = "";
        enum qr_err e = batch_inv_parse(qr_slice_cstr(cases[i].json), &inv, msg);
        if (cases[i].ok) {
            assert_int_equal(e, QR_OK);
            batch_inv_dispose(&inv);
        } else {
            assert_int_equal(e, QR_E_BAD_INPUT);
            assert_true(msg[0] != '\0');
        }
    }
    struct batch_inv inv;
    char msg[128];
    assert_int_equal(batch_inv_parse(qr_slice_cstr(cases[0].json), &inv, msg), QR_OK);
    assert_string_equal(inv.dest_bucket, "dst");
    assert_int_equal(inv.n_cols, 4);
    assert_int_equal(inv.cols[2], BATCH_F_VERSION);
    assert_int_equal(inv.cols[3], BATCH_F_IGNORE);
    assert_int_equal(inv.n_files, 1);
    assert_string_equal(inv.files[0].md5, "f11166069f1990abeb9c97ace9cdfabc");
    assert_int_equal(inv.files[0].size, 12);

    struct batch_task t;
    assert_int_equal(batch_inv_line(&inv, qr_slice_cstr("\"src\",\"a%2Cb+c\",\"v1\",\"true\""),
                                     &t, msg),
                     QR_OK);
    assert_string_equal(t.key, "a,b c");
    assert_string_equal(t.version, "v1");
    char out[256];
    size_t n = batch_task_csv(&t, out, sizeof(out));
    assert_int_equal(n, strlen("src,a%2Cb+c,v1\n"));
    assert_memory_equal(out, "src,a%2Cb+c,v1\n", n);
    assert_int_equal(batch_inv_line(&inv, qr_slice_cstr("\"src\",\"k\""), &t, msg),
                     QR_E_BAD_INPUT);
    batch_inv_dispose(&inv);
}

/* gzip of s (one member). */
static size_t gz(const char *s, size_t len, uint8_t *out, size_t cap)
{
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)s;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    return n;
}

struct gsrc {
    const uint8_t *p;
    size_t n, chunk;
};

static enum qr_err gpull(void *arg, uint8_t *dst, size_t cap, size_t *got)
{
    struct gsrc *s = arg;
    size_t n = s->n < s->chunk ? s->n : s->chunk;
    n = n < cap ? n : cap;
    memcpy(dst, s->p, n);
    s->p += n;
    s->n -= n;
    *got = n;
    return QR_OK;
}

/* Reads every line of data (pulled chunk bytes at a time) into out (joined by '|'). */
static enum qr_err gz_lines(const uint8_t *data, size_t len, size_t chunk, char *out, char md5[33])
{
    struct gsrc s = {data, len, chunk};
    struct batch_gzlines *g;
    batch_gzlines_new(gpull, &s, &g);
    bool eof = false;
    enum qr_err e = QR_OK;
    out[0] = '\0';
    while (!eof && e == QR_OK) {
        struct qr_slice l;
        e = batch_gzlines_next(g, &l, &eof);
        if (e == QR_OK && !eof)
            sprintf(out + strlen(out), "%.*s|", (int)l.len, (const char *)l.p);
    }
    batch_gzlines_md5(g, md5);
    batch_gzlines_free(g);
    return e;
}

static void test_inv_gzip_lines(void **state)
{
    uint8_t *buf = malloc(1 << 20);
    char *lines = malloc(1 << 20), md5[33], want[33];
    const char a[] = "one\r\ntwo\n\nthree", b[] = "four\n";
    size_t na = gz(a, strlen(a), buf, 1 << 19);
    size_t nb = gz(b, strlen(b), buf + na, 1 << 19);
    unsigned char d[16];
    EVP_Digest(buf, na + nb, d, NULL, EVP_md5(), NULL);
    for (size_t i = 0; i < 16; i++)
        sprintf(want + 2 * i, "%02x", d[i]);
    /* two members, pulled 1, 7 and all bytes at a time: the same lines and MD5 */
    static const size_t chunks[] = {1, 7, 1 << 20};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(gz_lines(buf, na + nb, chunks[i], lines, md5), QR_OK);
        assert_string_equal(lines, "one|two|threefour|");
        assert_string_equal(md5, want);
    }
    /* cut short, not gzip, empty */
    assert_int_equal(gz_lines(buf, na - 3, 64, lines, md5), QR_E_BAD_INPUT);
    assert_int_equal(gz_lines((const uint8_t *)"plain text\n", 11, 64, lines, md5),
                     QR_E_BAD_INPUT);
    assert_int_equal(gz_lines(buf, 0, 64, lines, md5), QR_E_BAD_INPUT);
    /* a line over 16 KiB */
    char *big = malloc(20000);
    memset(big, 'x', 20000);
    big[19999] = '\n';
    size_t nbig = gz(big, 20000, buf, 1 << 20);
    assert_int_equal(gz_lines(buf, nbig, 4096, lines, md5), QR_E_TOO_LARGE);
    free(big);
    free(lines);
    free(buf);
}

/* The number of blob files under DIR/objects. */
/* Blob files under DIR/objects once the writer has unlinked what the changes that already
 * returned freed (it unlinks after waking their callers). */
static int count_blobs_in(struct store *st, const char *dir)
{
    store_debug_sync(st);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "find '%s/objects' -type f ! -name '*.tmp' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

/* A spooled task list over several 4 MiB chunks is pinned and read back line by line;
 * a second spool for a pinned job is dropped; unpinning frees the chunks' blobs. */
static void test_spool_pin_and_unpin(void **state)
{
    struct fx *f = *state;
    new_job(f, "sp-1");
    int before = count_blobs_in(f->st, f->dir);
    struct store_job_spool *sp;
    store_job_spool_new(f->st, &sp);
    char line[64];
    const size_t n = 600000; /* 17 bytes a line: 10.2 MB, three 4 MiB chunks */
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(line, sizeof(line), "bkt,key-%07zu,\n", i);
        assert_int_equal(store_job_spool_write(sp, qr_slice(line, (size_t)len)), QR_OK);
    }
    assert_int_equal(store_job_spool_size(sp), n * 17);
    assert_int_equal(store_job_spool_pin(sp, "sp-1"), QR_OK);
    store_job_spool_free(sp);
    assert_int_equal(count_blobs_in(f->st, f->dir), before + 3);

    uint64_t *offs = malloc(sizeof(*offs) * (n + 1));
    assert_int_equal(read_all(f, "sp-1", 0, offs, n + 1), n);
    free(offs);

    store_job_spool_new(f->st, &sp); /* already pinned: this one's bytes are dropped */
    assert_int_equal(store_job_spool_write(sp, QR_SLICE_LIT("bkt,other,\n")), QR_OK);
    assert_int_equal(store_job_spool_pin(sp, "sp-1"), QR_OK);
    store_job_spool_free(sp);
    assert_int_equal(count_blobs_in(f->st, f->dir), before + 3);

    store_job_spool_new(f->st, &sp); /* a job that does not exist */
    assert_int_equal(store_job_spool_write(sp, QR_SLICE_LIT("bkt,x,\n")), QR_OK);
    assert_int_equal(store_job_spool_pin(sp, "no-such-job"), QR_E_NO_SUCH_UPLOAD);
    store_job_spool_free(sp);

    struct store_job_update u = {.id = "sp-1", .set = STORE_JOB_UNPIN, .from_states = ~0ull};
    assert_int_equal(store_job_update(f->st, &u, NULL), QR_OK);
    assert_int_equal(count_blobs_in(f->st, f->dir), before);
}

/* A held data file survives its object's overwrite (its blob stays readable) until the
 * task list is pinned; a job that ends without a pin drops its holds too. */
static void test_hold_data_files(void **state)
{
    struct fx *f = *state;
    char body[300];
    memset(body, 'd', sizeof(body));
    new_job(f, "h-1");
    int before = count_blobs_in(f->st, f->dir);
    put(f, "data.gz", body, sizeof(body));
    struct store_job_held h;
    assert_int_equal(store_job_hold(f->st, f->r, "h-1", QR_SLICE_LIT("bkt"), QR_SLICE_LIT("data.gz"),
                                    &f->pool, &h),
                     QR_OK);
    assert_int_equal(h.size, sizeof(body));
    assert_int_equal(h.n_ext, 1);
    put(f, "data.gz", "x", 1); /* overwritten: inline now, the old blob only held */
    assert_int_equal(count_blobs_in(f->st, f->dir), before + 1);
    int fd;
    char got[300];
    assert_int_equal(store_blob_open(f->st, h.ext[0].blob, &fd), QR_OK);
    assert_int_equal(pread(fd, got, sizeof(got), (off_t)h.ext[0].off), (ssize_t)sizeof(got));
    close(fd);
    assert_memory_equal(got, body, sizeof(body));
    assert_int_equal(store_job_hold(f->st, f->r, "h-1", QR_SLICE_LIT("bkt"), QR_SLICE_LIT("nope"),
                                    &f->pool, &h),
                     QR_E_NO_SUCH_KEY);
    struct store_job_spool *sp;
    store_job_spool_new(f->st, &sp);
    assert_int_equal(store_job_spool_write(sp, QR_SLICE_LIT("bkt,k,\n")), QR_OK);
    assert_int_equal(store_job_spool_pin(sp, "h-1"), QR_OK);
    store_job_spool_free(sp);
    /* the hold went with the pin: what is left is the task list's own chunk */
    assert_int_equal(count_blobs_in(f->st, f->dir), before + 1);

    new_job(f, "h-2");
    put(f, "data2.gz", body, sizeof(body));
    assert_int_equal(store_job_hold(f->st, f->r, "h-2", QR_SLICE_LIT("bkt"), QR_SLICE_LIT("data2.gz"),
                                    &f->pool, &h),
                     QR_OK);
    assert_int_equal(store_obj_delete(f->st, QR_SLICE_LIT("bkt"), QR_SLICE_LIT("data2.gz"), NULL),
                     QR_OK);
    assert_int_equal(count_blobs_in(f->st, f->dir), before + 2);
    struct store_job_update u = {.id = "h-2", .set = STORE_JOB_UNPIN, .from_states = ~0ull};
    assert_int_equal(store_job_update(f->st, &u, NULL), QR_OK);
    assert_int_equal(count_blobs_in(f->st, f->dir), before + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_table),
        cmocka_unit_test(test_csv_key_limits),
        cmocka_unit_test_setup_teardown(test_mreader_blob_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mreader_line_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_commits_effect_with_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_token, setup, teardown),
        cmocka_unit_test(test_inv_parse_table),
        cmocka_unit_test_setup_teardown(test_spool_pin_and_unpin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_data_files, setup, teardown),
        cmocka_unit_test(test_inv_gzip_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
