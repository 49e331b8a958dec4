/*
 * names.h - AWS's naming rules for buckets and object keys, checked before a name is
 * used anywhere (stored, logged, rendered). Pure functions over borrowed bytes: any
 * thread.
 */
#ifndef QR_NAMES_H
#define QR_NAMES_H

#include <stdbool.h>

#include "util/slice.h"

/*
 * True when name (borrowed) is a valid bucket name of either kind; then, if
 * out_directory is not NULL, *out_directory says which (untouched on false).
 *
 * A name ending in "--x-s3" is a directory bucket and must be base--zoneid--x-s3:
 * 3-63 bytes including the suffix, a-z 0-9 '-' only, base non-empty and starting and
 * ending with a letter or digit, zone id [a-z0-9-]+ starting and ending with a letter
 * or digit and containing no "--" (so the split is unambiguous).
 * Otherwise the general purpose rules apply: 3-63 bytes of a-z 0-9 '.' '-', first and
 * last a letter or digit, no "..", not four dot-separated digit groups (an IPv4 form).
 * Both kinds refuse the reserved prefixes xn--, sthree-, amzn-s3-demo-; general purpose
 * names also refuse the suffixes -s3alias, --ol-s3, .mrap, --xa-s3 (directory access
 * point aliases) and --table-s3 (S3 Tables, which quarry does not serve).
 */
bool qr_bucket_name_valid(struct qr_slice name, bool *out_directory);

/*
 * For a valid directory bucket name, sets *out_zone to the zone id inside it (a
 * sub-slice of name, so borrowed from the same bytes: "use1-az4" for
 * "data--use1-az4--x-s3") and returns true. False, *out_zone untouched, for any
 * other name.
 */
bool qr_bucket_zone(struct qr_slice name, struct qr_slice *out_zone);

/*
 * True when key (borrowed) is an acceptable object key: 1..QR_MAX_KEY_LEN bytes of
 * well-formed UTF-8 (no overlong forms, no UTF-16 surrogates, nothing above U+10FFFF)
 * and no NUL byte. Everything else is allowed, as S3 allows it: '/', "..", '%',
 * whitespace, control characters, U+FFFE/U+FFFF. Control characters cannot appear
 * literally in XML 1.0, so renderers must escape keys (qr_xml_escape) or use
 * encoding-type=url. NUL is refused because no client can send it usefully and C
 * tools downstream (logs, report CSVs) would truncate at it.
 */
bool qr_key_valid(struct qr_slice key);

#endif
