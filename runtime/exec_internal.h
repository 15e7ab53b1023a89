/*
 * exec_internal.h — what executor.c, call.c and validate.c share: the
 * private tail of a node invocation (cd_xcall) and the executor hooks that
 * the host functions of call.c forward to.  Executor thread only (and the
 * network thread for validation calls, which touch no executor state).
 */
#ifndef CD_EXEC_INTERNAL_H
#define CD_EXEC_INTERNAL_H

#include <stddef.h>

#include "comfy/comfy.h"
#include "registry.h"

struct cd_executor;

typedef enum cd_call_mode {
    CD_CALL_EXECUTE = 0,
    CD_CALL_CHECK_LAZY = 1,
    CD_CALL_IS_CHANGED = 2,
    CD_CALL_VALIDATE = 3
} cd_call_mode;

/* One invocation: the public comfy_call followed by the host's state. */
typedef struct cd_xcall {
    comfy_call pub;              /* must be first                          */
    struct cd_executor *ex;      /* NULL for validation calls              */
    const cd_class *cls;
    int mode;                    /* a cd_call_mode                         */
    size_t n_in;
    const char **in_names;       /* borrowed                               */
    comfy_value **in_lists;      /* borrowed LIST values; NULL = absent    */
    int whole_lists;             /* INPUT_IS_LIST: input() gives the list  */
    size_t elem;                 /* which element of each list             */
    comfy_value **outs;          /* cls->def->n_outputs slots; owned refs  */
    comfy_value *ui;             /* owned                                  */
    char *err_type, *err_msg;    /* owned, set by fail()                   */
    int was_interrupted;         /* interrupted()/progress() saw the flag  */
    const char *display_node;    /* for progress events                    */
    const char *real_node, *parent_node;  /* for previews (parent may be NULL) */
    /* Node expansion (execute only): the graph this call returned, and
     * for each output either a value (outs) or a link into that graph. */
    struct json_object *expand_graph;  /* owned, or NULL                    */
    char **out_link_id;          /* n_outputs entries, owned strings        */
    uint32_t *out_link_slot;
    char prefix[256];            /* expand_prefix() text                    */
    int graph_count;             /* graphs made by this call so far         */
    int async_call;              /* on an async node's thread: no expansion */
} cd_xcall;

/* Initialises `c` for class `cls` (outs allocated when n_outputs > 0).
 * 0 or -1 (OOM). */
int cd_xcall_init(cd_xcall *c, const comfy_host *host, const cd_class *cls,
                  const char *node_id, const char *prompt_id, int mode);
/* Releases outs, ui and error strings. */
void cd_xcall_clear(cd_xcall *c);

/* Executor hooks for call.c (exec.c). */
int cd_exec_take_interrupt(struct cd_executor *ex);
void cd_exec_progress(struct cd_executor *ex, cd_xcall *c, double value,
                      double max, const comfy_tensor *preview);

/* Node expansion hooks (exec.c): a value registered for use as a graph
 * constant {"__value_ref__": N} (takes v; N, or -1), and the id prefix of
 * the next graph this call makes. */
int64_t cd_exec_expand_value(struct cd_executor *ex, comfy_value *v);

/* The type name of the blocker OBJECT value (ExecutionBlocker). */
#define CD_BLOCKER_TYPE "ExecutionBlocker"

#endif
