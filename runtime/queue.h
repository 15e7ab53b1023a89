/*
 * queue.h — the pending-prompt queue: a binary min-heap with the exact
 * array behaviour of Python's heapq (spec/api.md §3.2), so GET /queue shows
 * pending items in the same order ComfyUI does.
 *
 * Items compare by number (ints and floats numerically), then by prompt_id
 * as a string.  Not thread-safe: the executor guards it with its mutex.
 */
#ifndef CD_QUEUE_H
#define CD_QUEUE_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cd_qitem {
    /* [number, prompt_id, prompt, extra_data, outputs_to_execute] as JSON
     * text (owned): compact while pending, and immutable, so any thread
     * may read it under the executor's lock. */
    char *text;
    size_t len;
    /* The parsed item, made by the worker when it takes the item (owned;
     * NULL while pending).  Worker thread only. */
    struct json_object *item;
    double number;          /* numeric priority (as compared)             */
    int number_is_int;
    int64_t inum;
    char *prompt_id;        /* owned                                      */
    long long seq;          /* submission order, for the jobs API         */
    long long created_ms;   /* submission time (epoch ms)                 */
} cd_qitem;

typedef struct cd_queue {
    cd_qitem **v;   /* heap array; owned, items owned */
    size_t n, cap;
    size_t max;     /* ceiling on n (0: unbounded)     */
} cd_queue;

void cd_queue_init(cd_queue *q, size_t max);
/* Frees every item (cd_qitem_free). */
void cd_queue_free(cd_queue *q);

/* A new item from `item` (a 5-array), kept as text; the reference to
 * `item` is released in all cases.  NULL on OOM. */
cd_qitem *cd_qitem_new(struct json_object *item, long long seq);
/* Parses it->text into it->item (once).  0 or -1. */
int cd_qitem_parse(cd_qitem *it);
void cd_qitem_free(cd_qitem *it);

/* Pushes (heappush); takes `it`.  0, -1 when the queue is full or OOM
 * (the item is then still the caller's). */
int cd_queue_push(cd_queue *q, cd_qitem *it);
/* Pops the smallest item (heappop); NULL when empty.  Caller owns it. */
cd_qitem *cd_queue_pop(cd_queue *q);
/* Removes index i (list.pop(i) then heapify) and returns it (caller owns). */
cd_qitem *cd_queue_remove_at(cd_queue *q, size_t i);
/* Index of the first item (array order) with this prompt_id, or -1. */
long cd_queue_find(const cd_queue *q, const char *prompt_id);
/* <0, 0, >0 as Python's tuple comparison of the two items' keys. */
int cd_qitem_cmp(const cd_qitem *a, const cd_qitem *b);

#endif
