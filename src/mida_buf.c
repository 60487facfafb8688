/* mida_buf.c - bounded growable buffers and string arenas.
 * Owns: memory growth policy for text built piece by piece.
 * Must not: know what the text means.
 */
#include "mida_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void mida_buf_init(mida_buf_t *b, size_t max)
{
    assert(b);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : MIDA_BUF_UNLIMITED;
}

void mida_buf_free(mida_buf_t *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void mida_buf_reset(mida_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Makes room for `extra` more bytes plus the terminator. */
static int s_grow(mida_buf_t *b, size_t extra)
{
    if (extra > b->max - b->len)
        return MIDA_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return MIDA_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int mida_buf_add(mida_buf_t *b, const void *data, size_t len)
{
    if (!b || (!data && len))
        return MIDA_EINVAL;
    int rc = s_grow(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int mida_buf_adds(mida_buf_t *b, const char *s)
{
    return mida_buf_add(b, s, s ? strlen(s) : 0);
}

int mida_buf_addc(mida_buf_t *b, char c)
{
    return mida_buf_add(b, &c, 1);
}

int mida_buf_vprintf(mida_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return MIDA_EINVAL;
    int rc = s_grow(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int mida_buf_printf(mida_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = mida_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *mida_buf_str(const mida_buf_t *b)
{
    return (b && b->data) ? b->data : "";
}

char *mida_buf_detach(mida_buf_t *b)
{
    char *p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

/* ---- text ----------------------------------------------------------- */

bool mida__utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p, n;
        uint32_t cp;
        if (c < 0x80) {
            if (!c)
                return false;
            p++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if ((size_t)(end - p) <= n)
            return false;
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

bool mida__media_is(const char *content_type, const char *media)
{
    if (!content_type || !media)
        return false;
    while (*content_type == ' ' || *content_type == '\t')
        content_type++;
    size_t n = strlen(media);
    if (strncasecmp(content_type, media, n))
        return false;
    char c = content_type[n];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

/* ---- arena ---------------------------------------------------------- */

#define ARENA_CHUNK 65536

struct mida_arena_chunk {
    struct mida_arena_chunk *next;
    size_t used;
    size_t size;
    char mem[];
};

void mida_arena_init(mida_arena_t *a)
{
    a->head = NULL;
    a->total = 0;
}

void mida_arena_free(mida_arena_t *a)
{
    struct mida_arena_chunk *c = a->head;
    while (c) {
        struct mida_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

char *mida_arena_strndup(mida_arena_t *a, const char *s, size_t n)
{
    struct mida_arena_chunk *c = a->head;
    if (!c || c->size - c->used < n + 1) {
        size_t size = n + 1 > ARENA_CHUNK / 4 ? n + 1 : ARENA_CHUNK;
        c = malloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->used = 0;
        c->size = size;
        /* A large string gets a chunk of its own, kept behind the current
         * one so that the current chunk's free space is not wasted. */
        if (size > ARENA_CHUNK && a->head) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    char *p = c->mem + c->used;
    memcpy(p, s, n);
    p[n] = '\0';
    c->used += n + 1;
    a->total += n + 1;
    return p;
}

char *mida_arena_strdup(mida_arena_t *a, const char *s)
{
    return s ? mida_arena_strndup(a, s, strlen(s)) : NULL;
}
