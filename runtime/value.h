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
