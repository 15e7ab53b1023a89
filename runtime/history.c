/*
 * history.c — the finished-prompt store (see history.h).
 *
 * Layout of a record in a block: prompt_id NUL, then one raw-deflate
 * stream of the summary followed by the entry text.
 * Blocks are anonymous mappings of at least BLOCK_BYTES, each starting with
 * its cd_hblock header; a record never spans two blocks.
 */
#include "history.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <zlib.h>

#include "pyjson.h"

#define BLOCK_BYTES ((size_t)64 << 10)
/* Raw deflate with a 4 kB window: history JSON repeats within a few
 * hundred bytes, and the deflate state stays ~50 kB. */
#define Z_WBITS 12
#define Z_MEMLEVEL 6

struct cd_hblock {
    struct cd_hblock *next;
    size_t size;      /* mapped bytes, header included */
    size_t used;      /* bytes taken from the start, header included */
    size_t live;      /* record bytes still referenced */
};

/* Preset dictionary: the keys and values that every ComfyUI history entry
 * and prompt repeats (deflate finds matches in it from the first byte).
 * Never change it without a format version: stored entries only live as
 * long as the process, so today any change is safe. */
static const char zdict[] =
    "{\"prompt\": [0, \"\", {\"1\": {\"inputs\": {\"seed\": 0, \"steps\": 20, \"cfg\": 8.0, "
    "\"sampler_name\": \"euler\", \"scheduler\": \"normal\", \"denoise\": 1.0, \"model\": [\"4\", 0], "
    "\"positive\": [\"6\", 0], \"negative\": [\"7\", 0], \"latent_image\": [\"5\", 0]}, "
    "\"class_type\": \"KSampler\", \"_meta\": {\"title\": \"\"}}}, {\"client_id\": \"\", "
    "\"extra_pnginfo\": {\"workflow\": {\"nodes\": [], \"links\": []}}}, [\"9\"]], "
    "\"outputs\": {\"9\": {\"images\": [{\"filename\": \"ComfyUI_00001_.png\", \"subfolder\": \"\", "
    "\"type\": \"output\"}]}}, \"status\": {\"status_str\": \"success\", \"completed\": true, "
    "\"messages\": [[\"execution_start\", {\"prompt_id\": \"\", \"timestamp\": 17}], "
    "[\"execution_cached\", {\"nodes\": [], \"prompt_id\": \"\", \"timestamp\": 17}], "
    "[\"execution_success\", {\"prompt_id\": \"\", \"timestamp\": 17}]]}, "
    "\"meta\": {\"9\": {\"node_id\": \"9\", \"display_node\": \"9\", \"parent_node\": null, "
    "\"real_node_id\": \"9\"}}}"
    "{\"priority\": 0, \"outputs_count\": 0, \"preview_output\": null, \"execution_error\": null, "
    "\"error_message\": null, \"workflow_id\": null}";

static uint64_t fnv1a(const char *s)
{
    uint64_t x = 1469598103934665603ull;
    for (; *s; s++)
        x = (x ^ (unsigned char)*s) * 1099511628211ull;
    return x;
}

/* ---- the block store -------------------------------------------------------- */

static size_t rec_len(const cd_hentry *e)
{
    return (size_t)e->id_len + 1 + e->zlen;
}

static char *rec_ptr(const cd_hentry *e)
{
    return (char *)e->blk + e->off;
}

static void block_unmap(struct cd_hblock *b)
{
    munmap(b, b->size);
}

/* Room for `n` record bytes at the store's tail: the tail block, or a new
 * one appended (sized up for an oversized record).  NULL on OOM. */
static struct cd_hblock *hstore_room(cd_history *h, size_t n)
{
    if (h->tail && h->tail->size - h->tail->used >= n)
        return h->tail;
    size_t size = BLOCK_BYTES;
    size_t need = sizeof(struct cd_hblock) + n;
    if (need > size)
        size = (need + 4095) & ~(size_t)4095;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct cd_hblock *b = p;
    b->next = NULL;
    b->size = size;
    b->used = sizeof(*b);
    b->live = 0;
    if (h->tail)
        h->tail->next = b;
    else
        h->blocks = b;
    h->tail = b;
    h->mapped += size;
    return b;
}

/* Unlinks and unmaps block `b` (it holds no live record). */
static void hstore_drop_block(cd_history *h, struct cd_hblock *b)
{
    struct cd_hblock **pp = &h->blocks, *prev = NULL;
    while (*pp && *pp != b) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = b->next;
    if (h->tail == b)
        h->tail = prev;
    h->mapped -= b->size;
    block_unmap(b);
}

static void hstore_free_all(cd_history *h)
{
    for (struct cd_hblock *b = h->blocks, *nx; b; b = nx) {
        nx = b->next;
        block_unmap(b);
    }
    h->blocks = h->tail = NULL;
    h->mapped = h->live = 0;
}

/* Forgets an entry's record; a block left empty is unmapped, except the
 * tail while entries remain (it takes the next append). */
static void hstore_release(cd_history *h, const cd_hentry *e)
{
    size_t n = rec_len(e);
    e->blk->live -= n;
    h->live -= n;
    if (e->blk->live == 0 && (e->blk != h->tail || h->n <= 1))
        hstore_drop_block(h, e->blk);
}

/* Copies every live record, in entry order, into fresh blocks and unmaps
 * the old ones, when less than half of the mapped bytes are live.  On OOM
 * the store is left as it was. */
static void hstore_compact(cd_history *h)
{
    if (h->mapped <= BLOCK_BYTES || h->mapped / 2 <= h->live)
        return;
    cd_history fresh;
    memset(&fresh, 0, sizeof(fresh));
    size_t *offs = malloc((h->n ? h->n : 1) * sizeof(*offs));
    struct cd_hblock **blks = malloc((h->n ? h->n : 1) * sizeof(*blks));
    if (!offs || !blks)
        goto out;
    for (size_t i = 0; i < h->n; i++) {
        size_t n = rec_len(&h->v[i]);
        struct cd_hblock *b = hstore_room(&fresh, n);
        if (!b) {
            hstore_free_all(&fresh);
            goto out;
        }
        memcpy((char *)b + b->used, rec_ptr(&h->v[i]), n);
        offs[i] = b->used;
        blks[i] = b;
        b->used += n;
        b->live += n;
        fresh.live += n;
    }
    hstore_free_all(h);
    h->blocks = fresh.blocks;
    h->tail = fresh.tail;
    h->mapped = fresh.mapped;
    h->live = fresh.live;
    for (size_t i = 0; i < h->n; i++) {
        h->v[i].blk = blks[i];
        h->v[i].off = offs[i];
    }
out:
    free(offs);
    free(blks);
}

/* ---- deflate / inflate ------------------------------------------------------ */

static z_stream *deflater(cd_history *h)
{
    if (h->zdef)
        return h->zdef;
    z_stream *z = calloc(1, sizeof(*z));
    if (!z)
        return NULL;
    if (deflateInit2(z, 6, Z_DEFLATED, -Z_WBITS, Z_MEMLEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return NULL;
    }
    h->zdef = z;
    return z;
}

/* Deflates summary then text as one stream into a new malloc'd buffer
 * (caller frees); NULL on OOM. */
static unsigned char *deflate_record(cd_history *h, const char *summary, size_t sum_len,
                                     const char *text, size_t len, size_t *zlen)
{
    z_stream *z = deflater(h);
    if (!z || deflateReset(z) != Z_OK ||
        deflateSetDictionary(z, (const Bytef *)zdict, sizeof(zdict) - 1) != Z_OK)
        return NULL;
    uLong bound = deflateBound(z, (uLong)(sum_len + len)) + 16;
    unsigned char *out = malloc(bound);
    if (!out)
        return NULL;
    z->next_out = out;
    z->avail_out = (uInt)bound;
    z->next_in = (Bytef *)(uintptr_t)summary;
    z->avail_in = (uInt)sum_len;
    if (deflate(z, Z_NO_FLUSH) != Z_OK || z->avail_in != 0)
        goto fail;
    z->next_in = (Bytef *)(uintptr_t)text;
    z->avail_in = (uInt)len;
    if (deflate(z, Z_FINISH) != Z_STREAM_END)
        goto fail;
    *zlen = bound - z->avail_out;
    return out;
fail:
    free(out);
    return NULL;
}

/* The inflate state every read reuses (made at the first read, ~11 kB). */
static z_stream *inflater(cd_history *h)
{
    if (h->zinf)
        return h->zinf;
    z_stream *z = calloc(1, sizeof(*z));
    if (!z)
        return NULL;
    if (inflateInit2(z, -Z_WBITS) != Z_OK) {
        free(z);
        return NULL;
    }
    h->zinf = z;
    return z;
}

/* Inflates the record's stream, drops its first `skip` bytes and appends
 * the next `len` to `out`.  0 or -1 (out unchanged but for capacity). */
static int inflate_span(cd_history *h, const cd_hentry *e, size_t skip, size_t len, cd_buf *out)
{
    z_stream *z = inflater(h);
    if (!z || inflateReset(z) != Z_OK ||
        inflateSetDictionary(z, (const Bytef *)zdict, sizeof(zdict) - 1) != Z_OK)
        return -1;
    z->next_in = (Bytef *)(rec_ptr(e) + e->id_len + 1);
    z->avail_in = e->zlen;
    int rc = Z_OK;
    unsigned char scratch[512];
    while (skip && rc == Z_OK) {
        size_t k = skip < sizeof(scratch) ? skip : sizeof(scratch);
        z->next_out = scratch;
        z->avail_out = (uInt)k;
        rc = inflate(z, Z_SYNC_FLUSH);
        skip -= k - z->avail_out;
    }
    if (skip)
        return -1;
    /* the wanted bytes go straight into the buffer's tail */
    size_t at = out->len;
    if (cd_buf_reserve(out, len) < 0)
        return -1;
    z->next_out = (Bytef *)out->data + at;
    z->avail_out = (uInt)len;
    while (z->avail_out && rc == Z_OK)
        rc = inflate(z, Z_SYNC_FLUSH);
    if (z->avail_out != 0 || (rc != Z_OK && rc != Z_STREAM_END)) {
        out->data[at] = '\0';
        return -1;
    }
    out->len = at + len;
    out->data[out->len] = '\0';
    return 0;
}

/* ---- entries ---------------------------------------------------------------- */

void cd_history_init(cd_history *h, long max)
{
    memset(h, 0, sizeof(*h));
    h->max = max > 0 ? max : 10000;
}

void cd_history_clear(cd_history *h)
{
    h->n = 0;
    hstore_free_all(h);
    free(h->v);
    h->v = NULL;
    h->cap = 0;
}

void cd_history_free(cd_history *h)
{
    cd_history_clear(h);
    if (h->zdef) {
        deflateEnd(h->zdef);
        free(h->zdef);
        h->zdef = NULL;
    }
    if (h->zinf) {
        inflateEnd(h->zinf);
        free(h->zinf);
        h->zinf = NULL;
    }
}

const char *cd_hentry_id(const cd_hentry *e)
{
    return rec_ptr(e);
}


static long find(const cd_history *h, const char *id)
{
    uint64_t x = fnv1a(id);
    for (size_t i = h->n; i-- > 0;)
        if (h->v[i].id_hash == x && strcmp(cd_hentry_id(&h->v[i]), id) == 0)
            return (long)i;
    return -1;
}

const cd_hentry *cd_history_get(const cd_history *h, const char *prompt_id)
{
    long i = find(h, prompt_id);
    return i < 0 ? NULL : &h->v[i];
}

static void remove_at(cd_history *h, size_t i)
{
    hstore_release(h, &h->v[i]);
    memmove(h->v + i, h->v + i + 1, (h->n - i - 1) * sizeof(*h->v));
    h->n--;
}

int cd_history_delete(cd_history *h, const char *prompt_id)
{
    long i = find(h, prompt_id);
    if (i < 0)
        return 0;
    remove_at(h, (size_t)i);
    if (h->n == 0) {
        cd_history_clear(h);
        return 1;
    }
    hstore_compact(h);
    if (h->cap > 64 && h->n < h->cap / 4) {
        /* the entry array shrinks with the history (failure keeps it) */
        cd_hentry *nv = realloc(h->v, h->cap / 2 * sizeof(*nv));
        if (nv) {
            h->v = nv;
            h->cap /= 2;
        }
    }
    return 1;
}

int cd_history_put(cd_history *h, const char *prompt_id, const cd_hjob *job,
                   const char *summary, const char *text, size_t text_len)
{
    size_t id_len = strlen(prompt_id), sum_len = strlen(summary), zlen = 0;
    if (text_len > UINT32_MAX / 2 || id_len > UINT32_MAX / 4 || sum_len > UINT32_MAX / 4)
        return -1;
    unsigned char *z = deflate_record(h, summary, sum_len, text, text_len, &zlen);
    if (!z || zlen > UINT32_MAX)
        goto fail;
    long i = find(h, prompt_id);
    if (i < 0 && h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        cd_hentry *nv = realloc(h->v, nc * sizeof(*nv));
        if (!nv)
            goto fail;
        h->v = nv;
        h->cap = nc;
    }
    cd_hentry e = {.job = *job, .id_hash = fnv1a(prompt_id), .id_len = (uint32_t)id_len,
                   .sum_len = (uint32_t)sum_len, .zlen = (uint32_t)zlen,
                   .text_len = (uint32_t)text_len};
    size_t n = rec_len(&e);
    struct cd_hblock *b = hstore_room(h, n);
    if (!b)
        goto fail;
    e.blk = b;
    e.off = b->used;
    char *p = rec_ptr(&e);
    memcpy(p, prompt_id, id_len + 1);
    memcpy(p + id_len + 1, z, zlen);
    b->used += n;
    b->live += n;
    h->live += n;
    free(z);

    if (i >= 0) {
        hstore_release(h, &h->v[i]);
        h->v[i] = e;
    } else {
        h->v[h->n++] = e;
        while ((long)h->n > h->max + 1)
            remove_at(h, 0);
    }
    hstore_compact(h);
    return 0;
fail:
    free(z);
    return -1;
}

/* ---- reading ---------------------------------------------------------------- */

static int write_pair(cd_history *h, const cd_hentry *e, cd_buf *out)
{
    const char *id = cd_hentry_id(e);
    if (cd_json_dump_string(out, id, e->id_len) < 0 || cd_buf_puts(out, ": ") < 0)
        return -1;
    return inflate_span(h, e, e->sum_len, e->text_len, out);
}

int cd_history_text(cd_history *h, const cd_hentry *e, cd_buf *out)
{
    return inflate_span(h, e, e->sum_len, e->text_len, out);
}

int cd_history_summary(cd_history *h, const cd_hentry *e, cd_buf *out)
{
    return inflate_span(h, e, 0, e->sum_len, out);
}

int cd_history_write_entry(cd_history *h, const cd_hentry *e, cd_buf *out)
{
    if (cd_buf_putc(out, '{') < 0 || write_pair(h, e, out) < 0)
        return -1;
    return cd_buf_putc(out, '}');
}

int cd_history_write(cd_history *h, long max_items, long offset, cd_buf *out)
{
    if (offset < 0 && max_items >= 0)
        offset = (long)h->n - max_items;
    if (cd_buf_putc(out, '{') < 0)
        return -1;
    long count = 0;
    for (size_t i = 0; i < h->n; i++) {
        if ((long)i < offset)
            continue;
        if ((count && cd_buf_puts(out, ", ") < 0) || write_pair(h, &h->v[i], out) < 0)
            return -1;
        count++;
        if (max_items >= 0 && count >= max_items)
            break;
    }
    return cd_buf_putc(out, '}');
}

size_t cd_history_mapped_bytes(const cd_history *h)
{
    return h->mapped;
}

size_t cd_history_live_bytes(const cd_history *h)
{
    return h->live;
}
