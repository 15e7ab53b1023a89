/*
 * esrgan.c — ESRGAN / RRDBNet (see esrgan.h).
 *
 * One tile runs on buffers carved from one scratch block: the padded input,
 * the LR features (trunk input, running value, RRDB input), the dense
 * block's concatenation [L, nf + 4·32] with a gather buffer of the same
 * size (a convolution reads the first cin channels, copied contiguous),
 * and two HR buffers of the final size × nf for the upsampling convs.
 */
#include "esrgan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nets_internal.h"

#define GC 32       /* growth channels of every dense block (spandrel's gc) */
#define MAX_UP 4    /* upconvs accepted (x16)                               */
#define MAX_NB 1024 /* RRDB blocks accepted                                 */

enum { LAY_OLD = 0, LAY_NEW, LAY_BSR, LAY_COMPACT };

typedef struct rdb {
    nconv c[5];
    nlin c1x1; /* ESRGAN+: 1x1, no bias (in = nf, out = 32) */
} rdb;

struct cd_esrgan {
    int64_t nf, nb, up, in_nc, out_nc, shuffle, scale;
    int plus;
    int compact;     /* SRVGGNetCompact: first, nc body convs, last  */
    int64_t nc;      /* its body convs                               */
    nconv *body;     /* owned: nc convs (nf -> nf)                    */
    float **prelu;   /* owned: nc + 1 PReLU weights [nf] (borrowed arrays are in owned) */
    nconv first, trunk, ups[MAX_UP], hr, last;
    rdb *rdbs;       /* owned: nb * 3 */
    void **owned;    /* owned weight arrays */
    size_t n_owned;
    uint64_t bytes;
    char desc[96];
};

/* ---- detection ---------------------------------------------------------- */

static const char *common_prefix(const cd_sd *sd)
{
    static const char *const pre[] = {"module.", "netG."};
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++)
        if (sd->n && cd_sd_count_prefix(sd, pre[i]) == sd->n)
            return pre[i];
    return "";
}

static int has(const cd_sd *sd, const char *pre, const char *name)
{
    return cd_sd_findf(sd, "%s%s", pre, name) != NULL;
}

/* The layout of spandrel's ESRGAN detection, or -1. */
static int layout_of(const cd_sd *sd, const char *pre)
{
    if (has(sd, pre, "model.0.weight") && (has(sd, pre, "model.1.sub.0.RDB1.conv1.0.weight") ||
                                            has(sd, pre, "model.1.sub.0.RDB1.conv1x1.weight")))
        return LAY_OLD;
    if (has(sd, pre, "conv_first.weight") && has(sd, pre, "body.0.rdb1.conv1.weight") &&
        has(sd, pre, "conv_body.weight") && has(sd, pre, "conv_last.weight"))
        return LAY_NEW;
    if (has(sd, pre, "conv_first.weight") && has(sd, pre, "RRDB_trunk.0.RDB1.conv1.weight") &&
        has(sd, pre, "trunk_conv.weight") && has(sd, pre, "conv_last.weight"))
        return LAY_BSR;
    if (has(sd, pre, "body.0.weight") && has(sd, pre, "body.1.weight"))
        return LAY_COMPACT;
    return -1;
}

int cd_esrgan_detect(const cd_sd *sd)
{
    return sd && layout_of(sd, common_prefix(sd)) >= 0;
}

/* The largest integer k for names pre + head + "<k>" + tail... (a
 * decimal followed by '.'), or -1. */
static int64_t max_index(const cd_sd *sd, const char *pre, const char *head)
{
    char p[128];
    snprintf(p, sizeof p, "%s%s", pre, head);
    const size_t pl = strlen(p);
    int64_t best = -1;
    for (size_t i = 0; i < sd->n; i++) {
        const char *nm = cd_sd_at(sd, i)->name;
        if (strncmp(nm, p, pl) != 0)
            continue;
        const char *s = nm + pl;
        if (*s < '0' || *s > '9')
            continue;
        char *end;
        long v = strtol(s, &end, 10);
        if ((*end == '.' || *end == 0) && v > best && v < 1000000)
            best = v;
    }
    return best;
}

/* ---- loading ------------------------------------------------------------ */

typedef struct names {
    int lay;
    char buf[160];
} names;

static const char *nm_rdb(names *n, int64_t b, int r, int k)
{
    static const char *const f[] = {"model.1.sub.%lld.RDB%d.conv%d.0", "body.%lld.rdb%d.conv%d",
                                    "RRDB_trunk.%lld.RDB%d.conv%d"};
    snprintf(n->buf, sizeof n->buf, f[n->lay], (long long)b, r, k);
    return n->buf;
}

static int load_conv(nstore *s, const char *base, nconv *c, int64_t cin, int64_t cout)
{
    const cd_tensor *t = ns_find(s, "%s.weight", base);
    if (t && (t->ndim != 4 || t->shape[0] != cout || t->shape[1] != cin || t->shape[2] != 3 ||
              t->shape[3] != 3)) {
        if (s->err && s->errlen)
            snprintf(s->err, s->errlen,
                     "tensor %s%s.weight has the wrong shape (expected [%lld, %lld, 3, 3])",
                     s->prefix, base, (long long)cout, (long long)cin);
        return COMFY_EINVAL;
    }
    return ns_conv(s, base, c, cin, cout, 3);
}

static int shape_fail(nstore *s, const char *what)
{
    if (s->err && s->errlen)
        snprintf(s->err, s->errlen, "ESRGAN: %s", what);
    return COMFY_EINVAL;
}

/* The name of upconv u (1-based) in the new / BSRGAN layouts. */
static const char *up_name(nstore *s, int lay, int64_t u, char *buf, size_t cap)
{
    if (lay == LAY_OLD) {
        snprintf(buf, cap, "model.%lld", (long long)(3 * u));
        return buf;
    }
    snprintf(buf, cap, "conv_up%lld", (long long)u);
    if (ns_has(s, "%s.weight", buf))
        return buf;
    snprintf(buf, cap, "upconv%lld", (long long)u);
    return buf;
}

/* spandrel's Compact: body.0 conv (in -> nf), body.1 PReLU, num_conv x
 * (conv nf -> nf, PReLU), last conv (nf -> out·s²); scale and out_nc by
 * get_scale_and_output_channels (candidates in_nc, 3, 4, 1). */
static int load_compact(nstore *s, const cd_sd *sd, const char *pre, cd_esrgan *m)
{
    int rc;
    const int64_t highest = max_index(sd, pre, "body.");
    const cd_tensor *t0 = ns_find(s, "body.0.weight");
    const cd_tensor *tb = ns_find(s, "body.%lld.bias", (long long)highest);
    if (highest < 2 || !t0 || t0->ndim != 4 || !tb || tb->ndim != 1)
        return shape_fail(s, "Compact: no 4-d body.0.weight or last body bias");
    m->compact = 1;
    m->nf = t0->shape[0];
    m->in_nc = t0->shape[1];
    m->nc = (highest - 2) / 2;
    const int64_t x = tb->shape[0];
    const int64_t cand[4] = {m->in_nc, 3, 4, 1};
    m->scale = 0;
    for (int i = 0; i < 4 && !m->scale; i++) {
        if (cand[i] <= 0 || x % cand[i])
            continue;
        const int64_t q = x / cand[i], r = (int64_t)llround(sqrt((double)q));
        if (r * r == q) {
            m->scale = r;
            m->out_nc = cand[i];
        }
    }
    if (!m->scale || m->nc > MAX_NB || m->nf < 1 || m->nf > 4096 || m->scale > 16)
        return shape_fail(s, "Compact: unsupported sizes (no scale / out channels fit the last "
                             "convolution)");
    if (m->in_nc != 3 || m->out_nc != 3) {
        if (s->err && s->errlen)
            snprintf(s->err, s->errlen,
                     "Compact model with %lld input / %lld output channels: only RGB models "
                     "(3 / 3) are supported",
                     (long long)m->in_nc, (long long)m->out_nc);
        return COMFY_EINVAL;
    }
    m->body = calloc((size_t)(m->nc ? m->nc : 1), sizeof *m->body);
    m->prelu = calloc((size_t)(m->nc + 1), sizeof *m->prelu);
    if (!m->body || !m->prelu)
        return COMFY_ENOMEM;
    char nm[64];
    if ((rc = load_conv(s, "body.0", &m->first, m->in_nc, m->nf)) < 0)
        return rc;
    for (int64_t i = 0; i <= m->nc; i++) {
        ns_name(s, "body.%lld.weight", (long long)(2 * i + 1));
        if ((rc = ns_vec(s, &m->prelu[i], m->nf)) < 0)
            return rc;
        if (i == m->nc)
            break;
        snprintf(nm, sizeof nm, "body.%lld", (long long)(2 * i + 2));
        if ((rc = load_conv(s, nm, &m->body[i], m->nf, m->nf)) < 0)
            return rc;
    }
    snprintf(nm, sizeof nm, "body.%lld", (long long)highest);
    if (highest != 2 * m->nc + 2)
        return shape_fail(s, "Compact: the body layers do not alternate conv / PReLU");
    return load_conv(s, nm, &m->last, m->nf, m->out_nc * m->scale * m->scale);
}

int cd_esrgan_load(const cd_sd *sd, cd_esrgan **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = 0;
    const char *pre = sd ? common_prefix(sd) : "";
    const int lay = sd ? layout_of(sd, pre) : -1;
    if (lay < 0 && sd && sd->n == 0) {
        if (err && errlen)
            snprintf(err, errlen, "no tensors in the state dict (a .pth holding several "
                                  "dicts, e.g. params and params_ema, is not read)");
        return COMFY_EINVAL;
    }
    if (lay < 0) {
        if (err && errlen)
            snprintf(err, errlen,
                     "unsupported upscale model architecture (only ESRGAN / RRDBNet and "
                     "Real-ESRGAN Compact models are supported)");
        return COMFY_EINVAL;
    }
    cd_esrgan *m = calloc(1, sizeof *m);
    if (!m)
        return COMFY_ENOMEM;
    nstore s;
    ns_init(&s, sd, pre, CD_NETS_WEIGHTS_F32, err, errlen);
    int rc = 0;
    if (lay == LAY_COMPACT) {
        if ((rc = load_compact(&s, sd, pre, m)) < 0)
            goto fail;
        goto done;
    }
    char nb_[64], hb[64], lb[64];
    const char *first = lay == LAY_OLD ? "model.0" : "conv_first";
    const cd_tensor *tf = ns_find(&s, "%s.weight", first);
    /* blocks, upconvs, channels */
    if (lay == LAY_OLD) {
        m->nb = max_index(sd, pre, "model.1.sub.");
        const int64_t seq = max_index(sd, pre, "model.") + 1;
        m->up = (seq - 5) / 3;
        if (seq < 5 || (seq - 5) % 3 != 0) {
            rc = shape_fail(&s, "the model.N layers do not make an RRDBNet sequence");
            goto fail;
        }
        snprintf(nb_, sizeof nb_, "model.1.sub.%lld", (long long)m->nb);
        snprintf(hb, sizeof hb, "model.%lld", (long long)(3 * m->up + 2));
        snprintf(lb, sizeof lb, "model.%lld", (long long)(3 * m->up + 4));
    } else {
        m->nb = max_index(sd, pre, lay == LAY_NEW ? "body." : "RRDB_trunk.") + 1;
        int64_t a = max_index(sd, pre, "conv_up"), b = max_index(sd, pre, "upconv");
        m->up = a > b ? a : b;
        m->up = m->up < 0 ? 0 : m->up;
        snprintf(nb_, sizeof nb_, "%s", lay == LAY_NEW ? "conv_body" : "trunk_conv");
        snprintf(hb, sizeof hb, "%s", ns_has(&s, "conv_hr.weight") ? "conv_hr" : "HRconv");
        snprintf(lb, sizeof lb, "conv_last");
    }
    const cd_tensor *tl = ns_find(&s, "%s.weight", lb);
    if (!tf || tf->ndim != 4 || !tl || tl->ndim != 4) {
        rc = shape_fail(&s, "no 4-d first / last convolution weight");
        goto fail;
    }
    m->nf = tf->shape[0];
    m->in_nc = tf->shape[1];
    m->out_nc = tl->shape[0];
    if (m->nb < 1 || m->nb > MAX_NB || m->up > MAX_UP || m->nf < 1 || m->nf > 4096) {
        if (err && errlen)
            snprintf(err, errlen, "ESRGAN: unsupported size (%lld blocks, %lld upconvs, nf %lld)",
                     (long long)m->nb, (long long)m->up, (long long)m->nf);
        rc = COMFY_EINVAL;
        goto fail;
    }
    /* Real-ESRGAN's pixel-unshuffle (spandrel: in_nc is 4 or 16 x out_nc) */
    m->shuffle = 0;
    if (m->in_nc == m->out_nc * 4)
        m->shuffle = 2;
    else if (m->in_nc == m->out_nc * 16)
        m->shuffle = 4;
    m->scale = ((int64_t)1 << m->up) / (m->shuffle ? m->shuffle : 1);
    const int64_t img_c = m->shuffle ? m->in_nc / (m->shuffle * m->shuffle) : m->in_nc;
    if (img_c != 3 || m->out_nc != 3) {
        if (err && errlen)
            snprintf(err, errlen,
                     "ESRGAN with %lld input / %lld output channels: only RGB models (3 / 3) "
                     "are supported",
                     (long long)img_c, (long long)m->out_nc);
        rc = COMFY_EINVAL;
        goto fail;
    }
    if (m->scale < 1) {
        rc = shape_fail(&s, "the unshuffle factor is larger than the upscale");
        goto fail;
    }
    for (size_t i = 0; i < sd->n && lay == LAY_OLD; i++)
        if (strstr(cd_sd_at(sd, i)->name, ".conv1x1."))
            m->plus = 1;
    m->rdbs = calloc((size_t)(m->nb * 3), sizeof *m->rdbs);
    if (!m->rdbs) {
        rc = COMFY_ENOMEM;
        goto fail;
    }
    names nm = {lay, ""};
    if ((rc = load_conv(&s, first, &m->first, m->in_nc, m->nf)) < 0)
        goto fail;
    for (int64_t b = 0; b < m->nb; b++)
        for (int r = 1; r <= 3; r++) {
            rdb *d = &m->rdbs[b * 3 + r - 1];
            for (int k = 1; k <= 5; k++)
                if ((rc = load_conv(&s, nm_rdb(&nm, b, r, k), &d->c[k - 1],
                                    m->nf + (k - 1) * GC, k < 5 ? GC : m->nf)) < 0)
                    goto fail;
            if (m->plus) {
                char base[96];
                snprintf(base, sizeof base, "model.1.sub.%lld.RDB%d.conv1x1", (long long)b, r);
                if ((rc = ns_lin(&s, base, &d->c1x1, m->nf, GC, 0)) < 0)
                    goto fail;
            }
        }
    if ((rc = load_conv(&s, nb_, &m->trunk, m->nf, m->nf)) < 0)
        goto fail;
    for (int64_t u = 0; u < m->up; u++) {
        char ub[64];
        if ((rc = load_conv(&s, up_name(&s, lay, u + 1, ub, sizeof ub), &m->ups[u], m->nf,
                            m->nf)) < 0)
            goto fail;
    }
    if ((rc = load_conv(&s, hb, &m->hr, m->nf, m->nf)) < 0 ||
        (rc = load_conv(&s, lb, &m->last, m->nf, m->out_nc)) < 0)
        goto fail;
done:
    m->owned = s.owned;
    m->n_owned = s.n_owned;
    m->bytes = s.bytes + (uint64_t)(m->nb * 3) * sizeof *m->rdbs;
    if (m->compact)
        snprintf(m->desc, sizeof m->desc, "RealESRGAN Compact %lldnf %lldnc x%lld",
                 (long long)m->nf, (long long)m->nc, (long long)m->scale);
    else
        snprintf(m->desc, sizeof m->desc, "ESRGAN %lldnf %lldnb x%lld%s%s", (long long)m->nf,
                 (long long)m->nb, (long long)m->scale, m->plus ? " ESRGAN+" : "",
                 m->shuffle ? " unshuffle" : "");
    *out = m;
    return 0;
fail:
    ns_release(s.owned, s.n_owned);
    free(m->rdbs);
    free(m->body);
    free(m->prelu);
    free(m);
    return rc;
}

void cd_esrgan_free(cd_esrgan *m)
{
    if (!m)
        return;
    ns_release(m->owned, m->n_owned);
    free(m->rdbs);
    free(m->body);
    free(m->prelu);
    free(m);
}

int cd_esrgan_scale(const cd_esrgan *m) { return m ? (int)m->scale : 0; }
const char *cd_esrgan_describe(const cd_esrgan *m) { return m ? m->desc : ""; }
uint64_t cd_esrgan_weight_bytes(const cd_esrgan *m) { return m ? m->bytes : 0; }

/* ---- sizes -------------------------------------------------------------- */

#define MAX_SIDE (1 << 15)

/* spandrel's size requirement: minimum 2, a multiple of 4 with unshuffle
 * (minimum then 4). */
static int64_t padded_side(const cd_esrgan *m, int64_t n)
{
    const int64_t mult = m->shuffle ? 4 : 1, mn = m->shuffle ? 4 : m->compact ? 1 : 2;
    n = n < mn ? mn : n;
    return (n + mult - 1) / mult * mult;
}

typedef struct tsizes {
    int64_t ph, pw;  /* padded input        */
    int64_t hl, wl;  /* LR (after unshuffle) */
    int64_t L, HR;   /* LR / HR pixels       */
    int64_t cat;     /* nf + 4·32            */
    int64_t floats;  /* all buffers          */
} tsizes;

static int tile_sizes(const cd_esrgan *m, int64_t th, int64_t tw, tsizes *z)
{
    if (!m || th <= 0 || tw <= 0 || th > MAX_SIDE || tw > MAX_SIDE)
        return -1;
    z->ph = padded_side(m, th);
    z->pw = padded_side(m, tw);
    const int64_t r = m->shuffle ? m->shuffle : 1;
    z->hl = z->ph / r;
    z->wl = z->pw / r;
    z->L = z->hl * z->wl;
    const int64_t up = m->compact ? m->scale : (int64_t)1 << m->up;
    z->HR = z->L * up * up;
    if (z->HR > ((int64_t)1 << 30) / (m->nf > 3 ? m->nf : 3))
        return -1;
    z->cat = m->nf + 4 * GC;
    const int64_t mx = m->nf > GC ? m->nf : GC;
    /* pin, lr, fea, cur, rin, cat, tin, tout, tplus, h1, h2 (16-rounded) */
    int64_t f = 0;
    f += (z->ph * z->pw * 3 + 15) / 16 * 16;
    f += (z->L * m->in_nc + 15) / 16 * 16;
    f += 3 * ((z->L * m->nf + 15) / 16 * 16);
    f += 2 * ((z->L * z->cat + 15) / 16 * 16);
    f += (z->L * mx + 15) / 16 * 16;
    f += (z->L * GC + 15) / 16 * 16;
    f += 2 * ((z->HR * (m->nf > 3 ? m->nf : 3) + 15) / 16 * 16);
    z->floats = f;
    return 0;
}

size_t cd_esrgan_tile_scratch_bytes(const cd_esrgan *m, int64_t th, int64_t tw)
{
    tsizes z;
    if (tile_sizes(m, th, tw, &z) < 0)
        return 0;
    return (size_t)z.floats * sizeof(float) + 4096;
}

int64_t cd_esrgan_tile_steps(int64_t H, int64_t W, int64_t tile, int64_t overlap)
{
    if (tile - overlap <= 0)
        return 1;
    const int64_t rows = H <= tile ? 1 : (H - overlap + tile - overlap - 1) / (tile - overlap);
    const int64_t cols = W <= tile ? 1 : (W - overlap + tile - overlap - 1) / (tile - overlap);
    return rows * cols;
}

/* ---- forward ------------------------------------------------------------ */

typedef struct erun {
    const cd_esrgan *m;
    const cd_nets_run *run;
    ck_pool *p;
    nexec ex;
    tsizes z;
    float *pin, *lr, *fea, *cur, *rin, *cat, *tin, *tout, *tplus, *h1, *h2;
} erun;

/* Elementwise jobs in chunks on the pool. */
enum { EW_LRELU, EW_AXPY02, EW_ADD };
typedef struct ew {
    int op;
    const float *a;
    float *y;
    int64_t n;
} ew;

#define EW_CHUNK 32768

static void ew_task(void *arg, int64_t task, int thread)
{
    const ew *e = arg;
    (void)thread;
    const int64_t i0 = task * EW_CHUNK, i1 = i0 + EW_CHUNK < e->n ? i0 + EW_CHUNK : e->n;
    switch (e->op) {
    case EW_LRELU:
        for (int64_t i = i0; i < i1; i++)
            e->y[i] = e->y[i] > 0.0f ? e->y[i] : e->y[i] * 0.2f;
        break;
    case EW_AXPY02: /* y = y·0.2 + a (torch: out * 0.2 + x) */
        for (int64_t i = i0; i < i1; i++) {
            float t = e->y[i] * 0.2f;
            e->y[i] = t + e->a[i];
        }
        break;
    default: /* y += a */
        for (int64_t i = i0; i < i1; i++)
            e->y[i] += e->a[i];
        break;
    }
}

static void ew_run(ck_pool *p, int op, const float *a, float *y, int64_t n)
{
    ew e = {op, a, y, n};
    ck_pool_run(p, (n + EW_CHUNK - 1) / EW_CHUNK, ew_task, &e);
}

/* dst[i, 0..c) = src[i·sstride + soff ..] for L pixels. */
static void copy_ch(float *dst, int64_t dstride, int64_t doff, const float *src, int64_t sstride,
                    int64_t soff, int64_t c, int64_t L)
{
    for (int64_t i = 0; i < L; i++)
        memcpy(dst + i * dstride + doff, src + i * sstride + soff, (size_t)c * sizeof(float));
}

/* x [L, nf] -> x: one residual dense block. */
static int rdb_fwd(erun *r, const rdb *d, float *x)
{
    const cd_esrgan *m = r->m;
    const int64_t L = r->z.L, C = r->z.cat, hl = r->z.hl, wl = r->z.wl;
    int rc;
    copy_ch(r->cat, C, 0, x, m->nf, 0, m->nf, L);
    if (m->plus && (rc = nl_apply(r->p, &d->c1x1, x, L, r->tplus, &r->ex)) < 0)
        return rc;
    for (int k = 1; k <= 5; k++) {
        const int64_t cin = m->nf + (k - 1) * GC;
        const float *in = x;
        if (k > 1) {
            copy_ch(r->tin, cin, 0, r->cat, C, 0, cin, L);
            in = r->tin;
        }
        if ((rc = nc_apply(r->p, &d->c[k - 1], in, 1, hl, wl, 1, 1, r->tout, &r->ex)) < 0)
            return rc;
        if (k == 5)
            break;
        ew_run(r->p, EW_LRELU, NULL, r->tout, L * GC);
        if (m->plus && k == 2)
            ew_run(r->p, EW_ADD, r->tplus, r->tout, L * GC);
        if (m->plus && k == 4) { /* x4 += x2 (channels nf+32 .. nf+64 of cat) */
            copy_ch(r->tplus, GC, 0, r->cat, C, m->nf + GC, GC, L);
            ew_run(r->p, EW_ADD, r->tplus, r->tout, L * GC);
        }
        copy_ch(r->cat, C, m->nf + (k - 1) * GC, r->tout, GC, 0, GC, L);
    }
    ew_run(r->p, EW_AXPY02, x, r->tout, L * m->nf); /* tout = x5·0.2 + x */
    memcpy(x, r->tout, (size_t)(L * m->nf) * sizeof(float));
    return 0;
}

/* x [L, nf] -> x: PReLU with per-channel slopes w. */
typedef struct pr {
    const float *w;
    float *y;
    int64_t L, C;
} pr;

static void prelu_task(void *arg, int64_t task, int thread)
{
    const pr *e = arg;
    (void)thread;
    const int64_t n = e->L * e->C, i0 = task * EW_CHUNK, i1 = i0 + EW_CHUNK < n ? i0 + EW_CHUNK : n;
    for (int64_t i = i0; i < i1; i++) {
        const float v = e->y[i];
        e->y[i] = v > 0.0f ? v : e->w[i % e->C] * v;
    }
}

static void prelu(ck_pool *p, const float *w, float *y, int64_t L, int64_t C)
{
    pr e = {w, y, L, C};
    ck_pool_run(p, (L * C + EW_CHUNK - 1) / EW_CHUNK, prelu_task, &e);
}

/* SRVGGNetCompact on x [h, w, 3] (h = th, no padding): convs + PReLU,
 * pixel_shuffle, + nearest-upsampled input; clamped into o. */
static int compact_fwd(erun *r, const float *x, int64_t h, int64_t w, float *o)
{
    const cd_esrgan *m = r->m;
    const int64_t L = h * w, nf = m->nf, s = m->scale, C = m->out_nc;
    float *a = r->fea, *b = r->cur;
    int rc;
    if ((rc = nc_apply(r->p, &m->first, x, 1, h, w, 1, 1, a, &r->ex)) < 0)
        return rc;
    prelu(r->p, m->prelu[0], a, L, nf);
    for (int64_t i = 0; i < m->nc; i++) {
        if ((rc = nc_apply(r->p, &m->body[i], a, 1, h, w, 1, 1, b, &r->ex)) < 0)
            return rc;
        prelu(r->p, m->prelu[i + 1], b, L, nf);
        float *t = a;
        a = b;
        b = t;
        if ((rc = nr_check(r->run)) < 0)
            return rc;
    }
    if ((rc = nc_apply(r->p, &m->last, a, 1, h, w, 1, 1, r->h1, &r->ex)) < 0)
        return rc;
    /* PixelShuffle: out[c, y·s + dy, x·s + dx] = in[c·s² + dy·s + dx, y, x];
     * then out += nearest(x), clamp_(0, 1) */
    const int64_t ow = w * s, cs = C * s * s;
    for (int64_t y = 0; y < h; y++)
        for (int64_t xx = 0; xx < w; xx++)
            for (int64_t dy = 0; dy < s; dy++)
                for (int64_t dx = 0; dx < s; dx++)
                    for (int64_t c = 0; c < C; c++) {
                        float v = r->h1[(y * w + xx) * cs + c * s * s + dy * s + dx];
                        v += x[(y * w + xx) * 3 + c];
                        o[((y * s + dy) * ow + xx * s + dx) * C + c] =
                            v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
                    }
    return nr_check(r->run);
}

/* One call of the model: tile [th, tw, 3] -> o [th·s, tw·s, 3] (clamped). */
static int model_fwd(erun *r, const float *tile, int64_t th, int64_t tw, float *o)
{
    const cd_esrgan *m = r->m;
    const int64_t ph = r->z.ph, pw = r->z.pw, hl = r->z.hl, wl = r->z.wl, L = r->z.L;
    const int64_t nf = m->nf;
    int rc;
    /* spandrel's pad_tensor: reflect (at most side - 1), then replicate */
    const int64_t rph = ph - th < th - 1 ? ph - th : th - 1;
    const int64_t rpw = pw - tw < tw - 1 ? pw - tw : tw - 1;
    for (int64_t y = 0; y < ph; y++) {
        const int64_t sy = y < th ? y : y < th + rph ? 2 * (th - 1) - y : th - 1 - rph;
        for (int64_t x = 0; x < pw; x++) {
            const int64_t sx = x < tw ? x : x < tw + rpw ? 2 * (tw - 1) - x : tw - 1 - rpw;
            memcpy(r->pin + (y * pw + x) * 3, tile + (sy * tw + sx) * 3, 3 * sizeof(float));
        }
    }
    const float *lr = r->pin;
    if (m->shuffle) { /* torch.pixel_unshuffle: channel c·s² + dy·s + dx */
        const int64_t s = m->shuffle, cin = m->in_nc;
        for (int64_t y = 0; y < hl; y++)
            for (int64_t x = 0; x < wl; x++)
                for (int64_t c = 0; c < 3; c++)
                    for (int64_t dy = 0; dy < s; dy++)
                        for (int64_t dx = 0; dx < s; dx++)
                            r->lr[(y * wl + x) * cin + c * s * s + dy * s + dx] =
                                r->pin[((y * s + dy) * pw + x * s + dx) * 3 + c];
        lr = r->lr;
    }
    if (m->compact)
        return compact_fwd(r, lr, th, tw, o);
    if ((rc = nc_apply(r->p, &m->first, lr, 1, hl, wl, 1, 1, r->fea, &r->ex)) < 0)
        return rc;
    memcpy(r->cur, r->fea, (size_t)(L * nf) * sizeof(float));
    for (int64_t b = 0; b < m->nb; b++) {
        memcpy(r->rin, r->cur, (size_t)(L * nf) * sizeof(float));
        for (int k = 0; k < 3; k++)
            if ((rc = rdb_fwd(r, &m->rdbs[b * 3 + k], r->cur)) < 0)
                return rc;
        ew_run(r->p, EW_AXPY02, r->rin, r->cur, L * nf);
        if ((rc = nr_check(r->run)) < 0)
            return rc;
    }
    if ((rc = nc_apply(r->p, &m->trunk, r->cur, 1, hl, wl, 1, 1, r->tin, &r->ex)) < 0)
        return rc;
    ew_run(r->p, EW_ADD, r->tin, r->fea, L * nf); /* fea = fea + trunk */
    const float *src = r->fea;
    int64_t h = hl, w = wl;
    for (int64_t u = 0; u < m->up; u++) {
        if ((rc = ck_resize(r->p, CK_RESIZE_NEAREST, src, 1, h, w, nf, r->h1, 2 * h, 2 * w)) < 0)
            return rc;
        h *= 2;
        w *= 2;
        if ((rc = nc_apply(r->p, &m->ups[u], r->h1, 1, h, w, 1, 1, r->h2, &r->ex)) < 0)
            return rc;
        ew_run(r->p, EW_LRELU, NULL, r->h2, h * w * nf);
        src = r->h2;
    }
    if ((rc = nc_apply(r->p, &m->hr, src, 1, h, w, 1, 1, r->h1, &r->ex)) < 0)
        return rc;
    ew_run(r->p, EW_LRELU, NULL, r->h1, h * w * nf);
    if ((rc = nc_apply(r->p, &m->last, r->h1, 1, h, w, 1, 1, r->h2, &r->ex)) < 0)
        return rc;
    /* clamp_(0, 1), then the crop to th·s x tw·s */
    const int64_t oh = th * m->scale, ow = tw * m->scale;
    for (int64_t y = 0; y < oh; y++)
        for (int64_t x = 0; x < ow * 3; x++) {
            float v = r->h2[y * w * 3 + x];
            o[y * ow * 3 + x] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
    return nr_check(r->run);
}

static void carve(erun *r, float *mem)
{
    const cd_esrgan *m = r->m;
    const tsizes *z = &r->z;
    const int64_t mx = m->nf > GC ? m->nf : GC;
#define TAKE(ptr, n)                                                                               \
    do {                                                                                           \
        (ptr) = mem;                                                                               \
        mem += ((n) + 15) / 16 * 16;                                                               \
    } while (0)
    TAKE(r->pin, z->ph * z->pw * 3);
    TAKE(r->lr, z->L * m->in_nc);
    TAKE(r->fea, z->L * m->nf);
    TAKE(r->cur, z->L * m->nf);
    TAKE(r->rin, z->L * m->nf);
    TAKE(r->cat, z->L * z->cat);
    TAKE(r->tin, z->L * z->cat);
    TAKE(r->tout, z->L * mx);
    TAKE(r->tplus, z->L * GC);
    TAKE(r->h1, z->HR * (m->nf > 3 ? m->nf : 3));
    TAKE(r->h2, z->HR * (m->nf > 3 ? m->nf : 3));
#undef TAKE
}

/* ---- tiled_scale -------------------------------------------------------- */

static const cd_nets_run quiet_run;

size_t cd_esrgan_upscale_scratch_bytes(const cd_esrgan *m, int64_t H, int64_t W, int64_t tile)
{
    if (!m || H <= 0 || W <= 0 || tile <= 0 || H > MAX_SIDE || W > MAX_SIDE)
        return 0;
    const int64_t ly = H < tile ? H : tile, lx = W < tile ? W : tile;
    const size_t t = cd_esrgan_tile_scratch_bytes(m, ly, lx);
    if (!t)
        return 0;
    const int64_t s = m->scale, OH = H * s, OW = W * s;
    const int64_t blend = OH * OW * 4 + ly * lx * 3 + ly * s * lx * s * 3;
    return t + (size_t)blend * sizeof(float);
}

int cd_esrgan_upscale(const cd_esrgan *m, const cd_nets_run *run, const float *img, int64_t B,
                      int64_t H, int64_t W, int64_t tile, int64_t ov, float *out,
                      cd_esrgan_progress_fn progress, void *puser)
{
    if (!run)
        run = &quiet_run;
    const size_t bytes = cd_esrgan_upscale_scratch_bytes(m, H, W, tile);
    if (!img || !out || B <= 0 || ov < 0 || bytes == 0)
        return nr_fail(run, COMFY_EINVAL, "ESRGAN upscale: bad input (B=%lld, image %lldx%lld, "
                       "tile %lld)", (long long)B, (long long)W, (long long)H, (long long)tile);
    const int single = H <= tile && W <= tile;
    if (!single && tile - ov <= 0)
        return nr_fail(run, COMFY_EINVAL,
                       "ESRGAN upscale: the overlap (%lld) must be smaller than the tile (%lld)",
                       (long long)ov, (long long)tile);
    const int64_t s = m->scale, OH = H * s, OW = W * s, C = 3;
    const int64_t ly = H < tile ? H : tile, lx = W < tile ? W : tile;
    void *heap;
    float *mem = nr_scratch(run, bytes, &heap);
    if (!mem)
        return COMFY_ENOMEM;
    erun r = {m, run, run->pool, {CK_PREC_F32, NULL, 0}, {0}, NULL, NULL, NULL, NULL, NULL,
              NULL, NULL, NULL, NULL, NULL, NULL};
    const size_t tb = cd_esrgan_tile_scratch_bytes(m, ly, lx);
    /* the blend buffers follow the largest tile's (tb is a multiple of 64) */
    float *res = mem + tb / sizeof(float), *div = res + OH * OW * C, *tin = div + OH * OW,
          *tout = tin + ly * lx * 3;
    const int64_t total = B * cd_esrgan_tile_steps(H, W, tile, ov);
    const int64_t feather = ov * s; /* round(overlap · scale) */
    int64_t done = 0;
    int rc = 0;
    for (int64_t b = 0; b < B && rc == 0; b++) {
        const float *in = img + b * H * W * C;
        float *o = out + b * OH * OW * C;
        if (single) {
            if (tile_sizes(m, H, W, &r.z) < 0) {
                rc = nr_fail(run, COMFY_EINVAL, "ESRGAN upscale: tile too large");
                break;
            }
            carve(&r, mem);
            rc = model_fwd(&r, in, H, W, o);
            if (rc == 0 && progress)
                progress(puser, ++done, total);
            continue;
        }
        memset(res, 0, (size_t)(OH * OW * C) * sizeof *res);
        memset(div, 0, (size_t)(OH * OW) * sizeof *div);
        const int64_t ny = H > tile ? H - ov : 1, nx = W > tile ? W - ov : 1;
        const int64_t sy = H > tile ? tile - ov : 1, sx = W > tile ? tile - ov : 1;
        for (int64_t iy = 0; iy < ny && rc == 0; iy += sy) {
            for (int64_t ix = 0; ix < nx && rc == 0; ix += sx) {
                int64_t y0 = iy > H - ov ? H - ov : iy, x0 = ix > W - ov ? W - ov : ix;
                y0 = y0 < 0 ? 0 : y0;
                x0 = x0 < 0 ? 0 : x0;
                const int64_t th = tile < H - y0 ? tile : H - y0;
                const int64_t tw = tile < W - x0 ? tile : W - x0;
                for (int64_t y = 0; y < th; y++)
                    memcpy(tin + y * tw * C, in + ((y0 + y) * W + x0) * C,
                           (size_t)(tw * C) * sizeof(float));
                if (tile_sizes(m, th, tw, &r.z) < 0) {
                    rc = nr_fail(run, COMFY_EINVAL, "ESRGAN upscale: tile too large");
                    break;
                }
                carve(&r, mem);
                if ((rc = model_fwd(&r, tin, th, tw, tout)) < 0)
                    break;
                const int64_t oh = th * s, ow = tw * s, uy = y0 * s, ux = x0 * s;
                for (int64_t y = 0; y < oh; y++) {
                    const float my = nt_feather(1.0f, y, oh, feather);
                    for (int64_t x = 0; x < ow; x++) {
                        const float mk = nt_feather(my, x, ow, feather);
                        const int64_t po = (uy + y) * OW + ux + x;
                        for (int64_t c = 0; c < C; c++)
                            res[po * C + c] += tout[(y * ow + x) * C + c] * mk;
                        div[po] += mk;
                    }
                }
                if (progress)
                    progress(puser, ++done, total);
            }
        }
        if (rc == 0)
            for (int64_t p = 0; p < OH * OW; p++)
                for (int64_t c = 0; c < C; c++)
                    o[p * C + c] = res[p * C + c] / div[p];
    }
    free(heap);
    return rc;
}
