/*
 * convert.h — key-name conversions ComfyUI applies before loading, so the
 * loaders can read diffusers-format files through the LDM names of arch.h.
 *
 *  * diffusers UNet -> LDM (openaimodel) names, for the block layout of a
 *    detected config (nodes-and-models.md §9.3);
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

#endif
