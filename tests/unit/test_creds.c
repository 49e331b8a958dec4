/*
 * test_creds.c - the credential store on a real temporary data directory: the root key,
 * the server key file (mode, size, reuse across a restart), and S3 Express session
 * credentials (round trip, wrong or foreign token, expiry, altered ids, another server
 * key). A session secret is also checked end to end by signing with it in SigV4.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/creds.h"
#include "auth/sigv4.h"

#define NOW 1795608000000LL /* 2026-11-25T12:00:00Z */

struct fixture {
    char dir[64];
    char dir2[64];
    struct creds *c;
};

static void rm_tree(const char *dir)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/keys/server.key", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/keys", dir);
    rmdir(p);
    rmdir(dir);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/test_creds.XXXXXX");
    strcpy(f->dir2, "/tmp/test_creds.XXXXXX");
    if (!mkdtemp(f->dir) || !mkdtemp(f->dir2))
        return -1;
    if (creds_new(f->dir, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &f->c) !=
        QR_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    creds_free(f->c);
    rm_tree(f->dir);
    rm_tree(f->dir2);
    free(f);
    return 0;
}

static struct qr_slice S(const char *s) {
    return qr_slice_cstr(s);
}

static void
test_root(void **state)
{
    struct fixture *f = *state;
    struct creds_identity id;
    assert_int_equal(creds_lookup(f->c, S("AKIDEXAMPLE"), S(""), NOW, &id), QR_OK);
    assert_int_equal(id.kind, CREDS_LONG_TERM);
    assert_string_equal(id.principal, "root");
    assert_string_equal(id.secret, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    assert_int_equal(id.secret_len, 40);
    assert_int_equal(id.expires_ms, 0);
    creds_identity_wipe(&id);
    assert_int_equal(id.secret[0], 0);

    assert_int_equal(creds_lookup(f->c, S("AKIDEXAMPL"), S(""), NOW, &id), QR_E_NO_SUCH_ACCESS_KEY);
    assert_int_equal(creds_lookup(f->c, S("AKIDEXAMPLEX"), S(""), NOW, &id),
                     QR_E_NO_SUCH_ACCESS_KEY);
    assert_int_equal(creds_lookup(f->c, S(""), S(""), NOW, &id), QR_E_NO_SUCH_ACCESS_KEY);
}

static void test_key_file(void **state)
{
    struct fixture *f = *state;
    char p[256];
    struct stat st;
    snprintf(p, sizeof(p), "%s/keys/server.key", f->dir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(p, sizeof(p), "%s/keys", f->dir);
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0077, 0);
}

static void mint(struct fixture *f, const char *bucket, enum creds_mode mode, uint32_t ttl,
                 struct creds_session *s)
{
    assert_int_equal(creds_s3express_session(f->c, "root", S(bucket), mode, NOW, ttl, s), QR_OK);
}

static void test_session_round_trip(void **state)
{
    struct fixture *f = *state;
    struct creds_session s;
    struct creds_identity id;

    mint(f, "src--use1-az4--x-s3", CREDS_READ_ONLY, 300, &s);
    assert_int_equal(s.expires_ms, NOW + 300000);
    assert_true(strlen(s.akid) <= 128);
    assert_true(strlen(s.token) <= 512);
    assert_int_equal(strlen(s.secret), 40);
    assert_memory_equal(s.akid, "QRS", 3);
    /* Ids and tokens travel in headers and query strings: unreserved bytes only. */
    for (const char *p = s.akid; *p; p++)
        assert_true((*p >= 'A' && *p <= 'Z') || (*p >= '2' && *p <= '7'));
    for (const char *p = s.token; *p; p++)
        assert_true((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.');

    assert_int_equal(creds_lookup(f->c, S(s.akid), S(s.token), NOW + 1000, &id), QR_OK);
    assert_int_equal(id.kind, CREDS_S3EXPRESS);
    assert_string_equal(id.bucket, "src--use1-az4--x-s3");
    assert_int_equal(id.mode, CREDS_READ_ONLY);
    assert_string_equal(id.principal, "root");
    assert_string_equal(id.secret, s.secret);
    assert_int_equal(id.secret_len, 40);
    assert_int_equal(id.expires_ms, NOW + 300000);

    /* Just before and at the expiry. */
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(s.token), NOW + 299999, &id), QR_OK);
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(s.token), NOW + 300000, &id), QR_E_EXPIRED);

    /* Two sessions for the same bucket differ. */
    struct creds_session s2;
    mint(f, "src--use1-az4--x-s3", CREDS_READ_WRITE, 300, &s2);
    assert_string_not_equal(s.akid, s2.akid);
    assert_string_not_equal(s.secret, s2.secret);
    assert_int_equal(creds_lookup(f->c, S(s2.akid), S(s2.token), NOW, &id), QR_OK);
    assert_int_equal(id.mode, CREDS_READ_WRITE);
    /* Each token belongs to its own id. */
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(s2.token), NOW, &id), QR_E_TOKEN);
    assert_int_equal(creds_lookup(f->c, S(s2.akid), S(s.token), NOW, &id), QR_E_TOKEN);
    creds_session_wipe(&s);
    assert_int_equal(s.secret[0], 0);
    creds_identity_wipe(&id);
}

static void test_session_bad_tokens(void **state)
{
    struct fixture *f = *state;
    struct creds_session s;
    struct creds_identity id;
    char t[sizeof(((struct creds_session *)0)->token) + 2];

    mint(f, "bkt--use1-az4--x-s3", CREDS_READ_WRITE, 300, &s);
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(""), NOW, &id), QR_E_TOKEN);
    assert_int_equal(creds_lookup(f->c, S(s.akid), S("."), NOW, &id), QR_E_TOKEN);
    assert_int_equal(creds_lookup(f->c, S(s.akid), S("garbage"), NOW, &id), QR_E_TOKEN);

    /* Every single-character change of the token is refused. */
    size_t n = strlen(s.token);
    for (size_t i = 0; i < n; i++) {
        strcpy(t, s.token);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        assert_int_equal(creds_lookup(f->c, S(s.akid), S(t), NOW, &id), QR_E_TOKEN);
    }
    /* Truncated and extended. */
    strcpy(t, s.token);
    t[n - 1] = '\0';
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(t), NOW, &id), QR_E_TOKEN);
    snprintf(t, sizeof(t), "%sA", s.token);
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(t), NOW, &id), QR_E_TOKEN);
    /* The bucket swapped in the payload, MAC kept. */
    struct creds_session other;
    mint(f, "zzz--use1-az4--x-s3", CREDS_READ_WRITE, 300, &other);
    const char *dot = strchr(other.token, '.'), *mydot = strchr(s.token, '.');
    snprintf(t, sizeof(t), "%.*s%s", (int)(dot - other.token), other.token, mydot);
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(t), NOW, &id), QR_E_TOKEN);
    /* Over the size limit. */
    memset(t, 'A', 590);
    t[590] = '\0';
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(t), NOW, &id), QR_E_TOKEN);
}

static void test_session_tampered_akid(void **state)
{
    struct fixture *f = *state;
    struct creds_session s;
    struct creds_identity id;
    char a[160];

    mint(f, "bkt--use1-az4--x-s3", CREDS_READ_ONLY, 300, &s);
    size_t n = strlen(s.akid);
    for (size_t i = 0; i < n; i++) {
        strcpy(a, s.akid);
        a[i] = a[i] == 'A' ? 'B' : 'A';
        assert_int_equal(creds_lookup(f->c, S(a), S(s.token), NOW, &id), QR_E_NO_SUCH_ACCESS_KEY);
    }
    strcpy(a, s.akid);
    a[n - 1] = '\0';
    assert_int_equal(creds_lookup(f->c, S(a), S(s.token), NOW, &id), QR_E_NO_SUCH_ACCESS_KEY);
    snprintf(a, sizeof(a), "%sA", s.akid);
    assert_int_equal(creds_lookup(f->c, S(a), S(s.token), NOW, &id), QR_E_NO_SUCH_ACCESS_KEY);
    /* Lower case is not the same id. */
    strcpy(a, s.akid);
    for (char *p = a + 3; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    assert_int_equal(creds_lookup(f->c, S(a), S(s.token), NOW, &id), QR_E_NO_SUCH_ACCESS_KEY);
}

static void test_restart_and_other_server(void **state)
{
    struct fixture *f = *state;
    struct creds_session s;
    struct creds_identity id;
    struct creds *again, *other;

    mint(f, "bkt--use1-az4--x-s3", CREDS_READ_WRITE, 600, &s);
    /* Same data dir: same server key, the session survives. */
    assert_int_equal(creds_new(f->dir, "AKIDEXAMPLE", "secret", &again), QR_OK);
    assert_int_equal(creds_lookup(again, S(s.akid), S(s.token), NOW + 1000, &id), QR_OK);
    assert_string_equal(id.secret, s.secret);
    assert_string_equal(id.bucket, "bkt--use1-az4--x-s3");
    creds_free(again);
    /* A fresh data dir has another key: the session is unknown there. */
    assert_int_equal(creds_new(f->dir2, "AKIDEXAMPLE", "secret", &other), QR_OK);
    assert_int_equal(creds_lookup(other, S(s.akid), S(s.token), NOW + 1000, &id),
                     QR_E_NO_SUCH_ACCESS_KEY);
    creds_free(other);
    creds_free(NULL);
}

static void test_bad_inputs(void **state)
{
    struct fixture *f = *state;
    struct creds_session s;
    struct creds *c;
    char p[256], longp[200];

    assert_int_equal(creds_new(f->dir, "", "x", &c), QR_E_BAD_INPUT);
    assert_int_equal(creds_new(f->dir, "AKID", "", &c), QR_E_BAD_INPUT);
    /* The data dir path is a regular file. */
    snprintf(p, sizeof(p), "%s/keys/server.key", f->dir);
    assert_int_equal(creds_new(p, "AKID", "x", &c), QR_E_IO);
    /* A server key of the wrong size is refused, not replaced. */
    snprintf(p, sizeof(p), "%s/keys/server.key", f->dir2);
    assert_int_equal(creds_new(f->dir2, "AKID", "x", &c), QR_OK);
    creds_free(c);
    assert_int_equal(truncate(p, 16), 0);
    assert_int_equal(creds_new(f->dir2, "AKID", "x", &c), QR_E_IO);

    assert_int_equal(creds_s3express_session(f->c, "root", S(""), CREDS_READ_WRITE, NOW, 300, &s),
                     QR_E_BAD_INPUT);
    assert_int_equal(
        creds_s3express_session(f->c, "root", S("Bad_Bucket"), CREDS_READ_WRITE, NOW, 300, &s),
        QR_E_BAD_INPUT);
    memset(longp, 'a', 64);
    longp[64] = '\0';
    assert_int_equal(
        creds_s3express_session(f->c, "root", S(longp), CREDS_READ_WRITE, NOW, 300, &s),
        QR_E_BAD_INPUT);
    longp[63] = '\0';
    assert_int_equal(
        creds_s3express_session(f->c, "root", S(longp), CREDS_READ_WRITE, NOW, 300, &s), QR_OK);
    assert_int_equal(creds_s3express_session(f->c, "root", S("b"), CREDS_READ_WRITE, NOW, 0, &s),
                     QR_E_BAD_INPUT);
    assert_int_equal(creds_s3express_session(f->c, "", S("b"), CREDS_READ_WRITE, NOW, 300, &s),
                     QR_E_BAD_INPUT);
    assert_int_equal(
        creds_s3express_session(f->c, "root", S("b"), CREDS_READ_WRITE, INT64_MAX, 300, &s),
        QR_E_BAD_INPUT);
    /* A long principal (an ARN) round-trips and keeps the token within 512. */
    memset(longp, 'p', 127);
    longp[127] = '\0';
    memset(p, 'b', 63);
    p[63] = '\0';
    assert_int_equal(creds_s3express_session(f->c, longp, S(p), CREDS_READ_WRITE, NOW, 300, &s),
                     QR_OK);
    assert_true(strlen(s.token) <= 512);
    struct creds_identity id;
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(s.token), NOW, &id), QR_OK);
    assert_string_equal(id.principal, longp);
    assert_string_equal(id.bucket, p);
}

/* Function sessions: the role ARN is the principal, the function name the scope; the
 * kind survives the round trip and an S3 Express token does not fit a function key. */
static void test_function_session(void **state)
{
    struct fixture *f = *state;
    struct creds_session s, x;
    struct creds_identity id;
    const char *role = "arn:aws:iam::123456789012:role/lambda-ex";
    char name[80];

    assert_int_equal(creds_function_session(f->c, role, "my-fn_1", NOW, 3600, &s), QR_OK);
    assert_int_equal(s.expires_ms, NOW + 3600000);
    assert_int_equal(strlen(s.secret), 40);
    assert_true(strlen(s.token) <= 512);
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(s.token), NOW + 1, &id), QR_OK);
    assert_int_equal(id.kind, CREDS_FUNCTION);
    assert_string_equal(id.principal, role);
    assert_string_equal(id.function, "my-fn_1");
    assert_string_equal(id.bucket, "");
    assert_int_equal(id.mode, CREDS_READ_WRITE);
    assert_string_equal(id.secret, s.secret);
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(s.token), NOW + 3600000, &id),
                     QR_E_EXPIRED);
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(""), NOW, &id), QR_E_TOKEN);
    mint(f, "bkt--use1-az4--x-s3", CREDS_READ_WRITE, 300, &x);
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(x.token), NOW, &id), QR_E_TOKEN);
    assert_int_equal(creds_lookup(f->c, S(x.akid), S(s.token), NOW, &id), QR_E_TOKEN);

    /* Names: 64 characters of [A-Za-z0-9_-] at most. */
    memset(name, 'F', 64);
    name[64] = '\0';
    assert_int_equal(creds_function_session(f->c, role, name, NOW, 60, &s), QR_OK);
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(s.token), NOW, &id), QR_OK);
    assert_string_equal(id.function, name);
    name[64] = 'F';
    name[65] = '\0';
    assert_int_equal(creds_function_session(f->c, role, name, NOW, 60, &s), QR_E_BAD_INPUT);
    assert_int_equal(creds_function_session(f->c, role, "", NOW, 60, &s), QR_E_BAD_INPUT);
    assert_int_equal(creds_function_session(f->c, role, "a.b", NOW, 60, &s), QR_E_BAD_INPUT);
    assert_int_equal(creds_function_session(f->c, role, NULL, NOW, 60, &s), QR_E_BAD_INPUT);
    assert_int_equal(creds_function_session(f->c, "", "f", NOW, 60, &s), QR_E_BAD_INPUT);
    assert_int_equal(creds_function_session(f->c, NULL, "f", NOW, 60, &s), QR_E_BAD_INPUT);
    assert_int_equal(creds_function_session(f->c, role, "f", NOW, 0, &s), QR_E_BAD_INPUT);
    assert_int_equal(creds_function_session(f->c, role, "f", NOW, 36 * 3600 + 1, &s),
                     QR_E_BAD_INPUT);
    creds_session_wipe(&s);
    creds_identity_wipe(&id);
}

/* Format 2: a role session whose role ARN has the longest path IAM allows, a session
 * name and a session policy survive the round trip; DeleteFunction's revocation ends a
 * function's credentials minted before it and not those minted after; a function token
 * does not survive a restart (a new creds over the same key file). */
static void test_v2_sessions(void **state)
{
    struct fixture *f = *state;
    struct creds_session s;
    struct creds_identity id;
    char role[1100];
    int n = snprintf(role, sizeof(role), "arn:aws:iam::123456789012:role/");
    memset(role + n, 'p', 1000 - (size_t)n);
    memcpy(role + 1000, "/lambda-ex", 11);
    const char *pol = "{\"Version\":\"2012-10-17\",\"Statement\":[]}";
    assert_int_equal(creds_role_session(f->c, role, "sess@one", S(pol), NOW, 900, &s), QR_OK);
    assert_memory_equal(s.akid, "ASIA", 4);
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(s.token), NOW + 5, &id), QR_OK);
    assert_int_equal(id.kind, CREDS_ROLE_SESSION);
    assert_string_equal(id.principal, role);
    assert_string_equal(id.session_name, "sess@one");
    assert_string_equal(id.policy, pol);
    assert_int_equal(id.issued_ms, NOW);
    assert_int_equal(creds_role_session(f->c, role, "x", S(""), NOW, 900, &s), QR_E_BAD_INPUT);
    assert_int_equal(creds_role_session(f->c, role, "a b", S(""), NOW, 900, &s), QR_E_BAD_INPUT);

    assert_int_equal(creds_user_session(f->c, "arn:aws:iam::123456789012:user/alice", NOW, 900,
                                        &s), QR_OK);
    assert_int_equal(creds_lookup(f->c, S(s.akid), S(s.token), NOW, &id), QR_OK);
    assert_int_equal(id.kind, CREDS_USER_SESSION);
    assert_string_equal(id.principal, "arn:aws:iam::123456789012:user/alice");

    struct creds_session fn1, fn2;
    assert_int_equal(creds_function_session(f->c, role, "fn", NOW, 3600, &fn1), QR_OK);
    creds_revoke_function(f->c, "fn", NOW + 10);
    assert_int_equal(creds_function_session(f->c, role, "fn", NOW + 11, 3600, &fn2), QR_OK);
    assert_int_equal(creds_lookup(f->c, S(fn1.akid), S(fn1.token), NOW + 20, &id), QR_E_TOKEN);
    assert_int_equal(creds_lookup(f->c, S(fn2.akid), S(fn2.token), NOW + 20, &id), QR_OK);
    struct creds *again;
    assert_int_equal(creds_new(f->dir, "AKIDEXAMPLE", "secret", &again), QR_OK);
    assert_int_equal(creds_lookup(again, S(fn2.akid), S(fn2.token), NOW + 20, &id), QR_E_TOKEN);
    assert_int_equal(creds_lookup(again, S(s.akid), S(s.token), NOW, &id), QR_OK);
    creds_free(again);
    creds_session_wipe(&s);
    creds_identity_wipe(&id);
}

/* The minted secret signs a request that sigv4_verify accepts with the looked-up secret:
 * the HMAC chain is recomputed here with OpenSSL directly. */
static void test_session_signs(void **state)
{
    struct fixture *f = *state;
    struct creds_session s;
    struct creds_identity id;
    char authz[512], cr_hex[65], sts[512], sig[65], kbuf[160];
    uint8_t k[32];
    unsigned int kl = 32;

    mint(f, "bkt--use1-az4--x-s3", CREDS_READ_WRITE, 300, &s);
#define CR_FMT                                                                                     \
    "GET\n/bkt--use1-az4--x-s3/k\n\nhost:127.0.0.1:9000\n"                                         \
    "x-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20261125T120000Z\n"                         \
    "x-amz-s3session-token:%s\n\n"                                                                 \
    "host;x-amz-content-sha256;x-amz-date;x-amz-s3session-token\n"                                 \
    "UNSIGNED-PAYLOAD"
    char cr[CREDS_MAX_TOKEN + 512];
    snprintf(cr, sizeof(cr), CR_FMT, s.token);
    sigv4_sha256_hex(cr, strlen(cr), cr_hex);
    snprintf(sts, sizeof(sts),
             "AWS4-HMAC-SHA256\n20261125T120000Z\n20261125/us-east-1/s3express/aws4_request\n%s",
             cr_hex);
    snprintf(kbuf, sizeof(kbuf), "AWS4%s", s.secret);
    HMAC(EVP_sha256(), kbuf, (int)strlen(kbuf), (const uint8_t *)"20261125", 8, k, &kl);
    HMAC(EVP_sha256(), k, 32, (const uint8_t *)"us-east-1", 9, k, &kl);
    HMAC(EVP_sha256(), k, 32, (const uint8_t *)"s3express", 9, k, &kl);
    HMAC(EVP_sha256(), k, 32, (const uint8_t *)"aws4_request", 12, k, &kl);
    uint8_t mac[32];
    HMAC(EVP_sha256(), k, 32, (const uint8_t *)sts, strlen(sts), mac, &kl);
    for (int i = 0; i < 32; i++)
        snprintf(sig + 2 * i, 3, "%02x", mac[i]);
    snprintf(authz, sizeof(authz),
             "AWS4-HMAC-SHA256 Credential=%s/20261125/us-east-1/s3express/aws4_request, "
             "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-s3session-token, "
             "Signature=%s",
             s.akid, sig);
    struct sigv4_header h[] = {
        {S("host"), S("127.0.0.1:9000")},
        {S("x-amz-content-sha256"), S("UNSIGNED-PAYLOAD")},
        {S("x-amz-date"), S("20261125T120000Z")},
        {S("x-amz-s3session-token"), S(s.token)},
        {S("authorization"), S(authz)},
    };
    struct sigv4_input in = {S("GET"), S("/bkt--use1-az4--x-s3/k"), S(""), h, 5, NOW};
    struct sigv4_auth a;
    assert_int_equal(sigv4_parse(&in, &a), QR_OK);
    assert_int_equal(creds_lookup(f->c, S(a.akid), a.session_token, NOW, &id), QR_OK);
    assert_int_equal(sigv4_verify(&in, &a, qr_slice(id.secret, id.secret_len), NULL, NULL), QR_OK);
    creds_identity_wipe(&id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_bad_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_tampered_akid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_and_other_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_signs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_sessions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
