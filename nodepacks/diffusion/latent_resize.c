/*
 * latent_resize.c — ComfyUI's common_upscale on NCHW latents: torch's
 * interpolate (nearest-exact, bilinear and bicubic with align_corners
 * False, area = adaptive average pooling) and ComfyUI's bislerp, with the
 * optional center crop.  Float32 arithmetic in torch's order.  Pure
 * functions; any thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dpack.h"

const char *const dp_upscale_methods[] = {"nearest-exact", "bilinear", "area", "bicubic",
                                          "bislerp", NULL};

/* Resizes P planes ih x iw into oh x ow with one of the torch modes. */
static void resize_planes(const float *in, int64_t P, int64_t ih, int64_t iw, float *out,
                          int64_t oh, int64_t ow, int method)
{
    float sh = (float)ih / (float)oh, sw = (float)iw / (float)ow;
    for (int64_t p = 0; p < P; p++) {
        const float *src = in + p * ih * iw;
        float *dst = out + p * oh * ow;
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                float v = 0;
                switch (method) {
                case DP_UPSCALE_NEAREST: {
                    int64_t y = (int64_t)floorf(((float)i + 0.5f) * sh);
                    int64_t x = (int64_t)floorf(((float)j + 0.5f) * sw);
                    y = y < ih - 1 ? y : ih - 1;
                    x = x < iw - 1 ? x : iw - 1;
                    v = src[y * iw + x];
                    break;
                }
                case DP_UPSCALE_BILINEAR: {
                    float fy = sh * ((float)i + 0.5f) - 0.5f, fx = sw * ((float)j + 0.5f) - 0.5f;
                    fy = fy < 0 ? 0 : fy;
                    fx = fx < 0 ? 0 : fx;
                    int64_t y0 = (int64_t)fy, x0 = (int64_t)fx;
                    int64_t y1 = y0 + (y0 < ih - 1), x1 = x0 + (x0 < iw - 1);
                    float ly = fy - (float)y0, lx = fx - (float)x0;
                    float hy = 1.0f - ly, hx = 1.0f - lx;
                    v = hy * (hx * src[y0 * iw + x0] + lx * src[y0 * iw + x1]) +
                        ly * (hx * src[y1 * iw + x0] + lx * src[y1 * iw + x1]);
                    break;
                }
                case DP_UPSCALE_AREA: {
                    int64_t y0 = (i * ih) / oh, y1 = ((i + 1) * ih + oh - 1) / oh;
                    int64_t x0 = (j * iw) / ow, x1 = ((j + 1) * iw + ow - 1) / ow;
                    float sum = 0;
                    for (int64_t y = y0; y < y1; y++)
                        for (int64_t x = x0; x < x1; x++)
                            sum += src[y * iw + x];
                    v = sum / (float)((y1 - y0) * (x1 - x0));
                    break;
                }
                default: { /* bicubic, A = -0.75 */
                    const float A = -0.75f;
                    float ry = sh * ((float)i + 0.5f) - 0.5f, rx = sw * ((float)j + 0.5f) - 0.5f;
                    int64_t y = (int64_t)floorf(ry), x = (int64_t)floorf(rx);
                    float ty = ry - (float)y, tx = rx - (float)x;
                    float wx[4], wy[4];
                    float ts[2] = {tx, ty};
                    float *ws[2] = {wx, wy};
                    for (int k = 0; k < 2; k++) {
                        float t = ts[k];
                        float x1 = t + 1.0f, x2 = 1.0f - t, x3 = 2.0f - t;
                        ws[k][0] = ((A * x1 - 5.0f * A) * x1 + 8.0f * A) * x1 - 4.0f * A;
                        ws[k][1] = ((A + 2.0f) * t - (A + 3.0f)) * t * t + 1.0f;
                        ws[k][2] = ((A + 2.0f) * x2 - (A + 3.0f)) * x2 * x2 + 1.0f;
                        ws[k][3] = ((A * x3 - 5.0f * A) * x3 + 8.0f * A) * x3 - 4.0f * A;
                    }
                    float rows[4];
                    for (int a = 0; a < 4; a++) {
                        int64_t yy = y - 1 + a;
                        yy = yy < 0 ? 0 : yy > ih - 1 ? ih - 1 : yy;
                        float r = 0;
                        for (int b = 0; b < 4; b++) {
                            int64_t xx = x - 1 + b;
                            xx = xx < 0 ? 0 : xx > iw - 1 ? iw - 1 : xx;
                            r = b ? r + src[yy * iw + xx] * wx[b] : src[yy * iw + xx] * wx[b];
                        }
                        rows[a] = r;
                    }
                    v = rows[0] * wy[0] + rows[1] * wy[1] + rows[2] * wy[2] + rows[3] * wy[3];
                    break;
                }
                }
                dst[i * ow + j] = v;
            }
    }
}

/* bislerp's generate_bilinear_data: for each new index the two source
 * indices and the ratio, from torch's bilinear interpolation of arange. */
static void bilinear_data(int64_t len_old, int64_t len_new, int64_t *c1, int64_t *c2, float *r)
{
    float s = (float)len_old / (float)len_new;
    for (int64_t j = 0; j < len_new; j++) {
        float f = s * ((float)j + 0.5f) - 0.5f;
        f = f < 0 ? 0 : f;
        int64_t i0 = (int64_t)f, i1 = i0 + (i0 < len_old - 1);
        float l = f - (float)i0, hl = 1.0f - l;
        float v1 = hl * (float)i0 + l * (float)i1;
        /* arange + 1 with the last value decremented */
        float a0 = (float)(i0 + 1 < len_old ? i0 + 1 : len_old - 1);
        float a1 = (float)(i1 + 1 < len_old ? i1 + 1 : len_old - 1);
        float v2 = hl * a0 + l * a1;
        r[j] = v1 - floorf(v1);
        c1[j] = (int64_t)v1;
        c2[j] = (int64_t)v2;
    }
}

/* ComfyUI's slerp of two C-vectors into out. */
static void slerp(const float *b1, const float *b2, float r, int64_t C, float *out)
{
    float n1 = 0, n2 = 0;
    for (int64_t c = 0; c < C; c++) {
        n1 += b1[c] * b1[c];
        n2 += b2[c] * b2[c];
    }
    n1 = sqrtf(n1);
    n2 = sqrtf(n2);
    float dot = 0;
    for (int64_t c = 0; c < C; c++) {
        float u = n1 == 0.0f ? 0.0f : b1[c] / n1;
        float w = n2 == 0.0f ? 0.0f : b2[c] / n2;
        dot += u * w;
    }
    if (dot > 1.0f - 1e-5f) {
        memcpy(out, b1, (size_t)C * sizeof(float));
        return;
    }
    if (dot < 1e-5f - 1.0f) {
        for (int64_t c = 0; c < C; c++)
            out[c] = b1[c] * (1.0f - r) + b2[c] * r;
        return;
    }
    float omega = acosf(dot), so = sinf(omega);
    float k1 = sinf((1.0f - r) * omega) / so, k2 = sinf(r * omega) / so;
    float scale = n1 * (1.0f - r) + n2 * r;
    for (int64_t c = 0; c < C; c++) {
        float u = n1 == 0.0f ? 0.0f : b1[c] / n1;
        float w = n2 == 0.0f ? 0.0f : b2[c] / n2;
        out[c] = (k1 * u + k2 * w) * scale;
    }
}

/* bislerp along one axis: width pass (axis 1) or height pass (axis 0) of
 * [N, C, h, w] into [N, C, h', w'].  Returns 0 or COMFY_ENOMEM. */
static int bislerp_axis(const float *in, int64_t N, int64_t C, int64_t h, int64_t w, int axis,
                        int64_t len_new, float *out)
{
    int64_t len_old = axis ? w : h;
    int64_t oh = axis ? h : len_new, ow = axis ? len_new : w;
    int64_t *c1 = malloc((size_t)len_new * sizeof *c1), *c2 = malloc((size_t)len_new * sizeof *c2);
    float *r = malloc((size_t)len_new * sizeof *r);
    float *v1 = malloc((size_t)C * 3 * sizeof(float));
    if (!c1 || !c2 || !r || !v1) {
        free(c1);
        free(c2);
        free(r);
        free(v1);
        return COMFY_ENOMEM;
    }
    float *v2 = v1 + C, *res = v1 + 2 * C;
    bilinear_data(len_old, len_new, c1, c2, r);
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                int64_t k = axis ? j : i;
                for (int64_t c = 0; c < C; c++) {
                    const float *pl = in + (n * C + c) * h * w;
                    v1[c] = axis ? pl[i * w + c1[k]] : pl[c1[k] * w + j];
                    v2[c] = axis ? pl[i * w + c2[k]] : pl[c2[k] * w + j];
                }
                slerp(v1, v2, r[k], C, res);
                for (int64_t c = 0; c < C; c++)
                    out[((n * C + c) * oh + i) * ow + j] = res[c];
            }
    free(c1);
    free(c2);
    free(r);
    free(v1);
    return COMFY_OK;
}

int dp_common_upscale(const float *in, int64_t N, int64_t C, int64_t h, int64_t w, float *out,
                      int64_t oh, int64_t ow, int method, int crop)
{
    if (N < 0 || C < 1 || h < 1 || w < 1 || oh < 1 || ow < 1)
        return COMFY_EINVAL;
    int64_t y = 0, x = 0;
    if (crop) {
        double old_aspect = (double)w / (double)h, new_aspect = (double)ow / (double)oh;
        if (old_aspect > new_aspect)
            x = (int64_t)nearbyint(((double)w - (double)w * (new_aspect / old_aspect)) / 2.0);
        else if (old_aspect < new_aspect)
            y = (int64_t)nearbyint(((double)h - (double)h * (old_aspect / new_aspect)) / 2.0);
    }
    int64_t ch = h - 2 * y, cw = w - 2 * x;
    if (ch < 1 || cw < 1)
        return COMFY_EINVAL;
    float *src = (float *)in, *tmp = NULL;
    if (y || x) {
        src = malloc((size_t)(N * C * ch * cw) * sizeof(float));
        if (!src)
            return COMFY_ENOMEM;
        for (int64_t p = 0; p < N * C; p++)
            for (int64_t i = 0; i < ch; i++)
                memcpy(src + (p * ch + i) * cw, in + (p * h + y + i) * w + x,
                       (size_t)cw * sizeof(float));
    }
    int rc = COMFY_OK;
    if (method == DP_UPSCALE_BISLERP) {
        tmp = malloc((size_t)(N * C * ch * ow) * sizeof(float));
        if (!tmp)
            rc = COMFY_ENOMEM;
        else if ((rc = bislerp_axis(src, N, C, ch, cw, 1, ow, tmp)) == COMFY_OK)
            rc = bislerp_axis(tmp, N, C, ch, ow, 0, oh, out);
    } else {
        resize_planes(src, N * C, ch, cw, out, oh, ow, method);
    }
    free(tmp);
    if (src != in)
        free(src);
    return rc;
}
