/* safetensors.c — validating mmap reader (see safetensors.h). */
#include "safetensors.h"
#include "model_util.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct cd_st_file {
    const unsigned char *base; /* whole file image                     */
    size_t size;
    int mapped;                /* 1: base is our mmap, unmap on close   */
    uint64_t header_len;
    const unsigned char *data; /* base + 8 + header_len                 */
    uint64_t data_len;
    cd_tensor *tensors;        /* owned, count entries, offset order    */
    size_t count;
    char *strings;             /* owned arena: names, metadata strings  */
    const char **meta;         /* owned: 2*meta_count pointers          */
    size_t meta_count;
    int has_meta;
    cd_sd index;
    int64_t mtime_ns;
};


typedef struct span {
    uint64_t begin, end;
    size_t idx;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Reads a non-negative JSON integer. */
static int get_u64(json_object *o, uint64_t *out)
{
    if (!o || json_object_get_type(o) != json_type_int)
        return -1;
    errno = 0;
    int64_t v = json_object_get_int64(o);
    if (v < 0 || (v == INT64_MAX && errno == ERANGE))
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* Parses one tensor entry into t (name filled by the caller). */
static int parse_entry(cd_st_file *f, const char *name, json_object *v, cd_tensor *t,
                       span *sp, char *err, size_t errlen)
{
    json_object *jd, *js, *jo;
    if (json_object_get_type(v) != json_type_object) {
        cd_model_set_err(err, errlen, "tensor '%s': entry is not a JSON object", name);
        return CD_MODEL_EFORMAT;
    }
    if (!json_object_object_get_ex(v, "dtype", &jd) ||
        json_object_get_type(jd) != json_type_string) {
        cd_model_set_err(err, errlen, "tensor '%s': missing or non-string \"dtype\"", name);
        return CD_MODEL_EFORMAT;
    }
    if (cd_dtype_parse(json_object_get_string(jd), &t->dtype) < 0) {
        cd_model_set_err(err, errlen, "tensor '%s': unknown dtype \"%.32s\"", name,
                         json_object_get_string(jd));
        return CD_MODEL_EUNSUPPORTED;
    }
    if (!json_object_object_get_ex(v, "shape", &js) ||
        json_object_get_type(js) != json_type_array) {
        cd_model_set_err(err, errlen, "tensor '%s': missing or non-array \"shape\"", name);
        return CD_MODEL_EFORMAT;
    }
    size_t nd = json_object_array_length(js);
    if (nd > CD_MAX_DIMS) {
        cd_model_set_err(err, errlen, "tensor '%s': %zu dimensions (at most %d)", name, nd,
                         CD_MAX_DIMS);
        return CD_MODEL_EUNSUPPORTED;
    }
    t->ndim = (int)nd;
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        if (get_u64(json_object_array_get_idx(js, i), &d) < 0 || d > (uint64_t)INT64_MAX) {
            cd_model_set_err(err, errlen, "tensor '%s': shape[%zu] is not a non-negative integer",
                             name, i);
            return CD_MODEL_EFORMAT;
        }
        t->shape[i] = (int64_t)d;
        if (d && numel > UINT64_MAX / d)
            overflow = 1;
        numel *= d;
    }
    if (!json_object_object_get_ex(v, "data_offsets", &jo) ||
        json_object_get_type(jo) != json_type_array || json_object_array_length(jo) != 2) {
        cd_model_set_err(err, errlen, "tensor '%s': \"data_offsets\" is not a [begin, end] pair",
                         name);
        return CD_MODEL_EFORMAT;
    }
    uint64_t b, e;
    if (get_u64(json_object_array_get_idx(jo, 0), &b) < 0 ||
        get_u64(json_object_array_get_idx(jo, 1), &e) < 0) {
        cd_model_set_err(err, errlen, "tensor '%s': data_offsets are not non-negative integers",
                         name);
        return CD_MODEL_EFORMAT;
    }
    if (b > e || e > f->data_len) {
        cd_model_set_err(err, errlen,
                         "tensor '%s': data_offsets [%llu, %llu] outside the data region "
                         "(%llu bytes)",
                         name, (unsigned long long)b, (unsigned long long)e,
                         (unsigned long long)f->data_len);
        return CD_MODEL_EFORMAT;
    }
    size_t es = cd_dtype_size(t->dtype);
    if (overflow || numel > UINT64_MAX / es || numel * es != e - b) {
        cd_model_set_err(err, errlen,
                         "tensor '%s': shape x %s size does not match its %llu data bytes", name,
                         cd_dtype_name(t->dtype), (unsigned long long)(e - b));
        return CD_MODEL_EFORMAT;
    }
    t->data = f->data + b;
    t->nbytes = e - b;
    sp->begin = b;
    sp->end = e;
    return 0;
}

static char *arena_put(char **cur, const char *s, size_t n)
{
    char *r = *cur;
    memcpy(r, s, n);
    r[n] = 0;
    *cur += n + 1;
    return r;
}

/* Validates the image in f (base/size set) and fills the tables. */
static int parse(cd_st_file *f, char *err, size_t errlen)
{
    int rc = CD_MODEL_EFORMAT;
    json_tokener *tok = NULL;
    json_object *root = NULL;
    span *spans = NULL;

    if (f->size < 8) {
        cd_model_set_err(err, errlen, "file too short for a safetensors header (%zu bytes)",
                         f->size);
        return CD_MODEL_EFORMAT;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | f->base[i];
    if (n > CD_ST_MAX_HEADER) {
        cd_model_set_err(err, errlen, "header length %llu exceeds the %u-byte limit",
                         (unsigned long long)n, CD_ST_MAX_HEADER);
        return CD_MODEL_EFORMAT;
    }
    if (n > f->size - 8) {
        cd_model_set_err(err, errlen,
                         "header length %llu runs past the end of the file (%zu bytes)",
                         (unsigned long long)n, f->size);
        return CD_MODEL_EFORMAT;
    }
    if (n < 2 || f->base[8] != '{') {
        cd_model_set_err(err, errlen, "header does not start with a JSON object");
        return CD_MODEL_EFORMAT;
    }
    if (memchr(f->base + 8, 0, n)) {
        cd_model_set_err(err, errlen, "header contains a NUL byte");
        return CD_MODEL_EFORMAT;
    }
    f->header_len = n;
    f->data = f->base + 8 + n;
    f->data_len = f->size - 8 - n;

    tok = json_tokener_new_ex(CD_ST_JSON_DEPTH);
    if (!tok) {
        rc = CD_MODEL_ENOMEM;
        goto out;
    }
    root = json_tokener_parse_ex(tok, (const char *)f->base + 8, (int)n);
    enum json_tokener_error je = json_tokener_get_error(tok);
    if (!root || je != json_tokener_success) {
        cd_model_set_err(err, errlen, "header JSON is invalid: %s",
                         je == json_tokener_continue ? "unexpected end of header"
                                                     : json_tokener_error_desc(je));
        goto out;
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < n; i++) {
        char c = (char)f->base[8 + i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            cd_model_set_err(err, errlen, "header has trailing bytes after the JSON object");
            goto out;
        }
    }
    if (json_object_get_type(root) != json_type_object) {
        cd_model_set_err(err, errlen, "header JSON is not an object");
        goto out;
    }

    /* Size the arena and tables. */
    size_t nt = 0, strbytes = 0, nmeta = 0;
    json_object_object_foreach(root, k0, v0) {
        size_t kl = strlen(k0);
        if (strcmp(k0, "__metadata__") == 0) {
            if (json_object_get_type(v0) != json_type_object) {
                cd_model_set_err(err, errlen, "__metadata__ is not a JSON object");
                goto out;
            }
            json_object_object_foreach(v0, mk, mv) {
                if (json_object_get_type(mv) != json_type_string) {
                    cd_model_set_err(err, errlen, "__metadata__ value for '%.64s' is not a string",
                                     mk);
                    goto out;
                }
                strbytes += strlen(mk) + 1 + (size_t)json_object_get_string_len(mv) + 1;
                nmeta++;
            }
            f->has_meta = 1;
            continue;
        }
        if (kl == 0 || kl > CD_ST_MAX_NAME) {
            cd_model_set_err(err, errlen, "tensor name of %zu bytes (1..%d allowed)", kl,
                             CD_ST_MAX_NAME);
            goto out;
        }
        strbytes += kl + 1;
        nt++;
    }
    f->tensors = calloc(nt ? nt : 1, sizeof *f->tensors);
    spans = calloc(nt ? nt : 1, sizeof *spans);
    f->strings = malloc(strbytes ? strbytes : 1);
    f->meta = calloc(nmeta ? 2 * nmeta : 1, sizeof *f->meta);
    if (!f->tensors || !spans || !f->strings || !f->meta) {
        rc = CD_MODEL_ENOMEM;
        goto out;
    }
    char *cur = f->strings;
    size_t ti = 0;
    json_object_object_foreach(root, k, v) {
        if (strcmp(k, "__metadata__") == 0) {
            json_object_object_foreach(v, mk, mv) {
                f->meta[2 * f->meta_count] = arena_put(&cur, mk, strlen(mk));
                f->meta[2 * f->meta_count + 1] =
                    arena_put(&cur, json_object_get_string(mv),
                              (size_t)json_object_get_string_len(mv));
                f->meta_count++;
            }
            continue;
        }
        cd_tensor tmp;
        memset(&tmp, 0, sizeof tmp);
        int r = parse_entry(f, k, v, &tmp, &spans[ti], err, errlen);
        if (r < 0) {
            rc = r;
            goto out;
        }
        tmp.name = arena_put(&cur, k, strlen(k));
        spans[ti].idx = ti;
        f->tensors[ti++] = tmp;
    }

    /* Spans must tile the data region: sorted, each starting where the
     * previous ended, the last ending at the end of the file. */
    qsort(spans, nt, sizeof *spans, cmp_span);
    uint64_t pos = 0;
    for (size_t i = 0; i < nt; i++) {
        if (spans[i].begin < pos) {
            cd_model_set_err(err, errlen, "tensor '%s' overlaps the tensor before it",
                             f->tensors[spans[i].idx].name);
            goto out;
        }
        if (spans[i].begin > pos) {
            cd_model_set_err(err, errlen, "gap of %llu bytes in the data region before tensor '%s'",
                             (unsigned long long)(spans[i].begin - pos),
                             f->tensors[spans[i].idx].name);
            goto out;
        }
        pos = spans[i].end;
    }
    if (pos != f->data_len) {
        cd_model_set_err(err, errlen, "data region has %llu bytes but the tensors cover %llu",
                         (unsigned long long)f->data_len, (unsigned long long)pos);
        goto out;
    }
    /* Store in file order. */
    cd_tensor *ordered = malloc((nt ? nt : 1) * sizeof *ordered);
    if (!ordered) {
        rc = CD_MODEL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nt; i++)
        ordered[i] = f->tensors[spans[i].idx];
    free(f->tensors);
    f->tensors = ordered;
    f->count = nt;
    rc = cd_sd_init(&f->index, f->tensors, nt, err, errlen);
out:
    free(spans);
    if (root)
        json_object_put(root);
    if (tok)
        json_tokener_free(tok);
    return rc;
}

void cd_st_close(cd_st_file *f)
{
    if (!f)
        return;
    cd_sd_free(&f->index);
    free(f->tensors);
    free(f->strings);
    free(f->meta);
    if (f->mapped && f->base)
        munmap((void *)f->base, f->size);
    free(f);
}

int cd_st_open_mem(const void *data, size_t size, cd_st_file **out, char *err, size_t errlen)
{
    *out = NULL;
    cd_st_file *f = calloc(1, sizeof *f);
    if (!f)
        return CD_MODEL_ENOMEM;
    f->base = data;
    f->size = size;
    int rc = parse(f, err, errlen);
    if (rc < 0) {
        cd_st_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

int cd_st_open(const char *path, cd_st_file **out, char *err, size_t errlen)
{
    cd_model_map m;
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    int rc = cd_model_map_file(path, 8, "a safetensors header", &m, err, errlen);
    if (rc < 0)
        return rc;
    rc = cd_st_open_mem(m.base, m.size, out, err, errlen);
    if (rc < 0) {
        cd_model_err_prefix(err, errlen, path);
        cd_model_unmap(&m);
        return rc;
    }
    (*out)->mapped = 1;
    (*out)->mtime_ns = m.mtime_ns;
    return 0;
}

size_t cd_st_count(const cd_st_file *f) { return f->count; }

const cd_tensor *cd_st_tensor(const cd_st_file *f, size_t i)
{
    return i < f->count ? &f->tensors[i] : NULL;
}

const cd_tensor *cd_st_find(const cd_st_file *f, const char *name)
{
    return cd_sd_find(&f->index, name);
}

const cd_sd *cd_st_index(const cd_st_file *f) { return &f->index; }

size_t cd_st_metadata_count(const cd_st_file *f) { return f->meta_count; }

const char *cd_st_metadata_key(const cd_st_file *f, size_t i)
{
    return i < f->meta_count ? f->meta[2 * i] : NULL;
}

const char *cd_st_metadata_value(const cd_st_file *f, size_t i)
{
    return i < f->meta_count ? f->meta[2 * i + 1] : NULL;
}

const char *cd_st_metadata_get(const cd_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->meta_count; i++)
        if (strcmp(f->meta[2 * i], key) == 0)
            return f->meta[2 * i + 1];
    return NULL;
}

int cd_st_has_metadata(const cd_st_file *f) { return f->has_meta; }

uint64_t cd_st_file_size(const cd_st_file *f) { return f->size; }

uint64_t cd_st_header_size(const cd_st_file *f) { return f->header_len; }

void cd_st_identity(const cd_st_file *f, int64_t *mtime_ns, uint64_t *size)
{
    if (mtime_ns)
        *mtime_ns = f->mtime_ns;
    if (size)
        *size = f->size;
}

int cd_st_read_f32(const cd_st_file *f, const char *name, float *dst, size_t n)
{
    const cd_tensor *t = cd_st_find(f, name);
    if (!t)
        return CD_MODEL_ENOTFOUND;
    return cd_tensor_to_f32(t, dst, n);
}

void cd_st_prefetch(const cd_st_file *f, const cd_tensor *t)
{
    if (!f->mapped || !t->nbytes)
        return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)t->data & ~(page - 1);
    uintptr_t e = (uintptr_t)t->data + t->nbytes;
    madvise((void *)a, e - a, MADV_WILLNEED);
}
