/*
 * embedding_file.c — finding and reading textual-inversion embeddings
 * (see embedding_file.h).
 */
#include "embedding_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>

#include "pickle_ckpt.h"
#include "safetensors.h"

static int has_dotdot(const char *name)
{
    const char *p = name;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        if (!e)
            return 0;
        p = e + 1;
    }
}

static long lookup(const char *const *files, size_t n, const char *rel)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(files[i], rel) == 0)
            return (long)i;
    return -1;
}

/* Tries dir + name (+ extension) for one directory ("" = root). */
static long find_in(const char *const *files, size_t n, const char *dir, size_t dlen,
                    const char *name)
{
    static const char *ext[4] = {"", ".safetensors", ".pt", ".bin"};
    char rel[4096];
    for (int e = 0; e < 4; e++) {
        int w = snprintf(rel, sizeof rel, "%.*s%s%s%s", (int)dlen, dir, dlen ? "/" : "", name, ext[e]);
        if (w < 0 || (size_t)w >= sizeof rel)
            return -1;
        long i = lookup(files, n, rel);
        if (i >= 0)
            return i;
    }
    return -1;
}

long cd_clip_embedding_find(const char *const *files, size_t n, const char *name)
{
    if (!name[0] || name[0] == '/' || has_dotdot(name))
        return -1;
    long i = find_in(files, n, "", 0, name);
    if (i >= 0)
        return i;
    /* Sub-folders, each once, in the (sorted) order of the listing. */
    for (size_t f = 0; f < n; f++) {
        const char *slash = strrchr(files[f], '/');
        if (!slash)
            continue;
        /* every prefix directory of this file: a/b/c.pt gives a and a/b */
        for (const char *s = strchr(files[f], '/'); s && s <= slash; s = strchr(s + 1, '/')) {
            size_t dlen = (size_t)(s - files[f]);
            int seen = 0;
            for (size_t g = 0; g < f && !seen; g++)
                seen = strncmp(files[g], files[f], dlen) == 0 && files[g][dlen] == '/';
            if (seen)
                continue;
            i = find_in(files, n, files[f], dlen, name);
            if (i >= 0)
                return i;
        }
    }
    return -1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* Appends tensor t viewed as [-1, last] rows to out. */
static int append_rows(const cd_tensor *t, cd_clip_embedding *out, char *err, size_t errlen)
{
    int64_t numel = cd_tensor_numel(t);
    int64_t width = t->ndim ? t->shape[t->ndim - 1] : 1;
    if (!cd_dtype_is_float(t->dtype) || numel <= 0 || width <= 0 || numel % width ||
        numel > (int64_t)1 << 26) {
        snprintf(err, errlen, "embedding tensor %s is not a float matrix", t->name);
        return COMFY_EINVAL;
    }
    if (out->rows && out->width != (size_t)width) {
        snprintf(err, errlen, "embedding tensors of different widths");
        return COMFY_EINVAL;
    }
    size_t rows = (size_t)(numel / width);
    float *d = realloc(out->data, (out->rows + rows) * (size_t)width * sizeof *d);
    if (!d)
        return COMFY_ENOMEM;
    out->data = d;
    if (cd_tensor_to_f32(t, d + out->rows * (size_t)width, (size_t)numel) < 0) {
        snprintf(err, errlen, "cannot convert embedding tensor %s", t->name);
        return COMFY_EINVAL;
    }
    out->rows += rows;
    out->width = (size_t)width;
    return 0;
}

/* ComfyUI's choice among the tensors t[0..n) (file order). */
static int pick(const cd_tensor *const *t, size_t n, const char *key, cd_clip_embedding *out,
                char *err, size_t errlen)
{
    if (n == 0) {
        snprintf(err, errlen, "no tensors in the embedding file");
        return COMFY_EINVAL;
    }
    for (size_t i = 0; i < n; i++) /* A1111: string_to_param's first value */
        if (strncmp(t[i]->name, "string_to_param.", 16) == 0)
            return append_rows(t[i], out, err, errlen);
    for (size_t i = 0; i < n; i++)
        if (key && strcmp(t[i]->name, key) == 0)
            return append_rows(t[i], out, err, errlen);
    char suffix[128];
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            snprintf(suffix, sizeof suffix, ".string_to_param.*");
        else
            snprintf(suffix, sizeof suffix, ".%s", key ? key : "None");
        int found = 0;
        for (size_t i = 0; i < n; i++)
            if (strncmp(t[i]->name, "bundle_emb.", 11) == 0 && ends_with(t[i]->name, suffix)) {
                int rc = append_rows(t[i], out, err, errlen);
                if (rc < 0)
                    return rc;
                found = 1;
            }
        if (found)
            return 0;
    }
    return append_rows(t[0], out, err, errlen);
}

int cd_clip_embedding_read(const char *path, size_t embedding_size, const char *key,
                           cd_clip_embedding *out, char *err, size_t errlen)
{
    (void)embedding_size; /* only the list-of-dicts format, which we do not read, uses it */
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = 0;
    memset(out, 0, sizeof *out);
    const cd_tensor **list = NULL;
    cd_st_file *st = NULL;
    cd_ckpt_file *ck = NULL;
    size_t n = 0;
    int rc;
    size_t plen = strlen(path);
    int is_st = plen >= 12 && strcasecmp(path + plen - 12, ".safetensors") == 0;
    if (is_st) {
        if ((rc = cd_st_open(path, &st, err, errlen)) < 0) {
            rc = rc == CD_MODEL_ENOMEM ? COMFY_ENOMEM : COMFY_EINVAL;
            goto out;
        }
        n = cd_st_count(st);
    } else {
        if ((rc = cd_ckpt_open(path, &ck, err, errlen)) < 0) {
            rc = rc == CD_MODEL_ENOMEM ? COMFY_ENOMEM : COMFY_EINVAL;
            goto out;
        }
        n = cd_ckpt_count(ck);
    }
    list = malloc((n ? n : 1) * sizeof *list);
    if (!list) {
        rc = COMFY_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        list[i] = st ? cd_st_tensor(st, i) : cd_ckpt_tensor(ck, i);
    rc = pick(list, n, key, out, err, errlen);
out:
    if (rc < 0) {
        free(out->data);
        memset(out, 0, sizeof *out);
    }
    free(list);
    cd_st_close(st);
    cd_ckpt_close(ck);
    return rc;
}

int cd_clip_embed_dir_fn(void *ctx, const char *name, size_t embedding_size, const char *key,
                         cd_clip_embedding *out)
{
    const cd_clip_embed_dir *d = ctx;
    long i = cd_clip_embedding_find(d->files, d->n_files, name);
    if (i < 0)
        return 0;
    char path[4096], err[256] = "";
    if (d->resolve(d->resolve_ctx, d->files[i], path, sizeof path) < 0)
        return 0;
    int rc = cd_clip_embedding_read(path, embedding_size, key, out, err, sizeof err);
    if (rc == COMFY_ENOMEM)
        return rc;
    if (rc < 0) {
        if (d->warn) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s\n\nerror loading embedding, skipping loading: %s", err, name);
            d->warn(d->warn_ctx, msg);
        }
        return 0;
    }
    return 1;
}
