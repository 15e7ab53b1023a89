/*
 * test_pixels.c — the core pack's pixel maths against goldens made by
 * tests/core/gen/make_goldens.py with torch 1.13, Pillow 9.4 and scipy
 * (torch interpolate, PIL LANCZOS, conv2d with reflect padding, grey
 * dilation/erosion), plus hand-computed cases for the simple nodes.
 *
 * Tolerances: torch-matching float paths within 2e-6 absolute (1e-5 for
 * sharpen); PIL lanczos exact on uint8, RGB and premultiplied RGBA.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core.h"

static void *read_golden(const char *name, size_t want)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", CORE_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        CHECK(0, "cannot open %s", path);
        return NULL;
    }
    void *buf = malloc(want + 1);
    size_t n = fread(buf, 1, want + 1, f);
    fclose(f);
    CHECK(n == want, "%s has %zu bytes, expected %zu", name, n, want);
    if (n != want) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The generator's test image: ((x*7 + y*13 + ch*29 + n*3) % 17) / 16. */
static float *test_image(int64_t b, int64_t h, int64_t w, int64_t c)
{
    float *p = malloc(sizeof(float) * (size_t)(b * h * w * c));
    for (int64_t n = 0; n < b; n++)
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++)
                for (int64_t ch = 0; ch < c; ch++)
                    p[((n * h + y) * w + x) * c + ch] =
                        (float)((x * 7 + y * 13 + ch * 29 + n * 3) % 17) / 16.0f;
    return p;
}

static double worst_torch; /* largest difference seen against torch */

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || isnan(d))
            m = isnan(d) ? INFINITY : d;
    }
    if (m > worst_torch)
        worst_torch = m;
    return m;
}

static void test_resize(void)
{
    float *img = test_image(2, 5, 7, 3);
    static const int sizes[3][2] = { { 9, 11 }, { 3, 4 }, { 5, 3 } };
    for (int m = 0; m < 4; m++) {
        for (int s = 0; s < 3; s++) {
            int oh = sizes[s][0], ow = sizes[s][1];
            size_t n = (size_t)(2 * oh * ow * 3);
            char name[128];
            snprintf(name, sizeof(name), "resize_%s_%dx%d.f32",
                     core_upscale_methods[m], oh, ow);
            float *want = read_golden(name, n * sizeof(float));
            float *got = malloc(n * sizeof(float));
            int rc = core_upscale(img, 2, 5, 7, 3, got, oh, ow, m, 0);
            CHECK(rc == 0, "%s rc %d", name, rc);
            if (want) {
                double d = max_diff(got, want, n);
                CHECK(d <= 2e-6, "%s differs by %g", name, d);
            }
            free(want);
            free(got);
        }
        char name[128];
        snprintf(name, sizeof(name), "upscale_center_%s_4x4.f32",
                 core_upscale_methods[m]);
        size_t n = 2 * 4 * 4 * 3;
        float *want = read_golden(name, n * sizeof(float));
        float got[2 * 4 * 4 * 3];
        CHECK(core_upscale(img, 2, 5, 7, 3, got, 4, 4, m, 1) == 0, "%s", name);
        if (want)
            CHECK(max_diff(got, want, n) <= 2e-6, "%s differs by %g", name,
                  max_diff(got, want, n));
        free(want);
    }
    free(img);
    /* odd ratios on a larger image */
    float *big = test_image(1, 23, 19, 3);
    static const int bs[2][2] = { { 7, 40 }, { 29, 21 } };
    for (int m = 0; m < 4; m++) {
        for (int s = 0; s < 2; s++) {
            int oh = bs[s][0], ow = bs[s][1];
            size_t n = (size_t)(oh * ow * 3);
            char name[128];
            snprintf(name, sizeof(name), "resize_big_%s_%dx%d.f32",
                     core_upscale_methods[m], oh, ow);
            float *want = read_golden(name, n * sizeof(float));
            float *got = malloc(n * sizeof(float));
            CHECK(core_upscale(big, 1, 23, 19, 3, got, oh, ow, m, 0) == 0,
                  "%s", name);
            if (want)
                CHECK(max_diff(got, want, n) <= 2e-6, "%s differs by %g", name,
                      max_diff(got, want, n));
            free(want);
            free(got);
        }
    }
    free(big);
}

static void test_lanczos(void)
{
    float *img = test_image(1, 23, 19, 3);
    static const int sizes[3][2] = { { 9, 11 }, { 40, 31 }, { 23, 7 } };
    for (int s = 0; s < 3; s++) {
        int oh = sizes[s][0], ow = sizes[s][1];
        size_t n = (size_t)(oh * ow * 3);
        char name[64];
        snprintf(name, sizeof(name), "lanczos_%dx%d.u8", oh, ow);
        uint8_t *want = read_golden(name, n);
        float *got = malloc(n * sizeof(float));
        CHECK(core_upscale(img, 1, 23, 19, 3, got, oh, ow, CORE_LANCZOS, 0)
                  == 0, "%s", name);
        int bad = 0;
        for (size_t i = 0; want && i < n; i++)
            if (got[i] != (float)want[i] / 255.0f)
                bad++;
        CHECK(bad == 0, "%s: %d values differ from PIL", name, bad);
        free(want);
        free(got);
    }
    free(img);
    float *rgba = test_image(1, 6, 5, 4);
    size_t n = 9 * 4 * 4;
    uint8_t *want = read_golden("lanczos_rgba_9x4.u8", n);
    float got[9 * 4 * 4];
    CHECK(core_upscale(rgba, 1, 6, 5, 4, got, 9, 4, CORE_LANCZOS, 0) == 0,
          "rgba");
    int worst = 0;
    for (size_t i = 0; want && i < n; i++) {
        int d = abs((int)lrintf(got[i] * 255.0f) - (int)want[i]);
        worst = d > worst ? d : worst;
    }
    CHECK(worst == 0, "lanczos RGBA differs from PIL by %d", worst);
    free(want);
    free(rgba);
}

static void test_center_crop(void)
{
    int64_t y, x, ch, cw;
    core_center_crop(512, 768, 512, 512, &y, &x, &ch, &cw);
    CHECK(x == 128 && y == 0 && cw == 512 && ch == 512, "wide crop %lld %lld",
          (long long)x, (long long)cw);
    core_center_crop(100, 50, 10, 10, &y, &x, &ch, &cw);
    CHECK(x == 0 && y == 25 && ch == 50 && cw == 50, "tall crop");
    core_center_crop(5, 5, 3, 3, &y, &x, &ch, &cw);
    CHECK(x == 0 && y == 0 && ch == 5 && cw == 5, "same aspect");
}

static void test_filters(void)
{
    float *img = test_image(1, 6, 7, 3);
    size_t n = 6 * 7 * 3;
    float kernel[25], got[6 * 7 * 3];
    core_gaussian_kernel(2, 1.5f, kernel);
    CHECK(core_conv_reflect(img, 1, 6, 7, 3, kernel, 2, got, 0) == 0, "blur");
    float *want = read_golden("blur_r2_s1.5.f32", n * sizeof(float));
    if (want)
        CHECK(max_diff(got, want, n) <= 2e-6, "blur differs by %g",
              max_diff(got, want, n));
    free(want);
    core_sharpen_kernel(1, 1.0f, 0.7f, kernel);
    CHECK(core_conv_reflect(img, 1, 6, 7, 3, kernel, 1, got, 1) == 0,
          "sharpen");
    want = read_golden("sharpen_r1_s1_a0.7.f32", n * sizeof(float));
    if (want)
        CHECK(max_diff(got, want, n) <= 1e-5, "sharpen differs by %g",
              max_diff(got, want, n));
    free(want);
    /* the separable versions the nodes use */
    want = read_golden("blur_r2_s1.5.f32", n * sizeof(float));
    CHECK(core_gaussian_blur(img, 1, 6, 7, 3, 2, 1.5f, got) == 0, "blur");
    if (want)
        CHECK(max_diff(got, want, n) <= 2e-6, "separable blur differs by %g",
              max_diff(got, want, n));
    free(want);
    want = read_golden("sharpen_r1_s1_a0.7.f32", n * sizeof(float));
    CHECK(core_sharpen(img, 1, 6, 7, 3, 1, 1.0f, 0.7f, got) == 0, "sharpen");
    if (want)
        CHECK(max_diff(got, want, n) <= 1e-5, "sharpen differs by %g",
              max_diff(got, want, n));
    free(want);
    CHECK(core_gaussian_blur(img, 1, 6, 7, 3, 6, 1.0f, got) == COMFY_EINVAL,
          "radius 6 on height 6");
    float *big = test_image(1, 23, 19, 3), bo[23 * 19 * 3];
    size_t nb = 23 * 19 * 3;
    want = read_golden("blur_big_r9_s2.5.f32", nb * sizeof(float));
    CHECK(core_gaussian_blur(big, 1, 23, 19, 3, 9, 2.5f, bo) == 0, "blur r9");
    if (want)
        CHECK(max_diff(bo, want, nb) <= 2e-6, "blur r9 differs by %g",
              max_diff(bo, want, nb));
    free(want);
    want = read_golden("sharpen_big_r5_s0.8_a2.f32", nb * sizeof(float));
    CHECK(core_sharpen(big, 1, 23, 19, 3, 5, 0.8f, 2.0f, bo) == 0, "sharp r5");
    if (want)
        CHECK(max_diff(bo, want, nb) <= 1e-5, "sharpen r5 differs by %g",
              max_diff(bo, want, nb));
    free(want);
    free(big);
    /* torch's reflect padding needs the radius below the image size */
    CHECK(core_conv_reflect(img, 1, 6, 7, 3, kernel, 6, got, 0) ==
          COMFY_EINVAL, "radius 6 on height 6");
    free(img);
}

static void test_grow(void)
{
    float *m = test_image(1, 6, 7, 1);
    static const char *const names[2] = { "tapered", "full" };
    for (int t = 0; t < 2; t++) {
        float a[42], b[42];
        memcpy(a, m, sizeof(a));
        memcpy(b, m, sizeof(b));
        CHECK(core_mask_grow(a, 1, 6, 7, 2, t == 0) == 0, "grow");
        CHECK(core_mask_grow(b, 1, 6, 7, -1, t == 0) == 0, "shrink");
        char name[64];
        snprintf(name, sizeof(name), "grow_%s_+2.f32", names[t]);
        float *want = read_golden(name, sizeof(a));
        if (want)
            CHECK(max_diff(a, want, 42) == 0, "%s", name);
        free(want);
        snprintf(name, sizeof(name), "grow_%s_-1.f32", names[t]);
        want = read_golden(name, sizeof(b));
        if (want)
            CHECK(max_diff(b, want, 42) == 0, "%s", name);
        free(want);
    }
    free(m);
}

static void test_blend(void)
{
    float a[6] = { 0.2f, 0.8f, 0.5f, 0.1f, 0.9f, 0.3f };
    float b[6] = { 0.6f, 0.3f, 0.5f, 0.4f, 0.2f, 0.9f };
    float o[6];
    core_blend(a, b, o, 6, 1.0f, CORE_BLEND_MULTIPLY);
    CHECK(fabsf(o[0] - 0.12f) < 1e-6f, "multiply %g", o[0]);
    core_blend(a, b, o, 6, 1.0f, CORE_BLEND_SCREEN);
    CHECK(fabsf(o[0] - (1.0f - 0.8f * 0.4f)) < 1e-6f, "screen %g", o[0]);
    core_blend(a, b, o, 6, 1.0f, CORE_BLEND_OVERLAY);
    CHECK(fabsf(o[0] - 2 * 0.2f * 0.6f) < 1e-6f, "overlay low");
    CHECK(fabsf(o[1] - (1 - 2 * 0.2f * 0.7f)) < 1e-6f, "overlay high");
    core_blend(a, b, o, 6, 1.0f, CORE_BLEND_DIFFERENCE);
    CHECK(o[0] == 0.0f, "difference clamps negative to 0: %g", o[0]);
    CHECK(fabsf(o[1] - 0.5f) < 1e-6f, "difference %g", o[1]);
    /* soft light, b > 0.5, a <= 0.25: g(a) = ((16a-12)a+4)a */
    core_blend(a, b, o, 6, 1.0f, CORE_BLEND_SOFT_LIGHT);
    float g = ((16 * 0.2f - 12) * 0.2f + 4) * 0.2f;
    CHECK(fabsf(o[0] - (0.2f + (2 * 0.6f - 1) * (g - 0.2f))) < 1e-6f,
          "soft light %g", o[0]);
    core_blend(a, b, o, 6, 0.25f, CORE_BLEND_NORMAL);
    CHECK(fabsf(o[3] - (0.1f * 0.75f + 0.4f * 0.25f)) < 1e-6f, "normal 0.25");
}

static void test_pad(void)
{
    /* 1x10x10 gray image padded left 2, top 0, right 0, bottom 3 with
     * feathering 3: spec 2.5. */
    float in[100], out[13 * 12], mask[13 * 12];
    for (int i = 0; i < 100; i++)
        in[i] = 0.25f;
    core_pad_outpaint(in, 1, 10, 10, 1, 2, 0, 0, 3, 3, out, mask);
    CHECK(out[0] == 0.5f && out[2] == 0.25f && out[12 * 12 + 5] == 0.5f,
          "pad fill");
    CHECK(mask[0] == 1.0f && mask[12 * 12 + 5] == 1.0f, "mask outside");
    /* inner (i=0, j=0): dl = 0 -> t = 1 */
    CHECK(mask[2] == 1.0f, "left edge %g", mask[2]);
    /* inner (i=0, j=1): d = 1 -> ((3-1)/3)^2 */
    CHECK(fabsf(mask[3] - 4.0f / 9.0f) < 1e-7f, "feather %g", mask[3]);
    /* inner (i=9, j=5): db = 1 -> 4/9; (i=5, j=5): 0 */
    CHECK(fabsf(mask[9 * 12 + 7] - 4.0f / 9.0f) < 1e-7f, "bottom feather");
    CHECK(mask[5 * 12 + 7] == 0.0f, "centre");
}

static void test_masks(void)
{
    /* FeatherMask right=2 on a 1x1x4 row of ones: x=0 scales column 0
     * (not the last) by 1/2, x=1 scales column 3 by 2/2. */
    float row[4] = { 1, 1, 1, 1 };
    core_mask_feather(row, 1, 1, 4, 0, 0, 2, 0);
    CHECK(row[0] == 0.5f && row[1] == 1 && row[2] == 1 && row[3] == 1,
          "feather quirk %g %g %g %g", row[0], row[1], row[2], row[3]);
    float l[4] = { 1, 1, 1, 1 };
    core_mask_feather(l, 1, 1, 4, 4, 0, 0, 0);
    CHECK(l[0] == 0.25f && l[1] == 0.5f && l[2] == 0.75f && l[3] == 1,
          "feather left");
    /* MaskComposite */
    float d[9] = { 0.2f, 0.6f, 1, 0, 0.5f, 0.4f, 1, 1, 1 };
    float s[4] = { 0.9f, 0.9f, 0.3f, 0.7f };
    core_mask_composite(d, 1, 3, 3, s, 1, 2, 2, 1, 1, CORE_MASK_ADD);
    CHECK(d[4] == 1.0f && fabsf(d[5] - 1.0f) < 1e-6 && fabsf(d[7] - 1) < 1e-6
              && d[0] == 0.2f, "add");
    float e[4] = { 0.6f, 0.4f, 0.5f, 0.51f };
    float f[4] = { 1, 1, 1, 1 };
    core_mask_composite(e, 1, 2, 2, f, 1, 2, 2, 0, 0, CORE_MASK_AND);
    /* round-half-even: 0.5 -> 0 */
    CHECK(e[0] == 1 && e[1] == 0 && e[2] == 0 && e[3] == 1, "and");
    float g[4] = { 0.6f, 0.4f, 0.5f, 0.9f };
    core_mask_composite(g, 1, 2, 2, f, 1, 2, 2, 0, 0, CORE_MASK_SUBTRACT);
    CHECK(g[0] == 0 && g[3] == 0, "subtract clamps");
    float h[4] = { 0.5f, 0.5f, 0.5f, 0.5f };
    core_mask_composite(h, 1, 2, 2, f, 1, 1, 1, 5, 5, CORE_MASK_MULTIPLY);
    CHECK(h[0] == 0.5f, "outside is a no-op");
}

static void test_fill_and_dims(void)
{
    float px[6];
    core_fill_color(px, 2, 0xFF8000);
    CHECK(px[0] == 1.0f && fabsf(px[1] - 128.0f / 255.0f) < 1e-7f &&
              px[2] == 0.0f && px[3] == 1.0f, "fill");
    char msg[256];
    CHECK(core_check_dims(1, 16384, 16384, 3, msg, sizeof(msg)) < 0,
          "16384^2 passes the pixel cap");
    CHECK(core_check_dims(1, 16385, 10, 3, msg, sizeof(msg)) < 0 &&
              strstr(msg, "per side"), "side limit: %s", msg);
    CHECK(core_check_dims(4, 512, 512, 3, msg, sizeof(msg)) == 0, "ok dims");
    CHECK(core_check_dims(100000, 4096, 4096, 3, msg, sizeof(msg)) < 0,
          "tensor cap");
    CHECK(core_upscale_method_from_name("lanczos") == CORE_LANCZOS &&
              core_upscale_method_from_name("bislerp") == -1, "methods");
}

int main(void)
{
    test_resize();
    test_lanczos();
    test_center_crop();
    test_filters();
    test_grow();
    test_blend();
    test_pad();
    test_masks();
    test_fill_and_dims();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("core pixel tests passed (largest difference from torch: %.3g; "
           "lanczos identical to PIL)\n", worst_torch);
    return 0;
}
