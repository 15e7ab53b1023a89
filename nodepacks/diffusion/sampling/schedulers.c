/*
 * schedulers.c - ComfyUI's sigma schedules (see schedulers.h).  Float32
 * steps mirror the torch tensor expressions; Python float scalars are
 * rounded to float where torch rounds them.
 */
#include "schedulers.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static const char *const names[CD_SCHED_COUNT] = {
    "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform",
    "beta", "normal", "linear_quadratic", "kl_optimal"};

const char *cd_scheduler_name(int i)
{
  return i >= 0 && i < CD_SCHED_COUNT ? names[i] : NULL;
}

int cd_scheduler_from_name(const char *name)
{
  for (int i = 0; name && i < CD_SCHED_COUNT; i++)
    if (!strcmp(names[i], name))
      return i;
  return -1;
}

size_t cd_scheduler_max_len(int steps)
{
  size_t a = steps > 0 ? (size_t)steps + 2 : 2;
  return a > CD_MS_MAX_TIMESTEPS + 2 ? a : CD_MS_MAX_TIMESTEPS + 2;
}

/* torch.linspace(a, b, n) element i, float32 (the scalar kernel's rule). */
static float linspace32(float a, float b, int n, int i)
{
  if (n == 1)
    return a;
  float step = (b - a) / (float)(n - 1);
  if (i < n / 2)
    return a + step * (float)i;
  return b - step * (float)(n - 1 - i);
}

void cd_sigmas_karras(int n, double sigma_min, double sigma_max, double rho, float *out)
{
  double mn = pow(sigma_min, 1.0 / rho), mx = pow(sigma_max, 1.0 / rho);
  float fd = (float)(mn - mx), fmx = (float)mx, fr = (float)rho;
  for (int k = 0; k < n; k++) {
    float ramp = linspace32(0.0f, 1.0f, n, k);
    out[k] = powf(fmx + ramp * fd, fr);
  }
  out[n] = 0.0f;
}

void cd_sigmas_exponential(int n, double sigma_min, double sigma_max, float *out)
{
  float a = (float)log(sigma_max), b = (float)log(sigma_min);
  for (int k = 0; k < n; k++)
    out[k] = expf(linspace32(a, b, n, k));
  out[n] = 0.0f;
}

static void kl_optimal(int n, double sigma_min, double sigma_max, float *out)
{
  float amin = (float)atan(sigma_min), amax = (float)atan(sigma_max);
  for (int k = 0; k < n; k++) {
    float a = (float)k / (float)(n - 1);
    out[k] = tanf(a * amin + (1.0f - a) * amax);
  }
  out[n] = 0.0f;
}

static size_t simple(const cd_model_sampling *ms, int steps, float *out)
{
  double ss = (double)ms->n / (double)steps;
  for (int x = 0; x < steps; x++)
    out[x] = ms->sigmas[ms->n - 1 - (int)((double)x * ss)];
  out[steps] = 0.0f;
  return (size_t)steps + 1;
}

static size_t ddim_uniform(const cd_model_sampling *ms, int steps, float *out)
{
  size_t k = 0;
  if (fabs((double)ms->sigmas[1]) <= 1e-5)
    steps += 1;
  else
    out[k++] = 0.0f;
  int ss = ms->n / steps;
  if (ss < 1)
    ss = 1;
  for (int x = 1; x < ms->n; x += ss)
    out[k++] = ms->sigmas[x];
  for (size_t i = 0; i < k / 2; i++) {
    float t = out[i];
    out[i] = out[k - 1 - i];
    out[k - 1 - i] = t;
  }
  return k;
}

static size_t normal(const cd_model_sampling *ms, int steps, int sgm, float *out)
{
  float start = (float)cd_ms_timestep(ms, cd_ms_sigma_max(ms));
  float end = (float)cd_ms_timestep(ms, cd_ms_sigma_min(ms));
  int append_zero = 1, n;
  size_t k = 0;
  if (sgm) {
    n = steps + 1;
    for (int i = 0; i < steps; i++)
      out[k++] = cd_ms_sigma(ms, linspace32(start, end, n, i));
  } else {
    if (fabs((double)cd_ms_sigma(ms, end)) <= 1e-5) {
      steps += 1;
      append_zero = 0;
    }
    for (int i = 0; i < steps; i++)
      out[k++] = cd_ms_sigma(ms, linspace32(start, end, steps, i));
  }
  if (append_zero)
    out[k++] = 0.0f;
  return k;
}

/* ---- regularised incomplete beta and its inverse ---- */

/* Continued fraction for I_x(a, b) (modified Lentz). */
static double beta_cf(double a, double b, double x)
{
  const double tiny = 1e-300;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  if (fabs(d) < tiny)
    d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 1000; m++) {
    double m2 = 2.0 * m;
    double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 + num * d;
    if (fabs(d) < tiny)
      d = tiny;
    c = 1.0 + num / c;
    if (fabs(c) < tiny)
      c = tiny;
    d = 1.0 / d;
    h *= d * c;
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 + num * d;
    if (fabs(d) < tiny)
      d = tiny;
    c = 1.0 + num / c;
    if (fabs(c) < tiny)
      c = tiny;
    d = 1.0 / d;
    double del = d * c;
    h *= del;
    if (fabs(del - 1.0) < 1e-16)
      break;
  }
  return h;
}

static double beta_inc(double a, double b, double x)
{
  if (x <= 0.0)
    return 0.0;
  if (x >= 1.0)
    return 1.0;
  int sg;
  double lbeta = lgamma_r(a, &sg) + lgamma_r(b, &sg) - lgamma_r(a + b, &sg);
  double front = exp(a * log(x) + b * log1p(-x) - lbeta);
  if (x < (a + 1.0) / (a + b + 2.0))
    return front * beta_cf(a, b, x) / a;
  return 1.0 - front * beta_cf(b, a, 1.0 - x) / b;
}

double cd_beta_ppf(double p, double a, double b)
{
  if (!(p >= 0.0 && p <= 1.0) || !(a > 0.0) || !(b > 0.0))
    return NAN;
  if (p == 0.0)
    return 0.0;
  if (p == 1.0)
    return 1.0;
  if (a == b && p == 0.5)
    return 0.5; /* the symmetric median, exactly (bisection would land one ulp off) */
  double lo = 0.0, hi = 1.0;
  for (int i = 0; i < 200; i++) {
    double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi)
      break;
    if (beta_inc(a, b, mid) < p)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

static size_t beta_sched(const cd_model_sampling *ms, int steps, double alpha, double beta, float *out)
{
  double total = (double)(ms->n - 1), step = 1.0 / (double)steps, last = -1.0;
  size_t k = 0;
  for (int i = 0; i < steps; i++) {
    double u = 1.0 - ((double)i * step);
    double t = nearbyint(cd_beta_ppf(u, alpha, beta) * total);
    if (t != last) {
      int ti = (int)t;
      if (ti < 0)
        ti = 0;
      if (ti > ms->n - 1)
        ti = ms->n - 1;
      out[k++] = ms->sigmas[ti];
    }
    last = t;
  }
  out[k++] = 0.0f;
  return k;
}

int cd_sigmas_beta(const cd_model_sampling *ms, int steps, double alpha, double beta, float *out)
{
  if (steps < 1 || steps > CD_SCHED_MAX_STEPS || !(alpha > 0) || !(beta > 0))
    return -EINVAL;
  return (int)beta_sched(ms, steps, alpha, beta, out);
}

/* torch.pow(x, p) for a float tensor: torch special-cases some exponents */
static float tpow(float x, float p)
{
  if (p == 1.0f)
    return x;
  if (p == 2.0f)
    return x * x;
  if (p == 0.5f)
    return sqrtf(x);
  return powf(x, p);
}

void cd_sigmas_polyexponential(int n, double sigma_min, double sigma_max, double rho, float *out)
{
  float span = (float)(log(sigma_max) - log(sigma_min)), lmin = (float)log(sigma_min);
  for (int k = 0; k < n; k++) {
    float ramp = tpow(linspace32(1.0f, 0.0f, n, k), (float)rho);
    out[k] = expf(ramp * span + lmin);
  }
  out[n] = 0.0f;
}

void cd_sigmas_vp(int n, double beta_d, double beta_min, double eps_s, float *out)
{
  float bd = (float)beta_d, bm = (float)beta_min;
  for (int k = 0; k < n; k++) {
    float t = linspace32(1.0f, (float)eps_s, n, k);
    out[k] = sqrtf(expm1f((bd * (t * t)) / 2.0f + bm * t));
  }
  out[n] = 0.0f;
}

void cd_sigmas_laplace(int n, double sigma_min, double sigma_max, double mu, double beta, float *out)
{
  float lo = (float)sigma_min, hi = (float)sigma_max;
  for (int k = 0; k < n; k++) {
    float x = linspace32(0.0f, 1.0f, n, k);
    float d = 0.5f - x;
    float sg = d > 0 ? 1.0f : (d < 0 ? -1.0f : 0.0f);
    float l = logf((1.0f - 2.0f * fabsf(d)) + 1e-5f);
    float lmb = (float)mu - ((float)beta * sg) * l;
    float v = expf(lmb);
    out[k] = v < lo ? lo : (v > hi ? hi : v);
  }
}

int cd_sigmas_sdturbo(const cd_model_sampling *ms, int steps, double denoise, float *out)
{
  if (steps < 1 || steps > 10 || denoise != denoise)
    return -EINVAL;
  int start = 10 - (int)(10.0 * denoise);
  int k = 0;
  for (int i = start; i < start + steps && i < 10; i++)
    if (i >= 0)
      out[k++] = cd_ms_sigma(ms, (float)(999 - 100 * i));
  out[k++] = 0.0f;
  return k;
}

static size_t linear_quadratic(const cd_model_sampling *ms, int steps, float *out)
{
  float smax = cd_ms_sigma_max(ms);
  if (steps == 1) {
    out[0] = 1.0f * smax;
    out[1] = 0.0f * smax;
    return 2;
  }
  const double thr = 0.025;
  int L = steps / 2, Q = steps - L;
  double diff = L - thr * steps;
  double qc = diff / (L * (double)Q * Q);
  double lc = thr / L - 2 * diff / ((double)Q * Q);
  double c = qc * ((double)L * L);
  size_t k = 0;
  for (int i = 0; i < L; i++)
    out[k++] = (float)(1.0 - i * thr / L) * smax;
  for (int i = L; i < steps; i++)
    out[k++] = (float)(1.0 - (qc * ((double)i * i) + lc * i + c)) * smax;
  out[k++] = (float)(1.0 - 1.0) * smax;
  return k;
}

int cd_scheduler_sigmas(const cd_model_sampling *ms, cd_scheduler sched, int steps, float *out,
                        size_t cap, size_t *n_out)
{
  if ((int)sched < 0 || sched >= CD_SCHED_COUNT || steps < 1 || steps > CD_SCHED_MAX_STEPS)
    return -EINVAL;
  if (cap < cd_scheduler_max_len(steps))
    return -ENOSPC;
  double smin = cd_ms_sigma_min(ms), smax = cd_ms_sigma_max(ms);
  size_t n = 0;
  switch (sched) {
  case CD_SCHED_SIMPLE:
    n = simple(ms, steps, out);
    break;
  case CD_SCHED_SGM_UNIFORM:
    n = normal(ms, steps, 1, out);
    break;
  case CD_SCHED_KARRAS:
    cd_sigmas_karras(steps, smin, smax, 7.0, out);
    n = (size_t)steps + 1;
    break;
  case CD_SCHED_EXPONENTIAL:
    cd_sigmas_exponential(steps, smin, smax, out);
    n = (size_t)steps + 1;
    break;
  case CD_SCHED_DDIM_UNIFORM:
    n = ddim_uniform(ms, steps, out);
    break;
  case CD_SCHED_BETA:
    n = beta_sched(ms, steps, 0.6, 0.6, out);
    break;
  case CD_SCHED_NORMAL:
    n = normal(ms, steps, 0, out);
    break;
  case CD_SCHED_LINEAR_QUADRATIC:
    n = linear_quadratic(ms, steps, out);
    break;
  case CD_SCHED_KL_OPTIMAL:
    kl_optimal(steps, smin, smax, out);
    n = (size_t)steps + 1;
    break;
  default:
    return -EINVAL;
  }
  *n_out = n;
  return 0;
}

static int discards_penultimate(const char *s)
{
  return s && (!strcmp(s, "dpm_2") || !strcmp(s, "dpm_2_ancestral") || !strcmp(s, "uni_pc") ||
               !strcmp(s, "uni_pc_bh2"));
}

static int calc(const cd_model_sampling *ms, cd_scheduler sched, const char *sampler, int steps,
                float *out, size_t cap, size_t *n)
{
  int disc = discards_penultimate(sampler);
  int rc = cd_scheduler_sigmas(ms, sched, steps + disc, out, cap, n);
  if (rc < 0)
    return rc;
  if (disc && *n >= 2) {
    out[*n - 2] = out[*n - 1];
    *n -= 1;
  }
  return 0;
}

int cd_ksampler_sigmas(const cd_model_sampling *ms, cd_scheduler sched, const char *sampler_name,
                       int steps, double denoise, int start_step, int last_step,
                       int force_full_denoise, float *out, size_t cap, size_t *n_out)
{
  size_t n = 0;
  int rc;
  *n_out = 0;
  if (steps < 1 || steps > CD_SCHED_MAX_STEPS || denoise != denoise)
    return -EINVAL;
  if (denoise > 0.9999) {
    rc = calc(ms, sched, sampler_name, steps, out, cap, &n);
    if (rc < 0)
      return rc;
  } else if (denoise <= 0.0) {
    n = 0;
  } else {
    double ns = (double)steps / denoise;
    if (ns > CD_SCHED_MAX_STEPS)
      return -EINVAL;
    rc = calc(ms, sched, sampler_name, (int)ns, out, cap, &n);
    if (rc < 0)
      return rc;
    if (n > (size_t)steps + 1) {
      size_t drop = n - ((size_t)steps + 1);
      memmove(out, out + drop, ((size_t)steps + 1) * sizeof(float));
      n = (size_t)steps + 1;
    }
  }
  if (last_step >= 0 && (size_t)last_step + 1 < n) {
    n = (size_t)last_step + 1;
    if (force_full_denoise)
      out[n - 1] = 0.0f;
  }
  if (start_step >= 0) {
    if ((size_t)start_step + 1 < n) {
      memmove(out, out + start_step, (n - (size_t)start_step) * sizeof(float));
      n -= (size_t)start_step;
    } else {
      *n_out = 0;
      return 1;
    }
  }
  *n_out = n;
  return 0;
}
