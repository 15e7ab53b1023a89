/*
 * executor.h — prompt validation, the queue, the worker thread, the output
 * cache and the history (spec/api.md §3-5).
 *
 * The runtime facade (runtime.c) forwards the prompt/queue/history routes of
 * runtime.h here; the functions have the same contracts as there.  The
 * executor owns one worker thread that takes the lowest-numbered pending
 * item, runs it and records it in history, emitting events through the
 * sink.  call.c implements the node-invocation part of the comfy_host table
 * (input, set_output, set_ui, fail, interrupted, progress).
 */
#ifndef CD_EXECUTOR_H
#define CD_EXECUTOR_H

#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "paths.h"
#include "registry.h"
#include "runtime.h"

typedef struct cd_executor cd_executor;

/* Starts the worker thread.  Everything passed must outlive the executor.
 * NULL on failure (logged). */
cd_executor *cd_executor_new(const cd_config *cfg, const cd_registry *reg,
                             const cd_paths *paths, const comfy_host *host,
                             cd_logger *log);

/* Interrupts any running prompt, joins the worker, frees queue, history
 * and cache (releasing every cached value).  NULL is fine. */
void cd_executor_free(cd_executor *ex);

void cd_executor_set_event_sink(cd_executor *ex, cd_event_sink sink, void *user);

/* Fills the node-invocation members of the host table (input .. progress). */
void cd_call_fill_host(comfy_host *h);

int cd_executor_queue_remaining(cd_executor *ex);
int cd_executor_get_prompt(cd_executor *ex, cd_buf *out);
int cd_executor_post_prompt(cd_executor *ex, const char *body, size_t len, cd_buf *out);
int cd_executor_get_queue(cd_executor *ex, cd_buf *out);
int cd_executor_post_queue(cd_executor *ex, const char *body, size_t len, cd_buf *out);
int cd_executor_get_history(cd_executor *ex, long max_items, long offset, cd_buf *out);
int cd_executor_get_history_item(cd_executor *ex, const char *id, cd_buf *out);
int cd_executor_post_history(cd_executor *ex, const char *body, size_t len, cd_buf *out);
int cd_executor_interrupt(cd_executor *ex, const char *body, size_t len, cd_buf *out);
int cd_executor_free_memory(cd_executor *ex, const char *body, size_t len, cd_buf *out);
int cd_executor_get_jobs(cd_executor *ex, const char *query, cd_buf *out);
int cd_executor_get_job(cd_executor *ex, const char *id, cd_buf *out);

/* POST /free {"unload_models": true} (§3.6): `fn(user)` runs on the worker
 * thread between prompts (or at once when idle), after the output cache
 * was emptied if free_memory was asked too.  Packs holding models will be
 * reached through it.  NULL: only logged.  Set before serving. */
typedef void (*cd_unload_fn)(void *user);
void cd_executor_set_unload_hook(cd_executor *ex, cd_unload_fn fn, void *user);

#endif
