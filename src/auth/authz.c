/*
 * authz.c - the IAM snapshot: every row of the store's iam table, and compiled from them
 * the access keys, the identity policies of each user and role (inline, attached managed,
 * and their groups'), role trust policies and bucket policies. Built off to the side by
 * authz_reload and swapped in under a mutex; readers hold a reference (an atomic count),
 * and the last one out frees it. So a request sees one consistent state from start to end.
 */
#include "auth/authz.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>

#include "auth/authz_int.h"
#include "store/store_iam.h"
#include "util/buf.h"

#define USES_MAX     65536u /* keys remembered; beyond, new keys are not recorded */
#define USE_STEP_MS  1000   /* a key used again within this with the same scope: no change */
#define USE_FLUSH_MS 60000  /* by default the store is written at most this often */

struct authz {
    pthread_mutex_t mu;        /* guards cur; reloads also serialise on reload_mu */
    pthread_mutex_t reload_mu; /* one reload at a time, so swaps keep their order */
    struct authz_snap *cur;    /* referenced by the holder itself */
    char account[13];
    /* Access key last used: in memory, sorted by key id, under use_mu; written to the
     * store by whoever asks authz_uses_due (at most once a minute). */
    pthread_mutex_t use_mu;
    struct authz_use *uses;
    size_t n_uses, cap_uses;
    int64_t flushed_ms;
    int64_t flush_every_ms; /* authz_uses_due's spacing (authz_set_use_flush_ms) */
};

static struct authz_snap *snap_new(const char *account)
{
    struct authz_snap *s = qr_xmalloc(sizeof(*s));
    memset(s, 0, sizeof(*s));
    atomic_init(&s->refs, 1);
    snprintf(s->account, sizeof(s->account), "%s", account);
    s->sessions = authz_sess_cache_new();
    return s;
}

static void ident_dispose(struct az_ident *x)
{
    free(x->name);
    free(x->arn);
    free(x->id);
    free(x->pols);
}

static void snap_free(struct authz_snap *s)
{
    for (size_t i = 0; i < s->n_rows; i++) {
        free((void *)(uintptr_t)s->rows[i].kind);
        free((void *)(uintptr_t)s->rows[i].parent);
        free((void *)(uintptr_t)s->rows[i].name);
        free((void *)(uintptr_t)s->rows[i].doc.p);
    }
    free(s->rows);
    for (size_t i = 0; i < s->n_owned; i++)
        policy_free(s->owned[i]);
    free(s->owned);
    for (size_t i = 0; i < s->n_users; i++)
        ident_dispose(&s->users[i]);
    free(s->users);
    for (size_t i = 0; i < s->n_roles; i++)
        ident_dispose(&s->roles[i]);
    free(s->roles);
    for (size_t i = 0; i < s->n_keys; i++)
        OPENSSL_cleanse(s->keys[i].secret, sizeof(s->keys[i].secret));
    free(s->keys);
    free(s->bps);
    free(s->fps);
    authz_sess_cache_free(s->sessions);
    free(s);
}

enum qr_err authz_new(const char *account, struct authz **out)
{
    if (!account || strlen(account) != 12)
        return QR_E_BAD_INPUT;
    struct authz *a = qr_xmalloc(sizeof(*a));
    memset(a, 0, sizeof(*a));
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->reload_mu, NULL);
    pthread_mutex_init(&a->use_mu, NULL);
    memcpy(a->account, account, 13);
    a->flush_every_ms = USE_FLUSH_MS;
    a->cur = snap_new(account);
    *out = a;
    return QR_OK;
}

void authz_free(struct authz *a)
{
    if (!a)
        return;
    authz_release(a->cur);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->reload_mu);
    pthread_mutex_destroy(&a->use_mu);
    free(a->uses);
    free(a);
}

const struct authz_snap *authz_acquire(struct authz *a)
{
    pthread_mutex_lock(&a->mu);
    struct authz_snap *s = a->cur;
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&a->mu);
    return s;
}

void authz_release(const struct authz_snap *cs)
{
    struct authz_snap *s = (struct authz_snap *)(uintptr_t)cs;
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        snap_free(s);
}

/* ---- rows ---- */

static int row_cmp3(const struct authz_row *r, const char *kind, const char *parent,
                    const char *name)
{
    int c = strcmp(r->kind, kind);
    if (c == 0 && parent)
        c = strcmp(r->parent, parent);
    if (c == 0 && name)
        c = strcmp(r->name, name);
    return c;
}

/* First index whose (kind, parent, name) is >= the key (NULL parts compare equal). */
static size_t lower_bound(const struct authz_snap *s, const char *kind, const char *parent,
                          const char *name)
{
    size_t lo = 0, hi = s->n_rows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (row_cmp3(&s->rows[mid], kind, parent, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t authz_rows(const struct authz_snap *s, const char *kind, const char *parent,
                  const struct authz_row **out)
{
    size_t i = lower_bound(s, kind, parent, NULL), n = 0;
    while (i + n < s->n_rows && row_cmp3(&s->rows[i + n], kind, parent, NULL) == 0)
        n++;
    *out = n ? &s->rows[i] : NULL;
    return n;
}

const struct authz_row *authz_row(const struct authz_snap *s, const char *kind, const char *parent,
                                  const char *name)
{
    size_t i = lower_bound(s, kind, parent, name);
    return i < s->n_rows && row_cmp3(&s->rows[i], kind, parent, name) == 0 ? &s->rows[i] : NULL;
}

static bool collect_row(void *arg, const struct store_iam_row *r)
{
    struct authz_snap *s = arg;
    if (s->n_rows == s->cap_rows) {
        s->cap_rows = s->cap_rows ? 2 * s->cap_rows : 64;
        s->rows = qr_xrealloc(s->rows, s->cap_rows * sizeof(*s->rows));
    }
    char *doc = qr_xmalloc(r->doc.len + 1);
    if (r->doc.len)
        memcpy(doc, r->doc.p, r->doc.len);
    doc[r->doc.len] = '\0';
    s->rows[s->n_rows++] = (struct authz_row){strdup(r->kind), strdup(r->parent), strdup(r->name),
                                              qr_slice(doc, r->doc.len)};
    return true;
}

/* ---- compiling ---- */

static struct policy *compile(struct authz_snap *s, struct qr_slice doc, enum policy_kind kind)
{
    struct policy *p = NULL;
    char why[160];
    if (policy_parse(doc, kind, &p, why, sizeof(why)) != QR_OK)
        return NULL; /* refused when stored; a document the parser no longer takes grants nothing */
    if (s->n_owned == s->cap_owned) {
        s->cap_owned = s->cap_owned ? 2 * s->cap_owned : 32;
        s->owned = qr_xrealloc(s->owned, s->cap_owned * sizeof(*s->owned));
    }
    s->owned[s->n_owned++] = p;
    return p;
}

/* A JSON string member of a row's document, or dflt. The returned string is copied. */
char *authz_doc_str(struct qr_slice doc, const char *member, const char *dflt)
{
    json_t *j = json_loadb((const char *)doc.p, doc.len, JSON_DISABLE_EOF_CHECK, NULL);
    const char *v = j ? json_string_value(json_object_get(j, member)) : NULL;
    char *out = v ? strdup(v) : dflt ? strdup(dflt) : NULL;
    json_decref(j);
    return out;
}

int64_t authz_doc_int(struct qr_slice doc, const char *member, int64_t dflt)
{
    json_t *j = json_loadb((const char *)doc.p, doc.len, JSON_DISABLE_EOF_CHECK, NULL);
    json_t *v = j ? json_object_get(j, member) : NULL;
    int64_t out = json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
    json_decref(j);
    return out;
}

/* The compiled default version of the managed policy arn (customer or AWS), or NULL. */
static const struct policy *managed(struct authz_snap *s, const char *arn)
{
    for (size_t i = 0; i < s->n_managed; i++)
        if (strcmp(s->managed[i].arn, arn) == 0)
            return s->managed[i].p;
    const struct policy *p = NULL;
    const struct authz_row *r = authz_row(s, "policy", "", arn);
    if (r) {
        char *dv = authz_doc_str(r->doc, "default", "v1");
        const struct authz_row *v = authz_row(s, "pversion", arn, dv);
        free(dv);
        p = v ? compile(s, v->doc, POLICY_IDENTITY) : NULL;
    } else {
        const char *doc = policy_managed_document(arn);
        p = doc ? compile(s, qr_slice_cstr(doc), POLICY_IDENTITY) : NULL;
    }
    if (s->n_managed < AZ_MAX_MANAGED) {
        s->managed[s->n_managed].arn = r ? r->name : arn; /* arn outlives the snapshot's use */
        s->managed[s->n_managed++].p = p;
    }
    return p;
}

static void add_pol(struct az_ident *x, size_t *cap, const struct policy *p)
{
    if (!p)
        return;
    if (x->n_pols == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        x->pols = qr_xrealloc(x->pols, *cap * sizeof(*x->pols));
    }
    x->pols[x->n_pols++] = p;
}

/* The inline and attached policies of owner ("user:N", "role:N", "group:N"). */
static void add_owner_policies(struct authz_snap *s, struct az_ident *x, size_t *cap,
                               const char *owner)
{
    const struct authz_row *r;
    size_t n = authz_rows(s, "inline", owner, &r);
    for (size_t i = 0; i < n; i++)
        add_pol(x, cap, compile(s, r[i].doc, POLICY_IDENTITY));
    n = authz_rows(s, "attached", owner, &r);
    for (size_t i = 0; i < n; i++)
        add_pol(x, cap, managed(s, r[i].name));
}

static void ident_init(struct authz_snap *s, struct az_ident *x, const struct authz_row *r,
                       const char *type)
{
    char arn[AUTH_MAX_ARN];
    char *path = authz_doc_str(r->doc, "path", "/");
    snprintf(arn, sizeof(arn), "arn:aws:iam::%s:%s%s%s", s->account, type, path, r->name);
    free(path);
    x->name = strdup(r->name);
    x->arn = strdup(arn);
    x->id = authz_doc_str(r->doc, "id", "");
}

static void compile_users(struct authz_snap *s)
{
    const struct authz_row *u, *m;
    size_t nu = authz_rows(s, "user", "", &u);
    s->users = qr_xmalloc((nu ? nu : 1) * sizeof(*s->users));
    memset(s->users, 0, (nu ? nu : 1) * sizeof(*s->users));
    s->n_users = nu;
    size_t nm = authz_rows(s, "member", NULL, &m);
    for (size_t i = 0; i < nu; i++) {
        struct az_ident *x = &s->users[i];
        size_t cap = 0;
        char owner[200];
        ident_init(s, x, &u[i], "user");
        snprintf(owner, sizeof(owner), "user:%s", x->name);
        add_owner_policies(s, x, &cap, owner);
        for (size_t k = 0; k < nm; k++) {
            if (strcmp(m[k].name, x->name) != 0)
                continue;
            snprintf(owner, sizeof(owner), "group:%s", m[k].parent);
            add_owner_policies(s, x, &cap, owner);
        }
    }
}

static void compile_roles(struct authz_snap *s)
{
    const struct authz_row *r;
    size_t nr = authz_rows(s, "role", "", &r);
    s->roles = qr_xmalloc((nr ? nr : 1) * sizeof(*s->roles));
    memset(s->roles, 0, (nr ? nr : 1) * sizeof(*s->roles));
    s->n_roles = nr;
    for (size_t i = 0; i < nr; i++) {
        struct az_ident *x = &s->roles[i];
        size_t cap = 0;
        char owner[200];
        ident_init(s, x, &r[i], "role");
        snprintf(owner, sizeof(owner), "role:%s", x->name);
        add_owner_policies(s, x, &cap, owner);
        char *trust = authz_doc_str(r[i].doc, "trust", NULL);
        x->trust = trust ? compile(s, qr_slice_cstr(trust), POLICY_TRUST) : NULL;
        free(trust);
        x->max_s = (uint32_t)authz_doc_int(r[i].doc, "max", 3600);
    }
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const struct az_key *)a)->akid, ((const struct az_key *)b)->akid);
}

static void compile_keys(struct authz_snap *s)
{
    const struct authz_row *k;
    size_t nk = authz_rows(s, "key", NULL, &k);
    s->keys = qr_xmalloc((nk ? nk : 1) * sizeof(*s->keys));
    memset(s->keys, 0, (nk ? nk : 1) * sizeof(*s->keys));
    for (size_t i = 0; i < nk; i++) {
        struct az_key *x = &s->keys[s->n_keys];
        char *secret = authz_doc_str(k[i].doc, "secret", "");
        char *status = authz_doc_str(k[i].doc, "status", "Active");
        if (strlen(k[i].name) < sizeof(x->akid) && strlen(secret) < sizeof(x->secret)) {
            snprintf(x->akid, sizeof(x->akid), "%s", k[i].name);
            snprintf(x->secret, sizeof(x->secret), "%s", secret);
            x->user = k[i].parent;
            x->active = strcmp(status, "Active") == 0;
            s->n_keys++;
        }
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
        free(status);
    }
    qsort(s->keys, s->n_keys, sizeof(*s->keys), key_cmp);
}

/* Resource policies of kind ("bucketpolicy", "fnpolicy"), by the name they belong to. */
static size_t compile_resource_policies(struct authz_snap *s, const char *kind, struct az_bp **out)
{
    const struct authz_row *b;
    size_t nb = authz_rows(s, kind, "", &b);
    *out = qr_xmalloc((nb ? nb : 1) * sizeof(**out));
    for (size_t i = 0; i < nb; i++) {
        (*out)[i].bucket = b[i].name;
        (*out)[i].p = compile(s, b[i].doc, POLICY_RESOURCE);
    }
    return nb;
}

static enum qr_err reload(struct authz *a, struct store_reader *r, const char *dir)
{
    pthread_mutex_lock(&a->reload_mu);
    struct authz_snap *s = snap_new(a->account);
    enum qr_err e = r ? store_iam_scan(r, collect_row, s) : store_iam_scan_dir(dir, collect_row, s);
    if (e != QR_OK) {
        snap_free(s);
        pthread_mutex_unlock(&a->reload_mu);
        return e;
    }
    compile_users(s);
    compile_roles(s);
    compile_keys(s);
    s->n_bps = compile_resource_policies(s, "bucketpolicy", &s->bps);
    s->n_fps = compile_resource_policies(s, "fnpolicy", &s->fps);
    pthread_mutex_lock(&a->mu);
    struct authz_snap *old = a->cur;
    a->cur = s;
    pthread_mutex_unlock(&a->mu);
    authz_release(old);
    pthread_mutex_unlock(&a->reload_mu);
    return QR_OK;
}

enum qr_err authz_reload(struct authz *a, struct store_reader *r)
{
    return reload(a, r, NULL);
}

enum qr_err authz_load_dir(struct authz *a, const char *data_dir)
{
    return reload(a, NULL, data_dir);
}

/* ---- lookups ---- */

enum qr_err authz_key_lookup(const struct authz_snap *s, struct qr_slice akid,
                             struct creds_identity *out)
{
    char k[sizeof(s->keys[0].akid)];
    if (akid.len == 0 || akid.len >= sizeof(k))
        return QR_E_NO_SUCH_ACCESS_KEY;
    memcpy(k, akid.p, akid.len);
    k[akid.len] = '\0';
    struct az_key want;
    memcpy(want.akid, k, sizeof(k));
    const struct az_key *x = bsearch(&want, s->keys, s->n_keys, sizeof(*s->keys), key_cmp);
    if (!x || !x->active)
        return QR_E_NO_SUCH_ACCESS_KEY;
    const struct az_ident *u = authz_find_ident(s->users, s->n_users, x->user);
    if (!u)
        return QR_E_NO_SUCH_ACCESS_KEY;
    memset(out, 0, sizeof(*out));
    out->kind = CREDS_LONG_TERM;
    snprintf(out->principal, sizeof(out->principal), "%s", u->arn);
    out->secret_len = strlen(x->secret);
    memcpy(out->secret, x->secret, out->secret_len + 1);
    memcpy(out->akid, k, sizeof(k));
    out->mode = CREDS_READ_WRITE;
    return QR_OK;
}

const struct az_ident *authz_find_ident(const struct az_ident *v, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid].name, name);
        if (c == 0)
            return &v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* "arn:aws:iam::ACCT:role/path/name" -> "name"; a bare name is itself. */
const char *authz_arn_last(const char *arn)
{
    const char *slash = strrchr(arn, '/');
    return slash ? slash + 1 : arn;
}

bool authz_role(const struct authz_snap *s, const char *name_or_arn, const char **out_arn,
                const char **out_id, const struct policy **out_trust, uint32_t *out_max_s)
{
    const struct az_ident *r = authz_find_ident(s->roles, s->n_roles, authz_arn_last(name_or_arn));
    if (!r || (strncmp(name_or_arn, "arn:", 4) == 0 && strcmp(r->arn, name_or_arn) != 0))
        return false;
    if (out_arn)
        *out_arn = r->arn;
    if (out_id)
        *out_id = r->id;
    if (out_trust)
        *out_trust = r->trust;
    if (out_max_s)
        *out_max_s = r->max_s;
    return true;
}

const struct policy *authz_function_policy(const struct authz_snap *s, const char *function)
{
    for (size_t i = 0; i < s->n_fps; i++)
        if (strcmp(function, s->fps[i].bucket) == 0)
            return s->fps[i].p;
    return NULL;
}

const struct policy *authz_bucket_policy(const struct authz_snap *s, struct qr_slice bucket)
{
    for (size_t i = 0; i < s->n_bps; i++)
        if (qr_slice_eq(bucket, qr_slice_cstr(s->bps[i].bucket)))
            return s->bps[i].p;
    return NULL;
}

/* ---- access key last used ---- */


static size_t use_slot(const struct authz *a, const char *akid, bool *found)
{
    size_t lo = 0, hi = a->n_uses;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(a->uses[mid].akid, akid);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

void authz_note_use(struct authz *a, const struct creds_identity *id, const char *service,
                    const char *region, int64_t now_ms)
{
    /* IAM users' keys only: their principal came from the snapshot (authz_key_lookup) */
    if (!a || id->kind != CREDS_LONG_TERM || !strstr(id->principal, ":user/") ||
        strlen(id->akid) >= sizeof(a->uses[0].akid))
        return;
    if (!service || !service[0])
        service = "s3"; /* SigV2 names no service */
    pthread_mutex_lock(&a->use_mu);
    bool found;
    size_t i = use_slot(a, id->akid, &found);
    struct authz_use *u = found ? &a->uses[i] : NULL;
    if (u && now_ms - u->ms < USE_STEP_MS && strcmp(u->service, service) == 0 &&
        strcmp(u->region, region ? region : "") == 0) {
        pthread_mutex_unlock(&a->use_mu);
        return;
    }
    if (!u && a->n_uses < USES_MAX) {
        if (a->n_uses == a->cap_uses) {
            a->cap_uses = a->cap_uses ? a->cap_uses * 2 : 16;
            a->uses = qr_xrealloc(a->uses, a->cap_uses * sizeof(*a->uses));
        }
        memmove(&a->uses[i + 1], &a->uses[i], (a->n_uses - i) * sizeof(*a->uses));
        a->n_uses++;
        u = &a->uses[i];
        memset(u, 0, sizeof(*u));
        memcpy(u->akid, id->akid, strlen(id->akid) + 1); /* fits: checked on entry */
    }
    if (u) {
        u->ms = now_ms;
        snprintf(u->service, sizeof(u->service), "%s", service);
        snprintf(u->region, sizeof(u->region), "%s", region ? region : "");
        u->dirty = true;
    }
    pthread_mutex_unlock(&a->use_mu);
}

bool authz_last_used(struct authz *a, const char *akid, struct authz_use *out)
{
    pthread_mutex_lock(&a->use_mu);
    bool found;
    size_t i = use_slot(a, akid, &found);
    if (found)
        *out = a->uses[i];
    pthread_mutex_unlock(&a->use_mu);
    return found;
}

/* Hands every changed entry to the caller and marks it saved. Under use_mu. */
static size_t take_dirty(struct authz *a, int64_t now_ms, struct authz_use **out)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n_uses; i++)
        n += a->uses[i].dirty;
    if (n) {
        *out = qr_xmalloc(n * sizeof(**out));
        for (size_t i = 0, o = 0; i < a->n_uses; i++)
            if (a->uses[i].dirty) {
                a->uses[i].dirty = false;
                (*out)[o++] = a->uses[i];
            }
        a->flushed_ms = now_ms;
    }
    return n;
}

size_t authz_uses_due(struct authz *a, int64_t now_ms, struct authz_use **out)
{
    *out = NULL;
    pthread_mutex_lock(&a->use_mu);
    size_t n = now_ms - a->flushed_ms >= a->flush_every_ms ? take_dirty(a, now_ms, out) : 0;
    pthread_mutex_unlock(&a->use_mu);
    return n;
}

size_t authz_uses_all(struct authz *a, int64_t now_ms, struct authz_use **out)
{
    *out = NULL;
    pthread_mutex_lock(&a->use_mu);
    size_t n = take_dirty(a, now_ms, out);
    pthread_mutex_unlock(&a->use_mu);
    return n;
}

void authz_set_use_flush_ms(struct authz *a, int64_t ms)
{
    pthread_mutex_lock(&a->use_mu);
    a->flush_every_ms = ms;
    pthread_mutex_unlock(&a->use_mu);
}
