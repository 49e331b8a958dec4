/*
 * walbuf.c - a VFS for the writer connection that gathers its WAL writes and hands them
 * to the kernel in one write per commit.
 *
 * SQLite writes each WAL frame with two pwrite calls (its 24-byte header, then the page),
 * and a frame is 4,120 bytes, so the frames of one commit are ~2 system calls and ~3
 * page-cache page updates each: a third of the writer thread's CPU on 4 KiB PUTs, spent
 * on the one thread every write waits for. Here the WAL's appends collect in a buffer
 * and go out in few large writes: at the sync of the commit, or before anything could need
 * them on disk or in the file: a read or truncate of the WAL, its size, a file-control,
 * a write elsewhere in the file, a full buffer, its close, and the commit's publication
 * in the shared-memory index (the main database file's xShmBarrier, which SQLite calls
 * between the two copies of the index header it writes at every commit: no other
 * connection can see the new frames before they are in the file, fsync or not).
 *
 * Everything else is the default VFS's: the main database and the WAL are the default
 * VFS's files inside a thin wrapper, so locks, shared memory and syncs are unchanged.
 * Only the writer connection opens through this VFS; readers and the checkpointer do not
 * write frames.
 */
#include "store/store_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define WALBUF_VFS_NAME "quarry-walbuf"
#define WALBUF_CAP      (1024u * 1024u) /* bytes gathered before a write goes out anyway */
#define WALBUF_PIECE    (124u * 1024u)  /* one write's bytes: under the default VFS's 128 KiB */

struct wb_file {
    sqlite3_file base;   /* pMethods: wb_db_methods or wb_wal_methods */
    sqlite3_file *real;  /* the default VFS's file, right after this struct */
    struct wb_file *wal; /* main database: its open WAL (for xShmBarrier), or NULL */
    struct wb_file *db;  /* WAL: its main database's wrapper */
    uint8_t *buf;        /* WAL: gathered bytes for [buf_off, buf_off + buf_len) */
    sqlite3_int64 buf_off;
    size_t buf_len;
};

static sqlite3_vfs *g_real;
static sqlite3_vfs g_vfs;

/* Writes the gathered bytes out, in pieces the default VFS takes whole (its unixWrite
 * masks a write's length to 17 bits); the buffer is empty after, whatever happened. */
static int wal_flush(struct wb_file *f)
{
    int rc = SQLITE_OK;
    for (size_t done = 0; done < f->buf_len && rc == SQLITE_OK;) {
        size_t n = f->buf_len - done < WALBUF_PIECE ? f->buf_len - done : WALBUF_PIECE;
        rc = f->real->pMethods->xWrite(f->real, f->buf + done, (int)n,
                                       f->buf_off + (sqlite3_int64)done);
        done += n;
    }
    f->buf_len = 0;
    return rc;
}

#define REAL(f) (((struct wb_file *)(f))->real)

/* ---- pass-through methods (main database, and the WAL's unbuffered ones) ---- */

static int wb_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int wb_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int wb_check_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int wb_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int wb_device_chars(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int wb_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}
static int wb_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static int wb_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int wb_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}
static int wb_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static int db_close(sqlite3_file *f)
{
    struct wb_file *d = (struct wb_file *)f;
    if (d->wal) /* SQLite closes the WAL first; never leave it pointing here anyway */
        d->wal->db = NULL;
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int db_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}
static int db_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}
static int db_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int db_sync(sqlite3_file *f, int flags)
{
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int db_file_size(sqlite3_file *f, sqlite3_int64 *out)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), out);
}
static int db_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
/* The commit's publication point: the WAL's frames reach the file before the index
 * header that makes them visible does. With synchronous=FULL the commit's sync has
 * already written them (and reported any error); this matters without fsync. A write
 * that fails here keeps its bytes for the next operation on the WAL to retry and report
 * (this method cannot return an error). */
static void db_shm_barrier(sqlite3_file *f)
{
    struct wb_file *d = (struct wb_file *)f;
    if (d->wal && d->wal->buf_len) {
        struct wb_file *w = d->wal;
        size_t len = w->buf_len;
        if (wal_flush(w) != SQLITE_OK)
            w->buf_len = len; /* kept: the next operation on the WAL writes it again */
    }
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static const sqlite3_io_methods wb_db_methods = {
    3,
    db_close,
    db_read,
    db_write,
    db_truncate,
    db_sync,
    db_file_size,
    wb_lock,
    wb_unlock,
    wb_check_reserved,
    db_file_control,
    wb_sector_size,
    wb_device_chars,
    wb_shm_map,
    wb_shm_lock,
    db_shm_barrier,
    wb_shm_unmap,
    wb_fetch,
    wb_unfetch,
};

/* ---- the WAL ---- */

static int wal_close(sqlite3_file *f)
{
    struct wb_file *w = (struct wb_file *)f;
    int rc = wal_flush(w);
    int rc2 = w->real->pMethods->xClose(w->real);
    if (w->db && w->db->wal == w)
        w->db->wal = NULL;
    free(w->buf);
    w->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    struct wb_file *w = (struct wb_file *)f;
    if (w->buf_len && off < w->buf_off + (sqlite3_int64)w->buf_len && off + n > w->buf_off) {
        int rc = wal_flush(w);
        if (rc != SQLITE_OK)
            return rc;
    }
    return w->real->pMethods->xRead(w->real, p, n, off);
}

static int wal_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    struct wb_file *w = (struct wb_file *)f;
    if (n <= 0)
        return w->real->pMethods->xWrite(w->real, p, n, off);
    bool appends = w->buf_len > 0 && off == w->buf_off + (sqlite3_int64)w->buf_len;
    if (!appends || w->buf_len + (size_t)n > WALBUF_CAP) {
        int rc = wal_flush(w);
        if (rc != SQLITE_OK)
            return rc;
        if ((size_t)n > WALBUF_PIECE)
            return w->real->pMethods->xWrite(w->real, p, n, off);
        w->buf_off = off;
    }
    memcpy(w->buf + w->buf_len, p, (size_t)n);
    w->buf_len += (size_t)n;
    return SQLITE_OK;
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    struct wb_file *w = (struct wb_file *)f;
    int rc = wal_flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
    struct wb_file *w = (struct wb_file *)f;
    int rc = wal_flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *out)
{
    struct wb_file *w = (struct wb_file *)f;
    int rc = wal_flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, out);
}

static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
    struct wb_file *w = (struct wb_file *)f;
    int rc = wal_flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileControl(w->real, op, arg);
}

static void wal_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static const sqlite3_io_methods wb_wal_methods = {
    3,
    wal_close,
    wal_read,
    wal_write,
    wal_truncate,
    wal_sync,
    wal_file_size,
    wb_lock,
    wb_unlock,
    wb_check_reserved,
    wal_file_control,
    wb_sector_size,
    wb_device_chars,
    wb_shm_map,
    wb_shm_lock,
    wal_shm_barrier,
    wb_shm_unmap,
    wb_fetch,
    wb_unfetch,
};

/* ---- the VFS ---- */

static int wb_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags,
                   int *out_flags)
{
    struct wb_file *f = (struct wb_file *)file;
    bool main_db = flags & SQLITE_OPEN_MAIN_DB, wal = flags & SQLITE_OPEN_WAL;
    if (!main_db && !wal) /* temp files and the like: the default VFS's own, unwrapped */
        return g_real->xOpen(g_real, name, file, flags, out_flags);
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)(f + 1);
    if (wal && (f->buf = malloc(WALBUF_CAP)) == NULL)
        return SQLITE_NOMEM;
    int rc = g_real->xOpen(g_real, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK || f->real->pMethods == NULL) {
        free(f->buf);
        f->buf = NULL;
        f->base.pMethods = NULL; /* SQLite calls no xClose on a file whose open failed */
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    f->base.pMethods = wal ? &wb_wal_methods : &wb_db_methods;
    if (wal) {
        /* the main database's file object, which this VFS opened: linked both ways, so
         * its xShmBarrier can publish this WAL's frames */
        struct wb_file *d = (struct wb_file *)sqlite3_database_file_object(name);
        if (d && d->base.pMethods == &wb_db_methods) {
            f->db = d;
            d->wal = f;
        }
    }
    return SQLITE_OK;
}

static int wb_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    return g_real->xDelete(g_real, name, sync_dir);
}
static int wb_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    return g_real->xAccess(g_real, name, flags, out);
}
static int wb_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    return g_real->xFullPathname(g_real, name, n, out);
}
static void *wb_dlopen(sqlite3_vfs *v, const char *name)
{
    return g_real->xDlOpen(g_real, name);
}
static void wb_dlerror(sqlite3_vfs *v, int n, char *out)
{
    g_real->xDlError(g_real, n, out);
}
static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    return g_real->xDlSym(g_real, h, sym);
}
static void wb_dlclose(sqlite3_vfs *v, void *h)
{
    g_real->xDlClose(g_real, h);
}
static int wb_randomness(sqlite3_vfs *v, int n, char *out)
{
    return g_real->xRandomness(g_real, n, out);
}
static int wb_sleep(sqlite3_vfs *v, int us)
{
    return g_real->xSleep(g_real, us);
}
static int wb_current_time(sqlite3_vfs *v, double *out)
{
    return g_real->xCurrentTime(g_real, out);
}
static int wb_last_error(sqlite3_vfs *v, int n, char *out)
{
    return g_real->xGetLastError(g_real, n, out);
}
static int wb_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    return g_real->xCurrentTimeInt64(g_real, out);
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_registered = SQLITE_ERROR;

static void walbuf_register(void)
{
    g_real = sqlite3_vfs_find(NULL);
    if (g_real == NULL || g_real->iVersion < 2)
        return;
    g_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct wb_file) + g_real->szOsFile,
        .mxPathname = g_real->mxPathname,
        .zName = WALBUF_VFS_NAME,
        .xOpen = wb_open,
        .xDelete = wb_delete,
        .xAccess = wb_access,
        .xFullPathname = wb_full_pathname,
        .xDlOpen = wb_dlopen,
        .xDlError = wb_dlerror,
        .xDlSym = wb_dlsym,
        .xDlClose = wb_dlclose,
        .xRandomness = wb_randomness,
        .xSleep = wb_sleep,
        .xCurrentTime = wb_current_time,
        .xGetLastError = wb_last_error,
        .xCurrentTimeInt64 = wb_current_time64,
    };
    g_registered = sqlite3_vfs_register(&g_vfs, 0);
}

const char *walbuf_vfs(void)
{
    pthread_once(&g_once, walbuf_register);
    return g_registered == SQLITE_OK ? WALBUF_VFS_NAME : NULL;
}
