/*
 * samplers.c - the k-diffusion samplers (see samplers.h).
 *
 * Scalars that ComfyUI keeps in 0-d float32 tensors are floats here, and
 * each expression is evaluated in the order torch evaluates it (Python
 * floats are rounded to float when they meet a tensor).  Tensor
 * expressions are elementwise loops over n.
 */
#include "samplers.h"

#include "brownian.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum noise_kind { NOISE_NONE, NOISE_DEFAULT, NOISE_BROWNIAN };

#define NBUF 12

typedef struct ctx {
  cd_denoiser_fn model;
  void *mu;
  float *x;
  size_t n;
  const float *s; /* sigmas */
  int N;          /* steps = nsig - 1 */
  const cd_sampler_opts *o;
  double eta;     /* resolved */
  float s_noise;
  cd_noise_fn noise;
  void *nu;
  cd_default_noise_state dn;
  cd_brownian *bt;
  float *uncond;  /* set for cfg_pp samplers */
  float *b[NBUF]; /* scratch, n floats each */
  float *block;   /* owns the scratch */
} ctx;

/* ---------------------------------------------------------------- helpers */

static int den(ctx *c, const float *x, float sigma, float *out)
{
  return c->model(c->mu, x, sigma, out, c->uncond, c->n);
}

static int progress(ctx *c, int i, const float *x, const float *d)
{
  if (c->o->progress && c->o->progress(c->o->progress_user, i, c->N, x, d, c->n))
    return CD_SAMPLE_INTERRUPTED;
  return 0;
}

static int noise(ctx *c, float a, float b, float *out)
{
  if (!c->noise)
    return -EINVAL;
  return c->noise(c->nu, a, b, out, c->n);
}

static int brownian_noise(void *user, float a, float b, float *out, size_t n)
{
  (void)n;
  return cd_brownian_noise((cd_brownian *)user, a, b, out);
}

/* get_ancestral_step */
static void ancestral(float from, float to, double eta, float *down, float *up)
{
  if (eta == 0.0) {
    *down = to;
    *up = 0.0f;
    return;
  }
  float v = sqrtf(((to * to) * ((from * from) - (to * to))) / (from * from));
  float u = (float)eta * v;
  *up = u < to ? u : to;
  *down = sqrtf(to * to - (*up) * (*up));
}

/* Churn (s_churn > 0): gamma and the randn_like from torch's global generator. */
static double churn_gamma(ctx *c, float sigma)
{
  const cd_sampler_opts *o = c->o;
  if (!(o->s_churn > 0))
    return 0.0;
  if (!(o->s_tmin <= sigma && sigma <= o->s_tmax))
    return 0.0;
  double g = o->s_churn / (double)c->N;
  double cap = sqrt(2.0) - 1.0;
  return g < cap ? g : cap;
}

/* The churn step: raises x from noise level si to the returned sigma_hat =
 * si * (gamma + 1) with randn_like from torch's global generator (eps is
 * scratch of c->n floats); si itself, x untouched, when gamma is 0. */
static float churn(ctx *c, float si, float *x, float *eps)
{
  double gamma = churn_gamma(c, si);
  float sh = si * (float)(gamma + 1.0);
  if (gamma > 0) {
    cd_torch_randn(c->o->global_gen, eps, c->n);
    float k = sqrtf(sh * sh - si * si);
    for (size_t j = 0; j < c->n; j++)
      x[j] = x[j] + (eps[j] * c->s_noise) * k;
  }
  return sh;
}

/* ---------------------------------------------------------------- euler family */

static int s_euler(ctx *c)
{
  float *x = c->x, *d = c->b[0], *eps = c->b[1];
  size_t n = c->n;
  int rc;
  for (int i = 0; i < c->N; i++) {
    float sh = churn(c, c->s[i], x, eps);
    if ((rc = den(c, x, sh, d)) < 0 || (rc = progress(c, i, x, d)) < 0)
      return rc;
    float dt = c->s[i + 1] - sh;
    for (size_t j = 0; j < n; j++)
      x[j] = x[j] + ((x[j] - d[j]) / sh) * dt;
  }
  return 0;
}

static int s_euler_ancestral(ctx *c)
{
  float *x = c->x, *d = c->b[0], *z = c->b[1];
  size_t n = c->n;
  int rc;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], down, up;
    if ((rc = den(c, x, si, d)) < 0)
      return rc;
    ancestral(si, c->s[i + 1], c->eta, &down, &up);
    if ((rc = progress(c, i, x, d)) < 0)
      return rc;
    if (down == 0.0f) {
      memcpy(x, d, n * sizeof *x);
      continue;
    }
    float dt = down - si;
    if ((rc = noise(c, si, c->s[i + 1], z)) < 0)
      return rc;
    for (size_t j = 0; j < n; j++)
      x[j] = (x[j] + ((x[j] - d[j]) / si) * dt) + (z[j] * c->s_noise) * up;
  }
  return 0;
}

/* euler_ancestral_cfg_pp (eta from opts) and euler_cfg_pp (eta = 0, s_noise = 0) */
static int euler_anc_cfgpp(ctx *c, double eta, float s_noise)
{
  float *x = c->x, *d = c->b[0], *z = c->b[1], *u = c->uncond;
  size_t n = c->n;
  int rc;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sn = c->s[i + 1];
    if ((rc = den(c, x, si, d)) < 0 || (rc = progress(c, i, x, d)) < 0)
      return rc;
    if (sn == 0.0f) {
      memcpy(x, d, n * sizeof *x);
      continue;
    }
    float as = si * expf(-logf(si));
    float at = sn * expf(-logf(sn));
    float down, up;
    ancestral(si / as, sn / at, eta, &down, &up);
    down = at * down;
    for (size_t j = 0; j < n; j++) {
      float dd = (x[j] - as * u[j]) / si;
      x[j] = at * d[j] + down * dd;
    }
    if (eta > 0 && s_noise > 0) {
      if ((rc = noise(c, si, sn, z)) < 0)
        return rc;
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + ((at * z[j]) * s_noise) * up;
    }
  }
  return 0;
}

static int s_euler_cfg_pp(ctx *c)
{
  return euler_anc_cfgpp(c, 0.0, 0.0f);
}

static int s_euler_ancestral_cfg_pp(ctx *c)
{
  return euler_anc_cfgpp(c, c->eta, c->s_noise);
}

static int s_heun(ctx *c)
{
  float *x = c->x, *d = c->b[0], *x2 = c->b[1], *d2 = c->b[2], *eps = c->b[3];
  size_t n = c->n;
  int rc;
  for (int i = 0; i < c->N; i++) {
    float sn = c->s[i + 1], sh = churn(c, c->s[i], x, eps);
    if ((rc = den(c, x, sh, d)) < 0 || (rc = progress(c, i, x, d)) < 0)
      return rc;
    float dt = sn - sh;
    for (size_t j = 0; j < n; j++)
      d[j] = (x[j] - d[j]) / sh;
    if (sn == 0.0f) {
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + d[j] * dt;
      continue;
    }
    for (size_t j = 0; j < n; j++)
      x2[j] = x[j] + d[j] * dt;
    if ((rc = den(c, x2, sn, d2)) < 0)
      return rc;
    for (size_t j = 0; j < n; j++) {
      float dd2 = (x2[j] - d2[j]) / sn;
      x[j] = x[j] + ((d[j] + dd2) / 2.0f) * dt;
    }
  }
  return 0;
}

static int s_heunpp2(ctx *c)
{
  float *x = c->x, *d = c->b[0], *x2 = c->b[1], *d2 = c->b[2], *x3 = c->b[3], *d3 = c->b[4],
        *eps = c->b[5];
  size_t n = c->n;
  float s_end = c->s[c->N];
  int rc;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sn = c->s[i + 1];
    double gamma = churn_gamma(c, si);
    if (c->o->global_gen) /* ComfyUI draws randn_like every step */
      cd_torch_randn(c->o->global_gen, eps, n);
    float sh = si * (float)(gamma + 1.0);
    if (gamma > 0) {
      float k = sqrtf(sh * sh - si * si);
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + (eps[j] * c->s_noise) * k;
    }
    if ((rc = den(c, x, sh, d)) < 0 || (rc = progress(c, i, x, d)) < 0)
      return rc;
    for (size_t j = 0; j < n; j++)
      d[j] = (x[j] - d[j]) / sh;
    float dt = sn - sh;
    if (sn == s_end) {
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + d[j] * dt;
      continue;
    }
    for (size_t j = 0; j < n; j++)
      x2[j] = x[j] + d[j] * dt;
    if ((rc = den(c, x2, sn, d2)) < 0)
      return rc;
    for (size_t j = 0; j < n; j++)
      d2[j] = (x2[j] - d2[j]) / sn;
    float sn2 = c->s[i + 2];
    if (sn2 == s_end) {
      float w = 2.0f * c->s[0];
      float w2 = sn / w;
      float w1 = 1.0f - w2;
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + (d[j] * w1 + d2[j] * w2) * dt;
      continue;
    }
    float dt2 = sn2 - sn;
    for (size_t j = 0; j < n; j++)
      x3[j] = x2[j] + d2[j] * dt2;
    if ((rc = den(c, x3, sn2, d3)) < 0)
      return rc;
    float w = 3.0f * c->s[0];
    float w2 = sn / w, w3 = sn2 / w;
    float w1 = (1.0f - w2) - w3;
    for (size_t j = 0; j < n; j++) {
      float dd3 = (x3[j] - d3[j]) / sn2;
      x[j] = x[j] + ((w1 * d[j] + w2 * d2[j]) + w3 * dd3) * dt;
    }
  }
  return 0;
}

/* torch.lerp(a, b, 0.5) then exp: exp(b - (b - a) * 0.5) */
static float log_mid(float a, float b)
{
  float la = logf(a), lb = logf(b);
  return expf(lb - (lb - la) * 0.5f);
}

/* DPM-Solver-2's step of x from noise level s to t, d holding the model's
 * denoised x at s (turned into the derivative in place): an Euler step when
 * t is 0, else the midpoint one at the log-space mean of s and t (x2, d2
 * scratch).  0 or the model's error. */
static int dpm2_step(ctx *c, float *x, float *d, float *x2, float *d2, float s, float t)
{
  size_t n = c->n;
  int rc;
  for (size_t j = 0; j < n; j++)
    d[j] = (x[j] - d[j]) / s;
  if (t == 0.0f) {
    float dt = t - s;
    for (size_t j = 0; j < n; j++)
      x[j] = x[j] + d[j] * dt;
    return 0;
  }
  float smid = log_mid(s, t);
  float dt1 = smid - s, dt2 = t - s;
  for (size_t j = 0; j < n; j++)
    x2[j] = x[j] + d[j] * dt1;
  if ((rc = den(c, x2, smid, d2)) < 0)
    return rc;
  for (size_t j = 0; j < n; j++)
    x[j] = x[j] + ((x2[j] - d2[j]) / smid) * dt2;
  return 0;
}

static int s_dpm_2(ctx *c)
{
  float *x = c->x, *d = c->b[0], *x2 = c->b[1], *d2 = c->b[2], *eps = c->b[3];
  int rc;
  for (int i = 0; i < c->N; i++) {
    float sn = c->s[i + 1], sh = churn(c, c->s[i], x, eps);
    if ((rc = den(c, x, sh, d)) < 0 || (rc = progress(c, i, x, d)) < 0 ||
        (rc = dpm2_step(c, x, d, x2, d2, sh, sn)) < 0)
      return rc;
  }
  return 0;
}

static int s_dpm_2_ancestral(ctx *c)
{
  float *x = c->x, *d = c->b[0], *x2 = c->b[1], *d2 = c->b[2], *z = c->b[3];
  size_t n = c->n;
  int rc;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], down, up;
    if ((rc = den(c, x, si, d)) < 0)
      return rc;
    ancestral(si, c->s[i + 1], c->eta, &down, &up);
    if ((rc = progress(c, i, x, d)) < 0 || (rc = dpm2_step(c, x, d, x2, d2, si, down)) < 0)
      return rc;
    if (down == 0.0f)
      continue;
    if ((rc = noise(c, si, c->s[i + 1], z)) < 0)
      return rc;
    for (size_t j = 0; j < n; j++)
      x[j] = x[j] + (z[j] * c->s_noise) * up;
  }
  return 0;
}

/* ---------------------------------------------------------------- lms */

/* Integral over [a, b] of prod_{k != j, k < order} (tau - t[k]) / (t[j] - t[k]),
 * with t[k] = sigma_{i-k}; exact (the polynomial has degree <= 3). */
static double lms_coeff(int order, const double *t, int j, double a, double b)
{
  double p[5] = {1, 0, 0, 0, 0}; /* p[m] * tau^m */
  int deg = 0;
  for (int k = 0; k < order; k++) {
    if (k == j)
      continue;
    double den = t[j] - t[k];
    double q[5] = {0, 0, 0, 0, 0};
    for (int m = 0; m <= deg; m++) {
      q[m + 1] += p[m] / den;
      q[m] -= p[m] * t[k] / den;
    }
    deg++;
    memcpy(p, q, sizeof p);
  }
  double r = 0.0, pa = a, pb = b;
  for (int m = 0; m <= deg; m++) {
    r += p[m] * (pb - pa) / (m + 1);
    pa *= a;
    pb *= b;
  }
  return r;
}

static int s_lms(ctx *c)
{
  enum { ORDER = 4 };
  float *x = c->x, *d = c->b[0];
  float *ds[ORDER] = {c->b[1], c->b[2], c->b[3], c->b[4]}; /* ds[0] newest */
  size_t n = c->n;
  int nds = 0, rc;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i];
    if ((rc = den(c, x, si, d)) < 0)
      return rc;
    float *slot = ds[ORDER - 1];
    memmove(ds + 1, ds, (ORDER - 1) * sizeof ds[0]);
    ds[0] = slot;
    for (size_t j = 0; j < n; j++)
      ds[0][j] = (x[j] - d[j]) / si;
    if (nds < ORDER)
      nds++;
    if ((rc = progress(c, i, x, d)) < 0)
      return rc;
    if (c->s[i + 1] == 0.0f) {
      memcpy(x, d, n * sizeof *x);
      continue;
    }
    int order = i + 1 < ORDER ? i + 1 : ORDER;
    double t[ORDER];
    for (int k = 0; k < order; k++)
      t[k] = c->s[i - k];
    float co[ORDER];
    for (int k = 0; k < order; k++)
      co[k] = (float)lms_coeff(order, t, k, c->s[i], c->s[i + 1]);
    for (size_t j = 0; j < n; j++) {
      float acc = co[0] * ds[0][j];
      for (int k = 1; k < order; k++)
        acc = acc + co[k] * ds[k][j];
      x[j] = x[j] + acc;
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- DPM-Solver (fast, adaptive) */

typedef struct dpms {
  ctx *c;
  float *eps, *eps_r1, *eps_r2, *u, *tmp;
  int have_eps, have_r1, have_r2; /* ComfyUI's per-step eps_cache */
} dpms;

static float dsig(float t)
{
  return expf(-t);
}

/* eps = (x - D(x, sigma(t))) / sigma(t) */
static int dpms_eps(dpms *m, const float *x, float t, float *out)
{
  float sg = dsig(t);
  int rc = den(m->c, x, sg, m->tmp);
  if (rc < 0)
    return rc;
  for (size_t j = 0; j < m->c->n; j++)
    out[j] = (x[j] - m->tmp[j]) / sg;
  return 0;
}

static int dpms_step1(dpms *m, const float *x, float t, float tn, float *out)
{
  size_t n = m->c->n;
  int rc;
  float h = tn - t;
  if (!m->have_eps && (rc = dpms_eps(m, x, t, m->eps)) < 0)
    return rc;
  m->have_eps = 1;
  float k = dsig(tn) * expm1f(h);
  for (size_t j = 0; j < n; j++)
    out[j] = x[j] - k * m->eps[j];
  return 0;
}

static int dpms_step2(dpms *m, const float *x, float t, float tn, double r1, float *out)
{
  size_t n = m->c->n;
  int rc;
  float h = tn - t;
  if (!m->have_eps && (rc = dpms_eps(m, x, t, m->eps)) < 0)
    return rc;
  m->have_eps = 1;
  float s1 = t + (float)r1 * h;
  float k1 = dsig(s1) * expm1f((float)r1 * h);
  if (!m->have_r1) {
    for (size_t j = 0; j < n; j++)
      m->u[j] = x[j] - k1 * m->eps[j];
    if ((rc = dpms_eps(m, m->u, s1, m->eps_r1)) < 0)
      return rc;
    m->have_r1 = 1;
  }
  float a = dsig(tn) * expm1f(h);
  float b = (dsig(tn) / (float)(2.0 * r1)) * expm1f(h);
  for (size_t j = 0; j < n; j++)
    out[j] = (x[j] - a * m->eps[j]) - b * (m->eps_r1[j] - m->eps[j]);
  return 0;
}

static int dpms_step3(dpms *m, const float *x, float t, float tn, float *out)
{
  const double r1 = 1.0 / 3, r2 = 2.0 / 3;
  size_t n = m->c->n;
  int rc;
  float h = tn - t;
  if (!m->have_eps && (rc = dpms_eps(m, x, t, m->eps)) < 0)
    return rc;
  m->have_eps = 1;
  float s1 = t + (float)r1 * h, s2 = t + (float)r2 * h;
  if (!m->have_r1) {
    float k1 = dsig(s1) * expm1f((float)r1 * h);
    for (size_t j = 0; j < n; j++)
      m->u[j] = x[j] - k1 * m->eps[j];
    if ((rc = dpms_eps(m, m->u, s1, m->eps_r1)) < 0)
      return rc;
    m->have_r1 = 1;
  }
  if (!m->have_r2) {
    float r2h = (float)r2 * h;
    float k2 = dsig(s2) * expm1f(r2h);
    float k3 = (dsig(s2) * (float)(r2 / r1)) * (expm1f(r2h) / r2h - 1.0f);
    for (size_t j = 0; j < n; j++)
      m->u[j] = (x[j] - k2 * m->eps[j]) - k3 * (m->eps_r1[j] - m->eps[j]);
    if ((rc = dpms_eps(m, m->u, s2, m->eps_r2)) < 0)
      return rc;
    m->have_r2 = 1;
  }
  float a = dsig(tn) * expm1f(h);
  float b = (dsig(tn) / (float)r2) * (expm1f(h) / h - 1.0f);
  for (size_t j = 0; j < n; j++)
    out[j] = (x[j] - a * m->eps[j]) - b * (m->eps_r2[j] - m->eps[j]);
  return 0;
}

/* ComfyUI's wrapper: sigma_min = last sigma, or the one before a final 0 */
static float dpm_sigma_min(ctx *c)
{
  float smin = c->s[c->N];
  if (smin == 0.0f)
    smin = c->s[c->N - 1];
  return smin;
}

static int s_dpm_fast(ctx *c)
{
  float *x = c->x, *d = c->b[0];
  size_t n = c->n;
  dpms m = {c, c->b[1], c->b[2], c->b[3], c->b[4], c->b[5], 0, 0, 0};
  float smin = dpm_sigma_min(c), smax = c->s[0];
  if (!(smin > 0) || !(smax > 0))
    return -EINVAL;
  int nfe = c->N, rc;
  float t0 = -logf(smax), t1 = -logf(smin);
  int mm = nfe / 3 + 1;
  for (int i = 0; i < mm; i++) {
    int order = nfe % 3 == 0 ? (i < mm - 2 ? 3 : (i == mm - 2 ? 2 : 1)) : (i < mm - 1 ? 3 : nfe % 3);
    /* torch.linspace(t_start, t_end, m + 1), scalar rule */
    float step = (t1 - t0) / (float)mm;
    int half = (mm + 1) / 2;
    float t = i < half ? t0 + step * (float)i : t1 - step * (float)(mm - i);
    float tn = i + 1 < half ? t0 + step * (float)(i + 1) : t1 - step * (float)(mm - i - 1);
    m.have_eps = m.have_r1 = m.have_r2 = 0;
    if ((rc = dpms_eps(&m, x, t, m.eps)) < 0)
      return rc;
    m.have_eps = 1;
    float sg = dsig(t);
    for (size_t j = 0; j < n; j++)
      d[j] = x[j] - sg * m.eps[j];
    if ((rc = progress(c, i, x, d)) < 0)
      return rc;
    if (order == 1)
      rc = dpms_step1(&m, x, t, tn, x);
    else if (order == 2)
      rc = dpms_step2(&m, x, t, tn, 0.5, x);
    else
      rc = dpms_step3(&m, x, t, tn, x);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int s_dpm_adaptive(ctx *c)
{
  const float rtol = 0.05f, atol = 0.0078f;
  const double accept_safety = 0.81, pid_eps = 1e-8;
  const double b1 = 1.0 / 3.0, b2 = -0.0 / 3.0, b3 = 0.0 / 3.0; /* pcoeff 0, icoeff 1, dcoeff 0, order 3 */
  float *x = c->x, *d = c->b[0], *xlow = c->b[6], *xhigh = c->b[7], *xprev = c->b[8];
  size_t n = c->n;
  dpms m = {c, c->b[1], c->b[2], c->b[3], c->b[4], c->b[5], 0, 0, 0};
  float smin = dpm_sigma_min(c), smax = c->s[0];
  if (!(smin > 0) || !(smax > 0))
    return -EINVAL;
  float ts = -logf(smax), te = -logf(smin);
  int forward = te > ts, rc;
  double h = forward ? 0.05 : -0.05;
  double errs[3] = {0, 0, 0};
  int have_errs = 0;
  memcpy(xprev, x, n * sizeof *x);
  float s = ts;
  for (int steps = 0; forward ? s < te - 1e-5f : s > te + 1e-5f; steps++) {
    if (steps >= 100000)
      return -ERANGE; /* the step controller is not converging */
    float sh = s + (float)h;
    float t = forward ? (te < sh ? te : sh) : (te > sh ? te : sh);
    m.have_eps = m.have_r1 = m.have_r2 = 0;
    if ((rc = dpms_eps(&m, x, s, m.eps)) < 0)
      return rc;
    m.have_eps = 1;
    float sg = dsig(s);
    for (size_t j = 0; j < n; j++)
      d[j] = x[j] - sg * m.eps[j];
    if ((rc = dpms_step2(&m, x, s, t, 1.0 / 3, xlow)) < 0 || (rc = dpms_step3(&m, x, s, t, xhigh)) < 0)
      return rc;
    double ss = 0.0;
    for (size_t j = 0; j < n; j++) {
      float mx = fabsf(xlow[j]) > fabsf(xprev[j]) ? fabsf(xlow[j]) : fabsf(xprev[j]);
      float delta = rtol * mx;
      if (!(delta >= atol))
        delta = delta != delta ? delta : atol;
      float q = (xlow[j] - xhigh[j]) / delta;
      ss += (double)q * q;
    }
    float err = (float)sqrt(ss) / (float)sqrt((double)n);
    double inv = 1.0 / ((double)err + pid_eps);
    if (!have_errs) {
      errs[0] = errs[1] = errs[2] = inv;
      have_errs = 1;
    }
    errs[0] = inv;
    double factor = pow(errs[0], b1) * pow(errs[1], b2) * pow(errs[2], b3);
    factor = 1.0 + atan(factor - 1.0);
    int accept = factor >= accept_safety;
    if (accept) {
      errs[2] = errs[1];
      errs[1] = errs[0];
    }
    h *= factor;
    if (accept) {
      memcpy(xprev, xlow, n * sizeof *x);
      memcpy(x, xhigh, n * sizeof *x);
      s = t;
    }
    if ((rc = progress(c, steps, x, d)) < 0)
      return rc;
  }
  return 0;
}

/* ---------------------------------------------------------------- DPM-Solver++ */

static int s_dpmpp_2s_ancestral(ctx *c)
{
  float *x = c->x, *d = c->b[0], *x2 = c->b[1], *d2 = c->b[2], *z = c->b[3];
  size_t n = c->n;
  int rc;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], down, up;
    if ((rc = den(c, x, si, d)) < 0)
      return rc;
    ancestral(si, c->s[i + 1], c->eta, &down, &up);
    if ((rc = progress(c, i, x, d)) < 0)
      return rc;
    if (down == 0.0f) {
      float dt = down - si;
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + ((x[j] - d[j]) / si) * dt;
    } else {
      float t = -logf(si), tn = -logf(down);
      float h = tn - t;
      float s = t + 0.5f * h;
      float a = expf(-s) / expf(-t), b = expm1f(-h * 0.5f);
      for (size_t j = 0; j < n; j++)
        x2[j] = a * x[j] - b * d[j];
      if ((rc = den(c, x2, expf(-s), d2)) < 0)
        return rc;
      float a2 = expf(-tn) / expf(-t), b2 = expm1f(-h);
      for (size_t j = 0; j < n; j++)
        x[j] = a2 * x[j] - b2 * d2[j];
    }
    if (c->s[i + 1] > 0.0f) {
      if ((rc = noise(c, si, c->s[i + 1], z)) < 0)
        return rc;
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + (z[j] * c->s_noise) * up;
    }
  }
  return 0;
}

static int s_dpmpp_2s_ancestral_cfg_pp(ctx *c)
{
  float *x = c->x, *d = c->b[0], *x2 = c->b[1], *d2 = c->b[2], *z = c->b[3], *u = c->uncond;
  size_t n = c->n;
  int rc;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], down, up;
    if ((rc = den(c, x, si, d)) < 0)
      return rc;
    ancestral(si, c->s[i + 1], c->eta, &down, &up);
    if ((rc = progress(c, i, x, d)) < 0)
      return rc;
    if (down == 0.0f) {
      for (size_t j = 0; j < n; j++)
        x[j] = d[j] + ((x[j] - u[j]) / si) * down;
    } else {
      float t = -logf(si), tn = -logf(down);
      float h = tn - t;
      float s = t + 0.5f * h;
      float a = expf(-s) / expf(-t), b = expm1f(-h * 0.5f);
      for (size_t j = 0; j < n; j++)
        x2[j] = a * (x[j] + (d[j] - u[j])) - b * d[j];
      /* as in ComfyUI, the second model call replaces the uncond used below */
      if ((rc = den(c, x2, expf(-s), d2)) < 0)
        return rc;
      float a2 = expf(-tn) / expf(-t), b2 = expm1f(-h);
      for (size_t j = 0; j < n; j++)
        x[j] = a2 * (x[j] + (d[j] - u[j])) - b2 * d2[j];
    }
    if (c->s[i + 1] > 0.0f) {
      if ((rc = noise(c, si, c->s[i + 1], z)) < 0)
        return rc;
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + (z[j] * c->s_noise) * up;
    }
  }
  return 0;
}

static int s_dpmpp_sde(ctx *c)
{
  float *x = c->x, *d = c->b[0], *x2 = c->b[1], *d2 = c->b[2], *z = c->b[3];
  size_t n = c->n;
  const float r = 0.5f;
  int rc;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sn = c->s[i + 1];
    if ((rc = den(c, x, si, d)) < 0 || (rc = progress(c, i, x, d)) < 0)
      return rc;
    if (sn == 0.0f) {
      memcpy(x, d, n * sizeof *x);
      continue;
    }
    float ls = -logf(si), lt = -logf(sn);
    float h = lt - ls;
    float ls1 = ls + r * h;
    float fac = (float)(1.0 / (2.0 * 0.5));
    float ss1 = expf(-ls1);
    float as = si * expf(ls), as1 = ss1 * expf(ls1), at = sn * expf(lt);
    float sd, su;
    ancestral(expf(-ls), expf(-ls1), c->eta, &sd, &su);
    float h_ = -logf(sd) - ls;
    float k1 = (as1 / as) * expf(-h_), k2 = as1 * expm1f(-h_);
    for (size_t j = 0; j < n; j++)
      x2[j] = k1 * x[j] - k2 * d[j];
    if (c->eta > 0 && c->s_noise > 0) {
      if ((rc = noise(c, si, ss1, z)) < 0)
        return rc;
      for (size_t j = 0; j < n; j++)
        x2[j] = x2[j] + ((as1 * z[j]) * c->s_noise) * su;
    }
    if ((rc = den(c, x2, ss1, d2)) < 0)
      return rc;
    ancestral(expf(-ls), expf(-lt), c->eta, &sd, &su);
    h_ = -logf(sd) - ls;
    k1 = (at / as) * expf(-h_);
    k2 = at * expm1f(-h_);
    float f0 = 1.0f - fac;
    for (size_t j = 0; j < n; j++) {
      float dd = f0 * d[j] + fac * d2[j];
      x[j] = k1 * x[j] - k2 * dd;
    }
    if (c->eta > 0 && c->s_noise > 0) {
      if ((rc = noise(c, si, sn, z)) < 0)
        return rc;
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + ((at * z[j]) * c->s_noise) * su;
    }
  }
  return 0;
}

static int s_dpmpp_2m(ctx *c)
{
  float *x = c->x, *d = c->b[0], *old = c->b[1];
  size_t n = c->n;
  int have_old = 0, rc;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sn = c->s[i + 1];
    if ((rc = den(c, x, si, d)) < 0 || (rc = progress(c, i, x, d)) < 0)
      return rc;
    float t = -logf(si), tn = -logf(sn);
    float h = tn - t;
    float a = expf(-tn) / expf(-t), b = expm1f(-h);
    if (!have_old || sn == 0.0f) {
      for (size_t j = 0; j < n; j++)
        x[j] = a * x[j] - b * d[j];
    } else {
      float hl = t - (-logf(c->s[i - 1]));
      float rr = hl / h;
      float q = 1.0f / (2.0f * rr);
      float p = 1.0f + q;
      for (size_t j = 0; j < n; j++) {
        float dd = p * d[j] - q * old[j];
        x[j] = a * x[j] - b * dd;
      }
    }
    memcpy(old, d, n * sizeof *d);
    have_old = 1;
  }
  return 0;
}

static int s_dpmpp_2m_cfg_pp(ctx *c)
{
  float *x = c->x, *d = c->b[0], *oldu = c->b[1], *u = c->uncond;
  size_t n = c->n;
  int have_old = 0, rc;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sn = c->s[i + 1];
    if ((rc = den(c, x, si, d)) < 0 || (rc = progress(c, i, x, d)) < 0)
      return rc;
    float t = -logf(si), tn = -logf(sn);
    float h = tn - t;
    float e = expf(-h), ne = -e;
    if (!have_old || sn == 0.0f) {
      for (size_t j = 0; j < n; j++) {
        float mix = ne * u[j];
        x[j] = (d[j] + mix) + e * x[j];
      }
    } else {
      float hl = t - (-logf(c->s[i - 1]));
      float rr = hl / h;
      float k = expm1f(-h) * (1.0f / (2.0f * rr));
      for (size_t j = 0; j < n; j++) {
        float mix = ne * u[j] - k * (d[j] - oldu[j]);
        x[j] = (d[j] + mix) + e * x[j];
      }
    }
    memcpy(oldu, u, n * sizeof *u);
    have_old = 1;
  }
  return 0;
}

static int dpmpp_2m_sde(ctx *c, int heun)
{
  float *x = c->x, *d = c->b[0], *old = c->b[1], *z = c->b[2];
  size_t n = c->n;
  float eta = (float)c->eta;
  int have_old = 0, have_h = 0, rc;
  float h = 0.0f, h_last = 0.0f;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sn = c->s[i + 1];
    if ((rc = den(c, x, si, d)) < 0 || (rc = progress(c, i, x, d)) < 0)
      return rc;
    if (sn == 0.0f) {
      memcpy(x, d, n * sizeof *x);
    } else {
      float ls = -logf(si), lt = -logf(sn);
      h = lt - ls;
      have_h = 1;
      float h_eta = h * (float)(c->eta + 1.0);
      float at = sn * expf(lt);
      float k1 = (sn / si) * expf(-h * eta);
      float nem = -expm1f(-h_eta);
      float k2 = at * nem;
      for (size_t j = 0; j < n; j++)
        x[j] = k1 * x[j] + k2 * d[j];
      if (have_old) {
        float r = h_last / h;
        float k3;
        if (heun)
          k3 = (at * ((nem / (-h_eta)) + 1.0f)) * (1.0f / r);
        else
          k3 = ((0.5f * at) * nem) * (1.0f / r);
        for (size_t j = 0; j < n; j++)
          x[j] = x[j] + k3 * (d[j] - old[j]);
      }
      if (c->eta > 0 && c->s_noise > 0) {
        if ((rc = noise(c, si, sn, z)) < 0)
          return rc;
        float sq = sqrtf(-expm1f((-2.0f * h) * eta));
        for (size_t j = 0; j < n; j++)
          x[j] = x[j] + ((z[j] * sn) * sq) * c->s_noise;
      }
    }
    memcpy(old, d, n * sizeof *d);
    have_old = 1;
    if (have_h)
      h_last = h;
  }
  return 0;
}

static int s_dpmpp_2m_sde(ctx *c)
{
  return dpmpp_2m_sde(c, 0);
}

static int s_dpmpp_2m_sde_heun(ctx *c)
{
  return dpmpp_2m_sde(c, 1);
}

static int s_dpmpp_3m_sde(ctx *c)
{
  float *x = c->x, *d = c->b[0], *d1 = c->b[1], *d2b = c->b[2], *z = c->b[3];
  size_t n = c->n;
  float eta = (float)c->eta;
  int rc;
  /* h, h_1, h_2 with "is not None" flags, shifted every step as in ComfyUI */
  float h = 0.0f, h1 = 0.0f, h2 = 0.0f;
  int h_set = 0, h1_set = 0, h2_set = 0;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sn = c->s[i + 1];
    if ((rc = den(c, x, si, d)) < 0 || (rc = progress(c, i, x, d)) < 0)
      return rc;
    if (sn == 0.0f) {
      memcpy(x, d, n * sizeof *x);
    } else {
      float ls = -logf(si), lt = -logf(sn);
      h = lt - ls;
      h_set = 1;
      float h_eta = h * (float)(c->eta + 1.0);
      float at = sn * expf(lt);
      float k1 = (sn / si) * expf(-h * eta);
      float k2 = at * -expm1f(-h_eta);
      for (size_t j = 0; j < n; j++)
        x[j] = k1 * x[j] + k2 * d[j];
      if (h2_set) {
        float r0 = h1 / h, r1 = h2 / h;
        float phi2 = expm1f(-h_eta) / h_eta + 1.0f;
        float phi3 = phi2 / h_eta - 0.5f;
        float c2 = at * phi2, c3 = at * phi3, rs = r0 + r1;
        for (size_t j = 0; j < n; j++) {
          float a0 = (d[j] - d1[j]) / r0;
          float a1 = (d1[j] - d2b[j]) / r1;
          float dd1 = a0 + ((a0 - a1) * r0) / rs;
          float dd2 = (a0 - a1) / rs;
          x[j] = (x[j] + c2 * dd1) - c3 * dd2;
        }
      } else if (h1_set) {
        float r = h1 / h;
        float phi2 = expm1f(-h_eta) / h_eta + 1.0f;
        float c2 = at * phi2;
        for (size_t j = 0; j < n; j++)
          x[j] = x[j] + c2 * ((d[j] - d1[j]) / r);
      }
      if (c->eta > 0 && c->s_noise > 0) {
        if ((rc = noise(c, si, sn, z)) < 0)
          return rc;
        float sq = sqrtf(-expm1f((-2.0f * h) * eta));
        for (size_t j = 0; j < n; j++)
          x[j] = x[j] + ((z[j] * sn) * sq) * c->s_noise;
      }
    }
    /* denoised_1, denoised_2 = denoised, denoised_1; h_1, h_2 = h, h_1 */
    memcpy(d2b, d1, n * sizeof *d);
    memcpy(d1, d, n * sizeof *d);
    h2 = h1;
    h2_set = h1_set;
    h1 = h;
    h1_set = h_set;
  }
  return 0;
}

/* ---------------------------------------------------------------- ddpm, lcm */

static int s_ddpm(ctx *c)
{
  float *x = c->x, *d = c->b[0], *z = c->b[1];
  size_t n = c->n;
  int rc;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sp = c->s[i + 1];
    if ((rc = den(c, x, si, d)) < 0 || (rc = progress(c, i, x, d)) < 0)
      return rc;
    float sc = sqrtf(1.0f + si * si);
    float ac = 1.0f / ((si * si) + 1.0f);
    float acp = 1.0f / ((sp * sp) + 1.0f);
    float alpha = ac / acp;
    float k = sqrtf(1.0f / alpha);
    float oma = 1.0f - alpha;
    float q = sqrtf(1.0f - ac);
    for (size_t j = 0; j < n; j++) {
      float xv = x[j] / sc;
      float eps = (x[j] - d[j]) / si;
      x[j] = k * (xv - (oma * eps) / q);
    }
    if (sp > 0.0f) {
      if ((rc = noise(c, si, sp, z)) < 0)
        return rc;
      float v = sqrtf((oma * (1.0f - acp)) / (1.0f - ac));
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + v * z[j];
    }
    if (sp != 0.0f) {
      float m = sqrtf(1.0f + sp * sp);
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] * m;
    }
  }
  return 0;
}

static int s_lcm(ctx *c)
{
  float *x = c->x, *d = c->b[0], *z = c->b[1];
  size_t n = c->n;
  int rc;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sn = c->s[i + 1];
    if ((rc = den(c, x, si, d)) < 0 || (rc = progress(c, i, x, d)) < 0)
      return rc;
    memcpy(x, d, n * sizeof *x);
    if (sn > 0.0f) {
      if ((rc = noise(c, si, sn, z)) < 0)
        return rc;
      for (size_t j = 0; j < n; j++)
        x[j] = z[j] * sn + x[j];
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- ipndm, deis */

/* buffer of previous derivatives, newest last (ComfyUI's buffer_model) */
typedef struct hist {
  float *buf[3];
  int len, max;
} hist;

static void hist_push(hist *h, const float *d, size_t n)
{
  if (h->len == h->max) {
    float *first = h->buf[0];
    for (int k = 0; k + 1 < h->max; k++)
      h->buf[k] = h->buf[k + 1];
    h->buf[h->max - 1] = first;
  } else {
    h->len++;
  }
  memcpy(h->buf[h->len - 1], d, n * sizeof *d);
}

/* buffer_model[-k] */
static const float *hist_back(const hist *h, int k)
{
  return h->buf[h->len - k];
}

static int s_ipndm(ctx *c)
{
  float *x = c->x, *d = c->b[0], *dc = c->b[1], *x0 = c->b[2];
  hist hb = {{c->b[3], c->b[4], c->b[5]}, 0, 3};
  size_t n = c->n;
  int rc;
  memcpy(x0, x, n * sizeof *x);
  for (int i = 0; i < c->N; i++) {
    float tc = c->s[i], tn = c->s[i + 1];
    if ((rc = den(c, x, tc, d)) < 0 || (rc = progress(c, i, x0, d)) < 0)
      return rc;
    for (size_t j = 0; j < n; j++)
      dc[j] = (x[j] - d[j]) / tc;
    int order = i + 1 < 4 ? i + 1 : 4;
    float dt = tn - tc;
    if (tn == 0.0f) {
      memcpy(x, d, n * sizeof *x);
    } else if (order == 1) {
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + dt * dc[j];
    } else if (order == 2) {
      const float *b1 = hist_back(&hb, 1);
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + (dt * (3.0f * dc[j] - b1[j])) / 2.0f;
    } else if (order == 3) {
      const float *b1 = hist_back(&hb, 1), *b2 = hist_back(&hb, 2);
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + (dt * ((23.0f * dc[j] - 16.0f * b1[j]) + 5.0f * b2[j])) / 12.0f;
    } else {
      const float *b1 = hist_back(&hb, 1), *b2 = hist_back(&hb, 2), *b3 = hist_back(&hb, 3);
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] +
               (dt * (((55.0f * dc[j] - 59.0f * b1[j]) + 37.0f * b2[j]) - 9.0f * b3[j])) / 24.0f;
    }
    hist_push(&hb, dc, n);
  }
  return 0;
}

static int s_ipndm_v(ctx *c)
{
  float *x = c->x, *d = c->b[0], *dc = c->b[1], *x0 = c->b[2];
  hist hb = {{c->b[3], c->b[4], c->b[5]}, 0, 3};
  const float *t = c->s;
  size_t n = c->n;
  int rc;
  memcpy(x0, x, n * sizeof *x);
  for (int i = 0; i < c->N; i++) {
    float tc = t[i], tn = t[i + 1];
    if ((rc = den(c, x, tc, d)) < 0 || (rc = progress(c, i, x0, d)) < 0)
      return rc;
    for (size_t j = 0; j < n; j++)
      dc[j] = (x[j] - d[j]) / tc;
    int order = i + 1 < 4 ? i + 1 : 4;
    float dt = tn - tc;
    if (tn == 0.0f) {
      memcpy(x, d, n * sizeof *x);
    } else if (order == 1) {
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + dt * dc[j];
    } else if (order == 2) {
      float hn = tn - tc, hn1 = tc - t[i - 1];
      float c1 = (2.0f + (hn / hn1)) / 2.0f;
      float c2 = (-(hn / hn1)) / 2.0f;
      const float *b1 = hist_back(&hb, 1);
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + dt * (c1 * dc[j] + c2 * b1[j]);
    } else if (order == 3) {
      float hn = tn - tc, hn1 = tc - t[i - 1], hn2 = t[i - 1] - t[i - 2];
      float temp = (1.0f - ((hn / (3.0f * (hn + hn1))) * (hn * (hn + hn1))) /
                               (hn1 * (hn1 + hn2))) / 2.0f;
      float c1 = (2.0f + (hn / hn1)) / 2.0f + temp;
      float c2 = (-(hn / hn1)) / 2.0f - (1.0f + hn1 / hn2) * temp;
      float c3 = (temp * hn1) / hn2;
      const float *b1 = hist_back(&hb, 1), *b2 = hist_back(&hb, 2);
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + dt * ((c1 * dc[j] + c2 * b1[j]) + c3 * b2[j]);
    } else {
      float hn = tn - tc, hn1 = tc - t[i - 1], hn2 = t[i - 1] - t[i - 2], hn3 = t[i - 2] - t[i - 3];
      float temp1 = (1.0f - ((hn / (3.0f * (hn + hn1))) * (hn * (hn + hn1))) /
                                (hn1 * (hn1 + hn2))) / 2.0f;
      float P = (1.0f - hn / (3.0f * (hn + hn1))) / 2.0f;
      float Q = ((1.0f - hn / (2.0f * (hn + hn1))) * hn) / (6.0f * ((hn + hn1) + hn2));
      float R = (hn * (hn + hn1)) * ((hn + hn1) + hn2);
      float S = (hn1 * (hn1 + hn2)) * ((hn1 + hn2) + hn3);
      float temp2 = ((P + Q) * R) / S;
      float W = (hn1 * (hn1 + hn2)) / (hn2 * (hn2 + hn3));
      float c1 = ((2.0f + (hn / hn1)) / 2.0f + temp1) + temp2;
      float c2 = ((-(hn / hn1)) / 2.0f - (1.0f + hn1 / hn2) * temp1) -
                 ((1.0f + (hn1 / hn2)) + W) * temp2;
      float c3 = (temp1 * hn1) / hn2 + ((hn1 / hn2) + W * (1.0f + hn2 / hn3)) * temp2;
      float c4 = (((-temp2) * W) * hn1) / hn2;
      const float *b1 = hist_back(&hb, 1), *b2 = hist_back(&hb, 2), *b3 = hist_back(&hb, 3);
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + dt * (((c1 * dc[j] + c2 * b1[j]) + c3 * b2[j]) + c4 * b3[j]);
    }
    hist_push(&hb, dc, n);
  }
  return 0;
}

/* DEIS 'tab' coefficients for step i (order k): the Riemann sum ComfyUI
 * takes over 10000 points of linspace(t_i, t_{i+1}) times dtau. */
static void deis_coeffs(const float *sig, int i, int k, double *out)
{
  const double smin = 0.002, smax = 80.0, eps_s = 1e-3;
  double bd = 2.0 * (log(smin * smin + 1.0) / eps_s - log(smax * smax + 1.0)) / (eps_s - 1.0);
  double bmin = log(smax * smax + 1.0) - 0.5 * bd;
  double b0 = bmin, b1 = bd + bmin;
  double tt[4];
  for (int m = 0; m < k; m++) {
    double s = sig[i - m];
    tt[m] = (sqrt(bmin * bmin + 2.0 * bd * log(s * s + 1.0)) - bmin) / bd;
  }
  double sn = sig[i + 1];
  double tn = (sqrt(bmin * bmin + 2.0 * bd * log(sn * sn + 1.0)) - bmin) / bd;
  const int N = 10000;
  double tc = tt[0], dtau = (tn - tc) / N;
  for (int j = 0; j < k; j++)
    out[j] = 0.0;
  float ftc = (float)tc, ftn = (float)tn;
  float step = (ftn - ftc) / (float)(N - 1);
  for (int q = 0; q < N; q++) {
    /* linspace in float32 (the tensor ComfyUI integrates over) */
    double tau = q < N / 2 ? (double)(ftc + step * (float)q) : (double)(ftn - step * (float)(N - 1 - q));
    double a = exp(-0.5 * tau * tau * (b1 - b0) - tau * b0);
    double integrand = 0.5 * (tau * (b1 - b0) + b0) / sqrt(a * (1.0 - a));
    for (int j = 0; j < k; j++) {
      double poly = 1.0;
      for (int m = 0; m < k; m++)
        if (m != j)
          poly *= (tau - tt[m]) / (tt[j] - tt[m]);
      out[j] += integrand * poly;
    }
  }
  for (int j = 0; j < k; j++)
    out[j] *= dtau;
}

static int s_deis(ctx *c)
{
  float *x = c->x, *d = c->b[0], *dc = c->b[1], *x0 = c->b[2];
  hist hb = {{c->b[3], c->b[4], NULL}, 0, 2};
  size_t n = c->n;
  int rc;
  memcpy(x0, x, n * sizeof *x);
  for (int i = 0; i < c->N; i++) {
    float tc = c->s[i], tn = c->s[i + 1];
    if ((rc = den(c, x, tc, d)) < 0 || (rc = progress(c, i, x0, d)) < 0)
      return rc;
    for (size_t j = 0; j < n; j++)
      dc[j] = (x[j] - d[j]) / tc;
    int order = i + 1 < 3 ? i + 1 : 3;
    if (tn <= 0.0f)
      order = 1;
    if (order == 1) {
      float dt = tn - tc;
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + dt * dc[j];
    } else {
      double co[3];
      deis_coeffs(c->s, i, order, co);
      float c0 = (float)co[0], c1 = (float)co[1], c2 = order == 3 ? (float)co[2] : 0.0f;
      const float *b1 = hist_back(&hb, 1);
      const float *b2 = order == 3 ? hist_back(&hb, 2) : NULL;
      for (size_t j = 0; j < n; j++) {
        float v = (x[j] + c0 * dc[j]) + c1 * b1[j];
        x[j] = b2 ? v + c2 * b2[j] : v;
      }
    }
    hist_push(&hb, dc, n);
  }
  return 0;
}

/* ---------------------------------------------------------------- res_multistep, gradient estimation */

static float nan0(float v)
{
  return v != v ? 0.0f : v;
}

static int res_multistep(ctx *c, double eta, int cfg_pp)
{
  float *x = c->x, *d = c->b[0], *old = c->b[1], *z = c->b[2], *u = c->uncond;
  size_t n = c->n;
  int have_old = 0, rc;
  float old_down = 0.0f;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sn = c->s[i + 1], down, up;
    if ((rc = den(c, x, si, d)) < 0)
      return rc;
    ancestral(si, sn, eta, &down, &up);
    if ((rc = progress(c, i, x, d)) < 0)
      return rc;
    if (down == 0.0f || !have_old) {
      if (cfg_pp) {
        for (size_t j = 0; j < n; j++)
          x[j] = d[j] + ((x[j] - u[j]) / si) * down;
      } else {
        float dt = down - si;
        for (size_t j = 0; j < n; j++)
          x[j] = x[j] + ((x[j] - d[j]) / si) * dt;
      }
    } else {
      float t = -logf(si), t_old = -logf(old_down), t_next = -logf(down),
            t_prev = -logf(c->s[i - 1]);
      float h = t_next - t;
      float c2 = (t_prev - t_old) / h;
      float mh = -h;
      float phi1 = expm1f(mh) / mh;
      float phi2 = (phi1 - 1.0f) / mh;
      float b1 = nan0(phi1 - phi2 / c2), b2 = nan0(phi2 / c2);
      float e = expf(-h);
      const float *cur = cfg_pp ? u : d;
      for (size_t j = 0; j < n; j++) {
        float xv = cfg_pp ? x[j] + (d[j] - u[j]) : x[j];
        x[j] = e * xv + h * (b1 * cur[j] + b2 * old[j]);
      }
    }
    if (sn > 0.0f) { /* drawn even when sigma_up is 0, as ComfyUI does */
      if ((rc = noise(c, si, sn, z)) < 0)
        return rc;
      for (size_t j = 0; j < n; j++)
        x[j] = x[j] + (z[j] * c->s_noise) * up;
    }
    memcpy(old, cfg_pp ? u : d, n * sizeof *d);
    have_old = 1;
    old_down = down;
  }
  return 0;
}

static int s_res_multistep(ctx *c)
{
  return res_multistep(c, 0.0, 0);
}

static int s_res_multistep_cfg_pp(ctx *c)
{
  return res_multistep(c, 0.0, 1);
}

static int s_res_multistep_ancestral(ctx *c)
{
  return res_multistep(c, c->eta, 0);
}

static int s_res_multistep_ancestral_cfg_pp(ctx *c)
{
  return res_multistep(c, c->eta, 1);
}

static int gradient_estimation(ctx *c, int cfg_pp)
{
  const float ge_gamma = 2.0f;
  float *x = c->x, *d = c->b[0], *dd = c->b[1], *old = c->b[2], *u = c->uncond;
  size_t n = c->n;
  int rc;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sn = c->s[i + 1];
    if ((rc = den(c, x, si, d)) < 0)
      return rc;
    const float *ref = cfg_pp ? u : d;
    for (size_t j = 0; j < n; j++)
      dd[j] = (x[j] - ref[j]) / si;
    if ((rc = progress(c, i, x, d)) < 0)
      return rc;
    float dt = sn - si;
    if (sn == 0.0f) {
      memcpy(x, d, n * sizeof *x);
    } else {
      for (size_t j = 0; j < n; j++)
        x[j] = cfg_pp ? d[j] + dd[j] * sn : x[j] + dd[j] * dt;
      if (i >= 1)
        for (size_t j = 0; j < n; j++)
          x[j] = x[j] + ((ge_gamma - 1.0f) * (dd[j] - old[j])) * dt;
    }
    memcpy(old, dd, n * sizeof *dd);
  }
  return 0;
}

static int s_gradient_estimation(ctx *c)
{
  return gradient_estimation(c, 0);
}

static int s_gradient_estimation_cfg_pp(ctx *c)
{
  return gradient_estimation(c, 1);
}

/* ---------------------------------------------------------------- er_sde, seeds */

static float er_noise_scaler(float v)
{
  return v * (expf(powf(v, 0.3f)) + 10.0f);
}

static int s_er_sde(ctx *c)
{
  const int max_stage = 3;
  const float npts = 200.0f;
  float *x = c->x, *d = c->b[0], *old = c->b[1], *dd = c->b[2], *old_dd = c->b[3], *z = c->b[4];
  size_t n = c->n;
  int rc;
  float *erl = malloc(((size_t)c->N + 1) * sizeof *erl); /* er_lambdas; freed at out */
  if (!erl)
    return -ENOMEM;
  for (int i = 0; i <= c->N; i++)
    erl[i] = expf(-(-logf(c->s[i])));
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sn = c->s[i + 1];
    if ((rc = den(c, x, si, d)) < 0 || (rc = progress(c, i, x, d)) < 0)
      goto out;
    int stage = i + 1 < max_stage ? i + 1 : max_stage;
    if (sn == 0.0f) {
      memcpy(x, d, n * sizeof *x);
    } else {
      float ers = erl[i], ert = erl[i + 1];
      float as = si / ers, at = sn / ert;
      float ra = at / as;
      float nst = er_noise_scaler(ert);
      float r = nst / er_noise_scaler(ers);
      float k1 = ra * r, k2 = at * (1.0f - r);
      for (size_t j = 0; j < n; j++)
        x[j] = k1 * x[j] + k2 * d[j];
      if (stage >= 2) {
        float dt = ert - ers;
        float lss = -dt / npts;
        double s1 = 0.0, su = 0.0;
        for (int k = 0; k < (int)npts; k++) {
          float pos = ert + (float)k * lss;
          float sp = er_noise_scaler(pos);
          s1 += (double)(1.0f / sp);
          su += (double)((pos - ers) / sp);
        }
        float s = (float)s1 * lss;
        float dl = ers - erl[i - 1];
        float k3 = at * (dt + s * nst);
        for (size_t j = 0; j < n; j++) {
          dd[j] = (d[j] - old[j]) / dl;
          x[j] = x[j] + k3 * dd[j];
        }
        if (stage >= 3) {
          float s_u = (float)su * lss;
          float dl2 = (ers - erl[i - 2]) / 2.0f;
          float k4 = at * ((dt * dt) / 2.0f + s_u * nst);
          for (size_t j = 0; j < n; j++)
            x[j] = x[j] + k4 * ((dd[j] - old_dd[j]) / dl2);
        }
        memcpy(old_dd, dd, n * sizeof *dd);
      }
      if (c->s_noise > 0) {
        if ((rc = noise(c, si, sn, z)) < 0)
          goto out;
        float q = sqrtf(ert * ert - (ers * ers) * (r * r));
        q = nan0(q);
        for (size_t j = 0; j < n; j++)
          x[j] = x[j] + ((at * z[j]) * c->s_noise) * q;
      }
    }
    memcpy(old, d, n * sizeof *d);
  }
  rc = 0;
out:
  free(erl);
  return rc;
}

/* torch.lerp(a, b, w) for scalars */
static float lerpf_t(float a, float b, float w)
{
  return fabsf(w) < 0.5f ? a + w * (b - a) : b - (b - a) * (1.0f - w);
}

static float phi1f(float h)
{
  return expm1f(h);
}

static float phi2f(float h)
{
  return (expm1f(h) - h) / h;
}

static int s_seeds_2(ctx *c)
{
  const double r = 0.5;
  float *x = c->x, *d = c->b[0], *x2 = c->b[1], *d2 = c->b[2], *z = c->b[3], *sde = c->b[4];
  size_t n = c->n;
  float eta = (float)c->eta;
  int inject = c->eta > 0 && c->s_noise > 0, rc;
  float fac = (float)(1.0 / (2.0 * r));
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sn = c->s[i + 1];
    if ((rc = den(c, x, si, d)) < 0 || (rc = progress(c, i, x, d)) < 0)
      return rc;
    if (sn == 0.0f) {
      memcpy(x, d, n * sizeof *x);
      continue;
    }
    float ls = -logf(si), lt = -logf(sn);
    float h = lt - ls;
    float h_eta = h * (float)(c->eta + 1.0);
    float ls1 = lerpf_t(ls, lt, (float)r);
    float ss1 = expf(-ls1);
    float as1 = ss1 * expf(ls1), at = sn * expf(lt);
    float k1 = (ss1 / si) * expf(((float)(-r) * h) * eta);
    float k2 = as1 * phi1f((float)(-r) * h_eta);
    for (size_t j = 0; j < n; j++)
      x2[j] = k1 * x[j] - k2 * d[j];
    if (inject) {
      if ((rc = noise(c, si, ss1, z)) < 0)
        return rc;
      float q = sqrtf(-expm1f(((float)(-2.0 * r) * h) * eta));
      for (size_t j = 0; j < n; j++) {
        sde[j] = q * z[j];
        x2[j] = x2[j] + (sde[j] * ss1) * c->s_noise;
      }
    }
    if ((rc = den(c, x2, ss1, d2)) < 0)
      return rc;
    float k3 = (sn / si) * expf(-h * eta);
    float k4 = at * phi1f(-h_eta);
    for (size_t j = 0; j < n; j++) {
      float ddv = fabsf(fac) < 0.5f ? d[j] + fac * (d2[j] - d[j]) : d2[j] - (d2[j] - d[j]) * (1.0f - fac);
      x[j] = k3 * x[j] - k4 * ddv;
    }
    if (inject) {
      float sf = ((float)(r - 1.0) * h) * eta;
      float e = expf(sf), q = sqrtf(-expm1f(sf * 2.0f));
      if ((rc = noise(c, ss1, sn, z)) < 0)
        return rc;
      for (size_t j = 0; j < n; j++) {
        float v = sde[j] * e + q * z[j];
        x[j] = x[j] + (v * sn) * c->s_noise;
      }
    }
  }
  return 0;
}

static int s_seeds_3(ctx *c)
{
  const double r1 = 1.0 / 3, r2 = 2.0 / 3;
  float *x = c->x, *d = c->b[0], *x2 = c->b[1], *d2 = c->b[2], *z = c->b[3], *sde = c->b[4],
        *d3 = c->b[5];
  size_t n = c->n;
  float eta = (float)c->eta;
  int inject = c->eta > 0 && c->s_noise > 0, rc;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sn = c->s[i + 1];
    if ((rc = den(c, x, si, d)) < 0 || (rc = progress(c, i, x, d)) < 0)
      return rc;
    if (sn == 0.0f) {
      memcpy(x, d, n * sizeof *x);
      continue;
    }
    float ls = -logf(si), lt = -logf(sn);
    float h = lt - ls;
    float h_eta = h * (float)(c->eta + 1.0);
    float ls1 = lerpf_t(ls, lt, (float)r1), ls2 = lerpf_t(ls, lt, (float)r2);
    float ss1 = expf(-ls1), ss2 = expf(-ls2);
    float as1 = ss1 * expf(ls1), as2 = ss2 * expf(ls2), at = sn * expf(lt);
    /* step 1 */
    float k1 = (ss1 / si) * expf(((float)(-r1) * h) * eta);
    float k2 = as1 * phi1f((float)(-r1) * h_eta);
    for (size_t j = 0; j < n; j++)
      x2[j] = k1 * x[j] - k2 * d[j];
    if (inject) {
      if ((rc = noise(c, si, ss1, z)) < 0)
        return rc;
      float q = sqrtf(-expm1f(((float)(-2.0 * r1) * h) * eta));
      for (size_t j = 0; j < n; j++) {
        sde[j] = q * z[j];
        x2[j] = x2[j] + (sde[j] * ss1) * c->s_noise;
      }
    }
    if ((rc = den(c, x2, ss1, d2)) < 0)
      return rc;
    /* step 2 (x2 becomes x_3) */
    float a32 = (float)(r2 / r1) * phi2f((float)(-r2) * h_eta);
    float a31 = phi1f((float)(-r2) * h_eta) - a32;
    float k3 = (ss2 / si) * expf(((float)(-r2) * h) * eta);
    for (size_t j = 0; j < n; j++)
      x2[j] = k3 * x[j] - as2 * (a31 * d[j] + a32 * d2[j]);
    if (inject) {
      float sf = ((float)(r1 - r2) * h) * eta;
      float e = expf(sf), q = sqrtf(-expm1f(sf * 2.0f));
      if ((rc = noise(c, ss1, ss2, z)) < 0)
        return rc;
      for (size_t j = 0; j < n; j++) {
        sde[j] = sde[j] * e + q * z[j];
        x2[j] = x2[j] + (sde[j] * ss2) * c->s_noise;
      }
    }
    if ((rc = den(c, x2, ss2, d3)) < 0)
      return rc;
    /* step 3 */
    float b3 = phi2f(-h_eta) / (float)r2;
    float b1 = phi1f(-h_eta) - b3;
    float k4 = (sn / si) * expf(-h * eta);
    for (size_t j = 0; j < n; j++)
      x[j] = k4 * x[j] - at * (b1 * d[j] + b3 * d3[j]);
    if (inject) {
      float sf = ((float)(r2 - 1.0) * h) * eta;
      float e = expf(sf), q = sqrtf(-expm1f(sf * 2.0f));
      if ((rc = noise(c, ss2, sn, z)) < 0)
        return rc;
      for (size_t j = 0; j < n; j++) {
        float v = sde[j] * e + q * z[j];
        x[j] = x[j] + (v * sn) * c->s_noise;
      }
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- UniPC */

static float up_lmc(float s)
{
  return 0.5f * logf(1.0f / ((s * s) + 1.0f));
}

static float up_alpha(float s)
{
  return expf(up_lmc(s));
}

static float up_std(float s)
{
  return sqrtf(1.0f - expf(2.0f * up_lmc(s)));
}

static float up_lambda(float s)
{
  float l = up_lmc(s);
  return l - 0.5f * logf(1.0f - expf(2.0f * l));
}

/* data prediction in VP space: x0 = (x - std*eps)/alpha with
 * eps = (x_k - D(x_k, t))/t, x_k = x*sqrt(t^2 + 1) */
static int up_model(ctx *c, const float *xv, float t, float *out, float *tmp)
{
  size_t n = c->n;
  float k = sqrtf(t * t + 1.0f);
  for (size_t j = 0; j < n; j++)
    tmp[j] = xv[j] * k;
  int rc = den(c, tmp, t, out);
  if (rc < 0)
    return rc;
  float st = up_std(t), at = up_alpha(t);
  for (size_t j = 0; j < n; j++) {
    float eps = (tmp[j] - out[j]) / t;
    out[j] = (xv[j] - st * eps) / at;
  }
  return 0;
}

/* Solves the k x k system A r = b (k <= 3) by Gaussian elimination with
 * partial pivoting in double. */
static void solve_small(int k, double A[3][3], double *b, float *r)
{
  for (int col = 0; col < k; col++) {
    int p = col;
    for (int row = col + 1; row < k; row++)
      if (fabs(A[row][col]) > fabs(A[p][col]))
        p = row;
    if (p != col) {
      for (int m = 0; m < k; m++) {
        double t = A[col][m];
        A[col][m] = A[p][m];
        A[p][m] = t;
      }
      double t = b[col];
      b[col] = b[p];
      b[p] = t;
    }
    for (int row = col + 1; row < k; row++) {
      double f = A[row][col] / A[col][col];
      for (int m = col; m < k; m++)
        A[row][m] -= f * A[col][m];
      b[row] -= f * b[col];
    }
  }
  double v[3];
  for (int row = k - 1; row >= 0; row--) {
    double s = b[row];
    for (int m = row + 1; m < k; m++)
      s -= A[row][m] * v[m];
    v[row] = s / A[row][row];
  }
  for (int m = 0; m < k; m++)
    r[m] = (float)v[m];
}

typedef struct up_state {
  float *mp[3]; /* model_prev_list, oldest first */
  float tp[3];  /* t_prev_list */
  int len;
  float *D1[2], *xt_, *mt, *tmp;
  int bh2;
} up_state;

/* multistep_uni_pc_bh_update: x <- x_t; *have_mt set when model_t (in st->mt) was evaluated */
static int up_update(ctx *c, up_state *st, float *x, float t, int order, int corrector, int *have_mt)
{
  size_t n = c->n;
  int rc;
  *have_mt = 0;
  float tp0 = st->tp[st->len - 1];
  const float *m0 = st->mp[st->len - 1];
  float l0 = up_lambda(tp0), lt = up_lambda(t);
  float sp0 = up_std(tp0), stt = up_std(t);
  float at = expf(up_lmc(t));
  float h = lt - l0;
  float rks[3];
  int nd = 0;
  for (int i = 1; i < order; i++) {
    float tpi = st->tp[st->len - 1 - i];
    const float *mi = st->mp[st->len - 1 - i];
    float rk = (up_lambda(tpi) - l0) / h;
    rks[nd] = rk;
    for (size_t j = 0; j < n; j++)
      st->D1[nd][j] = (mi[j] - m0[j]) / rk;
    nd++;
  }
  rks[nd] = 1.0f;
  float hh = -h;
  float hphi1 = expm1f(hh);
  float hphik = hphi1 / hh - 1.0f;
  double fact = 1.0;
  float Bh = st->bh2 ? expm1f(hh) : hh;
  double R[3][3], bvec[3];
  for (int i = 1; i <= order; i++) {
    for (int m = 0; m < order; m++) {
      float p = i == 1 ? 1.0f : (i == 2 ? rks[m] : rks[m] * rks[m]);
      R[i - 1][m] = p;
    }
    bvec[i - 1] = (hphik * (float)fact) / Bh;
    fact *= (i + 1);
    hphik = hphik / hh - (float)(1.0 / fact);
  }
  float rp[3] = {0, 0, 0}, rcv[3] = {0, 0, 0};
  if (nd > 0) {
    if (order == 2) {
      rp[0] = 0.5f;
    } else {
      double A[3][3], bb[3];
      for (int a = 0; a < order - 1; a++) {
        for (int m = 0; m < order - 1; m++)
          A[a][m] = R[a][m];
        bb[a] = (float)bvec[a];
      }
      solve_small(order - 1, A, bb, rp);
    }
  }
  if (corrector) {
    if (order == 1) {
      rcv[0] = 0.5f;
    } else {
      double A[3][3], bb[3];
      for (int a = 0; a < order; a++) {
        for (int m = 0; m < order; m++)
          A[a][m] = R[a][m];
        bb[a] = (float)bvec[a];
      }
      solve_small(order, A, bb, rcv);
    }
  }
  float k1 = stt / sp0, k2 = at * hphi1, kb = at * Bh;
  for (size_t j = 0; j < n; j++)
    st->xt_[j] = k1 * x[j] - k2 * m0[j];
  for (size_t j = 0; j < n; j++) {
    float pred = 0.0f;
    if (nd > 0) {
      pred = st->D1[0][j] * rp[0];
      for (int k = 1; k < nd; k++)
        pred = pred + st->D1[k][j] * rp[k];
    }
    x[j] = st->xt_[j] - kb * pred;
  }
  if (corrector) {
    if ((rc = up_model(c, x, t, st->mt, st->tmp)) < 0)
      return rc;
    *have_mt = 1;
    float rl = rcv[order - 1];
    for (size_t j = 0; j < n; j++) {
      float corr = 0.0f;
      if (nd > 0) {
        corr = st->D1[0][j] * rcv[0];
        for (int k = 1; k < nd; k++)
          corr = corr + st->D1[k][j] * rcv[k];
      }
      float d1t = st->mt[j] - m0[j];
      x[j] = st->xt_[j] - kb * (corr + rl * d1t);
    }
  }
  return 0;
}

static int unipc(ctx *c, int bh2)
{
  size_t n = c->n, nsig = (size_t)c->N + 1;
  float *ts = malloc(nsig * sizeof *ts); /* freed at out */
  if (!ts)
    return -ENOMEM;
  memcpy(ts, c->s, nsig * sizeof *ts);
  if (ts[nsig - 1] == 0.0f)
    ts[nsig - 1] = 0.001f;
  float *x = c->x;
  up_state st = {{c->b[0], c->b[1], c->b[2]}, {0, 0, 0}, 0, {c->b[3], c->b[4]}, c->b[5], c->b[6],
                 c->b[7], bh2};
  float k0 = sqrtf(1.0f + ts[0] * ts[0]);
  for (size_t j = 0; j < n; j++)
    x[j] = x[j] / k0;
  int steps = (int)nsig - 1;
  int order = (int)nsig - 2 < 3 ? (int)nsig - 2 : 3;
  int rc = 0, have_mt;
  for (int si = 0; si < steps; si++) {
    if (si == 0) {
      if ((rc = up_model(c, x, ts[0], st.mp[0], st.tmp)) < 0)
        goto out;
      st.tp[0] = ts[0];
      st.len = 1;
    } else if (si < order) {
      float t = ts[si];
      if ((rc = up_update(c, &st, x, t, si, 1, &have_mt)) < 0)
        goto out;
      if (!have_mt && (rc = up_model(c, x, t, st.mt, st.tmp)) < 0)
        goto out;
      float *slot = st.mp[st.len];
      memcpy(slot, st.mt, n * sizeof *slot);
      st.tp[st.len] = t;
      st.len++;
    } else {
      int last = si == steps - 1 ? steps : si;
      for (int step = si; step <= last; step++) {
        float t = ts[step];
        int so = steps + 1 - step < order ? steps + 1 - step : order;
        int corr = step != steps;
        if ((rc = up_update(c, &st, x, t, so, corr, &have_mt)) < 0)
          goto out;
        float *first = st.mp[0];
        for (int k = 0; k + 1 < order; k++) {
          st.tp[k] = st.tp[k + 1];
          st.mp[k] = st.mp[k + 1];
        }
        st.mp[order - 1] = first;
        st.tp[order - 1] = t;
        if (step < steps) {
          if (!have_mt && (rc = up_model(c, x, t, st.mt, st.tmp)) < 0)
            goto out;
          memcpy(st.mp[order - 1], st.mt, n * sizeof *x);
        }
      }
    }
    if ((rc = progress(c, si, x, st.mp[st.len - 1])) < 0)
      goto out;
  }
  float al = up_alpha(ts[nsig - 1]);
  for (size_t j = 0; j < n; j++)
    x[j] = x[j] / al;
out:
  free(ts);
  return rc;
}

static int s_uni_pc(ctx *c)
{
  return unipc(c, 0);
}

static int s_uni_pc_bh2(ctx *c)
{
  return unipc(c, 1);
}

/* ---------------------------------------------------------------- SA-Solver */

/* b coefficients of the stochastic Adams method over the k lambda points
 * lam[0..k-1] (ComfyUI's compute_stochastic_adams_b_coeffs, not the
 * simple order-2 variant), computed in double from the float inputs. */
static void sa_coeffs(float sigma_next, const float *lam, int k, float ls, float lt, double tau,
                      float *b)
{
  double tau_mul = 1.0 + tau * tau;
  float h = lt - ls;
  double ex = exp((double)((float)(-tau_mul) * h));
  double pt[4], e[4];
  for (int p = 0; p < k; p++)
    pt[p] = pow(lt, p) - pow(ls, p) * ex;
  for (int p = 0; p < k; p++) {
    e[p] = 0.0;
    for (int q = 0; q <= p; q++) {
      double lc = lgamma(p + 1.0) - lgamma(q + 1.0);
      if (tau > 0)
        lc -= (p - q) * log(tau_mul);
      double coef = exp(lc) * (((p - q) % 2) ? -1.0 : 1.0);
      e[p] += coef * pt[q];
    }
  }
  double A[3][3];
  double A4[4][4];
  float sol[4];
  if (k <= 3) {
    for (int j = 0; j < k; j++)
      for (int i = 0; i < k; i++)
        A[j][i] = pow(lam[i], j);
    solve_small(k, A, e, sol);
  } else {
    /* 4 x 4: Gaussian elimination with partial pivoting */
    for (int j = 0; j < 4; j++)
      for (int i = 0; i < 4; i++)
        A4[j][i] = pow(lam[i], j);
    for (int col = 0; col < 4; col++) {
      int pv = col;
      for (int row = col + 1; row < 4; row++)
        if (fabs(A4[row][col]) > fabs(A4[pv][col]))
          pv = row;
      for (int m = 0; m < 4; m++) {
        double t = A4[col][m];
        A4[col][m] = A4[pv][m];
        A4[pv][m] = t;
      }
      double t = e[col];
      e[col] = e[pv];
      e[pv] = t;
      for (int row = col + 1; row < 4; row++) {
        double f = A4[row][col] / A4[col][col];
        for (int m = col; m < 4; m++)
          A4[row][m] -= f * A4[col][m];
        e[row] -= f * e[col];
      }
    }
    double v[4];
    for (int row = 3; row >= 0; row--) {
      double acc = e[row];
      for (int m = row + 1; m < 4; m++)
        acc -= A4[row][m] * v[m];
      v[row] = acc / A4[row][row];
    }
    for (int m = 0; m < 4; m++)
      sol[m] = (float)v[m];
  }
  float at = sigma_next * expf(lt);
  for (int i = 0; i < k; i++)
    b[i] = at * sol[i];
}

static int sa_solver(ctx *c, int pece)
{
  enum { PRED_ORDER = 3, CORR_ORDER = 4, MAXO = 4 };
  const cd_model_sampling *ms = c->o->model_sampling;
  if (!ms)
    return -EINVAL;
  float *xp = c->b[0], *z = c->b[1], *nz = c->b[2], *x = c->x;
  float *pl[MAXO] = {c->b[3], c->b[4], c->b[5], c->b[6]}; /* pred_list, oldest first */
  size_t n = c->n;
  int npl = 0, rc, nsig = c->N + 1;
  double start_sigma = cd_ms_percent_to_sigma(ms, 0.2), end_sigma = cd_ms_percent_to_sigma(ms, 0.8);
  float *lam = malloc((size_t)nsig * sizeof *lam); /* freed at out */
  if (!lam)
    return -ENOMEM;
  for (int i = 0; i < nsig; i++)
    lam[i] = -logf(c->s[i]);
  memcpy(xp, x, n * sizeof *x);
  float h = 0.0f;
  double tau = 0.0;
  int have_noise = 0;
  int lower = c->s[c->N] == 0.0f;
  for (int i = 0; i < c->N; i++) {
    float si = c->s[i], sn = c->s[i + 1];
    if (npl == MAXO) {
      float *first = pl[0];
      memmove(pl, pl + 1, (MAXO - 1) * sizeof pl[0]);
      pl[MAXO - 1] = first;
      npl--;
    }
    float *dcur = pl[npl++];
    if ((rc = den(c, xp, si, dcur)) < 0 || (rc = progress(c, i, xp, dcur)) < 0)
      goto out;
    int pou = PRED_ORDER < npl ? PRED_ORDER : npl;
    int cou = (i == 0 || (sn == 0.0f && !pece)) ? 0 : (CORR_ORDER < npl ? CORR_ORDER : npl);
    if (lower) {
      if (pou > nsig - 2 - i)
        pou = nsig - 2 - i;
      if (cou > nsig - 1 - i)
        cou = nsig - 1 - i;
    }
    if (cou == 0) {
      memcpy(x, xp, n * sizeof *x);
    } else {
      float b[MAXO];
      sa_coeffs(si, lam + i - cou + 1, cou, lam[i - 1], lam[i], tau, b);
      float k = (si / c->s[i - 1]) * expf((float)(-(tau * tau)) * h);
      for (size_t j = 0; j < n; j++) {
        float acc = pl[npl - cou][j] * b[0];
        for (int q = 1; q < cou; q++)
          acc = acc + pl[npl - cou + q][j] * b[q];
        x[j] = k * x[j] + acc;
      }
      if (tau > 0 && c->s_noise > 0 && have_noise)
        for (size_t j = 0; j < n; j++)
          x[j] = x[j] + nz[j];
      if (pece && (rc = den(c, x, si, pl[npl - 1])) < 0)
        goto out;
    }
    if (sn == 0.0f) {
      memcpy(x, pl[npl - 1], n * sizeof *x);
      continue;
    }
    tau = (c->eta > 0 && start_sigma >= (double)sn && (double)sn >= end_sigma) ? c->eta : 0.0;
    float b[MAXO];
    sa_coeffs(sn, lam + i - pou + 1, pou, lam[i], lam[i + 1], tau, b);
    h = lam[i + 1] - lam[i];
    float k = (sn / si) * expf((float)(-(tau * tau)) * h);
    for (size_t j = 0; j < n; j++) {
      float acc = pl[npl - pou][j] * b[0];
      for (int q = 1; q < pou; q++)
        acc = acc + pl[npl - pou + q][j] * b[q];
      xp[j] = k * x[j] + acc;
    }
    if (tau > 0 && c->s_noise > 0) {
      if ((rc = noise(c, si, sn, z)) < 0)
        goto out;
      float q = sqrtf(-expm1f((float)(-2.0 * (tau * tau)) * h));
      for (size_t j = 0; j < n; j++) {
        nz[j] = ((z[j] * sn) * q) * c->s_noise;
        xp[j] = xp[j] + nz[j];
      }
      have_noise = 1;
    }
  }
  rc = 0;
out:
  free(lam);
  return rc;
}

static int s_sa_solver(ctx *c)
{
  return sa_solver(c, 0);
}

static int s_sa_solver_pece(ctx *c)
{
  return sa_solver(c, 1);
}

/* ---------------------------------------------------------------- table */

typedef struct sampler_def {
  const char *name;
  int (*fn)(ctx *c);
  enum noise_kind noise;
  int uncond;
  double eta; /* default eta */
} sampler_def;

/* ComfyUI's KSampler list order (all 42 names).  The "_gpu" SDE variants
 * build the Brownian tree on the latent's device: with the latent on the
 * CPU (ComfyUI --cpu) that is the same CPU tree as the plain variants, which
 * is what they reproduce here; ComfyUI on a CUDA device draws that tree's
 * noise with the CUDA generator instead, which no CPU code reproduces. */
static const sampler_def defs[] = {
    {"euler", s_euler, NOISE_NONE, 0, 0.0},
    {"euler_cfg_pp", s_euler_cfg_pp, NOISE_NONE, 1, 0.0},
    {"euler_ancestral", s_euler_ancestral, NOISE_DEFAULT, 0, 1.0},
    {"euler_ancestral_cfg_pp", s_euler_ancestral_cfg_pp, NOISE_DEFAULT, 1, 1.0},
    {"heun", s_heun, NOISE_NONE, 0, 0.0},
    {"heunpp2", s_heunpp2, NOISE_NONE, 0, 0.0},
    {"dpm_2", s_dpm_2, NOISE_NONE, 0, 0.0},
    {"dpm_2_ancestral", s_dpm_2_ancestral, NOISE_DEFAULT, 0, 1.0},
    {"lms", s_lms, NOISE_NONE, 0, 0.0},
    {"dpm_fast", s_dpm_fast, NOISE_NONE, 0, 0.0},
    {"dpm_adaptive", s_dpm_adaptive, NOISE_NONE, 0, 0.0},
    {"dpmpp_2s_ancestral", s_dpmpp_2s_ancestral, NOISE_DEFAULT, 0, 1.0},
    {"dpmpp_2s_ancestral_cfg_pp", s_dpmpp_2s_ancestral_cfg_pp, NOISE_DEFAULT, 1, 1.0},
    {"dpmpp_sde", s_dpmpp_sde, NOISE_BROWNIAN, 0, 1.0},
    {"dpmpp_sde_gpu", s_dpmpp_sde, NOISE_BROWNIAN, 0, 1.0},
    {"dpmpp_2m", s_dpmpp_2m, NOISE_NONE, 0, 0.0},
    {"dpmpp_2m_cfg_pp", s_dpmpp_2m_cfg_pp, NOISE_NONE, 1, 0.0},
    {"dpmpp_2m_sde", s_dpmpp_2m_sde, NOISE_BROWNIAN, 0, 1.0},
    {"dpmpp_2m_sde_gpu", s_dpmpp_2m_sde, NOISE_BROWNIAN, 0, 1.0},
    {"dpmpp_2m_sde_heun", s_dpmpp_2m_sde_heun, NOISE_BROWNIAN, 0, 1.0},
    {"dpmpp_2m_sde_heun_gpu", s_dpmpp_2m_sde_heun, NOISE_BROWNIAN, 0, 1.0},
    {"dpmpp_3m_sde", s_dpmpp_3m_sde, NOISE_BROWNIAN, 0, 1.0},
    {"dpmpp_3m_sde_gpu", s_dpmpp_3m_sde, NOISE_BROWNIAN, 0, 1.0},
    {"ddpm", s_ddpm, NOISE_DEFAULT, 0, 0.0},
    {"lcm", s_lcm, NOISE_DEFAULT, 0, 0.0},
    {"ipndm", s_ipndm, NOISE_NONE, 0, 0.0},
    {"ipndm_v", s_ipndm_v, NOISE_NONE, 0, 0.0},
    {"deis", s_deis, NOISE_NONE, 0, 0.0},
    {"res_multistep", s_res_multistep, NOISE_DEFAULT, 0, 0.0},
    {"res_multistep_cfg_pp", s_res_multistep_cfg_pp, NOISE_DEFAULT, 1, 0.0},
    {"res_multistep_ancestral", s_res_multistep_ancestral, NOISE_DEFAULT, 0, 1.0},
    {"res_multistep_ancestral_cfg_pp", s_res_multistep_ancestral_cfg_pp, NOISE_DEFAULT, 1, 1.0},
    {"gradient_estimation", s_gradient_estimation, NOISE_NONE, 0, 0.0},
    {"gradient_estimation_cfg_pp", s_gradient_estimation_cfg_pp, NOISE_NONE, 1, 0.0},
    {"er_sde", s_er_sde, NOISE_DEFAULT, 0, 0.0},
    {"seeds_2", s_seeds_2, NOISE_DEFAULT, 0, 1.0},
    {"seeds_3", s_seeds_3, NOISE_DEFAULT, 0, 1.0},
    {"sa_solver", s_sa_solver, NOISE_DEFAULT, 0, 1.0},
    {"sa_solver_pece", s_sa_solver_pece, NOISE_DEFAULT, 0, 1.0},
    {"ddim", s_euler, NOISE_NONE, 0, 0.0},
    {"uni_pc", s_uni_pc, NOISE_NONE, 0, 0.0},
    {"uni_pc_bh2", s_uni_pc_bh2, NOISE_NONE, 0, 0.0},
};

#define NDEFS ((int)(sizeof defs / sizeof defs[0]))

int cd_sampler_count(void)
{
  return NDEFS;
}

const char *cd_sampler_name(int i)
{
  return i >= 0 && i < NDEFS ? defs[i].name : NULL;
}

int cd_sampler_find(const char *name)
{
  for (int i = 0; name && i < NDEFS; i++)
    if (!strcmp(defs[i].name, name))
      return i;
  return -1;
}

int cd_sampler_discards_penultimate(const char *s)
{
  return s && (!strcmp(s, "dpm_2") || !strcmp(s, "dpm_2_ancestral") || !strcmp(s, "uni_pc") ||
               !strcmp(s, "uni_pc_bh2"));
}

int cd_sampler_inpaint_random_noise(const char *name)
{
  return name && !strcmp(name, "ddim");
}

int cd_sampler_needs_uncond(const char *name)
{
  int i = cd_sampler_find(name);
  return i >= 0 && defs[i].uncond;
}

void cd_sampler_opts_init(cd_sampler_opts *o)
{
  memset(o, 0, sizeof *o);
  o->eta = NAN;
  o->s_noise = 1.0;
  o->s_churn = 0.0;
  o->s_tmin = 0.0;
  o->s_tmax = INFINITY;
}

void cd_default_noise_init(cd_default_noise_state *s, uint64_t seed)
{
  cd_torch_gen_seed(&s->gen, seed);
}

int cd_default_noise(void *user, float sigma, float sigma_next, float *out, size_t n)
{
  (void)sigma;
  (void)sigma_next;
  cd_torch_randn(&((cd_default_noise_state *)user)->gen, out, n);
  return 0;
}

int cd_sample(const char *name, cd_denoiser_fn model, void *model_user, float *x, size_t n,
              const float *sigmas, size_t nsig, const cd_sampler_opts *opts)
{
  cd_sampler_opts defaults;
  int idx = cd_sampler_find(name);
  if (idx < 0 || !model || !x || n == 0 || (nsig && !sigmas) || n > SIZE_MAX / sizeof(float) / (NBUF + 1))
    return -EINVAL;
  if (!opts) {
    cd_sampler_opts_init(&defaults);
    opts = &defaults;
  }
  for (size_t i = 0; i < nsig; i++)
    if (!isfinite(sigmas[i]))
      return -EINVAL;
  if (nsig <= 1)
    return 0;
  if (nsig - 1 > CD_SAMPLER_MAX_STEPS)
    return -EINVAL;
  const sampler_def *def = &defs[idx];
  if (opts->s_churn > 0 && !opts->global_gen &&
      (def->fn == s_euler || def->fn == s_heun || def->fn == s_heunpp2 || def->fn == s_dpm_2))
    return -EINVAL;
  ctx c;
  memset(&c, 0, sizeof c);
  c.model = model;
  c.mu = model_user;
  c.x = x;
  c.n = n;
  c.s = sigmas;
  c.N = (int)nsig - 1;
  c.o = opts;
  c.eta = isnan(opts->eta) ? def->eta : opts->eta;
  c.s_noise = (float)opts->s_noise;
  int rc = 0;
  c.block = malloc((NBUF + 1) * n * sizeof(float)); /* freed below */
  if (!c.block)
    return -ENOMEM;
  for (int k = 0; k < NBUF; k++)
    c.b[k] = c.block + (size_t)k * n;
  if (def->uncond)
    c.uncond = c.block + (size_t)NBUF * n;
  if (opts->noise) {
    c.noise = opts->noise;
    c.nu = opts->noise_user;
  } else if (def->noise != NOISE_NONE) {
    if (!opts->has_seed) {
      rc = -EINVAL;
      goto out;
    }
    if (def->noise == NOISE_DEFAULT) {
      cd_default_noise_init(&c.dn, opts->seed);
      c.noise = cd_default_noise;
      c.nu = &c.dn;
    } else {
      float smin = INFINITY, smax = -INFINITY;
      for (size_t i = 0; i < nsig; i++) {
        if (sigmas[i] > 0 && sigmas[i] < smin)
          smin = sigmas[i];
        if (sigmas[i] > smax)
          smax = sigmas[i];
      }
      if (!(smin <= smax)) {
        rc = -EINVAL;
        goto out;
      }
      c.bt = cd_brownian_new(n, smin, smax, opts->seed);
      if (!c.bt) {
        rc = -ENOMEM;
        goto out;
      }
      c.noise = brownian_noise;
      c.nu = c.bt;
    }
  }
  rc = def->fn(&c);
out:
  cd_brownian_free(c.bt);
  free(c.block);
  return rc;
}
