/*
 * clip_text_model.h — the CLIP text transformers (CLIP-L, OpenCLIP ViT-H,
 * ViT-bigG) and ComfyUI's encode_token_weights.
 *
 * A pre-LayerNorm transformer with a causal mask: token (or embedding row)
 * plus position embedding, `layers` blocks of
 *     x += out_proj(attention(q, k, v of LN1(x)));  x += fc2(act(fc1(LN2(x))))
 * then the final LayerNorm.  The output is either the final-normed last
 * layer ("last") or the hidden state after layer `layer_idx` (negative:
 * counted from the end), final-normed or not per encoder; the pooled
 * output is the final-normed state at the first end token (ComfyUI counts
 * positions up to it through its attention mask), optionally multiplied
 * by text_projection.
 *
 * Weights are f32 copies owned by the model, loaded from a checkpoint's
 * state dict under HF names (CLIP-L: text_model.…) or OpenCLIP names
 * (transformer.resblocks.…, converted as ComfyUI does).  Compute goes
 * through comfyd_kernels on the pool given (NULL: the calling thread).
 *
 * Thread-safety: a model is immutable after loading; encode calls may run
 * concurrently only on different pools.
 */
#ifndef CD_CLIP_TEXT_MODEL_H
#define CD_CLIP_TEXT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <comfyd/kernels.h>

#include "prompt_weights.h"
#include "statedict.h"

enum { CD_CLIP_ACT_QUICK_GELU = 0, CD_CLIP_ACT_GELU = 1 };
enum { CD_CLIP_NAMES_HF = 0, CD_CLIP_NAMES_OPENCLIP = 1 };

typedef struct cd_clip_text_config {
    int64_t width, layers, heads, mlp, vocab, positions;
    int act;               /* CD_CLIP_ACT_*                               */
    int has_projection;    /* text_projection present                     */
} cd_clip_text_config;

typedef struct cd_clip_text_layer {
    float *ln1_w, *ln1_b, *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
    float *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
    /* q, k and v are one packed projection: q_w = qkv_w, k_w = qkv_w + W²,
     * v_w = qkv_w + 2W² (and likewise the biases), run as one linear. */
    float *qkv_w, *qkv_b;
} cd_clip_text_layer;

typedef struct cd_clip_text_model {
    cd_clip_text_config cfg;
    float *tok_emb;        /* [vocab, width]                              */
    float *pos_emb;        /* [positions, width]                          */
    cd_clip_text_layer *layer;
    float *final_w, *final_b;
    float *proj;           /* [width, width] Linear weight (x · projᵀ), or NULL */
    float **owned;         /* every array above, freed by _free           */
    size_t n_owned;
} cd_clip_text_model;

/* Loads a text encoder from `sd` under `prefix`: with HF names the prefix
 * of "embeddings.", "encoder.layers.N." and "final_layer_norm." (e.g.
 * "cond_stage_model.transformer.text_model.", as cd_detect reports it),
 * text_projection.weight being looked up beside "text_model."; with
 * OpenCLIP names the prefix of "transformer.resblocks.N." (e.g.
 * "conditioner.embedders.1.model.").  Width, layer
 * count, MLP size and vocabulary come from the tensor shapes; `heads` 0
 * means width / 64 (every real CLIP; generated reduced-width checkpoints
 * pass theirs); `act` is CD_CLIP_ACT_QUICK_GELU for CLIP-L, GELU for
 * OpenCLIP.
 * Returns 0 and *out (caller frees with cd_clip_text_model_free), or
 * COMFY_ENOENT / COMFY_EINVAL (a tensor missing or of the wrong shape;
 * err names it) / COMFY_ENOMEM. */
int cd_clip_text_model_load(const cd_sd *sd, const char *prefix, int names, int act,
                            int64_t heads, cd_clip_text_model **out, char *err, size_t errlen);

/* An empty model with cfg's shapes and zeroed weights, for tests and
 * generated checkpoints.  Same returns. */
int cd_clip_text_model_new(const cd_clip_text_config *cfg, cd_clip_text_model **out);
void cd_clip_text_model_free(cd_clip_text_model *m);

/* How one encoder turns windows into conditioning (ComfyUI's SDClipModel
 * options). */
typedef struct cd_clip_encode_opts {
    int last;              /* 1: final-normed last layer ("last")          */
    int layer_idx;         /* else: hidden state after this layer (< 0
                              counts from the end)                        */
    int norm_hidden;       /* final LayerNorm on that hidden state         */
    int projected_pooled;  /* pooled output through text_projection        */
    int32_t start_token, end_token, pad_token;
} cd_clip_encode_opts;

/* ComfyUI's defaults: "sd1" (CLIP-L, last layer, unprojected pooled),
 * "sd2" (OpenCLIP-H, layer -2 normed, projected), "sdxl_l" (layer -2 not
 * normed), "sdxl_g" (layer -2 not normed, projected).  Returns 0, or
 * COMFY_EINVAL for another name. */
int cd_clip_encode_opts_preset(cd_clip_encode_opts *o, const char *which);

/* CLIPSetLastLayer(k) on opts for a model of `layers` layers, as
 * set_clip_options: the hidden state after layer k (k < 0 counts from the
 * end), or the last layer when |k| > layers. */
void cd_clip_encode_opts_set_layer(cd_clip_encode_opts *o, int64_t layers, int k);

/* Runs the transformer on n windows of CD_CLIP_WINDOW positions.  z gets
 * [n, 77, width] (the layer opts select), pooled [n, width] (NULL: not
 * wanted; projected when opts->projected_pooled and the model has a
 * projection).  Embedding rows whose width is not the model's are dropped
 * and pad tokens appended, as ComfyUI does.  Returns 0, COMFY_EINVAL,
 * COMFY_ENOMEM. */
int cd_clip_text_forward(ck_pool *pool, const cd_clip_text_model *m, const cd_clip_encode_opts *o,
                         const cd_clip_tw *windows, size_t n, float *z, float *pooled);

/* ComfyUI's encode_token_weights for one encoder: encodes the windows of
 * `tw` (plus the empty prompt when any weight is not 1.0), interpolates
 * each weighted position against the empty prompt's encoding at the same
 * position, and concatenates the windows.  *cond gets a new array
 * [tw->n_chunks * 77, width] (caller frees), pooled [width] the pooled
 * output of the first window.  Returns 0 or a status as above. */
int cd_clip_encode_token_weights(ck_pool *pool, const cd_clip_text_model *m,
                                 const cd_clip_encode_opts *o, const cd_clip_tw_list *tw,
                                 float **cond, float *pooled);

/* SDXL: cond = [l[:T], g[:T]] on the feature axis, T = min(rows_l,
 * rows_g).  *out gets a new [T, wl + wg] array (caller frees), *rows T.
 * 0 or COMFY_ENOMEM / COMFY_EINVAL. */
int cd_clip_sdxl_concat(const float *l, int64_t rows_l, int64_t wl, const float *g, int64_t rows_g,
                        int64_t wg, float **out, int64_t *rows);

#endif
