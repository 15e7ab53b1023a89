/*
 * vae.c — the KL-f8 autoencoder (see vae.h).
 *
 * Both halves run one image at a time on [H·W, C] (NHWC) activations with
 * three ping-pong buffers of the largest activation; 1x1 convolutions
 * (nin_shortcut, attention q/k/v/proj_out, quant convs) are linear layers
 * over pixels.  The tiled variants reimplement comfy.utils.tiled_scale:
 * tile positions, the linear feather mask and its multiplication order,
 * Python's round-half-even of scaled positions, and the weighted average.
 */
#include "vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nets_internal.h"

#define VAE_MAX_LEVELS 8
#define VAE_MAX_BLOCKS 8

typedef struct vres {
    int64_t cin, cout;
    nnorm n1, n2;
    nconv c1, c2;
    int has_skip;
    nlin skip;
} vres;

typedef struct vattn {
    int64_t c;
    nnorm n;
    nlin q, k, v, proj;
} vattn;

typedef struct vlevel {
    int nblocks;
    vres blk[VAE_MAX_BLOCKS];
    int has_sample;
    nconv sample; /* encoder: downsample.conv (stride 2); decoder: upsample.conv */
} vlevel;

typedef struct vhalf {
    int present;
    nconv conv_in;
    vlevel lv[VAE_MAX_LEVELS];
    vres mid1, mid2;
    vattn attn;
    nnorm norm_out;
    nconv conv_out;
} vhalf;

struct cd_vae {
    int prec;
    int64_t ch, z, embed;
    int n_levels;
    int64_t mult[VAE_MAX_LEVELS];
    int has_quant;
    nlin quant, post_quant;
    vhalf enc, dec;
    void **owned;
    size_t n_owned;
    uint64_t bytes;
    int64_t params;
    int64_t wmax; /* largest weight kept in f16/bf16 (elements) */
};

/* ---- loading ------------------------------------------------------------ */

static int load_vres(nstore *s, const char *base, vres *r, int64_t cin, int64_t cout)
{
    char b[256];
    int rc;
    r->cin = cin;
    r->cout = cout;
    snprintf(b, sizeof b, "%s.norm1", base);
    if ((rc = ns_norm(s, b, &r->n1, cin)) < 0)
        return rc;
    snprintf(b, sizeof b, "%s.conv1", base);
    if ((rc = ns_conv(s, b, &r->c1, cin, cout, 3)) < 0)
        return rc;
    snprintf(b, sizeof b, "%s.norm2", base);
    if ((rc = ns_norm(s, b, &r->n2, cout)) < 0)
        return rc;
    snprintf(b, sizeof b, "%s.conv2", base);
    if ((rc = ns_conv(s, b, &r->c2, cout, cout, 3)) < 0)
        return rc;
    r->has_skip = cin != cout;
    if (r->has_skip) {
        snprintf(b, sizeof b, "%s.nin_shortcut", base);
        if ((rc = ns_lin(s, b, &r->skip, cin, cout, 1)) < 0)
            return rc;
    }
    return 0;
}

static int load_vattn(nstore *s, const char *base, vattn *a, int64_t c)
{
    char b[256];
    int rc;
    a->c = c;
    snprintf(b, sizeof b, "%s.norm", base);
    if ((rc = ns_norm(s, b, &a->n, c)) < 0)
        return rc;
    struct {
        const char *leaf;
        nlin *l;
    } L[] = {{"q", &a->q}, {"k", &a->k}, {"v", &a->v}, {"proj_out", &a->proj}};
    for (int i = 0; i < 4; i++) {
        snprintf(b, sizeof b, "%s.%s", base, L[i].leaf);
        if ((rc = ns_lin(s, b, L[i].l, c, c, 1)) < 0)
            return rc;
    }
    return 0;
}

static int vbad(nstore *s, const char *what)
{
    if (s->err && s->errlen)
        snprintf(s->err, s->errlen, "unsupported VAE under \"%s\": %s", s->prefix, what);
    return COMFY_EINVAL;
}

/* Output channels of a 4-d weight, or -1. */
static int64_t wout(nstore *s, const char *name, int dim)
{
    const cd_tensor *t = ns_find(s, "%s", name);
    if (!t || t->ndim != 4)
        return -1;
    return t->shape[dim];
}

static int load_encoder(nstore *s, cd_vae *v, int nrb)
{
    vhalf *e = &v->enc;
    char b[256];
    int rc;
    const int64_t ch = v->ch;
    int64_t cin = ch;
    if ((rc = ns_conv(s, "encoder.conv_in", &e->conv_in, 3, ch, 3)) < 0)
        return rc;
    for (int l = 0; l < v->n_levels; l++) {
        vlevel *L = &e->lv[l];
        const int64_t cout = ch * v->mult[l];
        L->nblocks = nrb;
        for (int i = 0; i < nrb; i++) {
            snprintf(b, sizeof b, "encoder.down.%d.block.%d", l, i);
            if ((rc = load_vres(s, b, &L->blk[i], cin, cout)) < 0)
                return rc;
            cin = cout;
        }
        if (ns_has(s, "encoder.down.%d.attn.0.q.weight", l))
            return vbad(s, "attention inside the down levels");
        if (l != v->n_levels - 1) {
            L->has_sample = 1;
            snprintf(b, sizeof b, "encoder.down.%d.downsample.conv", l);
            if ((rc = ns_conv(s, b, &L->sample, cin, cin, 3)) < 0)
                return rc;
        }
    }
    if ((rc = load_vres(s, "encoder.mid.block_1", &e->mid1, cin, cin)) < 0 ||
        (rc = load_vattn(s, "encoder.mid.attn_1", &e->attn, cin)) < 0 ||
        (rc = load_vres(s, "encoder.mid.block_2", &e->mid2, cin, cin)) < 0 ||
        (rc = ns_norm(s, "encoder.norm_out", &e->norm_out, cin)) < 0 ||
        (rc = ns_conv(s, "encoder.conv_out", &e->conv_out, cin, 2 * v->z, 3)) < 0)
        return rc;
    e->present = 1;
    return 0;
}

static int load_decoder(nstore *s, cd_vae *v, int nrb)
{
    vhalf *d = &v->dec;
    char b[256];
    int rc;
    const int64_t ch = v->ch;
    int64_t cin = ch * v->mult[v->n_levels - 1];
    if ((rc = ns_conv(s, "decoder.conv_in", &d->conv_in, v->z, cin, 3)) < 0 ||
        (rc = load_vres(s, "decoder.mid.block_1", &d->mid1, cin, cin)) < 0 ||
        (rc = load_vattn(s, "decoder.mid.attn_1", &d->attn, cin)) < 0 ||
        (rc = load_vres(s, "decoder.mid.block_2", &d->mid2, cin, cin)) < 0)
        return rc;
    for (int l = v->n_levels - 1; l >= 0; l--) {
        vlevel *L = &d->lv[l];
        const int64_t cout = ch * v->mult[l];
        L->nblocks = nrb + 1;
        for (int i = 0; i <= nrb; i++) {
            snprintf(b, sizeof b, "decoder.up.%d.block.%d", l, i);
            if ((rc = load_vres(s, b, &L->blk[i], cin, cout)) < 0)
                return rc;
            cin = cout;
        }
        if (ns_has(s, "decoder.up.%d.attn.0.q.weight", l))
            return vbad(s, "attention inside the up levels");
        if (l != 0) {
            L->has_sample = 1;
            snprintf(b, sizeof b, "decoder.up.%d.upsample.conv", l);
            if ((rc = ns_conv(s, b, &L->sample, cin, cin, 3)) < 0)
                return rc;
        }
    }
    if ((rc = ns_norm(s, "decoder.norm_out", &d->norm_out, cin)) < 0 ||
        (rc = ns_conv(s, "decoder.conv_out", &d->conv_out, cin, 3, 3)) < 0)
        return rc;
    d->present = 1;
    return 0;
}

int cd_vae_load(const cd_sd *sd, const char *prefix, const cd_nets_load_opts *opts,
                cd_vae **out, char *err, size_t errlen)
{
    cd_nets_load_opts o = {CD_NETS_WEIGHTS_F32, CK_PREC_F32};
    if (opts)
        o = *opts;
    *out = NULL;
    nstore s;
    ns_init(&s, sd, prefix, o.weights, err, errlen);
    if (!sd)
        return vbad(&s, "no state dict");
    cd_vae *v = calloc(1, sizeof *v);
    if (!v)
        return COMFY_ENOMEM;
    int rc;
    v->prec = o.prec == CK_PREC_BF16 ? CK_PREC_BF16 : CK_PREC_F32;
    const int has_enc = ns_has(&s, "encoder.conv_in.weight");
    const int has_dec = ns_has(&s, "decoder.conv_in.weight");
    if (!has_enc && !has_dec) {
        if (err && errlen)
            snprintf(err, errlen, "missing tensor %sencoder.conv_in.weight / %sdecoder.conv_in.weight",
                     s.prefix, s.prefix);
        rc = COMFY_ENOENT;
        goto fail;
    }
    char pat[256];
    const char *half = has_enc ? "encoder.down" : "decoder.up";
    snprintf(pat, sizeof pat, "%s%s.%%d.", s.prefix, half);
    v->n_levels = cd_sd_count_blocks(sd, pat);
    snprintf(pat, sizeof pat, "%s%s.0.block.%%d.", s.prefix, half);
    int nrb = cd_sd_count_blocks(sd, pat) - (has_enc ? 0 : 1);
    v->ch = has_enc ? wout(&s, "encoder.conv_in.weight", 0) : wout(&s, "decoder.conv_out.weight", 1);
    if (v->n_levels <= 0 || v->n_levels > VAE_MAX_LEVELS || nrb <= 0 || nrb >= VAE_MAX_BLOCKS ||
        v->ch <= 0 || v->ch % 32) {
        rc = vbad(&s, "levels, blocks or base width out of range");
        goto fail;
    }
    for (int l = 0; l < v->n_levels; l++) {
        char nm[128];
        snprintf(nm, sizeof nm, "%s.%d.block.0.conv1.weight", half, l);
        int64_t c = wout(&s, nm, 0);
        if (c <= 0 || c % v->ch) {
            rc = vbad(&s, "channel multipliers");
            goto fail;
        }
        v->mult[l] = c / v->ch;
    }
    v->z = has_dec ? wout(&s, "decoder.conv_in.weight", 1) : wout(&s, "encoder.conv_out.weight", 0) / 2;
    v->embed = v->z;
    v->has_quant = ns_has(&s, "post_quant_conv.weight") || ns_has(&s, "quant_conv.weight");
    if (v->has_quant) {
        const cd_tensor *pq = ns_find(&s, "post_quant_conv.weight");
        const cd_tensor *q = ns_find(&s, "quant_conv.weight");
        v->embed = pq && pq->ndim >= 2 ? pq->shape[1] : q && q->ndim >= 1 ? q->shape[0] / 2 : -1;
    }
    if (v->z <= 0 || v->z > 256 || v->embed <= 0 || v->embed > 256) {
        rc = vbad(&s, "latent channels");
        goto fail;
    }
    if (has_enc && (rc = load_encoder(&s, v, nrb)) < 0)
        goto fail;
    if (has_dec && (rc = load_decoder(&s, v, nrb)) < 0)
        goto fail;
    if (v->has_quant) {
        if (has_enc && (rc = ns_lin(&s, "quant_conv", &v->quant, 2 * v->z, 2 * v->embed, 1)) < 0)
            goto fail;
        if (has_dec && (rc = ns_lin(&s, "post_quant_conv", &v->post_quant, v->embed, v->z, 1)) < 0)
            goto fail;
    }
    v->owned = s.owned;
    v->n_owned = s.n_owned;
    v->bytes = s.bytes;
    v->params = s.params;
    v->wmax = s.wmax;
    *out = v;
    return 0;
fail:
    ns_release(s.owned, s.n_owned);
    free(v);
    return rc;
}

void cd_vae_free(cd_vae *v)
{
    if (!v)
        return;
    ns_release(v->owned, v->n_owned);
    free(v);
}

void cd_vae_get_info(const cd_vae *v, cd_vae_info *info)
{
    memset(info, 0, sizeof *info);
    info->latent_channels = (int)v->embed;
    info->downscale = 1 << (v->n_levels - 1);
    info->has_encoder = v->enc.present;
    info->has_decoder = v->dec.present;
    info->weight_bytes = v->bytes;
    info->n_params = v->params;
}

/* ---- scratch plans (one image) ------------------------------------------ */

#define MAXV(a, b) ((a) > (b) ? (a) : (b))

typedef struct vplan {
    int64_t act;  /* largest activation, floats            */
    int64_t att;  /* q, k, v rows at the mid level         */
    int64_t wbuf; /* f16/bf16 weights widened for f32 compute */
    size_t bytes;
} vplan;

static void plan_bytes(const cd_vae *v, vplan *p)
{
    p->wbuf = v->prec == CK_PREC_F32 ? v->wmax : 0;
    double fl = 3.0 * ((double)p->act + 16) + 3.0 * ((double)p->att + 16) + (double)p->wbuf + 16;
    p->bytes = (size_t)(fl * 4.0 + 4096.0);
}

/* Encoder size after level l's downsample: (n - 2) / 2 + 1 (pad right and
 * bottom by one, 3x3 stride 2). */
static int64_t down_size(int64_t n)
{
    return n >= 2 ? (n - 2) / 2 + 1 : 0;
}

static int plan_decode(const cd_vae *v, int64_t h, int64_t w, vplan *p)
{
    memset(p, 0, sizeof *p);
    if (!v->dec.present || h <= 0 || w <= 0 || h > 65536 || w > 65536)
        return -1;
    const int L = v->n_levels;
    int64_t cin = v->ch * v->mult[L - 1];
    int64_t hw = h * w;
    p->act = hw * MAXV(MAXV(v->z, v->embed), cin);
    p->att = hw * cin;
    for (int l = L - 1; l >= 0; l--) {
        int64_t cout = v->ch * v->mult[l];
        p->act = MAXV(p->act, hw * MAXV(cin, cout));
        cin = cout;
        if (l != 0) {
            hw *= 4;
            p->act = MAXV(p->act, hw * cin);
        }
    }
    if (hw > (int64_t)1 << 30)
        return -1;
    p->act = MAXV(p->act, hw * 3);
    plan_bytes(v, p);
    return 0;
}

static int plan_encode(const cd_vae *v, int64_t H, int64_t W, vplan *p)
{
    memset(p, 0, sizeof *p);
    if (!v->enc.present || H <= 0 || W <= 0 || H > 1 << 17 || W > 1 << 17)
        return -1;
    int64_t h = H, w = W, cin = v->ch;
    p->act = h * w * MAXV(cin, 3);
    for (int l = 0; l < v->n_levels; l++) {
        int64_t cout = v->ch * v->mult[l];
        p->act = MAXV(p->act, h * w * MAXV(cin, cout));
        cin = cout;
        if (l != v->n_levels - 1) {
            p->act = MAXV(p->act, (h + 1) * (w + 1) * cin);
            h = down_size(h);
            w = down_size(w);
            if (h <= 0 || w <= 0)
                return -1;
        }
    }
    p->att = h * w * cin;
    p->act = MAXV(p->act, h * w * 2 * MAXV(v->z, v->embed));
    plan_bytes(v, p);
    return 0;
}

size_t cd_vae_decode_scratch_bytes(const cd_vae *v, int64_t B, int64_t h, int64_t w)
{
    vplan p;
    (void)B; /* images run one at a time */
    if (!v || plan_decode(v, h, w, &p) < 0)
        return 0;
    return p.bytes;
}

size_t cd_vae_encode_scratch_bytes(const cd_vae *v, int64_t B, int64_t H, int64_t W)
{
    vplan p;
    (void)B;
    if (!v || plan_encode(v, H, W, &p) < 0)
        return 0;
    return p.bytes;
}

/* ---- blocks ----------------------------------------------------------- */

typedef struct vrun {
    const cd_vae *v;
    const cd_nets_run *run;
    ck_pool *p;
    nexec ex;
    float *xa, *xb, *t1, *tq, *tk, *tv; /* carved from one scratch block */
} vrun;

static void carve(vrun *r, float *mem, const vplan *pl)
{
    const int64_t a = (pl->act + 15) / 16 * 16, t = (pl->att + 15) / 16 * 16;
    r->xa = mem;
    r->xb = mem + a;
    r->t1 = mem + 2 * a;
    r->tq = mem + 3 * a;
    r->tk = r->tq + t;
    r->tv = r->tk + t;
    r->ex.wbuf = pl->wbuf ? r->tv + t : NULL;
    r->ex.wcap = pl->wbuf;
}

static void swap(vrun *r)
{
    float *s = r->xa;
    r->xa = r->xb;
    r->xb = s;
}

/* xa [h·w, cin] -> xa [h·w, cout] (through xb, t1 temp). */
static int vres_fwd(vrun *r, const vres *b, int64_t h, int64_t w)
{
    ck_pool *p = r->p;
    const int64_t hw = h * w;
    int rc;
    if ((rc = ck_group_norm(p, r->xa, r->t1, 1, b->cin, hw, 32, b->n1.g, b->n1.b, 1e-6f,
                            CK_LAYOUT_NHWC, 1)) < 0 ||
        (rc = nc_apply(p, &b->c1, r->t1, 1, h, w, 1, 1, r->xb, &r->ex)) < 0 ||
        (rc = ck_group_norm(p, r->xb, r->t1, 1, b->cout, hw, 32, b->n2.g, b->n2.b, 1e-6f,
                            CK_LAYOUT_NHWC, 1)) < 0 ||
        (rc = nc_apply(p, &b->c2, r->t1, 1, h, w, 1, 1, r->xb, &r->ex)) < 0)
        return rc;
    if (b->has_skip) {
        if ((rc = nl_apply(p, &b->skip, r->xa, hw, r->t1, &r->ex)) < 0 ||
            (rc = nadd(p, r->t1, r->xb, r->xb, hw * b->cout)) < 0)
            return rc;
    } else if ((rc = nadd(p, r->xa, r->xb, r->xb, hw * b->cout)) < 0) {
        return rc;
    }
    swap(r);
    return nr_check(r->run);
}

/* Single-head attention over all positions: xa = xa + proj(attn(GN(xa))). */
static int vattn_fwd(vrun *r, const vattn *a, int64_t hw)
{
    ck_pool *p = r->p;
    const int64_t C = a->c;
    int rc;
    ck_attn_desc d = {1, 1, hw, hw, C, C, C, C, C, (float)(1.0 / sqrt((double)C))};
    if ((rc = ck_group_norm(p, r->xa, r->t1, 1, C, hw, 32, a->n.g, a->n.b, 1e-6f, CK_LAYOUT_NHWC,
                            0)) < 0 ||
        (rc = nl_apply(p, &a->q, r->t1, hw, r->tq, &r->ex)) < 0 ||
        (rc = nl_apply(p, &a->k, r->t1, hw, r->tk, &r->ex)) < 0 ||
        (rc = nl_apply(p, &a->v, r->t1, hw, r->tv, &r->ex)) < 0 ||
        (rc = ck_attention(p, &d, r->tq, r->tk, r->tv, r->t1)) < 0 ||
        (rc = nl_apply(p, &a->proj, r->t1, hw, r->xb, &r->ex)) < 0 ||
        (rc = nadd(p, r->xa, r->xb, r->xb, hw * C)) < 0)
        return rc;
    swap(r);
    return nr_check(r->run);
}

/* Decoder core: z [h·w, embed] NHWC (in r->xa) -> raw image [8h·8w, 3] in
 * r->xa.  Returns the final height/width through oh/ow. */
static int dec_core(vrun *r, int64_t h, int64_t w, int64_t *oh, int64_t *ow)
{
    const cd_vae *v = r->v;
    const vhalf *d = &v->dec;
    ck_pool *p = r->p;
    int rc;
    if (v->has_quant) {
        if ((rc = nl_apply(p, &v->post_quant, r->xa, h * w, r->xb, &r->ex)) < 0)
            return rc;
        swap(r);
    }
    if ((rc = nc_apply(p, &d->conv_in, r->xa, 1, h, w, 1, 1, r->xb, &r->ex)) < 0)
        return rc;
    swap(r);
    if ((rc = vres_fwd(r, &d->mid1, h, w)) < 0 || (rc = vattn_fwd(r, &d->attn, h * w)) < 0 ||
        (rc = vres_fwd(r, &d->mid2, h, w)) < 0)
        return rc;
    for (int l = v->n_levels - 1; l >= 0; l--) {
        const vlevel *L = &d->lv[l];
        for (int i = 0; i < L->nblocks; i++)
            if ((rc = vres_fwd(r, &L->blk[i], h, w)) < 0)
                return rc;
        if (L->has_sample) {
            const int64_t c = L->sample.cin;
            if ((rc = ck_resize(p, CK_RESIZE_NEAREST, r->xa, 1, h, w, c, r->t1, 2 * h, 2 * w)) < 0)
                return rc;
            h *= 2;
            w *= 2;
            if ((rc = nc_apply(p, &L->sample, r->t1, 1, h, w, 1, 1, r->xa, &r->ex)) < 0)
                return rc;
        }
    }
    if ((rc = ck_group_norm(p, r->xa, r->t1, 1, d->norm_out.c, h * w, 32, d->norm_out.g,
                            d->norm_out.b, 1e-6f, CK_LAYOUT_NHWC, 1)) < 0 ||
        (rc = nc_apply(p, &d->conv_out, r->t1, 1, h, w, 1, 1, r->xa, &r->ex)) < 0)
        return rc;
    *oh = h;
    *ow = w;
    return 0;
}

/* Encoder core: x [H·W, 3] NHWC in 2p-1 space (in r->xa) -> the posterior
 * mean [h·w, embed] NHWC in r->xa. */
static int enc_core(vrun *r, int64_t H, int64_t W, int64_t *oh, int64_t *ow)
{
    const cd_vae *v = r->v;
    const vhalf *e = &v->enc;
    ck_pool *p = r->p;
    int64_t h = H, w = W;
    int rc;
    if ((rc = nc_apply(p, &e->conv_in, r->xa, 1, h, w, 1, 1, r->xb, &r->ex)) < 0)
        return rc;
    swap(r);
    for (int l = 0; l < v->n_levels; l++) {
        const vlevel *L = &e->lv[l];
        for (int i = 0; i < L->nblocks; i++)
            if ((rc = vres_fwd(r, &L->blk[i], h, w)) < 0)
                return rc;
        if (L->has_sample) {
            /* zero-pad right and bottom by one, 3x3 stride 2 no padding */
            const int64_t c = L->sample.cin, pw = w + 1;
            for (int64_t y = 0; y <= h; y++) {
                float *dst = r->t1 + y * pw * c;
                if (y == h) {
                    memset(dst, 0, (size_t)(pw * c) * sizeof *dst);
                } else {
                    memcpy(dst, r->xa + y * w * c, (size_t)(w * c) * sizeof *dst);
                    memset(dst + w * c, 0, (size_t)c * sizeof *dst);
                }
            }
            if ((rc = nc_apply(p, &L->sample, r->t1, 1, h + 1, w + 1, 2, 0, r->xa, &r->ex)) < 0)
                return rc;
            h = down_size(h);
            w = down_size(w);
        }
    }
    if ((rc = vres_fwd(r, &e->mid1, h, w)) < 0 || (rc = vattn_fwd(r, &e->attn, h * w)) < 0 ||
        (rc = vres_fwd(r, &e->mid2, h, w)) < 0)
        return rc;
    if ((rc = ck_group_norm(p, r->xa, r->t1, 1, e->norm_out.c, h * w, 32, e->norm_out.g,
                            e->norm_out.b, 1e-6f, CK_LAYOUT_NHWC, 1)) < 0 ||
        (rc = nc_apply(p, &e->conv_out, r->t1, 1, h, w, 1, 1, r->xb, &r->ex)) < 0)
        return rc;
    swap(r);
    if (v->has_quant) {
        if ((rc = nl_apply(p, &v->quant, r->xa, h * w, r->xb, &r->ex)) < 0)
            return rc;
        swap(r);
    }
    /* keep the mean: the first embed channels of each pixel (in place, forward) */
    const int64_t C2 = v->has_quant ? 2 * v->embed : 2 * v->z, E = v->embed;
    for (int64_t i = 0; i < h * w; i++)
        memmove(r->xa + i * E, r->xa + i * C2, (size_t)E * sizeof(float));
    *oh = h;
    *ow = w;
    return 0;
}

/* ---- public entry points ------------------------------------------------ */

static const cd_nets_run quiet_run;

int cd_vae_decode(const cd_vae *v, const cd_nets_run *run, const float *z, int64_t B, int64_t h,
                  int64_t w, float *img)
{
    if (!run)
        run = &quiet_run;
    vplan pl;
    if (!v || !z || !img || B <= 0 || plan_decode(v, h, w, &pl) < 0)
        return nr_fail(run, COMFY_EINVAL, "VAE decode: bad input (B=%lld, latent %lldx%lld%s)",
                       (long long)B, (long long)h, (long long)w,
                       v && !v->dec.present ? ", no decoder" : "");
    void *heap;
    float *mem = nr_scratch(run, pl.bytes, &heap);
    if (!mem)
        return COMFY_ENOMEM;
    vrun r = {v, run, run->pool, {v->prec, NULL, 0}, 0, 0, 0, 0, 0, 0};
    int rc = 0;
    const int64_t E = v->embed;
    for (int64_t b = 0; b < B && rc == 0; b++) {
        carve(&r, mem, &pl);
        ck_nchw_to_nhwc(r.p, z + b * E * h * w, r.xa, 1, E, h * w);
        int64_t oh, ow;
        if ((rc = dec_core(&r, h, w, &oh, &ow)) < 0)
            break;
        float *o = img + b * oh * ow * 3;
        for (int64_t i = 0; i < oh * ow * 3; i++) {
            float t = (r.xa[i] + 1.0f) / 2.0f;
            o[i] = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
        }
    }
    free(heap);
    return rc;
}

int cd_vae_encode(const cd_vae *v, const cd_nets_run *run, const float *img, int64_t B,
                  int64_t H, int64_t W, float *z)
{
    if (!run)
        run = &quiet_run;
    vplan pl;
    if (!v || !img || !z || B <= 0 || plan_encode(v, H, W, &pl) < 0)
        return nr_fail(run, COMFY_EINVAL, "VAE encode: bad input (B=%lld, image %lldx%lld%s)",
                       (long long)B, (long long)H, (long long)W,
                       v && !v->enc.present ? ", no encoder" : "");
    void *heap;
    float *mem = nr_scratch(run, pl.bytes, &heap);
    if (!mem)
        return COMFY_ENOMEM;
    vrun r = {v, run, run->pool, {v->prec, NULL, 0}, 0, 0, 0, 0, 0, 0};
    int rc = 0;
    const int64_t E = v->embed;
    for (int64_t b = 0; b < B && rc == 0; b++) {
        carve(&r, mem, &pl);
        const float *x = img + b * H * W * 3;
        for (int64_t i = 0; i < H * W * 3; i++)
            r.xa[i] = x[i] * 2.0f - 1.0f;
        int64_t oh, ow;
        if ((rc = enc_core(&r, H, W, &oh, &ow)) < 0)
            break;
        ck_nhwc_to_nchw(r.p, r.xa, z + b * E * oh * ow, 1, E, oh * ow);
    }
    free(heap);
    return rc;
}

/* ---- tiled variants (comfy.utils.tiled_scale) ----------------------------- */

typedef struct tiling {
    int enc;          /* 1: encode (scale 1/8), 0: decode (scale 8)         */
    int64_t H, W, cin, cout, OH, OW;
} tiling;

static int64_t t_scale(const tiling *t, int64_t v)
{
    return t->enc ? nt_pyround(0.125 * (double)v) : 8 * v;
}

/* Runs the core on the tile [y0, y0+ly) x [x0, x0+lx) of in (NHWC
 * [H, W, cin]); the result [oh, ow, cout] is left in r->xa. */
static int run_tile(vrun *r, const vplan *pl, float *mem, const tiling *t, const float *in,
                    int64_t y0, int64_t x0, int64_t ly, int64_t lx, int64_t *oh, int64_t *ow)
{
    carve(r, mem, pl);
    for (int64_t y = 0; y < ly; y++)
        memcpy(r->xa + y * lx * t->cin, in + ((y0 + y) * t->W + x0) * t->cin,
               (size_t)(lx * t->cin) * sizeof(float));
    return t->enc ? enc_core(r, ly, lx, oh, ow) : dec_core(r, ly, lx, oh, ow);
}

/* One tiled_scale pass over one image with tiles ty x tx (input units) and
 * overlap ov; adds its result to acc [OH, OW, cout].  res and div are
 * scratch of OH·OW·cout and OH·OW floats. */
static int tiled_pass(vrun *r, const vplan *pl, float *mem, const tiling *t, const float *in,
                      int64_t ty, int64_t tx, int64_t ov, float *acc, float *res, float *div)
{
    const int64_t OH = t->OH, OW = t->OW, C = t->cout;
    int64_t oh, ow;
    int rc;
    if (t->H <= ty && t->W <= tx) {
        if ((rc = run_tile(r, pl, mem, t, in, 0, 0, t->H, t->W, &oh, &ow)) < 0)
            return rc;
        if (oh != OH || ow != OW)
            return nr_fail(r->run, COMFY_EINVAL, "VAE tiles: unexpected tile output size");
        for (int64_t i = 0; i < OH * OW * C; i++)
            acc[i] += r->xa[i];
        return 0;
    }
    if ((t->H > ty && ty - ov <= 0) || (t->W > tx && tx - ov <= 0))
        return nr_fail(r->run, COMFY_EINVAL,
                       "VAE tiles: the overlap (%lld) must be smaller than the tile (%lldx%lld)",
                       (long long)ov, (long long)tx, (long long)ty);
    memset(res, 0, (size_t)(OH * OW * C) * sizeof *res);
    memset(div, 0, (size_t)(OH * OW) * sizeof *div);
    const int64_t fe = t_scale(t, ov);
    const int64_t ny = t->H > ty ? t->H - ov : 1, nx = t->W > tx ? t->W - ov : 1;
    const int64_t sy = t->H > ty ? ty - ov : 1, sx = t->W > tx ? tx - ov : 1;
    for (int64_t iy = 0; iy < ny; iy += sy) {
        for (int64_t ix = 0; ix < nx; ix += sx) {
            const int64_t py = iy > t->H - ov ? t->H - ov : iy, px = ix > t->W - ov ? t->W - ov : ix;
            const int64_t y0 = py < 0 ? 0 : py, x0 = px < 0 ? 0 : px;
            const int64_t ly = ty < t->H - y0 ? ty : t->H - y0, lx = tx < t->W - x0 ? tx : t->W - x0;
            if ((rc = run_tile(r, pl, mem, t, in, y0, x0, ly, lx, &oh, &ow)) < 0)
                return rc;
            const int64_t uy = t->enc ? nt_pyround(0.125 * (double)y0) : 8 * y0;
            const int64_t ux = t->enc ? nt_pyround(0.125 * (double)x0) : 8 * x0;
            if (uy + oh > OH || ux + ow > OW)
                return nr_fail(r->run, COMFY_EINVAL, "VAE tiles: a tile falls outside the output");
            for (int64_t y = 0; y < oh; y++) {
                const float my = nt_feather(1.0f, y, oh, fe);
                for (int64_t x = 0; x < ow; x++) {
                    const float m = nt_feather(my, x, ow, fe);
                    float *o = res + ((uy + y) * OW + ux + x) * C;
                    const float *s = r->xa + (y * ow + x) * C;
                    for (int64_t c = 0; c < C; c++)
                        o[c] += s[c] * m;
                    div[(uy + y) * OW + ux + x] += m;
                }
            }
            if ((rc = nr_check(r->run)) < 0)
                return rc;
        }
    }
    for (int64_t i = 0; i < OH * OW; i++)
        for (int64_t c = 0; c < C; c++)
            acc[i * C + c] += res[i * C + c] / div[i];
    return 0;
}

/* The largest core plan of three tilings. */
static int plan_tiles(const cd_vae *v, const tiling *t, const int64_t tiles[3][2], vplan *out)
{
    memset(out, 0, sizeof *out);
    for (int k = 0; k < 3; k++) {
        int64_t ly = tiles[k][0] < t->H ? tiles[k][0] : t->H;
        int64_t lx = tiles[k][1] < t->W ? tiles[k][1] : t->W;
        if (ly <= 0 || lx <= 0)
            continue; /* refused by tiled_pass */
        vplan p;
        if ((t->enc ? plan_encode(v, ly, lx, &p) : plan_decode(v, ly, lx, &p)) < 0)
            return -1;
        if (p.bytes > out->bytes)
            *out = p;
    }
    return out->bytes ? 0 : -1;
}

/* Three passes per image: acc = (pass0 + pass1 + pass2) / 3. in_img(b)
 * gives the NHWC input of image b in `in`; the averaged result goes to
 * acc. */
static int tiled3(const cd_vae *v, const cd_nets_run *run, tiling *t, const int64_t tiles[3][2],
                  int64_t ov, const float *in, float *acc)
{
    vplan pl;
    if (plan_tiles(v, t, tiles, &pl) < 0)
        return nr_fail(run, COMFY_EINVAL, "VAE tiles: bad tile or image size");
    const size_t outn = (size_t)(t->OH * t->OW * t->cout);
    void *heap;
    float *mem = nr_scratch(run, pl.bytes, &heap);
    if (!mem)
        return COMFY_ENOMEM;
    float *res = malloc(outn * sizeof *res), *div = malloc((size_t)(t->OH * t->OW) * sizeof *div);
    int rc = COMFY_ENOMEM;
    if (!res || !div) {
        nr_fail(run, rc, "out of memory for the tiled output");
        goto out;
    }
    vrun r = {v, run, run->pool, {v->prec, NULL, 0}, 0, 0, 0, 0, 0, 0};
    memset(acc, 0, outn * sizeof *acc);
    for (int k = 0; k < 3; k++)
        if ((rc = tiled_pass(&r, &pl, mem, t, in, tiles[k][0], tiles[k][1], ov, acc, res, div)) < 0)
            goto out;
    for (size_t i = 0; i < outn; i++)
        acc[i] = acc[i] / 3.0f;
    rc = 0;
out:
    free(res);
    free(div);
    free(heap);
    return rc;
}

int cd_vae_decode_tiled(const cd_vae *v, const cd_nets_run *run, const float *z, int64_t B,
                        int64_t h, int64_t w, int64_t tile_x, int64_t tile_y, int64_t overlap,
                        float *img)
{
    if (!run)
        run = &quiet_run;
    vplan pl;
    if (!v || !z || !img || B <= 0 || plan_decode(v, h, w, &pl) < 0 || tile_x <= 0 ||
        tile_y <= 0 || overlap < 0)
        return nr_fail(run, COMFY_EINVAL, "VAE tiled decode: bad input");
    const int64_t E = v->embed;
    tiling t = {0, h, w, E, 3, 8 * h, 8 * w};
    const int64_t tiles[3][2] = {{tile_y * 2, tile_x / 2}, {tile_y / 2, tile_x * 2}, {tile_y, tile_x}};
    float *in = malloc((size_t)(h * w * E) * sizeof *in);
    if (!in)
        return nr_fail(run, COMFY_ENOMEM, "out of memory");
    int rc = 0;
    for (int64_t b = 0; b < B && rc == 0; b++) {
        ck_nchw_to_nhwc(run->pool, z + b * E * h * w, in, 1, E, h * w);
        float *o = img + b * t.OH * t.OW * 3;
        if ((rc = tiled3(v, run, &t, tiles, overlap, in, o)) < 0)
            break;
        for (int64_t i = 0; i < t.OH * t.OW * 3; i++) {
            float s = (o[i] + 1.0f) / 2.0f;
            o[i] = s < 0.0f ? 0.0f : s > 1.0f ? 1.0f : s;
        }
    }
    free(in);
    return rc;
}

int cd_vae_encode_tiled(const cd_vae *v, const cd_nets_run *run, const float *img, int64_t B,
                        int64_t H, int64_t W, int64_t tile_x, int64_t tile_y, int64_t overlap,
                        float *z)
{
    if (!run)
        run = &quiet_run;
    vplan pl;
    if (!v || !img || !z || B <= 0 || plan_encode(v, H, W, &pl) < 0 || tile_x <= 0 ||
        tile_y <= 0 || overlap < 0)
        return nr_fail(run, COMFY_EINVAL, "VAE tiled encode: bad input");
    const int64_t E = v->embed;
    tiling t = {1, H, W, 3, E, nt_pyround(0.125 * (double)H), nt_pyround(0.125 * (double)W)};
    const int64_t tiles[3][2] = {{tile_y, tile_x}, {tile_y / 2, tile_x * 2}, {tile_y * 2, tile_x / 2}};
    float *in = malloc((size_t)(H * W * 3) * sizeof *in);
    float *acc = malloc((size_t)(t.OH * t.OW * E) * sizeof *acc);
    int rc = 0;
    if (!in || !acc) {
        rc = nr_fail(run, COMFY_ENOMEM, "out of memory");
        goto out;
    }
    for (int64_t b = 0; b < B && rc == 0; b++) {
        const float *x = img + b * H * W * 3;
        for (int64_t i = 0; i < H * W * 3; i++)
            in[i] = x[i] * 2.0f - 1.0f;
        if ((rc = tiled3(v, run, &t, tiles, overlap, in, acc)) < 0)
            break;
        ck_nhwc_to_nchw(run->pool, acc, z + b * E * t.OH * t.OW, 1, E, t.OH * t.OW);
    }
out:
    free(in);
    free(acc);
    return rc;
}

/* ---- operation count ------------------------------------------------------ */

static double vres_flops(const vres *r, double hw)
{
    double f = 2.0 * hw * 9.0 * (double)(r->cin * r->cout + r->cout * r->cout);
    if (r->has_skip)
        f += 2.0 * hw * (double)(r->cin * r->cout);
    return f;
}

static double vattn_flops(const vattn *a, double hw)
{
    return 2.0 * hw * (double)(a->c * a->c) * 4.0 + 4.0 * hw * hw * (double)a->c;
}

double cd_vae_decode_flops(const cd_vae *v, int64_t B, int64_t h, int64_t w)
{
    if (!v || !v->dec.present || B <= 0 || h <= 0 || w <= 0)
        return 0;
    const vhalf *d = &v->dec;
    double hw = (double)(h * w), f = 0;
    if (v->has_quant)
        f += 2.0 * hw * (double)(v->embed * v->z);
    f += 2.0 * hw * 9.0 * (double)(d->conv_in.cin * d->conv_in.cout);
    f += vres_flops(&d->mid1, hw) + vattn_flops(&d->attn, hw) + vres_flops(&d->mid2, hw);
    for (int l = v->n_levels - 1; l >= 0; l--) {
        const vlevel *L = &d->lv[l];
        for (int i = 0; i < L->nblocks; i++)
            f += vres_flops(&L->blk[i], hw);
        if (L->has_sample) {
            hw *= 4.0;
            f += 2.0 * hw * 9.0 * (double)(L->sample.cin * L->sample.cout);
        }
    }
    f += 2.0 * hw * 9.0 * (double)(d->conv_out.cin * d->conv_out.cout);
    return f * (double)B;
}

size_t cd_vae_tiled_scratch_bytes(const cd_vae *v, int encode, int64_t h, int64_t w,
                                  int64_t tile_x, int64_t tile_y)
{
    if (!v || h <= 0 || w <= 0 || tile_x <= 0 || tile_y <= 0)
        return 0;
    tiling t = {encode ? 1 : 0, h, w, 0, 0, 0, 0};
    int64_t tiles[3][2] = {{tile_y * 2, tile_x / 2}, {tile_y / 2, tile_x * 2}, {tile_y, tile_x}};
    vplan pl;
    if (plan_tiles(v, &t, (const int64_t(*)[2])tiles, &pl) < 0)
        return 0;
    return pl.bytes;
}
