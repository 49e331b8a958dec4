/*
 * creds.c - the credential store: the root key pair, and stateless temporary
 * credentials derived from a 32-byte server key kept in DATA/keys/server.key.
 *
 * A temporary access key id is "QRS" + base32(version, kind, mode, expiry in ms,
 * 4 random bytes, 10-byte MAC): the MAC makes a forged or altered id unknown
 * (QR_E_NO_SUCH_ACCESS_KEY) before anything else is looked at. The token is
 * base64url(scope, principal) "." base64url(MAC over id and that payload), where scope is
 * the bucket of an S3 Express session or the function name of a function session, so a session
 * needs no row anywhere and survives a restart; the secret is a third MAC over the same
 * bytes. Three keys derived from the server key separate the three uses.
 *
 * The struct is immutable after creds_new, so every lookup may run on any thread. The
 * server key never leaves this file; derived keys are wiped in creds_free.
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

#include "util/buf.h"
#include "util/ckd.h"

#define SERVER_KEY_LEN    32
#define AKID_PREFIX       "QRS"
#define AKID_PREFIX_LEN   3
#define AKID_RAW_LEN      25 /* bytes before base32 */
#define AKID_B32_LEN      40 /* 25 bytes -> 40 base32 chars, no padding */
#define AKID_MAC_LEN      10
#define AKID_VERSION      1
#define SESSION_MAX_TTL_S (36u * 3600u) /* the longest STS allows */
#define TOKEN_MAC_LEN     32
#define SECRET_RAW_LEN    30                 /* -> 40 base64 chars, as AWS secrets */
#define FUNCTION_MAX      64u                /* function name, the scope of its session */
#define PAYLOAD_MAX       (1 + 64 + 1 + 127) /* scope + principal, length-prefixed */

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
    uint8_t k_akid[32];   /* MAC key for access key ids */
    uint8_t k_token[32];  /* MAC key for session tokens */
    uint8_t k_secret[32]; /* derives session secrets */
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
    uint8_t msg[256];
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
    *out = c;
    return QR_OK;
}

void creds_free(struct creds *c)
{
    if (!c)
        return;
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
    if (len == 0 || len > 127)
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

static bool function_name_ok(const char *f, size_t len)
{
    if (len == 0 || len > FUNCTION_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = f[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

/* Mints a session of kind: the payload is (scope, principal), length-prefixed, where
 * scope is the bucket of an S3 Express session or the function name. */
static enum qr_err mint(const struct creds *c, enum creds_kind kind, enum creds_mode mode,
                        struct qr_slice scope, const char *principal, int64_t now_ms,
                        uint32_t ttl_s, struct creds_session *out)
{
    uint8_t raw[AKID_RAW_LEN], mac[32], payload[PAYLOAD_MAX];
    struct creds_session s;
    int64_t expires;
    size_t plen = 0;

    if (!principal || ttl_s == 0 || ttl_s > SESSION_MAX_TTL_S ||
        (mode != CREDS_READ_WRITE && mode != CREDS_READ_ONLY) || now_ms < 0 ||
        qr_add_overflow(now_ms, (int64_t)ttl_s * 1000, &expires))
        return QR_E_BAD_INPUT;
    size_t prlen = strlen(principal);
    if (!principal_ok(principal, prlen))
        return QR_E_BAD_INPUT;

    memset(&s, 0, sizeof(s));
    raw[AKID_OFF_VERSION] = AKID_VERSION;
    raw[AKID_OFF_KIND] = (uint8_t)kind;
    raw[AKID_OFF_MODE] = (uint8_t)mode;
    for (int i = 0; i < 8; i++)
        raw[AKID_OFF_EXPIRES + i] = (uint8_t)((uint64_t)expires >> (56 - 8 * i));
    if (RAND_bytes(raw + AKID_OFF_NONCE, AKID_OFF_MAC - AKID_OFF_NONCE) != 1)
        return QR_E_INTERNAL;
    mac3(c->k_akid, raw, AKID_OFF_MAC, "akid", 4, mac);
    memcpy(raw + AKID_OFF_MAC, mac, AKID_MAC_LEN);
    memcpy(s.akid, AKID_PREFIX, AKID_PREFIX_LEN);
    b32_encode(raw, sizeof(raw), s.akid + AKID_PREFIX_LEN);

    payload[plen++] = (uint8_t)scope.len;
    memcpy(payload + plen, scope.p, scope.len);
    plen += scope.len;
    payload[plen++] = (uint8_t)prlen;
    memcpy(payload + plen, principal, prlen);
    plen += prlen;

    size_t tl = b64_encode(B64URL, payload, plen, s.token);
    s.token[tl++] = '.';
    mac3(c->k_token, s.akid, strlen(s.akid), payload, plen, mac);
    b64_encode(B64URL, mac, TOKEN_MAC_LEN, s.token + tl);
    session_secret(c, s.akid, payload, plen, s.secret);
    s.expires_ms = expires;
    OPENSSL_cleanse(mac, sizeof(mac));
    *out = s;
    OPENSSL_cleanse(&s, sizeof(s));
    return QR_OK;
}

enum qr_err creds_s3express_session(const struct creds *c, const char *principal,
                                    struct qr_slice bucket, enum creds_mode mode, int64_t now_ms,
                                    uint32_t ttl_s, struct creds_session *out)
{
    if (!bucket_ok(bucket))
        return QR_E_BAD_INPUT;
    return mint(c, CREDS_S3EXPRESS, mode, bucket, principal, now_ms, ttl_s, out);
}

enum qr_err creds_function_session(const struct creds *c, const char *role_arn,
                                   const char *function, int64_t now_ms, uint32_t ttl_s,
                                   struct creds_session *out)
{
    size_t flen = function ? strlen(function) : 0;
    if (!function_name_ok(function, flen))
        return QR_E_BAD_INPUT;
    return mint(c, CREDS_FUNCTION, CREDS_READ_WRITE, qr_slice(function, flen), role_arn, now_ms,
                ttl_s, out);
}

/* Decodes and authenticates a temporary access key id; false when it is not one of ours. */
static bool decode_akid(const struct creds *c, struct qr_slice akid, uint8_t raw[AKID_RAW_LEN])
{
    uint8_t mac[32];
    if (akid.len != AKID_PREFIX_LEN + AKID_B32_LEN ||
        memcmp(akid.p, AKID_PREFIX, AKID_PREFIX_LEN) != 0 ||
        !b32_decode(akid.p + AKID_PREFIX_LEN, AKID_B32_LEN, raw))
        return false;
    mac3(c->k_akid, raw, AKID_OFF_MAC, "akid", 4, mac);
    bool ok = CRYPTO_memcmp(mac, raw + AKID_OFF_MAC, AKID_MAC_LEN) == 0 &&
              raw[AKID_OFF_VERSION] == AKID_VERSION &&
              ((raw[AKID_OFF_KIND] == CREDS_S3EXPRESS && (raw[AKID_OFF_MODE] == CREDS_READ_WRITE ||
                                                          raw[AKID_OFF_MODE] == CREDS_READ_ONLY)) ||
               (raw[AKID_OFF_KIND] == CREDS_FUNCTION && raw[AKID_OFF_MODE] == CREDS_READ_WRITE));
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok;
}

/* Checks the token against the id; fills bucket and principal from its payload. */
static enum qr_err check_token(const struct creds *c, const char *akid, struct qr_slice token,
                               struct creds_identity *id, uint8_t *payload, size_t *plen)
{
    uint8_t mac[32], given[TOKEN_MAC_LEN + 2];
    size_t dot = token.len, glen;
    for (size_t i = 0; i < token.len; i++)
        if (token.p[i] == '.')
            dot = i;
    if (token.len == 0 || token.len > 512 || dot == token.len ||
        !b64url_decode(qr_slice(token.p, dot), payload, PAYLOAD_MAX, plen) ||
        !b64url_decode(qr_slice(token.p + dot + 1, token.len - dot - 1), given, sizeof(given),
                       &glen) ||
        glen != TOKEN_MAC_LEN)
        return QR_E_TOKEN;
    mac3(c->k_token, akid, strlen(akid), payload, *plen, mac);
    bool ok = CRYPTO_memcmp(mac, given, TOKEN_MAC_LEN) == 0;
    OPENSSL_cleanse(mac, sizeof(mac));
    if (!ok)
        return QR_E_TOKEN;
    /* Authentic, so well formed; still parsed with bounds. */
    size_t blen = *plen > 0 ? payload[0] : 0;
    size_t scope_max = id->kind == CREDS_FUNCTION ? FUNCTION_MAX : 63;
    if (*plen < 2 || blen == 0 || blen > scope_max || 1 + blen + 1 > *plen)
        return QR_E_TOKEN;
    size_t prlen = payload[1 + blen];
    if (prlen == 0 || prlen > 127 || 1 + blen + 1 + prlen != *plen)
        return QR_E_TOKEN;
    char *scope = id->kind == CREDS_FUNCTION ? id->function : id->bucket;
    memcpy(scope, payload + 1, blen);
    scope[blen] = '\0';
    memcpy(id->principal, payload + 2 + blen, prlen);
    id->principal[prlen] = '\0';
    return QR_OK;
}

enum qr_err creds_lookup(const struct creds *c, struct qr_slice akid, struct qr_slice token,
                         int64_t now_ms, struct creds_identity *out)
{
    struct creds_identity id;
    uint8_t raw[AKID_RAW_LEN], payload[PAYLOAD_MAX];
    char akid_c[AKID_PREFIX_LEN + AKID_B32_LEN + 1];
    size_t plen = 0;
    enum qr_err err;

    memset(&id, 0, sizeof(id));
    if (qr_slice_eq(akid, qr_slice_cstr(c->root_akid))) {
        id.kind = CREDS_LONG_TERM;
        memcpy(id.principal, "root", sizeof("root"));
        memcpy(id.secret, c->root_secret, c->root_secret_len + 1);
        id.secret_len = c->root_secret_len;
        id.mode = CREDS_READ_WRITE;
        *out = id;
        OPENSSL_cleanse(&id, sizeof(id));
        return QR_OK;
    }
    if (!decode_akid(c, akid, raw))
        return QR_E_NO_SUCH_ACCESS_KEY;
    uint64_t exp = 0;
    for (int i = 0; i < 8; i++)
        exp = exp << 8 | raw[AKID_OFF_EXPIRES + i];
    id.kind = (enum creds_kind)raw[AKID_OFF_KIND];
    id.mode = (enum creds_mode)raw[AKID_OFF_MODE];
    id.expires_ms = (int64_t)exp;
    if (exp > INT64_MAX || now_ms >= id.expires_ms)
        return QR_E_EXPIRED;
    memcpy(akid_c, akid.p, akid.len);
    akid_c[akid.len] = '\0';
    err = check_token(c, akid_c, token, &id, payload, &plen);
    if (err != QR_OK)
        goto out;
    char secret[41];
    session_secret(c, akid_c, payload, plen, secret);
    memcpy(id.secret, secret, sizeof(secret));
    id.secret_len = sizeof(secret) - 1;
    OPENSSL_cleanse(secret, sizeof(secret));
    *out = id;
out:
    OPENSSL_cleanse(&id, sizeof(id));
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
