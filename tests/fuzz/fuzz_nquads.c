/* fuzz_nquads.c - libFuzzer target: any bytes as a wire payload.
 *
 * Reads the input with mida's N-Quads reader (what the integrator does with
 * every payload from the network).  When it is accepted, writes the quads
 * back as N-Quads and reads them again: the second reading must accept the
 * text and give the same quads (the writer and the reader agree).  Built
 * and run by tests/fuzz/run.sh.
 */
#include "mida.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mida_quads_t *a = mida_quads_new(), *b = mida_quads_new();
    char err[256];
    if (mida_quads_parse_nquads(a, (const char *)data, size, err, sizeof err) == 0) {
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        if (!mem || mida_quads_write_nquads(a, mem, true) != 0)
            abort();
        fclose(mem);
        if (mida_quads_parse_nquads(b, text, len, err, sizeof err) != 0) {
            fprintf(stderr, "written text not read back: %s\n%s", err, text);
            abort();
        }
        if (mida_quads_count(a) != mida_quads_count(b))
            abort();
        for (size_t i = 0; i < mida_quads_count(a); i++) {
            const mida_quad_t *x = mida_quads_get(a, i), *y = mida_quads_get(b, i);
            if (!mida_term_equal(&x->s, &y->s) || !mida_term_equal(&x->p, &y->p) ||
                !mida_term_equal(&x->o, &y->o) || (!x->graph != !y->graph) ||
                (x->graph && strcmp(x->graph, y->graph)))
                abort();
        }
        free(text);
    } else if (mida_quads_count(a) != 0) {
        abort(); /* a refused payload must leave nothing behind */
    }
    mida_quads_destroy(&a);
    mida_quads_destroy(&b);
    return 0;
}
