/*
 * static.c — GET / and the static catch-all (spec/api.md §1.2): the
 * frontend's files from --front-end-root, node packs' web directories at
 * /extensions/<pack>/..., and, without a frontend, a small page saying
 * comfyd runs and how to add one.  Network thread only.
 */
#include <string.h>

#include "fsutil.h"
#include "paths.h"
#include "routes.h"

static const char status_page[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>comfyd</title></head>\n"
    "<body style=\"font-family: sans-serif; max-width: 40em; margin: 3em auto\">\n"
    "<h1>comfyd is running</h1>\n"
    "<p>This is a ComfyUI-compatible server. Its API answers on this port "
    "(<code>/prompt</code>, <code>/queue</code>, <code>/history</code>, "
    "<code>/object_info</code>, <code>/ws</code>, ...).</p>\n"
    "<p>No web frontend is configured. To use the ComfyUI web interface, get the "
    "static files of the frontend (for example <code>pip download "
    "comfyui-frontend-package==1.27.10</code> and unpack the wheel's "
    "<code>comfyui_frontend_package/static</code> folder) and start comfyd with "
    "<code>--front-end-root DIR</code>.</p>\n</body></html>\n";

static int no_cache(cd_resp *w)
{
    if (w->status != 200) return 0;
    return cd_resp_header(w, "Cache-Control", "no-cache", 1) |
           cd_resp_header(w, "Pragma", "no-cache", 1) |
           cd_resp_header(w, "Expires", "0", 1);
}

int cd_h_root(cd_req *r, cd_resp *w)
{
    const char *root = cd_api_config(r->api)->front_end_root;
    char path[CD_PATH_MAX];
    if (!root) {
        if (cd_resp_bytes(w, 200, "text/html; charset=utf-8", status_page,
                          sizeof(status_page) - 1) < 0)
            return -1;
        return no_cache(w);
    }
    if (snprintf(path, sizeof(path), "%s/index.html", root) >= (int)sizeof(path))
        return cd_resp_empty(w, 404);
    if (cd_resp_file(w, r, path, "text/html") < 0) return -1;
    return no_cache(w);
}

/* Serves `rel` from beneath `dir`: 404 (empty) when missing or escaping,
 * 403 for a directory. */
static int serve_beneath(cd_req *r, cd_resp *w, const char *dir, const char *rel)
{
    char path[CD_PATH_MAX];
    if (!*rel || cd_paths_join_beneath(dir, rel, path, sizeof(path)) < 0)
        return cd_resp_empty(w, 404);
    if (cd_fs_is_dir(path)) return cd_resp_text(w, 403, "403: Forbidden");
    /* A pre-compressed sibling (<file>.br / <file>.gz) when the client
     * accepts it (spec §1.2, optional). */
    static const struct { const char *token, *ext, *enc; } sib[] = {
        {"br", ".br", "br"}, {"gzip", ".gz", "gzip"},
    };
    for (size_t i = 0; r->accept_encoding && i < 2; i++) {
        char zpath[CD_PATH_MAX];
        if (!strstr(r->accept_encoding, sib[i].token) || !cd_fs_is_file(path) ||
            snprintf(zpath, sizeof(zpath), "%s%s", path, sib[i].ext) >= (int)sizeof(zpath) ||
            !cd_fs_is_file(zpath))
            continue;
        const char *type = cd_mime_guess(path);
        if (cd_resp_file(w, r, zpath, type ? type : "application/octet-stream") < 0 ||
            cd_resp_header(w, "Content-Encoding", sib[i].enc, 1) < 0 ||
            cd_resp_header(w, "Vary", "Accept-Encoding", 1) < 0)
            return -1;
        return 0;
    }
    return cd_resp_file(w, r, path, NULL);
}

int cd_static_serve(cd_req *r, cd_resp *w)
{
    const char *p = r->path;
    if (strncmp(p, "/extensions/", 12) == 0) {
        char name[256];
        const char *rest = strchr(p + 12, '/');
        if (rest && (size_t)(rest - (p + 12)) < sizeof(name)) {
            snprintf(name, sizeof(name), "%.*s", (int)(rest - (p + 12)), p + 12);
            const char *dir = cd_runtime_extension_dir(cd_api_runtime(r->api), name);
            if (dir) return serve_beneath(r, w, dir, rest + 1);
        }
    }
    const char *root = cd_api_config(r->api)->front_end_root;
    if (!root) return cd_resp_empty(w, 404);
    while (*p == '/') p++;
    if (!*p) return cd_resp_empty(w, 404);
    return serve_beneath(r, w, root, p);
}
