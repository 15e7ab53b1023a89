/*
 * routes.h — the route table and every handler, grouped by the file that
 * implements it.  The router (router.c) matches a request against the
 * table (bare and under /api, spec/api.md §0.4), runs the middleware
 * (middleware.c) and calls one handler.  Network thread only.
 */
#ifndef CD_API_ROUTES_H
#define CD_API_ROUTES_H

#include "http.h"

/* Runs the whole request: middleware, routing, handler, 404/405 rules,
 * HEAD.  Always leaves a complete response in `w`. */
void cd_router_handle(cd_req *r, cd_resp *w);

/* The pattern of the route (method, path) reaches, or NULL with the
 * methods that matched the path in *allowed.  Captured parameters go to
 * params[] (new strings the caller frees), *n_params of them.  For tests
 * and diagnostics. */
const char *cd_router_match(int method, const char *path, char **params,
                            size_t *n_params, int *allowed);

/* Whether `r` is worth running on a worker thread (image re-encoding:
 * /view with preview= or channel=rgb|a, model previews), so the loop keeps
 * serving while it runs.  The handlers of those routes are thread-safe. */
int cd_router_offload(const cd_req *r);

/* Whether the route that `r` would reach reads a request body (so the
 * ceiling of §0.5 applies) and whether it is multipart (per-field
 * ceiling).  Used by server.c before the body arrives. */
int cd_router_reads_body(const cd_req *r, int *multipart);

/* middleware.c */
/* 1: the origin check of §0.5 rejects this request (answer 403). */
int cd_mw_origin_rejected(const cd_req *r);
/* Adds Cache-Control (set if absent) from the request path and status. */
void cd_mw_cache_control(const cd_req *r, cd_resp *w);
/* Adds the four CORS headers when --enable-cors-header is on. */
void cd_mw_cors(const cd_req *r, cd_resp *w);
/* Gzips a JSON/text body when compression is on and the client accepts it. */
void cd_mw_compress(const cd_req *r, cd_resp *w);
/* Host-loopback test used by the origin check (exposed for tests). */
int cd_mw_host_is_loopback(const char *hostname);

/* http_core.c: routes backed by the runtime */
int cd_h_prompt_get(cd_req *r, cd_resp *w);
int cd_h_prompt_post(cd_req *r, cd_resp *w);
int cd_h_queue_get(cd_req *r, cd_resp *w);
int cd_h_queue_post(cd_req *r, cd_resp *w);
int cd_h_history_get(cd_req *r, cd_resp *w);
int cd_h_history_item(cd_req *r, cd_resp *w);
int cd_h_history_post(cd_req *r, cd_resp *w);
int cd_h_interrupt(cd_req *r, cd_resp *w);
int cd_h_free(cd_req *r, cd_resp *w);
int cd_h_object_info(cd_req *r, cd_resp *w);
int cd_h_object_info_cls(cd_req *r, cd_resp *w);
int cd_h_embeddings(cd_req *r, cd_resp *w);
int cd_h_models(cd_req *r, cd_resp *w);
int cd_h_models_folder(cd_req *r, cd_resp *w);
int cd_h_extensions(cd_req *r, cd_resp *w);
int cd_h_system_stats(cd_req *r, cd_resp *w);
int cd_h_features(cd_req *r, cd_resp *w);
int cd_h_ws_plain(cd_req *r, cd_resp *w);
int cd_h_logs(cd_req *r, cd_resp *w);
int cd_h_logs_raw(cd_req *r, cd_resp *w);
int cd_h_logs_subscribe(cd_req *r, cd_resp *w);
int cd_h_folder_paths(cd_req *r, cd_resp *w);
int cd_h_internal_files(cd_req *r, cd_resp *w);
int cd_h_workflow_templates(cd_req *r, cd_resp *w);
int cd_h_i18n(cd_req *r, cd_resp *w);
int cd_h_jobs(cd_req *r, cd_resp *w);
int cd_h_job(cd_req *r, cd_resp *w);

/* models.c: experimental model routes and /view_metadata */
int cd_h_exp_models(cd_req *r, cd_resp *w);
int cd_h_exp_models_folder(cd_req *r, cd_resp *w);
int cd_h_exp_models_preview(cd_req *r, cd_resp *w);
int cd_h_view_metadata(cd_req *r, cd_resp *w);

/* view.c */
int cd_h_view(cd_req *r, cd_resp *w);
/* Strips a " [output]"/" [input]"/" [temp]" annotation (spec §8.5) from
 * name in place; returns the annotated type or NULL. */
const char *cd_strip_annotation(char *name);

/* upload.c */
int cd_h_upload_image(cd_req *r, cd_resp *w);
int cd_h_upload_mask(cd_req *r, cd_resp *w);

/* settings.c */
int cd_h_settings_get(cd_req *r, cd_resp *w);
int cd_h_settings_get_id(cd_req *r, cd_resp *w);
int cd_h_settings_post(cd_req *r, cd_resp *w);
int cd_h_settings_post_id(cd_req *r, cd_resp *w);

/* users.c */
int cd_h_users_get(cd_req *r, cd_resp *w);
int cd_h_users_post(cd_req *r, cd_resp *w);
/* The request's user root <user_dir>/<user> into out[cap].  0, or -1 when
 * the user is unknown (multi-user mode) or the path does not fit. */
int cd_user_root(const cd_req *r, char *out, size_t cap);

/* userdata.c */
int cd_h_userdata_list(cd_req *r, cd_resp *w);
int cd_h_userdata_v2(cd_req *r, cd_resp *w);
int cd_h_userdata_get(cd_req *r, cd_resp *w);
int cd_h_userdata_post(cd_req *r, cd_resp *w);
int cd_h_userdata_delete(cd_req *r, cd_resp *w);
int cd_h_userdata_move(cd_req *r, cd_resp *w);

/* static.c */
int cd_h_root(cd_req *r, cd_resp *w);
/* The static catch-all for GET/HEAD paths no route matched. */
int cd_static_serve(cd_req *r, cd_resp *w);

#endif
