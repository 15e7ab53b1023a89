/*
 * clip_text_model.c — CLIP text transformers and encode_token_weights (see
 * clip_text_model.h).
 */
#include "clip_text_model.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>

#include "tensor.h"

/* ---- model memory ------------------------------------------------------- */

void cd_clip_text_model_free(cd_clip_text_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->layer);
    free(m);
}

/* A zeroed array of n floats owned by m, or NULL. */
static float *own(cd_clip_text_model *m, int64_t n)
{
    float *p = calloc((size_t)n, sizeof *p);
    if (!p)
        return NULL;
    m->owned[m->n_owned++] = p;
    return p;
}

int cd_clip_text_model_new(const cd_clip_text_config *c, cd_clip_text_model **out)
{
    *out = NULL;
    if (c->width <= 0 || c->layers <= 0 || c->heads <= 0 || c->width % c->heads ||
        c->mlp <= 0 || c->vocab <= 0 || c->positions < CD_CLIP_WINDOW || c->layers > 256 ||
        c->width > 16384 || c->mlp > 65536 || c->vocab > (1 << 20))
        return COMFY_EINVAL;
    cd_clip_text_model *m = calloc(1, sizeof *m);
    if (!m)
        return COMFY_ENOMEM;
    m->cfg = *c;
    size_t max_owned = 6 + 14 * (size_t)c->layers;
    m->owned = calloc(max_owned, sizeof *m->owned);
    m->layer = calloc((size_t)c->layers, sizeof *m->layer);
    if (!m->owned || !m->layer)
        goto fail;
    const int64_t W = c->width, F = c->mlp;
    if (!(m->tok_emb = own(m, c->vocab * W)) || !(m->pos_emb = own(m, c->positions * W)) ||
        !(m->final_w = own(m, W)) || !(m->final_b = own(m, W)))
        goto fail;
    if (c->has_projection && !(m->proj = own(m, W * W)))
        goto fail;
    for (int64_t l = 0; l < c->layers; l++) {
        cd_clip_text_layer *L = &m->layer[l];
        if (!(L->ln1_w = own(m, W)) || !(L->ln1_b = own(m, W)) || !(L->qkv_w = own(m, 3 * W * W)) ||
            !(L->qkv_b = own(m, 3 * W)) || !(L->o_w = own(m, W * W)) ||
            !(L->o_b = own(m, W)) || !(L->ln2_w = own(m, W)) || !(L->ln2_b = own(m, W)) ||
            !(L->fc1_w = own(m, F * W)) || !(L->fc1_b = own(m, F)) ||
            !(L->fc2_w = own(m, W * F)) || !(L->fc2_b = own(m, W)))
            goto fail;
        L->q_w = L->qkv_w;
        L->k_w = L->qkv_w + W * W;
        L->v_w = L->qkv_w + 2 * W * W;
        L->q_b = L->qkv_b;
        L->k_b = L->qkv_b + W;
        L->v_b = L->qkv_b + 2 * W;
    }
    *out = m;
    return 0;
fail:
    cd_clip_text_model_free(m);
    return COMFY_ENOMEM;
}

/* ---- loading ------------------------------------------------------------ */

typedef struct loadctx {
    const cd_sd *sd;
    const char *prefix;
    char *err;
    size_t errlen;
} loadctx;

static const cd_tensor *find(loadctx *c, const char *name)
{
    const cd_tensor *t = cd_sd_findf(c->sd, "%s%s", c->prefix, name);
    if (!t)
        snprintf(c->err, c->errlen, "missing tensor %s%s", c->prefix, name);
    return t;
}

/* Copies tensor `name` (numel == n, any float dtype) into dst, starting
 * at element `skip`. */
static int copy(loadctx *c, const char *name, float *dst, int64_t n, int64_t skip)
{
    const cd_tensor *t = find(c, name);
    if (!t)
        return COMFY_ENOENT;
    int64_t numel = cd_tensor_numel(t);
    if (numel < skip + n || !cd_dtype_is_float(t->dtype)) {
        snprintf(c->err, c->errlen, "tensor %s%s has the wrong size or type", c->prefix, name);
        return COMFY_EINVAL;
    }
    float *tmp = malloc((size_t)numel * sizeof *tmp);
    if (!tmp)
        return COMFY_ENOMEM;
    int rc = cd_tensor_to_f32(t, tmp, (size_t)numel);
    if (rc == 0)
        memcpy(dst, tmp + skip, (size_t)n * sizeof *dst);
    free(tmp);
    if (rc < 0) {
        snprintf(c->err, c->errlen, "cannot convert %s%s", c->prefix, name);
        return COMFY_EINVAL;
    }
    return 0;
}

static int copyf(loadctx *c, float *dst, int64_t n, int64_t skip, const char *fmt, int64_t i,
                 const char *leaf)
{
    char name[256];
    snprintf(name, sizeof name, fmt, (int)i, leaf);
    return copy(c, name, dst, n, skip);
}

int cd_clip_text_model_load(const cd_sd *sd, const char *prefix, int names, int act,
                            int64_t heads, cd_clip_text_model **out, char *err, size_t errlen)
{
    char dummy[8];
    loadctx c = {sd, prefix, err ? err : dummy, err ? errlen : sizeof dummy};
    cd_clip_text_model *m = NULL;
    int rc;
    const int oc = names == CD_CLIP_NAMES_OPENCLIP;
    *out = NULL;
    c.err[0] = 0;

    const char *tok_name = oc ? "token_embedding.weight" : "embeddings.token_embedding.weight";
    const char *pos_name = oc ? "positional_embedding" : "embeddings.position_embedding.weight";
    const char *layer_fmt = oc ? "transformer.resblocks.%d.%s" : "encoder.layers.%d.%s";
    const char *fc1_name = oc ? "mlp.c_fc.weight" : "mlp.fc1.weight";
    const cd_tensor *te = find(&c, tok_name), *pe = find(&c, pos_name);
    if (!te || !pe)
        return COMFY_ENOENT;
    char blocks[512];
    snprintf(blocks, sizeof blocks, "%s%s", prefix, oc ? "transformer.resblocks.%d." : "encoder.layers.%d.");
    cd_clip_text_config cfg = {0};
    cfg.act = act;
    cfg.layers = cd_sd_count_blocks(sd, blocks);
    if (te->ndim != 2 || pe->ndim != 2 || te->shape[1] != pe->shape[1] || cfg.layers <= 0) {
        snprintf(c.err, c.errlen, "unexpected text encoder embedding shapes under %s", prefix);
        return COMFY_EINVAL;
    }
    cfg.vocab = te->shape[0];
    cfg.width = te->shape[1];
    cfg.positions = pe->shape[0];
    cfg.heads = heads > 0 ? heads : cfg.width / 64 > 0 ? cfg.width / 64 : 1;
    char n0[256];
    snprintf(n0, sizeof n0, layer_fmt, 0, fc1_name);
    const cd_tensor *fc1 = find(&c, n0);
    if (!fc1)
        return COMFY_ENOENT;
    if (fc1->ndim != 2 || fc1->shape[1] != cfg.width) {
        snprintf(c.err, c.errlen, "unexpected shape of %s%s", prefix, n0);
        return COMFY_EINVAL;
    }
    cfg.mlp = fc1->shape[0];
    /* HF: text_projection.weight sits beside text_model. */
    char proj_name[512];
    size_t plen = strlen(prefix);
    if (oc)
        snprintf(proj_name, sizeof proj_name, "%stext_projection", prefix);
    else if (plen >= 11 && strcmp(prefix + plen - 11, "text_model.") == 0)
        snprintf(proj_name, sizeof proj_name, "%.*stext_projection.weight", (int)(plen - 11), prefix);
    else
        snprintf(proj_name, sizeof proj_name, "%stext_projection.weight", prefix);
    cfg.has_projection = cd_sd_find(sd, proj_name) != NULL;
    if ((rc = cd_clip_text_model_new(&cfg, &m)) < 0) {
        snprintf(c.err, c.errlen, "bad text encoder shape under %s", prefix);
        return rc;
    }
    const int64_t W = cfg.width, F = cfg.mlp;
    if ((rc = copy(&c, tok_name, m->tok_emb, cfg.vocab * W, 0)) < 0 ||
        (rc = copy(&c, pos_name, m->pos_emb, cfg.positions * W, 0)) < 0 ||
        (rc = copy(&c, oc ? "ln_final.weight" : "final_layer_norm.weight", m->final_w, W, 0)) < 0 ||
        (rc = copy(&c, oc ? "ln_final.bias" : "final_layer_norm.bias", m->final_b, W, 0)) < 0)
        goto fail;
    if (cfg.has_projection) {
        loadctx pc = {sd, "", c.err, c.errlen};
        if ((rc = copy(&pc, proj_name, m->proj, W * W, 0)) < 0)
            goto fail;
        if (oc) { /* x · P: the Linear weight is Pᵀ */
            for (int64_t i = 0; i < W; i++)
                for (int64_t j = i + 1; j < W; j++) {
                    float t = m->proj[i * W + j];
                    m->proj[i * W + j] = m->proj[j * W + i];
                    m->proj[j * W + i] = t;
                }
        }
    }
    for (int64_t l = 0; l < cfg.layers; l++) {
        cd_clip_text_layer *L = &m->layer[l];
        if (oc) {
            if ((rc = copyf(&c, L->q_w, W * W, 0, layer_fmt, l, "attn.in_proj_weight")) < 0 ||
                (rc = copyf(&c, L->k_w, W * W, W * W, layer_fmt, l, "attn.in_proj_weight")) < 0 ||
                (rc = copyf(&c, L->v_w, W * W, 2 * W * W, layer_fmt, l, "attn.in_proj_weight")) < 0 ||
                (rc = copyf(&c, L->q_b, W, 0, layer_fmt, l, "attn.in_proj_bias")) < 0 ||
                (rc = copyf(&c, L->k_b, W, W, layer_fmt, l, "attn.in_proj_bias")) < 0 ||
                (rc = copyf(&c, L->v_b, W, 2 * W, layer_fmt, l, "attn.in_proj_bias")) < 0 ||
                (rc = copyf(&c, L->o_w, W * W, 0, layer_fmt, l, "attn.out_proj.weight")) < 0 ||
                (rc = copyf(&c, L->o_b, W, 0, layer_fmt, l, "attn.out_proj.bias")) < 0 ||
                (rc = copyf(&c, L->ln1_w, W, 0, layer_fmt, l, "ln_1.weight")) < 0 ||
                (rc = copyf(&c, L->ln1_b, W, 0, layer_fmt, l, "ln_1.bias")) < 0 ||
                (rc = copyf(&c, L->ln2_w, W, 0, layer_fmt, l, "ln_2.weight")) < 0 ||
                (rc = copyf(&c, L->ln2_b, W, 0, layer_fmt, l, "ln_2.bias")) < 0 ||
                (rc = copyf(&c, L->fc1_w, F * W, 0, layer_fmt, l, "mlp.c_fc.weight")) < 0 ||
                (rc = copyf(&c, L->fc1_b, F, 0, layer_fmt, l, "mlp.c_fc.bias")) < 0 ||
                (rc = copyf(&c, L->fc2_w, W * F, 0, layer_fmt, l, "mlp.c_proj.weight")) < 0 ||
                (rc = copyf(&c, L->fc2_b, W, 0, layer_fmt, l, "mlp.c_proj.bias")) < 0)
                goto fail;
        } else {
            if ((rc = copyf(&c, L->q_w, W * W, 0, layer_fmt, l, "self_attn.q_proj.weight")) < 0 ||
                (rc = copyf(&c, L->k_w, W * W, 0, layer_fmt, l, "self_attn.k_proj.weight")) < 0 ||
                (rc = copyf(&c, L->v_w, W * W, 0, layer_fmt, l, "self_attn.v_proj.weight")) < 0 ||
                (rc = copyf(&c, L->q_b, W, 0, layer_fmt, l, "self_attn.q_proj.bias")) < 0 ||
                (rc = copyf(&c, L->k_b, W, 0, layer_fmt, l, "self_attn.k_proj.bias")) < 0 ||
                (rc = copyf(&c, L->v_b, W, 0, layer_fmt, l, "self_attn.v_proj.bias")) < 0 ||
                (rc = copyf(&c, L->o_w, W * W, 0, layer_fmt, l, "self_attn.out_proj.weight")) < 0 ||
                (rc = copyf(&c, L->o_b, W, 0, layer_fmt, l, "self_attn.out_proj.bias")) < 0 ||
                (rc = copyf(&c, L->ln1_w, W, 0, layer_fmt, l, "layer_norm1.weight")) < 0 ||
                (rc = copyf(&c, L->ln1_b, W, 0, layer_fmt, l, "layer_norm1.bias")) < 0 ||
                (rc = copyf(&c, L->ln2_w, W, 0, layer_fmt, l, "layer_norm2.weight")) < 0 ||
                (rc = copyf(&c, L->ln2_b, W, 0, layer_fmt, l, "layer_norm2.bias")) < 0 ||
                (rc = copyf(&c, L->fc1_w, F * W, 0, layer_fmt, l, "mlp.fc1.weight")) < 0 ||
                (rc = copyf(&c, L->fc1_b, F, 0, layer_fmt, l, "mlp.fc1.bias")) < 0 ||
                (rc = copyf(&c, L->fc2_w, W * F, 0, layer_fmt, l, "mlp.fc2.weight")) < 0 ||
                (rc = copyf(&c, L->fc2_b, W, 0, layer_fmt, l, "mlp.fc2.bias")) < 0)
                goto fail;
        }
    }
    *out = m;
    return 0;
fail:
    cd_clip_text_model_free(m);
    return rc;
}

/* ---- options ------------------------------------------------------------ */

int cd_clip_encode_opts_preset(cd_clip_encode_opts *o, const char *which)
{
    memset(o, 0, sizeof *o);
    o->start_token = CD_CLIP_TOKEN_START;
    o->end_token = CD_CLIP_TOKEN_END;
    o->pad_token = 0;
    o->norm_hidden = 1;
    if (strcmp(which, "sd1") == 0) {
        o->last = 1;
        o->pad_token = CD_CLIP_TOKEN_END;
    } else if (strcmp(which, "sd2") == 0) {
        o->layer_idx = -2;
        o->projected_pooled = 1;
    } else if (strcmp(which, "sdxl_l") == 0) {
        o->layer_idx = -2;
        o->norm_hidden = 0;
        o->pad_token = CD_CLIP_TOKEN_END;
        o->projected_pooled = 1;
    } else if (strcmp(which, "sdxl_g") == 0) {
        o->layer_idx = -2;
        o->norm_hidden = 0;
        o->projected_pooled = 1;
    } else {
        return COMFY_EINVAL;
    }
    return 0;
}

void cd_clip_encode_opts_set_layer(cd_clip_encode_opts *o, int64_t layers, int k)
{
    if ((int64_t)abs(k) > layers) {
        o->last = 1;
    } else {
        o->last = 0;
        o->layer_idx = k;
    }
}

/* ---- forward ------------------------------------------------------------ */

/* Causal self-attention of B windows of T positions, H heads of D = W/H:
 * o = softmax(q·kᵀ/√D + mask)·v per window and head, where the mask
 * (ComfyUI adds -FLT_MAX above the diagonal, which softmax turns into
 * exact zeros) is applied by leaving those keys out.  One pool task per
 * (window, head); each row's scores live in per-task stack scratch. */
typedef struct attn_job {
    int64_t T, W, H, D;
    float scale;
    const float *qkv; /* [B*T, 3W]: q, k, v side by side */
    float *o;         /* [B*T, W] */
} attn_job;

static void attn_task(void *arg, int64_t task, int thread)
{
    (void)thread;
    const attn_job *a = arg;
    const int64_t T = a->T, W = a->W, D = a->D, ld = 3 * W;
    const int64_t b = task / a->H, h = task % a->H;
    const float *q = a->qkv + (size_t)(b * T * ld + h * D), *k = q + W, *v = q + 2 * W;
    float *o = a->o + (size_t)(b * T * W + h * D);
    float s[CD_CLIP_WINDOW];
    for (int64_t i = 0; i < T; i++) {
        const float *qi = q + (size_t)(i * ld);
        float mx = -FLT_MAX;
        for (int64_t j = 0; j <= i; j++) {
            const float *kj = k + (size_t)(j * ld);
            float dot = 0;
            for (int64_t d = 0; d < D; d++)
                dot += qi[d] * kj[d];
            s[j] = dot * a->scale;
            if (s[j] > mx)
                mx = s[j];
        }
        float sum = 0;
        for (int64_t j = 0; j <= i; j++) {
            s[j] = expf(s[j] - mx);
            sum += s[j];
        }
        float inv = 1.0f / sum;
        float *oi = o + (size_t)(i * W);
        for (int64_t d = 0; d < D; d++)
            oi[d] = 0;
        for (int64_t j = 0; j <= i; j++) {
            const float *vj = v + (size_t)(j * ld);
            const float pj = s[j] * inv;
            for (int64_t d = 0; d < D; d++)
                oi[d] += pj * vj[d];
        }
    }
}

static int causal_attention(ck_pool *p, int64_t B, int64_t T, int64_t W, int64_t H,
                            const float *qkv, float *o)
{
    if (T > CD_CLIP_WINDOW || W % H)
        return COMFY_EINVAL;
    attn_job a = {T, W, H, W / H, 1.0f / sqrtf((float)(W / H)), qkv, o};
    ck_pool_run(p, B * H, attn_task, &a);
    return 0;
}

int cd_clip_text_forward(ck_pool *p, const cd_clip_text_model *m, const cd_clip_encode_opts *o,
                         const cd_clip_tw *win, size_t n, float *z, float *pooled)
{
    const cd_clip_text_config *c = &m->cfg;
    const int64_t T = CD_CLIP_WINDOW, W = c->width, F = c->mlp, B = (int64_t)n;
    const int64_t BT = B * T;
    int rc = COMFY_ENOMEM;
    float *x = NULL, *h = NULL, *qkv = NULL, *a = NULL, *mlp = NULL;
    float *inter = NULL;
    int64_t *pool_at = NULL;
    if (n == 0 || n > CD_PROMPT_MAX_CHUNKS + 1)
        return COMFY_EINVAL;
    int64_t want = -1; /* layer whose output is kept (0-based), -1: last */
    if (!o->last) {
        want = o->layer_idx < 0 ? c->layers + o->layer_idx : o->layer_idx;
        if (want < 0 || want >= c->layers)
            return COMFY_EINVAL;
    }
    size_t bw = (size_t)BT * (size_t)W;
    x = malloc(bw * sizeof *x);
    h = malloc(bw * sizeof *h);
    qkv = malloc(3 * bw * sizeof *qkv);
    a = malloc(bw * sizeof *a);
    mlp = malloc((size_t)BT * (size_t)F * sizeof *mlp);
    pool_at = malloc((size_t)B * sizeof *pool_at);
    if (want >= 0)
        inter = malloc(bw * sizeof *inter);
    if (!x || !h || !qkv || !a || !mlp || !pool_at || (want >= 0 && !inter))
        goto out;

    if (o->pad_token < 0 || o->pad_token >= c->vocab) {
        rc = COMFY_EINVAL;
        goto out;
    }
    /* Embeddings, as process_tokens: token rows, embedding rows of the
     * model's width in place, mismatched rows dropped and pad rows added at
     * the end; the pooled position is the attention-mask count - 1. */
    rc = COMFY_EINVAL;
    for (int64_t b = 0; b < B; b++) {
        const cd_clip_tw *w = win + b * T;
        int64_t t = 0, pad_extra = 0, mask_sum = 0;
        int eos = 0;
        for (int64_t j = 0; j < T; j++) {
            float *row = x + (b * T + t) * W;
            if (w[j].token >= 0) {
                if (w[j].token >= c->vocab)
                    goto out;
                memcpy(row, m->tok_emb + (int64_t)w[j].token * W, (size_t)W * sizeof *row);
                if (!eos)
                    mask_sum++;
                if (!eos && w[j].token == o->end_token)
                    eos = 1;
                t++;
            } else if (w[j].embed && (int64_t)w[j].width == W) {
                memcpy(row, w[j].embed, (size_t)W * sizeof *row);
                mask_sum++;
                t++;
            } else {
                pad_extra++;
            }
        }
        for (; t < T; t++)
            memcpy(x + (b * T + t) * W, m->tok_emb + (int64_t)o->pad_token * W, (size_t)W * sizeof *x);
        (void)pad_extra;
        pool_at[b] = mask_sum > 0 ? mask_sum - 1 : 0;
        for (int64_t j = 0; j < T; j++)
            for (int64_t e = 0; e < W; e++)
                x[(b * T + j) * W + e] += m->pos_emb[j * W + e];
    }
    for (int64_t l = 0; l < c->layers; l++) {
        const cd_clip_text_layer *L = &m->layer[l];
        if ((rc = ck_layer_norm(p, x, h, BT, W, L->ln1_w, L->ln1_b, 1e-5f)) < 0 ||
            (rc = ck_linear(p, h, BT, W, L->qkv_w, COMFY_F32, 3 * W, L->qkv_b, qkv, CK_PREC_F32)) < 0 ||
            (rc = causal_attention(p, B, T, W, c->heads, qkv, a)) < 0 ||
            (rc = ck_linear(p, a, BT, W, L->o_w, COMFY_F32, W, L->o_b, h, CK_PREC_F32)) < 0)
            goto out;
        for (size_t i = 0; i < bw; i++)
            x[i] += h[i];
        if ((rc = ck_layer_norm(p, x, h, BT, W, L->ln2_w, L->ln2_b, 1e-5f)) < 0 ||
            (rc = ck_linear(p, h, BT, W, L->fc1_w, COMFY_F32, F, L->fc1_b, mlp, CK_PREC_F32)) < 0 ||
            (rc = ck_activation(p, c->act == CD_CLIP_ACT_GELU ? CK_ACT_GELU : CK_ACT_QUICK_GELU, mlp,
                                mlp, BT * F)) < 0 ||
            (rc = ck_linear(p, mlp, BT, F, L->fc2_w, COMFY_F32, W, L->fc2_b, h, CK_PREC_F32)) < 0)
            goto out;
        for (size_t i = 0; i < bw; i++)
            x[i] += h[i];
        if (l == want)
            memcpy(inter, x, bw * sizeof *x);
    }
    /* x becomes the final-normed last layer. */
    if ((rc = ck_layer_norm(p, x, x, BT, W, m->final_w, m->final_b, 1e-5f)) < 0)
        goto out;
    if (want < 0) {
        memcpy(z, x, bw * sizeof *z);
    } else if (o->norm_hidden) {
        if ((rc = ck_layer_norm(p, inter, z, BT, W, m->final_w, m->final_b, 1e-5f)) < 0)
            goto out;
    } else {
        memcpy(z, inter, bw * sizeof *z);
    }
    if (pooled) {
        for (int64_t b = 0; b < B; b++)
            memcpy(h + b * W, x + (b * T + pool_at[b]) * W, (size_t)W * sizeof *h);
        if (o->projected_pooled && m->proj)
            rc = ck_linear(p, h, B, W, m->proj, COMFY_F32, W, NULL, pooled, CK_PREC_F32);
        else
            memcpy(pooled, h, (size_t)(B * W) * sizeof *pooled);
        if (rc < 0)
            goto out;
    }
    rc = 0;
out:
    free(x);
    free(h);
    free(qkv);
    free(a);
    free(mlp);
    free(inter);
    free(pool_at);
    return rc;
}

int cd_clip_encode_token_weights(ck_pool *p, const cd_clip_text_model *m,
                                 const cd_clip_encode_opts *o, const cd_clip_tw_list *tw,
                                 float **cond, float *pooled)
{
    const int64_t T = CD_CLIP_WINDOW, W = m->cfg.width;
    const size_t n = tw->n_chunks;
    int has_weights = 0;
    *cond = NULL;
    if (n == 0)
        return COMFY_EINVAL;
    for (size_t i = 0; i < n * (size_t)T; i++)
        if (tw->v[i].weight != 1.0)
            has_weights = 1;
    size_t total = n + (has_weights ? 1 : 0);
    int rc = COMFY_ENOMEM;
    cd_clip_tw *win = malloc(total * (size_t)T * sizeof *win);
    float *z = malloc(total * (size_t)(T * W) * sizeof *z);
    float *pl = malloc(total * (size_t)W * sizeof *pl);
    if (!win || !z || !pl)
        goto out;
    memcpy(win, tw->v, n * (size_t)T * sizeof *win);
    if (has_weights) { /* the empty prompt: start, end, pad... */
        cd_clip_tw *e = win + n * (size_t)T;
        for (int64_t j = 0; j < T; j++)
            e[j] = (cd_clip_tw){j == 0 ? o->start_token : j == 1 ? o->end_token : o->pad_token, 0,
                                NULL, 1.0};
    }
    if ((rc = cd_clip_text_forward(p, m, o, win, total, z, pl)) < 0)
        goto out;
    if (has_weights) {
        const float *e = z + n * (size_t)(T * W);
        for (size_t k = 0; k < n; k++)
            for (int64_t j = 0; j < T; j++) {
                double w = tw->v[k * (size_t)T + (size_t)j].weight;
                if (w == 1.0)
                    continue;
                float wf = (float)w; /* a Python float meets a float32 tensor */
                float *zz = z + (k * (size_t)T + (size_t)j) * (size_t)W;
                for (int64_t d = 0; d < W; d++)
                    zz[d] = (zz[d] - e[j * W + d]) * wf + e[j * W + d];
            }
    }
    memcpy(pooled, pl, (size_t)W * sizeof *pooled);
    *cond = z;
    z = NULL;
    rc = 0;
out:
    free(win);
    free(z);
    free(pl);
    return rc;
}

int cd_clip_sdxl_concat(const float *l, int64_t rows_l, int64_t wl, const float *g, int64_t rows_g,
                        int64_t wg, float **out, int64_t *rows)
{
    *out = NULL;
    *rows = 0;
    if (rows_l <= 0 || rows_g <= 0 || wl <= 0 || wg <= 0)
        return COMFY_EINVAL;
    int64_t t = rows_l < rows_g ? rows_l : rows_g;
    float *y = malloc((size_t)(t * (wl + wg)) * sizeof *y);
    if (!y)
        return COMFY_ENOMEM;
    for (int64_t r = 0; r < t; r++) {
        memcpy(y + r * (wl + wg), l + r * wl, (size_t)wl * sizeof *y);
        memcpy(y + r * (wl + wg) + wl, g + r * wg, (size_t)wg * sizeof *y);
    }
    *out = y;
    *rows = t;
    return 0;
}
