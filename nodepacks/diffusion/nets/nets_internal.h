/*
 * nets_internal.h — helpers the UNet and the VAE share (not installed):
 * weight loading into the keeping mode of nets.h, per-call scratch, and
 * small NHWC building blocks over comfyd_kernels.
 */
#ifndef CD_NETS_INTERNAL_H
#define CD_NETS_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <comfy/comfy.h>
#include <comfyd/kernels.h>

#include "nets.h"
#include "statedict.h"

/* A matmul / convolution weight: data in dtype dt (COMFY_F32/F16/BF16),
 * either owned by the store or borrowed from the file. */
typedef struct nw {
    const void *p;
    int dt;
} nw;

/* A linear layer (or a 1x1 convolution, which is one in NHWC). */
typedef struct nlin {
    nw w;
    float *b; /* NULL: no bias */
    int64_t in, out;
} nlin;

/* A k x k convolution. */
typedef struct nconv {
    nw w;
    float *b;
    int64_t cin, cout, k;
} nconv;

/* Norm affine parameters. */
typedef struct nnorm {
    float *g, *b;
    int64_t c;
} nnorm;

/* How one call applies layers: compute precision, and a scratch buffer of
 * wcap floats where weights kept in f16/bf16 are widened before an f32
 * matmul/convolution (NULL: let the kernels convert, into memory they
 * allocate per call). */
typedef struct nexec {
    int prec;
    float *wbuf;
    int64_t wcap;
} nexec;

/* Loading state: the source, the keeping mode, the arrays owned. */
typedef struct nstore {
    const cd_sd *sd;
    const char *prefix;
    int mode; /* CD_NETS_WEIGHTS_* */
    char *err;
    size_t errlen;
    void **owned;
    size_t n_owned, cap_owned;
    uint64_t bytes;
    int64_t params;
    int64_t wmax; /* largest matmul/conv weight not kept in f32 (elements) */
    char name[512];
} nstore;

void ns_init(nstore *s, const cd_sd *sd, const char *prefix, int mode, char *err, size_t errlen);
/* Frees every owned array (the loaded model's weights). */
void ns_release(void **owned, size_t n);

/* Sets s->name from a printf pattern (prefix prepended). */
void ns_name(nstore *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Loaders of the tensor named by s->name (set with ns_name first).
 * Return 0 or COMFY_ENOENT / COMFY_EINVAL / COMFY_ENOMEM with s->err set. */
int ns_vec(nstore *s, float **out, int64_t n);
/* A linear weight [out, in] (or a 1x1 conv [out, in, 1, 1]). */
int ns_lin(nstore *s, const char *base, nlin *l, int64_t in, int64_t out, int bias);
int ns_conv(nstore *s, const char *base, nconv *c, int64_t cin, int64_t cout, int64_t k);
int ns_norm(nstore *s, const char *base, nnorm *n, int64_t c);
/* 1 when the tensor s->prefix + name exists. */
int ns_has(nstore *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The tensor prefix + name or NULL. */
const cd_tensor *ns_find(nstore *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Error text into run->err. Returns rc. */
int nr_fail(const cd_nets_run *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* COMFY_EINTERRUPTED when the run's check says so, else 0. */
int nr_check(const cd_nets_run *r);

/* Scratch of `bytes` for one call: from the arena or malloc (then *heap
 * is set to the pointer to free). NULL with run->err set when it cannot
 * be had. */
float *nr_scratch(const cd_nets_run *r, size_t bytes, void **heap);

/* y[rows, out] = x[rows, in] · Wᵀ + b. */
int nl_apply(ck_pool *p, const nlin *l, const float *x, int64_t rows, float *y, const nexec *e);
/* NHWC conv with the given stride and symmetric zero padding. */
int nc_apply(ck_pool *p, const nconv *c, const float *x, int64_t n, int64_t h, int64_t w,
             int64_t stride, int64_t pad, float *y, const nexec *e);
/* y = a + b (same n elements), y may equal a. */
int nadd(ck_pool *p, const float *a, const float *b, float *y, int64_t n);

/* comfy.utils.tiled_scale's pieces, shared by the tiled VAE, TAESD and
 * ESRGAN passes. */
/* Python's round() of a double: half to even. */
int64_t nt_pyround(double x);
/* m times the feather factors of index i of n along one dim (feather f),
 * multiplied in the order tiled_scale's loops apply them (the order
 * matters to the last float bit). */
float nt_feather(float m, int64_t i, int64_t n, int64_t f);

#endif
