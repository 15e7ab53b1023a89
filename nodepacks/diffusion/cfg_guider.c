/*
 * cfg_guider.c — ComfyUI's CFG guider as a denoiser for the sampling
 * library (shared/spec/nodes-and-models.md §3.3-3.6): the conditioning
 * lists resolved once per sampling run (areas in latent units, masks
 * resized to the latent, timestep ranges as sigmas, SDXL ADM vectors, the
 * area pairing of create_cond_with_same_area_if_none), then per model call
 * calc_cond_batch (every active entry evaluated on its area, entries of
 * equal area and token count batched into one UNet call, weighted by
 * strength / mask / the soft area border and averaged) and CFG on the x0
 * predictions with the cfg = 1 shortcut.
 *
 * Inpainting models (UNet in_channels > 4, spec §3.9): every entry gets its
 * c_concat once per run, as BaseModel.concat_cond makes it: the mask (the
 * entry's concat_mask, else the sampler's noise mask; first channel,
 * resized bilinear with center crop, rounded, batch-resized; ones without
 * any) and the masked image (the entry's concat_latent_image process_in'd,
 * else the sampler's latent; resized likewise; the grey "blank" latent
 * without any mask), cropped to the entry's area at each UNet call and
 * concatenated on channels after c_in·x.
 *
 * Owns: the dp_cond arrays (their y, mask, ctx and c_concat copies) and the
 * UNet scratch arena.  Executor thread only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpack.h"

#include "model_sampling.h"

/* Entries evaluated together in one UNet call at most. */
#define MAX_GROUP 4

typedef struct dp_centry {
    dp_cond c;
    float *ctx_owned;
    const float *concat;   /* [B, cc, H, W] c_concat (inpaint models), or NULL */
    float *concat_owned;   /* concat when this entry made it                  */
    int control_to_uncond; /* the "control_apply_to_uncond" option            */
} centry;

/* What the sampler passes to process_conds (dp_guider_init_ex). */
typedef struct sampler_in {
    const float *latent;   /* [B, C, H, W] process_in'd, or NULL */
    const float *mask;     /* [B, C, H, W] prepared noise mask, or NULL */
} sampler_in;

/* Channels of c_concat the model takes (0: not an inpainting model). */
static int64_t concat_channels(const dp_model *m, int64_t C)
{
    return m->in_channels > 4 ? m->in_channels - C : 0;
}

/* ------------------------------------------------------------ resolving */

static double opt_float(const comfy_host *h, const comfy_value *m, const char *k, double def)
{
    double v;
    const comfy_value *x = h->map_get(m, k);
    return x && h->value_get_float(x, &v) == COMFY_OK ? v : def;
}

/* torch's bilinear resize (align_corners false, no antialias) of mb planes
 * ih x iw into oh x ow. */
static void bilinear(const float *in, int64_t mb, int64_t ih, int64_t iw, float *out, int64_t oh,
                     int64_t ow)
{
    float sh = (float)ih / (float)oh, sw = (float)iw / (float)ow;
    for (int64_t b = 0; b < mb; b++)
        for (int64_t i = 0; i < oh; i++) {
            float fy = ((float)i + 0.5f) * sh - 0.5f;
            if (fy < 0)
                fy = 0;
            int64_t y0 = (int64_t)fy;
            int64_t y1 = y0 + (y0 < ih - 1);
            float ly = fy - (float)y0, hy = 1.0f - ly;
            for (int64_t j = 0; j < ow; j++) {
                float fx = ((float)j + 0.5f) * sw - 0.5f;
                if (fx < 0)
                    fx = 0;
                int64_t x0 = (int64_t)fx;
                int64_t x1 = x0 + (x0 < iw - 1);
                float lx = fx - (float)x0, hx = 1.0f - lx;
                const float *p = in + b * ih * iw;
                out[(b * oh + i) * ow + j] = hy * (hx * p[y0 * iw + x0] + lx * p[y0 * iw + x1]) +
                                             ly * (hx * p[y1 * iw + x0] + lx * p[y1 * iw + x1]);
            }
        }
}

/* The SDXL ADM vector of one entry into y[adm] (spec §11.9). */
static int sdxl_adm(dp_guider *g, const comfy_value *opts, int positive, float *y, char *err,
                    size_t errlen)
{
    const comfy_host *h = g->h;
    int adm = g->model->adm_in_channels;
    int refiner = g->model->family == DP_SDXL_REFINER;
    const comfy_value *pv = h->map_get(opts, "pooled_output");
    comfy_tensor *pt = pv ? h->value_get_tensor(pv) : NULL;
    int64_t pw = pt ? h->tensor_numel(pt) : 0;
    int nemb = refiner ? 5 : 6;
    if (!pt || pw <= 0 || pw >= adm || (adm - pw) % nemb || ((adm - pw) / nemb) % 2) {
        snprintf(err, errlen,
                 "the conditioning has no pooled output the model can take (it needs %d "
                 "values of ADM conditioning, pooled output has %lld)",
                 adm, (long long)pw);
        return COMFY_EINVAL;
    }
    float *pooled = dp_tensor_f32(h, pt);
    if (!pooled)
        return COMFY_ENOMEM;
    memcpy(y, pooled, (size_t)pw * sizeof(float));
    free(pooled);
    int dim = (int)((adm - pw) / nemb), half = dim / 2;
    double width = opt_float(h, opts, "width", (double)(g->W * 8));
    double height = opt_float(h, opts, "height", (double)(g->H * 8));
    double vals[6];
    vals[0] = height;
    vals[1] = width;
    vals[2] = opt_float(h, opts, "crop_h", 0);
    vals[3] = opt_float(h, opts, "crop_w", 0);
    if (refiner) {
        vals[4] = opt_float(h, opts, "aesthetic_score", positive ? 6.0 : 2.5);
    } else {
        vals[4] = opt_float(h, opts, "target_height", height);
        vals[5] = opt_float(h, opts, "target_width", width);
    }
    float *o = y + pw;
    const float neg_log = (float)-log(10000.0);
    for (int k = 0; k < nemb; k++) {
        float t = (float)vals[k];
        for (int i = 0; i < half; i++) {
            float f = expf(neg_log * (float)i / (float)half);
            float a = t * f;
            o[k * dim + i] = cosf(a);
            o[k * dim + half + i] = sinf(a);
        }
    }
    return COMFY_OK;
}

/* ComfyUI's resize_to_batch_size of n planes of `plane` floats to B. */
static void resize_batch(const float *in, int64_t n, int64_t plane, float *out, int64_t B)
{
    for (int64_t i = 0; i < B; i++) {
        int64_t k;
        if (n == B)
            k = i;
        else if (B <= 1)
            k = 0;
        else if (B < n)
            k = (int64_t)nearbyint((double)i * ((double)(n - 1) / (double)(B - 1)));
        else
            k = (int64_t)floor(((double)i + 0.5) * ((double)n / (double)B));
        k = k < n - 1 ? k : n - 1;
        memcpy(out + i * plane, in + k * plane, (size_t)plane * sizeof(float));
    }
}

/* n planes [n, ch, ih, iw] resized (bilinear, center crop) to the latent
 * when their size differs, then batch-resized to B: out [B, ch, H, W]. */
static int fit_planes(dp_guider *g, const float *in, int64_t n, int64_t ch, int64_t ih,
                      int64_t iw, float *out)
{
    int64_t plane = ch * g->H * g->W;
    float *tmp = NULL;
    const float *src = in;
    if (ih != g->H || iw != g->W) {
        tmp = malloc((size_t)(n * plane) * sizeof(float));
        if (!tmp)
            return COMFY_ENOMEM;
        int rc = dp_common_upscale(in, n, ch, ih, iw, tmp, g->H, g->W, DP_UPSCALE_BILINEAR, 1);
        if (rc) {
            free(tmp);
            return rc;
        }
        src = tmp;
    }
    resize_batch(src, n, plane, out, g->B);
    free(tmp);
    return COMFY_OK;
}

/* The c_concat of one entry (BaseModel.concat_cond with the inpainting
 * keys "mask", "masked_image") into out [B, 1 + C, H, W] (the caller's).
 * Returns 0, COMFY_ENOMEM, or COMFY_EINVAL with the message in err for a
 * concat_mask / concat_latent_image the model cannot take. */
static int build_concat(dp_guider *g, const comfy_value *opts, const sampler_in *si, float *out,
                        char *err, size_t errlen)
{
    const comfy_host *h = g->h;
    int64_t B = g->B, C = g->C, H = g->H, W = g->W, HW = H * W, cc = 1 + C;
    float *mask = malloc((size_t)(B * HW) * sizeof(float));
    float *img = malloc((size_t)(B * C * HW) * sizeof(float));
    float *src = NULL;
    int rc = COMFY_OK, have_mask = 1;
    if (!mask || !img) {
        rc = COMFY_ENOMEM;
        goto out;
    }
    /* The mask: concat_mask, else the noise mask, else none (a concat_mask
     * of None is no mask at all, as kwargs.get finds it). */
    const comfy_value *mv = h->map_get(opts, "concat_mask");
    int mnone = mv && h->value_kind(mv) == COMFY_KIND_NONE;
    comfy_tensor *mt = mv && !mnone ? h->value_get_tensor(mv) : NULL;
    if (mv && !mnone && (!mt || mt->ndim < 2)) {
        snprintf(err, errlen, "the conditioning's concat_mask is not a mask");
        rc = COMFY_EINVAL;
        goto out;
    }
    if (mt) {
        int64_t mh = mt->shape[mt->ndim - 2], mw = mt->shape[mt->ndim - 1];
        int64_t all = h->tensor_numel(mt);
        if (mh < 1 || mw < 1 || all < mh * mw) {
            snprintf(err, errlen, "the conditioning's concat_mask is empty");
            rc = COMFY_EINVAL;
            goto out;
        }
        src = dp_tensor_f32(h, mt);
        if (!src) {
            rc = COMFY_ENOMEM;
            goto out;
        }
        int64_t n = all / (mh * mw);
        if (mt->ndim == 4) { /* [N, C, h, w]: the first channel of each */
            int64_t mc = mt->shape[1];
            n = mt->shape[0];
            for (int64_t k = 1; k < n; k++)
                memmove(src + k * mh * mw, src + k * mc * mh * mw, (size_t)(mh * mw) * sizeof(float));
        }
        float *tmp = malloc((size_t)(n * HW) * sizeof(float));
        if (!tmp) {
            rc = COMFY_ENOMEM;
            goto out;
        }
        if (mh != H || mw != W) {
            rc = dp_common_upscale(src, n, 1, mh, mw, tmp, H, W, DP_UPSCALE_BILINEAR, 1);
            if (rc) {
                free(tmp);
                snprintf(err, errlen, "the concat_mask cannot be resized to the latent");
                goto out;
            }
        } else {
            memcpy(tmp, src, (size_t)(n * HW) * sizeof(float));
        }
        for (int64_t i = 0; i < n * HW; i++)
            tmp[i] = nearbyintf(tmp[i]);
        resize_batch(tmp, n, HW, mask, B);
        free(tmp);
        free(src);
        src = NULL;
    } else if (si->mask && !mnone) {
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < HW; i++)
                mask[b * HW + i] = nearbyintf(si->mask[b * C * HW + i]);
    } else {
        have_mask = 0;
    }
    /* The masked image. */
    if (!have_mask) {
        static const float blank[4] = {0.8223f, -0.6876f, 0.6364f, 0.1380f};
        for (int64_t b = 0; b < B; b++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t i = 0; i < HW; i++)
                    img[(b * C + c) * HW + i] = c < 4 ? blank[c] : 1.0f;
        for (int64_t i = 0; i < B * HW; i++)
            mask[i] = 1.0f;
    } else {
        const comfy_value *iv = h->map_get(opts, "concat_latent_image");
        if (iv && h->value_kind(iv) == COMFY_KIND_NONE)
            iv = NULL; /* None: the sampler's latent */
        comfy_tensor *it = iv ? h->value_get_tensor(iv) : NULL;
        int64_t inum = it ? h->tensor_numel(it) : 0;
        if (iv && (!it || it->ndim != 4 || it->shape[1] != C || inum < 1)) {
            snprintf(err, errlen,
                     "the conditioning's concat_latent_image is not a latent of %lld channels",
                     (long long)C);
            rc = COMFY_EINVAL;
            goto out;
        }
        if (it) {
            src = dp_tensor_f32(h, it);
            if (!src) {
                rc = COMFY_ENOMEM;
                goto out;
            }
            int64_t n = it->shape[0];
            for (int64_t i = 0; i < inum; i++)
                src[i] *= g->model->latent_scale; /* process_in */
            rc = fit_planes(g, src, n, C, it->shape[2], it->shape[3], img);
            if (rc) {
                if (rc != COMFY_ENOMEM)
                    snprintf(err, errlen,
                             "the concat_latent_image cannot be resized to the latent");
                goto out;
            }
        } else if (si->latent) {
            memcpy(img, si->latent, (size_t)(B * C * HW) * sizeof(float));
        } else {
            memset(img, 0, (size_t)(B * C * HW) * sizeof(float));
        }
    }
    for (int64_t b = 0; b < B; b++) {
        memcpy(out + b * cc * HW, mask + b * HW, (size_t)HW * sizeof(float));
        memcpy(out + (b * cc + 1) * HW, img + b * C * HW, (size_t)(C * HW) * sizeof(float));
    }
out:
    free(mask);
    free(img);
    free(src);
    return rc;
}

/* Resolves one CONDITIONING entry into e. */
static int resolve_entry(dp_guider *g, const comfy_value *entry, int positive,
                         const sampler_in *si, centry *e, char *err, size_t errlen)
{
    const comfy_host *h = g->h;
    dp_cond *c = &e->c;
    memset(e, 0, sizeof *e);
    comfy_tensor *t = h->value_get_tensor(h->list_get(entry, 0));
    const comfy_value *opts = h->list_get(entry, 1);
    if (!t || h->value_kind(opts) != COMFY_KIND_MAP) {
        snprintf(err, errlen, "a conditioning entry is not [tensor, dict]");
        return COMFY_EINVAL;
    }
    if (t->ndim < 2 || t->shape[t->ndim - 1] != g->model->context_dim) {
        snprintf(err, errlen,
                 "the conditioning is %lld wide but the model takes %d (text encoder and "
                 "model from different architectures?)",
                 (long long)(t->ndim ? t->shape[t->ndim - 1] : 0), g->model->context_dim);
        return COMFY_EINVAL;
    }
    c->D = t->shape[t->ndim - 1];
    c->T = h->tensor_numel(t) / c->D;
    if (c->T <= 0) {
        snprintf(err, errlen, "empty conditioning tensor");
        return COMFY_EINVAL;
    }
    e->ctx_owned = dp_tensor_f32(h, t);
    if (!e->ctx_owned)
        return COMFY_ENOMEM;
    c->ctx = e->ctx_owned;
    c->strength = (float)opt_float(h, opts, "strength", 1.0);
    c->control = dp_cnet_of(h, h->map_get(opts, "control"));
    const comfy_value *tu = h->map_get(opts, "control_apply_to_uncond");
    if (tu)
        h->value_get_bool(tu, &e->control_to_uncond);

    /* Area (latent units), absolute or percentage. */
    const comfy_value *av = h->map_get(opts, "area");
    if (av && h->value_kind(av) == COMFY_KIND_LIST) {
        size_t n = h->list_len(av);
        const char *tag = n ? h->value_get_string(h->list_get(av, 0)) : NULL;
        double a[4];
        if (tag && strcmp(tag, "percentage") == 0 && n == 5) {
            for (int i = 0; i < 4; i++)
                h->value_get_float(h->list_get(av, (size_t)i + 1), &a[i]);
            c->ah = (int64_t)fmax(1.0, nearbyint(a[0] * (double)g->H));
            c->aw = (int64_t)fmax(1.0, nearbyint(a[1] * (double)g->W));
            c->ay = (int64_t)nearbyint(a[2] * (double)g->H);
            c->ax = (int64_t)nearbyint(a[3] * (double)g->W);
            c->has_area = 1;
        } else if (n == 4) {
            int64_t ai[4];
            for (int i = 0; i < 4; i++)
                if (h->value_get_int(h->list_get(av, (size_t)i), &ai[i]) != COMFY_OK) {
                    snprintf(err, errlen, "area must hold 4 integers");
                    return COMFY_EINVAL;
                }
            c->ah = ai[0];
            c->aw = ai[1];
            c->ay = ai[2];
            c->ax = ai[3];
            c->has_area = 1;
        }
    }

    /* Mask, resized to the latent. */
    const comfy_value *mv = h->map_get(opts, "mask");
    comfy_tensor *mt = mv ? h->value_get_tensor(mv) : NULL;
    if (mt && mt->ndim >= 2) {
        int64_t mh = mt->shape[mt->ndim - 2], mw = mt->shape[mt->ndim - 1];
        int64_t mb = mh * mw > 0 ? h->tensor_numel(mt) / (mh * mw) : 0;
        float *src = dp_tensor_f32(h, mt);
        if (!src || mb <= 0) {
            free(src);
            return src ? COMFY_EINVAL : COMFY_ENOMEM;
        }
        c->mask = malloc((size_t)(mb * g->H * g->W) * sizeof(float));
        if (!c->mask) {
            free(src);
            return COMFY_ENOMEM;
        }
        if (mh == g->H && mw == g->W)
            memcpy(c->mask, src, (size_t)(mb * mh * mw) * sizeof(float));
        else
            bilinear(src, mb, mh, mw, c->mask, g->H, g->W);
        free(src);
        c->mb = mb;
        c->mask_strength = (float)opt_float(h, opts, "mask_strength", 1.0);
        const comfy_value *sb = h->map_get(opts, "set_area_to_bounds");
        int bounds = 0;
        if (sb)
            h->value_get_bool(sb, &bounds);
        if (bounds) {
            /* Bounding box of max over batch of |mask| != 0. */
            int64_t y0 = g->H, y1 = -1, x0 = g->W, x1 = -1;
            for (int64_t i = 0; i < g->H; i++)
                for (int64_t j = 0; j < g->W; j++) {
                    float mx = 0;
                    for (int64_t b = 0; b < mb; b++) {
                        float v = fabsf(c->mask[(b * g->H + i) * g->W + j]);
                        mx = v > mx ? v : mx;
                    }
                    if (mx != 0) {
                        y0 = i < y0 ? i : y0;
                        y1 = i > y1 ? i : y1;
                        x0 = j < x0 ? j : x0;
                        x1 = j > x1 ? j : x1;
                    }
                }
            if (y1 < 0) {
                c->ah = 8;
                c->aw = 8;
                c->ay = 0;
                c->ax = 0;
            } else {
                int64_t hh = y1 - y0 + 1, ww = x1 - x0 + 1;
                c->ah = hh > 8 ? hh : 8;
                c->aw = ww > 8 ? ww : 8;
                c->ay = y0;
                c->ax = x0;
            }
            c->has_area = 1;
        }
    }

    /* Timestep range. */
    const comfy_value *sp = h->map_get(opts, "start_percent");
    const comfy_value *ep = h->map_get(opts, "end_percent");
    if (sp || ep) {
        c->has_range = 1;
        c->sigma_start = sp ? cd_ms_percent_to_sigma(g->model->ms, opt_float(h, opts, "start_percent", 0))
                            : INFINITY;
        c->sigma_end = ep ? cd_ms_percent_to_sigma(g->model->ms, opt_float(h, opts, "end_percent", 1))
                          : -INFINITY;
    }

    /* SDXL ADM vector. */
    if (g->model->adm_in_channels > 0) {
        c->y = malloc((size_t)g->model->adm_in_channels * sizeof(float));
        if (!c->y)
            return COMFY_ENOMEM;
        int rc = sdxl_adm(g, opts, positive, c->y, err, errlen);
        if (rc)
            return rc;
    }

    /* c_concat of inpainting models. */
    int64_t cc = concat_channels(g->model, g->C);
    if (cc > 0) {
        e->concat_owned = malloc((size_t)(g->B * cc * g->H * g->W) * sizeof(float));
        if (!e->concat_owned)
            return COMFY_ENOMEM;
        e->concat = e->concat_owned;
        int rc = build_concat(g, opts, si, e->concat_owned, err, errlen);
        if (rc)
            return rc;
    }
    return COMFY_OK;
}

static void centry_free(centry *e)
{
    free(e->ctx_owned);
    free(e->c.y);
    free(e->c.mask);
    free(e->concat_owned);
}

/* area_inside(a, cmp) of ComfyUI's create_cond_with_same_area_if_none. */
static int area_inside(const dp_cond *a, const dp_cond *cmp)
{
    return a->ay >= cmp->ay && a->ax >= cmp->ax && a->ah + a->ay <= cmp->ah + cmp->ay &&
           a->aw + a->ax <= cmp->aw + cmp->ax;
}

/* Appends to `list` (n entries, capacity cap) a copy of area entry c with
 * the model conds (ctx, y) of its smallest enclosing entry in the list. */
static int pair_area(centry *list, size_t *n, size_t cap, const centry *c, int64_t adm,
                     int64_t plane)
{
    if (!c->c.has_area)
        return COMFY_OK;
    const centry *smallest = NULL;
    for (size_t i = 0; i < *n; i++) {
        const centry *x = &list[i];
        if (x->c.has_area) {
            if (area_inside(&c->c, &x->c)) {
                if (!smallest || !smallest->c.has_area)
                    smallest = x;
                else if (smallest->c.ah * smallest->c.aw > x->c.ah * x->c.aw)
                    smallest = x;
            }
        } else if (!smallest) {
            smallest = x;
        }
    }
    if (!smallest)
        return COMFY_OK;
    if (smallest->c.has_area && smallest->c.ah == c->c.ah && smallest->c.aw == c->c.aw &&
        smallest->c.ay == c->c.ay && smallest->c.ax == c->c.ax)
        return COMFY_OK;
    if (*n >= cap)
        return COMFY_ENOMEM;
    centry *o = &list[*n];
    /* The copy keeps c's options (area, strength, mask, range) and takes
     * smallest's model conds (ctx, y); it owns copies of mask and y. */
    *o = *c;
    o->ctx_owned = NULL;
    o->concat_owned = NULL;
    o->concat = smallest->concat;
    o->c.mask = NULL;
    o->c.y = NULL;
    o->c.ctx = smallest->c.ctx;
    o->c.T = smallest->c.T;
    o->c.D = smallest->c.D;
    (*n)++; /* counted now so that the caller frees what is copied below */
    if (c->c.mask) {
        size_t sz = (size_t)(c->c.mb * plane) * sizeof(float);
        o->c.mask = malloc(sz);
        if (!o->c.mask)
            return COMFY_ENOMEM;
        memcpy(o->c.mask, c->c.mask, sz);
    }
    if (adm > 0 && smallest->c.y) {
        o->c.y = malloc((size_t)adm * sizeof(float));
        if (!o->c.y)
            return COMFY_ENOMEM;
        memcpy(o->c.y, smallest->c.y, (size_t)adm * sizeof(float));
    }
    return COMFY_OK;
}

double dp_percent_to_sigma(const dp_model *m, double percent)
{
    return cd_ms_percent_to_sigma(m->ms, percent);
}

/* ------------------------------------------------------------------ init */

typedef struct glists {
    centry *e[2];
    size_t n[2];
} glists;

int dp_guider_init(dp_guider *g, comfy_call *call, dp_model *model, const comfy_value *pos,
                   const comfy_value *neg, double cfg, int64_t B, int64_t C, int64_t H, int64_t W)
{
    return dp_guider_init_ex(g, call, model, pos, neg, cfg, B, C, H, W, NULL, NULL);
}

int dp_guider_init_ex(dp_guider *g, comfy_call *call, dp_model *model, const comfy_value *pos,
                      const comfy_value *neg, double cfg, int64_t B, int64_t C, int64_t H,
                      int64_t W, const float *latent, const float *mask)
{
    sampler_in si = {latent, mask};
    const comfy_host *h = call->host;
    memset(g, 0, sizeof *g);
    g->h = h;
    g->call = call;
    g->model = model;
    g->cfg = cfg;
    g->B = B;
    g->C = C;
    g->H = H;
    g->W = W;
    g->pool = dp_pool(h);
    if (model->in_channels > 4 ? C != model->latent_channels || model->in_channels != 2 * C + 1
                               : C != model->in_channels)
        return h->fail(call, "RuntimeError", "the latent has %lld channels but the model takes %d%s",
                       (long long)C, model->in_channels > 4 ? model->latent_channels : model->in_channels,
                       model->in_channels > 4 ? " (an inpainting model: the mask and the masked "
                                                "image latent are added to them)" : "");
    if (H < 1 || W < 1)
        return h->fail(call, "ValueError", "the latent is empty (%lldx%lld)", (long long)H,
                       (long long)W);
    const comfy_value *lists[2] = {pos, neg};
    size_t cap[2];
    centry *e[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    char err[512] = "";
    int rc = COMFY_OK;
    size_t total = (pos ? h->list_len(pos) : 0) + (neg ? h->list_len(neg) : 0);
    for (int l = 0; l < 2; l++) {
        size_t len = lists[l] ? h->list_len(lists[l]) : 0;
        cap[l] = len + total + 1;
        e[l] = calloc(cap[l], sizeof(centry));
        if (!e[l]) {
            rc = COMFY_ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < len; i++) {
            rc = resolve_entry(g, h->list_get(lists[l], i), l == 0, &si, &e[l][n[l]], err,
                               sizeof err);
            n[l]++;
            if (rc)
                goto fail;
        }
    }
    /* Area pairing: positive areas into negative, then negative into positive. */
    if (neg) {
        size_t n0 = n[0];
        for (size_t i = 0; i < n0; i++)
            if ((rc = pair_area(e[1], &n[1], cap[1], &e[0][i], model->adm_in_channels, H * W)))
                goto fail;
        size_t n1 = n[1];
        for (size_t i = 0; i < n1; i++)
            if ((rc = pair_area(e[0], &n[0], cap[0], &e[1][i], model->adm_in_channels, H * W)))
                goto fail;
    }
    /* ControlNetApply's controls (control_apply_to_uncond) on the
     * negative entries without area and control, unless one has its own
     * (ComfyUI's apply_empty_x_to_equal_area); with no such entry ComfyUI
     * fails on a modulo by zero, comfyd leaves the list as it is. */
    if (neg) {
        size_t other[256], no = 0;
        int has_cn = 0;
        for (size_t i = 0; i < n[1]; i++)
            if (!e[1][i].c.has_area) {
                if (e[1][i].c.control)
                    has_cn = 1;
                else if (no < sizeof other / sizeof other[0])
                    other[no++] = i;
            }
        size_t x = 0;
        for (size_t i = 0; i < n[0] && !has_cn && no; i++)
            if (e[0][i].control_to_uncond && !e[0][i].c.has_area && e[0][i].c.control)
                e[1][other[x++ % no]].c.control = e[0][i].c.control;
    }
    /* No negative list (BasicGuider, or an SDK caller passing NULL): no
     * CFG at all, whatever the scale. */
    if (!neg) {
        free(e[1]);
        e[1] = NULL;
        n[1] = 0;
    }
    /* Pack the dp_cond arrays (the centry owners stay in the lists). */
    g->pos = e[0];
    g->npos = n[0];
    g->neg = e[1];
    g->nneg = n[1];

    /* Scratch: a UNet call of up to MAX_GROUP entries of B at the largest T. */
    int64_t Tmax = 1;
    size_t nent = 0;
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < n[l]; i++) {
            Tmax = e[l][i].c.T > Tmax ? e[l][i].c.T : Tmax;
            nent++;
        }
    int64_t group = nent < MAX_GROUP ? (int64_t)(nent ? nent : 1) : MAX_GROUP;
    uint64_t need = dp_unet_scratch(model, B * group, H, W, Tmax);
    if (need == 0) {
        rc = h->fail(call, "ValueError", "the latent %lldx%lld is too large for the model",
                     (long long)(W * 8), (long long)(H * 8));
        goto fail_reported;
    }
    g->arena = dp_arena(call, "sampling", need);
    if (!g->arena) {
        rc = COMFY_ENOMEM;
        goto fail_reported;
    }
    g->last_denoised = malloc((size_t)(B * C * H * W) * sizeof(float));
    if (!g->last_denoised) {
        rc = COMFY_ENOMEM;
        goto fail;
    }
    return COMFY_OK;
fail:
    g->pos = e[0];
    g->npos = n[0];
    g->neg = e[1];
    g->nneg = n[1];
    if (rc == COMFY_ENOMEM)
        rc = dp_fail_status(call, rc, "sampling", err);
    else
        rc = h->fail(call, "RuntimeError", "%s", *err ? err : "bad conditioning");
    dp_guider_free(g);
    return rc;
fail_reported:
    g->pos = e[0];
    g->npos = n[0];
    g->neg = e[1];
    g->nneg = n[1];
    dp_guider_free(g);
    return rc;
}

void dp_guider_free(dp_guider *g)
{
    centry *lists[2] = {g->pos, g->neg};
    size_t n[2] = {g->npos, g->nneg};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; lists[l] && i < n[l]; i++)
            centry_free(&lists[l][i]);
        free(lists[l]);
    }
    ck_arena_free(g->arena);
    free(g->last_denoised);
    dp_cnet_run_free(g->cnet_run);
    memset(g, 0, sizeof *g);
}

/* --------------------------------------------------------------- denoise */

typedef struct job {
    const dp_cond *c;
    const float *concat; /* the entry's c_concat [B, cc, H, W], or NULL */
    int list;            /* 0 cond, 1 uncond */
} job;

/* Evaluates the jobs [0, nj) (same area and T) in one UNet call and adds
 * their weighted x0 predictions into out/count. */
static int run_group(dp_guider *g, const job *jobs, int nj, const float *x, float sigma,
                     float *out[2], float *count[2])
{
    const dp_cond *c0 = jobs[0].c;
    int64_t B = g->B, C = g->C, H = g->H, W = g->W;
    int64_t ah = H, aw = W, ay = 0, ax = 0;
    if (c0->has_area) {
        ay = c0->ay < H ? c0->ay : H;
        ax = c0->ax < W ? c0->ax : W;
        ah = c0->ah < H - ay ? c0->ah : H - ay;
        aw = c0->aw < W - ax ? c0->aw : W - ax;
    }
    if (ah <= 0 || aw <= 0)
        return COMFY_OK;
    int64_t T = c0->T, D = c0->D, adm = g->model->adm_in_channels;
    int64_t Bk = B * nj, plane = ah * aw, cc = concat_channels(g->model, C), Cin = C + cc;
    size_t nx = (size_t)(Bk * C * plane);
    float *xin = malloc((size_t)(Bk * Cin * plane) * sizeof(float));
    float *xcrop = malloc((size_t)(B * C * plane) * sizeof(float));
    float *mout = malloc(nx * sizeof(float));
    float *ctx = malloc((size_t)(Bk * T * D) * sizeof(float));
    float *ts = malloc((size_t)Bk * sizeof(float));
    float *y = adm ? malloc((size_t)(Bk * adm) * sizeof(float)) : NULL;
    float *mult = malloc((size_t)(B * C * plane) * sizeof(float));
    int rc = COMFY_OK;
    if (!xin || !xcrop || !mout || !ctx || !ts || (adm && !y) || !mult) {
        rc = COMFY_ENOMEM;
        goto out;
    }
    /* The cropped input, then c_in scaling, repeated per job. */
    for (int64_t b = 0; b < B; b++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t i = 0; i < ah; i++)
                memcpy(xcrop + ((b * C + ch) * ah + i) * aw,
                       x + ((b * C + ch) * H + ay + i) * W + ax, (size_t)aw * sizeof(float));
    /* c_in·x (in mout until the UNet writes it), then per job and batch
     * element its C channels and the entry's c_concat cropped to the area. */
    cd_ms_calculate_input(sigma, xcrop, mout, (size_t)(B * C * plane));
    float tstep = (float)cd_ms_timestep(g->model->ms, sigma);
    for (int j = 0; j < nj; j++) {
        for (int64_t b = 0; b < B; b++) {
            float *dst = xin + ((size_t)j * B + b) * Cin * plane;
            memcpy(dst, mout + b * C * plane, (size_t)(C * plane) * sizeof(float));
            for (int64_t ch = 0; ch < cc; ch++)
                for (int64_t i = 0; i < ah; i++) {
                    float *row = dst + ((C + ch) * ah + i) * aw;
                    if (jobs[j].concat)
                        memcpy(row, jobs[j].concat + ((b * cc + ch) * H + ay + i) * W + ax,
                               (size_t)aw * sizeof(float));
                    else
                        memset(row, 0, (size_t)aw * sizeof(float));
                }
        }
        for (int64_t b = 0; b < B; b++) {
            memcpy(ctx + ((size_t)j * B + b) * T * D, jobs[j].c->ctx, (size_t)(T * D) * sizeof(float));
            ts[j * B + b] = tstep;
            if (adm)
                memcpy(y + ((size_t)j * B + b) * adm, jobs[j].c->y, (size_t)adm * sizeof(float));
        }
    }
    rc = dp_cnet_unet_forward(g, c0->control, nj, sigma, xin, Bk, Cin, C, ah, aw, ts, ctx, T, y,
                              mout);
    ck_arena_reset(g->arena);
    if (rc < 0)
        goto out;
    for (int j = 0; j < nj; j++) {
        const dp_cond *c = jobs[j].c;
        float *den = mout + (size_t)j * B * C * plane;
        cd_ms_calculate_denoised(g->model->ms, sigma, den, xcrop, den, (size_t)(B * C * plane));
        /* mult: mask·mask_strength or ones, times strength, soft border. */
        for (int64_t b = 0; b < B; b++)
            for (int64_t ch = 0; ch < C; ch++)
                for (int64_t i = 0; i < ah; i++)
                    for (int64_t k = 0; k < aw; k++) {
                        float m = 1.0f;
                        if (c->mask)
                            m = c->mask[((b % c->mb) * H + ay + i) * W + ax + k] * c->mask_strength;
                        mult[((b * C + ch) * ah + i) * aw + k] = m * c->strength;
                    }
        if (!c->mask && c->has_area) {
            int64_t size[2] = {ah, aw}, off[2] = {ay, ax}, full[2] = {H, W};
            for (int d = 0; d < 2; d++) {
                int64_t rr = size[d] / 4 < 8 ? size[d] / 4 : 8;
                for (int side = 0; side < 2; side++) {
                    if (side == 0 && off[d] == 0)
                        continue;
                    if (side == 1 && off[d] + size[d] >= full[d])
                        continue;
                    for (int64_t t = 0; t < rr; t++) {
                        float f = (float)((1.0 / (double)rr) * (double)(t + 1));
                        int64_t idx = side == 0 ? t : size[d] - 1 - t;
                        for (int64_t p = 0; p < B * C; p++)
                            for (int64_t q = 0; q < (d == 0 ? aw : ah); q++) {
                                int64_t i = d == 0 ? idx : q, k = d == 0 ? q : idx;
                                mult[(p * ah + i) * aw + k] *= f;
                            }
                    }
                }
            }
        }
        float *o = out[jobs[j].list], *cn = count[jobs[j].list];
        for (int64_t p = 0; p < B * C; p++)
            for (int64_t i = 0; i < ah; i++)
                for (int64_t k = 0; k < aw; k++) {
                    size_t src = (size_t)((p * ah + i) * aw + k);
                    size_t dst = (size_t)((p * H + ay + i) * W + ax + k);
                    o[dst] += den[src] * mult[src];
                    cn[dst] += mult[src];
                }
    }
out:
    free(xin);
    free(xcrop);
    free(mout);
    free(ctx);
    free(ts);
    free(y);
    free(mult);
    return rc;
}

static int same_group(const dp_cond *a, const dp_cond *b)
{
    if (a->T != b->T || a->has_area != b->has_area || a->control != b->control)
        return 0;
    return !a->has_area ||
           (a->ah == b->ah && a->aw == b->aw && a->ay == b->ay && a->ax == b->ax);
}

int dp_guider_denoise(void *user, const float *x, float sigma, float *denoised, float *uncond,
                      size_t n)
{
    dp_guider *g = user;
    int rc = COMFY_OK;
    int use_uncond = g->neg && (uncond || fabs(g->cfg - 1.0) > 1e-9 * fmax(fabs(g->cfg), 1.0));
    float *out[2] = {NULL, NULL}, *count[2] = {NULL, NULL};
    job *jobs = malloc((g->npos + g->nneg + 1) * sizeof(job));
    int nj = 0;
    if (!jobs)
        return COMFY_ENOMEM;
    for (int l = 0; l < (use_uncond ? 2 : 1); l++) {
        out[l] = calloc(n, sizeof(float));
        count[l] = malloc(n * sizeof(float));
        if (!out[l] || !count[l]) {
            rc = COMFY_ENOMEM;
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            count[l][i] = 1e-37f;
        const centry *list = l ? g->neg : g->pos;
        size_t len = l ? g->nneg : g->npos;
        for (size_t i = 0; i < len; i++) {
            const dp_cond *c = &list[i].c;
            if (c->has_range && ((double)sigma > c->sigma_start || (double)sigma < c->sigma_end))
                continue;
            jobs[nj].c = c;
            jobs[nj].concat = list[i].concat;
            jobs[nj].list = l;
            nj++;
        }
    }
    /* Batch jobs of equal area and T, MAX_GROUP at a time. */
    char *done_flags = calloc((size_t)nj + 1, 1);
    if (!done_flags) {
        rc = COMFY_ENOMEM;
        goto done;
    }
    for (int i = 0; i < nj && rc == COMFY_OK; i++) {
        if (done_flags[i])
            continue;
        job grp[MAX_GROUP];
        int ng = 0;
        for (int k = i; k < nj && ng < MAX_GROUP; k++)
            if (!done_flags[k] && same_group(jobs[i].c, jobs[k].c)) {
                grp[ng++] = jobs[k];
                done_flags[k] = 1;
            }
        rc = run_group(g, grp, ng, x, sigma, out, count);
    }
    free(done_flags);
    if (rc)
        goto done;
    for (int l = 0; l < (use_uncond ? 2 : 1); l++)
        for (size_t i = 0; i < n; i++)
            out[l][i] /= count[l][i];
    /* CFG on the x0 predictions (uncond is zero when skipped). */
    float cfg = g->neg ? (float)g->cfg : 1.0f; /* BasicGuider: cond_pred as is */
    for (size_t i = 0; i < n; i++) {
        float u = use_uncond ? out[1][i] : 0.0f;
        denoised[i] = u + (out[0][i] - u) * cfg;
    }
    if (uncond) {
        if (use_uncond)
            memcpy(uncond, out[1], n * sizeof(float));
        else
            memset(uncond, 0, n * sizeof(float));
    }
    memcpy(g->last_denoised, denoised, n * sizeof(float));
done:
    free(jobs);
    for (int l = 0; l < 2; l++) {
        free(out[l]);
        free(count[l]);
    }
    return rc;
}
