/* tool_sparql.c - `mida sparql`: ask a store, or any SPARQL 1.1 endpoint,
 * a SPARQL query.
 *
 * With --endpoint the query goes to the server over the SPARQL 1.1
 * Protocol (mida_client) and what comes back is printed the way a local
 * answer would be:
 *
 *   answer           --results table      --results json|xml|csv|tsv   --format SYNTAX
 *   SELECT / ASK     asks for JSON, reads  asks for that media type,    -
 *                    it, prints the table  copies the body as it came
 *   CONSTRUCT /      -                     -                            asks for SYNTAX (then
 *   DESCRIBE                                                            the other RDF syntaxes);
 *                                                                       copies it, or reads
 *                                                                       another one and writes
 *                                                                       SYNTAX
 *
 * The Accept header is chosen before the server has seen the query, from
 * the query's first keyword after its prologue (mida_client_query_kind);
 * when that cannot tell, it names the results type and the RDF syntaxes
 * together.  The answer is then handled by its Content-Type, whatever was
 * guessed.  Nothing is printed until the whole answer is in and has passed
 * the --max-rows check, so a refused answer prints nothing.
 */
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_QUERY (1u << 20)

#define MT_RESULTS_JSON "application/sparql-results+json"

static const char *CMD = "sparql";

static void s_help(void)
{
    printf("Usage: mida sparql (--store DIR | --endpoint URL) [OPTIONS] (QUERY | --file FILE)\n"
           "Ask the store in DIR, or the SPARQL 1.1 endpoint at URL, a SPARQL 1.1 query and\n"
           "print the answer on stdout.\n\n"
           "SELECT and ASK answers are written in the --results format; CONSTRUCT and\n"
           "DESCRIBE answers are graphs, written in the --format syntax.  A store that a\n"
           "server holds is read from its last snapshot.  An endpoint is asked for the\n"
           "--results media type (JSON for a table) or the --format syntax; a body in that\n"
           "type is printed as it came, a graph in another RDF syntax is rewritten.\n\n"
           "Options:\n"
           "  -s, --store DIR        the store directory\n"
           "  -e, --endpoint URL     a SPARQL 1.1 endpoint (http:// or https://) instead\n"
           "  -f, --file FILE        read the query from FILE ('-' = standard input)\n"
           "  -r, --results FORMAT   table (default), json, xml, csv or tsv\n"
           "  -F, --format SYNTAX    turtle (default), ntriples, nquads, trig, rdfxml, jsonld\n"
           "      --base IRI         resolve relative IRIs in the query against IRI\n"
           "      --max-rows N       fail rather than answer with more than N rows (or\n"
           "                         triples) (default: no limit)\n"
           "      --timeout SECONDS  fail rather than run (or wait for the endpoint) longer\n"
           "                         (default: no limit)\n"
           "      --default-graph-uri IRI\n"
           "                         with --endpoint: a graph of the default graph (repeat\n"
           "                         for more); a store takes FROM in the query instead\n"
           "      --named-graph-uri IRI\n"
           "                         with --endpoint: a named graph (repeat for more); a\n"
           "                         store takes FROM NAMED in the query instead\n"
           "  -h, --help             show this help\n\n"
           "Exit status: 0 answered, 1 the query is not valid or failed (the message gives\n"
           "the line, or the endpoint's message), 2 usage error.\n");
}

/* ---- a remote endpoint ---------------------------------------------------- */

typedef struct s_remote {
    mida_ctx_t *ctx;
    const char *url;
    mida_results_format_t rfmt;
    mida_format_t gfmt;
    size_t max_rows;                   /* 0 = none */
    mida_client_opts_t opts;
} s_remote;

/* The RDF syntaxes an endpoint may answer a graph in, by media type: the
 * raptor parser for each (NULL: mida cannot read it), and the format it
 * is when written as is.  The first of each format is what Accept names. */
static const struct {
    const char *media;
    const char *parser;
    mida_format_t format;
} s_syntaxes[] = {
    {"text/turtle", "turtle", MIDA_FORMAT_TURTLE},
    {"application/n-triples", "ntriples", MIDA_FORMAT_NTRIPLES},
    {"application/n-quads", "nquads", MIDA_FORMAT_NQUADS},
    {"application/trig", "trig", MIDA_FORMAT_TRIG},
    {"application/rdf+xml", "rdfxml", MIDA_FORMAT_RDFXML},
    {"application/ld+json", NULL, MIDA_FORMAT_JSONLD},
    {"application/x-turtle", "turtle", MIDA_FORMAT_TURTLE},
    {"text/plain", "ntriples", MIDA_FORMAT_NTRIPLES},   /* N-Triples before RDF 1.1 */
    {"text/x-nquads", "nquads", MIDA_FORMAT_NQUADS},
    {"application/xml", "rdfxml", MIDA_FORMAT_RDFXML},
    {"text/xml", "rdfxml", MIDA_FORMAT_RDFXML},
};
#define N_ACCEPTED_SYNTAXES 6   /* the first six: one media type per format */

/* The SPARQL results formats by media type, aliases included. */
static const struct {
    const char *media;
    mida_results_format_t format;
} s_results_types[] = {
    {MT_RESULTS_JSON, MIDA_RESULTS_JSON},
    {"application/sparql-results+xml", MIDA_RESULTS_XML},
    {"text/csv", MIDA_RESULTS_CSV},
    {"text/tab-separated-values", MIDA_RESULTS_TSV},
    {"application/json", MIDA_RESULTS_JSON},
};

static int s_syntax_of(const char *ctype)
{
    for (size_t i = 0; i < sizeof s_syntaxes / sizeof s_syntaxes[0]; i++)
        if (mida_client_media_is(ctype, s_syntaxes[i].media))
            return (int)i;
    return -1;
}

static mida_results_format_t s_results_of(const char *ctype)
{
    for (size_t i = 0; i < sizeof s_results_types / sizeof s_results_types[0]; i++)
        if (mida_client_media_is(ctype, s_results_types[i].media))
            return s_results_types[i].format;
    return (mida_results_format_t)0;
}

/* Accept for a graph: the --format syntax first, then every other syntax
 * mida can read, by falling q.  JSON-LD only when it is the --format and
 * no row limit needs the triples counted (mida cannot read JSON-LD). */
static void s_graph_accept(const s_remote *r, mida_buf_t *b)
{
    const char *want = mida_format_media_type(r->gfmt);
    bool jsonld_ok = r->gfmt == MIDA_FORMAT_JSONLD && !r->max_rows;
    if (r->gfmt != MIDA_FORMAT_JSONLD || jsonld_ok)
        mida_buf_adds(b, want);
    int q = 9;
    for (size_t i = 0; i < N_ACCEPTED_SYNTAXES; i++) {
        if (!s_syntaxes[i].parser || !strcmp(s_syntaxes[i].media, want))
            continue;
        mida_buf_printf(b, "%s%s;q=0.%d", b->len ? ", " : "", s_syntaxes[i].media, q--);
    }
}

/* Rows of a SPARQL CSV (fields may be quoted across line ends) or TSV
 * (a row is a line) answer, the header not counted. */
static size_t s_count_lines(const char *s, size_t len, bool csv)
{
    size_t rows = 0;
    bool quoted = false;
    for (size_t i = 0; i < len; i++) {
        if (csv && s[i] == '"')
            quoted = !quoted;
        else if (s[i] == '\n' && !quoted)
            rows++;
    }
    if (len && s[len - 1] != '\n')
        rows++;
    return rows ? rows - 1 : 0;
}

/* <result> elements of a SPARQL XML answer, with any namespace prefix;
 * comments, CDATA and processing instructions skipped (text content
 * cannot hold a '<'). */
static size_t s_count_xml_results(const char *s, size_t len)
{
    size_t rows = 0;
    const char *end = s + len, *p = s;
    while ((p = memchr(p, '<', (size_t)(end - p)))) {
        p++;
        const char *close = NULL;
        if (end - p >= 3 && !strncmp(p, "!--", 3))
            close = memmem(p, (size_t)(end - p), "-->", 3);
        else if (end - p >= 8 && !strncmp(p, "![CDATA[", 8))
            close = memmem(p, (size_t)(end - p), "]]>", 3);
        else if (p < end && (*p == '?' || *p == '!' || *p == '/'))
            close = memchr(p, '>', (size_t)(end - p));
        if (close) {
            p = close;
            continue;
        }
        const char *name = p;
        while (p < end && !strchr(" \t\r\n/>", *p))
            p++;
        const char *colon = memchr(name, ':', (size_t)(p - name));
        if (colon)
            name = colon + 1;
        if (p - name == 6 && !strncmp(name, "result", 6))
            rows++;
    }
    return rows;
}

/* Writes the whole body; EXIT_OK or EXIT_FAIL after saying why. */
static int s_print_body(const mida_client_answer_t *a)
{
    if (a->len && fwrite(a->body, 1, a->len, stdout) != a->len) {
        tool_err(CMD, "cannot write the answer: %s", strerror(errno));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int s_too_many(const s_remote *r, size_t n, const char *what)
{
    tool_err(CMD, "%s: the answer has %zu %s, more than %zu (the row limit)", r->url, n, what,
             r->max_rows);
    return EXIT_FAIL;
}

/* A SELECT or ASK answer. */
static int s_print_results(const s_remote *r, const mida_client_answer_t *a,
                           mida_results_format_t got)
{
    const char *ctype = a->content_type;
    char err[1024];
    if (r->rfmt == MIDA_RESULTS_TABLE) {
        if (got != MIDA_RESULTS_JSON) {
            tool_err(CMD, "%s answered %s, not the %s asked for (--results %s prints it as is)",
                     r->url, ctype, MT_RESULTS_JSON, mida_results_format_name(got));
            return EXIT_FAIL;
        }
    } else if (got != r->rfmt) {
        tool_err(CMD, "%s answered %s, not the %s asked for by --results %s", r->url, ctype,
                 mida_results_format_media_type(r->rfmt), mida_results_format_name(r->rfmt));
        return EXIT_FAIL;
    }
    if (got == MIDA_RESULTS_JSON && (r->rfmt == MIDA_RESULTS_TABLE || r->max_rows)) {
        mida_results_t *res = NULL;
        if (mida_results_read_json(a->body ? a->body : "", a->len, &res, err, sizeof err)) {
            tool_err(CMD, "%s: the answer is not valid SPARQL JSON results: %s", r->url, err);
            return EXIT_FAIL;
        }
        int rc = EXIT_OK;
        size_t rows = mida_results_row_count(res);
        if (r->max_rows && rows > r->max_rows)
            rc = s_too_many(r, rows, "rows");
        else if (r->rfmt != MIDA_RESULTS_TABLE)
            rc = s_print_body(a);
        else if (mida_results_write(res, MIDA_RESULTS_TABLE, stdout)) {
            tool_err(CMD, "cannot write the answer: %s", strerror(errno));
            rc = EXIT_FAIL;
        }
        mida_results_destroy(&res);
        return rc;
    }
    if (r->max_rows) {
        const char *body = a->body ? a->body : "";
        size_t rows = got == MIDA_RESULTS_XML ? s_count_xml_results(body, a->len)
                                              : s_count_lines(body, a->len, got == MIDA_RESULTS_CSV);
        if (rows > r->max_rows)
            return s_too_many(r, rows, "rows");
    }
    return s_print_body(a);
}

/* A CONSTRUCT or DESCRIBE answer in the syntax s_syntaxes[si]. */
static int s_print_graph(const s_remote *r, const mida_client_answer_t *a, int si)
{
    bool as_is = s_syntaxes[si].format == r->gfmt;
    const char *parser = s_syntaxes[si].parser;
    if (!parser && (!as_is || r->max_rows)) {
        tool_err(CMD, "%s answered %s, which mida cannot read; ask for it with --format %s "
                      "(and no --max-rows)", r->url, a->content_type,
                 mida_format_name(s_syntaxes[si].format));
        return EXIT_FAIL;
    }
    if (as_is && !r->max_rows)
        return s_print_body(a);
    char err[1024] = "";
    int rc = EXIT_OK;
    mida_quads_t *q = mida_quads_new();
    FILE *in = a->len ? fmemopen(a->body, a->len, "r") : fopen("/dev/null", "r");
    if (!q || !in) {
        tool_err(CMD, "cannot read the answer: %s", strerror(errno));
        rc = EXIT_FAIL;
    } else if (mida_quads_parse_file(r->ctx, q, in, r->url, parser, r->url, err, sizeof err)) {
        tool_err(CMD, "%s: the answer is not valid %s: %s", r->url, a->content_type,
                 err[0] ? err : "syntax error");
        rc = EXIT_FAIL;
    } else if (r->max_rows && mida_quads_count(q) > r->max_rows) {
        rc = s_too_many(r, mida_quads_count(q), "triples");
    } else if (as_is) {
        rc = s_print_body(a);
    } else if (mida_export_quads(r->ctx, q, r->gfmt, stdout)) {
        tool_err(CMD, "cannot write the answer: %s", strerror(errno));
        rc = EXIT_FAIL;
    }
    if (in)
        fclose(in);
    mida_quads_destroy(&q);
    return rc;
}

static int s_ask_endpoint(s_remote *r, const char *text)
{
    mida_buf_t accept;
    mida_buf_init(&accept, 0);
    const char *results_type = r->rfmt == MIDA_RESULTS_TABLE
                                   ? MT_RESULTS_JSON
                                   : mida_results_format_media_type(r->rfmt);
    switch (mida_client_query_kind(text)) {
    case MIDA_QUERY_SELECT:
    case MIDA_QUERY_ASK:
        mida_buf_adds(&accept, results_type);
        break;
    case MIDA_QUERY_CONSTRUCT:
    case MIDA_QUERY_DESCRIBE:
        s_graph_accept(r, &accept);
        break;
    default:   /* the server will tell what it is, or what is wrong */
        mida_buf_printf(&accept, "%s, ", results_type);
        s_graph_accept(r, &accept);
        break;
    }
    r->opts.accept = mida_buf_str(&accept);
    mida_client_answer_t a;
    mida_client_answer_init(&a);
    char err[2048];
    int rc = EXIT_OK;
    if (mida_client_query(r->ctx, r->url, text, &r->opts, &a, err, sizeof err)) {
        tool_err(CMD, "%s", err);
        rc = EXIT_FAIL;
    } else if (!a.content_type) {
        tool_err(CMD, "%s answered without a Content-Type", r->url);
        rc = EXIT_FAIL;
    } else {
        int si = s_syntax_of(a.content_type);
        mida_results_format_t got = s_results_of(a.content_type);
        if (got)
            rc = s_print_results(r, &a, got);
        else if (si >= 0)
            rc = s_print_graph(r, &a, si);
        else {
            tool_err(CMD, "%s answered %s, which is neither a SPARQL results format nor an "
                          "RDF syntax (asked for: %s)", r->url, a.content_type, r->opts.accept);
            rc = EXIT_FAIL;
        }
    }
    mida_client_answer_free(&a);
    mida_buf_free(&accept);
    r->opts.accept = NULL;
    return rc;
}

/* ---- a store directory ----------------------------------------------------- */

static int s_ask_store(mida_ctx_t *ctx, const char *dir, const char *text, const char *file,
                       const char *base, const mida_query_limits_t *limits,
                       mida_results_format_t rfmt, mida_format_t gfmt)
{
    char err[1024];
    mida_store_t *store = tool_open_reader(ctx, CMD, dir);
    if (!store)
        return EXIT_FAIL;
    int rc = EXIT_OK, qrc = 0;
    mida_results_t *res = NULL;
    mida_query_t *q = mida_query_prepare(store, text, base, &qrc, err, sizeof err);
    if (!q) {
        tool_err(CMD, "%s: %s", file ? file : "query", err);
        rc = EXIT_FAIL;
    } else if ((qrc = mida_query_execute(q, limits, &res, err, sizeof err))) {
        tool_err(CMD, "%s", err);
        rc = EXIT_FAIL;
    } else if (mida_results_kind(res) == MIDA_RESULTS_GRAPH) {
        if (mida_export_quads(ctx, mida_results_graph(res), gfmt, stdout)) {
            tool_err(CMD, "cannot write the answer: %s", strerror(errno));
            rc = EXIT_FAIL;
        }
    } else if (mida_results_write(res, rfmt, stdout)) {
        tool_err(CMD, "cannot write the answer: %s", strerror(errno));
        rc = EXIT_FAIL;
    }
    mida_results_destroy(&res);
    mida_query_destroy(&q);
    mida_store_close(&store);
    return rc;
}

int tool_sparql(mida_ctx_t *ctx, int argc, char **argv)
{
    enum { OPT_BASE = 'B', OPT_DEFAULT_GRAPH = 'D', OPT_NAMED_GRAPH = 'N' };
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'},   {"endpoint", required_argument, NULL, 'e'},
        {"file", required_argument, NULL, 'f'},
        {"results", required_argument, NULL, 'r'}, {"format", required_argument, NULL, 'F'},
        {"base", required_argument, NULL, OPT_BASE}, {"max-rows", required_argument, NULL, 'm'},
        {"timeout", required_argument, NULL, 't'},
        {"default-graph-uri", required_argument, NULL, OPT_DEFAULT_GRAPH},
        {"named-graph-uri", required_argument, NULL, OPT_NAMED_GRAPH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *dir = NULL, *endpoint = NULL, *file = NULL, *base = NULL;
    mida_results_format_t rfmt = MIDA_RESULTS_TABLE;
    mida_format_t gfmt = MIDA_FORMAT_TURTLE;
    mida_query_limits_t limits = {0, 0};
    /* at most one graph per argument */
    const char **dgraphs = calloc((size_t)argc + 1, sizeof *dgraphs);
    const char **ngraphs = calloc((size_t)argc + 1, sizeof *ngraphs);
    size_t ndg = 0, nng = 0;
    char *text = NULL;
    int rc = EXIT_OK, c;
    char *end;
    if (!dgraphs || !ngraphs) {
        tool_err(CMD, "out of memory");
        rc = EXIT_FAIL;
        goto done;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:e:f:r:F:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': dir = optarg; break;
        case 'e': endpoint = optarg; break;
        case 'f': file = optarg; break;
        case 'r':
            if (mida_results_format_parse(optarg, &rfmt)) {
                rc = tool_usage_error(CMD, "unknown --results '%s' (table, json, xml, csv, tsv)", optarg);
                goto done;
            }
            break;
        case 'F':
            if (mida_format_parse(optarg, &gfmt)) {
                rc = tool_usage_error(CMD, "unknown --format '%s' (turtle, ntriples, nquads, trig, rdfxml, jsonld)", optarg);
                goto done;
            }
            break;
        case OPT_BASE: base = optarg; break;
        case 'm':
            errno = 0;
            limits.max_rows = strtoull(optarg, &end, 10);
            if (errno || *end || optarg[0] == '-' || !*optarg) {
                rc = tool_usage_error(CMD, "--max-rows wants a whole number, got '%s'", optarg);
                goto done;
            }
            break;
        case 't':
            limits.timeout_s = strtod(optarg, &end);
            if (*end || !(limits.timeout_s >= 0) || !*optarg) {
                rc = tool_usage_error(CMD, "--timeout wants seconds, got '%s'", optarg);
                goto done;
            }
            break;
        case OPT_DEFAULT_GRAPH: dgraphs[ndg++] = optarg; break;
        case OPT_NAMED_GRAPH: ngraphs[nng++] = optarg; break;
        case 'h': s_help(); goto done;
        default:
            rc = tool_usage_error(CMD, "unknown or incomplete option");
            goto done;
        }
    }
    if (dir && endpoint)
        rc = tool_usage_error(CMD, "give --store DIR or --endpoint URL, not both");
    else if (!dir && !endpoint)
        rc = tool_usage_error(CMD, "--store DIR or --endpoint URL is required");
    else if (endpoint && strncasecmp(endpoint, "http://", 7) && strncasecmp(endpoint, "https://", 8))
        rc = tool_usage_error(CMD, "--endpoint wants an http:// or https:// URL, got '%s'", endpoint);
    else if (dir && (ndg || nng))
        rc = tool_usage_error(CMD, "--default-graph-uri and --named-graph-uri go with --endpoint; "
                                   "against a store, write FROM and FROM NAMED in the query");
    else if (file && optind < argc)
        rc = tool_usage_error(CMD, "give the query or --file, not both");
    else if (!file && optind >= argc)
        rc = tool_usage_error(CMD, "no query given");
    else if (optind + 1 < argc)
        rc = tool_usage_error(CMD, "one query at a time (quote it)");
    if (rc)
        goto done;
    if (file) {
        text = tool_read_file(file, MAX_QUERY, NULL);
        if (!text) {
            tool_err(CMD, "cannot read %s: %s", file, errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
            rc = EXIT_FAIL;
            goto done;
        }
    } else if (!(text = strdup(argv[optind]))) {
        tool_err(CMD, "out of memory");
        rc = EXIT_FAIL;
        goto done;
    }

    if (dir) {
        rc = s_ask_store(ctx, dir, text, file, base, &limits, rfmt, gfmt);
        goto done;
    }
    /* --base for an endpoint: a BASE declaration in front of the query,
     * which the query's own BASE (if any) then overrides, as it would
     * locally.  On the query's first line, so that the line numbers of
     * the server's messages stay right. */
    if (base) {
        size_t n = strlen(base) + strlen(text) + 16;
        char *with_base = malloc(n);
        if (!with_base) {
            tool_err(CMD, "out of memory");
            rc = EXIT_FAIL;
            goto done;
        }
        snprintf(with_base, n, "BASE <%s> %s", base, text);
        free(text);
        text = with_base;
    }
    s_remote r = {.ctx = ctx, .url = endpoint, .rfmt = rfmt, .gfmt = gfmt,
                  .max_rows = limits.max_rows};
    r.opts.timeout_s = limits.timeout_s;
    r.opts.default_graphs = dgraphs;
    r.opts.n_default_graphs = ndg;
    r.opts.named_graphs = ngraphs;
    r.opts.n_named_graphs = nng;
    rc = s_ask_endpoint(&r, text);
done:
    free(text);
    free(dgraphs);
    free(ngraphs);
    return rc;
}
