/*
 * pack.c — the core node pack's entry point: image, mask and primitive
 * nodes reproducing ComfyUI's built-in ones (see core.h for the files).
 * Classes are registered in ComfyUI's /object_info order: nodes.py's
 * (SaveImage ... EmptyImage), then comfy_extras.nodes_post_processing,
 * nodes_mask, nodes_rebatch (RebatchImages), nodes_images and
 * nodes_primitive.  Within nodes_images, core_register_batch_nodes puts
 * the animated savers and ImageStitch/ResizeAndPadImage in their place.
 */
#include "core.h"

static int core_init(const comfy_host *h, comfy_registrar *reg)
{
    int rc;
    if ((rc = core_register_io_nodes(h, reg)) ||
        (rc = core_register_image_nodes(h, reg)) ||
        (rc = core_register_postprocessing_nodes(h, reg)) ||
        (rc = core_register_mask_nodes(h, reg)) ||
        (rc = core_register_rebatch(h, reg)) ||
        (rc = core_register_image_extras(h, reg)) ||
        (rc = core_register_primitives(h, reg)))
        return rc;
    return COMFY_OK;
}

COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
{
    static const comfy_pack_info info = {
        .size = sizeof(comfy_pack_info),
        .abi_major = COMFY_ABI_MAJOR,
        .abi_minor = COMFY_ABI_MINOR,
        .name = "core",
        .version = "1.0",
        .description = "ComfyUI's image, mask and primitive nodes",
        .init = core_init,
    };
    return &info;
}
