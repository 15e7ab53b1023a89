/* pickle_ckpt.c — zip + restricted unpickler for torch.save files (see
 * pickle_ckpt.h). */
#include "pickle_ckpt.h"
#include "model_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------------ */
/* errors */


/* ------------------------------------------------------------------ */
/* zip directory */

typedef struct zentry {
    const char *name;   /* points into the central directory (not NUL-terminated) */
    size_t name_len;
    int method;
    uint64_t csize, usize;
    const unsigned char *data; /* start of the (possibly compressed) bytes */
} zentry;

typedef struct zipdir {
    zentry *e;
    size_t n;
} zipdir;

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static int zip_read(const unsigned char *b, size_t size, zipdir *z, char *err, size_t errlen)
{
    memset(z, 0, sizeof *z);
    if (size < 22)
        goto bad;
    size_t lo = size > 65557 ? size - 65557 : 0, eocd = (size_t)-1;
    for (size_t i = size - 22 + 1; i-- > lo;) {
        if (rd32(b + i) == 0x06054b50 && i + 22 + rd16(b + i + 20) == size) {
            eocd = i;
            break;
        }
    }
    if (eocd == (size_t)-1) {
        cd_model_set_err(err, errlen, "zip end-of-directory record not found (truncated file?)");
        return CD_MODEL_EFORMAT;
    }
    uint64_t count = rd16(b + eocd + 10), cd_size = rd32(b + eocd + 12),
             cd_off = rd32(b + eocd + 16);
    if (count == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        if (eocd < 20 || rd32(b + eocd - 20) != 0x07064b50)
            goto bad;
        uint64_t z64 = rd64(b + eocd - 20 + 8);
        if (size < 56 || z64 > size - 56 || rd32(b + z64) != 0x06064b50)
            goto bad;
        count = rd64(b + z64 + 32);
        cd_size = rd64(b + z64 + 40);
        cd_off = rd64(b + z64 + 48);
    }
    if (cd_off > size || cd_size > size - cd_off || count > cd_size / 46)
        goto bad;
    z->e = calloc(count ? count : 1, sizeof *z->e);
    if (!z->e)
        return CD_MODEL_ENOMEM;
    const unsigned char *p = b + cd_off, *end = b + cd_off + cd_size;
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 46 || rd32(p) != 0x02014b50)
            goto bad;
        zentry *e = &z->e[z->n];
        size_t nl = rd16(p + 28), xl = rd16(p + 30), cl = rd16(p + 32);
        if ((size_t)(end - p) < 46 + nl + xl + cl)
            goto bad;
        e->method = rd16(p + 10);
        e->csize = rd32(p + 20);
        e->usize = rd32(p + 24);
        uint64_t loff = rd32(p + 42);
        e->name = (const char *)p + 46;
        e->name_len = nl;
        /* zip64 extra field: the 0xffffffff fields in order */
        const unsigned char *x = p + 46 + nl, *xe = x + xl;
        while (xe - x >= 4) {
            size_t id = rd16(x), len = rd16(x + 2);
            if ((size_t)(xe - x - 4) < len)
                goto bad;
            if (id == 1) {
                const unsigned char *q = x + 4, *qe = x + 4 + len;
                if (e->usize == 0xffffffffu) {
                    if (qe - q < 8)
                        goto bad;
                    e->usize = rd64(q), q += 8;
                }
                if (e->csize == 0xffffffffu) {
                    if (qe - q < 8)
                        goto bad;
                    e->csize = rd64(q), q += 8;
                }
                if (loff == 0xffffffffu) {
                    if (qe - q < 8)
                        goto bad;
                    loff = rd64(q);
                }
            }
            x += 4 + len;
        }
        if (loff > size || size - loff < 30 || rd32(b + loff) != 0x04034b50)
            goto bad;
        uint64_t doff = loff + 30 + rd16(b + loff + 26) + rd16(b + loff + 28);
        if (doff > size || e->csize > size - doff)
            goto bad;
        e->data = b + doff;
        z->n++;
        p += 46 + nl + xl + cl;
    }
    return 0;
bad:
    free(z->e);
    z->e = NULL;
    cd_model_set_err(err, errlen, "zip directory is malformed or points outside the file");
    return CD_MODEL_EFORMAT;
}

static const zentry *zip_find(const zipdir *z, const char *prefix, const char *name)
{
    size_t pl = strlen(prefix), nl = strlen(name);
    for (size_t i = 0; i < z->n; i++) {
        const zentry *e = &z->e[i];
        if (e->name_len == pl + nl && memcmp(e->name, prefix, pl) == 0 &&
            memcmp(e->name + pl, name, nl) == 0)
            return e;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* pickle objects */

enum otype { O_NONE, O_BOOL, O_INT, O_FLOAT, O_STR, O_TUPLE, O_LIST, O_DICT, O_GLOBAL,
             O_STORAGE, O_TENSOR, O_OPAQUE };

/* G_OPAQUE: the extra globals ComfyUI allows for training checkpoints
 * (Lightning's ModelCheckpoint callback, numpy scalars and dtypes): they
 * may be constructed, but only into an opaque value nothing can use. */
enum gkind { G_ODICT, G_REBUILD_TENSOR, G_REBUILD_PARAM, G_STORAGE, G_SIZE, G_ENCODE, G_OPAQUE };

typedef struct obj obj;
struct obj {
    enum otype t;
    int64_t i;            /* INT, BOOL; GLOBAL kind                       */
    double f;
    char *s;              /* STR (NUL-terminated, len in n)               */
    size_t n;             /* STR length; TUPLE/LIST/DICT item count       */
    size_t cap;
    obj **items;          /* TUPLE/LIST: n; DICT: 2n (key, value)         */
    cd_dtype dt;          /* GLOBAL storage type, STORAGE, TENSOR         */
    const unsigned char *data; /* STORAGE bytes                           */
    uint64_t nbytes;
    obj *storage;         /* TENSOR                                       */
    int64_t offset;
    int ndim;
    int64_t shape[CD_MAX_DIMS], stride[CD_MAX_DIMS];
};

typedef struct vm {
    const unsigned char *p, *end, *start;
    obj **all;            /* every object, for freeing */
    size_t nall, capall;
    obj **stack;
    size_t sp, capstack;
    size_t *marks;
    size_t nmarks, capmarks;
    obj **memo;
    size_t nmemo;         /* size of memo array (indices < nmemo valid if non-NULL) */
    const zipdir *zip;
    const char *prefix;   /* "<archive>/" */
    char *err;
    size_t errlen;
} vm;

static obj *mk(vm *v, enum otype t)
{
    if (v->nall >= CD_CKPT_MAX_OBJECTS)
        return NULL;
    if (v->nall == v->capall) {
        size_t nc = v->capall ? 2 * v->capall : 1024;
        obj **na = realloc(v->all, nc * sizeof *na);
        if (!na)
            return NULL;
        v->all = na;
        v->capall = nc;
    }
    obj *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->t = t;
    v->all[v->nall++] = o;
    return o;
}

static int add_item(obj *c, obj *x)
{
    if (c->n >= CD_CKPT_MAX_OBJECTS)
        return -1;
    size_t need = c->t == O_DICT ? 2 * (c->n + 1) : c->n + 1;
    if (need > c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 8;
        while (nc < need)
            nc *= 2;
        obj **ni = realloc(c->items, nc * sizeof *ni);
        if (!ni)
            return -1;
        c->items = ni;
        c->cap = nc;
    }
    c->items[c->n++] = x;
    return 0;
}

static int dict_set(obj *d, obj *k, obj *val)
{
    /* keys are strings in state dicts; a repeated key replaces the value */
    if (k->t == O_STR) {
        for (size_t i = 0; i < d->n; i++) {
            obj *kk = d->items[2 * i];
            if (kk->t == O_STR && kk->n == k->n && memcmp(kk->s, k->s, k->n) == 0) {
                d->items[2 * i + 1] = val;
                return 0;
            }
        }
    }
    size_t need = 2 * (d->n + 1);
    if (need > d->cap) {
        size_t nc = d->cap ? 2 * d->cap : 16;
        obj **ni = realloc(d->items, nc * sizeof *ni);
        if (!ni)
            return -1;
        d->items = ni;
        d->cap = nc;
    }
    d->items[2 * d->n] = k;
    d->items[2 * d->n + 1] = val;
    d->n++;
    return 0;
}

static obj *dict_get(const obj *d, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < d->n; i++) {
        obj *k = d->items[2 * i];
        if (k->t == O_STR && k->n == kl && memcmp(k->s, key, kl) == 0)
            return d->items[2 * i + 1];
    }
    return NULL;
}

static int push(vm *v, obj *o)
{
    if (!o)
        return -1;
    if (v->sp == v->capstack) {
        size_t nc = v->capstack ? 2 * v->capstack : 256;
        if (nc > CD_CKPT_MAX_STACK)
            return -1;
        obj **ns = realloc(v->stack, nc * sizeof *ns);
        if (!ns)
            return -1;
        v->stack = ns;
        v->capstack = nc;
    }
    v->stack[v->sp++] = o;
    return 0;
}

/* ------------------------------------------------------------------ */
/* allowed globals */

static const struct {
    const char *mod, *name;
    enum gkind kind;
    cd_dtype dt;
} globals[] = {
    {"collections", "OrderedDict", G_ODICT, 0},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR, 0},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAM, 0},
    {"torch", "Size", G_SIZE, 0},
    {"_codecs", "encode", G_ENCODE, 0},
    {"torch", "FloatStorage", G_STORAGE, CD_DT_F32},
    {"torch", "HalfStorage", G_STORAGE, CD_DT_F16},
    {"torch", "BFloat16Storage", G_STORAGE, CD_DT_BF16},
    {"torch", "DoubleStorage", G_STORAGE, CD_DT_F64},
    {"torch", "LongStorage", G_STORAGE, CD_DT_I64},
    {"torch", "IntStorage", G_STORAGE, CD_DT_I32},
    {"torch", "ShortStorage", G_STORAGE, CD_DT_I16},
    {"torch", "CharStorage", G_STORAGE, CD_DT_I8},
    {"torch", "ByteStorage", G_STORAGE, CD_DT_U8},
    {"torch", "BoolStorage", G_STORAGE, CD_DT_BOOL},
    {"torch", "Float8_e4m3fnStorage", G_STORAGE, CD_DT_F8_E4M3},
    {"torch", "Float8_e5m2Storage", G_STORAGE, CD_DT_F8_E5M2},
    {"pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint", G_OPAQUE, 0},
    {"numpy.core.multiarray", "scalar", G_OPAQUE, 0},
    {"numpy", "dtype", G_OPAQUE, 0},
    {"numpy.dtypes", "Float64DType", G_OPAQUE, 0},
};

static obj *make_global(vm *v, const char *mod, size_t ml, const char *name, size_t nl)
{
    for (size_t i = 0; i < sizeof globals / sizeof *globals; i++) {
        if (strlen(globals[i].mod) == ml && memcmp(globals[i].mod, mod, ml) == 0 &&
            strlen(globals[i].name) == nl && memcmp(globals[i].name, name, nl) == 0) {
            obj *o = mk(v, O_GLOBAL);
            if (o) {
                o->i = globals[i].kind;
                o->dt = globals[i].dt;
            }
            return o;
        }
    }
    cd_model_set_err(v->err, v->errlen,
                     "refusing to load global '%.*s.%.*s': a checkpoint may contain only "
                     "tensors, dicts, lists, numbers and strings",
                     (int)(ml > 100 ? 100 : ml), mod, (int)(nl > 100 ? 100 : nl), name);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* REDUCE, BINPERSID */

static int as_int(const obj *o, int64_t *out)
{
    if (o->t != O_INT && o->t != O_BOOL)
        return -1;
    *out = o->i;
    return 0;
}

static obj *rebuild_tensor(vm *v, obj *args)
{
    if (args->t != O_TUPLE || args->n < 4 || args->items[0]->t != O_STORAGE ||
        args->items[2]->t != O_TUPLE || args->items[3]->t != O_TUPLE) {
        cd_model_set_err(v->err, v->errlen, "_rebuild_tensor_v2 called with unexpected arguments");
        return NULL;
    }
    obj *st = args->items[0], *size = args->items[2], *stride = args->items[3];
    int64_t off;
    if (as_int(args->items[1], &off) < 0 || off < 0 || size->n != stride->n ||
        size->n > CD_MAX_DIMS) {
        cd_model_set_err(v->err, v->errlen, "tensor with a bad offset, rank or stride list");
        return NULL;
    }
    obj *t = mk(v, O_TENSOR);
    if (!t)
        return NULL;
    t->storage = st;
    t->dt = st->dt;
    t->offset = off;
    t->ndim = (int)size->n;
    /* the largest element index reached, to bound-check against the storage */
    uint64_t maxi = (uint64_t)off, numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (as_int(size->items[i], &t->shape[i]) < 0 || as_int(stride->items[i], &t->stride[i]) < 0 ||
            t->shape[i] < 0 || t->stride[i] < 0 || t->shape[i] > ((int64_t)1 << 40) ||
            t->stride[i] > ((int64_t)1 << 40)) {
            cd_model_set_err(v->err, v->errlen, "tensor with a bad size or stride");
            return NULL;
        }
        numel *= (uint64_t)t->shape[i];
        if (numel > ((uint64_t)1 << 40)) {
            cd_model_set_err(v->err, v->errlen, "tensor too large");
            return NULL;
        }
    }
    if (numel) {
        for (int i = 0; i < t->ndim; i++)
            maxi += (uint64_t)(t->shape[i] - 1) * (uint64_t)t->stride[i];
        size_t es = cd_dtype_size(st->dt);
        if (maxi >= st->nbytes / es) {
            cd_model_set_err(v->err, v->errlen, "tensor reaches past the end of its storage");
            return NULL;
        }
    }
    return t;
}

static obj *reduce(vm *v, obj *fn, obj *args)
{
    if (fn->t != O_GLOBAL || args->t != O_TUPLE) {
        cd_model_set_err(v->err, v->errlen, "REDUCE on something that is not an allowed global");
        return NULL;
    }
    switch ((enum gkind)fn->i) {
    case G_ODICT:
        if (args->n != 0) {
            cd_model_set_err(v->err, v->errlen, "OrderedDict called with arguments");
            return NULL;
        }
        return mk(v, O_DICT);
    case G_REBUILD_TENSOR:
        return rebuild_tensor(v, args);
    case G_REBUILD_PARAM:
        if (args->n < 1 || args->items[0]->t != O_TENSOR) {
            cd_model_set_err(v->err, v->errlen, "_rebuild_parameter without a tensor");
            return NULL;
        }
        return args->items[0];
    case G_SIZE:
        if (args->n != 1 || args->items[0]->t != O_TUPLE) {
            cd_model_set_err(v->err, v->errlen, "torch.Size with unexpected arguments");
            return NULL;
        }
        return args->items[0];
    case G_OPAQUE:
        return mk(v, O_OPAQUE);
    case G_ENCODE:
        if (args->n < 1 || args->items[0]->t != O_STR) {
            cd_model_set_err(v->err, v->errlen, "_codecs.encode with unexpected arguments");
            return NULL;
        }
        return args->items[0];
    default:
        cd_model_set_err(v->err, v->errlen, "a storage type cannot be called");
        return NULL;
    }
}

static obj *persistent_load(vm *v, obj *pid)
{
    int64_t numel;
    if (pid->t != O_TUPLE || pid->n < 5 || pid->items[0]->t != O_STR ||
        strcmp(pid->items[0]->s, "storage") != 0 || pid->items[1]->t != O_GLOBAL ||
        pid->items[1]->i != G_STORAGE || pid->items[2]->t != O_STR ||
        as_int(pid->items[4], &numel) < 0 || numel < 0) {
        cd_model_set_err(v->err, v->errlen,
                         "unsupported persistent id (only tensor storages are read)");
        return NULL;
    }
    char name[300];
    snprintf(name, sizeof name, "data/%s", pid->items[2]->s);
    const zentry *e = zip_find(v->zip, v->prefix, name);
    if (!e) {
        cd_model_set_err(v->err, v->errlen, "storage '%.100s' is missing from the archive",
                         pid->items[2]->s);
        return NULL;
    }
    if (e->method != 0) {
        cd_model_set_err(v->err, v->errlen, "storage '%.100s' is compressed; only stored entries "
                                            "are read", pid->items[2]->s);
        return NULL;
    }
    size_t es = cd_dtype_size(pid->items[1]->dt);
    if ((uint64_t)numel > e->usize / es || e->usize != e->csize) {
        cd_model_set_err(v->err, v->errlen, "storage '%.100s' is smaller than its %lld elements",
                         pid->items[2]->s, (long long)numel);
        return NULL;
    }
    obj *s = mk(v, O_STORAGE);
    if (!s)
        return NULL;
    s->dt = pid->items[1]->dt;
    s->data = e->data;
    s->nbytes = (uint64_t)numel * es;
    return s;
}

/* ------------------------------------------------------------------ */
/* the VM */

#define NEED(k)                                                                   \
    do {                                                                          \
        if ((size_t)(v->end - v->p) < (size_t)(k))                                \
            goto truncated;                                                       \
    } while (0)

static obj *pop(vm *v)
{
    if (v->sp == 0 || (v->nmarks && v->sp <= v->marks[v->nmarks - 1]))
        return NULL;
    return v->stack[--v->sp];
}

static int pop_mark(vm *v, size_t *at)
{
    if (!v->nmarks)
        return -1;
    *at = v->marks[--v->nmarks];
    return 0;
}

static obj *make_str(vm *v, const unsigned char *s, size_t n)
{
    obj *o = mk(v, O_STR);
    if (!o)
        return NULL;
    o->s = malloc(n + 1);
    if (!o->s)
        return NULL;
    memcpy(o->s, s, n);
    o->s[n] = 0;
    o->n = n;
    return o;
}

static int memo_put(vm *v, uint64_t idx, obj *o)
{
    if (!o || idx >= CD_CKPT_MAX_STACK)
        return -1;
    if (idx >= v->nmemo) {
        size_t nc = v->nmemo ? v->nmemo : 256;
        while (nc <= idx)
            nc *= 2;
        obj **nm = realloc(v->memo, nc * sizeof *nm);
        if (!nm)
            return -1;
        memset(nm + v->nmemo, 0, (nc - v->nmemo) * sizeof *nm);
        v->memo = nm;
        v->nmemo = nc;
    }
    v->memo[idx] = o;
    return 0;
}

static obj *run(vm *v)
{
    uint64_t memo_next = 0; /* for MEMOIZE */
    for (;;) {
        NEED(1);
        size_t at = (size_t)(v->p - v->start);
        unsigned op = *v->p++;
        obj *o = NULL, *a, *b;
        uint64_t n;
        size_t m;
        switch (op) {
        case 0x80: NEED(1); if (*v->p > 5) goto unsupported; v->p++; continue;  /* PROTO */
        case 0x95: NEED(8); v->p += 8; continue;                              /* FRAME */
        case '.':                                                             /* STOP */
            o = pop(v);
            if (!o) {
                cd_model_set_err(v->err, v->errlen, "pickle ends with an empty stack");
                return NULL;
            }
            return o;
        case '(':                                                             /* MARK */
            if (v->nmarks == v->capmarks) {
                size_t nc = v->capmarks ? 2 * v->capmarks : 64;
                if (nc > CD_CKPT_MAX_STACK)
                    goto nomem;
                size_t *nmk = realloc(v->marks, nc * sizeof *nmk);
                if (!nmk)
                    goto nomem;
                v->marks = nmk;
                v->capmarks = nc;
            }
            v->marks[v->nmarks++] = v->sp;
            continue;
        case '}': o = mk(v, O_DICT); break;                                  /* EMPTY_DICT */
        case ']': o = mk(v, O_LIST); break;                                  /* EMPTY_LIST */
        case ')': o = mk(v, O_TUPLE); break;                                 /* EMPTY_TUPLE */
        case 'N': o = mk(v, O_NONE); break;
        case 0x88: case 0x89: o = mk(v, O_BOOL); if (o) o->i = op == 0x88; break;
        case 'J': NEED(4); o = mk(v, O_INT); if (o) o->i = (int32_t)rd32(v->p); v->p += 4; break;
        case 'K': NEED(1); o = mk(v, O_INT); if (o) o->i = *v->p; v->p += 1; break;
        case 'M': NEED(2); o = mk(v, O_INT); if (o) o->i = rd16(v->p); v->p += 2; break;
        case 0x8a: {                                                          /* LONG1 */
            NEED(1);
            m = *v->p++;
            NEED(m);
            if (m > 8) {
                cd_model_set_err(v->err, v->errlen, "integer wider than 64 bits at offset %zu", at);
                return NULL;
            }
            uint64_t u = 0;
            for (size_t i = 0; i < m; i++)
                u |= (uint64_t)v->p[i] << (8 * i);
            if (m && m < 8 && (v->p[m - 1] & 0x80))
                u |= ~(uint64_t)0 << (8 * m);
            v->p += m;
            o = mk(v, O_INT);
            if (o)
                o->i = (int64_t)u;
            break;
        }
        case 'G': {                                                           /* BINFLOAT */
            NEED(8);
            uint64_t u = 0;
            for (int i = 0; i < 8; i++)
                u = (u << 8) | v->p[i];
            v->p += 8;
            o = mk(v, O_FLOAT);
            if (o)
                memcpy(&o->f, &u, 8);
            break;
        }
        case 'X': case 'T': case 'B':                                         /* 4-byte len */
            NEED(4); n = rd32(v->p); v->p += 4; goto str;
        case 0x8c: case 'U': case 'C':                                        /* 1-byte len */
            NEED(1); n = *v->p++; goto str;
        case 0x8d: case 0x8e:                                                 /* 8-byte len */
            NEED(8); n = rd64(v->p); v->p += 8;
        str:
            NEED(n);
            o = make_str(v, v->p, (size_t)n);
            v->p += n;
            break;
        case 'c': {                                                           /* GLOBAL */
            const unsigned char *nl1 = memchr(v->p, '\n', (size_t)(v->end - v->p));
            if (!nl1)
                goto truncated;
            const unsigned char *nl2 = memchr(nl1 + 1, '\n', (size_t)(v->end - nl1 - 1));
            if (!nl2)
                goto truncated;
            o = make_global(v, (const char *)v->p, (size_t)(nl1 - v->p), (const char *)nl1 + 1,
                            (size_t)(nl2 - nl1 - 1));
            v->p = nl2 + 1;
            if (!o)
                return NULL;
            break;
        }
        case 0x93:                                                            /* STACK_GLOBAL */
            b = pop(v);
            a = pop(v);
            if (!a || !b || a->t != O_STR || b->t != O_STR)
                goto badstack;
            o = make_global(v, a->s, a->n, b->s, b->n);
            if (!o)
                return NULL;
            break;
        case 'q': NEED(1); if (!v->sp || memo_put(v, *v->p, v->stack[v->sp - 1]) < 0) goto badstack; v->p += 1; continue;
        case 'r': NEED(4); if (!v->sp || memo_put(v, rd32(v->p), v->stack[v->sp - 1]) < 0) goto badstack; v->p += 4; continue;
        case 0x94: if (!v->sp || memo_put(v, memo_next++, v->stack[v->sp - 1]) < 0) goto badstack; continue;
        case 'h': NEED(1); n = *v->p; v->p += 1; goto get;
        case 'j': NEED(4); n = rd32(v->p); v->p += 4;
        get:
            if (n >= v->nmemo || !v->memo[n]) {
                cd_model_set_err(v->err, v->errlen,
                                 "pickle reads memo entry %llu that was never stored",
                                 (unsigned long long)n);
                return NULL;
            }
            o = v->memo[n];
            break;
        case '0': if (!pop(v)) goto badstack; continue;                      /* POP */
        case '1': if (pop_mark(v, &m) < 0) goto badstack; v->sp = m; continue; /* POP_MARK */
        case '2': if (!v->sp) goto badstack; o = v->stack[v->sp - 1]; break; /* DUP */
        case 't': case 'l': {                                                 /* TUPLE, LIST */
            if (pop_mark(v, &m) < 0 || m > v->sp)
                goto badstack;
            o = mk(v, op == 't' ? O_TUPLE : O_LIST);
            if (!o)
                goto nomem;
            for (size_t i = m; i < v->sp; i++)
                if (add_item(o, v->stack[i]) < 0)
                    goto nomem;
            v->sp = m;
            break;
        }
        case 0x85: case 0x86: case 0x87: {                                    /* TUPLE1..3 */
            size_t k = op - 0x84;
            obj *it[3];
            for (size_t i = k; i-- > 0;)
                if (!(it[i] = pop(v)))
                    goto badstack;
            o = mk(v, O_TUPLE);
            if (!o)
                goto nomem;
            for (size_t i = 0; i < k; i++)
                if (add_item(o, it[i]) < 0)
                    goto nomem;
            break;
        }
        case 'a':                                                             /* APPEND */
            b = pop(v);
            if (!b || !v->sp || v->stack[v->sp - 1]->t != O_LIST)
                goto badstack;
            if (add_item(v->stack[v->sp - 1], b) < 0)
                goto nomem;
            continue;
        case 'e':                                                             /* APPENDS */
            if (pop_mark(v, &m) < 0 || m == 0 || m > v->sp || v->stack[m - 1]->t != O_LIST)
                goto badstack;
            for (size_t i = m; i < v->sp; i++)
                if (add_item(v->stack[m - 1], v->stack[i]) < 0)
                    goto nomem;
            v->sp = m;
            continue;
        case 's':                                                             /* SETITEM */
            b = pop(v);
            a = pop(v);
            if (!a || !b || !v->sp || v->stack[v->sp - 1]->t != O_DICT)
                goto badstack;
            if (dict_set(v->stack[v->sp - 1], a, b) < 0)
                goto nomem;
            continue;
        case 'u':                                                             /* SETITEMS */
            if (pop_mark(v, &m) < 0 || m == 0 || m > v->sp || (v->sp - m) % 2 ||
                v->stack[m - 1]->t != O_DICT)
                goto badstack;
            for (size_t i = m; i < v->sp; i += 2)
                if (dict_set(v->stack[m - 1], v->stack[i], v->stack[i + 1]) < 0)
                    goto nomem;
            v->sp = m;
            continue;
        case 'R':                                                             /* REDUCE */
            b = pop(v);
            a = pop(v);
            if (!a || !b)
                goto badstack;
            o = reduce(v, a, b);
            if (!o)
                return NULL;
            break;
        case 0x81:                                                            /* NEWOBJ */
            b = pop(v);
            a = pop(v);
            if (!a || !b || b->t != O_TUPLE)
                goto badstack;
            if (a->t != O_GLOBAL || a->i != G_OPAQUE) {
                cd_model_set_err(v->err, v->errlen, "NEWOBJ of a class that is not allowed");
                return NULL;
            }
            o = mk(v, O_OPAQUE);
            break;
        case 'b':                                                             /* BUILD */
            /* state of an OrderedDict (its _metadata), a parameter or an
             * opaque allowed object: ignored */
            if (!pop(v) || !v->sp)
                goto badstack;
            if (v->stack[v->sp - 1]->t != O_DICT && v->stack[v->sp - 1]->t != O_TENSOR &&
                v->stack[v->sp - 1]->t != O_OPAQUE) {
                cd_model_set_err(v->err, v->errlen,
                                 "BUILD on an object that is not a dict or tensor");
                return NULL;
            }
            continue;
        case 'Q':                                                             /* BINPERSID */
            a = pop(v);
            if (!a)
                goto badstack;
            o = persistent_load(v, a);
            if (!o)
                return NULL;
            break;
        default:
            goto unsupported;
        }
        if (push(v, o) < 0)
            goto nomem;
        continue;
    unsupported:
        cd_model_set_err(v->err, v->errlen, "unsupported pickle opcode 0x%02x at offset %zu "
                                            "(not part of a tensor state dict)", op, at);
        return NULL;
    }
truncated:
    cd_model_set_err(v->err, v->errlen, "pickle data is truncated");
    return NULL;
badstack:
    cd_model_set_err(v->err, v->errlen, "malformed pickle (stack or memo misuse)");
    return NULL;
nomem:
    cd_model_set_err(v->err, v->errlen, "pickle too large or out of memory");
    return NULL;
}

/* ------------------------------------------------------------------ */
/* file object */

struct cd_ckpt_file {
    const unsigned char *base;
    size_t size;
    int mapped;
    cd_tensor *tensors;
    size_t count;
    char *names;          /* owned arena */
    void **owned;         /* copies of non-contiguous tensors */
    size_t nowned;
    cd_sd index;
};

int cd_ckpt_sniff(const void *data, size_t size)
{
    const unsigned char *b = data;
    return size >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4;
}

void cd_ckpt_close(cd_ckpt_file *f)
{
    if (!f)
        return;
    cd_sd_free(&f->index);
    for (size_t i = 0; i < f->nowned; i++)
        free(f->owned[i]);
    free(f->owned);
    free(f->tensors);
    free(f->names);
    if (f->mapped)
        munmap((void *)f->base, f->size);
    free(f);
}

static int contiguous(const obj *t)
{
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != expect)
            return 0;
        expect *= t->shape[i];
    }
    return 1;
}

/* Copies a strided tensor into a new contiguous buffer. */
static void *gather(const obj *t, uint64_t numel)
{
    size_t es = cd_dtype_size(t->dt);
    unsigned char *out = malloc(numel ? numel * es : 1);
    int64_t idx[CD_MAX_DIMS] = {0};
    if (!out)
        return NULL;
    for (uint64_t k = 0; k < numel; k++) {
        int64_t off = t->offset;
        for (int d = 0; d < t->ndim; d++)
            off += idx[d] * t->stride[d];
        memcpy(out + k * es, t->storage->data + (uint64_t)off * es, es);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d])
                break;
            idx[d] = 0;
        }
    }
    return out;
}

static int build(cd_ckpt_file *f, char *err, size_t errlen)
{
    int rc = CD_MODEL_EFORMAT;
    zipdir z = {0};
    vm v;
    memset(&v, 0, sizeof v);
    unsigned char *inflated = NULL;

    if (f->size >= 2 && f->base[0] == 0x80 && !cd_ckpt_sniff(f->base, f->size)) {
        cd_model_set_err(err, errlen,
                         "legacy (pre-1.6, non-zip) torch serialization is not supported; "
                         "re-save the file with a current torch or as .safetensors");
        return CD_MODEL_EUNSUPPORTED;
    }
    if (!cd_ckpt_sniff(f->base, f->size)) {
        cd_model_set_err(err, errlen, "not a torch zip checkpoint");
        return CD_MODEL_EFORMAT;
    }
    rc = zip_read(f->base, f->size, &z, err, errlen);
    if (rc < 0)
        return rc;
    rc = CD_MODEL_EFORMAT;
    /* <archive>/data.pkl, the archive name being the first path component */
    const zentry *pk = NULL;
    char prefix[256] = "";
    for (size_t i = 0; i < z.n; i++) {
        const zentry *e = &z.e[i];
        const char *sl = memchr(e->name, '/', e->name_len);
        if (sl && (size_t)(e->name + e->name_len - sl) == 9 && memcmp(sl, "/data.pkl", 9) == 0 &&
            (size_t)(sl - e->name) + 2 < sizeof prefix) {
            pk = e;
            snprintf(prefix, sizeof prefix, "%.*s/", (int)(sl - e->name), e->name);
            break;
        }
    }
    if (!pk) {
        cd_model_set_err(err, errlen, "archive has no <name>/data.pkl: not a torch checkpoint");
        goto out;
    }
    if (pk->usize > CD_CKPT_MAX_PICKLE) {
        cd_model_set_err(err, errlen, "data.pkl is larger than %u bytes", CD_CKPT_MAX_PICKLE);
        goto out;
    }
    const unsigned char *pkl = pk->data;
    if (pk->method == 8) {
        inflated = malloc(pk->usize ? pk->usize : 1);
        if (!inflated) {
            rc = CD_MODEL_ENOMEM;
            goto out;
        }
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
            rc = CD_MODEL_ENOMEM;
            goto out;
        }
        zs.next_in = (unsigned char *)pk->data;
        zs.avail_in = (uInt)pk->csize;
        zs.next_out = inflated;
        zs.avail_out = (uInt)pk->usize;
        int zr = inflate(&zs, Z_FINISH);
        inflateEnd(&zs);
        if (zr != Z_STREAM_END || zs.total_out != pk->usize) {
            cd_model_set_err(err, errlen, "data.pkl does not inflate cleanly");
            goto out;
        }
        pkl = inflated;
    } else if (pk->method != 0 || pk->csize != pk->usize) {
        cd_model_set_err(err, errlen, "data.pkl uses zip method %d (only stored or deflated)",
                         pk->method);
        goto out;
    }
    v.start = v.p = pkl;
    v.end = pkl + pk->usize;
    v.zip = &z;
    v.prefix = prefix;
    v.err = err;
    v.errlen = errlen;
    obj *top = run(&v);
    if (!top) {
        rc = CD_MODEL_EFORMAT;
        goto out;
    }
    if (top->t != O_DICT) {
        cd_model_set_err(err, errlen, "checkpoint's top-level object is not a dict");
        goto out;
    }
    obj *sd = dict_get(top, "state_dict");
    if (!sd || sd->t != O_DICT) {
        sd = top;
        if (top->n == 1 && top->items[1]->t == O_DICT)
            sd = top->items[1];
    }
    size_t nt = 0, strbytes = 0;
    for (size_t i = 0; i < sd->n; i++) {
        obj *k = sd->items[2 * i], *val = sd->items[2 * i + 1];
        if (k->t == O_STR && val->t == O_TENSOR) {
            if (strlen(k->s) != k->n || k->n == 0) {
                cd_model_set_err(err, errlen, "tensor name is empty or contains a NUL byte");
                goto out;
            }
            nt++;
            strbytes += k->n + 1;
        }
    }
    f->tensors = calloc(nt ? nt : 1, sizeof *f->tensors);
    f->names = malloc(strbytes ? strbytes : 1);
    f->owned = calloc(nt ? nt : 1, sizeof *f->owned);
    if (!f->tensors || !f->names || !f->owned) {
        rc = CD_MODEL_ENOMEM;
        goto out;
    }
    char *cur = f->names;
    for (size_t i = 0; i < sd->n; i++) {
        obj *k = sd->items[2 * i], *t = sd->items[2 * i + 1];
        if (k->t != O_STR || t->t != O_TENSOR)
            continue;
        cd_tensor *ct = &f->tensors[f->count++];
        memcpy(cur, k->s, k->n + 1);
        ct->name = cur;
        cur += k->n + 1;
        ct->dtype = t->dt;
        ct->ndim = t->ndim;
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            ct->shape[d] = t->shape[d];
            numel *= (uint64_t)t->shape[d];
        }
        size_t es = cd_dtype_size(t->dt);
        ct->nbytes = numel * es;
        if (contiguous(t)) {
            ct->data = t->storage->data + (uint64_t)t->offset * es;
        } else {
            void *copy = gather(t, numel);
            if (!copy) {
                rc = CD_MODEL_ENOMEM;
                goto out;
            }
            f->owned[f->nowned++] = copy;
            ct->data = copy;
        }
    }
    rc = cd_sd_init(&f->index, f->tensors, f->count, err, errlen);
out:
    for (size_t i = 0; i < v.nall; i++) {
        free(v.all[i]->s);
        free(v.all[i]->items);
        free(v.all[i]);
    }
    free(v.all);
    free(v.stack);
    free(v.marks);
    free(v.memo);
    free(inflated);
    free(z.e);
    return rc;
}

int cd_ckpt_open_mem(const void *data, size_t size, cd_ckpt_file **out, char *err,
                     size_t errlen)
{
    *out = NULL;
    cd_ckpt_file *f = calloc(1, sizeof *f);
    if (!f)
        return CD_MODEL_ENOMEM;
    f->base = data;
    f->size = size;
    int rc = build(f, err, errlen);
    if (rc < 0) {
        cd_ckpt_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

int cd_ckpt_open(const char *path, cd_ckpt_file **out, char *err, size_t errlen)
{
    cd_model_map m;
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    int rc = cd_model_map_file(path, 4, "a checkpoint", &m, err, errlen);
    if (rc < 0)
        return rc;
    rc = cd_ckpt_open_mem(m.base, m.size, out, err, errlen);
    if (rc < 0) {
        cd_model_err_prefix(err, errlen, path);
        cd_model_unmap(&m);
        return rc;
    }
    (*out)->mapped = 1;
    return 0;
}

size_t cd_ckpt_count(const cd_ckpt_file *f) { return f->count; }

const cd_tensor *cd_ckpt_tensor(const cd_ckpt_file *f, size_t i)
{
    return i < f->count ? &f->tensors[i] : NULL;
}

const cd_tensor *cd_ckpt_find(const cd_ckpt_file *f, const char *name)
{
    return cd_sd_find(&f->index, name);
}

const cd_sd *cd_ckpt_index(const cd_ckpt_file *f) { return &f->index; }
