/*
 * norm.c — group norm (optionally fused with SiLU), layer norm, softmax.
 *
 * NCHW statistics are two-pass (mean, then the mean of squared deviations)
 * with 16 partial sums per loop so that the loops vectorise without
 * reassociation, partials folded in double.  NHWC statistics take one pass:
 * per-channel moments about the sample's first pixel, pooled in double.
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

CK_CLONES
static double sum_f(const float *x, int64_t n)
{
    float acc[16] = { 0 };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++)
            acc[l] += x[i + l];
    double s = 0;
    for (; i < n; i++)
        s += x[i];
    for (int l = 0; l < 16; l++)
        s += acc[l];
    return s;
}

CK_CLONES
static double sumsq_dev(const float *x, int64_t n, float mean)
{
    float acc[16] = { 0 };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) {
            float d = x[i + l] - mean;
            acc[l] += d * d;
        }
    double s = 0;
    for (; i < n; i++) {
        double d = x[i] - mean;
        s += d * d;
    }
    for (int l = 0; l < 16; l++)
        s += acc[l];
    return s;
}

/* y = x * a + b, then SiLU when silu. */
CK_CLONES
static void scale_shift(const float *x, float *y, int64_t n, float a, float b,
                        int silu)
{
    if (silu) {
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] * a + b;
            y[i] = v / (1.0f + ck_expf(-v));
        }
    } else {
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * a + b;
    }
}

/* NHWC: y[p, c] = x[p, c] * a[c] + b[c] for `pix` pixels of c channels. */
CK_CLONES
static void scale_shift_rows(const float *x, float *y, int64_t pix, int64_t c,
                             const float *a, const float *b, int silu)
{
    for (int64_t p = 0; p < pix; p++) {
        const float *xr = x + p * c;
        float *yr = y + p * c;
        if (silu) {
            for (int64_t i = 0; i < c; i++) {
                float v = xr[i] * a[i] + b[i];
                yr[i] = v / (1.0f + ck_expf(-v));
            }
        } else {
            for (int64_t i = 0; i < c; i++)
                yr[i] = xr[i] * a[i] + b[i];
        }
    }
}

/* NHWC moments of `pix` pixels about a per-channel shift (the sample's
 * first pixel, so there is no cancellation): sum[c] = Σ d, sq[c] = Σ d²
 * with d = x[p, c] - shift[c]. */
CK_CLONES
static void chan_moments(const float *x, int64_t pix, int64_t c, const float *shift,
                         float *sum, float *sq)
{
    for (int64_t i = 0; i < c; i++)
        sum[i] = sq[i] = 0.0f;
    for (int64_t p = 0; p < pix; p++) {
        const float *xr = x + p * c;
        for (int64_t i = 0; i < c; i++) {
            float d = xr[i] - shift[i];
            sum[i] += d;
            sq[i] += d * d;
        }
    }
}

#define GN_CHUNK 64 /* pixels per NHWC partial */

struct gn_job {
    const float *x;
    float *y;
    int64_t n, c, hw, groups, cpg, chunks;
    const float *gamma, *beta;
    float eps;
    int silu;
    float *part;   /* NHWC: [n][chunks][2][c] partial moments               */
    float *a, *b;  /* NHWC: [n][c] scale and shift                         */
};

static void gn_nchw_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct gn_job *j = arg;
    int64_t g = t % j->groups;
    int64_t len = j->cpg * j->hw;
    const float *x = j->x + t * len;
    float *y = j->y + t * len;
    float mean = (float)(sum_f(x, len) / (double)len);
    float var = (float)(sumsq_dev(x, len, mean) / (double)len);
    float rstd = 1.0f / sqrtf(var + j->eps);
    for (int64_t ci = 0; ci < j->cpg; ci++) {
        int64_t ch = g * j->cpg + ci;
        float ga = j->gamma ? j->gamma[ch] : 1.0f;
        float be = j->beta ? j->beta[ch] : 0.0f;
        float a = rstd * ga;
        scale_shift(x + ci * j->hw, y + ci * j->hw, j->hw, a, be - mean * a, j->silu);
    }
}

static void gn_nhwc_moments_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct gn_job *j = arg;
    int64_t s = t / j->chunks, ch = t % j->chunks;
    int64_t p0 = ch * GN_CHUNK, pix = CK_MIN(GN_CHUNK, j->hw - p0);
    float *part = j->part + t * 2 * j->c;
    chan_moments(j->x + (s * j->hw + p0) * j->c, pix, j->c, j->x + s * j->hw * j->c,
                 part, part + j->c);
}

static void gn_nhwc_apply_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct gn_job *j = arg;
    int64_t s = t / j->chunks, ch = t % j->chunks;
    int64_t p0 = ch * GN_CHUNK, pix = CK_MIN(GN_CHUNK, j->hw - p0);
    int64_t off = (s * j->hw + p0) * j->c;
    scale_shift_rows(j->x + off, j->y + off, pix, j->c, j->a + s * j->c,
                     j->b + s * j->c, j->silu);
}

/* Combines the partial moments of sample s into each group's mean and
 * variance (exact pooled formulas, in double) and fills a, b. */
static void gn_fold(struct gn_job *j, int64_t s)
{
    const float *shift = j->x + s * j->hw * j->c;
    double n = (double)j->hw;
    for (int64_t g = 0; g < j->groups; g++) {
        double msum = 0, m2 = 0;
        for (int64_t ci = 0; ci < j->cpg; ci++) {
            int64_t c = g * j->cpg + ci;
            double su = 0, sq = 0;
            for (int64_t k = 0; k < j->chunks; k++) {
                const float *pp = j->part + ((s * j->chunks + k) * 2) * j->c;
                su += pp[c];
                sq += pp[j->c + c];
            }
            msum += shift[c] + su / n;           /* channel mean       */
            m2 += sq - su * su / n;              /* channel M2         */
        }
        double mean = msum / (double)j->cpg;
        for (int64_t ci = 0; ci < j->cpg; ci++) { /* between-channel part */
            int64_t c = g * j->cpg + ci;
            double su = 0;
            for (int64_t k = 0; k < j->chunks; k++)
                su += j->part[((s * j->chunks + k) * 2) * j->c + c];
            double mc = shift[c] + su / n;
            m2 += n * (mc - mean) * (mc - mean);
        }
        double var = m2 / (n * (double)j->cpg);
        if (var < 0)
            var = 0;
        float rstd = (float)(1.0 / sqrt(var + j->eps));
        for (int64_t ci = 0; ci < j->cpg; ci++) {
            int64_t c = g * j->cpg + ci;
            float ga = j->gamma ? j->gamma[c] : 1.0f;
            float be = j->beta ? j->beta[c] : 0.0f;
            float a = rstd * ga;
            j->a[s * j->c + c] = a;
            j->b[s * j->c + c] = be - (float)mean * a;
        }
    }
}

int ck_group_norm(ck_pool *p, const float *x, float *y, int64_t n, int64_t c,
                  int64_t hw, int64_t groups, const float *gamma,
                  const float *beta, float eps, int layout, int silu)
{
    if (!x || !y || n < 0 || c <= 0 || hw <= 0 || groups <= 0 || c % groups ||
        (layout != CK_LAYOUT_NCHW && layout != CK_LAYOUT_NHWC))
        return COMFY_EINVAL;
    if (n == 0)
        return 0;
    struct gn_job j = { x, y, n, c, hw, groups, c / groups, 0, gamma, beta, eps,
                        silu != 0, NULL, NULL, NULL };
    if (layout == CK_LAYOUT_NCHW) {
        ck_pool_run(p, n * groups, gn_nchw_task, &j);
        return 0;
    }
    j.chunks = (hw + GN_CHUNK - 1) / GN_CHUNK;
    j.part = ck_alloc((size_t)(n * j.chunks * 2 * c) * sizeof(float));
    j.a = ck_alloc((size_t)(2 * n * c) * sizeof(float));
    if (!j.part || !j.a) {
        ck_free(j.part);
        ck_free(j.a);
        return COMFY_ENOMEM;
    }
    j.b = j.a + n * c;
    ck_pool_run(p, n * j.chunks, gn_nhwc_moments_task, &j);
    for (int64_t s = 0; s < n; s++)
        gn_fold(&j, s);
    /* y may be x: the fold read the shifts from x before the apply pass */
    ck_pool_run(p, n * j.chunks, gn_nhwc_apply_task, &j);
    ck_free(j.part);
    ck_free(j.a);
    return 0;
}

/* ---- layer norm --------------------------------------------------------- */

struct rows_job {
    const float *x;
    float *y;
    int64_t rows, cols, per_task;
    const float *gamma, *beta;
    float eps;
};

CK_CLONES
static void ln_apply(const float *x, float *y, int64_t n, float mean, float rstd,
                     const float *g, const float *b)
{
    for (int64_t i = 0; i < n; i++) {
        float v = (x[i] - mean) * rstd;
        v = g ? v * g[i] : v;
        y[i] = b ? v + b[i] : v;
    }
}

static void ln_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct rows_job *j = arg;
    int64_t r1 = CK_MIN(j->rows, (t + 1) * j->per_task);
    for (int64_t r = t * j->per_task; r < r1; r++) {
        const float *x = j->x + r * j->cols;
        float mean = (float)(sum_f(x, j->cols) / (double)j->cols);
        float var = (float)(sumsq_dev(x, j->cols, mean) / (double)j->cols);
        ln_apply(x, j->y + r * j->cols, j->cols, mean, 1.0f / sqrtf(var + j->eps),
                 j->gamma, j->beta);
    }
}

static int64_t rows_per_task(ck_pool *p, int64_t rows, int64_t cols)
{
    int64_t min_rows = CK_MAX(1, 16384 / CK_MAX(cols, 1));
    int64_t per = (rows + 4 * ck_pool_threads(p) - 1) / (4 * ck_pool_threads(p));
    return CK_MAX(per, min_rows);
}

int ck_layer_norm(ck_pool *p, const float *x, float *y, int64_t rows,
                  int64_t cols, const float *gamma, const float *beta, float eps)
{
    if (!x || !y || rows < 0 || cols <= 0)
        return COMFY_EINVAL;
    if (rows == 0)
        return 0;
    struct rows_job j = { x, y, rows, cols, rows_per_task(p, rows, cols), gamma,
                          beta, eps };
    ck_pool_run(p, (rows + j.per_task - 1) / j.per_task, ln_task, &j);
    return 0;
}

/* ---- softmax ------------------------------------------------------------ */

CK_CLONES
static void softmax_row(const float *x, float *y, int64_t n)
{
    float mx[16];
    for (int l = 0; l < 16; l++)
        mx[l] = -INFINITY;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++)
            mx[l] = x[i + l] > mx[l] ? x[i + l] : mx[l];
    float m = -INFINITY;
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    for (int l = 0; l < 16; l++)
        m = mx[l] > m ? mx[l] : m;
    float acc[16] = { 0 };
    for (i = 0; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) {
            float e = ck_expf(x[i + l] - m);
            y[i + l] = e;
            acc[l] += e;
        }
    double s = 0;
    for (; i < n; i++) {
        y[i] = ck_expf(x[i] - m);
        s += y[i];
    }
    for (int l = 0; l < 16; l++)
        s += acc[l];
    float inv = (float)(1.0 / s);
    for (i = 0; i < n; i++)
        y[i] *= inv;
}

static void softmax_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct rows_job *j = arg;
    int64_t r1 = CK_MIN(j->rows, (t + 1) * j->per_task);
    for (int64_t r = t * j->per_task; r < r1; r++)
        softmax_row(j->x + r * j->cols, j->y + r * j->cols, j->cols);
}

int ck_softmax(ck_pool *p, const float *x, float *y, int64_t rows, int64_t cols)
{
    if (!x || !y || rows < 0 || cols <= 0)
        return COMFY_EINVAL;
    if (rows == 0)
        return 0;
    struct rows_job j = { x, y, rows, cols, rows_per_task(p, rows, cols), NULL,
                          NULL, 0 };
    ck_pool_run(p, (rows + j.per_task - 1) / j.per_task, softmax_task, &j);
    return 0;
}
