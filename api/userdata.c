/*
 * userdata.c — the user-data file routes (spec/api.md §1.21): v1 and v2
 * listings, read, write, delete and move of files under the user's root
 * <user_dir>/<user>.  Every client path is joined with cd_paths_join_beneath,
 * so "..", absolute paths and symbolic links cannot leave the root.
 * Network thread only.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "paths.h"
#include "pyjson.h"
#include "routes.h"

#define WALK_MAX_ENTRIES 100000
#define WALK_MAX_DEPTH 64

static double ts(struct timespec t) { return (double)t.tv_sec + (double)t.tv_nsec / 1e9; }

static int flag_true(const char *v) { return v && strcasecmp(v, "true") == 0; }

/* The second percent-decoding of §0.6 (only when a '%' remains). */
static char *decode_again(const char *s)
{
    if (!strchr(s, '%')) return strdup(s);
    return cd_url_decode(s, strlen(s), 0);
}

/* {"path", "size", "modified", "created"}; new reference or NULL. */
static struct json_object *full_info(const char *rel, const char *abs)
{
    struct stat st;
    if (stat(abs, &st) != 0) return NULL;
    struct json_object *o = json_object_new_object();
    if (!o) return NULL;
    json_object_object_add(o, "path", json_object_new_string(rel));
    json_object_object_add(o, "size", json_object_new_int64((int64_t)st.st_size));
    json_object_object_add(o, "modified", json_object_new_double(ts(st.st_mtim)));
    json_object_object_add(o, "created", json_object_new_double(ts(st.st_ctim)));
    return o;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted directory entries (without . and ..).  Caller frees each and the
 * array.  NULL with *n = 0 when the directory cannot be read. */
static char **list_dir(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    char **v = NULL;
    size_t cap = 0;
    struct dirent *de;
    *n = 0;
    if (!d) return NULL;
    while ((de = readdir(d)) && *n < WALK_MAX_ENTRIES) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nv = realloc(v, cap * sizeof(*v));
            if (!nv) break;
            v = nv;
        }
        if (!(v[*n] = strdup(de->d_name))) break;
        (*n)++;
    }
    closedir(d);
    if (*n) qsort(v, *n, sizeof(*v), cmp_str);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* v1 walk: regular files, no dot names, relative to base. */
static void walk_v1(const char *abs, const char *rel, int recurse, int full, int split,
                    struct json_object *arr, int depth)
{
    size_t n;
    char **names = list_dir(abs, &n);
    for (size_t i = 0; i < n; i++) {
        char a[CD_PATH_MAX], rp[CD_PATH_MAX];
        struct stat st;
        if (names[i][0] == '.') continue;
        if (snprintf(a, sizeof(a), "%s/%s", abs, names[i]) >= (int)sizeof(a)) continue;
        if (snprintf(rp, sizeof(rp), "%s%s%s", rel, rel[0] ? "/" : "", names[i]) >=
            (int)sizeof(rp))
            continue;
        if (stat(a, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (recurse && depth < WALK_MAX_DEPTH)
                walk_v1(a, rp, recurse, full, split, arr, depth + 1);
            continue;
        }
        if (!S_ISREG(st.st_mode)) continue;
        if (full) {
            struct json_object *o = full_info(rp, a);
            if (o) json_object_array_add(arr, o);
        } else if (split) {
            struct json_object *s = json_object_new_array();
            json_object_array_add(s, json_object_new_string(rp));
            char tmp[CD_PATH_MAX], *save = NULL;
            snprintf(tmp, sizeof(tmp), "%s", rp);
            for (char *t = strtok_r(tmp, "/", &save); t; t = strtok_r(NULL, "/", &save))
                json_object_array_add(s, json_object_new_string(t));
            json_object_array_add(arr, s);
        } else {
            json_object_array_add(arr, json_object_new_string(rp));
        }
    }
    free_list(names, n);
}

int cd_h_userdata_list(cd_req *r, cd_resp *w)
{
    char root[CD_PATH_MAX], dir[CD_PATH_MAX];
    const char *d = cd_req_query(r, "dir");
    if (!d || !*d) return cd_resp_text(w, 400, "Directory not provided");
    if (cd_user_root(r, root, sizeof(root)) < 0) return -1;
    char *dd = decode_again(d);
    if (!dd) return -1;
    int bad = cd_paths_join_beneath(root, dd, dir, sizeof(dir)) < 0;
    free(dd);
    if (bad) return cd_resp_text(w, 403, "Invalid directory");
    if (!cd_fs_is_dir(dir)) return cd_resp_text(w, 404, "Directory not found");
    struct json_object *arr = json_object_new_array();
    if (!arr) return -1;
    int full = flag_true(cd_req_query(r, "full_info"));
    walk_v1(dir, "", flag_true(cd_req_query(r, "recurse")), full,
            !full && flag_true(cd_req_query(r, "split")), arr, 0);
    int rc = cd_resp_json(w, 200, arr);
    json_object_put(arr);
    return rc;
}

/* v2 walk: every entry, dotfiles included; paths relative to the root. */
typedef struct v2ent { char *name, *lname; struct json_object *o; int is_dir; size_t seq; } v2ent;

typedef struct v2list { v2ent *v; size_t n, cap; } v2list;

static int v2_add(v2list *l, const char *name, struct json_object *o, int is_dir)
{
    if (l->n >= WALK_MAX_ENTRIES) {
        json_object_put(o);
        return -1;
    }
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        v2ent *nv = realloc(l->v, nc * sizeof(*nv));
        if (!nv) {
            json_object_put(o);
            return -1;
        }
        l->v = nv;
        l->cap = nc;
    }
    v2ent *e = &l->v[l->n];
    e->name = strdup(name);
    e->lname = strdup(name);
    if (!e->name || !e->lname) {
        free(e->name);
        free(e->lname);
        json_object_put(o);
        return -1;
    }
    for (char *p = e->lname; *p; p++) *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    e->o = o;
    e->is_dir = is_dir;
    e->seq = l->n;
    l->n++;
    return 0;
}

static int v2_walk(const char *abs, const char *rel, v2list *l, int depth)
{
    size_t n;
    DIR *probe = opendir(abs);
    if (!probe) return -1;
    closedir(probe);
    char **names = list_dir(abs, &n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char a[CD_PATH_MAX], rp[CD_PATH_MAX];
        struct stat st;
        if (snprintf(a, sizeof(a), "%s/%s", abs, names[i]) >= (int)sizeof(a)) continue;
        if (snprintf(rp, sizeof(rp), "%s%s%s", rel, rel[0] ? "/" : "", names[i]) >=
            (int)sizeof(rp))
            continue;
        struct json_object *o = json_object_new_object();
        if (!o) {
            rc = -1;
            break;
        }
        int st_ok = stat(a, &st) == 0;
        int is_dir = st_ok && S_ISDIR(st.st_mode);
        json_object_object_add(o, "name", json_object_new_string(names[i]));
        json_object_object_add(o, "path", json_object_new_string(rp));
        json_object_object_add(o, "type", json_object_new_string(is_dir ? "directory" : "file"));
        if (!is_dir && st_ok) {
            json_object_object_add(o, "size", json_object_new_int64((int64_t)st.st_size));
            json_object_object_add(o, "modified", json_object_new_double(ts(st.st_mtim)));
        }
        if (v2_add(l, names[i], o, is_dir) < 0) rc = -1;
        else if (is_dir && depth < WALK_MAX_DEPTH) rc = v2_walk(a, rp, l, depth + 1);
    }
    free_list(names, n);
    return rc;
}

static int v2_cmp(const void *a, const void *b)
{
    const v2ent *x = a, *y = b;
    if (x->is_dir != y->is_dir) return x->is_dir ? -1 : 1;
    int c = strcmp(x->lname, y->lname);
    if (c) return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int cd_h_userdata_v2(cd_req *r, cd_resp *w)
{
    char root[CD_PATH_MAX], target[CD_PATH_MAX];
    const char *p = cd_req_query(r, "path");
    v2list l = {0};
    int rc = -1;

    if (cd_user_root(r, root, sizeof(root)) < 0)
        return cd_resp_text(w, 403, "Invalid user specified in request");
    char *pp = decode_again(p ? p : "");
    if (!pp) return -1;
    int bad = cd_paths_join_beneath(root, pp, target, sizeof(target)) < 0;
    free(pp);
    if (bad) return cd_resp_text(w, 400, "Invalid path requested");
    struct stat st;
    if (stat(target, &st) != 0) {
        if (strcmp(target, root) == 0) return cd_resp_json_text(w, 200, "[]", 2);
        return cd_resp_text(w, 404, "Requested path not found");
    }
    if (!S_ISDIR(st.st_mode)) return cd_resp_text(w, 400, "Requested path is not a directory");
    const char *rel = strcmp(target, root) == 0 ? "" : target + strlen(root) + 1;
    if (v2_walk(target, rel, &l, 0) < 0) {
        rc = cd_resp_text(w, 500, "Error reading directory contents");
        goto out;
    }
    qsort(l.v, l.n, sizeof(*l.v), v2_cmp);
    struct json_object *arr = json_object_new_array();
    if (!arr) goto out;
    for (size_t i = 0; i < l.n; i++) {
        json_object_array_add(arr, l.v[i].o);
        l.v[i].o = NULL;
    }
    rc = cd_resp_json(w, 200, arr);
    json_object_put(arr);
out:
    for (size_t i = 0; i < l.n; i++) {
        free(l.v[i].name);
        free(l.v[i].lname);
        json_object_put(l.v[i].o);
    }
    free(l.v);
    return rc;
}

/* Resolves path parameter `param` (decoded once more) under the user's
 * root.  0 ok; 1 empty (400); 2 escapes (403); -1 unknown user/memory. */
static int resolve(const cd_req *r, const char *param, char *root, char *out)
{
    if (cd_user_root(r, root, CD_PATH_MAX) < 0) return -1;
    if (!param || !*param) return 1;
    char *p = decode_again(param);
    if (!p) return -1;
    int bad = !*p || cd_paths_join_beneath(root, p, out, CD_PATH_MAX) < 0 ||
              strcmp(out, root) == 0;
    free(p);
    return bad ? 2 : 0;
}

int cd_h_userdata_get(cd_req *r, cd_resp *w)
{
    char root[CD_PATH_MAX], path[CD_PATH_MAX];
    int rc = resolve(r, r->params[0], root, path);
    if (rc < 0) return -1;
    if (rc == 1) return cd_resp_empty(w, 400);
    if (rc == 2) return cd_resp_empty(w, 403);
    if (cd_fs_is_dir(path)) return cd_resp_empty(w, 403);
    return cd_resp_file(w, r, path, NULL);
}

/* The success body of a write or move: the path relative to the root as
 * a JSON string, or the full-info object. */
static int written(cd_resp *w, const char *root, const char *path, int full)
{
    const char *rel = path + strlen(root) + 1;
    if (full) {
        struct json_object *o = full_info(rel, path);
        if (!o) return -1;
        int rc = cd_resp_json(w, 200, o);
        json_object_put(o);
        return rc;
    }
    struct json_object *s = json_object_new_string(rel);
    int rc = s ? cd_resp_json(w, 200, s) : -1;
    json_object_put(s);
    return rc;
}

int cd_h_userdata_post(cd_req *r, cd_resp *w)
{
    char root[CD_PATH_MAX], path[CD_PATH_MAX];
    const char *ov = cd_req_query(r, "overwrite");
    int overwrite = !(ov && strcmp(ov, "false") == 0);
    int rc = resolve(r, r->params[0], root, path);
    if (rc < 0) return -1;
    if (rc == 1) return cd_resp_empty(w, 400);
    if (rc == 2) return cd_resp_empty(w, 403);
    if (!overwrite && access(path, F_OK) == 0)
        return cd_resp_text(w, 409, "File already exists");
    if (cd_fs_mkparent(path) < 0 || cd_fs_is_dir(path) ||
        cd_fs_write(path, r->body ? r->body : "", r->body_len) < 0) {
        cd_log(cd_api_logger(r->api), COMFY_LOG_WARNING, "userdata: cannot write %s: %s",
               path, strerror(errno));
        return cd_resp_empty(w, 400);
    }
    return written(w, root, path, flag_true(cd_req_query(r, "full_info")));
}

int cd_h_userdata_delete(cd_req *r, cd_resp *w)
{
    char root[CD_PATH_MAX], path[CD_PATH_MAX];
    int rc = resolve(r, r->params[0], root, path);
    if (rc < 0) return -1;
    if (rc == 1) return cd_resp_empty(w, 400);
    if (rc == 2) return cd_resp_empty(w, 403);
    struct stat st;
    if (lstat(path, &st) != 0) return cd_resp_empty(w, 404);
    if (S_ISDIR(st.st_mode)) return -1;
    if (unlink(path) != 0) return -1;
    return cd_resp_empty(w, 204);
}

int cd_h_userdata_move(cd_req *r, cd_resp *w)
{
    char root[CD_PATH_MAX], src[CD_PATH_MAX], dst[CD_PATH_MAX];
    const char *ov = cd_req_query(r, "overwrite");
    int overwrite = !(ov && strcmp(ov, "false") == 0);
    int rc = resolve(r, r->params[0], root, src);
    if (rc < 0) return -1;
    if (rc == 1) return cd_resp_empty(w, 400);
    if (rc == 2) return cd_resp_empty(w, 403);
    if (access(src, F_OK) != 0) return cd_resp_empty(w, 404);
    rc = resolve(r, r->params[1], root, dst);
    if (rc == 1) return cd_resp_empty(w, 400);
    if (rc != 0) return -1;              /* an escaping destination: 500 */
    if (!overwrite && access(dst, F_OK) == 0)
        return cd_resp_text(w, 409, "File already exists");
    if (cd_fs_mkparent(dst) < 0 || rename(src, dst) != 0) return -1;
    return written(w, root, dst, flag_true(cd_req_query(r, "full_info")));
}
