/* mida_observer.h - polling adapters and the observer that runs them.
 *
 * An adapter knows one tool (MLflow, Parsl, ...): it reads what the tool
 * already writes (a database, files, a REST API) and turns it into task
 * records (docs/records.md).  It never touches the store.  The observer
 * runs one adapter: it gives it its options, keeps its cursor, hands each
 * record to a sink (the emitter, a store, a JSON-lines file), and persists
 * the cursor only once the sink holds everything reported before it.
 *
 * An adapter is a versioned table of functions (as librdf's storage
 * modules are).  One poll (`observe`) reports what is new since the cursor
 * through mida_observer_emit, then hands the observer its new cursor with
 * mida_observer_set_cursor.  The cursor is the adapter's own text (JSON by
 * convention: rowids, file offsets, ids seen); the observer stores it in
 * STATE_DIR/<adapter>-<source hash>.cursor atomically and gives it back to
 * the next process watching the same source (mida_observer_cursor), so a
 * restarted observer neither re-sends everything nor misses what happened
 * while it was down.  Re-sending is harmless (records apply idempotently);
 * missing is not, so an adapter sets the cursor only past what it has
 * emitted.
 *
 * Sources are opened read-only.  A record the adapter cannot understand is
 * reported with mida_observer_skip (its location and the reason) and
 * polling goes on.
 *
 * Thread safety: one observer is used from one thread.
 */
#ifndef MIDA_OBSERVER_H
#define MIDA_OBSERVER_H

/* The version of the table below.  An adapter built for another version
 * is refused by mida_observer_new. */
#define MIDA_ADAPTER_ABI 1

typedef struct mida_observer mida_observer_t;

/* One option of an adapter, shown by `mida observe ADAPTER --help` and
 * given as --NAME VALUE (or --NAME alone when `arg` is NULL: the value is
 * then "1").  A table ends with a NULL name. */
typedef struct mida_adapter_option {
    const char *name;      /* "db" */
    const char *arg;       /* "PATH"; NULL for a flag */
    const char *help;      /* one line */
    bool required;
} mida_adapter_option_t;

typedef struct mida_adapter {
    int abi;                              /* MIDA_ADAPTER_ABI */
    const char *name;                     /* "mlflow": the command-line name */
    const char *summary;                  /* one line */
    const char *source_option;            /* the option naming the source
                                           * ("db"): identifies the cursor */
    const mida_adapter_option_t *options; /* ends with {NULL} */
    /* Opens the source (read-only) and reads the options and the saved
     * cursor from `obs`.  *state is the adapter's; 0; MIDA_EAGAIN when the
     * source is not there yet (init is called again later; close is
     * called first); or an error code with the reason in err (the
     * observer stops). */
    int (*init)(mida_observer_t *obs, void **state, char *err, size_t errlen);
    /* One poll: mida_observer_emit for each record, then
     * mida_observer_set_cursor.  0; MIDA_EAGAIN when the source is busy
     * or not there yet (the next poll tries again); another code with the
     * reason in err when the source cannot be read any more (the observer
     * stops). */
    int (*observe)(void *state, mida_observer_t *obs, char *err, size_t errlen);
    /* Frees everything; state may be NULL. */
    void (*close)(void *state);
} mida_adapter_t;

/* Receives each record (JSON text, `len` bytes).  0, or an error code:
 * the observer counts the record as not delivered and the poll fails, so
 * the cursor is not saved past it. */
typedef int (*mida_observer_sink_fn)(void *user_data, const char *json, size_t len);

typedef struct mida_observer_opts {
    const char *state_dir;    /* where cursors are kept; NULL: no cursor is
                               * loaded or saved (every run starts afresh) */
    bool from_start;          /* ignore a saved cursor (it is overwritten) */
    const char *campaign_id;  /* added to records that have none */
    mida_observer_sink_fn sink;
    void *sink_data;
} mida_observer_opts_t;

typedef struct mida_observer_stats {
    uint64_t polls;           /* observe calls */
    uint64_t busy;            /* polls that found the source busy */
    uint64_t records;         /* records emitted */
    uint64_t skipped;         /* source items skipped (mida_observer_skip) */
    uint64_t sink_failures;   /* records the sink refused */
    uint64_t cursor_saves;
} mida_observer_stats_t;

/* A new observer for `adapter`; nothing is opened yet.  NULL with the
 * reason in err (wrong ABI, no sink). */
MIDA_EXPORT mida_observer_t *mida_observer_new(mida_ctx_t *ctx, const mida_adapter_t *adapter,
                                               const mida_observer_opts_t *opts, char *err,
                                               size_t errlen);
MIDA_EXPORT void mida_observer_destroy(mida_observer_t **self_p);
/* Sets an adapter option (copied).  MIDA_ENOTFOUND for a name the adapter
 * does not declare. */
MIDA_EXPORT int mida_observer_set_option(mida_observer_t *obs, const char *name,
                                         const char *value);
/* Checks the required options, takes the cursor file's lock (another
 * observer of the same source is refused with MIDA_EBUSY), loads the
 * cursor and calls the adapter's init.  0, or a code with the reason.
 * MIDA_EAGAIN when the adapter says its source is not there yet (a
 * database the tool has not created): call it again later. */
MIDA_EXPORT int mida_observer_start(mida_observer_t *obs, char *err, size_t errlen);
/* One poll.  0; MIDA_EAGAIN when the source was busy (nothing is lost:
 * try later); another code with the reason when the adapter cannot go
 * on.  *emitted counts the records of this poll. */
MIDA_EXPORT int mida_observer_poll(mida_observer_t *obs, size_t *emitted, char *err,
                                   size_t errlen);
/* Saves the cursor the adapter set, when it changed: call once the sink
 * holds every record emitted so far (acknowledged, in a saved store,
 * written).  0, or MIDA_EIO with the reason. */
MIDA_EXPORT int mida_observer_commit(mida_observer_t *obs, char *err, size_t errlen);
MIDA_EXPORT void mida_observer_stats(const mida_observer_t *obs, mida_observer_stats_t *out);
/* The cursor file ("" without a state dir). */
MIDA_EXPORT const char *mida_observer_cursor_path(const mida_observer_t *obs);

/* --- for adapters ------------------------------------------------------ */

/* The option's value, or NULL when not given. */
MIDA_EXPORT const char *mida_observer_option(const mida_observer_t *obs, const char *name);
/* The cursor saved by the last observer of this source, or the one set
 * since; NULL when there is none (start from the beginning). */
MIDA_EXPORT const char *mida_observer_cursor(const mida_observer_t *obs);
/* Sets the cursor (copied) that covers every record emitted before it. */
MIDA_EXPORT int mida_observer_set_cursor(mida_observer_t *obs, const char *cursor);
/* Hands one record (a JSON object, `len` bytes or strlen when 0) to the
 * sink; adds `campaign_id` and `adapter_id` ("mida-observe/<adapter>")
 * when the record has none.  0, or the sink's error. */
MIDA_EXPORT int mida_observer_emit(mida_observer_t *obs, const char *json, size_t len);
/* Logs that the item at `where` (e.g. "runs rowid 12", "task.000003.prof:41")
 * was skipped and why; counted in the stats.  Polling goes on. */
MIDA_EXPORT void mida_observer_skip(mida_observer_t *obs, const char *where, const char *fmt, ...)
    MIDA_PRINTF(3, 4);
/* Logs at `level` under the adapter's name. */
MIDA_EXPORT void mida_observer_log(mida_observer_t *obs, mida_log_level_t level, const char *fmt,
                                   ...) MIDA_PRINTF(3, 4);

#endif /* MIDA_OBSERVER_H */
