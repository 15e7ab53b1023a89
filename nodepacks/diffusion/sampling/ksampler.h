/*
 * ksampler.h - ComfyUI's KSAMPLER.sample wrapper around a sampler
 * (shared/spec/nodes-and-models.md sections 3.7 and 3.8): the initial noise
 * scaling (sqrt(1 + sigma0^2) at full strength, else sigma0), the
 * inpainting noise-mask blend at every denoiser call, the sampler itself,
 * and the (identity, for EPS and V models) inverse scaling.
 *
 * The caller prepares the inputs the way ComfyUI's guider does: latent is
 * the process_in'd latent (scaled by the VAE factor), mask the denoise mask
 * already resized and broadcast to the latent's n elements (1 = repaint).
 * Buffers are the caller's; scratch is allocated and freed inside.  Runs on
 * the calling thread (callbacks too).
 */
#ifndef CD_KSAMPLER_H
#define CD_KSAMPLER_H

#include "model_sampling.h"
#include "samplers.h"

#include <stddef.h>
#include <stdint.h>

/* ComfyUI's prepare_mask / reshape_mask for a B x C x h x w latent: the
 * mask's mn planes of mh x mw (a MASK [N,H,W] or [N,1,H,W]) are resized
 * with torch's bilinear interpolation (align_corners false, no antialias),
 * the single channel repeated to c channels, and the planes repeated
 * cyclically / truncated to b items.  Writes b*c*h*w floats to out.
 * Returns 0, or -EINVAL for a zero or oversized dimension. */
int cd_prepare_noise_mask(const float *mask, size_t mn, int mh, int mw, int b, int c, int h, int w,
                          float *out);

/* Samples into out[0..n-1] (out may alias noise or latent):
 *   nsig == 0: out = latent (zeros if NULL), like ComfyUI's empty schedule;
 *   else x = noise_scaling(sigmas[0], noise, latent), then sampler `name`
 *   with the denoiser wrapped for the mask when mask != NULL (for "ddim" the
 *   blended-in noise is torch randn(n) seeded with seed + 1, as ComfyUI's
 *   inpaint "random" option does; otherwise the initial noise).
 * opts->has_seed/seed are the KSampler seed (set has_seed for stochastic
 * samplers and for ddim with a mask).  Returns 0 or cd_sample's errors
 * (-EINVAL, -ENOMEM, a denoiser error, CD_SAMPLE_INTERRUPTED). */
int cd_ksampler_sample(const char *name, const cd_model_sampling *ms, cd_denoiser_fn model,
                       void *model_user, const float *sigmas, size_t nsig, const float *noise,
                       const float *latent, const float *mask, float *out, size_t n,
                       const cd_sampler_opts *opts);

#endif
