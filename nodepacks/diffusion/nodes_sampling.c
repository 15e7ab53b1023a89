/*
 * nodes_sampling.c — KSampler and KSamplerAdvanced (ComfyUI's
 * common_ksampler, shared/spec/nodes-and-models.md §3.1-3.2), the MODEL's
 * SDK interface (comfy/diffusion.h: info, sigmas, guider), and the model
 * sampling tables.  The one file (with cfg_guider.c) that includes the
 * sampling library's headers.
 *
 * Progress: one `progress` per sampler step (value step + 1, max the
 * schedule's steps), with a preview of batch item 0: latent2rgb when
 * --preview-method is latent2rgb or auto, the TAESD decoder of
 * models/vae_approx when it is taesd (latent2rgb without one; see
 * taesd_glue.c).  Execute runs on the executor thread.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpack.h"

#include "ksampler.h"
#include "model_sampling.h"
#include "samplers.h"
#include "schedulers.h"
#include "torch_rng.h"

/* ------------------------------------------------------- model sampling */

struct cd_model_sampling *dp_ms_new(int v_pred, int zsnr)
{
    cd_model_sampling *ms = malloc(sizeof *ms);
    if (!ms)
        return NULL;
    if (cd_model_sampling_discrete(ms, 0.00085, 0.012, 1000, zsnr,
                                   v_pred ? CD_PRED_V : CD_PRED_EPS) != 0) {
        free(ms);
        return NULL;
    }
    return ms;
}

float dp_ms_sigma_min(const struct cd_model_sampling *ms) { return cd_ms_sigma_min(ms); }
float dp_ms_sigma_max(const struct cd_model_sampling *ms) { return cd_ms_sigma_max(ms); }

/* ------------------------------------------------------------- progress */

/* latent2rgb factors (spec §10.2): rows = latent channels. */
static const float rgb_sd15[4][3] = {
    {0.3512f, 0.2297f, 0.3227f},
    {0.3250f, 0.4974f, 0.2350f},
    {-0.2829f, 0.1762f, 0.2721f},
    {-0.2120f, -0.2616f, -0.7177f},
};
static const float rgb_sdxl[4][3] = {
    {0.3651f, 0.4232f, 0.4341f},
    {-0.2533f, -0.0042f, 0.1068f},
    {0.1076f, 0.1111f, -0.0362f},
    {-0.3165f, -0.2492f, -0.2188f},
};
static const float bias_sdxl[3] = {0.1084f, -0.0175f, -0.0011f};

typedef struct progress_ctx {
    comfy_call *call;
    const dp_model *model;
    int64_t C, H, W;
    int preview;              /* 0 none, 1 latent2rgb, 2 taesd (decoder not
                                 looked up yet), 3 taesd (decoder found) */
    int interrupted;
    const struct cd_taesd *taesd; /* borrowed (taesd_glue.c's cache)     */
} progress_ctx;

static int want_previews(const comfy_host *h)
{
    if (!COMFY_HAS_FIELD(h, comfy_host, setting))
        return 0;
    const char *m = h->setting(h->ctx, "preview-method");
    if (m && strcmp(m, "taesd") == 0)
        return 2;
    return m && (strcmp(m, "latent2rgb") == 0 || strcmp(m, "auto") == 0);
}

static int on_step(void *user, int step, int total, const float *x, const float *denoised,
                   size_t n)
{
    progress_ctx *p = user;
    const comfy_host *h = p->call->host;
    (void)x;
    (void)n;
    comfy_tensor *img = NULL;
    if (p->preview == 3) {
        img = dp_taesd_preview(p->call, p->taesd, denoised, p->H, p->W);
    } else if (p->preview && p->C == 4) {
        int64_t shape[3] = {p->H, p->W, 3};
        img = h->tensor_new(h->ctx, COMFY_U8, 3, shape);
        if (img) {
            int xl = p->model->family == DP_SDXL || p->model->family == DP_SDXL_REFINER;
            const float(*F)[3] = xl ? rgb_sdxl : rgb_sd15;
            uint8_t *o = img->data;
            int64_t plane = p->H * p->W;
            for (int64_t i = 0; i < plane; i++)
                for (int k = 0; k < 3; k++) {
                    float v = 0;
                    for (int c = 0; c < 4; c++)
                        v += denoised[c * plane + i] * F[c][k];
                    if (xl)
                        v += bias_sdxl[k];
                    v = (v + 1.0f) / 2.0f;
                    v = v < 0 ? 0 : v > 1 ? 1 : v;
                    o[i * 3 + k] = (uint8_t)(v * 255.0f);
                }
        }
    }
    int rc = h->progress(p->call, (double)(step + 1), (double)total, img);
    h->tensor_release(img);
    if (rc == COMFY_EINTERRUPTED) {
        p->interrupted = 1;
        return 1;
    }
    return 0;
}

/* ----------------------------------------------------------- the sampler */

/* Wraps the guider's denoiser to remember an interrupt seen by the nets. */
typedef struct den_ctx {
    dp_guider *g;
    int interrupted;
} den_ctx;

static int denoise_cb(void *user, const float *x, float sigma, float *denoised, float *uncond,
                      size_t n)
{
    den_ctx *d = user;
    int rc = dp_guider_denoise(d->g, x, sigma, denoised, uncond, n);
    if (rc == COMFY_EINTERRUPTED)
        d->interrupted = 1;
    return rc;
}

/* Reads a LATENT's noise_mask as [mn, mh, mw] floats (malloc'd), or NULL. */
static float *read_noise_mask(const comfy_host *h, const comfy_value *latent, int64_t *mn,
                              int64_t *mh, int64_t *mw, int *bad)
{
    *bad = 0;
    comfy_tensor *t = h->value_get_tensor(h->map_get(latent, "noise_mask"));
    if (!t)
        return NULL;
    if (t->ndim < 2) {
        *bad = 1;
        return NULL;
    }
    *mh = t->shape[t->ndim - 2];
    *mw = t->shape[t->ndim - 1];
    *mn = *mh * *mw > 0 ? h->tensor_numel(t) / (*mh * *mw) : 0;
    if (*mn <= 0) {
        *bad = 1;
        return NULL;
    }
    float *m = dp_tensor_f32(h, t);
    if (!m)
        *bad = 1;
    return m;
}

/* A sampler to run: one of ours by name, or another pack's SAMPLER. */
typedef struct run_sampler {
    const char *name;                  /* ours (a cd_sampler name), or NULL */
    const comfy_sampler_iface *iface;  /* another pack's, when name is NULL */
    void *self;
} run_sampler;

/* The mask blend of KSAMPLER around another pack's sampler (spec §3.7). */
typedef struct foreign_ctx {
    den_ctx *den;
    const float *mask, *latent, *noise;
    float *xin;
    size_t n;
} foreign_ctx;

static int foreign_denoise(void *user, const float *x, float sigma, float *denoised)
{
    foreign_ctx *f = user;
    const float *in = x;
    if (f->mask) {
        for (size_t i = 0; i < f->n; i++)
            f->xin[i] = x[i] * f->mask[i] +
                        (f->latent[i] + f->noise[i] * sigma) * (1.0f - f->mask[i]);
        in = f->xin;
    }
    int rc = denoise_cb(f->den, in, sigma, denoised, NULL, f->n);
    if (rc == COMFY_OK && f->mask)
        for (size_t i = 0; i < f->n; i++)
            denoised[i] = denoised[i] * f->mask[i] + f->latent[i] * (1.0f - f->mask[i]);
    return rc;
}

/* Records the x0 of each step (denoised_output) and reports progress. */
typedef struct step_ctx {
    progress_ctx pc;
    float *x0;
    int steps_run;
} step_ctx;

static int on_step_rec(void *user, int step, int total, const float *x, const float *denoised,
                       size_t n)
{
    step_ctx *s = user;
    if (s->x0)
        memcpy(s->x0, denoised, n * sizeof(float));
    s->steps_run++;
    return on_step(&s->pc, step, total, x, denoised, n);
}

/* Samples LATENT l with the given sigmas and sets output 0 (and, with
 * want_denoised, output 1: the last step's x0 prediction), as ComfyUI's
 * common_ksampler / SamplerCustom: fix_empty_latent_channels, the noise
 * (prepare_noise with batch_index, or zeros), the noise mask, process_in,
 * the CFG guider over pos/neg, the sampler, process_out.  skip != 0 (or
 * nsig == 0) returns the latent unchanged. */
static int run_sampling(comfy_call *call, dp_model *model, const dp_latent *l,
                        const comfy_value *pos, const comfy_value *neg, double cfg,
                        const run_sampler *smp, const float *sigmas, size_t nsig, int skip,
                        uint64_t seed, int add_noise, int want_denoised)
{
    const comfy_host *h = call->host;
    float *latent = NULL, *noise = NULL, *mask = NULL, *mask_full = NULL, *x0 = NULL;
    float *xin = NULL;
    int64_t *bidx = NULL;
    size_t nbidx = 0;
    dp_guider g;
    int have_guider = 0, rc = COMFY_OK;
    comfy_tensor *out_t = NULL, *den_t = NULL;
    int64_t B = l->b, C = l->c, H = l->h, W = l->w;
    if (B < 1 || C < 1 || H < 1 || W < 1)
        return h->fail(call, "ValueError", "the latent is empty");
    size_t n = (size_t)(B * C * H * W);

    /* fix_empty_latent_channels */
    int64_t MC = model->latent_channels;
    latent = malloc(n * sizeof(float));
    if (!latent)
        goto oom;
    memcpy(latent, l->data, n * sizeof(float));
    int all_zero = 1;
    for (size_t i = 0; i < n && all_zero; i++)
        all_zero = latent[i] == 0.0f;
    if (C != MC && all_zero) {
        free(latent);
        C = MC;
        n = (size_t)(B * C * H * W);
        latent = calloc(n, sizeof(float));
        if (!latent)
            goto oom;
    }
    if (C != model->latent_channels) {
        rc = h->fail(call, "RuntimeError", "the latent has %lld channels but the model takes %d",
                     (long long)C, model->latent_channels);
        goto out;
    }

    /* Noise. */
    noise = calloc(n, sizeof(float));
    if (!noise)
        goto oom;
    const comfy_value *bi = h->map_get(l->map, "batch_index");
    if (bi && h->value_kind(bi) == COMFY_KIND_LIST) {
        nbidx = h->list_len(bi);
        bidx = malloc((nbidx ? nbidx : 1) * sizeof *bidx);
        if (!bidx)
            goto oom;
        for (size_t i = 0; i < nbidx; i++)
            if (h->value_get_int(h->list_get(bi, i), &bidx[i]) != COMFY_OK) {
                rc = h->fail(call, "ValueError", "batch_index must be a list of integers");
                goto out;
            }
    }
    cd_torch_gen global;
    cd_torch_gen_seed(&global, seed);
    if (add_noise) {
        int e = cd_torch_prepare_noise(seed, (size_t)B, (size_t)(C * H * W), bidx, nbidx, noise);
        if (e == -ENOMEM)
            goto oom;
        if (e) {
            rc = h->fail(call, "ValueError",
                         "cannot make the noise: batch_index must have one non-negative "
                         "index per latent");
            goto out;
        }
        /* torch's global generator as prepare_noise leaves it (heunpp2, s_churn). */
        if (!bidx) {
            float *tmp = malloc(n * sizeof(float));
            if (!tmp)
                goto oom;
            cd_torch_randn(&global, tmp, n);
            free(tmp);
        }
    }

    /* Noise mask. */
    int bad = 0;
    int64_t mn = 0, mh = 0, mw = 0;
    mask = read_noise_mask(h, l->map, &mn, &mh, &mw, &bad);
    if (bad) {
        rc = h->fail(call, "ValueError", "the latent's noise_mask is not a mask");
        goto out;
    }
    if (mask) {
        mask_full = malloc(n * sizeof(float));
        if (!mask_full)
            goto oom;
        if (cd_prepare_noise_mask(mask, (size_t)mn, (int)mh, (int)mw, (int)B, (int)C, (int)H,
                                  (int)W, mask_full) != 0) {
            rc = h->fail(call, "ValueError", "the noise mask cannot be resized to the latent");
            goto out;
        }
    }

    out_t = dp_new_tensor(call, 4, (int64_t[4]){B, C, H, W});
    if (!out_t) {
        rc = COMFY_ERR;
        goto out;
    }
    float *res = out_t->data;
    int ran = 0;
    if (skip || nsig == 0) {
        /* Nothing to sample: the input latent (ComfyUI returns it unchanged). */
        memcpy(res, latent, n * sizeof(float));
    } else {
        /* process_in when the latent has any non-zero value. */
        int nz = 0;
        for (size_t i = 0; i < n && !nz; i++)
            nz = latent[i] != 0.0f;
        if (nz)
            for (size_t i = 0; i < n; i++)
                latent[i] = latent[i] * model->latent_scale;
        if (want_denoised && !(x0 = malloc(n * sizeof(float))))
            goto oom;
        rc = dp_guider_init_ex(&g, call, model, pos, neg, cfg, B, C, H, W, latent, mask_full);
        if (rc)
            goto out;
        have_guider = 1;
        step_ctx sc = {{call, model, C, H, W, want_previews(h), 0, NULL}, x0, 0};
        if (sc.pc.preview == 2) { /* latent_preview.get_previewer, before sampling */
            if (C == 4 && (rc = dp_taesd_previewer(call, model->family, &sc.pc.taesd)))
                goto out;
            sc.pc.preview = sc.pc.taesd ? 3 : 1;
        }
        den_ctx dc = {&g, 0};
        int e;
        const char *what = smp->name ? smp->name : "a custom sampler";
        if (smp->name) {
            cd_sampler_opts o;
            cd_sampler_opts_init(&o);
            o.has_seed = 1;
            o.seed = seed;
            o.global_gen = &global;
            o.progress = on_step_rec;
            o.progress_user = &sc;
            e = cd_ksampler_sample(smp->name, model->ms, denoise_cb, &dc, sigmas, nsig, noise,
                                   latent, mask_full, res, n, &o);
        } else {
            /* KSAMPLER around another pack's sampler: noise scaling, the
             * mask blend at every call, the sampler, identity inverse. */
            int maxd = cd_ms_is_max_denoise(model->ms, sigmas[0]);
            cd_ms_noise_scaling(sigmas[0], noise, latent, maxd, res, n);
            if (mask_full && !(xin = malloc(n * sizeof(float))))
                goto oom;
            foreign_ctx fc = {&dc, mask_full, latent, noise, xin, n};
            comfy_denoiser d = {sizeof(comfy_denoiser), &fc, foreign_denoise};
            e = smp->iface->sample(smp->self, call, &d, res, n, sigmas, nsig, seed);
            if (e == COMFY_OK && x0 && nsig > 1) {
                memcpy(x0, g.last_denoised, n * sizeof(float));
                sc.steps_run = 1;
            }
            if (e == COMFY_EINTERRUPTED)
                dc.interrupted = 1;
            else if (e != COMFY_OK) {
                rc = e; /* the sampler failed the call */
                goto out;
            }
        }
        if (e == CD_SAMPLE_INTERRUPTED || sc.pc.interrupted || dc.interrupted) {
            rc = COMFY_EINTERRUPTED;
            goto out;
        }
        if (e == COMFY_ENOMEM || e == -ENOMEM) {
            rc = dp_fail_status(call, COMFY_ENOMEM, "sampling", g.err);
            goto out;
        }
        if (e) {
            rc = h->fail(call, "RuntimeError", "sampling with %s failed%s%s", what,
                         *g.err ? ": " : "", g.err);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            res[i] = res[i] / model->latent_scale;
        ran = sc.steps_run > 0;
    }
    if (want_denoised) {
        den_t = dp_new_tensor(call, 4, (int64_t[4]){B, C, H, W});
        if (!den_t) {
            rc = COMFY_ERR;
            goto out;
        }
        float *d = den_t->data;
        if (ran)
            for (size_t i = 0; i < n; i++)
                d[i] = x0[i] / model->latent_scale;
        else
            memcpy(d, res, n * sizeof(float));
    }
    comfy_value *v = dp_latent_with(h, l->map, out_t);
    out_t = NULL;
    if (!v)
        goto oom;
    if ((rc = h->set_output(call, 0, v)))
        goto out;
    if (want_denoised) {
        comfy_value *dv = dp_latent_with(h, l->map, den_t);
        den_t = NULL;
        if (!dv)
            goto oom;
        rc = h->set_output(call, 1, dv);
    }
    goto out;
oom:
    rc = h->fail(call, "RuntimeError", "out of memory while sampling (%llu MiB free)",
                 (unsigned long long)(dp_mem_available() >> 20));
out:
    if (have_guider)
        dp_guider_free(&g);
    h->tensor_release(out_t);
    h->tensor_release(den_t);
    free(latent);
    free(noise);
    free(mask);
    free(mask_full);
    free(x0);
    free(xin);
    free(bidx);
    return rc;
}

/* common_ksampler (spec §3.1): the KSampler schedule, then run_sampling. */
static int common_ksampler(comfy_call *call, dp_model *model, uint64_t seed, int steps,
                           double cfg, const char *sampler, const char *scheduler,
                           const comfy_value *pos, const comfy_value *neg, double denoise,
                           int disable_noise, int start_step, int last_step,
                           int force_full_denoise)
{
    const comfy_host *h = call->host;
    int sched = cd_scheduler_from_name(scheduler);
    if (sched < 0)
        sched = 0; /* unknown names fall back to the first, as ComfyUI */
    if (cd_sampler_find(sampler) < 0)
        sampler = cd_sampler_name(0);
    double eff = denoise > 0.9999 ? (double)steps : (double)steps / (denoise > 0 ? denoise : 1);
    if (eff > CD_SCHED_MAX_STEPS)
        return h->fail(call, "ValueError", "too many steps (%d at denoise %g)", steps, denoise);
    size_t cap = cd_scheduler_max_len((int)eff + 1) + 2;
    float *sigmas = malloc(cap * sizeof(float));
    if (!sigmas)
        return h->fail(call, "RuntimeError", "out of memory");
    size_t nsig = 0;
    int sr = cd_ksampler_sigmas(model->ms, (cd_scheduler)sched, sampler, steps, denoise,
                                start_step, last_step, force_full_denoise, sigmas, cap, &nsig);
    if (sr < 0) {
        free(sigmas);
        return h->fail(call, "ValueError", "cannot compute the %s schedule for %d steps",
                       scheduler, steps);
    }
    dp_latent l;
    int rc = dp_in_latent(call, "latent_image", &l);
    if (rc == COMFY_OK) {
        run_sampler smp = {sampler, NULL, NULL};
        rc = run_sampling(call, model, &l, pos, neg, cfg, &smp, sigmas, nsig, sr == 1, seed,
                          !disable_noise, 0);
        dp_latent_free(&l);
    }
    free(sigmas);
    return rc;
}

static int read_common(comfy_call *call, const char *seed_name, dp_model **model, uint64_t *seed,
                       int *steps, double *cfg, const char **sampler, const char **scheduler,
                       const comfy_value **pos, const comfy_value **neg)
{
    const comfy_host *h = call->host;
    int64_t st;
    int rc;
    if ((rc = dp_in_uint(call, seed_name, seed)) || (rc = dp_in_int(call, "steps", &st)) ||
        (rc = dp_in_float(call, "cfg", cfg)) || (rc = dp_in_string(call, "sampler_name", sampler)) ||
        (rc = dp_in_string(call, "scheduler", scheduler)))
        return rc;
    if (st < 1 || st > 10000)
        return h->fail(call, "ValueError", "steps must be in 1..10000");
    *steps = (int)st;
    *model = dp_in_model(call, "model");
    if (!*model)
        return COMFY_ERR;
    *pos = h->input(call, "positive");
    *neg = h->input(call, "negative");
    if (h->value_kind(*pos) != COMFY_KIND_LIST || h->value_kind(*neg) != COMFY_KIND_LIST)
        return h->fail(call, "ValueError", "positive and negative must be CONDITIONING");
    return COMFY_OK;
}

static int ksampler_execute(comfy_call *call)
{
    dp_model *model = NULL;
    uint64_t seed = 0;
    int steps = 0;
    double cfg, denoise;
    const char *sampler, *scheduler;
    const comfy_value *pos = NULL, *neg = NULL;
    int rc = read_common(call, "seed", &model, &seed, &steps, &cfg, &sampler, &scheduler, &pos,
                         &neg);
    if (rc || (rc = dp_in_float(call, "denoise", &denoise)))
        return rc;
    return common_ksampler(call, model, seed, steps, cfg, sampler, scheduler, pos, neg, denoise,
                           0, -1, -1, 0);
}

static int ksampler_advanced_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    dp_model *model = NULL;
    uint64_t seed = 0;
    int steps = 0;
    double cfg;
    const char *sampler, *scheduler, *add_noise, *leftover;
    const comfy_value *pos = NULL, *neg = NULL;
    int64_t start, end;
    int rc = read_common(call, "noise_seed", &model, &seed, &steps, &cfg, &sampler, &scheduler,
                         &pos, &neg);
    if (rc || (rc = dp_in_string(call, "add_noise", &add_noise)) ||
        (rc = dp_in_string(call, "return_with_leftover_noise", &leftover)) ||
        (rc = dp_in_int(call, "start_at_step", &start)) ||
        (rc = dp_in_int(call, "end_at_step", &end)))
        return rc;
    if (start < 0 || start > 10000 || end < 0 || end > 10000)
        return h->fail(call, "ValueError", "start_at_step and end_at_step must be in 0..10000");
    return common_ksampler(call, model, seed, steps, cfg, sampler, scheduler, pos, neg, 1.0,
                           strcmp(add_noise, "disable") == 0, (int)start, (int)end,
                           strcmp(leftover, "enable") != 0);
}

/* ------------------------------------------------------ MODEL interface */

static int model_info(void *self, comfy_model_info *out)
{
    dp_model *m = self;
    if (out->size < sizeof(comfy_model_info))
        return COMFY_EINVAL;
    out->latent_channels = m->latent_channels;
    out->v_prediction = m->v_pred;
    out->latent_scale = m->latent_scale;
    out->sigma_min = cd_ms_sigma_min(m->ms);
    out->sigma_max = cd_ms_sigma_max(m->ms);
    return COMFY_OK;
}

static int model_sigmas(void *self, const char *scheduler, int32_t steps, float *out, size_t cap,
                        size_t *n_out)
{
    dp_model *m = self;
    int s = cd_scheduler_from_name(scheduler);
    if (s < 0 || steps < 1 || steps > CD_SCHED_MAX_STEPS)
        return COMFY_EINVAL;
    return cd_scheduler_sigmas(m->ms, (cd_scheduler)s, steps, out, cap, n_out) ? COMFY_EINVAL
                                                                              : COMFY_OK;
}

struct comfy_guider {
    dp_guider g;
};

static int model_guider_new(void *self, comfy_call *call, const comfy_value *positive,
                            const comfy_value *negative, double cfg, const int64_t shape[4],
                            comfy_guider **out)
{
    comfy_guider *cg = malloc(sizeof *cg);
    if (!cg)
        return call->host->fail(call, "RuntimeError", "out of memory");
    int rc = dp_guider_init(&cg->g, call, self, positive, negative, cfg, shape[0], shape[1],
                            shape[2], shape[3]);
    if (rc) {
        free(cg);
        return rc;
    }
    *out = cg;
    return COMFY_OK;
}

static int model_guider_denoise(comfy_guider *cg, const float *x, float sigma, float *denoised)
{
    dp_guider *g = &cg->g;
    size_t n = (size_t)(g->B * g->C * g->H * g->W);
    int rc = dp_guider_denoise(g, x, sigma, denoised, NULL, n);
    if (rc == COMFY_EINTERRUPTED || rc == COMFY_OK)
        return rc;
    return dp_fail_status(g->call, rc, "denoising failed", g->err);
}

static void model_guider_free(comfy_guider *cg)
{
    if (!cg)
        return;
    dp_guider_free(&cg->g);
    free(cg);
}

const comfy_model_iface dp_model_iface = {
    .size = sizeof(comfy_model_iface),
    .info = model_info,
    .sigmas = model_sigmas,
    .guider_new = model_guider_new,
    .guider_denoise = model_guider_denoise,
    .guider_free = model_guider_free,
};

/* ------------------------------------------------------ custom sampling */

/* Our SAMPLER objects: a sampler of the library by name. */
typedef struct dp_sampler {
    char name[48];
} dp_sampler;

typedef struct iface_den {
    const comfy_denoiser *d;
} iface_den;

static int iface_den_cb(void *user, const float *x, float sigma, float *denoised, float *uncond,
                        size_t n)
{
    iface_den *w = user;
    (void)n;
    if (uncond)
        return -EINVAL; /* the _cfg_pp samplers need the guider itself */
    return w->d->denoise(w->d->user, x, sigma, denoised);
}

static int iface_progress(void *user, int step, int total, const float *x, const float *den,
                          size_t n)
{
    comfy_call *call = user;
    (void)x;
    (void)den;
    (void)n;
    return call->host->progress(call, step + 1, total, NULL) == COMFY_EINTERRUPTED;
}

/* The SDK face of our samplers (comfy_sampler_iface.sample): the plain
 * sampler over any denoiser.  The diffusion pack itself runs them through
 * KSAMPLER (run_sampling) instead. */
static int sampler_sample(void *self, comfy_call *call, const comfy_denoiser *d, float *x,
                          size_t n, const float *sigmas, size_t nsig, uint64_t seed)
{
    dp_sampler *s = self;
    iface_den w = {d};
    cd_sampler_opts o;
    cd_sampler_opts_init(&o);
    o.has_seed = 1;
    o.seed = seed;
    o.progress = iface_progress;
    o.progress_user = call;
    int rc = cd_sample(s->name, iface_den_cb, &w, x, n, sigmas, nsig, &o);
    if (rc == CD_SAMPLE_INTERRUPTED || rc == COMFY_EINTERRUPTED)
        return COMFY_EINTERRUPTED;
    if (rc)
        return call->host->fail(call, "RuntimeError", "sampler %s failed (%d)", s->name, rc);
    return COMFY_OK;
}

static const comfy_sampler_iface dp_sampler_iface = {
    .size = sizeof(comfy_sampler_iface),
    .sample = sampler_sample,
};

/* NOISE and GUIDER objects are this pack's own (no SDK interface). */
static const struct { uint32_t size; } noise_tag = {sizeof noise_tag}, guider_tag = {sizeof guider_tag};

typedef struct dp_noise {
    int add;
    uint64_t seed;
} dp_noise;

typedef struct dp_guider_obj {
    const comfy_host *h;
    dp_model *model;           /* reference */
    comfy_value *pos, *neg;    /* references; neg NULL for BasicGuider */
    double cfg;
} dp_guider_obj;

static void guider_obj_free(void *self)
{
    dp_guider_obj *g = self;
    dp_model_unref(g->model);
    g->h->value_release(g->pos);
    g->h->value_release(g->neg);
    free(g);
}

/* Reads input "sampler" into *smp (borrowed). */
static int in_sampler(comfy_call *call, run_sampler *smp)
{
    const comfy_host *h = call->host;
    const void *iface = NULL;
    void *self = NULL;
    if (h->value_get_object(h->input(call, "sampler"), "SAMPLER", &iface, &self) != COMFY_OK ||
        !iface || ((const comfy_sampler_iface *)iface)->size < sizeof(comfy_sampler_iface) ||
        !((const comfy_sampler_iface *)iface)->sample)
        return h->fail(call, "ValueError", "sampler is not a SAMPLER this server can run");
    smp->iface = iface;
    smp->self = self;
    smp->name = iface == &dp_sampler_iface ? ((dp_sampler *)self)->name : NULL;
    return COMFY_OK;
}

/* Reads input `name` as SIGMAS (a 1-D tensor) into a malloc'd copy. */
static int in_sigmas(comfy_call *call, const char *name, float **out, size_t *n)
{
    const comfy_host *h = call->host;
    comfy_tensor *t = h->value_get_tensor(h->input(call, name));
    if (!t || t->ndim != 1)
        return h->fail(call, "ValueError", "%s is not SIGMAS (a 1-D tensor)", name);
    *n = (size_t)t->shape[0];
    *out = dp_tensor_f32(h, t);
    if (!*out)
        return h->fail(call, "RuntimeError", "out of memory");
    for (size_t i = 0; i < *n; i++)
        if (!isfinite((*out)[i])) {
            free(*out);
            return h->fail(call, "ValueError", "%s holds a non-finite sigma", name);
        }
    return COMFY_OK;
}

/* Output `index` = SIGMAS from v[0..n-1]. */
static int out_sigmas(comfy_call *call, uint32_t index, const float *v, size_t n)
{
    const comfy_host *h = call->host;
    int64_t shape[1] = {(int64_t)n};
    comfy_tensor *t = h->tensor_new(h->ctx, COMFY_F32, 1, shape);
    comfy_value *val = t ? h->value_tensor(h->ctx, t) : NULL;
    if (!val)
        return h->fail(call, "RuntimeError", "out of memory");
    if (n)
        memcpy(t->data, v, n * sizeof(float));
    return h->set_output(call, index, val);
}

static void free_ptr(void *p) { free(p); }

static int ksampler_select_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const char *name;
    int rc = dp_in_string(call, "sampler_name", &name);
    if (rc)
        return rc;
    if (cd_sampler_find(name) < 0)
        return h->fail(call, "ValueError", "unknown sampler %s", name);
    dp_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return h->fail(call, "RuntimeError", "out of memory");
    snprintf(s->name, sizeof s->name, "%s", name);
    comfy_value *v = h->value_object(h->ctx, "SAMPLER", &dp_sampler_iface, s, free_ptr);
    if (!v) {
        free(s);
        return h->fail(call, "RuntimeError", "out of memory");
    }
    return h->set_output(call, 0, v);
}

static int basic_scheduler_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const char *sched;
    int64_t steps;
    double denoise;
    int rc;
    if ((rc = dp_in_string(call, "scheduler", &sched)) || (rc = dp_in_int(call, "steps", &steps)) ||
        (rc = dp_in_float(call, "denoise", &denoise)))
        return rc;
    dp_model *m = dp_in_model(call, "model");
    if (!m)
        return COMFY_ERR;
    int si = cd_scheduler_from_name(sched);
    if (si < 0)
        return h->fail(call, "ValueError", "unknown scheduler %s", sched);
    if (steps < 1 || steps > 10000)
        return h->fail(call, "ValueError", "steps must be in 1..10000");
    if (denoise < 1.0 && denoise <= 0.0)
        return out_sigmas(call, 0, NULL, 0);
    int64_t total = denoise < 1.0 ? (int64_t)((double)steps / denoise) : steps;
    if (total > CD_SCHED_MAX_STEPS)
        return h->fail(call, "ValueError", "too many steps (%lld)", (long long)total);
    size_t cap = cd_scheduler_max_len((int)total) + 2, n = 0;
    float *sig = malloc(cap * sizeof(float));
    if (!sig)
        return h->fail(call, "RuntimeError", "out of memory");
    if (cd_scheduler_sigmas(m->ms, (cd_scheduler)si, (int)total, sig, cap, &n) != 0) {
        free(sig);
        return h->fail(call, "ValueError", "cannot compute the %s schedule", sched);
    }
    size_t keep = (size_t)steps + 1 < n ? (size_t)steps + 1 : n;
    rc = out_sigmas(call, 0, sig + (n - keep), keep);
    free(sig);
    return rc;
}

static int karras_exp_common(comfy_call *call, int karras)
{
    const comfy_host *h = call->host;
    int64_t steps;
    double smax, smin, rho = 7.0;
    int rc;
    if ((rc = dp_in_int(call, "steps", &steps)) || (rc = dp_in_float(call, "sigma_max", &smax)) ||
        (rc = dp_in_float(call, "sigma_min", &smin)) ||
        (karras && (rc = dp_in_float(call, "rho", &rho))))
        return rc;
    if (steps < 1 || steps > 10000)
        return h->fail(call, "ValueError", "steps must be in 1..10000");
    float *sig = malloc((size_t)(steps + 1) * sizeof(float));
    if (!sig)
        return h->fail(call, "RuntimeError", "out of memory");
    if (karras)
        cd_sigmas_karras((int)steps, smin, smax, rho, sig);
    else
        cd_sigmas_exponential((int)steps, smin, smax, sig);
    rc = out_sigmas(call, 0, sig, (size_t)steps + 1);
    free(sig);
    return rc;
}

static int karras_execute(comfy_call *call) { return karras_exp_common(call, 1); }
static int exponential_execute(comfy_call *call) { return karras_exp_common(call, 0); }

static int split_sigmas_execute(comfy_call *call)
{
    int64_t step;
    float *sig;
    size_t n;
    int rc;
    if ((rc = dp_in_int(call, "step", &step)) || (rc = in_sigmas(call, "sigmas", &sig, &n)))
        return rc;
    /* sigmas[:step + 1] and sigmas[step:], Python slicing. */
    size_t s = step < 0 ? 0 : (size_t)step;
    size_t hi = s + 1 < n ? s + 1 : n;
    size_t lo = s < n ? s : n;
    if ((rc = out_sigmas(call, 0, sig, hi)) == COMFY_OK)
        rc = out_sigmas(call, 1, sig + lo, n - lo);
    free(sig);
    return rc;
}

static int noise_out(comfy_call *call, int add, uint64_t seed)
{
    const comfy_host *h = call->host;
    dp_noise *nz = malloc(sizeof *nz);
    if (!nz)
        return h->fail(call, "RuntimeError", "out of memory");
    nz->add = add;
    nz->seed = seed;
    comfy_value *v = h->value_object(h->ctx, "NOISE", &noise_tag, nz, free_ptr);
    if (!v) {
        free(nz);
        return h->fail(call, "RuntimeError", "out of memory");
    }
    return h->set_output(call, 0, v);
}

static int random_noise_execute(comfy_call *call)
{
    uint64_t seed;
    int rc = dp_in_uint(call, "noise_seed", &seed);
    return rc ? rc : noise_out(call, 1, seed);
}

static int disable_noise_execute(comfy_call *call) { return noise_out(call, 0, 0); }

static int guider_out(comfy_call *call, const char *pos_name, const char *neg_name, double cfg)
{
    const comfy_host *h = call->host;
    dp_model *m = dp_in_model(call, "model");
    if (!m)
        return COMFY_ERR;
    const comfy_value *pos = h->input(call, pos_name);
    const comfy_value *neg = neg_name ? h->input(call, neg_name) : NULL;
    if (h->value_kind(pos) != COMFY_KIND_LIST || (neg_name && h->value_kind(neg) != COMFY_KIND_LIST))
        return h->fail(call, "ValueError", "the conditioning inputs must be CONDITIONING");
    dp_guider_obj *g = calloc(1, sizeof *g);
    if (!g)
        return h->fail(call, "RuntimeError", "out of memory");
    g->h = h;
    g->model = dp_model_ref(m);
    g->pos = h->value_retain(pos);
    g->neg = neg ? h->value_retain(neg) : NULL;
    g->cfg = cfg;
    comfy_value *v = h->value_object(h->ctx, "GUIDER", &guider_tag, g, guider_obj_free);
    if (!v) {
        guider_obj_free(g);
        return h->fail(call, "RuntimeError", "out of memory");
    }
    return h->set_output(call, 0, v);
}

static int cfg_guider_execute(comfy_call *call)
{
    double cfg;
    int rc = dp_in_float(call, "cfg", &cfg);
    return rc ? rc : guider_out(call, "positive", "negative", cfg);
}

static int basic_guider_execute(comfy_call *call)
{
    return guider_out(call, "conditioning", NULL, 1.0);
}

static int sampler_custom_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int add_noise;
    uint64_t seed;
    double cfg;
    run_sampler smp;
    float *sig = NULL;
    size_t nsig = 0;
    int rc;
    if ((rc = dp_in_bool(call, "add_noise", &add_noise)) ||
        (rc = dp_in_uint(call, "noise_seed", &seed)) || (rc = dp_in_float(call, "cfg", &cfg)) ||
        (rc = in_sampler(call, &smp)))
        return rc;
    dp_model *m = dp_in_model(call, "model");
    if (!m)
        return COMFY_ERR;
    const comfy_value *pos = h->input(call, "positive"), *neg = h->input(call, "negative");
    if (h->value_kind(pos) != COMFY_KIND_LIST || h->value_kind(neg) != COMFY_KIND_LIST)
        return h->fail(call, "ValueError", "positive and negative must be CONDITIONING");
    if ((rc = in_sigmas(call, "sigmas", &sig, &nsig)))
        return rc;
    dp_latent l;
    if ((rc = dp_in_latent(call, "latent_image", &l)) == COMFY_OK) {
        rc = run_sampling(call, m, &l, pos, neg, cfg, &smp, sig, nsig, 0, seed, add_noise, 1);
        dp_latent_free(&l);
    }
    free(sig);
    return rc;
}

static int sampler_custom_advanced_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const void *ni = NULL, *gi = NULL;
    void *ns = NULL, *gs = NULL;
    run_sampler smp;
    int rc;
    if (h->value_get_object(h->input(call, "noise"), "NOISE", &ni, &ns) != COMFY_OK ||
        ni != (const void *)&noise_tag)
        return h->fail(call, "ValueError", "noise is not a NOISE of RandomNoise / DisableNoise");
    if (h->value_get_object(h->input(call, "guider"), "GUIDER", &gi, &gs) != COMFY_OK ||
        gi != (const void *)&guider_tag)
        return h->fail(call, "ValueError", "guider is not a GUIDER of CFGGuider / BasicGuider");
    if ((rc = in_sampler(call, &smp)))
        return rc;
    const dp_noise *nz = ns;
    const dp_guider_obj *g = gs;
    float *sig = NULL;
    size_t nsig = 0;
    if ((rc = in_sigmas(call, "sigmas", &sig, &nsig)))
        return rc;
    dp_latent l;
    if ((rc = dp_in_latent(call, "latent_image", &l)) == COMFY_OK) {
        rc = run_sampling(call, g->model, &l, g->pos, g->neg, g->cfg, &smp, sig, nsig, 0,
                          nz->seed, nz->add, 1);
        dp_latent_free(&l);
    }
    free(sig);
    return rc;
}

/* --------------------------------------------------------- declarations */

static int list_samplers(const comfy_host *h, void *user, comfy_value *out)
{
    (void)user;
    for (int i = 0; i < cd_sampler_count(); i++)
        if (h->list_append(out, h->value_string(h->ctx, cd_sampler_name(i), (size_t)-1)) !=
            COMFY_OK)
            return COMFY_ENOMEM;
    return COMFY_OK;
}

static int list_schedulers(const comfy_host *h, void *user, comfy_value *out)
{
    (void)user;
    for (int i = 0; cd_scheduler_name(i); i++)
        if (h->list_append(out, h->value_string(h->ctx, cd_scheduler_name(i), (size_t)-1)) !=
            COMFY_OK)
            return COMFY_ENOMEM;
    return COMFY_OK;
}

static const char *const enable_disable[] = {"enable", "disable", NULL};
static const char *const disable_enable[] = {"disable", "enable", NULL};

#define IN(name, type, opts) {sizeof(comfy_input_def), name, type, COMFY_REQUIRED, opts, NULL, NULL, NULL, 0}
#define INF(name, fn, opts) {sizeof(comfy_input_def), name, "COMBO", COMFY_REQUIRED, opts, NULL, fn, NULL, 0}
#define INC(name, list) {sizeof(comfy_input_def), name, "COMBO", COMFY_REQUIRED, NULL, list, NULL, NULL, 0}
#define N(arr) (uint32_t)(sizeof arr / sizeof arr[0])

static const comfy_input_def ksampler_in[] = {
    IN("model", "MODEL", "{\"tooltip\": \"The model used for denoising the input latent.\"}"),
    IN("seed", "INT",
       "{\"default\": 0, \"min\": 0, \"max\": 18446744073709551615, \"control_after_generate\": "
       "true, \"tooltip\": \"The random seed used for creating the noise.\"}"),
    IN("steps", "INT",
       "{\"default\": 20, \"min\": 1, \"max\": 10000, \"tooltip\": \"The number of steps used "
       "in the denoising process.\"}"),
    IN("cfg", "FLOAT",
       "{\"default\": 8.0, \"min\": 0.0, \"max\": 100.0, \"step\": 0.1, \"round\": 0.01, "
       "\"tooltip\": \"The Classifier-Free Guidance scale balances creativity and adherence to "
       "the prompt. Higher values result in images more closely matching the prompt however "
       "too high values will negatively impact quality.\"}"),
    INF("sampler_name", list_samplers,
        "{\"tooltip\": \"The algorithm used when sampling, this can affect the quality, speed, "
        "and style of the generated output.\"}"),
    INF("scheduler", list_schedulers,
        "{\"tooltip\": \"The scheduler controls how noise is gradually removed to form the "
        "image.\"}"),
    IN("positive", "CONDITIONING",
       "{\"tooltip\": \"The conditioning describing the attributes you want to include in the "
       "image.\"}"),
    IN("negative", "CONDITIONING",
       "{\"tooltip\": \"The conditioning describing the attributes you want to exclude from "
       "the image.\"}"),
    IN("latent_image", "LATENT", "{\"tooltip\": \"The latent image to denoise.\"}"),
    IN("denoise", "FLOAT",
       "{\"default\": 1.0, \"min\": 0.0, \"max\": 1.0, \"step\": 0.01, \"tooltip\": \"The "
       "amount of denoising applied, lower values will maintain the structure of the initial "
       "image allowing for image to image sampling.\"}"),
};

static const comfy_input_def ksampler_adv_in[] = {
    IN("model", "MODEL", NULL),
    INC("add_noise", enable_disable),
    IN("noise_seed", "INT",
       "{\"default\": 0, \"min\": 0, \"max\": 18446744073709551615, \"control_after_generate\": "
       "true}"),
    IN("steps", "INT", "{\"default\": 20, \"min\": 1, \"max\": 10000}"),
    IN("cfg", "FLOAT",
       "{\"default\": 8.0, \"min\": 0.0, \"max\": 100.0, \"step\": 0.1, \"round\": 0.01}"),
    INF("sampler_name", list_samplers, NULL),
    INF("scheduler", list_schedulers, NULL),
    IN("positive", "CONDITIONING", NULL),
    IN("negative", "CONDITIONING", NULL),
    IN("latent_image", "LATENT", NULL),
    IN("start_at_step", "INT", "{\"default\": 0, \"min\": 0, \"max\": 10000}"),
    IN("end_at_step", "INT", "{\"default\": 10000, \"min\": 0, \"max\": 10000}"),
    INC("return_with_leftover_noise", disable_enable),
};

#define SEED_OPT "{\"default\": 0, \"min\": 0, \"max\": 18446744073709551615, \"control_after_generate\": true}"
#define CFG_OPT "{\"default\": 8.0, \"min\": 0.0, \"max\": 100.0, \"step\": 0.1, \"round\": 0.01}"
#define SIGMA_OPT(d) "{\"default\": " d ", \"min\": 0.0, \"max\": 5000.0, \"step\": 0.01, \"round\": false}"

static const comfy_input_def select_in[] = {INF("sampler_name", list_samplers, NULL)};
static const comfy_input_def basic_sched_in[] = {
    IN("model", "MODEL", NULL),
    INF("scheduler", list_schedulers, NULL),
    IN("steps", "INT", "{\"default\": 20, \"min\": 1, \"max\": 10000}"),
    IN("denoise", "FLOAT", "{\"default\": 1.0, \"min\": 0.0, \"max\": 1.0, \"step\": 0.01}"),
};
static const comfy_input_def karras_in[] = {
    IN("steps", "INT", "{\"default\": 20, \"min\": 1, \"max\": 10000}"),
    IN("sigma_max", "FLOAT", SIGMA_OPT("14.614642")),
    IN("sigma_min", "FLOAT", SIGMA_OPT("0.0291675")),
    IN("rho", "FLOAT", "{\"default\": 7.0, \"min\": 0.0, \"max\": 100.0, \"step\": 0.01, \"round\": false}"),
};
static const comfy_input_def exponential_in[] = {
    IN("steps", "INT", "{\"default\": 20, \"min\": 1, \"max\": 10000}"),
    IN("sigma_max", "FLOAT", SIGMA_OPT("14.614642")),
    IN("sigma_min", "FLOAT", SIGMA_OPT("0.0291675")),
};
static const comfy_input_def split_in[] = {
    IN("sigmas", "SIGMAS", NULL),
    IN("step", "INT", "{\"default\": 0, \"min\": 0, \"max\": 10000}"),
};
static const comfy_input_def random_noise_in[] = {IN("noise_seed", "INT", SEED_OPT)};
static const comfy_input_def cfg_guider_in[] = {
    IN("model", "MODEL", NULL),
    IN("positive", "CONDITIONING", NULL),
    IN("negative", "CONDITIONING", NULL),
    IN("cfg", "FLOAT", CFG_OPT),
};
static const comfy_input_def basic_guider_in[] = {
    IN("model", "MODEL", NULL),
    IN("conditioning", "CONDITIONING", NULL),
};
static const comfy_input_def custom_in[] = {
    IN("model", "MODEL", NULL),
    IN("add_noise", "BOOLEAN", "{\"default\": true}"),
    IN("noise_seed", "INT", SEED_OPT),
    IN("cfg", "FLOAT", CFG_OPT),
    IN("positive", "CONDITIONING", NULL),
    IN("negative", "CONDITIONING", NULL),
    IN("sampler", "SAMPLER", NULL),
    IN("sigmas", "SIGMAS", NULL),
    IN("latent_image", "LATENT", NULL),
};
static const comfy_input_def custom_adv_in[] = {
    IN("noise", "NOISE", NULL),
    IN("guider", "GUIDER", NULL),
    IN("sampler", "SAMPLER", NULL),
    IN("sigmas", "SIGMAS", NULL),
    IN("latent_image", "LATENT", NULL),
};
static const comfy_output_def sampler_out[] = {{sizeof(comfy_output_def), "SAMPLER", NULL, NULL, 0}};
static const comfy_output_def sigmas_out[] = {{sizeof(comfy_output_def), "SIGMAS", NULL, NULL, 0}};
static const comfy_output_def split_out[] = {
    {sizeof(comfy_output_def), "SIGMAS", "high_sigmas", NULL, 0},
    {sizeof(comfy_output_def), "SIGMAS", "low_sigmas", NULL, 0},
};
static const comfy_output_def noise_out_def[] = {{sizeof(comfy_output_def), "NOISE", NULL, NULL, 0}};
static const comfy_output_def guider_out_def[] = {{sizeof(comfy_output_def), "GUIDER", NULL, NULL, 0}};
static const comfy_output_def custom_out[] = {
    {sizeof(comfy_output_def), "LATENT", "output", NULL, 0},
    {sizeof(comfy_output_def), "LATENT", "denoised_output", NULL, 0},
};

#define CUSTOM(cls, cat, ins, outs, fn)                                                        \
    {.size = sizeof(comfy_node_def), .name = cls, .display_name = cls,                         \
     .category = "sampling/custom_sampling" cat, .module = "comfy_extras.nodes_custom_sampler", \
     .inputs = ins, .n_inputs = N(ins), .outputs = outs, .n_outputs = N(outs), .execute = fn}

static const comfy_output_def ksampler_out[] = {
    {sizeof(comfy_output_def), "LATENT", NULL, "The denoised latent.", 0},
};
static const comfy_output_def latent_out[] = {
    {sizeof(comfy_output_def), "LATENT", NULL, NULL, 0},
};

static const comfy_node_def sampling_nodes[] = {
    {.size = sizeof(comfy_node_def), .name = "KSampler", .display_name = "KSampler",
     .category = "sampling",
     .description =
         "Uses the provided model, positive and negative conditioning to denoise the latent "
         "image.",
     .module = "nodes", .inputs = ksampler_in, .n_inputs = N(ksampler_in),
     .outputs = ksampler_out, .n_outputs = 1, .flags = COMFY_NODE_OUTPUT_TOOLTIPS,
     .execute = ksampler_execute},
    {.size = sizeof(comfy_node_def), .name = "KSamplerAdvanced",
     .display_name = "KSampler (Advanced)", .category = "sampling", .module = "nodes",
     .inputs = ksampler_adv_in, .n_inputs = N(ksampler_adv_in), .outputs = latent_out,
     .n_outputs = 1, .execute = ksampler_advanced_execute},
    /* comfy_extras.nodes_custom_sampler, in its NODE_CLASS_MAPPINGS order. */
    CUSTOM("SamplerCustom", "", custom_in, custom_out, sampler_custom_execute),
    CUSTOM("BasicScheduler", "/schedulers", basic_sched_in, sigmas_out, basic_scheduler_execute),
    CUSTOM("KarrasScheduler", "/schedulers", karras_in, sigmas_out, karras_execute),
    CUSTOM("ExponentialScheduler", "/schedulers", exponential_in, sigmas_out,
           exponential_execute),
    CUSTOM("KSamplerSelect", "/samplers", select_in, sampler_out, ksampler_select_execute),
    CUSTOM("SplitSigmas", "/sigmas", split_in, split_out, split_sigmas_execute),
    CUSTOM("CFGGuider", "/guiders", cfg_guider_in, guider_out_def, cfg_guider_execute),
    CUSTOM("BasicGuider", "/guiders", basic_guider_in, guider_out_def, basic_guider_execute),
    CUSTOM("RandomNoise", "/noise", random_noise_in, noise_out_def, random_noise_execute),
    {.size = sizeof(comfy_node_def), .name = "DisableNoise", .display_name = "DisableNoise",
     .category = "sampling/custom_sampling/noise", .module = "comfy_extras.nodes_custom_sampler",
     .inputs = NULL, .n_inputs = 0, .outputs = noise_out_def, .n_outputs = 1,
     .execute = disable_noise_execute},
    CUSTOM("SamplerCustomAdvanced", "", custom_adv_in, custom_out,
           sampler_custom_advanced_execute),
};

int dp_register_sampling(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < N(sampling_nodes); i++) {
        int rc = h->register_node(reg, &sampling_nodes[i]);
        if (rc)
            return rc;
    }
    return COMFY_OK;
}
