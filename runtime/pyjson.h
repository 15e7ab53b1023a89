/*
 * pyjson.h — JSON text exactly as Python's json.dumps() writes it.
 *
 * ComfyUI clients and tests compare response bodies byte for byte, so every
 * JSON body comfyd sends goes through here (spec/api.md §0.2): ", " and ": "
 * separators, non-ASCII as \uXXXX (surrogate pairs above the BMP), floats in
 * Python repr (shortest round-trip; 8.0, 1e-05, 1e+16, NaN, Infinity),
 * integers in full (uint64 seeds included), keys in insertion order.
 *
 * The document model is json-c's: parse with cd_json_parse() (bounded
 * depth, accepts NaN/Infinity as Python does), build with json-c calls,
 * write with cd_json_dump().  Thread-safe: no shared state.
 */
#ifndef CD_PYJSON_H
#define CD_PYJSON_H

#include <json-c/json.h>
#include <stdint.h>

#include "buf.h"

/* Appends `o` (NULL writes `null`) to `b`.  0, or -1 when the buffer's
 * ceiling is reached or memory runs out (the buffer then holds a prefix). */
int cd_json_dump(cd_buf *b, const struct json_object *o);

/* Appends `s` as a JSON string literal with Python's ensure_ascii escapes.
 * Invalid UTF-8 bytes are written as U+FFFD.  0 or -1. */
int cd_json_dump_string(cd_buf *b, const char *s, size_t len);

/* Appends a double in Python repr form.  0 or -1. */
int cd_json_dump_double(cd_buf *b, double d);

/* Appends a json-c int in full, uint64 values above INT64_MAX included
 * (JSON and Python's repr write integers alike).  0 or -1. */
int cd_json_dump_int(cd_buf *b, const struct json_object *o);

/* Parses `len` bytes of JSON text, nesting at most `max_depth` deep.
 * Returns a new json-c object (caller releases with json_object_put), or
 * NULL with a short reason in err[cap] (as Python's json error would say,
 * e.g. "Expecting value: line 1 column 1 (char 0)"-like text is not
 * promised; the reason is for logs and error bodies). */
struct json_object *cd_json_parse(const char *text, size_t len, int max_depth,
                                  char *err, size_t cap);

/* Whether a json-c int holds an unsigned value above INT64_MAX, and if so
 * the value.  json-c keeps such numbers as uint64 internally. */
int cd_json_is_uint64(const struct json_object *o, uint64_t *out);

/* Serialises to a new malloc'd string (caller frees), or NULL. */
char *cd_json_to_string(const struct json_object *o, size_t max);

#endif
