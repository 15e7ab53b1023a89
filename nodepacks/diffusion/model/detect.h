/*
 * detect.h — checkpoint architecture detection from tensor names and
 * shapes, following ComfyUI's model_detection / supported_models.
 *
 * cd_detect_checkpoint reads a whole state dict (single-file checkpoint or
 * a bare diffusion-model file): it finds the diffusion-model prefix
 * (model.diffusion_model. / model.model. / net., the most frequent with more
 * than 5 keys), recognises non-UNet architectures by their marker keys
 * (SD3, Flux, Stable Cascade, AuraFlow, Hunyuan, PixArt, Wan, ...: reported
 * as "not supported yet"), otherwise walks the LDM UNet exactly as ComfyUI's
 * detect_unet_config does, and matches the result against SD1.x, SD2.x,
 * SDXL and SDXL refiner (plus the LDM variants ComfyUI lists first, reported
 * as unsupported).  Diffusers-format UNets (conv_in.weight,
 * down_blocks.N...) are read through the same walk.  It also reports the
 * prediction type (SD2 norm-bias test, SDXL v_pred/ztsnr/EDM markers), the
 * VAE and text-encoder prefixes present.
 *
 * Files made by comfyd-mkcheckpoint --width small do not carry the real
 * widths ComfyUI's table requires; they are recognised by structure instead
 * (see README.md) and flagged reduced_width.
 *
 * Pure functions over a cd_sd; thread-safe.
 */
#ifndef CD_MODEL_DETECT_H
#define CD_MODEL_DETECT_H

#include "statedict.h"

typedef enum cd_family {
    CD_FAMILY_NONE = 0,       /* nothing recognisable                     */
    CD_FAMILY_SD1,
    CD_FAMILY_SD2,
    CD_FAMILY_SDXL,
    CD_FAMILY_SDXL_REFINER,
    CD_FAMILY_UNSUPPORTED,    /* recognised, not supported yet (see name) */
} cd_family;

typedef enum cd_prediction {
    CD_PRED_EPS = 0,
    CD_PRED_V,
    CD_PRED_EDM,              /* Playground 2.5 style (edm_mean/edm_std)  */
    CD_PRED_V_EDM,            /* edm_vpred.sigma_max                      */
} cd_prediction;

typedef enum cd_text_kind {
    CD_TEXT_CLIP_L = 1,       /* 768 wide (or reduced), HF names          */
    CD_TEXT_CLIP_H,           /* OpenCLIP ViT-H (SD2)                     */
    CD_TEXT_CLIP_G,           /* OpenCLIP ViT-bigG (SDXL)                 */
} cd_text_kind;

#define CD_DETECT_MAX_LEVELS 8
#define CD_DETECT_MAX_BLOCKS 64

/* The detected UNet config, field for field ComfyUI's unet_config. */
typedef struct cd_unet_config {
    int in_channels, out_channels, model_channels;
    int n_levels;
    int channel_mult[CD_DETECT_MAX_LEVELS];
    int num_res_blocks[CD_DETECT_MAX_LEVELS];
    int n_transformer_depth;
    int transformer_depth[CD_DETECT_MAX_BLOCKS];
    int n_transformer_depth_output;
    int transformer_depth_output[CD_DETECT_MAX_BLOCKS];
    int transformer_depth_middle;   /* -1 ResBlock only, -2 none          */
    int context_dim;                /* 0 when no transformer              */
    int adm_in_channels;            /* 0 = None                           */
    int use_linear_in_transformer;
    int use_temporal;               /* video UNet (SVD)                   */
    int num_heads, num_head_channels; /* from the matched family           */
} cd_unet_config;

typedef struct cd_text_encoder {
    cd_text_kind kind;
    char prefix[96];          /* e.g. "conditioner.embedders.1.model."    */
    int openclip_layout;      /* 1: transformer.resblocks.N names         */
    int width, layers;
    int heads;                /* width/64, or width/16 at reduced width   */
} cd_text_encoder;

typedef struct cd_detect {
    cd_family family;
    const char *name;         /* "SD1.x", "SD2.x", "SDXL", "SDXL refiner",
                                 or what an unsupported file is ("Flux")  */
    int reduced_width;        /* matched by structure, not by real widths */
    int diffusers;            /* UNet keys were in diffusers layout       */
    int inpaint;              /* in_channels > 4                          */
    cd_prediction prediction;
    int zsnr;
    char unet_prefix[48];     /* "" for a bare UNet file                  */
    cd_unet_config unet;
    int has_vae;
    char vae_prefix[48];
    int n_text;
    cd_text_encoder text[3];
} cd_detect;

/* Detects a checkpoint or bare diffusion-model state dict.  Returns 0 with
 * out->family set (CD_FAMILY_UNSUPPORTED with out->name for a recognised
 * architecture comfyd cannot run yet), or CD_MODEL_ENOTFOUND with
 * "Could not detect model type" in err. */
int cd_detect_checkpoint(const cd_sd *sd, cd_detect *out, char *err, size_t errlen);

/* Classifies a standalone text-encoder file (CLIPLoader): HF names or
 * OpenCLIP names at the top level or under one of the checkpoint prefixes.
 * Returns 0 and fills *out, or CD_MODEL_ENOTFOUND. */
int cd_detect_text_encoder(const cd_sd *sd, cd_text_encoder *out, char *err, size_t errlen);

/* Recognises a standalone VAE file: LDM names ("encoder.conv_in.weight",
 * optionally under "first_stage_model." or "vae.") or diffusers names
 * ("encoder.down_blocks.0..."); *diffusers tells which.  Returns 0 with
 * prefix filled, or CD_MODEL_ENOTFOUND. */
int cd_detect_vae(const cd_sd *sd, char *prefix, size_t prefixlen, int *diffusers,
                  char *err, size_t errlen);

/* The arch.h table entry a detected SD1/SD2/SDXL/refiner file has the
 * layout of (full or small width), or NULL when its widths are neither
 * (e.g. a fine-tune with another text encoder width).  Loaders take the
 * hyper-parameters shapes do not carry (heads, VAE multipliers) from it. */
struct cd_arch;
const struct cd_arch *cd_detect_arch(const cd_detect *d);

const char *cd_family_name(cd_family f);
const char *cd_prediction_name(cd_prediction p);

#endif
