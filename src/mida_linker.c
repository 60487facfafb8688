/* mida_linker.c - applies quad batches: single values, forward-only status,
 *                 and the links that integrate workflows.
 * Owns: the merge rules of ARCHITECTURE 3.5 and the derived links of 3.4.
 * Must not: parse records, talk to the network, know the store's back end.
 */
#include "mida_internal.h"

#include <stdlib.h>
#include <string.h>

/* Must equal the owl:FunctionalProperty subjects of ontology/mida.ttl (the
 * self-test checks it). */
static const char *const s_functional[] = {
    MIDA_("status"), MIDA_("telemetryAtStart"), MIDA_("telemetryAtEnd"),
    MIDA_("campaignId"), MIDA_("workflowId"), MIDA_("workflowName"), MIDA_("taskId"),
    MIDA_("activityId"), MIDA_("nativeStatus"), MIDA_("submittedAtTime"), MIDA_("hostname"),
    MIDA_("adapterId"), MIDA_("environmentId"), MIDA_("ranOnHost"), MIDA_("ranInEnvironment"),
    MIDA_("exitCode"), MIDA_("stdout"),
    MIDA_("stderr"), MIDA_("customMetadata"), MIDA_("sizeBytes"), MIDA_("dataType"),
    MIDA_("version"), MIDA_("statusRank"), MIDA_("capturedAtTime"), MIDA_("cpuPercent"),
    MIDA_("cpuUserSeconds"), MIDA_("cpuSystemSeconds"), MIDA_("memoryUsedBytes"),
    MIDA_("memoryPercent"), MIDA_("processRssBytes"), MIDA_("ioReadBytes"),
    MIDA_("ioWriteBytes"), MIDA_("netSentBytes"), MIDA_("netRecvBytes"),
    MIDA_("gpuMemoryUsedBytes"), MIDA_("gpuPercent"), MIDA_("telemetryExtra"),
    PROV_("startedAtTime"), PROV_("endedAtTime"), PROV_("generatedAtTime"), PROV_("value"),
    NULL};

const char *const *mida_linker_functional_properties(void)
{
    return s_functional;
}

static bool s_is_functional(const char *p)
{
    /* all functional properties live in two namespaces: a cheap filter */
    if (strncmp(p, MIDA_NS_MIDA, sizeof MIDA_NS_MIDA - 1) &&
        strncmp(p, MIDA_NS_PROV, sizeof MIDA_NS_PROV - 1))
        return false;
    for (const char *const *f = s_functional; *f; f++)
        if (!strcmp(p, *f))
            return true;
    return false;
}

static int s_status_rank(const char *iri)
{
    static const struct {
        const char *iri;
        int rank;
    } ranks[] = {{MIDA_("Submitted"), 1}, {MIDA_("Waiting"), 2}, {MIDA_("Running"), 3},
                 {MIDA_("Finished"), 4},  {MIDA_("Error"), 4}};
    for (size_t i = 0; i < MIDA_ARRAY_LEN(ranks); i++)
        if (!strcmp(iri, ranks[i].iri))
            return ranks[i].rank;
    return 0;
}

/* ---- collecting matches ------------------------------------------------- */

static int s_collect_triple(void *ud, const mida_term_t *s, const mida_term_t *p, const mida_term_t *o)
{
    mida_quads_t *q = ud;
    return mida_quads_add(q, s, p, o, NULL) ? 1 : 0;
}

typedef struct {
    int max_rank;
    bool same;
    const mida_term_t *want;
} s_status_scan;

static int s_scan_status(void *ud, const mida_term_t *s, const mida_term_t *p, const mida_term_t *o)
{
    s_status_scan *sc = ud;
    if (o->kind == MIDA_TERM_IRI) {
        int r = s_status_rank(o->value);
        if (r > sc->max_rank)
            sc->max_rank = r;
    }
    if (mida_term_equal(o, sc->want))
        sc->same = true;
    return 0;
}

typedef struct {
    const mida_term_t *keep;
    bool other;
    bool same;
} s_value_scan;

static int s_scan_values(void *ud, const mida_term_t *s, const mida_term_t *p, const mida_term_t *o)
{
    s_value_scan *sc = ud;
    if (mida_term_equal(o, sc->keep))
        sc->same = true;
    else
        sc->other = true;
    return 0;
}

/* Removes every (s p x) with x != keep. */
/* Functional refinements of prov:wasAssociatedWith: the mapper writes the
 * plain association beside them, and it goes when its refinement is
 * replaced (a task first reported on one environment, then on another). */
static bool s_refines_association(const char *p)
{
    return !strcmp(p, MIDA_("ranOnHost")) || !strcmp(p, MIDA_("ranInEnvironment"));
}

static long s_remove_others(mida_store_t *st, const mida_quad_t *q)
{
    mida_quads_t *found = mida_quads_new();
    if (!found)
        return MIDA_ENOMEM;
    long removed = 0;
    int rc = mida_store_match(st, &q->s, &q->p, NULL, s_collect_triple, found);
    for (size_t i = 0; rc == 0 && i < mida_quads_count(found); i++) {
        const mida_quad_t *x = mida_quads_get(found, i);
        if (mida_term_equal(&x->o, &q->o))
            continue;
        long n = mida_store_remove(st, &x->s, &x->p, &x->o);
        if (n >= 0 && s_refines_association(x->p.value)) {
            mida_term_t assoc = {MIDA_TERM_IRI, PROV_("wasAssociatedWith"), NULL, NULL};
            long m = mida_store_remove(st, &x->s, &assoc, &x->o);
            n = m < 0 ? m : n;
        }
        if (n < 0)
            rc = (int)n;
        else
            removed += n;
    }
    mida_quads_destroy(&found);
    return rc < 0 ? rc : removed;
}

/* ---- applying one quad ---------------------------------------------------- */

/* The subject whose status update in this batch was dropped as stale: its
 * mida:nativeStatus (which the mapper writes right after mida:status)
 * belongs to the dropped state and is dropped with it. */
typedef struct {
    mida_apply_stats_t *stats;
    mida_buf_t stale_subject;
} s_apply;

static int s_apply_quad(mida_store_t *st, const mida_quad_t *q, s_apply *ap)
{
    mida_apply_stats_t *stats = ap->stats;
    const char *p = q->p.value;
    if (!strcmp(p, MIDA_("nativeStatus")) && ap->stale_subject.len &&
        !strcmp(q->s.value, mida_buf_str(&ap->stale_subject)))
        return 0;
    if (!strcmp(p, MIDA_("status")) && q->o.kind == MIDA_TERM_IRI) {
        mida_buf_reset(&ap->stale_subject);
        s_status_scan sc = {0, false, &q->o};
        int rc = mida_store_match(st, &q->s, &q->p, NULL, s_scan_status, &sc);
        if (rc < 0)
            return rc;
        if (sc.same)
            return 0;
        if (sc.max_rank >= s_status_rank(q->o.value) && sc.max_rank > 0) {
            stats->stale++;
            return mida_buf_adds(&ap->stale_subject, q->s.value);
        }
        long n = s_remove_others(st, q);
        if (n < 0)
            return (int)n;
        stats->replaced += n > 0;
        return mida_store_add(st, q);
    }
    if (s_is_functional(p)) {
        s_value_scan sc = {&q->o, false, false};
        int rc = mida_store_match(st, &q->s, &q->p, NULL, s_scan_values, &sc);
        if (rc < 0)
            return rc;
        if (sc.same && !sc.other)
            return 0;
        if (sc.other) {
            long n = s_remove_others(st, q);
            if (n < 0)
                return (int)n;
            stats->replaced++;
        }
        return sc.same ? 0 : mida_store_add(st, q);
    }
    return mida_store_add(st, q);
}

/* ---- derived links ---------------------------------------------------------- */

static const mida_term_t *s_const_iri(const char *iri, mida_term_t *t)
{
    *t = mida_term_iri(iri);
    return t;
}

static bool s_is_data(mida_store_t *st, const mida_term_t *e)
{
    mida_term_t type, data;
    return e->kind != MIDA_TERM_LITERAL &&
           mida_store_contains(st, e, s_const_iri(RDF_("type"), &type),
                               s_const_iri(PROVONE_("Data"), &data));
}

/* Adds (s p o) unless present; counts it. */
static int s_derive(mida_store_t *st, const mida_term_t *s, const char *p, const mida_term_t *o,
                    mida_apply_stats_t *stats)
{
    if (mida_term_equal(s, o))
        return 0;
    mida_term_t tp = mida_term_iri(p);
    if (mida_store_contains(st, s, &tp, o))
        return 0;
    mida_quad_t q = {*s, tp, *o, NULL};
    int rc = mida_store_add(st, &q);
    if (!rc)
        stats->derived++;
    return rc;
}

/* The workflow run an activity belongs to (itself for a run); false if
 * unknown.  The term is copied into `into`. */
static bool s_workflow_of(mida_store_t *st, const mida_term_t *act, mida_quads_t *into,
                          mida_term_t *out)
{
    mida_term_t type, run, part;
    if (mida_store_contains(st, act, s_const_iri(RDF_("type"), &type),
                            s_const_iri(MIDA_("WorkflowRun"), &run))) {
        *out = *act;
        return true;
    }
    size_t before = mida_quads_count(into);
    mida_store_match(st, act, s_const_iri(PROVONE_("wasPartOf"), &part), NULL, s_collect_triple, into);
    for (size_t i = before; i < mida_quads_count(into); i++) {
        const mida_term_t *w = &mida_quads_get(into, i)->o;
        if (mida_store_contains(st, w, &type, &run)) {
            *out = *w;
            return true;
        }
    }
    return false;
}

/* consumer used data produced by producer: link the tasks and their runs */
static int s_link_tasks(mida_store_t *st, const mida_term_t *consumer,
                        const mida_term_t *producer, mida_apply_stats_t *stats)
{
    if (mida_term_equal(consumer, producer))
        return 0;
    int rc = s_derive(st, consumer, PROV_("wasInformedBy"), producer, stats);
    if (rc)
        return rc;
    mida_quads_t *tmp = mida_quads_new();
    if (!tmp)
        return MIDA_ENOMEM;
    mida_term_t wc, wp;
    if (s_workflow_of(st, consumer, tmp, &wc) && s_workflow_of(st, producer, tmp, &wp) &&
        !mida_term_equal(&wc, &wp))
        rc = s_derive(st, &wc, PROV_("wasInformedBy"), &wp, stats);
    mida_quads_destroy(&tmp);
    return rc;
}

/* Task t used data d (from the batch). */
static int s_on_used(mida_store_t *st, const mida_term_t *t, const mida_term_t *d,
                     mida_apply_stats_t *stats)
{
    mida_quads_t *found = mida_quads_new();
    if (!found)
        return MIDA_ENOMEM;
    mida_term_t gen;
    s_const_iri(PROV_("wasGeneratedBy"), &gen);
    int rc = mida_store_match(st, d, &gen, NULL, s_collect_triple, found);
    size_t producers = mida_quads_count(found);
    if (rc == 0)
        rc = mida_store_match(st, NULL, &gen, t, s_collect_triple, found);
    for (size_t i = 0; rc == 0 && i < mida_quads_count(found); i++) {
        const mida_quad_t *x = mida_quads_get(found, i);
        if (i < producers) /* d wasGeneratedBy producer */
            rc = s_link_tasks(st, t, &x->o, stats);
        else if (s_is_data(st, &x->s)) /* output of t derives from d */
            rc = s_derive(st, &x->s, PROV_("wasDerivedFrom"), d, stats);
    }
    mida_quads_destroy(&found);
    return rc < 0 ? rc : 0;
}

/* Data d was generated by task t (from the batch). */
static int s_on_generated(mida_store_t *st, const mida_term_t *d, const mida_term_t *t,
                          mida_apply_stats_t *stats)
{
    mida_quads_t *found = mida_quads_new();
    if (!found)
        return MIDA_ENOMEM;
    mida_term_t used;
    s_const_iri(PROV_("used"), &used);
    int rc = mida_store_match(st, NULL, &used, d, s_collect_triple, found);
    size_t consumers = mida_quads_count(found);
    if (rc == 0)
        rc = mida_store_match(st, t, &used, NULL, s_collect_triple, found);
    for (size_t i = 0; rc == 0 && i < mida_quads_count(found); i++) {
        const mida_quad_t *x = mida_quads_get(found, i);
        if (i < consumers) /* consumer used d */
            rc = s_link_tasks(st, &x->s, t, stats);
        else if (s_is_data(st, &x->o)) /* d derives from what t used */
            rc = s_derive(st, d, PROV_("wasDerivedFrom"), &x->o, stats);
    }
    mida_quads_destroy(&found);
    return rc < 0 ? rc : 0;
}

int mida_linker_apply(mida_store_t *st, const mida_quads_t *batch, mida_apply_stats_t *stats)
{
    if (!st || !batch)
        return MIDA_EINVAL;
    mida_apply_stats_t local = {0};
    if (!stats)
        stats = &local;
    size_t n = mida_quads_count(batch);
    stats->quads += n;
    int rc = mida_store_begin(st);
    s_apply ap = {stats, {0}};
    mida_buf_init(&ap.stale_subject, 0);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = s_apply_quad(st, mida_quads_get(batch, i), &ap);
    mida_buf_free(&ap.stale_subject);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const mida_quad_t *q = mida_quads_get(batch, i);
        if (q->o.kind == MIDA_TERM_LITERAL)
            continue;
        if (!strcmp(q->p.value, PROV_("used")) && s_is_data(st, &q->o))
            rc = s_on_used(st, &q->s, &q->o, stats);
        else if (!strcmp(q->p.value, PROV_("wasGeneratedBy")) && s_is_data(st, &q->s))
            rc = s_on_generated(st, &q->s, &q->o, stats);
    }
    int crc = mida_store_commit(st);
    return rc ? rc : crc;
}

/* ---- self-test ---------------------------------------------------------------- */
#include "mida_selftest.h"

#include <stdlib.h>

int mida_linker_test(bool verbose);
int mida_linker_test(bool verbose)
{
    int f = 0;
    mida_ctx_t *ctx = mida_ctx_new();
    char err[512];

    /* the functional list equals the ontology's owl:FunctionalProperty set */
    FILE *in = fopen(MIDA_SOURCE_DIR "/ontology/mida.ttl", "r");
    MIDA_CHECK(f, in != NULL);
    if (in) {
        mida_quads_t *onto = mida_quads_new();
        MIDA_CHECK(f, mida_quads_parse_file(ctx, onto, in, "mida.ttl", "turtle", NULL, err, sizeof err) == 0);
        fclose(in);
        size_t n_onto = 0;
        for (size_t i = 0; i < mida_quads_count(onto); i++) {
            const mida_quad_t *q = mida_quads_get(onto, i);
            if (strcmp(q->p.value, RDF_("type")) || strcmp(q->o.value, MIDA_NS_OWL "FunctionalProperty"))
                continue;
            n_onto++;
            if (!s_is_functional(q->s.value)) {
                fprintf(stderr, "functional in the ontology, not in the linker: %s\n", q->s.value);
                f++;
            }
        }
        size_t n_code = 0;
        while (s_functional[n_code])
            n_code++;
        MIDA_CHECK(f, n_onto == n_code);
        mida_quads_destroy(&onto);
    }

    char dir[] = "/tmp/mida-linker-test-XXXXXX";
    MIDA_CHECK(f, mkdtemp(dir) != NULL);
    mida_store_opts_t w = {MIDA_STORE_WRITE, NULL};
    char sdir[sizeof dir + 4];
    snprintf(sdir, sizeof sdir, "%s/s", dir);
    w.flags |= MIDA_STORE_CREATE;
    mida_store_t *st = mida_store_open(ctx, sdir, &w, err, sizeof err);
    MIDA_CHECK(f, st != NULL);
    if (!st) {
        mida_ctx_destroy(&ctx);
        return f + 1;
    }
    /* records arrive out of order: finished before running, the consumer
     * of a file before its producer */
    const char *records[] = {
        "{\"task_id\":\"t2\",\"workflow_id\":\"w2\",\"status\":\"FINISHED\",\"started_at\":\"2024-01-01T00:00:05Z\","
        "\"used\":{\"img\":{\"@id\":\"/d/img.h5\"}},\"generated\":{\"model\":\"/d/model.pt\"}}",
        "{\"task_id\":\"t2\",\"workflow_id\":\"w2\",\"status\":\"RUNNING\",\"started_at\":\"2024-01-01T00:00:06Z\"}",
        "{\"task_id\":\"t1\",\"workflow_id\":\"w1\",\"status\":\"FINISHED\",\"used\":{\"exposure\":0.5},"
        "\"generated\":{\"img\":{\"@id\":\"/d/img.h5\"}}}",
    };
    mida_quads_t *all = mida_quads_new();
    mida_apply_stats_t stats = {0};
    for (size_t i = 0; i < MIDA_ARRAY_LEN(records); i++) {
        mida_task_t *t = NULL;
        MIDA_CHECK(f, mida_task_parse(records[i], strlen(records[i]), &t, err, sizeof err) == 0);
        mida_quads_t *q = mida_quads_new();
        MIDA_CHECK(f, t && mida_prov_map(t, NULL, q, err, sizeof err) == 0);
        MIDA_CHECK(f, mida_linker_apply(st, q, &stats) == 0);
        mida_quads_append(all, q);
        mida_quads_destroy(&q);
        mida_task_destroy(&t);
    }
    const char *B = MIDA_DEFAULT_BASE;
    char t1[128], t2[128], w1[128], w2[128], img[128], model[128];
    snprintf(t1, sizeof t1, "%s/task/w1/t1", B);
    snprintf(t2, sizeof t2, "%s/task/w2/t2", B);
    snprintf(w1, sizeof w1, "%s/workflow/w1", B);
    snprintf(w2, sizeof w2, "%s/workflow/w2", B);
    snprintf(img, sizeof img, "%s/data/%%2Fd%%2Fimg.h5", B);
    snprintf(model, sizeof model, "%s/data/%%2Fd%%2Fmodel.pt", B);
    mida_term_t T1 = mida_term_iri(t1), T2 = mida_term_iri(t2), W1 = mida_term_iri(w1),
                W2 = mida_term_iri(w2), IMG = mida_term_iri(img), MODEL = mida_term_iri(model);
    mida_term_t inf = mida_term_iri(PROV_("wasInformedBy")), der = mida_term_iri(PROV_("wasDerivedFrom"));
    mida_term_t status = mida_term_iri(MIDA_("status")), fin = mida_term_iri(MIDA_("Finished"));
    mida_term_t started = mida_term_iri(PROV_("startedAtTime"));
    MIDA_CHECK(f, mida_store_contains(st, &T2, &inf, &T1));
    MIDA_CHECK(f, mida_store_contains(st, &W2, &inf, &W1));
    MIDA_CHECK(f, mida_store_contains(st, &MODEL, &der, &IMG));
    MIDA_CHECK(f, mida_store_contains(st, &T2, &status, &fin));
    MIDA_CHECK(f, stats.stale == 1);
    mida_quads_t *got = mida_quads_new();
    mida_store_match(st, &T2, &status, NULL, s_collect_triple, got);
    MIDA_CHECK(f, mida_quads_count(got) == 1);
    mida_quads_clear(got);
    /* a later started_at replaces the earlier one: one value only */
    mida_store_match(st, &T2, &started, NULL, s_collect_triple, got);
    MIDA_CHECK(f, mida_quads_count(got) == 1);
    MIDA_CHECK(f, mida_quads_count(got) == 1 && !strcmp(mida_quads_get(got, 0)->o.value, "2024-01-01T00:00:06Z"));
    mida_quads_destroy(&got);

    /* applying everything again changes nothing */
    long size = mida_store_size(st);
    mida_apply_stats_t again = {0};
    MIDA_CHECK(f, mida_linker_apply(st, all, &again) == 0);
    MIDA_CHECK(f, mida_store_size(st) == size);
    MIDA_CHECK(f, again.derived == 0);

    mida_quads_destroy(&all);
    mida_store_close(&st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    MIDA_CHECK(f, system(cmd) == 0);
    mida_ctx_destroy(&ctx);
    if (verbose)
        printf("linker: %d failures\n", f);
    return f;
}
