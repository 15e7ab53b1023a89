/*
 * preview.c — Pillow's ImageOps.contain + BILINEAR for preview images (see
 * preview.h).  The resampler follows Pillow 9.4's Resample.c: per output
 * pixel a window of input pixels with normalised filter weights, turned
 * into 22-bit fixed point; the horizontal pass runs first over the rows
 * the vertical pass needs, and each pass rounds to 8 bits.
 */
#include "preview.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

void cd_preview_fit(int w, int h, int max, int *ow, int *oh)
{
    *ow = max;
    *oh = max;
    if (w == h)
        return;
    /* Python: round(h / w * size) (double maths, ties to even) */
    if (w > h)
        *oh = (int)nearbyint((double)h / (double)w * (double)max);
    else
        *ow = (int)nearbyint((double)w / (double)h * (double)max);
}

static double bilinear(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Filter windows for resampling `in` samples to `out`: bounds[2i] = first
 * input sample, bounds[2i+1] = count; kk[i*ksize ...] the fixed-point
 * weights.  Returns ksize, or 0 when memory runs out (nothing allocated). */
static int coeffs(int in, int out, int **boundsp, int32_t **kkp)
{
    double scale = (double)in / out, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    int *bounds = malloc(sizeof(*bounds) * (size_t)out * 2);
    int32_t *kk = malloc(sizeof(*kk) * (size_t)out * (size_t)ksize);
    double *k = malloc(sizeof(*k) * (size_t)ksize);
    if (!bounds || !kk || !k) {
        free(bounds);
        free(kk);
        free(k);
        return 0;
    }
    for (int xx = 0; xx < out; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0)
            xmin = 0;
        if (xmax > in)
            xmax = in;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            k[x] = bilinear((x + xmin - center + 0.5) * ss);
            ww += k[x];
        }
        int32_t *kf = kk + (size_t)xx * (size_t)ksize;
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax && ww != 0.0 ? k[x] / ww : 0.0;
            kf[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                          : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        bounds[xx * 2] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    free(k);
    *boundsp = bounds;
    *kkp = kk;
    return ksize;
}

static unsigned char clip8(int32_t v)
{
    v >>= PRECISION_BITS;
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

unsigned char *cd_preview_resize(const unsigned char *rgb, int w, int h, int ow, int oh)
{
    if (w <= 0 || h <= 0 || ow <= 0 || oh <= 0)
        return NULL;
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    unsigned char *tmp = NULL, *out = NULL;
    int ksh = coeffs(w, ow, &bh, &kh), ksv = ksh ? coeffs(h, oh, &bv, &kv) : 0;
    if (!ksh || !ksv)
        goto done;
    /* rows of the input the vertical pass reads */
    int y0 = bv[0], y1 = bv[(oh - 1) * 2] + bv[(oh - 1) * 2 + 1];
    const unsigned char *src = rgb;
    int rows = h;
    if (ow != w) {
        rows = y1 - y0;
        tmp = malloc((size_t)ow * (size_t)rows * 3);
        if (!tmp)
            goto done;
        for (int y = 0; y < rows; y++) {
            const unsigned char *line = rgb + (size_t)(y + y0) * (size_t)w * 3;
            for (int xx = 0; xx < ow; xx++) {
                const int32_t *k = kh + (size_t)xx * (size_t)ksh;
                int xmin = bh[xx * 2], n = bh[xx * 2 + 1];
                for (int c = 0; c < 3; c++) {
                    int32_t ss = 1 << (PRECISION_BITS - 1);
                    for (int x = 0; x < n; x++)
                        ss += line[(size_t)(x + xmin) * 3 + (size_t)c] * k[x];
                    tmp[((size_t)y * (size_t)ow + (size_t)xx) * 3 + (size_t)c] = clip8(ss);
                }
            }
        }
        src = tmp;
    } else {
        y0 = 0;   /* the vertical pass reads the input itself */
    }
    out = malloc((size_t)ow * (size_t)oh * 3);
    if (!out)
        goto done;
    if (oh == h) {   /* Pillow skips a pass whose size does not change */
        memcpy(out, src, (size_t)ow * (size_t)oh * 3);
        goto done;
    }
    for (int yy = 0; yy < oh; yy++) {
        const int32_t *k = kv + (size_t)yy * (size_t)ksv;
        int ymin = bv[yy * 2] - y0, n = bv[yy * 2 + 1];
        for (int x = 0; x < ow * 3; x++) {
            int32_t ss = 1 << (PRECISION_BITS - 1);
            for (int y = 0; y < n; y++)
                ss += src[(size_t)(y + ymin) * (size_t)ow * 3 + (size_t)x] * k[y];
            out[(size_t)yy * (size_t)ow * 3 + (size_t)x] = clip8(ss);
        }
    }
done:
    free(bh);
    free(bv);
    free(kh);
    free(kv);
    free(tmp);
    return out;
}
