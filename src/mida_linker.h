/* mida_linker.h - applying a batch of quads to the store (ARCHITECTURE
 * 3.4, 3.5).  The one code path by which records reach the store: `mida
 * ingest` uses it now, the integrator uses it for every batch it receives.
 *
 * For each quad, in order:
 *   - mida:status only moves forward (SUBMITTED < WAITING < RUNNING <
 *     FINISHED = ERROR); a status of lower or equal rank than the one
 *     stored is dropped, so the first terminal status stays;
 *   - a single-valued property (owl:FunctionalProperty in ontology/mida.ttl)
 *     replaces the value stored for the same subject;
 *   - any other triple is added (adding it again changes nothing).
 * Then the derived links, for every data entity (provone:Data) the batch
 * uses or generates, whichever record arrived first:
 *   - generated data  prov:wasDerivedFrom  data used by the same task;
 *   - task  prov:wasInformedBy  the task that generated data it used;
 *   - workflow run  prov:wasInformedBy  workflow run, when those tasks
 *     belong to different runs.
 * Applying the same batch twice changes nothing.
 */
#ifndef MIDA_LINKER_H
#define MIDA_LINKER_H

typedef struct mida_apply_stats {
    size_t quads;        /* quads in the batch */
    size_t replaced;     /* single values replaced */
    size_t stale;        /* status updates dropped as not moving forward */
    size_t derived;      /* derived links added (not already present) */
} mida_apply_stats_t;

/* Applies `batch` to `store`, which must be writable.  `stats` may be NULL;
 * its counts are added to.  On failure the reason is in
 * mida_store_errmsg(store); the quads before the failing one are applied. */
MIDA_EXPORT int mida_linker_apply(mida_store_t *store, const mida_quads_t *batch,
                                  mida_apply_stats_t *stats);

/* The single-valued properties, NULL-terminated. */
MIDA_EXPORT const char *const *mida_linker_functional_properties(void);

#endif
