/* tool_sparql.c - `mida sparql`: ask a store a SPARQL query. */
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define MAX_QUERY (1u << 20)

static const char *CMD = "sparql";

static void s_help(void)
{
    printf("Usage: mida sparql --store DIR [OPTIONS] (QUERY | --file FILE)\n"
           "Ask the store in DIR a SPARQL 1.1 query and print the answer on stdout.\n\n"
           "SELECT and ASK answers are written in the --results format; CONSTRUCT and\n"
           "DESCRIBE answers are graphs, written in the --format syntax.  A store that a\n"
           "server holds is read from its last snapshot.\n\n"
           "Options:\n"
           "  -s, --store DIR        the store directory (required)\n"
           "  -f, --file FILE        read the query from FILE ('-' = standard input)\n"
           "  -r, --results FORMAT   table (default), json, xml, csv or tsv\n"
           "  -F, --format SYNTAX    turtle (default), ntriples, nquads, trig, rdfxml, jsonld\n"
           "      --base IRI         resolve relative IRIs in the query against IRI\n"
           "      --max-rows N       fail rather than answer with more than N rows (default: no limit)\n"
           "      --timeout SECONDS  fail rather than run longer (default: no limit)\n"
           "  -h, --help             show this help\n\n"
           "Exit status: 0 answered, 1 the query is not valid or failed (the message gives\n"
           "the line), 2 usage error.\n");
}

int tool_sparql(mida_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'},   {"file", required_argument, NULL, 'f'},
        {"results", required_argument, NULL, 'r'}, {"format", required_argument, NULL, 'F'},
        {"base", required_argument, NULL, 'B'},    {"max-rows", required_argument, NULL, 'm'},
        {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *dir = NULL, *file = NULL, *base = NULL;
    mida_results_format_t rfmt = MIDA_RESULTS_TABLE;
    mida_format_t gfmt = MIDA_FORMAT_TURTLE;
    mida_query_limits_t limits = {0, 0};
    int c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:f:r:F:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': dir = optarg; break;
        case 'f': file = optarg; break;
        case 'r':
            if (mida_results_format_parse(optarg, &rfmt))
                return tool_usage_error(CMD, "unknown --results '%s' (table, json, xml, csv, tsv)", optarg);
            break;
        case 'F':
            if (mida_format_parse(optarg, &gfmt))
                return tool_usage_error(CMD, "unknown --format '%s' (turtle, ntriples, nquads, trig, rdfxml, jsonld)", optarg);
            break;
        case 'B': base = optarg; break;
        case 'm':
            errno = 0;
            limits.max_rows = strtoull(optarg, &end, 10);
            if (errno || *end || optarg[0] == '-' || !*optarg)
                return tool_usage_error(CMD, "--max-rows wants a whole number, got '%s'", optarg);
            break;
        case 't':
            limits.timeout_s = strtod(optarg, &end);
            if (*end || limits.timeout_s < 0 || !*optarg)
                return tool_usage_error(CMD, "--timeout wants seconds, got '%s'", optarg);
            break;
        case 'h': s_help(); return EXIT_OK;
        default: return tool_usage_error(CMD, "unknown or incomplete option");
        }
    }
    if (!dir)
        return tool_usage_error(CMD, "--store DIR is required");
    if (file && optind < argc)
        return tool_usage_error(CMD, "give the query or --file, not both");
    if (!file && optind >= argc)
        return tool_usage_error(CMD, "no query given");
    if (optind + 1 < argc)
        return tool_usage_error(CMD, "one query at a time (quote it)");
    char *text = NULL;
    if (file) {
        text = tool_read_file(file, MAX_QUERY, NULL);
        if (!text) {
            tool_err(CMD, "cannot read %s: %s", file, errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
            return EXIT_FAIL;
        }
    } else {
        text = strdup(argv[optind]);
    }
    char err[1024];
    mida_store_opts_t so = {MIDA_STORE_READONLY, NULL};
    mida_store_t *store = mida_store_open(ctx, dir, &so, err, sizeof err);
    if (!store) {
        tool_err(CMD, "%s", err);
        free(text);
        return EXIT_FAIL;
    }
    tool_note_pending_log(CMD, store);
    int rc = EXIT_OK, qrc = 0;
    mida_results_t *res = NULL;
    mida_query_t *q = mida_query_prepare(store, text, base, &qrc, err, sizeof err);
    if (!q) {
        tool_err(CMD, "%s: %s", file ? file : "query", err);
        rc = EXIT_FAIL;
    } else if ((qrc = mida_query_execute(q, &limits, &res, err, sizeof err))) {
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
    free(text);
    return rc;
}
