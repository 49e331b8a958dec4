/*
 * checksum.h - the digests S3 speaks: CRC32 (zlib), CRC32C and CRC64NVME (ISA-L),
 * SHA-1, SHA-256 and MD5 (OpenSSL), streaming, plus base64/hex rendering and the
 * combination rules for multipart uploads (composite digests, full-object CRCs).
 * Pure computation: any thread.
 */
#ifndef QR_CHECKSUM_H
#define QR_CHECKSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum qr_ck {
    QR_CK_CRC32,
    QR_CK_CRC32C,
    QR_CK_CRC64NVME,
    QR_CK_SHA1,
    QR_CK_SHA256,
    QR_CK_MD5,
    QR_CK__COUNT,
};

#define QR_CK_MAX_DIGEST 32

/* A running digest; state is opaque. */
struct qr_ck_state {
    enum qr_ck alg;
    uint64_t crc; /* CRC algorithms */
    void *_md;    /* EVP_MD_CTX for hashes; owned */
};

/* Digest length in bytes of alg (4, 4, 8, 20, 32, 16). */
size_t qr_ck_len(enum qr_ck alg);
/* "CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "MD5". */
const char *qr_ck_name(enum qr_ck alg);
/* Parses a name (case-insensitive); false if unknown. */
bool qr_ck_from_name(const char *p, size_t len, enum qr_ck *out);

void qr_ck_init(struct qr_ck_state *s, enum qr_ck alg);
void qr_ck_update(struct qr_ck_state *s, const void *p, size_t len);
/* Writes qr_ck_len(alg) bytes (big-endian for CRCs, as AWS renders them) and disposes s. */
void qr_ck_final(struct qr_ck_state *s, uint8_t *out);
/* One-shot digest of a buffer. */
void qr_ck_digest(enum qr_ck alg, const void *p, size_t len, uint8_t *out);

/* CRC of A||B from crc(A), crc(B) and len(B): full-object multipart CRCs without
 * rereading the bytes. For QR_CK_CRC32, QR_CK_CRC32C and QR_CK_CRC64NVME only. */
uint64_t qr_ck_crc_combine(enum qr_ck alg, uint64_t crc_a, uint64_t crc_b, uint64_t len_b);
/* Big-endian digest bytes of a CRC value <-> the value. */
void qr_ck_crc_to_bytes(enum qr_ck alg, uint64_t crc, uint8_t *out);
uint64_t qr_ck_crc_from_bytes(enum qr_ck alg, const uint8_t *p);

/* Base64 (standard alphabet, padded). out must hold 4*ceil(n/3)+1 bytes; NUL-terminated. */
size_t qr_b64_encode(const uint8_t *p, size_t n, char *out);
/* Strict base64 decode (padding required, no whitespace). Errors: QR_E_BAD_INPUT,
 * QR_E_TOO_LARGE (more than out_max bytes). */
enum qr_err qr_b64_decode(const char *p, size_t n, uint8_t *out, size_t out_max, size_t *out_len)
    __attribute__((warn_unused_result));
/* Lower-case hex; out holds 2n+1 bytes, NUL-terminated. */
void qr_hex_encode(const uint8_t *p, size_t n, char *out);
/* Hex decode of exactly 2*out_len chars (either case). Errors: QR_E_BAD_INPUT. */
enum qr_err qr_hex_decode(const char *p, size_t n, uint8_t *out, size_t out_len)
    __attribute__((warn_unused_result));

#endif
