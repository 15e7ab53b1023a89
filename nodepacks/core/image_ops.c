/*
 * image_ops.c — pixel maths of ImageBlend, ImageBlur, ImageSharpen,
 * ImagePadForOutpaint and EmptyImage on channels-last float buffers,
 * following ComfyUI's float32 torch code.  Reentrant; any thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

const char *const core_blend_modes[] = {
    "normal", "multiply", "screen", "overlay", "soft_light", "difference",
    NULL
};

static float soft_light_g(float x)
{
    return x <= 0.25f ? ((16.0f * x - 12.0f) * x + 4.0f) * x : sqrtf(x);
}

static float blend_one(float a, float b, int mode)
{
    switch (mode) {
    case CORE_BLEND_MULTIPLY:
        return a * b;
    case CORE_BLEND_SCREEN:
        return 1.0f - (1.0f - a) * (1.0f - b);
    case CORE_BLEND_OVERLAY:
        return a <= 0.5f ? 2.0f * a * b : 1.0f - 2.0f * (1.0f - a) * (1.0f - b);
    case CORE_BLEND_SOFT_LIGHT:
        return b <= 0.5f ? a - (1.0f - 2.0f * b) * a * (1.0f - a)
                         : a + (2.0f * b - 1.0f) * (soft_light_g(a) - a);
    case CORE_BLEND_DIFFERENCE:
        return a - b;
    default:
        return b;
    }
}

void core_blend(const float *a, const float *b, float *out, size_t n,
                float factor, int mode)
{
    float keep = (float)(1.0 - (double)factor);
    for (size_t i = 0; i < n; i++) {
        float v = a[i] * keep + blend_one(a[i], b[i], mode) * factor;
        /* torch.clamp keeps NaN; fmin/fmax would drop it. */
        out[i] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    }
}

void core_gaussian_kernel(int r, float sigma, float *kernel)
{
    int k = 2 * r + 1;
    float lin[63];
    /* torch.linspace(-1, 1, k): start + i*step for the first half, end -
     * (k-1-i)*step for the second. */
    float step = k > 1 ? 2.0f / (float)(k - 1) : 0.0f;
    for (int i = 0; i < k; i++)
        lin[i] = i < k / 2 ? -1.0f + step * (float)i
                           : 1.0f - step * (float)(k - 1 - i);
    if (k == 1)
        lin[0] = -1.0f;
    float den = (float)(2.0 * (double)sigma * (double)sigma);
    float sum = 0.0f;
    for (int i = 0; i < k; i++) {
        for (int j = 0; j < k; j++) {
            float d = sqrtf(lin[i] * lin[i] + lin[j] * lin[j]);
            float g = expf(-(d * d) / den);
            kernel[i * k + j] = g;
            sum += g;
        }
    }
    for (int i = 0; i < k * k; i++)
        kernel[i] /= sum;
}

void core_sharpen_kernel(int r, float sigma, float alpha, float *kernel)
{
    int k = 2 * r + 1;
    core_gaussian_kernel(r, sigma, kernel);
    float f = (float)(-((double)alpha * 10.0));
    float sum = 0.0f;
    for (int i = 0; i < k * k; i++) {
        kernel[i] *= f;
        sum += kernel[i];
    }
    kernel[r * k + r] = kernel[r * k + r] - sum + 1.0f;
}

/* torch 'reflect' index: -1 -> 1, n -> n-2 (valid for |overshoot| < n). */
static int64_t reflect(int64_t i, int64_t n)
{
    if (i < 0)
        return -i;
    if (i >= n)
        return 2 * (n - 1) - i;
    return i;
}

/* The source index of each of the n + 2r positions of an axis of length
 * n padded by r on both sides with torch 'reflect'.  A new array the
 * caller frees, or NULL when memory runs out. */
static int64_t *reflect_table(int64_t n, int r)
{
    int64_t *t = malloc(sizeof(int64_t) * (size_t)(n + 2 * r));
    if (t)
        for (int64_t i = 0; i < n + 2 * r; i++)
            t[i] = reflect(i - r, n);
    return t;
}

int core_conv_reflect(const float *in, int64_t b, int64_t h, int64_t w,
                      int64_t c, const float *kernel, int r, float *out,
                      int clamp01)
{
    if (r < 0 || r >= h || r >= w)
        return COMFY_EINVAL;
    int64_t k = 2 * (int64_t)r + 1;
    int64_t *xi = reflect_table(w, r), *yi = reflect_table(h, r);
    if (!xi || !yi) {
        free(xi);
        free(yi);
        return COMFY_ENOMEM;
    }
    for (int64_t bi = 0; bi < b; bi++) {
        const float *src = in + bi * h * w * c;
        float *dst = out + bi * h * w * c;
        for (int64_t y = 0; y < h; y++) {
            for (int64_t x = 0; x < w; x++) {
                for (int64_t ch = 0; ch < c; ch++) {
                    float acc = 0.0f;
                    for (int64_t u = 0; u < k; u++) {
                        const float *row = src + yi[y + u] * w * c;
                        const float *kr = kernel + u * k;
                        for (int64_t v = 0; v < k; v++)
                            acc += kr[v] * row[xi[x + v] * c + ch];
                    }
                    if (clamp01)
                        acc = acc < 0.0f ? 0.0f : acc > 1.0f ? 1.0f : acc;
                    dst[(y * w + x) * c + ch] = acc;
                }
            }
        }
    }
    free(xi);
    free(yi);
    return 0;
}

/* The 1-D factor of the Gaussian kernel: the 2-D kernel of
 * core_gaussian_kernel is the outer product of this with itself. */
static void gaussian_1d(int r, float sigma, float *g)
{
    int k = 2 * r + 1;
    float step = k > 1 ? 2.0f / (float)(k - 1) : 0.0f;
    float den = (float)(2.0 * (double)sigma * (double)sigma);
    double sum = 0.0;
    for (int i = 0; i < k; i++) {
        float u = k == 1 ? -1.0f
                         : i < k / 2 ? -1.0f + step * (float)i
                                     : 1.0f - step * (float)(k - 1 - i);
        g[i] = expf(-(u * u) / den);
        sum += g[i];
    }
    for (int i = 0; i < k; i++)
        g[i] = (float)(g[i] / sum);
}

int core_gaussian_blur(const float *in, int64_t b, int64_t h, int64_t w,
                       int64_t c, int r, float sigma, float *out)
{
    if (r < 0 || r > 31 || r >= h || r >= w)
        return COMFY_EINVAL;
    float g[63];
    gaussian_1d(r, sigma, g);
    int64_t k = 2 * (int64_t)r + 1;
    float *tmp = malloc(sizeof(float) * (size_t)(h * w * c));
    int64_t *xi = reflect_table(w, r), *yi = reflect_table(h, r);
    if (!tmp || !xi || !yi) {
        free(tmp);
        free(xi);
        free(yi);
        return COMFY_ENOMEM;
    }
    for (int64_t bi = 0; bi < b; bi++) {
        const float *src = in + bi * h * w * c;
        float *dst = out + bi * h * w * c;
        /* along x into tmp */
        for (int64_t y = 0; y < h; y++) {
            const float *row = src + y * w * c;
            float *trow = tmp + y * w * c;
            for (int64_t x = 0; x < w; x++)
                for (int64_t ch = 0; ch < c; ch++) {
                    float acc = 0.0f;
                    for (int64_t v = 0; v < k; v++)
                        acc += g[v] * row[xi[x + v] * c + ch];
                    trow[x * c + ch] = acc;
                }
        }
        /* along y into dst */
        for (int64_t y = 0; y < h; y++) {
            float *orow = dst + y * w * c;
            for (int64_t i = 0; i < w * c; i++)
                orow[i] = 0.0f;
            for (int64_t u = 0; u < k; u++) {
                const float *trow = tmp + yi[y + u] * w * c;
                for (int64_t i = 0; i < w * c; i++)
                    orow[i] += g[u] * trow[i];
            }
        }
    }
    free(tmp);
    free(xi);
    free(yi);
    return 0;
}

int core_sharpen(const float *in, int64_t b, int64_t h, int64_t w, int64_t c,
                 int r, float sigma, float alpha, float *out)
{
    int rc = core_gaussian_blur(in, b, h, w, c, r, sigma, out);
    if (rc)
        return rc;
    /* K = -10a*G + (1 + 10a)*delta, since G sums to 1 */
    float f = (float)((double)alpha * 10.0);
    for (int64_t i = 0; i < b * h * w * c; i++) {
        float v = (1.0f + f) * in[i] - f * out[i];
        out[i] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    }
    return 0;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

void core_pad_outpaint(const float *in, int64_t b, int64_t h, int64_t w,
                       int64_t c, int64_t left, int64_t top, int64_t right,
                       int64_t bottom, int64_t feathering, float *out,
                       float *mask)
{
    int64_t nh = h + top + bottom, nw = w + left + right;
    for (int64_t i = 0; i < b * nh * nw * c; i++)
        out[i] = 0.5f;
    for (int64_t bi = 0; bi < b; bi++)
        for (int64_t y = 0; y < h; y++)
            memcpy(out + ((bi * nh + y + top) * nw + left) * c,
                   in + (bi * h + y) * w * c, sizeof(float) * (size_t)(w * c));
    for (int64_t i = 0; i < nh * nw; i++)
        mask[i] = 1.0f;
    int feather = feathering > 0 && feathering * 2 < h && feathering * 2 < w;
    for (int64_t i = 0; i < h; i++) {
        for (int64_t j = 0; j < w; j++) {
            float t = 0.0f;
            if (feather) {
                int64_t dt = top != 0 ? i : h;
                int64_t db = bottom != 0 ? h - i : h;
                int64_t dl = left != 0 ? j : w;
                int64_t dr = right != 0 ? w - j : w;
                int64_t d = min64(min64(dt, db), min64(dl, dr));
                if (d < feathering) {
                    double v = (double)(feathering - d) / (double)feathering;
                    t = (float)(v * v);
                }
            }
            mask[(i + top) * nw + j + left] = t;
        }
    }
}

void core_fill_color(float *out, int64_t n_pixels, int64_t color)
{
    float r = (float)((double)((color >> 16) & 0xFF) / 255.0);
    float g = (float)((double)((color >> 8) & 0xFF) / 255.0);
    float bl = (float)((double)(color & 0xFF) / 255.0);
    for (int64_t i = 0; i < n_pixels; i++) {
        out[i * 3] = r;
        out[i * 3 + 1] = g;
        out[i * 3 + 2] = bl;
    }
}
