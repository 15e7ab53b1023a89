/*
 * controlnet.h — the SD ControlNet (ComfyUI's comfy/cldm/cldm.py ControlNet,
 * spec nodes-and-models.md §13) for SD1.x / SD2.x / SDXL.
 *
 * The network is the UNet's encoder trunk (time / label embedding, input
 * blocks, middle block: nets/unet.c's cd_unet_load_encoder) plus the hint
 * block (8 convolutions 3x3 with SiLU between, three of stride 2: an image
 * at 8x the latent down to model_channels at the latent size, added to
 * input block 0's output), a 1x1 "zero conv" after each input block and
 * one after the middle block (middle_block_out).  Its outputs are the
 * residuals cd_unet_forward_ctl adds to the UNet's skips and middle.
 *
 * Files: LDM layout with the "control_model." prefix (the .pth / original
 * release) or without it (ComfyUI's pruned safetensors), or diffusers'
 * ControlNetModel names (read through the LDM names, as ComfyUI's
 * unet_to_diffusers map); the trunk's config is read from the shapes.
 *
 *     cd_controlnet *cn;
 *     if (cd_controlnet_load(sd, NULL, &cn, err, sizeof err) < 0) ...
 *     n = cd_controlnet_n_outputs(cn);   // input blocks + 1 (middle)
 *     // outs[i]: B * hw_i * ch_i floats, NHWC (cd_controlnet_block_shape)
 *     rc = cd_controlnet_forward(cn, &run, x, B, h, w, hint, t, ctx, T, y, outs);
 *
 * Threads: a loaded cd_controlnet is immutable.
 */
#ifndef CD_NETS_CONTROLNET_H
#define CD_NETS_CONTROLNET_H

#include <stddef.h>
#include <stdint.h>

#include "detect.h"
#include "nets.h"
#include "statedict.h"

typedef struct cd_controlnet cd_controlnet;

/* What a state dict holds: a ControlNet's prefix ("control_model." or "")
 * and its trunk config (heads as ComfyUI's matched model config: 8 heads
 * for SD1's conv proj_in, 64 channels per head otherwise, 16 for the
 * reduced-width test files).  Returns 0, or COMFY_EINVAL with err saying
 * the file is not an SD ControlNet in LDM layout (T2I adapters, and
 * diffusers files, which cd_controlnet_load renames first). */
int cd_controlnet_detect(const cd_sd *sd, char *prefix, size_t prefixlen, cd_unet_config *cfg,
                         int *hint_channels, char *err, size_t errlen);

/* Loads the ControlNet in `sd` (detected as above).  opts as for
 * cd_unet_load (NULL: f32 weights, f32 compute); with
 * CD_NETS_WEIGHTS_STORED the caller keeps the file mapped until
 * cd_controlnet_free.  Returns 0 and *out, or COMFY_EINVAL / COMFY_ENOENT /
 * COMFY_ENOMEM with err naming the problem. */
int cd_controlnet_load(const cd_sd *sd, const cd_nets_load_opts *opts, cd_controlnet **out,
                       char *err, size_t errlen);

void cd_controlnet_free(cd_controlnet *cn);

/* The trunk config (what the UNet it controls must match). */
const cd_unet_config *cd_controlnet_config(const cd_controlnet *cn);
int cd_controlnet_hint_channels(const cd_controlnet *cn);
/* Outputs of one forward: input blocks + 1 (the middle). */
int cd_controlnet_n_outputs(const cd_controlnet *cn);
/* Pixels and channels of output i for a latent h x w (per batch item). */
int cd_controlnet_block_shape(const cd_controlnet *cn, int64_t h, int64_t w, int i, int64_t *hw,
                              int64_t *ch);

/* One ControlNet evaluation (ComfyUI's control_model(x, hint, timesteps,
 * context, y)):
 *   x     [B, in_channels, h, w] NCHW (the scaled model input)
 *   hint  [B, hint_channels, 8h, 8w] NCHW (the resized control image)
 *   timesteps [B], context [B, T, context_dim], y [B, adm] or NULL
 *   outs  n_outputs buffers, outs[i] [B, hw_i, ch_i] NHWC, unscaled
 * Returns 0, COMFY_EINVAL (bad shapes), COMFY_ENOMEM, COMFY_EINTERRUPTED. */
int cd_controlnet_forward(const cd_controlnet *cn, const cd_nets_run *run, const float *x,
                          int64_t B, int64_t h, int64_t w, const float *hint,
                          const float *timesteps, const float *context, int64_t T,
                          const float *y, float *const *outs);

/* Bytes of weights the ControlNet owns. */
uint64_t cd_controlnet_weight_bytes(const cd_controlnet *cn);

#endif
