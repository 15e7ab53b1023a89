/* detect.c — architecture detection as ComfyUI's model_detection (see detect.h). */
#include "detect.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "model_util.h"


const char *cd_family_name(cd_family f)
{
    switch (f) {
    case CD_FAMILY_SD1: return "SD1.x";
    case CD_FAMILY_SD2: return "SD2.x";
    case CD_FAMILY_SDXL: return "SDXL";
    case CD_FAMILY_SDXL_REFINER: return "SDXL refiner";
    case CD_FAMILY_UNSUPPORTED: return "unsupported";
    default: return "unknown";
    }
}

const char *cd_prediction_name(cd_prediction p)
{
    switch (p) {
    case CD_PRED_V: return "v_prediction";
    case CD_PRED_EDM: return "edm";
    case CD_PRED_V_EDM: return "v_prediction_edm";
    default: return "eps";
    }
}

/* A name built from a prefix and a printf tail. */
static const cd_tensor *findp(const cd_sd *sd, const char *P, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const cd_tensor *findp(const cd_sd *sd, const char *P, const char *fmt, ...)
{
    char tail[400];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tail)
        return NULL;
    return cd_sd_findf(sd, "%s%s", P, tail);
}

/* count_blocks with a prefix: fmt has one %d and is appended to P. */
static int count_blocks_p(const cd_sd *sd, const char *P, const char *fmt)
{
    char p[512];
    int k = snprintf(p, sizeof p, "%s%s", P, fmt);
    if (k < 0 || (size_t)k >= sizeof p)
        return 0;
    return cd_sd_count_blocks(sd, p);
}

/* ------------------------------------------------------------------ */
/* Marker keys of architectures that are not LDM UNets. */

static const struct {
    const char *key;
    const char *also;   /* second key that must also exist, or NULL */
    const char *name;
} markers[] = {
    {"joint_blocks.0.context_block.attn.qkv.weight", NULL, "SD3 (MMDiT)"},
    {"clf.1.weight", NULL, "Stable Cascade"},
    {"transformer.rotary_pos_emb.inv_freq", NULL, "Stable Audio"},
    {"double_layers.0.attn.w1q.weight", NULL, "AuraFlow"},
    {"mlp_t5.0.weight", NULL, "Hunyuan-DiT"},
    {"txt_in.individual_token_refiner.blocks.0.norm1.weight", NULL, "Hunyuan Video"},
    {"double_blocks.0.img_attn.norm.key_norm.scale", "distilled_guidance_layer.norms.0.scale",
     "Chroma"},
    {"double_blocks.0.img_attn.norm.key_norm.scale", "distilled_guidance_layer.0.norms.0.scale",
     "Chroma"},
    {"double_blocks.0.img_attn.norm.key_norm.scale", "img_in.weight", "Flux"},
    {"t5_yproj.weight", NULL, "Mochi"},
    {"adaln_single.emb.timestep_embedder.linear_1.bias", "pos_embed.proj.bias", "PixArt"},
    {"adaln_single.emb.timestep_embedder.linear_1.bias", NULL, "LTX-Video"},
    {"genre_embedder.weight", NULL, "ACE-Step"},
    {"t_block.1.weight", NULL, "PixArt"},
    {"blocks.block0.blocks.0.block.attn.to_q.0.weight", NULL, "Cosmos"},
    {"cap_embedder.1.weight", NULL, "Lumina 2"},
    {"head.modulation", NULL, "Wan"},
    {"latent_in.weight", NULL, "Hunyuan 3D"},
    {"t_embedder.mlp.2.weight", NULL, "Hunyuan 3D 2.1"},
    {"caption_projection.0.linear.weight", NULL, "HiDream"},
    {"blocks.0.mlp.layer1.weight", NULL, "Cosmos Predict2"},
    {"time_caption_embed.timestep_embedder.linear_1.bias", NULL, "OmniGen2"},
    {"txt_norm.weight", NULL, "Qwen-Image"},
};

static const char *match_marker(const cd_sd *sd, const char *P)
{
    for (size_t i = 0; i < sizeof markers / sizeof *markers; i++) {
        if (findp(sd, P, "%s", markers[i].key) &&
            (!markers[i].also || findp(sd, P, "%s", markers[i].also)))
            return markers[i].name;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* LDM UNet walk (ComfyUI detect_unet_config). */

typedef struct tdepth {
    int depth, context_dim, use_linear, time_stack;
} tdepth;

/* calculate_transformer_depth: 1 when prefix has transformer blocks,
 * 0 when not, CD_MODEL_EFORMAT when the blocks lack their projections. */
static int transformer_depth(const cd_sd *sd, const char *prefix, tdepth *o)
{
    char tp[400];
    snprintf(tp, sizeof tp, "%s1.transformer_blocks.", prefix);
    if (cd_sd_count_prefix(sd, tp) == 0)
        return 0;
    o->depth = count_blocks_p(sd, tp, "%d");
    const cd_tensor *k = findp(sd, tp, "0.attn2.to_k.weight");
    const cd_tensor *pi = findp(sd, prefix, "1.proj_in.weight");
    if (!k || k->ndim < 2 || !pi)
        return CD_MODEL_EFORMAT;
    o->context_dim = (int)k->shape[1];
    o->use_linear = pi->ndim == 2;
    o->time_stack = findp(sd, prefix, "1.time_stack.0.attn1.to_q.weight") ||
                    findp(sd, prefix, "1.time_mix_blocks.0.attn1.to_q.weight");
    return 1;
}

static int push(int *arr, int *n, int v)
{
    if (*n >= CD_DETECT_MAX_BLOCKS)
        return CD_MODEL_EUNSUPPORTED;
    arr[(*n)++] = v;
    return 0;
}

/* Returns 1 when P holds an LDM UNet (config filled), 0 when it does not,
 * negative when it is malformed. */
static int ldm_unet_config(const cd_sd *sd, const char *P, cd_unet_config *c, char *err,
                           size_t errlen)
{
    memset(c, 0, sizeof *c);
    const cd_tensor *ib = findp(sd, P, "input_blocks.0.0.weight");
    if (!ib)
        return 0;
    if (ib->ndim != 4) {
        cd_model_set_err(err, errlen, "%sinput_blocks.0.0.weight is not a 4-d convolution weight",
                         P);
        return CD_MODEL_EFORMAT;
    }
    const cd_tensor *y = findp(sd, P, "label_emb.0.0.weight");
    if (y) {
        if (y->ndim != 2)
            goto malformed;
        c->adm_in_channels = (int)y->shape[1];
    }
    c->model_channels = (int)ib->shape[0];
    c->in_channels = (int)ib->shape[1];
    const cd_tensor *o = findp(sd, P, "out.2.weight");
    c->out_channels = o ? (int)o->shape[0] : 4;
    if (c->model_channels <= 0)
        goto malformed;

    int count = count_blocks_p(sd, P, "input_blocks.%d.");
    int last_res = 0, last_mult = 0, seen_ctx = 0;
    char pre[256], pre_out[256];
    for (int n = 0; n < count; n++) {
        tdepth td;
        int r;
        snprintf(pre, sizeof pre, "%sinput_blocks.%d.", P, n);
        snprintf(pre_out, sizeof pre_out, "%soutput_blocks.%d.", P, count - n - 1);
        if (cd_sd_count_prefix(sd, pre) == 0)
            break;
        if (findp(sd, pre, "0.op.weight")) {
            if (c->n_levels >= CD_DETECT_MAX_LEVELS)
                goto toolarge;
            c->num_res_blocks[c->n_levels] = last_res;
            c->channel_mult[c->n_levels] = last_mult;
            c->n_levels++;
            last_res = last_mult = 0;
            r = transformer_depth(sd, pre_out, &td);
            if (r < 0)
                goto malformed;
            if (push(c->transformer_depth_output, &c->n_transformer_depth_output,
                     r ? td.depth : 0) < 0)
                goto toolarge;
        } else {
            if (findp(sd, pre, "0.in_layers.0.weight")) {
                const cd_tensor *ol = findp(sd, pre, "0.out_layers.3.weight");
                if (!ol || ol->ndim < 1)
                    goto malformed;
                last_res++;
                last_mult = (int)(ol->shape[0] / c->model_channels);
                r = transformer_depth(sd, pre, &td);
                if (r < 0)
                    goto malformed;
                if (push(c->transformer_depth, &c->n_transformer_depth, r ? td.depth : 0) < 0)
                    goto toolarge;
                if (r && !seen_ctx) {
                    seen_ctx = 1;
                    c->context_dim = td.context_dim;
                    c->use_linear_in_transformer = td.use_linear;
                    c->use_temporal = td.time_stack;
                }
            }
            if (findp(sd, pre_out, "0.in_layers.0.weight")) {
                r = transformer_depth(sd, pre_out, &td);
                if (r < 0)
                    goto malformed;
                if (push(c->transformer_depth_output, &c->n_transformer_depth_output,
                         r ? td.depth : 0) < 0)
                    goto toolarge;
            }
        }
    }
    if (c->n_levels >= CD_DETECT_MAX_LEVELS)
        goto toolarge;
    c->num_res_blocks[c->n_levels] = last_res;
    c->channel_mult[c->n_levels] = last_mult;
    c->n_levels++;
    if (findp(sd, P, "middle_block.1.proj_in.weight"))
        c->transformer_depth_middle = count_blocks_p(sd, P, "middle_block.1.transformer_blocks.%d");
    else if (findp(sd, P, "middle_block.0.in_layers.0.weight"))
        c->transformer_depth_middle = -1;
    else
        c->transformer_depth_middle = -2;
    return 1;
malformed:
    cd_model_set_err(err, errlen, "UNet under '%s' is malformed (a block lacks expected weights)",
                     P);
    return CD_MODEL_EFORMAT;
toolarge:
    cd_model_set_err(err, errlen, "UNet under '%s' has more blocks than comfyd reads", P);
    return CD_MODEL_EUNSUPPORTED;
}

/* ------------------------------------------------------------------ */
/* Diffusers UNet read into the same config. */

static int diffusers_unet_config(const cd_sd *sd, const char *P, cd_unet_config *c,
                                 char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    const cd_tensor *ci = findp(sd, P, "conv_in.weight");
    if (!ci)
        return 0;
    if (ci->ndim != 4 || ci->shape[0] <= 0)
        goto malformed;
    c->model_channels = (int)ci->shape[0];
    c->in_channels = (int)ci->shape[1];
    const cd_tensor *co = findp(sd, P, "conv_out.weight");
    c->out_channels = co ? (int)co->shape[0] : 4;
    const cd_tensor *y = findp(sd, P, "add_embedding.linear_1.weight");
    if (!y)
        y = findp(sd, P, "class_embedding.linear_1.weight");
    if (y) {
        if (y->ndim != 2)
            goto malformed;
        c->adm_in_channels = (int)y->shape[1];
    }
    int levels = count_blocks_p(sd, P, "down_blocks.%d.");
    if (levels <= 0 || levels > CD_DETECT_MAX_LEVELS)
        goto malformed;
    c->n_levels = levels;
    int depth[CD_DETECT_MAX_LEVELS] = {0};
    char pre[256];
    for (int l = 0; l < levels; l++) {
        snprintf(pre, sizeof pre, "%sdown_blocks.%d.", P, l);
        c->num_res_blocks[l] = count_blocks_p(sd, pre, "resnets.%d.");
        const cd_tensor *c2 = findp(sd, pre, "resnets.0.conv2.weight");
        if (!c2)
            goto malformed;
        c->channel_mult[l] = (int)(c2->shape[0] / c->model_channels);
        if (findp(sd, pre, "attentions.0.proj_in.weight")) {
            depth[l] = count_blocks_p(sd, pre, "attentions.0.transformer_blocks.%d.");
            if (!c->context_dim) {
                const cd_tensor *k = findp(sd, pre, "attentions.0.transformer_blocks.0.attn2.to_k.weight");
                const cd_tensor *pi = findp(sd, pre, "attentions.0.proj_in.weight");
                if (!k || k->ndim != 2)
                    goto malformed;
                c->context_dim = (int)k->shape[1];
                c->use_linear_in_transformer = pi->ndim == 2;
            }
        }
        for (int r = 0; r < c->num_res_blocks[l]; r++)
            if (push(c->transformer_depth, &c->n_transformer_depth, depth[l]) < 0)
                goto malformed;
    }
    /* Output blocks in LDM order (deepest first), then reversed into the
     * input-walk order ComfyUI stores. */
    int outd[CD_DETECT_MAX_BLOCKS], no = 0;
    for (int x = 0; x < levels; x++) {
        int l = levels - 1 - x;
        int nb = c->num_res_blocks[l] + 1;
        snprintf(pre, sizeof pre, "%sup_blocks.%d.", P, x);
        int d = findp(sd, pre, "attentions.0.proj_in.weight")
                    ? count_blocks_p(sd, pre, "attentions.0.transformer_blocks.%d.")
                    : 0;
        for (int i = 0; i < nb; i++)
            if (push(outd, &no, d) < 0)
                goto malformed;
    }
    for (int i = no - 1; i >= 0; i--)
        c->transformer_depth_output[c->n_transformer_depth_output++] = outd[i];
    if (findp(sd, P, "mid_block.attentions.0.proj_in.weight"))
        c->transformer_depth_middle =
            count_blocks_p(sd, P, "mid_block.attentions.0.transformer_blocks.%d.");
    else if (findp(sd, P, "mid_block.resnets.0.conv1.weight"))
        c->transformer_depth_middle = -1;
    else
        c->transformer_depth_middle = -2;
    return 1;
malformed:
    cd_model_set_err(err, errlen, "diffusers UNet under '%s' is malformed", P);
    return CD_MODEL_EFORMAT;
}

/* ------------------------------------------------------------------ */
/* Matching against ComfyUI's supported-model list. */

static int depth_is(const cd_unet_config *c, const int *v, int n)
{
    if (c->n_transformer_depth != n)
        return 0;
    for (int i = 0; i < n; i++)
        if (c->transformer_depth[i] != v[i])
            return 0;
    return 1;
}

#define DEPTH_IS(c, ...) \
    depth_is(c, (const int[]){__VA_ARGS__}, (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int)))

/* Exact match in ComfyUI's order.  Sets family (or UNSUPPORTED + name). */
static void match_exact(const cd_sd *sd, const char *P, const cd_unet_config *c, cd_detect *d)
{
    int mc = c->model_channels, ctx = c->context_dim, adm = c->adm_in_channels;
    int lin = c->use_linear_in_transformer, temporal = c->use_temporal;
    d->family = CD_FAMILY_NONE;
    if (mc == 320 && lin && !temporal && adm == 4 && c->in_channels == 4) {
        d->family = CD_FAMILY_UNSUPPORTED, d->name = "Lotus-D";
    } else if (ctx == 768 && mc == 320 && !lin && !adm && !temporal && c->in_channels == 8 &&
               cd_sd_find(sd, "cc_projection.weight")) {
        d->family = CD_FAMILY_UNSUPPORTED, d->name = "Stable Zero123";
    } else if (ctx == 768 && mc == 320 && !lin && !adm && !temporal && c->in_channels == 8) {
        d->family = CD_FAMILY_UNSUPPORTED, d->name = "SD1.5 InstructPix2Pix";
    } else if (ctx == 768 && mc == 320 && !lin && !adm && !temporal) {
        d->family = CD_FAMILY_SD1;
    } else if (ctx == 1024 && mc == 320 && lin && !adm && !temporal) {
        d->family = CD_FAMILY_SD2;
    } else if (ctx == 1024 && mc == 320 && lin && (adm == 1536 || adm == 2048) && !temporal) {
        d->family = CD_FAMILY_UNSUPPORTED, d->name = "SD2.1 unCLIP";
    } else if (mc == 320 && lin && ctx == 2048 && adm == 2816 && !temporal &&
               c->in_channels == 8 && DEPTH_IS(c, 0, 0, 2, 2, 10, 10)) {
        d->family = CD_FAMILY_UNSUPPORTED, d->name = "SDXL InstructPix2Pix";
    } else if (mc == 384 && lin && ctx == 1280 && adm == 2560 && !temporal &&
               DEPTH_IS(c, 0, 0, 4, 4, 4, 4, 0, 0)) {
        d->family = CD_FAMILY_SDXL_REFINER;
    } else if (mc == 320 && lin && ctx == 2048 && adm == 2816 && !temporal &&
               DEPTH_IS(c, 0, 0, 2, 2, 10, 10)) {
        d->family = CD_FAMILY_SDXL;
    } else if (mc == 320 && lin && ctx == 2048 && adm == 2816 && !temporal &&
               (DEPTH_IS(c, 0, 0, 2, 2, 4, 4) || DEPTH_IS(c, 0, 2, 5) || DEPTH_IS(c, 0, 2, 6) ||
                DEPTH_IS(c, 0, 0, 1, 1, 2, 2))) {
        d->family = CD_FAMILY_UNSUPPORTED;
        d->name = DEPTH_IS(c, 0, 0, 2, 2, 4, 4) ? "SSD-1B"
                  : DEPTH_IS(c, 0, 0, 1, 1, 2, 2) ? "Segmind Vega"
                                                   : "KOALA";
    } else if (ctx == 1024 && mc == 256 && c->in_channels == 7 && lin && !adm) {
        d->family = CD_FAMILY_UNSUPPORTED, d->name = "SD x4 upscaler";
    } else if (temporal) {
        d->family = CD_FAMILY_UNSUPPORTED, d->name = "Stable Video Diffusion";
    }
    (void)P;
}

/* comfyd's reduced-width structural match (README.md, "reduced widths"). */
static void match_reduced(const cd_unet_config *c, cd_detect *d)
{
    int mc = c->model_channels, adm = c->adm_in_channels, lin = c->use_linear_in_transformer;
    const int *t = c->transformer_depth;
    if (mc >= 320 || c->use_temporal || !c->context_dim || (c->in_channels != 4 && c->in_channels != 9))
        return;
    if (!adm && c->n_levels == 4 && c->n_transformer_depth == 8 && t[0] > 0 && t[0] == t[1] &&
        t[1] == t[2] && t[2] == t[3] && t[3] == t[4] && t[4] == t[5] && !t[6] && !t[7]) {
        d->family = lin ? CD_FAMILY_SD2 : CD_FAMILY_SD1;
    } else if (adm && lin && c->n_levels == 3 && c->n_transformer_depth == 6 && !t[0] && !t[1] &&
               t[2] > 0 && t[2] == t[3] && t[4] > 0 && t[4] == t[5]) {
        d->family = CD_FAMILY_SDXL;
    } else if (adm && lin && c->n_levels == 4 && c->n_transformer_depth == 8 && !t[0] && !t[1] &&
               t[2] > 0 && t[2] == t[3] && t[3] == t[4] && t[4] == t[5] && !t[6] && !t[7]) {
        d->family = CD_FAMILY_SDXL_REFINER;
    }
    if (d->family != CD_FAMILY_NONE)
        d->reduced_width = 1;
}

/* Population standard deviation of a tensor (double accumulation). */
static int tensor_std(const cd_tensor *t, double *out)
{
    int64_t n = cd_tensor_numel(t);
    if (n <= 0 || n > (1 << 24) || !cd_dtype_is_float(t->dtype))
        return -1;
    float *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return -1;
    if (cd_tensor_to_f32(t, v, (size_t)n) < 0) {
        free(v);
        return -1;
    }
    double m = 0, s = 0;
    for (int64_t i = 0; i < n; i++)
        m += v[i];
    m /= (double)n;
    for (int64_t i = 0; i < n; i++)
        s += (v[i] - m) * (v[i] - m);
    free(v);
    *out = sqrt(s / (double)n);
    return 0;
}

static void set_heads(cd_detect *d)
{
    cd_unet_config *c = &d->unet;
    if (d->family == CD_FAMILY_SD1) {
        c->num_heads = 8;
        c->num_head_channels = -1;
    } else {
        c->num_heads = -1;
        c->num_head_channels = d->reduced_width ? CD_ARCH_SMALL_HEAD_CHANNELS : 64;
    }
}

static void prediction(const cd_sd *sd, const char *P, cd_detect *d)
{
    d->prediction = CD_PRED_EPS;
    if (d->family == CD_FAMILY_SD2 && d->unet.in_channels == 4) {
        const cd_tensor *t = d->diffusers
            ? findp(sd, P, "up_blocks.3.attentions.2.transformer_blocks.0.norm1.bias")
            : findp(sd, P, "output_blocks.11.1.transformer_blocks.0.norm1.bias");
        double s;
        if (t && tensor_std(t, &s) == 0 && s > 0.09)
            d->prediction = CD_PRED_V;
    } else if (d->family == CD_FAMILY_SDXL) {
        if (cd_sd_find(sd, "edm_mean") && cd_sd_find(sd, "edm_std"))
            d->prediction = CD_PRED_EDM;
        else if (cd_sd_find(sd, "edm_vpred.sigma_max"))
            d->prediction = CD_PRED_V_EDM;
        else if (cd_sd_find(sd, "v_pred")) {
            d->prediction = CD_PRED_V;
            d->zsnr = cd_sd_find(sd, "ztsnr") != NULL;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Text encoders and VAE inside a checkpoint. */

static void add_text(const cd_sd *sd, cd_detect *d, cd_text_kind kind, const char *prefix,
                     int openclip)
{
    const cd_tensor *emb;
    cd_text_encoder *t;
    if (d->n_text >= 3)
        return;
    if (openclip) {
        if (!findp(sd, prefix, "transformer.resblocks.0.ln_1.weight"))
            return;
        emb = findp(sd, prefix, "token_embedding.weight");
    } else {
        if (!findp(sd, prefix, "encoder.layers.0.mlp.fc1.weight"))
            return;
        emb = findp(sd, prefix, "embeddings.token_embedding.weight");
    }
    t = &d->text[d->n_text++];
    t->kind = kind;
    snprintf(t->prefix, sizeof t->prefix, "%s", prefix);
    t->openclip_layout = openclip;
    t->width = emb && emb->ndim == 2 ? (int)emb->shape[1] : 0;
    t->layers = openclip ? count_blocks_p(sd, prefix, "transformer.resblocks.%d.")
                         : count_blocks_p(sd, prefix, "encoder.layers.%d.");
    t->heads = t->width / (d->reduced_width ? CD_ARCH_SMALL_HEAD_CHANNELS : 64);
}

static void parts(const cd_sd *sd, cd_detect *d)
{
    if (cd_sd_find(sd, "first_stage_model.encoder.conv_in.weight") ||
        cd_sd_find(sd, "first_stage_model.decoder.conv_in.weight")) {
        d->has_vae = 1;
        snprintf(d->vae_prefix, sizeof d->vae_prefix, "first_stage_model.");
    }
    switch (d->family) {
    case CD_FAMILY_SD1:
        add_text(sd, d, CD_TEXT_CLIP_L, "cond_stage_model.transformer.text_model.", 0);
        if (!d->n_text) /* very old files lack "text_model." */
            add_text(sd, d, CD_TEXT_CLIP_L, "cond_stage_model.transformer.", 0);
        break;
    case CD_FAMILY_SD2:
        add_text(sd, d, CD_TEXT_CLIP_H, "cond_stage_model.model.", 1);
        if (!d->n_text)
            add_text(sd, d, CD_TEXT_CLIP_H, "conditioner.embedders.0.model.", 1);
        break;
    case CD_FAMILY_SDXL:
        add_text(sd, d, CD_TEXT_CLIP_L, "conditioner.embedders.0.transformer.text_model.", 0);
        add_text(sd, d, CD_TEXT_CLIP_G, "conditioner.embedders.1.model.", 1);
        break;
    case CD_FAMILY_SDXL_REFINER:
        add_text(sd, d, CD_TEXT_CLIP_G, "conditioner.embedders.0.model.", 1);
        break;
    default:
        break;
    }
}

/* unet_prefix_from_state_dict: each key counted once for the first
 * candidate it starts with; the most frequent wins with > 5 keys. */
static const char *unet_prefix(const cd_sd *sd)
{
    static const char *const cand[] = {"model.diffusion_model.", "model.model.", "net."};
    size_t best = 0, bestn = 0;
    for (size_t i = 0; i < 3; i++) {
        /* the candidates do not prefix one another, so per-prefix counts
         * equal first-match counts */
        size_t n = cd_sd_count_prefix(sd, cand[i]);
        if (n > bestn) {
            bestn = n;
            best = i;
        }
    }
    return bestn > 5 ? cand[best] : "model.";
}

int cd_detect_checkpoint(const cd_sd *sd, cd_detect *d, char *err, size_t errlen)
{
    const char *P = unet_prefix(sd);
    int r;
    memset(d, 0, sizeof *d);
    /* A bare diffusion-model file: the prefix has no keys, read from the top. */
    if (cd_sd_count_prefix(sd, P) == 0)
        P = "";
    snprintf(d->unet_prefix, sizeof d->unet_prefix, "%s", P);

    const char *other = match_marker(sd, P);
    if (other) {
        d->family = CD_FAMILY_UNSUPPORTED;
        d->name = other;
        parts(sd, d);
        return 0;
    }
    r = ldm_unet_config(sd, P, &d->unet, err, errlen);
    if (r == 0) {
        r = diffusers_unet_config(sd, P, &d->unet, err, errlen);
        d->diffusers = r > 0;
    }
    if (r < 0)
        return r;
    if (r == 0) {
        cd_model_set_err(err, errlen, "Could not detect model type: no diffusion model keys found "
                                      "(looked under '%s')", P);
        return CD_MODEL_ENOTFOUND;
    }
    match_exact(sd, P, &d->unet, d);
    if (d->family == CD_FAMILY_NONE)
        match_reduced(&d->unet, d);
    if (d->family == CD_FAMILY_NONE) {
        cd_model_set_err(err, errlen,
                         "Could not detect model type: LDM UNet with model_channels %d, "
                         "context_dim %d, adm_in_channels %d matches no supported model",
                         d->unet.model_channels, d->unet.context_dim, d->unet.adm_in_channels);
        return CD_MODEL_ENOTFOUND;
    }
    if (d->family == CD_FAMILY_UNSUPPORTED) {
        parts(sd, d);
        return 0;
    }
    d->name = cd_family_name(d->family);
    d->inpaint = d->unet.in_channels > 4;
    set_heads(d);
    prediction(sd, P, d);
    parts(sd, d);
    return 0;
}

const cd_arch *cd_detect_arch(const cd_detect *d)
{
    cd_arch_id id;
    switch (d->family) {
    case CD_FAMILY_SD1: id = CD_ARCH_SD15; break;
    case CD_FAMILY_SD2: id = CD_ARCH_SD21V; break;
    case CD_FAMILY_SDXL: id = CD_ARCH_SDXL; break;
    case CD_FAMILY_SDXL_REFINER: id = CD_ARCH_SDXL_REFINER; break;
    default: return NULL;
    }
    const cd_arch *a = cd_arch_get(id, d->reduced_width ? CD_WIDTH_SMALL : CD_WIDTH_FULL);
    const cd_unet_arch *u = &a->unet;
    if (d->unet.model_channels != u->model_channels || d->unet.context_dim != u->context_dim ||
        d->unet.adm_in_channels != u->adm_in_channels || d->unet.n_levels != u->n_levels)
        return NULL;
    for (int i = 0; i < d->n_text && i < a->n_clip; i++)
        if (d->text[i].width != a->clip[i].width)
            return NULL;
    return a;
}

/* ------------------------------------------------------------------ */
/* Standalone files. */

int cd_detect_text_encoder(const cd_sd *sd, cd_text_encoder *out, char *err, size_t errlen)
{
    static const char *const hf[] = {
        "text_model.", "cond_stage_model.transformer.text_model.",
        "conditioner.embedders.0.transformer.text_model.", "clip_l.transformer.text_model.",
        "clip_g.transformer.text_model.", "clip_h.transformer.text_model.",
    };
    static const char *const oc[] = {
        "", "model.", "cond_stage_model.model.", "conditioner.embedders.0.model.",
        "conditioner.embedders.1.model.",
    };
    cd_detect d;
    memset(&d, 0, sizeof d);
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sizeof hf / sizeof *hf && !d.n_text; i++)
        add_text(sd, &d, CD_TEXT_CLIP_L, hf[i], 0);
    for (size_t i = 0; i < sizeof oc / sizeof *oc && !d.n_text; i++)
        add_text(sd, &d, CD_TEXT_CLIP_L, oc[i], 1);
    if (!d.n_text) {
        cd_model_set_err(err, errlen,
                         "no CLIP text-encoder keys found (text_model.encoder.layers.N or "
                         "transformer.resblocks.N)");
        return CD_MODEL_ENOTFOUND;
    }
    *out = d.text[0];
    /* ComfyUI's classification by layer presence: 31+ layers bigG, 23+ H. */
    if (out->layers > 30)
        out->kind = CD_TEXT_CLIP_G;
    else if (out->layers > 22)
        out->kind = CD_TEXT_CLIP_H;
    else
        out->kind = CD_TEXT_CLIP_L;
    return 0;
}

int cd_detect_vae(const cd_sd *sd, char *prefix, size_t prefixlen, int *diffusers, char *err,
                  size_t errlen)
{
    static const char *const pre[] = {"", "first_stage_model.", "vae."};
    for (size_t i = 0; i < sizeof pre / sizeof *pre; i++) {
        if (findp(sd, pre[i], "encoder.down.0.block.0.conv1.weight") ||
            findp(sd, pre[i], "decoder.up.0.block.0.conv1.weight")) {
            snprintf(prefix, prefixlen, "%s", pre[i]);
            *diffusers = 0;
            return 0;
        }
        if (findp(sd, pre[i], "encoder.down_blocks.0.resnets.0.conv1.weight") ||
            findp(sd, pre[i], "decoder.up_blocks.0.resnets.0.conv1.weight")) {
            snprintf(prefix, prefixlen, "%s", pre[i]);
            *diffusers = 1;
            return 0;
        }
    }
    cd_model_set_err(err, errlen,
                     "no VAE keys found (encoder.down.N / decoder.up.N, LDM or diffusers)");
    return CD_MODEL_ENOTFOUND;
}
