/* mida_task.c - task records: JSON parsing, validation, status and times.
 * Owns: what a valid record is (ARCHITECTURE 3.1) and the canonical forms
 *       of its statuses and times.
 * Must not: mint IRIs or produce triples (that is mida_prov).
 */
#include "mida_internal.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ID_BYTES 1024

/* ---- status ------------------------------------------------------------ */

static const struct {
    const char *word;
    mida_status_t status;
} s_status_words[] = {
    {"SUBMITTED", MIDA_STATUS_SUBMITTED}, {"WAITING", MIDA_STATUS_WAITING},
    {"RUNNING", MIDA_STATUS_RUNNING},     {"FINISHED", MIDA_STATUS_FINISHED},
    {"ERROR", MIDA_STATUS_ERROR},
    /* words tools use for the same states */
    {"CREATED", MIDA_STATUS_SUBMITTED},   {"NEW", MIDA_STATUS_SUBMITTED},
    {"PENDING", MIDA_STATUS_WAITING},     {"QUEUED", MIDA_STATUS_WAITING},
    {"SCHEDULED", MIDA_STATUS_WAITING},   {"READY", MIDA_STATUS_WAITING},
    {"STARTED", MIDA_STATUS_RUNNING},     {"EXECUTING", MIDA_STATUS_RUNNING},
    {"PROCESSING", MIDA_STATUS_RUNNING},  {"DONE", MIDA_STATUS_FINISHED},
    {"COMPLETED", MIDA_STATUS_FINISHED},  {"SUCCESS", MIDA_STATUS_FINISHED},
    {"SUCCEEDED", MIDA_STATUS_FINISHED},  {"MEMORY", MIDA_STATUS_FINISHED},
    {"FAILED", MIDA_STATUS_ERROR},        {"FAILURE", MIDA_STATUS_ERROR},
    {"ERRED", MIDA_STATUS_ERROR},         {"KILLED", MIDA_STATUS_ERROR},
    {"CANCELED", MIDA_STATUS_ERROR},      {"CANCELLED", MIDA_STATUS_ERROR},
};

mida_status_t mida_status_parse(const char *word)
{
    if (!word)
        return MIDA_STATUS_NONE;
    for (size_t i = 0; i < MIDA_ARRAY_LEN(s_status_words); i++)
        if (!strcasecmp(word, s_status_words[i].word))
            return s_status_words[i].status;
    return MIDA_STATUS_NONE;
}

const char *mida_status_name(mida_status_t status)
{
    static const char *names[] = {NULL, "SUBMITTED", "WAITING", "RUNNING", "FINISHED", "ERROR"};
    return (unsigned)status < MIDA_ARRAY_LEN(names) ? names[status] : NULL;
}

int mida_status_rank(mida_status_t status)
{
    static const int ranks[] = {0, 1, 2, 3, 4, 4};
    return (unsigned)status < MIDA_ARRAY_LEN(ranks) ? ranks[status] : 0;
}

/* ---- times ----------------------------------------------------------- */

static int s_format_time(long long secs, long micros, char *out, size_t outlen)
{
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999)
        return MIDA_EINVAL;
    char frac[16] = "";
    if (micros) {
        snprintf(frac, sizeof frac, ".%06ld", micros);
        size_t n = strlen(frac);
        while (n > 1 && frac[n - 1] == '0')
            frac[--n] = '\0';
    }
    int n = snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return (n > 0 && (size_t)n < outlen) ? 0 : MIDA_EINVAL;
}

int mida_time_from_epoch_us(long long micros, char *out, size_t outlen)
{
    if (!out)
        return MIDA_EINVAL;
    long long secs = micros / 1000000, rest = micros % 1000000;
    if (rest < 0) {
        rest += 1000000;
        secs--;
    }
    return s_format_time(secs, (long)rest, out, outlen);
}

int mida_time_from_epoch(double seconds, char *out, size_t outlen)
{
    if (!out || !isfinite(seconds) || seconds < -62135596800.0 || seconds > 253402300799.0)
        return MIDA_EINVAL;
    double whole = floor(seconds);
    long micros = lround((seconds - whole) * 1e6);
    long long secs = (long long)whole;
    if (micros >= 1000000) {
        secs++;
        micros -= 1000000;
    }
    return s_format_time(secs, micros, out, outlen);
}

static int s_digits(const char **p, int n, int *value)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *value = v;
    return 0;
}

int mida_time_normalize(const char *text, char *out, size_t outlen)
{
    if (!text || !out)
        return MIDA_EINVAL;
    while (isspace((unsigned char)*text))
        text++;
    /* seconds since the epoch, as text */
    char *end;
    double d = strtod(text, &end);
    if (end != text && *end == '\0')
        return mida_time_from_epoch(d, out, outlen);

    const char *p = text;
    int Y, M, D, h = 0, m = 0, s = 0;
    long micros = 0;
    if (s_digits(&p, 4, &Y) || *p++ != '-' || s_digits(&p, 2, &M) || *p++ != '-' ||
        s_digits(&p, 2, &D))
        return MIDA_EINVAL;
    int offset = 0; /* minutes east of UTC */
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (s_digits(&p, 2, &h) || *p++ != ':' || s_digits(&p, 2, &m))
            return MIDA_EINVAL;
        if (*p == ':') {
            p++;
            if (s_digits(&p, 2, &s))
                return MIDA_EINVAL;
            if (*p == '.' || *p == ',') {
                p++;
                if (!isdigit((unsigned char)*p))
                    return MIDA_EINVAL;
                long scale = 100000;
                for (; isdigit((unsigned char)*p); p++) {
                    /* digits past microseconds are dropped, not rounded */
                    micros += (*p - '0') * scale;
                    scale /= 10;
                }
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
            if (s_digits(&p, 2, &oh))
                return MIDA_EINVAL;
            if (*p == ':')
                p++;
            if (*p && s_digits(&p, 2, &om))
                return MIDA_EINVAL;
            if (oh > 14 || om > 59)
                return MIDA_EINVAL;
            offset = sign * (oh * 60 + om);
        }
    }
    if (*p != '\0')
        return MIDA_EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 24 || m > 59 || s > 60 ||
        (h == 24 && (m || s || micros)))
        return MIDA_EINVAL;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (D > mdays[M - 1] || (M == 2 && D == 29 && !leap))
        return MIDA_EINVAL;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                    .tm_hour = h, .tm_min = m, .tm_sec = s > 59 ? 59 : s};
    long long secs = (long long)timegm(&tm) - (long long)offset * 60;
    return s_format_time(secs, micros, out, outlen);
}

/* ---- records --------------------------------------------------------- */

typedef struct {
    char *err;
    size_t errlen;
} s_errbuf;

static int s_fail(s_errbuf *e, const char *field, const char *fmt, ...) MIDA_PRINTF(3, 4);
static int s_fail(s_errbuf *e, const char *field, const char *fmt, ...)
{
    if (e->err && e->errlen) {
        int n = field ? snprintf(e->err, e->errlen, "field '%s': ", field) : 0;
        if (n < 0 || (size_t)n >= e->errlen)
            n = 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->err + n, e->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return MIDA_ERECORD;
}

static const char *s_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* Stores ids given as integers; pointers into the buffer are fixed up
 * after all ids are read, because the buffer may move while it grows. */
typedef struct {
    mida_buf_t buf;
    struct {
        const char **slot;
        size_t off;
    } fix[8];
    size_t nfix;
} s_idstore;

static int s_get_id(json_t *root, const char *field, bool required, const char **slot,
                    s_idstore *ids, s_errbuf *e)
{
    json_t *v = json_object_get(root, field);
    *slot = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return s_fail(e, field, "missing (required for this kind of record)");
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n == 0)
            return s_fail(e, field, "empty");
        if (n > MAX_ID_BYTES)
            return s_fail(e, field, "longer than %d bytes", MAX_ID_BYTES);
        if (strlen(s) != n)
            return s_fail(e, field, "contains a NUL character");
        *slot = s;
        return 0;
    }
    if (json_is_integer(v)) {
        assert(ids->nfix < MIDA_ARRAY_LEN(ids->fix));
        ids->fix[ids->nfix].slot = slot;
        ids->fix[ids->nfix].off = ids->buf.len;
        ids->nfix++;
        mida_buf_printf(&ids->buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return mida_buf_addc(&ids->buf, '\0');
    }
    return s_fail(e, field, "expected a string or an integer, got %s", s_json_type_name(v));
}

static int s_get_str(json_t *root, const char *field, const char **slot, s_errbuf *e)
{
    json_t *v = json_object_get(root, field);
    *slot = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return s_fail(e, field, "expected a string, got %s", s_json_type_name(v));
    if (strlen(json_string_value(v)) != json_string_length(v))
        return s_fail(e, field, "contains a NUL character");
    *slot = json_string_value(v);
    return 0;
}

static int s_get_time(json_t *root, const char *field, char *out, s_errbuf *e)
{
    json_t *v = json_object_get(root, field);
    out[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    int rc;
    if (json_is_number(v))
        rc = mida_time_from_epoch(json_number_value(v), out, 40);
    else if (json_is_string(v))
        rc = mida_time_normalize(json_string_value(v), out, 40);
    else
        return s_fail(e, field, "expected an ISO 8601 time or seconds since the epoch, got %s",
                      s_json_type_name(v));
    if (rc) {
        if (json_is_string(v))
            return s_fail(e, field, "not a time: \"%.80s\"", json_string_value(v));
        return s_fail(e, field, "not a time: %g", json_number_value(v));
    }
    return 0;
}

static int s_get_object(json_t *root, const char *field, void **slot, s_errbuf *e)
{
    json_t *v = json_object_get(root, field);
    *slot = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return s_fail(e, field, "expected an object, got %s", s_json_type_name(v));
    *slot = v;
    return 0;
}

static const char *const s_known_fields[] = {
    "type", "task_id", "workflow_id", "workflow_name", "campaign_id", "activity_id",
    "parent_task_id", "status", "native_status", "submitted_at", "started_at", "ended_at",
    "used", "generated", "dependencies", "hostname", "user", "adapter_id", "environment_id",
    "engine", "engine_version", "telemetry_at_start", "telemetry_at_end", "stdout", "stderr",
    "exit_code", "tags", "custom_metadata"};

static int s_validate(mida_task_t *t, json_t *root, s_errbuf *e, s_idstore *ids)
{
    int rc;
    if ((rc = s_get_id(root, "task_id", false, &t->task_id, ids, e)) ||
        (rc = s_get_id(root, "workflow_id", false, &t->workflow_id, ids, e)) ||
        (rc = s_get_id(root, "campaign_id", false, &t->campaign_id, ids, e)) ||
        (rc = s_get_id(root, "parent_task_id", false, &t->parent_task_id, ids, e)))
        return rc;
    /* Integer ids were written to the id store; a task id check needs
     * to know presence only, which the JSON tells directly. */
    bool has_task = json_object_get(root, "task_id") && !json_is_null(json_object_get(root, "task_id"));
    bool has_wf = json_object_get(root, "workflow_id") && !json_is_null(json_object_get(root, "workflow_id"));
    bool has_cmp = json_object_get(root, "campaign_id") && !json_is_null(json_object_get(root, "campaign_id"));
    t->kind = has_task ? MIDA_RECORD_TASK : has_wf ? MIDA_RECORD_WORKFLOW : MIDA_RECORD_CAMPAIGN;
    json_t *type = json_object_get(root, "type");
    if (type && !json_is_null(type)) {
        const char *ts = json_string_value(type);
        mida_record_kind_t want = !ts ? 0
                                  : !strcmp(ts, "task")     ? MIDA_RECORD_TASK
                                  : !strcmp(ts, "workflow") ? MIDA_RECORD_WORKFLOW
                                  : !strcmp(ts, "campaign") ? MIDA_RECORD_CAMPAIGN
                                                            : 0;
        if (!want)
            return s_fail(e, "type", "expected \"task\", \"workflow\" or \"campaign\"");
        if (want != t->kind && !(want == MIDA_RECORD_TASK && !has_task))
            return s_fail(e, "type", "\"%s\" does not match the ids the record carries", ts);
        t->kind = want;
    }
    if (t->kind == MIDA_RECORD_TASK && !has_task)
        return s_fail(e, "task_id", "missing (required for a task record)");
    if (t->kind != MIDA_RECORD_CAMPAIGN && !has_wf)
        return s_fail(e, "workflow_id", "missing (every task and workflow record needs one)");
    if (t->kind == MIDA_RECORD_CAMPAIGN && !has_cmp)
        return s_fail(e, NULL,
                      "record has none of task_id, workflow_id, campaign_id");

    if ((rc = s_get_str(root, "workflow_name", &t->workflow_name, e)) ||
        (rc = s_get_str(root, "activity_id", &t->activity_id, e)) ||
        (rc = s_get_str(root, "hostname", &t->hostname, e)) ||
        (rc = s_get_str(root, "user", &t->user, e)) ||
        (rc = s_get_str(root, "adapter_id", &t->adapter_id, e)) ||
        (rc = s_get_str(root, "environment_id", &t->environment_id, e)) ||
        (rc = s_get_str(root, "engine", &t->engine, e)) ||
        (rc = s_get_str(root, "engine_version", &t->engine_version, e)) ||
        (rc = s_get_str(root, "stdout", &t->stdout_text, e)) ||
        (rc = s_get_str(root, "stderr", &t->stderr_text, e)) ||
        (rc = s_get_str(root, "native_status", &t->native_status, e)))
        return rc;
    if (t->activity_id && !*t->activity_id)
        return s_fail(e, "activity_id", "empty");

    const char *status = NULL;
    if ((rc = s_get_str(root, "status", &status, e)))
        return rc;
    if (status) {
        t->status = mida_status_parse(status);
        if (!t->status)
            return s_fail(e, "status",
                          "unknown value \"%.40s\" (expected SUBMITTED, WAITING, RUNNING, "
                          "FINISHED or ERROR)",
                          status);
        if (!t->native_status && strcmp(status, mida_status_name(t->status)))
            t->native_status = status;
    }
    if ((rc = s_get_time(root, "submitted_at", t->submitted_at, e)) ||
        (rc = s_get_time(root, "started_at", t->started_at, e)) ||
        (rc = s_get_time(root, "ended_at", t->ended_at, e)))
        return rc;
    if ((rc = s_get_object(root, "used", &t->used, e)) ||
        (rc = s_get_object(root, "generated", &t->generated, e)) ||
        (rc = s_get_object(root, "telemetry_at_start", &t->telemetry_at_start, e)) ||
        (rc = s_get_object(root, "telemetry_at_end", &t->telemetry_at_end, e)))
        return rc;
    const char *dir[] = {"used", "generated"};
    void *maps[] = {t->used, t->generated};
    for (int i = 0; i < 2; i++) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)maps[i], k, v)
        {
            if (!*k)
                return s_fail(e, dir[i], "a value has an empty name");
            if (strlen(k) > MAX_ID_BYTES)
                return s_fail(e, dir[i], "a name is longer than %d bytes", MAX_ID_BYTES);
        }
    }
    json_t *deps = json_object_get(root, "dependencies");
    if (deps && !json_is_null(deps)) {
        if (!json_is_array(deps))
            return s_fail(e, "dependencies", "expected an array of task ids, got %s",
                          s_json_type_name(deps));
        size_t i;
        json_t *d;
        json_array_foreach(deps, i, d)
        {
            if (!(json_is_string(d) && json_string_length(d) > 0) && !json_is_integer(d))
                return s_fail(e, "dependencies", "item %zu is not a task id", i);
        }
        t->dependencies = deps;
    }
    json_t *tags = json_object_get(root, "tags");
    if (tags && !json_is_null(tags)) {
        if (json_is_array(tags)) {
            size_t i;
            json_t *d;
            json_array_foreach(tags, i, d)
            {
                if (!json_is_string(d))
                    return s_fail(e, "tags", "item %zu is not a string", i);
            }
        } else if (!json_is_string(tags)) {
            return s_fail(e, "tags", "expected a string or an array of strings");
        }
        t->tags = tags;
    }
    json_t *ec = json_object_get(root, "exit_code");
    if (ec && !json_is_null(ec)) {
        if (!json_is_integer(ec))
            return s_fail(e, "exit_code", "expected an integer, got %s", s_json_type_name(ec));
        t->has_exit_code = true;
        t->exit_code = json_integer_value(ec);
    }
    json_t *cm = json_object_get(root, "custom_metadata");
    if (cm && !json_is_null(cm))
        t->custom_metadata = cm;

    const char *k;
    json_t *v;
    size_t un = 0;
    json_object_foreach(root, k, v)
    {
        bool known = false;
        for (size_t i = 0; i < MIDA_ARRAY_LEN(s_known_fields) && !known; i++)
            known = !strcmp(k, s_known_fields[i]);
        if (!known) {
            int n = snprintf(t->unknown_ + un, sizeof t->unknown_ - un, "%s%s", un ? "," : "", k);
            if (n > 0 && un + (size_t)n < sizeof t->unknown_)
                un += (size_t)n;
        }
    }
    return 0;
}

int mida_task_parse(const char *text, size_t len, mida_task_t **out, char *err, size_t errlen)
{
    if (!text || !out)
        return MIDA_EINVAL;
    *out = NULL;
    s_errbuf e = {err, errlen};
    if (err && errlen)
        err[0] = '\0';
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (err && errlen)
            snprintf(err, errlen, "not JSON (column %d): %s", jerr.column, jerr.text);
        return MIDA_EPARSE;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        s_fail(&e, NULL, "a task record must be a JSON object");
        return MIDA_ERECORD;
    }
    mida_task_t *t = calloc(1, sizeof *t);
    if (!t) {
        json_decref(root);
        return MIDA_ENOMEM;
    }
    t->root_ = root;
    s_idstore ids;
    mida_buf_init(&ids.buf, 0);
    ids.nfix = 0;
    int rc = s_validate(t, root, &e, &ids);
    if (rc) {
        mida_buf_free(&ids.buf);
        mida_task_destroy(&t);
        return rc;
    }
    t->ids_len_ = ids.buf.len;
    t->ids_ = mida_buf_detach(&ids.buf);
    for (size_t i = 0; i < ids.nfix; i++)
        *ids.fix[i].slot = t->ids_ + ids.fix[i].off;
    *out = t;
    return 0;
}

void mida_task_destroy(mida_task_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mida_task_t *t = *self_p;
    json_decref((json_t *)t->root_);
    free(t->ids_);
    free(t);
    *self_p = NULL;
}

const char *mida_task_unknown_fields(const mida_task_t *task)
{
    return task ? task->unknown_ : "";
}

/* ---- self-test --------------------------------------------------------- */
#include "mida_selftest.h"

int mida_task_test(bool verbose);
int mida_task_test(bool verbose)
{
    int f = 0;
    char out[40], err[256];
    /* integer microseconds: exact, before and after the epoch */
    MIDA_CHECK(f, mida_time_from_epoch_us(1700000000123456LL, out, sizeof out) == 0);
    MIDA_CHECK_STR(f, out, "2023-11-14T22:13:20.123456Z");
    MIDA_CHECK(f, mida_time_from_epoch_us(1700000000000000LL, out, sizeof out) == 0);
    MIDA_CHECK_STR(f, out, "2023-11-14T22:13:20Z");
    MIDA_CHECK(f, mida_time_from_epoch_us(-1, out, sizeof out) == 0);
    MIDA_CHECK_STR(f, out, "1969-12-31T23:59:59.999999Z");
    struct {
        const char *in, *want;
    } times[] = {{"2023-05-01T12:00:00Z", "2023-05-01T12:00:00Z"},
                 {"2023-05-01T12:00:00.120+02:00", "2023-05-01T10:00:00.12Z"},
                 {"2023-05-01 12:00:00", "2023-05-01T12:00:00Z"},
                 {"2023-05-01T12:00", "2023-05-01T12:00:00Z"},
                 {"2023-05-01", "2023-05-01T00:00:00Z"},
                 {"2024-02-29T23:59:59.1234567-0130", "2024-03-01T01:29:59.123456Z"},
                 {"1700000000.25", "2023-11-14T22:13:20.25Z"},
                 {"0", "1970-01-01T00:00:00Z"}};
    for (size_t i = 0; i < MIDA_ARRAY_LEN(times); i++) {
        MIDA_CHECK(f, mida_time_normalize(times[i].in, out, sizeof out) == 0);
        MIDA_CHECK_STR(f, out, times[i].want);
    }
    const char *bad_times[] = {"yesterday", "2023-02-29", "2023-13-01", "2023-05-01T25:00",
                               "2023-05-01T12:00:00+", "", "2023-05-01X"};
    for (size_t i = 0; i < MIDA_ARRAY_LEN(bad_times); i++)
        MIDA_CHECK(f, mida_time_normalize(bad_times[i], out, sizeof out) == MIDA_EINVAL);

    MIDA_CHECK(f, mida_status_parse("finished") == MIDA_STATUS_FINISHED);
    MIDA_CHECK(f, mida_status_parse("Failed") == MIDA_STATUS_ERROR);
    MIDA_CHECK(f, mida_status_parse("bogus") == MIDA_STATUS_NONE);
    MIDA_CHECK(f, mida_status_rank(MIDA_STATUS_ERROR) == mida_status_rank(MIDA_STATUS_FINISHED));

    mida_task_t *t = NULL;
    const char *rec = "{\"task_id\": 7, \"workflow_id\": \"wf\", \"campaign_id\": 3,"
                      " \"status\": \"done\", \"started_at\": 1700000000,"
                      " \"used\": {\"x\": 1}, \"dependencies\": [\"a\", 2],"
                      " \"exit_code\": 0, \"colour\": \"red\"}";
    MIDA_CHECK(f, mida_task_parse(rec, strlen(rec), &t, err, sizeof err) == 0);
    if (t) {
        MIDA_CHECK(f, t->kind == MIDA_RECORD_TASK);
        MIDA_CHECK_STR(f, t->task_id, "7");
        MIDA_CHECK_STR(f, t->campaign_id, "3");
        MIDA_CHECK_STR(f, t->workflow_id, "wf");
        MIDA_CHECK(f, t->status == MIDA_STATUS_FINISHED);
        MIDA_CHECK_STR(f, t->native_status, "done");
        MIDA_CHECK_STR(f, t->started_at, "2023-11-14T22:13:20Z");
        MIDA_CHECK(f, t->has_exit_code && t->exit_code == 0);
        MIDA_CHECK_STR(f, mida_task_unknown_fields(t), "colour");
        mida_task_destroy(&t);
    }
    struct {
        const char *rec, *err;
    } bad[] = {
        {"[1]", "a task record must be a JSON object"},
        {"{\"task_id\": \"t\"}", "field 'workflow_id': missing (every task and workflow record needs one)"},
        {"{\"task_id\": \"t\", \"workflow_id\": \"w\", \"status\": \"meh\"}",
         "field 'status': unknown value \"meh\" (expected SUBMITTED, WAITING, RUNNING, FINISHED or ERROR)"},
        {"{\"task_id\": \"t\", \"workflow_id\": \"w\", \"started_at\": \"noon\"}",
         "field 'started_at': not a time: \"noon\""},
        {"{\"task_id\": \"\", \"workflow_id\": \"w\"}", "field 'task_id': empty"},
        {"{\"task_id\": \"t\", \"workflow_id\": \"w\", \"used\": [1]}",
         "field 'used': expected an object, got an array"},
        {"{\"task_id\": true, \"workflow_id\": \"w\"}",
         "field 'task_id': expected a string or an integer, got a boolean"},
        {"{}", "record has none of task_id, workflow_id, campaign_id"},
    };
    for (size_t i = 0; i < MIDA_ARRAY_LEN(bad); i++) {
        MIDA_CHECK(f, mida_task_parse(bad[i].rec, strlen(bad[i].rec), &t, err, sizeof err) ==
                          MIDA_ERECORD);
        MIDA_CHECK_STR(f, err, bad[i].err);
        MIDA_CHECK(f, t == NULL);
    }
    MIDA_CHECK(f, mida_task_parse("{oops", 5, &t, err, sizeof err) == MIDA_EPARSE);
    const char *wf = "{\"workflow_id\": \"w\", \"status\": \"RUNNING\"}";
    MIDA_CHECK(f, mida_task_parse(wf, strlen(wf), &t, err, sizeof err) == 0);
    MIDA_CHECK(f, t && t->kind == MIDA_RECORD_WORKFLOW);
    mida_task_destroy(&t);
    if (verbose)
        printf("task: %d failures\n", f);
    return f;
}
