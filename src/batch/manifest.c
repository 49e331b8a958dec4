/*
 * manifest.c - the reader that streams a job's pinned manifest (inline bytes or blob
 * extents) line by line from any byte offset, in a fixed 64 KiB buffer: a manifest of
 * any length is read in bounded memory, and a resumed job starts at its checkpointed
 * offset. Lines are bounded (BATCH_LINE_MAX) before anyone looks at them; csv.c parses
 * them.
 */
#include "batch/batch_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/codec.h"
#include "util/names.h"

/* ---- the reader ---- */

enum qr_err batch_mreader_open(struct store *st, struct store_reader *r, const char *job_id,
                               uint64_t start, struct batch_mreader *out)
{
    memset(out, 0, sizeof(*out));
    h2o_mem_init_pool(&out->pool);
    enum qr_err err = store_job_manifest(r, job_id, &out->pool, &out->m);
    if (err != QR_OK) {
        h2o_mem_clear_pool(&out->pool);
        return err;
    }
    out->st = st;
    out->fd = -1;
    out->next_off = start;
    out->fill_off = start;
    out->buf = qr_xmalloc(BATCH_MREAD_BUF);
    return QR_OK;
}

void batch_mreader_close(struct batch_mreader *mr)
{
    if (mr->fd >= 0)
        close(mr->fd);
    free(mr->buf);
    h2o_mem_clear_pool(&mr->pool);
    mr->buf = NULL;
    mr->fd = -1;
}

/* Reads up to n bytes at manifest offset off; *got 0 at the end. */
static enum qr_err read_at(struct batch_mreader *mr, uint64_t off, uint8_t *dst, size_t n,
                           size_t *got)
{
    *got = 0;
    if (off >= mr->m.size)
        return QR_OK;
    if (mr->m.size - off < n)
        n = (size_t)(mr->m.size - off);
    if (mr->m.inline_data.p) {
        memcpy(dst, mr->m.inline_data.p + off, n);
        *got = n;
        return QR_OK;
    }
    uint64_t base = 0;
    for (size_t i = 0; i < mr->m.n_ext; i++) {
        const struct store_extent *x = &mr->m.ext[i];
        if (off >= base + x->len) {
            base += x->len;
            continue;
        }
        if (mr->fd < 0 || mr->fd_ext != i) {
            if (mr->fd >= 0)
                close(mr->fd);
            mr->fd = -1;
            enum qr_err err = store_blob_open(mr->st, x->blob, &mr->fd);
            if (err != QR_OK)
                return err;
            mr->fd_ext = i;
        }
        uint64_t in = off - base;
        size_t want = x->len - in < n ? (size_t)(x->len - in) : n;
        ssize_t r = pread(mr->fd, dst, want, (off_t)(x->off + in));
        if (r <= 0)
            return QR_E_IO;
        store_extent_decrypt(x, x->off + in, dst, (size_t)r);
        *got = (size_t)r;
        return QR_OK;
    }
    return QR_OK;
}

/* Moves unread bytes to the front and reads more; *eof when nothing more came. */
static enum qr_err fill(struct batch_mreader *mr, bool *eof)
{
    if (mr->off > 0) {
        memmove(mr->buf, mr->buf + mr->off, mr->len - mr->off);
        mr->len -= mr->off;
        mr->off = 0;
    }
    size_t got;
    enum qr_err err = read_at(mr, mr->fill_off, mr->buf + mr->len, BATCH_MREAD_BUF - mr->len, &got);
    if (err != QR_OK)
        return err;
    mr->len += got;
    mr->fill_off += got;
    *eof = got == 0;
    return QR_OK;
}

enum qr_err batch_mreader_next(struct batch_mreader *mr, struct qr_slice *out, bool *out_eof)
{
    bool eof = false;
    for (;;) {
        size_t i = mr->off;
        while (i < mr->len && mr->buf[i] != '\n')
            i++;
        bool have_nl = i < mr->len;
        if (!have_nl && !eof && i - mr->off <= BATCH_LINE_MAX) {
            enum qr_err err = fill(mr, &eof);
            if (err != QR_OK)
                return err;
            continue;
        }
        size_t start = mr->off, end = i;
        if (end - start > BATCH_LINE_MAX)
            return QR_E_TOO_LARGE;
        if (!have_nl && start == end) {
            *out_eof = true;
            return QR_OK;
        }
        mr->off = have_nl ? i + 1 : i;
        mr->line_no++;
        mr->next_off += mr->off - start;
        if (end > start && mr->buf[end - 1] == '\r')
            end--;
        if (end == start)
            continue; /* an empty line (a trailing one, or CRLF doubled) carries no task */
        *out = qr_slice(mr->buf + start, end - start);
        *out_eof = false;
        return QR_OK;
    }
}
