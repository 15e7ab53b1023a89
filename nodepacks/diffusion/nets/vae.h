/*
 * vae.h — the KL-f8 autoencoder (LDM AutoencoderKL) of SD1.x/SD2.x/SDXL:
 * decode latents to images and encode images to latents as ComfyUI's VAE
 * object does (shared/spec/nodes-and-models.md §10.1).
 *
 *   decode: post_quant_conv → decoder (conv_in, mid ResBlock / single-head
 *           attention / ResBlock, up levels with nearest ×2 upsampling,
 *           norm_out, SiLU, conv_out), then image = clamp((x + 1) / 2, 0, 1)
 *           as [B, H, W, 3] (H = 8h, W = 8w).
 *   encode: x = 2·pixel − 1 → encoder (asymmetric-padded stride-2
 *           downsampling) → quant_conv → the mean (first 4 of the 8
 *           channels); no sampling, as ComfyUI.  Latents are the raw VAE
 *           space (the SD/SDXL scale factor is applied by the sampler).
 *
 * Tiled variants follow ComfyUI's VAE.decode_tiled_ / encode_tiled_ (three
 * tilings averaged, each tiling blending its
 * overlapping tiles with a linear feather as comfy.utils.tiled_scale).
 *
 * Activations are NHWC inside; GroupNorm eps 1e-6, 32 groups.  The same
 * load options and run environment as the UNet (nets.h).
 * Threads: a loaded cd_vae is immutable; see nets.h for calls.
 */
#ifndef CD_NETS_VAE_H
#define CD_NETS_VAE_H

#include <stddef.h>
#include <stdint.h>

#include "nets.h"
#include "statedict.h"

typedef struct cd_vae cd_vae;

/* Loads the VAE under `prefix` ("first_stage_model." in a checkpoint, ""
 * for a standalone LDM-named VAE file).  Widths, levels and block counts
 * come from the tensor shapes (ch_mult from encoder.down.N.block.0 widths;
 * quant_conv/post_quant_conv optional).  Ownership of weights as for
 * cd_unet_load (CD_NETS_WEIGHTS_STORED may borrow the file's data).
 * Returns 0 and *out (free with cd_vae_free), COMFY_ENOENT for a missing
 * tensor, COMFY_EINVAL for a wrong shape or dtype, COMFY_ENOMEM; err names
 * the tensor. */
int cd_vae_load(const cd_sd *sd, const char *prefix, const cd_nets_load_opts *opts,
                cd_vae **out, char *err, size_t errlen);

void cd_vae_free(cd_vae *v);

typedef struct cd_vae_info {
    int latent_channels;   /* 4 (z_channels / embed_dim)                   */
    int downscale;         /* 8: image side = latent side * downscale      */
    int has_encoder, has_decoder;
    uint64_t weight_bytes;
    int64_t n_params;
} cd_vae_info;

void cd_vae_get_info(const cd_vae *v, cd_vae_info *info);

/* Scratch bytes of a decode of B latents h x w / an encode of B images
 * H x W (0 on overflow). */
size_t cd_vae_decode_scratch_bytes(const cd_vae *v, int64_t B, int64_t h, int64_t w);
size_t cd_vae_encode_scratch_bytes(const cd_vae *v, int64_t B, int64_t H, int64_t W);

/* Arena bytes cd_vae_decode_tiled (encode = 0; h, w the latent size) or
 * cd_vae_encode_tiled (encode = 1; h, w the image size) needs with these
 * tiles (the largest tile core of the three tilings; the small per-pass
 * output buffers are malloc'd).  0 for a bad size. */
size_t cd_vae_tiled_scratch_bytes(const cd_vae *v, int encode, int64_t h, int64_t w,
                                  int64_t tile_x, int64_t tile_y);

/* Decodes z [B, C, h, w] (NCHW, raw latent space) into img
 * [B, h*8, w*8, 3] in 0..1.  Returns 0, COMFY_EINVAL (bad shape, message
 * in run->err), COMFY_ENOMEM or COMFY_EINTERRUPTED. */
int cd_vae_decode(const cd_vae *v, const cd_nets_run *run, const float *z, int64_t B,
                  int64_t h, int64_t w, float *img);

/* Encodes img [B, H, W, 3] (0..1) into z [B, C, H/8, W/8], the posterior
 * mean.  VAEEncode crops to multiples of 8 first; other sizes >= 8 give
 * the sizes of the strided convolutions (as in ComfyUI's tiles).  Same
 * returns (COMFY_EINVAL for a side < 8). */
int cd_vae_encode(const cd_vae *v, const cd_nets_run *run, const float *img, int64_t B,
                  int64_t H, int64_t W, float *z);

/* ComfyUI's VAEDecodeTiled core: tile_x, tile_y and overlap in latent
 * units (the node passes tile_size / 8 and overlap / 8).  The output is
 * the mean of three tiled decodes with tiles (tile_x/2, tile_y*2),
 * (tile_x*2, tile_y/2) and (tile_x, tile_y).  Same returns; tile sizes
 * must be >= 1 and overlap < each tile side. */
int cd_vae_decode_tiled(const cd_vae *v, const cd_nets_run *run, const float *z, int64_t B,
                        int64_t h, int64_t w, int64_t tile_x, int64_t tile_y, int64_t overlap,
                        float *img);

/* ComfyUI's VAEEncodeTiled core (encode_tiled_): tile_x, tile_y and
 * overlap in pixels.  The mean of three tiled encodes with tiles
 * (tile_x, tile_y), (tile_x*2, tile_y/2) and (tile_x/2, tile_y*2).  Same
 * returns and limits as cd_vae_decode_tiled; z is [B, C, round(H/8),
 * round(W/8)]. */
int cd_vae_encode_tiled(const cd_vae *v, const cd_nets_run *run, const float *img, int64_t B,
                        int64_t H, int64_t W, int64_t tile_x, int64_t tile_y, int64_t overlap,
                        float *z);

/* Floating-point operations of cd_vae_decode (2 per multiply-add), for
 * benchmarks; 0 for a bad size or no decoder. */
double cd_vae_decode_flops(const cd_vae *v, int64_t B, int64_t h, int64_t w);

#endif
