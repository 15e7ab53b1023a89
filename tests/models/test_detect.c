/* models_detect: generated checkpoints of every family at both widths are
 * read back with the exact names/shapes of the arch tables and detected as
 * ComfyUI would (full widths) or by comfyd's reduced-width rule (small);
 * bare UNet, diffusers UNet, standalone text encoder / VAE files and other
 * architectures' marker keys are recognised. */
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "arch.h"
#include "ckpt_writer.h"
#include "detect.h"
#include "safetensors.h"
#include "testutil.h"

/* ---- synthetic state dicts (views without data unless given) ---- */
typedef struct views {
    cd_tensor *t;
    char **names;
    size_t n, cap;
} views;

static void vadd(views *v, const char *name, int ndim, const int64_t *shape)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 256;
        v->t = realloc(v->t, v->cap * sizeof *v->t);
        v->names = realloc(v->names, v->cap * sizeof *v->names);
    }
    cd_tensor *t = &v->t[v->n];
    memset(t, 0, sizeof *t);
    v->names[v->n] = strdup(name);
    t->name = v->names[v->n];
    t->dtype = CD_DT_F16;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    v->n++;
}

static void vfree(views *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->names[i]);
    free(v->names);
    free(v->t);
    memset(v, 0, sizeof *v);
}

#define SH(...) ((const int64_t[]){__VA_ARGS__})
#define NSH(...) (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define VADD(v, name, ...) vadd(v, name, NSH(__VA_ARGS__), SH(__VA_ARGS__))

typedef struct collect_ctx {
    views *v;
    const char *strip;   /* prefix to remove, or NULL */
    uint64_t params;
} collect_ctx;

static int collect_cb(const cd_arch_tensor *t, void *ud)
{
    collect_ctx *c = ud;
    const char *name = t->name;
    if (c->strip) {
        size_t l = strlen(c->strip);
        if (strncmp(name, c->strip, l) != 0)
            return 0;
        name += l;
    }
    vadd(c->v, name, t->ndim, t->shape);
    if (!t->is_int64) {
        uint64_t n = 1;
        for (int i = 0; i < t->ndim; i++)
            n *= (uint64_t)t->shape[i];
        c->params += n;
    }
    return 0;
}

static int detect_views(views *v, cd_detect *d, char *err, size_t errlen)
{
    cd_sd sd;
    int r = cd_sd_init(&sd, v->t, v->n, err, errlen);
    if (r < 0)
        return r;
    r = cd_detect_checkpoint(&sd, d, err, errlen);
    cd_sd_free(&sd);
    return r;
}

static int list_is(const int *got, int n, const int *want, int wn)
{
    if (n != wn)
        return 0;
    for (int i = 0; i < n; i++)
        if (got[i] != want[i])
            return 0;
    return 1;
}
#define LIST_IS(got, n, ...) \
    list_is(got, n, (const int[]){__VA_ARGS__}, (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int)))

/* ---- full widths, from the tables (no 2 GB files needed) ---- */
static void test_full_tables(void)
{
    static const cd_family fam[] = {CD_FAMILY_SD1, CD_FAMILY_SD2, CD_FAMILY_SDXL,
                                    CD_FAMILY_SDXL_REFINER};
    for (int id = 0; id < CD_ARCH_COUNT; id++) {
        const cd_arch *a = cd_arch_get((cd_arch_id)id, CD_WIDTH_FULL);
        views v = {0};
        collect_ctx c = {&v, NULL, 0};
        cd_arch_foreach(a, collect_cb, &c);
        /* SD2-v: the norm biases are trained away from 0; give the test
         * tensor the generator's distribution */
        float *bias = NULL;
        if (a->v_prediction) {
            for (size_t i = 0; i < v.n; i++) {
                if (strcmp(v.t[i].name,
                           "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias"))
                    continue;
                size_t n = (size_t)v.t[i].shape[0];
                bias = malloc(n * sizeof *bias);
                for (size_t k = 0; k < n; k++)
                    bias[k] = (k % 2 ? 0.12f : -0.12f);
                v.t[i].dtype = CD_DT_F32;
                v.t[i].data = bias;
                v.t[i].nbytes = n * 4;
            }
        }
        cd_detect d;
        char err[512] = "";
        int r = detect_views(&v, &d, err, sizeof err);
        CHECK_EQ(r, 0);
        if (r)
            fprintf(stderr, "%s: %s\n", a->name, err);
        CHECK_EQ(d.family, fam[id]);
        CHECK_EQ(d.reduced_width, 0);
        CHECK_EQ(d.has_vae, 1);
        CHECK(strcmp(d.unet_prefix, "model.diffusion_model.") == 0);
        CHECK_EQ(d.prediction, a->v_prediction ? CD_PRED_V : CD_PRED_EPS);
        CHECK_EQ(d.n_text, a->n_clip);
        CHECK(cd_detect_arch(&d) == a);
        for (int k = 0; k < d.n_text; k++)
            CHECK_EQ(d.text[k].heads, a->clip[k].heads);
        const cd_unet_config *u = &d.unet;
        CHECK_EQ(u->model_channels, a->unet.model_channels);
        CHECK_EQ(u->context_dim, a->unet.context_dim);
        CHECK_EQ(u->adm_in_channels, a->unet.adm_in_channels);
        CHECK_EQ(u->transformer_depth_middle, a->unet.depth_middle);
        CHECK_EQ(u->num_head_channels, a->unet.num_head_channels);
        switch (id) {
        case CD_ARCH_SD15:
        case CD_ARCH_SD21V:
            CHECK(LIST_IS(u->transformer_depth, u->n_transformer_depth, 1, 1, 1, 1, 1, 1, 0, 0));
            CHECK(LIST_IS(u->transformer_depth_output, u->n_transformer_depth_output,
                          1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0));
            CHECK(LIST_IS(u->channel_mult, u->n_levels, 1, 2, 4, 4));
            CHECK(LIST_IS(u->num_res_blocks, u->n_levels, 2, 2, 2, 2));
            CHECK_EQ(d.text[0].kind, id == CD_ARCH_SD15 ? CD_TEXT_CLIP_L : CD_TEXT_CLIP_H);
            CHECK_EQ(d.text[0].layers, id == CD_ARCH_SD15 ? 12 : 24);
            break;
        case CD_ARCH_SDXL:
            CHECK(LIST_IS(u->transformer_depth, u->n_transformer_depth, 0, 0, 2, 2, 10, 10));
            CHECK(LIST_IS(u->transformer_depth_output, u->n_transformer_depth_output,
                          0, 0, 0, 2, 2, 2, 10, 10, 10));
            CHECK(LIST_IS(u->channel_mult, u->n_levels, 1, 2, 4));
            CHECK_EQ(d.text[0].kind, CD_TEXT_CLIP_L);
            CHECK_EQ(d.text[1].kind, CD_TEXT_CLIP_G);
            CHECK_EQ(d.text[1].layers, 32);
            CHECK_EQ(d.text[1].width, 1280);
            break;
        default:
            CHECK(LIST_IS(u->transformer_depth, u->n_transformer_depth, 0, 0, 4, 4, 4, 4, 0, 0));
            CHECK(LIST_IS(u->transformer_depth_output, u->n_transformer_depth_output,
                          0, 0, 0, 4, 4, 4, 4, 4, 4, 0, 0, 0));
            CHECK_EQ(d.text[0].kind, CD_TEXT_CLIP_G);
            break;
        }
        /* parameter counts of the real releases */
        views vu = {0};
        collect_ctx cu = {&vu, NULL, 0};
        cd_arch_foreach_unet(a, "", collect_cb, &cu);
        if (id == CD_ARCH_SD15) {
            views vv = {0}, vc = {0};
            collect_ctx cv = {&vv, NULL, 0}, cc = {&vc, NULL, 0};
            cd_arch_foreach_vae(a, "", collect_cb, &cv);
            cd_arch_foreach_clip(a, 0, "", collect_cb, &cc);
            CHECK_EQ(cu.params, 859520964ull);
            CHECK_EQ(cv.params, 83653863ull);
            CHECK_EQ(cc.params, 123060480ull);
            CHECK_EQ(c.params, 859520964ull + 83653863ull + 123060480ull + 12000ull);
            vfree(&vv);
            vfree(&vc);
        }
        if (id == CD_ARCH_SDXL)
            CHECK_EQ(cu.params, 2567463684ull);
        printf("%s full: %zu tensors, %llu parameters (UNet %llu)\n", a->name, v.n,
               (unsigned long long)c.params, (unsigned long long)cu.params);

        /* the same UNet as a bare diffusion-model file */
        if (id == CD_ARCH_SD15) {
            views b = {0};
            collect_ctx cb = {&b, "model.diffusion_model.", 0};
            cd_arch_foreach(a, collect_cb, &cb);
            CHECK_EQ(detect_views(&b, &d, err, sizeof err), 0);
            CHECK_EQ(d.family, CD_FAMILY_SD1);
            CHECK(d.unet_prefix[0] == 0);
            CHECK_EQ(d.has_vae, 0);
            CHECK_EQ(d.n_text, 0);
            vfree(&b);
        }
        /* inpainting UNet (9 input channels) and SDXL prediction markers */
        if (id == CD_ARCH_SD15 || id == CD_ARCH_SDXL) {
            for (size_t i = 0; i < v.n; i++)
                if (strcmp(v.t[i].name, "model.diffusion_model.input_blocks.0.0.weight") == 0)
                    v.t[i].shape[1] = 9;
            CHECK_EQ(detect_views(&v, &d, err, sizeof err), 0);
            CHECK_EQ(d.family, fam[id]);
            CHECK_EQ(d.inpaint, 1);
        }
        if (id == CD_ARCH_SDXL) {
            VADD(&v, "v_pred", 0);
            CHECK_EQ(detect_views(&v, &d, err, sizeof err), 0);
            CHECK_EQ(d.prediction, CD_PRED_V);
            CHECK_EQ(d.zsnr, 0);
            VADD(&v, "ztsnr", 0);
            CHECK_EQ(detect_views(&v, &d, err, sizeof err), 0);
            CHECK_EQ(d.zsnr, 1);
            VADD(&v, "edm_vpred.sigma_max", 0);
            CHECK_EQ(detect_views(&v, &d, err, sizeof err), 0);
            CHECK_EQ(d.prediction, CD_PRED_V_EDM);
            VADD(&v, "edm_mean", 1, 4, 1, 1);
            VADD(&v, "edm_std", 1, 4, 1, 1);
            CHECK_EQ(detect_views(&v, &d, err, sizeof err), 0);
            CHECK_EQ(d.prediction, CD_PRED_EDM);
        }
        vfree(&vu);
        vfree(&v);
        free(bias);
    }
}

/* ---- generated small files on disk ---- */
static void test_small_files(void)
{
    static const cd_family fam[] = {CD_FAMILY_SD1, CD_FAMILY_SD2, CD_FAMILY_SDXL,
                                    CD_FAMILY_SDXL_REFINER};
    static const cd_dtype dts[] = {CD_DT_F32, CD_DT_BF16, CD_DT_F16, CD_DT_F16};
    for (int id = 0; id < CD_ARCH_COUNT; id++) {
        const cd_arch *a = cd_arch_get((cd_arch_id)id, CD_WIDTH_SMALL);
        char path[512], err[512] = "";
        snprintf(path, sizeof path, "%s/models_%s_small.safetensors", test_dir(), a->name);
        uint64_t bytes = 0, params = 0;
        CHECK_EQ(cd_ckpt_write(a, dts[id], 7, path, &bytes, &params, err, sizeof err), 0);
        cd_st_file *f = NULL;
        int r = cd_st_open(path, &f, err, sizeof err);
        CHECK_EQ(r, 0);
        if (r) {
            fprintf(stderr, "%s\n", err);
            continue;
        }
        CHECK_EQ(cd_st_file_size(f), bytes);
        CHECK(strcmp(cd_st_metadata_get(f, "comfyd.width"), "small") == 0);
        CHECK(strcmp(cd_st_metadata_get(f, "modelspec.architecture"), a->modelspec) == 0);
        /* every table tensor is there with its shape and dtype */
        views v = {0};
        collect_ctx c = {&v, NULL, 0};
        cd_arch_foreach(a, collect_cb, &c);
        CHECK_EQ(cd_st_count(f), v.n);
        CHECK_EQ(c.params, params);
        for (size_t i = 0; i < v.n; i++) {
            const cd_tensor *t = cd_st_find(f, v.t[i].name);
            CHECK(t != NULL);
            if (!t)
                continue;
            CHECK_EQ(t->ndim, v.t[i].ndim);
            for (int k = 0; k < t->ndim; k++)
                CHECK_EQ(t->shape[k], v.t[i].shape[k]);
            CHECK(t->dtype == dts[id] || t->dtype == CD_DT_I64);
        }
        /* values: finite, norm weights 1, biases 0, fan-in variance */
        float *buf = NULL;
        for (size_t i = 0; i < cd_st_count(f); i++) {
            const cd_tensor *t = cd_st_tensor(f, i);
            size_t n = (size_t)cd_tensor_numel(t);
            buf = realloc(buf, (n ? n : 1) * sizeof *buf);
            CHECK_EQ(cd_tensor_to_f32(t, buf, n), 0);
            int finite = 1;
            for (size_t k = 0; k < n; k++)
                finite &= isfinite(buf[k]) != 0;
            CHECK(finite);
        }
        const char *wname = id == CD_ARCH_SD15 ? "model.diffusion_model.input_blocks.1.0.in_layers.2.weight"
                                               : "first_stage_model.decoder.conv_in.weight";
        const cd_tensor *w = cd_st_find(f, wname);
        if (w) {
            size_t n = (size_t)cd_tensor_numel(w);
            buf = realloc(buf, n * sizeof *buf);
            cd_tensor_to_f32(w, buf, n);
            double s = 0, fan = (double)(n / (size_t)w->shape[0]);
            for (size_t k = 0; k < n; k++)
                s += (double)buf[k] * buf[k];
            double var = s / (double)n;
            CHECK(var > 0.85 / fan && var < 1.15 / fan);
        }
        free(buf);

        cd_detect d;
        r = cd_detect_checkpoint(cd_st_index(f), &d, err, sizeof err);
        CHECK_EQ(r, 0);
        if (r)
            fprintf(stderr, "%s small: %s\n", a->name, err);
        CHECK_EQ(d.family, fam[id]);
        CHECK_EQ(d.reduced_width, 1);
        CHECK_EQ(d.prediction, a->v_prediction ? CD_PRED_V : CD_PRED_EPS);
        CHECK_EQ(d.has_vae, 1);
        CHECK_EQ(d.n_text, a->n_clip);
        CHECK_EQ(d.unet.model_channels, a->unet.model_channels);
        CHECK_EQ(d.unet.context_dim, a->unet.context_dim);
        CHECK_EQ(d.unet.adm_in_channels, a->unet.adm_in_channels);
        CHECK_EQ(d.unet.num_heads, a->unet.num_heads);
        CHECK_EQ(d.unet.num_head_channels, a->unet.num_head_channels);
        CHECK(cd_detect_arch(&d) == a);
        for (int k = 0; k < d.n_text && k < a->n_clip; k++) {
            CHECK_EQ(d.text[k].heads, a->clip[k].heads);
            CHECK(strcmp(d.text[k].prefix, a->clip[k].prefix) == 0);
            CHECK_EQ(d.text[k].width, a->clip[k].width);
            CHECK_EQ(d.text[k].layers, a->clip[k].layers);
        }
        printf("%s small: %zu tensors, %llu parameters, %llu bytes (%s)\n", a->name,
               cd_st_count(f), (unsigned long long)params, (unsigned long long)bytes,
               cd_dtype_name(dts[id]));

        /* the VAE alone, as a standalone file would name it */
        views vae = {0};
        collect_ctx cv = {&vae, "first_stage_model.", 0};
        cd_arch_foreach(a, collect_cb, &cv);
        cd_sd sd;
        char pre[64];
        int diff = -1;
        CHECK_EQ(cd_sd_init(&sd, vae.t, vae.n, err, sizeof err), 0);
        CHECK_EQ(cd_detect_vae(&sd, pre, sizeof pre, &diff, err, sizeof err), 0);
        CHECK(pre[0] == 0 && diff == 0);
        CHECK_EQ(cd_detect_checkpoint(&sd, &d, err, sizeof err), CD_MODEL_ENOTFOUND);
        CHECK_STR(err, "Could not detect model type");
        cd_sd_free(&sd);
        vfree(&vae);
        vfree(&v);
        cd_st_close(f);
        unlink(path);
    }
}

static int files_equal(const char *a, const char *b)
{
    FILE *x = fopen(a, "rb"), *y = fopen(b, "rb");
    int eq = x && y;
    while (eq) {
        int c = fgetc(x), e = fgetc(y);
        if (c != e)
            eq = 0;
        if (c == EOF || e == EOF)
            break;
    }
    if (x)
        fclose(x);
    if (y)
        fclose(y);
    return eq;
}

static void test_determinism(void)
{
    const cd_arch *a = cd_arch_get(CD_ARCH_SD15, CD_WIDTH_SMALL);
    char p1[512], p2[512], p3[512], err[256];
    snprintf(p1, sizeof p1, "%s/models_det1.safetensors", test_dir());
    snprintf(p2, sizeof p2, "%s/models_det2.safetensors", test_dir());
    snprintf(p3, sizeof p3, "%s/models_det3.safetensors", test_dir());
    CHECK_EQ(cd_ckpt_write(a, CD_DT_F16, 42, p1, NULL, NULL, err, sizeof err), 0);
    CHECK_EQ(cd_ckpt_write(a, CD_DT_F16, 42, p2, NULL, NULL, err, sizeof err), 0);
    CHECK_EQ(cd_ckpt_write(a, CD_DT_F16, 43, p3, NULL, NULL, err, sizeof err), 0);
    CHECK(files_equal(p1, p2));
    CHECK(!files_equal(p1, p3));
    CHECK_EQ(cd_ckpt_write(a, CD_DT_I32, 1, p3, NULL, NULL, err, sizeof err), CD_MODEL_EINVAL);
    CHECK_EQ(cd_ckpt_write(a, CD_DT_F16, 1, "/nonexistent-dir/x.safetensors", NULL, NULL, err,
                           sizeof err), CD_MODEL_EIO);
    CHECK_STR(err, "cannot create");
    unlink(p1);
    unlink(p2);
    unlink(p3);
}

/* ---- diffusers UNet, other architectures, text encoders ---- */
static void diffusers_sd15(views *v, int mc, int ctx)
{
    static const int mult[4] = {1, 2, 4, 4};
    char n[256];
    VADD(v, "conv_in.weight", mc, 4, 3, 3);
    VADD(v, "conv_out.weight", 4, mc, 3, 3);
    for (int l = 0; l < 4; l++) {
        int ch = mc * mult[l];
        for (int i = 0; i < 2; i++) {
            snprintf(n, sizeof n, "down_blocks.%d.resnets.%d.conv2.weight", l, i);
            VADD(v, n, ch, ch, 3, 3);
            if (l < 3) {
                snprintf(n, sizeof n, "down_blocks.%d.attentions.%d.proj_in.weight", l, i);
                VADD(v, n, ch, ch, 1, 1);
                snprintf(n, sizeof n,
                         "down_blocks.%d.attentions.%d.transformer_blocks.0.attn2.to_k.weight", l, i);
                VADD(v, n, ch, ctx);
            }
        }
        int x = 3 - l;
        for (int i = 0; i < 3; i++) {
            snprintf(n, sizeof n, "up_blocks.%d.resnets.%d.conv2.weight", x, i);
            VADD(v, n, ch, ch, 3, 3);
            if (l < 3) {
                snprintf(n, sizeof n, "up_blocks.%d.attentions.%d.proj_in.weight", x, i);
                VADD(v, n, ch, ch, 1, 1);
                snprintf(n, sizeof n,
                         "up_blocks.%d.attentions.%d.transformer_blocks.0.norm1.bias", x, i);
                VADD(v, n, ch);
            }
        }
    }
    VADD(v, "mid_block.resnets.0.conv1.weight", 4 * mc, 4 * mc, 3, 3);
    VADD(v, "mid_block.attentions.0.proj_in.weight", 4 * mc, 4 * mc, 1, 1);
    VADD(v, "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight", 4 * mc, ctx);
}

static void test_other_layouts(void)
{
    cd_detect d;
    char err[512];
    views v = {0};
    diffusers_sd15(&v, 320, 768);
    CHECK_EQ(detect_views(&v, &d, err, sizeof err), 0);
    CHECK_EQ(d.family, CD_FAMILY_SD1);
    CHECK_EQ(d.diffusers, 1);
    CHECK(LIST_IS(d.unet.transformer_depth, d.unet.n_transformer_depth, 1, 1, 1, 1, 1, 1, 0, 0));
    CHECK(LIST_IS(d.unet.transformer_depth_output, d.unet.n_transformer_depth_output,
                  1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0));
    CHECK_EQ(d.unet.transformer_depth_middle, 1);
    vfree(&v);

    /* other architectures: recognised, not supported yet */
    VADD(&v, "model.diffusion_model.double_blocks.0.img_attn.norm.key_norm.scale", 128);
    VADD(&v, "model.diffusion_model.img_in.weight", 3072, 64);
    for (int i = 0; i < 6; i++) {
        char n[128];
        snprintf(n, sizeof n, "model.diffusion_model.single_blocks.%d.linear1.weight", i);
        VADD(&v, n, 21504, 3072);
    }
    CHECK_EQ(detect_views(&v, &d, err, sizeof err), 0);
    CHECK_EQ(d.family, CD_FAMILY_UNSUPPORTED);
    CHECK(strcmp(d.name, "Flux") == 0);
    vfree(&v);
    for (int i = 0; i < 8; i++) {
        char n[128];
        snprintf(n, sizeof n, "model.diffusion_model.joint_blocks.%d.context_block.attn.qkv.weight", i);
        VADD(&v, n, 4608, 1536);
    }
    VADD(&v, "text_encoders.clip_l.transformer.text_model.final_layer_norm.weight", 768);
    CHECK_EQ(detect_views(&v, &d, err, sizeof err), 0);
    CHECK_EQ(d.family, CD_FAMILY_UNSUPPORTED);
    CHECK_STR(d.name, "SD3");
    vfree(&v);

    /* an LDM UNet that matches nothing */
    VADD(&v, "input_blocks.0.0.weight", 999, 4, 3, 3);
    CHECK_EQ(detect_views(&v, &d, err, sizeof err), CD_MODEL_ENOTFOUND);
    CHECK_STR(err, "matches no supported model");
    vfree(&v);
    /* a malformed one: a ResBlock without its output conv */
    VADD(&v, "input_blocks.0.0.weight", 320, 4, 3, 3);
    VADD(&v, "input_blocks.1.0.in_layers.0.weight", 320);
    CHECK_EQ(detect_views(&v, &d, err, sizeof err), CD_MODEL_EFORMAT);
    CHECK_STR(err, "malformed");
    vfree(&v);
    /* nothing at all */
    VADD(&v, "foo", 1);
    CHECK_EQ(detect_views(&v, &d, err, sizeof err), CD_MODEL_ENOTFOUND);
    vfree(&v);
    /* duplicate names are refused by the index */
    VADD(&v, "a", 1);
    VADD(&v, "a", 1);
    cd_sd sd;
    CHECK_EQ(cd_sd_init(&sd, v.t, v.n, err, sizeof err), CD_MODEL_EFORMAT);
    CHECK_STR(err, "duplicate");
    vfree(&v);

    /* standalone text encoders: classification by layer count */
    static const struct { int layers; cd_text_kind kind; int openclip; } te[] = {
        {12, CD_TEXT_CLIP_L, 0}, {24, CD_TEXT_CLIP_H, 0}, {32, CD_TEXT_CLIP_G, 0},
        {32, CD_TEXT_CLIP_G, 1}, {24, CD_TEXT_CLIP_H, 1},
    };
    for (size_t k = 0; k < sizeof te / sizeof *te; k++) {
        char n[128];
        for (int l = 0; l < te[k].layers; l++) {
            if (te[k].openclip)
                snprintf(n, sizeof n, "transformer.resblocks.%d.ln_1.weight", l);
            else
                snprintf(n, sizeof n, "text_model.encoder.layers.%d.mlp.fc1.weight", l);
            VADD(&v, n, 64);
        }
        VADD(&v, te[k].openclip ? "token_embedding.weight" : "text_model.embeddings.token_embedding.weight",
             49408, 1024);
        cd_text_encoder t;
        CHECK_EQ(cd_sd_init(&sd, v.t, v.n, err, sizeof err), 0);
        CHECK_EQ(cd_detect_text_encoder(&sd, &t, err, sizeof err), 0);
        CHECK_EQ(t.kind, te[k].kind);
        CHECK_EQ(t.layers, te[k].layers);
        CHECK_EQ(t.width, 1024);
        CHECK_EQ(t.openclip_layout, te[k].openclip);
        cd_sd_free(&sd);
        vfree(&v);
    }
    VADD(&v, "encoder.down_blocks.0.resnets.0.conv1.weight", 128, 128, 3, 3);
    char pre[32];
    int diff = 0;
    CHECK_EQ(cd_sd_init(&sd, v.t, v.n, err, sizeof err), 0);
    CHECK_EQ(cd_detect_vae(&sd, pre, sizeof pre, &diff, err, sizeof err), 0);
    CHECK_EQ(diff, 1);
    cd_text_encoder t;
    CHECK_EQ(cd_detect_text_encoder(&sd, &t, err, sizeof err), CD_MODEL_ENOTFOUND);
    cd_sd_free(&sd);
    vfree(&v);
}

int main(void)
{
    test_full_tables();
    test_small_files();
    test_determinism();
    test_other_layouts();
    return test_done("models_detect");
}
