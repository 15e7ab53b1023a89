/*
 * registry.h — node packs and the classes they registered.
 *
 * Built once at start-up on the main thread (cd_registry_load), read-only
 * afterwards, so every thread may read it without locks.  Each class keeps
 * its SDK definition plus what the host parsed out of it once: the options
 * JSON of every input, and the flags derived from them.
 */
#ifndef CD_REGISTRY_H
#define CD_REGISTRY_H

#include <json-c/json.h>
#include <stddef.h>

#include "buf.h"
#include "comfy/comfy.h"

typedef struct cd_registry cd_registry;
typedef struct cd_pack cd_pack;

typedef struct cd_input {
    const comfy_input_def *def;     /* borrowed from the pack              */
    struct json_object *options;    /* parsed def->options, or NULL; owned */
    int lazy;                       /* options "lazy": true                */
    int raw_link;                   /* options "rawLink": true             */
    int force_input;                /* options "forceInput": true          */
} cd_input;

typedef struct cd_class {
    const comfy_node_def *def;      /* borrowed from the pack              */
    const cd_pack *pack;
    cd_input *inputs;               /* def->n_inputs entries; owned        */
    size_t n_inputs;
} cd_class;

/* Creates an empty registry. */
cd_registry *cd_registry_new(const comfy_host *host);
void cd_registry_free(cd_registry *r);  /* calls each pack's fini, dlcloses */

/* Loads every *.so in `dir` in name order.  A pack that fails (missing
 * entry symbol, ABI major mismatch, failing init, duplicate class name,
 * malformed def) is logged with the reason and skipped.  Returns the
 * number of packs loaded, or -1 if `dir` cannot be read. */
int cd_registry_load_dir(cd_registry *r, const char *dir);

/* Lookup by class name; NULL when unknown. */
const cd_class *cd_registry_find(const cd_registry *r, const char *name);

/* Classes in registration order. */
size_t cd_registry_count(const cd_registry *r);
const cd_class *cd_registry_at(const cd_registry *r, size_t i);

/* Input by name, or NULL. */
const cd_input *cd_class_input(const cd_class *c, const char *name);

/* The current COMBO choices of a COMBO input as a new LIST value (fixed
 * list or computed now), or NULL on error. */
comfy_value *cd_input_choices(const cd_registry *r, const cd_input *in);

/* Packs, for /extensions and logs. */
size_t cd_registry_pack_count(const cd_registry *r);
const char *cd_pack_name(const cd_pack *p);
const char *cd_pack_web_dir(const cd_pack *p);   /* absolute, or NULL */
const char *cd_pack_path(const cd_pack *p);      /* the .so path */
const cd_pack *cd_registry_pack_at(const cd_registry *r, size_t i);

/* Appends the /object_info definition of one class ({...}, the value, not
 * the {"name": ...} wrapper) to `out`.  0 or -1. */
int cd_class_object_info(const cd_registry *r, const cd_class *c, cd_buf *out);

/* Loads one pack file as cd_registry_load_dir does for each.  1 when
 * loaded, 0 when skipped (logged with the reason). */
int cd_registry_load_file(cd_registry *r, const char *path);

/* host->register_node: checks and copies `def` into the registry under the
 * registrar's pack.  COMFY_OK, COMFY_EEXIST (name taken), COMFY_EINVAL
 * (malformed: no name, no execute, options that are not a JSON object, a
 * COMBO without choices, duplicate input names, ...; logged) or
 * COMFY_ENOMEM.  Any failure also marks the pack as failed: it is skipped
 * after init returns.  Main thread, during cd_registry_load_* only. */
int cd_registrar_register(comfy_registrar *reg, const comfy_node_def *def);

/* More about a pack. */
size_t cd_pack_class_count(const cd_pack *p);
double cd_pack_load_ms(const cd_pack *p);
const comfy_pack_info *cd_pack_info(const cd_pack *p);  /* host-sized copy */
const cd_pack *cd_registry_find_pack(const cd_registry *r, const char *name);

#endif
