/*
 * registry.c — loading node packs and describing their classes (see
 * registry.h).
 *
 * Each pack is dlopen-ed with RTLD_NOW | RTLD_LOCAL, its entry symbol is
 * called, the ABI is checked and init registers classes through the
 * registrar.  Definitions are copied into host-sized structs (so a pack
 * built against an older minor version, with smaller structs, reads as if
 * the newer fields were zero); the strings they point to stay the pack's.
 * A pack that fails in any way is skipped as a whole: the classes it had
 * registered (staged past the published count, invisible to readers) are
 * dropped again and the .so is closed.
 *
 * Concurrency (registry.h): `load_lock` serialises loaders; `n_classes`
 * and `n_packs` are the published counts (release stores by the loader,
 * acquire loads by readers); `n_staged` is the loader's own count, the
 * published classes plus those of the pack whose init is running.  Slots
 * of the name index are atomics holding a class index + 1, 0 (empty) or
 * TOMB (a class that was staged and dropped: probing goes on past it).
 */
#include "registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "pyjson.h"
#include "value.h"

#define OPTIONS_MAX_DEPTH 32
#define SLOT_EMPTY ((size_t)0)
#define SLOT_TOMB ((size_t)-1)

struct cd_pack {
    char *name;              /* owned copy of info->name              */
    char *path;              /* owned: the .so path                   */
    char *web_dir;           /* owned: absolute web directory, or NULL */
    void *dl;                /* dlopen handle                          */
    comfy_pack_info info;    /* host-sized copy                        */
    size_t n_classes;
    double load_ms;
    /* The file as it was loaded, to tell a replaced or removed file. */
    dev_t dev;
    ino_t ino;
    off_t fsize;
    struct timespec mtime;
};

typedef struct class_block {
    cd_class cls;
    comfy_node_def def;          /* host-sized copy of the pack's def */
    comfy_input_def *inputs;     /* host-sized copies                 */
    comfy_output_def *outputs;
} class_block;

struct cd_registry {
    const comfy_host *host;
    pthread_mutex_t load_lock;   /* one loader at a time                   */
    cd_pack **packs;             /* CD_REGISTRY_MAX_PACKS slots            */
    atomic_size_t n_packs;       /* published                              */
    class_block **classes;       /* max_classes slots, registration order  */
    size_t max_classes;
    atomic_size_t n_classes;     /* published                              */
    size_t n_staged;             /* loader only: published + staged        */
    atomic_size_t *index;        /* index_cap slots (see above)            */
    size_t index_cap;            /* power of two, >= 2 * max_classes       */
};

struct comfy_registrar {
    cd_registry *r;
    cd_pack *pack;
    int failed;                  /* a register_node call failed */
    char reason[256];
};

#define LOG(r, lvl, ...)                                                    \
    do {                                                                    \
        if ((r)->host && (r)->host->log)                                    \
            (r)->host->log((r)->host->ctx, (lvl), __VA_ARGS__);             \
        else                                                                \
            fprintf(stderr, __VA_ARGS__), fputc('\n', stderr);              \
    } while (0)

/* ---- classes ---------------------------------------------------------------- */

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The class named `name` among the first `limit` classes, or NULL.  Safe
 * against a concurrent loader for any `limit` up to a published count
 * loaded with acquire order (and for n_staged on the loading thread). */
static class_block *lookup(const cd_registry *r, const char *name, size_t limit)
{
    size_t mask = r->index_cap - 1;
    size_t h = hash_str(name) & mask;
    for (size_t probes = 0; probes < r->index_cap; probes++) {
        size_t v = atomic_load_explicit(&r->index[h], memory_order_relaxed);
        if (v == SLOT_EMPTY)
            return NULL;
        if (v != SLOT_TOMB && v - 1 < limit &&
            strcmp(r->classes[v - 1]->def.name, name) == 0)
            return r->classes[v - 1];
        h = (h + 1) & mask;
    }
    return NULL;
}

/* Enters class `i` (written already) in the index.  Loader only.  Always
 * finds a slot: live entries are at most max_classes, half the slots, and
 * a tombstone is reused. */
static void index_insert(cd_registry *r, size_t i)
{
    size_t mask = r->index_cap - 1;
    size_t h = hash_str(r->classes[i]->def.name) & mask;
    for (;;) {
        size_t v = atomic_load_explicit(&r->index[h], memory_order_relaxed);
        if (v == SLOT_EMPTY || v == SLOT_TOMB)
            break;
        h = (h + 1) & mask;
    }
    atomic_store_explicit(&r->index[h], i + 1, memory_order_release);
}

/* Turns the index slot of class `i` into a tombstone.  Loader only. */
static void index_remove(cd_registry *r, size_t i)
{
    size_t mask = r->index_cap - 1;
    size_t h = hash_str(r->classes[i]->def.name) & mask;
    for (size_t probes = 0; probes < r->index_cap; probes++) {
        size_t v = atomic_load_explicit(&r->index[h], memory_order_relaxed);
        if (v == SLOT_EMPTY)
            return;
        if (v == i + 1) {
            atomic_store_explicit(&r->index[h], SLOT_TOMB, memory_order_relaxed);
            return;
        }
        h = (h + 1) & mask;
    }
}

const cd_class *cd_registry_find(const cd_registry *r, const char *name)
{
    if (!r || !name)
        return NULL;
    size_t n = atomic_load_explicit(&((cd_registry *)r)->n_classes,
                                    memory_order_acquire);
    class_block *b = lookup(r, name, n);
    return b ? &b->cls : NULL;
}

size_t cd_registry_count(const cd_registry *r)
{
    return r ? atomic_load_explicit(&((cd_registry *)r)->n_classes,
                                    memory_order_acquire)
             : 0;
}

const cd_class *cd_registry_at(const cd_registry *r, size_t i)
{
    return r && i < cd_registry_count(r) ? &r->classes[i]->cls : NULL;
}

const cd_input *cd_class_input(const cd_class *c, const char *name)
{
    if (!c || !name)
        return NULL;
    for (size_t i = 0; i < c->n_inputs; i++)
        if (strcmp(c->inputs[i].def->name, name) == 0)
            return &c->inputs[i];
    return NULL;
}

static void class_free(class_block *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->cls.n_inputs; i++)
        json_object_put(b->cls.inputs[i].options);
    free(b->cls.inputs);
    free(b->inputs);
    free(b->outputs);
    free(b);
}

/* Copies min(size, sizeof) bytes of a size-prefixed struct and zero-fills
 * the rest; `size` of the copy becomes the host's. */
static void copy_sized(void *dst, size_t dst_size, const void *src, uint32_t src_size)
{
    memset(dst, 0, dst_size);
    memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
    *(uint32_t *)dst = (uint32_t)dst_size;
}

static int json_true(struct json_object *o, const char *key)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, key, &v) &&
           json_object_get_type(v) == json_type_boolean &&
           json_object_get_boolean(v);
}

/* Checks and copies one def.  Returns the class, or NULL with a reason. */
static class_block *class_make(cd_registry *r, const cd_pack *pack,
                               const comfy_node_def *src, char *why, size_t cap)
{
    (void)r;
    class_block *b = NULL;
    if (!src) {
        snprintf(why, cap, "NULL node definition");
        return NULL;
    }
    /* A pack of a newer minor version was refused already, so a struct
     * larger than ours is malformed too. */
    if (src->size < offsetof(comfy_node_def, check_lazy) ||
        src->size > sizeof(comfy_node_def)) {
        snprintf(why, cap, "node definition size %u is invalid", src->size);
        return NULL;
    }
    b = calloc(1, sizeof *b);
    if (!b)
        goto nomem;
    copy_sized(&b->def, sizeof b->def, src, src->size);
    const comfy_node_def *d = &b->def;
    if (!d->name || !d->name[0]) {
        snprintf(why, cap, "node definition without a name");
        goto fail;
    }
    if (!d->execute) {
        snprintf(why, cap, "node %s has no execute function", d->name);
        goto fail;
    }
    if ((d->n_inputs && !d->inputs) || (d->n_outputs && !d->outputs) ||
        d->n_inputs > 4096 || d->n_outputs > 4096) {
        snprintf(why, cap, "node %s: inputs/outputs missing or too many", d->name);
        goto fail;
    }
    if (d->n_inputs) {
        b->inputs = calloc(d->n_inputs, sizeof *b->inputs);
        b->cls.inputs = calloc(d->n_inputs, sizeof *b->cls.inputs);
        if (!b->inputs || !b->cls.inputs)
            goto nomem;
    }
    /* Inputs: host-sized copies; each options text must be a JSON object. */
    const unsigned char *ip = (const unsigned char *)d->inputs;
    for (uint32_t i = 0; i < d->n_inputs; i++) {
        const comfy_input_def *in = (const comfy_input_def *)ip;
        if (in->size < offsetof(comfy_input_def, choices) ||
            in->size > sizeof(comfy_input_def)) {
            snprintf(why, cap, "node %s: input %u has size %u", d->name, i,
                     in->size);
            goto fail;
        }
        copy_sized(&b->inputs[i], sizeof b->inputs[i], in, in->size);
        ip += in->size;
        comfy_input_def *c = &b->inputs[i];
        cd_input *ci = &b->cls.inputs[i];
        ci->def = c;
        b->cls.n_inputs = i + 1;
        if (!c->name || !c->name[0] || !c->type || !c->type[0]) {
            snprintf(why, cap, "node %s: input %u lacks a name or type", d->name, i);
            goto fail;
        }
        if (c->section > COMFY_HIDDEN) {
            snprintf(why, cap, "node %s: input %s has section %u", d->name,
                     c->name, c->section);
            goto fail;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(b->inputs[j].name, c->name) == 0) {
                snprintf(why, cap, "node %s: input %s declared twice", d->name,
                         c->name);
                goto fail;
            }
        }
        if (c->options) {
            char err[128];
            ci->options = cd_json_parse(c->options, strlen(c->options),
                                        OPTIONS_MAX_DEPTH, err, sizeof err);
            if (!ci->options ||
                json_object_get_type(ci->options) != json_type_object) {
                snprintf(why, cap, "node %s: input %s: options are not a JSON "
                                   "object (%s)", d->name, c->name,
                         ci->options ? "not an object" : err);
                goto fail;
            }
            ci->lazy = json_true(ci->options, "lazy");
            ci->raw_link = json_true(ci->options, "rawLink");
            ci->force_input = json_true(ci->options, "forceInput");
        }
        /* A list-less COMBO is allowed only printed as a type:
         * ["COMBO", {options}], as ComfyUI's LoadImageOutput declares. */
        if (strcmp(c->type, "COMBO") == 0 && !c->choices && !c->choices_fn &&
            !c->combo_as_type) {
            struct json_object *o;
            if (!ci->options || !json_object_object_get_ex(ci->options, "options", &o) ||
                json_object_get_type(o) != json_type_array) {
                snprintf(why, cap, "node %s: COMBO input %s has no choices",
                         d->name, c->name);
                goto fail;
            }
        }
    }
    b->def.inputs = b->inputs;
    if (d->n_outputs) {
        b->outputs = calloc(d->n_outputs, sizeof *b->outputs);
        if (!b->outputs)
            goto nomem;
    }
    const unsigned char *op = (const unsigned char *)d->outputs;
    for (uint32_t i = 0; i < d->n_outputs; i++) {
        const comfy_output_def *o = (const comfy_output_def *)op;
        if (o->size < offsetof(comfy_output_def, name) ||
            o->size > sizeof(comfy_output_def)) {
            snprintf(why, cap, "node %s: output %u has size %u", d->name, i, o->size);
            goto fail;
        }
        copy_sized(&b->outputs[i], sizeof b->outputs[i], o, o->size);
        op += o->size;
        if (!b->outputs[i].type || !b->outputs[i].type[0]) {
            snprintf(why, cap, "node %s: output %u has no type", d->name, i);
            goto fail;
        }
    }
    b->def.outputs = b->outputs;
    b->cls.def = &b->def;
    b->cls.pack = pack;
    return b;
nomem:
    snprintf(why, cap, "out of memory");
fail:
    class_free(b);
    return NULL;
}

/* host->register_node. */
int cd_registrar_register(comfy_registrar *reg, const comfy_node_def *def)
{
    if (!reg || !reg->r)
        return COMFY_EINVAL;
    cd_registry *r = reg->r;
    char why[256];
    class_block *b = class_make(r, reg->pack, def, why, sizeof why);
    if (!b) {
        LOG(r, COMFY_LOG_ERROR, "pack %s: %s", reg->pack->name, why);
        if (!reg->failed)
            snprintf(reg->reason, sizeof reg->reason, "%s", why);
        reg->failed = 1;
        return COMFY_EINVAL;
    }
    const class_block *other = lookup(r, b->def.name, r->n_staged);
    if (other) {
        LOG(r, COMFY_LOG_ERROR, "pack %s: node class %s is already registered "
                                "by pack %s", reg->pack->name, b->def.name,
            other->cls.pack ? cd_pack_name(other->cls.pack) : "?");
        if (!reg->failed)
            snprintf(reg->reason, sizeof reg->reason,
                     "duplicate node class %s", b->def.name);
        reg->failed = 1;
        class_free(b);
        return COMFY_EEXIST;
    }
    if (r->n_staged >= r->max_classes) {
        LOG(r, COMFY_LOG_ERROR, "pack %s: node class %s does not fit: the "
                                "registry holds at most %zu node classes",
            reg->pack->name, b->def.name, r->max_classes);
        if (!reg->failed)
            snprintf(reg->reason, sizeof reg->reason,
                     "more than %zu node classes in all", r->max_classes);
        reg->failed = 1;
        class_free(b);
        return COMFY_ENOMEM;
    }
    /* Staged: visible to the loader's own lookups (a pack's later
     * register_node calls), not to readers until the pack is published. */
    r->classes[r->n_staged] = b;
    index_insert(r, r->n_staged);
    r->n_staged++;
    reg->pack->n_classes++;
    return COMFY_OK;
}

/* ---- packs ------------------------------------------------------------------ */

cd_registry *cd_registry_new_bounded(const comfy_host *host, size_t max_classes)
{
    if (max_classes < 1 || max_classes > ((size_t)1 << 24))
        return NULL;
    cd_registry *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->host = host;
    r->max_classes = max_classes;
    r->index_cap = 64;
    while (r->index_cap < max_classes * 2)
        r->index_cap *= 2;
    r->packs = calloc(CD_REGISTRY_MAX_PACKS, sizeof *r->packs);
    r->classes = calloc(max_classes, sizeof *r->classes);
    r->index = malloc(r->index_cap * sizeof *r->index);
    if (!r->packs || !r->classes || !r->index ||
        pthread_mutex_init(&r->load_lock, NULL) != 0) {
        free(r->packs);
        free(r->classes);
        free(r->index);
        free(r);
        return NULL;
    }
    for (size_t i = 0; i < r->index_cap; i++)
        atomic_init(&r->index[i], SLOT_EMPTY);
    atomic_init(&r->n_classes, 0);
    atomic_init(&r->n_packs, 0);
    return r;
}

cd_registry *cd_registry_new(const comfy_host *host)
{
    return cd_registry_new_bounded(host, CD_REGISTRY_MAX_CLASSES);
}

static void pack_free(cd_pack *p)
{
    if (!p)
        return;
    if (p->dl)
        dlclose(p->dl);
    free(p->name);
    free(p->path);
    free(p->web_dir);
    free(p);
}

void cd_registry_free(cd_registry *r)
{
    if (!r)
        return;
    size_t nc = atomic_load(&r->n_classes), np = atomic_load(&r->n_packs);
    for (size_t i = 0; i < nc; i++)
        class_free(r->classes[i]);
    free(r->classes);
    free(r->index);
    for (size_t i = np; i-- > 0;) {
        cd_pack *p = r->packs[i];
        if (p->info.fini)
            p->info.fini(r->host);
        pack_free(p);
    }
    free(r->packs);
    pthread_mutex_destroy(&r->load_lock);
    free(r);
}

static int pack_name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 128)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Drops the staged classes (those of a pack that is skipped): their index
 * slots become tombstones, then they are freed.  Readers never look at a
 * staged class, so nothing can be using them.  Loader only. */
static void drop_staged(cd_registry *r)
{
    size_t published = atomic_load_explicit(&r->n_classes, memory_order_relaxed);
    for (size_t i = published; i < r->n_staged; i++) {
        index_remove(r, i);
        class_free(r->classes[i]);
        r->classes[i] = NULL;
    }
    r->n_staged = published;
}

/* Loads one .so; the caller holds load_lock.  1 loaded, 0 skipped
 * (logged). */
static int load_file_locked(cd_registry *r, const char *path)
{
    double t0 = now_ms();
    cd_pack *p = calloc(1, sizeof *p);
    const char *why = NULL;
    char whybuf[512];
    size_t n_packs = atomic_load_explicit(&r->n_packs, memory_order_relaxed);
    struct stat fst;
    if (!p || !(p->path = strdup(path))) {
        why = "out of memory";
        goto skip;
    }
    if (n_packs >= CD_REGISTRY_MAX_PACKS) {
        snprintf(whybuf, sizeof whybuf, "too many packs (at most %d)",
                 CD_REGISTRY_MAX_PACKS);
        why = whybuf;
        goto skip;
    }
    if (stat(path, &fst) == 0) {
        p->dev = fst.st_dev;
        p->ino = fst.st_ino;
        p->fsize = fst.st_size;
        p->mtime = fst.st_mtim;
    }
    dlerror();
    p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl) {
        const char *e = dlerror();
        snprintf(whybuf, sizeof whybuf, "cannot load: %s", e ? e : "dlopen failed");
        why = whybuf;
        goto skip;
    }
    dlerror();
    void *sym = dlsym(p->dl, COMFY_PACK_ENTRY_SYMBOL);
    if (!sym) {
        why = "no " COMFY_PACK_ENTRY_SYMBOL " symbol (not a comfyd node pack)";
        goto skip;
    }
    comfy_pack_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const comfy_pack_info *info = entry();
    if (!info) {
        why = COMFY_PACK_ENTRY_SYMBOL " returned NULL";
        goto skip;
    }
    if (info->size < offsetof(comfy_pack_info, init) + sizeof info->init) {
        snprintf(whybuf, sizeof whybuf, "pack info size %u is too small", info->size);
        why = whybuf;
        goto skip;
    }
    if (info->abi_major != COMFY_ABI_MAJOR) {
        snprintf(whybuf, sizeof whybuf,
                 "built for SDK ABI %u.%u, this comfyd has ABI %d.%d (major "
                 "versions differ)", info->abi_major, info->abi_minor,
                 COMFY_ABI_MAJOR, COMFY_ABI_MINOR);
        why = whybuf;
        goto skip;
    }
    if (info->abi_minor > COMFY_ABI_MINOR) {
        snprintf(whybuf, sizeof whybuf,
                 "built for SDK ABI %u.%u, newer than this comfyd's %d.%d",
                 info->abi_major, info->abi_minor, COMFY_ABI_MAJOR,
                 COMFY_ABI_MINOR);
        why = whybuf;
        goto skip;
    }
    copy_sized(&p->info, sizeof p->info, info, info->size);
    if (!pack_name_ok(p->info.name)) {
        why = "pack name missing or not [A-Za-z0-9_.-]+";
        goto skip;
    }
    if (!p->info.init) {
        why = "pack has no init function";
        goto skip;
    }
    for (size_t i = 0; i < n_packs; i++) {
        if (strcmp(r->packs[i]->name, p->info.name) == 0) {
            snprintf(whybuf, sizeof whybuf, "a pack named %s is loaded already "
                                            "(from %s)", p->info.name,
                     r->packs[i]->path);
            why = whybuf;
            goto skip;
        }
    }
    if (!(p->name = strdup(p->info.name))) {
        why = "out of memory";
        goto skip;
    }
    if (p->info.web_directory) {
        char dir[PATH_MAX * 2], real[PATH_MAX];
        if (p->info.web_directory[0] == '/') {
            snprintf(dir, sizeof dir, "%s", p->info.web_directory);
        } else {
            const char *slash = strrchr(path, '/');
            int n = slash ? (int)(slash - path) : 1;
            snprintf(dir, sizeof dir, "%.*s/%s", n, slash ? path : ".",
                     p->info.web_directory);
        }
        struct stat st;
        if (realpath(dir, real) && stat(real, &st) == 0 && S_ISDIR(st.st_mode))
            p->web_dir = strdup(real);
        else
            LOG(r, COMFY_LOG_WARNING, "pack %s: web directory %s not found; "
                                      "no extensions served", p->name, dir);
    }

    comfy_registrar reg = {r, p, 0, ""};
    int rc = p->info.init(r->host, &reg);
    if (rc != COMFY_OK || reg.failed) {
        if (reg.failed)
            snprintf(whybuf, sizeof whybuf, "init failed: %s", reg.reason);
        else
            snprintf(whybuf, sizeof whybuf, "init failed with status %d", rc);
        why = whybuf;
        drop_staged(r);
        /* init ran: let the pack release what it took. */
        if (p->info.fini)
            p->info.fini(r->host);
        goto skip;
    }
    p->load_ms = now_ms() - t0;
    /* Publish: the pack, then its classes (both release stores, so a
     * reader that sees a class sees its pack complete). */
    r->packs[n_packs] = p;
    atomic_store_explicit(&r->n_packs, n_packs + 1, memory_order_release);
    atomic_store_explicit(&r->n_classes, r->n_staged, memory_order_release);
    LOG(r, COMFY_LOG_INFO, "Loaded node pack %s %s: %zu node%s in %.1f ms (%s)",
        p->name, p->info.version ? p->info.version : "", p->n_classes,
        p->n_classes == 1 ? "" : "s", p->load_ms, path);
    return 1;
skip:
    LOG(r, COMFY_LOG_WARNING, "Skipped node pack %s: %s", path, why);
    pack_free(p);
    return 0;
}

int cd_registry_load_file(cd_registry *r, const char *path)
{
    pthread_mutex_lock(&r->load_lock);
    int rc = load_file_locked(r, path);
    pthread_mutex_unlock(&r->load_lock);
    return rc;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.so names in `dir` (not hidden), sorted; *n gets the count.  NULL
 * with *n == 0 for an empty directory; -1 in *n when `dir` cannot be
 * read.  Caller frees each name and the array. */
static char **list_packs(const char *dir, long *n_out)
{
    DIR *d = opendir(dir);
    *n_out = -1;
    if (!d)
        return NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0 ||
            e->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn)
                break;
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_name);
    *n_out = (long)n;
    return names;
}

static void free_names(char **names, long n)
{
    for (long i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int cd_registry_load_dir(cd_registry *r, const char *dir)
{
    long n;
    char **names = list_packs(dir, &n);
    if (n < 0) {
        LOG(r, COMFY_LOG_WARNING, "node pack directory %s cannot be read", dir);
        return -1;
    }
    int loaded = 0;
    pthread_mutex_lock(&r->load_lock);
    for (long i = 0; i < n; i++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) < (int)sizeof path)
            loaded += load_file_locked(r, path);
    }
    pthread_mutex_unlock(&r->load_lock);
    free_names(names, n);
    return loaded;
}

/* A loaded pack with this path, or with this file (device and inode);
 * NULL when the file is new.  Loader only. */
static const cd_pack *loaded_as(const cd_registry *r, const char *path,
                                const struct stat *st)
{
    size_t np = atomic_load_explicit(&((cd_registry *)r)->n_packs,
                                     memory_order_relaxed);
    for (size_t i = 0; i < np; i++) {
        const cd_pack *p = r->packs[i];
        if (strcmp(p->path, path) == 0 ||
            (st && p->dev == st->st_dev && p->ino == st->st_ino))
            return p;
    }
    return NULL;
}

int cd_registry_rescan(cd_registry *r, const char *const *dirs, size_t n_dirs)
{
    if (!r)
        return 0;
    int added = 0;
    pthread_mutex_lock(&r->load_lock);
    /* Loaded packs stay as they are; say when their file went away. */
    size_t np = atomic_load_explicit(&r->n_packs, memory_order_relaxed);
    for (size_t i = 0; i < np; i++) {
        const cd_pack *p = r->packs[i];
        struct stat st;
        if (stat(p->path, &st) != 0)
            LOG(r, COMFY_LOG_WARNING, "node pack %s: %s was removed; it stays "
                                      "loaded: restart to unload %s",
                p->name, p->path, p->name);
        else if (st.st_dev != p->dev || st.st_ino != p->ino ||
                 st.st_size != p->fsize ||
                 st.st_mtim.tv_sec != p->mtime.tv_sec ||
                 st.st_mtim.tv_nsec != p->mtime.tv_nsec)
            LOG(r, COMFY_LOG_WARNING, "node pack %s: %s was replaced; the loaded "
                                      "version stays: restart to replace %s",
                p->name, p->path, p->name);
    }
    for (size_t d = 0; d < n_dirs; d++) {
        long n;
        char **names = list_packs(dirs[d], &n);
        if (n < 0) {
            LOG(r, COMFY_LOG_WARNING, "node pack directory %s cannot be read",
                dirs[d]);
            continue;
        }
        for (long i = 0; i < n; i++) {
            char path[PATH_MAX];
            struct stat st;
            if (snprintf(path, sizeof path, "%s/%s", dirs[d], names[i]) >=
                (int)sizeof path)
                continue;
            int have = stat(path, &st) == 0;
            if (loaded_as(r, path, have ? &st : NULL))
                continue;
            added += load_file_locked(r, path);
        }
        free_names(names, n);
    }
    pthread_mutex_unlock(&r->load_lock);
    return added;
}

size_t cd_registry_pack_count(const cd_registry *r)
{
    return r ? atomic_load_explicit(&((cd_registry *)r)->n_packs,
                                    memory_order_acquire)
             : 0;
}
const char *cd_pack_name(const cd_pack *p) { return p->name; }
const char *cd_pack_web_dir(const cd_pack *p) { return p->web_dir; }
const char *cd_pack_path(const cd_pack *p) { return p->path; }
size_t cd_pack_class_count(const cd_pack *p) { return p->n_classes; }
double cd_pack_load_ms(const cd_pack *p) { return p->load_ms; }
const comfy_pack_info *cd_pack_info(const cd_pack *p) { return &p->info; }

const cd_pack *cd_registry_pack_at(const cd_registry *r, size_t i)
{
    return r && i < cd_registry_pack_count(r) ? r->packs[i] : NULL;
}

const cd_pack *cd_registry_find_pack(const cd_registry *r, const char *name)
{
    size_t n = cd_registry_pack_count(r);
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(r->packs[i]->name, name) == 0)
            return r->packs[i];
    return NULL;
}

/* ---- COMBO choices ----------------------------------------------------------- */

comfy_value *cd_input_choices(const cd_registry *r, const cd_input *in)
{
    if (!in)
        return NULL;
    const comfy_input_def *d = in->def;
    comfy_value *list = cd_value_list();
    if (!list)
        return NULL;
    if (d->choices) {
        for (size_t i = 0; d->choices[i]; i++)
            if (cd_list_append(list, cd_value_string(d->choices[i], (size_t)-1)) !=
                COMFY_OK)
                goto fail;
        return list;
    }
    if (d->choices_fn) {
        if (d->choices_fn(r ? r->host : NULL, d->choices_user, list) != COMFY_OK)
            goto fail;
        return list;
    }
    struct json_object *o;
    if (in->options && json_object_object_get_ex(in->options, "options", &o) &&
        json_object_get_type(o) == json_type_array) {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++) {
            comfy_value *v = cd_value_from_json(json_object_array_get_idx(o, i));
            if (!v || cd_list_append(list, v) != COMFY_OK)
                goto fail;
        }
        return list;
    }
fail:
    cd_value_release(list);
    return NULL;
}

/* ---- /object_info ------------------------------------------------------------- */

static int put_str(cd_buf *b, const char *s)
{
    return cd_json_dump_string(b, s, strlen(s));
}

static int put_key(cd_buf *b, int *first, const char *k)
{
    if (!*first && cd_buf_puts(b, ", ") < 0)
        return -1;
    *first = 0;
    if (put_str(b, k) < 0 || cd_buf_puts(b, ": ") < 0)
        return -1;
    return 0;
}

/* Writes a LIST value of choices as a JSON array. */
static int put_choices(cd_buf *b, const comfy_value *list)
{
    struct json_object *j = cd_value_to_json(list);
    if (!j)
        return -1;
    int rc = cd_json_dump(b, j);
    json_object_put(j);
    return rc;
}

/* Writes the options object; `choices` (may be NULL) goes in as
 * "options": first, or in place of an existing "options" key.  `drop_null`
 * leaves out keys whose value is null (V3). */
static int put_options(cd_buf *b, struct json_object *opts,
                       const comfy_value *choices, int drop_null)
{
    if (cd_buf_putc(b, '{') < 0)
        return -1;
    int first = 1;
    int has_options_key = opts && json_object_object_get_ex(opts, "options", NULL);
    if (choices && !has_options_key) {
        if (put_key(b, &first, "options") < 0 || put_choices(b, choices) < 0)
            return -1;
    }
    if (opts) {
        json_object_object_foreach(opts, k, v) {
            if (strcmp(k, "options") == 0 && choices) {
                if (put_key(b, &first, k) < 0 || put_choices(b, choices) < 0)
                    return -1;
                continue;
            }
            if (drop_null && !v)
                continue;
            if (put_key(b, &first, k) < 0 || cd_json_dump(b, v) < 0)
                return -1;
        }
    }
    return cd_buf_putc(b, '}');
}

/* One required/optional input spec array. */
static int put_input_spec(const cd_registry *r, cd_buf *b, const cd_input *in,
                          int v3)
{
    const comfy_input_def *d = in->def;
    int rc = -1;
    comfy_value *choices = NULL;
    if (cd_buf_putc(b, '[') < 0)
        return -1;
    int combo = strcmp(d->type, "COMBO") == 0;
    if (combo && (d->choices || d->choices_fn)) {
        choices = cd_input_choices(r, in);
        if (!choices)
            goto out;
    }
    if (combo && !d->combo_as_type && choices) {
        if (put_choices(b, choices) < 0)
            goto out;
        if (in->options || v3) {
            if (cd_buf_puts(b, ", ") < 0 ||
                put_options(b, in->options, NULL, v3) < 0)
                goto out;
        }
    } else {
        if (put_str(b, d->type) < 0)
            goto out;
        if (in->options || choices || v3) {
            if (cd_buf_puts(b, ", ") < 0 ||
                put_options(b, in->options, choices, v3) < 0)
                goto out;
        }
    }
    rc = cd_buf_putc(b, ']');
out:
    cd_value_release(choices);
    return rc;
}

static int has_section(const cd_class *c, uint32_t s)
{
    for (size_t i = 0; i < c->n_inputs; i++)
        if (c->inputs[i].def->section == s)
            return 1;
    return 0;
}

static int has_hidden_type(const cd_class *c, const char *type)
{
    for (size_t i = 0; i < c->n_inputs; i++)
        if (c->inputs[i].def->section == COMFY_HIDDEN &&
            strcmp(c->inputs[i].def->type, type) == 0)
            return 1;
    return 0;
}

/* ", "output_tooltips": [...]": a string per output, null where none. */
static int put_tooltips(cd_buf *b, const comfy_node_def *d)
{
    if (cd_buf_puts(b, ", \"output_tooltips\": [") < 0)
        return -1;
    for (uint32_t i = 0; i < d->n_outputs; i++) {
        if (i && cd_buf_puts(b, ", ") < 0)
            return -1;
        if (d->outputs[i].tooltip ? put_str(b, d->outputs[i].tooltip) < 0
                                  : cd_buf_puts(b, "null") < 0)
            return -1;
    }
    return cd_buf_putc(b, ']');
}

int cd_class_object_info(const cd_registry *r, const cd_class *c, cd_buf *out)
{
    const comfy_node_def *d = c->def;
    int v3 = (d->flags & COMFY_NODE_V3_SCHEMA) != 0;
    static const char *const sect_names[] = {"required", "optional", "hidden"};
    /* V3 adds hidden inputs for API nodes and output nodes. */
    const char *auto_hidden[4][2];
    size_t n_auto = 0;
    if (v3) {
        if ((d->flags & COMFY_NODE_API_NODE)) {
            if (!has_hidden_type(c, "AUTH_TOKEN_COMFY_ORG")) {
                auto_hidden[n_auto][0] = "auth_token_comfy_org";
                auto_hidden[n_auto++][1] = "AUTH_TOKEN_COMFY_ORG";
            }
            if (!has_hidden_type(c, "API_KEY_COMFY_ORG")) {
                auto_hidden[n_auto][0] = "api_key_comfy_org";
                auto_hidden[n_auto++][1] = "API_KEY_COMFY_ORG";
            }
        }
        if ((d->flags & COMFY_NODE_OUTPUT)) {
            if (!has_hidden_type(c, "PROMPT")) {
                auto_hidden[n_auto][0] = "prompt";
                auto_hidden[n_auto++][1] = "PROMPT";
            }
            if (!has_hidden_type(c, "EXTRA_PNGINFO")) {
                auto_hidden[n_auto][0] = "extra_pnginfo";
                auto_hidden[n_auto++][1] = "EXTRA_PNGINFO";
            }
        }
    }
    int present[3];
    present[0] = 1; /* "required" is always there */
    present[1] = has_section(c, COMFY_OPTIONAL);
    present[2] = has_section(c, COMFY_HIDDEN) || n_auto > 0;

    if (cd_buf_puts(out, "{\"input\": {") < 0)
        return -1;
    int first_sect = 1;
    for (uint32_t s = 0; s < 3; s++) {
        if (!present[s])
            continue;
        if (put_key(out, &first_sect, sect_names[s]) < 0 || cd_buf_putc(out, '{') < 0)
            return -1;
        int first = 1;
        for (size_t i = 0; i < c->n_inputs; i++) {
            const cd_input *in = &c->inputs[i];
            if (in->def->section != s)
                continue;
            if (put_key(out, &first, in->def->name) < 0)
                return -1;
            if (s == COMFY_HIDDEN) {
                if (v3 ? (cd_buf_putc(out, '[') < 0 || put_str(out, in->def->type) < 0 ||
                          cd_buf_putc(out, ']') < 0)
                       : put_str(out, in->def->type) < 0)
                    return -1;
            } else if (put_input_spec(r, out, in, v3) < 0) {
                return -1;
            }
        }
        if (s == COMFY_HIDDEN) {
            for (size_t i = 0; i < n_auto; i++)
                if (put_key(out, &first, auto_hidden[i][0]) < 0 ||
                    cd_buf_putc(out, '[') < 0 || put_str(out, auto_hidden[i][1]) < 0 ||
                    cd_buf_putc(out, ']') < 0)
                    return -1;
        }
        if (cd_buf_putc(out, '}') < 0)
            return -1;
    }
    if (cd_buf_puts(out, "}, \"input_order\": {") < 0)
        return -1;
    first_sect = 1;
    for (uint32_t s = 0; s < 3; s++) {
        if (!present[s])
            continue;
        if (put_key(out, &first_sect, sect_names[s]) < 0 || cd_buf_putc(out, '[') < 0)
            return -1;
        int first = 1;
        for (size_t i = 0; i < c->n_inputs; i++) {
            if (c->inputs[i].def->section != s)
                continue;
            if ((!first && cd_buf_puts(out, ", ") < 0) ||
                put_str(out, c->inputs[i].def->name) < 0)
                return -1;
            first = 0;
        }
        if (s == COMFY_HIDDEN)
            for (size_t i = 0; i < n_auto; i++) {
                if ((!first && cd_buf_puts(out, ", ") < 0) ||
                    put_str(out, auto_hidden[i][0]) < 0)
                    return -1;
                first = 0;
            }
        if (cd_buf_putc(out, ']') < 0)
            return -1;
    }
    if (cd_buf_puts(out, "}, \"output\": [") < 0)
        return -1;
    for (uint32_t i = 0; i < d->n_outputs; i++)
        if ((i && cd_buf_puts(out, ", ") < 0) || put_str(out, d->outputs[i].type) < 0)
            return -1;
    if (cd_buf_puts(out, "], \"output_is_list\": [") < 0)
        return -1;
    for (uint32_t i = 0; i < d->n_outputs; i++)
        if ((i && cd_buf_puts(out, ", ") < 0) ||
            cd_buf_puts(out, d->outputs[i].is_list ? "true" : "false") < 0)
            return -1;
    if (cd_buf_puts(out, "], \"output_name\": [") < 0)
        return -1;
    for (uint32_t i = 0; i < d->n_outputs; i++) {
        const char *nm = d->outputs[i].name ? d->outputs[i].name : d->outputs[i].type;
        if ((i && cd_buf_puts(out, ", ") < 0) || put_str(out, nm) < 0)
            return -1;
    }
    if (cd_buf_putc(out, ']') < 0)
        return -1;
    /* output_tooltips: V3 always, right here; V1 only when declared,
     * after output_node. */
    if (v3 && put_tooltips(out, d) < 0)
        return -1;
    char module[200];
    if (!d->module)
        snprintf(module, sizeof module, "custom_nodes.%s",
                 c->pack ? cd_pack_name(c->pack) : "unknown");
    if (cd_buf_puts(out, ", \"name\": ") < 0 || put_str(out, d->name) < 0 ||
        cd_buf_puts(out, ", \"display_name\": ") < 0)
        return -1;
    if (d->display_name ? put_str(out, d->display_name) < 0
                        : (v3 ? cd_buf_puts(out, "null") < 0 : put_str(out, d->name) < 0))
        return -1;
    if (cd_buf_puts(out, ", \"description\": ") < 0 ||
        put_str(out, d->description ? d->description : "") < 0 ||
        cd_buf_puts(out, ", \"python_module\": ") < 0 ||
        put_str(out, d->module ? d->module : module) < 0 ||
        cd_buf_puts(out, ", \"category\": ") < 0 ||
        put_str(out, d->category ? d->category : "sd") < 0 ||
        cd_buf_puts(out, ", \"output_node\": ") < 0 ||
        cd_buf_puts(out, (d->flags & COMFY_NODE_OUTPUT) ? "true" : "false") < 0)
        return -1;
    if (v3) {
        if (cd_buf_printf(out, ", \"deprecated\": %s, \"experimental\": %s, "
                               "\"api_node\": %s}",
                          (d->flags & COMFY_NODE_DEPRECATED) ? "true" : "false",
                          (d->flags & COMFY_NODE_EXPERIMENTAL) ? "true" : "false",
                          (d->flags & COMFY_NODE_API_NODE) ? "true" : "false") < 0)
            return -1;
        return 0;
    }
    if ((d->flags & COMFY_NODE_OUTPUT_TOOLTIPS) && put_tooltips(out, d) < 0)
        return -1;
    if ((d->flags & COMFY_NODE_DEPRECATED) &&
        cd_buf_puts(out, ", \"deprecated\": true") < 0)
        return -1;
    if ((d->flags & COMFY_NODE_EXPERIMENTAL) &&
        cd_buf_puts(out, ", \"experimental\": true") < 0)
        return -1;
    if ((d->flags & COMFY_NODE_API_NODE) &&
        cd_buf_puts(out, ", \"api_node\": true") < 0)
        return -1;
    return cd_buf_putc(out, '}');
}
