/*
 * uipack.c — a tiny pack for the executor tests: "ExecTestUI" is an output
 * node whose UI result is {"text": [value]}, "ExecTestFail" fails when
 * asked to, and "ExecTestHidden" reports its hidden inputs as UI.
 */
#include <comfy/comfy.h>

#include <string.h>

static const comfy_host *H;

static int ui_exec(comfy_call *call)
{
    const comfy_value *v = H->input(call, "value");
    comfy_value *ui = H->value_map(H->ctx);
    comfy_value *l = H->value_list(H->ctx);
    H->list_append(l, v ? H->value_retain(v) : H->value_none(H->ctx));
    H->map_set(ui, "text", l);
    H->set_ui(call, ui);
    return H->set_output(call, 0, v ? H->value_retain(v) : H->value_none(H->ctx));
}

static int fail_exec(comfy_call *call)
{
    int b = 0;
    H->value_get_bool(H->input(call, "fail"), &b);
    if (b)
        return H->fail(call, "ValueError", "asked to fail");
    const comfy_value *v = H->input(call, "value");
    return H->set_output(call, 0, v ? H->value_retain(v) : H->value_none(H->ctx));
}

static int hidden_exec(comfy_call *call)
{
    comfy_value *ui = H->value_map(H->ctx);
    const char *names[] = {"prompt", "extra_pnginfo", "unique_id"};
    for (int i = 0; i < 3; i++) {
        const comfy_value *v = H->input(call, names[i]);
        comfy_value *l = H->value_list(H->ctx);
        H->list_append(l, v ? H->value_retain(v) : H->value_none(H->ctx));
        H->map_set(ui, names[i], l);
    }
    return H->set_ui(call, ui);
}

static const comfy_input_def ui_in[] = {
    {sizeof(comfy_input_def), "value", "*", COMFY_REQUIRED, NULL, NULL, NULL, NULL, 0}};
static const comfy_input_def fail_in[] = {
    {sizeof(comfy_input_def), "value", "*", COMFY_REQUIRED, NULL, NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "fail", "BOOLEAN", COMFY_REQUIRED, NULL, NULL, NULL, NULL, 0}};
static const comfy_input_def hidden_in[] = {
    {sizeof(comfy_input_def), "prompt", "PROMPT", COMFY_HIDDEN, NULL, NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "extra_pnginfo", "EXTRA_PNGINFO", COMFY_HIDDEN, NULL, NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "unique_id", "UNIQUE_ID", COMFY_HIDDEN, NULL, NULL, NULL, NULL, 0}};
static const comfy_output_def any_out[] = {{sizeof(comfy_output_def), "*", NULL, NULL, 0}};

static const comfy_node_def defs[] = {
    {.size = sizeof(comfy_node_def), .name = "ExecTestUI", .inputs = ui_in, .n_inputs = 1,
     .outputs = any_out, .n_outputs = 1, .flags = COMFY_NODE_OUTPUT, .execute = ui_exec},
    {.size = sizeof(comfy_node_def), .name = "ExecTestFail", .inputs = fail_in, .n_inputs = 2,
     .outputs = any_out, .n_outputs = 1, .execute = fail_exec},
    {.size = sizeof(comfy_node_def), .name = "ExecTestHidden", .inputs = hidden_in, .n_inputs = 3,
     .flags = COMFY_NODE_OUTPUT, .execute = hidden_exec},
};

static int init(const comfy_host *h, comfy_registrar *reg)
{
    H = h;
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        if (h->register_node(reg, &defs[i]) != COMFY_OK)
            return COMFY_ERR;
    return COMFY_OK;
}

COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
{
    static const comfy_pack_info info = {
        .size = sizeof(comfy_pack_info), .abi_major = COMFY_ABI_MAJOR,
        .abi_minor = COMFY_ABI_MINOR, .name = "exectest", .version = "1",
        .init = init};
    return &info;
}
