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
    out->cur.fd = -1; /* closing a reader whose open failed closes nothing */
    h2o_mem_init_pool(&out->pool);
    enum qr_err err = store_job_manifest(r, job_id, &out->pool, &out->m);
    if (err != QR_OK) {
        h2o_mem_clear_pool(&out->pool);
        return err;
    }
    out->st = st;
    store_bytes_cursor_init(&out->cur, st, out->m.size, out->m.inline_data, out->m.ext,
                            out->m.n_ext, start, UINT64_MAX);
    out->next_off = start;
    out->fill_off = start;
    out->buf = qr_xmalloc(BATCH_MREAD_BUF);
    return QR_OK;
}

void batch_mreader_close(struct batch_mreader *mr)
{
    store_obj_cursor_close(&mr->cur);
    free(mr->buf);
    h2o_mem_clear_pool(&mr->pool);
    mr->buf = NULL;
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
    enum qr_err err = store_obj_read(&mr->cur, mr->buf + mr->len, BATCH_MREAD_BUF - mr->len, &got);
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
