/*
 * nodes_controlnet.c — ControlNets (spec nodes-and-models.md §13):
 * ControlNetLoader, DiffControlNetLoader, ControlNetApplyAdvanced,
 * ControlNetApply, and what the
 * guider calls during sampling (ComfyUI's ControlNet.get_control: the hint
 * resized nearest-exact with center crop to 8x the latent, broadcast to the
 * batch, the net run on the entry's c_in·x, timestep and context, outputs
 * times strength, skipped outside the sigma range, summed over the chain
 * of previous ControlNets; then the UNet with those residuals).
 *
 * Objects: a CONTROL_NET value's self is a dp_cnet (reference counted):
 * the loaded net (dp_cnet_core, shared by every applied copy) plus, for
 * the copies ControlNetApply* put into conditioning options as "control",
 * the hint image, strength, percent range and the previous ControlNet.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dpack.h"

#include "controlnet.h"
#include "detect.h"
#include "modelfile.h"
#include "tensor.h"
#include "unet.h"

#define MAX_CHAIN 64

typedef struct dp_cnet_core {
    atomic_int refs;
    cd_controlnet *net;       /* owned */
    cd_model_file *file;      /* reference (weights may borrow it) */
    int gap;                  /* global_average_pooling (file name *_shuffle) */
} dp_cnet_core;

struct dp_cnet {
    atomic_int refs;
    dp_cnet_core *core;       /* reference */
    float *hint;              /* [hn, hc, hh, hw] owned, or NULL (a loaded net) */
    int64_t hn, hc, hh, hw;
    double strength, start, end;
    struct dp_cnet *prev;     /* reference, or NULL */
};

/* The per-sampling-run hint cache (ComfyUI's cond_hint). */
struct dp_cnet_run {
    size_t n, cap;
    struct hint_state {
        const struct dp_cnet *c;
        float *hint;          /* [n, hc, H, W] owned */
        int64_t n, H, W;
    } *e;
};

static const char cnet_tag = 0;

static void core_unref(dp_cnet_core *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
        cd_controlnet_free(c->net);
        cd_model_file_unref(c->file);
        free(c);
    }
}

static void cnet_unref(struct dp_cnet *c)
{
    while (c && atomic_fetch_sub(&c->refs, 1) == 1) {
        struct dp_cnet *prev = c->prev;
        core_unref(c->core);
        free(c->hint);
        free(c);
        c = prev;
    }
}

static void cnet_destroy(void *self)
{
    cnet_unref(self);
}

/* A new CONTROL_NET value taking the reference to c (dropped on OOM). */
static comfy_value *cnet_value(const comfy_host *h, struct dp_cnet *c)
{
    comfy_value *v = h->value_object(h->ctx, "CONTROL_NET", &cnet_tag, c, cnet_destroy);
    if (!v)
        cnet_unref(c);
    return v;
}

const struct dp_cnet *dp_cnet_of(const comfy_host *h, const comfy_value *v)
{
    const void *fi = NULL;
    void *self = NULL;
    if (!v || h->value_get_object(v, "CONTROL_NET", &fi, &self) != COMFY_OK || fi != &cnet_tag)
        return NULL;
    return self;
}

/* ----------------------------------------------------------- the loader */

static int list_controlnets(const comfy_host *h, void *user, comfy_value *out)
{
    (void)user;
    return h->folder_list(h->ctx, "controlnet", out);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* A "difference" ControlNet (DiffControlNetLoader): the file's
 * control_model.X plus the model's diffusion_model.X, in the file's dtype
 * (ComfyUI's `cd += model_sd[sd_key].type(cd.dtype)`), into a new state
 * dict whose patched arrays pt[] owns.  Returns 0 or fails the call. */
typedef struct patched {
    cd_sd sd;
    cd_tensor *t;
    void **bufs;
    size_t nbufs;
} patched;

static void patched_free(patched *p)
{
    cd_sd_free(&p->sd);
    for (size_t i = 0; i < p->nbufs; i++)
        free(p->bufs[i]);
    free(p->bufs);
    free(p->t);
    memset(p, 0, sizeof *p);
}

static int add_model_weights(comfy_call *call, const dp_model *m, const cd_sd *cn, patched *out)
{
    const comfy_host *h = call->host;
    char err[512] = "";
    memset(out, 0, sizeof *out);
    if (m->lora)
        return h->fail(call, "RuntimeError",
                       "DiffControlNetLoader: a difference ControlNet on a LoRA-patched model "
                       "is not supported by comfyd; load it on the model before LoraLoader");
    const cd_sd *ms = cd_model_file_index(m->file);
    cd_detect det;
    if (cd_detect_checkpoint(ms, &det, err, sizeof err) < 0 || det.diffusers)
        return h->fail(call, "RuntimeError",
                       "DiffControlNetLoader: the model's weights cannot be read in LDM layout "
                       "(%s)", *err ? err : "a diffusers-format UNet");
    out->t = calloc(cn->n ? cn->n : 1, sizeof *out->t);
    out->bufs = calloc(cn->n ? cn->n : 1, sizeof *out->bufs);
    if (!out->t || !out->bufs)
        goto oom;
    static const char cm[] = "control_model.";
    for (size_t i = 0; i < cn->n; i++) {
        const cd_tensor *t = cd_sd_at(cn, i);
        out->t[i] = *t;
        if (strncmp(t->name, cm, sizeof cm - 1) != 0)
            continue;
        const cd_tensor *mt = cd_sd_findf(ms, "%s%s", det.unet_prefix, t->name + sizeof cm - 1);
        if (!mt)
            continue;
        int64_t n = cd_tensor_numel(t);
        if (n != cd_tensor_numel(mt) || n <= 0 ||
            (t->dtype != CD_DT_F16 && t->dtype != CD_DT_BF16 && t->dtype != CD_DT_F32)) {
            int rc = h->fail(call, "RuntimeError",
                             "DiffControlNetLoader: %s does not match the model's weight",
                             t->name);
            patched_free(out);
            return rc;
        }
        float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
        void *dst = malloc((size_t)n * (t->dtype == CD_DT_F32 ? 4 : 2));
        if (!a || !b || !dst || cd_tensor_to_f32(t, a, (size_t)n) < 0 ||
            cd_tensor_to_f32(mt, b, (size_t)n) < 0) {
            free(a);
            free(b);
            free(dst);
            goto oom;
        }
        for (int64_t k = 0; k < n; k++) {
            float mv = b[k]; /* the model weight in the file's dtype, then added */
            if (t->dtype == CD_DT_F16) {
                mv = cd_f16_to_f32(cd_f32_to_f16(mv));
                ((uint16_t *)dst)[k] = cd_f32_to_f16(a[k] + mv);
            } else if (t->dtype == CD_DT_BF16) {
                mv = cd_bf16_to_f32(cd_f32_to_bf16(mv));
                ((uint16_t *)dst)[k] = cd_f32_to_bf16(a[k] + mv);
            } else {
                ((float *)dst)[k] = a[k] + mv;
            }
        }
        free(a);
        free(b);
        out->bufs[out->nbufs++] = dst;
        out->t[i].data = dst;
    }
    if (cd_sd_init(&out->sd, out->t, cn->n, err, sizeof err) < 0) {
        patched_free(out);
        return h->fail(call, "RuntimeError", "DiffControlNetLoader: %s", err);
    }
    return COMFY_OK;
oom:
    patched_free(out);
    return h->fail(call, "RuntimeError", "out of memory adding the model to the ControlNet");
}

/* ControlNetLoader (model NULL) and DiffControlNetLoader. */
static int load_run(comfy_call *call, const dp_model *model)
{
    const comfy_host *h = call->host;
    const char *name;
    int rc;
    if ((rc = dp_in_string(call, "control_net_name", &name)))
        return rc;
    char path[4096], err[512] = "";
    rc = h->folder_resolve(h->ctx, "controlnet", name, path, sizeof path);
    if (rc == COMFY_EACCES)
        return h->fail(call, "ValueError", "ControlNet name %s leaves the controlnet folder",
                       name);
    struct stat st;
    if (rc < 0 || stat(path, &st) != 0)
        return h->fail(call, "FileNotFoundError",
                       "Model in folder 'controlnet' with filename '%s' not found.", name);
    dp_cnet_core *core = calloc(1, sizeof *core);
    struct dp_cnet *c = calloc(1, sizeof *c);
    if (!core || !c) {
        free(core);
        free(c);
        return h->fail(call, "RuntimeError", "out of memory");
    }
    atomic_init(&core->refs, 1);
    atomic_init(&c->refs, 1);
    c->core = core;
    c->strength = 1.0;
    c->end = 1.0;
    if (cd_model_file_open(path, &core->file, err, sizeof err) < 0) {
        cnet_unref(c);
        return h->fail(call, "RuntimeError",
                       "Error while loading ControlNet %s: %s\n\nFile path: %s\n\nThe file is "
                       "corrupt or invalid. Make sure this is actually a safetensors file and "
                       "not a ckpt or pt or other filetype.",
                       name, err, path);
    }
    /* weights as the UNet keeps them: in the file's dtype, borrowed from
     * the mapping (the core holds the file), widened per layer */
    cd_nets_load_opts lo = {CD_NETS_WEIGHTS_STORED, CK_PREC_F32};
    const cd_sd *csd = cd_model_file_index(core->file);
    patched pt;
    memset(&pt, 0, sizeof pt);
    if (model && cd_sd_find(csd, "difference") &&
        cd_sd_find(csd, "control_model.zero_convs.0.0.weight")) {
        if ((rc = add_model_weights(call, model, csd, &pt))) {
            cnet_unref(c);
            return rc;
        }
        lo.weights = CD_NETS_WEIGHTS_F32; /* copies: the patched arrays go below */
        csd = &pt.sd;
    }
    rc = cd_controlnet_load(csd, &lo, &core->net, err, sizeof err);
    patched_free(&pt);
    if (rc < 0) {
        cnet_unref(c);
        if (rc == COMFY_ENOMEM)
            return dp_fail_status(call, rc, "ControlNet", err);
        return h->fail(call, "RuntimeError",
                       "ERROR: controlnet file is invalid and does not contain a valid "
                       "controlnet model. (%s: %s)",
                       name, err);
    }
    /* ComfyUI's load_controlnet: a file named *_shuffle(_fp16) averages
     * each output over the picture. */
    char stem[4096];
    snprintf(stem, sizeof stem, "%s", path);
    char *dot = strrchr(stem, '.'), *slash = strrchr(stem, '/');
    if (dot && (!slash || dot > slash))
        *dot = 0;
    core->gap = ends_with(stem, "_shuffle") || ends_with(stem, "_shuffle_fp16");
    comfy_value *v = cnet_value(h, c);
    return v ? h->set_output(call, 0, v) : h->fail(call, "RuntimeError", "out of memory");
}

static int loader_execute(comfy_call *call)
{
    return load_run(call, NULL);
}

static int diff_loader_execute(comfy_call *call)
{
    const dp_model *m = dp_in_model(call, "model");
    return m ? load_run(call, m) : COMFY_ERR;
}

/* ------------------------------------------------------------ applying */

static struct dp_cnet *in_cnet(comfy_call *call)
{
    const comfy_host *h = call->host;
    const struct dp_cnet *c = dp_cnet_of(h, h->input(call, "control_net"));
    if (!c) {
        h->fail(call, "RuntimeError", "control_net is not a CONTROL_NET");
        return NULL;
    }
    return (struct dp_cnet *)c;
}

/* The hint image [N, H, W, C] as [N, C, H, W] (malloc'd), or NULL after
 * failing the call. */
static float *in_hint(comfy_call *call, const dp_cnet_core *core, int64_t *n, int64_t *ch,
                      int64_t *hh, int64_t *hw)
{
    const comfy_host *h = call->host;
    comfy_tensor *t = h->value_get_tensor(h->input(call, "image"));
    if (!t || t->ndim != 4 || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[2] < 1) {
        h->fail(call, "ValueError", "image is not an IMAGE [batch, height, width, channels]");
        return NULL;
    }
    int64_t N = t->shape[0], H = t->shape[1], W = t->shape[2], C = t->shape[3];
    int want = cd_controlnet_hint_channels(core->net);
    if (C != want) {
        h->fail(call, "RuntimeError",
                "the ControlNet takes a hint image of %d channels, the image has %lld", want,
                (long long)C);
        return NULL;
    }
    float *src = dp_tensor_f32(h, t);
    float *out = src ? malloc((size_t)(N * C * H * W) * sizeof *out) : NULL;
    if (!out) {
        free(src);
        h->fail(call, "RuntimeError", "out of memory");
        return NULL;
    }
    for (int64_t b = 0; b < N; b++)
        for (int64_t i = 0; i < H * W; i++)
            for (int64_t c = 0; c < C; c++)
                out[(b * C + c) * H * W + i] = src[(b * H * W + i) * C + c];
    free(src);
    *n = N;
    *ch = C;
    *hh = H;
    *hw = W;
    return out;
}

/* A copy of `base` (its core) with its own hint, strength, range and prev
 * (references taken); NULL on OOM. */
static struct dp_cnet *applied(const struct dp_cnet *base, const float *hint, int64_t n,
                               int64_t c, int64_t hh, int64_t hw, double strength, double start,
                               double end, const struct dp_cnet *prev)
{
    struct dp_cnet *o = calloc(1, sizeof *o);
    size_t sz = (size_t)(n * c * hh * hw) * sizeof(float);
    if (!o || !(o->hint = malloc(sz))) {
        free(o);
        return NULL;
    }
    memcpy(o->hint, hint, sz);
    atomic_init(&o->refs, 1);
    o->core = base->core;
    atomic_fetch_add(&o->core->refs, 1);
    o->hn = n;
    o->hc = c;
    o->hh = hh;
    o->hw = hw;
    o->strength = strength;
    o->start = start;
    o->end = end;
    if (prev) {
        o->prev = (struct dp_cnet *)prev;
        atomic_fetch_add(&o->prev->refs, 1);
    }
    return o;
}

/* One entry [cond, opts] with opts' "control" = cv and
 * "control_apply_to_uncond" = to_uncond. */
static comfy_value *with_control(const comfy_host *h, const comfy_value *e, const comfy_value *cv,
                                 int to_uncond)
{
    const comfy_value *src = h->list_get(e, 1);
    comfy_value *m = dp_map_copy(h, src), *l = h->value_list(h->ctx);
    if (!m || !l)
        goto oom;
    comfy_value *b = h->value_bool(h->ctx, to_uncond);
    if (h->map_set(m, "control", h->value_retain(cv)) != COMFY_OK || !b ||
        h->map_set(m, "control_apply_to_uncond", b) != COMFY_OK)
        goto oom;
    if (h->list_append(l, h->value_retain(h->list_get(e, 0))) != COMFY_OK)
        goto oom;
    if (h->list_append(l, m) != COMFY_OK) {
        m = NULL;
        goto oom;
    }
    return l;
oom:
    h->value_release(m);
    h->value_release(l);
    return NULL;
}

/* ControlNetApplyAdvanced (advanced = 1) and ControlNetApply. */
static int apply_run(comfy_call *call, int advanced)
{
    const comfy_host *h = call->host;
    double strength, start = 0.0, end = 1.0;
    int rc;
    const char *names[2] = {advanced ? "positive" : "conditioning", "negative"};
    const int nlists = advanced ? 2 : 1;
    const comfy_value *lists[2] = {NULL, NULL};
    for (int l = 0; l < nlists; l++)
        if (!(lists[l] = dp_in_cond(call, names[l])))
            return COMFY_ERR;
    struct dp_cnet *base = in_cnet(call);
    if (!base)
        return COMFY_ERR;
    if ((rc = dp_in_float(call, "strength", &strength)) ||
        (advanced && ((rc = dp_in_float(call, "start_percent", &start)) ||
                      (rc = dp_in_float(call, "end_percent", &end)))))
        return rc;
    if (strength == 0.0) { /* ComfyUI returns its inputs */
        for (int l = 0; l < nlists; l++)
            if ((rc = h->set_output(call, l, h->value_retain(lists[l]))))
                return rc;
        return COMFY_OK;
    }
    int64_t n, c, hh, hw;
    float *hint = in_hint(call, base->core, &n, &c, &hh, &hw);
    if (!hint)
        return COMFY_ERR;
    /* ControlNetApplyAdvanced shares one copy per previous ControlNet over
     * both lists (ComfyUI's cnets dict); ControlNetApply makes one per
     * entry. */
    size_t total = h->list_len(lists[0]) + (advanced ? h->list_len(lists[1]) : 0);
    const struct dp_cnet **keys = calloc(total + 1, sizeof *keys);
    comfy_value **made = calloc(total + 1, sizeof *made);
    size_t nmade = 0;
    comfy_value *outs[2] = {NULL, NULL};
    rc = COMFY_OK;
    if (!keys || !made)
        goto oom;
    for (int l = 0; l < nlists; l++) {
        if (!(outs[l] = h->value_list(h->ctx)))
            goto oom;
        for (size_t i = 0; i < h->list_len(lists[l]); i++) {
            const comfy_value *e = h->list_get(lists[l], i);
            const struct dp_cnet *prev = dp_cnet_of(h, h->map_get(h->list_get(e, 1), "control"));
            comfy_value *cv = NULL;
            for (size_t k = 0; advanced && k < nmade && !cv; k++)
                if (keys[k] == prev)
                    cv = made[k];
            if (!cv) {
                struct dp_cnet *o = applied(base, hint, n, c, hh, hw, strength, start, end, prev);
                if (!o || !(cv = cnet_value(h, o)))
                    goto oom;
                keys[nmade] = prev;
                made[nmade++] = cv;
            }
            comfy_value *ne = with_control(h, e, cv, !advanced);
            if (!ne || h->list_append(outs[l], ne) != COMFY_OK)
                goto oom;
        }
    }
    for (int l = 0; l < nlists && rc == COMFY_OK; l++) {
        rc = h->set_output(call, l, outs[l]);
        outs[l] = NULL;
    }
    goto done;
oom:
    rc = h->fail(call, "RuntimeError", "out of memory");
done:
    for (int l = 0; l < 2; l++)
        h->value_release(outs[l]);
    for (size_t k = 0; made && k < nmade; k++)
        h->value_release(made[k]);
    free(made);
    free(keys);
    free(hint);
    return rc;
}

static int apply_advanced_execute(comfy_call *call)
{
    return apply_run(call, 1);
}

static int apply_execute(comfy_call *call)
{
    return apply_run(call, 0);
}

/* ------------------------------------------------------ during sampling */

void dp_cnet_run_free(struct dp_cnet_run *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->e[i].hint);
    free(r->e);
    free(r);
}

/* ComfyUI's broadcast_image_to of hint [n, ...] (plane floats each) to
 * `target` items with `batched` chunks: the cached hint's new contents. */
static float *broadcast(const float *hint, int64_t n, int64_t plane, int64_t target,
                        int64_t batched, int64_t *out_n)
{
    if (n == 1) {
        *out_n = 1;
        return NULL; /* unchanged */
    }
    int64_t per = batched > 0 ? target / batched : target;
    int64_t m = n < per ? n : per; /* tensor[:per_batch] */
    if (m < 1)
        m = 1;
    int64_t cur = per > m ? per : m;
    int64_t total = cur == target ? cur : cur * batched;
    float *o = malloc((size_t)(total * plane) * sizeof *o);
    if (!o)
        return NULL;
    for (int64_t i = 0; i < total; i++)
        memcpy(o + i * plane, hint + ((i % cur) % m) * plane, (size_t)plane * sizeof *o);
    *out_n = total;
    return o;
}

/* The cached hint of c for a call on `bk` items (batched chunks) at a
 * latent h x w: resized from the original when the size changes, then
 * broadcast as ComfyUI does.  NULL with err set. */
static const struct hint_state *hint_for(struct dp_cnet_run *r, const struct dp_cnet *c,
                                         int64_t bk, int batched, int64_t h, int64_t w, char *err,
                                         size_t errlen)
{
    struct hint_state *s = NULL;
    for (size_t i = 0; i < r->n; i++)
        if (r->e[i].c == c)
            s = &r->e[i];
    if (!s) {
        if (r->n == r->cap) {
            size_t cap = r->cap ? 2 * r->cap : 8;
            struct hint_state *e = realloc(r->e, cap * sizeof *e);
            if (!e)
                goto oom;
            r->e = e;
            r->cap = cap;
        }
        s = &r->e[r->n++];
        memset(s, 0, sizeof *s);
        s->c = c;
    }
    const int64_t H8 = 8 * h, W8 = 8 * w, plane = c->hc * H8 * W8;
    if (!s->hint || s->H != H8 || s->W != W8) {
        free(s->hint);
        s->hint = malloc((size_t)(c->hn * plane) * sizeof(float));
        if (!s->hint)
            goto oom;
        if (c->hh == H8 && c->hw == W8)
            memcpy(s->hint, c->hint, (size_t)(c->hn * plane) * sizeof(float));
        else if (dp_common_upscale(c->hint, c->hn, c->hc, c->hh, c->hw, s->hint, H8, W8,
                                   DP_UPSCALE_NEAREST, 1) != 0)
            goto oom;
        s->n = c->hn;
        s->H = H8;
        s->W = W8;
    }
    if (s->n != bk) {
        int64_t nn = 1;
        float *b = broadcast(s->hint, s->n, plane, bk, batched, &nn);
        if (s->n != 1 && !b)
            goto oom;
        if (b) {
            free(s->hint);
            s->hint = b;
            s->n = nn;
        }
    }
    return s;
oom:
    snprintf(err, errlen, "out of memory resizing the ControlNet hint");
    return NULL;
}

int dp_cnet_unet_forward(dp_guider *g, const struct dp_cnet *control, int batched, float sigma,
                         const float *xin, int64_t Bk, int64_t Cin, int64_t C, int64_t h,
                         int64_t w, const float *ts, const float *ctx, int64_t T, const float *y,
                         float *out)
{
    const dp_model *m = g->model;
    char *err = g->err;
    const size_t errlen = sizeof g->err;
    cd_nets_run run = {g->pool, g->arena, dp_interrupted, g->call, err, errlen};
    if (!control)
        return cd_unet_forward(m->unet, &run, xin, Bk, h, w, ts, ctx, T, y, out);
    const struct dp_cnet *chain[MAX_CHAIN];
    int nc = 0;
    for (const struct dp_cnet *c = control; c; c = c->prev) {
        if (nc == MAX_CHAIN) {
            snprintf(err, errlen, "more than %d chained ControlNets", MAX_CHAIN);
            return COMFY_EINVAL;
        }
        chain[nc++] = c;
    }
    if (!g->cnet_run && !(g->cnet_run = calloc(1, sizeof *g->cnet_run)))
        return COMFY_ENOMEM;
    cd_unet_info ui;
    cd_unet_get_info(m->unet, &ui);
    const int nout = ui.n_input_blocks + 1;
    int64_t hw[CD_DETECT_MAX_BLOCKS + 1], ch[CD_DETECT_MAX_BLOCKS + 1];
    for (int i = 0; i < nout; i++)
        if (cd_unet_block_shape(m->unet, h, w, i, &hw[i], &ch[i]) < 0) {
            snprintf(err, errlen, "ControlNet: the model has no middle block");
            return COMFY_EINVAL;
        }
    float *acc[CD_DETECT_MAX_BLOCKS + 1] = {0}, *cur[CD_DETECT_MAX_BLOCKS + 1] = {0};
    float *xc = NULL;
    int have = 0, rc = COMFY_OK;
    /* oldest first: acc = prev + cur, as control_merge */
    for (int k = nc - 1; k >= 0; k--) {
        const struct dp_cnet *c = chain[k];
        double s0 = dp_percent_to_sigma(m, c->start), s1 = dp_percent_to_sigma(m, c->end);
        if ((double)sigma > s0 || (double)sigma < s1)
            continue;
        const cd_controlnet *net = c->core->net;
        const cd_unet_config *cc = cd_controlnet_config(net);
        if (cd_controlnet_n_outputs(net) != nout || cc->in_channels != C ||
            cc->context_dim != m->context_dim ||
            (cc->adm_in_channels > 0 && cc->adm_in_channels != m->adm_in_channels)) {
            snprintf(err, errlen,
                     "the ControlNet does not fit the model (%d outputs for %d blocks, %d "
                     "latent channels for %lld, context %d for %d): a ControlNet made for "
                     "another model family?",
                     cd_controlnet_n_outputs(net), nout, cc->in_channels, (long long)C,
                     cc->context_dim, m->context_dim);
            rc = COMFY_EINVAL;
            goto out;
        }
        for (int i = 0; i < nout; i++) {
            int64_t ohw, och;
            if (cd_controlnet_block_shape(net, h, w, i, &ohw, &och) < 0 || ohw != hw[i] ||
                och != ch[i]) {
                snprintf(err, errlen, "the ControlNet's block %d does not fit the model's", i);
                rc = COMFY_EINVAL;
                goto out;
            }
            if (!cur[i] && !(cur[i] = malloc((size_t)(Bk * hw[i] * ch[i]) * sizeof(float)))) {
                rc = COMFY_ENOMEM;
                goto out;
            }
        }
        if (!xc) { /* the model input without c_concat */
            if (!(xc = malloc((size_t)(Bk * C * h * w) * sizeof *xc))) {
                rc = COMFY_ENOMEM;
                goto out;
            }
            for (int64_t b = 0; b < Bk; b++)
                memcpy(xc + b * C * h * w, xin + b * Cin * h * w,
                       (size_t)(C * h * w) * sizeof *xc);
        }
        const struct hint_state *hs = hint_for(g->cnet_run, c, Bk, batched, h, w, err, errlen);
        if (!hs) {
            rc = COMFY_ENOMEM;
            goto out;
        }
        /* the net runs on the cached hint's batch; a batch of 1 is
         * broadcast over the items as torch's h += guided_hint does */
        const float *hint = hs->hint;
        float *hb = NULL;
        if (hs->n != Bk) {
            const int64_t plane = c->hc * 64 * h * w;
            hb = malloc((size_t)(Bk * plane) * sizeof *hb);
            if (!hb) {
                rc = COMFY_ENOMEM;
                goto out;
            }
            for (int64_t b = 0; b < Bk; b++)
                memcpy(hb + b * plane, hs->hint + (b % hs->n) * plane,
                       (size_t)plane * sizeof *hb);
            hint = hb;
        }
        cd_nets_run crun = {g->pool, NULL, dp_interrupted, g->call, err, errlen};
        rc = cd_controlnet_forward(net, &crun, xc, Bk, h, w, hint, ts, ctx, T,
                                   cc->adm_in_channels > 0 ? y : NULL, cur);
        free(hb);
        if (rc < 0)
            goto out;
        for (int i = 0; i < nout; i++) {
            const int64_t per = hw[i] * ch[i], n = Bk * per;
            float *v = cur[i];
            if (c->core->gap) /* mean over the picture, per item and channel */
                for (int64_t b = 0; b < Bk; b++)
                    for (int64_t q = 0; q < ch[i]; q++) {
                        float s = 0.0f;
                        for (int64_t p = 0; p < hw[i]; p++)
                            s += v[b * per + p * ch[i] + q];
                        s /= (float)hw[i];
                        for (int64_t p = 0; p < hw[i]; p++)
                            v[b * per + p * ch[i] + q] = s;
                    }
            const float st = (float)c->strength;
            for (int64_t j = 0; j < n; j++)
                v[j] *= st;
            if (!have) {
                acc[i] = cur[i];
                cur[i] = NULL;
            } else {
                for (int64_t j = 0; j < n; j++)
                    acc[i][j] = acc[i][j] + v[j];
            }
        }
        have = 1;
    }
    if (!have) {
        rc = cd_unet_forward(m->unet, &run, xin, Bk, h, w, ts, ctx, T, y, out);
    } else {
        cd_unet_control ctl = {nout - 1, (const float *const *)acc, acc[nout - 1]};
        rc = cd_unet_forward_ctl(m->unet, &run, xin, Bk, h, w, ts, ctx, T, y, &ctl, out);
    }
out:
    for (int i = 0; i <= CD_DETECT_MAX_BLOCKS; i++) {
        free(acc[i]);
        free(cur[i]);
    }
    free(xc);
    return rc;
}

/* ---------------------------------------------------------------- nodes */

static const comfy_input_def loader_inputs[] = {
    {sizeof(comfy_input_def), "control_net_name", "COMBO", COMFY_REQUIRED, NULL, NULL,
     list_controlnets, NULL, 0},
};

static const comfy_input_def diff_loader_inputs[] = {
    {sizeof(comfy_input_def), "model", "MODEL", COMFY_REQUIRED, NULL, NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "control_net_name", "COMBO", COMFY_REQUIRED, NULL, NULL,
     list_controlnets, NULL, 0},
};

static const comfy_output_def loader_outputs[] = {
    {sizeof(comfy_output_def), "CONTROL_NET", NULL, NULL, 0},
};

static const comfy_input_def apply_adv_inputs[] = {
    {sizeof(comfy_input_def), "positive", "CONDITIONING", COMFY_REQUIRED, NULL, NULL, NULL, NULL,
     0},
    {sizeof(comfy_input_def), "negative", "CONDITIONING", COMFY_REQUIRED, NULL, NULL, NULL, NULL,
     0},
    {sizeof(comfy_input_def), "control_net", "CONTROL_NET", COMFY_REQUIRED, NULL, NULL, NULL,
     NULL, 0},
    {sizeof(comfy_input_def), "image", "IMAGE", COMFY_REQUIRED, NULL, NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "strength", "FLOAT", COMFY_REQUIRED,
     "{\"default\": 1.0, \"min\": 0.0, \"max\": 10.0, \"step\": 0.01}", NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "start_percent", "FLOAT", COMFY_REQUIRED,
     "{\"default\": 0.0, \"min\": 0.0, \"max\": 1.0, \"step\": 0.001}", NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "end_percent", "FLOAT", COMFY_REQUIRED,
     "{\"default\": 1.0, \"min\": 0.0, \"max\": 1.0, \"step\": 0.001}", NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "vae", "VAE", COMFY_OPTIONAL, NULL, NULL, NULL, NULL, 0},
};

static const comfy_output_def apply_adv_outputs[] = {
    {sizeof(comfy_output_def), "CONDITIONING", "positive", NULL, 0},
    {sizeof(comfy_output_def), "CONDITIONING", "negative", NULL, 0},
};

static const comfy_input_def apply_inputs[] = {
    {sizeof(comfy_input_def), "conditioning", "CONDITIONING", COMFY_REQUIRED, NULL, NULL, NULL,
     NULL, 0},
    {sizeof(comfy_input_def), "control_net", "CONTROL_NET", COMFY_REQUIRED, NULL, NULL, NULL,
     NULL, 0},
    {sizeof(comfy_input_def), "image", "IMAGE", COMFY_REQUIRED, NULL, NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "strength", "FLOAT", COMFY_REQUIRED,
     "{\"default\": 1.0, \"min\": 0.0, \"max\": 10.0, \"step\": 0.01}", NULL, NULL, NULL, 0},
};

static const comfy_output_def apply_outputs[] = {
    {sizeof(comfy_output_def), "CONDITIONING", NULL, NULL, 0},
};

static const comfy_node_def cnet_nodes[] = {
    {.size = sizeof(comfy_node_def), .name = "ControlNetLoader",
     .display_name = "Load ControlNet Model", .category = "loaders", .module = "nodes",
     .inputs = loader_inputs, .n_inputs = 1, .outputs = loader_outputs, .n_outputs = 1,
     .execute = loader_execute},
    {.size = sizeof(comfy_node_def), .name = "DiffControlNetLoader",
     .display_name = "Load ControlNet Model (diff)", .category = "loaders", .module = "nodes",
     .inputs = diff_loader_inputs, .n_inputs = 2, .outputs = loader_outputs, .n_outputs = 1,
     .execute = diff_loader_execute},
    {.size = sizeof(comfy_node_def), .name = "ControlNetApplyAdvanced",
     .display_name = "Apply ControlNet", .category = "conditioning/controlnet",
     .module = "nodes", .inputs = apply_adv_inputs, .n_inputs = 8, .outputs = apply_adv_outputs,
     .n_outputs = 2, .execute = apply_advanced_execute},
    {.size = sizeof(comfy_node_def), .name = "ControlNetApply",
     .display_name = "Apply ControlNet (OLD)", .category = "conditioning/controlnet",
     .module = "nodes", .inputs = apply_inputs, .n_inputs = 4, .outputs = apply_outputs,
     .n_outputs = 1, .flags = COMFY_NODE_DEPRECATED, .execute = apply_execute},
};

int dp_register_controlnet(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < sizeof cnet_nodes / sizeof cnet_nodes[0]; i++) {
        int rc = h->register_node(reg, &cnet_nodes[i]);
        if (rc)
            return rc;
    }
    return COMFY_OK;
}
