/*
 * nodes_image.c — the image nodes: ImageScale, ImageScaleBy, ImageInvert,
 * ImageBatch, ImagePadForOutpaint, EmptyImage (ComfyUI nodes.py),
 * ImageCrop (comfy_extras.nodes_images), and the V3 nodes ImageBlend,
 * ImageBlur, ImageSharpen, ImageScaleToTotalPixels
 * (comfy_extras.nodes_post_processing).  Declarations reproduce ComfyUI's
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
#define COMBO3(n, list, o) { sizeof(comfy_input_def), n, "COMBO", \
                             COMFY_REQUIRED, o, list, NULL, NULL, 1 }
#define OUT(t) { sizeof(comfy_output_def), t, NULL, NULL, 0 }
/* A V3 combo prints {"multiselect": false, "options": [...]}: the host
 * puts the choices where the "options" placeholder stands. */
#define V3_COMBO_OPT "{\"multiselect\": false, \"options\": null}"

static const char *const crop_methods[] = { "disabled", "center", NULL };

int core_scale_to(comfy_call *call, const core_view *img, int64_t ow,
                  int64_t oh, int method, int crop)
{
    if (ow < 1 || oh < 1)
        return call->host->fail(call, "ValueError", "the output size %lldx%lld"
                                " is empty", (long long)ow, (long long)oh);
    if (method == CORE_LANCZOS && img->c != 1 && img->c != 3 && img->c != 4)
        return call->host->fail(call, "ValueError", "lanczos needs an image "
                                "with 1, 3 or 4 channels, not %lld",
                                (long long)img->c);
    comfy_tensor *t = core_new_image(call, img->b, oh, ow, img->c);
    if (!t)
        return COMFY_ERR;
    /* one batch item at a time, checking for /interrupt in between */
    for (int64_t b = 0; b < img->b; b++) {
        int rc = call->host->interrupted(call);
        if (!rc)
            rc = core_upscale(img->data + b * img->h * img->w * img->c, 1,
                              img->h, img->w, img->c,
                              (float *)t->data + b * oh * ow * img->c, oh, ow,
                              method, crop);
        if (rc) {
            call->host->tensor_release(t);
            if (rc == COMFY_EINTERRUPTED)
                return rc;
            return core_fail_status(call, rc, "the image cannot be resized");
        }
    }
    return core_set_tensor(call, 0, t);
}

/* Passes input `name` through unchanged as output 0. */
static int pass_through(comfy_call *call, const char *name)
{
    const comfy_host *h = call->host;
    const comfy_value *v = h->input(call, name);
    return h->set_output(call, 0, h->value_retain(v));
}

/* --------------------------------------------------------- ImageScale */

static int image_scale_execute(comfy_call *call)
{
    int64_t width, height;
    int method, crop;
    core_view img;
    int rc;
    if ((rc = core_in_int(call, "width", &width)) ||
        (rc = core_in_int(call, "height", &height)) ||
        (rc = core_in_choice(call, "upscale_method", core_upscale_methods,
                             &method)) ||
        (rc = core_in_choice(call, "crop", crop_methods, &crop)) ||
        (rc = core_in_image(call, "image", &img)))
        return rc;
    if (width == 0 && height == 0) {
        core_view_free(&img);
        return pass_through(call, "image");
    }
    if (width == 0) {
        double v = nearbyint((double)img.w * (double)height / (double)img.h);
        width = v < 1 ? 1 : (int64_t)v;
    } else if (height == 0) {
        double v = nearbyint((double)img.h * (double)width / (double)img.w);
        height = v < 1 ? 1 : (int64_t)v;
    }
    rc = core_scale_to(call, &img, width, height, method, crop);
    core_view_free(&img);
    return rc;
}

static const comfy_input_def image_scale_inputs[] = {
    IN("image", "IMAGE", NULL),
    COMBO("upscale_method", core_upscale_methods),
    IN("width", "INT",
       "{\"default\": 512, \"min\": 0, \"max\": 16384, \"step\": 1}"),
    IN("height", "INT",
       "{\"default\": 512, \"min\": 0, \"max\": 16384, \"step\": 1}"),
    COMBO("crop", crop_methods),
};
static const comfy_output_def image_out[] = { OUT("IMAGE") };

/* ------------------------------------------------------- ImageScaleBy */

static int image_scale_by_execute(comfy_call *call)
{
    double s;
    int method;
    core_view img;
    int rc;
    if ((rc = core_in_float(call, "scale_by", &s)) ||
        (rc = core_in_choice(call, "upscale_method", core_upscale_methods,
                             &method)) ||
        (rc = core_in_image(call, "image", &img)))
        return rc;
    double w = nearbyint((double)img.w * s), h = nearbyint((double)img.h * s);
    if (!(w >= 1 && h >= 1 && w <= CORE_MAX_SIDE * 8.0 &&
          h <= CORE_MAX_SIDE * 8.0))
        rc = call->host->fail(call, "ValueError", "scale_by %g gives an "
                              "invalid size for a %lldx%lld image", s,
                              (long long)img.w, (long long)img.h);
    else
        rc = core_scale_to(call, &img, (int64_t)w, (int64_t)h, method, 0);
    core_view_free(&img);
    return rc;
}

static const comfy_input_def image_scale_by_inputs[] = {
    IN("image", "IMAGE", NULL),
    COMBO("upscale_method", core_upscale_methods),
    IN("scale_by", "FLOAT",
       "{\"default\": 1.0, \"min\": 0.01, \"max\": 8.0, \"step\": 0.01}"),
};

/* -------------------------------------------- ImageScaleToTotalPixels */

static int scale_total_execute(comfy_call *call)
{
    double mp;
    int method;
    core_view img;
    int rc;
    if ((rc = core_in_float(call, "megapixels", &mp)) ||
        (rc = core_in_choice(call, "upscale_method", core_upscale_methods,
                             &method)) ||
        (rc = core_in_image(call, "image", &img)))
        return rc;
    double total = trunc(mp * 1024.0 * 1024.0);
    double s = sqrt(total / ((double)img.w * (double)img.h));
    double w = nearbyint((double)img.w * s), h = nearbyint((double)img.h * s);
    if (!(w >= 1 && h >= 1 && w <= 1e9 && h <= 1e9))
        rc = call->host->fail(call, "ValueError", "megapixels %g gives an "
                              "invalid size for a %lldx%lld image", mp,
                              (long long)img.w, (long long)img.h);
    else
        rc = core_scale_to(call, &img, (int64_t)w, (int64_t)h, method, 0);
    core_view_free(&img);
    return rc;
}

static const comfy_input_def scale_total_inputs[] = {
    IN("image", "IMAGE", "{}"),
    COMBO3("upscale_method", core_upscale_methods, V3_COMBO_OPT),
    IN("megapixels", "FLOAT",
       "{\"default\": 1.0, \"min\": 0.01, \"max\": 16.0, \"step\": 0.01}"),
};

/* -------------------------------------------------------- ImageInvert */

static int image_invert_execute(comfy_call *call)
{
    core_view img;
    int rc = core_in_image(call, "image", &img);
    if (rc)
        return rc;
    comfy_tensor *t = core_new_image(call, img.b, img.h, img.w, img.c);
    if (!t) {
        core_view_free(&img);
        return COMFY_ERR;
    }
    float *o = t->data;
    for (int64_t i = 0; i < img.b * img.h * img.w * img.c; i++)
        o[i] = 1.0f - img.data[i];
    core_view_free(&img);
    return core_set_tensor(call, 0, t);
}

static const comfy_input_def image_only_inputs[] = {
    IN("image", "IMAGE", NULL),
};

/* --------------------------------------------------------- ImageBatch */

static int image_batch_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    core_view a, b;
    int rc = core_in_image(call, "image1", &a);
    if (rc)
        return rc;
    if ((rc = core_in_image(call, "image2", &b))) {
        core_view_free(&a);
        return rc;
    }
    if (a.c != b.c) {
        rc = h->fail(call, "RuntimeError", "image1 has %lld channels and "
                     "image2 %lld; they cannot be batched", (long long)a.c,
                     (long long)b.c);
        goto out;
    }
    /* The output first (its size is checked), then image2 goes straight
     * into its tail, resized to image1's size (bilinear, center crop)
     * when that differs. */
    comfy_tensor *t = core_new_image(call, a.b + b.b, a.h, a.w, a.c);
    if (!t) {
        rc = COMFY_ERR;
        goto out;
    }
    size_t na = (size_t)(a.b * a.h * a.w * a.c);
    float *tail = (float *)t->data + na;
    memcpy(t->data, a.data, sizeof(float) * na);
    if (a.h != b.h || a.w != b.w) {
        rc = core_upscale(b.data, b.b, b.h, b.w, b.c, tail, a.h, a.w,
                          CORE_BILINEAR, 1);
        if (rc) {
            h->tensor_release(t);
            rc = core_fail_status(call, rc, "image2 cannot be resized");
            goto out;
        }
    } else {
        memcpy(tail, b.data, sizeof(float) * (size_t)(b.b * b.h * b.w * b.c));
    }
    rc = core_set_tensor(call, 0, t);
out:
    core_view_free(&a);
    core_view_free(&b);
    return rc;
}

static const comfy_input_def image_batch_inputs[] = {
    IN("image1", "IMAGE", NULL),
    IN("image2", "IMAGE", NULL),
};

/* ------------------------------------------------ ImagePadForOutpaint */

static int pad_execute(comfy_call *call)
{
    int64_t l, t, r, b, f;
    core_view img;
    int rc;
    if ((rc = core_in_int(call, "left", &l)) ||
        (rc = core_in_int(call, "top", &t)) ||
        (rc = core_in_int(call, "right", &r)) ||
        (rc = core_in_int(call, "bottom", &b)) ||
        (rc = core_in_int(call, "feathering", &f)))
        return rc;
    if (l < 0 || t < 0 || r < 0 || b < 0 || l > CORE_MAX_SIDE ||
        t > CORE_MAX_SIDE || r > CORE_MAX_SIDE || b > CORE_MAX_SIDE)
        return call->host->fail(call, "ValueError", "padding must be between "
                                "0 and %d", CORE_MAX_SIDE);
    if ((rc = core_in_image(call, "image", &img)))
        return rc;
    int64_t nh = img.h + t + b, nw = img.w + l + r;
    comfy_tensor *out = core_new_image(call, img.b, nh, nw, img.c);
    comfy_tensor *mask = out ? core_new_mask(call, 1, nh, nw) : NULL;
    if (!mask) {
        call->host->tensor_release(out);
        core_view_free(&img);
        return COMFY_ERR;
    }
    core_pad_outpaint(img.data, img.b, img.h, img.w, img.c, l, t, r, b, f,
                      out->data, mask->data);
    core_view_free(&img);
    rc = core_set_tensor(call, 0, out);
    if (rc) {
        call->host->tensor_release(mask);
        return rc;
    }
    return core_set_tensor(call, 1, mask);
}

#define PAD_OPT "{\"default\": 0, \"min\": 0, \"max\": 16384, \"step\": 8}"
static const comfy_input_def pad_inputs[] = {
    IN("image", "IMAGE", NULL),
    IN("left", "INT", PAD_OPT),
    IN("top", "INT", PAD_OPT),
    IN("right", "INT", PAD_OPT),
    IN("bottom", "INT", PAD_OPT),
    IN("feathering", "INT",
       "{\"default\": 40, \"min\": 0, \"max\": 16384, \"step\": 1}"),
};
static const comfy_output_def image_mask_out[] = { OUT("IMAGE"), OUT("MASK") };

/* --------------------------------------------------------- EmptyImage */

static int empty_image_execute(comfy_call *call)
{
    int64_t w, h, bs, color;
    int rc;
    if ((rc = core_in_int(call, "width", &w)) ||
        (rc = core_in_int(call, "height", &h)) ||
        (rc = core_in_int(call, "batch_size", &bs)) ||
        (rc = core_in_int(call, "color", &color)))
        return rc;
    comfy_tensor *t = core_new_image(call, bs, h, w, 3);
    if (!t)
        return COMFY_ERR;
    core_fill_color(t->data, bs * h * w, color);
    return core_set_tensor(call, 0, t);
}

static const comfy_input_def empty_image_inputs[] = {
    IN("width", "INT",
       "{\"default\": 512, \"min\": 1, \"max\": 16384, \"step\": 1}"),
    IN("height", "INT",
       "{\"default\": 512, \"min\": 1, \"max\": 16384, \"step\": 1}"),
    IN("batch_size", "INT", "{\"default\": 1, \"min\": 1, \"max\": 4096}"),
    IN("color", "INT", "{\"default\": 0, \"min\": 0, \"max\": 16777215, "
                       "\"step\": 1, \"display\": \"color\"}"),
};

/* ---------------------------------------------------------- ImageCrop */

static int image_crop_execute(comfy_call *call)
{
    int64_t w, h, x, y;
    core_view img;
    int rc;
    if ((rc = core_in_int(call, "width", &w)) ||
        (rc = core_in_int(call, "height", &h)) ||
        (rc = core_in_int(call, "x", &x)) ||
        (rc = core_in_int(call, "y", &y)))
        return rc;
    if (w < 1 || h < 1 || x < 0 || y < 0)
        return call->host->fail(call, "ValueError", "crop size must be "
                                "positive and x, y not negative");
    if ((rc = core_in_image(call, "image", &img)))
        return rc;
    if (x > img.w - 1)
        x = img.w - 1;
    if (y > img.h - 1)
        y = img.h - 1;
    int64_t cw = x + w < img.w ? w : img.w - x;
    int64_t ch = y + h < img.h ? h : img.h - y;
    comfy_tensor *t = core_new_image(call, img.b, ch, cw, img.c);
    if (!t) {
        core_view_free(&img);
        return COMFY_ERR;
    }
    float *o = t->data;
    for (int64_t b = 0; b < img.b; b++)
        for (int64_t r = 0; r < ch; r++)
            memcpy(o + ((b * ch + r) * cw) * img.c,
                   img.data + ((b * img.h + y + r) * img.w + x) * img.c,
                   sizeof(float) * (size_t)(cw * img.c));
    core_view_free(&img);
    return core_set_tensor(call, 0, t);
}

#define XY_OPT "{\"default\": 0, \"min\": 0, \"max\": 16384, \"step\": 1}"
#define WH_OPT "{\"default\": 512, \"min\": 1, \"max\": 16384, \"step\": 1}"
static const comfy_input_def image_crop_inputs[] = {
    IN("image", "IMAGE", NULL),
    IN("width", "INT", WH_OPT),
    IN("height", "INT", WH_OPT),
    IN("x", "INT", XY_OPT),
    IN("y", "INT", XY_OPT),
};

/* --------------------------------------------------------- ImageBlend */

/* Copies `v` [b,h,w,c] to a new buffer with `nc` channels: the first
 * min(c, nc) kept, extra channels set to `fill`.  Caller frees. */
static float *rechannel(const core_view *v, int64_t nc, float fill)
{
    int64_t n = v->b * v->h * v->w;
    float *o = malloc(sizeof(float) * (size_t)(n * nc));
    if (!o)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < nc; k++)
            o[i * nc + k] = k < v->c ? v->data[i * v->c + k] : fill;
    return o;
}

static int image_blend_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    double f;
    int mode, rc;
    core_view a, b;
    float *fa = NULL, *fb = NULL, *rs = NULL;
    if ((rc = core_in_float(call, "blend_factor", &f)) ||
        (rc = core_in_choice(call, "blend_mode", core_blend_modes, &mode)) ||
        (rc = core_in_image(call, "image1", &a)))
        return rc;
    if ((rc = core_in_image(call, "image2", &b))) {
        core_view_free(&a);
        return rc;
    }
    /* node_helpers.image_alpha_fix: cut image2's channels to image1's, or
     * give image1 one more channel of 1.0. */
    core_view va = a, vb = b;
    if (a.c < b.c) {
        fb = rechannel(&b, a.c, 0.0f);
        vb.c = a.c;
        vb.data = fb;
    } else if (a.c > b.c) {
        fa = rechannel(&a, a.c + 1, 1.0f);
        va.c = a.c + 1;
        va.data = fa;
    }
    if ((a.c < b.c && !fb) || (a.c > b.c && !fa)) {
        rc = h->fail(call, "RuntimeError", "out of memory");
        goto out;
    }
    if (vb.h != va.h || vb.w != va.w) {
        char msg[256];
        if (core_check_dims(vb.b, va.h, va.w, vb.c, msg, sizeof(msg)) < 0) {
            rc = h->fail(call, "ValueError", "%s", msg);
            goto out;
        }
        rs = malloc(sizeof(float) * (size_t)(vb.b * va.h * va.w * vb.c));
        if (!rs) {
            rc = h->fail(call, "RuntimeError", "out of memory");
            goto out;
        }
        rc = core_upscale(vb.data, vb.b, vb.h, vb.w, vb.c, rs, va.h, va.w,
                          CORE_BICUBIC, 1);
        if (rc) {
            rc = core_fail_status(call, rc, "image2 cannot be resized");
            goto out;
        }
        vb.data = rs;
        vb.h = va.h;
        vb.w = va.w;
    }
    /* torch broadcasting over batch and channels */
    if ((va.b != vb.b && va.b != 1 && vb.b != 1) ||
        (va.c != vb.c && va.c != 1 && vb.c != 1)) {
        rc = h->fail(call, "RuntimeError", "image1 [%lld, %lld, %lld, %lld] "
                     "and image2 [%lld, %lld, %lld, %lld] cannot be blended",
                     (long long)va.b, (long long)va.h, (long long)va.w,
                     (long long)va.c, (long long)vb.b, (long long)vb.h,
                     (long long)vb.w, (long long)vb.c);
        goto out;
    }
    int64_t ob = va.b > vb.b ? va.b : vb.b, oc = va.c > vb.c ? va.c : vb.c;
    comfy_tensor *t = core_new_image(call, ob, va.h, va.w, oc);
    if (!t) {
        rc = COMFY_ERR;
        goto out;
    }
    float *o = t->data;
    int64_t px = va.h * va.w;
    for (int64_t bi = 0; bi < ob; bi++) {
        const float *pa = va.data + (va.b == 1 ? 0 : bi) * px * va.c;
        const float *pb = vb.data + (vb.b == 1 ? 0 : bi) * px * vb.c;
        float *po = o + bi * px * oc;
        if (va.c == vb.c) {
            core_blend(pa, pb, po, (size_t)(px * oc), (float)f, mode);
        } else {
            for (int64_t i = 0; i < px; i++)
                for (int64_t k = 0; k < oc; k++) {
                    float x = pa[i * va.c + (va.c == 1 ? 0 : k)];
                    float y = pb[i * vb.c + (vb.c == 1 ? 0 : k)];
                    core_blend(&x, &y, &po[i * oc + k], 1, (float)f, mode);
                }
        }
    }
    rc = core_set_tensor(call, 0, t);
out:
    free(fa);
    free(fb);
    free(rs);
    core_view_free(&a);
    core_view_free(&b);
    return rc;
}

static const comfy_input_def image_blend_inputs[] = {
    IN("image1", "IMAGE", "{}"),
    IN("image2", "IMAGE", "{}"),
    IN("blend_factor", "FLOAT",
       "{\"default\": 0.5, \"min\": 0.0, \"max\": 1.0, \"step\": 0.01}"),
    COMBO3("blend_mode", core_blend_modes, V3_COMBO_OPT),
};

/* ---------------------------------------------- ImageBlur, ImageSharpen */

/* Blurs (alpha < 0) or sharpens input "image" with radius r, one batch
 * item at a time, checking for /interrupt in between. */
static int filter(comfy_call *call, int64_t r, float sigma, float alpha)
{
    core_view img;
    int rc = core_in_image(call, "image", &img);
    if (rc)
        return rc;
    if (r >= img.h || r >= img.w) {
        core_view_free(&img);
        return call->host->fail(call, "ValueError", "the radius %lld must be "
                                "smaller than the image size %lldx%lld",
                                (long long)r, (long long)img.w,
                                (long long)img.h);
    }
    comfy_tensor *t = core_new_image(call, img.b, img.h, img.w, img.c);
    if (!t) {
        core_view_free(&img);
        return COMFY_ERR;
    }
    int64_t per = img.h * img.w * img.c;
    for (int64_t b = 0; b < img.b && rc == 0; b++) {
        rc = call->host->interrupted(call);
        if (rc)
            break;
        float *o = (float *)t->data + b * per;
        rc = alpha < 0.0f
            ? core_gaussian_blur(img.data + b * per, 1, img.h, img.w, img.c,
                                 (int)r, sigma, o)
            : core_sharpen(img.data + b * per, 1, img.h, img.w, img.c,
                           (int)r, sigma, alpha, o);
    }
    core_view_free(&img);
    if (rc) {
        call->host->tensor_release(t);
        if (rc == COMFY_EINTERRUPTED)
            return rc;
        return core_fail_status(call, rc, "the image cannot be filtered");
    }
    return core_set_tensor(call, 0, t);
}

static int image_blur_execute(comfy_call *call)
{
    int64_t r;
    double sigma;
    int rc;
    if ((rc = core_in_int(call, "blur_radius", &r)) ||
        (rc = core_in_float(call, "sigma", &sigma)))
        return rc;
    if (r == 0)
        return pass_through(call, "image");
    if (r < 0 || r > 31)
        return call->host->fail(call, "ValueError", "blur_radius must be "
                                "between 1 and 31");
    return filter(call, r, (float)sigma, -1.0f);
}

static const comfy_input_def image_blur_inputs[] = {
    IN("image", "IMAGE", "{}"),
    IN("blur_radius", "INT",
       "{\"default\": 1, \"min\": 1, \"max\": 31, \"step\": 1}"),
    IN("sigma", "FLOAT",
       "{\"default\": 1.0, \"min\": 0.1, \"max\": 10.0, \"step\": 0.1}"),
};

static int image_sharpen_execute(comfy_call *call)
{
    int64_t r;
    double sigma, alpha;
    int rc;
    if ((rc = core_in_int(call, "sharpen_radius", &r)) ||
        (rc = core_in_float(call, "sigma", &sigma)) ||
        (rc = core_in_float(call, "alpha", &alpha)))
        return rc;
    if (r == 0)
        return pass_through(call, "image");
    if (r < 0 || r > 31)
        return call->host->fail(call, "ValueError", "sharpen_radius must be "
                                "between 1 and 31");
    if (!(alpha >= 0.0))
        return call->host->fail(call, "ValueError", "alpha must not be "
                                "negative");
    return filter(call, r, (float)sigma, (float)alpha);
}

static const comfy_input_def image_sharpen_inputs[] = {
    IN("image", "IMAGE", "{}"),
    IN("sharpen_radius", "INT",
       "{\"default\": 1, \"min\": 1, \"max\": 31, \"step\": 1}"),
    IN("sigma", "FLOAT",
       "{\"default\": 1.0, \"min\": 0.1, \"max\": 10.0, \"step\": 0.01}"),
    IN("alpha", "FLOAT",
       "{\"default\": 1.0, \"min\": 0.0, \"max\": 5.0, \"step\": 0.01}"),
};

/* ------------------------------------------------------- RebatchImages */

/* INPUT_IS_LIST: "images" is a LIST of IMAGE batches and "batch_size" a
 * LIST whose first INT counts.  Every image of every batch is taken in
 * order and regrouped into batches of batch_size (the last may be
 * smaller); the output is that list.  Images in one group must share
 * their size, as torch.cat requires. */
static int rebatch_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const comfy_value *imgs = h->input(call, "images");
    const comfy_value *bsv = h->input(call, "batch_size");
    int64_t bs;
    if (!imgs || !bsv || h->list_len(bsv) < 1 ||
        h->value_get_int(h->list_get(bsv, 0), &bs) != COMFY_OK || bs < 1)
        return h->fail(call, "ValueError", "RebatchImages needs a list of "
                       "images and a positive batch_size");
    size_t n_in = h->list_len(imgs);
    int64_t total = 0;
    for (size_t i = 0; i < n_in; i++) {
        comfy_tensor *t = h->value_get_tensor(h->list_get(imgs, i));
        if (!t || t->ndim != 4 || t->dtype != COMFY_F32 ||
            !h->tensor_is_contiguous(t))
            return h->fail(call, "ValueError", "images item %zu is not a "
                           "float32 IMAGE tensor", i);
        total += t->shape[0];
    }
    comfy_value *out = h->value_list(h->ctx);
    if (!out)
        return h->fail(call, "RuntimeError", "out of memory");
    /* walk (item, index) pairs in order, bs images per output batch */
    size_t item = 0;
    int64_t idx = 0;
    for (int64_t done = 0; done < total;) {
        int64_t n = total - done < bs ? total - done : bs;
        while (h->value_get_tensor(h->list_get(imgs, item))->shape[0] == idx) {
            item++;
            idx = 0;
        }
        comfy_tensor *first = h->value_get_tensor(h->list_get(imgs, item));
        int64_t ih = first->shape[1], iw = first->shape[2];
        int64_t ic = first->shape[3];
        comfy_tensor *t = core_new_image(call, n, ih, iw, ic);
        if (!t) {
            h->value_release(out);
            return COMFY_ERR;
        }
        size_t per = (size_t)(ih * iw * ic);
        for (int64_t k = 0; k < n; k++) {
            comfy_tensor *src;
            while ((src = h->value_get_tensor(h->list_get(imgs, item)))
                       ->shape[0] == idx) {
                item++;
                idx = 0;
            }
            if (src->shape[1] != ih || src->shape[2] != iw ||
                src->shape[3] != ic) {
                h->tensor_release(t);
                h->value_release(out);
                return h->fail(call, "RuntimeError", "Sizes of tensors must "
                               "match: images of %lldx%lldx%lld and "
                               "%lldx%lldx%lld cannot share a batch",
                               (long long)iw, (long long)ih, (long long)ic,
                               (long long)src->shape[2],
                               (long long)src->shape[1],
                               (long long)src->shape[3]);
            }
            memcpy((float *)t->data + (size_t)k * per,
                   (const float *)src->data + (size_t)idx * per,
                   sizeof(float) * per);
            idx++;
        }
        if (h->list_append(out, h->value_tensor(h->ctx, t)) != COMFY_OK) {
            h->value_release(out);
            return h->fail(call, "RuntimeError", "out of memory");
        }
        done += n;
    }
    return h->set_output(call, 0, out);
}

static const comfy_input_def rebatch_inputs[] = {
    IN("images", "IMAGE", "{}"),
    IN("batch_size", "INT", "{\"default\": 1, \"min\": 1, \"max\": 4096}"),
};
static const comfy_output_def rebatch_out[] = {
    { sizeof(comfy_output_def), "IMAGE", NULL, NULL, 1 },
};

static const comfy_node_def rebatch_node = {
    .size = sizeof(comfy_node_def), .name = "RebatchImages",
    .display_name = "Rebatch Images", .category = "image/batch",
    .module = "comfy_extras.nodes_rebatch", .inputs = rebatch_inputs,
    .n_inputs = 2, .outputs = rebatch_out, .n_outputs = 1,
    .flags = COMFY_NODE_V3_SCHEMA | COMFY_NODE_INPUT_IS_LIST,
    .execute = rebatch_execute,
};

int core_register_rebatch(const comfy_host *h, comfy_registrar *reg)
{
    return h->register_node(reg, &rebatch_node);
}

/* ------------------------------------------------------ declarations */

#define NODE(nm, disp, cat, mod, ins, outs, fn, fl) { \
    .size = sizeof(comfy_node_def), .name = nm, .display_name = disp, \
    .category = cat, .module = mod, .inputs = ins, \
    .n_inputs = sizeof(ins) / sizeof(ins[0]), .outputs = outs, \
    .n_outputs = sizeof(outs) / sizeof(outs[0]), .flags = fl, \
    .execute = fn }

static const comfy_node_def image_nodes_v1[] = {
    NODE("ImageScale", "Upscale Image", "image/upscaling", "nodes",
         image_scale_inputs, image_out, image_scale_execute, 0),
    NODE("ImageScaleBy", "Upscale Image By", "image/upscaling", "nodes",
         image_scale_by_inputs, image_out, image_scale_by_execute, 0),
    NODE("ImageInvert", "Invert Image", "image", "nodes", image_only_inputs,
         image_out, image_invert_execute, 0),
    NODE("ImageBatch", "Batch Images", "image", "nodes", image_batch_inputs,
         image_out, image_batch_execute, 0),
    NODE("ImagePadForOutpaint", "Pad Image for Outpainting", "image", "nodes",
         pad_inputs, image_mask_out, pad_execute, 0),
    NODE("EmptyImage", "EmptyImage", "image", "nodes", empty_image_inputs,
         image_out, empty_image_execute, 0),
};

#define PP "comfy_extras.nodes_post_processing"
static const comfy_node_def image_nodes_v3[] = {
    NODE("ImageBlend", NULL, "image/postprocessing", PP, image_blend_inputs,
         image_out, image_blend_execute, COMFY_NODE_V3_SCHEMA),
    NODE("ImageBlur", NULL, "image/postprocessing", PP, image_blur_inputs,
         image_out, image_blur_execute, COMFY_NODE_V3_SCHEMA),
    NODE("ImageSharpen", NULL, "image/postprocessing", PP,
         image_sharpen_inputs, image_out, image_sharpen_execute,
         COMFY_NODE_V3_SCHEMA),
    NODE("ImageScaleToTotalPixels", NULL, "image/upscaling", PP,
         scale_total_inputs, image_out, scale_total_execute,
         COMFY_NODE_V3_SCHEMA),
};

static const comfy_node_def image_crop_node =
    NODE("ImageCrop", "Image Crop", "image/transform",
         "comfy_extras.nodes_images", image_crop_inputs, image_out,
         image_crop_execute, 0);

/* Registers in ComfyUI's order: nodes.py first, then the extras modules
 * in the order ComfyUI loads them (post_processing before images). */
int core_register_image_nodes(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < sizeof(image_nodes_v1) / sizeof(image_nodes_v1[0]);
         i++) {
        int rc = h->register_node(reg, &image_nodes_v1[i]);
        if (rc)
            return rc;
    }
    return 0;
}

int core_register_postprocessing_nodes(const comfy_host *h,
                                       comfy_registrar *reg)
{
    for (size_t i = 0; i < sizeof(image_nodes_v3) / sizeof(image_nodes_v3[0]);
         i++) {
        int rc = h->register_node(reg, &image_nodes_v3[i]);
        if (rc)
            return rc;
    }
    return 0;
}

int core_register_image_extras(const comfy_host *h, comfy_registrar *reg)
{
    int rc = h->register_node(reg, &image_crop_node);
    return rc ? rc : core_register_batch_nodes(h, reg);
}
