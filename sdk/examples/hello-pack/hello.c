/*
 * hello.c — the smallest useful comfyd node pack.
 *
 * Two nodes:
 *   HelloDouble  INT -> INT, doubles its input;
 *   HelloShow    an output node that shows any INT in the UI result
 *                ({"text": ["42"]}), so a prompt made of the two runs and
 *                leaves something in /history.
 *
 * Build (installed SDK):
 *   cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags comfyd-sdk) \
 *      hello.c -o hello.so
 * or with CMake: see CMakeLists.txt beside this file.
 */
#include <comfy/comfy.h>
#include <stdio.h>

static int double_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int64_t v;
    if (h->value_get_int(h->input(call, "value"), &v) != COMFY_OK)
        return h->fail(call, "ValueError", "value is not an INT");
    if (v > INT64_MAX / 2 || v < INT64_MIN / 2)
        return h->fail(call, "OverflowError", "%lld is too large to double",
                       (long long)v);
    return h->set_output(call, 0, h->value_int(h->ctx, v * 2));
}

static int show_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int64_t v;
    if (h->value_get_int(h->input(call, "value"), &v) != COMFY_OK)
        return h->fail(call, "ValueError", "value is not an INT");
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)v);
    /* ui = {"text": [text]} */
    comfy_value *ui = h->value_map(h->ctx);
    comfy_value *list = h->value_list(h->ctx);
    if (!ui || !list ||
        h->list_append(list, h->value_string(h->ctx, text, (size_t)-1)) != COMFY_OK ||
        h->map_set(ui, "text", list) != COMFY_OK) {
        h->value_release(ui);
        return h->fail(call, "MemoryError", "out of memory");
    }
    return h->set_ui(call, ui);
}

static const comfy_input_def double_inputs[] = {
    {.size = sizeof(comfy_input_def), .name = "value", .type = "INT",
     .section = COMFY_REQUIRED,
     .options = "{\"default\": 1, \"min\": -1000000, \"max\": 1000000}"},
};
static const comfy_output_def double_outputs[] = {
    {.size = sizeof(comfy_output_def), .type = "INT"},
};
static const comfy_node_def double_node = {
    .size = sizeof(comfy_node_def),
    .name = "HelloDouble", .display_name = "Double It", .category = "hello",
    .description = "Doubles an integer.",
    .inputs = double_inputs, .n_inputs = 1,
    .outputs = double_outputs, .n_outputs = 1,
    .execute = double_execute,
};

static const comfy_input_def show_inputs[] = {
    {.size = sizeof(comfy_input_def), .name = "value", .type = "INT",
     .section = COMFY_REQUIRED, .options = "{\"forceInput\": true}"},
};
static const comfy_node_def show_node = {
    .size = sizeof(comfy_node_def),
    .name = "HelloShow", .display_name = "Show Integer", .category = "hello",
    .inputs = show_inputs, .n_inputs = 1,
    .flags = COMFY_NODE_OUTPUT,
    .execute = show_execute,
};

static int hello_init(const comfy_host *h, comfy_registrar *reg)
{
    int rc = h->register_node(reg, &double_node);
    if (rc == COMFY_OK)
        rc = h->register_node(reg, &show_node);
    return rc;
}

COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
{
    static const comfy_pack_info info = {
        .size = sizeof(comfy_pack_info),
        .abi_major = COMFY_ABI_MAJOR, .abi_minor = COMFY_ABI_MINOR,
        .name = "hello", .version = "1.0",
        .description = "The SDK's example pack.",
        .init = hello_init,
    };
    return &info;
}
