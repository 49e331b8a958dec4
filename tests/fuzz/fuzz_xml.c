/*
 * fuzz_xml.c - request-body XML as the S3 handlers read it: xml_parse (no network, no
 * entity expansion, no DTD) and the child/next/text walk of CompleteMultipartUpload,
 * DeleteObjects, Tagging and CreateBucketConfiguration bodies, and the versioning and
 * Object Lock bodies (VersioningConfiguration, ObjectLockConfiguration, Retention with
 * its date, LegalHold) as api/s3/lock.c reads them.
 */
#include <stddef.h>
#include <stdint.h>

#include <libxml/parser.h>

#include "api/xml.h"
#include "util/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t walk(xmlNodePtr root, const char *item, const char *const *fields, size_t nf)
{
    size_t total = 0;
    for (xmlNodePtr n = xml_child(root, item); n; n = xml_next(n, item))
        for (size_t i = 0; i < nf; i++)
            total += xml_text(xml_child(n, fields[i])).len;
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const part[] = {"PartNumber", "ETag", "ChecksumCRC32"};
    static const char *const obj[] = {"Key", "VersionId"};
    xmlDocPtr doc = NULL;
    if (xml_parse(qr_slice(data, size), &doc) != QR_OK)
        return 0;
    volatile size_t sink = 0;
    xmlNodePtr r;
    if ((r = xml_root(doc, "CompleteMultipartUpload")))
        sink += walk(r, "Part", part, 3);
    if ((r = xml_root(doc, "Delete")))
        sink += walk(r, "Object", obj, 2) + xml_text(xml_child(r, "Quiet")).len;
    if ((r = xml_root(doc, "Tagging")))
        sink += walk(xml_child(r, "TagSet"), "Tag", (const char *const[]){"Key", "Value"}, 2);
    if ((r = xml_root(doc, "CreateBucketConfiguration")))
        sink += xml_text(xml_child(xml_child(r, "Location"), "Name")).len;
    if ((r = xml_root(doc, "VersioningConfiguration")))
        sink += xml_text(xml_child(r, "Status")).len + xml_text(xml_child(r, "MfaDelete")).len;
    if ((r = xml_root(doc, "ObjectLockConfiguration"))) {
        xmlNodePtr dr = xml_child(xml_child(r, "Rule"), "DefaultRetention");
        uint64_t n = 0;
        sink += xml_text(xml_child(r, "ObjectLockEnabled")).len +
                xml_text(xml_child(dr, "Mode")).len;
        sink += qr_slice_u64(xml_text(xml_child(dr, "Days")), 36500, &n) + n;
        sink += qr_slice_u64(xml_text(xml_child(dr, "Years")), 100, &n) + n;
    }
    if ((r = xml_root(doc, "Retention"))) {
        int64_t until = 0;
        sink += xml_text(xml_child(r, "Mode")).len;
        sink += qr_time_parse_http(xml_text(xml_child(r, "RetainUntilDate")), &until);
        sink += (size_t)until;
    }
    if ((r = xml_root(doc, "LegalHold")))
        sink += xml_text(xml_child(r, "Status")).len;
    (void)sink;
    xmlFreeDoc(doc);
    return 0;
}
