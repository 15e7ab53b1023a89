/* A pack that registers a class name rt_good already has (RtDouble), and
 * ignores the error: it must be skipped as a whole anyway. */
#include <comfy/comfy.h>

static int execute(comfy_call *call) { (void)call; return COMFY_OK; }
static const comfy_node_def mine = {
    .size = sizeof(comfy_node_def), .name = "RtDupOwn", .execute = execute,
};
static const comfy_node_def clash = {
    .size = sizeof(comfy_node_def), .name = "RtDouble", .execute = execute,
};
static int init(const comfy_host *h, comfy_registrar *reg)
{
    h->register_node(reg, &mine);
    h->register_node(reg, &clash);
    return COMFY_OK;
}
COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
{
    static const comfy_pack_info info = {
        .size = sizeof(comfy_pack_info), .abi_major = COMFY_ABI_MAJOR,
        .abi_minor = COMFY_ABI_MINOR, .name = "rt_dup", .version = "1.0",
        .init = init,
    };
    return &info;
}
