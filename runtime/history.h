/*
 * history.h — finished prompts in insertion order (spec/api.md §3.4, §1.15).
 *
 * An entry is kept per prompt_id; re-inserting an id replaces the entry in
 * its original position (ComfyUI's dict behaviour).  Before an insert, when
 * more than `max` entries are held, the oldest goes.
 *
 * Memory.  History is the one thing a busy server keeps for long (ComfyUI
 * keeps 10000 entries, and the frontend puts its whole workflow, often
 * 20-100 kB of JSON, into each prompt's extra_data).  So the store keeps
 * it apart from the heap and small:
 *   - each entry's variable bytes (prompt_id, the jobs summary, the entry
 *     text) are one record packed into large blocks mapped for the store
 *     alone (hstore_* in history.c), so entries never pin heap pages among
 *     the worker's short-lived allocations and a cleared or evicted
 *     history goes straight back to the system;
 *   - the jobs summary and the entry text are raw-deflated, as one
 *     stream, against a preset dictionary of ComfyUI's history keys (a
 *     700-byte entry and its summary keep ~200 bytes) and inflated when
 *     read (GET /history, /api/jobs);
 *   - blocks whose records were all removed are unmapped at once, and the
 *     store compacts itself when less than half of its mapped bytes are
 *     live, so mapped memory stays below twice the live bytes plus a block.
 * cd_hentry_id's pointer is valid until the next put, delete or clear.
 *
 * Not thread-safe: the executor guards it with its mutex.
 */
#ifndef CD_HISTORY_H
#define CD_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* What the jobs API needs beyond the ComfyUI entry. */
typedef enum cd_job_state {
    CD_JOB_PENDING = 0,
    CD_JOB_RUNNING = 1,
    CD_JOB_COMPLETED = 2,
    CD_JOB_ERROR = 3,
    CD_JOB_INTERRUPTED = 4
} cd_job_state;

/* The fixed part of an entry, given to cd_history_put. */
typedef struct cd_hjob {
    cd_job_state state;
    long long created_ms, started_ms, finished_ms;
    long long seq;                /* submission order */
} cd_hjob;

struct cd_hblock;

/* One entry: its fixed fields, and where its record lies in the store.
 * Entries are values in the history's array; pointers to them are valid
 * until the next put, delete or clear. */
typedef struct cd_hentry {
    cd_hjob job;
    struct cd_hblock *blk;        /* the block holding the record (the store's) */
    size_t off;                   /* record start within the block            */
    uint64_t id_hash;             /* FNV-1a of prompt_id: lookups compare it first */
    uint32_t id_len;              /* stored raw, NUL-terminated               */
    uint32_t zlen;                /* deflated bytes that follow it            */
    uint32_t sum_len, text_len;   /* inflated lengths of summary and text     */
} cd_hentry;

typedef struct cd_history {
    cd_hentry *v;     /* oldest first; owned                                 */
    size_t n, cap;
    long max;         /* entries kept beyond this are dropped (ComfyUI: 10000) */
    /* The record store (history.c): a list of mapped blocks, the last one
     * taking appends; byte counts for the compaction rule. */
    struct cd_hblock *blocks, *tail;
    size_t mapped, live;
    void *zdef;       /* deflate state, made at the first put (~50 kB); owned */
    void *zinf;       /* inflate state, made at the first read (~11 kB); owned */
} cd_history;

void cd_history_init(cd_history *h, long max);
/* Frees every entry, the store and the deflate state. */
void cd_history_free(cd_history *h);
/* Removes every entry and unmaps the store. */
void cd_history_clear(cd_history *h);

/* Inserts or replaces the entry of `prompt_id`: `summary` is the jobs API
 * summary {"priority", "outputs_count", "preview_output",
 * "execution_error"} and `text` the ComfyUI entry {"prompt", "outputs",
 * "status", "meta"}, both JSON text, copied.  0, or -1 when memory runs
 * out or the text is over 2 GiB (the history is then unchanged). */
int cd_history_put(cd_history *h, const char *prompt_id, const cd_hjob *job,
                   const char *summary, const char *text, size_t text_len);
/* Borrowed, or NULL. */
const cd_hentry *cd_history_get(const cd_history *h, const char *prompt_id);
/* Removes one id; 1 if it was there. */
int cd_history_delete(cd_history *h, const char *prompt_id);

/* An entry's prompt_id (NUL-terminated, borrowed). */
const char *cd_hentry_id(const cd_hentry *e);

/* Readers.  They take the history itself, not const: they share its
 * inflate state (so they need the same lock as the writers). */

/* Append the entry's jobs summary / ComfyUI text (inflated) to `out`.
 * 0 or -1. */
int cd_history_summary(cd_history *h, const cd_hentry *e, cd_buf *out);
int cd_history_text(cd_history *h, const cd_hentry *e, cd_buf *out);

/* GET /history selection (§1.15): writes {id: entry, ...} to `out`.
 * max_items < 0: not given; offset < 0: the default.  0 or -1. */
int cd_history_write(cd_history *h, long max_items, long offset, cd_buf *out);
/* Writes {id: entry} for one entry.  0 or -1. */
int cd_history_write_entry(cd_history *h, const cd_hentry *e, cd_buf *out);

/* Bytes the store maps for records, and of those the live ones (for
 * tests and benchmarks). */
size_t cd_history_mapped_bytes(const cd_history *h);
size_t cd_history_live_bytes(const cd_history *h);

#endif
