/* mida_ctx.h - the library context: log handler and shared parser state.
 *
 * One context per program (or per thread that uses mida on its own); there
 * are no hidden globals.  The library never prints: every diagnostic goes
 * to the handler set here, with its level, facility, code and, where the
 * problem is in an input, a locator (file, line, column).
 */
#ifndef MIDA_CTX_H
#define MIDA_CTX_H

typedef struct mida_ctx mida_ctx_t;

typedef enum {
    MIDA_LOG_DEBUG = 0,
    MIDA_LOG_INFO,
    MIDA_LOG_WARN,
    MIDA_LOG_ERROR
} mida_log_level_t;

typedef enum {
    MIDA_FROM_CORE = 0,
    MIDA_FROM_TASK,     /* task-record parsing and validation */
    MIDA_FROM_MAPPER,   /* task record -> PROV-O */
    MIDA_FROM_STORE,
    MIDA_FROM_QUERY,
    MIDA_FROM_EXPORT,
    MIDA_FROM_PARSER,   /* RDF input files */
    MIDA_FROM_ADAPTER,
    MIDA_FROM_WIRE,
    MIDA_FROM_HTTP
} mida_facility_t;

/* Where in an input a problem was found; unknown parts are NULL / -1. */
typedef struct mida_locator {
    const char *file;   /* input name as the user gave it */
    long line;          /* 1-based */
    long column;        /* 1-based */
    const char *field;  /* record field, e.g. "used.lr" */
} mida_locator_t;

typedef void (*mida_log_fn)(void *user_data, mida_log_level_t level,
                            mida_facility_t facility, int code,
                            const mida_locator_t *where, const char *message);

/* Caller owns the returned object and must destroy it.  NULL on ENOMEM. */
MIDA_EXPORT mida_ctx_t *mida_ctx_new(void);
MIDA_EXPORT void mida_ctx_destroy(mida_ctx_t **self_p);
/* Messages below `min_level` are dropped before they are formatted. */
MIDA_EXPORT void mida_ctx_set_log(mida_ctx_t *ctx, mida_log_fn fn, void *user_data,
                                  mida_log_level_t min_level);

MIDA_EXPORT const char *mida_log_level_name(mida_log_level_t level);
/* The level named by $MIDA_LOG_LEVEL (debug, info, warn, error), or
 * `fallback` when it is unset or names none of them. */
MIDA_EXPORT mida_log_level_t mida_log_level_from_env(mida_log_level_t fallback);
MIDA_EXPORT const char *mida_facility_name(mida_facility_t facility);

#endif
