/*
 * authfail.c - authentication and authorization failures rendered the way each AWS
 * service renders them, so that every stock client reads the code it expects
 * (InvalidSignatureException, InvalidClientTokenId, ExpiredToken, AccessDenied, ...).
 * The codes and statuses are those the services return; a table per family.
 */
#include "api/authfail.h"

#include <string.h>

#include "api/s3/s3.h"
#include "api/xml.h"
#include "util/buf.h"

struct fail {
    enum qr_err err;
    int status;
    const char *code;
    const char *msg;
};

#define MSG_BAD_SIG                                                                                \
    "The request signature we calculated does not match the signature you provided. Check "        \
    "your AWS Secret Access Key and signing method. Consult the service documentation for "        \
    "details."
#define MSG_BAD_TOKEN "The security token included in the request is invalid."
#define MSG_EXPIRED   "The security token included in the request is expired"
#define MSG_SKEW      "Signature expired: the request time is too far from the server time."
#define MSG_MISSING   "Missing Authentication Token"
#define MSG_MALFORMED "The authorization header or query parameters are malformed."

/* Lambda (REST-JSON) and Logs (JSON 1.1) name their faults alike; only the status differs:
 * Lambda answers 403, and JSON 1.1 services answer client faults with 400 whatever the
 * fault. The status here is Lambda's; api_send_auth_failure sets Logs'. */
#define JSON_LOGS_STATUS 400
static const struct fail json_fails[] = {
    {QR_E_AUTH_MISSING, 403, "MissingAuthenticationTokenException", MSG_MISSING},
    {QR_E_AUTH_MALFORMED, 403, "IncompleteSignatureException", MSG_MALFORMED},
    {QR_E_NO_SUCH_ACCESS_KEY, 403, "UnrecognizedClientException", MSG_BAD_TOKEN},
    {QR_E_SIGNATURE, 403, "InvalidSignatureException", MSG_BAD_SIG},
    {QR_E_CLOCK_SKEW, 403, "InvalidSignatureException", MSG_SKEW},
    {QR_E_EXPIRED, 403, "ExpiredTokenException", MSG_EXPIRED},
    {QR_E_TOKEN, 403, "UnrecognizedClientException", MSG_BAD_TOKEN},
    {QR_E_DENIED, 403, "AccessDeniedException", "Access Denied"},
};

static const struct fail query_fails[] = {
    {QR_E_AUTH_MISSING, 403, "MissingAuthenticationToken",
     "Request is missing Authentication Token"},
    {QR_E_AUTH_MALFORMED, 400, "IncompleteSignature", MSG_MALFORMED},
    {QR_E_NO_SUCH_ACCESS_KEY, 403, "InvalidClientTokenId", MSG_BAD_TOKEN},
    {QR_E_SIGNATURE, 403, "SignatureDoesNotMatch", MSG_BAD_SIG},
    {QR_E_CLOCK_SKEW, 403, "SignatureDoesNotMatch", MSG_SKEW},
    {QR_E_EXPIRED, 403, "ExpiredToken", MSG_EXPIRED},
    {QR_E_TOKEN, 403, "InvalidClientTokenId", MSG_BAD_TOKEN},
    {QR_E_DENIED, 403, "AccessDenied", "Access Denied"},
};

static const struct fail s3_fails[] = {
    {QR_E_DENIED, 403, "AccessDenied", "Access Denied"},
    {QR_E_AUTH_MISSING, 403, "AccessDenied", "Access Denied"},
};

static struct fail find(const struct fail *t, size_t n, enum qr_err err)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].err == err)
            return t[i];
    return t[n - 1]; /* every table ends with AccessDenied */
}

#define FIND(t, e) find(t, sizeof(t) / sizeof(*(t)), e)

enum api_family api_family_of(const struct api_req *ar)
{
    const char *svc = ar->auth.service;
    static const struct {
        const char *svc;
        enum api_family fam;
    } by_service[] = {
        {"lambda", API_FAMILY_LAMBDA},
        {"logs", API_FAMILY_LOGS},
        {"iam", API_FAMILY_IAM},
        {"sts", API_FAMILY_STS},
    };
    if (svc[0]) {
        for (size_t i = 0; i < sizeof(by_service) / sizeof(*by_service); i++)
            if (strcmp(svc, by_service[i].svc) == 0)
                return by_service[i].fam;
        return API_FAMILY_S3;
    }
    struct qr_slice v;
    if (api_header(ar, "x-amz-target", &v) && qr_slice_starts(v, QR_SLICE_LIT("Logs_")))
        return API_FAMILY_LOGS;
    if (qr_slice_starts(ar->path, QR_SLICE_LIT("/2015-03-31/")) ||
        qr_slice_starts(ar->path, QR_SLICE_LIT("/2017-03-31/")) ||
        qr_slice_starts(ar->path, QR_SLICE_LIT("/2016-08-19/")))
        return API_FAMILY_LAMBDA;
    h2o_req_t *req = ar->req;
    struct qr_slice body =
        req->entity.base ? qr_slice(req->entity.base, req->entity.len) : qr_slice(NULL, 0);
    if (api_header(ar, "content-type", &v) &&
        qr_slice_starts(v, QR_SLICE_LIT("application/x-www-form-urlencoded")) &&
        (qr_slice_starts(body, QR_SLICE_LIT("Action=")) || api_has_param(ar, "Action"))) {
        /* IAM and STS share the format; only the namespace differs. */
        for (size_t i = 0; i + 12 <= body.len; i++)
            if (memcmp(body.p + i, "2011-06-15", 10) == 0)
                return API_FAMILY_STS;
        return API_FAMILY_IAM;
    }
    return API_FAMILY_S3;
}

static void send_json(struct api_req *ar, const struct fail *f, bool lambda)
{
    struct qr_buf b;
    qr_buf_init(&b, 4096);
    (void)qr_buf_adds(&b, lambda ? "{\"Type\":\"User\",\"message\":\"" : "{\"__type\":\"");
    if (!lambda) {
        (void)qr_buf_adds(&b, f->code);
        (void)qr_buf_adds(&b, "\",\"message\":\"");
    }
    for (const char *p = f->msg; *p; p++) {
        /* Messages are ours or ARNs: escape what JSON requires and nothing more. */
        if (*p == '"' || *p == '\\')
            (void)qr_buf_add(&b, "\\", 1);
        if ((unsigned char)*p >= 0x20)
            (void)qr_buf_add(&b, p, 1);
    }
    (void)qr_buf_adds(&b, "\"}");
    if (lambda)
        api_add_header_s(ar, "x-amzn-ErrorType", f->code);
    api_add_header(ar, "x-amzn-RequestId", ar->request_id, 16);
    api_send(ar, f->status, lambda ? "application/json" : "application/x-amz-json-1.1", b.p, b.len);
    qr_buf_dispose(&b);
}

static void send_query(struct api_req *ar, const struct fail *f, bool sts)
{
    struct qr_buf b;
    qr_buf_init(&b, 8192);
    (void)qr_buf_adds(&b, "<ErrorResponse xmlns=\"");
    (void)qr_buf_adds(&b, sts ? "https://sts.amazonaws.com/doc/2011-06-15/"
                              : "https://iam.amazonaws.com/doc/2010-05-08/");
    (void)qr_buf_adds(&b, "\"><Error><Type>Sender</Type>");
    xml_elem_s(&b, "Code", f->code);
    xml_elem_s(&b, "Message", f->msg);
    (void)qr_buf_adds(&b, "</Error>");
    xml_elem_s(&b, "RequestId", ar->request_id);
    (void)qr_buf_adds(&b, "</ErrorResponse>");
    api_add_header(ar, "x-amzn-RequestId", ar->request_id, 16);
    api_send(ar, f->status, "text/xml", b.p, b.len);
    qr_buf_dispose(&b);
}

static void send_s3(struct api_req *ar, const struct fail *f, const char *unsigned_header)
{
    struct qr_buf b;
    qr_buf_init(&b, 8192);
    (void)qr_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
    xml_elem_s(&b, "Code", f->code);
    xml_elem_s(&b, "Message", f->msg);
    if (unsigned_header)
        xml_elem_s(&b, "HeadersNotSigned", unsigned_header);
    xml_elem_s(&b, "RequestId", ar->request_id);
    xml_elem_s(&b, "HostId", ar->request_id);
    (void)qr_buf_adds(&b, "</Error>");
    api_send(ar, f->status, "application/xml", b.p, b.len);
    qr_buf_dispose(&b);
}

void api_send_auth_failure(struct api_req *ar, enum qr_err err, const char *msg,
                           const char *unsigned_header)
{
    enum api_family fam = api_family_of(ar);
    struct fail f;
    ar->op = ar->op ? ar->op : "Authenticate";
    switch (fam) {
    case API_FAMILY_LAMBDA:
        f = FIND(json_fails, err);
        break;
    case API_FAMILY_LOGS:
        f = FIND(json_fails, err);
        f.status = JSON_LOGS_STATUS;
        break;
    case API_FAMILY_IAM:
    case API_FAMILY_STS:
        f = FIND(query_fails, err);
        break;
    case API_FAMILY_S3:
    default:
        if (!msg && err != QR_E_DENIED) {
            s3_send_auth_error(ar, err); /* S3's own presigned-URL variants live there */
            return;
        }
        f = FIND(s3_fails, err);
        break;
    }
    if (msg)
        f.msg = msg;
    if (fam == API_FAMILY_LAMBDA || fam == API_FAMILY_LOGS)
        send_json(ar, &f, fam == API_FAMILY_LAMBDA);
    else if (fam == API_FAMILY_IAM || fam == API_FAMILY_STS)
        send_query(ar, &f, fam == API_FAMILY_STS);
    else
        send_s3(ar, &f, unsigned_header);
}
