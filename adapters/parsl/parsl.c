/* parsl.c - the Parsl adapter: follows a Parsl monitoring database
 * (runinfo/monitoring.db, written by Parsl's DatabaseManager when
 * Config(monitoring=MonitoringHub(...)) is set) and reports its workflow
 * runs, tasks and tries as task records (docs/adapters/parsl.md).
 *
 * Owns: reading the monitoring tables (columns by name, so that the schema
 *       of other Parsl versions reads the same), the cursor over them, and
 *       the translation of Parsl's states, times and File reprs.
 * Must not: write to the database or hold it locked for long (Parsl's
 *       DatabaseManager retries a locked write every second, and fails at
 *       start-up when someone reads the database; PR #1917), mint IRIs.
 *
 * What is read, and why this way:
 *
 *   status    the event log: INSERT only, one row per state change, in
 *             commit order by rowid.  Every new row names a (run, task, try)
 *             whose try record and task record are (re)built from the
 *             current rows and sent again.
 *   resource  INSERT only (psutil samples): a new row re-sends its try with
 *             the first and last sample as telemetry.
 *   workflow  one row per run (DFK), UPDATEd with counts and, at the end,
 *             time_completed: new rows by rowid; runs not completed yet are
 *             re-read on every poll and re-sent when they changed.
 *   block,    INSERT only: a new row re-sends the workflow record of its run,
 *   node      whose custom_metadata summarises the run's blocks (batch jobs)
 *             and managers (nodes).
 *
 * The DatabaseManager commits one batch table by table: task, then status,
 * then the try INSERT, then the try UPDATE (launched/returned times), and the
 * worker's "running" row before the try's running time and host.  A poll can
 * therefore see a status row before its try row has caught up.  Such a try
 * is sent with what is there and kept in the cursor's `pending` list; the
 * next polls read it again until its row agrees with its states (the
 * `settled` test in s_try_record), so nothing that lands later is lost.
 *
 * One poll works in chunks of CHUNK_ROWS status and resource rows.  Each
 * chunk is read in one short read transaction, the transaction ends, then
 * the chunk's records are emitted and the cursor is set past the chunk.
 */
#include "mida.h"

#include "common/sqlite_source.h"
#include "common/zone.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK_ROWS 500          /* status (and resource) rows per transaction */
#define BUSY_MS 2000            /* SQLite busy timeout */
#define PENDING_MIN_POLLS 10    /* a try whose row never catches up is given up */
#define PENDING_MIN_AGE 120.0   /* after this many polls AND seconds */
#define SPEC_MAX 1024           /* bytes kept of a stdout/stderr spec that is no path */
#define CURSOR_VERSION 1

/* ---- Parsl's states (parsl/dataflow/states.py) --------------------------- */

/* rank orders the states of one try; END: the try is over (a terminal
 * status of its try record); FINAL: the task is over (States.FINAL). */
enum { END = 1, FINAL = 2 };

typedef struct parsl_state {
    const char *word;     /* States.<name>.name as the status table has it */
    const char *status;   /* the record status */
    int rank;
    int flags;
} parsl_state_t;

static const parsl_state_t s_states[] = {
    {"unsched", "SUBMITTED", 0, 0},
    {"pending", "SUBMITTED", 1, 0},            /* in the DFK, waiting for dependencies */
    {"launched", "WAITING", 2, 0},             /* handed to the executor, queued */
    {"running", "RUNNING", 3, 0},              /* the worker wrapper started it */
    {"running_ended", "RUNNING", 4, 0},        /* the wrapper ended, result on its way */
    {"joining", "RUNNING", 4, 0},              /* a join_app waits for its inner tasks */
    {"fail_retryable", "ERROR", 5, END},       /* this try failed; another follows */
    {"exec_done", "FINISHED", 5, END | FINAL},
    {"memo_done", "FINISHED", 5, END | FINAL}, /* result from the memo table/checkpoint */
    {"failed", "ERROR", 5, END | FINAL},
    {"dep_fail", "ERROR", 5, END | FINAL},     /* a dependency failed; never ran */
};

static const parsl_state_t *s_state(const char *word)
{
    if (!word)
        return NULL;
    for (size_t i = 0; i < sizeof s_states / sizeof s_states[0]; i++)
        if (!strcmp(word, s_states[i].word))
            return &s_states[i];
    return NULL;
}

/* ---- the adapter's state ------------------------------------------------- */

/* the statements kept prepared (reset after every use, so that no read
 * transaction outlives a chunk) */
enum {
    Q_TASK,          /* one task row */
    Q_TRY,           /* one try row */
    Q_TRY_STATUS,    /* the status rows of one try */
    Q_TASK_STATUS,   /* the status rows of one task */
    Q_RES_FIRST,     /* the first / last resource sample of one try */
    Q_RES_LAST,
    Q_JOB,           /* the batch job of a block */
    Q_STATUS_NEW,    /* status rows past the cursor */
    Q_RES_NEW,       /* resource rows past the cursor */
    Q_WF_ROW,        /* one workflow row */
    Q_BLOCKS,        /* the block rows of a run */
    Q_NODES,         /* the node rows of a run */
    Q_COUNT
};

static const char *const s_sql[Q_COUNT] = {
    [Q_TASK] = "SELECT * FROM task WHERE run_id = ?1 AND task_id = ?2",
    [Q_TRY] = "SELECT * FROM try WHERE run_id = ?1 AND task_id = ?2 AND try_id = ?3",
    [Q_TRY_STATUS] = "SELECT task_status_name, timestamp FROM status"
                     " WHERE run_id = ?1 AND task_id = ?2 AND try_id = ?3 ORDER BY rowid",
    [Q_TASK_STATUS] = "SELECT try_id, task_status_name, timestamp FROM status"
                      " WHERE run_id = ?1 AND task_id = ?2 ORDER BY rowid",
    [Q_RES_FIRST] = "SELECT * FROM resource WHERE run_id = ?1 AND task_id = ?2 AND try_id = ?3"
                    " ORDER BY timestamp, rowid LIMIT 1",
    [Q_RES_LAST] = "SELECT * FROM resource WHERE run_id = ?1 AND task_id = ?2 AND try_id = ?3"
                   " ORDER BY timestamp DESC, rowid DESC LIMIT 1",
    [Q_JOB] = "SELECT job_id FROM block WHERE run_id = ?1 AND executor_label = ?2"
              " AND block_id = ?3 AND job_id IS NOT NULL ORDER BY rowid DESC LIMIT 1",
    [Q_STATUS_NEW] = "SELECT rowid AS mida_rowid, task_id, try_id, run_id, task_status_name,"
                     " timestamp FROM status WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
    [Q_RES_NEW] = "SELECT rowid AS mida_rowid, run_id, task_id, try_id, timestamp"
                  " FROM resource WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
    [Q_WF_ROW] = "SELECT * FROM workflow WHERE run_id = ?1",
    [Q_BLOCKS] = "SELECT * FROM block WHERE run_id = ?1 ORDER BY rowid",
    [Q_NODES] = "SELECT * FROM node WHERE run_id = ?1 ORDER BY rowid",
};

typedef struct parsl {
    mida_observer_t *obs;
    sqlite3 *db;
    char *path;                 /* --db */
    zone_t tz;                  /* the zone of the database's naive times */
    sqlite3_stmt *q[Q_COUNT];
    bool has_resource, has_block, has_node;
    long long data_version;     /* of the last poll; -1: none yet */
    /* the cursor (CURSOR_VERSION) */
    long long at_workflow, at_status, at_resource, at_block, at_node; /* rowids read */
    char *first_run;            /* run_id of the first workflow row: the database's identity */
    char *status_mark;          /* the status row at at_status ("task|try|run|state|time"):
                                 * another row there means the table was rewritten */
    json_t *open;               /* run_id -> signature, runs not completed yet */
    json_t *pending;            /* "run\x1ftask\x1ftry" -> [run, task, try, where, polls,
                                 * since]: tries whose row lagged their states */
} parsl_t;

/* ---- errors and statements ----------------------------------------------- */

/* MIDA_EAGAIN for a busy database, else MIDA_EIO with the reason. */
static int s_sql_fail(parsl_t *p, int rc, const char *what, char *err, size_t errlen)
{
    if (sqlite_source_busy(rc)) {
        snprintf(err, errlen, "%s: database is busy (%s)", p->path, what);
        return MIDA_EAGAIN;
    }
    snprintf(err, errlen, "%s: %s: %s", p->path, what, sqlite3_errmsg(p->db));
    return MIDA_EIO;
}

static int s_stmt(parsl_t *p, int which, sqlite3_stmt **out, char *err, size_t errlen)
{
    if (!p->q[which]) {
        int rc = sqlite3_prepare_v2(p->db, s_sql[which], -1, &p->q[which], NULL);
        if (rc != SQLITE_OK) {
            sqlite3_finalize(p->q[which]);
            p->q[which] = NULL;
            return s_sql_fail(p, rc, s_sql[which], err, errlen);
        }
    } else {
        sqlite3_reset(p->q[which]);
        sqlite3_clear_bindings(p->q[which]);
    }
    *out = p->q[which];
    return 0;
}

/* Parsl's task and try ids are INTEGER columns: an id that is a number is
 * bound as one, so that the primary-key index applies. */
static void s_bind_id(sqlite3_stmt *st, int i, const char *id)
{
    const char *c = id;
    if (*c == '-')
        c++;
    bool digits = *c != '\0' && strlen(c) < 19;
    for (; *c && digits; c++)
        digits = isdigit((unsigned char)*c);
    if (digits)
        sqlite3_bind_int64(st, i, strtoll(id, NULL, 10));
    else
        sqlite3_bind_text(st, i, id, -1, SQLITE_TRANSIENT);
}

static void s_bind_key(sqlite3_stmt *st, const char *run, const char *task, const char *try_id)
{
    sqlite3_bind_text(st, 1, run, -1, SQLITE_TRANSIENT);
    if (task)
        s_bind_id(st, 2, task);
    if (try_id)
        s_bind_id(st, 3, try_id);
}

/* Runs SQL with no result rows (BEGIN, COMMIT). */
static int s_exec(parsl_t *p, const char *sql, char *err, size_t errlen)
{
    int rc = sqlite3_exec(p->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : s_sql_fail(p, rc, sql, err, errlen);
}

static void s_end_read(parsl_t *p)
{
    for (int i = 0; i < Q_COUNT; i++)
        if (p->q[i])
            sqlite3_reset(p->q[i]);
    if (!sqlite3_get_autocommit(p->db))
        sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL);
}

/* ---- times ---------------------------------------------------------------- */

/* --tz: "local" (the observer's zone, as the TZ variable says), "UTC", or a
 * fixed offset [UTC|GMT]+HH[:MM].  Named zones are not parsed here: run
 * the observer with TZ=Europe/Berlin and --tz local. */
static int s_tz_parse(parsl_t *p, const char *tz, char *err, size_t errlen)
{
    if (zone_parse(tz ? tz : "local", &p->tz) == 0)
        return 0;
    snprintf(err, errlen,
             "--tz '%s': expected local, UTC or an offset such as +02:00 (for a named zone,"
             " run with TZ=<zone> and --tz local)",
             tz);
    return MIDA_EINVAL;
}

/* A time given as seconds since the epoch (a REAL column, say). */
static bool s_epoch_text(const char *text, char *out, size_t outlen)
{
    char *end;
    double d = strtod(text, &end);
    if (end == text || *end)
        return false;
    return mida_time_from_epoch(d, out, outlen) == 0;
}

/* Parsl's DATETIME text, "YYYY-MM-DD HH:MM:SS[.ffffff]" in the naive local
 * time of the host that ran the DFK (SQLAlchemy's format of
 * datetime.now()), as ISO 8601 in UTC with the fraction kept digit for
 * digit.  A value that carries its own zone keeps it; a number is seconds
 * since the epoch.  False when the text is no time. */
static bool s_time_text(const parsl_t *p, const char *text, char *out, size_t outlen)
{
    if (!text)
        return false;
    while (isspace((unsigned char)*text))
        text++;
    if (s_epoch_text(text, out, outlen))
        return true;
    const char *s = text;
    int f[6] = {0};
    static const int width[6] = {4, 2, 2, 2, 2, 2};
    static const char sep[5] = {'-', '-', ' ', ':', ':'};
    for (int i = 0; i < 6; i++) {
        for (int k = 0; k < width[i]; k++, s++) {
            if (!isdigit((unsigned char)*s))
                return false;
            f[i] = f[i] * 10 + (*s - '0');
        }
        if (i < 5) {
            if (*s != sep[i] && !(i == 2 && *s == 'T'))
                return false;
            s++;
        }
    }
    char frac[16] = "";
    if (*s == '.') {
        size_t n = 0;
        for (s++; isdigit((unsigned char)*s); s++)
            if (n < 9)
                frac[n++] = *s;
        while (n && frac[n - 1] == '0')
            n--;
        frac[n] = '\0';
    }
    while (*s == ' ')
        s++;
    bool zoned = false;
    long offset = 0;
    if (*s == 'Z' || *s == 'z') {
        zoned = true;
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s == '+' ? 1 : -1;
        s++;
        if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
            return false;
        int hh = (s[0] - '0') * 10 + (s[1] - '0'), mm = 0;
        s += 2;
        if (*s == ':')
            s++;
        if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1])) {
            mm = (s[0] - '0') * 10 + (s[1] - '0');
            s += 2;
        }
        zoned = true;
        offset = sign * (hh * 3600L + mm * 60L);
    }
    if (*s)
        return false;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (f[0] % 4 == 0 && f[0] % 100 != 0) || f[0] % 400 == 0;
    if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > mdays[f[1] - 1] ||
        (f[1] == 2 && f[2] == 29 && !leap) || f[3] > 23 || f[4] > 59 || f[5] > 60)
        return false;
    struct tm tm = {.tm_year = f[0] - 1900, .tm_mon = f[1] - 1, .tm_mday = f[2],
                    .tm_hour = f[3], .tm_min = f[4], .tm_sec = f[5], .tm_isdst = -1};
    time_t t;
    zone_t own = {false, offset};
    if (!zone_epoch(zoned ? &own : &p->tz, &tm, &t))
        return false;
    struct tm u;
    if (!gmtime_r(&t, &u))
        return false;
    int n = snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d%s%sZ", u.tm_year + 1900,
                     u.tm_mon + 1, u.tm_mday, u.tm_hour, u.tm_min, u.tm_sec, *frac ? "." : "",
                     frac);
    return n > 0 && (size_t)n < outlen;
}

/* Sets rec[field] to the time in column `col` (text or number); nothing
 * when the column is missing, NULL or no time. */
static bool s_set_time(const parsl_t *p, json_t *rec, const char *field, const char *text)
{
    char iso[64];
    if (!s_time_text(p, text, iso, sizeof iso))
        return false;
    json_object_set_new(rec, field, json_string(iso));
    return true;
}

/* ---- small JSON helpers ------------------------------------------------- */

static void s_set_str(json_t *obj, const char *key, const char *value)
{
    if (value)
        json_object_set_new(obj, key, json_string(value));
}

/* The value of column `name` of the current row as JSON (NULL when missing
 * or SQL NULL); INTEGER, REAL and TEXT keep their type. */
static json_t *s_col_json(sqlite3_stmt *st, const char *name)
{
    int i = sqlite_source_column(st, name);
    if (i < 0)
        return NULL;
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(st, i));
    case SQLITE_TEXT:
        return json_string((const char *)sqlite3_column_text(st, i));
    default:
        return NULL;
    }
}

static void s_set_col(json_t *obj, const char *key, sqlite3_stmt *st, const char *col)
{
    json_t *v = s_col_json(st, col);
    if (v)
        json_object_set_new(obj, key, v);
}

static char *s_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- File reprs ---------------------------------------------------------- */

static bool s_is_uri(const char *s)
{
    if (!isalpha((unsigned char)*s))
        return false;
    const char *c = s + 1;
    while (isalnum((unsigned char)*c) || *c == '+' || *c == '.' || *c == '-')
        c++;
    return *c == ':' && c - s > 1; /* "C:" is no scheme */
}

/* Adds one location found in a task column: absolute paths and URIs become
 * data references in `refs`, other names (relative to a directory the
 * database does not record) go to `relative`.  Duplicates are dropped. */
static void s_add_location(const char *loc, size_t len, json_t *refs, json_t *relative)
{
    while (len && isspace((unsigned char)*loc))
        loc++, len--;
    while (len && isspace((unsigned char)loc[len - 1]))
        len--;
    if (!len || (len == 4 && !memcmp(loc, "None", 4)))
        return;
    char *s = strndup(loc, len);
    if (!s)
        return;
    json_t *into = (*s == '/' || s_is_uri(s)) ? refs : relative;
    size_t i;
    json_t *v;
    bool seen = false;
    json_array_foreach(into, i, v)
    {
        const char *have = json_is_object(v) ? json_string_value(json_object_get(v, "@id"))
                                              : json_string_value(v);
        if (have && !strcmp(have, s))
            seen = true;
    }
    if (!seen) {
        if (into == refs)
            json_array_append_new(refs, json_pack("{s:s}", "@id", s));
        else
            json_array_append_new(relative, json_string(s));
    }
    free(s);
}

/* task_inputs / task_outputs hold str(list) of Parsl File objects (or
 * DataFutures around them), e.g. (File.__repr__ formats self.__class__)
 *   [<<class 'parsl.data_provider.files.File'> at 0x7f.. url=file:///tmp/x.txt
 *     scheme=file netloc= path=/tmp/x.txt filename=x.txt>]
 * or the text "None".  Each url= value is taken up to " scheme=" (so that a
 * path with spaces survives), else up to the next blank, '>' or ','.  A
 * list with no File in it may hold plain strings: each quoted item is
 * taken.  Anything else is ignored. */
static void s_parse_files(const char *text, json_t *refs, json_t *relative)
{
    if (!text)
        return;
    bool any = false;
    for (const char *p = strstr(text, "url="); p; p = strstr(p + 4, "url=")) {
        if (p != text && !isspace((unsigned char)p[-1]) && p[-1] != '<')
            continue;
        const char *v = p + 4;
        const char *end = strstr(v, " scheme=");
        const char *gt = strchr(v, '>');
        if (!end || (gt && gt < end)) {
            end = v;
            while (*end && !isspace((unsigned char)*end) && *end != '>' && *end != ',')
                end++;
        }
        any = true;
        s_add_location(v, (size_t)(end - v), refs, relative);
    }
    /* Parsl before 2023.06 wrote a finished DataFuture as
     * "<DataFuture at 0x.. state=finished returned /path>" */
    static const char returned[] = "state=finished returned ";
    for (const char *p = strstr(text, returned); p; p = strstr(p + 1, returned)) {
        const char *v = p + sizeof returned - 1;
        const char *end = strchr(v, '>');
        if (!end)
            end = v + strlen(v);
        any = true;
        s_add_location(v, (size_t)(end - v), refs, relative);
    }
    if (any)
        return;
    const char *t = text;
    while (isspace((unsigned char)*t))
        t++;
    if (*t != '[' && *t != '(')
        return;
    for (const char *p = t + 1; *p;) {
        if (*p != '\'' && *p != '"') {
            p++;
            continue;
        }
        char q = *p++;
        char buf[4096];
        size_t n = 0;
        while (*p && *p != q) {
            if (*p == '\\' && p[1])
                p++;
            if (n < sizeof buf - 1)
                buf[n++] = *p;
            p++;
        }
        if (*p == q)
            p++;
        s_add_location(buf, n, refs, relative);
    }
}

/* task_stdin/stdout/stderr: a file name, or (as in Parsl's own test
 * database) the text of the error raised while working the name out. */
static bool s_spec_path(const char *spec)
{
    return spec && (*spec == '/' || s_is_uri(spec)) && !strchr(spec, '\n');
}

static void s_spec_meta(json_t *meta, const char *key, const char *spec)
{
    if (!spec || !*spec || !strcmp(spec, "None") || s_spec_path(spec))
        return;
    size_t n = strlen(spec);
    if (n > SPEC_MAX) {
        /* cut on a UTF-8 character boundary */
        n = SPEC_MAX;
        while (n && ((unsigned char)spec[n] & 0xC0) == 0x80)
            n--;
    }
    json_object_set_new(meta, key, json_stringn(spec, n));
}

/* ---- telemetry ----------------------------------------------------------- */

static const struct {
    const char *col;
    const char *key;
    bool integer;
} s_telemetry_keys[] = {
    {"psutil_process_time_user", "cpu_user_seconds", false},
    {"psutil_process_time_system", "cpu_system_seconds", false},
    {"psutil_process_cpu_percent", "cpu_percent", false},
    {"psutil_process_memory_percent", "memory_percent", false},
    {"psutil_process_memory_resident", "process_rss_bytes", true},
    {"psutil_process_disk_read", "io_read_bytes", true},
    {"psutil_process_disk_write", "io_write_bytes", true},
};

/* One resource row as a telemetry object: the known psutil columns under
 * mida's keys, every other column (schema drift included) under its own
 * name, which mida keeps in mida:telemetryExtra. */
static json_t *s_telemetry(const parsl_t *p, sqlite3_stmt *st)
{
    json_t *t = json_object();
    char iso[64];
    if (s_time_text(p, sqlite_source_text(st, "timestamp"), iso, sizeof iso))
        json_object_set_new(t, "captured_at", json_string(iso));
    int n = sqlite3_column_count(st);
    for (int i = 0; i < n; i++) {
        const char *col = sqlite3_column_name(st, i);
        int type = sqlite3_column_type(st, i);
        if (!col || type == SQLITE_NULL || !strcmp(col, "try_id") || !strcmp(col, "task_id") ||
            !strcmp(col, "run_id") || !strcmp(col, "timestamp"))
            continue;
        const char *key = col;
        bool integer = false;
        for (size_t k = 0; k < sizeof s_telemetry_keys / sizeof s_telemetry_keys[0]; k++)
            if (!strcmp(col, s_telemetry_keys[k].col)) {
                key = s_telemetry_keys[k].key;
                integer = s_telemetry_keys[k].integer;
            }
        json_t *v = NULL;
        if (type == SQLITE_TEXT)
            v = key == col ? json_string((const char *)sqlite3_column_text(st, i)) : NULL;
        else if (integer)
            v = json_integer((json_int_t)sqlite3_column_double(st, i));
        else if (type == SQLITE_INTEGER)
            v = json_integer(sqlite3_column_int64(st, i));
        else if (type == SQLITE_FLOAT)
            v = json_real(sqlite3_column_double(st, i));
        if (v)
            json_object_set_new(t, key, v);
    }
    return t;
}

/* ---- status rows of one try / one task -------------------------------- */

typedef struct seen {
    const parsl_state_t *best;  /* the state the record reports */
    char best_at[40];           /* its timestamp (text) */
    char first_pending[40];     /* earliest pending / launched / running rows */
    char first_launched[40];
    char first_running[40];
    bool launched, running, ran;
    long long max_try;          /* task level: highest try_id seen */
    bool any;
} seen_t;

static void s_keep_min(char *slot, const char *ts)
{
    if (ts && (!*slot || strcmp(ts, slot) < 0))
        snprintf(slot, 40, "%s", ts);
}

/* Folds one status row into `s`.  The reported state is the highest rank
 * (rows of the worker - running, running_ended - may land after the DFK's
 * exec_done); among END states the earliest, among the others the latest
 * row.  At task level a retryable failure is not the end. */
static void s_fold(seen_t *s, const char *word, const char *ts, bool task_level)
{
    const parsl_state_t *st = s_state(word);
    if (!st)
        return;
    s->any = true;
    if (!strcmp(word, "pending"))
        s_keep_min(s->first_pending, ts);
    if (!strcmp(word, "launched")) {
        s->launched = true;
        s_keep_min(s->first_launched, ts);
    }
    if (!strcmp(word, "running")) {
        s->running = true;
        s_keep_min(s->first_running, ts);
    }
    if (st->rank >= 2 && strcmp(word, "dep_fail"))
        s->ran = true;
    int rank = st->rank;
    bool end = task_level ? (st->flags & FINAL) : (st->flags & END);
    if (task_level && !(st->flags & FINAL) && rank == 5)
        rank = 4; /* fail_retryable: the task goes on */
    int best_rank = 0;
    bool best_end = false;
    if (s->best) {
        best_rank = s->best->rank;
        best_end = task_level ? (s->best->flags & FINAL) : (s->best->flags & END);
        if (task_level && !(s->best->flags & FINAL) && best_rank == 5)
            best_rank = 4;
    }
    bool take;
    if (!s->best || rank > best_rank)
        take = true;
    else if (rank < best_rank)
        take = false;
    else if (end && best_end)
        take = ts && strcmp(ts, s->best_at) < 0;
    else
        take = !best_end;
    if (take) {
        s->best = st;
        snprintf(s->best_at, sizeof s->best_at, "%s", ts ? ts : "");
    }
}

static void s_set_status(json_t *rec, const seen_t *s, bool task_level)
{
    if (!s->best)
        return;
    const char *status = s->best->status;
    if (task_level && !(s->best->flags & FINAL) && (s->best->flags & END))
        status = "RUNNING";
    json_object_set_new(rec, "status", json_string(status));
    json_object_set_new(rec, "native_status", json_string(s->best->word));
}

/* ---- records ------------------------------------------------------------- */

/* Steps *st (Q_TASK) to the row of (run, task).  0 with *skip set when the
 * task row is not there (yet); a code when the database fails. */
static int s_step_task(parsl_t *p, const char *run, const char *task, sqlite3_stmt **st,
                       bool *skip, char *err, size_t errlen)
{
    int rc = s_stmt(p, Q_TASK, st, err, errlen);
    if (rc)
        return rc;
    s_bind_key(*st, run, task, NULL);
    rc = sqlite3_step(*st);
    if (rc == SQLITE_DONE) {
        *skip = true;
        return 0;
    }
    if (rc != SQLITE_ROW)
        return s_sql_fail(p, rc, "reading a task", err, errlen);
    return 0;
}

/* The task record of a try, or NULL with *skip set when its task is not in
 * the task table.  *settled is false when the try row is missing or behind
 * the try's states (the DatabaseManager commits it after the status rows):
 * the try is then read again on the next polls. */
static int s_try_record(parsl_t *p, const char *run, const char *task, const char *try_id,
                        json_t **out, bool *settled, bool *skip, char *err, size_t errlen)
{
    *out = NULL;
    *settled = true;
    *skip = false;
    sqlite3_stmt *st;
    int rc;
    json_t *rec = json_object();
    json_t *meta = json_object();

    /* the task: its function is what the try ran */
    if ((rc = s_step_task(p, run, task, &st, skip, err, errlen)) || *skip)
        goto done;
    size_t nt = strlen(task), ny = strlen(try_id);
    char *id = malloc(nt + ny + 2); /* "<task>.<try>" */
    if (!id) {
        snprintf(err, errlen, "out of memory");
        rc = MIDA_ENOMEM;
        goto done;
    }
    memcpy(id, task, nt);
    id[nt] = '.';
    memcpy(id + nt + 1, try_id, ny + 1);
    json_object_set_new(rec, "task_id", json_string(id));
    free(id);
    json_object_set_new(rec, "parent_task_id", json_string(task));
    json_object_set_new(rec, "workflow_id", json_string(run));
    s_set_str(rec, "activity_id", sqlite_source_text(st, "task_func_name"));
    json_object_set_new(rec, "engine", json_string("parsl"));
    json_object_set_new(rec, "tags", json_pack("[s]", "parsl:try"));
    json_object_set_new(meta, "try_id", json_integer(strtoll(try_id, NULL, 10)));
    sqlite3_reset(st);

    /* its states */
    seen_t s = {0};
    if ((rc = s_stmt(p, Q_TRY_STATUS, &st, err, errlen)))
        goto done;
    s_bind_key(st, run, task, try_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        s_fold(&s, sqlite_source_text(st, "task_status_name"), sqlite_source_text(st, "timestamp"),
               false);
    if (rc != SQLITE_DONE) {
        rc = s_sql_fail(p, rc, "reading status", err, errlen);
        goto done;
    }
    rc = 0;
    sqlite3_reset(st);
    s_set_status(rec, &s, false);
    if (*s.first_pending)
        s_set_time(p, rec, "submitted_at", s.first_pending);

    /* the try row: times, host, block */
    if ((rc = s_stmt(p, Q_TRY, &st, err, errlen)))
        goto done;
    s_bind_key(st, run, task, try_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rc = 0;
        const char *launched = sqlite_source_text(st, "task_try_time_launched");
        const char *running = sqlite_source_text(st, "task_try_time_running");
        const char *returned = sqlite_source_text(st, "task_try_time_returned");
        if (!json_object_get(rec, "submitted_at"))
            s_set_time(p, rec, "submitted_at", launched);
        char iso[64];
        if (s_time_text(p, launched, iso, sizeof iso))
            json_object_set_new(meta, "launched_at", json_string(iso));
        s_set_time(p, rec, "started_at", running);
        s_set_time(p, rec, "ended_at", returned);
        const char *host = sqlite_source_text(st, "hostname");
        const char *executor = sqlite_source_text(st, "task_executor");
        const char *block = sqlite_source_text(st, "block_id");
        s_set_str(rec, "hostname", host);
        if (executor) {
            char env[512];
            if (block)
                snprintf(env, sizeof env, "%s/block/%s", executor, block);
            else
                snprintf(env, sizeof env, "%s", executor);
            json_object_set_new(rec, "environment_id", json_string(env));
        }
        s_set_str(meta, "executor", executor);
        s_set_str(meta, "block_id", block);
        const char *hist = sqlite_source_text(st, "task_fail_history");
        if (hist && *hist)
            json_object_set_new(meta, "fail_history", json_string(hist));
        const char *joins = sqlite_source_text(st, "task_joins");
        if (joins && *joins)
            json_object_set_new(meta, "joins", json_string(joins));
        /* the row lags its states: see the file comment */
        if ((s.launched && !launched) || (s.running && !running) ||
            (s.best && (s.best->flags & END) && strcmp(s.best->word, "memo_done") &&
             strcmp(s.best->word, "dep_fail") && launched && !returned))
            *settled = false;
        char *exec_c = s_dup(executor), *block_c = s_dup(block);
        sqlite3_reset(st);
        if (p->has_block && exec_c && block_c) {
            if ((rc = s_stmt(p, Q_JOB, &st, err, errlen)) == 0) {
                sqlite3_bind_text(st, 1, run, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(st, 2, exec_c, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(st, 3, block_c, -1, SQLITE_TRANSIENT);
                if (sqlite3_step(st) == SQLITE_ROW)
                    s_set_str(meta, "job_id", sqlite_source_text(st, "job_id"));
                sqlite3_reset(st);
            }
        }
        free(exec_c);
        free(block_c);
        if (rc)
            goto done;
    } else if (rc == SQLITE_DONE) {
        *settled = false;
        sqlite3_reset(st);
    } else {
        rc = s_sql_fail(p, rc, "reading a try", err, errlen);
        goto done;
    }
    rc = 0;
    if (!json_object_get(rec, "started_at") && *s.first_running)
        s_set_time(p, rec, "started_at", s.first_running);
    if (!json_object_get(rec, "ended_at") && s.best && (s.best->flags & END))
        s_set_time(p, rec, "ended_at", s.best_at);

    /* telemetry: the first and the last psutil sample */
    if (p->has_resource) {
        static const int which[2] = {Q_RES_FIRST, Q_RES_LAST};
        static const char *const field[2] = {"telemetry_at_start", "telemetry_at_end"};
        for (int k = 0; k < 2; k++) {
            if ((rc = s_stmt(p, which[k], &st, err, errlen)))
                goto done;
            s_bind_key(st, run, task, try_id);
            rc = sqlite3_step(st);
            if (rc == SQLITE_ROW)
                json_object_set_new(rec, field[k], s_telemetry(p, st));
            else if (rc != SQLITE_DONE) {
                rc = s_sql_fail(p, rc, "reading resource", err, errlen);
                goto done;
            }
            rc = 0;
            sqlite3_reset(st);
        }
    }
    json_object_set(rec, "custom_metadata", meta);
    *out = rec;
    rec = NULL;
done:
    json_decref(rec);
    json_decref(meta);
    return rc;
}

/* The record of a task as a whole (task_id = Parsl's task id): its
 * function, dependencies, files and the task-level times; the tries point
 * to it with parent_task_id.  NULL with *skip set when the task row is not
 * there. */
static int s_task_record(parsl_t *p, const char *run, const char *task, json_t **out, bool *skip,
                         char *err, size_t errlen)
{
    *out = NULL;
    *skip = false;
    sqlite3_stmt *st;
    int rc;
    json_t *rec = json_object();
    json_t *meta = json_object();
    json_t *inputs = json_array(), *outputs = json_array();
    json_t *rel_in = json_array(), *rel_out = json_array();
    json_t *used = json_object(), *generated = json_object();
    char *stdin_spec = NULL, *stdout_spec = NULL, *stderr_spec = NULL;
    char *invoked = NULL, *returned = NULL;

    /* the states of all its tries */
    seen_t s = {0};
    s.max_try = -1;
    if ((rc = s_stmt(p, Q_TASK_STATUS, &st, err, errlen)))
        goto done;
    s_bind_key(st, run, task, NULL);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        s_fold(&s, sqlite_source_text(st, "task_status_name"), sqlite_source_text(st, "timestamp"),
               true);
        long long t = sqlite_source_int(st, "try_id", -1);
        if (t > s.max_try)
            s.max_try = t;
    }
    if (rc != SQLITE_DONE) {
        rc = s_sql_fail(p, rc, "reading status", err, errlen);
        goto done;
    }
    sqlite3_reset(st);

    if ((rc = s_step_task(p, run, task, &st, skip, err, errlen)) || *skip)
        goto done;
    json_object_set_new(rec, "task_id", json_string(task));
    json_object_set_new(rec, "workflow_id", json_string(run));
    s_set_str(rec, "activity_id", sqlite_source_text(st, "task_func_name"));
    json_object_set_new(rec, "engine", json_string("parsl"));
    json_object_set_new(rec, "tags", json_pack("[s]", "parsl:task"));
    s_set_status(rec, &s, true);

    /* task_depends: "3,4" -> the task records of those ids */
    const char *deps = sqlite_source_text(st, "task_depends");
    json_t *dep = json_array();
    for (const char *d = deps; d && *d;) {
        const char *c = strchr(d, ',');
        size_t n = c ? (size_t)(c - d) : strlen(d);
        while (n && isspace((unsigned char)*d))
            d++, n--;
        while (n && isspace((unsigned char)d[n - 1]))
            n--;
        if (n)
            json_array_append_new(dep, json_stringn(d, n));
        d = c ? c + 1 : d + strlen(d);
    }
    if (json_array_size(dep))
        json_object_set_new(rec, "dependencies", dep);
    else
        json_decref(dep);

    s_parse_files(sqlite_source_text(st, "task_inputs"), inputs, rel_in);
    s_parse_files(sqlite_source_text(st, "task_outputs"), outputs, rel_out);
    stdin_spec = s_dup(sqlite_source_text(st, "task_stdin"));
    stdout_spec = s_dup(sqlite_source_text(st, "task_stdout"));
    stderr_spec = s_dup(sqlite_source_text(st, "task_stderr"));
    invoked = s_dup(sqlite_source_text(st, "task_time_invoked"));
    returned = s_dup(sqlite_source_text(st, "task_time_returned"));
    s_set_col(meta, "memoize", st, "task_memoize");
    s_set_col(meta, "hashsum", st, "task_hashsum");
    s_set_col(meta, "fail_count", st, "task_fail_count");
    s_set_col(meta, "fail_cost", st, "task_fail_cost");
    sqlite3_reset(st);

    if (!s_set_time(p, rec, "submitted_at", invoked) && *s.first_pending)
        s_set_time(p, rec, "submitted_at", s.first_pending);
    if (*s.first_running)
        s_set_time(p, rec, "started_at", s.first_running);
    else if (*s.first_launched)
        s_set_time(p, rec, "started_at", s.first_launched);
    if (!s_set_time(p, rec, "ended_at", returned) && s.best && (s.best->flags & FINAL))
        s_set_time(p, rec, "ended_at", s.best_at);
    if (s.max_try >= 0)
        json_object_set_new(meta, "tries", json_integer(s.max_try + 1));

    /* Files: used once the task was handed to an executor (or answered
     * from the memo table); outputs and stdout/stderr generated only when
     * it ended well (outputs, also when memoized) or ran to an end (the
     * std streams).  A task that never ran keeps its files as declared
     * ones in custom_metadata. */
    const char *word = s.best ? s.best->word : "";
    bool finished = !strcmp(word, "exec_done") || !strcmp(word, "memo_done");
    bool ran_to_end = !strcmp(word, "exec_done") || !strcmp(word, "failed");
    bool used_ok = s.ran || !strcmp(word, "memo_done");
    if (json_array_size(inputs)) {
        if (used_ok)
            json_object_set(used, "inputs", inputs);
        else
            json_object_set(meta, "declared_inputs", inputs);
    }
    if (s_spec_path(stdin_spec)) {
        if (used_ok)
            json_object_set_new(used, "stdin", json_pack("{s:s}", "@id", stdin_spec));
        else
            json_object_set_new(meta, "declared_stdin", json_string(stdin_spec));
    }
    if (json_array_size(outputs)) {
        if (finished)
            json_object_set(generated, "outputs", outputs);
        else
            json_object_set(meta, "declared_outputs", outputs);
    }
    const char *std_names[2] = {"stdout", "stderr"};
    const char *std_specs[2] = {stdout_spec, stderr_spec};
    for (int k = 0; k < 2; k++) {
        if (!s_spec_path(std_specs[k]))
            continue;
        if (ran_to_end)
            json_object_set_new(generated, std_names[k],
                                json_pack("{s:s}", "@id", std_specs[k]));
        else {
            char key[32];
            snprintf(key, sizeof key, "declared_%s", std_names[k]);
            json_object_set_new(meta, key, json_string(std_specs[k]));
        }
    }
    s_spec_meta(meta, "task_stdin", stdin_spec);
    s_spec_meta(meta, "task_stdout", stdout_spec);
    s_spec_meta(meta, "task_stderr", stderr_spec);
    if (json_array_size(rel_in))
        json_object_set(meta, "relative_inputs", rel_in);
    if (json_array_size(rel_out))
        json_object_set(meta, "relative_outputs", rel_out);
    if (json_object_size(used))
        json_object_set(rec, "used", used);
    if (json_object_size(generated))
        json_object_set(rec, "generated", generated);
    json_object_set(rec, "custom_metadata", meta);
    *out = rec;
    rec = NULL;
done:
    json_decref(rec);
    json_decref(meta);
    json_decref(inputs);
    json_decref(outputs);
    json_decref(rel_in);
    json_decref(rel_out);
    json_decref(used);
    json_decref(generated);
    free(stdin_spec);
    free(stdout_spec);
    free(stderr_spec);
    free(invoked);
    free(returned);
    return rc;
}

/* The record of a workflow run, its signature (what makes a re-read
 * worth sending) and whether the run has completed.  NULL when the row is
 * not there. */
static int s_workflow_record(parsl_t *p, const char *run, json_t **out, char **sig,
                             bool *completed, char *err, size_t errlen)
{
    *out = NULL;
    *sig = NULL;
    *completed = false;
    sqlite3_stmt *st;
    int rc;
    if ((rc = s_stmt(p, Q_WF_ROW, &st, err, errlen)))
        return rc;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return 0;
    }
    if (rc != SQLITE_ROW)
        return s_sql_fail(p, rc, "reading a workflow", err, errlen);
    json_t *rec = json_object();
    json_t *meta = json_object();
    json_object_set_new(rec, "workflow_id", json_string(run));
    s_set_str(rec, "workflow_name", sqlite_source_text(st, "workflow_name"));
    s_set_str(rec, "user", sqlite_source_text(st, "user"));
    s_set_str(rec, "hostname", sqlite_source_text(st, "host"));
    json_object_set_new(rec, "engine", json_string("parsl"));
    /* no Parsl version has it so far; read it when one does */
    s_set_str(rec, "engine_version", sqlite_source_text(st, "parsl_version"));
    s_set_time(p, rec, "started_at", sqlite_source_text(st, "time_began"));
    const char *done_at = sqlite_source_text(st, "time_completed");
    *completed = done_at != NULL;
    s_set_time(p, rec, "ended_at", done_at);
    json_object_set_new(rec, "status", json_string(*completed ? "FINISHED" : "RUNNING"));
    s_set_col(meta, "workflow_version", st, "workflow_version");
    s_set_col(meta, "rundir", st, "rundir");
    s_set_col(meta, "tasks_completed_count", st, "tasks_completed_count");
    s_set_col(meta, "tasks_failed_count", st, "tasks_failed_count");
    long long ok_n = sqlite_source_int(st, "tasks_completed_count", -1);
    long long fail_n = sqlite_source_int(st, "tasks_failed_count", -1);
    char sigbuf[160];
    snprintf(sigbuf, sizeof sigbuf, "%s|%lld|%lld", done_at ? done_at : "", ok_n, fail_n);
    sqlite3_reset(st);

    /* blocks: {executor, block_id, job_id, states: [{status, at}]} */
    if (p->has_block) {
        json_t *blocks = json_array();
        if ((rc = s_stmt(p, Q_BLOCKS, &st, err, errlen)))
            goto fail_blocks;
        sqlite3_bind_text(st, 1, run, -1, SQLITE_TRANSIENT);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *ex = sqlite_source_text(st, "executor_label");
            const char *bid = sqlite_source_text(st, "block_id");
            json_t *b = NULL, *v;
            size_t i;
            json_array_foreach(blocks, i, v)
            {
                const char *e2 = json_string_value(json_object_get(v, "executor"));
                const char *b2 = json_string_value(json_object_get(v, "block_id"));
                if ((e2 && ex ? !strcmp(e2, ex) : e2 == ex) &&
                    (b2 && bid ? !strcmp(b2, bid) : b2 == bid))
                    b = v;
            }
            if (!b) {
                b = json_object();
                s_set_str(b, "executor", ex);
                s_set_str(b, "block_id", bid);
                json_object_set_new(b, "states", json_array());
                json_array_append_new(blocks, b);
            }
            s_set_str(b, "job_id", sqlite_source_text(st, "job_id"));
            json_t *state = json_object();
            s_set_str(state, "status", sqlite_source_text(st, "status"));
            s_set_time(p, state, "at", sqlite_source_text(st, "timestamp"));
            json_array_append_new(json_object_get(b, "states"), state);
        }
        if (rc != SQLITE_DONE) {
            rc = s_sql_fail(p, rc, "reading block", err, errlen);
            goto fail_blocks;
        }
        rc = 0;
        sqlite3_reset(st);
        if (json_array_size(blocks))
            json_object_set(meta, "blocks", blocks);
    fail_blocks:
        json_decref(blocks);
        if (rc)
            goto fail;
    }
    /* managers (node rows, one per registration and deregistration): the
     * latest row of each manager uid, with when it was first seen */
    if (p->has_node) {
        json_t *nodes = json_array();
        if ((rc = s_stmt(p, Q_NODES, &st, err, errlen)))
            goto fail_nodes;
        sqlite3_bind_text(st, 1, run, -1, SQLITE_TRANSIENT);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *uid = sqlite_source_text(st, "uid");
            json_t *n = NULL, *v;
            size_t i;
            json_array_foreach(nodes, i, v)
            {
                const char *u2 = json_string_value(json_object_get(v, "uid"));
                if (u2 && uid && !strcmp(u2, uid))
                    n = v;
            }
            if (!n) {
                n = json_object();
                s_set_str(n, "uid", uid);
                s_set_time(p, n, "first_seen", sqlite_source_text(st, "timestamp"));
                json_array_append_new(nodes, n);
            }
            s_set_col(n, "hostname", st, "hostname");
            s_set_col(n, "block_id", st, "block_id");
            s_set_col(n, "cpu_count", st, "cpu_count");
            s_set_col(n, "total_memory", st, "total_memory");
            s_set_col(n, "worker_count", st, "worker_count");
            s_set_col(n, "python_v", st, "python_v");
            if (!sqlite_source_is_null(st, "active"))
                json_object_set_new(n, "active", json_boolean(sqlite_source_int(st, "active", 0)));
            s_set_time(p, n, "last_heartbeat", sqlite_source_text(st, "last_heartbeat"));
        }
        if (rc != SQLITE_DONE) {
            rc = s_sql_fail(p, rc, "reading node", err, errlen);
            goto fail_nodes;
        }
        rc = 0;
        sqlite3_reset(st);
        if (json_array_size(nodes))
            json_object_set(meta, "managers", nodes);
    fail_nodes:
        json_decref(nodes);
        if (rc)
            goto fail;
    }
    json_object_set(rec, "custom_metadata", meta);
    json_decref(meta);
    *sig = strdup(sigbuf);
    *out = rec;
    return 0;
fail:
    json_decref(meta);
    json_decref(rec);
    return rc;
}

/* ---- the cursor ---------------------------------------------------------- */

static void s_cursor_reset(parsl_t *p)
{
    p->at_workflow = p->at_status = p->at_resource = p->at_block = p->at_node = 0;
    free(p->first_run);
    p->first_run = NULL;
    free(p->status_mark);
    p->status_mark = NULL;
    json_decref(p->open);
    json_decref(p->pending);
    p->open = json_object();
    p->pending = json_object();
}

/* {"v":1,"first_run":..,"workflow":N,"status":N,"resource":N,"block":N,
 *  "node":N,"open":{run_id: signature},"pending":[[run,task,try,where,polls,since]]} */
static void s_cursor_load(parsl_t *p, const char *text)
{
    s_cursor_reset(p);
    if (!text)
        return;
    json_error_t je;
    json_t *c = json_loads(text, 0, &je);
    json_t *open = c ? json_object_get(c, "open") : NULL;
    json_t *pending = c ? json_object_get(c, "pending") : NULL;
    if (!json_is_object(c) || json_integer_value(json_object_get(c, "v")) != CURSOR_VERSION ||
        !json_is_object(open) || !json_is_array(pending)) {
        mida_observer_log(p->obs, MIDA_LOG_WARN,
                          "the saved cursor is not one this adapter wrote: reading %s from the"
                          " start",
                          p->path);
        json_decref(c);
        return;
    }
    p->at_workflow = json_integer_value(json_object_get(c, "workflow"));
    p->at_status = json_integer_value(json_object_get(c, "status"));
    p->at_resource = json_integer_value(json_object_get(c, "resource"));
    p->at_block = json_integer_value(json_object_get(c, "block"));
    p->at_node = json_integer_value(json_object_get(c, "node"));
    p->first_run = s_dup(json_string_value(json_object_get(c, "first_run")));
    p->status_mark = s_dup(json_string_value(json_object_get(c, "status_row")));
    json_object_update(p->open, open);
    size_t i;
    json_t *e;
    json_array_foreach(pending, i, e)
    {
        const char *run = json_string_value(json_array_get(e, 0));
        const char *task = json_string_value(json_array_get(e, 1));
        const char *try_id = json_string_value(json_array_get(e, 2));
        if (!run || !task || !try_id || !json_is_string(json_array_get(e, 3)))
            continue;
        char key[1200];
        snprintf(key, sizeof key, "%s\x1f%s\x1f%s", run, task, try_id);
        json_object_set_nocheck(p->pending, key, e);
    }
    json_decref(c);
}

static int s_cursor_save(parsl_t *p)
{
    json_t *pending = json_array();
    const char *key;
    json_t *e;
    json_object_foreach(p->pending, key, e) json_array_append(pending, e);
    json_t *c = json_pack("{s:i,s:I,s:I,s:I,s:I,s:I,s:O,s:o}", "v", CURSOR_VERSION, "workflow",
                          (json_int_t)p->at_workflow, "status", (json_int_t)p->at_status,
                          "resource", (json_int_t)p->at_resource, "block", (json_int_t)p->at_block,
                          "node", (json_int_t)p->at_node, "open", p->open, "pending", pending);
    if (!c)
        return MIDA_ENOMEM;
    if (p->first_run)
        json_object_set_new(c, "first_run", json_string(p->first_run));
    if (p->status_mark)
        json_object_set_new(c, "status_row", json_string(p->status_mark));
    char *text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(c);
    if (!text)
        return MIDA_ENOMEM;
    int rc = mida_observer_set_cursor(p->obs, text);
    free(text);
    return rc;
}

/* ---- one poll ------------------------------------------------------------ */

static int s_emit_all(parsl_t *p, json_t *records, char *err, size_t errlen)
{
    size_t i;
    json_t *r;
    json_array_foreach(records, i, r)
    {
        char *text = json_dumps(r, JSON_COMPACT);
        if (!text)
            return MIDA_ENOMEM;
        int rc = mida_observer_emit(p->obs, text, 0);
        free(text);
        if (rc) {
            snprintf(err, errlen, "a record of %s was not delivered: %s", p->path,
                     mida_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static long long s_scalar(parsl_t *p, const char *sql, int *rc_out)
{
    sqlite3_stmt *st = NULL;
    long long v = 0;
    int rc = sqlite3_prepare_v2(p->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    *rc_out = rc;
    return v;
}

/* The fingerprint of a status row (the columns of its primary key). */
static char *s_status_mark(sqlite3_stmt *st)
{
    const char *cols[5] = {"task_id", "try_id", "run_id", "task_status_name", "timestamp"};
    char buf[1024];
    size_t n = 0;
    for (int i = 0; i < 5; i++) {
        const char *v = sqlite_source_text(st, cols[i]);
        int k = snprintf(buf + n, sizeof buf - n, "%s%s", i ? "|" : "", v ? v : "");
        if (k < 0 || (size_t)k >= sizeof buf - n)
            break;
        n += (size_t)k;
    }
    return strdup(buf);
}

/* Whether the database is still the one the cursor was made for: a
 * monitoring.db deleted and written afresh starts its rowids again, and a
 * VACUUM after deletions renumbers them. */
static int s_check_identity(parsl_t *p, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(p->db, "SELECT run_id FROM workflow ORDER BY rowid LIMIT 1", -1,
                                &st, NULL);
    char *first = NULL;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        first = s_dup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE && rc != SQLITE_OK)
        return s_sql_fail(p, rc, "reading workflow", err, errlen);
    long long max_status = s_scalar(p, "SELECT max(rowid) FROM status", &rc);
    if (rc != SQLITE_OK) {
        free(first);
        return s_sql_fail(p, rc, "reading status", err, errlen);
    }
    char *mark = NULL;
    if (p->at_status > 0 && p->status_mark && max_status >= p->at_status) {
        rc = sqlite3_prepare_v2(p->db,
                                "SELECT task_id, try_id, run_id, task_status_name, timestamp"
                                " FROM status WHERE rowid = ?1",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, p->at_status);
            if ((rc = sqlite3_step(st)) == SQLITE_ROW)
                mark = s_status_mark(st);
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            free(first);
            return s_sql_fail(p, rc, "reading status", err, errlen);
        }
    }
    const char *why = NULL;
    if (p->first_run && (!first || strcmp(first, p->first_run)))
        why = "its first run is another one";
    else if (max_status < p->at_status)
        why = "its status table is shorter";
    else if (p->at_status > 0 && p->status_mark && (!mark || strcmp(mark, p->status_mark)))
        why = "another status row is under the cursor";
    free(mark);
    if (why) {
        mida_observer_log(p->obs, MIDA_LOG_WARN,
                          "%s is not the database the cursor was made for (%s): reading it"
                          " from the start",
                          p->path, why);
        s_cursor_reset(p);
    }
    if (!p->first_run && first) {
        p->first_run = first;
        first = NULL;
    }
    free(first);
    return 0;
}

/* Adds the run_id of each row past *at of `sql` ("SELECT rowid, run_id
 * FROM <table> WHERE rowid > ?1") to `touched`, and moves *at past them. */
static int s_touch_runs(parsl_t *p, const char *sql, long long *at, json_t *touched, char *err,
                        size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(p->db, sql, -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, *at);
        long long newest = *at;
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            long long r = sqlite3_column_int64(q, 0);
            const char *run = (const char *)sqlite3_column_text(q, 1);
            if (run)
                json_object_set_new_nocheck(touched, run, json_true());
            if (r > newest)
                newest = r;
        }
        if (rc == SQLITE_DONE)
            *at = newest;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : s_sql_fail(p, rc, sql, err, errlen);
}

/* Workflow records: new runs and runs with new block or node rows (always
 * sent), and runs not completed yet whose row changed. */
static int s_poll_runs(parsl_t *p, json_t *records, char *err, size_t errlen)
{
    json_t *touched = json_object(); /* run_id -> true: send; false: send when changed */
    long long at_wf = p->at_workflow, at_block = p->at_block, at_node = p->at_node;
    const char *run;
    json_t *v;
    int rc;
    json_object_foreach(p->open, run, v) json_object_set_new_nocheck(touched, run, json_false());
    if ((rc = s_touch_runs(p, "SELECT rowid, run_id FROM workflow WHERE rowid > ?1", &at_wf,
                           touched, err, errlen)))
        goto done;
    if (p->has_block && (rc = s_touch_runs(p, "SELECT rowid, run_id FROM block WHERE rowid > ?1",
                                           &at_block, touched, err, errlen)))
        goto done;
    if (p->has_node && (rc = s_touch_runs(p, "SELECT rowid, run_id FROM node WHERE rowid > ?1",
                                          &at_node, touched, err, errlen)))
        goto done;
    json_object_foreach(touched, run, v)
    {
        json_t *rec;
        char *sig;
        bool completed;
        if ((rc = s_workflow_record(p, run, &rec, &sig, &completed, err, errlen)))
            goto done;
        if (!rec)
            continue; /* block or node rows of a run with no workflow row (yet) */
        const char *old = json_string_value(json_object_get(p->open, run));
        if (json_is_true(v) || !old || strcmp(old, sig))
            json_array_append(records, rec);
        json_decref(rec);
        if (completed)
            json_object_del(p->open, run);
        else
            json_object_set_new_nocheck(p->open, run, json_string(sig));
        free(sig);
    }
    p->at_workflow = at_wf;
    p->at_block = at_block;
    p->at_node = at_node;
done:
    json_decref(touched);
    return rc;
}

/* Adds a try to the chunk's set (key "run\x1ftask\x1ftry" -> [run, task,
 * try, where]) and, with `task_too`, its task (only a status row changes
 * the task's record). */
static void s_touch(json_t *tries, json_t *tasks, const char *run, const char *task,
                    const char *try_id, const char *where, bool task_too)
{
    char key[1200];
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s", run, task, try_id);
    if (!json_object_get(tries, key))
        json_object_set_new_nocheck(tries, key, json_pack("[s,s,s,s]", run, task, try_id, where));
    snprintf(key, sizeof key, "%s\x1f%s", run, task);
    if (task_too && !json_object_get(tasks, key))
        json_object_set_new_nocheck(tasks, key, json_pack("[s,s,s]", run, task, where));
}

/* Reads up to CHUNK_ROWS new rows of `status` or `resource` into the sets.
 * *more: there may be more.  `until` (a status timestamp, or NULL) stops
 * at the first row stamped later: while a poll catches up, the resource
 * rows then keep pace with the status rows and a try is seldom sent by two
 * chunks.  Rows are always taken in rowid order, so none is passed over.
 * *last_ts: the timestamp of the last row read (status). */
static int s_read_new(parsl_t *p, int which, long long *at, const char *until, json_t *tries,
                      json_t *tasks, bool *more, char *last_ts, size_t last_len, char **mark,
                      char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc;
    const char *table = which == Q_STATUS_NEW ? "status" : "resource";
    *more = false;
    if ((rc = s_stmt(p, which, &st, err, errlen)))
        return rc;
    sqlite3_bind_int64(st, 1, *at);
    sqlite3_bind_int(st, 2, CHUNK_ROWS);
    int n = 0;
    bool stopped = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *stamp = sqlite_source_text(st, "timestamp");
        if (until && stamp && strcmp(stamp, until) > 0) {
            stopped = true;
            break;
        }
        n++;
        long long r = sqlite_source_int(st, "mida_rowid", 0);
        *at = r;
        if (last_ts)
            snprintf(last_ts, last_len, "%s", stamp ? stamp : "");
        if (mark) {
            free(*mark);
            *mark = s_status_mark(st);
        }
        const char *run = sqlite_source_text(st, "run_id");
        const char *task = sqlite_source_text(st, "task_id");
        const char *try_id = sqlite_source_text(st, "try_id");
        char where[64];
        snprintf(where, sizeof where, "%s rowid %lld", table, r);
        if (!run || !task || !try_id) {
            mida_observer_skip(p->obs, where, "no %s",
                               !run ? "run_id" : !task ? "task_id" : "try_id");
            continue;
        }
        if (which == Q_STATUS_NEW) {
            const char *word = sqlite_source_text(st, "task_status_name");
            if (!s_state(word))
                mida_observer_skip(p->obs, where,
                                   "unknown Parsl state '%s' (task %s try %s of run %s): not"
                                   " counted",
                                   word ? word : "NULL", task, try_id, run);
        }
        s_touch(tries, tasks, run, task, try_id, where, which == Q_STATUS_NEW);
    }
    if (rc != SQLITE_DONE && !stopped)
        return s_sql_fail(p, rc, table, err, errlen);
    sqlite3_reset(st);
    *more = n == CHUNK_ROWS || stopped;
    return 0;
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One chunk: the new status and resource rows (and, in the first chunk of
 * a poll, the tries still pending), their tries' and tasks' records. */
static int s_poll_chunk(parsl_t *p, bool first, json_t *records, bool *more, char *err,
                        size_t errlen)
{
    json_t *tries = json_object(), *tasks = json_object();
    char *mark = NULL; /* of the last status row read */
    int rc = 0;
    bool more_s = false, more_r = false;
    const char *key;
    json_t *v;
    if (first) {
        json_object_foreach(p->pending, key, v)
        {
            s_touch(tries, tasks, json_string_value(json_array_get(v, 0)),
                    json_string_value(json_array_get(v, 1)),
                    json_string_value(json_array_get(v, 2)),
                    json_string_value(json_array_get(v, 3)), false);
        }
    }
    long long at_status = p->at_status, at_resource = p->at_resource;
    char last_ts[64] = "";
    if ((rc = s_read_new(p, Q_STATUS_NEW, &at_status, NULL, tries, tasks, &more_s, last_ts,
                         sizeof last_ts, &mark, err, errlen)))
        goto done;
    if (p->has_resource &&
        (rc = s_read_new(p, Q_RES_NEW, &at_resource, more_s && *last_ts ? last_ts : NULL, tries,
                         tasks, &more_r, NULL, 0, NULL, err, errlen)))
        goto done;

    /* the tries' records; p->pending is changed only once all are built, so
     * that a failed chunk leaves it as it was */
    json_t *now_pending = json_object();
    json_t *now_settled = json_array();
    double now = s_now();
    json_object_foreach(tries, key, v)
    {
        const char *run = json_string_value(json_array_get(v, 0));
        const char *task = json_string_value(json_array_get(v, 1));
        const char *try_id = json_string_value(json_array_get(v, 2));
        const char *where = json_string_value(json_array_get(v, 3));
        json_t *rec;
        bool settled, skip;
        if ((rc = s_try_record(p, run, task, try_id, &rec, &settled, &skip, err, errlen)))
            break;
        if (skip) {
            mida_observer_skip(p->obs, where, "task %s of run %s is not in the task table", task,
                               run);
            json_array_append_new(now_settled, json_string(key));
            continue;
        }
        json_array_append_new(records, rec);
        json_t *was = json_object_get(p->pending, key);
        long long polls = was ? json_integer_value(json_array_get(was, 4)) + 1 : 1;
        double since = was ? json_number_value(json_array_get(was, 5)) : now;
        if (!settled && polls >= PENDING_MIN_POLLS && now - since >= PENDING_MIN_AGE) {
            mida_observer_skip(p->obs, where,
                               "the try row of task %s try %s (run %s) did not catch up with its"
                               " states in %lld polls: sent as it is",
                               task, try_id, run, polls);
            settled = true;
        }
        if (settled)
            json_array_append_new(now_settled, json_string(key));
        else
            json_object_set_new_nocheck(now_pending, key,
                                        json_pack("[s,s,s,s,I,f]", run, task, try_id, where,
                                                  (json_int_t)polls, since));
    }
    if (!rc) {
        json_object_foreach(tasks, key, v)
        {
            json_t *rec;
            bool skip;
            if ((rc = s_task_record(p, json_string_value(json_array_get(v, 0)),
                                    json_string_value(json_array_get(v, 1)), &rec, &skip, err,
                                    errlen)))
                break;
            if (rec)
                json_array_append_new(records, rec);
        }
    }
    if (!rc) {
        size_t i;
        json_array_foreach(now_settled, i, v) json_object_del(p->pending, json_string_value(v));
        json_object_update(p->pending, now_pending);
        p->at_status = at_status;
        p->at_resource = at_resource;
        if (mark) {
            free(p->status_mark);
            p->status_mark = mark;
            mark = NULL;
        }
        *more = more_s || more_r;
    }
    json_decref(now_pending);
    json_decref(now_settled);
done:
    json_decref(tries);
    json_decref(tasks);
    free(mark);
    return rc;
}

static int s_schema(parsl_t *p, char *err, size_t errlen)
{
    static const char *const need[] = {"workflow", "task", "try", "status"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!sqlite_source_has_table(p->db, need[i])) {
            snprintf(err, errlen, "%s has no table '%s' (yet): not a Parsl monitoring database,"
                                  " or Parsl has not created its tables", p->path, need[i]);
            return MIDA_EAGAIN;
        }
    p->has_resource = sqlite_source_has_table(p->db, "resource");
    p->has_block = sqlite_source_has_table(p->db, "block");
    p->has_node = sqlite_source_has_table(p->db, "node");
    return 0;
}

static int parsl_observe(void *state, mida_observer_t *obs, char *err, size_t errlen)
{
    parsl_t *p = state;
    (void)obs;
    long long dv = sqlite_source_data_version(p->db);
    if (dv >= 0 && dv == p->data_version && !json_object_size(p->pending))
        return 0; /* nothing was committed since the last poll */
    json_t *records = json_array();
    int rc = s_exec(p, "BEGIN", err, errlen);
    if (!rc)
        rc = s_schema(p, err, errlen);
    if (!rc)
        rc = s_check_identity(p, err, errlen);
    if (!rc)
        rc = s_poll_runs(p, records, err, errlen);
    s_end_read(p);
    if (!rc)
        rc = s_emit_all(p, records, err, errlen);
    if (!rc)
        rc = s_cursor_save(p);
    bool more = !rc;
    for (bool first = true; !rc && more; first = false) {
        json_array_clear(records);
        rc = s_exec(p, "BEGIN", err, errlen);
        if (!rc)
            rc = s_poll_chunk(p, first, records, &more, err, errlen);
        s_end_read(p);
        if (!rc)
            rc = s_emit_all(p, records, err, errlen);
        if (!rc)
            rc = s_cursor_save(p);
    }
    json_decref(records);
    if (!rc)
        p->data_version = dv;
    return rc;
}

/* ---- the table ------------------------------------------------------------ */

static void parsl_close(void *state)
{
    parsl_t *p = state;
    if (!p)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(p->q[i]);
    sqlite3_close(p->db);
    free(p->path);
    free(p->first_run);
    free(p->status_mark);
    json_decref(p->open);
    json_decref(p->pending);
    free(p);
}

static int parsl_init(mida_observer_t *obs, void **state, char *err, size_t errlen)
{
    *state = NULL;
    const char *path = mida_observer_option(obs, "db");
    if (!path || !*path) {
        snprintf(err, errlen, "--db PATH is required (Parsl's runinfo/monitoring.db)");
        return MIDA_EINVAL;
    }
    parsl_t *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return MIDA_ENOMEM;
    }
    p->obs = obs;
    p->data_version = -1;
    p->path = strdup(path);
    int rc = s_tz_parse(p, mida_observer_option(obs, "tz"), err, errlen);
    if (!rc && !p->path)
        rc = MIDA_ENOMEM;
    if (!rc) {
        bool missing;
        p->db = sqlite_source_open(path, BUSY_MS, &missing, err, errlen);
        if (!p->db)   /* the monitoring hub creates it when the run starts */
            rc = missing ? MIDA_EAGAIN : MIDA_EIO;
    }
    if (rc) {
        parsl_close(p);
        return rc;
    }
    s_cursor_load(p, mida_observer_cursor(obs));
    *state = p;
    return 0;
}

static const mida_adapter_option_t s_options[] = {
    {"db", "PATH", "Parsl's monitoring database (runinfo/monitoring.db), opened read-only", true},
    {"tz", "ZONE",
     "zone of the database's naive times: local (default: this host's, as TZ says), UTC,"
     " or an offset such as +02:00",
     false},
    {NULL, NULL, NULL, false},
};

const mida_adapter_t mida_adapter_parsl = {MIDA_ADAPTER_ABI, "parsl",
    "Parsl monitoring database: runs, tasks and their tries, files, hosts, psutil telemetry",
    "db", s_options, parsl_init, parsl_observe, parsl_close};
