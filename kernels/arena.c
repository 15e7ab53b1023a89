/*
 * arena.c — per-graph scratch arena (ck_arena): blocks of memory handed
 * out by bumping an offset, released all at once.
 */
#include <stdlib.h>

#include "internal.h"

#define ARENA_MIN_BLOCK ((size_t)16 << 20)

struct block {
    struct block *prev;  /* older block, or NULL                          */
    size_t size, off;    /* usable bytes after the header, bytes used     */
    /* data follows, 64-byte aligned */
};

#define HDR (((sizeof(struct block) + 63) / 64) * 64)

struct ck_arena {
    size_t cap;          /* ceiling on bytes handed out (0: none)         */
    size_t used, peak;
    struct block *top;   /* the block being filled                        */
};

ck_arena *ck_arena_new(size_t cap_bytes)
{
    ck_arena *a = calloc(1, sizeof(*a));
    if (a)
        a->cap = cap_bytes;
    return a;
}

static void free_blocks(struct block *b)
{
    while (b) {
        struct block *prev = b->prev;
        free(b);
        b = prev;
    }
}

void ck_arena_free(ck_arena *a)
{
    if (!a)
        return;
    free_blocks(a->top);
    free(a);
}

void *ck_arena_alloc(ck_arena *a, size_t bytes)
{
    if (!a)
        return NULL;
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need < bytes || (a->cap && (need > a->cap || a->used > a->cap - need)))
        return NULL;
    if (need == 0)
        need = 64;
    struct block *b = a->top;
    if (!b || b->size - b->off < need) {
        size_t size = need > ARENA_MIN_BLOCK ? need : ARENA_MIN_BLOCK;
        void *mem = NULL;
        if (size > SIZE_MAX - HDR || posix_memalign(&mem, 64, HDR + size) != 0)
            return NULL;
        b = mem;
        b->prev = a->top;
        b->size = size;
        b->off = 0;
        a->top = b;
    }
    void *p = (char *)b + HDR + b->off;
    b->off += need;
    a->used += need;
    if (a->used > a->peak)
        a->peak = a->used;
    return p;
}

void ck_arena_reset(ck_arena *a)
{
    if (!a || !a->top)
        return;
    /* keep the largest block; the others go */
    struct block *keep = a->top, *b;
    for (b = a->top; b; b = b->prev)
        if (b->size > keep->size)
            keep = b;
    for (b = a->top; b;) {
        struct block *prev = b->prev;
        if (b != keep)
            free(b);
        b = prev;
    }
    keep->prev = NULL;
    keep->off = 0;
    a->top = keep;
    a->used = 0;
}

size_t ck_arena_used(const ck_arena *a) { return a ? a->used : 0; }
size_t ck_arena_peak(const ck_arena *a) { return a ? a->peak : 0; }
