/* ckd.h - overflow-checked size arithmetic; each returns true on overflow. */
#ifndef QR_CKD_H
#define QR_CKD_H

#include <stdbool.h>
#include <stdint.h>

#define qr_add_overflow(a, b, out) __builtin_add_overflow((a), (b), (out))
#define qr_mul_overflow(a, b, out) __builtin_mul_overflow((a), (b), (out))

#endif
