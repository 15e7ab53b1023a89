/*
 * runtime.h — what the network layer (api/) may ask of the runtime.
 *
 * The runtime owns the node registry (loaded packs), the folders, the queue,
 * the history and the executor thread.  api/ owns every socket.  This header
 * is the whole contract between them: api/ never includes another runtime
 * header except buf.h, pyjson.h, config.h and paths.h.
 *
 * Request functions take the request body as bytes (already size-checked by
 * api/), write a complete response body into `out` and return the HTTP
 * status.  Unless stated otherwise the body is JSON text in Python's
 * json.dumps form (pyjson.h) and the content type is application/json.
 * Status 200 with out->len == 0 means "200, empty body" (spec/api.md §0.3).
 * They are thread-safe: api/ calls them from the network thread while the
 * executor thread runs.  None of them blocks on a running prompt.
 *
 * Events (WebSocket messages) go the other way: the executor produces them
 * on its thread and hands each to the sink that api/ installed; the sink
 * must not block (api/ queues it and wakes its loop with
 * lws_cancel_service()).
 */
#ifndef CD_RUNTIME_H
#define CD_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "paths.h"

typedef struct cd_runtime cd_runtime;

/* ---- lifetime ------------------------------------------------------------ */

/* Creates the runtime from a parsed configuration: makes the folders, loads
 * every node pack (logging each with its node count and load time, skipping
 * the broken ones with the reason), starts the executor thread.  `cfg` must
 * outlive the runtime.  Returns NULL only on a fatal error (folders that
 * cannot be created, out of memory), logged. */
cd_runtime *cd_runtime_new(const cd_config *cfg);

/* Stops the executor (interrupting a running prompt), unloads the packs and
 * frees everything.  NULL is fine. */
void cd_runtime_free(cd_runtime *rt);

/* The node registry (append-only: a rescan adds packs, see registry.h),
 * for main's --list-node-classes and for tests.  Borrowed. */
struct cd_registry;
const struct cd_registry *cd_runtime_registry(const cd_runtime *rt);

/* Folder layout in force (input, output, temp, user, model folders). */
const cd_paths *cd_runtime_paths(const cd_runtime *rt);

/* ---- events -------------------------------------------------------------- */

typedef enum cd_event_kind {
    CD_EVENT_JSON = 0,    /* a text frame: {"type": ..., "data": ...}       */
    CD_EVENT_PREVIEW = 1  /* a binary preview image, raw RGB to be encoded  */
} cd_event_kind;

typedef struct cd_event {
    cd_event_kind kind;
    char *client_id;   /* owned; NULL: send to every client (broadcast)    */
    char *json;        /* owned; CD_EVENT_JSON: the whole message text      */
    /* CD_EVENT_PREVIEW: an RGB8 image [h][w][3] (owned) and the metadata
     * that the type-4 frame carries when the client asked for it.        */
    unsigned char *rgb;
    int width, height;
    char *node_id, *prompt_id, *display_node, *parent_node, *real_node_id;
} cd_event;

/* Frees an event and everything it owns.  NULL is fine. */
void cd_event_free(cd_event *ev);

/* Receives each event; takes ownership.  Called on the executor thread. */
typedef void (*cd_event_sink)(void *user, cd_event *ev);

/* Installs the sink (NULL: events are dropped).  Set once before serving. */
void cd_runtime_set_event_sink(cd_runtime *rt, cd_event_sink sink, void *user);

/* Pending + running items, for the `status` message a new socket gets. */
int cd_runtime_queue_remaining(cd_runtime *rt);

/* The JSON text of a `status` message ({"type": "status", "data":
 * {"status": {"exec_info": {"queue_remaining": N}}, "sid": SID}}) with
 * the sid included when `sid` is non-NULL.  0 or -1. */
int cd_runtime_status_message(cd_runtime *rt, const char *sid, cd_buf *out);

/* ---- prompts, queue, history (spec/api.md §1.12-1.18, §3-5) --------------- */

int cd_runtime_get_prompt(cd_runtime *rt, cd_buf *out);                /* GET /prompt  */
int cd_runtime_post_prompt(cd_runtime *rt, const char *body, size_t len,
                           cd_buf *out);                               /* POST /prompt */
int cd_runtime_get_queue(cd_runtime *rt, cd_buf *out);                 /* GET /queue   */
int cd_runtime_post_queue(cd_runtime *rt, const char *body, size_t len,
                          cd_buf *out);                                /* POST /queue  */
/* max_items < 0: all; offset < 0: the default. */
int cd_runtime_get_history(cd_runtime *rt, long max_items, long offset,
                           cd_buf *out);                               /* GET /history */
int cd_runtime_get_history_item(cd_runtime *rt, const char *prompt_id,
                                cd_buf *out);                          /* GET /history/{id} */
int cd_runtime_post_history(cd_runtime *rt, const char *body, size_t len,
                            cd_buf *out);                              /* POST /history */
int cd_runtime_interrupt(cd_runtime *rt, const char *body, size_t len,
                         cd_buf *out);                                 /* POST /interrupt */
int cd_runtime_free_memory(cd_runtime *rt, const char *body, size_t len,
                           cd_buf *out);                               /* POST /free   */
int cd_runtime_get_jobs(cd_runtime *rt, const char *query, cd_buf *out); /* GET /api/jobs */
int cd_runtime_get_job(cd_runtime *rt, const char *id, cd_buf *out);   /* GET /api/jobs/{id} */

/* ---- catalogue ------------------------------------------------------------ */

/* GET /object_info (cls == NULL) and /object_info/{cls} ({} when unknown). */
int cd_runtime_object_info(cd_runtime *rt, const char *cls, cd_buf *out);
/* GET /extensions: the URLs of every pack's .js files. */
int cd_runtime_extensions(cd_runtime *rt, cd_buf *out);
/* The web directory of pack `name` for /extensions/<name>/..., or NULL. */
const char *cd_runtime_extension_dir(cd_runtime *rt, const char *name);
/* GET /embeddings. */
int cd_runtime_embeddings(cd_runtime *rt, cd_buf *out);
/* GET /models (folder == NULL) and /models/{folder} (404 when unknown). */
int cd_runtime_models(cd_runtime *rt, const char *folder, cd_buf *out);
/* GET /system_stats. */
int cd_runtime_system_stats(cd_runtime *rt, cd_buf *out);
/* GET /internal/logs (raw = 0) and /internal/logs/raw (raw = 1). */
int cd_runtime_logs(cd_runtime *rt, int raw, cd_buf *out);
/* GET /internal/folder_paths. */
int cd_runtime_folder_paths(cd_runtime *rt, cd_buf *out);

/* ---- additions (append-only) ---------------------------------------------- */

#include "log.h"

/* As cd_runtime_new, logging to `log` (borrowed; must outlive the runtime)
 * instead of a logger of its own.  NULL `log`: the runtime makes one. */
cd_runtime *cd_runtime_new_log(const cd_config *cfg, cd_logger *log);

/* The runtime's logger (borrowed). */
cd_logger *cd_runtime_logger(const cd_runtime *rt);

/* The directory of the packs shipped with comfyd: <dir of the running
 * executable>/nodepacks when it exists (a build tree), else the install
 * directory.  New string; caller frees. */
char *cd_runtime_builtin_pack_dir(void);

/* Rescans the pack directories (what comfyd does on SIGHUP): loads the
 * packs that are new since start-up or the last rescan, registering their
 * classes after the existing ones, and logs what it added; loaded packs
 * stay, a removed or replaced one is logged ("restart to unload/replace");
 * a broken new pack is skipped with the reason, as at start.  Pack init
 * runs on the calling thread, which is the network thread (api/ calls
 * this from its loop after a SIGHUP); requests and prompts go on
 * meanwhile.  Returns the number of packs added.
 *
 * cd_runtime_new/_new_log block SIGHUP in the calling thread (the threads
 * they start inherit it), so that a SIGHUP arriving during start-up stays
 * pending until api/ has installed its handler and unblocked it there. */
int cd_runtime_rescan_packs(cd_runtime *rt);

#endif
