/*
 * core.h — internals of the core node pack (nodepacks/core).
 *
 * The pack reproduces ComfyUI's image, mask and primitive nodes.  The pixel
 * maths lives in plain functions over contiguous float32 buffers so that
 * unit tests can call it without a host:
 *   image_scale.c  resampling (ComfyUI's common_upscale)
 *   image_ops.c    blend, blur, sharpen, outpaint padding, colour fill
 *   mask_ops.c     MaskComposite, FeatherMask, GrowMask
 *   image_io.c     PNG/JPEG/WebP decoding, PNG encoding, SHA-256
 *   image_bmp.c, image_gif.c, image_tiff.c  BMP, GIF, TIFF decoding
 * The node declarations and execute functions live in nodes_io.c (file
 * nodes), nodes_image.c, nodes_batch.c, nodes_mask.c and primitives.c,
 * with node_util.c's input/output helpers; pack.c registers them.
 *
 * Layouts: an IMAGE buffer is [b, h, w, c] row-major (channels last), a
 * MASK buffer is [b, h, w].  Every function here is reentrant and may be
 * called from any thread.  Functions that allocate say who frees.
 */
#ifndef CORE_H
#define CORE_H

#include <stddef.h>
#include <stdint.h>

#include "comfy/comfy.h"

/* ComfyUI's MAX_RESOLUTION, and the ceilings this pack puts on any image
 * it makes: per side, per image (pixels, PIL's decompression-bomb limit)
 * and per tensor (float elements, 8 GiB). */
#define CORE_MAX_SIDE 16384
#define CORE_MAX_PIXELS 178956970LL
#define CORE_MAX_ELEMS (1LL << 31)

/* Checks an image shape against the ceilings above.  Returns 0, or -1 and
 * writes a sentence saying which limit was passed into msg[cap]. */
int core_check_dims(int64_t b, int64_t h, int64_t w, int64_t c, char *msg,
                    size_t cap);

/* ---------------------------------------------------------------- scale */

enum core_upscale_method {
    CORE_NEAREST_EXACT = 0,
    CORE_BILINEAR = 1,
    CORE_AREA = 2,
    CORE_BICUBIC = 3,
    CORE_LANCZOS = 4
};

/* The five method names in ComfyUI's order, NULL-terminated. */
extern const char *const core_upscale_methods[];

/* Index of `name` in core_upscale_methods, or -1. */
int core_upscale_method_from_name(const char *name);

/* ComfyUI's center crop box for resizing a h×w image to oh×ow: the rows
 * [*y, *y + *ch) and columns [*x, *x + *cw) that are kept. */
void core_center_crop(int64_t h, int64_t w, int64_t oh, int64_t ow,
                      int64_t *y, int64_t *x, int64_t *ch, int64_t *cw);

/* Resizes `in` [b, h, w, c] (row stride in_rs floats, image stride in_bs
 * floats, pixels packed by c) into `out` [b, oh, ow, c] contiguous, as
 * torch.nn.functional.interpolate does for nearest-exact, bilinear,
 * bicubic (align_corners False) and area (adaptive average pooling), and
 * as PIL's 8-bit LANCZOS resize does for lanczos (input clipped and
 * truncated to uint8, c must be 1, 3 or 4).  Returns 0, COMFY_EINVAL for
 * a bad method/size, COMFY_ENOMEM. */
int core_resize(const float *in, int64_t b, int64_t h, int64_t w, int64_t c,
                int64_t in_rs, int64_t in_bs, float *out, int64_t oh,
                int64_t ow, int method);

/* common_upscale(samples, ow, oh, method, crop) on a contiguous [b,h,w,c]
 * buffer: optional center crop (crop != 0), then core_resize. */
int core_upscale(const float *in, int64_t b, int64_t h, int64_t w, int64_t c,
                 float *out, int64_t oh, int64_t ow, int method, int crop);

/* PIL's 8-bit resampling of one interleaved uint8 image (LANCZOS).  `in`
 * is h×w×c, `out` is oh×ow×c.  Returns 0 or COMFY_ENOMEM. */
int core_pil_lanczos_u8(const uint8_t *in, int64_t h, int64_t w, int64_t c,
                        uint8_t *out, int64_t oh, int64_t ow);

/* ------------------------------------------------------------ image ops */

enum core_blend_mode {
    CORE_BLEND_NORMAL = 0, CORE_BLEND_MULTIPLY, CORE_BLEND_SCREEN,
    CORE_BLEND_OVERLAY, CORE_BLEND_SOFT_LIGHT, CORE_BLEND_DIFFERENCE
};
extern const char *const core_blend_modes[]; /* NULL-terminated */

/* out = clamp(a·(1−f) + mode(a, b)·f, 0, 1) over n floats. */
void core_blend(const float *a, const float *b, float *out, size_t n,
                float factor, int mode);

/* The Gaussian kernel of ImageBlur: k = 2r+1 taps over linspace(-1, 1, k)
 * in each direction, exp(-(u²+v²)/(2σ²)), normalised to sum 1; k×k floats
 * written to `kernel`. */
void core_gaussian_kernel(int r, float sigma, float *kernel);

/* ImageSharpen's kernel: the Gaussian × −10·alpha, centre adjusted so the
 * kernel sums to 1. */
void core_sharpen_kernel(int r, float sigma, float alpha, float *kernel);

/* Convolves each channel of `in` [b, h, w, c] with the (2r+1)² kernel
 * after reflect padding by r (torch 'reflect': the edge is not repeated;
 * needs r < h and r < w), into `out` of the same shape.  clamp01 != 0
 * clamps the result to 0..1.  Returns 0, COMFY_EINVAL (r too large for
 * the image) or COMFY_ENOMEM. */
int core_conv_reflect(const float *in, int64_t b, int64_t h, int64_t w,
                      int64_t c, const float *kernel, int r, float *out,
                      int clamp01);

/* ImageBlur, computed separably (the kernel is the outer product of two
 * 1-D Gaussians): the same result as core_conv_reflect with
 * core_gaussian_kernel up to float rounding, in O(r) per value instead of
 * O(r²).  Needs 0 <= r <= 31, r < h, r < w (else COMFY_EINVAL); may
 * return COMFY_ENOMEM. */
int core_gaussian_blur(const float *in, int64_t b, int64_t h, int64_t w,
                       int64_t c, int r, float sigma, float *out);

/* ImageSharpen: (1 + 10a)·in − 10a·blur(in), clamped to 0..1, which is
 * the convolution with core_sharpen_kernel.  Same errors as above. */
int core_sharpen(const float *in, int64_t b, int64_t h, int64_t w, int64_t c,
                 int r, float sigma, float alpha, float *out);

/* ImagePadForOutpaint.  `out` is [b, h+top+bottom, w+left+right, c] and
 * `mask` is [1, same h', same w']. */
void core_pad_outpaint(const float *in, int64_t b, int64_t h, int64_t w,
                       int64_t c, int64_t left, int64_t top, int64_t right,
                       int64_t bottom, int64_t feathering, float *out,
                       float *mask);

/* Fills [b, h, w, 3] with an RGB colour 0xRRGGBB as EmptyImage does. */
void core_fill_color(float *out, int64_t n_pixels, int64_t color);

/* ------------------------------------------------------------- mask ops */

enum core_mask_op {
    CORE_MASK_MULTIPLY = 0, CORE_MASK_ADD, CORE_MASK_SUBTRACT, CORE_MASK_AND,
    CORE_MASK_OR, CORE_MASK_XOR
};
extern const char *const core_mask_ops[]; /* NULL-terminated */

/* MaskComposite in place on `dst` [b, h, w] with `src` [sb, sh, sw] at
 * (x, y); sb must be 1 or b (torch broadcasting, checked by the caller).
 * A source placed wholly outside leaves dst as is; the whole output is
 * clamped to 0..1 afterwards. */
void core_mask_composite(float *dst, int64_t b, int64_t h, int64_t w,
                         const float *src, int64_t sb, int64_t sh,
                         int64_t sw, int64_t x, int64_t y, int op);

/* FeatherMask in place on [b, h, w] (with ComfyUI's index quirk). */
void core_mask_feather(float *m, int64_t b, int64_t h, int64_t w,
                       int64_t left, int64_t top, int64_t right,
                       int64_t bottom);

/* GrowMask: |expand| steps of grey dilation (expand > 0) or erosion with
 * a 3×3 footprint (plus-shaped if tapered), per mask, edges replicated.
 * Works in place on [b, h, w].  Returns 0 or COMFY_ENOMEM. */
int core_mask_grow(float *m, int64_t b, int64_t h, int64_t w, int64_t expand,
                   int tapered);

/* ---------------------------------------------------------- image files */

/* A decoded image: 8-bit interleaved, `channels` 1 (L), 2 (LA), 3 (RGB)
 * or 4 (RGBA); EXIF orientation already applied.  Animated WebP, GIF
 * and multi-page TIFF files give every frame LoadImage keeps (composited
 * on the canvas, as PIL iterates them); other files one.  Free with
 * core_image_free(). */
typedef struct core_image {
    int64_t w, h;
    int channels;
    int64_t frames;        /* >= 1 */
    uint8_t *pixels;       /* frames × h × w × channels; owned */
    char format[8];        /* "PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF" */
    /* Frames disagree on having a mask of their own (alpha) and are not
     * 64x64: ComfyUI's LoadImage cannot stack their masks and fails, its
     * LoadImageMask (first frame only) does not.  Those without one read
     * as opaque here. */
    int mixed_masks;
    /* PIL's info["transparency"] colour of an L or RGB first frame (PNG
     * tRNS, a grey GIF's transparent index), as raw numbers compared with
     * the 8-bit pixels: LoadImageMask's convert("RGBA") makes matching
     * pixels transparent; LoadImage ignores it. */
    int has_key;
    int key[3];
} core_image;

/* Decodes a PNG, JPEG, WebP, BMP, GIF or TIFF file (sniffed from its
 * bytes; image_decode.h has the last three).  On failure
 * returns a negative status and writes a sentence into err[cap]
 * (truncated or corrupt data, unknown format, over the size ceilings). */
int core_image_load(const char *path, core_image *img, char *err,
                    size_t cap);
void core_image_free(core_image *img);

/* Same, from memory (the fuzz and unit tests use it). */
int core_image_decode(const uint8_t *data, size_t len, core_image *img,
                      char *err, size_t cap);

/* Writes an 8-bit RGB (c = 3) or RGBA (c = 4) PNG with zlib level
 * `level` and a tEXt chunk per (keys[i], texts[i]) before the image data.
 * The file is written to a temporary name and renamed.  Returns 0, or a
 * negative status with err[cap] filled. */
int core_png_write(const char *path, const uint8_t *rgb, int64_t w,
                   int64_t h, int c, int level, const char *const *keys,
                   const char *const *texts, size_t n_texts, char *err,
                   size_t cap);

/* SHA-256 of a file as 64 lowercase hex digits in hex[65].  0, or
 * COMFY_ENOENT when it cannot be read. */
int core_sha256_file(const char *path, char hex[65]);
/* SHA-256 of memory. */
void core_sha256(const void *data, size_t len, uint8_t digest[32]);

/* ------------------------------------------------------ node helpers */

/* A float32 contiguous view of an input tensor.  `data` is the tensor's
 * own memory when it already is contiguous float32 (borrowed from the
 * input value, valid during execute), else `owned`, a converted copy
 * freed by core_view_free. */
typedef struct core_view {
    int64_t b, h, w, c;     /* MASK views have c = 1 */
    const float *data;
    float *owned;
} core_view;

void core_view_free(core_view *v);

/* Input readers used by execute.  Each returns COMFY_OK, or fails the
 * call (host->fail with a ValueError saying which input is wrong) and
 * returns that status, so execute can `return rc` directly. */
int core_in_int(comfy_call *call, const char *name, int64_t *out);
int core_in_float(comfy_call *call, const char *name, double *out);
int core_in_bool(comfy_call *call, const char *name, int *out);
/* *out is borrowed from the input value. */
int core_in_string(comfy_call *call, const char *name, const char **out);
/* A STRING input that must be one of `choices`; *index gets its index. */
int core_in_choice(comfy_call *call, const char *name,
                   const char *const *choices, int *index);
/* IMAGE: a 4-D tensor [B, H, W, C]. */
int core_in_image(comfy_call *call, const char *name, core_view *v);
/* MASK: any tensor of 2 or more dimensions, viewed as [-1, H, W] (so
 * [H, W], [B, H, W] and [B, 1, H, W] all work). */
int core_in_mask(comfy_call *call, const char *name, core_view *v);

/* A new zero-filled float32 tensor (one reference) after checking the
 * image ceilings; NULL after failing the call. */
comfy_tensor *core_new_image(comfy_call *call, int64_t b, int64_t h,
                             int64_t w, int64_t c);
comfy_tensor *core_new_mask(comfy_call *call, int64_t b, int64_t h,
                            int64_t w);

/* Sets output `index` to a TENSOR value; takes the tensor reference. */
int core_set_tensor(comfy_call *call, uint32_t index, comfy_tensor *t);

/* Fails the call for a negative status from the pixel functions:
 * "out of memory" for COMFY_ENOMEM, else `what`. */
int core_fail_status(comfy_call *call, int status, const char *what);

/* Saves the images of `img` (3 or 4 channels) as PNGs under `which`
 * ("output" or "temp") with `prefix` and zlib `level`, with the
 * prompt/extra_pnginfo metadata of the call's hidden inputs, and sets the
 * UI {"images": [{"filename", "subfolder", "type"}]}.  SaveImage,
 * PreviewImage and MaskPreview use it.  Returns COMFY_OK or the failed
 * call's status (or COMFY_EINTERRUPTED). */
int core_save_images(comfy_call *call, const core_view *img,
                     const char *which, const char *prefix, int level);

/* "ComfyUI_temp_" + 5 random letters, kept per (node id, class) across
 * prompts (PreviewImage, MaskPreview).  Executor thread only. */
void core_preview_prefix(comfy_call *call, char out[32]);

/* ImageScale's body: resizes `img` to ow×oh into output 0, one batch item
 * at a time with interrupt checks.  Fails the call on bad sizes. */
int core_scale_to(comfy_call *call, const core_view *img, int64_t ow,
                  int64_t oh, int method, int crop);

/* --------------------------------------------------------- registration */

/* Each node family's registration, called by pack.c's init. */
int core_register_image_nodes(const comfy_host *h, comfy_registrar *reg);
int core_register_postprocessing_nodes(const comfy_host *h,
                                       comfy_registrar *reg);
int core_register_image_extras(const comfy_host *h, comfy_registrar *reg);
int core_register_rebatch(const comfy_host *h, comfy_registrar *reg);
int core_register_batch_nodes(const comfy_host *h, comfy_registrar *reg);
int core_register_mask_nodes(const comfy_host *h, comfy_registrar *reg);
int core_register_io_nodes(const comfy_host *h, comfy_registrar *reg);
int core_register_primitives(const comfy_host *h, comfy_registrar *reg);
/* nodes_stitch.c: ImageStitch, ResizeAndPadImage. */
int core_register_stitch_nodes(const comfy_host *h, comfy_registrar *reg);
/* nodes_animated.c: SaveAnimatedWEBP, SaveAnimatedPNG. */
int core_register_animated_nodes(const comfy_host *h, comfy_registrar *reg);

#endif
