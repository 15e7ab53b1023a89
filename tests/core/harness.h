/*
 * harness.h — runs the core pack's nodes without a server.
 *
 * hn_new() dlopens core.so, initialises it with a comfy_host whose value
 * and tensor members come from the runtime (cd_value_fill_host) and whose
 * call, folder and registration members are the harness's own: inputs
 * come from a name -> value table, outputs/UI/errors are recorded, and
 * the input/output/temp folders live in a fresh directory under /tmp that
 * hn_free() removes.  Single-threaded; one harness per test program.
 */
#ifndef CORE_HARNESS_H
#define CORE_HARNESS_H

#include "comfy/comfy.h"

typedef struct harness harness;
typedef struct hn_call hn_call;

/* Loads the pack at `so_path`.  NULL (and a message on stderr) on error. */
harness *hn_new(const char *so_path);
void hn_free(harness *h);

const comfy_host *hn_host(harness *h);
/* "input", "output" or "temp": an absolute directory. */
const char *hn_dir(harness *h, const char *which);

/* Makes host->interrupted() report an interrupt (once) when on != 0. */
void hn_interrupt(harness *h, int on);

/* Makes host->setting("disable-metadata") say "1" when on != 0.  Returns
 * 0 when the SDK has no setting() yet (ABI 1.0). */
int hn_disable_metadata(harness *h, int on);

/* Registered classes in registration order. */
size_t hn_count(harness *h);
const comfy_node_def *hn_def_at(harness *h, size_t i);
const comfy_node_def *hn_find(harness *h, const char *name);

/* A pending call of class `name` (NULL if unknown). */
hn_call *hn_begin(harness *h, const char *name);
/* Sets input `name`; takes the reference to `v`. */
void hn_set(hn_call *c, const char *name, comfy_value *v);
/* Runs execute / is_changed / validate_inputs; returns the node's status. */
int hn_run(hn_call *c);
int hn_is_changed(hn_call *c, comfy_value **out);
int hn_validate(hn_call *c);
/* Results (borrowed; NULL when not set). */
const comfy_value *hn_output(hn_call *c, unsigned i);
comfy_tensor *hn_output_tensor(hn_call *c, unsigned i);
const comfy_value *hn_ui(hn_call *c);
const char *hn_error(hn_call *c);       /* message of the last fail() */
const char *hn_error_type(hn_call *c);
void hn_end(hn_call *c);

#endif
