/* mida_emitter.c - the sending side of live capture (see mida_emitter.h).
 * Owns: the record queue shared with callers, the background thread, its
 * DEALER socket, the batches awaiting acknowledgement and the spool files.
 *
 * Everything below "thread side" runs on the emitter's own thread; the
 * queue, the counters and the flags are shared under `mu`.
 */
#include "mida.h"
#include "mida_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_ALIASES 64
#define MAX_INFLIGHT 64          /* batches sent and not yet acknowledged */
#define HELLO_INTERVAL 1.0       /* seconds between hellos while unanswered */
#define SCAN_INTERVAL 5.0        /* seconds between looks for orphaned spools */

typedef struct em_rec {
    struct em_rec *next;
    long spool_off;              /* offset in the replayed spool file, or -1 */
    size_t len;
    char text[];
} em_rec_t;

typedef struct em_batch {
    struct em_batch *next;
    uint64_t seq;
    em_rec_t *recs;              /* the records, kept for the spool */
    size_t n_recs, bytes, n_spool;
    uint32_t quads;
    uint8_t header[MIDA_WIRE_HEADER_SIZE];
    mida_buf_t payload;
    double sent_at;              /* 0: not sent yet */
    bool sent_once;
} em_batch_t;

struct mida_emitter {
    mida_ctx_t *ctx, *own_ctx;
    char *endpoint, *spool_dir, *curve_server, *curve_public, *curve_secret;
    size_t batch_records, max_bytes, max_payload;
    double batch_age, block_s, ack_timeout, spool_after;
    bool deflate;

    /* shared under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* room made, work resolved */
    em_rec_t *q_head, *q_tail;
    size_t q_count, mem_bytes;
    double q_oldest;
    size_t inflight_recs;        /* records in batches taken from the queue */
    size_t unread;               /* records in spool files not read back */
    unsigned flushing;           /* flush calls waiting */
    bool scan_wanted;            /* spool files may wait to be claimed */
    bool closing, stop;
    mida_emitter_stats_t st;
    int wake_fd;

    /* thread side */
    pthread_t thread;
    void *zctx, *sock, *mon;     /* mon: connection events of sock */
    bool connected;              /* a handshake succeeded, no disconnect since */
    double disconnected_since;
    uint8_t sender[16];
    uint64_t next_seq;
    em_batch_t *inflight, *inflight_tail;
    size_t n_inflight;
    bool configured;
    char *cfg_base, *cfg_aliases;
    mida_alias_t aliases[MAX_ALIASES];
    mida_map_opts_t map;
    double last_heard, last_hello, last_scan;
    bool auth_warned;
    char *own_path;              /* our spool file, created on first use */
    int own_fd;
    size_t own_lines;
    /* the spool file being read back (ours, renamed, or an orphan) */
    char *rp_path;
    FILE *rp_f;                  /* holds the lock on its descriptor */
    long rp_off;                 /* where the next record starts */
    size_t rp_unread;            /* records after rp_off */
    size_t rp_outstanding;       /* records read back, not yet resolved */
    bool rp_eof;
};

/* Records not yet acknowledged or refused, wherever they are (under mu). */
static size_t s_pending(const mida_emitter_t *em)
{
    return em->q_count + em->inflight_recs + em->unread;
}

static char *s_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void s_wake(mida_emitter_t *em)
{
    uint64_t one = 1;
    ssize_t n = write(em->wake_fd, &one, sizeof one);
    (void)n; /* a full counter already wakes the thread */
}

/* ---- caller side ----------------------------------------------------- */

int mida_emitter_send(mida_emitter_t *em, const char *json, size_t len)
{
    if (!em || !json)
        return MIDA_EINVAL;
    if (!len)
        len = strlen(json);
    if (!len)
        return MIDA_EINVAL;
    size_t need = sizeof(em_rec_t) + len + 1;
    em_rec_t *r = malloc(need);
    if (!r)
        return MIDA_ENOMEM;
    r->next = NULL;
    r->spool_off = -1;
    r->len = len;
    memcpy(r->text, json, len);
    r->text[len] = '\0';

    pthread_mutex_lock(&em->mu);
    if (em->closing) {
        pthread_mutex_unlock(&em->mu);
        free(r);
        return MIDA_EINVAL;
    }
    if (em->mem_bytes + need > em->max_bytes && em->block_s > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double t = until.tv_nsec / 1e9 + em->block_s;
        until.tv_sec += (time_t)t;
        until.tv_nsec = (long)((t - (double)(time_t)t) * 1e9);
        while (em->mem_bytes + need > em->max_bytes && !em->closing)
            if (pthread_cond_timedwait(&em->cv, &em->mu, &until) == ETIMEDOUT)
                break;
    }
    if (em->mem_bytes + need > em->max_bytes || em->closing) {
        em->st.dropped++;
        pthread_mutex_unlock(&em->mu);
        free(r);
        return MIDA_EAGAIN;
    }
    if (em->q_tail)
        em->q_tail->next = r;
    else
        em->q_head = r;
    em->q_tail = r;
    bool wake = ++em->q_count == 1 || em->q_count == em->batch_records;
    if (em->q_count == 1)
        em->q_oldest = mida__mono_now();
    em->mem_bytes += need;
    em->st.accepted++;
    pthread_mutex_unlock(&em->mu);
    if (wake)
        s_wake(em);
    return 0;
}

int mida_emitter_flush(mida_emitter_t *em, unsigned timeout_ms)
{
    if (!em)
        return MIDA_EINVAL;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&em->mu);
    em->flushing++;
    s_wake(em);
    int rc = 0;
    while ((s_pending(em) > 0 || em->scan_wanted) && rc == 0)
        if (pthread_cond_timedwait(&em->cv, &em->mu, &until) == ETIMEDOUT)
            rc = (s_pending(em) > 0 || em->scan_wanted) ? MIDA_EAGAIN : 0;
    em->flushing--;
    pthread_mutex_unlock(&em->mu);
    return rc;
}

void mida_emitter_stats(mida_emitter_t *em, mida_emitter_stats_t *out)
{
    if (!em || !out)
        return;
    pthread_mutex_lock(&em->mu);
    *out = em->st;
    out->pending = s_pending(em);
    pthread_mutex_unlock(&em->mu);
}

const char *mida_emitter_endpoint(const mida_emitter_t *em)
{
    return em ? em->endpoint : NULL;
}

/* ---- thread side: batches -------------------------------------------- */

static void s_free_recs(em_rec_t *r)
{
    while (r) {
        em_rec_t *next = r->next;
        free(r);
        r = next;
    }
}

static size_t s_rec_bytes(const em_rec_t *r)
{
    return sizeof(em_rec_t) + r->len + 1;
}

/* A batch is over (acknowledged, refused or spooled): forget it. */
static void s_batch_done(mida_emitter_t *em, em_batch_t *b, bool acked, bool refused)
{
    pthread_mutex_lock(&em->mu);
    if (acked) {
        em->st.acked += b->n_recs;
        em->st.quads_acked += b->quads;
    }
    if (refused)
        em->st.refused += b->n_recs;
    em->mem_bytes -= b->bytes;
    em->inflight_recs -= b->n_recs;
    pthread_cond_broadcast(&em->cv);
    pthread_mutex_unlock(&em->mu);
    em->rp_outstanding -= b->n_spool < em->rp_outstanding ? b->n_spool : em->rp_outstanding;
    s_free_recs(b->recs);
    mida_buf_free(&b->payload);
    free(b);
}

/* Takes up to batch_records records from the queue, maps them and builds
 * the message.  NULL when nothing valid was taken. */
static em_batch_t *s_make_batch(mida_emitter_t *em)
{
    pthread_mutex_lock(&em->mu);
    em_rec_t *head = em->q_head, *tail = NULL;
    size_t n = 0, bytes = 0;
    for (em_rec_t *r = head; r && n < em->batch_records; r = r->next) {
        tail = r;
        n++;
        bytes += s_rec_bytes(r);
    }
    if (tail) {
        em->q_head = tail->next;
        if (!em->q_head)
            em->q_tail = NULL;
        tail->next = NULL;
        em->q_count -= n;
        em->inflight_recs += n;
        if (em->q_count)
            em->q_oldest = mida__mono_now();
    }
    pthread_mutex_unlock(&em->mu);
    if (!n)
        return NULL;

    em_batch_t *b = calloc(1, sizeof *b);
    mida_quads_t *quads = mida_quads_new();
    if (!b || !quads) {
        mida__log(em->ctx, MIDA_LOG_ERROR, MIDA_FROM_WIRE, MIDA_ENOMEM, NULL,
                  "out of memory building a batch; %zu records put back", n);
        free(b);
        mida_quads_destroy(&quads);
        pthread_mutex_lock(&em->mu);
        tail->next = em->q_head;
        em->q_head = head;
        if (!em->q_tail)
            em->q_tail = tail;
        em->q_count += n;
        em->inflight_recs -= n;
        pthread_mutex_unlock(&em->mu);
        return NULL;
    }
    mida_buf_init(&b->payload, 0);
    /* map each record; the invalid ones are reported and dropped here */
    em_rec_t **link = &head;
    size_t invalid = 0, invalid_bytes = 0;
    char err[512];
    while (*link) {
        em_rec_t *r = *link;
        mida_task_t *task = NULL;
        size_t before = mida_quads_count(quads);
        int rc = mida_task_parse(r->text, r->len, &task, err, sizeof err);
        if (!rc)
            rc = mida_prov_map(task, &em->map, quads, err, sizeof err);
        mida_task_destroy(&task);
        if (rc) {
            mida_quads_truncate(quads, before);
            mida__log(em->ctx, MIDA_LOG_WARN, MIDA_FROM_TASK, rc, NULL,
                      "record not sent: %s: %.120s", err, r->text);
            *link = r->next;
            invalid++;
            invalid_bytes += s_rec_bytes(r);
            if (r->spool_off >= 0 && em->rp_outstanding)
                em->rp_outstanding--;
            free(r);
            continue;
        }
        b->n_recs++;
        b->bytes += s_rec_bytes(r);
        if (r->spool_off >= 0)
            b->n_spool++;
        link = &r->next;
    }
    b->recs = head;
    if (invalid) {
        pthread_mutex_lock(&em->mu);
        em->st.invalid += invalid;
        em->mem_bytes -= invalid_bytes;
        em->inflight_recs -= invalid;
        pthread_cond_broadcast(&em->cv);
        pthread_mutex_unlock(&em->mu);
    }
    if (!b->n_recs) {
        mida_quads_destroy(&quads);
        mida_buf_free(&b->payload);
        free(b);
        return NULL;
    }
    mida_wire_header_t h = {.seq = ++em->next_seq};
    memcpy(h.sender, em->sender, 16);
    int rc = mida_wire_encode(quads, em->deflate, em->max_payload, &h, &b->payload);
    mida_quads_destroy(&quads);
    if (rc) {
        /* too big for one message (or no memory): refuse it here, loudly */
        mida__log(em->ctx, MIDA_LOG_ERROR, MIDA_FROM_WIRE, rc, NULL,
                  "a batch of %zu records cannot be sent: %s", b->n_recs, mida_strerror(rc));
        s_batch_done(em, b, false, true);
        return NULL;
    }
    b->seq = h.seq;
    b->quads = h.quad_count;
    mida_wire_header_encode(&h, b->header);
    return b;
}

static bool s_send_msg(mida_emitter_t *em, const uint8_t *header, const void *payload, size_t len)
{
    if (zmq_send(em->sock, header, MIDA_WIRE_HEADER_SIZE, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0)
        return false;
    /* the second frame of a started message is always accepted */
    return zmq_send(em->sock, payload, len, ZMQ_DONTWAIT) >= 0;
}

static void s_send_batch(mida_emitter_t *em, em_batch_t *b, double now)
{
    if (!s_send_msg(em, b->header, b->payload.data ? b->payload.data : "", b->payload.len))
        return; /* not connected: tried again on the next turn */
    b->sent_at = now;
    pthread_mutex_lock(&em->mu);
    em->st.batches_sent++;
    if (b->sent_once)
        em->st.batches_resent++;
    pthread_mutex_unlock(&em->mu);
    b->sent_once = true;
}

static void s_send_hello(mida_emitter_t *em, double now)
{
    mida_wire_header_t h;
    uint8_t frame[MIDA_WIRE_HEADER_SIZE];
    mida_wire_control(&h, MIDA_WIRE_FLAG_HELLO, em->sender, 0, NULL, 0);
    mida_wire_header_encode(&h, frame);
    s_send_msg(em, frame, "", 0);
    em->last_hello = now;
}

/* The integrator's mapping settings: the same IRIs whoever maps. */
static void s_configure(mida_emitter_t *em, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *cfg = json_loadb(text, len, 0, &jerr);
    const char *base = json_string_value(json_object_get(cfg, "base"));
    const char *aliases = json_string_value(json_object_get(cfg, "aliases"));
    const char *promote = json_string_value(json_object_get(cfg, "promote"));
    if (!base) {
        mida__log(em->ctx, MIDA_LOG_ERROR, MIDA_FROM_WIRE, MIDA_EPARSE, NULL,
                  "the integrator's hello has no base IRI; waiting for a valid one");
        json_decref(cfg);
        return;
    }
    if (em->configured && strcmp(base, em->cfg_base))
        mida__log(em->ctx, MIDA_LOG_WARN, MIDA_FROM_WIRE, 0, NULL,
                  "the integrator at %s now uses base %s (was %s); records mapped from now "
                  "on use the new one", em->endpoint, base, em->cfg_base);
    free(em->cfg_base);
    free(em->cfg_aliases);
    em->cfg_base = strdup(base);
    em->cfg_aliases = strdup(aliases ? aliases : "");
    memset(&em->map, 0, sizeof em->map);
    em->map.base = em->cfg_base;
    em->map.no_promote = promote && !strcmp(promote, "no");
    if (em->cfg_aliases) {
        em->map.n_aliases = mida_iri_split_aliases(em->cfg_aliases, em->aliases, MAX_ALIASES);
        em->map.aliases = em->aliases;
    }
    if (!em->configured)
        mida__log(em->ctx, MIDA_LOG_INFO, MIDA_FROM_WIRE, 0, NULL,
                  "connected to the integrator at %s (base %s)", em->endpoint, base);
    em->configured = em->cfg_base != NULL;
    json_decref(cfg);
}

static void s_on_reply(mida_emitter_t *em, mida_wire_header_t *h, const void *payload, size_t len)
{
    unsigned kind = h->flags & MIDA_WIRE_KIND_MASK;
    if (kind == MIDA_WIRE_FLAG_HELLO) {
        s_configure(em, payload, len);
        return;
    }
    if (kind != MIDA_WIRE_FLAG_ACK && kind != MIDA_WIRE_FLAG_REFUSED)
        return;
    em_batch_t *prev = NULL, *b = em->inflight;
    while (b && b->seq != h->seq) {
        prev = b;
        b = b->next;
    }
    if (!b)
        return; /* a duplicate ack for a re-sent batch */
    if (prev)
        prev->next = b->next;
    else
        em->inflight = b->next;
    if (em->inflight_tail == b)
        em->inflight_tail = prev;
    em->n_inflight--;
    if (kind == MIDA_WIRE_FLAG_REFUSED)
        mida__log(em->ctx, MIDA_LOG_ERROR, MIDA_FROM_WIRE, MIDA_EPARSE, NULL,
                  "the integrator refused batch %llu (%zu records): %.*s",
                  (unsigned long long)b->seq, b->n_recs, (int)(len > 400 ? 400 : len),
                  (const char *)payload);
    s_batch_done(em, b, kind == MIDA_WIRE_FLAG_ACK, kind == MIDA_WIRE_FLAG_REFUSED);
}

static void s_receive(mida_emitter_t *em)
{
    for (;;) {
        zmq_msg_t parts[2];
        zmq_msg_init(&parts[0]);
        if (zmq_msg_recv(&parts[0], em->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&parts[0]);
            return;
        }
        size_t n = 1;
        while (n < 2 && zmq_msg_more(&parts[n - 1])) {
            zmq_msg_init(&parts[n]);
            if (zmq_msg_recv(&parts[n], em->sock, 0) < 0)
                break;
            n++;
        }
        /* swallow any extra frames */
        while (zmq_msg_more(&parts[n - 1])) {
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            int more = zmq_msg_recv(&extra, em->sock, 0) >= 0 && zmq_msg_more(&extra);
            zmq_msg_close(&extra);
            if (!more)
                break;
        }
        mida_wire_header_t h;
        char err[200];
        const void *payload = n > 1 ? zmq_msg_data(&parts[1]) : "";
        size_t plen = n > 1 ? zmq_msg_size(&parts[1]) : 0;
        if (mida_wire_header_decode(zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), &h, err,
                                    sizeof err) == 0 &&
            mida_wire_check(&h, payload, plen, 0, err, sizeof err) == 0) {
            em->last_heard = mida__mono_now();
            s_on_reply(em, &h, payload, plen);
        } else {
            mida__log(em->ctx, MIDA_LOG_WARN, MIDA_FROM_WIRE, MIDA_EPARSE, NULL,
                      "ignoring a reply from %s: %s", em->endpoint, err);
        }
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
    }
}

/* ---- thread side: the spool ------------------------------------------ */

static int s_own_spool(mida_emitter_t *em)
{
    if (em->own_fd >= 0)
        return 0;
    if (mida__file_mkdir_p(em->spool_dir, 0700)) {
        mida__log(em->ctx, MIDA_LOG_ERROR, MIDA_FROM_WIRE, MIDA_EIO, NULL,
                  "cannot create the spool directory %s: %s", em->spool_dir, strerror(errno));
        return MIDA_EIO;
    }
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    static unsigned s_gen;
    char name[512];
    snprintf(name, sizeof name, "%s/%s-%ld-%02x%02x%02x%02x-%u.jsonl", em->spool_dir, host,
             (long)getpid(), em->sender[0], em->sender[1], em->sender[2], em->sender[3],
             __atomic_add_fetch(&s_gen, 1, __ATOMIC_RELAXED));
    /* read-write: the same descriptor (and its lock) later reads it back */
    int fd = open(name, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB)) {
        mida__log(em->ctx, MIDA_LOG_ERROR, MIDA_FROM_WIRE, MIDA_EIO, NULL,
                  "cannot open the spool file %s: %s", name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return MIDA_EIO;
    }
    em->own_fd = fd;
    em->own_path = strdup(name);
    return em->own_path ? 0 : MIDA_ENOMEM;
}

/* Appends one record as one line: records with line breaks are compacted
 * first, so that the spool stays JSON lines. */
static int s_spool_line(mida_buf_t *out, const em_rec_t *r)
{
    if (!memchr(r->text, '\n', r->len) && !memchr(r->text, '\r', r->len)) {
        int rc = mida_buf_add(out, r->text, r->len);
        return rc ? rc : mida_buf_addc(out, '\n');
    }
    json_t *j = json_loadb(r->text, r->len, 0, NULL);
    char *flat = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!flat)
        return MIDA_EPARSE;
    int rc = mida_buf_adds(out, flat);
    free(flat);
    return rc ? rc : mida_buf_addc(out, '\n');
}

static size_t s_count_lines(FILE *f, long from)
{
    size_t n = 0;
    int c, last = '\n';
    if (fseek(f, from, SEEK_SET))
        return 0;
    while ((c = getc(f)) != EOF) {
        if (c == '\n' && last != '\n')
            n++;
        last = c;
    }
    if (last != '\n')
        n++;
    clearerr(f);
    fseek(f, from, SEEK_SET);
    return n;
}

/* Closes the file being replayed; removes it when all of it was sent. */
static void s_replay_close(mida_emitter_t *em, bool remove_it)
{
    if (!em->rp_f)
        return;
    if (remove_it && unlink(em->rp_path) == 0)
        mida__log(em->ctx, MIDA_LOG_INFO, MIDA_FROM_WIRE, 0, NULL, "spool %s delivered, removed",
                  em->rp_path);
    if (remove_it)
        em->last_scan = 0; /* look for the next one now */
    fclose(em->rp_f); /* releases the lock */
    em->rp_f = NULL;
    free(em->rp_path);
    em->rp_path = NULL;
    pthread_mutex_lock(&em->mu);
    em->unread -= em->rp_unread;
    pthread_mutex_unlock(&em->mu);
    em->rp_unread = em->rp_outstanding = 0;
}

/* Writes everything waiting (queue and in flight) to our spool file and
 * frees it.  Records read back from a spool are not written again: they
 * are still in their file, which will be read again from the first of
 * them. */
static void s_spool_all(mida_emitter_t *em)
{
    /* the queue is detached now; the counts change below in one step, so
     * that a flush never sees the records nowhere */
    pthread_mutex_lock(&em->mu);
    em_rec_t *q = em->q_head;
    size_t q_count = 0;
    for (em_rec_t *r = q; r; r = r->next)
        q_count++;
    em->q_head = em->q_tail = NULL;
    pthread_mutex_unlock(&em->mu);

    mida_buf_t out;
    mida_buf_init(&out, 0);
    size_t lines = 0, bad = 0;
    long rewind_to = -1;
    em_batch_t *b = NULL;
    for (em_rec_t *r = q;; r = r->next) {
        while (!r && (b = b ? b->next : em->inflight))
            r = b->recs;
        if (!r)
            break;
        if (r->spool_off >= 0) {
            if (rewind_to < 0 || r->spool_off < rewind_to)
                rewind_to = r->spool_off;
        } else if (s_spool_line(&out, r) == 0) {
            lines++;
        } else {
            bad++;
        }
    }
    int rc = out.len ? s_own_spool(em) : 0;
    bool torn = false;
    if (!rc && out.len && mida__file_append(em->own_fd, out.data, out.len, true, &torn)) {
        mida__log(em->ctx, MIDA_LOG_ERROR, MIDA_FROM_WIRE, MIDA_EIO, NULL,
                  "cannot write the spool file %s: %s", em->own_path, strerror(errno));
        if (torn)
            mida__log(em->ctx, MIDA_LOG_ERROR, MIDA_FROM_WIRE, MIDA_EIO, NULL,
                      "the spool file %s may end in a partial record", em->own_path);
        rc = MIDA_EIO;
    }
    mida_buf_free(&out);
    if (rc) {
        /* keep everything in memory; try again later */
        pthread_mutex_lock(&em->mu);
        em_rec_t *t = q;
        while (t && t->next)
            t = t->next;
        if (t) {
            t->next = em->q_head;
            em->q_head = q;
            if (!em->q_tail)
                em->q_tail = t;
        }
        pthread_mutex_unlock(&em->mu);
        return;
    }
    /* everything is safe on disk (or was not valid JSON): free it */
    size_t bytes = 0;
    for (em_rec_t *r = q; r; r = r->next)
        bytes += s_rec_bytes(r);
    s_free_recs(q);
    size_t inflight_recs = 0;
    while ((b = em->inflight)) {
        em->inflight = b->next;
        inflight_recs += b->n_recs;
        bytes += b->bytes;
        s_free_recs(b->recs);
        mida_buf_free(&b->payload);
        free(b);
    }
    em->inflight_tail = NULL;
    em->n_inflight = 0;
    em->own_lines += lines;
    pthread_mutex_lock(&em->mu);
    em->q_count -= q_count;
    em->inflight_recs -= inflight_recs;
    em->mem_bytes -= bytes;
    em->unread += lines;
    em->st.spooled += lines;
    em->st.invalid += bad;
    pthread_cond_broadcast(&em->cv);
    pthread_mutex_unlock(&em->mu);
    if (lines || bad)
        mida__log(em->ctx, MIDA_LOG_WARN, MIDA_FROM_WIRE, 0, NULL,
                  "integrator at %s not answering: %zu records spooled to %s%s", em->endpoint,
                  lines, em->own_path ? em->own_path : em->spool_dir,
                  bad ? "; records that are not JSON dropped" : "");
    if (em->rp_f) {
        /* read the replayed file again from its first unsent record */
        if (rewind_to >= 0 && rewind_to < em->rp_off) {
            em->rp_off = rewind_to;
            em->rp_eof = false;
        }
        size_t unread = s_count_lines(em->rp_f, em->rp_off);
        pthread_mutex_lock(&em->mu);
        em->unread = em->unread - em->rp_unread + unread;
        pthread_mutex_unlock(&em->mu);
        em->rp_unread = unread;
        em->rp_outstanding = 0;
    }
}

/* Opens the next spool file to read back: our own (renamed, so that new
 * spooling goes to a fresh file), else one an ended emitter left. */
static void s_replay_open(mida_emitter_t *em, double now)
{
    if (em->own_fd >= 0 && em->own_lines) {
        size_t tlen = strlen(em->own_path) + 16;
        char *to = malloc(tlen);
        if (!to)
            return;
        snprintf(to, tlen, "%s.replay", em->own_path);
        /* the descriptor keeps its lock: no other emitter takes the file */
        FILE *f = rename(em->own_path, to) == 0 ? fdopen(em->own_fd, "r") : NULL;
        if (!f || fseek(f, 0, SEEK_SET)) {
            mida__log(em->ctx, MIDA_LOG_ERROR, MIDA_FROM_WIRE, MIDA_EIO, NULL,
                      "cannot read back the spool %s: %s", em->own_path, strerror(errno));
            if (f) {
                /* keep writing to it under its new name */
                free(em->own_path);
                em->own_path = to;
                return;
            }
            free(to);
            return;
        }
        em->own_fd = -1;
        free(em->own_path);
        em->own_path = NULL;
        em->rp_f = f;
        em->rp_path = to;
        em->rp_unread = em->own_lines; /* already counted in unread */
        em->own_lines = 0;
        em->rp_off = 0;
        em->rp_eof = false;
        em->rp_outstanding = 0;
        return;
    }
    if (now - em->last_scan < SCAN_INTERVAL)
        return;
    em->last_scan = now;
    DIR *d = opendir(em->spool_dir);
    if (!d) {
        pthread_mutex_lock(&em->mu);
        em->scan_wanted = false;
        pthread_cond_broadcast(&em->cv);
        pthread_mutex_unlock(&em->mu);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) && !em->rp_f) {
        size_t len = strlen(de->d_name);
        bool ours = em->own_path && !strcmp(strrchr(em->own_path, '/') + 1, de->d_name);
        if (ours || de->d_name[0] == '.' ||
            !((len > 6 && !strcmp(de->d_name + len - 6, ".jsonl")) ||
              (len > 13 && !strcmp(de->d_name + len - 13, ".jsonl.replay"))))
            continue;
        size_t plen = strlen(em->spool_dir) + len + 2;
        char *path = malloc(plen);
        if (!path)
            break;
        snprintf(path, plen, "%s/%s", em->spool_dir, de->d_name);
        FILE *f = fopen(path, "r");
        if (!f || flock(fileno(f), LOCK_EX | LOCK_NB)) {
            if (f)
                fclose(f); /* a live emitter's file */
            free(path);
            continue;
        }
        size_t n = s_count_lines(f, 0);
        mida__log(em->ctx, MIDA_LOG_INFO, MIDA_FROM_WIRE, 0, NULL,
                  "replaying %zu spooled records from %s", n, path);
        em->rp_f = f;
        em->rp_path = path;
        em->rp_off = 0;
        em->rp_eof = false;
        em->rp_unread = n;
        em->rp_outstanding = 0;
        pthread_mutex_lock(&em->mu);
        em->unread += n;
        pthread_mutex_unlock(&em->mu);
    }
    closedir(d);
    if (!em->rp_f) {
        pthread_mutex_lock(&em->mu);
        em->scan_wanted = false;
        pthread_cond_broadcast(&em->cv);
        pthread_mutex_unlock(&em->mu);
    }
}

/* Moves records from the replayed file to the queue while there is room
 * (half the memory bound, so that callers keep room of their own). */
static void s_replay_read(mida_emitter_t *em)
{
    char *line = NULL;
    size_t cap = 0;
    while (em->rp_f && !em->rp_eof) {
        pthread_mutex_lock(&em->mu);
        bool room = em->mem_bytes < em->max_bytes / 2 && em->q_count < 8 * em->batch_records;
        pthread_mutex_unlock(&em->mu);
        if (!room)
            break;
        long off = em->rp_off;
        ssize_t n = getline(&line, &cap, em->rp_f);
        if (n <= 0) {
            em->rp_eof = true;
            break;
        }
        em->rp_off += (long)n;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        em_rec_t *r = malloc(sizeof *r + (size_t)n + 1);
        if (!r) {
            em->rp_off = off;
            fseek(em->rp_f, off, SEEK_SET);
            break;
        }
        r->next = NULL;
        r->spool_off = off;
        r->len = (size_t)n;
        memcpy(r->text, line, (size_t)n);
        r->text[n] = '\0';
        em->rp_outstanding++;
        if (em->rp_unread)
            em->rp_unread--;
        if (!em->rp_unread)
            em->rp_eof = true; /* counted when opened: nothing more to read */
        pthread_mutex_lock(&em->mu);
        if (em->unread)
            em->unread--;
        if (em->q_tail)
            em->q_tail->next = r;
        else
            em->q_head = r;
        em->q_tail = r;
        if (em->q_count++ == 0)
            em->q_oldest = mida__mono_now();
        em->mem_bytes += s_rec_bytes(r);
        pthread_mutex_unlock(&em->mu);
    }
    free(line);
    if (em->rp_f && em->rp_eof && em->rp_outstanding == 0)
        s_replay_close(em, true);
}

/* ---- thread side: the loop -------------------------------------------- */

/* Connection events: reachability is the connection's state (ZeroMQ's own
 * heartbeats notice a dead peer), not the integrator's speed: a busy
 * integrator is not a reason to spool. */
static void s_monitor(mida_emitter_t *em, double now)
{
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, em->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        zmq_msg_init(&addr);
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&addr, em->mon, 0);
        uint16_t event = 0;
        if (zmq_msg_size(&ev) >= 2)
            memcpy(&event, zmq_msg_data(&ev), 2);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            em->connected = true;
            /* what was in flight on a lost connection goes again */
            for (em_batch_t *b = em->inflight; b; b = b->next)
                b->sent_at = 0;
            em->last_hello = 0; /* re-read the settings */
            mida__log(em->ctx, MIDA_LOG_INFO, MIDA_FROM_WIRE, 0, NULL, "connected to %s",
                      em->endpoint);
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            if (em->connected)
                mida__log(em->ctx, MIDA_LOG_WARN, MIDA_FROM_WIRE, 0, NULL,
                          "lost the connection to %s; reconnecting", em->endpoint);
            em->connected = false;
            em->disconnected_since = now;
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
                   event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                   event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            if (!em->auth_warned)
                mida__log(em->ctx, MIDA_LOG_ERROR, MIDA_FROM_WIRE, MIDA_EINVAL, NULL,
                          "the integrator at %s refused the handshake (%s)", em->endpoint,
                          event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                              ? "this client's CURVE key is not allowed"
                              : "CURVE keys or protocol do not match");
            em->auth_warned = true;
        }
        pthread_mutex_lock(&em->mu);
        em->st.connected = em->connected;
        pthread_mutex_unlock(&em->mu);
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
    }
}

static void *s_thread(void *arg)
{
    mida_emitter_t *em = arg;
    em->last_heard = em->disconnected_since = mida__mono_now(); /* "unreachable" counts from the start */
    for (;;) {
        double now = mida__mono_now();
        pthread_mutex_lock(&em->mu);
        bool stop = em->stop;
        bool urgent = em->flushing > 0; /* someone waits: no batch age */
        size_t queued = em->q_count;
        double oldest = em->q_oldest;
        pthread_mutex_unlock(&em->mu);
        if (stop)
            break;

        /* hello: often until answered, and after each (re)connection */
        if (em->connected && (!em->configured || em->last_hello == 0) &&
            now - em->last_hello >= HELLO_INTERVAL / 10)
            s_send_hello(em, now);
        if (em->configured) {
            /* new batches */
            while (queued && em->n_inflight < MAX_INFLIGHT &&
                   (urgent || queued >= em->batch_records || now - oldest >= em->batch_age)) {
                em_batch_t *b = s_make_batch(em);
                if (b) {
                    if (em->inflight_tail)
                        em->inflight_tail->next = b;
                    else
                        em->inflight = b;
                    em->inflight_tail = b;
                    em->n_inflight++;
                    s_send_batch(em, b, now);
                }
                pthread_mutex_lock(&em->mu);
                queued = em->q_count;
                oldest = em->q_oldest;
                pthread_mutex_unlock(&em->mu);
            }
            /* re-sends: never sent, or no answer in time.  While the
             * integrator acknowledges other batches it is alive and works
             * through its queue in order: waiting longer is right then. */
            bool silent = now - em->last_heard >= em->ack_timeout;
            for (em_batch_t *b = em->inflight; b; b = b->next)
                if (b->sent_at == 0 || (silent && now - b->sent_at >= em->ack_timeout))
                    s_send_batch(em, b, now);
        }
        /* the integrator is away: free memory into the spool */
        if ((queued || em->inflight) && !em->connected &&
            now - em->disconnected_since >= em->spool_after)
            s_spool_all(em);
        /* read spools back while connected */
        if (em->configured && em->connected) {
            if (!em->rp_f)
                s_replay_open(em, now);
            s_replay_read(em);
        }
        pthread_mutex_lock(&em->mu);
        double wait = em->batch_age;
        if (em->q_count)
            wait = em->batch_age - (now - em->q_oldest);
        if (em->flushing)
            wait = 0.02;
        pthread_mutex_unlock(&em->mu);
        if (wait < 0.001)
            wait = 0.001;
        if (wait > 0.25)
            wait = 0.25;
        zmq_pollitem_t items[3] = {{em->sock, 0, ZMQ_POLLIN, 0},
                                   {NULL, em->wake_fd, ZMQ_POLLIN, 0},
                                   {em->mon, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 3, (long)(wait * 1000)) > 0) {
            if (items[1].revents & ZMQ_POLLIN) {
                uint64_t v;
                ssize_t n = read(em->wake_fd, &v, sizeof v);
                (void)n;
            }
        }
        s_receive(em);
        s_monitor(em, mida__mono_now());
    }
    return NULL;
}

/* ---- life cycle ------------------------------------------------------- */

static void s_stderr_log(void *ud, mida_log_level_t level, mida_facility_t facility, int code,
                         const mida_locator_t *where, const char *message)
{
    fprintf(stderr, "mida emitter: %s: %s\n", mida_log_level_name(level), message);
}

static bool s_set_curve(void *sock, int opt, const char *key)
{
    return zmq_setsockopt(sock, opt, key, strlen(key)) == 0;
}

mida_emitter_t *mida_emitter_new(mida_ctx_t *ctx, const mida_emitter_opts_t *opts, char *err,
                                 size_t errlen)
{
    mida_emitter_opts_t o = {0};
    if (opts)
        o = *opts;
    if (err && errlen)
        err[0] = '\0';
    const char *endpoint = o.endpoint ? o.endpoint : getenv("MIDA_ENDPOINT");
    if (!endpoint || !*endpoint)
        endpoint = MIDA_DEFAULT_ENDPOINT;
    char env_secret[41], env_public[41];
    const char *env_server = getenv("MIDA_CURVE_SERVER_KEY");
    if (!o.curve_server_key && !o.curve_public_key && !o.curve_secret_key && env_server &&
        *env_server) {
        const char *keyfile = getenv("MIDA_CURVE_KEY_FILE");
        if (!keyfile || !*keyfile) {
            snprintf(err, errlen, "MIDA_CURVE_SERVER_KEY is set but MIDA_CURVE_KEY_FILE is not");
            return NULL;
        }
        if (mida_curve_read_secret(keyfile, env_secret, env_public, err, errlen))
            return NULL;
        o.curve_server_key = env_server;
        o.curve_public_key = env_public;
        o.curve_secret_key = env_secret;
    }
    int ncurve = !!o.curve_server_key + !!o.curve_public_key + !!o.curve_secret_key;
    if (ncurve && ncurve != 3) {
        snprintf(err, errlen, "CURVE needs the server key and this client's public and secret keys");
        return NULL;
    }
    if (ncurve && !zmq_has("curve")) {
        snprintf(err, errlen, "this libzmq has no CURVE support");
        return NULL;
    }
    mida_emitter_t *em = calloc(1, sizeof *em);
    if (!em) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    em->own_fd = -1;
    em->wake_fd = -1;
    em->ctx = ctx;
    if (!ctx) {
        em->own_ctx = em->ctx = mida_ctx_new();
        if (em->ctx)
            mida_ctx_set_log(em->ctx, s_stderr_log, NULL, mida_log_level_from_env(MIDA_LOG_WARN));
    }
    const char *spool = o.spool_dir ? o.spool_dir : getenv("MIDA_SPOOL_DIR");
    char defspool[256];
    if (!spool || !*spool) {
        const char *tmp = getenv("TMPDIR");
        snprintf(defspool, sizeof defspool, "%s/mida-spool-%ld", tmp && *tmp ? tmp : "/tmp",
                 (long)getuid());
        spool = defspool;
    }
    em->endpoint = strdup(endpoint);
    em->spool_dir = strdup(spool);
    em->curve_server = s_dup(o.curve_server_key);
    em->curve_public = s_dup(o.curve_public_key);
    em->curve_secret = s_dup(o.curve_secret_key);
    em->batch_records = o.batch_records ? o.batch_records : 256;
    em->batch_age = (o.batch_age_ms ? o.batch_age_ms : 50) / 1000.0;
    em->max_bytes = o.max_buffered_bytes ? o.max_buffered_bytes : (64u << 20);
    em->block_s = o.block_ms / 1000.0;
    em->ack_timeout = (o.ack_timeout_ms ? o.ack_timeout_ms : 30000) / 1000.0;
    em->spool_after = (o.spool_after_ms ? o.spool_after_ms : 10000) / 1000.0;
    em->max_payload = o.max_payload;
    em->deflate = !o.no_deflate;
    pthread_mutex_init(&em->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&em->cv, &ca);
    pthread_condattr_destroy(&ca);
    bool ok = em->ctx && em->endpoint && em->spool_dir && (!ncurve || (em->curve_server &&
              em->curve_public && em->curve_secret));
    if (!ok)
        snprintf(err, errlen, "out of memory");
    if (ok && getrandom(em->sender, sizeof em->sender, 0) != (ssize_t)sizeof em->sender) {
        snprintf(err, errlen, "no random sender id: %s", strerror(errno));
        ok = false;
    }
    if (ok && (em->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        ok = false;
    }
    if (ok) {
        em->zctx = zmq_ctx_new();
        em->sock = em->zctx ? zmq_socket(em->zctx, ZMQ_DEALER) : NULL;
        int zero = 0, one = 1, ivl = 100, ivl_max = 1000, hwm = 10000, hb = 1000, hb_to = 5000;
        ok = em->sock && zmq_setsockopt(em->sock, ZMQ_LINGER, &zero, sizeof zero) == 0 &&
             zmq_setsockopt(em->sock, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb) == 0 &&
             zmq_setsockopt(em->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_to, sizeof hb_to) == 0 &&
             zmq_setsockopt(em->sock, ZMQ_IMMEDIATE, &one, sizeof one) == 0 &&
             zmq_setsockopt(em->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) == 0 &&
             zmq_setsockopt(em->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) == 0 &&
             zmq_setsockopt(em->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) == 0;
        if (ok && ncurve)
            ok = s_set_curve(em->sock, ZMQ_CURVE_SERVERKEY, em->curve_server) &&
                 s_set_curve(em->sock, ZMQ_CURVE_PUBLICKEY, em->curve_public) &&
                 s_set_curve(em->sock, ZMQ_CURVE_SECRETKEY, em->curve_secret);
        char mon_addr[64];
        snprintf(mon_addr, sizeof mon_addr, "inproc://mida-emitter-%p", (void *)em);
        if (ok) {
            ok = zmq_socket_monitor(em->sock, mon_addr,
                                    ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                                        ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                        ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                        ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) == 0 &&
                 (em->mon = zmq_socket(em->zctx, ZMQ_PAIR)) != NULL &&
                 zmq_setsockopt(em->mon, ZMQ_LINGER, &zero, sizeof zero) == 0 &&
                 zmq_connect(em->mon, mon_addr) == 0;
        }
        if (!ok)
            snprintf(err, errlen, "cannot set up the socket: %s", zmq_strerror(zmq_errno()));
        else if (zmq_connect(em->sock, em->endpoint)) {
            snprintf(err, errlen, "cannot connect to '%s': %s", em->endpoint,
                     zmq_strerror(zmq_errno()));
            ok = false;
        }
    }
    if (ok) {
        /* spools left by earlier emitters: flush waits until they are sent */
        DIR *d = opendir(em->spool_dir);
        struct dirent *de;
        while (d && (de = readdir(d)) && !em->scan_wanted)
            em->scan_wanted = strstr(de->d_name, ".jsonl") != NULL;
        if (d)
            closedir(d);
    }
    if (ok && pthread_create(&em->thread, NULL, s_thread, em)) {
        snprintf(err, errlen, "cannot start the emitter thread");
        ok = false;
    }
    if (!ok) {
        if (em->mon)
            zmq_close(em->mon);
        if (em->sock)
            zmq_close(em->sock);
        if (em->zctx)
            zmq_ctx_term(em->zctx);
        if (em->wake_fd >= 0)
            close(em->wake_fd);
        pthread_mutex_destroy(&em->mu);
        pthread_cond_destroy(&em->cv);
        mida_ctx_destroy(&em->own_ctx);
        free(em->endpoint);
        free(em->spool_dir);
        free(em->curve_server);
        free(em->curve_public);
        free(em->curve_secret);
        free(em);
        return NULL;
    }
    return em;
}

int mida_emitter_close(mida_emitter_t **self_p, unsigned timeout_ms)
{
    if (!self_p || !*self_p)
        return 0;
    mida_emitter_t *em = *self_p;
    *self_p = NULL;
    /* a last flush, then no more sends */
    int rc = mida_emitter_flush(em, timeout_ms);
    pthread_mutex_lock(&em->mu);
    em->closing = true;
    em->stop = true;
    pthread_cond_broadcast(&em->cv);
    pthread_mutex_unlock(&em->mu);
    s_wake(em);
    pthread_join(em->thread, NULL);
    /* whatever is left goes to the spool */
    pthread_mutex_lock(&em->mu);
    bool left = em->q_count || em->inflight;
    pthread_mutex_unlock(&em->mu);
    if (left)
        s_spool_all(em);
    s_replay_close(em, em->rp_eof && em->rp_outstanding == 0);
    pthread_mutex_lock(&em->mu);
    size_t unsaved = em->q_count + em->inflight_recs;
    size_t spooled = em->unread;
    pthread_mutex_unlock(&em->mu);
    if (unsaved) {
        mida__log(em->ctx, MIDA_LOG_ERROR, MIDA_FROM_WIRE, MIDA_EIO, NULL,
                  "%zu records neither delivered nor spooled", unsaved);
        rc = MIDA_EIO;
    } else if (spooled || rc) {
        if (em->own_path)
            mida__log(em->ctx, MIDA_LOG_WARN, MIDA_FROM_WIRE, 0, NULL,
                      "%zu records not acknowledged are kept in %s; the next emitter "
                      "sends them", spooled, em->own_path);
        rc = MIDA_EAGAIN;
    }
    /* free what remains in memory (only if spooling failed) */
    s_free_recs(em->q_head);
    while (em->inflight) {
        em_batch_t *b = em->inflight;
        em->inflight = b->next;
        s_free_recs(b->recs);
        mida_buf_free(&b->payload);
        free(b);
    }
    if (em->own_fd >= 0) {
        struct stat sb;
        if (fstat(em->own_fd, &sb) == 0 && sb.st_size == 0)
            unlink(em->own_path);
        close(em->own_fd);
    }
    free(em->own_path);
    zmq_socket_monitor(em->sock, NULL, 0);
    zmq_close(em->mon);
    zmq_close(em->sock);
    zmq_ctx_term(em->zctx);
    close(em->wake_fd);
    pthread_mutex_destroy(&em->mu);
    pthread_cond_destroy(&em->cv);
    free(em->cfg_base);
    free(em->cfg_aliases);
    free(em->endpoint);
    free(em->spool_dir);
    free(em->curve_server);
    free(em->curve_public);
    free(em->curve_secret);
    mida_ctx_destroy(&em->own_ctx);
    free(em);
    return rc;
}

/* ---- one-off requests ------------------------------------------------- */

int mida_curve_read_secret(const char *path, char secret[41], char public_key[41], char *err,
                           size_t errlen)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) {
        snprintf(err, errlen, "cannot read the key file %s: %s", path ? path : "(none)",
                 strerror(errno));
        return MIDA_EIO;
    }
    char line[256];
    int rc = MIDA_EPARSE;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, " \t\r\n");
        if (n == 0 || *p == '#')
            continue;
        if (n == 40) {
            memcpy(secret, p, 40);
            secret[40] = '\0';
            rc = zmq_curve_public(public_key, secret) == 0 ? 0 : MIDA_EPARSE;
        }
        break;
    }
    fclose(f);
    if (rc)
        snprintf(err, errlen, "%s holds no CURVE secret key (40 Z85 characters)", path);
    return rc;
}

int mida_curve_keypair(char public_key[41], char secret[41])
{
    return zmq_has("curve") && zmq_curve_keypair(public_key, secret) == 0 ? 0 : MIDA_EUNSUPPORTED;
}

bool mida_curve_key_valid(const char *z85)
{
    uint8_t bin[32];
    return z85 && strlen(z85) == 40 && zmq_z85_decode(bin, z85) != NULL;
}

int mida_emitter_query_status(const char *endpoint, unsigned timeout_ms, char **json_out,
                              char *err, size_t errlen)
{
    if (!json_out)
        return MIDA_EINVAL;
    *json_out = NULL;
    if (!endpoint)
        endpoint = getenv("MIDA_ENDPOINT");
    if (!endpoint || !*endpoint)
        endpoint = MIDA_DEFAULT_ENDPOINT;
    void *zctx = zmq_ctx_new();
    void *sock = zctx ? zmq_socket(zctx, ZMQ_DEALER) : NULL;
    int zero = 0, rc = 0;
    const char *server = getenv("MIDA_CURVE_SERVER_KEY");
    if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero)) {
        snprintf(err, errlen, "cannot set up the socket: %s", zmq_strerror(zmq_errno()));
        rc = MIDA_EIO;
    } else if (server && *server) {
        char secret[41], pub[41];
        rc = mida_curve_read_secret(getenv("MIDA_CURVE_KEY_FILE"), secret, pub, err, errlen);
        if (!rc && (!s_set_curve(sock, ZMQ_CURVE_SERVERKEY, server) ||
                    !s_set_curve(sock, ZMQ_CURVE_PUBLICKEY, pub) ||
                    !s_set_curve(sock, ZMQ_CURVE_SECRETKEY, secret))) {
            snprintf(err, errlen, "bad CURVE keys: %s", zmq_strerror(zmq_errno()));
            rc = MIDA_EINVAL;
        }
    }
    if (!rc && zmq_connect(sock, endpoint)) {
        snprintf(err, errlen, "cannot connect to '%s': %s", endpoint, zmq_strerror(zmq_errno()));
        rc = MIDA_EINVAL;
    }
    if (!rc) {
        uint8_t id[16] = {0}, frame[MIDA_WIRE_HEADER_SIZE];
        mida_wire_header_t h;
        mida_wire_control(&h, MIDA_WIRE_FLAG_STATUS, id, 0, NULL, 0);
        mida_wire_header_encode(&h, frame);
        zmq_send(sock, frame, sizeof frame, ZMQ_SNDMORE);
        zmq_send(sock, "", 0, 0);
        double deadline = mida__mono_now() + timeout_ms / 1000.0;
        rc = MIDA_EAGAIN;
        while (rc == MIDA_EAGAIN) {
            double left = deadline - mida__mono_now();
            if (left <= 0)
                break;
            zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
            if (zmq_poll(&item, 1, (long)(left * 1000) + 1) <= 0)
                continue;
            zmq_msg_t hm, pm;
            zmq_msg_init(&hm);
            zmq_msg_init(&pm);
            if (zmq_msg_recv(&hm, sock, 0) >= 0 && zmq_msg_more(&hm) &&
                zmq_msg_recv(&pm, sock, 0) >= 0 &&
                mida_wire_header_decode(zmq_msg_data(&hm), zmq_msg_size(&hm), &h, err, errlen) == 0 &&
                (h.flags & MIDA_WIRE_KIND_MASK) == MIDA_WIRE_FLAG_STATUS &&
                mida_wire_check(&h, zmq_msg_data(&pm), zmq_msg_size(&pm), 0, err, errlen) == 0) {
                *json_out = strndup(zmq_msg_data(&pm), zmq_msg_size(&pm));
                rc = *json_out ? 0 : MIDA_ENOMEM;
            }
            zmq_msg_close(&hm);
            zmq_msg_close(&pm);
        }
        if (rc == MIDA_EAGAIN)
            snprintf(err, errlen, "no answer from %s within %u ms", endpoint, timeout_ms);
    }
    if (sock)
        zmq_close(sock);
    if (zctx)
        zmq_ctx_term(zctx);
    return rc;
}

/* ---- self-test ------------------------------------------------------------ */
#include "mida_selftest.h"

int mida_emitter_test(bool verbose);
int mida_emitter_test(bool verbose)
{
    int f = 0;
    char dir[] = "/tmp/mida-emitter-test-XXXXXX";
    MIDA_CHECK(f, mkdtemp(dir) != NULL);
    char ep[sizeof dir + 16], spool[sizeof dir + 8];
    snprintf(ep, sizeof ep, "ipc://%s/none", dir);
    snprintf(spool, sizeof spool, "%s/q", dir);
    char err[256];
    /* bad options */
    mida_emitter_opts_t bad = {.endpoint = "nonsense://x", .spool_dir = spool};
    MIDA_CHECK(f, mida_emitter_new(NULL, &bad, err, sizeof err) == NULL && strstr(err, "nonsense"));
    bad.endpoint = ep;
    bad.curve_server_key = "only one key";
    MIDA_CHECK(f, mida_emitter_new(NULL, &bad, err, sizeof err) == NULL && strstr(err, "CURVE"));
    /* no integrator: records are spooled after spool_after_ms, a full
     * buffer refuses with MIDA_EAGAIN, close reports what is left */
    mida_ctx_t *ctx = mida_ctx_new();
    mida_emitter_opts_t o = {.endpoint = ep, .spool_dir = spool, .spool_after_ms = 100,
                             .max_buffered_bytes = 4096};
    mida_emitter_t *em = mida_emitter_new(ctx, &o, err, sizeof err);
    MIDA_CHECK(f, em != NULL);
    if (!em) {
        mida_ctx_destroy(&ctx);
        return f;
    }
    const char *rec = "{\"task_id\":\"t\",\"workflow_id\":\"w\",\"status\":\"RUNNING\",\n"
                      " \"used\":{\"x\":1}}";
    MIDA_CHECK(f, mida_emitter_send(em, rec, 0) == 0);
    MIDA_CHECK(f, mida_emitter_send(em, rec, 0) == 0);
    MIDA_CHECK(f, mida_emitter_send(em, "", 0) == MIDA_EINVAL);
    char big[4000];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[0] = '{';
    big[sizeof big - 2] = '}';
    MIDA_CHECK(f, mida_emitter_send(em, big, 0) == MIDA_EAGAIN);
    struct timespec ts = {0, 400 * 1000000L};
    nanosleep(&ts, NULL);
    mida_emitter_stats_t st;
    mida_emitter_stats(em, &st);
    MIDA_CHECK(f, st.accepted == 2 && st.dropped == 1 && st.spooled == 2 && st.pending == 2);
    MIDA_CHECK(f, !st.connected);
    MIDA_CHECK(f, mida_emitter_flush(em, 50) == MIDA_EAGAIN);
    MIDA_CHECK(f, mida_emitter_close(&em, 50) == MIDA_EAGAIN);
    /* the spool holds both records, one a line, still valid JSON */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test \"$(cat %s/*.jsonl | wc -l)\" = 2", spool);
    MIDA_CHECK(f, system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    MIDA_CHECK(f, system(cmd) == 0);
    mida_ctx_destroy(&ctx);
    if (verbose)
        printf("emitter: %d failures\n", f);
    return f;
}
