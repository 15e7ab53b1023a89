/*
 * controlnet.c — the SD ControlNet (see controlnet.h): config from the
 * tensor shapes, the hint block and zero convs here, the trunk in unet.c.
 */
#include "controlnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "convert.h"
#include "nets_internal.h"
#include "unet.h"

#define N_HINT 8

struct cd_controlnet {
    cd_unet_config cfg;
    int hint_ch;
    int prec;
    cd_unet *trunk;             /* owned */
    nconv hint[N_HINT];
    int n_out;                  /* trunk input blocks + 1 */
    nlin zero[CD_DETECT_MAX_BLOCKS + 1];
    void **owned;               /* arrays of hint / zero (the store's) */
    size_t n_owned;
    uint64_t bytes;
};

static int fail(char *err, size_t errlen, int rc, const char *msg, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "%s%s", msg, what ? what : "");
    return rc;
}

/* Transformer depth of block `base` ("input_blocks.4.1"): the number of
 * transformer_blocks.N. */
static int st_depth(const cd_sd *sd, const char *P, const char *base)
{
    char fmt[256];
    snprintf(fmt, sizeof fmt, "%s%s.transformer_blocks.%%d.", P, base);
    return cd_sd_count_blocks(sd, fmt);
}

int cd_controlnet_detect(const cd_sd *sd, char *prefix, size_t prefixlen, cd_unet_config *cfg,
                         int *hint_channels, char *err, size_t errlen)
{
    const char *P;
    if (!sd || !cfg)
        return fail(err, errlen, COMFY_EINVAL, "no state dict", NULL);
    if (cd_sd_find(sd, "control_model.zero_convs.0.0.weight"))
        P = "control_model.";
    else if (cd_sd_find(sd, "zero_convs.0.0.weight"))
        P = "";
    else if (cd_sd_find(sd, "controlnet_cond_embedding.conv_in.weight"))
        return fail(err, errlen, COMFY_EINVAL,
                    "a diffusers-format ControlNet (load it with cd_controlnet_load)", NULL);
    else
        return fail(err, errlen, COMFY_EINVAL,
                    "error checkpoint does not contain controlnet data (no zero_convs.0.0.weight)",
                    NULL);
    memset(cfg, 0, sizeof *cfg);
    const cd_tensor *t = cd_sd_findf(sd, "%sinput_blocks.0.0.weight", P);
    const cd_tensor *hb = cd_sd_findf(sd, "%sinput_hint_block.0.weight", P);
    if (!t || t->ndim != 4 || !hb || hb->ndim != 4)
        return fail(err, errlen, COMFY_EINVAL, "ControlNet without input_blocks.0.0 / input_hint_block.0",
                    NULL);
    if (cd_sd_findf(sd, "%stask_embedding", P) || cd_sd_findf(sd, "%sinput_hint_block.0.bias", P) == NULL)
        return fail(err, errlen, COMFY_EINVAL, "unsupported ControlNet variant (union / no hint bias)",
                    NULL);
    cfg->model_channels = (int)t->shape[0];
    cfg->in_channels = (int)t->shape[1];
    cfg->out_channels = cfg->in_channels;
    *hint_channels = (int)hb->shape[1];
    const int mc = cfg->model_channels;
    if (mc <= 0)
        return fail(err, errlen, COMFY_EINVAL, "ControlNet: bad model_channels", NULL);

    /* walk the input blocks: ResBlocks (+ transformer) and downsamples */
    int level = 0, nres = 0, ch = mc;
    char base[64];
    for (int i = 1; i < CD_DETECT_MAX_BLOCKS; i++) {
        const cd_tensor *r = cd_sd_findf(sd, "%sinput_blocks.%d.0.out_layers.3.weight", P, i);
        const cd_tensor *d = cd_sd_findf(sd, "%sinput_blocks.%d.0.op.weight", P, i);
        if (r) {
            if (r->ndim != 4 || cfg->n_transformer_depth >= CD_DETECT_MAX_BLOCKS)
                return fail(err, errlen, COMFY_EINVAL, "ControlNet: bad ResBlock", NULL);
            ch = (int)r->shape[0];
            if (ch % mc)
                return fail(err, errlen, COMFY_EINVAL, "ControlNet: channels not a multiple", NULL);
            if (nres == 0)
                cfg->channel_mult[level] = ch / mc;
            else if (cfg->channel_mult[level] != ch / mc)
                return fail(err, errlen, COMFY_EINVAL, "ControlNet: channels change inside a level",
                            NULL);
            snprintf(base, sizeof base, "input_blocks.%d.1", i);
            cfg->transformer_depth[cfg->n_transformer_depth++] = st_depth(sd, P, base);
            nres++;
        } else if (d) {
            if (level + 1 >= CD_DETECT_MAX_LEVELS)
                return fail(err, errlen, COMFY_EINVAL, "ControlNet: too many levels", NULL);
            cfg->num_res_blocks[level] = nres;
            level++;
            nres = 0;
        } else {
            break;
        }
    }
    cfg->num_res_blocks[level] = nres;
    cfg->n_levels = level + 1;
    if (nres == 0)
        return fail(err, errlen, COMFY_EINVAL, "ControlNet: empty last level", NULL);
    /* the output side is not in the file; the config lists what the
     * matching UNet has (unused by the encoder trunk) */
    cfg->n_transformer_depth_output = 0;

    if (cd_sd_findf(sd, "%smiddle_block.1.transformer_blocks.0.norm1.weight", P))
        cfg->transformer_depth_middle = st_depth(sd, P, "middle_block.1");
    else if (cd_sd_findf(sd, "%smiddle_block.1.in_layers.0.weight", P))
        cfg->transformer_depth_middle = -1;
    else
        return fail(err, errlen, COMFY_EINVAL, "ControlNet without a middle block", NULL);

    /* context, linear proj_in, ADM */
    {
        const cd_tensor *k = NULL, *pin = NULL;
        for (int b = 0; b < CD_DETECT_MAX_BLOCKS && !k; b++) {
            k = cd_sd_findf(sd, "%sinput_blocks.%d.1.transformer_blocks.0.attn2.to_k.weight", P, b);
            pin = cd_sd_findf(sd, "%sinput_blocks.%d.1.proj_in.weight", P, b);
        }
        if (!k) {
            k = cd_sd_findf(sd, "%smiddle_block.1.transformer_blocks.0.attn2.to_k.weight", P);
            pin = cd_sd_findf(sd, "%smiddle_block.1.proj_in.weight", P);
        }
        if (k && k->ndim == 2 && pin) {
            cfg->context_dim = (int)k->shape[1];
            cfg->use_linear_in_transformer = pin->ndim == 2;
        }
    }
    const cd_tensor *le = cd_sd_findf(sd, "%slabel_emb.0.0.weight", P);
    cfg->adm_in_channels = le && le->ndim == 2 ? (int)le->shape[1] : 0;
    if (!cfg->use_linear_in_transformer) {
        cfg->num_heads = 8;
        cfg->num_head_channels = -1;
    } else {
        cfg->num_heads = -1;
        cfg->num_head_channels = mc < 320 ? CD_ARCH_SMALL_HEAD_CHANNELS : 64;
    }
    if (prefix && prefixlen)
        snprintf(prefix, prefixlen, "%s", P);
    return 0;
}

/* A diffusers ControlNetModel's tensors under the LDM names (ComfyUI's
 * unet_to_diffusers map plus the controlnet_* keys): tensors share the
 * source's data; names and array owned here. */
typedef struct renamed {
    cd_sd sd;
    cd_tensor *t;
    char *names;
} renamed;

enum { RN_LEN = 192 };

static void renamed_free(renamed *r)
{
    cd_sd_free(&r->sd);
    free(r->t);
    free(r->names);
    memset(r, 0, sizeof *r);
}

/* The LDM name of controlnet key `name` into out, or -1 (dropped). */
static int cn_key(const cd_unet_config *c, int n_hint, const char *name, char *out)
{
    static const char ce[] = "controlnet_cond_embedding.", cd[] = "controlnet_down_blocks.",
                      cm[] = "controlnet_mid_block.";
    char *end;
    if (strncmp(name, ce, sizeof ce - 1) == 0) {
        const char *r = name + sizeof ce - 1;
        if (strncmp(r, "conv_in.", 8) == 0)
            return snprintf(out, RN_LEN, "input_hint_block.0.%s", r + 8) < RN_LEN ? 0 : -1;
        if (strncmp(r, "conv_out.", 9) == 0)
            return snprintf(out, RN_LEN, "input_hint_block.%d.%s", 2 * (n_hint + 1), r + 9) <
                           RN_LEN ? 0 : -1;
        if (strncmp(r, "blocks.", 7) == 0) {
            long i = strtol(r + 7, &end, 10);
            if (end == r + 7 || *end != '.' || i < 0 || i > 64)
                return -1;
            return snprintf(out, RN_LEN, "input_hint_block.%ld.%s", 2 * (i + 1), end + 1) <
                           RN_LEN ? 0 : -1;
        }
        return -1;
    }
    if (strncmp(name, cd, sizeof cd - 1) == 0) {
        const char *r = name + sizeof cd - 1;
        long i = strtol(r, &end, 10);
        if (end == r || *end != '.' || i < 0 || i >= CD_DETECT_MAX_BLOCKS)
            return -1;
        return snprintf(out, RN_LEN, "zero_convs.%ld.0.%s", i, end + 1) < RN_LEN ? 0 : -1;
    }
    if (strncmp(name, cm, sizeof cm - 1) == 0)
        return snprintf(out, RN_LEN, "middle_block_out.0.%s", name + sizeof cm - 1) < RN_LEN
                   ? 0 : -1;
    if (strncmp(name, "controlnet_", 11) == 0 || strncmp(name, "control_add_", 12) == 0)
        return -1;
    return cd_convert_diffusers_unet_key(c, name, out, RN_LEN) < 0 ? -1 : 0;
}

static int rename_diffusers(const cd_sd *sd, renamed *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (cd_sd_find(sd, "control_add_embedding.linear_1.bias") || cd_sd_find(sd, "task_embedding"))
        return fail(err, errlen, COMFY_EINVAL,
                    "unsupported ControlNet variant (a union ControlNet)", NULL);
    /* what the key conversion needs: levels and ResNets per level */
    cd_unet_config c;
    memset(&c, 0, sizeof c);
    c.n_levels = cd_sd_count_blocks(sd, "down_blocks.%d.");
    if (c.n_levels <= 0 || c.n_levels > CD_DETECT_MAX_LEVELS)
        return fail(err, errlen, COMFY_EINVAL, "diffusers ControlNet without down_blocks", NULL);
    for (int l = 0; l < c.n_levels; l++) {
        char f[64];
        snprintf(f, sizeof f, "down_blocks.%d.resnets.%%d.", l);
        c.num_res_blocks[l] = cd_sd_count_blocks(sd, f);
    }
    int n_hint = cd_sd_count_blocks(sd, "controlnet_cond_embedding.blocks.%d.");
    r->t = calloc(sd->n ? sd->n : 1, sizeof *r->t);
    r->names = malloc((sd->n ? sd->n : 1) * RN_LEN);
    if (!r->t || !r->names) {
        renamed_free(r);
        return COMFY_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < sd->n; i++) {
        const cd_tensor *t = cd_sd_at(sd, i);
        char *dst = r->names + k * RN_LEN;
        if (cn_key(&c, n_hint, t->name, dst) < 0)
            continue;
        r->t[k] = *t;
        r->t[k].name = dst;
        k++;
    }
    if (cd_sd_init(&r->sd, r->t, k, err, errlen) < 0) {
        renamed_free(r);
        return COMFY_EINVAL;
    }
    return 0;
}

static int load_ldm(const cd_sd *sd, const cd_nets_load_opts *opts, cd_controlnet **out,
                    char *err, size_t errlen);

int cd_controlnet_load(const cd_sd *sd, const cd_nets_load_opts *opts, cd_controlnet **out,
                       char *err, size_t errlen)
{
    *out = NULL;
    if (!sd || !cd_sd_find(sd, "controlnet_cond_embedding.conv_in.weight"))
        return load_ldm(sd, opts, out, err, errlen);
    renamed r;
    int rc = rename_diffusers(sd, &r, err, errlen);
    if (rc < 0)
        return rc;
    rc = load_ldm(&r.sd, opts, out, err, errlen);
    renamed_free(&r);
    return rc;
}

static int load_ldm(const cd_sd *sd, const cd_nets_load_opts *opts, cd_controlnet **out,
                    char *err, size_t errlen)
{
    char P[32];
    cd_unet_config cfg;
    int hc = 0, rc;
    *out = NULL;
    if ((rc = cd_controlnet_detect(sd, P, sizeof P, &cfg, &hc, err, errlen)) < 0)
        return rc;
    cd_nets_load_opts o = {CD_NETS_WEIGHTS_F32, CK_PREC_F32};
    if (opts)
        o = *opts;
    cd_controlnet *cn = calloc(1, sizeof *cn);
    if (!cn)
        return COMFY_ENOMEM;
    cn->cfg = cfg;
    cn->hint_ch = hc;
    cn->prec = o.prec == CK_PREC_BF16 ? CK_PREC_BF16 : CK_PREC_F32;
    if ((rc = cd_unet_load_encoder(sd, P, &cfg, &o, &cn->trunk, err, errlen)) < 0)
        goto fail_nostore;
    nstore s;
    ns_init(&s, sd, P, o.weights == CD_NETS_WEIGHTS_BF16 ? CD_NETS_WEIGHTS_F32 : o.weights, err,
            errlen);
    static const int chans[N_HINT + 1] = {0, 16, 16, 32, 32, 96, 96, 256, -1};
    char b[64];
    for (int i = 0; i < N_HINT; i++) {
        int64_t cin = i == 0 ? hc : chans[i], cout = i == N_HINT - 1 ? cfg.model_channels : chans[i + 1];
        snprintf(b, sizeof b, "input_hint_block.%d", 2 * i);
        if ((rc = ns_conv(&s, b, &cn->hint[i], cin, cout, 3)) < 0)
            goto fail;
    }
    cd_unet_info info;
    cd_unet_get_info(cn->trunk, &info);
    cn->n_out = info.n_input_blocks + 1;
    for (int i = 0; i < cn->n_out; i++) {
        int64_t hw, ch;
        if ((rc = cd_unet_block_shape(cn->trunk, 8, 8, i, &hw, &ch)) < 0) {
            fail(err, errlen, rc, "ControlNet: no middle block", NULL);
            goto fail;
        }
        if (i < cn->n_out - 1)
            snprintf(b, sizeof b, "zero_convs.%d.0", i);
        else
            snprintf(b, sizeof b, "middle_block_out.0");
        if ((rc = ns_lin(&s, b, &cn->zero[i], ch, ch, 1)) < 0)
            goto fail;
    }
    if (cd_sd_findf(sd, "%szero_convs.%d.0.weight", P, cn->n_out - 1)) {
        rc = fail(err, errlen, COMFY_EINVAL, "ControlNet: more zero convs than input blocks", NULL);
        goto fail;
    }
    cn->owned = s.owned;
    cn->n_owned = s.n_owned;
    cn->bytes = s.bytes + info.weight_bytes;
    *out = cn;
    return 0;
fail:
    ns_release(s.owned, s.n_owned);
    cd_unet_free(cn->trunk);
fail_nostore:
    free(cn);
    return rc;
}

void cd_controlnet_free(cd_controlnet *cn)
{
    if (!cn)
        return;
    cd_unet_free(cn->trunk);
    ns_release(cn->owned, cn->n_owned);
    free(cn);
}

const cd_unet_config *cd_controlnet_config(const cd_controlnet *cn) { return &cn->cfg; }
int cd_controlnet_hint_channels(const cd_controlnet *cn) { return cn->hint_ch; }
int cd_controlnet_n_outputs(const cd_controlnet *cn) { return cn->n_out; }
uint64_t cd_controlnet_weight_bytes(const cd_controlnet *cn) { return cn->bytes; }

int cd_controlnet_block_shape(const cd_controlnet *cn, int64_t h, int64_t w, int i, int64_t *hw,
                              int64_t *ch)
{
    return cd_unet_block_shape(cn->trunk, h, w, i, hw, ch);
}

int cd_controlnet_forward(const cd_controlnet *cn, const cd_nets_run *run, const float *x,
                          int64_t B, int64_t h, int64_t w, const float *hint,
                          const float *timesteps, const float *context, int64_t T,
                          const float *y, float *const *outs)
{
    static const cd_nets_run quiet = {0};
    if (!run)
        run = &quiet;
    if (!cn || !x || !hint || !outs || B <= 0 || h <= 0 || w <= 0 || h > 4096 || w > 4096 ||
        B > 4096)
        return nr_fail(run, COMFY_EINVAL, "ControlNet forward: bad input");
    ck_pool *p = run->pool;
    nexec ex = {cn->prec, NULL, 0};
    const int64_t H8 = 8 * h, W8 = 8 * w;
    /* scratch: two hint buffers of the largest hint activation, then the
     * trunk outputs before their zero convs */
    int64_t hbig = B * H8 * W8 * (cn->hint_ch > 16 ? cn->hint_ch : 16);
    if (hbig < B * h * w * cn->cfg.model_channels)
        hbig = B * h * w * cn->cfg.model_channels;
    int64_t tot = 0, offs[CD_DETECT_MAX_BLOCKS + 2];
    for (int i = 0; i < cn->n_out; i++) {
        int64_t hw, ch;
        if (cd_unet_block_shape(cn->trunk, h, w, i, &hw, &ch) < 0)
            return nr_fail(run, COMFY_EINVAL, "ControlNet forward: bad size");
        offs[i] = tot;
        tot += (B * hw * ch + 15) / 16 * 16;
    }
    float *mem = malloc((size_t)(2 * hbig + tot) * sizeof *mem);
    if (!mem)
        return nr_fail(run, COMFY_ENOMEM, "ControlNet forward: out of memory");
    float *ha = mem, *hb2 = mem + hbig, *trunk = mem + 2 * hbig;
    int rc = 0;
    /* hint block */
    ck_nchw_to_nhwc(p, hint, ha, B, cn->hint_ch, H8 * W8);
    int64_t ch = H8, cw = W8;
    for (int i = 0; i < N_HINT; i++) {
        const int64_t s = (i == 2 || i == 4 || i == 6) ? 2 : 1;
        const int64_t oh = (ch - 1) / s + 1, ow = (cw - 1) / s + 1;
        if ((rc = nc_apply(p, &cn->hint[i], ha, B, ch, cw, s, 1, hb2, &ex)) < 0)
            goto out;
        ch = oh;
        cw = ow;
        if (i < N_HINT - 1 &&
            (rc = ck_activation(p, CK_ACT_SILU, hb2, hb2, B * oh * ow * cn->hint[i].cout)) < 0)
            goto out;
        float *t = ha; ha = hb2; hb2 = t;
    }
    if (ch != h || cw != w) {
        rc = nr_fail(run, COMFY_EINVAL, "ControlNet forward: hint does not reduce to the latent size");
        goto out;
    }
    float *tp[CD_DETECT_MAX_BLOCKS + 1];
    for (int i = 0; i < cn->n_out; i++)
        tp[i] = trunk + offs[i];
    if ((rc = cd_unet_encode(cn->trunk, run, x, B, h, w, timesteps, context, T, y, ha, tp)) < 0)
        goto out;
    for (int i = 0; i < cn->n_out; i++) {
        int64_t hw, cc;
        cd_unet_block_shape(cn->trunk, h, w, i, &hw, &cc);
        if ((rc = nl_apply(p, &cn->zero[i], tp[i], B * hw, outs[i], &ex)) < 0)
            goto out;
    }
    rc = 0;
out:
    if (rc < 0 && run->err && run->errlen && !run->err[0])
        nr_fail(run, rc, "ControlNet forward failed (status %d)", rc);
    free(mem);
    return rc;
}
