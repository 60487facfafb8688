/* mida_quads.c - RDF terms and quad batches.
 * Owns: term equality/order, N-Triples/N-Quads text form, reading RDF files
 *       into batches (through raptor's parsers).
 * Must not: touch the store, know PROV.
 */
#include "mida_internal.h"

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
