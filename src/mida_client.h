/* mida_client.h - asking a remote SPARQL endpoint (ARCHITECTURE 7, 8).
 *
 * The client side of the SPARQL 1.1 Protocol query operation, so that
 * `mida sparql --endpoint URL` works against any endpoint (mida's own,
 * Fuseki, Virtuoso, GraphDB, ...).  One call sends one query and returns
 * the whole answer in memory:
 *
 *   mida_client_answer_t a;
 *   mida_client_answer_init(&a);
 *   rc = mida_client_query(ctx, url, text, &opts, &a, err, sizeof err);
 *   ... a.status, a.content_type, a.body / a.len ...
 *   mida_client_answer_free(&a);
 *
 * How the query travels (opts.method):
 *
 *   method                    request
 *   MIDA_CLIENT_POST (0)      POST, Content-Type application/sparql-query,
 *                             the query as the body; default-graph-uri and
 *                             named-graph-uri in the URL's query string
 *   MIDA_CLIENT_POST_FORM     POST, application/x-www-form-urlencoded body
 *                             query=...&default-graph-uri=...&named-graph-uri=...
 *   MIDA_CLIENT_GET           GET URL?query=...&default-graph-uri=...
 *
 * An endpoint URL that already has a query string keeps it ("&" joins).
 * Redirects are followed (at most 5, POST stays POST); only http and https
 * are spoken.
 *
 * What fails, and how:
 *
 *   code            when                         message (in err)
 *   MIDA_EQUERY     the server answered non-2xx  "URL answered 400 Bad Request: <the
 *                                                first lines of its body>" (servers
 *                                                put the parser's message there)
 *   MIDA_EIO        no answer: DNS, connection   "URL: <curl's reason>"
 *                   refused, TLS, reset
 *   MIDA_ELIMIT     opts.timeout_s passed        "URL: no answer within S s (...)"
 *   MIDA_ETOOBIG    the body is larger than      "URL: the answer is larger than N bytes
 *                   opts.max_answer              (the limit)"
 *   MIDA_EINVAL     bad arguments, or a URL that is not http(s)
 *
 * A body over the limit is refused, never cut: a caller gets the whole
 * answer or an error.  On MIDA_EQUERY the answer holds the status, type and
 * body the server sent; on the other errors it is left empty.
 */
#ifndef MIDA_CLIENT_H
#define MIDA_CLIENT_H

/* The largest body mida_client_query accepts when opts.max_answer is 0:
 * the same as the largest answer mida's endpoint sends. */
#define MIDA_CLIENT_MAX_ANSWER ((size_t)256 << 20)

typedef enum {
    MIDA_CLIENT_POST = 0,   /* POST application/sparql-query */
    MIDA_CLIENT_POST_FORM,  /* POST application/x-www-form-urlencoded */
    MIDA_CLIENT_GET         /* GET ?query= */
} mida_client_method_t;

typedef struct mida_client_opts {
    mida_client_method_t method;
    const char *accept;                  /* Accept header value; NULL = any */
    double timeout_s;                    /* the whole exchange; 0 = none */
    size_t max_answer;                   /* body bytes; 0 = MIDA_CLIENT_MAX_ANSWER */
    const char *const *default_graphs;   /* default-graph-uri values */
    size_t n_default_graphs;
    const char *const *named_graphs;     /* named-graph-uri values */
    size_t n_named_graphs;
} mida_client_opts_t;

/* What the server sent.  A stack value: init, pass to mida_client_query,
 * free. */
typedef struct mida_client_answer {
    long status;          /* HTTP status of the last response (after redirects); 0 = none */
    char *content_type;   /* its Content-Type as sent (parameters included), or NULL */
    char *body;           /* the body, NUL-terminated; NULL when empty */
    size_t len;           /* bytes of body, not counting the terminator */
} mida_client_answer_t;

MIDA_EXPORT void mida_client_answer_init(mida_client_answer_t *a);
/* Frees what the answer holds and empties it (it can be reused).  NULL-safe. */
MIDA_EXPORT void mida_client_answer_free(mida_client_answer_t *a);

/* Sends `query` to the endpoint `url` and waits for the whole answer.
 * `opts` may be NULL (POST, any type, no timeout, the default limit); its
 * strings are copied into the request, the caller keeps ownership.
 * `answer` must have been initialised; what it held before is freed.  A
 * 2xx answer returns 0 whatever its Content-Type: checking that it is what
 * was asked for is the caller's business (see mida_client_media_is).
 * `ctx` (may be NULL) gets one debug line per request. */
MIDA_EXPORT int mida_client_query(mida_ctx_t *ctx, const char *url, const char *query,
                                  const mida_client_opts_t *opts, mida_client_answer_t *answer,
                                  char *err, size_t errlen);

/* Is the media type of a Content-Type value (parameters ignored, case
 * ignored) `media`?  false for a NULL content_type. */
MIDA_EXPORT bool mida_client_media_is(const char *content_type, const char *media);

/* The form of a query (SELECT, ASK, CONSTRUCT, DESCRIBE) read from its text:
 * the first keyword after comments and the PREFIX / BASE declarations of
 * the prologue.  0 when the text does not start like a query (an update, a
 * syntax error): the server will say what is wrong.  Used to choose the
 * Accept header before the server has parsed the query. */
MIDA_EXPORT mida_query_kind_t mida_client_query_kind(const char *query);

#endif
