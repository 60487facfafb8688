/* tool_observe.c - `mida observe ADAPTER`: runs one polling adapter
 * (adapters/<tool>/) in a loop, or once, and delivers its records to the
 * integrator, a store or a JSON-lines file.
 *
 * The cursor is saved only at a point where the sink holds every record
 * emitted so far: after the integrator acknowledged them (or the emitter
 * spooled them to disk at exit), after the store's snapshot, after the
 * JSON-lines file was synced.  A crash in between re-sends, never skips.
 */
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *CMD = "observe";

#define MIDA_ADAPTER(n) extern const mida_adapter_t mida_adapter_##n;
#include "adapter_table.h"
#undef MIDA_ADAPTER

static const mida_adapter_t *const s_adapters[] = {
#define MIDA_ADAPTER(n) &mida_adapter_##n,
#include "adapter_table.h"
#undef MIDA_ADAPTER
    NULL};

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static const mida_adapter_t *s_find(const char *name)
{
    for (size_t i = 0; s_adapters[i]; i++)
        if (!strcmp(s_adapters[i]->name, name))
            return s_adapters[i];
    return NULL;
}

static void s_list(FILE *out)
{
    for (size_t i = 0; s_adapters[i]; i++)
        fprintf(out, "  %-10s %s\n", s_adapters[i]->name, s_adapters[i]->summary);
}

static void s_help(const mida_adapter_t *ad)
{
    printf("Usage: mida observe %s [OPTIONS]%s\n", ad ? ad->name : "ADAPTER",
           ad ? "" : " [ADAPTER OPTIONS]");
    printf(
        "Watch what a workflow tool already writes (a database, files, a REST API)\n"
        "and turn it into task records, without changing the tool or the user's code.\n"
        "Each poll sends what is new since the last one.  The adapter's cursor (rowids,\n"
        "file offsets, ids seen) is saved once the records are safe (acknowledged by\n"
        "the integrator, in the store's snapshot, or synced to the file), so a\n"
        "restarted observer resumes where the last one stopped: nothing is skipped,\n"
        "and little is sent twice (sending twice is harmless).  The tool's files are\n"
        "opened read-only.  SIGINT or SIGTERM stops it after the current poll.\n\n"
        "Where the records go (one of):\n"
        "  -t, --to ENDPOINT        a running integrator (`mida serve`); the default:\n"
        "                           $MIDA_ENDPOINT, then " MIDA_DEFAULT_ENDPOINT "\n"
        "  -s, --to-store DIR       apply them to the store in DIR, as `mida ingest`\n"
        "                           does (created if missing; not while a `mida\n"
        "                           serve` holds it)\n"
        "      --jsonl FILE         write them as JSON lines ('-': standard output)\n\n"
        "Options:\n"
        "      --once               one poll, then exit\n"
        "  -i, --interval S         seconds between polls (default 2)\n"
        "      --max-polls N        stop after N polls\n"
        "      --state DIR          where cursors are kept (default $MIDA_STATE_DIR,\n"
        "                           then ${XDG_STATE_HOME:-~/.local/state}/mida/observe)\n"
        "      --no-state           neither read nor save a cursor: start from the\n"
        "                           beginning every time\n"
        "      --from-start         ignore the saved cursor (it is then overwritten)\n"
        "  -c, --campaign ID        campaign_id of records that carry none\n"
        "      --spool-dir DIR      with --to: where undelivered records wait\n"
        "      --flush-timeout S    with --to: how long a poll waits for the\n"
        "                           integrator's acknowledgement (default 30)\n"
        "  -b, --base IRI           with --to-store: base of minted IRIs (new store)\n"
        "  -a, --alias FROM=TO      with --to-store: location alias (new store; repeatable)\n"
        "      --backend NAME       with --to-store: memory (default) or bdb (new store)\n"
        "  -q, --quiet              no progress lines and no summary\n"
        "      --list               list the adapters\n"
        "  -h, --help               show this help (with ADAPTER: its options too)\n");
    if (ad) {
        printf("\n%s: %s\nOptions of %s:\n", ad->name, ad->summary, ad->name);
        for (const mida_adapter_option_t *o = ad->options; o->name; o++) {
            char left[64];
            snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
            printf("      %-20s %s%s\n", left, o->help, o->required ? " (required)" : "");
        }
    } else {
        printf("\nAdapters (docs/adapters/):\n");
        s_list(stdout);
    }
    printf("\nExit status: 0 done, 1 failure (the cursor stays where the records were\n"
           "last safe), 2 usage error, 3 done, but some items of the source were skipped\n"
           "or some records refused (each is reported).\n");
}

/* ---- sinks ---------------------------------------------------------------- */

typedef enum { SINK_EMITTER, SINK_STORE, SINK_JSONL } s_sink_kind;

typedef struct {
    s_sink_kind kind;
    mida_emitter_t *em;
    tool_apply_t apply;
    FILE *jsonl;
    const char *jsonl_path;
    unsigned flush_ms;
    size_t unsafe;        /* records emitted since the last safe point */
    size_t refused;       /* records the store refused */
    bool warned_waiting;
} s_sink;

static int s_sink_record(void *ud, const char *json, size_t len)
{
    s_sink *k = ud;
    int rc = 0;
    char err[1024];
    const char *unmapped;
    switch (k->kind) {
    case SINK_EMITTER:
        rc = mida_emitter_send(k->em, json, len);
        if (rc)
            tool_err(CMD, "the emitter's buffers stayed full for a minute: stopping");
        break;
    case SINK_STORE:
        rc = tool_apply_record(&k->apply, json, len, err, sizeof err, &unmapped);
        if (rc == MIDA_ERECORD) {
            /* an adapter's record mida cannot map: said, counted, and not
             * a reason to stop the others */
            k->refused++;
            tool_err(CMD, "record refused: %s: %.200s", err, json);
            rc = 0;
        } else if (rc) {
            tool_err(CMD, "%s", err);
        } else if (*unmapped) {
            tool_err(CMD, "fields not mapped: %s in %.200s", unmapped, json);
        }
        break;
    case SINK_JSONL:
        if (fwrite(json, 1, len, k->jsonl) != len || fputc('\n', k->jsonl) == EOF) {
            tool_err(CMD, "cannot write %s: %s", k->jsonl_path, strerror(errno));
            rc = MIDA_EIO;
        }
        break;
    }
    if (!rc)
        k->unsafe++;
    return rc;
}

/* Makes what was emitted safe.  0 when it is (the cursor may be saved),
 * MIDA_EAGAIN when the integrator has not acknowledged yet, another code
 * on failure. */
static int s_sink_settle(s_sink *k)
{
    if (!k->unsafe)
        return 0;
    int rc = 0;
    switch (k->kind) {
    case SINK_EMITTER:
        rc = mida_emitter_flush(k->em, k->flush_ms);
        if (rc == MIDA_EAGAIN && !k->warned_waiting) {
            tool_err(CMD, "the integrator at %s has not acknowledged yet; records wait (and "
                     "are spooled after a while), the cursor is saved once they are delivered",
                     mida_emitter_endpoint(k->em));
            k->warned_waiting = true;
        }
        break;
    case SINK_STORE:
        if (mida_store_snapshot(k->apply.store)) {
            tool_err(CMD, "%s", mida_store_errmsg(k->apply.store));
            rc = MIDA_ESTORE;
        }
        break;
    case SINK_JSONL: {
        struct stat sb;
        if (fflush(k->jsonl) != 0 ||
            (fstat(fileno(k->jsonl), &sb) == 0 && S_ISREG(sb.st_mode) && fsync(fileno(k->jsonl)))) {
            tool_err(CMD, "cannot write %s: %s", k->jsonl_path, strerror(errno));
            rc = MIDA_EIO;
        }
        break;
    }
    }
    if (!rc) {
        k->unsafe = 0;
        k->warned_waiting = false;
    }
    return rc;
}

/* Ends the sink.  0 when everything emitted is safe. */
static int s_sink_close(s_sink *k, bool failed)
{
    int rc = 0;
    switch (k->kind) {
    case SINK_EMITTER: {
        if (!k->em)
            break;
        int crc = mida_emitter_close(&k->em, k->flush_ms);
        /* spooled records are on disk and the next emitter sends them */
        if (crc && crc != MIDA_EAGAIN)
            rc = crc;
        else if (crc == MIDA_EAGAIN)
            tool_err(CMD, "the integrator did not acknowledge everything: the rest is in the "
                     "spool and the next emitter sends it");
        break;
    }
    case SINK_STORE:
        if (!failed)
            rc = s_sink_settle(k);
        tool_apply_close(&k->apply, failed || rc);
        break;
    case SINK_JSONL:
        if (!k->jsonl)
            break;
        if (!failed)
            rc = s_sink_settle(k);
        if (k->jsonl != stdout && fclose(k->jsonl) != 0 && !rc) {
            tool_err(CMD, "cannot write %s: %s", k->jsonl_path, strerror(errno));
            rc = MIDA_EIO;
        }
        break;
    }
    if (!rc)
        k->unsafe = 0;
    return rc;
}

/* ---- the command ------------------------------------------------------------ */

static char *s_default_state_dir(void)
{
    const char *env = getenv("MIDA_STATE_DIR");
    if (env && *env)
        return strdup(env);
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    char buf[4096];
    if (xdg && *xdg)
        snprintf(buf, sizeof buf, "%s/mida/observe", xdg);
    else if (home && *home)
        snprintf(buf, sizeof buf, "%s/.local/state/mida/observe", home);
    else
        return NULL;
    return strdup(buf);
}

static void s_sleep(double seconds)
{
    double until = tool_now() + seconds;
    while (!s_stop) {
        double left = until - tool_now();
        if (left <= 0)
            break;
        if (left > 0.1)
            left = 0.1;   /* a signal is noticed within 100 ms */
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

enum {
    OPT_ONCE = 1000, OPT_MAX_POLLS, OPT_STATE, OPT_NO_STATE, OPT_FROM_START, OPT_JSONL,
    OPT_SPOOL, OPT_FLUSH, OPT_BACKEND, OPT_LIST, OPT_ADAPTER = 2000
};

int tool_observe(mida_ctx_t *ctx, int argc, char **argv)
{
    static const struct option common[] = {
        {"to", required_argument, NULL, 't'}, {"endpoint", required_argument, NULL, 't'},
        {"to-store", required_argument, NULL, 's'},
        {"jsonl", required_argument, NULL, OPT_JSONL}, {"once", no_argument, NULL, OPT_ONCE},
        {"interval", required_argument, NULL, 'i'}, {"max-polls", required_argument, NULL, OPT_MAX_POLLS},
        {"state", required_argument, NULL, OPT_STATE}, {"no-state", no_argument, NULL, OPT_NO_STATE},
        {"from-start", no_argument, NULL, OPT_FROM_START}, {"campaign", required_argument, NULL, 'c'},
        {"spool-dir", required_argument, NULL, OPT_SPOOL},
        {"flush-timeout", required_argument, NULL, OPT_FLUSH},
        {"base", required_argument, NULL, 'b'}, {"alias", required_argument, NULL, 'a'},
        {"backend", required_argument, NULL, OPT_BACKEND}, {"quiet", no_argument, NULL, 'q'},
        {"list", no_argument, NULL, OPT_LIST}, {"help", no_argument, NULL, 'h'}};
    const size_t n_common = sizeof common / sizeof common[0];

    const mida_adapter_t *ad = NULL;
    if (argc > 1 && argv[1][0] != '-') {
        ad = s_find(argv[1]);
        if (!ad) {
            tool_err(CMD, "no adapter '%s'; the adapters are:", argv[1]);
            s_list(stderr);
            return EXIT_USAGE;
        }
        argv[1] = argv[0];   /* the adapter name is consumed */
        argc--;
        argv++;
    }
    size_t n_ad = 0;
    while (ad && ad->options[n_ad].name)
        n_ad++;
    struct option *opts = calloc(n_common + n_ad + 1, sizeof *opts);
    char **values = calloc(n_ad + 1, sizeof *values);
    if (!opts || !values) {
        free(opts);
        free(values);
        tool_err(CMD, "out of memory");
        return EXIT_FAIL;
    }
    memcpy(opts, common, sizeof common);
    for (size_t i = 0; i < n_ad; i++)
        opts[n_common + i] = (struct option){ad->options[i].name,
                                             ad->options[i].arg ? required_argument : no_argument,
                                             NULL, OPT_ADAPTER + (int)i};

    const char *endpoint = NULL, *store_dir = NULL, *jsonl = NULL, *campaign = NULL;
    const char *state_opt = NULL, *spool = NULL, *base = NULL, *backend = NULL;
    bool once = false, no_state = false, from_start = false, quiet = false;
    double interval = 2, flush_s = 30;
    unsigned long max_polls = 0;
    mida_buf_t aliases;
    mida_buf_init(&aliases, 1 << 20);
    int rc = -1, c;
    optind = 1;
    while (rc < 0 && (c = getopt_long(argc, argv, "t:s:i:c:b:a:qh", opts, NULL)) != -1) {
        char *end = NULL;
        if (c >= OPT_ADAPTER) {
            values[c - OPT_ADAPTER] = optarg ? optarg : "1";
            continue;
        }
        switch (c) {
        case 't': endpoint = optarg; break;
        case 's': store_dir = optarg; break;
        case OPT_JSONL: jsonl = optarg; break;
        case OPT_ONCE: once = true; break;
        case 'i':
            interval = strtod(optarg, &end);
            if (!*optarg || *end || !(interval >= 0.01) || interval > 86400)
                rc = tool_usage_error(CMD, "--interval wants seconds (0.01..86400), got '%s'", optarg);
            break;
        case OPT_MAX_POLLS:
            max_polls = strtoul(optarg, &end, 10);
            if (!*optarg || *end || !max_polls)
                rc = tool_usage_error(CMD, "--max-polls wants a positive count, got '%s'", optarg);
            break;
        case OPT_STATE: state_opt = optarg; break;
        case OPT_NO_STATE: no_state = true; break;
        case OPT_FROM_START: from_start = true; break;
        case 'c': campaign = optarg; break;
        case OPT_SPOOL: spool = optarg; break;
        case OPT_FLUSH:
            flush_s = strtod(optarg, &end);
            if (!*optarg || *end || !(flush_s >= 0) || flush_s > 3600)
                rc = tool_usage_error(CMD, "--flush-timeout wants seconds (0..3600), got '%s'", optarg);
            break;
        case 'b': base = optarg; break;
        case 'a':
            if (!strchr(optarg, '=') || optarg[0] == '=' || strchr(optarg, '\n'))
                rc = tool_usage_error(CMD, "--alias wants FROM=TO, got '%s'", optarg);
            else
                mida_buf_printf(&aliases, "%s%s", aliases.len ? "\n" : "", optarg);
            break;
        case OPT_BACKEND: backend = optarg; break;
        case 'q': quiet = true; break;
        case OPT_LIST: s_list(stdout); rc = EXIT_OK; break;
        case 'h': s_help(ad); rc = EXIT_OK; break;
        default:
            rc = tool_usage_error(CMD, "unknown or incomplete option%s%s", ad ? " for " : "",
                                  ad ? ad->name : " (is the ADAPTER name first?)");
        }
    }
    if (rc < 0 && !ad)
        rc = tool_usage_error(CMD, "no ADAPTER given; `mida observe --list` lists them");
    if (rc < 0 && optind < argc)
        rc = tool_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (rc < 0 && (!!endpoint + !!store_dir + !!jsonl) > 1)
        rc = tool_usage_error(CMD, "give one of --to, --to-store and --jsonl");
    if (rc < 0 && no_state && (state_opt || from_start))
        rc = tool_usage_error(CMD, "--no-state excludes --state and --from-start");
    if (rc < 0 && !store_dir && (base || backend || aliases.len))
        rc = tool_usage_error(CMD, "--base, --alias and --backend go with --to-store");
    if (rc < 0 && backend && strcmp(backend, "memory") && strcmp(backend, "bdb"))
        rc = tool_usage_error(CMD, "unknown --backend '%s' (memory or bdb)", backend);
    if (rc >= 0) {
        free(opts);
        free(values);
        mida_buf_free(&aliases);
        return rc;
    }
    if (once)
        max_polls = 1;

    char *state_dir = no_state ? NULL : state_opt ? strdup(state_opt) : s_default_state_dir();
    s_sink sink = {.kind = store_dir ? SINK_STORE : jsonl ? SINK_JSONL : SINK_EMITTER,
                   .flush_ms = (unsigned)(flush_s * 1000)};
    mida_observer_t *obs = NULL;
    char err[1024] = "";
    double started = tool_now();
    rc = EXIT_OK;
    if (!no_state && !state_dir) {
        tool_err(CMD, "no place for the cursor: set --state DIR, $MIDA_STATE_DIR or $HOME");
        rc = EXIT_USAGE;
        goto done;
    }

    /* the observer first: a wrong option is reported before any sink opens */
    mida_observer_opts_t oo = {state_dir, from_start, campaign, s_sink_record, &sink};
    obs = mida_observer_new(ctx, ad, &oo, err, sizeof err);
    if (!obs) {
        tool_err(CMD, "%s", err);
        rc = EXIT_FAIL;
        goto done;
    }
    for (size_t i = 0; i < n_ad; i++)
        if (values[i])
            mida_observer_set_option(obs, ad->options[i].name, values[i]);

    if (sink.kind == SINK_STORE) {
        mida_store_opts_t so = {MIDA_STORE_WRITE | MIDA_STORE_CREATE, backend};
        if (tool_apply_open(&sink.apply, ctx, CMD, store_dir, &so, base, mida_buf_str(&aliases), false)) {
            rc = EXIT_FAIL;
            goto done;
        }
    } else if (sink.kind == SINK_JSONL) {
        sink.jsonl_path = jsonl;
        sink.jsonl = strcmp(jsonl, "-") ? fopen(jsonl, "a") : stdout;
        if (!sink.jsonl) {
            tool_err(CMD, "cannot open %s: %s", jsonl, strerror(errno));
            rc = EXIT_FAIL;
            goto done;
        }
    } else {
        mida_emitter_opts_t eo = {.endpoint = endpoint, .spool_dir = spool, .block_ms = 60000};
        sink.em = mida_emitter_new(ctx, &eo, err, sizeof err);
        if (!sink.em) {
            tool_err(CMD, "%s", err);
            rc = EXIT_FAIL;
            goto done;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* a source the tool has not created yet is waited for, except with
     * --once, where it is an error */
    int start_rc;
    bool said_waiting = false;
    while ((start_rc = mida_observer_start(obs, err, sizeof err)) == MIDA_EAGAIN && max_polls != 1 &&
           !s_stop) {
        if (!quiet && !said_waiting)
            fprintf(stderr, "mida observe %s: waiting for the source (%s)\n", ad->name, err);
        said_waiting = true;
        s_sleep(interval);
    }
    if (start_rc || s_stop) {
        if (start_rc)
            tool_err(CMD, "%s", err);
        rc = start_rc ? EXIT_FAIL : EXIT_OK;
        goto close_sink;
    }
    if (!quiet && mida_observer_cursor(obs))
        fprintf(stderr, "mida observe %s: resuming from the cursor in %s\n", ad->name,
                mida_observer_cursor_path(obs));

    unsigned long polls = 0;
    unsigned busy_in_a_row = 0;
    size_t total = 0;
    while (!s_stop) {
        size_t n = 0;
        int prc = mida_observer_poll(obs, &n, err, sizeof err);
        polls++;
        total += n;
        if (prc == MIDA_EAGAIN) {
            busy_in_a_row++;
            if (!quiet && (busy_in_a_row == 1 || busy_in_a_row % 30 == 0))
                fprintf(stderr, "mida observe %s: source busy or not there yet%s%s; trying again\n",
                        ad->name, *err ? ": " : "", err);
            /* --once means one successful poll: a busy source is tried a
             * few more times before giving up */
            if (max_polls == 1 && busy_in_a_row >= 10) {
                tool_err(CMD, "%s: the source stayed busy for 10 tries%s%s", ad->name,
                         *err ? ": " : "", err);
                rc = EXIT_FAIL;
                break;
            }
            s_sleep(max_polls == 1 ? 0.5 : interval);
            continue;
        }
        busy_in_a_row = 0;
        if (prc) {
            tool_err(CMD, "%s", err);
            rc = EXIT_FAIL;
            break;
        }
        int src = s_sink_settle(&sink);
        if (src == 0) {
            if (mida_observer_commit(obs, err, sizeof err)) {
                tool_err(CMD, "%s", err);
                rc = EXIT_FAIL;
                break;
            }
        } else if (src != MIDA_EAGAIN) {
            rc = EXIT_FAIL;
            break;
        }
        if (!quiet && n && max_polls != 1)
            fprintf(stderr, "mida observe %s: poll %lu: %zu record%s (%zu in all)\n", ad->name,
                    polls, n, n == 1 ? "" : "s", total);
        if (max_polls && polls >= max_polls)
            break;
        s_sleep(interval);
    }

close_sink:
    if (s_sink_close(&sink, rc != EXIT_OK) == 0 && rc == EXIT_OK) {
        if (mida_observer_commit(obs, err, sizeof err)) {
            tool_err(CMD, "%s", err);
            rc = EXIT_FAIL;
        }
    } else if (rc == EXIT_OK) {
        rc = EXIT_FAIL;
    }
    if (rc == EXIT_FAIL && mida_observer_cursor_path(obs)[0])
        tool_err(CMD, "the cursor in %s stays at the last point where every record was safe",
                 mida_observer_cursor_path(obs));
    mida_observer_stats_t st;
    mida_observer_stats(obs, &st);
    if (!quiet) {
        char refused[64] = "";
        if (sink.kind == SINK_STORE)
            snprintf(refused, sizeof refused, ", %zu refused by the store", sink.refused);
        fprintf(stderr, "mida observe %s: %llu poll%s, %llu record%s, %llu item%s skipped%s, %.1f s\n",
                ad->name, (unsigned long long)st.polls, st.polls == 1 ? "" : "s",
                (unsigned long long)st.records, st.records == 1 ? "" : "s",
                (unsigned long long)st.skipped, st.skipped == 1 ? "" : "s", refused,
                tool_now() - started);
    }
    if (rc == EXIT_OK && (st.skipped || sink.refused))
        rc = EXIT_PARTIAL;
    goto cleanup;

done:
    s_sink_close(&sink, true);
cleanup:
    mida_observer_destroy(&obs);
    free(state_dir);
    free(opts);
    free(values);
    mida_buf_free(&aliases);
    return rc;
}
