/*
 * arch.h — the key names and shapes of the checkpoint families comfyd
 * knows: SD1.5, SD2.1-768-v, SDXL base and SDXL refiner, each at full width
 * (exactly the tensors of the real single-file releases) and at a reduced
 * "small" width (the same names, fewer channels/blocks/heads, a few MB).
 *
 * This table is the single source for comfyd-mkcheckpoint (which writes
 * these tensors) and for the loaders (which check a detected file against
 * it and read the hyper-parameters from it).  All tables are static and
 * read-only; any thread may use them.
 *
 * Reduced-width conventions (see README.md): UNet model_channels 32, the same channel_mult and num_res_blocks as the real model,
 * transformer depth capped at 2 (refiner 1), text encoders 32-64 wide with
 * 3 layers and the full 49408-token vocabulary, VAE base width 32; attention
 * heads: SD1 family keeps 8 heads, SD2/SDXL families use 16 channels per
 * head (CD_ARCH_SMALL_HEAD_CHANNELS) instead of 64.
 */
#ifndef CD_MODEL_ARCH_H
#define CD_MODEL_ARCH_H

#include <stdint.h>

#include "tensor.h"

#define CD_ARCH_SMALL_HEAD_CHANNELS 16
#define CD_ARCH_MAX_LEVELS 4

typedef enum cd_arch_id {
    CD_ARCH_SD15 = 0,
    CD_ARCH_SD21V,
    CD_ARCH_SDXL,
    CD_ARCH_SDXL_REFINER,
    CD_ARCH_COUNT
} cd_arch_id;

typedef enum cd_arch_width { CD_WIDTH_FULL = 0, CD_WIDTH_SMALL = 1 } cd_arch_width;

typedef struct cd_unet_arch {
    int in_channels, out_channels, model_channels;
    int n_levels;
    int channel_mult[CD_ARCH_MAX_LEVELS];
    int num_res_blocks;                   /* per level, same for all     */
    int level_depth[CD_ARCH_MAX_LEVELS];  /* transformer depth per level */
    int depth_middle;
    int context_dim;
    int adm_in_channels;                  /* 0: no label_emb             */
    int use_linear_in_transformer;
    int num_heads;                        /* -1 when head_channels used  */
    int num_head_channels;                /* -1 when num_heads used      */
} cd_unet_arch;

typedef enum cd_clip_layout { CD_CLIP_HF = 0, CD_CLIP_OPENCLIP = 1 } cd_clip_layout;

typedef struct cd_clip_arch {
    const char *prefix;      /* e.g. "cond_stage_model.transformer.text_model." */
    cd_clip_layout layout;
    int width, layers, heads, mlp;
    int vocab, ctx;
    int projection;          /* OpenCLIP text_projection columns (0: none)   */
} cd_clip_arch;

typedef struct cd_vae_arch {
    int ch, n_levels, ch_mult[CD_ARCH_MAX_LEVELS], num_res_blocks;
    int z_channels, embed_dim, in_channels, out_channels;
} cd_vae_arch;

typedef struct cd_arch {
    cd_arch_id id;
    cd_arch_width width;
    const char *name;            /* "sd15", "sd21v", "sdxl", "sdxl-refiner" */
    const char *modelspec;       /* modelspec.architecture value            */
    int v_prediction;            /* trained for v (SD2.1-768)               */
    int ldm_schedule_buffers;    /* LDM DDPM buffers (betas, ...) present    */
    cd_unet_arch unet;
    int n_clip;
    cd_clip_arch clip[2];
    cd_vae_arch vae;
} cd_arch;

/* How comfyd-mkcheckpoint fills a tensor. */
typedef enum cd_init {
    CD_INIT_FANIN = 0,   /* uniform, variance 1/fan_in (fan_in = prod(shape[1:])) */
    CD_INIT_ZEROS,
    CD_INIT_ONES,
    CD_INIT_EMBED,       /* uniform, std 0.02                                    */
    CD_INIT_NORM_BIAS,   /* uniform, std 0.12 (v-prediction norm biases)        */
    CD_INIT_POS_IDS,     /* int64 0..n-1                                         */
    CD_INIT_LOGIT_SCALE, /* ln(100)                                              */
    CD_INIT_SCHEDULE,    /* LDM DDPM buffer named by the key                     */
} cd_init;

typedef struct cd_arch_tensor {
    char name[192];
    int ndim;
    int64_t shape[4];
    cd_init init;
    int is_int64;        /* position_ids: int64 whatever the file dtype */
} cd_arch_tensor;

/* The table entry, or NULL for an out-of-range id/width. */
const cd_arch *cd_arch_get(cd_arch_id id, cd_arch_width width);

/* Parses "sd15" | "sd21v" | "sdxl" | "sdxl-refiner".  Returns 0 or
 * CD_MODEL_EINVAL. */
int cd_arch_parse(const char *name, cd_arch_id *out);

/* Calls cb once per tensor of the single-file checkpoint, in no particular
 * order (the writer sorts).  Stops and returns cb's value when it is
 * non-zero; returns 0 after the last tensor. */
typedef int (*cd_arch_cb)(const cd_arch_tensor *t, void *ud);
int cd_arch_foreach(const cd_arch *a, cd_arch_cb cb, void *ud);

/* Same for one part only, under the given key prefix (loaders use these to
 * check a separate UNet/VAE/text-encoder file). */
int cd_arch_foreach_unet(const cd_arch *a, const char *prefix, cd_arch_cb cb, void *ud);
int cd_arch_foreach_vae(const cd_arch *a, const char *prefix, cd_arch_cb cb, void *ud);
int cd_arch_foreach_clip(const cd_arch *a, int which, const char *prefix,
                         cd_arch_cb cb, void *ud);

/* Value i (0..999) of the LDM DDPM buffer `buffer` ("betas",
 * "alphas_cumprod", ...) for the SD linear schedule (0.00085..0.012).
 * Returns 0, or CD_MODEL_ENOTFOUND for an unknown buffer name. */
int cd_arch_schedule_value(const char *buffer, int i, double *out);

#endif
