/* mida_quads.c - RDF terms and quad batches.
 * Owns: term equality/order, N-Triples/N-Quads text form, reading RDF files
 *       into batches (through raptor's parsers), and a strict N-Quads reader
 *       of its own for the wire.
 * Must not: touch the store, know PROV.
 */
#include "mida_internal.h"

#include <ctype.h>

#include <raptor2.h>
#include <stdlib.h>
#include <string.h>

struct mida_quads {
    mida_quad_t *items;
    size_t count;
    size_t cap;
    mida_arena_t arena;
};

mida_term_t mida_term_iri(const char *iri)
{
    return (mida_term_t){MIDA_TERM_IRI, iri, NULL, NULL};
}

mida_term_t mida_term_blank(const char *label)
{
    return (mida_term_t){MIDA_TERM_BLANK, label, NULL, NULL};
}

mida_term_t mida_term_literal(const char *lexical, const char *datatype, const char *lang)
{
    if (datatype && !strcmp(datatype, XSD_("string")))
        datatype = NULL;
    return (mida_term_t){MIDA_TERM_LITERAL, lexical, datatype, lang};
}

static int s_strcmp0(const char *a, const char *b)
{
    if (a == b)
        return 0;
    if (!a)
        return -1;
    if (!b)
        return 1;
    return strcmp(a, b);
}

static const char *s_dt(const mida_term_t *t)
{
    /* xsd:string and "no datatype" are the same literal in RDF 1.1 */
    if (t->datatype && !strcmp(t->datatype, XSD_("string")))
        return NULL;
    return t->datatype;
}

int mida_term_compare(const mida_term_t *a, const mida_term_t *b)
{
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    int c = s_strcmp0(a->value, b->value);
    if (c)
        return c;
    if (a->kind != MIDA_TERM_LITERAL)
        return 0;
    c = s_strcmp0(s_dt(a), s_dt(b));
    if (c)
        return c;
    return s_strcmp0(a->lang, b->lang);
}

bool mida_term_equal(const mida_term_t *a, const mida_term_t *b)
{
    return mida_term_compare(a, b) == 0;
}

/* Whether a byte must be escaped inside a literal (0) or an IRI (1). */
static bool s_needs_escape(unsigned char c, int iri)
{
    if (iri)
        return c <= 0x20 || c == '<' || c == '>' || c == '"' || c == '{' || c == '}' ||
               c == '|' || c == '^' || c == '`' || c == '\\';
    return c < 0x20 || c == 0x7f || c == '"' || c == '\\';
}

int mida_nt_escape(const char *s, mida_buf_t *out)
{
    int rc = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p && !rc) {
        /* runs of plain bytes are copied whole */
        const unsigned char *run = p;
        while (*p && !s_needs_escape(*p, 0))
            p++;
        if (p > run && (rc = mida_buf_add(out, run, (size_t)(p - run))))
            break;
        if (!*p)
            break;
        switch (*p) {
        case '"': rc = mida_buf_add(out, "\\\"", 2); break;
        case '\\': rc = mida_buf_add(out, "\\\\", 2); break;
        case '\n': rc = mida_buf_add(out, "\\n", 2); break;
        case '\r': rc = mida_buf_add(out, "\\r", 2); break;
        case '\t': rc = mida_buf_add(out, "\\t", 2); break;
        default: rc = mida_buf_printf(out, "\\u%04X", *p);
        }
        p++;
    }
    return rc;
}

/* IRIs are written as given, except the characters N-Triples forbids
 * inside <>, which are written as \u escapes. */
static int s_iri_escape(const char *s, mida_buf_t *out)
{
    int rc = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p && !rc) {
        const unsigned char *run = p;
        while (*p && !s_needs_escape(*p, 1))
            p++;
        if (p > run && (rc = mida_buf_add(out, run, (size_t)(p - run))))
            break;
        if (!*p)
            break;
        rc = mida_buf_printf(out, "\\u%04X", *p);
        p++;
    }
    return rc;
}

int mida_term_format_nt(const mida_term_t *t, mida_buf_t *out)
{
    int rc;
    switch (t->kind) {
    case MIDA_TERM_IRI:
        if ((rc = mida_buf_addc(out, '<')) || (rc = s_iri_escape(t->value, out)))
            return rc;
        return mida_buf_addc(out, '>');
    case MIDA_TERM_BLANK:
        return mida_buf_printf(out, "_:%s", t->value);
    case MIDA_TERM_LITERAL:
        if ((rc = mida_buf_addc(out, '"')) || (rc = mida_nt_escape(t->value, out)) ||
            (rc = mida_buf_addc(out, '"')))
            return rc;
        if (t->lang && *t->lang)
            return mida_buf_printf(out, "@%s", t->lang);
        if (s_dt(t)) {
            if ((rc = mida_buf_add(out, "^^<", 3)) || (rc = s_iri_escape(t->datatype, out)))
                return rc;
            return mida_buf_addc(out, '>');
        }
        return 0;
    default:
        return MIDA_EINVAL;
    }
}

int mida_quad_format_nq(const mida_term_t *s, const mida_term_t *p, const mida_term_t *o,
                        const char *graph, mida_buf_t *out)
{
    int rc;
    if ((rc = mida_term_format_nt(s, out)) || (rc = mida_buf_addc(out, ' ')) ||
        (rc = mida_term_format_nt(p, out)) || (rc = mida_buf_addc(out, ' ')) ||
        (rc = mida_term_format_nt(o, out)))
        return rc;
    if (graph) {
        mida_term_t g = mida_term_iri(graph);
        if ((rc = mida_buf_addc(out, ' ')) || (rc = mida_term_format_nt(&g, out)))
            return rc;
    }
    return mida_buf_add(out, " .\n", 3);
}

mida_quads_t *mida_quads_new(void)
{
    mida_quads_t *q = calloc(1, sizeof *q);
    if (q)
        mida_arena_init(&q->arena);
    return q;
}

void mida_quads_destroy(mida_quads_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mida_quads_t *q = *self_p;
    mida_arena_free(&q->arena);
    free(q->items);
    free(q);
    *self_p = NULL;
}

void mida_quads_clear(mida_quads_t *q)
{
    if (!q)
        return;
    mida_arena_free(&q->arena);
    q->count = 0;
}

static int s_copy_term(mida_quads_t *q, mida_term_t *dst, const mida_term_t *src)
{
    *dst = (mida_term_t){src->kind, NULL, NULL, NULL};
    if (!(dst->value = mida_arena_strdup(&q->arena, src->value)))
        return MIDA_ENOMEM;
    if (src->kind == MIDA_TERM_LITERAL) {
        const char *dt = s_dt(src);
        if (dt && !(dst->datatype = mida_arena_strdup(&q->arena, dt)))
            return MIDA_ENOMEM;
        if (src->lang && *src->lang && !(dst->lang = mida_arena_strdup(&q->arena, src->lang)))
            return MIDA_ENOMEM;
    }
    return 0;
}

static bool s_term_ok(const mida_term_t *t)
{
    return t && t->value && t->kind >= MIDA_TERM_IRI && t->kind <= MIDA_TERM_LITERAL;
}

int mida_quads_add(mida_quads_t *q, const mida_term_t *s, const mida_term_t *p,
                   const mida_term_t *o, const char *graph)
{
    if (!q || !s_term_ok(s) || !s_term_ok(p) || !s_term_ok(o) ||
        s->kind == MIDA_TERM_LITERAL || p->kind != MIDA_TERM_IRI)
        return MIDA_EINVAL;
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        mida_quad_t *items = realloc(q->items, cap * sizeof *items);
        if (!items)
            return MIDA_ENOMEM;
        q->items = items;
        q->cap = cap;
    }
    mida_quad_t *d = &q->items[q->count];
    int rc;
    if ((rc = s_copy_term(q, &d->s, s)) || (rc = s_copy_term(q, &d->p, p)) ||
        (rc = s_copy_term(q, &d->o, o)))
        return rc;
    d->graph = NULL;
    if (graph && !(d->graph = mida_arena_strdup(&q->arena, graph)))
        return MIDA_ENOMEM;
    q->count++;
    return 0;
}

int mida_quads_add_quad(mida_quads_t *q, const mida_quad_t *quad)
{
    if (!quad)
        return MIDA_EINVAL;
    return mida_quads_add(q, &quad->s, &quad->p, &quad->o, quad->graph);
}

int mida_quads_append(mida_quads_t *q, const mida_quads_t *from)
{
    if (!q || !from)
        return MIDA_EINVAL;
    for (size_t i = 0; i < from->count; i++) {
        int rc = mida_quads_add_quad(q, &from->items[i]);
        if (rc)
            return rc;
    }
    return 0;
}

void mida_quads_truncate(mida_quads_t *q, size_t count)
{
    if (q && count < q->count)
        q->count = count;
}

size_t mida_quads_count(const mida_quads_t *q)
{
    return q ? q->count : 0;
}

const mida_quad_t *mida_quads_get(const mida_quads_t *q, size_t i)
{
    return (q && i < q->count) ? &q->items[i] : NULL;
}

static int s_quad_cmp(const void *va, const void *vb)
{
    const mida_quad_t *a = va, *b = vb;
    int c = s_strcmp0(a->graph, b->graph);
    if (!c)
        c = mida_term_compare(&a->s, &b->s);
    if (!c)
        c = mida_term_compare(&a->p, &b->p);
    if (!c)
        c = mida_term_compare(&a->o, &b->o);
    return c;
}

void mida_quads_sort_unique(mida_quads_t *q)
{
    if (!q || q->count < 2)
        return;
    qsort(q->items, q->count, sizeof *q->items, s_quad_cmp);
    size_t w = 1;
    for (size_t r = 1; r < q->count; r++)
        if (s_quad_cmp(&q->items[w - 1], &q->items[r]))
            q->items[w++] = q->items[r];
    q->count = w;
}

int mida_quads_write_nquads(const mida_quads_t *q, FILE *out, bool with_graph)
{
    if (!q || !out)
        return MIDA_EINVAL;
    mida_buf_t b;
    mida_buf_init(&b, 0);
    int rc = 0;
    /* lines are gathered into 64 KiB writes */
    for (size_t i = 0; i < q->count && !rc; i++) {
        const mida_quad_t *x = &q->items[i];
        rc = mida_quad_format_nq(&x->s, &x->p, &x->o, with_graph ? x->graph : NULL, &b);
        if (!rc && (b.len >= 65536 || i + 1 == q->count)) {
            if (fwrite(b.data, 1, b.len, out) != b.len)
                rc = MIDA_EIO;
            mida_buf_reset(&b);
        }
    }
    mida_buf_free(&b);
    return rc;
}

/* ---- parsing RDF files ---------------------------------------------- */

const char *mida_quads_syntax_for_name(const char *name)
{
    static const struct {
        const char *ext, *syntax;
    } map[] = {{".ttl", "turtle"},  {".turtle", "turtle"}, {".nt", "ntriples"},
               {".nq", "nquads"},   {".trig", "trig"},     {".rdf", "rdfxml"},
               {".owl", "rdfxml"},  {".xml", "rdfxml"}};
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (!dot)
        return NULL;
    for (size_t i = 0; i < MIDA_ARRAY_LEN(map); i++)
        if (!strcasecmp(dot, map[i].ext))
            return map[i].syntax;
    return NULL;
}

typedef struct {
    mida_ctx_t *ctx;
    mida_quads_t *q;
    const char *name;
    char *err;
    size_t errlen;
    int errors;
    int rc;
} s_parse_state;

static void s_raptor_term(mida_term_t *t, raptor_term *rt)
{
    switch (rt->type) {
    case RAPTOR_TERM_TYPE_URI:
        *t = mida_term_iri((const char *)raptor_uri_as_string(rt->value.uri));
        break;
    case RAPTOR_TERM_TYPE_BLANK:
        *t = mida_term_blank((const char *)rt->value.blank.string);
        break;
    case RAPTOR_TERM_TYPE_LITERAL:
        *t = mida_term_literal(
            (const char *)rt->value.literal.string,
            rt->value.literal.datatype
                ? (const char *)raptor_uri_as_string(rt->value.literal.datatype)
                : NULL,
            (const char *)rt->value.literal.language);
        break;
    default:
        *t = (mida_term_t){0};
    }
}

static void s_on_statement(void *ud, raptor_statement *st)
{
    s_parse_state *ps = ud;
    if (ps->rc)
        return;
    mida_term_t s, p, o;
    s_raptor_term(&s, st->subject);
    s_raptor_term(&p, st->predicate);
    s_raptor_term(&o, st->object);
    const char *g = NULL;
    if (st->graph && st->graph->type == RAPTOR_TERM_TYPE_URI)
        g = (const char *)raptor_uri_as_string(st->graph->value.uri);
    int rc = mida_quads_add(ps->q, &s, &p, &o, g);
    if (rc)
        ps->rc = rc;
}

static void s_on_log(void *ud, raptor_log_message *m)
{
    s_parse_state *ps = ud;
    if (m->level < RAPTOR_LOG_LEVEL_ERROR) {
        mida_locator_t where = {ps->name, m->locator ? m->locator->line : -1,
                                m->locator ? m->locator->column : -1, NULL};
        mida__log(ps->ctx, MIDA_LOG_WARN, MIDA_FROM_PARSER, 0, &where, "%s", m->text);
        return;
    }
    long line = m->locator ? m->locator->line : -1;
    if (ps->errors++ == 0 && ps->err && ps->errlen) {
        if (line > 0)
            snprintf(ps->err, ps->errlen, "%s:%ld: %s", ps->name, line, m->text);
        else
            snprintf(ps->err, ps->errlen, "%s: %s", ps->name, m->text);
    }
    mida_locator_t where = {ps->name, line, m->locator ? m->locator->column : -1, NULL};
    mida__log(ps->ctx, MIDA_LOG_ERROR, MIDA_FROM_PARSER, MIDA_EPARSE, &where, "%s", m->text);
}

/* ---- N-Quads, by hand ----------------------------------------------------- */

typedef struct {
    const char *p, *end;
    mida_buf_t tmp;          /* the decoded text of the current term */
    char *err;
    size_t errlen;
    long line;
} s_nq;

static int s_nq_fail(s_nq *n, const char *why)
{
    if (n->err && n->errlen)
        snprintf(n->err, n->errlen, "line %ld: %s", n->line, why);
    return MIDA_EPARSE;
}

static void s_nq_ws(s_nq *n)
{
    while (n->p < n->end && (*n->p == ' ' || *n->p == '\t'))
        n->p++;
}

/* \uXXXX or \UXXXXXXXX at n->p (after the backslash): appends UTF-8. */
static int s_nq_uchar(s_nq *n, int digits)
{
    uint32_t cp = 0;
    if (n->end - n->p < digits)
        return s_nq_fail(n, "truncated \\u escape");
    for (int i = 0; i < digits; i++) {
        int v = mida__hex_digit(n->p[i]);
        if (v < 0)
            return s_nq_fail(n, "bad hex digit in a \\u escape");
        cp = cp << 4 | (uint32_t)v;
    }
    n->p += digits;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return s_nq_fail(n, "\\u escape outside Unicode");
    if (cp == 0)  /* terms are C strings: a NUL would cut them short */
        return s_nq_fail(n, "\\u0000 (NUL) is not supported");
    char u[4];
    size_t k;
    if (cp < 0x80) {
        u[0] = (char)cp;
        k = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        k = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        k = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        k = 4;
    }
    return mida_buf_add(&n->tmp, u, k);
}

/* Copies one UTF-8 character (checked) from n->p. */
static int s_nq_utf8(s_nq *n)
{
    const unsigned char *c = (const unsigned char *)n->p;
    size_t k = *c < 0x80 ? 1 : (*c & 0xE0) == 0xC0 ? 2 : (*c & 0xF0) == 0xE0 ? 3
             : (*c & 0xF8) == 0xF0 ? 4 : 0;
    if (!k || (size_t)(n->end - n->p) < k || (k == 2 && *c < 0xC2))
        return s_nq_fail(n, "invalid UTF-8");
    for (size_t i = 1; i < k; i++)
        if ((c[i] & 0xC0) != 0x80)
            return s_nq_fail(n, "invalid UTF-8");
    if ((k == 3 && ((*c == 0xE0 && c[1] < 0xA0) || (*c == 0xED && c[1] > 0x9F))) ||
        (k == 4 && ((*c == 0xF0 && c[1] < 0x90) || *c > 0xF4 || (*c == 0xF4 && c[1] > 0x8F))))
        return s_nq_fail(n, "invalid UTF-8");
    n->p += k;
    return mida_buf_add(&n->tmp, c, k);
}

/* Bytes that stand for themselves inside <> (ASCII, no escape needed). */
static bool s_iri_plain(unsigned char c)
{
    return c > 0x20 && c < 0x80 && c != '>' && c != '<' && c != '"' && c != '{' && c != '}' &&
           c != '|' && c != '^' && c != '`' && c != '\\';
}

/* <IRI> into n->tmp. */
static int s_nq_iri(s_nq *n)
{
    mida_buf_reset(&n->tmp);
    if (n->p >= n->end || *n->p != '<')
        return s_nq_fail(n, "expected an IRI");
    n->p++;
    int rc = 0;
    while (!rc) {
        if (n->p >= n->end)
            return s_nq_fail(n, "unterminated IRI");
        /* a run of plain ASCII is copied whole */
        const char *run = n->p;
        while (n->p < n->end && s_iri_plain((unsigned char)*n->p))
            n->p++;
        if (n->p > run && (rc = mida_buf_add(&n->tmp, run, (size_t)(n->p - run))))
            break;
        if (n->p >= n->end)
            return s_nq_fail(n, "unterminated IRI");
        unsigned char c = (unsigned char)*n->p;
        if (c == '>') {
            n->p++;
            break;
        }
        if (c == '\\') {
            n->p++;
            if (n->p < n->end && (*n->p == 'u' || *n->p == 'U')) {
                char kind = *n->p++;
                rc = s_nq_uchar(n, kind == 'u' ? 4 : 8);
            } else {
                return s_nq_fail(n, "bad escape in an IRI");
            }
        } else if (c <= 0x20 || strchr("<\"{}|^`", c)) {
            return s_nq_fail(n, "character not allowed in an IRI");
        } else if (c < 0x80) {
            rc = mida_buf_addc(&n->tmp, (char)c);
            n->p++;
        } else {
            rc = s_nq_utf8(n);
        }
    }
    if (!rc && (!n->tmp.len || !memchr(n->tmp.data, ':', n->tmp.len)))
        return s_nq_fail(n, "IRI is not absolute");
    return rc;
}

/* _:label into n->tmp. */
static int s_nq_blank(s_nq *n)
{
    mida_buf_reset(&n->tmp);
    n->p += 2;
    const char *start = n->p;
    if (n->p >= n->end || !(isalnum((unsigned char)*n->p) || *n->p == '_'))
        return s_nq_fail(n, "bad blank node label");
    while (n->p < n->end && (isalnum((unsigned char)*n->p) || *n->p == '_' || *n->p == '-' ||
                             *n->p == '.'))
        n->p++;
    while (n->p > start && n->p[-1] == '.')
        n->p--;
    return mida_buf_add(&n->tmp, start, (size_t)(n->p - start));
}

/* A term: IRI, blank node or (allow_literal) literal.  Its strings are
 * copied into `store`. */
static int s_nq_term(s_nq *n, bool allow_literal, mida_term_t *t, mida_arena_t *store)
{
    int rc;
    if (n->p < n->end && *n->p == '<') {
        if ((rc = s_nq_iri(n)))
            return rc;
        *t = mida_term_iri(mida_arena_strndup(store, n->tmp.data, n->tmp.len));
    } else if (n->end - n->p >= 2 && n->p[0] == '_' && n->p[1] == ':') {
        if ((rc = s_nq_blank(n)))
            return rc;
        *t = mida_term_blank(mida_arena_strndup(store, n->tmp.data, n->tmp.len));
    } else if (allow_literal && n->p < n->end && *n->p == '"') {
        mida_buf_reset(&n->tmp);
        n->p++;
        rc = 0;
        for (;;) {
            const char *run = n->p;
            while (n->p < n->end && (unsigned char)*n->p < 0x80 && *n->p != '"' &&
                   *n->p != '\\' && *n->p != '\n' && *n->p != '\r' && *n->p != '\0')
                n->p++;
            if (n->p > run && (rc = mida_buf_add(&n->tmp, run, (size_t)(n->p - run))))
                return rc;
            if (n->p >= n->end || *n->p == '\n' || *n->p == '\r')
                return s_nq_fail(n, "unterminated string");
            char c = *n->p;
            if (c == '"') {
                n->p++;
                break;
            }
            if (c == '\\') {
                n->p++;
                char e = n->p < n->end ? *n->p++ : '\0';
                /* ECHAR: the escape letter, then what it stands for */
                static const char echar[] = "t\tb\bn\nr\rf\f\"\"''\\\\";
                const char *map = e ? strchr(echar, e) : NULL;
                if (e == 'u' || e == 'U')
                    rc = s_nq_uchar(n, e == 'u' ? 4 : 8);
                else if (map && (map - echar) % 2 == 0)
                    rc = mida_buf_addc(&n->tmp, map[1]);
                else
                    return s_nq_fail(n, "bad escape in a string");
            } else if ((unsigned char)c < 0x80) {
                rc = mida_buf_addc(&n->tmp, c);
                n->p++;
            } else {
                rc = s_nq_utf8(n);
            }
            if (rc)
                return rc;
        }
        if (memchr(n->tmp.data ? n->tmp.data : "", '\0', n->tmp.len))
            return s_nq_fail(n, "NUL in a string");
        const char *lex = mida_arena_strndup(store, n->tmp.data ? n->tmp.data : "", n->tmp.len);
        const char *dt = NULL, *lang = NULL;
        if (n->end - n->p >= 2 && n->p[0] == '^' && n->p[1] == '^') {
            n->p += 2;
            if ((rc = s_nq_iri(n)))
                return rc;
            dt = mida_arena_strndup(store, n->tmp.data, n->tmp.len);
        } else if (n->p < n->end && *n->p == '@') {
            const char *start = ++n->p;
            while (n->p < n->end && isalpha((unsigned char)*n->p))
                n->p++;
            if (n->p == start)
                return s_nq_fail(n, "empty language tag");
            while (n->p < n->end && *n->p == '-') {
                const char *sub = ++n->p;
                while (n->p < n->end && isalnum((unsigned char)*n->p))
                    n->p++;
                if (n->p == sub)
                    return s_nq_fail(n, "bad language tag");
            }
            /* lower case, as raptor gives them: tags are case-insensitive */
            char *l = mida_arena_strndup(store, start, (size_t)(n->p - start));
            for (char *c = l; c && *c; c++)
                *c = (char)tolower((unsigned char)*c);
            lang = l;
        }
        *t = mida_term_literal(lex, dt, lang);
    } else {
        return s_nq_fail(n, allow_literal ? "expected an IRI, a blank node or a literal"
                                          : "expected an IRI or a blank node");
    }
    return t->value ? 0 : MIDA_ENOMEM;
}

int mida_quads_parse_nquads(mida_quads_t *q, const char *text, size_t len, char *err,
                            size_t errlen)
{
    if (!q || (!text && len))
        return MIDA_EINVAL;
    s_nq n = {text, text + len, {0}, err, errlen, 1};
    mida_buf_init(&n.tmp, 0);
    mida_arena_t terms; /* the current line's strings; copied again by add */
    mida_arena_init(&terms);
    size_t before = q->count;
    int rc = 0;
    while (!rc && n.p < n.end) {
        s_nq_ws(&n);
        if (n.p < n.end && *n.p != '\n' && *n.p != '\r' && *n.p != '#') {
            mida_term_t s, p, o, g = {0};
            bool has_g = false;
            if (!(rc = s_nq_term(&n, false, &s, &terms))) {
                s_nq_ws(&n);
                if (n.p >= n.end || *n.p != '<')
                    rc = s_nq_fail(&n, "the predicate must be an IRI");
            }
            if (!rc && !(rc = s_nq_term(&n, false, &p, &terms))) {
                s_nq_ws(&n);
                rc = s_nq_term(&n, true, &o, &terms);
            }
            if (!rc) {
                s_nq_ws(&n);
                if (n.p < n.end && *n.p == '<') {
                    rc = s_nq_term(&n, false, &g, &terms);
                    has_g = true;
                } else if (n.p < n.end && *n.p == '_') {
                    rc = s_nq_fail(&n, "blank node graph names are not supported");
                }
                s_nq_ws(&n);
            }
            if (!rc && (n.p >= n.end || *n.p != '.'))
                rc = s_nq_fail(&n, "expected '.' at the end of the statement");
            if (!rc) {
                n.p++;
                s_nq_ws(&n);
                rc = mida_quads_add(q, &s, &p, &o, has_g ? g.value : NULL);
            }
            mida_arena_free(&terms);
            mida_arena_init(&terms);
        }
        if (!rc && n.p < n.end && *n.p == '#')
            while (n.p < n.end && *n.p != '\n' && *n.p != '\r')
                n.p++;
        if (!rc && n.p < n.end) {
            if (*n.p != '\n' && *n.p != '\r')
                rc = s_nq_fail(&n, "expected the end of the line");
            else if (*n.p++ == '\n' || (n.p < n.end && *n.p != '\n'))
                n.line++;
        }
    }
    mida_arena_free(&terms);
    mida_buf_free(&n.tmp);
    if (rc)
        mida_quads_truncate(q, before);
    return rc;
}

int mida_quads_parse_file(mida_ctx_t *ctx, mida_quads_t *q, FILE *in, const char *name,
                          const char *syntax, const char *base, char *err, size_t errlen)
{
    if (!ctx || !q || !in)
        return MIDA_EINVAL;
    if (err && errlen)
        err[0] = '\0';
    if (!name)
        name = "-";
    if (!syntax)
        syntax = mida_quads_syntax_for_name(name);
    if (!syntax) {
        if (err)
            snprintf(err, errlen, "%s: cannot tell the RDF syntax from the file name", name);
        return MIDA_EUNSUPPORTED;
    }
    raptor_world *w = mida__ctx_raptor(ctx);
    if (!w)
        return MIDA_ENOMEM;
    s_parse_state ps = {ctx, q, name, err, errlen, 0, 0};
    raptor_parser *parser = raptor_new_parser(w, syntax);
    if (!parser) {
        if (err)
            snprintf(err, errlen, "%s: unknown RDF syntax '%s'", name, syntax);
        return MIDA_EUNSUPPORTED;
    }
    raptor_world_set_log_handler(w, &ps, s_on_log);
    raptor_parser_set_statement_handler(parser, &ps, s_on_statement);
    /* Relative IRIs resolve against the given base, else against a file:
     * IRI made from the name, as rapper does. */
    mida_buf_t b;
    mida_buf_init(&b, 0);
    if (base)
        mida_buf_adds(&b, base);
    else if (name[0] == '/')
        mida_buf_printf(&b, "file://%s", name);
    else
        mida_buf_printf(&b, "file:///%s", name);
    raptor_uri *base_uri = raptor_new_uri(w, (const unsigned char *)mida_buf_str(&b));
    mida_buf_free(&b);
    int rc = raptor_parser_parse_file_stream(parser, in, name, base_uri);
    raptor_free_uri(base_uri);
    raptor_free_parser(parser);
    raptor_world_set_log_handler(w, NULL, NULL);
    if (ps.rc)
        return ps.rc;
    if (ferror(in))
        return MIDA_EIO;
    if (rc || ps.errors)
        return MIDA_EPARSE;
    return 0;
}

/* ---- self-test ------------------------------------------------------------ */
#include "mida_selftest.h"

/* Both readers must give the same quads. */
static int s_same_as_raptor(mida_ctx_t *ctx, const char *text)
{
    int f = 0;
    mida_quads_t *a = mida_quads_new(), *b = mida_quads_new();
    char err[256];
    MIDA_CHECK(f, mida_quads_parse_nquads(a, text, strlen(text), err, sizeof err) == 0);
    FILE *mem = fmemopen((void *)(uintptr_t)text, strlen(text), "r");
    MIDA_CHECK(f, mem && mida_quads_parse_file(ctx, b, mem, "t", "nquads", NULL, err, sizeof err) == 0);
    if (mem)
        fclose(mem);
    MIDA_CHECK(f, mida_quads_count(a) == mida_quads_count(b));
    for (size_t i = 0; i < mida_quads_count(a) && i < mida_quads_count(b); i++) {
        const mida_quad_t *x = mida_quads_get(a, i), *y = mida_quads_get(b, i);
        bool same = mida_term_equal(&x->s, &y->s) && mida_term_equal(&x->p, &y->p) &&
                    mida_term_equal(&x->o, &y->o) &&
                    ((!x->graph && !y->graph) || (x->graph && y->graph && !strcmp(x->graph, y->graph)));
        if (x->s.kind == MIDA_TERM_BLANK || x->o.kind == MIDA_TERM_BLANK)
            same = x->s.kind == y->s.kind && x->o.kind == y->o.kind; /* raptor renames */
        MIDA_CHECK(f, same);
        if (!same)
            fprintf(stderr, "  quad %zu differs: %s | %s\n", i, x->o.value, y->o.value);
    }
    mida_quads_destroy(&a);
    mida_quads_destroy(&b);
    return f;
}

int mida_quads_test(bool verbose);
int mida_quads_test(bool verbose)
{
    int f = 0;
    mida_ctx_t *ctx = mida_ctx_new();
    f += s_same_as_raptor(ctx,
        "# a comment\n"
        "<http://x/s> <http://x/p> <http://x/o> .\n"
        "<http://x/s> <http://x/p> \"plain\" <http://x/g> .\r\n"
        "  <http://x/s>\t<http://x/p>  \"tab\\there \\\"q\\\" \\\\ \\n\\r \\u00E9\\U0001F600 \"@en-GB .\n"
        "<http://x/s> <http://x/p> \"0.5\"^^<http://www.w3.org/2001/XMLSchema#double> <http://x/g> . # c\n"
        "\n"
        "<http://x/\\u00E9t\xC3\xA9> <http://x/p> \"caf\xC3\xA9 \xF0\x9F\x98\x80\" .\n"
        "_:b1 <http://x/p> _:b2 .\n"
        "<http://x/s> <http://x/p> \"\" .");
    /* RDF 1.1 escapes raptor 2.0.15 does not know: \b \f \' */
    mida_quads_t *e = mida_quads_new();
    const char *echar = "<http://x/s> <http://x/p> \"\\b\\f\\'\" .";
    char eerr[128];
    MIDA_CHECK(f, mida_quads_parse_nquads(e, echar, strlen(echar), eerr, sizeof eerr) == 0);
    MIDA_CHECK(f, mida_quads_count(e) == 1 && !strcmp(mida_quads_get(e, 0)->o.value, "\b\f'"));
    mida_quads_destroy(&e);
    /* what the writer writes, the reader reads back */
    mida_quads_t *q = mida_quads_new(), *back = mida_quads_new();
    mida_term_t s = mida_term_iri("http://x/s a"), p = mida_term_iri("http://x/p");
    mida_term_t o = mida_term_literal("line\n\"two\"\t\x01 \xC3\xA9\\", NULL, "fr");
    mida_quads_add(q, &s, &p, &o, "http://x/g");
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    mida_quads_write_nquads(q, mem, true);
    fclose(mem);
    char err[256];
    MIDA_CHECK(f, mida_quads_parse_nquads(back, text, len, err, sizeof err) == 0);
    MIDA_CHECK(f, mida_quads_count(back) == 1 && mida_term_equal(&mida_quads_get(back, 0)->o, &o) &&
                      mida_term_equal(&mida_quads_get(back, 0)->s, &s));
    free(text);
    /* refused, naming the line; nothing is kept */
    static const char *const bad[] = {
        "<http://x/s> <http://x/p> <http://x/o>\n",            /* no dot */
        "<http://x/s> \"lit\" <http://x/o> .\n",               /* literal predicate */
        "\"lit\" <http://x/p> <http://x/o> .\n",               /* literal subject */
        "<http://x/s> <http://x/p> \"open .\n",                /* unterminated */
        "<http://x/s> <http://x/p> \"a\\qb\" .\n",             /* bad escape */
        "<http://x/s> <http://x/p> \"\\u00\" .\n",             /* short \u */
        "<http://x/s> <http://x/p> \"\\uD800\" .\n",           /* surrogate */
        "<http://x/s> <http://x/p> \"\xC3\" .\n",              /* broken UTF-8 */
        "<http://x/s> <http://x/p> \"\xC0\xAF\" .\n",          /* overlong */
        "<http://x/s x> <http://x/p> <http://x/o> .\n",        /* space in IRI */
        "<relative> <http://x/p> <http://x/o> .\n",            /* not absolute */
        "<h\\u0000ttp://x/s> <http://x/p> <http://x/o> .\n",   /* NUL in an IRI (found by fuzz.nquads) */
        "<http://x/s> <http://x/p> <http://x/o> _:g .\n",      /* blank graph */
        "<http://x/s> <http://x/p> \"x\"@ .\n",                /* empty lang */
        "<http://x/s> <http://x/p> \"x\"^^\"y\" .\n",          /* bad datatype */
        "<http://x/s> <http://x/p> <http://x/o> . junk\n",     /* trailing junk */
        "<http://x/s> <http://x/p> \"a\\u0000b\" .\n",         /* NUL */
        "<http://x/s> <http://x/p> _:\0\0oo .\n",              /* NUL label (fuzz) */
        "<http://x/s> <http://x/p> _:-a .\n",                   /* label start */
    };
    for (size_t i = 0; i < MIDA_ARRAY_LEN(bad); i++) {
        char two[512];
        snprintf(two, sizeof two, "<http://x/a> <http://x/b> <http://x/c> .\n%s", bad[i]);
        mida_quads_clear(back);
        err[0] = '\0';
        int rc = mida_quads_parse_nquads(back, two, strlen(two), err, sizeof err);
        MIDA_CHECK(f, rc == MIDA_EPARSE && mida_quads_count(back) == 0 && !strncmp(err, "line 2:", 7));
        if (rc != MIDA_EPARSE)
            fprintf(stderr, "  accepted: %s", bad[i]);
    }
    mida_quads_destroy(&q);
    mida_quads_destroy(&back);
    mida_ctx_destroy(&ctx);
    if (verbose)
        printf("quads: %d failures\n", f);
    return f;
}
