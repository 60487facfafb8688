/* tool_serve.c - `mida serve` (the integrator), `mida status` and
 * `mida keygen`. */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_ALIASES 64
#define MAX_CLIENTS 1024

static mida_integrator_t *s_running;

static void s_on_signal(int sig)
{
    (void)sig;
    mida_integrator_stop(s_running);
}

static void s_serve_help(void)
{
    printf(
        "Usage: mida serve --store DIR [OPTIONS]\n"
        "Run the integrator and the HTTP endpoint on the store in DIR (created if\n"
        "missing).  The integrator receives provenance batches from emitters (`mida\n"
        "emit`, the capture API, adapters) over ZeroMQ; every batch is written to a\n"
        "log and synced before it is acknowledged, so a crash loses nothing that was\n"
        "acknowledged: the next start replays the log.  The HTTP endpoint answers\n"
        "SPARQL at /sparql, serves graphs at /data, a page for every minted IRI, the\n"
        "query web page at /, and /status and /metrics (docs/endpoint.md).\n"
        "Standard output: line 1 the web address (http://HOST:PORT/, or 'http: off'),\n"
        "line 2 the ZeroMQ endpoint.  Events go to standard error, one line each.\n"
        "SIGINT or SIGTERM stops it cleanly (a snapshot is taken).\n\n"
        "Options:\n"
        "  -s, --store DIR              the store directory (required)\n"
        "  -l, --listen ENDPOINT        tcp://HOST:PORT or ipc://PATH (default\n"
        "                               " MIDA_DEFAULT_ENDPOINT "; port 0 picks a free one)\n"
        "  -b, --base IRI               base of minted IRIs, for a new store\n"
        "  -a, --alias FROM=TO          location alias, for a new store (repeatable)\n"
        "      --no-promote             for a new store: path/URI strings stay values\n"
        "      --backend NAME           back end of a new store: memory (default) or bdb\n"
        "      --snapshot-interval S    snapshot when the log is S seconds old (300)\n"
        "      --snapshot-log-mb N      or when it holds N MiB (256)\n"
        "      --max-message-mb N       refuse larger messages (64)\n"
        "      --curve-key-file FILE    enable CURVE: this server's secret key (from\n"
        "                               `mida keygen`); clients need its public key\n"
        "      --curve-clients FILE     allow only these client public keys, one a line\n"
        "      --no-fsync               acknowledge before the log is on disk (benchmarks\n"
        "                               only: a crash may lose acknowledged batches)\n"
        "      --http HOST:PORT         where the HTTP endpoint listens (default\n"
        "                               " MIDA_DEFAULT_HTTP "; port 0 picks a free one;\n"
        "                               'off' for none)\n"
        "      --query-timeout S        a query running longer fails (60)\n"
        "      --max-rows N             a query answering more rows fails (100000)\n"
        "      --max-queries N          queries running or waiting at once; more get 503 (8)\n"
        "      --update-token-file FILE allow SPARQL Update (INSERT/DELETE DATA) to requests\n"
        "                               with 'Authorization: Bearer TOKEN', TOKEN being the\n"
        "                               first line of FILE (16 characters at least)\n"
        "  -h, --help                   show this help\n\n"
        "Environment: MIDA_LOG_LEVEL=debug|info|warn|error (default info here).\n"
        "Exit status: 0 stopped cleanly, 1 failure, 2 usage error.\n");
}

static void s_serve_log(void *ud, mida_log_level_t level, mida_facility_t facility, int code,
                        const mida_locator_t *where, const char *message)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    fprintf(stderr, "%s mida serve: %s: %s\n", ts, mida_log_level_name(level), message);
}

/* Reads the allowed client keys: one Z85 key a line, '#' comments. */
static int s_read_clients(const char *path, char ***out, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        tool_err("serve", "cannot read %s: %s", path, strerror(errno));
        return EXIT_FAIL;
    }
    char line[256];
    long lineno = 0;
    char **keys = calloc(MAX_CLIENTS + 1, sizeof *keys);
    int rc = keys ? 0 : EXIT_FAIL;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, " \t\r\n");
        if (!len || *p == '#')
            continue;
        p[len] = '\0';
        if (!mida_curve_key_valid(p)) {
            tool_err("serve", "%s:%ld: not a CURVE public key (40 Z85 characters)", path, lineno);
            rc = EXIT_FAIL;
        } else if (*n == MAX_CLIENTS) {
            tool_err("serve", "%s: more than %d keys", path, MAX_CLIENTS);
            rc = EXIT_FAIL;
        } else {
            keys[(*n)++] = strdup(p);
        }
    }
    fclose(f);
    if (!rc && *n == 0) {
        tool_err("serve", "%s lists no client keys", path);
        rc = EXIT_FAIL;
    }
    *out = keys;
    return rc;
}

static void s_free_keys(char **keys)
{
    for (size_t i = 0; keys && keys[i]; i++)
        free(keys[i]);
    free(keys);
}

int tool_serve(mida_ctx_t *ctx, int argc, char **argv)
{
    static const char *CMD = "serve";
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'}, {"listen", required_argument, NULL, 'l'},
        {"base", required_argument, NULL, 'b'}, {"alias", required_argument, NULL, 'a'},
        {"no-promote", no_argument, NULL, 'P'}, {"backend", required_argument, NULL, 'B'},
        {"snapshot-interval", required_argument, NULL, 'I'},
        {"snapshot-log-mb", required_argument, NULL, 'M'},
        {"max-message-mb", required_argument, NULL, 'X'},
        {"curve-key-file", required_argument, NULL, 'K'},
        {"curve-clients", required_argument, NULL, 'C'},
        {"no-fsync", no_argument, NULL, 'F'},
        {"http", required_argument, NULL, 'H'},
        {"query-timeout", required_argument, NULL, 'T'},
        {"max-rows", required_argument, NULL, 'R'},
        {"max-queries", required_argument, NULL, 'Q'},
        {"update-token-file", required_argument, NULL, 'U'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *dir = NULL, *listen = NULL, *base = NULL, *backend = NULL, *keyfile = NULL,
               *clients_file = NULL;
    bool no_promote = false;
    mida_integrator_opts_t io = {0};
    mida_httpd_opts_t ho = {0};
    bool http_off = false;
    const char *token_file = NULL;
    char token[256] = "";
    char aliases[8192] = "";
    size_t n_alias = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:l:b:a:h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 's': dir = optarg; break;
        case 'l': listen = optarg; break;
        case 'b': base = optarg; break;
        case 'a':
            if (!strchr(optarg, '=') || optarg[0] == '=' || strchr(optarg, '\n'))
                return tool_usage_error(CMD, "--alias wants FROM=TO, got '%s'", optarg);
            if (++n_alias > MAX_ALIASES ||
                strlen(aliases) + strlen(optarg) + 2 > sizeof aliases)
                return tool_usage_error(CMD, "too many --alias options");
            snprintf(aliases + strlen(aliases), sizeof aliases - strlen(aliases), "%s%s",
                     *aliases ? "\n" : "", optarg);
            break;
        case 'P': no_promote = true; break;
        case 'B': backend = optarg; break;
        case 'I':
            io.snapshot_interval_s = (unsigned)strtoul(optarg, &end, 10);
            if (!*optarg || *end || !io.snapshot_interval_s)
                return tool_usage_error(CMD, "--snapshot-interval wants seconds > 0, got '%s'", optarg);
            break;
        case 'M':
            io.snapshot_log_bytes = (size_t)strtoul(optarg, &end, 10) << 20;
            if (!*optarg || *end || !io.snapshot_log_bytes)
                return tool_usage_error(CMD, "--snapshot-log-mb wants a number > 0, got '%s'", optarg);
            break;
        case 'X':
            io.max_payload = (size_t)strtoul(optarg, &end, 10) << 20;
            if (!*optarg || *end || !io.max_payload || io.max_payload > (1u << 30))
                return tool_usage_error(CMD, "--max-message-mb wants 1..1024, got '%s'", optarg);
            break;
        case 'K': keyfile = optarg; break;
        case 'C': clients_file = optarg; break;
        case 'F': io.no_fsync = true; break;
        case 'H':
            if (!strcmp(optarg, "off"))
                http_off = true;
            else if (!strchr(optarg, ':'))
                return tool_usage_error(CMD, "--http wants HOST:PORT or off, got '%s'", optarg);
            else
                ho.listen = optarg, http_off = false;
            break;
        case 'T':
            ho.timeout_s = strtod(optarg, &end);
            if (!*optarg || *end || !(ho.timeout_s > 0))
                return tool_usage_error(CMD, "--query-timeout wants seconds > 0, got '%s'", optarg);
            break;
        case 'R':
            ho.max_rows = (size_t)strtoull(optarg, &end, 10);
            if (!*optarg || *end || !ho.max_rows || optarg[0] == '-')
                return tool_usage_error(CMD, "--max-rows wants a number > 0, got '%s'", optarg);
            break;
        case 'Q':
            ho.max_queries = (unsigned)strtoul(optarg, &end, 10);
            if (!*optarg || *end || !ho.max_queries || ho.max_queries > 1024)
                return tool_usage_error(CMD, "--max-queries wants 1..1024, got '%s'", optarg);
            break;
        case 'U': token_file = optarg; break;
        case 'h': s_serve_help(); return EXIT_OK;
        default: return tool_usage_error(CMD, "unknown or incomplete option");
        }
    }
    if (!dir)
        return tool_usage_error(CMD, "--store DIR is required");
    if (optind < argc)
        return tool_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (clients_file && !keyfile)
        return tool_usage_error(CMD, "--curve-clients needs --curve-key-file");
    if (backend && strcmp(backend, "memory") && strcmp(backend, "bdb"))
        return tool_usage_error(CMD, "unknown --backend '%s' (memory or bdb)", backend);
    if (base && strncmp(base, "http://", 7) && strncmp(base, "https://", 8) &&
        strncmp(base, "urn:", 4))
        return tool_usage_error(CMD, "--base must be an absolute http(s) or urn IRI, got '%s'", base);

    if (token_file) {
        FILE *tf = fopen(token_file, "r");
        if (!tf) {
            tool_err(CMD, "cannot read %s: %s", token_file, strerror(errno));
            return EXIT_FAIL;
        }
        if (!fgets(token, sizeof token, tf))
            token[0] = '\0';
        fclose(tf);
        token[strcspn(token, "\r\n")] = '\0';
        if (strlen(token) < 16 || strpbrk(token, " \t")) {
            tool_err(CMD, "%s: the update token must be one line of 16 or more characters "
                          "without spaces", token_file);
            return EXIT_FAIL;
        }
        ho.update_token = token;
    }
    mida_ctx_set_log(ctx, s_serve_log, NULL, mida_log_level_from_env(MIDA_LOG_INFO));
    char err[512], secret[41], pub[41];
    char **clients = NULL;
    size_t n_clients = 0;
    if (keyfile) {
        if (mida_curve_read_secret(keyfile, secret, pub, err, sizeof err)) {
            tool_err(CMD, "%s", err);
            return EXIT_FAIL;
        }
        io.curve_secret_key = secret;
        io.curve_public_key = pub;
        if (clients_file && s_read_clients(clients_file, &clients, &n_clients)) {
            s_free_keys(clients);
            return EXIT_FAIL;
        }
        io.curve_clients = (const char *const *)clients;
    }
    double t0 = tool_now();
    mida_store_opts_t so = {MIDA_STORE_WRITE | MIDA_STORE_CREATE, backend};
    mida_store_t *store = mida_store_open(ctx, dir, &so, err, sizeof err);
    if (!store) {
        tool_err(CMD, "%s", err);
        s_free_keys(clients);
        return EXIT_FAIL;
    }
    int rc = tool_store_settings(CMD, store, base, aliases, no_promote);
    io.listen = listen;
    mida_integrator_t *it = rc ? NULL : mida_integrator_new(ctx, store, &io, err, sizeof err);
    if (!rc && !it) {
        tool_err(CMD, "%s", err);
        rc = EXIT_FAIL;
    }
    mida_httpd_t *httpd = NULL;
    if (!rc && !http_off) {
        ho.integrator = it;
        httpd = mida_httpd_new(ctx, store, &ho, err, sizeof err);
        if (!httpd) {
            tool_err(CMD, "%s", err);
            rc = EXIT_FAIL;
        }
    }
    if (!rc) {
        printf("%s\n", httpd ? mida_httpd_url(httpd) : "http: off");
        printf("%s\n", mida_integrator_endpoint(it));
        fflush(stdout);
        mida_integrator_stats_t st;
        mida_integrator_stats(it, &st);
        fprintf(stderr, "mida serve: store %s ready in %.1f s: %lld triples, %llu batches "
                "replayed from the log%s\n", dir, tool_now() - t0, (long long)st.store_triples,
                (unsigned long long)st.replayed, keyfile ? "; CURVE on" : "");
        s_running = it;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = s_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        if (mida_integrator_run(it)) {
            tool_err(CMD, "the final snapshot failed; the log is kept and replayed at the next start");
            rc = EXIT_FAIL;
        }
        mida_integrator_stats(it, &st);
        fprintf(stderr, "mida serve: stopped: %llu batches applied, %llu duplicates, %llu refused\n",
                (unsigned long long)st.applied, (unsigned long long)st.duplicates,
                (unsigned long long)st.refused);
        s_running = NULL;
    }
    mida_httpd_destroy(&httpd);
    mida_integrator_destroy(&it);
    mida_store_close(&store);
    s_free_keys(clients);
    return rc;
}

/* ---- mida status ------------------------------------------------------ */

int tool_status(mida_ctx_t *ctx, int argc, char **argv)
{
    static const char *CMD = "status";
    static const struct option opts[] = {{"to", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"timeout", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *to = NULL;
    bool as_json = false;
    double timeout = 5;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:jh", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 't': to = optarg; break;
        case 'j': as_json = true; break;
        case 'T':
            timeout = strtod(optarg, &end);
            if (!*optarg || *end || timeout <= 0)
                return tool_usage_error(CMD, "--timeout wants seconds > 0, got '%s'", optarg);
            break;
        case 'h':
            printf("Usage: mida status [--to ENDPOINT] [--json] [--timeout SECONDS]\n"
                   "Ask a running integrator (`mida serve`) what it has received, applied and\n"
                   "refused, the size of its log and its lag (age of the oldest batch not yet\n"
                   "in a snapshot).\n\n"
                   "Options:\n"
                   "  -t, --to ENDPOINT    the integrator (default $MIDA_ENDPOINT, then\n"
                   "                       " MIDA_DEFAULT_ENDPOINT ")\n"
                   "  -j, --json           print the counters as one JSON object\n"
                   "      --timeout S      give up after S seconds without an answer (5)\n"
                   "  -h, --help           show this help\n\n"
                   "Exit status: 0 answered, 1 no answer, 2 usage error.\n");
            return EXIT_OK;
        default: return tool_usage_error(CMD, "unknown or incomplete option");
        }
    }
    if (optind < argc)
        return tool_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    char *json = NULL, err[512];
    if (mida_emitter_query_status(to, (unsigned)(timeout * 1000), &json, err, sizeof err)) {
        tool_err(CMD, "%s", err);
        return EXIT_FAIL;
    }
    if (as_json) {
        printf("%s\n", json);
    } else {
        json_t *o = json_loads(json, 0, NULL);
        const char *key;
        json_t *v;
        json_object_foreach(o, key, v) {
            if (json_is_real(v))
                printf("%-16s %.3f\n", key, json_real_value(v));
            else
                printf("%-16s %lld\n", key, (long long)json_integer_value(v));
        }
        json_decref(o);
    }
    free(json);
    return EXIT_OK;
}

/* ---- mida keygen ------------------------------------------------------ */

int tool_keygen(mida_ctx_t *ctx, int argc, char **argv)
{
    static const char *CMD = "keygen";
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("Usage: mida keygen [SECRET_FILE]\n"
               "Make a CURVE key pair for the integrator (its key file option) or for an emitter\n"
               "(MIDA_CURVE_KEY_FILE).  The secret key is written to SECRET_FILE (mode\n"
               "0600; it must not exist yet) or, without it, to standard output; the public\n"
               "key is printed on standard output as \"public: KEY\".\n\n"
               "Options:\n"
               "  -h, --help   show this help\n");
        return EXIT_OK;
    }
    if (argc > 2)
        return tool_usage_error(CMD, "at most one SECRET_FILE");
    if (argc == 2 && argv[1][0] == '-')
        return tool_usage_error(CMD, "unknown option '%s'", argv[1]);
    char pub[41], secret[41];
    if (mida_curve_keypair(pub, secret)) {
        tool_err(CMD, "this libzmq has no CURVE support");
        return EXIT_FAIL;
    }
    if (argc == 2) {
        FILE *f = NULL;
        int fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd >= 0)
            f = fdopen(fd, "w");
        if (!f || fprintf(f, "# mida CURVE secret key; public: %s\n%s\n", pub, secret) < 0 ||
            fclose(f)) {
            tool_err(CMD, "cannot write %s: %s", argv[1], strerror(errno));
            return EXIT_FAIL;
        }
    } else {
        printf("secret: %s\n", secret);
    }
    printf("public: %s\n", pub);
    return EXIT_OK;
}
