/* sqlite_source.c - a tool's SQLite database, read without disturbing it. */
#include "common/sqlite_source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

sqlite3 *sqlite_source_open(const char *path, unsigned busy_ms, bool *missing, char *err,
                            size_t errlen)
{
    struct stat st;
    *missing = false;
    if (stat(path, &st) != 0) {
        *missing = errno == ENOENT;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "cannot open %s: not a regular file", path);
        return NULL;
    }
    /* a URI, so that mode=ro applies; the path's own '%', '?' and '#' are
     * escaped */
    size_t n = strlen(path), cap = n * 3 + 32, at;
    char *uri = malloc(cap);
    if (!uri) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    at = (size_t)snprintf(uri, cap, "file:");
    for (const char *p = path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#')
            at += (size_t)snprintf(uri + at, cap - at, "%%%02X", (unsigned char)*p);
        else
            uri[at++] = *p;
    }
    snprintf(uri + at, cap - at, "?mode=ro");
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, (int)busy_ms);
    /* reading the schema tells a database from any other file now rather
     * than at the first poll */
    rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (rc != SQLITE_OK && !sqlite_source_busy(rc)) {
        snprintf(err, errlen, "cannot read %s: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

bool sqlite_source_has_table(sqlite3 *db, const char *table)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type IN ('table','view') AND name = ?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

bool sqlite_source_has_column(sqlite3 *db, const char *table, const char *column)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?) WHERE name = ?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

int sqlite_source_column(sqlite3_stmt *stmt, const char *name)
{
    int n = sqlite3_column_count(stmt);
    for (int i = 0; i < n; i++) {
        const char *c = sqlite3_column_name(stmt, i);
        if (c && !strcmp(c, name))
            return i;
    }
    return -1;
}

const char *sqlite_source_text(sqlite3_stmt *stmt, const char *name)
{
    int i = sqlite_source_column(stmt, name);
    if (i < 0 || sqlite3_column_type(stmt, i) == SQLITE_NULL)
        return NULL;
    return (const char *)sqlite3_column_text(stmt, i);
}

long long sqlite_source_int(sqlite3_stmt *stmt, const char *name, long long fallback)
{
    int i = sqlite_source_column(stmt, name);
    if (i < 0 || sqlite3_column_type(stmt, i) == SQLITE_NULL)
        return fallback;
    return sqlite3_column_int64(stmt, i);
}

bool sqlite_source_is_null(sqlite3_stmt *stmt, const char *name)
{
    int i = sqlite_source_column(stmt, name);
    return i < 0 || sqlite3_column_type(stmt, i) == SQLITE_NULL;
}

bool sqlite_source_busy(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

long long sqlite_source_data_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}
