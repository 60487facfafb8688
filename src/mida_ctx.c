/* mida_ctx.c - the library context, logging and error names.
 * Owns: the log handler and level filter, the shared raptor world.
 * Must not: print anything itself.
 */
#include "mida_internal.h"

#include <raptor2.h>
#include <stdlib.h>
#include <string.h>

struct mida_ctx {
    mida_log_fn log_fn;
    void *log_ud;
    mida_log_level_t min_level;
    raptor_world *raptor;
};

mida_ctx_t *mida_ctx_new(void)
{
    mida_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->min_level = MIDA_LOG_INFO;
    return ctx;
}

void mida_ctx_destroy(mida_ctx_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mida_ctx_t *ctx = *self_p;
    if (ctx->raptor)
        raptor_free_world(ctx->raptor);
    free(ctx);
    *self_p = NULL;
}

void mida_ctx_set_log(mida_ctx_t *ctx, mida_log_fn fn, void *user_data,
                      mida_log_level_t min_level)
{
    if (!ctx)
        return;
    ctx->log_fn = fn;
    ctx->log_ud = user_data;
    ctx->min_level = min_level;
}

mida_log_level_t mida_log_level_from_env(mida_log_level_t fallback)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    const char *lv = getenv("MIDA_LOG_LEVEL");
    for (int i = 0; lv && i < 4; i++)
        if (!strcmp(lv, names[i]))
            return (mida_log_level_t)i;
    return fallback;
}

bool mida__log_enabled(const mida_ctx_t *ctx, mida_log_level_t level)
{
    return ctx && ctx->log_fn && level >= ctx->min_level;
}

void mida__log(mida_ctx_t *ctx, mida_log_level_t level, mida_facility_t facility,
               int code, const mida_locator_t *where, const char *fmt, ...)
{
    if (!mida__log_enabled(ctx, level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->log_fn(ctx->log_ud, level, facility, code, where, msg);
}

void *mida__ctx_raptor(mida_ctx_t *ctx)
{
    if (!ctx)
        return NULL;
    if (!ctx->raptor) {
        raptor_world *w = raptor_new_world();
        if (!w)
            return NULL;
        if (raptor_world_open(w)) {
            raptor_free_world(w);
            return NULL;
        }
        ctx->raptor = w;
    }
    return ctx->raptor;
}

const char *mida_log_level_name(mida_log_level_t level)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    return (unsigned)level < MIDA_ARRAY_LEN(names) ? names[level] : "?";
}

const char *mida_facility_name(mida_facility_t facility)
{
    static const char *names[] = {"core",   "task",    "mapper",  "store", "query",
                                  "export", "parser",  "adapter", "wire",  "http"};
    return (unsigned)facility < MIDA_ARRAY_LEN(names) ? names[facility] : "?";
}

const char *mida_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define MIDA__ERR_STR(name, value, msg) \
    case value:                         \
        return msg;
        MIDA_ERRNO_MAP(MIDA__ERR_STR)
#undef MIDA__ERR_STR
    }
    return "unknown error";
}

const char *mida_err_name(int code)
{
    switch (code) {
    case 0:
        return "OK";
#define MIDA__ERR_NAME(name, value, msg) \
    case value:                          \
        return #name;
        MIDA_ERRNO_MAP(MIDA__ERR_NAME)
#undef MIDA__ERR_NAME
    }
    return "EUNKNOWN";
}
