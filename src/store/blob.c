/*
 * blob.c - object bytes in immutable files DATA/objects/ab/cd/<id>, where <id> is an
 * internal 64-bit number (16 hex digits; ab = bits 16..23, cd = bits 8..15, so ids
 * handed out together share a leaf directory). No path here ever holds user bytes.
 *
 * Writing: temp name "<id>.tmp" in the final directory (O_CREAT|O_EXCL), write all,
 * fsync(file), rename to "<id>", fsync(dir); only then is the row change handed to the
 * writer. A file is never modified after its rename.
 *
 * Freeing: the transaction that drops a blob's refcount to 0 deletes its blobs row and
 * inserts its id into gc. After COMMIT the writer unlinks the file, fsyncs the directory,
 * and deletes the gc row in its next transaction. store_open redoes whatever gc still
 * holds, so a crash between commit and unlink neither leaks nor double-frees.
 *
 * Files whose rows never committed (crash after rename, before COMMIT; or a failed
 * change whose unlink did not reach the disk) are found without scanning: ids come
 * from a counter, and two marks live in the meta table, written in the writer's
 * transactions:
 *   blob_reserved - no id >= this was ever handed out. The writer keeps it
 *                   STORE_BLOB_CHUNK ahead of the counter, and the allocator hands out
 *                   ids below the *committed* reservation only (a caller that catches
 *                   up submits an empty change to push it forward; once per CHUNK ids).
 *   blob_lwm      - every id below it is settled: its row committed, or its file was
 *                   removed. It is the smallest id in flight when a transaction
 *                   commits (or the counter, when none is).
 * At open, the only ids that can name a file without a row are in [blob_lwm,
 * blob_reserved): the leaf directories covering that range (about CHUNK/256 of them,
 * more only while one slow upload holds the low-water mark back) are read and files
 * without a blobs row, and all temp files, are unlinked. The counter then restarts at
 * blob_reserved, so ids are never reused, even ids of orphans.
 */
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEAF_OF(id) ((unsigned)(((id) >> 8) & 0xffffu))

void blob_relpath(uint64_t id, bool tmp, char out[48])
{
    snprintf(out, 48, "%02x/%02x/%016llx%s", (unsigned)((id >> 16) & 0xffu),
             (unsigned)((id >> 8) & 0xffu), (unsigned long long)id, tmp ? ".tmp" : "");
}

static void leaf_relpath(unsigned leaf, char out[8])
{
    snprintf(out, 8, "%02x/%02x", (leaf >> 8) & 0xffu, leaf & 0xffu);
}

static enum qr_err io_fail(const char *what, const char *path, int e)
{
    fprintf(stderr, "store: %s %s: %s\n", what, path, strerror(e));
    return QR_E_IO;
}

static enum qr_err fsync_at(struct store *st, const char *rel)
{
    if (st->no_fsync)
        return QR_OK;
    int fd = openat(st->objects_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return io_fail("open dir", rel, errno);
    enum qr_err err = QR_OK;
    if (fsync(fd) != 0)
        err = io_fail("fsync dir", rel, errno);
    close(fd);
    return err;
}

/* Makes sure ab/ and ab/cd/ exist and their entries are durable. A leaf is marked known
 * only after the fsyncs, so a thread that finds EEXIST for a directory another thread
 * just made still fsyncs the parents itself rather than trusting an unsynced entry. */
static enum qr_err ensure_leaf(struct store *st, unsigned leaf)
{
    char top[4], rel[8];
    bool known;

    pthread_mutex_lock(&st->blob_mu);
    known = (st->dir_known[leaf / 64] >> (leaf % 64)) & 1u;
    pthread_mutex_unlock(&st->blob_mu);
    if (known)
        return QR_OK;

    snprintf(top, sizeof(top), "%02x", (leaf >> 8) & 0xffu);
    leaf_relpath(leaf, rel);
    if (mkdirat(st->objects_fd, top, 0755) != 0 && errno != EEXIST)
        return io_fail("mkdir", top, errno);
    if (mkdirat(st->objects_fd, rel, 0755) != 0 && errno != EEXIST)
        return io_fail("mkdir", rel, errno);
    if (!st->no_fsync) {
        if (fsync(st->objects_fd) != 0)
            return io_fail("fsync dir", "objects", errno);
        enum qr_err err = fsync_at(st, top);
        if (err != QR_OK)
            return err;
    }
    pthread_mutex_lock(&st->blob_mu);
    st->dir_known[leaf / 64] |= (uint64_t)1 << (leaf % 64);
    pthread_mutex_unlock(&st->blob_mu);
    return QR_OK;
}

static enum qr_err apply_noop(struct store *st, struct store_change *ch)
{
    return QR_OK;
}

/* Hands out the next id below the committed reservation, marking it in flight. */
static enum qr_err blob_alloc(struct store *st, uint64_t *out)
{
    for (int tries = 0; tries < 4; tries++) {
        pthread_mutex_lock(&st->blob_mu);
        if (st->blob_next < st->blob_reserved) {
            uint64_t id = st->blob_next++;
            id_vec_push(&st->inflight, id);
            pthread_mutex_unlock(&st->blob_mu);
            *out = id;
            return QR_OK;
        }
        pthread_mutex_unlock(&st->blob_mu);
        /* Any committed transaction moves the reservation forward (blob_persist_marks). */
        struct store_change ch = {.apply = apply_noop};
        enum qr_err err = writer_submit(st, &ch);
        if (err != QR_OK)
            return err;
    }
    fprintf(stderr, "store: blob id reservation does not advance\n");
    return QR_E_DB;
}

void blob_settle(struct store *st, uint64_t id)
{
    pthread_mutex_lock(&st->blob_mu);
    for (size_t i = 0; i < st->inflight.n; i++) {
        if (st->inflight.v[i] == id) {
            st->inflight.v[i] = st->inflight.v[--st->inflight.n];
            break;
        }
    }
    pthread_mutex_unlock(&st->blob_mu);
}

static enum qr_err write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : n;
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return io_fail("write", "blob", errno);
        }
        p += w;
        n -= (size_t)w;
    }
    return QR_OK;
}

/* Ciphertext on its way to a blob file goes through a scratch buffer (the plaintext is
 * the caller's and stays as it is): encrypted into it straight from the plaintext, one
 * pass and no copy, then written. 256 KiB stays in the core's cache between the two.
 * Only ciphertext is ever in it, so it needs no wiping. */
enum { SEAL_SCRATCH = 256u * 1024u };

/* write_all of n bytes at p encrypted as cs says, through scratch. */
static enum qr_err write_sealed_piece(int fd, const uint8_t *p, size_t n, struct crypt_stream *cs,
                                      uint8_t *scratch)
{
    enum qr_err err = QR_OK;
    for (size_t off = 0; off < n && err == QR_OK; off += SEAL_SCRATCH) {
        size_t k = n - off < SEAL_SCRATCH ? n - off : SEAL_SCRATCH;
        crypt_stream_apply_to(cs, scratch, p + off, k);
        err = write_all(fd, scratch, k);
    }
    return err;
}

/* write_all of data encrypted as cs says; a large body is never copied whole. */
static enum qr_err write_sealed(int fd, struct qr_slice data, struct crypt_stream *cs)
{
    uint8_t *buf = qr_xmalloc(SEAL_SCRATCH);
    enum qr_err err = write_sealed_piece(fd, data.p, data.len, cs, buf);
    free(buf);
    return err;
}

static enum qr_err write_blob(struct store *st, struct qr_slice data, struct crypt_stream *cs,
                              uint64_t *out_id)
{
    enum qr_err err;
    uint64_t id;
    char tmp[48], fin[48], leaf[8];
    int fd = -1;
    bool renamed = false;

    err = blob_alloc(st, &id);
    if (err != QR_OK)
        return err;
    blob_relpath(id, true, tmp);
    blob_relpath(id, false, fin);
    leaf_relpath(LEAF_OF(id), leaf);
    err = ensure_leaf(st, LEAF_OF(id));
    if (err != QR_OK)
        goto out;
    fd = openat(st->objects_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        err = io_fail("create", tmp, errno);
        goto out;
    }
    err = cs ? write_sealed(fd, data, cs) : write_all(fd, data.p, data.len);
    if (err != QR_OK)
        goto out;
    if (!st->no_fsync && fsync(fd) != 0) {
        err = io_fail("fsync", tmp, errno);
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        err = io_fail("close", tmp, errno);
        goto out;
    }
    fd = -1;
    if (renameat(st->objects_fd, tmp, st->objects_fd, fin) != 0) {
        err = io_fail("rename", tmp, errno);
        goto out;
    }
    renamed = true;
    err = fsync_at(st, leaf);
out:
    if (fd >= 0)
        close(fd);
    if (err != QR_OK) {
        (void)unlinkat(st->objects_fd, renamed ? fin : tmp, 0); /* best effort; recovery
                                                                   finds it otherwise */
        blob_settle(st, id);
        return err;
    }
    *out_id = id;
    return QR_OK;
}

enum qr_err blob_write(struct store *st, struct qr_slice data, uint64_t *out_id)
{
    return write_blob(st, data, NULL, out_id);
}

enum qr_err blob_write_sse(struct store *st, struct qr_slice data, const struct store_sse *sse,
                           uint64_t *out_id, struct crypt_env *env)
{
    struct crypt_stream cs;
    enum qr_err err = crypt_stream_begin(st->master, sse, &cs);
    if (err == QR_OK)
        err = write_blob(st, data, cs.env.mode != STORE_SSE_NONE ? &cs : NULL, out_id);
    *env = cs.env;
    crypt_stream_end(&cs);
    return err;
}

void blob_discard(struct store *st, uint64_t id)
{
    char fin[48], leaf[8];
    blob_relpath(id, false, fin);
    leaf_relpath(LEAF_OF(id), leaf);
    if (unlinkat(st->objects_fd, fin, 0) == 0)
        (void)fsync_at(st, leaf); /* failure only delays removal to the next open's probe */
    else if (errno != ENOENT)
        (void)io_fail("unlink", fin, errno);
    blob_settle(st, id);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Unlinks the final and temp files of ids; the ids whose files are surely gone (and
 * their directory synced) are appended to done. */
static void unlink_ids(struct store *st, uint64_t *ids, size_t n, struct id_vec *done)
{
    if (n == 0)
        return;
    qsort(ids, n, sizeof(*ids), cmp_u64);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        bool ok = true, any = false;
        /* ids with the same id>>8 share a leaf directory: one fsync for the group */
        for (; j < n && (ids[j] >> 8) == (ids[i] >> 8); j++) {
            char p[48];
            blob_relpath(ids[j], false, p);
            if (unlinkat(st->objects_fd, p, 0) == 0)
                any = true;
            else if (errno != ENOENT && errno != ENOTDIR) {
                (void)io_fail("unlink", p, errno); /* the gc row stays; open retries */
                ok = false;
            }
            blob_relpath(ids[j], true, p);
            if (unlinkat(st->objects_fd, p, 0) == 0)
                any = true;
        }
        if (any) {
            char leaf[8];
            leaf_relpath(LEAF_OF(ids[i]), leaf);
            ok = ok && fsync_at(st, leaf) == QR_OK;
        }
        if (ok) {
            for (size_t k = i; k < j; k++)
                id_vec_push(done, ids[k]);
        }
        i = j;
    }
}

void blob_unlink_freed(struct store *st)
{
    unlink_ids(st, st->freed.v, st->freed.n, &st->gc_done);
    st->freed.n = 0;
}

enum qr_err blob_persist_marks(struct store *st)
{
    uint64_t lwm, want = 0;

    pthread_mutex_lock(&st->blob_mu);
    lwm = st->blob_next;
    for (size_t i = 0; i < st->inflight.n; i++)
        if (st->inflight.v[i] < lwm)
            lwm = st->inflight.v[i];
    if (st->blob_reserved < st->blob_next + STORE_BLOB_CHUNK / 2)
        want = st->blob_next + STORE_BLOB_CHUNK;
    pthread_mutex_unlock(&st->blob_mu);

    enum qr_err err = meta_set(&st->wc, "blob_lwm", lwm);
    if (err == QR_OK && want)
        err = meta_set(&st->wc, "blob_reserved", want);
    st->pending_reserved = err == QR_OK ? want : 0;
    return err;
}

void blob_publish_marks(struct store *st)
{
    if (st->pending_reserved == 0)
        return;
    pthread_mutex_lock(&st->blob_mu);
    if (st->pending_reserved > st->blob_reserved)
        st->blob_reserved = st->pending_reserved;
    pthread_mutex_unlock(&st->blob_mu);
    st->pending_reserved = 0;
}

/* Parses "<16 hex>" or "<16 hex>.tmp". */
static bool parse_blob_name(const char *name, uint64_t *out_id, bool *out_tmp)
{
    uint64_t v = 0;
    size_t i;
    for (i = 0; i < 16; i++) {
        char c = name[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return false;
        v = (v << 4) | d;
    }
    if (name[16] == '\0')
        *out_tmp = false;
    else if (strcmp(name + 16, ".tmp") == 0)
        *out_tmp = true;
    else
        return false;
    *out_id = v;
    return true;
}

static enum qr_err blob_has_row(struct store *st, uint64_t id, bool *out)
{
    sqlite3_stmt *s = stmt_get(&st->wc, ST_BLOB_EXISTS);
    if (s == NULL)
        return QR_E_DB;
    sqlite3_bind_int64(s, 1, (int64_t)id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(st->wdb, "blob exists");
    *out = rc == SQLITE_ROW;
    return QR_OK;
}

/* Collects files of one leaf directory whose ids are in [lo, hi) and have no row. */
static enum qr_err probe_leaf(struct store *st, unsigned leaf, uint64_t lo, uint64_t hi,
                              struct id_vec *orphans)
{
    char rel[8];
    leaf_relpath(leaf, rel);
    int fd = openat(st->objects_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? QR_OK : io_fail("open dir", rel, errno);
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return io_fail("opendir", rel, errno);
    }
    enum qr_err err = QR_OK;
    bool unlinked = false;
    struct dirent *de;
    while (err == QR_OK && (de = readdir(d)) != NULL) {
        uint64_t id;
        bool tmp, has = false;
        if (!parse_blob_name(de->d_name, &id, &tmp) || id < lo || id >= hi)
            continue;
        if (tmp) {
            /* a write that never reached its rename */
            if (unlinkat(fd, de->d_name, 0) == 0)
                unlinked = true;
            continue;
        }
        err = blob_has_row(st, id, &has);
        if (err == QR_OK && !has)
            id_vec_push(orphans, id);
    }
    closedir(d);
    if (err == QR_OK && unlinked)
        err = fsync_at(st, rel);
    return err;
}

static enum qr_err recover_gc(struct store *st, struct id_vec *ids)
{
    sqlite3_stmt *s = stmt_get(&st->wc, ST_GC_ALL);
    if (s == NULL)
        return QR_E_DB;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        id_vec_push(ids, (uint64_t)sqlite3_column_int64(s, 0));
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(st->wdb, "gc scan");
    return QR_OK;
}

enum qr_err blob_recover(struct store *st)
{
    enum qr_err err;
    struct id_vec gc = {0}, orphans = {0}, done = {0};
    uint64_t lwm, reserved;
    bool in_txn = false;

    err = stmt_exec(&st->wc, ST_BEGIN_IMMEDIATE);
    if (err != QR_OK)
        goto out;
    in_txn = true;
    if ((err = meta_get(&st->wc, "blob_lwm", 1, &lwm)) != QR_OK ||
        (err = meta_get(&st->wc, "blob_reserved", 1, &reserved)) != QR_OK ||
        (err = recover_gc(st, &gc)) != QR_OK)
        goto out;

    /* 1. frees that committed but whose unlink may not have happened */
    unlink_ids(st, gc.v, gc.n, &done);
    for (size_t i = 0; i < done.n; i++) {
        sqlite3_stmt *s = stmt_get(&st->wc, ST_GC_DELETE);
        if (s == NULL) {
            err = QR_E_DB;
            goto out;
        }
        sqlite3_bind_int64(s, 1, (int64_t)done.v[i]);
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) {
            err = db_fail(st->wdb, "gc delete");
            goto out;
        }
    }

    /* 2. ids handed out but never settled: only [lwm, reserved) can hold them */
    if (lwm < 1)
        lwm = 1;
    if (reserved > lwm) {
        uint64_t first = lwm >> 8, last = (reserved - 1) >> 8;
        if (last - first >= STORE_LEAF_DIRS) {
            first = 0;
            last = STORE_LEAF_DIRS - 1;
        }
        for (uint64_t l = first; l <= last && err == QR_OK; l++)
            err = probe_leaf(st, (unsigned)(l & 0xffffu), lwm, reserved, &orphans);
        if (err != QR_OK)
            goto out;
        done.n = 0;
        unlink_ids(st, orphans.v, orphans.n, &done);
    }

    /* 3. restart the counter above everything that may have been handed out */
    if (reserved < 1)
        reserved = 1;
    if ((err = meta_set(&st->wc, "blob_lwm", reserved)) != QR_OK ||
        (err = meta_set(&st->wc, "blob_reserved", reserved + STORE_BLOB_CHUNK)) != QR_OK)
        goto out;
    err = stmt_exec(&st->wc, ST_COMMIT);
    if (err != QR_OK)
        goto out;
    in_txn = false;
    st->blob_next = reserved;
    st->blob_reserved = reserved + STORE_BLOB_CHUNK;
out:
    if (in_txn)
        (void)stmt_exec(&st->wc, ST_ROLLBACK); /* the error is already logged */
    id_vec_dispose(&gc);
    id_vec_dispose(&orphans);
    id_vec_dispose(&done);
    return err;
}

/* ---- streamed blobs: written as a request body arrives ---- */

/* Encrypted as blob_write_sse encrypts: a fresh data key and iv per blob (SSE-S3), or the
 * customer's key and a fresh iv (SSE-C), counter advancing with each piece's offset; the
 * envelope stays with the handle until the store adopts the blob (blob_stream_env). */
struct store_blob_stream {
    struct store *st;
    uint64_t id;
    int fd;         /* the temp file while writing, -1 after commit */
    bool committed; /* renamed to its final name */
    struct crypt_stream cs;
    uint8_t *scratch; /* SEAL_SCRATCH bytes of ciphertext (the caller's buffer is not ours
                         to change) */
    uint64_t written; /* bytes appended so far */
    uint64_t kicked;  /* writeback started for [0, kicked) */
};

/* A streamed blob's writeback is started every WRITEBACK_STEP bytes rather than left to
 * the final fsync: the disk then writes while the socket delivers the rest, the fsync at
 * commit has one step left to wait for, and what came before the step just started is
 * waited for, so a fast sender never holds more than two steps of dirty pages. */
#define WRITEBACK_STEP (8u << 20)

enum qr_err store_blob_stream_open(struct store *st, const struct store_sse *sse,
                                   struct store_blob_stream **out)
{
    char tmp[48];
    uint64_t id;
    struct crypt_stream cs;
    enum qr_err err = crypt_stream_begin(st->master, sse, &cs);
    if (err != QR_OK)
        return err;
    if ((err = blob_alloc(st, &id)) != QR_OK) {
        crypt_stream_end(&cs);
        return err;
    }
    if ((err = ensure_leaf(st, LEAF_OF(id))) != QR_OK) {
        blob_settle(st, id);
        crypt_stream_end(&cs);
        return err;
    }
    blob_relpath(id, true, tmp);
    int fd =
        openat(st->objects_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        blob_settle(st, id);
        crypt_stream_end(&cs);
        return io_fail("create", tmp, errno);
    }
    struct store_blob_stream *w = qr_xmalloc(sizeof(*w));
    w->st = st;
    w->id = id;
    w->fd = fd;
    w->committed = false;
    w->written = w->kicked = 0;
    w->cs = cs;
    crypt_stream_end(&cs); /* the copy in w is the one that lives on */
    w->scratch = cs.env.mode != STORE_SSE_NONE ? qr_xmalloc(SEAL_SCRATCH) : NULL;
    *out = w;
    return QR_OK;
}

enum qr_err store_blob_stream_write(struct store_blob_stream *w, const void *p, size_t n)
{
    if (w->fd < 0)
        return QR_E_INTERNAL;
    enum qr_err err = w->scratch == NULL ? write_all(w->fd, p, n)
                                         : write_sealed_piece(w->fd, p, n, &w->cs, w->scratch);
    if (err != QR_OK)
        return err;
    w->written += n;
    if (!w->st->no_fsync && w->written - w->kicked >= WRITEBACK_STEP) {
        /* Best effort: a failure here only leaves the work to the fsync at commit, which
         * reports it. */
        uint64_t before = w->kicked;
        (void)sync_file_range(w->fd, (off_t)before, (off_t)(w->written - before),
                              SYNC_FILE_RANGE_WRITE);
        if (before > 0)
            (void)sync_file_range(w->fd, 0, (off_t)before,
                                  SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                      SYNC_FILE_RANGE_WAIT_AFTER);
        w->kicked = w->written;
    }
    return QR_OK;
}

void blob_stream_env(const struct store_blob_stream *w, struct crypt_env *env)
{
    *env = w->cs.env;
}

enum qr_err store_blob_stream_read(const struct store_blob_stream *w, uint64_t off, void *buf,
                                   size_t n)
{
    int fd;
    enum qr_err err = store_blob_open(w->st, w->id, &fd);
    if (err != QR_OK)
        return err;
    uint8_t *p = buf;
    for (size_t got = 0; got < n;) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            err = io_fail("read", "streamed blob", r < 0 ? errno : EIO);
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (err == QR_OK && w->cs.env.mode != STORE_SSE_NONE)
        crypt_ctr(w->cs.key, w->cs.env.iv, off, buf, n);
    return err;
}

/* Wipes the data key and frees the handle. */
static void stream_free(struct store_blob_stream *w)
{
    crypt_stream_end(&w->cs);
    free(w->scratch); /* ciphertext only (write_sealed_piece) */
    free(w);
}

enum qr_err store_blob_stream_commit(struct store_blob_stream *w)
{
    char tmp[48], fin[48], leaf[8];
    struct store *st = w->st;
    blob_relpath(w->id, true, tmp);
    blob_relpath(w->id, false, fin);
    leaf_relpath(LEAF_OF(w->id), leaf);
    if (w->fd < 0)
        return QR_E_INTERNAL;
    int fd = w->fd;
    w->fd = -1;
    if (!st->no_fsync && fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return io_fail("fsync", tmp, e);
    }
    if (close(fd) != 0)
        return io_fail("close", tmp, errno);
    if (renameat(st->objects_fd, tmp, st->objects_fd, fin) != 0)
        return io_fail("rename", tmp, errno);
    w->committed = true;
    return fsync_at(st, leaf);
}

uint64_t store_blob_stream_id(const struct store_blob_stream *w)
{
    return w->id;
}

void store_blob_stream_abort(struct store_blob_stream *w)
{
    char path[48];
    if (w->fd >= 0)
        close(w->fd);
    blob_relpath(w->id, !w->committed, path);
    /* No directory fsync: an unlink lost in a crash leaves a file without a row inside
     * [blob_lwm, blob_reserved), which the next open removes. */
    if (unlinkat(w->st->objects_fd, path, 0) != 0 && errno != ENOENT)
        (void)io_fail("unlink", path, errno);
    blob_settle(w->st, w->id);
    stream_free(w);
}

void store_blob_stream_release(struct store_blob_stream *w)
{
    stream_free(w);
}
