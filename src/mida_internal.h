/* mida_internal.h - what modules share and programs must not use.
 * Internal non-static functions are named mida__<noun>_<verb>.
 */
#ifndef MIDA_INTERNAL_H
#define MIDA_INTERNAL_H

#include "mida.h"

#include <time.h>

#include <assert.h>

/* ---- vocabularies (ARCHITECTURE 3.3) ------------------------------- */
#define MIDA_NS_RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define MIDA_NS_RDFS "http://www.w3.org/2000/01/rdf-schema#"
#define MIDA_NS_XSD "http://www.w3.org/2001/XMLSchema#"
#define MIDA_NS_OWL "http://www.w3.org/2002/07/owl#"
#define MIDA_NS_PROV "http://www.w3.org/ns/prov#"
#define MIDA_NS_PROVONE "http://purl.dataone.org/provone/2015/01/15/ontology#"
#define MIDA_NS_DCT "http://purl.org/dc/terms/"
#define MIDA_NS_MIDA "https://w3id.org/mida/ns#"

#define RDF_(local) MIDA_NS_RDF local
#define XSD_(local) MIDA_NS_XSD local
#define PROV_(local) MIDA_NS_PROV local
#define PROVONE_(local) MIDA_NS_PROVONE local
#define MIDA_(local) MIDA_NS_MIDA local

/* ---- logging ------------------------------------------------------- */
void mida__log(mida_ctx_t *ctx, mida_log_level_t level, mida_facility_t facility,
               int code, const mida_locator_t *where, const char *fmt, ...)
    MIDA_PRINTF(6, 7);
bool mida__log_enabled(const mida_ctx_t *ctx, mida_log_level_t level);

/* The raptor world shared by every parser and serializer of this context,
 * created on first use.  Returned as void * so that modules that do not
 * parse need not include raptor.  NULL on failure. */
void *mida__ctx_raptor(mida_ctx_t *ctx);

/* ---- store internals, for the query engine ------------------------- */
/* The Redland world and model behind a store (librdf_world *, librdf_model *).
 * Only mida_store and the query engine (mida_sparql) use librdf. */
void *mida__store_world(mida_store_t *store);
void *mida__store_model(mida_store_t *store);
/* Serialises access: the engine holds it while it reads. */
void mida__store_lock(mida_store_t *store);
void mida__store_unlock(mida_store_t *store);
mida_ctx_t *mida__store_ctx(mida_store_t *store);
/* A Redland node (librdf_node *) as a mida term; the strings belong to
 * the node. */
void mida__store_node_term(void *node, mida_term_t *t);

/* ---- files (mida_file.c) ------------------------------------------- */
/* fsync of a directory, after a rename or create in it.  0 or -1 (errno). */
int mida__file_fsync_dir(const char *dir);
/* mkdir -p with `mode` for the directories it creates.  0 or -1 (errno). */
int mida__file_mkdir_p(const char *dir, unsigned mode);
/* Appends `len` bytes to the O_APPEND descriptor `fd` and, when `sync`,
 * fdatasyncs them: all or nothing.  On failure (-1, errno set) what was
 * written is cut off again so that the next append starts on a clean
 * boundary; *torn (may be NULL) is set when even that failed. */
int mida__file_append(int fd, const void *data, size_t len, bool sync, bool *torn);

/* ---- misc ---------------------------------------------------------- */
#define MIDA_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Seconds on the monotonic clock. */
static inline double mida__mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Big-endian 32-bit integers (the wire header, the log's entry heads). */
static inline void mida__put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t mida__get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
