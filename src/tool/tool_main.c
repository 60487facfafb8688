/* tool_main.c - `mida`, the command-line program: dispatch and shared helpers. */
#include "tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const tool_cmd_t s_cmds[] = {
    {"ingest", "load task records (JSON lines) and RDF files into a store", tool_ingest},
    {"sparql", "ask a store, or any SPARQL endpoint, a SPARQL query", tool_sparql},
    {"export", "write a store's graph as Turtle, N-Triples, N-Quads, TriG, RDF/XML or JSON-LD",
     tool_export},
    {"serve", "run the integrator: receive live provenance and apply it to a store", tool_serve},
    {"emit", "send task records (JSON lines) to a running integrator", tool_emit},
    {"observe", "watch a workflow tool's database, files or REST API and send its tasks",
     tool_observe},
    {"status", "ask a running integrator for its counters", tool_status},
    {"keygen", "make a CURVE key pair for encrypted, authenticated links", tool_keygen},
};

static void s_help(FILE *out)
{
    fprintf(out,
            "Usage: mida COMMAND [OPTIONS]...\n"
            "Capture workflow provenance as W3C PROV-O and query it with SPARQL.\n\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        fprintf(out, "  %-8s %s\n", s_cmds[i].name, s_cmds[i].summary);
    fprintf(out,
            "\n"
            "  mida COMMAND --help   shows the options of a command\n"
            "  mida --version        prints the version\n\n"
            "Exit status: 0 success, 1 failure, 2 usage error, 3 some input records refused.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        s_help(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        s_help(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("mida %s\n", MIDA_VERSION_STRING);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++) {
        if (strcmp(argv[1], s_cmds[i].name))
            continue;
        mida_ctx_t *ctx = mida_ctx_new();
        if (!ctx) {
            fprintf(stderr, "mida: out of memory\n");
            return EXIT_FAIL;
        }
        mida_log_level_t min = mida_log_level_from_env(MIDA_LOG_WARN);
        union {
            const char *name;
            void *ud;
        } cmd = {.name = s_cmds[i].name}; /* the handler only reads it */
        mida_ctx_set_log(ctx, tool_log, cmd.ud, min);
        int rc = s_cmds[i].run(ctx, argc - 1, argv + 1);
        mida_ctx_destroy(&ctx);
        if (fflush(stdout) != 0 && rc == EXIT_OK) {
            fprintf(stderr, "mida %s: cannot write the output: %s\n", s_cmds[i].name, strerror(errno));
            rc = EXIT_FAIL;
        }
        return rc;
    }
    fprintf(stderr, "mida: unknown command '%s'\nTry 'mida --help'.\n", argv[1]);
    return EXIT_USAGE;
}

void tool_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mida %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int tool_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mida %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'mida %s --help'.\n", cmd);
    va_end(ap);
    return EXIT_USAGE;
}

void tool_log(void *ud, mida_log_level_t level, mida_facility_t facility, int code,
              const mida_locator_t *where, const char *message)
{
    const char *cmd = ud;
    fprintf(stderr, "mida %s: %s: ", cmd, mida_log_level_name(level));
    if (where && where->file) {
        fprintf(stderr, "%s", where->file);
        if (where->line > 0)
            fprintf(stderr, ":%ld", where->line);
        if (where->column > 0)
            fprintf(stderr, ":%ld", where->column);
        fputs(": ", stderr);
    }
    fprintf(stderr, "%s\n", message);
}

char *tool_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return NULL;
    mida_buf_t b;
    mida_buf_init(&b, max);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = mida_buf_add(&b, chunk, n);
    int err = ferror(f) ? errno : rc == MIDA_ETOOBIG ? EFBIG : rc ? ENOMEM : 0;
    if (f != stdin)
        fclose(f);
    if (err) {
        mida_buf_free(&b);
        errno = err;
        return NULL;
    }
    if (len)
        *len = b.len;
    char *s = mida_buf_detach(&b);
    return s ? s : strdup("");
}

int tool_out_open(tool_out_t *o, const char *path)
{
    memset(o, 0, sizeof *o);
    if (!path || !strcmp(path, "-")) {
        o->f = stdout;
        return 0;
    }
    size_t n = strlen(path) + 32;
    o->path = strdup(path);
    o->tmp = malloc(n);
    if (!o->path || !o->tmp) {
        free(o->path);
        free(o->tmp);
        errno = ENOMEM;
        return -1;
    }
    snprintf(o->tmp, n, "%s.tmp%ld", path, (long)getpid());
    o->f = fopen(o->tmp, "wb");
    if (!o->f) {
        int e = errno;
        free(o->path);
        free(o->tmp);
        errno = e;
        return -1;
    }
    return 0;
}

int tool_out_close(tool_out_t *o, bool ok)
{
    if (o->f == stdout)
        return fflush(stdout) == 0 || !ok ? 0 : -1;
    int rc = 0;
    if (fclose(o->f) != 0)
        rc = -1;
    if (ok && rc == 0 && rename(o->tmp, o->path) != 0)
        rc = -1;
    if (!ok || rc)
        unlink(o->tmp);
    free(o->path);
    free(o->tmp);
    return rc;
}

double tool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int tool_store_settings(const char *cmd, mida_store_t *store, const char *base,
                        const char *aliases_text, bool no_promote)
{
    const char *kept_base = mida_store_meta_get(store, "base");
    const char *kept_aliases = mida_store_meta_get(store, "aliases");
    const char *kept_promote = mida_store_meta_get(store, "promote");
    if (!aliases_text)
        aliases_text = "";
    if (kept_base && base && strcmp(kept_base, base)) {
        tool_err(cmd, "store %s was created with base %s, not %s", mida_store_dir(store),
                 kept_base, base);
        return EXIT_FAIL;
    }
    if (kept_aliases && *aliases_text && strcmp(kept_aliases, aliases_text)) {
        tool_err(cmd, "store %s was created with other location aliases (%s)",
                 mida_store_dir(store), kept_aliases);
        return EXIT_FAIL;
    }
    if (kept_promote && no_promote && strcmp(kept_promote, "no")) {
        tool_err(cmd, "store %s was created with promotion %s", mida_store_dir(store),
                 kept_promote);
        return EXIT_FAIL;
    }
    if (!kept_base || !kept_aliases || !kept_promote) {
        if (mida_store_meta_set(store, "base", kept_base ? kept_base : base ? base : MIDA_DEFAULT_BASE) ||
            mida_store_meta_set(store, "aliases", kept_aliases ? kept_aliases : aliases_text) ||
            mida_store_meta_set(store, "promote",
                                kept_promote ? kept_promote : no_promote ? "no" : "yes")) {
            tool_err(cmd, "cannot record the settings of store %s", mida_store_dir(store));
            return EXIT_FAIL;
        }
    }
    return 0;
}

mida_store_t *tool_open_reader(mida_ctx_t *ctx, const char *cmd, const char *dir)
{
    char err[1024];
    mida_store_opts_t so = {MIDA_STORE_READONLY, NULL};
    mida_store_t *store = mida_store_open(ctx, dir, &so, err, sizeof err);
    if (!store) {
        tool_err(cmd, "%s", err);
        return NULL;
    }
    long long pending = mida_integrator_log_pending(store);
    if (pending > 0)
        fprintf(stderr,
                "mida %s: note: %s has %lld bytes of write-ahead log not yet in its snapshot "
                "(`mida serve` is running, or stopped without a snapshot); this answer is from "
                "the last snapshot\n",
                cmd, mida_store_dir(store), pending);
    return store;
}
