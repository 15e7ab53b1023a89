/*
 * harness.h — drives a real cd_runtime (registry, executor, worker thread)
 * without the network layer: requests go through the runtime.h functions,
 * events are collected from the sink.  Header-only, for tests/exec.
 */
#ifndef EXEC_HARNESS_H
#define EXEC_HARNESS_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "pyjson.h"
#include "runtime.h"

typedef struct hev {
    char *client;   /* NULL: broadcast */
    char *json;
} hev;

typedef struct harness {
    cd_config cfg;
    cd_runtime *rt;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hev *ev;
    size_t n, cap;
    char dir[256];
} harness;

static int g_fail;
#define CHECK(c, ...)                                                          \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #c); \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
            g_fail = 1;                                                        \
        }                                                                      \
    } while (0)

static void h_sink(void *user, cd_event *e)
{
    harness *h = user;
    pthread_mutex_lock(&h->mu);
    if (e->kind == CD_EVENT_JSON) {
        if (h->n == h->cap) {
            h->cap = h->cap ? h->cap * 2 : 256;
            h->ev = realloc(h->ev, h->cap * sizeof(*h->ev));
        }
        h->ev[h->n].client = e->client_id ? strdup(e->client_id) : NULL;
        h->ev[h->n].json = strdup(e->json);
        h->n++;
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    cd_event_free(e);
}

/* Starts a runtime with the testing and exectest packs; extra flags
 * (NULL-terminated) are appended. */
static int h_start(harness *h, ...)
{
    memset(h, 0, sizeof(*h));
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    snprintf(h->dir, sizeof(h->dir), "/tmp/exec-test-XXXXXX");
    if (!mkdtemp(h->dir))
        return -1;
    char *argv[32];
    int argc = 0;
    argv[argc++] = "comfyd";
    argv[argc++] = "--nodepack-dir";
    argv[argc++] = TESTING_PACK_DIR;
    argv[argc++] = "--nodepack-dir";
    argv[argc++] = EXECTEST_PACK_DIR;
    argv[argc++] = "--base-directory";
    argv[argc++] = h->dir;
    va_list ap;
    va_start(ap, h);
    for (char *a; argc < 30 && (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    if (cd_config_parse(&h->cfg, argc, argv) != 0)
        return -1;
    h->rt = cd_runtime_new(&h->cfg);
    if (!h->rt)
        return -1;
    cd_runtime_set_event_sink(h->rt, h_sink, h);
    return 0;
}

static void h_stop(harness *h)
{
    cd_runtime_free(h->rt);
    cd_config_free(&h->cfg);
    for (size_t i = 0; i < h->n; i++) {
        free(h->ev[i].client);
        free(h->ev[i].json);
    }
    free(h->ev);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", h->dir);
}

/* POSTs a JSON body built with printf; returns the status and the parsed
 * body in *out (caller puts; NULL when the body is empty). */
static int h_req(harness *h, int (*fn)(cd_runtime *, const char *, size_t, cd_buf *),
                 struct json_object **out, const char *fmt, ...)
{
    char body[1 << 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    cd_buf b;
    cd_buf_init(&b, 1 << 26);
    int st = fn(h->rt, body, strlen(body), &b);
    if (out)
        *out = b.len ? json_tokener_parse(b.data) : NULL;
    cd_buf_free(&b);
    return st;
}

static __attribute__((unused)) struct json_object *h_get(harness *h, int (*fn)(cd_runtime *, cd_buf *))
{
    cd_buf b;
    cd_buf_init(&b, 1 << 26);
    fn(h->rt, &b);
    struct json_object *o = json_tokener_parse(b.data ? b.data : "null");
    cd_buf_free(&b);
    return o;
}

static __attribute__((unused)) const char *jstr(struct json_object *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    struct json_object *cur = o;
    for (char *sv, *t = strtok_r(buf, ".", &sv); t && cur; t = strtok_r(NULL, ".", &sv)) {
        if (json_object_is_type(cur, json_type_array))
            cur = json_object_array_get_idx(cur, (size_t)strtol(t, NULL, 10));
        else
            cur = json_object_object_get(cur, t);
    }
    return cur ? json_object_get_string(cur) : NULL;
}

static __attribute__((unused)) struct json_object *jget(struct json_object *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    struct json_object *cur = o;
    for (char *sv, *t = strtok_r(buf, ".", &sv); t && cur; t = strtok_r(NULL, ".", &sv)) {
        if (json_object_is_type(cur, json_type_array))
            cur = json_object_array_get_idx(cur, (size_t)strtol(t, NULL, 10));
        else
            cur = json_object_object_get(cur, t);
    }
    return cur;
}

/* Queues a prompt (JSON text of the graph) for client "c1"; returns the
 * prompt_id (static buffer) or NULL. */
static __attribute__((unused)) const char *h_queue(harness *h, const char *graph, const char *extra)
{
    static char id[64];
    struct json_object *r = NULL;
    int st = h_req(h, cd_runtime_post_prompt, &r, "{\"prompt\": %s, \"client_id\": \"c1\"%s%s}",
                   graph, extra ? ", " : "", extra ? extra : "");
    const char *p = r ? jstr(r, "prompt_id") : NULL;
    if (st != 200 || !p) {
        fprintf(stderr, "queue failed (%d): %s\n", st, r ? json_object_to_json_string(r) : "");
        json_object_put(r);
        return NULL;
    }
    snprintf(id, sizeof(id), "%s", p);
    json_object_put(r);
    return id;
}

/* Index of the event `executing` {node: null, prompt_id: id}; waits up to
 * 20 s.  -1 on timeout. */
static __attribute__((unused)) long h_wait_done(harness *h, const char *id)
{
    char want[200];
    snprintf(want, sizeof(want), "{\"type\": \"executing\", \"data\": {\"node\": null, \"prompt_id\": \"%s\"}}", id);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 20;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        for (size_t i = 0; i < h->n; i++)
            if (strcmp(h->ev[i].json, want) == 0) {
                pthread_mutex_unlock(&h->mu);
                return (long)i;
            }
        if (pthread_cond_timedwait(&h->cv, &h->mu, &dl) != 0) {
            pthread_mutex_unlock(&h->mu);
            fprintf(stderr, "timeout waiting for %s\n", id);
            return -1;
        }
    }
}

/* Event types (with the node when present) for prompt `id`, space
 * separated, e.g. "execution_start execution_cached executing:1 ...". */
static __attribute__((unused)) void h_trace(harness *h, const char *id, char *out, size_t cap)
{
    out[0] = 0;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++) {
        struct json_object *o = json_tokener_parse(h->ev[i].json);
        const char *t = jstr(o, "type");
        const char *pid = jstr(o, "data.prompt_id");
        if (t && strncmp(t, "progress", 8) != 0 &&
            (strcmp(t, "status") == 0 || (pid && strcmp(pid, id) == 0))) {
            char item[160];
            const char *node = jstr(o, "data.node");
            if (strcmp(t, "status") == 0)
                snprintf(item, sizeof(item), "status%s", jstr(o, "data.status.exec_info.queue_remaining"));
            else if (strcmp(t, "executing") == 0 || strcmp(t, "executed") == 0)
                snprintf(item, sizeof(item), "%s:%s", t, node ? node : "null");
            else if (strcmp(t, "execution_cached") == 0)
                snprintf(item, sizeof(item), "%s:%s", t, json_object_to_json_string_ext(jget(o, "data.nodes"), JSON_C_TO_STRING_PLAIN));
            else
                snprintf(item, sizeof(item), "%s", t);
            if (out[0])
                strncat(out, " ", cap - strlen(out) - 1);
            strncat(out, item, cap - strlen(out) - 1);
        }
        json_object_put(o);
    }
    pthread_mutex_unlock(&h->mu);
}

static __attribute__((unused)) void h_clear_events(harness *h)
{
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++) {
        free(h->ev[i].client);
        free(h->ev[i].json);
    }
    h->n = 0;
    pthread_mutex_unlock(&h->mu);
}

#endif
