/*
 * test_logs.c - logs/: appends from several threads read back in order with their
 * timestamps and unique stable ids, paging tokens of every read call, filter patterns,
 * the size cap removing the oldest segments, a full queue dropping the oldest events
 * without blocking, bursts arriving whole and in order without a flush (with far fewer
 * wake-ups of the logs thread than lines), the gather window ended by the high-water
 * mark, a flush and close, reopen keeping everything, and hostile group names staying inside
 * DATA/logs. Real files in a mkdtemp directory; white-box only through logs_int.h (to
 * stall the logs thread by holding a group's lock).
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
#include <dirent.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "logs/logs.h"
#include "logs/logs_int.h"

#define SL(s) QR_SLICE_LIT(s)

static char g_dir[64];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int setup(void **state)
{
    strcpy(g_dir, "/tmp/test_logs.XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    return 0;
}

static int teardown(void **state)
{
    nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static struct logs *open_store(const struct logs_opts *o)
{
    struct logs *l = NULL;
    assert_int_equal(logs_open(g_dir, o, &l), QR_OK);
    return l;
}

static void append_s(struct logs *l, const char *g, const char *s, int64_t ts, const char *msg)
{
    assert_int_equal(logs_append(l, qr_slice_cstr(g), qr_slice_cstr(s), ts, qr_slice_cstr(msg)),
                     QR_OK);
}

static struct logs_events get_all(struct logs *l, const char *g, const char *s, size_t limit,
                                  bool head, const char *token)
{
    struct logs_get_q q = {.group = qr_slice_cstr(g),
                           .stream = qr_slice_cstr(s),
                           .start_from_head = head,
                           .limit = limit,
                           .token = qr_slice_cstr(token)};
    struct logs_events ev;
    assert_int_equal(logs_get(l, &q, &ev), QR_OK);
    return ev;
}

static bool msg_is(const struct logs_event *e, const char *s)
{
    return qr_slice_eq(e->message, qr_slice_cstr(s));
}

/* ---- several writers ---- */

#define N_THREADS 4
#define N_PER     3000

struct writer_arg {
    struct logs *l;
    int id;
};

static void *writer(void *p)
{
    struct writer_arg *a = p;
    char stream[64], msg[64];
    snprintf(stream, sizeof(stream), "2026/11/25/[$LATEST]%032d", a->id);
    for (int i = 0; i < N_PER; i++) {
        snprintf(msg, sizeof(msg), "t%d line %d\n", a->id, i);
        if (logs_append(a->l, SL("/aws/lambda/multi"), qr_slice_cstr(stream), 1700000000000 + i,
                        qr_slice_cstr(msg)) != QR_OK)
            abort();
    }
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_threads_order_ids(void **state)
{
    struct logs *l = open_store(NULL);
    pthread_t t[N_THREADS];
    struct writer_arg a[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        a[i] = (struct writer_arg){l, i};
        assert_int_equal(pthread_create(&t[i], NULL, writer, &a[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    logs_flush(l);

    /* Each stream reads back in order, with the timestamps given. */
    for (int k = 0; k < N_THREADS; k++) {
        char stream[64], want[64];
        snprintf(stream, sizeof(stream), "2026/11/25/[$LATEST]%032d", k);
        struct logs_events ev = get_all(l, "/aws/lambda/multi", stream, 10000, true, "");
        assert_int_equal(ev.n, N_PER);
        for (size_t i = 0; i < ev.n; i++) {
            snprintf(want, sizeof(want), "t%d line %zu\n", k, i);
            assert_true(msg_is(&ev.ev[i], want));
            assert_int_equal(ev.ev[i].ts_ms, 1700000000000 + (int64_t)i);
            assert_true(ev.ev[i].ingest_ms > 1700000000000);
            assert_true(qr_slice_eq(ev.ev[i].stream, qr_slice_cstr(stream)));
        }
        logs_events_free(&ev);
    }

    /* Filter over the whole group: every event once, ids unique, 56 digits. */
    char **ids = calloc(N_THREADS * N_PER, sizeof(*ids));
    size_t n = 0;
    char token[LOGS_TOKEN_LEN] = "";
    int pages = 0;
    for (;;) {
        struct logs_filter_q q = {
            .group = SL("/aws/lambda/multi"), .limit = 1000, .token = qr_slice_cstr(token)};
        struct logs_events ev;
        assert_int_equal(logs_filter(l, &q, &ev), QR_OK);
        pages++;
        for (size_t i = 0; i < ev.n; i++) {
            assert_true(n < N_THREADS * N_PER);
            assert_int_equal(strlen(ev.ev[i].event_id), 56);
            ids[n++] = strdup(ev.ev[i].event_id);
        }
        bool more = ev.has_next;
        strcpy(token, ev.next_token);
        logs_events_free(&ev);
        if (!more)
            break;
    }
    assert_int_equal(n, N_THREADS * N_PER);
    assert_int_equal(pages, N_THREADS * N_PER / 1000);
    qsort(ids, n, sizeof(*ids), cmp_id);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(ids[i - 1], ids[i]) != 0);

    struct logs_stats st;
    logs_stats(l, &st);
    assert_int_equal(st.appended, N_THREADS * N_PER);
    assert_int_equal(st.written, N_THREADS * N_PER);
    assert_int_equal(st.dropped, 0);
    logs_close(l);

    /* Reopen: the same events carry the same ids. */
    l = open_store(NULL);
    size_t m = 0;
    token[0] = '\0';
    for (;;) {
        struct logs_filter_q q = {
            .group = SL("/aws/lambda/multi"), .limit = 10000, .token = qr_slice_cstr(token)};
        struct logs_events ev;
        assert_int_equal(logs_filter(l, &q, &ev), QR_OK);
        for (size_t i = 0; i < ev.n; i++) {
            char *key = ev.ev[i].event_id;
            assert_non_null(bsearch(&key, ids, n, sizeof(*ids), cmp_id));
            m++;
        }
        bool more = ev.has_next;
        strcpy(token, ev.next_token);
        logs_events_free(&ev);
        if (!more)
            break;
    }
    assert_int_equal(m, n);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    logs_close(l);
}

/* ---- GetLogEvents tokens ---- */

static void test_get_tokens(void **state)
{
    struct logs *l = open_store(NULL);
    char msg[32];
    for (int i = 0; i < 10; i++) {
        snprintf(msg, sizeof(msg), "a%d", i);
        append_s(l, "g", "A", 1000 + i, msg);
        snprintf(msg, sizeof(msg), "b%d", i);
        append_s(l, "g", "B", 1000 + i, msg);
    }
    logs_flush(l);

    /* Default (not from head): the newest `limit`, oldest first. */
    struct logs_events ev = get_all(l, "g", "A", 3, false, "");
    assert_int_equal(ev.n, 3);
    assert_true(msg_is(&ev.ev[0], "a7") && msg_is(&ev.ev[2], "a9"));
    char back[LOGS_TOKEN_LEN], fwd[LOGS_TOKEN_LEN];
    strcpy(back, ev.backward_token);
    strcpy(fwd, ev.next_token);
    assert_int_equal(back[0], 'b');
    assert_int_equal(fwd[0], 'f');
    logs_events_free(&ev);

    /* Forward from the newest: nothing, and the same token comes back. */
    ev = get_all(l, "g", "A", 3, false, fwd);
    assert_int_equal(ev.n, 0);
    assert_string_equal(ev.next_token, fwd);
    logs_events_free(&ev);

    /* Backward pages: a4..a6, a1..a3, a0, then nothing with an unchanged token. */
    const char *want_first[] = {"a4", "a1", "a0"};
    size_t want_n[] = {3, 3, 1};
    for (int p = 0; p < 3; p++) {
        ev = get_all(l, "g", "A", 3, false, back);
        assert_int_equal(ev.n, want_n[p]);
        assert_true(msg_is(&ev.ev[0], want_first[p]));
        strcpy(back, ev.backward_token);
        logs_events_free(&ev);
    }
    ev = get_all(l, "g", "A", 3, false, back);
    assert_int_equal(ev.n, 0);
    assert_string_equal(ev.backward_token, back);
    logs_events_free(&ev);

    /* From head, forward pages of 4: a0..a3, a4..a7, a8..a9, then unchanged. */
    ev = get_all(l, "g", "A", 4, true, "");
    assert_int_equal(ev.n, 4);
    assert_true(msg_is(&ev.ev[0], "a0") && msg_is(&ev.ev[3], "a3"));
    strcpy(fwd, ev.next_token);
    logs_events_free(&ev);
    ev = get_all(l, "g", "A", 4, true, fwd);
    assert_true(ev.n == 4 && msg_is(&ev.ev[0], "a4"));
    strcpy(fwd, ev.next_token);
    logs_events_free(&ev);
    ev = get_all(l, "g", "A", 4, true, fwd);
    assert_true(ev.n == 2 && msg_is(&ev.ev[1], "a9"));
    strcpy(fwd, ev.next_token);
    logs_events_free(&ev);
    ev = get_all(l, "g", "A", 4, true, fwd);
    assert_int_equal(ev.n, 0);
    assert_string_equal(ev.next_token, fwd);
    logs_events_free(&ev);

    /* New events show up on the unchanged forward token. */
    append_s(l, "g", "A", 2000, "a10");
    logs_flush(l);
    ev = get_all(l, "g", "A", 4, true, fwd);
    assert_true(ev.n == 1 && msg_is(&ev.ev[0], "a10"));
    logs_events_free(&ev);

    /* Time window: start inclusive, end exclusive. */
    struct logs_get_q q = {.group = SL("g"),
                           .stream = SL("B"),
                           .start_from_head = true,
                           .limit = 100,
                           .has_start = true,
                           .start_ms = 1003,
                           .has_end = true,
                           .end_ms = 1006};
    assert_int_equal(logs_get(l, &q, &ev), QR_OK);
    assert_int_equal(ev.n, 3);
    assert_true(msg_is(&ev.ev[0], "b3") && msg_is(&ev.ev[2], "b5"));
    logs_events_free(&ev);

    /* Errors. */
    q.stream = SL("nope");
    assert_int_equal(logs_get(l, &q, &ev), LOGS_E_NO_STREAM);
    q.group = SL("nope");
    assert_int_equal(logs_get(l, &q, &ev), LOGS_E_NO_GROUP);
    q.group = SL("g");
    q.stream = SL("A");
    q.token = SL("x/123");
    assert_int_equal(logs_get(l, &q, &ev), QR_E_BAD_INPUT);
    logs_close(l);
}

/* ---- filter ---- */

static size_t filter_count(struct logs *l, const char *pattern, const struct logs_filter_q *base)
{
    struct logs_pattern *p = NULL;
    assert_int_equal(logs_pattern_parse(qr_slice_cstr(pattern), &p), QR_OK);
    struct logs_filter_q q = *base;
    q.pattern = p;
    struct logs_events ev;
    assert_int_equal(logs_filter(l, &q, &ev), QR_OK);
    size_t n = ev.n;
    for (size_t i = 0; i < ev.n; i++)
        assert_true(logs_pattern_match(p, ev.ev[i].message));
    logs_events_free(&ev);
    logs_pattern_free(p);
    return n;
}

static void test_filter(void **state)
{
    struct logs *l = open_store(NULL);
    append_s(l, "/aws/lambda/f", "s1", 10, "START RequestId: 1 Version: $LATEST\n");
    append_s(l, "/aws/lambda/f", "s1", 11, "[ERROR] ValueError: boom\n");
    append_s(l, "/aws/lambda/f", "s1", 12, "[WARN] disk almost full\n");
    append_s(l, "/aws/lambda/f", "s2", 13, "hello world from s2\n");
    append_s(l, "/aws/lambda/f", "s2", 14, "world hello\n");
    append_s(l, "/aws/lambda/f", "x3", 15, "error lower case\n");
    logs_flush(l);
    struct logs_filter_q q = {.group = SL("/aws/lambda/f"), .limit = 100};
    assert_int_equal(filter_count(l, "", &q), 6);
    assert_int_equal(filter_count(l, "\"\"", &q), 6);
    assert_int_equal(filter_count(l, "ERROR", &q), 1); /* case-sensitive */
    assert_int_equal(filter_count(l, "hello world", &q), 2);
    assert_int_equal(filter_count(l, "\"hello world\"", &q), 1);
    assert_int_equal(filter_count(l, "hello -s2", &q), 1);
    assert_int_equal(filter_count(l, "?ERROR ?WARN", &q), 2);
    assert_int_equal(filter_count(l, "?ERROR ?WARN boom", &q), 1);
    assert_int_equal(filter_count(l, "\"RequestId: 1\"", &q), 1);
    assert_int_equal(filter_count(l, "nothing", &q), 0);

    /* Streams by name, by prefix, and time bounds. */
    struct qr_slice names[] = {SL("s2"), SL("x3"), SL("missing")};
    struct logs_filter_q q2 = q;
    q2.streams = names;
    q2.n_streams = 3;
    assert_int_equal(filter_count(l, "", &q2), 3);
    q2 = q;
    q2.prefix = SL("s");
    assert_int_equal(filter_count(l, "", &q2), 5);
    q2.has_start = true;
    q2.start_ms = 12;
    q2.has_end = true;
    q2.end_ms = 14;
    assert_int_equal(filter_count(l, "", &q2), 2);

    /* Paging with a pattern: 1 per page, tokens always move forward. */
    struct logs_pattern *p;
    assert_int_equal(logs_pattern_parse(SL("hello"), &p), QR_OK);
    q2 = q;
    q2.pattern = p;
    q2.limit = 1;
    struct logs_events ev;
    assert_int_equal(logs_filter(l, &q2, &ev), QR_OK);
    assert_true(ev.n == 1 && ev.has_next && msg_is(&ev.ev[0], "hello world from s2\n"));
    char tok[LOGS_TOKEN_LEN];
    strcpy(tok, ev.next_token);
    logs_events_free(&ev);
    q2.token = qr_slice_cstr(tok);
    assert_int_equal(logs_filter(l, &q2, &ev), QR_OK);
    assert_true(ev.n == 1 && msg_is(&ev.ev[0], "world hello\n"));
    assert_string_equal(ev.ev[0].stream.p ? "s2" : "", "s2");
    logs_events_free(&ev);
    logs_pattern_free(p);

    /* Unsupported and malformed patterns. */
    assert_int_equal(logs_pattern_parse(SL("{ $.level = \"ERROR\" }"), &p), QR_E_NOT_IMPLEMENTED);
    assert_int_equal(logs_pattern_parse(SL("[ip, user]"), &p), QR_E_NOT_IMPLEMENTED);
    assert_int_equal(logs_pattern_parse(SL("\"open"), &p), QR_E_BAD_INPUT);
    q2 = q;
    q2.group = SL("/aws/lambda/none");
    assert_int_equal(logs_filter(l, &q2, &ev), LOGS_E_NO_GROUP);
    q2 = q;
    q2.token = SL("garbage");
    assert_int_equal(logs_filter(l, &q2, &ev), QR_E_BAD_INPUT);
    logs_close(l);
}

/* ---- lists ---- */

static void test_lists(void **state)
{
    struct logs *l = open_store(NULL);
    const char *groups[] = {"/aws/lambda/b", "/aws/lambda/a", "/other", "/aws/lambda/c"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(logs_group_create(l, qr_slice_cstr(groups[i])), QR_OK);
    assert_int_equal(logs_group_create(l, SL("/other")), LOGS_E_EXISTS);
    struct logs_list p;
    assert_int_equal(logs_list_groups(l, SL("/aws/lambda/"), 2, SL(""), &p), QR_OK);
    assert_int_equal(p.n, 2);
    assert_true(qr_slice_eq(p.groups[0].name, SL("/aws/lambda/a")));
    assert_true(qr_slice_eq(p.groups[1].name, SL("/aws/lambda/b")));
    assert_true(p.has_next);
    char tok[sizeof(p.next_token)];
    strcpy(tok, p.next_token);
    logs_list_free(&p);
    assert_int_equal(logs_list_groups(l, SL("/aws/lambda/"), 2, qr_slice_cstr(tok), &p), QR_OK);
    assert_int_equal(p.n, 1);
    assert_true(qr_slice_eq(p.groups[0].name, SL("/aws/lambda/c")));
    assert_false(p.has_next);
    logs_list_free(&p);

    /* Streams: name order, LastEventTime order, descending, paging. */
    append_s(l, "/aws/lambda/a", "s-b", 300, "x");
    append_s(l, "/aws/lambda/a", "s-a", 100, "x");
    append_s(l, "/aws/lambda/a", "s-c", 200, "x");
    assert_int_equal(logs_stream_create(l, SL("/aws/lambda/a"), SL("s-d")), QR_OK);
    assert_int_equal(logs_stream_create(l, SL("/aws/lambda/a"), SL("s-d")), LOGS_E_EXISTS);
    assert_int_equal(logs_stream_create(l, SL("/nope"), SL("s")), LOGS_E_NO_GROUP);
    logs_flush(l);
    struct logs_stream_q q = {.group = SL("/aws/lambda/a"), .limit = 3};
    assert_int_equal(logs_list_streams(l, &q, &p), QR_OK);
    assert_int_equal(p.n, 3);
    assert_true(qr_slice_eq(p.streams[0].name, SL("s-a")));
    assert_true(p.streams[0].has_events && p.streams[0].first_event_ms == 100);
    assert_true(p.has_next);
    strcpy(tok, p.next_token);
    logs_list_free(&p);
    q.token = qr_slice_cstr(tok);
    assert_int_equal(logs_list_streams(l, &q, &p), QR_OK);
    assert_true(p.n == 1 && qr_slice_eq(p.streams[0].name, SL("s-d")));
    assert_false(p.streams[0].has_events);
    logs_list_free(&p);

    q = (struct logs_stream_q){.group = SL("/aws/lambda/a"),
                               .limit = 2,
                               .order = LOGS_ORDER_LAST_EVENT,
                               .descending = true};
    assert_int_equal(logs_list_streams(l, &q, &p), QR_OK);
    assert_true(p.n == 2 && qr_slice_eq(p.streams[0].name, SL("s-b")) &&
                qr_slice_eq(p.streams[1].name, SL("s-c")));
    strcpy(tok, p.next_token);
    logs_list_free(&p);
    q.token = qr_slice_cstr(tok);
    assert_int_equal(logs_list_streams(l, &q, &p), QR_OK);
    assert_true(p.n == 2 && qr_slice_eq(p.streams[0].name, SL("s-a")) &&
                qr_slice_eq(p.streams[1].name, SL("s-d")));
    assert_false(p.has_next);
    logs_list_free(&p);
    logs_close(l);

    /* Reopen keeps groups, empty streams and stats. */
    l = open_store(NULL);
    assert_true(logs_group_exists(l, SL("/other")));
    q = (struct logs_stream_q){.group = SL("/aws/lambda/a"), .limit = 50};
    assert_int_equal(logs_list_streams(l, &q, &p), QR_OK);
    assert_int_equal(p.n, 4);
    assert_true(p.streams[1].has_events && p.streams[1].last_event_ms == 300);
    logs_list_free(&p);
    logs_close(l);
}

/* ---- size cap ---- */

static size_t count_segs(const char *group)
{
    size_t n = 0;
    DIR *d = opendir(group);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        n += strstr(de->d_name, ".seg") != NULL;
    if (d)
        closedir(d);
    return n;
}

static void test_size_cap(void **state)
{
    struct logs_opts o = {.group_cap_bytes = 64 * 1024, .segment_bytes = 8 * 1024};
    struct logs *l = open_store(&o);
    char msg[128];
    for (int i = 0; i < 2000; i++) {
        snprintf(msg, sizeof(msg), "%04d %s", i,
                 "................................................................");
        append_s(l, "/aws/lambda/cap", "s", i, msg);
        if (i % 100 == 0)
            logs_flush(l); /* many batches, so many segments */
    }
    logs_flush(l);
    struct logs_stats st;
    logs_stats(l, &st);
    assert_true(st.segments_removed > 0);
    struct logs_list p;
    assert_int_equal(logs_list_groups(l, SL("/aws/lambda/cap"), 1, SL(""), &p), QR_OK);
    assert_true(p.groups[0].stored_bytes <= 64 * 1024);
    assert_true(p.groups[0].stored_bytes > 64 * 1024 - 8 * 1024 - 200);
    logs_list_free(&p);

    /* The oldest are gone, the newest kept, and the files match the index. */
    struct logs_events ev = get_all(l, "/aws/lambda/cap", "s", 10000, true, "");
    assert_true(ev.n > 0 && ev.n < 2000);
    assert_true(memcmp(ev.ev[ev.n - 1].message.p, "1999", 4) == 0);
    assert_true(memcmp(ev.ev[0].message.p, "0000", 4) != 0);
    for (size_t i = 1; i < ev.n; i++)
        assert_int_equal(ev.ev[i].ts_ms, ev.ev[i - 1].ts_ms + 1);
    size_t kept = ev.n;
    int64_t first = ev.ev[0].ts_ms;
    logs_events_free(&ev);

    char gdir[128];
    pthread_mutex_lock(&l->mu);
    snprintf(gdir, sizeof(gdir), "%s/logs/%s", g_dir,
             logs_find_group(l, SL("/aws/lambda/cap"))->dir);
    size_t live = logs_find_group(l, SL("/aws/lambda/cap"))->n_segs;
    pthread_mutex_unlock(&l->mu);
    assert_int_equal(count_segs(gdir), live);
    logs_close(l);

    l = open_store(&o);
    ev = get_all(l, "/aws/lambda/cap", "s", 10000, true, "");
    assert_int_equal(ev.n, kept);
    assert_int_equal(ev.ev[0].ts_ms, first);
    logs_events_free(&ev);
    logs_close(l);
}

/* ---- full queue ---- */

static void test_queue_drops_oldest(void **state)
{
    struct logs_opts o = {.queue_bytes = 64 * 1024};
    struct logs *l = open_store(&o);
    append_s(l, "q", "s", 0, "first");
    logs_flush(l);
    pthread_mutex_lock(&l->mu);
    struct logs_group *g = logs_find_group(l, SL("q"));
    pthread_mutex_unlock(&l->mu);
    /* Holding the group's lock stalls the logs thread inside its next commit; appends
     * must keep returning and the queue must drop its oldest. */
    pthread_rwlock_wrlock(&g->rw);
    char msg[1024];
    memset(msg, 'x', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    for (int i = 0; i < 1000; i++) {
        snprintf(msg, 16, "%06d", i);
        msg[6] = 'x';
        append_s(l, "q", "s", i + 1, msg);
    }
    struct logs_stats st;
    logs_stats(l, &st);
    assert_true(st.dropped > 0);
    pthread_rwlock_unlock(&g->rw);
    logs_flush(l);
    logs_stats(l, &st);
    assert_int_equal(st.appended, 1001);
    assert_int_equal(st.written + st.dropped, 1001);
    struct logs_events ev = get_all(l, "q", "s", 10, false, "");
    assert_true(ev.n == 10 && memcmp(ev.ev[9].message.p, "000999", 6) == 0);
    logs_events_free(&ev);
    logs_close(l);
}

/* ---- bursts without logs_flush: wake-ups coalesce, nothing is lost or reordered ---- */

static int64_t mono_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls (never logs_flush: that would wake the logs thread itself) until `want` events
 * are written, failing after limit_ms. Returns how long it took. */
static int64_t wait_written(struct logs *l, uint64_t want, int64_t limit_ms)
{
    int64_t t0 = mono_now_ms();
    for (;;) {
        struct logs_stats st;
        logs_stats(l, &st);
        assert_int_equal(st.dropped, 0);
        if (st.written >= want)
            return mono_now_ms() - t0;
        assert_true(mono_now_ms() - t0 < limit_ms);
        struct timespec nap = {0, 200000}; /* a poll interval, not a synchronisation */
        nanosleep(&nap, NULL);
    }
}

static uint64_t wakeups(struct logs *l)
{
    pthread_mutex_lock(&l->q_mu);
    uint64_t n = l->n_wake;
    pthread_mutex_unlock(&l->q_mu);
    return n;
}

/* Reads stream s of group g from the head, page by page, checking "<s> line <i>". */
static void check_stream_order(struct logs *l, const char *g, const char *s, size_t n)
{
    char token[LOGS_TOKEN_LEN] = "", want[64];
    size_t seen = 0;
    for (;;) {
        struct logs_events ev = get_all(l, g, s, LOGS_MAX_LIMIT, true, token);
        for (size_t i = 0; i < ev.n; i++, seen++) {
            snprintf(want, sizeof(want), "%s line %zu", s, seen);
            assert_true(msg_is(&ev.ev[i], want));
            assert_int_equal(ev.ev[i].ts_ms, 1700000000000 + (int64_t)seen);
        }
        bool done = ev.n == 0;
        strcpy(token, ev.next_token);
        logs_events_free(&ev);
        if (done)
            break;
    }
    assert_int_equal(seen, n);
}

#define BURST_LINES 60000

static void test_burst_no_flush(void **state)
{
    struct logs *l = open_store(NULL);
    /* One line on an idle store arrives on its own, well inside a second. */
    append_s(l, "/aws/lambda/burst", "s0", 1700000000000, "s0 line 0");
    int64_t first_ms = wait_written(l, 1, 5000);
    print_message("one line on an idle store readable after %" PRId64 " ms\n", first_ms);
    assert_true(first_ms < 1000);

    /* A burst over two streams, interleaved as a function's START/END/REPORT would be. */
    uint64_t w0 = wakeups(l);
    char msg[64];
    size_t n0 = 1, n1 = 0;
    for (int i = 0; i < BURST_LINES; i++) {
        bool other = i % 3 == 2;
        const char *s = other ? "s1" : "s0";
        size_t *k = other ? &n1 : &n0;
        snprintf(msg, sizeof(msg), "%s line %zu", s, *k);
        append_s(l, "/aws/lambda/burst", s, 1700000000000 + (int64_t)*k, msg);
        (*k)++;
    }
    uint64_t woken = wakeups(l) - w0;
    int64_t burst_ms = wait_written(l, 1 + BURST_LINES, 10000);
    print_message("%d lines: %" PRIu64 " wake-ups, all readable %" PRId64 " ms after\n",
                  BURST_LINES, woken, burst_ms);
    /* Per line this was BURST_LINES; a wake-up now ends a wait of the logs thread. */
    assert_true(woken < BURST_LINES / 10);
    check_stream_order(l, "/aws/lambda/burst", "s0", n0);
    check_stream_order(l, "/aws/lambda/burst", "s1", n1);
    struct logs_stats st;
    logs_stats(l, &st);
    assert_int_equal(st.appended, 1 + BURST_LINES);
    assert_int_equal(st.written, 1 + BURST_LINES);
    logs_close(l);

    /* After a restart the same order. */
    l = open_store(NULL);
    check_stream_order(l, "/aws/lambda/burst", "s0", n0);
    check_stream_order(l, "/aws/lambda/burst", "s1", n1);
    logs_close(l);
}

/* With a gather window far longer than the test, only the high-water mark, a flush or
 * close can get events written: each must end the wait. */
static void test_gather_ends_early(void **state)
{
    struct logs_opts o = {.batch_ms = 60000, .queue_bytes = 1 << 20};
    struct logs *l = open_store(&o);
    char msg[256];
    memset(msg, 'x', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    /* Past queue_bytes / LOGS_QUEUE_HIGH_DIV (128 KB), short of full (no drops). */
    size_t n = (o.queue_bytes / LOGS_QUEUE_HIGH_DIV) / sizeof(msg) + 16;
    for (size_t i = 0; i < n; i++) {
        snprintf(msg, 16, "%06d", (int)i);
        msg[6] = 'x';
        append_s(l, "hw", "s", (int64_t)i, msg);
    }
    (void)wait_written(l, 1, 10000);

    append_s(l, "hw", "s", (int64_t)n, "after the burst");
    int64_t t0 = mono_now_ms();
    logs_flush(l);
    assert_true(mono_now_ms() - t0 < 10000);
    struct logs_stats st;
    logs_stats(l, &st);
    assert_int_equal(st.written, n + 1);

    append_s(l, "hw", "s", (int64_t)n + 1, "before close");
    t0 = mono_now_ms();
    logs_close(l);
    assert_true(mono_now_ms() - t0 < 10000);
    l = open_store(NULL);
    struct logs_events ev = get_all(l, "hw", "s", 2, false, "");
    assert_int_equal(ev.n, 2);
    assert_true(msg_is(&ev.ev[0], "after the burst") && msg_is(&ev.ev[1], "before close"));
    logs_events_free(&ev);
    logs_close(l);
}

/* ---- hostile names ---- */

static const char *g_logs_root;
static int bad_paths;

static int check_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    size_t rl = strlen(g_logs_root);
    if (strncmp(p, g_logs_root, rl) != 0) {
        bad_paths++;
        return 0;
    }
    const char *rel = p + rl;
    if (*rel == '\0')
        return 0;
    /* Only /g<32 hex> and files in it with fixed names. */
    if (strlen(rel) < 34 || rel[0] != '/' || rel[1] != 'g') {
        bad_paths++;
        return 0;
    }
    for (size_t i = 2; i < 34; i++)
        if (!strchr("0123456789abcdef", rel[i]))
            bad_paths++;
    const char *f = rel + 34;
    if (*f && strcmp(f, "/group") && strcmp(f, "/streams") &&
        !(strlen(f) == 15 && strcmp(f + 11, ".seg") == 0))
        bad_paths++;
    return 0;
}

static void test_hostile_names(void **state)
{
    struct logs *l = open_store(NULL);
    const struct qr_slice names[] = {
        SL("../../etc/passwd"), SL("/.."),           SL(".."),
        SL("a/../../b"),        SL("/aws/lambda/x"), {(const uint8_t *)"nul\0in\xff\xfe/\n", 10},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
        assert_int_equal(logs_append(l, names[i], SL("../../stream/.."), 1, SL("m")), QR_OK);
    uint8_t big[LOGS_MAX_NAME + 1];
    memset(big, '/', sizeof(big));
    assert_int_equal(logs_append(l, qr_slice(big, sizeof(big)), SL("s"), 1, SL("m")),
                     QR_E_BAD_INPUT);
    assert_int_equal(logs_append(l, SL(""), SL("s"), 1, SL("m")), QR_E_BAD_INPUT);
    logs_flush(l);
    logs_close(l);

    char root[128];
    snprintf(root, sizeof(root), "%s/logs", g_dir);
    g_logs_root = root;
    bad_paths = 0;
    nftw(g_dir, check_cb, 16, FTW_PHYS);
    assert_int_equal(bad_paths, 1); /* g_dir itself, which is not under logs */

    l = open_store(NULL);
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        struct logs_get_q q = {.group = names[i],
                               .stream = SL("../../stream/.."),
                               .limit = 10,
                               .start_from_head = true};
        struct logs_events ev;
        assert_int_equal(logs_get(l, &q, &ev), QR_OK);
        assert_int_equal(ev.n, 1);
        logs_events_free(&ev);
    }
    logs_close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_threads_order_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_drops_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_no_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gather_ends_early, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_names, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
