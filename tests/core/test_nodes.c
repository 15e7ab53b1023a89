/*
 * test_nodes.c — the core pack's nodes run through the harness: the
 * registered catalogue, each node's execute on small inputs, the file
 * nodes (PNG/JPEG/WebP loading with EXIF orientation and alpha masks,
 * SaveImage's counter, subfolder and tEXt chunks, PreviewImage's temp
 * names), IS_CHANGED / VALIDATE_INPUTS, and clear errors for corrupt
 * files and over-large sizes.
 */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>

#include "check.h"
#include "core.h"
#include "harness.h"

static harness *H;
static const comfy_host *X;

static comfy_value *vint(int64_t v) { return X->value_int(X->ctx, v); }
static comfy_value *vfloat(double v) { return X->value_float(X->ctx, v); }
static comfy_value *vbool(int v) { return X->value_bool(X->ctx, v); }
static comfy_value *vstr(const char *s)
{
    return X->value_string(X->ctx, s, (size_t)-1);
}

/* A float32 tensor value of `shape` filled by f(i) = (i % 17) / 16. */
static comfy_value *vtensor(int ndim, const int64_t *shape)
{
    comfy_tensor *t = X->tensor_new(X->ctx, COMFY_F32, ndim, shape);
    float *p = t->data;
    for (int64_t i = 0; i < X->tensor_numel(t); i++)
        p[i] = (float)(i % 17) / 16.0f;
    return X->value_tensor(X->ctx, t);
}

static comfy_value *vimage(int64_t b, int64_t h, int64_t w, int64_t c)
{
    int64_t s[4] = { b, h, w, c };
    return vtensor(4, s);
}

static int shape_is(const comfy_tensor *t, int ndim, int64_t a, int64_t b,
                    int64_t c, int64_t d)
{
    int64_t want[4] = { a, b, c, d };
    if (!t || (int)t->ndim != ndim)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != want[i])
            return 0;
    return 1;
}

static void path_in(char *out, size_t cap, const char *which, const char *f)
{
    snprintf(out, cap, "%s/%s", hn_dir(H, which), f);
}

/* ------------------------------------------------------------ catalogue */

static void test_catalogue(void)
{
    static const char *const names[] = {
        "SaveImage", "PreviewImage", "LoadImage", "LoadImageMask",
        "LoadImageOutput",
        "ImageScale", "ImageScaleBy", "ImageInvert", "ImageBatch",
        "ImagePadForOutpaint", "EmptyImage", "ImageBlend", "ImageBlur",
        "ImageSharpen", "ImageScaleToTotalPixels", "ImageCompositeMasked",
        "MaskToImage", "ImageToMask", "ImageColorToMask", "SolidMask",
        "InvertMask", "CropMask", "MaskComposite", "FeatherMask", "GrowMask",
        "ThresholdMask", "MaskPreview", "RebatchImages", "ImageCrop",
        "RepeatImageBatch", "ImageFromBatch", "SaveAnimatedWEBP",
        "SaveAnimatedPNG", "ImageStitch",
        "ResizeAndPadImage", "GetImageSize", "ImageRotate",
        "ImageFlip", "ImageScaleToMaxDimension", "PrimitiveString", "PrimitiveStringMultiline",
        "PrimitiveInt", "PrimitiveFloat", "PrimitiveBoolean",
    };
    size_t n = sizeof(names) / sizeof(names[0]);
    CHECK(hn_count(H) == n, "%zu classes registered", hn_count(H));
    for (size_t i = 0; i < n && i < hn_count(H); i++)
        CHECK(strcmp(hn_def_at(H, i)->name, names[i]) == 0, "class %zu is %s",
              i, hn_def_at(H, i)->name);
    const comfy_node_def *d = hn_find(H, "SaveImage");
    CHECK(d && (d->flags & COMFY_NODE_OUTPUT) && d->n_outputs == 0 &&
              strcmp(d->category, "image") == 0 &&
              strcmp(d->module, "nodes") == 0, "SaveImage def");
    d = hn_find(H, "ImageBlend");
    CHECK(d && (d->flags & COMFY_NODE_V3_SCHEMA) && !d->display_name &&
              strcmp(d->module, "comfy_extras.nodes_post_processing") == 0,
          "ImageBlend is V3 without display name");
    d = hn_find(H, "LoadImage");
    CHECK(d && d->is_changed && d->validate_inputs && d->validates &&
              strcmp(d->validates[0], "image") == 0 &&
              strcmp(d->inputs[0].options, "{\"image_upload\": true}") == 0,
          "LoadImage hooks");
}

/* ---------------------------------------------------------- image nodes */

static void test_empty_and_invert(void)
{
    hn_call *c = hn_begin(H, "EmptyImage");
    hn_set(c, "width", vint(4));
    hn_set(c, "height", vint(3));
    hn_set(c, "batch_size", vint(2));
    hn_set(c, "color", vint(0x336699));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    comfy_tensor *t = hn_output_tensor(c, 0);
    CHECK(shape_is(t, 4, 2, 3, 4, 3), "EmptyImage shape");
    if (t) {
        float *p = t->data;
        CHECK(fabsf(p[0] - 0x33 / 255.0f) < 1e-7f &&
                  fabsf(p[2] - 0x99 / 255.0f) < 1e-7f &&
                  fabsf(p[71] - 0x99 / 255.0f) < 1e-7f, "EmptyImage colour");
    }
    hn_call *inv = hn_begin(H, "ImageInvert");
    hn_set(inv, "image", X->value_retain(hn_output(c, 0)));
    CHECK(hn_run(inv) == COMFY_OK, "%s", hn_error(inv));
    comfy_tensor *o = hn_output_tensor(inv, 0);
    CHECK(o && fabsf(((float *)o->data)[0] - (1 - 0x33 / 255.0f)) < 1e-6f,
          "invert");
    hn_end(inv);
    hn_end(c);

    c = hn_begin(H, "EmptyImage");
    hn_set(c, "width", vint(20000));
    hn_set(c, "height", vint(8));
    hn_set(c, "batch_size", vint(1));
    hn_set(c, "color", vint(0));
    CHECK(hn_run(c) == COMFY_ERR && strstr(hn_error(c), "16384"),
          "over-wide image: %s", hn_error(c));
    hn_end(c);
}

/* Inputs that are not contiguous float32: half floats and a strided
 * view are converted before the maths. */
static void test_input_layouts(void)
{
    int64_t shape[4] = { 1, 2, 3, 3 };
    comfy_tensor *t16 = X->tensor_new(X->ctx, COMFY_F16, 4, shape);
    uint16_t *hp = t16->data;
    for (int i = 0; i < 18; i++)
        hp[i] = (uint16_t)(i % 2 ? 0x3800 : 0x3400); /* 0.5, 0.25 */
    hn_call *c = hn_begin(H, "ImageInvert");
    hn_set(c, "image", X->value_tensor(X->ctx, t16));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    comfy_tensor *o = hn_output_tensor(c, 0);
    CHECK(o && o->dtype == COMFY_F32 && ((float *)o->data)[0] == 0.75f &&
              ((float *)o->data)[1] == 0.5f, "f16 input");
    hn_end(c);

    /* a [1, 2, 3, 3] view whose storage is [1, 3, 2, 3] (H and W
     * swapped): element (y, x, ch) lives at x*6 + y*3 + ch */
    static float store[18];
    for (int i = 0; i < 18; i++)
        store[i] = (float)i / 32.0f;
    int64_t strides[4] = { 18, 3, 6, 1 };
    comfy_tensor *tw = X->tensor_wrap(X->ctx, COMFY_F32, 4, shape, strides,
                                      store, NULL, NULL);
    c = hn_begin(H, "ImageInvert");
    hn_set(c, "image", X->value_tensor(X->ctx, tw));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    o = hn_output_tensor(c, 0);
    /* output (y=0, x=1, ch=2) = 1 - store[1*6 + 0*3 + 2] */
    CHECK(o && ((float *)o->data)[(0 * 3 + 1) * 3 + 2] == 1.0f - 8.0f / 32.0f,
          "strided input");
    hn_end(c);

    c = hn_begin(H, "ImageInvert");
    hn_set(c, "image", vstr("not an image"));
    CHECK(hn_run(c) == COMFY_ERR && strstr(hn_error(c), "tensor"),
          "string input: %s", hn_error(c));
    int64_t s3[3] = { 2, 2, 3 };
    hn_set(c, "image", vtensor(3, s3));
    CHECK(hn_run(c) == COMFY_ERR && strstr(hn_error(c), "IMAGE"),
          "3-D image: %s", hn_error(c));
    hn_end(c);
}

static void test_scale_nodes(void)
{
    hn_call *c = hn_begin(H, "ImageScale");
    hn_set(c, "image", vimage(1, 10, 20, 3));
    hn_set(c, "upscale_method", vstr("bilinear"));
    hn_set(c, "width", vint(0));
    hn_set(c, "height", vint(5));
    hn_set(c, "crop", vstr("disabled"));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    CHECK(shape_is(hn_output_tensor(c, 0), 4, 1, 5, 10, 3),
          "width 0 keeps the aspect");
    hn_set(c, "width", vint(0));
    hn_set(c, "height", vint(0));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    CHECK(shape_is(hn_output_tensor(c, 0), 4, 1, 10, 20, 3), "0x0 passes");
    hn_set(c, "upscale_method", vstr("bislerp"));
    hn_set(c, "width", vint(4));
    CHECK(hn_run(c) == COMFY_ERR && strstr(hn_error(c), "bislerp"),
          "unknown method: %s", hn_error(c));
    hn_end(c);

    c = hn_begin(H, "ImageScaleBy");
    hn_set(c, "image", vimage(2, 10, 20, 3));
    hn_set(c, "upscale_method", vstr("lanczos"));
    hn_set(c, "scale_by", vfloat(0.25));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    /* round(2.5) = 2 (half to even), round(5.0) = 5 */
    CHECK(shape_is(hn_output_tensor(c, 0), 4, 2, 2, 5, 3), "scale_by 0.25");
    hn_end(c);

    c = hn_begin(H, "ImageScaleToTotalPixels");
    hn_set(c, "image", vimage(1, 16, 32, 3));
    hn_set(c, "upscale_method", vstr("area"));
    hn_set(c, "megapixels", vfloat(0.01));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    /* total = int(10485.76) = 10485; s = sqrt(10485/512) */
    double s = sqrt(10485.0 / 512.0);
    CHECK(shape_is(hn_output_tensor(c, 0), 4, 1, (int64_t)nearbyint(16 * s),
                   (int64_t)nearbyint(32 * s), 3), "total pixels");
    hn_end(c);
}

static void test_batch_crop_pad(void)
{
    hn_call *c = hn_begin(H, "ImageBatch");
    hn_set(c, "image1", vimage(1, 8, 8, 3));
    hn_set(c, "image2", vimage(2, 4, 6, 3));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    CHECK(shape_is(hn_output_tensor(c, 0), 4, 3, 8, 8, 3), "batch resizes");
    hn_set(c, "image2", vimage(1, 8, 8, 4));
    CHECK(hn_run(c) == COMFY_ERR, "channel mismatch");
    hn_end(c);

    c = hn_begin(H, "ImageCrop");
    hn_set(c, "image", vimage(1, 10, 12, 3));
    hn_set(c, "width", vint(5));
    hn_set(c, "height", vint(50));
    hn_set(c, "x", vint(100));
    hn_set(c, "y", vint(2));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    comfy_tensor *t = hn_output_tensor(c, 0);
    /* x = min(100, 11) = 11 -> one column; rows 2..9 */
    CHECK(shape_is(t, 4, 1, 8, 1, 3), "crop clipping");
    if (t)
        CHECK(((float *)t->data)[0] ==
                  (float)(((2 * 12 + 11) * 3) % 17) / 16.0f, "crop origin");
    hn_end(c);

    c = hn_begin(H, "ImagePadForOutpaint");
    hn_set(c, "image", vimage(2, 4, 4, 3));
    hn_set(c, "left", vint(8));
    hn_set(c, "top", vint(0));
    hn_set(c, "right", vint(0));
    hn_set(c, "bottom", vint(16));
    hn_set(c, "feathering", vint(40));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    CHECK(shape_is(hn_output_tensor(c, 0), 4, 2, 20, 12, 3) &&
              shape_is(hn_output_tensor(c, 1), 3, 1, 20, 12, 0),
          "pad shapes");
    hn_end(c);
}

static void test_blend_blur(void)
{
    hn_call *c = hn_begin(H, "ImageBlend");
    hn_set(c, "image1", vimage(1, 6, 6, 3));
    hn_set(c, "image2", vimage(1, 3, 9, 3));
    hn_set(c, "blend_factor", vfloat(0.5));
    hn_set(c, "blend_mode", vstr("multiply"));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    CHECK(shape_is(hn_output_tensor(c, 0), 4, 1, 6, 6, 3), "blend shape");
    hn_set(c, "image2", vimage(1, 6, 6, 3));
    hn_set(c, "blend_mode", vstr("normal"));
    hn_set(c, "blend_factor", vfloat(1.0));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    comfy_tensor *t = hn_output_tensor(c, 0);
    CHECK(t && ((float *)t->data)[5] == 5.0f / 16.0f, "normal at 1.0");
    hn_end(c);

    c = hn_begin(H, "ImageBlur");
    hn_set(c, "image", vimage(1, 3, 3, 3));
    hn_set(c, "blur_radius", vint(5));
    hn_set(c, "sigma", vfloat(1.0));
    CHECK(hn_run(c) == COMFY_ERR && strstr(hn_error(c), "radius"),
          "radius larger than the image: %s", hn_error(c));
    hn_set(c, "blur_radius", vint(1));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    hn_interrupt(H, 1);
    CHECK(hn_run(c) == COMFY_EINTERRUPTED && !hn_output(c, 0),
          "interrupted blur");
    hn_end(c);

    c = hn_begin(H, "ImageSharpen");
    hn_set(c, "image", vimage(1, 5, 5, 3));
    hn_set(c, "sharpen_radius", vint(1));
    hn_set(c, "sigma", vfloat(1.0));
    hn_set(c, "alpha", vfloat(0.0));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    t = hn_output_tensor(c, 0);
    /* alpha 0: the kernel is the identity */
    CHECK(t && fabsf(((float *)t->data)[7] - 7.0f / 16.0f) < 1e-6f,
          "sharpen alpha 0");
    hn_end(c);
}

/* ----------------------------------------------------------- mask nodes */

static void test_mask_nodes(void)
{
    hn_call *c = hn_begin(H, "ImageToMask");
    hn_set(c, "image", vimage(2, 3, 4, 3));
    hn_set(c, "channel", vstr("green"));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    comfy_tensor *t = hn_output_tensor(c, 0);
    CHECK(shape_is(t, 3, 2, 3, 4, 0) && ((float *)t->data)[1] == 4.0f / 16,
          "ImageToMask green");
    hn_set(c, "channel", vstr("alpha"));
    CHECK(hn_run(c) == COMFY_ERR && strstr(hn_error(c), "alpha"),
          "no alpha channel: %s", hn_error(c));
    hn_end(c);

    int64_t s2[2] = { 3, 4 };
    c = hn_begin(H, "MaskToImage");
    hn_set(c, "mask", vtensor(2, s2));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    t = hn_output_tensor(c, 0);
    CHECK(shape_is(t, 4, 1, 3, 4, 3) && ((float *)t->data)[5] == 1.0f / 16,
          "MaskToImage");
    hn_end(c);

    c = hn_begin(H, "InvertMask");
    hn_set(c, "mask", vtensor(2, s2));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    t = hn_output_tensor(c, 0);
    CHECK(shape_is(t, 2, 3, 4, 0, 0) && ((float *)t->data)[4] == 0.75f,
          "InvertMask keeps the shape");
    hn_end(c);

    c = hn_begin(H, "ThresholdMask");
    int64_t s3[3] = { 1, 2, 9 };
    hn_set(c, "mask", vtensor(3, s3));
    hn_set(c, "value", vfloat(0.5));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    t = hn_output_tensor(c, 0);
    CHECK(t && ((float *)t->data)[8] == 0.0f && ((float *)t->data)[9] == 1.0f,
          "threshold 8/16 is not > 0.5, 9/16 is");
    hn_end(c);

    c = hn_begin(H, "SolidMask");
    hn_set(c, "value", vfloat(0.25));
    hn_set(c, "width", vint(3));
    hn_set(c, "height", vint(2));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    t = hn_output_tensor(c, 0);
    CHECK(shape_is(t, 3, 1, 2, 3, 0) && ((float *)t->data)[5] == 0.25f,
          "SolidMask");
    hn_end(c);

    c = hn_begin(H, "CropMask");
    int64_t s4[4] = { 2, 1, 5, 6 };
    hn_set(c, "mask", vtensor(4, s4));
    hn_set(c, "x", vint(4));
    hn_set(c, "y", vint(1));
    hn_set(c, "width", vint(10));
    hn_set(c, "height", vint(2));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    t = hn_output_tensor(c, 0);
    CHECK(shape_is(t, 3, 2, 2, 2, 0) && ((float *)t->data)[0] == 10.0f / 16,
          "CropMask [B,1,H,W] input");
    hn_end(c);

    c = hn_begin(H, "MaskComposite");
    int64_t sd[3] = { 2, 4, 4 }, ss[3] = { 3, 2, 2 };
    hn_set(c, "destination", vtensor(3, sd));
    hn_set(c, "source", vtensor(3, ss));
    hn_set(c, "x", vint(0));
    hn_set(c, "y", vint(0));
    hn_set(c, "operation", vstr("add"));
    CHECK(hn_run(c) == COMFY_ERR, "batch 3 onto batch 2 fails");
    int64_t s1[3] = { 1, 2, 2 };
    hn_set(c, "source", vtensor(3, s1));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    t = hn_output_tensor(c, 0);
    CHECK(shape_is(t, 3, 2, 4, 4, 0) &&
              ((float *)t->data)[1] == 2.0f / 16.0f &&
              ((float *)t->data)[16 + 5] == 4.0f / 16 + 3.0f / 16,
          "composite broadcast");
    hn_end(c);

    c = hn_begin(H, "GrowMask");
    int64_t sg[3] = { 1, 5, 5 };
    comfy_tensor *g = X->tensor_new(X->ctx, COMFY_F32, 3, sg);
    ((float *)g->data)[12] = 1.0f;
    hn_set(c, "mask", X->value_tensor(X->ctx, g));
    hn_set(c, "expand", vint(1));
    hn_set(c, "tapered_corners", vbool(1));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    t = hn_output_tensor(c, 0);
    if (t) {
        float *p = t->data;
        CHECK(p[7] == 1 && p[11] == 1 && p[13] == 1 && p[17] == 1 &&
                  p[6] == 0, "plus-shaped growth");
    }
    hn_end(c);

    c = hn_begin(H, "FeatherMask");
    hn_set(c, "mask", vtensor(3, sg));
    hn_set(c, "left", vint(2));
    hn_set(c, "top", vint(0));
    hn_set(c, "right", vint(0));
    hn_set(c, "bottom", vint(0));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    t = hn_output_tensor(c, 0);
    CHECK(t && ((float *)t->data)[5] == 0.5f * 5.0f / 16, "feather left");
    hn_end(c);
}

static void test_rebatch(void)
{
    /* batches of 2 and 3 images regrouped by 2: 2, 2, 1 */
    comfy_value *imgs = X->value_list(X->ctx);
    X->list_append(imgs, vimage(2, 2, 2, 3));
    X->list_append(imgs, vimage(3, 2, 2, 3));
    comfy_value *bs = X->value_list(X->ctx);
    X->list_append(bs, vint(2));
    hn_call *c = hn_begin(H, "RebatchImages");
    hn_set(c, "images", imgs);
    hn_set(c, "batch_size", bs);
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    const comfy_value *out = hn_output(c, 0);
    CHECK(out && X->list_len(out) == 3, "three batches");
    if (out && X->list_len(out) == 3) {
        comfy_tensor *t1 = X->value_get_tensor(X->list_get(out, 1));
        comfy_tensor *t2 = X->value_get_tensor(X->list_get(out, 2));
        CHECK(shape_is(t1, 4, 2, 2, 2, 3) && shape_is(t2, 4, 1, 2, 2, 3),
              "batch shapes");
        /* t1 = the first two images of item 1 */
        CHECK(t1 && ((float *)t1->data)[0] == 0.0f &&
                  ((float *)t1->data)[12] == 12.0f / 16, "batch contents");
    }
    /* different sizes cannot share a batch */
    imgs = X->value_list(X->ctx);
    X->list_append(imgs, vimage(1, 2, 2, 3));
    X->list_append(imgs, vimage(1, 4, 2, 3));
    hn_set(c, "images", imgs);
    CHECK(hn_run(c) == COMFY_ERR && strstr(hn_error(c), "Sizes"),
          "mixed sizes: %s", hn_error(c));
    hn_end(c);
}

/* Compares output 0 with a float32 golden of n values. */
static void check_golden(hn_call *c, const char *name, size_t n,
                         double tol)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", CORE_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    float *want = malloc(n * sizeof(float) + 1);
    size_t got_n = f ? fread(want, sizeof(float), n + 1, f) : 0;
    if (f)
        fclose(f);
    comfy_tensor *t = hn_output_tensor(c, 0);
    CHECK(got_n == n && t && (size_t)X->tensor_numel(t) == n,
          "%s: %zu golden values, output %lld", name, got_n,
          t ? (long long)X->tensor_numel(t) : -1LL);
    double worst = 0;
    for (size_t i = 0; got_n == n && t && i < n; i++) {
        double d = fabs((double)((float *)t->data)[i] - want[i]);
        worst = d > worst ? d : worst;
    }
    CHECK(worst <= tol, "%s differs by %g", name, worst);
    free(want);
}

static void test_extras(void)
{
    int64_t sm[3] = { 1, 5, 5 };
    static const struct {
        const char *golden;
        int x, y, mask, resize;
    } cases[] = {
        { "composite_plain.f32", 2, 1, 0, 0 },
        { "composite_mask.f32", 5, 4, 1, 0 },
        { "composite_resize.f32", 1, 2, 1, 1 },
    };
    for (int i = 0; i < 3; i++) {
        hn_call *c = hn_begin(H, "ImageCompositeMasked");
        hn_set(c, "destination", vimage(2, 6, 7, 3));
        hn_set(c, "source", vimage(1, 3, 4, 3));
        hn_set(c, "x", vint(cases[i].x));
        hn_set(c, "y", vint(cases[i].y));
        hn_set(c, "resize_source", vbool(cases[i].resize));
        if (cases[i].mask)
            hn_set(c, "mask", vtensor(3, sm));
        CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
        check_golden(c, cases[i].golden, 2 * 6 * 7 * 3, 2e-6);
        hn_end(c);
    }

    static const char *const rot[3] = { "90 degrees", "180 degrees",
                                         "270 degrees" };
    for (int k = 1; k <= 3; k++) {
        char name[32];
        snprintf(name, sizeof(name), "rot90_%d.f32", k);
        hn_call *c = hn_begin(H, "ImageRotate");
        hn_set(c, "image", vimage(2, 3, 5, 3));
        hn_set(c, "rotation", vstr(rot[k - 1]));
        CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
        CHECK(shape_is(hn_output_tensor(c, 0), 4, 2, k == 2 ? 3 : 5,
                       k == 2 ? 5 : 3, 3), "rotated shape");
        check_golden(c, name, 2 * 3 * 5 * 3, 0);
        hn_end(c);
    }
    hn_call *c = hn_begin(H, "ImageFlip");
    hn_set(c, "image", vimage(1, 2, 3, 1));
    hn_set(c, "flip_method", vstr("y-axis: horizontally"));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    comfy_tensor *t = hn_output_tensor(c, 0);
    CHECK(t && ((float *)t->data)[0] == 2.0f / 16 &&
              ((float *)t->data)[3] == 5.0f / 16, "flip y");
    hn_set(c, "flip_method", vstr("x-axis: vertically"));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    t = hn_output_tensor(c, 0);
    CHECK(t && ((float *)t->data)[0] == 3.0f / 16, "flip x");
    hn_end(c);

    c = hn_begin(H, "ImageColorToMask");
    int64_t s1[4] = { 1, 1, 2, 3 };
    comfy_tensor *ct = X->tensor_new(X->ctx, COMFY_F32, 4, s1);
    float *cp = ct->data;
    cp[0] = 1.0f; cp[1] = 128.0f / 255; cp[2] = 0.0f;   /* 0xFF8000 */
    cp[3] = 1.0f; cp[4] = 0.5f; cp[5] = 0.0f;           /* 127.5 -> 128 */
    hn_set(c, "image", X->value_tensor(X->ctx, ct));
    hn_set(c, "color", vint(0xFF8000));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    t = hn_output_tensor(c, 0);
    CHECK(t && ((float *)t->data)[0] == 1.0f && ((float *)t->data)[1] == 1.0f,
          "color match (127.5 rounds to even 128)");
    hn_end(c);

    c = hn_begin(H, "RepeatImageBatch");
    hn_set(c, "image", vimage(2, 1, 1, 3));
    hn_set(c, "amount", vint(3));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    t = hn_output_tensor(c, 0);
    CHECK(shape_is(t, 4, 6, 1, 1, 3) && ((float *)t->data)[6] == 0.0f &&
              ((float *)t->data)[9] == 3.0f / 16, "repeat tiles the batch");
    hn_end(c);

    c = hn_begin(H, "ImageFromBatch");
    hn_set(c, "image", vimage(4, 1, 1, 3));
    hn_set(c, "batch_index", vint(9));
    hn_set(c, "length", vint(5));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    t = hn_output_tensor(c, 0);
    CHECK(shape_is(t, 4, 1, 1, 1, 3) && ((float *)t->data)[0] == 9.0f / 16,
          "index clamps to the last image");
    hn_end(c);

    c = hn_begin(H, "GetImageSize");
    hn_set(c, "image", vimage(2, 3, 5, 3));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    int64_t w = 0, h = 0, b = 0;
    X->value_get_int(hn_output(c, 0), &w);
    X->value_get_int(hn_output(c, 1), &h);
    X->value_get_int(hn_output(c, 2), &b);
    CHECK(w == 5 && h == 3 && b == 2, "size %lld %lld %lld", (long long)w,
          (long long)h, (long long)b);
    hn_end(c);

    c = hn_begin(H, "ImageScaleToMaxDimension");
    hn_set(c, "image", vimage(1, 30, 20, 3));
    hn_set(c, "upscale_method", vstr("area"));
    hn_set(c, "largest_size", vint(12));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    CHECK(shape_is(hn_output_tensor(c, 0), 4, 1, 12, 8, 3), "max dimension");
    hn_end(c);

    c = hn_begin(H, "MaskPreview");
    hn_set(c, "mask", vtensor(3, sm));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    const comfy_value *imgs = hn_ui(c) ? X->map_get(hn_ui(c), "images")
                                       : NULL;
    CHECK(imgs && X->list_len(imgs) == 1 &&
              strcmp(X->value_get_string(X->map_get(X->list_get(imgs, 0),
                                                    "type")), "temp") == 0,
          "mask preview");
    hn_end(c);
}

static void test_primitives(void)
{
    hn_call *c = hn_begin(H, "PrimitiveFloat");
    hn_set(c, "value", vint(3));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    double d = 0;
    CHECK(X->value_kind(hn_output(c, 0)) == COMFY_KIND_FLOAT &&
              X->value_get_float(hn_output(c, 0), &d) == 0 && d == 3.0,
          "PrimitiveFloat turns an INT into a FLOAT");
    hn_end(c);
    c = hn_begin(H, "PrimitiveInt");
    hn_set(c, "value", vint(-5));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    int64_t v = 0;
    CHECK(X->value_get_int(hn_output(c, 0), &v) == 0 && v == -5, "Int");
    hn_set(c, "value", vstr("x"));
    CHECK(hn_run(c) == COMFY_ERR, "Int refuses a STRING");
    hn_end(c);
    c = hn_begin(H, "PrimitiveStringMultiline");
    hn_set(c, "value", vstr("a\nb"));
    CHECK(hn_run(c) == COMFY_OK &&
              strcmp(X->value_get_string(hn_output(c, 0)), "a\nb") == 0,
          "String");
    hn_end(c);
    c = hn_begin(H, "PrimitiveBoolean");
    hn_set(c, "value", vbool(1));
    int b = 0;
    CHECK(hn_run(c) == COMFY_OK &&
              X->value_get_bool(hn_output(c, 0), &b) == 0 && b == 1, "Bool");
    hn_end(c);
}

/* ----------------------------------------------------------- file nodes */

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

/* Reads the tEXt chunks of a PNG: returns how many; key/value of the
 * i-th into k/v. */
static int png_texts(const char *path, int want, char *k, char *v,
                     size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL,
                                           NULL);
    png_infop info = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_read_struct(&p, &info, NULL);
        fclose(f);
        return -1;
    }
    png_init_io(p, f);
    png_read_info(p, info);
    png_textp t;
    int n = 0;
    png_get_text(p, info, &t, &n);
    if (want < n) {
        snprintf(k, cap, "%s", t[want].key);
        snprintf(v, cap, "%s", t[want].text);
    }
    png_destroy_read_struct(&p, &info, NULL);
    fclose(f);
    return n;
}

static void test_save_and_load(void)
{
    /* an image with known values: (i % 17) / 16 */
    comfy_value *img = vimage(2, 3, 5, 3);
    comfy_value *extra = X->value_map(X->ctx);
    X->map_set(extra, "workflow", vstr("{\"nodes\": []}"));
    hn_call *c = hn_begin(H, "SaveImage");
    hn_set(c, "images", img);
    hn_set(c, "filename_prefix", vstr("sub/t%batch_num%"));
    hn_set(c, "prompt", vstr("{\"1\": {}}"));
    hn_set(c, "extra_pnginfo", extra);
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    const comfy_value *ui = hn_ui(c);
    const comfy_value *imgs = ui ? X->map_get(ui, "images") : NULL;
    CHECK(imgs && X->list_len(imgs) == 2, "two UI entries");
    if (imgs && X->list_len(imgs) == 2) {
        const comfy_value *e0 = X->list_get(imgs, 0);
        const comfy_value *e1 = X->list_get(imgs, 1);
        CHECK(X->map_len(e0) == 3 &&
                  strcmp(X->map_key(e0, 0), "filename") == 0 &&
                  strcmp(X->map_key(e0, 1), "subfolder") == 0 &&
                  strcmp(X->map_key(e0, 2), "type") == 0, "UI keys");
        CHECK(strcmp(X->value_get_string(X->map_get(e0, "filename")),
                     "t0_00001_.png") == 0 &&
                  strcmp(X->value_get_string(X->map_get(e1, "filename")),
                         "t1_00002_.png") == 0 &&
                  strcmp(X->value_get_string(X->map_get(e0, "subfolder")),
                         "sub") == 0 &&
                  strcmp(X->value_get_string(X->map_get(e0, "type")),
                         "output") == 0, "UI values");
    }
    char path[1024], k[256], v[256];
    path_in(path, sizeof(path), "output", "sub/t0_00001_.png");
    CHECK(png_texts(path, 0, k, v, sizeof(k)) == 2 &&
              strcmp(k, "prompt") == 0 && strcmp(v, "{\"1\": {}}") == 0,
          "prompt chunk");
    CHECK(png_texts(path, 1, k, v, sizeof(k)) == 2 &&
              strcmp(k, "workflow") == 0 && strcmp(v, "{\"nodes\": []}") == 0,
          "workflow chunk");
    hn_end(c);

    /* load it back through an annotated name */
    c = hn_begin(H, "LoadImage");
    hn_set(c, "image", vstr("sub/t1_00002_.png [output]"));
    CHECK(hn_validate(c) == COMFY_OK, "%s", hn_error(c));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    comfy_tensor *t = hn_output_tensor(c, 0), *m = hn_output_tensor(c, 1);
    CHECK(shape_is(t, 4, 1, 3, 5, 3) && shape_is(m, 3, 1, 64, 64, 0),
          "RGB PNG: image and 64x64 mask");
    int bad = 0;
    for (int i = 0; t && i < 45; i++) {
        float src = (float)((45 + i) % 17) / 16.0f;
        float want = (float)(uint8_t)(255.0f * src) / 255.0f; /* truncation */
        if (((float *)t->data)[i] != want)
            bad++;
    }
    CHECK(bad == 0, "%d pixels differ after save and load", bad);
    hn_end(c);

    /* --disable-metadata: no text chunks */
    if (hn_disable_metadata(H, 1)) {
        c = hn_begin(H, "SaveImage");
        hn_set(c, "images", vimage(1, 2, 2, 3));
        hn_set(c, "filename_prefix", vstr("nometa"));
        hn_set(c, "prompt", vstr("{\"1\": {}}"));
        CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
        path_in(path, sizeof(path), "output", "nometa_00001_.png");
        CHECK(png_texts(path, 0, k, v, sizeof(k)) == 0, "no metadata");
        hn_end(c);
        hn_disable_metadata(H, 0);
    }

    /* the counter continues */
    c = hn_begin(H, "SaveImage");
    hn_set(c, "images", vimage(1, 2, 2, 3));
    hn_set(c, "filename_prefix", vstr("sub/t1"));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    imgs = hn_ui(c) ? X->map_get(hn_ui(c), "images") : NULL;
    CHECK(imgs && strcmp(X->value_get_string(X->map_get(X->list_get(imgs, 0),
                                                        "filename")),
                         "t1_00003_.png") == 0, "counter continues");
    hn_end(c);

    c = hn_begin(H, "PreviewImage");
    hn_set(c, "images", vimage(1, 2, 2, 3));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    imgs = hn_ui(c) ? X->map_get(hn_ui(c), "images") : NULL;
    const char *name = imgs ? X->value_get_string(X->map_get(
        X->list_get(imgs, 0), "filename")) : NULL;
    regex_t re;
    regcomp(&re, "^ComfyUI_temp_[a-z]{5}_00001_\\.png$", REG_EXTENDED);
    CHECK(name && regexec(&re, name, 0, NULL, 0) == 0 &&
              strcmp(X->value_get_string(X->map_get(X->list_get(imgs, 0),
                                                    "type")), "temp") == 0,
          "preview name %s", name ? name : "(none)");
    regfree(&re);
    if (name) {
        path_in(path, sizeof(path), "temp", name);
        struct stat st;
        CHECK(stat(path, &st) == 0, "preview file exists");
    }
    /* the same node id keeps its letters and counts up, as ComfyUI's
     * cached node object does */
    char first[64];
    snprintf(first, sizeof(first), "%s", name ? name : "");
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    imgs = hn_ui(c) ? X->map_get(hn_ui(c), "images") : NULL;
    name = imgs ? X->value_get_string(X->map_get(X->list_get(imgs, 0),
                                                 "filename")) : NULL;
    CHECK(name && strlen(first) == 29 && strncmp(name, first, 19) == 0 &&
              strcmp(name + 19, "00002_.png") == 0, "second preview %s",
          name ? name : "(none)");
    hn_end(c);

    /* an interrupt stops a save */
    c = hn_begin(H, "SaveImage");
    hn_set(c, "images", vimage(1, 2, 2, 3));
    hn_set(c, "filename_prefix", vstr("intr"));
    hn_interrupt(H, 1);
    CHECK(hn_run(c) == COMFY_EINTERRUPTED, "interrupted save");
    path_in(path, sizeof(path), "output", "intr_00001_.png");
    struct stat st2;
    CHECK(stat(path, &st2) != 0, "nothing written after the interrupt");
    hn_end(c);
}

static void test_load_formats(void)
{
    char path[1024], err[256];
    /* RGBA PNG: mask = 1 - alpha */
    uint8_t rgba[2 * 3 * 4];
    for (int i = 0; i < 6; i++) {
        rgba[i * 4] = (uint8_t)(i * 40);
        rgba[i * 4 + 1] = 7;
        rgba[i * 4 + 2] = 200;
        rgba[i * 4 + 3] = (uint8_t)(i * 51);
    }
    path_in(path, sizeof(path), "input", "a.png");
    CHECK(core_png_write(path, rgba, 3, 2, 4, 4, NULL, NULL, 0, err,
                         sizeof(err)) == 0, "%s", err);
    hn_call *c = hn_begin(H, "LoadImage");
    hn_set(c, "image", vstr("a.png"));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    comfy_tensor *t = hn_output_tensor(c, 0), *m = hn_output_tensor(c, 1);
    CHECK(shape_is(t, 4, 1, 2, 3, 3) && shape_is(m, 3, 1, 2, 3, 0), "RGBA");
    if (t && m) {
        CHECK(((float *)t->data)[3 * 3] == 120.0f / 255.0f, "RGBA colour");
        CHECK(((float *)m->data)[5] == 1.0f - 255.0f / 255.0f &&
                  ((float *)m->data)[1] == 1.0f - 51.0f / 255.0f,
              "mask = 1 - alpha");
    }
    /* IS_CHANGED is the SHA-256 of the file and follows its content */
    comfy_value *h1 = NULL, *h2 = NULL;
    CHECK(hn_is_changed(c, &h1) == COMFY_OK && h1 &&
              strlen(X->value_get_string(h1)) == 64, "sha256 hex");
    rgba[0] ^= 1;
    core_png_write(path, rgba, 3, 2, 4, 4, NULL, NULL, 0, err, sizeof(err));
    CHECK(hn_is_changed(c, &h2) == COMFY_OK && h2 &&
              strcmp(X->value_get_string(h1), X->value_get_string(h2)) != 0,
          "hash changes with the file");
    X->value_release(h1);
    X->value_release(h2);
    hn_end(c);

    /* LoadImageMask: red channel, alpha channel */
    c = hn_begin(H, "LoadImageMask");
    hn_set(c, "image", vstr("a.png"));
    hn_set(c, "channel", vstr("red"));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    m = hn_output_tensor(c, 0);
    CHECK(shape_is(m, 3, 1, 2, 3, 0) && ((float *)m->data)[2] == 80 / 255.0f,
          "LoadImageMask red");
    hn_end(c);

    /* WebP lossless with alpha */
    uint8_t *webp = NULL;
    size_t wn = WebPEncodeLosslessRGBA(rgba, 3, 2, 12, &webp);
    path_in(path, sizeof(path), "input", "b.webp");
    write_bytes(path, webp, wn);
    c = hn_begin(H, "LoadImage");
    hn_set(c, "image", vstr("b.webp"));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    m = hn_output_tensor(c, 1);
    CHECK(shape_is(m, 3, 1, 2, 3, 0) &&
              ((float *)m->data)[2] == 1.0f - 102.0f / 255.0f, "WebP alpha");
    hn_end(c);

    /* truncated WebP and PNG */
    write_bytes(path, webp, wn / 2);
    WebPFree(webp);
    c = hn_begin(H, "LoadImage");
    hn_set(c, "image", vstr("b.webp"));
    CHECK(hn_run(c) == COMFY_ERR && strstr(hn_error(c), "WebP"),
          "truncated WebP: %s", hn_error(c));
    size_t pn = 0;
    path_in(path, sizeof(path), "input", "a.png");
    uint8_t *png = slurp(path, &pn);
    path_in(path, sizeof(path), "input", "cut.png");
    write_bytes(path, png, pn - 20);
    free(png);
    hn_set(c, "image", vstr("cut.png"));
    CHECK(hn_run(c) == COMFY_ERR && strstr(hn_error(c), "PNG") &&
              strstr(hn_error(c), "cut.png"), "truncated PNG: %s",
          hn_error(c));
    path_in(path, sizeof(path), "input", "junk.png");
    write_bytes(path, "hello, not an image", 19);
    hn_set(c, "image", vstr("junk.png"));
    CHECK(hn_run(c) == COMFY_ERR && strstr(hn_error(c), "not a PNG"),
          "junk: %s", hn_error(c));
    hn_set(c, "image", vstr("missing.png"));
    CHECK(hn_validate(c) == COMFY_ERR &&
              strcmp(hn_error(c), "Invalid image file: missing.png") == 0,
          "validate: %s", hn_error(c));
    hn_set(c, "image", vstr("../escape.png"));
    CHECK(hn_validate(c) == COMFY_ERR, "escaping name refused");
    hn_end(c);
}

/* A 4x2 JPEG whose left half is black and right half white, with an EXIF
 * orientation tag. */
static size_t make_jpeg(uint8_t **out, int orientation)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    unsigned long n = 0;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    *out = NULL;
    jpeg_mem_dest(&ci, out, &n);
    ci.image_width = 16;
    ci.image_height = 8;
    ci.input_components = 3;
    ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 100, TRUE);
    jpeg_start_compress(&ci, TRUE);
    uint8_t exif[] = { 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0,
                       1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0,
                       (uint8_t)orientation, 0, 0, 0, 0, 0, 0, 0 };
    jpeg_write_marker(&ci, JPEG_APP0 + 1, exif, sizeof(exif));
    uint8_t row[16 * 3];
    for (int x = 0; x < 16; x++)
        row[x * 3] = row[x * 3 + 1] = row[x * 3 + 2] = x < 8 ? 0 : 255;
    while (ci.next_scanline < 8) {
        JSAMPROW r = row;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    return n;
}

/* Every layout in tests/core/data/load against PIL's LoadImage result. */
static void test_load_goldens(void)
{
    char mpath[1024];
    snprintf(mpath, sizeof(mpath), "%s/load/manifest.txt", CORE_TEST_DATA);
    FILE *mf = fopen(mpath, "r");
    CHECK(mf != NULL, "no manifest %s", mpath);
    if (!mf)
        return;
    char file[128], base[128];
    int nf, h, w, mh, mw, cases = 0;
    while (fscanf(mf, "%127s %127s %d %d %d %d %d", file, base, &nf, &h, &w,
                  &mh, &mw) == 7) {
        char src[1024], dst[1024];
        size_t n = 0;
        snprintf(src, sizeof(src), "%s/load/%s", CORE_TEST_DATA, file);
        uint8_t *bytes = slurp(src, &n);
        CHECK(bytes != NULL, "read %s", src);
        if (!bytes)
            continue;
        path_in(dst, sizeof(dst), "input", file);
        write_bytes(dst, bytes, n);
        free(bytes);
        hn_call *c = hn_begin(H, "LoadImage");
        hn_set(c, "image", vstr(file));
        CHECK(hn_run(c) == COMFY_OK, "%s: %s", file, hn_error(c));
        comfy_tensor *t = hn_output_tensor(c, 0), *m = hn_output_tensor(c, 1);
        CHECK(shape_is(t, 4, nf, h, w, 3), "%s image shape", file);
        CHECK(shape_is(m, 3, nf, mh, mw, 0), "%s mask shape", file);
        if (shape_is(t, 4, nf, h, w, 3)) {
            snprintf(src, sizeof(src), "%s/load/%s.image.f32", CORE_TEST_DATA,
                     base);
            float *want = (float *)slurp(src, &n);
            int total = nf * h * w * 3;
            CHECK(want && n == (size_t)total * sizeof(float), "%s golden",
                  file);
            int bad = 0;
            for (int i = 0; want && i < total; i++)
                if (((float *)t->data)[i] != want[i])
                    bad++;
            CHECK(bad == 0, "%s: %d of %d values differ from PIL", file, bad,
                  total);
            free(want);
        }
        if (shape_is(m, 3, nf, mh, mw, 0)) {
            snprintf(src, sizeof(src), "%s/load/%s.mask.f32", CORE_TEST_DATA,
                     base);
            float *want = (float *)slurp(src, &n);
            int bad = 0;
            for (int i = 0; i < nf * mh * mw; i++)
                if (((float *)m->data)[i] != (want ? want[i] : 0.0f))
                    bad++;
            CHECK(bad == 0, "%s: %d mask values differ", file, bad);
            free(want);
        }
        hn_end(c);
        cases++;
    }
    fclose(mf);
    CHECK(cases >= 20, "%d cases", cases);
}

/* LoadImageMask's alpha channel against PIL's for alpha, palette
 * transparency and transparency keys (mask_manifest.txt). */
static void test_mask_goldens(void)
{
    char mpath[1024];
    snprintf(mpath, sizeof(mpath), "%s/load/mask_manifest.txt",
             CORE_TEST_DATA);
    FILE *mf = fopen(mpath, "r");
    CHECK(mf != NULL, "no manifest %s", mpath);
    if (!mf)
        return;
    char file[128], base[128];
    int h, w, cases = 0;
    while (fscanf(mf, "%127s %127s %d %d", file, base, &h, &w) == 4) {
        char src[1024], dst[1024];
        size_t n = 0;
        snprintf(src, sizeof(src), "%s/load/%s", CORE_TEST_DATA, file);
        uint8_t *bytes = slurp(src, &n);
        CHECK(bytes != NULL, "read %s", src);
        if (!bytes)
            continue;
        path_in(dst, sizeof(dst), "input", file);
        write_bytes(dst, bytes, n);
        free(bytes);
        hn_call *c = hn_begin(H, "LoadImageMask");
        hn_set(c, "image", vstr(file));
        hn_set(c, "channel", vstr("alpha"));
        CHECK(hn_run(c) == COMFY_OK, "%s: %s", file, hn_error(c));
        comfy_tensor *m = hn_output_tensor(c, 0);
        CHECK(shape_is(m, 3, 1, h, w, 0), "%s mask shape", file);
        snprintf(src, sizeof(src), "%s/load/%s.lmask.f32", CORE_TEST_DATA,
                 base);
        float *want = (float *)slurp(src, &n);
        CHECK(want && n == (size_t)h * w * sizeof(float), "%s golden", file);
        int bad = 0;
        for (int i = 0; want && m && shape_is(m, 3, 1, h, w, 0) &&
                        i < h * w; i++)
            bad += ((float *)m->data)[i] != want[i];
        CHECK(bad == 0, "%s: %d mask values differ from PIL", file, bad);
        free(want);
        hn_end(c);
        cases++;
    }
    fclose(mf);
    CHECK(cases >= 8, "%d mask cases", cases);
}

/* LoadImageOutput reads "name [output]" from the output folder and gives
 * what LoadImage gives for the same file in the input folder. */
static void test_load_output(void)
{
    char src[1024], dst[1024];
    size_t n = 0;
    snprintf(src, sizeof(src), "%s/load/gif_dispose.gif", CORE_TEST_DATA);
    uint8_t *bytes = slurp(src, &n);
    CHECK(bytes != NULL, "read %s", src);
    if (!bytes)
        return;
    path_in(dst, sizeof(dst), "output", "out_anim.gif");
    write_bytes(dst, bytes, n);
    path_in(dst, sizeof(dst), "input", "out_anim.gif");
    write_bytes(dst, bytes, n);
    free(bytes);
    hn_call *a = hn_begin(H, "LoadImageOutput");
    hn_set(a, "image", vstr("out_anim.gif [output]"));
    CHECK(hn_run(a) == COMFY_OK, "LoadImageOutput: %s", hn_error(a));
    hn_call *b = hn_begin(H, "LoadImage");
    hn_set(b, "image", vstr("out_anim.gif"));
    CHECK(hn_run(b) == COMFY_OK, "LoadImage: %s", hn_error(b));
    for (unsigned k = 0; k < 2; k++) {
        comfy_tensor *x = hn_output_tensor(a, k), *y = hn_output_tensor(b, k);
        CHECK(x && y && x->ndim == y->ndim && x->shape[0] == 6 &&
                  memcmp(x->shape, y->shape, sizeof(x->shape[0]) * x->ndim)
                      == 0 &&
                  memcmp(x->data, y->data, sizeof(float) * (size_t)(
                      x->shape[0] * x->shape[1] * x->shape[2] *
                      (x->ndim == 4 ? x->shape[3] : 1))) == 0,
              "LoadImageOutput output %u differs from LoadImage", k);
    }
    hn_end(a);
    hn_end(b);
    a = hn_begin(H, "LoadImageOutput");
    hn_set(a, "image", vstr("missing.png [output]"));
    CHECK(hn_run(a) != COMFY_OK, "a missing output file loads");
    hn_end(a);

    /* frames whose masks ComfyUI cannot stack: LoadImage fails as its
     * torch.cat does, LoadImageMask (first frame only) works */
    snprintf(src, sizeof(src), "%s/load/gif_mixed.gif", CORE_TEST_DATA);
    bytes = slurp(src, &n);
    CHECK(bytes != NULL, "read %s", src);
    if (!bytes)
        return;
    path_in(dst, sizeof(dst), "input", "mixed.gif");
    write_bytes(dst, bytes, n);
    free(bytes);
    a = hn_begin(H, "LoadImage");
    hn_set(a, "image", vstr("mixed.gif"));
    CHECK(hn_run(a) != COMFY_OK &&
              strcmp(hn_error_type(a), "RuntimeError") == 0,
          "mixed masks: %s", hn_error(a));
    hn_end(a);
    a = hn_begin(H, "LoadImageMask");
    hn_set(a, "image", vstr("mixed.gif"));
    hn_set(a, "channel", vstr("red"));
    CHECK(hn_run(a) == COMFY_OK, "LoadImageMask: %s", hn_error(a));
    CHECK(shape_is(hn_output_tensor(a, 0), 3, 1, 3, 4, 0), "mask shape");
    hn_end(a);
}

static void test_jpeg(void)
{
    char path[1024];
    uint8_t *j = NULL;
    size_t n = make_jpeg(&j, 6);
    path_in(path, sizeof(path), "input", "r.jpg");
    write_bytes(path, j, n);
    hn_call *c = hn_begin(H, "LoadImage");
    hn_set(c, "image", vstr("r.jpg"));
    CHECK(hn_run(c) == COMFY_OK, "%s", hn_error(c));
    comfy_tensor *t = hn_output_tensor(c, 0);
    /* orientation 6 rotates 90° clockwise: 16x8 becomes 8 wide, 16 high,
     * black on top */
    CHECK(shape_is(t, 4, 1, 16, 8, 3), "EXIF rotation");
    if (shape_is(t, 4, 1, 16, 8, 3)) {
        float top = ((float *)t->data)[0];
        float bottom = ((float *)t->data)[15 * 8 * 3];
        CHECK(top < 0.05f && bottom > 0.95f, "rotated content %g %g", top,
              bottom);
    }
    CHECK(shape_is(hn_output_tensor(c, 1), 3, 1, 64, 64, 0), "JPEG mask");
    /* truncated */
    path_in(path, sizeof(path), "input", "cut.jpg");
    write_bytes(path, j, n - 40);
    hn_set(c, "image", vstr("cut.jpg"));
    CHECK(hn_run(c) == COMFY_ERR && strstr(hn_error(c), "JPEG"),
          "truncated JPEG: %s", hn_error(c));
    free(j);
    hn_end(c);
}

static void test_choices(void)
{
    char path[1024];
    const char *files[] = { "zz.PNG", "B.jpeg", "notes.txt", ".hidden" };
    for (int i = 0; i < 4; i++) {
        path_in(path, sizeof(path), "input", files[i]);
        write_bytes(path, "x", 1);
    }
    path_in(path, sizeof(path), "input", "dir.png");
    mkdir(path, 0755);
    const comfy_node_def *d = hn_find(H, "LoadImage");
    comfy_value *l = X->value_list(X->ctx);
    CHECK(d->inputs[0].choices_fn(X, NULL, l) == COMFY_OK, "choices");
    /* B.jpeg < a.png < b.webp < cut.jpg < cut.png < junk.png < r.jpg <
     * zz.PNG; no text file, no directory */
    static const char *const want[] = { "B.jpeg", "a.png", "b.webp",
                                        "cut.jpg", "cut.png", "junk.png",
                                        "r.jpg", "zz.PNG" };
    size_t n = X->list_len(l);
    CHECK(n == 8, "%zu image files listed", n);
    for (size_t i = 0; i < n && i < 8; i++)
        CHECK(strcmp(X->value_get_string(X->list_get(l, i)), want[i]) == 0,
              "choice %zu: %s", i, X->value_get_string(X->list_get(l, i)));
    X->value_release(l);
    d = hn_find(H, "LoadImageMask");
    l = X->value_list(X->ctx);
    CHECK(d->inputs[0].choices_fn(X, NULL, l) == COMFY_OK &&
              X->list_len(l) == 10, "all files for LoadImageMask: %zu",
          X->list_len(l));
    X->value_release(l);
}

static void test_sha256(void)
{
    uint8_t d[32];
    core_sha256("abc", 3, d);
    CHECK(d[0] == 0xba && d[1] == 0x78 && d[31] == 0xad, "sha256(abc)");
    char big[1000];
    memset(big, 'a', sizeof(big));
    core_sha256(big, sizeof(big), d);
    /* sha256('a' * 1000) = 41edece4... */
    CHECK(d[0] == 0x41 && d[1] == 0xed && d[2] == 0xec && d[3] == 0xe4,
          "sha256(a*1000) %02x%02x", d[0], d[1]);
}

int main(void)
{
    H = hn_new(CORE_PACK_SO);
    if (!H) {
        fprintf(stderr, "cannot load %s\n", CORE_PACK_SO);
        return 1;
    }
    X = hn_host(H);
    test_catalogue();
    test_empty_and_invert();
    test_input_layouts();
    test_scale_nodes();
    test_batch_crop_pad();
    test_blend_blur();
    test_mask_nodes();
    test_primitives();
    test_rebatch();
    test_extras();
    test_save_and_load();
    test_load_formats();
    test_jpeg();
    test_choices();
    test_load_goldens();
    test_load_output();
    test_mask_goldens();
    test_sha256();
    hn_free(H);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("core node tests passed\n");
    return 0;
}
