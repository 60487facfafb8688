/* mida_sparql.c - the query engine: SPARQL over a store, through rasqal.
 * Owns: parsing and running queries, turning Redland results into
 *       mida_results_t, engine limits and error positions.
 * Must not: format results (mida_results), know about HTTP or the CLI.
 */
#include "mida_internal.h"

#include <ctype.h>
#include <redland.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUERY_LANGUAGE "sparql11-query"

struct mida_query {
    mida_store_t *store;
    char *text;
    char *base;
    mida_query_kind_t kind;
    char **vars;        /* SELECT's projected variables, from the parser */
    size_t nvars;
    /* DESCRIBE, which rasqal 0.9.33 parses but does not evaluate: the IRIs
     * named, and the SELECT over the WHERE clause that binds the
     * variables named (NULL when the query names only IRIs) */
    char **describe_iris;
    size_t n_describe_iris;
    char *describe_select;
};

typedef struct {
    char msg[512];
    long line;
    int errors;
} s_log_capture;

static void s_on_rasqal_log(void *ud, raptor_log_message *m)
{
    s_log_capture *c = ud;
    if (m->level < RAPTOR_LOG_LEVEL_ERROR)
        return; /* warnings such as "variable bound but unused" are noise here */
    if (c->errors++ == 0) {
        snprintf(c->msg, sizeof c->msg, "%s", m->text ? m->text : "error");
        c->line = m->locator ? m->locator->line : -1;
    }
}

/* Features rasqal 0.9.33 does not parse, recognised from the token its
 * parser stopped at.  Returns a feature name or NULL. */
static const char *s_unsupported_feature(const char *msg, const char *text, long line)
{
    const char *u = strstr(msg, "unexpected ");
    if (strstr(msg, "missing variable name after ?"))
        u = "'?'"; /* the lexer saw "p? " as a variable with no name */
    else if (!u)
        return NULL;
    else
        u += strlen("unexpected ");
    if (!strncmp(u, "NOT", 3) || !strncmp(u, "EXISTS", 6))
        return "EXISTS / NOT EXISTS";
    if (!strncmp(u, "'/'", 3) || !strncmp(u, "'|'", 3) || !strncmp(u, "'^'", 3))
        return "property paths";
    if ((strncmp(u, "'*'", 3) && strncmp(u, "'+'", 3) && strncmp(u, "'?'", 3)) || line < 1)
        return NULL;
    /* a '*' '+' '?' right after a predicate (an IRI, a prefixed name or a
     * parenthesised path) on the line the parser stopped at */
    const char *p = text;
    for (long l = 1; l < line && p; l++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p)
        return NULL;
    const char *e = strchr(p, '\n');
    if (!e)
        e = p + strlen(p);
    for (const char *c = p + 1; c < e; c++) {
        if (*c != '*' && *c != '+' && *c != '?')
            continue;
        const char *b = c - 1;
        while (b > p && (*b == ' ' || *b == '\t'))
            b--;
        bool after_name = isalnum((unsigned char)*b) || *b == '_' || *b == '>' || *b == ')';
        if (isalnum((unsigned char)*b)) {
            /* "LIMIT 1 +" is a number and "SELECT *" a projection, not a
             * predicate with a path operator */
            const char *t = b;
            while (t > p && isalnum((unsigned char)t[-1]))
                t--;
            size_t tl = (size_t)(b - t) + 1;
            bool number = true;
            for (const char *d = t; d <= b; d++)
                number = number && isdigit((unsigned char)*d);
            bool keyword = (tl == 6 && !strncasecmp(t, "SELECT", 6)) ||
                           (tl == 8 && !strncasecmp(t, "DISTINCT", 8)) ||
                           (tl == 7 && !strncasecmp(t, "REDUCED", 7));
            after_name = !number && !keyword;
        }
        /* "?x" is a variable, "*" after SELECT is a projection */
        bool then_term = c + 1 >= e || strchr(" \t?$<(_:\"", c[1]) || isalnum((unsigned char)c[1]);
        if (after_name && then_term && *c != '?')
            return "property paths";
        if (after_name && *c == '?' && (c + 1 >= e || c[1] == ' ' || c[1] == '\t'))
            return "property paths";
    }
    return NULL;
}

/* Copies the names of the projected variables: rasqal's results carry no
 * variables when there is no row, and an empty answer must still say which
 * columns it has. */
static void s_copy_vars(rasqal_query *rq, mida_query_t *q)
{
    raptor_sequence *seq = rasqal_query_get_bound_variable_sequence(rq);
    int n = seq ? raptor_sequence_size(seq) : 0;
    if (n <= 0 || !(q->vars = calloc((size_t)n, sizeof *q->vars)))
        return;
    for (int i = 0; i < n; i++) {
        rasqal_variable *v = raptor_sequence_get_at(seq, i);
        if (v && v->name && (q->vars[q->nvars] = strdup((const char *)v->name)))
            q->nvars++;
    }
}

/* The parser's complaint as "line N: message"; MIDA_EPARSE. */
static int s_parse_error(const s_log_capture *cap, char *err, size_t errlen)
{
    const char *msg = *cap->msg ? cap->msg : "syntax error";
    if (cap->line > 0)
        snprintf(err, errlen, "line %ld: %s", cap->line, msg);
    else
        snprintf(err, errlen, "%s", msg);
    return MIDA_EPARSE;
}

/* The first `keyword` at or after `from` in a query: a whole word (or, for
 * "{", that character), outside comments, strings and IRIs; with
 * var_after only where a variable follows it.  NULL if there is none;
 * *line (may be NULL) gets its line.  The scan starts at `text` so that
 * `from` may fall anywhere. */
static const char *s_keyword_find(const char *text, const char *from, const char *keyword,
                                  bool var_after, long *line_out)
{
    size_t kn = strlen(keyword);
    long line = 1;
    for (const char *c = text; *c; c++) {
        if (*c == '\n') {
            line++;
        } else if (*c == '#') {
            while (c[1] && c[1] != '\n')
                c++;
        } else if (*c == '"' || *c == '\'') {
            char q = *c;
            bool longq = c[1] == q && c[2] == q;
            c += longq ? 3 : 1;
            for (; *c; c++) {
                if (*c == '\\' && c[1]) {
                    c++;
                } else if (*c == q && (!longq || (c[1] == q && c[2] == q))) {
                    c += longq ? 2 : 0;
                    break;
                } else if (*c == '\n') {
                    line++;
                }
            }
            if (!*c)
                break;
        } else if (*c == '<' && c[1] && !strchr(" \t\n=", c[1])) {
            const char *e = strpbrk(c + 1, "> \t\n");
            if (e && *e == '>')
                c = e;
        } else if (c >= from && kn == 1 && !isalnum((unsigned char)*keyword)) {
            if (*c == *keyword)
                goto found;
        } else if (c >= from &&
                   (c == text || !(isalnum((unsigned char)c[-1]) || c[-1] == '_' ||
                                   c[-1] == ':' || c[-1] == '?' || c[-1] == '$')) &&
                   !strncasecmp(c, keyword, kn) &&
                   !(isalnum((unsigned char)c[kn]) || c[kn] == '_' || c[kn] == ':')) {
            const char *n = c + kn;
            while (*n == ' ' || *n == '\t' || *n == '\n' || *n == '\r')
                n++;
            if (!var_after || *n == '?' || *n == '$')
                goto found;
        }
        continue;
    found:
        if (line_out)
            *line_out = line;
        return c;
    }
    return NULL;
}

/* The line of the first `keyword` (see s_keyword_find), or 0.  Used for
 * what rasqal 0.9.33 parses but gets wrong: MINUS (fails with no reason)
 * and "VALUES ?x { ... }" with one variable and no parentheses (read as
 * one row of many columns: wrong answers, and heap corruption with
 * OPTIONAL, found by tests/python/test_capture_live.py). */
static long s_keyword_line(const char *text, const char *keyword, bool var_after)
{
    long line = 0;
    return s_keyword_find(text, text, keyword, var_after, &line) ? line : 0;
}

/* The query text with its "DESCRIBE terms" replaced by "SELECT DISTINCT
 * vars": the same prologue, dataset and WHERE clause.  NULL when there is
 * no WHERE clause. */
static char *s_describe_rewrite(const char *text, const char *vars)
{
    const char *start = s_keyword_find(text, text, "DESCRIBE", false, NULL);
    if (!start)
        return NULL;
    const char *where = NULL;
    static const char *const ends[] = {"WHERE", "FROM", "{"};
    for (size_t i = 0; i < MIDA_ARRAY_LEN(ends); i++) {
        const char *e = s_keyword_find(text, start + 8, ends[i], false, NULL);
        if (e && (!where || e < where))
            where = e;
    }
    if (!where)
        return NULL;
    size_t len = (size_t)(start - text) + strlen(vars) + strlen(where) + 32;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%.*sSELECT DISTINCT %s %s", (int)(start - text), text, vars, where);
    return out;
}

static int s_describe_plan(rasqal_query *rq, const char *text, mida_query_t *q, char *err,
                           size_t errlen)
{
    raptor_sequence *seq = rasqal_query_get_describe_sequence(rq);
    int n = seq ? raptor_sequence_size(seq) : 0;
    mida_buf_t vars;
    mida_buf_init(&vars, 0);
    q->describe_iris = calloc((size_t)n + 1, sizeof *q->describe_iris);
    int rc = q->describe_iris ? 0 : MIDA_ENOMEM;
    for (int i = 0; !rc && i < n; i++) {
        rasqal_literal *l = raptor_sequence_get_at(seq, i);
        rasqal_variable *v = l ? rasqal_literal_as_variable(l) : NULL;
        if (v) {
            mida_buf_printf(&vars, "%s?%s", vars.len ? " " : "", (const char *)v->name);
        } else if (l && l->type == RASQAL_LITERAL_URI) {
            char *iri = strdup((const char *)raptor_uri_as_string(l->value.uri));
            if (!iri)
                rc = MIDA_ENOMEM;
            else
                q->describe_iris[q->n_describe_iris++] = iri;
        }
    }
    if (!rc && (vars.len || rasqal_query_get_wildcard(rq))) {
        q->describe_select = s_describe_rewrite(text, vars.len ? mida_buf_str(&vars) : "*");
        if (!q->describe_select) {
            rc = MIDA_EUNSUPPORTED;
            snprintf(err, errlen, "DESCRIBE of variables needs a WHERE clause");
        }
    }
    if (rc == MIDA_ENOMEM)
        snprintf(err, errlen, "out of memory");
    mida_buf_free(&vars);
    return rc;
}

static int s_prepare_check(mida_store_t *store, const char *text, const char *base,
                           mida_query_kind_t *kind, mida_query_t *vars_into, char *err,
                           size_t errlen)
{
    long minus = s_keyword_line(text, "MINUS", false);
    if (minus) {
        snprintf(err, errlen,
                 "line %ld: MINUS is not supported by this query engine (rasqal 0.9.33 parses it "
                 "but cannot evaluate it); write OPTIONAL { ... } FILTER(!BOUND(?x)) instead",
                 minus);
        return MIDA_EUNSUPPORTED;
    }
    long bare = s_keyword_line(text, "VALUES", true);
    if (bare) {
        snprintf(err, errlen,
                 "line %ld: VALUES with one variable and no parentheses is not supported by this "
                 "query engine (rasqal 0.9.33 misreads it); write VALUES (?x) { (a) (b) } instead",
                 bare);
        return MIDA_EUNSUPPORTED;
    }
    librdf_world *world = mida__store_world(store);
    rasqal_world *rw = librdf_world_get_rasqal(world);
    s_log_capture cap = {"", -1, 0};
    rasqal_world_set_log_handler(rw, &cap, s_on_rasqal_log);
    rasqal_query *rq = rasqal_new_query(rw, QUERY_LANGUAGE, NULL);
    raptor_uri *base_uri = NULL;
    if (base)
        base_uri = raptor_new_uri(librdf_world_get_raptor(world), (const unsigned char *)base);
    int rc = 0;
    if (!rq) {
        rc = MIDA_ENOMEM;
        snprintf(err, errlen, "cannot create a query");
    } else if (rasqal_query_prepare(rq, (const unsigned char *)text, base_uri) || cap.errors) {
        const char *feature = s_unsupported_feature(cap.msg, text, cap.line);
        if (feature) {
            rc = MIDA_EUNSUPPORTED;
            snprintf(err, errlen, "line %ld: %s are not supported by this query engine (%s)",
                     cap.line, feature, cap.msg);
        } else {
            rc = s_parse_error(&cap, err, errlen);
        }
    } else {
        switch (rasqal_query_get_verb(rq)) {
        case RASQAL_QUERY_VERB_SELECT:
            *kind = MIDA_QUERY_SELECT;
            s_copy_vars(rq, vars_into);
            break;
        case RASQAL_QUERY_VERB_ASK: *kind = MIDA_QUERY_ASK; break;
        case RASQAL_QUERY_VERB_CONSTRUCT: *kind = MIDA_QUERY_CONSTRUCT; break;
        case RASQAL_QUERY_VERB_DESCRIBE:
            *kind = MIDA_QUERY_DESCRIBE;
            rc = s_describe_plan(rq, text, vars_into, err, errlen);
            break;
        default:
            rc = MIDA_EUNSUPPORTED;
            snprintf(err, errlen, "only SELECT, ASK, CONSTRUCT and DESCRIBE queries are supported");
        }
    }
    if (base_uri)
        raptor_free_uri(base_uri);
    if (rq)
        rasqal_free_query(rq);
    rasqal_world_set_log_handler(rw, NULL, NULL);
    return rc;
}

mida_query_t *mida_query_prepare(mida_store_t *store, const char *text, const char *base,
                                 int *rcp, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    int rc = 0;
    mida_query_t *q = NULL;
    if (!store || !text) {
        rc = MIDA_EINVAL;
        snprintf(err, errlen, "no query");
    } else if (!*text) {
        rc = MIDA_EPARSE;
        snprintf(err, errlen, "the query is empty");
    } else {
        mida_query_kind_t kind = 0;
        q = calloc(1, sizeof *q);
        if (q) {
            mida__store_lock(store);
            rc = s_prepare_check(store, text, base, &kind, q, err, errlen);
            mida__store_unlock(store);
        }
        if (q && rc)
            mida_query_destroy(&q);
        if (!rc) {
            if (q) {
                q->store = store;
                q->kind = kind;
                q->text = strdup(text);
                q->base = base ? strdup(base) : NULL;
            }
            if (!q || !q->text || (base && !q->base)) {
                mida_query_destroy(&q);
                rc = MIDA_ENOMEM;
                snprintf(err, errlen, "out of memory");
            }
        }
    }
    if (rcp)
        *rcp = rc;
    return q;
}

mida_query_kind_t mida_query_kind(const mida_query_t *q)
{
    return q ? q->kind : 0;
}

void mida_query_destroy(mida_query_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (size_t i = 0; i < (*self_p)->nvars; i++)
        free((*self_p)->vars[i]);
    free((*self_p)->vars);
    for (size_t i = 0; i < (*self_p)->n_describe_iris; i++)
        free((*self_p)->describe_iris[i]);
    free((*self_p)->describe_iris);
    free((*self_p)->describe_select);
    free((*self_p)->text);
    free((*self_p)->base);
    free(*self_p);
    *self_p = NULL;
}

static int s_collect_bindings(const mida_query_t *q, librdf_query_results *res,
                              const mida_query_limits_t *lim, double deadline,
                              mida_results_t **out, char *err, size_t errlen)
{
    int nvars = librdf_query_results_get_bindings_count(res);
    if (nvars < 0)
        nvars = 0;
    bool from_parser = nvars == 0 && q->nvars > 0;
    if (from_parser)
        nvars = (int)q->nvars;
    const char **names = calloc((size_t)nvars + 1, sizeof *names);
    librdf_node **values = calloc((size_t)nvars + 1, sizeof *values);
    mida_term_t *cells = calloc((size_t)nvars + 1, sizeof *cells);
    int rc = (names && values && cells) ? 0 : MIDA_ENOMEM;
    for (int i = 0; !rc && i < nvars; i++)
        names[i] = from_parser ? q->vars[i] : librdf_query_results_get_binding_name(res, i);
    mida_results_t *r = rc ? NULL : mida_results_new_bindings((size_t)nvars, names);
    if (!rc && !r)
        rc = MIDA_ENOMEM;
    if (r)
        mida_results_set_max_rows(r, lim->max_rows);
    while (!rc && !from_parser && !librdf_query_results_finished(res)) {
        for (int i = 0; i < nvars; i++) {
            values[i] = librdf_query_results_get_binding_value(res, i);
            mida__store_node_term(values[i], &cells[i]);
        }
        rc = mida_results_add_row(r, cells);
        for (int i = 0; i < nvars; i++)
            if (values[i])
                librdf_free_node(values[i]);
        if (rc == MIDA_ELIMIT)
            snprintf(err, errlen, "the answer has more than %zu rows (the row limit)", lim->max_rows);
        if (!rc && deadline > 0 && mida__mono_now() > deadline) {
            rc = MIDA_ELIMIT;
            snprintf(err, errlen, "the query ran longer than %.3g s (the time limit)", lim->timeout_s);
        }
        if (!rc)
            librdf_query_results_next(res);
    }
    free(names);
    free(values);
    free(cells);
    if (rc)
        mida_results_destroy(&r);
    *out = r;
    return rc;
}

static int s_collect_graph(librdf_query_results *res, const mida_query_limits_t *lim,
                           double deadline, mida_results_t **out, char *err, size_t errlen)
{
    mida_quads_t *g = mida_quads_new();
    if (!g)
        return MIDA_ENOMEM;
    librdf_stream *stream = librdf_query_results_as_stream(res);
    int rc = 0;
    while (stream && !rc && !librdf_stream_end(stream)) {
        librdf_statement *st = librdf_stream_get_object(stream);
        mida_term_t s, p, o;
        mida__store_node_term(librdf_statement_get_subject(st), &s);
        mida__store_node_term(librdf_statement_get_predicate(st), &p);
        mida__store_node_term(librdf_statement_get_object(st), &o);
        if (s.kind && p.kind && o.kind)
            rc = mida_quads_add(g, &s, &p, &o, NULL);
        if (!rc && lim->max_rows && mida_quads_count(g) > lim->max_rows) {
            rc = MIDA_ELIMIT;
            snprintf(err, errlen, "the answer has more than %zu triples (the row limit)", lim->max_rows);
        }
        if (!rc && deadline > 0 && mida__mono_now() > deadline) {
            rc = MIDA_ELIMIT;
            snprintf(err, errlen, "the query ran longer than %.3g s (the time limit)", lim->timeout_s);
        }
        librdf_stream_next(stream);
    }
    if (stream)
        librdf_free_stream(stream);
    if (!rc) {
        /* CONSTRUCT may repeat triples; a graph is a set */
        mida_quads_sort_unique(g);
        *out = mida_results_new_graph(&g);
        if (!*out)
            rc = MIDA_ENOMEM;
    }
    mida_quads_destroy(&g);
    return rc;
}

typedef struct s_describe_ctx {
    mida_quads_t *g;
    int rc;
} s_describe_ctx;

static int s_describe_add(void *ud, const mida_term_t *s, const mida_term_t *p, const mida_term_t *o)
{
    s_describe_ctx *c = ud;
    c->rc = mida_quads_add(c->g, s, p, o, NULL);
    return c->rc;
}

/* The triples about one resource, and about the blank nodes it points at
 * (a Concise Bounded Description, one level of blank nodes deep). */
static int s_describe_one(mida_store_t *store, const mida_term_t *t, mida_quads_t *g)
{
    s_describe_ctx c = {g, 0};
    size_t from = mida_quads_count(g);
    int rc = mida_store_match(store, t, NULL, NULL, s_describe_add, &c);
    size_t to = mida_quads_count(g);
    for (size_t i = from; !rc && i < to; i++) {
        const mida_quad_t *qd = mida_quads_get(g, i);
        if (qd->o.kind == MIDA_TERM_BLANK && t->kind != MIDA_TERM_BLANK) {
            mida_term_t b = qd->o;
            rc = mida_store_match(store, &b, NULL, NULL, s_describe_add, &c);
        }
    }
    return rc ? rc : c.rc;
}

/* DESCRIBE: binds the variables with the rewritten SELECT, then collects
 * the description of every IRI named or bound.  Runs under the store lock. */
static int s_describe(mida_query_t *q, librdf_world *world, librdf_uri *base,
                      const mida_query_limits_t *lim, double deadline, s_log_capture *cap,
                      mida_results_t **out, char *err, size_t errlen)
{
    mida_quads_t *g = mida_quads_new();
    if (!g)
        return MIDA_ENOMEM;
    int rc = 0;
    for (size_t i = 0; !rc && i < q->n_describe_iris; i++) {
        mida_term_t t = mida_term_iri(q->describe_iris[i]);
        rc = s_describe_one(q->store, &t, g);
    }
    if (!rc && q->describe_select) {
        librdf_query *lq = librdf_new_query(world, QUERY_LANGUAGE, NULL,
                                            (const unsigned char *)q->describe_select, base);
        librdf_query_results *res = lq ? librdf_query_execute(lq, mida__store_model(q->store)) : NULL;
        if (!res) {
            rc = MIDA_EQUERY;
            snprintf(err, errlen, "the query failed: %s", *cap->msg ? cap->msg : "the engine gave no reason");
        }
        int nb = res ? librdf_query_results_get_bindings_count(res) : 0;
        while (!rc && res && !librdf_query_results_finished(res)) {
            for (int k = 0; !rc && k < nb; k++) {
                librdf_node *node = librdf_query_results_get_binding_value(res, k);
                if (!node)
                    continue;
                mida_term_t t;
                mida__store_node_term(node, &t);
                if (t.kind == MIDA_TERM_IRI || t.kind == MIDA_TERM_BLANK)
                    rc = s_describe_one(q->store, &t, g);
                librdf_free_node(node);
            }
            if (!rc && deadline > 0 && mida__mono_now() > deadline) {
                rc = MIDA_ELIMIT;
                snprintf(err, errlen, "the query ran longer than %.3g s (the time limit)", lim->timeout_s);
            }
            if (!rc && lim->max_rows && mida_quads_count(g) > lim->max_rows) {
                rc = MIDA_ELIMIT;
                snprintf(err, errlen, "the answer has more than %zu triples (the row limit)", lim->max_rows);
            }
            librdf_query_results_next(res);
        }
        if (res)
            librdf_free_query_results(res);
        if (lq)
            librdf_free_query(lq);
    }
    if (!rc) {
        mida_quads_sort_unique(g);
        if (lim->max_rows && mida_quads_count(g) > lim->max_rows) {
            rc = MIDA_ELIMIT;
            snprintf(err, errlen, "the answer has more than %zu triples (the row limit)", lim->max_rows);
        } else {
            *out = mida_results_new_graph(&g);
            rc = *out ? 0 : MIDA_ENOMEM;
        }
    }
    mida_quads_destroy(&g);
    return rc;
}

int mida_query_execute(mida_query_t *q, const mida_query_limits_t *limits, mida_results_t **out,
                       char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!q || !out)
        return MIDA_EINVAL;
    *out = NULL;
    static const mida_query_limits_t none = {0, 0};
    if (!limits)
        limits = &none;
    double deadline = limits->timeout_s > 0 ? mida__mono_now() + limits->timeout_s : 0;
    mida_store_t *store = q->store;
    mida__store_lock(store);
    librdf_world *world = mida__store_world(store);
    rasqal_world *rw = librdf_world_get_rasqal(world);
    s_log_capture cap = {"", -1, 0};
    rasqal_world_set_log_handler(rw, &cap, s_on_rasqal_log);
    librdf_uri *base = q->base ? librdf_new_uri(world, (const unsigned char *)q->base) : NULL;
    if (q->kind == MIDA_QUERY_DESCRIBE) {
        int drc = s_describe(q, world, base, limits, deadline, &cap, out, err, errlen);
        if (base)
            librdf_free_uri(base);
        rasqal_world_set_log_handler(rw, NULL, NULL);
        mida__store_unlock(store);
        return drc;
    }
    librdf_query *lq = librdf_new_query(world, QUERY_LANGUAGE, NULL, (const unsigned char *)q->text, base);
    librdf_query_results *res = lq ? librdf_query_execute(lq, mida__store_model(store)) : NULL;
    int rc = 0;
    if (!res) {
        rc = MIDA_EQUERY;
        snprintf(err, errlen, "the query failed: %s", *cap.msg ? cap.msg : "the engine gave no reason");
    } else if (librdf_query_results_is_boolean(res)) {
        int b = librdf_query_results_get_boolean(res);
        if (b < 0) {
            rc = MIDA_EQUERY;
            snprintf(err, errlen, "the query failed: %s", *cap.msg ? cap.msg : "no boolean answer");
        } else {
            *out = mida_results_new_boolean(b > 0);
            rc = *out ? 0 : MIDA_ENOMEM;
        }
    } else if (librdf_query_results_is_bindings(res)) {
        rc = s_collect_bindings(q, res, limits, deadline, out, err, errlen);
    } else if (librdf_query_results_is_graph(res)) {
        rc = s_collect_graph(res, limits, deadline, out, err, errlen);
    } else {
        rc = MIDA_EQUERY;
        snprintf(err, errlen, "the engine returned an unknown kind of result");
    }
    if (!rc && cap.errors) {
        /* rasqal reports some evaluation failures only through the log */
        mida_results_destroy(out);
        rc = MIDA_EQUERY;
        snprintf(err, errlen, "the query failed: %s", cap.msg);
    }
    if (res)
        librdf_free_query_results(res);
    if (lq)
        librdf_free_query(lq);
    if (base)
        librdf_free_uri(base);
    rasqal_world_set_log_handler(rw, NULL, NULL);
    mida__store_unlock(store);
    return rc;
}

/* A term of INSERT/DELETE DATA as a mida term (strings owned by `l`). */
static int s_data_term(rasqal_literal *l, mida_term_t *t)
{
    if (!l)
        return MIDA_EINVAL;
    if (l->type == RASQAL_LITERAL_URI) {
        *t = mida_term_iri((const char *)raptor_uri_as_string(l->value.uri));
    } else if (l->type == RASQAL_LITERAL_BLANK) {
        *t = mida_term_blank((const char *)l->string);
    } else if (l->type == RASQAL_LITERAL_VARIABLE || !l->string) {
        return MIDA_EUNSUPPORTED;
    } else {
        raptor_uri *dt = rasqal_literal_datatype(l);
        *t = mida_term_literal((const char *)l->string,
                               dt ? (const char *)raptor_uri_as_string(dt) : NULL, l->language);
        if (t->datatype && !strcmp(t->datatype, XSD_("string")))
            t->datatype = NULL;
    }
    return 0;
}

static int s_data_triples(raptor_sequence *seq, mida_quads_t *out, char *err, size_t errlen)
{
    int n = seq ? raptor_sequence_size(seq) : 0;
    for (int i = 0; i < n; i++) {
        rasqal_triple *tr = raptor_sequence_get_at(seq, i);
        mida_term_t s, p, o;
        if (tr->origin) {
            snprintf(err, errlen, "GRAPH in INSERT/DELETE DATA is not supported: the store keeps one graph");
            return MIDA_EUNSUPPORTED;
        }
        if (s_data_term(tr->subject, &s) || s_data_term(tr->predicate, &p) ||
            s_data_term(tr->object, &o)) {
            snprintf(err, errlen, "INSERT/DELETE DATA holds a term that is not data");
            return MIDA_EUNSUPPORTED;
        }
        int rc = mida_quads_add(out, &s, &p, &o, NULL);
        if (rc)
            return rc;
    }
    return 0;
}

#define MAX_UPDATE_OPS 256

int mida_update_parse(mida_store_t *store, const char *text, const char *base,
                      mida_update_fn fn, void *user_data, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!store || !text || !fn)
        return MIDA_EINVAL;
    mida_quads_t *ops[MAX_UPDATE_OPS];
    bool is_insert[MAX_UPDATE_OPS];
    int n_ops = 0;
    static const char *const names[] = {"an unknown operation", "CLEAR", "CREATE", "DROP",
                                        "LOAD", "INSERT/DELETE", "ADD", "MOVE", "COPY"};
    mida__store_lock(store);
    librdf_world *world = mida__store_world(store);
    rasqal_world *rw = librdf_world_get_rasqal(world);
    s_log_capture cap = {"", -1, 0};
    rasqal_world_set_log_handler(rw, &cap, s_on_rasqal_log);
    rasqal_query *rq = rasqal_new_query(rw, "sparql11-update", NULL);
    raptor_uri *base_uri =
        base ? raptor_new_uri(librdf_world_get_raptor(world), (const unsigned char *)base) : NULL;
    int rc = 0;
    if (!rq) {
        rc = MIDA_ENOMEM;
        snprintf(err, errlen, "cannot create an update");
    } else if (rasqal_query_prepare(rq, (const unsigned char *)text, base_uri) || cap.errors) {
        rc = s_parse_error(&cap, err, errlen);
    } else {
        rasqal_update_operation *op;
        for (int i = 0; !rc && (op = rasqal_query_get_update_operation(rq, i)); i++) {
            if (op->type != RASQAL_UPDATE_TYPE_UPDATE || !(op->flags & RASQAL_UPDATE_FLAGS_DATA) ||
                op->where || op->graph_uri) {
                rc = MIDA_EUNSUPPORTED;
                snprintf(err, errlen, "%s is not supported: only INSERT DATA and DELETE DATA are",
                         op->type == RASQAL_UPDATE_TYPE_UPDATE ? "DELETE/INSERT with WHERE or WITH"
                         : (unsigned)op->type < MIDA_ARRAY_LEN(names) ? names[op->type]
                                                                       : names[0]);
                break;
            }
            if (n_ops == MAX_UPDATE_OPS) {
                rc = MIDA_ETOOBIG;
                snprintf(err, errlen, "more than %d operations in one update", MAX_UPDATE_OPS);
                break;
            }
            is_insert[n_ops] = op->insert_templates != NULL;
            ops[n_ops] = mida_quads_new();
            if (!ops[n_ops]) {
                rc = MIDA_ENOMEM;
                break;
            }
            rc = s_data_triples(is_insert[n_ops] ? op->insert_templates : op->delete_templates,
                                ops[n_ops], err, errlen);
            n_ops++;
        }
    }
    if (base_uri)
        raptor_free_uri(base_uri);
    if (rq)
        rasqal_free_query(rq);
    rasqal_world_set_log_handler(rw, NULL, NULL);
    mida__store_unlock(store);
    for (int i = 0; i < n_ops; i++) {
        if (!rc)
            rc = fn(user_data, is_insert[i], ops[i]);
        mida_quads_destroy(&ops[i]);
    }
    return rc;
}

int mida_sparql_run(mida_store_t *store, const char *text, const mida_query_limits_t *limits,
                    mida_results_t **out, char *err, size_t errlen)
{
    int rc = 0;
    mida_query_t *q = mida_query_prepare(store, text, NULL, &rc, err, errlen);
    if (!q)
        return rc;
    rc = mida_query_execute(q, limits, out, err, errlen);
    mida_query_destroy(&q);
    return rc;
}
