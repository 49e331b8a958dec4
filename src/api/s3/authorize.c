/*
 * authorize.c - the one authorization call of every S3 request, made by the dispatch in
 * s3.c once the operation, bucket and key are known. It applies the rules of the
 * credential kind (an S3 Express session: its bucket, its mode, never CreateSession, and
 * no copy source outside its bucket), then the account's IAM decision.
 */
#include "api/s3/s3_int.h"

#include <string.h>

#define MSG_SESSION_SCOPE                                                                        \
    "The S3 Express session credentials are not valid for this bucket or operation."

/* An S3 Express session is bound to one bucket and a mode: reads only in ReadOnly, no new
 * session from a session, and a copy (CopyObject, UploadPartCopy) may read only its own
 * bucket, since the session authorises nothing else. */
static bool session_allows(struct s3_op *op, const char *name, unsigned flags)
{
    const struct creds_identity *id = &op->ar->id;
    if (id->kind != CREDS_S3EXPRESS)
        return true;
    if (!op->directory || !qr_slice_eq(op->bucket, qr_slice_cstr(id->bucket)))
        return false;
    if (id->mode == CREDS_READ_ONLY && (flags & S3_WRITES))
        return false;
    if (strcmp(name, "CreateSession") == 0)
        return false;
    struct qr_slice v, sb, sk;
    if (!s3_hdr(op, "x-amz-copy-source", &v))
        return true;
    /* Parsed exactly as the copy will parse it: the bucket checked is the bucket read. */
    return s3_copy_source(op, &sb, &sk) && qr_slice_eq(sb, qr_slice_cstr(id->bucket));
}

bool s3_authorize(struct s3_op *op, const char *name, unsigned flags)
{
    if (!session_allows(op, name, flags)) {
        s3_fail_code(op, 403, "AccessDenied", MSG_SESSION_SCOPE);
        return false;
    }
    return true;
}
