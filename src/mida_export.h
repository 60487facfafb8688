/* mida_export.h - writing graphs in the standard RDF syntaxes.
 *
 *   format    media type               writer
 *   turtle    text/turtle              mida (raptor 2.0.15 writes doubles as decimals)
 *   ntriples  application/n-triples    raptor
 *   nquads    application/n-quads      raptor
 *   trig      application/trig         mida (raptor 2.0.15 has none)
 *   rdfxml    application/rdf+xml      raptor
 *   jsonld    application/ld+json      mida_jsonld (raptor has none)
 *
 * Turtle, TriG and JSON-LD use the prefixes of mida_iri_prefixes(), which
 * are also those of ontology/context.jsonld.
 *
 * Exporting a store assigns each triple the graph of its subject
 * (mida_prov_graph_of: the workflow run it belongs to); shared resources
 * (data, programs, agents) are in the default graph.  The syntaxes without
 * graphs write the same triples without them.
 */
#ifndef MIDA_EXPORT_H
#define MIDA_EXPORT_H

typedef enum {
    MIDA_FORMAT_TURTLE = 1,
    MIDA_FORMAT_NTRIPLES,
    MIDA_FORMAT_NQUADS,
    MIDA_FORMAT_TRIG,
    MIDA_FORMAT_RDFXML,
    MIDA_FORMAT_JSONLD
} mida_format_t;

/* "turtle"/"ttl", "ntriples"/"nt", "nquads"/"nq", "trig", "rdfxml"/"xml",
 * "jsonld"/"json-ld" -> format.  MIDA_EINVAL if unknown. */
MIDA_EXPORT int mida_format_parse(const char *name, mida_format_t *format);
MIDA_EXPORT const char *mida_format_name(mida_format_t format);
MIDA_EXPORT const char *mida_format_media_type(mida_format_t format);
/* true for nquads, trig and jsonld */
MIDA_EXPORT bool mida_format_has_graphs(mida_format_t format);

/* The JSON-LD context mida writes: the prefixes as {"@context": {...}}.
 * Caller owns the returned string (free()). */
MIDA_EXPORT char *mida_export_context_json(void);

/* Writes `quads` in `format`.  Graphs are written only by the formats that
 * have them.  MIDA_EIO when writing fails. */
MIDA_EXPORT int mida_export_quads(mida_ctx_t *ctx, const mida_quads_t *quads,
                                  mida_format_t format, FILE *out);

/* Collects the store's triples into `out`, each in its subject's graph
 * under `base` (see above).  With `graph` (an IRI) only that graph's
 * triples are collected, plus the descriptions (types and literal values)
 * of the shared resources they refer to; MIDA_ENOTFOUND if the graph has
 * no triples.  Sorted by graph, subject, predicate, object. */
MIDA_EXPORT int mida_export_collect(mida_store_t *store, const char *base, const char *graph,
                                    mida_quads_t *out);

#endif
