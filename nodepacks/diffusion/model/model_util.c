/* model_util.c — see model_util.h. */
#include "model_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor.h"

void cd_model_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int cd_model_map_file(const char *path, size_t min_size, const char *what, cd_model_map *m,
                      char *err, size_t errlen)
{
    struct stat st;
    int rc = CD_MODEL_EIO;
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cd_model_set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return CD_MODEL_EIO;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        cd_model_set_err(err, errlen, "%s is not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size < (uint64_t)min_size || st.st_size == 0) {
        cd_model_set_err(err, errlen, "%s: file too short for %s (%zu bytes)", path, what,
                         (size_t)st.st_size);
        rc = CD_MODEL_EFORMAT;
        goto out;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        cd_model_set_err(err, errlen, "cannot map %s: %s", path, strerror(errno));
        goto out;
    }
    m->base = p;
    m->size = (size_t)st.st_size;
    m->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    rc = 0;
out:
    close(fd);
    return rc;
}

void cd_model_unmap(cd_model_map *m)
{
    if (m->base)
        munmap((void *)m->base, m->size);
    memset(m, 0, sizeof *m);
}

void cd_model_err_prefix(char *err, size_t errlen, const char *path)
{
    char tmp[512];
    if (!err || !errlen || !err[0])
        return;
    snprintf(tmp, sizeof tmp, "%s", err);
    snprintf(err, errlen, "%s: %s", path, tmp);
}
