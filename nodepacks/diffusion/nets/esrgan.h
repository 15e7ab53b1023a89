/*
 * esrgan.h — ESRGAN / RRDBNet upscale models as spandrel's ESRGAN
 * architecture loads and runs them (spec nodes-and-models.md
 * UpscaleModelLoader / ImageUpscaleWithModel), and ComfyUI's
 * comfy.utils.tiled_scale over them.
 *
 * Key layouts accepted (spandrel's detection):
 *   old    "model.0.*", "model.1.sub.N.RDBr.convK.0.*", trunk conv
 *          "model.1.sub.NB.*", upconvs "model.3/6/..", HR convs after them;
 *          ESRGAN+ adds "model.1.sub.N.RDBr.conv1x1.weight";
 *   new    "conv_first", "body.N.rdbR.convK", "conv_body", "conv_upU",
 *          "conv_hr", "conv_last" (Real-ESRGAN, params_ema unwrapped by the
 *          checkpoint reader);
 *   BSRGAN "conv_first", "RRDB_trunk.N.RDBR.convK", "trunk_conv",
 *          "upconvU", "HRconv", "conv_last";
 * under a common "module." / "netG." prefix or none.  nf, nb, the scale
 * (2^upconvs) and in / out channels come from the weights; growth channels
 * are 32.  in_nc = 4·out_nc or 16·out_nc means Real-ESRGAN's
 * pixel-unshuffle by 2 / 4 (x2 / x1 models): the scale is then divided by
 * that factor, the input is padded (reflect) to a multiple of 4 and
 * unshuffled first.
 *
 *   RDB(x)  = conv5(cat(x, x1..x4))·0.2 + x, xk = lrelu(convk(cat(x, x1..)))
 *             (ESRGAN+: x2 += conv1x1(x), x4 += x2)
 *   RRDB(x) = RDB3(RDB2(RDB1(x)))·0.2 + x
 *   net(x)  = f = conv_first(x); f += conv_body(RRDB*(f));
 *             U × lrelu(conv_up(nearest×2(f))); conv_last(lrelu(conv_hr(f)))
 * lrelu slope 0.2.  Each call of the model (spandrel's ImageModelDescriptor)
 * pads an input side below 2 (reflect, then replicate), clamps the output
 * to 0..1 and crops it to side·scale.
 *
 * Also Real-ESRGAN's SRVGGNetCompact (spandrel "Compact": keys body.0.weight
 * and body.1.weight): body.0 conv (3 -> nf), body.1 PReLU, nc x (conv,
 * PReLU), last conv (nf -> 3·s²); y = pixel_shuffle_s(..) + nearest_s(x),
 * s and out channels from the last bias (spandrel's candidates in_nc, 3, 4,
 * 1); no size requirement.
 *
 * Weights are converted to f32 at load (the state dict may be closed
 * afterwards).  Activations are NHWC, one tile at a time.
 * Threads: a loaded cd_esrgan is immutable; calls as nets.h says.
 */
#ifndef CD_NETS_ESRGAN_H
#define CD_NETS_ESRGAN_H

#include <stddef.h>
#include <stdint.h>

#include "nets.h"
#include "statedict.h"

typedef struct cd_esrgan cd_esrgan;

/* 1 when the state dict has the keys of a spandrel ESRGAN model (any
 * layout above, with or without the common prefix). */
int cd_esrgan_detect(const cd_sd *sd);

/* Loads the model.  Returns 0 and *out (free with cd_esrgan_free),
 * COMFY_EINVAL when the keys are not an ESRGAN's (err says so), a shape is
 * wrong or the channels are not 3 in / 3 out; COMFY_ENOENT for a missing
 * tensor; COMFY_ENOMEM.  err names the tensor. */
int cd_esrgan_load(const cd_sd *sd, cd_esrgan **out, char *err, size_t errlen);

void cd_esrgan_free(cd_esrgan *m);

/* The descriptor's scale (1, 2, 4, 8...; Compact: any). */
int cd_esrgan_scale(const cd_esrgan *m);
/* "ESRGAN 64nf 23nb x4" (+ " ESRGAN+", " unshuffle"), "RealESRGAN Compact
 * 64nf 16nc x4". */
const char *cd_esrgan_describe(const cd_esrgan *m);
uint64_t cd_esrgan_weight_bytes(const cd_esrgan *m);

/* Scratch bytes of one call of the model on a tile of th x tw pixels
 * (0 for a bad size). */
size_t cd_esrgan_tile_scratch_bytes(const cd_esrgan *m, int64_t th, int64_t tw);

/* comfy.utils.get_tiled_scale_steps: tiles of one image. */
int64_t cd_esrgan_tile_steps(int64_t H, int64_t W, int64_t tile, int64_t overlap);

/* Called after each tile with the tiles done and the total (B × steps). */
typedef void (*cd_esrgan_progress_fn)(void *user, int64_t done, int64_t total);

/* ImageUpscaleWithModel's tiled_scale(img, model, tile, tile, overlap,
 * upscale_amount = scale): img [B, H, W, 3] (NHWC, 0..1) -> out [B, H·s,
 * W·s, 3] (NHWC), each tile's output clamped to 0..1 and blended with the
 * linear feather of round(overlap·s) pixels; an image that fits in one
 * tile is one call.  The final clamp of the node is not applied (the
 * blend of clamped tiles stays in 0..1).  progress may be NULL.  Returns
 * 0, COMFY_EINVAL (bad sizes, overlap not below a tile that does not
 * cover the image; message in run->err), COMFY_ENOMEM, COMFY_EINTERRUPTED. */
int cd_esrgan_upscale(const cd_esrgan *m, const cd_nets_run *run, const float *img, int64_t B,
                      int64_t H, int64_t W, int64_t tile, int64_t overlap, float *out,
                      cd_esrgan_progress_fn progress, void *puser);

/* Scratch bytes cd_esrgan_upscale takes (the largest tile's plus the
 * blend buffers of one image); 0 for a bad size. */
size_t cd_esrgan_upscale_scratch_bytes(const cd_esrgan *m, int64_t H, int64_t W, int64_t tile);

#endif
