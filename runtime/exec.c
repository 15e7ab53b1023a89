/*
 * exec.c — the executor: POST /prompt intake, the queue and history routes,
 * and the worker thread that runs prompts with ComfyUI's semantics
 * (spec/api.md §2.4-2.7, §3, §5).
 *
 * Threads: the route functions run on the network thread and take ex->mu
 * for queue/history state.  The worker thread owns the cache and the
 * per-prompt run state; it takes ex->mu only to move items between the
 * queue, "running" and history.  Events go to the sink under ex->emu so
 * that their order is the order in which they were produced.  Async nodes
 * (COMFY_NODE_ASYNC) run their calls on threads of their own; those
 * threads touch only their task, the events and run->pnodes (under
 * run->pmu).  json-c reference counts are not atomic, so no json-c object
 * is ever shared between threads: queue items are kept as JSON text
 * (parsed by the worker when it takes one), history entries too.
 *
 * A run: validate-time conversions are already in the prompt; IS_CHANGED
 * and the signature (cache key) of every node are computed first, the
 * cache policy is applied, then the pending set of the output roots is
 * dissolved in ComfyUI's order (§5.5), with lazy inputs, lists, blockers,
 * node expansion (§5.8) and async nodes.  The history entry is stored as
 * JSON text.
 */
#include <ctype.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cache.h"
#include "exec_internal.h"
#include "executor.h"
#include "history.h"
#include "preview.h"
#include "pyjson.h"
#include "queue.h"
#include "validate.h"
#include "value.h"

#define BODY_MAX ((size_t)1 << 30)
#define MSG_MAX ((size_t)1 << 28)

struct run;
static int run_aborted(struct run *r);

struct cd_executor {
    const cd_config *cfg;
    const cd_registry *reg;
    const cd_paths *paths;
    const comfy_host *host;
    cd_logger *log;

    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_mutex_t emu;

    cd_queue q;
    cd_qitem *running;           /* owned while it runs            */
    long long running_started_ms;
    cd_history hist;
    long long counter;           /* POST /prompt number counter    */
    long long seq;
    int stop;
    int flag_free_memory, flag_unload_models;
    atomic_int interrupt;

    cd_event_sink sink;
    void *sink_user;
    cd_unload_fn unload;
    void *unload_user;

    cd_cache cache;              /* worker only                    */
    long long nonce;             /* is_changed "never equal" keys  */
    struct run *run;             /* worker only                    */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A private deep copy (NULL for NULL).  json-c reference counts are not
 * atomic, so an object is never shared between the network thread and
 * the worker. */
static struct json_object *dup(struct json_object *o)
{
    struct json_object *c = NULL;
    if (o && json_object_deep_copy(o, &c, NULL) != 0)
        c = NULL;
    return c;
}

static int put_json(cd_buf *out, struct json_object *o)
{
    int rc = cd_json_dump(out, o);
    json_object_put(o);
    return rc;
}

static int err500(cd_buf *out)
{
    cd_buf_reset(out);
    cd_buf_puts(out, "500 Internal Server Error\n\nServer got itself in trouble");
    return 500;
}

/* ---- events ---------------------------------------------------------------- */

/* Sends {"type": type, "data": data} to client_id (NULL: everyone).  Takes
 * the reference to data. */
static void emit(cd_executor *ex, const char *client_id, const char *type,
                 struct json_object *data)
{
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "type", json_object_new_string(type));
    json_object_object_add(m, "data", data);
    pthread_mutex_lock(&ex->emu);
    if (ex->sink) {
        cd_buf b;
        cd_buf_init(&b, MSG_MAX);
        cd_event *ev = calloc(1, sizeof(*ev));
        if (ev && cd_json_dump(&b, m) == 0) {
            ev->kind = CD_EVENT_JSON;
            ev->json = cd_buf_steal(&b, NULL);
            ev->client_id = client_id ? strdup(client_id) : NULL;
            if (ev->json && (!client_id || ev->client_id))
                ex->sink(ex->sink_user, ev);
            else
                cd_event_free(ev);
        } else {
            free(ev);
        }
        cd_buf_free(&b);
    }
    pthread_mutex_unlock(&ex->emu);
    json_object_put(m);
}

static int remaining_locked(cd_executor *ex)
{
    return (int)ex->q.n + (ex->running ? 1 : 0);
}

static struct json_object *status_data(int remaining)
{
    struct json_object *ei = json_object_new_object();
    json_object_object_add(ei, "queue_remaining", json_object_new_int(remaining));
    struct json_object *st = json_object_new_object();
    json_object_object_add(st, "exec_info", ei);
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "status", st);
    return d;
}

/* Broadcasts `status`; call with ex->mu held so counts and order agree. */
static void emit_status_locked(cd_executor *ex)
{
    emit(ex, NULL, "status", status_data(remaining_locked(ex)));
}

/* ---- lifetime ---------------------------------------------------------------- */

static void *worker_main(void *arg);

cd_executor *cd_executor_new(const cd_config *cfg, const cd_registry *reg,
                             const cd_paths *paths, const comfy_host *host,
                             cd_logger *log)
{
    cd_executor *ex = calloc(1, sizeof(*ex));
    if (!ex) {
        cd_log(log, COMFY_LOG_ERROR, "executor: out of memory");
        return NULL;
    }
    ex->cfg = cfg;
    ex->reg = reg;
    ex->paths = paths;
    ex->host = host;
    ex->log = log;
    pthread_mutex_init(&ex->mu, NULL);
    pthread_cond_init(&ex->cv, NULL);
    pthread_mutex_init(&ex->emu, NULL);
    cd_queue_init(&ex->q, cfg && cfg->queue_max > 0 ? (size_t)cfg->queue_max : 0);
    cd_history_init(&ex->hist, cfg && cfg->history_max > 0 ? cfg->history_max : 10000);
    cd_cache_init(&ex->cache);
    if (pthread_create(&ex->thread, NULL, worker_main, ex) != 0) {
        cd_log(log, COMFY_LOG_ERROR, "executor: cannot start the worker thread");
        cd_executor_free(ex);
        return NULL;
    }
    ex->thread_started = 1;
    return ex;
}

void cd_executor_free(cd_executor *ex)
{
    if (!ex)
        return;
    pthread_mutex_lock(&ex->mu);
    ex->stop = 1;
    atomic_store(&ex->interrupt, 1);
    pthread_cond_broadcast(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
    if (ex->thread_started)
        pthread_join(ex->thread, NULL);
    cd_queue_free(&ex->q);
    cd_qitem_free(ex->running);
    cd_history_free(&ex->hist);
    cd_cache_free(&ex->cache);
    pthread_mutex_destroy(&ex->mu);
    pthread_cond_destroy(&ex->cv);
    pthread_mutex_destroy(&ex->emu);
    free(ex);
}

void cd_executor_set_event_sink(cd_executor *ex, cd_event_sink sink, void *user)
{
    pthread_mutex_lock(&ex->emu);
    ex->sink = sink;
    ex->sink_user = user;
    pthread_mutex_unlock(&ex->emu);
}

void cd_executor_set_unload_hook(cd_executor *ex, cd_unload_fn fn, void *user)
{
    pthread_mutex_lock(&ex->mu);
    ex->unload = fn;
    ex->unload_user = user;
    pthread_mutex_unlock(&ex->mu);
}

int cd_exec_take_interrupt(cd_executor *ex)
{
    if (run_aborted(ex->run))
        return 1;
    return atomic_exchange(&ex->interrupt, 0) != 0;
}

/* ---- simple routes ---------------------------------------------------------- */

int cd_executor_queue_remaining(cd_executor *ex)
{
    pthread_mutex_lock(&ex->mu);
    int n = remaining_locked(ex);
    pthread_mutex_unlock(&ex->mu);
    return n;
}

int cd_executor_get_prompt(cd_executor *ex, cd_buf *out)
{
    struct json_object *d = status_data(cd_executor_queue_remaining(ex));
    struct json_object *ei = json_object_get(json_object_object_get(d, "status"));
    json_object_put(d);
    return put_json(out, ei) == 0 ? 200 : err500(out);
}

static void uuid4(char out[37])
{
    unsigned char r[16];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        for (int i = 0; i < 16; i++)
            r[i] = (unsigned char)(rand() & 0xff);
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
             r[12], r[13], r[14], r[15]);
}

static int py_truthy(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return 0;
    case json_type_boolean: return json_object_get_boolean(v);
    case json_type_int: return json_object_get_int64(v) != 0 || cd_json_is_uint64(v, NULL);
    case json_type_double: return json_object_get_double(v) != 0.0;
    case json_type_string: return json_object_get_string_len(v) > 0;
    case json_type_array: return json_object_array_length(v) > 0;
    case json_type_object: return json_object_object_length(v) > 0;
    }
    return 0;
}

/* Python float() of a body "number"; -1 when it would raise. */
static int py_float_of(struct json_object *v, double *out)
{
    switch (json_object_get_type(v)) {
    case json_type_boolean: *out = json_object_get_boolean(v); return 0;
    case json_type_int: {
        uint64_t u;
        *out = cd_json_is_uint64(v, &u) ? (double)u : (double)json_object_get_int64(v);
        return 0;
    }
    case json_type_double: *out = json_object_get_double(v); return 0;
    case json_type_string: {
        const char *s = json_object_get_string(v);
        char *end;
        while (*s == ' ' || *s == '\t' || *s == '\n') s++;
        if (!*s) return -1;
        *out = strtod(s, &end);
        while (*end == ' ' || *end == '\t' || *end == '\n') end++;
        return *end ? -1 : 0;
    }
    default: return -1;
    }
}

int cd_executor_post_prompt(cd_executor *ex, const char *body, size_t len, cd_buf *out)
{
    char perr[256];
    struct json_object *req = cd_json_parse(body ? body : "", len, 512, perr, sizeof(perr));
    struct json_object *prompt = NULL, *v;
    cd_vresult vr = {0};
    int status = 500;
    if (!req || !json_object_is_type(req, json_type_object))
        goto fail500;

    /* 2. the priority */
    struct json_object *number;
    pthread_mutex_lock(&ex->mu);
    if (json_object_object_get_ex(req, "number", &v)) {
        double d;
        if (py_float_of(v, &d) < 0) {
            pthread_mutex_unlock(&ex->mu);
            goto fail500;
        }
        number = json_object_new_double(d);
    } else {
        long long c = ex->counter++;
        int front = json_object_object_get_ex(req, "front", &v) && py_truthy(v);
        number = json_object_new_int64(front ? -c : c);
    }
    pthread_mutex_unlock(&ex->mu);

    /* 3. no prompt */
    if (!json_object_object_get_ex(req, "prompt", &prompt)) {
        json_object_put(number);
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "error", cd_verror("no_prompt", "No prompt provided",
                                                     "No prompt provided"));
        json_object_object_add(r, "node_errors", json_object_new_object());
        json_object_put(req);
        return put_json(out, r) == 0 ? 400 : err500(out);
    }
    if (!json_object_is_type(prompt, json_type_object)) {
        json_object_put(number);
        goto fail500;
    }

    /* 4. prompt_id */
    char idbuf[37];
    struct json_object *pid;
    if (json_object_object_get_ex(req, "prompt_id", &v)) {
        cd_buf s;
        cd_buf_init(&s, 1 << 16);
        cd_pystr(&s, v);
        pid = json_object_new_string(s.data ? s.data : "");
        cd_buf_free(&s);
    } else {
        uuid4(idbuf);
        pid = json_object_new_string(idbuf);
    }

    /* 5. validate */
    struct json_object *targets = NULL;
    json_object_object_get_ex(req, "partial_execution_targets", &targets);
    if (targets && !json_object_is_type(targets, json_type_array))
        targets = json_object_is_type(targets, json_type_null) ? NULL : targets;
    if (cd_validate_prompt(ex->reg, ex->host, prompt, targets, &vr) < 0) {
        json_object_put(number);
        json_object_put(pid);
        goto fail500;
    }

    /* 6. extra_data */
    struct json_object *extra = NULL;
    if (json_object_object_get_ex(req, "extra_data", &v) && json_object_is_type(v, json_type_object))
        json_object_deep_copy(v, &extra, NULL);
    if (!extra)
        extra = json_object_new_object();
    if (json_object_object_get_ex(req, "client_id", &v))
        json_object_object_add(extra, "client_id", dup(v));

    if (!vr.ok) {
        json_object_put(number);
        json_object_put(pid);
        json_object_put(extra);
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "error", json_object_get(vr.error));
        json_object_object_add(r, "node_errors", json_object_get(vr.node_errors));
        status = put_json(out, r) == 0 ? 400 : err500(out);
        cd_vresult_clear(&vr);
        json_object_put(req);
        return status;
    }

    /* 7. enqueue */
    struct json_object *item = json_object_new_array();
    /* the queue keeps the item as text: these references end with it,
     * on this thread, before the item is published */
    json_object_array_add(item, json_object_get(number));
    json_object_array_add(item, json_object_get(pid));
    json_object_array_add(item, json_object_get(prompt));
    json_object_array_add(item, extra);
    json_object_array_add(item, json_object_get(vr.outputs));
    cd_qitem *it = cd_qitem_new(item, 0);   /* kept as text; takes item */
    pthread_mutex_lock(&ex->mu);
    if (it)
        it->seq = ex->seq++;
    if (!it) {
        pthread_mutex_unlock(&ex->mu);
        json_object_put(number);
        json_object_put(pid);
        cd_vresult_clear(&vr);
        goto fail500;
    }
    it->created_ms = now_ms();
    if (cd_queue_push(&ex->q, it) < 0) {
        int full = ex->q.max && ex->q.n >= ex->q.max;
        pthread_mutex_unlock(&ex->mu);
        cd_qitem_free(it);
        json_object_put(number);
        json_object_put(pid);
        cd_vresult_clear(&vr);
        if (!full)
            goto fail500;
        char msg[128];
        snprintf(msg, sizeof(msg), "The queue holds %zu pending prompts, its limit", ex->q.max);
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "error", cd_verror("queue_full", "Queue is full", msg));
        json_object_object_add(r, "node_errors", json_object_new_object());
        json_object_put(req);
        return put_json(out, r) == 0 ? 429 : err500(out);
    }
    emit_status_locked(ex);
    pthread_cond_signal(&ex->cv);
    pthread_mutex_unlock(&ex->mu);

    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "prompt_id", pid);
    json_object_object_add(r, "number", number);
    json_object_object_add(r, "node_errors", json_object_get(vr.node_errors));
    cd_vresult_clear(&vr);
    json_object_put(req);
    return put_json(out, r) == 0 ? 200 : err500(out);

fail500:
    json_object_put(req);
    return err500(out);
}

int cd_executor_get_queue(cd_executor *ex, cd_buf *out)
{
    /* Written straight from the items under the lock: no references are
     * taken on objects the worker owns. */
    int rc = 0;
    pthread_mutex_lock(&ex->mu);
    rc |= cd_buf_puts(out, "{\"queue_running\": [");
    if (ex->running)
        rc |= cd_buf_append(out, ex->running->text, ex->running->len);
    rc |= cd_buf_puts(out, "], \"queue_pending\": [");
    for (size_t i = 0; i < ex->q.n; i++) {
        if (i)
            rc |= cd_buf_puts(out, ", ");
        rc |= cd_buf_append(out, ex->q.v[i]->text, ex->q.v[i]->len);
    }
    rc |= cd_buf_puts(out, "]}");
    pthread_mutex_unlock(&ex->mu);
    return rc == 0 ? 200 : err500(out);
}

int cd_executor_post_queue(cd_executor *ex, const char *body, size_t len, cd_buf *out)
{
    char perr[256];
    struct json_object *req = cd_json_parse(body ? body : "", len, 64, perr, sizeof(perr)), *v;
    if (!req || !json_object_is_type(req, json_type_object)) {
        json_object_put(req);
        return err500(out);
    }
    pthread_mutex_lock(&ex->mu);
    if (json_object_object_get_ex(req, "clear", &v) && py_truthy(v)) {
        cd_queue_free(&ex->q);
        emit_status_locked(ex);
    }
    if (json_object_object_get_ex(req, "delete", &v) && json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
            const char *id = json_object_get_string(json_object_array_get_idx(v, i));
            if (!id)
                continue;
            long at = cd_queue_find(&ex->q, id);
            if (at < 0)
                continue;
            cd_qitem_free(cd_queue_remove_at(&ex->q, (size_t)at));
            emit_status_locked(ex);
            if (ex->q.n == 0)
                emit_status_locked(ex);   /* ComfyUI sends two here (§1.16) */
        }
    }
    pthread_mutex_unlock(&ex->mu);
    json_object_put(req);
    cd_buf_reset(out);
    return 200;
}

int cd_executor_get_history(cd_executor *ex, long max_items, long offset, cd_buf *out)
{
    pthread_mutex_lock(&ex->mu);
    int rc = cd_history_write(&ex->hist, max_items, offset, out);
    pthread_mutex_unlock(&ex->mu);
    return rc == 0 ? 200 : err500(out);
}

int cd_executor_get_history_item(cd_executor *ex, const char *id, cd_buf *out)
{
    pthread_mutex_lock(&ex->mu);
    const cd_hentry *e = id ? cd_history_get(&ex->hist, id) : NULL;
    int rc = e ? cd_history_write_entry(&ex->hist, e, out) : cd_buf_puts(out, "{}");
    pthread_mutex_unlock(&ex->mu);
    return rc == 0 ? 200 : err500(out);
}

int cd_executor_post_history(cd_executor *ex, const char *body, size_t len, cd_buf *out)
{
    char perr[256];
    struct json_object *req = cd_json_parse(body ? body : "", len, 64, perr, sizeof(perr)), *v;
    if (!req || !json_object_is_type(req, json_type_object)) {
        json_object_put(req);
        return err500(out);
    }
    pthread_mutex_lock(&ex->mu);
    int cleared = 0;
    if (json_object_object_get_ex(req, "clear", &v) && py_truthy(v)) {
        cd_history_clear(&ex->hist);
        cleared = 1;
    }
    if (json_object_object_get_ex(req, "delete", &v) && json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
            const char *id = json_object_get_string(json_object_array_get_idx(v, i));
            if (id)
                cd_history_delete(&ex->hist, id);
        }
    }
    pthread_mutex_unlock(&ex->mu);
    json_object_put(req);
    if (cleared)
        malloc_trim(0);   /* a cleared history gives its memory back */
    cd_buf_reset(out);
    return 200;
}

int cd_executor_interrupt(cd_executor *ex, const char *body, size_t len, cd_buf *out)
{
    char perr[256];
    struct json_object *req = NULL;
    if (body && len > 0)
        req = cd_json_parse(body, len, 64, perr, sizeof(perr));
    if (req && !json_object_is_type(req, json_type_object)) {
        json_object_put(req);
        return err500(out);
    }
    struct json_object *v = NULL;
    const char *id = NULL;
    if (req && json_object_object_get_ex(req, "prompt_id", &v) && py_truthy(v))
        id = json_object_get_string(v);
    pthread_mutex_lock(&ex->mu);
    if (!id) {
        atomic_store(&ex->interrupt, 1);
    } else if (ex->running && strcmp(ex->running->prompt_id, id) == 0) {
        atomic_store(&ex->interrupt, 1);
    } else {
        cd_log(ex->log, COMFY_LOG_INFO, "Prompt %s is not currently running, skipping interrupt", id);
    }
    pthread_mutex_unlock(&ex->mu);
    json_object_put(req);
    cd_buf_reset(out);
    return 200;
}

int cd_executor_free_memory(cd_executor *ex, const char *body, size_t len, cd_buf *out)
{
    char perr[256];
    struct json_object *req = cd_json_parse(body ? body : "", len, 64, perr, sizeof(perr)), *v;
    if (!req || !json_object_is_type(req, json_type_object)) {
        json_object_put(req);
        return err500(out);
    }
    int fm = json_object_object_get_ex(req, "free_memory", &v) && py_truthy(v);
    int um = json_object_object_get_ex(req, "unload_models", &v) ? py_truthy(v) : fm;
    pthread_mutex_lock(&ex->mu);
    if (fm) ex->flag_free_memory = 1;
    if (um) ex->flag_unload_models = 1;
    pthread_cond_signal(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
    json_object_put(req);
    cd_buf_reset(out);
    return 200;
}

/* ---- jobs ------------------------------------------------------------------- */

static const char *state_name(cd_job_state s)
{
    switch (s) {
    case CD_JOB_PENDING: return "pending";
    case CD_JOB_RUNNING: return "running";
    case CD_JOB_COMPLETED: return "completed";
    case CD_JOB_ERROR: return "error";
    case CD_JOB_INTERRUPTED: return "interrupted";
    }
    return "error";
}

static struct json_object *ms_or_null(long long ms)
{
    return ms > 0 ? json_object_new_int64(ms) : NULL;
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcasecmp(s + n - m, suf) == 0;
}

/* Upstream's is_previewable: images/video/audio, a video/ or audio/
 * format, or a 3D file. */
static int previewable(const char *media, struct json_object *item)
{
    if (!strcmp(media, "images") || !strcmp(media, "video") || !strcmp(media, "audio"))
        return 1;
    const char *fmt = json_object_get_string(json_object_object_get(item, "format"));
    if (fmt && (!strncmp(fmt, "video/", 6) || !strncmp(fmt, "audio/", 6)))
        return 1;
    const char *fn = json_object_get_string(json_object_object_get(item, "filename"));
    return fn && (ends_with(fn, ".obj") || ends_with(fn, ".fbx") || ends_with(fn, ".gltf") ||
                  ends_with(fn, ".glb"));
}

/* The jobs summary of a prompt, as upstream ComfyUI's jobs API computes
 * it: {"workflow_id", "outputs_count", "preview_output", "error_message",
 * "execution_error"}.  `entry` (a history entry) is NULL for pending and
 * running prompts.  New reference. */
static struct json_object *job_summary(struct json_object *item, struct json_object *entry,
                                       cd_job_state st)
{
    struct json_object *j = json_object_new_object();
    struct json_object *wf = json_object_object_get(
        json_object_object_get(json_object_object_get(json_object_array_get_idx(item, 3), "extra_pnginfo"),
                               "workflow"), "id");
    json_object_object_add(j, "workflow_id", dup(wf));
    struct json_object *outputs = entry ? json_object_object_get(entry, "outputs") : NULL;
    int count = 0;
    struct json_object *preview = NULL, *fallback = NULL;
    if (json_object_is_type(outputs, json_type_object)) {
        json_object_object_foreach(outputs, nid, ui) {
            if (!json_object_is_type(ui, json_type_object))
                continue;
            json_object_object_foreach(ui, media, lst) {
                if (!strcmp(media, "animated") || !json_object_is_type(lst, json_type_array))
                    continue;
                for (size_t q = 0, n = json_object_array_length(lst); q < n; q++) {
                    struct json_object *it = json_object_array_get_idx(lst, q);
                    count++;
                    if (preview || !json_object_is_type(it, json_type_object) || !previewable(media, it))
                        continue;
                    const char *type = json_object_get_string(json_object_object_get(it, "type"));
                    int is_out = type && !strcmp(type, "output");
                    if (!is_out && fallback)
                        continue;
                    struct json_object *e = dup(it);
                    json_object_object_add(e, "nodeId", json_object_new_string(nid));
                    json_object_object_add(e, "mediaType", json_object_new_string(media));
                    if (is_out)
                        preview = e;
                    else
                        fallback = e;
                }
            }
        }
    }
    json_object_object_add(j, "outputs_count", json_object_new_int(count));
    if (preview) {
        json_object_put(fallback);
        json_object_object_add(j, "preview_output", preview);
    } else {
        json_object_object_add(j, "preview_output", fallback);
    }
    struct json_object *err = NULL;
    if (entry && (st == CD_JOB_ERROR || st == CD_JOB_INTERRUPTED)) {
        struct json_object *msgs = json_object_object_get(json_object_object_get(entry, "status"),
                                                          "messages");
        for (size_t i = 0, n = msgs ? json_object_array_length(msgs) : 0; i < n && !err; i++) {
            struct json_object *m = json_object_array_get_idx(msgs, i);
            const char *t = json_object_get_string(json_object_array_get_idx(m, 0));
            if (t && (!strcmp(t, "execution_error") || !strcmp(t, "execution_interrupted")))
                err = dup(json_object_array_get_idx(m, 1));
        }
    }
    struct json_object *em = json_object_object_get(err, "exception_message");
    json_object_object_add(j, "error_message", em ? dup(em) : NULL);
    json_object_object_add(j, "execution_error", err);
    return j;
}

/* One job object in the shape of upstream ComfyUI's jobs API: id, status,
 * create_time, error_message, execution_error, execution_start_time,
 * execution_end_time, outputs_count, preview_output, workflow_id; with
 * `full` also outputs, execution_status and workflow {prompt, extra_data}
 * (from `item` and `entry`, either may be NULL).  States are the issue's:
 * pending, running, completed, error, interrupted.  Takes the summary
 * reference.  New reference. */
static struct json_object *job_json(const char *id, cd_job_state st, long long created,
                                    long long started, long long finished,
                                    struct json_object *summary, struct json_object *item,
                                    struct json_object *entry, int full)
{
    struct json_object *j = json_object_new_object();
    json_object_object_add(j, "id", json_object_new_string(id));
    json_object_object_add(j, "status", json_object_new_string(state_name(st)));
    json_object_object_add(j, "create_time", ms_or_null(created));
    json_object_object_add(j, "error_message", json_object_get(json_object_object_get(summary, "error_message")));
    json_object_object_add(j, "execution_error", json_object_get(json_object_object_get(summary, "execution_error")));
    json_object_object_add(j, "execution_start_time", ms_or_null(started));
    json_object_object_add(j, "execution_end_time", ms_or_null(finished));
    json_object_object_add(j, "outputs_count", json_object_get(json_object_object_get(summary, "outputs_count")));
    json_object_object_add(j, "preview_output", json_object_get(json_object_object_get(summary, "preview_output")));
    json_object_object_add(j, "workflow_id", json_object_get(json_object_object_get(summary, "workflow_id")));
    json_object_put(summary);
    if (full) {
        struct json_object *outputs = entry ? json_object_object_get(entry, "outputs") : NULL;
        json_object_object_add(j, "outputs", outputs ? json_object_get(outputs) : json_object_new_object());
        struct json_object *status = entry ? json_object_object_get(entry, "status") : NULL;
        json_object_object_add(j, "execution_status", status ? json_object_get(status) : NULL);
        struct json_object *wf = json_object_new_object();
        json_object_object_add(wf, "prompt", dup(json_object_array_get_idx(item, 2)));
        json_object_object_add(wf, "extra_data", dup(json_object_array_get_idx(item, 3)));
        json_object_object_add(j, "workflow", wf);
    }
    return j;
}

static struct json_object *parse_text(const char *t, size_t n)
{
    char err[64];
    return t ? cd_json_parse(t, n, 512, err, sizeof(err)) : NULL;
}

/* A history entry's jobs summary, parsed (new reference), or NULL.  Under
 * the executor's lock. */
static struct json_object *entry_summary(cd_history *h, const cd_hentry *e)
{
    cd_buf t;
    cd_buf_init(&t, (size_t)e->sum_len + 1);
    struct json_object *o = cd_history_summary(h, e, &t) == 0 ? parse_text(t.data, t.len) : NULL;
    cd_buf_free(&t);
    return o;
}

static const char *query_get(const char *q, const char *key, char *buf, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t vl = n - kl - 1;
            if (vl >= cap) vl = cap - 1;
            memcpy(buf, p + kl + 1, vl);
            buf[vl] = 0;
            return buf;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

typedef struct jrow {
    struct json_object *job;
    long long key;        /* create time or duration, as sorted   */
    long long seq;        /* submission order: the tie-break       */
} jrow;

static int jrow_cmp_asc(const void *a, const void *b)
{
    const jrow *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Decodes %XX and '+' of a query value in place. */
static void url_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            char hex[3] = {r[1], r[2], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            r += 2;
        } else {
            *w++ = *r == '+' ? ' ' : *r;
        }
    }
    *w = 0;
}

/* Our state name for a status filter word (upstream's names accepted). */
static const char *state_alias(const char *w)
{
    if (!strcmp(w, "in_progress")) return "running";
    if (!strcmp(w, "failed")) return "error";
    if (!strcmp(w, "cancelled")) return "interrupted";
    return w;
}

static struct json_object *jerr(const char *msg)
{
    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "error", json_object_new_string(msg));
    return r;
}

int cd_executor_get_jobs(cd_executor *ex, const char *query, cd_buf *out)
{
    char sbuf[256], lbuf[32], obuf[32], ordbuf[16], sortbuf[32], wfbuf[256];
    const char *sfilter = query_get(query, "status", sbuf, sizeof(sbuf));
    const char *ls = query_get(query, "limit", lbuf, sizeof(lbuf));
    const char *os = query_get(query, "offset", obuf, sizeof(obuf));
    const char *ord = query_get(query, "sort_order", ordbuf, sizeof(ordbuf));
    const char *sort = query_get(query, "sort_by", sortbuf, sizeof(sortbuf));
    const char *wf = query_get(query, "workflow_id", wfbuf, sizeof(wfbuf));
    if (sfilter) url_decode(sbuf);
    if (wf) url_decode(wfbuf);
    char *end;
    long limit = -1, offset = 0;
    if (ls) {
        limit = strtol(ls, &end, 10);
        if (!*ls || *end || limit < 0)
            return put_json(out, jerr("limit must be a non-negative integer")) == 0 ? 400 : err500(out);
    }
    if (os) {
        offset = strtol(os, &end, 10);
        if (!*os || *end || offset < 0)
            return put_json(out, jerr("offset must be a non-negative integer")) == 0 ? 400 : err500(out);
    }
    if (ord && strcmp(ord, "asc") && strcmp(ord, "desc"))
        return put_json(out, jerr("sort_order must be 'asc' or 'desc'")) == 0 ? 400 : err500(out);
    int by_duration = sort && !strcmp(sort, "execution_duration");
    if (sort && !by_duration && strcmp(sort, "create_time"))
        return put_json(out, jerr("sort_by must be 'create_time' or 'execution_duration'")) == 0 ? 400 : err500(out);
    pthread_mutex_lock(&ex->mu);
    size_t cap = ex->q.n + ex->hist.n + 1;
    jrow *rows = calloc(cap, sizeof(*rows));
    size_t n = 0;
    if (!rows) {
        pthread_mutex_unlock(&ex->mu);
        return err500(out);
    }
    for (size_t i = 0; i < ex->hist.n; i++) {
        const cd_hentry *e = &ex->hist.v[i];
        const cd_hjob *jb = &e->job;
        struct json_object *sum = entry_summary(&ex->hist, e);
        rows[n++] = (jrow){job_json(cd_hentry_id(e), jb->state, jb->created_ms, jb->started_ms,
                                    jb->finished_ms, sum, NULL, NULL, 0),
                           by_duration ? jb->finished_ms - jb->started_ms : jb->created_ms, jb->seq};
    }
    if (ex->running) {
        struct json_object *ij = parse_text(ex->running->text, ex->running->len);
        rows[n++] = (jrow){job_json(ex->running->prompt_id, CD_JOB_RUNNING,
                                    ex->running->created_ms, ex->running_started_ms, 0,
                                    job_summary(ij, NULL, CD_JOB_RUNNING), NULL, NULL, 0),
                           by_duration ? 0 : ex->running->created_ms, ex->running->seq};
        json_object_put(ij);
    }
    for (size_t i = 0; i < ex->q.n; i++) {
        struct json_object *ij = parse_text(ex->q.v[i]->text, ex->q.v[i]->len);
        rows[n++] = (jrow){job_json(ex->q.v[i]->prompt_id, CD_JOB_PENDING, ex->q.v[i]->created_ms,
                                    0, 0, job_summary(ij, NULL, CD_JOB_PENDING), NULL, NULL, 0),
                           by_duration ? 0 : ex->q.v[i]->created_ms, ex->q.v[i]->seq};
        json_object_put(ij);
    }
    pthread_mutex_unlock(&ex->mu);
    qsort(rows, n, sizeof(*rows), jrow_cmp_asc);
    if (!ord || strcmp(ord, "asc") != 0)   /* newest first by default */
        for (size_t i = 0; i < n / 2; i++) {
            jrow t = rows[i];
            rows[i] = rows[n - 1 - i];
            rows[n - 1 - i] = t;
        }
    struct json_object *jobs = json_object_new_array();
    long total = 0, taken = 0;
    for (size_t i = 0; i < n; i++) {
        const char *st = json_object_get_string(json_object_object_get(rows[i].job, "status"));
        int match = 1;
        if (sfilter && *sfilter) {
            match = 0;
            char tmp[256];
            snprintf(tmp, sizeof(tmp), "%s", sbuf);
            for (char *sv, *tok = strtok_r(tmp, ",", &sv); tok; tok = strtok_r(NULL, ",", &sv)) {
                while (*tok == ' ') tok++;
                if (strcmp(state_alias(tok), st) == 0)
                    match = 1;
            }
        }
        if (match && wf && *wfbuf) {
            const char *jw = json_object_get_string(json_object_object_get(rows[i].job, "workflow_id"));
            match = jw && !strcmp(jw, wfbuf);
        }
        if (match) {
            if (total >= offset && (limit < 0 || taken < limit)) {
                json_object_array_add(jobs, json_object_get(rows[i].job));
                taken++;
            }
            total++;
        }
        json_object_put(rows[i].job);
    }
    free(rows);
    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "jobs", jobs);
    struct json_object *pg = json_object_new_object();
    json_object_object_add(pg, "offset", json_object_new_int64(offset));
    json_object_object_add(pg, "limit", limit < 0 ? NULL : json_object_new_int64(limit));
    json_object_object_add(pg, "total", json_object_new_int64(total));
    json_object_object_add(pg, "has_more", json_object_new_boolean(offset + taken < total));
    json_object_object_add(r, "pagination", pg);
    return put_json(out, r) == 0 ? 200 : err500(out);
}

int cd_executor_get_job(cd_executor *ex, const char *id, cd_buf *out)
{
    struct json_object *j = NULL;
    pthread_mutex_lock(&ex->mu);
    if (id) {
        const cd_hentry *e = cd_history_get(&ex->hist, id);
        if (e) {
            const cd_hjob *jb = &e->job;
            cd_buf t;
            cd_buf_init(&t, (size_t)e->text_len + 1);
            struct json_object *entry = cd_history_text(&ex->hist, e, &t) == 0 ? parse_text(t.data, t.len) : NULL;
            cd_buf_free(&t);
            struct json_object *item = json_object_object_get(entry, "prompt");
            j = job_json(cd_hentry_id(e), jb->state, jb->created_ms, jb->started_ms, jb->finished_ms,
                         entry_summary(&ex->hist, e), item, entry, 1);
            json_object_put(entry);
        } else if (ex->running && strcmp(ex->running->prompt_id, id) == 0) {
            struct json_object *ij = parse_text(ex->running->text, ex->running->len);
            j = job_json(id, CD_JOB_RUNNING, ex->running->created_ms, ex->running_started_ms, 0,
                         job_summary(ij, NULL, CD_JOB_RUNNING), ij, NULL, 1);
            json_object_put(ij);
        } else {
            long at = cd_queue_find(&ex->q, id);
            if (at >= 0) {
                struct json_object *ij = parse_text(ex->q.v[at]->text, ex->q.v[at]->len);
                j = job_json(id, CD_JOB_PENDING, ex->q.v[at]->created_ms, 0, 0,
                             job_summary(ij, NULL, CD_JOB_PENDING), ij, NULL, 1);
                json_object_put(ij);
            }
        }
    }
    pthread_mutex_unlock(&ex->mu);
    if (!j)
        return put_json(out, jerr("Job not found")) == 0 ? 404 : err500(out);
    return put_json(out, j) == 0 ? 200 : err500(out);
}

/* ======================================================================== */
/* The worker: running one prompt (§5).                                     */

/* A node waiting for the sub-graph it expanded into (§5.8): per call and
 * output, a value or a link to a node of the sub-graph. */
typedef struct xexp {
    size_t ncalls;
    uint32_t nout;
    comfy_value **lit;                /* ncalls * nout; owned refs or NULL */
    long *link;                       /* ncalls * nout; node index or -1  */
    uint32_t *slot;
    struct json_object **uis;         /* ncalls; owned                     */
} xexp;

static void exp_free(xexp *e);

typedef struct xnode {
    const char *id;                   /* prompt key, or own_id             */
    struct json_object *inputs;       /* borrowed, may be NULL            */
    const cd_class *cls;
    struct json_object *changed;      /* IS_CHANGED result; owned         */
    char *key;                        /* signature; owned                 */
    int pending;
    struct json_object *lazy_need;    /* requested lazy inputs; owned     */
    char *own_id;                     /* expanded nodes: owned id          */
    struct json_object *own_node;     /* expanded nodes: owned node JSON   */
    long parent;                      /* the node that expanded it, or -1  */
    long real;                        /* its top-level node                */
    long display;                     /* the node the UI shows             */
    xexp *exp;                        /* waiting for its sub-graph         */
    struct atask *task;               /* running on its own thread         */
} xnode;

typedef struct run {
    cd_executor *ex;
    cd_qitem *it;
    const char *prompt_id;
    const char *client_id;            /* NULL: no client                  */
    struct json_object *prompt, *extra, *outputs;
    xnode *nodes;
    size_t n, cap;
    struct json_object *index;        /* id -> position; owned            */
    comfy_value **vals;               /* expansion constants; owned refs   */
    int64_t *val_ids;
    size_t n_vals, cap_vals;
    char *dyn_text;                   /* DYNPROMPT text, or NULL; owned    */
    pthread_mutex_t pmu;              /* guards pnodes (async nodes)       */
    pthread_mutex_t amu;              /* guards the async task list        */
    pthread_cond_t acv;
    struct atask *tasks;              /* running async nodes               */
    int n_async;
    atomic_int abort;                 /* the run stopped: async nodes quit */
    size_t *pend;                     /* pending, insertion order          */
    size_t n_pend;
    struct json_object *messages;     /* history status messages; owned    */
    struct json_object *executed;     /* ids run this time; owned          */
    struct json_object *pnodes;       /* progress_state nodes; owned       */
    char *prompt_text;                /* PROMPT hidden value; owned        */
    int result;                       /* 0 ok, 1 error, 2 interrupted      */
    int oom;
} run;

static int run_aborted(struct run *r) { return r && atomic_load(&r->abort); }


static long xfind(run *r, const char *id)
{
    struct json_object *ix;
    if (!id || !json_object_object_get_ex(r->index, id, &ix))
        return -1;
    return json_object_get_int(ix);
}

static int is_link(struct json_object *v)
{
    return json_object_is_type(v, json_type_array) && json_object_array_length(v) == 2 &&
           json_object_is_type(json_object_array_get_idx(v, 0), json_type_string) &&
           json_object_is_type(json_object_array_get_idx(v, 1), json_type_int);
}

/* Adds a node (prompt node or expanded node) to the run.  `id` and
 * `node` are borrowed for prompt nodes (own = 0) and taken for expanded
 * ones (own = 1).  Returns its index, or -1 (unknown class, duplicate id,
 * OOM; an owned id/node is freed then). */
static long add_node(run *r, char *id, struct json_object *node, int own, long parent)
{
    struct json_object *ct = json_object_object_get(node, "class_type");
    const cd_class *cls = json_object_is_type(ct, json_type_string)
                              ? cd_registry_find(r->ex->reg, json_object_get_string(ct)) : NULL;
    if (!cls || xfind(r, id) >= 0)
        goto fail;
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        xnode *nn = realloc(r->nodes, nc * sizeof(*nn));
        if (!nn)
            goto fail;
        r->nodes = nn;
        size_t *np = realloc(r->pend, nc * sizeof(*np));
        if (!np)
            goto fail;
        r->pend = np;
        r->cap = nc;
    }
    long i = (long)r->n;
    xnode *x = &r->nodes[i];
    memset(x, 0, sizeof(*x));
    x->id = id;
    if (own) {
        x->own_id = id;
        x->own_node = node;
    }
    x->inputs = json_object_object_get(node, "inputs");
    if (!json_object_is_type(x->inputs, json_type_object))
        x->inputs = NULL;
    x->cls = cls;
    x->lazy_need = json_object_new_array();
    x->parent = parent;
    x->real = parent >= 0 ? r->nodes[parent].real : i;
    x->display = i;
    if (parent >= 0) {
        struct json_object *ov = json_object_object_get(node, "override_display_id");
        long d = ov ? xfind(r, json_object_get_string(ov)) : -1;
        x->display = d >= 0 ? r->nodes[d].display : r->nodes[parent].display;
    }
    json_object_object_add(r->index, id, json_object_new_int((int)i));
    r->n++;
    free(r->dyn_text);
    r->dyn_text = NULL;
    return i;
fail:
    if (own) {
        free(id);
        json_object_put(node);
    }
    return -1;
}

int64_t cd_exec_expand_value(cd_executor *ex, comfy_value *v)
{
    run *r = ex->run;
    if (!r || !v) {
        cd_value_release(v);
        return -1;
    }
    if (r->n_vals == r->cap_vals) {
        size_t nc = r->cap_vals ? r->cap_vals * 2 : 16;
        comfy_value **nv = realloc(r->vals, nc * sizeof(*nv));
        if (!nv) {
            cd_value_release(v);
            return -1;
        }
        r->vals = nv;
        int64_t *ni = realloc(r->val_ids, nc * sizeof(*ni));
        if (!ni) {
            cd_value_release(v);
            return -1;
        }
        r->val_ids = ni;
        r->cap_vals = nc;
    }
    r->vals[r->n_vals] = v;
    /* ids are unique across prompts, so a key holding one never matches */
    r->val_ids[r->n_vals] = ++ex->nonce;
    return r->val_ids[r->n_vals++];
}

/* The value of a {"__value_ref__": N} constant (borrowed), or NULL. */
static comfy_value *value_ref(run *r, struct json_object *v)
{
    struct json_object *ref;
    if (!json_object_is_type(v, json_type_object) || !json_object_object_get_ex(v, "__value_ref__", &ref))
        return NULL;
    int64_t id = json_object_get_int64(ref);
    for (size_t i = 0; i < r->n_vals; i++)
        if (r->val_ids[i] == id)
            return r->vals[i];
    return NULL;
}

/* DYNPROMPT: every node of the run (prompt and expanded) as JSON text. */
static const char *dyn_text(run *r)
{
    if (r->dyn_text)
        return r->dyn_text;
    struct json_object *o = json_object_new_object();
    json_object_object_foreach(r->prompt, k, v)
        json_object_object_add(o, k, json_object_get(v));
    for (size_t i = 0; i < r->n; i++)
        if (r->nodes[i].own_node)
            json_object_object_add(o, r->nodes[i].id, json_object_get(r->nodes[i].own_node));
    r->dyn_text = cd_json_to_string(o, (size_t)1 << 30);
    json_object_put(o);
    return r->dyn_text ? r->dyn_text : "{}";
}

/* Records an execution_* message in history and sends it (§2.4). */
static void add_message(run *r, const char *type, struct json_object *data, int broadcast)
{
    json_object_object_add(data, "timestamp", json_object_new_int64(now_ms()));
    struct json_object *m = json_object_new_array();
    json_object_array_add(m, json_object_new_string(type));
    json_object_array_add(m, json_object_get(data));
    json_object_array_add(r->messages, m);
    if (r->client_id || broadcast)
        emit(r->ex, r->client_id, type, data);
    else
        json_object_put(data);
}

static struct json_object *pid_data(run *r)
{
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "prompt_id", json_object_new_string(r->prompt_id));
    return d;
}

/* C-only message: dropped without a client. */
static void send_c(run *r, const char *type, struct json_object *data)
{
    if (r->client_id)
        emit(r->ex, r->client_id, type, data);
    else
        json_object_put(data);
}

static struct json_object *num_json(double v)
{
    if (v == floor(v) && fabs(v) < 9e15)
        return json_object_new_int64((int64_t)v);
    return json_object_new_double(v);
}

/* Call with r->pmu held. */
static void emit_progress_state(run *r)
{
    struct json_object *d = pid_data(r);
    json_object_object_add(d, "nodes", json_object_get(r->pnodes));
    emit(r->ex, r->client_id, "progress_state", d);
}

/* kind: 0 start (0.0/1.0), 1 finish (value = max), 2 cached finish (1/1). */
static const char *nid(run *r, long i) { return r->nodes[i].id; }

static void pstate(run *r, long i, int kind)
{
    const char *id = nid(r, i);
    xnode *x = &r->nodes[i];
    pthread_mutex_lock(&r->pmu);
    struct json_object *e = json_object_object_get(r->pnodes, id);
    if (kind == 0 || !e) {
        e = json_object_new_object();
        int cached = kind == 2 || (kind == 1);
        json_object_object_add(e, "value", cached && kind == 2 ? json_object_new_int(1) : json_object_new_double(kind == 1 ? 1.0 : 0.0));
        json_object_object_add(e, "max", cached && kind == 2 ? json_object_new_int(1) : json_object_new_double(1.0));
        json_object_object_add(e, "state", json_object_new_string(kind == 0 ? "running" : "finished"));
        json_object_object_add(e, "node_id", json_object_new_string(id));
        json_object_object_add(e, "prompt_id", json_object_new_string(r->prompt_id));
        json_object_object_add(e, "display_node_id", json_object_new_string(nid(r, x->display)));
        json_object_object_add(e, "parent_node_id",
                               x->parent >= 0 ? json_object_new_string(nid(r, x->parent)) : NULL);
        json_object_object_add(e, "real_node_id", json_object_new_string(nid(r, x->real)));
        json_object_object_add(r->pnodes, id, e);
    } else {
        struct json_object *mx = json_object_object_get(e, "max");
        json_object_object_add(e, "value", json_object_get(mx));
        json_object_object_add(e, "state", json_object_new_string("finished"));
    }
    emit_progress_state(r);
    pthread_mutex_unlock(&r->pmu);
}

void cd_exec_progress(cd_executor *ex, cd_xcall *c, double value, double max,
                      const comfy_tensor *preview)
{
    run *r = ex->run;
    if (!r)
        return;
    const char *id = c->pub.node_id;
    pthread_mutex_lock(&r->pmu);
    struct json_object *e = json_object_object_get(r->pnodes, id);
    if (e) {
        json_object_object_add(e, "value", num_json(value));
        json_object_object_add(e, "max", num_json(max));
        json_object_object_add(e, "state", json_object_new_string("running"));
        emit_progress_state(r);
    }
    pthread_mutex_unlock(&r->pmu);
    if (preview && preview->dtype == COMFY_U8 && preview->ndim == 3 && preview->shape[2] == 3 &&
        preview->shape[0] > 0 && preview->shape[1] > 0 && preview->shape[0] <= 8192 &&
        preview->shape[1] <= 8192) {
        cd_event *ev = calloc(1, sizeof(*ev));
        size_t h = (size_t)preview->shape[0], w = (size_t)preview->shape[1];
        if (ev && (ev->rgb = malloc(h * w * 3))) {
            const unsigned char *src = preview->data;
            for (size_t y = 0; y < h; y++)
                for (size_t x = 0; x < w; x++)
                    for (size_t k = 0; k < 3; k++)
                        ev->rgb[(y * w + x) * 3 + k] =
                            src[(int64_t)y * preview->strides[0] + (int64_t)x * preview->strides[1] +
                                (int64_t)k * preview->strides[2]];
            /* fitted into --preview-size squared, as ComfyUI's server
             * does before encoding (preview.h); sizes past 8192 (the
             * largest preview taken) are held at 8192 */
            int ow = (int)w, oh = (int)h;
            if (ex->cfg && ex->cfg->preview_size > 0)
                cd_preview_fit((int)w, (int)h, ex->cfg->preview_size > 8192 ? 8192 : ex->cfg->preview_size,
                               &ow, &oh);
            if ((size_t)ow != w || (size_t)oh != h) {
                unsigned char *fit = cd_preview_resize(ev->rgb, (int)w, (int)h, ow, oh);
                if (fit) {
                    free(ev->rgb);
                    ev->rgb = fit;
                } else {
                    ow = (int)w;   /* out of memory: sent as it is */
                    oh = (int)h;
                }
            }
            ev->kind = CD_EVENT_PREVIEW;
            ev->width = ow;
            ev->height = oh;
            ev->client_id = r->client_id ? strdup(r->client_id) : NULL;
            ev->node_id = strdup(id);
            ev->prompt_id = strdup(r->prompt_id);
            ev->display_node = strdup(c->display_node ? c->display_node : id);
            ev->real_node_id = strdup(c->real_node ? c->real_node : id);
            ev->parent_node = c->parent_node ? strdup(c->parent_node) : NULL;
            pthread_mutex_lock(&ex->emu);
            if (ex->sink)
                ex->sink(ex->sink_user, ev);
            else
                cd_event_free(ev);
            pthread_mutex_unlock(&ex->emu);
        } else {
            free(ev);
        }
    }
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "value", num_json(value));
    json_object_object_add(d, "max", num_json(max));
    json_object_object_add(d, "prompt_id", json_object_new_string(r->prompt_id));
    json_object_object_add(d, "node", json_object_new_string(id));
    emit(ex, r->client_id, "progress", d);
}

/* ---- signatures (§5.4) ---------------------------------------------------- */

static int include_id(const cd_class *c)
{
    if (c->def->flags & COMFY_NODE_NOT_IDEMPOTENT)
        return 1;
    for (size_t i = 0; i < c->n_inputs; i++)
        if (c->inputs[i].def->section == COMFY_HIDDEN && strcmp(c->inputs[i].def->type, "UNIQUE_ID") == 0)
            return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted input names of a node (array owned by caller, names borrowed). */
static const char **sorted_keys(struct json_object *inputs, size_t *n)
{
    *n = inputs ? (size_t)json_object_object_length(inputs) : 0;
    const char **k = calloc(*n ? *n : 1, sizeof(*k));
    if (!k)
        return NULL;
    size_t i = 0;
    if (inputs) {
        json_object_object_foreach(inputs, key, val) {
            (void)val;
            k[i++] = key;
        }
    }
    qsort(k, *n, sizeof(*k), cmp_str);
    return k;
}

static void ancestry(run *r, long node, struct json_object *order, struct json_object *list, int depth)
{
    if (node < 0 || depth > 10000)
        return;
    size_t nk;
    const char **keys = sorted_keys(r->nodes[node].inputs, &nk);
    if (!keys)
        return;
    for (size_t i = 0; i < nk; i++) {
        struct json_object *v = json_object_object_get(r->nodes[node].inputs, keys[i]);
        if (!is_link(v))
            continue;
        const char *aid = json_object_get_string(json_object_array_get_idx(v, 0));
        if (json_object_object_get_ex(order, aid, NULL))
            continue;
        json_object_object_add(order, aid, json_object_new_int((int)json_object_array_length(list)));
        json_object_array_add(list, json_object_new_string(aid));
        ancestry(r, xfind(r, aid), order, list, depth + 1);
    }
    free(keys);
}

static struct json_object *immediate_sig(run *r, long node, struct json_object *order)
{
    struct json_object *s = json_object_new_array();
    if (node < 0) {
        json_object_array_add(s, json_object_new_string("<missing>"));
        return s;
    }
    xnode *x = &r->nodes[node];
    json_object_array_add(s, json_object_new_string(x->cls->def->name));
    json_object_array_add(s, json_object_get(x->changed));
    if (include_id(x->cls))
        json_object_array_add(s, json_object_new_string(x->id));
    size_t nk;
    const char **keys = sorted_keys(x->inputs, &nk);
    for (size_t i = 0; keys && i < nk; i++) {
        struct json_object *v = json_object_object_get(x->inputs, keys[i]);
        struct json_object *p = json_object_new_array();
        json_object_array_add(p, json_object_new_string(keys[i]));
        if (is_link(v)) {
            struct json_object *a = json_object_new_array();
            json_object_array_add(a, json_object_new_string("ANCESTOR"));
            struct json_object *pos = json_object_object_get(
                order, json_object_get_string(json_object_array_get_idx(v, 0)));
            json_object_array_add(a, json_object_get(pos));
            json_object_array_add(a, json_object_get(json_object_array_get_idx(v, 1)));
            json_object_array_add(p, a);
        } else {
            json_object_array_add(p, json_object_get(v));
        }
        json_object_array_add(s, p);
    }
    free(keys);
    return s;
}

static char *signature(run *r, long node)
{
    struct json_object *order = json_object_new_object();
    struct json_object *list = json_object_new_array();
    ancestry(r, node, order, list, 0);
    struct json_object *sig = json_object_new_array();
    json_object_array_add(sig, immediate_sig(r, node, order));
    size_t n = json_object_array_length(list);
    for (size_t i = 0; i < n; i++)
        json_object_array_add(sig, immediate_sig(r, xfind(r, json_object_get_string(
                                                          json_object_array_get_idx(list, i))), order));
    cd_buf b;
    cd_buf_init(&b, (size_t)1 << 30);
    char *out = NULL;
    if (cd_json_dump(&b, sig) == 0)
        out = cd_buf_steal(&b, NULL);
    cd_buf_free(&b);
    json_object_put(sig);
    json_object_put(order);
    json_object_put(list);
    return out;
}

/* ---- invoking a node ------------------------------------------------------ */

typedef struct inputs_set {
    const char **names;
    comfy_value **lists;     /* LIST values; owned refs or NULL          */
    size_t n;
} inputs_set;

static void inputs_free(inputs_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        cd_value_release(s->lists[i]);
    free(s->lists);
    free(s->names);
    memset(s, 0, sizeof(*s));
}

static comfy_value *one(comfy_value *v)
{
    comfy_value *l = cd_value_list();
    if (!l) {
        cd_value_release(v);
        return NULL;
    }
    if (v)
        cd_list_append(l, v);
    return l;
}

static comfy_value *source_list(run *r, struct json_object *link)
{
    long s = xfind(r, json_object_get_string(json_object_array_get_idx(link, 0)));
    if (s < 0)
        return NULL;
    cd_centry *e = cd_cache_get(&r->ex->cache, r->nodes[s].key);
    if (!e)
        return NULL;
    int64_t ix = json_object_get_int64(json_object_array_get_idx(link, 1));
    if (ix < 0)
        ix += e->n_slots;
    if (ix < 0 || ix >= (int64_t)e->n_slots)
        return NULL;
    return cd_value_retain(e->slots[ix]);
}

/* Gathers a node's inputs: constants as one-element lists, links as the
 * source's output list (absent when not computed), hidden values.
 * links_absent: every linked input reads as absent (IS_CHANGED). */
static int gather(run *r, xnode *x, int links_absent, inputs_set *s)
{
    size_t cap = (x->inputs ? (size_t)json_object_object_length(x->inputs) : 0) + x->cls->n_inputs;
    s->names = calloc(cap + 1, sizeof(*s->names));
    s->lists = calloc(cap + 1, sizeof(*s->lists));
    s->n = 0;
    if (!s->names || !s->lists)
        return -1;
    if (x->inputs) {
        json_object_object_foreach(x->inputs, k, v) {
            s->names[s->n] = k;
            const cd_input *in = cd_class_input(x->cls, k);
            comfy_value *ref = value_ref(r, v);
            if (ref) {
                s->lists[s->n] = one(cd_value_retain(ref));
            } else if (json_object_is_type(v, json_type_array) && in && in->raw_link) {
                s->lists[s->n] = one(cd_value_from_json(v));   /* the link itself */
            } else if (json_object_is_type(v, json_type_array)) {
                s->lists[s->n] = (links_absent || !is_link(v)) ? NULL : source_list(r, v);
            } else {
                s->lists[s->n] = one(cd_value_from_json(v));
            }
            s->n++;
        }
    }
    for (size_t i = 0; i < x->cls->n_inputs; i++) {
        const comfy_input_def *d = x->cls->inputs[i].def;
        if (d->section != COMFY_HIDDEN)
            continue;
        comfy_value *v = NULL;
        if (strcmp(d->type, "PROMPT") == 0) {
            v = cd_value_string(r->prompt_text, (size_t)-1);
        } else if (strcmp(d->type, "DYNPROMPT") == 0) {
            v = cd_value_string(dyn_text(r), (size_t)-1);
        } else if (strcmp(d->type, "UNIQUE_ID") == 0) {
            v = cd_value_string(x->id, (size_t)-1);
        } else if (strcmp(d->type, "EXTRA_PNGINFO") == 0) {
            struct json_object *pi = json_object_object_get(r->extra, "extra_pnginfo");
            if (json_object_is_type(pi, json_type_object)) {
                v = cd_value_map();
                json_object_object_foreach(pi, k, val) {
                    char *t = cd_json_to_string(val, (size_t)1 << 30);
                    if (t)
                        cd_map_set(v, k, cd_value_string(t, (size_t)-1));
                    free(t);
                }
            }
        } else if (strcmp(d->type, "AUTH_TOKEN_COMFY_ORG") == 0 ||
                   strcmp(d->type, "API_KEY_COMFY_ORG") == 0) {
            const char *key = strcmp(d->type, "AUTH_TOKEN_COMFY_ORG") == 0 ? "auth_token_comfy_org"
                                                                            : "api_key_comfy_org";
            struct json_object *t = json_object_object_get(r->extra, key);
            if (json_object_is_type(t, json_type_string))
                v = cd_value_string(json_object_get_string(t), (size_t)-1);
        }
        if (!v)
            continue;
        s->names[s->n] = d->name;
        s->lists[s->n] = one(v);
        s->n++;
    }
    return 0;
}

static void compute_is_changed(run *r, xnode *x)
{
    const cd_class *c = x->cls;
    x->changed = json_object_new_boolean(0);
    if (!c->def->is_changed)
        return;
    inputs_set s = {0};
    cd_xcall call;
    comfy_value *out = NULL;
    int never = 1;
    if (gather(r, x, 1, &s) == 0 &&
        cd_xcall_init(&call, r->ex->host, c, x->id, r->prompt_id, CD_CALL_IS_CHANGED) == 0) {
        call.ex = r->ex;
        call.n_in = s.n;
        call.in_names = s.names;
        call.in_lists = s.lists;
        if (c->def->is_changed(&call.pub, &out) == COMFY_OK) {
            double d;
            if (!(cd_value_kind(out) == COMFY_KIND_FLOAT && cd_value_get_float(out, &d) == 0 && isnan(d))) {
                struct json_object *j = cd_value_to_json(out);
                if (j || !out || cd_value_kind(out) == COMFY_KIND_NONE) {
                    json_object_put(x->changed);
                    x->changed = j;
                    never = 0;
                }
            }
        }
        cd_value_release(out);
        cd_xcall_clear(&call);
    }
    inputs_free(&s);
    if (never) {
        char b[64];
        snprintf(b, sizeof(b), "<changed #%lld>", ++r->ex->nonce);
        json_object_put(x->changed);
        x->changed = json_object_new_string(b);
    }
}

/* ---- the pending set and ordering (§5.5) ----------------------------------- */

static int available(run *r, long i)
{
    return i >= 0 && cd_cache_get(&r->ex->cache, r->nodes[i].key) != NULL;
}

static int input_lazy(const xnode *x, const char *name)
{
    const cd_input *in = cd_class_input(x->cls, name);
    return in && in->lazy;
}

static int lazy_requested(const xnode *x, const char *name)
{
    size_t n = json_object_array_length(x->lazy_need);
    for (size_t i = 0; i < n; i++)
        if (strcmp(json_object_get_string(json_object_array_get_idx(x->lazy_need, i)), name) == 0)
            return 1;
    return 0;
}

static int strong(const xnode *x, const char *name)
{
    return !input_lazy(x, name) || lazy_requested(x, name);
}

static void add_pending(run *r, long root)
{
    size_t cap = r->n + 1;
    long *stack = malloc(cap * 4 * sizeof(*stack));
    size_t sp = 0, scap = cap * 4;
    if (!stack) {
        r->oom = 1;
        return;
    }
    stack[sp++] = root;
    while (sp > 0) {
        long i = stack[--sp];
        xnode *x = &r->nodes[i];
        if (x->pending)
            continue;
        x->pending = 1;
        r->pend[r->n_pend++] = (size_t)i;
        if (!x->inputs)
            continue;
        json_object_object_foreach(x->inputs, k, v) {
            if (!is_link(v) || input_lazy(x, k))
                continue;
            long s = xfind(r, json_object_get_string(json_object_array_get_idx(v, 0)));
            if (s < 0 || available(r, s) || r->nodes[s].pending)
                continue;
            if (sp == scap) {
                long *ns = realloc(stack, scap * 2 * sizeof(*ns));
                if (!ns) {
                    r->oom = 1;
                    break;
                }
                stack = ns;
                scap *= 2;
            }
            stack[sp++] = s;
        }
    }
    free(stack);
}

static void remove_pending(run *r, long i)
{
    for (size_t k = 0; k < r->n_pend; k++) {
        if ((long)r->pend[k] == i) {
            memmove(r->pend + k, r->pend + k + 1, (r->n_pend - k - 1) * sizeof(*r->pend));
            r->n_pend--;
            break;
        }
    }
    r->nodes[i].pending = 0;
}

static int ready(run *r, long i)
{
    xnode *x = &r->nodes[i];
    if (x->task)
        return 0;   /* running */
    if (x->exp) {
        for (size_t k = 0; k < x->exp->ncalls * x->exp->nout; k++)
            if (x->exp->link[k] >= 0 && !available(r, x->exp->link[k]))
                return 0;
        return 1;
    }
    if (!x->inputs)
        return 1;
    json_object_object_foreach(x->inputs, k, v) {
        if (!is_link(v) || !strong(x, k))
            continue;
        long s = xfind(r, json_object_get_string(json_object_array_get_idx(v, 0)));
        if (s >= 0 && !available(r, s))
            return 0;
    }
    return 1;
}

static int is_output(run *r, long i) { return (r->nodes[i].cls->def->flags & COMFY_NODE_OUTPUT) != 0; }

/* Whether pending node j waits on i through a strong link. */
static int blocks(run *r, long i, long j)
{
    xnode *x = &r->nodes[j];
    if (!x->inputs || available(r, i))
        return 0;
    json_object_object_foreach(x->inputs, k, v) {
        if (is_link(v) && strong(x, k) &&
            xfind(r, json_object_get_string(json_object_array_get_idx(v, 0))) == i)
            return 1;
    }
    return 0;
}

static int feeds_output(run *r, long i, int steps)
{
    for (size_t k = 0; k < r->n_pend; k++) {
        long j = (long)r->pend[k];
        if (j == i || !blocks(r, i, j))
            continue;
        if (steps == 1 ? is_output(r, j) : feeds_output(r, j, 1))
            return 1;
    }
    return 0;
}

static long pick(run *r)
{
    long first = -1;
    size_t nready = 0;
    long *rd = malloc((r->n_pend + 1) * sizeof(*rd));
    if (!rd)
        return -1;
    for (size_t k = 0; k < r->n_pend; k++)
        if (ready(r, (long)r->pend[k]))
            rd[nready++] = (long)r->pend[k];
    for (size_t k = 0; k < nready && first < 0; k++)
        if (is_output(r, rd[k]) || (r->nodes[rd[k]].cls->def->flags & COMFY_NODE_ASYNC))
            first = rd[k];
    for (size_t k = 0; k < nready && first < 0; k++)
        if (feeds_output(r, rd[k], 1))
            first = rd[k];
    for (size_t k = 0; k < nready && first < 0; k++)
        if (feeds_output(r, rd[k], 2))
            first = rd[k];
    if (first < 0 && nready > 0)
        first = rd[0];
    free(rd);
    return first;
}

/* ---- failure reports (§2.4, §5.6) ------------------------------------------ */

static struct json_object *executed_copy(run *r)
{
    return json_object_get(r->executed);
}

static void report_error(run *r, xnode *x0, const char *etype, const char *emsg,
                         inputs_set *s)
{
    xnode *x = &r->nodes[x0->real];
    struct json_object *d = pid_data(r);
    json_object_object_add(d, "node_id", json_object_new_string(x->id));
    json_object_object_add(d, "node_type", json_object_new_string(x->cls->def->name));
    json_object_object_add(d, "executed", executed_copy(r));
    cd_buf m;
    cd_buf_init(&m, 1 << 20);
    cd_buf_printf(&m, "%s\n", emsg ? emsg : "");
    json_object_object_add(d, "exception_message", json_object_new_string(m.data ? m.data : "\n"));
    cd_buf_free(&m);
    json_object_object_add(d, "exception_type", json_object_new_string(etype ? etype : "RuntimeError"));
    struct json_object *tb = json_object_new_array();
    char line[512];
    snprintf(line, sizeof(line), "  Node %s (pack %s), in execute\n", x->cls->def->name,
             x->cls->pack ? cd_pack_name(x->cls->pack) : "?");
    json_object_array_add(tb, json_object_new_string(line));
    json_object_object_add(d, "traceback", tb);
    struct json_object *ci = json_object_new_object();
    for (size_t i = 0; s && i < s->n; i++) {
        if (!s->lists[i])
            continue;
        struct json_object *j = cd_value_to_json(s->lists[i]);
        json_object_object_add(ci, s->names[i], j ? j : json_object_new_array());
    }
    json_object_object_add(d, "current_inputs", ci);
    struct json_object *co = json_object_new_array();
    for (size_t i = 0; i < r->n; i++)
        json_object_array_add(co, json_object_new_string(r->nodes[i].id));
    json_object_object_add(d, "current_outputs", co);
    add_message(r, "execution_error", d, 0);
    r->result = 1;
}

static void report_interrupt(run *r, xnode *x0)
{
    xnode *x = &r->nodes[x0->real];
    struct json_object *d = pid_data(r);
    json_object_object_add(d, "node_id", json_object_new_string(x->id));
    json_object_object_add(d, "node_type", json_object_new_string(x->cls->def->name));
    json_object_object_add(d, "executed", executed_copy(r));
    add_message(r, "execution_interrupted", d, 1);
    r->result = 2;
}

static void report_blocked(run *r, xnode *x0, const char *msg)
{
    xnode *x = &r->nodes[x0->real];
    struct json_object *d = pid_data(r);
    json_object_object_add(d, "node_id", json_object_new_string(x->id));
    json_object_object_add(d, "node_type", json_object_new_string(x->cls->def->name));
    json_object_object_add(d, "executed", executed_copy(r));
    char buf[4096];
    snprintf(buf, sizeof(buf), "Execution Blocked: %s", msg);
    json_object_object_add(d, "exception_message", json_object_new_string(buf));
    json_object_object_add(d, "exception_type", json_object_new_string("ExecutionBlocker"));
    json_object_object_add(d, "traceback", json_object_new_array());
    json_object_object_add(d, "current_inputs", json_object_new_array());
    json_object_object_add(d, "current_outputs", json_object_new_array());
    emit(r->ex, r->client_id, "execution_error", d);
}

/* ---- one node -------------------------------------------------------------- */

static int is_blocker(const comfy_value *v, const char **msg)
{
    const void *iface;
    void *self;
    if (cd_value_get_object(v, CD_BLOCKER_TYPE, &iface, &self) != COMFY_OK)
        return 0;
    if (msg)
        *msg = self;
    return 1;
}

/* The blocker an input element carries for call `e`, or NULL. */
static const comfy_value *call_blocker(inputs_set *s, int whole, size_t e)
{
    for (size_t i = 0; i < s->n; i++) {
        comfy_value *l = s->lists[i];
        size_t n = cd_list_len(l);
        if (!l || n == 0)
            continue;
        if (whole) {
            for (size_t k = 0; k < n; k++)
                if (is_blocker(cd_list_get(l, k), NULL))
                    return cd_list_get(l, k);
        } else {
            const comfy_value *v = cd_list_get(l, e < n ? e : n - 1);
            if (is_blocker(v, NULL))
                return v;
        }
    }
    return NULL;
}

/* UI merge (§5.3): keys of the first, lists concatenated. */
static struct json_object *merge_ui(struct json_object **uis, size_t n)
{
    struct json_object *first = NULL;
    for (size_t i = 0; i < n && !first; i++)
        if (uis[i])
            first = uis[i];
    if (!first)
        return NULL;
    struct json_object *out = json_object_new_object();
    json_object_object_foreach(first, k, v0) {
        (void)v0;
        struct json_object *l = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
            struct json_object *v;
            if (!uis[i] || !json_object_object_get_ex(uis[i], k, &v))
                continue;
            if (json_object_is_type(v, json_type_array)) {
                size_t m = json_object_array_length(v);
                for (size_t j = 0; j < m; j++)
                    json_object_array_add(l, json_object_get(json_object_array_get_idx(v, j)));
            } else {
                json_object_array_add(l, json_object_get(v));
            }
        }
        json_object_object_add(out, k, l);
    }
    return out;
}

/* ---- async nodes (COMFY_NODE_ASYNC) ------------------------------------------ */

typedef struct atask {
    struct atask *next;
    run *r;
    long i;                   /* the node                                   */
    const cd_class *cls;
    const char *id, *display, *real, *parent;  /* node ids; stable strings  */
    inputs_set s;             /* owned                                      */
    int whole;
    xexp *xe;                 /* results, owned                             */
    int status;               /* 0 ok, 1 interrupted, 2 error               */
    char *err_type, *err_msg; /* owned                                      */
    int done;
    pthread_t th;
} atask;

static void atask_free(atask *t)
{
    inputs_free(&t->s);
    exp_free(t->xe);
    free(t->err_type);
    free(t->err_msg);
    free(t);
}

/* The thread of an async node: every call of it, results into t->xe.
 * Touches nothing of the run but its own task (and events). */
static void *async_main(void *arg)
{
    atask *t = arg;
    run *r = t->r;
    cd_executor *ex = r->ex;
    uint32_t no = t->cls->def->n_outputs;
    for (size_t e = 0; e < t->xe->ncalls && t->status == 0; e++) {
        if (cd_exec_take_interrupt(ex)) {
            t->status = 1;
            break;
        }
        const comfy_value *blk = call_blocker(&t->s, t->whole, e);
        if (blk) {
            for (uint32_t k = 0; k < no; k++)
                t->xe->lit[e * no + k] = cd_value_object(CD_BLOCKER_TYPE, NULL, NULL, NULL);
            continue;
        }
        cd_xcall call;
        if (cd_xcall_init(&call, ex->host, t->cls, t->id, r->prompt_id, CD_CALL_EXECUTE) < 0) {
            t->status = 2;
            t->err_type = strdup("MemoryError");
            t->err_msg = strdup("out of memory");
            break;
        }
        call.ex = ex;
        call.n_in = t->s.n;
        call.in_names = t->s.names;
        call.in_lists = t->s.lists;
        call.whole_lists = t->whole;
        call.elem = e;
        call.display_node = t->display;
        call.real_node = t->real;
        call.parent_node = t->parent;
        call.async_call = 1;
        int erc = t->cls->def->execute(&call.pub);
        if (erc == COMFY_EINTERRUPTED || call.was_interrupted) {
            t->status = 1;
        } else if (erc != COMFY_OK || call.expand_graph || call.out_link_id) {
            char fallback[160];
            if (erc == COMFY_OK)
                snprintf(fallback, sizeof(fallback), "async node %s cannot expand", t->cls->def->name);
            else
                snprintf(fallback, sizeof(fallback), "node %s failed (status %d)", t->cls->def->name, erc);
            t->status = 2;
            t->err_type = strdup(call.err_type ? call.err_type : "RuntimeError");
            t->err_msg = strdup(call.err_msg ? call.err_msg : fallback);
        } else {
            for (uint32_t k = 0; k < no; k++) {
                comfy_value *v = call.outs[k];
                t->xe->lit[e * no + k] = v ? cd_value_retain(v) : cd_value_none();
            }
            if (call.ui)
                t->xe->uis[e] = cd_value_to_json(call.ui);
        }
        cd_xcall_clear(&call);
    }
    pthread_mutex_lock(&r->amu);
    t->done = 1;
    pthread_cond_broadcast(&r->acv);
    pthread_mutex_unlock(&r->amu);
    return NULL;
}

static int finish_node(run *r, long i, xexp *e);

/* Collects finished async nodes (waiting for one when `block`): their
 * results are cached, or their failure reported (unless the run already
 * failed).  Worker thread. */
static void harvest(run *r, int block)
{
    pthread_mutex_lock(&r->amu);
    for (;;) {
        int any = 0;
        for (atask *t = r->tasks; t; t = t->next)
            any |= t->done;
        if (any || !block || !r->tasks)
            break;
        pthread_cond_wait(&r->acv, &r->amu);
    }
    atask *done = NULL, **pp = &r->tasks;
    while (*pp) {
        atask *t = *pp;
        if (t->done) {
            *pp = t->next;
            t->next = done;
            done = t;
            r->n_async--;
        } else {
            pp = &t->next;
        }
    }
    pthread_mutex_unlock(&r->amu);
    while (done) {
        atask *t = done;
        done = t->next;
        pthread_join(t->th, NULL);
        xnode *x = &r->nodes[t->i];
        x->task = NULL;
        if (r->result == 0 && !run_aborted(r)) {
            if (t->status == 1)
                report_interrupt(r, x);
            else if (t->status == 2)
                report_error(r, x, t->err_type, t->err_msg, &t->s);
            else if (finish_node(r, t->i, t->xe) < 0)
                report_error(r, x, "MemoryError", "out of memory", &t->s);
        }
        atask_free(t);
    }
}

/* Starts node i's calls on a thread; takes s and xe.  0, or -1 when no
 * thread could be made (then the caller still owns s and xe). */
static int start_async(run *r, long i, inputs_set *s, int whole, xexp *xe)
{
    atask *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    xnode *x = &r->nodes[i];
    t->r = r;
    t->i = i;
    t->cls = x->cls;
    t->id = x->id;
    t->display = nid(r, x->display);
    t->real = nid(r, x->real);
    t->parent = x->parent >= 0 ? nid(r, x->parent) : NULL;
    t->s = *s;
    t->whole = whole;
    t->xe = xe;
    pthread_mutex_lock(&r->amu);
    if (pthread_create(&t->th, NULL, async_main, t) != 0) {
        pthread_mutex_unlock(&r->amu);
        free(t);
        return -1;
    }
    t->next = r->tasks;
    r->tasks = t;
    r->n_async++;
    pthread_mutex_unlock(&r->amu);
    x->task = t;
    memset(s, 0, sizeof(*s));
    return 0;
}

/* --cache-none (§5.4): once node i has run, the results of its sources
 * that no pending node links to any more are freed (unless they carry UI,
 * which the history entry still shows).  A source needed again later, by
 * a lazy request, simply runs again. */
static void release_sources(run *r, long i)
{
    xnode *x = &r->nodes[i];
    if (!x->inputs)
        return;
    json_object_object_foreach(x->inputs, k, v) {
        (void)k;
        if (!is_link(v))
            continue;
        long src = xfind(r, json_object_get_string(json_object_array_get_idx(v, 0)));
        if (src < 0 || is_output(r, src))
            continue;
        int needed = 0;
        for (size_t q = 0; q < r->n_pend && !needed; q++) {
            xnode *y = &r->nodes[r->pend[q]];
            if (y->exp) {
                for (size_t m = 0; m < y->exp->ncalls * y->exp->nout && !needed; m++)
                    needed = y->exp->link[m] == src;
            }
            if (!y->inputs)
                continue;
            json_object_object_foreach(y->inputs, yk, yv) {
                (void)yk;
                if (is_link(yv) && xfind(r, json_object_get_string(json_object_array_get_idx(yv, 0))) == src)
                    needed = 1;
            }
        }
        cd_centry *e = needed ? NULL : cd_cache_get(&r->ex->cache, r->nodes[src].key);
        if (e && !e->ui)
            cd_cache_remove(&r->ex->cache, r->nodes[src].key);
    }
}

/* Builds node i's output lists from the per-call results (values, or
 * links into its finished sub-graph), caches them with the merged UI and
 * reports the node finished.  0, or -1 when memory runs out. */
static int finish_node(run *r, long i, xexp *e)
{
    xnode *x = &r->nodes[i];
    const comfy_node_def *def = x->cls->def;
    uint32_t no = e->nout;
    comfy_value **slots = calloc(no ? no : 1, sizeof(*slots));
    if (!slots)
        return -1;
    for (uint32_t k = 0; k < no; k++)
        if (!(slots[k] = cd_value_list()))
            goto fail;
    for (size_t c = 0; c < e->ncalls; c++) {
        for (uint32_t k = 0; k < no; k++) {
            size_t at = c * no + k;
            if (e->link[at] >= 0) {
                cd_centry *src = cd_cache_get(&r->ex->cache, r->nodes[e->link[at]].key);
                if (src && e->slot[at] < src->n_slots) {
                    const comfy_value *l = src->slots[e->slot[at]];
                    for (size_t q = 0, m = cd_list_len(l); q < m; q++)
                        cd_list_append(slots[k], cd_value_retain(cd_list_get(l, q)));
                }
                continue;
            }
            comfy_value *v = e->lit[at];
            if (def->outputs[k].is_list && cd_value_kind(v) == COMFY_KIND_LIST) {
                for (size_t q = 0, m = cd_list_len(v); q < m; q++)
                    cd_list_append(slots[k], cd_value_retain(cd_list_get(v, q)));
            } else {
                cd_list_append(slots[k], v ? cd_value_retain(v) : cd_value_none());
            }
        }
    }
    struct json_object *ui = merge_ui(e->uis, e->ncalls);
    struct json_object *ui_ref = json_object_get(ui);
    if (cd_cache_put(&r->ex->cache, x->key, slots, no, ui) < 0) {
        json_object_put(ui_ref);
        return -1;
    }
    if (ui_ref && json_object_object_length(ui_ref) > 0) {
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "node", json_object_new_string(x->id));
        json_object_object_add(d, "display_node", json_object_new_string(nid(r, x->display)));
        json_object_object_add(d, "output", json_object_get(ui_ref));
        json_object_object_add(d, "prompt_id", json_object_new_string(r->prompt_id));
        send_c(r, "executed", d);
    }
    json_object_put(ui_ref);
    pstate(r, i, 1);
    json_object_array_add(r->executed, json_object_new_string(x->id));
    remove_pending(r, i);
    if (r->ex->cfg && r->ex->cfg->cache_none)
        release_sources(r, i);
    return 0;
fail:
    for (uint32_t k = 0; k < no; k++)
        cd_value_release(slots[k]);
    free(slots);
    return -1;
}

/* Adds the nodes of a sub-graph that node `parent` expanded into (§5.8):
 * their IS_CHANGED values and keys, and the output nodes among them to
 * the pending set.  0, or -1 after an execution error was reported. */
static int expand_graph(run *r, long parent, struct json_object *g, inputs_set *s)
{
    size_t first = r->n;
    json_object_object_foreach(g, k, v) {
        char *id = strdup(k);
        if (!id || add_node(r, id, json_object_get(v), 1, parent) < 0) {
            char msg[400];
            struct json_object *ct = json_object_object_get(v, "class_type");
            if (xfind(r, k) >= 0)
                snprintf(msg, sizeof(msg), "node id %s of the expanded graph is already in use", k);
            else
                snprintf(msg, sizeof(msg), "Node %s of the expanded graph has unknown class %s", k,
                         ct ? json_object_get_string(ct) : "(none)");
            report_error(r, &r->nodes[parent], "KeyError", msg, s);
            return -1;
        }
    }
    for (size_t q = first; q < r->n; q++)
        compute_is_changed(r, &r->nodes[q]);
    for (size_t q = first; q < r->n; q++)
        r->nodes[q].key = signature(r, (long)q);
    for (size_t q = first; q < r->n; q++)
        if (is_output(r, (long)q) && !available(r, (long)q))
            add_pending(r, (long)q);
    return 0;
}

/* Runs node i.  Returns 0 when it finished (or was replayed), 1 when it
 * went back to waiting for lazy inputs, -1 when the prompt must stop. */
static int run_node(run *r, long i)
{
    cd_executor *ex = r->ex;
    xnode *x = &r->nodes[i];
    const comfy_node_def *def = x->cls->def;
    if (x->exp) {
        /* second pass of an expanded node: its sub-graph has finished */
        xexp *e = x->exp;
        x->exp = NULL;
        int frc = finish_node(r, i, e);
        exp_free(e);
        if (frc < 0)
            report_error(r, &r->nodes[i], "MemoryError", "out of memory", NULL);
        return frc;
    }
    cd_centry *hit = cd_cache_get(&ex->cache, x->key);
    if (hit) {
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "node", json_object_new_string(x->id));
        json_object_object_add(d, "display_node", json_object_new_string(nid(r, x->display)));
        json_object_object_add(d, "output", hit->ui ? json_object_get(hit->ui) : NULL);
        json_object_object_add(d, "prompt_id", json_object_new_string(r->prompt_id));
        send_c(r, "executed", d);
        pthread_mutex_lock(&r->pmu);
        int started = json_object_object_get(r->pnodes, x->id) != NULL;
        pthread_mutex_unlock(&r->pmu);
        pstate(r, i, started ? 1 : 2);
        remove_pending(r, i);
        return 0;
    }

    inputs_set s = {0};
    int rc = -1;
    uint32_t no = def->n_outputs;
    xexp *xe = NULL;
    size_t ncalls = 0;
    if (gather(r, x, 0, &s) < 0) {
        r->oom = 1;
        report_error(r, x, "MemoryError", "out of memory", NULL);
        goto out;
    }
    pstate(r, i, 0);
    {
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "node", json_object_new_string(x->id));
        json_object_object_add(d, "display_node", json_object_new_string(nid(r, x->display)));
        json_object_object_add(d, "prompt_id", json_object_new_string(r->prompt_id));
        send_c(r, "executing", d);
    }
    int whole = (def->flags & COMFY_NODE_INPUT_IS_LIST) != 0;
    size_t maxlen = 0;
    int any = 0;
    for (size_t k = 0; k < s.n; k++) {
        if (!s.lists[k])
            continue;
        any = 1;
        size_t n = cd_list_len(s.lists[k]);
        if (n > maxlen)
            maxlen = n;
    }
    ncalls = whole ? 1 : (any ? maxlen : 1);

    /* lazy inputs */
    int has_lazy = 0;
    for (size_t k = 0; k < x->cls->n_inputs; k++)
        if (x->cls->inputs[k].lazy)
            has_lazy = 1;
    if (def->check_lazy && has_lazy) {
        int added = 0;
        for (size_t e = 0; e < ncalls; e++) {
            cd_xcall call;
            if (cd_xcall_init(&call, ex->host, x->cls, x->id, r->prompt_id, CD_CALL_CHECK_LAZY) < 0) {
                report_error(r, x, "MemoryError", "out of memory", &s);
                goto out;
            }
            call.ex = ex;
            call.n_in = s.n;
            call.in_names = s.names;
            call.in_lists = s.lists;
            call.whole_lists = whole;
            call.elem = e;
            comfy_value *needed = cd_value_list();
            int lrc = def->check_lazy(&call.pub, needed);
            if (lrc != COMFY_OK) {
                report_error(r, x, call.err_type ? call.err_type : "RuntimeError",
                             call.err_msg ? call.err_msg : "check_lazy failed", &s);
                cd_value_release(needed);
                cd_xcall_clear(&call);
                goto out;
            }
            size_t nn = cd_list_len(needed);
            for (size_t q = 0; q < nn; q++) {
                const char *name = cd_value_get_string(cd_list_get(needed, q));
                struct json_object *v;
                if (!name || !x->inputs || !json_object_object_get_ex(x->inputs, name, &v)) {
                    char msg[512];
                    snprintf(msg, sizeof(msg), "'%s'", name ? name : "None");
                    report_error(r, x, "KeyError", msg, &s);
                    cd_value_release(needed);
                    cd_xcall_clear(&call);
                    goto out;
                }
                if (!is_link(v))
                    continue;
                long src = xfind(r, json_object_get_string(json_object_array_get_idx(v, 0)));
                if (src < 0 || available(r, src))
                    continue;
                if (!lazy_requested(x, name))
                    json_object_array_add(x->lazy_need, json_object_new_string(name));
                if (!r->nodes[src].pending)
                    add_pending(r, src);
                added = 1;
            }
            cd_value_release(needed);
            cd_xcall_clear(&call);
        }
        if (added) {
            rc = 1;
            goto out;
        }
    }

    xe = calloc(1, sizeof(*xe));
    if (xe) {
        xe->ncalls = ncalls;
        xe->nout = no;
        xe->lit = calloc(ncalls * no + 1, sizeof(*xe->lit));
        xe->link = malloc((ncalls * no + 1) * sizeof(*xe->link));
        xe->slot = calloc(ncalls * no + 1, sizeof(*xe->slot));
        xe->uis = calloc(ncalls + 1, sizeof(*xe->uis));
    }
    if (!xe || !xe->lit || !xe->link || !xe->slot || !xe->uis) {
        report_error(r, x, "MemoryError", "out of memory", &s);
        goto out;
    }
    for (size_t k = 0; k < ncalls * no; k++)
        xe->link[k] = -1;
    if ((def->flags & COMFY_NODE_ASYNC) && start_async(r, i, &s, whole, xe) == 0) {
        xe = NULL;
        rc = 2;   /* running on its own thread */
        goto out;
    }
    int expanded = 0;
    for (size_t e = 0; e < ncalls; e++) {
        x = &r->nodes[i];
        if (cd_exec_take_interrupt(ex)) {
            report_interrupt(r, x);
            goto out;
        }
        const comfy_value *blk = call_blocker(&s, whole, e);
        if (blk) {
            const char *msg = NULL;
            is_blocker(blk, &msg);
            if (msg)
                report_blocked(r, x, msg);
            for (uint32_t k = 0; k < no; k++)
                xe->lit[e * no + k] = cd_value_object(CD_BLOCKER_TYPE, NULL, NULL, NULL);
            continue;
        }
        cd_xcall call;
        if (cd_xcall_init(&call, ex->host, x->cls, x->id, r->prompt_id, CD_CALL_EXECUTE) < 0) {
            report_error(r, x, "MemoryError", "out of memory", &s);
            goto out;
        }
        call.ex = ex;
        call.n_in = s.n;
        call.in_names = s.names;
        call.in_lists = s.lists;
        call.whole_lists = whole;
        call.elem = e;
        call.display_node = nid(r, x->display);
        call.real_node = nid(r, x->real);
        call.parent_node = x->parent >= 0 ? nid(r, x->parent) : NULL;
        int erc = def->execute(&call.pub);
        if (erc == COMFY_EINTERRUPTED || call.was_interrupted) {
            cd_xcall_clear(&call);
            report_interrupt(r, x);
            goto out;
        }
        if (erc != COMFY_OK) {
            char fallback[128];
            snprintf(fallback, sizeof(fallback), "node %s failed (status %d)", def->name, erc);
            report_error(r, x, call.err_type ? call.err_type : "RuntimeError",
                         call.err_msg ? call.err_msg : fallback, &s);
            cd_xcall_clear(&call);
            goto out;
        }
        if (call.expand_graph && expand_graph(r, i, call.expand_graph, &s) < 0) {
            cd_xcall_clear(&call);
            goto out;
        }
        x = &r->nodes[i];
        for (uint32_t k = 0; k < no; k++) {
            const char *lid = call.out_link_id ? call.out_link_id[k] : NULL;
            if (lid) {
                long src = xfind(r, lid);
                if (src < 0) {
                    char msg[300];
                    snprintf(msg, sizeof(msg), "'%s'", lid);
                    report_error(r, x, "KeyError", msg, &s);
                    cd_xcall_clear(&call);
                    goto out;
                }
                xe->link[e * no + k] = src;
                xe->slot[e * no + k] = call.out_link_slot[k];
                expanded = 1;
            } else {
                comfy_value *v = call.outs[k];
                xe->lit[e * no + k] = v ? cd_value_retain(v) : cd_value_none();
            }
        }
        if (call.expand_graph)
            expanded = 1;
        if (call.ui)
            xe->uis[e] = cd_value_to_json(call.ui);
        cd_xcall_clear(&call);
    }
    x = &r->nodes[i];
    if (expanded) {
        /* wait for the sub-graph; the results resolve in a second pass */
        for (size_t k = 0; k < ncalls * no; k++)
            if (xe->link[k] >= 0 && !available(r, xe->link[k]) && !r->nodes[xe->link[k]].pending)
                add_pending(r, xe->link[k]);
        x = &r->nodes[i];
        x->exp = xe;
        xe = NULL;
        rc = 1;
        goto out;
    }
    if (finish_node(r, i, xe) < 0) {
        report_error(r, x, "MemoryError", "out of memory", &s);
        goto out;
    }
    rc = 0;
out:
    exp_free(xe);
    inputs_free(&s);
    return rc;
}

/* ---- one prompt ------------------------------------------------------------- */

/* Whether pending node j waits on node i (a strong link or a sub-graph
 * link that is not available yet). */
static int waits_on(run *r, long j, long i)
{
    xnode *x = &r->nodes[j];
    if (available(r, i))
        return 0;
    if (x->exp) {
        for (size_t k = 0; k < x->exp->ncalls * x->exp->nout; k++)
            if (x->exp->link[k] == i)
                return 1;
        return 0;
    }
    return blocks(r, i, j);
}

/* The node a dependency cycle is blamed on, as ComfyUI does: dissolve the
 * pending nodes that wait on nothing pending, then take the first one
 * left, or the display node of the first expanded one. */
static long cycle_blame(run *r)
{
    size_t n = r->n_pend;
    char *in = calloc(n ? n : 1, 1);
    if (!in)
        return r->nodes[r->pend[0]].real;
    memset(in, 1, n);
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t a = 0; a < n; a++) {
            if (!in[a])
                continue;
            int blocked = 0;
            for (size_t b = 0; b < n && !blocked; b++)
                blocked = in[b] && b != a && waits_on(r, (long)r->pend[a], (long)r->pend[b]);
            if (!blocked) {
                in[a] = 0;
                changed = 1;
            }
        }
    }
    long blamed = -1;
    for (size_t a = 0; a < n; a++) {
        if (!in[a])
            continue;
        long j = (long)r->pend[a];
        if (blamed < 0)
            blamed = j;
        if (r->nodes[j].display != j) {
            blamed = r->nodes[j].display;
            break;
        }
    }
    free(in);
    return blamed >= 0 ? blamed : r->nodes[r->pend[0]].real;
}

static void exp_free(xexp *e)
{
    if (!e)
        return;
    for (size_t k = 0; k < e->ncalls * e->nout; k++)
        cd_value_release(e->lit[k]);
    for (size_t k = 0; k < e->ncalls; k++)
        json_object_put(e->uis[k]);
    free(e->lit);
    free(e->link);
    free(e->slot);
    free(e->uis);
    free(e);
}

static void run_free(run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        json_object_put(r->nodes[i].changed);
        free(r->nodes[i].key);
        json_object_put(r->nodes[i].lazy_need);
        free(r->nodes[i].own_id);
        json_object_put(r->nodes[i].own_node);
        exp_free(r->nodes[i].exp);
    }
    for (size_t i = 0; i < r->n_vals; i++)
        cd_value_release(r->vals[i]);
    free(r->vals);
    free(r->val_ids);
    free(r->dyn_text);
    pthread_mutex_destroy(&r->pmu);
    pthread_mutex_destroy(&r->amu);
    pthread_cond_destroy(&r->acv);
    free(r->nodes);
    free(r->pend);
    json_object_put(r->index);
    json_object_put(r->messages);
    json_object_put(r->executed);
    json_object_put(r->pnodes);
    free(r->prompt_text);
}

/* Builds the history entry of a finished run (§3.4).  New reference. */
static struct json_object *history_entry(run *r)
{
    struct json_object *e = json_object_new_object();
    struct json_object *item = json_object_new_array();
    struct json_object *extra = NULL;
    json_object_deep_copy(r->extra, &extra, NULL);
    if (extra) {
        json_object_object_del(extra, "auth_token_comfy_org");
        json_object_object_del(extra, "api_key_comfy_org");
    }
    json_object_array_add(item, json_object_get(json_object_array_get_idx(r->it->item, 0)));
    json_object_array_add(item, json_object_get(json_object_array_get_idx(r->it->item, 1)));
    json_object_array_add(item, json_object_get(r->prompt));
    json_object_array_add(item, extra ? extra : json_object_new_object());
    json_object_array_add(item, json_object_get(r->outputs));
    json_object_object_add(e, "prompt", item);
    struct json_object *outs = json_object_new_object();
    struct json_object *meta = json_object_new_object();
    for (size_t i = 0; i < r->n; i++) {
        cd_centry *c = r->nodes[i].key ? cd_cache_get(&r->ex->cache, r->nodes[i].key) : NULL;
        if (!c || !c->ui || json_object_object_length(c->ui) == 0)
            continue;
        const char *id = r->nodes[i].id;
        json_object_object_add(outs, id, json_object_get(c->ui));
        struct json_object *m = json_object_new_object();
        xnode *x = &r->nodes[i];
        json_object_object_add(m, "node_id", json_object_new_string(id));
        json_object_object_add(m, "display_node", json_object_new_string(nid(r, x->display)));
        json_object_object_add(m, "parent_node", x->parent >= 0 ? json_object_new_string(nid(r, x->parent)) : NULL);
        json_object_object_add(m, "real_node_id", json_object_new_string(nid(r, x->real)));
        json_object_object_add(meta, id, m);
    }
    json_object_object_add(e, "outputs", outs);
    struct json_object *st = json_object_new_object();
    json_object_object_add(st, "status_str", json_object_new_string(r->result == 0 ? "success" : "error"));
    json_object_object_add(st, "completed", json_object_new_boolean(r->result == 0));
    json_object_object_add(st, "messages", json_object_get(r->messages));
    json_object_object_add(e, "status", st);
    json_object_object_add(e, "meta", meta);
    return e;
}

static struct json_object *run_prompt(cd_executor *ex, cd_qitem *it)
{
    run r;
    memset(&r, 0, sizeof(r));
    r.ex = ex;
    r.it = it;
    r.prompt_id = it->prompt_id;
    r.prompt = json_object_array_get_idx(it->item, 2);
    r.extra = json_object_array_get_idx(it->item, 3);
    r.outputs = json_object_array_get_idx(it->item, 4);
    struct json_object *cid = json_object_object_get(r.extra, "client_id");
    r.client_id = json_object_is_type(cid, json_type_string) ? json_object_get_string(cid) : NULL;
    r.messages = json_object_new_array();
    r.executed = json_object_new_array();
    r.pnodes = json_object_new_object();
    r.index = json_object_new_object();
    r.prompt_text = cd_json_to_string(r.prompt, (size_t)1 << 30);
    pthread_mutex_init(&r.pmu, NULL);
    pthread_mutex_init(&r.amu, NULL);
    pthread_cond_init(&r.acv, NULL);
    atomic_store(&ex->interrupt, 0);
    ex->run = &r;

    add_message(&r, "execution_start", pid_data(&r), 0);

    json_object_object_foreach(r.prompt, id, node)
        add_node(&r, id, node, 0, -1);   /* validation vouched for each class */
    for (size_t i = 0; i < r.n; i++)
        compute_is_changed(&r, &r.nodes[i]);
    const char **keys = calloc(r.n + 1, sizeof(*keys));
    for (size_t i = 0; i < r.n; i++) {
        r.nodes[i].key = signature(&r, (long)i);
        if (keys)
            keys[i] = r.nodes[i].key;
    }
    ex->cache.gen++;
    if (ex->cfg && ex->cfg->cache_none)
        cd_cache_clear(&ex->cache);
    else if (ex->cfg && ex->cfg->cache_lru > 0)
        ;  /* trimmed after the prompt */
    else if (keys)
        cd_cache_keep_only(&ex->cache, keys, r.n);
    free(keys);

    struct json_object *cached = pid_data(&r);
    struct json_object *cl = json_object_new_array();
    for (size_t i = 0; i < r.n; i++)
        if (available(&r, (long)i))
            json_object_array_add(cl, json_object_new_string(r.nodes[i].id));
    json_object_object_add(cached, "nodes", cl);
    /* keys in the order nodes, prompt_id, timestamp */
    struct json_object *cd = json_object_new_object();
    json_object_object_add(cd, "nodes", json_object_get(cl));
    json_object_object_add(cd, "prompt_id", json_object_new_string(r.prompt_id));
    json_object_put(cached);
    add_message(&r, "execution_cached", cd, 0);

    size_t no = json_object_array_length(r.outputs);
    for (size_t k = 0; k < no; k++) {
        long i = xfind(&r, json_object_get_string(json_object_array_get_idx(r.outputs, k)));
        if (i >= 0)
            add_pending(&r, i);
    }
    while (r.n_pend > 0 && r.result == 0 && !r.oom) {
        harvest(&r, 0);
        if (r.result != 0 || r.n_pend == 0)
            break;
        long i = pick(&r);
        if (i < 0 && r.n_async > 0) {
            harvest(&r, 1);   /* wait for a running async node */
            continue;
        }
        if (i < 0) {
            /* nothing ready: a dependency cycle */
            xnode *x = &r.nodes[cycle_blame(&r)];
            struct json_object *d = pid_data(&r);
            json_object_object_add(d, "node_id", json_object_new_string(x->id));
            json_object_object_add(d, "node_type", json_object_new_string(x->cls->def->name));
            json_object_object_add(d, "executed", executed_copy(&r));
            json_object_object_add(d, "exception_message", json_object_new_string("Dependency cycle detected"));
            json_object_object_add(d, "exception_type", json_object_new_string("graph.DependencyCycleError"));
            json_object_object_add(d, "traceback", json_object_new_array());
            json_object_object_add(d, "current_inputs", json_object_new_array());
            struct json_object *co = json_object_new_array();
            for (size_t q = 0; q < r.n; q++)
                json_object_array_add(co, json_object_new_string(r.nodes[q].id));
            json_object_object_add(d, "current_outputs", co);
            add_message(&r, "execution_error", d, 0);
            r.result = 1;
            break;
        }
        if (run_node(&r, i) < 0)
            break;
    }
    /* a failed run stops its async nodes and waits for them */
    atomic_store(&r.abort, r.result != 0 || r.oom);
    while (r.n_async > 0)
        harvest(&r, 1);
    atomic_store(&r.abort, 0);
    if (r.result == 0 && !r.oom)
        add_message(&r, "execution_success", pid_data(&r), 0);
    else if (r.oom && r.result == 0)
        r.result = 1;

    struct json_object *entry = history_entry(&r);
    if (ex->cfg && ex->cfg->cache_none)
        cd_cache_clear(&ex->cache);
    else if (ex->cfg && ex->cfg->cache_lru > 0)
        cd_cache_trim_lru(&ex->cache, (size_t)ex->cfg->cache_lru);
    ex->run = NULL;
    run_free(&r);
    return entry;
}

static cd_job_state entry_state(struct json_object *entry)
{
    struct json_object *st = json_object_object_get(entry, "status");
    if (json_object_get_boolean(json_object_object_get(st, "completed")))
        return CD_JOB_COMPLETED;
    struct json_object *msgs = json_object_object_get(st, "messages");
    size_t n = json_object_array_length(msgs);
    for (size_t i = 0; i < n; i++) {
        const char *t = json_object_get_string(json_object_array_get_idx(json_object_array_get_idx(msgs, i), 0));
        if (t && strcmp(t, "execution_interrupted") == 0)
            return CD_JOB_INTERRUPTED;
    }
    return CD_JOB_ERROR;
}

static void *worker_main(void *arg)
{
    cd_executor *ex = arg;
    pthread_mutex_lock(&ex->mu);
    for (;;) {
        while (!ex->stop && ex->q.n == 0 && !ex->flag_free_memory && !ex->flag_unload_models)
            pthread_cond_wait(&ex->cv, &ex->mu);
        if (ex->stop)
            break;
        if (ex->flag_free_memory || ex->flag_unload_models) {
            int fm = ex->flag_free_memory, um = ex->flag_unload_models;
            ex->flag_free_memory = ex->flag_unload_models = 0;
            pthread_mutex_unlock(&ex->mu);
            if (fm)
                cd_cache_clear(&ex->cache);
            if (um) {
                pthread_mutex_lock(&ex->mu);
                cd_unload_fn fn = ex->unload;
                void *user = ex->unload_user;
                pthread_mutex_unlock(&ex->mu);
                if (fn)
                    fn(user);
                else
                    cd_log(ex->log, COMFY_LOG_DEBUG, "executor: unload_models: no model holder registered");
            }
            malloc_trim(0);
            pthread_mutex_lock(&ex->mu);
            continue;
        }
        cd_qitem *it = cd_queue_pop(&ex->q);
        ex->running = it;
        ex->running_started_ms = now_ms();
        emit_status_locked(ex);
        pthread_mutex_unlock(&ex->mu);

        if (cd_qitem_parse(it) < 0) {
            cd_log(ex->log, COMFY_LOG_ERROR, "executor: prompt %s cannot be parsed back; dropped",
                   it->prompt_id);
            pthread_mutex_lock(&ex->mu);
            ex->running = NULL;
            emit_status_locked(ex);
            pthread_mutex_unlock(&ex->mu);
            cd_qitem_free(it);
            pthread_mutex_lock(&ex->mu);
            continue;
        }
        struct json_object *entry = run_prompt(ex, it);
        struct json_object *cid = json_object_object_get(json_object_array_get_idx(it->item, 3), "client_id");
        char *client = json_object_is_type(cid, json_type_string) ? strdup(json_object_get_string(cid)) : NULL;

        cd_job_state st = entry ? entry_state(entry) : CD_JOB_ERROR;
        struct json_object *sum = entry ? job_summary(json_object_object_get(entry, "prompt"), entry, st) : NULL;
        char *text = entry ? cd_json_to_string(entry, (size_t)1 << 30) : NULL;
        char *stext = sum ? cd_json_to_string(sum, (size_t)1 << 24) : NULL;
        json_object_put(entry);
        json_object_put(sum);
        pthread_mutex_lock(&ex->mu);
        cd_hjob job = {.state = st, .created_ms = it->created_ms,
                       .started_ms = ex->running_started_ms, .finished_ms = now_ms(), .seq = it->seq};
        if (!text || !stext ||
            cd_history_put(&ex->hist, it->prompt_id, &job, stext, text, strlen(text)) < 0)
            cd_log(ex->log, COMFY_LOG_ERROR, "executor: out of memory storing history for %s",
                   it->prompt_id);
        free(text);
        free(stext);
        ex->running = NULL;
        emit_status_locked(ex);
        pthread_mutex_unlock(&ex->mu);
        if (client) {
            struct json_object *d = json_object_new_object();
            json_object_object_add(d, "node", NULL);
            json_object_object_add(d, "prompt_id", json_object_new_string(it->prompt_id));
            emit(ex, client, "executing", d);
            free(client);
        }
        cd_qitem_free(it);
        pthread_mutex_lock(&ex->mu);
        if (ex->q.n == 0) {
            /* Idle: hand the heap that the run freed back to the system,
             * so a burst of prompts does not leave the RSS at its peak. */
            pthread_mutex_unlock(&ex->mu);
            malloc_trim(0);
            pthread_mutex_lock(&ex->mu);
        }
    }
    pthread_mutex_unlock(&ex->mu);
    return NULL;
}
