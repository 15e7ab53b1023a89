/*
 * host.c — builds the comfy_host table (see host.h): registration,
 * logging, folders and files here; values and tensors from value.c; the
 * node-invocation members from call.c.
 */
#include "host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "executor.h"
#include "registry.h"
#include "value.h"

struct comfy_host_ctx {
    cd_logger *log;          /* borrowed */
    const cd_paths *paths;   /* borrowed, may be NULL */
    /* host->setting: flag names and their values as text (owned; a NULL
     * value is an unset flag).  Built by cd_host_set_config before the
     * table is shared, read-only afterwards. */
    char **set_names, **set_values;
    size_t n_settings;
};

struct cd_host {
    comfy_host table;
    struct comfy_host_ctx ctx;
};

static void h_log(comfy_host_ctx *ctx, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cd_vlog(ctx ? ctx->log : NULL, level, fmt, ap);
    va_end(ap);
}

static comfy_tensor *h_tensor_new(comfy_host_ctx *ctx, int dtype, int ndim,
                                  const int64_t *shape)
{
    comfy_tensor *t = cd_tensor_new(dtype, ndim, shape);
    if (!t) {
        char dims[256];
        size_t o = 0;
        dims[0] = '\0';
        for (int i = 0; shape && i < ndim && i < COMFY_MAX_DIMS && o < sizeof dims; i++)
            o += (size_t)snprintf(dims + o, sizeof dims - o, "%s%lld", i ? ", " : "",
                                  (long long)shape[i]);
        cd_log(ctx ? ctx->log : NULL, COMFY_LOG_ERROR,
               "tensor_new(%s, [%s]) failed: %s", cd_dtype_name(dtype), dims,
               cd_dtype_size(dtype) == 0 || ndim < 0 || ndim > COMFY_MAX_DIMS
                   ? "invalid dtype or rank"
                   : "invalid shape, too large, or out of memory");
    }
    return t;
}

static int h_register(comfy_registrar *reg, const comfy_node_def *def)
{
    return cd_registrar_register(reg, def);
}

static const char *h_directory(comfy_host_ctx *ctx, const char *which)
{
    if (!ctx || !ctx->paths || !which)
        return NULL;
    if (strcmp(which, "user") == 0)
        return cd_paths_user(ctx->paths);
    return cd_paths_by_type(ctx->paths, which);
}

static int h_folder_list(comfy_host_ctx *ctx, const char *folder, comfy_value *out)
{
    if (!ctx || !ctx->paths || !folder)
        return COMFY_ENOENT;
    if (cd_value_kind(out) != COMFY_KIND_LIST)
        return COMFY_EINVAL;
    cd_strlist l = {0};
    int rc = cd_paths_list(ctx->paths, folder, 1, &l);
    for (size_t i = 0; rc == COMFY_OK && i < l.n; i++)
        rc = cd_list_append(out, cd_value_string(l.v[i], (size_t)-1));
    cd_strlist_free(&l);
    return rc;
}

static int h_folder_resolve(comfy_host_ctx *ctx, const char *folder,
                            const char *name, char *out, size_t cap)
{
    if (!ctx || !ctx->paths || !folder)
        return COMFY_ENOENT;
    if (!name || !out || !cap)
        return COMFY_EINVAL;
    return cd_paths_resolve(ctx->paths, folder, name, out, cap);
}

static int h_annotated(comfy_host_ctx *ctx, const char *name, char *out, size_t cap)
{
    if (!ctx || !ctx->paths)
        return COMFY_ENOENT;
    if (!name || !out || !cap)
        return COMFY_EINVAL;
    return cd_paths_annotated(ctx->paths, name, "input", out, cap);
}

static int h_save_path(comfy_host_ctx *ctx, const char *which, const char *prefix,
                       int64_t width, int64_t height, comfy_save_path *out)
{
    if (!ctx || !ctx->paths)
        return COMFY_ENOENT;
    return cd_paths_save_path(ctx->paths, which, prefix, width, height, out);
}

static const char *h_setting(comfy_host_ctx *ctx, const char *name)
{
    if (!ctx || !name)
        return NULL;
    char key[64];
    size_t k = 0;
    for (; name[k] && k < sizeof key - 1; k++)
        key[k] = name[k] == '_' ? '-' : name[k];
    key[k] = '\0';
    for (size_t i = 0; i < ctx->n_settings; i++)
        if (strcmp(ctx->set_names[i], key) == 0)
            return ctx->set_values[i];
    return NULL;
}

static void free_settings(struct comfy_host_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_settings; i++)
        free(ctx->set_values[i]);
    free(ctx->set_names);
    free(ctx->set_values);
    ctx->set_names = ctx->set_values = NULL;
    ctx->n_settings = 0;
}

int cd_host_set_config(cd_host *h, const cd_config *cfg)
{
    struct comfy_host_ctx *ctx = &h->ctx;
    free_settings(ctx);
    size_t n = cd_config_option_count();
    ctx->set_names = calloc(n ? n : 1, sizeof *ctx->set_names);
    ctx->set_values = calloc(n ? n : 1, sizeof *ctx->set_values);
    if (!ctx->set_names || !ctx->set_values)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        cd_buf b;
        cd_buf_init(&b, 1 << 16);
        /* names are static strings of config.c */
        ctx->set_names[i] = (char *)cd_config_option_name(i);
        int rc = cd_config_option_text(cfg, i, &b);
        if (rc < 0) {
            cd_buf_free(&b);
            ctx->n_settings = i;
            goto fail;
        }
        ctx->set_values[i] = rc == 0 ? cd_buf_steal(&b, NULL) : NULL;
        cd_buf_free(&b);
        if (rc == 0 && !ctx->set_values[i]) {
            ctx->n_settings = i;
            goto fail;
        }
    }
    ctx->n_settings = n;
    return 0;
fail:
    free_settings(ctx);
    return -1;
}

cd_host *cd_host_new(cd_logger *log, const cd_paths *paths)
{
    cd_host *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->ctx.log = log;
    h->ctx.paths = paths;
    comfy_host *t = &h->table;
    t->size = sizeof *t;
    t->abi_major = COMFY_ABI_MAJOR;
    t->abi_minor = COMFY_ABI_MINOR;
    t->ctx = &h->ctx;
    t->register_node = h_register;
    t->log = h_log;
    cd_value_fill_host(t);
    t->tensor_new = h_tensor_new;
    cd_call_fill_host(t);
    t->directory = h_directory;
    t->folder_list = h_folder_list;
    t->folder_resolve = h_folder_resolve;
    t->annotated_path = h_annotated;
    t->save_path = h_save_path;
    t->setting = h_setting;
    return h;
}

void cd_host_free(cd_host *h)
{
    if (!h)
        return;
    free_settings(&h->ctx);
    free(h);
}

const comfy_host *cd_host_table(const cd_host *h)
{
    return h ? &h->table : NULL;
}

cd_logger *cd_host_ctx_logger(const comfy_host_ctx *ctx)
{
    return ctx ? ctx->log : NULL;
}
