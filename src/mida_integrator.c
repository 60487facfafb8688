/* mida_integrator.c - the receiving side of live capture (see
 * mida_integrator.h).
 * Owns: the ROUTER socket (and the ZAP handler for CURVE), the write-ahead
 * log files under DIR/wal, the per-sender table of applied batches, the
 * snapshot schedule and the counters.
 */
#include "mida.h"
#include "mida_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zmq.h>

#define WAL_ENTRY_HEAD 8             /* u32 length, u32 crc */
#define MAX_ABOVE 4096               /* out-of-order seqs remembered per sender */
#define SENDER_IDLE_DAYS 7           /* forgotten after this long unseen */
#define GROUP_MAX_BYTES (64u << 20)
#define GROUP_MAX_QUADS 20000         /* about 0.3 s of applying: acks keep flowing */

/* What has been applied from one sender: every seq <= upto, and the seqs
 * in `above` (sorted). */
typedef struct it_sender {
    uint8_t id[16];
    uint64_t upto;
    uint64_t *above;
    size_t n_above, cap_above;
    double last_seen;                /* wall clock */
} it_sender_t;

/* One batch of the group being committed. */
typedef struct it_item {
    zmq_msg_t route;                 /* the sender's routing id */
    mida_wire_header_t h;
    mida_quads_t *quads;
} it_item_t;

struct mida_integrator {
    mida_ctx_t *ctx;
    mida_store_t *store;
    char *endpoint;
    size_t max_payload;
    unsigned group_max;
    double snapshot_interval;
    size_t snapshot_bytes;
    bool no_fsync;
    char **clients;                  /* allowed CURVE client keys (Z85) */
    size_t n_clients;
    void *zctx, *router, *zap;
    int wake_fd;
    atomic_bool stop;

    char *wal_dir;
    unsigned gen;                    /* generation of the current log */
    int wal_fd;
    double log_started;              /* monotonic time of the first entry since snapshot */

    it_sender_t *senders;
    size_t n_senders, cap_senders;

    pthread_mutex_t mu;              /* guards st */
    mida_integrator_stats_t st;
    double started;
};

static void s_hex(const uint8_t id[16], char out[33])
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", id[i]);
}

/* ---- the table of applied batches ---------------------------------------- */

static it_sender_t *s_sender(mida_integrator_t *it, const uint8_t id[16], bool create)
{
    for (size_t i = 0; i < it->n_senders; i++)
        if (!memcmp(it->senders[i].id, id, 16))
            return &it->senders[i];
    if (!create)
        return NULL;
    if (it->n_senders == it->cap_senders) {
        size_t cap = it->cap_senders ? 2 * it->cap_senders : 16;
        it_sender_t *n = realloc(it->senders, cap * sizeof *n);
        if (!n)
            return NULL;
        it->senders = n;
        it->cap_senders = cap;
    }
    it_sender_t *s = &it->senders[it->n_senders++];
    memset(s, 0, sizeof *s);
    memcpy(s->id, id, 16);
    return s;
}

static bool s_applied(const it_sender_t *s, uint64_t seq)
{
    if (!s)
        return false;
    if (seq <= s->upto)
        return true;
    size_t lo = 0, hi = s->n_above;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->above[mid] == seq)
            return true;
        if (s->above[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static void s_mark(it_sender_t *s, uint64_t seq)
{
    if (!s || s_applied(s, seq))
        return;
    s->last_seen = mida__wall_now();
    if (seq == s->upto + 1) {
        s->upto = seq;
        /* absorb the seqs that are now contiguous */
        size_t k = 0;
        while (k < s->n_above && s->above[k] == s->upto + 1)
            s->upto = s->above[k++];
        if (k) {
            memmove(s->above, s->above + k, (s->n_above - k) * sizeof *s->above);
            s->n_above -= k;
        }
        return;
    }
    if (s->n_above == MAX_ABOVE) {
        /* a sender that skipped this many: assume the gap will not fill */
        s->upto = s->above[0];
        memmove(s->above, s->above + 1, (s->n_above - 1) * sizeof *s->above);
        s->n_above--;
        if (seq <= s->upto)
            return;
    }
    if (s->n_above == s->cap_above) {
        size_t cap = s->cap_above ? 2 * s->cap_above : 8;
        uint64_t *n = realloc(s->above, cap * sizeof *n);
        if (!n)
            return; /* then a re-send is applied again: harmless */
        s->above = n;
        s->cap_above = cap;
    }
    size_t i = s->n_above;
    while (i > 0 && s->above[i - 1] > seq) {
        s->above[i] = s->above[i - 1];
        i--;
    }
    s->above[i] = seq;
    s->n_above++;
}

static char *s_senders_json(mida_integrator_t *it)
{
    json_t *o = json_object();
    double cutoff = mida__wall_now() - SENDER_IDLE_DAYS * 86400.0;
    for (size_t i = 0; i < it->n_senders; i++) {
        it_sender_t *s = &it->senders[i];
        if (s->last_seen && s->last_seen < cutoff)
            continue;
        char hex[33];
        s_hex(s->id, hex);
        json_t *above = json_array();
        for (size_t k = 0; k < s->n_above; k++)
            json_array_append_new(above, json_integer((json_int_t)s->above[k]));
        json_object_set_new(o, hex, json_pack("{s:I,s:o,s:f}", "upto", (json_int_t)s->upto,
                                              "above", above, "seen", s->last_seen));
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

static void s_senders_load(mida_integrator_t *it, const char *text)
{
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    const char *hex;
    json_t *v;
    json_object_foreach(o, hex, v) {
        uint8_t id[16];
        if (strlen(hex) != 32)
            continue;
        for (int i = 0; i < 16; i++)
            sscanf(hex + 2 * i, "%2hhx", &id[i]);
        it_sender_t *s = s_sender(it, id, true);
        if (!s)
            break;
        s->upto = (uint64_t)json_integer_value(json_object_get(v, "upto"));
        size_t k;
        json_t *a;
        json_array_foreach(json_object_get(v, "above"), k, a) s_mark(s, (uint64_t)json_integer_value(a));
        /* s_mark stamps now; keep when it was really seen */
        s->last_seen = json_number_value(json_object_get(v, "seen"));
    }
    json_decref(o);
}

/* ---- the write-ahead log ------------------------------------------------ */

static char *s_wal_path(const mida_integrator_t *it, unsigned gen)
{
    size_t len = strlen(it->wal_dir) + 32;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/wal-%08u.log", it->wal_dir, gen);
    return p;
}

static int s_wal_open(mida_integrator_t *it, char *err, size_t errlen)
{
    char *path = s_wal_path(it, it->gen);
    it->wal_fd = path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
    if (it->wal_fd < 0) {
        snprintf(err, errlen, "cannot open the log %s: %s", path ? path : it->wal_dir,
                 strerror(errno));
        free(path);
        return MIDA_EIO;
    }
    struct stat sb;
    if (fstat(it->wal_fd, &sb) == 0) {
        pthread_mutex_lock(&it->mu);
        it->st.log_bytes = (uint64_t)sb.st_size;
        pthread_mutex_unlock(&it->mu);
    }
    free(path);
    return 0;
}

/* Appends one entry for a batch to `out` (written by the caller). */
static int s_wal_entry(mida_buf_t *out, const uint8_t header[MIDA_WIRE_HEADER_SIZE],
                       const void *payload, size_t len)
{
    uint8_t head[WAL_ENTRY_HEAD];
    uLong crc = crc32(0L, header, MIDA_WIRE_HEADER_SIZE);
    crc = crc32(crc, (const Bytef *)(payload ? payload : ""), (uInt)len);
    mida__put_be32(head, (uint32_t)(MIDA_WIRE_HEADER_SIZE + len));
    mida__put_be32(head + 4, (uint32_t)crc);
    int rc = mida_buf_add(out, head, sizeof head);
    if (!rc)
        rc = mida_buf_add(out, header, MIDA_WIRE_HEADER_SIZE);
    if (!rc && len)
        rc = mida_buf_add(out, payload, len);
    return rc;
}

static int s_wal_write(mida_integrator_t *it, const mida_buf_t *buf)
{
    int rc = 0;
    bool torn = false;
    if (mida__file_append(it->wal_fd, buf->data, buf->len, !it->no_fsync, &torn)) {
        mida__log(it->ctx, MIDA_LOG_ERROR, MIDA_FROM_STORE, MIDA_EIO, NULL,
                  "cannot write the log in %s: %s; nothing of this group is acknowledged",
                  it->wal_dir, strerror(errno));
        if (torn)
            mida__log(it->ctx, MIDA_LOG_ERROR, MIDA_FROM_STORE, MIDA_EIO, NULL,
                      "the log may end in a partial entry (cut off at the next start)");
        rc = MIDA_EIO;
    }
    pthread_mutex_lock(&it->mu);
    if (!rc) {
        it->st.log_bytes += buf->len;
        it->st.fsyncs += !it->no_fsync;
    }
    pthread_mutex_unlock(&it->mu);
    return rc;
}

/* Applies one batch under the store lock; logs a failure (the batch
 * stays in the log and is tried again at the next start). */
static void s_apply(mida_integrator_t *it, const mida_wire_header_t *h, const mida_quads_t *q)
{
    mida_apply_stats_t as = {0};
    mida__store_lock(it->store);
    int rc = mida_linker_apply(it->store, q, &as);
    mida__store_unlock(it->store);
    if (rc) {
        char hex[33];
        s_hex(h->sender, hex);
        mida__log(it->ctx, MIDA_LOG_ERROR, MIDA_FROM_STORE, rc, NULL,
                  "batch %llu of %s not applied: %s", (unsigned long long)h->seq, hex,
                  mida_store_errmsg(it->store));
    }
    s_mark(s_sender(it, h->sender, true), h->seq);
    pthread_mutex_lock(&it->mu);
    it->st.applied++;
    it->st.quads_applied += mida_quads_count(q);
    it->st.log_batches++;
    it->st.senders = it->n_senders;
    pthread_mutex_unlock(&it->mu);
}

/* Replays one log file; cuts a torn tail. */
static int s_replay_file(mida_integrator_t *it, const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : MIDA_EIO;
    struct stat sb;
    if (fstat(fd, &sb)) {
        close(fd);
        return MIDA_EIO;
    }
    size_t size = (size_t)sb.st_size, off = 0, n = 0;
    uint8_t *data = size ? malloc(size) : NULL;
    size_t got = 0;
    while (data && got < size) {
        ssize_t r = pread(fd, data + got, size - got, (off_t)got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (size && (!data || got != size)) {
        free(data);
        close(fd);
        return MIDA_EIO;
    }
    char err[256];
    while (off + WAL_ENTRY_HEAD <= size) {
        uint32_t len = mida__get_be32(data + off), crc = mida__get_be32(data + off + 4);
        if (len < MIDA_WIRE_HEADER_SIZE || off + WAL_ENTRY_HEAD + len > size ||
            (uint32_t)crc32(0L, data + off + WAL_ENTRY_HEAD, len) != crc)
            break;
        const uint8_t *hdr = data + off + WAL_ENTRY_HEAD;
        mida_wire_header_t h;
        mida_quads_t *q = mida_quads_new();
        if (q && mida_wire_header_decode(hdr, MIDA_WIRE_HEADER_SIZE, &h, err, sizeof err) == 0 &&
            mida_wire_decode(it->ctx, &h, hdr + MIDA_WIRE_HEADER_SIZE, len - MIDA_WIRE_HEADER_SIZE,
                             SIZE_MAX, q, err, sizeof err) == 0) {
            if (!s_applied(s_sender(it, h.sender, false), h.seq))
                s_apply(it, &h, q);
            n++;
        } else {
            mida__log(it->ctx, MIDA_LOG_ERROR, MIDA_FROM_STORE, MIDA_EPARSE, NULL,
                      "%s: entry at byte %zu skipped: %s", path, off, err);
        }
        mida_quads_destroy(&q);
        off += WAL_ENTRY_HEAD + len;
    }
    int rc = 0;
    if (off < size) {
        mida__log(it->ctx, MIDA_LOG_WARN, MIDA_FROM_STORE, 0, NULL,
                  "%s: %zu bytes at the end are a torn entry (a crash while writing); cut off",
                  path, size - off);
        if (ftruncate(fd, (off_t)off) || fsync(fd))
            rc = MIDA_EIO;
    }
    free(data);
    close(fd);
    pthread_mutex_lock(&it->mu);
    it->st.replayed += n;
    pthread_mutex_unlock(&it->mu);
    if (n)
        mida__log(it->ctx, MIDA_LOG_INFO, MIDA_FROM_STORE, 0, NULL,
                  "replayed %zu batches from %s", n, path);
    return rc;
}

static int s_cmp_uint(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

/* The generations of the logs present, sorted; caller frees. */
static unsigned *s_wal_gens(const mida_integrator_t *it, size_t *n)
{
    *n = 0;
    DIR *d = opendir(it->wal_dir);
    if (!d)
        return NULL;
    unsigned *gens = NULL;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        unsigned g;
        char tail[8];
        if (sscanf(de->d_name, "wal-%8u.%7s", &g, tail) != 2 || strcmp(tail, "log"))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            unsigned *ng = realloc(gens, cap * sizeof *ng);
            if (!ng)
                break;
            gens = ng;
        }
        gens[(*n)++] = g;
    }
    closedir(d);
    if (gens)
        qsort(gens, *n, sizeof *gens, s_cmp_uint);
    return gens;
}

/* Starts a new log generation, snapshots, removes the older logs. */
static int s_snapshot(mida_integrator_t *it)
{
    char err[256];
    unsigned old = it->gen;
    it->gen++;
    int prev_fd = it->wal_fd;
    if (s_wal_open(it, err, sizeof err)) {
        it->gen = old;
        it->wal_fd = prev_fd;
        mida__log(it->ctx, MIDA_LOG_ERROR, MIDA_FROM_STORE, MIDA_EIO, NULL, "%s", err);
        return MIDA_EIO;
    }
    close(prev_fd);
    mida__file_fsync_dir(it->wal_dir);
    double t0 = mida__mono_now();
    char genbuf[16];
    snprintf(genbuf, sizeof genbuf, "%u", it->gen);
    char *senders = s_senders_json(it);
    mida__store_lock(it->store);
    mida_store_meta_set(it->store, "wal_generation", genbuf);
    if (senders)
        mida_store_meta_set(it->store, "senders", senders);
    int rc = mida_store_snapshot(it->store);
    long triples = mida_store_size(it->store);
    mida__store_unlock(it->store);
    free(senders);
    if (rc) {
        mida__log(it->ctx, MIDA_LOG_ERROR, MIDA_FROM_STORE, rc, NULL,
                  "snapshot failed, the logs are kept: %s", mida_store_errmsg(it->store));
        return rc;
    }
    size_t n;
    unsigned *gens = s_wal_gens(it, &n);
    for (size_t i = 0; i < n; i++) {
        if (gens[i] >= it->gen)
            continue;
        char *p = s_wal_path(it, gens[i]);
        if (p)
            unlink(p);
        free(p);
    }
    free(gens);
    mida__file_fsync_dir(it->wal_dir);
    pthread_mutex_lock(&it->mu);
    it->st.snapshots++;
    it->st.log_batches = 0;
    it->st.store_triples = triples;
    pthread_mutex_unlock(&it->mu);
    it->log_started = 0;
    mida__log(it->ctx, MIDA_LOG_INFO, MIDA_FROM_STORE, 0, NULL,
              "snapshot of %ld triples in %.2f s; log generation %u", triples, mida__mono_now() - t0,
              it->gen);
    return 0;
}

/* ---- messages ----------------------------------------------------------- */

static void s_reply(mida_integrator_t *it, zmq_msg_t *route, uint8_t kind, const uint8_t *sender,
                    uint64_t seq, const char *text)
{
    size_t len = text ? strlen(text) : 0;
    mida_wire_header_t h;
    uint8_t frame[MIDA_WIRE_HEADER_SIZE];
    mida_wire_control(&h, kind, sender, seq, text, len);
    mida_wire_header_encode(&h, frame);
    zmq_msg_t r;
    zmq_msg_init(&r);
    zmq_msg_copy(&r, route);
    /* a peer that went away makes these fail: it will re-send */
    if (zmq_msg_send(&r, it->router, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0) {
        zmq_msg_close(&r);
        return;
    }
    zmq_send(it->router, frame, sizeof frame, ZMQ_DONTWAIT | ZMQ_SNDMORE);
    zmq_send(it->router, text ? text : "", len, ZMQ_DONTWAIT);
}

static void s_refuse(mida_integrator_t *it, zmq_msg_t *route, const mida_wire_header_t *h,
                     const char *why)
{
    char hex[33] = "unknown";
    if (h)
        s_hex(h->sender, hex);
    mida__log(it->ctx, MIDA_LOG_WARN, MIDA_FROM_WIRE, MIDA_EPARSE, NULL,
              "refused a message from sender %s (batch %llu): %s", hex,
              h ? (unsigned long long)h->seq : 0ULL, why);
    pthread_mutex_lock(&it->mu);
    it->st.refused++;
    pthread_mutex_unlock(&it->mu);
    if (h)
        s_reply(it, route, MIDA_WIRE_FLAG_REFUSED, h->sender, h->seq, why);
}

static char *s_hello_json(mida_integrator_t *it)
{
    const char *base = mida_store_meta_get(it->store, "base");
    const char *aliases = mida_store_meta_get(it->store, "aliases");
    const char *promote = mida_store_meta_get(it->store, "promote");
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I}", "base", base ? base : MIDA_DEFAULT_BASE,
                          "aliases", aliases ? aliases : "", "promote", promote ? promote : "yes",
                          "version", MIDA_VERSION_STRING, "max_payload",
                          (json_int_t)it->max_payload);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

char *mida_integrator_stats_json(const mida_integrator_stats_t *s)
{
    json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f}",
                          "received", (json_int_t)s->received, "applied", (json_int_t)s->applied,
                          "duplicates", (json_int_t)s->duplicates, "refused",
                          (json_int_t)s->refused, "quads_applied", (json_int_t)s->quads_applied,
                          "replayed", (json_int_t)s->replayed, "log_bytes",
                          (json_int_t)s->log_bytes, "log_batches", (json_int_t)s->log_batches,
                          "fsyncs", (json_int_t)s->fsyncs, "snapshots", (json_int_t)s->snapshots,
                          "senders", (json_int_t)s->senders, "store_triples",
                          (json_int_t)s->store_triples, "lag_seconds", s->lag_seconds,
                          "uptime_seconds", s->uptime_seconds);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* Reads one message: [route][header][payload].  Returns the number of
 * frames after the route (2 for a well-formed message), or -1 if none. */
static int s_recv(mida_integrator_t *it, zmq_msg_t *route, zmq_msg_t *hdr, zmq_msg_t *payload)
{
    zmq_msg_init(route);
    zmq_msg_init(hdr);
    zmq_msg_init(payload);
    if (zmq_msg_recv(route, it->router, ZMQ_DONTWAIT) < 0)
        return -1;
    int n = 0;
    if (zmq_msg_more(route) && zmq_msg_recv(hdr, it->router, 0) >= 0) {
        n = 1;
        if (zmq_msg_more(hdr) && zmq_msg_recv(payload, it->router, 0) >= 0)
            n = 2;
    }
    bool more = n == 2 ? zmq_msg_more(payload) : false;
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        more = zmq_msg_recv(&extra, it->router, 0) >= 0 && zmq_msg_more(&extra);
        zmq_msg_close(&extra);
        n = 3;
    }
    return n;
}

/* Takes the messages waiting (up to the group bounds), logs the batches
 * among them with one fdatasync, applies and acknowledges them. */
static void s_serve_group(mida_integrator_t *it)
{
    it_item_t *items = calloc(it->group_max, sizeof *items);
    if (!items)
        return;
    size_t n = 0;
    mida_buf_t wal;
    mida_buf_init(&wal, 0);
    char err[300];
    size_t group_quads = 0;
    while (n < it->group_max && wal.len < GROUP_MAX_BYTES && group_quads < GROUP_MAX_QUADS) {
        zmq_msg_t route, hdr, payload;
        int frames = s_recv(it, &route, &hdr, &payload);
        if (frames < 0) {
            zmq_msg_close(&route);
            zmq_msg_close(&hdr);
            zmq_msg_close(&payload);
            break;
        }
        mida_wire_header_t h;
        bool have_h = frames >= 1 && mida_wire_header_decode(zmq_msg_data(&hdr), zmq_msg_size(&hdr),
                                                             &h, err, sizeof err) == 0;
        if (frames < 1)
            snprintf(err, sizeof err, "a message with no frames after the routing id");
        unsigned kind = have_h ? (h.flags & MIDA_WIRE_KIND_MASK) : 0;
        if (!have_h) {
            s_refuse(it, &route, NULL, err);
        } else if (frames != 2) {
            s_refuse(it, &route, &h, frames == 1 ? "no payload frame" : "more than two frames");
        } else if (kind == MIDA_WIRE_FLAG_HELLO || kind == MIDA_WIRE_FLAG_STATUS) {
            char *text = NULL;
            if (kind == MIDA_WIRE_FLAG_HELLO) {
                text = s_hello_json(it);
            } else {
                mida_integrator_stats_t st;
                mida__store_lock(it->store);
                long triples = mida_store_size(it->store);
                mida__store_unlock(it->store);
                pthread_mutex_lock(&it->mu);
                it->st.store_triples = triples;
                pthread_mutex_unlock(&it->mu);
                mida_integrator_stats(it, &st);
                text = mida_integrator_stats_json(&st);
            }
            s_reply(it, &route, (uint8_t)kind, h.sender, 0, text ? text : "{}");
            free(text);
        } else if (kind) {
            s_refuse(it, &route, &h, "an ACK or REFUSED message sent to the integrator");
        } else {
            pthread_mutex_lock(&it->mu);
            it->st.received++;
            pthread_mutex_unlock(&it->mu);
            it_sender_t *known = s_sender(it, h.sender, false);
            if (!known && (known = s_sender(it, h.sender, true))) {
                known->last_seen = mida__wall_now();
                char hex[33];
                s_hex(h.sender, hex);
                mida__log(it->ctx, MIDA_LOG_INFO, MIDA_FROM_WIRE, 0, NULL,
                          "new sender %s: batch %llu, %u quads", hex, (unsigned long long)h.seq,
                          h.quad_count);
            }
            bool dup = s_applied(known, h.seq);
            for (size_t i = 0; !dup && i < n; i++)
                dup = !memcmp(items[i].h.sender, h.sender, 16) && items[i].h.seq == h.seq;
            if (dup) {
                pthread_mutex_lock(&it->mu);
                it->st.duplicates++;
                pthread_mutex_unlock(&it->mu);
                s_reply(it, &route, MIDA_WIRE_FLAG_ACK, h.sender, h.seq, NULL);
            } else {
                mida_quads_t *q = mida_quads_new();
                int rc = q ? mida_wire_decode(it->ctx, &h, zmq_msg_data(&payload),
                                              zmq_msg_size(&payload), it->max_payload, q, err,
                                              sizeof err)
                           : MIDA_ENOMEM;
                if (rc == MIDA_ENOMEM)
                    snprintf(err, sizeof err, "out of memory");
                if (!rc)
                    rc = s_wal_entry(&wal, zmq_msg_data(&hdr), zmq_msg_data(&payload),
                                     zmq_msg_size(&payload));
                if (rc) {
                    s_refuse(it, &route, &h, err);
                    mida_quads_destroy(&q);
                } else {
                    zmq_msg_init(&items[n].route);
                    zmq_msg_copy(&items[n].route, &route);
                    items[n].h = h;
                    items[n].quads = q;
                    group_quads += mida_quads_count(q);
                    n++;
                }
            }
        }
        zmq_msg_close(&route);
        zmq_msg_close(&hdr);
        zmq_msg_close(&payload);
    }
    if (n) {
        if (!it->log_started)
            it->log_started = mida__mono_now();
        /* in the log and synced: safe, so acknowledged before applying */
        bool logged = s_wal_write(it, &wal) == 0;
        for (size_t i = 0; logged && i < n; i++)
            s_reply(it, &items[i].route, MIDA_WIRE_FLAG_ACK, items[i].h.sender, items[i].h.seq,
                    NULL);
        for (size_t i = 0; i < n; i++) {
            if (logged)
                s_apply(it, &items[i].h, items[i].quads);
            mida_quads_destroy(&items[i].quads);
            zmq_msg_close(&items[i].route);
        }
    }
    mida_buf_free(&wal);
    free(items);
}

/* ZAP (ZeroMQ's authentication protocol): allow the listed client keys. */
static void s_serve_zap(mida_integrator_t *it)
{
    zmq_msg_t f[7];
    int n = 0;
    for (; n < 7; n++) {
        zmq_msg_init(&f[n]);
        if (zmq_msg_recv(&f[n], it->zap, n ? 0 : ZMQ_DONTWAIT) < 0)
            break;
        if (!zmq_msg_more(&f[n])) {
            n++;
            break;
        }
    }
    if (n == 0) {
        zmq_msg_close(&f[0]);
        return;
    }
    /* version, request id, domain, address, identity, mechanism, key */
    bool ok = false;
    char z85[41] = "";
    if (n == 7 && zmq_msg_size(&f[6]) == 32) {
        zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32);
        for (size_t i = 0; i < it->n_clients && !ok; i++)
            ok = !strcmp(it->clients[i], z85);
    }
    if (!ok)
        mida__log(it->ctx, MIDA_LOG_WARN, MIDA_FROM_WIRE, 0, NULL,
                  "refused a CURVE client whose key is not allowed (%s)", *z85 ? z85 : "no key");
    zmq_send(it->zap, "1.0", 3, ZMQ_SNDMORE);
    if (n >= 2)
        zmq_send(it->zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
    else
        zmq_send(it->zap, "", 0, ZMQ_SNDMORE);
    zmq_send(it->zap, ok ? "200" : "400", 3, ZMQ_SNDMORE);
    zmq_send(it->zap, ok ? "OK" : "key not allowed", ok ? 2 : 15, ZMQ_SNDMORE);
    zmq_send(it->zap, ok ? z85 : "", ok ? 40 : 0, ZMQ_SNDMORE);
    zmq_send(it->zap, "", 0, 0);
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

long long mida_integrator_log_pending(const mida_store_t *store)
{
    if (!store)
        return 0;
    const char *g = mida_store_meta_get(store, "wal_generation");
    unsigned from = g ? (unsigned)strtoul(g, NULL, 10) : 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/wal", mida_store_dir(store));
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    long long total = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        unsigned gen;
        char tail[8];
        struct stat sb;
        if (sscanf(de->d_name, "wal-%8u.%7s", &gen, tail) != 2 || strcmp(tail, "log") || gen < from)
            continue;
        if (fstatat(dirfd(d), de->d_name, &sb, 0) == 0)
            total += sb.st_size;
    }
    closedir(d);
    return total;
}

/* ---- life cycle --------------------------------------------------------- */

mida_integrator_t *mida_integrator_new(mida_ctx_t *ctx, mida_store_t *store,
                                       const mida_integrator_opts_t *opts, char *err,
                                       size_t errlen)
{
    mida_integrator_opts_t o = {0};
    if (opts)
        o = *opts;
    if (!ctx || !store || !mida_store_writable(store)) {
        snprintf(err, errlen, "the integrator needs a context and a store open for writing");
        return NULL;
    }
    if (!!o.curve_public_key != !!o.curve_secret_key || (o.curve_clients && !o.curve_secret_key)) {
        snprintf(err, errlen, "CURVE needs the server's public and secret keys");
        return NULL;
    }
    if (o.curve_secret_key && !zmq_has("curve")) {
        snprintf(err, errlen, "this libzmq has no CURVE support");
        return NULL;
    }
    mida_integrator_t *it = calloc(1, sizeof *it);
    if (!it) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    it->ctx = ctx;
    it->store = store;
    it->wal_fd = -1;
    it->wake_fd = -1;
    it->max_payload = o.max_payload ? o.max_payload : MIDA_WIRE_MAX_PAYLOAD_DEFAULT;
    it->group_max = o.group_max ? o.group_max : 256;
    it->snapshot_interval = o.snapshot_interval_s ? o.snapshot_interval_s : 300;
    it->snapshot_bytes = o.snapshot_log_bytes ? o.snapshot_log_bytes : (256u << 20);
    it->no_fsync = o.no_fsync;
    it->started = mida__mono_now();
    atomic_init(&it->stop, false);
    pthread_mutex_init(&it->mu, NULL);
    for (const char *const *c = o.curve_clients; c && *c; c++)
        it->n_clients++;
    it->clients = it->n_clients ? calloc(it->n_clients, sizeof *it->clients) : NULL;
    for (size_t i = 0; i < it->n_clients; i++)
        it->clients[i] = strdup(o.curve_clients[i]);

    int rc = 0;
    const char *dir = mida_store_dir(store);
    size_t wlen = strlen(dir) + 8;
    it->wal_dir = malloc(wlen);
    if (!it->wal_dir) {
        snprintf(err, errlen, "out of memory");
        rc = MIDA_ENOMEM;
    } else {
        snprintf(it->wal_dir, wlen, "%s/wal", dir);
        if (mkdir(it->wal_dir, 0755) && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s: %s", it->wal_dir, strerror(errno));
            rc = MIDA_EIO;
        }
    }
    /* the snapshot is loaded (by mida_store_open); replay the logs since */
    if (!rc) {
        const char *g = mida_store_meta_get(store, "wal_generation");
        unsigned from = g ? (unsigned)strtoul(g, NULL, 10) : 1;
        s_senders_load(it, mida_store_meta_get(store, "senders"));
        size_t n;
        unsigned *gens = s_wal_gens(it, &n);
        it->gen = from ? from : 1;
        double t0 = mida__mono_now();
        for (size_t i = 0; i < n && !rc; i++) {
            if (gens[i] < from)
                continue;
            char *p = s_wal_path(it, gens[i]);
            rc = p ? s_replay_file(it, p) : MIDA_ENOMEM;
            if (rc)
                snprintf(err, errlen, "cannot replay the log %s: %s", p ? p : "", strerror(errno));
            free(p);
            if (gens[i] > it->gen)
                it->gen = gens[i];
        }
        free(gens);
        if (!rc && it->st.replayed)
            mida__log(ctx, MIDA_LOG_INFO, MIDA_FROM_STORE, 0, NULL,
                      "replayed %llu batches in %.2f s", (unsigned long long)it->st.replayed,
                      mida__mono_now() - t0);
        if (!rc && it->st.replayed)
            it->log_started = mida__mono_now();
        it->st.log_batches = it->st.replayed;
    }
    if (!rc)
        rc = s_wal_open(it, err, errlen);
    it->st.store_triples = mida_store_size(store);
    it->st.senders = it->n_senders;

    /* the socket */
    if (!rc) {
        it->zctx = zmq_ctx_new();
        it->router = it->zctx ? zmq_socket(it->zctx, ZMQ_ROUTER) : NULL;
        int zero = 0, one = 1, hwm = 100000;
        bool ok = it->router && zmq_setsockopt(it->router, ZMQ_LINGER, &zero, sizeof zero) == 0 &&
                  zmq_setsockopt(it->router, ZMQ_RCVHWM, &hwm, sizeof hwm) == 0 &&
                  zmq_setsockopt(it->router, ZMQ_SNDHWM, &hwm, sizeof hwm) == 0;
        /* ZeroMQ drops the connection of a peer sending more than this;
         * between the two limits mida refuses with a reason */
        int64_t maxmsg = 2 * (int64_t)it->max_payload + 4096;
        ok = ok && zmq_setsockopt(it->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) == 0;
        if (ok && o.curve_secret_key) {
            if (it->n_clients) {
                it->zap = zmq_socket(it->zctx, ZMQ_REP);
                ok = it->zap && zmq_bind(it->zap, "inproc://zeromq.zap.01") == 0;
            }
            ok = ok && zmq_setsockopt(it->router, ZMQ_CURVE_SERVER, &one, sizeof one) == 0 &&
                 zmq_setsockopt(it->router, ZMQ_CURVE_SECRETKEY, o.curve_secret_key,
                                strlen(o.curve_secret_key)) == 0 &&
                 zmq_setsockopt(it->router, ZMQ_CURVE_PUBLICKEY, o.curve_public_key,
                                strlen(o.curve_public_key)) == 0;
        }
        if (!ok) {
            snprintf(err, errlen, "cannot set up the socket: %s", zmq_strerror(zmq_errno()));
            rc = MIDA_EIO;
        }
        const char *listen = o.listen ? o.listen : MIDA_DEFAULT_ENDPOINT;
        if (!rc && zmq_bind(it->router, listen)) {
            snprintf(err, errlen, "cannot listen on '%s': %s", listen, zmq_strerror(zmq_errno()));
            rc = MIDA_EIO;
        }
        char last[1024];
        size_t len = sizeof last;
        if (!rc && zmq_getsockopt(it->router, ZMQ_LAST_ENDPOINT, last, &len) == 0)
            it->endpoint = strdup(last);
        if (!rc && !it->endpoint) {
            snprintf(err, errlen, "out of memory");
            rc = MIDA_ENOMEM;
        }
    }
    if (!rc && (it->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        rc = MIDA_EIO;
    }
    if (rc) {
        mida_integrator_destroy(&it);
        return NULL;
    }
    return it;
}

const char *mida_integrator_endpoint(const mida_integrator_t *it)
{
    return it ? it->endpoint : NULL;
}

void mida_integrator_stop(mida_integrator_t *it)
{
    if (!it)
        return;
    atomic_store(&it->stop, true);
    uint64_t one = 1;
    ssize_t n = write(it->wake_fd, &one, sizeof one);
    (void)n;
}

void mida_integrator_stats(mida_integrator_t *it, mida_integrator_stats_t *out)
{
    if (!it || !out)
        return;
    pthread_mutex_lock(&it->mu);
    *out = it->st;
    pthread_mutex_unlock(&it->mu);
    double now = mida__mono_now();
    out->lag_seconds = it->log_started ? now - it->log_started : 0;
    out->uptime_seconds = now - it->started;
}

int mida_integrator_run(mida_integrator_t *it)
{
    if (!it)
        return MIDA_EINVAL;
    mida__log(it->ctx, MIDA_LOG_INFO, MIDA_FROM_WIRE, 0, NULL, "listening on %s",
              it->endpoint);
    double last_report = mida__mono_now();
    uint64_t reported = 0;
    while (!atomic_load(&it->stop)) {
        /* one line every 10 s while batches come in */
        if (mida__mono_now() - last_report >= 10.0) {
            mida_integrator_stats_t st;
            mida_integrator_stats(it, &st);
            if (st.applied != reported)
                mida__log(it->ctx, MIDA_LOG_INFO, MIDA_FROM_WIRE, 0, NULL,
                          "%llu batches applied (+%llu), %llu duplicates, %llu refused, "
                          "%llu quads; log %llu bytes",
                          (unsigned long long)st.applied, (unsigned long long)(st.applied - reported),
                          (unsigned long long)st.duplicates, (unsigned long long)st.refused,
                          (unsigned long long)st.quads_applied, (unsigned long long)st.log_bytes);
            reported = st.applied;
            last_report = mida__mono_now();
        }
        zmq_pollitem_t items[3] = {{it->router, 0, ZMQ_POLLIN, 0},
                                   {NULL, it->wake_fd, ZMQ_POLLIN, 0},
                                   {it->zap, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, it->zap ? 3 : 2, 1000);
        if (rc < 0 && zmq_errno() != EINTR) {
            mida__log(it->ctx, MIDA_LOG_ERROR, MIDA_FROM_WIRE, MIDA_EIO, NULL, "poll: %s",
                      zmq_strerror(zmq_errno()));
            break;
        }
        if (rc > 0 && (items[1].revents & ZMQ_POLLIN)) {
            uint64_t v;
            ssize_t n = read(it->wake_fd, &v, sizeof v);
            (void)n;
        }
        if (rc > 0 && it->zap && (items[2].revents & ZMQ_POLLIN))
            s_serve_zap(it);
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
            s_serve_group(it);
        /* periodic snapshot: the log is big or old */
        pthread_mutex_lock(&it->mu);
        uint64_t log_bytes = it->st.log_bytes, batches = it->st.log_batches;
        pthread_mutex_unlock(&it->mu);
        if (batches && (log_bytes >= it->snapshot_bytes ||
                        (it->log_started && mida__mono_now() - it->log_started >= it->snapshot_interval)))
            s_snapshot(it);
    }
    /* messages not yet taken are not acknowledged: their senders re-send */
    pthread_mutex_lock(&it->mu);
    uint64_t batches = it->st.log_batches;
    pthread_mutex_unlock(&it->mu);
    if (!batches)
        return 0;
    mida__log(it->ctx, MIDA_LOG_INFO, MIDA_FROM_WIRE, 0, NULL, "stopping; taking a snapshot");
    return s_snapshot(it);
}

void mida_integrator_destroy(mida_integrator_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mida_integrator_t *it = *self_p;
    *self_p = NULL;
    if (it->router)
        zmq_close(it->router);
    if (it->zap)
        zmq_close(it->zap);
    if (it->zctx)
        zmq_ctx_term(it->zctx);
    if (it->wal_fd >= 0)
        close(it->wal_fd);
    if (it->wake_fd >= 0)
        close(it->wake_fd);
    for (size_t i = 0; i < it->n_senders; i++)
        free(it->senders[i].above);
    free(it->senders);
    for (size_t i = 0; i < it->n_clients; i++)
        free(it->clients[i]);
    free(it->clients);
    free(it->wal_dir);
    free(it->endpoint);
    pthread_mutex_destroy(&it->mu);
    free(it);
}

/* ---- self-test ------------------------------------------------------------ */
#include "mida_selftest.h"

static void *s_test_run(void *arg)
{
    mida_integrator_run(arg);
    return NULL;
}

int mida_integrator_test(bool verbose);
int mida_integrator_test(bool verbose)
{
    int f = 0;
    /* the table of applied batches: gaps, out of order, contiguous again */
    it_sender_t s = {0};
    uint64_t order[] = {1, 2, 4, 6, 5, 2};
    for (size_t i = 0; i < MIDA_ARRAY_LEN(order); i++)
        s_mark(&s, order[i]);
    MIDA_CHECK(f, s.upto == 2 && s.n_above == 3);
    MIDA_CHECK(f, s_applied(&s, 1) && s_applied(&s, 5) && !s_applied(&s, 3) && !s_applied(&s, 7));
    s_mark(&s, 3);
    MIDA_CHECK(f, s.upto == 6 && s.n_above == 0);
    free(s.above);

    /* in one process: an integrator thread, an emitter, a restart */
    char dir[] = "/tmp/mida-integrator-test-XXXXXX";
    MIDA_CHECK(f, mkdtemp(dir) != NULL);
    char sdir[sizeof dir + 8], spool[sizeof dir + 8], ep[sizeof dir + 16];
    snprintf(sdir, sizeof sdir, "%s/s", dir);
    snprintf(spool, sizeof spool, "%s/q", dir);
    snprintf(ep, sizeof ep, "ipc://%s/sock", dir);
    mida_ctx_t *ctx = mida_ctx_new();
    char err[512];
    for (int round = 0; round < 2; round++) {
        mida_store_opts_t w = {MIDA_STORE_WRITE | MIDA_STORE_CREATE, NULL};
        mida_store_t *st = mida_store_open(ctx, sdir, &w, err, sizeof err);
        MIDA_CHECK(f, st != NULL);
        if (!st)
            break;
        mida_integrator_opts_t io = {.listen = ep};
        mida_integrator_t *it = mida_integrator_new(ctx, st, &io, err, sizeof err);
        MIDA_CHECK(f, it != NULL);
        if (!it) {
            fprintf(stderr, "integrator: %s\n", err);
            mida_store_close(&st);
            break;
        }
        MIDA_CHECK_STR(f, mida_integrator_endpoint(it), ep);
        pthread_t th;
        pthread_create(&th, NULL, s_test_run, it);
        mida_emitter_opts_t eo = {.endpoint = ep, .spool_dir = spool, .batch_records = 7};
        mida_emitter_t *em = mida_emitter_new(ctx, &eo, err, sizeof err);
        MIDA_CHECK(f, em != NULL);
        char rec[256];
        for (int i = 0; em && i < 50; i++) {
            snprintf(rec, sizeof rec,
                     "{\"task_id\":\"t%d\",\"workflow_id\":\"wf\",\"activity_id\":\"a\","
                     "\"status\":\"%s\",\"used\":{\"x\":%d}}",
                     i, round ? "FINISHED" : "RUNNING", i);
            MIDA_CHECK(f, mida_emitter_send(em, rec, 0) == 0);
        }
        if (em)
            MIDA_CHECK(f, mida_emitter_send(em, "{\"task_id\":1}", 0) == 0); /* not valid */
        MIDA_CHECK(f, em && mida_emitter_flush(em, 20000) == 0);
        mida_emitter_stats_t es = {0};
        mida_emitter_stats(em, &es);
        MIDA_CHECK(f, es.accepted == 51 && es.acked == 50 && es.invalid == 1 && es.pending == 0);
        MIDA_CHECK(f, es.connected);
        MIDA_CHECK(f, mida_emitter_close(&em, 1000) == 0);
        char *json = NULL;
        MIDA_CHECK(f, mida_emitter_query_status(ep, 5000, &json, err, sizeof err) == 0);
        json_t *o = json ? json_loads(json, 0, NULL) : NULL;
        MIDA_CHECK(f, json_integer_value(json_object_get(o, "applied")) == 8 &&
                          json_integer_value(json_object_get(o, "refused")) == 0);
        json_decref(o);
        free(json);
        mida_integrator_stop(it);
        pthread_join(th, NULL);
        mida_integrator_stats_t ist;
        mida_integrator_stats(it, &ist);
        MIDA_CHECK(f, ist.snapshots == 1 && ist.log_batches == 0);
        mida_integrator_destroy(&it);
        MIDA_CHECK(f, mida_integrator_log_pending(st) == 0);
        mida_term_t t = mida_term_iri("http://127.0.0.1:7878/task/wf/t49");
        mida_term_t p = mida_term_iri(MIDA_("status"));
        mida_term_t v = mida_term_iri(round ? MIDA_("Finished") : MIDA_("Running"));
        MIDA_CHECK(f, mida_store_contains(st, &t, &p, &v));
        mida_store_close(&st);
    }
    mida_ctx_destroy(&ctx);
    char cmd[sizeof dir + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    MIDA_CHECK(f, system(cmd) == 0);
    if (verbose)
        printf("integrator: %d failures\n", f);
    return f;
}
