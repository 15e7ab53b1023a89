/*
 * taesd.h — the tiny autoencoder (TAESD) of SD1.x/SD2.x ("taesd") and SDXL
 * ("taesdxl"): ComfyUI's comfy/taesd/taesd.py as specified in
 * shared/spec/nodes-and-models.md §10.3.  Used for the taesd latent
 * previews (scale 1, shift 0) and VAELoader's "taesd"/"taesdxl" choices
 * (scale 0.18215 / 0.13025, shift 0).
 *
 *   Block(x) = ReLU(conv4(ReLU(conv2(ReLU(conv0(x))))) + x)   (64 -> 64)
 *   decode:  y = Dec((z - shift)·scale), Dec = 3·tanh(·/3), conv(L→64),
 *            ReLU, 3 × (Blocks, nearest ×2, conv no bias), Block,
 *            conv(64→3); the result is 2y − 1 (TAESD.decode).
 *   encode:  Enc(x·0.5 + 0.5)/scale + shift with x = 2p − 1 (the pixels
 *            as ComfyUI's VAE.process_input hands them), Enc = conv(3→64),
 *            Block, 3 × (conv stride 2 no bias, 3 Blocks), conv(64→L).
 *
 * Weights: the decoder / encoder state dicts of the taesd*_decoder /
 * taesd*_encoder files (keys "1.weight", "3.conv.0.weight", ...), under an
 * optional prefix; converted to f32 at load.  Only 4 latent channels are
 * accepted (taesd3 / taef1 have 16 and are refused with a message).
 * Activations are NHWC inside, one image at a time.
 * Threads: a loaded cd_taesd is immutable; calls as nets.h says.
 */
#ifndef CD_NETS_TAESD_H
#define CD_NETS_TAESD_H

#include <stddef.h>
#include <stdint.h>

#include "nets.h"
#include "statedict.h"

typedef struct cd_taesd cd_taesd;

/* Loads a TAESD from the decoder state dict `dec` and/or the encoder state
 * dict `enc` (either may be NULL, not both), tensor names under
 * dec_prefix / enc_prefix ("" or NULL for none).  Every weight is copied
 * (the state dicts may be closed afterwards).  Returns 0 and *out (free
 * with cd_taesd_free), COMFY_ENOENT for a missing tensor, COMFY_EINVAL for
 * a wrong shape / dtype or latent channels other than 4, COMFY_ENOMEM;
 * err names the tensor. */
int cd_taesd_load(const cd_sd *dec, const char *dec_prefix, const cd_sd *enc,
                  const char *enc_prefix, cd_taesd **out, char *err, size_t errlen);

void cd_taesd_free(cd_taesd *t);

int cd_taesd_latent_channels(const cd_taesd *t);
int cd_taesd_has_decoder(const cd_taesd *t);
int cd_taesd_has_encoder(const cd_taesd *t);
/* Bytes of the weights the object owns. */
uint64_t cd_taesd_weight_bytes(const cd_taesd *t);

/* Scratch bytes of a decode of latents h x w / an encode of images H x W
 * (one image at a time, so independent of the batch); 0 for a bad size. */
size_t cd_taesd_decode_scratch_bytes(const cd_taesd *t, int64_t h, int64_t w);
size_t cd_taesd_encode_scratch_bytes(const cd_taesd *t, int64_t H, int64_t W);

/* TAESD.decode: z [B, 4, h, w] (NCHW) -> y [B, 8h, 8w, 3] (NHWC), y =
 * 2·Dec((z − shift)·scale) − 1, not clamped (callers apply ComfyUI's
 * clamp((y + 1)/2, 0, 1)).  Returns 0, COMFY_EINVAL (bad size or no
 * decoder; message in run->err), COMFY_ENOMEM or COMFY_EINTERRUPTED. */
int cd_taesd_decode(const cd_taesd *t, const cd_nets_run *run, const float *z, int64_t B,
                    int64_t h, int64_t w, float scale, float shift, float *y);

/* VAE.encode with a TAESD: img [B, H, W, 3] (NHWC, pixels in 0..1) ->
 * z [B, 4, oh, ow] with oh = ceil(ceil(ceil(H/2)/2)/2) (H/8 for multiples
 * of 8), z = Enc((2p − 1)·0.5 + 0.5)/scale + shift.  Same returns (no
 * encoder, or a side < 1, is COMFY_EINVAL). */
int cd_taesd_encode(const cd_taesd *t, const cd_nets_run *run, const float *img, int64_t B,
                    int64_t H, int64_t W, float scale, float shift, float *z);

/* ComfyUI's VAE.decode_tiled_ / encode_tiled_ over a TAESD
 * (comfy.utils.tiled_scale: the mean of three tilings, each blending its
 * overlapping tiles with a linear feather; see vae.h).  Decode: tile_x,
 * tile_y, overlap in latent units, tilings (tile_x/2, tile_y*2),
 * (tile_x*2, tile_y/2), (tile_x, tile_y), y raw as cd_taesd_decode.
 * Encode: in pixels, tilings (tile_x, tile_y), (tile_x*2, tile_y/2),
 * (tile_x/2, tile_y*2), z [B, 4, round(H/8), round(W/8)].  Same returns;
 * the overlap must be smaller than each tile side that does not cover the
 * image. */
int cd_taesd_decode_tiled(const cd_taesd *t, const cd_nets_run *run, const float *z, int64_t B,
                          int64_t h, int64_t w, int64_t tile_x, int64_t tile_y, int64_t overlap,
                          float scale, float shift, float *y);
int cd_taesd_encode_tiled(const cd_taesd *t, const cd_nets_run *run, const float *img, int64_t B,
                          int64_t H, int64_t W, int64_t tile_x, int64_t tile_y, int64_t overlap,
                          float scale, float shift, float *z);
/* An upper bound of the scratch the tiled calls take from run->arena. */
size_t cd_taesd_tiled_scratch_bytes(const cd_taesd *t, int encode, int64_t h, int64_t w,
                                    int64_t tile_x, int64_t tile_y);

/* The latent side cd_taesd_encode gives for an image side. */
int64_t cd_taesd_encoded_size(int64_t n);

#endif
