/* A pack built for a future ABI major: must be skipped. */
#include <comfy/comfy.h>

static int execute(comfy_call *call) { (void)call; return COMFY_OK; }
static const comfy_node_def node = {
    .size = sizeof(comfy_node_def), .name = "RtFromTheFuture", .execute = execute,
};
static int init(const comfy_host *h, comfy_registrar *reg)
{
    return h->register_node(reg, &node);
}
COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
{
    static const comfy_pack_info info = {
        .size = sizeof(comfy_pack_info), .abi_major = COMFY_ABI_MAJOR + 98,
        .abi_minor = 0, .name = "rt_badabi", .version = "1.0", .init = init,
    };
    return &info;
}
