/*
 * comfy/diffusion.h — the diffusion pack's object values, for packs that
 * want to use its models from C (a new sampler, a new guidance rule).
 *
 * The diffusion pack (diffusion.so) makes MODEL, CLIP, VAE, SAMPLER and
 * GUIDER values as host OBJECT values (comfy.h: value_object); the iface
 * pointer of such a value is one of the tables below and `self` is the
 * pack's object.  Read them with
 *
 *     const comfy_model_iface *mi; void *model;
 *     if (h->value_get_object(h->input(call, "model"), "MODEL",
 *                             (const void **)&mi, &model) != COMFY_OK) ...
 *     if (mi->size < COMFY_MODEL_IFACE_V1_SIZE) ...   // too old a pack
 *
 * Plain values (no interface):
 *   CONDITIONING  a LIST of entries; each entry a LIST of two items:
 *                 [TENSOR f32 [1, T, D] (the cross-attention context),
 *                  MAP options].  Options ComfyUI's nodes set, same names:
 *                 "pooled_output" TENSOR f32 [1, P]; "strength" FLOAT;
 *                 "area" LIST of 4 INT (h, w, y, x in latent units) or of
 *                 "percentage" + 4 FLOAT; "mask" TENSOR [B, H, W];
 *                 "mask_strength" FLOAT; "set_area_to_bounds" BOOL;
 *                 "start_percent" / "end_percent" FLOAT; "width",
 *                 "height", "crop_w", "crop_h", "target_width",
 *                 "target_height" INT and "aesthetic_score" FLOAT (SDXL).
 *   LATENT        a MAP {"samples": TENSOR f32 [B, C, h, w] in raw VAE
 *                 space, optional "noise_mask" TENSOR [N, 1, Hm, Wm],
 *                 optional "batch_index" LIST of INT}.
 *   SIGMAS        a TENSOR f32 [n], descending, usually ending in 0.
 *
 * Threads: everything here runs on the executor thread inside a node's
 * execute, with the call of that node (progress and interrupt go through
 * it).  Buffers are the caller's unless a contract says otherwise.
 */
#ifndef COMFY_DIFFUSION_H
#define COMFY_DIFFUSION_H

#include <stddef.h>
#include <stdint.h>

#include "comfy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- MODEL */

/* What a MODEL takes and how its noise levels map to timesteps. */
typedef struct comfy_model_info {
    uint32_t size;            /* set by the caller: sizeof(comfy_model_info) */
    int32_t latent_channels;  /* 4 for SD1.x / SD2.x / SDXL                */
    int32_t v_prediction;     /* 0: eps-prediction, 1: v-prediction         */
    float latent_scale;       /* process_in(z) = z * latent_scale           */
    float sigma_min, sigma_max;
} comfy_model_info;

/* A denoiser bound to a model and its conditioning (ComfyUI's CFG guider):
 * denoise(x) writes the x0 prediction of the model for the latent x (model
 * space, i.e. already multiplied by latent_scale) at noise level sigma,
 * after classifier-free guidance.  Opaque; made by guider_new. */
typedef struct comfy_guider comfy_guider;

typedef struct comfy_model_iface {
    uint32_t size;            /* sizeof(comfy_model_iface) of the maker     */
    /* Fills *out (out->size set by the caller).  COMFY_OK. */
    int (*info)(void *self, comfy_model_info *out);
    /* The sigmas of scheduler `scheduler` ("normal", "karras", ... as the
     * KSampler list) for `steps` steps into out[cap]; *n_out gets the
     * count (steps + 1 normally).  COMFY_EINVAL for an unknown scheduler
     * or a cap too small (steps + 2 always suffices). */
    int (*sigmas)(void *self, const char *scheduler, int32_t steps, float *out,
                  size_t cap, size_t *n_out);
    /* A guider for latents of shape[4] = {B, C, h, w} with CONDITIONING
     * values positive and negative (negative may be NULL: no CFG) at
     * scale cfg.  On failure the call has been failed (host->fail) and
     * the status is returned.  Free with guider_free. */
    int (*guider_new)(void *self, comfy_call *call, const comfy_value *positive,
                      const comfy_value *negative, double cfg,
                      const int64_t shape[4], comfy_guider **out);
    /* One guided evaluation; x and denoised are B*C*h*w floats.  Returns
     * COMFY_OK, COMFY_EINTERRUPTED, or an error after failing the call. */
    int (*guider_denoise)(comfy_guider *g, const float *x, float sigma, float *denoised);
    void (*guider_free)(comfy_guider *g);
} comfy_model_iface;

/* The size of the first version of the table: a caller needing its
 * members checks iface->size >= COMFY_MODEL_IFACE_V1_SIZE (members are
 * only ever appended). */
#define COMFY_MODEL_IFACE_V1_SIZE \
    (offsetof(comfy_model_iface, guider_free) + sizeof(void (*)(comfy_guider *)))

/* ------------------------------------------------------------------ VAE */

typedef struct comfy_vae_iface {
    uint32_t size;            /* sizeof(comfy_vae_iface) of the maker       */
    int32_t latent_channels;  /* 4                                          */
    int32_t downscale;        /* 8: image side = latent side * 8            */
    /* z [B, C, h, w] (raw VAE space) -> img [B, 8h, 8w, 3] in 0..1.
     * Fails the call on error and returns its status. */
    int (*decode)(void *self, comfy_call *call, const float *z, int64_t B, int64_t h,
                  int64_t w, float *img);
    /* img [B, H, W, 3] (H, W multiples of 8) -> z [B, C, H/8, W/8]. */
    int (*encode)(void *self, comfy_call *call, const float *img, int64_t B, int64_t H,
                  int64_t W, float *z);
} comfy_vae_iface;

/* -------------------------------------------------------------- SAMPLER */

/* A SAMPLER value made by any pack: SamplerCustom and SamplerCustomAdvanced
 * call `sample` with the guider's denoiser.  x holds n floats: the initial
 * noisy latent in model space (noise already scaled to sigmas[0]); sample
 * integrates it in place down to sigmas[nsig - 1].  `denoise` is the
 * guided model; `seed` the noise seed (for samplers that draw noise).
 * Report each step with host->progress(call, step + 1, nsig - 1, NULL) and
 * return COMFY_OK, COMFY_EINTERRUPTED, or host->fail(...)'s status. */
typedef struct comfy_denoiser {
    uint32_t size;
    void *user;
    int (*denoise)(void *user, const float *x, float sigma, float *denoised);
} comfy_denoiser;

typedef struct comfy_sampler_iface {
    uint32_t size;            /* sizeof(comfy_sampler_iface) of the maker   */
    int (*sample)(void *self, comfy_call *call, const comfy_denoiser *denoise, float *x,
                  size_t n, const float *sigmas, size_t nsig, uint64_t seed);
} comfy_sampler_iface;

#ifdef __cplusplus
}
#endif

#endif /* COMFY_DIFFUSION_H */
