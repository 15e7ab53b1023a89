/*
 * nodes_loaders.c — CheckpointLoaderSimple and the MODEL / CLIP / VAE
 * objects it makes: loading a single-file checkpoint (detect the
 * architecture, build the UNet, the text encoders and the VAE), and the
 * objects' reference counting and SDK interfaces.
 *
 * This is the one file that includes nets/unet.h and nets/vae.h (with
 * model/detect.h); see dpack.h for why the sampling headers stay out.
 * Execute runs on the executor thread; COMBO listings on the network
 * thread (they only call the host).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpack.h"

#include "clip_stack.h"
#include "detect.h"
#include "modelfile.h"
#include "unet.h"
#include "vae.h"

/* ------------------------------------------------------------ refcounts */

dp_model *dp_model_ref(dp_model *m)
{
    if (m)
        atomic_fetch_add(&m->refs, 1);
    return m;
}

void dp_model_unref(dp_model *m)
{
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    cd_unet_free(m->unet);
    free(m->ms);
    cd_model_file_unref(m->file);
    free(m);
}

dp_clip *dp_clip_ref(dp_clip *c)
{
    if (c)
        atomic_fetch_add(&c->refs, 1);
    return c;
}

void dp_clip_unref(dp_clip *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    cd_clip_stack_free(c->stack);
    dp_clip_unref(c->parent);
    free(c);
}

dp_vae *dp_vae_ref(dp_vae *v)
{
    if (v)
        atomic_fetch_add(&v->refs, 1);
    return v;
}

void dp_vae_unref(dp_vae *v)
{
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
        return;
    cd_vae_free(v->vae);
    cd_model_file_unref(v->file);
    free(v);
}

/* ---------------------------------------------------------------- UNet */

uint64_t dp_unet_scratch(const dp_model *m, int64_t B, int64_t h, int64_t w, int64_t T)
{
    return cd_unet_scratch_bytes(m->unet, B, h, w, T);
}

int dp_unet_forward(const dp_model *m, ck_pool *pool, ck_arena *arena, comfy_call *call,
                    const float *x, int64_t B, int64_t h, int64_t w, const float *t,
                    const float *ctx, int64_t T, const float *y, float *out, char *err,
                    size_t errlen)
{
    cd_nets_run run = {pool, arena, dp_interrupted, call, err, errlen};
    return cd_unet_forward(m->unet, &run, x, B, h, w, t, ctx, T, y, out);
}

/* ----------------------------------------------------------------- VAE */

uint64_t dp_vae_decode_need(dp_vae *v, int64_t B, int64_t h, int64_t w)
{
    return cd_vae_decode_scratch_bytes(v->vae, B, h, w);
}

uint64_t dp_vae_encode_need(dp_vae *v, int64_t B, int64_t H, int64_t W)
{
    return cd_vae_encode_scratch_bytes(v->vae, B, H, W);
}

int dp_vae_decode(dp_vae *v, comfy_call *call, const float *z, int64_t B, int64_t h, int64_t w,
                  float *img)
{
    const comfy_host *hst = call->host;
    char err[512] = "";
    size_t need = cd_vae_decode_scratch_bytes(v->vae, B, h, w);
    ck_arena *arena = dp_arena(call, "the VAE decode", need);
    if (!arena)
        return COMFY_ENOMEM;
    cd_nets_run run = {dp_pool(hst), arena, dp_interrupted, call, err, sizeof err};
    int rc = cd_vae_decode(v->vae, &run, z, B, h, w, img);
    ck_arena_free(arena);
    if (rc < 0)
        return dp_fail_status(call, rc, "VAE decode failed", err);
    return COMFY_OK;
}

int dp_vae_encode(dp_vae *v, comfy_call *call, const float *img, int64_t B, int64_t H, int64_t W,
                  float *z)
{
    const comfy_host *hst = call->host;
    char err[512] = "";
    size_t need = cd_vae_encode_scratch_bytes(v->vae, B, H, W);
    ck_arena *arena = dp_arena(call, "the VAE encode", need);
    if (!arena)
        return COMFY_ENOMEM;
    cd_nets_run run = {dp_pool(hst), arena, dp_interrupted, call, err, sizeof err};
    int rc = cd_vae_encode(v->vae, &run, img, B, H, W, z);
    ck_arena_free(arena);
    if (rc < 0)
        return dp_fail_status(call, rc, "VAE encode failed", err);
    return COMFY_OK;
}

int dp_vae_tiled(dp_vae *v, comfy_call *call, int encode, const float *in, int64_t B,
                 int64_t h, int64_t w, int64_t tx, int64_t ty, int64_t overlap, float *out)
{
    const comfy_host *hst = call->host;
    char err[512] = "";
    /* One tile's scratch (the largest of the three tilings) suffices. */
    int64_t th = ty * 2, tw = tx * 2;
    size_t need = encode ? cd_vae_encode_scratch_bytes(v->vae, 1, th < h ? th : h, tw < w ? tw : w)
                         : cd_vae_decode_scratch_bytes(v->vae, 1, th < h ? th : h, tw < w ? tw : w);
    ck_arena *arena = dp_arena(call, encode ? "the tiled VAE encode" : "the tiled VAE decode",
                               (uint64_t)need * 2);
    if (!arena)
        return COMFY_ENOMEM;
    cd_nets_run run = {dp_pool(hst), arena, dp_interrupted, call, err, sizeof err};
    int rc = encode ? cd_vae_encode_tiled(v->vae, &run, in, B, h, w, tx, ty, overlap, out)
                    : cd_vae_decode_tiled(v->vae, &run, in, B, h, w, tx, ty, overlap, out);
    ck_arena_free(arena);
    if (rc < 0)
        return dp_fail_status(call, rc, encode ? "VAE encode failed" : "VAE decode failed", err);
    return COMFY_OK;
}

static int vae_iface_decode(void *self, comfy_call *call, const float *z, int64_t B, int64_t h,
                            int64_t w, float *img)
{
    return dp_vae_decode(self, call, z, B, h, w, img);
}

static int vae_iface_encode(void *self, comfy_call *call, const float *img, int64_t B,
                            int64_t H, int64_t W, float *z)
{
    return dp_vae_encode(self, call, img, B, H, W, z);
}

const comfy_vae_iface dp_vae_iface = {
    .size = sizeof(comfy_vae_iface),
    .latent_channels = 4,
    .downscale = 8,
    .decode = vae_iface_decode,
    .encode = vae_iface_encode,
};

/* ------------------------------------------------------------- loading */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int dp_load_checkpoint(comfy_call *call, const char *path, const char *name, dp_model **model,
                       dp_clip **clip, dp_vae **vae)
{
    const comfy_host *h = call->host;
    char err[512] = "";
    cd_model_file *file = NULL;
    dp_model *m = NULL;
    dp_clip *c = NULL;
    dp_vae *v = NULL;
    cd_clip_stack *stack = NULL;
    int rc;
    *model = NULL;
    *clip = NULL;
    *vae = NULL;

    rc = cd_model_file_open(path, &file, err, sizeof err);
    if (rc < 0) {
        h->fail(call, "RuntimeError", "Error while loading checkpoint %s: %s", name, err);
        return COMFY_ERR;
    }
    const cd_sd *sd = cd_model_file_index(file);
    cd_detect det;
    rc = cd_detect_checkpoint(sd, &det, err, sizeof err);
    if (rc < 0 || det.family == CD_FAMILY_NONE) {
        h->fail(call, "RuntimeError", "ERROR: Could not detect model type of: %s%s%s", path,
                *err ? " (" : "", *err ? err : "");
        rc = COMFY_ERR;
        goto fail;
    }
    if (det.family == CD_FAMILY_UNSUPPORTED) {
        h->fail(call, "RuntimeError",
                "unsupported model architecture: %s is a %s model, which comfyd cannot "
                "run yet (SD1.x, SD2.x, SDXL and the SDXL refiner are supported)",
                name, det.name ? det.name : "unknown");
        rc = COMFY_ERR;
        goto fail;
    }
    if (det.prediction == CD_PRED_EDM || det.prediction == CD_PRED_V_EDM) {
        h->fail(call, "RuntimeError",
                "unsupported model: %s uses %s prediction, which comfyd cannot run yet", name,
                cd_prediction_name(det.prediction));
        rc = COMFY_ERR;
        goto fail;
    }

    /* The diffusion model. */
    m = calloc(1, sizeof *m);
    if (!m)
        goto oom;
    atomic_init(&m->refs, 1);
    m->file = cd_model_file_ref(file);
    m->family = det.family == CD_FAMILY_SD1   ? DP_SD1
                : det.family == CD_FAMILY_SD2 ? DP_SD2
                : det.family == CD_FAMILY_SDXL ? DP_SDXL
                                               : DP_SDXL_REFINER;
    m->v_pred = det.prediction == CD_PRED_V;
    m->latent_scale = (m->family == DP_SDXL || m->family == DP_SDXL_REFINER) ? 0.13025f
                                                                             : 0.18215f;
    m->latent_channels = 4;
    snprintf(m->name, sizeof m->name, "%s", name ? name : base_name(path));
    m->ms = dp_ms_new(m->v_pred, det.zsnr);
    if (!m->ms)
        goto oom;
    cd_nets_load_opts lo = {CD_NETS_WEIGHTS_F32, CK_PREC_F32};
    rc = cd_unet_load(sd, det.unet_prefix, &det.unet, &lo, &m->unet, err, sizeof err);
    if (rc < 0) {
        dp_fail_status(call, rc, "Error while loading the diffusion model", err);
        goto fail;
    }
    cd_unet_info ui;
    cd_unet_get_info(m->unet, &ui);
    m->in_channels = ui.in_channels;
    m->context_dim = ui.context_dim;
    m->adm_in_channels = ui.adm_in_channels;

    /* The text encoders (CLIP is None without them). */
    rc = cd_clip_stack_load(sd, &det, &stack, err, sizeof err);
    if (rc == COMFY_ENOENT) {
        stack = NULL;
    } else if (rc < 0) {
        dp_fail_status(call, rc, "Error while loading the text encoder", err);
        goto fail;
    } else {
        c = calloc(1, sizeof *c);
        if (!c) {
            cd_clip_stack_free(stack);
            goto oom;
        }
        atomic_init(&c->refs, 1);
        c->stack = stack;
    }

    /* The VAE (an invalid VAE without its weights). */
    if (det.has_vae) {
        v = calloc(1, sizeof *v);
        if (!v)
            goto oom;
        atomic_init(&v->refs, 1);
        v->latent_scale = m->latent_scale;
        v->latent_channels = 4;
        rc = cd_vae_load(sd, det.vae_prefix, &lo, &v->vae, err, sizeof err);
        if (rc < 0) {
            dp_fail_status(call, rc, "Error while loading the VAE", err);
            goto fail;
        }
    }
    /* F32 weights are copies: the mapping can go now. */
    cd_model_file_unref(m->file);
    m->file = NULL;
    cd_model_file_unref(file);
    *model = m;
    *clip = c;
    *vae = v;
    return COMFY_OK;
oom:
    h->fail(call, "RuntimeError", "out of memory loading %s", name);
    rc = COMFY_ENOMEM;
fail:
    dp_model_unref(m);
    dp_clip_unref(c);
    dp_vae_unref(v);
    cd_model_file_unref(file);
    return rc < 0 ? rc : COMFY_ERR;
}

/* ------------------------------------------------------------------ nodes */

static int list_checkpoints(const comfy_host *h, void *user, comfy_value *out)
{
    (void)user;
    return h->folder_list(h->ctx, "checkpoints", out);
}

static int checkpoint_loader_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const char *name;
    int rc = dp_in_string(call, "ckpt_name", &name);
    if (rc)
        return rc;
    char path[4096];
    rc = h->folder_resolve(h->ctx, "checkpoints", name, path, sizeof path);
    if (rc == COMFY_EACCES)
        return h->fail(call, "ValueError", "checkpoint name %s leaves the checkpoints folder",
                       name);
    if (rc < 0)
        return h->fail(call, "FileNotFoundError",
                       "Model in folder 'checkpoints' with filename '%s' not found.", name);
    dp_model *m;
    dp_clip *c;
    dp_vae *v;
    rc = dp_cache_checkpoint(call, path, name, &m, &c, &v);
    if (rc)
        return rc;
    comfy_value *mv = dp_model_value(h, m);
    comfy_value *cv = c ? dp_clip_value(h, c) : h->value_none(h->ctx);
    comfy_value *vv = v ? dp_vae_value(h, v) : h->value_none(h->ctx);
    dp_model_unref(m);
    dp_clip_unref(c);
    dp_vae_unref(v);
    if (!mv || !cv || !vv) {
        h->value_release(mv);
        h->value_release(cv);
        h->value_release(vv);
        return h->fail(call, "RuntimeError", "out of memory");
    }
    if ((rc = h->set_output(call, 0, mv)) || (rc = h->set_output(call, 1, cv)) ||
        (rc = h->set_output(call, 2, vv)))
        return rc;
    return COMFY_OK;
}

static const comfy_input_def checkpoint_inputs[] = {
    {sizeof(comfy_input_def), "ckpt_name", "COMBO", COMFY_REQUIRED,
     "{\"tooltip\": \"The name of the checkpoint (model) to load.\"}", NULL, list_checkpoints,
     NULL, 0},
};

static const comfy_output_def checkpoint_outputs[] = {
    {sizeof(comfy_output_def), "MODEL", NULL, "The model used for denoising latents.", 0},
    {sizeof(comfy_output_def), "CLIP", NULL, "The CLIP model used for encoding text prompts.", 0},
    {sizeof(comfy_output_def), "VAE", NULL,
     "The VAE model used for encoding and decoding images to and from latent space.", 0},
};

static const comfy_node_def loader_nodes[] = {
    {.size = sizeof(comfy_node_def), .name = "CheckpointLoaderSimple",
     .display_name = "Load Checkpoint", .category = "loaders",
     .description =
         "Loads a diffusion model checkpoint, diffusion models are used to denoise latents.",
     .module = "nodes", .inputs = checkpoint_inputs, .n_inputs = 1,
     .outputs = checkpoint_outputs, .n_outputs = 3, .flags = COMFY_NODE_OUTPUT_TOOLTIPS,
     .execute = checkpoint_loader_execute},
};

int dp_register_loaders(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < sizeof loader_nodes / sizeof loader_nodes[0]; i++) {
        int rc = h->register_node(reg, &loader_nodes[i]);
        if (rc)
            return rc;
    }
    return COMFY_OK;
}
