/*
 * value.h — the host side of comfy_value and comfy_tensor (SDK comfy.h).
 *
 * Values are immutable once shared, reference counted with atomics (the
 * network thread may serialise a cached UI value while the executor holds
 * it).  Tensors carry a host-private tail after the public comfy_tensor.
 * value.c also fills the value/tensor part of the comfy_host table.
 */
#ifndef CD_VALUE_H
#define CD_VALUE_H

#include <json-c/json.h>
#include <stdint.h>

#include "buf.h"
#include "comfy/comfy.h"

/* Constructors and accessors with the same contracts as the comfy_host
 * members of the same name (ctx may be NULL: values do not need it). */
comfy_value *cd_value_none(void);
comfy_value *cd_value_int(int64_t v);
comfy_value *cd_value_uint(uint64_t v);
comfy_value *cd_value_float(double v);
comfy_value *cd_value_bool(int v);
comfy_value *cd_value_string(const char *s, size_t len);
comfy_value *cd_value_tensor(comfy_tensor *t);          /* takes the ref */
comfy_value *cd_value_list(void);
comfy_value *cd_value_map(void);
comfy_value *cd_value_object(const char *type_name, const void *iface,
                             void *self, comfy_free_fn destroy);
int cd_list_append(comfy_value *list, comfy_value *item);  /* takes item */
int cd_map_set(comfy_value *map, const char *key, comfy_value *item);
comfy_value *cd_value_retain(const comfy_value *v);
void cd_value_release(comfy_value *v);
int cd_value_kind(const comfy_value *v);

/* Accessors with the contracts of the comfy_host members of the same name. */
int cd_value_get_int(const comfy_value *v, int64_t *out);
int cd_value_get_uint(const comfy_value *v, uint64_t *out);
int cd_value_get_float(const comfy_value *v, double *out);
int cd_value_get_bool(const comfy_value *v, int *out);
const char *cd_value_get_string(const comfy_value *v);    /* borrowed */
size_t cd_value_string_len(const comfy_value *v);         /* 0 if not */
comfy_tensor *cd_value_get_tensor(const comfy_value *v);  /* borrowed */
size_t cd_list_len(const comfy_value *list);
const comfy_value *cd_list_get(const comfy_value *list, size_t i);
size_t cd_map_len(const comfy_value *map);
const char *cd_map_key(const comfy_value *map, size_t i);
const comfy_value *cd_map_value(const comfy_value *map, size_t i);
const comfy_value *cd_map_get(const comfy_value *map, const char *key);
int cd_value_get_object(const comfy_value *v, const char *type_name,
                        const void **iface, void **self);
const char *cd_value_type_name(const comfy_value *v);

/* Tensors, with the contracts of the comfy_host members of the same name.
 * cd_tensor_new returns NULL for an invalid dtype or shape (negative
 * dimension, more than COMFY_MAX_DIMS, byte size overflowing or above
 * 1 TiB) or when memory runs out; the data is 64-byte aligned. */
comfy_tensor *cd_tensor_new(int dtype, int ndim, const int64_t *shape);
comfy_tensor *cd_tensor_wrap(int dtype, int ndim, const int64_t *shape,
                             const int64_t *strides, void *data,
                             comfy_free_fn release, void *user);
comfy_tensor *cd_tensor_retain(comfy_tensor *t);
void cd_tensor_release(comfy_tensor *t);
size_t cd_dtype_size(int dtype);
const char *cd_dtype_name(int dtype);     /* torch's name: "float32", ... */
int64_t cd_tensor_numel(const comfy_tensor *t);
int cd_tensor_is_contiguous(const comfy_tensor *t);

/* Converts a JSON constant (an input value from a prompt, a default) to a
 * value: null -> NONE, bool -> BOOL, int -> INT (uint64 kept), double ->
 * FLOAT, string -> STRING, array -> LIST, object -> MAP.  New reference,
 * or NULL when memory runs out. */
comfy_value *cd_value_from_json(const struct json_object *j);

/* Converts a value to JSON for history, `executed` messages and cache
 * keys.  TENSOR and OBJECT values become a short descriptive string (they
 * never appear in UI results in practice).  New json-c object, or NULL. */
struct json_object *cd_value_to_json(const comfy_value *v);

/* Deep equality (tensors and objects by identity). */
int cd_value_equal(const comfy_value *a, const comfy_value *b);

/* Fills the value and tensor members of `h` (everything from value_none to
 * tensor_is_contiguous).  The other members are filled by host.c. */
void cd_value_fill_host(comfy_host *h);

/* Bytes currently held by tensors made with tensor_new (for
 * /system_stats and memory tests). */
uint64_t cd_tensor_bytes_live(void);

#endif
