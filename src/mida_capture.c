/* mida_capture.c - the capture API (see mida_capture.h): builds the task
 * record of a running task and hands it to an emitter.
 * Owns: the record under construction (fields, values, the two telemetry
 *       samples), its JSON form, the checks on what callers set.
 * Must not: map to PROV-O or touch sockets (the emitter does, on its own
 *       thread); decide what a valid record is (mida_task does: fields are
 *       checked with mida_task_parse).
 *
 * The record is kept as JSON text, not as a jansson tree: a value is
 * stored exactly as the caller wrote it (once checked to be JSON), so
 * numbers keep every digit and building the record is concatenation.
 */
#include "mida_internal.h"
#include "mida_selftest.h"

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CAPTURE_TAG 0x43415054u  /* "CAPT": a live capture */
#define CAPTURE_DEAD 0x44454144u /* "DEAD": poisoned on destroy */
#define MAX_ID_BYTES 1024

typedef struct {
    char *name;      /* field or value name, as given */
    char *name_json; /* the name as a JSON string, quotes included */
    char *json;      /* the value's JSON text, one line */
} kv_t;

typedef struct {
    kv_t *v;
    size_t n, cap;
} kv_list_t;

struct mida_capture {
    uint32_t tag;              /* CAPTURE_TAG while alive */
    mida_emitter_t *em;        /* borrowed; NULL: records are only built */
    kv_list_t fields;          /* ids and optional fields, in the order set */
    kv_list_t used, generated;
    size_t bytes;              /* JSON text held in the lists */
    mida_telemetry_t start;    /* begin's sample: started_at, telemetry_at_start */
    char *start_json;
    bool ended;                /* a final record was built: end stamps fixed */
    mida_telemetry_t end;
    char *end_json;
    char *message;             /* appended to stderr; NULL for none */
    char errmsg[256];
};

/* The fields the capture fills in itself; mida_task_set refuses them. */
static const char *const s_owned[] = {"type", "workflow_id", "task_id", "status",
                                      "started_at", "ended_at", "used", "generated",
                                      "telemetry_at_start", "telemetry_at_end"};

static int s_fail(mida_capture_t *t, int rc, const char *fmt, ...) MIDA_PRINTF(3, 4);
static int s_fail(mida_capture_t *t, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->errmsg, sizeof t->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

/* s as a JSON string literal (malloc'd); NULL when s is not UTF-8 or on
 * ENOMEM (*bad_utf8, when given, tells which). */
static char *s_json_string(const char *s, bool *bad_utf8)
{
    bool bad = !mida__utf8_valid(s, strlen(s));
    if (bad_utf8)
        *bad_utf8 = bad;
    json_t *j = bad ? NULL : json_string(s);
    if (!j)
        return NULL;
    char *out = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(j);
    return out;
}

/* ---- the lists of names and JSON texts ------------------------------- */

static kv_t *s_find(kv_list_t *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].name, name))
            return &l->v[i];
    return NULL;
}

static size_t s_kv_bytes(const kv_t *kv)
{
    return strlen(kv->name_json) + strlen(kv->json) + 2;
}

static void s_kv_free(kv_t *kv)
{
    free(kv->name);
    free(kv->name_json);
    free(kv->json);
}

static void s_list_free(kv_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        s_kv_free(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Sets name = json (taking ownership of json, freeing it on failure);
 * replaces an earlier value of the same name in place. */
static int s_put(mida_capture_t *t, kv_list_t *l, const char *name, char *json)
{
    kv_t kv = {.name = strdup(name), .name_json = s_json_string(name, NULL), .json = json};
    if (!kv.name || !kv.name_json) {
        s_kv_free(&kv);
        return s_fail(t, MIDA_ENOMEM, "out of memory");
    }
    kv_t *old = s_find(l, name);
    size_t add = s_kv_bytes(&kv), drop = old ? s_kv_bytes(old) : 0;
    if (t->bytes - drop + add > MIDA_CAPTURE_MAX_RECORD) {
        s_kv_free(&kv);
        return s_fail(t, MIDA_ETOOBIG, "'%.64s': the record would pass %u bytes", name,
                      MIDA_CAPTURE_MAX_RECORD);
    }
    if (old) {
        s_kv_free(old);
        *old = kv;
    } else {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 8;
            kv_t *v = realloc(l->v, cap * sizeof *v);
            if (!v) {
                s_kv_free(&kv);
                return s_fail(t, MIDA_ENOMEM, "out of memory");
            }
            l->v = v;
            l->cap = cap;
        }
        l->v[l->n++] = kv;
    }
    t->bytes = t->bytes - drop + add;
    return 0;
}

static void s_remove(mida_capture_t *t, kv_list_t *l, const char *name)
{
    kv_t *kv = s_find(l, name);
    if (!kv)
        return;
    t->bytes -= s_kv_bytes(kv);
    s_kv_free(kv);
    size_t i = (size_t)(kv - l->v);
    memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof *kv);
    l->n--;
}

/* Checks that text is one JSON value and returns a copy on one line:
 * a line break can only be whitespace between tokens in valid JSON (a
 * string cannot hold a raw one), so it becomes a space.  `what` and `name`
 * name the value in the message. */
static int s_value_text(mida_capture_t *t, const char *what, const char *name, const char *text,
                        char **out)
{
    *out = NULL;
    size_t len = strlen(text);
    if (len > MIDA_CAPTURE_MAX_VALUE)
        return s_fail(t, MIDA_ETOOBIG, "%s '%.64s': %zu bytes of JSON, more than %u", what, name,
                      len, MIDA_CAPTURE_MAX_VALUE);
    json_error_t jerr;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!j)
        return s_fail(t, MIDA_EPARSE, "%s '%.64s': not JSON (column %d): %s", what, name,
                      jerr.column, jerr.text);
    json_decref(j);
    while (len && strchr(" \t\r\n", text[len - 1]))
        len--;
    while (*text && strchr(" \t\r\n", *text)) {
        text++;
        len--;
    }
    char *copy = strndup(text, len);
    if (!copy)
        return s_fail(t, MIDA_ENOMEM, "out of memory");
    for (char *p = copy; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    *out = copy;
    return 0;
}

/* ---- who and where ------------------------------------------------------ */

/* The effective user's name, looked up once per process (the lookup may
 * read /etc/passwd or ask a directory service). */
static pthread_once_t s_user_once = PTHREAD_ONCE_INIT;
static char s_user[256];

static void s_user_lookup(void)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    const char *env;
    if (!getpwuid_r(geteuid(), &pw, buf, sizeof buf, &res) && res && res->pw_name &&
        *res->pw_name)
        snprintf(s_user, sizeof s_user, "%s", res->pw_name);
    else if ((env = getenv("USER")) && *env)
        snprintf(s_user, sizeof s_user, "%s", env);
    else if ((env = getenv("LOGNAME")) && *env)
        snprintf(s_user, sizeof s_user, "%s", env);
    else
        snprintf(s_user, sizeof s_user, "%u", (unsigned)geteuid());
}

/* Sets field = s as a JSON string; a value that is not UTF-8 is left out
 * (a host or user name in another encoding is not worth failing for). */
static int s_put_string(mida_capture_t *t, const char *field, const char *s)
{
    bool bad = false;
    char *j = s_json_string(s, &bad);
    if (!j)
        return bad ? 0 : s_fail(t, MIDA_ENOMEM, "out of memory");
    return s_put(t, &t->fields, field, j);
}

/* ---- the record ------------------------------------------------------------ */

/* Appends "name":value for each item (but `skip`), comma-separated. */
static int s_add_list(mida_buf_t *b, const kv_list_t *l, const char *skip)
{
    int rc = 0;
    bool first = true;
    for (size_t i = 0; i < l->n && !rc; i++) {
        if (skip && !strcmp(l->v[i].name, skip))
            continue;
        rc = mida_buf_printf(b, "%s%s:%s", first ? "" : ",", l->v[i].name_json, l->v[i].json);
        first = false;
    }
    return rc;
}

/* stderr as set, then the message on a line of its own. */
static int s_add_stderr(mida_capture_t *t, mida_buf_t *b)
{
    kv_t *set = s_find(&t->fields, "stderr");
    if (!t->message)
        return set ? mida_buf_printf(b, ",\"stderr\":%s", set->json) : 0;
    mida_buf_t text;
    mida_buf_init(&text, MIDA_CAPTURE_MAX_RECORD);
    int rc = 0;
    if (set) {
        json_t *j = json_loads(set->json, JSON_DECODE_ANY, NULL);
        if (json_string_length(j))
            rc = mida_buf_add(&text, json_string_value(j), json_string_length(j)) ||
                 mida_buf_addc(&text, '\n');
        json_decref(j);
    }
    if (!rc)
        rc = mida_buf_adds(&text, t->message);
    char *j = rc ? NULL : s_json_string(mida_buf_str(&text), NULL);
    if (!rc)
        rc = j ? mida_buf_printf(b, ",\"stderr\":%s", j) : MIDA_ENOMEM;
    free(j);
    mida_buf_free(&text);
    return rc;
}

static int s_build(mida_capture_t *t, const char *status, char **json_out)
{
    char when[40];
    mida_buf_t b;
    mida_buf_init(&b, MIDA_CAPTURE_MAX_RECORD);
    char *st = s_json_string(status, NULL);
    int rc = st ? mida_buf_addc(&b, '{') : MIDA_ENOMEM;
    if (!rc)
        rc = s_add_list(&b, &t->fields, "stderr");
    if (!rc)
        rc = mida_buf_printf(&b, ",\"status\":%s", st);
    if (!rc && !mida_time_from_epoch(t->start.captured_at, when, sizeof when))
        rc = mida_buf_printf(&b, ",\"started_at\":\"%s\"", when);
    if (!rc && t->ended && !mida_time_from_epoch(t->end.captured_at, when, sizeof when))
        rc = mida_buf_printf(&b, ",\"ended_at\":\"%s\"", when);
    if (!rc)
        rc = s_add_stderr(t, &b);
    const struct {
        const char *key;
        const kv_list_t *l;
    } maps[] = {{"used", &t->used}, {"generated", &t->generated}};
    for (size_t i = 0; i < MIDA_ARRAY_LEN(maps) && !rc; i++) {
        if (!maps[i].l->n)
            continue;
        rc = mida_buf_printf(&b, ",\"%s\":{", maps[i].key);
        if (!rc)
            rc = s_add_list(&b, maps[i].l, NULL);
        if (!rc)
            rc = mida_buf_addc(&b, '}');
    }
    if (!rc && t->start_json)
        rc = mida_buf_printf(&b, ",\"telemetry_at_start\":%s", t->start_json);
    if (!rc && t->ended && t->end_json)
        rc = mida_buf_printf(&b, ",\"telemetry_at_end\":%s", t->end_json);
    if (!rc)
        rc = mida_buf_addc(&b, '}');
    free(st);
    if (rc) {
        mida_buf_free(&b);
        return rc == MIDA_ETOOBIG
                   ? s_fail(t, rc, "the record would pass %u bytes", MIDA_CAPTURE_MAX_RECORD)
                   : s_fail(t, MIDA_ENOMEM, "out of memory");
    }
    *json_out = mida_buf_detach(&b);
    return 0;
}

static int s_send(mida_capture_t *t, const char *json)
{
    int rc = mida_emitter_send(t->em, json, strlen(json));
    if (rc)
        s_fail(t, rc, "the emitter did not take the record: %s", mida_strerror(rc));
    return rc;
}

/* ---- the API --------------------------------------------------------------- */

/* Why an id is not acceptable, or NULL. */
static const char *s_check_id(const char *id, bool required)
{
    static const char *reasons[] = {"missing", "empty", "longer than 1024 bytes"};
    if (!id)
        return required ? reasons[0] : NULL;
    if (!*id)
        return reasons[1];
    if (strlen(id) > MAX_ID_BYTES)
        return reasons[2];
    return NULL;
}

/* Sets each member of a JSON object of fields with mida_task_set. */
static int s_set_fields(mida_capture_t *t, const char *fields_json)
{
    json_error_t jerr;
    json_t *o = json_loads(fields_json, 0, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return o ? s_fail(t, MIDA_EINVAL, "fields: not a JSON object")
                 : s_fail(t, MIDA_EPARSE, "fields: not JSON (column %d): %s", jerr.column,
                          jerr.text);
    }
    int rc = 0;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        rc = text ? mida_task_set(t, k, text) : s_fail(t, MIDA_ENOMEM, "out of memory");
        free(text);
        if (rc)
            break;
    }
    json_decref(o);
    return rc;
}

mida_capture_t *mida_task_begin(mida_emitter_t *em, const char *workflow_id, const char *task_id,
                                const char *activity_id, const char *fields_json, char *err,
                                size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    const char *names[] = {"workflow_id", "task_id", "activity_id"};
    const char *ids[] = {workflow_id, task_id, activity_id};
    for (size_t i = 0; i < 3; i++) {
        const char *why = s_check_id(ids[i], i == 0);
        if (why) {
            if (err && errlen)
                snprintf(err, errlen, "%s: %s", names[i], why);
            return NULL;
        }
    }
    mida_capture_t *t = calloc(1, sizeof *t);
    if (!t) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->tag = CAPTURE_TAG;
    t->em = em;
    mida_telemetry_read(&t->start, NULL);
    int rc = mida_telemetry_to_json(&t->start, &t->start_json);
    for (size_t i = 0; i < 3 && !rc; i++) {
        if (!ids[i])
            continue;
        bool bad = false;
        char *j = s_json_string(ids[i], &bad);
        if (!j) {
            rc = bad ? s_fail(t, MIDA_EINVAL, "%s: not UTF-8", names[i])
                     : s_fail(t, MIDA_ENOMEM, "out of memory");
            break;
        }
        rc = s_put(t, &t->fields, names[i], j);
    }
    char host[256];
    if (!rc && !gethostname(host, sizeof host)) {
        host[sizeof host - 1] = '\0';
        rc = s_put_string(t, "hostname", host);
    }
    pthread_once(&s_user_once, s_user_lookup);
    if (!rc)
        rc = s_put_string(t, "user", s_user);
    if (!rc)
        rc = s_put_string(t, "adapter_id", "mida-capture");
    if (!rc && fields_json)
        rc = s_set_fields(t, fields_json);
    if (rc) {
        if (err && errlen)
            snprintf(err, errlen, "%s", *t->errmsg ? t->errmsg : mida_strerror(rc));
        mida_capture_destroy(&t);
        return NULL;
    }
    if (em) {
        /* The RUNNING record is a courtesy to live views: when the
         * emitter cannot take it, the end record still says everything. */
        char *json = NULL;
        if (!s_build(t, "RUNNING", &json))
            s_send(t, json);
        free(json);
        t->errmsg[0] = '\0';
    }
    return t;
}

int mida_task_set(mida_capture_t *t, const char *field, const char *json_value)
{
    if (!t || !field)
        return MIDA_EINVAL;
    assert(t->tag == CAPTURE_TAG);
    t->errmsg[0] = '\0';
    for (size_t i = 0; i < MIDA_ARRAY_LEN(s_owned); i++)
        if (!strcmp(field, s_owned[i]))
            return s_fail(t, MIDA_EINVAL, "field '%s' is set by the capture itself", field);
    /* The field and its type are checked by the rules every received
     * record goes through: a minimal record with just this field. */
    char *value = NULL, *name = NULL;
    int rc = json_value ? s_value_text(t, "field", field, json_value, &value) : 0;
    if (rc)
        return rc;
    bool bad = false;
    name = s_json_string(field, &bad);
    if (!name) {
        free(value);
        return bad ? s_fail(t, MIDA_EINVAL, "field name not UTF-8")
                   : s_fail(t, MIDA_ENOMEM, "out of memory");
    }
    mida_buf_t probe;
    mida_buf_init(&probe, MIDA_CAPTURE_MAX_VALUE + 4096);
    rc = mida_buf_printf(&probe, "{\"workflow_id\":\"w\",\"task_id\":\"t\",%s:%s}", name,
                         value ? value : "null");
    free(name);
    mida_task_t *rec = NULL;
    char why[256];
    if (rc)
        rc = s_fail(t, MIDA_ENOMEM, "out of memory");
    else if (mida_task_parse(probe.data, probe.len, &rec, why, sizeof why))
        rc = s_fail(t, MIDA_EINVAL, "%s", why);
    else if (*mida_task_unknown_fields(rec))
        rc = s_fail(t, MIDA_EINVAL, "'%.64s' is not a record field (docs/records.md)", field);
    mida_task_destroy(&rec);
    mida_buf_free(&probe);
    if (rc) {
        free(value);
        return rc;
    }
    if (!value) {
        s_remove(t, &t->fields, field);
        return 0;
    }
    return s_put(t, &t->fields, field, value);
}

static int s_value(mida_capture_t *t, kv_list_t *l, const char *what, const char *name,
                   const char *json_value)
{
    if (!t || !name)
        return MIDA_EINVAL;
    assert(t->tag == CAPTURE_TAG);
    t->errmsg[0] = '\0';
    if (!*name)
        return s_fail(t, MIDA_EINVAL, "%s: a value needs a name", what);
    if (strlen(name) > MAX_ID_BYTES)
        return s_fail(t, MIDA_EINVAL, "%s: a name is longer than %d bytes", what, MAX_ID_BYTES);
    bool bad = false;
    char *probe = s_json_string(name, &bad);
    if (!probe)
        return bad ? s_fail(t, MIDA_EINVAL, "%s: a name is not UTF-8", what)
                   : s_fail(t, MIDA_ENOMEM, "out of memory");
    free(probe);
    char *value = NULL;
    int rc = s_value_text(t, what, name, json_value ? json_value : "null", &value);
    if (rc)
        return rc;
    return s_put(t, l, name, value);
}

int mida_task_used(mida_capture_t *t, const char *name, const char *json_value)
{
    return t ? s_value(t, &t->used, "used", name, json_value) : MIDA_EINVAL;
}

int mida_task_generated(mida_capture_t *t, const char *name, const char *json_value)
{
    return t ? s_value(t, &t->generated, "generated", name, json_value) : MIDA_EINVAL;
}

int mida_task_record(mida_capture_t *t, const char *status, const char *message, char **json_out)
{
    if (!t || !json_out)
        return MIDA_EINVAL;
    assert(t->tag == CAPTURE_TAG);
    *json_out = NULL;
    t->errmsg[0] = '\0';
    if (!status)
        status = "RUNNING";
    mida_status_t st = mida_status_parse(status);
    if (!st)
        return s_fail(t, MIDA_EINVAL, "status \"%.40s\": not a status word", status);
    bool final = mida_status_rank(st) == mida_status_rank(MIDA_STATUS_FINISHED);
    if (!final && t->ended)
        return s_fail(t, MIDA_EINVAL, "status %s: the task has ended", status);
    if (final) {
        if (message) {
            bool bad = false;
            char *probe = s_json_string(message, &bad);
            if (!probe)
                return bad ? s_fail(t, MIDA_EINVAL, "message: not UTF-8")
                           : s_fail(t, MIDA_ENOMEM, "out of memory");
            free(probe);
            char *copy = strdup(message);
            if (!copy)
                return s_fail(t, MIDA_ENOMEM, "out of memory");
            free(t->message);
            t->message = copy;
        }
        if (!t->ended) {
            mida_telemetry_read(&t->end, &t->start);
            if (mida_telemetry_to_json(&t->end, &t->end_json))
                return s_fail(t, MIDA_ENOMEM, "out of memory");
            t->ended = true;
        }
    }
    return s_build(t, status, json_out);
}

int mida_task_send(mida_capture_t *t)
{
    if (!t)
        return MIDA_EINVAL;
    assert(t->tag == CAPTURE_TAG);
    t->errmsg[0] = '\0';
    if (!t->em)
        return s_fail(t, MIDA_EINVAL, "the capture has no emitter");
    char *json = NULL;
    int rc = mida_task_record(t, "RUNNING", NULL, &json);
    if (!rc)
        rc = s_send(t, json);
    free(json);
    return rc;
}

int mida_task_end(mida_capture_t **t_p, const char *status, const char *message)
{
    if (!t_p || !*t_p)
        return MIDA_EINVAL;
    mida_capture_t *t = *t_p;
    assert(t->tag == CAPTURE_TAG);
    if (!status)
        status = "FINISHED";
    int rc = 0;
    if (mida_status_rank(mida_status_parse(status)) != mida_status_rank(MIDA_STATUS_FINISHED)) {
        rc = MIDA_EINVAL;
    } else {
        char *json = NULL;
        rc = mida_task_record(t, status, message, &json);
        if (!rc && t->em)
            rc = s_send(t, json);
        free(json);
    }
    mida_capture_destroy(t_p);
    return rc;
}

void mida_capture_destroy(mida_capture_t **t_p)
{
    if (!t_p || !*t_p)
        return;
    mida_capture_t *t = *t_p;
    assert(t->tag == CAPTURE_TAG);
    s_list_free(&t->fields);
    s_list_free(&t->used);
    s_list_free(&t->generated);
    free(t->start_json);
    free(t->end_json);
    free(t->message);
    t->tag = CAPTURE_DEAD;
    free(t);
    *t_p = NULL;
}

const char *mida_capture_errmsg(const mida_capture_t *t)
{
    return t ? t->errmsg : "no capture";
}

/* ---- self-test ------------------------------------------------------------------ */

#define TEST_BASE MIDA_DEFAULT_BASE

/* Is there a quad s p o, where o is an IRI or a literal's lexical form
 * (NULL: any object)? */
static bool s_has(const mida_quads_t *q, const char *s, const char *p, const char *o)
{
    for (size_t i = 0; i < mida_quads_count(q); i++) {
        const mida_quad_t *x = mida_quads_get(q, i);
        if (!strcmp(x->s.value, s) && !strcmp(x->p.value, p) && (!o || !strcmp(x->o.value, o)))
            return true;
    }
    return false;
}

/* Parses a record with the spine's validator and maps it; NULL if either
 * fails (reported). */
static mida_task_t *s_check_record(int *f, const char *json, mida_quads_t *q)
{
    char err[256];
    mida_task_t *rec = NULL;
    int rc = mida_task_parse(json, strlen(json), &rec, err, sizeof err);
    MIDA_CHECK(*f, rc == 0);
    if (rc) {
        fprintf(stderr, "  record: %s\n  error: %s\n", json, err);
        return NULL;
    }
    MIDA_CHECK_STR(*f, mida_task_unknown_fields(rec), "");
    mida_quads_clear(q);
    rc = mida_prov_map(rec, NULL, q, err, sizeof err);
    MIDA_CHECK(*f, rc == 0);
    if (rc)
        fprintf(stderr, "  mapping: %s\n", err);
    return rec;
}

/* Through a real emitter: begin sends RUNNING, send a progress record, end
 * the full one; nobody listens, so closing spools them (to a directory
 * of our own, removed afterwards). */
static int s_test_emitter(bool verbose)
{
    int f = 0;
    char dir[] = "/tmp/mida-capture-test-XXXXXX", err[256];
    if (!mkdtemp(dir)) {
        fprintf(stderr, "capture: mkdtemp: cannot test with an emitter\n");
        return 1;
    }
    mida_emitter_opts_t o = {.endpoint = "tcp://127.0.0.1:1", .spool_dir = dir};
    mida_ctx_t *ctx = mida_ctx_new(); /* no log handler: the spooling is expected */
    mida_emitter_t *em = ctx ? mida_emitter_new(ctx, &o, err, sizeof err) : NULL;
    MIDA_CHECK(f, em != NULL);
    if (em) {
        mida_capture_t *t = mida_task_begin(em, "wf-cap", "t3", "emit", NULL, err, sizeof err);
        MIDA_CHECK(f, t != NULL);
        mida_emitter_stats_t st;
        mida_emitter_stats(em, &st);
        MIDA_CHECK(f, st.accepted == 1);
        MIDA_CHECK(f, mida_task_used(t, "x", "1") == 0);
        MIDA_CHECK(f, mida_task_send(t) == 0);
        MIDA_CHECK(f, mida_task_end(&t, "FINISHED", NULL) == 0 && t == NULL);
        mida_emitter_stats(em, &st);
        MIDA_CHECK(f, st.accepted == 3);
        if (verbose)
            printf("capture: emitter accepted %llu, invalid %llu\n", (unsigned long long)st.accepted,
                   (unsigned long long)st.invalid);
        mida_emitter_close(&em, 0);
    }
    mida_ctx_destroy(&ctx);
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[sizeof dir + 300];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    rmdir(dir);
    return f;
}

int mida_capture_test(bool verbose);
int mida_capture_test(bool verbose)
{
    int f = 0;
    char err[256];
    const char *task = TEST_BASE "/task/wf-cap/t1";
    mida_quads_t *q = mida_quads_new();
    MIDA_CHECK(f, q != NULL);
    if (!q)
        return f;

    /* bad beginnings */
    MIDA_CHECK(f, mida_task_begin(NULL, NULL, "t", NULL, NULL, err, sizeof err) == NULL);
    MIDA_CHECK_STR(f, err, "workflow_id: missing");
    MIDA_CHECK(f, mida_task_begin(NULL, "wf", "", NULL, NULL, err, sizeof err) == NULL);
    MIDA_CHECK_STR(f, err, "task_id: empty");
    MIDA_CHECK(f, mida_task_begin(NULL, "wf", "t", "", NULL, err, sizeof err) == NULL);
    MIDA_CHECK(f, mida_task_begin(NULL, "wf", "\xff\xfe", NULL, NULL, err, sizeof err) == NULL);
    MIDA_CHECK_STR(f, err, "task_id: not UTF-8");

    mida_capture_t *t = mida_task_begin(NULL, "wf-cap", "t1", "train", NULL, err, sizeof err);
    MIDA_CHECK(f, t != NULL);
    if (!t) {
        mida_quads_destroy(&q);
        return f;
    }
    /* optional fields: checked as a received record would be */
    MIDA_CHECK(f, mida_task_set(t, "workflow_name", "\"capture test\"") == 0);
    MIDA_CHECK(f, mida_task_set(t, "campaign_id", "\"c1\"") == 0);
    MIDA_CHECK(f, mida_task_set(t, "tags", "[\"a\", \"b\"]") == 0);
    MIDA_CHECK(f, mida_task_set(t, "custom_metadata", "{\n  \"k\": 1\n}") == 0);
    MIDA_CHECK(f, mida_task_set(t, "dependencies", "[\"t0\", 3]") == 0);
    MIDA_CHECK(f, mida_task_set(t, "parent_task_id", "\"p\"") == 0);
    MIDA_CHECK(f, mida_task_set(t, "exit_code", "0") == 0);
    MIDA_CHECK(f, mida_task_set(t, "environment_id", "\"gone\"") == 0);
    MIDA_CHECK(f, mida_task_set(t, "environment_id", NULL) == 0);
    MIDA_CHECK(f, mida_task_set(t, "status", "\"FINISHED\"") == MIDA_EINVAL);
    MIDA_CHECK(f, strstr(mida_capture_errmsg(t), "set by the capture") != NULL);
    MIDA_CHECK(f, mida_task_set(t, "used", "{}") == MIDA_EINVAL);
    MIDA_CHECK(f, mida_task_set(t, "colour", "\"red\"") == MIDA_EINVAL);
    MIDA_CHECK_STR(f, mida_capture_errmsg(t), "'colour' is not a record field (docs/records.md)");
    MIDA_CHECK(f, mida_task_set(t, "submitted_at", "\"noon\"") == MIDA_EINVAL);
    MIDA_CHECK_STR(f, mida_capture_errmsg(t), "field 'submitted_at': not a time: \"noon\"");
    MIDA_CHECK(f, mida_task_set(t, "exit_code", "\"x\"") == MIDA_EINVAL);
    MIDA_CHECK(f, mida_task_set(t, "tags", "{oops") == MIDA_EPARSE);
    MIDA_CHECK(f, strstr(mida_capture_errmsg(t), "not JSON") != NULL);
    MIDA_CHECK(f, mida_task_set(t, "tags", "[1] [2]") == MIDA_EPARSE);
    MIDA_CHECK(f, mida_task_set(t, "campaign_id", "\"\"") == MIDA_EINVAL);
    MIDA_CHECK(f, mida_task_set(NULL, "tags", "[]") == MIDA_EINVAL);
    MIDA_CHECK(f, mida_task_set(t, "stderr", "\"line1\"") == 0);

    /* values: any JSON, kept as written, on one line */
    MIDA_CHECK(f, mida_task_used(t, "lr", "0.1") == 0);
    MIDA_CHECK(f, mida_task_used(t, "precise", "0.30000000000000004") == 0);
    MIDA_CHECK(f, mida_task_used(t, "data", "\"/data/in.h5\"") == 0);
    MIDA_CHECK(f, mida_task_used(t, "cfg", "{\r\n \"a\": [1,\n 2]\n}\n") == 0);
    MIDA_CHECK(f, mida_task_used(t, "nothing", NULL) == 0);
    MIDA_CHECK(f, mida_task_used(t, "lr", "0.01") == 0); /* replaces */
    MIDA_CHECK(f, mida_task_used(t, "", "1") == MIDA_EINVAL);
    MIDA_CHECK(f, mida_task_used(t, "x", "nan") == MIDA_EPARSE);
    MIDA_CHECK(f, mida_task_used(t, "x", "") == MIDA_EPARSE);
    MIDA_CHECK(f, mida_task_used(t, NULL, "1") == MIDA_EINVAL);
    MIDA_CHECK(f, mida_task_used(t, "bad\xc3", "1") == MIDA_EINVAL);
    char *big = malloc(MIDA_CAPTURE_MAX_VALUE + 3);
    if (big) {
        big[0] = '"';
        memset(big + 1, 'x', MIDA_CAPTURE_MAX_VALUE);
        big[MIDA_CAPTURE_MAX_VALUE + 1] = '"';
        big[MIDA_CAPTURE_MAX_VALUE + 2] = '\0';
        MIDA_CHECK(f, mida_task_generated(t, "big", big) == MIDA_ETOOBIG);
        free(big);
    }
    MIDA_CHECK(f, mida_task_send(t) == MIDA_EINVAL); /* no emitter */

    /* the RUNNING record: valid, mapped, no end yet */
    char *json = NULL;
    MIDA_CHECK(f, mida_task_record(t, NULL, NULL, &json) == 0);
    MIDA_CHECK(f, json && !strchr(json, '\n'));
    MIDA_CHECK(f, json && strstr(json, "\"precise\":0.30000000000000004"));
    MIDA_CHECK(f, json && strstr(json, "\"cfg\":{   \"a\": [1,  2] }"));
    if (verbose && json)
        printf("capture: %s\n", json);
    mida_task_t *rec = json ? s_check_record(&f, json, q) : NULL;
    if (rec) {
        MIDA_CHECK(f, rec->kind == MIDA_RECORD_TASK && rec->status == MIDA_STATUS_RUNNING);
        MIDA_CHECK(f, *rec->started_at && !*rec->ended_at);
        MIDA_CHECK(f, rec->telemetry_at_start && !rec->telemetry_at_end);
        MIDA_CHECK(f, rec->hostname && rec->user);
        MIDA_CHECK_STR(f, rec->adapter_id, "mida-capture");
        MIDA_CHECK(f, rec->environment_id == NULL);
        MIDA_CHECK_STR(f, rec->stderr_text, "line1");
        MIDA_CHECK(f, s_has(q, task, MIDA_("status"), MIDA_("Running")));
        MIDA_CHECK(f, s_has(q, task, MIDA_("telemetryAtStart"), TEST_BASE "/task/wf-cap/t1/telemetry/start"));
        MIDA_CHECK(f, s_has(q, TEST_BASE "/task/wf-cap/t1/telemetry/start", MIDA_("processRssBytes"), NULL));
        MIDA_CHECK(f, s_has(q, TEST_BASE "/task/wf-cap/t1/telemetry/start", MIDA_("capturedAtTime"), NULL));
        MIDA_CHECK(f, s_has(q, task, PROV_("used"), TEST_BASE "/data/%2Fdata%2Fin.h5"));
        MIDA_CHECK(f, s_has(q, TEST_BASE "/value/wf-cap/t1/used/lr", PROV_("value"), "0.01"));
        MIDA_CHECK(f, s_has(q, TEST_BASE "/value/wf-cap/t1/used/cfg", PROV_("value"), "{\"a\":[1,2]}"));
        MIDA_CHECK(f, s_has(q, task, PROV_("wasInformedBy"), TEST_BASE "/task/wf-cap/t0"));
        MIDA_CHECK(f, s_has(q, task, MIDA_("parentTask"), TEST_BASE "/task/wf-cap/p"));
        MIDA_CHECK(f, s_has(q, task, MIDA_("tag"), "b"));
        MIDA_CHECK(f, s_has(q, TEST_BASE "/workflow/wf-cap", MIDA_("workflowName"), "capture test"));
        MIDA_CHECK(f, !s_has(q, task, PROV_("endedAtTime"), NULL));
    }
    mida_task_destroy(&rec);
    free(json);

    /* the final record: end stamps fixed by the first final call */
    MIDA_CHECK(f, mida_task_generated(t, "loss", "0.5") == 0);
    MIDA_CHECK(f, mida_task_generated(t, "model", "{\"@id\": \"/models/m.pt\"}") == 0);
    MIDA_CHECK(f, mida_task_record(t, "BOGUS", NULL, &json) == MIDA_EINVAL && json == NULL);
    MIDA_CHECK(f, mida_task_record(t, "FAILED", "boom", &json) == 0);
    rec = json ? s_check_record(&f, json, q) : NULL;
    char ended[40] = "";
    if (rec) {
        MIDA_CHECK(f, rec->status == MIDA_STATUS_ERROR);
        MIDA_CHECK_STR(f, rec->native_status, "FAILED");
        MIDA_CHECK(f, *rec->ended_at && strcmp(rec->ended_at, rec->started_at) >= 0);
        snprintf(ended, sizeof ended, "%s", rec->ended_at);
        MIDA_CHECK(f, rec->telemetry_at_end != NULL);
        MIDA_CHECK_STR(f, rec->stderr_text, "line1\nboom");
        MIDA_CHECK(f, s_has(q, task, MIDA_("status"), MIDA_("Error")));
        MIDA_CHECK(f, s_has(q, task, PROV_("endedAtTime"), rec->ended_at));
        MIDA_CHECK(f, s_has(q, task, MIDA_("stderr"), "line1\nboom"));
        MIDA_CHECK(f, s_has(q, TEST_BASE "/task/wf-cap/t1/telemetry/end", MIDA_("cpuPercent"), NULL));
        MIDA_CHECK(f, s_has(q, TEST_BASE "/data/%2Fmodels%2Fm.pt", PROV_("wasGeneratedBy"), task));
        MIDA_CHECK(f, s_has(q, TEST_BASE "/value/wf-cap/t1/generated/loss", PROV_("value"), "0.5"));
    }
    mida_task_destroy(&rec);
    free(json);
    MIDA_CHECK(f, mida_task_record(t, "RUNNING", NULL, &json) == MIDA_EINVAL);
    MIDA_CHECK(f, strstr(mida_capture_errmsg(t), "ended") != NULL);
    MIDA_CHECK(f, mida_task_record(t, "ERROR", NULL, &json) == 0); /* same stamps, same message */
    rec = json ? s_check_record(&f, json, q) : NULL;
    if (rec) {
        MIDA_CHECK_STR(f, rec->ended_at, ended);
        MIDA_CHECK_STR(f, rec->stderr_text, "line1\nboom");
    }
    mida_task_destroy(&rec);
    free(json);
    MIDA_CHECK(f, mida_task_end(&t, NULL, NULL) == 0); /* no emitter: frees */
    MIDA_CHECK(f, t == NULL);
    MIDA_CHECK(f, mida_task_end(&t, NULL, NULL) == MIDA_EINVAL);
    mida_capture_destroy(&t);

    /* a non-final status at the end: refused, freed all the same */
    t = mida_task_begin(NULL, "wf-cap", "t2", NULL, NULL, err, sizeof err);
    MIDA_CHECK(f, t != NULL);
    MIDA_CHECK(f, mida_task_end(&t, "RUNNING", NULL) == MIDA_EINVAL && t == NULL);

    /* a capture of the workflow run itself; overriding who and where */
    MIDA_CHECK(f, mida_task_begin(NULL, "wf-cap", NULL, NULL, "[1]", err, sizeof err) == NULL);
    MIDA_CHECK_STR(f, err, "fields: not a JSON object");
    MIDA_CHECK(f, mida_task_begin(NULL, "wf-cap", NULL, NULL, "{\"status\": \"x\"}", err,
                                  sizeof err) == NULL);
    MIDA_CHECK_STR(f, err, "field 'status' is set by the capture itself");
    MIDA_CHECK(f, mida_task_begin(NULL, "wf-cap", NULL, NULL, "{\"tags\": 1}", err,
                                  sizeof err) == NULL);
    t = mida_task_begin(NULL, "wf-cap", NULL, NULL,
                        "{\"user\": \"someone\", \"engine\": \"python\", \"tags\": [\"x\"]}", err,
                        sizeof err);
    MIDA_CHECK(f, t != NULL);
    if (t) {
        MIDA_CHECK(f, mida_task_record(t, "FINISHED", NULL, &json) == 0);
        rec = json ? s_check_record(&f, json, q) : NULL;
        if (rec) {
            MIDA_CHECK(f, rec->kind == MIDA_RECORD_WORKFLOW);
            MIDA_CHECK_STR(f, rec->user, "someone");
            MIDA_CHECK_STR(f, rec->engine, "python");
            MIDA_CHECK(f, s_has(q, TEST_BASE "/workflow/wf-cap", MIDA_("tag"), "x"));
            MIDA_CHECK(f, rec->stderr_text == NULL);
            MIDA_CHECK(f, s_has(q, TEST_BASE "/workflow/wf-cap", MIDA_("status"), MIDA_("Finished")));
            MIDA_CHECK(f, s_has(q, TEST_BASE "/workflow/wf-cap", PROV_("wasAssociatedWith"),
                                TEST_BASE "/agent/person/someone"));
        }
        mida_task_destroy(&rec);
        free(json);
        mida_capture_destroy(&t);
        MIDA_CHECK(f, t == NULL);
    }
    mida_quads_destroy(&q);
    f += s_test_emitter(verbose);
    if (verbose)
        printf("capture: %d failures\n", f);
    return f;
}
