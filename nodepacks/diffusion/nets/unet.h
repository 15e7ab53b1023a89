/*
 * unet.h — the Stable Diffusion UNet (the LDM "openaimodel" UNetModel with
 * SpatialTransformer blocks) for SD1.x, SD2.x and SDXL base / refiner.
 *
 * Behaviour is ComfyUI's (shared/spec/nodes-and-models.md §9): timestep
 * embedding (cos first) → time_embed (+ label_emb(y) for SDXL's ADM
 * vector), input blocks (ResBlock, SpatialTransformer where the detected
 * transformer depth says, Downsample), middle block, output blocks with
 * skip concatenation and nearest Upsample to the skip's size, out norm.
 * SD1.x uses conv1x1 proj_in/out and 8 heads; SD2.x/SDXL use linear
 * proj_in/out and 64 channels per head (16 in reduced-width test files).
 *
 * Activations are NHWC inside; convolutions and matmuls go through
 * comfyd_kernels (oneDNN where faster).  With prec CK_PREC_F32 and any
 * weight keeping mode the result equals ComfyUI's f32 CPU forward to
 * float rounding (f16/bf16 weights widen exactly).
 *
 * Typical use (one CFG step = a batch of 2, cond and uncond):
 *
 *     cd_unet *u;
 *     cd_nets_load_opts lo = {CD_NETS_WEIGHTS_F32, CK_PREC_F32};
 *     if (cd_unet_load(sd, det.unet_prefix, &det.unet, &lo, &u, err, sizeof err) < 0) ...
 *     cd_nets_run run = {pool, arena, NULL, NULL, err, sizeof err};
 *     rc = cd_unet_forward(u, &run, x, 2, 64, 64, t, ctx, 77, y, eps);
 *     ck_arena_reset(arena);
 *
 * Threads: a loaded cd_unet is immutable; see nets.h for forward calls.
 */
#ifndef CD_NETS_UNET_H
#define CD_NETS_UNET_H

#include <stddef.h>
#include <stdint.h>

#include "detect.h"
#include "nets.h"
#include "statedict.h"

typedef struct cd_unet cd_unet;

/* Loads the UNet whose tensors are in `sd` under `prefix` (e.g.
 * "model.diffusion_model."; "" for a bare UNet file) with the config
 * detected by cd_detect_checkpoint (cfg->num_heads / num_head_channels
 * give the attention heads; every other number is checked against the
 * tensor shapes).  `opts` may be NULL (f32 weights, f32 compute).
 * Weights of dtype F32, F16 or BF16 are accepted.
 *
 * Ownership: with CD_NETS_WEIGHTS_STORED the UNet may point into the
 * tensors' data (the mapped file): the caller keeps the file open until
 * cd_unet_free.  The other modes copy everything; `sd` may go right after.
 *
 * Returns 0 and *out (free with cd_unet_free); COMFY_ENOENT when a tensor
 * is missing, COMFY_EINVAL for a wrong shape/dtype or an unsupported config
 * (in_channels != out_channels + 0/5 is fine: inpaint models take 9), and
 * COMFY_ENOMEM; err (may be NULL) names the tensor or the problem. */
int cd_unet_load(const cd_sd *sd, const char *prefix, const cd_unet_config *cfg,
                 const cd_nets_load_opts *opts, cd_unet **out, char *err, size_t errlen);

/* Frees the UNet.  NULL is fine. */
void cd_unet_free(cd_unet *u);

/* What the loaded UNet takes and gives. */
typedef struct cd_unet_info {
    int in_channels;       /* latent channels in (4; 9 for inpaint models) */
    int out_channels;      /* 4                                            */
    int context_dim;       /* width of the cross-attention context         */
    int adm_in_channels;   /* length of y per sample; 0: y must be NULL    */
    int model_channels;
    int n_levels;          /* h and w must be >= 1; any size works (odd
                              sizes too), as in ComfyUI                    */
    uint64_t weight_bytes; /* bytes of weights the UNet owns (not borrowed) */
    int64_t n_params;      /* parameters (all tensors used)                */
    int n_input_blocks;    /* input_blocks.N entries (skips)               */
} cd_unet_info;

void cd_unet_get_info(const cd_unet *u, cd_unet_info *info);

/* Bytes of scratch one forward of a batch B at latent h x w with a context
 * of T tokens needs (what an arena must have free; a few MB of slack
 * included).  0 on overflow. */
size_t cd_unet_scratch_bytes(const cd_unet *u, int64_t B, int64_t h, int64_t w, int64_t T);

/* One UNet evaluation (ComfyUI's diffusion_model(x, timesteps, context, y)):
 *   x         [B, in_channels, h, w] f32, NCHW (the already-scaled model
 *             input c_in·x, plus concat channels for inpaint models)
 *   timesteps [B] (the discrete timestep as float, e.g. 999.0)
 *   context   [B, T, context_dim]
 *   y         [B, adm_in_channels] for SDXL models, else NULL
 *   out       [B, out_channels, h, w] NCHW (must not overlap the inputs)
 * Returns 0; COMFY_EINVAL for bad shapes (message in run->err),
 * COMFY_ENOMEM (with the bytes needed) or COMFY_EINTERRUPTED. */
int cd_unet_forward(const cd_unet *u, const cd_nets_run *run, const float *x, int64_t B,
                    int64_t h, int64_t w, const float *timesteps, const float *context,
                    int64_t T, const float *y, float *out);

/* ControlNet residuals for one forward (ComfyUI's control dict): input[i]
 * is added to input block i's output where the output blocks pop it as a
 * skip (ComfyUI's control["output"] popped from the end), middle to the
 * middle block's output.  Each is NHWC [B, h_i·w_i, c_i] (the sizes
 * cd_unet_block_shape gives); a NULL entry adds nothing.  n_input must
 * equal the UNet's input blocks. */
typedef struct cd_unet_control {
    int n_input;
    const float *const *input;
    const float *middle;
} cd_unet_control;

/* cd_unet_forward with control residuals (ctl NULL: the same as it). */
int cd_unet_forward_ctl(const cd_unet *u, const cd_nets_run *run, const float *x, int64_t B,
                        int64_t h, int64_t w, const float *timesteps, const float *context,
                        int64_t T, const float *y, const cd_unet_control *ctl, float *out);

/* The encoder trunk of a ControlNet: time/label embedding, input blocks
 * and middle block under `prefix` (no output blocks, no out).  Otherwise
 * as cd_unet_load; only cd_unet_encode, cd_unet_block_shape, get_info,
 * scratch_bytes and free apply to it. */
int cd_unet_load_encoder(const cd_sd *sd, const char *prefix, const cd_unet_config *cfg,
                         const cd_nets_load_opts *opts, cd_unet **out, char *err, size_t errlen);

/* Runs the encoder trunk: add0 (NHWC [B, h·w, model_channels], may be NULL)
 * is added to input block 0's output (the ControlNet's guided hint);
 * outs[i] (n_input_blocks + 1 buffers of cd_unet_block_shape's sizes
 * times B) receive each input block's output and outs[n] the middle
 * block's, NHWC.  Returns as cd_unet_forward. */
int cd_unet_encode(const cd_unet *u, const cd_nets_run *run, const float *x, int64_t B,
                   int64_t h, int64_t w, const float *timesteps, const float *context, int64_t T,
                   const float *y, const float *add0, float *const *outs);

/* Pixels (h_i·w_i) and channels of input block i's output for a latent
 * h x w; i == n_input_blocks gives the middle block's.  0 or COMFY_EINVAL. */
int cd_unet_block_shape(const cd_unet *u, int64_t h, int64_t w, int i, int64_t *hw, int64_t *ch);

/* Floating-point operations of one forward (convolutions, matmuls and
 * attention, 2 per multiply-add), for benchmarks; 0 for a bad size. */
double cd_unet_flops(const cd_unet *u, int64_t B, int64_t h, int64_t w, int64_t T);

#endif
