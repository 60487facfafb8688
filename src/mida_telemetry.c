/* mida_telemetry.c - resource-use samples from /proc and NVML (see
 * mida_telemetry.h for the keys and where each comes from).
 * Owns: reading /proc, the process-wide NVML handle, the JSON form of a
 *       sample.
 * Must not: fail a sample because one counter is missing, print, or keep
 *       any state but the NVML handle and the open /proc descriptors
 *       (both per process by nature).
 */
#include "mida_internal.h"
#include "mida_selftest.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_GPUS 64
#define JSON_MAX 4096 /* a sample is about 400 bytes */

/* ---- /proc ---------------------------------------------------------- */

/* The /proc files a sample reads, opened once per process and re-read
 * with pread (no path walk, no open/close per sample).  A descriptor of
 * /proc/self/... names the process that opened it, so after fork() the
 * child opens its own. */
enum { F_STAT, F_STATM, F_MEMINFO, F_IO, F_NET, F_COUNT };
static const char *const s_proc_paths[F_COUNT] = {"/proc/self/stat", "/proc/self/statm",
                                                  "/proc/meminfo", "/proc/self/io",
                                                  "/proc/net/dev"};
static struct {
    pthread_mutex_t mu;
    pid_t pid;
    int fd[F_COUNT];       /* -1: not readable here */
} s_proc = {PTHREAD_MUTEX_INITIALIZER, 0, {-1, -1, -1, -1, -1}};

/* In a forked child, right after fork: the inherited descriptors name the
 * parent; close them, and start the (possibly held) lock afresh. */
static void s_proc_atfork_child(void)
{
    for (int i = 0; i < F_COUNT; i++) {
        if (s_proc.fd[i] >= 0)
            close(s_proc.fd[i]);
        s_proc.fd[i] = -1;
    }
    s_proc.pid = 0;
    pthread_mutex_init(&s_proc.mu, NULL);
}

static void s_proc_register(void)
{
    pthread_atfork(NULL, NULL, s_proc_atfork_child);
}

static int s_proc_fd(int which)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, s_proc_register);
    pid_t pid = getpid();
    pthread_mutex_lock(&s_proc.mu);
    if (s_proc.pid != pid) {
        /* first use (or a child made without fork's handlers, e.g. a raw
         * clone: its inherited descriptors are left alone) */
        for (int i = 0; i < F_COUNT; i++)
            s_proc.fd[i] = open(s_proc_paths[i], O_RDONLY | O_CLOEXEC);
        s_proc.pid = pid;
    }
    int fd = s_proc.fd[which];
    pthread_mutex_unlock(&s_proc.mu);
    return fd;
}

/* Reads a whole (small) /proc file into buf, NUL-terminated, truncated to
 * size - 1 bytes.  The length, or -1 when it cannot be opened or read. */
static ssize_t s_read_file(int which, char *buf, size_t size)
{
    int fd = s_proc_fd(which);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n + 1 < size) {
        ssize_t r = pread(fd, buf + n, size - 1 - n, (off_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return (ssize_t)n;
}

/* The number after "key" where key starts a line of text ("read_bytes:"). */
static bool s_line_value(const char *text, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    for (const char *p = text; *p;) {
        if (!strncmp(p, key, kl)) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(p + kl, &end, 10);
            if (end == p + kl || errno)
                return false;
            *out = v;
            return true;
        }
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    return false;
}

static double s_clock(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts))
        return -1;
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* v rounded to `scale` (100: two decimals).  Dividing the rounded integer
 * gives the double nearest the decimal, which prints short. */
static double s_round(double v, double scale)
{
    return round(v * scale) / scale;
}

/* /proc/self/stat: utime (14), stime (15), starttime (22), in clock ticks.
 * The command name (2) is in parentheses and may hold spaces or ')', so
 * fields are counted from the last ')'. */
static bool s_proc_stat(double *user, double *sys, double *start)
{
    char buf[1024];
    if (s_read_file(F_STAT, buf, sizeof buf) <= 0)
        return false;
    const char *p = strrchr(buf, ')');
    if (!p)
        return false;
    p++;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    unsigned long long v[23] = {0};
    for (int field = 3; field <= 22; field++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return false;
        if (field == 14 || field == 15 || field == 22) {
            char *end;
            errno = 0;
            v[field] = strtoull(p, &end, 10);
            if (end == p || errno)
                return false;
        }
        while (*p && *p != ' ')
            p++;
    }
    *user = (double)v[14] / (double)hz;
    *sys = (double)v[15] / (double)hz;
    *start = (double)v[22] / (double)hz;
    return true;
}

static bool s_proc_rss(uint64_t *rss)
{
    char buf[256];
    if (s_read_file(F_STATM, buf, sizeof buf) <= 0)
        return false;
    char *end;
    errno = 0;
    strtoull(buf, &end, 10); /* size */
    const char *p = end;
    unsigned long long pages = strtoull(p, &end, 10);
    long page = sysconf(_SC_PAGESIZE);
    if (end == p || errno || page <= 0)
        return false;
    *rss = (uint64_t)pages * (uint64_t)page;
    return true;
}

static bool s_proc_meminfo(uint64_t *used, double *percent)
{
    char buf[4096];
    uint64_t total, avail;
    if (s_read_file(F_MEMINFO, buf, sizeof buf) <= 0 ||
        !s_line_value(buf, "MemTotal:", &total) || !s_line_value(buf, "MemAvailable:", &avail) ||
        total == 0 || avail > total)
        return false;
    *used = (total - avail) * 1024; /* the file counts kB */
    *percent = s_round(100.0 * (double)(total - avail) / (double)total, 100);
    return true;
}

static bool s_proc_io(uint64_t *rd, uint64_t *wr)
{
    char buf[1024];
    return s_read_file(F_IO, buf, sizeof buf) > 0 && s_line_value(buf, "read_bytes:", rd) &&
           s_line_value(buf, "write_bytes:", wr);
}

/* /proc/net/dev: two header lines, then "  name: rx_bytes rx_packets ...
 * (8 receive columns) tx_bytes ...".  Sums every interface but lo. */
static bool s_proc_net(uint64_t *sent, uint64_t *recv)
{
    char buf[16384];
    if (s_read_file(F_NET, buf, sizeof buf) <= 0)
        return false;
    uint64_t tx = 0, rx = 0;
    bool any = false;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (!nl)
            break; /* a line cut by the buffer: leave it out */
        *nl = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            char *name = line;
            while (*name == ' ')
                name++;
            *colon = '\0';
            if (strcmp(name, "lo")) {
                const char *p = colon + 1;
                unsigned long long col[9];
                int i = 0;
                for (; i < 9; i++) {
                    char *end;
                    col[i] = strtoull(p, &end, 10);
                    if (end == p)
                        break;
                    p = end;
                }
                if (i == 9) {
                    rx += col[0];
                    tx += col[8];
                }
            }
            any = true;
        }
        line = nl + 1;
    }
    *sent = tx;
    *recv = rx;
    return any;
}

/* ---- NVML ------------------------------------------------------------ */

/* The few NVML declarations used (nvml.h is not needed to build mida):
 * every call returns 0 (NVML_SUCCESS) on success. */
typedef struct s_nvml_device *s_nvml_device_t;
typedef struct {
    unsigned long long total, free, used; /* bytes */
} s_nvml_memory_t;
typedef struct {
    unsigned int gpu, memory; /* percent of the last sample period */
} s_nvml_util_t;

/* Per process, set once by s_nvml_open under pthread_once and read-only
 * afterwards, so samples need no lock. */
static struct {
    pthread_once_t once;
    unsigned n;                          /* devices; 0 = NVML unusable */
    s_nvml_device_t dev[MAX_GPUS];
    int (*memory_info)(s_nvml_device_t, s_nvml_memory_t *);
    int (*utilization)(s_nvml_device_t, s_nvml_util_t *);
} s_nvml = {.once = PTHREAD_ONCE_INIT};

static void s_nvml_open(void)
{
    const char *off = getenv("MIDA_NO_NVML");
    if (off && *off && strcmp(off, "0"))
        return;
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return;
    int (*init)(void) = (int (*)(void))dlsym(lib, "nvmlInit_v2");
    int (*count)(unsigned *) = (int (*)(unsigned *))dlsym(lib, "nvmlDeviceGetCount_v2");
    int (*handle)(unsigned, s_nvml_device_t *) =
        (int (*)(unsigned, s_nvml_device_t *))dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
    s_nvml.memory_info =
        (int (*)(s_nvml_device_t, s_nvml_memory_t *))dlsym(lib, "nvmlDeviceGetMemoryInfo");
    s_nvml.utilization =
        (int (*)(s_nvml_device_t, s_nvml_util_t *))dlsym(lib, "nvmlDeviceGetUtilizationRates");
    unsigned n = 0;
    if (!init || !count || !handle || !s_nvml.memory_info || !s_nvml.utilization || init() != 0 ||
        count(&n) != 0) {
        /* nvmlShutdown is not called: a failed init holds nothing, and
         * the library stays loaded (unloading NVML is not worth the risk
         * of a thread of its own still running). */
        return;
    }
    unsigned got = 0;
    for (unsigned i = 0; i < n && got < MAX_GPUS; i++)
        if (handle(i, &s_nvml.dev[got]) == 0)
            got++;
    s_nvml.n = got;
}

static unsigned s_nvml_devices(void)
{
    pthread_once(&s_nvml.once, s_nvml_open);
    return s_nvml.n;
}

static void s_gpu(mida_telemetry_t *t)
{
    unsigned n = s_nvml_devices();
    if (!n)
        return;
    uint64_t used = 0;
    double busy = 0;
    unsigned mem_ok = 0, util_ok = 0;
    for (unsigned i = 0; i < n; i++) {
        s_nvml_memory_t m;
        s_nvml_util_t u;
        if (s_nvml.memory_info(s_nvml.dev[i], &m) == 0) {
            used += m.used;
            mem_ok++;
        }
        if (s_nvml.utilization(s_nvml.dev[i], &u) == 0) {
            busy += u.gpu;
            util_ok++;
        }
    }
    if (mem_ok) {
        t->gpu_memory_used_bytes = used;
        t->gpu_devices = mem_ok;
        t->have |= MIDA_TELEMETRY_GPU;
    }
    if (util_ok == n) {
        t->gpu_percent = busy;
        t->have |= MIDA_TELEMETRY_GPU_PERCENT;
    }
}

unsigned mida_telemetry_gpus(void)
{
    return s_nvml_devices();
}

/* ---- samples ---------------------------------------------------------- */

int mida_telemetry_read(mida_telemetry_t *out, const mida_telemetry_t *since)
{
    if (!out)
        return MIDA_EINVAL;
    memset(out, 0, sizeof *out);
    out->captured_at = s_clock(CLOCK_REALTIME);
    out->boot_seconds = s_clock(CLOCK_BOOTTIME);
    out->cpu_seconds = s_clock(CLOCK_PROCESS_CPUTIME_ID);

    double user, sys, start = -1;
    if (s_proc_stat(&user, &sys, &start)) {
        out->cpu_user_seconds = s_round(user, 1e6);
        out->cpu_system_seconds = s_round(sys, 1e6);
        out->have |= MIDA_TELEMETRY_CPU;
    }
    /* CPU over wall time: both clocks are in seconds; starttime counts
     * from boot, as CLOCK_BOOTTIME does. */
    double cpu = -1, wall = -1;
    if (since && out->cpu_seconds >= 0 && since->cpu_seconds >= 0 && since->boot_seconds > 0) {
        cpu = out->cpu_seconds - since->cpu_seconds;
        wall = out->boot_seconds - since->boot_seconds;
    } else if (!since && out->cpu_seconds >= 0 && start >= 0) {
        cpu = out->cpu_seconds;
        wall = out->boot_seconds - start;
    }
    if (cpu >= 0 && wall > 0) {
        out->cpu_percent = s_round(100.0 * cpu / wall, 100);
        out->have |= MIDA_TELEMETRY_CPU_PERCENT;
    }
    if (s_proc_rss(&out->process_rss_bytes))
        out->have |= MIDA_TELEMETRY_RSS;
    if (s_proc_meminfo(&out->memory_used_bytes, &out->memory_percent))
        out->have |= MIDA_TELEMETRY_MEMORY;
    if (s_proc_io(&out->io_read_bytes, &out->io_write_bytes))
        out->have |= MIDA_TELEMETRY_IO;
    if (s_proc_net(&out->net_sent_bytes, &out->net_recv_bytes))
        out->have |= MIDA_TELEMETRY_NET;
    s_gpu(out);
    return 0;
}

/* ---- JSON --------------------------------------------------------------- */

/* The shortest decimal that reads back as the same double. */
static int s_add_double(mida_buf_t *b, const char *key, double v)
{
    if (!isfinite(v))
        return 0; /* JSON has no NaN: leave the key out */
    char num[40];
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(num, sizeof num, "%.0f", v); /* 150, not 1.5e+02 */
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, v);
            if (strtod(num, NULL) == v)
                break;
        }
    }
    return mida_buf_printf(b, ",\"%s\":%s", key, num);
}

static int s_add_u64(mida_buf_t *b, const char *key, uint64_t v)
{
    return mida_buf_printf(b, ",\"%s\":%llu", key, (unsigned long long)v);
}

int mida_telemetry_to_json(const mida_telemetry_t *t, char **json_out)
{
    if (!t || !json_out)
        return MIDA_EINVAL;
    *json_out = NULL;
    char when[40];
    int rc = mida_time_from_epoch(t->captured_at, when, sizeof when);
    if (rc)
        return rc;
    mida_buf_t b;
    mida_buf_init(&b, JSON_MAX);
    rc = mida_buf_printf(&b, "{\"captured_at\":\"%s\"", when);
    unsigned h = t->have;
    if (!rc && (h & MIDA_TELEMETRY_CPU))
        rc = s_add_double(&b, "cpu_user_seconds", t->cpu_user_seconds) ||
             s_add_double(&b, "cpu_system_seconds", t->cpu_system_seconds);
    if (!rc && (h & MIDA_TELEMETRY_CPU_PERCENT))
        rc = s_add_double(&b, "cpu_percent", t->cpu_percent);
    if (!rc && (h & MIDA_TELEMETRY_RSS))
        rc = s_add_u64(&b, "process_rss_bytes", t->process_rss_bytes);
    if (!rc && (h & MIDA_TELEMETRY_MEMORY))
        rc = s_add_u64(&b, "memory_used_bytes", t->memory_used_bytes) ||
             s_add_double(&b, "memory_percent", t->memory_percent);
    if (!rc && (h & MIDA_TELEMETRY_IO))
        rc = s_add_u64(&b, "io_read_bytes", t->io_read_bytes) ||
             s_add_u64(&b, "io_write_bytes", t->io_write_bytes);
    if (!rc && (h & MIDA_TELEMETRY_NET))
        rc = s_add_u64(&b, "net_sent_bytes", t->net_sent_bytes) ||
             s_add_u64(&b, "net_recv_bytes", t->net_recv_bytes);
    if (!rc && (h & MIDA_TELEMETRY_GPU))
        rc = s_add_u64(&b, "gpu_memory_used_bytes", t->gpu_memory_used_bytes);
    if (!rc && (h & MIDA_TELEMETRY_GPU_PERCENT))
        rc = s_add_double(&b, "gpu_percent", t->gpu_percent);
    if (!rc)
        rc = mida_buf_addc(&b, '}');
    if (rc) {
        mida_buf_free(&b);
        return MIDA_ENOMEM; /* the only way a 4 KiB buffer fails here */
    }
    *json_out = mida_buf_detach(&b);
    return 0;
}

int mida_telemetry_sample(char **json_out)
{
    if (!json_out)
        return MIDA_EINVAL;
    mida_telemetry_t t;
    mida_telemetry_read(&t, NULL);
    return mida_telemetry_to_json(&t, json_out);
}

/* ---- self-test ------------------------------------------------------------ */

/* Spins until this process has used `seconds` more CPU time (at most 10 s
 * of wall time, for a machine that starves the test). */
static double s_busy(double seconds)
{
    double c0 = s_clock(CLOCK_PROCESS_CPUTIME_ID), w0 = s_clock(CLOCK_MONOTONIC);
    volatile double x = 1;
    while (s_clock(CLOCK_PROCESS_CPUTIME_ID) - c0 < seconds && s_clock(CLOCK_MONOTONIC) - w0 < 10)
        for (int i = 0; i < 10000; i++)
            x = x * 1.0000001 + 1e-9;
    return x;
}

int mida_telemetry_test(bool verbose);
int mida_telemetry_test(bool verbose)
{
    int f = 0;
    mida_telemetry_t a, b;
    MIDA_CHECK(f, mida_telemetry_read(NULL, NULL) == MIDA_EINVAL);
    MIDA_CHECK(f, mida_telemetry_read(&a, NULL) == 0);
    unsigned linux_parts = MIDA_TELEMETRY_CPU | MIDA_TELEMETRY_CPU_PERCENT | MIDA_TELEMETRY_RSS |
                           MIDA_TELEMETRY_MEMORY;
    MIDA_CHECK(f, (a.have & linux_parts) == linux_parts);
    MIDA_CHECK(f, a.process_rss_bytes > 1024 * 1024);
    MIDA_CHECK(f, fabs(a.captured_at - (double)time(NULL)) < 5);
    MIDA_CHECK(f, a.memory_used_bytes > 0 && a.memory_percent > 0 && a.memory_percent <= 100);
    MIDA_CHECK(f, a.cpu_percent >= 0);
    if (access("/proc/self/io", R_OK) == 0)
        MIDA_CHECK(f, a.have & MIDA_TELEMETRY_IO);
    MIDA_CHECK(f, !!(a.have & MIDA_TELEMETRY_GPU) == (mida_telemetry_gpus() > 0));

    /* CPU seconds grow with busy work; cpu_percent since `a` is about one
     * core's worth (a starved machine gives less, never more than all). */
    s_busy(0.15);
    MIDA_CHECK(f, mida_telemetry_read(&b, &a) == 0);
    MIDA_CHECK(f, b.cpu_seconds - a.cpu_seconds >= 0.15);
    MIDA_CHECK(f, b.cpu_user_seconds + b.cpu_system_seconds >
                      a.cpu_user_seconds + a.cpu_system_seconds + 0.05);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    MIDA_CHECK(f, (b.have & MIDA_TELEMETRY_CPU_PERCENT) && b.cpu_percent > 1 &&
                      b.cpu_percent <= 100.0 * (double)(ncpu > 0 ? ncpu : 1) + 1);
    if (verbose)
        printf("telemetry: %.3f s CPU in %.3f s, cpu_percent %.2f, rss %llu, gpus %u\n",
               b.cpu_seconds - a.cpu_seconds, b.boot_seconds - a.boot_seconds, b.cpu_percent,
               (unsigned long long)b.process_rss_bytes, mida_telemetry_gpus());

    /* A forked child reads its own /proc, not the parent's (the open
     * descriptors are per process) */
    pid_t child = fork();
    if (child == 0) {
        size_t n = 48u << 20;
        volatile char *big = malloc(n);
        for (size_t i = 0; big && i < n; i += 4096)
            big[i] = 1;
        mida_telemetry_t c;
        _exit(big && mida_telemetry_read(&c, NULL) == 0 &&
                      c.process_rss_bytes >= b.process_rss_bytes + (30u << 20)
                  ? 0
                  : 1);
    }
    int status = -1;
    MIDA_CHECK(f, child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) &&
                      WEXITSTATUS(status) == 0);

    /* The JSON form: what is in `have`, nothing else, parsable. */
    char *json = NULL;
    MIDA_CHECK(f, mida_telemetry_to_json(&b, &json) == 0);
    json_error_t jerr;
    json_t *o = json ? json_loads(json, 0, &jerr) : NULL;
    MIDA_CHECK(f, json_is_object(o));
    if (o) {
        char when[40];
        MIDA_CHECK(f, mida_time_normalize(json_string_value(json_object_get(o, "captured_at")),
                                          when, sizeof when) == 0);
        MIDA_CHECK(f, json_is_integer(json_object_get(o, "process_rss_bytes")));
        MIDA_CHECK(f, json_integer_value(json_object_get(o, "process_rss_bytes")) > 0);
        MIDA_CHECK(f, json_is_number(json_object_get(o, "cpu_user_seconds")));
        MIDA_CHECK(f, json_is_number(json_object_get(o, "cpu_percent")));
        MIDA_CHECK(f, json_is_integer(json_object_get(o, "memory_used_bytes")));
        MIDA_CHECK(f, !json_object_get(o, "io_read_bytes") == !(b.have & MIDA_TELEMETRY_IO));
        MIDA_CHECK(f, !json_object_get(o, "gpu_memory_used_bytes") == !(b.have & MIDA_TELEMETRY_GPU));
        if (verbose)
            printf("telemetry: %s\n", json);
    }
    json_decref(o);
    free(json);

    /* Keys of parts not read are absent; values are written exactly. */
    mida_telemetry_t t = {.captured_at = 1700000000.25,
                          .have = MIDA_TELEMETRY_CPU | MIDA_TELEMETRY_RSS | MIDA_TELEMETRY_GPU,
                          .cpu_user_seconds = 1.5,
                          .cpu_system_seconds = 0.1,
                          .cpu_percent = 99, /* not in have: left out */
                          .process_rss_bytes = 123456789012ULL,
                          .gpu_memory_used_bytes = 42};
    MIDA_CHECK(f, mida_telemetry_to_json(&t, &json) == 0);
    MIDA_CHECK_STR(f, json,
                   "{\"captured_at\":\"2023-11-14T22:13:20.25Z\",\"cpu_user_seconds\":1.5,"
                   "\"cpu_system_seconds\":0.1,\"process_rss_bytes\":123456789012,"
                   "\"gpu_memory_used_bytes\":42}");
    free(json);
    t.have = MIDA_TELEMETRY_CPU_PERCENT | MIDA_TELEMETRY_MEMORY | MIDA_TELEMETRY_IO |
             MIDA_TELEMETRY_NET | MIDA_TELEMETRY_GPU_PERCENT;
    t.memory_used_bytes = 2048;
    t.memory_percent = 12.35;
    t.io_read_bytes = 1;
    t.io_write_bytes = 2;
    t.net_sent_bytes = 3;
    t.net_recv_bytes = 4;
    t.gpu_percent = 150;
    MIDA_CHECK(f, mida_telemetry_to_json(&t, &json) == 0);
    MIDA_CHECK_STR(f, json,
                   "{\"captured_at\":\"2023-11-14T22:13:20.25Z\",\"cpu_percent\":99,"
                   "\"memory_used_bytes\":2048,\"memory_percent\":12.35,\"io_read_bytes\":1,"
                   "\"io_write_bytes\":2,\"net_sent_bytes\":3,\"net_recv_bytes\":4,"
                   "\"gpu_percent\":150}");
    free(json);
    t.cpu_percent = NAN; /* JSON has no NaN: the key goes */
    t.have = MIDA_TELEMETRY_CPU_PERCENT;
    MIDA_CHECK(f, mida_telemetry_to_json(&t, &json) == 0);
    MIDA_CHECK_STR(f, json, "{\"captured_at\":\"2023-11-14T22:13:20.25Z\"}");
    free(json);
    t.captured_at = NAN;
    MIDA_CHECK(f, mida_telemetry_to_json(&t, &json) == MIDA_EINVAL && json == NULL);
    MIDA_CHECK(f, mida_telemetry_to_json(NULL, &json) == MIDA_EINVAL);

    /* The one-call form parses and carries the always-present parts. */
    MIDA_CHECK(f, mida_telemetry_sample(NULL) == MIDA_EINVAL);
    MIDA_CHECK(f, mida_telemetry_sample(&json) == 0);
    o = json ? json_loads(json, 0, &jerr) : NULL;
    MIDA_CHECK(f, o && json_object_get(o, "captured_at") && json_object_get(o, "cpu_percent") &&
                      json_object_get(o, "process_rss_bytes"));
    MIDA_CHECK(f, json && !strchr(json, '\n'));
    json_decref(o);
    free(json);

    /* Parsing helpers on the shapes the kernel writes. */
    uint64_t v = 0;
    const char *io = "rchar: 5\nwchar: 6\nread_bytes: 7\nwrite_bytes: 8\ncancelled_write_bytes: 9\n";
    MIDA_CHECK(f, s_line_value(io, "write_bytes:", &v) && v == 8);
    MIDA_CHECK(f, s_line_value(io, "rchar:", &v) && v == 5);
    MIDA_CHECK(f, !s_line_value(io, "syscr:", &v));
    if (verbose)
        printf("telemetry: %d failures\n", f);
    return f;
}
