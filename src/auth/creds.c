/*
 * creds.c - the credential store: the root key pair, and stateless temporary
 * credentials derived from a 32-byte server key kept in DATA/keys/server.key.
 *
 * A temporary access key id is a prefix ("QRS" for S3 Express sessions, "ASIA" for role
 * and user sessions) + base32(version, kind, mode, expiry in ms, 4 random bytes, 10-byte
 * MAC): the MAC makes a forged or altered id unknown (QR_E_NO_SUCH_ACCESS_KEY) before
 * anything else is looked at. The token is base64url(payload) "." base64url(MAC over id
 * and payload), so a session needs no row anywhere and survives a restart; the secret is
 * a third MAC over the same bytes. Three keys derived from the server key separate the
 * three uses.
 *
 * Payload format 1 (id version 1, still accepted until those tokens expire): scope length,
 * scope, principal length (1 byte: principals of at most 127 bytes), principal.
 * Format 2 (id version 2): issue time (8 bytes), scope length (1), scope, principal length
 * (2), principal, policy length (2), policy. The scope is the bucket of an S3 Express
 * session, the function of a function session, the RoleSessionName of a role session.
 *
 * Expiry is checked against the id's expiry and capped again when checking: a token that
 * claims to live longer than STS ever grants is refused even if its MAC is good (a stolen
 * server key must not mint credentials until 2100). Function sessions are MACed with a key
 * that also depends on a random value of this process: they end with the process whose
 * function instances held them, and creds_revoke_function ends them at DeleteFunction.
 *
 * Everything but the revocation list is immutable after creds_new; that list has its own
 * mutex (a leaf lock), taken only for function credentials. The server key never leaves
 * this file; derived keys are wiped in creds_free.
 */
#include "auth/creds.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>

#include "util/buf.h"
#include "util/ckd.h"

#define SERVER_KEY_LEN    32
#define AKID_PREFIX       "QRS"
#define AKID_PREFIX_LEN   3
#define STS_PREFIX        "ASIA"
#define STS_PREFIX_LEN    4
#define AKID_RAW_LEN      25 /* bytes before base32 */
#define AKID_B32_LEN      40 /* 25 bytes -> 40 base32 chars, no padding */
#define AKID_MAC_LEN      10
#define AKID_VERSION_1    1
#define AKID_VERSION      2
#define SESSION_MAX_TTL_S (36u * 3600u) /* the longest STS allows */
#define TOKEN_MAC_LEN     32
#define SECRET_RAW_LEN    30                 /* -> 40 base64 chars, as AWS secrets */
#define FUNCTION_MAX      64u                /* function name, the scope of its session */
#define PAYLOAD_MAX_V1    (1 + 64 + 1 + 127) /* scope + principal, length-prefixed */
#define PAYLOAD_MAX       (8 + 1 + 64 + 2 + CREDS_MAX_PRINCIPAL + 2 + CREDS_MAX_POLICY)
#define MAC_MSG_MAX       (160 + PAYLOAD_MAX)

/* Byte offsets inside the raw access key id. */
enum akid_off {
    AKID_OFF_VERSION = 0,
    AKID_OFF_KIND = 1,
    AKID_OFF_MODE = 2,
    AKID_OFF_EXPIRES = 3, /* int64 ms, big-endian */
    AKID_OFF_NONCE = 11,  /* 4 random bytes: ids differ per session */
    AKID_OFF_MAC = 15,
};

struct creds {
    char root_akid[129];   /* the root access key id */
    char root_secret[128]; /* its secret; wiped in creds_free */
    size_t root_secret_len;
    uint8_t k_akid[32];         /* MAC key for access key ids */
    uint8_t k_token[32];        /* MAC key for session tokens */
    uint8_t k_secret[32];       /* derives session secrets */
    uint8_t k_fn[32];           /* MAC key for function session tokens: k_token and a random
                                   value of this process, so they end with it */
    pthread_mutex_t mu;         /* guards revoked, n_revoked (a leaf lock) */
    struct revoked_fn *revoked; /* functions deleted in this process, growable */
    size_t n_revoked, cap_revoked;
};

/* A function deleted at at_ms: its credentials minted up to then are refused. */
struct revoked_fn {
    char name[65];
    int64_t at_ms;
};

static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char B64STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- encodings ----------------------------------------------------------------------- */

/* n must be a multiple of 5; out holds 8n/5 chars plus NUL. */
static void b32_encode(const uint8_t *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 5) {
        uint64_t v = 0;
        for (size_t k = 0; k < 5; k++)
            v = v << 8 | p[i + k];
        for (int k = 7; k >= 0; k--)
            out[o++] = B32[(v >> (5 * k)) & 31];
    }
    out[o] = '\0';
}

static int b32_val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

/* len must be a multiple of 8; writes 5*len/8 bytes. */
static bool b32_decode(const uint8_t *s, size_t len, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = 0;
        for (size_t k = 0; k < 8; k++) {
            int d = b32_val(s[i + k]);
            if (d < 0)
                return false;
            v = v << 5 | (uint64_t)d;
        }
        for (int k = 4; k >= 0; k--)
            out[o++] = (uint8_t)(v >> (8 * k));
    }
    return true;
}

/* Unpadded base64 with the given alphabet; out holds 4*ceil(n/3)+1. Returns the length. */
static size_t b64_encode(const char *alpha, const uint8_t *p, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
        out[o++] = alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64url_val(uint8_t c)
{
    const char *p = c ? memchr(B64URL, c, 64) : NULL;
    return p ? (int)(p - B64URL) : -1;
}

/* Strict unpadded base64url decode into out (max bytes); false on any bad input. Trailing
 * bits that do not form a byte must be zero, so each value has exactly one encoding. */
static bool b64url_decode(struct qr_slice s, uint8_t *out, size_t max, size_t *out_len)
{
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    if (s.len % 4 == 1)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        int d = b64url_val(s.p[i]);
        if (d < 0)
            return false;
        acc = (acc << 6 | (uint32_t)d) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == max)
                return false;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits && (acc & ((1u << bits) - 1)) != 0)
        return false;
    *out_len = o;
    return true;
}

/* ---- MACs ---------------------------------------------------------------------------- */

static void mac3(const uint8_t key[32], const void *a, size_t alen, const void *b, size_t blen,
                 uint8_t out[32])
{
    /* HMAC(key, a || 0x00 || b): the separator keeps (a, b) splits apart. */
    uint8_t msg[MAC_MSG_MAX];
    unsigned int n = 32;
    size_t len = alen + 1 + blen;
    if (len > sizeof(msg))
        abort(); /* callers pass fixed-size ids and payloads below this bound */
    memcpy(msg, a, alen);
    msg[alen] = 0;
    if (blen)
        memcpy(msg + alen + 1, b, blen);
    HMAC(EVP_sha256(), key, 32, msg, len, out, &n);
}

/* ---- the server key file ------------------------------------------------------------- */

static enum qr_err read_key(const char *path, uint8_t key[SERVER_KEY_LEN])
{
    enum qr_err err = QR_E_IO;
    struct stat st;
    uint8_t extra;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return QR_E_IO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != SERVER_KEY_LEN)
        goto out;
    size_t got = 0;
    while (got < SERVER_KEY_LEN) {
        ssize_t r = read(fd, key + got, SERVER_KEY_LEN - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    if (read(fd, &extra, 1) != 0)
        goto out;
    err = QR_OK;
out:
    close(fd);
    return err;
}

static enum qr_err fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return QR_E_IO;
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? QR_OK : QR_E_IO;
}

/* Writes a fresh key to tmp, fsyncs it, and links it into place. link() rather than
 * rename(): two processes starting on the same empty directory must not each install a
 * key and hand out sessions the other cannot read; the loser reads the winner's key. */
static enum qr_err create_key(const char *dir, const char *path, uint8_t key[SERVER_KEY_LEN])
{
    char tmp[PATH_MAX];
    enum qr_err err = QR_E_IO;
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return QR_E_IO;
    if (RAND_bytes(key, SERVER_KEY_LEN) != 1)
        return QR_E_INTERNAL;
    (void)unlink(tmp); /* a leftover from a crash of an earlier process with our pid */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return QR_E_IO;
    size_t put = 0;
    while (put < SERVER_KEY_LEN) {
        ssize_t w = write(fd, key + put, SERVER_KEY_LEN - put);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        put += (size_t)w;
    }
    bool ok = put == SERVER_KEY_LEN && fsync(fd) == 0;
    if (close(fd) != 0)
        ok = false;
    if (!ok)
        goto out;
    if (link(tmp, path) != 0) {
        if (errno != EEXIST)
            goto out;
        OPENSSL_cleanse(key, SERVER_KEY_LEN);
        err = read_key(path, key); /* another process won */
        goto out;
    }
    err = fsync_dir(dir);
out:
    (void)unlink(tmp); /* the key lives on under its final name, or not at all */
    if (err != QR_OK)
        OPENSSL_cleanse(key, SERVER_KEY_LEN);
    return err;
}

static enum qr_err load_server_key(const char *data_dir, uint8_t key[SERVER_KEY_LEN])
{
    char dir[PATH_MAX], path[PATH_MAX];
    int n = snprintf(dir, sizeof(dir), "%s/keys", data_dir);
    if (n < 0 || (size_t)n >= sizeof(dir))
        return QR_E_IO;
    n = snprintf(path, sizeof(path), "%s/server.key", dir);
    if (n < 0 || (size_t)n >= sizeof(path))
        return QR_E_IO;
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST)
        return QR_E_IO;
    if (mkdir(dir, 0700) != 0) {
        if (errno != EEXIST)
            return QR_E_IO;
    } else if (fsync_dir(data_dir) != QR_OK) {
        return QR_E_IO;
    }
    if (access(path, F_OK) == 0)
        return read_key(path, key);
    if (errno != ENOENT)
        return QR_E_IO;
    return create_key(dir, path, key);
}

/* ---- public API ---------------------------------------------------------------------- */

enum qr_err creds_new(const char *data_dir, const char *root_akid, const char *root_secret,
                      struct creds **out)
{
    uint8_t key[SERVER_KEY_LEN];
    struct creds *c;
    enum qr_err err;

    if (!data_dir || !data_dir[0] || !root_akid || !root_secret)
        return QR_E_BAD_INPUT;
    size_t alen = strlen(root_akid), slen = strlen(root_secret);
    if (alen == 0 || alen > 128 || slen == 0 || slen >= sizeof(c->root_secret))
        return QR_E_BAD_INPUT;
    err = load_server_key(data_dir, key);
    if (err != QR_OK)
        return err;
    c = qr_xmalloc(sizeof(*c));
    memset(c, 0, sizeof(*c));
    memcpy(c->root_akid, root_akid, alen + 1);
    memcpy(c->root_secret, root_secret, slen + 1);
    c->root_secret_len = slen;
    mac3(key, "quarry creds akid", 17, "v1", 2, c->k_akid);
    mac3(key, "quarry creds token", 18, "v1", 2, c->k_token);
    mac3(key, "quarry creds secret", 19, "v1", 2, c->k_secret);
    OPENSSL_cleanse(key, sizeof(key));
    uint8_t boot[32];
    if (RAND_bytes(boot, sizeof(boot)) != 1) {
        creds_free(c);
        return QR_E_INTERNAL;
    }
    mac3(c->k_token, "quarry creds function", 21, boot, sizeof(boot), c->k_fn);
    OPENSSL_cleanse(boot, sizeof(boot));
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return QR_OK;
}

void creds_free(struct creds *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c->revoked);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

static bool bucket_ok(struct qr_slice b)
{
    if (b.len == 0 || b.len > 63)
        return false;
    for (size_t i = 0; i < b.len; i++) {
        uint8_t ch = b.p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
            return false;
    }
    return true;
}

static bool principal_ok(const char *p, size_t len)
{
    if (len == 0 || len > CREDS_MAX_PRINCIPAL)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((uint8_t)p[i] < 0x20 || (uint8_t)p[i] == 0x7f)
            return false;
    return true;
}

/* The session secret: base64(first 30 bytes of HMAC(k_secret, akid || 0 || payload)). */
static void session_secret(const struct creds *c, const char *akid, const uint8_t *payload,
                           size_t plen, char out[41])
{
    uint8_t mac[32];
    mac3(c->k_secret, akid, strlen(akid), payload, plen, mac);
    b64_encode(B64STD, mac, SECRET_RAW_LEN, out);
    OPENSSL_cleanse(mac, sizeof(mac));
}

static bool name_chars_ok(const char *f, size_t len, size_t min, size_t max, const char *extra)
{
    if (len < min || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = f[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || (ch && strchr(extra, ch))))
            return false;
    }
    return true;
}

static const uint8_t *token_key(const struct creds *c, enum creds_kind kind)
{
    return kind == CREDS_FUNCTION ? c->k_fn : c->k_token;
}

/* What a session carries besides kind, mode and lifetime. */
struct mint_in {
    enum creds_kind kind;
    enum creds_mode mode;
    struct qr_slice scope;  /* bucket, function, session name; may be empty */
    const char *principal;  /* the ARN (or "root") the session acts for */
    struct qr_slice policy; /* session policy, may be empty */
};

/* The format-2 payload of m issued at now_ms into payload; its length. */
static size_t build_payload(const struct mint_in *m, size_t prlen, int64_t now_ms, uint8_t *payload)
{
    size_t plen = 0;
    for (int i = 0; i < 8; i++)
        payload[plen++] = (uint8_t)((uint64_t)now_ms >> (56 - 8 * i));
    payload[plen++] = (uint8_t)m->scope.len;
    if (m->scope.len)
        memcpy(payload + plen, m->scope.p, m->scope.len);
    plen += m->scope.len;
    payload[plen++] = (uint8_t)(prlen >> 8);
    payload[plen++] = (uint8_t)prlen;
    memcpy(payload + plen, m->principal, prlen);
    plen += prlen;
    payload[plen++] = (uint8_t)(m->policy.len >> 8);
    payload[plen++] = (uint8_t)m->policy.len;
    if (m->policy.len)
        memcpy(payload + plen, m->policy.p, m->policy.len);
    return plen + m->policy.len;
}

static enum qr_err mint(const struct creds *c, const struct mint_in *m, int64_t now_ms,
                        uint32_t ttl_s, struct creds_session *out)
{
    uint8_t raw[AKID_RAW_LEN], mac[32];
    struct creds_session *s;
    int64_t expires;

    if (!m->principal || ttl_s == 0 || ttl_s > SESSION_MAX_TTL_S ||
        (m->mode != CREDS_READ_WRITE && m->mode != CREDS_READ_ONLY) || now_ms < 0 ||
        qr_add_overflow(now_ms, (int64_t)ttl_s * 1000, &expires) || m->scope.len > 64 ||
        m->policy.len > CREDS_MAX_POLICY)
        return QR_E_BAD_INPUT;
    size_t prlen = strlen(m->principal);
    if (!principal_ok(m->principal, prlen))
        return QR_E_BAD_INPUT;

    uint8_t *payload = qr_xmalloc(PAYLOAD_MAX);
    s = qr_xmalloc(sizeof(*s));
    memset(s, 0, sizeof(*s));
    raw[AKID_OFF_VERSION] = AKID_VERSION;
    raw[AKID_OFF_KIND] = (uint8_t)m->kind;
    raw[AKID_OFF_MODE] = (uint8_t)m->mode;
    for (int i = 0; i < 8; i++)
        raw[AKID_OFF_EXPIRES + i] = (uint8_t)((uint64_t)expires >> (56 - 8 * i));
    if (RAND_bytes(raw + AKID_OFF_NONCE, AKID_OFF_MAC - AKID_OFF_NONCE) != 1) {
        free(payload);
        free(s);
        return QR_E_INTERNAL;
    }
    mac3(c->k_akid, raw, AKID_OFF_MAC, "akid", 4, mac);
    memcpy(raw + AKID_OFF_MAC, mac, AKID_MAC_LEN);
    bool sts = m->kind != CREDS_S3EXPRESS;
    size_t pl = sts ? STS_PREFIX_LEN : AKID_PREFIX_LEN;
    memcpy(s->akid, sts ? STS_PREFIX : AKID_PREFIX, pl);
    b32_encode(raw, sizeof(raw), s->akid + pl);

    size_t plen = build_payload(m, prlen, now_ms, payload);
    size_t tl = b64_encode(B64URL, payload, plen, s->token);
    s->token[tl++] = '.';
    mac3(token_key(c, m->kind), s->akid, strlen(s->akid), payload, plen, mac);
    b64_encode(B64URL, mac, TOKEN_MAC_LEN, s->token + tl);
    session_secret(c, s->akid, payload, plen, s->secret);
    s->expires_ms = expires;
    OPENSSL_cleanse(mac, sizeof(mac));
    *out = *s;
    OPENSSL_cleanse(s, sizeof(*s));
    OPENSSL_cleanse(payload, PAYLOAD_MAX);
    free(s);
    free(payload);
    return QR_OK;
}

enum qr_err creds_s3express_session(const struct creds *c, const char *principal,
                                    struct qr_slice bucket, enum creds_mode mode, int64_t now_ms,
                                    uint32_t ttl_s, struct creds_session *out)
{
    if (!bucket_ok(bucket))
        return QR_E_BAD_INPUT;
    struct mint_in m = {CREDS_S3EXPRESS, mode, bucket, principal, {NULL, 0}};
    return mint(c, &m, now_ms, ttl_s, out);
}

enum qr_err creds_function_session(const struct creds *c, const char *role_arn,
                                   const char *function, int64_t now_ms, uint32_t ttl_s,
                                   struct creds_session *out)
{
    size_t flen = function ? strlen(function) : 0;
    if (!name_chars_ok(function, flen, 1, FUNCTION_MAX, ""))
        return QR_E_BAD_INPUT;
    struct mint_in m = {
        CREDS_FUNCTION, CREDS_READ_WRITE, qr_slice(function, flen), role_arn, {NULL, 0}};
    return mint(c, &m, now_ms, ttl_s, out);
}

enum qr_err creds_role_session(const struct creds *c, const char *role_arn,
                               const char *session_name, struct qr_slice policy, int64_t now_ms,
                               uint32_t ttl_s, struct creds_session *out)
{
    size_t nlen = session_name ? strlen(session_name) : 0;
    if (!name_chars_ok(session_name, nlen, 2, 64, "+=,.@"))
        return QR_E_BAD_INPUT;
    struct mint_in m = {CREDS_ROLE_SESSION, CREDS_READ_WRITE, qr_slice(session_name, nlen),
                        role_arn, policy};
    return mint(c, &m, now_ms, ttl_s, out);
}

enum qr_err creds_user_session(const struct creds *c, const char *user_arn, int64_t now_ms,
                               uint32_t ttl_s, struct creds_session *out)
{
    struct mint_in m = {CREDS_USER_SESSION, CREDS_READ_WRITE, {NULL, 0}, user_arn, {NULL, 0}};
    return mint(c, &m, now_ms, ttl_s, out);
}

void creds_revoke_function(struct creds *c, const char *function, int64_t now_ms)
{
    size_t flen = function ? strlen(function) : 0;
    if (!c || !name_chars_ok(function, flen, 1, FUNCTION_MAX, ""))
        return;
    pthread_mutex_lock(&c->mu);
    size_t i = 0;
    while (i < c->n_revoked && strcmp(c->revoked[i].name, function) != 0)
        i++;
    if (i == c->n_revoked) {
        if (c->n_revoked == c->cap_revoked) {
            c->cap_revoked = c->cap_revoked ? 2 * c->cap_revoked : 16;
            c->revoked = qr_xrealloc(c->revoked, c->cap_revoked * sizeof(*c->revoked));
        }
        memcpy(c->revoked[i].name, function, flen + 1);
        c->n_revoked++;
    }
    c->revoked[i].at_ms = now_ms;
    pthread_mutex_unlock(&c->mu);
}

static bool function_revoked(const struct creds *c, const char *function, int64_t issued_ms)
{
    struct creds *m = (struct creds *)(uintptr_t)c; /* the list is the mutable part */
    bool revoked = false;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_revoked; i++)
        if (strcmp(m->revoked[i].name, function) == 0)
            revoked = issued_ms <= m->revoked[i].at_ms;
    pthread_mutex_unlock(&m->mu);
    return revoked;
}

/* Decodes and authenticates a temporary access key id; false when it is not one of ours. */
static bool decode_akid(const struct creds *c, struct qr_slice akid, uint8_t raw[AKID_RAW_LEN])
{
    uint8_t mac[32];
    size_t pl = qr_slice_starts(akid, QR_SLICE_LIT(STS_PREFIX)) ? STS_PREFIX_LEN : AKID_PREFIX_LEN;
    if (akid.len != pl + AKID_B32_LEN ||
        (pl == AKID_PREFIX_LEN && memcmp(akid.p, AKID_PREFIX, AKID_PREFIX_LEN) != 0) ||
        !b32_decode(akid.p + pl, AKID_B32_LEN, raw))
        return false;
    mac3(c->k_akid, raw, AKID_OFF_MAC, "akid", 4, mac);
    uint8_t v = raw[AKID_OFF_VERSION], k = raw[AKID_OFF_KIND], mode = raw[AKID_OFF_MODE];
    bool kind_ok =
        (k == CREDS_S3EXPRESS && (mode == CREDS_READ_WRITE || mode == CREDS_READ_ONLY)) ||
        (k == CREDS_FUNCTION && mode == CREDS_READ_WRITE) ||
        (v == AKID_VERSION && (k == CREDS_ROLE_SESSION || k == CREDS_USER_SESSION) &&
         mode == CREDS_READ_WRITE);
    bool ok = CRYPTO_memcmp(mac, raw + AKID_OFF_MAC, AKID_MAC_LEN) == 0 &&
              (v == AKID_VERSION_1 || v == AKID_VERSION) && kind_ok;
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok;
}

/* Format 1: scope length, scope, principal length (1 byte), principal. */
static enum qr_err parse_payload_v1(const uint8_t *payload, size_t plen, char *scope,
                                    size_t scope_max, struct creds_identity *id)
{
    size_t blen = plen > 0 ? payload[0] : 0;
    if (plen < 2 || blen == 0 || blen > scope_max || 1 + blen + 1 > plen)
        return QR_E_TOKEN;
    size_t prlen = payload[1 + blen];
    if (prlen == 0 || prlen > 127 || 1 + blen + 1 + prlen != plen)
        return QR_E_TOKEN;
    memcpy(scope, payload + 1, blen);
    scope[blen] = '\0';
    memcpy(id->principal, payload + 2 + blen, prlen);
    id->principal[prlen] = '\0';
    return QR_OK;
}

/* Format 2: issued (8), scope length (1), scope, principal length (2), principal, policy
 * length (2), policy. Every length is checked against what is left. */
static enum qr_err parse_payload_v2(const uint8_t *p, size_t plen, char *scope, size_t scope_max,
                                    struct creds_identity *id)
{
    size_t o = 0;
    uint64_t issued = 0;
    if (plen < 8 + 1)
        return QR_E_TOKEN;
    for (int i = 0; i < 8; i++)
        issued = issued << 8 | p[o++];
    size_t slen = p[o++];
    if (slen > scope_max || plen - o < slen + 2)
        return QR_E_TOKEN;
    memcpy(scope, p + o, slen);
    scope[slen] = '\0';
    o += slen;
    size_t prlen = (size_t)p[o] << 8 | p[o + 1];
    o += 2;
    if (prlen == 0 || prlen > CREDS_MAX_PRINCIPAL || plen - o < prlen + 2)
        return QR_E_TOKEN;
    memcpy(id->principal, p + o, prlen);
    id->principal[prlen] = '\0';
    o += prlen;
    size_t polen = (size_t)p[o] << 8 | p[o + 1];
    o += 2;
    if (polen > CREDS_MAX_POLICY || plen - o != polen || issued > INT64_MAX)
        return QR_E_TOKEN;
    memcpy(id->policy, p + o, polen);
    id->policy[polen] = '\0';
    id->issued_ms = (int64_t)issued;
    return QR_OK;
}

/* Checks the token against the id; fills scope, principal and policy from its payload. */
static enum qr_err check_token(const struct creds *c, const char *akid, struct qr_slice token,
                               int version, struct creds_identity *id, uint8_t *payload,
                               size_t *plen)
{
    uint8_t mac[32], given[TOKEN_MAC_LEN + 2];
    size_t dot = token.len, glen;
    for (size_t i = 0; i < token.len; i++)
        if (token.p[i] == '.')
            dot = i;
    size_t pmax = version == AKID_VERSION_1 ? PAYLOAD_MAX_V1 : PAYLOAD_MAX;
    if (token.len == 0 || token.len >= CREDS_MAX_TOKEN || dot == token.len ||
        !b64url_decode(qr_slice(token.p, dot), payload, pmax, plen) ||
        !b64url_decode(qr_slice(token.p + dot + 1, token.len - dot - 1), given, sizeof(given),
                       &glen) ||
        glen != TOKEN_MAC_LEN)
        return QR_E_TOKEN;
    mac3(token_key(c, id->kind), akid, strlen(akid), payload, *plen, mac);
    bool ok = CRYPTO_memcmp(mac, given, TOKEN_MAC_LEN) == 0;
    OPENSSL_cleanse(mac, sizeof(mac));
    if (!ok)
        return QR_E_TOKEN;
    /* Authentic, so well formed; still parsed with bounds. */
    char *scope = id->kind == CREDS_FUNCTION       ? id->function
                  : id->kind == CREDS_S3EXPRESS    ? id->bucket
                  : id->kind == CREDS_ROLE_SESSION ? id->session_name
                                                   : id->function; /* user session: empty */
    size_t scope_max = id->kind == CREDS_FUNCTION    ? FUNCTION_MAX
                       : id->kind == CREDS_S3EXPRESS ? 63
                                                     : 64;
    if (version == AKID_VERSION_1)
        return parse_payload_v1(payload, *plen, scope, scope_max, id);
    return parse_payload_v2(payload, *plen, scope, scope_max, id);
}

static enum qr_err lookup_session(const struct creds *c, struct qr_slice akid,
                                  struct qr_slice token, int64_t now_ms, struct creds_identity *id)
{
    uint8_t raw[AKID_RAW_LEN];
    char akid_c[STS_PREFIX_LEN + AKID_B32_LEN + 1];
    size_t plen = 0;

    if (!decode_akid(c, akid, raw))
        return QR_E_NO_SUCH_ACCESS_KEY;
    uint64_t exp = 0;
    for (int i = 0; i < 8; i++)
        exp = exp << 8 | raw[AKID_OFF_EXPIRES + i];
    id->kind = (enum creds_kind)raw[AKID_OFF_KIND];
    id->mode = (enum creds_mode)raw[AKID_OFF_MODE];
    if (exp > INT64_MAX || now_ms >= (int64_t)exp)
        return QR_E_EXPIRED;
    id->expires_ms = (int64_t)exp;
    /* The cap again, when checking: nothing STS grants outlives it. */
    if (id->expires_ms - now_ms > (int64_t)SESSION_MAX_TTL_S * 1000)
        return QR_E_TOKEN;
    memcpy(akid_c, akid.p, akid.len);
    akid_c[akid.len] = '\0';
    uint8_t *payload = qr_xmalloc(PAYLOAD_MAX);
    enum qr_err err = check_token(c, akid_c, token, raw[AKID_OFF_VERSION], id, payload, &plen);
    if (err == QR_OK && id->issued_ms > now_ms + 1000)
        err = QR_E_TOKEN; /* minted in the future: not by this clock */
    if (err == QR_OK && id->kind == CREDS_FUNCTION &&
        function_revoked(c, id->function, id->issued_ms))
        err = QR_E_TOKEN;
    if (err == QR_OK) {
        char secret[41];
        session_secret(c, akid_c, payload, plen, secret);
        memcpy(id->secret, secret, sizeof(secret));
        id->secret_len = sizeof(secret) - 1;
        OPENSSL_cleanse(secret, sizeof(secret));
    }
    OPENSSL_cleanse(payload, PAYLOAD_MAX);
    free(payload);
    return err;
}

enum qr_err creds_lookup(const struct creds *c, struct qr_slice akid, struct qr_slice token,
                         int64_t now_ms, struct creds_identity *out)
{
    struct creds_identity *id = qr_xmalloc(sizeof(*id));
    enum qr_err err = QR_OK;

    memset(id, 0, sizeof(*id));
    if (qr_slice_eq(akid, qr_slice_cstr(c->root_akid))) {
        id->kind = CREDS_LONG_TERM;
        memcpy(id->principal, "root", sizeof("root"));
        memcpy(id->secret, c->root_secret, c->root_secret_len + 1);
        id->secret_len = c->root_secret_len;
        id->mode = CREDS_READ_WRITE;
    } else {
        err = lookup_session(c, akid, token, now_ms, id);
    }
    if (err == QR_OK) {
        memcpy(id->akid, akid.p, akid.len < 128 ? akid.len : 128);
        *out = *id;
    }
    OPENSSL_cleanse(id, sizeof(*id));
    free(id);
    return err;
}

void creds_identity_wipe(struct creds_identity *id)
{
    if (id)
        OPENSSL_cleanse(id, sizeof(*id));
}

void creds_session_wipe(struct creds_session *s)
{
    if (s)
        OPENSSL_cleanse(s, sizeof(*s));
}
