/*
 * nets_common.c — weight loading, scratch and small NHWC helpers shared by
 * unet.c and vae.c (see nets_internal.h).
 */
#include "nets_internal.h"

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tensor.h"

void ns_init(nstore *s, const cd_sd *sd, const char *prefix, int mode, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->sd = sd;
    s->prefix = prefix ? prefix : "";
    s->mode = mode;
    s->err = err;
    s->errlen = err ? errlen : 0;
    if (s->err && s->errlen)
        s->err[0] = 0;
}

void ns_release(void **owned, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(owned[i]);
    free(owned);
}

static void vname(nstore *s, const char *fmt, va_list ap)
{
    int k = snprintf(s->name, sizeof s->name, "%s", s->prefix);
    if (k < 0 || (size_t)k >= sizeof s->name)
        k = 0;
    vsnprintf(s->name + k, sizeof s->name - (size_t)k, fmt, ap);
}

void ns_name(nstore *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vname(s, fmt, ap);
    va_end(ap);
}

const cd_tensor *ns_find(nstore *s, const char *fmt, ...)
{
    char saved[sizeof s->name];
    memcpy(saved, s->name, sizeof saved);
    va_list ap;
    va_start(ap, fmt);
    vname(s, fmt, ap);
    va_end(ap);
    const cd_tensor *t = cd_sd_find(s->sd, s->name);
    memcpy(s->name, saved, sizeof saved);
    return t;
}

int ns_has(nstore *s, const char *fmt, ...)
{
    char saved[sizeof s->name];
    memcpy(saved, s->name, sizeof saved);
    va_list ap;
    va_start(ap, fmt);
    vname(s, fmt, ap);
    va_end(ap);
    int r = cd_sd_find(s->sd, s->name) != NULL;
    memcpy(s->name, saved, sizeof saved);
    return r;
}

static void serr(nstore *s, const char *fmt, const char *name)
{
    if (s->err && s->errlen)
        snprintf(s->err, s->errlen, fmt, name);
}

/* Takes ownership of p (NULL: out of memory). */
static void *keep(nstore *s, void *p, size_t bytes)
{
    if (!p)
        return NULL;
    if (s->n_owned == s->cap_owned) {
        size_t cap = s->cap_owned ? 2 * s->cap_owned : 256;
        void **o = realloc(s->owned, cap * sizeof *o);
        if (!o) {
            free(p);
            return NULL;
        }
        s->owned = o;
        s->cap_owned = cap;
    }
    s->owned[s->n_owned++] = p;
    s->bytes += bytes;
    return p;
}

/* The tensor s->name with numel n and a float dtype, or NULL (err set,
 * *rc the status). */
static const cd_tensor *get(nstore *s, int64_t n, int *rc)
{
    const cd_tensor *t = cd_sd_find(s->sd, s->name);
    if (!t) {
        serr(s, "missing tensor %s", s->name);
        *rc = COMFY_ENOENT;
        return NULL;
    }
    if (!cd_dtype_is_float(t->dtype) || cd_tensor_numel(t) != n) {
        if (s->err && s->errlen)
            snprintf(s->err, s->errlen, "tensor %s has %lld elements of %s, expected %lld floats",
                     s->name, (long long)cd_tensor_numel(t), cd_dtype_name(t->dtype),
                     (long long)n);
        *rc = COMFY_EINVAL;
        return NULL;
    }
    s->params += n;
    return t;
}

int ns_vec(nstore *s, float **out, int64_t n)
{
    int rc = 0;
    const cd_tensor *t = get(s, n, &rc);
    if (!t)
        return rc;
    float *p = keep(s, malloc((size_t)n * sizeof *p), (size_t)n * sizeof *p);
    if (!p)
        return COMFY_ENOMEM;
    if (cd_tensor_to_f32(t, p, (size_t)n) < 0) {
        serr(s, "cannot read tensor %s", s->name);
        return COMFY_EINVAL;
    }
    *out = p;
    return 0;
}

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21 /* Linux 5.4 */
#endif

/* After a tensor was copied, asks the kernel to reclaim the whole pages of
 * its source: for a mapped checkpoint they are clean file pages, so the
 * mapping stops counting in RSS beside the copy (they are read again if
 * touched).  MADV_PAGEOUT never changes contents (anonymous memory without
 * swap simply stays), so this is safe whatever holds the data; errors
 * (an older kernel) are ignored. */
static void release_source(const cd_tensor *t)
{
    static long page;
    if (!page)
        page = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
    uintptr_t a = ((uintptr_t)t->data + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t e = ((uintptr_t)t->data + (uintptr_t)t->nbytes) & ~((uintptr_t)page - 1);
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_PAGEOUT);
}

/* A matmul weight of n elements whose leading dims must be shape0/shape1
 * (dims past ndim_expected must be 1). */
static int weight(nstore *s, nw *w, int64_t d0, int64_t d1, int64_t k)
{
    int rc = 0;
    const int64_t n = d0 * d1 * k * k;
    const cd_tensor *t = get(s, n, &rc);
    if (!t)
        return rc;
    int ok = t->ndim >= 2 && t->shape[0] == d0 && t->shape[1] == d1;
    for (int i = 2; ok && i < t->ndim; i++)
        ok = t->shape[i] == (i < 4 ? k : 1);
    if (ok && k > 1)
        ok = t->ndim == 4;
    if (!ok) {
        if (s->err && s->errlen)
            snprintf(s->err, s->errlen, "tensor %s has shape [%lld, %lld, ...], expected [%lld, %lld%s]",
                     s->name, (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : 0),
                     (long long)d0, (long long)d1, k > 1 ? ", k, k" : "");
        return COMFY_EINVAL;
    }
    int dt = t->dtype == CD_DT_F32 ? COMFY_F32 : t->dtype == CD_DT_F16 ? COMFY_F16
           : t->dtype == CD_DT_BF16 ? COMFY_BF16 : -1;
    if (s->mode == CD_NETS_WEIGHTS_STORED && dt >= 0) {
        size_t es = cd_dtype_size(t->dtype);
        if (dt != COMFY_F32 && n > s->wmax)
            s->wmax = n;
        if (((uintptr_t)t->data % es) == 0) {
            w->p = t->data;
            w->dt = dt;
            return 0;
        }
        void *c = keep(s, malloc((size_t)t->nbytes), (size_t)t->nbytes);
        if (!c)
            return COMFY_ENOMEM;
        memcpy(c, t->data, (size_t)t->nbytes);
        w->p = c;
        w->dt = dt;
        return 0;
    }
    float *f = malloc((size_t)n * sizeof *f);
    if (!f)
        return COMFY_ENOMEM;
    if (cd_tensor_to_f32(t, f, (size_t)n) < 0) {
        free(f);
        serr(s, "cannot read tensor %s", s->name);
        return COMFY_EINVAL;
    }
    release_source(t);
    if (s->mode == CD_NETS_WEIGHTS_BF16) {
        uint16_t *h = keep(s, malloc((size_t)n * sizeof *h), (size_t)n * sizeof *h);
        if (!h) {
            free(f);
            return COMFY_ENOMEM;
        }
        ck_f32_to_bf16(NULL, f, h, n);
        free(f);
        if (n > s->wmax)
            s->wmax = n;
        w->p = h;
        w->dt = COMFY_BF16;
        return 0;
    }
    if (!keep(s, f, (size_t)n * sizeof *f))
        return COMFY_ENOMEM;
    w->p = f;
    w->dt = COMFY_F32;
    return 0;
}

int ns_lin(nstore *s, const char *base, nlin *l, int64_t in, int64_t out, int bias)
{
    int rc;
    l->in = in;
    l->out = out;
    l->b = NULL;
    ns_name(s, "%s.weight", base);
    if ((rc = weight(s, &l->w, out, in, 1)) < 0)
        return rc;
    if (bias) {
        ns_name(s, "%s.bias", base);
        if ((rc = ns_vec(s, &l->b, out)) < 0)
            return rc;
    }
    return 0;
}

int ns_conv(nstore *s, const char *base, nconv *c, int64_t cin, int64_t cout, int64_t k)
{
    int rc;
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    ns_name(s, "%s.weight", base);
    if ((rc = weight(s, &c->w, cout, cin, k)) < 0)
        return rc;
    ns_name(s, "%s.bias", base);
    return ns_vec(s, &c->b, cout);
}

int ns_norm(nstore *s, const char *base, nnorm *n, int64_t c)
{
    int rc;
    n->c = c;
    ns_name(s, "%s.weight", base);
    if ((rc = ns_vec(s, &n->g, c)) < 0)
        return rc;
    ns_name(s, "%s.bias", base);
    return ns_vec(s, &n->b, c);
}

int nr_fail(const cd_nets_run *r, int rc, const char *fmt, ...)
{
    if (r && r->err && r->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int nr_check(const cd_nets_run *r)
{
    if (r->interrupted && r->interrupted(r->user))
        return nr_fail(r, COMFY_EINTERRUPTED, "interrupted");
    return 0;
}

float *nr_scratch(const cd_nets_run *r, size_t bytes, void **heap)
{
    *heap = NULL;
    float *p;
    if (r->arena) {
        p = ck_arena_alloc(r->arena, bytes);
    } else {
        p = NULL;
        if (posix_memalign((void **)&p, 64, bytes ? bytes : 64) != 0)
            p = NULL;
        *heap = p;
    }
    if (!p)
        nr_fail(r, COMFY_ENOMEM, "out of memory: the forward pass needs %.1f MiB of scratch%s",
                (double)bytes / 1048576.0, r->arena ? " (arena ceiling or memory exhausted)" : "");
    return p;
}

/* The weight to hand the kernels: widened into e->wbuf when it is kept in
 * f16/bf16, the compute is f32 and the buffer is large enough. */
static int widen(ck_pool *p, const nw *w, int64_t n, const nexec *e, const void **wp, int *dt)
{
    *wp = w->p;
    *dt = w->dt;
    if (w->dt == COMFY_F32 || e->prec != CK_PREC_F32 || !e->wbuf || n > e->wcap)
        return 0;
    int rc = ck_to_f32(p, w->p, w->dt, e->wbuf, n);
    if (rc < 0)
        return rc;
    *wp = e->wbuf;
    *dt = COMFY_F32;
    return 0;
}

int nl_apply(ck_pool *p, const nlin *l, const float *x, int64_t rows, float *y, const nexec *e)
{
    const void *wp;
    int dt, rc;
    if ((rc = widen(p, &l->w, l->in * l->out, e, &wp, &dt)) < 0)
        return rc;
    return ck_linear(p, x, rows, l->in, wp, dt, l->out, l->b, y, e->prec);
}

int nc_apply(ck_pool *p, const nconv *c, const float *x, int64_t n, int64_t h, int64_t w,
             int64_t stride, int64_t pad, float *y, const nexec *e)
{
    const void *wp;
    int dt, rc;
    if ((rc = widen(p, &c->w, c->cin * c->cout * c->k * c->k, e, &wp, &dt)) < 0)
        return rc;
    ck_conv2d_desc d = {n, h, w, c->cin, c->cout, c->k, c->k, stride, stride, pad, pad};
    return ck_conv2d_nhwc(p, &d, x, wp, dt, c->b, y, e->prec);
}

int nadd(ck_pool *p, const float *a, const float *b, float *y, int64_t n)
{
    int64_t s[1] = {n};
    return ck_binary(p, CK_BIN_ADD, a, s, 1, b, s, 1, y);
}

int64_t nt_pyround(double x)
{
    return (int64_t)nearbyint(x);
}

float nt_feather(float m, int64_t i, int64_t n, int64_t f)
{
    if (f >= n)
        return m;
    const int64_t tf = i, tb = n - 1 - i;
    if (tf <= tb) {
        if (tf < f)
            m *= (float)((double)(tf + 1) / (double)f);
        if (tb < f)
            m *= (float)((double)(tb + 1) / (double)f);
    } else {
        if (tb < f)
            m *= (float)((double)(tb + 1) / (double)f);
        if (tf < f)
            m *= (float)((double)(tf + 1) / (double)f);
    }
    return m;
}
