/* mida_iri.h - deterministic IRIs and canonical data locations
 * (ARCHITECTURE 3.2 and 3.4).
 *
 * Every instance IRI is the base B followed by a kind and percent-encoded
 * ids, so the same input gives the same IRI on every host and no adapter
 * ever asks the integrator for an id:
 *
 *   B/campaign/{id}                 B/workflow/{id}
 *   B/task/{workflow}/{task}        B/program/{activity}
 *   B/agent/{kind}/{name}           B/data/{key}
 *   B/value/{workflow}/{task}/{used|generated}/{name}
 *   B/graph/{workflow}              B/graph/campaign/{id}
 *
 * Ids are UTF-8; every byte outside [A-Za-z0-9-._~:@] is written %XX, and
 * the ids "." and ".." are written %2E / %2E%2E so that no IRI contains a
 * dot segment.
 */
#ifndef MIDA_IRI_H
#define MIDA_IRI_H

/* A location alias: a location equal to `from` or below it (at a '/'
 * boundary) is rewritten to start with `to`. */
typedef struct mida_alias {
    const char *from;
    const char *to;
} mida_alias_t;

/* Splits alias text - "FROM=TO" lines, as stores keep them - in place
 * into at most `max` aliases pointing into `text`; lines without '=' are
 * skipped.  Returns the number found. */
MIDA_EXPORT size_t mida_iri_split_aliases(char *text, mida_alias_t *out, size_t max);

/* Appends the percent-encoded form of `id`. */
MIDA_EXPORT int mida_iri_encode(const char *id, mida_buf_t *out);
/* Resets `out` to base + "/" + kind + "/" + encode(id1) + "/" + encode(id2)...
 * for the NULL-terminated list of ids.  A trailing '/' of base is ignored. */
MIDA_EXPORT int mida_iri_mint(mida_buf_t *out, const char *base, const char *kind, ...);

/* True for strings the default promotion rule turns into data references:
 * absolute paths and URIs with the schemes file, http, https, s3, gs and
 * globus (ARCHITECTURE 3.1). */
MIDA_EXPORT bool mida_iri_is_location(const char *s);

/* The canonical location of a path or URI: "file:" URIs become paths,
 * paths lose empty and dot segments and trailing slashes, schemes and
 * hosts are lower-cased, then the longest matching alias applies.
 * Resets `out`.  MIDA_EINVAL for an empty string. */
MIDA_EXPORT int mida_iri_canonical_location(const char *loc, const mida_alias_t *aliases,
                                            size_t n_aliases, mida_buf_t *out);

/* The key of a data entity (ARCHITECTURE 3.4): "urn:hash:ALG:HEX" when a
 * digest ("ALG:HEX") is given, else the canonical location of `ref` when
 * it is a path or URI, else `ref` itself (a tool's own id).  Resets `out`.
 * MIDA_EINVAL for a malformed digest. */
MIDA_EXPORT int mida_iri_data_key(const char *ref, const char *digest,
                                  const mida_alias_t *aliases, size_t n_aliases,
                                  mida_buf_t *out);

/* A known namespace prefix, for writers that shorten IRIs. */
typedef struct mida_prefix {
    const char *prefix;
    const char *ns;
} mida_prefix_t;
/* The prefixes mida writes (prov, provone, mida, xsd, rdf, rdfs, owl,
 * dcterms), terminated by {NULL, NULL}. */
MIDA_EXPORT const mida_prefix_t *mida_iri_prefixes(void);

#endif
