/*
 * mask_ops.c — pixel maths of MaskComposite, FeatherMask and GrowMask on
 * [b, h, w] float buffers, following ComfyUI's comfy_extras/nodes_mask.
 * Reentrant; any thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

const char *const core_mask_ops[] = {
    "multiply", "add", "subtract", "and", "or", "xor", NULL
};

void core_mask_composite(float *dst, int64_t b, int64_t h, int64_t w,
                         const float *src, int64_t sb, int64_t sh,
                         int64_t sw, int64_t x, int64_t y, int op)
{
    int64_t right = x + sw < w ? x + sw : w;
    int64_t bottom = y + sh < h ? y + sh : h;
    int64_t vw = right - x, vh = bottom - y;
    for (int64_t bi = 0; bi < b && vw > 0 && vh > 0; bi++) {
        const float *s = src + (sb == 1 ? 0 : bi) * sh * sw;
        float *d = dst + bi * h * w;
        for (int64_t i = 0; i < vh; i++) {
            for (int64_t j = 0; j < vw; j++) {
                float *dv = &d[(y + i) * w + x + j];
                float sv = s[i * sw + j];
                /* torch round() is half-to-even, as rint. */
                int db = rintf(*dv) != 0.0f, sbit = rintf(sv) != 0.0f;
                switch (op) {
                case CORE_MASK_MULTIPLY: *dv = *dv * sv; break;
                case CORE_MASK_ADD: *dv = *dv + sv; break;
                case CORE_MASK_SUBTRACT: *dv = *dv - sv; break;
                case CORE_MASK_AND: *dv = (float)(db && sbit); break;
                case CORE_MASK_OR: *dv = (float)(db || sbit); break;
                default: *dv = (float)(db != sbit); break;
                }
            }
        }
    }
    for (int64_t i = 0; i < b * h * w; i++)
        dst[i] = dst[i] < 0.0f ? 0.0f : dst[i] > 1.0f ? 1.0f : dst[i];
}

static void scale_col(float *m, int64_t b, int64_t h, int64_t w, int64_t col,
                      double rate)
{
    float f = (float)rate;
    for (int64_t bi = 0; bi < b; bi++)
        for (int64_t y = 0; y < h; y++)
            m[(bi * h + y) * w + col] *= f;
}

static void scale_row(float *m, int64_t b, int64_t h, int64_t w, int64_t row,
                      double rate)
{
    float f = (float)rate;
    for (int64_t bi = 0; bi < b; bi++)
        for (int64_t x = 0; x < w; x++)
            m[(bi * h + row) * w + x] *= f;
}

void core_mask_feather(float *m, int64_t b, int64_t h, int64_t w,
                       int64_t left, int64_t top, int64_t right,
                       int64_t bottom)
{
    if (left > w) left = w;
    if (right > w) right = w;
    if (top > h) top = h;
    if (bottom > h) bottom = h;
    for (int64_t x = 0; x < left; x++)
        scale_col(m, b, h, w, x, (x + 1.0) / (double)left);
    /* ComfyUI indexes output[:, :, -x]: x = 0 is column 0, not the last. */
    for (int64_t x = 0; x < right; x++)
        scale_col(m, b, h, w, x == 0 ? 0 : w - x, (x + 1.0) / (double)right);
    for (int64_t y = 0; y < top; y++)
        scale_row(m, b, h, w, y, (y + 1.0) / (double)top);
    for (int64_t y = 0; y < bottom; y++)
        scale_row(m, b, h, w, y == 0 ? 0 : h - y, (y + 1.0) / (double)bottom);
}

int core_mask_grow(float *m, int64_t b, int64_t h, int64_t w, int64_t expand,
                   int tapered)
{
    if (expand == 0)
        return 0;
    float *tmp = malloc(sizeof(float) * (size_t)(h * w));
    if (!tmp)
        return COMFY_ENOMEM;
    int64_t steps = expand < 0 ? -expand : expand;
    int dilate = expand > 0;
    for (int64_t bi = 0; bi < b; bi++) {
        float *p = m + bi * h * w;
        /* Stops early once a step changes nothing: further steps of the
         * same filter cannot either. */
        int changed = 1;
        for (int64_t s = 0; s < steps && changed; s++) {
            changed = 0;
            for (int64_t y = 0; y < h; y++) {
                for (int64_t x = 0; x < w; x++) {
                    float v = p[y * w + x];
                    for (int dy = -1; dy <= 1; dy++) {
                        for (int dx = -1; dx <= 1; dx++) {
                            if (tapered && dx != 0 && dy != 0)
                                continue;
                            /* scipy 'reflect' at radius 1 = edge copy */
                            int64_t yy = y + dy, xx = x + dx;
                            yy = yy < 0 ? 0 : yy >= h ? h - 1 : yy;
                            xx = xx < 0 ? 0 : xx >= w ? w - 1 : xx;
                            float q = p[yy * w + xx];
                            if (dilate ? q > v : q < v)
                                v = q;
                        }
                    }
                    if (v != p[y * w + x])
                        changed = 1;
                    tmp[y * w + x] = v;
                }
            }
            memcpy(p, tmp, sizeof(float) * (size_t)(h * w));
        }
    }
    free(tmp);
    return 0;
}
