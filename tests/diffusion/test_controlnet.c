/*
 * test_controlnet.c — the ControlNet net and the UNet's control residuals
 * against ComfyUI (ctest diffusion_controlnet).
 *
 *   test_diffusion_controlnet CKPT CN CN_PLAIN DATA_DIR
 *                             [SDXL_CKPT SDXL_CN [CN_DIFFUSERS [SDXL_CN_DIFFUSERS]]]
 *
 * CKPT is `comfyd-mkcheckpoint --arch sd15 --width small --seed 0`; CN and
 * CN_PLAIN are gen/controlnet_file.py's ControlNet for it ("control_model."
 * prefix, f16) and the same with no prefix in f32 (the test makes all
 * three); DATA_DIR is tests/diffusion/data/controlnet (gen/controlnet_ref.py,
 * ComfyUI's comfy.controlnet.load_controlnet + cldm ControlNet).  Checks:
 *   - the 13 outputs of the ControlNet for fixed x, hint, context, t = 500
 *     equal ComfyUI's within 1e-4 (both files, and CN_DIFFUSERS: the same
 *     weights under diffusers' names, which ComfyUI loads to the same net);
 *   - the UNet output with those outputs at strength 0.7 as control equals
 *     ComfyUI's within 1e-4, and differs from the output without control;
 *   - with SDXL_CKPT (`--arch sdxl --width small --seed 0`) and its
 *     ControlNet, the same for the 10 outputs with the ADM vector y
 *     (DATA_DIR/sdxl), and its diffusers-named copy (linear proj_in,
 *     add_embedding);
 *   - a checkpoint, a truncated file and a ControlNet missing a zero conv
 *     are clear errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>

#include "controlnet.h"
#include "detect.h"
#include "modelfile.h"
#include "unet.h"

static int failures;

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);  \
            failures++;                                                            \
        }                                                                          \
    } while (0)

static const char *g_dir;

static float *load_f32(const char *name, size_t n)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", g_dir, name) >= (int)sizeof path)
        exit(1);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    float *v = malloc(n * sizeof *v);
    size_t got = v ? fread(v, sizeof *v, n, f) : 0;
    int extra = fgetc(f);
    fclose(f);
    if (got != n || extra != EOF) {
        fprintf(stderr, "%s: expected %zu floats\n", path, n);
        exit(1);
    }
    return v;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m))
            m = d;
    }
    return m;
}

/* NHWC [hw, c] -> NCHW [c, hw] (batch 1). */
static void to_nchw(const float *in, int64_t hw, int64_t c, float *out)
{
    for (int64_t i = 0; i < hw; i++)
        for (int64_t k = 0; k < c; k++)
            out[k * hw + i] = in[i * c + k];
}

/* Runs the ControlNet in file `path`; checks it against ctrl.f32 and
 * returns its outputs (NHWC, malloc'd) in outs. */
static int run_cn(const char *path, const float *x, const float *hint, const float *ctx,
                  int64_t D, const float *y, int want_n, float **outs, int *n_out)
{
    (void)D;
    char err[512] = "";
    cd_model_file *f = NULL;
    if (cd_model_file_open(path, &f, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        return -1;
    }
    cd_controlnet *cn = NULL;
    int rc = cd_controlnet_load(cd_model_file_index(f), NULL, &cn, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "controlnet load: %s\n", err);
        cd_model_file_unref(f);
        return -1;
    }
    int n = cd_controlnet_n_outputs(cn);
    CHECK(n == want_n);
    CHECK(cd_controlnet_hint_channels(cn) == 3);
    size_t total = 0;
    int64_t hw[16], ch[16];
    for (int i = 0; i < n && i < 16; i++) {
        CHECK(cd_controlnet_block_shape(cn, 8, 8, i, &hw[i], &ch[i]) == 0);
        outs[i] = malloc((size_t)(hw[i] * ch[i]) * sizeof(float));
        total += (size_t)(hw[i] * ch[i]);
    }
    float t = 500.0f;
    cd_nets_run run = {NULL, NULL, NULL, NULL, err, sizeof err};
    rc = cd_controlnet_forward(cn, &run, x, 1, 8, 8, hint, &t, ctx, 77, y, outs);
    if (rc < 0)
        fprintf(stderr, "controlnet forward: %s\n", err);
    CHECK(rc == 0);
    float *ref = load_f32("ctrl.f32", total);
    float *tmp = malloc(total * sizeof *tmp);
    size_t off = 0;
    double worst = 0, mag = 0;
    for (int i = 0; i < n; i++) {
        to_nchw(outs[i], hw[i], ch[i], tmp + off);
        off += (size_t)(hw[i] * ch[i]);
    }
    worst = max_diff(tmp, ref, total);
    for (size_t i = 0; i < total; i++)
        mag = fmax(mag, fabs(ref[i]));
    printf("%s: control outputs max|diff| %.3g (max |value| %.3g)\n", path, worst, mag);
    CHECK(worst < 1e-4);
    CHECK(mag > 0.1);
    free(ref);
    free(tmp);
    *n_out = n;
    cd_controlnet_free(cn);
    cd_model_file_unref(f);
    return 0;
}

/* A clear load error whose message contains `want`. */
static void expect_error(const char *path, const char *want)
{
    char err[512] = "";
    cd_model_file *f = NULL;
    if (cd_model_file_open(path, &f, err, sizeof err) < 0) {
        printf("%s: open error: %s\n", path, err);
        CHECK(strstr(err, want) != NULL);
        return;
    }
    cd_controlnet *cn = NULL;
    int rc = cd_controlnet_load(cd_model_file_index(f), NULL, &cn, err, sizeof err);
    printf("%s: load error: %s\n", path, err);
    CHECK(rc < 0 && cn == NULL);
    CHECK(strstr(err, want) != NULL);
    cd_controlnet_free(cn);
    cd_model_file_unref(f);
}

/* Writes a copy of the safetensors `src` at `dst` with the header's
 * tensor named `drop` renamed to `to` (same length). */
static int rename_tensor(const char *src, const char *dst, const char *drop, const char *to)
{
    FILE *f = fopen(src, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return -1;
    }
    fclose(f);
    uint64_t hl = 0;
    memcpy(&hl, b, 8);
    char *hit = NULL;
    size_t dl = strlen(drop);
    for (uint64_t i = 8; i + dl < 8 + hl && !hit; i++)
        if (memcmp(b + i, drop, dl) == 0)
            hit = b + i;
    int rc = -1;
    if (hit && strlen(to) == dl) {
        memcpy(hit, to, dl);
        FILE *o = fopen(dst, "wb");
        if (o) {
            rc = fwrite(b, 1, (size_t)n, o) == (size_t)n ? 0 : -1;
            fclose(o);
        }
    }
    free(b);
    return rc;
}

/* The net and UNet checks for one family: ckpt, its ControlNet file(s)
 * (plain may be NULL), goldens in dir; D context width, adm 0 or the ADM
 * length; want_n outputs. */
static int family(const char *ckpt, const char *cnf, const char *plain, const char *diff,
                  const char *dir, int64_t D, int64_t adm, int want_n)
{
    g_dir = dir;
    float *x = load_f32("x.f32", 4 * 8 * 8);
    float *ctx = load_f32("ctx.f32", (size_t)(77 * D));
    float *hint = load_f32("hint.f32", 3 * 64 * 64);
    float *y = adm ? load_f32("y.f32", (size_t)adm) : NULL;
    float *outs[16] = {0}, *outs2[16] = {0}, *outs3[16] = {0};
    int n = 0, n2 = 0, n3 = 0;
    if (run_cn(cnf, x, hint, ctx, D, y, want_n, outs, &n) < 0 ||
        (plain && run_cn(plain, x, hint, ctx, D, y, want_n, outs2, &n2) < 0) ||
        (diff && run_cn(diff, x, hint, ctx, D, y, want_n, outs3, &n3) < 0))
        return 1;

    /* the UNet with the control at strength 0.7 */
    char err[512] = "";
    cd_model_file *ck = NULL;
    cd_detect det;
    cd_unet *u = NULL;
    if (cd_model_file_open(ckpt, &ck, err, sizeof err) < 0 ||
        cd_detect_checkpoint(cd_model_file_index(ck), &det, err, sizeof err) < 0 ||
        cd_unet_load(cd_model_file_index(ck), det.unet_prefix, &det.unet, NULL, &u, err,
                     sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", ckpt, err);
        return 1;
    }
    cd_unet_info info;
    cd_unet_get_info(u, &info);
    CHECK(info.n_input_blocks == n - 1);
    for (int i = 0; i < n; i++) {
        int64_t hw, ch;
        CHECK(cd_unet_block_shape(u, 8, 8, i, &hw, &ch) == 0);
        for (int64_t k = 0; k < hw * ch; k++)
            outs[i][k] *= 0.7f;
    }
    cd_unet_control ctl = {n - 1, (const float *const *)outs, outs[n - 1]};
    float eps[256], base[256], t = 500.0f;
    cd_nets_run run = {NULL, NULL, NULL, NULL, err, sizeof err};
    CHECK(cd_unet_forward_ctl(u, &run, x, 1, 8, 8, &t, ctx, 77, y, &ctl, eps) == 0);
    CHECK(cd_unet_forward(u, &run, x, 1, 8, 8, &t, ctx, 77, y, base) == 0);
    float *ref = load_f32("eps_ctrl.f32", 256);
    double d = max_diff(eps, ref, 256), moved = max_diff(base, ref, 256);
    printf("%s: UNet with control: max|diff| %.3g (the control moves it by %.3g)\n", dir, d,
           moved);
    CHECK(d < 1e-4);
    CHECK(moved > 0.1);
    /* a wrong residual count is an error */
    cd_unet_control bad = {n - 2, (const float *const *)outs, NULL};
    err[0] = 0;
    CHECK(cd_unet_forward_ctl(u, &run, x, 1, 8, 8, &t, ctx, 77, y, &bad, eps) == COMFY_EINVAL);
    CHECK(strstr(err, "control residuals") != NULL);
    for (int i = 0; i < 16; i++) {
        free(outs[i]);
        free(outs2[i]);
        free(outs3[i]);
    }
    free(ref);
    free(x);
    free(ctx);
    free(hint);
    free(y);
    cd_unet_free(u);
    cd_model_file_unref(ck);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 7 && argc != 8 && argc != 9) {
        fprintf(stderr,
                "usage: %s CKPT CN CN_PLAIN DATA_DIR [SDXL_CKPT SDXL_CN [CN_DIFFUSERS "
                "[SDXL_CN_DIFFUSERS]]]\n",
                argv[0]);
        return 2;
    }
    if (family(argv[1], argv[2], argv[3], argc >= 8 ? argv[7] : NULL, argv[4], 32, 0, 13))
        return 1;
    if (argc >= 7) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/sdxl", argv[4]);
        if (family(argv[5], argv[6], NULL, argc == 9 ? argv[8] : NULL, dir, 96, 1600, 10))
            return 1;
    }

    /* bad files */
    expect_error(argv[1], "does not contain controlnet");
    char path[4096];
    snprintf(path, sizeof path, "%s.nozero.safetensors", argv[3]);
    CHECK(rename_tensor(argv[3], path, "zero_convs.4.0.weight", "zero_convs.4.0.wXight") == 0);
    expect_error(path, "zero_convs.4.0.weight");
    remove(path);
    snprintf(path, sizeof path, "%s.cut.safetensors", argv[3]);
    {
        FILE *in = fopen(argv[3], "rb"), *o = fopen(path, "wb");
        char buf[4096];
        size_t k = in ? fread(buf, 1, sizeof buf, in) : 0;
        if (o) {
            fwrite(buf, 1, k, o);
            fclose(o);
        }
        if (in)
            fclose(in);
    }
    expect_error(path, "");
    remove(path);

    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
