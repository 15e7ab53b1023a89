/*
 * ref.c — naive reference kernels for the tests (see ref.h).
 */
#include <math.h>
#include <stdlib.h>

#include "ref.h"

void ref_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                s += a * b;
            }
            double c = beta == 0.0f ? 0.0 : (double)beta * C[i * ldc + j];
            C[i * ldc + j] = (float)(alpha * s + c);
        }
}

void ref_linear(const float *x, int64_t M, int64_t K, const float *w, int64_t N,
                const float *bias, float *y)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = bias ? bias[j] : 0.0;
            for (int64_t k = 0; k < K; k++)
                s += (double)x[i * K + k] * w[j * K + k];
            y[i * N + j] = (float)s;
        }
}

void ref_conv2d(const ck_conv2d_desc *d, const float *x, const float *w,
                const float *bias, float *y)
{
    int64_t oh = (d->h + 2 * d->pad_h - d->kh) / d->stride_h + 1;
    int64_t ow = (d->w + 2 * d->pad_w - d->kw) / d->stride_w + 1;
    for (int64_t n = 0; n < d->n; n++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++)
                for (int64_t co = 0; co < d->c_out; co++) {
                    double s = bias ? bias[co] : 0.0;
                    for (int64_t ci = 0; ci < d->c_in; ci++)
                        for (int64_t i = 0; i < d->kh; i++)
                            for (int64_t j = 0; j < d->kw; j++) {
                                int64_t iy = oy * d->stride_h + i - d->pad_h;
                                int64_t ix = ox * d->stride_w + j - d->pad_w;
                                if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w)
                                    continue;
                                s += (double)x[((n * d->h + iy) * d->w + ix) * d->c_in + ci] *
                                     w[((co * d->c_in + ci) * d->kh + i) * d->kw + j];
                            }
                    y[((n * oh + oy) * ow + ox) * d->c_out + co] = (float)s;
                }
}

void ref_attention(const ck_attn_desc *d, const float *q, const float *k,
                   const float *v, float *o)
{
    int64_t D = d->head_dim;
    double *s = malloc((size_t)d->lk * sizeof(double));
    if (!s)
        abort();
    for (int64_t b = 0; b < d->batch; b++)
        for (int64_t h = 0; h < d->heads; h++)
            for (int64_t i = 0; i < d->lq; i++) {
                const float *qr = q + (b * d->lq + i) * d->q_ld + h * D;
                double mx = -INFINITY;
                for (int64_t j = 0; j < d->lk; j++) {
                    const float *kr = k + (b * d->lk + j) * d->k_ld + h * D;
                    double acc = 0;
                    for (int64_t e = 0; e < D; e++)
                        acc += (double)qr[e] * kr[e];
                    s[j] = acc * d->scale;
                    if (s[j] > mx)
                        mx = s[j];
                }
                double sum = 0;
                for (int64_t j = 0; j < d->lk; j++) {
                    s[j] = exp(s[j] - mx);
                    sum += s[j];
                }
                float *orow = o + (b * d->lq + i) * d->o_ld + h * D;
                for (int64_t e = 0; e < D; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < d->lk; j++)
                        acc += s[j] * v[(b * d->lk + j) * d->v_ld + h * D + e];
                    orow[e] = (float)(acc / sum);
                }
            }
    free(s);
}

void ref_group_norm(const float *x, float *y, int64_t n, int64_t c, int64_t hw,
                    int64_t groups, const float *gamma, const float *beta,
                    float eps, int layout, int silu)
{
    int64_t cpg = c / groups;
    for (int64_t s = 0; s < n; s++)
        for (int64_t g = 0; g < groups; g++) {
            double sum = 0, sq = 0;
            for (int64_t ci = g * cpg; ci < (g + 1) * cpg; ci++)
                for (int64_t p = 0; p < hw; p++) {
                    int64_t i = layout == CK_LAYOUT_NCHW ? (s * c + ci) * hw + p
                                                         : (s * hw + p) * c + ci;
                    sum += x[i];
                }
            double mean = sum / (double)(cpg * hw);
            for (int64_t ci = g * cpg; ci < (g + 1) * cpg; ci++)
                for (int64_t p = 0; p < hw; p++) {
                    int64_t i = layout == CK_LAYOUT_NCHW ? (s * c + ci) * hw + p
                                                         : (s * hw + p) * c + ci;
                    sq += (x[i] - mean) * (x[i] - mean);
                }
            double rstd = 1.0 / sqrt(sq / (double)(cpg * hw) + eps);
            for (int64_t ci = g * cpg; ci < (g + 1) * cpg; ci++)
                for (int64_t p = 0; p < hw; p++) {
                    int64_t i = layout == CK_LAYOUT_NCHW ? (s * c + ci) * hw + p
                                                         : (s * hw + p) * c + ci;
                    double v = (x[i] - mean) * rstd;
                    v = v * (gamma ? gamma[ci] : 1.0) + (beta ? beta[ci] : 0.0);
                    if (silu)
                        v = v / (1.0 + exp(-v));
                    y[i] = (float)v;
                }
        }
}

void ref_layer_norm(const float *x, float *y, int64_t rows, int64_t cols,
                    const float *gamma, const float *beta, float eps)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < cols; i++)
            sum += xr[i];
        double mean = sum / cols;
        for (int64_t i = 0; i < cols; i++)
            sq += (xr[i] - mean) * (xr[i] - mean);
        double rstd = 1.0 / sqrt(sq / cols + eps);
        for (int64_t i = 0; i < cols; i++)
            y[r * cols + i] = (float)((xr[i] - mean) * rstd * (gamma ? gamma[i] : 1.0) +
                                      (beta ? beta[i] : 0.0));
    }
}

void ref_softmax(const float *x, float *y, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        double mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < cols; i++)
            if (xr[i] > mx)
                mx = xr[i];
        for (int64_t i = 0; i < cols; i++)
            sum += exp(xr[i] - mx);
        for (int64_t i = 0; i < cols; i++)
            y[r * cols + i] = (float)(exp(xr[i] - mx) / sum);
    }
}

float ref_act(int act, float xf)
{
    double x = xf;
    switch (act) {
    case CK_ACT_SILU: return (float)(x / (1.0 + exp(-x)));
    case CK_ACT_GELU: return (float)(0.5 * x * (1.0 + erf(x / sqrt(2.0))));
    case CK_ACT_GELU_TANH:
        return (float)(0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))));
    default: return (float)(x / (1.0 + exp(-1.702 * x)));
    }
}

/* One axis of the spec's resize formulas: weights over the input axis. */
static void axis_weights(int mode, int64_t in, int64_t out, int64_t o, double *w)
{
    float scale = (float)in / (float)out;
    for (int64_t i = 0; i < in; i++)
        w[i] = 0;
    switch (mode) {
    case CK_RESIZE_NEAREST: {
        int64_t s = (int64_t)floorf((float)o * scale);
        w[s < in - 1 ? s : in - 1] = 1;
        break;
    }
    case CK_RESIZE_NEAREST_EXACT: {
        int64_t s = (int64_t)floorf(((float)o + 0.5f) * scale);
        w[s < in - 1 ? s : in - 1] = 1;
        break;
    }
    case CK_RESIZE_BILINEAR: {
        float src = ((float)o + 0.5f) * scale - 0.5f;
        if (src < 0) src = 0;
        int64_t i0 = (int64_t)floorf(src);
        int64_t i1 = i0 + 1 < in - 1 ? i0 + 1 : in - 1;
        double lam = src - (float)i0;
        w[i0] += 1 - lam;
        w[i1] += lam;
        break;
    }
    case CK_RESIZE_BICUBIC: {
        float src = ((float)o + 0.5f) * scale - 0.5f;
        int64_t i = (int64_t)floorf(src);
        double t = src - floorf(src), A = -0.75;
        for (int k = -1; k <= 2; k++) {
            double d = fabs(t - k), cw;
            if (d <= 1) cw = (A + 2) * d * d * d - (A + 3) * d * d + 1;
            else if (d < 2) cw = A * d * d * d - 5 * A * d * d + 8 * A * d - 4 * A;
            else cw = 0;
            int64_t s = i + k;
            s = s < 0 ? 0 : (s > in - 1 ? in - 1 : s);
            w[s] += cw;
        }
        break;
    }
    default: {
        int64_t s = (int64_t)floor((double)o * in / out);
        int64_t e = (int64_t)ceil((double)(o + 1) * in / out);
        for (int64_t i = s; i < e; i++)
            w[i] = 1.0 / (double)(e - s);
        break;
    }
    }
}

void ref_resize(int mode, const float *x, int64_t n, int64_t h, int64_t w,
                int64_t c, float *y, int64_t oh, int64_t ow)
{
    double *wy = malloc((size_t)h * sizeof(double));
    double *wx = malloc((size_t)w * sizeof(double));
    if (!wy || !wx)
        abort();
    for (int64_t b = 0; b < n; b++)
        for (int64_t oy = 0; oy < oh; oy++) {
            axis_weights(mode, h, oh, oy, wy);
            for (int64_t ox = 0; ox < ow; ox++) {
                axis_weights(mode, w, ow, ox, wx);
                for (int64_t ch = 0; ch < c; ch++) {
                    double s = 0;
                    for (int64_t iy = 0; iy < h; iy++) {
                        if (wy[iy] == 0) continue;
                        for (int64_t ix = 0; ix < w; ix++)
                            if (wx[ix] != 0)
                                s += wy[iy] * wx[ix] * x[((b * h + iy) * w + ix) * c + ch];
                    }
                    y[((b * oh + oy) * ow + ox) * c + ch] = (float)s;
                }
            }
        }
    free(wy);
    free(wx);
}
