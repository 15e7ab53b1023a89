/*
 * ws.c — the /ws WebSocket (spec/api.md §2): session ids, the first
 * `status` message, the feature-flags exchange, routing of runtime events
 * to one client or to all, binary preview frames, and a bounded send queue
 * per client (a client that falls too far behind is dropped and logged;
 * the others and the server carry on).
 *
 * Threads: cd_ws_sink() runs on whichever thread produced the event (the
 * executor, or the network thread inside a request); it only appends to
 * the bounded event ring under evq_lock and wakes the loop with
 * lws_cancel_service().  Everything else runs on the network thread.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "image.h"
#include "pyjson.h"
#include "server_int.h"

typedef struct ws_msg {
    struct ws_msg *next;
    int binary;
    size_t len;
    unsigned char data[];            /* LWS_PRE bytes, then the payload */
} ws_msg;

struct ws_client {
    ws_client *next;                 /* in cd_api.clients                */
    struct lws *wsi;
    char *sid;                       /* owned                            */
    int registered;                  /* the registry's socket for sid    */
    int first_done;                  /* first JSON object consumed       */
    int preview_meta;                /* supports_preview_metadata: true  */
    int logs;                        /* subscribed to `logs` messages    */
    int dropping;                    /* send queue overflowed: closing   */
    ws_msg *head, *tail;
    size_t q_msgs, q_bytes;
    cd_buf rx;                       /* a fragmented message in progress */
};

/* ---- event ring (any thread) --------------------------------------------- */

void cd_ws_sink(void *user, cd_event *ev)
{
    cd_api *a = user;
    int dropped = 0;
    if (!a || !ev) {
        cd_event_free(ev);
        return;
    }
    pthread_mutex_lock(&a->evq_lock);
    if (a->evq_len >= CD_EVQ_MAX) {
        a->evq_dropped++;
        dropped = 1;
    } else {
        a->evq[(a->evq_head + a->evq_len) % CD_EVQ_MAX] = ev;
        a->evq_len++;
    }
    pthread_mutex_unlock(&a->evq_lock);
    if (dropped) {
        cd_log(a->log, COMFY_LOG_WARNING, "ws: event queue full, event dropped");
        cd_event_free(ev);
    }
    if (a->ctx) lws_cancel_service(a->ctx);
}

/* ---- per-client send queue ----------------------------------------------- */

static ws_client *find_sid(cd_api *a, const char *sid)
{
    for (ws_client *c = a->clients; c; c = c->next)
        if (c->registered && !c->dropping && strcmp(c->sid, sid) == 0) return c;
    return NULL;
}

/* Queues one message (copied).  On overflow the client is dropped. */
static void enqueue(cd_api *a, ws_client *c, int binary, const void *p, size_t n)
{
    ws_msg *m;
    if (c->dropping) return;
    if (c->q_msgs >= CD_WS_QUEUE_MAX_MSGS || c->q_bytes + n > CD_WS_QUEUE_MAX_BYTES) {
        cd_log(a->log, COMFY_LOG_WARNING,
               "ws: client %s is too slow (%zu messages, %zu bytes queued); "
               "dropping it", c->sid, c->q_msgs, c->q_bytes);
        c->dropping = 1;
        c->registered = 0;
        lws_callback_on_writable(c->wsi);
        return;
    }
    m = malloc(sizeof(*m) + LWS_PRE + n);
    if (!m) {
        cd_log(a->log, COMFY_LOG_ERROR, "ws: out of memory queueing a message");
        return;
    }
    m->next = NULL;
    m->binary = binary;
    m->len = n;
    memcpy(m->data + LWS_PRE, p, n);
    if (c->tail) c->tail->next = m;
    else c->head = m;
    c->tail = m;
    c->q_msgs++;
    c->q_bytes += n;
    lws_callback_on_writable(c->wsi);
}

int cd_ws_writeable(cd_api *a, ws_client *c)
{
    (void)a;
    if (c->dropping) return -1;
    ws_msg *m = c->head;
    if (!m) return 0;
    int n = lws_write(c->wsi, m->data + LWS_PRE, m->len,
                      m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    c->head = m->next;
    if (!c->head) c->tail = NULL;
    c->q_msgs--;
    c->q_bytes -= m->len;
    free(m);
    if (n < 0) return -1;
    if (c->head) lws_callback_on_writable(c->wsi);
    return 0;
}

/* ---- connecting ----------------------------------------------------------- */

static char *new_sid(void)
{
    unsigned char b[16];
    char *s = malloc(33);
    if (!s) return NULL;
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        free(s);
        return NULL;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* UUID4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    for (int i = 0; i < 16; i++) snprintf(s + 2 * i, 3, "%02x", b[i]);
    return s;
}

static void send_text(cd_api *a, ws_client *c, const cd_buf *b)
{
    enqueue(a, c, 0, b->data, b->len);
}

int cd_ws_established(cd_api *a, struct lws *wsi, ws_client **slot)
{
    char frag[1024];
    char *sid = NULL;
    ws_client *c;
    cd_buf b;

    for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof(frag),
                                          WSI_TOKEN_HTTP_URI_ARGS, i) >= 0; i++) {
        if (strncmp(frag, "clientId=", 9) == 0 && frag[9]) {
            sid = strdup(frag + 9);
            break;
        }
    }
    if (!sid) sid = new_sid();
    if (!sid) return -1;
    c = calloc(1, sizeof(*c));
    if (!c) {
        free(sid);
        return -1;
    }
    c->wsi = wsi;
    c->sid = sid;
    cd_buf_init(&c->rx, CD_WS_RX_MAX);
    /* Session reuse: an older socket with this sid leaves the registry but
     * stays open. */
    for (ws_client *o = a->clients; o; o = o->next)
        if (o->registered && strcmp(o->sid, sid) == 0) o->registered = 0;
    c->registered = 1;
    c->next = a->clients;
    a->clients = c;
    *slot = c;

    cd_buf_init(&b, 1 << 20);
    if (cd_runtime_status_message(a->rt, sid, &b) == 0) send_text(a, c, &b);
    cd_buf_reset(&b);
    if (a->run_client && a->run_node && strcmp(a->run_client, sid) == 0) {
        if (cd_buf_puts(&b, "{\"type\": \"executing\", \"data\": {\"node\": ") == 0 &&
            cd_json_dump_string(&b, a->run_node, strlen(a->run_node)) == 0 &&
            cd_buf_puts(&b, "}}") == 0)
            send_text(a, c, &b);
    }
    cd_buf_free(&b);
    return 0;
}

void cd_ws_closed(cd_api *a, ws_client *c)
{
    for (ws_client **pp = &a->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    while (c->head) {
        ws_msg *m = c->head;
        c->head = m->next;
        free(m);
    }
    cd_buf_free(&c->rx);
    free(c->sid);
    free(c);
}

void cd_ws_free_all(cd_api *a)
{
    while (a->clients) cd_ws_closed(a, a->clients);
}

/* ---- `logs` messages ------------------------------------------------------ */

#define LOGS_PERIOD_US (300 * LWS_US_PER_MS)

/* The runtime's log ring as parsed JSON ({"entries": [...], "size": ...}). */
static struct json_object *log_ring(cd_api *a)
{
    cd_buf b;
    char err[64];
    struct json_object *o = NULL;
    cd_buf_init(&b, (size_t)16 << 20);
    if (cd_runtime_logs(a->rt, 1, &b) == 200)
        o = cd_json_parse(b.data, b.len, 16, err, sizeof(err));
    cd_buf_free(&b);
    return o;
}

/* Remembers the newest entry's time so only later entries are sent. */
static void mark_newest(cd_api *a, struct json_object *ring)
{
    struct json_object *entries, *e, *t;
    if (!ring || !json_object_object_get_ex(ring, "entries", &entries)) return;
    size_t n = json_object_array_length(entries);
    if (!n) return;
    e = json_object_array_get_idx(entries, n - 1);
    if (json_object_object_get_ex(e, "t", &t))
        snprintf(a->logs_last_t, sizeof(a->logs_last_t), "%s", json_object_get_string(t));
}

/* Every LOGS_PERIOD_US while someone is subscribed: sends the log entries
 * written since the last pass as one `logs` message (spec §2.4). */
static void logs_tick(lws_sorted_usec_list_t *sul)
{
    cd_api *a = lws_container_of(sul, cd_api, logs_sul);
    int any = 0;
    for (ws_client *c = a->clients; c; c = c->next) any |= c->logs && c->registered;
    if (!any) {
        a->logs_timer_on = 0;
        return;
    }
    struct json_object *ring = log_ring(a), *entries, *size = NULL, *fresh, *t;
    if (ring && json_object_object_get_ex(ring, "entries", &entries) &&
        (fresh = json_object_new_array())) {
        json_object_object_get_ex(ring, "size", &size);
        for (size_t i = 0; i < json_object_array_length(entries); i++) {
            struct json_object *e = json_object_array_get_idx(entries, i);
            if (json_object_object_get_ex(e, "t", &t) &&
                strcmp(json_object_get_string(t), a->logs_last_t) > 0)
                json_object_array_add(fresh, json_object_get(e));
        }
        if (json_object_array_length(fresh)) {
            struct json_object *msg = json_object_new_object(), *data = json_object_new_object();
            cd_buf b;
            cd_buf_init(&b, (size_t)16 << 20);
            json_object_object_add(data, "entries", json_object_get(fresh));
            json_object_object_add(data, "size", size ? json_object_get(size) : NULL);
            json_object_object_add(msg, "type", json_object_new_string("logs"));
            json_object_object_add(msg, "data", data);
            if (cd_json_dump(&b, msg) == 0)
                for (ws_client *c = a->clients; c; c = c->next)
                    if (c->logs && c->registered) enqueue(a, c, 0, b.data, b.len);
            cd_buf_free(&b);
            json_object_put(msg);
            mark_newest(a, ring);
        }
        json_object_put(fresh);
    }
    json_object_put(ring);
    lws_sul_schedule(a->ctx, 0, &a->logs_sul, logs_tick, LOGS_PERIOD_US);
}

int cd_ws_subscribe_logs(cd_api *a, const char *sid, int enabled)
{
    ws_client *c = find_sid(a, sid);
    if (!c) return -1;
    c->logs = enabled;
    if (enabled && !a->logs_timer_on) {
        struct json_object *ring = log_ring(a);
        a->logs_last_t[0] = '\0';
        mark_newest(a, ring);
        json_object_put(ring);
        a->logs_timer_on = 1;
        lws_sul_schedule(a->ctx, 0, &a->logs_sul, logs_tick, LOGS_PERIOD_US);
    }
    return 0;
}

/* ---- receiving ------------------------------------------------------------ */

static void on_message(cd_api *a, ws_client *c, const char *text, size_t len)
{
    char err[128];
    struct json_object *o = cd_json_parse(text, len, 64, err, sizeof(err));
    if (!o) {
        cd_log(a->log, COMFY_LOG_DEBUG, "ws: invalid JSON from %s: %s", c->sid, err);
        return;
    }
    if (!json_object_is_type(o, json_type_object) || c->first_done) {
        json_object_put(o);
        return;
    }
    c->first_done = 1;
    struct json_object *type, *data, *flag;
    if (json_object_object_get_ex(o, "type", &type) &&
        json_object_is_type(type, json_type_string) &&
        strcmp(json_object_get_string(type), "feature_flags") == 0) {
        c->preview_meta = 0;
        if (json_object_object_get_ex(o, "data", &data) &&
            json_object_is_type(data, json_type_object) &&
            json_object_object_get_ex(data, "supports_preview_metadata", &flag) &&
            json_object_is_type(flag, json_type_boolean) &&
            json_object_get_boolean(flag))
            c->preview_meta = 1;
        struct json_object *f = cd_api_features(a);
        cd_buf b;
        cd_buf_init(&b, 1 << 16);
        if (f && cd_buf_puts(&b, "{\"type\": \"feature_flags\", \"data\": ") == 0 &&
            cd_json_dump(&b, f) == 0 && cd_buf_putc(&b, '}') == 0)
            send_text(a, c, &b);
        cd_buf_free(&b);
        json_object_put(f);
    }
    json_object_put(o);
}

int cd_ws_receive(cd_api *a, ws_client *c, const void *in, size_t len,
                  int binary, int final)
{
    if (binary) return 0;                /* the server reads text only */
    if (cd_buf_append(&c->rx, in, len) < 0) {
        cd_log(a->log, COMFY_LOG_WARNING,
               "ws: message from %s exceeds %u bytes; closing", c->sid,
               (unsigned)CD_WS_RX_MAX);
        return -1;
    }
    if (!final) return 0;
    on_message(a, c, c->rx.data, c->rx.len);
    cd_buf_reset(&c->rx);
    return 0;
}

/* ---- events ---------------------------------------------------------------- */

/* Tracks the node running for a client, for the `executing` message sent
 * to a client when it reconnects (spec §2.2). */
static void track_running(cd_api *a, const cd_event *ev)
{
    static const char exe[] = "{\"type\": \"executing\"";
    static const char err[] = "{\"type\": \"execution_error\"";
    static const char intr[] = "{\"type\": \"execution_interrupted\"";
    const char *j = ev->json;
    if (!j || !ev->client_id) return;
    if (strncmp(j, err, sizeof(err) - 1) == 0 || strncmp(j, intr, sizeof(intr) - 1) == 0) {
        free(a->run_client);
        free(a->run_node);
        a->run_client = a->run_node = NULL;
        return;
    }
    if (strncmp(j, exe, sizeof(exe) - 1) != 0) return;
    char e[64];
    struct json_object *o = cd_json_parse(j, strlen(j), 16, e, sizeof(e)), *d, *n;
    if (!o) return;
    free(a->run_client);
    free(a->run_node);
    a->run_client = a->run_node = NULL;
    if (json_object_object_get_ex(o, "data", &d)) {
        if ((json_object_object_get_ex(d, "display_node", &n) ||
             json_object_object_get_ex(d, "node", &n)) &&
            json_object_is_type(n, json_type_string)) {
            a->run_client = strdup(ev->client_id);
            a->run_node = strdup(json_object_get_string(n));
        }
    }
    json_object_put(o);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void send_preview(cd_api *a, const cd_event *ev)
{
    unsigned char *jpg = NULL;
    size_t jlen = 0;
    ws_client *target = NULL;
    cd_buf frame, meta;

    if (!ev->rgb || ev->width <= 0 || ev->height <= 0) return;
    if (ev->client_id) {
        target = find_sid(a, ev->client_id);
        if (!target) return;             /* C set but not connected: dropped */
    }
    if (cd_img_encode_jpeg(ev->rgb, ev->width, ev->height, 3, 95, &jpg, &jlen) < 0) {
        cd_log(a->log, COMFY_LOG_WARNING, "ws: preview encoding failed");
        return;
    }
    cd_buf_init(&frame, (size_t)64 << 20);
    cd_buf_init(&meta, 1 << 16);
    if (target && target->preview_meta) {
        struct { const char *k, *v; } kv[] = {
            {"node_id", ev->node_id}, {"prompt_id", ev->prompt_id},
            {"display_node_id", ev->display_node}, {"parent_node_id", ev->parent_node},
            {"real_node_id", ev->real_node_id}, {"image_type", "image/jpeg"},
        };
        int bad = cd_buf_putc(&meta, '{');
        for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]) && !bad; i++) {
            bad |= cd_buf_printf(&meta, "%s\"%s\": ", i ? ", " : "", kv[i].k);
            bad |= kv[i].v ? cd_json_dump_string(&meta, kv[i].v, strlen(kv[i].v))
                           : cd_buf_puts(&meta, "null");
        }
        bad |= cd_buf_putc(&meta, '}');
        unsigned char hdr[8];
        put_u32(hdr, 4);
        put_u32(hdr + 4, (uint32_t)meta.len);
        if (!bad && cd_buf_append(&frame, hdr, 8) == 0 &&
            cd_buf_append(&frame, meta.data, meta.len) == 0 &&
            cd_buf_append(&frame, jpg, jlen) == 0)
            enqueue(a, target, 1, frame.data, frame.len);
    } else {
        unsigned char hdr[8];
        put_u32(hdr, 1);
        put_u32(hdr + 4, 1);                 /* JPEG */
        if (cd_buf_append(&frame, hdr, 8) == 0 && cd_buf_append(&frame, jpg, jlen) == 0) {
            if (target) {
                enqueue(a, target, 1, frame.data, frame.len);
            } else {
                for (ws_client *c = a->clients; c; c = c->next)
                    if (c->registered) enqueue(a, c, 1, frame.data, frame.len);
            }
        }
    }
    cd_buf_free(&frame);
    cd_buf_free(&meta);
    free(jpg);
}

static void flush_held(cd_api *a)
{
    if (!a->held_preview) return;
    send_preview(a, a->held_preview);
    cd_event_free(a->held_preview);
    a->held_preview = NULL;
}

/* Routes one event.  The runtime reports a preview just before its
 * `progress` message; a type-4 frame goes out there, a type-1 frame after
 * the `progress` (spec §2.7), so it is held until that message passes.
 * Returns 1 when the event was kept (held), 0 when the caller frees it. */
static int route_event(cd_api *a, cd_event *ev)
{
    static const char progress[] = "{\"type\": \"progress\", ";
    if (ev->kind == CD_EVENT_PREVIEW) {
        ws_client *t = ev->client_id ? find_sid(a, ev->client_id) : NULL;
        flush_held(a);
        if (t && t->preview_meta) {
            send_preview(a, ev);
            return 0;
        }
        a->held_preview = ev;
        return 1;
    }
    if (!ev->json) return 0;
    int is_progress = strncmp(ev->json, progress, sizeof(progress) - 1) == 0;
    if (!is_progress) flush_held(a);
    track_running(a, ev);
    size_t n = strlen(ev->json);
    if (ev->client_id) {
        ws_client *c = find_sid(a, ev->client_id);
        if (c) enqueue(a, c, 0, ev->json, n);
    } else {
        for (ws_client *c = a->clients; c; c = c->next)
            if (c->registered) enqueue(a, c, 0, ev->json, n);
    }
    if (is_progress) flush_held(a);
    return 0;
}

void cd_ws_drain(cd_api *a)
{
    for (;;) {
        cd_event *batch[256];
        size_t n = 0;
        pthread_mutex_lock(&a->evq_lock);
        while (n < 256 && a->evq_len) {
            batch[n++] = a->evq[a->evq_head];
            a->evq_head = (a->evq_head + 1) % CD_EVQ_MAX;
            a->evq_len--;
        }
        pthread_mutex_unlock(&a->evq_lock);
        if (!n) return;
        for (size_t i = 0; i < n; i++)
            if (!route_event(a, batch[i])) cd_event_free(batch[i]);
    }
}
