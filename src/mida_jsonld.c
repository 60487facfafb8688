/* mida_jsonld.c - mida's own JSON-LD 1.1 writer (raptor has none).
 * Owns: turning a quad batch into one compacted JSON-LD document, and the
 *       rules that keep that document expanding to exactly those quads.
 * Must not: parse RDF, touch the store, write anywhere but the FILE given.
 *
 * The document
 * ------------
 *
 *   {
 *     "@context": <the context value as given>,
 *     "@graph": [
 *       { "@id": S, "@type": T | [T...], KEY: VALUE | [VALUE...], ... },
 *       { "@id": G, KEY: ..., "@graph": [ node objects of graph G ] },
 *       ...
 *     ]
 *   }
 *
 * There is one node object per subject per graph.  A named graph G is the
 * node object {"@id": G, "@graph": [...]} in the top-level array; when G is
 * also a subject of the default graph its properties go into that same
 * object.  Everything is sorted so that the same quads always give the same
 * bytes: top-level objects and the node objects inside a graph by subject
 * (IRIs before blank nodes, then byte order); members "@id", "@type", then
 * the keys in byte order, then "@graph"; @type values in byte order; the
 * values of a key in mida_term_compare order.  Duplicate quads are written
 * once.  A key with one value has it bare, with several an array.
 *
 *   term                       written as
 *   IRI object                 {"@id": "full IRI"}
 *   blank node                 {"@id": "_:label"} (subjects: "@id": "_:label")
 *   "lex" (xsd:string)         "lex", or {"@value": "lex"} (rule 5)
 *   "lex"@tag                  {"@value": "lex", "@language": "tag"}
 *   "lex"^^dt                  {"@value": "lex", "@type": dt in vocab form}
 *   s rdf:type <T>             "@type": T in vocab form
 *
 * Lexical forms are kept exactly: no native JSON numbers or booleans, and
 * rdf:JSON literals stay typed strings (not "@type": "@json"), so that
 * toRdf gives back the very same literal.  "@id" values are always full
 * IRIs; keys, @type values and datatypes (the "vocab" positions) use the
 * shortest safe form, as below.
 *
 * Why the output expands to the input: the rules
 * ----------------------------------------------
 *
 * JSON-LD expands a string in a vocab position by first looking it up as a
 * term of the context and only then as prefix:suffix; an "@id" value skips
 * the term look-up but is still split at its first ':' and expanded when
 * the part before it is a term (unless the rest begins with "//").  A
 * context written for people (ontology/context.jsonld, an RO-Crate
 * context) may define terms that would capture the strings we write, so:
 *
 *  1. Prefixes.  A context entry is used as a prefix only when its name is
 *     not empty, not "_", has no ':' or '/' and does not start with '@', and
 *     its value is either a string that is an absolute IRI ending in '#' or
 *     '/' (JSON-LD 1.1 sets the prefix flag on exactly such simple terms),
 *     or an object with "@prefix": true and an absolute IRI "@id".  An IRI
 *     whose own scheme is a term is not trusted (it is itself a compact
 *     IRI that we would have to expand).  Other entries are never used:
 *     term definitions that coerce (@type, @container, @language...) are
 *     ignored for writing.
 *  2. Compact IRIs.  IRI = prefix IRI + local, written "prefix:local", when
 *     local is not empty and only [A-Za-z0-9_.-] (so it can never start
 *     with "//", hold a '#', '/', '%', ':' or '?', or look like anything but
 *     a plain name).  The longest prefix IRI wins, then the shorter name,
 *     then byte order.
 *  3. No term capture.  A string S is written in a vocab position only if S
 *     is not a term of the context, or is a term whose whole definition is
 *     the same IRI ("S": "IRI" or {"@id": "IRI"}, nothing else: no
 *     coercion, container, reverse, scoped context).  Otherwise the next
 *     candidate is tried (the other prefixes, then the full IRI).  So if the
 *     context defines "label", we never write the key "label"; and if it
 *     defines "prov:x" with "@container": "@list" we write the full IRI.
 *     An rdf:type object no form of which is usable goes under the rdf:type
 *     key as {"@id": ...} instead of "@type"; any other IRI with no usable
 *     form makes the call fail with MIDA_EUNSUPPORTED.
 *  4. No prefix capture of full IRIs.  A full IRI "s:rest" whose rest does
 *     not begin with "//" (urn:, mailto:, doi:, ex:...) is read as a
 *     compact IRI when "s" is a term.  Such terms are undefined again in one
 *     extra context object after the given one: "@context": [given,
 *     {"s": null}] (the only case where "@context" is not the value given).
 *     A protected term cannot be undefined: MIDA_EUNSUPPORTED.  IRIs
 *     without a scheme (relative) would resolve against the reader's base:
 *     MIDA_EUNSUPPORTED as well.
 *  5. Strings.  When the context sets a default "@language" or
 *     "@direction", a bare JSON string would gain it, so xsd:string literals
 *     are written {"@value": "lex"}.
 *
 * Remote contexts (a string in "@context", or "@import") cannot be seen
 * without fetching them, which a writer must not do: they are emitted as
 * given, their terms are unknown to rules 3 and 4, and rule 5 is applied as
 * if they set a default language.
 *
 * JSON text: '"' '\\' and every C0 control are escaped (\b \f \n \r \t,
 * other controls \u00XX); other bytes pass through.  Like the result
 * writers (mida_results.c) we always emit well-formed UTF-8: a byte that
 * does not start a well-formed sequence is written as U+FFFD.  The store
 * should never hold such bytes; this only keeps one bad literal from making
 * the whole document unreadable.
 */
#include "mida_internal.h"
#include "mida_selftest.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_RDF_TYPE RDF_("type")

/* ---- the context, as far as writing needs it ---------------------------- */

typedef struct {
    const char *name;       /* the term; owned by the parsed context */
    const char *value;      /* the IRI it is defined with, as written, or NULL */
    const char *iri;        /* `value` when it is a trusted absolute IRI, else NULL */
    size_t iri_len;
    bool defined_null;      /* "t": null or {"@id": null}: the term maps to nothing */
    bool simple;            /* defined by a bare string */
    bool plain;             /* the definition is only an IRI: no coercion etc. */
    bool prefix_flag;       /* "@prefix": true */
    bool prefix;            /* rule 1: usable as the prefix of compact IRIs */
    bool protect;           /* @protected: cannot be undefined again */
    bool shadow;            /* rule 4: undefined in the context object we add */
} s_term;

typedef struct {
    json_t *root;           /* the parsed document: owns every string below */
    json_t *context;        /* the "@context" value to write; NULL = none given */
    s_term *terms;          /* sorted by name once parsed */
    size_t nterms;
    size_t cap;
    s_term **prefixes;      /* the terms with .prefix, preferred first */
    size_t nprefixes;
    size_t nshadow;         /* terms with .shadow */
    bool default_language;  /* "@language" or "@direction" set */
    bool opaque;            /* a remote context or @import we cannot see */
} s_ctx;

static void s_ctx_free(s_ctx *c)
{
    free(c->terms);
    free(c->prefixes);
    json_decref(c->root);
    memset(c, 0, sizeof *c);
}

/* qsort, which must not be given a NULL array even when it is empty. */
static void s_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

static bool s_is_alpha(int ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

static bool s_is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

/* The length of the IRI's scheme (RFC 3987: ALPHA *(ALPHA / DIGIT / "+" /
 * "-" / ".") followed by ':'), 0 when it has none. */
static size_t s_scheme_len(const char *iri)
{
    if (!s_is_alpha((unsigned char)iri[0]))
        return 0;
    size_t i = 1;
    while (s_is_alpha((unsigned char)iri[i]) || s_is_digit((unsigned char)iri[i]) ||
           iri[i] == '+' || iri[i] == '-' || iri[i] == '.')
        i++;
    return iri[i] == ':' ? i : 0;
}

/* Orders `name` (n bytes, not terminated) against a NUL-terminated term. */
static int s_name_cmp(const char *name, size_t n, const char *term)
{
    int c = strncmp(name, term, n);
    if (c)
        return c;
    return term[n] ? -1 : 0;
}

static int s_term_sort_cmp(const void *a, const void *b)
{
    return strcmp(((const s_term *)a)->name, ((const s_term *)b)->name);
}

/* The term named by the first n bytes of `name`; NULL if none.  Only
 * valid once the terms are sorted. */
static s_term *s_term_find(const s_ctx *c, const char *name, size_t n)
{
    size_t lo = 0, hi = c->nterms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = s_name_cmp(name, n, c->terms[mid].name);
        if (!r)
            return &c->terms[mid];
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* The slot for `name` while the context is read (unsorted, so linear:
 * contexts hold tens of terms), emptied for a new definition. */
static int s_term_slot(s_ctx *c, const char *name, s_term **t_p)
{
    for (size_t i = 0; i < c->nterms; i++) {
        if (!strcmp(c->terms[i].name, name)) {
            *t_p = &c->terms[i];
            goto reset;
        }
    }
    if (c->nterms == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        s_term *t = realloc(c->terms, cap * sizeof *t);
        if (!t)
            return MIDA_ENOMEM;
        c->terms = t;
        c->cap = cap;
    }
    *t_p = &c->terms[c->nterms++];
reset:
    memset(*t_p, 0, sizeof **t_p);
    (*t_p)->name = name;
    return 0;
}

/* Records one term definition (JSON-LD 1.1 API, Create Term Definition, as
 * far as rules 1 and 3 need it). */
static int s_ctx_define(s_ctx *c, const char *name, json_t *def, bool protect)
{
    s_term *t;
    int rc = s_term_slot(c, name, &t);
    if (rc)
        return rc;
    t->protect = protect;
    if (json_is_null(def)) {
        t->defined_null = true;
        return 0;
    }
    if (json_is_string(def)) {
        t->value = json_string_value(def);
        t->simple = true;
        t->plain = true;
        return 0;
    }
    if (!json_is_object(def))
        return MIDA_EPARSE;
    t->plain = true;
    const char *key;
    json_t *v;
    json_object_foreach(def, key, v) {
        if (!strcmp(key, "@id")) {
            if (json_is_null(v))
                t->defined_null = true;
            else if (json_is_string(v))
                t->value = json_string_value(v);
            else
                return MIDA_EPARSE;
        } else if (!strcmp(key, "@prefix")) {
            t->prefix_flag = json_is_true(v);
        } else if (!strcmp(key, "@protected")) {
            t->protect = json_is_true(v);
        } else {
            t->plain = false;   /* @type, @container, @reverse, @context... */
        }
    }
    return 0;
}

static int s_ctx_add_object(s_ctx *c, json_t *obj)
{
    json_t *p = json_object_get(obj, "@protected");
    bool protect = json_is_true(p);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (key[0] == '@') {
            if (!strcmp(key, "@language") || !strcmp(key, "@direction"))
                c->default_language = !json_is_null(v);
            else if (!strcmp(key, "@import"))
                c->opaque = true;
            continue;   /* @version, @vocab, @base... do not touch what we write */
        }
        int rc = s_ctx_define(c, key, v, protect);
        if (rc)
            return rc;
    }
    return 0;
}

/* Processes one "@context" value: null resets, a string is a remote
 * context, an array is processed in order. */
static int s_ctx_add_value(s_ctx *c, json_t *v, bool in_array)
{
    if (json_is_null(v)) {
        c->nterms = 0;
        c->default_language = false;
        c->opaque = false;
        return 0;
    }
    if (json_is_string(v)) {
        c->opaque = true;
        return 0;
    }
    if (json_is_object(v))
        return s_ctx_add_object(c, v);
    if (json_is_array(v) && !in_array) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            int rc = s_ctx_add_value(c, e, true);
            if (rc)
                return rc;
        }
        return 0;
    }
    return MIDA_EPARSE;
}

/* Rule 1: decides which terms are trusted IRIs and which are prefixes. */
static void s_ctx_classify(s_ctx *c)
{
    s_sort(c->terms, c->nterms, sizeof *c->terms, s_term_sort_cmp);
    for (size_t i = 0; i < c->nterms; i++) {
        s_term *t = &c->terms[i];
        if (t->defined_null || !t->value)
            continue;
        size_t n = s_scheme_len(t->value);
        if (!n)
            continue;   /* relative, keyword or blank node: not an IRI we know */
        const s_term *via = s_term_find(c, t->value, n);
        bool slashes = t->value[n + 1] == '/' && t->value[n + 2] == '/';
        if (via && !via->defined_null && !slashes)
            continue;   /* itself a compact IRI */
        t->iri = t->value;
        t->iri_len = strlen(t->iri);
    }
    for (size_t i = 0; i < c->nterms; i++) {
        s_term *t = &c->terms[i];
        if (!t->iri || !t->name[0] || !strcmp(t->name, "_") || strpbrk(t->name, ":/"))
            continue;
        char last = t->iri[t->iri_len - 1];
        t->prefix = t->simple ? (last == '#' || last == '/') : t->prefix_flag;
    }
}

/* Parses `text` (a context document or a bare context). */
static int s_ctx_parse(s_ctx *c, const char *text)
{
    json_error_t err;
    c->root = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (!c->root)
        return MIDA_EPARSE;
    json_t *v = c->root;
    if (json_is_object(v) && json_object_get(v, "@context"))
        v = json_object_get(v, "@context");
    c->context = v;
    int rc = s_ctx_add_value(c, v, false);
    if (rc)
        return rc;
    s_ctx_classify(c);
    return 0;
}

/* Rule 4: would a reader take the full IRI for a compact IRI? */
static s_term *s_capturing_term(const s_ctx *c, const char *iri)
{
    size_t n = s_scheme_len(iri);
    assert(n);
    if (iri[n + 1] == '/' && iri[n + 2] == '/')
        return NULL;
    s_term *t = s_term_find(c, iri, n);
    return t && !t->defined_null && !t->shadow ? t : NULL;
}

/* Rule 4, before anything is written: every IRI must have a scheme, and a
 * term that would capture it is shadowed. */
static int s_ctx_check_iri(s_ctx *c, const char *iri)
{
    if (!s_scheme_len(iri))
        return MIDA_EUNSUPPORTED;
    s_term *t = s_capturing_term(c, iri);
    if (!t)
        return 0;
    if (t->protect)
        return MIDA_EUNSUPPORTED;
    t->shadow = true;
    c->nshadow++;
    return 0;
}

static int s_prefix_cmp(const void *a, const void *b)
{
    const s_term *x = *(const s_term *const *)a, *y = *(const s_term *const *)b;
    if (x->iri_len != y->iri_len)
        return x->iri_len > y->iri_len ? -1 : 1;
    size_t nx = strlen(x->name), ny = strlen(y->name);
    if (nx != ny)
        return nx < ny ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Rule 2's preference order, once the shadows are known. */
static int s_ctx_build_prefixes(s_ctx *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nterms; i++)
        n += c->terms[i].prefix && !c->terms[i].shadow;
    if (!n)
        return 0;
    c->prefixes = malloc(n * sizeof *c->prefixes);
    if (!c->prefixes)
        return MIDA_ENOMEM;
    for (size_t i = 0; i < c->nterms; i++)
        if (c->terms[i].prefix && !c->terms[i].shadow)
            c->prefixes[c->nprefixes++] = &c->terms[i];
    s_sort(c->prefixes, c->nprefixes, sizeof *c->prefixes, s_prefix_cmp);
    return 0;
}

/* Rule 3: does S, in a vocab position, expand to `iri`? */
static bool s_usable(const s_ctx *c, const char *s, const char *iri)
{
    const s_term *t = s_term_find(c, s, strlen(s));
    if (!t)
        return true;
    if (t->defined_null || t->shadow)
        return false;
    return t->plain && t->iri && !strcmp(t->iri, iri);
}

static bool s_local_ok(const char *local)
{
    if (!*local)
        return false;
    for (const char *p = local; *p; p++)
        if (!s_is_alpha((unsigned char)*p) && !s_is_digit((unsigned char)*p) && *p != '_' &&
            *p != '.' && *p != '-')
            return false;
    return true;
}

/* Resets `b` to the form of `iri` for a vocab position (key, @type value,
 * datatype): rules 2 and 3.  MIDA_EUNSUPPORTED when no form is safe. */
static int s_vocab_form(const s_ctx *c, const char *iri, mida_buf_t *b)
{
    int rc;
    for (size_t i = 0; i < c->nprefixes; i++) {
        const s_term *p = c->prefixes[i];
        if (strncmp(iri, p->iri, p->iri_len) || !s_local_ok(iri + p->iri_len))
            continue;
        mida_buf_reset(b);
        if ((rc = mida_buf_printf(b, "%s:%s", p->name, iri + p->iri_len)))
            return rc;
        if (s_usable(c, mida_buf_str(b), iri))
            return 0;
    }
    mida_buf_reset(b);
    if ((rc = mida_buf_adds(b, iri)))
        return rc;
    if (s_scheme_len(iri) && !s_capturing_term(c, iri) && s_usable(c, iri, iri))
        return 0;
    return MIDA_EUNSUPPORTED;
}

/* ---- JSON text ----------------------------------------------------------- */

typedef struct {
    FILE *f;
    bool failed;            /* a write failed; the rest is skipped */
} s_out;

static void s_put(s_out *o, const char *s, size_t n)
{
    if (!o->failed && n && fwrite(s, 1, n, o->f) != n)
        o->failed = true;
}

static void s_puts(s_out *o, const char *s)
{
    s_put(o, s, strlen(s));
}

static void s_indent(s_out *o, int level)
{
    static const char spaces[] = "                ";
    size_t n = (size_t)level * 2;
    while (n) {
        size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        s_put(o, spaces, k);
        n -= k;
    }
}

/* The length of the well-formed UTF-8 sequence at p (n bytes left), 0 if
 * there is none. */
static size_t s_utf8_len(const unsigned char *p, size_t n)
{
    size_t len;
    uint32_t cp;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = p[0] & 0x1F;
    } else if ((p[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = p[0] & 0x0F;
    } else if ((p[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* The body of a JSON string (no quotes): n bytes of s. */
static void s_escape(s_out *o, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n, *run = p;
    while (p < end) {
        const char *esc = NULL;
        char hex[8];
        size_t len = 1;
        switch (*p) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (*p < 0x20) {
                snprintf(hex, sizeof hex, "\\u%04x", *p);
                esc = hex;
            } else if (*p >= 0x80 && !(len = s_utf8_len(p, (size_t)(end - p)))) {
                esc = "\xEF\xBF\xBD";   /* U+FFFD */
                len = 1;
            }
        }
        if (esc) {
            s_put(o, (const char *)run, (size_t)(p - run));
            s_puts(o, esc);
            run = p + len;
        }
        p += len;
    }
    s_put(o, (const char *)run, (size_t)(p - run));
}

/* A JSON string: the concatenation of a and b (b may be NULL). */
static void s_string2(s_out *o, const char *a, const char *b)
{
    s_put(o, "\"", 1);
    s_escape(o, a, strlen(a));
    if (b)
        s_escape(o, b, strlen(b));
    s_put(o, "\"", 1);
}

static void s_string(s_out *o, const char *s)
{
    s_string2(o, s, NULL);
}

/* A JSON number for a real that reads back to the same double, as short as
 * possible ("@version": 1.1, not 1.1000000000000001). */
static void s_real(s_out *o, double d)
{
    char text[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(text, sizeof text, "%.*g", prec, d);
        if (strtod(text, NULL) == d)
            break;
    }
    for (char *p = text; *p; p++)
        if (*p == ',')
            *p = '.';   /* a locale with a decimal comma */
    s_puts(o, text);
    if (!strpbrk(text, ".eEn"))   /* keep it a real: 1.0, not 1 */
        s_puts(o, ".0");
}

/* The context value, laid out like the rest of the document. */
static void s_dump(s_out *o, json_t *v, int level)
{
    size_t i;
    const char *key;
    json_t *e;
    bool first = true;
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (!json_object_size(v)) {
            s_puts(o, "{}");
            break;
        }
        s_puts(o, "{");
        json_object_foreach(v, key, e) {
            s_puts(o, first ? "\n" : ",\n");
            first = false;
            s_indent(o, level + 1);
            s_string(o, key);
            s_puts(o, ": ");
            s_dump(o, e, level + 1);
        }
        s_puts(o, "\n");
        s_indent(o, level);
        s_puts(o, "}");
        break;
    case JSON_ARRAY:
        if (!json_array_size(v)) {
            s_puts(o, "[]");
            break;
        }
        s_puts(o, "[");
        json_array_foreach(v, i, e) {
            s_puts(o, i ? ",\n" : "\n");
            s_indent(o, level + 1);
            s_dump(o, e, level + 1);
        }
        s_puts(o, "\n");
        s_indent(o, level);
        s_puts(o, "]");
        break;
    case JSON_STRING:
        s_put(o, "\"", 1);
        s_escape(o, json_string_value(v), json_string_length(v));
        s_put(o, "\"", 1);
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s_puts(o, num);
        break;
    case JSON_REAL:
        s_real(o, json_real_value(v));
        break;
    case JSON_TRUE:
        s_puts(o, "true");
        break;
    case JSON_FALSE:
        s_puts(o, "false");
        break;
    case JSON_NULL:
        s_puts(o, "null");
        break;
    }
}

/* ---- the quads, sorted and grouped --------------------------------------- */

typedef struct {
    const char *name;       /* graph IRI */
    size_t first, last;     /* its quads: [first, last) */
} s_graph;

typedef struct {
    const s_ctx *ctx;
    s_out out;
    const mida_quad_t **q;  /* sorted by graph, s, p, o; no duplicates */
    size_t n;
    mida_buf_t form;        /* scratch for s_vocab_form */
    mida_buf_t names;       /* a node's keys and @type values, NUL-separated */
} s_writer;

static int s_strcmp0(const char *a, const char *b)
{
    if (!a || !b)
        return a ? 1 : b ? -1 : 0;   /* NULL (default graph) first */
    return strcmp(a, b);
}

static int s_quad_cmp(const void *a, const void *b)
{
    const mida_quad_t *x = *(const mida_quad_t *const *)a, *y = *(const mida_quad_t *const *)b;
    int c = s_strcmp0(x->graph, y->graph);
    if (!c)
        c = mida_term_compare(&x->s, &y->s);
    if (!c)
        c = strcmp(x->p.value, y->p.value);
    if (!c)
        c = mida_term_compare(&x->o, &y->o);
    return c;
}

static bool s_is_type(const mida_quad_t *q)
{
    return !strcmp(q->p.value, S_RDF_TYPE);
}

static bool s_is_string(const mida_term_t *t)
{
    return !t->datatype || !strcmp(t->datatype, XSD_("string"));
}

static bool s_has_lang(const mida_term_t *t)
{
    return t->lang && t->lang[0];
}

/* Does this rdf:type object go into "@type"? (Else under the rdf:type key.) */
static bool s_in_type(s_writer *w, const mida_quad_t *q)
{
    return q->o.kind == MIDA_TERM_IRI && !s_vocab_form(w->ctx, q->o.value, &w->form);
}

/* Everything that can make writing fail is checked here, before the first
 * byte is written: term kinds, rule 4's shadows, rule 3's forms. */
static int s_check(s_writer *w, s_ctx *c)
{
    int rc;
    for (size_t i = 0; i < w->n; i++) {
        const mida_quad_t *q = w->q[i];
        if ((q->s.kind != MIDA_TERM_IRI && q->s.kind != MIDA_TERM_BLANK) ||
            q->p.kind != MIDA_TERM_IRI || q->o.kind == MIDA_TERM_NONE || !q->s.value ||
            !q->p.value || !q->o.value)
            return MIDA_EINVAL;
        if ((q->s.kind == MIDA_TERM_IRI && (rc = s_ctx_check_iri(c, q->s.value))) ||
            (rc = s_ctx_check_iri(c, q->p.value)) ||
            (q->o.kind == MIDA_TERM_IRI && (rc = s_ctx_check_iri(c, q->o.value))) ||
            (q->o.kind == MIDA_TERM_LITERAL && !s_has_lang(&q->o) && !s_is_string(&q->o) &&
             (rc = s_ctx_check_iri(c, q->o.datatype))) ||
            (q->graph && (rc = s_ctx_check_iri(c, q->graph))))
            return rc;
    }
    if ((rc = s_ctx_build_prefixes(c)))
        return rc;
    for (size_t i = 0; i < w->n; i++) {
        const mida_quad_t *q = w->q[i];
        if (s_is_type(q) && s_in_type(w, q))
            continue;
        if ((rc = s_vocab_form(c, q->p.value, &w->form)))
            return rc;
        if (q->o.kind == MIDA_TERM_LITERAL && !s_has_lang(&q->o) && !s_is_string(&q->o) &&
            (rc = s_vocab_form(c, q->o.datatype, &w->form)))
            return rc;
    }
    return 0;
}

static void s_write_id(s_writer *w, const mida_term_t *t)
{
    if (t->kind == MIDA_TERM_BLANK)
        s_string2(&w->out, "_:", t->value);
    else
        s_string(&w->out, t->value);
}

static int s_write_value(s_writer *w, const mida_term_t *t)
{
    s_out *o = &w->out;
    if (t->kind != MIDA_TERM_LITERAL) {
        s_puts(o, "{\"@id\": ");
        s_write_id(w, t);
        s_puts(o, "}");
        return 0;
    }
    if (s_has_lang(t)) {
        s_puts(o, "{\"@value\": ");
        s_string(o, t->value);
        s_puts(o, ", \"@language\": ");
        s_string(o, t->lang);
        s_puts(o, "}");
    } else if (s_is_string(t)) {
        if (w->ctx->default_language || w->ctx->opaque) {
            s_puts(o, "{\"@value\": ");
            s_string(o, t->value);
            s_puts(o, "}");
        } else {
            s_string(o, t->value);
        }
    } else {
        int rc = s_vocab_form(w->ctx, t->datatype, &w->form);
        if (rc)
            return rc;
        s_puts(o, "{\"@value\": ");
        s_string(o, t->value);
        s_puts(o, ", \"@type\": ");
        s_string(o, mida_buf_str(&w->form));
        s_puts(o, "}");
    }
    return 0;
}

/* One key of a node object and the quads that give its values. */
typedef struct {
    size_t off;             /* where the key is in w->names while it grows */
    const char *key;        /* the key, once w->names is complete */
    size_t first, last;     /* the quads with this predicate */
} s_member;

static int s_member_cmp(const void *a, const void *b)
{
    return strcmp(((const s_member *)a)->key, ((const s_member *)b)->key);
}

static int s_ptr_strcmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int s_write_graph_array(s_writer *w, size_t first, size_t last, int level);

/* One node object: the subject's quads [first, last) of one graph (maybe
 * none), then, when `g` is given, that graph's node objects as "@graph".
 * Written from the opening brace to the closing one, at `level`.
 * w->names is shared with the nested calls that write "@graph": that is
 * safe only because "@graph" is the last member, written after every key
 * and @type value of this node. */
static int s_write_node(s_writer *w, const mida_term_t *subject, size_t first, size_t last,
                        const s_graph *g, int level)
{
    s_out *o = &w->out;
    int rc = 0;
    size_t ngroups = 0, ntypes = 0, cap = 0;
    s_member *members = NULL;
    size_t *type_off = NULL;
    const char **types = NULL;
    mida_buf_reset(&w->names);

    /* Collect the keys and @type values; offsets, because `names` grows. */
    for (size_t i = first; i < last;) {
        size_t j = i;
        while (j < last && !strcmp(w->q[j]->p.value, w->q[i]->p.value))
            j++;
        size_t rest = j - i;
        if (s_is_type(w->q[i])) {
            for (size_t k = i; k < j; k++) {
                if (!s_in_type(w, w->q[k]))
                    continue;
                rest--;
                size_t *t = realloc(type_off, (ntypes + 1) * sizeof *t);
                if (!t) {
                    rc = MIDA_ENOMEM;
                    goto done;
                }
                type_off = t;
                type_off[ntypes++] = w->names.len;
                if ((rc = mida_buf_add(&w->names, mida_buf_str(&w->form), w->form.len + 1)))
                    goto done;
            }
        }
        if (rest) {
            if (ngroups == cap) {
                cap = cap ? cap * 2 : 8;
                s_member *m = realloc(members, cap * sizeof *m);
                if (!m) {
                    rc = MIDA_ENOMEM;
                    goto done;
                }
                members = m;
            }
            if ((rc = s_vocab_form(w->ctx, w->q[i]->p.value, &w->form)))
                goto done;
            members[ngroups++] = (s_member){w->names.len, NULL, i, j};
            if ((rc = mida_buf_add(&w->names, mida_buf_str(&w->form), w->form.len + 1)))
                goto done;
        }
        i = j;
    }
    for (size_t m = 0; m < ngroups; m++)
        members[m].key = w->names.data + members[m].off;
    s_sort(members, ngroups, sizeof *members, s_member_cmp);
    if (ntypes) {
        types = malloc(ntypes * sizeof *types);
        if (!types) {
            rc = MIDA_ENOMEM;
            goto done;
        }
        for (size_t t = 0; t < ntypes; t++)
            types[t] = w->names.data + type_off[t];
        s_sort(types, ntypes, sizeof *types, s_ptr_strcmp);
    }

    s_puts(o, "{\n");
    s_indent(o, level + 1);
    s_puts(o, "\"@id\": ");
    s_write_id(w, subject);
    if (ntypes) {
        s_puts(o, ",\n");
        s_indent(o, level + 1);
        s_puts(o, "\"@type\": ");
        if (ntypes > 1)
            s_puts(o, "[");
        for (size_t t = 0; t < ntypes; t++) {
            if (t)
                s_puts(o, ", ");
            s_string(o, types[t]);
        }
        if (ntypes > 1)
            s_puts(o, "]");
    }
    for (size_t m = 0; m < ngroups; m++) {
        s_puts(o, ",\n");
        s_indent(o, level + 1);
        s_string(o, members[m].key);
        s_puts(o, ": ");
        size_t nvalues = 0;
        for (size_t k = members[m].first; k < members[m].last; k++) {
            const mida_quad_t *q = w->q[k];
            if (s_is_type(q) && s_in_type(w, q))
                continue;
            nvalues++;
        }
        bool many = nvalues > 1;
        if (many)
            s_puts(o, "[");
        nvalues = 0;
        for (size_t k = members[m].first; k < members[m].last; k++) {
            const mida_quad_t *q = w->q[k];
            if (s_is_type(q) && s_in_type(w, q))
                continue;
            if (many) {
                s_puts(o, nvalues++ ? ",\n" : "\n");
                s_indent(o, level + 2);
            }
            if ((rc = s_write_value(w, &q->o)))
                goto done;
        }
        if (many) {
            s_puts(o, "\n");
            s_indent(o, level + 1);
            s_puts(o, "]");
        }
    }
    if (g) {
        s_puts(o, ",\n");
        s_indent(o, level + 1);
        s_puts(o, "\"@graph\": ");
        if ((rc = s_write_graph_array(w, g->first, g->last, level + 1)))
            goto done;
    }
    s_puts(o, "\n");
    s_indent(o, level);
    s_puts(o, "}");
done:
    free(members);
    free(type_off);
    free(types);
    return rc;
}

/* The end of the subject run that starts at i, within [i, last). */
static size_t s_run_end(const s_writer *w, size_t i, size_t last)
{
    size_t j = i + 1;
    while (j < last && !mida_term_compare(&w->q[j]->s, &w->q[i]->s))
        j++;
    return j;
}

/* The node objects of one named graph, as a JSON array at `level`. */
static int s_write_graph_array(s_writer *w, size_t first, size_t last, int level)
{
    s_out *o = &w->out;
    s_puts(o, "[");
    for (size_t i = first; i < last;) {
        size_t j = s_run_end(w, i, last);
        s_puts(o, i > first ? ",\n" : "\n");
        s_indent(o, level + 1);
        int rc = s_write_node(w, &w->q[i]->s, i, j, NULL, level + 1);
        if (rc)
            return rc;
        i = j;
    }
    s_puts(o, "\n");
    s_indent(o, level);
    s_puts(o, "]");
    return 0;
}

/* The top-level "@graph": default-graph subjects and graph names merged in
 * subject order; a graph name that is also a subject is one object. */
static int s_write_top(s_writer *w)
{
    s_out *o = &w->out;
    size_t ndefault = 0, ngraphs = 0;
    while (ndefault < w->n && !w->q[ndefault]->graph)
        ndefault++;
    s_graph *graphs = NULL;
    if (w->n > ndefault) {
        graphs = malloc((w->n - ndefault) * sizeof *graphs);
        if (!graphs)
            return MIDA_ENOMEM;
    }
    for (size_t i = ndefault; i < w->n;) {
        size_t j = i + 1;
        while (j < w->n && !strcmp(w->q[j]->graph, w->q[i]->graph))
            j++;
        graphs[ngraphs++] = (s_graph){w->q[i]->graph, i, j};
        i = j;
    }
    int rc = 0;
    if (!ndefault && !ngraphs) {
        s_puts(o, "[]");
        goto done;
    }
    s_puts(o, "[");
    size_t i = 0, k = 0;
    bool first = true;
    while (i < ndefault || k < ngraphs) {
        mida_term_t gname = mida_term_iri(k < ngraphs ? graphs[k].name : "");
        int c = i >= ndefault ? 1 : k >= ngraphs ? -1 : mida_term_compare(&w->q[i]->s, &gname);
        s_puts(o, first ? "\n" : ",\n");
        first = false;
        s_indent(o, 2);
        if (c <= 0) {
            size_t j = s_run_end(w, i, ndefault);
            rc = s_write_node(w, &w->q[i]->s, i, j, c == 0 ? &graphs[k] : NULL, 2);
            i = j;
            k += c == 0;
        } else {
            rc = s_write_node(w, &gname, 0, 0, &graphs[k], 2);
            k++;
        }
        if (rc)
            goto done;
    }
    s_puts(o, "\n");
    s_indent(o, 1);
    s_puts(o, "]");
done:
    free(graphs);
    return rc;
}

/* Writes the context member: as given, or with rule 4's shadows added. */
static int s_write_context(s_writer *w, const s_ctx *c)
{
    s_out *o = &w->out;
    if (!c->context) {
        s_puts(o, "{}");
        return 0;
    }
    if (!c->nshadow) {
        s_dump(o, c->context, 1);
        return 0;
    }
    json_t *arr = json_array(), *undo = json_object();
    int rc = arr && undo ? 0 : MIDA_ENOMEM;
    if (!rc && json_is_array(c->context))
        rc = json_array_extend(arr, c->context) ? MIDA_ENOMEM : 0;
    else if (!rc)
        rc = json_array_append(arr, c->context) ? MIDA_ENOMEM : 0;
    for (size_t i = 0; !rc && i < c->nterms; i++)
        if (c->terms[i].shadow && json_object_set_new(undo, c->terms[i].name, json_null()))
            rc = MIDA_ENOMEM;
    if (!rc && json_array_append(arr, undo))
        rc = MIDA_ENOMEM;
    if (!rc)
        s_dump(o, arr, 1);
    json_decref(undo);
    json_decref(arr);
    return rc;
}

int mida_jsonld_write(const mida_quads_t *quads, const char *context_json, FILE *out)
{
    if (!quads || !out)
        return MIDA_EINVAL;
    s_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    s_writer w;
    memset(&w, 0, sizeof w);
    w.ctx = &ctx;
    w.out.f = out;
    mida_buf_init(&w.form, 0);
    mida_buf_init(&w.names, 0);
    int rc = 0;
    if (context_json && (rc = s_ctx_parse(&ctx, context_json)))
        goto done;

    size_t n = mida_quads_count(quads);
    if (n) {
        w.q = malloc(n * sizeof *w.q);
        if (!w.q) {
            rc = MIDA_ENOMEM;
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++)
        w.q[i] = mida_quads_get(quads, i);
    /* Check the terms before sorting: the comparison needs their strings. */
    for (size_t i = 0; i < n; i++)
        if (!w.q[i]->s.value || !w.q[i]->p.value || !w.q[i]->o.value) {
            rc = MIDA_EINVAL;
            goto done;
        }
    s_sort(w.q, n, sizeof *w.q, s_quad_cmp);
    for (size_t i = 0; i < n; i++)
        if (!w.n || s_quad_cmp(&w.q[w.n - 1], &w.q[i]))
            w.q[w.n++] = w.q[i];
    if ((rc = s_check(&w, &ctx)))
        goto done;

    s_puts(&w.out, "{\n");
    s_indent(&w.out, 1);
    s_puts(&w.out, "\"@context\": ");
    if ((rc = s_write_context(&w, &ctx)))
        goto done;
    s_puts(&w.out, ",\n");
    s_indent(&w.out, 1);
    s_puts(&w.out, "\"@graph\": ");
    if ((rc = s_write_top(&w)))
        goto done;
    s_puts(&w.out, "\n}\n");
    if (w.out.failed || fflush(out) || ferror(out))
        rc = MIDA_EIO;
done:
    free(w.q);
    mida_buf_free(&w.form);
    mida_buf_free(&w.names);
    s_ctx_free(&ctx);
    return rc;
}

/* ---- self-test ------------------------------------------------------------ */

/* Writes q with `context` to memory; returns the text (caller frees) and the
 * writer's code in *rc. */
static char *s_test_write(const mida_quads_t *q, const char *context, int *rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        *rc = MIDA_EIO;
        return NULL;
    }
    *rc = mida_jsonld_write(q, context, f);
    fclose(f);
    return text;
}

static int s_test_expect(const mida_quads_t *q, const char *context, const char *want,
                         bool verbose, int line)
{
    int failures = 0, rc = -1;
    char *got = s_test_write(q, context, &rc);
    if (verbose)
        printf("--- case at line %d\n%s", line, got ? got : "(null)\n");
    MIDA_CHECK(failures, rc == 0);
    MIDA_CHECK_STR(failures, got, want);
    if (failures)
        fprintf(stderr, "  (case at line %d, rc %s)\n", line, mida_err_name(rc));
    free(got);
    return failures;
}

#define EXPECT(q, context, want) s_test_expect((q), (context), (want), verbose, __LINE__)

static int s_test_rc(const mida_quads_t *q, const char *context, int want, int line)
{
    int failures = 0, rc = 0;
    char *got = s_test_write(q, context, &rc);
    MIDA_CHECK(failures, rc == want);
    if (failures)
        fprintf(stderr, "  (case at line %d: got %s, want %s)\n", line, mida_err_name(rc),
                mida_err_name(want));
    free(got);
    return failures;
}

#define EXPECT_RC(q, context, want) s_test_rc((q), (context), (want), __LINE__)

/* Adds <s> <p> o [g]; s and p are IRIs, or "_:x" for a blank subject. */
static void s_test_add(mida_quads_t *q, const char *s, const char *p, mida_term_t o,
                       const char *g)
{
    mida_term_t ts = strncmp(s, "_:", 2) ? mida_term_iri(s) : mida_term_blank(s + 2);
    mida_term_t tp = mida_term_iri(p);
    int rc = mida_quads_add(q, &ts, &tp, &o, g);
    assert(rc == 0);
    (void)rc;
}

#define EX "http://example.org/"
#define TEST_CONTEXT                                   \
    "{\"@context\": {\"ex\": \"http://example.org/\", " \
    "\"xsd\": \"http://www.w3.org/2001/XMLSchema#\", "  \
    "\"rdf\": \"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"}}"
#define TEST_CONTEXT_OUT                                      \
    "  \"@context\": {\n"                                     \
    "    \"ex\": \"http://example.org/\",\n"                  \
    "    \"xsd\": \"http://www.w3.org/2001/XMLSchema#\",\n"   \
    "    \"rdf\": \"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"\n" \
    "  },\n"

/* Called by tests/unit/selftest.c, which declares it from a generated table;
 * declared here too so that -Wmissing-prototypes stays quiet. */
int mida_jsonld_test(bool verbose);

int mida_jsonld_test(bool verbose)
{
    int failures = 0;
    mida_quads_t *q = mida_quads_new();
    MIDA_CHECK(failures, q);
    if (!q)
        return failures;

    /* -- the empty graph, with no context and with one -- */
    failures += EXPECT(q, NULL, "{\n  \"@context\": {},\n  \"@graph\": []\n}\n");
    failures += EXPECT(q, "{\"ex\": \"http://example.org/\", \"@version\": 1.1}",
                       "{\n  \"@context\": {\n    \"ex\": \"http://example.org/\",\n"
                       "    \"@version\": 1.1\n  },\n  \"@graph\": []\n}\n");

    /* -- literals, blank nodes, rdf:type, duplicates, escaping -- */
    s_test_add(q, EX "s", RDF_("type"), mida_term_iri(EX "T2"), NULL);
    s_test_add(q, EX "s", RDF_("type"), mida_term_iri(EX "T1"), NULL);
    s_test_add(q, EX "s", RDF_("type"), mida_term_iri(EX "T1"), NULL);
    s_test_add(q, EX "s", EX "int", mida_term_literal("042", XSD_("integer"), NULL), NULL);
    s_test_add(q, EX "s", EX "json", mida_term_literal("{\"a\": [1, true]}", RDF_("JSON"), NULL),
               NULL);
    s_test_add(q, EX "s", EX "name", mida_term_literal("caf\xC3\xA9", NULL, "fr"), NULL);
    s_test_add(q, EX "s", EX "name", mida_term_literal("say \"hi\"\n\t\\\x01\x7f", NULL, NULL),
               NULL);
    s_test_add(q, EX "s", EX "name", mida_term_literal("typed", XSD_("string"), NULL), NULL);
    s_test_add(q, EX "s", EX "ref", mida_term_blank("b1"), NULL);
    s_test_add(q, EX "s", EX "ref", mida_term_iri(EX "o"), NULL);
    s_test_add(q, "_:b1", EX "when",
               mida_term_literal("2024-01-02T03:04:05Z", XSD_("dateTime"), NULL), NULL);
    s_test_add(q, "_:b1", RDF_("type"), mida_term_blank("b2"), NULL);
    failures += EXPECT(q, TEST_CONTEXT,
        "{\n"
        TEST_CONTEXT_OUT
        "  \"@graph\": [\n"
        "    {\n"
        "      \"@id\": \"http://example.org/s\",\n"
        "      \"@type\": [\"ex:T1\", \"ex:T2\"],\n"
        "      \"ex:int\": {\"@value\": \"042\", \"@type\": \"xsd:integer\"},\n"
        "      \"ex:json\": {\"@value\": \"{\\\"a\\\": [1, true]}\", \"@type\": \"rdf:JSON\"},\n"
        "      \"ex:name\": [\n"
        "        {\"@value\": \"caf\xC3\xA9\", \"@language\": \"fr\"},\n"
        "        \"say \\\"hi\\\"\\n\\t\\\\\\u0001\x7f\",\n"
        "        \"typed\"\n"
        "      ],\n"
        "      \"ex:ref\": [\n"
        "        {\"@id\": \"http://example.org/o\"},\n"
        "        {\"@id\": \"_:b1\"}\n"
        "      ]\n"
        "    },\n"
        "    {\n"
        "      \"@id\": \"_:b1\",\n"
        "      \"ex:when\": {\"@value\": \"2024-01-02T03:04:05Z\", \"@type\": \"xsd:dateTime\"},\n"
        "      \"rdf:type\": {\"@id\": \"_:b2\"}\n"
        "    }\n"
        "  ]\n"
        "}\n");

    /* -- named graphs: one merged with a default-graph node, one alone -- */
    mida_quads_clear(q);
    s_test_add(q, EX "g1", EX "p", mida_term_literal("in default", NULL, NULL), NULL);
    s_test_add(q, EX "a", EX "p", mida_term_literal("in g1", NULL, NULL), EX "g1");
    s_test_add(q, EX "a", EX "p", mida_term_literal("in g0", NULL, NULL), EX "g0");
    s_test_add(q, "_:x", EX "p", mida_term_iri(EX "a"), EX "g0");
    s_test_add(q, EX "z", EX "p", mida_term_literal("last", NULL, NULL), NULL);
    failures += EXPECT(q, TEST_CONTEXT,
        "{\n"
        TEST_CONTEXT_OUT
        "  \"@graph\": [\n"
        "    {\n"
        "      \"@id\": \"http://example.org/g0\",\n"
        "      \"@graph\": [\n"
        "        {\n"
        "          \"@id\": \"http://example.org/a\",\n"
        "          \"ex:p\": \"in g0\"\n"
        "        },\n"
        "        {\n"
        "          \"@id\": \"_:x\",\n"
        "          \"ex:p\": {\"@id\": \"http://example.org/a\"}\n"
        "        }\n"
        "      ]\n"
        "    },\n"
        "    {\n"
        "      \"@id\": \"http://example.org/g1\",\n"
        "      \"ex:p\": \"in default\",\n"
        "      \"@graph\": [\n"
        "        {\n"
        "          \"@id\": \"http://example.org/a\",\n"
        "          \"ex:p\": \"in g1\"\n"
        "        }\n"
        "      ]\n"
        "    },\n"
        "    {\n"
        "      \"@id\": \"http://example.org/z\",\n"
        "      \"ex:p\": \"last\"\n"
        "    }\n"
        "  ]\n"
        "}\n");

    /* -- IRIs that must not be compacted; no context at all -- */
    mida_quads_clear(q);
    s_test_add(q, EX "s", EX "a%20b", mida_term_literal("1", NULL, NULL), NULL);
    s_test_add(q, EX "s", EX "a/b", mida_term_literal("2", NULL, NULL), NULL);
    s_test_add(q, EX "s", EX "a:b", mida_term_literal("3", NULL, NULL), NULL);
    s_test_add(q, EX "s", EX, mida_term_literal("4", NULL, NULL), NULL);
    s_test_add(q, EX "s", EX "a#b", mida_term_literal("5", NULL, NULL), NULL);
    s_test_add(q, EX "s", EX "ok_1.x-y", mida_term_literal("6", EX "dt?x", NULL), NULL);
    failures += EXPECT(q, TEST_CONTEXT,
        "{\n"
        TEST_CONTEXT_OUT
        "  \"@graph\": [\n"
        "    {\n"
        "      \"@id\": \"http://example.org/s\",\n"
        "      \"ex:ok_1.x-y\": {\"@value\": \"6\", \"@type\": \"http://example.org/dt?x\"},\n"
        "      \"http://example.org/\": \"4\",\n"
        "      \"http://example.org/a#b\": \"5\",\n"
        "      \"http://example.org/a%20b\": \"1\",\n"
        "      \"http://example.org/a/b\": \"2\",\n"
        "      \"http://example.org/a:b\": \"3\"\n"
        "    }\n"
        "  ]\n"
        "}\n");
    mida_quads_clear(q);
    s_test_add(q, EX "s", EX "p", mida_term_literal("1", XSD_("integer"), NULL), NULL);
    failures += EXPECT(q, NULL,
        "{\n"
        "  \"@context\": {},\n"
        "  \"@graph\": [\n"
        "    {\n"
        "      \"@id\": \"http://example.org/s\",\n"
        "      \"http://example.org/p\": {\"@value\": \"1\", \"@type\": "
        "\"http://www.w3.org/2001/XMLSchema#integer\"}\n"
        "    }\n"
        "  ]\n"
        "}\n");

    /* -- rule 3 and 5: terms that would capture what we write; the longer
     *    prefix wins; default language -- */
    mida_quads_clear(q);
    s_test_add(q, EX "s", EX "label", mida_term_literal("x", NULL, NULL), NULL);
    s_test_add(q, EX "s", EX "list", mida_term_literal("y", NULL, NULL), NULL);
    s_test_add(q, EX "s", EX "v/same", mida_term_literal("z", NULL, NULL), NULL);
    s_test_add(q, EX "s", RDF_("type"), mida_term_iri(EX "Thing"), NULL);
    const char *capture_ctx =
        "{\"ex\": \"http://example.org/\", \"exv\": \"http://example.org/v/\","
        " \"ex:list\": {\"@container\": \"@list\"},"
        " \"ex:label\": {\"@id\": \"http://example.org/label\", \"@type\": \"@id\"},"
        " \"exv:same\": \"http://example.org/v/same\","
        " \"ex:Thing\": {\"@id\": \"http://example.org/Thing\", \"@context\": {}},"
        " \"@language\": \"en\"}";
    const char *capture_out_ctx =
        "{\n"
        "  \"@context\": {\n"
        "    \"ex\": \"http://example.org/\",\n"
        "    \"exv\": \"http://example.org/v/\",\n"
        "    \"ex:list\": {\n"
        "      \"@container\": \"@list\"\n"
        "    },\n"
        "    \"ex:label\": {\n"
        "      \"@id\": \"http://example.org/label\",\n"
        "      \"@type\": \"@id\"\n"
        "    },\n"
        "    \"exv:same\": \"http://example.org/v/same\",\n"
        "    \"ex:Thing\": {\n"
        "      \"@id\": \"http://example.org/Thing\",\n"
        "      \"@context\": {}\n"
        "    },\n"
        "    \"@language\": \"en\"\n"
        "  },\n";
    mida_buf_t want;
    mida_buf_init(&want, 0);
    mida_buf_adds(&want, capture_out_ctx);
    mida_buf_adds(&want,
        "  \"@graph\": [\n"
        "    {\n"
        "      \"@id\": \"http://example.org/s\",\n"
        "      \"@type\": \"http://example.org/Thing\",\n"
        "      \"exv:same\": {\"@value\": \"z\"},\n"
        "      \"http://example.org/label\": {\"@value\": \"x\"},\n"
        "      \"http://example.org/list\": {\"@value\": \"y\"}\n"
        "    }\n"
        "  ]\n"
        "}\n");
    failures += EXPECT(q, capture_ctx, mida_buf_str(&want));

    /* -- a remote context we cannot see: strings as value objects -- */
    mida_quads_clear(q);
    s_test_add(q, EX "s", EX "p", mida_term_literal("v", NULL, NULL), NULL);
    failures += EXPECT(q, "[\"https://example.org/remote\", {\"ex\": \"http://example.org/\"}]",
        "{\n"
        "  \"@context\": [\n"
        "    \"https://example.org/remote\",\n"
        "    {\n"
        "      \"ex\": \"http://example.org/\"\n"
        "    }\n"
        "  ],\n"
        "  \"@graph\": [\n"
        "    {\n"
        "      \"@id\": \"http://example.org/s\",\n"
        "      \"ex:p\": {\"@value\": \"v\"}\n"
        "    }\n"
        "  ]\n"
        "}\n");

    /* -- rule 4: a full IRI whose scheme is a term -- */
    mida_quads_clear(q);
    s_test_add(q, "urn:x:1", EX "p", mida_term_iri("urn:x:2"), NULL);
    s_test_add(q, "urn:x:1", "urn:p", mida_term_literal("v", NULL, NULL), NULL);
    failures += EXPECT(q, "{\"urn\": \"http://bad.example/\", \"ex\": \"http://example.org/\"}",
        "{\n"
        "  \"@context\": [\n"
        "    {\n"
        "      \"urn\": \"http://bad.example/\",\n"
        "      \"ex\": \"http://example.org/\"\n"
        "    },\n"
        "    {\n"
        "      \"urn\": null\n"
        "    }\n"
        "  ],\n"
        "  \"@graph\": [\n"
        "    {\n"
        "      \"@id\": \"urn:x:1\",\n"
        "      \"ex:p\": {\"@id\": \"urn:x:2\"},\n"
        "      \"urn:p\": \"v\"\n"
        "    }\n"
        "  ]\n"
        "}\n");
    failures += EXPECT_RC(q, "{\"urn\": {\"@id\": \"http://bad.example/\", \"@protected\": true}}",
                          MIDA_EUNSUPPORTED);
    failures += EXPECT_RC(q, "{\"@protected\": true, \"urn\": \"http://bad.example/\"}",
                          MIDA_EUNSUPPORTED);
    /* "//" after the scheme is never read as a compact IRI */
    failures += EXPECT_RC(q, "{\"http\": \"http://bad.example/\"}", 0);

    /* -- errors -- */
    failures += EXPECT_RC(q, "{\"ex\": ", MIDA_EPARSE);
    failures += EXPECT_RC(q, "{\"ex\": 1, \"ex\": 2}", MIDA_EPARSE);
    failures += EXPECT_RC(q, "{\"ex\": 42}", MIDA_EPARSE);
    failures += EXPECT_RC(q, "[[{}]]", MIDA_EPARSE);
    MIDA_CHECK(failures, mida_jsonld_write(NULL, NULL, stdout) == MIDA_EINVAL);
    MIDA_CHECK(failures, mida_jsonld_write(q, NULL, NULL) == MIDA_EINVAL);
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        MIDA_CHECK(failures, mida_jsonld_write(q, TEST_CONTEXT, full) == MIDA_EIO);
        fclose(full);
    }
    mida_quads_clear(q);
    s_test_add(q, EX "s", "relative", mida_term_literal("v", NULL, NULL), NULL);
    failures += EXPECT_RC(q, NULL, MIDA_EUNSUPPORTED);
    mida_quads_clear(q);
    /* a term that captures the full IRI, with no prefix to get around it */
    s_test_add(q, EX "s", "http://other.example/p", mida_term_literal("v", NULL, NULL), NULL);
    failures += EXPECT_RC(
        q, "{\"http://other.example/p\": {\"@id\": \"http://other.example/p\", \"@container\": "
           "\"@list\"}}",
        MIDA_EUNSUPPORTED);

    /* -- bytes that are not UTF-8 become U+FFFD -- */
    mida_quads_clear(q);
    s_test_add(q, EX "s", EX "p", mida_term_literal("a\xFF" "b\xC3", NULL, NULL), NULL);
    failures += EXPECT(q, NULL,
        "{\n"
        "  \"@context\": {},\n"
        "  \"@graph\": [\n"
        "    {\n"
        "      \"@id\": \"http://example.org/s\",\n"
        "      \"http://example.org/p\": \"a\xEF\xBF\xBD" "b\xEF\xBF\xBD\"\n"
        "    }\n"
        "  ]\n"
        "}\n");

    mida_buf_free(&want);
    mida_quads_destroy(&q);
    return failures;
}
