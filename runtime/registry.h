/*
 * registry.h — node packs and the classes they registered.
 *
 * Threading.  The registry grows while other threads read it: packs are
 * loaded at start-up on the main thread, and again when comfyd rescans its
 * pack directories (SIGHUP, on the network thread), while the network
 * thread and its request workers (/object_info, validation of POST
 * /prompt) and the executor thread look classes up.  So it is append-only:
 *
 *  - Classes and packs live in arrays whose capacity is fixed when the
 *    registry is created (cd_registry_new_bounded); a class or pack over
 *    the capacity is refused with a logged error.  Nothing that was
 *    published is ever moved, changed or freed before cd_registry_free,
 *    so a cd_class or cd_pack pointer stays valid for the registry's life.
 *  - One loader at a time (a mutex inside serialises cd_registry_load_*
 *    and cd_registry_rescan).  A pack's classes are staged while its init
 *    runs and published together with the pack, by storing the new counts
 *    with release order, only when init succeeded; readers load the counts
 *    with acquire order, so a reader sees a pack's classes all or none,
 *    and never a class of a pack that was skipped.
 *  - The name index is an open-addressing table of atomic slots sized at
 *    creation: a loader fills a slot after the class is written, readers
 *    ignore slots naming a class past the count they loaded.
 *
 * Every read function below may be called from any thread, at any time,
 * without locks; the load functions from one thread at a time (the mutex
 * makes a second caller wait).  Each class keeps its SDK definition plus
 * what the host parsed out of it once: the options JSON of every input,
 * and the flags derived from them.
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

/* The class capacity of cd_registry_new, and the pack capacity of every
 * registry. */
#define CD_REGISTRY_MAX_CLASSES 32768
#define CD_REGISTRY_MAX_PACKS 1024

/* Creates an empty registry that holds at most CD_REGISTRY_MAX_CLASSES
 * classes.  NULL when memory runs out.  Caller frees with
 * cd_registry_free. */
cd_registry *cd_registry_new(const comfy_host *host);

/* As cd_registry_new, with room for `max_classes` classes (1 to 2^24). */
cd_registry *cd_registry_new_bounded(const comfy_host *host, size_t max_classes);

/* Calls each pack's fini (last loaded first), dlcloses it and frees
 * everything.  No other thread may use the registry any more.  NULL is
 * fine. */
void cd_registry_free(cd_registry *r);

/* Loads every *.so in `dir` in name order.  A pack that fails (missing
 * entry symbol, ABI major mismatch, failing init, duplicate class name,
 * malformed def) is logged with the reason and skipped.  Returns the
 * number of packs loaded, or -1 if `dir` cannot be read. */
int cd_registry_load_dir(cd_registry *r, const char *dir);

/* Lookup by class name; NULL when unknown. */
const cd_class *cd_registry_find(const cd_registry *r, const char *name);

/* Classes in registration order.  The count only grows (a rescan
 * appends); cd_registry_at(r, i) is valid for every i below a count read
 * earlier. */
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
 * after init returns.  Only from a pack's init, during cd_registry_load_*
 * or cd_registry_rescan (on the loading thread); name clashes are checked
 * against the published classes and the ones the same pack registered
 * before. */
int cd_registrar_register(comfy_registrar *reg, const comfy_node_def *def);

/* More about a pack. */
size_t cd_pack_class_count(const cd_pack *p);
double cd_pack_load_ms(const cd_pack *p);
const comfy_pack_info *cd_pack_info(const cd_pack *p);  /* host-sized copy */
const cd_pack *cd_registry_find_pack(const cd_registry *r, const char *name);

/* Rescans pack directories (comfyd does on SIGHUP).  First, each loaded
 * pack whose file is gone or was replaced (another device/inode, size or
 * modification time) is logged as a warning ("restart to unload/replace"):
 * a loaded pack stays loaded, as it is.  Then each *.so in each of `dirs`
 * (in order, each in name order) that is new, i.e. neither its path nor
 * its device and inode belong to a loaded pack, is loaded as
 * cd_registry_load_dir does: its classes come after the existing ones,
 * and a broken pack is skipped with the reason logged.  A directory that
 * cannot be read is logged and passed over.  Returns the number of packs
 * added (their classes are those from the class count before the call). */
int cd_registry_rescan(cd_registry *r, const char *const *dirs, size_t n_dirs);

#endif
