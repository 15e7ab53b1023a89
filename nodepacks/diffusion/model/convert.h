/*
 * convert.h — key-name conversions ComfyUI applies before loading, so the
 * loaders can read diffusers-format files through the LDM names of arch.h.
 *
 *  * diffusers UNet -> LDM (openaimodel) names, for the block layout of a
 *    detected config (nodes-and-models.md §9.3);
 *  * OpenCLIP text-encoder names (SD2 / SDXL bigG checkpoints) -> the HF
 *    CLIPTextModel names ComfyUI uses internally (clip_text_transformers_convert);
 *  * diffusers VAE -> LDM AutoencoderKL names.  Diffusers stores the
 *    mid-block attention q/k/v/proj as linear [c, c] where LDM has 1x1
 *    convs [c, c, 1, 1]: same data, the loader reshapes.
 *
 * Pure functions; thread-safe.
 */
#ifndef CD_MODEL_CONVERT_H
#define CD_MODEL_CONVERT_H

#include <stddef.h>

#include "detect.h"

/* Writes the LDM name for diffusers UNet key `name` (without prefix) into
 * out.  Returns 0, CD_MODEL_ENOTFOUND for a key with no LDM counterpart, or
 * CD_MODEL_EINVAL when out is too small. */
int cd_convert_diffusers_unet_key(const cd_unet_config *cfg, const char *name, char *out,
                                  size_t outlen);

/* Same for a diffusers VAE key, for a VAE with n_levels resolution levels
 * (4 for every SD-family VAE). */
int cd_convert_diffusers_vae_key(int n_levels, const char *name, char *out, size_t outlen);

/* One target of an OpenCLIP key: the HF name, and which rows of the source
 * it takes (part `part` of `parts` equal row blocks: the fused attention
 * in_proj splits into q, k, v), and whether the matrix is transposed
 * (OpenCLIP's text_projection is used as x @ P, HF's as a Linear weight). */
typedef struct cd_key_target {
    char name[160];
    int part, parts;
    int transpose;
} cd_key_target;

/* Maps OpenCLIP text key `name` (relative to the encoder prefix, e.g.
 * "transformer.resblocks.3.attn.in_proj_weight") to its HF targets.
 * Returns the number of targets written to out[0..2] (1 or 3), or
 * CD_MODEL_ENOTFOUND for a key with no HF counterpart. */
int cd_convert_openclip_text_key(const char *name, cd_key_target out[3]);

#endif
