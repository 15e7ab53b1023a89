/* runtime_values: comfy_value and comfy_tensor through the host table. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "pyjson.h"
#include "value.h"

static int freed_count;
static void on_free(void *user)
{
    freed_count++;
    (void)user;
}

static char *to_text(const comfy_value *v)
{
    struct json_object *j = cd_value_to_json(v);
    char *s = cd_json_to_string(j, 1 << 20);
    json_object_put(j);
    return s;
}

int main(void)
{
    comfy_host h = {.size = sizeof h};
    cd_value_fill_host(&h);
    comfy_host_ctx *ctx = NULL;

    /* Scalars and their accessors. */
    comfy_value *i = h.value_int(ctx, -5);
    int64_t iv = 0;
    uint64_t uv = 0;
    double dv = 0;
    int bv = 0;
    CHECK_INT(h.value_kind(i), COMFY_KIND_INT);
    CHECK(h.value_get_int(i, &iv) == COMFY_OK && iv == -5);
    CHECK(h.value_get_uint(i, &uv) == COMFY_ETYPE);
    CHECK(h.value_get_float(i, &dv) == COMFY_OK && dv == -5.0);
    CHECK(h.value_get_bool(i, &bv) == COMFY_ETYPE);
    comfy_value *big = h.value_uint(ctx, UINT64_MAX);
    CHECK(h.value_get_uint(big, &uv) == COMFY_OK && uv == UINT64_MAX);
    CHECK(h.value_get_int(big, &iv) == COMFY_ETYPE);
    comfy_value *small_u = h.value_uint(ctx, 7);
    CHECK(h.value_get_int(small_u, &iv) == COMFY_OK && iv == 7);
    comfy_value *b = h.value_bool(ctx, 2);
    CHECK(h.value_get_bool(b, &bv) == COMFY_OK && bv == 1);
    CHECK(h.value_get_int(b, &iv) == COMFY_ETYPE); /* a BOOL is not an INT */
    comfy_value *f = h.value_float(ctx, 0.25);
    CHECK(h.value_get_float(f, &dv) == COMFY_OK && dv == 0.25);
    CHECK(h.value_get_int(f, &iv) == COMFY_ETYPE);
    comfy_value *s = h.value_string(ctx, "hello world", 5);
    CHECK_STR(h.value_get_string(s), "hello");
    CHECK(h.value_get_string(i) == NULL);
    CHECK_INT(h.value_kind(NULL), COMFY_KIND_NONE);

    /* Lists and maps (insertion order, in-place replace). */
    comfy_value *m = h.value_map(ctx);
    CHECK(h.map_set(m, "z", h.value_retain(i)) == COMFY_OK);
    CHECK(h.map_set(m, "a", h.value_retain(s)) == COMFY_OK);
    CHECK(h.map_set(m, "z", h.value_retain(big)) == COMFY_OK);
    CHECK_INT(h.map_len(m), 2);
    CHECK_STR(h.map_key(m, 0), "z");
    CHECK(h.map_get(m, "z") == big);
    CHECK(h.map_get(m, "nope") == NULL);
    comfy_value *l = h.value_list(ctx);
    CHECK(h.list_append(l, h.value_retain(f)) == COMFY_OK);
    CHECK(h.list_append(l, h.value_none(ctx)) == COMFY_OK);
    CHECK(h.list_append(l, h.value_retain(b)) == COMFY_OK);
    CHECK(h.list_append(l, h.value_retain(m)) == COMFY_OK);
    CHECK_INT(h.list_len(l), 4);
    CHECK(h.list_get(l, 0) == f && h.list_get(l, 9) == NULL);
    CHECK(h.list_append(i, h.value_none(ctx)) == COMFY_EINVAL); /* not a list */
    char *txt = to_text(l);
    CHECK_STR(txt, "[0.25, null, true, {\"z\": 18446744073709551615, \"a\": \"hello\"}]");
    free(txt);

    /* JSON in and out, equality. */
    char err[64];
    const char *doc = "{\"seed\": 18446744073709551615, \"cfg\": 8.0, \"n\": [1, -2], "
                      "\"s\": \"\\u00e9\", \"b\": false, \"x\": null}";
    struct json_object *j = cd_json_parse(doc, strlen(doc), 16, err, sizeof err);
    comfy_value *fromj = cd_value_from_json(j);
    json_object_put(j);
    txt = to_text(fromj);
    CHECK_STR(txt, "{\"seed\": 18446744073709551615, \"cfg\": 8.0, \"n\": [1, -2], "
                   "\"s\": \"\\u00e9\", \"b\": false, \"x\": null}");
    free(txt);
    j = cd_json_parse(doc, strlen(doc), 16, err, sizeof err);
    comfy_value *fromj2 = cd_value_from_json(j);
    json_object_put(j);
    CHECK(cd_value_equal(fromj, fromj2));
    CHECK(h.map_set(fromj2, "cfg", h.value_float(ctx, 8.5)) == COMFY_OK);
    CHECK(!cd_value_equal(fromj, fromj2));
    CHECK(!cd_value_equal(h.map_get(fromj, "seed"), i));
    comfy_value *one_i = h.value_int(ctx, 1), *one_f = h.value_float(ctx, 1.0);
    CHECK(!cd_value_equal(one_i, one_f)); /* kinds differ, as Python's cache keys */
    h.value_release(one_i);
    h.value_release(one_f);

    /* Tensors. */
    int64_t shape[4] = {2, 3, 5, 3};
    comfy_tensor *t = h.tensor_new(ctx, COMFY_F32, 4, shape);
    CHECK(t != NULL);
    CHECK(((uintptr_t)t->data % 64) == 0);
    CHECK_INT(h.tensor_numel(t), 90);
    CHECK(t->strides[0] == 45 && t->strides[3] == 1);
    CHECK(h.tensor_is_contiguous(t));
    float *px = t->data;
    int zero = 1;
    for (int k = 0; k < 90; k++)
        zero &= px[k] == 0.0f;
    CHECK(zero);
    CHECK(cd_tensor_bytes_live() >= 90 * 4);
    comfy_value *tv = h.value_tensor(ctx, h.tensor_retain(t));
    CHECK(h.value_get_tensor(tv) == t);
    txt = to_text(tv);
    CHECK_STR(txt, "\"<tensor float32 [2, 3, 5, 3]>\"");
    free(txt);
    h.value_release(tv);
    h.tensor_release(t);
    CHECK_INT(cd_tensor_bytes_live(), 0);

    /* A large tensor (its own mapping): aligned, zeroed, writable, and
     * accounted until released. */
    int64_t big_shape[3] = {3, 256, 257};
    comfy_tensor *bigt = h.tensor_new(ctx, COMFY_F32, 3, big_shape);
    CHECK(bigt != NULL);
    if (bigt) {
        CHECK(((uintptr_t)bigt->data % 64) == 0);
        float *bp = bigt->data;
        int bz = 1;
        for (int64_t k = 0; k < 3 * 256 * 257; k++)
            bz &= bp[k] == 0.0f;
        CHECK(bz);
        bp[3 * 256 * 257 - 1] = 1.5f;
        CHECK(cd_tensor_bytes_live() >= 3 * 256 * 257 * 4);
        h.tensor_release(bigt);
    }
    CHECK_INT(cd_tensor_bytes_live(), 0);

    int64_t bad1[2] = {-1, 4}, bad2[3] = {INT64_MAX, INT64_MAX, 2},
            bad3[2] = {1 << 30, 1 << 30}, zero_shape[2] = {0, 7};
    CHECK(h.tensor_new(ctx, COMFY_F32, 2, bad1) == NULL);
    CHECK(h.tensor_new(ctx, COMFY_F32, 3, bad2) == NULL);
    CHECK(h.tensor_new(ctx, COMFY_F32, 2, bad3) == NULL); /* 4 EiB */
    CHECK(h.tensor_new(ctx, 99, 2, zero_shape) == NULL);
    CHECK(h.tensor_new(ctx, COMFY_F32, 9, shape) == NULL);
    comfy_tensor *z = h.tensor_new(ctx, COMFY_U8, 2, zero_shape);
    CHECK(z && h.tensor_numel(z) == 0);
    h.tensor_release(z);
    comfy_tensor *scalar = h.tensor_new(ctx, COMFY_F64, 0, NULL);
    CHECK(scalar && h.tensor_numel(scalar) == 1);
    h.tensor_release(scalar);
    CHECK_INT(h.dtype_size(COMFY_BF16), 2);
    CHECK_INT(h.dtype_size(COMFY_I64), 8);
    CHECK_INT(h.dtype_size(-1), 0);

    /* Wrapped memory: release runs once, with the last reference. */
    static float mem[12];
    int64_t ws[2] = {3, 4}, wstr[2] = {1, 3};
    comfy_tensor *w = h.tensor_wrap(ctx, COMFY_F32, 2, ws, wstr, mem, on_free, NULL);
    CHECK(w && w->data == mem && !h.tensor_is_contiguous(w));
    h.tensor_retain(w);
    h.tensor_release(w);
    CHECK_INT(freed_count, 0);
    h.tensor_release(w);
    CHECK_INT(freed_count, 1);
    CHECK(h.tensor_wrap(ctx, COMFY_F32, 2, ws, NULL, NULL, NULL, NULL) == NULL);

    /* Objects: destroy with the last reference; type checks. */
    static const int iface = 1;
    int self = 0;
    comfy_value *o = h.value_object(ctx, "MODEL", &iface, &self, on_free);
    const void *gi = NULL;
    void *gs = NULL;
    CHECK(h.value_get_object(o, "MODEL", &gi, &gs) == COMFY_OK && gi == &iface && gs == &self);
    CHECK(h.value_get_object(o, "VAE", &gi, &gs) == COMFY_ETYPE);
    CHECK_STR(h.value_type_name(o), "MODEL");
    comfy_value *holder = h.value_list(ctx);
    h.list_append(holder, h.value_retain(o));
    h.value_release(o);
    CHECK_INT(freed_count, 1);
    h.value_release(holder);
    CHECK_INT(freed_count, 2);

    h.value_release(i);
    h.value_release(big);
    h.value_release(small_u);
    h.value_release(b);
    h.value_release(f);
    h.value_release(s);
    h.value_release(m);
    h.value_release(l);
    h.value_release(fromj);
    h.value_release(fromj2);
    h.value_release(NULL);
    h.tensor_release(NULL);
    CHECK_DONE();
}
