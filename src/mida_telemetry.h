/* mida_telemetry.h - resource use of this process and its host, as the
 * `telemetry_at_start` / `telemetry_at_end` objects of a task record
 * (docs/records.md "Telemetry").
 *
 * A sample is read from /proc and, when the NVIDIA driver is installed,
 * from NVML.  Every part that cannot be read (no /proc/self/io in a
 * container, no GPU) is left out of the sample, never an error: a capture
 * must not fail because a counter is missing.
 *
 * | key                    | source                                              | part bit    |
 * |------------------------|-----------------------------------------------------|-------------|
 * | captured_at            | CLOCK_REALTIME, as xsd:dateTime (UTC)               | always      |
 * | cpu_user_seconds,      | /proc/self/stat utime, stime / sysconf(_SC_CLK_TCK) | CPU         |
 * |   cpu_system_seconds   | (this process, all threads; children not counted)   |             |
 * | cpu_percent            | process CPU time (CLOCK_PROCESS_CPUTIME_ID) over    | CPU_PERCENT |
 * |                        | wall time (CLOCK_BOOTTIME), *100: since `since`     |             |
 * |                        | when given, else since the process started          |             |
 * |                        | (/proc/self/stat starttime); 100 per busy core      |             |
 * | process_rss_bytes      | /proc/self/statm resident pages * page size         | RSS         |
 * | memory_used_bytes,     | /proc/meminfo MemTotal - MemAvailable, and its      | MEMORY      |
 * |   memory_percent       | share of MemTotal (the host's, or the container's   |             |
 * |                        | where /proc/meminfo is virtualised)                 |             |
 * | io_read_bytes,         | /proc/self/io read_bytes, write_bytes (bytes this   | IO          |
 * |   io_write_bytes       | process made the storage layer fetch / send)        |             |
 * | net_sent_bytes,        | /proc/net/dev, every interface but lo: the network  | NET         |
 * |   net_recv_bytes       | namespace's totals, not this process's              |             |
 * | gpu_memory_used_bytes  | NVML memory used, summed over the devices           | GPU         |
 * | gpu_percent            | NVML utilisation, summed (100 per fully busy        | GPU_PERCENT |
 * |                        | device; only when every device reports it)          |             |
 * |                        | Both GPU keys are device-wide: all processes.       |             |
 *
 * NVML.  libnvidia-ml.so.1 is opened with dlopen on the first sample that
 * asks for it (pthread_once: thread-safe, once per process) and kept open;
 * when it is absent, fails to initialise or sees no device, the GPU keys
 * are left out.  Setting MIDA_NO_NVML=1 in the environment before the
 * first sample turns NVML off.
 *
 * Cost: a sample reads five small /proc files (tens of microseconds) plus
 * two NVML calls per GPU.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef MIDA_TELEMETRY_H
#define MIDA_TELEMETRY_H

/* The parts of a sample, as bits of mida_telemetry_t.have. */
typedef enum {
    MIDA_TELEMETRY_CPU = 1u << 0,         /* cpu_user_seconds, cpu_system_seconds */
    MIDA_TELEMETRY_CPU_PERCENT = 1u << 1, /* cpu_percent */
    MIDA_TELEMETRY_RSS = 1u << 2,         /* process_rss_bytes */
    MIDA_TELEMETRY_MEMORY = 1u << 3,      /* memory_used_bytes, memory_percent */
    MIDA_TELEMETRY_IO = 1u << 4,          /* io_read_bytes, io_write_bytes */
    MIDA_TELEMETRY_NET = 1u << 5,         /* net_sent_bytes, net_recv_bytes */
    MIDA_TELEMETRY_GPU = 1u << 6,         /* gpu_memory_used_bytes */
    MIDA_TELEMETRY_GPU_PERCENT = 1u << 7  /* gpu_percent */
} mida_telemetry_part_t;

/* One sample.  A field is meaningful only when its part bit is in `have`.
 * A plain value: copy it, keep it on the stack, nothing to free. */
typedef struct mida_telemetry {
    unsigned have;                    /* MIDA_TELEMETRY_* bits read */
    double captured_at;               /* seconds since the epoch (always set) */
    double boot_seconds;              /* CLOCK_BOOTTIME when taken (for cpu_percent) */
    double cpu_seconds;               /* process CPU time, user + system, ns resolution */
    double cpu_user_seconds, cpu_system_seconds;
    double cpu_percent;
    uint64_t process_rss_bytes;
    uint64_t memory_used_bytes;
    double memory_percent;
    uint64_t io_read_bytes, io_write_bytes;
    uint64_t net_sent_bytes, net_recv_bytes;
    uint64_t gpu_memory_used_bytes;
    double gpu_percent;
    unsigned gpu_devices;             /* devices that reported memory use (GPU part) */
} mida_telemetry_t;

/* Takes a sample into *out.  `since` (may be NULL) is an earlier sample of
 * the same process: cpu_percent is then the CPU use between the two (what
 * a task's telemetry_at_end wants); without it, the average since the
 * process started.  Parts that cannot be read are left out of out->have.
 * 0, or MIDA_EINVAL when out is NULL. */
MIDA_EXPORT int mida_telemetry_read(mida_telemetry_t *out, const mida_telemetry_t *since);

/* The sample as one JSON object on one line, with the keys of the parts in
 * t->have (table above; captured_at always).  Numbers are written in their
 * shortest exact form; byte counts as integers.  Caller owns *json_out and
 * must free() it.  0, MIDA_EINVAL, MIDA_ENOMEM. */
MIDA_EXPORT int mida_telemetry_to_json(const mida_telemetry_t *t, char **json_out);

/* mida_telemetry_read(since = NULL) and mida_telemetry_to_json in one call,
 * for bindings (ctypes) that do not want the struct.  Caller owns
 * *json_out and must free() it. */
MIDA_EXPORT int mida_telemetry_sample(char **json_out);

/* The number of GPUs NVML reports (opening NVML on first call as a sample
 * would); 0 when NVML is absent or turned off. */
MIDA_EXPORT unsigned mida_telemetry_gpus(void);

#endif
