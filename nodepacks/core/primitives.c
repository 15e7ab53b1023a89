/*
 * primitives.c — the V3 primitive nodes of comfy_extras.nodes_primitive:
 * PrimitiveString, PrimitiveStringMultiline, PrimitiveInt, PrimitiveFloat
 * and PrimitiveBoolean.  Each returns its `value` input unchanged (after
 * checking its kind).  Executor thread.
 */
#include "core.h"

/* Returns input "value" as output 0 when it has kind `kind` (INT inputs
 * also accept the executor's converted values; FLOAT accepts an INT and
 * returns it as a FLOAT, as Python's float() does on validation). */
static int primitive(comfy_call *call, int kind, const char *type)
{
    const comfy_host *h = call->host;
    const comfy_value *v = h->input(call, "value");
    if (!v)
        return h->fail(call, "ValueError", "required input 'value' is "
                       "missing");
    int k = h->value_kind(v);
    if (kind == COMFY_KIND_FLOAT && k == COMFY_KIND_INT) {
        double d;
        if (h->value_get_float(v, &d) != COMFY_OK)
            return h->fail(call, "ValueError", "value is not a FLOAT");
        comfy_value *f = h->value_float(h->ctx, d);
        if (!f)
            return h->fail(call, "RuntimeError", "out of memory");
        return h->set_output(call, 0, f);
    }
    if (k != kind)
        return h->fail(call, "ValueError", "value is not a %s", type);
    return h->set_output(call, 0, h->value_retain(v));
}

static int string_execute(comfy_call *call)
{
    return primitive(call, COMFY_KIND_STRING, "STRING");
}

static int int_execute(comfy_call *call)
{
    return primitive(call, COMFY_KIND_INT, "INT");
}

static int float_execute(comfy_call *call)
{
    return primitive(call, COMFY_KIND_FLOAT, "FLOAT");
}

static int bool_execute(comfy_call *call)
{
    return primitive(call, COMFY_KIND_BOOL, "BOOLEAN");
}

#define IN(t, o) { { sizeof(comfy_input_def), "value", t, COMFY_REQUIRED, o, \
                     NULL, NULL, NULL, 0 } }
#define OUT(t) { { sizeof(comfy_output_def), t, NULL, NULL, 0 } }

/* sys.maxsize on 64-bit CPython. */
#define MAXSIZE "9223372036854775807"

static const comfy_input_def string_in[] = IN("STRING",
                                              "{\"multiline\": false}");
static const comfy_input_def multiline_in[] = IN("STRING",
                                                 "{\"multiline\": true}");
static const comfy_input_def int_in[] = IN("INT",
    "{\"min\": -" MAXSIZE ", \"max\": " MAXSIZE
    ", \"control_after_generate\": true}");
static const comfy_input_def float_in[] = IN("FLOAT",
    "{\"min\": -" MAXSIZE ", \"max\": " MAXSIZE "}");
static const comfy_input_def bool_in[] = IN("BOOLEAN", "{}");

static const comfy_output_def string_out[] = OUT("STRING");
static const comfy_output_def int_out[] = OUT("INT");
static const comfy_output_def float_out[] = OUT("FLOAT");
static const comfy_output_def bool_out[] = OUT("BOOLEAN");

#define NODE(nm, disp, ins, outs, fn) { \
    .size = sizeof(comfy_node_def), .name = nm, .display_name = disp, \
    .category = "utils/primitive", .module = "comfy_extras.nodes_primitive", \
    .inputs = ins, .n_inputs = 1, .outputs = outs, .n_outputs = 1, \
    .flags = COMFY_NODE_V3_SCHEMA, .execute = fn }

static const comfy_node_def primitive_nodes[] = {
    NODE("PrimitiveString", "String", string_in, string_out, string_execute),
    NODE("PrimitiveStringMultiline", "String (Multiline)", multiline_in,
         string_out, string_execute),
    NODE("PrimitiveInt", "Int", int_in, int_out, int_execute),
    NODE("PrimitiveFloat", "Float", float_in, float_out, float_execute),
    NODE("PrimitiveBoolean", "Boolean", bool_in, bool_out, bool_execute),
};

int core_register_primitives(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < sizeof(primitive_nodes) / sizeof(primitive_nodes[0]);
         i++) {
        int rc = h->register_node(reg, &primitive_nodes[i]);
        if (rc)
            return rc;
    }
    return 0;
}
