/*
 * test_stitch.c — ImageStitch and ResizeAndPadImage run through the
 * harness and compared with the outputs of ComfyUI's own node code
 * (tests/core/gen/stitch_goldens.py writes data/stitch_*.f32, pad_*.f32
 * and their shapes in stitch_goldens.txt), plus their clear errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core.h"
#include "harness.h"

static harness *H;
static const comfy_host *X;

static comfy_value *vint(int64_t v) { return X->value_int(X->ctx, v); }
static comfy_value *vbool(int v) { return X->value_bool(X->ctx, v); }
static comfy_value *vstr(const char *s)
{
    return X->value_string(X->ctx, s, (size_t)-1);
}

/* stitch_goldens.py's test_image(): ((x*7 + y*13 + ch*29 + n*3 + salt)
 * % 17) / 16 over [b, h, w, c]. */
static comfy_value *vimage(int64_t b, int64_t h, int64_t w, int64_t c,
                           int salt)
{
    int64_t s[4] = { b, h, w, c };
    comfy_tensor *t = X->tensor_new(X->ctx, COMFY_F32, 4, s);
    float *p = t->data;
    for (int64_t n = 0; n < b; n++)
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++)
                for (int64_t k = 0; k < c; k++)
                    *p++ = (float)((x * 7 + y * 13 + k * 29 + n * 3 + salt) %
                                   17) / 16.0f;
    return X->value_tensor(X->ctx, t);
}

/* The shape stitch_goldens.txt gives for `name`; 0 when absent. */
static int golden_shape(const char *name, int64_t shape[4])
{
    char path[1024], line[256], key[128];
    snprintf(path, sizeof(path), "%s/stitch_goldens.txt", CORE_TEST_DATA);
    FILE *f = fopen(path, "r");
    int found = 0;
    while (f && !found && fgets(line, sizeof(line), f)) {
        long long a, b, c, d;
        if (sscanf(line, "%127s %lld %lld %lld %lld", key, &a, &b, &c, &d) ==
                5 && strcmp(key, name) == 0) {
            shape[0] = a;
            shape[1] = b;
            shape[2] = c;
            shape[3] = d;
            found = 1;
        }
    }
    if (f)
        fclose(f);
    return found;
}

/* Compares output 0 of `c` with data/<name>.f32 (shape and values). */
static void check_golden(hn_call *c, const char *name, double tol)
{
    int64_t s[4] = { 0, 0, 0, 0 };
    char path[1024];
    CHECK(golden_shape(name, s), "%s: no golden shape", name);
    comfy_tensor *t = hn_output_tensor(c, 0);
    CHECK(t && t->ndim == 4, "%s: no 4-D output (%s)", name, hn_error(c));
    if (!t || t->ndim != 4)
        return;
    CHECK(t->shape[0] == s[0] && t->shape[1] == s[1] && t->shape[2] == s[2] &&
              t->shape[3] == s[3], "%s: shape %lld %lld %lld %lld, want "
          "%lld %lld %lld %lld", name, (long long)t->shape[0],
          (long long)t->shape[1], (long long)t->shape[2],
          (long long)t->shape[3], (long long)s[0], (long long)s[1],
          (long long)s[2], (long long)s[3]);
    size_t n = (size_t)(s[0] * s[1] * s[2] * s[3]);
    if ((size_t)X->tensor_numel(t) != n)
        return;
    snprintf(path, sizeof(path), "%s/%s.f32", CORE_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    float *want = malloc(n * sizeof(float) + 4);
    size_t got = f ? fread(want, sizeof(float), n + 1, f) : 0;
    if (f)
        fclose(f);
    CHECK(got == n, "%s: golden has %zu values, want %zu", name, got, n);
    double worst = 0;
    for (size_t i = 0; got == n && i < n; i++) {
        double d = fabs((double)((float *)t->data)[i] - want[i]);
        worst = d > worst ? d : worst;
    }
    CHECK(worst <= tol, "%s differs by %g", name, worst);
    free(want);
}

static void test_stitch(void)
{
    static const struct {
        const char *name;
        int64_t s1[4], s2[4];
        const char *dir;
        int match, spacing;
        const char *color;
    } cases[] = {
        { "stitch_right_match", { 2, 6, 5, 3 }, { 1, 4, 7, 3 }, "right", 1,
          0, "white" },
        { "stitch_down_match_red", { 1, 5, 6, 4 }, { 1, 3, 3, 3 }, "down", 1,
          3, "red" },
        { "stitch_left_pad_black", { 1, 4, 3, 3 }, { 2, 7, 5, 3 }, "left", 0,
          2, "black" },
        { "stitch_up_pad_green", { 1, 3, 4, 3 }, { 1, 2, 7, 4 }, "up", 0, 2,
          "green" },
        { "stitch_left_match_blue", { 3, 9, 4, 4 }, { 2, 5, 8, 4 }, "left",
          1, 5, "blue" },
        { "stitch_right_pad_white", { 1, 2, 3, 3 }, { 1, 5, 2, 3 }, "right",
          0, 4, "white" },
        { "stitch_down_pad_white_gray", { 1, 2, 3, 1 }, { 1, 3, 5, 3 },
          "down", 0, 2, "white" },
        { "stitch_right_match_la", { 1, 4, 5, 2 }, { 2, 3, 6, 2 }, "right",
          1, 2, "red" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hn_call *c = hn_begin(H, "ImageStitch");
        const int64_t *a = cases[i].s1, *b = cases[i].s2;
        hn_set(c, "image1", vimage(a[0], a[1], a[2], a[3], 0));
        hn_set(c, "image2", vimage(b[0], b[1], b[2], b[3], 5));
        hn_set(c, "direction", vstr(cases[i].dir));
        hn_set(c, "match_image_size", vbool(cases[i].match));
        hn_set(c, "spacing_width", vint(cases[i].spacing));
        hn_set(c, "spacing_color", vstr(cases[i].color));
        CHECK(hn_run(c) == COMFY_OK, "%s: %s", cases[i].name, hn_error(c));
        /* lanczos is PIL's bytes / 255: the same floats */
        check_golden(c, cases[i].name, 1e-6);
        hn_end(c);
    }

    /* no image2: image1 as it is */
    hn_call *c = hn_begin(H, "ImageStitch");
    hn_set(c, "image1", vimage(2, 3, 4, 3, 1));
    hn_set(c, "direction", vstr("up"));
    hn_set(c, "match_image_size", vbool(1));
    hn_set(c, "spacing_width", vint(6));
    hn_set(c, "spacing_color", vstr("red"));
    CHECK(hn_run(c) == COMFY_OK, "image1 alone: %s", hn_error(c));
    comfy_tensor *t = hn_output_tensor(c, 0);
    int same = t && t->ndim == 4 && t->shape[0] == 2 && t->shape[1] == 3 &&
               t->shape[2] == 4 && t->shape[3] == 3;
    for (int64_t i = 0; same && i < 72; i++) {
        int64_t k = i % 3, x = (i / 3) % 4, y = (i / 12) % 3, n = i / 36;
        same = ((float *)t->data)[i] ==
               (float)((x * 7 + y * 13 + k * 29 + n * 3 + 1) % 17) / 16.0f;
    }
    CHECK(same, "image1 alone comes back unchanged");
    hn_end(c);

    /* errors: a bad direction, a size that cannot be matched */
    c = hn_begin(H, "ImageStitch");
    hn_set(c, "image1", vimage(1, 3, 4, 3, 0));
    hn_set(c, "image2", vimage(1, 3, 4, 3, 0));
    hn_set(c, "direction", vstr("sideways"));
    hn_set(c, "match_image_size", vbool(1));
    hn_set(c, "spacing_width", vint(0));
    hn_set(c, "spacing_color", vstr("red"));
    CHECK(hn_run(c) != COMFY_OK && strstr(hn_error(c), "direction"),
          "bad direction: %s", hn_error(c));
    hn_end(c);
    c = hn_begin(H, "ImageStitch");
    hn_set(c, "image1", vimage(1, 1, 4, 3, 0));
    hn_set(c, "image2", vimage(1, 40, 1, 3, 0));
    hn_set(c, "direction", vstr("right"));
    hn_set(c, "match_image_size", vbool(1));
    hn_set(c, "spacing_width", vint(0));
    hn_set(c, "spacing_color", vstr("red"));
    CHECK(hn_run(c) != COMFY_OK && strstr(hn_error(c), "empty"),
          "image2 resized to width 0: %s", hn_error(c));
    hn_end(c);
    c = hn_begin(H, "ImageStitch");
    hn_set(c, "image1", vimage(1, 4, 4, 3, 0));
    hn_set(c, "image2", vimage(1, 4, 4, 5, 0));
    hn_set(c, "direction", vstr("right"));
    hn_set(c, "match_image_size", vbool(1));
    hn_set(c, "spacing_width", vint(0));
    hn_set(c, "spacing_color", vstr("red"));
    CHECK(hn_run(c) != COMFY_OK && strstr(hn_error(c), "channels"),
          "5-channel lanczos: %s", hn_error(c));
    hn_end(c);
}

static void test_resize_and_pad(void)
{
    static const char *const methods[] = { "area", "bicubic",
                                           "nearest-exact", "bilinear",
                                           "lanczos" };
    char name[64];
    for (int i = 0; i < 5; i++) {
        hn_call *c = hn_begin(H, "ResizeAndPadImage");
        hn_set(c, "image", vimage(2, 5, 7, 3, 0));
        hn_set(c, "target_width", vint(9));
        hn_set(c, "target_height", vint(8));
        hn_set(c, "padding_color", vstr("black"));
        hn_set(c, "interpolation", vstr(methods[i]));
        CHECK(hn_run(c) == COMFY_OK, "%s: %s", methods[i], hn_error(c));
        snprintf(name, sizeof(name), "pad_%s", methods[i]);
        /* torch's interpolate within 2e-6, as test_pixels states */
        check_golden(c, name, 2e-6);
        hn_end(c);
    }
    static const char *const down[] = { "area", "bilinear", "lanczos" };
    for (int i = 0; i < 3; i++) {
        hn_call *c = hn_begin(H, "ResizeAndPadImage");
        hn_set(c, "image", vimage(1, 10, 6, 4, 0));
        hn_set(c, "target_width", vint(4));
        hn_set(c, "target_height", vint(4));
        hn_set(c, "padding_color", vstr("white"));
        hn_set(c, "interpolation", vstr(down[i]));
        CHECK(hn_run(c) == COMFY_OK, "%s: %s", down[i], hn_error(c));
        snprintf(name, sizeof(name), "pad_down_%s", down[i]);
        check_golden(c, name, 2e-6);
        hn_end(c);
    }
    /* 2 channels: PIL's "LA", resized premultiplied */
    hn_call *la = hn_begin(H, "ResizeAndPadImage");
    hn_set(la, "image", vimage(1, 5, 3, 2, 0));
    hn_set(la, "target_width", vint(7));
    hn_set(la, "target_height", vint(6));
    hn_set(la, "padding_color", vstr("white"));
    hn_set(la, "interpolation", vstr("lanczos"));
    CHECK(hn_run(la) == COMFY_OK, "LA: %s", hn_error(la));
    check_golden(la, "pad_la_lanczos", 1e-6);
    hn_end(la);
    /* a 1-pixel-high strip scaled into a square becomes 0 pixels high */
    hn_call *c = hn_begin(H, "ResizeAndPadImage");
    hn_set(c, "image", vimage(1, 1, 100, 3, 0));
    hn_set(c, "target_width", vint(8));
    hn_set(c, "target_height", vint(8));
    hn_set(c, "padding_color", vstr("white"));
    hn_set(c, "interpolation", vstr("area"));
    CHECK(hn_run(c) != COMFY_OK && strstr(hn_error(c), "greater than 0"),
          "zero height: %s", hn_error(c));
    hn_end(c);
    c = hn_begin(H, "ResizeAndPadImage");
    hn_set(c, "image", vimage(1, 4, 4, 3, 0));
    hn_set(c, "target_width", vint(20000));
    hn_set(c, "target_height", vint(8));
    hn_set(c, "padding_color", vstr("white"));
    hn_set(c, "interpolation", vstr("area"));
    CHECK(hn_run(c) != COMFY_OK && strstr(hn_error(c), "limit"),
          "over-large target: %s", hn_error(c));
    hn_end(c);
}

int main(void)
{
    H = hn_new(CORE_PACK_SO);
    if (!H)
        return 1;
    X = hn_host(H);
    test_stitch();
    test_resize_and_pad();
    hn_free(H);
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    return failures ? 1 : 0;
}
