/* mida_emitter.h - sending task records to the integrator (ARCHITECTURE 1,
 * 4).  Adapters and the capture API hand records to an emitter; it maps
 * them to PROV-O with the spine's mapper and ships them, in batches, over
 * a ZeroMQ DEALER socket, from a background thread.
 *
 * The caller's thread only copies the record into a queue (no parsing, no
 * I/O): mida_emitter_send costs a lock and a copy.  The background thread
 *   - asks the integrator for its mapping settings (base IRI, location
 *     aliases, promotion: they belong to the store) before mapping anything;
 *   - validates and maps each record (a record that is not valid is logged
 *     with the reason and counted as refused; the others go on);
 *   - sends a batch when it holds `batch_records` records or its oldest
 *     record is `batch_age_ms` old, or on mida_emitter_flush;
 *   - keeps every batch until the integrator acknowledges it (the ack comes
 *     after the batch is in the integrator's write-ahead log) and re-sends
 *     it after a reconnect, or when the integrator has answered nothing
 *     for `ack_timeout_ms` (a busy integrator that acknowledges other
 *     batches is waited for);
 *   - when there has been no connection to the integrator (ZeroMQ
 *     heartbeats notice a dead one within seconds) for `spool_after_ms`
 *     while records wait, appends the waiting records (as JSON lines) to its
 *     spool file in the spool directory, fsyncs it and frees their memory;
 *     once the integrator answers again the spool files of the directory
 *     are read back and sent (its own, and those left by emitters that
 *     ended without delivering: a live emitter holds a lock on its file),
 *     and each is removed when all its records are acknowledged.
 *
 * Full buffers.  The records in memory (queued or unacknowledged) are
 * bounded by `max_buffered_bytes`.  When a record does not fit, the caller
 * waits at most `block_ms` for room (0: not at all), then the record is
 * dropped, counted, and mida_emitter_send returns MIDA_EAGAIN: the
 * observed program is never blocked longer than that bound.  (Policy:
 * bounded block, then drop-newest; spooling happens on the background
 * thread when the integrator is away, which is what normally frees room.)
 *
 * Delivery is at-least-once; the integrator drops batches it has already
 * applied, and applying a record twice changes nothing.
 *
 * Thread safety: mida_emitter_send, _flush and _stats may be called from
 * any thread; _close from one thread, once, after the others are done.
 */
#ifndef MIDA_EMITTER_H
#define MIDA_EMITTER_H

/* The endpoint when neither an option nor MIDA_ENDPOINT gives one. */
#define MIDA_DEFAULT_ENDPOINT "tcp://127.0.0.1:7879"

typedef struct mida_emitter mida_emitter_t;

typedef struct mida_emitter_opts {
    const char *endpoint;       /* NULL: $MIDA_ENDPOINT, then MIDA_DEFAULT_ENDPOINT */
    size_t batch_records;       /* records per batch; 0 = 256 */
    unsigned batch_age_ms;      /* send a partial batch this old; 0 = 50 */
    size_t max_buffered_bytes;  /* records held in memory; 0 = 64 MiB */
    unsigned block_ms;          /* longest wait of a send for room; 0 = none */
    unsigned ack_timeout_ms;    /* re-send after this without ack; 0 = 30000 */
    unsigned spool_after_ms;    /* spool after this long disconnected; 0 = 10000 */
    const char *spool_dir;      /* NULL: $MIDA_SPOOL_DIR, then
                                 * ${TMPDIR:-/tmp}/mida-spool-<uid> */
    bool no_deflate;            /* send payloads uncompressed */
    size_t max_payload;         /* bytes per message; 0 = MIDA_WIRE_MAX_PAYLOAD_DEFAULT */
    /* CURVE (all three, or none): the integrator's public key and this
     * client's key pair, Z85 text (40 characters).  When none is given:
     * $MIDA_CURVE_SERVER_KEY and the secret key in the file named by
     * $MIDA_CURVE_KEY_FILE (the public key is derived from it). */
    const char *curve_server_key, *curve_public_key, *curve_secret_key;
} mida_emitter_opts_t;

typedef struct mida_emitter_stats {
    uint64_t accepted;        /* records taken by mida_emitter_send */
    uint64_t dropped;         /* records refused with MIDA_EAGAIN (buffers full) */
    uint64_t invalid;         /* records not valid (logged, not sent) */
    uint64_t acked;           /* records in acknowledged batches */
    uint64_t refused;         /* records in batches the integrator refused */
    uint64_t pending;         /* records queued, in flight or spooled */
    uint64_t spooled;         /* records written to the spool (total) */
    uint64_t batches_sent;    /* batches sent, re-sends included */
    uint64_t batches_resent;
    uint64_t quads_acked;
    bool connected;           /* connected to the integrator now */
} mida_emitter_stats_t;

/* Starts an emitter and its thread.  `ctx` may be NULL (logs go to
 * stderr at warn level); when given it must outlive the emitter.  The
 * connection is made in the background: an integrator that is not up yet
 * is not an error.  NULL with the reason in err on bad options. */
MIDA_EXPORT mida_emitter_t *mida_emitter_new(mida_ctx_t *ctx, const mida_emitter_opts_t *opts,
                                             char *err, size_t errlen);
/* Queues one task record (JSON text, ARCHITECTURE 3.1; `len` bytes, or
 * strlen when len is 0).  0; MIDA_EAGAIN when no room was made within
 * block_ms (the record is dropped and counted); MIDA_EINVAL for NULL or
 * empty text or a closed emitter.  Validity is checked later, off the
 * caller's thread. */
MIDA_EXPORT int mida_emitter_send(mida_emitter_t *em, const char *json, size_t len);
/* Sends what is queued now and waits until everything accepted so far is
 * acknowledged (or refused), at most timeout_ms.  0, or MIDA_EAGAIN on
 * timeout. */
MIDA_EXPORT int mida_emitter_flush(mida_emitter_t *em, unsigned timeout_ms);
MIDA_EXPORT void mida_emitter_stats(mida_emitter_t *em, mida_emitter_stats_t *out);
/* The endpoint in use (owned by the emitter). */
MIDA_EXPORT const char *mida_emitter_endpoint(const mida_emitter_t *em);
/* Flushes, waits for acknowledgements up to timeout_ms, stops the thread
 * and frees the emitter.  Records still unacknowledged are appended to the
 * spool file (replayed by the next emitter using the same spool dir).
 * 0 if everything was acknowledged, MIDA_EAGAIN if some records were
 * spooled, MIDA_EIO if some could not even be spooled (logged). */
MIDA_EXPORT int mida_emitter_close(mida_emitter_t **self_p, unsigned timeout_ms);

/* Asks the integrator at `endpoint` (NULL: $MIDA_ENDPOINT, then the
 * default; CURVE from the environment as above) for its counters: JSON
 * text in *json_out, to free().  MIDA_EAGAIN if no answer came within
 * timeout_ms, MIDA_EINVAL/MIDA_EIO with the reason in err. */
MIDA_EXPORT int mida_emitter_query_status(const char *endpoint, unsigned timeout_ms,
                                          char **json_out, char *err, size_t errlen);

/* Reads a CURVE secret key (Z85, 40 characters; blank lines and lines
 * starting with '#' skipped) from `path` into secret, and derives the
 * public key.  0, or MIDA_EIO / MIDA_EPARSE with the reason in err. */
MIDA_EXPORT int mida_curve_read_secret(const char *path, char secret[41], char public_key[41],
                                       char *err, size_t errlen);

/* A new CURVE key pair, Z85.  0, or MIDA_EUNSUPPORTED when libzmq has no
 * CURVE. */
MIDA_EXPORT int mida_curve_keypair(char public_key[41], char secret[41]);
/* Whether `z85` is a CURVE key as text (40 Z85 characters). */
MIDA_EXPORT bool mida_curve_key_valid(const char *z85);

#endif
