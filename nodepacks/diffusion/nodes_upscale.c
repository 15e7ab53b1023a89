/*
 * nodes_upscale.c — comfy_extras.nodes_upscale_model (spec §2.6
 * UpscaleModelLoader, §2.7 ImageUpscaleWithModel) over nets/esrgan.h:
 *
 *   UpscaleModelLoader     COMBO of models/upscale_models; the state dict
 *                          (.safetensors or torch zip .pth/.pt) loaded as
 *                          an ESRGAN / RRDBNet or a Real-ESRGAN Compact
 *                          (SRVGGNetCompact) (spandrel's key layouts,
 *                          common "module." / "netG." prefix dropped);
 *                          any other architecture, a missing or a corrupt
 *                          file fails the node with a message naming it.
 *                          Output: an UPSCALE_MODEL OBJECT (dp_upscale).
 *   ImageUpscaleWithModel  tiled_scale with tile 512, overlap 32, the
 *                          model's scale; the tile is halved (down to 128)
 *                          while its scratch does not fit in free memory,
 *                          as ComfyUI retries on OOM; output clamped to
 *                          0..1.  Progress: one step per tile
 *                          (B × get_tiled_scale_steps); interrupt checked
 *                          between RRDB blocks and tiles.
 *
 * The UPSCALE_MODEL object owns its weights (f32 copies; the file is closed
 * after loading).  Only those two families: SwinIR, HAT, DAT, SPAN, ... are
 * refused with a message.
 *
 * Threads: executor thread only.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpack.h"

#include "esrgan.h"
#include "modelfile.h"

#define UP_TILE 512
#define UP_OVERLAP 32
#define UP_MIN_TILE 128

typedef struct dp_upscale {
    atomic_int refs;
    cd_esrgan *net;  /* owned */
    char name[256];  /* file name, for messages */
} dp_upscale;

/* The OBJECT's iface: a tag telling our UPSCALE_MODEL from another pack's. */
static const struct { uint32_t size; } upscale_tag = {sizeof upscale_tag};

static void upscale_unref(dp_upscale *u)
{
    if (u && atomic_fetch_sub(&u->refs, 1) == 1) {
        cd_esrgan_free(u->net);
        free(u);
    }
}

static void upscale_destroy(void *self) { upscale_unref(self); }

/* ------------------------------------------------------------ loader */

static int list_upscale_models(const comfy_host *h, void *user, comfy_value *out)
{
    (void)user;
    return h->folder_list(h->ctx, "upscale_models", out);
}

static int loader_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const char *name;
    int rc = dp_in_string(call, "model_name", &name);
    if (rc)
        return rc;
    char path[4096], err[512] = "";
    if (h->folder_resolve(h->ctx, "upscale_models", name, path, sizeof path) != COMFY_OK)
        return h->fail(call, "FileNotFoundError",
                       "Model in folder 'upscale_models' with filename '%s' not found.", name);
    cd_model_file *f = NULL;
    if (cd_model_file_open(path, &f, err, sizeof err) < 0)
        return h->fail(call, "RuntimeError",
                       "Error while loading the upscale model %s: %s\n\nFile path: %s\n\nThe "
                       "file is corrupt or invalid. Make sure this is actually a safetensors "
                       "file or a torch .pth / .pt file.",
                       name, err, path);
    cd_esrgan *net = NULL;
    rc = cd_esrgan_load(cd_model_file_index(f), &net, err, sizeof err);
    cd_model_file_unref(f);
    if (rc < 0) {
        char what[512];
        snprintf(what, sizeof what, "Error while loading the upscale model %s", name);
        return dp_fail_status(call, rc, what, err);
    }
    dp_upscale *u = calloc(1, sizeof *u);
    if (!u) {
        cd_esrgan_free(net);
        return h->fail(call, "RuntimeError", "out of memory loading %s", name);
    }
    atomic_init(&u->refs, 1);
    u->net = net;
    snprintf(u->name, sizeof u->name, "%s", name);
    h->log(h->ctx, COMFY_LOG_DEBUG, "upscale model %s: %s", name, cd_esrgan_describe(net));
    comfy_value *v = h->value_object(h->ctx, "UPSCALE_MODEL", &upscale_tag, u, upscale_destroy);
    if (!v) {
        upscale_unref(u);
        return h->fail(call, "RuntimeError", "out of memory loading %s", name);
    }
    return h->set_output(call, 0, v);
}

/* ----------------------------------------------------------- upscale */

typedef struct uprog {
    comfy_call *call;
} uprog;

static void on_tile(void *user, int64_t done, int64_t total)
{
    uprog *p = user;
    p->call->host->progress(p->call, (double)done, (double)total, NULL);
}

static int upscale_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    const comfy_value *mv = h->input(call, "upscale_model");
    const void *fi = NULL;
    void *self = NULL;
    if (!mv || h->value_get_object(mv, "UPSCALE_MODEL", &fi, &self) != COMFY_OK ||
        fi != (const void *)&upscale_tag || !self)
        return h->fail(call, "RuntimeError", "upscale_model is not an UPSCALE_MODEL");
    dp_upscale *u = self;
    comfy_tensor *t = h->value_get_tensor(h->input(call, "image"));
    if (!t || t->ndim != 4)
        return h->fail(call, "ValueError", "image is not an IMAGE [batch, height, width, 3]");
    const int64_t B = t->shape[0], H = t->shape[1], W = t->shape[2], C = t->shape[3];
    if (C != 3)
        return h->fail(call, "RuntimeError",
                       "the upscale model %s takes RGB images (3 channels), this image has %lld",
                       u->name, (long long)C);
    if (B < 1 || H < 1 || W < 1)
        return h->fail(call, "ValueError", "the image is empty (%lldx%lldx%lld)", (long long)B,
                       (long long)H, (long long)W);
    const int64_t s = cd_esrgan_scale(u->net);
    /* ComfyUI halves the tile on out-of-memory down to 128: here the
     * tile shrinks while its scratch exceeds the free memory. */
    int64_t tile = UP_TILE;
    uint64_t need = cd_esrgan_upscale_scratch_bytes(u->net, H, W, tile);
    const uint64_t avail = dp_mem_available();
    while (avail && need > avail && tile / 2 >= UP_MIN_TILE) {
        tile /= 2;
        need = cd_esrgan_upscale_scratch_bytes(u->net, H, W, tile);
    }
    if (need == 0)
        return h->fail(call, "ValueError", "the image (%lldx%lld) is too large to upscale",
                       (long long)W, (long long)H);
    if (dp_check_memory(call, "the upscale", need) != COMFY_OK)
        return COMFY_ENOMEM;
    int64_t shape[4] = {B, H * s, W * s, 3};
    comfy_tensor *o = dp_new_tensor(call, 4, shape);
    if (!o)
        return COMFY_ERR;
    float *img = dp_tensor_f32(h, t);
    if (!img) {
        h->tensor_release(o);
        return h->fail(call, "RuntimeError", "out of memory reading the image");
    }
    char err[512] = "";
    cd_nets_run run = {dp_pool(h), NULL, dp_interrupted, call, err, sizeof err};
    uprog pg = {call};
    int rc = cd_esrgan_upscale(u->net, &run, img, B, H, W, tile, UP_OVERLAP, o->data, on_tile,
                               &pg);
    free(img);
    if (rc < 0) {
        h->tensor_release(o);
        char what[512];
        snprintf(what, sizeof what, "Upscaling with %s failed", u->name);
        return dp_fail_status(call, rc, what, err);
    }
    float *d = o->data;
    for (int64_t i = 0; i < B * H * s * W * s * 3; i++) /* torch.clamp(s, 0, 1) */
        d[i] = d[i] < 0.0f ? 0.0f : d[i] > 1.0f ? 1.0f : d[i];
    comfy_value *v = h->value_tensor(h->ctx, o);
    if (!v)
        return h->fail(call, "RuntimeError", "out of memory");
    return h->set_output(call, 0, v);
}

/* ------------------------------------------------------ declarations */

/* A V3 combo prints {"multiselect": false, "options": [...]}: the host
 * puts the choices where the "options" placeholder stands. */
static const comfy_input_def loader_inputs[] = {
    {sizeof(comfy_input_def), "model_name", "COMBO", COMFY_REQUIRED,
     "{\"multiselect\": false, \"options\": null}", NULL, list_upscale_models, NULL, 1},
};
static const comfy_output_def loader_out[] = {
    {sizeof(comfy_output_def), "UPSCALE_MODEL", NULL, NULL, 0},
};
static const comfy_input_def upscale_inputs[] = {
    {sizeof(comfy_input_def), "upscale_model", "UPSCALE_MODEL", COMFY_REQUIRED, NULL, NULL, NULL,
     NULL, 0},
    {sizeof(comfy_input_def), "image", "IMAGE", COMFY_REQUIRED, NULL, NULL, NULL, NULL, 0},
};
static const comfy_output_def image_out[] = {
    {sizeof(comfy_output_def), "IMAGE", NULL, NULL, 0},
};

static const comfy_node_def upscale_nodes[] = {
    {.size = sizeof(comfy_node_def), .name = "UpscaleModelLoader",
     .display_name = "Load Upscale Model", .category = "loaders",
     .module = "comfy_extras.nodes_upscale_model", .inputs = loader_inputs, .n_inputs = 1,
     .outputs = loader_out, .n_outputs = 1, .flags = COMFY_NODE_V3_SCHEMA,
     .execute = loader_execute},
    {.size = sizeof(comfy_node_def), .name = "ImageUpscaleWithModel",
     .display_name = "Upscale Image (using Model)", .category = "image/upscaling",
     .module = "comfy_extras.nodes_upscale_model", .inputs = upscale_inputs, .n_inputs = 2,
     .outputs = image_out, .n_outputs = 1, .flags = COMFY_NODE_V3_SCHEMA,
     .execute = upscale_execute},
};

int dp_register_upscale(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < sizeof upscale_nodes / sizeof upscale_nodes[0]; i++) {
        int rc = h->register_node(reg, &upscale_nodes[i]);
        if (rc)
            return rc;
    }
    return COMFY_OK;
}
