/*
 * code.c - unpacking function zips into DATA/functions/<hex sha256>/.
 *
 * libarchive only parses: every entry is written by us, relative to an fd of the private
 * temporary directory, one path component at a time with O_NOFOLLOW, files created with
 * O_EXCL. So a hostile zip cannot name a path outside the directory ("/abs", "../x"),
 * cannot make us write through a link (link entries are refused, and no link can exist
 * in a directory only we wrote), and cannot overwrite (a duplicate name is an error).
 * Sizes are counted from the bytes actually decompressed, never from the zip's claims.
 * The directory gets its final name by rename only once complete (and synced), so a
 * code directory that exists is always whole.
 */
#include "fn/code.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/checksum.h"
#include "util/codec.h"

#define COPY_CHUNK (64u * 1024u)

bool fn_code_dir(const char *data_dir, const char *sha256_hex, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/functions/%s", data_dir, sha256_hex);
    return n > 0 && (size_t)n < cap;
}

bool fn_code_hex(const char *b64, char out_hex[65])
{
    uint8_t d[32];
    size_t n = 0;
    if (qr_b64_decode(b64, strlen(b64), d, sizeof(d), &n) != QR_OK || n != sizeof(d))
        return false;
    qr_hex_encode(d, sizeof(d), out_hex);
    return true;
}

/* Removes a directory tree we created (no links in it), relative to dirfd; returns the
 * bytes of the files removed. Best effort: what cannot be removed is left for
 * fn_code_sweep. */
static uint64_t remove_tree(int parent, const char *name, unsigned depth)
{
    uint64_t bytes = 0;
    if (depth > FN_CODE_MAX_DEPTH + 1)
        return 0;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        DIR *d = fdopendir(fd);
        if (d == NULL) {
            close(fd);
        } else {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                struct stat st;
                if (e->d_type == DT_DIR) {
                    bytes += remove_tree(dirfd(d), e->d_name, depth + 1);
                } else {
                    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                        unlinkat(dirfd(d), e->d_name, 0) == 0) /* best effort, see above */
                        bytes += (uint64_t)st.st_size;
                }
            }
            closedir(d);
        }
    }
    (void)unlinkat(parent, name, AT_REMOVEDIR);
    return bytes;
}

/* The cap on all unpacked code (0: none) and what is unpacked now (fn_code_account,
 * then every unpack and removal). */
static _Atomic uint64_t code_cap, code_total;

/* Opens (creating if needed) directory name under dirfd without following links. */
static enum qr_err open_subdir(int dirfd, const char *name, int *out_fd)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (mkdirat(dirfd, name, 0755) != 0 && errno != EEXIST)
            return QR_E_IO;
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && fchmod(fd, 0755) != 0) { /* quarry's umask is 077 */
            close(fd);
            return QR_E_IO;
        }
    }
    if (fd < 0)
        return errno == ENOTDIR || errno == ELOOP ? QR_E_BAD_INPUT : QR_E_IO;
    *out_fd = fd;
    return QR_OK;
}

/* Splits a zip entry name into components, refusing absolute names and "..". Empty and
 * "." components are dropped. comps point into buf. */
static enum qr_err split_path(const char *path, char *buf, size_t cap, char **comps, size_t *out_n)
{
    size_t len = strlen(path);
    if (len == 0 || path[0] == '/')
        return QR_E_BAD_INPUT;
    if (len >= cap)
        return QR_E_TOO_LARGE;
    memcpy(buf, path, len + 1);
    size_t n = 0;
    char *save = NULL;
    for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0)
            return QR_E_BAD_INPUT;
        if (n == FN_CODE_MAX_DEPTH)
            return QR_E_TOO_LARGE;
        comps[n++] = c;
    }
    if (n == 0)
        return QR_E_BAD_INPUT;
    *out_n = n;
    return QR_OK;
}

struct unzip {
    struct archive *a;
    int root;       /* the temporary directory */
    uint8_t *buf;   /* COPY_CHUNK */
    uint64_t total; /* file bytes written */
    size_t entries;
    bool over_cap; /* stopped by the cap on all unpacked code */
};

static enum qr_err write_file(struct unzip *u, int dirfd, const char *leaf, mode_t perm)
{
    mode_t mode = (perm & 0111) ? 0755 : 0644;
    int fd = openat(dirfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return errno == EEXIST || errno == EISDIR ? QR_E_BAD_INPUT : QR_E_IO;
    /* Readable by the function's uid despite quarry's umask 077: DATA (0700) keeps
     * everyone else out, the sandbox reaches the tree through a bind mount. */
    if (fchmod(fd, mode) != 0) {
        close(fd);
        return QR_E_IO;
    }
    enum qr_err err = QR_OK;
    for (;;) {
        la_ssize_t n = archive_read_data(u->a, u->buf, COPY_CHUNK);
        if (n == 0)
            break;
        if (n < 0) {
            err = QR_E_BAD_INPUT;
            break;
        }
        if (u->total + (uint64_t)n > FN_CODE_MAX_UNZIPPED) {
            err = QR_E_TOO_LARGE;
            break;
        }
        uint64_t cap = atomic_load(&code_cap);
        if (cap && atomic_load(&code_total) + u->total + (uint64_t)n > cap) {
            u->over_cap = true;
            err = QR_E_TOO_LARGE;
            break;
        }
        u->total += (uint64_t)n;
        for (la_ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, u->buf + off, (size_t)(n - off));
            if (w <= 0) {
                err = QR_E_IO;
                break;
            }
            off += w;
        }
        if (err != QR_OK)
            break;
    }
    if (close(fd) != 0 && err == QR_OK)
        err = QR_E_IO;
    return err;
}

static enum qr_err extract_entry(struct unzip *u, struct archive_entry *e)
{
    char buf[FN_CODE_MAX_PATH + 1];
    char *comps[FN_CODE_MAX_DEPTH];
    size_t n;
    const char *path = archive_entry_pathname(e);
    mode_t type = archive_entry_filetype(e);
    if (path == NULL || archive_entry_hardlink(e) || archive_entry_symlink(e) ||
        (type != AE_IFREG && type != AE_IFDIR))
        return QR_E_BAD_INPUT;
    enum qr_err err = split_path(path, buf, sizeof(buf), comps, &n);
    if (err != QR_OK)
        return err;
    size_t ndirs = type == AE_IFDIR ? n : n - 1;
    int dirfd = u->root;
    for (size_t i = 0; i < ndirs && err == QR_OK; i++) {
        int next;
        err = open_subdir(dirfd, comps[i], &next);
        if (dirfd != u->root)
            close(dirfd);
        dirfd = err == QR_OK ? next : -1;
    }
    if (err == QR_OK && type == AE_IFREG)
        err = write_file(u, dirfd, comps[n - 1], archive_entry_perm(e));
    if (dirfd >= 0 && dirfd != u->root)
        close(dirfd);
    return err;
}

static enum qr_err extract(struct qr_slice zip, int root, struct fn_code *out)
{
    struct unzip u = {.root = root, .buf = qr_xmalloc(COPY_CHUNK)};
    enum qr_err err = QR_OK;
    u.a = archive_read_new();
    if (u.a == NULL)
        abort(); /* allocation failure */
    archive_read_support_format_zip(u.a);
    if (zip.len == 0 || archive_read_open_memory(u.a, zip.p, zip.len) != ARCHIVE_OK) {
        err = QR_E_BAD_INPUT;
        goto out;
    }
    for (;;) {
        struct archive_entry *e;
        int rc = archive_read_next_header(u.a, &e);
        if (rc == ARCHIVE_EOF)
            break;
        if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
            err = QR_E_BAD_INPUT;
            break;
        }
        if (++u.entries > FN_CODE_MAX_ENTRIES) {
            err = QR_E_TOO_LARGE;
            break;
        }
        if ((err = extract_entry(&u, e)) != QR_OK)
            break;
    }
out:
    archive_read_free(u.a);
    free(u.buf);
    if (err == QR_OK) {
        out->unzipped = u.total;
        out->entries = u.entries;
    }
    out->over_cap = u.over_cap;
    return err;
}

static enum qr_err make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "fn: mkdir %s: %s\n", path, strerror(errno));
        return QR_E_IO;
    }
    return QR_OK;
}

enum qr_err fn_code_unpack(const char *data_dir, struct qr_slice zip, bool no_fsync,
                           struct fn_code *out)
{
    struct fn_code c;
    memset(&c, 0, sizeof(c));
    uint8_t d[32];
    qr_ck_digest(QR_CK_SHA256, zip.p, zip.len, d);
    qr_b64_encode(d, sizeof(d), c.sha256_b64);
    qr_hex_encode(d, sizeof(d), c.sha256_hex);
    c.zip_size = zip.len;

    enum qr_err err = QR_OK;
    int fnfd = -1, tmpfd = -1;
    char dir[4096], tmp[96], rnd[17];
    snprintf(dir, sizeof(dir), "%s/functions", data_dir);
    if ((err = make_dir(data_dir)) != QR_OK || (err = make_dir(dir)) != QR_OK)
        goto out;
    fnfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fnfd < 0) {
        err = QR_E_IO;
        goto out;
    }
    struct stat sb;
    if (fstatat(fnfd, c.sha256_hex, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode))
        goto out; /* this code is unpacked already */

    qr_random_hex(rnd, 8);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%s", c.sha256_hex, rnd);
    if (mkdirat(fnfd, tmp, 0755) != 0 ||
        (tmpfd = openat(fnfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
        fchmod(tmpfd, 0755) != 0) {
        fprintf(stderr, "fn: mkdir %s/%s: %s\n", dir, tmp, strerror(errno));
        err = QR_E_IO;
        goto out;
    }
    err = extract(zip, tmpfd, &c);
    /* One syncfs covers every file and directory just written (a zip may hold
     * thousands), before the rename makes the directory visible under its name. */
    if (err == QR_OK && !no_fsync && syncfs(tmpfd) != 0)
        err = QR_E_IO;
    if (err == QR_OK && renameat(fnfd, tmp, fnfd, c.sha256_hex) != 0) {
        if (errno == EEXIST || errno == ENOTEMPTY) {
            c.unzipped = 0; /* a concurrent unpack of the same code won */
            c.entries = 0;
            remove_tree(fnfd, tmp, 0);
        } else {
            err = QR_E_IO;
        }
    }
    if (err == QR_OK && !no_fsync && fsync(fnfd) != 0)
        err = QR_E_IO;
    if (err != QR_OK)
        remove_tree(fnfd, tmp, 0);
out:
    if (tmpfd >= 0)
        close(tmpfd);
    if (fnfd >= 0)
        close(fnfd);
    if (err == QR_OK) {
        atomic_fetch_add(&code_total, c.unzipped);
        *out = c;
    }
    out->over_cap = c.over_cap;
    return err;
}

void fn_code_sweep(const char *data_dir)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/functions", data_dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".tmp.") != NULL)
            remove_tree(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

static pthread_mutex_t code_mu = PTHREAD_MUTEX_INITIALIZER;

void fn_code_lock(void)
{
    pthread_mutex_lock(&code_mu);
}

void fn_code_unlock(void)
{
    pthread_mutex_unlock(&code_mu);
}

void fn_code_remove(const char *data_dir, const char *sha256_b64)
{
    char hex[65], dir[4096], gone[96], rnd[17];
    if (!fn_code_hex(sha256_b64, hex) ||
        snprintf(dir, sizeof(dir), "%s/functions", data_dir) >= (int)sizeof(dir))
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    qr_random_hex(rnd, 8);
    snprintf(gone, sizeof(gone), "%s.tmp.gc%s", hex, rnd);
    if (renameat(fd, hex, fd, gone) == 0) {
        uint64_t bytes = remove_tree(fd, gone, 0), was = atomic_load(&code_total);
        atomic_store(&code_total, was > bytes ? was - bytes : 0);
    }
    close(fd);
}

/* Bytes of the files under dirfd/name (no links followed). */
static uint64_t tree_bytes(int parent, const char *name, unsigned depth)
{
    uint64_t bytes = 0;
    int fd = depth <= FN_CODE_MAX_DEPTH + 1
                 ? openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                 : -1;
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            bytes += tree_bytes(dirfd(d), e->d_name, depth + 1);
        else if (S_ISREG(st.st_mode))
            bytes += (uint64_t)st.st_size;
    }
    closedir(d);
    return bytes;
}

void fn_code_account(const char *data_dir, uint64_t cap)
{
    char dir[4096];
    uint64_t total = 0;
    atomic_store(&code_cap, cap);
    snprintf(dir, sizeof(dir), "%s/functions", data_dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        atomic_store(&code_total, 0);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strlen(e->d_name) == 64 && e->d_type == DT_DIR)
            total += tree_bytes(dirfd(d), e->d_name, 0);
    closedir(d);
    atomic_store(&code_total, total);
}
