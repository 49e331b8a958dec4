/*
 * list.c - the S3 listing operations: ListBuckets, ListDirectoryBuckets, ListObjectsV2,
 * ListObjects (v1), ListMultipartUploads and ListParts. They run on the loop thread and
 * only read: each reads one page of at most 1000 rows through the thread's store reader
 * (ListBuckets at most ten pages), then renders it into op->body. They never write and
 * never send.
 *
 * Continuation tokens are the lower-case hex of the last name or key returned, so a
 * token decodes to a bound the store compares with "strictly greater than". Keys go out
 * as escaped XML text, or percent-encoded when the client asked for encoding-type=url
 * (botocore always does, and decodes exactly the elements listed per operation below).
 */
#include <stdio.h>
#include <string.h>

#include "api/s3/s3_int.h"
#include "api/xml.h"
#include "obj/obj.h"
#include "util/codec.h"
#include "util/limits.h"

/* S3 has retired DisplayName, but the older SDKs still expect an Owner to carry one. */
#define OWNER_NAME "quarry"
/* AWS's per-account quota of general purpose buckets: ListBuckets without max-buckets
 * returns them all, which is at most this many. */
#define MAX_GP_BUCKETS   10000u
#define MAX_BUCKET_PAGES (MAX_GP_BUCKETS / 1000u)

/* ---- parameters ---- */

static void bad_arg(struct s3_op *op, const char *msg)
{
    s3_fail_code(op, 400, "InvalidArgument", msg);
}

/* How one count parameter (max-keys and friends) is read. */
struct count_rule {
    const char *name; /* query parameter */
    size_t def;       /* value when absent */
    size_t min;       /* smallest value accepted */
    size_t max;       /* largest value used */
    bool clamp;       /* S3 lowers integers above max to max instead of failing */
    const char *msg;  /* InvalidArgument message */
};

static const struct count_rule MAX_KEYS = {
    .name = "max-keys",
    .def = QR_MAX_KEYS,
    .min = 0,
    .max = QR_MAX_KEYS,
    .clamp = true,
    .msg = "Provided max-keys not an integer or within integer range"};
static const struct count_rule MAX_UPLOADS = {
    .name = "max-uploads",
    .def = 1000,
    .min = 1,
    .max = 1000,
    .clamp = true,
    .msg = "Provided max-uploads not an integer or within integer range"};
static const struct count_rule MAX_PARTS = {
    .name = "max-parts",
    .def = 1000,
    .min = 1,
    .max = 1000,
    .clamp = true,
    .msg = "Provided max-parts not an integer or within integer range"};
static const struct count_rule PART_MARKER = {
    .name = "part-number-marker",
    .def = 0,
    .min = 0,
    .max = QR_MAX_PARTS,
    .clamp = true,
    .msg = "Provided part-number-marker not an integer or within integer range"};
static const struct count_rule MAX_BUCKETS = {
    .name = "max-buckets",
    .def = MAX_GP_BUCKETS,
    .min = 1,
    .max = MAX_GP_BUCKETS,
    .msg = "Argument max-buckets must be an integer between 1 and 10000"};
static const struct count_rule MAX_DIR_BUCKETS = {
    .name = "max-directory-buckets",
    .def = 1000,
    .min = 0,
    .max = 1000,
    .msg = "Argument max-directory-buckets must be an integer between 0 and 1000"};

/* Reads r's parameter into *out; on a bad value fails op and returns false. Clamped
 * parameters accept any value up to INT32_MAX, as S3 (a Java int) does. */
static bool parse_count(struct s3_op *op, const struct count_rule *r, size_t *out)
{
    struct qr_slice v;
    uint64_t n;
    if (!s3_param(op, r->name, &v)) {
        *out = r->def;
        return true;
    }
    if (!qr_slice_u64(v, r->clamp ? INT32_MAX : r->max, &n) || n < r->min) {
        bad_arg(op, r->msg);
        return false;
    }
    *out = n > r->max ? r->max : (size_t)n;
    return true;
}

/* encoding-type: absent, or "url". */
static bool parse_encoding(struct s3_op *op, bool *out_url)
{
    struct qr_slice v;
    *out_url = false;
    if (!s3_param(op, "encoding-type", &v))
        return true;
    if (!qr_slice_ieq(v, QR_SLICE_LIT("url"))) {
        bad_arg(op, "Invalid Encoding Method specified in Request");
        return false;
    }
    *out_url = true;
    return true;
}

/* A parameter's value, or empty when absent. */
static struct qr_slice param_or_empty(struct s3_op *op, const char *name, bool *out_given)
{
    struct qr_slice v = qr_slice(NULL, 0);
    bool given = s3_param(op, name, &v);
    if (out_given)
        *out_given = given;
    return v;
}

static int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes one of our tokens (lower-case hex of at most max_len bytes, not empty) into
 * op->pool. False when tok is not one of ours. */
static bool token_decode(struct s3_op *op, struct qr_slice tok, size_t max_len,
                         struct qr_slice *out)
{
    if (tok.len == 0 || tok.len % 2 != 0 || tok.len / 2 > max_len)
        return false;
    uint8_t *p = h2o_mem_alloc_pool(op->pool, tok.len / 2);
    for (size_t i = 0; i < tok.len / 2; i++) {
        int hi = hex_val(tok.p[2 * i]), lo = hex_val(tok.p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        p[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = qr_slice(p, tok.len / 2);
    return true;
}

static struct qr_slice slice_max(struct qr_slice a, struct qr_slice b)
{
    return qr_slice_cmp(a, b) >= 0 ? a : b;
}

/* ---- rendering ---- */

static void begin(struct s3_op *op, const char *root)
{
    op->status = 200;
    op->content_type = "application/xml";
    xml_begin(&op->body, root, S3_NS);
}

static void elem_token(struct qr_buf *b, const char *tag, struct qr_slice s)
{
    static const char hex[] = "0123456789abcdef";
    xml_open(b, tag);
    for (size_t i = 0; i < s.len; i++) {
        char two[2] = {hex[s.p[i] >> 4], hex[s.p[i] & 15]};
        /* the cap is far above any page: stop rather than write past it */
        if (qr_buf_add(b, two, 2) != QR_OK)
            break;
    }
    xml_close(b, tag);
}

/* A key-like element: XML text, or percent-encoded (slashes kept) for encoding-type=url;
 * the encoded form is all ASCII that needs no XML escaping. */
static void elem_key(struct qr_buf *b, const char *tag, struct qr_slice s, bool url)
{
    if (!url) {
        xml_elem(b, tag, s);
        return;
    }
    xml_open(b, tag);
    if (qr_uri_encode(s, true, b) != QR_OK)
        return; /* at the buffer cap, which no page reaches: the document is cut short */
    xml_close(b, tag);
}

static void elem_etag(struct qr_buf *b, const char *etag)
{
    char q[84];
    snprintf(q, sizeof(q), "\"%s\"", etag);
    xml_elem_s(b, "ETag", q);
}

static void elem_owner(struct s3_op *op, const char *tag)
{
    xml_open(&op->body, tag);
    xml_elem_s(&op->body, "ID", op->ar->server->cfg.account_id);
    xml_elem_s(&op->body, "DisplayName", OWNER_NAME);
    xml_close(&op->body, tag);
}


static const char *ck_alg_name(enum store_ck_alg a)
{
    enum qr_ck ck;
    return s3_ck_from_store(a, &ck) ? qr_ck_name(ck) : NULL;
}

/* <ChecksumAlgorithm/><ChecksumType/> when a checksum is stored. */
static void elem_ck(struct qr_buf *b, enum store_ck_alg alg, enum store_ck_type type)
{
    const char *name = ck_alg_name(alg);
    if (!name)
        return;
    xml_elem_s(b, "ChecksumAlgorithm", name);
    xml_elem_s(b, "ChecksumType", s3_ck_type_name(type));
}

/* ---- ListBuckets / ListDirectoryBuckets ---- */

static void elem_bucket(struct s3_op *op, const struct store_bucket *bk)
{
    struct qr_buf *b = &op->body;
    xml_open(b, "Bucket");
    xml_elem_s(b, "Name", bk->name);
    xml_elem_time(b, "CreationDate", bk->created_ms);
    xml_elem_s(b, "BucketRegion", bk->region);
    if (bk->type == STORE_BUCKET_DIRECTORY) {
        char arn[192];
        snprintf(arn, sizeof(arn), "arn:aws:s3express:%s:%s:bucket/%s", bk->region,
                 op->ar->server->cfg.account_id, bk->name);
        xml_elem_s(b, "BucketArn", arn);
    }
    xml_close(b, "Bucket");
}

static bool is_directory_listing(struct s3_op *op)
{
    struct qr_slice x;
    if (op->ar->authed && strcmp(op->ar->auth.service, "s3express") == 0)
        return true;
    return s3_param(op, "x-id", &x) && qr_slice_eq_lit(x, "ListDirectoryBuckets");
}

/* Decoded ListBuckets request. */
struct bucket_query {
    size_t max;             /* buckets to return */
    struct qr_slice after;  /* names strictly greater (from the token) */
    struct qr_slice prefix; /* only names starting with this */
    bool has_prefix;
    struct qr_slice region; /* only buckets in this region, when has_region */
    bool has_region;
};

/* ListDirectoryBuckets: one store page. */
static void list_dir_buckets(struct s3_op *op, const struct bucket_query *q)
{
    struct store_bucket *list;
    size_t n;
    bool trunc;
    enum qr_err err = store_bucket_list(op->reader, STORE_BUCKET_DIRECTORY, q->after, q->max,
                                        op->pool, &list, &n, &trunc);
    if (err) {
        s3_fail(op, err);
        return;
    }
    begin(op, "ListAllMyDirectoryBucketsResult");
    xml_open(&op->body, "Buckets");
    for (size_t i = 0; i < n; i++)
        elem_bucket(op, &list[i]);
    xml_close(&op->body, "Buckets");
    if (trunc && n > 0)
        elem_token(&op->body, "ContinuationToken", qr_slice_cstr(list[n - 1].name));
    xml_close(&op->body, "ListAllMyDirectoryBucketsResult");
}

/* Where a prefix-filtered scan may start: every name with the prefix is greater than
 * the prefix less its last byte. */
static struct qr_slice scan_start(const struct bucket_query *q)
{
    struct qr_slice from = q->prefix;
    if (from.len > 0)
        from.len--;
    return slice_max(q->after, from);
}

/* ListBuckets: pages through the store, filtering by prefix and region, until max
 * buckets are out or the names pass the prefix. Returns the last name looked at when
 * more may follow (the next token), else an empty slice. */
static enum qr_err gp_buckets_out(struct s3_op *op, const struct bucket_query *q,
                                  struct qr_slice *out_next)
{
    struct qr_slice after = scan_start(q);
    size_t emitted = 0;
    for (unsigned page = 0; page <= MAX_BUCKET_PAGES; page++) {
        struct store_bucket *list;
        size_t n;
        bool trunc;
        enum qr_err err = store_bucket_list(op->reader, STORE_BUCKET_GENERAL, after, 1000, op->pool,
                                            &list, &n, &trunc);
        if (err)
            return err;
        for (size_t i = 0; i < n; i++) {
            struct qr_slice name = qr_slice_cstr(list[i].name);
            if (!qr_slice_starts(name, q->prefix) && qr_slice_cmp(name, q->prefix) > 0) {
                *out_next = qr_slice(NULL, 0);
                return QR_OK;
            }
            if (emitted == q->max) {
                *out_next = after;
                return QR_OK;
            }
            after = name;
            if (!qr_slice_starts(name, q->prefix) ||
                (q->has_region && !qr_slice_eq(qr_slice_cstr(list[i].region), q->region)))
                continue;
            elem_bucket(op, &list[i]);
            emitted++;
        }
        if (!trunc) {
            *out_next = qr_slice(NULL, 0);
            return QR_OK;
        }
    }
    *out_next = after; /* the page budget ran out first */
    return QR_OK;
}

static void list_gp_buckets(struct s3_op *op, const struct bucket_query *q)
{
    struct qr_slice next;
    begin(op, "ListAllMyBucketsResult");
    elem_owner(op, "Owner");
    xml_open(&op->body, "Buckets");
    enum qr_err err = gp_buckets_out(op, q, &next);
    if (err) {
        s3_fail(op, err);
        return;
    }
    xml_close(&op->body, "Buckets");
    if (next.len > 0)
        elem_token(&op->body, "ContinuationToken", next);
    if (q->has_prefix)
        xml_elem(&op->body, "Prefix", q->prefix);
    xml_close(&op->body, "ListAllMyBucketsResult");
}

void s3_list_buckets(struct s3_op *op)
{
    struct bucket_query q = {0};
    bool dir = is_directory_listing(op), has_tok;
    struct qr_slice tok = param_or_empty(op, "continuation-token", &has_tok);
    if (!parse_count(op, dir ? &MAX_DIR_BUCKETS : &MAX_BUCKETS, &q.max))
        return;
    if (q.max == 0) /* S3 reads max-directory-buckets=0 as "no limit" (up to the page) */
        q.max = MAX_DIR_BUCKETS.max;
    if (has_tok && !token_decode(op, tok, QR_MAX_BUCKET_NAME_LEN, &q.after)) {
        bad_arg(op, "The continuation token provided is incorrect");
        return;
    }
    if (dir) {
        list_dir_buckets(op, &q);
        return;
    }
    q.prefix = param_or_empty(op, "prefix", &q.has_prefix);
    q.region = param_or_empty(op, "bucket-region", &q.has_region);
    list_gp_buckets(op, &q);
}

/* ---- ListObjectsV2 / ListObjects ---- */

/* The decoded parameters of ListObjects v1 and v2. */
struct obj_query {
    struct qr_slice prefix; /* empty when absent */
    struct qr_slice delim;  /* empty when absent or empty (no roll-up) */
    size_t max;             /* max-keys, 0..1000 */
    bool url;               /* encoding-type=url */
    struct qr_slice marker; /* v1 marker / v2 start-after, as given */
    bool has_marker;
    struct qr_slice token; /* v2 continuation-token, as given */
    bool has_token;
    struct qr_slice after; /* the store's bound: max(marker, decoded token) */
    bool owner;            /* v1 always, v2 with fetch-owner=true */
};

/* Parameters both versions take. */
static bool parse_obj_common(struct s3_op *op, struct obj_query *q)
{
    q->prefix = param_or_empty(op, "prefix", NULL);
    q->delim = param_or_empty(op, "delimiter", NULL);
    return parse_encoding(op, &q->url) && parse_count(op, &MAX_KEYS, &q->max);
}

/* Directory buckets roll up at "/" only, and only below a prefix that ends in "/"
 * (they are real directories); ListMultipartUploads shares the rule. */
static bool directory_rules(struct s3_op *op, struct qr_slice prefix, struct qr_slice delim)
{
    if (!op->directory || delim.len == 0)
        return true;
    if (!qr_slice_eq_lit(delim, "/")) {
        bad_arg(op, "For directory buckets, / is the only supported delimiter");
        return false;
    }
    if (prefix.len > 0 && prefix.p[prefix.len - 1] != '/') {
        bad_arg(op, "For directory buckets, a prefix used with a delimiter must end in /");
        return false;
    }
    return true;
}

static enum qr_err obj_page(struct s3_op *op, const struct obj_query *q,
                            struct store_list_result *out)
{
    struct store_list_opts o = {
        .prefix = q->prefix, .delimiter = q->delim, .after = q->after, .max = q->max};
    enum qr_err err = store_list(op->reader, op->bucket, &o, op->pool, out);
    if (err == QR_OK && q->max == 0)
        out->truncated = false; /* no last key to continue from: S3 says false too */
    return err;
}

static void elem_contents(struct s3_op *op, const struct store_list_entry *e, bool url, bool owner)
{
    struct qr_buf *b = &op->body;
    xml_open(b, "Contents");
    elem_key(b, "Key", e->key, url);
    xml_elem_time(b, "LastModified", e->mtime_ms);
    elem_etag(b, e->etag);
    elem_ck(b, e->ck_alg, e->ck_type);
    xml_elem_u64(b, "Size", e->size);
    xml_elem(b, "StorageClass", obj_storage_class(e->headers, op->directory));
    if (owner)
        elem_owner(op, "Owner");
    xml_close(b, "Contents");
}

static void elem_prefixes(struct qr_buf *b, const struct qr_slice *p, size_t n, bool url)
{
    for (size_t i = 0; i < n; i++) {
        xml_open(b, "CommonPrefixes");
        elem_key(b, "Prefix", p[i], url);
        xml_close(b, "CommonPrefixes");
    }
}

/* All Contents, then all CommonPrefixes, as S3 orders them. */
static void entries_out(struct s3_op *op, const struct store_list_result *res,
                        const struct obj_query *q)
{
    struct qr_slice *pre = h2o_mem_alloc_pool(op->pool, sizeof(*pre) * (res->n + 1));
    size_t n_pre = 0;
    for (size_t i = 0; i < res->n; i++) {
        if (res->e[i].is_prefix)
            pre[n_pre++] = res->e[i].key;
        else
            elem_contents(op, &res->e[i], q->url, q->owner);
    }
    elem_prefixes(&op->body, pre, n_pre, q->url);
}

static void render_v2(struct s3_op *op, const struct obj_query *q,
                      const struct store_list_result *res)
{
    struct qr_buf *b = &op->body;
    begin(op, "ListBucketResult");
    xml_elem(b, "Name", op->bucket);
    elem_key(b, "Prefix", q->prefix, q->url);
    if (q->delim.len > 0)
        elem_key(b, "Delimiter", q->delim, q->url);
    xml_elem_u64(b, "MaxKeys", q->max);
    if (q->url)
        xml_elem_s(b, "EncodingType", "url");
    xml_elem_u64(b, "KeyCount", res->n);
    xml_elem_bool(b, "IsTruncated", res->truncated);
    if (q->has_token)
        xml_elem(b, "ContinuationToken", q->token);
    if (res->truncated && res->n > 0)
        elem_token(b, "NextContinuationToken", res->e[res->n - 1].key);
    if (q->has_marker)
        elem_key(b, "StartAfter", q->marker, q->url);
    entries_out(op, res, q);
    xml_close(b, "ListBucketResult");
}

void s3_list_objects_v2(struct s3_op *op)
{
    struct obj_query q = {0};
    struct qr_slice owner, tok_key = qr_slice(NULL, 0);
    struct store_list_result res;
    if (!parse_obj_common(op, &q))
        return;
    q.marker = param_or_empty(op, "start-after", &q.has_marker);
    q.token = param_or_empty(op, "continuation-token", &q.has_token);
    q.owner = s3_param(op, "fetch-owner", &owner) && qr_slice_ieq(owner, QR_SLICE_LIT("true"));
    if (op->directory && q.has_marker) {
        bad_arg(op, "start-after is not supported for directory buckets");
        return;
    }
    if (!directory_rules(op, q.prefix, q.delim))
        return;
    if (q.has_token && !token_decode(op, q.token, QR_MAX_KEY_LEN, &tok_key)) {
        bad_arg(op, "The continuation token provided is incorrect");
        return;
    }
    q.after = slice_max(q.marker, tok_key);
    enum qr_err err = obj_page(op, &q, &res);
    if (err) {
        s3_fail(op, err);
        return;
    }
    render_v2(op, &q, &res);
}

/* v1 encodes Marker, NextMarker, Delimiter and keys for encoding-type=url, but not
 * Prefix: botocore's decode_list_object leaves Prefix alone. */
static void render_v1(struct s3_op *op, const struct obj_query *q,
                      const struct store_list_result *res)
{
    struct qr_buf *b = &op->body;
    begin(op, "ListBucketResult");
    xml_elem(b, "Name", op->bucket);
    xml_elem(b, "Prefix", q->prefix);
    elem_key(b, "Marker", q->marker, q->url);
    xml_elem_u64(b, "MaxKeys", q->max);
    if (q->delim.len > 0)
        elem_key(b, "Delimiter", q->delim, q->url);
    xml_elem_bool(b, "IsTruncated", res->truncated);
    /* Without a delimiter clients continue from the last Key; S3 sends no NextMarker. */
    if (res->truncated && res->n > 0 && q->delim.len > 0)
        elem_key(b, "NextMarker", res->e[res->n - 1].key, q->url);
    entries_out(op, res, q);
    if (q->url)
        xml_elem_s(b, "EncodingType", "url");
    xml_close(b, "ListBucketResult");
}

void s3_list_objects_v1(struct s3_op *op)
{
    struct obj_query q = {0};
    struct store_list_result res;
    if (!parse_obj_common(op, &q))
        return;
    q.marker = param_or_empty(op, "marker", &q.has_marker);
    q.after = q.marker;
    q.owner = true;
    enum qr_err err = obj_page(op, &q, &res);
    if (err) {
        s3_fail(op, err);
        return;
    }
    render_v1(op, &q, &res);
}

/* ---- ListObjectVersions ---- */

/* Versions and delete markers in key order, newest first within a key (the store's
 * order); a page resumes after (key-marker, version-id-marker). */
static void elem_version(struct s3_op *op, const struct store_list_entry *e, bool url)
{
    struct qr_buf *b = &op->body;
    const char *tag = e->is_marker ? "DeleteMarker" : "Version";
    xml_open(b, tag);
    elem_key(b, "Key", e->key, url);
    xml_elem_s(b, "VersionId", e->version_id);
    xml_elem_bool(b, "IsLatest", e->is_latest);
    xml_elem_time(b, "LastModified", e->mtime_ms);
    if (!e->is_marker) {
        elem_etag(b, e->etag);
        elem_ck(b, e->ck_alg, e->ck_type);
        xml_elem_u64(b, "Size", e->size);
        xml_elem(b, "StorageClass", obj_storage_class(e->headers, op->directory));
    }
    elem_owner(op, "Owner");
    xml_close(b, tag);
}

static void render_versions(struct s3_op *op, const struct obj_query *q, struct qr_slice vid,
                            bool has_vid, const struct store_list_result *res)
{
    struct qr_buf *b = &op->body;
    begin(op, "ListVersionsResult");
    xml_elem(b, "Name", op->bucket);
    elem_key(b, "Prefix", q->prefix, q->url);
    elem_key(b, "KeyMarker", q->marker, q->url);
    xml_elem(b, "VersionIdMarker", has_vid ? vid : qr_slice(NULL, 0));
    if (res->truncated && res->n > 0) {
        const struct store_list_entry *last = &res->e[res->n - 1];
        elem_key(b, "NextKeyMarker", last->key, q->url);
        if (!last->is_prefix)
            xml_elem_s(b, "NextVersionIdMarker", last->version_id);
    }
    xml_elem_u64(b, "MaxKeys", q->max);
    if (q->delim.len > 0)
        elem_key(b, "Delimiter", q->delim, q->url);
    if (q->url)
        xml_elem_s(b, "EncodingType", "url");
    xml_elem_bool(b, "IsTruncated", res->truncated);
    struct qr_slice *pre = h2o_mem_alloc_pool(op->pool, sizeof(*pre) * (res->n + 1));
    size_t n_pre = 0;
    for (size_t i = 0; i < res->n; i++) {
        if (res->e[i].is_prefix)
            pre[n_pre++] = res->e[i].key;
        else
            elem_version(op, &res->e[i], q->url);
    }
    elem_prefixes(b, pre, n_pre, q->url);
    xml_close(b, "ListVersionsResult");
}

void s3_list_object_versions(struct s3_op *op)
{
    struct obj_query q = {0};
    struct store_list_result res;
    bool has_vid;
    if (!parse_obj_common(op, &q))
        return;
    q.marker = param_or_empty(op, "key-marker", &q.has_marker);
    struct qr_slice vid = param_or_empty(op, "version-id-marker", &has_vid);
    if (has_vid && !q.has_marker) {
        bad_arg(op, "A version-id marker cannot be specified without a key marker.");
        return;
    }
    if (has_vid && vid.len && !qr_slice_eq_lit(vid, "null") && !s3_version_id_wellformed(vid)) {
        bad_arg(op, "Invalid version id specified");
        return;
    }
    struct store_list_opts o = {.prefix = q.prefix,
                                .delimiter = q.delim,
                                .after = q.marker,
                                .max = q.max,
                                .versions = true,
                                .after_version = has_vid ? vid : qr_slice(NULL, 0)};
    enum qr_err err = store_list(op->reader, op->bucket, &o, op->pool, &res);
    if (err == QR_OK && q.max == 0)
        res.truncated = false;
    if (err) {
        s3_fail(op, err);
        return;
    }
    render_versions(op, &q, vid, has_vid, &res);
}

/* ---- ListMultipartUploads ---- */

struct upload_query {
    struct qr_slice prefix; /* empty when absent */
    bool has_prefix;
    struct qr_slice delim;      /* empty: no roll-up */
    struct qr_slice key_marker; /* as given */
    struct qr_slice id_marker;  /* as given; ignored without key_marker */
    size_t max;                 /* max-uploads */
    bool url;                   /* encoding-type=url */
};

/* One page after roll-up: the uploads to show, the common prefixes, the next markers. */
struct upload_page {
    const struct store_upload_info **up; /* n_up uploads shown, in order */
    size_t n_up;
    struct qr_slice *pre; /* n_pre common prefixes, in order */
    size_t n_pre;
    bool truncated;
    struct qr_slice next_key; /* key (or common prefix) of the last upload looked at */
    const char *next_id;      /* its upload id, "" after a common prefix */
};

/* The common prefix key rolls up to under prefix and delim, or an empty slice. */
static struct qr_slice rollup(struct qr_slice key, struct qr_slice prefix, struct qr_slice delim)
{
    if (delim.len == 0 || !qr_slice_starts(key, prefix) || key.len == prefix.len)
        return qr_slice(NULL, 0);
    const uint8_t *hit = memmem(key.p + prefix.len, key.len - prefix.len, delim.p, delim.len);
    if (!hit)
        return qr_slice(NULL, 0);
    return qr_slice(key.p, (size_t)(hit - key.p) + delim.len);
}

/* The store bound that skips a whole common prefix: cp followed by 0xFF, a byte no
 * UTF-8 key holds, so it sorts after every key that starts with cp. */
static struct qr_slice past_prefix(struct s3_op *op, struct qr_slice cp)
{
    uint8_t *p = h2o_mem_alloc_pool(op->pool, cp.len + 1);
    if (cp.len > 0)
        memcpy(p, cp.p, cp.len);
    p[cp.len] = 0xff;
    return qr_slice(p, cp.len + 1);
}

/* Rolls a store page (sorted by key) up into uploads and common prefixes. */
static void upload_rollup(struct s3_op *op, const struct upload_query *q,
                          const struct store_upload_info *u, size_t n, struct upload_page *pg)
{
    pg->up = h2o_mem_alloc_pool(op->pool, sizeof(*pg->up) * (n + 1));
    pg->pre = h2o_mem_alloc_pool(op->pool, sizeof(*pg->pre) * (n + 1));
    pg->next_key = q->key_marker;
    pg->next_id = "";
    for (size_t i = 0; i < n; i++) {
        struct qr_slice cp = rollup(u[i].key, q->prefix, q->delim);
        if (cp.len > 0) {
            if (pg->n_pre == 0 || !qr_slice_eq(pg->pre[pg->n_pre - 1], cp))
                pg->pre[pg->n_pre++] = cp;
            pg->next_key = cp;
            pg->next_id = "";
            continue;
        }
        pg->next_key = u[i].key;
        pg->next_id = u[i].id;
        pg->up[pg->n_up++] = &u[i];
    }
}

static enum qr_err upload_page(struct s3_op *op, const struct upload_query *q,
                               struct upload_page *out)
{
    struct qr_slice after_key = q->key_marker, after_id = q->id_marker;
    struct qr_slice cp = rollup(q->key_marker, q->prefix, q->delim);
    struct store_upload_info *u;
    size_t n;
    if (cp.len > 0) { /* the marker is a common prefix we returned: skip all of it */
        after_key = past_prefix(op, cp);
        after_id = qr_slice(NULL, 0);
    }
    enum qr_err err = store_mpu_list(op->reader, op->bucket, q->prefix, after_key, after_id, q->max,
                                     op->pool, &u, &n, &out->truncated);
    if (err)
        return err;
    upload_rollup(op, q, u, n, out);
    return QR_OK;
}

static void elem_upload(struct s3_op *op, const struct store_upload_info *u, bool url)
{
    struct qr_buf *b = &op->body;
    xml_open(b, "Upload");
    elem_key(b, "Key", u->key, url);
    xml_elem_s(b, "UploadId", u->id);
    elem_owner(op, "Initiator");
    elem_owner(op, "Owner");
    xml_elem(b, "StorageClass", obj_storage_class(u->headers, op->directory));
    xml_elem_time(b, "Initiated", u->created_ms);
    elem_ck(b, u->ck_alg, u->ck_type);
    xml_close(b, "Upload");
}

static void render_uploads(struct s3_op *op, const struct upload_query *q,
                           const struct upload_page *pg)
{
    struct qr_buf *b = &op->body;
    begin(op, "ListMultipartUploadsResult");
    xml_elem(b, "Bucket", op->bucket);
    elem_key(b, "KeyMarker", q->key_marker, q->url);
    xml_elem(b, "UploadIdMarker", q->id_marker);
    elem_key(b, "NextKeyMarker", pg->next_key, q->url);
    xml_elem_s(b, "NextUploadIdMarker", pg->next_id);
    if (q->delim.len > 0)
        elem_key(b, "Delimiter", q->delim, q->url);
    if (q->has_prefix)
        elem_key(b, "Prefix", q->prefix, q->url);
    xml_elem_u64(b, "MaxUploads", q->max);
    xml_elem_bool(b, "IsTruncated", pg->truncated);
    for (size_t i = 0; i < pg->n_up; i++)
        elem_upload(op, pg->up[i], q->url);
    elem_prefixes(b, pg->pre, pg->n_pre, q->url);
    if (q->url)
        xml_elem_s(b, "EncodingType", "url");
    xml_close(b, "ListMultipartUploadsResult");
}

void s3_list_uploads(struct s3_op *op)
{
    struct upload_query q = {0};
    struct upload_page pg = {0};
    q.prefix = param_or_empty(op, "prefix", &q.has_prefix);
    q.delim = param_or_empty(op, "delimiter", NULL);
    q.key_marker = param_or_empty(op, "key-marker", NULL);
    q.id_marker = param_or_empty(op, "upload-id-marker", NULL);
    if (!parse_encoding(op, &q.url) || !parse_count(op, &MAX_UPLOADS, &q.max) ||
        !directory_rules(op, q.prefix, q.delim))
        return;
    /* S3 ignores upload-id-marker without key-marker. */
    if (q.key_marker.len == 0)
        q.id_marker = qr_slice(NULL, 0);
    enum qr_err err = upload_page(op, &q, &pg);
    if (err) {
        s3_fail(op, err);
        return;
    }
    render_uploads(op, &q, &pg);
}

/* ---- ListParts ---- */

static void elem_part(struct qr_buf *b, const struct store_part *p)
{
    const char *alg = ck_alg_name(p->ck.alg);
    xml_open(b, "Part");
    xml_elem_u64(b, "PartNumber", p->number);
    xml_elem_time(b, "LastModified", p->mtime_ms);
    elem_etag(b, p->etag);
    xml_elem_u64(b, "Size", p->size);
    if (alg) {
        char tag[32];
        snprintf(tag, sizeof(tag), "Checksum%s", alg);
        xml_elem_s(b, tag, p->ck.b64);
    }
    xml_close(b, "Part");
}

static void render_parts(struct s3_op *op, const struct store_upload_info *u, size_t marker,
                         size_t max, const struct store_part *p, size_t n, bool trunc)
{
    struct qr_buf *b = &op->body;
    begin(op, "ListPartsResult");
    xml_elem(b, "Bucket", op->bucket);
    xml_elem(b, "Key", op->key);
    xml_elem_s(b, "UploadId", u->id);
    xml_elem_u64(b, "PartNumberMarker", marker);
    xml_elem_u64(b, "NextPartNumberMarker", n > 0 ? p[n - 1].number : marker);
    xml_elem_u64(b, "MaxParts", max);
    xml_elem_bool(b, "IsTruncated", trunc);
    for (size_t i = 0; i < n; i++)
        elem_part(b, &p[i]);
    elem_owner(op, "Initiator");
    elem_owner(op, "Owner");
    xml_elem(b, "StorageClass", obj_storage_class(u->headers, op->directory));
    elem_ck(b, u->ck_alg, u->ck_type);
    xml_close(b, "ListPartsResult");
}

void s3_list_parts(struct s3_op *op)
{
    struct qr_slice id;
    struct store_upload_info u;
    struct store_part *parts;
    size_t max, marker, n;
    bool trunc;
    enum qr_err err;
    if (!s3_param(op, "uploadId", &id)) {
        s3_fail(op, QR_E_NO_SUCH_UPLOAD);
        return;
    }
    if (!parse_count(op, &MAX_PARTS, &max) || !parse_count(op, &PART_MARKER, &marker))
        return;
    err = store_mpu_get(op->reader, op->bucket, op->key, id, op->pool, &u);
    if (err == QR_OK)
        err = store_mpu_list_parts(op->reader, op->bucket, op->key, id, (uint32_t)marker, max,
                                   op->pool, &parts, &n, &trunc);
    if (err) {
        s3_fail(op, err);
        return;
    }
    render_parts(op, &u, marker, max, parts, n, trunc);
}
