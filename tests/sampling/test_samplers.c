/*
 * test_samplers.c - every implemented sampler against ComfyUI's own sampler
 * functions run on torch 1.13.1 with an analytic denoiser
 * (data/sampler_cases.txt, made by gen/gen_samplers.py), on six schedules
 * (full karras, a truncated normal, short ones, one step, one ending above 0),
 * including the torch-generator (ancestral) and Brownian-tree (SDE) noise.
 *
 * Checked per case: the number of model calls, the number of progress
 * callbacks, and every output value within
 *     |got - want| <= tol * max(1, |want|)
 * with tol = 1e-5 for every sampler (differences come from libm vs SLEEF
 * float32 transcendental functions, a few float32 sums in another order,
 * deis's float32 coefficient sums and uni_pc's float32 LAPACK solve, both
 * done in double here).  Measured worst: 2.4e-6 (dpmpp_3m_sde); most
 * samplers stay below 1e-6.  The worst error per sampler is printed.
 *
 * Mask preparation (comfy.utils.reshape_mask): within 1e-6 absolute.
 * Also: interrupt through the progress callback, errors from the denoiser,
 * and bad input.
 */
#include "ksampler.h"
#include "samplers.h"

#include "check.h"

#include <errno.h>
#include <math.h>

#define MAXN 256
#define MAXS 64

typedef struct dmodel {
  const float *c, *c2;
  int calls;
  int fail_at; /* return -EIO at this call (0: never) */
} dmodel;

static int denoise(void *user, const float *x, float s, float *out, float *uncond, size_t n)
{
  dmodel *m = user;
  m->calls++;
  if (m->fail_at && m->calls == m->fail_at)
    return -EIO;
  float q = 1.0f + s * s;
  float a = 0.8f / q, a2 = 0.7f / q, b = s / (1.0f + s);
  for (size_t i = 0; i < n; i++) {
    out[i] = x[i] * a + m->c[i] * b;
    if (uncond)
      uncond[i] = x[i] * a2 + m->c2[i] * b;
  }
  return 0;
}

typedef struct prog {
  int calls, last_step, stop_at;
} prog;

static int on_step(void *user, int step, int total, const float *x, const float *d, size_t n)
{
  prog *p = user;
  (void)total;
  (void)x;
  (void)d;
  (void)n;
  p->calls++;
  p->last_step = step;
  return p->stop_at && p->calls == p->stop_at;
}

static double tol_for(const char *name)
{
  (void)name;
  return 1e-5;
}

int main(void)
{
  static float c[MAXN], c2[MAXN], sig[6][MAXS], x0[6][MAXN], want[MAXN], x[MAXN];
  static float vnoise[MAXN], vlatent[MAXN], vmask[MAXN];
  cd_model_sampling ms;
  cd_model_sampling_sd(&ms, CD_PRED_EPS);
  int nks = 0, nopt = 0, nmask = 0;
  int nsig[6] = {0}, n = 0, nc2 = 0;
  FILE *f = check_open_data("sampler_cases.txt");
  if (!f)
    return check_done("sampling_samplers");
  static char line[16384];
  char worst_name[96] = "";
  double worst_all = 0;
  int ncases = 0;
  char cur[64] = "";
  double cur_worst = 0;
  while (fgets(line, sizeof line, f)) {
    char kind[16], name[64];
    static char list[16000];
    if (line[0] == '#' || sscanf(line, "%15s", kind) != 1)
      continue;
    if (!strcmp(kind, "names")) {
      /* our list must be ComfyUI's, in order */
      char *save = NULL;
      int i = 0;
      if (sscanf(line, "names %15999s", list) != 1)
        continue;
      for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save), i++)
        CHECK(cd_sampler_name(i) && !strcmp(cd_sampler_name(i), tok), "sampler %d: %s, ComfyUI has %s", i,
              cd_sampler_name(i) ? cd_sampler_name(i) : "(none)", tok);
      CHECK(i == cd_sampler_count(), "ComfyUI lists %d samplers, we list %d", i, cd_sampler_count());
      continue;
    }
    if (!strcmp(kind, "vec")) {
      if (sscanf(line, "vec %63s %15999s", name, list) != 2)
        continue;
      if (!strcmp(name, "c"))
        n = check_hex_list(list, c, MAXN);
      else if (!strcmp(name, "c2"))
        nc2 = check_hex_list(list, c2, MAXN);
      else if (!strncmp(name, "sig", 3))
        nsig[name[3] - '0'] = check_hex_list(list, sig[name[3] - '0'], MAXS);
      else if (name[0] == 'x')
        check_hex_list(list, x0[name[1] - '0'], MAXN);
      else if (!strcmp(name, "noise"))
        check_hex_list(list, vnoise, MAXN);
      else if (!strcmp(name, "latent"))
        check_hex_list(list, vlatent, MAXN);
      else if (!strcmp(name, "mask"))
        check_hex_list(list, vmask, MAXN);
      continue;
    }
    if (!strcmp(kind, "maskprep")) {
      char ms_[64], os_[64];
      static char lm[16000], lo[16000];
      static float mk[4096], wantm[4096], gotm[4096];
      if (sscanf(line, "maskprep %63s %63s %15999s %15999s", ms_, os_, lm, lo) != 4)
        continue;
      int mdim[4] = {1, 1, 1, 1}, od[4], nm = 0, no = 0;
      for (char *p = ms_; *p && nm < 4; nm++) {
        mdim[nm] = (int)strtol(p, &p, 10);
        if (*p == ',')
          p++;
      }
      for (char *p = os_; *p && no < 4; no++) {
        od[no] = (int)strtol(p, &p, 10);
        if (*p == ',')
          p++;
      }
      int mh = mdim[nm - 2], mw = mdim[nm - 1];
      size_t planes = 1;
      for (int i = 0; i < nm - 2; i++)
        planes *= (size_t)mdim[i];
      check_hex_list(lm, mk, 4096);
      int nw = check_hex_list(lo, wantm, 4096);
      int rc = cd_prepare_noise_mask(mk, planes, mh, mw, od[0], od[1], od[2], od[3], gotm);
      CHECK(rc == 0 && nw == od[0] * od[1] * od[2] * od[3], "maskprep %s -> %s: rc %d", ms_, os_, rc);
      int bad = 0;
      for (int i = 0; i < nw; i++)
        bad += fabsf(gotm[i] - wantm[i]) > 1e-6f; /* torch's kernel rounds in another order */
      CHECK(bad == 0, "maskprep %s -> %s: %d values off by more than 1e-6", ms_, os_, bad);
      nmask++;
      continue;
    }
    if (!strcmp(kind, "opt")) {
      int k, calls;
      char kv[256];
      if (sscanf(line, "opt %63s %d %d %255s %15999s", name, &k, &calls, kv, list) != 5 || k < 0 || k > 5)
        continue;
      check_hex_list(list, want, MAXN);
      dmodel m = {c, c2, 0, 0};
      cd_sampler_opts o;
      cd_sampler_opts_init(&o);
      o.has_seed = 1;
      o.seed = 1234;
      o.model_sampling = &ms;
      cd_torch_gen global;
      cd_torch_gen_seed(&global, 5);
      o.global_gen = &global;
      char *save = NULL;
      for (char *tok = strtok_r(kv, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
          continue;
        *eq = 0;
        double v = strtod(eq + 1, NULL);
        if (!strcmp(tok, "eta"))
          o.eta = v;
        else if (!strcmp(tok, "s_noise"))
          o.s_noise = v;
        else if (!strcmp(tok, "s_churn"))
          o.s_churn = v;
        else if (!strcmp(tok, "s_tmin"))
          o.s_tmin = v;
        else if (!strcmp(tok, "s_tmax"))
          o.s_tmax = v;
        else
          CHECK(0, "unknown option %s", tok);
      }
      memcpy(x, x0[k], (size_t)n * sizeof(float));
      int rc = cd_sample(name, denoise, &m, x, (size_t)n, sig[k], (size_t)nsig[k], &o);
      double worst = 0;
      for (int i = 0; i < n; i++) {
        double scale = fabs(want[i]) > 1 ? fabs(want[i]) : 1;
        double e = fabs((double)x[i] - want[i]) / scale;
        if (!(e <= worst))
          worst = e;
      }
      CHECK(rc == 0 && m.calls == calls && worst <= 1e-5, "opt %s/%d: rc %d calls %d/%d max rel err %.3g",
            name, k, rc, m.calls, calls, worst);
      nopt++;
      continue;
    }
    if (!strcmp(kind, "ksample")) {
      int k, masked;
      if (sscanf(line, "ksample %63s %d %d %15999s", name, &k, &masked, list) != 4 || k < 0 || k > 5)
        continue;
      check_hex_list(list, want, MAXN);
      dmodel m = {c, c2, 0, 0};
      cd_sampler_opts o;
      cd_sampler_opts_init(&o);
      o.has_seed = 1;
      o.seed = 1234;
      int rc = cd_ksampler_sample(name, &ms, denoise, &m, sig[k], (size_t)nsig[k], vnoise, vlatent,
                                  masked ? vmask : NULL, x, (size_t)n, &o);
      double worst = 0;
      for (int i = 0; i < n; i++) {
        double scale = fabs(want[i]) > 1 ? fabs(want[i]) : 1;
        double e = fabs((double)x[i] - want[i]) / scale;
        if (!(e <= worst))
          worst = e;
      }
      CHECK(rc == 0 && worst <= 1e-5, "ksample %s/%d mask %d: rc %d max rel err %.3g", name, k, masked,
            rc, worst);
      nks++;
      continue;
    }
    int k, calls, ncb;
    if (sscanf(line, "case %63s %d %d %d %15999s", name, &k, &calls, &ncb, list) != 5 || k < 0 || k > 5) {
      CHECK(0, "bad line %.60s", line);
      continue;
    }
    CHECK(n == nc2 && n > 0, "vector sizes");
    int nw = check_hex_list(list, want, MAXN);
    CHECK(nw == n, "%s: %d values", name, nw);
    if (strcmp(cur, name)) {
      if (cur[0])
        printf("%-32s max rel err %.3g\n", cur, cur_worst);
      snprintf(cur, sizeof cur, "%s", name);
      cur_worst = 0;
    }
    CHECK(cd_sampler_find(name) >= 0, "%s not listed", name);
    dmodel m = {c, c2, 0, 0};
    prog p = {0, -1, 0};
    cd_sampler_opts o;
    cd_sampler_opts_init(&o);
    o.has_seed = 1;
    o.seed = 1234;
    o.model_sampling = &ms;
    o.progress = on_step;
    o.progress_user = &p;
    memcpy(x, x0[k], (size_t)n * sizeof(float));
    int rc = cd_sample(name, denoise, &m, x, (size_t)n, sig[k], (size_t)nsig[k], &o);
    CHECK(rc == 0, "%s/%d: rc %d", name, k, rc);
    CHECK(m.calls == calls, "%s/%d: %d model calls, want %d", name, k, m.calls, calls);
    CHECK(p.calls == ncb, "%s/%d: %d callbacks, want %d", name, k, p.calls, ncb);
    double worst = 0, tol = tol_for(name);
    for (int i = 0; i < n; i++) {
      double scale = fabs(want[i]) > 1 ? fabs(want[i]) : 1;
      double e = fabs((double)x[i] - want[i]) / scale;
      if (!(e <= worst))
        worst = e;
    }
    CHECK(worst <= tol, "%s/%d: max rel err %.3g > %.1g (x[0] %.9g want %.9g)", name, k, worst, tol,
          x[0], want[0]);
    if (!(worst <= cur_worst))
      cur_worst = worst;
    if (!(worst <= worst_all)) {
      worst_all = worst;
      snprintf(worst_name, sizeof worst_name, "%s/%d", name, k);
    }
    ncases++;
  }
  if (cur[0])
    printf("%-32s max rel err %.3g\n", cur, cur_worst);
  fclose(f);
  printf("%d cases; worst %.3g (%s)\n", ncases, worst_all, worst_name);
  CHECK(ncases >= 6 * cd_sampler_count(), "every listed sampler has goldens (%d cases)", ncases);
  CHECK(nks >= 32, "KSAMPLER.sample cases: %d", nks);
  CHECK(nopt >= 34, "option cases: %d", nopt);
  CHECK(nmask >= 5, "mask preparation cases: %d", nmask);
  printf("%d option cases (s_churn with the global generator, eta, s_noise)\n", nopt);
  printf("%d KSAMPLER.sample cases (noise scaling, inpainting mask, ddim seed+1 noise)\n", nks);

  /* interrupt after the second step */
  {
    dmodel m = {c, c2, 0, 0};
    prog p = {0, -1, 2};
    cd_sampler_opts o;
    cd_sampler_opts_init(&o);
    o.progress = on_step;
    o.progress_user = &p;
    memcpy(x, x0[0], (size_t)n * sizeof(float));
    int rc = cd_sample("euler", denoise, &m, x, (size_t)n, sig[0], (size_t)nsig[0], &o);
    CHECK(rc == CD_SAMPLE_INTERRUPTED && p.calls == 2, "interrupt: rc %d calls %d", rc, p.calls);
  }
  /* a denoiser error is returned as is */
  {
    dmodel m = {c, c2, 0, 3};
    memcpy(x, x0[0], (size_t)n * sizeof(float));
    int rc = cd_sample("heun", denoise, &m, x, (size_t)n, sig[0], (size_t)nsig[0], NULL);
    CHECK(rc == -EIO, "denoiser error: rc %d", rc);
  }
  /* bad input */
  {
    dmodel m = {c, c2, 0, 0};
    cd_sampler_opts o;
    cd_sampler_opts_init(&o);
    CHECK(cd_sample("nope", denoise, &m, x, (size_t)n, sig[0], (size_t)nsig[0], &o) == -EINVAL, "name");
    CHECK(cd_sample("euler_ancestral", denoise, &m, x, (size_t)n, sig[0], (size_t)nsig[0], &o) == -EINVAL,
          "stochastic sampler without a seed");
    CHECK(cd_sample("euler", denoise, &m, x, 0, sig[0], (size_t)nsig[0], &o) == -EINVAL, "n == 0");
    float bad[3] = {1.0f, NAN, 0.0f};
    CHECK(cd_sample("euler", denoise, &m, x, (size_t)n, bad, 3, &o) == -EINVAL, "NaN sigma");
    o.s_churn = 1.0;
    CHECK(cd_sample("euler", denoise, &m, x, (size_t)n, sig[0], (size_t)nsig[0], &o) == -EINVAL,
          "churn without the global generator");
    cd_sampler_opts_init(&o);
    memcpy(x, x0[0], (size_t)n * sizeof(float));
    CHECK(cd_sample("euler", denoise, &m, x, (size_t)n, sig[0], 1, &o) == 0 && x[0] == x0[0][0],
          "one sigma: unchanged");
  }
  /* odd schedules: every sampler must return (any result, NaN allowed, as
   * ComfyUI would give) without crashing or touching memory it does not own */
  {
    static const float odd[][6] = {{5.0f, 5.0f, 0.5f, 0.5f, 0.0f, 0.0f},
                                   {1e-8f, 0.0f, 0, 0, 0, 0},
                                   {14.6f, 0.0f, 0.0f, 0, 0, 0},
                                   {0.5f, 2.0f, 8.0f, 0, 0, 0},
                                   {3.0f, -1.0f, 0.0f, 0, 0, 0},
                                   {0.0f, 0.0f, 0, 0, 0, 0}};
    static const size_t oddn[] = {5, 2, 3, 3, 3, 2};
    int ran = 0;
    for (int i = 0; i < cd_sampler_count(); i++) {
      for (size_t k = 0; k < sizeof oddn / sizeof oddn[0]; k++) {
        dmodel m = {c, c2, 0, 0};
        cd_sampler_opts o;
        cd_sampler_opts_init(&o);
        o.has_seed = 1;
        o.seed = 3;
        o.model_sampling = &ms;
        memcpy(x, x0[0], (size_t)n * sizeof(float));
        int rc = cd_sample(cd_sampler_name(i), denoise, &m, x, (size_t)n, odd[k], oddn[k], &o);
        CHECK(rc <= 0 && rc != CD_SAMPLE_INTERRUPTED, "%s on odd schedule %zu: rc %d", cd_sampler_name(i), k, rc);
        ran++;
      }
    }
    printf("%d runs on odd schedules\n", ran);
  }
  CHECK(cd_sampler_find("euler") == 0 && !strcmp(cd_sampler_name(cd_sampler_count() - 1), "uni_pc_bh2"),
        "list order");
  CHECK(cd_sampler_discards_penultimate("uni_pc") && !cd_sampler_discards_penultimate("euler"), "discard");
  CHECK(cd_sampler_needs_uncond("euler_cfg_pp") && !cd_sampler_needs_uncond("euler"), "uncond");
  return check_done("sampling_samplers");
}
