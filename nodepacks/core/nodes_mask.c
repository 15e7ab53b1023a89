/*
 * nodes_mask.c — the nodes of comfy_extras.nodes_mask but the latent one:
 * ImageCompositeMasked, MaskToImage, ImageToMask, ImageColorToMask,
 * SolidMask, InvertMask, CropMask, MaskComposite, FeatherMask, GrowMask,
 * ThresholdMask, MaskPreview.  Declarations reproduce ComfyUI's
 * /object_info entries; execute runs on the executor thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define IN(n, t, o) { sizeof(comfy_input_def), n, t, COMFY_REQUIRED, o, \
                      NULL, NULL, NULL, 0 }
#define COMBO(n, list) { sizeof(comfy_input_def), n, "COMBO", COMFY_REQUIRED, \
                         NULL, list, NULL, NULL, 0 }
#define OUT(t) { sizeof(comfy_output_def), t, NULL, NULL, 0 }

static const comfy_output_def mask_out[] = { OUT("MASK") };
static const comfy_output_def image_out[] = { OUT("IMAGE") };
static const comfy_input_def mask_only_inputs[] = { IN("mask", "MASK", NULL) };

static const char *const rgba_channels[] = {
    "red", "green", "blue", "alpha", NULL
};

/* A new float32 tensor with the shape of input `name` (elementwise mask
 * ops keep the shape, as torch does). */
static comfy_tensor *same_shape(comfy_call *call, const char *name,
                                const core_view *v)
{
    const comfy_host *h = call->host;
    comfy_tensor *in = h->value_get_tensor(h->input(call, name));
    char msg[256];
    if (core_check_dims(v->b, v->h, v->w, 1, msg, sizeof(msg)) < 0) {
        h->fail(call, "ValueError", "%s", msg);
        return NULL;
    }
    comfy_tensor *t = h->tensor_new(h->ctx, COMFY_F32, (int)in->ndim,
                                    in->shape);
    if (!t)
        h->fail(call, "RuntimeError", "out of memory");
    return t;
}

/* -------------------------------------------------------- ImageToMask */

static int image_to_mask_execute(comfy_call *call)
{
    int ch, rc;
    core_view img;
    if ((rc = core_in_choice(call, "channel", rgba_channels, &ch)) ||
        (rc = core_in_image(call, "image", &img)))
        return rc;
    if (ch >= img.c) {
        core_view_free(&img);
        return call->host->fail(call, "IndexError", "the image has %lld "
                                "channels, so it has no %s channel",
                                (long long)img.c, rgba_channels[ch]);
    }
    comfy_tensor *t = core_new_mask(call, img.b, img.h, img.w);
    if (!t) {
        core_view_free(&img);
        return COMFY_ERR;
    }
    float *o = t->data;
    for (int64_t i = 0; i < img.b * img.h * img.w; i++)
        o[i] = img.data[i * img.c + ch];
    core_view_free(&img);
    return core_set_tensor(call, 0, t);
}

static const comfy_input_def image_to_mask_inputs[] = {
    IN("image", "IMAGE", NULL),
    COMBO("channel", rgba_channels),
};

/* -------------------------------------------------------- MaskToImage */

static int mask_to_image_execute(comfy_call *call)
{
    core_view m;
    int rc = core_in_mask(call, "mask", &m);
    if (rc)
        return rc;
    comfy_tensor *t = core_new_image(call, m.b, m.h, m.w, 3);
    if (!t) {
        core_view_free(&m);
        return COMFY_ERR;
    }
    float *o = t->data;
    for (int64_t i = 0; i < m.b * m.h * m.w; i++)
        o[i * 3] = o[i * 3 + 1] = o[i * 3 + 2] = m.data[i];
    core_view_free(&m);
    return core_set_tensor(call, 0, t);
}

/* ---------------------------------------------------------- SolidMask */

static int solid_mask_execute(comfy_call *call)
{
    double v;
    int64_t w, h;
    int rc;
    if ((rc = core_in_float(call, "value", &v)) ||
        (rc = core_in_int(call, "width", &w)) ||
        (rc = core_in_int(call, "height", &h)))
        return rc;
    comfy_tensor *t = core_new_mask(call, 1, h, w);
    if (!t)
        return COMFY_ERR;
    float *o = t->data;
    for (int64_t i = 0; i < h * w; i++)
        o[i] = (float)v;
    return core_set_tensor(call, 0, t);
}

#define WH_OPT "{\"default\": 512, \"min\": 1, \"max\": 16384, \"step\": 1}"
#define XY_OPT "{\"default\": 0, \"min\": 0, \"max\": 16384, \"step\": 1}"
static const comfy_input_def solid_mask_inputs[] = {
    IN("value", "FLOAT",
       "{\"default\": 1.0, \"min\": 0.0, \"max\": 1.0, \"step\": 0.01}"),
    IN("width", "INT", WH_OPT),
    IN("height", "INT", WH_OPT),
};

/* --------------------------------------------- InvertMask, ThresholdMask */

static int elementwise(comfy_call *call, int threshold, float value)
{
    core_view m;
    int rc = core_in_mask(call, "mask", &m);
    if (rc)
        return rc;
    comfy_tensor *t = same_shape(call, "mask", &m);
    if (!t) {
        core_view_free(&m);
        return COMFY_ERR;
    }
    float *o = t->data;
    for (int64_t i = 0; i < m.b * m.h * m.w; i++)
        o[i] = threshold ? (m.data[i] > value ? 1.0f : 0.0f)
                         : 1.0f - m.data[i];
    core_view_free(&m);
    return core_set_tensor(call, 0, t);
}

static int invert_mask_execute(comfy_call *call)
{
    return elementwise(call, 0, 0.0f);
}

static int threshold_mask_execute(comfy_call *call)
{
    double v;
    int rc = core_in_float(call, "value", &v);
    if (rc)
        return rc;
    return elementwise(call, 1, (float)v);
}

static const comfy_input_def threshold_inputs[] = {
    IN("mask", "MASK", NULL),
    IN("value", "FLOAT",
       "{\"default\": 0.5, \"min\": 0.0, \"max\": 1.0, \"step\": 0.01}"),
};

/* ----------------------------------------------------------- CropMask */

static int crop_mask_execute(comfy_call *call)
{
    int64_t x, y, w, h;
    core_view m;
    int rc;
    if ((rc = core_in_int(call, "x", &x)) ||
        (rc = core_in_int(call, "y", &y)) ||
        (rc = core_in_int(call, "width", &w)) ||
        (rc = core_in_int(call, "height", &h)))
        return rc;
    if (x < 0 || y < 0 || w < 1 || h < 1)
        return call->host->fail(call, "ValueError", "crop size must be "
                                "positive and x, y not negative");
    if ((rc = core_in_mask(call, "mask", &m)))
        return rc;
    int64_t cw = x >= m.w ? 0 : (x + w < m.w ? w : m.w - x);
    int64_t ch = y >= m.h ? 0 : (y + h < m.h ? h : m.h - y);
    if (cw < 1 || ch < 1) {
        core_view_free(&m);
        return call->host->fail(call, "ValueError", "the crop at (%lld, %lld) "
                                "is outside the %lldx%lld mask", (long long)x,
                                (long long)y, (long long)m.w, (long long)m.h);
    }
    comfy_tensor *t = core_new_mask(call, m.b, ch, cw);
    if (!t) {
        core_view_free(&m);
        return COMFY_ERR;
    }
    float *o = t->data;
    for (int64_t b = 0; b < m.b; b++)
        for (int64_t r = 0; r < ch; r++)
            memcpy(o + (b * ch + r) * cw, m.data + (b * m.h + y + r) * m.w + x,
                   sizeof(float) * (size_t)cw);
    core_view_free(&m);
    return core_set_tensor(call, 0, t);
}

static const comfy_input_def crop_mask_inputs[] = {
    IN("mask", "MASK", NULL),
    IN("x", "INT", XY_OPT),
    IN("y", "INT", XY_OPT),
    IN("width", "INT", WH_OPT),
    IN("height", "INT", WH_OPT),
};

/* ------------------------------------------------------ MaskComposite */

static int mask_composite_execute(comfy_call *call)
{
    int64_t x, y;
    int op, rc;
    core_view d, s;
    if ((rc = core_in_int(call, "x", &x)) ||
        (rc = core_in_int(call, "y", &y)) ||
        (rc = core_in_choice(call, "operation", core_mask_ops, &op)))
        return rc;
    if (x < 0 || y < 0)
        return call->host->fail(call, "ValueError", "x and y must not be "
                                "negative");
    if ((rc = core_in_mask(call, "destination", &d)))
        return rc;
    if ((rc = core_in_mask(call, "source", &s))) {
        core_view_free(&d);
        return rc;
    }
    if (s.b != 1 && s.b != d.b) {
        rc = call->host->fail(call, "RuntimeError", "source batch %lld does "
                              "not match destination batch %lld",
                              (long long)s.b, (long long)d.b);
        goto out;
    }
    comfy_tensor *t = core_new_mask(call, d.b, d.h, d.w);
    if (!t) {
        rc = COMFY_ERR;
        goto out;
    }
    memcpy(t->data, d.data, sizeof(float) * (size_t)(d.b * d.h * d.w));
    core_mask_composite(t->data, d.b, d.h, d.w, s.data, s.b, s.h, s.w, x, y,
                        op);
    rc = core_set_tensor(call, 0, t);
out:
    core_view_free(&d);
    core_view_free(&s);
    return rc;
}

static const comfy_input_def mask_composite_inputs[] = {
    IN("destination", "MASK", NULL),
    IN("source", "MASK", NULL),
    IN("x", "INT", XY_OPT),
    IN("y", "INT", XY_OPT),
    COMBO("operation", core_mask_ops),
};

/* -------------------------------------------- FeatherMask and GrowMask */

/* Copies input "mask" into a new [B, H, W] tensor for in-place ops. */
static comfy_tensor *mask_copy(comfy_call *call, core_view *m)
{
    if (core_in_mask(call, "mask", m))
        return NULL;
    comfy_tensor *t = core_new_mask(call, m->b, m->h, m->w);
    if (t)
        memcpy(t->data, m->data, sizeof(float) * (size_t)(m->b * m->h * m->w));
    core_view_free(m);
    return t;
}

static int feather_mask_execute(comfy_call *call)
{
    int64_t l, t, r, b;
    core_view m;
    int rc;
    if ((rc = core_in_int(call, "left", &l)) ||
        (rc = core_in_int(call, "top", &t)) ||
        (rc = core_in_int(call, "right", &r)) ||
        (rc = core_in_int(call, "bottom", &b)))
        return rc;
    if (l < 0 || t < 0 || r < 0 || b < 0)
        return call->host->fail(call, "ValueError", "feather amounts must not "
                                "be negative");
    comfy_tensor *out = mask_copy(call, &m);
    if (!out)
        return COMFY_ERR;
    core_mask_feather(out->data, m.b, m.h, m.w, l, t, r, b);
    return core_set_tensor(call, 0, out);
}

#define EDGE_OPT "{\"default\": 0, \"min\": 0, \"max\": 16384, \"step\": 1}"
static const comfy_input_def feather_inputs[] = {
    IN("mask", "MASK", NULL),
    IN("left", "INT", EDGE_OPT),
    IN("top", "INT", EDGE_OPT),
    IN("right", "INT", EDGE_OPT),
    IN("bottom", "INT", EDGE_OPT),
};

static int grow_mask_execute(comfy_call *call)
{
    int64_t expand;
    int tapered, rc;
    core_view m;
    if ((rc = core_in_int(call, "expand", &expand)) ||
        (rc = core_in_bool(call, "tapered_corners", &tapered)))
        return rc;
    if (expand < -CORE_MAX_SIDE || expand > CORE_MAX_SIDE)
        return call->host->fail(call, "ValueError", "expand must be between "
                                "-%d and %d", CORE_MAX_SIDE, CORE_MAX_SIDE);
    comfy_tensor *out = mask_copy(call, &m);
    if (!out)
        return COMFY_ERR;
    for (int64_t b = 0; b < m.b && rc == 0; b++) {
        rc = call->host->interrupted(call);
        if (!rc)
            rc = core_mask_grow((float *)out->data + b * m.h * m.w, 1, m.h,
                                m.w, expand, tapered);
    }
    if (rc) {
        call->host->tensor_release(out);
        if (rc == COMFY_EINTERRUPTED)
            return rc;
        return core_fail_status(call, rc, "the mask cannot be grown");
    }
    return core_set_tensor(call, 0, out);
}

static const comfy_input_def grow_inputs[] = {
    IN("mask", "MASK", NULL),
    IN("expand", "INT",
       "{\"default\": 0, \"min\": -16384, \"max\": 16384, \"step\": 1}"),
    IN("tapered_corners", "BOOLEAN", "{\"default\": true}"),
};

/* ------------------------------------------------ ImageCompositeMasked */

/* Pastes `source` onto a copy of `destination` at (x, y) through the
 * optional mask, as comfy_extras.nodes_mask.composite does with
 * multiplier 1: source (resized to the destination with bilinear when
 * resize_source) repeated or cut to the destination's batch, the mask
 * resized (bilinear) to the source and repeated likewise, and
 * out = mask·source + (1 − mask)·destination over the visible part. */
static int composite_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int64_t x, y;
    int resize, rc;
    core_view d, s, m = { 0 };
    float *sbuf = NULL, *mbuf = NULL, *dfix = NULL, *sfix = NULL;
    comfy_tensor *t = NULL;
    if ((rc = core_in_int(call, "x", &x)) ||
        (rc = core_in_int(call, "y", &y)) ||
        (rc = core_in_bool(call, "resize_source", &resize)))
        return rc;
    if (x < 0 || y < 0)
        return h->fail(call, "ValueError", "x and y must not be negative");
    if ((rc = core_in_image(call, "destination", &d)))
        return rc;
    if ((rc = core_in_image(call, "source", &s))) {
        core_view_free(&d);
        return rc;
    }
    int has_mask = h->input(call, "mask") != NULL;
    if (has_mask && (rc = core_in_mask(call, "mask", &m)))
        goto out;
    /* node_helpers.image_alpha_fix */
    core_view dv = d, sv = s;
    if (d.c < s.c) {
        int64_t n = s.b * s.h * s.w;
        sfix = malloc(sizeof(float) * (size_t)(n * d.c));
        if (!sfix)
            goto nomem;
        for (int64_t i = 0; i < n; i++)
            memcpy(sfix + i * d.c, s.data + i * s.c, sizeof(float) *
                   (size_t)d.c);
        sv.c = d.c;
        sv.data = sfix;
    } else if (d.c > s.c) {
        int64_t n = d.b * d.h * d.w;
        dfix = malloc(sizeof(float) * (size_t)(n * (d.c + 1)));
        if (!dfix)
            goto nomem;
        for (int64_t i = 0; i < n; i++) {
            memcpy(dfix + i * (d.c + 1), d.data + i * d.c,
                   sizeof(float) * (size_t)d.c);
            dfix[i * (d.c + 1) + d.c] = 1.0f;
        }
        dv.c = d.c + 1;
        dv.data = dfix;
    }
    if (dv.c != sv.c && sv.c != 1) {
        rc = h->fail(call, "RuntimeError", "destination has %lld channels "
                     "and source %lld; they cannot be composited",
                     (long long)dv.c, (long long)sv.c);
        goto out;
    }
    if (resize && (sv.h != dv.h || sv.w != dv.w)) {
        char msg[256];
        if (core_check_dims(sv.b, dv.h, dv.w, sv.c, msg, sizeof(msg)) < 0) {
            rc = h->fail(call, "ValueError", "%s", msg);
            goto out;
        }
        sbuf = malloc(sizeof(float) * (size_t)(sv.b * dv.h * dv.w * sv.c));
        if (!sbuf)
            goto nomem;
        rc = core_resize(sv.data, sv.b, sv.h, sv.w, sv.c, sv.w * sv.c,
                         sv.h * sv.w * sv.c, sbuf, dv.h, dv.w, CORE_BILINEAR);
        if (rc) {
            rc = core_fail_status(call, rc, "source cannot be resized");
            goto out;
        }
        sv.h = dv.h;
        sv.w = dv.w;
        sv.data = sbuf;
    }
    if (has_mask) {
        mbuf = malloc(sizeof(float) * (size_t)(m.b * sv.h * sv.w));
        if (!mbuf)
            goto nomem;
        rc = core_resize(m.data, m.b, m.h, m.w, 1, m.w, m.h * m.w, mbuf,
                         sv.h, sv.w, CORE_BILINEAR);
        if (rc) {
            rc = core_fail_status(call, rc, "mask cannot be resized");
            goto out;
        }
    }
    t = core_new_image(call, dv.b, dv.h, dv.w, dv.c);
    if (!t) {
        rc = COMFY_ERR;
        goto out;
    }
    float *o = t->data;
    memcpy(o, dv.data, sizeof(float) * (size_t)(dv.b * dv.h * dv.w * dv.c));
    if (x > dv.w)
        x = dv.w;
    if (y > dv.h)
        y = dv.h;
    int64_t vw = sv.w < dv.w - x ? sv.w : dv.w - x;
    int64_t vh = sv.h < dv.h - y ? sv.h : dv.h - y;
    for (int64_t b = 0; b < dv.b; b++) {
        /* repeat_to_batch_size: source item b % sb; the mask is repeated
         * to the source's (already repeated) batch, so item b % mb */
        const float *sp = sv.data + (b % sv.b) * sv.h * sv.w * sv.c;
        const float *mp = has_mask ? mbuf + (b % m.b) * sv.h * sv.w : NULL;
        float *op = o + b * dv.h * dv.w * dv.c;
        for (int64_t r = 0; r < vh; r++) {
            for (int64_t q = 0; q < vw; q++) {
                float mv = mp ? mp[r * sv.w + q] : 1.0f;
                float inv = 1.0f - mv;
                float *dp = op + ((y + r) * dv.w + x + q) * dv.c;
                const float *src = sp + (r * sv.w + q) * sv.c;
                for (int64_t k = 0; k < dv.c; k++)
                    dp[k] = mv * src[sv.c == 1 ? 0 : k] + inv * dp[k];
            }
        }
    }
    rc = core_set_tensor(call, 0, t);
    t = NULL;
    goto out;
nomem:
    rc = h->fail(call, "RuntimeError", "out of memory");
out:
    free(sbuf);
    free(mbuf);
    free(dfix);
    free(sfix);
    core_view_free(&d);
    core_view_free(&s);
    core_view_free(&m);
    return rc;
}

static const comfy_input_def composite_inputs[] = {
    IN("destination", "IMAGE", NULL),
    IN("source", "IMAGE", NULL),
    IN("x", "INT", XY_OPT),
    IN("y", "INT", XY_OPT),
    IN("resize_source", "BOOLEAN", "{\"default\": false}"),
    { sizeof(comfy_input_def), "mask", "MASK", COMFY_OPTIONAL, NULL, NULL,
      NULL, NULL, 0 },
};

/* --------------------------------------------------- ImageColorToMask */

static int color_to_mask_execute(comfy_call *call)
{
    int64_t color;
    core_view img;
    int rc;
    if ((rc = core_in_int(call, "color", &color)))
        return rc;
    if ((rc = core_in_image(call, "image", &img)))
        return rc;
    if (img.c < 3) {
        core_view_free(&img);
        return call->host->fail(call, "IndexError", "the image has %lld "
                                "channels; 3 are needed", (long long)img.c);
    }
    comfy_tensor *t = core_new_mask(call, img.b, img.h, img.w);
    if (!t) {
        core_view_free(&img);
        return COMFY_ERR;
    }
    float *o = t->data;
    for (int64_t i = 0; i < img.b * img.h * img.w; i++) {
        int64_t v = 0;
        for (int k = 0; k < 3; k++) {
            float f = img.data[i * img.c + k];
            f = f < 0.0f ? 0.0f : f > 1.0f ? 1.0f : f;
            /* (clamp * 255).round().to(int): half to even */
            v = (v << 8) + (int64_t)rintf(f * 255.0f);
        }
        o[i] = v == color ? 1.0f : 0.0f;
    }
    core_view_free(&img);
    return core_set_tensor(call, 0, t);
}

static const comfy_input_def color_to_mask_inputs[] = {
    IN("image", "IMAGE", NULL),
    IN("color", "INT", "{\"default\": 0, \"min\": 0, \"max\": 16777215, "
                       "\"step\": 1, \"display\": \"color\"}"),
};

/* -------------------------------------------------------- MaskPreview */

/* Saves the masks as gray PNGs in the temp folder (compress level 4, as
 * ComfyUI's MaskPreview keeps SaveImage's level). */
static int mask_preview_execute(comfy_call *call)
{
    core_view m;
    char prefix[32];
    int rc = core_in_mask(call, "mask", &m);
    if (rc)
        return rc;
    float *rgb = malloc(sizeof(float) * (size_t)(m.b * m.h * m.w * 3));
    if (!rgb) {
        core_view_free(&m);
        return call->host->fail(call, "RuntimeError", "out of memory");
    }
    for (int64_t i = 0; i < m.b * m.h * m.w; i++)
        rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = m.data[i];
    core_view v = { m.b, m.h, m.w, 3, rgb, NULL };
    core_preview_prefix(call, prefix);
    rc = core_save_images(call, &v, "temp", prefix, 4);
    free(rgb);
    core_view_free(&m);
    return rc;
}

static const comfy_input_def mask_preview_inputs[] = {
    IN("mask", "MASK", NULL),
    { sizeof(comfy_input_def), "prompt", "PROMPT", COMFY_HIDDEN, NULL, NULL,
      NULL, NULL, 0 },
    { sizeof(comfy_input_def), "extra_pnginfo", "EXTRA_PNGINFO", COMFY_HIDDEN,
      NULL, NULL, NULL, NULL, 0 },
};

/* ------------------------------------------------------ declarations */

#define NODE(nm, disp, ins, outs, fn) { \
    .size = sizeof(comfy_node_def), .name = nm, .display_name = disp, \
    .category = "mask", .module = "comfy_extras.nodes_mask", .inputs = ins, \
    .n_inputs = sizeof(ins) / sizeof(ins[0]), .outputs = outs, \
    .n_outputs = sizeof(outs) / sizeof(outs[0]), .execute = fn }

/* In the order of nodes_mask.NODE_CLASS_MAPPINGS. */
static const comfy_node_def mask_nodes[] = {
    { .size = sizeof(comfy_node_def), .name = "ImageCompositeMasked",
      .category = "image", .module = "comfy_extras.nodes_mask",
      .inputs = composite_inputs, .n_inputs = 6, .outputs = image_out,
      .n_outputs = 1, .execute = composite_execute },
    NODE("MaskToImage", "Convert Mask to Image", mask_only_inputs, image_out,
         mask_to_image_execute),
    NODE("ImageToMask", "Convert Image to Mask", image_to_mask_inputs,
         mask_out, image_to_mask_execute),
    NODE("ImageColorToMask", NULL, color_to_mask_inputs, mask_out,
         color_to_mask_execute),
    NODE("SolidMask", NULL, solid_mask_inputs, mask_out, solid_mask_execute),
    NODE("InvertMask", NULL, mask_only_inputs, mask_out, invert_mask_execute),
    NODE("CropMask", NULL, crop_mask_inputs, mask_out, crop_mask_execute),
    NODE("MaskComposite", NULL, mask_composite_inputs, mask_out,
         mask_composite_execute),
    NODE("FeatherMask", NULL, feather_inputs, mask_out, feather_mask_execute),
    NODE("GrowMask", NULL, grow_inputs, mask_out, grow_mask_execute),
    NODE("ThresholdMask", NULL, threshold_inputs, mask_out,
         threshold_mask_execute),
    /* a SaveImage subclass: output node, SaveImage's description */
    { .size = sizeof(comfy_node_def), .name = "MaskPreview",
      .category = "mask",
      .description = "Saves the input images to your ComfyUI output "
                     "directory.",
      .module = "comfy_extras.nodes_mask", .inputs = mask_preview_inputs,
      .n_inputs = 3, .flags = COMFY_NODE_OUTPUT,
      .execute = mask_preview_execute },
};

int core_register_mask_nodes(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < sizeof(mask_nodes) / sizeof(mask_nodes[0]); i++) {
        int rc = h->register_node(reg, &mask_nodes[i]);
        if (rc)
            return rc;
    }
    return 0;
}
