/* tool_ingest.c - `mida ingest`: task records and RDF files into a store. */
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LINE (64u << 20)
#define MAX_WARNINGS 20

static const char *CMD = "ingest";

static void s_help(void)
{
    printf(
        "Usage: mida ingest --store DIR [OPTIONS] FILE...\n"
        "Load task records and RDF files into the store in DIR (created if missing).\n\n"
        "Each FILE is read by its name: .ttl .nt .nq .trig .rdf .owl .xml are RDF;\n"
        "anything else (and '-', standard input) is task records, one JSON object a line.\n"
        "A record that is not valid is reported with its file, line, field and reason\n"
        "and skipped; the rest of the file still loads.  Records go through the same\n"
        "apply path as live capture: single values are replaced, a task's status only\n"
        "moves forward, and data shared between workflows is linked.\n\n"
        "Options:\n"
        "  -s, --store DIR        the store directory (required)\n"
        "  -b, --base IRI         base of minted IRIs (default " MIDA_DEFAULT_BASE ");\n"
        "                         fixed when the store is created\n"
        "  -a, --alias FROM=TO    treat locations under FROM as under TO (repeatable);\n"
        "                         fixed when the store is created\n"
        "      --no-promote       plain path/URI strings stay values, not data references\n"
        "      --backend NAME     back end of a new store: memory (default) or bdb\n"
        "      --syntax NAME      read every FILE as: jsonl, turtle, ntriples, nquads,\n"
        "                         trig or rdfxml (default: by file name)\n"
        "  -q, --quiet            no progress and no summary\n"
        "      --progress         show progress even when stderr is not a terminal\n"
        "  -h, --help             show this help\n\n"
        "Exit status: 0 all loaded, 1 failure (with the memory back end nothing is\n"
        "saved; with bdb the records applied before the failure stay), 2 usage error,\n"
        "3 loaded, but some records were refused.\n");
}

typedef struct {
    mida_ctx_t *ctx;
    tool_apply_t apply;
    size_t records, refused, warnings, files;
    bool quiet, progress;
    double started, last_progress;
} s_ingest;

static void s_show_progress(s_ingest *in, bool final)
{
    double now = tool_now();
    if (!final && (!in->progress || now - in->last_progress < 1.0))
        return;
    in->last_progress = now;
    if (in->quiet || !in->progress)
        return;
    double dt = now - in->started;
    fprintf(stderr, "%smida ingest: %zu records (%zu refused), %zu quads applied, %.1f s, %.0f records/s%s",
            in->progress && !final ? "\r" : "", in->records, in->refused, in->apply.stats.quads, dt,
            dt > 0 ? (double)in->records / dt : 0.0, final ? "\n" : "");
    if (!final)
        fflush(stderr);
}

static void s_warn_record(s_ingest *in, const char *file, size_t line, const char *fmt, ...)
    MIDA_PRINTF(4, 5);
static void s_warn_record(s_ingest *in, const char *file, size_t line, const char *fmt, ...)
{
    if (++in->warnings > MAX_WARNINGS) {
        if (in->warnings == MAX_WARNINGS + 1)
            fprintf(stderr, "%smida ingest: further record messages are not shown\n",
                    in->progress ? "\n" : "");
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%smida ingest: %s:%zu: ", in->progress ? "\n" : "", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Returns 0, or EXIT_FAIL when the store fails (input problems are counted). */
static int s_ingest_jsonl(s_ingest *in, FILE *f, const char *name)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    char err[512];
    int rc = 0;
    while (!rc && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        size_t skip = 0;
        while (skip < len && (line[skip] == ' ' || line[skip] == '\t'))
            skip++;
        if (skip == len)
            continue;
        in->records++;
        if (len > MAX_LINE) {
            in->refused++;
            s_warn_record(in, name, lineno, "record longer than %u bytes", MAX_LINE);
            continue;
        }
        const char *unmapped;
        int prc = tool_apply_record(&in->apply, line, len, err, sizeof err, &unmapped);
        if (prc == MIDA_ERECORD) {
            in->refused++;
            s_warn_record(in, name, lineno, "%s", err);
            continue;
        }
        if (prc) {
            tool_err(CMD, "%s:%zu: %s", name, lineno, err);
            rc = EXIT_FAIL;
        } else if (*unmapped) {
            s_warn_record(in, name, lineno, "fields not mapped: %s", unmapped);
        }
        s_show_progress(in, false);
    }
    if (!rc && ferror(f)) {
        tool_err(CMD, "%s: read error: %s", name, strerror(errno));
        rc = EXIT_FAIL;
    }
    free(line);
    return rc;
}

static int s_ingest_rdf(s_ingest *in, FILE *f, const char *name, const char *syntax)
{
    char err[512];
    mida_quads_clear(in->apply.batch);
    int prc = mida_quads_parse_file(in->ctx, in->apply.batch, f, name, syntax, NULL, err, sizeof err);
    if (prc) {
        tool_err(CMD, "%s", *err ? err : mida_strerror(prc));
        return EXIT_FAIL;
    }
    if (mida_linker_apply(in->apply.store, in->apply.batch, &in->apply.stats)) {
        tool_err(CMD, "%s: %s", name, mida_store_errmsg(in->apply.store));
        return EXIT_FAIL;
    }
    return 0;
}

int tool_ingest(mida_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'}, {"base", required_argument, NULL, 'b'},
        {"alias", required_argument, NULL, 'a'}, {"no-promote", no_argument, NULL, 'P'},
        {"backend", required_argument, NULL, 'B'}, {"syntax", required_argument, NULL, 'S'},
        {"quiet", no_argument, NULL, 'q'},       {"progress", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *dir = NULL, *base = NULL, *backend = NULL, *syntax = NULL;
    bool no_promote = false, quiet = false, progress = isatty(2);
    mida_buf_t aliases;
    mida_buf_init(&aliases, 1 << 20);
    size_t n_alias = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:b:a:qh", opts, NULL)) != -1) {
        switch (c) {
        case 's': dir = optarg; break;
        case 'b': base = optarg; break;
        case 'a':
            if (!strchr(optarg, '=') || optarg[0] == '=' || strchr(optarg, '\n')) {
                mida_buf_free(&aliases);
                return tool_usage_error(CMD, "--alias wants FROM=TO, got '%s'", optarg);
            }
            if (++n_alias > TOOL_MAX_ALIASES) {
                mida_buf_free(&aliases);
                return tool_usage_error(CMD, "at most %d --alias options", TOOL_MAX_ALIASES);
            }
            mida_buf_printf(&aliases, "%s%s", aliases.len ? "\n" : "", optarg);
            break;
        case 'P': no_promote = true; break;
        case 'B': backend = optarg; break;
        case 'S': syntax = optarg; break;
        case 'q': quiet = true; break;
        case 'p': progress = true; break;
        case 'h': s_help(); mida_buf_free(&aliases); return EXIT_OK;
        default: mida_buf_free(&aliases); return tool_usage_error(CMD, "unknown or incomplete option");
        }
    }
    if (!dir) {
        mida_buf_free(&aliases);
        return tool_usage_error(CMD, "--store DIR is required");
    }
    if (optind >= argc) {
        mida_buf_free(&aliases);
        return tool_usage_error(CMD, "no input FILE given ('-' reads standard input)");
    }
    if (base && strncmp(base, "http://", 7) && strncmp(base, "https://", 8) &&
        strncmp(base, "urn:", 4)) {
        mida_buf_free(&aliases);
        return tool_usage_error(CMD, "--base must be an absolute http(s) or urn IRI, got '%s'", base);
    }
    if (syntax && strcmp(syntax, "jsonl") && strcmp(syntax, "turtle") && strcmp(syntax, "ntriples") &&
        strcmp(syntax, "nquads") && strcmp(syntax, "trig") && strcmp(syntax, "rdfxml")) {
        mida_buf_free(&aliases);
        return tool_usage_error(CMD, "unknown --syntax '%s'", syntax);
    }
    if (backend && strcmp(backend, "memory") && strcmp(backend, "bdb")) {
        mida_buf_free(&aliases);
        return tool_usage_error(CMD, "unknown --backend '%s' (memory or bdb)", backend);
    }

    s_ingest in = {.ctx = ctx, .quiet = quiet, .progress = progress && !quiet};
    mida_store_opts_t so = {MIDA_STORE_WRITE | MIDA_STORE_CREATE, backend};
    int rc = tool_apply_open(&in.apply, ctx, CMD, dir, &so, base, mida_buf_str(&aliases), no_promote);
    mida_buf_free(&aliases);
    if (rc)
        return rc;
    long size_before = in.apply.size_before;
    in.started = in.last_progress = tool_now();
    for (int i = optind; !rc && i < argc; i++) {
        const char *name = argv[i];
        const char *rdf = syntax ? (strcmp(syntax, "jsonl") ? syntax : NULL)
                                 : mida_quads_syntax_for_name(name);
        FILE *f = strcmp(name, "-") ? fopen(name, "rb") : stdin;
        if (!f) {
            tool_err(CMD, "cannot open %s: %s", name, strerror(errno));
            rc = EXIT_FAIL;
            break;
        }
        in.files++;
        rc = rdf ? s_ingest_rdf(&in, f, name, rdf) : s_ingest_jsonl(&in, f, name);
        if (f != stdin)
            fclose(f);
    }
    if (!rc && mida_store_snapshot(in.apply.store)) {
        tool_err(CMD, "%s", mida_store_errmsg(in.apply.store));
        rc = EXIT_FAIL;
    }
    if (rc == 0) {
        long size_after = mida_store_size(in.apply.store);
        s_show_progress(&in, true);
        if (!quiet)
            fprintf(stderr,
                    "mida ingest: %zu file%s, %zu record%s loaded, %zu refused; store %s has %ld "
                    "triples (%+ld), %zu derived links added\n",
                    in.files, in.files == 1 ? "" : "s", in.records - in.refused,
                    in.records - in.refused == 1 ? "" : "s", in.refused, dir,
                    size_after, size_after - size_before, in.apply.stats.derived);
    } else {
        tool_err(CMD, "nothing was saved to %s", dir);
    }
    tool_apply_close(&in.apply, rc != 0);
    if (rc)
        return rc;
    return in.refused ? EXIT_PARTIAL : EXIT_OK;
}
