/*
 * nodes_io.c — the file nodes of ComfyUI's nodes.py: SaveImage,
 * PreviewImage, LoadImage, LoadImageMask and LoadImageOutput.
 *
 * LoadImage's COMBO is the sorted list of image files at the top of the
 * input directory, computed when /object_info is built (network thread)
 * or a prompt is validated; IS_CHANGED is the file's SHA-256 and
 * VALIDATE_INPUTS only checks that the (possibly annotated) name resolves
 * to a file.  Execute, is_changed and validate run on the executor
 * thread.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "core.h"

/* At most this many names in a COMBO listing of the input directory. */
#define MAX_LISTED_FILES 100000

#define OUT(t) { sizeof(comfy_output_def), t, NULL, NULL, 0 }

/* Extensions that Python's mimetypes maps to an image type (its built-in
 * table plus common additions from /etc/mime.types), compared without
 * case, as mimetypes.guess_type does. */
static const char *const image_exts[] = {
    "apng", "avif", "bmp", "gif", "heic", "heif", "ico", "ief", "jfif",
    "jpe", "jpeg", "jpg", "jxl", "pbm", "pgm", "png", "pnm", "ppm", "psd",
    "ras", "rgb", "svg", "svgz", "tif", "tiff", "webp", "xbm", "xpm", "xwd",
    NULL
};

static int is_image_name(const char *name)
{
    const char *base = name;
    while (*base == '.')
        base++;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base)
        return 0;
    for (int i = 0; image_exts[i]; i++)
        if (strcasecmp(dot + 1, image_exts[i]) == 0)
            return 1;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the sorted regular files at the top of the input directory
 * (only image files when images_only) to `out` as STRINGs. */
static int list_input(const comfy_host *h, comfy_value *out, int images_only)
{
    const char *dir = h ? h->directory(h->ctx, "input") : NULL;
    if (!dir)
        return COMFY_ENOENT;
    DIR *d = opendir(dir);
    if (!d)
        return 0; /* a missing input directory lists nothing */
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MAX_LISTED_FILES) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (images_only && !is_image_name(e->d_name))
            continue;
        char path[4096];
        struct stat st;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >=
                (int)sizeof(path) ||
            stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nn = realloc(names, nc * sizeof(char *));
            if (!nn) {
                rc = COMFY_ENOMEM;
                break;
            }
            names = nn;
            cap = nc;
        }
        names[n] = strdup(e->d_name);
        if (!names[n]) {
            rc = COMFY_ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(char *), cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            comfy_value *s = h->value_string(h->ctx, names[i], (size_t)-1);
            rc = s ? h->list_append(out, s) : COMFY_ENOMEM;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

static int image_choices(const comfy_host *h, void *user, comfy_value *out)
{
    (void)user;
    return list_input(h, out, 1);
}

static int all_file_choices(const comfy_host *h, void *user, comfy_value *out)
{
    (void)user;
    return list_input(h, out, 0);
}

/* Resolves input "image" to a path; fails the call when it does not. */
static int image_path(comfy_call *call, char *path, size_t cap)
{
    const comfy_host *h = call->host;
    const char *name;
    int rc = core_in_string(call, "image", &name);
    if (rc)
        return rc;
    rc = h->annotated_path(h->ctx, name, path, cap);
    if (rc == COMFY_EACCES)
        return h->fail(call, "ValueError", "Invalid image file: %s (outside "
                       "the input, output and temp folders)", name);
    if (rc)
        return h->fail(call, "FileNotFoundError", "No such image file: %s",
                       name);
    return COMFY_OK;
}

static int load_file(comfy_call *call, core_image *img)
{
    char path[4096], err[512];
    int rc = image_path(call, path, sizeof(path));
    if (rc)
        return rc;
    rc = core_image_load(path, img, err, sizeof(err));
    if (rc) {
        const char *name = call->host->value_get_string(
            call->host->input(call, "image"));
        return call->host->fail(call, rc == COMFY_ENOMEM ? "RuntimeError"
                                : "UnidentifiedImageError",
                                "cannot load image %s: %s", name, err);
    }
    return COMFY_OK;
}

/* ---------------------------------------------------------- LoadImage */

static int load_image_execute(comfy_call *call)
{
    core_image img;
    int rc = load_file(call, &img);
    if (rc)
        return rc;
    int64_t w = img.w, h = img.h, c = img.channels, n = img.frames;
    int has_alpha = c == 2 || c == 4;
    if (img.mixed_masks) {
        core_image_free(&img);
        return call->host->fail(call, "RuntimeError", "Sizes of tensors "
                                "must match except in dimension 0 (the "
                                "frames' masks: some %lldx%lld from alpha, "
                                "some 64x64 without)", (long long)h,
                                (long long)w);
    }
    /* frames concatenate; without alpha each frame's mask is 64x64 zeros */
    comfy_tensor *t = core_new_image(call, n, h, w, 3);
    comfy_tensor *m = NULL;
    if (t)
        m = has_alpha ? core_new_mask(call, n, h, w)
                      : core_new_mask(call, n, 64, 64);
    if (!m) {
        call->host->tensor_release(t);
        core_image_free(&img);
        return COMFY_ERR;
    }
    float *o = t->data, *mo = m->data;
    for (int64_t i = 0; i < n * w * h; i++) {
        const uint8_t *p = img.pixels + i * c;
        for (int k = 0; k < 3; k++)
            o[i * 3 + k] = (float)p[c >= 3 ? k : 0] / 255.0f;
        if (has_alpha)
            mo[i] = 1.0f - (float)p[c - 1] / 255.0f;
    }
    core_image_free(&img);
    rc = core_set_tensor(call, 0, t);
    if (rc) {
        call->host->tensor_release(m);
        return rc;
    }
    return core_set_tensor(call, 1, m);
}

/* IS_CHANGED: the file's SHA-256 as hex. */
static int load_image_changed(comfy_call *call, comfy_value **out)
{
    const comfy_host *h = call->host;
    char path[4096], hex[65];
    int rc = image_path(call, path, sizeof(path));
    if (rc)
        return rc;
    if (core_sha256_file(path, hex))
        return h->fail(call, "FileNotFoundError", "cannot read %s", path);
    *out = h->value_string(h->ctx, hex, 64);
    return *out ? COMFY_OK : h->fail(call, "RuntimeError", "out of memory");
}

/* VALIDATE_INPUTS(image): the name must resolve to an existing file. */
static int load_image_validate(comfy_call *call)
{
    const comfy_host *h = call->host;
    const comfy_value *v = h->input(call, "image");
    char path[4096];
    struct stat st;
    if (!v)
        return COMFY_OK; /* linked: checked when it runs */
    const char *name = h->value_get_string(v);
    if (!name || h->annotated_path(h->ctx, name, path, sizeof(path)) != 0 ||
        stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return h->fail(call, "ValueError", "Invalid image file: %s",
                       name ? name : "");
    return COMFY_OK;
}

static const char *const validates_image[] = { "image", NULL };

/* LoadImageOutput: LoadImage's node over the output folder.  Its COMBO
 * has no list; the frontend fills it from /internal/files/output with
 * "name [output]" values, which annotated_path resolves. */
static const comfy_input_def load_output_inputs[] = {
    { sizeof(comfy_input_def), "image", "COMBO", COMFY_REQUIRED,
      "{\"image_upload\": true, \"image_folder\": \"output\", "
      "\"remote\": {\"route\": \"/internal/files/output\", "
      "\"refresh_button\": true, \"control_after_refresh\": \"first\"}}",
      NULL, NULL, NULL, 1 },
};

static const comfy_input_def load_image_inputs[] = {
    { sizeof(comfy_input_def), "image", "COMBO", COMFY_REQUIRED,
      "{\"image_upload\": true}", NULL, image_choices, NULL, 0 },
};
static const comfy_output_def load_image_outputs[] = { OUT("IMAGE"),
                                                       OUT("MASK") };

/* ------------------------------------------------------ LoadImageMask */

static const char *const mask_channels[] = {
    "alpha", "red", "green", "blue", NULL
};

static int load_mask_execute(comfy_call *call)
{
    core_image img;
    int ch, rc;
    if ((rc = core_in_choice(call, "channel", mask_channels, &ch)))
        return rc;
    if ((rc = load_file(call, &img)))
        return rc;
    int64_t w = img.w, h = img.h, c = img.channels;
    comfy_tensor *m = core_new_mask(call, 1, h, w);
    if (!m) {
        core_image_free(&img);
        return COMFY_ERR;
    }
    float *mo = m->data;
    /* Only the first frame counts.  PIL converts to RGBA first: gray
     * fills R, G and B; no alpha reads as 255. */
    for (int64_t i = 0; i < w * h; i++) {
        const uint8_t *p = img.pixels + i * c;
        uint8_t v;
        if (ch == 0 && (c == 2 || c == 4))
            v = p[c - 1];
        else if (ch == 0) /* convert("RGBA") applies a transparency key */
            v = img.has_key && p[0] == img.key[0] &&
                (c == 1 || (p[1] == img.key[1] && p[2] == img.key[2]))
                    ? 0 : 255;
        else
            v = c >= 3 ? p[ch - 1] : p[0];
        float f = (float)v / 255.0f;
        mo[i] = ch == 0 ? 1.0f - f : f;
    }
    core_image_free(&img);
    return core_set_tensor(call, 0, m);
}

static const comfy_input_def load_mask_inputs[] = {
    { sizeof(comfy_input_def), "image", "COMBO", COMFY_REQUIRED,
      "{\"image_upload\": true}", NULL, all_file_choices, NULL, 0 },
    { sizeof(comfy_input_def), "channel", "COMBO", COMFY_REQUIRED, NULL,
      mask_channels, NULL, NULL, 0 },
};
static const comfy_output_def mask_outputs[] = { OUT("MASK") };

/* ------------------------------------------- SaveImage, PreviewImage */

/* Copies `s` into out[cap] with every "%batch_num%" replaced by `num`.
 * 0, or -1 when it does not fit. */
static int replace_batch_num(const char *s, int64_t num, char *out,
                             size_t cap)
{
    static const char tok[] = "%batch_num%";
    size_t n = 0;
    while (*s) {
        int k;
        if (strncmp(s, tok, sizeof(tok) - 1) == 0) {
            k = snprintf(out + n, cap - n, "%lld", (long long)num);
            s += sizeof(tok) - 1;
        } else {
            k = snprintf(out + n, cap - n, "%c", *s);
            s++;
        }
        if (k < 0 || (size_t)k >= cap - n)
            return -1;
        n += (size_t)k;
    }
    if (n == 0 && cap)
        out[0] = '\0';
    return 0;
}

/* True when the server runs with --disable-metadata (hosts from SDK ABI
 * 1.1 on say so through host->setting; older ones never do). */
static int metadata_disabled(const comfy_host *h)
{
#if COMFY_ABI_MINOR >= 1
    if (COMFY_HAS_FIELD(h, comfy_host, setting) && h->setting) {
        const char *v = h->setting(h->ctx, "disable-metadata");
        return v && strcmp(v, "1") == 0;
    }
#endif
    (void)h;
    return 0;
}

int core_save_images(comfy_call *call, const core_view *imgv,
                     const char *which, const char *prefix, int level)
{
    const comfy_host *h = call->host;
    const core_view img = *imgv;
    comfy_save_path sp;
    const char *keys[66], *texts[66];
    size_t n_texts = 0;
    uint8_t *px = NULL;
    comfy_value *list = NULL, *ui = NULL;
    char err[512];
    int rc;
    if (img.c != 3 && img.c != 4) {
        rc = h->fail(call, "TypeError", "cannot save an image with %lld "
                     "channels as PNG (3 or 4 needed)", (long long)img.c);
        goto out;
    }
    memset(&sp, 0, sizeof(sp));
    sp.size = sizeof(sp);
    rc = h->save_path(h->ctx, which, prefix, img.w, img.h, &sp);
    if (rc) {
        rc = h->fail(call, "ValueError", "cannot save to '%s' in the %s "
                     "folder (the path is invalid or leaves the folder)",
                     prefix, which);
        goto out;
    }
    /* metadata: prompt, then each extra_pnginfo key in order */
    int meta = !metadata_disabled(h);
    const comfy_value *pv = meta ? h->input(call, "prompt") : NULL;
    if (pv && h->value_get_string(pv)) {
        keys[n_texts] = "prompt";
        texts[n_texts++] = h->value_get_string(pv);
    }
    const comfy_value *ev = meta ? h->input(call, "extra_pnginfo") : NULL;
    if (ev && h->value_kind(ev) == COMFY_KIND_MAP) {
        for (size_t i = 0; i < h->map_len(ev) && n_texts < 66; i++) {
            const char *t = h->value_get_string(h->map_value(ev, i));
            if (!t)
                continue;
            keys[n_texts] = h->map_key(ev, i);
            texts[n_texts++] = t;
        }
    }
    list = h->value_list(h->ctx);
    px = malloc((size_t)(img.h * img.w * img.c));
    if (!list || !px) {
        rc = h->fail(call, "RuntimeError", "out of memory");
        goto out;
    }
    int64_t counter = sp.counter;
    for (int64_t b = 0; b < img.b; b++) {
        if ((rc = h->interrupted(call)) != COMFY_OK)
            goto out;
        const float *src = img.data + b * img.h * img.w * img.c;
        for (int64_t i = 0; i < img.h * img.w * img.c; i++) {
            float v = 255.0f * src[i];
            px[i] = !(v > 0.0f) ? 0 : v > 255.0f ? 255 : (uint8_t)v;
        }
        char base[1100], file[1200], path[5400];
        if (replace_batch_num(sp.filename, b, base, sizeof(base)) < 0 ||
            snprintf(file, sizeof(file), "%s_%05lld_.png", base,
                     (long long)counter) >= (int)sizeof(file) ||
            snprintf(path, sizeof(path), "%s/%s", sp.full_folder, file) >=
                (int)sizeof(path)) {
            rc = h->fail(call, "ValueError", "the file name is too long");
            goto out;
        }
        rc = core_png_write(path, px, img.w, img.h, (int)img.c, level, keys,
                            texts, n_texts, err, sizeof(err));
        if (rc) {
            rc = h->fail(call, "OSError", "%s", err);
            goto out;
        }
        /* map_set and list_append take their item even when they fail */
        comfy_value *entry = h->value_map(h->ctx);
        int bad = h->map_set(entry, "filename",
                             h->value_string(h->ctx, file, (size_t)-1));
        bad |= h->map_set(entry, "subfolder",
                          h->value_string(h->ctx, sp.subfolder, (size_t)-1));
        bad |= h->map_set(entry, "type",
                          h->value_string(h->ctx, which, (size_t)-1));
        bad |= h->list_append(list, entry);
        if (bad) {
            rc = h->fail(call, "RuntimeError", "out of memory");
            goto out;
        }
        counter++;
    }
    ui = h->value_map(h->ctx);
    rc = h->map_set(ui, "images", list); /* takes list */
    list = NULL;
    if (rc) {
        rc = h->fail(call, "RuntimeError", "out of memory");
        goto out;
    }
    rc = h->set_ui(call, ui);
    ui = NULL;
out:
    h->value_release(list);
    h->value_release(ui);
    free(px);
    return rc;
}

/* Saves input "images" (the shared body of SaveImage and PreviewImage). */
static int save_input_images(comfy_call *call, const char *which,
                             const char *prefix, int level)
{
    core_view img;
    int rc = core_in_image(call, "images", &img);
    if (rc)
        return rc;
    rc = core_save_images(call, &img, which, prefix, level);
    core_view_free(&img);
    return rc;
}

static int save_image_execute(comfy_call *call)
{
    const char *prefix;
    int rc = core_in_string(call, "filename_prefix", &prefix);
    if (rc)
        return rc;
    return save_input_images(call, "output", prefix, 4);
}

/* ComfyUI draws PreviewImage's 5 letters once per node object, and keeps
 * the object for a node id (of the same class) across prompts, so reruns
 * of one node count up under one prefix.  This table keeps that:
 * (node id, class) -> letters, the oldest entry replaced when full.
 * Executor thread only (execute runs one node at a time), so no lock. */
#define PREVIEW_IDS 256
static struct {
    char node_id[64];
    const char *cls;       /* a class name from a static node def */
    char letters[6];
} preview_ids[PREVIEW_IDS];
static size_t preview_next;

void core_preview_prefix(comfy_call *call, char out[32])
{
    /* ComfyUI's alphabet: no 'w', 'p' twice. */
    static const char letters[] = "abcdefghijklmnopqrstupvxyz";
    const char *id = call->node_id ? call->node_id : "";
    const char *cls = call->def->name;
    char s[6];
    for (size_t i = 0; i < PREVIEW_IDS; i++) {
        if (preview_ids[i].letters[0] && preview_ids[i].cls == cls &&
            strcmp(preview_ids[i].node_id, id) == 0) {
            snprintf(out, 32, "ComfyUI_temp_%s", preview_ids[i].letters);
            return;
        }
    }
    uint8_t rnd[5];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        uint64_t t = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
        for (int i = 0; i < 5; i++)
            rnd[i] = (uint8_t)(t >> (i * 8 + 16));
    }
    for (int i = 0; i < 5; i++)
        s[i] = letters[rnd[i] % 26];
    s[5] = '\0';
    size_t slot = preview_next++ % PREVIEW_IDS;
    snprintf(preview_ids[slot].node_id, sizeof(preview_ids[slot].node_id),
             "%s", id);
    preview_ids[slot].cls = cls;
    memcpy(preview_ids[slot].letters, s, 6);
    snprintf(out, 32, "ComfyUI_temp_%s", s);
}

static int preview_image_execute(comfy_call *call)
{
    char prefix[32];
    core_preview_prefix(call, prefix);
    return save_input_images(call, "temp", prefix, 1);
}

static const comfy_input_def save_image_inputs[] = {
    { sizeof(comfy_input_def), "images", "IMAGE", COMFY_REQUIRED,
      "{\"tooltip\": \"The images to save.\"}", NULL, NULL, NULL, 0 },
    { sizeof(comfy_input_def), "filename_prefix", "STRING", COMFY_REQUIRED,
      "{\"default\": \"ComfyUI\", \"tooltip\": \"The prefix for the file to "
      "save. This may include formatting information such as "
      "%date:yyyy-MM-dd% or %Empty Latent Image.width% to include values "
      "from nodes.\"}", NULL, NULL, NULL, 0 },
    { sizeof(comfy_input_def), "prompt", "PROMPT", COMFY_HIDDEN, NULL, NULL,
      NULL, NULL, 0 },
    { sizeof(comfy_input_def), "extra_pnginfo", "EXTRA_PNGINFO", COMFY_HIDDEN,
      NULL, NULL, NULL, NULL, 0 },
};

static const comfy_input_def preview_image_inputs[] = {
    { sizeof(comfy_input_def), "images", "IMAGE", COMFY_REQUIRED, NULL, NULL,
      NULL, NULL, 0 },
    { sizeof(comfy_input_def), "prompt", "PROMPT", COMFY_HIDDEN, NULL, NULL,
      NULL, NULL, 0 },
    { sizeof(comfy_input_def), "extra_pnginfo", "EXTRA_PNGINFO", COMFY_HIDDEN,
      NULL, NULL, NULL, NULL, 0 },
};

#define SAVE_DESC "Saves the input images to your ComfyUI output directory."

/* In the order of ComfyUI's nodes.NODE_CLASS_MAPPINGS. */
static const comfy_node_def io_nodes[] = {
    { .size = sizeof(comfy_node_def), .name = "SaveImage",
      .display_name = "Save Image", .category = "image",
      .description = SAVE_DESC, .module = "nodes",
      .inputs = save_image_inputs, .n_inputs = 4, .outputs = NULL,
      .n_outputs = 0, .flags = COMFY_NODE_OUTPUT,
      .execute = save_image_execute },
    /* PreviewImage subclasses SaveImage and inherits its description. */
    { .size = sizeof(comfy_node_def), .name = "PreviewImage",
      .display_name = "Preview Image", .category = "image",
      .description = SAVE_DESC, .module = "nodes",
      .inputs = preview_image_inputs, .n_inputs = 3, .outputs = NULL,
      .n_outputs = 0, .flags = COMFY_NODE_OUTPUT,
      .execute = preview_image_execute },
    { .size = sizeof(comfy_node_def), .name = "LoadImage",
      .display_name = "Load Image", .category = "image", .module = "nodes",
      .inputs = load_image_inputs, .n_inputs = 1,
      .outputs = load_image_outputs, .n_outputs = 2,
      .execute = load_image_execute, .is_changed = load_image_changed,
      .validate_inputs = load_image_validate, .validates = validates_image },
    { .size = sizeof(comfy_node_def), .name = "LoadImageMask",
      .display_name = "Load Image (as Mask)", .category = "mask",
      .module = "nodes", .inputs = load_mask_inputs, .n_inputs = 2,
      .outputs = mask_outputs, .n_outputs = 1,
      .execute = load_mask_execute, .is_changed = load_image_changed,
      .validate_inputs = load_image_validate, .validates = validates_image },
    { .size = sizeof(comfy_node_def), .name = "LoadImageOutput",
      .display_name = "Load Image (from Outputs)", .category = "image",
      .description = "Load an image from the output folder. When the "
      "refresh button is clicked, the node will update the image list and "
      "automatically select the first image, allowing for easy iteration.",
      .module = "nodes", .inputs = load_output_inputs, .n_inputs = 1,
      .outputs = load_image_outputs, .n_outputs = 2,
      .flags = COMFY_NODE_EXPERIMENTAL,
      .execute = load_image_execute, .is_changed = load_image_changed,
      .validate_inputs = load_image_validate, .validates = validates_image },
};

int core_register_io_nodes(const comfy_host *h, comfy_registrar *reg)
{
    for (size_t i = 0; i < sizeof(io_nodes) / sizeof(io_nodes[0]); i++) {
        int rc = h->register_node(reg, &io_nodes[i]);
        if (rc)
            return rc;
    }
    return 0;
}
