/*
 * nodes_conditioning.c — CLIPTextEncode, CLIPSetLastLayer,
 * CLIPTextEncodeSDXL, CLIPTextEncodeSDXLRefiner, the Conditioning* nodes
 * that edit CONDITIONING lists (entries [tensor, options], see
 * comfy/diffusion.h) and InpaintModelConditioning.  Execute runs on the
 * executor thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dpack.h"

#include "clip_stack.h"
#include "embedding_file.h"

/* --------------------------------------------------------------- helpers */

/* A new f32 tensor value [1, rows, width] (or [1, width] when rows < 0)
 * copied from data; NULL on OOM. */
static comfy_value *tensor_value(const comfy_host *h, const float *data, int64_t rows,
                                 int64_t width)
{
    int64_t shape3[3] = {1, rows, width};
    int64_t shape2[2] = {1, width};
    comfy_tensor *t = rows < 0 ? h->tensor_new(h->ctx, COMFY_F32, 2, shape2)
                               : h->tensor_new(h->ctx, COMFY_F32, 3, shape3);
    if (!t)
        return NULL;
    size_t n = (size_t)(rows < 0 ? 1 : rows) * (size_t)width;
    if (data)
        memcpy(t->data, data, n * sizeof(float));
    return h->value_tensor(h->ctx, t);
}

/* A new entry [cond, options]; takes both references (NULLs are OOM). */
static comfy_value *make_entry(const comfy_host *h, comfy_value *cond, comfy_value *opts)
{
    comfy_value *e = h->value_list(h->ctx);
    if (!e || !cond || !opts) {
        h->value_release(e);
        h->value_release(cond);
        h->value_release(opts);
        return NULL;
    }
    if (h->list_append(e, cond) != COMFY_OK) {
        h->value_release(opts);
        h->value_release(e);
        return NULL;
    }
    if (h->list_append(e, opts) != COMFY_OK) {
        h->value_release(e);
        return NULL;
    }
    return e;
}

const comfy_value *dp_in_cond(comfy_call *call, const char *name)
{
    const comfy_host *h = call->host;
    const comfy_value *v = h->input(call, name);
    if (h->value_kind(v) != COMFY_KIND_LIST)
        goto bad;
    for (size_t i = 0; i < h->list_len(v); i++) {
        const comfy_value *e = h->list_get(v, i);
        if (h->value_kind(e) != COMFY_KIND_LIST || h->list_len(e) != 2 ||
            !h->value_get_tensor(h->list_get(e, 0)) ||
            h->value_kind(h->list_get(e, 1)) != COMFY_KIND_MAP)
            goto bad;
    }
    return v;
bad:
    h->fail(call, "ValueError", "%s is not a CONDITIONING (a list of [tensor, dict])", name);
    return NULL;
}

comfy_value *dp_map_copy(const comfy_host *h, const comfy_value *src)
{
    comfy_value *m = h->value_map(h->ctx);
    if (!m)
        return NULL;
    for (size_t i = 0; i < h->map_len(src); i++)
        if (h->map_set(m, h->map_key(src, i), h->value_retain(h->map_value(src, i))) != COMFY_OK) {
            h->value_release(m);
            return NULL;
        }
    return m;
}

/* Sets output 0 to `v` or fails with OOM when it is NULL. */
static int set_cond_output(comfy_call *call, comfy_value *v)
{
    if (!v)
        return call->host->fail(call, "RuntimeError", "out of memory");
    return call->host->set_output(call, 0, v);
}

/* The embeddings folder for `embedding:NAME` in prompts. */
typedef struct embed_ctx {
    const comfy_host *h;
} embed_ctx;

static int embed_resolve(void *ctx, const char *rel, char *path, size_t cap)
{
    embed_ctx *e = ctx;
    return e->h->folder_resolve(e->h->ctx, "embeddings", rel, path, cap);
}

static void embed_warn(void *ctx, const char *msg)
{
    embed_ctx *e = ctx;
    e->h->log(e->h->ctx, COMFY_LOG_WARNING, "%s", msg);
}

/* Encodes `text` with the CLIP and returns a one-entry CONDITIONING with
 * pooled_output and the `extra` options already in the map (NULL: none;
 * reference taken).  NULL after failing the call. */
static comfy_value *encode_text(comfy_call *call, dp_clip *clip, const char *text_g,
                                const char *text_l, comfy_value *opts)
{
    const comfy_host *h = call->host;
    cd_clip_cond cc = {0};
    char err[512] = "";
    /* A view of the stack with the embeddings folder as it is now (the
     * listing follows the disk, as ComfyUI's lookups do). */
    cd_clip_stack view = *clip->stack;
    view.owns = 0;
    embed_ctx ec = {h};
    comfy_value *files = h->value_list(h->ctx);
    const char **names = NULL;
    cd_clip_embed_dir dir = {0};
    if (files && h->folder_list(h->ctx, "embeddings", files) == COMFY_OK && h->list_len(files)) {
        size_t n = h->list_len(files);
        names = malloc(n * sizeof *names);
        if (names) {
            for (size_t i = 0; i < n; i++)
                names[i] = h->value_get_string(h->list_get(files, i));
            dir.files = names;
            dir.n_files = n;
            dir.resolve = embed_resolve;
            dir.resolve_ctx = &ec;
            dir.warn = embed_warn;
            dir.warn_ctx = &ec;
            view.embed_fn = cd_clip_embed_dir_fn;
            view.embed_ctx = &dir;
        }
    }
    view.warn = embed_warn;
    view.warn_ctx = &ec;
    int rc = text_l ? cd_clip_stack_encode_sdxl(&view, dp_pool(h), text_g, strlen(text_g),
                                                text_l, strlen(text_l), &cc, err, sizeof err)
                    : cd_clip_stack_encode(&view, dp_pool(h), text_g, strlen(text_g), &cc,
                                           err, sizeof err);
    free(names);
    h->value_release(files);
    if (rc < 0) {
        h->value_release(opts);
        if (rc == COMFY_ENOMEM)
            dp_fail_status(call, rc, "text encoding failed", err);
        else
            h->fail(call, "RuntimeError", "%s", *err ? err : "text encoding failed");
        return NULL;
    }
    if (!opts)
        opts = h->value_map(h->ctx);
    comfy_value *pooled = cc.pooled ? tensor_value(h, cc.pooled, -1, cc.pooled_width)
                                    : h->value_none(h->ctx);
    comfy_value *cond = tensor_value(h, cc.cond, cc.rows, cc.width);
    cd_clip_cond_free(&cc);
    comfy_value *list = h->value_list(h->ctx);
    if (!opts || !pooled || !list) {
        h->value_release(pooled);
        goto oom;
    }
    /* pooled_output first, as ComfyUI's dict. */
    comfy_value *o2 = h->value_map(h->ctx);
    if (!o2 || h->map_set(o2, "pooled_output", pooled) != COMFY_OK) {
        h->value_release(o2);
        if (!o2)
            h->value_release(pooled);
        goto oom;
    }
    for (size_t i = 0; i < h->map_len(opts); i++)
        if (h->map_set(o2, h->map_key(opts, i), h->value_retain(h->map_value(opts, i))) !=
            COMFY_OK) {
            h->value_release(o2);
            goto oom;
        }
    h->value_release(opts);
    opts = NULL;
    comfy_value *e = make_entry(h, cond, o2);
    cond = NULL;
    if (!e || h->list_append(list, e) != COMFY_OK)
        goto oom;
    return list;
oom:
    h->value_release(opts);
    h->value_release(cond);
    h->value_release(list);
    h->fail(call, "RuntimeError", "out of memory");
    return NULL;
}

/* ------------------------------------------------------------- CLIP nodes */

static int clip_text_encode_execute(comfy_call *call)
{
    const char *text;
    int rc = dp_in_string(call, "text", &text);
    if (rc)
        return rc;
    dp_clip *clip = dp_in_clip(call, "clip");
    if (!clip)
        return COMFY_ERR;
    comfy_value *c = encode_text(call, clip, text, NULL, NULL);
    return c ? call->host->set_output(call, 0, c) : COMFY_ERR;
}

static int clip_set_last_layer_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int64_t k;
    int rc = dp_in_int(call, "stop_at_clip_layer", &k);
    if (rc)
        return rc;
    if (k < -24 || k > -1)
        return h->fail(call, "ValueError", "stop_at_clip_layer must be in -24..-1");
    dp_clip *src = dp_in_clip(call, "clip");
    if (!src)
        return COMFY_ERR;
    dp_clip *c = calloc(1, sizeof *c);
    cd_clip_stack *view = c ? cd_clip_stack_view(src->stack) : NULL;
    if (!view) {
        free(c);
        return h->fail(call, "RuntimeError", "out of memory");
    }
    cd_clip_stack_set_last_layer(view, (int)k);
    atomic_init(&c->refs, 1);
    c->stack = view;
    /* The view borrows the models of the stack that owns them. */
    c->parent = dp_clip_ref(src->parent ? src->parent : src);
    comfy_value *v = dp_clip_value(h, c);
    dp_clip_unref(c);
    return set_cond_output(call, v);
}

/* Adds INT options `names` read from the call's inputs to map m. */
static int add_int_opts(comfy_call *call, comfy_value *m, const char *const *names)
{
    const comfy_host *h = call->host;
    for (int i = 0; names[i]; i++) {
        int64_t v;
        int rc = dp_in_int(call, names[i], &v);
        if (rc)
            return rc;
        if (h->map_set(m, names[i], h->value_int(h->ctx, v)) != COMFY_OK)
            return h->fail(call, "RuntimeError", "out of memory");
    }
    return COMFY_OK;
}

static int clip_text_encode_sdxl_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    static const char *const ints[] = {"width", "height", "crop_w", "crop_h",
                                       "target_width", "target_height", NULL};
    const char *tg, *tl;
    int rc;
    if ((rc = dp_in_string(call, "text_g", &tg)) || (rc = dp_in_string(call, "text_l", &tl)))
        return rc;
    dp_clip *clip = dp_in_clip(call, "clip");
    if (!clip)
        return COMFY_ERR;
    if (clip->stack->family != CD_CLIP_SDXL)
        return h->fail(call, "RuntimeError",
                       "CLIPTextEncodeSDXL needs an SDXL CLIP (CLIP-L and CLIP-G)");
    comfy_value *m = h->value_map(h->ctx);
    if (!m)
        return h->fail(call, "RuntimeError", "out of memory");
    if ((rc = add_int_opts(call, m, ints))) {
        h->value_release(m);
        return rc;
    }
    comfy_value *c = encode_text(call, clip, tg, tl, m);
    return c ? h->set_output(call, 0, c) : COMFY_ERR;
}

static int clip_text_encode_refiner_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    static const char *const ints[] = {"width", "height", NULL};
    const char *text;
    double ascore;
    int rc;
    if ((rc = dp_in_string(call, "text", &text)) || (rc = dp_in_float(call, "ascore", &ascore)))
        return rc;
    dp_clip *clip = dp_in_clip(call, "clip");
    if (!clip)
        return COMFY_ERR;
    comfy_value *m = h->value_map(h->ctx);
    if (!m || h->map_set(m, "aesthetic_score", h->value_float(h->ctx, ascore)) != COMFY_OK) {
        h->value_release(m);
        return h->fail(call, "RuntimeError", "out of memory");
    }
    if ((rc = add_int_opts(call, m, ints))) {
        h->value_release(m);
        return rc;
    }
    comfy_value *c = encode_text(call, clip, text, NULL, m);
    return c ? h->set_output(call, 0, c) : COMFY_ERR;
}

/* ----------------------------------------------------- conditioning edits */

/* An f32 contiguous [1, T, D] (or any) copy of a tensor value; NULL on OOM. */
static float *cond_data(const comfy_host *h, const comfy_value *v, int64_t *T, int64_t *D)
{
    comfy_tensor *t = h->value_get_tensor(v);
    if (!t || t->ndim < 2)
        return NULL;
    *D = t->shape[t->ndim - 1];
    *T = t->shape[t->ndim - 2];
    return dp_tensor_f32(h, t);
}

static int average_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    double s;
    int rc = dp_in_float(call, "conditioning_to_strength", &s);
    if (rc)
        return rc;
    const comfy_value *to = dp_in_cond(call, "conditioning_to");
    const comfy_value *from = to ? dp_in_cond(call, "conditioning_from") : NULL;
    if (!from)
        return COMFY_ERR;
    if (h->list_len(from) < 1)
        return h->fail(call, "IndexError", "list index out of range");
    if (h->list_len(from) > 1)
        h->log(h->ctx, COMFY_LOG_WARNING,
               "Warning: ConditioningAverage conditioning_from contains more than 1 cond, only "
               "the first one will actually be applied to conditioning_to.");
    const comfy_value *e0 = h->list_get(from, 0);
    int64_t Tf = 0, Df = 0;
    float *cf = cond_data(h, h->list_get(e0, 0), &Tf, &Df);
    const comfy_value *pf = h->map_get(h->list_get(e0, 1), "pooled_output");
    if (pf && !h->value_get_tensor(pf))
        pf = NULL;
    float *pfd = pf ? dp_tensor_f32(h, h->value_get_tensor(pf)) : NULL;
    comfy_value *out = h->value_list(h->ctx);
    if (!cf || !out || (pf && !pfd))
        goto oom;
    float fs = (float)s, fr = (float)(1.0 - s);
    for (size_t i = 0; i < h->list_len(to); i++) {
        const comfy_value *e = h->list_get(to, i);
        int64_t T = 0, D = 0;
        float *ct = cond_data(h, h->list_get(e, 0), &T, &D);
        if (!ct)
            goto oom;
        if (D != Df) {
            free(ct);
            rc = h->fail(call, "RuntimeError",
                         "The size of tensor a (%lld) must match the size of tensor b (%lld) at "
                         "non-singleton dimension 2", (long long)D, (long long)Df);
            goto fail;
        }
        comfy_value *tv = tensor_value(h, NULL, T, D);
        if (!tv) {
            free(ct);
            goto oom;
        }
        float *o = h->value_get_tensor(tv)->data;
        for (int64_t r = 0; r < T; r++)
            for (int64_t d = 0; d < D; d++) {
                float from_v = r < Tf ? cf[r * Df + d] : 0.0f;
                o[r * D + d] = ct[r * D + d] * fs + from_v * fr;
            }
        free(ct);
        comfy_value *m = dp_map_copy(h, h->list_get(e, 1));
        const comfy_value *pt = m ? h->map_get(m, "pooled_output") : NULL;
        if (pt && !h->value_get_tensor(pt))
            pt = NULL;
        if (m && pfd) {
            comfy_value *pv = NULL;
            if (!pt) {
                pv = h->value_retain(pf);
            } else {
                comfy_tensor *ptt = h->value_get_tensor(pt);
                float *ptd = dp_tensor_f32(h, ptt);
                int64_t np = h->tensor_numel(ptt);
                if (ptd && np == h->tensor_numel(h->value_get_tensor(pf))) {
                    comfy_tensor *nt = h->tensor_new(h->ctx, COMFY_F32, (int)ptt->ndim, ptt->shape);
                    if (nt) {
                        float *po = nt->data;
                        for (int64_t k = 0; k < np; k++)
                            po[k] = ptd[k] * fs + pfd[k] * fr;
                        pv = h->value_tensor(h->ctx, nt);
                    }
                }
                free(ptd);
            }
            if (!pv || h->map_set(m, "pooled_output", pv) != COMFY_OK) {
                h->value_release(m);
                m = NULL;
            }
        }
        comfy_value *ne = make_entry(h, tv, m);
        if (!ne || h->list_append(out, ne) != COMFY_OK)
            goto oom;
    }
    free(cf);
    free(pfd);
    return h->set_output(call, 0, out);
oom:
    rc = h->fail(call, "RuntimeError", "out of memory");
fail:
    free(cf);
    free(pfd);
    h->value_release(out);
    return rc;
}

static int concat_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const comfy_value *to = dp_in_cond(call, "conditioning_to");
    const comfy_value *from = to ? dp_in_cond(call, "conditioning_from") : NULL;
    if (!from)
        return COMFY_ERR;
    if (h->list_len(from) < 1)
        return h->fail(call, "IndexError", "list index out of range");
    if (h->list_len(from) > 1)
        h->log(h->ctx, COMFY_LOG_WARNING,
               "Warning: ConditioningConcat conditioning_from contains more than 1 cond, only "
               "the first one will actually be applied to conditioning_to.");
    int64_t Tf = 0, Df = 0;
    float *cf = cond_data(h, h->list_get(h->list_get(from, 0), 0), &Tf, &Df);
    comfy_value *out = h->value_list(h->ctx);
    int rc;
    if (!cf || !out)
        goto oom;
    for (size_t i = 0; i < h->list_len(to); i++) {
        const comfy_value *e = h->list_get(to, i);
        int64_t T = 0, D = 0;
        float *ct = cond_data(h, h->list_get(e, 0), &T, &D);
        if (!ct)
            goto oom;
        if (D != Df) {
            free(ct);
            rc = h->fail(call, "RuntimeError",
                         "Sizes of tensors must match except in dimension 1. Expected size %lld "
                         "but got size %lld for tensor number 1 in the list.",
                         (long long)D, (long long)Df);
            goto fail;
        }
        comfy_value *tv = tensor_value(h, NULL, T + Tf, D);
        if (!tv) {
            free(ct);
            goto oom;
        }
        float *o = h->value_get_tensor(tv)->data;
        memcpy(o, ct, (size_t)(T * D) * sizeof(float));
        memcpy(o + T * D, cf, (size_t)(Tf * D) * sizeof(float));
        free(ct);
        comfy_value *ne = make_entry(h, tv, dp_map_copy(h, h->list_get(e, 1)));
        if (!ne || h->list_append(out, ne) != COMFY_OK)
            goto oom;
    }
    free(cf);
    return h->set_output(call, 0, out);
oom:
    rc = h->fail(call, "RuntimeError", "out of memory");
fail:
    free(cf);
    h->value_release(out);
    return rc;
}


static int combine_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const comfy_value *a = dp_in_cond(call, "conditioning_1");
    const comfy_value *b = a ? dp_in_cond(call, "conditioning_2") : NULL;
    if (!b)
        return COMFY_ERR;
    comfy_value *out = h->value_list(h->ctx);
    if (!out)
        return set_cond_output(call, NULL);
    for (int k = 0; k < 2; k++) {
        const comfy_value *src = k ? b : a;
        for (size_t i = 0; i < h->list_len(src); i++)
            if (h->list_append(out, h->value_retain(h->list_get(src, i))) != COMFY_OK) {
                h->value_release(out);
                return set_cond_output(call, NULL);
            }
    }
    return h->set_output(call, 0, out);
}

/* The per-entry edit of the option-setting nodes: sets keys[i] = vals[i]
 * (references retained) on a copy of each entry's options. */
static int set_options(comfy_call *call, const comfy_value *cond, const char *const *keys,
                       comfy_value *const *vals, size_t nkeys)
{
    const comfy_host *h = call->host;
    comfy_value *out = h->value_list(h->ctx);
    if (!out)
        return set_cond_output(call, NULL);
    for (size_t i = 0; i < h->list_len(cond); i++) {
        const comfy_value *e = h->list_get(cond, i);
        comfy_value *m = dp_map_copy(h, h->list_get(e, 1));
        if (!m)
            goto oom;
        for (size_t k = 0; k < nkeys; k++)
            if (h->map_set(m, keys[k], h->value_retain(vals[k])) != COMFY_OK) {
                h->value_release(m);
                goto oom;
            }
        comfy_value *ne = make_entry(h, h->value_retain(h->list_get(e, 0)), m);
        if (!ne || h->list_append(out, ne) != COMFY_OK)
            goto oom;
    }
    return h->set_output(call, 0, out);
oom:
    h->value_release(out);
    return set_cond_output(call, NULL);
}

/* Releases the values made for set_options and returns rc. */
static int release_all(const comfy_host *h, comfy_value **v, size_t n, int rc)
{
    for (size_t i = 0; i < n; i++)
        h->value_release(v[i]);
    return rc;
}

static int set_timestep_range_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    double s, e;
    int rc;
    if ((rc = dp_in_float(call, "start", &s)) || (rc = dp_in_float(call, "end", &e)))
        return rc;
    const comfy_value *c = dp_in_cond(call, "conditioning");
    if (!c)
        return COMFY_ERR;
    static const char *const keys[] = {"start_percent", "end_percent"};
    comfy_value *vals[2] = {h->value_float(h->ctx, s), h->value_float(h->ctx, e)};
    if (!vals[0] || !vals[1])
        return release_all(h, vals, 2, set_cond_output(call, NULL));
    return release_all(h, vals, 2, set_options(call, c, keys, vals, 2));
}

static comfy_value *int_list(const comfy_host *h, const int64_t *v, size_t n)
{
    comfy_value *l = h->value_list(h->ctx);
    for (size_t i = 0; l && i < n; i++)
        if (h->list_append(l, h->value_int(h->ctx, v[i])) != COMFY_OK) {
            h->value_release(l);
            return NULL;
        }
    return l;
}

static int set_area_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int64_t w, ht, x, y;
    double strength;
    int rc;
    if ((rc = dp_in_int(call, "width", &w)) || (rc = dp_in_int(call, "height", &ht)) ||
        (rc = dp_in_int(call, "x", &x)) || (rc = dp_in_int(call, "y", &y)) ||
        (rc = dp_in_float(call, "strength", &strength)))
        return rc;
    const comfy_value *c = dp_in_cond(call, "conditioning");
    if (!c)
        return COMFY_ERR;
    int64_t area[4] = {ht / 8, w / 8, y / 8, x / 8};
    static const char *const keys[] = {"area", "strength", "set_area_to_bounds"};
    comfy_value *vals[3] = {int_list(h, area, 4), h->value_float(h->ctx, strength),
                            h->value_bool(h->ctx, 0)};
    if (!vals[0] || !vals[1] || !vals[2])
        return release_all(h, vals, 3, set_cond_output(call, NULL));
    return release_all(h, vals, 3, set_options(call, c, keys, vals, 3));
}

static int set_area_pct_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    double w, ht, x, y, strength;
    int rc;
    if ((rc = dp_in_float(call, "width", &w)) || (rc = dp_in_float(call, "height", &ht)) ||
        (rc = dp_in_float(call, "x", &x)) || (rc = dp_in_float(call, "y", &y)) ||
        (rc = dp_in_float(call, "strength", &strength)))
        return rc;
    const comfy_value *c = dp_in_cond(call, "conditioning");
    if (!c)
        return COMFY_ERR;
    comfy_value *area = h->value_list(h->ctx);
    const double av[4] = {ht, w, y, x};
    if (area && h->list_append(area, h->value_string(h->ctx, "percentage", (size_t)-1)) != COMFY_OK) {
        h->value_release(area);
        area = NULL;
    }
    for (int i = 0; area && i < 4; i++)
        if (h->list_append(area, h->value_float(h->ctx, av[i])) != COMFY_OK) {
            h->value_release(area);
            area = NULL;
        }
    static const char *const keys[] = {"area", "strength", "set_area_to_bounds"};
    comfy_value *vals[3] = {area, h->value_float(h->ctx, strength), h->value_bool(h->ctx, 0)};
    if (!vals[0] || !vals[1] || !vals[2])
        return release_all(h, vals, 3, set_cond_output(call, NULL));
    return release_all(h, vals, 3, set_options(call, c, keys, vals, 3));
}

static const char *const set_cond_area_choices[] = {"default", "mask bounds", NULL};

static int set_mask_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    double strength;
    const char *area;
    int rc;
    if ((rc = dp_in_float(call, "strength", &strength)) ||
        (rc = dp_in_string(call, "set_cond_area", &area)))
        return rc;
    const comfy_value *mv = h->input(call, "mask");
    comfy_tensor *mt = h->value_get_tensor(mv);
    if (!mt || mt->ndim < 2 || mt->ndim > 4)
        return h->fail(call, "ValueError", "mask is not a MASK");
    const comfy_value *c = dp_in_cond(call, "conditioning");
    if (!c)
        return COMFY_ERR;
    /* The mask made 3-D ([H, W] -> [1, H, W]; [B, 1, H, W] -> [B, H, W]). */
    int64_t H = mt->shape[mt->ndim - 2], W = mt->shape[mt->ndim - 1];
    int64_t B = h->tensor_numel(mt) / (H * W > 0 ? H * W : 1);
    int64_t shape[3] = {B, H, W};
    float *data = dp_tensor_f32(h, mt);
    comfy_tensor *t = data ? h->tensor_new(h->ctx, COMFY_F32, 3, shape) : NULL;
    if (!t) {
        free(data);
        return set_cond_output(call, NULL);
    }
    memcpy(t->data, data, (size_t)(B * H * W) * sizeof(float));
    free(data);
    static const char *const keys[] = {"mask", "set_area_to_bounds", "mask_strength"};
    comfy_value *vals[3] = {h->value_tensor(h->ctx, t),
                            h->value_bool(h->ctx, strcmp(area, "default") != 0),
                            h->value_float(h->ctx, strength)};
    if (!vals[0] || !vals[1] || !vals[2])
        return release_all(h, vals, 3, set_cond_output(call, NULL));
    return release_all(h, vals, 3, set_options(call, c, keys, vals, 3));
}

/* InpaintModelConditioning (ComfyUI's nodes.py): the mask resized
 * (bilinear) to the image, image and mask cropped to multiples of 8
 * (centred), the masked pixels (rounded mask) set to grey and encoded as
 * concat_latent_image, the mask as concat_mask, both set on every entry of
 * positive and negative; the latent is the encoded original image with the
 * mask as noise_mask when noise_mask is true. */
static int inpaint_conditioning_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int noise_mask, rc;
    if ((rc = dp_in_bool(call, "noise_mask", &noise_mask)))
        return rc;
    const comfy_value *pos = dp_in_cond(call, "positive");
    if (!pos)
        return COMFY_ERR;
    const comfy_value *neg = dp_in_cond(call, "negative");
    if (!neg)
        return COMFY_ERR;
    dp_vae *vae = dp_in_vae(call, "vae");
    if (!vae)
        return COMFY_ERR;
    comfy_tensor *pt = h->value_get_tensor(h->input(call, "pixels"));
    comfy_tensor *mt = h->value_get_tensor(h->input(call, "mask"));
    if (!pt || pt->ndim != 4 || pt->shape[3] < 3)
        return h->fail(call, "ValueError", "pixels is not an IMAGE [batch, height, width, 3]");
    if (!mt || mt->ndim < 2 || mt->ndim > 4)
        return h->fail(call, "ValueError", "mask is not a MASK");
    int64_t B = pt->shape[0], H = pt->shape[1], W = pt->shape[2], C = pt->shape[3];
    int64_t X = H / 8 * 8, Y = W / 8 * 8; /* ComfyUI's x (rows) and y (columns) */
    if (B < 1 || X < 8 || Y < 8)
        return h->fail(call, "ValueError", "the image (%lldx%lld) is smaller than 8x8",
                       (long long)W, (long long)H);
    int64_t mh = mt->shape[mt->ndim - 2], mw = mt->shape[mt->ndim - 1];
    int64_t N = mh * mw > 0 ? h->tensor_numel(mt) / (mh * mw) : 0;
    if (N < 1)
        return h->fail(call, "ValueError", "the mask is empty");
    if (N != 1 && N != B)
        return h->fail(call, "RuntimeError",
                       "the mask batch (%lld) does not match the image batch (%lld)",
                       (long long)N, (long long)B);
    int64_t r = vae->downscale;
    if (r < 1 || X % r || Y % r)
        return h->fail(call, "ValueError", "the VAE's downscale %lld does not divide %lldx%lld",
                       (long long)r, (long long)Y, (long long)X);
    int64_t xo = (H % 8) / 2, yo = (W % 8) / 2;
    float *pix = dp_tensor_f32(h, pt), *m0 = dp_tensor_f32(h, mt);
    float *mfull = malloc((size_t)(N * H * W) * sizeof(float));
    float *orig = malloc((size_t)(B * X * Y * 3) * sizeof(float));
    float *grey = malloc((size_t)(B * X * Y * 3) * sizeof(float));
    comfy_tensor *mask = NULL, *zc = NULL, *zo = NULL;
    comfy_value *mval = NULL, *zcval = NULL, *latent = NULL, *outs[2] = {NULL, NULL};
    if (!pix || !m0 || !mfull || !orig || !grey)
        goto oom;
    rc = dp_common_upscale(m0, N, 1, mh, mw, mfull, H, W, DP_UPSCALE_BILINEAR, 0);
    if (rc) {
        if (rc == COMFY_ENOMEM)
            goto oom;
        rc = h->fail(call, "RuntimeError", "cannot resize the mask to the image");
        goto out;
    }
    int64_t mshape[4] = {N, 1, X, Y};
    mask = dp_new_tensor(call, 4, mshape);
    if (!mask) {
        rc = COMFY_ERR;
        goto out;
    }
    float *md = mask->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < X; i++)
            memcpy(md + (n * X + i) * Y, mfull + (n * H + xo + i) * W + yo,
                   (size_t)Y * sizeof(float));
    /* The cropped image and its grey-filled copy: (p - 0.5) * m + 0.5 with
     * m = 1 - round(mask). */
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < X; i++)
            for (int64_t j = 0; j < Y; j++) {
                float m = 1.0f - nearbyintf(md[((N == 1 ? 0 : b) * X + i) * Y + j]);
                for (int c = 0; c < 3; c++) {
                    float p = pix[((b * H + xo + i) * W + yo + j) * C + c];
                    size_t o = (size_t)(((b * X + i) * Y + j) * 3 + c);
                    orig[o] = p;
                    p -= 0.5f;
                    p *= m;
                    grey[o] = p + 0.5f;
                }
            }
    int64_t zshape[4] = {B, vae->latent_channels, X / r, Y / r};
    zc = dp_new_tensor(call, 4, zshape);
    zo = zc ? dp_new_tensor(call, 4, zshape) : NULL;
    if (!zo) {
        rc = COMFY_ERR;
        goto out;
    }
    if ((rc = dp_vae_encode(vae, call, grey, B, X, Y, zc->data)) ||
        (rc = dp_vae_encode(vae, call, orig, B, X, Y, zo->data)))
        goto out;
    mval = h->value_tensor(h->ctx, mask);
    mask = NULL;
    zcval = h->value_tensor(h->ctx, zc);
    zc = NULL;
    latent = dp_latent_with(h, NULL, zo);
    zo = NULL;
    if (!mval || !zcval || !latent)
        goto oom;
    if (noise_mask && h->map_set(latent, "noise_mask", h->value_retain(mval)) != COMFY_OK)
        goto oom;
    static const char *const keys[] = {"concat_latent_image", "concat_mask"};
    comfy_value *vals[2] = {zcval, mval};
    const comfy_value *lists[2] = {pos, neg};
    for (int l = 0; l < 2; l++) {
        outs[l] = h->value_list(h->ctx);
        if (!outs[l])
            goto oom;
        for (size_t i = 0; i < h->list_len(lists[l]); i++) {
            const comfy_value *e = h->list_get(lists[l], i);
            comfy_value *m = dp_map_copy(h, h->list_get(e, 1));
            if (!m)
                goto oom;
            for (size_t k = 0; k < 2; k++)
                if (h->map_set(m, keys[k], h->value_retain(vals[k])) != COMFY_OK) {
                    h->value_release(m);
                    goto oom;
                }
            comfy_value *ne = make_entry(h, h->value_retain(h->list_get(e, 0)), m);
            if (!ne || h->list_append(outs[l], ne) != COMFY_OK)
                goto oom;
        }
    }
    if ((rc = h->set_output(call, 0, outs[0])) == COMFY_OK) {
        outs[0] = NULL;
        rc = h->set_output(call, 1, outs[1]);
        outs[1] = NULL;
        if (rc == COMFY_OK) {
            rc = h->set_output(call, 2, latent);
            latent = NULL;
        }
    } else {
        outs[0] = NULL;
    }
    goto out;
oom:
    rc = h->fail(call, "RuntimeError", "out of memory");
out:
    free(pix);
    free(m0);
    free(mfull);
    free(orig);
    free(grey);
    if (mask)
        h->tensor_release(mask);
    if (zc)
        h->tensor_release(zc);
    if (zo)
        h->tensor_release(zo);
    h->value_release(mval);
    h->value_release(zcval);
    h->value_release(latent);
    h->value_release(outs[0]);
    h->value_release(outs[1]);
    return rc;
}

/* A zero-filled copy of a tensor value (its shape, f32). */
static comfy_value *zeros_like(const comfy_host *h, const comfy_value *v)
{
    comfy_tensor *t = h->value_get_tensor(v);
    if (!t)
        return NULL;
    comfy_tensor *z = h->tensor_new(h->ctx, COMFY_F32, (int)t->ndim, t->shape);
    return z ? h->value_tensor(h->ctx, z) : NULL;
}

static int zero_out_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const comfy_value *c = dp_in_cond(call, "conditioning");
    if (!c)
        return COMFY_ERR;
    comfy_value *out = h->value_list(h->ctx);
    if (!out)
        return set_cond_output(call, NULL);
    for (size_t i = 0; i < h->list_len(c); i++) {
        const comfy_value *e = h->list_get(c, i);
        comfy_value *m = dp_map_copy(h, h->list_get(e, 1));
        if (!m)
            goto oom;
        static const char *const zkeys[] = {"pooled_output", "conditioning_lyrics"};
        for (int k = 0; k < 2; k++) {
            const comfy_value *p = h->map_get(m, zkeys[k]);
            if (p && h->value_get_tensor(p)) {
                comfy_value *z = zeros_like(h, p);
                if (!z || h->map_set(m, zkeys[k], z) != COMFY_OK) {
                    h->value_release(m);
                    goto oom;
                }
            }
        }
        comfy_value *ne = make_entry(h, zeros_like(h, h->list_get(e, 0)), m);
        if (!ne || h->list_append(out, ne) != COMFY_OK)
            goto oom;
    }
    return h->set_output(call, 0, out);
oom:
    h->value_release(out);
    return set_cond_output(call, NULL);
}

/* --------------------------------------------------------- declarations */

#define IN(name, type, opts) {sizeof(comfy_input_def), name, type, COMFY_REQUIRED, opts, NULL, NULL, NULL, 0}
#define OUT(type, tip) {sizeof(comfy_output_def), type, NULL, tip, 0}
#define N(arr) (uint32_t)(sizeof arr / sizeof arr[0])

static const comfy_input_def set_last_layer_in[] = {
    IN("clip", "CLIP", NULL),
    IN("stop_at_clip_layer", "INT", "{\"default\": -1, \"min\": -24, \"max\": -1, \"step\": 1}"),
};
static const comfy_input_def text_encode_in[] = {
    IN("text", "STRING",
       "{\"multiline\": true, \"dynamicPrompts\": true, \"tooltip\": \"The text to be encoded.\"}"),
    IN("clip", "CLIP", "{\"tooltip\": \"The CLIP model used for encoding the text.\"}"),
};
#define SIZE_OPT(d) "{\"default\": " d ", \"min\": 0, \"max\": 16384}"
static const comfy_input_def sdxl_in[] = {
    IN("clip", "CLIP", NULL),
    IN("width", "INT", SIZE_OPT("1024")),
    IN("height", "INT", SIZE_OPT("1024")),
    IN("crop_w", "INT", SIZE_OPT("0")),
    IN("crop_h", "INT", SIZE_OPT("0")),
    IN("target_width", "INT", SIZE_OPT("1024")),
    IN("target_height", "INT", SIZE_OPT("1024")),
    IN("text_g", "STRING", "{\"multiline\": true, \"dynamicPrompts\": true}"),
    IN("text_l", "STRING", "{\"multiline\": true, \"dynamicPrompts\": true}"),
};
static const comfy_input_def refiner_in[] = {
    IN("ascore", "FLOAT", "{\"default\": 6.0, \"min\": 0.0, \"max\": 1000.0, \"step\": 0.01}"),
    IN("width", "INT", SIZE_OPT("1024")),
    IN("height", "INT", SIZE_OPT("1024")),
    IN("text", "STRING", "{\"multiline\": true, \"dynamicPrompts\": true}"),
    IN("clip", "CLIP", NULL),
};
static const comfy_input_def combine_in[] = {
    IN("conditioning_1", "CONDITIONING", NULL),
    IN("conditioning_2", "CONDITIONING", NULL),
};
static const comfy_input_def average_in[] = {
    IN("conditioning_to", "CONDITIONING", NULL),
    IN("conditioning_from", "CONDITIONING", NULL),
    IN("conditioning_to_strength", "FLOAT",
       "{\"default\": 1.0, \"min\": 0.0, \"max\": 1.0, \"step\": 0.01}"),
};
static const comfy_input_def concat_in[] = {
    IN("conditioning_to", "CONDITIONING", NULL),
    IN("conditioning_from", "CONDITIONING", NULL),
};
static const comfy_input_def set_area_in[] = {
    IN("conditioning", "CONDITIONING", NULL),
    IN("width", "INT", "{\"default\": 64, \"min\": 64, \"max\": 16384, \"step\": 8}"),
    IN("height", "INT", "{\"default\": 64, \"min\": 64, \"max\": 16384, \"step\": 8}"),
    IN("x", "INT", "{\"default\": 0, \"min\": 0, \"max\": 16384, \"step\": 8}"),
    IN("y", "INT", "{\"default\": 0, \"min\": 0, \"max\": 16384, \"step\": 8}"),
    IN("strength", "FLOAT", "{\"default\": 1.0, \"min\": 0.0, \"max\": 10.0, \"step\": 0.01}"),
};
static const comfy_input_def set_area_pct_in[] = {
    IN("conditioning", "CONDITIONING", NULL),
    IN("width", "FLOAT", "{\"default\": 1.0, \"min\": 0, \"max\": 1.0, \"step\": 0.01}"),
    IN("height", "FLOAT", "{\"default\": 1.0, \"min\": 0, \"max\": 1.0, \"step\": 0.01}"),
    IN("x", "FLOAT", "{\"default\": 0, \"min\": 0, \"max\": 1.0, \"step\": 0.01}"),
    IN("y", "FLOAT", "{\"default\": 0, \"min\": 0, \"max\": 1.0, \"step\": 0.01}"),
    IN("strength", "FLOAT", "{\"default\": 1.0, \"min\": 0.0, \"max\": 10.0, \"step\": 0.01}"),
};
static const comfy_input_def set_mask_in[] = {
    IN("conditioning", "CONDITIONING", NULL),
    IN("mask", "MASK", NULL),
    IN("strength", "FLOAT", "{\"default\": 1.0, \"min\": 0.0, \"max\": 10.0, \"step\": 0.01}"),
    {sizeof(comfy_input_def), "set_cond_area", "COMBO", COMFY_REQUIRED, NULL,
     set_cond_area_choices, NULL, NULL, 0},
};
static const comfy_input_def zero_out_in[] = {
    IN("conditioning", "CONDITIONING", NULL),
};
static const comfy_input_def timestep_range_in[] = {
    IN("conditioning", "CONDITIONING", NULL),
    IN("start", "FLOAT", "{\"default\": 0.0, \"min\": 0.0, \"max\": 1.0, \"step\": 0.001}"),
    IN("end", "FLOAT", "{\"default\": 1.0, \"min\": 0.0, \"max\": 1.0, \"step\": 0.001}"),
};

static const comfy_input_def inpaint_cond_in[] = {
    IN("positive", "CONDITIONING", NULL),
    IN("negative", "CONDITIONING", NULL),
    IN("vae", "VAE", NULL),
    IN("pixels", "IMAGE", NULL),
    IN("mask", "MASK", NULL),
    IN("noise_mask", "BOOLEAN",
       "{\"default\": true, \"tooltip\": \"Add a noise mask to the latent so sampling will only "
       "happen within the mask. Might improve results or completely break things depending on "
       "the model.\"}"),
};

static const comfy_output_def clip_out[] = {OUT("CLIP", NULL)};
static const comfy_output_def inpaint_cond_out[] = {
    {sizeof(comfy_output_def), "CONDITIONING", "positive", NULL, 0},
    {sizeof(comfy_output_def), "CONDITIONING", "negative", NULL, 0},
    {sizeof(comfy_output_def), "LATENT", "latent", NULL, 0},
};
static const comfy_output_def cond_out[] = {OUT("CONDITIONING", NULL)};
static const comfy_output_def text_encode_out[] = {
    OUT("CONDITIONING",
        "A conditioning containing the embedded text used to guide the diffusion model."),
};

#define NODE(cls, disp, cat, ins, outs, fn, ...) NODEM("nodes", cls, disp, cat, ins, outs, fn, __VA_ARGS__)
#define NODEM(mod, cls, disp, cat, ins, outs, fn, ...)                                       \
    {.size = sizeof(comfy_node_def), .name = cls, .display_name = disp, .category = cat,     \
     .module = mod, .inputs = ins, .n_inputs = N(ins), .outputs = outs,                  \
     .n_outputs = N(outs), .execute = fn, __VA_ARGS__}

/* In the order of ComfyUI's NODE_CLASS_MAPPINGS. */
static const comfy_node_def cond_nodes[] = {
    NODE("CLIPTextEncode", "CLIP Text Encode (Prompt)", "conditioning", text_encode_in,
         text_encode_out, clip_text_encode_execute,
         .description = "Encodes a text prompt using a CLIP model into an embedding that can "
                        "be used to guide the diffusion model towards generating specific "
                        "images.",
         .flags = COMFY_NODE_OUTPUT_TOOLTIPS),
    NODE("CLIPSetLastLayer", "CLIP Set Last Layer", "conditioning", set_last_layer_in, clip_out,
         clip_set_last_layer_execute),
    NODE("ConditioningCombine", "Conditioning (Combine)", "conditioning", combine_in, cond_out,
         combine_execute),
    NODE("ConditioningAverage", "ConditioningAverage", "conditioning", average_in, cond_out,
         average_execute),
    NODE("ConditioningConcat", "Conditioning (Concat)", "conditioning", concat_in, cond_out,
         concat_execute),
    NODE("ConditioningSetArea", "Conditioning (Set Area)", "conditioning", set_area_in,
         cond_out, set_area_execute),
    NODE("ConditioningSetAreaPercentage", "Conditioning (Set Area with Percentage)",
         "conditioning", set_area_pct_in, cond_out, set_area_pct_execute),
    NODE("ConditioningSetMask", "Conditioning (Set Mask)", "conditioning", set_mask_in,
         cond_out, set_mask_execute),
    NODE("InpaintModelConditioning", "InpaintModelConditioning", "conditioning/inpaint",
         inpaint_cond_in, inpaint_cond_out, inpaint_conditioning_execute),
    NODE("ConditioningZeroOut", "ConditioningZeroOut", "advanced/conditioning", zero_out_in,
         cond_out, zero_out_execute),
    NODE("ConditioningSetTimestepRange", "ConditioningSetTimestepRange",
         "advanced/conditioning", timestep_range_in, cond_out, set_timestep_range_execute),
    NODEM("comfy_extras.nodes_clip_sdxl", "CLIPTextEncodeSDXLRefiner", "CLIPTextEncodeSDXLRefiner", "advanced/conditioning",
         refiner_in, cond_out, clip_text_encode_refiner_execute, .flags = 0),
    NODEM("comfy_extras.nodes_clip_sdxl", "CLIPTextEncodeSDXL", "CLIPTextEncodeSDXL", "advanced/conditioning", sdxl_in,
         cond_out, clip_text_encode_sdxl_execute, .flags = 0),
};

int dp_register_conditioning(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < N(cond_nodes); i++) {
        int rc = h->register_node(reg, &cond_nodes[i]);
        if (rc)
            return rc;
    }
    return COMFY_OK;
}
