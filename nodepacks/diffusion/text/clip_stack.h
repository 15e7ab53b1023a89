/*
 * clip_stack.h — the text side of a ComfyUI CLIP object: the encoders of
 * one model family with their options, and CLIPTextEncode /
 * CLIPTextEncodeSDXL / CLIPSetLastLayer on top of them.
 *
 *   SD1            "l": CLIP-L, last layer, pooled unprojected
 *   SD2            "h": OpenCLIP-H, layer -2 normed, pooled projected
 *   SDXL           "l" CLIP-L (layer -2, not normed) + "g" bigG (layer -2,
 *                  not normed, pooled projected); cond = [l, g] on the
 *                  feature axis (cut to the shorter), pooled = g's
 *   SDXL refiner   "g" only
 *
 * Ownership: a stack owns its models (freed by cd_clip_stack_free); the
 * embedding loader context is borrowed.  Encoding reads the stack only, so
 * several threads may encode with one stack on different pools; changing
 * clip_skip is the caller's to serialise (CLIPSetLastLayer clones the CLIP
 * object in ComfyUI: use cd_clip_stack_set_last_layer on a copy made with
 * cd_clip_stack_view).
 */
#ifndef CD_CLIP_STACK_H
#define CD_CLIP_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "clip_text_model.h"
#include "detect.h"

typedef enum cd_clip_family {
    CD_CLIP_SD1 = 0,
    CD_CLIP_SD2,
    CD_CLIP_SDXL,
    CD_CLIP_SDXL_REFINER,
} cd_clip_family;

typedef struct cd_clip_stack {
    cd_clip_family family;
    cd_clip_text_model *l;      /* CLIP-L (SD1, SDXL) or NULL            */
    cd_clip_text_model *g;      /* OpenCLIP-H (SD2) / bigG (SDXL, refiner) */
    int owns;                   /* 1: models freed with the stack        */
    int clip_skip;              /* 0: the family's defaults, else CLIPSetLastLayer's k */
    cd_clip_embed_fn embed_fn;  /* optional, for embedding:NAME          */
    void *embed_ctx;
    void (*warn)(void *ctx, const char *msg); /* optional */
    void *warn_ctx;
} cd_clip_stack;

/* Makes a stack of `family` over models l / g (as the family needs; the
 * stack takes ownership of both, also on failure).  0, COMFY_EINVAL when
 * a needed model is missing, COMFY_ENOMEM. */
int cd_clip_stack_new(cd_clip_family family, cd_clip_text_model *l, cd_clip_text_model *g,
                      cd_clip_stack **out);

/* Loads the text encoders of a detected single-file checkpoint (d from
 * cd_detect_checkpoint on sd).  Reduced-width files made by
 * comfyd-mkcheckpoint get their head count from the arch tables.  0;
 * COMFY_ENOENT when the checkpoint has no text encoder (ComfyUI's CLIP is
 * then None); COMFY_EINVAL / COMFY_ENOMEM with err set. */
int cd_clip_stack_load(const cd_sd *sd, const cd_detect *d, cd_clip_stack **out, char *err,
                       size_t errlen);

/* Loads one detected text encoder (a checkpoint's, or a standalone file's
 * from cd_detect_text_encoder for CLIPLoader / DualCLIPLoader): HF or
 * OpenCLIP names, quick_gelu for CLIP-L and gelu otherwise; `reduced`
 * (cd_detect.reduced_width, or a file made by comfyd-mkcheckpoint) takes
 * the head count from the reduced arch tables.  Returns as
 * cd_clip_text_model_load. */
int cd_clip_load_encoder(const cd_sd *sd, const cd_text_encoder *te, int reduced,
                         cd_clip_text_model **out, char *err, size_t errlen);

/* A stack sharing s's models (not owning them) with its own options: what
 * CLIPSetLastLayer returns.  Must not outlive s.  NULL on OOM. */
cd_clip_stack *cd_clip_stack_view(const cd_clip_stack *s);

/* CLIPSetLastLayer(k), k in -24..-1. */
void cd_clip_stack_set_last_layer(cd_clip_stack *s, int k);

void cd_clip_stack_free(cd_clip_stack *s);

/* One CONDITIONING entry's tensors. */
typedef struct cd_clip_cond {
    float *cond;          /* [rows, width], owned */
    int64_t rows, width;
    float *pooled;        /* [pooled_width], owned */
    int64_t pooled_width;
} cd_clip_cond;

void cd_clip_cond_free(cd_clip_cond *c);

/* CLIPTextEncode: tokenizes `text` for every encoder and encodes it.
 * 0, or a negative status with err set (ComfyUI's message where it has
 * one, e.g. "list index out of range" for a bare "embedding:"). */
int cd_clip_stack_encode(const cd_clip_stack *s, ck_pool *pool, const char *text, size_t len,
                         cd_clip_cond *out, char *err, size_t errlen);

/* CLIPTextEncodeSDXL: "g" from text_g, "l" from text_l, the shorter window
 * list padded with the empty prompt's windows.  SDXL stacks only
 * (COMFY_EINVAL otherwise). */
int cd_clip_stack_encode_sdxl(const cd_clip_stack *s, ck_pool *pool, const char *text_g,
                              size_t len_g, const char *text_l, size_t len_l, cd_clip_cond *out,
                              char *err, size_t errlen);

#endif
