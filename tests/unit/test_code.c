/*
 * test_code.c - fn/code.c: unpacking function zips. The zips are made at test time by
 * Python's zipfile (an independent writer), which also computes the expected CodeSha256.
 * Cases: a normal tree with nested directories and an executable bootstrap, reuse of an
 * existing directory, '../evil', '/abs', a symlink entry, a duplicate name, not a zip,
 * and a zip bomb over 250 MB unzipped - each refused case leaves nothing behind, inside
 * or outside the data directory.
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
#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fn/code.h"

struct fx {
    char root[64];     /* mkdtemp dir: fixtures/ (made once per run) and data/ under it */
    char data[128];
    char fixtures[128];
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

/* Python writes every fixture zip and a .sha file with base64(sha256(zip)). */
static const char make_fixtures[] =
    "import zipfile, hashlib, base64, sys, os, warnings\n"
    "warnings.simplefilter('ignore')\n"
    "d = sys.argv[1]\n"
    "def z(name, entries):\n"
    "    p = os.path.join(d, name + '.zip')\n"
    "    with zipfile.ZipFile(p, 'w', zipfile.ZIP_DEFLATED) as zf:\n"
    "        for e in entries:\n"
    "            info = zipfile.ZipInfo(e[0])\n"
    "            info.external_attr = e[2] << 16\n"
    "            info.compress_type = zipfile.ZIP_DEFLATED\n"
    "            zf.writestr(info, e[1])\n"
    "    b = open(p, 'rb').read()\n"
    "    open(p[:-4] + '.sha', 'w').write(base64.b64encode(hashlib.sha256(b).digest()).decode())\n"
    "z('normal', [('lambda_function.py', b'def h(e, c):\\n    return 1\\n', 0o100644),\n"
    "             ('bootstrap', b'#!/bin/sh\\necho hi\\n', 0o100755),\n"
    "             ('pkg/', b'', 0o040755),\n"
    "             ('pkg/sub/data.txt', b'x' * 100000, 0o100600),\n"
    "             ('./dot/./f', b'dot', 0o100644)])\n"
    "z('evil', [('ok.txt', b'ok', 0o100644), ('../evil', b'bad', 0o100644)])\n"
    "z('deep_evil', [('a/b/../../../evil2', b'bad', 0o100644)])\n"
    "z('abs', [('/tmp/qr-code-abs-evil', b'bad', 0o100644)])\n"
    "z('symlink', [('link', b'/etc/passwd', 0o120777)])\n"
    "z('dup', [('a.txt', b'1', 0o100644), ('a.txt', b'2', 0o100644)])\n"
    "z('filedir', [('a', b'1', 0o100644), ('a/b', b'2', 0o100644)])\n"
    "p = os.path.join(d, 'bomb.zip')\n"
    "with zipfile.ZipFile(p, 'w', zipfile.ZIP_DEFLATED) as zf:\n"
    "    with zf.open('zeros', 'w', force_zip64=True) as w:\n"
    "        chunk = bytes(1 << 20)\n"
    "        for i in range(251):\n"
    "            w.write(chunk)\n"
    "open(os.path.join(d, 'notzip.zip'), 'wb').write(b'PK\\x03\\x04 not really a zip file')\n";

static int group_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    strcpy(f->root, "/tmp/qr-code-XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    snprintf(f->data, sizeof(f->data), "%s/data", f->root);
    snprintf(f->fixtures, sizeof(f->fixtures), "%s/fixtures", f->root);
    if (mkdir(f->fixtures, 0755) != 0)
        return -1;
    char py[160];
    snprintf(py, sizeof(py), "%s/make.py", f->root);
    FILE *fp = fopen(py, "w");
    if (!fp)
        return -1;
    fputs(make_fixtures, fp);
    fclose(fp);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "python3 %s %s", py, f->fixtures);
    if (system(cmd) != 0)
        return -1;
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *f = *state;
    nftw(f->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    unlink("/tmp/qr-code-abs-evil");
    free(f);
    return 0;
}

/* Each test starts without a data directory. */
static int setup(void **state)
{
    struct fx *f = *state;
    nftw(f->data, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static uint8_t *read_file(const char *path, size_t *out_len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
    b[n] = 0;
    fclose(fp);
    *out_len = (size_t)n;
    return b;
}

static enum qr_err unpack_fixture(struct fx *f, const char *name, struct fn_code *out,
                                  char sha[64])
{
    char p[256];
    size_t n;
    snprintf(p, sizeof(p), "%s/%s.zip", f->fixtures, name);
    uint8_t *zip = read_file(p, &n);
    if (sha) {
        snprintf(p, sizeof(p), "%s/%s.sha", f->fixtures, name);
        size_t sn;
        uint8_t *s = read_file(p, &sn);
        assert_true(sn < 64);
        memcpy(sha, s, sn + 1);
        free(s);
    }
    enum qr_err err = fn_code_unpack(f->data, qr_slice(zip, n), false, out);
    free(zip);
    return err;
}

/* Entries in DATA/functions (a refused zip leaves none, not even a .tmp). */
static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void expect_file(const char *dir, const char *rel, const char *content, mode_t mode)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    struct stat sb;
    assert_int_equal(lstat(p, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, mode);
    if (content) {
        size_t n;
        uint8_t *b = read_file(p, &n);
        assert_int_equal(n, strlen(content));
        assert_memory_equal(b, content, n);
        free(b);
    }
}

static void test_normal(void **state)
{
    struct fx *f = *state;
    struct fn_code c;
    char sha[64];
    assert_int_equal(unpack_fixture(f, "normal", &c, sha), QR_OK);
    assert_string_equal(c.sha256_b64, sha);
    char hex[65];
    assert_true(fn_code_hex(sha, hex));
    assert_string_equal(hex, c.sha256_hex);
    assert_int_equal(c.entries, 5);
    assert_int_equal(c.unzipped, 26 + 18 + 100000 + 3);

    char dir[512];
    assert_true(fn_code_dir(f->data, c.sha256_hex, dir, sizeof(dir)));
    expect_file(dir, "lambda_function.py", "def h(e, c):\n    return 1\n", 0644);
    expect_file(dir, "bootstrap", "#!/bin/sh\necho hi\n", 0755);
    expect_file(dir, "pkg/sub/data.txt", NULL, 0644);
    expect_file(dir, "dot/f", "dot", 0644);
    char fdir[256];
    snprintf(fdir, sizeof(fdir), "%s/functions", f->data);
    assert_int_equal(count_entries(fdir), 1);

    /* the same code again: the directory is reused, nothing extracted */
    struct fn_code c2;
    assert_int_equal(unpack_fixture(f, "normal", &c2, NULL), QR_OK);
    assert_string_equal(c2.sha256_hex, c.sha256_hex);
    assert_int_equal(c2.entries, 0);
    assert_int_equal(c2.zip_size, c.zip_size);
    assert_int_equal(count_entries(fdir), 1);
}

static void expect_refused(struct fx *f, const char *name, enum qr_err want)
{
    struct fn_code c;
    assert_int_equal(unpack_fixture(f, name, &c, NULL), want);
    char fdir[256];
    snprintf(fdir, sizeof(fdir), "%s/functions", f->data);
    assert_int_equal(count_entries(fdir), 0);
    /* nothing was written beside the data directory either */
    assert_int_equal(count_entries(f->root), 3); /* fixtures, data, make.py */
    struct stat sb;
    assert_int_not_equal(lstat("/tmp/qr-code-abs-evil", &sb), 0);
    char p[256];
    snprintf(p, sizeof(p), "%s/evil", f->data);
    assert_int_not_equal(lstat(p, &sb), 0);
}

static void test_refused(void **state)
{
    struct fx *f = *state;
    expect_refused(f, "evil", QR_E_BAD_INPUT);
    expect_refused(f, "deep_evil", QR_E_BAD_INPUT);
    expect_refused(f, "abs", QR_E_BAD_INPUT);
    expect_refused(f, "symlink", QR_E_BAD_INPUT);
    expect_refused(f, "dup", QR_E_BAD_INPUT);
    expect_refused(f, "filedir", QR_E_BAD_INPUT);
    expect_refused(f, "notzip", QR_E_BAD_INPUT);
    struct fn_code c;
    assert_int_equal(fn_code_unpack(f->data, qr_slice(NULL, 0), true, &c), QR_E_BAD_INPUT);
}

static void test_bomb(void **state)
{
    struct fx *f = *state;
    expect_refused(f, "bomb", QR_E_TOO_LARGE);
}

static void test_hex_and_sweep(void **state)
{
    struct fx *f = *state;
    char hex[65];
    assert_false(fn_code_hex("c2hh", hex)); /* 3 bytes */
    assert_false(fn_code_hex("not base64!", hex));
    char p[256];
    snprintf(p, sizeof(p), "%s/functions", f->data);
    mkdir(f->data, 0755);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/functions/abc.tmp.0011", f->data);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/functions/abc.tmp.0011/x", f->data);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/functions/keep", f->data);
    assert_int_equal(mkdir(p, 0755), 0);
    fn_code_sweep(f->data);
    snprintf(p, sizeof(p), "%s/functions", f->data);
    assert_int_equal(count_entries(p), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_normal, setup),
        cmocka_unit_test_setup(test_refused, setup),
        cmocka_unit_test_setup(test_bomb, setup),
        cmocka_unit_test_setup(test_hex_and_sweep, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
