/* A pack whose init registers a class and then fails: the pack and the
 * class must both be dropped. */
#include <comfy/comfy.h>

static int execute(comfy_call *call) { (void)call; return COMFY_OK; }
static const comfy_node_def node = {
    .size = sizeof(comfy_node_def), .name = "RtInitFail", .execute = execute,
};
static int init(const comfy_host *h, comfy_registrar *reg)
{
    if (h->register_node(reg, &node) != COMFY_OK)
        return COMFY_ERR;
    h->log(h->ctx, COMFY_LOG_INFO, "rt_initfail: giving up on purpose");
    return COMFY_ERR;
}
COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
{
    static const comfy_pack_info info = {
        .size = sizeof(comfy_pack_info), .abi_major = COMFY_ABI_MAJOR,
        .abi_minor = COMFY_ABI_MINOR, .name = "rt_initfail", .version = "1.0",
        .init = init,
    };
    return &info;
}
