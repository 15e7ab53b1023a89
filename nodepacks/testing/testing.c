/*
 * testing.c — the "testing" node pack: C versions of the node classes in
 * ComfyUI's tests/execution/testing_nodes/testing-pack, with the same class
 * names, inputs and behaviour, so that ComfyUI's execution test suite can
 * run against comfyd.  Node expansion (TestMixedExpansionReturns, the for
 * and while loops, TestParallelSleep, TestDynamicDependencyCycle) uses the
 * host's expand functions (ABI 1.2); Python's async nodes are
 * COMFY_NODE_ASYNC nodes.  Not here: TestSamplingInExpansion (needs the
 * diffusion nodes).
 *
 * Conventions used with the executor:
 *   - a validate_inputs hook whose `validates` list holds "input_types"
 *     reads a MAP input "input_types" (input name -> received type);
 *     "*" in `validates` means "takes every input" (Python **kwargs);
 *   - an ExecutionBlocker is an OBJECT value of type "ExecutionBlocker"
 *     whose self pointer is the message (a static string) or NULL.
 */
#include <comfy/comfy.h>

#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const comfy_host *H;

#define IN(n, t, s, o) { sizeof(comfy_input_def), n, t, s, o, NULL, NULL, NULL, 0 }
#define COMBO(n, s, ch) { sizeof(comfy_input_def), n, "COMBO", s, NULL, ch, NULL, NULL, 0 }
#define OUT(t) { sizeof(comfy_output_def), t, NULL, NULL, 0 }
#define OUTN(t, n) { sizeof(comfy_output_def), t, n, NULL, 0 }
#define OUTL(t) { sizeof(comfy_output_def), t, NULL, NULL, 1 }
#define N(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

/* ---- tensor helpers -------------------------------------------------------- */

static comfy_tensor *f32(int nd, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t shape[4] = {a, b, c, d};
    return H->tensor_new(H->ctx, COMFY_F32, nd, shape);
}

static int64_t numel(const comfy_tensor *t) { return H->tensor_numel(t); }

/* Contiguous f32 data of an input tensor, or NULL after fail(). */
static comfy_tensor *in_tensor(comfy_call *call, const char *name)
{
    const comfy_value *v = H->input(call, name);
    comfy_tensor *t = H->value_get_tensor(v);
    if (!t) {
        H->fail(call, "TypeError", "%s: expected a tensor", name);
        return NULL;
    }
    if (t->dtype != COMFY_F32 || !H->tensor_is_contiguous(t)) {
        H->fail(call, "TypeError", "%s: expected a contiguous float32 tensor", name);
        return NULL;
    }
    return t;
}

static int out_tensor(comfy_call *call, uint32_t i, comfy_tensor *t)
{
    if (!t)
        return H->fail(call, "MemoryError", "cannot allocate a tensor");
    return H->set_output(call, i, H->value_tensor(H->ctx, t));
}

static int pass_input(comfy_call *call, uint32_t i, const char *name)
{
    const comfy_value *v = H->input(call, name);
    return H->set_output(call, i, v ? H->value_retain(v) : H->value_none(H->ctx));
}

static int64_t get_int(comfy_call *call, const char *name, int64_t def)
{
    int64_t v;
    return H->value_get_int(H->input(call, name), &v) == COMFY_OK ? v : def;
}

static double get_float(comfy_call *call, const char *name, double def)
{
    double v;
    return H->value_get_float(H->input(call, name), &v) == COMFY_OK ? v : def;
}

static int get_bool(comfy_call *call, const char *name, int def)
{
    int v;
    return H->value_get_bool(H->input(call, name), &v) == COMFY_OK ? v : def;
}

static const char *get_str(comfy_call *call, const char *name)
{
    const char *s = H->value_get_string(H->input(call, name));
    return s ? s : "";
}

static comfy_tensor *filled(int64_t b, int64_t h, int64_t w, int64_t c, double v)
{
    comfy_tensor *t = c > 0 ? f32(4, b, h, w, c) : f32(3, b, h, w, 0);
    if (!t)
        return NULL;
    float *p = t->data;
    for (int64_t i = 0, n = numel(t); i < n; i++)
        p[i] = (float)v;
    return t;
}

/* ---- stubs.py (ComfyUI's file name): image, mask, INT and FLOAT sources -------------- */

static const char *const content_choices[] = {"WHITE", "BLACK", "NOISE", NULL};

#define SIZE_INPUTS                                                                           \
    IN("height", "INT", COMFY_REQUIRED, "{\"default\": 512, \"min\": 1, \"max\": 1073741824, \"step\": 1}"), \
    IN("width", "INT", COMFY_REQUIRED, "{\"default\": 512, \"min\": 1, \"max\": 68719476736, \"step\": 1}"), \
    IN("batch_size", "INT", COMFY_REQUIRED, "{\"default\": 1, \"min\": 1, \"max\": 1073741824, \"step\": 1}")

static int check_size(comfy_call *call, int64_t b, int64_t h, int64_t w)
{
    if (b * h * w > ((int64_t)1 << 28))
        return H->fail(call, "RuntimeError", "image too large for the testing pack");
    return COMFY_OK;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) / 16777216.0);
}

static int solid_image(comfy_call *call)
{
    const char *content = get_str(call, "content");
    int64_t h = get_int(call, "height", 512), w = get_int(call, "width", 512),
            b = get_int(call, "batch_size", 1);
    if (check_size(call, b, h, w) != COMFY_OK)
        return COMFY_ERR;
    comfy_tensor *t;
    if (strcmp(content, "WHITE") == 0)
        t = filled(b, h, w, 3, 1.0);
    else if (strcmp(content, "BLACK") == 0)
        t = filled(b, h, w, 3, 0.0);
    else {
        t = f32(4, b, h, w, 3);
        if (t) {
            float *p = t->data;
            for (int64_t i = 0, n = numel(t); i < n; i++)
                p[i] = rnd();
        }
    }
    return out_tensor(call, 0, t);
}

static int constant_image(comfy_call *call)
{
    int64_t h = get_int(call, "height", 512), w = get_int(call, "width", 512),
            b = get_int(call, "batch_size", 1);
    if (check_size(call, b, h, w) != COMFY_OK)
        return COMFY_ERR;
    return out_tensor(call, 0, filled(b, h, w, 3, get_float(call, "value", 0.5)));
}

static int constant_mask(comfy_call *call)
{
    int64_t h = get_int(call, "height", 512), w = get_int(call, "width", 512),
            b = get_int(call, "batch_size", 1);
    if (check_size(call, b, h, w) != COMFY_OK)
        return COMFY_ERR;
    return out_tensor(call, 0, filled(b, h, w, 0, get_float(call, "value", 0.5)));
}

static int pass_value(comfy_call *call) { return pass_input(call, 0, "value"); }

static const comfy_input_def solid_image_in[] = {
    COMBO("content", COMFY_REQUIRED, content_choices), SIZE_INPUTS};
static const comfy_input_def constant_image_in[] = {
    IN("value", "FLOAT", COMFY_REQUIRED, "{\"default\": 0.5, \"min\": 0.0, \"max\": 1.0, \"step\": 0.01}"),
    SIZE_INPUTS};
static const comfy_input_def int_value_in[] = {
    IN("value", "INT", COMFY_REQUIRED, "{\"default\": 0, \"min\": -4294967295, \"max\": 4294967295, \"step\": 1}")};
static const comfy_input_def float_value_in[] = {
    IN("value", "FLOAT", COMFY_REQUIRED, "{\"default\": 0.0, \"min\": -1e+38, \"max\": 1e+38, \"step\": 0.01}")};

static const comfy_output_def o_image[] = {OUT("IMAGE")};
static const comfy_output_def o_mask[] = {OUT("MASK")};
static const comfy_output_def o_int[] = {OUT("INT")};
static const comfy_output_def o_float[] = {OUT("FLOAT")};
static const comfy_output_def o_bool[] = {OUT("BOOLEAN")};
static const comfy_output_def o_any[] = {OUT("*")};
static const comfy_output_def o_any_list[] = {OUTL("*")};
static const comfy_output_def o_accum[] = {OUT("ACCUMULATION")};
static const comfy_output_def o_accum_any[] = {OUT("ACCUMULATION"), OUT("*")};
static const comfy_output_def o_image2[] = {OUT("IMAGE"), OUT("IMAGE")};
static const comfy_output_def o_blocker[] = {OUTN("*", "output")};

/* ---- specific tests -------------------------------------------------------------- */

static void minmax(const comfy_tensor *t, float *mn, float *mx)
{
    const float *p = t->data;
    *mn = INFINITY;
    *mx = -INFINITY;
    for (int64_t i = 0, n = numel(t); i < n; i++) {
        if (p[i] < *mn) *mn = p[i];
        if (p[i] > *mx) *mx = p[i];
    }
}

static int lazy_mix_check(comfy_call *call, comfy_value *needed)
{
    comfy_tensor *mask = in_tensor(call, "mask");
    if (!mask)
        return COMFY_ERR;
    float mn, mx;
    minmax(mask, &mn, &mx);
    if (!H->input(call, "image1") && (mn != 1.0f || mx != 1.0f))
        H->list_append(needed, H->value_string(H->ctx, "image1", (size_t)-1));
    if (!H->input(call, "image2") && (mn != 0.0f || mx != 0.0f))
        H->list_append(needed, H->value_string(H->ctx, "image2", (size_t)-1));
    return COMFY_OK;
}

static int lazy_mix(comfy_call *call)
{
    comfy_tensor *mask = in_tensor(call, "mask");
    if (!mask)
        return COMFY_ERR;
    float mn, mx;
    minmax(mask, &mn, &mx);
    if (mn == 0.0f && mx == 0.0f)
        return pass_input(call, 0, "image1");
    if (mn == 1.0f && mx == 1.0f)
        return pass_input(call, 0, "image2");
    comfy_tensor *a = in_tensor(call, "image1"), *b = a ? in_tensor(call, "image2") : NULL;
    if (!a || !b)
        return COMFY_ERR;
    if (a->ndim != 4 || b->ndim != 4)
        return H->fail(call, "RuntimeError", "images must be [B, H, W, C]");
    for (int d = 0; d < 4; d++)
        if (a->shape[d] != b->shape[d])
            return H->fail(call, "RuntimeError",
                           "The size of tensor a (%lld) must match the size of tensor b (%lld) at non-singleton dimension %d",
                           (long long)a->shape[d], (long long)b->shape[d], d);
    int64_t B = a->shape[0], Hh = a->shape[1], W = a->shape[2], C = a->shape[3];
    int64_t mb = mask->ndim == 3 ? mask->shape[0] : 1;
    int64_t mh = mask->shape[mask->ndim - 2], mw = mask->shape[mask->ndim - 1];
    if (mh != Hh || mw != W || (mb != 1 && mb != B))
        return H->fail(call, "RuntimeError",
                       "The size of tensor a (%lld) must match the size of tensor b (%lld) at non-singleton dimension 2",
                       (long long)W, (long long)mw);
    comfy_tensor *o = f32(4, B, Hh, W, C);
    if (!o)
        return H->fail(call, "MemoryError", "cannot allocate a tensor");
    const float *pa = a->data, *pb = b->data, *pm = mask->data;
    float *po = o->data;
    for (int64_t bi = 0; bi < B; bi++)
        for (int64_t y = 0; y < Hh; y++)
            for (int64_t x = 0; x < W; x++) {
                float m = pm[((mb == 1 ? 0 : bi) * mh + y) * mw + x];
                for (int64_t c = 0; c < C; c++) {
                    int64_t i = ((bi * Hh + y) * W + x) * C + c;
                    po[i] = pa[i] * (1.0f - m) + pb[i] * m;
                }
            }
    return out_tensor(call, 0, o);
}

static const comfy_input_def lazy_mix_in[] = {
    IN("image1", "IMAGE", COMFY_REQUIRED, "{\"lazy\": true}"),
    IN("image2", "IMAGE", COMFY_REQUIRED, "{\"lazy\": true}"),
    IN("mask", "MASK", COMFY_REQUIRED, NULL)};

static int variadic_average(comfy_call *call)
{
    comfy_tensor *ts[64];
    int n = 0;
    char name[32];
    ts[n] = in_tensor(call, "input1");
    if (!ts[n])
        return COMFY_ERR;
    n++;
    for (;;) {
        snprintf(name, sizeof(name), "input%d", n + 1);
        if (!H->input(call, name) || n >= 64)
            break;
        if (!(ts[n] = in_tensor(call, name)))
            return COMFY_ERR;
        if (numel(ts[n]) != numel(ts[0]))
            return H->fail(call, "RuntimeError", "stack expects each tensor to be equal size");
        n++;
    }
    comfy_tensor *o = H->tensor_new(H->ctx, COMFY_F32, (int)ts[0]->ndim, ts[0]->shape);
    if (!o)
        return H->fail(call, "MemoryError", "cannot allocate a tensor");
    float *po = o->data;
    for (int64_t i = 0, m = numel(o); i < m; i++) {
        float s = 0;
        for (int k = 0; k < n; k++)
            s += ((const float *)ts[k]->data)[i];
        po[i] = s / (float)n;
    }
    return out_tensor(call, 0, o);
}

static const comfy_input_def variadic_in[] = {IN("input1", "IMAGE", COMFY_REQUIRED, NULL)};

static int custom_is_changed_exec(comfy_call *call) { return pass_input(call, 0, "image"); }

static int custom_is_changed_hook(comfy_call *call, comfy_value **out)
{
    const comfy_value *v = H->input(call, "should_change");
    int truthy = 0;
    int b;
    int64_t i;
    double d;
    if (H->value_get_bool(v, &b) == COMFY_OK) truthy = b;
    else if (H->value_get_int(v, &i) == COMFY_OK) truthy = i != 0;
    else if (H->value_get_float(v, &d) == COMFY_OK) truthy = d != 0;
    else if (H->value_get_string(v)) truthy = *H->value_get_string(v) != 0;
    *out = truthy ? H->value_float(H->ctx, NAN) : H->value_bool(H->ctx, 0);
    return COMFY_OK;
}

static const comfy_input_def custom_is_changed_in[] = {
    IN("image", "IMAGE", COMFY_REQUIRED, NULL),
    IN("should_change", "BOOL", COMFY_OPTIONAL, "{\"default\": false}")};

static int is_changed_const_exec(comfy_call *call)
{
    comfy_tensor *a = in_tensor(call, "image");
    if (!a)
        return COMFY_ERR;
    double v = get_float(call, "value", 1.0);
    comfy_tensor *o = H->tensor_new(H->ctx, COMFY_F32, (int)a->ndim, a->shape);
    if (!o)
        return H->fail(call, "MemoryError", "cannot allocate a tensor");
    for (int64_t i = 0, n = numel(o); i < n; i++)
        ((float *)o->data)[i] = ((const float *)a->data)[i] * (float)v;
    return out_tensor(call, 0, o);
}

static int is_changed_const_hook(comfy_call *call, comfy_value **out)
{
    const comfy_value *img = H->input(call, "image");
    double v = get_float(call, "value", 1.0);
    comfy_tensor *t = H->value_get_tensor(img);
    if (!t) {
        *out = H->value_retain(H->input(call, "value"));
        return COMFY_OK;
    }
    double s = 0;
    for (int64_t i = 0, n = numel(t); i < n; i++)
        s += ((const float *)t->data)[i];
    *out = H->value_float(H->ctx, s / (double)numel(t) * v);
    return COMFY_OK;
}

static const comfy_input_def is_changed_const_in[] = {
    IN("image", "IMAGE", COMFY_REQUIRED, NULL),
    IN("value", "FLOAT", COMFY_REQUIRED, "{\"default\": 1.0, \"min\": 0.0, \"max\": 10.0}")};

/* The Python class name of a value, for messages like <class 'int'>. */
static const char *pyclass(const comfy_value *v)
{
    switch (H->value_kind(v)) {
    case COMFY_KIND_NONE: return "NoneType";
    case COMFY_KIND_INT: return "int";
    case COMFY_KIND_FLOAT: return "float";
    case COMFY_KIND_STRING: return "str";
    case COMFY_KIND_BOOL: return "bool";
    case COMFY_KIND_TENSOR: return "torch.Tensor";
    case COMFY_KIND_LIST: return "list";
    case COMFY_KIND_MAP: return "dict";
    default: return "object";
    }
}

/* input1 * input2: floats make a 1x512x512x3 image, tensors multiply. */
static int custom_validation_exec(comfy_call *call)
{
    const comfy_value *a = H->input(call, "input1"), *b = H->input(call, "input2");
    double x, y;
    if (H->value_kind(a) != COMFY_KIND_TENSOR && H->value_kind(b) != COMFY_KIND_TENSOR &&
        H->value_get_float(a, &x) == COMFY_OK && H->value_get_float(b, &y) == COMFY_OK)
        return out_tensor(call, 0, filled(1, 512, 512, 3, x * y));
    comfy_tensor *ta = H->value_get_tensor(a), *tb = H->value_get_tensor(b);
    comfy_tensor *src = ta ? ta : tb;
    if (!src || src->dtype != COMFY_F32 || !H->tensor_is_contiguous(src))
        return H->fail(call, "TypeError", "unsupported operand types");
    comfy_tensor *o = H->tensor_new(H->ctx, COMFY_F32, (int)src->ndim, src->shape);
    if (!o)
        return H->fail(call, "MemoryError", "cannot allocate a tensor");
    for (int64_t i = 0, n = numel(o); i < n; i++) {
        float va = ta ? ((const float *)ta->data)[i % numel(ta)] : (float)x;
        float vb = tb ? ((const float *)tb->data)[i % numel(tb)] : 0.0f;
        if (!tb) {
            double yy;
            H->value_get_float(b, &yy);
            vb = (float)yy;
        }
        if (!ta) {
            double xx;
            H->value_get_float(a, &xx);
            va = (float)xx;
        }
        ((float *)o->data)[i] = va * vb;
    }
    return out_tensor(call, 0, o);
}

static int check_float_or_tensor(comfy_call *call, const char *name)
{
    const comfy_value *v = H->input(call, name);
    int k = H->value_kind(v);
    if (v && k != COMFY_KIND_FLOAT && k != COMFY_KIND_TENSOR && k != COMFY_KIND_NONE)
        return H->fail(call, "ValueError", "Invalid type of %s: <class '%s'>", name, pyclass(v));
    return COMFY_OK;
}

static int validation1(comfy_call *call)
{
    if (check_float_or_tensor(call, "input1") != COMFY_OK) return COMFY_ERR;
    if (check_float_or_tensor(call, "input2") != COMFY_OK) return COMFY_ERR;
    return COMFY_OK;
}

static int validation2(comfy_call *call)
{
    if (validation1(call) != COMFY_OK)
        return COMFY_ERR;
    const comfy_value *types = H->input(call, "input_types");
    const char *names[] = {"input1", "input2"};
    for (int i = 0; i < 2; i++) {
        const char *t = H->value_get_string(H->map_get(types, names[i]));
        if (t && strcmp(t, "IMAGE") != 0 && strcmp(t, "FLOAT") != 0)
            return H->fail(call, "ValueError", "Invalid type of %s: %s", names[i], t);
    }
    return COMFY_OK;
}

static int validation4(comfy_call *call)
{
    const char *names[] = {"input1", "input2"};
    for (int i = 0; i < 2; i++) {
        const comfy_value *v = H->input(call, names[i]);
        if (v && H->value_kind(v) != COMFY_KIND_FLOAT)
            return H->fail(call, "ValueError", "Invalid type of %s: <class '%s'>", names[i], pyclass(v));
    }
    return COMFY_OK;
}

static int validation5(comfy_call *call)
{
    double v;
    if (H->value_get_float(H->input(call, "input2"), &v) == COMFY_OK && v == 7.0)
        return H->fail(call, "ValueError", "7s are not allowed. I've never liked 7s.");
    return COMFY_OK;
}

static int validation5_exec(comfy_call *call)
{
    double a = get_float(call, "input1", 0), b = get_float(call, "input2", 0);
    return out_tensor(call, 0, filled(1, 512, 512, 3, a * b));
}

static const comfy_input_def validation_union_in[] = {
    IN("input1", "IMAGE,FLOAT", COMFY_REQUIRED, NULL),
    IN("input2", "IMAGE,FLOAT", COMFY_REQUIRED, NULL)};
static const comfy_input_def validation4_in[] = {
    IN("input1", "FLOAT", COMFY_REQUIRED, NULL), IN("input2", "FLOAT", COMFY_REQUIRED, NULL)};
static const comfy_input_def validation5_in[] = {
    IN("input1", "FLOAT", COMFY_REQUIRED, "{\"min\": 0.0, \"max\": 1.0}"),
    IN("input2", "FLOAT", COMFY_REQUIRED, "{\"min\": 0.0, \"max\": 1.0}")};

static const char *const v_inputs12[] = {"input1", "input2", NULL};
static const char *const v_types12[] = {"input_types", "input1", "input2", NULL};
static const char *const v_types[] = {"input_types", NULL};
static const char *const v_kwargs[] = {"*", NULL};

/* VariantSupport: linked types must be subsets of the declared type. */
static int subset(const char *r, const char *decl)
{
    if (strcmp(r, "*") == 0 || strcmp(decl, "*") == 0)
        return 1;
    const char *p = r;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        int found = 0;
        const char *q = decl;
        for (;;) {
            const char *d = strchr(q, ',');
            size_t m = d ? (size_t)(d - q) : strlen(q);
            if (m == n && strncmp(p, q, n) == 0)
                found = 1;
            if (!d || found)
                break;
            q = d + 1;
        }
        if (!found)
            return 0;
        if (!c)
            return 1;
        p = c + 1;
    }
}

static int variant_validate(comfy_call *call)
{
    const comfy_value *types = H->input(call, "input_types");
    size_t n = H->map_len(types);
    for (size_t i = 0; i < n; i++) {
        const char *key = H->map_key(types, i);
        const char *t = H->value_get_string(H->map_value(types, i));
        const char *decl = NULL;
        for (uint32_t k = 0; k < call->def->n_inputs; k++)
            if (strcmp(call->def->inputs[k].name, key) == 0 && call->def->inputs[k].section != COMFY_HIDDEN)
                decl = call->def->inputs[k].type;
        if (decl && t && !subset(t, decl))
            return H->fail(call, "ValueError", "Invalid type of %s: %s (expected %s)", key, t, decl);
    }
    return COMFY_OK;
}

static int output_socket(comfy_call *call)
{
    comfy_tensor *a = in_tensor(call, "image");
    if (!a)
        return COMFY_ERR;
    double v = get_float(call, "value", 1.0);
    comfy_tensor *o = H->tensor_new(H->ctx, COMFY_F32, (int)a->ndim, a->shape);
    if (!o)
        return H->fail(call, "MemoryError", "cannot allocate a tensor");
    for (int64_t i = 0, n = numel(o); i < n; i++)
        ((float *)o->data)[i] = ((const float *)a->data)[i] * (float)v;
    return out_tensor(call, 0, o);
}

static const comfy_input_def output_socket_in[] = {
    IN("image", "IMAGE", COMFY_REQUIRED, NULL),
    IN("value", "FLOAT", COMFY_REQUIRED, "{\"default\": 1.0, \"min\": 0.0, \"max\": 10.0}")};

static comfy_value *none_or(const comfy_value *v);

/* ---- node expansion helpers -------------------------------------------------- */

/* A growable string for building graph JSON. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) COMFY_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = (b->cap ? b->cap * 2 : 1024) + (size_t)k;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

/* Appends s as a JSON string literal. */
static void sb_str(sbuf *b, const char *s)
{
    sb_printf(b, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            sb_printf(b, "\\%c", c);
        else if (c < 0x20)
            sb_printf(b, "\\u%04x", c);
        else
            sb_printf(b, "%c", c);
    }
    sb_printf(b, "\"");
}

/* Appends an input value for a graph: a link for a raw-link LIST
 * ["id", slot], null for NULL/None, otherwise a registered value. */
static void sb_value(sbuf *b, comfy_call *call, const comfy_value *v)
{
    if (!v || H->value_kind(v) == COMFY_KIND_NONE) {
        sb_printf(b, "null");
        return;
    }
    int64_t ref = H->expand_value(call, H->value_retain(v));
    if (ref < 0)
        b->oom = 1;
    sb_printf(b, "{\"__value_ref__\": %lld}", (long long)ref);
}

static void sb_rawlink(sbuf *b, const comfy_value *v)
{
    const char *id = H->value_get_string(H->list_get(v, 0));
    int64_t slot = 0;
    if (!id || H->value_get_int(H->list_get(v, 1), &slot) != COMFY_OK) {
        sb_printf(b, "null");
        return;
    }
    sb_printf(b, "[");
    sb_str(b, id);
    sb_printf(b, ", %lld]", (long long)slot);
}

static int can_expand(comfy_call *call)
{
    if (!COMFY_HAS_FIELD(H, comfy_host, set_output_link))
        return H->fail(call, "RuntimeError", "this server does not support node expansion");
    return COMFY_OK;
}

static int sb_expand(comfy_call *call, sbuf *b)
{
    int rc = b->oom ? H->fail(call, "MemoryError", "out of memory")
                    : H->expand(call, b->p);
    if (rc != COMFY_OK && !b->oom)
        rc = H->fail(call, "RuntimeError", "the expanded graph was refused");
    free(b->p);
    return rc;
}

static int mixed_expansion(comfy_call *call)
{
    double v = get_float(call, "input1", 0);
    int rc;
    if (v <= 0.2) {
        rc = out_tensor(call, 0, filled(1, 512, 512, 3, v <= 0.1 ? 0.1 : 0.2));
    } else {
        if (can_expand(call) != COMFY_OK)
            return COMFY_ERR;
        const char *p = H->expand_prefix(call);
        sbuf b = {0};
        sb_printf(&b, "{\"%s1\": {\"class_type\": \"StubMask\", \"inputs\": {\"value\": 0.3, \"height\": 512, \"width\": 512, \"batch_size\": 1}}, ", p);
        sb_printf(&b, "\"%s2\": {\"class_type\": \"StubImage\", \"inputs\": {\"content\": \"BLACK\", \"height\": 512, \"width\": 512, \"batch_size\": 1}}, ", p);
        sb_printf(&b, "\"%s3\": {\"class_type\": \"StubImage\", \"inputs\": {\"content\": \"WHITE\", \"height\": 512, \"width\": 512, \"batch_size\": 1}}, ", p);
        sb_printf(&b, "\"%s4\": {\"class_type\": \"TestLazyMixImages\", \"inputs\": {\"image1\": [\"%s2\", 0], \"image2\": [\"%s3\", 0], \"mask\": [\"%s1\", 0]}}}", p, p, p, p);
        char mix[300];
        snprintf(mix, sizeof(mix), "%s4", p);
        rc = sb_expand(call, &b);
        if (rc == COMFY_OK)
            rc = H->set_output_link(call, 0, mix, 0);
    }
    if (rc != COMFY_OK)
        return rc;
    return out_tensor(call, 1, filled(1, 512, 512, 3, 1.0));
}

static int dynamic_cycle(comfy_call *call)
{
    if (can_expand(call) != COMFY_OK)
        return COMFY_ERR;
    const char *p = H->expand_prefix(call);
    sbuf b = {0};
    sb_printf(&b, "{\"%s1\": {\"class_type\": \"StubMask\", \"inputs\": {\"value\": 0.5, \"height\": 512, \"width\": 512, \"batch_size\": 1}}, ", p);
    sb_printf(&b, "\"%s2\": {\"class_type\": \"TestLazyMixImages\", \"inputs\": {\"image1\": ", p);
    sb_value(&b, call, H->input(call, "input1"));
    sb_printf(&b, ", \"mask\": [\"%s1\", 0], \"image2\": [\"%s3\", 0]}}, ", p, p);
    sb_printf(&b, "\"%s3\": {\"class_type\": \"TestLazyMixImages\", \"inputs\": {\"image1\": [\"%s2\", 0], \"image2\": ", p, p);
    sb_value(&b, call, H->input(call, "input2"));
    sb_printf(&b, ", \"mask\": [\"%s1\", 0]}}}", p);
    char out[300];
    snprintf(out, sizeof(out), "%s3", p);
    int rc = sb_expand(call, &b);
    return rc == COMFY_OK ? H->set_output_link(call, 0, out, 0) : rc;
}

static const comfy_input_def cycle_in[] = {
    IN("input1", "IMAGE", COMFY_REQUIRED, NULL), IN("input2", "IMAGE", COMFY_REQUIRED, NULL)};

static int parallel_sleep(comfy_call *call)
{
    if (can_expand(call) != COMFY_OK)
        return COMFY_ERR;
    const char *p = H->expand_prefix(call);
    sbuf b = {0};
    sb_printf(&b, "{");
    for (int i = 1; i <= 3; i++) {
        char in[16], sl[16];
        snprintf(in, sizeof(in), "image%d", i);
        snprintf(sl, sizeof(sl), "sleep%d", i);
        sb_printf(&b, "\"%s%d\": {\"class_type\": \"TestSleep\", \"inputs\": {\"value\": ", p, i);
        sb_value(&b, call, H->input(call, in));
        sb_printf(&b, ", \"seconds\": %.17g}}, ", get_float(call, sl, 0.5));
    }
    sb_printf(&b, "\"%s4\": {\"class_type\": \"TestVariadicAverage\", \"inputs\": {\"input1\": [\"%s1\", 0], \"input2\": [\"%s2\", 0], \"input3\": [\"%s3\", 0]}}}", p, p, p, p);
    char out[300];
    snprintf(out, sizeof(out), "%s4", p);
    int rc = sb_expand(call, &b);
    return rc == COMFY_OK ? H->set_output_link(call, 0, out, 0) : rc;
}

#define SLEEPF(n) IN(n, "FLOAT", COMFY_REQUIRED, "{\"default\": 0.5, \"min\": 0.0, \"max\": 10.0, \"step\": 0.01}")
static const comfy_input_def parallel_in[] = {
    IN("image1", "IMAGE", COMFY_REQUIRED, NULL), IN("image2", "IMAGE", COMFY_REQUIRED, NULL),
    IN("image3", "IMAGE", COMFY_REQUIRED, NULL), SLEEPF("sleep1"), SLEEPF("sleep2"), SLEEPF("sleep3"),
    IN("unique_id", "UNIQUE_ID", COMFY_HIDDEN, NULL)};

/* ---- flow control: for / while loops by expansion (flow_control.py) ----------- */

#define NUM_FLOW_SOCKETS 5

static int while_open(comfy_call *call)
{
    H->set_output(call, 0, H->value_string(H->ctx, "stub", (size_t)-1));
    char name[32];
    for (int i = 0; i < NUM_FLOW_SOCKETS; i++) {
        snprintf(name, sizeof(name), "initial_value%d", i);
        H->set_output(call, (uint32_t)i + 1, none_or(H->input(call, name)));
    }
    return COMFY_OK;
}

static int is_link_json(struct json_object *v)
{
    return json_object_is_type(v, json_type_array) && json_object_array_length(v) == 2 &&
           json_object_is_type(json_object_array_get_idx(v, 0), json_type_string) &&
           (json_object_is_type(json_object_array_get_idx(v, 1), json_type_int) ||
            json_object_is_type(json_object_array_get_idx(v, 1), json_type_double));
}

/* upstream: parent id -> array of child ids (explore_dependencies). */
static void explore(struct json_object *dyn, const char *id, struct json_object *up, int depth)
{
    struct json_object *inputs = json_object_object_get(json_object_object_get(dyn, id), "inputs");
    if (!inputs || depth > 10000)
        return;
    json_object_object_foreach(inputs, k, v) {
        (void)k;
        if (!is_link_json(v))
            continue;
        const char *pid = json_object_get_string(json_object_array_get_idx(v, 0));
        struct json_object *children = json_object_object_get(up, pid);
        if (!children) {
            children = json_object_new_array();
            json_object_object_add(up, pid, children);
            explore(dyn, pid, up, depth + 1);
        }
        json_object_array_add(children, json_object_new_string(id));
    }
}

static void collect(struct json_object *up, const char *id, struct json_object *contained, int depth)
{
    struct json_object *children = json_object_object_get(up, id);
    size_t n = children ? json_object_array_length(children) : 0;
    for (size_t i = 0; i < n && depth < 10000; i++) {
        const char *c = json_object_get_string(json_object_array_get_idx(children, i));
        if (!json_object_object_get_ex(contained, c, NULL)) {
            json_object_object_add(contained, c, json_object_new_boolean(1));
            collect(up, c, contained, depth + 1);
        }
    }
}

static int while_close(comfy_call *call)
{
    char name[32];
    if (!get_bool(call, "condition", 0)) {
        for (int i = 0; i < NUM_FLOW_SOCKETS; i++) {
            snprintf(name, sizeof(name), "initial_value%d", i);
            H->set_output(call, (uint32_t)i, none_or(H->input(call, name)));
        }
        return COMFY_OK;
    }
    if (can_expand(call) != COMFY_OK)
        return COMFY_ERR;
    const char *dtext = get_str(call, "dynprompt");
    const char *me = get_str(call, "unique_id");
    const char *open_node = H->value_get_string(H->list_get(H->input(call, "flow_control"), 0));
    struct json_object *dyn = json_tokener_parse(dtext);
    if (!dyn || !open_node || !*me) {
        json_object_put(dyn);
        return H->fail(call, "AssertionError", "while loop without dynprompt or flow control");
    }
    struct json_object *up = json_object_new_object();
    explore(dyn, me, up, 0);
    struct json_object *contained = json_object_new_object();
    collect(up, open_node, contained, 0);
    json_object_object_add(contained, me, json_object_new_boolean(1));
    json_object_object_add(contained, open_node, json_object_new_boolean(1));

    const char *p = H->expand_prefix(call);
    sbuf b = {0};
    sb_printf(&b, "{");
    int first = 1;
    json_object_object_foreach(contained, cid, unused) {
        (void)unused;
        struct json_object *orig = json_object_object_get(dyn, cid);
        struct json_object *inputs = json_object_object_get(orig, "inputs");
        int is_open = strcmp(cid, open_node) == 0;
        sb_printf(&b, "%s\"%s%s\": {\"class_type\": ", first ? "" : ", ", p,
                  strcmp(cid, me) == 0 ? "Recurse" : cid);
        first = 0;
        sb_str(&b, json_object_get_string(json_object_object_get(orig, "class_type")));
        sb_printf(&b, ", \"override_display_id\": ");
        sb_str(&b, cid);
        sb_printf(&b, ", \"inputs\": {");
        int fi = 1;
        json_object_object_foreach(inputs, k, v) {
            if (is_open && strncmp(k, "initial_value", 13) == 0)
                continue;   /* replaced below */
            sb_printf(&b, "%s", fi ? "" : ", ");
            fi = 0;
            sb_str(&b, k);
            sb_printf(&b, ": ");
            if (is_link_json(v) &&
                json_object_object_get_ex(contained, json_object_get_string(json_object_array_get_idx(v, 0)), NULL)) {
                const char *src = json_object_get_string(json_object_array_get_idx(v, 0));
                sb_printf(&b, "[\"%s%s\", %d]", p, strcmp(src, me) == 0 ? "Recurse" : src,
                          json_object_get_int(json_object_array_get_idx(v, 1)));
            } else {
                sb_printf(&b, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
            }
        }
        if (is_open) {
            for (int i = 0; i < NUM_FLOW_SOCKETS; i++) {
                snprintf(name, sizeof(name), "initial_value%d", i);
                sb_printf(&b, "%s\"%s\": ", fi ? "" : ", ", name);
                fi = 0;
                sb_value(&b, call, H->input(call, name));
            }
        }
        sb_printf(&b, "}}");
    }
    sb_printf(&b, "}");
    json_object_put(contained);
    json_object_put(up);
    json_object_put(dyn);
    char rec[400];
    snprintf(rec, sizeof(rec), "%sRecurse", p);
    int rc = sb_expand(call, &b);
    for (uint32_t i = 0; rc == COMFY_OK && i < NUM_FLOW_SOCKETS; i++)
        rc = H->set_output_link(call, i, rec, i);
    return rc;
}

static int for_open(comfy_call *call)
{
    if (can_expand(call) != COMFY_OK)
        return COMFY_ERR;
    const comfy_value *remaining = H->input(call, "initial_value0");
    if (!remaining)
        remaining = H->input(call, "remaining");
    int64_t rem = 0;
    H->value_get_int(remaining, &rem);
    const char *p = H->expand_prefix(call);
    sbuf b = {0};
    sb_printf(&b, "{\"%s1\": {\"class_type\": \"TestWhileLoopOpen\", \"inputs\": {\"condition\": %lld, \"initial_value0\": %lld",
              p, (long long)rem, (long long)rem);
    char name[32];
    for (int i = 1; i < NUM_FLOW_SOCKETS; i++) {
        snprintf(name, sizeof(name), "initial_value%d", i);
        sb_printf(&b, ", \"%s\": ", name);
        sb_value(&b, call, H->input(call, name));
    }
    sb_printf(&b, "}}}");
    int rc = sb_expand(call, &b);
    if (rc != COMFY_OK)
        return rc;
    H->set_output(call, 0, H->value_string(H->ctx, "stub", (size_t)-1));
    H->set_output(call, 1, H->value_int(H->ctx, rem));
    for (int i = 1; i < NUM_FLOW_SOCKETS; i++) {
        snprintf(name, sizeof(name), "initial_value%d", i);
        H->set_output(call, (uint32_t)i + 1, none_or(H->input(call, name)));
    }
    return COMFY_OK;
}

static int for_close(comfy_call *call)
{
    if (can_expand(call) != COMFY_OK)
        return COMFY_ERR;
    const comfy_value *fc = H->input(call, "flow_control");
    const char *open_id = H->value_get_string(H->list_get(fc, 0));
    if (!open_id)
        return H->fail(call, "TypeError", "flow_control is not a link");
    const char *p = H->expand_prefix(call);
    sbuf b = {0};
    sb_printf(&b, "{\"%s1\": {\"class_type\": \"TestIntMathOperation\", \"inputs\": {\"operation\": \"subtract\", \"a\": [", p);
    sb_str(&b, open_id);
    sb_printf(&b, ", 1], \"b\": 1}}, ");
    sb_printf(&b, "\"%s2\": {\"class_type\": \"TestToBoolNode\", \"inputs\": {\"value\": [\"%s1\", 0]}}, ", p, p);
    sb_printf(&b, "\"%s3\": {\"class_type\": \"TestWhileLoopClose\", \"inputs\": {\"flow_control\": ", p);
    sb_rawlink(&b, fc);
    sb_printf(&b, ", \"condition\": [\"%s2\", 0], \"initial_value0\": [\"%s1\", 0]", p, p);
    char name[32];
    for (int i = 1; i < NUM_FLOW_SOCKETS; i++) {
        snprintf(name, sizeof(name), "initial_value%d", i);
        const comfy_value *v = H->input(call, name);
        sb_printf(&b, ", \"%s\": ", name);
        if (v && H->value_kind(v) == COMFY_KIND_LIST)
            sb_rawlink(&b, v);
        else
            sb_value(&b, call, v);
    }
    sb_printf(&b, "}}}");
    char wc[300];
    snprintf(wc, sizeof(wc), "%s3", p);
    int rc = sb_expand(call, &b);
    for (uint32_t i = 0; rc == COMFY_OK && i < NUM_FLOW_SOCKETS - 1; i++)
        rc = H->set_output_link(call, i, wc, i + 1);
    return rc;
}

#define IV(n) IN(n, "*", COMFY_OPTIONAL, NULL)
#define IVR(n) IN(n, "*", COMFY_OPTIONAL, "{\"rawLink\": true}")
static const comfy_input_def while_open_in[] = {
    IN("condition", "BOOLEAN", COMFY_REQUIRED, "{\"default\": true}"),
    IV("initial_value0"), IV("initial_value1"), IV("initial_value2"), IV("initial_value3"),
    IV("initial_value4")};
static const comfy_output_def while_open_out[] = {
    OUTN("FLOW_CONTROL", "FLOW_CONTROL"), OUTN("*", "value0"), OUTN("*", "value1"),
    OUTN("*", "value2"), OUTN("*", "value3"), OUTN("*", "value4")};
static const comfy_input_def while_close_in[] = {
    IN("flow_control", "FLOW_CONTROL", COMFY_REQUIRED, "{\"rawLink\": true}"),
    IN("condition", "BOOLEAN", COMFY_REQUIRED, "{\"forceInput\": true}"),
    IV("initial_value0"), IV("initial_value1"), IV("initial_value2"), IV("initial_value3"),
    IV("initial_value4"),
    IN("dynprompt", "DYNPROMPT", COMFY_HIDDEN, NULL), IN("unique_id", "UNIQUE_ID", COMFY_HIDDEN, NULL)};
static const comfy_output_def while_close_out[] = {
    OUTN("*", "value0"), OUTN("*", "value1"), OUTN("*", "value2"), OUTN("*", "value3"),
    OUTN("*", "value4")};
static const comfy_input_def for_open_in[] = {
    IN("remaining", "INT", COMFY_REQUIRED, "{\"default\": 1, \"min\": 0, \"max\": 100000, \"step\": 1}"),
    IV("initial_value1"), IV("initial_value2"), IV("initial_value3"), IV("initial_value4")};
static const comfy_output_def for_open_out[] = {
    OUTN("FLOW_CONTROL", "flow_control"), OUTN("INT", "remaining"), OUTN("*", "value1"),
    OUTN("*", "value2"), OUTN("*", "value3"), OUTN("*", "value4")};
static const comfy_input_def for_close_in[] = {
    IN("flow_control", "FLOW_CONTROL", COMFY_REQUIRED, "{\"rawLink\": true}"),
    IVR("initial_value1"), IVR("initial_value2"), IVR("initial_value3"), IVR("initial_value4")};
static const comfy_output_def for_close_out[] = {
    OUTN("*", "value1"), OUTN("*", "value2"), OUTN("*", "value3"), OUTN("*", "value4")};

static const comfy_input_def mixed_in[] = {IN("input1", "FLOAT", COMFY_REQUIRED, NULL)};

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int test_sleep(comfy_call *call)
{
    double secs = get_float(call, "seconds", 1.0);
    double start = mono_seconds(), now = start;
    while (now < start + secs) {
        now = mono_seconds();
        int rc = H->progress(call, now - start, secs, NULL);
        if (rc != COMFY_OK)
            return rc;
        struct timespec d = {0, 10 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    return pass_input(call, 0, "value");
}

static const comfy_input_def sleep_in[] = {
    IN("value", "*", COMFY_REQUIRED, "{}"),
    IN("seconds", "FLOAT", COMFY_REQUIRED,
       "{\"default\": 1.0, \"min\": 0.0, \"max\": 9999.0, \"step\": 0.01, \"tooltip\": \"The amount of seconds to sleep.\"}"),
    IN("unique_id", "UNIQUE_ID", COMFY_HIDDEN, NULL)};

static int progress_update(comfy_call *call)
{
    double secs = get_float(call, "sleep_seconds", 1.0);
    double start = mono_seconds(), now = start;
    while (now < start + secs) {
        now = mono_seconds();
        int rc = H->progress(call, secs > 0 ? (now - start) / secs : 1.0, 1.0, NULL);
        if (rc != COMFY_OK)
            return rc;
        struct timespec d = {0, 10 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    return pass_input(call, 0, "value");
}

static const comfy_input_def progress_in[] = {
    IN("value", "*", COMFY_REQUIRED, "{}"),
    IN("sleep_seconds", "FLOAT", COMFY_REQUIRED, "{\"default\": 1.0}")};

static int sync_error(comfy_call *call)
{
    return H->fail(call, "RuntimeError", "Intentional sync execution error for testing");
}

static const comfy_input_def sync_error_in[] = {IN("value", "*", COMFY_REQUIRED, "{}")};

/* ---- lists and accumulations (util.py) -------------------------------------- */

static comfy_value *accum_of(comfy_value *list)
{
    comfy_value *m = H->value_map(H->ctx);
    if (!m) {
        H->value_release(list);
        return NULL;
    }
    H->map_set(m, "accum", list);
    return m;
}

static const comfy_value *accum_list(comfy_call *call)
{
    return H->map_get(H->input(call, "accumulation"), "accum");
}

static comfy_value *copy_list(const comfy_value *l, size_t from, size_t to)
{
    comfy_value *o = H->value_list(H->ctx);
    for (size_t i = from; o && i < to; i++)
        H->list_append(o, H->value_retain(H->list_get(l, i)));
    return o;
}

static comfy_value *none_or(const comfy_value *v) { return v ? H->value_retain(v) : H->value_none(H->ctx); }

static int accumulate(comfy_call *call)
{
    const comfy_value *acc = H->input(call, "accumulation");
    const comfy_value *l = acc ? H->map_get(acc, "accum") : NULL;
    comfy_value *o = copy_list(l, 0, H->list_len(l));
    if (!o)
        return H->fail(call, "MemoryError", "out of memory");
    H->list_append(o, none_or(H->input(call, "to_add")));
    return H->set_output(call, 0, accum_of(o));
}

static int accum_head(comfy_call *call)
{
    const comfy_value *l = accum_list(call);
    size_t n = H->list_len(l);
    if (n == 0) {
        H->set_output(call, 0, none_or(H->input(call, "accumulation")));
        return H->set_output(call, 1, H->value_none(H->ctx));
    }
    H->set_output(call, 0, accum_of(copy_list(l, 1, n)));
    return H->set_output(call, 1, H->value_retain(H->list_get(l, 0)));
}

static int accum_tail(comfy_call *call)
{
    const comfy_value *l = accum_list(call);
    size_t n = H->list_len(l);
    if (n == 0) {
        H->set_output(call, 0, H->value_none(H->ctx));
        return H->set_output(call, 1, none_or(H->input(call, "accumulation")));
    }
    H->set_output(call, 0, accum_of(copy_list(l, 0, n - 1)));
    return H->set_output(call, 1, H->value_retain(H->list_get(l, n - 1)));
}

static int accum_to_list(comfy_call *call)
{
    const comfy_value *l = accum_list(call);
    return H->set_output(call, 0, copy_list(l, 0, H->list_len(l)));
}

static int list_to_accum(comfy_call *call)
{
    const comfy_value *l = H->input(call, "list");
    return H->set_output(call, 0, accum_of(copy_list(l, 0, H->list_len(l))));
}

static int accum_len(comfy_call *call)
{
    return H->set_output(call, 0, H->value_int(H->ctx, (int64_t)H->list_len(accum_list(call))));
}

static int py_index(comfy_call *call, size_t n, int64_t *ix)
{
    int64_t i = get_int(call, "index", 0);
    if (i < 0)
        i += (int64_t)n;
    if (i < 0 || i >= (int64_t)n)
        return H->fail(call, "IndexError", "list index out of range");
    *ix = i;
    return COMFY_OK;
}

static int accum_get(comfy_call *call)
{
    const comfy_value *l = accum_list(call);
    int64_t i;
    if (py_index(call, H->list_len(l), &i) != COMFY_OK)
        return COMFY_ERR;
    return H->set_output(call, 0, H->value_retain(H->list_get(l, (size_t)i)));
}

static int accum_set(comfy_call *call)
{
    const comfy_value *l = accum_list(call);
    size_t n = H->list_len(l);
    int64_t ix;
    if (py_index(call, n, &ix) != COMFY_OK)
        return COMFY_ERR;
    comfy_value *o = H->value_list(H->ctx);
    for (size_t i = 0; o && i < n; i++)
        H->list_append(o, (int64_t)i == ix ? none_or(H->input(call, "value"))
                                           : H->value_retain(H->list_get(l, i)));
    return H->set_output(call, 0, accum_of(o));
}

static const comfy_input_def accumulate_in[] = {
    IN("to_add", "*", COMFY_REQUIRED, NULL), IN("accumulation", "ACCUMULATION", COMFY_OPTIONAL, NULL)};
static const comfy_input_def accum_in[] = {IN("accumulation", "ACCUMULATION", COMFY_REQUIRED, NULL)};
static const comfy_input_def list_in[] = {IN("list", "*", COMFY_REQUIRED, NULL)};
static const comfy_input_def accum_get_in[] = {
    IN("accumulation", "ACCUMULATION", COMFY_REQUIRED, NULL),
    IN("index", "INT", COMFY_REQUIRED, "{\"default\": 0, \"step\": 1}")};
static const comfy_input_def accum_set_in[] = {
    IN("accumulation", "ACCUMULATION", COMFY_REQUIRED, NULL),
    IN("index", "INT", COMFY_REQUIRED, "{\"default\": 0, \"step\": 1}"),
    IN("value", "*", COMFY_REQUIRED, NULL)};

static const char *const math_ops[] = {"add", "subtract", "multiply", "divide", "modulo", "power", NULL};

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int int_math(comfy_call *call)
{
    int64_t a = get_int(call, "a", 0), b = get_int(call, "b", 0), r = 0;
    const char *op = get_str(call, "operation");
    if (strcmp(op, "add") == 0) r = a + b;
    else if (strcmp(op, "subtract") == 0) r = a - b;
    else if (strcmp(op, "multiply") == 0) r = a * b;
    else if (strcmp(op, "divide") == 0 || strcmp(op, "modulo") == 0) {
        if (b == 0)
            return H->fail(call, "ZeroDivisionError", "integer division or modulo by zero");
        r = floordiv(a, b);
        if (strcmp(op, "modulo") == 0)
            r = a - r * b;
    } else if (strcmp(op, "power") == 0) {
        r = 1;
        for (int64_t i = 0; i < b && i < 64; i++)
            r *= a;
    }
    return H->set_output(call, 0, H->value_int(H->ctx, r));
}

#define BIG_INT "{\"default\": 0, \"min\": -9223372036854775808, \"max\": 18446744073709551615, \"step\": 1}"
static const comfy_input_def int_math_in[] = {
    IN("a", "INT", COMFY_REQUIRED, BIG_INT), IN("b", "INT", COMFY_REQUIRED, BIG_INT),
    COMBO("operation", COMFY_REQUIRED, math_ops)};

static int make_list(comfy_call *call)
{
    comfy_value *o = H->value_list(H->ctx);
    char name[16];
    for (int i = 0; o && i < 10; i++) {
        snprintf(name, sizeof(name), "value%d", i);
        const comfy_value *v = H->input(call, name);
        if (v)
            H->list_append(o, H->value_retain(v));
    }
    return H->set_output(call, 0, o);
}

static const comfy_input_def make_list_in[] = {
    IN("value1", "*", COMFY_REQUIRED, NULL),
    IN("value2", "*", COMFY_OPTIONAL, NULL), IN("value3", "*", COMFY_OPTIONAL, NULL),
    IN("value4", "*", COMFY_OPTIONAL, NULL), IN("value5", "*", COMFY_OPTIONAL, NULL),
    IN("value6", "*", COMFY_OPTIONAL, NULL), IN("value7", "*", COMFY_OPTIONAL, NULL),
    IN("value8", "*", COMFY_OPTIONAL, NULL), IN("value9", "*", COMFY_OPTIONAL, NULL)};

/* ---- conditions ------------------------------------------------------------------ */

static const char *const cmp_ops[] = {"==", "!=", "<", ">", "<=", ">=", NULL};

static int cmp_result(const char *op, int c)
{
    if (strcmp(op, "==") == 0) return c == 0;
    if (strcmp(op, "!=") == 0) return c != 0;
    if (strcmp(op, "<") == 0) return c < 0;
    if (strcmp(op, ">") == 0) return c > 0;
    if (strcmp(op, "<=") == 0) return c <= 0;
    return c >= 0;
}

static int int_cond(comfy_call *call)
{
    int64_t a = get_int(call, "a", 0), b = get_int(call, "b", 0);
    return H->set_output(call, 0, H->value_bool(H->ctx, cmp_result(get_str(call, "operation"),
                                                                   a < b ? -1 : a > b)));
}

static int float_cond(comfy_call *call)
{
    double a = get_float(call, "a", 0), b = get_float(call, "b", 0);
    const char *op = get_str(call, "operation");
    int r;
    if (strcmp(op, "==") == 0) r = a == b;
    else if (strcmp(op, "!=") == 0) r = a != b;
    else if (strcmp(op, "<") == 0) r = a < b;
    else if (strcmp(op, ">") == 0) r = a > b;
    else if (strcmp(op, "<=") == 0) r = a <= b;
    else r = a >= b;
    return H->set_output(call, 0, H->value_bool(H->ctx, r));
}

static const char *const str_ops[] = {"a == b", "a != b", "a IN b", "a MATCH REGEX(b)",
                                      "a BEGINSWITH b", "a ENDSWITH b", NULL};

static int string_cond(comfy_call *call)
{
    const char *a0 = get_str(call, "a"), *b0 = get_str(call, "b"), *op = get_str(call, "operation");
    int cs = get_bool(call, "case_sensitive", 1);
    char *a = strdup(a0), *b = strdup(b0);
    if (!a || !b) {
        free(a);
        free(b);
        return H->fail(call, "MemoryError", "out of memory");
    }
    if (!cs) {
        for (char *p = a; *p; p++) if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        for (char *p = b; *p; p++) if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    }
    size_t la = strlen(a), lb = strlen(b);
    int r = 0;
    if (strcmp(op, "a == b") == 0) r = strcmp(a, b) == 0;
    else if (strcmp(op, "a != b") == 0) r = strcmp(a, b) != 0;
    else if (strcmp(op, "a IN b") == 0) r = strstr(b, a) != NULL;
    else if (strcmp(op, "a MATCH REGEX(b)") == 0) {
        regex_t re;
        char *anchored = malloc(lb + 2);
        if (anchored) {
            anchored[0] = '^';
            memcpy(anchored + 1, b, lb + 1);
            if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) == 0) {
                r = regexec(&re, a, 0, NULL, 0) == 0;
                regfree(&re);
            }
            free(anchored);
        }
    } else if (strcmp(op, "a BEGINSWITH b") == 0) r = strncmp(a, b, lb) == 0;
    else if (strcmp(op, "a ENDSWITH b") == 0) r = la >= lb && strcmp(a + la - lb, b) == 0;
    free(a);
    free(b);
    return H->set_output(call, 0, H->value_bool(H->ctx, r));
}

static int value_truthy(const comfy_value *v)
{
    int64_t i;
    double d;
    int b;
    comfy_tensor *t;
    switch (H->value_kind(v)) {
    case COMFY_KIND_NONE: return 0;
    case COMFY_KIND_BOOL: H->value_get_bool(v, &b); return b;
    case COMFY_KIND_INT: {
        uint64_t u;
        if (H->value_get_int(v, &i) == COMFY_OK) return i != 0;
        return H->value_get_uint(v, &u) == COMFY_OK && u != 0;
    }
    case COMFY_KIND_FLOAT: H->value_get_float(v, &d); return d != 0;
    case COMFY_KIND_STRING: return *H->value_get_string(v) != 0;
    case COMFY_KIND_LIST: return H->list_len(v) > 0;
    case COMFY_KIND_MAP: return H->map_len(v) > 0;
    case COMFY_KIND_TENSOR:
        t = H->value_get_tensor(v);
        if (t->dtype == COMFY_F32 && H->tensor_is_contiguous(t)) {
            for (int64_t k = 0, n = numel(t); k < n; k++)
                if (((const float *)t->data)[k] != 0.0f)
                    return 1;
            return 0;
        }
        return 1;
    default: return 1;
    }
}

static int to_bool(comfy_call *call)
{
    int r = value_truthy(H->input(call, "value"));
    if (get_bool(call, "invert", 0))
        r = !r;
    return H->set_output(call, 0, H->value_bool(H->ctx, r));
}

static const char *const bool_ops[] = {"a AND b", "a OR b", "a XOR b", "NOT a", NULL};

static int bool_op(comfy_call *call)
{
    int a = get_bool(call, "a", 0), b = get_bool(call, "b", 0), r;
    const char *op = get_str(call, "op");
    if (strcmp(op, "a AND b") == 0) r = a && b;
    else if (strcmp(op, "a OR b") == 0) r = a || b;
    else if (strcmp(op, "a XOR b") == 0) r = a ^ b;
    else r = !a;
    return H->set_output(call, 0, H->value_bool(H->ctx, r));
}

static const comfy_input_def int_cond_in[] = {
    IN("a", "INT", COMFY_REQUIRED, BIG_INT), IN("b", "INT", COMFY_REQUIRED, BIG_INT),
    COMBO("operation", COMFY_REQUIRED, cmp_ops)};
static const comfy_input_def float_cond_in[] = {
    IN("a", "FLOAT", COMFY_REQUIRED, "{\"default\": 0, \"min\": -999999999999.0, \"max\": 999999999999.0, \"step\": 1}"),
    IN("b", "FLOAT", COMFY_REQUIRED, "{\"default\": 0, \"min\": -999999999999.0, \"max\": 999999999999.0, \"step\": 1}"),
    COMBO("operation", COMFY_REQUIRED, cmp_ops)};
static const comfy_input_def string_cond_in[] = {
    IN("a", "STRING", COMFY_REQUIRED, "{\"multiline\": false}"),
    IN("b", "STRING", COMFY_REQUIRED, "{\"multiline\": false}"),
    COMBO("operation", COMFY_REQUIRED, str_ops),
    IN("case_sensitive", "BOOLEAN", COMFY_REQUIRED, "{\"default\": true}")};
static const comfy_input_def to_bool_in[] = {
    IN("value", "*", COMFY_REQUIRED, NULL),
    IN("invert", "BOOLEAN", COMFY_OPTIONAL, "{\"default\": false}")};
static const comfy_input_def bool_op_in[] = {
    IN("a", "BOOLEAN", COMFY_REQUIRED, NULL), IN("b", "BOOLEAN", COMFY_REQUIRED, NULL),
    COMBO("op", COMFY_REQUIRED, bool_ops)};

/* ---- flow control ---------------------------------------------------------------- */

static int execution_blocker(comfy_call *call)
{
    if (get_bool(call, "block", 0)) {
        const char *msg = get_bool(call, "verbose", 0) ? "Blocked Execution" : NULL;
        return H->set_output(call, 0, H->value_object(H->ctx, "ExecutionBlocker", NULL,
                                                      (void *)msg, NULL));
    }
    return pass_input(call, 0, "input");
}

static const comfy_input_def blocker_in[] = {
    IN("input", "*", COMFY_REQUIRED, NULL), IN("block", "BOOLEAN", COMFY_REQUIRED, NULL),
    IN("verbose", "BOOLEAN", COMFY_REQUIRED, "{\"default\": false}")};

/* ---- async_test_nodes.py ------------------------------------------------------------- */

/* Sleeps `secs`, checking for interrupt every 10 ms.  COMFY_OK or the
 * status to return. */
static int nap(comfy_call *call, double secs)
{
    double end = mono_seconds() + secs;
    while (mono_seconds() < end) {
        int rc = H->interrupted(call);
        if (rc != COMFY_OK)
            return rc;
        double left = end - mono_seconds();
        if (left > 0.01)
            left = 0.01;
        if (left > 0) {
            struct timespec d = {0, (long)(left * 1e9)};
            nanosleep(&d, NULL);
        }
    }
    return COMFY_OK;
}

static int async_validation_exec(comfy_call *call)
{
    return out_tensor(call, 0, filled(1, 512, 512, 3, get_float(call, "value", 5.0) / 10.0));
}

/* Python str() of a float for messages. */
static void pyfloat(double d, char *out, size_t cap)
{
    snprintf(out, cap, "%.17g", d);
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    if (!strpbrk(out, ".eninf"))
        strncat(out, ".0", cap - strlen(out) - 1);
}

static int async_validation_hook2(comfy_call *call)
{
    struct timespec d = {0, 50 * 1000 * 1000};
    nanosleep(&d, NULL);
    double v = get_float(call, "value", 5.0), t = get_float(call, "threshold", 10.0);
    if (v > t) {
        char a[40], b[40];
        pyfloat(v, a, sizeof(a));
        pyfloat(t, b, sizeof(b));
        return H->fail(call, "ValueError", "Value %s exceeds threshold %s", a, b);
    }
    return COMFY_OK;
}

static int async_validation_error_exec(comfy_call *call)
{
    double v = get_float(call, "value", 5.0), m = get_float(call, "max_value", 10.0);
    return out_tensor(call, 0, filled(1, 512, 512, 3, v / m));
}

static int async_validation_error_hook(comfy_call *call)
{
    struct timespec d = {0, 50 * 1000 * 1000};
    nanosleep(&d, NULL);
    double v = get_float(call, "value", 5.0), m = get_float(call, "max_value", 10.0);
    if (v > m) {
        char a[40], b[40];
        pyfloat(v, a, sizeof(a));
        pyfloat(m, b, sizeof(b));
        return H->fail(call, "ValueError", "Async validation failed: %s > %s", a, b);
    }
    return COMFY_OK;
}

static int async_error(comfy_call *call)
{
    int rc = nap(call, get_float(call, "error_after", 0.1));
    if (rc != COMFY_OK)
        return rc;
    return H->fail(call, "RuntimeError", "Intentional async execution error for testing");
}

static int async_timeout(comfy_call *call)
{
    double timeout = get_float(call, "timeout", 1.0), op = get_float(call, "operation_time", 2.0);
    int rc = nap(call, op < timeout ? op : timeout);
    if (rc != COMFY_OK)
        return rc;
    if (op > timeout) {
        char t[40];
        pyfloat(timeout, t, sizeof(t));
        return H->fail(call, "RuntimeError", "Operation timed out after %s seconds", t);
    }
    return pass_input(call, 0, "value");
}

static int async_lazy_check(comfy_call *call, comfy_value *needed)
{
    struct timespec d = {0, 50 * 1000 * 1000};
    nanosleep(&d, NULL);
    int cond = get_bool(call, "condition", 1);
    if (cond && !H->input(call, "input1"))
        H->list_append(needed, H->value_string(H->ctx, "input1", (size_t)-1));
    if (!cond && !H->input(call, "input2"))
        H->list_append(needed, H->value_string(H->ctx, "input2", (size_t)-1));
    return COMFY_OK;
}

static int async_lazy_exec(comfy_call *call)
{
    return out_tensor(call, 0, filled(1, 512, 512, 3, 1.0));
}

static int dynamic_async(comfy_call *call)
{
    if (can_expand(call) != COMFY_OK)
        return COMFY_ERR;
    int64_t n = get_int(call, "num_async_nodes", 3);
    double secs = get_float(call, "sleep_duration", 0.2);
    const char *p = H->expand_prefix(call);
    sbuf b = {0};
    sb_printf(&b, "{");
    for (int64_t i = 0; i < n; i++) {
        sb_printf(&b, "\"%s%lld\": {\"class_type\": \"TestSleep\", \"inputs\": {\"value\": ", p, (long long)i + 1);
        sb_value(&b, call, H->input(call, i % 2 == 0 ? "image1" : "image2"));
        sb_printf(&b, ", \"seconds\": %.17g}}, ", secs);
    }
    char out[300];
    if (n == 1) {
        snprintf(out, sizeof(out), "%s1", p);
        sb_printf(&b, "\"%sunused\": {\"class_type\": \"StubInt\", \"inputs\": {\"value\": 0}}}", p);
    } else {
        snprintf(out, sizeof(out), "%savg", p);
        sb_printf(&b, "\"%savg\": {\"class_type\": \"TestVariadicAverage\", \"inputs\": {", p);
        for (int64_t i = 0; i < n; i++)
            sb_printf(&b, "%s\"input%lld\": [\"%s%lld\", 0]", i ? ", " : "", (long long)i + 1, p,
                      (long long)i + 1);
        sb_printf(&b, "}}}");
    }
    int rc = sb_expand(call, &b);
    return rc == COMFY_OK ? H->set_output_link(call, 0, out, 0) : rc;
}

/* TestAsyncResourceUser's class-level resource table. */
static pthread_mutex_t res_mu = PTHREAD_MUTEX_INITIALIZER;
static char res_busy[64][128];

static int resource_user(comfy_call *call)
{
    const char *id = get_str(call, "resource_id");
    int slot = -1;
    pthread_mutex_lock(&res_mu);
    for (int i = 0; i < 64; i++)
        if (strcmp(res_busy[i], id) == 0) {
            pthread_mutex_unlock(&res_mu);
            return H->fail(call, "RuntimeError", "Resource %s is already in use!", id);
        }
    for (int i = 0; i < 64 && slot < 0; i++)
        if (!res_busy[i][0])
            slot = i;
    if (slot >= 0)
        snprintf(res_busy[slot], sizeof(res_busy[slot]), "%s", id);
    pthread_mutex_unlock(&res_mu);
    int rc = nap(call, get_float(call, "duration", 0.1));
    if (slot >= 0) {
        pthread_mutex_lock(&res_mu);
        res_busy[slot][0] = 0;
        pthread_mutex_unlock(&res_mu);
    }
    return rc != COMFY_OK ? rc : pass_input(call, 0, "value");
}

static int batch_processing(comfy_call *call)
{
    comfy_tensor *a = in_tensor(call, "images");
    if (!a)
        return COMFY_ERR;
    double per = get_float(call, "process_time_per_item", 0.1);
    int64_t bsz = a->ndim > 0 ? a->shape[0] : 1;
    comfy_tensor *o = H->tensor_new(H->ctx, COMFY_F32, (int)a->ndim, a->shape);
    if (!o)
        return H->fail(call, "MemoryError", "cannot allocate a tensor");
    int64_t per_item = bsz > 0 ? numel(a) / bsz : 0;
    for (int64_t i = 0; i < bsz; i++) {
        int rc = nap(call, per);
        if (rc == COMFY_OK)
            rc = H->progress(call, (double)(i + 1), (double)bsz, NULL);
        if (rc != COMFY_OK) {
            H->tensor_release(o);
            return rc;
        }
        for (int64_t k = 0; k < per_item; k++)
            ((float *)o->data)[i * per_item + k] = 1.0f - ((const float *)a->data)[i * per_item + k];
    }
    return out_tensor(call, 0, o);
}

/* TestAsyncConcurrentLimit's semaphore of 2. */
static pthread_mutex_t sem_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sem_cv = PTHREAD_COND_INITIALIZER;
static int sem_free = 2;

static int concurrent_limit(comfy_call *call)
{
    pthread_mutex_lock(&sem_mu);
    while (sem_free == 0)
        pthread_cond_wait(&sem_cv, &sem_mu);
    sem_free--;
    pthread_mutex_unlock(&sem_mu);
    int rc = nap(call, get_float(call, "duration", 0.5));
    pthread_mutex_lock(&sem_mu);
    sem_free++;
    pthread_cond_signal(&sem_cv);
    pthread_mutex_unlock(&sem_mu);
    return rc != COMFY_OK ? rc : pass_input(call, 0, "value");
}

static const comfy_input_def async_validation_in[] = {
    IN("value", "FLOAT", COMFY_REQUIRED, "{\"default\": 5.0}"),
    IN("threshold", "FLOAT", COMFY_REQUIRED, "{\"default\": 10.0}")};
static const comfy_input_def async_validation_error_in[] = {
    IN("value", "FLOAT", COMFY_REQUIRED, "{\"default\": 5.0}"),
    IN("max_value", "FLOAT", COMFY_REQUIRED, "{\"default\": 10.0}")};
static const char *const v_value_threshold[] = {"value", "threshold", NULL};
static const char *const v_value_max[] = {"value", "max_value", NULL};
static const comfy_input_def async_error_in[] = {
    IN("value", "*", COMFY_REQUIRED, "{}"),
    IN("error_after", "FLOAT", COMFY_REQUIRED, "{\"default\": 0.1, \"min\": 0.0, \"max\": 10.0}")};
static const comfy_input_def async_timeout_in[] = {
    IN("value", "*", COMFY_REQUIRED, "{}"),
    IN("timeout", "FLOAT", COMFY_REQUIRED, "{\"default\": 1.0, \"min\": 0.1, \"max\": 10.0}"),
    IN("operation_time", "FLOAT", COMFY_REQUIRED, "{\"default\": 2.0, \"min\": 0.1, \"max\": 10.0}")};
static const comfy_input_def async_lazy_in[] = {
    IN("input1", "*", COMFY_REQUIRED, "{\"lazy\": true}"),
    IN("input2", "*", COMFY_REQUIRED, "{\"lazy\": true}"),
    IN("condition", "BOOLEAN", COMFY_REQUIRED, "{\"default\": true}")};
static const comfy_input_def dynamic_async_in[] = {
    IN("image1", "IMAGE", COMFY_REQUIRED, NULL), IN("image2", "IMAGE", COMFY_REQUIRED, NULL),
    IN("num_async_nodes", "INT", COMFY_REQUIRED, "{\"default\": 3, \"min\": 1, \"max\": 10}"),
    IN("sleep_duration", "FLOAT", COMFY_REQUIRED, "{\"default\": 0.2, \"min\": 0.1, \"max\": 1.0}")};
static const comfy_input_def resource_in[] = {
    IN("value", "*", COMFY_REQUIRED, "{}"),
    IN("resource_id", "STRING", COMFY_REQUIRED, "{\"default\": \"resource_0\"}"),
    IN("duration", "FLOAT", COMFY_REQUIRED, "{\"default\": 0.1, \"min\": 0.0, \"max\": 1.0}")};
static const comfy_input_def batch_in[] = {
    IN("images", "IMAGE", COMFY_REQUIRED, NULL),
    IN("process_time_per_item", "FLOAT", COMFY_REQUIRED, "{\"default\": 0.1, \"min\": 0.01, \"max\": 1.0}"),
    IN("unique_id", "UNIQUE_ID", COMFY_HIDDEN, NULL)};
static const comfy_input_def limit_in[] = {
    IN("value", "*", COMFY_REQUIRED, "{}"),
    IN("duration", "FLOAT", COMFY_REQUIRED, "{\"default\": 0.5, \"min\": 0.1, \"max\": 2.0}"),
    IN("node_id", "INT", COMFY_REQUIRED, "{\"default\": 0}")};

/* ---- the class table -------------------------------------------------------------- */

#define NODE(nm, disp, cat, ins, outs, fn, ...)                                                  \
    {.size = sizeof(comfy_node_def), .name = nm, .display_name = disp, .category = cat,          \
     .module = "custom_nodes.testing-pack", .inputs = ins, .n_inputs = N(ins), .outputs = outs, \
     .n_outputs = N(outs), .execute = fn, __VA_ARGS__}

static const comfy_node_def nodes[] = {
    NODE("TestLazyMixImages", "Lazy Mix Images", "Testing/Nodes", lazy_mix_in, o_image, lazy_mix,
         .check_lazy = lazy_mix_check),
    NODE("TestVariadicAverage", "Variadic Average", "Testing/Nodes", variadic_in, o_image, variadic_average),
    NODE("TestCustomIsChanged", "Custom IsChanged", "Testing/Nodes", custom_is_changed_in, o_image,
         custom_is_changed_exec, .is_changed = custom_is_changed_hook),
    NODE("TestIsChangedWithConstants", "IsChanged With Constants", "Testing/Nodes", is_changed_const_in,
         o_image, is_changed_const_exec, .is_changed = is_changed_const_hook),
    NODE("TestCustomValidation1", "Custom Validation 1", "Testing/Nodes", validation_union_in, o_image,
         custom_validation_exec, .validate_inputs = validation1, .validates = v_inputs12),
    NODE("TestCustomValidation2", "Custom Validation 2", "Testing/Nodes", validation_union_in, o_image,
         custom_validation_exec, .validate_inputs = validation2, .validates = v_types12),
    NODE("TestCustomValidation3", "Custom Validation 3", "Testing/Nodes", validation_union_in, o_image,
         custom_validation_exec, .validate_inputs = variant_validate, .validates = v_types),
    NODE("TestCustomValidation4", "Custom Validation 4", "Testing/Nodes", validation4_in, o_image,
         custom_validation_exec, .validate_inputs = validation4, .validates = v_inputs12),
    NODE("TestCustomValidation5", "Custom Validation 5", "Testing/Nodes", validation5_in, o_image,
         validation5_exec, .validate_inputs = validation5, .validates = v_kwargs),
    NODE("TestMixedExpansionReturns", "Mixed Expansion Returns", "Testing/Nodes", mixed_in, o_image2,
         mixed_expansion),
    NODE("TestDynamicDependencyCycle", "Dynamic Dependency Cycle", "Testing/Nodes", cycle_in, o_image,
         dynamic_cycle),
    NODE("TestSleep", "Test Sleep", "_for_testing", sleep_in, o_any, test_sleep,
         .flags = COMFY_NODE_ASYNC),
    NODE("TestParallelSleep", "Test Parallel Sleep", "_for_testing", parallel_in, o_image, parallel_sleep,
         .flags = COMFY_NODE_OUTPUT),
    NODE("TestOutputNodeWithSocketOutput", "Test Output Node With Socket Output", "_for_testing",
         output_socket_in, o_image, output_socket, .flags = COMFY_NODE_OUTPUT),
    NODE("TestSyncProgressUpdate", "Sync Progress Update Test Node", "_for_testing/async", progress_in,
         o_any, progress_update),
    NODE("TestSyncError", "Test Sync Error", "_for_testing/async", sync_error_in, o_any, sync_error),
    NODE("TestAsyncValidation", "Test Async Validation", "_for_testing/async", async_validation_in, o_image,
         async_validation_exec, .validate_inputs = async_validation_hook2, .validates = v_value_threshold),
    NODE("TestAsyncError", "Test Async Error", "_for_testing/async", async_error_in, o_any, async_error,
         .flags = COMFY_NODE_ASYNC),
    NODE("TestAsyncValidationError", "Test Async Validation Error", "_for_testing/async",
         async_validation_error_in, o_image, async_validation_error_exec,
         .validate_inputs = async_validation_error_hook, .validates = v_value_max),
    NODE("TestAsyncTimeout", "Test Async Timeout", "_for_testing/async", async_timeout_in, o_any,
         async_timeout, .flags = COMFY_NODE_ASYNC),
    NODE("TestAsyncLazyCheck", "Test Async Lazy Check", "_for_testing/async", async_lazy_in, o_image,
         async_lazy_exec, .check_lazy = async_lazy_check),
    NODE("TestDynamicAsyncGeneration", "Test Dynamic Async Generation", "_for_testing/async",
         dynamic_async_in, o_image, dynamic_async),
    NODE("TestAsyncResourceUser", "Test Async Resource User", "_for_testing/async", resource_in, o_any,
         resource_user, .flags = COMFY_NODE_ASYNC),
    NODE("TestAsyncBatchProcessing", "Test Async Batch Processing", "_for_testing/async", batch_in,
         o_image, batch_processing, .flags = COMFY_NODE_ASYNC),
    NODE("TestAsyncConcurrentLimit", "Test Async Concurrent Limit", "_for_testing/async", limit_in, o_any,
         concurrent_limit, .flags = COMFY_NODE_ASYNC),
    NODE("TestAsyncProgressUpdate", "Async Progress Update Test Node", "_for_testing/async", progress_in,
         o_any, progress_update, .flags = COMFY_NODE_ASYNC),
    NODE("TestWhileLoopOpen", "While Loop Open", "Testing/Flow", while_open_in, while_open_out, while_open,
         .validate_inputs = variant_validate, .validates = v_types),
    NODE("TestWhileLoopClose", "While Loop Close", "Testing/Flow", while_close_in, while_close_out,
         while_close, .validate_inputs = variant_validate, .validates = v_types),
    NODE("TestForLoopOpen", "For Loop Open", "Testing/Flow", for_open_in, for_open_out, for_open,
         .validate_inputs = variant_validate, .validates = v_types),
    NODE("TestForLoopClose", "For Loop Close", "Testing/Flow", for_close_in, for_close_out, for_close,
         .validate_inputs = variant_validate, .validates = v_types),
    NODE("TestExecutionBlocker", "Execution Blocker", "Testing/Flow", blocker_in, o_blocker,
         execution_blocker, .validate_inputs = variant_validate, .validates = v_types),
    NODE("TestAccumulateNode", "Accumulate", "Testing/Lists", accumulate_in, o_accum, accumulate,
         .validate_inputs = variant_validate, .validates = v_types),
    NODE("TestAccumulationHeadNode", "Accumulation Head", "Testing/Lists", accum_in, o_accum_any,
         accum_head, .validate_inputs = variant_validate, .validates = v_types),
    NODE("TestAccumulationTailNode", "Accumulation Tail", "Testing/Lists", accum_in, o_accum_any,
         accum_tail),
    NODE("TestAccumulationToListNode", "Accumulation to List", "Testing/Lists", accum_in, o_any_list,
         accum_to_list, .validate_inputs = variant_validate, .validates = v_types),
    NODE("TestListToAccumulationNode", "List to Accumulation", "Testing/Lists", list_in, o_accum,
         list_to_accum, .flags = COMFY_NODE_INPUT_IS_LIST, .validate_inputs = variant_validate,
         .validates = v_types),
    NODE("TestAccumulationGetLengthNode", "Accumulation Get Length", "Testing/Lists", accum_in, o_int,
         accum_len, .validate_inputs = variant_validate, .validates = v_types),
    NODE("TestAccumulationGetItemNode", "Accumulation Get Item", "Testing/Lists", accum_get_in, o_any,
         accum_get, .validate_inputs = variant_validate, .validates = v_types),
    NODE("TestAccumulationSetItemNode", "Accumulation Set Item", "Testing/Lists", accum_set_in, o_accum,
         accum_set, .validate_inputs = variant_validate, .validates = v_types),
    NODE("TestIntMathOperation", "Int Math Operation", "Testing/Logic", int_math_in, o_int, int_math),
    NODE("TestMakeListNode", "Make List", "Testing/Lists", make_list_in, o_any_list, make_list,
         .validate_inputs = variant_validate, .validates = v_types),
    NODE("TestIntConditions", "Int Condition", "Testing/Logic", int_cond_in, o_bool, int_cond),
    NODE("TestFloatConditions", "Float Condition", "Testing/Logic", float_cond_in, o_bool, float_cond),
    NODE("TestStringConditions", "String Condition", "Testing/Logic", string_cond_in, o_bool, string_cond),
    NODE("TestToBoolNode", "To Bool", "Testing/Logic", to_bool_in, o_bool, to_bool),
    NODE("TestBoolOperationNode", "Bool Operation", "Testing/Logic", bool_op_in, o_bool, bool_op),
    NODE("StubImage", "Stub Image", "Testing/Stub Nodes", solid_image_in, o_image, solid_image),
    NODE("StubConstantImage", "Stub Constant Image", "Testing/Stub Nodes", constant_image_in, o_image,
         constant_image),
    NODE("StubMask", "Stub Mask", "Testing/Stub Nodes", constant_image_in, o_mask, constant_mask),
    NODE("StubInt", "Stub Int", "Testing/Stub Nodes", int_value_in, o_int, pass_value),
    NODE("StubFloat", "Stub Float", "Testing/Stub Nodes", float_value_in, o_float, pass_value),
};

static int testing_init(const comfy_host *h, comfy_registrar *reg)
{
    H = h;
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        int rc = h->register_node(reg, &nodes[i]);
        if (rc != COMFY_OK)
            return rc;
    }
    return COMFY_OK;
}

COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
{
    static const comfy_pack_info info = {
        .size = sizeof(comfy_pack_info),
        .abi_major = COMFY_ABI_MAJOR,
        .abi_minor = COMFY_ABI_MINOR,
        .name = "testing",
        .version = "1.0",
        .description = "ComfyUI's execution testing-pack node classes, in C",
        .init = testing_init,
    };
    return &info;
}
