/*
 * dpack.h — internals of the diffusion node pack (nodepacks/diffusion).
 *
 * The pack exposes the libraries of this folder (model/, text/, sampling/,
 * nets/) as ComfyUI's loader, conditioning, latent, sampling and VAE
 * nodes.  Files:
 *   pack.c               entry point, shared compute pool, helpers
 *   model_cache.c        loaded checkpoints cached by path + mtime + size
 *   nodes_loaders.c      CheckpointLoaderSimple (+ the MODEL/CLIP/VAE objects)
 *   nodes_conditioning.c CLIPTextEncode, CLIPSetLastLayer, Conditioning*
 *   nodes_latent.c       EmptyLatentImage and the latent transforms
 *   nodes_sampling.c     KSampler, KSamplerAdvanced
 *   cfg_guider.c         the denoiser: calc_cond_batch + CFG (sampling_function)
 *   nodes_controlnet.c   ControlNet loaders / apply nodes, get_control per UNet call
 *   nodes_vae.c          VAEDecode, VAEEncode and their tiled forms
 *
 * The libraries' headers cannot all meet in one translation unit (detect.h
 * and sampling/model_sampling.h both name an enum cd_prediction), so this
 * header includes neither: the objects below hold the library types through
 * opaque pointers, and each .c file includes the library headers it needs.
 *
 * Object values: MODEL, CLIP and VAE are host OBJECT values whose self is a
 * reference-counted dp_model / dp_clip / dp_vae (the model cache holds one
 * reference, each value another).  CONDITIONING is a host LIST of entries,
 * each a LIST [TENSOR cond [1, T, D], MAP options], as in ComfyUI (see
 * sdk/include/comfy/diffusion.h).  LATENT is a MAP {"samples", ...}.
 *
 * Threads: execute functions run on the executor thread; the compute pool
 * is used by one node at a time.
 */
#ifndef DPACK_H
#define DPACK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <comfy/comfy.h>
#include <comfy/diffusion.h>
#include <comfyd/kernels.h>

struct cd_unet;
struct cd_vae;
struct cd_taesd;
struct cd_clip_stack;
struct cd_model_sampling;
struct cd_model_file;

/* Model families (the detected checkpoint's). */
enum { DP_SD1 = 1, DP_SD2, DP_SDXL, DP_SDXL_REFINER };

/* A loaded diffusion model (MODEL).  Immutable after loading. */
typedef struct dp_model {
    atomic_int refs;
    struct cd_unet *unet;               /* owned                             */
    struct cd_model_file *file;         /* reference: weights may borrow it  */
    struct cd_model_sampling *ms;       /* owned (malloc)                    */
    int family;                         /* DP_*                              */
    int v_pred;                         /* 1: v-prediction                   */
    int in_channels, latent_channels;   /* 4 / 9 for inpaint models; 4       */
    int context_dim, adm_in_channels;
    float latent_scale;                 /* 0.18215 SD1/SD2, 0.13025 SDXL    */
    char name[256];                     /* file name, for messages           */
    struct dp_lora_weights *lora;       /* owned: LoRA-patched weights the
                                           UNet borrows (nodes_lora.c), or NULL */
} dp_model;

/* A CLIP: a text-encoder stack; a CLIPSetLastLayer view keeps its parent. */
typedef struct dp_clip {
    atomic_int refs;
    struct cd_clip_stack *stack;        /* owned                             */
    struct dp_clip *parent;             /* reference, or NULL                */
} dp_clip;

/* A VAE (first-stage model). */
typedef struct dp_vae {
    atomic_int refs;
    struct cd_vae *vae;                 /* owned; NULL for pixel_space       */
    struct cd_taesd *taesd;             /* owned: VAELoader's "taesd" /
                                           "taesdxl" (then vae is NULL)      */
    struct cd_model_file *file;         /* reference                         */
    float latent_scale;                 /* TAESD: its vae_scale              */
    float latent_shift;                 /* TAESD: its vae_shift (0)          */
    int latent_channels;                /* 4; 3 for pixel_space              */
    int downscale;                      /* 8; 1 for pixel_space              */
    int pixel;                          /* VAELoader's "pixel_space"         */
} dp_vae;

/* ------------------------------------------------------------ references */

dp_model *dp_model_ref(dp_model *m);
void dp_model_unref(dp_model *m);
dp_clip *dp_clip_ref(dp_clip *c);
void dp_clip_unref(dp_clip *c);
dp_vae *dp_vae_ref(dp_vae *v);
void dp_vae_unref(dp_vae *v);

/* New OBJECT values (one host reference) holding a new reference to the
 * object; NULL when memory runs out (the object's reference is then
 * dropped). */
comfy_value *dp_model_value(const comfy_host *h, dp_model *m);
comfy_value *dp_clip_value(const comfy_host *h, dp_clip *c);
comfy_value *dp_vae_value(const comfy_host *h, dp_vae *v);

/* Input readers: borrowed objects of input `name`, or NULL after failing
 * the call with ComfyUI's message. */
dp_model *dp_in_model(comfy_call *call, const char *name);
dp_clip *dp_in_clip(comfy_call *call, const char *name);
dp_vae *dp_in_vae(comfy_call *call, const char *name);

/* The interface tables the objects carry (comfy/diffusion.h). */
extern const comfy_model_iface dp_model_iface;
extern const comfy_vae_iface dp_vae_iface;

/* --------------------------------------------------------------- pack */

/* The pack's compute pool (threads from --threads, 0 = every core),
 * made on first use; NULL if it cannot be made (then ops run on the
 * calling thread).  Executor thread only. */
ck_pool *dp_pool(const comfy_host *h);

/* Bytes of memory available now (MemAvailable), or 0 when unknown. */
uint64_t dp_mem_available(void);

/* Checks that `bytes` of scratch can be had; otherwise fails the call with
 * "... needs N MiB, M MiB free" and returns COMFY_ENOMEM. */
int dp_check_memory(comfy_call *call, const char *what, uint64_t bytes);

/* A scratch arena of `bytes` (rounded up); NULL after failing the call. */
ck_arena *dp_arena(comfy_call *call, const char *what, uint64_t bytes);

/* The executor-side interrupt poll the nets call between blocks. */
int dp_interrupted(void *call);

/* Maps a negative status from the libraries to host->fail: COMFY_ENOMEM
 * becomes "out of memory ..." with `err`, COMFY_EINTERRUPTED is returned as
 * is, everything else fails with `what`: `err`. */
int dp_fail_status(comfy_call *call, int status, const char *what, const char *err);

/* Input readers (fail the call with a ValueError on a wrong kind). */
int dp_in_int(comfy_call *call, const char *name, int64_t *out);
int dp_in_uint(comfy_call *call, const char *name, uint64_t *out);
int dp_in_float(comfy_call *call, const char *name, double *out);
/* Reads CONDITIONING input `name`: the list of [tensor, options map]
 * entries (borrowed), or NULL after failing the call with a ValueError
 * (nodes_conditioning.c). */
const comfy_value *dp_in_cond(comfy_call *call, const char *name);
/* A new map with the entries of options map `src` (references retained),
 * or NULL on OOM. */
comfy_value *dp_map_copy(const comfy_host *h, const comfy_value *src);
int dp_in_bool(comfy_call *call, const char *name, int *out);
int dp_in_string(comfy_call *call, const char *name, const char **out);

/* A LATENT input: the MAP and its "samples" tensor as contiguous f32
 * (a copy in *owned when the tensor is not already so; free it).  */
typedef struct dp_latent {
    const comfy_value *map;   /* borrowed */
    int64_t b, c, h, w;
    const float *data;        /* borrowed or == owned */
    float *owned;
} dp_latent;
int dp_in_latent(comfy_call *call, const char *name, dp_latent *out);
void dp_latent_free(dp_latent *l);

/* A new f32 tensor (zero-filled, one reference) after checking the element
 * ceiling; NULL after failing the call. */
comfy_tensor *dp_new_tensor(comfy_call *call, int ndim, const int64_t *shape);

/* A copy of LATENT map `src` (every key kept, in order) with "samples"
 * replaced by `samples` (reference taken); NULL on OOM (reference dropped). */
comfy_value *dp_latent_with(const comfy_host *h, const comfy_value *src,
                            comfy_tensor *samples);

/* A contiguous f32 copy of any tensor (malloc'd, caller frees), or NULL. */
float *dp_tensor_f32(const comfy_host *h, const comfy_tensor *t);

/* ------------------------------------------------------------ resizing */

/* LatentUpscale's methods, in ComfyUI's order (NULL-terminated). */
enum { DP_UPSCALE_NEAREST = 0, DP_UPSCALE_BILINEAR, DP_UPSCALE_AREA, DP_UPSCALE_BICUBIC,
       DP_UPSCALE_BISLERP };
extern const char *const dp_upscale_methods[];

/* ComfyUI's common_upscale of in [N, C, h, w] to out [N, C, oh, ow]
 * (latent_resize.c): optional center crop, then torch's interpolate or
 * bislerp.  Returns 0, COMFY_EINVAL for empty sizes, COMFY_ENOMEM. */
int dp_common_upscale(const float *in, int64_t N, int64_t C, int64_t h, int64_t w, float *out,
                      int64_t oh, int64_t ow, int method, int crop);

/* ---------------------------------------------------------- families */

int dp_register_loaders(const comfy_host *h, comfy_registrar *reg);
int dp_register_conditioning(const comfy_host *h, comfy_registrar *reg);
int dp_register_latent(const comfy_host *h, comfy_registrar *reg);
int dp_register_sampling(const comfy_host *h, comfy_registrar *reg);
int dp_register_vae(const comfy_host *h, comfy_registrar *reg);
int dp_register_lora(const comfy_host *h, comfy_registrar *reg);
/* UpscaleModelLoader, ImageUpscaleWithModel (nodes_upscale.c, ESRGAN models). */
int dp_register_upscale(const comfy_host *h, comfy_registrar *reg);

/* ------------------------------------------------------------ LoRA */

/* Frees a model's LoRA weights (dp_model_unref, after the UNet). */
void dp_lora_weights_free(struct dp_lora_weights *w);

/* Drops the cached LoRA-patched models and CLIPs (dp_cache_clear). */
void dp_lora_cache_clear(void);

/* Bytes the cached LoRA results own (patched f32 weights).  Any thread. */
uint64_t dp_lora_cache_bytes(void);

/* ------------------------------------------------------ model cache */

/* Loads (or returns the cached) checkpoint at absolute `path`: new
 * references to its model, clip (NULL when the file has no text encoder)
 * and vae (NULL without one).  Fails the call with a clear message. */
int dp_cache_checkpoint(comfy_call *call, const char *path, const char *name,
                        dp_model **model, dp_clip **clip, dp_vae **vae);

/* Drops every cached checkpoint (holders keep theirs). */
void dp_cache_clear(void);

/* Bytes the cached checkpoints keep resident (mapped files counted once,
 * plus weights the UNet / VAE own).  Any thread. */
uint64_t dp_cache_bytes(void);

/* Loads the objects of one checkpoint (nodes_loaders.c). */
int dp_load_checkpoint(comfy_call *call, const char *path, const char *name,
                       dp_model **model, dp_clip **clip, dp_vae **vae);

/* The model-sampling table of a model (nodes_sampling.c, which alone
 * includes sampling/model_sampling.h): a new malloc'd table (free()), or
 * NULL on OOM. */
struct cd_model_sampling *dp_ms_new(int v_pred, int zsnr);
float dp_ms_sigma_min(const struct cd_model_sampling *ms);
float dp_ms_sigma_max(const struct cd_model_sampling *ms);

/* The model's UNet (nodes_loaders.c, which alone includes nets/unet.h):
 * scratch bytes of one forward, and one forward (cd_unet_forward's
 * arguments; errors as there, message in err). */
uint64_t dp_unet_scratch(const dp_model *m, int64_t B, int64_t h, int64_t w, int64_t T);
int dp_unet_forward(const dp_model *m, ck_pool *pool, ck_arena *arena, comfy_call *call,
                    const float *x, int64_t B, int64_t h, int64_t w, const float *t,
                    const float *ctx, int64_t T, const float *y, float *out, char *err,
                    size_t errlen);

/* The VAE (nodes_loaders.c): decode z [B, 4, h, w] -> img [B, 8h, 8w, 3],
 * encode img [B, H, W, 3] -> z [B, 4, H/8, W/8], and the tiled forms
 * (tile sizes as cd_vae_decode_tiled / cd_vae_encode_tiled take them).
 * Each reserves its scratch, reports errors through the call. */
int dp_vae_decode(dp_vae *v, comfy_call *call, const float *z, int64_t B, int64_t h, int64_t w,
                  float *img);
int dp_vae_encode(dp_vae *v, comfy_call *call, const float *img, int64_t B, int64_t H, int64_t W,
                  float *z);
/* Scratch bytes of a whole decode / encode (0 on overflow). */
uint64_t dp_vae_decode_need(dp_vae *v, int64_t B, int64_t h, int64_t w);
uint64_t dp_vae_encode_need(dp_vae *v, int64_t B, int64_t H, int64_t W);
int dp_vae_tiled(dp_vae *v, comfy_call *call, int encode, const float *in, int64_t B,
                 int64_t h, int64_t w, int64_t tx, int64_t ty, int64_t overlap, float *out);

/* ------------------------------------------------------------ TAESD */

/* taesd_glue.c (spec §10.3, §15).  VAELoader: appends "taesd" / "taesdxl"
 * to `out` when models/vae_approx holds both halves; 1 if `name` is one
 * of those choices; loads one into v (taesd, scale, shift, channels,
 * downscale; fails the call with ComfyUI's messages). */
int dp_taesd_list(const comfy_host *h, comfy_value *out);
int dp_taesd_is_choice(const char *name);
int dp_taesd_load_vae(comfy_call *call, const char *name, dp_vae *v);
void dp_taesd_free(struct cd_taesd *t);
/* A TAESD VAE's decode (z [B, 4, h, w] -> img [B, 8h, 8w, 3] in 0..1) and
 * encode (img [B, H, W, 3] -> z [B, 4, H/8, W/8]) and their scratch. */
int dp_taesd_decode(dp_vae *v, comfy_call *call, const float *z, int64_t B, int64_t h, int64_t w,
                    float *img);
int dp_taesd_encode(dp_vae *v, comfy_call *call, const float *img, int64_t B, int64_t H,
                    int64_t W, float *z);
uint64_t dp_taesd_decode_need(const dp_vae *v, int64_t h, int64_t w);
uint64_t dp_taesd_encode_need(const dp_vae *v, int64_t H, int64_t W);
/* dp_vae_tiled for a TAESD VAE (same arguments). */
int dp_taesd_tiled(dp_vae *v, comfy_call *call, int encode, const float *in, int64_t B,
                   int64_t h, int64_t w, int64_t tx, int64_t ty, int64_t overlap, float *out);
/* --preview-method taesd: *out = the cached decoder for a model family
 * (DP_*), loaded on first use, or NULL after logging ComfyUI's warning when
 * vae_approx has no file (the caller falls back to latent2rgb).  Returns 0,
 * or fails the call when the file cannot be loaded (ComfyUI's sampler node
 * fails then too).  Borrowed: valid until dp_taesd_cache_clear (between
 * prompts only). */
int dp_taesd_previewer(comfy_call *call, int family, const struct cd_taesd **out);
/* The preview image of x0 [4, H, W] (batch item 0, model space): a new
 * U8 [8H, 8W, 3] tensor, or NULL (failure logged, or interrupted). */
comfy_tensor *dp_taesd_preview(comfy_call *call, const struct cd_taesd *t, const float *x0,
                               int64_t H, int64_t W);
/* The preview decoders' cache: drop (/free unload_models, pack unload) and
 * bytes (any thread). */
void dp_taesd_cache_clear(void);
uint64_t dp_taesd_cache_bytes(void);

/* ------------------------------------------------------- the guider */

/* One conditioning entry, resolved for sampling (cfg_guider.c). */
typedef struct dp_cond {
    const float *ctx;      /* [T, D] borrowed from the CONDITIONING tensor */
    int64_t T, D;
    float *y;              /* [adm] owned, or NULL                          */
    float strength;
    int has_area;          /* area in latent units                          */
    int64_t ah, aw, ay, ax;
    float *mask;           /* [mb, h, w] resized to the latent, owned, or NULL */
    int64_t mb;
    float mask_strength;
    int has_range;
    double sigma_start, sigma_end;
    const struct dp_cnet *control; /* the "control" option, borrowed, or NULL */
} dp_cond;

typedef struct dp_guider {
    const comfy_host *h;
    comfy_call *call;
    dp_model *model;       /* borrowed */
    struct dp_centry *pos, *neg; /* owned arrays (cfg_guider.c) */
    size_t npos, nneg;
    double cfg;
    int64_t B, C, H, W;    /* latent shape */
    ck_pool *pool;
    ck_arena *arena;       /* owned */
    char err[512];
    /* The last x0 prediction (for denoised_output), B*C*H*W, owned. */
    float *last_denoised;
    struct dp_cnet_run *cnet_run; /* ControlNet hints of this run, owned, or NULL */
} dp_guider;

/* Builds the guider: resolves both lists for a latent of B×C×H×W
 * (areas, masks, timestep ranges, SDXL ADM vectors), checks that the
 * model can take the latent and the context, and reserves the scratch
 * arena.  neg may be NULL (BasicGuider).  Fails the call on error. */
int dp_guider_init(dp_guider *g, comfy_call *call, dp_model *model,
                   const comfy_value *pos, const comfy_value *neg, double cfg,
                   int64_t B, int64_t C, int64_t H, int64_t W);
/* The same with what the sampler gives process_conds, which inpainting
 * models (in_channels > 4) build their c_concat from (spec §3.9): latent,
 * the process_in'd latent image [B, C, H, W], and mask, the prepared noise
 * mask [B, C, H, W]; either may be NULL (zeros / no mask).  Both are read
 * during the call only.  dp_guider_init passes NULL for both. */
int dp_guider_init_ex(dp_guider *g, comfy_call *call, dp_model *model,
                      const comfy_value *pos, const comfy_value *neg, double cfg,
                      int64_t B, int64_t C, int64_t H, int64_t W, const float *latent,
                      const float *mask);
void dp_guider_free(dp_guider *g);

/* The cd_denoiser_fn of the sampling library over a dp_guider. */
int dp_guider_denoise(void *user, const float *x, float sigma, float *denoised,
                      float *uncond, size_t n);

/* ------------------------------------------------------- ControlNet */

/* nodes_controlnet.c.  The ControlNet of a conditioning "control" option
 * value (borrowed), or NULL when it is none. */
struct dp_cnet;
struct dp_cnet_run;
int dp_register_controlnet(const comfy_host *h, comfy_registrar *reg);
const struct dp_cnet *dp_cnet_of(const comfy_host *h, const comfy_value *v);
void dp_cnet_run_free(struct dp_cnet_run *r);
/* One UNet call of the guider on xin [Bk, Cin, h, w] (c_in·x, then
 * c_concat; C latent channels) made of `batched` chunks, with the
 * residuals of `control` and its chain (NULL: a plain forward) at sigma;
 * the rest as dp_unet_forward, message in g->err. */
int dp_cnet_unet_forward(dp_guider *g, const struct dp_cnet *control, int batched, float sigma,
                         const float *xin, int64_t Bk, int64_t Cin, int64_t C, int64_t h,
                         int64_t w, const float *ts, const float *ctx, int64_t T, const float *y,
                         float *out);
/* ComfyUI's model_sampling.percent_to_sigma (cfg_guider.c). */
double dp_percent_to_sigma(const dp_model *m, double percent);

/* Runs a whole sampling: noise (unscaled, B*C*H*W), latent (raw VAE space,
 * not yet process_in'd), optional noise mask [mn, mh, mw], sigmas; writes
 * the result (raw VAE space) to out and, if denoised_out is not NULL, the
 * last x0 prediction (raw space).  Reports progress.  (nodes_sampling.c) */
typedef struct dp_sample_args {
    const char *sampler;
    const float *sigmas;
    size_t nsig;
    const float *noise;
    const float *latent;
    const float *mask;
    int64_t mn, mh, mw;
    uint64_t seed;
    int add_noise;
} dp_sample_args;

#endif
