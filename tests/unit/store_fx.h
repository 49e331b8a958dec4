/*
 * store_fx.h - the fixture the store's unit tests share: a real store in a fresh mkdtemp
 * directory with a reader and a request pool. fx_close/fx_open reopen it on the same
 * directory (the restart and migration tests); fx_teardown closes it and removes the
 * directory. Include after cmocka.h; every function is static, one copy per test program.
 */
#ifndef QR_TESTS_STORE_FX_H
#define QR_TESTS_STORE_FX_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <ftw.h>
#include <sys/stat.h>

#include "store/store.h"

struct fx {
    char dir[64];
    struct store *st;
    struct store_reader *r;
    h2o_mem_pool_t pool;
    bool no_fsync; /* tests of many commits are about the store, not the disk */
};

static void fx_open(struct fx *f)
{
    struct store_opts o = {.dir = f->dir, .no_fsync = f->no_fsync};
    assert_int_equal(store_open(&o, &f->st), QR_OK);
    assert_int_equal(store_reader_new(f->st, &f->r), QR_OK);
}

static void fx_close(struct fx *f)
{
    store_reader_free(f->r);
    store_close(f->st);
    f->r = NULL;
    f->st = NULL;
}

/* A store in a new directory made from tmpl ("/tmp/qr-x-XXXXXX"); NULL if mkdtemp fails. */
static struct fx *fx_new(const char *tmpl, bool no_fsync)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s", tmpl);
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return NULL;
    }
    f->no_fsync = no_fsync;
    fx_open(f);
    h2o_mem_init_pool(&f->pool);
    return f;
}

static int fx_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    fx_close(f);
    h2o_mem_clear_pool(&f->pool);
    nftw(f->dir, fx_rm, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

#endif
