/*
 * nodes_lora.c — LoraLoader and LoraLoaderModelOnly.
 *
 * ComfyUI patches lazily (ModelPatcher keeps the patches and applies them
 * when the model is loaded); comfyd patches eagerly, once per node input:
 *
 *   MODEL  a new dp_model whose UNet is loaded again from the checkpoint's
 *          state dict with the patched tensors substituted: every patched
 *          weight becomes an f32 array W + strength * alpha / rank *
 *          (up @ down) (lora/lora.h) owned by the new model's
 *          dp_lora_weights; the other weights are borrowed from the
 *          mapped file as before.  A LoRA applied on a LoRA'd model starts
 *          from that model's patched arrays (borrowed: the new model holds
 *          a reference to its parent).
 *   CLIP   a new dp_clip over copies of the text encoders that share every
 *          array with the input CLIP (a reference to which it keeps) but
 *          the patched ones, which it owns.
 *
 * Memory: one f32 copy of each patched tensor (an SD1.5 LoRA that touches
 * every attention and conv layer copies most of the UNet, ~3.4 GB in f32,
 * less for the usual attention-only LoRAs); nothing else is copied.
 * Results are cached (model: input model identity + LoRA path, mtime,
 * size + strength; same for the CLIP), LORA_CACHE_MAX of each, so running
 * a changed prompt does not patch again.  /free {"unload_models": true}
 * empties the cache with the checkpoint cache.
 *
 * Strength 0 for both returns the inputs unchanged (ComfyUI's shortcut);
 * a strength of 0 on one side returns that input as is (ComfyUI's patch
 * would add 0 to every weight).  LoRA keys no weight uses are logged as
 * "lora key not loaded: NAME" through the host log, as ComfyUI does.
 */
#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dpack.h"

#include "clip_stack.h"
#include "convert.h"
#include "detect.h"
#include "lora.h"
#include "modelfile.h"
#include "unet.h"

#define LORA_CACHE_MAX 4

/* ------------------------------------------------------- LoRA weights */

struct dp_lora_weights {
    dp_model *parent;     /* reference when subs borrows from it, or NULL */
    cd_lora_substs subs;  /* names point into names[]                      */
    char **names;         /* owned copies, one per subs entry              */
};

void dp_lora_weights_free(struct dp_lora_weights *w)
{
    if (!w)
        return;
    for (size_t i = 0; w->names && i < w->subs.n; i++)
        free(w->names[i]);
    free(w->names);
    cd_lora_substs_free(&w->subs);
    dp_model_unref(w->parent);
    free(w);
}

/* ------------------------------------------------------------- caches */

typedef struct mentry {
    void *base;               /* referenced dp_model / dp_clip           */
    char path[4096];
    struct timespec mtime;
    off_t size;
    double strength;
    void *result;             /* referenced                               */
    uint64_t bytes, used;
} mentry;

static mentry g_models[LORA_CACHE_MAX], g_clips[LORA_CACHE_MAX];
static uint64_t g_clock;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void mentry_drop(mentry *e, int clip)
{
    if (clip) {
        dp_clip_unref(e->base);
        dp_clip_unref(e->result);
    } else {
        dp_model_unref(e->base);
        dp_model_unref(e->result);
    }
    memset(e, 0, sizeof *e);
}

void dp_lora_cache_clear(void)
{
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < LORA_CACHE_MAX; i++) {
        mentry_drop(&g_models[i], 0);
        mentry_drop(&g_clips[i], 1);
    }
    pthread_mutex_unlock(&g_lock);
}

uint64_t dp_lora_cache_bytes(void)
{
    uint64_t sum = 0;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < LORA_CACHE_MAX; i++)
        sum += g_models[i].bytes + g_clips[i].bytes;
    pthread_mutex_unlock(&g_lock);
    return sum;
}

static int same_file(const mentry *e, const char *path, const struct stat *st)
{
    return strcmp(e->path, path) == 0 && e->size == st->st_size &&
           e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* A new reference to the cached result for (base, file, strength), or NULL. */
static void *cache_get(mentry *tab, int clip, void *base, const char *path, const struct stat *st,
                       double strength)
{
    void *r = NULL;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < LORA_CACHE_MAX; i++) {
        mentry *e = &tab[i];
        if (e->result && e->base == base && e->strength == strength && same_file(e, path, st)) {
            e->used = ++g_clock;
            r = clip ? (void *)dp_clip_ref(e->result) : (void *)dp_model_ref(e->result);
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return r;
}

static void cache_put(mentry *tab, int clip, void *base, const char *path, const struct stat *st,
                      double strength, void *result, uint64_t bytes)
{
    if (strlen(path) >= sizeof tab[0].path)
        return;
    pthread_mutex_lock(&g_lock);
    mentry *slot = &tab[0];
    for (int i = 0; i < LORA_CACHE_MAX; i++) {
        if (!tab[i].result) {
            slot = &tab[i];
            break;
        }
        if (tab[i].used < slot->used)
            slot = &tab[i];
    }
    mentry_drop(slot, clip);
    snprintf(slot->path, sizeof slot->path, "%s", path);
    slot->mtime = st->st_mtim;
    slot->size = st->st_size;
    slot->strength = strength;
    slot->bytes = bytes;
    slot->used = ++g_clock;
    slot->base = clip ? (void *)dp_clip_ref(base) : (void *)dp_model_ref(base);
    slot->result = clip ? (void *)dp_clip_ref(result) : (void *)dp_model_ref(result);
    pthread_mutex_unlock(&g_lock);
}

/* ------------------------------------------------------- UNet source */

/* The state dict a model's UNet was loaded from (diffusers files read
 * through LDM names, as build_model in nodes_loaders.c does). */
typedef struct usrc {
    cd_detect det;
    const cd_sd *sd;
    const char *prefix;
    cd_sd rsd;          /* renamed diffusers keys */
    cd_tensor *rt;
    char *rnames;
} usrc;

static void usrc_free(usrc *s)
{
    cd_sd_free(&s->rsd);
    free(s->rt);
    free(s->rnames);
}

enum { RNAME = 192 };

static int usrc_open(const dp_model *m, usrc *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    const cd_sd *sd = cd_model_file_index(m->file);
    if (cd_detect_checkpoint(sd, &s->det, err, errlen) < 0 ||
        (s->det.family != CD_FAMILY_SD1 && s->det.family != CD_FAMILY_SD2 &&
         s->det.family != CD_FAMILY_SDXL && s->det.family != CD_FAMILY_SDXL_REFINER)) {
        snprintf(err, errlen, "the model's file is no longer a UNet comfyd can read");
        return COMFY_EINVAL;
    }
    s->sd = sd;
    s->prefix = s->det.unet_prefix;
    if (!s->det.diffusers)
        return COMFY_OK;
    size_t plen = strlen(s->prefix), k = 0;
    s->rt = calloc(sd->n ? sd->n : 1, sizeof *s->rt);
    s->rnames = malloc((sd->n ? sd->n : 1) * RNAME);
    if (!s->rt || !s->rnames) {
        usrc_free(s);
        return COMFY_ENOMEM;
    }
    for (size_t i = 0; i < sd->n; i++) {
        const cd_tensor *t = cd_sd_at(sd, i);
        if (strncmp(t->name, s->prefix, plen) != 0)
            continue;
        char *dst = s->rnames + k * RNAME;
        if (cd_convert_diffusers_unet_key(&s->det.unet, t->name + plen, dst, RNAME) < 0)
            continue;
        s->rt[k] = *t;
        s->rt[k].name = dst;
        k++;
    }
    int rc = cd_sd_init(&s->rsd, s->rt, k, err, errlen);
    if (rc < 0) {
        usrc_free(s);
        return rc == CD_MODEL_ENOMEM ? COMFY_ENOMEM : COMFY_EINVAL;
    }
    s->sd = &s->rsd;
    s->prefix = "";
    return COMFY_OK;
}

/* ------------------------------------------------------------ logging */

static void host_log(void *ctx, int level, const char *msg)
{
    const comfy_host *h = ctx;
    h->log(h->ctx, level, "%s", msg);
}

/* ------------------------------------------------------ patched UNet */

static const cd_nets_load_opts load_opts = {CD_NETS_WEIGHTS_STORED, CK_PREC_F32};

/* A new model: base with the UNet patches of `set` at `strength`. */
static int patch_model(comfy_call *call, dp_model *base, const usrc *src, const cd_lora_set *set,
                       double strength, const cd_lora_log *log, dp_model **out)
{
    const comfy_host *h = call->host;
    char err[512] = "";
    int rc = COMFY_ENOMEM;
    const cd_sd *sd = src->sd;
    size_t plen = strlen(src->prefix), n = 0;
    cd_tensor *T = calloc(sd->n ? sd->n : 1, sizeof *T);
    cd_sd nsd = {0};
    dp_model *m = NULL;
    struct dp_lora_weights *w = calloc(1, sizeof *w);
    if (!T || !w)
        goto fail;
    for (size_t i = 0; i < sd->n; i++) {
        const cd_tensor *t = cd_sd_at(sd, i);
        if (strncmp(t->name, src->prefix, plen) == 0)
            T[n++] = *t;
    }
    if (cd_sd_init(&nsd, T, n, err, sizeof err) < 0)
        goto fail;
    /* the parent's patched tensors, borrowed */
    if (base->lora) {
        w->parent = dp_model_ref(base);
        const cd_lora_substs *ps = &base->lora->subs;
        for (size_t i = 0; i < ps->n; i++) {
            cd_tensor *t = (cd_tensor *)cd_sd_find(&nsd, ps->s[i].name);
            if (t && cd_lora_substs_borrow(&w->subs, t, ps->s[i].data) < 0)
                goto fail;
        }
    }
    if ((rc = cd_lora_patch_unet(dp_pool(h), &nsd, src->prefix, set, strength, &w->subs, log,
                                 err, sizeof err)) < 0)
        goto fail;
    rc = COMFY_ENOMEM;
    /* the names outlive the state dict (renamed diffusers keys do not) */
    if (!(w->names = calloc(w->subs.n ? w->subs.n : 1, sizeof *w->names)))
        goto fail;
    for (size_t j = 0; j < w->subs.n; j++) {
        size_t l = strlen(w->subs.s[j].name) + 1;
        if (!(w->names[j] = malloc(l)))
            goto fail;
        memcpy(w->names[j], w->subs.s[j].name, l);
    }
    if (!(m = calloc(1, sizeof *m)))
        goto fail;
    atomic_init(&m->refs, 1);
    m->file = cd_model_file_ref(base->file);
    m->family = base->family;
    m->v_pred = base->v_pred;
    m->in_channels = base->in_channels;
    m->latent_channels = base->latent_channels;
    m->context_dim = base->context_dim;
    m->adm_in_channels = base->adm_in_channels;
    m->latent_scale = base->latent_scale;
    memcpy(m->name, base->name, sizeof m->name);
    if (!(m->ms = dp_ms_new(m->v_pred, src->det.zsnr)))
        goto fail;
    rc = cd_unet_load(&nsd, src->prefix, &src->det.unet, &load_opts, &m->unet, err, sizeof err);
    if (rc < 0)
        goto fail;
    for (size_t j = 0; j < w->subs.n; j++)
        w->subs.s[j].name = w->names[j];
    m->lora = w;
    cd_sd_free(&nsd);
    free(T);
    *out = m;
    return COMFY_OK;
fail:
    cd_sd_free(&nsd);
    free(T);
    dp_model_unref(m);
    dp_lora_weights_free(w);
    if (rc == COMFY_ENOMEM)
        return h->fail(call, "RuntimeError", "out of memory applying the LoRA to the model");
    return h->fail(call, "RuntimeError", "Error while applying the LoRA to the model: %s", err);
}

/* The clip_l / clip_h / clip_g names of a stack's encoders. */
static const char *g_name_of(const cd_clip_stack *s)
{
    return s->family == CD_CLIP_SD2 ? "clip_h" : "clip_g";
}

/* A new CLIP: base with the text-encoder patches of `set` at `strength`. */
static int patch_clip(comfy_call *call, dp_clip *base, const cd_lora_set *set, double strength,
                      const cd_lora_log *log, dp_clip **out, uint64_t *bytes)
{
    const comfy_host *h = call->host;
    const cd_clip_stack *bs = base->stack;
    cd_clip_stack *st = cd_clip_stack_view(bs);
    dp_clip *c = NULL;
    *bytes = 0;
    if (!st)
        goto fail;
    st->l = NULL;
    st->g = NULL;
    st->owns = 1;
    if ((bs->l && !(st->l = cd_lora_clip_shallow(bs->l))) ||
        (bs->g && !(st->g = cd_lora_clip_shallow(bs->g))))
        goto fail;
    if (cd_lora_patch_clip(dp_pool(h), st->l, st->g, g_name_of(bs), set, strength, log,
                           bytes) < 0)
        goto fail;
    if (!(c = calloc(1, sizeof *c)))
        goto fail;
    atomic_init(&c->refs, 1);
    c->stack = st;
    c->parent = dp_clip_ref(base);
    *out = c;
    return COMFY_OK;
fail:
    cd_clip_stack_free(st);
    return h->fail(call, "RuntimeError", "out of memory applying the LoRA to the CLIP");
}

/* -------------------------------------------------------------- nodes */

static int list_loras(const comfy_host *h, void *user, comfy_value *out)
{
    (void)user;
    return h->folder_list(h->ctx, "loras", out);
}

/* Opens the LoRA file; fails the call as ComfyUI's load_torch_file would. */
static int open_lora(comfy_call *call, const char *path, const char *name, cd_model_file **f)
{
    char err[512] = "";
    if (cd_model_file_open(path, f, err, sizeof err) < 0)
        return call->host->fail(call, "RuntimeError",
                                "Error while loading LoRA %s: %s\n\nFile path: %s\n\nThe LoRA "
                                "file is corrupt or invalid. Make sure this is actually a "
                                "safetensors file and not a ckpt or pt or other filetype.",
                                name, err, path);
    return COMFY_OK;
}

static int lora_run(comfy_call *call, int with_clip)
{
    const comfy_host *h = call->host;
    const char *name;
    double sm = 0.0, sc = 0.0;
    dp_model *model = dp_in_model(call, "model");
    if (!model)
        return COMFY_ERR;
    dp_clip *clip = NULL;
    int rc;
    /* A checkpoint without text encoder gives CLIP None, which ComfyUI's
     * load_lora_for_models passes through. */
    int clip_none = with_clip && h->value_kind(h->input(call, "clip")) == COMFY_KIND_NONE;
    if (with_clip && !clip_none && !(clip = dp_in_clip(call, "clip")))
        return COMFY_ERR;
    if ((rc = dp_in_string(call, "lora_name", &name)) ||
        (rc = dp_in_float(call, "strength_model", &sm)) ||
        (with_clip && (rc = dp_in_float(call, "strength_clip", &sc))))
        return rc;
    dp_model *mo = NULL;
    dp_clip *co = NULL;
    cd_model_file *lf = NULL;
    cd_lora_keys keys = {0};
    cd_lora_set set = {0};
    usrc src;
    int have_src = 0;
    if (sm == 0.0 && sc == 0.0) { /* ComfyUI returns its inputs */
        mo = dp_model_ref(model);
        co = dp_clip_ref(clip);
        goto output;
    }
    char path[4096];
    rc = h->folder_resolve(h->ctx, "loras", name, path, sizeof path);
    if (rc == COMFY_EACCES)
        return h->fail(call, "ValueError", "LoRA name %s leaves the loras folder", name);
    struct stat st;
    if (rc < 0 || stat(path, &st) != 0)
        return h->fail(call, "FileNotFoundError",
                       "Model in folder 'loras' with filename '%s' not found.", name);
    mo = sm == 0.0 ? dp_model_ref(model) : cache_get(g_models, 0, model, path, &st, sm);
    co = !clip || sc == 0.0 ? dp_clip_ref(clip) : cache_get(g_clips, 1, clip, path, &st, sc);
    if (mo && (co || !clip))
        goto output;

    char err[512] = "";
    if ((rc = open_lora(call, path, name, &lf)))
        goto done;
    if ((rc = usrc_open(model, &src, err, sizeof err)) < 0) {
        rc = dp_fail_status(call, rc, "Error while applying the LoRA", err);
        goto done;
    }
    have_src = 1;
    /* ComfyUI's key map: the model's names, then the CLIP's */
    rc = cd_lora_keys_unet(&keys, src.sd, src.prefix, &src.det.unet);
    if (rc == COMFY_OK && clip) {
        const cd_clip_stack *s = clip->stack;
        /* ComfyUI's text models all have a text_projection weight */
        rc = cd_lora_keys_clip(&keys, s->l ? (int)s->l->cfg.layers : 0, 1,
                               s->g ? (int)s->g->cfg.layers : 0, 1, g_name_of(s));
    }
    if (rc < 0) {
        rc = dp_fail_status(call, rc, "Error while applying the LoRA", "key map");
        goto done;
    }
    cd_lora_log log = {host_log, (void *)h};
    rc = cd_lora_resolve(cd_model_file_index(lf), &keys, &set, &log, err, sizeof err);
    if (rc < 0) {
        rc = dp_fail_status(call, rc, "Error while loading LoRA", err);
        goto done;
    }
    /* a side the LoRA has no patch for comes back as it is */
    int unet_patches = 0, clip_patches = 0;
    for (size_t i = 0; i < set.n; i++) {
        if (strncmp(set.p[i].to, "diffusion_model.", 16) == 0)
            unet_patches++;
        else
            clip_patches++;
    }
    if (!mo && !unet_patches)
        mo = dp_model_ref(model);
    if (!co && clip && !clip_patches)
        co = dp_clip_ref(clip);
    if (!mo) {
        if ((rc = patch_model(call, model, &src, &set, sm, &log, &mo)))
            goto done;
        cache_put(g_models, 0, model, path, &st, sm, mo, mo->lora ? mo->lora->subs.bytes : 0);
    }
    if (!co && clip) {
        uint64_t bytes = 0;
        if ((rc = patch_clip(call, clip, &set, sc, &log, &co, &bytes)))
            goto done;
        cache_put(g_clips, 1, clip, path, &st, sc, co, bytes);
    }
output:;
    comfy_value *mv = dp_model_value(h, mo); /* takes its own reference */
    if (!mv) {
        rc = h->fail(call, "RuntimeError", "out of memory");
        goto done;
    }
    if ((rc = h->set_output(call, 0, mv)))
        goto done;
    if (with_clip) {
        comfy_value *cv = co ? dp_clip_value(h, co) : h->value_none(h->ctx);
        if (!cv) {
            rc = h->fail(call, "RuntimeError", "out of memory");
            goto done;
        }
        rc = h->set_output(call, 1, cv);
    }
done:
    dp_model_unref(mo);
    dp_clip_unref(co);
    cd_lora_set_free(&set);
    cd_lora_keys_free(&keys);
    if (have_src)
        usrc_free(&src);
    cd_model_file_unref(lf);
    return rc;
}

static int lora_loader_execute(comfy_call *call)
{
    return lora_run(call, 1);
}

static int lora_model_only_execute(comfy_call *call)
{
    return lora_run(call, 0);
}

static const comfy_input_def lora_inputs[] = {
    {sizeof(comfy_input_def), "model", "MODEL", COMFY_REQUIRED,
     "{\"tooltip\": \"The diffusion model the LoRA will be applied to.\"}", NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "clip", "CLIP", COMFY_REQUIRED,
     "{\"tooltip\": \"The CLIP model the LoRA will be applied to.\"}", NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "lora_name", "COMBO", COMFY_REQUIRED,
     "{\"tooltip\": \"The name of the LoRA.\"}", NULL, list_loras, NULL, 0},
    {sizeof(comfy_input_def), "strength_model", "FLOAT", COMFY_REQUIRED,
     "{\"default\": 1.0, \"min\": -100.0, \"max\": 100.0, \"step\": 0.01, \"tooltip\": \"How "
     "strongly to modify the diffusion model. This value can be negative.\"}",
     NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "strength_clip", "FLOAT", COMFY_REQUIRED,
     "{\"default\": 1.0, \"min\": -100.0, \"max\": 100.0, \"step\": 0.01, \"tooltip\": \"How "
     "strongly to modify the CLIP model. This value can be negative.\"}",
     NULL, NULL, NULL, 0},
};

static const comfy_input_def lora_model_only_inputs[] = {
    {sizeof(comfy_input_def), "model", "MODEL", COMFY_REQUIRED, NULL, NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "lora_name", "COMBO", COMFY_REQUIRED, NULL, NULL, list_loras, NULL,
     0},
    {sizeof(comfy_input_def), "strength_model", "FLOAT", COMFY_REQUIRED,
     "{\"default\": 1.0, \"min\": -100.0, \"max\": 100.0, \"step\": 0.01}", NULL, NULL, NULL, 0},
};

static const comfy_output_def lora_outputs[] = {
    {sizeof(comfy_output_def), "MODEL", NULL, "The modified diffusion model.", 0},
    {sizeof(comfy_output_def), "CLIP", NULL, "The modified CLIP model.", 0},
};
/* LoraLoaderModelOnly inherits LoraLoader's DESCRIPTION and OUTPUT_TOOLTIPS
 * in ComfyUI, so its object_info lists both tooltips for its one output;
 * an output def holds one, so comfyd lists the MODEL's only. */
static const comfy_output_def lora_model_outputs[] = {
    {sizeof(comfy_output_def), "MODEL", NULL, "The modified diffusion model.", 0},
};

#define LORA_DESCRIPTION                                                                     \
    "LoRAs are used to modify diffusion and CLIP models, altering the way in which latents " \
    "are denoised such as applying styles. Multiple LoRA nodes can be linked together."

static const comfy_node_def lora_nodes[] = {
    {.size = sizeof(comfy_node_def), .name = "LoraLoader", .display_name = "Load LoRA",
     .category = "loaders",
     .description = LORA_DESCRIPTION, .module = "nodes", .inputs = lora_inputs, .n_inputs = 5,
     .outputs = lora_outputs,
     .n_outputs = 2, .flags = COMFY_NODE_OUTPUT_TOOLTIPS, .execute = lora_loader_execute},
    {.size = sizeof(comfy_node_def), .name = "LoraLoaderModelOnly",
     .display_name = "LoraLoaderModelOnly", .category = "loaders",
     .description = LORA_DESCRIPTION, .module = "nodes", .inputs = lora_model_only_inputs,
     .n_inputs = 3, .outputs = lora_model_outputs, .n_outputs = 1,
     .flags = COMFY_NODE_OUTPUT_TOOLTIPS, .execute = lora_model_only_execute},
};

int dp_register_lora(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < sizeof lora_nodes / sizeof lora_nodes[0]; i++) {
        int rc = h->register_node(reg, &lora_nodes[i]);
        if (rc)
            return rc;
    }
    return COMFY_OK;
}
