/* mida_jsonld.h - mida's JSON-LD 1.1 writer (raptor has none).
 *
 * Writes a quad batch as compacted JSON-LD: the context given (normally
 * ontology/context.jsonld) is embedded as "@context"; IRIs in property and
 * type positions are shortened to compact IRIs with the context's prefixes;
 * there is one node object per subject (per graph); literals keep their
 * datatype and language; named graphs become {"@id": G, "@graph": [...]}.
 * The output expands (pyld, JSON-LD 1.1 toRdf) to exactly the input graph.
 */
#ifndef MIDA_JSONLD_H
#define MIDA_JSONLD_H

/* `context_json` is the text of a JSON-LD context document (an object
 * with "@context", or the bare context object); NULL writes plain
 * expanded-IRI JSON-LD with an empty context.  Nothing is written unless
 * the whole document can be.  Returns MIDA_EPARSE when the context is not
 * valid JSON, MIDA_EUNSUPPORTED when an IRI cannot be written safely under
 * the context (a protected term collides, or the IRI is relative),
 * MIDA_EINVAL for an impossible quad (a literal subject), MIDA_EIO when
 * writing fails.  The rules are in the comment at the top of mida_jsonld.c. */
MIDA_EXPORT int mida_jsonld_write(const mida_quads_t *quads, const char *context_json,
                                  FILE *out);

#endif
