/*
 * code.h - a function's code: the zip a client uploads, its digest (AWS's CodeSha256)
 * and its unpacked tree under DATA/functions/<hex sha256>/, which the engine mounts
 * read-only at /var/task.
 *
 * The same zip always lands in the same directory, so identical code is unpacked once
 * and shared by every function and version that uses it. A zip is hostile input: it is
 * extracted entry by entry relative to a directory fd, never through libarchive's disk
 * writer; absolute names, ".." components, links and device nodes are refused, and the
 * unzipped size and entry count are bounded (Lambda's 250 MB).
 */
#ifndef QR_FN_CODE_H
#define QR_FN_CODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/slice.h"

#define FN_CODE_MAX_ZIP_DIRECT (50u * 1024u * 1024u)  /* ZipFile in a request, decoded */
#define FN_CODE_MAX_UNZIPPED   (250u * 1024u * 1024u) /* unzipped code (and a zip from S3) */
#define FN_CODE_MAX_ENTRIES    65536u                 /* files and directories in one zip */
#define FN_CODE_MAX_PATH       1024u                  /* bytes of one entry's name */
#define FN_CODE_MAX_DEPTH      64u                    /* directory levels of one entry */

struct fn_code {
    char sha256_b64[48]; /* base64 of the zip's SHA-256: the function's CodeSha256 */
    char sha256_hex[65]; /* lower-case hex: the directory name */
    uint64_t zip_size;   /* bytes of the zip: CodeSize */
    uint64_t unzipped;   /* bytes of all files (0 when the directory already existed) */
    size_t entries;      /* entries extracted (0 when the directory already existed) */
    bool over_cap;       /* set also on failure: QR_E_TOO_LARGE because all unpacked code
                            together would pass the cap (fn_code_account) */
};

#define FN_CODE_CAP_DEFAULT (10ull << 30) /* all unpacked code: --function-code-max */

/* Digests zip and makes sure DATA/functions/<hex>/ holds its files: extracts into a
 * private DATA/functions/<hex>.tmp.<random> directory, syncs it (unless no_fsync) and
 * renames it into place; a directory that already exists is reused as it is. Regular
 * files keep their executable bit (0755, else 0644); directories are 0755.
 * zip borrowed. Errors: QR_E_BAD_INPUT (not a zip, a refused entry: absolute, "..",
 * symlink, hardlink, device, duplicate name), QR_E_TOO_LARGE (over FN_CODE_MAX_UNZIPPED
 * or FN_CODE_MAX_ENTRIES or a name over the limits), QR_E_IO. Blocks: worker thread. */
enum qr_err fn_code_unpack(const char *data_dir, struct qr_slice zip, bool no_fsync,
                           struct fn_code *out) __attribute__((warn_unused_result));

/* Writes "DATA/functions/<hex>" into out (cap bytes). False if it does not fit. Any thread. */
bool fn_code_dir(const char *data_dir, const char *sha256_hex, char *out, size_t cap);

/* Converts a CodeSha256 (base64 of 32 bytes) to the hex directory name. False if b64 is
 * not base64 of exactly 32 bytes. Any thread. */
bool fn_code_hex(const char *b64, char out_hex[65]);

/* Removes DATA/functions/<hex>.tmp.* left by a crash in the middle of an unpack.
 * Main thread, at start. */
void fn_code_sweep(const char *data_dir);

/* Sets the cap on all unpacked code together (0: none) and counts what DATA/functions
 * holds now; fn_code_unpack refuses (over_cap) what would pass it, fn_code_remove gives
 * the room back. Main thread, at start, after fn_code_sweep. */
void fn_code_account(const char *data_dir, uint64_t cap);

/* Code directories are shared by every version naming the same zip, so removing one must
 * not race with an unpack that reuses it and the commit of the row that names it: both
 * happen under this lock (a process-wide mutex; unpacks are rare). Worker threads. */
void fn_code_lock(void);
void fn_code_unlock(void);

/* Removes DATA/functions/<hex of sha256_b64> (renamed away first, so it vanishes at once;
 * what cannot be removed is left to fn_code_sweep). The caller holds fn_code_lock and has
 * made sure no function names the code (store_fn_code_used). Worker thread. */
void fn_code_remove(const char *data_dir, const char *sha256_b64);

#endif
