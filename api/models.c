/*
 * models.c — the model-library routes (spec/api.md §1.9, §1.22):
 * /view_metadata/{folder} reads a .safetensors header itself (8-byte
 * little-endian length, then JSON, at most 1 MiB) and returns its
 * __metadata__; /experiment/models lists folders and files; the preview
 * route re-encodes a model's preview image as WebP.  The folder layout
 * comes from the runtime (cd_runtime_folder_paths).  Network thread only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "fsutil.h"
#include "paths.h"
#include "image.h"
#include "pyjson.h"
#include "routes.h"

#define ST_HEADER_MAX ((uint64_t)1 << 20)
#define PREVIEW_READ_MAX ((size_t)256 << 20)
#define EXP_MAX_ENTRIES 100000

/* {folder: [paths]} from the runtime; new reference or NULL. */
static struct json_object *folder_paths(const cd_req *r)
{
    cd_buf b;
    char err[64];
    struct json_object *o = NULL;
    cd_buf_init(&b, (size_t)64 << 20);
    if (cd_runtime_folder_paths(cd_api_runtime(r->api), &b) == 200)
        o = cd_json_parse(b.data, b.len, 16, err, sizeof(err));
    cd_buf_free(&b);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

static int pt_ext(const char *name)
{
    static const char *ext[] = {".ckpt", ".pt", ".pt2", ".bin", ".pth",
                                ".safetensors", ".pkl", ".sft"};
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
        if (strcasecmp(dot, ext[i]) == 0) return 1;
    return 0;
}

/* Reads the JSON header of a .safetensors file; new reference or NULL. */
static struct json_object *st_header(const char *path)
{
    unsigned char lenb[8];
    char err[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct json_object *o = NULL;
    char *buf = NULL;
    if (fd < 0) return NULL;
    if (pread(fd, lenb, 8, 0) != 8) goto out;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | lenb[i];
    if (n > ST_HEADER_MAX || n == 0) goto out;
    buf = malloc((size_t)n);
    if (!buf || pread(fd, buf, (size_t)n, 8) != (ssize_t)n) goto out;
    o = cd_json_parse(buf, (size_t)n, 64, err, sizeof(err));
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
out:
    free(buf);
    close(fd);
    return o;
}

int cd_h_view_metadata(cd_req *r, cd_resp *w)
{
    const char *fn = cd_req_query(r, "filename");
    const char *folder = r->params[0];
    char rooted[CD_PATH_MAX], norm[CD_PATH_MAX], path[CD_PATH_MAX];
    const char *name;
    struct json_object *fp = NULL, *dirs, *hdr = NULL, *meta;
    int rc = 0;
    size_t fl;

    if (!fn || (fl = strlen(fn)) < 12 || strcmp(fn + fl - 12, ".safetensors") != 0)
        return cd_resp_empty(w, 404);
    if (strcmp(folder, "unet") == 0) folder = "diffusion_models";
    else if (strcmp(folder, "clip") == 0) folder = "text_encoders";
    /* Normalised as if rooted at "/": leading ".." parts vanish. */
    if (snprintf(rooted, sizeof(rooted), "/%s", fn) >= (int)sizeof(rooted) ||
        cd_path_normalize(rooted, norm, sizeof(norm)) < 0 || !norm[1])
        return cd_resp_empty(w, 404);
    name = norm + 1;
    fp = folder_paths(r);
    if (!fp) return -1;
    if (!json_object_object_get_ex(fp, folder, &dirs) ||
        !json_object_is_type(dirs, json_type_array)) {
        rc = cd_resp_empty(w, 404);
        goto out;
    }
    for (size_t i = 0; i < json_object_array_length(dirs); i++) {
        const char *d = json_object_get_string(json_object_array_get_idx(dirs, i));
        if (snprintf(path, sizeof(path), "%s/%s", d, name) >= (int)sizeof(path)) continue;
        if (cd_fs_is_file(path)) break;
        path[0] = '\0';
    }
    if (!path[0] || !(hdr = st_header(path)) ||
        !json_object_object_get_ex(hdr, "__metadata__", &meta)) {
        rc = cd_resp_empty(w, 404);
        goto out;
    }
    rc = cd_resp_json(w, 200, meta);
out:
    json_object_put(hdr);
    json_object_put(fp);
    return rc;
}

int cd_h_exp_models(cd_req *r, cd_resp *w)
{
    struct json_object *fp = folder_paths(r), *arr;
    int rc = -1;
    if (!fp) return -1;
    arr = json_object_new_array();
    if (!arr) goto out;
    json_object_object_foreach(fp, k, v) {
        if (!strcmp(k, "configs") || !strcmp(k, "custom_nodes")) continue;
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "name", json_object_new_string(k));
        json_object_object_add(e, "folders", json_object_get(v));
        json_object_array_add(arr, e);
    }
    rc = cd_resp_json(w, 200, arr);
    json_object_put(arr);
out:
    json_object_put(fp);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk_models(const char *abs, const char *rel, int index,
                        struct json_object *arr, int depth)
{
    DIR *d = opendir(abs);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    if (!d) return;
    while ((de = readdir(d)) && n < EXP_MAX_ENTRIES) {
        if (de->d_name[0] == '.') continue;   /* hidden, . and .. , .git */
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nv = realloc(names, cap * sizeof(*nv));
            if (!nv) break;
            names = nv;
        }
        if (!(names[n] = strdup(de->d_name))) break;
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof(*names), cmp_str);
    for (int pass = 0; pass < 2; pass++) {      /* files first, then dirs */
        for (size_t i = 0; i < n; i++) {
            char a[CD_PATH_MAX], rp[CD_PATH_MAX];
            struct stat st;
            if (snprintf(a, sizeof(a), "%s/%s", abs, names[i]) >= (int)sizeof(a)) continue;
            if (snprintf(rp, sizeof(rp), "%s%s%s", rel, rel[0] ? "/" : "", names[i]) >=
                (int)sizeof(rp))
                continue;
            if (stat(a, &st) != 0) continue;
            if (pass == 0 && S_ISREG(st.st_mode) && pt_ext(names[i]) &&
                json_object_array_length(arr) < EXP_MAX_ENTRIES) {
                struct json_object *o = json_object_new_object();
                json_object_object_add(o, "name", json_object_new_string(rp));
                json_object_object_add(o, "pathIndex", json_object_new_int(index));
                json_object_object_add(o, "modified", json_object_new_double(
                    (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9));
                json_object_object_add(o, "created", json_object_new_double(
                    (double)st.st_ctim.tv_sec + st.st_ctim.tv_nsec / 1e9));
                json_object_object_add(o, "size", json_object_new_int64((int64_t)st.st_size));
                json_object_array_add(arr, o);
            } else if (pass == 1 && S_ISDIR(st.st_mode) && depth < 32) {
                walk_models(a, rp, index, arr, depth + 1);
            }
        }
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

int cd_h_exp_models_folder(cd_req *r, cd_resp *w)
{
    struct json_object *fp = folder_paths(r), *dirs, *arr;
    int rc = -1;
    if (!fp) return -1;
    if (!json_object_object_get_ex(fp, r->params[0], &dirs) ||
        !json_object_is_type(dirs, json_type_array)) {
        rc = cd_resp_empty(w, 404);
        goto out;
    }
    arr = json_object_new_array();
    if (!arr) goto out;
    for (size_t i = 0; i < json_object_array_length(dirs); i++)
        walk_models(json_object_get_string(json_object_array_get_idx(dirs, i)), "",
                    (int)i, arr, 0);
    rc = cd_resp_json(w, 200, arr);
    json_object_put(arr);
out:
    json_object_put(fp);
    return rc;
}

/* Encodes image bytes as a WebP response.  1 done, 0 not decodable. */
static int webp_reply(cd_resp *w, const unsigned char *data, size_t len, int *rc)
{
    cd_image img;
    unsigned char *out = NULL;
    size_t olen;
    if (cd_img_decode(data, len, &img) < 0) return 0;
    if (cd_img_encode_webp(img.rgba, img.width, img.height, 4, 80, &out, &olen) < 0) {
        cd_img_free(&img);
        return 0;
    }
    *rc = cd_resp_bytes(w, 200, "image/webp", out, olen);
    free(out);
    cd_img_free(&img);
    return 1;
}

int cd_h_exp_models_preview(cd_req *r, cd_resp *w)
{
    struct json_object *fp = folder_paths(r), *dirs, *hdr = NULL, *meta, *cov;
    char stem[CD_PATH_MAX], path[CD_PATH_MAX], rel[CD_PATH_MAX];
    static const char *exts[] = {".png", ".jpg", ".jpeg", ".webp"};
    int rc = -1;
    char *end;
    if (!fp) return -1;
    if (!json_object_object_get_ex(fp, r->params[0], &dirs) ||
        !json_object_is_type(dirs, json_type_array)) {
        rc = cd_resp_empty(w, 404);
        goto out;
    }
    errno = 0;
    long idx = strtol(r->params[1], &end, 10);
    if (errno || *end || idx < 0 || (size_t)idx >= json_object_array_length(dirs)) goto out;
    const char *dir = json_object_get_string(json_object_array_get_idx(dirs, (size_t)idx));
    snprintf(rel, sizeof(rel), "%s", r->params[2]);
    char *dot = strrchr(rel, '.'), *slash = strrchr(rel, '/');
    if (dot && (!slash || dot > slash)) *dot = '\0';
    if (cd_paths_join_beneath(dir, rel, stem, sizeof(stem)) < 0) {
        rc = cd_resp_empty(w, 404);
        goto out;
    }
    for (int pre = 0; pre < 2; pre++) {
        for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
            if (snprintf(path, sizeof(path), "%s%s%s", stem, pre ? ".preview" : "",
                         exts[i]) >= (int)sizeof(path))
                continue;
            size_t len;
            char *data = cd_fs_read(path, PREVIEW_READ_MAX, &len);
            if (!data) continue;
            int done = webp_reply(w, (unsigned char *)data, len, &rc);
            free(data);
            if (done) goto out;
        }
    }
    if (snprintf(path, sizeof(path), "%s.safetensors", stem) < (int)sizeof(path) &&
        (hdr = st_header(path)) && json_object_object_get_ex(hdr, "__metadata__", &meta) &&
        json_object_object_get_ex(meta, "ssmd_cover_images", &cov) &&
        json_object_is_type(cov, json_type_string)) {
        char err[64];
        const char *s = json_object_get_string(cov);
        struct json_object *list = cd_json_parse(s, strlen(s), 4, err, sizeof(err));
        if (list && json_object_is_type(list, json_type_array) &&
            json_object_array_length(list) > 0) {
            const char *b64 = json_object_get_string(json_object_array_get_idx(list, 0));
            size_t cap = strlen(b64) * 3 / 4 + 4;
            char *raw = malloc(cap);
            int n = raw ? lws_b64_decode_string_len(b64, (int)strlen(b64), raw, (int)cap) : -1;
            int done = n > 0 && webp_reply(w, (unsigned char *)raw, (size_t)n, &rc);
            free(raw);
            json_object_put(list);
            if (done) goto out;
        } else {
            json_object_put(list);
        }
    }
    rc = cd_resp_empty(w, 404);
out:
    json_object_put(hdr);
    json_object_put(fp);
    return rc;
}
