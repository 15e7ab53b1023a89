/*
 * queue.c — Python heapq semantics for the pending queue (see queue.h).
 */
#include "queue.h"

#include <stdlib.h>
#include <string.h>

#include "pyjson.h"

void cd_queue_init(cd_queue *q, size_t max)
{
    memset(q, 0, sizeof(*q));
    q->max = max;
}

void cd_queue_free(cd_queue *q)
{
    for (size_t i = 0; i < q->n; i++)
        cd_qitem_free(q->v[i]);
    free(q->v);
    q->v = NULL;
    q->n = q->cap = 0;
}

cd_qitem *cd_qitem_new(struct json_object *item, long long seq)
{
    cd_qitem *it = calloc(1, sizeof(*it));
    const char *pid = json_object_get_string(json_object_array_get_idx(item, 1));
    if (!it || !(it->text = cd_json_to_string(item, (size_t)1 << 30)) ||
        !(it->prompt_id = strdup(pid ? pid : ""))) {
        cd_qitem_free(it);
        json_object_put(item);
        return NULL;
    }
    it->len = strlen(it->text);
    struct json_object *num = json_object_array_get_idx(item, 0);
    it->number_is_int = json_object_is_type(num, json_type_int);
    it->inum = json_object_get_int64(num);
    it->number = json_object_get_double(num);
    it->seq = seq;
    json_object_put(item);
    return it;
}

int cd_qitem_parse(cd_qitem *it)
{
    if (it->item)
        return 0;
    char err[64];
    it->item = cd_json_parse(it->text, it->len, 1024, err, sizeof(err));
    return it->item ? 0 : -1;
}

void cd_qitem_free(cd_qitem *it)
{
    if (!it)
        return;
    json_object_put(it->item);
    free(it->text);
    free(it->prompt_id);
    free(it);
}

int cd_qitem_cmp(const cd_qitem *a, const cd_qitem *b)
{
    if (a->number_is_int && b->number_is_int) {
        if (a->inum != b->inum)
            return a->inum < b->inum ? -1 : 1;
    } else if (a->number != b->number) {
        return a->number < b->number ? -1 : 1;
    }
    return strcmp(a->prompt_id, b->prompt_id);
}

static int lt(const cd_qitem *a, const cd_qitem *b) { return cd_qitem_cmp(a, b) < 0; }

/* heapq._siftdown(heap, startpos, pos) */
static void siftdown(cd_qitem **h, size_t start, size_t pos)
{
    cd_qitem *item = h[pos];
    while (pos > start) {
        size_t parent = (pos - 1) >> 1;
        if (lt(item, h[parent])) {
            h[pos] = h[parent];
            pos = parent;
            continue;
        }
        break;
    }
    h[pos] = item;
}

/* heapq._siftup(heap, pos) */
static void siftup(cd_qitem **h, size_t n, size_t pos)
{
    size_t start = pos;
    cd_qitem *item = h[pos];
    size_t child = 2 * pos + 1;
    while (child < n) {
        size_t right = child + 1;
        if (right < n && !lt(h[child], h[right]))
            child = right;
        h[pos] = h[child];
        pos = child;
        child = 2 * pos + 1;
    }
    h[pos] = item;
    siftdown(h, start, pos);
}

int cd_queue_push(cd_queue *q, cd_qitem *it)
{
    if (q->max && q->n >= q->max)
        return -1;
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 16;
        cd_qitem **nv = realloc(q->v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        q->v = nv;
        q->cap = nc;
    }
    q->v[q->n++] = it;
    siftdown(q->v, 0, q->n - 1);
    return 0;
}

cd_qitem *cd_queue_pop(cd_queue *q)
{
    if (q->n == 0)
        return NULL;
    cd_qitem *last = q->v[--q->n];
    if (q->n == 0)
        return last;
    cd_qitem *ret = q->v[0];
    q->v[0] = last;
    siftup(q->v, q->n, 0);
    return ret;
}

cd_qitem *cd_queue_remove_at(cd_queue *q, size_t i)
{
    if (i >= q->n)
        return NULL;
    cd_qitem *ret = q->v[i];
    memmove(q->v + i, q->v + i + 1, (q->n - i - 1) * sizeof(*q->v));
    q->n--;
    for (size_t k = q->n / 2; k-- > 0;)
        siftup(q->v, q->n, k);
    return ret;
}

long cd_queue_find(const cd_queue *q, const char *prompt_id)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->v[i]->prompt_id, prompt_id) == 0)
            return (long)i;
    return -1;
}
