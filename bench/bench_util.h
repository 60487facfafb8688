/* bench_util.h - small helpers shared by the live-capture benchmark
 * programs (emit_call.c, freshness.c): a monotonic clock in nanoseconds,
 * percentiles, reading a JSON-lines file into memory, waiting for an
 * emitter's connection.  Header-only; every function is static. */
#ifndef MIDA_BENCH_UTIL_H
#define MIDA_BENCH_UTIL_H

#include "mida.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t bu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bu_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

/* Sleeps until the monotonic clock reads `t` (ns). */
static inline void bu_sleep_until(uint64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000u), (long)(t % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static int bu_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array (p in 0..1). */
static inline uint64_t bu_pct(const uint64_t *sorted, size_t n, double p)
{
    if (!n)
        return 0;
    size_t k = (size_t)(p * (double)n + 0.999999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return sorted[k - 1];
}

static inline double bu_mean(const uint64_t *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)v[i];
    return n ? s / (double)n : 0;
}

/* The cost of one clock_gettime(CLOCK_MONOTONIC) as the benchmarks see it:
 * the median of `n` back-to-back differences.  *min_out gets the smallest. */
static inline uint64_t bu_timer_overhead(size_t n, uint64_t *min_out)
{
    uint64_t *d = malloc(n * sizeof *d);
    if (!d)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t a = bu_now_ns();
        uint64_t b = bu_now_ns();
        d[i] = b - a;
    }
    qsort(d, n, sizeof *d, bu_cmp_u64);
    uint64_t med = bu_pct(d, n, 0.5);
    if (min_out)
        *min_out = d[0];
    free(d);
    return med;
}

/* The non-empty lines of a file, in memory.  0 or -1 (message printed). */
typedef struct {
    char **line;
    size_t *len;
    size_t n;
    double mean_bytes;
    size_t min_bytes, max_bytes;
} bu_lines_t;

static int bu_read_lines(const char *path, bu_lines_t *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 0, total = 0;
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t n;
    while ((n = getline(&buf, &bcap, f)) > 0) {
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = '\0';
        if (!n)
            continue;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 4096;
            out->line = realloc(out->line, cap * sizeof *out->line);
            out->len = realloc(out->len, cap * sizeof *out->len);
            if (!out->line || !out->len) {
                fprintf(stderr, "out of memory reading %s\n", path);
                exit(1);
            }
        }
        out->line[out->n] = strndup(buf, (size_t)n);
        out->len[out->n] = (size_t)n;
        if (!out->min_bytes || (size_t)n < out->min_bytes)
            out->min_bytes = (size_t)n;
        if ((size_t)n > out->max_bytes)
            out->max_bytes = (size_t)n;
        total += (size_t)n;
        out->n++;
    }
    free(buf);
    fclose(f);
    if (!out->n) {
        fprintf(stderr, "%s has no records\n", path);
        return -1;
    }
    out->mean_bytes = (double)total / (double)out->n;
    return 0;
}

/* Waits until the emitter has a connection (at most timeout_ms).  The
 * emitter asks for the store's settings right after connecting; the extra
 * settle time lets that answer arrive before anything is timed. */
static int bu_wait_connected(mida_emitter_t *em, unsigned timeout_ms)
{
    uint64_t until = bu_now_ns() + (uint64_t)timeout_ms * 1000000u;
    mida_emitter_stats_t st;
    do {
        mida_emitter_stats(em, &st);
        if (st.connected) {
            bu_sleep_ns(200000000u);
            return 0;
        }
        bu_sleep_ns(2000000u);
    } while (bu_now_ns() < until);
    fprintf(stderr, "no connection to %s within %u ms\n", mida_emitter_endpoint(em), timeout_ms);
    return -1;
}

#endif
