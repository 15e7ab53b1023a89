/* A pack as an older SDK minor would have built it: its structs end
 * earlier (smaller `size`).  The host must read the missing fields as zero
 * and load it. */
#include <comfy/comfy.h>
#include <stddef.h>

static int execute(comfy_call *call) { (void)call; return COMFY_OK; }

static const comfy_input_def inputs[] = {
    {.size = offsetof(comfy_input_def, choices_fn), .name = "mode", .type = "COMBO",
     .section = COMFY_REQUIRED, .choices = (const char *const[]){"a", "b", NULL},
     /* beyond `size`: must be ignored */
     .combo_as_type = 1},
};
static const comfy_output_def outputs[] = {
    {.size = offsetof(comfy_output_def, is_list), .type = "STRING",
     .is_list = 1 /* beyond size */},
};
static const comfy_node_def node = {
    .size = offsetof(comfy_node_def, check_lazy), .name = "RtOldNode",
    .inputs = inputs, .n_inputs = 1, .outputs = outputs, .n_outputs = 1,
    .execute = execute,
    .is_changed = (comfy_is_changed_fn)1 /* beyond size: must read as NULL */,
};
static int init(const comfy_host *h, comfy_registrar *reg)
{
    return h->register_node(reg, &node);
}
COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
{
    static const comfy_pack_info info = {
        .size = offsetof(comfy_pack_info, fini), .abi_major = COMFY_ABI_MAJOR,
        .abi_minor = 0, .name = "rt_oldminor", .version = "0.9", .init = init,
    };
    return &info;
}
