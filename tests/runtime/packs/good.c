/* A well-formed test pack: LoadImage/SaveImage-shaped nodes (their
 * /object_info must match ComfyUI's byte for byte), a V3-shaped node, and
 * a small arithmetic node. */
#include <comfy/comfy.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static int double_execute(comfy_call *call)
{
    const comfy_host *h = call->host;
    int64_t v;
    if (h->value_get_int(h->input(call, "value"), &v) != COMFY_OK)
        return h->fail(call, "ValueError", "value is not an INT");
    return h->set_output(call, 0, h->value_int(h->ctx, v * 2));
}

static int noop_execute(comfy_call *call)
{
    (void)call;
    return COMFY_OK;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The image files directly in the input directory, sorted. */
static int input_images(const comfy_host *h, void *user, comfy_value *out)
{
    (void)user;
    const char *dir = h->directory(h->ctx, "input");
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d)
        return COMFY_ENOENT;
    char *names[64];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        const char *dot = strrchr(e->d_name, '.');
        if (dot && (strcmp(dot, ".png") == 0 || strcmp(dot, ".jpg") == 0))
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    int rc = COMFY_OK;
    for (size_t i = 0; i < n; i++) {
        if (rc == COMFY_OK)
            rc = h->list_append(out, h->value_string(h->ctx, names[i], (size_t)-1));
        free(names[i]);
    }
    return rc;
}

static const comfy_input_def load_inputs[] = {
    {.size = sizeof(comfy_input_def), .name = "image", .type = "COMBO",
     .section = COMFY_REQUIRED, .options = "{\"image_upload\": true}",
     .choices_fn = input_images},
};
static const comfy_output_def load_outputs[] = {
    {sizeof(comfy_output_def), "IMAGE", NULL, NULL, 0},
    {sizeof(comfy_output_def), "MASK", NULL, NULL, 0},
};
static const comfy_node_def load_image = {
    .size = sizeof(comfy_node_def), .name = "LoadImage",
    .display_name = "Load Image", .category = "image", .module = "nodes",
    .inputs = load_inputs, .n_inputs = 1, .outputs = load_outputs, .n_outputs = 2,
    .execute = noop_execute,
};

static const comfy_input_def save_inputs[] = {
    {sizeof(comfy_input_def), "images", "IMAGE", COMFY_REQUIRED,
     "{\"tooltip\": \"The images to save.\"}", NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "filename_prefix", "STRING", COMFY_REQUIRED,
     "{\"default\": \"ComfyUI\", \"tooltip\": \"The prefix for the file to save. "
     "This may include formatting information such as %date:yyyy-MM-dd% or "
     "%Empty Latent Image.width% to include values from nodes.\"}",
     NULL, NULL, NULL, 0},
    {sizeof(comfy_input_def), "prompt", "PROMPT", COMFY_HIDDEN, NULL, NULL, NULL,
     NULL, 0},
    {sizeof(comfy_input_def), "extra_pnginfo", "EXTRA_PNGINFO", COMFY_HIDDEN, NULL,
     NULL, NULL, NULL, 0},
};
static const comfy_node_def save_image = {
    .size = sizeof(comfy_node_def), .name = "SaveImage",
    .display_name = "Save Image", .category = "image",
    .description = "Saves the input images to your ComfyUI output directory.",
    .module = "nodes", .inputs = save_inputs, .n_inputs = 4,
    .flags = COMFY_NODE_OUTPUT, .execute = noop_execute,
};

static const char *const methods[] = {"nearest-exact", "bilinear", NULL};
static const comfy_input_def v3_inputs[] = {
    {.size = sizeof(comfy_input_def), .name = "value", .type = "INT",
     .section = COMFY_REQUIRED,
     .options = "{\"default\": 0, \"min\": -9223372036854775807, "
                "\"max\": 18446744073709551615, \"step\": 1.0, \"tooltip\": null}"},
    {.size = sizeof(comfy_input_def), .name = "method", .type = "COMBO",
     .section = COMFY_REQUIRED, .options = "{\"multiselect\": false, \"options\": null}",
     .choices = methods, .combo_as_type = 1},
    {.size = sizeof(comfy_input_def), .name = "extra", .type = "FLOAT",
     .section = COMFY_OPTIONAL},
};
static const comfy_output_def v3_outputs[] = {
    {sizeof(comfy_output_def), "INT", "result", "The result.", 0},
    {sizeof(comfy_output_def), "STRING", NULL, NULL, 1},
};
static const comfy_node_def v3_node = {
    .size = sizeof(comfy_node_def), .name = "RtV3Node", .category = "testing",
    .inputs = v3_inputs, .n_inputs = 3, .outputs = v3_outputs, .n_outputs = 2,
    .flags = COMFY_NODE_V3_SCHEMA | COMFY_NODE_OUTPUT, .execute = noop_execute,
};

static const comfy_input_def double_inputs[] = {
    {sizeof(comfy_input_def), "value", "INT", COMFY_REQUIRED,
     "{\"default\": 1, \"min\": -1000, \"max\": 1000}", NULL, NULL, NULL, 0},
};
static const comfy_output_def double_outputs[] = {
    {sizeof(comfy_output_def), "INT", NULL, "Twice the value.", 0},
};
static const comfy_node_def double_node = {
    .size = sizeof(comfy_node_def), .name = "RtDouble",
    .inputs = double_inputs, .n_inputs = 1, .outputs = double_outputs, .n_outputs = 1,
    .flags = COMFY_NODE_OUTPUT_TOOLTIPS | COMFY_NODE_DEPRECATED,
    .execute = double_execute,
};

static int good_init(const comfy_host *h, comfy_registrar *reg)
{
    int rc;
    if ((rc = h->register_node(reg, &load_image)) != COMFY_OK ||
        (rc = h->register_node(reg, &save_image)) != COMFY_OK ||
        (rc = h->register_node(reg, &v3_node)) != COMFY_OK ||
        (rc = h->register_node(reg, &double_node)) != COMFY_OK)
        return rc;
    return COMFY_OK;
}

COMFY_EXPORT const comfy_pack_info *comfy_pack_entry(void)
{
    static const comfy_pack_info info = {
        .size = sizeof(comfy_pack_info), .abi_major = COMFY_ABI_MAJOR,
        .abi_minor = COMFY_ABI_MINOR, .name = "rt_good", .version = "1.0",
        .web_directory = "rt_good_web", .init = good_init,
    };
    return &info;
}
