/*
 * nodes_stitch.c — ImageStitch and ResizeAndPadImage of
 * comfy_extras.nodes_images.  Declarations reproduce ComfyUI's
 * /object_info entries; execute runs on the executor thread.
 *
 * ImageStitch follows ComfyUI's steps in order: the shorter batch is
 * filled up with copies of its last image; image2 is resized (lanczos, no
 * crop) to image1's height (left/right) or width (up/down) when
 * match_image_size is set, else the smaller image is padded, centred, in
 * the non-joined direction; the image with fewer channels gets extra
 * channels of 1.0; an even-width spacing strip of the chosen colour goes
 * between them.  All of it is computed as one copy into the output.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define IN(n, t, o) { sizeof(comfy_input_def), n, t, COMFY_REQUIRED, o, \
                      NULL, NULL, NULL, 0 }
#define COMBO(n, list, o) { sizeof(comfy_input_def), n, "COMBO", \
                            COMFY_REQUIRED, o, list, NULL, NULL, 0 }
#define OUT(t) { sizeof(comfy_output_def), t, NULL, NULL, 0 }

static const comfy_output_def image_out[] = { OUT("IMAGE") };

/* common_upscale without crop, where lanczos also takes 2 channels: PIL
 * reads an h×w×2 array as "LA" and resizes it premultiplied, exactly as
 * RGBA with R = G = B = L, so it goes through the RGBA path.  Other
 * counts than 1 to 4 are refused by PIL's fromarray: COMFY_EINVAL. */
static int resize(const float *in, int64_t b, int64_t h, int64_t w,
                  int64_t c, float *out, int64_t oh, int64_t ow, int method)
{
    if (method != CORE_LANCZOS || c != 2)
        return method == CORE_LANCZOS && (c < 1 || c > 4)
                   ? COMFY_EINVAL
                   : core_upscale(in, b, h, w, c, out, oh, ow, method, 0);
    float *rgba = malloc(sizeof(float) * (size_t)(b * h * w * 4));
    float *res = malloc(sizeof(float) * (size_t)(b * oh * ow * 4));
    int rc = COMFY_ENOMEM;
    if (rgba && res) {
        for (int64_t i = 0; i < b * h * w; i++) {
            rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = in[i * 2];
            rgba[i * 4 + 3] = in[i * 2 + 1];
        }
        rc = core_upscale(rgba, b, h, w, 4, res, oh, ow, CORE_LANCZOS, 0);
        for (int64_t i = 0; !rc && i < b * oh * ow; i++) {
            out[i * 2] = res[i * 4];
            out[i * 2 + 1] = res[i * 4 + 3];
        }
    }
    free(rgba);
    free(res);
    return rc;
}

/* A new buffer (caller frees) holding `in` resized to oh x ow with
 * `method`, or NULL after failing the call (*rc is then its status):
 * lanczos on more than 4 channels is PIL's TypeError, `what` heads the
 * other failures. */
static float *resized_copy(const comfy_host *host, comfy_call *call,
                           const float *in, int64_t b, int64_t h, int64_t w,
                           int64_t c, int64_t oh, int64_t ow, int method,
                           const char *what, int *rc)
{
    if (method == CORE_LANCZOS && c > 4) {
        *rc = host->fail(call, "TypeError", "cannot resize an image with "
                         "%lld channels with lanczos (1 to 4 needed)",
                         (long long)c);
        return NULL;
    }
    float *out = malloc(sizeof(float) * (size_t)(b * oh * ow * c));
    if (!out) {
        *rc = host->fail(call, "RuntimeError", "out of memory");
        return NULL;
    }
    int st = resize(in, b, h, w, c, out, oh, ow, method);
    if (st) {
        free(out);
        *rc = core_fail_status(call, st, what);
        return NULL;
    }
    return out;
}

/* -------------------------------------------------------- ImageStitch */

static const char *const directions[] = { "right", "down", "left", "up",
                                          NULL };
static const char *const spacing_colors[] = { "white", "black", "red",
                                              "green", "blue", NULL };

/* One side of the stitch: batch item n of `v` (the last one past its end),
 * placed in a box of bh×bw at (by, bx) of the output with the image at
 * (oy, ox) inside the box.  The box's other pixels hold `pad` in the
 * image's channels; channels past the image's own hold 1.0. */
typedef struct part {
    const float *data;
    int64_t b, h, w, c;
    int64_t by, bx, bh, bw, oy, ox;
} part;

static void place(float *out, int64_t ow, int64_t oc, const part *p,
                  int64_t n, float pad)
{
    const float *src = p->data + (n < p->b ? n : p->b - 1) * p->h * p->w * p->c;
    for (int64_t y = 0; y < p->bh; y++) {
        float *row = out + ((p->by + y) * ow + p->bx) * oc;
        int64_t sy = y - p->oy;
        for (int64_t x = 0; x < p->bw; x++) {
            int64_t sx = x - p->ox;
            int inside = sy >= 0 && sy < p->h && sx >= 0 && sx < p->w;
            const float *s = inside ? src + (sy * p->w + sx) * p->c : NULL;
            for (int64_t k = 0; k < oc; k++)
                row[x * oc + k] = k >= p->c ? 1.0f : s ? s[k] : pad;
        }
    }
}

static int stitch_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int dir, color, match, rc;
    int64_t spacing;
    core_view a, b;
    float *resized = NULL;
    memset(&b, 0, sizeof(b));
    if ((rc = core_in_choice(call, "direction", directions, &dir)) ||
        (rc = core_in_bool(call, "match_image_size", &match)) ||
        (rc = core_in_int(call, "spacing_width", &spacing)) ||
        (rc = core_in_choice(call, "spacing_color", spacing_colors, &color)))
        return rc;
    if (spacing < 0 || spacing > 1024)
        return h->fail(call, "ValueError", "spacing_width must be between 0 "
                       "and 1024");
    if ((rc = core_in_image(call, "image1", &a)))
        return rc;
    if (!h->input(call, "image2")) {
        /* no image2: image1 itself, as ComfyUI returns it */
        core_view_free(&a);
        comfy_value *v = h->value_retain(h->input(call, "image1"));
        return v ? h->set_output(call, 0, v)
                 : h->fail(call, "RuntimeError", "out of memory");
    }
    if ((rc = core_in_image(call, "image2", &b))) {
        core_view_free(&a);
        return rc;
    }
    int horizontal = dir == 0 || dir == 2;
    part p1 = { a.data, a.b, a.h, a.w, a.c, 0, 0, a.h, a.w, 0, 0 };
    part p2 = { b.data, b.b, b.h, b.w, b.c, 0, 0, b.h, b.w, 0, 0 };
    comfy_tensor *t = NULL;
    if (match) {
        double aspect = (double)b.w / (double)b.h;
        int64_t th = a.h, tw = a.w;
        if (horizontal)
            tw = (int64_t)((double)a.h * aspect);
        else
            th = (int64_t)((double)a.w / aspect);
        char msg[256];
        if (core_check_dims(b.b, th, tw, b.c, msg, sizeof(msg)) < 0) {
            rc = h->fail(call, "ValueError", "cannot resize image2 to match "
                         "image1: %s", msg);
            goto out;
        }
        resized = resized_copy(h, call, b.data, b.b, b.h, b.w, b.c, th, tw,
                               CORE_LANCZOS, "cannot resize image2", &rc);
        if (!resized)
            goto out;
        p2.data = resized;
        p2.h = p2.bh = th;
        p2.w = p2.bw = tw;
    }
    /* the non-joined side: pad the smaller one, centred */
    if (horizontal) {
        int64_t th = p1.h > p2.h ? p1.h : p2.h;
        p1.bh = p2.bh = th;
        p1.oy = (th - p1.h) / 2;
        p2.oy = (th - p2.h) / 2;
    } else {
        int64_t tw = p1.w > p2.w ? p1.w : p2.w;
        p1.bw = p2.bw = tw;
        p1.ox = (tw - p1.w) / 2;
        p2.ox = (tw - p2.w) / 2;
    }
    int64_t ob = a.b > b.b ? a.b : b.b;
    int64_t oc = a.c > b.c ? a.c : b.c;
    int64_t sw = spacing + spacing % 2;
    /* order: image2 first for left and up */
    part *first = dir >= 2 ? &p2 : &p1, *second = dir >= 2 ? &p1 : &p2;
    int64_t oh, ow;
    if (horizontal) {
        oh = p1.bh;
        ow = p1.bw + sw + p2.bw;
        second->bx = first->bw + sw;
    } else {
        ow = p1.bw;
        oh = p1.bh + sw + p2.bh;
        second->by = first->bh + sw;
    }
    t = core_new_image(call, ob, oh, ow, oc);
    if (!t) {
        rc = COMFY_ERR;
        goto out;
    }
    /* a named colour is white/black on every channel up to the third, a
     * tuple (red, green, blue) on its own channels; alpha is opaque.  The
     * padding is the scalar colour, or 0 for a tuple. */
    static const float rgb[5][3] = { { 1, 1, 1 }, { 0, 0, 0 }, { 1, 0, 0 },
                                     { 0, 1, 0 }, { 0, 0, 1 } };
    float pad = color == 0 ? 1.0f : 0.0f;
    float strip[8] = { 0 };
    for (int64_t k = 0; k < oc && k < 3; k++)
        strip[k] = rgb[color][k];
    if (oc == 4)
        strip[3] = 1.0f;
    for (int64_t n = 0; n < ob; n++) {
        if ((rc = h->interrupted(call)) != COMFY_OK)
            goto out;
        float *o = (float *)t->data + n * oh * ow * oc;
        place(o, ow, oc, &p1, n, pad);
        place(o, ow, oc, &p2, n, pad);
        if (sw == 0)
            continue;
        int64_t y0 = horizontal ? 0 : first->bh;
        int64_t x0 = horizontal ? first->bw : 0;
        int64_t sh = horizontal ? oh : sw, sww = horizontal ? sw : ow;
        for (int64_t y = 0; y < sh; y++)
            for (int64_t x = 0; x < sww; x++)
                for (int64_t k = 0; k < oc; k++)
                    o[((y0 + y) * ow + x0 + x) * oc + k] = k < 8 ? strip[k]
                                                                 : 0.0f;
    }
    rc = core_set_tensor(call, 0, t);
    t = NULL;
out:
    if (t)
        h->tensor_release(t);
    free(resized);
    core_view_free(&a);
    core_view_free(&b);
    return rc;
}

static const comfy_input_def stitch_inputs[] = {
    IN("image1", "IMAGE", NULL),
    COMBO("direction", directions, "{\"default\": \"right\"}"),
    IN("match_image_size", "BOOLEAN", "{\"default\": true}"),
    IN("spacing_width", "INT",
       "{\"default\": 0, \"min\": 0, \"max\": 1024, \"step\": 2}"),
    COMBO("spacing_color", spacing_colors, "{\"default\": \"white\"}"),
    { sizeof(comfy_input_def), "image2", "IMAGE", COMFY_OPTIONAL, NULL, NULL,
      NULL, NULL, 0 },
};

/* -------------------------------------------------- ResizeAndPadImage */

static const char *const pad_colors[] = { "white", "black", NULL };
static const char *const pad_methods[] = { "area", "bicubic",
                                           "nearest-exact", "bilinear",
                                           "lanczos", NULL };

static int resize_pad_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int64_t tw, th;
    int color, mi, rc;
    core_view img;
    if ((rc = core_in_int(call, "target_width", &tw)) ||
        (rc = core_in_int(call, "target_height", &th)) ||
        (rc = core_in_choice(call, "padding_color", pad_colors, &color)) ||
        (rc = core_in_choice(call, "interpolation", pad_methods, &mi)))
        return rc;
    int method = core_upscale_method_from_name(pad_methods[mi]);
    if ((rc = core_in_image(call, "image", &img)))
        return rc;
    double scale_w = (double)tw / (double)img.w;
    double scale_h = (double)th / (double)img.h;
    double scale = scale_w < scale_h ? scale_w : scale_h;
    int64_t nw = (int64_t)((double)img.w * scale);
    int64_t nh = (int64_t)((double)img.h * scale);
    float *resized = NULL;
    comfy_tensor *t = core_new_image(call, img.b, th, tw, img.c);
    if (!t) {
        rc = COMFY_ERR;
        goto out;
    }
    if (nw < 1 || nh < 1) {
        rc = h->fail(call, "ValueError", "a %lldx%lld image scaled into "
                     "%lldx%lld is %lldx%lld: output sizes must be greater "
                     "than 0", (long long)img.w, (long long)img.h,
                     (long long)tw, (long long)th, (long long)nw,
                     (long long)nh);
        goto out;
    }
    resized = resized_copy(h, call, img.data, img.b, img.h, img.w, img.c, nh,
                           nw, method, "cannot resize the image", &rc);
    if (!resized)
        goto out;
    float pad = color == 1 ? 0.0f : 1.0f;
    int64_t y0 = (th - nh) / 2, x0 = (tw - nw) / 2;
    float *o = t->data;
    size_t total = (size_t)(img.b * th * tw * img.c);
    for (size_t i = 0; i < total; i++)
        o[i] = pad;
    for (int64_t n = 0; n < img.b; n++)
        for (int64_t y = 0; y < nh; y++)
            memcpy(o + ((n * th + y0 + y) * tw + x0) * img.c,
                   resized + (n * nh + y) * nw * img.c,
                   sizeof(float) * (size_t)(nw * img.c));
    rc = core_set_tensor(call, 0, t);
    t = NULL;
out:
    if (t)
        h->tensor_release(t);
    free(resized);
    core_view_free(&img);
    return rc;
}

static const comfy_input_def resize_pad_inputs[] = {
    IN("image", "IMAGE", NULL),
    IN("target_width", "INT",
       "{\"default\": 512, \"min\": 1, \"max\": 16384, \"step\": 1}"),
    IN("target_height", "INT",
       "{\"default\": 512, \"min\": 1, \"max\": 16384, \"step\": 1}"),
    COMBO("padding_color", pad_colors, NULL),
    COMBO("interpolation", pad_methods, NULL),
};

/* ------------------------------------------------------ declarations */

static const comfy_node_def stitch_nodes[] = {
    { .size = sizeof(comfy_node_def), .name = "ImageStitch",
      .category = "image/transform",
      .description = "\nStitches image2 to image1 in the specified "
                     "direction.\nIf image2 is not provided, returns image1 "
                     "unchanged.\nOptional spacing can be added between "
                     "images.\n",
      .module = "comfy_extras.nodes_images", .inputs = stitch_inputs,
      .n_inputs = sizeof(stitch_inputs) / sizeof(stitch_inputs[0]),
      .outputs = image_out, .n_outputs = 1, .execute = stitch_execute },
    { .size = sizeof(comfy_node_def), .name = "ResizeAndPadImage",
      .category = "image/transform", .module = "comfy_extras.nodes_images",
      .inputs = resize_pad_inputs,
      .n_inputs = sizeof(resize_pad_inputs) / sizeof(resize_pad_inputs[0]),
      .outputs = image_out, .n_outputs = 1, .execute = resize_pad_execute },
};

int core_register_stitch_nodes(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < sizeof(stitch_nodes) / sizeof(stitch_nodes[0]);
         i++) {
        int rc = h->register_node(reg, &stitch_nodes[i]);
        if (rc)
            return rc;
    }
    return 0;
}
