/*
 * users.c — GET/POST /users and the choice of the request's user (spec/
 * api.md §1.20, §8.6): always "default" in single-user mode; with
 * --multi-user the Comfy-User header must name a key of
 * <user_dir>/users.json.  Network thread only.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <sys/random.h>

#include "fsutil.h"
#include "pyjson.h"
#include "routes.h"

#define USERS_MAX_BYTES ((size_t)4 << 20)

/* users.json as an object (new reference; {} when missing or corrupt). */
static struct json_object *load_users(const cd_req *r)
{
    char path[CD_PATH_MAX], err[64];
    size_t len;
    snprintf(path, sizeof(path), "%s/users.json", cd_paths_user(cd_api_paths(r->api)));
    char *text = cd_fs_read(path, USERS_MAX_BYTES, &len);
    struct json_object *o = text ? cd_json_parse(text, len, 8, err, sizeof(err)) : NULL;
    free(text);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o ? o : json_object_new_object();
}

int cd_user_root(const cd_req *r, char *out, size_t cap)
{
    const char *user = "default";
    const char *udir = cd_paths_user(cd_api_paths(r->api));
    if (cd_api_config(r->api)->multi_user) {
        struct json_object *users = load_users(r);
        if (r->comfy_user && *r->comfy_user) user = r->comfy_user;
        int known = users && json_object_object_get_ex(users, user, NULL);
        json_object_put(users);
        if (!known) return -1;
        if (strchr(user, '/') || strcmp(user, "..") == 0 || strcmp(user, ".") == 0)
            return -1;
    }
    int n = snprintf(out, cap, "%s/%s", udir, user);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int cd_h_users_get(cd_req *r, cd_resp *w)
{
    struct json_object *o = json_object_new_object();
    int rc;
    if (!o) return -1;
    json_object_object_add(o, "storage", json_object_new_string("server"));
    if (cd_api_config(r->api)->multi_user) {
        json_object_object_add(o, "users", load_users(r));
    } else {
        char p[CD_PATH_MAX];
        snprintf(p, sizeof(p), "%s/default", cd_paths_user(cd_api_paths(r->api)));
        json_object_object_add(o, "migrated", json_object_new_boolean(cd_fs_is_dir(p)));
    }
    rc = cd_resp_json(w, 200, o);
    json_object_put(o);
    return rc;
}

int cd_h_users_post(cd_req *r, cd_resp *w)
{
    struct json_object *body = cd_req_json(r), *un, *users = NULL;
    char name[512], id[600], path[CD_PATH_MAX];
    int rc = -1;
    cd_buf b;

    cd_buf_init(&b, USERS_MAX_BYTES);
    if (!body || !json_object_is_type(body, json_type_object) ||
        !json_object_object_get_ex(body, "username", &un) ||
        !json_object_is_type(un, json_type_string))
        goto out;
    /* strip */
    const char *s = json_object_get_string(un);
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (n == 0 || n >= sizeof(name)) goto out;
    memcpy(name, s, n);
    name[n] = '\0';

    users = load_users(r);
    if (!users) goto out;
    json_object_object_foreach(users, k, v) {
        (void)k;
        if (json_object_is_type(v, json_type_string) &&
            strcmp(json_object_get_string(v), json_object_get_string(un)) == 0) {
            static const char e[] = "{\"error\": \"Duplicate username.\"}";
            rc = cd_resp_json_text(w, 400, e, sizeof(e) - 1);
            goto out;
        }
    }
    /* runs of characters outside [a-zA-Z0-9-_] become '-' */
    size_t j = 0;
    int in_run = 0;
    for (size_t i = 0; i < n && j + 1 < sizeof(id) - 40; i++) {
        unsigned char c = (unsigned char)name[i];
        if (isalnum(c) || c == '-' || c == '_') {
            id[j++] = (char)c;
            in_run = 0;
        } else if (!in_run) {
            id[j++] = '-';
            in_run = 1;
        }
    }
    unsigned char u[16];
    if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) goto out;
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    j += (size_t)snprintf(id + j, sizeof(id) - j,
        "_%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
        u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
        u[12], u[13], u[14], u[15]);
    json_object_object_add(users, id, json_object_new_string(name));
    snprintf(path, sizeof(path), "%s/users.json", cd_paths_user(cd_api_paths(r->api)));
    if (cd_json_dump(&b, users) < 0 || cd_fs_mkparent(path) < 0 ||
        cd_fs_write(path, b.data, b.len) < 0)
        goto out;
    cd_buf_reset(&b);
    if (cd_json_dump_string(&b, id, strlen(id)) < 0) goto out;
    rc = cd_resp_json_text(w, 200, b.data, b.len);
out:
    cd_buf_free(&b);
    json_object_put(users);
    json_object_put(body);
    return rc;
}
