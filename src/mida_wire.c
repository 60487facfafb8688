/* mida_wire.c - encoding and checking the messages of ARCHITECTURE 4.
 * Owns: the header layout (mida_wire.h), payload checksums, compression,
 *       and the limits a receiver enforces.
 * Must not: touch sockets (the emitter and integrator do) or the store.
 */
#include "mida_internal.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void mida_wire_header_encode(const mida_wire_header_t *h, uint8_t out[MIDA_WIRE_HEADER_SIZE])
{
    memset(out, 0, MIDA_WIRE_HEADER_SIZE);
    memcpy(out, MIDA_WIRE_MAGIC, 4);
    out[4] = h->version ? h->version : MIDA_WIRE_VERSION;
    out[5] = h->flags;
    out[6] = 0;
    out[7] = MIDA_WIRE_HEADER_SIZE;
    memcpy(out + 8, h->sender, 16);
    mida__put_be32(out + 24, (uint32_t)(h->seq >> 32));
    mida__put_be32(out + 28, (uint32_t)h->seq);
    mida__put_be32(out + 32, h->quad_count);
    mida__put_be32(out + 36, h->payload_len);
    mida__put_be32(out + 40, h->crc);
}

static int s_err(char *err, size_t errlen, int rc, const char *fmt, ...) MIDA_PRINTF(4, 5);
static int s_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int mida_wire_header_decode(const void *frame, size_t len, mida_wire_header_t *h, char *err,
                            size_t errlen)
{
    const uint8_t *p = frame;
    if (!frame || !h)
        return MIDA_EINVAL;
    if (len != MIDA_WIRE_HEADER_SIZE)
        return s_err(err, errlen, MIDA_EPARSE, "header frame of %zu bytes (expected %d)", len,
                     MIDA_WIRE_HEADER_SIZE);
    if (memcmp(p, MIDA_WIRE_MAGIC, 4))
        return s_err(err, errlen, MIDA_EPARSE, "not a mida message (bad magic)");
    if (p[4] != MIDA_WIRE_VERSION)
        return s_err(err, errlen, MIDA_EUNSUPPORTED, "wire version %u (this mida speaks %d)",
                     p[4], MIDA_WIRE_VERSION);
    if (p[6] != 0 || p[7] != MIDA_WIRE_HEADER_SIZE)
        return s_err(err, errlen, MIDA_EPARSE, "header length %u (expected %d)",
                     (unsigned)(p[6] << 8 | p[7]), MIDA_WIRE_HEADER_SIZE);
    if (p[5] & ~(MIDA_WIRE_FLAG_DEFLATE | MIDA_WIRE_KIND_MASK))
        return s_err(err, errlen, MIDA_EPARSE, "unknown flags 0x%02x", p[5]);
    unsigned kind = p[5] & MIDA_WIRE_KIND_MASK;
    if (kind & (kind - 1))
        return s_err(err, errlen, MIDA_EPARSE, "flags 0x%02x name two message kinds", p[5]);
    h->version = p[4];
    h->flags = p[5];
    memcpy(h->sender, p + 8, 16);
    h->seq = (uint64_t)mida__get_be32(p + 24) << 32 | mida__get_be32(p + 28);
    h->quad_count = mida__get_be32(p + 32);
    h->payload_len = mida__get_be32(p + 36);
    h->crc = mida__get_be32(p + 40);
    if (h->seq == 0 && !(kind & (MIDA_WIRE_FLAG_HELLO | MIDA_WIRE_FLAG_STATUS)))
        return s_err(err, errlen, MIDA_EPARSE, "sequence number 0 (they start at 1)");
    return 0;
}

void mida_wire_control(mida_wire_header_t *h, uint8_t kind, const uint8_t sender[16],
                       uint64_t seq, const void *text, size_t len)
{
    memset(h, 0, sizeof *h);
    h->version = MIDA_WIRE_VERSION;
    h->flags = kind & MIDA_WIRE_KIND_MASK;
    if (sender)
        memcpy(h->sender, sender, 16);
    h->seq = seq;
    h->payload_len = (uint32_t)len;
    h->crc = (uint32_t)crc32(0L, (const Bytef *)(text ? text : ""), (uInt)len);
}

int mida_wire_check(const mida_wire_header_t *h, const void *payload, size_t len,
                    size_t max_payload, char *err, size_t errlen)
{
    if (!h || (!payload && len))
        return MIDA_EINVAL;
    if (!max_payload)
        max_payload = MIDA_WIRE_MAX_PAYLOAD_DEFAULT;
    if (len > max_payload)
        return s_err(err, errlen, MIDA_ETOOBIG, "payload of %zu bytes exceeds the limit of %zu",
                     len, max_payload);
    if (len != h->payload_len)
        return s_err(err, errlen, MIDA_EPARSE, "payload of %zu bytes, header says %u", len,
                     h->payload_len);
    uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)(payload ? payload : ""), (uInt)len);
    if (crc != h->crc)
        return s_err(err, errlen, MIDA_EPARSE, "payload checksum 0x%08x, header says 0x%08x", crc,
                     h->crc);
    return 0;
}

int mida_wire_encode(const mida_quads_t *quads, bool deflate, size_t max_payload,
                     mida_wire_header_t *h, mida_buf_t *payload)
{
    if (!quads || !h || !payload)
        return MIDA_EINVAL;
    if (!max_payload)
        max_payload = MIDA_WIRE_MAX_PAYLOAD_DEFAULT;
    char *text = NULL;
    size_t text_len = 0;
    FILE *mem = open_memstream(&text, &text_len);
    if (!mem)
        return MIDA_ENOMEM;
    int rc = mida_quads_write_nquads(quads, mem, true);
    if (fclose(mem) && !rc)
        rc = MIDA_ENOMEM;
    mida_buf_reset(payload);
    if (!rc && deflate) {
        uLongf n = compressBound((uLong)text_len);
        if (n > max_payload) {
            rc = MIDA_ETOOBIG;
        } else {
            char *out = malloc(n ? n : 1);
            if (!out || compress2((Bytef *)out, &n, (const Bytef *)text, (uLong)text_len, 1) != Z_OK)
                rc = MIDA_ENOMEM;
            else
                rc = mida_buf_add(payload, out, n);
            free(out);
        }
    } else if (!rc) {
        rc = text_len > max_payload ? MIDA_ETOOBIG : mida_buf_add(payload, text, text_len);
    }
    free(text);
    if (rc)
        return rc;
    if (payload->len > max_payload || payload->len > UINT32_MAX)
        return MIDA_ETOOBIG;
    h->version = MIDA_WIRE_VERSION;
    h->flags = (uint8_t)((h->flags & ~MIDA_WIRE_FLAG_DEFLATE) | (deflate ? MIDA_WIRE_FLAG_DEFLATE : 0));
    h->quad_count = (uint32_t)mida_quads_count(quads);
    h->payload_len = (uint32_t)payload->len;
    h->crc = (uint32_t)crc32(0L, (const Bytef *)mida_buf_str(payload), (uInt)payload->len);
    return 0;
}

/* Inflates src into out, refusing more than max bytes. */
static int s_inflate(const void *src, size_t len, size_t max, mida_buf_t *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        return MIDA_ENOMEM;
    z.next_in = (Bytef *)(uintptr_t)src;
    z.avail_in = (uInt)len;
    unsigned char chunk[65536];
    int zrc = Z_OK, rc = 0;
    while (zrc != Z_STREAM_END && !rc) {
        z.next_out = chunk;
        z.avail_out = sizeof chunk;
        zrc = inflate(&z, Z_NO_FLUSH);
        if (zrc != Z_OK && zrc != Z_STREAM_END) {
            rc = MIDA_EPARSE;
            break;
        }
        size_t got = sizeof chunk - z.avail_out;
        if (out->len + got > max)
            rc = MIDA_ETOOBIG;
        else
            rc = mida_buf_add(out, chunk, got);
        if (zrc == Z_OK && got == 0 && z.avail_in == 0)
            rc = MIDA_EPARSE; /* truncated stream */
    }
    inflateEnd(&z);
    return rc;
}

int mida_wire_decode(mida_ctx_t *ctx, const mida_wire_header_t *h, const void *payload,
                     size_t len, size_t max_payload, mida_quads_t *quads, char *err,
                     size_t errlen)
{
    if (!ctx || !h || (!payload && len) || !quads)
        return MIDA_EINVAL;
    if (!max_payload)
        max_payload = MIDA_WIRE_MAX_PAYLOAD_DEFAULT;
    int rc = mida_wire_check(h, payload, len, max_payload, err, errlen);
    if (rc)
        return rc;
    if (h->flags & MIDA_WIRE_KIND_MASK)
        return s_err(err, errlen, MIDA_EPARSE, "a control message (flags 0x%02x) where a batch was expected",
                     h->flags);
    mida_buf_t plain;
    mida_buf_init(&plain, max_payload);
    const char *text = payload;
    size_t text_len = len;
    if (h->flags & MIDA_WIRE_FLAG_DEFLATE) {
        rc = s_inflate(payload, len, max_payload, &plain);
        if (rc == MIDA_ETOOBIG)
            s_err(err, errlen, rc, "inflated payload exceeds the limit of %zu bytes", max_payload);
        else if (rc)
            s_err(err, errlen, rc, "payload is not valid deflate data");
        text = mida_buf_str(&plain);
        text_len = plain.len;
    }
    mida_quads_t *got = rc ? NULL : mida_quads_new();
    if (!rc && !got)
        rc = MIDA_ENOMEM;
    if (!rc && text_len) {
        /* mida's own reader: raptor's interns every IRI in its world, a
         * third of the integrator's time (bench/README.md) */
        char perr[256];
        rc = mida_quads_parse_nquads(got, text, text_len, perr, sizeof perr);
        if (rc == MIDA_EPARSE)
            rc = s_err(err, errlen, MIDA_EPARSE, "payload is not N-Quads: %s", perr);
    }
    if (!rc && mida_quads_count(got) != h->quad_count)
        rc = s_err(err, errlen, MIDA_EPARSE, "payload holds %zu quads, header says %u",
                   mida_quads_count(got), h->quad_count);
    if (!rc)
        rc = mida_quads_append(quads, got);
    mida_quads_destroy(&got);
    mida_buf_free(&plain);
    return rc;
}

/* ---- self-test ------------------------------------------------------------ */
#include "mida_selftest.h"

int mida_wire_test(bool verbose);
int mida_wire_test(bool verbose)
{
    int f = 0;
    mida_ctx_t *ctx = mida_ctx_new();
    mida_quads_t *q = mida_quads_new(), *back = mida_quads_new();
    mida_term_t s = mida_term_iri("http://x/s"), p = mida_term_iri("http://x/p");
    mida_term_t o1 = mida_term_literal("line\n\"two\" \xC3\xA9", NULL, NULL);
    mida_term_t o2 = mida_term_literal("0.5", XSD_("double"), NULL);
    mida_quads_add(q, &s, &p, &o1, "http://x/g");
    mida_quads_add(q, &s, &p, &o2, NULL);
    char err[256];
    for (int deflate = 0; deflate < 2; deflate++) {
        mida_wire_header_t h = {.seq = 42, .sender = {1, 2, 3}};
        mida_buf_t payload;
        mida_buf_init(&payload, 0);
        MIDA_CHECK(f, mida_wire_encode(q, deflate, 0, &h, &payload) == 0);
        uint8_t frame[MIDA_WIRE_HEADER_SIZE];
        mida_wire_header_encode(&h, frame);
        mida_wire_header_t d;
        MIDA_CHECK(f, mida_wire_header_decode(frame, sizeof frame, &d, err, sizeof err) == 0);
        MIDA_CHECK(f, d.seq == 42 && d.quad_count == 2 && d.sender[2] == 3);
        MIDA_CHECK(f, (d.flags & MIDA_WIRE_FLAG_DEFLATE) == (deflate ? MIDA_WIRE_FLAG_DEFLATE : 0));
        mida_quads_clear(back);
        MIDA_CHECK(f, mida_wire_decode(ctx, &d, payload.data, payload.len, 0, back, err, sizeof err) == 0);
        MIDA_CHECK(f, mida_quads_count(back) == 2);
        if (mida_quads_count(back) == 2) {
            MIDA_CHECK(f, mida_term_equal(&mida_quads_get(back, 0)->o, &o1));
            MIDA_CHECK_STR(f, mida_quads_get(back, 0)->graph, "http://x/g");
            MIDA_CHECK(f, mida_term_equal(&mida_quads_get(back, 1)->o, &o2));
            MIDA_CHECK(f, mida_quads_get(back, 1)->graph == NULL);
        }
        /* a flipped payload byte, a short payload, a wrong count, a limit */
        payload.data[payload.len / 2] ^= 0x20;
        mida_quads_clear(back);
        MIDA_CHECK(f, mida_wire_decode(ctx, &d, payload.data, payload.len, 0, back, err, sizeof err) == MIDA_EPARSE);
        MIDA_CHECK(f, strstr(err, "checksum") != NULL);
        MIDA_CHECK(f, mida_quads_count(back) == 0);
        payload.data[payload.len / 2] ^= 0x20;
        MIDA_CHECK(f, mida_wire_decode(ctx, &d, payload.data, payload.len - 1, 0, back, err, sizeof err) == MIDA_EPARSE);
        MIDA_CHECK(f, mida_wire_decode(ctx, &d, payload.data, payload.len, 8, back, err, sizeof err) == MIDA_ETOOBIG);
        mida_wire_header_t wrong = d;
        wrong.quad_count = 3;
        MIDA_CHECK(f, mida_wire_decode(ctx, &wrong, payload.data, payload.len, 0, back, err, sizeof err) == MIDA_EPARSE);
        MIDA_CHECK(f, strstr(err, "header says 3") != NULL);
        MIDA_CHECK(f, mida_quads_count(back) == 0);
        MIDA_CHECK(f, mida_wire_encode(q, deflate, 16, &h, &payload) == MIDA_ETOOBIG);
        mida_buf_free(&payload);
    }
    /* a payload that checks out but is not N-Quads */
    const char *junk = "<http://x/s> oops .\n";
    mida_wire_header_t jh = {.seq = 1, .quad_count = 1, .payload_len = (uint32_t)strlen(junk)};
    jh.crc = (uint32_t)crc32(0L, (const Bytef *)junk, (uInt)strlen(junk));
    MIDA_CHECK(f, mida_wire_decode(ctx, &jh, junk, strlen(junk), 0, back, err, sizeof err) == MIDA_EPARSE);
    MIDA_CHECK(f, strstr(err, "not N-Quads") != NULL);
    /* headers: size, magic, version, flags, sequence 0 */
    uint8_t frame[MIDA_WIRE_HEADER_SIZE];
    mida_wire_header_t h = {.seq = 7};
    mida_wire_header_encode(&h, frame);
    mida_wire_header_t d;
    MIDA_CHECK(f, mida_wire_header_decode(frame, 47, &d, err, sizeof err) == MIDA_EPARSE);
    frame[4] = 2;
    MIDA_CHECK(f, mida_wire_header_decode(frame, 48, &d, err, sizeof err) == MIDA_EUNSUPPORTED);
    frame[4] = 1;
    frame[5] = 0x80;
    MIDA_CHECK(f, mida_wire_header_decode(frame, 48, &d, err, sizeof err) == MIDA_EPARSE);
    frame[5] = 0;
    frame[0] = 'X';
    MIDA_CHECK(f, mida_wire_header_decode(frame, 48, &d, err, sizeof err) == MIDA_EPARSE);
    frame[0] = 'M';
    frame[31] = 0;
    MIDA_CHECK(f, mida_wire_header_decode(frame, 48, &d, err, sizeof err) == MIDA_EPARSE);
    /* control messages: seq 0 only for requests, one kind at a time */
    const char *reason = "not N-Quads";
    mida_wire_control(&h, MIDA_WIRE_FLAG_REFUSED, (const uint8_t *)"0123456789abcdef", 9, reason,
                      strlen(reason));
    mida_wire_header_encode(&h, frame);
    MIDA_CHECK(f, mida_wire_header_decode(frame, 48, &d, err, sizeof err) == 0);
    MIDA_CHECK(f, d.flags == MIDA_WIRE_FLAG_REFUSED && d.seq == 9 && d.sender[15] == 'f');
    MIDA_CHECK(f, mida_wire_check(&d, reason, strlen(reason), 0, err, sizeof err) == 0);
    MIDA_CHECK(f, mida_wire_check(&d, "not N-quads", strlen(reason), 0, err, sizeof err) == MIDA_EPARSE);
    MIDA_CHECK(f, mida_wire_decode(ctx, &d, reason, strlen(reason), 0, back, err, sizeof err) == MIDA_EPARSE);
    mida_wire_control(&h, MIDA_WIRE_FLAG_HELLO, NULL, 0, NULL, 0);
    mida_wire_header_encode(&h, frame);
    MIDA_CHECK(f, mida_wire_header_decode(frame, 48, &d, err, sizeof err) == 0);
    MIDA_CHECK(f, mida_wire_check(&d, NULL, 0, 0, err, sizeof err) == 0);
    frame[5] = MIDA_WIRE_FLAG_HELLO | MIDA_WIRE_FLAG_ACK;
    MIDA_CHECK(f, mida_wire_header_decode(frame, 48, &d, err, sizeof err) == MIDA_EPARSE);
    frame[5] = MIDA_WIRE_FLAG_ACK;
    MIDA_CHECK(f, mida_wire_header_decode(frame, 48, &d, err, sizeof err) == MIDA_EPARSE);
    /* inflating a bomb stops at the limit */
    mida_buf_t big;
    mida_buf_init(&big, 0);
    for (int i = 0; i < 100000; i++)
        mida_buf_adds(&big, "<http://x/s> <http://x/p> \"aaaaaaaaaaaaaaaa\" .\n");
    uLongf zn = compressBound((uLong)big.len);
    Bytef *z = malloc(zn);
    MIDA_CHECK(f, z && compress2(z, &zn, (const Bytef *)big.data, (uLong)big.len, 9) == Z_OK);
    mida_wire_header_t bh = {.seq = 1, .flags = MIDA_WIRE_FLAG_DEFLATE, .quad_count = 100000,
                             .payload_len = (uint32_t)zn};
    bh.crc = (uint32_t)crc32(0L, z, (uInt)zn);
    MIDA_CHECK(f, mida_wire_decode(ctx, &bh, z, zn, 1 << 20, back, err, sizeof err) == MIDA_ETOOBIG);
    free(z);
    mida_buf_free(&big);
    mida_quads_destroy(&q);
    mida_quads_destroy(&back);
    mida_ctx_destroy(&ctx);
    if (verbose)
        printf("wire: %d failures\n", f);
    return f;
}
