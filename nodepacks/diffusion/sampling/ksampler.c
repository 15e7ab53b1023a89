/*
 * ksampler.c - KSAMPLER.sample with the inpainting mask (see ksampler.h).
 */
#include "ksampler.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct inpaint {
  cd_denoiser_fn model;
  void *mu;
  const float *mask, *latent, *noise;
  float *xin; /* scratch, n floats */
} inpaint;

/* KSamplerX0Inpaint: x_in = x*m + (noise*sigma + latent)*(1-m); out = out*m + latent*(1-m) */
static int inpaint_denoise(void *user, const float *x, float sigma, float *out, float *uncond,
                           size_t n)
{
  inpaint *p = user;
  for (size_t i = 0; i < n; i++) {
    float lm = 1.0f - p->mask[i];
    float lat = p->latent ? p->latent[i] : 0.0f;
    float scaled = p->noise[i] * sigma + lat;
    p->xin[i] = x[i] * p->mask[i] + scaled * lm;
  }
  int rc = p->model(p->mu, p->xin, sigma, out, uncond, n);
  if (rc < 0)
    return rc;
  for (size_t i = 0; i < n; i++) {
    float lm = 1.0f - p->mask[i];
    float lat = p->latent ? p->latent[i] : 0.0f;
    out[i] = out[i] * p->mask[i] + lat * lm;
  }
  return 0;
}

/* torch's linear-interpolation source index and weights for one axis
 * (align_corners false): src = max(scale*(o+0.5)-0.5, 0), in float. */
static void lin_index(int in, int out, int o, int *i0, int *i1, float *l0, float *l1)
{
  float scale = (float)in / (float)out;
  float src = scale * ((float)o + 0.5f) - 0.5f;
  if (src < 0.0f)
    src = 0.0f;
  int a = (int)src;
  *i0 = a;
  *i1 = a + (a < in - 1 ? 1 : 0);
  *l1 = src - (float)a;
  *l0 = 1.0f - *l1;
}

int cd_prepare_noise_mask(const float *mask, size_t mn, int mh, int mw, int b, int c, int h, int w,
                          float *out)
{
  const int lim = 1 << 16;
  if (!mask || !out || mn == 0 || mn > (size_t)lim || mh <= 0 || mw <= 0 || b <= 0 || c <= 0 ||
      h <= 0 || w <= 0 || mh > lim || mw > lim || b > lim || c > lim || h > lim || w > lim)
    return -EINVAL;
  size_t plane = (size_t)h * (size_t)w;
  if (plane > SIZE_MAX / sizeof(float) / (size_t)c / (size_t)b)
    return -EINVAL;
  for (int k = 0; k < b; k++) {
    const float *src = mask + (size_t)(k % (int)mn) * (size_t)mh * (size_t)mw;
    float *dst = out + (size_t)k * (size_t)c * plane;
    for (int y = 0; y < h; y++) {
      int y0, y1;
      float wy0, wy1;
      lin_index(mh, h, y, &y0, &y1, &wy0, &wy1);
      for (int x = 0; x < w; x++) {
        int x0, x1;
        float wx0, wx1;
        lin_index(mw, w, x, &x0, &x1, &wx0, &wx1);
        const float *r0 = src + (size_t)y0 * (size_t)mw, *r1 = src + (size_t)y1 * (size_t)mw;
        float t0 = r0[x0] * wx0 + r0[x1] * wx1;
        float t1 = r1[x0] * wx0 + r1[x1] * wx1;
        dst[(size_t)y * (size_t)w + (size_t)x] = t0 * wy0 + t1 * wy1;
      }
    }
    for (int ch = 1; ch < c; ch++)
      memcpy(dst + (size_t)ch * plane, dst, plane * sizeof(float));
  }
  return 0;
}

int cd_ksampler_sample(const char *name, const cd_model_sampling *ms, cd_denoiser_fn model,
                       void *model_user, const float *sigmas, size_t nsig, const float *noise,
                       const float *latent, const float *mask, float *out, size_t n,
                       const cd_sampler_opts *opts)
{
  cd_sampler_opts defaults;
  if (!ms || !model || !out || n == 0 || (nsig && (!sigmas || !noise)) || cd_sampler_find(name) < 0)
    return -EINVAL;
  if (!opts) {
    cd_sampler_opts_init(&defaults);
    opts = &defaults;
  }
  if (nsig == 0) {
    if (latent) {
      if (out != latent)
        memmove(out, latent, n * sizeof *out);
    } else {
      memset(out, 0, n * sizeof *out);
    }
    return 0;
  }
  if (n > SIZE_MAX / sizeof(float) / 2)
    return -EINVAL;
  int rc;
  inpaint ip = {model, model_user, mask, latent, noise, NULL};
  float *scratch = NULL; /* xin, plus the seed+1 noise for ddim; freed at out */
  if (mask) {
    int random = cd_sampler_inpaint_random_noise(name);
    if (random && !opts->has_seed)
      return -EINVAL;
    scratch = malloc((random ? 2 : 1) * n * sizeof(float));
    if (!scratch)
      return -ENOMEM;
    ip.xin = scratch;
    if (random) {
      float *rn = scratch + n;
      cd_torch_gen g;
      cd_torch_gen_seed(&g, opts->seed + 1);
      cd_torch_randn(&g, rn, n);
      ip.noise = rn;
    } else if (noise == out) {
      /* the sampler overwrites out; keep the unscaled noise for the blend */
      float *keep = realloc(scratch, 2 * n * sizeof(float));
      if (!keep) {
        rc = -ENOMEM;
        goto out;
      }
      scratch = keep;
      ip.xin = scratch;
      memcpy(scratch + n, noise, n * sizeof(float));
      ip.noise = scratch + n;
    }
  }
  if (mask && latent == out) {
    rc = -EINVAL; /* the blend needs the latent for the whole run */
    goto out;
  }
  cd_sampler_opts with_ms;
  if (!opts->model_sampling) {
    with_ms = *opts;
    with_ms.model_sampling = ms;
    opts = &with_ms;
  }
  int maxd = cd_ms_is_max_denoise(ms, sigmas[0]);
  cd_ms_noise_scaling(sigmas[0], noise, latent, maxd, out, n);
  if (mask)
    rc = cd_sample(name, inpaint_denoise, &ip, out, n, sigmas, nsig, opts);
  else
    rc = cd_sample(name, model, model_user, out, n, sigmas, nsig, opts);
out:
  free(scratch);
  return rc;
}
