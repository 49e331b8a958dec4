/*
 * test_store_versions.c - store/: a key with many versions. Deleting its current version
 * hands "current" to the next newest version, delete marker or null version with index
 * seeks, and reads of the current version ignore the old ones. The seeks are checked
 * twice: by the plans SQLite chooses for the store's own statements (EXPLAIN QUERY PLAN)
 * and by the virtual machine steps the statements ran.
 * Real SQLite and real files in a mkdtemp directory; white-box through store_int.h
 * (statement text and step counters) and direct SQL on meta.db to stage an old schema.
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
#include <ftw.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store_fx.h"
#include "store/store_int.h"

#define SL(s)      QR_SLICE_LIT(s)
#define N_VERSIONS 10000

static int setup(void **state)
{
    struct fx *f = fx_new("/tmp/qr-storev-XXXXXX", true);
    if (f == NULL)
        return -1;
    struct store_bucket b = {.name = "vb", .type = STORE_BUCKET_GENERAL, .region = "us-east-1"};
    assert_int_equal(store_bucket_create(f->st, &b), QR_OK);
    assert_int_equal(store_bucket_set_versioning(f->st, SL("vb"), STORE_VERS_ENABLED), QR_OK);
    *state = f;
    return 0;
}

/* ---- helpers ---- */

static void vput(struct fx *f, struct qr_slice key, const char *body, char vid[40])
{
    struct store_put p = {.bucket = SL("vb"),
                          .key = key,
                          .data = qr_slice_cstr(body),
                          .etag = "e",
                          .headers = SL("h")};
    struct store_put_result res;
    assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
    memcpy(vid, res.version_id, 40);
}

static struct store_delete_result vdel(struct fx *f, struct qr_slice key, const char *version)
{
    struct store_delete d = {.bucket = SL("vb"),
                             .key = key,
                             .version = version ? qr_slice_cstr(version) : qr_slice(NULL, 0)};
    struct store_delete_result res;
    assert_int_equal(store_obj_delete_v(f->st, &d, &res), QR_OK);
    return res;
}

/* The current version of key: its id and body, or the marker's id with body "" and
 * *marker set. */
static void current(struct fx *f, struct qr_slice key, char vid[40], char body[16], bool *marker)
{
    struct store_obj o;
    enum qr_err err = store_obj_get(f->r, SL("vb"), key, true, &f->pool, &o);
    *marker = err == QR_E_NO_SUCH_KEY && o.is_marker;
    if (!*marker)
        assert_int_equal(err, QR_OK);
    memcpy(vid, o.version_id, 40);
    body[0] = '\0';
    if (!*marker) {
        assert_true(o.inline_data.len < 16);
        memcpy(body, o.inline_data.p, o.inline_data.len);
        body[o.inline_data.len] = '\0';
    }
}

static void assert_current(struct fx *f, struct qr_slice key, const char *want_vid,
                           const char *want_body)
{
    char vid[40], body[16];
    bool marker;
    current(f, key, vid, body, &marker);
    assert_string_equal(vid, want_vid);
    assert_false(marker);
    assert_string_equal(body, want_body);
}

/* Steps the writer's ST_OBJ_PROMOTE ran for the delete just made: the one statement of a
 * version delete that looks for the successor. A scan over N_VERSIONS index entries runs
 * several steps per entry; a seek a few dozen whatever N_VERSIONS is. */
static void assert_seek(struct fx *f)
{
    int steps = store_debug_steps(f->st, ST_OBJ_PROMOTE);
    if (steps >= 200)
        fprintf(stderr, "promote ran %d steps\n", steps);
    assert_true(steps > 0);
    assert_true(steps < 200);
}

static void body_of(unsigned i, char out[16])
{
    snprintf(out, 16, "v%05u", i);
}

static int64_t sql_int(const char *dir, const char *q, bool exec_only);

/* ---- tests ---- */

/* k gets N_VERSIONS versions; j and l (its neighbours in key order, so in the index)
 * get versions now and then, l's always with higher rowids than most of k's. */
static char (*fill(struct fx *f))[40]
{
    char (*v)[40] = calloc(N_VERSIONS, 40);
    char other[40], body[16];
    for (unsigned i = 0; i < N_VERSIONS; i++) {
        body_of(i, body);
        vput(f, SL("k"), body, v[i]);
        if (i % 1000 == 0) {
            vput(f, SL("j"), "j", other);
            vput(f, SL("l"), "l", other);
        }
    }
    vput(f, SL("l"), "l-last", other);
    return v;
}

static void test_delete_current_among_many(void **state)
{
    struct fx *f = *state;
    char (*v)[40] = fill(f);
    char body[16];
    (void)store_debug_steps(f->st, ST_OBJ_PROMOTE);

    /* the newest goes: the next newest of k (not l's newer rows) is current */
    struct store_delete_result dr = vdel(f, SL("k"), v[N_VERSIONS - 1]);
    assert_string_equal(dr.version_id, v[N_VERSIONS - 1]);
    assert_false(dr.marker);
    assert_seek(f);
    body_of(N_VERSIONS - 2, body);
    assert_current(f, SL("k"), v[N_VERSIONS - 2], body);
    char vid[40];
    bool is_marker;
    char lbody[16];
    current(f, SL("l"), vid, lbody, &is_marker); /* the neighbour keeps its own current */
    assert_string_equal(lbody, "l-last");

    /* an old version goes: the current one stays */
    dr = vdel(f, SL("k"), v[5000]);
    assert_string_equal(dr.version_id, v[5000]);
    assert_seek(f);
    assert_current(f, SL("k"), v[N_VERSIONS - 2], body);

    /* a delete marker on top: k reads as deleted; a version put after it and then deleted
     * by id hands "current" back to the marker, so k still reads as deleted (S3 makes the
     * next newest current whatever it is) */
    dr = vdel(f, SL("k"), NULL);
    assert_true(dr.marker);
    char marker_id[40], vnew[40];
    memcpy(marker_id, dr.version_id, 40);
    current(f, SL("k"), vid, body, &is_marker);
    assert_true(is_marker);
    assert_string_equal(vid, marker_id);
    vput(f, SL("k"), "new", vnew);
    assert_current(f, SL("k"), vnew, "new");
    dr = vdel(f, SL("k"), vnew);
    assert_seek(f);
    current(f, SL("k"), vid, body, &is_marker);
    assert_true(is_marker);
    assert_string_equal(vid, marker_id);
    struct store_list_opts lo = {.max = 10};
    struct store_list_result lr;
    assert_int_equal(store_list(f->r, SL("vb"), &lo, &f->pool, &lr), QR_OK);
    assert_int_equal(lr.n, 2); /* j and l: k's current version is a marker */

    /* deleting the marker by id brings back the newest real version */
    dr = vdel(f, SL("k"), marker_id);
    assert_true(dr.marker);
    assert_seek(f);
    body_of(N_VERSIONS - 2, body);
    assert_current(f, SL("k"), v[N_VERSIONS - 2], body);
    free(v);
}

/* Exactly one row of the key has latest = 1 after each delete, and it is the newest:
 * checked against the listing, which orders by the same rowid. */
static void test_versions_listing_newest_first(void **state)
{
    struct fx *f = *state;
    char (*v)[40] = fill(f);
    (void)vdel(f, SL("k"), v[N_VERSIONS - 1]);
    (void)vdel(f, SL("k"), v[N_VERSIONS - 3]);
    (void)store_debug_steps(f->st, ST_OBJ_PROMOTE);

    struct store_list_opts o = {.max = 4, .versions = true, .prefix = SL("k")};
    struct store_list_result r;
    assert_int_equal(store_list(f->r, SL("vb"), &o, &f->pool, &r), QR_OK);
    assert_true(r.truncated);
    assert_int_equal(r.n, 4);
    const unsigned want[] = {N_VERSIONS - 2, N_VERSIONS - 4, N_VERSIONS - 5, N_VERSIONS - 6};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(r.e[i].version_id, v[want[i]]);
        assert_true(r.e[i].is_latest == (i == 0));
    }
    /* the next page resumes inside the key after a version id */
    o.after = SL("k");
    o.after_version = qr_slice_cstr(v[N_VERSIONS - 6]);
    o.prefix = qr_slice(NULL, 0);
    assert_int_equal(store_list(f->r, SL("vb"), &o, &f->pool, &r), QR_OK);
    assert_int_equal(r.n, 4);
    assert_string_equal(r.e[0].version_id, v[N_VERSIONS - 7]);

    /* the key's last versions go one by one, newest first: each delete finds the next */
    for (unsigned i = N_VERSIONS - 2; i > N_VERSIONS - 20; i--) {
        if (i == N_VERSIONS - 3)
            continue;
        (void)vdel(f, SL("k"), v[i]);
        assert_seek(f);
        unsigned next = i - 1 == N_VERSIONS - 3 ? i - 2 : i - 1;
        char body[16];
        body_of(next, body);
        assert_current(f, SL("k"), v[next], body);
    }
    free(v);
}

/* A key's null version (written before versioning, or while suspended) is a version
 * like the others: it becomes current when every newer one is deleted, and a version
 * newer than it hands "current" back to it. A never-versioned bucket's rows are not in
 * objects_by_key_seq at all. */
static void test_null_version_successor(void **state)
{
    struct fx *f = *state;
    struct store_bucket b = {.name = "nb", .type = STORE_BUCKET_GENERAL, .region = "us-east-1"};
    assert_int_equal(store_bucket_create(f->st, &b), QR_OK);
    struct store_put p = {
        .bucket = SL("nb"), .key = SL("k"), .data = SL("null-1"), .etag = "e", .headers = SL("h")};
    struct store_put_result res;
    assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
    assert_int_equal(sql_int(f->dir,
                             "SELECT instr(sql, 'WHERE version_id<>''null''') > 0"
                             " FROM sqlite_master WHERE name='objects_by_key_seq'",
                             false),
                     1);
    assert_int_equal(store_bucket_set_versioning(f->st, SL("nb"), STORE_VERS_ENABLED), QR_OK);
    char v[3][40];
    const char *bodies[] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++) {
        p.data = qr_slice_cstr(bodies[i]);
        assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
        memcpy(v[i], res.version_id, 40);
    }
    struct store_delete d = {.bucket = SL("nb"), .key = SL("k")};
    struct store_delete_result dr;
    struct store_obj o;
    for (int i = 2; i >= 0; i--) {
        d.version = qr_slice_cstr(v[i]);
        assert_int_equal(store_obj_delete_v(f->st, &d, &dr), QR_OK);
        assert_seek(f);
        assert_int_equal(store_obj_get(f->r, SL("nb"), SL("k"), true, &f->pool, &o), QR_OK);
        assert_string_equal(o.version_id, i ? v[i - 1] : "null");
        assert_memory_equal(o.inline_data.p, i ? bodies[i - 1] : "null-1", o.inline_data.len);
    }
    /* suspended: the null version is replaced and is the newest; a version put after
     * it and deleted hands "current" back to it */
    assert_int_equal(store_bucket_set_versioning(f->st, SL("nb"), STORE_VERS_SUSPENDED), QR_OK);
    p.data = SL("null-2");
    assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
    assert_int_equal(store_bucket_set_versioning(f->st, SL("nb"), STORE_VERS_ENABLED), QR_OK);
    p.data = SL("d");
    assert_int_equal(store_obj_put(f->st, &p, &res), QR_OK);
    d.version = qr_slice_cstr(res.version_id);
    assert_int_equal(store_obj_delete_v(f->st, &d, &dr), QR_OK);
    assert_seek(f);
    assert_int_equal(store_obj_get(f->r, SL("nb"), SL("k"), true, &f->pool, &o), QR_OK);
    assert_string_equal(o.version_id, "null");
    assert_memory_equal(o.inline_data.p, "null-2", 6);
    /* and the last version of a key goes: nothing is current, nothing is promoted */
    d.version = SL("null");
    assert_int_equal(store_obj_delete_v(f->st, &d, &dr), QR_OK);
    assert_int_equal(store_obj_get(f->r, SL("nb"), SL("k"), false, &f->pool, &o),
                     QR_E_NO_SUCH_KEY);
    assert_false(o.is_marker);
}

/* The plans SQLite picks: index searches only, no scan and no temporary b-tree to sort;
 * the successor of a deleted current version is found through objects_by_key_seq, and
 * the statements of a key's current version use objects_latest (a walk of every version
 * would find it too, slowly). */
static void test_version_plans(void **state)
{
    struct fx *f = *state;
    static const struct {
        enum stmt_id id;
        const char *index;
    } want[] = {
        {ST_OBJ_PROMOTE, "objects_by_key_seq"}, {ST_OBJ_FIND, "objects_latest"},
        {ST_OBJ_FULL, "objects_latest"},        {ST_OBJ_GET, "objects_latest"},
        {ST_OBJ_SET_TAGS, "objects_latest"},    {ST_LIST_BOUNDED, "objects_latest"},
        {ST_LIST_UNBOUNDED, "objects_latest"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        sqlite3_stmt *s = stmt_get(&f->r->c, want[i].id);
        assert_non_null(s);
        char q[1024];
        snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sqlite3_sql(s));
        sqlite3_stmt *e;
        assert_int_equal(sqlite3_prepare_v2(f->r->db, q, -1, &e, NULL), SQLITE_OK);
        bool used = false;
        while (sqlite3_step(e) == SQLITE_ROW) {
            const char *d = (const char *)sqlite3_column_text(e, 3);
            if (strstr(d, "SCAN") || strstr(d, "TEMP B-TREE"))
                fail_msg("%s: %s", sqlite3_sql(s), d);
            used |= strstr(d, want[i].index) != NULL;
        }
        sqlite3_finalize(e);
        if (!used)
            fail_msg("%s does not use %s", sqlite3_sql(s), want[i].index);
    }
}

/* Reading, tagging and listing the current version of a key with N_VERSIONS versions
 * costs what it costs for a key with one. */
static void test_current_reads_ignore_old_versions(void **state)
{
    struct fx *f = *state;
    char (*v)[40] = fill(f);
    char vid[40], body[16];
    bool marker;
    sqlite3_stmt *get = stmt_get(&f->r->c, ST_OBJ_GET);
    assert_non_null(get);
    (void)sqlite3_stmt_status(get, SQLITE_STMTSTATUS_VM_STEP, 1);
    current(f, SL("k"), vid, body, &marker);
    assert_string_equal(vid, v[N_VERSIONS - 1]);
    int steps = sqlite3_stmt_status(f->r->c.s[ST_OBJ_GET], SQLITE_STMTSTATUS_VM_STEP, 1);
    assert_true(steps > 0 && steps < 200);
    struct store_list_opts o = {.max = 3};
    struct store_list_result r;
    assert_int_equal(store_list(f->r, SL("vb"), &o, &f->pool, &r), QR_OK);
    assert_int_equal(r.n, 3); /* j, k, l */
    steps = sqlite3_stmt_status(f->r->c.s[ST_LIST_UNBOUNDED], SQLITE_STMTSTATUS_VM_STEP, 1);
    assert_true(steps > 0 && steps < 500);
    assert_int_equal(store_obj_set_tags(f->st, SL("vb"), SL("k"), SL("t")), QR_OK);
    steps = store_debug_steps(f->st, ST_OBJ_SET_TAGS);
    assert_true(steps > 0 && steps < 200);
    free(v);
}

/* ---- direct SQL on meta.db ---- */

static int64_t sql_int(const char *dir, const char *q, bool exec_only)
{
    char path[128];
    sqlite3 *db;
    sqlite3_stmt *s;
    snprintf(path, sizeof(path), "%s/meta.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
    int rc = sqlite3_step(s);
    assert_int_equal(rc, exec_only ? SQLITE_DONE : SQLITE_ROW);
    int64_t v = exec_only ? 0 : sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

/* A data directory from before the index (schema 3): the index is built on open from the
 * rows already there, and deletes use it at once. */
static void test_migrate_adds_index(void **state)
{
    struct fx *f = *state;
    char v[3][40];
    vput(f, SL("k"), "a", v[0]);
    vput(f, SL("k"), "b", v[1]);
    vput(f, SL("k"), "c", v[2]);
    fx_close(f);
    (void)sql_int(f->dir, "DROP INDEX objects_by_key_seq", true);
    (void)sql_int(f->dir, "PRAGMA user_version=19", true);
    fx_open(f);
    assert_int_equal(sql_int(f->dir,
                             "SELECT count(*) FROM sqlite_master"
                             " WHERE type='index' AND name='objects_by_key_seq'",
                             false),
                     1);
    assert_int_equal(sql_int(f->dir, "PRAGMA user_version", false), 21);
    (void)vdel(f, SL("k"), v[2]);
    assert_seek(f);
    assert_current(f, SL("k"), v[1], "b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_delete_current_among_many, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_versions_listing_newest_first, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_null_version_successor, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_version_plans, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_current_reads_ignore_old_versions, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_adds_index, setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
