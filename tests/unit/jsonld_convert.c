/* jsonld_convert.c - N-Quads in, mida's JSON-LD out (for the W3C fromRdf
 * cross-check in tests/python/test_jsonld_writer.py).
 *
 *   mida_jsonld_convert INPUT.nq [CONTEXT.jsonld]    JSON-LD on stdout
 *
 * Exit codes: 0 written, 1 failed (message on stderr), 2 usage.
 */
#include "mida.h"

#include <stdlib.h>
#include <string.h>

static void s_log(void *ud, mida_log_level_t level, mida_facility_t facility, int code,
                  const mida_locator_t *where, const char *message)
{
    (void)ud;
    (void)facility;
    (void)code;
    if (where && where->file)
        fprintf(stderr, "mida_jsonld_convert: %s: %s:%ld: %s\n", mida_log_level_name(level),
                where->file, where->line, message);
    else
        fprintf(stderr, "mida_jsonld_convert: %s: %s\n", mida_log_level_name(level), message);
}

/* The whole file as a string (caller frees); NULL on failure. */
static char *s_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    mida_buf_t b;
    mida_buf_init(&b, 64u << 20);
    char chunk[8192];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = mida_buf_add(&b, chunk, n);
    if (ferror(f) || rc || mida_buf_add(&b, "", 0)) {
        fclose(f);
        mida_buf_free(&b);
        return NULL;
    }
    fclose(f);
    return mida_buf_detach(&b);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || !strcmp(argv[1], "--help")) {
        fprintf(argc < 2 || argc > 3 ? stderr : stdout,
                "usage: mida_jsonld_convert INPUT.nq [CONTEXT.jsonld]\n");
        return argc < 2 || argc > 3 ? 2 : 0;
    }
    int status = 1;
    char *context = NULL;
    mida_quads_t *q = NULL;
    FILE *in = NULL;
    mida_ctx_t *ctx = mida_ctx_new();
    if (!ctx)
        goto done;
    mida_ctx_set_log(ctx, s_log, NULL, MIDA_LOG_WARN);
    if (argc == 3 && !(context = s_slurp(argv[2]))) {
        fprintf(stderr, "mida_jsonld_convert: cannot read %s\n", argv[2]);
        goto done;
    }
    if (!(in = fopen(argv[1], "rb"))) {
        fprintf(stderr, "mida_jsonld_convert: cannot open %s\n", argv[1]);
        goto done;
    }
    if (!(q = mida_quads_new()))
        goto done;
    char err[512];
    int rc = mida_quads_parse_file(ctx, q, in, argv[1], "nquads", NULL, err, sizeof err);
    if (rc) {
        fprintf(stderr, "mida_jsonld_convert: %s\n", err[0] ? err : mida_strerror(rc));
        goto done;
    }
    rc = mida_jsonld_write(q, context, stdout);
    if (rc) {
        fprintf(stderr, "mida_jsonld_convert: cannot write JSON-LD: %s\n", mida_strerror(rc));
        goto done;
    }
    status = 0;
done:
    if (in)
        fclose(in);
    mida_quads_destroy(&q);
    mida_ctx_destroy(&ctx);
    free(context);
    return status;
}
