/*
 * model_cache.c — loaded checkpoints, cached by path + mtime + size, so a
 * second prompt with the same CheckpointLoaderSimple input reuses the
 * loaded MODEL / CLIP / VAE objects even when the executor's output cache
 * dropped them (a changed graph).  At most DP_CACHE_MAX checkpoints are
 * kept (least recently used dropped first); the cache holds one reference
 * per object, values hold theirs.
 *
 * POST /free {"unload_models": true} reaches it through the pack's
 * free_memory (ABI 1.3), which calls dp_cache_clear: the cache drops its
 * references, and a model still referenced elsewhere (an output the
 * executor's cache keeps, a value a running prompt holds) lives on until
 * that holder releases it; /free {"free_memory": true, "unload_models":
 * true} empties the executor's cache first, so then nothing is left.
 * dp_cache_bytes (memory_used, any thread) sums what the cached models
 * keep resident: the mapped weights files (each counted once; weights are
 * borrowed from the mapping) plus the UNet and VAE weights they own and
 * the text encoders' f32 copies (sized from their configs, the layout
 * clip_text_model.h documents).  It is cleared when the pack unloads too
 * (fini).  One mutex.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dpack.h"

#include "clip_stack.h"
#include "modelfile.h"
#include "unet.h"
#include "vae.h"

#define DP_CACHE_MAX 2

typedef struct entry {
    char path[4096];
    struct timespec mtime;
    off_t size;
    uint64_t used;          /* LRU clock */
    dp_model *model;
    dp_clip *clip;
    dp_vae *vae;
} entry;

static entry g_cache[DP_CACHE_MAX];
static uint64_t g_clock;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void entry_drop(entry *e)
{
    dp_model_unref(e->model);
    dp_clip_unref(e->clip);
    dp_vae_unref(e->vae);
    memset(e, 0, sizeof *e);
}

int dp_cache_checkpoint(comfy_call *call, const char *path, const char *name,
                        dp_model **model, dp_clip **clip, dp_vae **vae)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return call->host->fail(call, "FileNotFoundError",
                                "Model in folder 'checkpoints' with filename '%s' not found.",
                                name);
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < DP_CACHE_MAX; i++) {
        entry *e = &g_cache[i];
        if (!e->model || strcmp(e->path, path) != 0)
            continue;
        if (e->size == st.st_size && e->mtime.tv_sec == st.st_mtim.tv_sec &&
            e->mtime.tv_nsec == st.st_mtim.tv_nsec) {
            e->used = ++g_clock;
            *model = dp_model_ref(e->model);
            *clip = dp_clip_ref(e->clip);
            *vae = dp_vae_ref(e->vae);
            pthread_mutex_unlock(&g_lock);
            return COMFY_OK;
        }
        entry_drop(e); /* the file changed */
    }
    pthread_mutex_unlock(&g_lock);

    int rc = dp_load_checkpoint(call, path, name, model, clip, vae);
    if (rc)
        return rc;

    pthread_mutex_lock(&g_lock);
    entry *slot = &g_cache[0];
    for (int i = 0; i < DP_CACHE_MAX; i++) {
        if (!g_cache[i].model) {
            slot = &g_cache[i];
            break;
        }
        if (g_cache[i].used < slot->used)
            slot = &g_cache[i];
    }
    entry_drop(slot);
    if (snprintf(slot->path, sizeof slot->path, "%s", path) < (int)sizeof slot->path) {
        slot->mtime = st.st_mtim;
        slot->size = st.st_size;
        slot->used = ++g_clock;
        slot->model = dp_model_ref(*model);
        slot->clip = dp_clip_ref(*clip);
        slot->vae = dp_vae_ref(*vae);
    }
    pthread_mutex_unlock(&g_lock);
    return COMFY_OK;
}

void dp_cache_clear(void)
{
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < DP_CACHE_MAX; i++)
        entry_drop(&g_cache[i]);
    pthread_mutex_unlock(&g_lock);
    dp_lora_cache_clear();
}

/* Adds file f's mapping to *sum unless seen[0..*n) holds it already. */
static void add_file(const struct cd_model_file *f, const struct cd_model_file **seen,
                     size_t *n, size_t cap, uint64_t *sum)
{
    if (!f)
        return;
    for (size_t i = 0; i < *n; i++)
        if (seen[i] == f)
            return;
    if (*n < cap)
        seen[(*n)++] = f;
    *sum += cd_model_file_size(f);
}

/* Bytes of the f32 weights a text encoder owns (clip_text_model.h: the
 * embeddings, per layer two LayerNorms, the packed qkv, out, fc1 and fc2
 * projections with biases, the final LayerNorm and the projection). */
static uint64_t text_model_bytes(const cd_clip_text_model *m)
{
    if (!m)
        return 0;
    const cd_clip_text_config *c = &m->cfg;
    uint64_t w = (uint64_t)c->width, mlp = (uint64_t)c->mlp;
    uint64_t layer = 4 * w + 3 * w * w + 3 * w + w * w + w + mlp * w + mlp + w * mlp + w;
    uint64_t n = (uint64_t)c->vocab * w + (uint64_t)c->positions * w +
                 (uint64_t)c->layers * layer + 2 * w + (c->has_projection ? w * w : 0);
    return n * sizeof(float);
}

uint64_t dp_cache_bytes(void)
{
    const struct cd_model_file *seen[2 * DP_CACHE_MAX];
    size_t n_seen = 0;
    uint64_t sum = 0;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < DP_CACHE_MAX; i++) {
        const entry *e = &g_cache[i];
        if (e->model) {
            add_file(e->model->file, seen, &n_seen, 2 * DP_CACHE_MAX, &sum);
            if (e->model->unet) {
                cd_unet_info ui;
                cd_unet_get_info(e->model->unet, &ui);
                sum += ui.weight_bytes;
            }
        }
        if (e->clip && e->clip->stack && e->clip->stack->owns)
            sum += text_model_bytes(e->clip->stack->l) + text_model_bytes(e->clip->stack->g);
        if (e->vae) {
            add_file(e->vae->file, seen, &n_seen, 2 * DP_CACHE_MAX, &sum);
            if (e->vae->vae) {
                cd_vae_info vi;
                cd_vae_get_info(e->vae->vae, &vi);
                sum += vi.weight_bytes;
            }
        }
    }
    pthread_mutex_unlock(&g_lock);
    return sum + dp_lora_cache_bytes();
}
