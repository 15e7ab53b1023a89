/*
 * dnnl.c — matmul and convolution through oneDNN (Debian libdnnl-dev).
 *
 * Built only when oneDNN is found (CK_HAVE_DNNL).  Primitives are made per
 * call; oneDNN's own primitive cache makes repeated shapes cheap.  Weights
 * in PyTorch layout are described as such and oneDNN reorders them into
 * the layout its kernel wants (for convolution, a reorder per call, which is
 * O(weights) against O(weights * pixels) for the convolution itself).
 * Activations stay NHWC / row-major so no activation reorders happen.
 */
#include <stdlib.h>

#include "internal.h"

#ifdef CK_HAVE_DNNL
#include <dnnl.h>

/* OpenMP's thread count is per calling thread: set it to the pool's on the
 * thread that runs the op (the executor), not only where the pool was made. */
static void omp_threads(ck_pool *p)
{
    extern void omp_set_num_threads(int);
    omp_set_num_threads(ck_pool_threads(p));
}

#define CHECK(call)                     \
    do {                                \
        if ((call) != dnnl_success) {   \
            rc = COMFY_ERR;             \
            goto out;                   \
        }                               \
    } while (0)

int ck_dnnl_gemm_f32(ck_pool *p, int ta, int tb, int64_t M, int64_t N,
                     int64_t K, float alpha, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float beta, float *C,
                     int64_t ldc)
{
    if (M == 0 || N == 0)
        return 0;
    if (K == 0)
        return 1; /* our code handles the pure beta scaling */
    omp_threads(p);
    return dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda,
                      B, ldb, beta, C, ldc) == dnnl_success ? 0 : 1;
}

/* Runs a reorder from (src_md, src) to (dst_md, dst). */
static int reorder(ck_pool *p, const dnnl_memory_desc_t *src_md, const void *src,
                   const dnnl_memory_desc_t *dst_md, void *dst)
{
    dnnl_engine_t eng = ck_pool_dnnl_engine(p);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t ms = NULL, md = NULL;
    int rc = 0;
    CHECK(dnnl_reorder_primitive_desc_create(&pd, src_md, eng, dst_md, eng, NULL));
    CHECK(dnnl_primitive_create(&prim, pd));
    CHECK(dnnl_memory_create(&ms, src_md, eng, (void *)src));
    CHECK(dnnl_memory_create(&md, dst_md, eng, dst));
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, ms }, { DNNL_ARG_TO, md } };
    CHECK(dnnl_primitive_execute(prim, ck_pool_dnnl_stream(p), 2, args));
    CHECK(dnnl_stream_wait(ck_pool_dnnl_stream(p)));
out:
    if (md) dnnl_memory_destroy(md);
    if (ms) dnnl_memory_destroy(ms);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return rc;
}

/* Gets x in f32 or bf16 as the precision asks; *owned is scratch to free. */
static const void *as_prec(ck_pool *p, const void *x, int dt, int64_t n, int prec,
                           void **owned)
{
    *owned = NULL;
    int want = prec == CK_PREC_BF16 ? COMFY_BF16 : COMFY_F32;
    if (dt == want)
        return x;
    if (want == COMFY_F32) {
        float *f = ck_alloc((size_t)n * sizeof(float));
        if (!f || ck_to_f32(p, x, dt, f, n) != 0) {
            ck_free(f);
            return NULL;
        }
        *owned = f;
        return f;
    }
    uint16_t *b = ck_alloc((size_t)n * sizeof(uint16_t));
    if (!b)
        return NULL;
    if (dt == COMFY_F32) {
        ck_f32_to_bf16(p, x, b, n);
    } else {
        float *f = ck_alloc((size_t)n * sizeof(float));
        if (!f || ck_to_f32(p, x, dt, f, n) != 0) {
            ck_free(f);
            ck_free(b);
            return NULL;
        }
        ck_f32_to_bf16(p, f, b, n);
        ck_free(f);
    }
    *owned = b;
    return b;
}

/* Runs the forward primitive of `pd` (a matmul or convolution) on x, w
 * and y with the given descriptors, plus bias (bmd) when bias is not NULL,
 * and waits for it.  0 or COMFY_ERR.  pd stays the caller's. */
static int run_forward(ck_pool *p, dnnl_primitive_desc_t pd, const dnnl_memory_desc_t *xmd,
                       const void *x, const dnnl_memory_desc_t *wmd, const void *w,
                       const dnnl_memory_desc_t *bmd, const float *bias,
                       const dnnl_memory_desc_t *ymd, float *y)
{
    dnnl_engine_t eng = ck_pool_dnnl_engine(p);
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t mx = NULL, mw = NULL, mb = NULL, my = NULL;
    int rc = 0;
    CHECK(dnnl_primitive_create(&prim, pd));
    CHECK(dnnl_memory_create(&mx, xmd, eng, (void *)x));
    CHECK(dnnl_memory_create(&mw, wmd, eng, (void *)w));
    CHECK(dnnl_memory_create(&my, ymd, eng, y));
    dnnl_exec_arg_t args[4] = { { DNNL_ARG_SRC, mx }, { DNNL_ARG_WEIGHTS, mw },
                                { DNNL_ARG_DST, my }, { DNNL_ARG_BIAS, NULL } };
    int nargs = 3;
    if (bias) {
        CHECK(dnnl_memory_create(&mb, bmd, eng, (void *)bias));
        args[3].memory = mb;
        nargs = 4;
    }
    CHECK(dnnl_primitive_execute(prim, ck_pool_dnnl_stream(p), nargs, args));
    CHECK(dnnl_stream_wait(ck_pool_dnnl_stream(p)));
out:
    if (mb) dnnl_memory_destroy(mb);
    if (my) dnnl_memory_destroy(my);
    if (mw) dnnl_memory_destroy(mw);
    if (mx) dnnl_memory_destroy(mx);
    if (prim) dnnl_primitive_destroy(prim);
    return rc;
}

int ck_dnnl_linear(ck_pool *p, const float *x, int64_t M, int64_t K,
                   const void *w, int wdt, int64_t N, const float *bias,
                   float *y, int prec)
{
    dnnl_engine_t eng = ck_pool_dnnl_engine(p);
    if (!eng)
        return 1;
    if (prec == CK_PREC_BF16 && !(ck_cpu_features() & CK_CPU_AVX512BF16))
        return 1; /* oneDNN's bf16 emulation is slow; our path is better */
    dnnl_data_type_t cdt = prec == CK_PREC_BF16 ? dnnl_bf16 : dnnl_f32;
    omp_threads(p);
    void *xo = NULL, *wo = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int rc = 0;
    const void *xs = as_prec(p, x, COMFY_F32, M * K, prec, &xo);
    const void *ws = as_prec(p, w, wdt, N * K, prec, &wo);
    if (!xs || !ws) {
        rc = COMFY_ENOMEM;
        goto out;
    }
    dnnl_memory_desc_t xmd, wmd, bmd, ymd;
    dnnl_dims_t xd = { M, K }, wd = { K, N }, bd = { 1, N }, yd = { M, N };
    CHECK(dnnl_memory_desc_init_by_tag(&xmd, 2, xd, cdt, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&wmd, 2, wd, cdt, dnnl_ba));
    CHECK(dnnl_memory_desc_init_by_tag(&bmd, 2, bd, dnnl_f32, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&ymd, 2, yd, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    CHECK(dnnl_matmul_desc_init(&md, &xmd, &wmd, bias ? &bmd : NULL, &ymd));
    if (dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL) != dnnl_success) {
        rc = 1;
        goto out;
    }
    rc = run_forward(p, pd, &xmd, xs, &wmd, ws, &bmd, bias, &ymd, y);
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    ck_free(xo);
    ck_free(wo);
    return rc;
}

int ck_dnnl_conv2d(ck_pool *p, const ck_conv2d_desc *d, const float *x,
                   const void *w, int wdt, const float *bias, float *y,
                   int prec)
{
    dnnl_engine_t eng = ck_pool_dnnl_engine(p);
    if (!eng)
        return 1;
    if (prec == CK_PREC_BF16 && !(ck_cpu_features() & CK_CPU_AVX512BF16))
        return 1;
    dnnl_data_type_t cdt = prec == CK_PREC_BF16 ? dnnl_bf16 : dnnl_f32;
    omp_threads(p);
    int64_t oh = ck_conv2d_out_h(d), ow = ck_conv2d_out_w(d);
    void *xo = NULL, *wo = NULL, *wr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int rc = 0;
    const void *xs = as_prec(p, x, COMFY_F32, d->n * d->h * d->w * d->c_in, prec, &xo);
    const void *ws = as_prec(p, w, wdt, d->c_out * d->c_in * d->kh * d->kw, prec, &wo);
    if (!xs || !ws) {
        rc = COMFY_ENOMEM;
        goto out;
    }
    dnnl_memory_desc_t xmd, wany, wuser, bmd, ymd;
    dnnl_dims_t xd = { d->n, d->c_in, d->h, d->w };
    dnnl_dims_t wd = { d->c_out, d->c_in, d->kh, d->kw };
    dnnl_dims_t bd = { d->c_out };
    dnnl_dims_t yd = { d->n, d->c_out, oh, ow };
    dnnl_dims_t st = { d->stride_h, d->stride_w };
    dnnl_dims_t pl = { d->pad_h, d->pad_w };
    /* right padding so the output size matches floor division */
    dnnl_dims_t pr = { (oh - 1) * d->stride_h + d->kh - d->h - d->pad_h,
                       (ow - 1) * d->stride_w + d->kw - d->w - d->pad_w };
    CHECK(dnnl_memory_desc_init_by_tag(&xmd, 4, xd, cdt, dnnl_nhwc));
    CHECK(dnnl_memory_desc_init_by_tag(&wany, 4, wd, cdt, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&wuser, 4, wd, cdt, dnnl_oihw));
    CHECK(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a));
    CHECK(dnnl_memory_desc_init_by_tag(&ymd, 4, yd, dnnl_f32, dnnl_nhwc));
    dnnl_convolution_desc_t cd;
    if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                           dnnl_convolution_direct, &xmd, &wany,
                                           bias ? &bmd : NULL, &ymd, st, pl,
                                           pr) != dnnl_success) {
        rc = 1; /* e.g. a shape oneDNN refuses: our own code takes it */
        goto out;
    }
    if (dnnl_primitive_desc_create(&pd, &cd, NULL, eng, NULL) != dnnl_success) {
        rc = 1;
        goto out;
    }
    const dnnl_memory_desc_t *wpd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const void *wexec = ws;
    if (!dnnl_memory_desc_equal(wpd, &wuser)) {
        wr = ck_alloc(dnnl_memory_desc_get_size(wpd));
        if (!wr) {
            rc = COMFY_ENOMEM;
            goto out;
        }
        rc = reorder(p, &wuser, ws, wpd, wr);
        if (rc)
            goto out;
        wexec = wr;
    }
    rc = run_forward(p, pd, &xmd, xs, wpd, wexec, &bmd, bias, &ymd, y);
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    ck_free(xo);
    ck_free(wo);
    ck_free(wr);
    return rc;
}

#else /* !CK_HAVE_DNNL */

int ck_dnnl_gemm_f32(ck_pool *p, int ta, int tb, int64_t M, int64_t N,
                     int64_t K, float alpha, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float beta, float *C,
                     int64_t ldc)
{
    (void)p; (void)ta; (void)tb; (void)M; (void)N; (void)K; (void)alpha;
    (void)A; (void)lda; (void)B; (void)ldb; (void)beta; (void)C; (void)ldc;
    return 1;
}

int ck_dnnl_linear(ck_pool *p, const float *x, int64_t M, int64_t K,
                   const void *w, int wdt, int64_t N, const float *bias,
                   float *y, int prec)
{
    (void)p; (void)x; (void)M; (void)K; (void)w; (void)wdt; (void)N;
    (void)bias; (void)y; (void)prec;
    return 1;
}

int ck_dnnl_conv2d(ck_pool *p, const ck_conv2d_desc *d, const float *x,
                   const void *w, int wdt, const float *bias, float *y,
                   int prec)
{
    (void)p; (void)d; (void)x; (void)w; (void)wdt; (void)bias; (void)y;
    (void)prec;
    return 1;
}
#endif
