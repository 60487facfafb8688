/* mida_selftest.h - the checks used by the module self-tests.
 *
 * Each module ends with `int mida_<noun>_test(bool verbose)` that returns
 * the number of failed checks.  CHECK records a failure with file and line
 * and goes on, so one run reports every broken expectation.
 */
#ifndef MIDA_SELFTEST_H
#define MIDA_SELFTEST_H

#include <stdio.h>
#include <string.h>

#define MIDA_CHECK(failures, cond)                                                  \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            (failures)++;                                                           \
        }                                                                           \
    } while (0)

#define MIDA_CHECK_STR(failures, got, want)                                          \
    do {                                                                             \
        const char *g_ = (got), *w_ = (want);                                        \
        if (!g_ || !w_ || strcmp(g_, w_)) {                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n  got:  %s\n  want: %s\n",     \
                    __FILE__, __LINE__, #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
            (failures)++;                                                            \
        }                                                                            \
    } while (0)

#endif
