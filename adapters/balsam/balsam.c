/* balsam.c - the Balsam adapter: watches a Balsam server's REST API (its
 * jobs and their event log) and turns each job into a task record.
 * Owns: the adapter's HTTP client (one libcurl easy handle, kept between
 *       requests so that the connection is reused), the event and job
 *       cursors, the in-memory caches of apps, sites and batch jobs.
 * Must not: send anything but GET to the server; log or store the bearer
 *       token (error messages name the URL, never the Authorization
 *       header); follow redirects (the token would travel with them).
 *
 * What is read, and why this way (docs/adapters/balsam.md has the table):
 *
 *  * GET /events/?timestamp_after=T-overlap&ordering=timestamp: the log of
 *    state transitions.  An event's timestamp is the one the site reported
 *    (launcher and processing clocks, batched by the site's status
 *    updater), not the time the server stored it, so an event can arrive
 *    after others with later timestamps.  Each poll therefore reads again
 *    from `overlap` seconds before the latest timestamp seen and drops the
 *    event ids it has seen.  The ids seen are kept in the cursor as ranges
 *    (they come from a PostgreSQL serial, so they are nearly contiguous),
 *    each with the latest timestamp among its ids; a range is forgotten
 *    once that timestamp falls out of the window, where no read finds it
 *    any more.
 *  * GET /jobs/?last_update_after=L-overlap: jobs whose row changed (state,
 *    data, return code, tags).  last_update is the server's now(), which
 *    PostgreSQL takes at the start of the transaction, so an update can
 *    commit after one stamped later: the same overlap applies, and the
 *    (id, last_update) pairs of the window are kept to drop what was
 *    already handled.  This read is also the safety net for an event later
 *    than the overlap window: the transition that wrote it changed the
 *    job's last_update too.  The first poll reads every job.
 *  * For each job that changed or has new events: its whole event history
 *    (GET /events/?job_id=..., 100 jobs a request), because the record's
 *    times and custom_metadata are single-valued in mida and each record
 *    replaces them: a record is a function of (job, history) only, so
 *    sending it again after a restart gives the same triples.
 *  * /apps/, /sites/, /batch-jobs/ by id, once per id, cached: the app's
 *    name (activity_id), the site's path (to make the job's workdir, which
 *    Balsam keeps relative to <site path>/data, an absolute location) and
 *    the allocation (scheduler id).  An endpoint that answers 403 or 404
 *    is not asked again by this process and its fields are left out.
 *
 * Every list is read page by page (limit/offset, --page-size) until the
 * server's count is reached, whatever page size the server grants.  When
 * the count falls between pages (rows deleted meanwhile move later rows
 * forward past the offset) the list is read again from the start, at most
 * three times; rows added meanwhile only push rows back, and those read
 * twice are dropped as duplicates.  Nothing is truncated.
 *
 * Failures: no answer, a timeout, 408/429/5xx -> MIDA_EAGAIN (the poll is
 * tried again, the cursor does not move); 401/403 on jobs or events, 404,
 * another 4xx, a redirect, an answer that is not a Balsam list -> an
 * error that stops the observer, naming the URL.  An item that cannot be
 * read (no id, a state or time that is not one) is skipped with
 * mida_observer_skip, naming it.
 */
#include "mida.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_OVERLAP_S 300
#define DEFAULT_PAGE_SIZE 1000
#define DEFAULT_TIMEOUT_S 60
#define MAX_PAGE_SIZE 100000     /* the server's own maximum `limit` */
#define IDS_PER_REQUEST 100      /* ids in one ?id=..&id=.. query */
#define MAX_BODY (512u << 20)    /* one answer; a page of 100000 jobs fits */
#define MAX_LIST_RESTARTS 3
#define MAX_EVENTS_KEPT 256      /* events of one job in custom_metadata */
#define MAX_EVENT_TEXT 1024      /* a string in an event's data, tail kept */
#define US_PER_S 1000000LL

/* ---- small containers ------------------------------------------------------ */

/* A set of int64 ids: appended, then sorted and de-duplicated. */
typedef struct {
    int64_t *v;
    size_t n, cap;
    bool sorted;
} s_ids;

/* Event ids lo..hi (all seen); ts: the latest timestamp among them. */
typedef struct {
    int64_t lo, hi, ts;
} s_range;

/* A job and the last_update it had when it was handled. */
typedef struct {
    int64_t id, lu;
} s_jobmark;

/* An event id and its timestamp, as read in one poll. */
typedef struct {
    int64_t id, ts;
} s_evmark;

#define S_VEC(type, name)                                                                     \
    typedef struct {                                                                          \
        type *v;                                                                              \
        size_t n, cap;                                                                        \
    } name

S_VEC(s_range, s_ranges);
S_VEC(s_jobmark, s_jobmarks);
S_VEC(s_evmark, s_evmarks);

/* Grows *v (elements of `size` bytes) to hold one more. */
static int s_grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 64;
    void *nv = realloc(*v, nc * size);
    if (!nv)
        return MIDA_ENOMEM;
    *v = nv;
    *cap = nc;
    return 0;
}

#define S_PUSH(vec, item)                                                                     \
    (s_grow((void **)&(vec)->v, &(vec)->cap, (vec)->n, sizeof *(vec)->v)                      \
         ? MIDA_ENOMEM                                                                        \
         : ((vec)->v[(vec)->n++] = (item), 0))

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int s_ids_add(s_ids *s, int64_t id)
{
    if (s_grow((void **)&s->v, &s->cap, s->n, sizeof *s->v))
        return MIDA_ENOMEM;
    s->v[s->n++] = id;
    s->sorted = false;
    return 0;
}

static void s_ids_sort(s_ids *s)
{
    if (s->sorted || !s->n) {
        s->sorted = true;
        return;
    }
    qsort(s->v, s->n, sizeof *s->v, s_cmp_i64);
    size_t o = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!o || s->v[o - 1] != s->v[i])
            s->v[o++] = s->v[i];
    s->n = o;
    s->sorted = true;
}

static bool s_ids_has(s_ids *s, int64_t id)
{
    s_ids_sort(s);
    return s->n && bsearch(&id, s->v, s->n, sizeof *s->v, s_cmp_i64);
}

static void s_ids_free(s_ids *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int s_cmp_range(const void *a, const void *b)
{
    const s_range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int s_cmp_jobmark(const void *a, const void *b)
{
    const s_jobmark *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* ---- SHA-256 (FIPS 180-4), for the opaque serialized_* blobs ------------- */

static const uint32_t s_sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define S_ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void s_sha256_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = S_ROR(w[i - 15], 7) ^ S_ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = S_ROR(w[i - 2], 17) ^ S_ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (S_ROR(e, 6) ^ S_ROR(e, 11) ^ S_ROR(e, 25)) + ((e & f) ^ (~e & g)) +
                      s_sha_k[i] + w[i];
        uint32_t t2 = (S_ROR(a, 2) ^ S_ROR(a, 13) ^ S_ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

/* "sha256:<64 hex>" of `len` bytes into out (>= 72 bytes). */
static void s_sha256(const void *data, size_t len, char *out)
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const unsigned char *p = data;
    size_t left = len;
    for (; left >= 64; p += 64, left -= 64)
        s_sha256_block(h, p);
    unsigned char tail[128] = {0};
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tl = left + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tl - 1 - (size_t)i] = (unsigned char)(bits >> (8 * i));
    s_sha256_block(h, tail);
    if (tl == 128)
        s_sha256_block(h, tail + 64);
    int n = snprintf(out, 72, "sha256:");
    for (int i = 0; i < 8; i++)
        n += snprintf(out + n, 72 - (size_t)n, "%08" PRIx32, h[i]);
}

/* ---- times ------------------------------------------------------------------ */

/* Microseconds since the epoch of an ISO 8601 time (no zone = UTC, as
 * Balsam writes event timestamps).  false when it is not a time. */
static bool s_time_us(const char *text, int64_t *us)
{
    char canon[48];
    if (!text || mida_time_normalize(text, canon, sizeof canon))
        return false;
    /* canonical: YYYY-MM-DDThh:mm:ss[.ffffff]Z */
    struct tm tm = {0};
    int Y, M, D, h, m, s, used = 0;
    if (sscanf(canon, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &s, &used) != 6)
        return false;
    long frac = 0, scale = 100000;
    const char *p = canon + used;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = s;
    *us = (int64_t)timegm(&tm) * US_PER_S + frac;
    return true;
}

/* "YYYY-MM-DDThh:mm:ss[.ffffff]" (UTC, no zone: what Balsam's filters take)
 * of `us` into out (>= 40). */
static void s_time_text(int64_t us, char *out, size_t outlen)
{
    if (mida_time_from_epoch_us((long long)us, out, outlen) != 0)
        snprintf(out, outlen, "1970-01-01T00:00:00");
    size_t n = strlen(out);
    if (n && out[n - 1] == 'Z')
        out[n - 1] = '\0';
}

/* ---- the state ------------------------------------------------------------------ */

typedef struct {
    mida_observer_t *obs;
    char *base;                 /* --url without the trailing '/' */
    char *workflow_id, *workflow_name;
    int64_t overlap_us;
    long page_size;
    long timeout_ms;
    bool has_token;
    CURL *curl;
    struct curl_slist *headers; /* holds the Authorization header: secret */
    bool curl_global;
    mida_buf_t body;
    mida_buf_t url;
    char curl_err[CURL_ERROR_SIZE];

    /* the cursor */
    bool have_events;           /* ev_max is set: at least one event seen */
    int64_t ev_max;             /* latest event timestamp seen (us) */
    s_ranges ev_seen;           /* ids seen within the window, sorted */
    bool have_jobs;             /* the first full read of the jobs is done */
    int64_t job_max;            /* latest last_update seen (us) */
    s_jobmarks job_seen;        /* (id, last_update) within the window, by id */

    /* lookups: decimal id -> the object the server gave, or null when it
     * did not return that id */
    json_t *apps, *sites, *batch_jobs;
    bool no_apps, no_sites, no_batch_jobs; /* answered 403/404: not asked again */
    bool sent_workflow;         /* the workflow record of this process */
} s_state;

/* What one poll gathers. */
typedef struct {
    s_state *st;
    mida_observer_t *obs;
    char *err;
    size_t errlen;
    s_evmarks events;           /* every event read in the window */
    s_ids touched;              /* jobs with new events */
    s_jobmarks jobs;            /* every (id, last_update) read in the window */
    s_ids done;                 /* jobs handled (sent or found unchanged) */
    s_ids bad_events;           /* event ids already reported as skipped */
    bool first_events;          /* no event cursor: read the newest window */
    bool have_first_ts;
    int64_t first_ts;           /* first_events: the newest timestamp */
    bool by_id;                 /* jobs read by id (they have new events) */
    json_t *into;               /* where a lookup or history page puts items */
} s_poll;

/* ---- HTTP -------------------------------------------------------------------- */

static size_t s_on_body(char *ptr, size_t size, size_t n, void *ud)
{
    mida_buf_t *b = ud;
    return mida_buf_add(b, ptr, size * n) ? 0 : size * n;
}

typedef enum { S_GET_MAIN, S_GET_LOOKUP } s_get_kind;

/* GETs base+pathq and parses the answer.  0 with *out (caller owns);
 * MIDA_EAGAIN when the server is not reachable or busy; MIDA_ENOTFOUND
 * for a lookup (kind S_GET_LOOKUP) answered 403 or 404; another code
 * with the reason in err. */
static int s_get(s_state *st, const char *pathq, s_get_kind kind, json_t **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    mida_buf_reset(&st->url);
    mida_buf_reset(&st->body);
    if (mida_buf_printf(&st->url, "%s%s", st->base, pathq)) {
        snprintf(err, errlen, "out of memory");
        return MIDA_ENOMEM;
    }
    const char *url = mida_buf_str(&st->url);
    st->curl_err[0] = '\0';
    curl_easy_setopt(st->curl, CURLOPT_URL, url);
    CURLcode cc = curl_easy_perform(st->curl);
    if (cc != CURLE_OK) {
        const char *why = st->curl_err[0] ? st->curl_err : curl_easy_strerror(cc);
        if (cc == CURLE_FILESIZE_EXCEEDED ||
            (cc == CURLE_WRITE_ERROR && st->body.len + CURL_MAX_WRITE_SIZE >= MAX_BODY)) {
            snprintf(err, errlen, "GET %s: the answer is larger than %u MiB; lower --page-size",
                     url, MAX_BODY >> 20);
            return MIDA_ETOOBIG;
        }
        snprintf(err, errlen, "GET %s: %s", url, why);
        switch (cc) {
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
            return MIDA_EIO;   /* trying again cannot help */
        default:
            return MIDA_EAGAIN;
        }
    }
    long status = 0;
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
        json_error_t jerr;
        json_t *doc = json_loadb(st->body.data ? st->body.data : "", st->body.len, 0, &jerr);
        if (!doc) {
            snprintf(err, errlen,
                     "GET %s: the answer is not JSON (line %d, column %d: %s); is --url the "
                     "Balsam API's address?",
                     url, jerr.line, jerr.column, jerr.text);
            return MIDA_EPARSE;
        }
        *out = doc;
        return 0;
    }
    /* the start of an error body, on one line: FastAPI's {"detail": ...} */
    char excerpt[201];
    size_t n = st->body.len < 200 ? st->body.len : 200;
    memcpy(excerpt, st->body.data ? st->body.data : "", n);
    excerpt[n] = '\0';
    for (char *c = excerpt; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    if (status == 408 || status == 425 || status == 429 || status >= 500) {
        snprintf(err, errlen, "GET %s: HTTP %ld %s", url, status, excerpt);
        return MIDA_EAGAIN;
    }
    if (kind == S_GET_LOOKUP && (status == 403 || status == 404))
        return MIDA_ENOTFOUND;
    if (status == 401 || status == 403) {
        snprintf(err, errlen,
                 "GET %s: HTTP %ld: the Balsam server refused %s; give a valid bearer token "
                 "with --token-file FILE, $MIDA_BALSAM_TOKEN or --token (`balsam login` makes "
                 "one)",
                 url, status, st->has_token ? "the token (expired?)" : "a request without a token");
        return MIDA_EIO;
    }
    if (status >= 300 && status < 400) {
        char *loc = NULL;
        curl_easy_getinfo(st->curl, CURLINFO_REDIRECT_URL, &loc);
        snprintf(err, errlen,
                 "GET %s: HTTP %ld redirects to %s; give the API's own address as --url (the "
                 "token is not sent along redirects)",
                 url, status, loc ? loc : "another address");
        return MIDA_EIO;
    }
    if (status == 404) {
        snprintf(err, errlen, "GET %s: HTTP 404; is --url the Balsam API's address (the one "
                 "`balsam login` uses)?", url);
        return MIDA_ENOTFOUND;
    }
    snprintf(err, errlen, "GET %s: HTTP %ld %s", url, status, excerpt);
    return MIDA_EIO;
}

/* Called with each page of a list: 0 to go on, 1 to stop reading, or an
 * error code.  `offset` is the position of the page's first item. */
typedef int (*s_page_fn)(s_poll *p, json_t *results, size_t offset);

/* Reads the list at `path` ("/jobs/") with `query` ("a=b&c=d" or "") page
 * by page, handing each page to fn, until the server's count is reached. */
static int s_list(s_poll *p, const char *path, const char *query, s_get_kind kind, s_page_fn fn)
{
    s_state *st = p->st;
    mida_buf_t pq;
    mida_buf_init(&pq, 1 << 20);
    int rc = 0, restarts = 0;
    size_t offset = 0;
    long long count = -1;
    for (;;) {
        mida_buf_reset(&pq);
        if (mida_buf_printf(&pq, "%s?%s%slimit=%ld&offset=%zu", path, query, *query ? "&" : "",
                            st->page_size, offset)) {
            rc = MIDA_ENOMEM;
            snprintf(p->err, p->errlen, "out of memory");
            break;
        }
        json_t *doc = NULL;
        rc = s_get(st, mida_buf_str(&pq), kind, &doc, p->err, p->errlen);
        if (rc)
            break;
        json_t *results = json_object_get(doc, "results");
        json_t *jcount = json_object_get(doc, "count");
        if (!json_is_array(results) || !json_is_integer(jcount)) {
            snprintf(p->err, p->errlen,
                     "GET %s%s: not a Balsam list (no \"count\" and \"results\"); is --url the "
                     "Balsam API's address?",
                     st->base, mida_buf_str(&pq));
            json_decref(doc);
            rc = MIDA_EPARSE;
            break;
        }
        long long c = json_integer_value(jcount);
        if (count >= 0 && c < count && restarts < MAX_LIST_RESTARTS) {
            /* rows were deleted while we paged: later rows moved forward
             * past our offset, read again (rows added only push rows back:
             * those are read twice and dropped as duplicates) */
            restarts++;
            mida_observer_log(p->obs, MIDA_LOG_INFO,
                              "%s: the count fell from %lld to %lld while paging; reading "
                              "the list again",
                              path, count, c);
            json_decref(doc);
            count = -1;
            offset = 0;
            continue;
        }
        count = c;
        size_t n = json_array_size(results);
        rc = n ? fn(p, results, offset) : 0;
        json_decref(doc);
        offset += n;
        if (rc == 1) {
            rc = 0;
            break;
        }
        if (!rc && n == 0 && (long long)offset < count)
            mida_observer_log(p->obs, MIDA_LOG_WARN,
                              "GET %s%s: an empty page before the count (%lld) was reached",
                              st->base, mida_buf_str(&pq), count);
        if (rc || n == 0 || (long long)offset >= count)
            break;
    }
    mida_buf_free(&pq);
    return rc;
}

/* Appends "name=ID&name=ID..." for the n ids to b. */
static int s_id_query(mida_buf_t *b, const char *name, const int64_t *ids, size_t n)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++)
        rc = mida_buf_printf(b, "%s%s=%" PRId64, i ? "&" : "", name, ids[i]);
    return rc;
}

/* ---- reading items ------------------------------------------------------------- */

static bool s_get_i64(const json_t *o, const char *key, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

typedef struct {
    int64_t id, job_id, ts;
    const char *ts_text, *from, *to;
    json_t *data;   /* borrowed; may be NULL */
} s_event;

/* Reads one LogEventOut; false with the reason in why. */
static bool s_event_read(json_t *item, s_event *ev, char *why, size_t whylen)
{
    memset(ev, 0, sizeof *ev);
    if (!json_is_object(item)) {
        snprintf(why, whylen, "not an object");
        return false;
    }
    if (!s_get_i64(item, "id", &ev->id)) {
        snprintf(why, whylen, "no integer \"id\"");
        return false;
    }
    if (!s_get_i64(item, "job_id", &ev->job_id)) {
        snprintf(why, whylen, "no integer \"job_id\"");
        return false;
    }
    ev->ts_text = json_string_value(json_object_get(item, "timestamp"));
    if (!s_time_us(ev->ts_text, &ev->ts)) {
        snprintf(why, whylen, "\"timestamp\" is not a time");
        return false;
    }
    ev->from = json_string_value(json_object_get(item, "from_state"));
    ev->to = json_string_value(json_object_get(item, "to_state"));
    if (!ev->from || !ev->to) {
        snprintf(why, whylen, "no \"from_state\" or \"to_state\" string");
        return false;
    }
    ev->data = json_object_get(item, "data");
    if (ev->data && !json_is_object(ev->data))
        ev->data = NULL;
    return true;
}

/* Reports a bad event once per poll. */
static void s_skip_event(s_poll *p, json_t *item, const char *where, const char *why)
{
    int64_t id;
    if (s_get_i64(item, "id", &id)) {
        if (s_ids_has(&p->bad_events, id))
            return;
        s_ids_add(&p->bad_events, id);
        char w[64];
        snprintf(w, sizeof w, "event %" PRId64, id);
        mida_observer_skip(p->obs, w, "%s", why);
    } else {
        mida_observer_skip(p->obs, where, "%s", why);
    }
}

/* ---- the event window ----------------------------------------------------- */

static bool s_event_seen(const s_state *st, int64_t id)
{
    size_t lo = 0, hi = st->ev_seen.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const s_range *r = &st->ev_seen.v[mid];
        if (id < r->lo)
            hi = mid;
        else if (id > r->hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* Reads item `index` of an /events/ page into *ev; false (the item is
 * skipped and reported) when it is not a Balsam event. */
static bool s_page_event(s_poll *p, json_t *item, size_t index, s_event *ev)
{
    char why[128], where[64];
    if (s_event_read(item, ev, why, sizeof why))
        return true;
    snprintf(where, sizeof where, "/events/ result %zu", index);
    s_skip_event(p, item, where, why);
    return false;
}

static int s_events_page(s_poll *p, json_t *results, size_t offset)
{
    size_t i;
    json_t *item;
    json_array_foreach(results, i, item) {
        s_event ev;
        if (!s_page_event(p, item, offset + i, &ev))
            continue;
        if (p->first_events) {
            /* newest first: stop below the window of the newest event */
            if (!p->have_first_ts) {
                p->first_ts = ev.ts;
                p->have_first_ts = true;
            }
            if (ev.ts < p->first_ts - p->st->overlap_us)
                return 1;
        }
        if (S_PUSH(&p->events, ((s_evmark){ev.id, ev.ts})))
            return MIDA_ENOMEM;
        if (!s_event_seen(p->st, ev.id) && s_ids_add(&p->touched, ev.job_id))
            return MIDA_ENOMEM;
    }
    return 0;
}

static int s_read_events(s_poll *p)
{
    s_state *st = p->st;
    char q[96];
    if (st->have_events) {
        char t[40];
        s_time_text(st->ev_max - st->overlap_us, t, sizeof t);
        snprintf(q, sizeof q, "timestamp_after=%s&ordering=timestamp", t);
    } else {
        /* no cursor: only the newest window matters for the dedup, since
         * every job is read in full this time (or changed since) */
        p->first_events = true;
        snprintf(q, sizeof q, "ordering=-timestamp");
    }
    return s_list(p, "/events/", q, S_GET_MAIN, s_events_page);
}

/* ---- lookups: apps, sites, batch jobs ------------------------------------- */

static int s_lookup_page(s_poll *p, json_t *results, size_t offset)
{
    (void)offset;
    size_t i;
    json_t *item;
    json_array_foreach(results, i, item) {
        int64_t id;
        if (!json_is_object(item) || !s_get_i64(item, "id", &id))
            continue;
        char key[24];
        snprintf(key, sizeof key, "%" PRId64, id);
        if (json_object_set(p->into, key, item))
            return MIDA_ENOMEM;
    }
    return 0;
}

/* Makes sure `cache` holds every id of `want` (the object, or null when
 * the server did not return it).  An endpoint answering 403/404 sets
 * *disabled and is not asked again. */
static int s_lookup(s_poll *p, const char *path, bool *disabled, json_t *cache, s_ids *want)
{
    if (*disabled)
        return 0;
    s_ids_sort(want);
    s_ids miss = {0};
    int rc = 0;
    for (size_t i = 0; !rc && i < want->n; i++) {
        char key[24];
        snprintf(key, sizeof key, "%" PRId64, want->v[i]);
        if (!json_object_get(cache, key))
            rc = s_ids_add(&miss, want->v[i]);
    }
    mida_buf_t q;
    mida_buf_init(&q, 1 << 20);
    for (size_t at = 0; !rc && at < miss.n; at += IDS_PER_REQUEST) {
        size_t n = miss.n - at < IDS_PER_REQUEST ? miss.n - at : IDS_PER_REQUEST;
        mida_buf_reset(&q);
        if (s_id_query(&q, "id", miss.v + at, n)) {
            rc = MIDA_ENOMEM;
            break;
        }
        p->into = cache;
        rc = s_list(p, path, mida_buf_str(&q), S_GET_LOOKUP, s_lookup_page);
        p->into = NULL;
        if (rc == MIDA_ENOTFOUND) {
            *disabled = true;
            mida_observer_log(p->obs, MIDA_LOG_WARN,
                              "%s%s answers 403 or 404: what it gives is left out of the records",
                              p->st->base, path);
            rc = 0;
            break;
        }
        for (size_t i = at; !rc && i < at + n; i++) {
            char key[24];
            snprintf(key, sizeof key, "%" PRId64, miss.v[i]);
            if (!json_object_get(cache, key))
                rc = json_object_set_new(cache, key, json_null()) ? MIDA_ENOMEM : 0;
        }
    }
    if (rc == MIDA_ENOMEM && !*p->err)
        snprintf(p->err, p->errlen, "out of memory");
    mida_buf_free(&q);
    s_ids_free(&miss);
    return rc;
}

/* The cached object of `id`, or NULL. */
static json_t *s_cached(json_t *cache, int64_t id)
{
    char key[24];
    snprintf(key, sizeof key, "%" PRId64, id);
    json_t *v = json_object_get(cache, key);
    return json_is_object(v) ? v : NULL;
}

/* ---- histories ------------------------------------------------------------- */

static int s_history_page(s_poll *p, json_t *results, size_t offset)
{
    size_t i;
    json_t *item;
    json_array_foreach(results, i, item) {
        s_event ev;
        if (!s_page_event(p, item, offset + i, &ev))
            continue;
        char key[24];
        snprintf(key, sizeof key, "%" PRId64, ev.job_id);
        json_t *arr = json_object_get(p->into, key);
        if (!arr) {
            arr = json_array();
            if (!arr || json_object_set_new(p->into, key, arr))
                return MIDA_ENOMEM;
        }
        if (json_array_append(arr, item))
            return MIDA_ENOMEM;
    }
    return 0;
}

static int s_cmp_event(const void *a, const void *b)
{
    const s_event *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* ---- records ---------------------------------------------------------------- */

/* Balsam's job states (balsam/schemas/job.py JobState) and mida's status.
 * Only JOB_FINISHED and FAILED end a job: RUN_DONE is followed by
 * post-processing and stage-out, RUN_ERROR and RUN_TIMEOUT may be followed
 * by RESTART_READY and another run, and mida keeps the first terminal
 * status it is given.  Those states are therefore RUNNING, with the
 * state itself in native_status. */
static const char *s_status_of(const char *state)
{
    static const struct {
        const char *state, *status;
    } map[] = {{"CREATED", "SUBMITTED"},     {"AWAITING_PARENTS", "WAITING"},
               {"READY", "WAITING"},         {"STAGED_IN", "WAITING"},
               {"PREPROCESSED", "WAITING"},  {"RUNNING", "RUNNING"},
               {"RUN_DONE", "RUNNING"},      {"RUN_ERROR", "RUNNING"},
               {"RUN_TIMEOUT", "RUNNING"},   {"RESTART_READY", "RUNNING"},
               {"POSTPROCESSED", "RUNNING"}, {"STAGED_OUT", "RUNNING"},
               {"JOB_FINISHED", "FINISHED"}, {"FAILED", "ERROR"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(state, map[i].state))
            return map[i].status;
    return NULL;
}

static bool s_is_final(const char *state)
{
    return state && (!strcmp(state, "JOB_FINISHED") || !strcmp(state, "FAILED"));
}

/* A copy of an event's data with long strings cut to their tail. */
static json_t *s_event_data(json_t *data)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(data, k, v) {
        size_t n = json_is_string(v) ? json_string_length(v) : 0;
        if (n > MAX_EVENT_TEXT) {
            const char *s = json_string_value(v);
            size_t from = n - MAX_EVENT_TEXT;
            /* do not start inside a UTF-8 sequence */
            while (from < n && ((unsigned char)s[from] & 0xC0) == 0x80)
                from++;
            char *t = malloc(n - from + 4);
            if (t) {
                memcpy(t, "...", 3);
                memcpy(t + 3, s + from, n - from);
                json_object_set_new(out, k, json_stringn(t, n - from + 3));
                free(t);
            }
        } else {
            json_object_set(out, k, v);
        }
    }
    return out;
}

static json_t *s_event_json(const s_event *ev)
{
    json_t *o = json_pack("{sIssssss}", "id", (json_int_t)ev->id, "timestamp", ev->ts_text,
                          "from_state", ev->from, "to_state", ev->to);
    if (o && ev->data && json_object_size(ev->data))
        json_object_set_new(o, "data", s_event_data(ev->data));
    return o;
}

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "KEY:VALUE" for each tag, sorted (Balsam's own filter syntax). */
static json_t *s_tags(json_t *tags)
{
    size_t n = json_object_size(tags);
    if (!n)
        return NULL;
    const char **keys = calloc(n, sizeof *keys);
    json_t *out = json_array();
    if (!keys || !out) {
        free(keys);
        json_decref(out);
        return NULL;
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(tags, k, v) keys[i++] = k;
    qsort(keys, n, sizeof *keys, s_cmp_str);
    for (i = 0; i < n; i++) {
        json_t *v2 = json_object_get(tags, keys[i]);
        const char *sv = json_string_value(v2);
        char *t = NULL;
        if (sv) {
            size_t len = strlen(keys[i]) + strlen(sv) + 2;
            t = malloc(len);
            if (t)
                snprintf(t, len, "%s:%s", keys[i], sv);
        } else {
            /* not a string: its JSON text */
            char *js = json_dumps(v2, JSON_COMPACT | JSON_ENCODE_ANY);
            if (js) {
                size_t len = strlen(keys[i]) + strlen(js) + 2;
                t = malloc(len);
                if (t)
                    snprintf(t, len, "%s:%s", keys[i], js);
                free(js);
            }
        }
        if (t)
            json_array_append_new(out, json_string(t));
        free(t);
    }
    free(keys);
    return out;
}

/* Copies the fields `names` of `from` that are present into `to`. */
static void s_copy_fields(json_t *to, json_t *from, const char *const *names)
{
    for (; *names; names++) {
        json_t *v = json_object_get(from, *names);
        if (v && !json_is_null(v))
            json_object_set(to, *names, v);
    }
}

/* The task record of `job` (checked: id, state) with its event history
 * `hist` (an array of events, or NULL).  NULL when out of memory. */
static json_t *s_record(s_poll *p, json_t *job, int64_t id, json_t *hist)
{
    s_state *st = p->st;
    const char *state = json_string_value(json_object_get(job, "state"));
    json_t *rec = json_object();
    json_t *used = json_object(), *gen = json_object(), *meta = json_object();
    s_event *evs = calloc(json_array_size(hist) + 1, sizeof *evs);
    if (!rec || !used || !gen || !meta || !evs)
        goto oom;
    json_object_set_new(rec, "task_id", json_integer((json_int_t)id));
    json_object_set_new(rec, "workflow_id", json_string(st->workflow_id));
    json_object_set_new(rec, "engine", json_string("balsam"));

    /* what was run: the app, and the site it belongs to */
    int64_t app_id = 0, site_id = 0;
    json_t *app = NULL, *site = NULL;
    if (s_get_i64(job, "app_id", &app_id)) {
        app = s_cached(st->apps, app_id);
        const char *name = app ? json_string_value(json_object_get(app, "name")) : NULL;
        char fallback[40];
        snprintf(fallback, sizeof fallback, "app-%" PRId64, app_id);
        json_object_set_new(rec, "activity_id", json_string(name && *name ? name : fallback));
        json_object_set_new(meta, "app_id", json_integer((json_int_t)app_id));
        if (name)
            json_object_set_new(meta, "app_name", json_string(name));
        if (app && s_get_i64(app, "site_id", &site_id)) {
            json_object_set_new(meta, "site_id", json_integer((json_int_t)site_id));
            site = s_cached(st->sites, site_id);
            const char *sname = site ? json_string_value(json_object_get(site, "name")) : NULL;
            if (sname)
                json_object_set_new(meta, "site_name", json_string(sname));
        }
    }

    /* the state */
    const char *status = s_status_of(state);
    if (status)
        json_object_set_new(rec, "status", json_string(status));
    else
        mida_observer_log(p->obs, MIDA_LOG_WARN,
                          "job %" PRId64 ": state '%s' is not a Balsam state this adapter knows; "
                          "sent without a status",
                          id, state);
    json_object_set_new(rec, "native_status", json_string(state));

    /* the event history, in the order the server stored it */
    size_t n = 0, i;
    json_t *item;
    json_array_foreach(hist, i, item) {
        char why[128];
        if (s_event_read(item, &evs[n], why, sizeof why))
            n++;
    }
    qsort(evs, n, sizeof *evs, s_cmp_event);
    size_t u = 0;   /* a list read twice (see s_list) repeats events */
    for (i = 0; i < n; i++)
        if (!u || evs[u - 1].id != evs[i].id)
            evs[u++] = evs[i];
    n = u;
    const s_event *created = NULL, *started = NULL, *ended = NULL, *run_error = NULL;
    size_t runs = 0;
    for (i = 0; i < n; i++) {
        const s_event *e = &evs[i];
        if (!created && !strcmp(e->from, "CREATED"))
            created = e;
        if (!strcmp(e->to, "RUNNING")) {
            runs++;
            if (!started)
                started = e;
        }
        if (!ended && s_is_final(e->to))
            ended = e;
        if (!strcmp(e->to, "RUN_ERROR") && e->data &&
            json_is_string(json_object_get(e->data, "error")))
            run_error = e;
    }
    if (created)
        json_object_set_new(rec, "submitted_at", json_string(created->ts_text));
    if (started)
        json_object_set_new(rec, "started_at", json_string(started->ts_text));
    /* the end only with a final state: the first final event, as mida keeps
     * the first final status */
    if (ended && s_is_final(state))
        json_object_set_new(rec, "ended_at", json_string(ended->ts_text));
    if (run_error)
        json_object_set(rec, "stderr", json_object_get(run_error->data, "error"));
    json_t *events = json_array();
    if (!events)
        goto oom;
    for (i = 0; i < n; i++) {
        if (n > MAX_EVENTS_KEPT && i == MAX_EVENTS_KEPT / 2) {
            json_object_set_new(meta, "events_omitted",
                                json_integer((json_int_t)(n - MAX_EVENTS_KEPT)));
            i = n - MAX_EVENTS_KEPT / 2;
        }
        json_array_append_new(events, s_event_json(&evs[i]));
    }
    json_object_set_new(meta, "events", events);
    if (runs)
        json_object_set_new(meta, "runs", json_integer((json_int_t)runs));

    /* dependencies, tags, return code */
    json_t *parents = json_object_get(job, "parent_ids");
    if (json_array_size(parents)) {
        json_t *deps = json_array();
        json_array_foreach(parents, i, item) {
            if (json_is_integer(item))
                json_array_append(deps, item);
        }
        if (json_array_size(deps))
            json_object_set_new(rec, "dependencies", deps);
        else
            json_decref(deps);
    }
    json_t *tags = s_tags(json_object_get(job, "tags"));
    if (tags)
        json_object_set_new(rec, "tags", tags);
    json_t *rc = json_object_get(job, "return_code");
    if (json_is_integer(rc))
        json_object_set(rec, "exit_code", rc);

    /* the allocation it ran in */
    int64_t bj_id;
    if (s_get_i64(job, "batch_job_id", &bj_id)) {
        json_object_set_new(meta, "batch_job_id", json_integer((json_int_t)bj_id));
        json_t *bj = s_cached(st->batch_jobs, bj_id);
        if (bj) {
            static const char *const keep[] = {"scheduler_id", "project", "queue", "num_nodes",
                                               "wall_time_min", "job_mode", "site_id", NULL};
            json_t *b = json_object();
            s_copy_fields(b, bj, keep);
            json_object_set_new(meta, "batch_job", b);
            json_t *sched = json_object_get(bj, "scheduler_id");
            if (json_is_integer(sched)) {
                char text[32];
                snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(sched));
                json_object_set_new(rec, "environment_id", json_string(text));
            } else if (json_is_string(sched)) {
                json_object_set(rec, "environment_id", sched);
            }
        }
    }

    /* inputs and outputs */
    const char *blob = json_string_value(json_object_get(job, "serialized_parameters"));
    char digest[72];
    if (blob && *blob) {
        s_sha256(blob, strlen(blob), digest);
        json_object_set_new(used, "serialized_parameters", json_string(digest));
    }
    blob = json_string_value(json_object_get(job, "serialized_return_value"));
    if (blob && *blob) {
        s_sha256(blob, strlen(blob), digest);
        json_object_set_new(gen, "serialized_return_value", json_string(digest));
    }
    blob = json_string_value(json_object_get(job, "serialized_exception"));
    if (blob && *blob) {
        s_sha256(blob, strlen(blob), digest);
        json_object_set_new(meta, "serialized_exception", json_string(digest));
    }
    const char *workdir = json_string_value(json_object_get(job, "workdir"));
    if (workdir) {
        json_object_set_new(meta, "workdir", json_string(workdir));
        const char *spath = site ? json_string_value(json_object_get(site, "path")) : NULL;
        if (spath && spath[0] == '/' && workdir[0] != '/') {
            mida_buf_t loc;
            mida_buf_init(&loc, 1 << 16);
            size_t sl = strlen(spath);
            while (sl > 1 && spath[sl - 1] == '/')
                sl--;
            if (!mida_buf_add(&loc, spath, sl) && !mida_buf_printf(&loc, "/data/%s", workdir))
                json_object_set_new(gen, "workdir",
                                    json_pack("{ssss}", "@id", mida_buf_str(&loc), "type",
                                              "directory"));
            mida_buf_free(&loc);
        }
    }
    json_t *data = json_object_get(job, "data");
    if (json_is_object(data)) {
        const char *k;
        json_t *v;
        json_object_foreach(data, k, v) {
            size_t kl = strlen(k) + 6;
            char *name = malloc(kl);
            if (!name)
                goto oom;
            snprintf(name, kl, "data.%s", k);
            json_object_set(gen, name, v);
            free(name);
        }
    }
    static const char *const resources[] = {"num_nodes", "ranks_per_node", "threads_per_rank",
                                            "threads_per_core", "gpus_per_rank",
                                            "node_packing_count", "wall_time_min",
                                            "launch_params", NULL};
    json_t *res = json_object();
    s_copy_fields(res, job, resources);
    json_object_set_new(meta, "resources", res);
    static const char *const more[] = {"last_update", "pending_file_cleanup", NULL};
    s_copy_fields(meta, job, more);

    if (json_object_size(used))
        json_object_set(rec, "used", used);
    if (json_object_size(gen))
        json_object_set(rec, "generated", gen);
    json_object_set(rec, "custom_metadata", meta);
    json_decref(used);
    json_decref(gen);
    json_decref(meta);
    free(evs);
    return rec;
oom:
    json_decref(rec);
    json_decref(used);
    json_decref(gen);
    json_decref(meta);
    free(evs);
    return NULL;
}

static int s_emit(s_poll *p, json_t *rec)
{
    char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) {
        snprintf(p->err, p->errlen, "out of memory");
        return MIDA_ENOMEM;
    }
    int rc = mida_observer_emit(p->obs, text, strlen(text));
    free(text);
    if (rc)
        snprintf(p->err, p->errlen, "a record could not be delivered");
    return rc;
}

/* The workflow run that holds the jobs: sent once per process. */
static int s_emit_workflow(s_poll *p)
{
    s_state *st = p->st;
    if (st->sent_workflow)
        return 0;
    json_t *rec = json_pack("{ssssss}", "workflow_id", st->workflow_id, "workflow_name",
                            st->workflow_name, "engine", "balsam");
    if (!rec) {
        snprintf(p->err, p->errlen, "out of memory");
        return MIDA_ENOMEM;
    }
    int rc = s_emit(p, rec);
    json_decref(rec);
    if (!rc)
        st->sent_workflow = true;
    return rc;
}

/* Sends the records of `jobs` (checked job objects): looks up their apps,
 * sites and batch jobs, reads their histories, emits. */
static int s_process(s_poll *p, json_t *jobs)
{
    s_state *st = p->st;
    size_t n = json_array_size(jobs);
    if (!n)
        return 0;
    s_ids ids = {0}, apps = {0}, sites = {0}, bjs = {0};
    json_t *hist = json_object();
    mida_buf_t q;
    mida_buf_init(&q, 1 << 20);
    int rc = hist ? 0 : MIDA_ENOMEM;
    size_t i;
    json_t *job;
    json_array_foreach(jobs, i, job) {
        int64_t v;
        if (!rc && s_get_i64(job, "id", &v))
            rc = s_ids_add(&ids, v);
        if (!rc && s_get_i64(job, "app_id", &v))
            rc = s_ids_add(&apps, v);
        if (!rc && s_get_i64(job, "batch_job_id", &v))
            rc = s_ids_add(&bjs, v);
    }
    if (!rc)
        rc = s_lookup(p, "/apps/", &st->no_apps, st->apps, &apps);
    for (i = 0; !rc && i < apps.n; i++) {
        json_t *app = s_cached(st->apps, apps.v[i]);
        int64_t v;
        if (app && s_get_i64(app, "site_id", &v))
            rc = s_ids_add(&sites, v);
    }
    if (!rc)
        rc = s_lookup(p, "/sites/", &st->no_sites, st->sites, &sites);
    if (!rc)
        rc = s_lookup(p, "/batch-jobs/", &st->no_batch_jobs, st->batch_jobs, &bjs);

    /* the whole history of each job, a hundred jobs a request */
    s_ids_sort(&ids);
    for (size_t at = 0; !rc && at < ids.n; at += IDS_PER_REQUEST) {
        size_t k = ids.n - at < IDS_PER_REQUEST ? ids.n - at : IDS_PER_REQUEST;
        mida_buf_reset(&q);
        if (s_id_query(&q, "job_id", ids.v + at, k) || mida_buf_adds(&q, "&ordering=timestamp")) {
            rc = MIDA_ENOMEM;
            break;
        }
        p->into = hist;
        rc = s_list(p, "/events/", mida_buf_str(&q), S_GET_MAIN, s_history_page);
        p->into = NULL;
    }

    if (!rc)
        rc = s_emit_workflow(p);
    json_array_foreach(jobs, i, job) {
        if (rc)
            break;
        int64_t id = 0;
        s_get_i64(job, "id", &id);   /* checked by s_jobs_page */
        char key[24];
        snprintf(key, sizeof key, "%" PRId64, id);
        json_t *rec = s_record(p, job, id, json_object_get(hist, key));
        if (!rec) {
            rc = MIDA_ENOMEM;
            break;
        }
        rc = s_emit(p, rec);
        json_decref(rec);
        if (!rc)
            rc = s_ids_add(&p->done, id);
    }
    if (rc == MIDA_ENOMEM && !*p->err)
        snprintf(p->err, p->errlen, "out of memory");
    json_decref(hist);
    mida_buf_free(&q);
    s_ids_free(&ids);
    s_ids_free(&apps);
    s_ids_free(&sites);
    s_ids_free(&bjs);
    return rc;
}

/* ---- the job list ---------------------------------------------------------------- */

/* The last_update the job had when it was last handled, or INT64_MIN. */
static int64_t s_job_seen(const s_state *st, int64_t id)
{
    s_jobmark key = {id, 0};
    const s_jobmark *m = st->job_seen.n ? bsearch(&key, st->job_seen.v, st->job_seen.n,
                                                  sizeof key, s_cmp_jobmark)
                                        : NULL;
    return m ? m->lu : INT64_MIN;
}

static int s_jobs_page(s_poll *p, json_t *results, size_t offset)
{
    json_t *todo = json_array();
    if (!todo)
        return MIDA_ENOMEM;
    int rc = 0;
    size_t i;
    json_t *item;
    json_array_foreach(results, i, item) {
        char where[64];
        int64_t id, lu;
        const char *why = NULL;
        if (!json_is_object(item))
            why = "not an object";
        else if (!s_get_i64(item, "id", &id))
            why = "no integer \"id\"";
        if (why) {
            snprintf(where, sizeof where, "/jobs/ result %zu", offset + i);
            mida_observer_skip(p->obs, where, "%s", why);
            continue;
        }
        snprintf(where, sizeof where, "job %" PRId64, id);
        if (!json_is_string(json_object_get(item, "state")))
            why = "no \"state\" string";
        else if (!s_time_us(json_string_value(json_object_get(item, "last_update")), &lu))
            why = "\"last_update\" is not a time";
        if (why) {
            mida_observer_skip(p->obs, where, "%s", why);
            if ((rc = s_ids_add(&p->done, id)) != 0)   /* not asked for again by id */
                break;
            continue;
        }
        if ((rc = S_PUSH(&p->jobs, ((s_jobmark){id, lu}))) != 0)
            break;
        if (s_ids_has(&p->done, id))
            continue;   /* a list read again after its count changed */
        if (!p->by_id && s_job_seen(p->st, id) == lu && !s_ids_has(&p->touched, id))
            continue;   /* handled by an earlier poll, and not changed since */
        if ((rc = json_array_append(todo, item) ? MIDA_ENOMEM : 0) != 0)
            break;
    }
    if (!rc)
        rc = s_process(p, todo);
    json_decref(todo);
    return rc;
}

static int s_read_jobs(s_poll *p)
{
    s_state *st = p->st;
    char q[96] = "";
    if (st->have_jobs) {
        char t[40];
        s_time_text(st->job_max - st->overlap_us, t, sizeof t);
        /* last_update is time zone aware: say UTC */
        snprintf(q, sizeof q, "last_update_after=%sZ", t);
    }
    int rc = s_list(p, "/jobs/", q, S_GET_MAIN, s_jobs_page);
    if (rc)
        return rc;

    /* jobs with new events that the list did not hold */
    s_ids left = {0};
    s_ids_sort(&p->touched);
    for (size_t i = 0; !rc && i < p->touched.n; i++)
        if (!s_ids_has(&p->done, p->touched.v[i]))
            rc = s_ids_add(&left, p->touched.v[i]);
    mida_buf_t q2;
    mida_buf_init(&q2, 1 << 20);
    p->by_id = true;
    for (size_t at = 0; !rc && at < left.n; at += IDS_PER_REQUEST) {
        size_t n = left.n - at < IDS_PER_REQUEST ? left.n - at : IDS_PER_REQUEST;
        mida_buf_reset(&q2);
        if (s_id_query(&q2, "id", left.v + at, n)) {
            rc = MIDA_ENOMEM;
            break;
        }
        rc = s_list(p, "/jobs/", mida_buf_str(&q2), S_GET_MAIN, s_jobs_page);
    }
    p->by_id = false;
    for (size_t i = 0; !rc && i < left.n; i++)
        if (!s_ids_has(&p->done, left.v[i]))
            mida_observer_log(p->obs, MIDA_LOG_INFO,
                              "job %" PRId64 " has new events but the server did not return it "
                              "(deleted?)",
                              left.v[i]);
    if (rc == MIDA_ENOMEM && !*p->err)
        snprintf(p->err, p->errlen, "out of memory");
    mida_buf_free(&q2);
    s_ids_free(&left);
    return rc;
}

/* ---- the cursor ---------------------------------------------------------------- */

/* {"v":1,
 *  "events_max":"<latest event timestamp>", "events_seen":[[lo,hi,ts_us],...],
 *  "jobs_max":"<latest last_update>", "jobs_seen":[[id,last_update_us],...]}
 * Times as text are UTC without a zone; _us are microseconds since the
 * epoch. */
static int s_cursor_load(s_state *st, const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    int ok = json_is_object(doc) && json_integer_value(json_object_get(doc, "v")) == 1;
    const char *em = json_string_value(json_object_get(doc, "events_max"));
    const char *jm = json_string_value(json_object_get(doc, "jobs_max"));
    if (ok && em) {
        ok = s_time_us(em, &st->ev_max);
        st->have_events = ok;
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(doc, "events_seen"), i, r) {
            s_range x;
            if (json_array_size(r) != 3 || !json_is_integer(json_array_get(r, 0)) ||
                !json_is_integer(json_array_get(r, 1)) || !json_is_integer(json_array_get(r, 2))) {
                ok = 0;
                break;
            }
            x.lo = json_integer_value(json_array_get(r, 0));
            x.hi = json_integer_value(json_array_get(r, 1));
            x.ts = json_integer_value(json_array_get(r, 2));
            if (x.hi < x.lo || S_PUSH(&st->ev_seen, x)) {
                ok = 0;
                break;
            }
        }
        if (st->ev_seen.n)
            qsort(st->ev_seen.v, st->ev_seen.n, sizeof *st->ev_seen.v, s_cmp_range);
    }
    if (ok && jm) {
        ok = s_time_us(jm, &st->job_max);
        st->have_jobs = ok;
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(doc, "jobs_seen"), i, r) {
            if (json_array_size(r) != 2 || !json_is_integer(json_array_get(r, 0)) ||
                !json_is_integer(json_array_get(r, 1)) ||
                S_PUSH(&st->job_seen, ((s_jobmark){json_integer_value(json_array_get(r, 0)),
                                                   json_integer_value(json_array_get(r, 1))}))) {
                ok = 0;
                break;
            }
        }
        if (st->job_seen.n)
            qsort(st->job_seen.v, st->job_seen.n, sizeof *st->job_seen.v, s_cmp_jobmark);
    }
    json_decref(doc);
    if (!ok) {
        st->have_events = st->have_jobs = false;
        st->ev_seen.n = st->job_seen.n = 0;
        return MIDA_EPARSE;
    }
    return 0;
}

/* Folds what the poll read into the state and hands the observer the new
 * cursor.  Runs only after every record of the poll was emitted. */
static int s_cursor_save(s_poll *p)
{
    s_state *st = p->st;
    int rc = 0;
    /* events: the old ranges and this poll's ids, merged, then what lies
     * before the new window dropped */
    if (p->events.n) {
        for (size_t i = 0; i < p->events.n; i++) {
            const s_evmark *e = &p->events.v[i];
            if (!st->have_events || e->ts > st->ev_max)
                st->ev_max = e->ts;
            st->have_events = true;
            if ((rc = S_PUSH(&st->ev_seen, ((s_range){e->id, e->id, e->ts}))) != 0)
                return rc;
        }
        qsort(st->ev_seen.v, st->ev_seen.n, sizeof *st->ev_seen.v, s_cmp_range);
        size_t o = 0;
        for (size_t i = 0; i < st->ev_seen.n; i++) {
            s_range r = st->ev_seen.v[i];
            if (o && r.lo <= st->ev_seen.v[o - 1].hi + 1) {
                s_range *last = &st->ev_seen.v[o - 1];
                if (r.hi > last->hi)
                    last->hi = r.hi;
                if (r.ts > last->ts)
                    last->ts = r.ts;
            } else {
                st->ev_seen.v[o++] = r;
            }
        }
        st->ev_seen.n = o;
    }
    int64_t ev_from = st->ev_max - st->overlap_us;
    size_t o = 0;
    for (size_t i = 0; i < st->ev_seen.n; i++)
        if (st->ev_seen.v[i].ts >= ev_from)
            st->ev_seen.v[o++] = st->ev_seen.v[i];
    st->ev_seen.n = o;

    /* jobs: every job of the window was read by this poll's list (the
     * window only moves forward), so the pairs read are the new set */
    if (p->jobs.n) {
        for (size_t i = 0; i < p->jobs.n; i++)
            if (!st->have_jobs || p->jobs.v[i].lu > st->job_max) {
                st->job_max = p->jobs.v[i].lu;
                st->have_jobs = true;
            }
        qsort(p->jobs.v, p->jobs.n, sizeof *p->jobs.v, s_cmp_jobmark);
        st->job_seen.n = 0;
        int64_t from = st->job_max - st->overlap_us;
        for (size_t i = 0; i < p->jobs.n; i++) {
            s_jobmark m = p->jobs.v[i];
            if (m.lu < from)
                continue;
            if (st->job_seen.n && st->job_seen.v[st->job_seen.n - 1].id == m.id) {
                s_jobmark *last = &st->job_seen.v[st->job_seen.n - 1];
                if (m.lu > last->lu)
                    last->lu = m.lu;
                continue;
            }
            if ((rc = S_PUSH(&st->job_seen, m)) != 0)
                return rc;
        }
    }

    json_t *doc = json_pack("{si}", "v", 1);
    if (!doc)
        return MIDA_ENOMEM;
    char t[40];
    if (st->have_events) {
        s_time_text(st->ev_max, t, sizeof t);
        json_t *seen = json_array();
        for (size_t i = 0; seen && i < st->ev_seen.n; i++)
            json_array_append_new(seen, json_pack("[III]", (json_int_t)st->ev_seen.v[i].lo,
                                                  (json_int_t)st->ev_seen.v[i].hi,
                                                  (json_int_t)st->ev_seen.v[i].ts));
        json_object_set_new(doc, "events_max", json_string(t));
        json_object_set_new(doc, "events_seen", seen);
    }
    if (st->have_jobs) {
        s_time_text(st->job_max, t, sizeof t);
        json_t *seen = json_array();
        for (size_t i = 0; seen && i < st->job_seen.n; i++)
            json_array_append_new(seen, json_pack("[II]", (json_int_t)st->job_seen.v[i].id,
                                                  (json_int_t)st->job_seen.v[i].lu));
        json_object_set_new(doc, "jobs_max", json_string(t));
        json_object_set_new(doc, "jobs_seen", seen);
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        return MIDA_ENOMEM;
    rc = mida_observer_set_cursor(p->obs, text);
    free(text);
    return rc;
}

/* ---- the adapter ---------------------------------------------------------------- */

static void s_close(void *state)
{
    s_state *st = state;
    if (!st)
        return;
    if (st->curl)
        curl_easy_cleanup(st->curl);
    curl_slist_free_all(st->headers);
    if (st->curl_global)
        curl_global_cleanup();
    mida_buf_free(&st->body);
    mida_buf_free(&st->url);
    free(st->base);
    free(st->workflow_id);
    free(st->workflow_name);
    free(st->ev_seen.v);
    free(st->job_seen.v);
    json_decref(st->apps);
    json_decref(st->sites);
    json_decref(st->batch_jobs);
    free(st);
}

/* A number option in [lo, hi], or `def` when not given. */
static int s_number(mida_observer_t *obs, const char *name, double lo, double hi, double def,
                    double *out, char *err, size_t errlen)
{
    const char *v = mida_observer_option(obs, name);
    *out = def;
    if (!v)
        return 0;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || *end || errno || !(d >= lo && d <= hi)) {
        snprintf(err, errlen, "balsam: --%s wants a number from %g to %g, got '%s'", name, lo, hi,
                 v);
        return MIDA_EINVAL;
    }
    *out = d;
    return 0;
}

/* The bearer token from --token, --token-file or $MIDA_BALSAM_TOKEN into
 * *token (caller frees; NULL when none). */
static int s_token(mida_observer_t *obs, char **token, char *err, size_t errlen)
{
    *token = NULL;
    const char *opt = mida_observer_option(obs, "token");
    const char *file = mida_observer_option(obs, "token-file");
    const char *env = getenv("MIDA_BALSAM_TOKEN");
    if (opt && file) {
        snprintf(err, errlen, "balsam: give --token or --token-file, not both");
        return MIDA_EINVAL;
    }
    char *t = NULL;
    if (file) {
        FILE *f = fopen(file, "r");
        if (!f) {
            snprintf(err, errlen, "balsam: cannot read --token-file %s: %s", file, strerror(errno));
            return MIDA_EIO;
        }
        char line[8192];
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
        t = strdup(line);
    } else if (opt || (env && *env)) {
        t = strdup(opt ? opt : env);
    } else {
        return 0;
    }
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return MIDA_ENOMEM;
    }
    /* trim: a token file usually ends with a newline */
    size_t n = strlen(t);
    while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ' || t[n - 1] == '\t'))
        t[--n] = '\0';
    char *s = t;
    while (*s == ' ' || *s == '\t')
        s++;
    bool bad = !*s;
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            bad = true;
    if (bad) {
        snprintf(err, errlen, "balsam: the token%s%s is empty or holds control characters",
                 file ? " in " : "", file ? file : "");
        free(t);
        return MIDA_EINVAL;
    }
    memmove(t, s, strlen(s) + 1);
    *token = t;
    return 0;
}

static int s_init(mida_observer_t *obs, void **state, char *err, size_t errlen)
{
    *state = NULL;
    s_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return MIDA_ENOMEM;
    }
    st->obs = obs;
    mida_buf_init(&st->body, MAX_BODY);
    mida_buf_init(&st->url, 1 << 20);
    int rc = 0;
    char *token = NULL;

    /* --url: http(s)://host[:port][/prefix], no credentials in it */
    const char *url = mida_observer_option(obs, "url");
    const char *after = url ? strstr(url, "://") : NULL;
    if (!url || !after || (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))) {
        snprintf(err, errlen, "balsam: --url wants the server's http:// or https:// address, "
                 "got '%s'", url ? url : "");
        rc = MIDA_EINVAL;
        goto fail;
    }
    const char *host = after + 3;
    size_t hostlen = strcspn(host, "/?#");
    if (!hostlen || memchr(host, '@', hostlen) || strpbrk(url, "?# \t\r\n")) {
        snprintf(err, errlen, "balsam: --url %s: want http(s)://HOST[:PORT][/PATH] with no "
                 "credentials, query or fragment (give the token with --token-file)",
                 url);
        rc = MIDA_EINVAL;
        goto fail;
    }
    st->base = strdup(url);
    if (!st->base)
        goto oom;
    size_t bl = strlen(st->base);
    while (bl && st->base[bl - 1] == '/')
        st->base[--bl] = '\0';

    const char *wf = mida_observer_option(obs, "workflow-id");
    const char *wn = mida_observer_option(obs, "workflow-name");
    char defwf[300];
    snprintf(defwf, sizeof defwf, "balsam-%.*s", (int)(hostlen < 256 ? hostlen : 256), host);
    if (wf && !*wf) {
        snprintf(err, errlen, "balsam: --workflow-id is empty");
        rc = MIDA_EINVAL;
        goto fail;
    }
    st->workflow_id = strdup(wf ? wf : defwf);
    if (wn) {
        st->workflow_name = strdup(wn);
    } else {
        char name[400];
        snprintf(name, sizeof name, "Balsam jobs at %s", st->base);
        st->workflow_name = strdup(name);
    }
    if (!st->workflow_id || !st->workflow_name)
        goto oom;

    double overlap, page, timeout;
    if ((rc = s_number(obs, "overlap", 0, 7 * 86400, DEFAULT_OVERLAP_S, &overlap, err, errlen)) ||
        (rc = s_number(obs, "page-size", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE, &page, err,
                       errlen)) ||
        (rc = s_number(obs, "timeout", 0.1, 3600, DEFAULT_TIMEOUT_S, &timeout, err, errlen)))
        goto fail;
    st->overlap_us = (int64_t)(overlap * US_PER_S);
    st->page_size = (long)page;
    st->timeout_ms = (long)(timeout * 1000);

    if ((rc = s_token(obs, &token, err, errlen)) != 0)
        goto fail;

    st->apps = json_object();
    st->sites = json_object();
    st->batch_jobs = json_object();
    if (!st->apps || !st->sites || !st->batch_jobs)
        goto oom;

    /* libcurl's global state is reference counted: this init is undone by
     * the cleanup in s_close */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "balsam: cannot start libcurl");
        rc = MIDA_EIO;
        goto fail;
    }
    st->curl_global = true;
    st->curl = curl_easy_init();
    if (!st->curl)
        goto oom;
    st->headers = curl_slist_append(NULL, "Accept: application/json");
    if (!st->headers)
        goto oom;
    if (token) {
        size_t hl = strlen(token) + 32;
        char *h = malloc(hl);
        if (!h)
            goto oom;
        snprintf(h, hl, "Authorization: Bearer %s", token);
        struct curl_slist *l = curl_slist_append(st->headers, h);
        /* wipe our copies of the secret; the list keeps its own */
        memset(h, 0, hl);
        free(h);
        if (!l)
            goto oom;
        st->headers = l;
        st->has_token = true;
    }
    CURL *c = st->curl;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, st->headers);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, st->curl_err);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mida-observe-balsam/" MIDA_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, st->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, st->timeout_ms < 10000 ? st->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MAX_BODY);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &st->body);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);

    const char *cursor = mida_observer_cursor(obs);
    if (cursor && s_cursor_load(st, cursor))
        mida_observer_log(obs, MIDA_LOG_WARN,
                          "the saved cursor is not one this adapter wrote; reading %s from the "
                          "start (records already sent are sent again, which is harmless)",
                          st->base);
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    *state = st;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    rc = MIDA_ENOMEM;
fail:
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    s_close(st);
    return rc;
}

static int s_observe(void *state, mida_observer_t *obs, char *err, size_t errlen)
{
    s_state *st = state;
    s_poll p = {.st = st, .obs = obs, .err = err, .errlen = errlen};
    *err = '\0';
    int rc = s_read_events(&p);
    if (!rc)
        rc = s_read_jobs(&p);
    if (!rc) {
        rc = s_cursor_save(&p);
        if (rc)
            snprintf(err, errlen, "out of memory");
    }
    if (rc == MIDA_ENOMEM && !*err)
        snprintf(err, errlen, "out of memory");
    free(p.events.v);
    free(p.jobs.v);
    s_ids_free(&p.touched);
    s_ids_free(&p.done);
    s_ids_free(&p.bad_events);
    return rc;
}

static const mida_adapter_option_t s_options[] = {
    {"url", "URL", "the Balsam server's API address (the one `balsam login` used)", true},
    {"token-file", "FILE", "a file whose first line is the bearer token", false},
    {"token", "TOKEN", "the bearer token (other users see it in `ps`: prefer --token-file or "
     "$MIDA_BALSAM_TOKEN)", false},
    {"workflow-id", "ID", "workflow_id of the jobs' records (default balsam-HOST[:PORT])", false},
    {"workflow-name", "NAME", "workflow_name of that run (default 'Balsam jobs at URL')", false},
    {"overlap", "SECONDS", "re-read events and job updates this far back (default 300)", false},
    {"page-size", "N", "items asked per request (default 1000, at most 100000)", false},
    {"timeout", "SECONDS", "limit of one HTTP request (default 60)", false},
    {NULL, NULL, NULL, false}};

const mida_adapter_t mida_adapter_balsam = {MIDA_ADAPTER_ABI, "balsam",
                                            "Balsam jobs and their event log, from its REST API",
                                            "url", s_options, s_init, s_observe, s_close};
