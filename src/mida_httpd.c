/* mida_httpd.c - the HTTP endpoint: SPARQL 1.1 Protocol, Graph Store
 * Protocol (read), Linked Data, the web page, status and metrics.
 * Owns: the libmicrohttpd daemon, request parsing, content negotiation.
 * Must not: change the store, or call librdf/raptor itself (queries go
 * through mida_sparql, graphs through mida_export).
 *
 * A request is read whole (bounded by max_body) before it is answered;
 * every answer is built in memory first, so a failure half-way through a
 * serialization becomes an error status, never a cut answer with 200.
 */
#include "mida_internal.h"
#include "mida_selftest.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <unistd.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define DEFAULT_MAX_BODY (1u << 20)
#define DEFAULT_MAX_ROWS 100000
#define DEFAULT_MAX_ANSWER ((size_t)256 << 20)
#define DEFAULT_TIMEOUT_S 60.0
#define DEFAULT_MAX_QUERIES 8
#define DEFAULT_THREADS 4
#define MAX_PARAMS 64
#define MAX_CONNECTIONS 64

#define MT_JSON "application/sparql-results+json"
#define MT_XML "application/sparql-results+xml"
#define MT_CSV "text/csv"
#define MT_TSV "text/tab-separated-values"
#define MT_HTML "text/html"
#define MT_TEXT "text/plain; charset=utf-8"
#define MT_FORM "application/x-www-form-urlencoded"
#define MT_QUERY "application/sparql-query"
#define MT_UPDATE "application/sparql-update"

#define NS_SD "http://www.w3.org/ns/sparql-service-description#"
#define NS_FORMATS "http://www.w3.org/ns/formats/"
#define NS_VOID "http://rdfs.org/ns/void#"

struct mida_httpd {
    mida_ctx_t *ctx;
    mida_store_t *store;
    mida_httpd_opts_t opts;
    struct MHD_Daemon *daemon;
    char url[128];
    char *base;          /* the store's base IRI (copied at start) */
    char *update_token;  /* NULL: read-only */
    size_t origin_len;   /* length of scheme://authority of base; 0 = not http(s) */
    atomic_uint_fast64_t requests, queries, errors_4xx, errors_5xx, busy, limited;
    atomic_uint active;  /* queries running or waiting for the store */
    atomic_uint_fast64_t query_us; /* total time answering queries */
};

/* What one request has sent so far; freed when the request completes. */
typedef struct s_req {
    mida_buf_t body;
    bool too_big;
} s_req;

/* Request parameters (URL and form body), decoded. */
typedef struct s_params {
    size_t n;
    char *key[MAX_PARAMS];
    char *val[MAX_PARAMS];  /* "" for a key without '=' */
    bool overflow;
} s_params;

/* An answer being built. */
typedef struct s_answer {
    unsigned status;
    const char *type;       /* Content-Type */
    char *body;             /* malloc'd */
    size_t len;
    const char *allow;      /* Allow header, for 405 */
    bool retry_after;
    bool challenge;         /* 401: WWW-Authenticate */
    bool cache;             /* static file: may be cached briefly */
} s_answer;

/* ---- small helpers -------------------------------------------------- */

static void s_params_free(s_params *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->key[i]);
        free(p->val[i]);
    }
    p->n = 0;
}

/* A NUL-terminated copy of n bytes (which need not be terminated). */
static char *s_memdup(const char *src, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        if (n)
            memcpy(d, src, n);
        d[n] = '\0';
    }
    return d;
}

static void s_params_add(s_params *p, const char *k, size_t klen, const char *v, size_t vlen)
{
    if (p->n == MAX_PARAMS) {
        p->overflow = true;
        return;
    }
    p->key[p->n] = s_memdup(k, klen);
    p->val[p->n] = s_memdup(v ? v : "", v ? vlen : 0);
    if (!p->key[p->n] || !p->val[p->n]) {
        free(p->key[p->n]);
        free(p->val[p->n]);
        p->overflow = true;
        return;
    }
    p->n++;
}

/* The value of `key`, NULL if absent; *count (may be NULL) gets how many. */
static const char *s_param(const s_params *p, const char *key, size_t *count)
{
    const char *v = NULL;
    size_t c = 0;
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->key[i], key)) {
            if (!v)
                v = p->val[i];
            c++;
        }
    if (count)
        *count = c;
    return v;
}

/* Decodes %XX and '+' in place of [s, s+len) into out; returns the length. */
static size_t s_form_decode(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len && mida__hex_digit(s[i + 1]) >= 0 && mida__hex_digit(s[i + 2]) >= 0) {
            out[o++] = (char)(mida__hex_digit(s[i + 1]) * 16 + mida__hex_digit(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

/* Parses an application/x-www-form-urlencoded body. */
static int s_parse_form(const char *body, size_t len, s_params *p)
{
    char *tmp = malloc(len + 1);
    if (!tmp)
        return MIDA_ENOMEM;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && body[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(body + i, '=', j - i);
            size_t klen = eq ? (size_t)(eq - (body + i)) : j - i;
            char *k = tmp;
            size_t kn = s_form_decode(body + i, klen, k);
            char *v = tmp + kn;
            size_t vn = eq ? s_form_decode(eq + 1, (size_t)(body + j - eq - 1), v) : 0;
            s_params_add(p, k, kn, v, vn);
        }
        i = j + 1;
    }
    free(tmp);
    return 0;
}

/* libmicrohttpd is told not to decode (s_no_unescape) so that the path of
 * a minted IRI keeps its percent-encoding; arguments are decoded here
 * ('+' has already become a space). */
static enum MHD_Result s_collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    s_params *p = cls;
    size_t klen = strlen(key), vlen = value ? strlen(value) : 0;
    char *k = malloc(klen + 1), *v = malloc(vlen + 1);
    if (!k || !v) {
        p->overflow = true;
    } else {
        klen = s_form_decode(key, klen, k);
        vlen = value ? s_form_decode(value, vlen, v) : 0;
        s_params_add(p, k, klen, v, vlen);
    }
    free(k);
    free(v);
    return MHD_YES;
}

static size_t s_no_unescape(void *cls, struct MHD_Connection *con, char *s)
{
    (void)cls;
    (void)con;
    return strlen(s);
}

static void s_answer_text(s_answer *a, unsigned status, const char *fmt, ...) MIDA_PRINTF(3, 4);
static void s_answer_text(s_answer *a, unsigned status, const char *fmt, ...)
{
    mida_buf_t b;
    mida_buf_init(&b, 0);
    va_list ap;
    va_start(ap, fmt);
    mida_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    mida_buf_addc(&b, '\n');
    free(a->body);
    a->len = b.len;
    a->body = mida_buf_detach(&b);
    a->status = status;
    a->type = MT_TEXT;
}

static void s_answer_take(s_answer *a, unsigned status, const char *type, char *body, size_t len)
{
    free(a->body);
    a->status = status;
    a->type = type;
    a->body = body;
    a->len = len;
}

/* The charset parameter of a Content-Type is absent or UTF-8. */
static bool s_charset_utf8(const char *content_type)
{
    const char *cs = content_type ? strcasestr(content_type, "charset=") : NULL;
    if (!cs)
        return true;
    cs += 8;
    if (*cs == '"')
        cs++;
    return !strncasecmp(cs, "utf-8", 5) || !strncasecmp(cs, "utf8", 4);
}

/* ---- content negotiation -------------------------------------------- */

int mida_httpd_negotiate(const char *accept, const char *const *offers, size_t n_offers)
{
    if (!n_offers)
        return -1;
    if (!accept || !*accept)
        return 0;
    int best = -1;
    double best_q = 0;
    for (size_t o = 0; o < n_offers; o++) {
        const char *offer = offers[o];
        const char *slash = strchr(offer, '/');
        size_t type_len = slash ? (size_t)(slash - offer) : strlen(offer);
        size_t offer_len = strcspn(offer, ";");
        /* the q of the most specific range that matches this offer */
        int spec = -1;
        double q = 0;
        const char *p = accept;
        while (*p) {
            while (*p == ' ' || *p == '\t' || *p == ',')
                p++;
            size_t rlen = strcspn(p, ",");
            const char *end = p + rlen;
            size_t mlen = strcspn(p, ";,");
            while (mlen && (p[mlen - 1] == ' ' || p[mlen - 1] == '\t'))
                mlen--;
            double rq = 1.0;
            const char *qp = p + mlen;
            while (qp < end) {
                qp = memchr(qp, ';', (size_t)(end - qp));
                if (!qp)
                    break;
                qp++;
                while (*qp == ' ')
                    qp++;
                if ((*qp == 'q' || *qp == 'Q') && qp[1] == '=')
                    rq = strtod(qp + 2, NULL);
            }
            int s = -1;
            if (mlen == 3 && !strncmp(p, "*/*", 3))
                s = 0;
            else if (mlen == type_len + 2 && !strncasecmp(p, offer, type_len) &&
                     p[type_len] == '/' && p[type_len + 1] == '*')
                s = 1;
            else if (mlen == offer_len && !strncasecmp(p, offer, offer_len))
                s = 2;
            if (s > spec) {
                spec = s;
                q = rq;
            }
            p = end;
        }
        if (spec >= 0 && q > best_q) {
            best_q = q;
            best = (int)o;
        }
    }
    return best;
}

/* ---- formats -------------------------------------------------------- */

typedef struct s_offer {
    const char *media;
    int id;             /* mida_results_format_t, mida_format_t, or HTML_ID */
} s_offer;

#define HTML_ID 100

static const s_offer s_results_offers[] = {
    {MT_JSON, MIDA_RESULTS_JSON},  {MT_XML, MIDA_RESULTS_XML},
    {MT_CSV, MIDA_RESULTS_CSV},    {MT_TSV, MIDA_RESULTS_TSV},
    {"application/json", MIDA_RESULTS_JSON}, {"application/xml", MIDA_RESULTS_XML},
    {"text/xml", MIDA_RESULTS_XML}};
/* ASK: the boolean formats only */
static const s_offer s_boolean_offers[] = {
    {MT_JSON, MIDA_RESULTS_JSON}, {MT_XML, MIDA_RESULTS_XML},
    {"application/json", MIDA_RESULTS_JSON}, {"application/xml", MIDA_RESULTS_XML},
    {"text/xml", MIDA_RESULTS_XML}};
static const s_offer s_graph_offers[] = {
    {"text/turtle", MIDA_FORMAT_TURTLE},          {"application/n-triples", MIDA_FORMAT_NTRIPLES},
    {"application/ld+json", MIDA_FORMAT_JSONLD},  {"application/rdf+xml", MIDA_FORMAT_RDFXML},
    {"application/trig", MIDA_FORMAT_TRIG},       {"application/n-quads", MIDA_FORMAT_NQUADS},
    {"application/x-turtle", MIDA_FORMAT_TURTLE}, {"text/plain", MIDA_FORMAT_NTRIPLES},
    {"application/json", MIDA_FORMAT_JSONLD},     {"application/xml", MIDA_FORMAT_RDFXML},
    {"text/xml", MIDA_FORMAT_RDFXML}};
/* A resource: HTML wins for browsers, which also accept application/xml */
static const s_offer s_resource_offers[] = {
    {MT_HTML, HTML_ID},                           {"text/turtle", MIDA_FORMAT_TURTLE},
    {"application/n-triples", MIDA_FORMAT_NTRIPLES}, {"application/ld+json", MIDA_FORMAT_JSONLD},
    {"application/rdf+xml", MIDA_FORMAT_RDFXML},  {"application/trig", MIDA_FORMAT_TRIG},
    {"application/n-quads", MIDA_FORMAT_NQUADS},  {"application/xhtml+xml", HTML_ID},
    {"application/x-turtle", MIDA_FORMAT_TURTLE}, {"text/plain", MIDA_FORMAT_NTRIPLES},
    {"application/json", MIDA_FORMAT_JSONLD}};

/* Picks a format: ?format= (a short name or a media type) wins over
 * Accept.  Returns the id, or -1 with a 400/406 answer set. */
static int s_choose(const s_offer *offers, size_t n, const char *format_param,
                    const char *accept, bool graph_kind, s_answer *a)
{
    if (format_param && *format_param) {
        if (strchr(format_param, '/')) {
            for (size_t i = 0; i < n; i++)
                if (mida__media_is(format_param, offers[i].media))
                    return offers[i].id;
        } else if (graph_kind) {
            mida_format_t f;
            if (!mida_format_parse(format_param, &f))
                for (size_t i = 0; i < n; i++)
                    if (offers[i].id == (int)f)
                        return (int)f;
            if (!strcasecmp(format_param, "html"))
                for (size_t i = 0; i < n; i++)
                    if (offers[i].id == HTML_ID)
                        return HTML_ID;
        } else {
            mida_results_format_t f;
            if (!mida_results_format_parse(format_param, &f) && f != MIDA_RESULTS_TABLE)
                for (size_t i = 0; i < n; i++)
                    if (offers[i].id == (int)f)
                        return (int)f;
        }
        s_answer_text(a, MHD_HTTP_BAD_REQUEST, "format=%s is not offered for this answer",
                      format_param);
        return -1;
    }
    const char *media[16];
    for (size_t i = 0; i < n && i < 16; i++)
        media[i] = offers[i].media;
    int i = mida_httpd_negotiate(accept, media, n < 16 ? n : 16);
    if (i >= 0)
        return offers[i].id;
    mida_buf_t b;
    mida_buf_init(&b, 0);
    for (size_t k = 0; k < n; k++)
        mida_buf_printf(&b, "%s%s", k ? ", " : "", offers[k].media);
    s_answer_text(a, MHD_HTTP_NOT_ACCEPTABLE, "none of the media types in Accept (%s) can be given; offered: %s",
                  accept, mida_buf_str(&b));
    mida_buf_free(&b);
    return -1;
}

static const char *s_results_media(int id)
{
    return mida_results_format_media_type((mida_results_format_t)id);
}

/* Writes a graph in a syntax into the answer (200), or a 500. */
static void s_answer_graph(mida_httpd_t *d, const mida_quads_t *q, mida_format_t fmt,
                           s_answer *a)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int rc = f ? 0 : MIDA_ENOMEM;
    if (!rc) {
        /* the writers share the context's raptor world, whose URI
         * interning is not thread-safe: HTTP threads take turns here */
        mida__store_lock(d->store);
        rc = mida_export_quads(d->ctx, q, fmt, f);
        mida__store_unlock(d->store);
        if (fclose(f) && !rc)
            rc = MIDA_EIO;
    }
    if (rc) {
        free(buf);
        s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot write the graph as %s: %s",
                      mida_format_name(fmt), mida_strerror(rc));
    } else if (len > d->opts.max_answer) {
        free(buf);
        atomic_fetch_add(&d->limited, 1);
        s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR,
                      "the answer is larger than this endpoint's limit of %zu bytes",
                      d->opts.max_answer);
    } else {
        s_answer_take(a, MHD_HTTP_OK, mida_format_media_type(fmt), buf, len);
    }
}

/* ---- HTML ------------------------------------------------------------ */

static void s_html_escape(mida_buf_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': mida_buf_adds(b, "&lt;"); break;
        case '>': mida_buf_adds(b, "&gt;"); break;
        case '&': mida_buf_adds(b, "&amp;"); break;
        case '"': mida_buf_adds(b, "&quot;"); break;
        case '\'': mida_buf_adds(b, "&#39;"); break;
        default: mida_buf_addc(b, *s);
        }
    }
}

/* Percent-encodes a query parameter value. */
static void s_url_encode(mida_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            mida_buf_addc(b, (char)*p);
        } else {
            mida_buf_addc(b, '%');
            mida_buf_addc(b, hex[*p >> 4]);
            mida_buf_addc(b, hex[*p & 15]);
        }
    }
}

/* The link for an IRI: its own path when it is under this base (it
 * dereferences here), /resource?iri= otherwise. */
static void s_html_href(mida_httpd_t *d, mida_buf_t *b, const char *iri)
{
    if (d->origin_len && !strncmp(iri, d->base, d->origin_len) && iri[d->origin_len] == '/') {
        s_html_escape(b, iri + d->origin_len);
    } else {
        mida_buf_adds(b, "/resource?iri=");
        s_url_encode(b, iri);
    }
}

static void s_html_iri_text(mida_buf_t *b, const char *iri)
{
    for (const mida_prefix_t *p = mida_iri_prefixes(); p->prefix; p++) {
        size_t n = strlen(p->ns);
        if (!strncmp(iri, p->ns, n) && iri[n] && !strpbrk(iri + n, "/#?")) {
            s_html_escape(b, p->prefix);
            mida_buf_addc(b, ':');
            s_html_escape(b, iri + n);
            return;
        }
    }
    s_html_escape(b, iri);
}

static void s_html_term(mida_httpd_t *d, mida_buf_t *b, const mida_term_t *t)
{
    if (t->kind == MIDA_TERM_IRI) {
        mida_buf_adds(b, "<a href=\"");
        s_html_href(d, b, t->value);
        mida_buf_adds(b, "\" title=\"");
        s_html_escape(b, t->value);
        mida_buf_adds(b, "\">");
        s_html_iri_text(b, t->value);
        mida_buf_adds(b, "</a>");
    } else if (t->kind == MIDA_TERM_BLANK) {
        mida_buf_adds(b, "<span class=\"bnode\">_:");
        s_html_escape(b, t->value);
        mida_buf_adds(b, "</span>");
    } else {
        mida_buf_adds(b, "<span class=\"literal\">");
        s_html_escape(b, t->value);
        mida_buf_adds(b, "</span>");
        if (t->lang) {
            mida_buf_adds(b, " <small>@");
            s_html_escape(b, t->lang);
            mida_buf_adds(b, "</small>");
        } else if (t->datatype) {
            mida_buf_adds(b, " <small>");
            s_html_iri_text(b, t->datatype);
            mida_buf_adds(b, "</small>");
        }
    }
}

/* ---- describing a resource ------------------------------------------ */

typedef struct s_collect {
    mida_quads_t *q;
    int rc;
} s_collect;

static int s_on_match(void *ud, const mida_term_t *s, const mida_term_t *p, const mida_term_t *o)
{
    s_collect *c = ud;
    c->rc = mida_quads_add(c->q, s, p, o, NULL);
    return c->rc;
}

/* The triples about `iri` (out) and those pointing at it (in). */
static int s_describe(mida_httpd_t *d, const char *iri, mida_quads_t *out, mida_quads_t *in)
{
    mida_term_t t = mida_term_iri(iri);
    s_collect co = {out, 0}, ci = {in, 0};
    mida__store_lock(d->store);
    int rc = mida_store_match(d->store, &t, NULL, NULL, s_on_match, &co);
    if (!rc)
        rc = mida_store_match(d->store, NULL, NULL, &t, s_on_match, &ci);
    mida__store_unlock(d->store);
    if (!rc)
        rc = co.rc ? co.rc : ci.rc;
    mida_quads_sort_unique(out);
    mida_quads_sort_unique(in);
    return rc;
}

static void s_html_head(mida_buf_t *b, const char *title)
{
    mida_buf_adds(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                     "<title>");
    s_html_escape(b, title);
    mida_buf_adds(b, " - mida</title><link rel=\"icon\" href=\"data:,\">"
                     "<link rel=\"stylesheet\" href=\"/ui/mida.css\"></head>\n"
                     "<body class=\"resource\"><header><a class=\"brand\" href=\"/\">mida</a>"
                     "<nav><a href=\"/\">query</a> <a href=\"/sparql\">service description</a> "
                     "<a href=\"/status\">status</a></nav></header>\n<main>\n");
}

static void s_html_resource(mida_httpd_t *d, const char *iri, const char *self,
                            const mida_quads_t *out, const mida_quads_t *in, s_answer *a)
{
    mida_buf_t b;
    mida_buf_init(&b, 0);
    s_html_head(&b, iri);
    mida_buf_adds(&b, "<h1>");
    s_html_iri_text(&b, iri);
    mida_buf_adds(&b, "</h1>\n<p class=\"iri\"><code>");
    s_html_escape(&b, iri);
    mida_buf_adds(&b, "</code></p>\n<p class=\"formats\">As data: ");
    static const char *const fmts[] = {"turtle", "ntriples", "jsonld", "rdfxml", "trig", "nquads"};
    for (size_t i = 0; i < MIDA_ARRAY_LEN(fmts); i++) {
        mida_buf_adds(&b, i ? " &middot; <a href=\"" : "<a href=\"");
        s_html_escape(&b, self);
        mida_buf_adds(&b, strchr(self, '?') ? "&amp;format=" : "?format=");
        mida_buf_printf(&b, "%s\">%s</a>", fmts[i], fmts[i]);
    }
    mida_buf_adds(&b, " &middot; <a href=\"/?lineage=");
    s_url_encode(&b, iri);
    mida_buf_adds(&b, "\">lineage</a></p>\n");
    mida_buf_printf(&b, "<h2>Properties (%zu)</h2>\n<table class=\"props\"><thead><tr>"
                        "<th>property</th><th>value</th></tr></thead><tbody>\n",
                    mida_quads_count(out));
    for (size_t i = 0; i < mida_quads_count(out); i++) {
        const mida_quad_t *q = mida_quads_get(out, i);
        mida_buf_adds(&b, "<tr><td>");
        s_html_term(d, &b, &q->p);
        mida_buf_adds(&b, "</td><td>");
        s_html_term(d, &b, &q->o);
        mida_buf_adds(&b, "</td></tr>\n");
    }
    mida_buf_printf(&b, "</tbody></table>\n<h2>Referenced by (%zu)</h2>\n<table class=\"props\">"
                        "<thead><tr><th>resource</th><th>property</th></tr></thead><tbody>\n",
                    mida_quads_count(in));
    for (size_t i = 0; i < mida_quads_count(in); i++) {
        const mida_quad_t *q = mida_quads_get(in, i);
        mida_buf_adds(&b, "<tr><td>");
        s_html_term(d, &b, &q->s);
        mida_buf_adds(&b, "</td><td>");
        s_html_term(d, &b, &q->p);
        mida_buf_adds(&b, "</td></tr>\n");
    }
    mida_buf_adds(&b, "</tbody></table>\n</main></body></html>\n");
    size_t len = b.len;
    s_answer_take(a, MHD_HTTP_OK, "text/html; charset=utf-8", mida_buf_detach(&b), len);
}

static void s_resource(mida_httpd_t *d, const char *iri, const char *self, const s_params *p,
                       const char *accept, s_answer *a)
{
    if (!*iri || !mida__utf8_valid(iri, strlen(iri)) || strpbrk(iri, "<>\"{}|\\^` \t\r\n")) {
        s_answer_text(a, MHD_HTTP_BAD_REQUEST, "not an IRI: '%s'", iri);
        return;
    }
    int id = s_choose(s_resource_offers, MIDA_ARRAY_LEN(s_resource_offers),
                      s_param(p, "format", NULL), accept, true, a);
    if (id < 0)
        return;
    mida_quads_t *out = mida_quads_new(), *in = mida_quads_new();
    int rc = out && in ? s_describe(d, iri, out, in) : MIDA_ENOMEM;
    if (rc) {
        s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the store: %s",
                      mida_strerror(rc));
    } else if (!mida_quads_count(out) && !mida_quads_count(in)) {
        s_answer_text(a, MHD_HTTP_NOT_FOUND, "nothing is known about <%s>", iri);
    } else if (id == HTML_ID) {
        s_html_resource(d, iri, self, out, in, a);
    } else {
        rc = mida_quads_append(out, in);
        if (rc)
            s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        else
            s_answer_graph(d, out, (mida_format_t)id, a);
    }
    mida_quads_destroy(&out);
    mida_quads_destroy(&in);
}

/* ---- /sparql ---------------------------------------------------------- */

/* The Service Description (SPARQL 1.1 Service Description, section 3). */
static void s_service_description(mida_httpd_t *d, const s_params *p, const char *accept,
                                  s_answer *a)
{
    int id = s_choose(s_graph_offers, MIDA_ARRAY_LEN(s_graph_offers), s_param(p, "format", NULL),
                      accept, true, a);
    if (id < 0)
        return;
    mida_quads_t *q = mida_quads_new();
    if (!q) {
        s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    char endpoint[160], triples[32];
    snprintf(endpoint, sizeof endpoint, "%ssparql", d->url);
    mida__store_lock(d->store);
    long n = mida_store_size(d->store);
    mida__store_unlock(d->store);
    snprintf(triples, sizeof triples, "%ld", n < 0 ? 0 : n);
    mida_term_t svc = mida_term_blank("service"), ds = mida_term_blank("dataset"),
                dg = mida_term_blank("defaultGraph");
    mida_term_t type = mida_term_iri(RDF_("type"));
#define ADD(s, p, o)                                                                 \
    do {                                                                             \
        mida_term_t p_ = mida_term_iri(p), o_ = (o);                                 \
        mida_quads_add(q, &(s), &p_, &o_, NULL);                                     \
    } while (0)
    mida_term_t c = mida_term_iri(NS_SD "Service");
    mida_quads_add(q, &svc, &type, &c, NULL);
    ADD(svc, NS_SD "endpoint", mida_term_iri(endpoint));
    ADD(svc, NS_SD "supportedLanguage", mida_term_iri(NS_SD "SPARQL11Query"));
    if (d->update_token)
        ADD(svc, NS_SD "supportedLanguage", mida_term_iri(NS_SD "SPARQL11Update"));
    static const char *const formats[] = {
        "SPARQL_Results_JSON", "SPARQL_Results_XML", "SPARQL_Results_CSV", "SPARQL_Results_TSV",
        "Turtle", "N-Triples", "JSON-LD", "RDF_XML", "TriG", "N-Quads"};
    char fmt_iri[96];
    for (size_t i = 0; i < MIDA_ARRAY_LEN(formats); i++) {
        snprintf(fmt_iri, sizeof fmt_iri, NS_FORMATS "%s", formats[i]);
        ADD(svc, NS_SD "resultFormat", mida_term_iri(fmt_iri));
    }
    ADD(svc, NS_SD "feature", mida_term_iri(NS_SD "UnionDefaultGraph"));
    ADD(svc, NS_SD "feature", mida_term_iri(NS_SD "DereferencesURIs"));
    ADD(svc, NS_SD "defaultEntailmentRegime",
        mida_term_iri("http://www.w3.org/ns/entailment/Simple"));
    ADD(svc, NS_SD "defaultDataset", ds);
    c = mida_term_iri(NS_SD "Dataset");
    mida_quads_add(q, &ds, &type, &c, NULL);
    ADD(ds, NS_SD "defaultGraph", dg);
    c = mida_term_iri(NS_SD "Graph");
    mida_quads_add(q, &dg, &type, &c, NULL);
    ADD(dg, NS_VOID "triples", mida_term_literal(triples, XSD_("integer"), NULL));
    ADD(svc, "http://purl.org/dc/terms/description",
        mida_term_literal(d->update_token ? "mida: the provenance of workflow runs as W3C PROV-O"
                                          : "mida: the provenance of workflow runs as W3C PROV-O "
                                            "(read-only)",
                          NULL, NULL));
#undef ADD
    s_answer_graph(d, q, (mida_format_t)id, a);
    mida_quads_destroy(&q);
}

/* Removes a scratch store directory (flat: the store's own files). */
static void s_remove_dir(const char *dir)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    while (dh && (e = readdir(dh))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (dh)
        closedir(dh);
    rmdir(dir);
}

/* The protocol's default-graph-uri: a scratch in-memory store holding the
 * merge of the named workflow graphs (a graph the store does not have is
 * empty).  NULL with a 500 answer on failure. */
static mida_store_t *s_dataset(mida_httpd_t *d, const s_params *p, char *dir, size_t dirlen,
                               s_answer *a)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, dirlen, "%s/mida-dataset-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot make a scratch store in %s: %s",
                      dir, strerror(errno));
        return NULL;
    }
    char err[512];
    mida_store_opts_t so = {MIDA_STORE_WRITE | MIDA_STORE_CREATE, "memory"};
    mida_store_t *st = mida_store_open(d->ctx, dir, &so, err, sizeof err);
    int rc = st ? 0 : MIDA_ESTORE;
    for (size_t i = 0; !rc && i < p->n; i++) {
        if (strcmp(p->key[i], "default-graph-uri"))
            continue;
        mida_quads_t *q = mida_quads_new();
        rc = q ? mida_export_collect(d->store, d->base, p->val[i], q) : MIDA_ENOMEM;
        if (rc == MIDA_ENOTFOUND)
            rc = 0;
        else if (!rc)
            rc = mida_store_add_quads(st, q);
        mida_quads_destroy(&q);
    }
    if (rc) {
        s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot assemble the dataset: %s",
                      st ? mida_strerror(rc) : err);
        mida_store_close(&st);
        s_remove_dir(dir);
        *dir = '\0';
    }
    return st;
}

static void s_run_query(mida_httpd_t *d, const char *text, const s_params *p, const char *accept,
                        s_answer *a)
{
    size_t n_dg = 0, n_ng = 0;
    s_param(p, "default-graph-uri", &n_dg);
    s_param(p, "named-graph-uri", &n_ng);
    if (!mida__utf8_valid(text, strlen(text))) {
        s_answer_text(a, MHD_HTTP_BAD_REQUEST, "the query is not valid UTF-8");
        return;
    }
    if (n_ng) {
        /* the store keeps one graph (ARCHITECTURE 3.4): GRAPH patterns have
         * no named graphs to match */
        s_answer_text(a, MHD_HTTP_NOT_IMPLEMENTED,
                      "named-graph-uri is not supported: the store keeps no named graphs for "
                      "GRAPH patterns; default-graph-uri is");
        return;
    }
    unsigned active = atomic_fetch_add(&d->active, 1) + 1;
    if (active > d->opts.max_queries) {
        atomic_fetch_sub(&d->active, 1);
        atomic_fetch_add(&d->busy, 1);
        s_answer_text(a, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "%u queries are already running or waiting; try again shortly",
                      d->opts.max_queries);
        a->retry_after = true;
        return;
    }
    atomic_fetch_add(&d->queries, 1);
    double t0 = mida__mono_now();
    char err[1024], scratch[PATH_MAX] = "";
    int rc = 0;
    mida_results_t *res = NULL;
    mida_query_t *q = NULL;
    mida_store_t *qstore = n_dg ? s_dataset(d, p, scratch, sizeof scratch, a) : d->store;
    if (!qstore)
        goto done;
    q = mida_query_prepare(qstore, text, d->base, &rc, err, sizeof err);
    if (!q) {
        s_answer_text(a, rc == MIDA_EUNSUPPORTED ? MHD_HTTP_NOT_IMPLEMENTED
                         : rc == MIDA_ENOMEM     ? MHD_HTTP_INTERNAL_SERVER_ERROR
                                                 : MHD_HTTP_BAD_REQUEST,
                      "%s", err);
        goto done;
    }
    mida_query_kind_t kind = mida_query_kind(q);
    const char *fmt = s_param(p, "format", NULL);
    int id;
    if (kind == MIDA_QUERY_SELECT)
        id = s_choose(s_results_offers, MIDA_ARRAY_LEN(s_results_offers), fmt, accept, false, a);
    else if (kind == MIDA_QUERY_ASK)
        id = s_choose(s_boolean_offers, MIDA_ARRAY_LEN(s_boolean_offers), fmt, accept, false, a);
    else
        id = s_choose(s_graph_offers, MIDA_ARRAY_LEN(s_graph_offers), fmt, accept, true, a);
    if (id < 0)
        goto done;
    mida_query_limits_t limits = {d->opts.max_rows, d->opts.timeout_s};
    rc = mida_query_execute(q, &limits, &res, err, sizeof err);
    if (rc == MIDA_ELIMIT) {
        atomic_fetch_add(&d->limited, 1);
        s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR,
                      "%s (this endpoint answers at most %zu rows within %g s; no partial "
                      "answer is given)",
                      err, d->opts.max_rows, d->opts.timeout_s);
        goto done;
    } else if (rc) {
        s_answer_text(a, rc == MIDA_EUNSUPPORTED ? MHD_HTTP_NOT_IMPLEMENTED
                                                 : MHD_HTTP_INTERNAL_SERVER_ERROR,
                      "%s", err);
        goto done;
    }
    if (mida_results_kind(res) == MIDA_RESULTS_GRAPH) {
        s_answer_graph(d, mida_results_graph(res), (mida_format_t)id, a);
    } else {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        rc = f ? mida_results_write(res, (mida_results_format_t)id, f) : MIDA_ENOMEM;
        if (f && fclose(f) && !rc)
            rc = MIDA_EIO;
        if (rc) {
            free(buf);
            s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot write the answer: %s",
                          mida_strerror(rc));
        } else if (len > d->opts.max_answer) {
            free(buf);
            atomic_fetch_add(&d->limited, 1);
            s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "the answer is larger than this endpoint's limit of %zu bytes",
                          d->opts.max_answer);
        } else {
            s_answer_take(a, MHD_HTTP_OK, s_results_media(id), buf, len);
        }
    }
done:
    mida_results_destroy(&res);
    mida_query_destroy(&q);
    if (*scratch) {
        mida_store_close(&qstore);
        s_remove_dir(scratch);
    }
    atomic_fetch_add(&d->query_us, (uint_fast64_t)((mida__mono_now() - t0) * 1e6));
    atomic_fetch_sub(&d->active, 1);
}

typedef struct s_update {
    mida_httpd_t *d;
    long inserted, deleted;
} s_update;

static int s_apply_update(void *ud, bool insert, const mida_quads_t *triples)
{
    s_update *u = ud;
    int rc = 0;
    mida__store_lock(u->d->store);
    if (insert) {
        rc = mida_store_add_quads(u->d->store, triples);
        if (!rc)
            u->inserted += (long)mida_quads_count(triples);
    } else {
        for (size_t i = 0; !rc && i < mida_quads_count(triples); i++) {
            const mida_quad_t *q = mida_quads_get(triples, i);
            long n = mida_store_remove(u->d->store, &q->s, &q->p, &q->o);
            if (n < 0)
                rc = (int)n;
            else
                u->deleted += n;
        }
    }
    mida__store_unlock(u->d->store);
    return rc;
}

/* Constant-time comparison of the presented token with ours. */
static bool s_token_ok(const char *want, const char *auth)
{
    if (!auth || strncasecmp(auth, "Bearer ", 7))
        return false;
    const char *got = auth + 7;
    size_t n = strlen(want), m = strlen(got);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < m ? got[i] : 0);
    return diff == 0;
}

static void s_run_update(mida_httpd_t *d, struct MHD_Connection *con, const char *text,
                         s_answer *a)
{
    if (!d->update_token) {
        s_answer_text(a, MHD_HTTP_FORBIDDEN, "this endpoint is read-only: SPARQL Update is refused "
                                             "(start mida serve with --update-token-file to allow it)");
        return;
    }
    const char *auth = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization");
    if (!auth) {
        s_answer_text(a, MHD_HTTP_UNAUTHORIZED, "an update needs the header Authorization: Bearer TOKEN");
        a->challenge = true;
        return;
    }
    if (!s_token_ok(d->update_token, auth)) {
        s_answer_text(a, MHD_HTTP_FORBIDDEN, "the update token is not right");
        return;
    }
    if (!mida__utf8_valid(text, strlen(text))) {
        s_answer_text(a, MHD_HTTP_BAD_REQUEST, "the update is not valid UTF-8");
        return;
    }
    char err[1024];
    s_update u = {d, 0, 0};
    int rc = mida_update_parse(d->store, text, d->base, s_apply_update, &u, err, sizeof err);
    if (rc == MIDA_EPARSE) {
        s_answer_text(a, MHD_HTTP_BAD_REQUEST, "%s", err);
    } else if (rc == MIDA_EUNSUPPORTED) {
        s_answer_text(a, MHD_HTTP_NOT_IMPLEMENTED, "%s", err);
    } else if (rc) {
        s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "the update failed after %ld triples "
                      "inserted and %ld deleted: %s", u.inserted, u.deleted,
                      *err ? err : mida_strerror(rc));
    } else {
        /* durable before it is acknowledged: the integrator's log does not
         * carry updates, a snapshot does */
        mida__store_lock(d->store);
        rc = mida_store_snapshot(d->store);
        mida__store_unlock(d->store);
        if (rc)
            s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "applied but not saved: %s",
                          mida_store_errmsg(d->store));
        else
            s_answer_text(a, MHD_HTTP_OK, "%ld triples inserted, %ld deleted", u.inserted,
                          u.deleted);
        mida__log(d->ctx, MIDA_LOG_INFO, MIDA_FROM_HTTP, 0, NULL,
                  "update: %ld triples inserted, %ld deleted", u.inserted, u.deleted);
    }
}

static void s_sparql(mida_httpd_t *d, struct MHD_Connection *con, const char *method,
                     const s_req *r, s_params *p, s_answer *a)
{
    const char *ctype = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Type");
    const char *accept = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Accept");
    char *direct = NULL;
    if (!strcmp(method, "POST")) {
        if (mida__media_is(ctype, MT_FORM)) {
            if (s_parse_form(r->body.data ? r->body.data : "", r->body.len, p)) {
                s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
                return;
            }
        } else if (mida__media_is(ctype, MT_QUERY)) {
            if (!s_charset_utf8(ctype)) {
                s_answer_text(a, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                              "a query must be sent as UTF-8 (Content-Type: %s)", ctype);
                return;
            }
            direct = s_memdup(r->body.data ? r->body.data : "", r->body.len);
            if (!direct) {
                s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
                return;
            }
            if (strlen(direct) != r->body.len) {
                free(direct);
                s_answer_text(a, MHD_HTTP_BAD_REQUEST, "the query holds a NUL byte");
                return;
            }
        } else if (mida__media_is(ctype, MT_UPDATE)) {
            if (!s_charset_utf8(ctype)) {
                s_answer_text(a, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                              "an update must be sent as UTF-8 (Content-Type: %s)", ctype);
                return;
            }
            char *text = s_memdup(r->body.data ? r->body.data : "", r->body.len);
            if (!text)
                s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            else if (strlen(text) != r->body.len)
                s_answer_text(a, MHD_HTTP_BAD_REQUEST, "the update holds a NUL byte");
            else if (p->n)
                s_answer_text(a, MHD_HTTP_BAD_REQUEST,
                              "an update sent as the body takes no parameters (using-graph-uri...)");
            else
                s_run_update(d, con, text, a);
            free(text);
            return;
        } else {
            s_answer_text(a, ctype ? MHD_HTTP_UNSUPPORTED_MEDIA_TYPE : MHD_HTTP_BAD_REQUEST,
                          "POST to /sparql wants Content-Type %s or %s, got %s", MT_FORM,
                          MT_QUERY, ctype ? ctype : "none");
            return;
        }
    } else if (r->body.len) {
        s_answer_text(a, MHD_HTTP_BAD_REQUEST, "a GET request must not have a body");
        return;
    }
    if (p->overflow) {
        s_answer_text(a, MHD_HTTP_BAD_REQUEST, "more than %d parameters", MAX_PARAMS);
        return;
    }
    size_t n_query = 0, n_update = 0;
    const char *query = s_param(p, "query", &n_query);
    const char *update = s_param(p, "update", &n_update);
    if (n_update && strcmp(method, "POST")) {
        s_answer_text(a, MHD_HTTP_BAD_REQUEST, "an update must be POSTed");
    } else if (n_update > 1 || (n_update && n_query)) {
        s_answer_text(a, MHD_HTTP_BAD_REQUEST, "exactly one update parameter (and no query) is allowed");
    } else if (n_update && (s_param(p, "using-graph-uri", NULL) || s_param(p, "using-named-graph-uri", NULL))) {
        s_answer_text(a, MHD_HTTP_BAD_REQUEST, "using-graph-uri and using-named-graph-uri are not supported");
    } else if (n_update) {
        s_run_update(d, con, update, a);
    } else if (direct && n_query) {
        s_answer_text(a, MHD_HTTP_BAD_REQUEST,
                      "the query is in the body; a query parameter is not allowed as well");
    } else if (direct) {
        s_run_query(d, direct, p, accept, a);
    } else if (n_query > 1) {
        s_answer_text(a, MHD_HTTP_BAD_REQUEST, "exactly one query parameter is allowed, got %zu",
                      n_query);
    } else if (query) {
        s_run_query(d, query, p, accept, a);
    } else if (!strcmp(method, "POST")) {
        s_answer_text(a, MHD_HTTP_BAD_REQUEST, "no query parameter in the form");
    } else {
        s_service_description(d, p, accept, a);
    }
    free(direct);
}

/* ---- /data ------------------------------------------------------------ */

static void s_data(mida_httpd_t *d, const s_params *p, const char *accept, s_answer *a)
{
    size_t n_graph = 0, n_default = 0;
    const char *graph = s_param(p, "graph", &n_graph);
    s_param(p, "default", &n_default);
    if (n_graph + n_default != 1) {
        s_answer_text(a, MHD_HTTP_BAD_REQUEST,
                      "give exactly one of ?default or ?graph=IRI (Graph Store Protocol)");
        return;
    }
    int id = s_choose(s_graph_offers, MIDA_ARRAY_LEN(s_graph_offers), s_param(p, "format", NULL),
                      accept, true, a);
    if (id < 0)
        return;
    mida_quads_t *q = mida_quads_new();
    int rc = q ? mida_export_collect(d->store, d->base, graph, q) : MIDA_ENOMEM;
    if (rc == MIDA_ENOTFOUND)
        s_answer_text(a, MHD_HTTP_NOT_FOUND, "no graph <%s> in this store", graph);
    else if (rc)
        s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the store: %s",
                      mida_strerror(rc));
    else
        s_answer_graph(d, q, (mida_format_t)id, a);
    mida_quads_destroy(&q);
}

/* ---- files, example queries, status --------------------------------- */

static const mida__asset_t *s_asset(const char *path)
{
    for (const mida__asset_t *f = mida__assets; f->path; f++)
        if (!strcmp(f->path, path))
            return f;
    return NULL;
}

static const char *s_media_for(const char *path)
{
    static const struct {
        const char *ext, *media;
    } map[] = {{".html", "text/html; charset=utf-8"},
               {".js", "text/javascript; charset=utf-8"},
               {".css", "text/css; charset=utf-8"},
               {".svg", "image/svg+xml"},
               {".png", "image/png"},
               {".json", "application/json"},
               {".rq", "application/sparql-query"},
               {".txt", MT_TEXT}};
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < MIDA_ARRAY_LEN(map); i++)
        if (!strcmp(dot, map[i].ext))
            return map[i].media;
    return "application/octet-stream";
}

static bool s_file(const char *path, s_answer *a)
{
    const mida__asset_t *f = s_asset(path);
    if (!f)
        return false;
    char *copy = malloc(f->len + 1);
    if (!copy) {
        s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return true;
    }
    memcpy(copy, f->data, f->len);
    s_answer_take(a, MHD_HTTP_OK, s_media_for(path), copy, f->len);
    a->cache = true;
    return true;
}

/* The example queries: name, title (the first comment paragraph, without
 * its "Question:" label) and text. */
static void s_queries(s_answer *a)
{
    json_t *arr = json_array();
    for (const mida__asset_t *f = mida__assets; arr && f->path; f++) {
        size_t n = strlen(f->path);
        if (strncmp(f->path, "queries/", 8) || n < 12 || strcmp(f->path + n - 3, ".rq"))
            continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(n - 11), f->path + 8);
        mida_buf_t title;
        mida_buf_init(&title, 0);
        const char *s = (const char *)f->data, *end = s + f->len;
        while (s < end && *s == '#') {
            const char *eol = memchr(s, '\n', (size_t)(end - s));
            if (!eol)
                eol = end;
            const char *t = s + 1;
            while (t < eol && (*t == ' ' || *t == '\t'))
                t++;
            if (t == eol || (eol - t == 1 && *t == '\r'))
                break;   /* an empty comment line ends the first paragraph */
            if (!title.len && !strncasecmp(t, "Question:", 9))
                for (t += 9; t < eol && *t == ' '; t++)
                    ;
            size_t len = (size_t)(eol - t);
            if (len && t[len - 1] == '\r')
                len--;
            if (title.len)
                mida_buf_addc(&title, ' ');
            mida_buf_add(&title, t, len);
            s = eol + 1;
        }
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s%}", "name", name, "title",
                                             mida_buf_str(&title), "query", (const char *)f->data,
                                             f->len));
        mida_buf_free(&title);
    }
    char *text = arr ? json_dumps(arr, JSON_INDENT(1)) : NULL;
    json_decref(arr);
    if (!text)
        s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    else
        s_answer_take(a, MHD_HTTP_OK, "application/json", text, strlen(text));
}

typedef struct s_counters {
    mida_integrator_stats_t st;
    bool have_integrator;
    long store_triples;
    uint64_t requests, queries, e4, e5, busy, limited;
    unsigned active;
    double query_seconds;
} s_counters;

static void s_counters_read(mida_httpd_t *d, s_counters *c)
{
    memset(c, 0, sizeof *c);
    if (d->opts.integrator) {
        mida_integrator_stats(d->opts.integrator, &c->st);
        c->have_integrator = true;
    }
    mida__store_lock(d->store);
    c->store_triples = mida_store_size(d->store);
    mida__store_unlock(d->store);
    c->st.store_triples = c->store_triples;
    c->requests = atomic_load(&d->requests);
    c->queries = atomic_load(&d->queries);
    c->e4 = atomic_load(&d->errors_4xx);
    c->e5 = atomic_load(&d->errors_5xx);
    c->busy = atomic_load(&d->busy);
    c->limited = atomic_load(&d->limited);
    c->active = atomic_load(&d->active);
    c->query_seconds = (double)atomic_load(&d->query_us) / 1e6;
}

static void s_status(mida_httpd_t *d, s_answer *a)
{
    s_counters c;
    s_counters_read(d, &c);
    json_t *o = NULL;
    if (c.have_integrator) {
        char *s = mida_integrator_stats_json(&c.st);
        o = s ? json_loads(s, 0, NULL) : NULL;
        free(s);
    } else {
        o = json_pack("{s:I}", "store_triples", (json_int_t)c.store_triples);
    }
    if (o)
        json_object_set_new(o, "base", json_string(d->base));
    if (o)
        json_object_set_new(o, "http",
                            json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:f}", "requests",
                                      (json_int_t)c.requests, "queries", (json_int_t)c.queries,
                                      "client_errors", (json_int_t)c.e4, "server_errors",
                                      (json_int_t)c.e5, "busy", (json_int_t)c.busy, "over_limit",
                                      (json_int_t)c.limited, "active", (int)c.active,
                                      "query_seconds", c.query_seconds));
    char *text = o ? json_dumps(o, JSON_INDENT(1)) : NULL;
    json_decref(o);
    if (!text)
        s_answer_text(a, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    else
        s_answer_take(a, MHD_HTTP_OK, "application/json", text, strlen(text));
}

static void s_metric(mida_buf_t *b, const char *name, const char *type, const char *help,
                     double value)
{
    mida_buf_printf(b, "# HELP mida_%s %s\n# TYPE mida_%s %s\nmida_%s %.17g\n", name, help, name,
                    type, name, value);
}

static void s_metrics(mida_httpd_t *d, s_answer *a)
{
    s_counters c;
    s_counters_read(d, &c);
    mida_buf_t b;
    mida_buf_init(&b, 0);
    if (c.have_integrator) {
        const mida_integrator_stats_t *s = &c.st;
        s_metric(&b, "batches_received_total", "counter", "Batch messages received, re-sends included.", (double)s->received);
        s_metric(&b, "batches_applied_total", "counter", "Batches applied to the store.", (double)s->applied);
        s_metric(&b, "batches_duplicate_total", "counter", "Batches already applied, acknowledged again.", (double)s->duplicates);
        s_metric(&b, "messages_refused_total", "counter", "Messages refused as malformed.", (double)s->refused);
        s_metric(&b, "quads_applied_total", "counter", "Quads applied to the store.", (double)s->quads_applied);
        s_metric(&b, "batches_replayed_total", "counter", "Batches replayed from the log at start.", (double)s->replayed);
        s_metric(&b, "log_bytes", "gauge", "Size of the current write-ahead log.", (double)s->log_bytes);
        s_metric(&b, "log_batches", "gauge", "Batches in the log since the last snapshot.", (double)s->log_batches);
        s_metric(&b, "fsyncs_total", "counter", "Log syncs.", (double)s->fsyncs);
        s_metric(&b, "snapshots_total", "counter", "Snapshots written.", (double)s->snapshots);
        s_metric(&b, "senders", "gauge", "Emitters known.", (double)s->senders);
        s_metric(&b, "log_lag_seconds", "gauge", "Age of the oldest batch not yet in a snapshot.", s->lag_seconds);
        s_metric(&b, "uptime_seconds", "gauge", "Seconds since the integrator started.", s->uptime_seconds);
    }
    s_metric(&b, "store_triples", "gauge", "Triples in the store.", (double)c.store_triples);
    s_metric(&b, "http_requests_total", "counter", "HTTP requests answered.", (double)c.requests);
    s_metric(&b, "http_client_errors_total", "counter", "HTTP answers with a 4xx status.", (double)c.e4);
    s_metric(&b, "http_server_errors_total", "counter", "HTTP answers with a 5xx status.", (double)c.e5);
    s_metric(&b, "sparql_queries_total", "counter", "SPARQL queries run.", (double)c.queries);
    s_metric(&b, "sparql_queries_busy_total", "counter", "Queries refused with 503 (too many at once).", (double)c.busy);
    s_metric(&b, "sparql_queries_over_limit_total", "counter", "Queries stopped by the time, row or size limit.", (double)c.limited);
    s_metric(&b, "sparql_queries_active", "gauge", "Queries running or waiting now.", (double)c.active);
    s_metric(&b, "sparql_query_seconds_total", "counter", "Time spent answering queries.", c.query_seconds);
    size_t len = b.len;
    s_answer_take(a, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", mida_buf_detach(&b),
                  len);
}

/* ---- dispatch --------------------------------------------------------- */

static bool s_is_get(const char *method)
{
    return !strcmp(method, "GET") || !strcmp(method, "HEAD");
}

static void s_route(mida_httpd_t *d, struct MHD_Connection *con, const char *url,
                    const char *method, const s_req *r, s_answer *a)
{
    s_params p = {0};
    MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND, s_collect_arg, &p);
    const char *accept = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Accept");
    bool get = s_is_get(method);
    if (r->too_big) {
        s_answer_text(a, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is larger than %zu bytes",
                      d->opts.max_body);
    } else if (!strcmp(url, "/sparql") || !strcmp(url, "/sparql/")) {
        if (get || !strcmp(method, "POST")) {
            s_sparql(d, con, method, r, &p, a);
        } else {
            s_answer_text(a, MHD_HTTP_METHOD_NOT_ALLOWED, "%s is not allowed on /sparql", method);
            a->allow = "GET, HEAD, POST, OPTIONS";
        }
    } else if (!get) {
        s_answer_text(a, MHD_HTTP_METHOD_NOT_ALLOWED,
                      "%s is not allowed on %s: this endpoint is read-only", method, url);
        a->allow = "GET, HEAD, OPTIONS";
    } else if (!strcmp(url, "/data")) {
        s_data(d, &p, accept, a);
    } else if (!strcmp(url, "/resource")) {
        const char *iri = s_param(&p, "iri", NULL);
        if (!iri) {
            s_answer_text(a, MHD_HTTP_BAD_REQUEST, "/resource wants ?iri=IRI");
        } else {
            mida_buf_t self;
            mida_buf_init(&self, 0);
            mida_buf_adds(&self, "/resource?iri=");
            s_url_encode(&self, iri);
            s_resource(d, iri, mida_buf_str(&self), &p, accept, a);
            mida_buf_free(&self);
        }
    } else if (!strcmp(url, "/status")) {
        s_status(d, a);
    } else if (!strcmp(url, "/metrics")) {
        s_metrics(d, a);
    } else if (!strcmp(url, "/queries")) {
        s_queries(a);
    } else if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
        if (!s_file("src/web/index.html", a))
            s_answer_text(a, MHD_HTTP_NOT_FOUND, "this mida was built without its web page");
    } else if (!strncmp(url, "/ui/", 4) && !strchr(url + 4, '/')) {
        char path[256];
        snprintf(path, sizeof path, "src/web/%s", url + 4);
        if (!s_file(path, a))
            s_answer_text(a, MHD_HTTP_NOT_FOUND, "no file %s", url);
    } else if (!strncmp(url, "/queries/", 9) && !strchr(url + 9, '/')) {
        char path[256];
        snprintf(path, sizeof path, "queries/%s", url + 9);
        if (!s_file(path, a))
            s_answer_text(a, MHD_HTTP_NOT_FOUND, "no query %s", url);
    } else if (d->origin_len) {
        /* a minted IRI: <origin of the base><path> */
        mida_buf_t iri;
        mida_buf_init(&iri, 0);
        mida_buf_add(&iri, d->base, d->origin_len);
        mida_buf_adds(&iri, url);
        s_resource(d, mida_buf_str(&iri), url, &p, accept, a);
        mida_buf_free(&iri);
    } else {
        s_answer_text(a, MHD_HTTP_NOT_FOUND, "no such page: %s", url);
    }
    s_params_free(&p);
}

static enum MHD_Result s_queue(mida_httpd_t *d, struct MHD_Connection *con, s_answer *a)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(a->len, a->body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(a->body);
        return MHD_NO;
    }
    a->body = NULL;
    if (a->type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(resp, "Vary", "Accept");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            a->cache ? "max-age=60" : "no-store");
    if (a->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, a->allow);
    if (a->retry_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (a->challenge)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"mida\"");
    if (a->status == MHD_HTTP_NO_CONTENT) {
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                "Accept, Content-Type, Authorization");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
    }
    atomic_fetch_add(&d->requests, 1);
    if (a->status >= 500)
        atomic_fetch_add(&d->errors_5xx, 1);
    else if (a->status >= 400)
        atomic_fetch_add(&d->errors_4xx, 1);
    enum MHD_Result ret = MHD_queue_response(con, a->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *con, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void)version;
    mida_httpd_t *d = cls;
    s_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        mida_buf_init(&r->body, 0);
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->too_big && r->body.len + *upload_data_size <= d->opts.max_body) {
            if (mida_buf_add(&r->body, upload_data, *upload_data_size))
                r->too_big = true;
        } else {
            r->too_big = true;
            mida_buf_free(&r->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    s_answer a = {0};
    if (!strcmp(method, "OPTIONS")) {
        s_answer_take(&a, MHD_HTTP_NO_CONTENT, NULL, NULL, 0);
        a.allow = "GET, HEAD, POST, OPTIONS";
    } else {
        s_route(d, con, url, method, r, &a);
    }
    if (!a.status)
        s_answer_text(&a, MHD_HTTP_INTERNAL_SERVER_ERROR, "no answer");
    if (a.status >= 500 || mida__log_enabled(d->ctx, MIDA_LOG_DEBUG))
        mida__log(d->ctx, a.status >= 500 ? MIDA_LOG_WARN : MIDA_LOG_DEBUG, MIDA_FROM_HTTP, 0,
                  NULL, "%s %s -> %u%s%.*s", method, url, a.status, a.status >= 400 ? ": " : "",
                  a.status >= 400 ? (int)strcspn(a.body ? a.body : "", "\n") : 0,
                  a.status >= 400 && a.body ? a.body : "");
    return s_queue(d, con, &a);
}

static void s_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)con;
    (void)toe;
    s_req *r = *con_cls;
    if (r) {
        mida_buf_free(&r->body);
        free(r);
        *con_cls = NULL;
    }
}

/* ---- life cycle --------------------------------------------------------- */

/* "HOST:PORT" or "[V6]:PORT" -> address. */
static int s_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
                          char *host, size_t hostlen)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen)
        return MIDA_EINVAL;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port > 65535)
        return MIDA_EINVAL;
    memset(ss, 0, sizeof *ss);
    if (listen[0] == '[') {
        if (colon[-1] != ']' || (size_t)(colon - listen - 2) >= hostlen)
            return MIDA_EINVAL;
        snprintf(host, hostlen, "%.*s", (int)(colon - listen - 2), listen + 1);
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
            return MIDA_EINVAL;
        *len = sizeof *s6;
    } else {
        if ((size_t)(colon - listen) >= hostlen)
            return MIDA_EINVAL;
        snprintf(host, hostlen, "%.*s", (int)(colon - listen), listen);
        if (!strcmp(host, "localhost"))
            snprintf(host, hostlen, "127.0.0.1");
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            return MIDA_EINVAL;
        *len = sizeof *s4;
    }
    return 0;
}

mida_httpd_t *mida_httpd_new(mida_ctx_t *ctx, mida_store_t *store, const mida_httpd_opts_t *opts,
                             char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!ctx || !store) {
        snprintf(err, errlen, "no store");
        return NULL;
    }
    mida_httpd_t *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->ctx = ctx;
    d->store = store;
    if (opts)
        d->opts = *opts;
    if (!d->opts.listen)
        d->opts.listen = MIDA_DEFAULT_HTTP;
    if (!d->opts.max_body)
        d->opts.max_body = DEFAULT_MAX_BODY;
    if (!d->opts.max_rows)
        d->opts.max_rows = DEFAULT_MAX_ROWS;
    if (!d->opts.max_answer)
        d->opts.max_answer = DEFAULT_MAX_ANSWER;
    if (!(d->opts.timeout_s > 0))
        d->opts.timeout_s = DEFAULT_TIMEOUT_S;
    if (!d->opts.max_queries)
        d->opts.max_queries = DEFAULT_MAX_QUERIES;
    if (!d->opts.threads)
        d->opts.threads = DEFAULT_THREADS;
    const char *base = mida_store_meta_get(store, "base");
    d->base = strdup(base && *base ? base : MIDA_DEFAULT_BASE);
    if (d->opts.update_token)
        d->update_token = strdup(d->opts.update_token);
    d->opts.update_token = NULL;
    if (!d->base || (opts && opts->update_token && !d->update_token)) {
        free(d->update_token);
        free(d->base);
        snprintf(err, errlen, "out of memory");
        free(d);
        return NULL;
    }
    const char *scheme_end = strstr(d->base, "://");
    if (scheme_end && (!strncmp(d->base, "http://", 7) || !strncmp(d->base, "https://", 8)))
        d->origin_len = (size_t)(strchrnul(scheme_end + 3, '/') - d->base);
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    char host[64];
    if (s_parse_listen(d->opts.listen, &ss, &sslen, host, sizeof host)) {
        snprintf(err, errlen, "cannot listen on '%s': want HOST:PORT with a numeric address, "
                              "e.g. 127.0.0.1:7878",
                 d->opts.listen);
        free(d->base);
        free(d->update_token);
        free(d);
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    d->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, s_handle, d, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)d->opts.threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024), MHD_OPTION_NOTIFY_COMPLETED,
        s_completed, d, MHD_OPTION_UNESCAPE_CALLBACK, s_no_unescape, d, MHD_OPTION_END);
    if (!d->daemon) {
        snprintf(err, errlen, "cannot listen on %s: %s", d->opts.listen,
                 errno ? strerror(errno) : "libmicrohttpd could not start");
        free(d->base);
        free(d->update_token);
        free(d);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : 0;
    if (ss.ss_family == AF_INET6)
        snprintf(d->url, sizeof d->url, "http://[%s]:%u/", host, port);
    else
        snprintf(d->url, sizeof d->url, "http://%s:%u/", host, port);
    mida__log(ctx, MIDA_LOG_INFO, MIDA_FROM_HTTP, 0, NULL, "SPARQL endpoint %ssparql, web page %s",
              d->url, d->url);
    return d;
}

const char *mida_httpd_url(const mida_httpd_t *d)
{
    return d ? d->url : NULL;
}

void mida_httpd_destroy(mida_httpd_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mida_httpd_t *d = *self_p;
    if (d->daemon)
        MHD_stop_daemon(d->daemon);
    free(d->base);
    free(d->update_token);
    free(d);
    *self_p = NULL;
}

/* ---- self-test ---------------------------------------------------------- */

int mida_httpd_test(bool verbose);
int mida_httpd_test(bool verbose)
{
    int f = 0;
    static const char *const rs[] = {MT_JSON, MT_XML, MT_CSV, MT_TSV};
    MIDA_CHECK(f, mida_httpd_negotiate(NULL, rs, 4) == 0);
    MIDA_CHECK(f, mida_httpd_negotiate("", rs, 4) == 0);
    MIDA_CHECK(f, mida_httpd_negotiate("*/*", rs, 4) == 0);
    MIDA_CHECK(f, mida_httpd_negotiate("text/csv", rs, 4) == 2);
    MIDA_CHECK(f, mida_httpd_negotiate("text/*", rs, 4) == 2);
    MIDA_CHECK(f, mida_httpd_negotiate("text/csv;q=0.5, application/sparql-results+xml", rs, 4) == 1);
    MIDA_CHECK(f, mida_httpd_negotiate("application/sparql-results+json;q=0.2, */*;q=0.1", rs, 4) == 0);
    MIDA_CHECK(f, mida_httpd_negotiate("*/*;q=0.9, text/csv;q=0", rs, 4) == 0);
    MIDA_CHECK(f, mida_httpd_negotiate("image/png", rs, 4) == -1);
    MIDA_CHECK(f, mida_httpd_negotiate("TEXT/TAB-SEPARATED-VALUES; charset=utf-8", rs, 4) == 3);
    static const char *const html[] = {MT_HTML, "text/turtle"};
    MIDA_CHECK(f, mida_httpd_negotiate("text/html,application/xhtml+xml,application/xml;q=0.9,"
                                       "image/avif,*/*;q=0.8",
                                       html, 2) == 0);
    MIDA_CHECK(f, mida_httpd_negotiate("text/turtle, text/html;q=0.5", html, 2) == 1);

    s_params p = {0};
    const char body[] = "query=SELECT+%3Fs+WHERE+%7B%7D&default-graph-uri=a&x&query=2&bad=%zz";
    MIDA_CHECK(f, s_parse_form(body, sizeof body - 1, &p) == 0);
    size_t nq = 0;
    MIDA_CHECK_STR(f, s_param(&p, "query", &nq), "SELECT ?s WHERE {}");
    MIDA_CHECK(f, nq == 2);
    MIDA_CHECK_STR(f, s_param(&p, "x", NULL), "");
    MIDA_CHECK_STR(f, s_param(&p, "bad", NULL), "%zz");
    s_params_free(&p);

    MIDA_CHECK(f, s_charset_utf8("application/sparql-query"));
    MIDA_CHECK(f, s_charset_utf8("application/sparql-query; charset=UTF-8"));
    MIDA_CHECK(f, !s_charset_utf8("application/sparql-query; charset=UTF-16"));
    MIDA_CHECK(f, mida__media_is("application/sparql-query;charset=utf-8", MT_QUERY));
    MIDA_CHECK(f, !mida__media_is("application/sparql-query2", MT_QUERY));

    MIDA_CHECK(f, mida__utf8_valid("caf\xc3\xa9", 5));
    MIDA_CHECK(f, !mida__utf8_valid("caf\xc3", 4));
    MIDA_CHECK(f, !mida__utf8_valid("a\0b", 3));
    MIDA_CHECK(f, !mida__utf8_valid("\xed\xa0\x80", 3));  /* a surrogate */
    MIDA_CHECK(f, !mida__utf8_valid("\xc0\xaf", 2));      /* overlong '/' */
    MIDA_CHECK(f, mida__utf8_valid("\xf0\x9f\x99\x82", 4));

    struct sockaddr_storage ss;
    socklen_t len;
    char host[64];
    MIDA_CHECK(f, s_parse_listen("127.0.0.1:0", &ss, &len, host, sizeof host) == 0);
    MIDA_CHECK(f, s_parse_listen("[::1]:8080", &ss, &len, host, sizeof host) == 0 &&
                      !strcmp(host, "::1"));
    MIDA_CHECK(f, s_parse_listen("localhost:80", &ss, &len, host, sizeof host) == 0);
    MIDA_CHECK(f, s_parse_listen("127.0.0.1", &ss, &len, host, sizeof host) != 0);
    MIDA_CHECK(f, s_parse_listen("127.0.0.1:99999", &ss, &len, host, sizeof host) != 0);
    MIDA_CHECK(f, s_parse_listen("example.org:80", &ss, &len, host, sizeof host) != 0);

    /* the embedded files are there */
    MIDA_CHECK(f, s_asset("queries/lineage-metrics-to-acquisition.rq") != NULL);
    s_answer a = {0};
    s_queries(&a);
    MIDA_CHECK(f, a.status == MHD_HTTP_OK && a.body &&
                      strstr(a.body, "\"name\": \"lineage-metrics-to-acquisition\""));
    free(a.body);
    if (verbose)
        printf("httpd: %d failures\n", f);
    return f;
}
