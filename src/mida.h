/* mida.h - the public interface of libmida.
 *
 * mida captures the provenance of running workflows as W3C PROV-O and keeps
 * it in one queryable graph.  This header is all a program (the `mida` tool,
 * an adapter, a test under tests/api) needs; it includes one header per
 * module, each of which documents its own objects and ownership rules.
 */
#ifndef MIDA_H
#define MIDA_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#  define MIDA_EXPORT __attribute__((visibility("default")))
#  define MIDA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#  define MIDA_EXPORT
#  define MIDA_PRINTF(f, a)
#endif

#define MIDA_VERSION_MAJOR 0
#define MIDA_VERSION_MINOR 1
#define MIDA_VERSION_PATCH 0
#define MIDA_VERSION_STRING "0.1.0"

/* Error codes.  Functions return 0 on success and one of these (negative)
 * on failure; functions returning pointers return NULL.  A code exists only
 * where a caller branches on it; the human reason is kept by the object
 * (`mida_store_errmsg`) or written to a caller's buffer. */
#define MIDA_ERRNO_MAP(X)                                                   \
    X(EINVAL, -1, "invalid argument")                                       \
    X(ENOMEM, -2, "out of memory")                                          \
    X(EIO, -3, "input/output error")                                        \
    X(EPARSE, -4, "syntax error")                                           \
    X(ERECORD, -5, "invalid task record")                                   \
    X(ETOOBIG, -6, "too large")                                             \
    X(ENOTFOUND, -7, "not found")                                           \
    X(EBUSY, -8, "in use by another process")                               \
    X(EQUERY, -9, "query failed")                                           \
    X(EUNSUPPORTED, -10, "not supported")                                   \
    X(ESTORE, -11, "store failure")                                         \
    X(EAGAIN, -12, "try again")                                             \
    X(ELIMIT, -13, "limit exceeded")

typedef enum {
    MIDA_OK = 0,
#define MIDA__ERR_ENUM(name, value, msg) MIDA_##name = value,
    MIDA_ERRNO_MAP(MIDA__ERR_ENUM)
#undef MIDA__ERR_ENUM
} mida_err_t;

/* "invalid argument" etc.; "unknown error" for codes not in the map. */
MIDA_EXPORT const char *mida_strerror(int code);
/* "EINVAL" etc. */
MIDA_EXPORT const char *mida_err_name(int code);

#include "mida_buf.h"
#include "mida_ctx.h"
#include "mida_quads.h"
#include "mida_iri.h"
#include "mida_task.h"
#include "mida_prov.h"
#include "mida_store.h"
#include "mida_linker.h"
#include "mida_results.h"
#include "mida_sparql.h"
#include "mida_client.h"
#include "mida_jsonld.h"
#include "mida_export.h"
#include "mida_wire.h"
#include "mida_emitter.h"
#include "mida_telemetry.h"
#include "mida_capture.h"
#include "mida_integrator.h"
#include "mida_httpd.h"
#include "mida_observer.h"

#ifdef __cplusplus
}
#endif
#endif /* MIDA_H */
