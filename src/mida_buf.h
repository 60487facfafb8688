/* mida_buf.h - growable byte buffers with a hard maximum, and arenas.
 *
 * Every buffer in mida has a maximum size so that no input can make the
 * process grow without bound; adding past it fails with MIDA_ETOOBIG and
 * leaves the buffer as it was.  The contents are always NUL-terminated.
 */
#ifndef MIDA_BUF_H
#define MIDA_BUF_H

typedef struct mida_buf {
    char *data;     /* NUL-terminated contents; NULL until the first add */
    size_t len;     /* bytes used, not counting the terminator */
    size_t cap;     /* bytes allocated */
    size_t max;     /* largest len allowed */
} mida_buf_t;

#define MIDA_BUF_UNLIMITED ((size_t)-1 / 2)

MIDA_EXPORT void mida_buf_init(mida_buf_t *b, size_t max);
MIDA_EXPORT void mida_buf_free(mida_buf_t *b);
/* Empties the buffer and keeps its memory. */
MIDA_EXPORT void mida_buf_reset(mida_buf_t *b);
MIDA_EXPORT int mida_buf_add(mida_buf_t *b, const void *data, size_t len);
MIDA_EXPORT int mida_buf_adds(mida_buf_t *b, const char *s);
MIDA_EXPORT int mida_buf_addc(mida_buf_t *b, char c);
MIDA_EXPORT int mida_buf_printf(mida_buf_t *b, const char *fmt, ...) MIDA_PRINTF(2, 3);
MIDA_EXPORT int mida_buf_vprintf(mida_buf_t *b, const char *fmt, va_list ap);
/* The contents, "" when empty.  Owned by the buffer, valid until the next
 * add or free. */
MIDA_EXPORT const char *mida_buf_str(const mida_buf_t *b);
/* Takes the contents out: the caller owns the returned string (free()),
 * the buffer is left empty.  NULL if the buffer never held anything. */
MIDA_EXPORT char *mida_buf_detach(mida_buf_t *b);

/* An arena: many small strings freed together.  Used by quad batches and
 * result sets, which copy every term they hold. */
typedef struct mida_arena {
    struct mida_arena_chunk *head;
    size_t total;   /* bytes handed out */
} mida_arena_t;

MIDA_EXPORT void mida_arena_init(mida_arena_t *a);
MIDA_EXPORT void mida_arena_free(mida_arena_t *a);
/* A copy of s (n bytes, NUL added) owned by the arena; NULL on ENOMEM. */
MIDA_EXPORT char *mida_arena_strndup(mida_arena_t *a, const char *s, size_t n);
MIDA_EXPORT char *mida_arena_strdup(mida_arena_t *a, const char *s);

#endif
