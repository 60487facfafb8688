/* mida_integrator.h - the receiving side of live capture (ARCHITECTURE 1,
 * 4, 5): a ZeroMQ ROUTER that takes batches from emitters and applies them
 * to a store, durably.
 *
 * For each batch: check (mida_wire) -> drop it if this sender's batch was
 * already applied (acknowledging it again) -> append to the write-ahead
 * log -> acknowledge -> apply (mida_linker_apply).  Batches that arrive
 * together (up to about 20,000 quads) are written with one fdatasync
 * (group commit) and acknowledged only after it; they are applied before
 * the next message is read, so the store and the log never disagree for
 * longer than one group.  A batch that fails its checks is answered REFUSED with the reason,
 * logged and counted; the integrator goes on.
 *
 * The log lives in DIR/wal/wal-<generation>.log; each entry is
 *   u32 length (of what follows the checksum), u32 CRC-32 of it,
 *   the 48-byte wire header, the payload as received.
 * A snapshot (periodic, and at stop) starts a new generation, writes the
 * graph and then store.json with the generation it covers and the
 * per-sender sequence numbers already applied, then removes the older
 * logs.  On start the store's snapshot is loaded and every log of that
 * generation or later is replayed; a torn last entry (a crash in the middle
 * of a write) is cut off.  So a kill -9 at any moment loses nothing that
 * was acknowledged.
 *
 * Control messages: HELLO is answered with the store's mapping settings
 * (JSON: base, aliases, promote), which emitters map with; STATUS with the
 * counters (JSON, the fields of mida_integrator_stats_t).
 *
 * CURVE: with a server key pair, only clients that know the server's
 * public key can talk; with a list of client public keys, only those
 * (checked by a ZAP handler in the integrator's thread).
 */
#ifndef MIDA_INTEGRATOR_H
#define MIDA_INTEGRATOR_H

typedef struct mida_integrator mida_integrator_t;

typedef struct mida_integrator_opts {
    const char *listen;              /* NULL: MIDA_DEFAULT_ENDPOINT; tcp://H:0 picks a port */
    size_t max_payload;              /* per message; 0 = MIDA_WIRE_MAX_PAYLOAD_DEFAULT */
    unsigned group_max;              /* batches per fsync at most; 0 = 256 */
    unsigned snapshot_interval_s;    /* snapshot when the log is this old; 0 = 300 */
    size_t snapshot_log_bytes;       /* or this big; 0 = 256 MiB */
    bool no_fsync;                   /* for benchmarks only: acks before the disk has it */
    const char *curve_public_key;    /* the server's key pair (Z85) */
    const char *curve_secret_key;
    const char *const *curve_clients; /* allowed client public keys, NULL-terminated;
                                       * NULL = any client that has the server key */
} mida_integrator_opts_t;

typedef struct mida_integrator_stats {
    uint64_t received;        /* batch messages received (re-sends included) */
    uint64_t applied;         /* batches applied */
    uint64_t duplicates;      /* batches already applied, acknowledged again */
    uint64_t refused;         /* messages refused */
    uint64_t quads_applied;
    uint64_t replayed;        /* batches replayed from the log at start */
    uint64_t log_bytes;       /* size of the current log */
    uint64_t log_batches;     /* batches in the log since the last snapshot */
    uint64_t fsyncs;
    uint64_t snapshots;
    uint64_t senders;         /* senders known */
    int64_t store_triples;
    double lag_seconds;       /* age of the oldest batch not yet in a snapshot */
    double uptime_seconds;
} mida_integrator_stats_t;

/* Replays the store's log and binds.  `store` must be open for writing and
 * outlive the integrator; `ctx` too.  NULL with the reason in err. */
MIDA_EXPORT mida_integrator_t *mida_integrator_new(mida_ctx_t *ctx, mida_store_t *store,
                                                   const mida_integrator_opts_t *opts,
                                                   char *err, size_t errlen);
/* The endpoint bound, with the port chosen (owned by the integrator). */
MIDA_EXPORT const char *mida_integrator_endpoint(const mida_integrator_t *it);
/* Serves until mida_integrator_stop; then applies what it holds, takes a
 * snapshot and returns 0, or an error if the final snapshot failed. */
MIDA_EXPORT int mida_integrator_run(mida_integrator_t *it);
/* Asks run() to return.  Safe from a signal handler and any thread. */
MIDA_EXPORT void mida_integrator_stop(mida_integrator_t *it);
/* Safe from any thread. */
MIDA_EXPORT void mida_integrator_stats(mida_integrator_t *it, mida_integrator_stats_t *out);
/* The counters as a JSON object (a new string, free() it). */
MIDA_EXPORT char *mida_integrator_stats_json(const mida_integrator_stats_t *st);
MIDA_EXPORT void mida_integrator_destroy(mida_integrator_t **self_p);

/* Bytes of write-ahead log in the store's directory that its snapshot does
 * not cover yet: an integrator is running, or one stopped without its
 * final snapshot (the next `mida serve` replays them).  0 when none. */
MIDA_EXPORT long long mida_integrator_log_pending(const mida_store_t *store);

#endif
