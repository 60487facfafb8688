/* mida_sparql.h - the query engine interface (ARCHITECTURE 6).
 *
 * Everything that answers SPARQL goes through these calls, so the engine
 * behind them (today rasqal 0.9.33 through Redland) can be replaced by
 * mida's own without touching the CLI or the endpoint.
 *
 *   q = mida_query_prepare(store, text, base, err, len)   parse, or say why not
 *   mida_query_execute(q, &limits, &results, err, len)    run it
 *   mida_query_destroy(&q)
 *
 * Errors name their position: "line 3: syntax error, unexpected '/'".  A
 * query that uses a SPARQL 1.1 feature this engine lacks (property paths, MINUS,
 * EXISTS / NOT EXISTS) fails with MIDA_EUNSUPPORTED naming the feature.
 */
#ifndef MIDA_SPARQL_H
#define MIDA_SPARQL_H

typedef struct mida_query mida_query_t;

typedef enum {
    MIDA_QUERY_SELECT = 1,
    MIDA_QUERY_ASK,
    MIDA_QUERY_CONSTRUCT,
    MIDA_QUERY_DESCRIBE
} mida_query_kind_t;

typedef struct mida_query_limits {
    size_t max_rows;     /* rows (SELECT) or triples (CONSTRUCT); 0 = none */
    double timeout_s;    /* wall time; 0 = none */
} mida_query_limits_t;

/* Parses `text`.  `base` resolves relative IRIs (NULL: none).  Caller owns
 * the returned query and must destroy it; NULL on failure with the reason
 * in err and, if rc is not NULL, the code in *rc (MIDA_EPARSE,
 * MIDA_EUNSUPPORTED, MIDA_ENOMEM). */
MIDA_EXPORT mida_query_t *mida_query_prepare(mida_store_t *store, const char *text,
                                             const char *base, int *rc, char *err,
                                             size_t errlen);
MIDA_EXPORT mida_query_kind_t mida_query_kind(const mida_query_t *q);
/* Runs the query.  On success *out is a new result set that the caller
 * owns.  MIDA_ELIMIT when a limit is reached: the partial answer is
 * discarded, never returned as if whole. */
MIDA_EXPORT int mida_query_execute(mida_query_t *q, const mida_query_limits_t *limits,
                                   mida_results_t **out, char *err, size_t errlen);
MIDA_EXPORT void mida_query_destroy(mida_query_t **self_p);

/* SPARQL 1.1 Update, the data forms only: INSERT DATA and DELETE DATA
 * (several, separated by ';').  Parses the whole of `text` first; then
 * calls `fn` once per operation, in order, with insert = true for INSERT
 * DATA, and the operation's triples (owned by the parser, valid during the
 * call).  Nothing is changed by this call itself.  MIDA_EPARSE for a
 * syntax error, MIDA_EUNSUPPORTED (naming it) for any other operation
 * (DELETE/INSERT WHERE, CLEAR, LOAD, DROP...) or for GRAPH in the data;
 * otherwise the first non-zero return of `fn`, which stops the calls. */
typedef int (*mida_update_fn)(void *user_data, bool insert, const mida_quads_t *triples);
MIDA_EXPORT int mida_update_parse(mida_store_t *store, const char *text, const char *base,
                                  mida_update_fn fn, void *user_data, char *err, size_t errlen);

/* Prepare, execute and destroy in one call. */
MIDA_EXPORT int mida_sparql_run(mida_store_t *store, const char *text,
                                const mida_query_limits_t *limits, mida_results_t **out,
                                char *err, size_t errlen);

#endif
