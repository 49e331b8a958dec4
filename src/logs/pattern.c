/*
 * pattern.c - the term form of CloudWatch Logs filter patterns (doc: "Filter pattern
 * syntax for metric filters, subscription filters, filter log events, and Live Tail",
 * "Matching terms in unstructured log events").
 *
 * A pattern is a list of terms separated by spaces; a term is a bare word or a
 * "quoted phrase". A plain term must appear, a '-' term must not, and if there are
 * '?' terms at least one of them must appear. Matching is a case-sensitive substring
 * search, as AWS's. JSON ({ $.x = ... }), space-delimited ([a, b]) and regex (%re%)
 * patterns are refused as not implemented rather than matched wrongly.
 */
#include "logs/logs_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

enum term_kind {
    TERM_ALL, /* must appear */
    TERM_NOT, /* must not appear */
    TERM_ANY, /* one of the ANY terms must appear */
};

struct term {
    enum term_kind kind;
    size_t off, len; /* bytes in pattern->text */
};

struct logs_pattern {
    uint8_t *text; /* unquoted term bytes, back to back */
    struct term *t;
    size_t n;
    bool has_any;
};

void logs_pattern_free(struct logs_pattern *p)
{
    if (!p)
        return;
    free(p->text);
    free(p->t);
    free(p);
}

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Reads one term at *i into p->text; sets *len (0 is an empty quoted phrase). */
static enum qr_err read_term(struct qr_slice s, size_t *i, struct logs_pattern *p, size_t *at,
                             size_t *len)
{
    size_t start = *at;
    if (s.p[*i] == '"') {
        size_t k = *i + 1;
        for (;;) {
            if (k == s.len)
                return QR_E_BAD_INPUT; /* unterminated quote */
            uint8_t c = s.p[k];
            if (c == '"')
                break;
            if (c == '\\' && k + 1 < s.len && (s.p[k + 1] == '"' || s.p[k + 1] == '\\'))
                c = s.p[++k];
            p->text[(*at)++] = c;
            k++;
        }
        *i = k + 1;
    } else {
        while (*i < s.len && !is_space(s.p[*i]))
            p->text[(*at)++] = s.p[(*i)++];
    }
    *len = *at - start;
    return QR_OK;
}

enum qr_err logs_pattern_parse(struct qr_slice text, struct logs_pattern **out)
{
    if (text.len > LOGS_MAX_PATTERN)
        return QR_E_TOO_LARGE;
    size_t i = 0;
    while (i < text.len && is_space(text.p[i]))
        i++;
    if (i < text.len && (text.p[i] == '{' || text.p[i] == '[' || text.p[i] == '%'))
        return QR_E_NOT_IMPLEMENTED;
    enum qr_err e = QR_OK;
    struct logs_pattern *p = qr_xmalloc(sizeof(*p));
    p->text = qr_xmalloc(text.len + 1);
    p->t = qr_xmalloc((text.len / 2 + 1) * sizeof(*p->t));
    p->n = 0;
    p->has_any = false;
    size_t at = 0;
    while (i < text.len) {
        enum term_kind kind = TERM_ALL;
        if (text.p[i] == '-' || text.p[i] == '?') {
            kind = text.p[i] == '-' ? TERM_NOT : TERM_ANY;
            i++;
            if (i == text.len || is_space(text.p[i])) {
                e = QR_E_BAD_INPUT; /* a lone operator */
                goto out;
            }
        }
        size_t off = at, len;
        e = read_term(text, &i, p, &at, &len);
        if (e)
            goto out;
        /* "" alone matches everything; an empty phrase adds nothing to a list. */
        if (len) {
            p->t[p->n++] = (struct term){kind, off, len};
            p->has_any = p->has_any || kind == TERM_ANY;
        }
        while (i < text.len && is_space(text.p[i]))
            i++;
    }
out:
    if (e) {
        logs_pattern_free(p);
        return e;
    }
    *out = p;
    return QR_OK;
}

bool logs_pattern_match(const struct logs_pattern *p, struct qr_slice m)
{
    bool any = false;
    for (size_t k = 0; k < p->n; k++) {
        const struct term *t = &p->t[k];
        bool found = m.len >= t->len && memmem(m.p, m.len, p->text + t->off, t->len) != NULL;
        switch (t->kind) {
        case TERM_ALL:
            if (!found)
                return false;
            break;
        case TERM_NOT:
            if (found)
                return false;
            break;
        case TERM_ANY:
            any = any || found;
            break;
        }
    }
    return !p->has_any || any;
}
