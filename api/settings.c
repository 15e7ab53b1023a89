/*
 * settings.c — /settings and /settings/{id} (spec/api.md §1.19): one JSON
 * object per user in <user_dir>/<user>/comfy.settings.json.  Network
 * thread only, so read-modify-write needs no lock.
 */
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "pyjson.h"
#include "routes.h"

#define SETTINGS_MAX_BYTES ((size_t)16 << 20)

static int settings_path(const cd_req *r, char *out, size_t cap)
{
    char root[CD_PATH_MAX];
    if (cd_user_root(r, root, sizeof(root)) < 0) return -1;
    int n = snprintf(out, cap, "%s/comfy.settings.json", root);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The stored object, {} when missing or corrupt.  New reference. */
static struct json_object *load(const char *path)
{
    char err[64];
    size_t len;
    char *text = cd_fs_read(path, SETTINGS_MAX_BYTES, &len);
    struct json_object *o = text ? cd_json_parse(text, len, 64, err, sizeof(err)) : NULL;
    free(text);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o ? o : json_object_new_object();
}

static int save(const char *path, struct json_object *o)
{
    cd_buf b;
    int rc = -1;
    cd_buf_init(&b, SETTINGS_MAX_BYTES);
    if (cd_json_dump(&b, o) == 0 && cd_fs_mkparent(path) == 0 &&
        cd_fs_write(path, b.data, b.len) == 0)
        rc = 0;
    cd_buf_free(&b);
    return rc;
}

static int unauthorized(cd_resp *w) { return cd_resp_text(w, 401, "401: Unauthorized"); }

int cd_h_settings_get(cd_req *r, cd_resp *w)
{
    char path[CD_PATH_MAX];
    if (settings_path(r, path, sizeof(path)) < 0) return unauthorized(w);
    struct json_object *o = load(path);
    int rc = o ? cd_resp_json(w, 200, o) : -1;
    json_object_put(o);
    return rc;
}

int cd_h_settings_get_id(cd_req *r, cd_resp *w)
{
    char path[CD_PATH_MAX];
    struct json_object *v = NULL;
    if (settings_path(r, path, sizeof(path)) < 0) return unauthorized(w);
    struct json_object *o = load(path);
    if (!o) return -1;
    json_object_object_get_ex(o, r->params[0], &v);
    int rc = cd_resp_json(w, 200, v);
    json_object_put(o);
    return rc;
}

int cd_h_settings_post(cd_req *r, cd_resp *w)
{
    char path[CD_PATH_MAX];
    int rc = -1;
    if (settings_path(r, path, sizeof(path)) < 0) return unauthorized(w);
    struct json_object *body = cd_req_json(r), *o = NULL;
    if (!body || !json_object_is_type(body, json_type_object)) goto out;
    o = load(path);
    if (!o) goto out;
    json_object_object_foreach(body, k, v) json_object_object_add(o, k, json_object_get(v));
    if (save(path, o) < 0) goto out;
    rc = cd_resp_empty(w, 200);
out:
    json_object_put(body);
    json_object_put(o);
    return rc;
}

int cd_h_settings_post_id(cd_req *r, cd_resp *w)
{
    char path[CD_PATH_MAX], err[96];
    int rc = -1;
    if (settings_path(r, path, sizeof(path)) < 0) return unauthorized(w);
    if (!r->body_len) return -1;
    /* Any JSON value, null included. */
    struct json_object *v = cd_json_parse(r->body, r->body_len, CD_JSON_DEPTH, err, sizeof(err));
    int is_null = !v;
    if (is_null) {
        const char *s = r->body;
        size_t n = r->body_len;
        while (n && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')) s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t')) n--;
        if (!(n == 4 && memcmp(s, "null", 4) == 0)) return -1;
    }
    struct json_object *o = load(path);
    if (!o) goto out;
    json_object_object_add(o, r->params[0], v);
    v = NULL;
    if (save(path, o) < 0) goto out;
    rc = cd_resp_empty(w, 200);
out:
    json_object_put(v);
    json_object_put(o);
    return rc;
}
