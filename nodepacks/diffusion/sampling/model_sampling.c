/*
 * model_sampling.c - discrete model sampling (see model_sampling.h).
 */
#include "model_sampling.h"

#include <errno.h>
#include <math.h>

/* torch.linspace element i (the scalar kernel's rule), float64. */
static double linspace64(double a, double b, int n, int i)
{
  double step = (b - a) / (double)(n - 1);
  if (i < n / 2)
    return a + step * (double)i;
  return b - step * (double)(n - 1 - i);
}

int cd_model_sampling_discrete(cd_model_sampling *ms, double linear_start, double linear_end,
                               int timesteps, int zsnr, cd_prediction pred)
{
  if (timesteps < 2 || timesteps > CD_MS_MAX_TIMESTEPS || !(linear_start > 0) ||
      !(linear_end > linear_start) || !(linear_end < 1))
    return -EINVAL;
  double sig[CD_MS_MAX_TIMESTEPS];
  double a0 = sqrt(linear_start), a1 = sqrt(linear_end);
  double ac = 1.0;
  for (int i = 0; i < timesteps; i++) {
    double b = linspace64(a0, a1, timesteps, i);
    b = b * b;
    ac = ac * (1.0 - b);
    sig[i] = sqrt((1.0 - ac) / ac);
  }
  if (zsnr) {
    /* rescale_zero_terminal_snr_sigmas, in float64 like the tensor it runs on */
    double ab[CD_MS_MAX_TIMESTEPS];
    for (int i = 0; i < timesteps; i++)
      ab[i] = sqrt(1.0 / ((sig[i] * sig[i]) + 1.0));
    double first = ab[0], last = ab[timesteps - 1];
    double scale = first / (first - last);
    for (int i = 0; i < timesteps; i++) {
      double v = (ab[i] - last) * scale;
      ab[i] = v * v;
    }
    ab[timesteps - 1] = 4.8973451890853435e-08;
    for (int i = 0; i < timesteps; i++)
      sig[i] = sqrt((1.0 - ab[i]) / ab[i]);
  }
  ms->n = timesteps;
  for (int i = 0; i < timesteps; i++) {
    ms->sigmas[i] = (float)sig[i];
    ms->log_sigmas[i] = (float)log(sig[i]);
  }
  ms->pred = pred;
  return 0;
}

void cd_model_sampling_sd(cd_model_sampling *ms, cd_prediction pred)
{
  (void)cd_model_sampling_discrete(ms, 0.00085, 0.012, 1000, 0, pred);
}

float cd_ms_sigma_min(const cd_model_sampling *ms)
{
  return ms->sigmas[0];
}

float cd_ms_sigma_max(const cd_model_sampling *ms)
{
  return ms->sigmas[ms->n - 1];
}

int cd_ms_timestep(const cd_model_sampling *ms, float sigma)
{
  float ls = logf(sigma);
  int best = 0;
  float bd = fabsf(ls - ms->log_sigmas[0]);
  for (int i = 1; i < ms->n; i++) {
    float d = fabsf(ls - ms->log_sigmas[i]);
    if (d < bd) {
      bd = d;
      best = i;
    }
  }
  return best;
}

float cd_ms_sigma(const cd_model_sampling *ms, float t)
{
  float hi_t = (float)(ms->n - 1);
  if (t != t || t < 0.0f)
    t = 0.0f;
  if (t > hi_t)
    t = hi_t;
  int lo = (int)floorf(t), hi = (int)ceilf(t);
  float w = t - truncf(t);
  float ls = (1.0f - w) * ms->log_sigmas[lo] + w * ms->log_sigmas[hi];
  return expf(ls);
}

double cd_ms_percent_to_sigma(const cd_model_sampling *ms, double percent)
{
  if (percent <= 0.0)
    return 999999999.9;
  if (percent >= 1.0)
    return 0.0;
  percent = 1.0 - percent;
  return (double)cd_ms_sigma(ms, (float)(percent * 999.0));
}

void cd_ms_calculate_input(float sigma, const float *x, float *out, size_t n)
{
  float d = sqrtf(sigma * sigma + 1.0f);
  for (size_t i = 0; i < n; i++)
    out[i] = x[i] / d;
}

void cd_ms_calculate_denoised(const cd_model_sampling *ms, float sigma, const float *model_out,
                              const float *x, float *out, size_t n)
{
  if (ms->pred == CD_PRED_V) {
    float s2 = sigma * sigma + 1.0f;
    float sq = sqrtf(s2);
    for (size_t i = 0; i < n; i++)
      out[i] = x[i] / s2 - (model_out[i] * sigma) / sq;
    return;
  }
  for (size_t i = 0; i < n; i++)
    out[i] = x[i] - model_out[i] * sigma;
}

void cd_ms_noise_scaling(float sigma, const float *noise, const float *latent, int max_denoise,
                         float *out, size_t n)
{
  float s = max_denoise ? sqrtf(1.0f + sigma * sigma) : sigma;
  for (size_t i = 0; i < n; i++)
    out[i] = noise[i] * s + (latent ? latent[i] : 0.0f);
}

int cd_ms_is_max_denoise(const cd_model_sampling *ms, float sigma0)
{
  double mx = cd_ms_sigma_max(ms), s = sigma0;
  double tol = 1e-5 * (fabs(mx) > fabs(s) ? fabs(mx) : fabs(s));
  return fabs(mx - s) <= tol || s > mx;
}
