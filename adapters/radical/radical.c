/* radical.c - the RADICAL-Pilot adapter: a session directory -> task records.
 *
 * Owns: walking a RADICAL-Pilot session directory (and, optionally, a pilot
 * sandbox on a shared file system), tailing its `*.prof` event files line by
 * line, reading the session JSON the client writes at close, folding both
 * into one summary per task, per pilot and for the session, and emitting
 * task records (docs/records.md) for whatever changed.
 * Must not: write anything under the watched directories, touch the store.
 *
 * The formats (radical.utils profile.py, radical.pilot states.py; see
 * docs/adapters/radical.md for the mapping table):
 *
 *  - `*.prof`: CSV, one event a line, `time,event,comp,thread,uid,state,msg`
 *    (a `#` header names the columns; the files under pilot.NNNN/task.N/
 *    have none and use that order).  `time` is the writing host's clock in
 *    epoch seconds; a `sync_abs` line (msg `host:ip:t_sys:t_ntp:mode`) tells
 *    that host's offset to NTP.  `advance` (legacy: `state`) events carry a
 *    task's or pilot's new state in the `state` column; exec_start/exec_stop
 *    and friends time the execution.
 *  - `<sid>.json` (legacy: {"session","pmgr","pilot","tmgr","task"} lists) or
 *    `tmgr.NNNN.json` ({"tasks": {uid: task}}) / `pmgr.NNNN.json`
 *    ({"pilots": [pilot]}): task descriptions, exit codes, staging
 *    directives, sandboxes.  Written once, at close; re-read when its size,
 *    mtime or inode change.
 *
 * Records carry fields the store keeps one value of (custom_metadata, times,
 * hostname): every emission of a task must carry everything known about it,
 * also after a restart.  So the adapter folds the events into one summary
 * per task, per pilot and for the session, kept in memory (st->cur):
 *
 *   {"v": 2,
 *    "files":   {KEY: {"dev","ino","off", "skip"?, "rhost"?,
 *                      "line", "host"?, "cols"?}},
 *    "hosts":   {"host:ip": NTP offset in ns},
 *    "dirs":    {logical dir: "host:ip" of its first synced profile},
 *    "json":    {name: {"dev","ino","size","mtime"}},
 *    "session": {"session_start"?, "session_close"?, "session_stop"?,
 *                "created"?, "host"?, "rp"?},
 *    "pilots":  {uid: {"st": {STATE: ns}, "ev": {event: ns}, "host"?, "shost"?, "d"?}},
 *    "tasks":   {uid: {"st": {STATE: ns}, "ev": {event: ns}, "p"?, "js"?,
 *                      "sb"?, "nodes"?, "hn"?}}}
 *
 * The cursor is only what it takes to resume (some 120 bytes a file,
 * whatever the number of tasks): "v", "files" without "line", "host" and
 * "cols" (its line count, its own sync_abs host and its header: counted
 * and read again from its start),
 * "hosts", "dirs" and "json" (the offsets and hosts fixed so far, so that
 * times never shift).  The summaries are rebuilt at the first poll (and
 * after a failed one) by reading every file of the cursor again from its
 * start up to its saved offset, and each session document whose signature
 * is the saved one, emitting nothing (s_rebuild): folding is order-free,
 * so they come out as they were, and the tasks that new lines change are
 * then sent with everything folded, old and new.  A v1 cursor (which also
 * held the summaries) reads the same way, its summaries ignored.
 *
 * KEY is "s:" + the path under the session directory, or "x:" + the path
 * under --sandbox.  Times are integers, ns since the epoch, already corrected
 * by the host offset.  Folding is order-free (first time of each state,
 * earliest *_start, latest *_stop), so a line read twice (a re-read file, a
 * "uprof" copy of task.prof in agent_staging_output) changes nothing.
 */
#include "mida.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_CURSOR_VERSION 2
/* Directory levels read under a root: the root, pilot.NNNN/ and its
 * task.NNNNNN/ sandboxes; what tasks write below that (user data, maybe
 * big trees) is never walked. */
#define S_MAX_DEPTH 3
#define S_MAX_LINE 65536       /* a longer line is skipped */
#define S_CHUNK 262144         /* bytes read at a time */
#define S_MAX_COLS 16
#define S_ENGINE "radical.pilot"

/* ---- small helpers ---------------------------------------------------- */

static char *s_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char *s_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static bool s_prefix(const char *s, const char *prefix)
{
    return s && !strncmp(s, prefix, strlen(prefix));
}

/* Parses "1678931055.8202665" (epoch seconds, any number of decimals) into
 * ns exactly: no detour through a double, so the times in the records are
 * the digits the tool wrote (to the microsecond mida keeps).  -1 when the
 * text is not such a number. */
static int s_parse_ns(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int64_t secs = 0, frac = 0;
    int digits = 0;
    if (!n)
        return -1;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (secs > 9000000000LL)
            return -1;
        secs = secs * 10 + (s[i] - '0');
        digits++;
    }
    if (i < n && s[i] == '.') {
        int fd = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, fd++)
            if (fd < 9)
                frac = frac * 10 + (s[i] - '0');
        for (int k = fd; k < 9; k++)
            frac *= 10;
        digits += fd;
    }
    if (i != n || !digits)
        return -1;
    *out = secs * 1000000000LL + frac;
    return 0;
}

/* ns since the epoch -> ISO 8601 UTC, microseconds truncated (mida keeps
 * microseconds). */
static json_t *s_iso_json(int64_t ns)
{
    char buf[64];
    int64_t us = ns / 1000 - (ns % 1000 < 0);
    if (mida_time_from_epoch_us(us, buf, sizeof buf))
        return json_integer(ns / 1000000000LL);
    return json_string(buf);
}

/* The child object `key` of `o`, created when missing. */
static json_t *s_child(json_t *o, const char *key)
{
    json_t *c = json_object_get(o, key);
    if (!json_is_object(c)) {
        c = json_object();
        json_object_set_new(o, key, c);
    }
    return c;
}

static bool s_has_int(json_t *o, const char *key, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return false;
    if (out)
        *out = (int64_t)json_integer_value(v);
    return true;
}

/* Keeps the earliest (or latest) time under key; true when it changed. */
static bool s_fold_time(json_t *o, const char *key, int64_t t, bool latest)
{
    int64_t old;
    if (s_has_int(o, key, &old) && (latest ? old >= t : old <= t))
        return false;
    json_object_set_new(o, key, json_integer((json_int_t)t));
    return true;
}

static bool s_set_str(json_t *o, const char *key, const char *value)
{
    const char *old = json_string_value(json_object_get(o, key));
    if (!value || (old && !strcmp(old, value)))
        return false;
    json_object_set_new(o, key, json_string(value));
    return true;
}

static const char *s_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : NULL;
}

/* A location: file://localhost/X, file:///X and file:/X become the path X;
 * a path loses repeated and trailing slashes; other URIs stay as they are.
 * Caller owns the result. */
static char *s_norm_location(const char *in)
{
    const char *p = in;
    if (s_prefix(p, "file://localhost/"))
        p += strlen("file://localhost");
    else if (s_prefix(p, "file:///"))
        p += strlen("file://");
    else if (s_prefix(p, "file:/") && p[6] != '/')
        p += strlen("file:");
    if (*p != '/')
        return strdup(in);
    size_t n = strlen(p);
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (; *p; p++) {
        if (*p == '/' && o > out && o[-1] == '/')
            continue;
        *o++ = *p;
    }
    while (o > out + 1 && o[-1] == '/')
        o--;
    *o = '\0';
    return out;
}

/* ---- task and pilot states (radical.pilot states.py) ------------------- */

/* The rank of a task state along the state machine; final states share
 * the last rank.  -1 for a word this table does not know. */
static int s_task_rank(const char *state)
{
    static const char *order[] = {
        "NEW", "TMGR_SCHEDULING_PENDING", "TMGR_SCHEDULING", "TMGR_STAGING_INPUT_PENDING",
        "TMGR_STAGING_INPUT", "AGENT_STAGING_INPUT_PENDING", "AGENT_STAGING_INPUT",
        "AGENT_SCHEDULING_PENDING", "AGENT_SCHEDULING", "AGENT_EXECUTING_PENDING",
        "AGENT_EXECUTING", "AGENT_STAGING_OUTPUT_PENDING", "AGENT_STAGING_OUTPUT",
        "TMGR_STAGING_OUTPUT_PENDING", "TMGR_STAGING_OUTPUT"};
    if (!state)
        return -1;
    /* before RP 1.0 the task manager was the "unit manager" */
    char buf[64];
    if (s_prefix(state, "UMGR_") && strlen(state) < sizeof buf - 1) {
        snprintf(buf, sizeof buf, "TMGR_%s", state + 5);
        state = buf;
    }
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        if (!strcmp(state, order[i]))
            return (int)i;
    if (!strcmp(state, "DONE") || !strcmp(state, "FAILED") || !strcmp(state, "CANCELED"))
        return 15;
    return -1;
}

static int s_pilot_rank(const char *state)
{
    static const char *order[] = {"NEW", "PMGR_LAUNCHING_PENDING", "PMGR_LAUNCHING",
                                  "PMGR_ACTIVE_PENDING", "PMGR_ACTIVE"};
    if (!state)
        return -1;
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        if (!strcmp(state, order[i]))
            return (int)i;
    if (!strcmp(state, "DONE") || !strcmp(state, "FAILED") || !strcmp(state, "CANCELED"))
        return 5;
    return -1;
}

static bool s_is_final(const char *state)
{
    return !strcmp(state, "DONE") || !strcmp(state, "FAILED") || !strcmp(state, "CANCELED");
}

/* mida's status for an RP state of rank `rank`: final states (rank
 * `final_rank`) are FINISHED for DONE, ERROR for FAILED and CANCELED; the
 * first state is SUBMITTED; ranks running_rank..running_end RUNNING (the
 * task executes or stages its output); the rest WAITING. */
static const char *s_status(const char *state, int rank, int final_rank, int running_rank,
                            int running_end)
{
    if (rank == final_rank)
        return !strcmp(state, "DONE") ? "FINISHED" : "ERROR";
    if (rank == 0)
        return "SUBMITTED";
    if (rank >= running_rank && rank <= running_end)
        return "RUNNING";
    return "WAITING";
}

/* The current state of an entity: the first final state (a CANCELED gives
 * way to another final state, as radical.analytics does), else the state of
 * highest rank.  `st` maps states to times; `js` is the state the session
 * JSON gives (no time).  NULL when no known state was seen. */
static const char *s_current(json_t *st, const char *js, int (*rank)(const char *), int *rank_out)
{
    const char *best = NULL, *final = NULL, *key;
    int64_t final_t = INT64_MAX;
    int best_rank = -1;
    json_t *v;
    json_object_foreach(st, key, v)
    {
        int r = rank(key);
        if (r < 0)
            continue;
        if (s_is_final(key)) {
            int64_t t = (int64_t)json_integer_value(v);
            bool better = !final || (!strcmp(final, "CANCELED") && strcmp(key, "CANCELED")) ||
                          (strcmp(key, "CANCELED") && t < final_t);
            if (better) {
                final = key;
                final_t = t;
            }
        }
        if (r > best_rank) {
            best = key;
            best_rank = r;
        }
    }
    if (js && rank(js) >= 0) {
        if (s_is_final(js) && (!final || (!strcmp(final, "CANCELED") && strcmp(js, "CANCELED"))))
            final = js;
        if (rank(js) > best_rank) {
            best = js;
            best_rank = rank(js);
        }
    }
    if (final)
        best = final;
    if (rank_out)
        *rank_out = best ? rank(best) : -1;
    return best;
}

/* The task events kept (custom_metadata.rp_events), in execution order;
 * *_stop keep their latest time, the others their earliest. */
static const char *const s_task_events[] = {
    "schedule_ok",   "task_run_start", "launch_start", "exec_start",  "rank_start",
    "app_start",     "app_stop",       "rank_stop",    "exec_stop",   "launch_stop",
    "task_run_stop", "unschedule_stop", NULL};
static const char *const s_pilot_events[] = {"submission_start", "submission_stop",
                                             "bootstrap_0_start", "bootstrap_0_stop", NULL};

static bool s_in(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s))
            return true;
    return false;
}

/* ---- the adapter state ------------------------------------------------ */

typedef struct {
    const char *tag;   /* "s" session, "x" sandbox: the cursor key prefix */
    char *dir;         /* as given */
    char *prefix;      /* logical path prefix: "pilot.0000/" for a pilot sandbox */
} s_root;

/* A profile found by this poll's walk. */
typedef struct {
    char *key;         /* cursor key */
    char *path;        /* to open */
    char *logical;     /* the path as if under the session directory */
    char *pilot;       /* the pilot.NNNN directory it lies under, or NULL */
} s_pfile;

enum { EV_STATE, EV_TASK_EVENT, EV_SESSION, EV_HOSTNAME };

/* An event of interest read by this poll (times are not corrected yet: the
 * host offsets are only all known once every file has been read). */
typedef struct {
    int64_t t;         /* raw, host clock, ns */
    int kind;
    size_t file;       /* index into the poll's files */
    char *uid;
    char *arg;         /* the state, event name or host */
} s_event;

typedef struct {
    mida_observer_t *obs;
    s_root roots[2];
    size_t n_roots;
    char *sid;          /* the session id (the session directory's name) */
    char *sid_host;     /* host and user from rp.session.HOST.USER.DAYS.N */
    char *sid_user;
    bool host_clock;    /* --host-clock: no NTP offsets */
    bool session_sent;  /* the workflow record went out in this process */
    json_t *cur;        /* the folded state; the cursor is a part of it */
    bool built;         /* the summaries are rebuilt from the saved cursor */
    bool quiet;         /* rebuilding: no skips, no messages */
    bool rewrite;       /* the saved cursor is an older version's: replace it */
    /* per poll */
    s_pfile *files;
    size_t n_files, cap_files;
    char **jsons;       /* session JSON candidates (paths) */
    size_t n_jsons, cap_jsons;
    s_event *events;
    size_t n_events, cap_events;
    json_t *touched;    /* task uid -> task dict of the JSON, or null */
    bool touch_session;
    bool dirty;         /* the cursor changed */
} s_state;

static const mida_adapter_option_t s_options[] = {
    {"session", "DIR", "the RADICAL-Pilot session directory (rp.session.*)", true},
    {"sandbox", "DIR",
     "also tail the pilot or session sandbox (shared file system) for the agent's profiles "
     "during the run",
     false},
    {"host-clock", NULL, "keep every host's own clock (do not apply the sync_abs NTP offsets)",
     false},
    {NULL, NULL, NULL, false}};

static void s_poll_reset(s_state *st)
{
    for (size_t i = 0; i < st->n_files; i++) {
        free(st->files[i].key);
        free(st->files[i].path);
        free(st->files[i].logical);
        free(st->files[i].pilot);
    }
    st->n_files = 0;
    for (size_t i = 0; i < st->n_jsons; i++)
        free(st->jsons[i]);
    st->n_jsons = 0;
    for (size_t i = 0; i < st->n_events; i++) {
        free(st->events[i].uid);
        free(st->events[i].arg);
    }
    st->n_events = 0;
    json_decref(st->touched);
    st->touched = NULL;
    st->touch_session = false;
    st->dirty = false;
}

static void s_close(void *state)
{
    s_state *st = state;
    if (!st)
        return;
    s_poll_reset(st);
    free(st->files);
    free(st->jsons);
    free(st->events);
    for (size_t i = 0; i < st->n_roots; i++) {
        free(st->roots[i].dir);
        free(st->roots[i].prefix);
    }
    free(st->sid);
    free(st->sid_host);
    free(st->sid_user);
    json_decref(st->cur);
    free(st);
}

/* What a file's cursor entry keeps: the rest ("line", "host", "cols") is
 * read again from the file's start. */
static const char *const s_file_keys[] = {"dev", "ino", "off", "skip", "rhost", NULL};

/* A copy of the parts of `from` that the cursor holds: the files, with
 * only s_file_keys, the host offsets, the directories' hosts, the session
 * documents' signatures.  NULL when out of memory. */
static json_t *s_cursor_part(json_t *from)
{
    json_t *out = json_pack("{s:i}", "v", S_CURSOR_VERSION);
    json_t *files = json_object();
    if (!out || !files) {
        json_decref(out);
        json_decref(files);
        return NULL;
    }
    json_object_set_new(out, "files", files);
    const char *key;
    json_t *ent;
    json_object_foreach(json_object_get(from, "files"), key, ent)
    {
        int64_t off;
        if (!s_has_int(ent, "dev", NULL) || !s_has_int(ent, "ino", NULL) ||
            !s_has_int(ent, "off", &off) || off < 0)
            continue;
        json_t *e = json_object();
        for (const char *const *k = s_file_keys; e && *k; k++) {
            json_t *v = json_object_get(ent, *k);
            if (v)
                json_object_set(e, *k, v);
        }
        if (!e || json_object_set_new(files, key, e)) {
            json_decref(out);
            return NULL;
        }
    }
    static const char *parts[] = {"hosts", "dirs", "json"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        json_t *v = json_object_get(from, parts[i]);
        json_t *c = json_is_object(v) ? json_deep_copy(v) : json_object();
        if (!c || json_object_set_new(out, parts[i], c)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* The state to rebuild from the saved cursor (its files, hosts, dirs and
 * documents; no summaries yet), or a fresh one. */
static json_t *s_load_cursor(mida_observer_t *obs)
{
    const char *text = mida_observer_cursor(obs);
    json_t *saved = NULL, *cur = NULL;
    if (text) {
        json_error_t jerr;
        saved = json_loads(text, 0, &jerr);
        json_t *v = json_object_get(saved, "v");
        /* v1 also held the summaries: they are rebuilt instead */
        if (!json_is_object(saved) || !json_is_integer(v) ||
            (json_integer_value(v) != S_CURSOR_VERSION && json_integer_value(v) != 1)) {
            mida_observer_log(obs, MIDA_LOG_WARN,
                              "the saved cursor is not one this version wrote: starting from "
                              "the beginning (records already sent are sent again)");
            json_decref(saved);
            saved = NULL;
        }
    }
    cur = s_cursor_part(saved);
    json_decref(saved);
    if (!cur)
        return NULL;
    static const char *parts[] = {"session", "pilots", "tasks"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        s_child(cur, parts[i]);
    return cur;
}

/* rp.session.HOST.USER.DAYS.COUNTER (radical.utils generate_id): the host
 * may itself hold dots, so the user is the third part from the end. */
static void s_parse_sid(s_state *st)
{
    const char *sid = st->sid;
    if (!s_prefix(sid, "rp.session."))
        return;
    const char *p = sid + strlen("rp.session.");
    const char *dots[3] = {NULL, NULL, NULL}; /* the last three dots */
    for (const char *q = p; *q; q++)
        if (*q == '.') {
            dots[0] = dots[1];
            dots[1] = dots[2];
            dots[2] = q;
        }
    if (!dots[0] || dots[0] == p)
        return;
    for (const char *q = dots[1] + 1; q < dots[2]; q++)
        if (*q < '0' || *q > '9')
            return;
    for (const char *q = dots[2] + 1; *q; q++)
        if (*q < '0' || *q > '9')
            return;
    /* HOST . USER . DAYS . COUNTER: the last three dots end HOST, USER
     * and DAYS */
    if (dots[1] == dots[0] + 1)
        return;
    st->sid_host = s_strndup(p, (size_t)(dots[0] - p));
    st->sid_user = s_strndup(dots[0] + 1, (size_t)(dots[1] - dots[0] - 1));
}

static int s_init(mida_observer_t *obs, void **state, char *err, size_t errlen)
{
    const char *session = mida_observer_option(obs, "session");
    const char *sandbox = mida_observer_option(obs, "sandbox");
    struct stat sb;
    if (!session || !*session) {
        snprintf(err, errlen, "--session DIR is required");
        return MIDA_EINVAL;
    }
    if (stat(session, &sb) != 0) {
        snprintf(err, errlen, "session directory '%s': %s", session, strerror(errno));
        return MIDA_ENOTFOUND;
    }
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "session directory '%s': not a directory", session);
        return MIDA_EINVAL;
    }
    s_state *st = calloc(1, sizeof *st);
    if (!st)
        return MIDA_ENOMEM;
    st->obs = obs;
    st->host_clock = mida_observer_option(obs, "host-clock") != NULL;
    /* the session id is the directory's name (RP names it so) */
    char *copy = strdup(session);
    if (copy) {
        size_t n = strlen(copy);
        while (n > 1 && copy[n - 1] == '/')
            copy[--n] = '\0';
        const char *base = strrchr(copy, '/');
        st->sid = strdup(base ? base + 1 : copy);
        free(copy);
    }
    st->roots[0].tag = "s";
    st->roots[0].dir = strdup(session);
    st->roots[0].prefix = strdup("");
    st->n_roots = 1;
    if (sandbox && *sandbox) {
        /* a pilot sandbox's files are named as under the session directory's
         * pilot.NNNN/; a session sandbox holds pilot.NNNN/ itself */
        char *c = strdup(sandbox);
        char *prefix = NULL;
        if (c) {
            size_t n = strlen(c);
            while (n > 1 && c[n - 1] == '/')
                c[--n] = '\0';
            const char *base = strrchr(c, '/');
            base = base ? base + 1 : c;
            if (s_prefix(base, "pilot.")) {
                size_t pn = strlen(base) + 2;
                prefix = malloc(pn);
                if (prefix)
                    snprintf(prefix, pn, "%s/", base);
            }
            free(c);
        }
        st->roots[1].tag = "x";
        st->roots[1].dir = strdup(sandbox);
        st->roots[1].prefix = prefix ? prefix : strdup("");
        st->n_roots = 2;
    }
    st->cur = s_load_cursor(obs);
    /* a v1 cursor (which held the summaries too) is replaced by the short
     * one at the first poll */
    st->rewrite = mida_observer_cursor(obs) && !strstr(mida_observer_cursor(obs), "\"v\":2");
    if (!st->sid || !st->roots[0].dir || !st->roots[0].prefix || !st->cur ||
        (st->n_roots == 2 && (!st->roots[1].dir || !st->roots[1].prefix))) {
        s_close(st);
        return MIDA_ENOMEM;
    }
    s_parse_sid(st);
    *state = st;
    return 0;
}

/* ---- walking ---------------------------------------------------------- */

static int s_add_file(s_state *st, const s_root *r, const char *rel, const char *path)
{
    if (st->n_files == st->cap_files) {
        size_t cap = st->cap_files ? st->cap_files * 2 : 64;
        s_pfile *f = realloc(st->files, cap * sizeof *f);
        if (!f)
            return MIDA_ENOMEM;
        st->files = f;
        st->cap_files = cap;
    }
    s_pfile *f = &st->files[st->n_files];
    memset(f, 0, sizeof *f);
    size_t kn = strlen(r->tag) + 1 + strlen(rel) + 1;
    size_t ln = strlen(r->prefix) + strlen(rel) + 1;
    f->key = malloc(kn);
    f->logical = malloc(ln);
    f->path = strdup(path);
    if (!f->key || !f->logical || !f->path) {
        free(f->key);
        free(f->logical);
        free(f->path);
        return MIDA_ENOMEM;
    }
    snprintf(f->key, kn, "%s:%s", r->tag, rel);
    snprintf(f->logical, ln, "%s%s", r->prefix, rel);
    /* the pilot: the first directory component named pilot.* */
    const char *p = f->logical;
    for (const char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1)
        if (s_prefix(p, "pilot.")) {
            f->pilot = s_strndup(p, (size_t)(slash - p));
            break;
        }
    st->n_files++;
    return 0;
}

static int s_add_json(s_state *st, const char *path)
{
    if (st->n_jsons == st->cap_jsons) {
        size_t cap = st->cap_jsons ? st->cap_jsons * 2 : 8;
        char **j = realloc(st->jsons, cap * sizeof *j);
        if (!j)
            return MIDA_ENOMEM;
        st->jsons = j;
        st->cap_jsons = cap;
    }
    if (!(st->jsons[st->n_jsons] = strdup(path)))
        return MIDA_ENOMEM;
    st->n_jsons++;
    return 0;
}

/* Is `name` (at the session directory's top) a session document? */
static bool s_json_name(const s_state *st, const char *name)
{
    size_t n = strlen(name);
    if (n < 6 || strcmp(name + n - 5, ".json"))
        return false;
    if (s_prefix(name, "tmgr.") || s_prefix(name, "pmgr."))
        return true;
    return n == strlen(st->sid) + 5 && !strncmp(name, st->sid, n - 5);
}

/* Collects the *.prof files under dir (symbolic links are not followed:
 * no loops) and, at the session directory's top, the session JSON. */
static int s_walk(s_state *st, const s_root *r, const char *dir, const char *rel, int depth)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (depth == 0 && r->tag[0] == 's')
            return errno == ENOENT ? MIDA_ENOTFOUND : MIDA_EIO;
        mida_observer_log(st->obs, depth == 0 ? MIDA_LOG_DEBUG : MIDA_LOG_WARN,
                          "cannot read directory %s: %s", dir, strerror(errno));
        return 0;
    }
    int rc = 0;
    struct dirent *e;
    mida_buf_t path, sub;
    mida_buf_init(&path, 0);
    mida_buf_init(&sub, 0);
    while (!rc && (e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (name[0] == '.')
            continue;
        mida_buf_reset(&path);
        mida_buf_reset(&sub);
        if ((rc = mida_buf_printf(&path, "%s/%s", dir, name)) ||
            (rc = mida_buf_printf(&sub, "%s%s%s", rel, *rel ? "/" : "", name)))
            break;
        size_t n = strlen(name);
        bool prof = n > 5 && !strcmp(name + n - 5, ".prof");
        bool json = depth == 0 && r->tag[0] == 's' && s_json_name(st, name);
        /* d_type spares a stat of every file a task sandbox holds */
        if ((e->d_type == DT_REG && !prof && !json) ||
            (e->d_type == DT_DIR && depth + 1 >= S_MAX_DEPTH))
            continue;
        struct stat sb;
        if (lstat(mida_buf_str(&path), &sb) != 0)
            continue; /* gone meanwhile */
        if (S_ISDIR(sb.st_mode)) {
            if (depth + 1 < S_MAX_DEPTH)
                rc = s_walk(st, r, mida_buf_str(&path), mida_buf_str(&sub), depth + 1);
        } else if (S_ISREG(sb.st_mode)) {
            if (prof)
                rc = s_add_file(st, r, mida_buf_str(&sub), mida_buf_str(&path));
            else if (json)
                rc = s_add_json(st, mida_buf_str(&path));
        }
    }
    closedir(d);
    mida_buf_free(&path);
    mida_buf_free(&sub);
    return rc;
}

static int s_file_cmp(const void *a, const void *b)
{
    return strcmp(((const s_pfile *)a)->key, ((const s_pfile *)b)->key);
}

/* bsearch: a key against a file */
static int s_key_file_cmp(const void *key, const void *file)
{
    return strcmp((const char *)key, ((const s_pfile *)file)->key);
}

static int s_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- reading profiles ------------------------------------------------- */

static const char *const s_default_cols[] = {"time", "event", "comp", "thread",
                                             "uid",  "state", "msg"};

/* The column layout of a file: the indices of the fields we read. */
typedef struct {
    int n;                                /* fields in a line */
    int time, event, uid, state, msg;     /* -1: absent */
} s_layout;

static void s_layout_of(json_t *ent, s_layout *lay)
{
    json_t *cols = json_object_get(ent, "cols");
    size_t n = json_is_array(cols) ? json_array_size(cols) : 7;
    lay->n = (int)n;
    lay->time = lay->event = lay->uid = lay->state = lay->msg = -1;
    for (size_t i = 0; i < n; i++) {
        const char *c = json_is_array(cols) ? json_string_value(json_array_get(cols, i))
                                            : s_default_cols[i];
        if (!c)
            continue;
        if (!strcmp(c, "time"))
            lay->time = (int)i;
        else if (!strcmp(c, "event"))
            lay->event = (int)i;
        else if (!strcmp(c, "uid"))
            lay->uid = (int)i;
        else if (!strcmp(c, "state"))
            lay->state = (int)i;
        else if (!strcmp(c, "msg"))
            lay->msg = (int)i;
    }
}

/* A "#time,event,..." header: the file's column names.  Kept in the
 * cursor only when they differ from the usual seven. */
static void s_header(json_t *ent, const char *line, size_t len)
{
    const char *p = line + 1, *end = line + len;
    json_t *cols = json_array();
    while (p <= end && json_array_size(cols) < S_MAX_COLS) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        if (!c)
            c = end;
        json_array_append_new(cols, json_stringn(p, (size_t)(c - p)));
        p = c + 1;
    }
    bool usual = json_array_size(cols) == 7;
    for (size_t i = 0; usual && i < 7; i++)
        usual = !strcmp(json_string_value(json_array_get(cols, i)), s_default_cols[i]);
    const char *first = json_string_value(json_array_get(cols, 0));
    if (usual || !first || strcmp(first, "time"))
        json_object_del(ent, "cols");
    else
        json_object_set(ent, "cols", cols);
    json_decref(cols);
}

static int s_add_event(s_state *st, int kind, int64_t t, size_t file, const char *uid,
                       size_t uid_len, const char *arg, size_t arg_len)
{
    if (st->n_events == st->cap_events) {
        size_t cap = st->cap_events ? st->cap_events * 2 : 1024;
        s_event *e = realloc(st->events, cap * sizeof *e);
        if (!e)
            return MIDA_ENOMEM;
        st->events = e;
        st->cap_events = cap;
    }
    s_event *e = &st->events[st->n_events];
    e->t = t;
    e->kind = kind;
    e->file = file;
    e->uid = s_strndup(uid, uid_len);
    e->arg = s_strndup(arg, arg_len);
    if (!e->uid || !e->arg) {
        free(e->uid);
        free(e->arg);
        return MIDA_ENOMEM;
    }
    st->n_events++;
    return 0;
}

/* A sync_abs line: "host:ip:t_sys:t_ntp:mode" (the ip may be IPv6, so the
 * fields are taken from both ends).  The first one of a file names its
 * host; the first one in "ntp" mode of a host fixes that host's offset
 * (radical.utils combine_profiles does the same, per host, first wins).
 * bootstrap_0.sh writes t_sys == t_ntp and no mode word: no offset. */
static void s_sync(s_state *st, s_pfile *f, json_t *ent, const char *msg, size_t len)
{
    const char *end = msg + len, *c[4];
    const char *q = end;
    for (int k = 3; k >= 1; k--) {
        while (q > msg && q[-1] != ':')
            q--;
        if (q == msg)
            return;
        c[k] = q - 1;
        q--;
    }
    const char *first = memchr(msg, ':', len);
    if (!first || first >= c[1])
        return;
    c[0] = first;
    /* host = msg..c[0], ip = c[0]+1..c[1], t_sys, t_ntp, mode */
    char *hostid = s_strndup(msg, (size_t)(c[1] - msg));
    char *host = s_strndup(msg, (size_t)(c[0] - msg));
    if (!hostid || !host || !*host)
        goto done;
    if (!s_str(ent, "host")) {
        json_object_set_new(ent, "host", json_string(hostid));
        /* a directory's host is that of its first synced profile: the
         * profiles without a sync_abs (task.prof) take it */
        char *dir = strdup(f->logical);
        if (dir) {
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = '\0';
            else
                dir[0] = '\0';
            json_t *dirs = json_object_get(st->cur, "dirs");
            if (!json_object_get(dirs, dir))
                json_object_set_new(dirs, dir, json_string(hostid));
            if (!*dir && s_set_str(json_object_get(st->cur, "session"), "host", host))
                st->touch_session = true;
            free(dir);
        }
        if (f->pilot) {
            json_t *p = s_child(json_object_get(st->cur, "pilots"), f->pilot);
            if (!s_str(p, "shost")) {
                json_object_set_new(p, "shost", json_string(host));
                st->touch_session = true;
            }
        }
    }
    const char *mode = c[3] + 1;
    int64_t t_sys, t_ntp;
    json_t *hosts = json_object_get(st->cur, "hosts");
    if ((size_t)(end - mode) == 3 && !strncmp(mode, "ntp", 3) && !json_object_get(hosts, hostid) &&
        !s_parse_ns(c[1] + 1, (size_t)(c[2] - c[1] - 1), &t_sys) &&
        !s_parse_ns(c[2] + 1, (size_t)(c[3] - c[2] - 1), &t_ntp)) {
        json_object_set_new(hosts, hostid, json_integer((json_int_t)(t_ntp - t_sys)));
        st->touch_session = true;
    }
done:
    free(hostid);
    free(host);
}

/* One complete line (without its newline) of file `fi`. */
static int s_line(s_state *st, size_t fi, json_t *ent, const s_layout *lay, const char *line,
                  size_t len, int64_t lineno)
{
    s_pfile *f = &st->files[fi];
    if (len && line[len - 1] == '\r')
        len--;
    if (!len)
        return 0;
    if (line[0] == '#') {
        s_header(ent, line, len);
        return 1; /* the layout changed */
    }
    const char *field[S_MAX_COLS];
    size_t flen[S_MAX_COLS];
    int n = 0;
    const char *p = line, *end = line + len;
    while (n < lay->n) {
        /* the last column takes the rest of the line (a msg with commas) */
        const char *c = n == lay->n - 1 ? NULL : memchr(p, ',', (size_t)(end - p));
        field[n] = p;
        flen[n] = (size_t)((c ? c : end) - p);
        n++;
        if (!c)
            break;
        p = c + 1;
    }
    char where[600];
    if (n < lay->n || lay->time < 0 || lay->event < 0) {
        if (!st->quiet) {
            snprintf(where, sizeof where, "%s:%" PRId64, f->path, lineno);
            mida_observer_skip(st->obs, where, "%d comma-separated fields, expected %d", n,
                               lay->n);
        }
        return 0;
    }
    int64_t t;
    if (s_parse_ns(field[lay->time], flen[lay->time], &t)) {
        if (!st->quiet) {
            snprintf(where, sizeof where, "%s:%" PRId64, f->path, lineno);
            mida_observer_skip(st->obs, where, "time '%.*s' is not a number of seconds",
                               (int)(flen[lay->time] > 40 ? 40 : flen[lay->time]),
                               field[lay->time]);
        }
        return 0;
    }
#define FIELD_IS(i, s) ((i) >= 0 && flen[i] == strlen(s) && !memcmp(field[i], s, flen[i]))
#define HAS(i) ((i) >= 0 && flen[i] > 0)
    int ev = lay->event;
    if (FIELD_IS(ev, "sync_abs") || FIELD_IS(ev, "sync abs")) {
        if (HAS(lay->msg))
            s_sync(st, f, ent, field[lay->msg], flen[lay->msg]);
        return 0;
    }
    if (!HAS(lay->uid))
        return 0;
    const char *uid = field[lay->uid];
    size_t ul = flen[lay->uid];
    if (FIELD_IS(ev, "advance") || FIELD_IS(ev, "state")) {
        if (HAS(lay->state))
            return s_add_event(st, EV_STATE, t, fi, uid, ul, field[lay->state], flen[lay->state]);
        return 0;
    }
    if (FIELD_IS(ev, "session_start") || FIELD_IS(ev, "session_close") ||
        FIELD_IS(ev, "session_stop"))
        return s_add_event(st, EV_SESSION, t, fi, uid, ul, field[ev], flen[ev]);
    if (FIELD_IS(ev, "hostname")) {
        if (HAS(lay->msg))
            return s_add_event(st, EV_HOSTNAME, t, fi, uid, ul, field[lay->msg], flen[lay->msg]);
        return 0;
    }
    char name[64];
    if (flen[ev] < sizeof name) {
        memcpy(name, field[ev], flen[ev]);
        name[flen[ev]] = '\0';
        if (s_in(s_task_events, name) || s_in(s_pilot_events, name))
            return s_add_event(st, EV_TASK_EVENT, t, fi, uid, ul, field[ev], flen[ev]);
    }
    return 0;
#undef FIELD_IS
#undef HAS
}

/* Reads what is new in file `fi`: complete lines only (a partial last line
 * waits for its newline); a file that shrank or is another file (inode) is
 * read again from its start.
 *
 * Rebuilding (`replay`): reads the file from its start up to the offset
 * its cursor entry holds, so that its events fold again, and leaves the
 * entry as it was; a file that is no longer the one of the entry (inode,
 * shorter) is left to the poll that follows, which reads it from 0. */
static int s_read_file(s_state *st, size_t fi, bool replay)
{
    s_pfile *f = &st->files[fi];
    json_t *files = json_object_get(st->cur, "files");
    json_t *ent = json_object_get(files, f->key);
    int64_t dev = 0, ino = 0, off = 0, line = 0, limit = -1;
    if (replay && (!ent || !s_has_int(ent, "off", &limit) || limit <= 0))
        return 0;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (!replay)
            mida_observer_log(st->obs, MIDA_LOG_WARN, "cannot open %s: %s", f->path,
                              strerror(errno));
        return 0;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return 0;
    }
    bool same = ent && s_has_int(ent, "dev", &dev) && s_has_int(ent, "ino", &ino) &&
                dev == (int64_t)sb.st_dev && ino == (int64_t)sb.st_ino &&
                s_has_int(ent, "off", &off) && off <= (int64_t)sb.st_size;
    if (replay) {
        if (!same) {
            close(fd);
            return 0;
        }
        off = line = 0;
    } else if (same) {
        s_has_int(ent, "line", &line);
    } else {
        if (ent)
            mida_observer_log(st->obs, MIDA_LOG_INFO, "%s was replaced or truncated: read again",
                              f->path);
        ent = json_pack("{s:I, s:I, s:I, s:I}", "dev", (json_int_t)sb.st_dev, "ino",
                        (json_int_t)sb.st_ino, "off", (json_int_t)0, "line", (json_int_t)0);
        if (!ent || json_object_set_new(files, f->key, ent)) {
            close(fd);
            return MIDA_ENOMEM;
        }
        off = line = 0;
        st->dirty = true;
    }
    int64_t end = replay ? limit : (int64_t)sb.st_size;
    if (off == end) {
        close(fd);
        return 0;
    }
    if (lseek(fd, (off_t)off, SEEK_SET) < 0) {
        close(fd);
        return 0;
    }
    s_layout lay;
    s_layout_of(ent, &lay);
    char *buf = malloc(S_CHUNK + S_MAX_LINE);
    if (!buf) {
        close(fd);
        return MIDA_ENOMEM;
    }
    size_t have = 0;            /* bytes in buf: the start of an unfinished line + new */
    /* the line being read passed S_MAX_LINE: its head is dropped, up to its
     * newline (maybe only written after this poll: kept in the cursor) */
    bool overlong = !replay && json_is_true(json_object_get(ent, "skip"));
    int64_t consumed = off;     /* file offset just after the last complete line */
    int64_t pos = off;          /* file offset read up to */
    int rc = 0;
    for (;;) {
        size_t want = S_CHUNK;
        if (replay && (int64_t)want > limit - pos)
            want = (size_t)(limit - pos);
        if (!want)
            break;
        ssize_t got = read(fd, buf + have, want);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        pos += got;
        size_t total = have + (size_t)got, start = 0;
        for (;;) {
            char *nl = memchr(buf + start, '\n', total - start);
            if (!nl)
                break;
            size_t len = (size_t)(nl - (buf + start));
            line++;
            if (overlong) {
                if (!st->quiet) {
                    char where[600];
                    snprintf(where, sizeof where, "%s:%" PRId64, f->path, line);
                    mida_observer_skip(st->obs, where, "line longer than %d bytes", S_MAX_LINE);
                }
                overlong = false;
            } else {
                int r = s_line(st, fi, ent, &lay, buf + start, len, line);
                if (r < 0) {
                    rc = r;
                    break;
                }
                if (r == 1)
                    s_layout_of(ent, &lay);
            }
            consumed += (int64_t)len + 1;
            start += len + 1;
        }
        if (rc)
            break;
        /* keep the unfinished line; drop its head when it grows too long */
        size_t rest = total - start;
        if (rest > S_MAX_LINE) {
            overlong = true;
            consumed += (int64_t)rest; /* skipped, its end still to come */
            rest = 0;
        }
        memmove(buf, buf + start, rest);
        have = rest;
    }
    free(buf);
    close(fd);
    /* rebuilding: the entry keeps its offset and "skip" (what lies after
     * the last newline below the offset is the head of a long line whose end
     * the poll will skip); the lines were counted again */
    if (!rc && replay)
        json_object_set_new(ent, "line", json_integer((json_int_t)line));
    if (!rc && !replay && consumed != off) {
        json_object_set_new(ent, "off", json_integer((json_int_t)consumed));
        json_object_set_new(ent, "line", json_integer((json_int_t)line));
        if (overlong)
            json_object_set_new(ent, "skip", json_true());
        else
            json_object_del(ent, "skip");
        st->dirty = true;
    }
    return rc;
}

/* ---- folding events into summaries ------------------------------------ */

/* The host ("host:ip") whose clock file `fi` uses: its own sync_abs, else
 * that of the nearest directory above it with a synced profile. */
static const char *s_file_host(s_state *st, size_t fi)
{
    s_pfile *f = &st->files[fi];
    json_t *ent = json_object_get(json_object_get(st->cur, "files"), f->key);
    const char *h = s_str(ent, "host");
    if (h)
        return h;
    if ((h = s_str(ent, "rhost")))
        return h;
    json_t *dirs = json_object_get(st->cur, "dirs");
    char *dir = strdup(f->logical);
    if (!dir)
        return NULL;
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            dir[0] = '\0';
        if ((h = s_str(dirs, dir)) != NULL || !*dir)
            break;
    }
    free(dir);
    if (h) {
        /* fixed from now on, so that the file's times never shift */
        json_object_set_new(ent, "rhost", json_string(h));
        st->dirty = true;
        return s_str(ent, "rhost");
    }
    return NULL;
}

static int64_t s_offset(s_state *st, size_t fi)
{
    if (st->host_clock)
        return 0;
    const char *h = s_file_host(st, fi);
    int64_t off = 0;
    if (h)
        s_has_int(json_object_get(st->cur, "hosts"), h, &off);
    return off;
}

static void s_touch(s_state *st, const char *uid)
{
    if (!json_object_get(st->touched, uid))
        json_object_set_new(st->touched, uid, json_null());
}

static bool s_is_pilot(const char *uid)
{
    return s_prefix(uid, "pilot.");
}

static void s_fold(s_state *st)
{
    json_t *tasks = json_object_get(st->cur, "tasks");
    json_t *pilots = json_object_get(st->cur, "pilots");
    json_t *session = json_object_get(st->cur, "session");
    for (size_t i = 0; i < st->n_events; i++) {
        s_event *e = &st->events[i];
        int64_t t = e->t + s_offset(st, e->file);
        const char *pilot_dir = st->files[e->file].pilot;
        bool changed = false;
        switch (e->kind) {
        case EV_STATE:
        case EV_TASK_EVENT: {
            if (s_prefix(e->uid, "rp.session.") || !strcmp(e->uid, st->sid))
                break;
            bool pilot = s_is_pilot(e->uid);
            /* a task: task.* or unit.* (before RP 1.0), or any other uid
             * that advances through task states (raptor masters, workers) */
            if (!pilot && e->kind == EV_STATE && !s_prefix(e->uid, "task.") &&
                !s_prefix(e->uid, "unit.") && s_task_rank(e->arg) < 0)
                break;
            json_t *o = s_child(pilot ? pilots : tasks, e->uid);
            if (e->kind == EV_STATE)
                changed = s_fold_time(s_child(o, "st"), e->arg, t, false);
            else if (s_in(pilot ? s_pilot_events : s_task_events, e->arg)) {
                size_t n = strlen(e->arg);
                bool latest = n > 5 && !strcmp(e->arg + n - 5, "_stop");
                changed = s_fold_time(s_child(o, "ev"), e->arg, t, latest);
            }
            if (!pilot && pilot_dir && !s_str(o, "p"))
                changed = s_set_str(o, "p", pilot_dir) || changed;
            if (changed) {
                if (pilot)
                    st->touch_session = true;
                else
                    s_touch(st, e->uid);
            }
            break;
        }
        case EV_SESSION:
            if (strcmp(e->uid, st->sid))
                break;
            if (s_fold_time(session, e->arg, t, strcmp(e->arg, "session_start") != 0))
                st->touch_session = true;
            break;
        case EV_HOSTNAME:
            if (s_is_pilot(e->uid) && s_set_str(s_child(pilots, e->uid), "host", e->arg))
                st->touch_session = true;
            break;
        }
    }
}

/* ---- the session JSON ------------------------------------------------- */

/* The task dict's sandbox for a staging URL scheme (radical.pilot
 * staging_directives.complete_url). */
static const char *s_sandbox_of(json_t *task, const char *scheme, size_t n)
{
    static const struct {
        const char *scheme, *field;
    } map[] = {{"client", "client_sandbox"},     {"task", "task_sandbox"},
               {"pilot", "pilot_sandbox"},       {"staging", "pilot_sandbox"},
               {"resource", "resource_sandbox"}, {"session", "session_sandbox"},
               {"endpoint", "endpoint_fs"}};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strlen(map[i].scheme) == n && !strncmp(map[i].scheme, scheme, n))
            return s_str(task, map[i].field);
    return NULL;
}

static bool s_is_rp_scheme(const char *scheme, size_t n)
{
    static const char *schemes[] = {"client", "task",    "pilot",   "staging",
                                    "resource", "session", "endpoint"};
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++)
        if (strlen(schemes[i]) == n && !strncmp(schemes[i], scheme, n))
            return true;
    return false;
}

/* A staging source or target as a data reference {"@id": location}:
 * client:///f, task:///f, pilot:///f, ... expand against the task's
 * sandboxes; a relative path against `rel_scheme`'s; file: URIs and
 * absolute paths become paths; any other URI stays.  An RP scheme whose
 * sandbox the task dict lacks stays as written (an identifier). */
static json_t *s_stage_ref(json_t *task, const char *url, const char *rel_scheme)
{
    const char *colon = strstr(url, "://");
    const char *scheme = url, *rest;
    size_t sn;
    bool rel = false;
    if (colon) {
        sn = (size_t)(colon - url);
        for (size_t i = 0; i < sn; i++)
            if (!((url[i] >= 'a' && url[i] <= 'z') || (url[i] >= 'A' && url[i] <= 'Z') ||
                  (url[i] >= '0' && url[i] <= '9') || url[i] == '+' || url[i] == '-' ||
                  url[i] == '.'))
                colon = NULL;
    }
    if (!colon) {
        if (url[0] == '/' || s_prefix(url, "file:")) {
            char *loc = s_norm_location(url);
            json_t *ref = loc ? json_pack("{s:s}", "@id", loc) : NULL;
            free(loc);
            return ref;
        }
        rel = true;
        scheme = rel_scheme;
        sn = strlen(rel_scheme);
        rest = url;
    } else {
        rest = colon + 3;
    }
    if (rel || s_is_rp_scheme(scheme, sn)) {
        const char *base = s_sandbox_of(task, scheme, sn);
        if (!base)
            return json_pack("{s:s}", "@id", url);
        /* schema:// is schema:/// (a namespace, not a host) */
        while (*rest == '/')
            rest++;
        mida_buf_t b;
        mida_buf_init(&b, 0);
        mida_buf_printf(&b, "%s/%s", base, rest);
        char *loc = s_norm_location(mida_buf_str(&b));
        mida_buf_free(&b);
        json_t *ref = loc ? json_pack("{s:s}", "@id", loc) : NULL;
        free(loc);
        return ref;
    }
    char *loc = s_norm_location(url);
    json_t *ref = loc ? json_pack("{s:s}", "@id", loc) : NULL;
    free(loc);
    return ref;
}

/* Splits a directive into source and target: a dict, or the string forms
 * "src > tgt", "tgt < src" and "src" (target: its basename). */
static bool s_directive(json_t *sd, char **src, char **tgt)
{
    *src = *tgt = NULL;
    if (json_is_object(sd)) {
        *src = s_strdup(s_str(sd, "source"));
        const char *t = s_str(sd, "target");
        if (!t && *src) {
            const char *b = strrchr(*src, '/');
            t = b ? b + 1 : *src;
        }
        *tgt = s_strdup(t);
    } else if (json_is_string(sd)) {
        const char *s = json_string_value(sd);
        const char *gt = strchr(s, '>'), *lt = strchr(s, '<');
        const char *a = s, *ae, *b = NULL, *be = NULL;
        if (gt || lt) {
            const char *op = gt ? gt : lt;
            ae = op;
            b = op + 1;
            be = s + strlen(s);
        } else {
            ae = s + strlen(s);
        }
        while (a < ae && *a == ' ')
            a++;
        while (ae > a && ae[-1] == ' ')
            ae--;
        if (b) {
            while (b < be && *b == ' ')
                b++;
            while (be > b && be[-1] == ' ')
                be--;
        }
        char *first = s_strndup(a, (size_t)(ae - a));
        char *second = b ? s_strndup(b, (size_t)(be - b)) : NULL;
        if (lt && !gt) {
            *src = second;
            *tgt = first;
        } else {
            *src = first;
            *tgt = second;
        }
        if (*src && !*tgt) {
            const char *base = strrchr(*src, '/');
            *tgt = strdup(base ? base + 1 : *src);
        }
    }
    if (!*src || !**src || !*tgt || !**tgt) {
        free(*src);
        free(*tgt);
        *src = *tgt = NULL;
        return false;
    }
    return true;
}

/* input_staging / output_staging -> lists of data references under
 * used "input_staging" (sources) and "input_staging_target", or generated
 * "output_staging" (targets) and "output_staging_source": both sides are
 * data of the task (the copy in the sandbox is what it reads or wrote). */
static void s_staging(json_t *task, json_t *list, bool input, json_t *used, json_t *generated)
{
    if (!json_is_array(list) || !json_array_size(list))
        return;
    json_t *srcs = json_array(), *tgts = json_array();
    size_t i;
    json_t *sd;
    json_array_foreach(list, i, sd)
    {
        char *src, *tgt;
        if (!s_directive(sd, &src, &tgt))
            continue;
        /* relative paths: input sources from the client's directory,
         * targets into the task's sandbox; the other way for output */
        json_array_append_new(srcs, s_stage_ref(task, src, input ? "client" : "task"));
        json_array_append_new(tgts, s_stage_ref(task, tgt, input ? "task" : "client"));
        free(src);
        free(tgt);
    }
    if (json_array_size(srcs)) {
        if (input) {
            json_object_set(used, "input_staging", srcs);
            json_object_set(used, "input_staging_target", tgts);
        } else {
            json_object_set(generated, "output_staging", tgts);
            json_object_set(generated, "output_staging_source", srcs);
        }
    }
    json_decref(srcs);
    json_decref(tgts);
}

static bool s_empty(json_t *v)
{
    return !v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)) ||
           (json_is_array(v) && !json_array_size(v)) ||
           (json_is_object(v) && !json_object_size(v));
}

/* A list parameter (arguments, pre_exec) as its compact JSON text: as a
 * list of absolute paths it would be taken for data the task used, and an
 * argument may as well be the task's output. */
static void s_param_text(json_t *used, const char *name, json_t *v)
{
    if (s_empty(v))
        return;
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text)
        json_object_set_new(used, name, json_string(text));
    free(text);
}

/* The JSON side of a task record: what was run, with what, what came out. */
static void s_task_from_json(json_t *rec, json_t *task)
{
    json_t *d = json_object_get(task, "description");
    json_t *used = json_object(), *gen = json_object();
    const char *exe = s_str(d, "executable"), *fn = s_str(d, "function");
    const char *cmd = s_str(d, "command"), *mode = s_str(d, "mode");
    const char *activity = exe ? exe : fn ? fn : cmd ? cmd : mode;
    if (activity)
        json_object_set_new(rec, "activity_id", json_string(activity));
    if (exe)
        json_object_set_new(used, "executable", json_string(exe));
    if (fn)
        json_object_set_new(used, "function", json_string(fn));
    if (cmd)
        json_object_set_new(used, "command", json_string(cmd));
    if (mode)
        json_object_set_new(used, "mode", json_string(mode));
    s_param_text(used, "arguments", json_object_get(d, "arguments"));
    s_param_text(used, "args", json_object_get(d, "args"));
    s_param_text(used, "pre_exec", json_object_get(d, "pre_exec"));
    s_param_text(used, "post_exec", json_object_get(d, "post_exec"));
    static const char *const plain[] = {"ranks", "cores_per_rank", "gpus_per_rank", NULL};
    for (const char *const *k = plain; *k; k++) {
        json_t *v = json_object_get(d, *k);
        if (json_is_number(v))
            json_object_set(used, *k, v);
    }
    static const char *const optional[] = {"named_env", "environment", "kwargs", "tags",
                                           "metadata", "timeout", NULL};
    for (const char *const *k = optional; *k; k++) {
        json_t *v = json_object_get(d, *k);
        if (!s_empty(v) && !(json_is_number(v) && json_number_value(v) == 0))
            json_object_set(used, *k, v);
    }
    s_staging(task, json_object_get(d, "input_staging"), true, used, gen);
    s_staging(task, json_object_get(d, "output_staging"), false, used, gen);
    static const char *const outs[] = {"stdout_file", "stderr_file", NULL};
    for (const char *const *k = outs; *k; k++) {
        const char *path = s_str(task, *k);
        char *loc = path ? s_norm_location(path) : NULL;
        if (loc)
            json_object_set_new(gen, *k, json_pack("{s:s}", "@id", loc));
        free(loc);
    }
    static const char *const results[] = {"return_value", "exception", "exception_detail", NULL};
    for (const char *const *k = results; *k; k++) {
        json_t *v = json_object_get(task, *k);
        if (!s_empty(v))
            json_object_set(gen, *k, v);
    }
    if (json_object_size(used))
        json_object_set(rec, "used", used);
    if (json_object_size(gen))
        json_object_set(rec, "generated", gen);
    json_decref(used);
    json_decref(gen);
    json_t *ec = json_object_get(task, "exit_code");
    if (json_is_integer(ec))
        json_object_set(rec, "exit_code", ec);
    const char *out = s_str(task, "stdout"), *errtext = s_str(task, "stderr");
    if (out)
        json_object_set_new(rec, "stdout", json_string(out));
    if (errtext)
        json_object_set_new(rec, "stderr", json_string(errtext));
    const char *name = s_str(task, "name");
    if (!name)
        name = s_str(d, "name");
    if (name)
        json_object_set_new(rec, "tags", json_pack("[s]", name));
}

/* Takes what the summary keeps from a task dict (state, pilot, sandbox,
 * nodes) and marks the task for a record carrying the dict. */
static void s_json_task(s_state *st, json_t *task, const char *where, size_t i)
{
    const char *uid = s_str(task, "uid");
    if (!json_is_object(task) || !uid) {
        if (!st->quiet) {
            char w[700];
            snprintf(w, sizeof w, "%s: task #%zu", where, i);
            mida_observer_skip(st->obs, w, "not a task dict with a \"uid\"");
        }
        return;
    }
    json_t *o = s_child(json_object_get(st->cur, "tasks"), uid);
    s_set_str(o, "js", s_str(task, "state"));
    if (!s_str(o, "p"))
        s_set_str(o, "p", s_str(task, "pilot"));
    const char *sb = s_str(task, "task_sandbox_path");
    if (!sb)
        sb = s_str(task, "task_sandbox");
    char *loc = sb ? s_norm_location(sb) : NULL;
    if (loc && *loc)
        s_set_str(o, "sb", loc);
    free(loc);
    /* the nodes the ranks ran on; "localhost" (the pilot's own node, on
     * local.localhost) says nothing: the pilot's host is used instead */
    json_t *ranks = json_object_get(json_object_get(task, "slots"), "ranks");
    json_t *nodes = json_array();
    size_t k;
    json_t *r;
    json_array_foreach(ranks, k, r)
    {
        const char *node = s_str(r, "node_name");
        if (!node)
            continue;
        bool seen = false;
        for (size_t j = 0; j < json_array_size(nodes) && !seen; j++)
            seen = !strcmp(json_string_value(json_array_get(nodes, j)), node);
        if (!seen)
            json_array_append_new(nodes, json_string(node));
    }
    if (json_array_size(nodes)) {
        json_object_set(o, "nodes", nodes);
        const char *first = json_string_value(json_array_get(nodes, 0));
        if (strcmp(first, "localhost"))
            s_set_str(o, "hn", first);
    }
    json_decref(nodes);
    json_object_set(st->touched, uid, task);
}

static void s_json_pilot(s_state *st, json_t *pilot, const char *where, size_t i)
{
    const char *uid = s_str(pilot, "uid");
    if (!json_is_object(pilot) || !uid) {
        if (!st->quiet) {
            char w[700];
            snprintf(w, sizeof w, "%s: pilot #%zu", where, i);
            mida_observer_skip(st->obs, w, "not a pilot dict with a \"uid\"");
        }
        return;
    }
    json_t *o = s_child(json_object_get(st->cur, "pilots"), uid);
    json_t *desc = json_object_get(pilot, "description");
    json_t *d = json_object();
    static const char *const keys[] = {"resource", "cores", "gpus", "nodes", "runtime",
                                       "queue", "project", NULL};
    for (const char *const *k = keys; *k; k++) {
        json_t *v = json_object_get(desc, *k);
        if (!s_empty(v) && !(json_is_number(v) && json_number_value(v) == 0))
            json_object_set(d, *k, v);
    }
    const char *sb = s_str(pilot, "pilot_sandbox");
    char *loc = sb ? s_norm_location(sb) : NULL;
    if (loc)
        json_object_set_new(d, "sandbox", json_string(loc));
    free(loc);
    if (s_str(pilot, "pmgr"))
        json_object_set_new(d, "pmgr", json_string(s_str(pilot, "pmgr")));
    if (s_str(pilot, "state"))
        json_object_set_new(d, "state", json_string(s_str(pilot, "state")));
    json_object_set_new(o, "d", d);
    st->touch_session = true;
}

/* The NTP offset of the client host (that of the session directory's own
 * profiles). */
static int64_t s_session_offset(s_state *st)
{
    const char *h = s_str(json_object_get(st->cur, "dirs"), "");
    int64_t off = 0;
    if (h && !st->host_clock)
        s_has_int(json_object_get(st->cur, "hosts"), h, &off);
    return off;
}

/* Applies one session document (legacy or current layout). */
static void s_json_doc(s_state *st, json_t *doc, const char *path)
{
    json_t *session = json_object_get(st->cur, "session");
    json_t *sess = json_array_get(json_object_get(doc, "session"), 0);
    if (json_is_object(sess)) {
        json_t *md = json_object_get(sess, "metadata");
        if (json_is_array(md))
            md = json_array_get(md, 0);
        const char *rp = s_str(json_object_get(md, "radical_stack"), "rp");
        if (rp) {
            /* "1.22.0-v1.21.0-148-ga004e22d4@devel": the release is the
             * part before the first '-' */
            const char *dash = strchr(rp, '-');
            char *v = s_strndup(rp, dash ? (size_t)(dash - rp) : strlen(rp));
            if (v && s_set_str(session, "rp", v))
                st->touch_session = true;
            free(v);
        }
        json_t *created = json_object_get(sess, "created");
        if (json_is_number(created)) {
            /* the client's clock, like the client's profiles */
            int64_t ns = (int64_t)(json_number_value(created) * 1e9) + s_session_offset(st);
            if (s_fold_time(session, "created", ns, false))
                st->touch_session = true;
        }
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, "pilot"), i, v) s_json_pilot(st, v, path, i);
    json_t *pilots = json_object_get(doc, "pilots");
    if (json_is_array(pilots)) {
        json_array_foreach(pilots, i, v) s_json_pilot(st, v, path, i);
    } else if (json_is_object(pilots)) {
        const char *k;
        i = 0;
        json_object_foreach(pilots, k, v) s_json_pilot(st, v, path, i++);
    }
    json_array_foreach(json_object_get(doc, "task"), i, v) s_json_task(st, v, path, i);
    json_t *tasks = json_object_get(doc, "tasks");
    if (json_is_array(tasks)) {
        json_array_foreach(tasks, i, v) s_json_task(st, v, path, i);
    } else if (json_is_object(tasks)) {
        const char *k;
        i = 0;
        json_object_foreach(tasks, k, v) s_json_task(st, v, path, i++);
    }
}

/* Reads each session document whose size, mtime or inode changed.  One
 * that is not JSON (still being written, say) is reported and read again
 * once it changes.  Rebuilding (`replay`): reads, quietly, only those whose
 * signature is the saved one (read before the restart); the others are the
 * poll's. */
static void s_read_jsons(s_state *st, bool replay)
{
    json_t *sigs = json_object_get(st->cur, "json");
    if (st->n_jsons > 1) /* (qsort wants an array, even of nothing) */
        qsort(st->jsons, st->n_jsons, sizeof *st->jsons, s_str_cmp);
    for (size_t i = 0; i < st->n_jsons; i++) {
        const char *path = st->jsons[i];
        const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        struct stat sb;
        if (stat(path, &sb) != 0)
            continue;
        int64_t mtime = (int64_t)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
        json_t *sig = json_pack("{s:I, s:I, s:I, s:I}", "dev", (json_int_t)sb.st_dev, "ino",
                                (json_int_t)sb.st_ino, "size", (json_int_t)sb.st_size, "mtime",
                                (json_int_t)mtime);
        if (!sig)
            continue;
        if (json_equal(sig, json_object_get(sigs, name)) != replay) {
            json_decref(sig);
            continue;
        }
        if (replay) {
            json_decref(sig);
        } else {
            json_object_set_new(sigs, name, sig);
            st->dirty = true;
        }
        json_error_t jerr;
        json_t *doc = json_load_file(path, 0, &jerr);
        if (!json_is_object(doc)) {
            if (st->quiet) {
                json_decref(doc);
                continue;
            }
            char where[700];
            snprintf(where, sizeof where, "%s:%d", path, doc ? 1 : jerr.line);
            mida_observer_skip(st->obs, where, "%s", doc ? "not a JSON object" : jerr.text);
            json_decref(doc);
            continue;
        }
        s_json_doc(st, doc, path);
        json_decref(doc);
    }
}

/* ---- records ---------------------------------------------------------- */

/* [[state, time], ...] in time order. */
static json_t *s_history(json_t *st_map)
{
    size_t n = json_object_size(st_map), k = 0;
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    int64_t *times = malloc((n ? n : 1) * sizeof *times);
    json_t *out = json_array();
    if (!keys || !times || !out) {
        free(keys);
        free(times);
        return out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(st_map, key, v)
    {
        keys[k] = key;
        times[k] = (int64_t)json_integer_value(v);
        k++;
    }
    /* insertion sort: a few dozen states */
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && (times[j] < times[j - 1] ||
                                     (times[j] == times[j - 1] && strcmp(keys[j], keys[j - 1]) < 0));
             j--) {
            int64_t t = times[j];
            times[j] = times[j - 1];
            times[j - 1] = t;
            const char *s = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = s;
        }
    for (size_t i = 0; i < k; i++)
        json_array_append_new(out, json_pack("[s,o]", keys[i], s_iso_json(times[i])));
    free(keys);
    free(times);
    return out;
}

static json_t *s_events_json(json_t *ev, const char *const *order)
{
    json_t *out = json_object();
    int64_t t;
    for (; *order; order++)
        if (s_has_int(ev, *order, &t))
            json_object_set_new(out, *order, s_iso_json(t));
    return out;
}

static void s_common(s_state *st, json_t *rec)
{
    json_t *session = json_object_get(st->cur, "session");
    json_object_set_new(rec, "workflow_id", json_string(st->sid));
    if (st->sid_user)
        json_object_set_new(rec, "user", json_string(st->sid_user));
    json_object_set_new(rec, "engine", json_string(S_ENGINE));
    if (s_str(session, "rp"))
        json_object_set_new(rec, "engine_version", json_string(s_str(session, "rp")));
}

static int s_emit(s_state *st, json_t *rec, const char *what, char *err, size_t errlen)
{
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (!text) {
        snprintf(err, errlen, "out of memory making the record of %s", what);
        return MIDA_ENOMEM;
    }
    int rc = mida_observer_emit(st->obs, text, 0);
    free(text);
    if (rc)
        snprintf(err, errlen, "the record of %s was not delivered: %s", what, mida_strerror(rc));
    return rc;
}

static json_t *s_task_record(s_state *st, const char *uid, json_t *task_json)
{
    json_t *o = json_object_get(json_object_get(st->cur, "tasks"), uid);
    json_t *stm = json_object_get(o, "st"), *ev = json_object_get(o, "ev");
    json_t *rec = json_object();
    s_common(st, rec);
    json_object_set_new(rec, "task_id", json_string(uid));
    int rank;
    const char *cur = s_current(stm, s_str(o, "js"), s_task_rank, &rank);
    if (cur) {
        json_object_set_new(rec, "status", json_string(s_status(cur, rank, 15, 10, 14)));
        json_object_set_new(rec, "native_status", json_string(cur));
    }
    int64_t t;
    if (s_has_int(stm, "NEW", &t))
        json_object_set_new(rec, "submitted_at", s_iso_json(t));
    if (s_has_int(ev, "exec_start", &t) || s_has_int(ev, "task_run_start", &t))
        json_object_set_new(rec, "started_at", s_iso_json(t));
    if (s_has_int(ev, "exec_stop", &t) || s_has_int(ev, "task_run_stop", &t) ||
        (cur && rank == 15 && s_has_int(stm, cur, &t)))
        json_object_set_new(rec, "ended_at", s_iso_json(t));
    const char *pilot = s_str(o, "p");
    json_t *p = pilot ? json_object_get(json_object_get(st->cur, "pilots"), pilot) : NULL;
    if (pilot)
        json_object_set_new(rec, "environment_id", json_string(pilot));
    const char *host = s_str(o, "hn");
    if (!host)
        host = s_str(p, "host");
    if (!host)
        host = s_str(p, "shost");
    if (host)
        json_object_set_new(rec, "hostname", json_string(host));
    json_t *md = json_object();
    if (pilot)
        json_object_set_new(md, "pilot", json_string(pilot));
    if (json_object_size(stm))
        json_object_set_new(md, "rp_states", s_history(stm));
    if (json_object_size(ev))
        json_object_set_new(md, "rp_events", s_events_json(ev, s_task_events));
    if (s_str(o, "sb"))
        json_object_set_new(md, "sandbox", json_string(s_str(o, "sb")));
    if (json_object_get(o, "nodes"))
        json_object_set(md, "nodes", json_object_get(o, "nodes"));
    json_object_set_new(rec, "custom_metadata", md);
    if (json_is_object(task_json))
        s_task_from_json(rec, task_json);
    return rec;
}

static json_t *s_session_record(s_state *st)
{
    json_t *session = json_object_get(st->cur, "session");
    json_t *rec = json_object();
    s_common(st, rec);
    const char *host = s_str(session, "host");
    if (!host)
        host = st->sid_host;
    if (host)
        json_object_set_new(rec, "hostname", json_string(host));
    int64_t t;
    if (s_has_int(session, "session_start", &t) || s_has_int(session, "created", &t))
        json_object_set_new(rec, "started_at", s_iso_json(t));
    bool closed = false;
    if (s_has_int(session, "session_stop", &t) || s_has_int(session, "session_close", &t)) {
        json_object_set_new(rec, "ended_at", s_iso_json(t));
        closed = true;
    }
    if (closed || s_has_int(session, "session_start", NULL)) {
        json_object_set_new(rec, "status", json_string(closed ? "FINISHED" : "RUNNING"));
        json_object_set_new(rec, "native_status", json_string(closed ? "CLOSED" : "ACTIVE"));
    }
    /* the pilots: the agents that ran the tasks */
    json_t *md = json_object(), *pl = json_object();
    const char *uid;
    json_t *p;
    json_object_foreach(json_object_get(st->cur, "pilots"), uid, p)
    {
        json_t *o = json_object();
        json_t *stm = json_object_get(p, "st");
        json_t *d = json_object_get(p, "d");
        int rank;
        const char *cur = s_current(stm, s_str(d, "state"), s_pilot_rank, &rank);
        if (cur) {
            json_object_set_new(o, "state", json_string(cur));
            json_object_set_new(o, "status", json_string(s_status(cur, rank, 5, 4, 4)));
        }
        const char *h = s_str(p, "host") ? s_str(p, "host") : s_str(p, "shost");
        if (h)
            json_object_set_new(o, "host", json_string(h));
        if (json_object_size(stm))
            json_object_set_new(o, "rp_states", s_history(stm));
        if (json_object_size(json_object_get(p, "ev")))
            json_object_set_new(o, "rp_events",
                                s_events_json(json_object_get(p, "ev"), s_pilot_events));
        const char *k;
        json_t *v;
        json_object_foreach(d, k, v) if (strcmp(k, "state")) json_object_set(o, k, v);
        json_object_set_new(pl, uid, o);
    }
    json_object_set_new(md, "pilots", pl);
    json_t *offs = json_object();
    json_object_foreach(json_object_get(st->cur, "hosts"), uid, p)
    {
        if (!st->host_clock)
            json_object_set_new(offs, uid, json_real((double)json_integer_value(p) / 1e9));
    }
    json_object_set_new(md, "clock_offsets_s", offs);
    json_object_set_new(rec, "custom_metadata", md);
    return rec;
}

/* ---- one poll --------------------------------------------------------- */

/* Puts the state back to the last cursor handed to the observer: what was
 * folded after it was not all delivered.  The summaries are rebuilt from
 * it at the next poll. */
static void s_rollback(s_state *st)
{
    json_t *cur = s_load_cursor(st->obs);
    if (cur) {
        json_decref(st->cur);
        st->cur = cur;
        st->built = false;
    }
    st->session_sent = false;
}

static void s_events_reset(s_state *st)
{
    for (size_t i = 0; i < st->n_events; i++) {
        free(st->events[i].uid);
        free(st->events[i].arg);
    }
    st->n_events = 0;
}

/* Rebuilds the summaries of what the cursor covers (st->cur holds the
 * saved cursor and no summaries): every file this poll found that is still
 * the one of its entry is read from its start up to its saved offset, then
 * the session documents read before; nothing is emitted or reported.  The
 * poll then reads on from the saved offsets. */
static int s_rebuild(s_state *st)
{
    int rc = 0;
    st->quiet = true;
    for (size_t i = 0; i < st->n_files && !rc; i++)
        rc = s_read_file(st, i, true);
    if (!rc) {
        s_fold(st);
        s_read_jsons(st, true);
    }
    st->quiet = false;
    s_events_reset(st);
    json_object_clear(st->touched);
    st->touch_session = false;
    return rc;
}

/* The cursor's text: the part of the state that resuming needs. */
static char *s_cursor_text(s_state *st)
{
    json_t *part = s_cursor_part(st->cur);
    char *text = part ? json_dumps(part, JSON_COMPACT) : NULL;
    json_decref(part);
    return text;
}

static int s_observe(void *state, mida_observer_t *obs, char *err, size_t errlen)
{
    s_state *st = state;
    s_poll_reset(st);
    st->touched = json_object();
    if (!st->touched)
        return MIDA_ENOMEM;
    int rc = 0;
    for (size_t r = 0; r < st->n_roots && !rc; r++) {
        rc = s_walk(st, &st->roots[r], st->roots[r].dir, "", 0);
        if (rc == MIDA_ENOTFOUND || rc == MIDA_EIO) {
            snprintf(err, errlen, "session directory '%s': %s", st->roots[r].dir,
                     rc == MIDA_ENOTFOUND ? "no longer there" : "cannot be read");
            return rc;
        }
    }
    if (rc) {
        snprintf(err, errlen, "%s", mida_strerror(rc));
        return rc;
    }
    /* path order: the first sync_abs of a host, which fixes its offset, is
     * the same whatever order readdir gave */
    if (st->n_files > 1)
        qsort(st->files, st->n_files, sizeof *st->files, s_file_cmp);
    if (!st->built) {
        if ((rc = s_rebuild(st))) {
            s_rollback(st);
            snprintf(err, errlen, "rebuilding from the cursor: %s", mida_strerror(rc));
            return rc;
        }
        st->built = true;
    }
    for (size_t i = 0; i < st->n_files && !rc; i++)
        rc = s_read_file(st, i, false);
    /* files gone since the last poll: forget them (read again if back) */
    json_t *files = json_object_get(st->cur, "files");
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(files, tmp, key, v)
    {
        if (!st->n_files ||
            !bsearch(key, st->files, st->n_files, sizeof *st->files, s_key_file_cmp)) {
            json_object_del(files, key);
            st->dirty = true;
        }
    }
    if (rc) {
        s_rollback(st);
        snprintf(err, errlen, "%s", mida_strerror(rc));
        return rc;
    }
    s_fold(st);
    s_read_jsons(st, false);

    /* the records: the session first, then the tasks in uid order */
    size_t n = json_object_size(st->touched), k = 0;
    if (st->touch_session || (!st->session_sent && n)) {
        if ((rc = s_emit(st, s_session_record(st), st->sid, err, errlen)))
            goto failed;
        st->session_sent = true;
    }
    const char **uids = malloc((n ? n : 1) * sizeof *uids);
    if (!uids) {
        rc = MIDA_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto failed;
    }
    json_object_foreach(st->touched, key, v) uids[k++] = key;
    if (n > 1)
        qsort(uids, n, sizeof *uids, s_str_cmp);
    for (size_t i = 0; i < n && !rc; i++)
        rc = s_emit(st, s_task_record(st, uids[i], json_object_get(st->touched, uids[i])), uids[i],
                    err, errlen);
    free(uids);
    if (rc)
        goto failed;
    if (st->dirty || st->rewrite || !mida_observer_cursor(obs)) {
        char *text = s_cursor_text(st);
        if (!text) {
            snprintf(err, errlen, "out of memory writing the cursor");
            return MIDA_ENOMEM;
        }
        rc = mida_observer_set_cursor(obs, text);
        free(text);
        if (!rc)
            st->rewrite = false;
    }
    return rc;
failed:
    s_rollback(st);
    return rc;
}

const mida_adapter_t mida_adapter_radical = {
    MIDA_ADAPTER_ABI, "radical",
    "RADICAL-Pilot session directories: *.prof state events and the session JSON", "session",
    s_options, s_init, s_observe, s_close};
