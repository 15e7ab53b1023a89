/*
 * custom_sampler.c — an example node pack that writes its own sampler in C
 * against the diffusion pack's models (comfy/diffusion.h).
 *
 * Node "ExampleHeunSampler" (category sampling/custom_sampling/samplers)
 * outputs a SAMPLER.  Plug it into SamplerCustom or SamplerCustomAdvanced:
 * the diffusion pack prepares the noisy latent and hands this sampler a
 * denoiser (the model with classifier-free guidance and the prompt); the
 * sampler integrates the probability-flow ODE with Heun's method (Euler
 * for the last step, to sigma 0), reporting progress each step.  With
 * "second_order" false it is plain Euler, which gives the same picture as
 * the built-in "euler".
 *
 * Everything it needs crosses the SDK: the SAMPLER is a host OBJECT value
 * whose iface is a comfy_sampler_iface; the denoiser arrives as a
 * comfy_denoiser.  Build: see README.md.
 */
#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>
#include <comfy/diffusion.h>

/* The SAMPLER object: its options. */
typedef struct heun_sampler {
    int second_order;
} heun_sampler;

static void heun_free(void *self)
{
    free(self);
}

/* comfy_sampler_iface.sample: integrates x (n floats) from sigmas[0] down
 * to sigmas[nsig - 1] in place. */
static int heun_sample(void *self, comfy_call *call, const comfy_denoiser *den, float *x,
                       size_t n, const float *sigmas, size_t nsig, uint64_t seed)
{
    const comfy_host *h = call->host;
    const heun_sampler *s = self;
    (void)seed; /* a deterministic sampler draws no noise */
    float *d = malloc(n * sizeof(float));
    float *denoised = malloc(n * sizeof(float));
    float *x2 = malloc(n * sizeof(float));
    int rc = COMFY_OK;
    if (!d || !denoised || !x2) {
        rc = h->fail(call, "RuntimeError", "ExampleHeunSampler: out of memory");
        goto out;
    }
    for (size_t i = 0; i + 1 < nsig; i++) {
        float sigma = sigmas[i], next = sigmas[i + 1];
        rc = den->denoise(den->user, x, sigma, denoised);
        if (rc != COMFY_OK)
            goto out;
        /* d = (x - denoised) / sigma, the ODE's derivative. */
        for (size_t k = 0; k < n; k++)
            d[k] = (x[k] - denoised[k]) / sigma;
        float dt = next - sigma;
        if (!s->second_order || next == 0.0f) {
            for (size_t k = 0; k < n; k++)
                x[k] = x[k] + d[k] * dt;
        } else {
            /* Heun: average the slopes at both ends. */
            for (size_t k = 0; k < n; k++)
                x2[k] = x[k] + d[k] * dt;
            rc = den->denoise(den->user, x2, next, denoised);
            if (rc != COMFY_OK)
                goto out;
            for (size_t k = 0; k < n; k++) {
                float d2 = (x2[k] - denoised[k]) / next;
                x[k] = x[k] + (d[k] + d2) / 2.0f * dt;
            }
        }
        rc = h->progress(call, (double)(i + 1), (double)(nsig - 1), NULL);
        if (rc != COMFY_OK)
            goto out;
    }
out:
    free(d);
    free(denoised);
    free(x2);
    return rc;
}

static const comfy_sampler_iface heun_iface = {
    .size = sizeof(comfy_sampler_iface),
    .sample = heun_sample,
};

static int heun_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int second;
    if (h->value_get_bool(h->input(call, "second_order"), &second) != COMFY_OK)
        return h->fail(call, "ValueError", "second_order is not a BOOLEAN");
    heun_sampler *s = malloc(sizeof *s);
    if (!s)
        return h->fail(call, "RuntimeError", "out of memory");
    s->second_order = second;
    comfy_value *v = h->value_object(h->ctx, "SAMPLER", &heun_iface, s, heun_free);
    if (!v) {
        free(s);
        return h->fail(call, "RuntimeError", "out of memory");
    }
    return h->set_output(call, 0, v);
}

static const comfy_input_def heun_inputs[] = {
    {sizeof(comfy_input_def), "second_order", "BOOLEAN", COMFY_REQUIRED,
     "{\"default\": true}", NULL, NULL, NULL, 0},
};
static const comfy_output_def heun_outputs[] = {
    {sizeof(comfy_output_def), "SAMPLER", NULL, NULL, 0},
};
static const comfy_node_def heun_node = {
    .size = sizeof(comfy_node_def),
    .name = "ExampleHeunSampler",
    .display_name = "Example Heun Sampler",
    .category = "sampling/custom_sampling/samplers",
    .description = "Heun's method written in C against the comfyd SDK (Euler when "
                   "second_order is off).",
    .inputs = heun_inputs, .n_inputs = 1,
    .outputs = heun_outputs, .n_outputs = 1,
    .execute = heun_execute,
};

static int custom_sampler_init(const comfy_host *h, comfy_registrar *reg)
{
    return h->register_node(reg, &heun_node);
}

COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
{
    static const comfy_pack_info info = {
        .size = sizeof(comfy_pack_info),
        .abi_major = COMFY_ABI_MAJOR, .abi_minor = COMFY_ABI_MINOR,
        .name = "custom-sampler", .version = "1.0",
        .description = "An example sampler written against comfy/diffusion.h",
        .init = custom_sampler_init,
    };
    return &info;
}
