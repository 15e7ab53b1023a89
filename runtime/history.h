/*
 * history.h — finished prompts in insertion order (spec/api.md §3.4, §1.15).
 *
 * An entry is kept per prompt_id; re-inserting an id replaces the entry in
 * its original position (ComfyUI's dict behaviour).  Before an insert, when
 * more than `max` entries are held, the oldest goes.  Not thread-safe: the
 * executor guards it with its mutex.
 */
#ifndef CD_HISTORY_H
#define CD_HISTORY_H

#include <json-c/json.h>
#include <stddef.h>

#include "buf.h"

/* What the jobs API needs beyond the ComfyUI entry. */
typedef enum cd_job_state {
    CD_JOB_PENDING = 0,
    CD_JOB_RUNNING = 1,
    CD_JOB_COMPLETED = 2,
    CD_JOB_ERROR = 3,
    CD_JOB_INTERRUPTED = 4
} cd_job_state;

typedef struct cd_hentry {
    char *prompt_id;              /* owned */
    /* The entry {"prompt", "outputs", "status", "meta"} as JSON text
     * (kept as text: a fraction of the memory of a json-c tree). */
    char *text;                   /* owned */
    size_t len;
    /* The jobs API summary {"priority", "outputs_count", "preview_output",
     * "execution_error"} as JSON text; owned. */
    char *summary;
    cd_job_state state;
    long long created_ms, started_ms, finished_ms;
    long long seq;                /* submission order */
} cd_hentry;

typedef struct cd_history {
    cd_hentry **v;    /* oldest first; owned */
    size_t n, cap;
    long max;         /* entries kept beyond this are dropped (ComfyUI: 10000) */
} cd_history;

void cd_history_init(cd_history *h, long max);
void cd_history_free(cd_history *h);
void cd_history_clear(cd_history *h);

/* Inserts or replaces; takes `e` (also on failure, when it is freed).
 * 0 or -1. */
int cd_history_put(cd_history *h, cd_hentry *e);
/* Borrowed, or NULL. */
cd_hentry *cd_history_get(const cd_history *h, const char *prompt_id);
/* Removes one id; 1 if it was there. */
int cd_history_delete(cd_history *h, const char *prompt_id);

void cd_hentry_free(cd_hentry *e);

/* GET /history selection (§1.15): writes {id: entry, ...} to `out`.
 * max_items < 0: not given; offset < 0: the default.  0 or -1. */
int cd_history_write(const cd_history *h, long max_items, long offset, cd_buf *out);
/* Writes {id: entry} for one entry.  0 or -1. */
int cd_hentry_write(const cd_hentry *e, cd_buf *out);

#endif
