/* fuzz_record.c - libFuzzer target: any bytes as one task-record line.
 *
 * Parses the input as a record, maps it to quads with aliases on and off,
 * writes them as N-Quads, and checks the invariants a crash would break:
 * mapping is deterministic (the same record twice gives the same quads) and
 * no mapped IRI is empty.  Built and run by tests/fuzz/run.sh.
 */
#include "mida.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mida_task_t *t = NULL;
    char err[512];
    if (mida_task_parse((const char *)data, size, &t, err, sizeof err) != 0)
        return 0;
    static const mida_alias_t aliases[] = {{"/gpfs", "/lustre"}, {"s3://b", "/mnt/b"}};
    mida_map_opts_t opts[2] = {{.base = "http://f.example/m"},
                               {.base = "http://f.example/m/", .aliases = aliases,
                                .n_aliases = 2, .no_promote = true, .max_excerpt = 7}};
    for (int i = 0; i < 2; i++) {
        mida_quads_t *a = mida_quads_new(), *b = mida_quads_new();
        int ra = mida_prov_map(t, &opts[i], a, err, sizeof err);
        int rb = mida_prov_map(t, &opts[i], b, err, sizeof err);
        if (ra != rb || mida_quads_count(a) != mida_quads_count(b))
            abort();
        for (size_t k = 0; k < mida_quads_count(a); k++) {
            const mida_quad_t *x = mida_quads_get(a, k), *y = mida_quads_get(b, k);
            if (!mida_term_equal(&x->s, &y->s) || !mida_term_equal(&x->o, &y->o) || !*x->s.value)
                abort();
        }
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            mida_quads_write_nquads(a, null, true);
            fclose(null);
        }
        mida_quads_destroy(&a);
        mida_quads_destroy(&b);
    }
    mida_task_destroy(&t);
    return 0;
}
