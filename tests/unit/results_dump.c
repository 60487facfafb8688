/* results_dump.c - writes a fixed, awkward result set in one SPARQL format.
 *
 *   mida_results_dump FORMAT [rows|empty|ask-true|ask-false]
 *
 * FORMAT is json, xml, csv, tsv or table.  tests/python/test_results_formats.py
 * parses the output with rdflib's result parsers and checks that every value
 * comes back; the values below and the ones that script expects must change
 * together.
 */
#include "mida.h"

#include <stdlib.h>
#include <string.h>

#define XSD "http://www.w3.org/2001/XMLSchema#"

static mida_results_t *s_rows(void)
{
    static const char *const vars[] = {"s", "o", "x", "u"};
    mida_results_t *r = mida_results_new_bindings(4, vars);
    if (!r)
        return NULL;
    const mida_term_t none = {0};
    const mida_term_t rows[][4] = {
        {mida_term_iri("http://example.org/a"), mida_term_literal("plain", NULL, NULL),
         mida_term_literal("caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80", NULL, "fr"), none},
        {mida_term_blank("b1"),
         mida_term_literal("say \"hi\", then\r\n\tgo; a<b>&'c' ]]>", NULL, NULL),
         mida_term_literal("42", XSD "integer", NULL), none},
        {mida_term_iri("http://example.org/q?a=1,2&b='3'"),
         mida_term_literal("back\\slash \xC3\xA9", NULL, NULL),
         mida_term_literal("chat", NULL, "en-GB"), mida_term_iri("https://example.org/u")},
        {none, none, none, none},
        {mida_term_iri("https://example.org/c"), mida_term_literal("", NULL, NULL),
         mida_term_literal("true", XSD "boolean", NULL), mida_term_blank("n2")},
        {mida_term_iri("http://example.org/d"),
         mida_term_literal("ctl\x01\x1f and \x7f del", NULL, NULL),
         mida_term_literal("line1\nline2", "http://example.org/dt", NULL), none},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (mida_results_add_row(r, rows[i])) {
            mida_results_destroy(&r);
            return NULL;
        }
    return r;
}

int main(int argc, char **argv)
{
    mida_results_format_t format;
    if (argc < 2 || argc > 3 || mida_results_format_parse(argv[1], &format)) {
        fprintf(stderr, "usage: mida_results_dump json|xml|csv|tsv|table "
                        "[rows|empty|ask-true|ask-false]\n");
        return 2;
    }
    const char *what = argc > 2 ? argv[2] : "rows";
    mida_results_t *r = NULL;
    if (!strcmp(what, "rows")) {
        r = s_rows();
    } else if (!strcmp(what, "empty")) {
        static const char *const vars[] = {"s", "o"};
        r = mida_results_new_bindings(2, vars);
    } else if (!strcmp(what, "ask-true") || !strcmp(what, "ask-false")) {
        r = mida_results_new_boolean(!strcmp(what, "ask-true"));
    } else {
        fprintf(stderr, "mida_results_dump: unknown result set '%s'\n", what);
        return 2;
    }
    if (!r) {
        fprintf(stderr, "mida_results_dump: cannot build the result set\n");
        return 1;
    }
    int rc = mida_results_write(r, format, stdout);
    mida_results_destroy(&r);
    if (rc) {
        fprintf(stderr, "mida_results_dump: %s\n", mida_strerror(rc));
        return 1;
    }
    return 0;
}
