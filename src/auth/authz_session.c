/*
 * authz_session.c - the compiled session policies of role sessions, memoised per snapshot.
 *
 * An AssumeRole token carries its session policy (inline JSON and/or PolicyArns) verbatim,
 * so without a memo every request of such a session would parse JSON. Each snapshot keeps
 * a small table from that verbatim text (hashed, then compared byte for byte) to the
 * compiled policies; the documents of PolicyArns are resolved in the same snapshot, so an
 * entry can never outlive the IAM state it was compiled under: a reload starts a new table.
 *
 * Bounded: AZ_SESS_SLOTS entries, the least recently used evicted. Entries are reference
 * counted: the table holds one reference and a decision in flight another, so an entry
 * evicted by one loop while another evaluates it is freed by the last one out.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "auth/authz_int.h"
#include "util/buf.h"

#define AZ_SESS_SLOTS AUTHZ_SESSION_CACHE

/* One session policy text, compiled. Invariant: immutable but for refs and used. */
struct az_sess {
    atomic_int refs; /* the table's reference, plus one per decision using it */
    uint64_t hash;   /* authz_session_hash of key */
    char *key;       /* the token's policy text, verbatim (NUL-terminated) */
    size_t key_len;  /* its length */
    uint64_t used;   /* LRU clock value of the last lookup; guarded by the table's mu */
    struct policy *pols[AUTH_MAX_SESSION_ARNS + 1]; /* PolicyArns' documents, then inline */
    size_t n;                                       /* entries of pols */
    bool bad; /* a document did not compile: the session is allowed nothing */
};

struct az_sess_cache {
    pthread_mutex_t mu;                  /* guards slot, clock and every entry's used */
    struct az_sess *slot[AZ_SESS_SLOTS]; /* NULL: free */
    uint64_t clock;                      /* bumped per lookup, for LRU */
};

/* Compilations in this process, all snapshots: tests and benchmarks read it to show that
 * a session's requests after the first parse nothing. */
static atomic_uint_fast64_t compiles;

uint64_t authz_session_compiles(void)
{
    return (uint64_t)atomic_load_explicit(&compiles, memory_order_relaxed);
}

/* Eight bytes a step: the text is up to 2 KiB and hashed on every request of the session,
 * so a byte-wise hash would cost more than the evaluation. Equality is decided by memcmp;
 * the hash only picks the candidates. */
uint64_t authz_session_hash(const char *text, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, text + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t tail = 0;
    memcpy(&tail, text + i, len - i);
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

struct az_sess_cache *authz_sess_cache_new(void)
{
    struct az_sess_cache *c = qr_xmalloc(sizeof(*c));
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void sess_free(struct az_sess *e)
{
    for (size_t i = 0; i < e->n; i++)
        policy_free(e->pols[i]);
    free(e->key);
    free(e);
}

static void sess_unref(struct az_sess *e)
{
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        sess_free(e);
}

/* The snapshot is freed only when no request holds it, so no entry is in use here. */
void authz_sess_cache_free(struct az_sess_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < AZ_SESS_SLOTS; i++)
        if (c->slot[i])
            sess_unref(c->slot[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Compiles p's session documents (resolved by authz_principal) into a new entry. */
static struct az_sess *sess_compile(const struct auth_principal *p)
{
    struct az_sess *e = qr_xmalloc(sizeof(*e));
    memset(e, 0, sizeof(*e));
    atomic_init(&e->refs, 1);
    e->hash = p->session_hash;
    e->key_len = strlen(p->session_key);
    e->key = qr_xmalloc(e->key_len + 1);
    memcpy(e->key, p->session_key, e->key_len + 1);
    char why[128];
    for (size_t i = 0; i <= p->n_session_docs && !e->bad; i++) {
        const char *doc = i < p->n_session_docs ? p->session_docs[i] : p->session_policy;
        if (!doc)
            continue;
        e->bad = policy_parse(qr_slice_cstr(doc), POLICY_IDENTITY, &e->pols[e->n], why,
                              sizeof(why)) != QR_OK;
        e->n += !e->bad;
    }
    atomic_fetch_add_explicit(&compiles, 1, memory_order_relaxed);
    return e;
}

/* The entry for key in c, referenced for the caller, or NULL. Under c->mu. */
static struct az_sess *find_locked(struct az_sess_cache *c, uint64_t hash, const char *key,
                                   size_t len)
{
    for (size_t i = 0; i < AZ_SESS_SLOTS; i++) {
        struct az_sess *e = c->slot[i];
        if (e && e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0) {
            e->used = ++c->clock;
            atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
            return e;
        }
    }
    return NULL;
}

/* Puts e (holding the caller's reference) in a free or the least recently used slot; the
 * table takes a reference of its own. Under c->mu. */
static void insert_locked(struct az_sess_cache *c, struct az_sess *e)
{
    size_t victim = 0;
    for (size_t i = 0; i < AZ_SESS_SLOTS; i++) {
        if (!c->slot[i]) {
            victim = i;
            break;
        }
        if (c->slot[i]->used < c->slot[victim]->used)
            victim = i;
    }
    if (c->slot[victim])
        sess_unref(c->slot[victim]);
    e->used = ++c->clock;
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    c->slot[victim] = e;
}

const struct az_sess *authz_sess_get(const struct auth_principal *p)
{
    struct az_sess_cache *c = p->session_cache;
    size_t len = strlen(p->session_key);
    pthread_mutex_lock(&c->mu);
    struct az_sess *e = find_locked(c, p->session_hash, p->session_key, len);
    pthread_mutex_unlock(&c->mu);
    if (e)
        return e;
    /* Compiled outside the lock; when another loop got there first, its entry wins. */
    struct az_sess *fresh = sess_compile(p);
    pthread_mutex_lock(&c->mu);
    e = find_locked(c, p->session_hash, p->session_key, len);
    if (!e)
        insert_locked(c, fresh);
    pthread_mutex_unlock(&c->mu);
    if (e) {
        sess_unref(fresh);
        return e;
    }
    return fresh;
}

void authz_sess_put(const struct az_sess *ce)
{
    sess_unref((struct az_sess *)(uintptr_t)ce);
}

size_t authz_sess_policies(const struct az_sess *e, const struct policy **out, bool *bad)
{
    for (size_t i = 0; i < e->n; i++)
        out[i] = e->pols[i];
    *bad = e->bad;
    return e->n;
}
