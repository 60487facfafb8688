/* mida_iri.c - minting IRIs and canonical data locations.
 * Owns: the IRI scheme of ARCHITECTURE 3.2, the data key of 3.4.
 * Must not: know about records or the store.
 */
#include "mida_internal.h"

#include <ctype.h>
#include <string.h>

static bool s_keep(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':' ||
           c == '@';
}

int mida_iri_encode(const char *id, mida_buf_t *out)
{
    if (!id || !out)
        return MIDA_EINVAL;
    bool dots = !strcmp(id, ".") || !strcmp(id, "..");
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)id; *p && !rc; p++) {
        if (s_keep(*p) && !(dots && *p == '.'))
            rc = mida_buf_addc(out, (char)*p);
        else
            rc = mida_buf_printf(out, "%%%02X", *p);
    }
    return rc;
}

int mida_iri_mint(mida_buf_t *out, const char *base, const char *kind, ...)
{
    if (!out || !base || !kind)
        return MIDA_EINVAL;
    mida_buf_reset(out);
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    int rc = mida_buf_add(out, base, blen);
    if (!rc)
        rc = mida_buf_printf(out, "/%s", kind);
    va_list ap;
    va_start(ap, kind);
    const char *id;
    while (!rc && (id = va_arg(ap, const char *))) {
        rc = mida_buf_addc(out, '/');
        if (!rc)
            rc = mida_iri_encode(id, out);
    }
    va_end(ap);
    return rc;
}

/* Length of "scheme" in "scheme:..." (RFC 3986), 0 if s has none. */
static size_t s_scheme_len(const char *s)
{
    if (!isalpha((unsigned char)s[0]))
        return 0;
    size_t i = 1;
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return s[i] == ':' ? i : 0;
}

bool mida_iri_is_location(const char *s)
{
    static const char *schemes[] = {"file", "http", "https", "s3", "gs", "globus"};
    if (!s || !*s || strlen(s) > 4096)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20)
            return false;
    if (s[0] == '/')
        return s[1] != '/';  /* "//x" is a network-path reference, not a path */
    size_t n = s_scheme_len(s);
    if (!n)
        return false;
    for (size_t i = 0; i < MIDA_ARRAY_LEN(schemes); i++)
        if (strlen(schemes[i]) == n && !strncasecmp(s, schemes[i], n))
            return s[n + 1] != '\0';
    return false;
}

/* Appends the path p normalised: no empty or "." segments, ".." removes
 * the previous segment (never above the root), no trailing slash. */
static int s_norm_path(const char *p, mida_buf_t *out)
{
    size_t start = out->len;
    int rc = 0;
    while (*p && !rc) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t n = (size_t)(e - p);
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* skip */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            while (out->len > start && out->data[out->len - 1] != '/')
                out->len--;
            if (out->len > start)
                out->len--;
            if (out->data)  /* nothing written yet: no buffer either */
                out->data[out->len] = '\0';
        } else {
            rc = mida_buf_addc(out, '/');
            if (!rc)
                rc = mida_buf_add(out, p, n);
        }
        p = e;
    }
    if (!rc && out->len == start)
        rc = mida_buf_addc(out, '/');
    return rc;
}

static int s_apply_alias(const mida_alias_t *aliases, size_t n, mida_buf_t *out)
{
    const mida_alias_t *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *from = aliases[i].from;
        if (!from || !aliases[i].to)
            continue;
        size_t fl = strlen(from);
        while (fl > 1 && from[fl - 1] == '/')
            fl--;
        if (fl > out->len || strncmp(out->data, from, fl))
            continue;
        if (out->data[fl] != '\0' && out->data[fl] != '/' && from[fl - 1] != '/')
            continue;
        if (fl > best_len) {
            best = &aliases[i];
            best_len = fl;
        }
    }
    if (!best)
        return 0;
    mida_buf_t tmp;
    mida_buf_init(&tmp, 0);
    const char *to = best->to;
    size_t tl = strlen(to);
    while (tl > 1 && to[tl - 1] == '/')
        tl--;
    int rc = mida_buf_add(&tmp, to, tl);
    if (!rc)
        rc = mida_buf_adds(&tmp, out->data + best_len);
    if (!rc) {
        mida_buf_reset(out);
        rc = mida_buf_add(out, tmp.data, tmp.len);
    }
    mida_buf_free(&tmp);
    return rc;
}

int mida_iri_canonical_location(const char *loc, const mida_alias_t *aliases, size_t n_aliases,
                                mida_buf_t *out)
{
    if (!loc || !*loc || !out)
        return MIDA_EINVAL;
    mida_buf_reset(out);
    int rc;
    size_t sl = s_scheme_len(loc);
    if (loc[0] == '/') {
        rc = s_norm_path(loc, out);
    } else if (sl == 4 && !strncasecmp(loc, "file", 4)) {
        /* file:///p, file://localhost/p and file:/p are the path p;
         * a file: URI naming another host stays a URI */
        const char *p = loc + 5;
        if (!strncmp(p, "//", 2)) {
            p += 2;
            const char *slash = strchr(p, '/');
            size_t hl = slash ? (size_t)(slash - p) : strlen(p);
            if (hl == 0 || (hl == 9 && !strncasecmp(p, "localhost", 9))) {
                rc = s_norm_path(p + hl, out);
            } else {
                rc = mida_buf_adds(out, "file://");
                for (size_t i = 0; i < hl && !rc; i++)
                    rc = mida_buf_addc(out, (char)tolower((unsigned char)p[i]));
                if (!rc && slash)
                    rc = s_norm_path(slash, out);
            }
        } else {
            rc = s_norm_path(p, out);
        }
    } else if (sl) {
        /* scheme and authority lower-cased, the rest kept as given */
        for (size_t i = 0; i < sl; i++)
            mida_buf_addc(out, (char)tolower((unsigned char)loc[i]));
        rc = mida_buf_addc(out, ':');
        const char *p = loc + sl + 1;
        if (!rc && !strncmp(p, "//", 2)) {
            rc = mida_buf_add(out, "//", 2);
            p += 2;
            while (!rc && *p && *p != '/' && *p != '?' && *p != '#')
                rc = mida_buf_addc(out, (char)tolower((unsigned char)*p++));
        }
        if (!rc)
            rc = mida_buf_adds(out, p);
    } else {
        rc = mida_buf_adds(out, loc);
    }
    if (!rc)
        rc = s_apply_alias(aliases, n_aliases, out);
    return rc;
}

int mida_iri_data_key(const char *ref, const char *digest, const mida_alias_t *aliases,
                      size_t n_aliases, mida_buf_t *out)
{
    if (!out || ((!ref || !*ref) && (!digest || !*digest)))
        return MIDA_EINVAL;
    mida_buf_reset(out);
    if (digest && *digest) {
        const char *colon = strchr(digest, ':');
        if (!colon || colon == digest || !colon[1])
            return MIDA_EINVAL;
        for (const char *p = digest; p < colon; p++)
            if (!isalnum((unsigned char)*p) && *p != '-')
                return MIDA_EINVAL;
        for (const char *p = colon + 1; *p; p++)
            if (!isxdigit((unsigned char)*p))
                return MIDA_EINVAL;
        int rc = mida_buf_adds(out, "urn:hash:");
        for (const char *p = digest; *p && !rc; p++)
            rc = mida_buf_addc(out, (char)tolower((unsigned char)*p));
        return rc;
    }
    if (mida_iri_is_location(ref))
        return mida_iri_canonical_location(ref, aliases, n_aliases, out);
    return mida_buf_adds(out, ref);
}

const mida_prefix_t *mida_iri_prefixes(void)
{
    static const mida_prefix_t prefixes[] = {
        {"prov", MIDA_NS_PROV}, {"provone", MIDA_NS_PROVONE}, {"mida", MIDA_NS_MIDA},
        {"xsd", MIDA_NS_XSD},   {"rdf", MIDA_NS_RDF},         {"rdfs", MIDA_NS_RDFS},
        {"owl", MIDA_NS_OWL},   {"dcterms", MIDA_NS_DCT},     {NULL, NULL}};
    return prefixes;
}

size_t mida_iri_split_aliases(char *text, mida_alias_t *out, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line && n < max;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = '\0';
            out[n].from = line;
            out[n].to = eq + 1;
            n++;
        }
    }
    return n;
}

/* ---- self-test ------------------------------------------------------- */
#include "mida_selftest.h"

int mida_iri_test(bool verbose);
int mida_iri_test(bool verbose)
{
    int f = 0;
    mida_buf_t b;
    mida_buf_init(&b, 0);
    mida_iri_mint(&b, "http://h:1/", "task", "wf 1", "('inc-1', 0)", NULL);
    MIDA_CHECK_STR(f, mida_buf_str(&b), "http://h:1/task/wf%201/%28%27inc-1%27%2C%200%29");
    mida_iri_mint(&b, "http://h", "data", "/a/b.h5", NULL);
    MIDA_CHECK_STR(f, mida_buf_str(&b), "http://h/data/%2Fa%2Fb.h5");
    mida_iri_mint(&b, "http://h", "x", "..", ".", "a.b", NULL);
    MIDA_CHECK_STR(f, mida_buf_str(&b), "http://h/x/%2E%2E/%2E/a.b");
    mida_iri_mint(&b, "http://h", "value", "w", "t", "used", "é", NULL);
    MIDA_CHECK_STR(f, mida_buf_str(&b), "http://h/value/w/t/used/%C3%A9");

    MIDA_CHECK(f, mida_iri_is_location("/data/x"));
    MIDA_CHECK(f, mida_iri_is_location("s3://bucket/k"));
    MIDA_CHECK(f, mida_iri_is_location("HTTPS://x"));
    MIDA_CHECK(f, !mida_iri_is_location("relative/x"));
    MIDA_CHECK(f, !mida_iri_is_location("//host/x"));
    MIDA_CHECK(f, !mida_iri_is_location("mailto:x"));
    MIDA_CHECK(f, !mida_iri_is_location("/a\nb"));
    MIDA_CHECK(f, !mida_iri_is_location("s3:"));

    static const mida_alias_t al[] = {{"/gpfs/alpine/proj", "/lustre/orion/proj"},
                                      {"/gpfs", "/other"}};
    struct {
        const char *in, *want;
    } cases[] = {{"/a//b/./c/../d/", "/a/b/d"},
                 {"/../x", "/x"},
                 {"file:..///lustre/x", "/lustre/x"},  /* ".." first, into an empty buffer */
                 {"/", "/"},
                 {"file:///data/x.h5", "/data/x.h5"},
                 {"file://localhost/data/x.h5", "/data/x.h5"},
                 {"file:/data/x.h5", "/data/x.h5"},
                 {"FILE://Host/x//y", "file://host/x/y"},
                 {"HTTPS://Example.ORG/A/B?q=1", "https://example.org/A/B?q=1"},
                 {"/gpfs/alpine/proj/run/img.h5", "/lustre/orion/proj/run/img.h5"},
                 {"/gpfs/alpine/project/x", "/other/alpine/project/x"},
                 {"/gpfs/alpine/proj", "/lustre/orion/proj"}};
    for (size_t i = 0; i < MIDA_ARRAY_LEN(cases); i++) {
        MIDA_CHECK(f, mida_iri_canonical_location(cases[i].in, al, 2, &b) == 0);
        MIDA_CHECK_STR(f, mida_buf_str(&b), cases[i].want);
    }
    MIDA_CHECK(f, mida_iri_data_key("/x", "SHA256:AB01", NULL, 0, &b) == 0);
    MIDA_CHECK_STR(f, mida_buf_str(&b), "urn:hash:sha256:ab01");
    MIDA_CHECK(f, mida_iri_data_key("/x", "sha256:zz", NULL, 0, &b) == MIDA_EINVAL);
    MIDA_CHECK(f, mida_iri_data_key("model-17", NULL, NULL, 0, &b) == 0);
    MIDA_CHECK_STR(f, mida_buf_str(&b), "model-17");
    mida_buf_free(&b);
    if (verbose)
        printf("iri: %d failures\n", f);
    return f;
}
