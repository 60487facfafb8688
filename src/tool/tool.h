/* tool.h - what the sub-commands of the `mida` program share.
 * The program uses mida.h only (STYLE: the CLI is a library client).
 *
 * Exit codes (documented in docs/cli.md):
 *   0  success
 *   1  failure (bad input file, bad query, store error, ...)
 *   2  usage error (unknown option, missing argument)
 *   3  done, but some input records were refused (ingest)
 */
#ifndef MIDA_TOOL_H
#define MIDA_TOOL_H

#include "mida.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_PARTIAL = 3 };

typedef struct tool_cmd {
    const char *name;
    const char *summary;
    int (*run)(mida_ctx_t *ctx, int argc, char **argv);
} tool_cmd_t;

int tool_ingest(mida_ctx_t *ctx, int argc, char **argv);
int tool_sparql(mida_ctx_t *ctx, int argc, char **argv);
int tool_export(mida_ctx_t *ctx, int argc, char **argv);
int tool_serve(mida_ctx_t *ctx, int argc, char **argv);
int tool_emit(mida_ctx_t *ctx, int argc, char **argv);
int tool_observe(mida_ctx_t *ctx, int argc, char **argv);
int tool_status(mida_ctx_t *ctx, int argc, char **argv);
int tool_keygen(mida_ctx_t *ctx, int argc, char **argv);

/* Prints "mida CMD: message" to stderr. */
void tool_err(const char *cmd, const char *fmt, ...) MIDA_PRINTF(2, 3);
/* Prints the error and "Try 'mida CMD --help'." and returns EXIT_USAGE. */
int tool_usage_error(const char *cmd, const char *fmt, ...) MIDA_PRINTF(2, 3);
/* The log handler the program installs: one line per event on stderr. */
void tool_log(void *ud, mida_log_level_t level, mida_facility_t facility, int code,
              const mida_locator_t *where, const char *message);
/* Reads a whole file ("-" = stdin) into a new string; NULL with errno. */
char *tool_read_file(const char *path, size_t max, size_t *len);
/* Opens `path` for output through a temporary file beside it, so that a
 * failed run never leaves a half-written file; "-" or NULL is stdout. */
typedef struct tool_out {
    FILE *f;
    char *path, *tmp;
} tool_out_t;
int tool_out_open(tool_out_t *o, const char *path);
/* Closes; renames into place when ok, removes the temporary file if not.
 * Returns 0 or -1 (errno set). */
int tool_out_close(tool_out_t *o, bool ok);
double tool_now(void);
/* Opens the store in `dir` to read it (sparql, export), telling the user
 * when its snapshot is behind its write-ahead log.  NULL after reporting
 * why it cannot be opened. */
mida_store_t *tool_open_reader(mida_ctx_t *ctx, const char *cmd, const char *dir);
/* Checks the mapping settings given on the command line against those the
 * store was created with (IRIs and data keys must not change meaning
 * halfway through a store's life), and records them in a new store.
 * NULL base / empty aliases / false no_promote mean "as the store has".
 * 0, or EXIT_FAIL after reporting. */
int tool_store_settings(const char *cmd, mida_store_t *store, const char *base,
                        const char *aliases_text, bool no_promote);

/* Task records into a store opened for writing (ingest, observe --to-store):
 * the store's mapping settings are checked against the options and kept. */
#define TOOL_MAX_ALIASES 64
typedef struct tool_apply {
    const char *cmd;
    mida_store_t *store;
    mida_map_opts_t map;
    mida_alias_t aliases[TOOL_MAX_ALIASES];
    char *alias_text;
    mida_quads_t *batch;
    mida_apply_stats_t stats;
    size_t records, refused;     /* applied, refused as invalid */
    long size_before;            /* triples when opened */
    bool existed;                /* the store directory was there before */
    char unmapped[1024];
} tool_apply_t;
/* Opens (creating when `so` says so) the store in `dir`; refuses a store
 * whose write-ahead log is not in its snapshot.  0, or EXIT_FAIL after
 * reporting. */
int tool_apply_open(tool_apply_t *a, mida_ctx_t *ctx, const char *cmd, const char *dir,
                    const mida_store_opts_t *so, const char *base, const char *aliases,
                    bool no_promote);
/* Parses, maps and applies one record.  0; MIDA_ERECORD when the record is
 * refused (the reason in err, counted); MIDA_ESTORE when the store fails.
 * *unmapped lists the fields that were ignored ("" for none). */
int tool_apply_record(tool_apply_t *a, const char *json, size_t len, char *err, size_t errlen,
                      const char **unmapped);
/* Closes the store; after a failure a memory store this run created is
 * removed again. */
void tool_apply_close(tool_apply_t *a, bool failed);

#endif
