/* freshness.c - time from emit to visible in the store (issue 3 item 9;
 * bench/README.md, "Live capture").
 *
 *   freshness probe --to ENDPOINT [--n N] [--rate R] [--batch-age MS]
 *   freshness load  --to ENDPOINT --records FILE --rate R [--duration S]
 *                   [--batch-age MS]
 *
 * `probe` sends N task records (one FINISHED record per task, about 600
 * bytes, each with a new task id) at R per second (default 500 at 50/s)
 * through its own emitter, and for each one takes three times:
 *   t_send  just before mida_emitter_send;
 *   t_ack   when the emitter's `acked` counter (mida_emitter_stats, read
 *           every 50 us) first covers the record: the integrator has the
 *           batch in its write-ahead log (fsynced) and will apply it next;
 *   t_vis   when the answer to a STATUS request sent after t_ack arrives.
 *           The integrator is one thread: it applies a group of batches
 *           right after acknowledging them and reads its next message only
 *           then, so a STATUS request sent after the ack is answered after
 *           the record is applied.  t_vis is therefore an upper bound on
 *           the moment the record became visible, t_ack a lower bound.
 * The STATUS requests go over one DEALER socket kept open for the run; the
 * round trip of an idle STATUS is measured first and reported (the bias of
 * t_vis, with the 50 us polling step).
 *
 * `load` sends the records of FILE (cycled) at R per second through its
 * own emitter until SIGINT/SIGTERM or --duration, then flushes; for a
 * background load in another process.
 *
 * Prints one JSON object on stdout, a summary on stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RUSAGE_THREAD, clock_nanosleep, strndup */
#endif
#include "bench_util.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <unistd.h>
#include <zmq.h>

typedef struct {
    const char *to, *records;
    size_t n;
    double rate, duration;
    unsigned batch_age;
} opts_t;

static void usage(void)
{
    fprintf(stderr,
            "usage: freshness probe --to ENDPOINT [--n N] [--rate R] [--batch-age MS]\n"
            "       freshness load --to ENDPOINT --records FILE --rate R [--duration S]\n"
            "                 [--batch-age MS]\n");
    exit(2);
}

static mida_emitter_t *make_emitter(const opts_t *o)
{
    mida_emitter_opts_t eo = {0};
    eo.endpoint = o->to;
    eo.batch_age_ms = o->batch_age;
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

/* ---- STATUS over a kept-open DEALER --------------------------------- */

typedef struct {
    void *zctx, *sock;
    uint8_t id[16];
} status_conn_t;

static int status_open(status_conn_t *s, const char *endpoint)
{
    int zero = 0;
    s->zctx = zmq_ctx_new();
    s->sock = zmq_socket(s->zctx, ZMQ_DEALER);
    zmq_setsockopt(s->sock, ZMQ_LINGER, &zero, sizeof zero);
    if (getrandom(s->id, sizeof s->id, 0) != sizeof s->id)
        memset(s->id, 7, sizeof s->id);
    return zmq_connect(s->sock, endpoint);
}

static void status_send(status_conn_t *s)
{
    mida_wire_header_t h;
    uint8_t frame[MIDA_WIRE_HEADER_SIZE];
    mida_wire_control(&h, MIDA_WIRE_FLAG_STATUS, s->id, 0, NULL, 0);
    mida_wire_header_encode(&h, frame);
    zmq_send(s->sock, frame, sizeof frame, ZMQ_SNDMORE);
    zmq_send(s->sock, "", 0, 0);
}

static uint64_t json_u64(const char *text, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

/* A STATUS answer, if one is waiting (timeout_ms 0: do not wait).  1 with
 * *applied and *quads filled, 0 when none. */
static int status_recv(status_conn_t *s, long timeout_ms, uint64_t *applied, uint64_t *quads)
{
    zmq_pollitem_t it = {s->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return 0;
    zmq_msg_t hm, pm;
    zmq_msg_init(&hm);
    zmq_msg_init(&pm);
    int got = 0;
    if (zmq_msg_recv(&hm, s->sock, 0) >= 0 && zmq_msg_more(&hm) &&
        zmq_msg_recv(&pm, s->sock, 0) >= 0) {
        char *text = strndup(zmq_msg_data(&pm), zmq_msg_size(&pm));
        if (text) {
            *applied = json_u64(text, "applied");
            *quads = json_u64(text, "quads_applied");
            free(text);
        }
        got = 1;
    }
    zmq_msg_close(&hm);
    zmq_msg_close(&pm);
    return got;
}

static void status_close(status_conn_t *s)
{
    zmq_close(s->sock);
    zmq_ctx_term(s->zctx);
}

/* ---- probe ------------------------------------------------------------ */

static int make_record(char *buf, size_t cap, long pid, size_t k)
{
    return snprintf(
        buf, cap,
        "{\"task_id\": \"probe-%zu\", \"workflow_id\": \"wf-fresh-%ld\", \"campaign_id\": "
        "\"cmp-fresh\", \"activity_id\": \"train_model\", \"engine\": \"dask\", \"user\": \"bob\", "
        "\"hostname\": \"node-%03zu\", \"status\": \"FINISHED\", \"started_at\": "
        "\"2024-03-01T09:01:00Z\", \"ended_at\": \"2024-03-01T09:10:00Z\", \"used\": {\"lr\": "
        "0.01, \"batch_size\": 64, \"epochs\": 10, \"images\": [{\"@id\": "
        "\"/gpfs/alpine/proj/raw/img_%07zu.h5\"}, {\"@id\": \"/gpfs/alpine/proj/raw/img_%07zu.h5\"}]}, "
        "\"generated\": {\"model\": \"/gpfs/alpine/proj/models/fresh_%ld_%zu.pt\", \"loss\": 0.137, "
        "\"accuracy\": 0.91}, \"telemetry_at_end\": {\"cpu_percent\": 97.5, "
        "\"process_rss_bytes\": 1234567890, \"memory_used_bytes\": 9876543210}}",
        k, pid, k % 128, 2 * k, 2 * k + 1, pid, k);
}

static int run_probe(const opts_t *o)
{
    size_t n = o->n;
    uint64_t *t_send = calloc(n, 8), *t_ack = calloc(n, 8), *t_vis = calloc(n, 8);
    uint64_t *d_ack = calloc(n, 8), *d_vis = calloc(n, 8);
    if (!t_send || !t_ack || !t_vis || !d_ack || !d_vis)
        return 1;
    long pid = (long)getpid();
    mida_emitter_t *em = make_emitter(o);
    status_conn_t sc;
    if (status_open(&sc, o->to)) {
        fprintf(stderr, "cannot connect to %s: %s\n", o->to, zmq_strerror(zmq_errno()));
        return 1;
    }
    /* the STATUS round trip, idle (the first one connects) */
    enum { RTT_N = 200 };
    uint64_t rtt[RTT_N], applied = 0, quads = 0;
    size_t rtt_n = 0;
    for (int i = 0; i < RTT_N + 1; i++) {
        uint64_t t0 = bu_now_ns();
        status_send(&sc);
        if (!status_recv(&sc, 5000, &applied, &quads)) {
            fprintf(stderr, "no STATUS answer from %s\n", o->to);
            return 1;
        }
        if (i)
            rtt[rtt_n++] = bu_now_ns() - t0;
    }
    qsort(rtt, rtt_n, sizeof *rtt, bu_cmp_u64);
    uint64_t quads0 = quads;

    char rec[1024];
    /* a warm-up record (not counted): the emitter maps only once it has the
     * store's settings */
    int len = make_record(rec, sizeof rec, pid, n);
    mida_emitter_send(em, rec, (size_t)len);
    if (mida_emitter_flush(em, 30000)) {
        fprintf(stderr, "the warm-up record was not acknowledged\n");
        return 1;
    }
    mida_emitter_stats_t st;
    mida_emitter_stats(em, &st);
    uint64_t acked0 = st.acked;
    size_t bytes = 0;

    uint64_t period = (uint64_t)(1e9 / o->rate);
    size_t sent = 0, n_ack = 0, n_vis = 0, covers = 0;
    bool waiting = false;
    uint64_t eagain = 0, statuses = 0;
    uint64_t start = bu_now_ns(), deadline = 0;
    while (n_vis < n) {
        uint64_t now = bu_now_ns();
        if (sent < n && now >= start + sent * period) {
            len = make_record(rec, sizeof rec, pid, sent);
            bytes += (size_t)len;
            t_send[sent] = bu_now_ns();
            if (mida_emitter_send(em, rec, (size_t)len))
                eagain++;
            sent++;
            if (sent == n)
                deadline = bu_now_ns() + 60000000000u;
        }
        mida_emitter_stats(em, &st);
        size_t acked = (size_t)(st.acked - acked0);
        if (acked > sent)
            acked = sent;
        if (acked > n_ack) {
            now = bu_now_ns();
            for (size_t k = n_ack; k < acked; k++)
                t_ack[k] = now;
            n_ack = acked;
        }
        if (!waiting && n_ack > n_vis) {
            status_send(&sc);
            statuses++;
            covers = n_ack;
            waiting = true;
        }
        if (waiting && status_recv(&sc, 0, &applied, &quads)) {
            now = bu_now_ns();
            for (size_t k = n_vis; k < covers; k++)
                t_vis[k] = now;
            n_vis = covers;
            waiting = false;
        }
        if (deadline && bu_now_ns() > deadline) {
            fprintf(stderr, "freshness: %zu of %zu records not visible after 60 s\n", n - n_vis,
                    n);
            break;
        }
        bu_sleep_ns(50000);
    }
    mida_emitter_stats(em, &st);
    mida_emitter_close(&em, 5000);
    status_close(&sc);

    size_t m = n_vis;
    for (size_t k = 0; k < m; k++) {
        d_ack[k] = t_ack[k] - t_send[k];
        d_vis[k] = t_vis[k] - t_send[k];
    }
    qsort(d_ack, m, 8, bu_cmp_u64);
    qsort(d_vis, m, 8, bu_cmp_u64);
    printf("{\"mode\": \"probe\", \"n\": %zu, \"visible\": %zu, \"rate\": %.1f, "
           "\"batch_age_ms\": %u, \"record_bytes_mean\": %.0f, \"eagain\": %" PRIu64 ", "
           "\"status_rtt_us\": {\"median\": %.1f, \"p99\": %.1f}, "
           "\"ack_ms\": {\"median\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f, \"min\": %.3f}, "
           "\"visible_ms\": {\"median\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f, \"min\": %.3f}, "
           "\"status_requests\": %" PRIu64 ", \"quads_applied_during\": %" PRIu64 ", "
           "\"batches_sent\": %" PRIu64 ", \"batches_resent\": %" PRIu64 "}\n",
           n, m, o->rate, o->batch_age ? o->batch_age : 50, n ? (double)bytes / (double)n : 0,
           eagain, bu_pct(rtt, rtt_n, 0.5) / 1e3, bu_pct(rtt, rtt_n, 0.99) / 1e3,
           bu_pct(d_ack, m, 0.5) / 1e6, bu_pct(d_ack, m, 0.9) / 1e6, bu_pct(d_ack, m, 0.99) / 1e6,
           m ? d_ack[m - 1] / 1e6 : 0, m ? d_ack[0] / 1e6 : 0, bu_pct(d_vis, m, 0.5) / 1e6,
           bu_pct(d_vis, m, 0.9) / 1e6, bu_pct(d_vis, m, 0.99) / 1e6, m ? d_vis[m - 1] / 1e6 : 0,
           m ? d_vis[0] / 1e6 : 0, statuses, quads - quads0, st.batches_sent, st.batches_resent);
    fprintf(stderr,
            "freshness probe: %zu records at %.0f/s, batch age %u ms: visible p50 %.1f ms, "
            "p99 %.1f ms (acked p50 %.1f ms); STATUS round trip %.0f us\n",
            m, o->rate, o->batch_age ? o->batch_age : 50, bu_pct(d_vis, m, 0.5) / 1e6,
            bu_pct(d_vis, m, 0.99) / 1e6, bu_pct(d_ack, m, 0.5) / 1e6,
            bu_pct(rtt, rtt_n, 0.5) / 1e3);
    return m == n ? 0 : 1;
}

/* ---- load ------------------------------------------------------------- */

static atomic_bool g_stop;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&g_stop, true);
}

static int run_load(const opts_t *o)
{
    bu_lines_t recs;
    if (!o->records || bu_read_lines(o->records, &recs))
        return 1;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    mida_emitter_t *em = make_emitter(o);
    uint64_t period = (uint64_t)(1e9 / o->rate);
    uint64_t start = bu_now_ns();
    uint64_t until = o->duration > 0 ? start + (uint64_t)(o->duration * 1e9) : UINT64_MAX;
    size_t sent = 0, eagain = 0;
    while (!atomic_load(&g_stop)) {
        uint64_t next = start + sent * period;
        if (next >= until)
            break;
        bu_sleep_until(next);
        size_t k = sent % recs.n;
        if (mida_emitter_send(em, recs.line[k], recs.len[k]))
            eagain++;
        sent++;
    }
    double secs = (double)(bu_now_ns() - start) / 1e9;
    int frc = mida_emitter_flush(em, 60000);
    mida_emitter_stats_t st;
    mida_emitter_stats(em, &st);
    mida_emitter_close(&em, 1000);
    printf("{\"mode\": \"load\", \"sent\": %zu, \"seconds\": %.3f, \"rate\": %.1f, "
           "\"eagain\": %zu, \"acked\": %" PRIu64 ", \"flush_rc\": %d}\n",
           sent, secs, (double)sent / secs, eagain, st.acked, frc);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    opts_t o = {.n = 500, .rate = 50};
    static const struct option lo[] = {
        {"to", required_argument, NULL, 't'},        {"records", required_argument, NULL, 'r'},
        {"n", required_argument, NULL, 'n'},         {"rate", required_argument, NULL, 'R'},
        {"duration", required_argument, NULL, 'd'},  {"batch-age", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 't': o.to = optarg; break;
        case 'r': o.records = optarg; break;
        case 'n': o.n = strtoul(optarg, NULL, 10); break;
        case 'R': o.rate = strtod(optarg, NULL); break;
        case 'd': o.duration = strtod(optarg, NULL); break;
        case 'a': o.batch_age = (unsigned)strtoul(optarg, NULL, 10); break;
        default: usage();
        }
    }
    if (!o.to || !o.n || o.rate <= 0)
        usage();
    if (!strcmp(mode, "probe"))
        return run_probe(&o);
    if (!strcmp(mode, "load"))
        return run_load(&o);
    usage();
    return 2;
}
