/*
 * router.c — the route table of spec/api.md §1.0 and the matching rules of
 * §0.4: every route bare and under /api (internal routes bare only), GET
 * routes also answer HEAD, unknown GET/HEAD paths go to the static
 * catch-all, other methods get 405 with Allow.  The middleware of §0.5
 * wraps the handler.  Network thread only.
 *
 * libwebsockets hands us the path already percent-decoded (%2F included)
 * and with "." and ".." segments collapsed, so a parameter that ComfyUI
 * reads from one encoded segment ("{file}" of the user-data routes) is
 * matched here as "one or more segments" ("{file+}").
 */
#include "routes.h"

#include <stdlib.h>
#include <string.h>

#include "server_int.h"

enum { R_BARE_ONLY = 1, R_BODY = 2, R_MULTIPART = 4 };

typedef struct route {
    int methods;
    const char *pattern;
    cd_handler fn;
    int flags;
} route;

/* Registration order of §0.4.  More specific patterns come first where two
 * greedy patterns overlap (userdata move). */
static const route routes[] = {
    {CD_GET, "/ws", cd_h_ws_plain, 0},
    {CD_GET, "/", cd_h_root, 0},
    {CD_GET, "/embeddings", cd_h_embeddings, 0},
    {CD_GET, "/models", cd_h_models, 0},
    {CD_GET, "/models/{folder}", cd_h_models_folder, 0},
    {CD_GET, "/extensions", cd_h_extensions, 0},
    {CD_POST, "/upload/image", cd_h_upload_image, R_BODY | R_MULTIPART},
    {CD_POST, "/upload/mask", cd_h_upload_mask, R_BODY | R_MULTIPART},
    {CD_GET, "/view", cd_h_view, 0},
    {CD_GET, "/view_metadata/{folder}", cd_h_view_metadata, 0},
    {CD_GET, "/system_stats", cd_h_system_stats, 0},
    {CD_GET, "/features", cd_h_features, 0},
    {CD_GET, "/prompt", cd_h_prompt_get, 0},
    {CD_POST, "/prompt", cd_h_prompt_post, R_BODY},
    {CD_GET, "/object_info", cd_h_object_info, 0},
    {CD_GET, "/object_info/{cls}", cd_h_object_info_cls, 0},
    {CD_GET, "/history", cd_h_history_get, 0},
    {CD_GET, "/history/{id}", cd_h_history_item, 0},
    {CD_GET, "/queue", cd_h_queue_get, 0},
    {CD_POST, "/queue", cd_h_queue_post, R_BODY},
    {CD_POST, "/interrupt", cd_h_interrupt, R_BODY},
    {CD_POST, "/free", cd_h_free, R_BODY},
    {CD_POST, "/history", cd_h_history_post, R_BODY},
    {CD_GET, "/settings", cd_h_settings_get, 0},
    {CD_GET, "/settings/{id}", cd_h_settings_get_id, 0},
    {CD_POST, "/settings", cd_h_settings_post, R_BODY},
    {CD_POST, "/settings/{id}", cd_h_settings_post_id, R_BODY},
    {CD_GET, "/users", cd_h_users_get, 0},
    {CD_POST, "/users", cd_h_users_post, R_BODY},
    {CD_GET, "/userdata", cd_h_userdata_list, 0},
    {CD_GET, "/v2/userdata", cd_h_userdata_v2, 0},
    {CD_POST, "/userdata/{file+}/move/{dest+}", cd_h_userdata_move, 0},
    {CD_GET, "/userdata/{file+}", cd_h_userdata_get, 0},
    {CD_POST, "/userdata/{file+}", cd_h_userdata_post, R_BODY},
    {CD_DELETE, "/userdata/{file+}", cd_h_userdata_delete, 0},
    {CD_GET, "/experiment/models", cd_h_exp_models, 0},
    {CD_GET, "/experiment/models/{folder}", cd_h_exp_models_folder, 0},
    {CD_GET, "/experiment/models/preview/{folder}/{index}/{file+}",
     cd_h_exp_models_preview, 0},
    {CD_GET, "/workflow_templates", cd_h_workflow_templates, 0},
    {CD_GET, "/i18n", cd_h_i18n, 0},
    /* Newer ComfyUI's job listing (runtime.h); not in 0.3.64's table. */
    {CD_GET, "/jobs", cd_h_jobs, 0},
    {CD_GET, "/jobs/{id}", cd_h_job, 0},
    {CD_GET, "/internal/logs", cd_h_logs, R_BARE_ONLY},
    {CD_GET, "/internal/logs/raw", cd_h_logs_raw, R_BARE_ONLY},
    {CD_PATCH, "/internal/logs/subscribe", cd_h_logs_subscribe,
     R_BARE_ONLY | R_BODY},
    {CD_GET, "/internal/folder_paths", cd_h_folder_paths, R_BARE_ONLY},
    {CD_GET, "/internal/files/{type}", cd_h_internal_files, R_BARE_ONLY},
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* Matches path segments p against pattern segments t.  Captures go into
 * caps (pointer/length pairs).  Returns 1 on a match. */
typedef struct cap { const char *s; size_t n; } cap;

static int match_from(const char *t, const char *p, cap *caps, size_t *nc)
{
    while (*t) {
        if (*t == '{') {
            const char *close = strchr(t, '}');
            if (!close || *nc >= CD_REQ_MAX_PARAMS) return 0;
            int greedy = close[-1] == '+';
            const char *tnext = close + 1;   /* "" or "/..." */
            /* candidate ends: one segment, or (greedy) any later '/'. */
            const char *seg_end = p;
            while (*seg_end && *seg_end != '/') seg_end++;
            if (seg_end == p) return 0;       /* one or more characters */
            const char *end = seg_end;
            for (;;) {
                size_t save = *nc;
                caps[*nc].s = p;
                caps[*nc].n = (size_t)(end - p);
                (*nc)++;
                if (match_from(tnext, end, caps, nc)) return 1;
                *nc = save;
                if (!greedy || !*end) return 0;
                end++;
                while (*end && *end != '/') end++;
            }
        }
        if (*t != *p) return 0;
        t++;
        p++;
    }
    return *p == '\0';
}

static int match(const char *pattern, const char *path, cap *caps, size_t *nc)
{
    *nc = 0;
    return match_from(pattern, path, caps, nc);
}

/* Finds the route for (method, path).  Returns its index, or -1 with the
 * union of the methods that matched the path in *allowed. */
static int find_route(int method, const char *path, cap *caps, size_t *nc,
                      int *allowed)
{
    const char *variants[2] = {path, NULL};
    int m = method == CD_HEAD ? CD_GET : method;
    *allowed = 0;
    if (strncmp(path, "/api/", 5) == 0) variants[1] = path + 4;
    for (int v = 0; v < 2; v++) {
        if (!variants[v]) continue;
        for (size_t i = 0; i < N_ROUTES; i++) {
            if (v == 1 && (routes[i].flags & R_BARE_ONLY)) continue;
            if (!match(routes[i].pattern, variants[v], caps, nc)) continue;
            if (routes[i].methods & m) return (int)i;
            *allowed |= routes[i].methods;
            if (routes[i].methods & CD_GET) *allowed |= CD_HEAD;
        }
    }
    return -1;
}

const char *cd_router_match(int method, const char *path, char **params,
                            size_t *n_params, int *allowed)
{
    cap caps[CD_REQ_MAX_PARAMS];
    size_t nc = 0;
    int i = find_route(method, path, caps, &nc, allowed);
    *n_params = 0;
    if (i < 0) return NULL;
    for (size_t k = 0; k < nc; k++) {
        params[k] = strndup(caps[k].s, caps[k].n);
        if (!params[k]) break;
        *n_params = k + 1;
    }
    return routes[i].pattern;
}

int cd_router_offload(const cd_req *r)
{
    const char *p = r->path;
    if (r->method != CD_GET) return 0;
    if (strncmp(p, "/api/", 5) == 0) p += 4;
    if (strcmp(p, "/view") == 0) {
        const char *ch = cd_req_query(r, "channel");
        return cd_req_query(r, "preview") ||
               (ch && (strcmp(ch, "rgb") == 0 || strcmp(ch, "a") == 0));
    }
    return strncmp(p, "/experiment/models/preview/", 27) == 0;
}

int cd_router_reads_body(const cd_req *r, int *multipart)
{
    cap caps[CD_REQ_MAX_PARAMS];
    size_t nc;
    int allowed, i = find_route(r->method, r->path, caps, &nc, &allowed);
    *multipart = 0;
    if (i < 0) return 0;
    *multipart = (routes[i].flags & R_MULTIPART) != 0;
    return (routes[i].flags & R_BODY) != 0;
}

static void allow_header(cd_resp *w, int allowed)
{
    static const struct { int bit; const char *name; } names[] = {
        {CD_DELETE, "DELETE"}, {CD_GET, "GET"}, {CD_HEAD, "HEAD"},
        {CD_OPTIONS, "OPTIONS"}, {CD_PATCH, "PATCH"}, {CD_POST, "POST"},
        {CD_PUT, "PUT"},
    };
    char buf[128] = "";
    size_t len = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(allowed & names[i].bit)) continue;
        int n = snprintf(buf + len, sizeof(buf) - len, "%s%s", len ? "," : "",
                         names[i].name);
        if (n < 0 || (size_t)n >= sizeof(buf) - len) break;
        len += (size_t)n;
    }
    (void)cd_resp_header(w, "Allow", buf, 1);
}

static void too_large(cd_req *r, cd_resp *w)
{
    char msg[160];
    snprintf(msg, sizeof(msg),
             "Maximum request body size %llu exceeded, actual body size %llu",
             (unsigned long long)cd_api_max_body(r->api),
             (unsigned long long)r->body_total);
    if (cd_resp_text(w, 413, msg) < 0) w->status = 413;
    w->framework_error = 1;
    w->close_after = 1;
}

void cd_router_handle(cd_req *r, cd_resp *w)
{
    cap caps[CD_REQ_MAX_PARAMS];
    size_t nc = 0;
    int allowed = 0, idx, rc = 0;

    /* Origin check (CSRF protection) when CORS is off; CORS short-cuts
     * OPTIONS.  Both apply to OPTIONS as to any other method. */
    if (!cd_api_config(r->api)->cors_origin) {
        if (cd_mw_origin_rejected(r)) {
            (void)cd_resp_empty(w, 403);
            goto after;
        }
    }
    if (r->method == CD_OPTIONS) {
        (void)cd_resp_empty(w, 200);
        goto after;
    }

    idx = find_route(r->method, r->path, caps, &nc, &allowed);
    if (idx >= 0) {
        for (size_t i = 0; i < nc; i++) {
            r->params[i] = strndup(caps[i].s, caps[i].n);
            if (!r->params[i]) {
                rc = -1;
                break;
            }
            r->n_params = i + 1;
        }
        if (rc == 0 && r->body_too_large && (routes[idx].flags & R_BODY) &&
            !(routes[idx].flags & R_MULTIPART)) {
            too_large(r, w);
            return;
        }
        if (rc == 0 && r->body_too_large && (routes[idx].flags & R_MULTIPART)) {
            too_large(r, w);
            return;
        }
        if (rc == 0) rc = routes[idx].fn(r, w);
        if (rc < 0) {
            cd_log(cd_api_logger(r->api), COMFY_LOG_ERROR,
                   "api: handler for %s failed", r->path);
            cd_resp_clear(w);
            if (r->accept && strstr(r->accept, "text/html")) {
                static const char page[] =
                "<html><head><title>500 Internal Server Error</title></head>"
                "<body><h1>500 Internal Server Error</h1>"
                "Server got itself in trouble</body></html>";
            (void)cd_resp_bytes(w, 500, "text/html; charset=utf-8", page,
                                sizeof(page) - 1);
            } else {
                (void)cd_resp_text(w, 500, "500 Internal Server Error\n\n"
                                           "Server got itself in trouble");
            }
            w->close_after = 1;
            w->framework_error = 1;
            return;
        }
    } else if (r->method == CD_GET || r->method == CD_HEAD) {
        if (cd_static_serve(r, w) < 0) {
            cd_resp_clear(w);
            (void)cd_resp_empty(w, 404);
        }
    } else {
        (void)cd_resp_text(w, 405, "405: Method Not Allowed");
        allow_header(w, allowed | CD_GET | CD_HEAD);
        w->framework_error = 1;
        return;
    }

after:
    cd_mw_cache_control(r, w);
    cd_mw_cors(r, w);
    cd_mw_compress(r, w);
}
