/*
 * linear.c — linear layers (ck_linear) and 2-D convolution (ck_conv2d_nhwc).
 *
 * Both try oneDNN first (when built with it and the pool allows it) and
 * otherwise run our own code: weights converted to the compute precision,
 * our SGEMM, and for convolution an im2col of a bounded band of output
 * pixels at a time.  The bf16 precision of our own path rounds inputs and
 * weights to bf16 and multiplies in f32, which is what vdpbf16ps computes.
 */
#include <stdlib.h>

#include "internal.h"

/* Converts n values of dtype dt to f32, rounded through bf16 when asked.
 * Returns new scratch (ck_free) or NULL. */
static float *weights_f32(ck_pool *p, const void *w, int dt, int64_t n, int bf16)
{
    float *f = ck_alloc((size_t)n * sizeof(float));
    if (!f)
        return NULL;
    if (ck_to_f32(p, w, dt, f, n) != 0) {
        ck_free(f);
        return NULL;
    }
    if (bf16 && dt != COMFY_BF16)
        for (int64_t i = 0; i < n; i++)
            f[i] = ck_bf16_to_f32_1(ck_f32_to_bf16_1(f[i]));
    return f;
}

static void add_bias(float *y, int64_t rows, int64_t n, int64_t ld, const float *bias)
{
    if (!bias)
        return;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < n; c++)
            y[r * ld + c] += bias[c];
}

int ck_linear(ck_pool *p, const float *x, int64_t M, int64_t K, const void *w,
              int wdt, int64_t N, const float *bias, float *y, int prec)
{
    if (M < 0 || K <= 0 || N <= 0 || !x || !w || !y ||
        (wdt != COMFY_F32 && wdt != COMFY_F16 && wdt != COMFY_BF16) ||
        (prec != CK_PREC_F32 && prec != CK_PREC_BF16))
        return COMFY_EINVAL;
    if (M == 0)
        return 0;
    if (ck_pool_dnnl_on(p)) {
        int rc = ck_dnnl_linear(p, x, M, K, w, wdt, N, bias, y, prec);
        if (rc <= 0)
            return rc;
    }
    int bf = prec == CK_PREC_BF16;
    const float *wf = w;
    float *wo = NULL, *xo = NULL;
    int rc = 0;
    if (wdt != COMFY_F32 || bf) {
        wo = weights_f32(p, w, wdt, N * K, bf);
        if (!wo)
            return COMFY_ENOMEM;
        wf = wo;
    }
    const float *xf = x;
    if (bf) {
        xo = weights_f32(p, x, COMFY_F32, M * K, 1);
        if (!xo) {
            rc = COMFY_ENOMEM;
            goto out;
        }
        xf = xo;
    }
    rc = ck_gemm_own(p, 0, 1, M, N, K, 1.0f, xf, K, wf, K, 0.0f, y, N);
    if (rc == 0)
        add_bias(y, M, N, N, bias);
out:
    ck_free(wo);
    ck_free(xo);
    return rc;
}

int64_t ck_conv2d_out_h(const ck_conv2d_desc *d)
{
    if (d->stride_h < 1)
        return 0;
    return (d->h + 2 * d->pad_h - d->kh) / d->stride_h + 1;
}

int64_t ck_conv2d_out_w(const ck_conv2d_desc *d)
{
    if (d->stride_w < 1)
        return 0;
    return (d->w + 2 * d->pad_w - d->kw) / d->stride_w + 1;
}

#define IM2COL_ROWS 1024

struct im2col_job {
    const ck_conv2d_desc *d;
    const float *x;        /* one image                                    */
    float *col;            /* [rows][kh*kw*c_in]                           */
    int64_t p0, rows, ow;
    int hwc;               /* column order (i, j, c) instead of (c, i, j)  */
};

static void im2col_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct im2col_job *j = arg;
    const ck_conv2d_desc *d = j->d;
    int64_t pix = j->p0 + t, oy = pix / j->ow, ox = pix % j->ow;
    int64_t kk = d->kh * d->kw * d->c_in;
    float *dst = j->col + t * kk;
    for (int64_t i = 0; i < d->kh; i++) {
        int64_t iy = oy * d->stride_h + i - d->pad_h;
        for (int64_t q = 0; q < d->kw; q++) {
            int64_t ix = ox * d->stride_w + q - d->pad_w;
            int inside = iy >= 0 && iy < d->h && ix >= 0 && ix < d->w;
            if (j->hwc) { /* one contiguous copy per tap */
                float *dd = dst + (i * d->kw + q) * d->c_in;
                if (inside)
                    memcpy(dd, j->x + (iy * d->w + ix) * d->c_in,
                           (size_t)d->c_in * sizeof(float));
                else
                    memset(dd, 0, (size_t)d->c_in * sizeof(float));
                continue;
            }
            /* order (c, i, j) matches OIHW weights as they are */
            const float *src = inside ? j->x + (iy * d->w + ix) * d->c_in : NULL;
            for (int64_t c = 0; c < d->c_in; c++)
                dst[(c * d->kh + i) * d->kw + q] = src ? src[c] : 0.0f;
        }
    }
}

/* OIHW weights of any supported dtype as f32 OHWI (the (i, j, c) column
 * order), rounded through bf16 when asked.  New scratch or NULL. */
static float *weights_ohwi_f32(ck_pool *p, const void *w, int dt,
                               const ck_conv2d_desc *d, int bf16)
{
    int64_t hw = d->kh * d->kw, n = d->c_out * d->c_in * hw;
    float *oihw = weights_f32(p, w, dt, n, bf16);
    if (!oihw || hw == 1)
        return oihw;
    float *ohwi = ck_alloc((size_t)n * sizeof(float));
    if (ohwi)
        for (int64_t o = 0; o < d->c_out; o++)
            for (int64_t c = 0; c < d->c_in; c++)
                for (int64_t k = 0; k < hw; k++)
                    ohwi[(o * hw + k) * d->c_in + c] = oihw[(o * d->c_in + c) * hw + k];
    ck_free(oihw);
    return ohwi;
}

int ck_conv2d_nhwc(ck_pool *p, const ck_conv2d_desc *d, const float *x,
                   const void *w, int wdt, const float *bias, float *y,
                   int prec)
{
    if (!d || !x || !w || !y || d->n < 0 || d->h <= 0 || d->w <= 0 ||
        d->c_in <= 0 || d->c_out <= 0 || d->kh <= 0 || d->kw <= 0 ||
        d->stride_h < 1 || d->stride_w < 1 || d->pad_h < 0 || d->pad_w < 0 ||
        (wdt != COMFY_F32 && wdt != COMFY_F16 && wdt != COMFY_BF16) ||
        (prec != CK_PREC_F32 && prec != CK_PREC_BF16))
        return COMFY_EINVAL;
    int64_t oh = ck_conv2d_out_h(d), ow = ck_conv2d_out_w(d);
    if (oh <= 0 || ow <= 0)
        return COMFY_EINVAL;
    if (d->n == 0)
        return 0;
    int64_t kk = d->kh * d->kw * d->c_in, npix = oh * ow;
    int direct = d->kh == 1 && d->kw == 1 && d->stride_h == 1 &&
                 d->stride_w == 1 && d->pad_h == 0 && d->pad_w == 0;
    /* oneDNN's direct convolution reorders the weights on every call, which
     * costs as much as the convolution itself when there are few pixels;
     * then (and for 1x1) the GEMM form with plain weights is faster. */
    int via_linear = ck_pool_dnnl_on(p) && (direct || d->n * npix < 1024);
    if (ck_pool_dnnl_on(p) && !via_linear) {
        int rc = ck_dnnl_conv2d(p, d, x, w, wdt, bias, y, prec);
        if (rc <= 0)
            return rc;
    }
    int bf = prec == CK_PREC_BF16;
    float *wo = NULL, *col = NULL, *xo = NULL;
    const float *wf = w;
    int rc = 0;
    const float *xf = x;
    /* our own GEMM: with many pixels, im2col in (i, j, c) order (a copy per
     * tap) pays for permuting the weights to OHWI; with few, the weights
     * stay OIHW and im2col gathers in (c, i, j) order */
    int hwc = !via_linear && d->n * npix >= 1024;
    if (via_linear) {
        if (direct)
            return ck_linear(p, x, d->n * npix, kk, w, wdt, d->c_out, bias, y, prec);
    } else {
        if (hwc)
            wo = weights_ohwi_f32(p, w, wdt, d, bf);
        else if (wdt != COMFY_F32 || bf)
            wo = weights_f32(p, w, wdt, d->c_out * kk, bf);
        if ((hwc || wdt != COMFY_F32 || bf) && !wo)
            return COMFY_ENOMEM;
        if (wo)
            wf = wo;
        if (bf) {
            xo = weights_f32(p, x, COMFY_F32, d->n * d->h * d->w * d->c_in, 1);
            if (!xo) {
                rc = COMFY_ENOMEM;
                goto out;
            }
            xf = xo;
        }
    }
    if (!direct) {
        col = ck_alloc((size_t)CK_MIN(IM2COL_ROWS, npix) * (size_t)kk * sizeof(float));
        if (!col) {
            rc = COMFY_ENOMEM;
            goto out;
        }
    }
    for (int64_t b = 0; b < d->n; b++) {
        const float *xb = xf + b * d->h * d->w * d->c_in;
        float *yb = y + b * npix * d->c_out;
        if (direct) {
            rc = ck_gemm_own(p, 0, 1, npix, d->c_out, kk, 1.0f, xb, kk, wf, kk,
                             0.0f, yb, d->c_out);
            if (rc)
                goto out;
            continue;
        }
        for (int64_t p0 = 0; p0 < npix; p0 += IM2COL_ROWS) {
            int64_t rows = CK_MIN(IM2COL_ROWS, npix - p0);
            struct im2col_job j = { d, xb, col, p0, rows, ow, hwc };
            ck_pool_run(p, rows, im2col_task, &j);
            if (via_linear)
                rc = ck_linear(p, col, rows, kk, w, wdt, d->c_out, bias,
                               yb + p0 * d->c_out, prec);
            else
                rc = ck_gemm_own(p, 0, 1, rows, d->c_out, kk, 1.0f, col, kk, wf,
                                 kk, 0.0f, yb + p0 * d->c_out, d->c_out);
            if (rc)
                goto out;
        }
    }
    if (!via_linear)
        add_bias(y, d->n * npix, d->c_out, d->c_out, bias);
out:
    ck_free(wo);
    ck_free(col);
    ck_free(xo);
    return rc;
}

struct transpose_job {
    const float *x;
    float *y;
    int64_t rows, cols; /* per image: x [rows, cols] -> y [cols, rows] */
    int64_t n, blocks;
};

#define TB 32

static void transpose_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct transpose_job *j = arg;
    int64_t img = t / j->blocks, blk = t % j->blocks;
    int64_t r0 = blk * TB;
    const float *x = j->x + img * j->rows * j->cols;
    float *y = j->y + img * j->rows * j->cols;
    int64_t r1 = CK_MIN(r0 + TB, j->rows);
    for (int64_t c0 = 0; c0 < j->cols; c0 += TB) {
        int64_t c1 = CK_MIN(c0 + TB, j->cols);
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = c0; c < c1; c++)
                y[c * j->rows + r] = x[r * j->cols + c];
    }
}

static void transpose(ck_pool *p, const float *x, float *y, int64_t n,
                      int64_t rows, int64_t cols)
{
    if (n <= 0 || rows <= 0 || cols <= 0)
        return;
    struct transpose_job j = { x, y, rows, cols, n, (rows + TB - 1) / TB };
    ck_pool_run(p, n * j.blocks, transpose_task, &j);
}

void ck_nchw_to_nhwc(ck_pool *p, const float *x, float *y, int64_t n,
                     int64_t c, int64_t hw)
{
    transpose(p, x, y, n, c, hw);
}

void ck_nhwc_to_nchw(ck_pool *p, const float *x, float *y, int64_t n,
                     int64_t c, int64_t hw)
{
    transpose(p, x, y, n, hw, c);
}
