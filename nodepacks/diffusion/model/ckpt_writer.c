/* ckpt_writer.c — streaming deterministic checkpoint writer (see ckpt_writer.h). */
#include "ckpt_writer.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK 65536          /* elements generated per step */
#define MAX_TENSORS 100000
#define CD_ST_WRITER_MAX_HEADER (64u << 20)

typedef struct list {
    cd_arch_tensor *v;
    size_t n, cap;
} list;

static int collect(const cd_arch_tensor *t, void *ud)
{
    list *l = ud;
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 1024;
        if (nc > MAX_TENSORS)
            return CD_MODEL_ENOMEM;
        cd_arch_tensor *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return CD_MODEL_ENOMEM;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = *t;
    return 0;
}

static size_t elem_size(const cd_arch_tensor *t, cd_dtype dt)
{
    return t->is_int64 ? 8 : cd_dtype_size(dt);
}

/* int64 tensors first (8-byte elements before any float dtype keeps every
 * tensor aligned to its element size, as the reference writer does), then
 * by name. */
static int cmp_tensor(const void *a, const void *b)
{
    const cd_arch_tensor *x = a, *y = b;
    if (x->is_int64 != y->is_int64)
        return x->is_int64 ? -1 : 1;
    return strcmp(x->name, y->name);
}

static uint64_t numel(const cd_arch_tensor *t)
{
    uint64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (uint64_t)t->shape[i];
    return n;
}

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Appends to a bounded header buffer. */
typedef struct hbuf {
    char *p;
    size_t len, cap;
} hbuf;

static int hput(hbuf *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int hput(hbuf *h, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(h->p + h->len, h->cap - h->len, fmt, ap);
        va_end(ap);
        if (k < 0)
            return CD_MODEL_EINVAL;
        if ((size_t)k < h->cap - h->len) {
            h->len += (size_t)k;
            return 0;
        }
        size_t nc = 2 * h->cap + (size_t)k;
        if (nc > CD_ST_WRITER_MAX_HEADER)
            return CD_MODEL_ENOMEM;
        char *np = realloc(h->p, nc);
        if (!np)
            return CD_MODEL_ENOMEM;
        h->p = np;
        h->cap = nc;
    }
}

/* Fills n values starting at element `first` of tensor t into f32 out. */
static void gen(const cd_arch_tensor *t, uint64_t tseed, uint64_t first, size_t n, float *out)
{
    double fan_in = 1;
    for (int i = 1; i < t->ndim; i++)
        fan_in *= (double)t->shape[i];
    float amp = 0;
    switch (t->init) {
    case CD_INIT_FANIN: amp = (float)sqrt(3.0 / fan_in); break;
    case CD_INIT_EMBED: amp = (float)(0.02 * sqrt(3.0)); break;
    case CD_INIT_NORM_BIAS: amp = (float)(0.12 * sqrt(3.0)); break;
    default: break;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t k = first + i;
        switch (t->init) {
        case CD_INIT_ZEROS: out[i] = 0.0f; break;
        case CD_INIT_ONES: out[i] = 1.0f; break;
        case CD_INIT_POS_IDS: out[i] = (float)k; break;
        case CD_INIT_LOGIT_SCALE: out[i] = (float)log(100.0); break;
        case CD_INIT_SCHEDULE: {
            double v = 0;
            cd_arch_schedule_value(t->name, (int)k, &v);
            out[i] = (float)v;
            break;
        }
        default: {
            uint64_t r = splitmix(tseed ^ (k * 0xd1342543de82ef95ull));
            float u = (float)(r >> 40) * (1.0f / 16777216.0f); /* [0,1) */
            out[i] = (2.0f * u - 1.0f) * amp;
            break;
        }
        }
    }
}

int cd_ckpt_write(const cd_arch *a, cd_dtype dtype, uint64_t seed, const char *path,
                  uint64_t *total_bytes, uint64_t *n_params, char *err, size_t errlen)
{
    int rc = CD_MODEL_EIO;
    list l = {0};
    hbuf h = {0};
    FILE *fp = NULL;
    float *fv = NULL;
    unsigned char *ob = NULL;
    char tmp[4096];
    uint64_t params = 0, off = 0;

    if (dtype != CD_DT_F16 && dtype != CD_DT_BF16 && dtype != CD_DT_F32) {
        snprintf(err, errlen, "unsupported output dtype %s (f16, bf16 or f32)",
                 cd_dtype_name(dtype));
        return CD_MODEL_EINVAL;
    }
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(err, errlen, "output path too long");
        return CD_MODEL_EINVAL;
    }
    rc = cd_arch_foreach(a, collect, &l);
    if (rc)
        goto out;
    qsort(l.v, l.n, sizeof *l.v, cmp_tensor);

    h.cap = 1 << 16;
    h.p = malloc(h.cap);
    if (!h.p) {
        rc = CD_MODEL_ENOMEM;
        goto out;
    }
    h.len = 8; /* room for the length prefix */
    rc = hput(&h, "{\"__metadata__\":{\"format\":\"pt\",\"modelspec.architecture\":\"%s\","
                  "\"modelspec.sai_model_spec\":\"1.0.0\",\"comfyd.generator\":"
                  "\"comfyd-mkcheckpoint\",\"comfyd.arch\":\"%s\",\"comfyd.width\":\"%s\","
                  "\"comfyd.seed\":\"%llu\"}",
              a->modelspec, a->name, a->width == CD_WIDTH_FULL ? "full" : "small",
              (unsigned long long)seed);
    for (size_t i = 0; !rc && i < l.n; i++) {
        const cd_arch_tensor *t = &l.v[i];
        uint64_t nb = numel(t) * elem_size(t, dtype);
        rc = hput(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t->name,
                  t->is_int64 ? "I64" : cd_dtype_name(dtype));
        for (int d = 0; !rc && d < t->ndim; d++)
            rc = hput(&h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        if (!rc)
            rc = hput(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                      (unsigned long long)(off + nb));
        off += nb;
        if (!t->is_int64)
            params += numel(t);
    }
    if (!rc)
        rc = hput(&h, "}");
    while (!rc && (h.len - 8) % 8)
        rc = hput(&h, " ");
    if (rc) {
        snprintf(err, errlen, "header too large");
        goto out;
    }
    uint64_t hl = h.len - 8;
    for (int i = 0; i < 8; i++)
        h.p[i] = (char)((hl >> (8 * i)) & 0xff);

    fp = fopen(tmp, "wb");
    if (!fp) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        rc = CD_MODEL_EIO;
        goto out;
    }
    setvbuf(fp, NULL, _IOFBF, 1 << 20);
    fv = malloc(CHUNK * sizeof *fv);
    ob = malloc(CHUNK * 8);
    if (!fv || !ob) {
        rc = CD_MODEL_ENOMEM;
        goto out;
    }
    rc = CD_MODEL_EIO;
    if (fwrite(h.p, 1, h.len, fp) != h.len)
        goto werr;
    for (size_t i = 0; i < l.n; i++) {
        const cd_arch_tensor *t = &l.v[i];
        uint64_t n = numel(t), tseed = splitmix(seed) ^ fnv1a(t->name);
        for (uint64_t s = 0; s < n; s += CHUNK) {
            size_t m = (size_t)(n - s < CHUNK ? n - s : CHUNK);
            size_t bytes;
            gen(t, tseed, s, m, fv);
            if (t->is_int64) {
                for (size_t j = 0; j < m; j++) {
                    int64_t v = (int64_t)fv[j];
                    for (int b = 0; b < 8; b++)
                        ob[8 * j + b] = (unsigned char)(((uint64_t)v >> (8 * b)) & 0xff);
                }
                bytes = 8 * m;
            } else if (dtype == CD_DT_F32) {
                for (size_t j = 0; j < m; j++) {
                    uint32_t u;
                    memcpy(&u, &fv[j], 4);
                    for (int b = 0; b < 4; b++)
                        ob[4 * j + b] = (unsigned char)((u >> (8 * b)) & 0xff);
                }
                bytes = 4 * m;
            } else {
                for (size_t j = 0; j < m; j++) {
                    uint16_t u = dtype == CD_DT_F16 ? cd_f32_to_f16(fv[j]) : cd_f32_to_bf16(fv[j]);
                    ob[2 * j] = (unsigned char)(u & 0xff);
                    ob[2 * j + 1] = (unsigned char)(u >> 8);
                }
                bytes = 2 * m;
            }
            if (fwrite(ob, 1, bytes, fp) != bytes)
                goto werr;
        }
    }
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0)
        goto werr;
    if (fclose(fp) != 0) {
        fp = NULL;
        goto werr;
    }
    fp = NULL;
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (total_bytes)
        *total_bytes = h.len + off;
    if (n_params)
        *n_params = params;
    rc = 0;
    goto out;
werr:
    snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    if (fp)
        fclose(fp);
    fp = NULL;
    unlink(tmp);
    rc = CD_MODEL_EIO;
out:
    if (rc == CD_MODEL_ENOMEM && err && errlen)
        snprintf(err, errlen, "out of memory");
    if (fp) {
        fclose(fp);
        unlink(tmp);
    }
    free(fv);
    free(ob);
    free(h.p);
    free(l.v);
    return rc;
}
