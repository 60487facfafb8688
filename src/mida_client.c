/* mida_client.c - the SPARQL 1.1 Protocol client: one query, one answer.
 * Owns: the libcurl handle of each request (the only module that calls
 *       curl_*), building the request, collecting the answer under its
 *       size limit, and turning every failure into one message.
 * Must not: parse the answers (mida_results and mida_quads do), print, or
 *       keep connections between calls.
 *
 * A request gets a fresh easy handle and the answer is collected whole in
 * memory before the call returns, so a caller never sees part of a body:
 * past opts.max_answer the transfer is aborted and the call fails.  The
 * limit is checked twice: by curl against a Content-Length before the
 * body comes (CURLOPT_MAXFILESIZE_LARGE), and by the write callback for
 * answers that announce no length (chunked, or ended by closing).
 *
 * libcurl must be initialised once per process before the first handle
 * (curl_global_init, which is not reference counted); this module does it
 * on first use under pthread_once and never cleans up, which is the one
 * piece of process-wide state it keeps.
 */
#include "mida_internal.h"

#include <ctype.h>
#include <curl/curl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* How much of an error body goes into the message: the first lines, as
 * servers put the parser's message first and the query (or a stack trace)
 * after it. */
#define ERR_BODY_LINES 6
#define ERR_BODY_BYTES 800

#define MT_QUERY "application/sparql-query"
#define MT_FORM "application/x-www-form-urlencoded"

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static CURLcode s_global_rc = CURLE_FAILED_INIT;

static void s_global_init(void)
{
    s_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void mida_client_answer_init(mida_client_answer_t *a)
{
    if (a)
        memset(a, 0, sizeof *a);
}

void mida_client_answer_free(mida_client_answer_t *a)
{
    if (!a)
        return;
    free(a->content_type);
    free(a->body);
    memset(a, 0, sizeof *a);
}

bool mida_client_media_is(const char *content_type, const char *media)
{
    return mida__media_is(content_type, media);
}

/* ---- the form of a query --------------------------------------------- */

/* Skips white space and '#' comments (to the end of the line). */
static const char *s_skip_space(const char *p)
{
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (*p != '#')
            return p;
        while (*p && *p != '\n' && *p != '\r')
            p++;
    }
}

/* Does the keyword `kw` (any case) start at *p as a whole word?  If so,
 * moves *p past it. */
static bool s_keyword(const char **p, const char *kw)
{
    size_t n = strlen(kw);
    if (strncasecmp(*p, kw, n))
        return false;
    unsigned char c = (unsigned char)(*p)[n];
    if (isalnum(c) || c == '_' || c == ':' || c == '-' || c >= 0x80)
        return false;
    *p += n;
    return true;
}

/* Skips an IRIREF <...>; NULL when there is none. */
static const char *s_skip_iri(const char *p)
{
    p = s_skip_space(p);
    if (*p != '<')
        return NULL;
    p = strchr(p, '>');
    return p ? p + 1 : NULL;
}

mida_query_kind_t mida_client_query_kind(const char *query)
{
    if (!query)
        return (mida_query_kind_t)0;
    const char *p = query;
    if (!strncmp(p, "\xEF\xBB\xBF", 3))   /* a byte order mark */
        p += 3;
    for (;;) {
        p = s_skip_space(p);
        if (s_keyword(&p, "BASE")) {
            if (!(p = s_skip_iri(p)))
                return (mida_query_kind_t)0;
        } else if (s_keyword(&p, "PREFIX")) {
            /* PNAME_NS: an optional prefix name, then ':' */
            p = s_skip_space(p);
            while (*p && *p != ':' && !isspace((unsigned char)*p) && *p != '<')
                p++;
            if (*p != ':' || !(p = s_skip_iri(p + 1)))
                return (mida_query_kind_t)0;
        } else {
            break;
        }
    }
    if (s_keyword(&p, "SELECT"))
        return MIDA_QUERY_SELECT;
    if (s_keyword(&p, "ASK"))
        return MIDA_QUERY_ASK;
    if (s_keyword(&p, "CONSTRUCT"))
        return MIDA_QUERY_CONSTRUCT;
    if (s_keyword(&p, "DESCRIBE"))
        return MIDA_QUERY_DESCRIBE;
    return (mida_query_kind_t)0;
}

/* ---- one exchange ----------------------------------------------------- */

/* What the callbacks collect during one transfer. */
typedef struct s_xfer {
    mida_buf_t body;      /* capped at the answer limit */
    bool too_big;         /* the write callback refused a chunk */
    char reason[64];      /* reason phrase of the last status line */
} s_xfer;

static size_t s_on_body(char *data, size_t size, size_t n, void *ud)
{
    s_xfer *x = ud;
    size_t len = size * n;
    if (mida_buf_add(&x->body, data, len)) {
        x->too_big = true;
        return 0;   /* curl aborts the transfer with CURLE_WRITE_ERROR */
    }
    return len;
}

/* Keeps the reason phrase of each status line: the last one wins (a 100
 * Continue or a redirect comes before the answer).  HTTP/2 has none. */
static size_t s_on_header(char *data, size_t size, size_t n, void *ud)
{
    s_xfer *x = ud;
    size_t len = size * n;
    if (len > 5 && !strncmp(data, "HTTP/", 5)) {
        x->reason[0] = '\0';
        const char *p = memchr(data, ' ', len);          /* before the code */
        const char *end = data + len;
        if (p && (p = memchr(p + 1, ' ', (size_t)(end - p - 1)))) {  /* after it */
            p++;
            size_t r = (size_t)(end - p);
            while (r && (p[r - 1] == '\r' || p[r - 1] == '\n' || p[r - 1] == ' '))
                r--;
            if (r >= sizeof x->reason)
                r = sizeof x->reason - 1;
            memcpy(x->reason, p, r);
            x->reason[r] = '\0';
        }
    }
    return len;
}

/* Appends "&name=<escaped value>" (no '&' when b is empty). */
static int s_param(CURL *h, mida_buf_t *b, const char *name, const char *value)
{
    char *esc = curl_easy_escape(h, value, (int)strlen(value));
    if (!esc)
        return MIDA_ENOMEM;
    int rc = mida_buf_printf(b, "%s%s=%s", b->len ? "&" : "", name, esc);
    curl_free(esc);
    return rc;
}

static int s_graph_params(CURL *h, mida_buf_t *b, const mida_client_opts_t *o)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < o->n_default_graphs; i++)
        rc = o->default_graphs[i] ? s_param(h, b, "default-graph-uri", o->default_graphs[i])
                                  : MIDA_EINVAL;
    for (size_t i = 0; !rc && i < o->n_named_graphs; i++)
        rc = o->named_graphs[i] ? s_param(h, b, "named-graph-uri", o->named_graphs[i])
                                : MIDA_EINVAL;
    return rc;
}

/* The first lines of an error body, for the message: at most
 * ERR_BODY_LINES non-blank lines and ERR_BODY_BYTES bytes, with the tags
 * of an HTML body dropped, control characters as spaces, blank lines
 * dropped, the indentation of the lines after the first kept (a caret
 * under the query points where it should) and a cut made on a character
 * boundary. */
static void s_excerpt(const char *body, size_t len, bool html, char *out, size_t outlen)
{
    size_t o = 0, lines = 0, blanks = 0;
    bool in_tag = false, line_has_text = false;
    size_t cap = outlen - 1 < ERR_BODY_BYTES ? outlen - 1 : ERR_BODY_BYTES;
    for (size_t i = 0; i < len && o < cap; i++) {
        unsigned char c = (unsigned char)body[i];
        if (html && c == '<') {
            in_tag = true;
            continue;
        }
        if (in_tag) {
            in_tag = c != '>';
            continue;
        }
        if (c == '\r')
            continue;
        if (c == '\n') {
            blanks = 0;
            if (!line_has_text)
                continue;
            if (++lines == ERR_BODY_LINES)
                break;
            out[o++] = '\n';
            line_has_text = false;
            continue;
        }
        if (c < 0x20 || c == 0x7f)
            c = ' ';
        if (c == ' ' && !line_has_text) {
            blanks += o > 0;   /* the first line starts at its text */
            continue;
        }
        for (; blanks && o < cap; blanks--)
            out[o++] = ' ';
        if (o == cap)
            break;
        out[o++] = (char)c;
        line_has_text = true;
    }
    /* do not end in the middle of a UTF-8 sequence, nor in blanks */
    if (o == cap)
        while (o && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
            o--;
    if (o && (unsigned char)out[o - 1] >= 0xC0)
        o--;
    while (o && (out[o - 1] == ' ' || out[o - 1] == '\n'))
        o--;
    out[o] = '\0';
}

/* Appends a header line; on failure the list is left as it was. */
static bool s_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);
    if (l)
        *list = l;
    return l != NULL;
}

static bool s_is_http_url(const char *url)
{
    return !strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8);
}

/* This function assumes the following:
 *   (a) `answer` was initialised (its old contents are freed here);
 *   (b) err may be NULL only when errlen is 0.
 * Every path out goes through `done`, which frees the request. */
int mida_client_query(mida_ctx_t *ctx, const char *url, const char *query,
                      const mida_client_opts_t *opts, mida_client_answer_t *answer,
                      char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!url || !query || !answer)
        return MIDA_EINVAL;
    mida_client_answer_free(answer);
    if (!s_is_http_url(url)) {
        snprintf(err, errlen, "%s: not an http:// or https:// URL", url);
        return MIDA_EINVAL;
    }
    mida_client_opts_t o = {0};
    if (opts)
        o = *opts;
    if ((o.n_default_graphs && !o.default_graphs) || (o.n_named_graphs && !o.named_graphs) ||
        o.method > MIDA_CLIENT_GET || !(o.timeout_s >= 0))
        return MIDA_EINVAL;
    size_t max = o.max_answer ? o.max_answer : MIDA_CLIENT_MAX_ANSWER;

    pthread_once(&s_once, s_global_init);
    if (s_global_rc != CURLE_OK) {
        snprintf(err, errlen, "cannot start libcurl: %s", curl_easy_strerror(s_global_rc));
        return MIDA_EIO;
    }

    int rc = 0;
    s_xfer x = {.too_big = false};
    mida_buf_init(&x.body, max);
    mida_buf_t target, form, hdr;
    mida_buf_init(&target, 0);
    mida_buf_init(&form, 0);
    mida_buf_init(&hdr, 0);
    struct curl_slist *headers = NULL;
    char curl_err[CURL_ERROR_SIZE] = "";
    CURL *h = curl_easy_init();
    if (!h) {
        rc = MIDA_ENOMEM;
        goto done;
    }

    /* The request: where the query and the graphs go depends on the method. */
    mida_buf_t params;
    mida_buf_init(&params, 0);
    if (o.method != MIDA_CLIENT_POST)
        rc = s_param(h, &params, "query", query);
    if (!rc)
        rc = s_graph_params(h, &params, &o);
    if (!rc)
        rc = mida_buf_adds(&target, url);
    if (!rc && o.method != MIDA_CLIENT_POST_FORM && params.len)
        rc = mida_buf_printf(&target, "%c%s", strchr(url, '?') ? '&' : '?', mida_buf_str(&params));
    if (!rc && o.method == MIDA_CLIENT_POST_FORM)
        rc = mida_buf_add(&form, mida_buf_str(&params), params.len);
    mida_buf_free(&params);
    if (!rc)
        rc = mida_buf_printf(&hdr, "Accept: %s", o.accept && *o.accept ? o.accept : "*/*");
    if (rc)
        goto done;
    bool ok = s_header(&headers, mida_buf_str(&hdr));
    if (ok && o.method == MIDA_CLIENT_POST)
        ok = s_header(&headers, "Content-Type: " MT_QUERY "; charset=utf-8");
    else if (ok && o.method == MIDA_CLIENT_POST_FORM)
        ok = s_header(&headers, "Content-Type: " MT_FORM);
    /* no "Expect: 100-continue" wait before a large body: not every
     * endpoint answers it, and curl would stall a second for each */
    if (ok)
        ok = s_header(&headers, "Expect:");
    if (!ok) {
        rc = MIDA_ENOMEM;
        goto done;
    }

    curl_easy_setopt(h, CURLOPT_URL, mida_buf_str(&target));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mida/" MIDA_VERSION_STRING);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");   /* whatever curl can decode */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
#if LIBCURL_VERSION_NUM >= 0x075500   /* 7.85.0 */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                     (curl_off_t)(max < ((size_t)1 << 62) ? max : ((size_t)1 << 62)));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    if (o.timeout_s > 0) {
        double ms = ceil(o.timeout_s * 1000.0);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(ms > (double)(LONG_MAX / 2) ? LONG_MAX / 2 : ms));
    }
    switch (o.method) {
    case MIDA_CLIENT_POST:
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, query);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(query));
        break;
    case MIDA_CLIENT_POST_FORM:
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, mida_buf_str(&form));
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form.len);
        break;
    case MIDA_CLIENT_GET:
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        break;
    }

    static const char *const method_name[] = {"POST", "POST (form)", "GET"};
    mida__log(ctx, MIDA_LOG_DEBUG, MIDA_FROM_HTTP, 0, NULL, "%s %s, %zu bytes of query, %s",
              method_name[o.method], url, strlen(query), mida_buf_str(&hdr));
    double t0 = mida__mono_now();
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        const char *why = curl_err[0] ? curl_err : curl_easy_strerror(cc);
        if (cc == CURLE_FILESIZE_EXCEEDED || (cc == CURLE_WRITE_ERROR && x.too_big)) {
            snprintf(err, errlen, "%s: the answer is larger than %zu bytes (the limit)", url, max);
            rc = MIDA_ETOOBIG;
        } else if (cc == CURLE_OPERATION_TIMEDOUT) {
            snprintf(err, errlen, "%s: no answer within %g s (%s)", url, o.timeout_s, why);
            rc = MIDA_ELIMIT;
        } else {
            /* curl says "Couldn't connect to server"; the system's reason
             * (Connection refused, No route to host) is what people look for */
            long os_errno = 0;
            curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
            const char *os_why = os_errno ? strerror((int)os_errno) : "";
            if (os_errno && !strstr(why, os_why))
                snprintf(err, errlen, "%s: %s (%s)", url, why, os_why);
            else
                snprintf(err, errlen, "%s: %s", url, why);
            rc = MIDA_EIO;
        }
        goto done;
    }

    long status = 0;
    char *ctype = NULL;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype);
    answer->status = status;
    if (ctype && !(answer->content_type = strdup(ctype))) {
        rc = MIDA_ENOMEM;
        goto done;
    }
    answer->len = x.body.len;
    answer->body = mida_buf_detach(&x.body);
    mida__log(ctx, MIDA_LOG_DEBUG, MIDA_FROM_HTTP, 0, NULL, "%ld %s, %zu bytes in %.3f s", status,
              ctype ? ctype : "(no Content-Type)", answer->len, mida__mono_now() - t0);
    if (status < 200 || status > 299) {
        char excerpt[ERR_BODY_BYTES + 1];
        s_excerpt(answer->body ? answer->body : "", answer->len,
                  mida_client_media_is(ctype, "text/html") ||
                      mida_client_media_is(ctype, "application/xhtml+xml"),
                  excerpt, sizeof excerpt);
        snprintf(err, errlen, "%s answered %ld%s%s: %s", url, status, x.reason[0] ? " " : "",
                 x.reason, excerpt[0] ? excerpt : "(no message)");
        rc = MIDA_EQUERY;
    }

done:
    if (rc && rc != MIDA_EQUERY)
        mida_client_answer_free(answer);
    if (rc == MIDA_ENOMEM && !err[0])
        snprintf(err, errlen, "out of memory");
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    mida_buf_free(&x.body);
    mida_buf_free(&target);
    mida_buf_free(&form);
    mida_buf_free(&hdr);
    return rc;
}

/* ---- self-test ------------------------------------------------------------
 *
 * A loopback HTTP server on a thread (plain sockets, one connection at a
 * time, "Connection: close") answers by path:
 *
 *   /echo...      200, the results media type, {"ok":true}; the request is
 *                 kept for the test to look at
 *   /bad          400 with a parser's message of many lines
 *   /html         500 with an HTML page
 *   /empty        404 with no body
 *   /big-length   200, 100,000 bytes with a Content-Length
 *   /big-close    200, 100,000 bytes ended by closing the connection
 *   /slow         no answer until the client goes away (or 5 s)
 *   /redirect     307 to /echo-moved (POST stays POST)
 */
#include "mida_selftest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#define TEST_BIG 100000

typedef struct s_srv {
    int fd;                    /* listening socket */
    unsigned port;
    atomic_bool stop;
    pthread_t thread;
    pthread_mutex_t lock;      /* guards `seen` */
    mida_buf_t seen;           /* the last /echo request: head and body */
} s_srv;

static void s_srv_send(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

static void s_srv_reply(int fd, const char *status, const char *type, const char *body,
                        size_t len, bool with_length, const char *extra)
{
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nConnection: close\r\n%s%s%s", status,
                     type ? "Content-Type: " : "", type ? type : "", type ? "\r\n" : "");
    if (with_length)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n", len);
    n += snprintf(head + n, sizeof head - (size_t)n, "%s\r\n", extra ? extra : "");
    s_srv_send(fd, head, (size_t)n);
    s_srv_send(fd, body, len);
}

/* Reads one request (head, then Content-Length bytes of body) into b.
 * false when the client went away first. */
static bool s_srv_read(int fd, mida_buf_t *b)
{
    char chunk[4096];
    size_t need = 0;
    const char *end_of_head = NULL;
    for (;;) {
        if (end_of_head && b->len >= need)
            return true;
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0 || mida_buf_add(b, chunk, (size_t)n))
            return false;
        if (!end_of_head && (end_of_head = strstr(b->data, "\r\n\r\n"))) {
            size_t head = (size_t)(end_of_head - b->data) + 4;
            const char *cl = strcasestr(b->data, "\r\nContent-Length:");
            need = head + (cl && cl < end_of_head ? strtoul(cl + 17, NULL, 10) : 0);
        }
    }
}

static void s_srv_handle(s_srv *s, int fd)
{
    mida_buf_t req;
    mida_buf_init(&req, 1 << 20);
    if (!s_srv_read(fd, &req)) {
        mida_buf_free(&req);
        return;
    }
    const char *path = strchr(req.data, ' ');
    path = path ? path + 1 : "";
    if (!strncmp(path, "/echo", 5)) {
        pthread_mutex_lock(&s->lock);
        mida_buf_reset(&s->seen);
        mida_buf_add(&s->seen, req.data, req.len);
        pthread_mutex_unlock(&s->lock);
        static const char ok[] = "{\"ok\":true}";
        s_srv_reply(fd, "200 OK", "application/sparql-results+json; charset=utf-8", ok,
                    sizeof ok - 1, true, NULL);
    } else if (!strncmp(path, "/bad ", 5)) {
        static const char msg[] = "\n  Parse error: line 1, column 8: unexpected '}'\r\n"
                                  "\n"
                                  "SELECT * WHERE {\n"
                                  "       ^\n"
                                  "3\n4\n5\n6\n7\n8\n";
        s_srv_reply(fd, "400 Bad Request", "text/plain", msg, sizeof msg - 1, true, NULL);
    } else if (!strncmp(path, "/html ", 6)) {
        static const char msg[] = "<html><head><title>Oops</title></head>\n<body><h1>Server "
                                  "Error</h1>\n<p>the store is\tgone</p></body></html>\n";
        s_srv_reply(fd, "500 Internal Server Error", "text/html; charset=utf-8", msg,
                    sizeof msg - 1, true, NULL);
    } else if (!strncmp(path, "/empty ", 7)) {
        s_srv_reply(fd, "404 Not Found", NULL, "", 0, true, NULL);
    } else if (!strncmp(path, "/big-", 5)) {
        char *big = malloc(TEST_BIG);
        if (big) {
            memset(big, 'x', TEST_BIG);
            s_srv_reply(fd, "200 OK", "text/csv", big, TEST_BIG, !strncmp(path, "/big-length", 11),
                        NULL);
            free(big);
        }
    } else if (!strncmp(path, "/slow ", 6)) {
        /* wait until the client hangs up: recv gives 0 */
        for (int i = 0; i < 500 && !atomic_load(&s->stop); i++) {
            struct pollfd pfd = {fd, POLLIN, 0};
            if (poll(&pfd, 1, 10) > 0 && recv(fd, (char[16]){0}, 16, 0) <= 0)
                break;
        }
    } else if (!strncmp(path, "/redirect ", 10)) {
        s_srv_reply(fd, "307 Temporary Redirect", NULL, "", 0, true, "Location: /echo-moved\r\n");
    } else {
        s_srv_reply(fd, "404 Not Found", "text/plain", "no such path", 12, true, NULL);
    }
    mida_buf_free(&req);
}

static void *s_srv_main(void *ud)
{
    s_srv *s = ud;
    while (!atomic_load(&s->stop)) {
        struct pollfd pfd = {s->fd, POLLIN, 0};
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        s_srv_handle(s, c);
        shutdown(c, SHUT_WR);
        close(c);
    }
    return NULL;
}

/* Binds 127.0.0.1:0 and starts the thread; 0 or -1. */
static int s_srv_start(s_srv *s)
{
    memset(s, 0, sizeof *s);
    mida_buf_init(&s->seen, 1 << 20);
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->stop, false);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&sa, sizeof sa) || listen(s->fd, 16) ||
        getsockname(s->fd, (struct sockaddr *)&sa, &len) ||
        pthread_create(&s->thread, NULL, s_srv_main, s)) {
        if (s->fd >= 0)
            close(s->fd);
        s->fd = -1;
        return -1;
    }
    s->port = ntohs(sa.sin_port);
    return 0;
}

static void s_srv_stop(s_srv *s)
{
    if (s->fd >= 0) {
        atomic_store(&s->stop, true);
        pthread_join(s->thread, NULL);
        close(s->fd);
    }
    mida_buf_free(&s->seen);
    pthread_mutex_destroy(&s->lock);
}

/* A copy of the last /echo request (caller frees). */
static char *s_srv_seen(s_srv *s)
{
    pthread_mutex_lock(&s->lock);
    char *copy = strdup(mida_buf_str(&s->seen));
    pthread_mutex_unlock(&s->lock);
    return copy;
}

static bool s_contains(const char *hay, const char *needle)
{
    bool yes = hay && strstr(hay, needle);
    if (!yes)
        fprintf(stderr, "  '%s' not in:\n%s\n", needle, hay ? hay : "(null)");
    return yes;
}

int mida_client_test(bool verbose);
int mida_client_test(bool verbose)
{
    int f = 0;

    /* -- the query form, from the text -- */
    MIDA_CHECK(f, mida_client_query_kind("SELECT * WHERE {}") == MIDA_QUERY_SELECT);
    MIDA_CHECK(f, mida_client_query_kind("\xEF\xBB\xBF select*{}") == MIDA_QUERY_SELECT);
    MIDA_CHECK(f, mida_client_query_kind("# ASK?\nPREFIX prov: <http://www.w3.org/ns/prov#>\n"
                                         "prefix : <http://x/#a>  BASE <http://b/> # c\n"
                                         "  Construct { ?s ?p ?o } WHERE {}") ==
                      MIDA_QUERY_CONSTRUCT);
    MIDA_CHECK(f, mida_client_query_kind("PREFIX:<http://x/>ASK{}") == 0);  /* not a prefix */
    MIDA_CHECK(f, mida_client_query_kind("PREFIX : <http://x/>ASK{}") == MIDA_QUERY_ASK);
    MIDA_CHECK(f, mida_client_query_kind("DESCRIBE <http://x/a>") == MIDA_QUERY_DESCRIBE);
    MIDA_CHECK(f, mida_client_query_kind("ASKING") == 0);
    MIDA_CHECK(f, mida_client_query_kind("INSERT DATA {}") == 0);
    MIDA_CHECK(f, mida_client_query_kind("PREFIX x: <unterminated SELECT") == 0);
    MIDA_CHECK(f, mida_client_query_kind("") == 0);
    MIDA_CHECK(f, mida_client_query_kind(NULL) == 0);

    MIDA_CHECK(f, mida_client_media_is("text/csv", "text/csv"));
    MIDA_CHECK(f, mida_client_media_is(" Text/CSV; charset=utf-8", "text/csv"));
    MIDA_CHECK(f, !mida_client_media_is("text/csvx", "text/csv"));
    MIDA_CHECK(f, !mida_client_media_is(NULL, "text/csv"));

    char excerpt[ERR_BODY_BYTES + 1];
    s_excerpt("a\xC3\xA9", 3, false, excerpt, 3);   /* room for 2 bytes: "a" */
    MIDA_CHECK_STR(f, excerpt, "a");

    /* -- bad arguments -- */
    mida_client_answer_t a;
    mida_client_answer_init(&a);
    char err[1024];
    MIDA_CHECK(f, mida_client_query(NULL, NULL, "ASK {}", NULL, &a, err, sizeof err) == MIDA_EINVAL);
    MIDA_CHECK(f, mida_client_query(NULL, "http://x/", NULL, NULL, &a, err, sizeof err) == MIDA_EINVAL);
    MIDA_CHECK(f, mida_client_query(NULL, "ftp://x/", "ASK {}", NULL, &a, err, sizeof err) ==
                      MIDA_EINVAL);
    MIDA_CHECK(f, s_contains(err, "ftp://x/: not an http"));
    mida_client_opts_t bad = {.n_named_graphs = 1};
    MIDA_CHECK(f, mida_client_query(NULL, "http://x/", "ASK {}", &bad, &a, err, sizeof err) ==
                      MIDA_EINVAL);

    s_srv srv;
    if (s_srv_start(&srv)) {
        fprintf(stderr, "client: cannot start the loopback server\n");
        return f + 1;
    }
    mida_ctx_t *ctx = mida_ctx_new();
    char url[256], *seen;
    const char *q = "SELECT * WHERE { ?s ?p \"caf\xC3\xA9 & co\" }";
    const char *dg[] = {"http://ex.org/g1", "http://ex.org/g 2"};
    const char *ng[] = {"http://ex.org/n?x=1&y"};

    /* -- POST application/sparql-query: the query is the body, the
     *    graphs go in the URL -- */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/echo", srv.port);
    mida_client_opts_t o = {.accept = "application/sparql-results+json",
                            .default_graphs = dg, .n_default_graphs = 2,
                            .named_graphs = ng, .n_named_graphs = 1};
    MIDA_CHECK(f, mida_client_query(ctx, url, q, &o, &a, err, sizeof err) == 0);
    MIDA_CHECK(f, a.status == 200);
    MIDA_CHECK_STR(f, a.content_type, "application/sparql-results+json; charset=utf-8");
    MIDA_CHECK_STR(f, a.body, "{\"ok\":true}");
    MIDA_CHECK(f, a.len == 11);
    seen = s_srv_seen(&srv);
    MIDA_CHECK(f, s_contains(seen, "POST /echo?default-graph-uri=http%3A%2F%2Fex.org%2Fg1"
                                   "&default-graph-uri=http%3A%2F%2Fex.org%2Fg%202"
                                   "&named-graph-uri=http%3A%2F%2Fex.org%2Fn%3Fx%3D1%26y HTTP/1.1\r\n"));
    MIDA_CHECK(f, s_contains(seen, "\r\nAccept: application/sparql-results+json\r\n"));
    MIDA_CHECK(f, s_contains(seen, "\r\nContent-Type: application/sparql-query; charset=utf-8\r\n"));
    MIDA_CHECK(f, s_contains(seen, "\r\n\r\nSELECT * WHERE { ?s ?p \"caf\xC3\xA9 & co\" }"));
    free(seen);

    /* -- POST form: everything in the body -- */
    o.method = MIDA_CLIENT_POST_FORM;
    o.n_named_graphs = 0;
    o.n_default_graphs = 1;
    MIDA_CHECK(f, mida_client_query(ctx, url, "ASK {}", &o, &a, err, sizeof err) == 0);
    seen = s_srv_seen(&srv);
    MIDA_CHECK(f, s_contains(seen, "POST /echo HTTP/1.1\r\n"));
    MIDA_CHECK(f, s_contains(seen, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
    MIDA_CHECK(f, s_contains(seen, "\r\n\r\nquery=ASK%20%7B%7D&default-graph-uri=http%3A%2F%2Fex.org%2Fg1"));
    free(seen);

    /* -- GET, on a URL that has a query string already; no Accept -- */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/echo?key=v", srv.port);
    o = (mida_client_opts_t){.method = MIDA_CLIENT_GET};
    MIDA_CHECK(f, mida_client_query(ctx, url, "ASK {}", &o, &a, err, sizeof err) == 0);
    seen = s_srv_seen(&srv);
    MIDA_CHECK(f, s_contains(seen, "GET /echo?key=v&query=ASK%20%7B%7D HTTP/1.1\r\n"));
    MIDA_CHECK(f, s_contains(seen, "\r\nAccept: */*\r\n"));
    free(seen);

    /* -- a redirect keeps the POST and its body -- */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/redirect", srv.port);
    MIDA_CHECK(f, mida_client_query(ctx, url, "ASK {}", NULL, &a, err, sizeof err) == 0);
    MIDA_CHECK(f, a.status == 200);
    seen = s_srv_seen(&srv);
    MIDA_CHECK(f, s_contains(seen, "POST /echo-moved HTTP/1.1\r\n"));
    MIDA_CHECK(f, s_contains(seen, "\r\n\r\nASK {}"));
    free(seen);

    /* -- errors from the server: status, reason and the first lines -- */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/bad", srv.port);
    MIDA_CHECK(f, mida_client_query(ctx, url, "SELECT * WHERE {", NULL, &a, err, sizeof err) ==
                      MIDA_EQUERY);
    MIDA_CHECK(f, a.status == 400 && a.body && strstr(a.body, "Parse error"));
    MIDA_CHECK(f, s_contains(err, url));
    MIDA_CHECK(f, s_contains(err, " answered 400 Bad Request: Parse error: line 1, column 8: "
                                  "unexpected '}'\nSELECT * WHERE {\n       ^\n3\n4\n5"));
    MIDA_CHECK(f, !strstr(err, "\n6"));
    if (verbose)
        printf("client: %s\n", err);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/html", srv.port);
    MIDA_CHECK(f, mida_client_query(ctx, url, "ASK {}", NULL, &a, err, sizeof err) == MIDA_EQUERY);
    MIDA_CHECK(f, s_contains(err, "answered 500 Internal Server Error: Oops\nServer Error\n"
                                  "the store is gone"));
    snprintf(url, sizeof url, "http://127.0.0.1:%u/empty", srv.port);
    MIDA_CHECK(f, mida_client_query(ctx, url, "ASK {}", NULL, &a, err, sizeof err) == MIDA_EQUERY);
    MIDA_CHECK(f, s_contains(err, "answered 404 Not Found: (no message)"));
    MIDA_CHECK(f, a.status == 404 && a.len == 0);

    /* -- the size limit: refused whole, with or without a Content-Length -- */
    o = (mida_client_opts_t){.max_answer = TEST_BIG - 1};
    snprintf(url, sizeof url, "http://127.0.0.1:%u/big-length", srv.port);
    MIDA_CHECK(f, mida_client_query(ctx, url, "ASK {}", &o, &a, err, sizeof err) == MIDA_ETOOBIG);
    MIDA_CHECK(f, s_contains(err, "larger than 99999 bytes"));
    MIDA_CHECK(f, a.status == 0 && a.body == NULL && a.len == 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/big-close", srv.port);
    MIDA_CHECK(f, mida_client_query(ctx, url, "ASK {}", &o, &a, err, sizeof err) == MIDA_ETOOBIG);
    MIDA_CHECK(f, s_contains(err, "larger than 99999 bytes"));
    MIDA_CHECK(f, a.body == NULL);
    o.max_answer = TEST_BIG;   /* exactly the limit is fine */
    MIDA_CHECK(f, mida_client_query(ctx, url, "ASK {}", &o, &a, err, sizeof err) == 0);
    MIDA_CHECK(f, a.len == TEST_BIG && a.body && a.body[TEST_BIG - 1] == 'x' && !a.body[TEST_BIG]);
    MIDA_CHECK(f, mida_client_media_is(a.content_type, "text/csv"));

    /* -- the time limit -- */
    o = (mida_client_opts_t){.timeout_s = 0.2};
    snprintf(url, sizeof url, "http://127.0.0.1:%u/slow", srv.port);
    double t0 = mida__mono_now();
    MIDA_CHECK(f, mida_client_query(ctx, url, "ASK {}", &o, &a, err, sizeof err) == MIDA_ELIMIT);
    MIDA_CHECK(f, mida__mono_now() - t0 < 4.0);
    MIDA_CHECK(f, s_contains(err, url) && s_contains(err, "no answer within 0.2 s"));

    /* -- nobody listening: a port that was free a moment ago -- */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t salen = sizeof sa;
    MIDA_CHECK(f, fd >= 0 && !bind(fd, (struct sockaddr *)&sa, sizeof sa) &&
                      !getsockname(fd, (struct sockaddr *)&sa, &salen));
    if (fd >= 0)
        close(fd);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sparql", (unsigned)ntohs(sa.sin_port));
    MIDA_CHECK(f, mida_client_query(ctx, url, "ASK {}", NULL, &a, err, sizeof err) == MIDA_EIO);
    MIDA_CHECK(f, s_contains(err, url) && s_contains(err, "refused"));
    if (verbose)
        printf("client: %s\n", err);

    mida_client_answer_free(&a);
    mida_client_answer_free(&a);   /* twice is fine */
    mida_client_answer_free(NULL);
    s_srv_stop(&srv);
    mida_ctx_destroy(&ctx);
    if (verbose)
        printf("client: %d failures\n", f);
    return f;
}
