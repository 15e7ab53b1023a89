/* arch.c — key names and shapes of SD1.5 / SD2.1-v / SDXL / SDXL refiner
 * checkpoints at full and reduced width (see arch.h). */
#include "arch.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CLIP_L(pfx, w, l, h, m) {pfx, CD_CLIP_HF, w, l, h, m, 49408, 77, 0}
#define OPENCLIP(pfx, w, l, h, m, p) {pfx, CD_CLIP_OPENCLIP, w, l, h, m, 49408, 77, p}
#define SD_VAE(c) {c, 4, {1, 2, 4, 4}, 2, 4, 4, 3, 3}

static const cd_arch table[CD_ARCH_COUNT][2] = {
    [CD_ARCH_SD15] = {
        {CD_ARCH_SD15, CD_WIDTH_FULL, "sd15", "stable-diffusion-v1", 0, 1,
         {4, 4, 320, 4, {1, 2, 4, 4}, 2, {1, 1, 1, 0}, 1, 768, 0, 0, 8, -1},
         1, {CLIP_L("cond_stage_model.transformer.text_model.", 768, 12, 12, 3072)},
         SD_VAE(128)},
        {CD_ARCH_SD15, CD_WIDTH_SMALL, "sd15", "stable-diffusion-v1", 0, 1,
         {4, 4, 32, 4, {1, 2, 4, 4}, 2, {1, 1, 1, 0}, 1, 32, 0, 0, 8, -1},
         1, {CLIP_L("cond_stage_model.transformer.text_model.", 32, 3, 2, 128)},
         SD_VAE(32)},
    },
    [CD_ARCH_SD21V] = {
        {CD_ARCH_SD21V, CD_WIDTH_FULL, "sd21v", "stable-diffusion-v2-768-v", 1, 1,
         {4, 4, 320, 4, {1, 2, 4, 4}, 2, {1, 1, 1, 0}, 1, 1024, 0, 1, -1, 64},
         1, {OPENCLIP("cond_stage_model.model.", 1024, 24, 16, 4096, 1024)},
         SD_VAE(128)},
        {CD_ARCH_SD21V, CD_WIDTH_SMALL, "sd21v", "stable-diffusion-v2-768-v", 1, 1,
         {4, 4, 32, 4, {1, 2, 4, 4}, 2, {1, 1, 1, 0}, 1, 64, 0, 1, -1,
          CD_ARCH_SMALL_HEAD_CHANNELS},
         1, {OPENCLIP("cond_stage_model.model.", 64, 3, 4, 256, 64)},
         SD_VAE(32)},
    },
    [CD_ARCH_SDXL] = {
        {CD_ARCH_SDXL, CD_WIDTH_FULL, "sdxl", "stable-diffusion-xl-v1-base", 0, 0,
         {4, 4, 320, 3, {1, 2, 4}, 2, {0, 2, 10}, 10, 2048, 2816, 1, -1, 64},
         2, {CLIP_L("conditioner.embedders.0.transformer.text_model.", 768, 12, 12, 3072),
             OPENCLIP("conditioner.embedders.1.model.", 1280, 32, 20, 5120, 1280)},
         SD_VAE(128)},
        /* adm = pooled bigG width + 6 x 256 size/crop embeddings */
        {CD_ARCH_SDXL, CD_WIDTH_SMALL, "sdxl", "stable-diffusion-xl-v1-base", 0, 0,
         {4, 4, 32, 3, {1, 2, 4}, 2, {0, 1, 2}, 2, 96, 64 + 1536, 1, -1,
          CD_ARCH_SMALL_HEAD_CHANNELS},
         2, {CLIP_L("conditioner.embedders.0.transformer.text_model.", 32, 3, 2, 128),
             OPENCLIP("conditioner.embedders.1.model.", 64, 3, 4, 256, 64)},
         SD_VAE(32)},
    },
    [CD_ARCH_SDXL_REFINER] = {
        {CD_ARCH_SDXL_REFINER, CD_WIDTH_FULL, "sdxl-refiner", "stable-diffusion-xl-v1-refiner",
         0, 0,
         {4, 4, 384, 4, {1, 2, 4, 4}, 2, {0, 4, 4, 0}, 4, 1280, 2560, 1, -1, 64},
         1, {OPENCLIP("conditioner.embedders.0.model.", 1280, 32, 20, 5120, 1280)},
         SD_VAE(128)},
        /* adm = pooled bigG width + 5 x 256 size/crop/aesthetic embeddings */
        {CD_ARCH_SDXL_REFINER, CD_WIDTH_SMALL, "sdxl-refiner", "stable-diffusion-xl-v1-refiner",
         0, 0,
         {4, 4, 32, 4, {1, 2, 4, 4}, 2, {0, 1, 1, 0}, 1, 64, 64 + 1280, 1, -1,
          CD_ARCH_SMALL_HEAD_CHANNELS},
         1, {OPENCLIP("conditioner.embedders.0.model.", 64, 3, 4, 256, 64)},
         SD_VAE(32)},
    },
};

const cd_arch *cd_arch_get(cd_arch_id id, cd_arch_width width)
{
    if ((unsigned)id >= CD_ARCH_COUNT || (unsigned)width > 1)
        return NULL;
    return &table[id][width];
}

int cd_arch_parse(const char *name, cd_arch_id *out)
{
    for (int i = 0; i < CD_ARCH_COUNT; i++) {
        if (strcmp(name, table[i][0].name) == 0) {
            *out = (cd_arch_id)i;
            return 0;
        }
    }
    return CD_MODEL_EINVAL;
}

/* ------------------------------------------------------------------ */
/* Emission helpers: each builds one cd_arch_tensor and hands it to cb. */

/* snprintf through a va_list: names are bounded by the buffers and the
 * tables keep them far below 192 bytes. */
static void bfmt(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void bfmt(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

typedef struct emitter {
    cd_arch_cb cb;
    void *ud;
    int rc;       /* first non-zero cb result; later emits are skipped */
} emitter;

static void emit(emitter *e, cd_init init, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void emit(emitter *e, cd_init init, int ndim, const int64_t *shape, const char *fmt, ...)
{
    cd_arch_tensor t;
    va_list ap;
    if (e->rc)
        return;
    memset(&t, 0, sizeof t);
    va_start(ap, fmt);
    vsnprintf(t.name, sizeof t.name, fmt, ap);
    va_end(ap);
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t.shape[i] = shape[i];
    t.init = init;
    t.is_int64 = init == CD_INIT_POS_IDS;
    e->rc = e->cb(&t, e->ud);
}

#define S(...) ((const int64_t[]){__VA_ARGS__})
#define NARGS(...) (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

static void emitw(emitter *e, const char *p, const char *s, int nd, const int64_t *shape,
                  cd_init init)
{
    char name[192];
    bfmt(name, sizeof name, "%s%s", p, s);
    emit(e, init, nd, shape, "%s", name);
}

/* weight + bias of a linear layer [out, in] */
static void linear(emitter *e, const char *p, const char *s, int64_t out, int64_t in, int bias)
{
    char name[192];
    bfmt(name, sizeof name, "%s%s.weight", p, s);
    emit(e, CD_INIT_FANIN, 2, S(out, in), "%s", name);
    if (bias) {
        bfmt(name, sizeof name, "%s%s.bias", p, s);
        emit(e, CD_INIT_ZEROS, 1, S(out), "%s", name);
    }
}

static void conv(emitter *e, const char *p, const char *s, int64_t out, int64_t in, int64_t k)
{
    char name[192];
    bfmt(name, sizeof name, "%s%s.weight", p, s);
    emit(e, CD_INIT_FANIN, 4, S(out, in, k, k), "%s", name);
    bfmt(name, sizeof name, "%s%s.bias", p, s);
    emit(e, CD_INIT_ZEROS, 1, S(out), "%s", name);
}

static void norm(emitter *e, const char *p, const char *s, int64_t c, cd_init bias_init)
{
    char name[192];
    bfmt(name, sizeof name, "%s%s.weight", p, s);
    emit(e, CD_INIT_ONES, 1, S(c), "%s", name);
    bfmt(name, sizeof name, "%s%s.bias", p, s);
    emit(e, bias_init, 1, S(c), "%s", name);
}

/* ------------------------------------------------------------------ */
/* UNet (LDM openaimodel naming) */

static void resblock(emitter *e, const char *p, int64_t cin, int64_t cout, int64_t temb)
{
    norm(e, p, "in_layers.0", cin, CD_INIT_ZEROS);
    conv(e, p, "in_layers.2", cout, cin, 3);
    linear(e, p, "emb_layers.1", cout, temb, 1);
    norm(e, p, "out_layers.0", cout, CD_INIT_ZEROS);
    conv(e, p, "out_layers.3", cout, cout, 3);
    if (cin != cout)
        conv(e, p, "skip_connection", cout, cin, 1);
}

static void spatial_transformer(emitter *e, const cd_arch *a, const char *p, int64_t ch,
                                int depth)
{
    const cd_unet_arch *u = &a->unet;
    cd_init nb = a->v_prediction ? CD_INIT_NORM_BIAS : CD_INIT_ZEROS;
    char q[192];
    norm(e, p, "norm", ch, CD_INIT_ZEROS);
    if (u->use_linear_in_transformer) {
        linear(e, p, "proj_in", ch, ch, 1);
        linear(e, p, "proj_out", ch, ch, 1);
    } else {
        conv(e, p, "proj_in", ch, ch, 1);
        conv(e, p, "proj_out", ch, ch, 1);
    }
    for (int k = 0; k < depth; k++) {
        bfmt(q, sizeof q, "%stransformer_blocks.%d.", p, k);
        linear(e, q, "attn1.to_q", ch, ch, 0);
        linear(e, q, "attn1.to_k", ch, ch, 0);
        linear(e, q, "attn1.to_v", ch, ch, 0);
        linear(e, q, "attn1.to_out.0", ch, ch, 1);
        linear(e, q, "ff.net.0.proj", 8 * ch, ch, 1);
        linear(e, q, "ff.net.2", ch, 4 * ch, 1);
        linear(e, q, "attn2.to_q", ch, ch, 0);
        linear(e, q, "attn2.to_k", ch, u->context_dim, 0);
        linear(e, q, "attn2.to_v", ch, u->context_dim, 0);
        linear(e, q, "attn2.to_out.0", ch, ch, 1);
        norm(e, q, "norm1", ch, nb);
        norm(e, q, "norm2", ch, nb);
        norm(e, q, "norm3", ch, nb);
    }
}

int cd_arch_foreach_unet(const cd_arch *a, const char *P, cd_arch_cb cb, void *ud)
{
    emitter e = {cb, ud, 0};
    const cd_unet_arch *u = &a->unet;
    int64_t mc = u->model_channels, temb = 4 * mc, ch = mc;
    int64_t skips[64];
    int ns = 0, idx;
    char p[192];

    linear(&e, P, "time_embed.0", temb, mc, 1);
    linear(&e, P, "time_embed.2", temb, temb, 1);
    if (u->adm_in_channels) {
        linear(&e, P, "label_emb.0.0", temb, u->adm_in_channels, 1);
        linear(&e, P, "label_emb.0.2", temb, temb, 1);
    }
    conv(&e, P, "input_blocks.0.0", mc, u->in_channels, 3);
    skips[ns++] = mc;
    idx = 1;
    for (int l = 0; l < u->n_levels; l++) {
        for (int r = 0; r < u->num_res_blocks; r++) {
            bfmt(p, sizeof p, "%sinput_blocks.%d.0.", P, idx);
            resblock(&e, p, ch, u->channel_mult[l] * mc, temb);
            ch = u->channel_mult[l] * mc;
            if (u->level_depth[l]) {
                bfmt(p, sizeof p, "%sinput_blocks.%d.1.", P, idx);
                spatial_transformer(&e, a, p, ch, u->level_depth[l]);
            }
            skips[ns++] = ch;
            idx++;
        }
        if (l != u->n_levels - 1) {
            bfmt(p, sizeof p, "%sinput_blocks.%d.0.", P, idx);
            conv(&e, p, "op", ch, ch, 3);
            skips[ns++] = ch;
            idx++;
        }
    }
    bfmt(p, sizeof p, "%smiddle_block.0.", P);
    resblock(&e, p, ch, ch, temb);
    bfmt(p, sizeof p, "%smiddle_block.1.", P);
    spatial_transformer(&e, a, p, ch, u->depth_middle);
    bfmt(p, sizeof p, "%smiddle_block.2.", P);
    resblock(&e, p, ch, ch, temb);

    idx = 0;
    for (int l = u->n_levels - 1; l >= 0; l--) {
        for (int i = 0; i <= u->num_res_blocks; i++) {
            int64_t skip = skips[--ns];
            int k = 1;
            bfmt(p, sizeof p, "%soutput_blocks.%d.0.", P, idx);
            resblock(&e, p, ch + skip, u->channel_mult[l] * mc, temb);
            ch = u->channel_mult[l] * mc;
            if (u->level_depth[l]) {
                bfmt(p, sizeof p, "%soutput_blocks.%d.1.", P, idx);
                spatial_transformer(&e, a, p, ch, u->level_depth[l]);
                k = 2;
            }
            if (l > 0 && i == u->num_res_blocks) {
                bfmt(p, sizeof p, "%soutput_blocks.%d.%d.", P, idx, k);
                conv(&e, p, "conv", ch, ch, 3);
            }
            idx++;
        }
    }
    norm(&e, P, "out.0", mc, CD_INIT_ZEROS);
    conv(&e, P, "out.2", u->out_channels, mc, 3);
    return e.rc;
}

/* ------------------------------------------------------------------ */
/* VAE (LDM AutoencoderKL naming) */

static void vae_resnet(emitter *e, const char *p, int64_t cin, int64_t cout)
{
    norm(e, p, "norm1", cin, CD_INIT_ZEROS);
    conv(e, p, "conv1", cout, cin, 3);
    norm(e, p, "norm2", cout, CD_INIT_ZEROS);
    conv(e, p, "conv2", cout, cout, 3);
    if (cin != cout)
        conv(e, p, "nin_shortcut", cout, cin, 1);
}

static void vae_mid(emitter *e, const char *p0, int64_t c)
{
    char p[192];
    bfmt(p, sizeof p, "%smid.block_1.", p0);
    vae_resnet(e, p, c, c);
    bfmt(p, sizeof p, "%smid.attn_1.", p0);
    norm(e, p, "norm", c, CD_INIT_ZEROS);
    conv(e, p, "q", c, c, 1);
    conv(e, p, "k", c, c, 1);
    conv(e, p, "v", c, c, 1);
    conv(e, p, "proj_out", c, c, 1);
    bfmt(p, sizeof p, "%smid.block_2.", p0);
    vae_resnet(e, p, c, c);
}

int cd_arch_foreach_vae(const cd_arch *a, const char *P, cd_arch_cb cb, void *ud)
{
    emitter e = {cb, ud, 0};
    const cd_vae_arch *v = &a->vae;
    char p[192], enc[160], dec[160];
    int64_t ch = v->ch, bin = ch;
    bfmt(enc, sizeof enc, "%sencoder.", P);
    bfmt(dec, sizeof dec, "%sdecoder.", P);

    conv(&e, enc, "conv_in", ch, v->in_channels, 3);
    for (int i = 0; i < v->n_levels; i++) {
        int64_t bout = ch * v->ch_mult[i];
        for (int j = 0; j < v->num_res_blocks; j++) {
            bfmt(p, sizeof p, "%sdown.%d.block.%d.", enc, i, j);
            vae_resnet(&e, p, bin, bout);
            bin = bout;
        }
        if (i != v->n_levels - 1) {
            bfmt(p, sizeof p, "%sdown.%d.downsample.", enc, i);
            conv(&e, p, "conv", bin, bin, 3);
        }
    }
    vae_mid(&e, enc, bin);
    norm(&e, enc, "norm_out", bin, CD_INIT_ZEROS);
    conv(&e, enc, "conv_out", 2 * v->z_channels, bin, 3);
    conv(&e, P, "quant_conv", 2 * v->embed_dim, 2 * v->z_channels, 1);
    conv(&e, P, "post_quant_conv", v->z_channels, v->embed_dim, 1);

    bin = ch * v->ch_mult[v->n_levels - 1];
    conv(&e, dec, "conv_in", bin, v->z_channels, 3);
    vae_mid(&e, dec, bin);
    for (int i = v->n_levels - 1; i >= 0; i--) {
        int64_t bout = ch * v->ch_mult[i];
        for (int j = 0; j <= v->num_res_blocks; j++) {
            bfmt(p, sizeof p, "%sup.%d.block.%d.", dec, i, j);
            vae_resnet(&e, p, bin, bout);
            bin = bout;
        }
        if (i != 0) {
            bfmt(p, sizeof p, "%sup.%d.upsample.", dec, i);
            conv(&e, p, "conv", bin, bin, 3);
        }
    }
    norm(&e, dec, "norm_out", bin, CD_INIT_ZEROS);
    conv(&e, dec, "conv_out", v->out_channels, bin, 3);
    return e.rc;
}

/* ------------------------------------------------------------------ */
/* Text encoders */

int cd_arch_foreach_clip(const cd_arch *a, int which, const char *P, cd_arch_cb cb, void *ud)
{
    emitter e = {cb, ud, 0};
    const cd_clip_arch *c;
    char p[192];
    if (which < 0 || which >= a->n_clip)
        return CD_MODEL_EINVAL;
    c = &a->clip[which];
    if (!P)
        P = c->prefix;
    int64_t w = c->width;
    if (c->layout == CD_CLIP_HF) {
        emitw(&e, P, "embeddings.token_embedding.weight", 2, S(c->vocab, w), CD_INIT_EMBED);
        emitw(&e, P, "embeddings.position_embedding.weight", 2, S(c->ctx, w), CD_INIT_EMBED);
        emitw(&e, P, "embeddings.position_ids", 2, S(1, c->ctx), CD_INIT_POS_IDS);
        for (int l = 0; l < c->layers; l++) {
            bfmt(p, sizeof p, "%sencoder.layers.%d.", P, l);
            linear(&e, p, "self_attn.k_proj", w, w, 1);
            linear(&e, p, "self_attn.v_proj", w, w, 1);
            linear(&e, p, "self_attn.q_proj", w, w, 1);
            linear(&e, p, "self_attn.out_proj", w, w, 1);
            norm(&e, p, "layer_norm1", w, CD_INIT_ZEROS);
            linear(&e, p, "mlp.fc1", c->mlp, w, 1);
            linear(&e, p, "mlp.fc2", w, c->mlp, 1);
            norm(&e, p, "layer_norm2", w, CD_INIT_ZEROS);
        }
        norm(&e, P, "final_layer_norm", w, CD_INIT_ZEROS);
    } else {
        emitw(&e, P, "token_embedding.weight", 2, S(c->vocab, w), CD_INIT_EMBED);
        emitw(&e, P, "positional_embedding", 2, S(c->ctx, w), CD_INIT_EMBED);
        for (int l = 0; l < c->layers; l++) {
            bfmt(p, sizeof p, "%stransformer.resblocks.%d.", P, l);
            norm(&e, p, "ln_1", w, CD_INIT_ZEROS);
            emitw(&e, p, "attn.in_proj_weight", 2, S(3 * w, w), CD_INIT_FANIN);
            emitw(&e, p, "attn.in_proj_bias", 1, S(3 * w), CD_INIT_ZEROS);
            linear(&e, p, "attn.out_proj", w, w, 1);
            norm(&e, p, "ln_2", w, CD_INIT_ZEROS);
            linear(&e, p, "mlp.c_fc", c->mlp, w, 1);
            linear(&e, p, "mlp.c_proj", w, c->mlp, 1);
        }
        norm(&e, P, "ln_final", w, CD_INIT_ZEROS);
        /* used as x @ text_projection: [width, projection] */
        emitw(&e, P, "text_projection", 2, S(w, c->projection), CD_INIT_FANIN);
        emitw(&e, P, "logit_scale", 0, S(0), CD_INIT_LOGIT_SCALE);
    }
    return e.rc;
}

/* ------------------------------------------------------------------ */
/* LDM DDPM buffers (SD1.x/SD2.x single files carry them). */

static const char *const sched_names[] = {
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
    "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
};

int cd_arch_schedule_value(const char *buffer, int i, double *out)
{
    int which = -1;
    for (size_t k = 0; k < sizeof sched_names / sizeof *sched_names; k++)
        if (strcmp(buffer, sched_names[k]) == 0)
            which = (int)k;
    if (which < 0 || i < 0 || i >= 1000)
        return CD_MODEL_ENOTFOUND;
    /* betas = linspace(sqrt(0.00085), sqrt(0.012), 1000)^2 in float64 */
    double s0 = sqrt(0.00085), s1 = sqrt(0.012);
    double ac = 1.0, ac_prev = 1.0, beta = 0;
    for (int k = 0; k <= i; k++) {
        double s = s0 + (s1 - s0) * k / 999.0;
        beta = s * s;
        ac_prev = ac;
        ac *= 1.0 - beta;
    }
    double pv = beta * (1.0 - ac_prev) / (1.0 - ac);
    double v;
    switch (which) {
    case 0: v = beta; break;
    case 1: v = ac; break;
    case 2: v = ac_prev; break;
    case 3: v = sqrt(ac); break;
    case 4: v = sqrt(1.0 - ac); break;
    case 5: v = log(1.0 - ac); break;
    case 6: v = sqrt(1.0 / ac); break;
    case 7: v = sqrt(1.0 / ac - 1.0); break;
    case 8: v = pv; break;
    case 9: v = log(pv > 1e-20 ? pv : 1e-20); break;
    case 10: v = beta * sqrt(ac_prev) / (1.0 - ac); break;
    default: v = (1.0 - ac_prev) * sqrt(1.0 - beta) / (1.0 - ac); break;
    }
    *out = v;
    return 0;
}

int cd_arch_foreach(const cd_arch *a, cd_arch_cb cb, void *ud)
{
    int rc = cd_arch_foreach_unet(a, "model.diffusion_model.", cb, ud);
    if (!rc)
        rc = cd_arch_foreach_vae(a, "first_stage_model.", cb, ud);
    for (int i = 0; !rc && i < a->n_clip; i++)
        rc = cd_arch_foreach_clip(a, i, NULL, cb, ud);
    if (!rc && a->ldm_schedule_buffers) {
        emitter e = {cb, ud, 0};
        for (size_t k = 0; k < sizeof sched_names / sizeof *sched_names; k++)
            emit(&e, CD_INIT_SCHEDULE, 1, S(1000), "%s", sched_names[k]);
        rc = e.rc;
    }
    return rc;
}
