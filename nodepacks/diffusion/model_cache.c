/*
 * model_cache.c — loaded checkpoints, cached by path + mtime + size, so a
 * second prompt with the same CheckpointLoaderSimple input reuses the
 * loaded MODEL / CLIP / VAE objects even when the executor's output cache
 * dropped them (a changed graph).  At most DP_CACHE_MAX checkpoints are
 * kept (least recently used dropped first); the cache holds one reference
 * per object, values hold theirs.
 *
 * The host offers no unload hook to packs (comfy.h has none), so POST
 * /free {"unload_models": true} does not reach this cache; it is cleared
 * when the pack unloads (fini).  Executor thread only (one mutex anyway).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dpack.h"

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
}
