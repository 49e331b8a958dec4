/* xml.c - XML writer and libxml2 reader helpers of xml.h. */
#include "api/xml.h"

#include <inttypes.h>
#include <string.h>

#include <libxml/parser.h>

#include "util/codec.h"
#include "util/limits.h"

/* Response documents are built from bounded pieces; a buffer that reaches its cap has
 * been given a max far above any page, so a failed append only truncates a response
 * that was already wrong. The callers size the buffers. */
void xml_begin(struct qr_buf *b, const char *root, const char *ns)
{
    (void)qr_buf_adds(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    (void)qr_buf_adds(b, root);
    if (ns) {
        (void)qr_buf_adds(b, " xmlns=\"");
        (void)qr_buf_adds(b, ns);
        (void)qr_buf_adds(b, "\"");
    }
    (void)qr_buf_adds(b, ">");
}

void xml_open(struct qr_buf *b, const char *tag)
{
    (void)qr_buf_addf(b, "<%s>", tag);
}

void xml_close(struct qr_buf *b, const char *tag)
{
    (void)qr_buf_addf(b, "</%s>", tag);
}

void xml_text_escaped(struct qr_buf *b, struct qr_slice text)
{
    enum qr_err e = qr_xml_escape(text, b);
    (void)e; /* see the note above xml_begin */
}

void xml_elem(struct qr_buf *b, const char *tag, struct qr_slice text)
{
    xml_open(b, tag);
    xml_text_escaped(b, text);
    xml_close(b, tag);
}

void xml_elem_s(struct qr_buf *b, const char *tag, const char *text)
{
    xml_elem(b, tag, qr_slice_cstr(text));
}

void xml_elem_u64(struct qr_buf *b, const char *tag, uint64_t v)
{
    (void)qr_buf_addf(b, "<%s>%" PRIu64 "</%s>", tag, v, tag);
}

void xml_elem_bool(struct qr_buf *b, const char *tag, bool v)
{
    (void)qr_buf_addf(b, "<%s>%s</%s>", tag, v ? "true" : "false", tag);
}

void xml_elem_time(struct qr_buf *b, const char *tag, int64_t ms)
{
    char t[32];
    qr_time_iso8601(ms, t);
    xml_elem_s(b, tag, t);
}

enum qr_err xml_parse(struct qr_slice body, xmlDocPtr *out)
{
    if (body.len > QR_MAX_XML_BODY)
        return QR_E_TOO_LARGE;
    if (body.len == 0 || body.len > INT32_MAX)
        return QR_E_BAD_INPUT;
    /* NONET: no network; no NOENT: entities stay unexpanded; no DTDLOAD; no HUGE. */
    xmlDocPtr doc = xmlReadMemory((const char *)body.p, (int)body.len, "body.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                                      XML_PARSE_NOWARNING);
    if (!doc)
        return QR_E_BAD_INPUT;
    if (doc->intSubset != NULL) { /* a DOCTYPE has no business in an S3 request */
        xmlFreeDoc(doc);
        return QR_E_BAD_INPUT;
    }
    *out = doc;
    return QR_OK;
}

static bool name_is(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

xmlNodePtr xml_root(xmlDocPtr doc, const char *name)
{
    xmlNodePtr r = xmlDocGetRootElement(doc);
    return r && name_is(r, name) ? r : NULL;
}

xmlNodePtr xml_child(xmlNodePtr n, const char *name)
{
    if (!n)
        return NULL;
    for (xmlNodePtr c = n->children; c; c = c->next)
        if (name_is(c, name))
            return c;
    return NULL;
}

xmlNodePtr xml_next(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->next : NULL; c; c = c->next)
        if (name_is(c, name))
            return c;
    return NULL;
}

struct qr_slice xml_text(xmlNodePtr n)
{
    if (!n)
        return qr_slice(NULL, 0);
    for (xmlNodePtr c = n->children; c; c = c->next)
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE)
            return qr_slice_cstr((const char *)c->content);
    return qr_slice(NULL, 0);
}
