/*
 * value.c — comfy_value and comfy_tensor, the host side (see value.h).
 *
 * Every value is one heap block with an atomic reference count.  Lists and
 * maps own a reference to each item.  Tensors are a public comfy_tensor
 * followed by a host-private tail (reference count, allocation, release
 * callback).  Nothing here needs the host context: the ctx arguments of the
 * comfy_host members are ignored.
 */
#include "value.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pyjson.h"

/* Largest tensor tensor_new will allocate (bytes): a guard against shapes
 * that overflow or would exhaust memory in one go. */
#define TENSOR_MAX_BYTES ((uint64_t)1 << 40)

struct comfy_value {
    atomic_long refs;
    int kind;
    union {
        struct { int64_t i; uint64_t u; int is_uint; } num;
        double f;
        int b;
        struct { char *s; size_t len; } str;
        comfy_tensor *t;
        struct { comfy_value **items; size_t len, cap; } list;
        struct { char **keys; comfy_value **vals; size_t len, cap; } map;
        struct {
            char *type_name;
            const void *iface;
            void *self;
            comfy_free_fn destroy;
        } obj;
    } u;
};

/* The tensor as allocated: public part first. */
typedef struct tensor_block {
    comfy_tensor pub;
    atomic_long refs;
    void *alloc;             /* owned allocation (tensor_new), or NULL  */
    uint64_t bytes;          /* bytes of `alloc`, for accounting         */
    int mapped;              /* `alloc` is its own mapping (munmap)      */
    comfy_free_fn release;   /* tensor_wrap: called with `user` at end   */
    void *user;
} tensor_block;

static atomic_ullong g_tensor_bytes;

/* Tensors of this size and more are anonymous mappings of their own, not
 * heap blocks.  They are the long-lived objects of a run (node outputs,
 * held by the cache across prompts), so each must go back to the system
 * when released whatever else the heap holds.  From malloc they would not:
 * glibc raises its mmap threshold whenever a large block is freed, after
 * which large blocks come from the heap, where one survivor pins the
 * memory below it (a burst of 512x512 prompts left the server 25-50% over
 * its idle RSS, bench/exec/burst_server.py).  Fresh mappings are also
 * zero already, so they skip the memset. */
#define TENSOR_MAP_MIN ((uint64_t)128 << 10)

/* ---- values --------------------------------------------------------------- */

static comfy_value *value_alloc(int kind)
{
    comfy_value *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    atomic_init(&v->refs, 1);
    v->kind = kind;
    return v;
}

comfy_value *cd_value_none(void) { return value_alloc(COMFY_KIND_NONE); }

comfy_value *cd_value_int(int64_t i)
{
    comfy_value *v = value_alloc(COMFY_KIND_INT);
    if (v)
        v->u.num.i = i;
    return v;
}

comfy_value *cd_value_uint(uint64_t u)
{
    if (u <= (uint64_t)INT64_MAX)
        return cd_value_int((int64_t)u);
    comfy_value *v = value_alloc(COMFY_KIND_INT);
    if (v) {
        v->u.num.u = u;
        v->u.num.is_uint = 1;
    }
    return v;
}

comfy_value *cd_value_float(double f)
{
    comfy_value *v = value_alloc(COMFY_KIND_FLOAT);
    if (v)
        v->u.f = f;
    return v;
}

comfy_value *cd_value_bool(int b)
{
    comfy_value *v = value_alloc(COMFY_KIND_BOOL);
    if (v)
        v->u.b = b ? 1 : 0;
    return v;
}

comfy_value *cd_value_string(const char *s, size_t len)
{
    if (!s)
        s = "";
    if (len == (size_t)-1)
        len = strlen(s);
    comfy_value *v = value_alloc(COMFY_KIND_STRING);
    if (!v)
        return NULL;
    v->u.str.s = malloc(len + 1);
    if (!v->u.str.s) {
        free(v);
        return NULL;
    }
    memcpy(v->u.str.s, s, len);
    v->u.str.s[len] = '\0';
    v->u.str.len = len;
    return v;
}

comfy_value *cd_value_tensor(comfy_tensor *t)
{
    if (!t)
        return NULL;
    comfy_value *v = value_alloc(COMFY_KIND_TENSOR);
    if (!v) {
        cd_tensor_release(t);
        return NULL;
    }
    v->u.t = t;
    return v;
}

comfy_value *cd_value_list(void) { return value_alloc(COMFY_KIND_LIST); }
comfy_value *cd_value_map(void) { return value_alloc(COMFY_KIND_MAP); }

comfy_value *cd_value_object(const char *type_name, const void *iface,
                             void *self, comfy_free_fn destroy)
{
    comfy_value *v = value_alloc(COMFY_KIND_OBJECT);
    if (!v)
        goto fail;
    v->u.obj.type_name = strdup(type_name ? type_name : "");
    if (!v->u.obj.type_name)
        goto fail;
    v->u.obj.iface = iface;
    v->u.obj.self = self;
    v->u.obj.destroy = destroy;
    return v;
fail:
    /* The object was not taken: it stays the caller's, so no destroy. */
    free(v);
    return NULL;
}

int cd_list_append(comfy_value *list, comfy_value *item)
{
    if (!list || list->kind != COMFY_KIND_LIST || !item) {
        cd_value_release(item);
        return COMFY_EINVAL;
    }
    if (list->u.list.len == list->u.list.cap) {
        size_t cap = list->u.list.cap ? list->u.list.cap * 2 : 4;
        comfy_value **p = realloc(list->u.list.items, cap * sizeof *p);
        if (!p) {
            cd_value_release(item);
            return COMFY_ENOMEM;
        }
        list->u.list.items = p;
        list->u.list.cap = cap;
    }
    list->u.list.items[list->u.list.len++] = item;
    return COMFY_OK;
}

int cd_map_set(comfy_value *map, const char *key, comfy_value *item)
{
    if (!map || map->kind != COMFY_KIND_MAP || !key || !item) {
        cd_value_release(item);
        return COMFY_EINVAL;
    }
    for (size_t i = 0; i < map->u.map.len; i++) {
        if (strcmp(map->u.map.keys[i], key) == 0) {
            cd_value_release(map->u.map.vals[i]);
            map->u.map.vals[i] = item;
            return COMFY_OK;
        }
    }
    if (map->u.map.len == map->u.map.cap) {
        size_t cap = map->u.map.cap ? map->u.map.cap * 2 : 4;
        char **k = realloc(map->u.map.keys, cap * sizeof *k);
        if (!k)
            goto nomem;
        map->u.map.keys = k;
        comfy_value **vv = realloc(map->u.map.vals, cap * sizeof *vv);
        if (!vv)
            goto nomem;
        map->u.map.vals = vv;
        map->u.map.cap = cap;
    }
    char *kd = strdup(key);
    if (!kd)
        goto nomem;
    map->u.map.keys[map->u.map.len] = kd;
    map->u.map.vals[map->u.map.len] = item;
    map->u.map.len++;
    return COMFY_OK;
nomem:
    cd_value_release(item);
    return COMFY_ENOMEM;
}

comfy_value *cd_value_retain(const comfy_value *cv)
{
    comfy_value *v = (comfy_value *)cv;
    if (v)
        atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    return v;
}

void cd_value_release(comfy_value *v)
{
    if (!v)
        return;
    if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    switch (v->kind) {
    case COMFY_KIND_STRING:
        free(v->u.str.s);
        break;
    case COMFY_KIND_TENSOR:
        cd_tensor_release(v->u.t);
        break;
    case COMFY_KIND_LIST:
        for (size_t i = 0; i < v->u.list.len; i++)
            cd_value_release(v->u.list.items[i]);
        free(v->u.list.items);
        break;
    case COMFY_KIND_MAP:
        for (size_t i = 0; i < v->u.map.len; i++) {
            free(v->u.map.keys[i]);
            cd_value_release(v->u.map.vals[i]);
        }
        free(v->u.map.keys);
        free(v->u.map.vals);
        break;
    case COMFY_KIND_OBJECT:
        if (v->u.obj.destroy)
            v->u.obj.destroy(v->u.obj.self);
        free(v->u.obj.type_name);
        break;
    default:
        break;
    }
    free(v);
}

int cd_value_kind(const comfy_value *v)
{
    return v ? v->kind : COMFY_KIND_NONE;
}

int cd_value_get_int(const comfy_value *v, int64_t *out)
{
    if (!v || v->kind != COMFY_KIND_INT || v->u.num.is_uint)
        return COMFY_ETYPE;
    if (out)
        *out = v->u.num.i;
    return COMFY_OK;
}

int cd_value_get_uint(const comfy_value *v, uint64_t *out)
{
    if (!v || v->kind != COMFY_KIND_INT)
        return COMFY_ETYPE;
    if (v->u.num.is_uint) {
        if (out)
            *out = v->u.num.u;
        return COMFY_OK;
    }
    if (v->u.num.i < 0)
        return COMFY_ETYPE;
    if (out)
        *out = (uint64_t)v->u.num.i;
    return COMFY_OK;
}

int cd_value_get_float(const comfy_value *v, double *out)
{
    if (!v)
        return COMFY_ETYPE;
    double d;
    if (v->kind == COMFY_KIND_FLOAT)
        d = v->u.f;
    else if (v->kind == COMFY_KIND_INT)
        d = v->u.num.is_uint ? (double)v->u.num.u : (double)v->u.num.i;
    else
        return COMFY_ETYPE;
    if (out)
        *out = d;
    return COMFY_OK;
}

int cd_value_get_bool(const comfy_value *v, int *out)
{
    if (!v || v->kind != COMFY_KIND_BOOL)
        return COMFY_ETYPE;
    if (out)
        *out = v->u.b;
    return COMFY_OK;
}

const char *cd_value_get_string(const comfy_value *v)
{
    return v && v->kind == COMFY_KIND_STRING ? v->u.str.s : NULL;
}

size_t cd_value_string_len(const comfy_value *v)
{
    return v && v->kind == COMFY_KIND_STRING ? v->u.str.len : 0;
}

comfy_tensor *cd_value_get_tensor(const comfy_value *v)
{
    return v && v->kind == COMFY_KIND_TENSOR ? v->u.t : NULL;
}

size_t cd_list_len(const comfy_value *v)
{
    return v && v->kind == COMFY_KIND_LIST ? v->u.list.len : 0;
}

const comfy_value *cd_list_get(const comfy_value *v, size_t i)
{
    if (!v || v->kind != COMFY_KIND_LIST || i >= v->u.list.len)
        return NULL;
    return v->u.list.items[i];
}

size_t cd_map_len(const comfy_value *v)
{
    return v && v->kind == COMFY_KIND_MAP ? v->u.map.len : 0;
}

const char *cd_map_key(const comfy_value *v, size_t i)
{
    if (!v || v->kind != COMFY_KIND_MAP || i >= v->u.map.len)
        return NULL;
    return v->u.map.keys[i];
}

const comfy_value *cd_map_value(const comfy_value *v, size_t i)
{
    if (!v || v->kind != COMFY_KIND_MAP || i >= v->u.map.len)
        return NULL;
    return v->u.map.vals[i];
}

const comfy_value *cd_map_get(const comfy_value *v, const char *key)
{
    if (!v || v->kind != COMFY_KIND_MAP || !key)
        return NULL;
    for (size_t i = 0; i < v->u.map.len; i++)
        if (strcmp(v->u.map.keys[i], key) == 0)
            return v->u.map.vals[i];
    return NULL;
}

int cd_value_get_object(const comfy_value *v, const char *type_name,
                        const void **iface, void **self)
{
    if (!v || v->kind != COMFY_KIND_OBJECT || !type_name ||
        strcmp(v->u.obj.type_name, type_name) != 0)
        return COMFY_ETYPE;
    if (iface)
        *iface = v->u.obj.iface;
    if (self)
        *self = v->u.obj.self;
    return COMFY_OK;
}

const char *cd_value_type_name(const comfy_value *v)
{
    return v && v->kind == COMFY_KIND_OBJECT ? v->u.obj.type_name : NULL;
}

/* ---- tensors -------------------------------------------------------------- */

size_t cd_dtype_size(int dtype)
{
    switch (dtype) {
    case COMFY_F32: case COMFY_I32: return 4;
    case COMFY_F16: case COMFY_BF16: case COMFY_I16: return 2;
    case COMFY_I64: case COMFY_F64: return 8;
    case COMFY_U8: case COMFY_F8_E4M3: case COMFY_F8_E5M2: case COMFY_I8:
    case COMFY_BOOL: return 1;
    default: return 0;
    }
}

const char *cd_dtype_name(int dtype)
{
    static const char *const names[] = {
        "float32", "float16", "bfloat16", "int64", "int32", "uint8", "float64",
        "float8_e4m3fn", "float8_e5m2", "int8", "int16", "bool"};
    if (dtype < 0 || (size_t)dtype >= sizeof names / sizeof names[0])
        return "unknown";
    return names[dtype];
}

/* Checks a shape and computes its element count.  0, or -1 when the shape
 * is invalid or the byte size would pass TENSOR_MAX_BYTES. */
static int shape_numel(int dtype, int ndim, const int64_t *shape,
                       uint64_t *numel, uint64_t *bytes)
{
    size_t es = cd_dtype_size(dtype);
    if (!es || ndim < 0 || ndim > COMFY_MAX_DIMS || (ndim > 0 && !shape))
        return -1;
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        uint64_t d = (uint64_t)shape[i];
        if (d && n > TENSOR_MAX_BYTES / d)
            return -1;
        n *= d;
    }
    if (n > TENSOR_MAX_BYTES / es)
        return -1;
    *numel = n;
    *bytes = n * es;
    return 0;
}

static void set_contiguous(comfy_tensor *t)
{
    int64_t s = 1;
    for (int i = (int)t->ndim - 1; i >= 0; i--) {
        t->strides[i] = s;
        s *= t->shape[i] ? t->shape[i] : 1;
    }
}

static tensor_block *tensor_block_new(int dtype, int ndim, const int64_t *shape)
{
    tensor_block *tb = calloc(1, sizeof *tb);
    if (!tb)
        return NULL;
    tb->pub.size = sizeof(comfy_tensor);
    tb->pub.dtype = (uint32_t)dtype;
    tb->pub.ndim = (uint32_t)ndim;
    tb->pub.device = 0;
    for (int i = 0; i < ndim; i++)
        tb->pub.shape[i] = shape[i];
    atomic_init(&tb->refs, 1);
    return tb;
}

comfy_tensor *cd_tensor_new(int dtype, int ndim, const int64_t *shape)
{
    uint64_t numel, bytes;
    if (shape_numel(dtype, ndim, shape, &numel, &bytes) < 0)
        return NULL;
    tensor_block *tb = tensor_block_new(dtype, ndim, shape);
    if (!tb)
        return NULL;
    /* Round up to the alignment, and never allocate 0 bytes. */
    uint64_t alloc = (bytes + 63) & ~(uint64_t)63;
    if (!alloc)
        alloc = 64;
    if (alloc >= TENSOR_MAP_MIN) {
        if (alloc > SIZE_MAX)
            goto fail;
        void *p = mmap(NULL, (size_t)alloc, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            goto fail;
        tb->alloc = p;
        tb->mapped = 1;
    } else {
        tb->alloc = aligned_alloc(64, (size_t)alloc);
        if (!tb->alloc)
            goto fail;
        memset(tb->alloc, 0, (size_t)alloc);
    }
    tb->bytes = alloc;
    tb->pub.data = tb->alloc;
    set_contiguous(&tb->pub);
    atomic_fetch_add(&g_tensor_bytes, alloc);
    return &tb->pub;
fail:
    free(tb);
    return NULL;
}

comfy_tensor *cd_tensor_wrap(int dtype, int ndim, const int64_t *shape,
                             const int64_t *strides, void *data,
                             comfy_free_fn release, void *user)
{
    uint64_t numel, bytes;
    if (shape_numel(dtype, ndim, shape, &numel, &bytes) < 0 ||
        (!data && numel > 0))
        return NULL;
    tensor_block *tb = tensor_block_new(dtype, ndim, shape);
    if (!tb)
        return NULL;
    tb->pub.data = data;
    if (strides) {
        for (int i = 0; i < ndim; i++)
            tb->pub.strides[i] = strides[i];
    } else {
        set_contiguous(&tb->pub);
    }
    tb->release = release;
    tb->user = user;
    return &tb->pub;
}

comfy_tensor *cd_tensor_retain(comfy_tensor *t)
{
    if (t)
        atomic_fetch_add_explicit(&((tensor_block *)t)->refs, 1,
                                  memory_order_relaxed);
    return t;
}

void cd_tensor_release(comfy_tensor *t)
{
    if (!t)
        return;
    tensor_block *tb = (tensor_block *)t;
    if (atomic_fetch_sub_explicit(&tb->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (tb->alloc) {
        if (tb->mapped)
            munmap(tb->alloc, (size_t)tb->bytes);
        else
            free(tb->alloc);
        atomic_fetch_sub(&g_tensor_bytes, tb->bytes);
    }
    if (tb->release)
        tb->release(tb->user);
    free(tb);
}

int64_t cd_tensor_numel(const comfy_tensor *t)
{
    if (!t)
        return 0;
    int64_t n = 1;
    for (uint32_t i = 0; i < t->ndim && i < COMFY_MAX_DIMS; i++)
        n *= t->shape[i];
    return n;
}

int cd_tensor_is_contiguous(const comfy_tensor *t)
{
    if (!t)
        return 0;
    int64_t s = 1;
    for (int i = (int)t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != s)
            return 0;
        s *= t->shape[i];
    }
    return 1;
}

uint64_t cd_tensor_bytes_live(void)
{
    return atomic_load(&g_tensor_bytes);
}

/* ---- JSON ----------------------------------------------------------------- */

comfy_value *cd_value_from_json(const struct json_object *j)
{
    switch (json_object_get_type(j)) {
    case json_type_null:
        return cd_value_none();
    case json_type_boolean:
        return cd_value_bool(json_object_get_boolean(j));
    case json_type_int: {
        uint64_t u;
        if (cd_json_is_uint64(j, &u))
            return cd_value_uint(u);
        return cd_value_int(json_object_get_int64(j));
    }
    case json_type_double:
        return cd_value_float(json_object_get_double(j));
    case json_type_string:
        return cd_value_string(json_object_get_string((struct json_object *)j),
                               (size_t)json_object_get_string_len(j));
    case json_type_array: {
        comfy_value *l = cd_value_list();
        if (!l)
            return NULL;
        size_t n = json_object_array_length(j);
        for (size_t i = 0; i < n; i++) {
            comfy_value *it = cd_value_from_json(json_object_array_get_idx(j, i));
            if (!it || cd_list_append(l, it) != COMFY_OK) {
                cd_value_release(l);
                return NULL;
            }
        }
        return l;
    }
    case json_type_object: {
        comfy_value *m = cd_value_map();
        if (!m)
            return NULL;
        json_object_object_foreach((struct json_object *)j, k, val) {
            comfy_value *it = cd_value_from_json(val);
            if (!it || cd_map_set(m, k, it) != COMFY_OK) {
                cd_value_release(m);
                return NULL;
            }
        }
        return m;
    }
    }
    return NULL;
}

struct json_object *cd_value_to_json(const comfy_value *v)
{
    if (!v)
        return NULL; /* json null */
    switch (v->kind) {
    case COMFY_KIND_NONE:
        return NULL;
    case COMFY_KIND_INT:
        return v->u.num.is_uint ? json_object_new_uint64(v->u.num.u)
                                : json_object_new_int64(v->u.num.i);
    case COMFY_KIND_FLOAT:
        return json_object_new_double(v->u.f);
    case COMFY_KIND_BOOL:
        return json_object_new_boolean(v->u.b);
    case COMFY_KIND_STRING:
        return json_object_new_string_len(v->u.str.s, (int)v->u.str.len);
    case COMFY_KIND_TENSOR: {
        char desc[256];
        size_t o = 0;
        const comfy_tensor *t = v->u.t;
        o += (size_t)snprintf(desc, sizeof desc, "<tensor %s [",
                              cd_dtype_name((int)t->dtype));
        for (uint32_t i = 0; i < t->ndim && o < sizeof desc; i++)
            o += (size_t)snprintf(desc + o, sizeof desc - o, "%s%lld",
                                  i ? ", " : "", (long long)t->shape[i]);
        if (o < sizeof desc)
            snprintf(desc + o, sizeof desc - o, "]>");
        return json_object_new_string(desc);
    }
    case COMFY_KIND_OBJECT: {
        char desc[256];
        snprintf(desc, sizeof desc, "<%s object>", v->u.obj.type_name);
        return json_object_new_string(desc);
    }
    case COMFY_KIND_LIST: {
        struct json_object *a = json_object_new_array_ext((int)v->u.list.len);
        if (!a)
            return NULL;
        for (size_t i = 0; i < v->u.list.len; i++) {
            const comfy_value *it = v->u.list.items[i];
            struct json_object *ji = cd_value_to_json(it);
            if (!ji && it && it->kind != COMFY_KIND_NONE)
                goto fail_a;
            if (json_object_array_add(a, ji) != 0) {
                json_object_put(ji);
                goto fail_a;
            }
        }
        return a;
    fail_a:
        json_object_put(a);
        return NULL;
    }
    case COMFY_KIND_MAP: {
        struct json_object *o = json_object_new_object();
        if (!o)
            return NULL;
        for (size_t i = 0; i < v->u.map.len; i++) {
            const comfy_value *it = v->u.map.vals[i];
            struct json_object *ji = cd_value_to_json(it);
            if (!ji && it && it->kind != COMFY_KIND_NONE)
                goto fail_o;
            if (json_object_object_add(o, v->u.map.keys[i], ji) != 0) {
                json_object_put(ji);
                goto fail_o;
            }
        }
        return o;
    fail_o:
        json_object_put(o);
        return NULL;
    }
    }
    return NULL;
}

int cd_value_equal(const comfy_value *a, const comfy_value *b)
{
    if (a == b)
        return 1;
    if (cd_value_kind(a) != cd_value_kind(b))
        return 0;
    if (!a || !b) /* one NULL, the other an explicit NONE */
        return 1;
    switch (a->kind) {
    case COMFY_KIND_NONE:
        return 1;
    case COMFY_KIND_INT:
        if (a->u.num.is_uint != b->u.num.is_uint)
            return 0;
        return a->u.num.is_uint ? a->u.num.u == b->u.num.u
                                : a->u.num.i == b->u.num.i;
    case COMFY_KIND_FLOAT:
        return a->u.f == b->u.f;
    case COMFY_KIND_BOOL:
        return a->u.b == b->u.b;
    case COMFY_KIND_STRING:
        return a->u.str.len == b->u.str.len &&
               memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
    case COMFY_KIND_TENSOR:
        return a->u.t == b->u.t;
    case COMFY_KIND_OBJECT:
        return a->u.obj.self == b->u.obj.self &&
               a->u.obj.iface == b->u.obj.iface &&
               strcmp(a->u.obj.type_name, b->u.obj.type_name) == 0;
    case COMFY_KIND_LIST:
        if (a->u.list.len != b->u.list.len)
            return 0;
        for (size_t i = 0; i < a->u.list.len; i++)
            if (!cd_value_equal(a->u.list.items[i], b->u.list.items[i]))
                return 0;
        return 1;
    case COMFY_KIND_MAP:
        if (a->u.map.len != b->u.map.len)
            return 0;
        for (size_t i = 0; i < a->u.map.len; i++) {
            if (strcmp(a->u.map.keys[i], b->u.map.keys[i]) != 0 ||
                !cd_value_equal(a->u.map.vals[i], b->u.map.vals[i]))
                return 0;
        }
        return 1;
    }
    return 0;
}

/* ---- the comfy_host members ------------------------------------------------ */

static comfy_value *h_none(comfy_host_ctx *c) { (void)c; return cd_value_none(); }
static comfy_value *h_int(comfy_host_ctx *c, int64_t v) { (void)c; return cd_value_int(v); }
static comfy_value *h_uint(comfy_host_ctx *c, uint64_t v) { (void)c; return cd_value_uint(v); }
static comfy_value *h_float(comfy_host_ctx *c, double v) { (void)c; return cd_value_float(v); }
static comfy_value *h_bool(comfy_host_ctx *c, int v) { (void)c; return cd_value_bool(v); }
static comfy_value *h_string(comfy_host_ctx *c, const char *s, size_t n)
{
    (void)c;
    return cd_value_string(s, n);
}
static comfy_value *h_tensor(comfy_host_ctx *c, comfy_tensor *t)
{
    (void)c;
    return cd_value_tensor(t);
}
static comfy_value *h_list(comfy_host_ctx *c) { (void)c; return cd_value_list(); }
static comfy_value *h_map(comfy_host_ctx *c) { (void)c; return cd_value_map(); }
static comfy_value *h_object(comfy_host_ctx *c, const char *type_name,
                             const void *iface, void *self, comfy_free_fn destroy)
{
    (void)c;
    return cd_value_object(type_name, iface, self, destroy);
}
static comfy_tensor *h_tensor_new(comfy_host_ctx *c, int dtype, int ndim,
                                  const int64_t *shape)
{
    (void)c;
    return cd_tensor_new(dtype, ndim, shape);
}
static comfy_tensor *h_tensor_wrap(comfy_host_ctx *c, int dtype, int ndim,
                                   const int64_t *shape, const int64_t *strides,
                                   void *data, comfy_free_fn release, void *user)
{
    (void)c;
    return cd_tensor_wrap(dtype, ndim, shape, strides, data, release, user);
}

void cd_value_fill_host(comfy_host *h)
{
    h->value_none = h_none;
    h->value_int = h_int;
    h->value_uint = h_uint;
    h->value_float = h_float;
    h->value_bool = h_bool;
    h->value_string = h_string;
    h->value_tensor = h_tensor;
    h->value_list = h_list;
    h->value_map = h_map;
    h->value_object = h_object;
    h->list_append = cd_list_append;
    h->map_set = cd_map_set;
    h->value_kind = cd_value_kind;
    h->value_get_int = cd_value_get_int;
    h->value_get_uint = cd_value_get_uint;
    h->value_get_float = cd_value_get_float;
    h->value_get_bool = cd_value_get_bool;
    h->value_get_string = cd_value_get_string;
    h->value_get_tensor = cd_value_get_tensor;
    h->list_len = cd_list_len;
    h->list_get = cd_list_get;
    h->map_len = cd_map_len;
    h->map_key = cd_map_key;
    h->map_value = cd_map_value;
    h->map_get = cd_map_get;
    h->value_get_object = cd_value_get_object;
    h->value_type_name = cd_value_type_name;
    h->value_retain = cd_value_retain;
    h->value_release = cd_value_release;
    h->tensor_new = h_tensor_new;
    h->tensor_wrap = h_tensor_wrap;
    h->tensor_retain = cd_tensor_retain;
    h->tensor_release = cd_tensor_release;
    h->dtype_size = cd_dtype_size;
    h->tensor_numel = cd_tensor_numel;
    h->tensor_is_contiguous = cd_tensor_is_contiguous;
}
