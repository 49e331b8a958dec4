/*
 * form.h - application/x-www-form-urlencoded (the AWS query protocol's request body):
 * "Action=CreateUser&UserName=alice&Path=%2F". Pure, bounded, no allocation: decoded
 * bytes go to a scratch buffer as long as the input (decoding never lengthens).
 */
#ifndef QR_UTIL_FORM_H
#define QR_UTIL_FORM_H

#include <stddef.h>

#include "util/err.h"
#include "util/slice.h"

struct qr_form_pair {
    struct qr_slice name;  /* decoded, points into scratch */
    struct qr_slice value; /* decoded ("" for "name" or "name="), points into scratch */
};

/*
 * Splits in at '&', each part at its first '=', percent-decodes both ('+' is a space),
 * skipping empty parts. scratch must hold in.len bytes. Errors: QR_E_BAD_INPUT (a '%'
 * not followed by two hex digits, a NUL byte, or an empty name), QR_E_TOO_LARGE (more
 * than max pairs). Any thread.
 */
enum qr_err qr_form_parse(struct qr_slice in, char *scratch, struct qr_form_pair *out, size_t max,
                          size_t *out_n) __attribute__((warn_unused_result));

/* The value of the first pair named name, or false. */
bool qr_form_get(const struct qr_form_pair *p, size_t n, const char *name, struct qr_slice *out);

#endif
