/*
 * image_scale.c — ComfyUI's common_upscale on channels-last float images.
 *
 * nearest-exact, bilinear, bicubic and area follow PyTorch's CPU
 * interpolate kernels (align_corners False, no antialias): the source
 * coordinates are computed in float32 exactly as torch does, and the
 * filter is applied separably (width, then height).  lanczos follows
 * comfy.utils.lanczos: quantise to uint8, resize with PIL's fixed-point
 * LANCZOS (3 lobes, support widened when shrinking), back to float / 255.
 * Reentrant; any thread.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

const char *const core_upscale_methods[] = {
    "nearest-exact", "bilinear", "area", "bicubic", "lanczos", NULL
};

int core_upscale_method_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; core_upscale_methods[i]; i++)
        if (strcmp(core_upscale_methods[i], name) == 0)
            return i;
    return -1;
}

int core_check_dims(int64_t b, int64_t h, int64_t w, int64_t c, char *msg,
                    size_t cap)
{
    if (b < 1 || h < 1 || w < 1 || c < 1) {
        snprintf(msg, cap, "image size %lldx%lld (batch %lld, %lld channels) "
                 "is empty", (long long)w, (long long)h, (long long)b,
                 (long long)c);
        return -1;
    }
    if (h > CORE_MAX_SIDE || w > CORE_MAX_SIDE) {
        snprintf(msg, cap, "image size %lldx%lld exceeds the limit of %d "
                 "pixels per side", (long long)w, (long long)h, CORE_MAX_SIDE);
        return -1;
    }
    if (h * w > CORE_MAX_PIXELS) {
        snprintf(msg, cap, "image size %lldx%lld exceeds the limit of %lld "
                 "pixels per image", (long long)w, (long long)h,
                 (long long)CORE_MAX_PIXELS);
        return -1;
    }
    if (b > CORE_MAX_ELEMS / (h * w * c)) {
        snprintf(msg, cap, "image batch %lld of %lldx%lld exceeds the limit "
                 "of %lld values per tensor", (long long)b, (long long)w,
                 (long long)h, (long long)CORE_MAX_ELEMS);
        return -1;
    }
    return 0;
}

void core_center_crop(int64_t h, int64_t w, int64_t oh, int64_t ow,
                      int64_t *y, int64_t *x, int64_t *ch, int64_t *cw)
{
    double old_aspect = (double)w / (double)h;
    double new_aspect = (double)ow / (double)oh;
    int64_t cx = 0, cy = 0;
    /* Python round() is half-to-even: nearbyint in the default mode. */
    if (old_aspect > new_aspect)
        cx = (int64_t)nearbyint((w - w * (new_aspect / old_aspect)) / 2.0);
    else if (old_aspect < new_aspect)
        cy = (int64_t)nearbyint((h - h * (old_aspect / new_aspect)) / 2.0);
    *x = cx;
    *y = cy;
    *cw = w - 2 * cx;
    *ch = h - 2 * cy;
}

/* One axis of a separable filter: output i reads taps [start[i],
 * start[i+1]) of idx/wt.  All three arrays are owned by the struct. */
typedef struct taps {
    int64_t *start;
    int64_t *idx;
    float *wt;
} taps;

static void taps_free(taps *t)
{
    free(t->start);
    free(t->idx);
    free(t->wt);
    memset(t, 0, sizeof(*t));
}

static int64_t clampi(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static float cubic1(float x, float a)
{
    return ((a + 2.0f) * x - (a + 3.0f)) * x * x + 1.0f;
}

static float cubic2(float x, float a)
{
    return ((a * x - 5.0f * a) * x + 8.0f * a) * x - 4.0f * a;
}

/* Builds the taps that map `in` samples to `out` for a torch method.
 * Returns 0 or COMFY_ENOMEM. */
static int taps_build(taps *t, int64_t in, int64_t out, int method)
{
    int64_t per = 4;
    if (method == CORE_AREA)
        per = (in + out - 1) / out + 1;
    t->start = malloc(sizeof(int64_t) * (size_t)(out + 1));
    t->idx = malloc(sizeof(int64_t) * (size_t)(out * per));
    t->wt = malloc(sizeof(float) * (size_t)(out * per));
    if (!t->start || !t->idx || !t->wt) {
        taps_free(t);
        return COMFY_ENOMEM;
    }
    float scale = (float)in / (float)out;
    int64_t n = 0;
    for (int64_t i = 0; i < out; i++) {
        t->start[i] = n;
        switch (method) {
        case CORE_NEAREST_EXACT: {
            /* torch: floorf((i + 0.5) * scale), the product in double. */
            float p = (float)(((double)i + 0.5) * (double)scale);
            int64_t s = (int64_t)floorf(p);
            t->idx[n] = clampi(s, 0, in - 1);
            t->wt[n++] = 1.0f;
            break;
        }
        case CORE_BILINEAR: {
            float src = scale * ((float)i + 0.5f) - 0.5f;
            if (src < 0.0f)
                src = 0.0f;
            int64_t i0 = (int64_t)src;
            int64_t off = i0 < in - 1 ? 1 : 0;
            float l1 = src - (float)i0;
            if (l1 < 0.0f)
                l1 = 0.0f;
            if (l1 > 1.0f)
                l1 = 1.0f;
            float l0 = 1.0f - l1;
            t->idx[n] = i0;
            t->wt[n++] = l0;
            t->idx[n] = i0 + off;
            t->wt[n++] = l1;
            break;
        }
        case CORE_BICUBIC: {
            const float a = -0.75f;
            float src = scale * ((float)i + 0.5f) - 0.5f;
            int64_t i0 = (int64_t)floorf(src);
            if (i0 > in - 1)
                i0 = in - 1;
            float tt = src - (float)i0;
            if (tt < 0.0f)
                tt = 0.0f;
            if (tt > 1.0f)
                tt = 1.0f;
            float w4[4] = { cubic2(tt + 1.0f, a), cubic1(tt, a),
                            cubic1(1.0f - tt, a),
                            cubic2(1.0f - tt + 1.0f, a) };
            for (int k = 0; k < 4; k++) {
                t->idx[n] = clampi(i0 - 1 + k, 0, in - 1);
                t->wt[n++] = w4[k];
            }
            break;
        }
        default: { /* CORE_AREA: adaptive average pooling */
            int64_t s = (i * in) / out;
            int64_t e = ((i + 1) * in + out - 1) / out;
            float wgt = 1.0f / (float)(e - s);
            for (int64_t k = s; k < e; k++) {
                t->idx[n] = k;
                t->wt[n++] = wgt;
            }
            break;
        }
        }
    }
    t->start[out] = n;
    return 0;
}

/* Float path: separable filtering of each image with the torch taps. */
static int resize_torch(const float *in, int64_t b, int64_t h, int64_t w,
                        int64_t c, int64_t in_rs, int64_t in_bs, float *out,
                        int64_t oh, int64_t ow, int method)
{
    taps th = { 0 }, tw = { 0 };
    float *tmp = NULL;
    int rc = COMFY_ENOMEM;
    if (taps_build(&tw, w, ow, method) || taps_build(&th, h, oh, method))
        goto out;
    tmp = malloc(sizeof(float) * (size_t)(h * ow * c));
    if (!tmp)
        goto out;
    for (int64_t bi = 0; bi < b; bi++) {
        const float *src = in + bi * in_bs;
        /* width pass: tmp [h, ow, c] */
        for (int64_t y = 0; y < h; y++) {
            const float *row = src + y * in_rs;
            float *trow = tmp + y * ow * c;
            for (int64_t x = 0; x < ow; x++) {
                for (int64_t ch = 0; ch < c; ch++) {
                    float acc = 0.0f;
                    for (int64_t k = tw.start[x]; k < tw.start[x + 1]; k++)
                        acc += tw.wt[k] * row[tw.idx[k] * c + ch];
                    trow[x * c + ch] = acc;
                }
            }
        }
        /* height pass: out [oh, ow, c] */
        float *dst = out + bi * oh * ow * c;
        for (int64_t y = 0; y < oh; y++) {
            float *orow = dst + y * ow * c;
            for (int64_t i = 0; i < ow * c; i++)
                orow[i] = 0.0f;
            for (int64_t k = th.start[y]; k < th.start[y + 1]; k++) {
                const float *trow = tmp + th.idx[k] * ow * c;
                float wk = th.wt[k];
                for (int64_t i = 0; i < ow * c; i++)
                    orow[i] += wk * trow[i];
            }
        }
    }
    rc = 0;
out:
    free(tmp);
    taps_free(&th);
    taps_free(&tw);
    return rc;
}

/* ---- PIL's LANCZOS on uint8 (Pillow's Resample.c, 8 bits per channel,
 *      22-bit fixed-point coefficients). -------------------------------- */

#define PIL_PRECISION_BITS (32 - 8 - 2)

static double sinc_filter(double x)
{
    if (x == 0.0)
        return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos_filter(double x)
{
    if (-3.0 <= x && x < 3.0)
        return sinc_filter(x) * sinc_filter(x / 3.0);
    return 0.0;
}

/* Fixed-point coefficients: bounds[2*i] = first tap, bounds[2*i+1] =
 * count, kk[i*ksize + k].  Caller frees *bounds and *kk. */
static int pil_coeffs(int64_t in, int64_t out, int64_t **bounds, int32_t **kk,
                      int64_t *ksize_out)
{
    double scale = (double)in / (double)out;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 3.0 * filterscale;
    int64_t ksize = (int64_t)ceil(support) * 2 + 1;
    int64_t *bd = malloc(sizeof(int64_t) * (size_t)(out * 2));
    double *pre = malloc(sizeof(double) * (size_t)ksize);
    int32_t *k = calloc((size_t)(out * ksize), sizeof(int32_t));
    if (!bd || !pre || !k) {
        free(bd);
        free(pre);
        free(k);
        return COMFY_ENOMEM;
    }
    for (int64_t xx = 0; xx < out; xx++) {
        double center = (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int64_t xmin = (int64_t)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int64_t xmax = (int64_t)(center + support + 0.5);
        if (xmax > in)
            xmax = in;
        xmax -= xmin;
        if (xmax > ksize)
            xmax = ksize;
        for (int64_t x = 0; x < xmax; x++) {
            double wgt = lanczos_filter((x + xmin - center + 0.5) * ss);
            pre[x] = wgt;
            ww += wgt;
        }
        for (int64_t x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? pre[x] / ww : pre[x];
            double f = v * (double)(1 << PIL_PRECISION_BITS);
            k[xx * ksize + x] = (int32_t)(v < 0 ? f - 0.5 : f + 0.5);
        }
        bd[xx * 2] = xmin;
        bd[xx * 2 + 1] = xmax;
    }
    free(pre);
    *bounds = bd;
    *kk = k;
    *ksize_out = ksize;
    return 0;
}

static uint8_t clip8(int64_t v)
{
    if (v >= ((int64_t)1 << PIL_PRECISION_BITS << 8))
        return 255;
    if (v <= 0)
        return 0;
    return (uint8_t)(v >> PIL_PRECISION_BITS);
}

/* One pass along an axis.  `in` has n_lines lines of `len` pixels spaced
 * `pix` bytes apart, lines `line` bytes apart; output lines have `olen`
 * pixels at the same spacing scheme (opix, oline). */
static int pil_pass(const uint8_t *in, int64_t n_lines, int64_t len,
                    int64_t pix, int64_t line, uint8_t *out, int64_t olen,
                    int64_t opix, int64_t oline, int64_t c)
{
    int64_t *bd = NULL, ksize = 0;
    int32_t *kk = NULL;
    if (pil_coeffs(len, olen, &bd, &kk, &ksize))
        return COMFY_ENOMEM;
    for (int64_t l = 0; l < n_lines; l++) {
        const uint8_t *src = in + l * line;
        uint8_t *dst = out + l * oline;
        for (int64_t xx = 0; xx < olen; xx++) {
            int64_t xmin = bd[xx * 2], xmax = bd[xx * 2 + 1];
            const int32_t *k = kk + xx * ksize;
            for (int64_t ch = 0; ch < c; ch++) {
                int64_t ss = (int64_t)1 << (PIL_PRECISION_BITS - 1);
                for (int64_t x = 0; x < xmax; x++)
                    ss += (int64_t)src[(x + xmin) * pix + ch] * k[x];
                dst[xx * opix + ch] = clip8(ss);
            }
        }
    }
    free(bd);
    free(kk);
    return 0;
}

static unsigned muldiv255(unsigned a, unsigned b)
{
    unsigned tmp = a * b + 128;
    return ((tmp >> 8) + tmp) >> 8;
}

int core_pil_lanczos_u8(const uint8_t *in, int64_t h, int64_t w, int64_t c,
                        uint8_t *out, int64_t oh, int64_t ow)
{
    uint8_t *pm = NULL, *mid = NULL;
    int rc = COMFY_ENOMEM;
    const uint8_t *src = in;
    if (c == 4) {
        /* PIL resizes RGBA premultiplied (RGBa) and converts back. */
        pm = malloc((size_t)(h * w * 4));
        if (!pm)
            goto out;
        for (int64_t i = 0; i < h * w; i++) {
            unsigned a = in[i * 4 + 3];
            for (int k = 0; k < 3; k++)
                pm[i * 4 + k] = (uint8_t)muldiv255(in[i * 4 + k], a);
            pm[i * 4 + 3] = (uint8_t)a;
        }
        src = pm;
    }
    if (ow == w && oh == h) {
        memcpy(out, src, (size_t)(h * w * c));
    } else if (ow != w && oh != h) {
        mid = malloc((size_t)(h * ow * c));
        if (!mid)
            goto out;
        if (pil_pass(src, h, w, c, w * c, mid, ow, c, ow * c, c) ||
            pil_pass(mid, ow, h, ow * c, c, out, oh, ow * c, c, c))
            goto out;
    } else if (ow != w) {
        if (pil_pass(src, h, w, c, w * c, out, ow, c, ow * c, c))
            goto out;
    } else {
        if (pil_pass(src, w, h, w * c, c, out, oh, ow * c, c, c))
            goto out;
    }
    if (c == 4) {
        for (int64_t i = 0; i < oh * ow; i++) {
            unsigned a = out[i * 4 + 3];
            if (a == 255 || a == 0)
                continue;
            for (int k = 0; k < 3; k++) {
                unsigned v = (255u * out[i * 4 + k]) / a;
                out[i * 4 + k] = (uint8_t)(v > 255 ? 255 : v);
            }
        }
    }
    rc = 0;
out:
    free(pm);
    free(mid);
    return rc;
}

/* numpy: clip(255 * v, 0, 255).astype(uint8) in float32 (NaN -> 0). */
static uint8_t to_u8(float v)
{
    float s = 255.0f * v;
    if (!(s > 0.0f))
        return 0;
    if (s > 255.0f)
        return 255;
    return (uint8_t)s;
}

static int resize_lanczos(const float *in, int64_t b, int64_t h, int64_t w,
                          int64_t c, int64_t in_rs, int64_t in_bs, float *out,
                          int64_t oh, int64_t ow)
{
    if (c != 1 && c != 3 && c != 4)
        return COMFY_EINVAL;
    uint8_t *src = malloc((size_t)(h * w * c));
    uint8_t *dst = malloc((size_t)(oh * ow * c));
    int rc = COMFY_ENOMEM;
    if (!src || !dst)
        goto out;
    for (int64_t bi = 0; bi < b; bi++) {
        for (int64_t y = 0; y < h; y++) {
            const float *row = in + bi * in_bs + y * in_rs;
            for (int64_t i = 0; i < w * c; i++)
                src[y * w * c + i] = to_u8(row[i]);
        }
        rc = core_pil_lanczos_u8(src, h, w, c, dst, oh, ow);
        if (rc)
            goto out;
        float *o = out + bi * oh * ow * c;
        for (int64_t i = 0; i < oh * ow * c; i++)
            o[i] = (float)dst[i] / 255.0f;
    }
    rc = 0;
out:
    free(src);
    free(dst);
    return rc;
}

int core_resize(const float *in, int64_t b, int64_t h, int64_t w, int64_t c,
                int64_t in_rs, int64_t in_bs, float *out, int64_t oh,
                int64_t ow, int method)
{
    if (b < 1 || h < 1 || w < 1 || c < 1 || oh < 1 || ow < 1)
        return COMFY_EINVAL;
    if (method == CORE_LANCZOS)
        return resize_lanczos(in, b, h, w, c, in_rs, in_bs, out, oh, ow);
    if (method < CORE_NEAREST_EXACT || method > CORE_BICUBIC)
        return COMFY_EINVAL;
    return resize_torch(in, b, h, w, c, in_rs, in_bs, out, oh, ow, method);
}

int core_upscale(const float *in, int64_t b, int64_t h, int64_t w, int64_t c,
                 float *out, int64_t oh, int64_t ow, int method, int crop)
{
    int64_t y = 0, x = 0, ch = h, cw = w;
    if (crop)
        core_center_crop(h, w, oh, ow, &y, &x, &ch, &cw);
    if (ch < 1 || cw < 1)
        return COMFY_EINVAL;
    return core_resize(in + (y * w + x) * c, b, ch, cw, c, w * c, h * w * c,
                       out, oh, ow, method);
}
