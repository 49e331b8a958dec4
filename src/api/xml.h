/*
 * xml.h - the XML that REST-XML services speak: a small writer into a bounded qr_buf
 * (escaping every text node) and a reader over libxml2 that finds children by local
 * name, since clients differ in namespaces and element order. Parsing never touches the
 * network, never expands entities and refuses DTDs.
 */
#ifndef QR_API_XML_H
#define QR_API_XML_H

#include <stdbool.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/slice.h"

/* Writes the XML declaration and opens root with the S3 namespace when ns is non-NULL. */
void xml_begin(struct qr_buf *b, const char *root, const char *ns);
void xml_open(struct qr_buf *b, const char *tag);
void xml_close(struct qr_buf *b, const char *tag);
/* escaped text alone */
void xml_text_escaped(struct qr_buf *b, struct qr_slice text);
/* <tag>escaped text</tag> */
void xml_elem(struct qr_buf *b, const char *tag, struct qr_slice text);
void xml_elem_s(struct qr_buf *b, const char *tag, const char *text);
void xml_elem_u64(struct qr_buf *b, const char *tag, uint64_t v);
void xml_elem_bool(struct qr_buf *b, const char *tag, bool v);
/* <tag>ISO-8601 time</tag> */
void xml_elem_time(struct qr_buf *b, const char *tag, int64_t ms);

/* Parses a request body (at most QR_MAX_XML_BODY bytes). *out owned by caller (free
 * with xmlFreeDoc). Errors: QR_E_BAD_INPUT (malformed), QR_E_TOO_LARGE. */
enum qr_err xml_parse(struct qr_slice body, xmlDocPtr *out) __attribute__((warn_unused_result));
/* The root element if its local name is name, else NULL. */
xmlNodePtr xml_root(xmlDocPtr doc, const char *name);
/* The first element child of n with local name name, else NULL. */
xmlNodePtr xml_child(xmlNodePtr n, const char *name);
/* The next element sibling after n with local name name, else NULL. */
xmlNodePtr xml_next(xmlNodePtr n, const char *name);
/* Text content of an element (borrowed from the document; empty when none). */
struct qr_slice xml_text(xmlNodePtr n);

#endif
