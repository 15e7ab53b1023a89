/*
 * harness.c — see harness.h.  Values and tensors are the runtime's own
 * (runtime/value.c via cd_value_fill_host); folders follow ComfyUI's
 * rules closely enough for the nodes' tests (annotated names, the save
 * counter of spec api.md §8.7 without %date% expansion).
 */
#include "harness.h"

#include <dirent.h>
#include <dlfcn.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "value.h"

#define MAX_CLASSES 128
#define MAX_INPUTS 32
#define MAX_OUTPUTS 8

struct comfy_host_ctx {
    harness *h;
};

struct harness {
    comfy_host host;
    struct comfy_host_ctx ctx;
    void *so;
    const comfy_pack_info *info;
    const comfy_node_def *defs[MAX_CLASSES];
    size_t n_defs;
    char base[256], input[300], output[300], temp[300];
    int interrupt;
    int disable_metadata;
};

struct hn_call {
    comfy_call pub;
    harness *h;
    const char *names[MAX_INPUTS];
    comfy_value *vals[MAX_INPUTS];
    size_t n_in;
    comfy_value *outs[MAX_OUTPUTS];
    comfy_value *ui;
    char err_type[64];
    char err[1024];
};

static int h_register(comfy_registrar *reg, const comfy_node_def *def)
{
    harness *h = (harness *)reg;
    if (h->n_defs == MAX_CLASSES || !def || !def->name || !def->execute)
        return COMFY_EINVAL;
    for (size_t i = 0; i < h->n_defs; i++)
        if (strcmp(h->defs[i]->name, def->name) == 0)
            return COMFY_EEXIST;
    h->defs[h->n_defs++] = def;
    return COMFY_OK;
}

static void h_log(comfy_host_ctx *ctx, int level, const char *fmt, ...)
{
    (void)ctx;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[pack log %d] ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const comfy_value *h_input(comfy_call *call, const char *name)
{
    hn_call *c = (hn_call *)call;
    for (size_t i = 0; i < c->n_in; i++)
        if (strcmp(c->names[i], name) == 0)
            return c->vals[i];
    return NULL;
}

static int h_set_output(comfy_call *call, uint32_t index, comfy_value *v)
{
    hn_call *c = (hn_call *)call;
    if (index >= MAX_OUTPUTS || index >= call->def->n_outputs || !v) {
        cd_value_release(v);
        return COMFY_EINVAL;
    }
    cd_value_release(c->outs[index]);
    c->outs[index] = v;
    return COMFY_OK;
}

static int h_set_ui(comfy_call *call, comfy_value *ui)
{
    hn_call *c = (hn_call *)call;
    cd_value_release(c->ui);
    c->ui = ui;
    return COMFY_OK;
}

static int h_fail(comfy_call *call, const char *type, const char *fmt, ...)
{
    hn_call *c = (hn_call *)call;
    va_list ap;
    snprintf(c->err_type, sizeof(c->err_type), "%s", type ? type : "");
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    return COMFY_ERR;
}

static int h_interrupted(comfy_call *call)
{
    harness *h = ((hn_call *)call)->h;
    if (h->interrupt) {
        h->interrupt = 0;
        return COMFY_EINTERRUPTED;
    }
    return COMFY_OK;
}

void hn_interrupt(harness *h, int on)
{
    h->interrupt = on;
}

#if COMFY_ABI_MINOR >= 1
static const char *h_setting(comfy_host_ctx *ctx, const char *name)
{
    if (strcmp(name, "disable-metadata") == 0)
        return ctx->h->disable_metadata ? "1" : "0";
    return NULL;
}
#endif

int hn_disable_metadata(harness *h, int on)
{
    h->disable_metadata = on;
#if COMFY_ABI_MINOR >= 1
    return 1;
#else
    return 0;
#endif
}

static int h_progress(comfy_call *call, double v, double max,
                      const comfy_tensor *preview)
{
    (void)call;
    (void)v;
    (void)max;
    (void)preview;
    return COMFY_OK;
}

static const char *h_directory(comfy_host_ctx *ctx, const char *which)
{
    harness *h = ctx->h;
    if (strcmp(which, "input") == 0)
        return h->input;
    if (strcmp(which, "output") == 0)
        return h->output;
    if (strcmp(which, "temp") == 0)
        return h->temp;
    return NULL;
}

/* Refuses names that are absolute or contain a ".." component. */
static int safe_rel(const char *rel)
{
    if (!rel[0] || rel[0] == '/')
        return 0;
    for (const char *p = rel; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        p += n + (e ? 1 : 0);
    }
    return 1;
}

static int h_annotated(comfy_host_ctx *ctx, const char *name, char *out,
                       size_t cap)
{
    harness *h = ctx->h;
    char buf[1024];
    const char *dir = h->input;
    size_t n = strlen(name);
    snprintf(buf, sizeof(buf), "%s", name);
    static const char *const tags[3] = { " [output]", " [input]", " [temp]" };
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(tags[i]);
        if (n > k && strcmp(name + n - k, tags[i]) == 0) {
            buf[n - k] = '\0';
            dir = i == 0 ? h->output : i == 1 ? h->input : h->temp;
        }
    }
    if (!safe_rel(buf))
        return COMFY_EACCES;
    if (snprintf(out, cap, "%s/%s", dir, buf) >= (int)cap)
        return COMFY_EINVAL;
    struct stat st;
    return stat(out, &st) == 0 ? COMFY_OK : COMFY_ENOENT;
}

static int h_save_path(comfy_host_ctx *ctx, const char *which,
                       const char *prefix, int64_t width, int64_t height,
                       comfy_save_path *out)
{
    (void)width;
    (void)height;
    const char *dir = h_directory(ctx, which);
    if (!dir || !prefix[0])
        return COMFY_EINVAL;
    const char *slash = strrchr(prefix, '/');
    const char *name = slash ? slash + 1 : prefix;
    size_t sub_len = slash ? (size_t)(slash - prefix) : 0;
    snprintf(out->subfolder, sizeof(out->subfolder), "%.*s", (int)sub_len,
             prefix);
    snprintf(out->filename, sizeof(out->filename), "%s", name);
    if (sub_len && !safe_rel(out->subfolder))
        return COMFY_EACCES;
    snprintf(out->full_folder, sizeof(out->full_folder), "%s%s%s", dir,
             sub_len ? "/" : "", out->subfolder);
    mkdir(out->full_folder, 0755);
    int64_t best = 0;
    size_t k = strlen(name);
    DIR *d = opendir(out->full_folder);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, name, k) != 0 || e->d_name[k] != '_')
            continue;
        int64_t v = strtoll(e->d_name + k + 1, NULL, 10);
        if (v > best)
            best = v;
    }
    if (d)
        closedir(d);
    out->counter = best + 1;
    return COMFY_OK;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

harness *hn_new(const char *so_path)
{
    harness *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    snprintf(h->base, sizeof(h->base), "/tmp/core_test_XXXXXX");
    if (!mkdtemp(h->base)) {
        free(h);
        return NULL;
    }
    snprintf(h->input, sizeof(h->input), "%s/input", h->base);
    snprintf(h->output, sizeof(h->output), "%s/output", h->base);
    snprintf(h->temp, sizeof(h->temp), "%s/temp", h->base);
    mkdir(h->input, 0755);
    mkdir(h->output, 0755);
    mkdir(h->temp, 0755);

    comfy_host *t = &h->host;
    t->size = sizeof(*t);
    t->abi_major = COMFY_ABI_MAJOR;
    t->abi_minor = COMFY_ABI_MINOR;
    h->ctx.h = h;
    t->ctx = &h->ctx;
    cd_value_fill_host(t);
    t->register_node = h_register;
    t->log = h_log;
    t->input = h_input;
    t->set_output = h_set_output;
    t->set_ui = h_set_ui;
    t->fail = h_fail;
    t->interrupted = h_interrupted;
    t->progress = h_progress;
    t->directory = h_directory;
    t->annotated_path = h_annotated;
    t->save_path = h_save_path;
#if COMFY_ABI_MINOR >= 1
    t->setting = h_setting;
#endif

    h->so = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
    if (!h->so) {
        fprintf(stderr, "dlopen %s: %s\n", so_path, dlerror());
        goto fail;
    }
    comfy_pack_entry_fn entry =
        (comfy_pack_entry_fn)(uintptr_t)dlsym(h->so, COMFY_PACK_ENTRY_SYMBOL);
    if (!entry) {
        fprintf(stderr, "%s has no entry symbol\n", so_path);
        goto fail;
    }
    h->info = entry();
    if (!h->info || h->info->abi_major != COMFY_ABI_MAJOR ||
        h->info->init(t, (comfy_registrar *)h) != COMFY_OK) {
        fprintf(stderr, "pack init failed\n");
        goto fail;
    }
    return h;
fail:
    hn_free(h);
    return NULL;
}

void hn_free(harness *h)
{
    if (!h)
        return;
    if (h->so)
        dlclose(h->so);
    nftw(h->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(h);
}

const comfy_host *hn_host(harness *h) { return &h->host; }
size_t hn_count(harness *h) { return h->n_defs; }
const comfy_node_def *hn_def_at(harness *h, size_t i) { return h->defs[i]; }

const char *hn_dir(harness *h, const char *which)
{
    return h_directory(&h->ctx, which);
}

const comfy_node_def *hn_find(harness *h, const char *name)
{
    for (size_t i = 0; i < h->n_defs; i++)
        if (strcmp(h->defs[i]->name, name) == 0)
            return h->defs[i];
    return NULL;
}

hn_call *hn_begin(harness *h, const char *name)
{
    const comfy_node_def *d = hn_find(h, name);
    if (!d)
        return NULL;
    hn_call *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->pub.size = sizeof(c->pub);
    c->pub.host = &h->host;
    c->pub.def = d;
    c->pub.user = d->user;
    c->pub.node_id = "1";
    c->pub.prompt_id = "test";
    c->h = h;
    return c;
}

void hn_set(hn_call *c, const char *name, comfy_value *v)
{
    for (size_t i = 0; i < c->n_in; i++) {
        if (strcmp(c->names[i], name) == 0) {
            cd_value_release(c->vals[i]);
            c->vals[i] = v;
            return;
        }
    }
    if (c->n_in == MAX_INPUTS) {
        cd_value_release(v);
        return;
    }
    c->names[c->n_in] = name;
    c->vals[c->n_in++] = v;
}

static void reset(hn_call *c)
{
    for (int i = 0; i < MAX_OUTPUTS; i++) {
        cd_value_release(c->outs[i]);
        c->outs[i] = NULL;
    }
    cd_value_release(c->ui);
    c->ui = NULL;
    c->err[0] = c->err_type[0] = '\0';
}

int hn_run(hn_call *c)
{
    reset(c);
    return c->pub.def->execute(&c->pub);
}

int hn_is_changed(hn_call *c, comfy_value **out)
{
    reset(c);
    *out = NULL;
    return c->pub.def->is_changed ? c->pub.def->is_changed(&c->pub, out)
                                  : COMFY_EINVAL;
}

int hn_validate(hn_call *c)
{
    reset(c);
    return c->pub.def->validate_inputs ? c->pub.def->validate_inputs(&c->pub)
                                       : COMFY_OK;
}

const comfy_value *hn_output(hn_call *c, unsigned i)
{
    return i < MAX_OUTPUTS ? c->outs[i] : NULL;
}

comfy_tensor *hn_output_tensor(hn_call *c, unsigned i)
{
    return c->h->host.value_get_tensor(hn_output(c, i));
}

const comfy_value *hn_ui(hn_call *c) { return c->ui; }
const char *hn_error(hn_call *c) { return c->err; }
const char *hn_error_type(hn_call *c) { return c->err_type; }

void hn_end(hn_call *c)
{
    if (!c)
        return;
    reset(c);
    for (size_t i = 0; i < c->n_in; i++)
        cd_value_release(c->vals[i]);
    free(c);
}
