/*
 * nodes_sampling.c — KSampler and KSamplerAdvanced (ComfyUI's
 * common_ksampler, shared/spec/nodes-and-models.md §3.1-3.2), the MODEL's
 * SDK interface (comfy/diffusion.h: info, sigmas, guider), and the model
 * sampling tables.  The one file (with cfg_guider.c) that includes the
 * sampling library's headers.
 *
 * Progress: one `progress` per sampler step (value step + 1, max the
 * schedule's steps), with a latent2rgb preview of batch item 0 when
 * --preview-method is latent2rgb or auto.  Execute runs on the executor
 * thread.
 */
#include <errno.h>
#include <math.h>
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
    int preview;              /* latent2rgb previews wanted */
    int interrupted;
} progress_ctx;

static int want_previews(const comfy_host *h)
{
    if (!COMFY_HAS_FIELD(h, comfy_host, setting))
        return 0;
    const char *m = h->setting(h->ctx, "preview-method");
    return m && (strcmp(m, "latent2rgb") == 0 || strcmp(m, "auto") == 0 ||
                 strcmp(m, "taesd") == 0); /* taesd falls back to latent2rgb */
}

static int on_step(void *user, int step, int total, const float *x, const float *denoised,
                   size_t n)
{
    progress_ctx *p = user;
    const comfy_host *h = p->call->host;
    (void)x;
    (void)n;
    comfy_tensor *img = NULL;
    if (p->preview && p->C == 4) {
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

/* common_ksampler.  Sets output 0. */
static int common_ksampler(comfy_call *call, dp_model *model, uint64_t seed, int steps,
                           double cfg, const char *sampler, const char *scheduler,
                           const comfy_value *pos, const comfy_value *neg, double denoise,
                           int disable_noise, int start_step, int last_step,
                           int force_full_denoise)
{
    const comfy_host *h = call->host;
    dp_latent l;
    int rc = dp_in_latent(call, "latent_image", &l);
    if (rc)
        return rc;
    float *latent = NULL, *noise = NULL, *mask = NULL, *mask_full = NULL, *sigmas = NULL;
    int64_t *bidx = NULL;
    size_t nbidx = 0;
    dp_guider g;
    int have_guider = 0;
    comfy_tensor *out_t = NULL;
    int64_t B = l.b, C = l.c, H = l.h, W = l.w;
    if (B < 1 || C < 1 || H < 1 || W < 1) {
        rc = h->fail(call, "ValueError", "the latent is empty");
        goto out;
    }
    size_t n = (size_t)(B * C * H * W);

    /* fix_empty_latent_channels */
    int64_t MC = model->latent_channels;
    latent = malloc(n * sizeof(float));
    if (!latent)
        goto oom;
    memcpy(latent, l.data, n * sizeof(float));
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
    if (C != model->in_channels) {
        rc = h->fail(call, "RuntimeError", "the latent has %lld channels but the model takes %d%s",
                     (long long)C, model->in_channels,
                     model->in_channels > 4 ? " (inpainting models are not supported yet)" : "");
        goto out;
    }

    /* Noise. */
    noise = calloc(n, sizeof(float));
    if (!noise)
        goto oom;
    const comfy_value *bi = h->map_get(l.map, "batch_index");
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
    if (!disable_noise) {
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
    mask = read_noise_mask(h, l.map, &mn, &mh, &mw, &bad);
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

    /* Sigmas. */
    int sched = cd_scheduler_from_name(scheduler);
    if (sched < 0)
        sched = 0; /* unknown names fall back to the first, as ComfyUI */
    if (cd_sampler_find(sampler) < 0)
        sampler = cd_sampler_name(0);
    double eff = denoise > 0.9999 ? (double)steps : (double)steps / (denoise > 0 ? denoise : 1);
    if (eff > CD_SCHED_MAX_STEPS) {
        rc = h->fail(call, "ValueError", "too many steps (%d at denoise %g)", steps, denoise);
        goto out;
    }
    size_t cap = cd_scheduler_max_len((int)eff + 1) + 2;
    sigmas = malloc(cap * sizeof(float));
    if (!sigmas)
        goto oom;
    size_t nsig = 0;
    int sr = cd_ksampler_sigmas(model->ms, (cd_scheduler)sched, sampler, steps, denoise,
                                start_step, last_step, force_full_denoise, sigmas, cap, &nsig);
    if (sr < 0) {
        rc = h->fail(call, "ValueError", "cannot compute the %s schedule for %d steps", scheduler,
                     steps);
        goto out;
    }
    out_t = dp_new_tensor(call, 4, (int64_t[4]){B, C, H, W});
    if (!out_t) {
        rc = COMFY_ERR;
        goto out;
    }
    float *res = out_t->data;
    if (sr == 1 || nsig == 0) {
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
        rc = dp_guider_init(&g, call, model, pos, neg, cfg, B, C, H, W);
        if (rc)
            goto out;
        have_guider = 1;
        progress_ctx pc = {call, model, C, H, W, want_previews(h), 0};
        den_ctx dc = {&g, 0};
        cd_sampler_opts o;
        cd_sampler_opts_init(&o);
        o.has_seed = 1;
        o.seed = seed;
        o.global_gen = &global;
        o.progress = on_step;
        o.progress_user = &pc;
        int e = cd_ksampler_sample(sampler, model->ms, denoise_cb, &dc, sigmas, nsig, noise,
                                   latent, mask_full, res, n, &o);
        if (e == CD_SAMPLE_INTERRUPTED || pc.interrupted || dc.interrupted) {
            rc = COMFY_EINTERRUPTED;
            goto out;
        }
        if (e == COMFY_ENOMEM || e == -ENOMEM) {
            rc = dp_fail_status(call, COMFY_ENOMEM, "sampling", g.err);
            goto out;
        }
        if (e) {
            rc = h->fail(call, "RuntimeError", "sampling with %s failed%s%s", sampler,
                         *g.err ? ": " : "", g.err);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            res[i] = res[i] / model->latent_scale;
    }
    comfy_value *v = dp_latent_with(h, l.map, out_t);
    out_t = NULL;
    if (!v)
        goto oom;
    rc = h->set_output(call, 0, v);
    goto out;
oom:
    rc = h->fail(call, "RuntimeError", "out of memory while sampling (%llu MiB free)",
                 (unsigned long long)(dp_mem_available() >> 20));
out:
    if (have_guider)
        dp_guider_free(&g);
    h->tensor_release(out_t);
    free(latent);
    free(noise);
    free(mask);
    free(mask_full);
    free(sigmas);
    free(bidx);
    dp_latent_free(&l);
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
