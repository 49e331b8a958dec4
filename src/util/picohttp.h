/*
 * picohttp.h - the interface of picohttpparser as libh2o-evloop 2.2.5 exports it: Debian
 * installs the library's symbols but not its header, so the two functions quarry uses
 * (and their structs, laid out as in h2o's lib/picohttpparser.h) are declared once here.
 * Used by the HTTP layer (src/http) and the Runtime API server (src/fn/rtapi.c).
 */
#ifndef QR_PICOHTTP_H
#define QR_PICOHTTP_H

#include <stddef.h>
#include <sys/types.h>

struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};

/* Parses a request head in buf[0, len); returns its length, -1 (malformed) or -2
 * (incomplete). headers: in/out count *num_headers. */
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
                      const char **path, size_t *path_len, int *minor_version,
                      struct phr_header *headers, size_t *num_headers, size_t last_len);

/* Decodes chunked transfer coding in place; returns the bytes left after the last chunk,
 * -1 (malformed) or -2 (incomplete); *bufsz becomes the decoded length. */
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

#endif
