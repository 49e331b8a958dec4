/*
 * test_fnstore.c - the store's function registry and Event queue (store_fn.h): create
 * conflicts, RevisionId conditions, publish numbering (no reuse after delete, "nothing
 * changed" returns the same version, CodeSha256 check), aliases and their conditions,
 * version deletion blocked by an alias, reserved concurrency, listing pages, and the
 * Event queue's claim/lease/ack/retry surviving a reopen. Real SQLite in a mkdtemp dir.
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
#include <unistd.h>

#include "store/store.h"
#include "store_fx.h"

#define SL(s) QR_SLICE_LIT(s)

static int setup(void **state)
{
    struct fx *f = fx_new("/tmp/qr-fnstore-XXXXXX", true);
    if (f == NULL)
        return -1;
    *state = f;
    return 0;
}

static void create_fn(struct fx *f, const char *name, const char *rev, const char *cfg)
{
    struct store_fn_create c = {
        .name = name,
        .revision = rev,
        .code_sha256 = "c2hhMQ==",
        .code_size = 100,
        .now_ms = 1000,
        .config = qr_slice_cstr(cfg),
        .tags = SL("{\"t\":\"1\"}"),
    };
    assert_int_equal(store_fn_create(f->st, &c), QR_OK);
}

static void expect_slice(struct qr_slice s, const char *want)
{
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.p, want, s.len);
}

static void test_create_get_conflict(void **state)
{
    struct fx *f = *state;
    create_fn(f, "f1", "rev-a", "{\"Runtime\":\"python3.11\"}");
    struct store_fn_create again = {.name = "f1", .revision = "x", .code_sha256 = "",
                                    .config = SL("{}")};
    assert_int_equal(store_fn_create(f->st, &again), QR_E_CONFLICT);

    struct store_fn fn;
    assert_int_equal(store_fn_get(f->r, SL("f1"), STORE_FN_LATEST, &f->pool, &fn), QR_OK);
    assert_string_equal(fn.name, "f1");
    assert_int_equal(fn.version, 0);
    assert_string_equal(fn.revision, "rev-a");
    assert_string_equal(fn.code_sha256, "c2hhMQ==");
    assert_int_equal(fn.code_size, 100);
    assert_int_equal(fn.state, STORE_FN_ACTIVE);
    assert_int_equal(fn.last_modified_ms, 1000);
    assert_int_equal(fn.reserved, -1);
    assert_int_equal(fn.last_published, 0);
    expect_slice(fn.config, "{\"Runtime\":\"python3.11\"}");
    expect_slice(fn.tags, "{\"t\":\"1\"}");
    assert_int_equal(store_fn_get(f->r, SL("f1"), 1, &f->pool, &fn), QR_E_NO_SUCH_KEY);
    assert_int_equal(store_fn_get(f->r, SL("nope"), 0, &f->pool, &fn), QR_E_NO_SUCH_KEY);
}

static void test_update_revision(void **state)
{
    struct fx *f = *state;
    create_fn(f, "f", "r1", "{\"a\":1}");
    uint32_t v = 99;
    struct store_fn_update u = {.name = "f", .if_revision = "wrong", .revision = "r2",
                                .now_ms = 2000, .config = SL("{\"a\":2}")};
    assert_int_equal(store_fn_update(f->st, &u, &v), QR_E_PRECONDITION);
    u.if_revision = "r1";
    assert_int_equal(store_fn_update(f->st, &u, &v), QR_OK);
    assert_int_equal(v, 0);
    struct store_fn fn;
    assert_int_equal(store_fn_get(f->r, SL("f"), 0, &f->pool, &fn), QR_OK);
    assert_string_equal(fn.revision, "r2");
    assert_string_equal(fn.code_sha256, "c2hhMQ=="); /* code kept */
    assert_int_equal(fn.last_modified_ms, 2000);
    expect_slice(fn.config, "{\"a\":2}");
    /* new code */
    u = (struct store_fn_update){.name = "f", .revision = "r3", .now_ms = 3000,
                                 .config = SL("{\"a\":2}"), .code_sha256 = "bmV3", .code_size = 7};
    assert_int_equal(store_fn_update(f->st, &u, &v), QR_OK);
    assert_int_equal(store_fn_get(f->r, SL("f"), 0, &f->pool, &fn), QR_OK);
    assert_string_equal(fn.code_sha256, "bmV3");
    assert_int_equal(fn.code_size, 7);
    u.name = "missing";
    assert_int_equal(store_fn_update(f->st, &u, &v), QR_E_NO_SUCH_KEY);
}

static void test_publish_numbering(void **state)
{
    struct fx *f = *state;
    create_fn(f, "p", "r1", "{\"d\":0}");
    uint32_t v = 0;
    struct store_fn_publish p = {.name = "p", .revision = "v1", .now_ms = 5};
    assert_int_equal(store_fn_publish(f->st, &p, &v), QR_OK);
    assert_int_equal(v, 1);
    /* nothing changed: the same version again */
    p.revision = "v1b";
    assert_int_equal(store_fn_publish(f->st, &p, &v), QR_OK);
    assert_int_equal(v, 1);
    struct store_fn fn;
    assert_int_equal(store_fn_get(f->r, SL("p"), 1, &f->pool, &fn), QR_OK);
    assert_string_equal(fn.revision, "v1");
    expect_slice(fn.config, "{\"d\":0}");
    assert_int_equal(fn.version, 1);

    /* a change, then conditions */
    struct store_fn_update u = {.name = "p", .revision = "r2", .config = SL("{\"d\":1}")};
    assert_int_equal(store_fn_update(f->st, &u, &v), QR_OK);
    p = (struct store_fn_publish){.name = "p", .revision = "v2", .if_revision = "r1"};
    assert_int_equal(store_fn_publish(f->st, &p, &v), QR_E_PRECONDITION);
    p.if_revision = "r2";
    p.if_code_sha256 = "other";
    assert_int_equal(store_fn_publish(f->st, &p, &v), QR_E_PRECONDITION);
    p.if_code_sha256 = "c2hhMQ==";
    assert_int_equal(store_fn_publish(f->st, &p, &v), QR_OK);
    assert_int_equal(v, 2);
    /* delete version 2: its number is not reused */
    assert_int_equal(store_fn_delete(f->st, SL("p"), 2), QR_OK);
    assert_int_equal(store_fn_get(f->r, SL("p"), 2, &f->pool, &fn), QR_E_NO_SUCH_KEY);
    p = (struct store_fn_publish){.name = "p", .revision = "v3", .config = SL("{\"d\":\"x\"}")};
    assert_int_equal(store_fn_publish(f->st, &p, &v), QR_OK);
    assert_int_equal(v, 3);
    assert_int_equal(store_fn_get(f->r, SL("p"), 3, &f->pool, &fn), QR_OK);
    expect_slice(fn.config, "{\"d\":\"x\"}");
    assert_int_equal(fn.last_published, 3);

    /* versions listing: $LATEST, 1, 3 */
    struct store_fn *list;
    size_t n;
    bool trunc;
    assert_int_equal(store_fn_versions(f->r, SL("p"), -1, 2, &f->pool, &list, &n, &trunc), QR_OK);
    assert_int_equal(n, 2);
    assert_true(trunc);
    assert_int_equal(list[0].version, 0);
    assert_int_equal(list[1].version, 1);
    assert_int_equal(store_fn_versions(f->r, SL("p"), 1, 2, &f->pool, &list, &n, &trunc), QR_OK);
    assert_int_equal(n, 1);
    assert_false(trunc);
    assert_int_equal(list[0].version, 3);
    assert_int_equal(store_fn_versions(f->r, SL("q"), -1, 2, &f->pool, &list, &n, &trunc),
                     QR_E_NO_SUCH_KEY);
}

static void test_create_publish_and_update_publish(void **state)
{
    struct fx *f = *state;
    struct store_fn_create c = {.name = "cp", .revision = "r1", .code_sha256 = "s",
                                .config = SL("{}"), .publish_revision = "v1"};
    assert_int_equal(store_fn_create(f->st, &c), QR_OK);
    struct store_fn fn;
    assert_int_equal(store_fn_get(f->r, SL("cp"), 1, &f->pool, &fn), QR_OK);
    assert_string_equal(fn.revision, "v1");
    uint32_t v = 0;
    struct store_fn_publish p = {.name = "cp", .revision = "zz"};
    assert_int_equal(store_fn_publish(f->st, &p, &v), QR_OK);
    assert_int_equal(v, 1); /* unchanged since create's publish */
    struct store_fn_update u = {.name = "cp", .revision = "r2", .config = SL("{\"x\":1}"),
                                .code_sha256 = "t", .code_size = 3, .publish_revision = "v2"};
    assert_int_equal(store_fn_update(f->st, &u, &v), QR_OK);
    assert_int_equal(v, 2);
    assert_int_equal(store_fn_get(f->r, SL("cp"), 2, &f->pool, &fn), QR_OK);
    assert_string_equal(fn.code_sha256, "t");
    expect_slice(fn.config, "{\"x\":1}");
}

static void test_aliases(void **state)
{
    struct fx *f = *state;
    create_fn(f, "a", "r1", "{}");
    uint32_t v;
    struct store_fn_publish p = {.name = "a", .revision = "v1"};
    assert_int_equal(store_fn_publish(f->st, &p, &v), QR_OK);

    struct store_fn_alias_put ap = {.function = "a", .name = "live", .create = true,
                                    .version = 1, .revision = "ar1",
                                    .description = SL("first"), .routing = SL("")};
    assert_int_equal(store_fn_alias_put(f->st, &ap), QR_OK);
    assert_int_equal(store_fn_alias_put(f->st, &ap), QR_E_CONFLICT);
    ap.name = "bad";
    ap.version = 7;
    assert_int_equal(store_fn_alias_put(f->st, &ap), QR_E_NO_SUCH_KEY); /* no version 7 */
    ap.function = "nofn";
    ap.version = 1;
    assert_int_equal(store_fn_alias_put(f->st, &ap), QR_E_NO_SUCH_KEY);

    struct store_fn_alias al;
    assert_int_equal(store_fn_alias_get(f->r, SL("a"), SL("live"), &f->pool, &al), QR_OK);
    assert_int_equal(al.version, 1);
    assert_string_equal(al.revision, "ar1");
    expect_slice(al.description, "first");

    /* update: keep description, point at $LATEST; revision condition */
    struct store_fn_alias_put up = {.function = "a", .name = "live", .version = 0,
                                    .revision = "ar2", .if_revision = "nope",
                                    .routing = SL("{\"AdditionalVersionWeights\":{}}")};
    assert_int_equal(store_fn_alias_put(f->st, &up), QR_E_PRECONDITION);
    up.if_revision = "ar1";
    assert_int_equal(store_fn_alias_put(f->st, &up), QR_OK);
    assert_int_equal(store_fn_alias_get(f->r, SL("a"), SL("live"), &f->pool, &al), QR_OK);
    assert_int_equal(al.version, 0);
    expect_slice(al.description, "first");
    expect_slice(al.routing, "{\"AdditionalVersionWeights\":{}}");
    up = (struct store_fn_alias_put){.function = "a", .name = "ghost", .version = 1,
                                     .revision = "x"};
    assert_int_equal(store_fn_alias_put(f->st, &up), QR_E_NO_SUCH_KEY);

    /* an alias on version 1 blocks deleting it */
    ap = (struct store_fn_alias_put){.function = "a", .name = "old", .create = true,
                                     .version = 1, .revision = "ar3"};
    assert_int_equal(store_fn_alias_put(f->st, &ap), QR_OK);
    assert_int_equal(store_fn_delete(f->st, SL("a"), 1), QR_E_CONFLICT);

    struct store_fn_alias *list;
    size_t n;
    bool trunc;
    assert_int_equal(store_fn_alias_list(f->r, SL("a"), SL(""), UINT32_MAX, 10, &f->pool, &list,
                                         &n, &trunc),
                     QR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "live");
    assert_string_equal(list[1].name, "old");
    assert_int_equal(store_fn_alias_list(f->r, SL("a"), SL(""), 1, 10, &f->pool, &list, &n,
                                         &trunc),
                     QR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "old");

    assert_int_equal(store_fn_alias_delete(f->st, SL("a"), SL("old")), QR_OK);
    assert_int_equal(store_fn_alias_delete(f->st, SL("a"), SL("old")), QR_E_NO_SUCH_KEY);
    assert_int_equal(store_fn_delete(f->st, SL("a"), 1), QR_OK);
    assert_int_equal(store_fn_delete(f->st, SL("a"), 1), QR_E_NO_SUCH_KEY);

    /* deleting the function takes its aliases */
    assert_int_equal(store_fn_delete(f->st, SL("a"), STORE_FN_LATEST), QR_OK);
    assert_int_equal(store_fn_alias_get(f->r, SL("a"), SL("live"), &f->pool, &al),
                     QR_E_NO_SUCH_KEY);
    create_fn(f, "a", "r9", "{}");
    assert_int_equal(store_fn_alias_get(f->r, SL("a"), SL("live"), &f->pool, &al),
                     QR_E_NO_SUCH_KEY);
    /* a recreated function starts numbering again at 1 */
    assert_int_equal(store_fn_publish(f->st, &p, &v), QR_OK);
    assert_int_equal(v, 1);
}

static void test_concurrency_and_list(void **state)
{
    struct fx *f = *state;
    const char *names[] = {"b", "a", "c", "d"};
    for (size_t i = 0; i < 4; i++)
        create_fn(f, names[i], "r", "{}");
    uint32_t v;
    struct store_fn_publish p = {.name = "b", .revision = "v1"};
    assert_int_equal(store_fn_publish(f->st, &p, &v), QR_OK);
    assert_int_equal(store_fn_set_concurrency(f->st, SL("b"), 5), QR_OK);
    assert_int_equal(store_fn_set_concurrency(f->st, SL("zz"), 5), QR_E_NO_SUCH_KEY);
    struct store_fn fn;
    assert_int_equal(store_fn_get(f->r, SL("b"), 1, &f->pool, &fn), QR_OK);
    assert_int_equal(fn.reserved, 5); /* the function's, seen from a version */
    assert_int_equal(store_fn_set_concurrency(f->st, SL("b"), 0), QR_OK);
    assert_int_equal(store_fn_get(f->r, SL("b"), 0, &f->pool, &fn), QR_OK);
    assert_int_equal(fn.reserved, 0);
    assert_int_equal(store_fn_set_concurrency(f->st, SL("b"), -1), QR_OK);
    assert_int_equal(store_fn_get(f->r, SL("b"), 0, &f->pool, &fn), QR_OK);
    assert_int_equal(fn.reserved, -1);

    struct store_fn *list;
    size_t n;
    bool trunc;
    assert_int_equal(store_fn_list(f->r, SL(""), 0, false, 3, &f->pool, &list, &n, &trunc), QR_OK);
    assert_int_equal(n, 3);
    assert_true(trunc);
    assert_string_equal(list[0].name, "a");
    assert_string_equal(list[1].name, "b");
    assert_string_equal(list[2].name, "c");
    assert_int_equal(store_fn_list(f->r, SL("c"), 0, false, 3, &f->pool, &list, &n, &trunc), QR_OK);
    assert_int_equal(n, 1);
    assert_false(trunc);
    assert_string_equal(list[0].name, "d");
    /* all versions: a/0 b/0 b/1 c/0 d/0, paged after (b, 0) */
    assert_int_equal(store_fn_list(f->r, SL("b"), 0, true, 2, &f->pool, &list, &n, &trunc), QR_OK);
    assert_int_equal(n, 2);
    assert_true(trunc);
    assert_string_equal(list[0].name, "b");
    assert_int_equal(list[0].version, 1);
    assert_string_equal(list[1].name, "c");
}

static void test_events(void **state)
{
    struct fx *f = *state;
    assert_int_equal(store_fn_event_enqueue(f->st, SL("arn:f:1"), "id-1", SL("{\"a\":1}"), 1000),
                     QR_OK);
    assert_int_equal(store_fn_event_enqueue(f->st, SL("arn:g"), "id-2", SL(""), 1001), QR_OK);
    int64_t due;
    assert_int_equal(store_fn_event_next_due(f->r, &due), QR_OK);
    assert_int_equal(due, 1000);

    struct store_fn_event *ev;
    size_t n;
    assert_int_equal(store_fn_event_claim(f->st, 999, 60000, 10, &f->pool, &ev, &n), QR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_fn_event_claim(f->st, 1000, 60000, 10, &f->pool, &ev, &n), QR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].attempts, 1);
    assert_string_equal(ev[0].request_id, "id-1");
    expect_slice(ev[0].target, "arn:f:1");
    expect_slice(ev[0].payload, "{\"a\":1}");
    assert_int_equal(ev[0].enqueued_ms, 1000);
    int64_t first = ev[0].id;

    /* leased: not claimable again before the lease ends */
    assert_int_equal(store_fn_event_claim(f->st, 2000, 60000, 10, &f->pool, &ev, &n), QR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].request_id, "id-2");
    assert_int_equal(ev[0].payload.len, 0);
    int64_t second = ev[0].id;
    assert_int_equal(store_fn_event_ack(f->st, second), QR_OK);

    /* quarry "dies" holding the lease of the first: after reopen it comes back once
     * the lease has run out, with its attempts counted */
    fx_close(f);
    fx_open(f);
    assert_int_equal(store_fn_event_claim(f->st, 30000, 60000, 10, &f->pool, &ev, &n), QR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_fn_event_next_due(f->r, &due), QR_OK);
    assert_int_equal(due, 61000);
    assert_int_equal(store_fn_event_claim(f->st, 61000, 60000, 10, &f->pool, &ev, &n), QR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].id, first);
    assert_int_equal(ev[0].attempts, 2);
    /* retry: due again at the time given */
    assert_int_equal(store_fn_event_retry(f->st, first, 70000), QR_OK);
    assert_int_equal(store_fn_event_claim(f->st, 69999, 60000, 10, &f->pool, &ev, &n), QR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_fn_event_claim(f->st, 70000, 60000, 10, &f->pool, &ev, &n), QR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].attempts, 3);
    assert_int_equal(store_fn_event_ack(f->st, first), QR_OK);
    assert_int_equal(store_fn_event_next_due(f->r, &due), QR_OK);
    assert_true(due == INT64_MAX);

    uint8_t *big = calloc(1, STORE_FN_EVENT_MAX + 1);
    assert_int_equal(store_fn_event_enqueue(f->st, SL("x"), "id", qr_slice(big,
                                            STORE_FN_EVENT_MAX + 1), 1),
                     QR_E_TOO_LARGE);
    free(big);
}

static void test_survives_reopen(void **state)
{
    struct fx *f = *state;
    create_fn(f, "keep", "r1", "{\"k\":true}");
    uint32_t v;
    struct store_fn_publish p = {.name = "keep", .revision = "v1"};
    assert_int_equal(store_fn_publish(f->st, &p, &v), QR_OK);
    fx_close(f);
    fx_open(f);
    struct store_fn fn;
    assert_int_equal(store_fn_get(f->r, SL("keep"), 1, &f->pool, &fn), QR_OK);
    expect_slice(fn.config, "{\"k\":true}");
    assert_int_equal(fn.last_published, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get_conflict, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_update_revision, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_publish_numbering, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_create_publish_and_update_publish, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_aliases, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrency_and_list, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_survives_reopen, setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
