/*
 * taesd_glue.c — TAESD in the pack (nets/taesd.h; spec §10.3, §15):
 *
 *   VAELoader   lists "taesd" / "taesdxl" when models/vae_approx holds both
 *               "<name>_encoder.*" and "<name>_decoder.*" (ComfyUI's
 *               vae_list; taesd3 / taef1 have 16 latent channels and are
 *               not offered), and loads them as a VAE with vae_scale
 *               0.18215 / 0.13025, vae_shift 0 (load_taesd): decode,
 *               encode and the tiled forms (VAE.decode_tiled_ / encode_tiled_).
 *   previews    --preview-method taesd: the sampler nodes decode batch item
 *               0 of each step's x0 with the first vae_approx file whose
 *               name starts with "taesd_decoder" (SD1/SD2) or
 *               "taesdxl_decoder" (SDXL, refiner), scale 1, shift 0.  The
 *               decoder is loaded once and cached (path + mtime + size);
 *               without a file ComfyUI's warning is logged and latent2rgb
 *               is used (latent_preview.get_previewer); a file that does
 *               not load fails the sampler node, as in ComfyUI.
 *
 * Threads: everything runs on the executor thread except
 * dp_taesd_cache_bytes (any thread); the preview cache is locked, and
 * cleared only between prompts (/free, pack unload), so a decoder handed
 * out for a sampling stays valid during it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dpack.h"

#include "modelfile.h"
#include "taesd.h"

/* ------------------------------------------------------------- files */

/* Copies into name[cap] the first vae_approx file (sorted, as
 * get_filename_list) whose name starts with `prefix`.  0, or
 * COMFY_ENOENT when there is none (or the listing fails). */
static int approx_find(const comfy_host *h, const char *prefix, char *name, size_t cap)
{
    comfy_value *list = h->value_list(h->ctx);
    if (!list)
        return COMFY_ENOMEM;
    int rc = COMFY_ENOENT;
    if (h->folder_list(h->ctx, "vae_approx", list) == COMFY_OK) {
        size_t n = h->list_len(list), pl = strlen(prefix);
        for (size_t i = 0; i < n; i++) {
            const char *s = h->value_get_string(h->list_get(list, i));
            if (s && strncmp(s, prefix, pl) == 0 && strlen(s) < cap) {
                snprintf(name, cap, "%s", s);
                rc = COMFY_OK;
                break;
            }
        }
    }
    h->value_release(list);
    return rc;
}

typedef struct variant {
    const char *name;
    float scale, shift;
} variant;

/* VAELoader's TAESD choices (ComfyUI's order). */
static const variant variants[] = {
    {"taesd", 0.18215f, 0.0f},
    {"taesdxl", 0.13025f, 0.0f},
};
#define N_VARIANTS (sizeof variants / sizeof variants[0])

int dp_taesd_list(const comfy_host *h, comfy_value *out)
{
    for (size_t i = 0; i < N_VARIANTS; i++) {
        char pe[64], pd[64], name[1024];
        snprintf(pe, sizeof pe, "%s_encoder.", variants[i].name);
        snprintf(pd, sizeof pd, "%s_decoder.", variants[i].name);
        if (approx_find(h, pe, name, sizeof name) == COMFY_OK &&
            approx_find(h, pd, name, sizeof name) == COMFY_OK) {
            int rc = h->list_append(out, h->value_string(h->ctx, variants[i].name, (size_t)-1));
            if (rc)
                return rc;
        }
    }
    return COMFY_OK;
}

int dp_taesd_is_choice(const char *name)
{
    for (size_t i = 0; i < N_VARIANTS; i++)
        if (strcmp(name, variants[i].name) == 0)
            return 1;
    return 0;
}

/* Opens the vae_approx file `name`: 0 and a new reference, or the failed
 * call's status. */
static int open_approx(comfy_call *call, const char *name, cd_model_file **f)
{
    const comfy_host *h = call->host;
    char path[4096], err[512] = "";
    int rc = h->folder_resolve(h->ctx, "vae_approx", name, path, sizeof path);
    if (rc < 0)
        return h->fail(call, "FileNotFoundError",
                       "Model in folder 'vae_approx' with filename '%s' not found.", name);
    if (cd_model_file_open(path, f, err, sizeof err) < 0)
        return h->fail(call, "RuntimeError", "Error while loading %s: %s", name, err);
    return COMFY_OK;
}

int dp_taesd_load_vae(comfy_call *call, const char *name, dp_vae *v)
{
    const comfy_host *h = call->host;
    const variant *var = NULL;
    for (size_t i = 0; i < N_VARIANTS; i++)
        if (strcmp(name, variants[i].name) == 0)
            var = &variants[i];
    if (!var)
        return h->fail(call, "ValueError", "%s is not a TAESD choice", name);
    char pe[64], pd[64], fe[1024], fd[1024], err[512] = "";
    snprintf(pe, sizeof pe, "%s_encoder.", name);
    snprintf(pd, sizeof pd, "%s_decoder.", name);
    if (approx_find(h, pe, fe, sizeof fe) || approx_find(h, pd, fd, sizeof fd))
        return h->fail(call, "StopIteration",
                       "%s needs models/vae_approx/%s* and models/vae_approx/%s*", name, pe, pd);
    cd_model_file *e = NULL, *d = NULL;
    int rc;
    if ((rc = open_approx(call, fe, &e)) || (rc = open_approx(call, fd, &d))) {
        cd_model_file_unref(e);
        return rc;
    }
    cd_taesd *t = NULL;
    rc = cd_taesd_load(cd_model_file_index(d), "", cd_model_file_index(e), "", &t, err,
                       sizeof err);
    cd_model_file_unref(e);
    cd_model_file_unref(d);
    if (rc < 0)
        return dp_fail_status(call, rc, "Error while loading the TAESD VAE", err);
    v->taesd = t;
    v->latent_scale = var->scale;
    v->latent_shift = var->shift;
    v->latent_channels = cd_taesd_latent_channels(t);
    v->downscale = 8;
    return COMFY_OK;
}

void dp_taesd_free(struct cd_taesd *t)
{
    cd_taesd_free(t);
}

/* ------------------------------------------------------------ as a VAE */

uint64_t dp_taesd_decode_need(const dp_vae *v, int64_t h, int64_t w)
{
    return cd_taesd_decode_scratch_bytes(v->taesd, h, w);
}

uint64_t dp_taesd_encode_need(const dp_vae *v, int64_t H, int64_t W)
{
    return cd_taesd_encode_scratch_bytes(v->taesd, H, W);
}

int dp_taesd_decode(dp_vae *v, comfy_call *call, const float *z, int64_t B, int64_t h, int64_t w,
                    float *img)
{
    char err[512] = "";
    size_t need = cd_taesd_decode_scratch_bytes(v->taesd, h, w);
    ck_arena *arena = dp_arena(call, "the VAE decode", need ? need : 1);
    if (!arena)
        return COMFY_ENOMEM;
    cd_nets_run run = {dp_pool(call->host), arena, dp_interrupted, call, err, sizeof err};
    int rc = cd_taesd_decode(v->taesd, &run, z, B, h, w, v->latent_scale, v->latent_shift, img);
    ck_arena_free(arena);
    if (rc < 0)
        return dp_fail_status(call, rc, "VAE decode failed", err);
    /* VAE.process_output */
    for (int64_t i = 0; i < B * h * w * 64 * 3; i++) {
        float t = (img[i] + 1.0f) / 2.0f;
        img[i] = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
    }
    return COMFY_OK;
}

int dp_taesd_encode(dp_vae *v, comfy_call *call, const float *img, int64_t B, int64_t H,
                    int64_t W, float *z)
{
    char err[512] = "";
    size_t need = cd_taesd_encode_scratch_bytes(v->taesd, H, W);
    ck_arena *arena = dp_arena(call, "the VAE encode", need ? need : 1);
    if (!arena)
        return COMFY_ENOMEM;
    cd_nets_run run = {dp_pool(call->host), arena, dp_interrupted, call, err, sizeof err};
    int rc = cd_taesd_encode(v->taesd, &run, img, B, H, W, v->latent_scale, v->latent_shift, z);
    ck_arena_free(arena);
    if (rc < 0)
        return dp_fail_status(call, rc, "VAE encode failed", err);
    return COMFY_OK;
}

int dp_taesd_tiled(dp_vae *v, comfy_call *call, int encode, const float *in, int64_t B,
                   int64_t h, int64_t w, int64_t tx, int64_t ty, int64_t overlap, float *out)
{
    char err[512] = "";
    size_t need = cd_taesd_tiled_scratch_bytes(v->taesd, encode, h, w, tx, ty);
    ck_arena *arena = dp_arena(call, encode ? "the tiled VAE encode" : "the tiled VAE decode",
                               need ? need : 1);
    if (!arena)
        return COMFY_ENOMEM;
    cd_nets_run run = {dp_pool(call->host), arena, dp_interrupted, call, err, sizeof err};
    int rc = encode ? cd_taesd_encode_tiled(v->taesd, &run, in, B, h, w, tx, ty, overlap,
                                            v->latent_scale, v->latent_shift, out)
                    : cd_taesd_decode_tiled(v->taesd, &run, in, B, h, w, tx, ty, overlap,
                                            v->latent_scale, v->latent_shift, out);
    ck_arena_free(arena);
    if (rc < 0)
        return dp_fail_status(call, rc, encode ? "VAE encode failed" : "VAE decode failed", err);
    if (!encode) /* VAE.process_output */
        for (int64_t i = 0; i < B * h * w * 64 * 3; i++) {
            float t = (out[i] + 1.0f) / 2.0f;
            out[i] = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
        }
    return COMFY_OK;
}

/* ------------------------------------------------------------ previews */

typedef struct pentry {
    char path[4096];
    long long mtime_ns, size;
    cd_taesd *t; /* owned */
} pentry;

/* One decoder per prefix: [0] taesd_decoder, [1] taesdxl_decoder. */
static pentry g_prev[2];
static pthread_mutex_t g_prev_lock = PTHREAD_MUTEX_INITIALIZER;

void dp_taesd_cache_clear(void)
{
    pthread_mutex_lock(&g_prev_lock);
    for (int i = 0; i < 2; i++) {
        cd_taesd_free(g_prev[i].t);
        memset(&g_prev[i], 0, sizeof g_prev[i]);
    }
    pthread_mutex_unlock(&g_prev_lock);
}

uint64_t dp_taesd_cache_bytes(void)
{
    uint64_t s = 0;
    pthread_mutex_lock(&g_prev_lock);
    for (int i = 0; i < 2; i++)
        s += cd_taesd_weight_bytes(g_prev[i].t);
    pthread_mutex_unlock(&g_prev_lock);
    return s;
}

int dp_taesd_previewer(comfy_call *call, int family, const struct cd_taesd **out)
{
    const comfy_host *h = call->host;
    const int xl = family == DP_SDXL || family == DP_SDXL_REFINER;
    const char *prefix = xl ? "taesdxl_decoder" : "taesd_decoder";
    char name[1024], path[4096], err[512] = "";
    struct stat st;
    *out = NULL;
    if (approx_find(h, prefix, name, sizeof name) != COMFY_OK ||
        h->folder_resolve(h->ctx, "vae_approx", name, path, sizeof path) != COMFY_OK ||
        stat(path, &st) != 0) {
        h->log(h->ctx, COMFY_LOG_WARNING,
               "Warning: TAESD previews enabled, but could not find models/vae_approx/%s", prefix);
        return COMFY_OK;
    }
    const long long mt = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    pentry *e = &g_prev[xl];
    pthread_mutex_lock(&g_prev_lock);
    if (e->t && strcmp(e->path, path) == 0 && e->mtime_ns == mt &&
        e->size == (long long)st.st_size) {
        *out = e->t;
        pthread_mutex_unlock(&g_prev_lock);
        return COMFY_OK;
    }
    pthread_mutex_unlock(&g_prev_lock);
    cd_model_file *f = NULL;
    cd_taesd *t = NULL;
    int rc = cd_model_file_open(path, &f, err, sizeof err);
    if (rc < 0) {
        return h->fail(call, "RuntimeError", "Error while loading vae_approx/%s: %s", name, err);
    }
    rc = cd_taesd_load(cd_model_file_index(f), "", NULL, NULL, &t, err, sizeof err);
    cd_model_file_unref(f);
    if (rc < 0) {
        char what[1200];
        snprintf(what, sizeof what, "Error while loading the TAESD decoder vae_approx/%s", name);
        return dp_fail_status(call, rc, what, err);
    }
    pthread_mutex_lock(&g_prev_lock);
    cd_taesd_free(e->t);
    snprintf(e->path, sizeof e->path, "%s", path);
    e->mtime_ns = mt;
    e->size = (long long)st.st_size;
    e->t = t;
    pthread_mutex_unlock(&g_prev_lock);
    *out = t;
    return COMFY_OK;
}

comfy_tensor *dp_taesd_preview(comfy_call *call, const struct cd_taesd *t, const float *x0,
                               int64_t H, int64_t W)
{
    const comfy_host *h = call->host;
    char err[512] = "";
    const int64_t OH = 8 * H, OW = 8 * W;
    const uint64_t need = cd_taesd_decode_scratch_bytes(t, H, W), avail = dp_mem_available();
    if (need == 0 || (avail && need + (uint64_t)(OH * OW * 3) * 4 > avail)) {
        h->log(h->ctx, COMFY_LOG_WARNING,
               "TAESD preview skipped: decoding a %lldx%lld latent needs %.0f MiB, %.0f MiB free",
               (long long)W, (long long)H, (double)need / 1048576.0, (double)avail / 1048576.0);
        return NULL;
    }
    float *y = malloc((size_t)(OH * OW * 3) * sizeof *y);
    if (!y)
        return NULL;
    cd_nets_run run = {dp_pool(h), NULL, dp_interrupted, call, err, sizeof err};
    int rc = cd_taesd_decode(t, &run, x0, 1, H, W, 1.0f, 0.0f, y);
    if (rc < 0) {
        if (rc != COMFY_EINTERRUPTED)
            h->log(h->ctx, COMFY_LOG_WARNING, "TAESD preview failed: %s", err);
        free(y);
        return NULL;
    }
    int64_t shape[3] = {OH, OW, 3};
    comfy_tensor *img = h->tensor_new(h->ctx, COMFY_U8, 3, shape);
    if (img) {
        /* latent_preview.preview_to_image */
        uint8_t *o = img->data;
        for (int64_t i = 0; i < OH * OW * 3; i++) {
            float v = (y[i] + 1.0f) / 2.0f;
            v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            o[i] = (uint8_t)(v * 255.0f);
        }
    }
    free(y);
    return img;
}
