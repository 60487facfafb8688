/* mida_prov.c - the mapper: one task record -> PROV-O quads.
 * Owns: the mapping table of ARCHITECTURE 3.3 (documented in mida_prov.h).
 * Must not: touch the store or decide how records are merged (mida_linker).
 */
#include "mida_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>

#define RDFS_LABEL MIDA_NS_RDFS "label"

/* The mapping state of one record.  Emitting after a failure is a no-op, so
 * the code below reads as a list of triples and checks rc once at the end. */
typedef struct {
    const mida_task_t *t;
    const mida_map_opts_t *o;
    const char *base;
    mida_quads_t *q;
    const char *graph;          /* current graph IRI */
    mida_buf_t graph_b;         /* the workflow's (or campaign's) graph */
    mida_buf_t cgraph_b;        /* the campaign's graph */
    mida_buf_t act;             /* subject of the record: T, W or C */
    mida_buf_t wf;              /* W */
    mida_buf_t prog;            /* B/program/{A}, "" when no activity */
    mida_buf_t engine;          /* E, "" when none */
    mida_buf_t person;          /* U, "" when none */
    mida_buf_t tmp, lex;        /* scratch */
    char *err;
    size_t errlen;
    int rc;
} M;

static void s_emit(M *m, const char *s, const char *p, const mida_term_t *o)
{
    if (m->rc)
        return;
    mida_term_t ts = mida_term_iri(s), tp = mida_term_iri(p);
    m->rc = mida_quads_add(m->q, &ts, &tp, o, m->graph);
}

static void s_iri(M *m, const char *s, const char *p, const char *o)
{
    mida_term_t to = mida_term_iri(o);
    s_emit(m, s, p, &to);
}

static void s_lit(M *m, const char *s, const char *p, const char *lex, const char *dt)
{
    if (!lex)
        return;
    mida_term_t to = mida_term_literal(lex, dt, NULL);
    s_emit(m, s, p, &to);
}

static void s_int(M *m, const char *s, const char *p, long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    s_lit(m, s, p, b, XSD_("integer"));
}

static void s_type(M *m, const char *s, const char *cls)
{
    s_iri(m, s, RDF_("type"), cls);
}

static void s_fail(M *m, const char *field, const char *fmt, ...) MIDA_PRINTF(3, 4);
static void s_fail(M *m, const char *field, const char *fmt, ...)
{
    if (m->rc)
        return;
    m->rc = MIDA_ERECORD;
    if (m->err && m->errlen) {
        int n = snprintf(m->err, m->errlen, "field '%s': ", field);
        if (n < 0 || (size_t)n >= m->errlen)
            n = 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->err + n, m->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

static void s_mint(M *m, mida_buf_t *b, const char *kind, const char *a, const char *c,
                   const char *d, const char *e)
{
    if (!m->rc)
        m->rc = mida_iri_mint(b, m->base, kind, a, c, d, e, NULL);
}

/* Appends to b (resetting it first) prefix + suffix. */
static const char *s_under(M *m, mida_buf_t *b, const char *prefix, const char *suffix)
{
    mida_buf_reset(b);
    if (!m->rc && (m->rc = mida_buf_adds(b, prefix)) == 0)
        m->rc = mida_buf_adds(b, suffix);
    return mida_buf_str(b);
}

/* ---- literals from JSON values ----------------------------------------- */

/* The shortest decimal text that reads back as the same double. */
static void s_double_lex(double d, char *out, size_t n)
{
    if (isnan(d)) {
        snprintf(out, n, "NaN");
        return;
    }
    if (isinf(d)) {
        snprintf(out, n, d < 0 ? "-INF" : "INF");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    size_t len = strlen(out);
    if (!strpbrk(out, ".eE") && len + 3 <= n)
        memcpy(out + len, ".0", 3);
}

/* The typed literal for a JSON value; false for null. */
static bool s_json_literal(M *m, json_t *v, mida_term_t *out)
{
    mida_buf_reset(&m->lex);
    char num[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        m->rc = m->rc ? m->rc : mida_buf_add(&m->lex, json_string_value(v), json_string_length(v));
        *out = mida_term_literal(mida_buf_str(&m->lex), NULL, NULL);
        return true;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        m->rc = m->rc ? m->rc : mida_buf_adds(&m->lex, num);
        *out = mida_term_literal(mida_buf_str(&m->lex), XSD_("integer"), NULL);
        return true;
    case JSON_REAL:
        s_double_lex(json_real_value(v), num, sizeof num);
        m->rc = m->rc ? m->rc : mida_buf_adds(&m->lex, num);
        *out = mida_term_literal(mida_buf_str(&m->lex), XSD_("double"), NULL);
        return true;
    case JSON_TRUE:
    case JSON_FALSE:
        m->rc = m->rc ? m->rc : mida_buf_adds(&m->lex, json_is_true(v) ? "true" : "false");
        *out = mida_term_literal(mida_buf_str(&m->lex), XSD_("boolean"), NULL);
        return true;
    case JSON_OBJECT:
    case JSON_ARRAY: {
        char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!s) {
            m->rc = m->rc ? m->rc : MIDA_ENOMEM;
            return false;
        }
        m->rc = m->rc ? m->rc : mida_buf_adds(&m->lex, s);
        free(s);
        *out = mida_term_literal(mida_buf_str(&m->lex), RDF_("JSON"), NULL);
        return true;
    }
    default:
        return false;
    }
}

/* ---- data references ---------------------------------------------------- */

/* Is v a data reference?  Sets *ref to the path/URI/id. */
static bool s_is_ref(M *m, json_t *v, const char **ref)
{
    if (json_is_object(v)) {
        json_t *id = json_object_get(v, "@id");
        if (json_is_string(id) && json_string_length(id) > 0) {
            *ref = json_string_value(id);
            return true;
        }
        return false;
    }
    if (json_is_string(v) && !m->o->no_promote && mida_iri_is_location(json_string_value(v))) {
        *ref = json_string_value(v);
        return true;
    }
    return false;
}

/* Emits the data entity for reference v (field names it in errors) and
 * leaves its IRI in m->tmp. */
static void s_data_entity(M *m, json_t *v, const char *ref, const char *field)
{
    const char *digest = NULL;
    json_t *dv = json_is_object(v) ? json_object_get(v, "digest") : NULL;
    if (dv && !json_is_null(dv)) {
        if (!json_is_string(dv))
            return s_fail(m, field, "\"digest\" must be a string \"ALGORITHM:HEX\"");
        digest = json_string_value(dv);
    }
    mida_buf_t key;
    mida_buf_init(&key, 0);
    int rc = mida_iri_data_key(ref, digest, m->o->aliases, m->o->n_aliases, &key);
    if (rc == MIDA_EINVAL) {
        mida_buf_free(&key);
        return s_fail(m, field, "malformed digest \"%.80s\" (expected ALGORITHM:HEX)", digest);
    }
    if (!m->rc)
        m->rc = rc;
    s_mint(m, &m->tmp, "data", mida_buf_str(&key), NULL, NULL, NULL);
    mida_buf_free(&key);
    const char *d = mida_buf_str(&m->tmp);
    s_type(m, d, PROV_("Entity"));
    s_type(m, d, PROVONE_("Data"));
    if (mida_iri_is_location(ref)) {
        mida_buf_t loc;
        mida_buf_init(&loc, 0);
        if (!m->rc)
            m->rc = mida_iri_canonical_location(ref, m->o->aliases, m->o->n_aliases, &loc);
        s_lit(m, d, PROV_("atLocation"), mida_buf_str(&loc), NULL);
        mida_buf_free(&loc);
    } else {
        s_lit(m, d, MIDA_NS_DCT "identifier", ref, NULL);
    }
    if (digest) {
        mida_buf_reset(&m->lex);
        for (const char *p = digest; *p && !m->rc; p++)
            m->rc = mida_buf_addc(&m->lex, (char)tolower((unsigned char)*p));
        s_lit(m, d, MIDA_("contentDigest"), mida_buf_str(&m->lex), NULL);
    }
    if (json_is_object(v)) {
        json_t *ty = json_object_get(v, "type"), *sz = json_object_get(v, "size");
        if (json_is_string(ty))
            s_lit(m, d, MIDA_("dataType"), json_string_value(ty), NULL);
        if (json_is_integer(sz))
            s_int(m, d, MIDA_("sizeBytes"), json_integer_value(sz));
        else if (sz && !json_is_null(sz))
            s_fail(m, field, "\"size\" must be an integer number of bytes");
    }
}

/* ---- used / generated --------------------------------------------------- */

/* The port (role) of value `name` on the record's program; "" if none. */
static void s_port(M *m, mida_buf_t *port, bool used, const char *name)
{
    mida_buf_reset(port);
    if (!m->prog.len)
        return;
    const char *a = m->t->activity_id;
    s_mint(m, port, "program", a, used ? "in" : "out", name, NULL);
    const char *p = mida_buf_str(port);
    s_type(m, p, PROVONE_("Port"));
    s_type(m, p, PROV_("Role"));
    s_lit(m, p, MIDA_("name"), name, NULL);
    s_iri(m, mida_buf_str(&m->prog), used ? PROVONE_("hasInPort") : PROVONE_("hasOutPort"), p);
}

/* The qualified usage or generation node linking the activity and `entity`. */
static void s_qualify(M *m, bool used, const char *entity, const char *name, long index,
                      const char *port)
{
    const char *act = mida_buf_str(&m->act);
    mida_buf_t node;
    mida_buf_init(&node, 0);
    if (!m->rc)
        m->rc = mida_buf_printf(&node, "%s/%s/", act, used ? "usage" : "generation");
    if (!m->rc)
        m->rc = mida_iri_encode(name, &node);
    if (!m->rc && index >= 0)
        m->rc = mida_buf_printf(&node, "/%ld", index);
    const char *n = mida_buf_str(&node);
    const char *when = used ? m->t->started_at : m->t->ended_at;
    if (used) {
        s_iri(m, act, PROV_("used"), entity);
        s_iri(m, act, PROV_("qualifiedUsage"), n);
        s_type(m, n, PROV_("Usage"));
        s_iri(m, n, PROV_("entity"), entity);
    } else {
        s_iri(m, entity, PROV_("wasGeneratedBy"), act);
        s_iri(m, entity, PROV_("qualifiedGeneration"), n);
        s_type(m, n, PROV_("Generation"));
        s_iri(m, n, PROV_("activity"), act);
        if (*when)
            s_lit(m, entity, PROV_("generatedAtTime"), when, XSD_("dateTime"));
    }
    s_lit(m, n, MIDA_("name"), name, NULL);
    if (*port) {
        s_iri(m, n, PROV_("hadRole"), port);
        s_iri(m, n, used ? PROVONE_("hadInPort") : PROVONE_("hadOutPort"), port);
    }
    if (*when)
        s_lit(m, n, PROV_("atTime"), when, XSD_("dateTime"));
    mida_buf_free(&node);
}

static void s_values(M *m, json_t *map, bool used)
{
    const char *dir = used ? "used" : "generated";
    const char *name;
    json_t *v;
    mida_buf_t port, field, val;
    mida_buf_init(&port, 0);
    mida_buf_init(&field, 0);
    mida_buf_init(&val, 0);
    json_object_foreach(map, name, v)
    {
        if (m->rc)
            break;
        mida_buf_reset(&field);
        mida_buf_printf(&field, "%s.%s", dir, name);
        s_port(m, &port, used, name);
        const char *ref;
        bool all_refs = json_is_array(v) && json_array_size(v) > 0;
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            all_refs = all_refs && s_is_ref(m, item, &ref);
        }
        if (all_refs) {
            json_array_foreach(v, i, item)
            {
                s_is_ref(m, item, &ref);
                s_data_entity(m, item, ref, mida_buf_str(&field));
                s_qualify(m, used, mida_buf_str(&m->tmp), name, (long)i, mida_buf_str(&port));
            }
            continue;
        }
        if (s_is_ref(m, v, &ref)) {
            s_data_entity(m, v, ref, mida_buf_str(&field));
            s_qualify(m, used, mida_buf_str(&m->tmp), name, -1, mida_buf_str(&port));
            continue;
        }
        /* a value of this task (or workflow run) alone */
        const mida_task_t *t = m->t;
        if (t->kind == MIDA_RECORD_TASK)
            s_mint(m, &val, "value", t->workflow_id, t->task_id, dir, name);
        else
            s_mint(m, &val, "value", t->workflow_id, dir, name, NULL);
        const char *e = mida_buf_str(&val);
        s_type(m, e, PROV_("Entity"));
        s_type(m, e, MIDA_("Value"));
        s_lit(m, e, MIDA_("name"), name, NULL);
        mida_term_t lit;
        if (s_json_literal(m, v, &lit))
            s_emit(m, e, PROV_("value"), &lit);
        s_qualify(m, used, e, name, -1, mida_buf_str(&port));
    }
    mida_buf_free(&port);
    mida_buf_free(&field);
    mida_buf_free(&val);
}

/* ---- telemetry ---------------------------------------------------------- */

static const struct {
    const char *key, *prop;
    bool integer;
} s_telemetry[] = {
    {"cpu_percent", MIDA_("cpuPercent"), false},
    {"cpu_user_seconds", MIDA_("cpuUserSeconds"), false},
    {"cpu_system_seconds", MIDA_("cpuSystemSeconds"), false},
    {"memory_used_bytes", MIDA_("memoryUsedBytes"), true},
    {"memory_percent", MIDA_("memoryPercent"), false},
    {"process_rss_bytes", MIDA_("processRssBytes"), true},
    {"io_read_bytes", MIDA_("ioReadBytes"), true},
    {"io_write_bytes", MIDA_("ioWriteBytes"), true},
    {"net_sent_bytes", MIDA_("netSentBytes"), true},
    {"net_recv_bytes", MIDA_("netRecvBytes"), true},
    {"gpu_memory_used_bytes", MIDA_("gpuMemoryUsedBytes"), true},
    {"gpu_percent", MIDA_("gpuPercent"), false},
};

static void s_telemetry_node(M *m, json_t *tel, const char *which)
{
    const char *act = mida_buf_str(&m->act);
    mida_buf_t node;
    mida_buf_init(&node, 0);
    if (!m->rc)
        m->rc = mida_buf_printf(&node, "%s/telemetry/%s", act, which);
    const char *n = mida_buf_str(&node);
    s_iri(m, act, !strcmp(which, "start") ? MIDA_("telemetryAtStart") : MIDA_("telemetryAtEnd"), n);
    s_type(m, n, MIDA_("Telemetry"));
    json_t *extra = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(tel, k, v)
    {
        if (!strcmp(k, "captured_at")) {
            char when[40];
            if (json_is_number(v) ? !mida_time_from_epoch(json_number_value(v), when, sizeof when)
                : json_is_string(v) ? !mida_time_normalize(json_string_value(v), when, sizeof when)
                                    : false) {
                s_lit(m, n, MIDA_("capturedAtTime"), when, XSD_("dateTime"));
                continue;
            }
        }
        size_t i = 0;
        while (i < MIDA_ARRAY_LEN(s_telemetry) && strcmp(k, s_telemetry[i].key))
            i++;
        if (i < MIDA_ARRAY_LEN(s_telemetry) && json_is_number(v)) {
            char num[64];
            if (s_telemetry[i].integer) {
                s_int(m, n, s_telemetry[i].prop, (long long)llround(json_number_value(v)));
            } else {
                s_double_lex(json_number_value(v), num, sizeof num);
                s_lit(m, n, s_telemetry[i].prop, num, XSD_("double"));
            }
            continue;
        }
        json_object_set(extra, k, v);
    }
    if (json_object_size(extra)) {
        mida_term_t lit;
        if (s_json_literal(m, extra, &lit))
            s_emit(m, n, MIDA_("telemetryExtra"), &lit);
    }
    json_decref(extra);
    mida_buf_free(&node);
}

/* ---- the record ------------------------------------------------------------ */

static void s_excerpt(M *m, const char *s, const char *prop, const char *text)
{
    size_t max = m->o->max_excerpt ? m->o->max_excerpt : 4096;
    size_t n = strlen(text);
    if (n <= max)
        return s_lit(m, s, prop, text, NULL);
    /* keep the tail (where errors are), starting on a UTF-8 boundary */
    const char *p = text + (n - max);
    while (*p && ((unsigned char)*p & 0xC0) == 0x80)
        p++;
    mida_buf_reset(&m->lex);
    if (!m->rc && !(m->rc = mida_buf_adds(&m->lex, "[...] ")))
        m->rc = mida_buf_adds(&m->lex, p);
    s_lit(m, s, prop, mida_buf_str(&m->lex), NULL);
}

static void s_id_of(json_t *v, char *buf, size_t n, const char **out)
{
    if (json_is_string(v)) {
        *out = json_string_value(v);
    } else {
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *out = buf;
    }
}

static void s_campaign(M *m)
{
    const mida_task_t *t = m->t;
    if (!t->campaign_id)
        return;
    const char *saved = m->graph;
    m->graph = mida_buf_str(&m->cgraph_b);
    s_mint(m, &m->tmp, "campaign", t->campaign_id, NULL, NULL, NULL);
    const char *c = mida_buf_str(&m->tmp);
    s_type(m, c, MIDA_("Campaign"));
    s_type(m, c, PROV_("Activity"));
    s_type(m, c, PROVONE_("Execution"));
    s_lit(m, c, MIDA_("campaignId"), t->campaign_id, NULL);
    s_type(m, m->graph, PROV_("Bundle"));
    s_type(m, m->graph, PROV_("Entity"));
    m->graph = saved;
}

static void s_workflow(M *m)
{
    const mida_task_t *t = m->t;
    const char *w = mida_buf_str(&m->wf);
    s_type(m, m->graph, PROV_("Bundle"));
    s_type(m, m->graph, PROV_("Entity"));
    s_type(m, w, MIDA_("WorkflowRun"));
    s_type(m, w, PROV_("Activity"));
    s_type(m, w, PROVONE_("Execution"));
    s_lit(m, w, MIDA_("workflowId"), t->workflow_id, NULL);
    s_lit(m, w, MIDA_("workflowName"), t->workflow_name, NULL);
    if (t->campaign_id) {
        s_mint(m, &m->tmp, "campaign", t->campaign_id, NULL, NULL, NULL);
        s_iri(m, w, PROVONE_("wasPartOf"), mida_buf_str(&m->tmp));
    }
}

static void s_agents(M *m)
{
    const mida_task_t *t = m->t;
    const char *act = mida_buf_str(&m->act);
    const char *engine = t->engine ? t->engine : t->adapter_id;
    mida_buf_reset(&m->engine);
    mida_buf_reset(&m->person);
    if (engine) {
        s_mint(m, &m->engine, "agent", "software", engine, NULL, NULL);
        const char *e = mida_buf_str(&m->engine);
        s_type(m, e, PROV_("SoftwareAgent"));
        s_type(m, e, PROV_("Agent"));
        s_lit(m, e, RDFS_LABEL, engine, NULL);
        s_lit(m, e, MIDA_("version"), t->engine_version, NULL);
        s_iri(m, act, PROV_("wasAssociatedWith"), e);
    }
    if (t->user) {
        s_mint(m, &m->person, "agent", "person", t->user, NULL, NULL);
        const char *u = mida_buf_str(&m->person);
        s_type(m, u, PROV_("Person"));
        s_type(m, u, PROV_("Agent"));
        s_type(m, u, PROVONE_("User"));
        s_lit(m, u, RDFS_LABEL, t->user, NULL);
        s_iri(m, act, PROV_("wasAssociatedWith"), u);
    }
    /* where it ran, as agents too: the host, and the environment the
     * adapter names (a Dask worker, a RADICAL pilot, a Parsl executor
     * block, a batch job), so that "what ran on X" is one pattern.  The
     * functional mida:ranOnHost / mida:ranInEnvironment carry the current
     * one: when a later record names another, the linker replaces them and
     * drops the plain association with the old agent. */
    if (t->hostname) {
        s_mint(m, &m->tmp, "agent", "host", t->hostname, NULL, NULL);
        const char *h = mida_buf_str(&m->tmp);
        s_type(m, h, MIDA_("Host"));
        s_type(m, h, PROV_("Agent"));
        s_lit(m, h, RDFS_LABEL, t->hostname, NULL);
        s_iri(m, act, MIDA_("ranOnHost"), h);
        s_iri(m, act, PROV_("wasAssociatedWith"), h);
    }
    if (t->environment_id) {
        s_mint(m, &m->tmp, "agent", "environment", t->environment_id, NULL, NULL);
        const char *e = mida_buf_str(&m->tmp);
        s_type(m, e, MIDA_("ExecutionEnvironment"));
        s_type(m, e, PROV_("SoftwareAgent"));
        s_type(m, e, PROV_("Agent"));
        s_lit(m, e, RDFS_LABEL, t->environment_id, NULL);
        s_iri(m, act, MIDA_("ranInEnvironment"), e);
        s_iri(m, act, PROV_("wasAssociatedWith"), e);
    }
    mida_buf_reset(&m->prog);
    if (t->activity_id) {
        s_mint(m, &m->prog, "program", t->activity_id, NULL, NULL, NULL);
        const char *p = mida_buf_str(&m->prog);
        s_type(m, p, PROVONE_("Program"));
        s_type(m, p, PROV_("Plan"));
        s_type(m, p, PROV_("Entity"));
        s_lit(m, p, RDFS_LABEL, t->activity_id, NULL);
        s_lit(m, act, MIDA_("activityId"), t->activity_id, NULL);
        const char *a = s_under(m, &m->tmp, act, "/association");
        s_iri(m, act, PROV_("qualifiedAssociation"), a);
        s_type(m, a, PROV_("Association"));
        s_iri(m, a, PROV_("hadPlan"), p);
        /* PROV-O wants one agent per association; the engine runs the
         * plan, else the user.  With neither, mida invents none. */
        if (m->engine.len)
            s_iri(m, a, PROV_("agent"), mida_buf_str(&m->engine));
        else if (m->person.len)
            s_iri(m, a, PROV_("agent"), mida_buf_str(&m->person));
    }
}

static void s_activity_fields(M *m)
{
    const mida_task_t *t = m->t;
    const char *act = mida_buf_str(&m->act);
    static const char *status_iri[] = {NULL, MIDA_("Submitted"), MIDA_("Waiting"),
                                       MIDA_("Running"), MIDA_("Finished"), MIDA_("Error")};
    if (t->status)
        s_iri(m, act, MIDA_("status"), status_iri[t->status]);
    s_lit(m, act, MIDA_("nativeStatus"), t->native_status, NULL);
    if (*t->submitted_at)
        s_lit(m, act, MIDA_("submittedAtTime"), t->submitted_at, XSD_("dateTime"));
    if (*t->started_at)
        s_lit(m, act, PROV_("startedAtTime"), t->started_at, XSD_("dateTime"));
    if (*t->ended_at)
        s_lit(m, act, PROV_("endedAtTime"), t->ended_at, XSD_("dateTime"));
    s_lit(m, act, MIDA_("hostname"), t->hostname, NULL);
    s_lit(m, act, MIDA_("adapterId"), t->adapter_id, NULL);
    s_lit(m, act, MIDA_("environmentId"), t->environment_id, NULL);
    if (t->has_exit_code)
        s_int(m, act, MIDA_("exitCode"), t->exit_code);
    if (t->stdout_text)
        s_excerpt(m, act, MIDA_("stdout"), t->stdout_text);
    if (t->stderr_text)
        s_excerpt(m, act, MIDA_("stderr"), t->stderr_text);
    json_t *tags = t->tags;
    if (json_is_string(tags)) {
        s_lit(m, act, MIDA_("tag"), json_string_value(tags), NULL);
    } else if (tags) {
        size_t i;
        json_t *v;
        json_array_foreach(tags, i, v) s_lit(m, act, MIDA_("tag"), json_string_value(v), NULL);
    }
    if (t->custom_metadata) {
        mida_term_t lit;
        if (s_json_literal(m, t->custom_metadata, &lit))
            s_emit(m, act, MIDA_("customMetadata"), &lit);
    }
    if (t->telemetry_at_start)
        s_telemetry_node(m, t->telemetry_at_start, "start");
    if (t->telemetry_at_end)
        s_telemetry_node(m, t->telemetry_at_end, "end");
}

static void s_task(M *m)
{
    const mida_task_t *t = m->t;
    const char *act = mida_buf_str(&m->act);
    s_type(m, act, MIDA_("Task"));
    s_type(m, act, PROV_("Activity"));
    s_type(m, act, PROVONE_("Execution"));
    s_iri(m, act, PROVONE_("wasPartOf"), mida_buf_str(&m->wf));
    s_lit(m, act, MIDA_("taskId"), t->task_id, NULL);
    size_t i;
    json_t *d;
    char idb[32];
    const char *id;
    json_array_foreach((json_t *)t->dependencies, i, d)
    {
        s_id_of(d, idb, sizeof idb, &id);
        s_mint(m, &m->tmp, "task", t->workflow_id, id, NULL, NULL);
        s_iri(m, act, PROV_("wasInformedBy"), mida_buf_str(&m->tmp));
    }
    if (t->parent_task_id) {
        s_mint(m, &m->tmp, "task", t->workflow_id, t->parent_task_id, NULL, NULL);
        s_iri(m, act, MIDA_("parentTask"), mida_buf_str(&m->tmp));
    }
}

int mida_prov_map(const mida_task_t *task, const mida_map_opts_t *opts, mida_quads_t *out,
                  char *err, size_t errlen)
{
    if (!task || !out)
        return MIDA_EINVAL;
    static const mida_map_opts_t defaults = {0};
    M m = {.t = task, .o = opts ? opts : &defaults, .q = out, .err = err, .errlen = errlen};
    m.base = m.o->base ? m.o->base : MIDA_DEFAULT_BASE;
    mida_buf_t *bufs[] = {&m.graph_b, &m.cgraph_b, &m.act,  &m.wf,  &m.prog,
                          &m.engine,  &m.person,   &m.tmp,  &m.lex};
    for (size_t i = 0; i < MIDA_ARRAY_LEN(bufs); i++)
        mida_buf_init(bufs[i], 0);
    if (err && errlen)
        err[0] = '\0';
    size_t before = mida_quads_count(out);

    if (task->campaign_id)
        s_mint(&m, &m.cgraph_b, "graph", "campaign", task->campaign_id, NULL, NULL);
    if (task->workflow_id) {
        s_mint(&m, &m.graph_b, "graph", task->workflow_id, NULL, NULL, NULL);
        s_mint(&m, &m.wf, "workflow", task->workflow_id, NULL, NULL, NULL);
    }
    switch (task->kind) {
    case MIDA_RECORD_TASK:
        s_mint(&m, &m.act, "task", task->workflow_id, task->task_id, NULL, NULL);
        break;
    case MIDA_RECORD_WORKFLOW:
        s_mint(&m, &m.act, "workflow", task->workflow_id, NULL, NULL, NULL);
        break;
    case MIDA_RECORD_CAMPAIGN:
        s_mint(&m, &m.act, "campaign", task->campaign_id, NULL, NULL, NULL);
        break;
    }
    m.graph = task->kind == MIDA_RECORD_CAMPAIGN ? mida_buf_str(&m.cgraph_b)
                                                 : mida_buf_str(&m.graph_b);
    s_campaign(&m);
    if (task->workflow_id)
        s_workflow(&m);
    if (task->kind == MIDA_RECORD_TASK)
        s_task(&m);
    s_agents(&m);
    s_activity_fields(&m);
    if (task->kind == MIDA_RECORD_CAMPAIGN && (task->used || task->generated))
        s_fail(&m, task->used ? "used" : "generated",
               "campaign records carry no values; send them with a task or workflow record");
    if (task->used)
        s_values(&m, task->used, true);
    if (task->generated)
        s_values(&m, task->generated, false);

    for (size_t i = 0; i < MIDA_ARRAY_LEN(bufs); i++)
        mida_buf_free(bufs[i]);
    if (m.rc)
        mida_quads_truncate(out, before);
    return m.rc;
}

int mida_prov_graph_of(const char *base, const char *subject, mida_buf_t *out)
{
    if (!base || !subject || !out)
        return MIDA_EINVAL;
    mida_buf_reset(out);
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    if (strncmp(subject, base, bl) || subject[bl] != '/')
        return MIDA_ENOTFOUND;
    const char *rest = subject + bl + 1;
    static const char *kinds[] = {"workflow/", "task/", "value/", "campaign/", "graph/"};
    for (size_t i = 0; i < MIDA_ARRAY_LEN(kinds); i++) {
        size_t kl = strlen(kinds[i]);
        if (strncmp(rest, kinds[i], kl))
            continue;
        const char *id = rest + kl;
        size_t n = strcspn(id, "/");
        if (n == 0)
            return MIDA_ENOTFOUND;
        /* B/workflow/{W}, B/campaign/{C} and B/graph/{W} end with the id;
         * B/graph/campaign/{C} is its own graph too */
        if (i == 4)
            return mida_buf_adds(out, subject);
        if ((i == 0 || i == 3) && id[n] != '\0')
            return MIDA_ENOTFOUND;
        int rc = mida_buf_add(out, base, bl);
        if (!rc)
            rc = mida_buf_adds(out, i == 3 ? "/graph/campaign/" : "/graph/");
        if (!rc)
            rc = mida_buf_add(out, id, n);
        return rc;
    }
    return MIDA_ENOTFOUND;
}
