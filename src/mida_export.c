/* mida_export.c - RDF syntaxes out: raptor's serializers, a TriG writer,
 *                 and graph membership for store exports.
 * Owns: the format table, prefix use in Turtle/TriG, the choice of each
 *       triple's graph when a store is exported.
 * Must not: query the store with SPARQL or know about the CLI.
 */
#include "mida_internal.h"

#include <ctype.h>
#include <jansson.h>
#include <raptor2.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    mida_format_t format;
    const char *name, *alias, *media_type, *raptor;
} s_formats[] = {
    {MIDA_FORMAT_TURTLE, "turtle", "ttl", "text/turtle", NULL},
    {MIDA_FORMAT_NTRIPLES, "ntriples", "nt", "application/n-triples", "ntriples"},
    {MIDA_FORMAT_NQUADS, "nquads", "nq", "application/n-quads", "nquads"},
    {MIDA_FORMAT_TRIG, "trig", "trig", "application/trig", NULL},
    {MIDA_FORMAT_RDFXML, "rdfxml", "xml", "application/rdf+xml", "rdfxml"},
    {MIDA_FORMAT_JSONLD, "jsonld", "json-ld", "application/ld+json", NULL},
};

int mida_format_parse(const char *name, mida_format_t *format)
{
    for (size_t i = 0; name && i < MIDA_ARRAY_LEN(s_formats); i++)
        if (!strcasecmp(name, s_formats[i].name) || !strcasecmp(name, s_formats[i].alias)) {
            *format = s_formats[i].format;
            return 0;
        }
    return MIDA_EINVAL;
}

const char *mida_format_name(mida_format_t format)
{
    for (size_t i = 0; i < MIDA_ARRAY_LEN(s_formats); i++)
        if (s_formats[i].format == format)
            return s_formats[i].name;
    return NULL;
}

const char *mida_format_media_type(mida_format_t format)
{
    for (size_t i = 0; i < MIDA_ARRAY_LEN(s_formats); i++)
        if (s_formats[i].format == format)
            return s_formats[i].media_type;
    return NULL;
}

bool mida_format_has_graphs(mida_format_t format)
{
    return format == MIDA_FORMAT_NQUADS || format == MIDA_FORMAT_TRIG ||
           format == MIDA_FORMAT_JSONLD;
}

char *mida_export_context_json(void)
{
    json_t *ctx = json_object();
    json_object_set_new(ctx, "@version", json_real(1.1));
    for (const mida_prefix_t *p = mida_iri_prefixes(); p->prefix; p++)
        json_object_set_new(ctx, p->prefix, json_string(p->ns));
    json_t *doc = json_pack("{s:o}", "@context", ctx);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(3)) : NULL;
    json_decref(doc);
    return text;
}

/* ---- raptor serializers ---------------------------------------------------- */

static raptor_term *s_rterm(raptor_world *w, const mida_term_t *t)
{
    switch (t->kind) {
    case MIDA_TERM_IRI:
        return raptor_new_term_from_uri_string(w, (const unsigned char *)t->value);
    case MIDA_TERM_BLANK:
        return raptor_new_term_from_blank(w, (const unsigned char *)t->value);
    case MIDA_TERM_LITERAL: {
        raptor_uri *dt = t->datatype ? raptor_new_uri(w, (const unsigned char *)t->datatype) : NULL;
        raptor_term *r = raptor_new_term_from_literal(w, (const unsigned char *)t->value, dt,
                                                      (const unsigned char *)t->lang);
        if (dt)
            raptor_free_uri(dt);
        return r;
    }
    default:
        return NULL;
    }
}

static int s_raptor_write(mida_ctx_t *ctx, const mida_quads_t *q, const char *name, bool graphs,
                          FILE *out)
{
    raptor_world *w = mida__ctx_raptor(ctx);
    if (!w)
        return MIDA_ENOMEM;
    raptor_serializer *ser = raptor_new_serializer(w, name);
    if (!ser)
        return MIDA_EUNSUPPORTED;
    int rc = 0;
    if (raptor_serializer_start_to_file_handle(ser, NULL, out))
        rc = MIDA_EIO;
    for (size_t i = 0; !rc && i < mida_quads_count(q); i++) {
        const mida_quad_t *x = mida_quads_get(q, i);
        raptor_statement *st = raptor_new_statement_from_nodes(
            w, s_rterm(w, &x->s), s_rterm(w, &x->p), s_rterm(w, &x->o),
            (graphs && x->graph) ? raptor_new_term_from_uri_string(w, (const unsigned char *)x->graph)
                                 : NULL);
        if (!st || !st->subject || !st->predicate || !st->object)
            rc = MIDA_ENOMEM;
        else if (raptor_serializer_serialize_statement(ser, st))
            rc = MIDA_EIO;
        if (st)
            raptor_free_statement(st);
    }
    if (raptor_serializer_serialize_end(ser) && !rc)
        rc = MIDA_EIO;
    raptor_free_serializer(ser);
    return rc;
}

/* ---- TriG ------------------------------------------------------------------ */

/* A prefixed name for iri when its local part is plainly safe. */
static bool s_pname(const char *iri, mida_buf_t *b)
{
    for (const mida_prefix_t *p = mida_iri_prefixes(); p->prefix; p++) {
        size_t n = strlen(p->ns);
        if (strncmp(iri, p->ns, n))
            continue;
        const char *local = iri + n;
        if (!isalpha((unsigned char)*local) && *local != '_')
            return false;
        for (const char *c = local; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
                return false;
        mida_buf_printf(b, "%s:%s", p->prefix, local);
        return true;
    }
    return false;
}

static int s_trig_term(const mida_term_t *t, bool predicate, mida_buf_t *b)
{
    if (t->kind == MIDA_TERM_IRI) {
        if (predicate && !strcmp(t->value, RDF_("type")))
            return mida_buf_addc(b, 'a');
        if (s_pname(t->value, b))
            return 0;
    }
    if (t->kind == MIDA_TERM_LITERAL && t->datatype && !(t->lang && *t->lang)) {
        int rc = mida_buf_addc(b, '"');
        if (!rc)
            rc = mida_nt_escape(t->value, b);
        if (!rc)
            rc = mida_buf_add(b, "\"^^", 3);
        if (!rc && !s_pname(t->datatype, b)) {
            mida_term_t dt = mida_term_iri(t->datatype);
            rc = mida_term_format_nt(&dt, b);
        }
        return rc;
    }
    return mida_term_format_nt(t, b);
}

static int s_strcmp0(const char *a, const char *b)
{
    return a == b ? 0 : !a ? -1 : !b ? 1 : strcmp(a, b);
}

/* Turtle (trig false: graphs dropped) or TriG.  mida writes Turtle itself
 * too: raptor 2.0.15's Turtle serializer abbreviates "0.5"^^xsd:double to
 * the bare 0.5, which Turtle reads back as an xsd:decimal. */
static int s_trig_write(const mida_quads_t *in, FILE *out, bool trig)
{
    mida_quads_t *q = mida_quads_new();
    if (!q)
        return MIDA_ENOMEM;
    int rc = 0;
    for (size_t i = 0; !rc && i < mida_quads_count(in); i++) {
        const mida_quad_t *x = mida_quads_get(in, i);
        rc = mida_quads_add(q, &x->s, &x->p, &x->o, trig ? x->graph : NULL);
    }
    mida_quads_sort_unique(q);
    mida_buf_t b;
    mida_buf_init(&b, 0);
    for (const mida_prefix_t *p = mida_iri_prefixes(); !rc && p->prefix; p++)
        rc = mida_buf_printf(&b, "@prefix %s: <%s> .\n", p->prefix, p->ns);
    size_t n = mida_quads_count(q);
    for (size_t i = 0; !rc && i < n; i++) {
        const mida_quad_t *x = mida_quads_get(q, i), *prev = i ? mida_quads_get(q, i - 1) : NULL;
        bool new_graph = !prev || s_strcmp0(prev->graph, x->graph);
        bool new_subject = new_graph || !mida_term_equal(&prev->s, &x->s);
        bool new_pred = new_subject || !mida_term_equal(&prev->p, &x->p);
        if (new_graph && trig) {
            if (prev)
                mida_buf_adds(&b, " .\n}\n");
            mida_buf_addc(&b, '\n');
            if (x->graph) {
                mida_term_t g = mida_term_iri(x->graph);
                s_trig_term(&g, false, &b);
                mida_buf_addc(&b, ' ');
            }
            mida_buf_adds(&b, "{\n");
        } else if (new_graph) {
            mida_buf_addc(&b, '\n');
        }
        if (new_subject) {
            if (!new_graph)
                mida_buf_adds(&b, " .\n");
            if (trig)
                mida_buf_adds(&b, "  ");
            s_trig_term(&x->s, false, &b);
            mida_buf_addc(&b, ' ');
        } else if (new_pred) {
            mida_buf_adds(&b, " ;\n    ");
        } else {
            mida_buf_adds(&b, ", ");
        }
        if (new_pred) {
            s_trig_term(&x->p, true, &b);
            mida_buf_addc(&b, ' ');
        }
        rc = s_trig_term(&x->o, false, &b);
        if (!rc && b.len > 65536) {
            if (fwrite(b.data, 1, b.len, out) != b.len)
                rc = MIDA_EIO;
            mida_buf_reset(&b);
        }
    }
    if (!rc && n)
        rc = mida_buf_adds(&b, trig ? " .\n}\n" : " .\n");
    if (!rc && b.len && fwrite(b.data, 1, b.len, out) != b.len)
        rc = MIDA_EIO;
    mida_buf_free(&b);
    mida_quads_destroy(&q);
    return rc;
}

int mida_export_quads(mida_ctx_t *ctx, const mida_quads_t *quads, mida_format_t format, FILE *out)
{
    if (!ctx || !quads || !out)
        return MIDA_EINVAL;
    int rc;
    switch (format) {
    case MIDA_FORMAT_TRIG:
    case MIDA_FORMAT_TURTLE:
        rc = s_trig_write(quads, out, format == MIDA_FORMAT_TRIG);
        break;
    case MIDA_FORMAT_JSONLD: {
        char *context = mida_export_context_json();
        rc = context ? mida_jsonld_write(quads, context, out) : MIDA_ENOMEM;
        free(context);
        break;
    }
    case MIDA_FORMAT_NQUADS:
        rc = s_raptor_write(ctx, quads, "nquads", true, out);
        break;
    default: {
        const char *name = NULL;
        for (size_t i = 0; i < MIDA_ARRAY_LEN(s_formats); i++)
            if (s_formats[i].format == format)
                name = s_formats[i].raptor;
        rc = name ? s_raptor_write(ctx, quads, name, false, out) : MIDA_EINVAL;
    }
    }
    if (!rc && fflush(out))
        rc = MIDA_EIO;
    return rc;
}

/* ---- collecting a store ------------------------------------------------------ */

typedef struct {
    const char *base;
    mida_quads_t *out;
    mida_buf_t g;
    int rc;
} s_collect;

static int s_collect_all(void *ud, const mida_term_t *s, const mida_term_t *p, const mida_term_t *o)
{
    s_collect *c = ud;
    const char *graph = NULL;
    if (s->kind == MIDA_TERM_IRI && mida_prov_graph_of(c->base, s->value, &c->g) == 0)
        graph = mida_buf_str(&c->g);
    c->rc = mida_quads_add(c->out, s, p, o, graph);
    return c->rc ? 1 : 0;
}

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The graph's own quads; the quads of shared resources that point into the
 * graph (a file's prov:wasGeneratedBy its task); and the descriptions
 * (types and literal values) of every shared resource so involved. */
static int s_select_graph(const mida_quads_t *all, const char *base, const char *graph,
                          mida_quads_t *out, mida_buf_t *g)
{
    size_t n = mida_quads_count(all), nref = 0;
    const char **ref = malloc((2 * n + 1) * sizeof *ref);
    if (!ref)
        return MIDA_ENOMEM;
    int rc = 0;
    bool any = false;
    for (size_t i = 0; !rc && i < n; i++) {
        const mida_quad_t *x = mida_quads_get(all, i);
        bool member = x->graph && !strcmp(x->graph, graph);
        bool obj_member = x->o.kind == MIDA_TERM_IRI &&
                          mida_prov_graph_of(base, x->o.value, g) == 0 &&
                          !strcmp(mida_buf_str(g), graph);
        if (member) {
            any = true;
            rc = mida_quads_add_quad(out, x);
            if (x->o.kind == MIDA_TERM_IRI && !obj_member && strcmp(x->p.value, RDF_("type")) &&
                mida_prov_graph_of(base, x->o.value, g) != 0)
                ref[nref++] = x->o.value;
        } else if (!x->graph && obj_member) {
            rc = mida_quads_add_quad(out, x);
            if (x->s.kind == MIDA_TERM_IRI)
                ref[nref++] = x->s.value;
        }
    }
    qsort(ref, nref, sizeof *ref, s_cmp_str);
    for (size_t i = 0; !rc && nref && i < n; i++) {
        const mida_quad_t *x = mida_quads_get(all, i);
        if (x->graph || x->s.kind != MIDA_TERM_IRI ||
            (x->o.kind != MIDA_TERM_LITERAL && strcmp(x->p.value, RDF_("type"))))
            continue;
        if (bsearch(&x->s.value, ref, nref, sizeof *ref, s_cmp_str))
            rc = mida_quads_add_quad(out, x);
    }
    free(ref);
    return rc ? rc : any ? 0 : MIDA_ENOTFOUND;
}

int mida_export_collect(mida_store_t *store, const char *base, const char *graph, mida_quads_t *out)
{
    if (!store || !base || !out)
        return MIDA_EINVAL;
    mida_quads_t *all = graph ? mida_quads_new() : out;
    if (!all)
        return MIDA_ENOMEM;
    s_collect c = {base, all, {0}, 0};
    mida_buf_init(&c.g, 0);
    mida__store_lock(store);
    int rc = mida_store_match(store, NULL, NULL, NULL, s_collect_all, &c);
    if (c.rc)
        rc = c.rc;
    mida__store_unlock(store);
    if (!rc && graph)
        rc = s_select_graph(all, base, graph, out, &c.g);
    mida_buf_free(&c.g);
    if (graph)
        mida_quads_destroy(&all);
    if (!rc)
        mida_quads_sort_unique(out);
    return rc;
}
