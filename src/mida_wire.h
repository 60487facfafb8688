/* mida_wire.h - the message format between emitters and the integrator
 * (ARCHITECTURE 4).
 *
 * A message is two ZeroMQ frames: a fixed 48-byte header and a payload of
 * N-Quads (UTF-8), optionally deflate-compressed.  All integers are
 * big-endian.
 *
 *   offset size field
 *   0      4    magic "MIDA"
 *   4      1    version (1)
 *   5      1    flags: bit 0 payload deflate-compressed (zlib format),
 *                      bit 1 ACK: batch `seq` is safely in the log
 *                      bit 2 HELLO: request (no payload) / answer (JSON:
 *                            the store's mapping settings)
 *                      bit 3 STATUS: request (no payload) / answer (JSON:
 *                            the integrator's counters)
 *                      bit 4 REFUSED: batch `seq` was refused; payload is
 *                            the reason (UTF-8 text)
 *                      at most one of bits 1-4; none = a batch
 *   6      2    header length (48)
 *   8      16   sender id (random per emitter, fixed for its life)
 *   24     8    sequence number (per sender, from 1, +1 per batch; 0 in
 *                HELLO and STATUS messages)
 *   32     4    quad count (0 in control messages)
 *   36     4    payload length in bytes, as sent
 *   40     4    CRC-32 (zlib's) of the payload as sent
 *   44     4    reserved, 0
 *
 * Decoding checks every field and the payload against the header; a
 * message that fails is refused with the reason, never half applied.
 */
#ifndef MIDA_WIRE_H
#define MIDA_WIRE_H

#define MIDA_WIRE_MAGIC "MIDA"
#define MIDA_WIRE_VERSION 1
#define MIDA_WIRE_HEADER_SIZE 48
#define MIDA_WIRE_FLAG_DEFLATE 0x01u
#define MIDA_WIRE_FLAG_ACK 0x02u
#define MIDA_WIRE_FLAG_HELLO 0x04u
#define MIDA_WIRE_FLAG_STATUS 0x08u
#define MIDA_WIRE_FLAG_REFUSED 0x10u
#define MIDA_WIRE_KIND_MASK 0x1eu
#define MIDA_WIRE_MAX_PAYLOAD_DEFAULT (64u << 20)

typedef struct mida_wire_header {
    uint8_t version;
    uint8_t flags;
    uint8_t sender[16];
    uint64_t seq;
    uint32_t quad_count;
    uint32_t payload_len;
    uint32_t crc;
} mida_wire_header_t;

/* Writes the 48 header bytes for `h` into out. */
MIDA_EXPORT void mida_wire_header_encode(const mida_wire_header_t *h,
                                         uint8_t out[MIDA_WIRE_HEADER_SIZE]);
/* Reads a header frame.  MIDA_EPARSE with the reason in err for a frame of
 * the wrong size, a bad magic or header length; MIDA_EUNSUPPORTED for
 * another version. */
MIDA_EXPORT int mida_wire_header_decode(const void *frame, size_t len, mida_wire_header_t *h,
                                        char *err, size_t errlen);

/* Fills `h` for a control message (ACK, HELLO, STATUS or REFUSED) whose
 * payload is `len` bytes of text (NULL/0 for none). */
MIDA_EXPORT void mida_wire_control(mida_wire_header_t *h, uint8_t kind, const uint8_t sender[16],
                                   uint64_t seq, const void *text, size_t len);
/* Checks a payload frame against its header: size limit (0 = default),
 * length and CRC.  MIDA_ETOOBIG or MIDA_EPARSE with the reason in err. */
MIDA_EXPORT int mida_wire_check(const mida_wire_header_t *h, const void *payload, size_t len,
                                size_t max_payload, char *err, size_t errlen);

/* Builds the payload frame for `quads` (N-Quads, deflated when `deflate`)
 * into `payload` and fills the header's count, length and checksum.
 * MIDA_ETOOBIG if it exceeds `max_payload` bytes (0 = the default). */
MIDA_EXPORT int mida_wire_encode(const mida_quads_t *quads, bool deflate, size_t max_payload,
                                 mida_wire_header_t *h, mida_buf_t *payload);
/* Checks a payload frame against its header (length, CRC, size limit),
 * inflates it if needed and parses the N-Quads into `quads`, whose count
 * must equal the header's.  MIDA_ETOOBIG, MIDA_EPARSE (with the reason in
 * err); on failure nothing is added to `quads`. */
MIDA_EXPORT int mida_wire_decode(mida_ctx_t *ctx, const mida_wire_header_t *h,
                                 const void *payload, size_t len, size_t max_payload,
                                 mida_quads_t *quads, char *err, size_t errlen);

#endif
