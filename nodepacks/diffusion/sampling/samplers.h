/*
 * samplers.h - ComfyUI's k-diffusion samplers over a denoiser callback.
 *
 * A sampler integrates x from sigmas[0] down to sigmas[nsig-1], calling the
 * denoiser D(x, sigma) -> x0 prediction (the diffusion pack plugs its UNet +
 * CFG in here), drawing noise the way ComfyUI does (torch's CPU generator
 * for ancestral samplers, the Brownian tree for the SDE samplers, or a
 * caller-supplied source), and reporting each step to a progress callback
 * that can interrupt.  The maths follows comfy/k_diffusion/sampling.py and
 * comfy/extra_samplers/uni_pc.py (shared/spec/nodes-and-models.md section
 * 6), with float32 scalar arithmetic in torch's order.
 *
 * x is float32, n elements, flat (the latent's B*C*H*W); every sampler is
 * elementwise, so shape does not matter except through n.  All buffers are
 * the caller's; cd_sample allocates its scratch and frees it before
 * returning.  Thread safety: cd_sample is reentrant; the callbacks run on
 * the calling thread.
 */
#ifndef CD_SAMPLERS_H
#define CD_SAMPLERS_H

#include "model_sampling.h"
#include "torch_rng.h"

#include <stddef.h>
#include <stdint.h>

/* The most steps (nsig - 1) one run may have. */
#define CD_SAMPLER_MAX_STEPS 20000

/* Returned when the progress callback asks to stop. */
#define CD_SAMPLE_INTERRUPTED (-125) /* -ECANCELED */

/* The denoiser: writes the x0 prediction for x at sigma into denoised[0..n-1].
 * When uncond is not NULL (the "_cfg_pp" samplers) it also writes the
 * unconditional prediction there (ComfyUI's uncond_denoised, computed even
 * at cfg 1).  x must not be modified.  Returns 0 or a negative error, which
 * cd_sample returns unchanged. */
typedef int (*cd_denoiser_fn)(void *user, const float *x, float sigma, float *denoised,
                              float *uncond, size_t n);

/* A noise source: standard-normal noise for the step sigma -> sigma_next into
 * out[0..n-1] (ComfyUI's noise_sampler(sigma, sigma_next)).  Returns 0 or a
 * negative error. */
typedef int (*cd_noise_fn)(void *user, float sigma, float sigma_next, float *out, size_t n);

/* Progress, after the first model evaluation of each step: step counts from
 * 0, total = nsig - 1, x is the state the step started from (for ipndm,
 * ipndm_v and deis the sampler's initial x, as in ComfyUI; for uni_pc the
 * state in its variance-preserving scale), denoised the x0 prediction.
 * Return nonzero to stop sampling (cd_sample then returns
 * CD_SAMPLE_INTERRUPTED). */
typedef int (*cd_progress_fn)(void *user, int step, int total, const float *x,
                              const float *denoised, size_t n);

typedef struct cd_sampler_opts {
  double eta;      /* NAN: the sampler's default (1 for ancestral/SDE ones) */
  double s_noise;  /* 1 */
  double s_churn;  /* euler, heun, heunpp2, dpm_2: 0 (then no churn noise) */
  double s_tmin;   /* 0 */
  double s_tmax;   /* +inf */
  int has_seed;    /* the noise seed (KSampler seed / noise_seed) */
  uint64_t seed;
  cd_noise_fn noise;   /* replaces the sampler's default noise source if set */
  void *noise_user;
  /* torch's global CPU generator as left by prepare_noise (torch.randn_like
   * in the churn samplers).  Required when s_churn > 0; heunpp2 draws from
   * it every step, as ComfyUI does. */
  cd_torch_gen *global_gen;
  cd_progress_fn progress;
  void *progress_user;
  /* The model's sampling table; sa_solver / sa_solver_pece need it (their
   * stochastic interval is percent_to_sigma(0.2) .. percent_to_sigma(0.8)).
   * cd_ksampler_sample fills it in when NULL. */
  const cd_model_sampling *model_sampling;
} cd_sampler_opts;

/* Fills the defaults listed above (no seed, no callbacks). */
void cd_sampler_opts_init(cd_sampler_opts *o);

/* The samplers, in ComfyUI's KSampler list order (all 42 of its names; see
 * samplers.c about the _gpu ones), for the KSampler / KSamplerSelect COMBO. */
int cd_sampler_count(void);
const char *cd_sampler_name(int i);  /* NULL when out of range */
int cd_sampler_find(const char *name); /* index, or -1 for an unknown name */

/* Whether KSampler computes this sampler's schedule with one extra step and
 * drops the penultimate sigma (dpm_2, dpm_2_ancestral, uni_pc, uni_pc_bh2). */
int cd_sampler_discards_penultimate(const char *name);

/* Whether ComfyUI's wrapper draws the inpainting noise from seed + 1
 * instead of the initial noise ("ddim": KSAMPLER inpaint_options random). */
int cd_sampler_inpaint_random_noise(const char *name);

/* Whether the sampler needs the denoiser's uncond output (the _cfg_pp ones). */
int cd_sampler_needs_uncond(const char *name);

/* Runs sampler `name` on x[0..n-1] in place over sigmas[0..nsig-1].
 * nsig <= 1 leaves x unchanged.  Stochastic samplers need opts->has_seed
 * or opts->noise.  Returns 0; -EINVAL for an unknown name, n == 0, a
 * non-finite sigma, a missing seed or global generator; -ENOMEM; a
 * denoiser or noise error; CD_SAMPLE_INTERRUPTED.  On error x holds a
 * partial result. */
int cd_sample(const char *name, cd_denoiser_fn model, void *model_user, float *x, size_t n,
              const float *sigmas, size_t nsig, const cd_sampler_opts *opts);

/* The default noise source of the ancestral samplers (default_noise_sampler
 * with a seed): a torch CPU generator seeded with seed, one randn(n) per
 * call.  Initialise with cd_default_noise_init and pass
 * (cd_default_noise, &state) as a cd_noise_fn. */
typedef struct cd_default_noise_state {
  cd_torch_gen gen;
} cd_default_noise_state;
void cd_default_noise_init(cd_default_noise_state *s, uint64_t seed);
int cd_default_noise(void *user, float sigma, float sigma_next, float *out, size_t n);

#endif
