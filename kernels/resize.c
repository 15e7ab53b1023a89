/*
 * resize.c — nearest / nearest-exact / bilinear / bicubic / area resize
 * with PyTorch's interpolate conventions (align_corners = False).
 *
 * Each axis gets a tap table (source indices and weights per output
 * index); a pool task computes one output row as the weighted sum over the
 * row taps of the column-interpolated source rows.
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

struct taps {
    int64_t max;     /* taps per output index                              */
    int64_t *idx;    /* [out][max]                                         */
    float *w;        /* [out][max], 0 for unused taps                      */
};

static float cubic_w(float d)
{
    const float A = -0.75f;
    d = fabsf(d);
    if (d <= 1.0f)
        return ((A + 2.0f) * d - (A + 3.0f)) * d * d + 1.0f;
    if (d < 2.0f)
        return ((A * d - 5.0f * A) * d + 8.0f * A) * d - 4.0f * A;
    return 0.0f;
}

static int make_taps(int mode, int64_t in, int64_t out, struct taps *t)
{
    float scale = (float)in / (float)out;
    switch (mode) {
    case CK_RESIZE_NEAREST:
    case CK_RESIZE_NEAREST_EXACT: t->max = 1; break;
    case CK_RESIZE_BILINEAR: t->max = 2; break;
    case CK_RESIZE_BICUBIC: t->max = 4; break;
    default: t->max = (in + out - 1) / out + 1; break;
    }
    t->idx = calloc((size_t)(out * t->max), sizeof(int64_t));
    t->w = calloc((size_t)(out * t->max), sizeof(float));
    if (!t->idx || !t->w)
        return COMFY_ENOMEM;
    for (int64_t o = 0; o < out; o++) {
        int64_t *ix = t->idx + o * t->max;
        float *w = t->w + o * t->max;
        switch (mode) {
        case CK_RESIZE_NEAREST: {
            int64_t s = (int64_t)floorf((float)o * scale);
            ix[0] = CK_MIN(s, in - 1);
            w[0] = 1.0f;
            break;
        }
        case CK_RESIZE_NEAREST_EXACT: {
            int64_t s = (int64_t)floorf(((float)o + 0.5f) * scale);
            ix[0] = CK_MIN(s, in - 1);
            w[0] = 1.0f;
            break;
        }
        case CK_RESIZE_BILINEAR: {
            float src = ((float)o + 0.5f) * scale - 0.5f;
            if (src < 0)
                src = 0;
            int64_t i0 = (int64_t)src;
            if (i0 > in - 1)
                i0 = in - 1;
            float lam = src - (float)i0;
            ix[0] = i0;
            ix[1] = CK_MIN(i0 + 1, in - 1);
            w[0] = 1.0f - lam;
            w[1] = lam;
            break;
        }
        case CK_RESIZE_BICUBIC: {
            float src = ((float)o + 0.5f) * scale - 0.5f;
            float fl = floorf(src);
            int64_t i = (int64_t)fl;
            float tt = src - fl;
            for (int k = 0; k < 4; k++) {
                int64_t s = i - 1 + k;
                ix[k] = s < 0 ? 0 : (s > in - 1 ? in - 1 : s);
                w[k] = cubic_w(tt - (float)(k - 1));
            }
            break;
        }
        default: { /* area */
            int64_t s = (o * in) / out;
            int64_t e = ((o + 1) * in + out - 1) / out;
            float inv = 1.0f / (float)(e - s);
            for (int64_t k = 0; k < e - s && k < t->max; k++) {
                ix[k] = s + k;
                w[k] = inv;
            }
            break;
        }
        }
    }
    return 0;
}

static void free_taps(struct taps *t)
{
    free(t->idx);
    free(t->w);
}

struct resize_job {
    const float *x;
    float *y;
    int64_t h, w, c, oh, ow;
    struct taps ty, tx;
    float *scratch;  /* per thread: ow * c floats                          */
};

CK_CLONES
static void accum_row(const float *src, const struct taps *tx, int64_t ow,
                      int64_t c, float wy, float *dst)
{
    for (int64_t o = 0; o < ow; o++) {
        const int64_t *ix = tx->idx + o * tx->max;
        const float *w = tx->w + o * tx->max;
        float *d = dst + o * c;
        for (int64_t k = 0; k < tx->max; k++) {
            float ww = w[k] * wy;
            if (w[k] == 0.0f)
                continue;
            const float *s = src + ix[k] * c;
            for (int64_t ch = 0; ch < c; ch++)
                d[ch] += ww * s[ch];
        }
    }
}

static void resize_task(void *arg, int64_t t, int thread)
{
    struct resize_job *j = arg;
    int64_t img = t / j->oh, oy = t % j->oh;
    float *acc = j->scratch + (size_t)thread * (size_t)(j->ow * j->c);
    memset(acc, 0, (size_t)(j->ow * j->c) * sizeof(float));
    const int64_t *iy = j->ty.idx + oy * j->ty.max;
    const float *wy = j->ty.w + oy * j->ty.max;
    for (int64_t k = 0; k < j->ty.max; k++) {
        if (wy[k] == 0.0f)
            continue;
        const float *src = j->x + (img * j->h + iy[k]) * j->w * j->c;
        accum_row(src, &j->tx, j->ow, j->c, wy[k], acc);
    }
    memcpy(j->y + (img * j->oh + oy) * j->ow * j->c, acc,
           (size_t)(j->ow * j->c) * sizeof(float));
}

int ck_resize(ck_pool *p, int mode, const float *x, int64_t n, int64_t h,
              int64_t w, int64_t c, float *y, int64_t oh, int64_t ow)
{
    if (!x || !y || n < 0 || h <= 0 || w <= 0 || c <= 0 || oh <= 0 || ow <= 0 ||
        mode < CK_RESIZE_NEAREST || mode > CK_RESIZE_AREA)
        return COMFY_EINVAL;
    if (n == 0)
        return 0;
    struct resize_job j = { x, y, h, w, c, oh, ow, { 0 }, { 0 }, NULL };
    int rc = make_taps(mode, h, oh, &j.ty);
    if (rc == 0)
        rc = make_taps(mode, w, ow, &j.tx);
    if (rc == 0) {
        j.scratch = ck_alloc((size_t)ck_pool_threads(p) * (size_t)(ow * c) * sizeof(float));
        if (!j.scratch)
            rc = COMFY_ENOMEM;
    }
    if (rc == 0)
        ck_pool_run(p, n * oh, resize_task, &j);
    ck_free(j.scratch);
    free_taps(&j.ty);
    free_taps(&j.tx);
    return rc;
}
