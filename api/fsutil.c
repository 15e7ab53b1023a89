/*
 * fsutil.c — see fsutil.h.
 */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Lexical normalisation of a relative path into out; -1 if it climbs
 * above its start. */
static int normalise(const char *rel, char *out, size_t cap)
{
    size_t len = 0;
    const char *p = rel;
    out[0] = '\0';
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        const char *e = p;
        while (*e && *e != '/') e++;
        size_t n = (size_t)(e - p);
        if (n == 1 && p[0] == '.') {
            /* skip */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (len == 0) return -1;
            char *slash = strrchr(out, '/');
            len = slash ? (size_t)(slash - out) : 0;
            out[len] = '\0';
        } else {
            if (len + (len ? 1 : 0) + n + 1 > cap) return -1;
            if (len) out[len++] = '/';
            memcpy(out + len, p, n);
            len += n;
            out[len] = '\0';
        }
        p = e;
    }
    return 0;
}

int cd_fs_join_beneath(const char *root, const char *rel, char *out, size_t cap)
{
    char norm[CD_PATH_MAX], rroot[PATH_MAX], probe[CD_PATH_MAX], real[PATH_MAX];
    int n;

    if (!root || !rel || rel[0] == '/') return -1;
    if (normalise(rel, norm, sizeof(norm)) < 0) return -1;
    n = norm[0] ? snprintf(out, cap, "%s/%s", root, norm) : snprintf(out, cap, "%s", root);
    if (n < 0 || (size_t)n >= cap) return -1;
    if (!realpath(root, rroot)) return 0;   /* root missing: nothing to follow */

    /* Resolve the deepest existing ancestor and check it stays inside. */
    snprintf(probe, sizeof(probe), "%s", out);
    for (;;) {
        if (realpath(probe, real)) break;
        char *slash = strrchr(probe, '/');
        if (!slash || slash == probe) return 0;
        *slash = '\0';
    }
    size_t rl = strlen(rroot);
    if (strcmp(rroot, "/") == 0) return 0;
    if (strncmp(real, rroot, rl) != 0 || (real[rl] != '\0' && real[rl] != '/'))
        return -1;
    return 0;
}

int cd_fs_mkdirs(const char *path)
{
    char tmp[CD_PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return cd_fs_is_dir(tmp) ? 0 : -1;
}

int cd_fs_mkparent(const char *path)
{
    char tmp[CD_PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    char *slash = strrchr(tmp, '/');
    if (!slash || slash == tmp) return 0;
    *slash = '\0';
    return cd_fs_mkdirs(tmp);
}

char *cd_fs_read(const char *path, size_t max, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;
    size_t got = 0;
    if (fd < 0) return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max)
        goto fail;
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) goto fail;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    if (len) *len = got;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

int cd_fs_write(const char *path, const void *p, size_t len)
{
    char tmp[CD_PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, (const char *)p + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            errno = e;
            return -1;
        }
        done += (size_t)w;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

int cd_fs_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int cd_fs_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
