/*
 * cache.c — signature-keyed output cache (see cache.h).
 */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include "value.h"

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

void cd_cache_init(cd_cache *c) { memset(c, 0, sizeof(*c)); }

static void entry_free(cd_centry *e)
{
    if (!e)
        return;
    for (uint32_t i = 0; i < e->n_slots; i++)
        cd_value_release(e->slots[i]);
    free(e->slots);
    json_object_put(e->ui);
    free(e->key);
    free(e);
}

void cd_cache_clear(cd_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        entry_free(c->v[i]);
    c->n = 0;
}

void cd_cache_free(cd_cache *c)
{
    cd_cache_clear(c);
    free(c->v);
    c->v = NULL;
    c->cap = 0;
}

static long find(cd_cache *c, const char *key, uint64_t h)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i]->hash == h && strcmp(c->v[i]->key, key) == 0)
            return (long)i;
    return -1;
}

cd_centry *cd_cache_get(cd_cache *c, const char *key)
{
    if (!key)
        return NULL;
    long i = find(c, key, fnv(key));
    if (i < 0)
        return NULL;
    c->v[i]->gen = c->gen;
    return c->v[i];
}

int cd_cache_put(cd_cache *c, const char *key, comfy_value **slots, uint32_t n_slots,
                 struct json_object *ui)
{
    cd_centry *e = calloc(1, sizeof(*e));
    if (!e || !(e->key = strdup(key))) {
        free(e);
        for (uint32_t i = 0; i < n_slots; i++)
            cd_value_release(slots[i]);
        free(slots);
        json_object_put(ui);
        return -1;
    }
    e->hash = fnv(key);
    e->slots = slots;
    e->n_slots = n_slots;
    e->ui = ui;
    e->gen = c->gen;
    long i = find(c, key, e->hash);
    if (i >= 0) {
        entry_free(c->v[i]);
        c->v[i] = e;
        return 0;
    }
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        cd_centry **nv = realloc(c->v, nc * sizeof(*nv));
        if (!nv) {
            entry_free(e);
            return -1;
        }
        c->v = nv;
        c->cap = nc;
    }
    c->v[c->n++] = e;
    return 0;
}

static void remove_at(cd_cache *c, size_t i)
{
    entry_free(c->v[i]);
    c->v[i] = c->v[--c->n];
}

int cd_cache_remove(cd_cache *c, const char *key)
{
    long i = key ? find(c, key, fnv(key)) : -1;
    if (i < 0)
        return 0;
    remove_at(c, (size_t)i);
    return 1;
}

void cd_cache_keep_only(cd_cache *c, const char *const *keys, size_t n)
{
    for (size_t i = c->n; i-- > 0;) {
        int keep = 0;
        for (size_t k = 0; k < n && !keep; k++)
            keep = keys[k] && c->v[i]->hash == fnv(keys[k]) && strcmp(c->v[i]->key, keys[k]) == 0;
        if (!keep)
            remove_at(c, i);
    }
}

void cd_cache_trim_lru(cd_cache *c, size_t max)
{
    while (c->n > max) {
        size_t oldest = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->v[i]->gen < c->v[oldest]->gen)
                oldest = i;
        if (c->v[oldest]->gen >= c->gen)
            break;   /* everything left was used by the current prompt */
        remove_at(c, oldest);
    }
}
