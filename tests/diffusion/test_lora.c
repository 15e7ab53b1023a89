/*
 * test_lora.c — the LoRA maths and key maps against ComfyUI (ctest
 * diffusion_lora).
 *
 *   test_diffusion_lora CKPT DATA_DIR [SDXL_CKPT]
 *
 * CKPT is `comfyd-mkcheckpoint --arch sd15 --width small --seed 0` (the
 * test makes it); DATA_DIR is tests/diffusion/data/lora, whose LoRA and
 * f32 goldens tests/diffusion/gen/lora_ref.py made with ComfyUI (see the
 * script for what each file is).  Checks:
 *   - the keys that map to nothing are exactly the ones ComfyUI logs;
 *   - the UNet output for fixed inputs with the LoRA at 0.8, and with it
 *     applied again at -0.5 on top (borrowed patched weights), equals
 *     ComfyUI's within 1e-4 (the LoRA moves it by ~2);
 *   - CLIPTextEncode with the LoRA at 0.9 (cond and pooled) likewise;
 *   - the LyCORIS file (LoHa plain / CP, LoKr full / low-rank) at 0.7 / 0.8;
 *   - with SDXL_CKPT (`--arch sdxl --width small --seed 0`), the same for
 *     the SDXL data in DATA_DIR/sdxl (gen/lora_ref_sdxl.py): linear
 *     proj_in/out, ADM, te1 and te2 (bigG's packed q/k/v), text_projection;
 *   - LoCon, DoRA, diff_b and alpha maths on small hand-made tensors.
 *
 *   test_diffusion_lora --keymap CKPT
 *
 * prints "<names> <FNV-1a 64 of the sorted 'name<TAB>target' lines>" of the
 * key map LoraLoader builds for the checkpoint's model and CLIP, which
 * ctest diffusion_lora_keymaps compares with ComfyUI's (data/lora/
 * keymaps.txt, made by gen/lora_keymaps.py).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>

#include "clip_stack.h"
#include "detect.h"
#include "lora.h"
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

/* The log: collects "lora key not loaded" names. */
typedef struct seen {
    char names[16][128];
    int n, other;
} seen;

static void log_fn(void *ctx, int level, const char *msg)
{
    seen *s = ctx;
    (void)level;
    const char *p = "lora key not loaded: ";
    if (strncmp(msg, p, strlen(p)) == 0 && s->n < 16)
        snprintf(s->names[s->n++], sizeof s->names[0], "%s", msg + strlen(p));
    else
        s->other++;
}

/* The UNet tensors of sd (under prefix) as a mutable array and its index. */
typedef struct uarr {
    cd_tensor *t;
    cd_sd sd;
} uarr;

static void uarr_make(uarr *u, const cd_sd *sd, const char *prefix)
{
    size_t plen = strlen(prefix), n = 0;
    u->t = calloc(sd->n, sizeof *u->t);
    for (size_t i = 0; i < sd->n; i++)
        if (strncmp(cd_sd_at(sd, i)->name, prefix, plen) == 0)
            u->t[n++] = *cd_sd_at(sd, i);
    if (cd_sd_init(&u->sd, u->t, n, NULL, 0) != 0)
        exit(1);
}

static void uarr_free(uarr *u)
{
    cd_sd_free(&u->sd);
    free(u->t);
}

static void unet_eps_y(const cd_sd *sd, const cd_detect *det, const float *x, const float *ctx,
                       int64_t ctx_dim, const float *y, float *eps)
{
    cd_nets_load_opts lo = {CD_NETS_WEIGHTS_STORED, CK_PREC_F32};
    cd_unet *u = NULL;
    char err[512] = "";
    int rc = cd_unet_load(sd, det->unet_prefix, &det->unet, &lo, &u, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "unet load: %s\n", err);
        exit(1);
    }
    float t = 500.0f;
    cd_nets_run run = {NULL, NULL, NULL, NULL, err, sizeof err};
    (void)ctx_dim;
    rc = cd_unet_forward(u, &run, x, 1, 8, 8, &t, ctx, 77, y, eps);
    if (rc < 0) {
        fprintf(stderr, "unet forward: %s\n", err);
        exit(1);
    }
    cd_unet_free(u);
}

static void unet_eps(const cd_sd *sd, const cd_detect *det, const float *x, const float *ctx,
                     float *eps)
{
    unet_eps_y(sd, det, x, ctx, 32, NULL, eps);
}

/* The SDXL data (data/lora/sdxl, gen/lora_ref_sdxl.py): te1 / te2 / ADM /
 * linear proj keys; UNet at 0.6, CLIP at 1.3. */
static void test_sdxl(const char *ckpt, const char *dir)
{
    char err[512] = "", path[4096];
    cd_model_file *ck = NULL, *lf = NULL;
    g_dir = dir;
    if (snprintf(path, sizeof path, "%s/sdxl-lora.safetensors", dir) >= (int)sizeof path)
        exit(1);
    if (cd_model_file_open(ckpt, &ck, err, sizeof err) < 0 ||
        cd_model_file_open(path, &lf, err, sizeof err) < 0) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    const cd_sd *sd = cd_model_file_index(ck);
    cd_detect det;
    cd_clip_stack *stack = NULL;
    if (cd_detect_checkpoint(sd, &det, err, sizeof err) < 0 || det.family != CD_FAMILY_SDXL ||
        cd_clip_stack_load(sd, &det, &stack, err, sizeof err) < 0) {
        fprintf(stderr, "sdxl: %s\n", err);
        exit(1);
    }
    cd_lora_keys keys = {0};
    CHECK(cd_lora_keys_unet(&keys, sd, det.unet_prefix, &det.unet) == 0);
    CHECK(cd_lora_keys_clip(&keys, (int)stack->l->cfg.layers, 1, (int)stack->g->cfg.layers, 1,
                            "clip_g") == 0);
    seen s = {0};
    cd_lora_log log = {log_fn, &s};
    cd_lora_set set = {0};
    CHECK(cd_lora_resolve(cd_model_file_index(lf), &keys, &set, &log, err, sizeof err) == 0);
    CHECK(s.n == 0 && s.other == 0 && set.n == 12);

    float *x = load_f32("x.f32", 256), *ctx = load_f32("ctx.f32", 77 * 96);
    float *y = load_f32("y.f32", 1600), *ref_base = load_f32("eps_base.f32", 256);
    float *ref_lora = load_f32("eps_lora.f32", 256), eps[256];
    uarr u0, u1;
    uarr_make(&u0, sd, det.unet_prefix);
    unet_eps_y(&u0.sd, &det, x, ctx, 96, y, eps);
    double d_base = max_diff(eps, ref_base, 256);
    uarr_make(&u1, sd, det.unet_prefix);
    cd_lora_substs subs = {0};
    CHECK(cd_lora_patch_unet(NULL, &u1.sd, det.unet_prefix, &set, 0.6, &subs, &log, err,
                             sizeof err) == 0);
    CHECK(subs.n == 6);
    unet_eps_y(&u1.sd, &det, x, ctx, 96, y, eps);
    double d_lora = max_diff(eps, ref_lora, 256), moved = max_diff(ref_lora, ref_base, 256);

    cd_clip_stack *view = cd_clip_stack_view(stack);
    view->l = cd_lora_clip_shallow(stack->l);
    view->g = cd_lora_clip_shallow(stack->g);
    view->owns = 1;
    uint64_t bytes = 0;
    CHECK(cd_lora_patch_clip(NULL, view->l, view->g, "clip_g", &set, 1.3, &log, &bytes) == 0);
    cd_clip_cond cc = {0}, c0 = {0};
    const char *text = "a photo of a cat";
    CHECK(cd_clip_stack_encode(view, NULL, text, strlen(text), &cc, err, sizeof err) == 0);
    CHECK(cd_clip_stack_encode(stack, NULL, text, strlen(text), &c0, err, sizeof err) == 0);
    float *ref_cb = load_f32("cond_base.f32", 77 * 96), *ref_c = load_f32("cond.f32", 77 * 96);
    float *ref_p = load_f32("pooled.f32", 64);
    CHECK(cc.rows == 77 && cc.width == 96 && cc.pooled_width == 64);
    double d_cb = c0.cond ? max_diff(c0.cond, ref_cb, 77 * 96) : 1e9;
    double d_c = cc.cond ? max_diff(cc.cond, ref_c, 77 * 96) : 1e9;
    double d_p = cc.pooled ? max_diff(cc.pooled, ref_p, 64) : 1e9;
    double c_moved = max_diff(ref_c, ref_cb, 77 * 96);
    printf("SDXL UNet eps max|diff|: base %.3g, lora %.3g (LoRA moves it %.3g)\n"
           "SDXL CLIP max|diff|: base cond %.3g, lora cond %.3g pooled %.3g (LoRA moves cond "
           "%.3g)\n",
           d_base, d_lora, moved, d_cb, d_c, d_p, c_moved);
    CHECK(d_base < 1e-4 && d_lora < 1e-4 && moved > 0.5);
    CHECK(d_cb < 1e-4 && d_c < 1e-4 && d_p < 1e-4 && c_moved > 0.05);

    cd_clip_cond_free(&cc);
    cd_clip_cond_free(&c0);
    cd_clip_stack_free(view);
    cd_clip_stack_free(stack);
    cd_lora_substs_free(&subs);
    uarr_free(&u0);
    uarr_free(&u1);
    cd_lora_set_free(&set);
    cd_lora_keys_free(&keys);
    free(x);
    free(ctx);
    free(y);
    free(ref_base);
    free(ref_lora);
    free(ref_cb);
    free(ref_c);
    free(ref_p);
    cd_model_file_unref(lf);
    cd_model_file_unref(ck);
}

/* ---- hand-made maths ---------------------------------------------------- */

static cd_tensor mk(const char *name, const float *data, int ndim, int64_t a, int64_t b,
                    int64_t c, int64_t d)
{
    cd_tensor t = {0};
    t.name = name;
    t.dtype = CD_DT_F32;
    t.ndim = ndim;
    t.shape[0] = a;
    t.shape[1] = b;
    t.shape[2] = c;
    t.shape[3] = d;
    t.data = data;
    t.nbytes = (uint64_t)cd_tensor_numel(&t) * 4;
    return t;
}

static void test_maths(void)
{
    /* W [2,3] += 0.5 * alpha/rank * up[2,1] @ down[1,3], alpha 2, rank 1 */
    float w[6] = {1, 2, 3, 4, 5, 6}, up[2] = {1, -1}, down[3] = {1, 2, 3};
    cd_tensor tu = mk("u", up, 2, 2, 1, 0, 0), td = mk("d", down, 2, 1, 3, 0, 0);
    cd_lora_patch p = {.to = "k", .kind = CD_LORA_ADAPTER, .up = &tu, .down = &td,
                       .alpha = 2.0, .has_alpha = 1};
    int64_t shape[2] = {2, 3};
    CHECK(cd_lora_apply(NULL, &p, 0.5, w, shape, 2, NULL) == 0);
    const float want[6] = {2, 4, 6, 3, 3, 3};
    CHECK(max_diff(w, want, 6) == 0.0);

    /* DoRA on the output axis with strength 1: rows rescaled to dora_scale */
    float w2[4] = {3, 4, 0, 2}, u2[2] = {0, 0}, d2[2] = {0, 0}, ds[2] = {10, 1};
    cd_tensor tu2 = mk("u", u2, 2, 2, 1, 0, 0), td2 = mk("d", d2, 2, 1, 2, 0, 0);
    cd_tensor tds = mk("s", ds, 2, 2, 1, 0, 0);
    cd_lora_patch q = {.to = "k", .kind = CD_LORA_ADAPTER, .up = &tu2, .down = &td2,
                       .dora = &tds};
    int64_t s2[2] = {2, 2};
    CHECK(cd_lora_apply(NULL, &q, 1.0, w2, s2, 2, NULL) == 0);
    CHECK(fabsf(w2[0] - 6.0f) < 1e-5f && fabsf(w2[1] - 8.0f) < 1e-5f);
    CHECK(fabsf(w2[2]) < 1e-6f && fabsf(w2[3] - 1.0f) < 1e-5f);

    /* a product of the wrong size leaves the weight alone */
    float w3[4] = {1, 1, 1, 1};
    int64_t s3[2] = {2, 2};
    CHECK(cd_lora_apply(NULL, &p, 1.0, w3, s3, 2, NULL) == 0);
    CHECK(w3[0] == 1 && w3[3] == 1);

    /* a diff of another shape too; the right one is added */
    float dd[4] = {1, 2, 3, 4};
    cd_tensor tdd = mk("x.diff", dd, 2, 2, 2, 0, 0);
    cd_lora_patch r = {.to = "k", .kind = CD_LORA_DIFF, .diff = &tdd};
    CHECK(cd_lora_apply(NULL, &r, -1.0, w3, s3, 2, NULL) == 0);
    CHECK(w3[0] == 0 && w3[3] == -3);
    int64_t s4[1] = {4};
    CHECK(cd_lora_apply(NULL, &r, 1.0, w3, s4, 1, NULL) == 0);
    CHECK(w3[0] == 0 && w3[3] == -3);

    /* the key map: a later name replaces the target, in place */
    cd_lora_keys k = {0};
    CHECK(cd_lora_keys_add(&k, "a", "1") == 0 && cd_lora_keys_add(&k, "b", "2") == 0 &&
          cd_lora_keys_add(&k, "a", "3") == 0);
    CHECK(k.n == 2 && strcmp(k.k[0].to, "3") == 0);
    cd_lora_keys_free(&k);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The key map of LoraLoader (nodes_lora.c) for a checkpoint. */
static int keymap(const char *ckpt)
{
    char err[512] = "";
    cd_model_file *ck = NULL;
    if (cd_model_file_open(ckpt, &ck, err, sizeof err) < 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    const cd_sd *sd = cd_model_file_index(ck);
    cd_detect det;
    cd_clip_stack *s = NULL;
    if (cd_detect_checkpoint(sd, &det, err, sizeof err) < 0 ||
        cd_clip_stack_load(sd, &det, &s, err, sizeof err) < 0) {
        fprintf(stderr, "load: %s\n", err);
        return 1;
    }
    cd_lora_keys keys = {0};
    if (cd_lora_keys_unet(&keys, sd, det.unet_prefix, &det.unet) < 0 ||
        cd_lora_keys_clip(&keys, s->l ? (int)s->l->cfg.layers : 0, 1,
                          s->g ? (int)s->g->cfg.layers : 0, 1,
                          s->family == CD_CLIP_SD2 ? "clip_h" : "clip_g") < 0)
        return 1;
    char **lines = calloc(keys.n, sizeof *lines);
    for (size_t i = 0; lines && i < keys.n; i++) {
        size_t l = strlen(keys.k[i].from) + strlen(keys.k[i].to) + 3;
        lines[i] = malloc(l);
        if (!lines[i])
            return 1;
        snprintf(lines[i], l, "%s\t%s\n", keys.k[i].from, keys.k[i].to);
    }
    if (!lines)
        return 1;
    qsort(lines, keys.n, sizeof *lines, cmp_str);
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < keys.n; i++) {
        for (const char *c = lines[i]; *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211ull;
        free(lines[i]);
    }
    printf("%zu %016llx\n", keys.n, (unsigned long long)h);
    free(lines);
    cd_lora_keys_free(&keys);
    cd_clip_stack_free(s);
    cd_model_file_unref(ck);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--keymap") == 0)
        return keymap(argv[2]);
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: test_diffusion_lora CKPT DATA_DIR [SDXL_CKPT]\n");
        return 2;
    }
    g_dir = argv[2];
    test_maths();

    char err[512] = "", path[4096];
    cd_model_file *ck = NULL, *lf = NULL;
    snprintf(path, sizeof path, "%s/test-lora.safetensors", g_dir);
    if (cd_model_file_open(argv[1], &ck, err, sizeof err) < 0 ||
        cd_model_file_open(path, &lf, err, sizeof err) < 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    const cd_sd *sd = cd_model_file_index(ck);
    cd_detect det;
    if (cd_detect_checkpoint(sd, &det, err, sizeof err) < 0 || det.family != CD_FAMILY_SD1) {
        fprintf(stderr, "detect: %s\n", err);
        return 1;
    }
    cd_clip_stack *stack = NULL;
    if (cd_clip_stack_load(sd, &det, &stack, err, sizeof err) < 0) {
        fprintf(stderr, "clip: %s\n", err);
        return 1;
    }

    /* key maps and resolution, as LoraLoader (model + clip) */
    cd_lora_keys keys = {0};
    CHECK(cd_lora_keys_unet(&keys, sd, det.unet_prefix, &det.unet) == 0);
    CHECK(cd_lora_keys_clip(&keys, (int)stack->l->cfg.layers, 1, 0, 0,
                            NULL) == 0);
    seen s = {0};
    cd_lora_log log = {log_fn, &s};
    cd_lora_set set = {0};
    CHECK(cd_lora_resolve(cd_model_file_index(lf), &keys, &set, &log, err, sizeof err) == 0);
    CHECK(s.n == 3 && s.other == 0);
    CHECK(s.n > 2 && strcmp(s.names[0], "lora_te_no_such_layer.alpha") == 0 &&
          strcmp(s.names[1], "lora_unet_no_such_layer.lora_down.weight") == 0 &&
          strcmp(s.names[2], "lora_unet_no_such_layer.lora_up.weight") == 0);
    CHECK(set.n == 17);
    CHECK(cd_lora_set_find(&set, "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1."
                                 "to_out.0.bias") != NULL);

    float *x = load_f32("x.f32", 256), *ctx = load_f32("ctx.f32", 77 * 32);
    float *ref_base = load_f32("eps_base.f32", 256), *ref_lora = load_f32("eps_lora.f32", 256);
    float *ref_chain = load_f32("eps_chain.f32", 256);
    float eps[256];

    /* no LoRA */
    uarr u0;
    uarr_make(&u0, sd, det.unet_prefix);
    unet_eps(&u0.sd, &det, x, ctx, eps);
    double d_base = max_diff(eps, ref_base, 256);

    /* LoRA at 0.8 */
    uarr u1;
    uarr_make(&u1, sd, det.unet_prefix);
    cd_lora_substs subs1 = {0};
    CHECK(cd_lora_patch_unet(NULL, &u1.sd, det.unet_prefix, &set, 0.8, &subs1, &log, err,
                             sizeof err) == 0);
    CHECK(subs1.n == 13);
    unet_eps(&u1.sd, &det, x, ctx, eps);
    double d_lora = max_diff(eps, ref_lora, 256), moved = max_diff(ref_lora, ref_base, 256);

    /* again at -0.5 over the patched weights (borrowed) */
    uarr u2;
    uarr_make(&u2, sd, det.unet_prefix);
    cd_lora_substs subs2 = {0};
    for (size_t i = 0; i < subs1.n; i++) {
        cd_tensor *t = (cd_tensor *)cd_sd_find(&u2.sd, subs1.s[i].name);
        CHECK(t && cd_lora_substs_borrow(&subs2, t, subs1.s[i].data) == 0);
    }
    CHECK(cd_lora_patch_unet(NULL, &u2.sd, det.unet_prefix, &set, -0.5, &subs2, &log, err,
                             sizeof err) == 0);
    CHECK(subs2.n == 13 && subs2.bytes == subs1.bytes);
    unet_eps(&u2.sd, &det, x, ctx, eps);
    double d_chain = max_diff(eps, ref_chain, 256);

    /* the CLIP at 0.9 */
    cd_clip_stack *view = cd_clip_stack_view(stack);
    view->l = cd_lora_clip_shallow(stack->l);
    view->owns = 1;
    uint64_t bytes = 0;
    CHECK(cd_lora_patch_clip(NULL, view->l, NULL, NULL, &set, 0.9, &log, &bytes) == 0);
    /* q and v share one packed array; fc1 and out_proj have their own */
    int64_t W = stack->l->cfg.width, F = stack->l->cfg.mlp;
    CHECK(bytes == (uint64_t)(2 * 3 * W * W + W * W + F * W) * 4);
    cd_clip_cond cc = {0}, c0 = {0};
    const char *text = "a photo of a cat";
    CHECK(cd_clip_stack_encode(view, NULL, text, strlen(text), &cc, err, sizeof err) == 0);
    CHECK(cd_clip_stack_encode(stack, NULL, text, strlen(text), &c0, err, sizeof err) == 0);
    float *ref_cond = load_f32("cond.f32", 77 * 32), *ref_pooled = load_f32("pooled.f32", 32);
    CHECK(cc.rows == 77 && cc.width == 32 && cc.pooled_width == 32);
    double d_cond = cc.cond ? max_diff(cc.cond, ref_cond, 77 * 32) : 1e9;
    double d_pool = cc.pooled ? max_diff(cc.pooled, ref_pooled, 32) : 1e9;
    double c_moved = c0.cond ? max_diff(c0.cond, ref_cond, 77 * 32) : 0;
    float *ref_cbase = load_f32("cond_base.f32", 77 * 32);
    double d_cbase = c0.cond ? max_diff(c0.cond, ref_cbase, 77 * 32) : 1e9;
    free(ref_cbase);

    /* LyCORIS: LoHa (plain and CP) and LoKr (full and low-rank factors) */
    cd_model_file *yf = NULL;
    snprintf(path, sizeof path, "%s/test-lycoris.safetensors", g_dir);
    if (cd_model_file_open(path, &yf, err, sizeof err) < 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    cd_lora_set yset = {0};
    seen ys = {0};
    cd_lora_log ylog = {log_fn, &ys};
    CHECK(cd_lora_resolve(cd_model_file_index(yf), &keys, &yset, &ylog, err, sizeof err) == 0);
    CHECK(ys.n == 0 && ys.other == 0 && yset.n == 8);
    uarr u3;
    uarr_make(&u3, sd, det.unet_prefix);
    cd_lora_substs subs3 = {0};
    CHECK(cd_lora_patch_unet(NULL, &u3.sd, det.unet_prefix, &yset, 0.7, &subs3, &ylog, err,
                             sizeof err) == 0);
    CHECK(subs3.n == 7 && ys.other == 0);
    unet_eps(&u3.sd, &det, x, ctx, eps);
    float *ref_lyco = load_f32("eps_lyco.f32", 256);
    double d_lyco = max_diff(eps, ref_lyco, 256), y_moved = max_diff(ref_lyco, ref_base, 256);
    cd_clip_stack *yview = cd_clip_stack_view(stack);
    yview->l = cd_lora_clip_shallow(stack->l);
    yview->owns = 1;
    uint64_t ybytes = 0;
    CHECK(cd_lora_patch_clip(NULL, yview->l, NULL, NULL, &yset, 0.8, &ylog, &ybytes) == 0);
    cd_clip_cond yc = {0};
    CHECK(cd_clip_stack_encode(yview, NULL, text, strlen(text), &yc, err, sizeof err) == 0);
    float *ref_ycond = load_f32("cond_lyco.f32", 77 * 32);
    double d_ycond = yc.cond ? max_diff(yc.cond, ref_ycond, 77 * 32) : 1e9;
    double yc_moved = c0.cond ? max_diff(c0.cond, ref_ycond, 77 * 32) : 0;
    printf("LyCORIS (LoHa, LoKr) max|diff|: eps %.3g (moved %.3g), cond %.3g (moved %.3g)\n",
           d_lyco, y_moved, d_ycond, yc_moved);
    CHECK(d_lyco < 1e-4 && y_moved > 0.5 && d_ycond < 1e-4 && yc_moved > 0.05);
    cd_clip_cond_free(&yc);
    cd_clip_stack_free(yview);
    cd_lora_substs_free(&subs3);
    uarr_free(&u3);
    cd_lora_set_free(&yset);
    cd_model_file_unref(yf);
    free(ref_lyco);
    free(ref_ycond);

    printf("UNet eps max|diff| vs ComfyUI: base %.3g, lora %.3g, chained %.3g (LoRA moves it "
           "%.3g)\nCLIP max|diff|: base cond %.3g, lora cond %.3g pooled %.3g (LoRA moves cond %.3g)\n",
           d_base, d_lora, d_chain, moved, d_cbase, d_cond, d_pool, c_moved);
    CHECK(d_base < 1e-4 && d_lora < 1e-4 && d_chain < 1e-4 && moved > 0.5);
    CHECK(d_cond < 1e-4 && d_pool < 1e-4 && c_moved > 0.05);

    cd_clip_cond_free(&cc);
    cd_clip_cond_free(&c0);
    cd_clip_stack_free(view);
    cd_clip_stack_free(stack);
    cd_lora_substs_free(&subs2);
    cd_lora_substs_free(&subs1);
    uarr_free(&u0);
    uarr_free(&u1);
    uarr_free(&u2);
    cd_lora_set_free(&set);
    cd_lora_keys_free(&keys);
    free(x);
    free(ctx);
    free(ref_base);
    free(ref_lora);
    free(ref_chain);
    free(ref_cond);
    free(ref_pooled);
    cd_model_file_unref(lf);
    cd_model_file_unref(ck);
    if (argc == 4) {
        char dir[2048];
        if (snprintf(dir, sizeof dir, "%s/sdxl", argv[2]) >= (int)sizeof dir)
            return 1;
        test_sdxl(argv[3], dir);
    }
    if (failures)
        fprintf(stderr, "%d checks failed\n", failures);
    return failures ? 1 : 0;
}
