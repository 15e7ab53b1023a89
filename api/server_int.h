/*
 * server_int.h — state shared by server.c (the lws loop and HTTP
 * connections) and ws.c (WebSocket clients and the event queue).  Not a
 * public surface: only files in api/ include it.  Network thread only, except
 * the event queue fields, which the executor thread touches under
 * evq_lock.
 */
#ifndef CD_API_SERVER_INT_H
#define CD_API_SERVER_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "http.h"

#define CD_EVQ_MAX 65536              /* events waiting for the net thread */
#define CD_WS_QUEUE_MAX_MSGS 4096     /* per client send queue, messages   */
#define CD_WS_QUEUE_MAX_BYTES (64u << 20) /* per client send queue, bytes  */
#define CD_WS_RX_MAX (4u << 20)       /* largest client message (§2.1)     */

typedef struct ws_client ws_client;

struct cd_api {
    cd_runtime *rt;
    const cd_config *cfg;
    cd_logger *log;
    const cd_paths *paths;
    uint64_t max_body;
    struct lws_context *ctx;

    /* Events from the executor: a ring of owned cd_event pointers. */
    pthread_mutex_t evq_lock;
    cd_event **evq;
    size_t evq_head, evq_len;
    uint64_t evq_dropped;

    ws_client *clients;               /* every open socket (list)          */
    char *run_client;                 /* owned: client of the running node */
    char *run_node;                   /* owned: its display node id        */
    cd_event *held_preview;           /* owned: a type-1 preview waiting to
                                         follow its `progress` (spec §2.7) */

    /* Requests handled on worker threads (server.c). */
    pthread_mutex_t job_lock;
    pthread_cond_t job_cv;
    struct job *jobs_done;            /* finished, waiting for the loop    */
    int jobs_running;

    lws_sorted_usec_list_t logs_sul;  /* timer forwarding new log lines    */
    int logs_timer_on;
    char logs_last_t[64];             /* newest log entry already sent     */
};

/* ws.c */
/* The event sink installed in the runtime (any thread). */
void cd_ws_sink(void *user, cd_event *ev);
/* Moves queued events to the clients' send queues (network thread). */
void cd_ws_drain(cd_api *a);
/* The lws callbacks of a WebSocket connection; `slot` is the per-session
 * pointer where the client lives. */
int cd_ws_established(cd_api *a, struct lws *wsi, ws_client **slot);
int cd_ws_receive(cd_api *a, ws_client *c, const void *in, size_t len,
                  int binary, int final);
int cd_ws_writeable(cd_api *a, ws_client *c);
void cd_ws_closed(cd_api *a, ws_client *c);
/* Frees every client record (at shutdown, after the context is gone). */
void cd_ws_free_all(cd_api *a);
/* Sets the logs subscription of client `sid`; 0, or -1 when unknown. */
int cd_ws_subscribe_logs(cd_api *a, const char *sid, int enabled);

#endif
