/* tool_apply.c - task records into a store opened for writing: what
 * `mida ingest` and `mida observe --to-store` share.
 * Owns: the store it opens, the mapping settings read back from it, the
 * batch the records are mapped into.
 */
#include "tool.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tool_apply_open(tool_apply_t *a, mida_ctx_t *ctx, const char *cmd, const char *dir,
                    const mida_store_opts_t *so, const char *base, const char *aliases,
                    bool no_promote)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->existed = access(dir, F_OK) == 0;
    char err[512];
    a->store = mida_store_open(ctx, dir, so, err, sizeof err);
    if (!a->store) {
        tool_err(cmd, "%s", err);
        return EXIT_FAIL;
    }
    long long pending = mida_integrator_log_pending(a->store);
    if (pending > 0) {
        /* records in that log are older than the ones given here: they
         * must be applied first */
        tool_err(cmd, "store %s has %lld bytes of write-ahead log not yet in its snapshot "
                 "(a `mida serve` stopped without its final snapshot); run `mida serve --store %s` "
                 "once and stop it with SIGINT to apply them, then %s",
                 dir, pending, dir, cmd);
        mida_store_close(&a->store);
        return EXIT_FAIL;
    }
    int rc = tool_store_settings(cmd, a->store, base, aliases, no_promote);
    a->map.base = mida_store_meta_get(a->store, "base");
    a->map.no_promote = !strcmp(mida_store_meta_get(a->store, "promote"), "no");
    a->alias_text = strdup(mida_store_meta_get(a->store, "aliases"));
    if (a->alias_text) {
        a->map.n_aliases = mida_iri_split_aliases(a->alias_text, a->aliases, TOOL_MAX_ALIASES);
        a->map.aliases = a->aliases;
    }
    a->batch = mida_quads_new();
    if (!rc && (!a->batch || !a->alias_text)) {
        tool_err(cmd, "out of memory");
        rc = EXIT_FAIL;
    }
    if (rc)
        tool_apply_close(a, false);
    else
        a->size_before = mida_store_size(a->store);
    return rc;
}

int tool_apply_record(tool_apply_t *a, const char *json, size_t len, char *err, size_t errlen,
                      const char **unmapped)
{
    mida_task_t *t = NULL;
    *unmapped = "";
    int rc = mida_task_parse(json, len, &t, err, errlen);
    if (rc == 0) {
        mida_quads_clear(a->batch);
        rc = mida_prov_map(t, &a->map, a->batch, err, errlen);
        if (rc == 0 && *mida_task_unknown_fields(t)) {
            /* kept in the caller's buffer: the task is freed below */
            snprintf(a->unmapped, sizeof a->unmapped, "%s", mida_task_unknown_fields(t));
            *unmapped = a->unmapped;
        }
    }
    mida_task_destroy(&t);
    if (rc) {
        a->refused++;
        return MIDA_ERECORD;
    }
    if (mida_linker_apply(a->store, a->batch, &a->stats)) {
        snprintf(err, errlen, "%s", mida_store_errmsg(a->store));
        return MIDA_ESTORE;
    }
    a->records++;
    return 0;
}

void tool_apply_close(tool_apply_t *a, bool failed)
{
    if (!a->store)
        return;
    bool is_memory = !strcmp(mida_store_backend(a->store), "memory");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", mida_store_dir(a->store));
    mida_quads_destroy(&a->batch);
    mida_store_close(&a->store);
    if (failed && !a->existed && is_memory) {
        /* a store this run created and could not fill is removed again */
        static const char *files[] = {"store.json", "lock", "snapshot.nt"};
        char path[4096 + 32];
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    free(a->alias_text);
    a->alias_text = NULL;
}
