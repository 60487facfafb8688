/* mida_httpd.h - the HTTP side of `mida serve` (ARCHITECTURE 7): the
 * SPARQL 1.1 Protocol endpoint, the Graph Store Protocol read side,
 * dereferenceable IRIs, the web page, /status and /metrics.
 *
 *   path                 what
 *   /sparql              SPARQL 1.1 Protocol query operation: GET ?query=,
 *                        POST application/x-www-form-urlencoded, POST
 *                        application/sparql-query.  Bare GET: the Service
 *                        Description.  Results by Accept or ?format=.
 *   /data                Graph Store Protocol, read side: ?default (the
 *                        union of all graphs, which is what queries see),
 *                        ?graph=IRI (one workflow run's graph).
 *   /resource?iri=IRI    describe any resource: HTML for browsers, RDF by
 *                        Accept (triples about it, and those pointing at it)
 *   /<path>              the same for the IRI <origin of the base><path>,
 *                        so every IRI mida mints under its base resolves
 *                        when the base names this server
 *   /                    the web page (src/web/index.html); /ui/NAME its
 *                        other files; /queries the example queries (JSON)
 *   /status, /metrics    counters as JSON and in Prometheus text format
 *
 * Read-only unless started with an update token: then INSERT DATA and
 * DELETE DATA are applied for requests that carry it, and a snapshot is
 * taken before the answer, so an acknowledged update survives a crash.
 *
 * Every answer carries CORS headers (any origin may read), so browser tools
 * such as YASGUI work.  Status codes: 400 malformed request or query (the
 * body is the parser's message), 403 update on a read-only endpoint, 404
 * no such resource or graph, 405 wrong method, 406 no acceptable media
 * type, 401 update without a token, 413 body too large, 415 wrong
 * Content-Type, 500 the query failed
 * or went over its time or row limit (never a cut answer presented as
 * whole), 501 a SPARQL feature the engine lacks, 503 too many queries at
 * once (Retry-After).
 *
 * Queries run one at a time on the store (the engine and Redland are not
 * reentrant), interleaved with the integrator's applies, so every answer
 * sees the store between two applied groups, never half of one.
 * Owns: the libmicrohttpd daemon (the only module that calls MHD_*).
 * Must not: change the store, but for an update the token allows.
 */
#ifndef MIDA_HTTPD_H
#define MIDA_HTTPD_H

typedef struct mida_httpd mida_httpd_t;

#define MIDA_DEFAULT_HTTP "127.0.0.1:7878"

typedef struct mida_httpd_opts {
    const char *listen;           /* "HOST:PORT" (IPv4 or [IPv6]); NULL = MIDA_DEFAULT_HTTP;
                                   * port 0 picks a free one */
    size_t max_body;              /* request body bytes; 0 = 1 MiB (also bounds the query) */
    size_t max_rows;              /* rows (or triples) of an answer; 0 = 100,000 */
    size_t max_answer;            /* bytes of a serialized answer; 0 = 256 MiB */
    double timeout_s;             /* per query; 0 = 60 */
    unsigned max_queries;         /* running or waiting at once, beyond: 503; 0 = 8 */
    unsigned threads;             /* connection threads; 0 = 4 */
    mida_integrator_t *integrator; /* for /status and /metrics; NULL: the store only */
    const char *update_token;     /* NULL: read-only; else SPARQL Update (INSERT/DELETE
                                   * DATA) for requests with "Authorization: Bearer TOKEN" */
} mida_httpd_opts_t;

/* Starts serving `store` (which must outlive the daemon; a store being
 * written by an integrator is fine).  `opts` is copied.  Caller owns the
 * returned daemon and must destroy it; NULL with the reason in err. */
MIDA_EXPORT mida_httpd_t *mida_httpd_new(mida_ctx_t *ctx, mida_store_t *store,
                                         const mida_httpd_opts_t *opts, char *err,
                                         size_t errlen);
/* "http://HOST:PORT/" with the port actually bound.  Owned by the daemon. */
MIDA_EXPORT const char *mida_httpd_url(const mida_httpd_t *d);
/* Stops accepting, lets running requests finish, frees.  NULL-safe. */
MIDA_EXPORT void mida_httpd_destroy(mida_httpd_t **self_p);

/* Content negotiation, exposed for tests: the index in `offers` (media
 * types in the server's order of preference) of the best match for the
 * Accept header value, by q-value and then specificity; 0 when `accept` is
 * NULL or empty; -1 when nothing offered is acceptable. */
MIDA_EXPORT int mida_httpd_negotiate(const char *accept, const char *const *offers,
                                     size_t n_offers);

#endif
