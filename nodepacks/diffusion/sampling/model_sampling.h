/*
 * model_sampling.h - ComfyUI's discrete model sampling for SD1.x / SD2.x /
 * SDXL (ModelSamplingDiscrete): the linear beta schedule, the float32 sigma
 * and log-sigma tables, sigma <-> timestep, the EPS and V-prediction
 * parameterisations and the initial noise scaling
 * (shared/spec/nodes-and-models.md section 4).
 *
 * A cd_model_sampling is a plain value (no allocation); after init it is
 * read-only and may be shared between threads.  Float32 arithmetic follows
 * the order of torch's tensor expressions in ComfyUI.
 */
#ifndef CD_MODEL_SAMPLING_H
#define CD_MODEL_SAMPLING_H

#include <stddef.h>

#define CD_MS_MAX_TIMESTEPS 1000

typedef enum cd_prediction {
  CD_PRED_EPS = 0,
  CD_PRED_V = 1
} cd_prediction;

typedef struct cd_model_sampling {
  int n;                                    /* number of table entries */
  float sigmas[CD_MS_MAX_TIMESTEPS];        /* ascending */
  float log_sigmas[CD_MS_MAX_TIMESTEPS];
  cd_prediction pred;
} cd_model_sampling;

/* Builds the discrete table: betas = linspace(sqrt(linear_start),
 * sqrt(linear_end), timesteps)^2 in float64, alphas_cumprod, sigmas; with
 * zsnr the zero-terminal-SNR rescale (SDXL "ztsnr" checkpoints).  SD uses
 * (0.00085, 0.012, 1000).  Returns 0, or -EINVAL when timesteps is not in
 * 2..CD_MS_MAX_TIMESTEPS or the range is not 0 < start < end < 1. */
int cd_model_sampling_discrete(cd_model_sampling *ms, double linear_start, double linear_end,
                               int timesteps, int zsnr, cd_prediction pred);

/* The SD defaults: cd_model_sampling_discrete(ms, 0.00085, 0.012, 1000, 0, pred). */
void cd_model_sampling_sd(cd_model_sampling *ms, cd_prediction pred);

float cd_ms_sigma_min(const cd_model_sampling *ms);
float cd_ms_sigma_max(const cd_model_sampling *ms);

/* timestep(sigma): index of the nearest log-sigma (first on ties), the value
 * the UNet receives (as a float).  A NaN sigma gives 0. */
int cd_ms_timestep(const cd_model_sampling *ms, float sigma);

/* sigma(t) for a fractional timestep: log-linear interpolation of the table
 * after clamping t to [0, n-1]. */
float cd_ms_sigma(const cd_model_sampling *ms, float t);

/* percent_to_sigma: p <= 0 -> 999999999.9, p >= 1 -> 0, else sigma((1-p)*999). */
double cd_ms_percent_to_sigma(const cd_model_sampling *ms, double percent);

/* UNet input: out[i] = x[i] / sqrt(sigma^2 + 1).  out may alias x. */
void cd_ms_calculate_input(float sigma, const float *x, float *out, size_t n);

/* Denoised prediction from the model output F and the sampler's x
 * (EPS: x - F*sigma; V: x/(sigma^2+1) - F*sigma/sqrt(sigma^2+1)).
 * out may alias x or model_out. */
void cd_ms_calculate_denoised(const cd_model_sampling *ms, float sigma, const float *model_out,
                              const float *x, float *out, size_t n);

/* Initial x: noise*sqrt(1+sigma^2) + latent if max_denoise, else
 * noise*sigma + latent (latent may be NULL for zeros).  out may alias noise. */
void cd_ms_noise_scaling(float sigma, const float *noise, const float *latent, int max_denoise,
                         float *out, size_t n);

/* KSAMPLER's max_denoise test: sigma0 within rel 1e-5 of sigma_max, or above. */
int cd_ms_is_max_denoise(const cd_model_sampling *ms, float sigma0);

#endif
