/*
 * validate.h — prompt validation with ComfyUI's error catalogue
 * (spec/api.md §4).  Called on the network thread from POST /prompt; reads
 * the registry (read-only) and calls the nodes' validate_inputs hooks.
 */
#ifndef CD_VALIDATE_H
#define CD_VALIDATE_H

#include <json-c/json.h>

#include "comfy/comfy.h"
#include "registry.h"

typedef struct cd_vresult {
    int ok;                          /* at least one output passed          */
    struct json_object *error;       /* the top-level Error when !ok; owned */
    struct json_object *node_errors; /* NodeErrors (maybe {}); owned        */
    struct json_object *outputs;     /* ids of passing outputs; owned       */
} cd_vresult;

/* Validates `prompt` (a JSON object, converted in place as §4.4 says).
 * `targets` is partial_execution_targets or NULL.  Fills *res (release with
 * cd_vresult_clear).  0, or -1 when memory runs out. */
int cd_validate_prompt(const cd_registry *reg, const comfy_host *host,
                       struct json_object *prompt, struct json_object *targets,
                       cd_vresult *res);
void cd_vresult_clear(cd_vresult *res);

/* An Error object {"type", "message", "details", "extra_info": {}}; new. */
struct json_object *cd_verror(const char *type, const char *message,
                              const char *details);

/* 1 when output type `r` may feed input type `i` (§4.6). */
int cd_types_compatible(const char *r, const char *i);

/* Python str() of a JSON value into out (appends).  0 or -1. */
int cd_pystr(cd_buf *out, const struct json_object *v);
/* Python repr() of a JSON value (strings quoted).  0 or -1. */
int cd_pyrepr(cd_buf *out, const struct json_object *v);

#endif
