/*
 * unet.c — the SD UNet forward pass (see unet.h).
 *
 * Layout: activations are [B, H·W, C] (NHWC) from conv_in to the output
 * conv.  A 1x1 convolution is then a linear layer over pixels, so proj_in /
 * proj_out (conv or linear variants) and skip connections all go through
 * ck_linear; 3x3 convolutions through ck_conv2d_nhwc.
 *
 * Scratch: one block per call, sized by plan() from the blocks built at
 * load, carved into the ping-pong activations, the skip stack and the
 * transformer's temporaries.
 */
#include "unet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nets_internal.h"

#define MAX_BLOCKS CD_DETECT_MAX_BLOCKS

typedef struct resblock {
    int64_t cin, cout;
    nnorm n1, n2;
    nconv c1, c2;
    nlin emb;
    int has_skip;
    nlin skip;
} resblock;

typedef struct tblock {
    nnorm ln1, ln2, ln3;
    nlin q1, k1, v1, o1, q2, k2, v2, o2, ff1, ff2;
} tblock;

typedef struct xformer {
    int64_t ch, inner, heads, dhead, depth;
    nnorm gn;
    nlin pin, pout;
    tblock *blk; /* depth entries, owned by the UNet's store */
} xformer;

enum { B_CONV = 1, B_RES = 2, B_ST = 4, B_DOWN = 8, B_UP = 16 };

typedef struct ublock {
    int kind;     /* B_* bits */
    int level;    /* resolution level the block runs at (its input)    */
    resblock res;
    xformer st;
    nconv conv;   /* conv_in, the downsample op or the upsample conv     */
    int64_t skip_ch; /* output blocks: channels popped from the stack   */
} ublock;

struct cd_unet {
    cd_unet_config cfg;
    int prec;
    int64_t mc, temb_dim;
    nlin te0, te2, le0, le2;
    int n_in, n_out;
    ublock in[MAX_BLOCKS], out[MAX_BLOCKS];
    int mid_kind; /* 0: none; 1: res, res; 2: res, st, res */
    resblock mid0, mid2;
    xformer mid1;
    nnorm out_n;
    nconv out_conv;
    void **owned;
    size_t n_owned;
    uint64_t bytes;
    int64_t params;
    int64_t wmax; /* largest weight kept in f16/bf16 (elements) */
    int encoder_only; /* ControlNet trunk: no output blocks, no out */
};

/* ---- loading ------------------------------------------------------------ */

static void *own_alloc(nstore *s, size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p)
        return NULL;
    if (s->n_owned == s->cap_owned) {
        size_t cap = s->cap_owned ? 2 * s->cap_owned : 256;
        void **o = realloc(s->owned, cap * sizeof *o);
        if (!o) {
            free(p);
            return NULL;
        }
        s->owned = o;
        s->cap_owned = cap;
    }
    s->owned[s->n_owned++] = p;
    return p;
}

static int load_res(nstore *s, const char *base, resblock *r, int64_t cin, int64_t cout,
                    int64_t temb)
{
    char b[256];
    int rc;
    r->cin = cin;
    r->cout = cout;
    snprintf(b, sizeof b, "%s.in_layers.0", base);
    if ((rc = ns_norm(s, b, &r->n1, cin)) < 0)
        return rc;
    snprintf(b, sizeof b, "%s.in_layers.2", base);
    if ((rc = ns_conv(s, b, &r->c1, cin, cout, 3)) < 0)
        return rc;
    snprintf(b, sizeof b, "%s.emb_layers.1", base);
    if ((rc = ns_lin(s, b, &r->emb, temb, cout, 1)) < 0)
        return rc;
    snprintf(b, sizeof b, "%s.out_layers.0", base);
    if ((rc = ns_norm(s, b, &r->n2, cout)) < 0)
        return rc;
    snprintf(b, sizeof b, "%s.out_layers.3", base);
    if ((rc = ns_conv(s, b, &r->c2, cout, cout, 3)) < 0)
        return rc;
    r->has_skip = cin != cout;
    if (r->has_skip) {
        snprintf(b, sizeof b, "%s.skip_connection", base);
        if ((rc = ns_lin(s, b, &r->skip, cin, cout, 1)) < 0)
            return rc;
    }
    return 0;
}

static int load_st(nstore *s, const cd_unet_config *cfg, const char *base, xformer *t, int64_t ch,
                   int64_t depth)
{
    char b[256];
    int rc;
    t->ch = ch;
    t->depth = depth;
    if (cfg->num_head_channels == -1) {
        if (cfg->num_heads <= 0 || ch % cfg->num_heads)
            goto badheads;
        t->heads = cfg->num_heads;
        t->dhead = ch / cfg->num_heads;
    } else {
        if (cfg->num_head_channels <= 0 || ch % cfg->num_head_channels)
            goto badheads;
        t->heads = ch / cfg->num_head_channels;
        t->dhead = cfg->num_head_channels;
    }
    t->inner = t->heads * t->dhead;
    const int64_t I = t->inner, C = cfg->context_dim;
    snprintf(b, sizeof b, "%s.norm", base);
    if ((rc = ns_norm(s, b, &t->gn, ch)) < 0)
        return rc;
    snprintf(b, sizeof b, "%s.proj_in", base);
    if ((rc = ns_lin(s, b, &t->pin, ch, I, 1)) < 0)
        return rc;
    snprintf(b, sizeof b, "%s.proj_out", base);
    if ((rc = ns_lin(s, b, &t->pout, I, ch, 1)) < 0)
        return rc;
    t->blk = own_alloc(s, (size_t)(depth > 0 ? depth : 1) * sizeof *t->blk);
    if (!t->blk)
        return COMFY_ENOMEM;
    for (int64_t d = 0; d < depth; d++) {
        tblock *k = &t->blk[d];
        char tb[224];
        snprintf(tb, sizeof tb, "%s.transformer_blocks.%d", base, (int)d);
        struct {
            const char *leaf;
            nlin *l;
            int64_t in, out;
            int bias;
        } L[] = {
            {"attn1.to_q", &k->q1, I, I, 0},       {"attn1.to_k", &k->k1, I, I, 0},
            {"attn1.to_v", &k->v1, I, I, 0},       {"attn1.to_out.0", &k->o1, I, I, 1},
            {"attn2.to_q", &k->q2, I, I, 0},       {"attn2.to_k", &k->k2, C, I, 0},
            {"attn2.to_v", &k->v2, C, I, 0},       {"attn2.to_out.0", &k->o2, I, I, 1},
            {"ff.net.0.proj", &k->ff1, I, 8 * I, 1}, {"ff.net.2", &k->ff2, 4 * I, I, 1},
        };
        for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
            snprintf(b, sizeof b, "%s.%s", tb, L[i].leaf);
            if ((rc = ns_lin(s, b, L[i].l, L[i].in, L[i].out, L[i].bias)) < 0)
                return rc;
        }
        nnorm *N[3] = {&k->ln1, &k->ln2, &k->ln3};
        for (int i = 0; i < 3; i++) {
            snprintf(b, sizeof b, "%s.norm%d", tb, i + 1);
            if ((rc = ns_norm(s, b, N[i], I)) < 0)
                return rc;
        }
    }
    return 0;
badheads:
    if (s->err && s->errlen)
        snprintf(s->err, s->errlen, "%s%s: %lld channels do not split into the configured heads",
                 s->prefix, base, (long long)ch);
    return COMFY_EINVAL;
}

static int bad_config(nstore *s, const char *what)
{
    if (s->err && s->errlen)
        snprintf(s->err, s->errlen, "unsupported UNet config: %s", what);
    return COMFY_EINVAL;
}

static int load_unet(const cd_sd *sd, const char *prefix, const cd_unet_config *cfg,
                     const cd_nets_load_opts *opts, int encoder_only, cd_unet **out, char *err,
                     size_t errlen)
{
    cd_nets_load_opts o = {CD_NETS_WEIGHTS_F32, CK_PREC_F32};
    if (opts)
        o = *opts;
    *out = NULL;
    nstore s;
    ns_init(&s, sd, prefix, o.weights, err, errlen);
    if (!sd || !cfg)
        return bad_config(&s, "no state dict or config");
    cd_unet *u = calloc(1, sizeof *u);
    if (!u)
        return COMFY_ENOMEM;
    int rc = COMFY_EINVAL;
    u->cfg = *cfg;
    u->encoder_only = encoder_only;
    u->prec = o.prec == CK_PREC_BF16 ? CK_PREC_BF16 : CK_PREC_F32;
    const int64_t mc = cfg->model_channels;
    u->mc = mc;
    u->temb_dim = 4 * mc;
    if (mc <= 0 || mc % 32 || cfg->in_channels <= 0 || cfg->out_channels <= 0 ||
        cfg->n_levels <= 0 || cfg->n_levels > CD_DETECT_MAX_LEVELS || cfg->use_temporal ||
        cfg->adm_in_channels < 0) {
        rc = bad_config(&s, "channels, levels or a video UNet");
        goto fail;
    }
    char b[256];
    if ((rc = ns_lin(&s, "time_embed.0", &u->te0, mc, 4 * mc, 1)) < 0 ||
        (rc = ns_lin(&s, "time_embed.2", &u->te2, 4 * mc, 4 * mc, 1)) < 0)
        goto fail;
    if (cfg->adm_in_channels > 0 &&
        ((rc = ns_lin(&s, "label_emb.0.0", &u->le0, cfg->adm_in_channels, 4 * mc, 1)) < 0 ||
         (rc = ns_lin(&s, "label_emb.0.2", &u->le2, 4 * mc, 4 * mc, 1)) < 0))
        goto fail;

    /* input blocks */
    int64_t stack[MAX_BLOCKS];
    int nstack = 0, td = 0, idx = 0;
    int64_t ch = mc;
    ublock *blk = &u->in[idx++];
    blk->kind = B_CONV;
    blk->level = 0;
    if ((rc = ns_conv(&s, "input_blocks.0.0", &blk->conv, cfg->in_channels, mc, 3)) < 0)
        goto fail;
    stack[nstack++] = ch;
    for (int l = 0; l < cfg->n_levels; l++) {
        const int64_t oc = (int64_t)cfg->channel_mult[l] * mc;
        if (oc <= 0 || cfg->num_res_blocks[l] < 0) {
            rc = bad_config(&s, "channel_mult / num_res_blocks");
            goto fail;
        }
        for (int r = 0; r < cfg->num_res_blocks[l]; r++) {
            if (idx >= MAX_BLOCKS || td >= cfg->n_transformer_depth || nstack >= MAX_BLOCKS) {
                rc = bad_config(&s, "transformer_depth shorter than the blocks");
                goto fail;
            }
            blk = &u->in[idx];
            blk->level = l;
            blk->kind = B_RES;
            snprintf(b, sizeof b, "input_blocks.%d.0", idx);
            if ((rc = load_res(&s, b, &blk->res, ch, oc, 4 * mc)) < 0)
                goto fail;
            ch = oc;
            int d = cfg->transformer_depth[td++];
            if (d > 0) {
                blk->kind |= B_ST;
                snprintf(b, sizeof b, "input_blocks.%d.1", idx);
                if ((rc = load_st(&s, cfg, b, &blk->st, ch, d)) < 0)
                    goto fail;
            }
            stack[nstack++] = ch;
            idx++;
        }
        if (l != cfg->n_levels - 1) {
            if (idx >= MAX_BLOCKS || nstack >= MAX_BLOCKS) {
                rc = bad_config(&s, "too many blocks");
                goto fail;
            }
            blk = &u->in[idx];
            blk->level = l;
            blk->kind = B_DOWN;
            snprintf(b, sizeof b, "input_blocks.%d.0.op", idx);
            if ((rc = ns_conv(&s, b, &blk->conv, ch, ch, 3)) < 0)
                goto fail;
            stack[nstack++] = ch;
            idx++;
        }
    }
    u->n_in = idx;
    if (ns_has(&s, "input_blocks.%d.0.in_layers.0.weight", idx) ||
        ns_has(&s, "input_blocks.%d.0.op.weight", idx)) {
        rc = bad_config(&s, "the file has more input blocks than the config");
        goto fail;
    }

    /* middle block */
    if (cfg->transformer_depth_middle >= -1) {
        if ((rc = load_res(&s, "middle_block.0", &u->mid0, ch, ch, 4 * mc)) < 0)
            goto fail;
        if (cfg->transformer_depth_middle >= 0) {
            u->mid_kind = 2;
            if ((rc = load_st(&s, cfg, "middle_block.1", &u->mid1, ch,
                              cfg->transformer_depth_middle)) < 0 ||
                (rc = load_res(&s, "middle_block.2", &u->mid2, ch, ch, 4 * mc)) < 0)
                goto fail;
        } else {
            u->mid_kind = 1;
            if ((rc = load_res(&s, "middle_block.1", &u->mid2, ch, ch, 4 * mc)) < 0)
                goto fail;
        }
    }

    if (encoder_only)
        goto done;
    /* output blocks */
    idx = 0;
    int n_out_total = 0;
    for (int l = 0; l < cfg->n_levels; l++)
        n_out_total += cfg->num_res_blocks[l] + 1;
    if (n_out_total > MAX_BLOCKS || cfg->n_transformer_depth_output != n_out_total) {
        rc = bad_config(&s, "transformer_depth_output does not match the output blocks");
        goto fail;
    }
    for (int l = cfg->n_levels - 1; l >= 0; l--) {
        const int64_t oc = (int64_t)cfg->channel_mult[l] * mc;
        for (int i = 0; i <= cfg->num_res_blocks[l]; i++) {
            if (nstack <= 0) {
                rc = bad_config(&s, "skip stack underflow");
                goto fail;
            }
            blk = &u->out[idx];
            blk->level = l;
            blk->kind = B_RES;
            blk->skip_ch = stack[--nstack];
            snprintf(b, sizeof b, "output_blocks.%d.0", idx);
            if ((rc = load_res(&s, b, &blk->res, ch + blk->skip_ch, oc, 4 * mc)) < 0)
                goto fail;
            ch = oc;
            int d = cfg->transformer_depth_output[n_out_total - 1 - idx];
            int sub = 1;
            if (d > 0) {
                blk->kind |= B_ST;
                snprintf(b, sizeof b, "output_blocks.%d.1", idx);
                if ((rc = load_st(&s, cfg, b, &blk->st, ch, d)) < 0)
                    goto fail;
                sub = 2;
            }
            if (l > 0 && i == cfg->num_res_blocks[l]) {
                blk->kind |= B_UP;
                snprintf(b, sizeof b, "output_blocks.%d.%d.conv", idx, sub);
                if ((rc = ns_conv(&s, b, &blk->conv, ch, ch, 3)) < 0)
                    goto fail;
            }
            idx++;
        }
    }
    u->n_out = idx;
    if ((rc = ns_norm(&s, "out.0", &u->out_n, ch)) < 0 ||
        (rc = ns_conv(&s, "out.2", &u->out_conv, mc, cfg->out_channels, 3)) < 0)
        goto fail;
    if (ch != mc) {
        rc = bad_config(&s, "channel_mult[0] must be 1");
        goto fail;
    }
done:
    u->owned = s.owned;
    u->n_owned = s.n_owned;
    u->bytes = s.bytes;
    u->params = s.params;
    u->wmax = s.wmax;
    *out = u;
    return 0;
fail:
    ns_release(s.owned, s.n_owned);
    free(u);
    return rc;
}

int cd_unet_load(const cd_sd *sd, const char *prefix, const cd_unet_config *cfg,
                 const cd_nets_load_opts *opts, cd_unet **out, char *err, size_t errlen)
{
    return load_unet(sd, prefix, cfg, opts, 0, out, err, errlen);
}

int cd_unet_load_encoder(const cd_sd *sd, const char *prefix, const cd_unet_config *cfg,
                         const cd_nets_load_opts *opts, cd_unet **out, char *err, size_t errlen)
{
    return load_unet(sd, prefix, cfg, opts, 1, out, err, errlen);
}

void cd_unet_free(cd_unet *u)
{
    if (!u)
        return;
    ns_release(u->owned, u->n_owned);
    free(u);
}

void cd_unet_get_info(const cd_unet *u, cd_unet_info *info)
{
    memset(info, 0, sizeof *info);
    info->in_channels = u->cfg.in_channels;
    info->out_channels = u->cfg.out_channels;
    info->context_dim = u->cfg.context_dim;
    info->adm_in_channels = u->cfg.adm_in_channels;
    info->model_channels = u->cfg.model_channels;
    info->n_levels = u->cfg.n_levels;
    info->weight_bytes = u->bytes;
    info->n_params = u->params;
    info->n_input_blocks = u->n_in;
}

/* ---- scratch plan --------------------------------------------------------- */

typedef struct plan {
    int64_t hl[CD_DETECT_MAX_LEVELS], wl[CD_DETECT_MAX_LEVELS];
    int64_t act;    /* largest [B, HW, C] activation (floats)               */
    int64_t skip;   /* skip stack                                           */
    int64_t tr;     /* transformer row buffers: max(B·HW·inner, B·T·inner)  */
    int64_t emb;    /* B · max(4mc, adm, widest ResBlock)                   */
    int64_t wbuf;   /* f16/bf16 weights widened for f32 compute            */
    size_t bytes;   /* total scratch, with alignment slack                  */
} plan;

#define MAXV(a, b) ((a) > (b) ? (a) : (b))

static void plan_st(plan *p, const xformer *t, int64_t B, int64_t hw, int64_t T)
{
    p->tr = MAXV(p->tr, B * hw * t->inner);
    p->tr = MAXV(p->tr, B * T * t->inner);
}

/* 0 on success, -1 on overflow or an empty size. */
static int make_plan(const cd_unet *u, int64_t B, int64_t h, int64_t w, int64_t T, plan *p)
{
    memset(p, 0, sizeof *p);
    const int L = u->cfg.n_levels;
    if (B <= 0 || h <= 0 || w <= 0 || T <= 0 || B > 4096 || h > 16384 || w > 16384 || T > 65536)
        return -1;
    p->hl[0] = h;
    p->wl[0] = w;
    for (int l = 1; l < L; l++) {
        p->hl[l] = (p->hl[l - 1] - 1) / 2 + 1;
        p->wl[l] = (p->wl[l - 1] - 1) / 2 + 1;
    }
    int64_t emb = MAXV(4 * u->mc, u->cfg.adm_in_channels);
    const int64_t in_ch = u->cfg.in_channels;
    p->act = B * h * w * MAXV(in_ch, u->cfg.out_channels);
    for (int i = 0; i < u->n_in; i++) {
        const ublock *k = &u->in[i];
        int64_t hw = p->hl[k->level] * p->wl[k->level];
        if (k->kind & B_CONV) {
            p->act = MAXV(p->act, B * hw * k->conv.cout);
            p->skip += B * hw * k->conv.cout;
        }
        if (k->kind & B_RES) {
            p->act = MAXV(p->act, B * hw * MAXV(k->res.cin, k->res.cout));
            emb = MAXV(emb, k->res.cout);
            p->skip += B * hw * k->res.cout;
        }
        if (k->kind & B_ST)
            plan_st(p, &k->st, B, hw, T);
        if (k->kind & B_DOWN) {
            int64_t hw2 = p->hl[k->level + 1] * p->wl[k->level + 1];
            p->skip += B * hw2 * k->conv.cout;
        }
    }
    if (u->mid_kind == 2) {
        int64_t hw = p->hl[L - 1] * p->wl[L - 1];
        plan_st(p, &u->mid1, B, hw, T);
    }
    for (int i = 0; i < u->n_out; i++) {
        const ublock *k = &u->out[i];
        int64_t hw = p->hl[k->level] * p->wl[k->level];
        p->act = MAXV(p->act, B * hw * MAXV(k->res.cin, k->res.cout));
        emb = MAXV(emb, k->res.cout);
        if (k->kind & B_ST)
            plan_st(p, &k->st, B, hw, T);
        if (k->kind & B_UP) {
            int64_t hw2 = p->hl[k->level - 1] * p->wl[k->level - 1];
            p->act = MAXV(p->act, B * hw2 * k->conv.cout);
        }
    }
    p->emb = B * emb;
    p->wbuf = u->prec == CK_PREC_F32 ? u->wmax : 0;
    /* floats: 3 act + skip + tr*(x, q, k, v) + ff 8·tr + geglu 4·tr + 6 emb + wbuf */
    double fl = 3.0 * (double)p->act + (double)p->skip + 16.0 * (double)p->tr +
                6.0 * (double)p->emb + (double)p->wbuf;
    double bytes = fl * 4.0 + 16 * 64.0 + 4096.0;
    if (bytes > 1e15)
        return -1;
    p->bytes = (size_t)bytes;
    return 0;
}

size_t cd_unet_scratch_bytes(const cd_unet *u, int64_t B, int64_t h, int64_t w, int64_t T)
{
    plan p;
    if (!u || make_plan(u, B, h, w, T, &p) < 0)
        return 0;
    return p.bytes;
}

/* Pixels of input block i's output (its skip). */
static int64_t hw_skip(const plan *p, const cd_unet *u, int i)
{
    const ublock *k = &u->in[i];
    const int lo = (k->kind & B_DOWN) ? k->level + 1 : k->level;
    return p->hl[lo] * p->wl[lo];
}

/* Channels of input block i's output. */
static int64_t block_ch(const ublock *k)
{
    if (k->kind & B_RES)
        return k->res.cout;
    return k->conv.cout;
}

/* ---- forward -------------------------------------------------------------- */

typedef struct fwd {
    const cd_unet *u;
    const cd_nets_run *run;
    ck_pool *p;
    nexec ex;
    int64_t B, T;
    const float *ctx;
    float *embs;             /* SiLU(emb) [B, 4mc]                          */
    float *eo;               /* emb_layers output [B, cout]                  */
    float *tx, *tq, *tk, *tv, *tf, *tg;
} fwd;

/* ResBlock: out = skip(x) + conv2(SiLU(GN(conv1(SiLU(GN(x))) + emb_out))).
 * x [B, h·w, cin] -> out [B, h·w, cout]; t1 is a temporary of the larger
 * size.  out, x and t1 are distinct. */
static int res_fwd(fwd *f, const resblock *r, const float *x, int64_t h, int64_t w, float *out,
                   float *t1)
{
    ck_pool *p = f->p;
    const int64_t B = f->B, hw = h * w;
    int rc;
    if ((rc = ck_group_norm(p, x, t1, B, r->cin, hw, 32, r->n1.g, r->n1.b, 1e-5f,
                            CK_LAYOUT_NHWC, 1)) < 0 ||
        (rc = nc_apply(p, &r->c1, t1, B, h, w, 1, 1, out, &f->ex)) < 0 ||
        (rc = nl_apply(p, &r->emb, f->embs, B, f->eo, &f->ex)) < 0)
        return rc;
    int64_t sa[3] = {B, hw, r->cout}, sb[3] = {B, 1, r->cout};
    if ((rc = ck_binary(p, CK_BIN_ADD, out, sa, 3, f->eo, sb, 3, out)) < 0 ||
        (rc = ck_group_norm(p, out, t1, B, r->cout, hw, 32, r->n2.g, r->n2.b, 1e-5f,
                            CK_LAYOUT_NHWC, 1)) < 0 ||
        (rc = nc_apply(p, &r->c2, t1, B, h, w, 1, 1, out, &f->ex)) < 0)
        return rc;
    if (r->has_skip) {
        if ((rc = nl_apply(p, &r->skip, x, B * hw, t1, &f->ex)) < 0)
            return rc;
        return nadd(p, t1, out, out, B * hw * r->cout);
    }
    return nadd(p, x, out, out, B * hw * r->cout);
}

/* Multi-head attention of q [B, lq, inner] against k, v [B, lk, inner];
 * o [B, lq, inner]. */
static int attn(fwd *f, const xformer *t, const float *q, const float *k, const float *v,
                int64_t lq, int64_t lk, float *o)
{
    ck_attn_desc d = {f->B, t->heads, lq, lk, t->dhead, t->inner, t->inner, t->inner, t->inner,
                      (float)(1.0 / sqrt((double)t->dhead))};
    return ck_attention(f->p, &d, q, k, v, o);
}

/* SpatialTransformer: out = x + proj_out(blocks(proj_in(GN(x)))).  x and out
 * [B, hw, ch], distinct; t1 a temporary of act size. */
static int st_fwd(fwd *f, const xformer *t, const float *x, int64_t hw, float *out, float *t1)
{
    ck_pool *p = f->p;
    const int64_t B = f->B, rows = B * hw, I = t->inner, T = f->T;
    int rc;
    if ((rc = ck_group_norm(p, x, t1, B, t->ch, hw, 32, t->gn.g, t->gn.b, 1e-6f, CK_LAYOUT_NHWC,
                            0)) < 0 ||
        (rc = nl_apply(p, &t->pin, t1, rows, f->tx, &f->ex)) < 0)
        return rc;
    for (int64_t d = 0; d < t->depth; d++) {
        const tblock *k = &t->blk[d];
        if ((rc = nr_check(f->run)) < 0)
            return rc;
        /* self-attention */
        if ((rc = ck_layer_norm(p, f->tx, t1, rows, I, k->ln1.g, k->ln1.b, 1e-5f)) < 0 ||
            (rc = nl_apply(p, &k->q1, t1, rows, f->tq, &f->ex)) < 0 ||
            (rc = nl_apply(p, &k->k1, t1, rows, f->tk, &f->ex)) < 0 ||
            (rc = nl_apply(p, &k->v1, t1, rows, f->tv, &f->ex)) < 0 ||
            (rc = attn(f, t, f->tq, f->tk, f->tv, hw, hw, t1)) < 0 ||
            (rc = nl_apply(p, &k->o1, t1, rows, f->tq, &f->ex)) < 0 ||
            (rc = nadd(p, f->tq, f->tx, f->tx, rows * I)) < 0)
            return rc;
        /* cross-attention on the context */
        if ((rc = ck_layer_norm(p, f->tx, t1, rows, I, k->ln2.g, k->ln2.b, 1e-5f)) < 0 ||
            (rc = nl_apply(p, &k->q2, t1, rows, f->tq, &f->ex)) < 0 ||
            (rc = nl_apply(p, &k->k2, f->ctx, B * T, f->tk, &f->ex)) < 0 ||
            (rc = nl_apply(p, &k->v2, f->ctx, B * T, f->tv, &f->ex)) < 0 ||
            (rc = attn(f, t, f->tq, f->tk, f->tv, hw, T, t1)) < 0 ||
            (rc = nl_apply(p, &k->o2, t1, rows, f->tq, &f->ex)) < 0 ||
            (rc = nadd(p, f->tq, f->tx, f->tx, rows * I)) < 0)
            return rc;
        /* GEGLU feed-forward */
        if ((rc = ck_layer_norm(p, f->tx, t1, rows, I, k->ln3.g, k->ln3.b, 1e-5f)) < 0 ||
            (rc = nl_apply(p, &k->ff1, t1, rows, f->tf, &f->ex)) < 0 ||
            (rc = ck_geglu(p, f->tf, f->tg, rows, 4 * I)) < 0 ||
            (rc = nl_apply(p, &k->ff2, f->tg, rows, t1, &f->ex)) < 0 ||
            (rc = nadd(p, t1, f->tx, f->tx, rows * I)) < 0)
            return rc;
    }
    if ((rc = nl_apply(p, &t->pout, f->tx, rows, out, &f->ex)) < 0)
        return rc;
    return nadd(p, out, x, out, rows * t->ch);
}

/* The forward pass.  Full UNet: out [B, out_channels, h, w]; ctl (may be
 * NULL) adds residuals to the skips and the middle output.  Encoder
 * (encoder_only UNets): add0 (may be NULL) is added to input block 0's
 * output, enc[i] receives each input block's output and enc[n_in] the
 * middle block's, all NHWC. */
static int unet_run(const cd_unet *u, const cd_nets_run *run, const float *x, int64_t B,
                    int64_t h, int64_t w, const float *timesteps, const float *context,
                    int64_t T, const float *y, const cd_unet_control *ctl, const float *add0,
                    float *const *enc, float *out)
{
    static const cd_nets_run quiet = {0};
    if (!run)
        run = &quiet;
    if (!u || !x || !timesteps || !context || (u->encoder_only ? !enc : !out))
        return nr_fail(run, COMFY_EINVAL, "UNet forward: a required input is missing");
    if (ctl && (u->encoder_only || ctl->n_input != u->n_in))
        return nr_fail(run, COMFY_EINVAL,
                       "UNet forward: %d control residuals for %d input blocks",
                       ctl->n_input, u->n_in);
    if ((u->cfg.adm_in_channels > 0) != (y != NULL))
        return nr_fail(run, COMFY_EINVAL,
                       u->cfg.adm_in_channels > 0 ? "this UNet needs the ADM vector y (SDXL)"
                                                  : "this UNet takes no ADM vector y");
    plan pl;
    if (make_plan(u, B, h, w, T, &pl) < 0)
        return nr_fail(run, COMFY_EINVAL, "UNet forward: bad size B=%lld h=%lld w=%lld T=%lld",
                       (long long)B, (long long)h, (long long)w, (long long)T);
    void *heap = NULL;
    float *mem = nr_scratch(run, pl.bytes, &heap);
    if (!mem)
        return COMFY_ENOMEM;
    /* carve, each part 64-byte aligned */
    float *cur = mem;
#define TAKE(n) (cur += (((n) + 15) / 16) * 16, cur - (((n) + 15) / 16) * 16)
    float *xa = TAKE(pl.act), *xb = TAKE(pl.act), *t1 = TAKE(pl.act);
    float *skip = TAKE(pl.skip);
    fwd f = {u, run, run->pool, {u->prec, NULL, 0}, B, T, context, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL, NULL};
    if (pl.wbuf) {
        f.ex.wbuf = TAKE(pl.wbuf);
        f.ex.wcap = pl.wbuf;
    }
    f.tx = TAKE(pl.tr);
    f.tq = TAKE(pl.tr);
    f.tk = TAKE(pl.tr);
    f.tv = TAKE(pl.tr);
    f.tf = TAKE(8 * pl.tr);
    f.tg = TAKE(4 * pl.tr);
    float *e0 = TAKE(pl.emb), *e1 = TAKE(pl.emb), *e2 = TAKE(pl.emb);
    f.embs = TAKE(pl.emb);
    f.eo = TAKE(pl.emb);
    float *temb = TAKE(pl.emb);
#undef TAKE
    ck_pool *p = run->pool;
    const int64_t mc = u->mc;
    int rc;

    /* embeddings: emb = time_embed(temb(t)) (+ label_emb(y)); embs = SiLU(emb) */
    if ((rc = ck_timestep_embedding(timesteps, B, mc, 10000.0f, temb)) < 0 ||
        (rc = nl_apply(p, &u->te0, temb, B, e0, &f.ex)) < 0 ||
        (rc = ck_activation(p, CK_ACT_SILU, e0, e0, B * 4 * mc)) < 0 ||
        (rc = nl_apply(p, &u->te2, e0, B, e1, &f.ex)) < 0)
        goto out;
    if (y) {
        if ((rc = nl_apply(p, &u->le0, y, B, e0, &f.ex)) < 0 ||
            (rc = ck_activation(p, CK_ACT_SILU, e0, e0, B * 4 * mc)) < 0 ||
            (rc = nl_apply(p, &u->le2, e0, B, e2, &f.ex)) < 0 ||
            (rc = nadd(p, e1, e2, e1, B * 4 * mc)) < 0)
            goto out;
    }
    if ((rc = ck_activation(p, CK_ACT_SILU, e1, f.embs, B * 4 * mc)) < 0)
        goto out;

    /* input blocks */
    const int64_t *H = pl.hl, *W = pl.wl;
    float *sp[MAX_BLOCKS];
    int64_t sc[MAX_BLOCKS];
    int ns = 0;
    float *stop = skip;
    int64_t ch = u->cfg.in_channels;
    ck_nchw_to_nhwc(p, x, xb, B, ch, h * w);
    for (int i = 0; i < u->n_in; i++) {
        const ublock *k = &u->in[i];
        const int l = k->level;
        const int64_t hw = H[l] * W[l];
        if ((rc = nr_check(run)) < 0)
            goto out;
        if (k->kind & B_CONV) {
            if ((rc = nc_apply(p, &k->conv, xb, B, h, w, 1, 1, xa, &f.ex)) < 0)
                goto out;
            ch = k->conv.cout;
        }
        if (k->kind & B_RES) {
            if ((rc = res_fwd(&f, &k->res, xa, H[l], W[l], xb, t1)) < 0)
                goto out;
            ch = k->res.cout;
            float *s = xa; xa = xb; xb = s;
        }
        if (k->kind & B_ST) {
            if ((rc = st_fwd(&f, &k->st, xa, hw, xb, t1)) < 0)
                goto out;
            float *s = xa; xa = xb; xb = s;
        }
        if (k->kind & B_DOWN) {
            if ((rc = nc_apply(p, &k->conv, xa, B, H[l], W[l], 2, 1, xb, &f.ex)) < 0)
                goto out;
            float *s = xa; xa = xb; xb = s;
        }
        const int lo = (k->kind & B_DOWN) ? l + 1 : l;
        const int64_t n = B * H[lo] * W[lo] * ch;
        if (i == 0 && add0 && (rc = nadd(p, xa, add0, xa, n)) < 0)
            goto out;
        if (enc)
            memcpy(enc[i], xa, (size_t)n * sizeof *stop);
        memcpy(stop, xa, (size_t)n * sizeof *stop);
        sp[ns] = stop;
        sc[ns] = ch;
        ns++;
        stop += n;
    }

    /* middle */
    const int L = u->cfg.n_levels;
    if (u->mid_kind) {
        if ((rc = nr_check(run)) < 0 || (rc = res_fwd(&f, &u->mid0, xa, H[L - 1], W[L - 1], xb, t1)) < 0)
            goto out;
        { float *s = xa; xa = xb; xb = s; }
        if (u->mid_kind == 2) {
            if ((rc = st_fwd(&f, &u->mid1, xa, H[L - 1] * W[L - 1], xb, t1)) < 0)
                goto out;
            float *s = xa; xa = xb; xb = s;
        }
        if ((rc = res_fwd(&f, &u->mid2, xa, H[L - 1], W[L - 1], xb, t1)) < 0)
            goto out;
        { float *s = xa; xa = xb; xb = s; }
    }
    if (enc) {
        memcpy(enc[u->n_in], xa, (size_t)(B * H[L - 1] * W[L - 1] * ch) * sizeof *xa);
        rc = 0;
        goto out;
    }
    if (ctl && ctl->middle &&
        (rc = nadd(p, xa, ctl->middle, xa, B * H[L - 1] * W[L - 1] * ch)) < 0)
        goto out;

    /* output blocks */
    for (int i = 0; i < u->n_out; i++) {
        const ublock *k = &u->out[i];
        const int l = k->level;
        const int64_t hw = H[l] * W[l];
        if ((rc = nr_check(run)) < 0)
            goto out;
        ns--;
        if (ns < 0 || sc[ns] != k->skip_ch) {
            rc = nr_fail(run, COMFY_EINVAL, "UNet forward: skip stack mismatch");
            goto out;
        }
        if (ctl && ctl->input && ctl->input[ns] &&
            (rc = nadd(p, sp[ns], ctl->input[ns], sp[ns], B * hw_skip(&pl, u, ns) * sc[ns])) < 0)
            goto out;
        {
            const void *parts[2] = {xa, sp[ns]};
            int64_t s0[2] = {B * hw, ch}, s1[2] = {B * hw, sc[ns]};
            const int64_t *shapes[2] = {s0, s1};
            if ((rc = ck_concat(p, 2, parts, shapes, 2, 1, sizeof(float), xb)) < 0)
                goto out;
        }
        if ((rc = res_fwd(&f, &k->res, xb, H[l], W[l], xa, t1)) < 0)
            goto out;
        ch = k->res.cout;
        if (k->kind & B_ST) {
            if ((rc = st_fwd(&f, &k->st, xa, hw, xb, t1)) < 0)
                goto out;
            float *s = xa; xa = xb; xb = s;
        }
        if (k->kind & B_UP) {
            /* nearest resize to the size of the next skip, then conv */
            const int64_t oh = H[l - 1], ow = W[l - 1];
            if ((rc = ck_resize(p, CK_RESIZE_NEAREST, xa, B, H[l], W[l], ch, t1, oh, ow)) < 0 ||
                (rc = nc_apply(p, &k->conv, t1, B, oh, ow, 1, 1, xb, &f.ex)) < 0)
                goto out;
            float *s = xa; xa = xb; xb = s;
        }
    }

    /* out: GN + SiLU + conv, back to NCHW */
    if ((rc = ck_group_norm(p, xa, t1, B, ch, h * w, 32, u->out_n.g, u->out_n.b, 1e-5f,
                            CK_LAYOUT_NHWC, 1)) < 0 ||
        (rc = nc_apply(p, &u->out_conv, t1, B, h, w, 1, 1, xb, &f.ex)) < 0)
        goto out;
    ck_nhwc_to_nchw(p, xb, out, B, u->cfg.out_channels, h * w);
    rc = 0;
out:
    if (rc < 0 && run->err && run->errlen && !run->err[0])
        nr_fail(run, rc, "UNet forward failed (status %d)", rc);
    free(heap);
    return rc;
}

int cd_unet_forward(const cd_unet *u, const cd_nets_run *run, const float *x, int64_t B,
                    int64_t h, int64_t w, const float *timesteps, const float *context,
                    int64_t T, const float *y, float *out)
{
    return unet_run(u, run, x, B, h, w, timesteps, context, T, y, NULL, NULL, NULL, out);
}

int cd_unet_forward_ctl(const cd_unet *u, const cd_nets_run *run, const float *x, int64_t B,
                        int64_t h, int64_t w, const float *timesteps, const float *context,
                        int64_t T, const float *y, const cd_unet_control *ctl, float *out)
{
    return unet_run(u, run, x, B, h, w, timesteps, context, T, y, ctl, NULL, NULL, out);
}

int cd_unet_encode(const cd_unet *u, const cd_nets_run *run, const float *x, int64_t B,
                   int64_t h, int64_t w, const float *timesteps, const float *context, int64_t T,
                   const float *y, const float *add0, float *const *outs)
{
    static const cd_nets_run quiet = {0};
    if (u && !u->encoder_only)
        return nr_fail(run ? run : &quiet, COMFY_EINVAL, "UNet encode: not an encoder trunk");
    return unet_run(u, run, x, B, h, w, timesteps, context, T, y, NULL, add0, outs, NULL);
}

int cd_unet_block_shape(const cd_unet *u, int64_t h, int64_t w, int i, int64_t *hw, int64_t *ch)
{
    plan pl;
    if (!u || i < 0 || i > u->n_in || make_plan(u, 1, h, w, 1, &pl) < 0)
        return COMFY_EINVAL;
    if (i == u->n_in) {
        const int L = u->cfg.n_levels;
        if (!u->mid_kind)
            return COMFY_EINVAL;
        *hw = pl.hl[L - 1] * pl.wl[L - 1];
        *ch = u->mid2.cout;
        return 0;
    }
    *hw = hw_skip(&pl, u, i);
    *ch = block_ch(&u->in[i]);
    return 0;
}

/* ---- operation count ------------------------------------------------------ */

static double res_flops(const resblock *r, double n, double hw)
{
    double f = 2.0 * n * hw * 9.0 * (double)(r->cin * r->cout + r->cout * r->cout);
    if (r->has_skip)
        f += 2.0 * n * hw * (double)(r->cin * r->cout);
    return f;
}

static double st_flops(const xformer *t, double n, double hw, double T, double ctx)
{
    const double I = (double)t->inner, rows = n * hw;
    double f = 2.0 * rows * (double)t->ch * I * 2.0; /* proj in + out */
    double blk = 2.0 * rows * I * I * 4.0             /* self q k v o   */
               + 2.0 * rows * I * I * 2.0             /* cross q, o     */
               + 2.0 * n * T * ctx * I * 2.0          /* cross k, v     */
               + 4.0 * n * hw * hw * I                /* self scores+pv */
               + 4.0 * n * hw * T * I                 /* cross          */
               + 2.0 * rows * I * 8.0 * I + 2.0 * rows * 4.0 * I * I; /* GEGLU FF */
    return f + blk * (double)t->depth;
}

double cd_unet_flops(const cd_unet *u, int64_t B, int64_t h, int64_t w, int64_t T)
{
    plan p;
    if (!u || make_plan(u, B, h, w, T, &p) < 0)
        return 0;
    const double n = (double)B, ctx = (double)u->cfg.context_dim, t = (double)T;
    double f = 0;
    for (int i = 0; i < u->n_in; i++) {
        const ublock *k = &u->in[i];
        const double hw = (double)(p.hl[k->level] * p.wl[k->level]);
        if (k->kind & B_CONV)
            f += 2.0 * n * hw * 9.0 * (double)(k->conv.cin * k->conv.cout);
        if (k->kind & B_RES)
            f += res_flops(&k->res, n, hw);
        if (k->kind & B_ST)
            f += st_flops(&k->st, n, hw, t, ctx);
        if (k->kind & B_DOWN)
            f += 2.0 * n * (double)(p.hl[k->level + 1] * p.wl[k->level + 1]) * 9.0 *
                 (double)(k->conv.cin * k->conv.cout);
    }
    const int L = u->cfg.n_levels;
    const double hwm = (double)(p.hl[L - 1] * p.wl[L - 1]);
    if (u->mid_kind)
        f += res_flops(&u->mid0, n, hwm) + res_flops(&u->mid2, n, hwm);
    if (u->mid_kind == 2)
        f += st_flops(&u->mid1, n, hwm, t, ctx);
    for (int i = 0; i < u->n_out; i++) {
        const ublock *k = &u->out[i];
        const double hw = (double)(p.hl[k->level] * p.wl[k->level]);
        f += res_flops(&k->res, n, hw);
        if (k->kind & B_ST)
            f += st_flops(&k->st, n, hw, t, ctx);
        if (k->kind & B_UP)
            f += 2.0 * n * (double)(p.hl[k->level - 1] * p.wl[k->level - 1]) * 9.0 *
                 (double)(k->conv.cin * k->conv.cout);
    }
    f += 2.0 * n * (double)(h * w) * 9.0 * (double)(u->out_conv.cin * u->out_conv.cout);
    return f;
}
