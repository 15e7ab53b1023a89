/*
 * bench_sampling.c - prints timings of the sampling maths (not a test: no
 * timed assertions).  Run: build-<you>/tests/sampling/sampling_bench
 *   randn: torch-compatible randn for 1x4x64x64 and 1x4x128x128 latents;
 *   brownian: Brownian-tree noise per step of a 20-step karras schedule;
 *   sampler: euler and dpmpp_2m_sde overhead per step with a trivial denoiser.
 */
#include "brownian.h"
#include "samplers.h"
#include "schedulers.h"
#include "torch_rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int trivial(void *user, const float *x, float s, float *out, float *uncond, size_t n)
{
  (void)user;
  (void)uncond;
  float a = 1.0f / (1.0f + s * s);
  for (size_t i = 0; i < n; i++)
    out[i] = x[i] * a;
  return 0;
}

int main(void)
{
  static const size_t sizes[2] = {16384, 65536};
  cd_model_sampling ms;
  cd_model_sampling_sd(&ms, CD_PRED_EPS);
  float sig[CD_MS_MAX_TIMESTEPS + 2];
  size_t ns = 0;
  if (cd_scheduler_sigmas(&ms, CD_SCHED_KARRAS, 20, sig, sizeof sig / sizeof sig[0], &ns) < 0)
    return 1;
  for (int k = 0; k < 2; k++) {
    size_t n = sizes[k];
    float *buf = malloc(n * sizeof(float));
    if (!buf)
      return 1;
    cd_torch_gen g;
    cd_torch_gen_seed(&g, 1);
    double t0 = now();
    for (int r = 0; r < 50; r++)
      cd_torch_randn(&g, buf, n);
    double t1 = now();
    printf("randn n=%zu: %.3f ms\n", n, (t1 - t0) * 1e3 / 50);
    t0 = now();
    cd_brownian *b = cd_brownian_new(n, sig[ns - 2], sig[0], 42);
    for (size_t i = 0; b && i + 1 < ns; i++)
      cd_brownian_noise(b, sig[i], sig[i + 1], buf);
    t1 = now();
    cd_brownian_free(b);
    printf("brownian n=%zu: %.2f ms per step (karras 20)\n", n, (t1 - t0) * 1e3 / (double)(ns - 1));
    const char *names[2] = {"euler", "dpmpp_2m_sde"};
    for (int s = 0; s < 2; s++) {
      cd_sampler_opts o;
      cd_sampler_opts_init(&o);
      o.has_seed = 1;
      o.seed = 7;
      cd_torch_gen_seed(&g, 2);
      cd_torch_randn(&g, buf, n);
      t0 = now();
      int rc = cd_sample(names[s], trivial, NULL, buf, n, sig, ns, &o);
      t1 = now();
      printf("%s n=%zu: %.2f ms per step including noise (rc %d)\n", names[s], n,
             (t1 - t0) * 1e3 / (double)(ns - 1), rc);
    }
    free(buf);
  }
  return 0;
}
