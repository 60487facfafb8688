/* mida_results.h - the answer of a query, independent of the engine.
 *
 * The query engine (mida_sparql) fills a result set; writers here turn it
 * into the SPARQL result formats, and a reader turns the JSON format of a
 * remote endpoint's answer (mida_client) back into one.  Keeping results in
 * mida's own terms is what lets the engine be replaced without touching the
 * writers, the CLI or the HTTP endpoint.
 *
 * A result set is one of:
 *   BINDINGS  SELECT: variables (names without '?') and rows; a cell is a
 *             term or unbound (kind MIDA_TERM_NONE; mida_results_get -> NULL)
 *   BOOLEAN   ASK
 *   GRAPH     CONSTRUCT / DESCRIBE: a quad batch (default graph)
 */
#ifndef MIDA_RESULTS_H
#define MIDA_RESULTS_H

typedef struct mida_results mida_results_t;

typedef enum {
    MIDA_RESULTS_BINDINGS = 1,
    MIDA_RESULTS_BOOLEAN,
    MIDA_RESULTS_GRAPH
} mida_results_kind_t;

typedef enum {
    MIDA_RESULTS_TABLE = 1, /* aligned text table for people */
    MIDA_RESULTS_JSON,      /* application/sparql-results+json */
    MIDA_RESULTS_XML,       /* application/sparql-results+xml */
    MIDA_RESULTS_CSV,       /* text/csv (SPARQL 1.1 CSV) */
    MIDA_RESULTS_TSV        /* text/tab-separated-values (SPARQL 1.1 TSV) */
} mida_results_format_t;

/* Constructors.  Caller owns the returned object and must destroy it.
 * `vars` is copied. */
MIDA_EXPORT mida_results_t *mida_results_new_bindings(size_t nvars, const char *const *vars);
MIDA_EXPORT mida_results_t *mida_results_new_boolean(bool value);
/* Takes ownership of *graph_p; sets *graph_p to NULL. */
MIDA_EXPORT mida_results_t *mida_results_new_graph(mida_quads_t **graph_p);
MIDA_EXPORT void mida_results_destroy(mida_results_t **self_p);

/* Appends a row of nvars cells (kind NONE = unbound); the terms are copied.
 * MIDA_ELIMIT once `max_rows` (set below, 0 = no limit) rows are held. */
MIDA_EXPORT int mida_results_add_row(mida_results_t *r, const mida_term_t *cells);
MIDA_EXPORT void mida_results_set_max_rows(mida_results_t *r, size_t max_rows);

MIDA_EXPORT mida_results_kind_t mida_results_kind(const mida_results_t *r);
MIDA_EXPORT size_t mida_results_var_count(const mida_results_t *r);
/* Owned by the result set. */
MIDA_EXPORT const char *mida_results_var_name(const mida_results_t *r, size_t i);
MIDA_EXPORT size_t mida_results_row_count(const mida_results_t *r);
/* The cell, or NULL when unbound or out of range.  Owned by the result set. */
MIDA_EXPORT const mida_term_t *mida_results_get(const mida_results_t *r, size_t row, size_t col);
MIDA_EXPORT bool mida_results_boolean(const mida_results_t *r);
/* The graph of a GRAPH result, owned by the result set. */
MIDA_EXPORT const mida_quads_t *mida_results_graph(const mida_results_t *r);

/* Writes a BINDINGS or BOOLEAN result (CSV/TSV: BOOLEAN is written as a
 * one-cell table, as common endpoints do).  MIDA_EINVAL for a GRAPH result
 * (write those with mida_export_quads). */
MIDA_EXPORT int mida_results_write(const mida_results_t *r, mida_results_format_t format,
                                   FILE *out);
/* Reads a SPARQL 1.1 Query Results JSON document (text[0..len), UTF-8) as
 * a BINDINGS result (head.vars, results.bindings; terms of type "uri",
 * "literal" with "xml:lang" or "datatype", "typed-literal", "bnode";
 * an unbound variable is an absent member) or a BOOLEAN one ("boolean").
 * Variables keep the order of head.vars.  On success *out is a new result
 * set that the caller owns and must destroy.  MIDA_EPARSE with the reason
 * in err ("line 3, column 7: ..." for JSON that does not parse,
 * "results.bindings[4].x: ..." for a term that is not valid); *out is then
 * NULL.  It holds the whole answer in memory: bound the text, and check
 * mida_results_row_count against a row limit afterwards. */
MIDA_EXPORT int mida_results_read_json(const char *text, size_t len, mida_results_t **out,
                                       char *err, size_t errlen);

/* "table", "json", "xml", "csv", "tsv" -> format; MIDA_EINVAL if unknown. */
MIDA_EXPORT int mida_results_format_parse(const char *name, mida_results_format_t *format);
MIDA_EXPORT const char *mida_results_format_name(mida_results_format_t format);
MIDA_EXPORT const char *mida_results_format_media_type(mida_results_format_t format);

#endif
