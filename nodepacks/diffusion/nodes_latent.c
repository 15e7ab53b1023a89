/*
 * nodes_latent.c — EmptyLatentImage and the latent transforms of ComfyUI's
 * nodes.py: LatentComposite, LatentFromBatch, RepeatLatentBatch,
 * SetLatentNoiseMask, LatentRotate, LatentFlip, LatentCrop.  A LATENT is a
 * MAP {"samples": f32 [B, C, h, w], optional "noise_mask", "batch_index"};
 * nodes copy the map and replace keys, as ComfyUI copies the dict.
 * Execute runs on the executor thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dpack.h"

/* Sets output 0 to a LATENT made from `src` with samples t (taken). */
static int out_latent(comfy_call *call, const comfy_value *src, comfy_tensor *t)
{
    const comfy_host *h = call->host;
    comfy_value *v = dp_latent_with(h, src, t);
    if (!v)
        return h->fail(call, "RuntimeError", "out of memory");
    return h->set_output(call, 0, v);
}

/* Sets key `key` of LATENT map `m` (made by this call, not yet handed
 * over) to v (taken); removing is not possible, so NONE is never set. */
static int latent_set(const comfy_host *h, comfy_value *m, const char *key, comfy_value *v)
{
    if (!v)
        return COMFY_ENOMEM;
    return h->map_set(m, key, v);
}

static int empty_latent_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int64_t w, ht, b;
    int rc;
    if ((rc = dp_in_int(call, "width", &w)) || (rc = dp_in_int(call, "height", &ht)) ||
        (rc = dp_in_int(call, "batch_size", &b)))
        return rc;
    if (w < 16 || ht < 16 || w > 16384 || ht > 16384 || b < 1 || b > 4096)
        return h->fail(call, "ValueError", "width/height must be in 16..16384, batch_size in 1..4096");
    int64_t shape[4] = {b, 4, ht / 8, w / 8};
    comfy_tensor *t = dp_new_tensor(call, 4, shape);
    if (!t)
        return COMFY_ERR;
    return out_latent(call, NULL, t);
}

/* A new tensor for a latent of the given shape (fails the call). */
static comfy_tensor *new_latent(comfy_call *call, int64_t b, int64_t c, int64_t hh, int64_t w)
{
    int64_t shape[4] = {b, c, hh, w};
    return dp_new_tensor(call, 4, shape);
}

static const char *const rotations[] = {"none", "90 degrees", "180 degrees", "270 degrees", NULL};
static const char *const flips[] = {"x-axis: vertically", "y-axis: horizontally", NULL};

static int rotate_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const char *r;
    int rc = dp_in_string(call, "rotation", &r);
    if (rc)
        return rc;
    int k = -1;
    for (int i = 0; rotations[i]; i++)
        if (strcmp(r, rotations[i]) == 0)
            k = i;
    if (k < 0)
        return h->fail(call, "ValueError", "unknown rotation %s", r);
    dp_latent l;
    if ((rc = dp_in_latent(call, "samples", &l)))
        return rc;
    int64_t oh = (k & 1) ? l.w : l.h, ow = (k & 1) ? l.h : l.w;
    comfy_tensor *t = new_latent(call, l.b, l.c, oh, ow);
    if (!t) {
        dp_latent_free(&l);
        return COMFY_ERR;
    }
    float *o = t->data;
    for (int64_t p = 0; p < l.b * l.c; p++) {
        const float *src = l.data + p * l.h * l.w;
        float *dst = o + p * oh * ow;
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                int64_t si, sj; /* torch.rot90(x, k, dims=[3, 2]): clockwise */
                switch (k) {
                case 0: si = i; sj = j; break;
                case 1: si = l.h - 1 - j; sj = i; break;
                case 2: si = l.h - 1 - i; sj = l.w - 1 - j; break;
                default: si = j; sj = l.w - 1 - i; break;
                }
                dst[i * ow + j] = src[si * l.w + sj];
            }
    }
    rc = out_latent(call, l.map, t);
    dp_latent_free(&l);
    return rc;
}

static int flip_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const char *f;
    int rc = dp_in_string(call, "flip_method", &f);
    if (rc)
        return rc;
    int rows;
    if (strncmp(f, "x-axis", 6) == 0)
        rows = 1;
    else if (strncmp(f, "y-axis", 6) == 0)
        rows = 0;
    else
        return h->fail(call, "ValueError", "unknown flip_method %s", f);
    dp_latent l;
    if ((rc = dp_in_latent(call, "samples", &l)))
        return rc;
    comfy_tensor *t = new_latent(call, l.b, l.c, l.h, l.w);
    if (!t) {
        dp_latent_free(&l);
        return COMFY_ERR;
    }
    float *o = t->data;
    for (int64_t p = 0; p < l.b * l.c; p++)
        for (int64_t i = 0; i < l.h; i++)
            for (int64_t j = 0; j < l.w; j++)
                o[(p * l.h + i) * l.w + j] =
                    rows ? l.data[(p * l.h + (l.h - 1 - i)) * l.w + j]
                         : l.data[(p * l.h + i) * l.w + (l.w - 1 - j)];
    rc = out_latent(call, l.map, t);
    dp_latent_free(&l);
    return rc;
}

static int crop_execute(comfy_call *call)
{
    int64_t w, ht, x, y;
    int rc;
    if ((rc = dp_in_int(call, "width", &w)) || (rc = dp_in_int(call, "height", &ht)) ||
        (rc = dp_in_int(call, "x", &x)) || (rc = dp_in_int(call, "y", &y)))
        return rc;
    dp_latent l;
    if ((rc = dp_in_latent(call, "samples", &l)))
        return rc;
    x /= 8;
    y /= 8;
    if (x > l.w - 8)
        x = l.w - 8;
    if (y > l.h - 8)
        y = l.h - 8;
    /* Python slicing: negative starts count from the end, all clipped. */
    int64_t x0 = x < 0 ? (x + l.w < 0 ? 0 : x + l.w) : x;
    int64_t y0 = y < 0 ? (y + l.h < 0 ? 0 : y + l.h) : y;
    int64_t x1 = x + w / 8, y1 = y + ht / 8;
    x1 = x1 < 0 ? (x1 + l.w < 0 ? 0 : x1 + l.w) : (x1 > l.w ? l.w : x1);
    y1 = y1 < 0 ? (y1 + l.h < 0 ? 0 : y1 + l.h) : (y1 > l.h ? l.h : y1);
    int64_t ow = x1 > x0 ? x1 - x0 : 0, oh = y1 > y0 ? y1 - y0 : 0;
    comfy_tensor *t = new_latent(call, l.b, l.c, oh, ow);
    if (!t) {
        dp_latent_free(&l);
        return COMFY_ERR;
    }
    float *o = t->data;
    for (int64_t p = 0; p < l.b * l.c; p++)
        for (int64_t i = 0; i < oh; i++)
            memcpy(o + (p * oh + i) * ow, l.data + (p * l.h + y0 + i) * l.w + x0,
                   (size_t)ow * sizeof(float));
    rc = out_latent(call, l.map, t);
    dp_latent_free(&l);
    return rc;
}

static int composite_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int64_t x, y, feather;
    int rc;
    if ((rc = dp_in_int(call, "x", &x)) || (rc = dp_in_int(call, "y", &y)) ||
        (rc = dp_in_int(call, "feather", &feather)))
        return rc;
    dp_latent to, from;
    if ((rc = dp_in_latent(call, "samples_to", &to)))
        return rc;
    if ((rc = dp_in_latent(call, "samples_from", &from))) {
        dp_latent_free(&to);
        return rc;
    }
    x /= 8;
    y /= 8;
    feather /= 8;
    comfy_tensor *t = NULL;
    if (from.c != to.c || (from.b != to.b && from.b != 1)) {
        rc = h->fail(call, "RuntimeError",
                     "latent composite: samples_from [%lld, %lld] does not broadcast to "
                     "samples_to [%lld, %lld]",
                     (long long)from.b, (long long)from.c, (long long)to.b, (long long)to.c);
        goto out;
    }
    t = new_latent(call, to.b, to.c, to.h, to.w);
    if (!t) {
        rc = COMFY_ERR;
        goto out;
    }
    float *o = t->data;
    memcpy(o, to.data, (size_t)(to.b * to.c * to.h * to.w) * sizeof(float));
    /* F = from[:, :, :h_to - y, :w_to - x] */
    int64_t fh = to.h - y < from.h ? to.h - y : from.h;
    int64_t fw = to.w - x < from.w ? to.w - x : from.w;
    if (fh < 0)
        fh = 0;
    if (fw < 0)
        fw = 0;
    for (int64_t b = 0; b < to.b; b++)
        for (int64_t c = 0; c < to.c; c++) {
            const float *src = from.data + ((from.b == 1 ? 0 : b) * from.c + c) * from.h * from.w;
            float *dst = o + (b * to.c + c) * to.h * to.w;
            for (int64_t i = 0; i < fh; i++)
                for (int64_t j = 0; j < fw; j++) {
                    float m = 1.0f;
                    if (feather > 0)
                        for (int64_t tt = 0; tt < feather; tt++) {
                            float f = (float)((1.0 / feather) * (double)(tt + 1));
                            if (y != 0 && i == tt)
                                m *= f;
                            if (y + fh < to.h && i == fh - 1 - tt)
                                m *= f;
                            if (x != 0 && j == tt)
                                m *= f;
                            if (x + fw < to.w && j == fw - 1 - tt)
                                m *= f;
                        }
                    float *d = &dst[(y + i) * to.w + (x + j)];
                    float s = src[i * from.w + j];
                    *d = feather > 0 ? s * m + *d * (1.0f - m) : s;
                }
        }
    rc = out_latent(call, to.map, t);
out:
    dp_latent_free(&to);
    dp_latent_free(&from);
    return rc;
}

static int set_noise_mask_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    dp_latent l;
    int rc = dp_in_latent(call, "samples", &l);
    if (rc)
        return rc;
    comfy_tensor *mt = h->value_get_tensor(h->input(call, "mask"));
    if (!mt || mt->ndim < 2) {
        dp_latent_free(&l);
        return h->fail(call, "ValueError", "mask is not a MASK");
    }
    int64_t H = mt->shape[mt->ndim - 2], W = mt->shape[mt->ndim - 1];
    int64_t n = h->tensor_numel(mt);
    int64_t shape[4] = {H * W > 0 ? n / (H * W) : 0, 1, H, W};
    float *data = dp_tensor_f32(h, mt);
    comfy_tensor *t = data ? h->tensor_new(h->ctx, COMFY_F32, 4, shape) : NULL;
    if (!t) {
        free(data);
        dp_latent_free(&l);
        return h->fail(call, "RuntimeError", "out of memory");
    }
    memcpy(t->data, data, (size_t)n * sizeof(float));
    free(data);
    /* Same samples, new noise_mask. */
    comfy_tensor *st = h->value_get_tensor(h->map_get(l.map, "samples"));
    comfy_value *m = dp_latent_with(h, l.map, h->tensor_retain(st));
    dp_latent_free(&l);
    if (!m || latent_set(h, m, "noise_mask", h->value_tensor(h->ctx, t)) != COMFY_OK) {
        if (!m)
            h->tensor_release(t);
        h->value_release(m);
        return h->fail(call, "RuntimeError", "out of memory");
    }
    return h->set_output(call, 0, m);
}

/* Reads LATENT's batch_index list into a malloc'd array (NULL, 0 if absent). */
static int read_batch_index(const comfy_host *h, const comfy_value *map, int64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const comfy_value *bi = h->map_get(map, "batch_index");
    if (!bi || h->value_kind(bi) != COMFY_KIND_LIST)
        return COMFY_OK;
    size_t len = h->list_len(bi);
    int64_t *a = malloc((len ? len : 1) * sizeof *a);
    if (!a)
        return COMFY_ENOMEM;
    for (size_t i = 0; i < len; i++)
        if (h->value_get_int(h->list_get(bi, i), &a[i]) != COMFY_OK) {
            free(a);
            return COMFY_ETYPE;
        }
    *out = a;
    *n = len;
    return COMFY_OK;
}

/* The rows [i0, i0 + n) of noise mask mt (cyclically repeated to b first
 * when shorter), or mt itself when its batch is 1: a new tensor value. */
static comfy_value *slice_mask(comfy_call *call, const comfy_tensor *mt, int64_t b, int64_t i0,
                               int64_t n, int64_t repeat)
{
    const comfy_host *h = call->host;
    int64_t mb = mt->shape[0];
    int64_t plane = mb ? h->tensor_numel(mt) / mb : 0;
    float *src = dp_tensor_f32(h, mt);
    if (!src)
        return NULL;
    int64_t count = repeat ? mb * repeat : n;
    int64_t shape[COMFY_MAX_DIMS];
    memcpy(shape, mt->shape, sizeof shape);
    shape[0] = count;
    comfy_tensor *t = h->tensor_new(h->ctx, COMFY_F32, (int)mt->ndim, shape);
    if (!t) {
        free(src);
        return NULL;
    }
    float *o = t->data;
    for (int64_t k = 0; k < count; k++) {
        int64_t s = repeat ? k % mb : ((i0 + k) % (mb < b ? b : mb)) % mb;
        memcpy(o + k * plane, src + s * plane, (size_t)plane * sizeof(float));
    }
    free(src);
    return h->value_tensor(h->ctx, t);
}

static int from_batch_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int64_t bi, len;
    int rc;
    if ((rc = dp_in_int(call, "batch_index", &bi)) || (rc = dp_in_int(call, "length", &len)))
        return rc;
    dp_latent l;
    if ((rc = dp_in_latent(call, "samples", &l)))
        return rc;
    int64_t *idx = NULL;
    size_t nidx = 0;
    comfy_value *m = NULL;
    int64_t i0 = bi < l.b - 1 ? bi : l.b - 1;
    int64_t n = l.b - i0 < len ? l.b - i0 : len;
    if (i0 < 0 || n <= 0) {
        rc = h->fail(call, "ValueError", "empty latent batch");
        goto out;
    }
    size_t plane = (size_t)(l.c * l.h * l.w);
    comfy_tensor *t = new_latent(call, n, l.c, l.h, l.w);
    if (!t) {
        rc = COMFY_ERR;
        goto out;
    }
    memcpy(t->data, l.data + (size_t)i0 * plane, (size_t)n * plane * sizeof(float));
    m = dp_latent_with(h, l.map, t);
    if (!m)
        goto oom;
    comfy_tensor *mt = h->value_get_tensor(h->map_get(l.map, "noise_mask"));
    if (mt && mt->ndim >= 1 && mt->shape[0] > 1) {
        comfy_value *sm = slice_mask(call, mt, l.b, i0, n, 0);
        if (latent_set(h, m, "noise_mask", sm) != COMFY_OK)
            goto oom;
    }
    if (read_batch_index(h, l.map, &idx, &nidx) != COMFY_OK)
        goto oom;
    comfy_value *list = h->value_list(h->ctx);
    for (int64_t k = 0; list && k < n; k++) {
        int64_t v = idx ? ((size_t)(i0 + k) < nidx ? idx[i0 + k] : 0) : i0 + k;
        if (idx && (size_t)(i0 + k) >= nidx)
            break; /* Python slicing stops at the list's end */
        if (h->list_append(list, h->value_int(h->ctx, v)) != COMFY_OK) {
            h->value_release(list);
            list = NULL;
        }
    }
    if (latent_set(h, m, "batch_index", list) != COMFY_OK)
        goto oom;
    rc = h->set_output(call, 0, m);
    m = NULL;
    goto out;
oom:
    rc = h->fail(call, "RuntimeError", "out of memory");
out:
    h->value_release(m);
    free(idx);
    dp_latent_free(&l);
    return rc;
}

static int repeat_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int64_t amount;
    int rc;
    if ((rc = dp_in_int(call, "amount", &amount)))
        return rc;
    if (amount < 1 || amount > 64)
        return h->fail(call, "ValueError", "amount must be in 1..64");
    dp_latent l;
    if ((rc = dp_in_latent(call, "samples", &l)))
        return rc;
    int64_t *idx = NULL;
    size_t nidx = 0;
    comfy_value *m = NULL;
    size_t plane = (size_t)(l.c * l.h * l.w);
    comfy_tensor *t = new_latent(call, l.b * amount, l.c, l.h, l.w);
    if (!t) {
        rc = COMFY_ERR;
        goto out;
    }
    for (int64_t k = 0; k < amount; k++)
        memcpy((float *)t->data + (size_t)(k * l.b) * plane, l.data,
               (size_t)l.b * plane * sizeof(float));
    m = dp_latent_with(h, l.map, t);
    if (!m)
        goto oom;
    comfy_tensor *mt = h->value_get_tensor(h->map_get(l.map, "noise_mask"));
    if (mt && mt->ndim >= 1 && mt->shape[0] > 1) {
        comfy_value *sm = slice_mask(call, mt, l.b, 0, 0, amount);
        if (latent_set(h, m, "noise_mask", sm) != COMFY_OK)
            goto oom;
    }
    if (read_batch_index(h, l.map, &idx, &nidx) != COMFY_OK)
        goto oom;
    if (idx && nidx) {
        int64_t mn = idx[0], mx = idx[0];
        for (size_t i = 1; i < nidx; i++) {
            mn = idx[i] < mn ? idx[i] : mn;
            mx = idx[i] > mx ? idx[i] : mx;
        }
        int64_t off = mx - mn + 1;
        comfy_value *list = h->value_list(h->ctx);
        for (int64_t k = 0; list && k < amount; k++)
            for (size_t i = 0; list && i < nidx; i++)
                if (h->list_append(list, h->value_int(h->ctx, idx[i] + k * off)) != COMFY_OK) {
                    h->value_release(list);
                    list = NULL;
                }
        if (latent_set(h, m, "batch_index", list) != COMFY_OK)
            goto oom;
    }
    rc = h->set_output(call, 0, m);
    m = NULL;
    goto out;
oom:
    rc = h->fail(call, "RuntimeError", "out of memory");
out:
    h->value_release(m);
    free(idx);
    dp_latent_free(&l);
    return rc;
}

static const char *const crop_methods[] = {"disabled", "center", NULL};

static int method_index(const char *name)
{
    for (int i = 0; dp_upscale_methods[i]; i++)
        if (strcmp(name, dp_upscale_methods[i]) == 0)
            return i;
    return -1;
}

/* Output 0 = the latent resized to ow x oh latent pixels. */
static int upscale_to(comfy_call *call, const dp_latent *l, int64_t ow, int64_t oh, int method,
                      int crop)
{
    const comfy_host *h = call->host;
    if (ow < 1 || oh < 1)
        return h->fail(call, "ValueError", "cannot resize the latent to %lldx%lld",
                       (long long)ow, (long long)oh);
    comfy_tensor *t = new_latent(call, l->b, l->c, oh, ow);
    if (!t)
        return COMFY_ERR;
    int rc = dp_common_upscale(l->data, l->b, l->c, l->h, l->w, t->data, oh, ow, method, crop);
    if (rc) {
        h->tensor_release(t);
        return h->fail(call, "RuntimeError", "%s",
                       rc == COMFY_ENOMEM ? "out of memory resizing the latent"
                                          : "cannot resize the latent");
    }
    return out_latent(call, l->map, t);
}

static int upscale_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const char *m, *c;
    int64_t w, ht;
    int rc;
    if ((rc = dp_in_string(call, "upscale_method", &m)) || (rc = dp_in_string(call, "crop", &c)) ||
        (rc = dp_in_int(call, "width", &w)) || (rc = dp_in_int(call, "height", &ht)))
        return rc;
    int method = method_index(m);
    if (method < 0)
        return h->fail(call, "ValueError", "unknown upscale_method %s", m);
    dp_latent l;
    if ((rc = dp_in_latent(call, "samples", &l)))
        return rc;
    if (w == 0 && ht == 0) {
        h->set_output(call, 0, h->value_retain(l.map));
        dp_latent_free(&l);
        return COMFY_OK;
    }
    if (w == 0) {
        ht = ht > 64 ? ht : 64;
        int64_t v = (int64_t)nearbyint((double)l.w * (double)ht / (double)l.h);
        w = v > 64 ? v : 64;
    } else if (ht == 0) {
        w = w > 64 ? w : 64;
        int64_t v = (int64_t)nearbyint((double)l.h * (double)w / (double)l.w);
        ht = v > 64 ? v : 64;
    } else {
        w = w > 64 ? w : 64;
        ht = ht > 64 ? ht : 64;
    }
    rc = upscale_to(call, &l, w / 8, ht / 8, method, strcmp(c, "center") == 0);
    dp_latent_free(&l);
    return rc;
}

static int upscale_by_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const char *m;
    double by;
    int rc;
    if ((rc = dp_in_string(call, "upscale_method", &m)) || (rc = dp_in_float(call, "scale_by", &by)))
        return rc;
    int method = method_index(m);
    if (method < 0)
        return h->fail(call, "ValueError", "unknown upscale_method %s", m);
    if (!(by > 0) || by > 8)
        return h->fail(call, "ValueError", "scale_by must be in 0.01..8");
    dp_latent l;
    if ((rc = dp_in_latent(call, "samples", &l)))
        return rc;
    rc = upscale_to(call, &l, (int64_t)nearbyint((double)l.w * by),
                    (int64_t)nearbyint((double)l.h * by), method, 0);
    dp_latent_free(&l);
    return rc;
}

static int blend_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    double f;
    int rc;
    if ((rc = dp_in_float(call, "blend_factor", &f)))
        return rc;
    dp_latent a, b;
    if ((rc = dp_in_latent(call, "samples1", &a)))
        return rc;
    if ((rc = dp_in_latent(call, "samples2", &b))) {
        dp_latent_free(&a);
        return rc;
    }
    float *s2 = NULL;
    comfy_tensor *t = NULL;
    int64_t b2 = b.b;
    if (a.b != b.b || a.c != b.c || a.h != b.h || a.w != b.w) {
        /* samples2 resized to samples1's size: bicubic, center crop. */
        s2 = malloc((size_t)(b.b * b.c * a.h * a.w) * sizeof(float));
        if (!s2 || dp_common_upscale(b.data, b.b, b.c, b.h, b.w, s2, a.h, a.w,
                                     DP_UPSCALE_BICUBIC, 1) != COMFY_OK) {
            rc = h->fail(call, "RuntimeError", "cannot resize samples2");
            goto out;
        }
    }
    if (b.c != a.c || (b2 != a.b && b2 != 1 && a.b != 1)) {
        rc = h->fail(call, "RuntimeError",
                     "The size of tensor a (%lld) must match the size of tensor b (%lld)",
                     (long long)(b.c != a.c ? a.c : a.b), (long long)(b.c != a.c ? b.c : b2));
        goto out;
    }
    int64_t B = a.b > b2 ? a.b : b2;
    t = new_latent(call, B, a.c, a.h, a.w);
    if (!t) {
        rc = COMFY_ERR;
        goto out;
    }
    size_t item = (size_t)(a.c * a.h * a.w);
    const float *p2 = s2 ? s2 : b.data;
    float ff = (float)f, g = (float)(1.0 - f);
    float *o = t->data;
    for (int64_t k = 0; k < B; k++)
        for (size_t i = 0; i < item; i++)
            o[(size_t)k * item + i] = a.data[(size_t)(a.b == 1 ? 0 : k) * item + i] * ff +
                                      p2[(size_t)(b2 == 1 ? 0 : k) * item + i] * g;
    rc = out_latent(call, a.map, t);
    t = NULL;
out:
    h->tensor_release(t);
    free(s2);
    dp_latent_free(&a);
    dp_latent_free(&b);
    return rc;
}

/* --------------------------------------------------------- declarations */

#define IN(name, type, opts) {sizeof(comfy_input_def), name, type, COMFY_REQUIRED, opts, NULL, NULL, NULL, 0}
#define INC(name, list) {sizeof(comfy_input_def), name, "COMBO", COMFY_REQUIRED, NULL, list, NULL, NULL, 0}
#define OUT(type, tip) {sizeof(comfy_output_def), type, NULL, tip, 0}
#define N(arr) (uint32_t)(sizeof arr / sizeof arr[0])
#define STEP8(d, lo) "{\"default\": " d ", \"min\": " lo ", \"max\": 16384, \"step\": 8}"

static const comfy_input_def empty_in[] = {
    IN("width", "INT",
       "{\"default\": 512, \"min\": 16, \"max\": 16384, \"step\": 8, \"tooltip\": \"The width "
       "of the latent images in pixels.\"}"),
    IN("height", "INT",
       "{\"default\": 512, \"min\": 16, \"max\": 16384, \"step\": 8, \"tooltip\": \"The height "
       "of the latent images in pixels.\"}"),
    IN("batch_size", "INT",
       "{\"default\": 1, \"min\": 1, \"max\": 4096, \"tooltip\": \"The number of latent images "
       "in the batch.\"}"),
};
static const comfy_input_def composite_in[] = {
    IN("samples_to", "LATENT", NULL),
    IN("samples_from", "LATENT", NULL),
    IN("x", "INT", STEP8("0", "0")),
    IN("y", "INT", STEP8("0", "0")),
    IN("feather", "INT", STEP8("0", "0")),
};
static const comfy_input_def from_batch_in[] = {
    IN("samples", "LATENT", NULL),
    IN("batch_index", "INT", "{\"default\": 0, \"min\": 0, \"max\": 63}"),
    IN("length", "INT", "{\"default\": 1, \"min\": 1, \"max\": 64}"),
};
static const comfy_input_def repeat_in[] = {
    IN("samples", "LATENT", NULL),
    IN("amount", "INT", "{\"default\": 1, \"min\": 1, \"max\": 64}"),
};
static const comfy_input_def noise_mask_in[] = {
    IN("samples", "LATENT", NULL),
    IN("mask", "MASK", NULL),
};
static const comfy_input_def rotate_in[] = {
    IN("samples", "LATENT", NULL),
    INC("rotation", rotations),
};
static const comfy_input_def flip_in[] = {
    IN("samples", "LATENT", NULL),
    INC("flip_method", flips),
};
static const comfy_input_def crop_in[] = {
    IN("samples", "LATENT", NULL),
    IN("width", "INT", STEP8("512", "64")),
    IN("height", "INT", STEP8("512", "64")),
    IN("x", "INT", STEP8("0", "0")),
    IN("y", "INT", STEP8("0", "0")),
};

static const comfy_input_def upscale_in[] = {
    IN("samples", "LATENT", NULL),
    INC("upscale_method", dp_upscale_methods),
    IN("width", "INT", STEP8("512", "0")),
    IN("height", "INT", STEP8("512", "0")),
    INC("crop", crop_methods),
};
static const comfy_input_def upscale_by_in[] = {
    IN("samples", "LATENT", NULL),
    INC("upscale_method", dp_upscale_methods),
    IN("scale_by", "FLOAT", "{\"default\": 1.5, \"min\": 0.01, \"max\": 8.0, \"step\": 0.01}"),
};
static const comfy_input_def blend_in[] = {
    IN("samples1", "LATENT", NULL),
    IN("samples2", "LATENT", NULL),
    IN("blend_factor", "FLOAT", "{\"default\": 0.5, \"min\": 0, \"max\": 1, \"step\": 0.01}"),
};

static const comfy_output_def latent_out[] = {OUT("LATENT", NULL)};
static const comfy_output_def empty_out[] = {OUT("LATENT", "The empty latent image batch.")};

#define NODE(cls, disp, cat, ins, outs, fn, ...)                                             \
    {.size = sizeof(comfy_node_def), .name = cls, .display_name = disp, .category = cat,     \
     .module = "nodes", .inputs = ins, .n_inputs = N(ins), .outputs = outs,                  \
     .n_outputs = N(outs), .execute = fn, __VA_ARGS__}

static const comfy_node_def latent_nodes[] = {
    NODE("EmptyLatentImage", "Empty Latent Image", "latent", empty_in, empty_out,
         empty_latent_execute,
         .description = "Create a new batch of empty latent images to be denoised via sampling.",
         .flags = COMFY_NODE_OUTPUT_TOOLTIPS),
    NODE("LatentUpscale", "Upscale Latent", "latent", upscale_in, latent_out, upscale_execute),
    NODE("LatentUpscaleBy", "Upscale Latent By", "latent", upscale_by_in, latent_out,
         upscale_by_execute),
    NODE("LatentComposite", "Latent Composite", "latent", composite_in, latent_out,
         composite_execute),
    NODE("LatentBlend", "Latent Blend", "_for_testing", blend_in, latent_out, blend_execute),
    NODE("LatentFromBatch", "Latent From Batch", "latent/batch", from_batch_in, latent_out,
         from_batch_execute),
    NODE("RepeatLatentBatch", "Repeat Latent Batch", "latent/batch", repeat_in, latent_out,
         repeat_execute),
    NODE("SetLatentNoiseMask", "Set Latent Noise Mask", "latent/inpaint", noise_mask_in,
         latent_out, set_noise_mask_execute),
    NODE("LatentRotate", "Rotate Latent", "latent/transform", rotate_in, latent_out,
         rotate_execute),
    NODE("LatentFlip", "Flip Latent", "latent/transform", flip_in, latent_out, flip_execute),
    NODE("LatentCrop", "Crop Latent", "latent/transform", crop_in, latent_out, crop_execute),
};

int dp_register_latent(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < N(latent_nodes); i++) {
        int rc = h->register_node(reg, &latent_nodes[i]);
        if (rc)
            return rc;
    }
    return COMFY_OK;
}
