/*
 * qr_durability_shim.c - LD_PRELOAD library that logs, in order, the events a durable
 * PUT is made of: fsync/fdatasync (with the file's path), rename/renameat/renameat2/
 * linkat (both paths), and every write/writev/send/sendto/sendmsg on a socket (with the
 * first bytes of data, so a test can tell "HTTP/1.1 100" from "HTTP/1.1 200").
 *
 * Each event is one line appended to the file named by QR_DURABILITY_LOG with a single
 * write(2) on an O_APPEND descriptor, so lines from many threads (and from the test
 * process, which writes MARK lines into the same file) never interleave and their file
 * order is the order in which they happened. Syncs and renames are logged after they
 * return (so a logged sync is complete); socket writes are logged before they start (so
 * a logged response was not on the wire earlier). Read by durability_check.py.
 *
 * Line: ns \t pid \t tid \t event \t fd \t ret \t path \t path2 \t data
 * (paths and data percent-escape bytes outside 0x21..0x7e and '%').
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define DATA_PREFIX 16

static int log_fd = -1; /* -2: logging disabled (no QR_DURABILITY_LOG) */

static int get_log_fd(void)
{
    int fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);
    if (fd != -1)
        return fd;
    const char *path = getenv("QR_DURABILITY_LOG");
    int nfd = -2;
    if (path != NULL && path[0] != '\0') {
        nfd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                           0644);
        if (nfd < 0)
            nfd = -2;
    }
    int expected = -1;
    if (!__atomic_compare_exchange_n(&log_fd, &expected, nfd, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        if (nfd >= 0) /* another thread won the race */
            syscall(SYS_close, nfd);
        return expected;
    }
    return nfd;
}

/* Appends s[0..n) to out at *pos, escaping; never writes past cap. */
static void put_escaped(char *out, size_t cap, size_t *pos, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c > 0x20 && c < 0x7f && c != '%') {
            if (*pos + 1 >= cap)
                return;
            out[(*pos)++] = (char)c;
        } else {
            if (*pos + 3 >= cap)
                return;
            out[(*pos)++] = '%';
            out[(*pos)++] = hex[c >> 4];
            out[(*pos)++] = hex[c & 15];
        }
    }
}

static void put_raw(char *out, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (*pos + n >= cap)
        n = cap - *pos - 1;
    memcpy(out + *pos, s, n);
    *pos += n;
}

static void log_event(const char *event, int fd, long ret, const char *path, const char *path2,
                      const void *data, size_t data_len)
{
    int lfd = get_log_fd();
    if (lfd < 0)
        return;
    int saved = errno;
    char line[3 * PATH_MAX + 256];
    size_t pos = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char head[160];
    snprintf(head, sizeof head, "%lld\t%ld\t%ld\t%s\t%d\t%ld\t",
             (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (long)getpid(),
             (long)syscall(SYS_gettid), event, fd, ret);
    put_raw(line, sizeof line, &pos, head);
    if (path != NULL)
        put_escaped(line, sizeof line, &pos, (const unsigned char *)path, strlen(path));
    put_raw(line, sizeof line, &pos, "\t");
    if (path2 != NULL)
        put_escaped(line, sizeof line, &pos, (const unsigned char *)path2, strlen(path2));
    put_raw(line, sizeof line, &pos, "\t");
    if (data != NULL)
        put_escaped(line, sizeof line, &pos, data, data_len < DATA_PREFIX ? data_len : DATA_PREFIX);
    line[pos++] = '\n';
    syscall(SYS_write, lfd, line, pos);
    errno = saved;
}

static void fd_path(int fd, char *out, size_t cap)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, cap - 1);
    if (n < 0)
        n = 0;
    out[n] = '\0';
}

/* Absolute form of (dirfd, path) as the kernel will resolve it, for the log. */
static void at_path(int dirfd, const char *path, char *out, size_t cap)
{
    if (path == NULL) {
        out[0] = '\0';
        return;
    }
    if (path[0] == '/') {
        snprintf(out, cap, "%s", path);
        return;
    }
    char base[PATH_MAX];
    if (dirfd == AT_FDCWD) {
        if (getcwd(base, sizeof base) == NULL)
            base[0] = '\0';
    } else {
        fd_path(dirfd, base, sizeof base);
    }
    snprintf(out, cap, "%s/%s", base, path);
}

static int is_socket(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* The next definition of name (libc's), looked up once. */
#define REAL(name)                                                                                 \
    static __typeof__(&name) real_##name;                                                          \
    if (real_##name == NULL)                                                                       \
        real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name);

/* ---- syncs: logged after they return ---- */

int fsync(int fd)
{
    REAL(fsync);
    int r = real_fsync(fd);
    char p[PATH_MAX];
    fd_path(fd, p, sizeof p);
    log_event("fsync", fd, r, p, NULL, NULL, 0);
    return r;
}

int fdatasync(int fd)
{
    REAL(fdatasync);
    int r = real_fdatasync(fd);
    char p[PATH_MAX];
    fd_path(fd, p, sizeof p);
    log_event("fdatasync", fd, r, p, NULL, NULL, 0);
    return r;
}

/* ---- renames: logged after they return ---- */

int rename(const char *oldpath, const char *newpath)
{
    REAL(rename);
    char a[PATH_MAX], b[PATH_MAX];
    at_path(AT_FDCWD, oldpath, a, sizeof a);
    at_path(AT_FDCWD, newpath, b, sizeof b);
    int r = real_rename(oldpath, newpath);
    log_event("rename", -1, r, a, b, NULL, 0);
    return r;
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    REAL(renameat);
    char a[PATH_MAX], b[PATH_MAX];
    at_path(olddirfd, oldpath, a, sizeof a);
    at_path(newdirfd, newpath, b, sizeof b);
    int r = real_renameat(olddirfd, oldpath, newdirfd, newpath);
    log_event("renameat", olddirfd, r, a, b, NULL, 0);
    return r;
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
              unsigned int flags)
{
    REAL(renameat2);
    char a[PATH_MAX], b[PATH_MAX];
    at_path(olddirfd, oldpath, a, sizeof a);
    at_path(newdirfd, newpath, b, sizeof b);
    int r = real_renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
    log_event("renameat2", olddirfd, r, a, b, NULL, 0);
    return r;
}

int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
    REAL(linkat);
    char a[PATH_MAX], b[PATH_MAX];
    if ((flags & AT_EMPTY_PATH) && oldpath[0] == '\0')
        fd_path(olddirfd, a, sizeof a);
    else
        at_path(olddirfd, oldpath, a, sizeof a);
    at_path(newdirfd, newpath, b, sizeof b);
    int r = real_linkat(olddirfd, oldpath, newdirfd, newpath, flags);
    log_event("linkat", olddirfd, r, a, b, NULL, 0);
    return r;
}

/* ---- socket writes: logged before they start ---- */

ssize_t write(int fd, const void *buf, size_t count)
{
    REAL(write);
    if (is_socket(fd))
        log_event("sockwrite", fd, (long)count, NULL, NULL, buf, count);
    return real_write(fd, buf, count);
}

static void log_iov(const char *event, int fd, const struct iovec *iov, int iovcnt)
{
    size_t total = 0;
    const void *first = NULL;
    size_t first_len = 0;
    for (int i = 0; i < iovcnt; i++) {
        total += iov[i].iov_len;
        if (first == NULL && iov[i].iov_len > 0) {
            first = iov[i].iov_base;
            first_len = iov[i].iov_len;
        }
    }
    log_event(event, fd, (long)total, NULL, NULL, first, first_len);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    REAL(writev);
    if (is_socket(fd))
        log_iov("sockwritev", fd, iov, iovcnt);
    return real_writev(fd, iov, iovcnt);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    REAL(send);
    log_event("send", fd, (long)len, NULL, NULL, buf, len);
    return real_send(fd, buf, len, flags);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
               socklen_t addrlen)
{
    REAL(sendto);
    log_event("sendto", fd, (long)len, NULL, NULL, buf, len);
    return real_sendto(fd, buf, len, flags, addr, addrlen);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    REAL(sendmsg);
    log_iov("sendmsg", fd, msg->msg_iov, (int)msg->msg_iovlen);
    return real_sendmsg(fd, msg, flags);
}
