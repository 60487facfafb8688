/* mida_results.c - query result sets and the SPARQL result formats.
 * Owns: the result set (variables, rows of copied terms, a boolean or a
 *       graph), and the writers for the SPARQL 1.1 JSON, XML, CSV and TSV
 *       result formats plus an aligned text table for people, and the
 *       reader of the JSON format (what a remote endpoint answers).
 * Must not: run queries, know the engine, touch the store or sockets.
 *
 * The writers stream: each piece (the head, one row, the tail) is built in a
 * small buffer and written out before the next one is built, so a large
 * result is never held twice, once as terms and once as text.
 *
 * Every writer emits well-formed UTF-8: a byte that does not start a
 * well-formed UTF-8 sequence (stray continuation byte, overlong form,
 * surrogate, beyond U+10FFFF, truncated sequence) is written as U+FFFD.
 * The store should never hold such bytes; this only keeps one bad literal
 * from making the whole document unreadable.
 *
 * What each format does with the awkward cases:
 *
 *   format  unbound cell          ASK                      text escaping
 *   JSON    member omitted        {"head":{},"boolean":b}  \" \\ \b \f \n \r \t,
 *                                                          other C0 as \u00XX
 *   XML     <binding> omitted     <boolean>b</boolean>     & < > " ' as entities,
 *                                                          CR as &#13; (and TAB, LF
 *                                                          in attributes) so that
 *                                                          they survive parsing;
 *                                                          characters XML 1.0
 *                                                          forbids become U+FFFD
 *   CSV     empty field           header "boolean",        field quoted when it
 *                                 one row true|false       holds " , CR or LF;
 *                                                          "" doubles a quote
 *   TSV     empty field           header "?boolean",       terms in N-Triples form
 *                                 one row true|false       (mida_term_format_nt)
 *   TABLE   empty cell            one column "boolean"     terms in N-Triples form
 *
 * CSV and TSV have no ASK form in the W3C note; writing the answer as a
 * one-column, one-row table named "boolean" is what common endpoints do, and
 * `true`/`false` is also a valid Turtle term for TSV.  CSV loses the
 * difference between IRIs, literals and an empty literal vs an unbound
 * cell: that is the format, not us.  TSV writes every literal in the full
 * "lex"^^<datatype> form; the abbreviated Turtle forms (42, true) are
 * allowed by the note but not required.
 */
#include "mida_internal.h"
#include "mida_selftest.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Debug builds tag live result sets and poison destroyed ones, so a
 * use-after-destroy trips an assert instead of reading freed terms. */
#define RESULTS_TAG 0x6d726573u  /* "mres" */
#define RESULTS_DEAD 0xdeadbeefu

/* The longest cell the TABLE writer shows, in code points, "…" included. */
#define TABLE_MAX_CELL 80

struct mida_results {
    uint32_t tag;              /* RESULTS_TAG while alive */
    mida_results_kind_t kind;
    size_t nvars;              /* BINDINGS: number of columns */
    char **vars;               /* BINDINGS: names without '?', in the arena */
    mida_term_t *cells;        /* BINDINGS: nrows * nvars, row-major */
    size_t nrows;              /* BINDINGS: rows held */
    size_t cap_rows;           /* BINDINGS: rows `cells` has room for */
    size_t max_rows;           /* BINDINGS: 0 = no limit */
    bool boolean;              /* BOOLEAN: the answer */
    mida_quads_t *graph;       /* GRAPH: owned */
    mida_arena_t arena;        /* every string of vars and cells */
};

static void s_check(const mida_results_t *r)
{
    assert(r->tag == RESULTS_TAG);
    (void)r;
}

static mida_results_t *s_new(mida_results_kind_t kind)
{
    mida_results_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->tag = RESULTS_TAG;
    r->kind = kind;
    mida_arena_init(&r->arena);
    return r;
}

mida_results_t *mida_results_new_bindings(size_t nvars, const char *const *vars)
{
    if (nvars && !vars)
        return NULL;
    for (size_t i = 0; i < nvars; i++)
        if (!vars[i] || !vars[i][0])
            return NULL;
    mida_results_t *r = s_new(MIDA_RESULTS_BINDINGS);
    if (!r)
        return NULL;
    if (nvars) {
        r->vars = calloc(nvars, sizeof *r->vars);
        if (!r->vars)
            goto fail;
    }
    r->nvars = nvars;
    for (size_t i = 0; i < nvars; i++) {
        /* Names are kept without the sigil; accept one anyway, since
         * rasqal and people both tend to hand them over with it. */
        const char *name = vars[i];
        if ((name[0] == '?' || name[0] == '$') && name[1])
            name++;
        if (!(r->vars[i] = mida_arena_strdup(&r->arena, name)))
            goto fail;
    }
    return r;
fail:
    mida_results_destroy(&r);
    return NULL;
}

mida_results_t *mida_results_new_boolean(bool value)
{
    mida_results_t *r = s_new(MIDA_RESULTS_BOOLEAN);
    if (r)
        r->boolean = value;
    return r;
}

/* On failure (NULL graph, ENOMEM) *graph_p is left alone: the caller still
 * owns it. */
mida_results_t *mida_results_new_graph(mida_quads_t **graph_p)
{
    if (!graph_p || !*graph_p)
        return NULL;
    mida_results_t *r = s_new(MIDA_RESULTS_GRAPH);
    if (!r)
        return NULL;
    r->graph = *graph_p;
    *graph_p = NULL;
    return r;
}

void mida_results_destroy(mida_results_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mida_results_t *r = *self_p;
    s_check(r);
    mida_quads_destroy(&r->graph);
    mida_arena_free(&r->arena);
    free(r->cells);
    free(r->vars);
    r->tag = RESULTS_DEAD;
    free(r);
    *self_p = NULL;
}

void mida_results_set_max_rows(mida_results_t *r, size_t max_rows)
{
    if (!r)
        return;
    s_check(r);
    r->max_rows = max_rows;
}

/* Copies one cell into the arena.  Literals are normalised the way quad
 * batches are: xsd:string becomes "no datatype", an empty language tag
 * becomes none, and a language tag wins over a datatype (rdf:langString). */
static int s_copy_cell(mida_results_t *r, mida_term_t *dst, const mida_term_t *src)
{
    *dst = (mida_term_t){src->kind, NULL, NULL, NULL};
    if (src->kind == MIDA_TERM_NONE)
        return 0;
    if (!(dst->value = mida_arena_strdup(&r->arena, src->value)))
        return MIDA_ENOMEM;
    if (src->kind != MIDA_TERM_LITERAL)
        return 0;
    if (src->lang && src->lang[0]) {
        if (!(dst->lang = mida_arena_strdup(&r->arena, src->lang)))
            return MIDA_ENOMEM;
    } else if (src->datatype && strcmp(src->datatype, XSD_("string"))) {
        if (!(dst->datatype = mida_arena_strdup(&r->arena, src->datatype)))
            return MIDA_ENOMEM;
    }
    return 0;
}

/* This function assumes the following:
 *   (a) `cells` has exactly r->nvars entries (it may be NULL when nvars is 0);
 *   (b) a bound cell has a non-NULL value.
 * A row that fails half-way is not added; the strings it had copied stay in
 * the arena until the result set is destroyed. */
int mida_results_add_row(mida_results_t *r, const mida_term_t *cells)
{
    if (!r || r->kind != MIDA_RESULTS_BINDINGS || (r->nvars && !cells))
        return MIDA_EINVAL;
    s_check(r);
    for (size_t i = 0; i < r->nvars; i++) {
        const mida_term_t *c = &cells[i];
        if ((int)c->kind < (int)MIDA_TERM_NONE || (int)c->kind > (int)MIDA_TERM_LITERAL)
            return MIDA_EINVAL;
        if (c->kind != MIDA_TERM_NONE && !c->value)
            return MIDA_EINVAL;
    }
    if (r->max_rows && r->nrows >= r->max_rows)
        return MIDA_ELIMIT;
    if (r->nvars && r->nrows == r->cap_rows) {
        size_t cap = r->cap_rows ? r->cap_rows * 2 : 16;
        if (cap < r->cap_rows || cap > SIZE_MAX / sizeof *r->cells / r->nvars)
            return MIDA_ENOMEM;
        mida_term_t *p = realloc(r->cells, cap * r->nvars * sizeof *p);
        if (!p)
            return MIDA_ENOMEM;
        r->cells = p;
        r->cap_rows = cap;
    }
    mida_term_t *row = r->nvars ? &r->cells[r->nrows * r->nvars] : NULL;
    for (size_t i = 0; i < r->nvars; i++) {
        int rc = s_copy_cell(r, &row[i], &cells[i]);
        if (rc)
            return rc;
    }
    r->nrows++;
    return 0;
}

mida_results_kind_t mida_results_kind(const mida_results_t *r)
{
    return r ? r->kind : (mida_results_kind_t)0;
}

size_t mida_results_var_count(const mida_results_t *r)
{
    return r ? r->nvars : 0;
}

const char *mida_results_var_name(const mida_results_t *r, size_t i)
{
    return (r && i < r->nvars) ? r->vars[i] : NULL;
}

size_t mida_results_row_count(const mida_results_t *r)
{
    return r ? r->nrows : 0;
}

const mida_term_t *mida_results_get(const mida_results_t *r, size_t row, size_t col)
{
    if (!r || row >= r->nrows || col >= r->nvars)
        return NULL;
    const mida_term_t *t = &r->cells[row * r->nvars + col];
    return t->kind == MIDA_TERM_NONE ? NULL : t;
}

bool mida_results_boolean(const mida_results_t *r)
{
    return r && r->kind == MIDA_RESULTS_BOOLEAN && r->boolean;
}

const mida_quads_t *mida_results_graph(const mida_results_t *r)
{
    return (r && r->kind == MIDA_RESULTS_GRAPH) ? r->graph : NULL;
}

/* ---- formats ---------------------------------------------------------- */

static const struct {
    mida_results_format_t format;
    const char *name;
    const char *media_type;
} s_formats[] = {
    {MIDA_RESULTS_TABLE, "table", "text/plain"},
    {MIDA_RESULTS_JSON, "json", "application/sparql-results+json"},
    {MIDA_RESULTS_XML, "xml", "application/sparql-results+xml"},
    {MIDA_RESULTS_CSV, "csv", "text/csv"},
    {MIDA_RESULTS_TSV, "tsv", "text/tab-separated-values"},
};

int mida_results_format_parse(const char *name, mida_results_format_t *format)
{
    if (!name || !format)
        return MIDA_EINVAL;
    for (size_t i = 0; i < MIDA_ARRAY_LEN(s_formats); i++)
        if (!strcasecmp(name, s_formats[i].name)) {
            *format = s_formats[i].format;
            return 0;
        }
    return MIDA_EINVAL;
}

/* NULL for a value that is not a format. */
const char *mida_results_format_name(mida_results_format_t format)
{
    for (size_t i = 0; i < MIDA_ARRAY_LEN(s_formats); i++)
        if (s_formats[i].format == format)
            return s_formats[i].name;
    return NULL;
}

/* NULL for a value that is not a format. */
const char *mida_results_format_media_type(mida_results_format_t format)
{
    for (size_t i = 0; i < MIDA_ARRAY_LEN(s_formats); i++)
        if (s_formats[i].format == format)
            return s_formats[i].media_type;
    return NULL;
}

/* ---- UTF-8 -------------------------------------------------------------- */

/* Decodes the UTF-8 sequence at p (n > 0 bytes available) into *cp and
 * returns its length, or returns 0 when the bytes there are not
 * well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * beyond U+10FFFF, no truncated sequence). */
static size_t s_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    assert(n > 0);
    unsigned char c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* Number of characters s[0..n) shows as once cleaned: each code point
 * counts one, and so does each byte that will become U+FFFD. */
static size_t s_utf8_width(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t count = 0;
    while (n) {
        uint32_t cp;
        size_t len = s_utf8_decode(p, n, &cp);
        if (!len)
            len = 1;
        p += len;
        n -= len;
        count++;
    }
    return count;
}

/* Byte length of the first `chars` characters of s[0..n). */
static size_t s_utf8_prefix(const char *s, size_t n, size_t chars)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t off = 0;
    while (off < n && chars--) {
        uint32_t cp;
        size_t len = s_utf8_decode(p + off, n - off, &cp);
        off += len ? len : 1;
    }
    return off;
}

/* ---- the streaming writer ------------------------------------------------ */

/* Errors are sticky: after the first failure every call does nothing and
 * the writer returns that failure at the end.  This keeps the format code
 * readable as a list of things to write. */
typedef struct {
    FILE *out;
    mida_buf_t buf;  /* the piece being built: head, one row, tail */
    mida_buf_t tmp;  /* one term's N-Triples form, before cleaning */
    int rc;
} s_writer_t;

static void s_add(s_writer_t *w, const char *s, size_t n)
{
    if (!w->rc && n)
        w->rc = mida_buf_add(&w->buf, s, n);
}

static void s_puts(s_writer_t *w, const char *s)
{
    s_add(w, s, strlen(s));
}

static void s_flush(s_writer_t *w)
{
    if (!w->rc && w->buf.len && fwrite(w->buf.data, 1, w->buf.len, w->out) != w->buf.len)
        w->rc = MIDA_EIO;
    mida_buf_reset(&w->buf);
}

typedef enum {
    ESC_PLAIN,      /* only clean the UTF-8 */
    ESC_JSON,       /* inside a JSON string */
    ESC_XML_TEXT,   /* XML character data */
    ESC_XML_ATTR,   /* XML attribute value in double quotes */
    ESC_CSV_QUOTED  /* inside a quoted CSV field */
} s_escape_t;

/* The replacement for the character cp (encoded in `len` bytes; len 0 for
 * a byte that is not UTF-8) in the given context, written to tmp, or NULL
 * when it is written as it is. */
static const char *s_replacement(s_escape_t mode, uint32_t cp, size_t len, char tmp[8])
{
    static const char fffd[] = "\xEF\xBF\xBD";
    if (!len)
        return fffd;
    switch (mode) {
    case ESC_PLAIN:
        return NULL;
    case ESC_JSON:
        switch (cp) {
        case '"': return "\\\"";
        case '\\': return "\\\\";
        case '\b': return "\\b";
        case '\f': return "\\f";
        case '\n': return "\\n";
        case '\r': return "\\r";
        case '\t': return "\\t";
        default:
            if (cp < 0x20) {
                snprintf(tmp, 8, "\\u%04x", (unsigned)cp);
                return tmp;
            }
            return NULL;
        }
    case ESC_XML_TEXT:
    case ESC_XML_ATTR:
        switch (cp) {
        case '&': return "&amp;";
        case '<': return "&lt;";
        case '>': return "&gt;";
        case '"': return "&quot;";
        case '\'': return "&apos;";
        /* A parser turns a raw CR (or CRLF) into LF, and in an attribute
         * also TAB and LF into spaces; character references survive. */
        case '\r': return "&#13;";
        case '\t': return mode == ESC_XML_ATTR ? "&#9;" : NULL;
        case '\n': return mode == ESC_XML_ATTR ? "&#10;" : NULL;
        default:
            /* XML 1.0 Char excludes the other C0 controls and U+FFFE,
             * U+FFFF even as character references. */
            if (cp < 0x20 || cp == 0xFFFE || cp == 0xFFFF)
                return fffd;
            return NULL;
        }
    case ESC_CSV_QUOTED:
        return cp == '"' ? "\"\"" : NULL;
    }
    return NULL;
}

/* Appends s[0..n) escaped for `mode`, copying runs that need no escape in
 * one piece. */
static void s_put_escaped(s_writer_t *w, const char *s, size_t n, s_escape_t mode)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0, off = 0;
    while (off < n) {
        uint32_t cp = 0;
        size_t len = s_utf8_decode(p + off, n - off, &cp);
        char tmp[8];
        const char *rep = s_replacement(mode, cp, len, tmp);
        if (!len)
            len = 1;
        if (rep) {
            s_add(w, s + run, off - run);
            s_puts(w, rep);
            run = off + len;
        }
        off += len;
    }
    s_add(w, s + run, off - run);
}

static void s_put_esc(s_writer_t *w, const char *s, s_escape_t mode)
{
    s_put_escaped(w, s, strlen(s), mode);
}

/* The N-Triples form of a term in w->tmp ("" for unbound). */
static void s_term_nt(s_writer_t *w, const mida_term_t *t)
{
    mida_buf_reset(&w->tmp);
    if (!w->rc && t)
        w->rc = mida_term_format_nt(t, &w->tmp);
}

/* The form of a term for people, in w->tmp: IRIs in known namespaces as
 * prefix:local, numbers and booleans bare, other literals as in Turtle. */
static bool s_compact_iri(const char *iri, mida_buf_t *b)
{
    for (const mida_prefix_t *p = mida_iri_prefixes(); p->prefix; p++) {
        size_t n = strlen(p->ns);
        if (!strncmp(iri, p->ns, n) && iri[n]) {
            mida_buf_printf(b, "%s:%s", p->prefix, iri + n);
            return true;
        }
    }
    return false;
}

static void s_term_human(s_writer_t *w, const mida_term_t *t)
{
    mida_buf_reset(&w->tmp);
    if (w->rc || !t)
        return;
    static const char *const bare[] = {XSD_("integer"), XSD_("decimal"), XSD_("double"),
                                       XSD_("float"), XSD_("boolean"), XSD_("long"), XSD_("int")};
    if (t->kind == MIDA_TERM_IRI && s_compact_iri(t->value, &w->tmp))
        return;
    if (t->kind == MIDA_TERM_LITERAL && t->datatype && !t->lang) {
        for (size_t i = 0; i < sizeof bare / sizeof bare[0]; i++)
            if (!strcmp(t->datatype, bare[i])) {
                w->rc = mida_nt_escape(t->value, &w->tmp);
                return;
            }
        mida_buf_addc(&w->tmp, '"');
        mida_nt_escape(t->value, &w->tmp);
        mida_buf_adds(&w->tmp, "\"^^");
        if (!s_compact_iri(t->datatype, &w->tmp))
            mida_buf_printf(&w->tmp, "<%s>", t->datatype);
        return;
    }
    w->rc = mida_term_format_nt(t, &w->tmp);
}

/* ---- JSON (SPARQL 1.1 Query Results JSON Format) ------------------------- */

static void s_json_term(s_writer_t *w, const mida_term_t *t)
{
    static const char *const type[] = {
        [MIDA_TERM_IRI] = "uri", [MIDA_TERM_BLANK] = "bnode", [MIDA_TERM_LITERAL] = "literal"};
    s_puts(w, "{\"type\":\"");
    s_puts(w, type[t->kind]);
    s_puts(w, "\",\"value\":\"");
    s_put_esc(w, t->value, ESC_JSON);
    s_puts(w, "\"");
    if (t->kind == MIDA_TERM_LITERAL && t->lang) {
        s_puts(w, ",\"xml:lang\":\"");
        s_put_esc(w, t->lang, ESC_JSON);
        s_puts(w, "\"");
    } else if (t->kind == MIDA_TERM_LITERAL && t->datatype) {
        s_puts(w, ",\"datatype\":\"");
        s_put_esc(w, t->datatype, ESC_JSON);
        s_puts(w, "\"");
    }
    s_puts(w, "}");
}

/* Layout: the head and the opening of "bindings" on the first line, one
 * binding object per line, the closing brackets on the last.  Compact, but
 * a row is still one line for grep and diff. */
static void s_write_json(s_writer_t *w, const mida_results_t *r)
{
    if (r->kind == MIDA_RESULTS_BOOLEAN) {
        s_puts(w, r->boolean ? "{\"head\":{},\"boolean\":true}\n"
                             : "{\"head\":{},\"boolean\":false}\n");
        s_flush(w);
        return;
    }
    s_puts(w, "{\"head\":{\"vars\":[");
    for (size_t i = 0; i < r->nvars; i++) {
        s_puts(w, i ? ",\"" : "\"");
        s_put_esc(w, r->vars[i], ESC_JSON);
        s_puts(w, "\"");
    }
    s_puts(w, "]},\"results\":{\"bindings\":[");
    if (r->nrows)
        s_puts(w, "\n");
    s_flush(w);
    for (size_t row = 0; row < r->nrows && !w->rc; row++) {
        s_puts(w, "{");
        bool first = true;
        for (size_t col = 0; col < r->nvars; col++) {
            const mida_term_t *t = mida_results_get(r, row, col);
            if (!t)
                continue;
            s_puts(w, first ? "\"" : ",\"");
            s_put_esc(w, r->vars[col], ESC_JSON);
            s_puts(w, "\":");
            s_json_term(w, t);
            first = false;
        }
        s_puts(w, row + 1 < r->nrows ? "},\n" : "}\n");
        s_flush(w);
    }
    s_puts(w, "]}}\n");
    s_flush(w);
}

/* ---- XML (SPARQL Query Results XML Format, second edition) --------------- */

static void s_xml_term(s_writer_t *w, const mida_term_t *t)
{
    switch (t->kind) {
    case MIDA_TERM_IRI:
        s_puts(w, "<uri>");
        s_put_esc(w, t->value, ESC_XML_TEXT);
        s_puts(w, "</uri>");
        break;
    case MIDA_TERM_BLANK:
        s_puts(w, "<bnode>");
        s_put_esc(w, t->value, ESC_XML_TEXT);
        s_puts(w, "</bnode>");
        break;
    case MIDA_TERM_LITERAL:
        s_puts(w, "<literal");
        if (t->lang) {
            s_puts(w, " xml:lang=\"");
            s_put_esc(w, t->lang, ESC_XML_ATTR);
            s_puts(w, "\"");
        } else if (t->datatype) {
            s_puts(w, " datatype=\"");
            s_put_esc(w, t->datatype, ESC_XML_ATTR);
            s_puts(w, "\"");
        }
        s_puts(w, ">");
        s_put_esc(w, t->value, ESC_XML_TEXT);
        s_puts(w, "</literal>");
        break;
    default:
        assert(!"unbound cells are skipped by the caller");
    }
}

static void s_write_xml(s_writer_t *w, const mida_results_t *r)
{
    s_puts(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
              "  <head>\n");
    for (size_t i = 0; i < r->nvars; i++) {
        s_puts(w, "    <variable name=\"");
        s_put_esc(w, r->vars[i], ESC_XML_ATTR);
        s_puts(w, "\"/>\n");
    }
    s_puts(w, "  </head>\n");
    if (r->kind == MIDA_RESULTS_BOOLEAN) {
        s_puts(w, r->boolean ? "  <boolean>true</boolean>\n" : "  <boolean>false</boolean>\n");
        s_puts(w, "</sparql>\n");
        s_flush(w);
        return;
    }
    s_puts(w, "  <results>\n");
    s_flush(w);
    for (size_t row = 0; row < r->nrows && !w->rc; row++) {
        s_puts(w, "    <result>\n");
        for (size_t col = 0; col < r->nvars; col++) {
            const mida_term_t *t = mida_results_get(r, row, col);
            if (!t)
                continue;
            s_puts(w, "      <binding name=\"");
            s_put_esc(w, r->vars[col], ESC_XML_ATTR);
            s_puts(w, "\">");
            s_xml_term(w, t);
            s_puts(w, "</binding>\n");
        }
        s_puts(w, "    </result>\n");
        s_flush(w);
    }
    s_puts(w, "  </results>\n</sparql>\n");
    s_flush(w);
}

/* ---- CSV and TSV (SPARQL 1.1 Query Results CSV and TSV Formats) ---------- */

static void s_csv_field(s_writer_t *w, const char *s, size_t n)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == '"' || s[i] == ',' || s[i] == '\r' || s[i] == '\n';
    if (!quote) {
        s_put_escaped(w, s, n, ESC_PLAIN);
        return;
    }
    s_puts(w, "\"");
    s_put_escaped(w, s, n, ESC_CSV_QUOTED);
    s_puts(w, "\"");
}

/* A CSV cell carries the bare value: the IRI, the lexical form, or the
 * blank node as _:label. */
static void s_csv_term(s_writer_t *w, const mida_term_t *t)
{
    if (!t)
        return;
    if (t->kind == MIDA_TERM_BLANK) {
        mida_buf_reset(&w->tmp);
        if (!w->rc)
            w->rc = mida_buf_printf(&w->tmp, "_:%s", t->value);
        s_csv_field(w, w->tmp.data ? w->tmp.data : "", w->tmp.len);
        return;
    }
    s_csv_field(w, t->value, strlen(t->value));
}

static void s_write_csv(s_writer_t *w, const mida_results_t *r)
{
    if (r->kind == MIDA_RESULTS_BOOLEAN) {
        s_puts(w, r->boolean ? "boolean\r\ntrue\r\n" : "boolean\r\nfalse\r\n");
        s_flush(w);
        return;
    }
    for (size_t i = 0; i < r->nvars; i++) {
        if (i)
            s_puts(w, ",");
        s_csv_field(w, r->vars[i], strlen(r->vars[i]));
    }
    s_puts(w, "\r\n");
    s_flush(w);
    for (size_t row = 0; row < r->nrows && !w->rc; row++) {
        for (size_t col = 0; col < r->nvars; col++) {
            if (col)
                s_puts(w, ",");
            s_csv_term(w, mida_results_get(r, row, col));
        }
        s_puts(w, "\r\n");
        s_flush(w);
    }
}

/* TSV terms are N-Triples, which already escapes TAB, LF and CR inside
 * literals and IRIs, so a cell never breaks the line structure. */
static void s_write_tsv(s_writer_t *w, const mida_results_t *r)
{
    if (r->kind == MIDA_RESULTS_BOOLEAN) {
        s_puts(w, r->boolean ? "?boolean\ntrue\n" : "?boolean\nfalse\n");
        s_flush(w);
        return;
    }
    for (size_t i = 0; i < r->nvars; i++) {
        s_puts(w, i ? "\t?" : "?");
        s_put_esc(w, r->vars[i], ESC_PLAIN);
    }
    s_puts(w, "\n");
    s_flush(w);
    for (size_t row = 0; row < r->nrows && !w->rc; row++) {
        for (size_t col = 0; col < r->nvars; col++) {
            if (col)
                s_puts(w, "\t");
            const mida_term_t *t = mida_results_get(r, row, col);
            if (!t)
                continue;
            s_term_nt(w, t);
            s_put_escaped(w, mida_buf_str(&w->tmp), w->tmp.len, ESC_PLAIN);
        }
        s_puts(w, "\n");
        s_flush(w);
    }
}

/* ---- TABLE ----------------------------------------------------------------
 *
 *   +-------------------+--------+
 *   | s                 | o      |
 *   +===================+========+
 *   | <http://ex.org/a> | "x"@en |
 *   |                   | _:b1   |
 *   +-------------------+--------+
 *
 * Cells are the N-Triples form of the term (so they hold no TAB or newline)
 * and are cut to TABLE_MAX_CELL characters, the last one "…".  Widths count
 * code points, which lines up for most scripts in a terminal (not for wide
 * CJK characters or combining marks, which would need wcwidth and a locale).
 * The table needs every width before its first line, so it is the one
 * writer that makes two passes over the rows. */

/* Appends text[0..n) cleaned and cut to TABLE_MAX_CELL characters, padded
 * with spaces to `width`. */
static void s_table_cell(s_writer_t *w, const char *text, size_t n, size_t width)
{
    size_t chars = s_utf8_width(text, n);
    if (chars > TABLE_MAX_CELL) {
        s_put_escaped(w, text, s_utf8_prefix(text, n, TABLE_MAX_CELL - 1), ESC_PLAIN);
        s_puts(w, "\xE2\x80\xA6"); /* … */
        chars = TABLE_MAX_CELL;
    } else {
        s_put_escaped(w, text, n, ESC_PLAIN);
    }
    for (; chars < width; chars++)
        s_puts(w, " ");
}

static void s_table_rule(s_writer_t *w, const size_t *widths, size_t ncols, char c)
{
    s_puts(w, "+");
    for (size_t i = 0; i < ncols; i++) {
        for (size_t k = 0; k < widths[i] + 2; k++)
            s_add(w, &c, 1);
        s_puts(w, "+");
    }
    s_puts(w, "\n");
    s_flush(w);
}

static size_t s_table_width(const char *text, size_t n)
{
    size_t chars = s_utf8_width(text, n);
    return chars > TABLE_MAX_CELL ? TABLE_MAX_CELL : chars;
}

static void s_write_table(s_writer_t *w, const mida_results_t *r)
{
    if (r->kind == MIDA_RESULTS_BOOLEAN) {
        size_t width = strlen("boolean");
        s_table_rule(w, &width, 1, '-');
        s_puts(w, "| boolean |\n");
        s_table_rule(w, &width, 1, '=');
        s_puts(w, r->boolean ? "| true    |\n" : "| false   |\n");
        s_table_rule(w, &width, 1, '-');
        return;
    }
    size_t *widths = NULL;
    if (r->nvars && !(widths = calloc(r->nvars, sizeof *widths))) {
        w->rc = MIDA_ENOMEM;
        return;
    }
    for (size_t col = 0; col < r->nvars; col++)
        widths[col] = s_table_width(r->vars[col], strlen(r->vars[col]));
    for (size_t row = 0; row < r->nrows && !w->rc; row++)
        for (size_t col = 0; col < r->nvars; col++) {
            const mida_term_t *t = mida_results_get(r, row, col);
            if (!t)
                continue;
            s_term_human(w, t);
            size_t wd = s_table_width(mida_buf_str(&w->tmp), w->tmp.len);
            if (wd > widths[col])
                widths[col] = wd;
        }

    s_table_rule(w, widths, r->nvars, '-');
    s_puts(w, "|");
    for (size_t col = 0; col < r->nvars; col++) {
        s_puts(w, " ");
        s_table_cell(w, r->vars[col], strlen(r->vars[col]), widths[col]);
        s_puts(w, " |");
    }
    s_puts(w, "\n");
    s_table_rule(w, widths, r->nvars, '=');
    for (size_t row = 0; row < r->nrows && !w->rc; row++) {
        s_puts(w, "|");
        for (size_t col = 0; col < r->nvars; col++) {
            s_term_human(w, mida_results_get(r, row, col));
            s_puts(w, " ");
            s_table_cell(w, mida_buf_str(&w->tmp), w->tmp.len, widths[col]);
            s_puts(w, " |");
        }
        s_puts(w, "\n");
        s_flush(w);
    }
    s_table_rule(w, widths, r->nvars, '-');
    free(widths);
}

/* ---- mida_results_write ---------------------------------------------------- */

int mida_results_write(const mida_results_t *r, mida_results_format_t format, FILE *out)
{
    if (!r || !out || !mida_results_format_name(format))
        return MIDA_EINVAL;
    s_check(r);
    if (r->kind != MIDA_RESULTS_BINDINGS && r->kind != MIDA_RESULTS_BOOLEAN)
        return MIDA_EINVAL;
    s_writer_t w = {.out = out, .rc = 0};
    /* A piece is one row, whose terms the result set already holds in
     * memory, so it needs no cap of its own. */
    mida_buf_init(&w.buf, MIDA_BUF_UNLIMITED);
    mida_buf_init(&w.tmp, MIDA_BUF_UNLIMITED);
    switch (format) {
    case MIDA_RESULTS_TABLE: s_write_table(&w, r); break;
    case MIDA_RESULTS_JSON: s_write_json(&w, r); break;
    case MIDA_RESULTS_XML: s_write_xml(&w, r); break;
    case MIDA_RESULTS_CSV: s_write_csv(&w, r); break;
    case MIDA_RESULTS_TSV: s_write_tsv(&w, r); break;
    }
    s_flush(&w);
    mida_buf_free(&w.buf);
    mida_buf_free(&w.tmp);
    if (!w.rc && (fflush(out) != 0 || ferror(out)))
        w.rc = MIDA_EIO;
    return w.rc;
}

/* ---- reading the JSON format ---------------------------------------------
 *
 * The reader is strict about structure (every term an object with a string
 * "type" and "value", every bound variable listed in head.vars) and lenient
 * where servers differ harmlessly: members it does not know ("link",
 * "distinct", "ordered") are ignored, "typed-literal" (the 2007 note) is a
 * literal with a datatype, a literal with both "xml:lang" and "datatype"
 * (rdf:langString) keeps the language tag. */

static int s_json_fail(char *err, size_t errlen, const char *fmt, ...) MIDA_PRINTF(3, 4);
static int s_json_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return MIDA_EPARSE;
}

/* The string member `key` of object `o`: NULL when absent; *bad set when
 * present but not a string. */
static const char *s_json_str(json_t *o, const char *key, bool *bad)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return NULL;
    if (!json_is_string(v)) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

/* One term object into *t (strings owned by the JSON tree). */
static int s_json_read_term(json_t *o, size_t row, const char *var, mida_term_t *t, char *err,
                            size_t errlen)
{
#define TERM_FAIL(...)                                                                      \
    do {                                                                                    \
        char why_[160];                                                                     \
        snprintf(why_, sizeof why_, __VA_ARGS__);                                           \
        return s_json_fail(err, errlen, "results.bindings[%zu].%s: %s", row, var, why_);    \
    } while (0)
    if (!json_is_object(o))
        TERM_FAIL("not a term object");
    bool bad = false;
    const char *type = s_json_str(o, "type", &bad);
    const char *value = s_json_str(o, "value", &bad);
    const char *lang = s_json_str(o, "xml:lang", &bad);
    const char *datatype = s_json_str(o, "datatype", &bad);
    if (bad)
        TERM_FAIL("\"type\", \"value\", \"xml:lang\" and \"datatype\" must be strings");
    if (!type)
        TERM_FAIL("no \"type\"");
    if (!value)
        TERM_FAIL("no \"value\"");
    if (!strcmp(type, "uri")) {
        *t = mida_term_iri(value);
    } else if (!strcmp(type, "bnode")) {
        *t = mida_term_blank(value);
    } else if (!strcmp(type, "literal") || !strcmp(type, "typed-literal")) {
        if (type[0] == 't' && !datatype)
            TERM_FAIL("a typed-literal without \"datatype\"");
        if (lang && !lang[0])
            TERM_FAIL("an empty \"xml:lang\"");
        if (datatype && !datatype[0])
            TERM_FAIL("an empty \"datatype\"");
        *t = mida_term_literal(value, lang ? NULL : datatype, lang);
    } else if (!strcmp(type, "triple")) {
        TERM_FAIL("RDF-star triple terms are not supported");
    } else {
        TERM_FAIL("unknown term type \"%.40s\"", type);
    }
    if ((t->kind == MIDA_TERM_IRI || t->kind == MIDA_TERM_BLANK) && !value[0])
        TERM_FAIL("an empty %s", t->kind == MIDA_TERM_IRI ? "IRI" : "blank node label");
    return 0;
#undef TERM_FAIL
}

static int s_json_read(json_t *root, mida_results_t **out, char *err, size_t errlen)
{
    if (!json_is_object(root))
        return s_json_fail(err, errlen, "not SPARQL JSON results: the top level is not an object");
    json_t *boolean = json_object_get(root, "boolean");
    if (boolean) {
        if (!json_is_boolean(boolean))
            return s_json_fail(err, errlen, "\"boolean\" is not true or false");
        *out = mida_results_new_boolean(json_is_true(boolean));
        return *out ? 0 : MIDA_ENOMEM;
    }
    json_t *head = json_object_get(root, "head");
    json_t *vars = head ? json_object_get(head, "vars") : NULL;
    json_t *results = json_object_get(root, "results");
    json_t *bindings = json_is_object(results) ? json_object_get(results, "bindings") : NULL;
    if (!json_is_object(head))
        return s_json_fail(err, errlen, "not SPARQL JSON results: no \"head\" object");
    if (!json_is_array(vars))
        return s_json_fail(err, errlen, "not SPARQL JSON results: no \"head.vars\" array");
    if (!json_is_array(bindings))
        return s_json_fail(err, errlen,
                           "not SPARQL JSON results: no \"results.bindings\" array (nor \"boolean\")");
    size_t nvars = json_array_size(vars);
    const char **names = calloc(nvars ? nvars : 1, sizeof *names);
    mida_term_t *cells = calloc(nvars ? nvars : 1, sizeof *cells);
    mida_results_t *r = NULL;
    int rc = 0;
    if (!names || !cells) {
        rc = MIDA_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < nvars; i++) {
        names[i] = json_string_value(json_array_get(vars, i));
        if (!names[i] || !names[i][0]) {
            rc = s_json_fail(err, errlen, "head.vars[%zu] is not a variable name", i);
            goto done;
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp(names[k], names[i])) {
                rc = s_json_fail(err, errlen, "head.vars lists \"%s\" twice", names[i]);
                goto done;
            }
    }
    if (!(r = mida_results_new_bindings(nvars, names))) {
        rc = MIDA_ENOMEM;
        goto done;
    }
    size_t row;
    json_t *binding;
    json_array_foreach(bindings, row, binding) {
        if (!json_is_object(binding)) {
            rc = s_json_fail(err, errlen, "results.bindings[%zu] is not an object", row);
            goto done;
        }
        memset(cells, 0, nvars * sizeof *cells);
        const char *key;
        json_t *term;
        json_object_foreach(binding, key, term) {
            size_t col = 0;
            while (col < nvars && strcmp(names[col], key))
                col++;
            if (col == nvars) {
                rc = s_json_fail(err, errlen,
                                 "results.bindings[%zu] binds \"%.80s\", which head.vars does not list",
                                 row, key);
                goto done;
            }
            if ((rc = s_json_read_term(term, row, key, &cells[col], err, errlen)))
                goto done;
        }
        if ((rc = mida_results_add_row(r, cells)))
            goto done;
    }
done:
    if (rc)
        mida_results_destroy(&r);
    *out = r;
    free(names);
    free(cells);
    return rc;
}

int mida_results_read_json(const char *text, size_t len, mida_results_t **out, char *err,
                           size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return MIDA_EINVAL;
    *out = NULL;
    if (!text)
        return MIDA_EINVAL;
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root)
        return s_json_fail(err, errlen, "line %d, column %d: %s", je.line, je.column, je.text);
    int rc = s_json_read(root, out, err, errlen);
    json_decref(root);
    if (rc == MIDA_ENOMEM && err && errlen && !err[0])
        snprintf(err, errlen, "out of memory");
    return rc;
}

/* ---- self-test ------------------------------------------------------------ */

/* Writes r in `format` to memory; returns the text (caller frees) and the
 * writer's code in *rc. */
static char *s_test_write(const mida_results_t *r, mida_results_format_t format, int *rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        *rc = MIDA_EIO;
        return NULL;
    }
    *rc = mida_results_write(r, format, f);
    fclose(f);
    return text;
}

/* Checks that writing r in `format` succeeds and gives exactly `want`. */
static int s_test_expect(const mida_results_t *r, mida_results_format_t format,
                         const char *want, bool verbose)
{
    int failures = 0, rc = -1;
    char *got = s_test_write(r, format, &rc);
    if (verbose)
        printf("--- %s\n%s", mida_results_format_name(format), got ? got : "(null)\n");
    MIDA_CHECK(failures, rc == 0);
    MIDA_CHECK_STR(failures, got, want);
    if (failures)
        fprintf(stderr, "  (format %s)\n", mida_results_format_name(format));
    free(got);
    return failures;
}

/* Writes r as JSON, reads that back and checks that the copy has the same
 * variables and cells and writes the same JSON. */
static int s_test_json_round_trip(const mida_results_t *r)
{
    int failures = 0, rc = -1;
    char *text = s_test_write(r, MIDA_RESULTS_JSON, &rc), err[256] = "";
    mida_results_t *back = NULL;
    MIDA_CHECK(failures, rc == 0 && text);
    if (!text)
        return failures;
    rc = mida_results_read_json(text, strlen(text), &back, err, sizeof err);
    MIDA_CHECK(failures, rc == 0 && back);
    if (rc)
        fprintf(stderr, "  read_json: %s\n", err);
    if (back) {
        MIDA_CHECK(failures, mida_results_kind(back) == mida_results_kind(r));
        MIDA_CHECK(failures, mida_results_boolean(back) == mida_results_boolean(r));
        MIDA_CHECK(failures, mida_results_var_count(back) == mida_results_var_count(r));
        MIDA_CHECK(failures, mida_results_row_count(back) == mida_results_row_count(r));
        for (size_t c = 0; c < mida_results_var_count(r); c++)
            MIDA_CHECK_STR(failures, mida_results_var_name(back, c), mida_results_var_name(r, c));
        for (size_t row = 0; row < mida_results_row_count(r); row++)
            for (size_t c = 0; c < mida_results_var_count(r); c++) {
                const mida_term_t *a = mida_results_get(r, row, c), *b = mida_results_get(back, row, c);
                MIDA_CHECK(failures, (!a && !b) || (a && b && mida_term_equal(a, b)));
            }
        char *again = s_test_write(back, MIDA_RESULTS_JSON, &rc);
        MIDA_CHECK_STR(failures, again, text);
        free(again);
    }
    mida_results_destroy(&back);
    free(text);
    return failures;
}

/* Reads `json`; checks the code and, on failure, that err holds `why`. */
static int s_test_read_json(const char *json, int want_rc, const char *why,
                            mida_results_t **out)
{
    int failures = 0;
    char err[256] = "";
    mida_results_t *r = NULL;
    int rc = mida_results_read_json(json, strlen(json), &r, err, sizeof err);
    MIDA_CHECK(failures, rc == want_rc);
    MIDA_CHECK(failures, (rc == 0) == (r != NULL));
    if (why && !strstr(err, why)) {
        fprintf(stderr, "  read_json(%s)\n  err:  %s\n  want: %s\n", json, err, why);
        failures++;
    }
    if (out)
        *out = r;
    else
        mida_results_destroy(&r);
    return failures;
}

#define XSD_INTEGER "http://www.w3.org/2001/XMLSchema#integer"

/* Called by tests/unit/selftest.c, which declares it from a generated table;
 * declared here too so that -Wmissing-prototypes stays quiet. */
int mida_results_test(bool verbose);

int mida_results_test(bool verbose)
{
    int failures = 0;

    /* -- the tricky result set -- */
    const char *vars[] = {"s", "o", "?x"};
    mida_results_t *r = mida_results_new_bindings(3, vars);
    MIDA_CHECK(failures, r);
    if (!r)
        return failures;
    MIDA_CHECK(failures, mida_results_kind(r) == MIDA_RESULTS_BINDINGS);
    MIDA_CHECK(failures, mida_results_var_count(r) == 3);
    MIDA_CHECK_STR(failures, mida_results_var_name(r, 2), "x");
    MIDA_CHECK(failures, mida_results_var_name(r, 3) == NULL);

    /* Terms are copied: the row is built in a scratch buffer that is
     * overwritten after each add. */
    char scratch[64];
    mida_term_t none = {0};
    snprintf(scratch, sizeof scratch, "http://ex.org/a");
    mida_term_t row1[3] = {mida_term_iri(scratch), mida_term_literal("plain", NULL, NULL), none};
    MIDA_CHECK(failures, mida_results_add_row(r, row1) == 0);
    snprintf(scratch, sizeof scratch, "overwritten");

    mida_term_t row2[3] = {mida_term_blank("b1"),
                           mida_term_literal("say \"hi\", then\n\tgo", XSD_("string"), NULL),
                           mida_term_iri("http://ex.org/q?a=1,2")};
    MIDA_CHECK(failures, mida_results_add_row(r, row2) == 0);
    mida_term_t row3[3] = {none, mida_term_literal("caf\xC3\xA9 \xE2\x9C\x93", NULL, "fr"),
                           mida_term_literal("42", XSD_INTEGER, NULL)};
    MIDA_CHECK(failures, mida_results_add_row(r, row3) == 0);
    mida_term_t row4[3] = {none, none, none};
    MIDA_CHECK(failures, mida_results_add_row(r, row4) == 0);
    mida_term_t row5[3] = {mida_term_iri("http://ex.org/c"),
                           mida_term_literal("<&>'\r\x01\\", NULL, NULL), none};
    MIDA_CHECK(failures, mida_results_add_row(r, row5) == 0);

    MIDA_CHECK(failures, mida_results_row_count(r) == 5);
    const mida_term_t *t = mida_results_get(r, 0, 0);
    MIDA_CHECK(failures, t && t->kind == MIDA_TERM_IRI);
    MIDA_CHECK_STR(failures, t ? t->value : NULL, "http://ex.org/a");
    MIDA_CHECK(failures, mida_results_get(r, 0, 2) == NULL);   /* unbound */
    MIDA_CHECK(failures, mida_results_get(r, 5, 0) == NULL);   /* no such row */
    MIDA_CHECK(failures, mida_results_get(r, 0, 3) == NULL);   /* no such column */
    t = mida_results_get(r, 1, 1);
    MIDA_CHECK(failures, t && t->datatype == NULL);            /* xsd:string dropped */
    t = mida_results_get(r, 2, 1);
    MIDA_CHECK_STR(failures, t ? t->lang : NULL, "fr");

    failures += s_test_expect(r, MIDA_RESULTS_JSON,
        "{\"head\":{\"vars\":[\"s\",\"o\",\"x\"]},\"results\":{\"bindings\":[\n"
        "{\"s\":{\"type\":\"uri\",\"value\":\"http://ex.org/a\"},"
        "\"o\":{\"type\":\"literal\",\"value\":\"plain\"}},\n"
        "{\"s\":{\"type\":\"bnode\",\"value\":\"b1\"},"
        "\"o\":{\"type\":\"literal\",\"value\":\"say \\\"hi\\\", then\\n\\tgo\"},"
        "\"x\":{\"type\":\"uri\",\"value\":\"http://ex.org/q?a=1,2\"}},\n"
        "{\"o\":{\"type\":\"literal\",\"value\":\"caf\xC3\xA9 \xE2\x9C\x93\",\"xml:lang\":\"fr\"},"
        "\"x\":{\"type\":\"literal\",\"value\":\"42\",\"datatype\":\"" XSD_INTEGER "\"}},\n"
        "{},\n"
        "{\"s\":{\"type\":\"uri\",\"value\":\"http://ex.org/c\"},"
        "\"o\":{\"type\":\"literal\",\"value\":\"<&>'\\r\\u0001\\\\\"}}\n"
        "]}}\n", verbose);

    failures += s_test_expect(r, MIDA_RESULTS_XML,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
        "  <head>\n"
        "    <variable name=\"s\"/>\n"
        "    <variable name=\"o\"/>\n"
        "    <variable name=\"x\"/>\n"
        "  </head>\n"
        "  <results>\n"
        "    <result>\n"
        "      <binding name=\"s\"><uri>http://ex.org/a</uri></binding>\n"
        "      <binding name=\"o\"><literal>plain</literal></binding>\n"
        "    </result>\n"
        "    <result>\n"
        "      <binding name=\"s\"><bnode>b1</bnode></binding>\n"
        "      <binding name=\"o\"><literal>say &quot;hi&quot;, then\n\tgo</literal></binding>\n"
        "      <binding name=\"x\"><uri>http://ex.org/q?a=1,2</uri></binding>\n"
        "    </result>\n"
        "    <result>\n"
        "      <binding name=\"o\"><literal xml:lang=\"fr\">caf\xC3\xA9 \xE2\x9C\x93</literal></binding>\n"
        "      <binding name=\"x\"><literal datatype=\"" XSD_INTEGER "\">42</literal></binding>\n"
        "    </result>\n"
        "    <result>\n"
        "    </result>\n"
        "    <result>\n"
        "      <binding name=\"s\"><uri>http://ex.org/c</uri></binding>\n"
        "      <binding name=\"o\"><literal>&lt;&amp;&gt;&apos;&#13;\xEF\xBF\xBD\\</literal></binding>\n"
        "    </result>\n"
        "  </results>\n"
        "</sparql>\n", verbose);

    failures += s_test_expect(r, MIDA_RESULTS_CSV,
        "s,o,x\r\n"
        "http://ex.org/a,plain,\r\n"
        "_:b1,\"say \"\"hi\"\", then\n\tgo\",\"http://ex.org/q?a=1,2\"\r\n"
        ",caf\xC3\xA9 \xE2\x9C\x93,42\r\n"
        ",,\r\n"
        "http://ex.org/c,\"<&>'\r\x01\\\",\r\n", verbose);

    failures += s_test_expect(r, MIDA_RESULTS_TSV,
        "?s\t?o\t?x\n"
        "<http://ex.org/a>\t\"plain\"\t\n"
        "_:b1\t\"say \\\"hi\\\", then\\n\\tgo\"\t<http://ex.org/q?a=1,2>\n"
        "\t\"caf\xC3\xA9 \xE2\x9C\x93\"@fr\t\"42\"^^<" XSD_INTEGER ">\n"
        "\t\t\n"
        "<http://ex.org/c>\t\"<&>'\\r\\u0001\\\\\"\t\n", verbose);

    failures += s_test_expect(r, MIDA_RESULTS_TABLE,
        "+-------------------+--------------------------+-------------------------+\n"
        "| s                 | o                        | x                       |\n"
        "+===================+==========================+=========================+\n"
        "| <http://ex.org/a> | \"plain\"                  |                         |\n"
        "| _:b1              | \"say \\\"hi\\\", then\\n\\tgo\" | <http://ex.org/q?a=1,2> |\n"
        "|                   | \"caf\xC3\xA9 \xE2\x9C\x93\"@fr              | 42                      |\n"
        "|                   |                          |                         |\n"
        "| <http://ex.org/c> | \"<&>'\\r\\u0001\\\\\"         |                         |\n"
        "+-------------------+--------------------------+-------------------------+\n",
        verbose);

    /* -- what the JSON writer writes, the JSON reader reads back -- */
    failures += s_test_json_round_trip(r);

    /* -- writing fails plainly: a graph, an unknown format, a bad stream -- */
    int rc = 0;
    char *text = s_test_write(r, (mida_results_format_t)99, &rc);
    MIDA_CHECK(failures, rc == MIDA_EINVAL);
    free(text);
    MIDA_CHECK(failures, mida_results_write(NULL, MIDA_RESULTS_JSON, stdout) == MIDA_EINVAL);
    MIDA_CHECK(failures, mida_results_write(r, MIDA_RESULTS_JSON, NULL) == MIDA_EINVAL);
    FILE *ro = fopen("/dev/null", "r");
    if (ro) {
        MIDA_CHECK(failures, mida_results_write(r, MIDA_RESULTS_CSV, ro) == MIDA_EIO);
        fclose(ro);
    }
    mida_results_destroy(&r);
    MIDA_CHECK(failures, r == NULL);
    mida_results_destroy(&r);   /* NULL-safe */

    /* -- empty results: the head and nothing else -- */
    const char *one[] = {"v"};
    r = mida_results_new_bindings(1, one);
    MIDA_CHECK(failures, r);
    failures += s_test_expect(r, MIDA_RESULTS_JSON,
        "{\"head\":{\"vars\":[\"v\"]},\"results\":{\"bindings\":[]}}\n", verbose);
    failures += s_test_expect(r, MIDA_RESULTS_XML,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
        "  <head>\n"
        "    <variable name=\"v\"/>\n"
        "  </head>\n"
        "  <results>\n"
        "  </results>\n"
        "</sparql>\n", verbose);
    failures += s_test_expect(r, MIDA_RESULTS_CSV, "v\r\n", verbose);
    failures += s_test_expect(r, MIDA_RESULTS_TSV, "?v\n", verbose);
    failures += s_test_expect(r, MIDA_RESULTS_TABLE,
        "+---+\n"
        "| v |\n"
        "+===+\n"
        "+---+\n", verbose);

    /* -- max_rows, and rows that are refused -- */
    mida_results_set_max_rows(r, 2);
    mida_term_t cell = mida_term_literal("1", XSD_INTEGER, NULL);
    MIDA_CHECK(failures, mida_results_add_row(r, &cell) == 0);
    MIDA_CHECK(failures, mida_results_add_row(r, &cell) == 0);
    MIDA_CHECK(failures, mida_results_add_row(r, &cell) == MIDA_ELIMIT);
    MIDA_CHECK(failures, mida_results_row_count(r) == 2);
    mida_results_set_max_rows(r, 0);
    MIDA_CHECK(failures, mida_results_add_row(r, &cell) == 0);
    mida_term_t bad = {MIDA_TERM_IRI, NULL, NULL, NULL};
    MIDA_CHECK(failures, mida_results_add_row(r, &bad) == MIDA_EINVAL);
    bad = (mida_term_t){(mida_term_kind_t)7, "x", NULL, NULL};
    MIDA_CHECK(failures, mida_results_add_row(r, &bad) == MIDA_EINVAL);
    MIDA_CHECK(failures, mida_results_add_row(r, NULL) == MIDA_EINVAL);
    MIDA_CHECK(failures, mida_results_add_row(NULL, &cell) == MIDA_EINVAL);
    MIDA_CHECK(failures, mida_results_row_count(r) == 3);
    mida_results_destroy(&r);

    /* -- many rows: the cell array grows and keeps earlier rows -- */
    r = mida_results_new_bindings(1, one);
    MIDA_CHECK(failures, r);
    for (int i = 0; i < 1000 && r; i++) {
        snprintf(scratch, sizeof scratch, "%d", i);
        cell = mida_term_literal(scratch, NULL, NULL);
        MIDA_CHECK(failures, mida_results_add_row(r, &cell) == 0);
    }
    t = mida_results_get(r, 17, 0);
    MIDA_CHECK_STR(failures, t ? t->value : NULL, "17");
    t = mida_results_get(r, 999, 0);
    MIDA_CHECK_STR(failures, t ? t->value : NULL, "999");
    mida_results_destroy(&r);

    /* -- bad variable lists -- */
    const char *badvars[] = {"a", NULL};
    MIDA_CHECK(failures, mida_results_new_bindings(2, badvars) == NULL);
    const char *emptyvar[] = {""};
    MIDA_CHECK(failures, mida_results_new_bindings(1, emptyvar) == NULL);
    MIDA_CHECK(failures, mida_results_new_bindings(1, NULL) == NULL);

    /* -- ASK -- */
    r = mida_results_new_boolean(true);
    MIDA_CHECK(failures, r && mida_results_boolean(r));
    MIDA_CHECK(failures, mida_results_kind(r) == MIDA_RESULTS_BOOLEAN);
    MIDA_CHECK(failures, mida_results_add_row(r, &cell) == MIDA_EINVAL);
    failures += s_test_expect(r, MIDA_RESULTS_JSON, "{\"head\":{},\"boolean\":true}\n", verbose);
    failures += s_test_expect(r, MIDA_RESULTS_XML,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
        "  <head>\n"
        "  </head>\n"
        "  <boolean>true</boolean>\n"
        "</sparql>\n", verbose);
    failures += s_test_expect(r, MIDA_RESULTS_CSV, "boolean\r\ntrue\r\n", verbose);
    failures += s_test_expect(r, MIDA_RESULTS_TSV, "?boolean\ntrue\n", verbose);
    failures += s_test_expect(r, MIDA_RESULTS_TABLE,
        "+---------+\n"
        "| boolean |\n"
        "+=========+\n"
        "| true    |\n"
        "+---------+\n", verbose);
    mida_results_destroy(&r);
    r = mida_results_new_boolean(false);
    MIDA_CHECK(failures, r && !mida_results_boolean(r));
    failures += s_test_expect(r, MIDA_RESULTS_JSON, "{\"head\":{},\"boolean\":false}\n", verbose);
    failures += s_test_expect(r, MIDA_RESULTS_XML,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
        "  <head>\n"
        "  </head>\n"
        "  <boolean>false</boolean>\n"
        "</sparql>\n", verbose);
    failures += s_test_expect(r, MIDA_RESULTS_CSV, "boolean\r\nfalse\r\n", verbose);
    failures += s_test_expect(r, MIDA_RESULTS_TSV, "?boolean\nfalse\n", verbose);
    failures += s_test_expect(r, MIDA_RESULTS_TABLE,
        "+---------+\n"
        "| boolean |\n"
        "+=========+\n"
        "| false   |\n"
        "+---------+\n", verbose);
    mida_results_destroy(&r);

    /* -- escapes at the edges: bad UTF-8, XML-forbidden characters, XML
     *    attributes, JSON control characters, CSV quoting of a name -- */
    const char *odd[] = {"a"};
    r = mida_results_new_bindings(1, odd);
    MIDA_CHECK(failures, r);
    mida_term_t c1 = mida_term_literal("x\xFFy\xC0\xAFz\xED\xA0\x80!\xE2\x82", NULL, NULL);
    mida_term_t c2 = mida_term_literal("\b\f\x1f\x7f\xEF\xBF\xBE", "http://ex.org/dt?a=\"1\"&b=\t", NULL);
    mida_term_t c3 = mida_term_literal("lang", XSD_INTEGER, "en-GB");
    MIDA_CHECK(failures, mida_results_add_row(r, &c1) == 0);
    MIDA_CHECK(failures, mida_results_add_row(r, &c2) == 0);
    MIDA_CHECK(failures, mida_results_add_row(r, &c3) == 0);
    t = mida_results_get(r, 2, 0);
    MIDA_CHECK(failures, t && t->datatype == NULL);            /* lang wins */
    failures += s_test_expect(r, MIDA_RESULTS_JSON,
        "{\"head\":{\"vars\":[\"a\"]},\"results\":{\"bindings\":[\n"
        "{\"a\":{\"type\":\"literal\",\"value\":\"x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBDz"
        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!\xEF\xBF\xBD\xEF\xBF\xBD\"}},\n"
        "{\"a\":{\"type\":\"literal\",\"value\":\"\\b\\f\\u001f\x7f\xEF\xBF\xBE\","
        "\"datatype\":\"http://ex.org/dt?a=\\\"1\\\"&b=\\t\"}},\n"
        "{\"a\":{\"type\":\"literal\",\"value\":\"lang\",\"xml:lang\":\"en-GB\"}}\n"
        "]}}\n", verbose);
    failures += s_test_expect(r, MIDA_RESULTS_XML,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
        "  <head>\n"
        "    <variable name=\"a\"/>\n"
        "  </head>\n"
        "  <results>\n"
        "    <result>\n"
        "      <binding name=\"a\"><literal>x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBDz"
        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!\xEF\xBF\xBD\xEF\xBF\xBD</literal></binding>\n"
        "    </result>\n"
        "    <result>\n"
        "      <binding name=\"a\"><literal datatype=\"http://ex.org/dt?a=&quot;1&quot;&amp;b=&#9;\">"
        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\x7f\xEF\xBF\xBD</literal></binding>\n"
        "    </result>\n"
        "    <result>\n"
        "      <binding name=\"a\"><literal xml:lang=\"en-GB\">lang</literal></binding>\n"
        "    </result>\n"
        "  </results>\n"
        "</sparql>\n", verbose);
    mida_results_destroy(&r);

    /* -- the table cuts long cells and counts characters, not bytes -- */
    r = mida_results_new_bindings(1, odd);
    MIDA_CHECK(failures, r);
    char longval[256];
    size_t longlen = 0;
    for (int i = 0; i < 90; i++) {   /* 90 characters, 135 bytes */
        const char *ch = i % 2 ? "\xC3\xA9" : "e";
        memcpy(longval + longlen, ch, strlen(ch));
        longlen += strlen(ch);
    }
    longval[longlen] = '\0';
    cell = mida_term_literal(longval, NULL, NULL);
    MIDA_CHECK(failures, mida_results_add_row(r, &cell) == 0);
    cell = mida_term_literal("\xC3\xA9\xC3\xA9", NULL, NULL);
    MIDA_CHECK(failures, mida_results_add_row(r, &cell) == 0);
    char want[2048], bar[128], eq[128];
    memset(bar, '-', 82);
    bar[82] = '\0';
    memset(eq, '=', 82);
    eq[82] = '\0';
    /* The cell is '"' and the first 78 characters of the value, then "…". */
    char cut[256];
    size_t cutlen = s_utf8_prefix(longval, strlen(longval), 78);
    memcpy(cut, longval, cutlen);
    cut[cutlen] = '\0';
    snprintf(want, sizeof want,
             "+%s+\n"
             "| a%79s |\n"
             "+%s+\n"
             "| \"%s\xE2\x80\xA6 |\n"
             "| \"\xC3\xA9\xC3\xA9\"%76s |\n"
             "+%s+\n",
             bar, "", eq, cut, "", bar);
    failures += s_test_expect(r, MIDA_RESULTS_TABLE, want, verbose);
    mida_results_destroy(&r);

    /* -- a graph result is held, not written here -- */
    mida_quads_t *q = mida_quads_new();
    MIDA_CHECK(failures, q);
    mida_term_t gs = mida_term_iri("http://ex.org/s"), gp = mida_term_iri("http://ex.org/p");
    MIDA_CHECK(failures, q && mida_quads_add(q, &gs, &gp, &gs, NULL) == 0);
    mida_quads_t *keep = q;
    r = mida_results_new_graph(&q);
    MIDA_CHECK(failures, r && q == NULL);
    MIDA_CHECK(failures, mida_results_graph(r) == keep);
    MIDA_CHECK(failures, mida_quads_count(mida_results_graph(r)) == 1);
    MIDA_CHECK(failures, mida_results_kind(r) == MIDA_RESULTS_GRAPH);
    text = s_test_write(r, MIDA_RESULTS_JSON, &rc);
    MIDA_CHECK(failures, rc == MIDA_EINVAL);
    free(text);
    mida_results_destroy(&r);
    MIDA_CHECK(failures, mida_results_new_graph(&q) == NULL);
    MIDA_CHECK(failures, mida_results_new_graph(NULL) == NULL);

    /* -- reading JSON: the forms other servers write -- */
    mida_results_t *rj = NULL;
    failures += s_test_read_json(
        "{\n  \"head\": { \"link\": [], \"vars\": [ \"b\", \"a\", \"c\" ] },\n"
        "  \"results\": { \"distinct\": false, \"bindings\": [\n"
        "    { \"a\": { \"type\": \"typed-literal\", \"datatype\": \"" XSD_INTEGER "\","
        "               \"value\": \"7\" },\n"
        "      \"c\": { \"type\": \"literal\", \"value\": \"x\", \"xml:lang\": \"en\","
        "               \"datatype\": \"" MIDA_NS_RDF "langString\" } },\n"
        "    { \"b\": { \"type\": \"bnode\", \"value\": \"n1\" },"
        "      \"c\": { \"type\": \"literal\", \"value\": \"\\u00e9\\n\", "
        "               \"datatype\": \"" XSD_("string") "\" } }\n"
        "  ] } }", 0, NULL, &rj);
    MIDA_CHECK(failures, mida_results_var_count(rj) == 3 && mida_results_row_count(rj) == 2);
    MIDA_CHECK_STR(failures, mida_results_var_name(rj, 0), "b");
    MIDA_CHECK(failures, mida_results_get(rj, 0, 0) == NULL);
    t = mida_results_get(rj, 0, 1);
    MIDA_CHECK(failures, t && t->kind == MIDA_TERM_LITERAL && !strcmp(t->value, "7") &&
                             t->datatype && !strcmp(t->datatype, XSD_INTEGER));
    t = mida_results_get(rj, 0, 2);
    MIDA_CHECK(failures, t && t->lang && !strcmp(t->lang, "en") && !t->datatype);
    t = mida_results_get(rj, 1, 0);
    MIDA_CHECK(failures, t && t->kind == MIDA_TERM_BLANK && !strcmp(t->value, "n1"));
    t = mida_results_get(rj, 1, 2);
    MIDA_CHECK(failures, t && !strcmp(t->value, "\xC3\xA9\n") && !t->datatype && !t->lang);
    mida_results_destroy(&rj);
    failures += s_test_read_json("{\"head\":{\"vars\":[]},\"results\":{\"bindings\":[{},{}]}}",
                                 0, NULL, &rj);
    MIDA_CHECK(failures, mida_results_var_count(rj) == 0 && mida_results_row_count(rj) == 2);
    mida_results_destroy(&rj);
    failures += s_test_read_json("{\"boolean\": true}", 0, NULL, &rj);
    MIDA_CHECK(failures, mida_results_kind(rj) == MIDA_RESULTS_BOOLEAN && mida_results_boolean(rj));
    failures += s_test_json_round_trip(rj);
    mida_results_destroy(&rj);
    failures += s_test_read_json("{\"head\":{},\"boolean\":false}", 0, NULL, &rj);
    MIDA_CHECK(failures, mida_results_kind(rj) == MIDA_RESULTS_BOOLEAN && !mida_results_boolean(rj));
    failures += s_test_json_round_trip(rj);
    mida_results_destroy(&rj);

    /* -- and what it refuses, saying where -- */
    static const struct {
        const char *json, *why;
    } bad_json[] = {
        {"", "line 1"},
        {"{\"head\":{\"vars\":[\"a\"]},\n\"results\":{\"bindings\":[}}", "line 2, column"},
        {"[]", "top level is not an object"},
        {"{\"results\":{\"bindings\":[]}}", "no \"head\" object"},
        {"{\"head\":{}, \"results\":{\"bindings\":[]}}", "no \"head.vars\" array"},
        {"{\"head\":{\"vars\":[\"a\"]}}", "no \"results.bindings\" array"},
        {"{\"boolean\":\"yes\"}", "\"boolean\" is not true or false"},
        {"{\"head\":{\"vars\":[\"a\",7]},\"results\":{\"bindings\":[]}}",
         "head.vars[1] is not a variable name"},
        {"{\"head\":{\"vars\":[\"a\",\"a\"]},\"results\":{\"bindings\":[]}}", "lists \"a\" twice"},
        {"{\"head\":{\"vars\":[\"a\"]},\"results\":{\"bindings\":[7]}}",
         "results.bindings[0] is not an object"},
        {"{\"head\":{\"vars\":[\"a\"]},\"results\":{\"bindings\":[{},"
         "{\"b\":{\"type\":\"uri\",\"value\":\"http://x/\"}}]}}",
         "results.bindings[1] binds \"b\", which head.vars does not list"},
        {"{\"head\":{\"vars\":[\"a\"]},\"results\":{\"bindings\":[{\"a\":\"http://x/\"}]}}",
         "results.bindings[0].a: not a term object"},
        {"{\"head\":{\"vars\":[\"a\"]},\"results\":{\"bindings\":[{\"a\":{\"value\":\"v\"}}]}}",
         "results.bindings[0].a: no \"type\""},
        {"{\"head\":{\"vars\":[\"a\"]},\"results\":{\"bindings\":[{\"a\":{\"type\":\"uri\"}}]}}",
         "no \"value\""},
        {"{\"head\":{\"vars\":[\"a\"]},\"results\":{\"bindings\":[{\"a\":{\"type\":\"uri\","
         "\"value\":1}}]}}", "must be strings"},
        {"{\"head\":{\"vars\":[\"a\"]},\"results\":{\"bindings\":[{\"a\":{\"type\":\"url\","
         "\"value\":\"v\"}}]}}", "unknown term type \"url\""},
        {"{\"head\":{\"vars\":[\"a\"]},\"results\":{\"bindings\":[{\"a\":{\"type\":"
         "\"typed-literal\",\"value\":\"1\"}}]}}", "typed-literal without \"datatype\""},
        {"{\"head\":{\"vars\":[\"a\"]},\"results\":{\"bindings\":[{\"a\":{\"type\":\"triple\","
         "\"value\":{}}}]}}", "must be strings"},
        {"{\"head\":{\"vars\":[\"a\"]},\"results\":{\"bindings\":[{\"a\":{\"type\":\"triple\","
         "\"value\":\"\"}}]}}", "RDF-star"},
        {"{\"head\":{\"vars\":[\"a\"]},\"results\":{\"bindings\":[{\"a\":{\"type\":\"uri\","
         "\"value\":\"\"}}]}}", "an empty IRI"},
        {"{\"head\":{\"vars\":[\"a\"]},\"results\":{\"bindings\":[{\"a\":{\"type\":\"uri\","
         "\"value\":\"a\\u0000b\"}}]}}", "line 1"},
    };
    for (size_t i = 0; i < MIDA_ARRAY_LEN(bad_json); i++)
        failures += s_test_read_json(bad_json[i].json, MIDA_EPARSE, bad_json[i].why, NULL);
    MIDA_CHECK(failures, mida_results_read_json(NULL, 0, &rj, NULL, 0) == MIDA_EINVAL && !rj);
    MIDA_CHECK(failures, mida_results_read_json("{}", 2, NULL, NULL, 0) == MIDA_EINVAL);
    /* `len` bounds the text: what follows is not read */
    MIDA_CHECK(failures, mida_results_read_json("{\"boolean\":true}garbage", 16, &rj, NULL, 0) == 0);
    mida_results_destroy(&rj);

    /* -- format names -- */
    static const char *const names[] = {"table", "json", "xml", "csv", "tsv"};
    for (size_t i = 0; i < MIDA_ARRAY_LEN(names); i++) {
        mida_results_format_t f = 0;
        MIDA_CHECK(failures, mida_results_format_parse(names[i], &f) == 0);
        MIDA_CHECK_STR(failures, mida_results_format_name(f), names[i]);
        MIDA_CHECK(failures, mida_results_format_media_type(f) != NULL);
    }
    mida_results_format_t f = 0;
    MIDA_CHECK(failures, mida_results_format_parse("JSON", &f) == 0 && f == MIDA_RESULTS_JSON);
    MIDA_CHECK(failures, mida_results_format_parse("yaml", &f) == MIDA_EINVAL);
    MIDA_CHECK(failures, mida_results_format_parse(NULL, &f) == MIDA_EINVAL);
    MIDA_CHECK_STR(failures, mida_results_format_media_type(MIDA_RESULTS_TABLE), "text/plain");
    MIDA_CHECK_STR(failures, mida_results_format_media_type(MIDA_RESULTS_JSON),
                   "application/sparql-results+json");
    MIDA_CHECK_STR(failures, mida_results_format_media_type(MIDA_RESULTS_XML),
                   "application/sparql-results+xml");
    MIDA_CHECK_STR(failures, mida_results_format_media_type(MIDA_RESULTS_CSV), "text/csv");
    MIDA_CHECK_STR(failures, mida_results_format_media_type(MIDA_RESULTS_TSV),
                   "text/tab-separated-values");
    MIDA_CHECK(failures, mida_results_format_name((mida_results_format_t)0) == NULL);

    return failures;
}
