/*
 * history.c — the finished-prompt store (see history.h).
 */
#include "history.h"

#include <stdlib.h>
#include <string.h>

#include "pyjson.h"

void cd_history_init(cd_history *h, long max)
{
    memset(h, 0, sizeof(*h));
    h->max = max > 0 ? max : 10000;
}

void cd_hentry_free(cd_hentry *e)
{
    if (!e)
        return;
    free(e->prompt_id);
    free(e->text);
    free(e->summary);
    free(e);
}

void cd_history_clear(cd_history *h)
{
    for (size_t i = 0; i < h->n; i++)
        cd_hentry_free(h->v[i]);
    h->n = 0;
}

void cd_history_free(cd_history *h)
{
    cd_history_clear(h);
    free(h->v);
    h->v = NULL;
    h->cap = 0;
}

static long find(const cd_history *h, const char *id)
{
    for (size_t i = h->n; i-- > 0;)
        if (strcmp(h->v[i]->prompt_id, id) == 0)
            return (long)i;
    return -1;
}

cd_hentry *cd_history_get(const cd_history *h, const char *prompt_id)
{
    long i = find(h, prompt_id);
    return i < 0 ? NULL : h->v[i];
}

static void remove_at(cd_history *h, size_t i)
{
    cd_hentry_free(h->v[i]);
    memmove(h->v + i, h->v + i + 1, (h->n - i - 1) * sizeof(*h->v));
    h->n--;
}

int cd_history_delete(cd_history *h, const char *prompt_id)
{
    long i = find(h, prompt_id);
    if (i < 0)
        return 0;
    remove_at(h, (size_t)i);
    return 1;
}

int cd_history_put(cd_history *h, cd_hentry *e)
{
    long i = find(h, e->prompt_id);
    if (i >= 0) {
        cd_hentry_free(h->v[i]);
        h->v[i] = e;
        return 0;
    }
    while (h->n > 0 && (long)h->n > h->max)
        remove_at(h, 0);
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        cd_hentry **nv = realloc(h->v, nc * sizeof(*nv));
        if (!nv) {
            cd_hentry_free(e);
            return -1;
        }
        h->v = nv;
        h->cap = nc;
    }
    h->v[h->n++] = e;
    return 0;
}

int cd_hentry_write(const cd_hentry *e, cd_buf *out)
{
    if (cd_buf_putc(out, '{') < 0 || cd_json_dump_string(out, e->prompt_id, strlen(e->prompt_id)) < 0 ||
        cd_buf_puts(out, ": ") < 0 || cd_buf_append(out, e->text, e->len) < 0)
        return -1;
    return cd_buf_putc(out, '}');
}

int cd_history_write(const cd_history *h, long max_items, long offset, cd_buf *out)
{
    if (offset < 0 && max_items >= 0)
        offset = (long)h->n - max_items;
    if (cd_buf_putc(out, '{') < 0)
        return -1;
    long count = 0;
    for (size_t i = 0; i < h->n; i++) {
        if ((long)i < offset)
            continue;
        const cd_hentry *e = h->v[i];
        if ((count && cd_buf_puts(out, ", ") < 0) ||
            cd_json_dump_string(out, e->prompt_id, strlen(e->prompt_id)) < 0 ||
            cd_buf_puts(out, ": ") < 0 || cd_buf_append(out, e->text, e->len) < 0)
            return -1;
        count++;
        if (max_items >= 0 && count >= max_items)
            break;
    }
    return cd_buf_putc(out, '}');
}
