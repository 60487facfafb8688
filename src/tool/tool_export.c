/* tool_export.c - `mida export`: a store's graph in a standard RDF syntax. */
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char *CMD = "export";

static void s_help(void)
{
    printf("Usage: mida export --store DIR --format SYNTAX [--graph IRI] [-o FILE]\n"
           "Write the graph of the store in DIR.\n\n"
           "Syntaxes: turtle, ntriples, nquads, trig, rdfxml, jsonld.  N-Quads, TriG and\n"
           "JSON-LD put each triple in the named graph of its workflow run\n"
           "(BASE/graph/{workflow}); shared data, programs and agents are in the\n"
           "default graph.  JSON-LD is compacted with the prefixes of\n"
           "ontology/context.jsonld.\n\n"
           "Options:\n"
           "  -s, --store DIR        the store directory (required)\n"
           "  -F, --format SYNTAX    the syntax (required)\n"
           "  -g, --graph IRI        only this workflow run's graph, with the descriptions of\n"
           "                         the shared data, programs and agents it refers to\n"
           "  -o, --output FILE      write to FILE (replaced only when complete) instead of stdout\n"
           "  -h, --help             show this help\n\n"
           "Exit status: 0 written, 1 failure (no such graph, store error), 2 usage error.\n");
}

int tool_export(mida_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'},  {"format", required_argument, NULL, 'F'},
        {"graph", required_argument, NULL, 'g'},  {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *dir = NULL, *graph = NULL, *output = NULL;
    mida_format_t fmt = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:F:g:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': dir = optarg; break;
        case 'F':
            if (mida_format_parse(optarg, &fmt))
                return tool_usage_error(CMD, "unknown --format '%s' (turtle, ntriples, nquads, trig, rdfxml, jsonld)", optarg);
            break;
        case 'g': graph = optarg; break;
        case 'o': output = optarg; break;
        case 'h': s_help(); return EXIT_OK;
        default: return tool_usage_error(CMD, "unknown or incomplete option");
        }
    }
    if (!dir)
        return tool_usage_error(CMD, "--store DIR is required");
    if (!fmt)
        return tool_usage_error(CMD, "--format SYNTAX is required");
    if (optind < argc)
        return tool_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    mida_store_t *store = tool_open_reader(ctx, CMD, dir);
    if (!store)
        return EXIT_FAIL;
    const char *base = mida_store_meta_get(store, "base");
    mida_quads_t *quads = mida_quads_new();
    int rc = EXIT_OK;
    int crc = mida_export_collect(store, base ? base : MIDA_DEFAULT_BASE, graph, quads);
    if (crc == MIDA_ENOTFOUND) {
        tool_err(CMD, "store %s has no graph %s", dir, graph);
        rc = EXIT_FAIL;
    } else if (crc) {
        tool_err(CMD, "cannot read store %s: %s", dir, mida_store_errmsg(store));
        rc = EXIT_FAIL;
    }
    tool_out_t out;
    if (!rc && tool_out_open(&out, output)) {
        tool_err(CMD, "cannot write %s: %s", output, strerror(errno));
        rc = EXIT_FAIL;
    } else if (!rc) {
        bool ok = mida_export_quads(ctx, quads, fmt, out.f) == 0;
        int e = errno;
        if (tool_out_close(&out, ok) || !ok) {
            tool_err(CMD, "cannot write %s: %s", output ? output : "standard output", strerror(ok ? errno : e));
            rc = EXIT_FAIL;
        }
    }
    mida_quads_destroy(&quads);
    mida_store_close(&store);
    return rc;
}
