/* tool_emit.c - `mida emit`: task records (JSON lines) to a running
 * integrator, through the library's emitter. */
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE (64u << 20)
#define MAX_WARNINGS 20

static const char *CMD = "emit";

static void s_help(void)
{
    printf(
        "Usage: mida emit [OPTIONS] [FILE...]\n"
        "Send task records (one JSON object a line; '-' or no FILE: standard input) to\n"
        "a running integrator (`mida serve`), and wait until it has acknowledged them.\n"
        "Records are checked here first: one that is not valid is reported with its\n"
        "file, line and reason, and not sent.  When the integrator cannot be reached\n"
        "the records wait in the spool directory and the next emitter (any `mida emit`\n"
        "or capture API program using the same spool directory) sends them.\n\n"
        "Options:\n"
        "  -t, --to ENDPOINT      the integrator (default $MIDA_ENDPOINT, then\n"
        "                         " MIDA_DEFAULT_ENDPOINT ")\n"
        "      --timeout S        wait at most S seconds for acknowledgements (30)\n"
        "      --batch N          records per batch (256)\n"
        "      --spool-dir DIR    where undelivered records wait (default\n"
        "                         $MIDA_SPOOL_DIR, then ${TMPDIR:-/tmp}/mida-spool-UID)\n"
        "  -q, --quiet            no summary line\n"
        "  -h, --help             show this help\n\n"
        "Exit status: 0 every record acknowledged, 1 some were not (they are in the\n"
        "spool, or the integrator refused them), 2 usage error, 3 all sent records\n"
        "acknowledged but some records were not valid.\n");
}

int tool_emit(mida_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, NULL, 't'},       {"timeout", required_argument, NULL, 'T'},
        {"batch", required_argument, NULL, 'b'},    {"spool-dir", required_argument, NULL, 'S'},
        {"quiet", no_argument, NULL, 'q'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    mida_emitter_opts_t eo = {0};
    double timeout = 30;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:qh", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 't': eo.endpoint = optarg; break;
        case 'T':
            timeout = strtod(optarg, &end);
            if (!*optarg || *end || timeout < 0)
                return tool_usage_error(CMD, "--timeout wants seconds, got '%s'", optarg);
            break;
        case 'b':
            eo.batch_records = strtoul(optarg, &end, 10);
            if (!*optarg || *end || !eo.batch_records || eo.batch_records > 100000)
                return tool_usage_error(CMD, "--batch wants 1..100000, got '%s'", optarg);
            break;
        case 'S': eo.spool_dir = optarg; break;
        case 'q': quiet = true; break;
        case 'h': s_help(); return EXIT_OK;
        default: return tool_usage_error(CMD, "unknown or incomplete option");
        }
    }
    /* a command-line tool may wait for room: nothing is dropped */
    eo.block_ms = 60000;
    char err[512];
    mida_emitter_t *em = mida_emitter_new(ctx, &eo, err, sizeof err);
    if (!em) {
        tool_err(CMD, "%s", err);
        return EXIT_FAIL;
    }
    char *const stdin_only[] = {(char *)"-"};
    char *const *files = optind < argc ? argv + optind : stdin_only;
    int n_files = optind < argc ? argc - optind : 1;
    size_t sent = 0, invalid = 0, warnings = 0;
    int rc = 0;
    char *line = NULL;
    size_t cap = 0;
    double t0 = tool_now();
    for (int i = 0; i < n_files && !rc; i++) {
        const char *name = files[i];
        FILE *f = strcmp(name, "-") ? fopen(name, "rb") : stdin;
        if (!f) {
            tool_err(CMD, "cannot open %s: %s", name, strerror(errno));
            rc = EXIT_FAIL;
            break;
        }
        long lineno = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) > 0) {
            lineno++;
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
            size_t skip = strspn(line, " \t");
            if ((size_t)n == skip)
                continue;
            if ((size_t)n > MAX_LINE) {
                tool_err(CMD, "%s:%ld: record of %zd bytes is over the limit", name, lineno, n);
                invalid++;
                continue;
            }
            mida_task_t *task = NULL;
            if (mida_task_parse(line, (size_t)n, &task, err, sizeof err)) {
                if (warnings++ < MAX_WARNINGS)
                    tool_err(CMD, "%s:%ld: %s", name, lineno, err);
                invalid++;
                continue;
            }
            mida_task_destroy(&task);
            int src = mida_emitter_send(em, line, (size_t)n);
            if (src) {
                tool_err(CMD, "%s:%ld: not sent: %s", name, lineno, mida_strerror(src));
                rc = EXIT_FAIL;
                break;
            }
            sent++;
        }
        if (ferror(f)) {
            tool_err(CMD, "cannot read %s: %s", name, strerror(errno));
            rc = EXIT_FAIL;
        }
        if (f != stdin)
            fclose(f);
    }
    free(line);
    if (warnings > MAX_WARNINGS)
        tool_err(CMD, "%zu more records not valid", warnings - MAX_WARNINGS);
    mida_emitter_flush(em, (unsigned)(timeout * 1000));
    mida_emitter_stats_t st;
    mida_emitter_stats(em, &st);
    int crc = mida_emitter_close(&em, 0);
    uint64_t unacked = sent - (st.acked < sent ? st.acked : sent);
    if (!quiet || unacked || st.refused)
        fprintf(stderr,
                "mida emit: %zu records sent, %llu acknowledged (%llu quads), %llu refused, "
                "%zu not valid, in %.2f s%s\n",
                sent, (unsigned long long)st.acked, (unsigned long long)st.quads_acked,
                (unsigned long long)st.refused, invalid, tool_now() - t0,
                crc == MIDA_EAGAIN ? "; the rest is in the spool" : "");
    if (rc)
        return rc;
    if (unacked || st.refused || crc)
        return EXIT_FAIL;
    return invalid ? EXIT_PARTIAL : EXIT_OK;
}
