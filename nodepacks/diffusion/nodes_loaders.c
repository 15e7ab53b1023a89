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
#include "convert.h"
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
    dp_lora_weights_free(m->lora);
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
    dp_taesd_free(v->taesd);
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
    if (v->taesd)
        return dp_taesd_decode_need(v, h, w);
    return v->pixel ? 0 : cd_vae_decode_scratch_bytes(v->vae, B, h, w);
}

uint64_t dp_vae_encode_need(dp_vae *v, int64_t B, int64_t H, int64_t W)
{
    if (v->taesd)
        return dp_taesd_encode_need(v, H, W);
    return v->pixel ? 0 : cd_vae_encode_scratch_bytes(v->vae, B, H, W);
}

/* pixel_space: the latent is the image in -1..1, channels first. */
static void pixel_decode(const float *z, int64_t B, int64_t h, int64_t w, float *img)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < 3; c++)
            for (int64_t i = 0; i < h * w; i++) {
                float v = (z[(b * 3 + c) * h * w + i] + 1.0f) / 2.0f;
                img[(b * h * w + i) * 3 + c] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            }
}

static void pixel_encode(const float *img, int64_t B, int64_t H, int64_t W, float *z)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < 3; c++)
            for (int64_t i = 0; i < H * W; i++)
                z[(b * 3 + c) * H * W + i] = img[(b * H * W + i) * 3 + c] * 2.0f - 1.0f;
}

int dp_vae_decode(dp_vae *v, comfy_call *call, const float *z, int64_t B, int64_t h, int64_t w,
                  float *img)
{
    const comfy_host *hst = call->host;
    if (v->pixel) {
        pixel_decode(z, B, h, w, img);
        return COMFY_OK;
    }
    if (v->taesd)
        return dp_taesd_decode(v, call, z, B, h, w, img);
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
    if (v->pixel) {
        pixel_encode(img, B, H, W, z);
        return COMFY_OK;
    }
    if (v->taesd)
        return dp_taesd_encode(v, call, img, B, H, W, z);
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
    if (v->pixel) { /* tiling an identity changes nothing */
        if (encode)
            pixel_encode(in, B, h, w, out);
        else
            pixel_decode(in, B, h, w, out);
        return COMFY_OK;
    }
    if (v->taesd)
        return dp_taesd_tiled(v, call, encode, in, B, h, w, tx, ty, overlap, out);
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

/* Checks a detection result: fails the call for what comfyd cannot run. */
static int check_family(comfy_call *call, const cd_detect *det, const char *name)
{
    const comfy_host *h = call->host;
    if (det->family == CD_FAMILY_NONE)
        return h->fail(call, "RuntimeError", "ERROR: Could not detect model type of: %s", name);
    if (det->family == CD_FAMILY_UNSUPPORTED)
        return h->fail(call, "RuntimeError",
                       "unsupported model architecture: %s is a %s model, which comfyd cannot "
                       "run yet (SD1.x, SD2.x, SDXL and the SDXL refiner are supported)",
                       name, det->name ? det->name : "unknown");
    if (det->prediction == CD_PRED_EDM || det->prediction == CD_PRED_V_EDM)
        return h->fail(call, "RuntimeError",
                       "unsupported model: %s uses %s prediction, which comfyd cannot run yet",
                       name, cd_prediction_name(det->prediction));
    return COMFY_OK;
}

/* A state dict whose names are renamed copies of sd's (diffusers files read
 * through the LDM names).  Owns the tensor array and the names. */
typedef struct renamed {
    cd_sd sd;
    cd_tensor *t;
    char *names;
} renamed;

static void renamed_free(renamed *r)
{
    cd_sd_free(&r->sd);
    free(r->t);
    free(r->names);
    memset(r, 0, sizeof *r);
}

/* Renames every tensor of sd under `prefix` with conv(); tensors conv()
 * does not know are dropped.  vae != 0 reshapes 2-D mid-attention weights
 * to [c, c, 1, 1].  Returns 0 or a negative status. */
static int rename_sd(const cd_sd *sd, const char *prefix, const cd_unet_config *cfg, int vae,
                     renamed *out, char *err, size_t errlen)
{
    enum { NAME_MAX_LEN = 192 };
    memset(out, 0, sizeof *out);
    size_t plen = strlen(prefix);
    out->t = calloc(sd->n ? sd->n : 1, sizeof(cd_tensor));
    out->names = malloc((sd->n ? sd->n : 1) * NAME_MAX_LEN);
    if (!out->t || !out->names) {
        renamed_free(out);
        return COMFY_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < sd->n; i++) {
        const cd_tensor *t = cd_sd_at(sd, i);
        if (strncmp(t->name, prefix, plen) != 0)
            continue;
        char *dst = out->names + k * NAME_MAX_LEN;
        int rc = vae ? cd_convert_diffusers_vae_key(4, t->name + plen, dst, NAME_MAX_LEN)
                     : cd_convert_diffusers_unet_key(cfg, t->name + plen, dst, NAME_MAX_LEN);
        if (rc < 0)
            continue;
        out->t[k] = *t;
        out->t[k].name = dst;
        if (vae && t->ndim == 2 && strstr(dst, "mid.attn_1.")) {
            out->t[k].ndim = 4;
            out->t[k].shape[2] = 1;
            out->t[k].shape[3] = 1;
        }
        k++;
    }
    int rc = cd_sd_init(&out->sd, out->t, k, err, errlen);
    if (rc < 0) {
        renamed_free(out);
        return rc == CD_MODEL_ENOMEM ? COMFY_ENOMEM : COMFY_EINVAL;
    }
    return COMFY_OK;
}

/* How weights are kept: in the file's dtype (f16/bf16/f32), borrowed from
 * the mapping, widened layer by layer at compute time.  The results equal
 * f32 copies exactly (widening is exact) for about 5% more time per step,
 * and an f16 SD1.5 UNet + VAE then needs 2.5 GB instead of 4+ GB.  Holders
 * keep a reference to the file. */
static const cd_nets_load_opts load_opts = {CD_NETS_WEIGHTS_STORED, CK_PREC_F32};

/* Builds the MODEL of a detected state dict of `file` (checked by
 * check_family). */
static int build_model(comfy_call *call, cd_model_file *file, const cd_sd *sd,
                       const cd_detect *det, const char *name, dp_model **out)
{
    const comfy_host *h = call->host;
    char err[512] = "";
    renamed rn = {0};
    int rc;
    dp_model *m = calloc(1, sizeof *m);
    if (!m)
        return h->fail(call, "RuntimeError", "out of memory loading %s", name);
    atomic_init(&m->refs, 1);
    m->file = cd_model_file_ref(file);
    m->family = det->family == CD_FAMILY_SD1    ? DP_SD1
                : det->family == CD_FAMILY_SD2  ? DP_SD2
                : det->family == CD_FAMILY_SDXL ? DP_SDXL
                                                : DP_SDXL_REFINER;
    m->v_pred = det->prediction == CD_PRED_V;
    m->latent_scale = (m->family == DP_SDXL || m->family == DP_SDXL_REFINER) ? 0.13025f
                                                                             : 0.18215f;
    m->latent_channels = 4;
    snprintf(m->name, sizeof m->name, "%s", name);
    m->ms = dp_ms_new(m->v_pred, det->zsnr);
    if (!m->ms) {
        dp_model_unref(m);
        return h->fail(call, "RuntimeError", "out of memory loading %s", name);
    }
    const cd_sd *use = sd;
    const char *prefix = det->unet_prefix;
    if (det->diffusers) {
        rc = rename_sd(sd, det->unet_prefix, &det->unet, 0, &rn, err, sizeof err);
        if (rc) {
            dp_model_unref(m);
            return dp_fail_status(call, rc, "Error while reading the diffusers UNet", err);
        }
        use = &rn.sd;
        prefix = "";
    }
    rc = cd_unet_load(use, prefix, &det->unet, &load_opts, &m->unet, err, sizeof err);
    renamed_free(&rn);
    if (rc < 0) {
        dp_model_unref(m);
        return dp_fail_status(call, rc, "Error while loading the diffusion model", err);
    }
    cd_unet_info ui;
    cd_unet_get_info(m->unet, &ui);
    m->in_channels = ui.in_channels;
    m->context_dim = ui.context_dim;
    m->adm_in_channels = ui.adm_in_channels;
    *out = m;
    return COMFY_OK;
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
    if (rc < 0) {
        h->fail(call, "RuntimeError", "ERROR: Could not detect model type of: %s%s%s%s", path,
                *err ? " (" : "", err, *err ? ")" : "");
        rc = COMFY_ERR;
        goto fail;
    }
    if ((rc = check_family(call, &det, name ? name : base_name(path))))
        goto fail;

    /* The diffusion model. */
    rc = build_model(call, file, sd, &det, name ? name : base_name(path), &m);
    if (rc)
        goto fail;

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
        v->downscale = 8;
        v->file = cd_model_file_ref(file);
        rc = cd_vae_load(sd, det.vae_prefix, &load_opts, &v->vae, err, sizeof err);
        if (rc < 0) {
            dp_fail_status(call, rc, "Error while loading the VAE", err);
            goto fail;
        }
    }
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

/* Opens a model file of folder `folder` named `name`: 0 and a new file
 * reference, or the failed call's status. */
static int open_in_folder(comfy_call *call, const char *folder, const char *name,
                          cd_model_file **file)
{
    const comfy_host *h = call->host;
    char path[4096], err[512] = "";
    int rc = h->folder_resolve(h->ctx, folder, name, path, sizeof path);
    if (rc == COMFY_EACCES)
        return h->fail(call, "ValueError", "%s leaves the %s folder", name, folder);
    if (rc < 0)
        return h->fail(call, "FileNotFoundError",
                       "Model in folder '%s' with filename '%s' not found.", folder, name);
    if (cd_model_file_open(path, file, err, sizeof err) < 0)
        return h->fail(call, "RuntimeError", "Error while loading %s: %s", name, err);
    return COMFY_OK;
}

static int list_vaes(const comfy_host *h, void *user, comfy_value *out)
{
    (void)user;
    int rc = h->folder_list(h->ctx, "vae", out);
    if (rc)
        return rc;
    /* ComfyUI's taesd / taesdxl when vae_approx holds both halves (taesd3
     * and taef1 are not offered), then pixel_space. */
    if ((rc = dp_taesd_list(h, out)))
        return rc;
    return h->list_append(out, h->value_string(h->ctx, "pixel_space", (size_t)-1));
}

static int vae_loader_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const char *name;
    int rc = dp_in_string(call, "vae_name", &name);
    if (rc)
        return rc;
    dp_vae *v = calloc(1, sizeof *v);
    if (!v)
        return h->fail(call, "RuntimeError", "out of memory");
    atomic_init(&v->refs, 1);
    v->latent_scale = 1.0f;
    if (strcmp(name, "pixel_space") == 0) {
        v->pixel = 1;
        v->latent_channels = 3;
        v->downscale = 1;
    } else if (dp_taesd_is_choice(name)) {
        if ((rc = dp_taesd_load_vae(call, name, v)))
            goto fail;
    } else {
        cd_model_file *file = NULL;
        char prefix[64] = "", err[512] = "";
        int diffusers = 0;
        renamed rn = {0};
        v->latent_channels = 4;
        v->downscale = 8;
        if ((rc = open_in_folder(call, "vae", name, &file)))
            goto fail;
        const cd_sd *sd = cd_model_file_index(file);
        if (cd_detect_vae(sd, prefix, sizeof prefix, &diffusers, err, sizeof err) < 0) {
            cd_model_file_unref(file);
            rc = h->fail(call, "RuntimeError", "ERROR: No VAE weights detected in %s", name);
            goto fail;
        }
        if (diffusers) {
            rc = rename_sd(sd, prefix, NULL, 1, &rn, err, sizeof err);
            if (rc) {
                cd_model_file_unref(file);
                rc = dp_fail_status(call, rc, "Error while reading the diffusers VAE", err);
                goto fail;
            }
            sd = &rn.sd;
            prefix[0] = 0;
        }
        v->file = file; /* the VAE may borrow the mapping */
        rc = cd_vae_load(sd, prefix, &load_opts, &v->vae, err, sizeof err);
        renamed_free(&rn);
        if (rc < 0) {
            rc = dp_fail_status(call, rc, "Error while loading the VAE", err);
            goto fail;
        }
    }
    comfy_value *val = dp_vae_value(h, v);
    dp_vae_unref(v);
    if (!val)
        return h->fail(call, "RuntimeError", "out of memory");
    return h->set_output(call, 0, val);
fail:
    dp_vae_unref(v);
    return rc;
}

static int list_diffusion_models(const comfy_host *h, void *user, comfy_value *out)
{
    (void)user;
    return h->folder_list(h->ctx, "diffusion_models", out);
}

static const char *const weight_dtypes[] = {"default", "fp8_e4m3fn", "fp8_e4m3fn_fast",
                                            "fp8_e5m2", NULL};

static int unet_loader_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const char *name, *wd;
    int rc;
    if ((rc = dp_in_string(call, "unet_name", &name)) ||
        (rc = dp_in_string(call, "weight_dtype", &wd)))
        return rc;
    if (strcmp(wd, "default") != 0)
        return h->fail(call, "RuntimeError",
                       "weight_dtype %s: comfyd keeps UNet weights in f32 and cannot store "
                       "them as fp8 yet; use \"default\"", wd);
    cd_model_file *file = NULL;
    if ((rc = open_in_folder(call, "diffusion_models", name, &file)))
        return rc;
    char err[512] = "";
    cd_detect det;
    dp_model *m = NULL;
    if (cd_detect_checkpoint(cd_model_file_index(file), &det, err, sizeof err) < 0) {
        rc = h->fail(call, "RuntimeError", "ERROR: Could not detect model type of: %s", name);
        goto out;
    }
    if ((rc = check_family(call, &det, name)))
        goto out;
    if ((rc = build_model(call, file, cd_model_file_index(file), &det, name, &m)))
        goto out;
    comfy_value *v = dp_model_value(h, m);
    rc = v ? h->set_output(call, 0, v) : h->fail(call, "RuntimeError", "out of memory");
out:
    dp_model_unref(m);
    cd_model_file_unref(file);
    return rc;
}

static int list_text_encoders(const comfy_host *h, void *user, comfy_value *out)
{
    (void)user;
    return h->folder_list(h->ctx, "text_encoders", out);
}

static const char *const clip_types[] = {
    "stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv", "pixart",
    "cosmos", "lumina2", "wan", "hidream", "chroma", "ace", "omnigen2", "qwen_image",
    "hunyuan_image", NULL};
static const char *const dual_clip_types[] = {"sdxl", "sd3", "flux", "hunyuan_video",
                                              "hidream", "hunyuan_image", NULL};
static const char *const devices[] = {"default", "cpu", NULL};

/* Loads the text encoder in file `name`: *te and a new model. */
static int load_encoder(comfy_call *call, const char *name, cd_text_encoder *te,
                        cd_clip_text_model **model)
{
    const comfy_host *h = call->host;
    cd_model_file *file = NULL;
    char err[512] = "";
    int rc = open_in_folder(call, "text_encoders", name, &file);
    if (rc)
        return rc;
    const cd_sd *sd = cd_model_file_index(file);
    if (cd_detect_text_encoder(sd, te, err, sizeof err) < 0) {
        cd_model_file_unref(file);
        return h->fail(call, "RuntimeError",
                       "%s is not a text encoder comfyd can load (CLIP-L, OpenCLIP ViT-H or "
                       "ViT-bigG)", name);
    }
    /* Widths other than the real ones are comfyd-mkcheckpoint's reduced files. */
    int reduced = te->width != 768 && te->width != 1024 && te->width != 1280;
    rc = cd_clip_load_encoder(sd, te, reduced, model, err, sizeof err);
    cd_model_file_unref(file);
    if (rc < 0)
        return dp_fail_status(call, rc, "Error while loading the text encoder", err);
    return COMFY_OK;
}

static int clip_out(comfy_call *call, cd_clip_family fam, cd_clip_text_model *l,
                    cd_clip_text_model *g)
{
    const comfy_host *h = call->host;
    cd_clip_stack *stack = NULL;
    if (cd_clip_stack_new(fam, l, g, &stack) < 0) /* takes l and g */
        return h->fail(call, "RuntimeError", "cannot make the CLIP (out of memory)");
    dp_clip *c = calloc(1, sizeof *c);
    if (!c) {
        cd_clip_stack_free(stack);
        return h->fail(call, "RuntimeError", "out of memory");
    }
    atomic_init(&c->refs, 1);
    c->stack = stack;
    comfy_value *v = dp_clip_value(h, c);
    dp_clip_unref(c);
    return v ? h->set_output(call, 0, v) : h->fail(call, "RuntimeError", "out of memory");
}

static int clip_loader_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const char *name, *type;
    int rc;
    if ((rc = dp_in_string(call, "clip_name", &name)) || (rc = dp_in_string(call, "type", &type)))
        return rc;
    if (strcmp(type, "stable_diffusion") != 0)
        return h->fail(call, "RuntimeError",
                       "CLIPLoader type %s: comfyd runs the stable_diffusion text encoders "
                       "(CLIP-L, OpenCLIP ViT-H, ViT-bigG) only", type);
    cd_text_encoder te;
    cd_clip_text_model *m = NULL;
    if ((rc = load_encoder(call, name, &te, &m)))
        return rc;
    switch (te.kind) {
    case CD_TEXT_CLIP_L: return clip_out(call, CD_CLIP_SD1, m, NULL);
    case CD_TEXT_CLIP_H: return clip_out(call, CD_CLIP_SD2, NULL, m);
    default: return clip_out(call, CD_CLIP_SDXL_REFINER, NULL, m);
    }
}

static int dual_clip_loader_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const char *n1, *n2, *type;
    int rc;
    if ((rc = dp_in_string(call, "clip_name1", &n1)) ||
        (rc = dp_in_string(call, "clip_name2", &n2)) || (rc = dp_in_string(call, "type", &type)))
        return rc;
    if (strcmp(type, "sdxl") != 0)
        return h->fail(call, "RuntimeError",
                       "DualCLIPLoader type %s: comfyd runs the sdxl pair (CLIP-L + "
                       "ViT-bigG) only", type);
    cd_text_encoder t1, t2;
    cd_clip_text_model *m1 = NULL, *m2 = NULL;
    if ((rc = load_encoder(call, n1, &t1, &m1)))
        return rc;
    if ((rc = load_encoder(call, n2, &t2, &m2))) {
        cd_clip_text_model_free(m1);
        return rc;
    }
    /* Routed by content, so the file order does not matter. */
    if (t1.kind == CD_TEXT_CLIP_G && t2.kind == CD_TEXT_CLIP_L)
        return clip_out(call, CD_CLIP_SDXL, m2, m1);
    if (t1.kind == CD_TEXT_CLIP_L && t2.kind == CD_TEXT_CLIP_G)
        return clip_out(call, CD_CLIP_SDXL, m1, m2);
    cd_clip_text_model_free(m1);
    cd_clip_text_model_free(m2);
    return h->fail(call, "RuntimeError",
                   "sdxl needs one CLIP-L and one CLIP-G (ViT-bigG) text encoder file");
}

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


static const comfy_input_def vae_loader_inputs[] = {
    {sizeof(comfy_input_def), "vae_name", "COMBO", COMFY_REQUIRED, NULL, NULL, list_vaes, NULL, 0},
};
static const comfy_input_def unet_loader_inputs[] = {
    {sizeof(comfy_input_def), "unet_name", "COMBO", COMFY_REQUIRED, NULL, NULL,
     list_diffusion_models, NULL, 0},
    {sizeof(comfy_input_def), "weight_dtype", "COMBO", COMFY_REQUIRED, NULL, weight_dtypes, NULL,
     NULL, 0},
};
static const comfy_input_def clip_loader_inputs[] = {
    {sizeof(comfy_input_def), "clip_name", "COMBO", COMFY_REQUIRED, NULL, NULL,
     list_text_encoders, NULL, 0},
    {sizeof(comfy_input_def), "type", "COMBO", COMFY_REQUIRED, NULL, clip_types, NULL, NULL, 0},
    {sizeof(comfy_input_def), "device", "COMBO", COMFY_OPTIONAL, "{\"advanced\": true}", devices,
     NULL, NULL, 0},
};
static const comfy_input_def dual_clip_loader_inputs[] = {
    {sizeof(comfy_input_def), "clip_name1", "COMBO", COMFY_REQUIRED, NULL, NULL,
     list_text_encoders, NULL, 0},
    {sizeof(comfy_input_def), "clip_name2", "COMBO", COMFY_REQUIRED, NULL, NULL,
     list_text_encoders, NULL, 0},
    {sizeof(comfy_input_def), "type", "COMBO", COMFY_REQUIRED, NULL, dual_clip_types, NULL, NULL,
     0},
    {sizeof(comfy_input_def), "device", "COMBO", COMFY_OPTIONAL, "{\"advanced\": true}", devices,
     NULL, NULL, 0},
};
static const comfy_output_def vae_out[] = {{sizeof(comfy_output_def), "VAE", NULL, NULL, 0}};
static const comfy_output_def model_out[] = {{sizeof(comfy_output_def), "MODEL", NULL, NULL, 0}};
static const comfy_output_def clip_out_def[] = {{sizeof(comfy_output_def), "CLIP", NULL, NULL, 0}};

/* In the order of ComfyUI's NODE_CLASS_MAPPINGS. */
static const comfy_node_def loader_nodes[] = {
    {.size = sizeof(comfy_node_def), .name = "CheckpointLoaderSimple",
     .display_name = "Load Checkpoint", .category = "loaders",
     .description =
         "Loads a diffusion model checkpoint, diffusion models are used to denoise latents.",
     .module = "nodes", .inputs = checkpoint_inputs, .n_inputs = 1,
     .outputs = checkpoint_outputs, .n_outputs = 3, .flags = COMFY_NODE_OUTPUT_TOOLTIPS,
     .execute = checkpoint_loader_execute},
    {.size = sizeof(comfy_node_def), .name = "VAELoader", .display_name = "Load VAE",
     .category = "loaders", .module = "nodes", .inputs = vae_loader_inputs, .n_inputs = 1,
     .outputs = vae_out, .n_outputs = 1, .execute = vae_loader_execute},
    {.size = sizeof(comfy_node_def), .name = "UNETLoader", .display_name = "Load Diffusion Model",
     .category = "advanced/loaders", .module = "nodes", .inputs = unet_loader_inputs,
     .n_inputs = 2, .outputs = model_out, .n_outputs = 1, .execute = unet_loader_execute},
    {.size = sizeof(comfy_node_def), .name = "CLIPLoader", .display_name = "Load CLIP",
     .category = "advanced/loaders",
     .description = "[Recipes]\n\nstable_diffusion: clip-l\nstable_cascade: clip-g\nsd3: t5 "
                    "xxl/ clip-g / clip-l\nstable_audio: t5 base\nmochi: t5 xxl\ncosmos: old "
                    "t5 xxl\nlumina2: gemma 2 2B\nwan: umt5 xxl\n hidream: llama-3.1 "
                    "(Recommend) or t5\nomnigen2: qwen vl 2.5 3B",
     .module = "nodes", .inputs = clip_loader_inputs, .n_inputs = 3, .outputs = clip_out_def,
     .n_outputs = 1, .execute = clip_loader_execute},
    {.size = sizeof(comfy_node_def), .name = "DualCLIPLoader", .display_name = "DualCLIPLoader",
     .category = "advanced/loaders",
     .description = "[Recipes]\n\nsdxl: clip-l, clip-g\nsd3: clip-l, clip-g / clip-l, t5 / "
                    "clip-g, t5\nflux: clip-l, t5\nhidream: at least one of t5 or llama, "
                    "recommended t5 and llama\nhunyuan_image: qwen2.5vl 7b and byt5 small",
     .module = "nodes", .inputs = dual_clip_loader_inputs, .n_inputs = 4,
     .outputs = clip_out_def, .n_outputs = 1, .execute = dual_clip_loader_execute},
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
