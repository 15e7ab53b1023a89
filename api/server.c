/*
 * server.c — the libwebsockets loop: one context, one vhost per listen
 * address, one protocol that serves both HTTP requests and the /ws
 * WebSocket.  HTTP requests are read (headers, then the body up to the
 * ceiling of spec/api.md §0.5), handed to the router, and the response is
 * written in WRITEABLE callbacks, the body in chunks so large files never
 * block the loop.  Runs entirely on the thread that calls cd_api_serve().
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "pyjson.h"
#include "routes.h"
#include "server_int.h"

#define HDR_MAX 8192                 /* one request header value            */
#define CHUNK (64 * 1024)            /* body bytes per WRITEABLE callback   */
#define MULTIPART_SLACK (1u << 20)   /* multipart framing beyond the limit  */

#define MAX_JOBS 4                   /* worker threads running at once       */

enum { ST_IDLE = 0, ST_BODY, ST_HEADERS, ST_WRITING, ST_WORKING };

typedef struct conn conn;

/* A request handled on a worker thread.  It owns the request, response
 * and body while it runs; `c` is cleared (on the network thread) when the
 * connection closes first, and the finished job is then just freed. */
typedef struct job {
    struct job *next;
    cd_api *a;
    conn *c;
    struct lws *wsi;
    cd_req req;
    cd_resp resp;
    cd_buf body;
} job;

struct conn {
    int state;
    cd_req req;
    cd_resp resp;
    cd_buf body;
    uint64_t sent, total;
    int head_only;
    int inited;                      /* resp.fd and buffers initialised    */
    job *job;                        /* ST_WORKING: the job in flight       */
    ws_client *ws;                   /* WebSocket connections only          */
};

static cd_api *g_api;                /* for the signal handler              */
static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_rescan; /* SIGHUP: rescan the node packs     */

/* ---- accessors for handlers ------------------------------------------------ */

cd_runtime *cd_api_runtime(const cd_api *a) { return a->rt; }
const cd_config *cd_api_config(const cd_api *a) { return a->cfg; }
cd_logger *cd_api_logger(const cd_api *a) { return a->log; }
const cd_paths *cd_api_paths(const cd_api *a) { return a->paths; }
uint64_t cd_api_max_body(const cd_api *a) { return a->max_body; }

struct json_object *cd_api_features(const cd_api *a)
{
    struct json_object *o = json_object_new_object();
    if (!o) return NULL;
    json_object_object_add(o, "supports_preview_metadata",
                           json_object_new_boolean(1));
    double mb = a->cfg->max_upload_size_mb;
    /* The default (the integer 100) prints as an int; an explicit value
     * parses as a float in the reference (spec §1.11). */
    if (mb == 100.0)
        json_object_object_add(o, "max_upload_size",
                               json_object_new_int64((int64_t)a->max_body));
    else
        json_object_object_add(o, "max_upload_size",
                               json_object_new_double(mb * 1024.0 * 1024.0));
    return o;
}

/* ---- reading a request --------------------------------------------------- */

static char *hdr_dup(struct lws *wsi, enum lws_token_indexes t)
{
    int n = lws_hdr_total_length(wsi, t);
    char *s;
    if (n <= 0 || n > HDR_MAX) return NULL;
    s = malloc((size_t)n + 1);
    if (!s) return NULL;
    if (lws_hdr_copy(wsi, s, n + 1, t) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static char *custom_dup(struct lws *wsi, const char *name)
{
    int nl = (int)strlen(name);
    int n = lws_hdr_custom_length(wsi, name, nl);
    char *s;
    if (n < 0 || n > HDR_MAX) return NULL;
    s = malloc((size_t)n + 1);
    if (!s) return NULL;
    if (lws_hdr_custom_copy(wsi, s, n + 1, name, nl) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static const struct { enum lws_token_indexes tok; int method; } method_tokens[] = {
    {WSI_TOKEN_GET_URI, CD_GET},       {WSI_TOKEN_POST_URI, CD_POST},
    {WSI_TOKEN_OPTIONS_URI, CD_OPTIONS}, {WSI_TOKEN_PUT_URI, CD_PUT},
    {WSI_TOKEN_PATCH_URI, CD_PATCH},   {WSI_TOKEN_DELETE_URI, CD_DELETE},
    {WSI_TOKEN_HEAD_URI, CD_HEAD},
};

/* Fills c->req from the connection's headers.  0, or -1 on memory. */
static int read_request(cd_api *a, struct lws *wsi, conn *c)
{
    cd_req *r = &c->req;
    char frag[HDR_MAX];

    r->api = a;
    for (size_t i = 0; i < sizeof(method_tokens) / sizeof(method_tokens[0]); i++) {
        if (lws_hdr_total_length(wsi, method_tokens[i].tok) > 0) {
            r->method = method_tokens[i].method;
            r->path = hdr_dup(wsi, method_tokens[i].tok);
            break;
        }
    }
    if (!r->path) return -1;
    r->host = hdr_dup(wsi, WSI_TOKEN_HOST);
    r->origin = hdr_dup(wsi, WSI_TOKEN_ORIGIN);
    r->accept = hdr_dup(wsi, WSI_TOKEN_HTTP_ACCEPT);
    r->accept_encoding = hdr_dup(wsi, WSI_TOKEN_HTTP_ACCEPT_ENCODING);
    r->range = hdr_dup(wsi, WSI_TOKEN_HTTP_RANGE);
    r->if_none_match = hdr_dup(wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH);
    r->if_modified_since = hdr_dup(wsi, WSI_TOKEN_HTTP_IF_MODIFIED_SINCE);
    r->if_match = hdr_dup(wsi, WSI_TOKEN_HTTP_IF_MATCH);
    r->if_unmodified_since = hdr_dup(wsi, WSI_TOKEN_HTTP_IF_UNMODIFIED_SINCE);
    r->content_type = hdr_dup(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
    r->upgrade = hdr_dup(wsi, WSI_TOKEN_UPGRADE);
    r->comfy_user = custom_dup(wsi, "comfy-user:");
    /* lws hands the query already split on '&' and decoded. */
    for (int i = 0; r->n_query < CD_REQ_MAX_QUERY; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag),
                                      WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0) break;
        char *eq = strchr(frag, '=');
        char *k = strndup(frag, eq ? (size_t)(eq - frag) : (size_t)n);
        char *v = strdup(eq ? eq + 1 : "");
        if (!k || !v) {
            free(k);
            free(v);
            return -1;
        }
        if (!*k) {
            free(k);
            free(v);
            continue;
        }
        r->query[r->n_query].key = k;
        r->query[r->n_query].val = v;
        r->n_query++;
    }
    return 0;
}

/* lws hands us the per-session memory zeroed; fd 0 is not "no file". */
static void conn_reset(conn *c)
{
    if (!c->inited) {
        memset(c, 0, sizeof(*c));
        cd_resp_init(&c->resp);
        cd_buf_init(&c->body, 0);
        c->inited = 1;
        return;
    }
    cd_req_clear(&c->req);
    cd_resp_clear(&c->resp);
    cd_buf_free(&c->body);
    c->state = ST_IDLE;
    c->sent = c->total = 0;
    c->head_only = 0;
}

static void *job_main(void *arg)
{
    job *j = arg;
    cd_api *a = j->a;
    cd_router_handle(&j->req, &j->resp);
    pthread_mutex_lock(&a->job_lock);
    j->next = a->jobs_done;
    a->jobs_done = j;
    lws_cancel_service(a->ctx);      /* before the count drops: ctx alive */
    a->jobs_running--;
    pthread_cond_broadcast(&a->job_cv);
    pthread_mutex_unlock(&a->job_lock);
    return NULL;
}

/* Hands the request to a worker thread.  0 started, -1 run it inline. */
static int offload(struct lws *wsi, conn *c)
{
    cd_api *a = c->req.api;
    pthread_t t;
    pthread_attr_t attr;
    job *j;

    pthread_mutex_lock(&a->job_lock);
    int busy = a->jobs_running >= MAX_JOBS;
    if (!busy) a->jobs_running++;
    pthread_mutex_unlock(&a->job_lock);
    if (busy || !(j = calloc(1, sizeof(*j)))) goto inline_run;
    j->a = a;
    j->c = c;
    j->wsi = wsi;
    j->req = c->req;
    j->resp = c->resp;
    j->body = c->body;
    memset(&c->req, 0, sizeof(c->req));
    c->req.api = a;
    cd_resp_init(&c->resp);
    cd_buf_init(&c->body, 0);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, job_main, j);
    pthread_attr_destroy(&attr);
    if (rc == 0) {
        c->job = j;
        c->state = ST_WORKING;
        return 0;
    }
    cd_resp_clear(&c->resp);
    cd_buf_free(&c->body);
    c->req = j->req;
    c->resp = j->resp;
    c->body = j->body;
    free(j);
    busy = 0;
inline_run:
    if (!busy) {
        pthread_mutex_lock(&a->job_lock);
        a->jobs_running--;
        pthread_mutex_unlock(&a->job_lock);
    }
    return -1;
}

static void job_free(job *j)
{
    cd_req_clear(&j->req);
    cd_resp_clear(&j->resp);
    cd_buf_free(&j->body);
    free(j);
}

/* Network thread: gives finished jobs' responses back to their
 * connections (or drops them when the connection has gone). */
static void collect_jobs(cd_api *a)
{
    pthread_mutex_lock(&a->job_lock);
    job *j = a->jobs_done;
    a->jobs_done = NULL;
    pthread_mutex_unlock(&a->job_lock);
    while (j) {
        job *next = j->next;
        conn *c = j->c;
        if (c) {
            cd_req_clear(&c->req);
            cd_resp_clear(&c->resp);
            cd_buf_free(&c->body);
            c->req = j->req;
            c->resp = j->resp;
            c->body = j->body;
            c->job = NULL;
            c->head_only = c->req.method == CD_HEAD;
            c->state = ST_HEADERS;
            lws_callback_on_writable(j->wsi);
            free(j);
        } else {
            job_free(j);
        }
        j = next;
    }
}

static void dispatch(struct lws *wsi, conn *c)
{
    c->req.body = c->body.data;
    c->req.body_len = c->body.len;
    if (cd_router_offload(&c->req) && offload(wsi, c) == 0) return;
    cd_router_handle(&c->req, &c->resp);
    c->head_only = c->req.method == CD_HEAD;
    c->state = ST_HEADERS;
    lws_callback_on_writable(wsi);
}

/* ---- writing a response -------------------------------------------------- */

static int add_hdr(struct lws *wsi, const char *name, const char *value,
                   unsigned char **p, unsigned char *end)
{
    char n[128];
    snprintf(n, sizeof(n), "%s:", name);
    return lws_add_http_header_by_name(wsi, (const unsigned char *)n,
                                       (const unsigned char *)value,
                                       (int)strlen(value), p, end);
}

static int write_headers(struct lws *wsi, conn *c)
{
    unsigned char buf[LWS_PRE + 16384];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
    cd_resp *w = &c->resp;
    char date[64];
    struct tm tm;
    time_t now = time(NULL);

    c->total = w->fd >= 0 ? w->file_len : w->body.len;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (lws_add_http_header_status(wsi, (unsigned)w->status, &p, end) ||
        add_hdr(wsi, "Date", date, &p, end) ||
        add_hdr(wsi, "Server", "comfyd/" COMFYD_VERSION, &p, end))
        return -1;
    if (w->content_type && add_hdr(wsi, "Content-Type", w->content_type, &p, end))
        return -1;
    if (w->status != 304 && w->status != 204 &&
        lws_add_http_header_content_length(wsi, c->total, &p, end))
        return -1;
    for (size_t i = 0; i < w->n_headers; i++)
        if (add_hdr(wsi, w->headers[i].name, w->headers[i].value, &p, end))
            return -1;
    if (w->close_after && add_hdr(wsi, "Connection", "close", &p, end)) return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
    if (c->head_only || w->status == 304 || w->status == 204) c->total = 0;
    c->state = ST_WRITING;
    return 0;
}

/* Writes one chunk.  1: more to write, 0: done, -1: failed. */
static int write_body(struct lws *wsi, conn *c)
{
    unsigned char buf[LWS_PRE + CHUNK];
    cd_resp *w = &c->resp;
    uint64_t left = c->total - c->sent;
    size_t n = left > CHUNK ? CHUNK : (size_t)left;

    if (left == 0) return 0;
    if (w->fd >= 0) {
        ssize_t got = pread(w->fd, buf + LWS_PRE, n, (off_t)(w->file_off + c->sent));
        if (got <= 0) return -1;
        n = (size_t)got;
    } else {
        memcpy(buf + LWS_PRE, w->body.data + c->sent, n);
    }
    c->sent += n;
    if (lws_write(wsi, buf + LWS_PRE, n,
                  c->sent == c->total ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
        return -1;
    return c->sent < c->total;
}

static int http_writeable(struct lws *wsi, conn *c)
{
    int rc, close_after;

    if (c->state == ST_HEADERS) {
        if (write_headers(wsi, c) < 0) return -1;
        if (c->total) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    } else if (c->state == ST_WRITING) {
        rc = write_body(wsi, c);
        if (rc < 0) return -1;
        if (rc > 0) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    } else {
        return 0;
    }
    close_after = c->resp.close_after;
    conn_reset(c);
    if (close_after) return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- the protocol callback ----------------------------------------------- */

static int is_ws_path(struct lws *wsi)
{
    char uri[64];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0) return 0;
    return strcmp(uri, "/ws") == 0 || strcmp(uri, "/api/ws") == 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
    conn *c = user;
    cd_api *a = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        char cl[32];
        conn_reset(c);
        if (read_request(a, wsi, c) < 0) return -1;
        long long n = 0;
        int chunked = 0;
        if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
            n = strtoll(cl, NULL, 10);
        else if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
            chunked = strstr(cl, "chunked") != NULL;
        if (chunked) {
            /* lws 4.1 does not decode chunked request bodies: ask for a
             * Content-Length instead of waiting forever. */
            (void)cd_resp_text(&c->resp, 411, "411: Length Required");
            c->resp.close_after = 1;
            c->state = ST_HEADERS;
            lws_callback_on_writable(wsi);
            return 0;
        }
        if (n > 0 && c->req.method != CD_GET && c->req.method != CD_HEAD) {
            int multipart = 0;
            size_t ceiling = 0;
            if (cd_router_reads_body(&c->req, &multipart))
                ceiling = multipart ? (size_t)a->max_body + MULTIPART_SLACK
                                    : (size_t)(a->max_body ? a->max_body - 1 : 0);
            cd_buf_init(&c->body, ceiling);
            if ((unsigned long long)n > ceiling) c->req.body_too_large = 1;
            c->state = ST_BODY;
            /* "Expect: 100-continue" (curl, for bodies over 1 MB): say go. */
            if (!c->req.body_too_large &&
                lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_EXPECT) > 0 &&
                strcasecmp(cl, "100-continue") == 0) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                unsigned char buf[LWS_PRE + sizeof(cont)];
                memcpy(buf + LWS_PRE, cont, sizeof(cont) - 1);
                if (lws_write(wsi, buf + LWS_PRE, sizeof(cont) - 1,
                              LWS_WRITE_HTTP_HEADERS) < 0)
                    return -1;
            }
            return 0;
        }
        dispatch(wsi, c);
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (c->state != ST_BODY) return 0;
        c->req.body_total += len;
        if (!c->req.body_too_large && cd_buf_append(&c->body, in, len) < 0) {
            c->req.body_too_large = 1;
            cd_buf_free(&c->body);
        }
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (c->state == ST_BODY) dispatch(wsi, c);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return http_writeable(wsi, c);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c && c->job) {
            c->job->c = NULL;        /* the job finishes into the void */
            c->job = NULL;
        }
        if (c && c->inited) conn_reset(c);
        return 0;

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        cd_req tmp;
        int reject;
        if (!is_ws_path(wsi)) return 1;
        memset(&tmp, 0, sizeof(tmp));
        tmp.host = hdr_dup(wsi, WSI_TOKEN_HOST);
        tmp.origin = hdr_dup(wsi, WSI_TOKEN_ORIGIN);
        reject = !a->cfg->cors_origin && cd_mw_origin_rejected(&tmp);
        free(tmp.host);
        free(tmp.origin);
        return reject;
    }
    case LWS_CALLBACK_ESTABLISHED:
        memset(c, 0, sizeof(*c));
        return cd_ws_established(a, wsi, &c->ws);
    case LWS_CALLBACK_RECEIVE:
        return c->ws ? cd_ws_receive(a, c->ws, in, len, lws_frame_is_binary(wsi),
                                     lws_is_final_fragment(wsi))
                     : 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c->ws ? cd_ws_writeable(a, c->ws) : 0;
    case LWS_CALLBACK_CLOSED:
        if (c->ws) cd_ws_closed(a, c->ws);
        c->ws = NULL;
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (a) {
            collect_jobs(a);
            cd_ws_drain(a);
        }
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static struct lws_protocols protocols[] = {
    {"comfyd", callback, sizeof(conn), 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* permessage-deflate (RFC 7692) when the client offers it, as aiohttp does. */
static const struct lws_extension extensions[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate,
     "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
    {NULL, NULL, NULL},
};

/* ---- lifetime -------------------------------------------------------------- */

static void on_signal(int sig)
{
    if (sig == SIGHUP) g_rescan = 1;
    else g_stop = 1;
    if (g_api && g_api->ctx) lws_cancel_service(g_api->ctx);
}

static void lws_logger(int level, const char *line)
{
    cd_log(g_api ? g_api->log : NULL, level == LLL_ERR ? COMFY_LOG_ERROR
                                                       : COMFY_LOG_WARNING,
           "lws: %.*s", (int)strcspn(line, "\n"), line);
}

/* Creates one vhost per comma-separated listen address.  0 or -1. */
static int make_vhosts(cd_api *a)
{
    char list[512], *save = NULL;
    int have_any6 = 0, made = 0;
    snprintf(list, sizeof(list), "%s", a->cfg->listen && *a->cfg->listen
                                           ? a->cfg->listen : "127.0.0.1");
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "::") == 0) have_any6 = 1;
    }
    snprintf(list, sizeof(list), "%s", a->cfg->listen && *a->cfg->listen
                                           ? a->cfg->listen : "127.0.0.1");
    save = NULL;
    int idx = 0;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        struct lws_context_creation_info vi;
        while (*t == ' ') t++;
        memset(&vi, 0, sizeof(vi));
        /* lws keeps the name pointer for the context's life. */
        static char vh_names[32][16];
        if (idx >= 32) {
            cd_log(a->log, COMFY_LOG_ERROR, "at most 32 listen addresses");
            return -1;
        }
        snprintf(vh_names[idx], sizeof(vh_names[idx]), "vh%d", idx);
        vi.vhost_name = vh_names[idx++];
        vi.port = a->cfg->port;
        vi.protocols = protocols;
        vi.extensions = extensions;
        vi.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
        /* lws shares one listen socket between vhosts on the same port and
         * interface, so "0.0.0.0,::" is one dual-stack IPv6 socket. */
        if (strcmp(t, "0.0.0.0") == 0) {
            if (have_any6) continue;
            vi.iface = NULL;
            vi.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
        } else if (strcmp(t, "::") == 0) {
            vi.iface = NULL;
            vi.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY;   /* v6only = 0 */
        } else {
            vi.iface = t;
            if (!strchr(t, ':')) vi.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
        }
        if (!lws_create_vhost(a->ctx, &vi)) {
            cd_log(a->log, COMFY_LOG_ERROR, "cannot listen on %s port %d", t,
                   a->cfg->port);
            return -1;
        }
        made++;
    }
    return made ? 0 : -1;
}

int cd_api_serve(cd_runtime *rt, const cd_config *cfg, cd_logger *log)
{
    struct lws_context_creation_info info;
    struct sigaction sa, old_int, old_term, old_hup;
    sigset_t hup;
    cd_api a;
    int rc = 1;

    memset(&a, 0, sizeof(a));
    a.rt = rt;
    a.cfg = cfg;
    a.log = log;
    a.paths = cd_runtime_paths(rt);
    a.max_body = (uint64_t)(cfg->max_upload_size_mb * 1024.0 * 1024.0 + 0.5);
    pthread_mutex_init(&a.evq_lock, NULL);
    pthread_mutex_init(&a.job_lock, NULL);
    pthread_cond_init(&a.job_cv, NULL);
    a.evq = calloc(CD_EVQ_MAX, sizeof(*a.evq));
    if (!a.evq) goto out;
    g_api = &a;
    g_stop = 0;

    lws_set_log_level(LLL_ERR, lws_logger);
    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
    info.user = &a;
    info.max_http_header_data = 16384;
    info.max_http_header_pool = 256;
    info.timeout_secs = 60;
    /* LWS_SERVER_OPTION_VALIDATE_UTF8 would close sockets on bad text;
     * the reference logs and ignores, so leave it to ws.c instead. */
    info.options &= ~(uint64_t)LWS_SERVER_OPTION_VALIDATE_UTF8;
    a.ctx = lws_create_context(&info);
    if (!a.ctx) {
        cd_log(log, COMFY_LOG_ERROR, "cannot create the network context");
        goto out;
    }
    if (make_vhosts(&a) < 0) goto out;

    cd_runtime_set_event_sink(rt, cd_ws_sink, &a);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    signal(SIGPIPE, SIG_IGN);
    /* cd_runtime_new blocked SIGHUP; one sent during start-up arrives now. */
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_UNBLOCK, &hup, NULL);

    cd_log(log, COMFY_LOG_INFO, "Starting server");
    {
        const char *l = cfg->listen && *cfg->listen ? cfg->listen : "127.0.0.1";
        char first[128];
        snprintf(first, sizeof(first), "%.*s", (int)strcspn(l, ","), l);
        if (strcmp(first, "0.0.0.0") == 0 || strcmp(first, "::") == 0)
            snprintf(first, sizeof(first), "127.0.0.1");
        cd_log(log, COMFY_LOG_INFO, "To see the GUI go to: http://%s%s%s:%d",
               strchr(first, ':') ? "[" : "", first, strchr(first, ':') ? "]" : "",
               cfg->port);
    }
    while (!g_stop) {
        if (lws_service(a.ctx, 0) < 0) break;
        if (g_rescan) {                 /* pack init runs on this thread */
            g_rescan = 0;
            cd_runtime_rescan_packs(rt);
        }
    }
    pthread_sigmask(SIG_BLOCK, &hup, NULL);
    cd_runtime_set_event_sink(rt, NULL, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    cd_log(log, COMFY_LOG_INFO, "Stopping server");
    rc = 0;

out:
    /* Workers still running use the context (lws_cancel_service): wait. */
    pthread_mutex_lock(&a.job_lock);
    while (a.jobs_running > 0) pthread_cond_wait(&a.job_cv, &a.job_lock);
    pthread_mutex_unlock(&a.job_lock);
    if (a.ctx) lws_context_destroy(a.ctx);
    while (a.jobs_done) {
        job *j = a.jobs_done;
        a.jobs_done = j->next;
        job_free(j);
    }
    a.ctx = NULL;
    cd_ws_free_all(&a);
    if (a.evq) {
        for (size_t i = 0; i < a.evq_len; i++)
            cd_event_free(a.evq[(a.evq_head + i) % CD_EVQ_MAX]);
        free(a.evq);
    }
    pthread_mutex_destroy(&a.evq_lock);
    pthread_mutex_destroy(&a.job_lock);
    pthread_cond_destroy(&a.job_cv);
    free(a.run_client);
    free(a.run_node);
    cd_event_free(a.held_preview);
    g_api = NULL;
    return rc;
}
