/*
 * internal.h — helpers shared by the kernel sources; not installed.
 */
#ifndef CK_INTERNAL_H
#define CK_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "comfyd/kernels.h"

/* Portable loops are built for AVX-512, AVX2 and baseline x86-64 and the
 * loader picks one per CPU (GCC function multi-versioning).  Sanitizer
 * builds keep one version. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(CK_NO_CLONES)
#define CK_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define CK_X86 1
#else
#define CK_CLONES
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define CK_X86_INTRIN 1
#endif

#define CK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CK_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Bit casts that compilers vectorise. */
__attribute__((always_inline)) static inline uint32_t ck_f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
__attribute__((always_inline)) static inline float ck_u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* exp(x) for f32 with ~2 ulp error on [-87.3, 88.7]; below returns 0,
 * above +inf.  Branch-free so loops using it vectorise. */
__attribute__((always_inline)) static inline float ck_expf(float x)
{
    const float lo = -87.33654f, hi = 88.72283f;
    float xc = x < lo ? lo : (x > hi ? hi : x);
    /* round to nearest with the 1.5 * 2^23 trick (vectorises, no libm) */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693145751953125f;
    r = r - n * 1.428606765330187045e-06f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* 2^n in two halves so n = 128 does not overflow the exponent. */
    int32_t ni = (int32_t)n;
    int32_t n1 = ni >> 1, n2 = ni - n1;
    float s1 = ck_u2f((uint32_t)(n1 + 127) << 23);
    float s2 = ck_u2f((uint32_t)(n2 + 127) << 23);
    float res = p * s1 * s2;
    res = x < lo ? 0.0f : res;
    res = x > hi ? __builtin_inff() : res;
    return x != x ? x : res;
}

/* erf(x), max abs error ~1.2e-7 (W. J. Cody style rational, via exp). */
__attribute__((always_inline)) static inline float ck_erff(float x)
{
    float ax = x < 0 ? -x : x;
    /* Abramowitz & Stegun 7.1.26 is too coarse; use erf = 1 - erfc with
     * a Numerical-Recipes-style Chebyshev fit of erfc (rel err < 1.2e-7). */
    float t = 1.0f / (1.0f + 0.5f * ax);
    float y = t * ck_expf(-ax * ax - 1.26551223f +
        t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
        t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f +
        t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f)))))))));
    float r = 1.0f - y;
    return x < 0 ? -r : r;
}

__attribute__((always_inline)) static inline float ck_sigmoidf(float x) { return 1.0f / (1.0f + ck_expf(-x)); }

__attribute__((always_inline)) static inline float ck_tanhf(float x)
{
    float ax = x < 0 ? -x : x;
    float e = ck_expf(-2.0f * ax);
    float r = (1.0f - e) / (1.0f + e);
    return x < 0 ? -r : r;
}

/* Per-call scratch: 64-byte aligned, freed with ck_free. */
void *ck_alloc(size_t bytes);
void ck_free(void *p);

/* Splits [0, n) into `parts` near-equal ranges; range i is [*b, *e). */
static inline void ck_split(int64_t n, int64_t parts, int64_t i, int64_t *b,
                            int64_t *e)
{
    int64_t q = n / parts, r = n % parts;
    *b = i * q + (i < r ? i : r);
    *e = *b + q + (i < r ? 1 : 0);
}

/* The pool's oneDNN engine and stream (NULL without oneDNN or pool). */
void *ck_pool_dnnl_engine(ck_pool *p);
void *ck_pool_dnnl_stream(ck_pool *p);

/* oneDNN paths (dnnl.c); each returns 1 when it did not handle the case
 * (the caller then uses our own code), 0 on success, < 0 on error. */
int ck_dnnl_linear(ck_pool *p, const float *x, int64_t M, int64_t K,
                   const void *w, int wdt, int64_t N, const float *bias,
                   float *y, int prec);
int ck_dnnl_conv2d(ck_pool *p, const ck_conv2d_desc *d, const float *x,
                   const void *w, int wdt, const float *bias, float *y,
                   int prec);
int ck_dnnl_gemm_f32(ck_pool *p, int ta, int tb, int64_t M, int64_t N,
                     int64_t K, float alpha, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float beta, float *C,
                     int64_t ldc);

/* Our own blocked SGEMM (gemm.c), always available. */
int ck_gemm_own(ck_pool *p, int ta, int tb, int64_t M, int64_t N, int64_t K,
                float alpha, const float *A, int64_t lda, const float *B,
                int64_t ldb, float beta, float *C, int64_t ldc);

/* 1 when ops on this pool may use oneDNN (see ck_pool_use_dnnl). */
int ck_pool_dnnl_on(const ck_pool *p);

#endif
