/* mlflow.c - the MLflow adapter: polls an MLflow tracking database
 * (SQLite, MLflow 1.x to 3.x) and turns its experiments and runs into task
 * records (docs/adapters/mlflow.md is the reference: options, the mapping
 * table, the cursor and what is not captured).
 *
 * Owns: reading the tracking database (read-only, tables and columns by
 * name), one record per experiment and per run, and its cursor.
 * Must not: write to the database or change its journal mode, touch the
 * store, invent a state MLflow did not record (a crashed RUNNING run stays
 * RUNNING).
 *
 * One poll:
 *   1. discovery, in one read transaction: which runs changed since the
 *      cursor.  Append-only tables (runs, params, metrics, tags, inputs,
 *      logged_models, model_versions) are followed by rowid; the runs last
 *      seen in a non-terminal state are re-read and compared with a
 *      signature of their row and tags (MLflow updates those in place);
 *      lifecycle_stage is compared with the set of deleted runs; logged
 *      models and model versions also by their last-update time.  A table
 *      whose row under the cursor is gone or is another row (VACUUM
 *      renumbered it, `mlflow gc` deleted it) makes the whole cursor start
 *      again from the beginning: re-sending is harmless, missing is not.
 *   2. one workflow record per experiment that is new or changed.
 *   3. one task record per changed run, in rowid order, each read in its own
 *      short transaction so that MLflow's writers are never held up for
 *      long: the run's row, all its tags and params, the full history of
 *      every metric key that changed, its dataset inputs and models.
 *   4. the cursor: the rowids read in 1, the open runs with their
 *      signatures, the deleted runs, the experiments' signatures.
 *
 * Everything read in 3 is at least as new as the snapshot of 1, and rows
 * added after 1 lie past the cursor, so they are read again next time: a
 * row may be sent twice, never missed.
 */
#include "common/sqlite_source.h"
#include "mida.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_CURSOR_VERSION 1
#define S_DEFAULT_BUSY_MS 5000

/* ---- state ----------------------------------------------------------------- */

typedef struct {
    sqlite3 *db;
    char *path;             /* the database file (a sqlite:/// URI stripped) */
    char *artifact_root;    /* absolute directory for relative artifact URIs */
    char *prefix;           /* workflow ids are PREFIX-experiment-ID */
    bool params_as_text;
    long long data_version; /* PRAGMA data_version after the last good poll */
    bool polled;            /* a poll succeeded on this connection */
} s_state;

/* The append-only tables followed by rowid.  `key` names the columns that
 * identify a row for good (its primary key, minus what MLflow updates in
 * place), so that a fingerprint of the row under the cursor tells whether
 * it is still the same row. */
typedef struct {
    const char *table;
    const char *key;
    bool required;
} s_table_def;

enum { T_RUNS, T_PARAMS, T_METRICS, T_TAGS, T_INPUTS, T_LOGGED_MODELS, T_MODEL_VERSIONS, T_N };

static const s_table_def s_tables[T_N] = {
    {"runs", "run_uuid", true},
    {"params", "\"key\", run_uuid", true},
    {"metrics", "\"key\", timestamp, run_uuid, value", true},
    {"tags", "\"key\", run_uuid", true},
    {"inputs", "source_type, source_id, destination_type, destination_id", false},
    {"logged_models", "model_id", false},
    {"model_versions", "name, version", false},
};

typedef struct {
    bool present;
    long long from;   /* rows past this rowid are new */
    long long max;    /* max(rowid) now */
    char max_fp[17];  /* the fingerprint of that row ("" when none) */
} s_table_cur;

/* One poll. */
typedef struct {
    s_state *st;
    mida_observer_t *obs;
    char *err;
    size_t errlen;
    json_t *old;                /* the cursor read back (an object; owned) */
    s_table_cur t[T_N];
    bool has_experiment_tags, has_datasets, has_input_tags, m_step, m_is_nan;
    json_t *touched;            /* run_uuid -> {"w": where, "all": true, "keys": {k: true}, "r": rowid} */
    json_t *experiments;        /* experiment id (text) -> name */
    json_t *exp_records;        /* workflow records to send (array) */
    json_t *exp_sigs;           /* experiment id -> signature (new cursor) */
    json_t *open;               /* run_uuid -> signature (new cursor) */
    json_t *deleted;            /* run_uuid -> true (new cursor) */
    json_t *ts_cursors;         /* "logged_models"/"model_versions" -> [max ts, [keys at max ts]] */
} s_poll;

/* ---- small helpers ---------------------------------------------------------- */

#define FNV_INIT 0xcbf29ce484222325ULL

static uint64_t s_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Folds the current row of `st` into h: every column's text, NULL apart. */
static uint64_t s_fnv_row(uint64_t h, sqlite3_stmt *st)
{
    int n = sqlite3_column_count(st);
    for (int i = 0; i < n; i++) {
        if (sqlite3_column_type(st, i) == SQLITE_NULL) {
            h = s_fnv(h, "\0N", 2);
            continue;
        }
        const unsigned char *t = sqlite3_column_text(st, i);
        int len = sqlite3_column_bytes(st, i);
        h = s_fnv(h, t ? (const void *)t : "", t ? (size_t)len : 0);
        h = s_fnv(h, "\x1f", 1);
    }
    return h;
}

static void s_hex(uint64_t h, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* A JSON string of s; bytes that are not UTF-8 become U+FFFD (jansson
 * refuses them, and a tool's database may hold anything). */
static json_t *s_str(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    char *o = malloc(n * 3 + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        bool ok = len > 0;
        for (int i = 1; ok && i < len; i++)
            ok = (p[i] & 0xc0) == 0x80;
        if (ok) {
            memcpy(o + k, p, (size_t)len);
            k += (size_t)len;
            p += len;
        } else {
            memcpy(o + k, "\xef\xbf\xbd", 3);
            k += 3;
            p++;
        }
    }
    o[k] = '\0';
    j = json_string(o);   /* still refused: an overlong or surrogate form */
    free(o);
    return j ? j : json_string("\xef\xbf\xbd");
}

/* Sets o[key] = v (takes v).  A key that is not UTF-8 (a tool's database
 * may hold anything) is set with its bad bytes replaced rather than lost. */
static void s_set(json_t *o, const char *key, json_t *v)
{
    if (o && key && v && json_object_set(o, key, v) != 0) {
        json_t *k = s_str(key);
        if (k)
            json_object_set(o, json_string_value(k), v);
        json_decref(k);
    }
    json_decref(v);
}

/* a followed by b, in a new string (NULL when out of memory). */
static char *s_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", a, b);
    return s;
}

/* Epoch milliseconds as ISO 8601 UTC; false when out of range. */
static bool s_ms_iso(long long ms, char out[40])
{
    return ms >= 0 && ms <= 253402300799999LL && mida_time_from_epoch_us(ms * 1000, out, 40) == 0;
}

static const char *s_jstr(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* The string at key when it is not empty, else NULL. */
static const char *s_jtext(json_t *obj, const char *key)
{
    const char *s = s_jstr(obj, key);
    return s && *s ? s : NULL;
}

static bool s_jint(json_t *obj, const char *key, long long *out)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_string(v)) {   /* SQLite keeps what it was given */
        char *end;
        errno = 0;
        long long x = strtoll(json_string_value(v), &end, 10);
        if (!errno && end != json_string_value(v) && !*end) {
            *out = x;
            return true;
        }
    }
    if (json_is_real(v) && isfinite(json_real_value(v))) {
        *out = (long long)json_real_value(v);
        return true;
    }
    return false;
}

/* The current row of st as an object: column name -> value. */
static json_t *s_row_json(sqlite3_stmt *st)
{
    json_t *o = json_object();
    int n = sqlite3_column_count(st);
    for (int i = 0; o && i < n; i++) {
        json_t *v;
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            v = json_integer(sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT: {
            double d = sqlite3_column_double(st, i);
            v = isfinite(d) ? json_real(d) : json_null();
            break;
        }
        case SQLITE_TEXT:
            v = s_str((const char *)sqlite3_column_text(st, i));
            break;
        default:
            v = json_null();
        }
        json_object_set_new(o, sqlite3_column_name(st, i), v ? v : json_null());
    }
    return o;
}

/* Has s a URI scheme (two characters or more, so that "C:\..." is none)? */
static bool s_has_scheme(const char *s)
{
    if (!isalpha((unsigned char)s[0]))
        return false;
    size_t i = 1;
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return s[i] == ':' && i >= 2;
}

/* The location of an artifact URI: relative paths ("./mlruns/1/...", what
 * a tracking server started in a directory writes) are resolved under the
 * artifact root; URIs and absolute paths are kept. */
static json_t *s_location(const s_state *st, const char *uri)
{
    if (!uri || !*uri)
        return NULL;
    if (uri[0] == '/' || s_has_scheme(uri) || (isalpha((unsigned char)uri[0]) && uri[1] == ':'))
        return s_str(uri);
    const char *rel = uri;
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    size_t n = strlen(st->artifact_root) + strlen(rel) + 2;
    char *p = malloc(n);
    if (!p)
        return NULL;
    snprintf(p, n, "%s/%s", st->artifact_root, rel);
    json_t *j = s_str(p);
    free(p);
    return j;
}

/* A data reference {"@id": id, "type": type}. */
static json_t *s_ref(json_t *id, const char *type)
{
    if (!id)
        return NULL;
    return json_pack("{s:o, s:s}", "@id", id, "type", type);
}

/* Appends ref to the list under name in map, unless that list holds the
 * same "@id" already (takes ownership of ref). */
static void s_add_ref(json_t *map, const char *name, json_t *ref)
{
    if (!ref || !name)
        goto done;
    json_t *list = json_incref(json_object_get(map, name));
    if (!list) {
        if (!(list = json_array()))
            goto done;
        s_set(map, name, json_incref(list));
    }
    const char *id = s_jstr(ref, "@id");
    size_t i;
    json_t *e;
    bool dup = false;
    json_array_foreach(list, i, e) {
        if (id && s_jstr(e, "@id") && !strcmp(id, s_jstr(e, "@id")))
            dup = true;
    }
    if (!dup) {
        json_array_append(list, ref);
    }
    json_decref(list);
done:
    json_decref(ref);
}

/* A parameter's value: MLflow keeps every parameter as text; a text that is
 * exactly a JSON number becomes that number, so that queries can compare
 * and sort (unless --params-as-text). */
static json_t *s_param(const char *text, bool as_text)
{
    if (!text)
        return json_null();
    if (as_text)
        return s_str(text);
    const char *p = text;
    bool frac = false;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (isdigit((unsigned char)*p))
        while (isdigit((unsigned char)*p))
            p++;
    else
        return s_str(text);
    if (*p == '.') {
        frac = true;
        p++;
        if (!isdigit((unsigned char)*p))
            return s_str(text);
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        frac = true;
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return s_str(text);
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p)
        return s_str(text);
    errno = 0;
    if (!frac) {
        long long v = strtoll(text, NULL, 10);
        if (!errno)
            return json_integer(v);
        return s_str(text);   /* out of range: kept as written */
    }
    double d = strtod(text, NULL);
    if (!isfinite(d))
        return s_str(text);
    return json_real(d);
}

/* ---- SQL helpers ------------------------------------------------------------ */

/* Reports a failed SQL call: MIDA_EAGAIN when another process holds the
 * database (try the poll again), MIDA_EIO otherwise. */
static int s_sqlerr(s_poll *p, int rc, const char *what)
{
    snprintf(p->err, p->errlen, "%s: %s: %s", p->st->path, what, sqlite3_errmsg(p->st->db));
    return sqlite_source_busy(rc) ? MIDA_EAGAIN : MIDA_EIO;
}

static int s_prepare(s_poll *p, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(p->st->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        int r = s_sqlerr(p, rc, sql);
        sqlite3_finalize(*st);
        *st = NULL;
        return r;
    }
    return 0;
}

static int s_exec(s_poll *p, const char *sql)
{
    int rc = sqlite3_exec(p->st->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : s_sqlerr(p, rc, sql);
}

/* Ends a read transaction (also after a failure). */
static void s_end(s_poll *p)
{
    if (!sqlite3_get_autocommit(p->st->db))
        sqlite3_exec(p->st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Steps st; *row tells whether a row came.  0 or an error code. */
static int s_step(s_poll *p, sqlite3_stmt *st, bool *row)
{
    int rc = sqlite3_step(st);
    *row = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return 0;
    return s_sqlerr(p, rc, sqlite3_sql(st));
}

/* ---- touching runs ------------------------------------------------------------ */

/* Notes that run `uuid` must be sent: `where` names the first item that
 * said so (for a skip message), `key` a metric key whose history changed,
 * `all` that everything of the run is new. */
static void s_touch(s_poll *p, const char *uuid, const char *where, const char *key, bool all)
{
    if (!uuid || !*uuid)
        return;
    json_t *t = json_object_get(p->touched, uuid);
    if (!t) {
        t = json_pack("{s:s, s:{}}", "w", where, "keys");
        if (!t || json_object_set_new(p->touched, uuid, t) != 0)
            return;   /* an id that is not UTF-8: no MLflow id is */
    }
    if (all)
        json_object_set_new(t, "all", json_true());
    if (key)
        json_object_set_new(json_object_get(t, "keys"), key, json_true());
}

/* ---- the cursor ------------------------------------------------------------- */

/* The fingerprint of the row at `rowid` of table i; false when there is
 * none. */
static int s_row_fp(s_poll *p, int i, long long rowid, bool *found, char out[17])
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE rowid = ?", s_tables[i].key, s_tables[i].table);
    sqlite3_stmt *st = NULL;
    int rc = s_prepare(p, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, rowid);
    rc = s_step(p, st, found);
    if (!rc && *found)
        s_hex(s_fnv_row(FNV_INIT, st), out);
    sqlite3_finalize(st);
    return rc;
}

static int s_max_rowid(s_poll *p, int i, long long *out)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT max(rowid) FROM %s", s_tables[i].table);
    sqlite3_stmt *st = NULL;
    int rc = s_prepare(p, sql, &st);
    bool row;
    if (!rc && !(rc = s_step(p, st, &row)))
        *out = row ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc;
}

/* Reads the table cursors back and checks each against the database.
 * *resync is set when one no longer matches (the table shrank, or the row
 * under the cursor is gone or is another row). */
static int s_table_cursors(s_poll *p, bool *resync)
{
    json_t *tabs = json_object_get(p->old, "tables");
    *resync = false;
    for (int i = 0; i < T_N; i++) {
        s_table_cur *c = &p->t[i];
        c->present = sqlite_source_has_table(p->st->db, s_tables[i].table);
        json_t *saved = json_object_get(tabs, s_tables[i].table);
        long long from = json_integer_value(json_array_get(saved, 0));
        const char *fp = json_string_value(json_array_get(saved, 1));
        if (!c->present) {
            if (saved && from > 0) {
                mida_observer_log(p->obs, MIDA_LOG_WARN, "%s: table %s is gone: reading from the start",
                                  p->st->path, s_tables[i].table);
                *resync = true;
            }
            continue;
        }
        int rc = s_max_rowid(p, i, &c->max);
        bool found = false;
        if (!rc && c->max > 0)
            rc = s_row_fp(p, i, c->max, &found, c->max_fp);
        if (rc)
            return rc;
        if (!found)
            c->max_fp[0] = '\0';
        c->from = from > 0 ? from : 0;
        if (c->from == 0)
            continue;
        char now[17] = "";
        found = false;
        if (c->max >= c->from && (rc = s_row_fp(p, i, c->from, &found, now)) != 0)
            return rc;
        if (c->max < c->from || !found || !fp || strcmp(fp, now)) {
            mida_observer_log(p->obs, MIDA_LOG_WARN,
                              "%s: table %s was rewritten (max rowid %lld, cursor at %lld%s): "
                              "reading everything again from the start",
                              p->st->path, s_tables[i].table, c->max, c->from,
                              c->max < c->from ? ""
                              : found          ? ", another row there"
                                               : ", that row is gone");
            *resync = true;
        }
    }
    return 0;
}

/* ---- discovery -------------------------------------------------------------- */

/* The signature of a run's row and tags: what MLflow updates in place. */
static int s_run_sig(s_poll *p, const char *uuid, bool *found, char out[17])
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare(p, "SELECT * FROM runs WHERE run_uuid = ?", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
    uint64_t h = FNV_INIT;
    rc = s_step(p, st, found);
    if (!rc && *found)
        h = s_fnv_row(h, st);
    sqlite3_finalize(st);
    if (rc || !*found)
        return rc;
    if ((rc = s_prepare(p, "SELECT \"key\", value FROM tags WHERE run_uuid = ? ORDER BY \"key\"", &st)))
        return rc;
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
    bool row;
    while (!(rc = s_step(p, st, &row)) && row)
        h = s_fnv_row(h, st);
    sqlite3_finalize(st);
    s_hex(h, out);
    return rc;
}

/* Open runs of the last poll: sent again when their signature changed. */
static int s_discover_open(s_poll *p)
{
    json_t *open = json_object_get(p->old, "open");
    const char *uuid;
    json_t *sig;
    json_object_foreach(open, uuid, sig) {
        char now[17];
        bool found;
        int rc = s_run_sig(p, uuid, &found, now);
        if (rc)
            return rc;
        if (!found)
            continue;   /* deleted for good (mlflow gc): nothing more to say */
        if (!json_is_string(sig) || strcmp(json_string_value(sig), now))
            s_touch(p, uuid, "runs", NULL, false);
        else
            json_object_set_new(p->open, uuid, json_string(now));
    }
    return 0;
}

/* New rows of params, tags and metrics: their runs (and metric keys). */
static int s_discover_rows(s_poll *p)
{
    static const struct {
        int t;
        const char *sql;
    } q[] = {
        {T_PARAMS, "SELECT run_uuid, NULL, min(rowid) FROM params WHERE rowid > ?1 AND rowid <= ?2 "
                   "GROUP BY run_uuid"},
        {T_TAGS, "SELECT run_uuid, NULL, min(rowid) FROM tags WHERE rowid > ?1 AND rowid <= ?2 "
                 "GROUP BY run_uuid"},
        {T_METRICS, "SELECT run_uuid, \"key\", min(rowid) FROM metrics WHERE rowid > ?1 AND rowid "
                    "<= ?2 GROUP BY run_uuid, \"key\""},
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        s_table_cur *c = &p->t[q[i].t];
        if (c->max <= c->from)
            continue;
        sqlite3_stmt *st = NULL;
        int rc = s_prepare(p, q[i].sql, &st);
        if (rc)
            return rc;
        sqlite3_bind_int64(st, 1, c->from);
        sqlite3_bind_int64(st, 2, c->max);
        bool row;
        while (!(rc = s_step(p, st, &row)) && row) {
            char where[64];
            snprintf(where, sizeof where, "%s rowid %lld", s_tables[q[i].t].table,
                     (long long)sqlite3_column_int64(st, 2));
            s_touch(p, (const char *)sqlite3_column_text(st, 0), where,
                    (const char *)sqlite3_column_text(st, 1), false);
        }
        sqlite3_finalize(st);
        if (rc)
            return rc;
    }
    return 0;
}

/* New rows of inputs: datasets used by a run, models used or produced. */
static int s_discover_inputs(s_poll *p)
{
    s_table_cur *c = &p->t[T_INPUTS];
    if (!c->present || c->max <= c->from)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = s_prepare(p, "SELECT rowid, * FROM inputs WHERE rowid > ?1 AND rowid <= ?2", &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, c->from);
    sqlite3_bind_int64(st, 2, c->max);
    bool row;
    while (!(rc = s_step(p, st, &row)) && row) {
        const char *stype = sqlite_source_text(st, "source_type");
        const char *dtype = sqlite_source_text(st, "destination_type");
        char where[64];
        snprintf(where, sizeof where, "inputs rowid %lld", (long long)sqlite3_column_int64(st, 0));
        if (dtype && !strcmp(dtype, "RUN"))
            s_touch(p, sqlite_source_text(st, "destination_id"), where, NULL, false);
        else if (stype && (!strcmp(stype, "RUN_INPUT") || !strcmp(stype, "RUN_OUTPUT")))
            s_touch(p, sqlite_source_text(st, "source_id"), where, NULL, false);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Logged models and model versions: new rows by rowid, updates (status,
 * stage) by their last-update time.  The cursor keeps the greatest time
 * seen and the rows that had it, so that a row updated later in the same
 * millisecond is still seen. */
static int s_discover_updated(s_poll *p, int t, const char *run_col, const char *ts_col)
{
    s_table_cur *c = &p->t[t];
    if (!c->present)
        return 0;
    const char *name = s_tables[t].table;
    bool has_ts = sqlite_source_has_column(p->st->db, name, ts_col);
    json_t *saved = json_object_get(json_object_get(p->old, "updated"), name);
    long long from_ts = json_integer_value(json_array_get(saved, 0));
    json_t *at_from = json_array_get(saved, 1);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT rowid, %s, %s, %s FROM %s WHERE rowid > ?1 OR %s >= ?2",
             s_tables[t].key, run_col, has_ts ? ts_col : "NULL", name, has_ts ? ts_col : "NULL");
    sqlite3_stmt *st = NULL;
    int rc = s_prepare(p, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, c->from);
    sqlite3_bind_int64(st, 2, from_ts);
    long long max_ts = from_ts;
    json_t *keys = json_array();
    int ncol = sqlite3_column_count(st);
    bool row;
    while (!(rc = s_step(p, st, &row)) && row) {
        long long rowid = sqlite3_column_int64(st, 0);
        /* the key: every column between rowid and the run column */
        char key[512] = "";
        size_t kl = 0;
        for (int i = 1; i < ncol - 2 && kl < sizeof key - 1; i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
            kl += (size_t)snprintf(key + kl, sizeof key - kl, "%s%s", i > 1 ? "\t" : "", v ? v : "");
        }
        if (kl >= sizeof key)
            kl = sizeof key - 1;
        bool has = sqlite3_column_type(st, ncol - 1) != SQLITE_NULL;
        long long ts = sqlite3_column_int64(st, ncol - 1);
        bool changed = rowid > c->from && rowid <= c->max;
        if (has && ts > from_ts)
            changed = true;
        if (has && ts == from_ts) {
            bool seen = false;
            size_t i;
            json_t *k;
            json_array_foreach(at_from, i, k) {
                if (json_is_string(k) && !strcmp(json_string_value(k), key))
                    seen = true;
            }
            if (!seen)
                changed = true;
        }
        if (has && ts > max_ts) {
            max_ts = ts;
            json_array_clear(keys);
        }
        if (has && ts == max_ts)
            json_array_append_new(keys, s_str(key));
        if (changed) {
            char where[64];
            snprintf(where, sizeof where, "%s rowid %lld", name, rowid);
            s_touch(p, (const char *)sqlite3_column_text(st, ncol - 2), where, NULL, false);
        }
    }
    sqlite3_finalize(st);
    if (max_ts == from_ts && at_from && json_array_size(keys) == 0)
        json_array_extend(keys, at_from);
    json_object_set_new(p->ts_cursors, name, json_pack("[I, o]", (json_int_t)max_ts, keys));
    return rc;
}

/* The workflow record of one experiment (the current row of st). */
static json_t *s_experiment_record(s_poll *p, json_t *row, json_t *tags)
{
    long long id;
    if (!s_jint(row, "experiment_id", &id))
        return NULL;
    char wid[256];
    snprintf(wid, sizeof wid, "%s-experiment-%lld", p->st->prefix, id);
    json_t *rec = json_pack("{s:s, s:s}", "workflow_id", wid, "engine", "mlflow");
    if (!rec)
        return NULL;
    const char *name = s_jtext(row, "name");
    if (name)
        json_object_set_new(rec, "workflow_name", s_str(name));
    long long ms;
    char iso[40];
    if (s_jint(row, "creation_time", &ms) && s_ms_iso(ms, iso))
        json_object_set_new(rec, "started_at", json_string(iso));
    json_t *meta = json_object();
    json_object_set_new(meta, "experiment_id", json_integer(id));
    const char *keys[] = {"artifact_location", "lifecycle_stage"};
    for (size_t i = 0; i < 2; i++)
        if (s_jtext(row, keys[i]))
            json_object_set_new(meta, keys[i], s_str(s_jtext(row, keys[i])));
    if (s_jint(row, "last_update_time", &ms) && s_ms_iso(ms, iso))
        json_object_set_new(meta, "last_update_time", json_string(iso));
    if (tags && json_object_size(tags))
        json_object_set(meta, "tags", tags);
    json_object_set_new(rec, "custom_metadata", meta);
    const char *stage = s_jstr(row, "lifecycle_stage");
    if (stage && !strcmp(stage, "deleted"))
        json_object_set_new(rec, "tags", json_pack("[s]", "mlflow:deleted"));
    return rec;
}

/* Every experiment: its name for the runs; a record when new or changed. */
static int s_discover_experiments(s_poll *p)
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare(p, "SELECT * FROM experiments ORDER BY experiment_id", &st);
    if (rc)
        return rc;
    json_t *old = json_object_get(p->old, "experiments");
    bool row;
    while (!(rc = s_step(p, st, &row)) && row) {
        json_t *r = s_row_json(st);
        long long id;
        if (!r || !s_jint(r, "experiment_id", &id)) {
            json_decref(r);
            continue;
        }
        char ids[32];
        snprintf(ids, sizeof ids, "%lld", id);
        uint64_t h = s_fnv_row(FNV_INIT, st);
        json_t *tags = json_object();
        if (p->has_experiment_tags) {
            sqlite3_stmt *tq = NULL;
            if ((rc = s_prepare(p, "SELECT \"key\", value FROM experiment_tags WHERE experiment_id = ? "
                                   "ORDER BY \"key\"", &tq))) {
                json_decref(r);
                json_decref(tags);
                break;
            }
            sqlite3_bind_int64(tq, 1, id);
            bool trow;
            while (!(rc = s_step(p, tq, &trow)) && trow) {
                h = s_fnv_row(h, tq);
                const char *k = (const char *)sqlite3_column_text(tq, 0);
                if (k)
                    s_set(tags, k, s_str((const char *)sqlite3_column_text(tq, 1)));
            }
            sqlite3_finalize(tq);
            if (rc) {
                json_decref(r);
                json_decref(tags);
                break;
            }
        }
        char sig[17];
        s_hex(h, sig);
        if (s_jtext(r, "name"))
            json_object_set_new(p->experiments, ids, s_str(s_jtext(r, "name")));
        json_object_set_new(p->exp_sigs, ids, json_string(sig));
        const char *was = json_string_value(json_object_get(old, ids));
        if (!was || strcmp(was, sig)) {
            json_t *rec = s_experiment_record(p, r, tags);
            if (rec)
                json_array_append_new(p->exp_records, rec);
        }
        json_decref(tags);
        json_decref(r);
    }
    sqlite3_finalize(st);
    return rc;
}

/* One scan of runs: new runs, runs deleted or restored since the last
 * poll, and the rowid of every run to send (the order they are sent in). */
static int s_discover_runs(s_poll *p)
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare(p, "SELECT rowid, run_uuid, lifecycle_stage FROM runs WHERE rowid <= ?", &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, p->t[T_RUNS].max);
    json_t *was_deleted = json_object_get(p->old, "deleted");
    bool row;
    while (!(rc = s_step(p, st, &row)) && row) {
        long long rowid = sqlite3_column_int64(st, 0);
        const char *uuid = (const char *)sqlite3_column_text(st, 1);
        const char *stage = (const char *)sqlite3_column_text(st, 2);
        char where[64];
        snprintf(where, sizeof where, "runs rowid %lld", rowid);
        if (!uuid || !*uuid) {
            if (rowid > p->t[T_RUNS].from)
                mida_observer_skip(p->obs, where, "the run has no run_uuid");
            continue;
        }
        bool deleted = stage && !strcmp(stage, "deleted");
        if (rowid > p->t[T_RUNS].from)
            s_touch(p, uuid, where, NULL, true);
        if (deleted != (json_object_get(was_deleted, uuid) != NULL))
            s_touch(p, uuid, where, NULL, false);
        if (deleted)
            json_object_set_new(p->deleted, uuid, json_true());
        json_t *t = json_object_get(p->touched, uuid);
        if (t)
            json_object_set_new(t, "r", json_integer(rowid));
    }
    sqlite3_finalize(st);
    return rc;
}

/* Checks the schema: MIDA_EAGAIN while the database is still empty (MLflow
 * creates its tables on first use), an error when it is another kind of
 * database. */
static int s_probe(s_poll *p)
{
    sqlite3 *db = p->st->db;
    static const char *required[] = {"experiments", "runs", "params", "metrics", "tags"};
    const size_t n_required = sizeof required / sizeof required[0];
    size_t missing = 0;
    while (missing < n_required && sqlite_source_has_table(db, required[missing]))
        missing++;
    if (missing == n_required)
        goto found;
    sqlite3_stmt *st = NULL;
    int rc = s_prepare(p, "SELECT count(*) FROM sqlite_master WHERE type = 'table'", &st);
    bool row = false;
    if (!rc)
        rc = s_step(p, st, &row);
    long long n = row ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc)
        return rc;
    bool mlflow = sqlite_source_has_table(db, "alembic_version");
    for (size_t i = 0; i < n_required; i++)
        mlflow = mlflow || sqlite_source_has_table(db, required[i]);
    if (n == 0 || mlflow) {
        /* empty, or MLflow is creating its tables right now */
        snprintf(p->err, p->errlen, "%s: no table %s yet", p->st->path, required[missing]);
        return MIDA_EAGAIN;
    }
    snprintf(p->err, p->errlen, "%s is not an MLflow tracking database: it has no table %s",
             p->st->path, required[missing]);
    return MIDA_EUNSUPPORTED;

found:
    p->has_experiment_tags = sqlite_source_has_table(db, "experiment_tags");
    p->has_datasets = sqlite_source_has_table(db, "datasets");
    p->has_input_tags = sqlite_source_has_table(db, "input_tags");
    p->m_step = sqlite_source_has_column(db, "metrics", "step");
    p->m_is_nan = sqlite_source_has_column(db, "metrics", "is_nan");
    return 0;
}

/* ---- one run ------------------------------------------------------------- */

/* Adds the history and latest value of metric rows (ordered by key, then
 * step, timestamp, value) to `generated`. */
static int s_metric_rows(s_poll *p, sqlite3_stmt *st, json_t *generated)
{
    int ckey = sqlite_source_column(st, "key");
    int cval = sqlite_source_column(st, "value");
    int cts = sqlite_source_column(st, "timestamp");
    int cstep = sqlite_source_column(st, "step");
    int cnan = sqlite_source_column(st, "is_nan");
    char *cur = NULL;
    json_t *hist = NULL;
    json_t *latest = NULL;
    int rc;
    bool row;
    for (;;) {
        rc = s_step(p, st, &row);
        const char *key = row ? (const char *)sqlite3_column_text(st, ckey) : NULL;
        if (rc || !row || !key || !cur || strcmp(key, cur)) {
            if (cur) {   /* the key ends: its latest value is the last row */
                char *hn = s_join(cur, ".history");
                s_set(generated, cur, latest ? latest : json_null());
                s_set(generated, hn, hist);
                free(hn);
                latest = hist = NULL;
                free(cur);
                cur = NULL;
            }
            if (rc || !row)
                break;
            if (!key)
                continue;
            cur = strdup(key);
            hist = json_array();
            if (!cur || !hist) {
                rc = MIDA_ENOMEM;
                break;
            }
        }
        double v = sqlite3_column_double(st, cval);
        bool nan = (cnan >= 0 && sqlite3_column_int(st, cnan)) || !isfinite(v) ||
                   sqlite3_column_type(st, cval) == SQLITE_NULL;
        json_t *val = nan ? json_null() : json_real(v);
        json_decref(latest);
        latest = json_incref(val);
        json_array_append_new(hist, json_pack("[I, I, o]",
                                              (json_int_t)(cstep >= 0 ? sqlite3_column_int64(st, cstep) : 0),
                                              (json_int_t)(cts >= 0 ? sqlite3_column_int64(st, cts) : 0),
                                              val));
    }
    free(cur);
    json_decref(hist);
    json_decref(latest);
    return rc == MIDA_ENOMEM ? (snprintf(p->err, p->errlen, "out of memory"), rc) : rc;
}

/* The metrics of a run: every key (all) or the keys in `keys`. */
static int s_metrics(s_poll *p, const char *uuid, json_t *keys, bool all, json_t *generated)
{
    char sql[256];
    const char *order = p->m_step ? "step, timestamp, value, rowid" : "timestamp, value, rowid";
    /* "+key": the run's rows through index_metrics_run_uuid, not every
     * run's rows of that key through the primary key */
    snprintf(sql, sizeof sql, "SELECT * FROM metrics WHERE run_uuid = ?1%s ORDER BY \"key\", %s",
             all ? "" : " AND +\"key\" = ?2", order);
    sqlite3_stmt *st = NULL;
    int rc = s_prepare(p, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
    if (all) {
        rc = s_metric_rows(p, st, generated);
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(keys, key, v) {
            sqlite3_reset(st);
            sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
            if ((rc = s_metric_rows(p, st, generated)) != 0)
                break;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* A logged model's reference: its artifact location, or models:/ID. */
static int s_model_ref(s_poll *p, const char *model_id, json_t **ref, json_t **row_out)
{
    *ref = NULL;
    *row_out = NULL;
    if (p->t[T_LOGGED_MODELS].present) {
        sqlite3_stmt *st = NULL;
        int rc = s_prepare(p, "SELECT * FROM logged_models WHERE model_id = ?", &st);
        if (rc)
            return rc;
        sqlite3_bind_text(st, 1, model_id, -1, SQLITE_TRANSIENT);
        bool row;
        rc = s_step(p, st, &row);
        if (!rc && row)
            *row_out = s_row_json(st);
        sqlite3_finalize(st);
        if (rc)
            return rc;
    }
    json_t *loc = *row_out ? s_location(p->st, s_jtext(*row_out, "artifact_location")) : NULL;
    if (!loc) {
        size_t n = strlen(model_id) + 16;
        char *u = malloc(n);
        if (u) {
            snprintf(u, n, "models:/%s", model_id);
            loc = s_str(u);
            free(u);
        }
    }
    *ref = s_ref(loc, "mlflow-model");
    return 0;
}

static json_t *s_model_meta(json_t *m, const char *model_id, const char *direction)
{
    json_t *o = json_pack("{s:s, s:s}", "model_id", model_id, "direction", direction);
    const char *keys[] = {"name", "artifact_location", "model_type", "lifecycle_stage", "status_message"};
    for (size_t i = 0; m && i < sizeof keys / sizeof keys[0]; i++)
        if (s_jtext(m, keys[i]))
            json_object_set_new(o, keys[i], s_str(s_jtext(m, keys[i])));
    long long status;
    static const char *names[] = {"UNSPECIFIED", "PENDING", "READY", "FAILED_UPLOAD"};
    if (m && s_jint(m, "status", &status))
        json_object_set_new(o, "status", status >= 0 && status < 4 ? json_string(names[status])
                                                                    : json_integer(status));
    return o;
}

/* Datasets (inputs DATASET -> RUN) and logged models (RUN_INPUT, RUN_OUTPUT,
 * logged_models.source_run_id) of the run. */
static int s_inputs(s_poll *p, const char *uuid, json_t *used, json_t *generated, json_t *meta)
{
    int rc = 0;
    sqlite3_stmt *st = NULL;
    json_t *datasets = json_array(), *models = json_array();
    bool row;
    if (p->t[T_INPUTS].present && p->has_datasets) {
        rc = s_prepare(p, "SELECT i.rowid AS mida_rowid, i.input_uuid AS mida_input, d.* FROM inputs i "
                          "JOIN datasets d ON d.dataset_uuid = i.source_id WHERE i.source_type = "
                          "'DATASET' AND i.destination_type = 'RUN' AND i.destination_id = ? "
                          "ORDER BY i.rowid", &st);
        if (!rc)
            sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
        while (!rc && !(rc = s_step(p, st, &row)) && row) {
            json_t *d = s_row_json(st);
            const char *name = s_jtext(d, "name"), *digest = s_jtext(d, "digest");
            const char *src = s_jtext(d, "dataset_source");
            json_t *info = json_object();
            if (name)
                json_object_set_new(info, "name", s_str(name));
            if (digest)
                json_object_set_new(info, "digest", s_str(digest));
            if (s_jtext(d, "dataset_source_type"))
                json_object_set_new(info, "source_type", s_str(s_jtext(d, "dataset_source_type")));
            /* the source is JSON: {"uri": ...}, {"url": ...}, {"path": ...} */
            json_t *sj = src ? json_loads(src, 0, NULL) : NULL;
            json_object_set_new(info, "source", sj ? json_incref(sj) : src ? s_str(src) : json_null());
            const char *where = NULL;
            static const char *lk[] = {"uri", "url", "path"};
            for (size_t i = 0; json_is_object(sj) && !where && i < 3; i++) {
                const char *v = s_jtext(sj, lk[i]);
                if (v && (v[0] == '/' || s_has_scheme(v)))
                    where = v;
            }
            json_t *id = NULL;
            if (where) {
                id = s_str(where);
            } else if (digest) {
                size_t n = strlen(digest) + 32;
                char *u = malloc(n);
                if (u) {
                    snprintf(u, n, "mlflow-dataset:%s", digest);
                    id = s_str(u);
                    free(u);
                }
            }
            json_decref(sj);
            if (s_jtext(d, "dataset_profile")) {
                json_t *pj = json_loads(s_jtext(d, "dataset_profile"), 0, NULL);
                json_object_set_new(info, "profile", pj ? pj : s_str(s_jtext(d, "dataset_profile")));
            }
            /* the input's tags say what it was for: mlflow.data.context */
            char *context = NULL;
            if (p->has_input_tags && s_jtext(d, "mida_input")) {
                sqlite3_stmt *tq = NULL;
                rc = s_prepare(p, "SELECT name, value FROM input_tags WHERE input_uuid = ? "
                                  "ORDER BY name", &tq);
                if (!rc)
                    sqlite3_bind_text(tq, 1, s_jtext(d, "mida_input"), -1, SQLITE_TRANSIENT);
                json_t *itags = json_object();
                bool trow;
                while (!rc && !(rc = s_step(p, tq, &trow)) && trow) {
                    const char *k = (const char *)sqlite3_column_text(tq, 0);
                    const char *v = (const char *)sqlite3_column_text(tq, 1);
                    if (!k)
                        continue;
                    s_set(itags, k, s_str(v));
                    if (!strcmp(k, "mlflow.data.context") && v && *v && !context)
                        context = strdup(v);
                }
                sqlite3_finalize(tq);
                if (json_object_size(itags))
                    json_object_set(info, "input_tags", itags);
                json_decref(itags);
            }
            json_object_set_new(info, "context", s_str(context ? context : "input"));
            char *uname = s_join("mlflow.dataset:", context ? context : "input");
            s_add_ref(used, uname, s_ref(id, "mlflow-dataset"));
            free(uname);
            free(context);
            json_array_append_new(datasets, info);
            json_decref(d);
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    /* models used and produced: inputs edges, then logged_models.source_run_id */
    json_t *model_ids = json_array();   /* [model_id, "input"|"output"] */
    if (!rc && p->t[T_INPUTS].present) {
        rc = s_prepare(p, "SELECT source_type, destination_id FROM inputs WHERE source_id = ? AND "
                          "source_type IN ('RUN_INPUT', 'RUN_OUTPUT') ORDER BY rowid", &st);
        if (!rc)
            sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
        while (!rc && !(rc = s_step(p, st, &row)) && row) {
            const char *t = (const char *)sqlite3_column_text(st, 0);
            const char *m = (const char *)sqlite3_column_text(st, 1);
            bool in = t && !strcmp(t, "RUN_INPUT");
            if (m && *m)
                json_array_append_new(model_ids, json_pack("[s, s]", m, in ? "input" : "output"));
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (!rc && p->t[T_LOGGED_MODELS].present) {
        rc = s_prepare(p, "SELECT model_id FROM logged_models WHERE source_run_id = ? ORDER BY rowid", &st);
        if (!rc)
            sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
        while (!rc && !(rc = s_step(p, st, &row)) && row) {
            const char *m = (const char *)sqlite3_column_text(st, 0);
            if (m && *m)
                json_array_append_new(model_ids, json_pack("[s, s]", m, "output"));
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    size_t i;
    json_t *e;
    json_t *seen = json_object();
    json_array_foreach(model_ids, i, e) {
        if (rc)
            break;
        const char *mid = json_string_value(json_array_get(e, 0));
        const char *dir = json_string_value(json_array_get(e, 1));
        char sk[300];
        snprintf(sk, sizeof sk, "%s %s", dir, mid);
        if (json_object_get(seen, sk))
            continue;
        json_object_set_new(seen, sk, json_true());
        json_t *ref = NULL, *m = NULL;
        if ((rc = s_model_ref(p, mid, &ref, &m)) != 0)
            break;
        const char *mname = m && s_jtext(m, "name") ? s_jtext(m, "name") : mid;
        char *name = s_join("mlflow.model:", mname);
        s_add_ref(!strcmp(dir, "input") ? used : generated, name, ref);
        free(name);
        json_array_append_new(models, s_model_meta(m, mid, dir));
        json_decref(m);
    }
    json_decref(seen);
    json_decref(model_ids);
    if (json_array_size(datasets))
        json_object_set(meta, "datasets", datasets);
    if (json_array_size(models))
        json_object_set(meta, "logged_models", models);
    json_decref(datasets);
    json_decref(models);
    return rc;
}

/* The models listed by the run's mlflow.log-model.history tag (MLflow 1.x
 * and 2.x): each is the directory <artifact_uri>/<artifact_path>. */
static bool s_log_model_history(s_poll *p, const char *uuid, const char *text, json_t *artifacts,
                                json_t *generated, json_t *meta)
{
    json_error_t jerr;
    json_t *h = json_loads(text, 0, &jerr);
    char where[128];
    snprintf(where, sizeof where, "tag mlflow.log-model.history of run %s", uuid);
    if (!json_is_array(h)) {
        mida_observer_skip(p->obs, where, "%s", h ? "not a JSON list" : jerr.text);
        json_decref(h);
        return false;
    }
    json_t *list = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(h, i, e) {
        const char *ap = s_jtext(e, "artifact_path");
        if (!ap) {
            mida_observer_skip(p->obs, where, "entry %zu has no artifact_path", i);
            continue;
        }
        json_t *info = json_pack("{s:s}", "artifact_path", ap);
        const char *keys[] = {"model_uuid", "utc_time_created", "mlflow_version"};
        for (size_t k = 0; k < 3; k++)
            if (s_jtext(e, keys[k]))
                json_object_set_new(info, keys[k], json_string(s_jtext(e, keys[k])));
        json_t *fl = json_object_get(e, "flavors");
        if (json_is_object(fl)) {
            json_t *names = json_array();
            const char *fk;
            json_t *fv;
            json_object_foreach(fl, fk, fv) json_array_append_new(names, json_string(fk));
            json_object_set_new(info, "flavors", names);
        }
        json_array_append_new(list, info);
        if (!artifacts)
            continue;
        const char *base = json_string_value(artifacts);
        size_t n = strlen(base) + strlen(ap) + 2;
        char *loc = malloc(n);
        if (!loc)
            continue;
        bool slash = n > 2 && base[strlen(base) - 1] == '/';
        snprintf(loc, n, "%s%s%s", base, slash ? "" : "/", ap);
        char *name = s_join("mlflow.model:", ap);
        s_add_ref(generated, name, s_ref(s_str(loc), "mlflow-model"));
        free(name);
        free(loc);
    }
    json_object_set_new(meta, "logged_model_history", list);
    json_decref(h);
    return true;
}

/* Registered model versions made from the run's models. */
static int s_model_versions(s_poll *p, const char *uuid, json_t *artifacts,
                            json_t *generated, json_t *meta)
{
    if (!p->t[T_MODEL_VERSIONS].present)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = s_prepare(p, "SELECT * FROM model_versions WHERE run_id = ? ORDER BY name, version", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
    json_t *list = json_array();
    bool row;
    while (!(rc = s_step(p, st, &row)) && row) {
        json_t *v = s_row_json(st);
        const char *name = s_jtext(v, "name");
        long long version;
        if (!name || !s_jint(v, "version", &version)) {
            json_decref(v);
            continue;
        }
        char uri[600];
        snprintf(uri, sizeof uri, "models:/%s/%lld", name, version);
        json_t *info = json_pack("{s:s, s:I, s:s}", "name", name, "version", (json_int_t)version, "uri", uri);
        const char *keys[] = {"current_stage", "status", "source", "description", "user_id"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (s_jtext(v, keys[i]))
                json_object_set_new(info, keys[i], s_str(s_jtext(v, keys[i])));
        long long ms;
        char iso[40];
        if (s_jint(v, "creation_time", &ms) && s_ms_iso(ms, iso))
            json_object_set_new(info, "creation_time", json_string(iso));
        if (s_jint(v, "last_updated_time", &ms) && s_ms_iso(ms, iso))
            json_object_set_new(info, "last_updated_time", json_string(iso));
        json_array_append_new(list, info);
        /* the version's data: where its source lies; runs:/ID/PATH is the
         * run's artifact directory, models:/m-... a logged model */
        const char *src = s_jtext(v, "source");
        json_t *loc = NULL;
        char rp[64];
        snprintf(rp, sizeof rp, "runs:/%s/", uuid);
        if (src && !strncmp(src, rp, strlen(rp)) && artifacts) {
            const char *base = json_string_value(artifacts);
            size_t n = strlen(base) + strlen(src) + 2;
            char *l = malloc(n);
            if (l) {
                snprintf(l, n, "%s/%s", base, src + strlen(rp));
                loc = s_str(l);
                free(l);
            }
        } else if (src && !strncmp(src, "models:/m-", 10) && !strchr(src + 8, '/')) {
            json_t *ref = NULL, *m = NULL;
            rc = s_model_ref(p, src + 8, &ref, &m);
            json_decref(m);
            if (rc) {
                json_decref(v);
                break;
            }
            loc = json_incref(json_object_get(ref, "@id"));
            json_decref(ref);
        } else if (src && !s_has_scheme(src)) {
            loc = s_location(p->st, src);
        } else if (src && mida_iri_is_location(src)) {
            loc = s_str(src);
        }
        if (!loc)
            loc = json_string(uri);
        char *gname = s_join("mlflow.registered_model:", name);
        s_add_ref(generated, gname, s_ref(loc, "mlflow-model"));
        free(gname);
        json_decref(v);
    }
    sqlite3_finalize(st);
    if (json_array_size(list))
        json_object_set(meta, "model_versions", list);
    json_decref(list);
    return rc;
}

static bool s_terminal(const char *status)
{
    return !strcmp(status, "FINISHED") || !strcmp(status, "FAILED") || !strcmp(status, "KILLED");
}

/* Builds the record of run `uuid`; *rec NULL when the run was skipped.
 * *open tells whether the run is not finished yet (sig is then its
 * signature). */
static int s_build_run(s_poll *p, const char *uuid, json_t *touch, json_t **rec, bool *open,
                       char sig[17])
{
    *rec = NULL;
    *open = false;
    int rc = s_exec(p, "BEGIN");
    if (rc)
        return rc;
    json_t *run = NULL, *tags = json_object(), *used = json_object(), *generated = json_object();
    json_t *meta = json_object(), *r = NULL, *utags = json_array();
    sqlite3_stmt *st = NULL;
    bool row, found;
    const char *where = s_jstr(touch, "w");

    if ((rc = s_run_sig(p, uuid, &found, sig)) || !found)
        goto out;
    if ((rc = s_prepare(p, "SELECT rowid AS mida_rowid, * FROM runs WHERE run_uuid = ?", &st)))
        goto out;
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
    if ((rc = s_step(p, st, &row)) || !row)
        goto out;
    run = s_row_json(st);
    sqlite3_finalize(st);
    st = NULL;
    long long rowid = 0;
    s_jint(run, "mida_rowid", &rowid);
    char rwhere[64];
    snprintf(rwhere, sizeof rwhere, "runs rowid %lld", rowid);
    const char *status = s_jtext(run, "status");
    static const char *known[] = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"};
    bool ok = false;
    for (size_t i = 0; status && i < 5; i++)
        ok = ok || !strcmp(status, known[i]);
    if (!ok) {
        mida_observer_skip(p->obs, rwhere, "run %s has an unknown status '%s'", uuid,
                           status ? status : "(none)");
        goto out;
    }

    /* tags, all of them: custom_metadata is replaced as a whole */
    if ((rc = s_prepare(p, "SELECT \"key\", value FROM tags WHERE run_uuid = ? ORDER BY \"key\"", &st)))
        goto out;
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
    while (!(rc = s_step(p, st, &row)) && row) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        if (!k)
            continue;
        s_set(tags, k, s_str(v));
        if (strncmp(k, "mlflow.", 7)) {
            size_t n = strlen(k) + (v ? strlen(v) : 0) + 2;
            char *kv = malloc(n);
            if (kv) {
                snprintf(kv, n, "%s=%s", k, v ? v : "");
                json_array_append_new(utags, s_str(kv));
                free(kv);
            }
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc)
        goto out;

    /* params: used values */
    if ((rc = s_prepare(p, "SELECT \"key\", value FROM params WHERE run_uuid = ? ORDER BY rowid", &st)))
        goto out;
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
    while (!(rc = s_step(p, st, &row)) && row) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        if (k)
            s_set(used, k, s_param((const char *)sqlite3_column_text(st, 1), p->st->params_as_text));
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc)
        goto out;

    /* metrics: latest value and history of each changed key; all of them
     * when the run has just ended, so that every value is sent once with
     * the end time (its prov:generatedAtTime) */
    bool all = json_is_true(json_object_get(touch, "all")) ||
               (s_terminal(status) && json_object_get(json_object_get(p->old, "open"), uuid));
    if ((rc = s_metrics(p, uuid, json_object_get(touch, "keys"), all, generated)))
        goto out;

    json_t *artifacts = s_location(p->st, s_jtext(run, "artifact_uri"));
    if (artifacts)
        json_object_set_new(generated, "mlflow.artifacts", s_ref(json_incref(artifacts), "mlflow-artifacts"));
    /* the history, once read, is in custom_metadata as logged_model_history */
    if (s_jtext(tags, "mlflow.log-model.history") &&
        s_log_model_history(p, uuid, s_jtext(tags, "mlflow.log-model.history"), artifacts, generated, meta))
        json_object_del(tags, "mlflow.log-model.history");
    if (!rc)
        rc = s_inputs(p, uuid, used, generated, meta);
    if (!rc)
        rc = s_model_versions(p, uuid, artifacts, generated, meta);
    json_decref(artifacts);
    if (rc)
        goto out;

    /* the record */
    long long exp_id = 0;
    bool has_exp = s_jint(run, "experiment_id", &exp_id);
    char wid[256], ids[32];
    snprintf(ids, sizeof ids, "%lld", exp_id);
    snprintf(wid, sizeof wid, "%s-experiment-%s", p->st->prefix, has_exp ? ids : "none");
    r = json_pack("{s:s, s:s, s:s, s:s}", "task_id", uuid, "workflow_id", wid, "status", status,
                  "engine", "mlflow");
    if (!r) {
        rc = MIDA_ENOMEM;
        goto out;
    }
    const char *ename = json_string_value(json_object_get(p->experiments, ids));
    if (has_exp && ename)
        json_object_set_new(r, "workflow_name", s_str(ename));

    /* the plan: the source program, its entry point, its commit */
    const char *source = s_jtext(tags, "mlflow.source.name");
    if (!source)
        source = s_jtext(run, "source_name");
    const char *entry = s_jtext(tags, "mlflow.project.entryPoint");
    if (!entry)
        entry = s_jtext(run, "entry_point_name");
    const char *commit = s_jtext(tags, "mlflow.source.git.commit");
    if (!commit)
        commit = s_jtext(run, "source_version");
    {
        const char *src = source ? source : "mlflow-run";
        size_t n = strlen(src) + (entry ? strlen(entry) + 1 : 0) + (commit ? strlen(commit) + 1 : 0) + 1;
        char *act = malloc(n);
        if (act) {
            snprintf(act, n, "%s%s%s%s%s", src, entry ? "#" : "", entry ? entry : "", commit ? "@" : "",
                     commit ? commit : "");
            json_object_set_new(r, "activity_id", s_str(act));
            free(act);
        }
    }
    const char *user = s_jtext(run, "user_id");
    if (!user)
        user = s_jtext(tags, "mlflow.user");
    if (user)
        json_object_set_new(r, "user", s_str(user));
    long long ms;
    char iso[40];
    static const char *times[][2] = {{"start_time", "started_at"}, {"end_time", "ended_at"}};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(run, times[i][0]);
        if (!v || json_is_null(v))
            continue;
        if (s_jint(run, times[i][0], &ms) && s_ms_iso(ms, iso))
            json_object_set_new(r, times[i][1], json_string(iso));
        else   /* the run is still worth sending, without that time */
            mida_observer_log(p->obs, MIDA_LOG_WARN, "%s: %s: %s of run %s is not a time in "
                              "milliseconds: sent without it", p->st->path, rwhere, times[i][0], uuid);
    }

    /* nested runs: the parent, when it is in the same experiment (the task
     * IRI is minted under the workflow) */
    const char *parent = s_jtext(tags, "mlflow.parentRunId");
    if (parent) {
        if ((rc = s_prepare(p, "SELECT experiment_id FROM runs WHERE run_uuid = ?", &st)))
            goto out;
        sqlite3_bind_text(st, 1, parent, -1, SQLITE_TRANSIENT);
        rc = s_step(p, st, &row);
        long long pexp = row ? sqlite3_column_int64(st, 0) : exp_id;
        sqlite3_finalize(st);
        st = NULL;
        if (rc)
            goto out;
        json_object_set_new(meta, "parent_run_id", s_str(parent));
        if (pexp == exp_id) {
            json_object_set_new(r, "parent_task_id", s_str(parent));
        } else {
            char pw[256];
            snprintf(pw, sizeof pw, "%s-experiment-%lld", p->st->prefix, pexp);
            json_object_set_new(meta, "parent_workflow_id", json_string(pw));
        }
    }

    json_object_set_new(meta, "run_uuid", json_string(uuid));
    if (has_exp)
        json_object_set_new(meta, "experiment_id", json_integer(exp_id));
    const char *rname = s_jtext(run, "name");
    if (!rname)
        rname = s_jtext(tags, "mlflow.runName");
    if (rname)
        json_object_set_new(meta, "run_name", s_str(rname));
    const char *stype = s_jtext(tags, "mlflow.source.type");
    if (!stype)
        stype = s_jtext(run, "source_type");
    static const struct {
        const char *field;
        const char *col;
    } cols[] = {{"lifecycle_stage", "lifecycle_stage"}, {"artifact_uri", "artifact_uri"}};
    for (size_t i = 0; i < 2; i++)
        if (s_jtext(run, cols[i].col))
            json_object_set_new(meta, cols[i].field, s_str(s_jtext(run, cols[i].col)));
    if (s_jint(run, "deleted_time", &ms) && s_ms_iso(ms, iso))
        json_object_set_new(meta, "deleted_time", json_string(iso));
    if (stype)
        json_object_set_new(meta, "source_type", s_str(stype));
    if (source)
        json_object_set_new(meta, "source_name", s_str(source));
    if (entry)
        json_object_set_new(meta, "entry_point", s_str(entry));
    if (commit)
        json_object_set_new(meta, "git_commit", s_str(commit));
    if (s_jtext(tags, "mlflow.source.git.branch"))
        json_object_set_new(meta, "git_branch", s_str(s_jtext(tags, "mlflow.source.git.branch")));
    if (s_jtext(tags, "mlflow.source.git.repoURL"))
        json_object_set_new(meta, "git_repo_url", s_str(s_jtext(tags, "mlflow.source.git.repoURL")));
    if (json_object_size(tags))
        json_object_set(meta, "tags", tags);
    json_object_set(r, "custom_metadata", meta);

    const char *stage = s_jstr(run, "lifecycle_stage");
    if (stage && !strcmp(stage, "deleted"))
        json_array_append_new(utags, json_string("mlflow:deleted"));
    if (json_array_size(utags))
        json_object_set(r, "tags", utags);
    if (json_object_size(used))
        json_object_set(r, "used", used);
    if (json_object_size(generated))
        json_object_set(r, "generated", generated);
    *open = !s_terminal(status);
    *rec = r;
    r = NULL;

out:
    sqlite3_finalize(st);
    s_end(p);
    if (!rc && !*rec && !run && where)   /* the run is not (or no more) in runs */
        mida_observer_skip(p->obs, where, "run %s is not in table runs", uuid);
    json_decref(r);
    json_decref(run);
    json_decref(tags);
    json_decref(used);
    json_decref(generated);
    json_decref(meta);
    json_decref(utags);
    return rc;
}

/* ---- the poll ----------------------------------------------------------- */

typedef struct {
    long long rowid;
    const char *uuid;
} s_order;

static int s_order_cmp(const void *a, const void *b)
{
    const s_order *x = a, *y = b;
    return x->rowid < y->rowid ? -1 : x->rowid > y->rowid;
}

static int s_emit(s_poll *p, json_t *rec)
{
    char *text = json_dumps(rec, JSON_COMPACT);
    if (!text) {
        snprintf(p->err, p->errlen, "out of memory");
        return MIDA_ENOMEM;
    }
    int rc = mida_observer_emit(p->obs, text, strlen(text));
    free(text);
    if (rc && !*p->err)
        snprintf(p->err, p->errlen, "a record could not be delivered: %s", mida_strerror(rc));
    return rc;
}

static int s_discover(s_poll *p)
{
    bool resync = false;
    int rc = s_exec(p, "BEGIN");
    if (!rc)
        rc = s_probe(p);
    if (!rc)
        rc = s_table_cursors(p, &resync);
    if (!rc && resync) {
        /* start again: every run, experiment and model is new */
        json_object_clear(p->old);
        for (int i = 0; i < T_N; i++)
            p->t[i].from = 0;
    }
    if (!rc)
        rc = s_discover_experiments(p);
    if (!rc)
        rc = s_discover_open(p);
    if (!rc)
        rc = s_discover_rows(p);
    if (!rc)
        rc = s_discover_inputs(p);
    if (!rc)
        rc = s_discover_updated(p, T_LOGGED_MODELS, "source_run_id", "last_updated_timestamp_ms");
    if (!rc)
        rc = s_discover_updated(p, T_MODEL_VERSIONS, "run_id", "last_updated_time");
    if (!rc)
        rc = s_discover_runs(p);
    s_end(p);
    return rc;
}

/* The new cursor: where each table stood at discovery, and the sets. */
static int s_cursor(s_poll *p, char **out)
{
    json_t *tabs = json_object();
    for (int i = 0; tabs && i < T_N; i++)
        if (p->t[i].present && p->t[i].max > 0 && p->t[i].max_fp[0])
            json_object_set_new(tabs, s_tables[i].table,
                                json_pack("[I, s]", (json_int_t)p->t[i].max, p->t[i].max_fp));
    json_t *c = tabs ? json_pack("{s:i, s:o, s:O, s:O, s:O, s:O}", "v", S_CURSOR_VERSION, "tables",
                                 tabs, "open", p->open, "deleted", p->deleted, "experiments",
                                 p->exp_sigs, "updated", p->ts_cursors)
                     : NULL;
    *out = c ? json_dumps(c, JSON_COMPACT) : NULL;
    json_decref(c);
    if (!*out) {
        snprintf(p->err, p->errlen, "out of memory");
        return MIDA_ENOMEM;
    }
    return 0;
}

static int s_observe(void *state, mida_observer_t *obs, char *err, size_t errlen)
{
    s_state *st = state;
    long long dv = sqlite_source_data_version(st->db);
    if (st->polled && dv >= 0 && dv == st->data_version)
        return 0;   /* no other connection committed since the last poll */

    s_poll p = {.st = st, .obs = obs, .err = err, .errlen = errlen};
    const char *text = mida_observer_cursor(obs);
    if (text) {
        json_error_t jerr;
        p.old = json_loads(text, 0, &jerr);
        if (!json_is_object(p.old) ||
            json_integer_value(json_object_get(p.old, "v")) != S_CURSOR_VERSION) {
            mida_observer_log(obs, MIDA_LOG_WARN, "%s: the cursor is not one this adapter wrote; "
                              "reading from the start", st->path);
            json_decref(p.old);
            p.old = NULL;
        }
    }
    if (!p.old)
        p.old = json_object();
    p.touched = json_object();
    p.experiments = json_object();
    p.exp_records = json_array();
    p.exp_sigs = json_object();
    p.open = json_object();
    p.deleted = json_object();
    p.ts_cursors = json_object();
    s_order *order = NULL;
    char *cursor = NULL;
    int rc = 0;
    if (!p.old || !p.touched || !p.experiments || !p.exp_records || !p.exp_sigs || !p.open ||
        !p.deleted || !p.ts_cursors) {
        snprintf(err, errlen, "out of memory");
        rc = MIDA_ENOMEM;
        goto out;
    }
    if ((rc = s_discover(&p)) != 0)
        goto out;

    size_t i;
    json_t *rec;
    json_array_foreach(p.exp_records, i, rec) {
        if ((rc = s_emit(&p, rec)) != 0)
            goto out;
    }

    /* the runs, in the order MLflow created them */
    size_t n = 0;
    order = calloc(json_object_size(p.touched) + 1, sizeof *order);
    if (!order) {
        snprintf(err, errlen, "out of memory");
        rc = MIDA_ENOMEM;
        goto out;
    }
    const char *uuid;
    json_t *t;
    json_object_foreach(p.touched, uuid, t) {
        json_t *r = json_object_get(t, "r");
        if (json_is_integer(r)) {
            order[n++] = (s_order){json_integer_value(r), uuid};
        } else if (!strncmp(s_jstr(t, "w"), "model_versions", 14) ||
                   !strncmp(s_jstr(t, "w"), "logged_models", 13)) {
            /* the registry may outlive a run (mlflow gc) or name a run of
             * another tracking server: said, not an error */
            mida_observer_log(obs, MIDA_LOG_INFO, "%s: %s names run %s, which is not in table runs: "
                              "not captured", st->path, s_jstr(t, "w"), uuid);
        } else {
            /* a row of params, metrics ... whose run is not in runs */
            mida_observer_skip(obs, s_jstr(t, "w"), "run %s is not in table runs", uuid);
            json_object_del(p.open, uuid);
        }
    }
    qsort(order, n, sizeof *order, s_order_cmp);
    for (size_t k = 0; k < n; k++) {
        json_t *r = NULL;
        bool open = false;
        char sig[17];
        rc = s_build_run(&p, order[k].uuid, json_object_get(p.touched, order[k].uuid), &r, &open, sig);
        if (rc)
            goto out;
        if (!r) {
            json_object_del(p.open, order[k].uuid);
            continue;
        }
        if (open)
            json_object_set_new(p.open, order[k].uuid, json_string(sig));
        else
            json_object_del(p.open, order[k].uuid);
        rc = s_emit(&p, r);
        json_decref(r);
        if (rc)
            goto out;
    }

    if ((rc = s_cursor(&p, &cursor)) != 0)
        goto out;
    rc = mida_observer_set_cursor(obs, cursor);
    if (!rc) {
        st->data_version = dv;
        st->polled = dv >= 0;
    }

out:
    free(cursor);
    free(order);
    json_decref(p.old);
    json_decref(p.touched);
    json_decref(p.experiments);
    json_decref(p.exp_records);
    json_decref(p.exp_sigs);
    json_decref(p.open);
    json_decref(p.deleted);
    json_decref(p.ts_cursors);
    return rc;
}

/* ---- init / close ------------------------------------------------------ */

static void s_close(void *state)
{
    s_state *st = state;
    if (!st)
        return;
    sqlite3_close(st->db);
    free(st->path);
    free(st->artifact_root);
    free(st->prefix);
    free(st);
}

static int s_init(mida_observer_t *obs, void **state, char *err, size_t errlen)
{
    *state = NULL;
    const char *db = mida_observer_option(obs, "db");
    const char *root = mida_observer_option(obs, "artifact-root");
    const char *prefix = mida_observer_option(obs, "id-prefix");
    const char *busy = mida_observer_option(obs, "busy-timeout");
    if (!db || !*db) {
        snprintf(err, errlen, "mlflow needs --db PATH (the tracking database)");
        return MIDA_EINVAL;
    }
    /* the tracking URI form: sqlite:///relative or sqlite:////absolute */
    if (!strncmp(db, "sqlite:///", 10))
        db += 10;
    long busy_ms = S_DEFAULT_BUSY_MS;
    if (busy) {
        char *end;
        busy_ms = strtol(busy, &end, 10);
        if (!*busy || *end || busy_ms < 0 || busy_ms > 600000) {
            snprintf(err, errlen, "mlflow: --busy-timeout wants milliseconds (0..600000), got '%s'", busy);
            return MIDA_EINVAL;
        }
    }
    if (prefix && (!*prefix || strlen(prefix) > 128)) {
        snprintf(err, errlen, "mlflow: --id-prefix wants 1 to 128 characters");
        return MIDA_EINVAL;
    }
    s_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return MIDA_ENOMEM;
    }
    *state = st;
    st->params_as_text = mida_observer_option(obs, "params-as-text") != NULL;
    st->path = strdup(db);
    st->prefix = strdup(prefix ? prefix : "mlflow");
    bool missing;
    st->db = sqlite_source_open(db, (unsigned)busy_ms, &missing, err, errlen);
    if (!st->path || !st->prefix)
        return snprintf(err, errlen, "out of memory"), MIDA_ENOMEM;
    if (!st->db)
        return missing ? MIDA_EAGAIN : MIDA_EIO;   /* MLflow creates it at its first run */
    /* relative artifact URIs are relative to where the tracking server
     * ran: by default the directory of the database */
    char real[PATH_MAX];
    if (root) {
        if (!realpath(root, real)) {
            if (root[0] != '/') {
                snprintf(err, errlen, "mlflow: --artifact-root %s: %s (give an absolute path)", root,
                         strerror(errno));
                return MIDA_EINVAL;
            }
            snprintf(real, sizeof real, "%s", root);
        }
    } else {
        if (!realpath(db, real))
            return snprintf(err, errlen, "cannot open %s: %s", db, strerror(errno)), MIDA_EIO;
        char *slash = strrchr(real, '/');
        if (slash && slash != real)
            *slash = '\0';
        else if (slash)
            slash[1] = '\0';
    }
    size_t len = strlen(real);
    while (len > 1 && real[len - 1] == '/')
        real[--len] = '\0';
    st->artifact_root = strdup(real);
    if (!st->artifact_root)
        return snprintf(err, errlen, "out of memory"), MIDA_ENOMEM;
    st->data_version = -1;
    return 0;
}

static const mida_adapter_option_t s_options[] = {
    {"db", "PATH", "the MLflow tracking database (SQLite; sqlite:///PATH accepted)", true},
    {"artifact-root", "DIR", "where relative artifact URIs lie (default: the database's directory)", false},
    {"id-prefix", "TEXT", "workflow ids are TEXT-experiment-ID (default: mlflow)", false},
    {"params-as-text", NULL, "keep parameters as text (default: numbers become numbers)", false},
    {"busy-timeout", "MS", "how long a read waits for MLflow's writers (default 5000)", false},
    {NULL, NULL, NULL, false}};

const mida_adapter_t mida_adapter_mlflow = {MIDA_ADAPTER_ABI, "mlflow",
                                            "MLflow tracking database (SQLite): experiments, runs, "
                                            "params, metrics, datasets, models",
                                            "db", s_options, s_init, s_observe, s_close};
