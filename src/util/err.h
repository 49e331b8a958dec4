/*
 * err.h - the one error enum of quarry.
 *
 * Every function that can fail returns enum qr_err. The values are domain errors,
 * specific enough for api/ to pick the AWS error code; core modules never write
 * AWS code strings. One X-macro table produces the enum, the names and the messages.
 */
#ifndef QR_ERR_H
#define QR_ERR_H

#define QR_ERR_MAP(X)                                                                              \
    X(OK, "success")                                                                               \
    X(E_INTERNAL, "internal error")                                                                \
    X(E_IO, "i/o error")                                                                           \
    X(E_DB, "metadata database error")                                                             \
    X(E_BUSY, "busy, try again")                                                                   \
    X(E_BAD_INPUT, "malformed input")                                                              \
    X(E_TOO_LARGE, "input exceeds a limit")                                                        \
    X(E_TOO_SMALL, "input is below a limit")                                                       \
    X(E_NOT_IMPLEMENTED, "not implemented")                                                        \
    X(E_INVALID_BUCKET_NAME, "invalid bucket name")                                                \
    X(E_INVALID_KEY, "invalid object key")                                                         \
    X(E_NO_SUCH_BUCKET, "no such bucket")                                                          \
    X(E_NO_SUCH_KEY, "no such key")                                                                \
    X(E_NO_SUCH_UPLOAD, "no such multipart upload")                                                \
    X(E_BUCKET_EXISTS, "bucket already exists")                                                    \
    X(E_BUCKET_NOT_EMPTY, "bucket not empty")                                                      \
    X(E_PRECONDITION, "precondition failed")                                                       \
    X(E_NOT_MODIFIED, "not modified")                                                              \
    X(E_INVALID_RANGE, "range not satisfiable")                                                    \
    X(E_INVALID_PART, "invalid part")                                                              \
    X(E_INVALID_PART_ORDER, "invalid part order")                                                  \
    X(E_BAD_DIGEST, "checksum mismatch")                                                           \
    X(E_INVALID_DIGEST, "malformed checksum")                                                      \
    X(E_CONTENT_SHA256_MISMATCH, "x-amz-content-sha256 does not match the body")                   \
    X(E_INCOMPLETE_BODY, "body shorter or longer than declared")                                   \
    X(E_AUTH_MISSING, "request is not signed")                                                     \
    X(E_AUTH_MALFORMED, "malformed authorization")                                                 \
    X(E_NO_SUCH_ACCESS_KEY, "unknown access key id")                                               \
    X(E_SIGNATURE, "signature does not match")                                                     \
    X(E_CLOCK_SKEW, "request time too skewed")                                                     \
    X(E_EXPIRED, "request or credentials expired")                                                 \
    X(E_TOKEN, "invalid security token")                                                           \
    X(E_DENIED, "access denied")                                                                   \
    X(E_CONFLICT, "conflicting concurrent operation")                                              \
    X(E_CHUNK_SIZE, "aws-chunked chunk under 8 KiB before the last")

enum qr_err {
#define QR_ERR_ENUM(name, msg) QR_##name,
    QR_ERR_MAP(QR_ERR_ENUM)
#undef QR_ERR_ENUM
        QR_ERR__COUNT
};

/* A static string describing err; any thread. */
const char *qr_strerror(enum qr_err err);
/* The enum's name without the QR_ prefix ("E_NO_SUCH_KEY"); any thread. */
const char *qr_errname(enum qr_err err);

#endif
