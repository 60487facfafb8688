/* mida_file.c - durable file operations the modules share: appending all
 * or nothing (the integrator's log, the emitter's spool), syncing a
 * directory after a rename (store snapshots, log generations), creating a
 * directory path (spools).
 * Owns: nothing; holds no state.
 */
#include "mida_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mida__file_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int mida__file_write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096], tmp[4096 + 8];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        left -= (size_t)w;
    }
    bool ok = left == 0 && fsync(fd) == 0;
    int saved = errno;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) == 0 && mida__file_fsync_dir(dir) == 0)
        return 0;
    saved = errno ? errno : saved;
    unlink(tmp);
    errno = saved;
    return -1;
}

int mida__file_mkdir_p(const char *dir, unsigned mode)
{
    char *tmp = dir ? strdup(dir) : NULL;
    if (!tmp)
        return -1;
    int rc = 0;
    for (char *p = tmp + 1; !rc && *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, (mode_t)mode) && errno != EEXIST)
            rc = -1;
        *p = '/';
    }
    if (!rc && mkdir(tmp, (mode_t)mode) && errno != EEXIST)
        rc = -1;
    free(tmp);
    return rc;
}

int mida__file_append(int fd, const void *data, size_t len, bool sync, bool *torn)
{
    const char *p = data;
    size_t done = 0;
    if (torn)
        *torn = false;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            break;
        }
        done += (size_t)w;
    }
    if (done == len && (!sync || fdatasync(fd) == 0))
        return 0;
    int saved = errno;
    struct stat sb;
    if (done && (fstat(fd, &sb) || ftruncate(fd, sb.st_size - (off_t)done)) && torn)
        *torn = true;
    errno = saved;
    return -1;
}

/* ---- self-test ------------------------------------------------------------ */
#include "mida_selftest.h"

int mida_file_test(bool verbose);
int mida_file_test(bool verbose)
{
    int f = 0;
    char dir[] = "/tmp/mida-file-test-XXXXXX";
    MIDA_CHECK(f, mkdtemp(dir) != NULL);
    char deep[sizeof dir + 16], path[sizeof dir + 32];
    snprintf(deep, sizeof deep, "%s/a/b/c", dir);
    MIDA_CHECK(f, mida__file_mkdir_p(deep, 0700) == 0);
    MIDA_CHECK(f, mida__file_mkdir_p(deep, 0700) == 0); /* again: fine */
    struct stat sb;
    MIDA_CHECK(f, stat(deep, &sb) == 0 && S_ISDIR(sb.st_mode));
    MIDA_CHECK(f, mida__file_fsync_dir(deep) == 0);
    MIDA_CHECK(f, mida__file_fsync_dir("/nonexistent/mida") == -1 && errno == ENOENT);
    snprintf(path, sizeof path, "%s/log", deep);
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    MIDA_CHECK(f, fd >= 0);
    bool torn = true;
    MIDA_CHECK(f, mida__file_append(fd, "one\n", 4, true, &torn) == 0 && !torn);
    MIDA_CHECK(f, mida__file_append(fd, "two\n", 4, false, NULL) == 0);
    MIDA_CHECK(f, fstat(fd, &sb) == 0 && sb.st_size == 8);
    /* a descriptor that cannot be written: refused, nothing appended */
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    MIDA_CHECK(f, mida__file_append(ro, "x", 1, true, &torn) == -1 && errno == EBADF && !torn);
    MIDA_CHECK(f, fstat(fd, &sb) == 0 && sb.st_size == 8);
    close(ro);
    close(fd);
    /* atomic replace: the new text, and no temporary file left */
    MIDA_CHECK(f, mida__file_write_atomic(deep, "cur", "first", 5) == 0);
    MIDA_CHECK(f, mida__file_write_atomic(deep, "cur", "second", 6) == 0);
    snprintf(path, sizeof path, "%s/cur", deep);
    MIDA_CHECK(f, stat(path, &sb) == 0 && sb.st_size == 6);
    snprintf(path, sizeof path, "%s/cur.tmp", deep);
    MIDA_CHECK(f, stat(path, &sb) != 0);
    MIDA_CHECK(f, mida__file_write_atomic("/nonexistent/mida", "cur", "x", 1) == -1);
    char cmd[sizeof dir + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    MIDA_CHECK(f, system(cmd) == 0);
    if (verbose)
        printf("file: %d failures\n", f);
    return f;
}
