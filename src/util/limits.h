/* limits.h - every limit quarry enforces, with AWS's names where AWS has one. */
#ifndef QR_LIMITS_H
#define QR_LIMITS_H

#define QR_MAX_KEY_LEN         1024u /* S3 object key, bytes of UTF-8 */
#define QR_MAX_BUCKET_NAME_LEN 63u
#define QR_MIN_BUCKET_NAME_LEN 3u
#define QR_MAX_USER_META       2048u                       /* x-amz-meta-* names + values */
#define QR_MAX_HEADER_BYTES    (16u * 1024u)               /* all request headers together */
#define QR_MAX_SINGLE_PUT      (5ull * 1024 * 1024 * 1024) /* 5 GiB, PutObject and UploadPart */
#define QR_MIN_PART_SIZE       (5ull * 1024 * 1024)        /* all but the last part */
#define QR_MAX_PARTS           10000u
#define QR_MAX_OBJECT_SIZE     (5ull * 1024 * 1024 * 1024 * 1024) /* 5 TiB */
#define QR_MAX_KEYS            1000u                              /* per list page */
#define QR_MAX_DELETE_KEYS     1000u                              /* per DeleteObjects */
#define QR_MAX_XML_BODY        (2u * 1024u * 1024u)               /* any XML request body */
#define QR_MAX_TAGS            10u                                /* object tags */
#define QR_MAX_CLOCK_SKEW_MS   (15ll * 60 * 1000)
#define QR_MAX_PRESIGN_EXPIRES 604800u       /* 7 days */
#define QR_SESSION_TTL_S       300u          /* S3 Express session */
#define QR_INLINE_MAX          (64u * 1024u) /* objects up to this live in their row */

#endif
