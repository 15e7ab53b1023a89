/*
 * previewpack.c — a node pack used only by the black-box tests: the output
 * node "ApiTestPreview" reports progress twice with a small RGB preview
 * image, so the WebSocket preview frames (type 1 and type 4, spec/api.md
 * §2.6) can be checked without a diffusion model.
 */
#include <comfy/comfy.h>

#include <stdint.h>

static int preview_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int64_t shape[3] = {6, 10, 3};          /* H, W, RGB */
    comfy_tensor *t = h->tensor_new(h->ctx, COMFY_U8, 3, shape);
    if (!t) return h->fail(call, "MemoryError", "no memory for the preview");
    uint8_t *px = t->data;
    for (int i = 0; i < 6 * 10; i++) {
        px[3 * i] = 200;
        px[3 * i + 1] = (uint8_t)(i * 4);
        px[3 * i + 2] = 30;
    }
    int rc = COMFY_OK;
    for (int step = 1; step <= 2 && rc == COMFY_OK; step++)
        rc = h->progress(call, step, 2, t);
    h->tensor_release(t);
    return rc;
}

static const comfy_input_def inputs[] = {
    {sizeof(comfy_input_def), "seed", "INT", COMFY_REQUIRED,
     "{\"default\": 0, \"min\": 0, \"max\": 1000000}", NULL, NULL, NULL, 0},
};

static const comfy_node_def preview_node = {
    .size = sizeof(comfy_node_def),
    .name = "ApiTestPreview",
    .display_name = "API test: preview frames",
    .category = "_for_testing",
    .inputs = inputs,
    .n_inputs = 1,
    .flags = COMFY_NODE_OUTPUT,
    .execute = preview_execute,
};

static int init(const comfy_host *h, comfy_registrar *reg)
{
    return h->register_node(reg, &preview_node);
}

COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
{
    static const comfy_pack_info info = {
        .size = sizeof(comfy_pack_info),
        .abi_major = COMFY_ABI_MAJOR, .abi_minor = COMFY_ABI_MINOR,
        .name = "apitest", .version = "1.0", .init = init,
    };
    return &info;
}
