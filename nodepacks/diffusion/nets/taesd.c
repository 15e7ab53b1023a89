/*
 * taesd.c — the tiny autoencoder (see taesd.h).
 *
 * Every layer is 64 wide except the ends, so one image runs on three
 * ping-pong NHWC buffers of the largest activation (full resolution × 64
 * channels).  3x3 convolutions go to ck_conv2d_nhwc (stride 2 with
 * symmetric padding 1 in the encoder, as torch's Conv2d(padding=1)).
 */
#include "taesd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nets_internal.h"

#define TW 64        /* width of every inner layer */
#define TLAT 4       /* latent channels accepted   */

/* Decoder sequence (key numbers of nn.Sequential): conv 1 (L→64) and
 * ReLU; groups {3,4,5}+up+conv 7, {8,9,10}+up+conv 12, {13,14,15}+up+conv
 * 17, {18}; conv 19 (64→3).  Encoder: conv 0 (3→64), Block 1, then
 * {conv 2 s2, 3,4,5}, {6, 7,8,9}, {10, 11,12,13}, conv 14 (64→L). */
typedef struct tblock {
    nconv c0, c2, c4;
} tblock;

typedef struct thalf {
    int present;
    nconv first, last;
    nconv mid[3];      /* decoder: convs 7, 12, 17; encoder: strided 2, 6, 10 */
    tblock blk[10];    /* decoder: 3,4,5,8,9,10,13,14,15,18; encoder: 1,3,4,5,7,8,9,11,12,13 */
} thalf;

struct cd_taesd {
    int latent;
    thalf dec, enc;
    void **owned;
    size_t n_owned;
    uint64_t bytes;
};

static const int dec_blk_keys[10] = {3, 4, 5, 8, 9, 10, 13, 14, 15, 18};
static const int dec_mid_keys[3] = {7, 12, 17};
static const int enc_blk_keys[10] = {1, 3, 4, 5, 7, 8, 9, 11, 12, 13};
static const int enc_mid_keys[3] = {2, 6, 10};

/* ---- loading ------------------------------------------------------------ */

/* A k x k conv (weight [cout, cin, k, k], f32 copy; bias when `bias`). */
static int tconv(nstore *s, const char *base, nconv *c, int64_t cin, int64_t cout, int64_t k,
                 int bias)
{
    int rc;
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    c->b = NULL;
    const cd_tensor *t = ns_find(s, "%s.weight", base);
    if (t && (t->ndim != 4 || t->shape[0] != cout || t->shape[1] != cin || t->shape[2] != k ||
              t->shape[3] != k)) {
        if (s->err && s->errlen)
            snprintf(s->err, s->errlen,
                     "tensor %s%s.weight has the wrong shape (expected [%lld, %lld, %lld, %lld])",
                     s->prefix, base, (long long)cout, (long long)cin, (long long)k,
                     (long long)k);
        return COMFY_EINVAL;
    }
    float *w = NULL;
    ns_name(s, "%s.weight", base);
    if ((rc = ns_vec(s, &w, cout * cin * k * k)) < 0)
        return rc;
    c->w.p = w;
    c->w.dt = COMFY_F32;
    if (bias) {
        ns_name(s, "%s.bias", base);
        if ((rc = ns_vec(s, &c->b, cout)) < 0)
            return rc;
    } else if (ns_has(s, "%s.bias", base)) {
        if (s->err && s->errlen)
            snprintf(s->err, s->errlen, "unexpected tensor %s%s.bias", s->prefix, base);
        return COMFY_EINVAL;
    }
    return 0;
}

static int tblock_load(nstore *s, int key, tblock *b)
{
    char nm[64];
    int rc;
    nconv *cv[3] = {&b->c0, &b->c2, &b->c4};
    for (int i = 0; i < 3; i++) {
        snprintf(nm, sizeof nm, "%d.conv.%d", key, 2 * i);
        if ((rc = tconv(s, nm, cv[i], TW, TW, 3, 1)) < 0)
            return rc;
    }
    if (ns_has(s, "%d.skip.weight", key)) {
        if (s->err && s->errlen)
            snprintf(s->err, s->errlen, "unexpected tensor %s%d.skip.weight (blocks are 64 → 64)",
                     s->prefix, key);
        return COMFY_EINVAL;
    }
    return 0;
}

/* Latent channels a half declares: decoder "1.weight" dim 1, encoder
 * "14.weight" dim 0; -1 when missing or not 4-d. */
static int64_t half_latent(nstore *s, int dec)
{
    const cd_tensor *t = ns_find(s, dec ? "1.weight" : "14.weight");
    if (!t || t->ndim != 4)
        return -1;
    return t->shape[dec ? 1 : 0];
}

static int load_half(nstore *s, int dec, thalf *hf, int64_t L)
{
    char nm[64];
    int rc;
    const int *bk = dec ? dec_blk_keys : enc_blk_keys;
    const int *mk = dec ? dec_mid_keys : enc_mid_keys;
    if (dec) {
        if ((rc = tconv(s, "1", &hf->first, L, TW, 3, 1)) < 0 ||
            (rc = tconv(s, "19", &hf->last, TW, 3, 3, 1)) < 0)
            return rc;
    } else {
        if ((rc = tconv(s, "0", &hf->first, 3, TW, 3, 1)) < 0 ||
            (rc = tconv(s, "14", &hf->last, TW, L, 3, 1)) < 0)
            return rc;
    }
    for (int i = 0; i < 3; i++) {
        snprintf(nm, sizeof nm, "%d", mk[i]);
        if ((rc = tconv(s, nm, &hf->mid[i], TW, TW, 3, 0)) < 0)
            return rc;
    }
    for (int i = 0; i < 10; i++)
        if ((rc = tblock_load(s, bk[i], &hf->blk[i])) < 0)
            return rc;
    hf->present = 1;
    return 0;
}

int cd_taesd_load(const cd_sd *dec, const char *dec_prefix, const cd_sd *enc,
                  const char *enc_prefix, cd_taesd **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = 0;
    if (!dec && !enc) {
        if (err && errlen)
            snprintf(err, errlen, "TAESD: neither a decoder nor an encoder");
        return COMFY_EINVAL;
    }
    cd_taesd *t = calloc(1, sizeof *t);
    if (!t)
        return COMFY_ENOMEM;
    void **owned_all = NULL;
    size_t n_all = 0;
    int rc = 0;
    int64_t L = -1;
    for (int pass = 0; pass < 2; pass++) {
        const int isdec = pass == 0;
        const cd_sd *sd = isdec ? dec : enc;
        if (!sd)
            continue;
        nstore s;
        ns_init(&s, sd, isdec ? dec_prefix : enc_prefix, CD_NETS_WEIGHTS_F32, err, errlen);
        int64_t l = half_latent(&s, isdec);
        if (l < 0) {
            if (err && errlen)
                snprintf(err, errlen, "missing tensor %s%s (not a TAESD %s)", s.prefix,
                         isdec ? "1.weight" : "14.weight", isdec ? "decoder" : "encoder");
            rc = COMFY_ENOENT;
        } else if (l != TLAT) {
            if (err && errlen)
                snprintf(err, errlen,
                         "TAESD %s with %lld latent channels: only the 4-channel taesd / taesdxl "
                         "are supported (taesd3 / taef1 are not)",
                         isdec ? "decoder" : "encoder", (long long)l);
            rc = COMFY_EINVAL;
        } else {
            L = l;
            rc = load_half(&s, isdec, isdec ? &t->dec : &t->enc, L);
        }
        /* merge the arrays this half owns into the object's list */
        if (s.n_owned) {
            void **m = realloc(owned_all, (n_all + s.n_owned) * sizeof *m);
            if (!m) {
                ns_release(s.owned, s.n_owned);
                if (rc == 0)
                    rc = COMFY_ENOMEM;
            } else {
                owned_all = m;
                memcpy(owned_all + n_all, s.owned, s.n_owned * sizeof *m);
                n_all += s.n_owned;
                free(s.owned);
                t->bytes += s.bytes;
            }
        } else {
            free(s.owned);
        }
        if (rc < 0)
            goto fail;
    }
    t->latent = (int)L;
    t->owned = owned_all;
    t->n_owned = n_all;
    *out = t;
    return 0;
fail:
    ns_release(owned_all, n_all);
    free(t);
    return rc;
}

void cd_taesd_free(cd_taesd *t)
{
    if (!t)
        return;
    ns_release(t->owned, t->n_owned);
    free(t);
}

int cd_taesd_latent_channels(const cd_taesd *t) { return t ? t->latent : 0; }
int cd_taesd_has_decoder(const cd_taesd *t) { return t && t->dec.present; }
int cd_taesd_has_encoder(const cd_taesd *t) { return t && t->enc.present; }
uint64_t cd_taesd_weight_bytes(const cd_taesd *t) { return t ? t->bytes : 0; }

/* ---- scratch ------------------------------------------------------------ */

int64_t cd_taesd_encoded_size(int64_t n)
{
    for (int i = 0; i < 3; i++)
        n = (n + 1) / 2;
    return n;
}

/* Floats of one buffer for an image of H x W (64 channels at full size),
 * rounded to 16; 0 when too large. */
static int64_t act_floats(int64_t H, int64_t W)
{
    if (H <= 0 || W <= 0 || H > 1 << 16 || W > 1 << 16 || H * W > (int64_t)1 << 28)
        return 0;
    return (H * W * TW + 15) / 16 * 16;
}

size_t cd_taesd_decode_scratch_bytes(const cd_taesd *t, int64_t h, int64_t w)
{
    if (!t || !t->dec.present || h <= 0 || w <= 0 || h > 1 << 13 || w > 1 << 13)
        return 0;
    int64_t a = act_floats(8 * h, 8 * w);
    return a ? (size_t)(3 * a) * sizeof(float) + 4096 : 0;
}

size_t cd_taesd_encode_scratch_bytes(const cd_taesd *t, int64_t H, int64_t W)
{
    if (!t || !t->enc.present)
        return 0;
    int64_t a = act_floats(H, W);
    return a ? (size_t)(3 * a) * sizeof(float) + 4096 : 0;
}

/* ---- forward ------------------------------------------------------------ */

typedef struct trun {
    const cd_nets_run *run;
    ck_pool *p;
    nexec ex;
    float *xa, *xb, *t1;
} trun;

static void swap(trun *r)
{
    float *s = r->xa;
    r->xa = r->xb;
    r->xb = s;
}

/* y = ReLU(a (+ b)) over n elements, in chunks on the pool. */
typedef struct ew {
    const float *a, *b;
    float *y;
    int64_t n;
} ew;

#define EW_CHUNK 32768

static void ew_task(void *arg, int64_t task, int thread)
{
    const ew *e = arg;
    (void)thread;
    const int64_t i0 = task * EW_CHUNK, i1 = i0 + EW_CHUNK < e->n ? i0 + EW_CHUNK : e->n;
    if (e->b) {
        for (int64_t i = i0; i < i1; i++) {
            float v = e->a[i] + e->b[i];
            e->y[i] = v > 0.0f ? v : 0.0f;
        }
    } else {
        for (int64_t i = i0; i < i1; i++)
            e->y[i] = e->a[i] > 0.0f ? e->a[i] : 0.0f;
    }
}

static void relu_add(ck_pool *p, const float *a, const float *b, float *y, int64_t n)
{
    ew e = {a, b, y, n};
    ck_pool_run(p, (n + EW_CHUNK - 1) / EW_CHUNK, ew_task, &e);
}

/* xa [h·w, 64] -> xa: ReLU(conv4(ReLU(conv2(ReLU(conv0(x))))) + x). */
static int block_fwd(trun *r, const tblock *b, int64_t h, int64_t w)
{
    const int64_t n = h * w * TW;
    int rc;
    if ((rc = nc_apply(r->p, &b->c0, r->xa, 1, h, w, 1, 1, r->t1, &r->ex)) < 0)
        return rc;
    relu_add(r->p, r->t1, NULL, r->t1, n);
    if ((rc = nc_apply(r->p, &b->c2, r->t1, 1, h, w, 1, 1, r->xb, &r->ex)) < 0)
        return rc;
    relu_add(r->p, r->xb, NULL, r->xb, n);
    if ((rc = nc_apply(r->p, &b->c4, r->xb, 1, h, w, 1, 1, r->t1, &r->ex)) < 0)
        return rc;
    relu_add(r->p, r->t1, r->xa, r->xb, n);
    swap(r);
    return nr_check(r->run);
}

/* xa holds the clamped latent [h·w, L]; leaves the raw output [8h·8w, 3]
 * in xa. */
static int dec_core(trun *r, const thalf *d, int64_t h, int64_t w)
{
    int rc;
    if ((rc = nc_apply(r->p, &d->first, r->xa, 1, h, w, 1, 1, r->xb, &r->ex)) < 0)
        return rc;
    relu_add(r->p, r->xb, NULL, r->xb, h * w * TW);
    swap(r);
    int bi = 0;
    for (int g = 0; g < 3; g++) {
        for (int i = 0; i < 3; i++)
            if ((rc = block_fwd(r, &d->blk[bi++], h, w)) < 0)
                return rc;
        if ((rc = ck_resize(r->p, CK_RESIZE_NEAREST, r->xa, 1, h, w, TW, r->t1, 2 * h, 2 * w)) <
            0)
            return rc;
        h *= 2;
        w *= 2;
        if ((rc = nc_apply(r->p, &d->mid[g], r->t1, 1, h, w, 1, 1, r->xa, &r->ex)) < 0)
            return rc;
    }
    if ((rc = block_fwd(r, &d->blk[bi], h, w)) < 0)
        return rc;
    if ((rc = nc_apply(r->p, &d->last, r->xa, 1, h, w, 1, 1, r->xb, &r->ex)) < 0)
        return rc;
    swap(r);
    return 0;
}

/* xa holds the image [H·W, 3] in 0..1; leaves [oh·ow, L] in xa. */
static int enc_core(trun *r, const thalf *e, int64_t H, int64_t W, int64_t *oh, int64_t *ow)
{
    int64_t h = H, w = W;
    int rc;
    if ((rc = nc_apply(r->p, &e->first, r->xa, 1, h, w, 1, 1, r->xb, &r->ex)) < 0)
        return rc;
    swap(r);
    if ((rc = block_fwd(r, &e->blk[0], h, w)) < 0)
        return rc;
    int bi = 1;
    for (int g = 0; g < 3; g++) {
        if ((rc = nc_apply(r->p, &e->mid[g], r->xa, 1, h, w, 2, 1, r->xb, &r->ex)) < 0)
            return rc;
        swap(r);
        h = (h + 1) / 2;
        w = (w + 1) / 2;
        for (int i = 0; i < 3; i++)
            if ((rc = block_fwd(r, &e->blk[bi++], h, w)) < 0)
                return rc;
    }
    if ((rc = nc_apply(r->p, &e->last, r->xa, 1, h, w, 1, 1, r->xb, &r->ex)) < 0)
        return rc;
    swap(r);
    *oh = h;
    *ow = w;
    return 0;
}

static const cd_nets_run quiet_run;

static void carve(trun *r, float *mem, int64_t a)
{
    r->xa = mem;
    r->xb = mem + a;
    r->t1 = mem + 2 * a;
}

/* One image: zb [L, h, w] (NCHW) -> o [8h, 8w, 3] = 2·Dec((z − shift)·scale) − 1. */
static int dec_image(const cd_taesd *t, trun *r, float *mem, int64_t a, const float *zb,
                     int64_t h, int64_t w, float scale, float shift, float *o)
{
    const int64_t L = t->latent, hw = h * w;
    carve(r, mem, a);
    for (int64_t c = 0; c < L; c++)
        for (int64_t i = 0; i < hw; i++) {
            float v = (zb[c * hw + i] - shift) * scale;
            r->xa[i * L + c] = tanhf(v / 3.0f) * 3.0f;
        }
    int rc = dec_core(r, &t->dec, h, w);
    if (rc < 0)
        return rc;
    for (int64_t i = 0; i < hw * 64 * 3; i++)
        o[i] = (r->xa[i] - 0.5f) * 2.0f;
    return 0;
}

/* One image: x [H, W, 3] pixels in 0..1 -> zb [L, oh, ow] (NCHW). */
static int enc_image(const cd_taesd *t, trun *r, float *mem, int64_t a, const float *x,
                     int64_t H, int64_t W, float scale, float shift, float *zb, int64_t *ohp,
                     int64_t *owp)
{
    const int64_t L = t->latent;
    carve(r, mem, a);
    for (int64_t i = 0; i < H * W * 3; i++) {
        float v = x[i] * 2.0f - 1.0f; /* VAE.process_input */
        r->xa[i] = v * 0.5f + 0.5f;   /* TAESD.encode     */
    }
    int64_t oh, ow;
    int rc = enc_core(r, &t->enc, H, W, &oh, &ow);
    if (rc < 0)
        return rc;
    for (int64_t i = 0; i < oh * ow; i++)
        for (int64_t c = 0; c < L; c++)
            zb[c * oh * ow + i] = r->xa[i * L + c] / scale + shift;
    *ohp = oh;
    *owp = ow;
    return 0;
}

int cd_taesd_decode(const cd_taesd *t, const cd_nets_run *run, const float *z, int64_t B,
                    int64_t h, int64_t w, float scale, float shift, float *y)
{
    if (!run)
        run = &quiet_run;
    size_t bytes = cd_taesd_decode_scratch_bytes(t, h, w);
    if (!z || !y || B <= 0 || bytes == 0)
        return nr_fail(run, COMFY_EINVAL, "TAESD decode: bad input (B=%lld, latent %lldx%lld%s)",
                       (long long)B, (long long)h, (long long)w,
                       t && !t->dec.present ? ", no decoder" : "");
    void *heap;
    float *mem = nr_scratch(run, bytes, &heap);
    if (!mem)
        return COMFY_ENOMEM;
    const int64_t a = act_floats(8 * h, 8 * w), L = t->latent, hw = h * w;
    trun r = {run, run->pool, {CK_PREC_F32, NULL, 0}, NULL, NULL, NULL};
    int rc = 0;
    for (int64_t b = 0; b < B && rc == 0; b++)
        rc = dec_image(t, &r, mem, a, z + b * L * hw, h, w, scale, shift, y + b * hw * 64 * 3);
    free(heap);
    return rc;
}

int cd_taesd_encode(const cd_taesd *t, const cd_nets_run *run, const float *img, int64_t B,
                    int64_t H, int64_t W, float scale, float shift, float *z)
{
    if (!run)
        run = &quiet_run;
    size_t bytes = cd_taesd_encode_scratch_bytes(t, H, W);
    if (!img || !z || B <= 0 || bytes == 0 || scale == 0.0f)
        return nr_fail(run, COMFY_EINVAL, "TAESD encode: bad input (B=%lld, image %lldx%lld%s)",
                       (long long)B, (long long)H, (long long)W,
                       t && !t->enc.present ? ", no encoder" : "");
    void *heap;
    float *mem = nr_scratch(run, bytes, &heap);
    if (!mem)
        return COMFY_ENOMEM;
    const int64_t a = act_floats(H, W), L = t->latent;
    const int64_t oh = cd_taesd_encoded_size(H), ow = cd_taesd_encoded_size(W);
    trun r = {run, run->pool, {CK_PREC_F32, NULL, 0}, NULL, NULL, NULL};
    int rc = 0;
    for (int64_t b = 0; b < B && rc == 0; b++) {
        int64_t eh, ew;
        rc = enc_image(t, &r, mem, a, img + b * H * W * 3, H, W, scale, shift,
                       z + b * L * oh * ow, &eh, &ew);
    }
    free(heap);
    return rc;
}

/* ---- tiled (comfy.utils.tiled_scale, as vae.c's) ------------------------ */

/* One image through three tilings.  Decode: in [L, H, W] NCHW latent,
 * out [8H, 8W, 3] NHWC raw; encode: in [H, W, 3] NHWC pixels, out
 * [L, OH, OW] NCHW.  tin / tout: scratch for one tile's input / output;
 * res, div: one pass's weighted sum and weights. */
typedef struct tjob {
    const cd_taesd *t;
    trun *r;
    float *mem;
    int64_t a;
    int enc;
    float scale, shift;
    int64_t H, W, cin, cout, OH, OW;
    float *tin, *tout, *res, *div;
} tjob;

static int tile_pass(tjob *j, const float *in, int64_t ty, int64_t tx, int64_t ov, float *acc)
{
    const int64_t H = j->H, W = j->W, OH = j->OH, OW = j->OW, C = j->cout;
    const int64_t on = OH * OW * C;
    int rc;
    const int single = H <= ty && W <= tx;
    if (!single && ((H > ty && ty - ov <= 0) || (W > tx && tx - ov <= 0)))
        return nr_fail(j->r->run, COMFY_EINVAL,
                       "TAESD tiles: the overlap (%lld) must be smaller than the tile (%lldx%lld)",
                       (long long)ov, (long long)tx, (long long)ty);
    memset(j->res, 0, (size_t)on * sizeof *j->res);
    memset(j->div, 0, (size_t)(OH * OW) * sizeof *j->div);
    const int64_t fe = j->enc ? nt_pyround(0.125 * (double)ov) : 8 * ov;
    const int64_t ny = H > ty ? H - ov : 1, nx = W > tx ? W - ov : 1;
    const int64_t sy = H > ty ? ty - ov : 1, sx = W > tx ? tx - ov : 1;
    for (int64_t iy = 0; iy < ny; iy += sy) {
        for (int64_t ix = 0; ix < nx; ix += sx) {
            int64_t y0 = iy > H - ov ? H - ov : iy, x0 = ix > W - ov ? W - ov : ix;
            y0 = y0 < 0 ? 0 : y0;
            x0 = x0 < 0 ? 0 : x0;
            const int64_t ly = ty < H - y0 ? ty : H - y0, lx = tx < W - x0 ? tx : W - x0;
            int64_t oh, ow;
            if (j->enc) {
                for (int64_t y = 0; y < ly; y++)
                    memcpy(j->tin + y * lx * 3, in + ((y0 + y) * W + x0) * 3,
                           (size_t)(lx * 3) * sizeof(float));
                rc = enc_image(j->t, j->r, j->mem, j->a, j->tin, ly, lx, j->scale, j->shift,
                               j->tout, &oh, &ow);
            } else {
                for (int64_t c = 0; c < j->cin; c++)
                    for (int64_t y = 0; y < ly; y++)
                        memcpy(j->tin + (c * ly + y) * lx, in + (c * H + y0 + y) * W + x0,
                               (size_t)lx * sizeof(float));
                oh = 8 * ly;
                ow = 8 * lx;
                rc = dec_image(j->t, j->r, j->mem, j->a, j->tin, ly, lx, j->scale, j->shift,
                               j->tout);
            }
            if (rc < 0)
                return rc;
            const int64_t uy = j->enc ? nt_pyround(0.125 * (double)y0) : 8 * y0;
            const int64_t ux = j->enc ? nt_pyround(0.125 * (double)x0) : 8 * x0;
            if (uy + oh > OH || ux + ow > OW)
                return nr_fail(j->r->run, COMFY_EINVAL,
                               "TAESD tiles: a tile falls outside the output");
            for (int64_t y = 0; y < oh; y++) {
                const float my = single ? 1.0f : nt_feather(1.0f, y, oh, fe);
                for (int64_t x = 0; x < ow; x++) {
                    const float m = single ? 1.0f : nt_feather(my, x, ow, fe);
                    const int64_t po = (uy + y) * OW + ux + x;
                    for (int64_t c = 0; c < C; c++) {
                        /* decode: NHWC out; encode: NCHW out */
                        const float s = j->enc ? j->tout[(c * oh + y) * ow + x]
                                               : j->tout[(y * ow + x) * C + c];
                        j->res[j->enc ? c * OH * OW + po : po * C + c] += s * m;
                    }
                    j->div[po] += m;
                }
            }
            if ((rc = nr_check(j->r->run)) < 0)
                return rc;
        }
    }
    for (int64_t p = 0; p < OH * OW; p++)
        for (int64_t c = 0; c < C; c++) {
            const int64_t k = j->enc ? c * OH * OW + p : p * C + c;
            acc[k] += j->res[k] / j->div[p];
        }
    return 0;
}

static int tiled(const cd_taesd *t, const cd_nets_run *run, int enc, const float *in, int64_t B,
                 int64_t H, int64_t W, int64_t tile_x, int64_t tile_y, int64_t ov, float scale,
                 float shift, float *out)
{
    if (!run)
        run = &quiet_run;
    const int present = t && (enc ? t->enc.present : t->dec.present);
    if (!present || !in || !out || B <= 0 || H <= 0 || W <= 0 || tile_x <= 0 || tile_y <= 0 ||
        ov < 0 || (enc && scale == 0.0f) || H > (enc ? 1 << 16 : 1 << 13) ||
        W > (enc ? 1 << 16 : 1 << 13))
        return nr_fail(run, COMFY_EINVAL, "TAESD tiled %s: bad input%s", enc ? "encode" : "decode",
                       t && !present ? (enc ? " (no encoder)" : " (no decoder)") : "");
    const int64_t tiles_d[3][2] = {{tile_y * 2, tile_x / 2}, {tile_y / 2, tile_x * 2},
                                   {tile_y, tile_x}};
    const int64_t tiles_e[3][2] = {{tile_y, tile_x}, {tile_y / 2, tile_x * 2},
                                   {tile_y * 2, tile_x / 2}};
    const int64_t(*tiles)[2] = enc ? tiles_e : tiles_d;
    const int64_t L = t->latent;
    tjob j = {t, NULL, NULL, 0, enc, scale, shift, H, W, enc ? 3 : L, enc ? L : 3,
              enc ? nt_pyround(0.125 * (double)H) : 8 * H, enc ? nt_pyround(0.125 * (double)W) : 8 * W,
              NULL, NULL, NULL, NULL};
    /* the largest tile of the three tilings sets the scratch */
    int64_t mly = 0, mlx = 0, amax = 0;
    for (int k = 0; k < 3; k++) {
        int64_t ly = tiles[k][0] < H ? tiles[k][0] : H, lx = tiles[k][1] < W ? tiles[k][1] : W;
        if (ly <= 0 || lx <= 0)
            return nr_fail(run, COMFY_EINVAL, "TAESD tiles: a tile side is 0 (tile %lldx%lld)",
                           (long long)tile_x, (long long)tile_y);
        int64_t a = enc ? act_floats(ly, lx) : act_floats(8 * ly, 8 * lx);
        if (a == 0)
            return nr_fail(run, COMFY_EINVAL, "TAESD tiles: tile too large");
        amax = a > amax ? a : amax;
        mly = ly > mly ? ly : mly;
        mlx = lx > mlx ? lx : mlx;
    }
    void *heap;
    float *mem = nr_scratch(run, (size_t)(3 * amax) * sizeof(float) + 4096, &heap);
    if (!mem)
        return COMFY_ENOMEM;
    const int64_t on = j.OH * j.OW * j.cout;
    const int64_t tin_n = mly * mlx * j.cin;
    const int64_t tout_n = enc ? cd_taesd_encoded_size(mly) * cd_taesd_encoded_size(mlx) * L
                               : 64 * mly * mlx * 3;
    float *tin = malloc((size_t)tin_n * sizeof *tin), *tout = malloc((size_t)tout_n * sizeof *tout);
    float *res = malloc((size_t)on * sizeof *res), *div = malloc((size_t)(j.OH * j.OW) * sizeof *div);
    trun r = {run, run->pool, {CK_PREC_F32, NULL, 0}, NULL, NULL, NULL};
    int rc = 0;
    if (!tin || !tout || !res || !div) {
        rc = nr_fail(run, COMFY_ENOMEM, "out of memory for the TAESD tiles");
        goto out;
    }
    j.r = &r;
    j.mem = mem;
    j.a = amax;
    j.tin = tin;
    j.tout = tout;
    j.res = res;
    j.div = div;
    const int64_t in_n = H * W * j.cin;
    for (int64_t b = 0; b < B && rc == 0; b++) {
        float *acc = out + b * on;
        memset(acc, 0, (size_t)on * sizeof *acc);
        for (int k = 0; k < 3 && rc == 0; k++)
            rc = tile_pass(&j, in + b * in_n, tiles[k][0], tiles[k][1], ov, acc);
        for (int64_t i = 0; i < on && rc == 0; i++)
            acc[i] = acc[i] / 3.0f;
    }
out:
    free(tin);
    free(tout);
    free(res);
    free(div);
    free(heap);
    return rc;
}

int cd_taesd_decode_tiled(const cd_taesd *t, const cd_nets_run *run, const float *z, int64_t B,
                          int64_t h, int64_t w, int64_t tile_x, int64_t tile_y, int64_t overlap,
                          float scale, float shift, float *y)
{
    return tiled(t, run, 0, z, B, h, w, tile_x, tile_y, overlap, scale, shift, y);
}

int cd_taesd_encode_tiled(const cd_taesd *t, const cd_nets_run *run, const float *img, int64_t B,
                          int64_t H, int64_t W, int64_t tile_x, int64_t tile_y, int64_t overlap,
                          float scale, float shift, float *z)
{
    return tiled(t, run, 1, img, B, H, W, tile_x, tile_y, overlap, scale, shift, z);
}

size_t cd_taesd_tiled_scratch_bytes(const cd_taesd *t, int encode, int64_t h, int64_t w,
                                    int64_t tile_x, int64_t tile_y)
{
    if (!t || h <= 0 || w <= 0 || tile_x <= 0 || tile_y <= 0)
        return 0;
    int64_t ly = 2 * tile_y < h ? 2 * tile_y : h, lx = 2 * tile_x < w ? 2 * tile_x : w;
    int64_t a = encode ? act_floats(ly, lx) : act_floats(8 * ly, 8 * lx);
    return a ? (size_t)(3 * a) * sizeof(float) + 4096 : 0;
}
