/*
 * lora.h — LoRA files resolved against a model the way ComfyUI's
 * comfy/lora.py does (model_lora_keys_unet / model_lora_keys_clip /
 * load_lora), and the weight maths of comfy/weight_adapter/lora.py.
 *
 *  1. A key map (cd_lora_keys) lists every name a LoRA may use for a model
 *     weight, each pointing at the weight's ComfyUI state-dict key:
 *       UNet  "diffusion_model.<LDM key>"; the LoRA names are kohya
 *             "lora_unet_<LDM or diffusers key with _>", plain LDM keys
 *             "diffusion_model.<key without .weight>", diffusers / peft
 *             "<diffusers key>" / "unet.<diffusers key>" (to_q ->
 *             processor.to_q, to_out.0 -> to_out) and "lycoris_...";
 *       CLIP  "clip_l/clip_h/clip_g.transformer.text_model...weight"; the
 *             LoRA names are "lora_te_/lora_te1_/lora_te2_text_model_encoder_
 *             layers_N_<mlp_fc1|self_attn_q_proj|...>", diffusers
 *             "text_encoder(_2).text_model.encoder.layers.N.<...>" and the
 *             generic "text_encoders.<key without .weight>".
 *     Later additions of the same LoRA name replace the target (a Python
 *     dict assignment).
 *  2. cd_lora_resolve walks the key map in order and collects, per target,
 *     the adapter the LoRA has for it: LoRA up/down (+ LoCon "lora_mid",
 *     alpha, dora_scale) in every spelling ComfyUI reads, or a plain
 *     "diff" / "diff_b" / "w_norm" / "b_norm", LoHa (hada_*) and LoKr
 *     (lokr_*).  LoRA tensors no entry used are reported through the log
 *     ("lora key not loaded: NAME").  Adapters ComfyUI has and comfyd does
 *     not apply (GLoRA, OFT, BOFT, set_weight, reshape_weight) fail with a
 *     message.
 *  3. cd_lora_apply adds one patch to an f32 weight in place:
 *       W += strength * alpha / rank * (up @ down)       (LoRA)
 *       W += strength * alpha / rank * (w1a@w1b)*(w2a@w2b)  (LoHa)
 *       W += strength * alpha / dim * kron(w1, w2)       (LoKr)
 *       W += strength * diff                             (diff)
 *     with DoRA's weight decomposition when dora_scale is present.
 *
 * Ownership: a cd_lora_keys owns its strings; a cd_lora_set owns its
 * target strings and borrows the tensors of the LoRA state dict (which
 * must outlive it).  Pure computation; thread-safe on distinct objects.
 */
#ifndef CD_LORA_H
#define CD_LORA_H

#include <stddef.h>
#include <stdint.h>

#include <comfyd/kernels.h>

#include "detect.h"
#include "statedict.h"

/* A log sink (level: 2 warning, 3 error, as COMFY_LOG_*). */
typedef struct cd_lora_log {
    void (*fn)(void *ctx, int level, const char *msg);
    void *ctx;
} cd_lora_log;

typedef struct cd_lora_key {
    char *from;   /* the LoRA's name for the weight (owned) */
    char *to;     /* ComfyUI's state-dict key (owned)        */
} cd_lora_key;

typedef struct cd_lora_keys {
    cd_lora_key *k;      /* insertion order */
    size_t n, cap;
    uint32_t *slot;      /* hash of from -> index + 1 (0 empty) */
    size_t nslot;
} cd_lora_keys;

void cd_lora_keys_free(cd_lora_keys *m);

/* Adds from -> to (replacing the target when from is there).  0 or
 * COMFY_ENOMEM. */
int cd_lora_keys_add(cd_lora_keys *m, const char *from, const char *to);

/* The UNet names of a model whose tensors are in `sd` under `prefix` with
 * LDM names (the detected config gives the diffusers block layout). */
int cd_lora_keys_unet(cd_lora_keys *m, const cd_sd *sd, const char *prefix,
                      const cd_unet_config *cfg);

/* The text-encoder names.  `l_layers` / `g_layers` are the layer counts of
 * the encoders present (0: absent); `g_name` is "clip_h" (SD2) or "clip_g"
 * (SDXL, refiner); `l_proj` / `g_proj` say whether the encoder has a
 * text_projection weight. */
int cd_lora_keys_clip(cd_lora_keys *m, int l_layers, int l_proj, int g_layers, int g_proj,
                      const char *g_name);

enum { CD_LORA_ADAPTER = 1, CD_LORA_DIFF = 2, CD_LORA_LOHA = 3, CD_LORA_LOKR = 4 };

typedef struct cd_lora_patch {
    char *to;                   /* target state-dict key (owned)          */
    int kind;                   /* CD_LORA_*                               */
    const cd_tensor *up, *down, *mid; /* CD_LORA_ADAPTER (mid optional)    */
    const cd_tensor *dora;      /* dora_scale (LoRA / LoHa / LoKr), or NULL */
    const cd_tensor *diff;      /* CD_LORA_DIFF                            */
    /* LoHa: hada_w1_a/b, hada_w2_a/b (+ hada_t1/t2); LoKr: lokr_w1 or
     * lokr_w1_a/b, lokr_w2 or lokr_w2_a/b (+ lokr_t2) */
    const cd_tensor *w1, *w2, *w1a, *w1b, *w2a, *w2b, *t1, *t2;
    double alpha;
    int has_alpha;
} cd_lora_patch;

typedef struct cd_lora_set {
    cd_lora_patch *p;
    size_t n, cap;
} cd_lora_set;

void cd_lora_set_free(cd_lora_set *s);

/* The patch for `to`, or NULL. */
const cd_lora_patch *cd_lora_set_find(const cd_lora_set *s, const char *to);

/* Resolves the LoRA tensors `lora` against the key map.  Returns 0,
 * COMFY_EINVAL (an adapter comfyd does not apply, a half LoRA pair, a
 * non-scalar alpha: err says which), COMFY_ENOMEM. */
int cd_lora_resolve(const cd_sd *lora, const cd_lora_keys *keys, cd_lora_set *out,
                    const cd_lora_log *log, char *err, size_t errlen);

/* Adds patch p at `strength` to the f32 weight w of shape [ndim] in place
 * (matrix products on `pool`; NULL: the calling thread).  A LoRA whose
 * product does not have w's element count (or a diff of another shape)
 * leaves w as it is and logs an error, as ComfyUI does.  Returns 0 or
 * COMFY_ENOMEM. */
int cd_lora_apply(ck_pool *pool, const cd_lora_patch *p, double strength, float *w,
                  const int64_t *shape, int ndim, const cd_lora_log *log);

/* ---------------------------------------------------------- patching */

/* Tensors made f32 and patched (lora_patch.c). */
typedef struct cd_lora_subst {
    const char *name;   /* borrowed: the tensor array's name              */
    float *data;        /* f32 in the tensor's shape                      */
    int owned;          /* 1: freed by cd_lora_substs_free                */
} cd_lora_subst;

typedef struct cd_lora_substs {
    cd_lora_subst *s;
    size_t n, cap;
    uint64_t bytes;     /* of the owned arrays */
} cd_lora_substs;

void cd_lora_substs_free(cd_lora_substs *s);

/* Makes tensor t (of a caller's array) point at f32 `data` (borrowed, not
 * owned) and records it in subs.  0 or COMFY_ENOMEM. */
int cd_lora_substs_borrow(cd_lora_substs *subs, cd_tensor *t, float *data);

/* For every "diffusion_model.<key>" patch of set: the tensor prefix + key
 * of the array `tsd` indexes (which the caller owns and lets this change:
 * the views are rewritten) becomes an f32 array in subs (copied from its
 * current data the first time; later patches add to the copy) and gets the
 * patch at `strength`.  Targets the array lacks are logged "NOT LOADED".
 * Returns 0, COMFY_ENOMEM, COMFY_EINVAL (a tensor that cannot be read). */
int cd_lora_patch_unet(ck_pool *pool, const cd_sd *tsd, const char *prefix,
                       const cd_lora_set *set, double strength, cd_lora_substs *subs,
                       const cd_lora_log *log, char *err, size_t errlen);

struct cd_clip_text_model;

/* A copy of a text encoder sharing every weight array with src (owning
 * none); free with cd_clip_text_model_free once its owner is done (it frees
 * only the arrays patching made).  NULL on OOM. */
struct cd_clip_text_model *cd_lora_clip_shallow(const struct cd_clip_text_model *src);

/* Applies the text-encoder patches of set ("clip_l.transformer.…" to l,
 * "<g_name>.transformer.…" to g; either may be NULL) at `strength`: each
 * patched array is first copied into the model (see cd_lora_clip_shallow).
 * As ComfyUI, which keeps text encoders in f16 (text_encoder_dtype), the
 * patched weight is rounded to f16 (nearest even) after the patch.
 * *bytes grows by the bytes copied.  0 or COMFY_ENOMEM. */
int cd_lora_patch_clip(ck_pool *pool, struct cd_clip_text_model *l,
                       struct cd_clip_text_model *g, const char *g_name, const cd_lora_set *set,
                       double strength, const cd_lora_log *log, uint64_t *bytes);

#endif
