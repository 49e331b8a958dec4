/*
 * fuzz_xml.c - request-body XML as the S3 handlers read it: xml_parse (no network, no
 * entity expansion, no DTD) and the child/next/text walk of CompleteMultipartUpload,
 * DeleteObjects, Tagging and CreateBucketConfiguration bodies.
 */
#include <stddef.h>
#include <stdint.h>

#include <libxml/parser.h>

#include "api/xml.h"

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
    (void)sink;
    xmlFreeDoc(doc);
    return 0;
}
