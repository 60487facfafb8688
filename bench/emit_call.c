/* emit_call.c - what live capture costs the observed program's thread
 * (issue 3 item 9; bench/README.md, "Live capture").
 *
 *   emit_call calls   --to ENDPOINT --records FILE [--n N] [--rate R]
 *                     [--batch-age MS] [--max-buffered-mb M] [--block-ms MS]
 *                     [--flush-timeout S]
 *   emit_call capture --to ENDPOINT [--n N] [--no-emitter] [--flush-timeout S]
 *
 * `calls`: sends N records of FILE (JSON lines, used in order, cycled if
 * FILE has fewer) with mida_emitter_send, timing each call with
 * clock_gettime(CLOCK_MONOTONIC); the timer's own cost (median of
 * back-to-back reads) is subtracted.  --rate R paces the calls at R per
 * second (sleeping between them, outside the timed region); without it the
 * calls come back to back.  Then mida_emitter_flush: the time until every
 * record is acknowledged.  --spin waits between paced calls by reading the
 * clock in a loop instead of sleeping (the caller's core never idles).
 *
 * `capture`: N tasks through the capture API, each
 *   mida_task_begin (sends RUNNING) + 2 x mida_task_used +
 *   2 x mida_task_generated + mida_task_end (sends FINISHED),
 * timed per task and per step.  --no-emitter builds the records without
 * sending them (em = NULL), which isolates the cost of the sends.
 *
 * Prints one JSON object on stdout (times in ns unless the name says
 * otherwise) and a readable summary on stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RUSAGE_THREAD, clock_nanosleep, strndup */
#endif
#include "bench_util.h"

#include <getopt.h>
#include <inttypes.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct {
    const char *to, *records;
    size_t n;
    double rate, flush_timeout;
    unsigned batch_age, block_ms;
    size_t max_buffered_mb;
    bool no_emitter, spin;
} opts_t;

static void usage(void)
{
    fprintf(stderr,
            "usage: emit_call calls --to ENDPOINT --records FILE [--n N] [--rate R [--spin]]\n"
            "                 [--batch-age MS] [--max-buffered-mb M] [--block-ms MS]\n"
            "                 [--flush-timeout S]\n"
            "       emit_call capture --to ENDPOINT [--n N] [--no-emitter] [--flush-timeout S]\n");
    exit(2);
}

typedef struct {
    uint64_t med, p90, p99, p999, max, min;
    double mean;
} dist_t;

static dist_t dist(uint64_t *v, size_t n)
{
    dist_t d = {0};
    if (!n)
        return d;
    d.mean = bu_mean(v, n);
    qsort(v, n, sizeof *v, bu_cmp_u64);
    d.min = v[0];
    d.med = bu_pct(v, n, 0.5);
    d.p90 = bu_pct(v, n, 0.9);
    d.p99 = bu_pct(v, n, 0.99);
    d.p999 = bu_pct(v, n, 0.999);
    d.max = v[n - 1];
    return d;
}

static void print_dist(const char *name, const dist_t *d, bool comma)
{
    printf("\"%s\": {\"median\": %" PRIu64 ", \"p90\": %" PRIu64 ", \"p99\": %" PRIu64
           ", \"p99.9\": %" PRIu64 ", \"max\": %" PRIu64 ", \"min\": %" PRIu64
           ", \"mean\": %.1f}%s",
           name, d->med, d->p90, d->p99, d->p999, d->max, d->min, d->mean, comma ? ", " : "");
}

/* The calling thread's page faults and context switches so far. */
typedef struct {
    long minflt, majflt, nvcsw, nivcsw;
} ru_t;

static ru_t thread_ru(void)
{
    struct rusage r;
    getrusage(RUSAGE_THREAD, &r);
    return (ru_t){r.ru_minflt, r.ru_majflt, r.ru_nvcsw, r.ru_nivcsw};
}

static void print_ru(const ru_t *a, const ru_t *b)
{
    printf("\"thread_minor_faults\": %ld, \"thread_major_faults\": %ld, "
           "\"thread_voluntary_switches\": %ld, \"thread_involuntary_switches\": %ld, ",
           b->minflt - a->minflt, b->majflt - a->majflt, b->nvcsw - a->nvcsw,
           b->nivcsw - a->nivcsw);
}

static mida_emitter_t *make_emitter(const opts_t *o)
{
    mida_emitter_opts_t eo = {0};
    eo.endpoint = o->to;
    eo.batch_age_ms = o->batch_age;
    eo.max_buffered_bytes = o->max_buffered_mb << 20;
    eo.block_ms = o->block_ms;
    char err[512];
    mida_emitter_t *em = mida_emitter_new(NULL, &eo, err, sizeof err);
    if (!em) {
        fprintf(stderr, "mida_emitter_new: %s\n", err);
        exit(1);
    }
    if (bu_wait_connected(em, 10000))
        exit(1);
    return em;
}

static int run_calls(const opts_t *o)
{
    bu_lines_t recs;
    if (!o->records || bu_read_lines(o->records, &recs))
        return 1;
    size_t n = o->n;
    uint64_t *lat = malloc(n * sizeof *lat);
    if (!lat)
        return 1;
    uint64_t tmin = 0;
    uint64_t overhead = bu_timer_overhead(1000000, &tmin);
    mida_emitter_t *em = make_emitter(o);

    size_t eagain = 0, other = 0, first_eagain = (size_t)-1;
    size_t over_10us = 0, over_100us = 0, over_1ms = 0;
    uint64_t period = o->rate > 0 ? (uint64_t)(1e9 / o->rate) : 0;
    ru_t ru0 = thread_ru();
    uint64_t start = bu_now_ns();
    for (size_t i = 0; i < n; i++) {
        if (period && o->spin)
            while (bu_now_ns() < start + i * period) {
            }
        else if (period)
            bu_sleep_until(start + i * period);
        size_t k = i % recs.n;
        uint64_t t0 = bu_now_ns();
        int rc = mida_emitter_send(em, recs.line[k], recs.len[k]);
        uint64_t t1 = bu_now_ns();
        uint64_t d = t1 - t0;
        d = d > overhead ? d - overhead : 0;
        lat[i] = d;
        if (rc == MIDA_EAGAIN) {
            if (!eagain)
                first_eagain = i;
            eagain++;
        } else if (rc) {
            other++;
        }
    }
    uint64_t sent_end = bu_now_ns();
    ru_t ru1 = thread_ru();
    int frc = mida_emitter_flush(em, (unsigned)(o->flush_timeout * 1000));
    uint64_t acked_at = bu_now_ns();
    mida_emitter_stats_t st;
    mida_emitter_stats(em, &st);
    int crc = mida_emitter_close(&em, 1000);

    for (size_t i = 0; i < n; i++) {
        over_10us += lat[i] > 10000;
        over_100us += lat[i] > 100000;
        over_1ms += lat[i] > 1000000;
    }
    dist_t d = dist(lat, n);
    double send_s = (double)(sent_end - start) / 1e9;
    printf("{\"mode\": \"calls\", \"n\": %zu, \"rate\": %.0f, \"spin\": %s, \"batch_age_ms\": %u, "
           "\"record_bytes_mean\": %.1f, \"record_bytes_min\": %zu, \"record_bytes_max\": %zu, "
           "\"timer_overhead_ns\": %" PRIu64 ", \"timer_min_ns\": %" PRIu64 ", ",
           n, o->rate, o->spin ? "true" : "false", o->batch_age ? o->batch_age : 50,
           recs.mean_bytes, recs.min_bytes, recs.max_bytes, overhead, tmin);
    print_dist("send_ns", &d, true);
    print_ru(&ru0, &ru1);
    printf("\"over_10us\": %zu, \"over_100us\": %zu, \"over_1ms\": %zu, "
           "\"eagain\": %zu, \"first_eagain_index\": %lld, \"other_errors\": %zu, "
           "\"send_phase_s\": %.4f, \"calls_per_s\": %.0f, "
           "\"ack_after_last_send_s\": %.4f, \"ack_from_first_send_s\": %.4f, \"flush_rc\": %d, "
           "\"close_rc\": %d, \"accepted\": %" PRIu64 ", \"dropped\": %" PRIu64
           ", \"invalid\": %" PRIu64 ", \"acked\": %" PRIu64 ", \"refused\": %" PRIu64
           ", \"quads_acked\": %" PRIu64 ", \"batches_sent\": %" PRIu64
           ", \"batches_resent\": %" PRIu64 "}\n",
           over_10us, over_100us, over_1ms, eagain,
           eagain ? (long long)first_eagain : -1LL, other, send_s, (double)n / send_s,
           (double)(acked_at - sent_end) / 1e9, (double)(acked_at - start) / 1e9, frc, crc,
           st.accepted, st.dropped, st.invalid, st.acked, st.refused, st.quads_acked,
           st.batches_sent, st.batches_resent);
    fprintf(stderr,
            "emit_call calls: %zu sends (%.0f B mean), median %" PRIu64 " ns, p99 %" PRIu64
            " ns, p99.9 %" PRIu64 " ns, max %" PRIu64 " ns; %zu EAGAIN; acked %" PRIu64
            " in %.2f s after the last send\n",
            n, recs.mean_bytes, d.med, d.p99, d.p999, d.max, eagain, st.acked,
            (double)(acked_at - sent_end) / 1e9);
    free(lat);
    return 0;
}

static int run_capture(const opts_t *o)
{
    size_t n = o->n;
    uint64_t *begin = malloc(n * sizeof *begin), *fill = malloc(n * sizeof *fill),
             *end = malloc(n * sizeof *end), *task = malloc(n * sizeof *task);
    char (*tid)[32] = malloc(n * sizeof *tid);
    char (*set)[64] = malloc(n * sizeof *set);
    char (*model)[64] = malloc(n * sizeof *model);
    if (!begin || !fill || !end || !task || !tid || !set || !model)
        return 1;
    for (size_t i = 0; i < n; i++) {
        snprintf(tid[i], sizeof tid[i], "train-%zu", i);
        snprintf(set[i], sizeof set[i], "\"/gpfs/alpine/proj/train/set_%zu.npz\"", i % 64);
        snprintf(model[i], sizeof model[i], "\"/gpfs/alpine/proj/models/cap_%zu.pt\"", i);
    }
    uint64_t overhead = bu_timer_overhead(1000000, NULL);
    mida_emitter_t *em = o->no_emitter ? NULL : make_emitter(o);
    char wf[64];
    snprintf(wf, sizeof wf, "wf-capture-%ld", (long)getpid());
    size_t failed = 0, eagain = 0;
    char err[256];
    /* one warm-up task: the first telemetry sample tries to load NVML */
    mida_capture_t *w = mida_task_begin(NULL, wf, "warm-up", "warm_up", NULL, err, sizeof err);
    mida_capture_destroy(&w);
    ru_t ru0 = thread_ru();
    uint64_t start = bu_now_ns();
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = bu_now_ns();
        mida_capture_t *t = mida_task_begin(
            em, wf, tid[i], "train_model",
            "{\"engine\": \"dask\", \"workflow_name\": \"capture benchmark\"}", err, sizeof err);
        uint64_t t1 = bu_now_ns();
        int rc = 0;
        if (!t) {
            failed++;
            continue;
        }
        rc |= mida_task_used(t, "lr", "0.01");
        rc |= mida_task_used(t, "train_set", set[i]);
        rc |= mida_task_generated(t, "loss", "0.137");
        rc |= mida_task_generated(t, "model", model[i]);
        uint64_t t2 = bu_now_ns();
        int erc = mida_task_end(&t, "FINISHED", NULL);
        uint64_t t3 = bu_now_ns();
        if (rc)
            failed++;
        if (erc == MIDA_EAGAIN)
            eagain++;
        else if (erc)
            failed++;
        begin[i] = t1 - t0 > overhead ? t1 - t0 - overhead : 0;
        fill[i] = t2 - t1 > overhead ? t2 - t1 - overhead : 0;
        end[i] = t3 - t2 > overhead ? t3 - t2 - overhead : 0;
        task[i] = t3 - t0 > overhead ? t3 - t0 - overhead : 0;
    }
    uint64_t done = bu_now_ns();
    ru_t ru1 = thread_ru();
    /* the parts of a task's cost that are telemetry: a sample (read), and
     * writing it as JSON; each task takes two of each */
    size_t tn = n < 5000 ? n : 5000;
    uint64_t *tread = malloc(tn * sizeof *tread), *tjson = malloc(tn * sizeof *tjson);
    if (!tread || !tjson)
        return 1;
    for (size_t i = 0; i < tn; i++) {
        mida_telemetry_t sample;
        char *js = NULL;
        uint64_t t0 = bu_now_ns();
        mida_telemetry_read(&sample, NULL);
        uint64_t t1 = bu_now_ns();
        mida_telemetry_to_json(&sample, &js);
        uint64_t t2 = bu_now_ns();
        free(js);
        tread[i] = t1 - t0 > overhead ? t1 - t0 - overhead : 0;
        tjson[i] = t2 - t1 > overhead ? t2 - t1 - overhead : 0;
    }
    int frc = 0;
    mida_emitter_stats_t st = {0};
    uint64_t acked_at = done;
    if (em) {
        frc = mida_emitter_flush(em, (unsigned)(o->flush_timeout * 1000));
        acked_at = bu_now_ns();
        mida_emitter_stats(em, &st);
        mida_emitter_close(&em, 1000);
    }
    dist_t db = dist(begin, n), df = dist(fill, n), de = dist(end, n), dt = dist(task, n);
    printf("{\"mode\": \"capture\", \"n\": %zu, \"emitter\": %s, \"timer_overhead_ns\": %" PRIu64
           ", ",
           n, o->no_emitter ? "false" : "true", overhead);
    print_dist("task_ns", &dt, true);
    print_dist("begin_ns", &db, true);
    print_dist("used_generated_ns", &df, true);
    print_dist("end_ns", &de, true);
    print_ru(&ru0, &ru1);
    dist_t dtr = dist(tread, tn), dtj = dist(tjson, tn);
    print_dist("telemetry_read_ns", &dtr, true);
    print_dist("telemetry_to_json_ns", &dtj, true);
    free(tread);
    free(tjson);
    printf("\"failed\": %zu, \"eagain\": %zu, \"tasks_per_s\": %.0f, \"ack_after_last_s\": %.4f, "
           "\"flush_rc\": %d, \"acked\": %" PRIu64 ", \"dropped\": %" PRIu64 "}\n",
           failed, eagain, (double)n / ((double)(done - start) / 1e9),
           (double)(acked_at - done) / 1e9, frc, st.acked, st.dropped);
    fprintf(stderr,
            "emit_call capture%s: %zu tasks, per task median %.2f us, p99 %.2f us "
            "(begin %.2f, used+generated %.2f, end %.2f us median; a telemetry sample "
            "%.2f us + %.2f us as JSON); %zu EAGAIN, %zu failed\n",
            o->no_emitter ? " (no emitter)" : "", n, dt.med / 1e3, dt.p99 / 1e3, db.med / 1e3,
            df.med / 1e3, de.med / 1e3, dtr.med / 1e3, dtj.med / 1e3, eagain, failed);
    free(begin);
    free(fill);
    free(end);
    free(task);
    free(tid);
    free(set);
    free(model);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    opts_t o = {.n = 100000, .flush_timeout = 600};
    static const struct option lo[] = {
        {"to", required_argument, NULL, 't'},         {"records", required_argument, NULL, 'r'},
        {"n", required_argument, NULL, 'n'},          {"rate", required_argument, NULL, 'R'},
        {"batch-age", required_argument, NULL, 'a'},  {"max-buffered-mb", required_argument, NULL, 'm'},
        {"block-ms", required_argument, NULL, 'b'},   {"flush-timeout", required_argument, NULL, 'f'},
        {"no-emitter", no_argument, NULL, 'E'},       {"spin", no_argument, NULL, 'S'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 't': o.to = optarg; break;
        case 'r': o.records = optarg; break;
        case 'n': o.n = strtoul(optarg, NULL, 10); break;
        case 'R': o.rate = strtod(optarg, NULL); break;
        case 'a': o.batch_age = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'm': o.max_buffered_mb = strtoul(optarg, NULL, 10); break;
        case 'b': o.block_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'f': o.flush_timeout = strtod(optarg, NULL); break;
        case 'E': o.no_emitter = true; break;
        case 'S': o.spin = true; break;
        default: usage();
        }
    }
    if (!o.n || (!o.to && !o.no_emitter))
        usage();
    if (!strcmp(mode, "calls"))
        return run_calls(&o);
    if (!strcmp(mode, "capture"))
        return run_capture(&o);
    usage();
    return 2;
}
