/* mida_quads.h - RDF terms and batches of quads.
 *
 * A quad batch is what the mapper produces, what travels on the wire, what
 * the linker applies to the store and what the exporters write.  It copies
 * every string it is given into its own arena, so terms stay valid until
 * the batch is cleared or destroyed.
 *
 * Terms:
 *   kind      value                datatype            lang
 *   IRI       absolute IRI         NULL                NULL
 *   BLANK     label without "_:"   NULL                NULL
 *   LITERAL   lexical form (UTF-8) IRI or NULL (=xsd:string)   tag or NULL
 *
 * A quad's graph is an IRI or NULL for the default graph.
 */
#ifndef MIDA_QUADS_H
#define MIDA_QUADS_H

typedef enum {
    MIDA_TERM_NONE = 0, /* unbound (in result rows) */
    MIDA_TERM_IRI,
    MIDA_TERM_BLANK,
    MIDA_TERM_LITERAL
} mida_term_kind_t;

typedef struct mida_term {
    mida_term_kind_t kind;
    const char *value;
    const char *datatype; /* literals only; NULL means xsd:string */
    const char *lang;     /* literals only; NULL or a language tag */
} mida_term_t;

typedef struct mida_quad {
    mida_term_t s, p, o;
    const char *graph;    /* IRI of the named graph, NULL = default graph */
} mida_quad_t;

typedef struct mida_quads mida_quads_t;

/* Term constructors: they do not copy; the strings must outlive the term. */
MIDA_EXPORT mida_term_t mida_term_iri(const char *iri);
MIDA_EXPORT mida_term_t mida_term_blank(const char *label);
MIDA_EXPORT mida_term_t mida_term_literal(const char *lexical, const char *datatype,
                                          const char *lang);
/* Same kind, value, datatype (NULL and xsd:string are equal) and lang. */
MIDA_EXPORT bool mida_term_equal(const mida_term_t *a, const mida_term_t *b);
/* A total order: kind, then value, datatype, lang (byte order). */
MIDA_EXPORT int mida_term_compare(const mida_term_t *a, const mida_term_t *b);
/* Appends the N-Triples form of the term (<iri>, _:b, "lex"^^<dt>, "lex"@en). */
MIDA_EXPORT int mida_term_format_nt(const mida_term_t *t, mida_buf_t *out);
/* Appends one N-Quads line "S P O [G] .\n" (G only when graph is not
 * NULL; without it the line is N-Triples). */
MIDA_EXPORT int mida_quad_format_nq(const mida_term_t *s, const mida_term_t *p,
                                    const mida_term_t *o, const char *graph, mida_buf_t *out);
/* Appends s with N-Triples string escapes (without the quotes). */
MIDA_EXPORT int mida_nt_escape(const char *s, mida_buf_t *out);

/* Caller owns the returned batch and must destroy it.  NULL on ENOMEM. */
MIDA_EXPORT mida_quads_t *mida_quads_new(void);
MIDA_EXPORT void mida_quads_destroy(mida_quads_t **self_p);
/* Removes every quad and frees the strings they held. */
MIDA_EXPORT void mida_quads_clear(mida_quads_t *q);
/* Appends one quad.  The terms and graph are copied; caller keeps ownership.
 * MIDA_EINVAL for a missing subject/predicate/object. */
MIDA_EXPORT int mida_quads_add(mida_quads_t *q, const mida_term_t *s, const mida_term_t *p,
                               const mida_term_t *o, const char *graph);
MIDA_EXPORT int mida_quads_add_quad(mida_quads_t *q, const mida_quad_t *quad);
/* Drops the quads after the first `count` (their strings stay allocated
 * until the batch is cleared). */
MIDA_EXPORT void mida_quads_truncate(mida_quads_t *q, size_t count);
/* Appends every quad of `from`. */
MIDA_EXPORT int mida_quads_append(mida_quads_t *q, const mida_quads_t *from);
MIDA_EXPORT size_t mida_quads_count(const mida_quads_t *q);
/* The i-th quad, owned by the batch, valid until it is cleared. */
MIDA_EXPORT const mida_quad_t *mida_quads_get(const mida_quads_t *q, size_t i);
/* Sorts by graph, subject, predicate, object and removes exact duplicates. */
MIDA_EXPORT void mida_quads_sort_unique(mida_quads_t *q);
/* Writes the batch as N-Quads (with_graph) or N-Triples. */
MIDA_EXPORT int mida_quads_write_nquads(const mida_quads_t *q, FILE *out, bool with_graph);

/* Parses an RDF document into the batch.  `syntax` is a raptor parser name
 * ("turtle", "ntriples", "nquads", "trig", "rdfxml") or NULL to choose by
 * the file name's extension (see mida_quads_syntax_for_name).  `name` is
 * used in messages and as the base IRI when `base` is NULL.  Errors go to
 * the context's log with file and line; `err` (may be NULL) gets the first
 * one.  Returns MIDA_EPARSE if the document has errors (quads read before
 * the first error stay in the batch), MIDA_EIO if it cannot be read. */
MIDA_EXPORT int mida_quads_parse_file(mida_ctx_t *ctx, mida_quads_t *q, FILE *in,
                                      const char *name, const char *syntax,
                                      const char *base, char *err, size_t errlen);
/* Parses N-Quads text (`len` bytes, UTF-8) into the batch, strictly, by
 * the W3C N-Quads grammar (graph names must be IRIs).  Used for the wire's
 * payloads: the integrator's hot path, so it does not go through raptor.
 * MIDA_EPARSE with "line N: reason" in err; on failure nothing is added. */
MIDA_EXPORT int mida_quads_parse_nquads(mida_quads_t *q, const char *text, size_t len,
                                        char *err, size_t errlen);
/* The raptor parser name for a file name's extension (.ttl .nt .nq .trig
 * .rdf .owl .xml), or NULL when the extension is not an RDF syntax. */
MIDA_EXPORT const char *mida_quads_syntax_for_name(const char *name);

#endif
