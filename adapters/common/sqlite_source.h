/* sqlite_source.h - a tool's SQLite database, read without disturbing it.
 *
 * What the mlflow and parsl adapters share: the database is opened
 * read-only (`file:PATH?mode=ro`), with a busy timeout, and its journal
 * mode is never changed; tables and columns are probed by name, so that
 * the schema of another version of the tool reads the same way.
 */
#ifndef MIDA_SQLITE_SOURCE_H
#define MIDA_SQLITE_SOURCE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

/* Opens `path` read-only with a busy timeout of `busy_ms`.  NULL with the
 * reason (naming the path) in err: missing file (then *missing is set, so
 * that an observer can wait for the tool to create it), not a database. */
sqlite3 *sqlite_source_open(const char *path, unsigned busy_ms, bool *missing, char *err,
                            size_t errlen);
bool sqlite_source_has_table(sqlite3 *db, const char *table);
bool sqlite_source_has_column(sqlite3 *db, const char *table, const char *column);
/* The index of the result column called `name` in `stmt`, or -1. */
int sqlite_source_column(sqlite3_stmt *stmt, const char *name);
/* The text of column `name` of the current row; NULL when the column is
 * missing or NULL.  Valid until the next step. */
const char *sqlite_source_text(sqlite3_stmt *stmt, const char *name);
/* The integer of column `name`; `fallback` when missing or NULL. */
long long sqlite_source_int(sqlite3_stmt *stmt, const char *name, long long fallback);
bool sqlite_source_is_null(sqlite3_stmt *stmt, const char *name);
/* True for the codes that mean "another process holds the database now:
 * try again later" (SQLITE_BUSY, SQLITE_LOCKED). */
bool sqlite_source_busy(int rc);
/* PRAGMA data_version: changes when another connection commits.  -1 on
 * error. */
long long sqlite_source_data_version(sqlite3 *db);

#endif
