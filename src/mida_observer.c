/* mida_observer.c - runs one polling adapter: its options, its cursor, its
 * records on their way to a sink.
 * Owns: the option values, the cursor text (the one the adapter set and the
 * one last saved), the cursor file and its lock.
 * Must not: know any tool, open a store or a socket (the sink does).
 *
 * The cursor file is JSON: {"adapter": NAME, "abi": 1, "source": TEXT,
 * "cursor": TEXT, "saved_at": TIME}.  Its name is NAME-<hash of the
 * source>.cursor, so that one state directory serves every observer of the
 * host; a lock on NAME-<hash>.lock (flock, held while the observer lives)
 * keeps two observers off one source.
 */
#include "mida.h"
#include "mida_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CURSOR (64u << 20)

struct mida_observer {
    mida_ctx_t *ctx;
    const mida_adapter_t *adapter;
    char *state_dir, *campaign_id, *adapter_id;
    bool from_start;
    mida_observer_sink_fn sink;
    void *sink_data;
    size_t n_options;
    char **values;              /* one per adapter option, NULL when not given */
    char *cursor;               /* what the adapter set last (or loaded) */
    char *saved;                /* what the cursor file holds */
    char *source;               /* canonical source text */
    char cursor_path[PATH_MAX], lock_path[PATH_MAX];
    int lock_fd;
    void *state;                /* the adapter's */
    bool prepared;              /* options checked, lock taken, cursor loaded */
    bool started;               /* the adapter's init succeeded */
    size_t poll_records;
    mida_observer_stats_t stats;
};

static size_t s_option_index(const mida_observer_t *obs, const char *name)
{
    for (size_t i = 0; i < obs->n_options; i++)
        if (!strcmp(obs->adapter->options[i].name, name))
            return i;
    return (size_t)-1;
}

mida_observer_t *mida_observer_new(mida_ctx_t *ctx, const mida_adapter_t *adapter,
                                   const mida_observer_opts_t *opts, char *err, size_t errlen)
{
    if (!adapter || !opts || !opts->sink) {
        snprintf(err, errlen, "an adapter and a sink are required");
        return NULL;
    }
    if (adapter->abi != MIDA_ADAPTER_ABI) {
        snprintf(err, errlen, "adapter %s was built for adapter ABI %d, this mida has %d",
                 adapter->name ? adapter->name : "?", adapter->abi, MIDA_ADAPTER_ABI);
        return NULL;
    }
    if (!adapter->name || !adapter->init || !adapter->observe || !adapter->close ||
        !adapter->options) {
        snprintf(err, errlen, "adapter %s lacks a name, a function or its option table",
                 adapter->name ? adapter->name : "?");
        return NULL;
    }
    mida_observer_t *obs = calloc(1, sizeof *obs);
    if (!obs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    obs->ctx = ctx;
    obs->adapter = adapter;
    obs->lock_fd = -1;
    obs->from_start = opts->from_start;
    obs->sink = opts->sink;
    obs->sink_data = opts->sink_data;
    while (adapter->options[obs->n_options].name)
        obs->n_options++;
    obs->values = calloc(obs->n_options + 1, sizeof *obs->values);
    size_t idn = strlen(adapter->name) + 16;
    obs->adapter_id = malloc(idn);
    obs->state_dir = opts->state_dir ? strdup(opts->state_dir) : NULL;
    obs->campaign_id = opts->campaign_id ? strdup(opts->campaign_id) : NULL;
    if (!obs->values || !obs->adapter_id || (opts->state_dir && !obs->state_dir) ||
        (opts->campaign_id && !obs->campaign_id)) {
        mida_observer_destroy(&obs);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(obs->adapter_id, idn, "mida-observe/%s", adapter->name);
    return obs;
}

void mida_observer_destroy(mida_observer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mida_observer_t *obs = *self_p;
    if (obs->started)
        obs->adapter->close(obs->state);
    if (obs->lock_fd >= 0)
        close(obs->lock_fd);   /* releases the flock */
    for (size_t i = 0; obs->values && i < obs->n_options; i++)
        free(obs->values[i]);
    free(obs->values);
    free(obs->state_dir);
    free(obs->campaign_id);
    free(obs->adapter_id);
    free(obs->cursor);
    free(obs->saved);
    free(obs->source);
    free(obs);
    *self_p = NULL;
}

int mida_observer_set_option(mida_observer_t *obs, const char *name, const char *value)
{
    if (!obs || !name || !value)
        return MIDA_EINVAL;
    size_t i = s_option_index(obs, name);
    if (i == (size_t)-1)
        return MIDA_ENOTFOUND;
    char *copy = strdup(value);
    if (!copy)
        return MIDA_ENOMEM;
    free(obs->values[i]);
    obs->values[i] = copy;
    return 0;
}

const char *mida_observer_option(const mida_observer_t *obs, const char *name)
{
    if (!obs || !name)
        return NULL;
    size_t i = s_option_index(obs, name);
    return i == (size_t)-1 ? NULL : obs->values[i];
}

/* FNV-1a, 64 bits: names the cursor file of a source.  Not a security
 * measure; it only keeps file names short and free of '/'. */
static uint64_t s_fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* The source as one text, so that `--db x.db` and `--db ./x.db` share a
 * cursor: a path whose directory exists becomes the real path of that
 * directory plus the name.  The name itself is not resolved, so that a
 * file that does not exist yet, or a symbolic link that rotation points
 * elsewhere, keeps its cursor. */
static int s_source(mida_observer_t *obs)
{
    const char *opt = obs->adapter->source_option;
    const char *v = opt ? mida_observer_option(obs, opt) : NULL;
    char dir[PATH_MAX], real[PATH_MAX];
    if (v && !strstr(v, "://")) {
        const char *slash = strrchr(v, '/');
        const char *name = slash ? slash + 1 : v;
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - v) + (slash == v) : 1,
                 slash ? v : ".");
        if (*name && realpath(dir, real)) {
            size_t n = strlen(real) + strlen(name) + 2;
            obs->source = malloc(n);
            if (!obs->source)
                return MIDA_ENOMEM;
            snprintf(obs->source, n, "%s%s%s", real, strcmp(real, "/") ? "/" : "", name);
            return 0;
        }
    }
    /* a URL: `http://h:8000` and `http://h:8000/` are one source */
    obs->source = strdup(v ? v : "");
    if (!obs->source)
        return MIDA_ENOMEM;
    size_t n = strlen(obs->source);
    while (n > 1 && obs->source[n - 1] == '/' && strstr(obs->source, "://") &&
           strstr(obs->source, "://") + 3 < obs->source + n - 1)
        obs->source[--n] = '\0';
    return 0;
}

static int s_load_cursor(mida_observer_t *obs, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(obs->cursor_path, &sb) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read cursor %s: %s", obs->cursor_path, strerror(errno));
        return MIDA_EIO;
    }
    if (sb.st_size > (off_t)MAX_CURSOR) {
        snprintf(err, errlen, "cursor %s is larger than %u bytes", obs->cursor_path, MAX_CURSOR);
        return MIDA_ETOOBIG;
    }
    json_error_t jerr;
    json_t *doc = json_load_file(obs->cursor_path, 0, &jerr);
    const char *adapter = json_string_value(json_object_get(doc, "adapter"));
    const char *cursor = json_string_value(json_object_get(doc, "cursor"));
    if (!doc || !adapter || !cursor || strcmp(adapter, obs->adapter->name)) {
        /* starting afresh re-sends what was sent (harmless); refusing to
         * start would lose what happens from now on */
        mida__log(obs->ctx, MIDA_LOG_WARN, MIDA_FROM_ADAPTER, MIDA_EPARSE, NULL,
                  "%s: cursor %s is not readable (%s); reading the source from its start",
                  obs->adapter->name, obs->cursor_path,
                  doc ? "not a cursor of this adapter" : jerr.text);
        json_decref(doc);
        return 0;
    }
    obs->cursor = strdup(cursor);
    obs->saved = strdup(cursor);
    json_decref(doc);
    if (!obs->cursor || !obs->saved) {
        snprintf(err, errlen, "out of memory");
        return MIDA_ENOMEM;
    }
    return 0;
}

/* Options, lock and cursor: once per observer. */
static int s_prepare(mida_observer_t *obs, char *err, size_t errlen)
{
    for (size_t i = 0; i < obs->n_options; i++) {
        const mida_adapter_option_t *o = &obs->adapter->options[i];
        if (o->required && !obs->values[i]) {
            snprintf(err, errlen, "%s needs --%s %s", obs->adapter->name, o->name,
                     o->arg ? o->arg : "");
            return MIDA_EINVAL;
        }
    }
    int rc = s_source(obs);
    if (rc) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    if (obs->state_dir) {
        if (mida__file_mkdir_p(obs->state_dir, 0700) != 0) {
            snprintf(err, errlen, "cannot create state directory %s: %s", obs->state_dir,
                     strerror(errno));
            return MIDA_EIO;
        }
        unsigned long long h = (unsigned long long)s_fnv1a(obs->source);
        int n1 = snprintf(obs->cursor_path, sizeof obs->cursor_path, "%s/%s-%016llx.cursor",
                          obs->state_dir, obs->adapter->name, h);
        int n2 = snprintf(obs->lock_path, sizeof obs->lock_path, "%s/%s-%016llx.lock",
                          obs->state_dir, obs->adapter->name, h);
        if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof obs->cursor_path ||
            (size_t)n2 >= sizeof obs->lock_path) {
            snprintf(err, errlen, "state directory path too long: %s", obs->state_dir);
            return MIDA_EINVAL;
        }
        obs->lock_fd = open(obs->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (obs->lock_fd < 0) {
            snprintf(err, errlen, "cannot open %s: %s", obs->lock_path, strerror(errno));
            return MIDA_EIO;
        }
        if (flock(obs->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            snprintf(err, errlen,
                     "another mida observe %s is watching %s (it holds %s); stop it, or give "
                     "this one another --state",
                     obs->adapter->name, *obs->source ? obs->source : "this source",
                     obs->lock_path);
            return MIDA_EBUSY;
        }
        if (!obs->from_start && (rc = s_load_cursor(obs, err, errlen)) != 0)
            return rc;
    }
    obs->prepared = true;
    return 0;
}

int mida_observer_start(mida_observer_t *obs, char *err, size_t errlen)
{
    if (!obs || obs->started)
        return MIDA_EINVAL;
    *err = '\0';
    int rc = obs->prepared ? 0 : s_prepare(obs, err, errlen);
    if (rc)
        return rc;
    rc = obs->adapter->init(obs, &obs->state, err, errlen);
    if (rc) {
        if (!*err)
            snprintf(err, errlen, "%s: %s", obs->adapter->name, mida_strerror(rc));
        obs->adapter->close(obs->state);
        obs->state = NULL;
        return rc;
    }
    obs->started = true;
    return 0;
}

int mida_observer_poll(mida_observer_t *obs, size_t *emitted, char *err, size_t errlen)
{
    if (emitted)
        *emitted = 0;
    if (!obs || !obs->started)
        return MIDA_EINVAL;
    *err = '\0';
    obs->poll_records = 0;
    obs->stats.polls++;
    uint64_t failures = obs->stats.sink_failures;
    int rc = obs->adapter->observe(obs->state, obs, err, errlen);
    if (emitted)
        *emitted = obs->poll_records;
    if (obs->stats.sink_failures != failures) {
        /* whatever the adapter made of it: the cursor must not pass them */
        snprintf(err, errlen, "%llu record%s could not be delivered",
                 (unsigned long long)(obs->stats.sink_failures - failures),
                 obs->stats.sink_failures - failures == 1 ? "" : "s");
        return MIDA_EIO;
    }
    if (rc == MIDA_EAGAIN) {
        obs->stats.busy++;
        return rc;
    }
    if (rc && !*err)
        snprintf(err, errlen, "%s: %s", obs->adapter->name, mida_strerror(rc));
    return rc;
}

int mida_observer_commit(mida_observer_t *obs, char *err, size_t errlen)
{
    if (!obs)
        return MIDA_EINVAL;
    if (!obs->state_dir || !obs->cursor || (obs->saved && !strcmp(obs->saved, obs->cursor)))
        return 0;
    char when[64] = "";
    mida_time_from_epoch(mida__wall_now(), when, sizeof when);
    json_t *doc = json_pack("{s:s, s:i, s:s, s:s, s:s}", "adapter", obs->adapter->name, "abi",
                            MIDA_ADAPTER_ABI, "source", obs->source, "cursor", obs->cursor,
                            "saved_at", when);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        snprintf(err, errlen, "out of memory (or a cursor that is not UTF-8)");
        return MIDA_ENOMEM;
    }
    const char *name = strrchr(obs->cursor_path, '/') + 1;
    int rc = 0;
    if (mida__file_write_atomic(obs->state_dir, name, text, strlen(text)) != 0) {
        snprintf(err, errlen, "cannot save cursor %s: %s", obs->cursor_path, strerror(errno));
        rc = MIDA_EIO;
    } else {
        free(obs->saved);
        obs->saved = strdup(obs->cursor);
        obs->stats.cursor_saves++;
    }
    free(text);
    return rc;
}

void mida_observer_stats(const mida_observer_t *obs, mida_observer_stats_t *out)
{
    if (obs && out)
        *out = obs->stats;
}

const char *mida_observer_cursor_path(const mida_observer_t *obs)
{
    return obs ? obs->cursor_path : "";
}

const char *mida_observer_cursor(const mida_observer_t *obs)
{
    return obs ? obs->cursor : NULL;
}

int mida_observer_set_cursor(mida_observer_t *obs, const char *cursor)
{
    if (!obs || !cursor)
        return MIDA_EINVAL;
    if (obs->cursor && !strcmp(obs->cursor, cursor))
        return 0;
    char *copy = strdup(cursor);
    if (!copy)
        return MIDA_ENOMEM;
    free(obs->cursor);
    obs->cursor = copy;
    return 0;
}

int mida_observer_emit(mida_observer_t *obs, const char *json, size_t len)
{
    if (!obs || !json)
        return MIDA_EINVAL;
    if (!len)
        len = strlen(json);
    json_error_t jerr;
    json_t *rec = json_loadb(json, len, 0, &jerr);
    int rc = 0;
    if (!json_is_object(rec)) {
        /* the adapter's own bug: said loudly, and the poll fails so that
         * the cursor does not move past what was never delivered */
        mida__log(obs->ctx, MIDA_LOG_ERROR, MIDA_FROM_ADAPTER, MIDA_ERECORD, NULL,
                  "%s made a record that is not a JSON object: %s", obs->adapter->name,
                  rec ? "another JSON value" : jerr.text);
        rc = MIDA_ERECORD;
    } else {
        if (obs->campaign_id && !json_object_get(rec, "campaign_id"))
            json_object_set_new(rec, "campaign_id", json_string(obs->campaign_id));
        if (!json_object_get(rec, "adapter_id"))
            json_object_set_new(rec, "adapter_id", json_string(obs->adapter_id));
        char *text = json_dumps(rec, JSON_COMPACT);
        if (!text)
            rc = MIDA_ENOMEM;
        else
            rc = obs->sink(obs->sink_data, text, strlen(text));
        free(text);
    }
    json_decref(rec);
    if (rc)
        obs->stats.sink_failures++;
    else {
        obs->stats.records++;
        obs->poll_records++;
    }
    return rc;
}

/* One line under the adapter's name: "NAME: PREFIXmessage". */
static void s_vlog(mida_observer_t *obs, mida_log_level_t level, int code, const char *where,
                   const char *prefix, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    mida_locator_t loc = {where, -1, -1, NULL};
    mida__log(obs->ctx, level, MIDA_FROM_ADAPTER, code, where ? &loc : NULL, "%s: %s%s",
              obs->adapter->name, prefix, msg);
}

void mida_observer_skip(mida_observer_t *obs, const char *where, const char *fmt, ...)
{
    if (!obs)
        return;
    obs->stats.skipped++;
    if (!mida__log_enabled(obs->ctx, MIDA_LOG_WARN))
        return;
    /* the handler shows where; the message says what and why */
    va_list ap;
    va_start(ap, fmt);
    s_vlog(obs, MIDA_LOG_WARN, MIDA_ERECORD, where, "skipped: ", fmt, ap);
    va_end(ap);
}

void mida_observer_log(mida_observer_t *obs, mida_log_level_t level, const char *fmt, ...)
{
    if (!obs || !mida__log_enabled(obs->ctx, level))
        return;
    va_list ap;
    va_start(ap, fmt);
    s_vlog(obs, level, 0, NULL, "", fmt, ap);
    va_end(ap);
}

/* ---- self-test ------------------------------------------------------------ */
#include "mida_selftest.h"

/* A source for the test: a text file, one record per line; the cursor is
 * the number of lines already reported. */
typedef struct {
    const char *path;
    long line;
} s_test_source;

static int s_test_init(mida_observer_t *obs, void **state, char *err, size_t errlen)
{
    s_test_source *src = calloc(1, sizeof *src);
    if (!src)
        return MIDA_ENOMEM;
    src->path = mida_observer_option(obs, "file");
    const char *cur = mida_observer_cursor(obs);
    if (cur && sscanf(cur, "{\"line\":%ld}", &src->line) != 1) {
        free(src);
        snprintf(err, errlen, "bad cursor %s", cur);
        return MIDA_EPARSE;
    }
    *state = src;
    return 0;
}

static int s_test_observe(void *state, mida_observer_t *obs, char *err, size_t errlen)
{
    s_test_source *src = state;
    FILE *f = fopen(src->path, "r");
    if (!f)
        return MIDA_EAGAIN;
    char line[256];
    long n = 0;
    int rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        if (++n <= src->line)
            continue;
        if (line[0] == '#')
            mida_observer_skip(obs, "line", "a comment");
        else
            rc = mida_observer_emit(obs, line, strlen(line) - 1);
        if (!rc)
            src->line = n;
    }
    fclose(f);
    char cur[64];
    snprintf(cur, sizeof cur, "{\"line\":%ld}", src->line);
    mida_observer_set_cursor(obs, cur);
    return rc;
}

static void s_test_close(void *state)
{
    free(state);
}

static const mida_adapter_option_t s_test_options[] = {
    {"file", "PATH", "the records", true}, {"flag", NULL, "a flag", false}, {NULL, NULL, NULL, false}};

static const mida_adapter_t s_test_adapter = {MIDA_ADAPTER_ABI, "lines", "test", "file",
                                              s_test_options, s_test_init, s_test_observe,
                                              s_test_close};

typedef struct {
    char got[8][256];
    int n;
    int fail;
} s_test_sink;

static int s_test_sink_fn(void *ud, const char *json, size_t len)
{
    s_test_sink *k = ud;
    if (k->fail)
        return MIDA_EIO;
    if (k->n < 8)
        snprintf(k->got[k->n], sizeof k->got[0], "%.*s", (int)len, json);
    k->n++;
    return 0;
}

int mida_observer_test(bool verbose);
int mida_observer_test(bool verbose)
{
    int f = 0;
    char dir[] = "/tmp/mida-observer-test-XXXXXX";
    MIDA_CHECK(f, mkdtemp(dir) != NULL);
    char src[sizeof dir + 16], state[sizeof dir + 16], err[512];
    snprintf(src, sizeof src, "%s/src", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    FILE *out = fopen(src, "w");
    fputs("{\"task_id\":\"a\",\"workflow_id\":\"w\"}\n# not a record\n"
          "{\"task_id\":\"b\",\"workflow_id\":\"w\",\"adapter_id\":\"mine\"}\n", out);
    fclose(out);

    s_test_sink sink = {0};
    mida_observer_opts_t oo = {state, false, "cmp", s_test_sink_fn, &sink};
    /* a table of another ABI is refused */
    mida_adapter_t other = s_test_adapter;
    other.abi = MIDA_ADAPTER_ABI + 1;
    MIDA_CHECK(f, mida_observer_new(NULL, &other, &oo, err, sizeof err) == NULL &&
                      strstr(err, "ABI"));
    mida_observer_t *obs = mida_observer_new(NULL, &s_test_adapter, &oo, err, sizeof err);
    MIDA_CHECK(f, obs != NULL);
    MIDA_CHECK(f, mida_observer_set_option(obs, "nope", "x") == MIDA_ENOTFOUND);
    /* a required option is required */
    MIDA_CHECK(f, mida_observer_start(obs, err, sizeof err) == MIDA_EINVAL &&
                      strstr(err, "--file PATH"));
    mida_observer_destroy(&obs);

    obs = mida_observer_new(NULL, &s_test_adapter, &oo, err, sizeof err);
    MIDA_CHECK(f, mida_observer_set_option(obs, "file", src) == 0);
    MIDA_CHECK_STR(f, mida_observer_option(obs, "file"), src);
    MIDA_CHECK(f, mida_observer_option(obs, "flag") == NULL);
    MIDA_CHECK(f, mida_observer_start(obs, err, sizeof err) == 0);
    MIDA_CHECK(f, mida_observer_cursor(obs) == NULL);
    size_t n = 0;
    MIDA_CHECK(f, mida_observer_poll(obs, &n, err, sizeof err) == 0 && n == 2);
    /* campaign and adapter id are added where missing, kept where given */
    MIDA_CHECK(f, sink.n == 2 && strstr(sink.got[0], "\"campaign_id\":\"cmp\"") &&
                      strstr(sink.got[0], "\"adapter_id\":\"mida-observe/lines\""));
    MIDA_CHECK(f, strstr(sink.got[1], "\"adapter_id\":\"mine\"") != NULL);
    mida_observer_stats_t st;
    mida_observer_stats(obs, &st);
    MIDA_CHECK(f, st.records == 2 && st.skipped == 1 && st.polls == 1 && st.cursor_saves == 0);
    MIDA_CHECK(f, mida_observer_commit(obs, err, sizeof err) == 0);
    struct stat sb;
    MIDA_CHECK(f, stat(mida_observer_cursor_path(obs), &sb) == 0);
    mida_observer_t *obs2;
    MIDA_CHECK(f, strstr(mida_observer_cursor_path(obs), "/lines-") != NULL);

    /* the key of a source: its directory's real path plus its name */
    char rel[sizeof dir + 32];
    snprintf(rel, sizeof rel, "%s/./src", dir);
    obs2 = mida_observer_new(NULL, &s_test_adapter, &oo, err, sizeof err);
    mida_observer_set_option(obs2, "file", rel);
    MIDA_CHECK(f, s_source(obs2) == 0 && strcmp(obs2->source, src) == 0);
    mida_observer_destroy(&obs2);
    snprintf(rel, sizeof rel, "%s/later", dir);
    obs2 = mida_observer_new(NULL, &s_test_adapter, &oo, err, sizeof err);
    mida_observer_set_option(obs2, "file", rel);
    MIDA_CHECK(f, s_source(obs2) == 0 && strcmp(obs2->source, rel) == 0);
    mida_observer_destroy(&obs2);

    obs2 = mida_observer_new(NULL, &s_test_adapter, &oo, err, sizeof err);
    mida_observer_set_option(obs2, "file", "http://h:8000//");
    MIDA_CHECK(f, s_source(obs2) == 0 && strcmp(obs2->source, "http://h:8000") == 0);
    mida_observer_destroy(&obs2);

    /* a second observer of the same source is refused while this one runs */
    s_test_sink sink2 = {0};
    mida_observer_opts_t oo2 = {state, false, NULL, s_test_sink_fn, &sink2};
    obs2 = mida_observer_new(NULL, &s_test_adapter, &oo2, err, sizeof err);
    mida_observer_set_option(obs2, "file", src);
    MIDA_CHECK(f, mida_observer_start(obs2, err, sizeof err) == MIDA_EBUSY &&
                      strstr(err, "another mida observe"));
    mida_observer_destroy(&obs2);
    mida_observer_destroy(&obs);

    /* a restarted observer resumes at the cursor: only new lines */
    out = fopen(src, "a");
    fputs("{\"task_id\":\"c\",\"workflow_id\":\"w\"}\n", out);
    fclose(out);
    obs2 = mida_observer_new(NULL, &s_test_adapter, &oo2, err, sizeof err);
    mida_observer_set_option(obs2, "file", src);
    MIDA_CHECK(f, mida_observer_start(obs2, err, sizeof err) == 0);
    MIDA_CHECK_STR(f, mida_observer_cursor(obs2), "{\"line\":3}");
    MIDA_CHECK(f, mida_observer_poll(obs2, &n, err, sizeof err) == 0 && n == 1 && sink2.n == 1 &&
                      strstr(sink2.got[0], "\"task_id\":\"c\"") &&
                      !strstr(sink2.got[0], "campaign_id"));
    /* a sink that fails fails the poll */
    MIDA_CHECK(f, mida_observer_commit(obs2, err, sizeof err) == 0);
    mida_observer_destroy(&obs2);
    out = fopen(src, "a");
    fputs("{\"task_id\":\"d\",\"workflow_id\":\"w\"}\n", out);
    fclose(out);
    sink2.fail = 1;
    obs2 = mida_observer_new(NULL, &s_test_adapter, &oo2, err, sizeof err);
    mida_observer_set_option(obs2, "file", src);
    MIDA_CHECK(f, mida_observer_start(obs2, err, sizeof err) == 0);
    MIDA_CHECK(f, mida_observer_poll(obs2, &n, err, sizeof err) == MIDA_EIO && n == 0 &&
                      strstr(err, "could not be delivered"));
    mida_observer_destroy(&obs2);
    /* --from-start reads everything again */
    s_test_sink sink3 = {0};
    mida_observer_opts_t oo3 = {state, true, NULL, s_test_sink_fn, &sink3};
    obs = mida_observer_new(NULL, &s_test_adapter, &oo3, err, sizeof err);
    mida_observer_set_option(obs, "file", src);
    MIDA_CHECK(f, mida_observer_start(obs, err, sizeof err) == 0 && !mida_observer_cursor(obs));
    MIDA_CHECK(f, mida_observer_poll(obs, &n, err, sizeof err) == 0 && n == 4);
    /* a record that is not an object is the adapter's bug: refused */
    MIDA_CHECK(f, mida_observer_emit(obs, "[1]", 0) == MIDA_ERECORD);
    mida_observer_destroy(&obs);
    /* a cursor file that cannot be read: start afresh (re-sending is harmless) */
    char curpath[PATH_MAX];
    obs = mida_observer_new(NULL, &s_test_adapter, &oo2, err, sizeof err);
    mida_observer_set_option(obs, "file", src);
    MIDA_CHECK(f, mida_observer_start(obs, err, sizeof err) == 0);
    snprintf(curpath, sizeof curpath, "%s", mida_observer_cursor_path(obs));
    mida_observer_destroy(&obs);
    out = fopen(curpath, "w");
    fputs("{not json", out);
    fclose(out);
    sink2.fail = 0;
    sink2.n = 0;
    obs = mida_observer_new(NULL, &s_test_adapter, &oo2, err, sizeof err);
    mida_observer_set_option(obs, "file", src);
    MIDA_CHECK(f, mida_observer_start(obs, err, sizeof err) == 0 && !mida_observer_cursor(obs));
    MIDA_CHECK(f, mida_observer_poll(obs, &n, err, sizeof err) == 0 && n == 4);
    mida_observer_destroy(&obs);

    char cmd[sizeof dir + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    MIDA_CHECK(f, system(cmd) == 0);
    if (verbose)
        printf("observer: %d failures\n", f);
    return f;
}
