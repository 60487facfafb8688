/* mida_store.h - mida's interface to the triple store (ARCHITECTURE 5).
 *
 * A store lives in a directory.  Callers see only this interface, so the
 * storage can change without touching them.  Back ends, chosen when the
 * directory is created:
 *
 *   "memory"  (default) Redland's in-memory `trees` storage, persisted as
 *             DIR/snapshot.nt by mida_store_snapshot (write to a temporary
 *             file, fsync, rename): a crash leaves the previous snapshot.
 *             Chosen by measurement: `trees` answers pattern lookups about
 *             1000x faster than `hashes` on this workload.
 *   "bdb"     Redland's `hashes` storage over Berkeley DB files in DIR, for
 *             graphs larger than memory; every change goes to disk.
 *
 * The stock Redland storages keep one graph (ARCHITECTURE 3.3): the graph
 * of a quad is accepted and not stored.
 *
 * DIR/store.json holds the format version, the back end and the settings
 * that must stay fixed for the life of the store (mida_store_meta_*).
 * A writer holds an exclusive lock on DIR/lock; a second writer gets
 * MIDA_EBUSY.  Readers take no lock: they read the last snapshot.
 */
#ifndef MIDA_STORE_H
#define MIDA_STORE_H

typedef struct mida_store mida_store_t;

enum {
    MIDA_STORE_READONLY = 0,
    MIDA_STORE_WRITE = 1 << 0,  /* open for writing (exclusive) */
    MIDA_STORE_CREATE = 1 << 1  /* create the directory/store if missing */
};

typedef struct mida_store_opts {
    unsigned flags;
    const char *backend;        /* for a new store: "memory" (NULL) or "bdb" */
} mida_store_opts_t;

/* Opens (or creates) the store in `dir`.  Caller owns the returned object
 * and must close it.  NULL on failure, with the reason in err. */
MIDA_EXPORT mida_store_t *mida_store_open(mida_ctx_t *ctx, const char *dir,
                                          const mida_store_opts_t *opts, char *err,
                                          size_t errlen);
/* Closes the store.  Changes not yet snapshotted (memory back end) are
 * dropped: call mida_store_snapshot first to keep them. */
MIDA_EXPORT void mida_store_close(mida_store_t **self_p);

/* The reason for the last failure; owned by the store. */
MIDA_EXPORT const char *mida_store_errmsg(const mida_store_t *store);
MIDA_EXPORT const char *mida_store_dir(const mida_store_t *store);
MIDA_EXPORT const char *mida_store_backend(const mida_store_t *store);
MIDA_EXPORT bool mida_store_writable(const mida_store_t *store);

/* Adds one triple (the quad's graph is not kept); adding a triple that is
 * already there changes nothing. */
MIDA_EXPORT int mida_store_add(mida_store_t *store, const mida_quad_t *quad);
MIDA_EXPORT int mida_store_add_quads(mida_store_t *store, const mida_quads_t *quads);
/* Removes every triple matching the pattern (NULL = any).  Returns the
 * number removed, or a negative error. */
MIDA_EXPORT long mida_store_remove(mida_store_t *store, const mida_term_t *s,
                                   const mida_term_t *p, const mida_term_t *o);

/* Called for each matching triple; the terms are valid during the call
 * only.  Return non-zero to stop. */
typedef int (*mida_store_match_fn)(void *user_data, const mida_term_t *s,
                                   const mida_term_t *p, const mida_term_t *o);
/* Calls fn for each triple matching the pattern (NULL = any).  Returns 0,
 * or fn's non-zero value if it stopped the walk, or a negative error. */
MIDA_EXPORT int mida_store_match(mida_store_t *store, const mida_term_t *s,
                                 const mida_term_t *p, const mida_term_t *o,
                                 mida_store_match_fn fn, void *user_data);
MIDA_EXPORT bool mida_store_contains(mida_store_t *store, const mida_term_t *s,
                                     const mida_term_t *p, const mida_term_t *o);
/* Number of triples; negative on error. */
MIDA_EXPORT long mida_store_size(mida_store_t *store);

/* A group of changes.  The stock back ends apply changes as they come;
 * begin/commit mark the group so that back ends with transactions can
 * make it atomic. */
MIDA_EXPORT int mida_store_begin(mida_store_t *store);
MIDA_EXPORT int mida_store_commit(mida_store_t *store);

/* Persists the graph (memory back end: DIR/snapshot.nt, atomically;
 * bdb: sync), then the settings (store.json, atomically).  MIDA_EINVAL on
 * a read-only store. */
MIDA_EXPORT int mida_store_snapshot(mida_store_t *store);

/* Settings kept in DIR/store.json.  get: owned by the store, NULL if
 * unset.  set: copied; saved by the next snapshot. */
MIDA_EXPORT const char *mida_store_meta_get(const mida_store_t *store, const char *key);
MIDA_EXPORT int mida_store_meta_set(mida_store_t *store, const char *key, const char *value);

#endif
