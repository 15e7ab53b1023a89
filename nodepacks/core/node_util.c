/*
 * node_util.c — input readers and output helpers shared by the core
 * pack's execute functions (see core.h).  Executor thread only, like the
 * execute functions that call them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

void core_view_free(core_view *v)
{
    if (v) {
        free(v->owned);
        v->owned = NULL;
        v->data = NULL;
    }
}

int core_fail_status(comfy_call *call, int status, const char *what)
{
    const comfy_host *h = call->host;
    if (status == COMFY_ENOMEM)
        return h->fail(call, "RuntimeError", "out of memory");
    return h->fail(call, "ValueError", "%s", what);
}

static const comfy_value *need(comfy_call *call, const char *name)
{
    const comfy_value *v = call->host->input(call, name);
    if (!v)
        call->host->fail(call, "ValueError", "required input '%s' is missing",
                         name);
    return v;
}

int core_in_int(comfy_call *call, const char *name, int64_t *out)
{
    const comfy_host *h = call->host;
    const comfy_value *v = need(call, name);
    if (!v)
        return COMFY_ERR;
    if (h->value_get_int(v, out) != COMFY_OK)
        return h->fail(call, "ValueError", "input '%s' is not an INT", name);
    return COMFY_OK;
}

int core_in_float(comfy_call *call, const char *name, double *out)
{
    const comfy_host *h = call->host;
    const comfy_value *v = need(call, name);
    if (!v)
        return COMFY_ERR;
    if (h->value_get_float(v, out) != COMFY_OK)
        return h->fail(call, "ValueError", "input '%s' is not a FLOAT", name);
    return COMFY_OK;
}

int core_in_bool(comfy_call *call, const char *name, int *out)
{
    const comfy_host *h = call->host;
    const comfy_value *v = need(call, name);
    if (!v)
        return COMFY_ERR;
    if (h->value_get_bool(v, out) != COMFY_OK)
        return h->fail(call, "ValueError", "input '%s' is not a BOOLEAN",
                       name);
    return COMFY_OK;
}

int core_in_string(comfy_call *call, const char *name, const char **out)
{
    const comfy_host *h = call->host;
    const comfy_value *v = need(call, name);
    if (!v)
        return COMFY_ERR;
    *out = h->value_get_string(v);
    if (!*out)
        return h->fail(call, "ValueError", "input '%s' is not a STRING", name);
    return COMFY_OK;
}

int core_in_choice(comfy_call *call, const char *name,
                   const char *const *choices, int *index)
{
    const char *s;
    int rc = core_in_string(call, name, &s);
    if (rc)
        return rc;
    for (int i = 0; choices[i]; i++) {
        if (strcmp(choices[i], s) == 0) {
            *index = i;
            return COMFY_OK;
        }
    }
    return call->host->fail(call, "ValueError", "input '%s': unknown value "
                            "'%s'", name, s);
}

static float half_to_float(uint16_t hv)
{
    uint32_t sign = (uint32_t)(hv & 0x8000) << 16;
    uint32_t exp = (hv >> 10) & 0x1F, man = hv & 0x3FF;
    float f;
    if (exp == 0)
        f = ldexpf((float)man, -24);
    else if (exp == 31)
        f = man ? NAN : INFINITY;
    else
        f = ldexpf((float)(man | 0x400), (int)exp - 25);
    return sign ? -f : f;
}

static float bf16_to_float(uint16_t bv)
{
    uint32_t u = (uint32_t)bv << 16;
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* Fills v from tensor t viewed as [b, h, w, c] (the product of t's shape
 * equals b*h*w*c).  Borrows contiguous float32 data; converts otherwise. */
static int view_tensor(comfy_call *call, const char *name, comfy_tensor *t,
                       core_view *v)
{
    const comfy_host *h = call->host;
    int64_t n = v->b * v->h * v->w * v->c;
    if (t->device != 0)
        return h->fail(call, "ValueError", "input '%s' is not in CPU memory",
                       name);
    if (t->dtype == COMFY_F32 && h->tensor_is_contiguous(t)) {
        v->data = t->data;
        return COMFY_OK;
    }
    if (t->dtype != COMFY_F32 && t->dtype != COMFY_F64 &&
        t->dtype != COMFY_F16 && t->dtype != COMFY_BF16)
        return h->fail(call, "ValueError", "input '%s' has an unsupported "
                       "dtype (%u)", name, t->dtype);
    v->owned = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!v->owned)
        return h->fail(call, "RuntimeError", "out of memory");
    int64_t idx[COMFY_MAX_DIMS] = { 0 };
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (uint32_t d = 0; d < t->ndim; d++)
            off += idx[d] * t->strides[d];
        float f;
        switch (t->dtype) {
        case COMFY_F32: f = ((const float *)t->data)[off]; break;
        case COMFY_F64: f = (float)((const double *)t->data)[off]; break;
        case COMFY_F16: f = half_to_float(((const uint16_t *)t->data)[off]);
            break;
        default: f = bf16_to_float(((const uint16_t *)t->data)[off]); break;
        }
        v->owned[i] = f;
        for (int d = (int)t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d])
                break;
            idx[d] = 0;
        }
    }
    v->data = v->owned;
    return COMFY_OK;
}

static comfy_tensor *in_tensor(comfy_call *call, const char *name)
{
    const comfy_host *h = call->host;
    const comfy_value *v = need(call, name);
    if (!v)
        return NULL;
    comfy_tensor *t = h->value_get_tensor(v);
    if (!t)
        h->fail(call, "ValueError", "input '%s' is not a tensor", name);
    return t;
}

int core_in_image(comfy_call *call, const char *name, core_view *v)
{
    memset(v, 0, sizeof(*v));
    comfy_tensor *t = in_tensor(call, name);
    if (!t)
        return COMFY_ERR;
    if (t->ndim != 4)
        return call->host->fail(call, "ValueError", "input '%s' is not an "
                                "IMAGE [B, H, W, C] tensor (%u dimensions)",
                                name, t->ndim);
    v->b = t->shape[0];
    v->h = t->shape[1];
    v->w = t->shape[2];
    v->c = t->shape[3];
    if (v->b < 1 || v->h < 1 || v->w < 1 || v->c < 1)
        return call->host->fail(call, "ValueError", "input '%s' is an empty "
                                "image", name);
    return view_tensor(call, name, t, v);
}

int core_in_mask(comfy_call *call, const char *name, core_view *v)
{
    memset(v, 0, sizeof(*v));
    comfy_tensor *t = in_tensor(call, name);
    if (!t)
        return COMFY_ERR;
    if (t->ndim < 2)
        return call->host->fail(call, "ValueError", "input '%s' is not a "
                                "MASK [B, H, W] tensor", name);
    /* mask.reshape((-1, H, W)), as ComfyUI's mask nodes do */
    v->h = t->shape[t->ndim - 2];
    v->w = t->shape[t->ndim - 1];
    v->b = 1;
    for (uint32_t d = 0; d + 2 < t->ndim; d++)
        v->b *= t->shape[d];
    v->c = 1;
    if (v->b < 1 || v->h < 1 || v->w < 1)
        return call->host->fail(call, "ValueError", "input '%s' is an empty "
                                "mask", name);
    return view_tensor(call, name, t, v);
}

static comfy_tensor *new_tensor(comfy_call *call, int ndim,
                                const int64_t *shape, int64_t b, int64_t h,
                                int64_t w, int64_t c)
{
    const comfy_host *host = call->host;
    char msg[256];
    if (core_check_dims(b, h, w, c, msg, sizeof(msg)) < 0) {
        host->fail(call, "ValueError", "%s", msg);
        return NULL;
    }
    comfy_tensor *t = host->tensor_new(host->ctx, COMFY_F32, ndim, shape);
    if (!t)
        host->fail(call, "RuntimeError", "out of memory allocating a "
                   "%lldx%lld image batch of %lld", (long long)w,
                   (long long)h, (long long)b);
    return t;
}

comfy_tensor *core_new_image(comfy_call *call, int64_t b, int64_t h,
                             int64_t w, int64_t c)
{
    int64_t shape[4] = { b, h, w, c };
    return new_tensor(call, 4, shape, b, h, w, c);
}

comfy_tensor *core_new_mask(comfy_call *call, int64_t b, int64_t h,
                            int64_t w)
{
    int64_t shape[3] = { b, h, w };
    return new_tensor(call, 3, shape, b, h, w, 1);
}

int core_set_tensor(comfy_call *call, uint32_t index, comfy_tensor *t)
{
    const comfy_host *h = call->host;
    comfy_value *v = h->value_tensor(h->ctx, t);
    if (!v)
        return h->fail(call, "RuntimeError", "out of memory");
    return h->set_output(call, index, v);
}
