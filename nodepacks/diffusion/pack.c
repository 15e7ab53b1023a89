/*
 * pack.c — the diffusion node pack's entry point, its compute pool and the
 * input/output helpers every node file uses (see dpack.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpack.h"

#include "clip_tokenizer.h"

/* Ceiling on the elements of any tensor this pack makes (8 GiB of f32). */
#define DP_MAX_ELEMS (1LL << 31)

static ck_pool *g_pool;
static int g_pool_tried;

ck_pool *dp_pool(const comfy_host *h)
{
    if (g_pool_tried)
        return g_pool;
    g_pool_tried = 1;
    long threads = 0;
    if (COMFY_HAS_FIELD(h, comfy_host, setting)) {
        const char *s = h->setting(h->ctx, "threads");
        if (s) {
            char *end;
            threads = strtol(s, &end, 10);
            if (*end || threads < 0 || threads > 1024)
                threads = 0;
        }
    }
    g_pool = ck_pool_new((int)threads);
    if (!g_pool)
        h->log(h->ctx, COMFY_LOG_WARNING,
               "diffusion: no thread pool, computing on one thread");
    return g_pool;
}

uint64_t dp_mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "MemAvailable:", 13) == 0) {
            char *end;
            unsigned long long v = strtoull(line + 13, &end, 10);
            kb = (uint64_t)v;
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}

int dp_check_memory(comfy_call *call, const char *what, uint64_t bytes)
{
    uint64_t avail = dp_mem_available();
    if (bytes == 0 || (avail && bytes > avail)) {
        call->host->fail(call, "RuntimeError",
                         "not enough memory for %s: it needs %" PRIu64 " MiB, %" PRIu64
                         " MiB are free", what, (bytes + (1u << 20) - 1) >> 20, avail >> 20);
        return COMFY_ENOMEM;
    }
    return COMFY_OK;
}

ck_arena *dp_arena(comfy_call *call, const char *what, uint64_t bytes)
{
    if (dp_check_memory(call, what, bytes) != COMFY_OK)
        return NULL;
    ck_arena *a = ck_arena_new((size_t)bytes);
    if (!a)
        call->host->fail(call, "RuntimeError",
                         "not enough memory for %s: it needs %" PRIu64
                         " MiB, %" PRIu64 " MiB are free",
                         what, bytes >> 20, dp_mem_available() >> 20);
    return a;
}

int dp_interrupted(void *user)
{
    comfy_call *call = user;
    return call->host->interrupted(call) == COMFY_EINTERRUPTED;
}

int dp_fail_status(comfy_call *call, int status, const char *what, const char *err)
{
    const comfy_host *h = call->host;
    if (status == COMFY_EINTERRUPTED)
        return status;
    if (status == COMFY_ENOMEM)
        return h->fail(call, "RuntimeError", "%s: out of memory%s%s (%" PRIu64
                       " MiB free)", what, err && *err ? ": " : "",
                       err ? err : "", dp_mem_available() >> 20);
    return h->fail(call, "RuntimeError", "%s%s%s", what, err && *err ? ": " : "",
                   err ? err : "");
}

/* ------------------------------------------------------------- inputs */

int dp_in_int(comfy_call *call, const char *name, int64_t *out)
{
    const comfy_host *h = call->host;
    if (h->value_get_int(h->input(call, name), out) != COMFY_OK)
        return h->fail(call, "ValueError", "%s is not an INT", name);
    return COMFY_OK;
}

int dp_in_uint(comfy_call *call, const char *name, uint64_t *out)
{
    const comfy_host *h = call->host;
    const comfy_value *v = h->input(call, name);
    int64_t s;
    if (h->value_get_uint(v, out) == COMFY_OK)
        return COMFY_OK;
    if (h->value_get_int(v, &s) == COMFY_OK) { /* negative: two's complement */
        *out = (uint64_t)s;
        return COMFY_OK;
    }
    return h->fail(call, "ValueError", "%s is not an INT", name);
}

int dp_in_float(comfy_call *call, const char *name, double *out)
{
    const comfy_host *h = call->host;
    if (h->value_get_float(h->input(call, name), out) != COMFY_OK)
        return h->fail(call, "ValueError", "%s is not a FLOAT", name);
    return COMFY_OK;
}

int dp_in_bool(comfy_call *call, const char *name, int *out)
{
    const comfy_host *h = call->host;
    if (h->value_get_bool(h->input(call, name), out) != COMFY_OK)
        return h->fail(call, "ValueError", "%s is not a BOOLEAN", name);
    return COMFY_OK;
}

int dp_in_string(comfy_call *call, const char *name, const char **out)
{
    const comfy_host *h = call->host;
    *out = h->value_get_string(h->input(call, name));
    if (!*out)
        return h->fail(call, "ValueError", "%s is not a STRING", name);
    return COMFY_OK;
}

float *dp_tensor_f32(const comfy_host *h, const comfy_tensor *t)
{
    int64_t n = h->tensor_numel(t);
    if (n < 0 || n > DP_MAX_ELEMS)
        return NULL;
    float *out = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!out)
        return NULL;
    /* Walk the strided tensor in row-major order. */
    int64_t idx[COMFY_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (uint32_t d = 0; d < t->ndim; d++)
            off += idx[d] * t->strides[d];
        switch (t->dtype) {
        case COMFY_F32: out[i] = ((const float *)t->data)[off]; break;
        case COMFY_F64: out[i] = (float)((const double *)t->data)[off]; break;
        case COMFY_I64: out[i] = (float)((const int64_t *)t->data)[off]; break;
        case COMFY_I32: out[i] = (float)((const int32_t *)t->data)[off]; break;
        case COMFY_U8: out[i] = (float)((const uint8_t *)t->data)[off]; break;
        case COMFY_BOOL: out[i] = ((const uint8_t *)t->data)[off] ? 1.0f : 0.0f; break;
        case COMFY_F16: ck_f16_to_f32(NULL, (const uint16_t *)t->data + off, out + i, 1); break;
        case COMFY_BF16: ck_bf16_to_f32(NULL, (const uint16_t *)t->data + off, out + i, 1); break;
        default: free(out); return NULL;
        }
        for (int d = (int)t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d])
                break;
            idx[d] = 0;
        }
    }
    return out;
}

int dp_in_latent(comfy_call *call, const char *name, dp_latent *out)
{
    const comfy_host *h = call->host;
    memset(out, 0, sizeof *out);
    const comfy_value *v = h->input(call, name);
    const comfy_value *s = h->value_kind(v) == COMFY_KIND_MAP ? h->map_get(v, "samples") : NULL;
    comfy_tensor *t = s ? h->value_get_tensor(s) : NULL;
    if (!t)
        return h->fail(call, "ValueError", "%s is not a LATENT (a dict with samples)", name);
    if (t->ndim != 4)
        return h->fail(call, "ValueError",
                       "%s: latent samples must be [batch, channels, height, width], got %u "
                       "dimensions", name, t->ndim);
    out->map = v;
    out->b = t->shape[0];
    out->c = t->shape[1];
    out->h = t->shape[2];
    out->w = t->shape[3];
    if (t->dtype == COMFY_F32 && h->tensor_is_contiguous(t)) {
        out->data = t->data;
        return COMFY_OK;
    }
    out->owned = dp_tensor_f32(h, t);
    if (!out->owned)
        return h->fail(call, "RuntimeError", "%s: cannot read the latent samples", name);
    out->data = out->owned;
    return COMFY_OK;
}

void dp_latent_free(dp_latent *l)
{
    free(l->owned);
    l->owned = NULL;
}

comfy_tensor *dp_new_tensor(comfy_call *call, int ndim, const int64_t *shape)
{
    const comfy_host *h = call->host;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] && n > DP_MAX_ELEMS / shape[i])) {
            h->fail(call, "ValueError", "tensor too large (over %lld elements)",
                    (long long)DP_MAX_ELEMS);
            return NULL;
        }
        n *= shape[i];
    }
    if (n > DP_MAX_ELEMS) {
        h->fail(call, "ValueError", "tensor too large (over %lld elements)",
                (long long)DP_MAX_ELEMS);
        return NULL;
    }
    if (dp_check_memory(call, "the output tensor", (uint64_t)n * 4 + 1) != COMFY_OK)
        return NULL;
    comfy_tensor *t = h->tensor_new(h->ctx, COMFY_F32, ndim, shape);
    if (!t)
        h->fail(call, "RuntimeError", "out of memory making a tensor of %lld floats",
                (long long)n);
    return t;
}

comfy_value *dp_latent_with(const comfy_host *h, const comfy_value *src, comfy_tensor *samples)
{
    comfy_value *map = h->value_map(h->ctx);
    comfy_value *sv = h->value_tensor(h->ctx, samples);
    if (!map || !sv) {
        h->value_release(map);
        if (sv)
            h->value_release(sv);
        else
            h->tensor_release(samples);
        return NULL;
    }
    int have_samples = 0;
    size_t n = src ? h->map_len(src) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *k = h->map_key(src, i);
        if (strcmp(k, "samples") == 0) {
            have_samples = 1;
            if (h->map_set(map, k, sv) != COMFY_OK)
                goto fail;
            sv = NULL;
        } else if (h->map_set(map, k, h->value_retain(h->map_value(src, i))) != COMFY_OK) {
            goto fail;
        }
    }
    if (!have_samples && h->map_set(map, "samples", sv) != COMFY_OK) {
        sv = NULL;
        goto fail;
    }
    return map;
fail:
    h->value_release(sv);
    h->value_release(map);
    return NULL;
}

/* ------------------------------------------------------------- objects */

/* The CLIP iface: a tag only (text encoding is done by this pack's nodes),
 * so that a CLIP object of another pack is told apart. */
static const struct { uint32_t size; } clip_tag = { sizeof clip_tag };

static void model_destroy(void *self) { dp_model_unref(self); }
static void clip_destroy(void *self) { dp_clip_unref(self); }
static void vae_destroy(void *self) { dp_vae_unref(self); }

comfy_value *dp_model_value(const comfy_host *h, dp_model *m)
{
    comfy_value *v = h->value_object(h->ctx, "MODEL", &dp_model_iface, dp_model_ref(m),
                                     model_destroy);
    if (!v)
        dp_model_unref(m);
    return v;
}

comfy_value *dp_clip_value(const comfy_host *h, dp_clip *c)
{
    comfy_value *v = h->value_object(h->ctx, "CLIP", &clip_tag, dp_clip_ref(c), clip_destroy);
    if (!v)
        dp_clip_unref(c);
    return v;
}

comfy_value *dp_vae_value(const comfy_host *h, dp_vae *x)
{
    comfy_value *v = h->value_object(h->ctx, "VAE", &dp_vae_iface, dp_vae_ref(x), vae_destroy);
    if (!v)
        dp_vae_unref(x);
    return v;
}

/* Reads an OBJECT of `type` made by this pack (its iface must be ours). */
static void *in_object(comfy_call *call, const char *name, const char *type, const void *iface,
                       const char *what)
{
    const comfy_host *h = call->host;
    const comfy_value *v = h->input(call, name);
    const void *fi = NULL;
    void *self = NULL;
    if (!v || h->value_kind(v) == COMFY_KIND_NONE ||
        h->value_get_object(v, type, &fi, &self) != COMFY_OK || fi != iface || !self) {
        h->fail(call, "RuntimeError", "%s", what);
        return NULL;
    }
    return self;
}


dp_model *dp_in_model(comfy_call *call, const char *name)
{
    return in_object(call, name, "MODEL", &dp_model_iface,
                     "ERROR: model input is invalid: None\n\nIf the model is from a "
                     "checkpoint loader node your checkpoint does not contain a valid "
                     "diffusion model.");
}

dp_clip *dp_in_clip(comfy_call *call, const char *name)
{
    const comfy_host *h = call->host;
    const comfy_value *v = h->input(call, name);
    const void *fi = NULL;
    void *self = NULL;
    if (!v || h->value_get_object(v, "CLIP", &fi, &self) != COMFY_OK || !self || fi != (const void *)&clip_tag) {
        h->fail(call, "RuntimeError",
                "ERROR: clip input is invalid: None\n\nIf the clip is from a checkpoint "
                "loader node your checkpoint does not contain a valid clip or text encoder "
                "model.");
        return NULL;
    }
    return self;
}

dp_vae *dp_in_vae(comfy_call *call, const char *name)
{
    return in_object(call, name, "VAE", &dp_vae_iface,
                     "ERROR: VAE is invalid: None\n\nIf the VAE is from a checkpoint loader "
                     "node your checkpoint does not contain a valid VAE.");
}

/* ---------------------------------------------------------------- pack */

static int dp_init(const comfy_host *h, comfy_registrar *reg)
{
    int rc;
    if ((rc = dp_register_loaders(h, reg)) || (rc = dp_register_conditioning(h, reg)) ||
        (rc = dp_register_latent(h, reg)) || (rc = dp_register_sampling(h, reg)) ||
        (rc = dp_register_vae(h, reg)) || (rc = dp_register_lora(h, reg)) ||
        (rc = dp_register_controlnet(h, reg)) ||
        (rc = dp_register_upscale(h, reg)))
        return rc;
    return COMFY_OK;
}

/* POST /free (executor thread, between prompts): unload_models drops the
 * checkpoint cache (see model_cache.c for what lives on). */
static void dp_free_memory(const comfy_host *h, int unload_models)
{
    (void)h;
    if (unload_models) {
        dp_cache_clear();
        dp_taesd_cache_clear();
    }
}

static uint64_t dp_memory_used(const comfy_host *h)
{
    (void)h;
    return dp_cache_bytes() + dp_taesd_cache_bytes();
}

static void dp_fini(const comfy_host *h)
{
    (void)h;
    dp_cache_clear();
    dp_taesd_cache_clear();
    cd_clip_tokenizer_shared_free();
    ck_pool_free(g_pool);
    g_pool = NULL;
    g_pool_tried = 0;
}

COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
{
    static const comfy_pack_info info = {
        .size = sizeof(comfy_pack_info),
        .abi_major = COMFY_ABI_MAJOR,
        .abi_minor = COMFY_ABI_MINOR,
        .name = "diffusion",
        .version = "1.0",
        .description = "ComfyUI's loaders, conditioning, latent, sampling and VAE nodes",
        .init = dp_init,
        .fini = dp_fini,
        .free_memory = dp_free_memory,
        .memory_used = dp_memory_used,
    };
    return &info;
}
