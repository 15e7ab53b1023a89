/*
 * call.c — the node-invocation members of the comfy_host table: input,
 * set_output, set_ui, fail, interrupted and progress.  Each works on the
 * cd_xcall that the executor (or the validator) built around the
 * comfy_call it handed to the node; they run on the thread that called the
 * node's hook.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_internal.h"
#include "executor.h"
#include "pyjson.h"
#include "value.h"

int cd_xcall_init(cd_xcall *c, const comfy_host *host, const cd_class *cls,
                  const char *node_id, const char *prompt_id, int mode)
{
    memset(c, 0, sizeof(*c));
    c->pub.size = sizeof(comfy_call);
    c->pub.host = host;
    c->pub.def = cls->def;
    c->pub.user = cls->def->user;
    c->pub.node_id = node_id;
    c->pub.prompt_id = prompt_id;
    c->cls = cls;
    c->mode = mode;
    if (cls->def->n_outputs > 0) {
        c->outs = calloc(cls->def->n_outputs, sizeof(*c->outs));
        if (!c->outs)
            return -1;
    }
    return 0;
}

void cd_xcall_clear(cd_xcall *c)
{
    if (c->outs) {
        for (uint32_t i = 0; i < c->cls->def->n_outputs; i++)
            cd_value_release(c->outs[i]);
        free(c->outs);
        c->outs = NULL;
    }
    cd_value_release(c->ui);
    c->ui = NULL;
    free(c->err_type);
    free(c->err_msg);
    c->err_type = c->err_msg = NULL;
    json_object_put(c->expand_graph);
    c->expand_graph = NULL;
    if (c->out_link_id) {
        for (uint32_t i = 0; i < c->cls->def->n_outputs; i++)
            free(c->out_link_id[i]);
        free(c->out_link_id);
        c->out_link_id = NULL;
    }
    free(c->out_link_slot);
    c->out_link_slot = NULL;
}

static cd_xcall *X(comfy_call *call) { return (cd_xcall *)call; }

static const comfy_value *call_input(comfy_call *call, const char *name)
{
    cd_xcall *c = X(call);
    if (!c || !name)
        return NULL;
    for (size_t i = 0; i < c->n_in; i++) {
        if (strcmp(c->in_names[i], name) != 0)
            continue;
        comfy_value *l = c->in_lists[i];
        if (!l)
            return NULL;
        if (c->whole_lists)
            return l;
        size_t n = c->pub.host->list_len(l);
        if (n == 0)
            return NULL;
        return c->pub.host->list_get(l, c->elem < n ? c->elem : n - 1);
    }
    return NULL;
}

static int call_set_output(comfy_call *call, uint32_t index, comfy_value *v)
{
    cd_xcall *c = X(call);
    if (!c || index >= c->cls->def->n_outputs || !v) {
        cd_value_release(v);
        return COMFY_EINVAL;
    }
    cd_value_release(c->outs[index]);
    c->outs[index] = v;
    if (c->out_link_id) {
        free(c->out_link_id[index]);
        c->out_link_id[index] = NULL;
    }
    return COMFY_OK;
}

static int call_set_ui(comfy_call *call, comfy_value *ui)
{
    cd_xcall *c = X(call);
    if (!c || !ui || cd_value_kind(ui) != COMFY_KIND_MAP) {
        cd_value_release(ui);
        return COMFY_EINVAL;
    }
    cd_value_release(c->ui);
    c->ui = ui;
    return COMFY_OK;
}

static int call_fail(comfy_call *call, const char *exception_type, const char *fmt, ...)
{
    cd_xcall *c = X(call);
    if (!c)
        return COMFY_ERR;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt ? fmt : "", ap);
    va_end(ap);
    free(c->err_type);
    free(c->err_msg);
    c->err_type = strdup(exception_type && *exception_type ? exception_type : "Exception");
    c->err_msg = strdup(msg);
    return COMFY_ERR;
}

static int call_interrupted(comfy_call *call)
{
    cd_xcall *c = X(call);
    if (!c || !c->ex)
        return COMFY_OK;
    if (cd_exec_take_interrupt(c->ex)) {
        c->was_interrupted = 1;
        return COMFY_EINTERRUPTED;
    }
    return COMFY_OK;
}

static int call_progress(comfy_call *call, double value, double max,
                         const comfy_tensor *preview)
{
    cd_xcall *c = X(call);
    if (!c || !c->ex)
        return COMFY_OK;
    if (cd_exec_take_interrupt(c->ex)) {
        c->was_interrupted = 1;
        return COMFY_EINTERRUPTED;
    }
    cd_exec_progress(c->ex, c, value, max, preview);
    return COMFY_OK;
}

/* ---- node expansion ------------------------------------------------------ */

static const char *call_expand_prefix(comfy_call *call)
{
    cd_xcall *c = X(call);
    if (!c)
        return "";
    snprintf(c->prefix, sizeof(c->prefix), "%s.%zu.%d.", call->node_id ? call->node_id : "",
             c->elem, c->graph_count);
    return c->prefix;
}

static int64_t call_expand_value(comfy_call *call, comfy_value *v)
{
    cd_xcall *c = X(call);
    if (!c || !c->ex || c->mode != CD_CALL_EXECUTE || c->async_call || !v) {
        cd_value_release(v);
        return COMFY_EINVAL;
    }
    return cd_exec_expand_value(c->ex, v);
}

static int call_expand(comfy_call *call, const char *graph_json)
{
    cd_xcall *c = X(call);
    if (!c || !c->ex || c->mode != CD_CALL_EXECUTE || c->async_call || !graph_json)
        return COMFY_EINVAL;
    char err[128];
    struct json_object *g = cd_json_parse(graph_json, strlen(graph_json), 64, err, sizeof(err));
    if (!g || !json_object_is_type(g, json_type_object)) {
        json_object_put(g);
        return COMFY_EINVAL;
    }
    if (c->expand_graph) {
        /* several graphs from one call merge into one */
        json_object_object_foreach(g, k, v)
            json_object_object_add(c->expand_graph, k, json_object_get(v));
        json_object_put(g);
    } else {
        c->expand_graph = g;
    }
    c->graph_count++;
    return COMFY_OK;
}

static int call_set_output_link(comfy_call *call, uint32_t index, const char *node_id,
                                uint32_t slot)
{
    cd_xcall *c = X(call);
    uint32_t no = c ? c->cls->def->n_outputs : 0;
    if (!c || index >= no || !node_id || c->mode != CD_CALL_EXECUTE)
        return COMFY_EINVAL;
    if (!c->out_link_id) {
        c->out_link_id = calloc(no, sizeof(*c->out_link_id));
        c->out_link_slot = calloc(no, sizeof(*c->out_link_slot));
        if (!c->out_link_id || !c->out_link_slot)
            return COMFY_ENOMEM;
    }
    char *id = strdup(node_id);
    if (!id)
        return COMFY_ENOMEM;
    free(c->out_link_id[index]);
    c->out_link_id[index] = id;
    c->out_link_slot[index] = slot;
    cd_value_release(c->outs[index]);
    c->outs[index] = NULL;
    return COMFY_OK;
}

void cd_call_fill_host(comfy_host *h)
{
    h->input = call_input;
    h->set_output = call_set_output;
    h->set_ui = call_set_ui;
    h->fail = call_fail;
    h->interrupted = call_interrupted;
    h->progress = call_progress;
    h->expand_prefix = call_expand_prefix;
    h->expand_value = call_expand_value;
    h->expand = call_expand;
    h->set_output_link = call_set_output_link;
}
