/*
 * nodes_batch.c — the rest of comfy_extras.nodes_images that needs no
 * extra library: RepeatImageBatch, ImageFromBatch, GetImageSize,
 * ImageRotate, ImageFlip and ImageScaleToMaxDimension.  Declarations
 * reproduce ComfyUI's /object_info entries; execute runs on the executor
 * thread.
 */
#include <math.h>
#include <string.h>

#include "core.h"

#define IN(n, t, o) { sizeof(comfy_input_def), n, t, COMFY_REQUIRED, o, \
                      NULL, NULL, NULL, 0 }
#define COMBO(n, list) { sizeof(comfy_input_def), n, "COMBO", COMFY_REQUIRED, \
                         NULL, list, NULL, NULL, 0 }
#define OUT(t) { sizeof(comfy_output_def), t, NULL, NULL, 0 }

static const comfy_output_def image_out[] = { OUT("IMAGE") };

/* --------------------------------------------------- RepeatImageBatch */

static int repeat_execute(comfy_call *call)
{
    int64_t amount;
    core_view img;
    int rc;
    if ((rc = core_in_int(call, "amount", &amount)))
        return rc;
    if (amount < 1 || amount > 4096)
        return call->host->fail(call, "ValueError", "amount must be between "
                                "1 and 4096");
    if ((rc = core_in_image(call, "image", &img)))
        return rc;
    /* image.repeat((amount, 1, 1, 1)): the whole batch, amount times */
    comfy_tensor *t = core_new_image(call, img.b * amount, img.h, img.w,
                                     img.c);
    if (!t) {
        core_view_free(&img);
        return COMFY_ERR;
    }
    size_t n = (size_t)(img.b * img.h * img.w * img.c);
    for (int64_t k = 0; k < amount; k++)
        memcpy((float *)t->data + (size_t)k * n, img.data, sizeof(float) * n);
    core_view_free(&img);
    return core_set_tensor(call, 0, t);
}

static const comfy_input_def repeat_inputs[] = {
    IN("image", "IMAGE", NULL),
    IN("amount", "INT", "{\"default\": 1, \"min\": 1, \"max\": 4096}"),
};

/* ----------------------------------------------------- ImageFromBatch */

static int from_batch_execute(comfy_call *call)
{
    int64_t index, length;
    core_view img;
    int rc;
    if ((rc = core_in_int(call, "batch_index", &index)) ||
        (rc = core_in_int(call, "length", &length)))
        return rc;
    if (index < 0 || length < 1)
        return call->host->fail(call, "ValueError", "batch_index must not be "
                                "negative and length must be positive");
    if ((rc = core_in_image(call, "image", &img)))
        return rc;
    if (index > img.b - 1)
        index = img.b - 1;
    if (length > img.b - index)
        length = img.b - index;
    comfy_tensor *t = core_new_image(call, length, img.h, img.w, img.c);
    if (!t) {
        core_view_free(&img);
        return COMFY_ERR;
    }
    size_t per = (size_t)(img.h * img.w * img.c);
    memcpy(t->data, img.data + (size_t)index * per,
           sizeof(float) * per * (size_t)length);
    core_view_free(&img);
    return core_set_tensor(call, 0, t);
}

static const comfy_input_def from_batch_inputs[] = {
    IN("image", "IMAGE", NULL),
    IN("batch_index", "INT", "{\"default\": 0, \"min\": 0, \"max\": 4095}"),
    IN("length", "INT", "{\"default\": 1, \"min\": 1, \"max\": 4096}"),
};

/* ------------------------------------------------------- GetImageSize */

static int get_size_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    core_view img;
    int rc = core_in_image(call, "image", &img);
    if (rc)
        return rc;
    int64_t v[3] = { img.w, img.h, img.b };
    core_view_free(&img);
    for (uint32_t i = 0; i < 3; i++) {
        comfy_value *iv = h->value_int(h->ctx, v[i]);
        if (!iv)
            return h->fail(call, "RuntimeError", "out of memory");
        if ((rc = h->set_output(call, i, iv)) != COMFY_OK)
            return rc;
    }
    return COMFY_OK;
}

static const comfy_input_def get_size_inputs[] = {
    IN("image", "IMAGE", NULL),
    { sizeof(comfy_input_def), "unique_id", "UNIQUE_ID", COMFY_HIDDEN, NULL,
      NULL, NULL, NULL, 0 },
};
static const comfy_output_def get_size_out[] = {
    { sizeof(comfy_output_def), "INT", "width", NULL, 0 },
    { sizeof(comfy_output_def), "INT", "height", NULL, 0 },
    { sizeof(comfy_output_def), "INT", "batch_size", NULL, 0 },
};

/* ---------------------------------------------- ImageRotate, ImageFlip */

static const char *const rotations[] = {
    "none", "90 degrees", "180 degrees", "270 degrees", NULL
};
static const char *const flips[] = {
    "x-axis: vertically", "y-axis: horizontally", NULL
};

/* Rotates clockwise by k quarter turns (torch.rot90(k, dims=[2, 1])) or,
 * for k < 0, flips: -1 rows (x-axis), -2 columns (y-axis). */
static int transform(comfy_call *call, int k)
{
    core_view img;
    int rc = core_in_image(call, "image", &img);
    if (rc)
        return rc;
    int64_t h = img.h, w = img.w, c = img.c;
    int swap = k == 1 || k == 3;
    int64_t oh = swap ? w : h, ow = swap ? h : w;
    comfy_tensor *t = core_new_image(call, img.b, oh, ow, c);
    if (!t) {
        core_view_free(&img);
        return COMFY_ERR;
    }
    float *o = t->data;
    for (int64_t b = 0; b < img.b; b++) {
        const float *src = img.data + b * h * w * c;
        float *dst = o + b * h * w * c;
        for (int64_t y = 0; y < oh; y++) {
            for (int64_t x = 0; x < ow; x++) {
                int64_t sy, sx;
                switch (k) {
                case 1: sy = h - 1 - x; sx = y; break;
                case 2: sy = h - 1 - y; sx = w - 1 - x; break;
                case 3: sy = x; sx = w - 1 - y; break;
                case -1: sy = h - 1 - y; sx = x; break;
                case -2: sy = y; sx = w - 1 - x; break;
                default: sy = y; sx = x; break;
                }
                memcpy(dst + (y * ow + x) * c, src + (sy * w + sx) * c,
                       sizeof(float) * (size_t)c);
            }
        }
    }
    core_view_free(&img);
    return core_set_tensor(call, 0, t);
}

static int rotate_execute(comfy_call *call)
{
    int k, rc;
    if ((rc = core_in_choice(call, "rotation", rotations, &k)))
        return rc;
    return transform(call, k);
}

static int flip_execute(comfy_call *call)
{
    int k, rc;
    if ((rc = core_in_choice(call, "flip_method", flips, &k)))
        return rc;
    return transform(call, -1 - k);
}

static const comfy_input_def rotate_inputs[] = {
    IN("image", "IMAGE", NULL),
    COMBO("rotation", rotations),
};
static const comfy_input_def flip_inputs[] = {
    IN("image", "IMAGE", NULL),
    COMBO("flip_method", flips),
};

/* ------------------------------------------- ImageScaleToMaxDimension */

/* ComfyUI's list, "bilinear" twice included. */
static const char *const max_dim_methods[] = {
    "area", "lanczos", "bilinear", "nearest-exact", "bilinear", "bicubic",
    NULL
};

static int max_dim_execute(comfy_call *call)
{
    const char *name;
    int64_t largest;
    core_view img;
    int rc;
    if ((rc = core_in_string(call, "upscale_method", &name)) ||
        (rc = core_in_int(call, "largest_size", &largest)))
        return rc;
    int method = core_upscale_method_from_name(name);
    if (method < 0)
        return call->host->fail(call, "ValueError", "input 'upscale_method': "
                                "unknown value '%s'", name);
    if ((rc = core_in_image(call, "image", &img)))
        return rc;
    int64_t w = largest, h = largest;
    if (img.h > img.w)
        w = (int64_t)nearbyint((double)img.w / (double)img.h *
                               (double)largest);
    else if (img.w > img.h)
        h = (int64_t)nearbyint((double)img.h / (double)img.w *
                               (double)largest);
    rc = core_scale_to(call, &img, w, h, method, 0);
    core_view_free(&img);
    return rc;
}

static const comfy_input_def max_dim_inputs[] = {
    IN("image", "IMAGE", NULL),
    COMBO("upscale_method", max_dim_methods),
    IN("largest_size", "INT",
       "{\"default\": 512, \"min\": 0, \"max\": 16384, \"step\": 1}"),
};

/* ------------------------------------------------------ declarations */

#define NODE(nm, disp, cat, ins, outs, fn) { \
    .size = sizeof(comfy_node_def), .name = nm, .display_name = disp, \
    .category = cat, .module = "comfy_extras.nodes_images", .inputs = ins, \
    .n_inputs = sizeof(ins) / sizeof(ins[0]), .outputs = outs, \
    .n_outputs = sizeof(outs) / sizeof(outs[0]), .execute = fn }

/* In the order of nodes_images.NODE_CLASS_MAPPINGS (after ImageCrop). */
static const comfy_node_def batch_nodes[] = {
    NODE("RepeatImageBatch", NULL, "image/batch", repeat_inputs, image_out,
         repeat_execute),
    NODE("ImageFromBatch", NULL, "image/batch", from_batch_inputs, image_out,
         from_batch_execute),
    { .size = sizeof(comfy_node_def), .name = "GetImageSize",
      .display_name = "Get Image Size", .category = "image",
      .description = "Returns width and height of the image, and passes it "
                     "through unchanged.",
      .module = "comfy_extras.nodes_images", .inputs = get_size_inputs,
      .n_inputs = 2, .outputs = get_size_out, .n_outputs = 3,
      .execute = get_size_execute },
    NODE("ImageRotate", NULL, "image/transform", rotate_inputs, image_out,
         rotate_execute),
    NODE("ImageFlip", NULL, "image/transform", flip_inputs, image_out,
         flip_execute),
    NODE("ImageScaleToMaxDimension", NULL, "image/upscaling", max_dim_inputs,
         image_out, max_dim_execute),
};

/* ComfyUI's order puts SaveAnimatedWEBP, SaveAnimatedPNG
 * (nodes_animated.c), ImageStitch and ResizeAndPadImage (nodes_stitch.c)
 * between ImageFromBatch and GetImageSize. */
int core_register_batch_nodes(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < sizeof(batch_nodes) / sizeof(batch_nodes[0]); i++) {
        int rc = h->register_node(reg, &batch_nodes[i]);
        if (!rc && i == 1)
            rc = core_register_animated_nodes(h, reg);
        if (!rc && i == 1)
            rc = core_register_stitch_nodes(h, reg);
        if (rc)
            return rc;
    }
    return 0;
}
