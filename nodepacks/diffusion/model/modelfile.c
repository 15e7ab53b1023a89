/* modelfile.c — format-sniffing open, refcounts, path+mtime+size cache
 * (see modelfile.h). */
#include "modelfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cd_model_file {
    atomic_int refs;
    cd_model_format format;
    cd_st_file *st;
    cd_ckpt_file *ck;
    char *path;
    int64_t mtime_ns;
    uint64_t size;
};

int cd_model_file_open(const char *path, cd_model_file **out, char *err, size_t errlen)
{
    unsigned char head[9] = {0};
    struct stat st;
    int rc;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err)
            snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return CD_MODEL_EIO;
    }
    ssize_t got = read(fd, head, sizeof head);
    int ok = fstat(fd, &st) == 0;
    close(fd);
    if (!ok) {
        if (err)
            snprintf(err, errlen, "cannot stat %s", path);
        return CD_MODEL_EIO;
    }
    cd_model_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return CD_MODEL_ENOMEM;
    }
    atomic_init(&f->refs, 1);
    f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    f->size = (uint64_t)st.st_size;
    /* 0x80 first is a legacy pickle's PROTO, or the low byte of a
     * safetensors header length (then the JSON header's '{' is at 8). */
    if (got >= 2 && (cd_ckpt_sniff(head, (size_t)got) ||
                     (head[0] == 0x80 && !(got >= 9 && head[8] == '{')))) {
        f->format = CD_FORMAT_CKPT;
        rc = cd_ckpt_open(path, &f->ck, err, errlen);
    } else {
        f->format = CD_FORMAT_SAFETENSORS;
        rc = cd_st_open(path, &f->st, err, errlen);
    }
    if (rc < 0) {
        free(f->path);
        free(f);
        return rc;
    }
    *out = f;
    return 0;
}

cd_model_file *cd_model_file_ref(cd_model_file *f)
{
    if (f)
        atomic_fetch_add(&f->refs, 1);
    return f;
}

void cd_model_file_unref(cd_model_file *f)
{
    if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    cd_st_close(f->st);
    cd_ckpt_close(f->ck);
    free(f->path);
    free(f);
}

cd_model_format cd_model_file_format(const cd_model_file *f) { return f->format; }

const cd_sd *cd_model_file_index(const cd_model_file *f)
{
    return f->st ? cd_st_index(f->st) : cd_ckpt_index(f->ck);
}

const cd_tensor *cd_model_file_find(const cd_model_file *f, const char *name)
{
    return cd_sd_find(cd_model_file_index(f), name);
}

size_t cd_model_file_count(const cd_model_file *f)
{
    return f->st ? cd_st_count(f->st) : cd_ckpt_count(f->ck);
}

const cd_tensor *cd_model_file_tensor(const cd_model_file *f, size_t i)
{
    return f->st ? cd_st_tensor(f->st, i) : cd_ckpt_tensor(f->ck, i);
}

const cd_st_file *cd_model_file_safetensors(const cd_model_file *f) { return f->st; }
const char *cd_model_file_path(const cd_model_file *f) { return f->path; }
uint64_t cd_model_file_size(const cd_model_file *f) { return f->size; }

/* ------------------------------------------------------------------ */

struct cd_model_cache {
    pthread_mutex_t mu;
    cd_model_file **files; /* each holds one reference; most recent last */
    size_t n, max;
};

cd_model_cache *cd_model_cache_new(size_t max_files)
{
    cd_model_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->max = max_files ? max_files : 1;
    c->files = calloc(c->max, sizeof *c->files);
    if (!c->files || pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c->files);
        free(c);
        return NULL;
    }
    return c;
}

void cd_model_cache_clear(cd_model_cache *c)
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++)
        cd_model_file_unref(c->files[i]);
    c->n = 0;
    pthread_mutex_unlock(&c->mu);
}

void cd_model_cache_free(cd_model_cache *c)
{
    if (!c)
        return;
    cd_model_cache_clear(c);
    pthread_mutex_destroy(&c->mu);
    free(c->files);
    free(c);
}

static void drop_at(cd_model_cache *c, size_t i)
{
    cd_model_file_unref(c->files[i]);
    memmove(c->files + i, c->files + i + 1, (c->n - i - 1) * sizeof *c->files);
    c->n--;
}

int cd_model_cache_get(cd_model_cache *c, const char *path, cd_model_file **out, char *err,
                       size_t errlen)
{
    struct stat st;
    *out = NULL;
    if (stat(path, &st) != 0) {
        if (err)
            snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return CD_MODEL_EIO;
    }
    int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++) {
        cd_model_file *f = c->files[i];
        if (strcmp(f->path, path) != 0)
            continue;
        if (f->mtime_ns == mt && f->size == (uint64_t)st.st_size) {
            /* hit: move to the most-recent end */
            memmove(c->files + i, c->files + i + 1, (c->n - i - 1) * sizeof *c->files);
            c->files[c->n - 1] = f;
            *out = cd_model_file_ref(f);
            pthread_mutex_unlock(&c->mu);
            return 0;
        }
        drop_at(c, i); /* changed on disk */
        break;
    }
    pthread_mutex_unlock(&c->mu);

    /* open outside the lock: a first mmap + header parse may take a while */
    cd_model_file *f;
    int rc = cd_model_file_open(path, &f, err, errlen);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->files[i]->path, path) == 0) { /* another thread won the race */
            drop_at(c, i);
            break;
        }
    }
    if (c->n == c->max)
        drop_at(c, 0);
    c->files[c->n++] = cd_model_file_ref(f);
    pthread_mutex_unlock(&c->mu);
    *out = f;
    return 0;
}

size_t cd_model_cache_count(cd_model_cache *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

uint64_t cd_model_cache_bytes(cd_model_cache *c)
{
    uint64_t b = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++)
        b += c->files[i]->size;
    pthread_mutex_unlock(&c->mu);
    return b;
}
