/* A pack whose node has options that are not JSON: must be skipped. */
#include <comfy/comfy.h>

static int execute(comfy_call *call) { (void)call; return COMFY_OK; }
static const comfy_input_def inputs[] = {
    {sizeof(comfy_input_def), "x", "INT", COMFY_REQUIRED, "{\"default\": 1,",
     NULL, NULL, NULL, 0},
};
static const comfy_node_def node = {
    .size = sizeof(comfy_node_def), .name = "RtMalformed", .inputs = inputs,
    .n_inputs = 1, .execute = execute,
};
static const comfy_node_def noexec = {
    .size = sizeof(comfy_node_def), .name = "RtNoExecute",
};
static int init(const comfy_host *h, comfy_registrar *reg)
{
    int a = h->register_node(reg, &node);
    int b = h->register_node(reg, &noexec);
    return a == COMFY_EINVAL && b == COMFY_EINVAL ? COMFY_OK : COMFY_ERR;
}
COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
{
    static const comfy_pack_info info = {
        .size = sizeof(comfy_pack_info), .abi_major = COMFY_ABI_MAJOR,
        .abi_minor = COMFY_ABI_MINOR, .name = "rt_malformed", .version = "1.0",
        .init = init,
    };
    return &info;
}
