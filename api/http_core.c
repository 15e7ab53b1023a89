/*
 * http_core.c — the routes the runtime answers (prompt, queue, history,
 * interrupt, free, object_info, models, embeddings, extensions,
 * system_stats, internal logs and folder paths) plus the small ones the
 * network layer answers itself (/features, /internal/files, /ws without
 * an upgrade, /workflow_templates, /i18n).  spec/api.md §1.  Network
 * thread only.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "pyjson.h"
#include "routes.h"
#include "server_int.h"

#define RT_OUT_MAX ((size_t)1 << 30)

/* Turns a runtime answer into the response: JSON text, or "200, empty
 * body" when nothing was written.  -1 (500) when the runtime failed. */
static int rt_reply(cd_resp *w, int status, cd_buf *out)
{
    int rc;
    if (status < 0) {
        cd_buf_free(out);
        return -1;
    }
    static const char trouble[] = "500 Internal Server Error";
    if (status == 500 && out->len >= sizeof(trouble) - 1 &&
        memcmp(out->data, trouble, sizeof(trouble) - 1) == 0) {
        /* the runtime's text form of an unhandled error (spec §0.3) */
        rc = cd_resp_bytes(w, 500, "text/plain; charset=utf-8", out->data, out->len);
        w->close_after = 1;
    } else {
        rc = out->len ? cd_resp_json_text(w, status, out->data, out->len)
                      : cd_resp_empty(w, status);
    }
    cd_buf_free(out);
    return rc;
}

#define RT_CALL(expr)                  \
    do {                               \
        cd_buf out;                    \
        cd_buf_init(&out, RT_OUT_MAX); \
        int st_ = (expr);              \
        return rt_reply(w, st_, &out); \
    } while (0)

static cd_runtime *RT(const cd_req *r) { return cd_api_runtime(r->api); }
static const char *BODY(const cd_req *r) { return r->body ? r->body : ""; }

int cd_h_prompt_get(cd_req *r, cd_resp *w) { RT_CALL(cd_runtime_get_prompt(RT(r), &out)); }
int cd_h_prompt_post(cd_req *r, cd_resp *w)
{
    RT_CALL(cd_runtime_post_prompt(RT(r), BODY(r), r->body_len, &out));
}
int cd_h_queue_get(cd_req *r, cd_resp *w) { RT_CALL(cd_runtime_get_queue(RT(r), &out)); }
int cd_h_queue_post(cd_req *r, cd_resp *w)
{
    RT_CALL(cd_runtime_post_queue(RT(r), BODY(r), r->body_len, &out));
}
int cd_h_history_post(cd_req *r, cd_resp *w)
{
    RT_CALL(cd_runtime_post_history(RT(r), BODY(r), r->body_len, &out));
}
int cd_h_interrupt(cd_req *r, cd_resp *w)
{
    RT_CALL(cd_runtime_interrupt(RT(r), BODY(r), r->body_len, &out));
}
int cd_h_free(cd_req *r, cd_resp *w)
{
    RT_CALL(cd_runtime_free_memory(RT(r), BODY(r), r->body_len, &out));
}
int cd_h_object_info(cd_req *r, cd_resp *w) { RT_CALL(cd_runtime_object_info(RT(r), NULL, &out)); }
int cd_h_object_info_cls(cd_req *r, cd_resp *w)
{
    RT_CALL(cd_runtime_object_info(RT(r), r->params[0], &out));
}
int cd_h_embeddings(cd_req *r, cd_resp *w) { RT_CALL(cd_runtime_embeddings(RT(r), &out)); }
int cd_h_models(cd_req *r, cd_resp *w) { RT_CALL(cd_runtime_models(RT(r), NULL, &out)); }
int cd_h_models_folder(cd_req *r, cd_resp *w)
{
    RT_CALL(cd_runtime_models(RT(r), r->params[0], &out));
}
int cd_h_extensions(cd_req *r, cd_resp *w) { RT_CALL(cd_runtime_extensions(RT(r), &out)); }
int cd_h_system_stats(cd_req *r, cd_resp *w) { RT_CALL(cd_runtime_system_stats(RT(r), &out)); }
int cd_h_logs(cd_req *r, cd_resp *w) { RT_CALL(cd_runtime_logs(RT(r), 0, &out)); }
int cd_h_logs_raw(cd_req *r, cd_resp *w) { RT_CALL(cd_runtime_logs(RT(r), 1, &out)); }
int cd_h_folder_paths(cd_req *r, cd_resp *w) { RT_CALL(cd_runtime_folder_paths(RT(r), &out)); }
int cd_h_history_item(cd_req *r, cd_resp *w)
{
    RT_CALL(cd_runtime_get_history_item(RT(r), r->params[0], &out));
}

/* Python int() of a query value: optional spaces and sign, digits.  0, or
 * -1 when it is not an integer. */
static int py_int(const char *s, long *v)
{
    char *end;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return -1;
    errno = 0;
    *v = strtol(s, &end, 10);
    if (errno || end == s) return -1;
    while (isspace((unsigned char)*end)) end++;
    return *end ? -1 : 0;
}

int cd_h_history_get(cd_req *r, cd_resp *w)
{
    long max_items = -1, offset = -1;
    const char *m = cd_req_query(r, "max_items"), *o = cd_req_query(r, "offset");
    if (m && py_int(m, &max_items) < 0) return -1;
    if (o && py_int(o, &offset) < 0) return -1;
    /* max_items given as 0 or negative must stay distinguishable from
     * "absent": the runtime treats < 0 as "all", so clamp to 0 here. */
    if (m && max_items < 0) max_items = 0;
    RT_CALL(cd_runtime_get_history(RT(r), m ? max_items : -1, o ? offset : -1, &out));
}

int cd_h_job(cd_req *r, cd_resp *w) { RT_CALL(cd_runtime_get_job(RT(r), r->params[0], &out)); }

/* Appends s percent-encoded (everything but unreserved characters). */
static int put_encoded(cd_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
        if (plain ? cd_buf_putc(b, (char)c) < 0
                  : (cd_buf_putc(b, '%') < 0 || cd_buf_putc(b, hex[c >> 4]) < 0 ||
                     cd_buf_putc(b, hex[c & 15]) < 0))
            return -1;
    }
    return 0;
}

int cd_h_jobs(cd_req *r, cd_resp *w)
{
    cd_buf q;
    int bad = 0;
    cd_buf_init(&q, 64 * 1024);
    for (size_t i = 0; i < r->n_query && !bad; i++)
        bad = (i && cd_buf_putc(&q, '&') < 0) || put_encoded(&q, r->query[i].key) < 0 ||
              cd_buf_putc(&q, '=') < 0 || put_encoded(&q, r->query[i].val) < 0;
    if (bad || cd_buf_puts(&q, "") < 0) {
        cd_buf_free(&q);
        return -1;
    }
    cd_buf out;
    cd_buf_init(&out, RT_OUT_MAX);
    int st = cd_runtime_get_jobs(RT(r), q.data, &out);
    cd_buf_free(&q);
    return rt_reply(w, st, &out);
}

int cd_h_features(cd_req *r, cd_resp *w)
{
    struct json_object *f = cd_api_features(r->api);
    int rc = f ? cd_resp_json(w, 200, f) : -1;
    json_object_put(f);
    return rc;
}

int cd_h_ws_plain(cd_req *r, cd_resp *w)
{
    char msg[256];
    snprintf(msg, sizeof(msg),
             "No WebSocket UPGRADE hdr: %s\n Can \"Upgrade\" only to \"WebSocket\".",
             r->upgrade ? r->upgrade : "None");
    return cd_resp_text(w, 400, msg);
}

int cd_h_logs_subscribe(cd_req *r, cd_resp *w)
{
    struct json_object *o = cd_req_json(r), *id, *en;
    int rc = -1;
    if (!o || !json_object_object_get_ex(o, "clientId", &id) ||
        !json_object_object_get_ex(o, "enabled", &en))
        goto out;
    (void)cd_ws_subscribe_logs(r->api, json_object_get_string(id),
                               json_object_get_boolean(en));
    rc = cd_resp_empty(w, 200);
out:
    json_object_put(o);
    return rc;
}

typedef struct fent { char *name; long long mtime_ns; } fent;

static int by_mtime_desc(const void *a, const void *b)
{
    const fent *x = a, *y = b;
    if (x->mtime_ns != y->mtime_ns) return x->mtime_ns < y->mtime_ns ? 1 : -1;
    return strcmp(x->name, y->name);
}

int cd_h_internal_files(cd_req *r, cd_resp *w)
{
    const char *type = r->params[0];
    const char *dir = NULL;
    if (strcmp(type, "output") == 0 || strcmp(type, "input") == 0 ||
        strcmp(type, "temp") == 0)
        dir = cd_paths_by_type(cd_api_paths(r->api), type);
    if (!dir) {
        static const char e[] = "{\"error\": \"Invalid directory type\"}";
        return cd_resp_json_text(w, 400, e, sizeof(e) - 1);
    }
    DIR *d = opendir(dir);
    if (!d) return -1;
    fent *v = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    struct dirent *de;
    char path[CD_PATH_MAX];
    while ((de = readdir(d))) {
        struct stat st;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            fent *nv = realloc(v, cap * sizeof(*v));
            if (!nv) goto out;
            v = nv;
        }
        v[n].name = strdup(de->d_name);
        if (!v[n].name) goto out;
        v[n].mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
        n++;
    }
    qsort(v, n, sizeof(*v), by_mtime_desc);
    struct json_object *arr = json_object_new_array();
    if (!arr) goto out;
    for (size_t i = 0; i < n; i++)
        json_object_array_add(arr, json_object_new_string(v[i].name));
    rc = cd_resp_json(w, 200, arr);
    json_object_put(arr);
out:
    closedir(d);
    for (size_t i = 0; i < n; i++) free(v[i].name);
    free(v);
    return rc;
}

/* comfyd's node packs carry no example-workflow folders or locale files,
 * so both listings are empty objects, as ComfyUI's are without custom
 * nodes. */
int cd_h_workflow_templates(cd_req *r, cd_resp *w)
{
    (void)r;
    return cd_resp_json_text(w, 200, "{}", 2);
}

int cd_h_i18n(cd_req *r, cd_resp *w)
{
    (void)r;
    return cd_resp_json_text(w, 200, "{}", 2);
}
