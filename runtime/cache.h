/*
 * cache.h — the output cache: node results keyed by input signature
 * (spec/api.md §5.4), with ComfyUI's classic, LRU and none policies.
 * Executor thread only.
 */
#ifndef CD_CACHE_H
#define CD_CACHE_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "comfy/comfy.h"

typedef struct cd_centry {
    char *key;               /* the signature text; owned            */
    uint64_t hash;
    comfy_value **slots;     /* n_slots LIST values; owned refs       */
    uint32_t n_slots;
    struct json_object *ui;  /* merged UI dict or NULL; owned         */
    long long gen;           /* generation of last use (LRU)          */
} cd_centry;

typedef struct cd_cache {
    cd_centry **v;
    size_t n, cap;
    long long gen;
} cd_cache;

void cd_cache_init(cd_cache *c);
void cd_cache_free(cd_cache *c);
void cd_cache_clear(cd_cache *c);
/* Borrowed entry or NULL; marks it used in the current generation. */
cd_centry *cd_cache_get(cd_cache *c, const char *key);
/* Stores (replacing); takes slots (array and refs) and ui.  0 or -1. */
int cd_cache_put(cd_cache *c, const char *key, comfy_value **slots,
                 uint32_t n_slots, struct json_object *ui);
/* Drops one entry (releasing its values); 1 if it was there. */
int cd_cache_remove(cd_cache *c, const char *key);
/* Classic policy: drops every entry whose key is not in keys[0..n). */
void cd_cache_keep_only(cd_cache *c, const char *const *keys, size_t n);
/* LRU policy: drops least recently used entries from older generations
 * until at most max remain. */
void cd_cache_trim_lru(cd_cache *c, size_t max);

#endif
