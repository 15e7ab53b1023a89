/*
 * clip_tokenizer.c — CLIP BPE tokenizer (see clip_tokenizer.h).
 */
#include "clip_tokenizer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>

#include "unicode_norm.h"
#include "unicode_tables.h"

/* The embedded merges text, generated from data/clip_merges.txt. */
extern const unsigned char cd_clip_merges_data[];
extern const size_t cd_clip_merges_size;

#define PAIR_SLOTS (1u << 17) /* > 2 * CD_CLIP_N_MERGES, power of two */
#define STR_SLOTS (1u << 17)  /* > 2 * CD_CLIP_VOCAB_SIZE             */
#define EMPTY_SLOT 0xFFFFFFFFu

struct cd_clip_tokenizer {
    int32_t byte_id[256];            /* byte -> id of its symbol (0..255)  */
    uint32_t str_off[CD_CLIP_VOCAB_SIZE + 1]; /* vocab strings in `strs` */
    char *strs;                      /* owned; all vocab strings           */
    uint32_t *pair_key;              /* owned; (a << 16 | b), PAIR_SLOTS   */
    int32_t *pair_rank;              /* owned; rank of the merge a b       */
};

void cd_clip_ids_init(cd_clip_ids *ids, size_t max)
{
    ids->v = NULL;
    ids->n = ids->cap = 0;
    ids->max = max;
}

void cd_clip_ids_free(cd_clip_ids *ids)
{
    free(ids->v);
    ids->v = NULL;
    ids->n = ids->cap = 0;
}

int cd_clip_ids_push(cd_clip_ids *ids, int32_t id)
{
    if (ids->n >= ids->max)
        return COMFY_EINVAL;
    if (ids->n == ids->cap) {
        size_t nc = ids->cap ? ids->cap * 2 : 64;
        if (nc > ids->max)
            nc = ids->max;
        int32_t *nv = realloc(ids->v, nc * sizeof *nv);
        if (!nv)
            return COMFY_ENOMEM;
        ids->v = nv;
        ids->cap = nc;
    }
    ids->v[ids->n++] = id;
    return 0;
}

static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int32_t pair_rank(const cd_clip_tokenizer *t, int32_t a, int32_t b)
{
    uint32_t key = ((uint32_t)a << 16) | (uint32_t)b;
    uint32_t i = hash32(key) & (PAIR_SLOTS - 1);
    for (;;) {
        if (t->pair_key[i] == EMPTY_SLOT)
            return -1;
        if (t->pair_key[i] == key)
            return t->pair_rank[i];
        i = (i + 1) & (PAIR_SLOTS - 1);
    }
}

/* Builds the byte-to-unicode alphabet of GPT-2/CLIP: printable Latin-1
 * bytes map to themselves, the other 68 to U+0100 onwards; id order is the
 * printable bytes first, then the others in byte order. */
static void byte_alphabet(int32_t byte_id[256], uint32_t sym[256])
{
    int printable[256] = {0};
    for (int b = '!'; b <= '~'; b++) printable[b] = 1;
    for (int b = 0xA1; b <= 0xAC; b++) printable[b] = 1;
    for (int b = 0xAE; b <= 0xFF; b++) printable[b] = 1;
    int id = 0;
    for (int b = 0; b < 256; b++)
        if (printable[b]) {
            byte_id[b] = id;
            sym[id++] = (uint32_t)b;
        }
    int extra = 0;
    for (int b = 0; b < 256; b++)
        if (!printable[b]) {
            byte_id[b] = id;
            sym[id++] = 256u + (uint32_t)extra++;
        }
}

/* String -> id lookup used while reading the merges. */
typedef struct strmap {
    uint32_t *slot; /* id or EMPTY_SLOT */
    const cd_clip_tokenizer *t;
} strmap;

static const char *vstr(const cd_clip_tokenizer *t, uint32_t id, size_t *n)
{
    *n = t->str_off[id + 1] - t->str_off[id];
    return t->strs + t->str_off[id];
}

static void strmap_put(strmap *m, uint32_t id)
{
    size_t n;
    const char *s = vstr(m->t, id, &n);
    uint32_t i = hash_bytes(s, n) & (STR_SLOTS - 1);
    while (m->slot[i] != EMPTY_SLOT)
        i = (i + 1) & (STR_SLOTS - 1);
    m->slot[i] = id;
}

static int32_t strmap_get(const strmap *m, const char *s, size_t n)
{
    uint32_t i = hash_bytes(s, n) & (STR_SLOTS - 1);
    while (m->slot[i] != EMPTY_SLOT) {
        size_t vn;
        const char *v = vstr(m->t, m->slot[i], &vn);
        if (vn == n && memcmp(v, s, n) == 0)
            return (int32_t)m->slot[i];
        i = (i + 1) & (STR_SLOTS - 1);
    }
    return -1;
}

void cd_clip_tokenizer_free(cd_clip_tokenizer *t)
{
    if (!t)
        return;
    free(t->strs);
    free(t->pair_key);
    free(t->pair_rank);
    free(t);
}

int cd_clip_tokenizer_new_from_merges(const char *text, size_t len, cd_clip_tokenizer **out)
{
    int rc = COMFY_ENOMEM;
    strmap map = {NULL, NULL};
    cd_clip_tokenizer *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t)
        goto fail;
    /* Vocab strings: 512 byte symbols (<= 2 + 4 bytes each), one per merge
     * (at most the merge line), two specials. */
    size_t cap = 512 * 8 + len + 64;
    t->strs = malloc(cap);
    t->pair_key = malloc(PAIR_SLOTS * sizeof *t->pair_key);
    t->pair_rank = malloc(PAIR_SLOTS * sizeof *t->pair_rank);
    map.slot = malloc(STR_SLOTS * sizeof *map.slot);
    map.t = t;
    if (!t->strs || !t->pair_key || !t->pair_rank || !map.slot)
        goto fail;
    memset(t->pair_key, 0xFF, PAIR_SLOTS * sizeof *t->pair_key);
    memset(map.slot, 0xFF, STR_SLOTS * sizeof *map.slot);

    uint32_t sym[256];
    byte_alphabet(t->byte_id, sym);
    size_t used = 0;
    uint32_t id = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 256; i++) {
            unsigned char b[8];
            size_t n = 0;
            cd_utf8_put(sym[i], b, &n);
            if (pass) {
                memcpy(b + n, "</w>", 4);
                n += 4;
            }
            t->str_off[id] = (uint32_t)used;
            memcpy(t->strs + used, b, n);
            used += n;
            t->str_off[++id] = (uint32_t)used;
            strmap_put(&map, id - 1);
        }

    rc = COMFY_EINVAL;
    size_t pos = 0;
    for (int r = 0; r < CD_CLIP_N_MERGES; r++) {
        size_t eol = pos;
        while (eol < len && text[eol] != '\n')
            eol++;
        const char *line = text + pos;
        size_t ln = eol - pos;
        const char *sp = memchr(line, ' ', ln);
        if (!sp || sp == line || sp == line + ln - 1)
            goto fail;
        size_t na = (size_t)(sp - line), nb = ln - na - 1;
        int32_t a = strmap_get(&map, line, na);
        int32_t b = strmap_get(&map, sp + 1, nb);
        /* Each merge may only use symbols made before it: this is what
         * makes rank order a valid merge order (see bpe_word). */
        if (a < 0 || b < 0 || (uint32_t)a >= id || (uint32_t)b >= id)
            goto fail;
        if (used + na + nb > cap)
            goto fail;
        memcpy(t->strs + used, line, na);
        memcpy(t->strs + used + na, sp + 1, nb);
        used += na + nb;
        t->str_off[++id] = (uint32_t)used;
        if (strmap_get(&map, t->strs + t->str_off[id - 1], na + nb) >= 0)
            goto fail; /* duplicate entries would break id = 512 + rank */
        strmap_put(&map, id - 1);

        uint32_t key = ((uint32_t)a << 16) | (uint32_t)b;
        uint32_t i = hash32(key) & (PAIR_SLOTS - 1);
        while (t->pair_key[i] != EMPTY_SLOT) {
            if (t->pair_key[i] == key)
                goto fail;
            i = (i + 1) & (PAIR_SLOTS - 1);
        }
        t->pair_key[i] = key;
        t->pair_rank[i] = r;
        pos = eol < len ? eol + 1 : eol;
    }
    static const char *special[2] = {"<|startoftext|>", "<|endoftext|>"};
    for (int k = 0; k < 2; k++) {
        size_t n = strlen(special[k]);
        memcpy(t->strs + used, special[k], n);
        used += n;
        t->str_off[++id] = (uint32_t)used;
    }
    free(map.slot);
    *out = t;
    return 0;
fail:
    free(map.slot);
    cd_clip_tokenizer_free(t);
    return rc;
}

int cd_clip_tokenizer_new(cd_clip_tokenizer **out)
{
    return cd_clip_tokenizer_new_from_merges((const char *)cd_clip_merges_data,
                                             cd_clip_merges_size, out);
}

/* The shared tokenizer: built under shared_lock on first use, published
 * through an atomic pointer so the common path takes no lock; freed by
 * cd_clip_tokenizer_shared_free (owner: this file). */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(cd_clip_tokenizer *) shared_tok;

const cd_clip_tokenizer *cd_clip_tokenizer_shared(void)
{
    cd_clip_tokenizer *t = atomic_load_explicit(&shared_tok, memory_order_acquire);
    if (t)
        return t;
    pthread_mutex_lock(&shared_lock);
    t = atomic_load_explicit(&shared_tok, memory_order_relaxed);
    if (!t && cd_clip_tokenizer_new(&t) < 0)
        t = NULL;
    atomic_store_explicit(&shared_tok, t, memory_order_release);
    pthread_mutex_unlock(&shared_lock);
    return t;
}

void cd_clip_tokenizer_shared_free(void)
{
    pthread_mutex_lock(&shared_lock);
    cd_clip_tokenizer *t = atomic_exchange_explicit(&shared_tok, NULL, memory_order_acq_rel);
    pthread_mutex_unlock(&shared_lock);
    cd_clip_tokenizer_free(t);
}

int cd_clip_token_text(const cd_clip_tokenizer *t, int32_t id, char *out, size_t cap)
{
    if (id < 0 || id >= CD_CLIP_VOCAB_SIZE)
        return COMFY_EINVAL;
    size_t n;
    const char *s = vstr(t, (uint32_t)id, &n);
    if (n + 1 > cap)
        return COMFY_EINVAL;
    memcpy(out, s, n);
    out[n] = 0;
    return (int)n;
}

const char *cd_clip_unicode_version(void)
{
    return cd_u_version;
}

/* A candidate merge: the pair (a, b) at node `pos` had rank `rank`. */
typedef struct cand { int32_t rank; uint32_t pos; int32_t a, b; } cand;

static int cand_less(const cand *x, const cand *y)
{
    return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

static void heap_push(cand *h, size_t *n, cand c)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static cand heap_pop(cand *h, size_t *n)
{
    cand top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const cand *best = &last;
        if (l < *n && cand_less(&h[l], best)) {
            m = l;
            best = &h[l];
        }
        if (l + 1 < *n && cand_less(&h[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        h[i] = h[m];
        i = m;
    }
    if (*n)
        h[i] = last;
    return top;
}

/* Scratch for bpe_word, sized for the longest run of a call. */
typedef struct bpe_scratch {
    int32_t *sym;   /* symbol per node                     */
    int32_t *next;  /* next live node, -1 at the end       */
    int32_t *prev;  /* previous live node, -1 at the start */
    cand *heap;
    size_t cap;     /* nodes                               */
} bpe_scratch;

static void push_pair(const cd_clip_tokenizer *t, bpe_scratch *s, size_t *hn, int32_t i)
{
    if (i < 0 || s->next[i] < 0)
        return;
    int32_t a = s->sym[i], b = s->sym[s->next[i]];
    int32_t r = pair_rank(t, a, b);
    if (r >= 0)
        heap_push(s->heap, hn, (cand){r, (uint32_t)i, a, b});
}

/* BPE of one run: bytes -> symbols, the last marked end-of-word, then the
 * merges by rank, as CLIP's bpe(): it merges every occurrence (left to
 * right, non-overlapping) of the lowest-ranked adjacent pair, then looks
 * again.  Here a heap of candidate pairs ordered by (rank, position) does
 * the same in O(n log n): a merge only creates pairs of higher rank than
 * its own (checked when the merges are loaded), so all occurrences of one
 * rank are popped left to right before any later rank, and an entry whose
 * pair has changed since it was pushed is skipped. */
static int bpe_word(const cd_clip_tokenizer *t, const unsigned char *bytes, size_t n,
                    bpe_scratch *s, cd_clip_ids *out)
{
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        s->sym[i] = t->byte_id[bytes[i]];
        s->next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        s->prev[i] = (int32_t)i - 1;
    }
    s->sym[n - 1] += 256;
    for (size_t i = 0; i + 1 < n; i++)
        push_pair(t, s, &hn, (int32_t)i);
    while (hn) {
        cand c = heap_pop(s->heap, &hn);
        int32_t i = (int32_t)c.pos, j = s->next[i];
        if (s->sym[i] != c.a || j < 0 || s->sym[j] != c.b || s->prev[i] == -2)
            continue; /* stale */
        s->sym[i] = 512 + c.rank;
        s->next[i] = s->next[j];
        if (s->next[j] >= 0)
            s->prev[s->next[j]] = i;
        s->prev[j] = -2; /* dead */
        push_pair(t, s, &hn, s->prev[i]);
        push_pair(t, s, &hn, i);
    }
    for (int32_t i = 0; i >= 0; i = s->next[i]) {
        int rc = cd_clip_ids_push(out, s->sym[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int scratch_reserve(bpe_scratch *s, unsigned char **bytes, size_t n)
{
    if (n <= s->cap)
        return 0;
    size_t cap = n < 256 ? 256 : n;
    unsigned char *nb = realloc(*bytes, cap);
    if (nb)
        *bytes = nb;
    int32_t *a = realloc(s->sym, cap * sizeof *a);
    if (a)
        s->sym = a;
    int32_t *b = realloc(s->next, cap * sizeof *b);
    if (b)
        s->next = b;
    int32_t *c = realloc(s->prev, cap * sizeof *c);
    if (c)
        s->prev = c;
    cand *h = realloc(s->heap, 3 * cap * sizeof *h);
    if (h)
        s->heap = h;
    if (!nb || !a || !b || !c || !h)
        return COMFY_ENOMEM;
    s->cap = cap;
    return 0;
}

static int is_s(uint32_t c) { return c == 's' || c == 'S' || c == 0x17F; }

/* Case-insensitive match of ASCII-lowercase `lit` at v[i..], as the
 * pattern's IGNORECASE literals match ('s' also matches U+017F). */
static size_t match_lit(const uint32_t *v, size_t n, size_t i, const char *lit)
{
    size_t k = 0;
    for (; lit[k]; k++) {
        if (i + k >= n)
            return 0;
        uint32_t c = v[i + k];
        uint32_t l = (unsigned char)lit[k];
        if (l == 's') {
            if (!is_s(c))
                return 0;
        } else if (!(c == l || (l >= 'a' && l <= 'z' && c == l - 32))) {
            return 0;
        }
    }
    return k;
}

static int exact_ascii(const uint32_t *v, size_t n, const char *lit)
{
    for (size_t k = 0; k < n; k++)
        if (v[k] != (unsigned char)lit[k])
            return 0;
    return 1;
}

/* Runs the pre-tokenisation pattern over normalised text and BPEs each run. */
static int pretokenize(const cd_clip_tokenizer *t, const uint32_t *v, size_t n, cd_clip_ids *out)
{
    static const char *contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    unsigned char *bytes = NULL;
    bpe_scratch scr = {NULL, NULL, NULL, NULL, 0};
    int rc = 0;
    size_t i = 0;
    while (i < n) {
        uint32_t c = v[i];
        size_t m = 0;
        int special = -1;
        if (c == '<') {
            if ((m = match_lit(v, n, i, "<|startoftext|>")) != 0)
                special = exact_ascii(v + i, m, "<|startoftext|>") ? CD_CLIP_TOKEN_START : -1;
            else if ((m = match_lit(v, n, i, "<|endoftext|>")) != 0)
                special = exact_ascii(v + i, m, "<|endoftext|>") ? CD_CLIP_TOKEN_END : -1;
        }
        if (!m && c == '\'')
            for (size_t k = 0; k < sizeof contractions / sizeof *contractions && !m; k++)
                m = match_lit(v, n, i, contractions[k]);
        if (!m && cd_u_is_letter(c))
            for (m = 1; i + m < n && cd_u_is_letter(v[i + m]); m++)
                ;
        if (!m && cd_u_is_number(c))
            m = 1;
        if (!m && cd_u_is_other(c))
            for (m = 1; i + m < n && cd_u_is_other(v[i + m]); m++)
                ;
        if (!m) { /* matched by no alternative: spaces, U+0345 */
            i++;
            continue;
        }
        if (special >= 0) {
            if ((rc = cd_clip_ids_push(out, special)) < 0)
                goto out;
            i += m;
            continue;
        }
        if ((rc = scratch_reserve(&scr, &bytes, 4 * m)) < 0)
            goto out;
        size_t nb = 0;
        for (size_t k = 0; k < m; k++)
            cd_utf8_put(v[i + k], bytes, &nb);
        if ((rc = bpe_word(t, bytes, nb, &scr, out)) < 0)
            goto out;
        i += m;
    }
out:
    free(bytes);
    free(scr.sym);
    free(scr.next);
    free(scr.prev);
    free(scr.heap);
    return rc;
}

/* BasicTokenizer clean-up of v[0..n) into `norm` (words joined by single
 * spaces), then pre-tokenisation and BPE. */
static int tokenize_piece(const cd_clip_tokenizer *t, const uint32_t *v, size_t n,
                          cd_clip_ids *out)
{
    cd_u32vec a, b;
    int rc = 0;
    cd_u32vec_init(&a, 12 * n + 64);
    cd_u32vec_init(&b, 3 * (12 * n + 64));
    for (size_t i = 0; i < n; i++) {
        uint32_t c = v[i];
        if (c == 0 || c == 0xFFFD)
            continue;
        if (c == '\t' || c == '\n' || c == '\r' || c == ' ') {
            c = ' ';
        } else if (cd_u_is_cat_c(c)) {
            continue;
        } else if (cd_u_is_zs(c)) {
            c = ' ';
        } else if (cd_u_is_cjk(c)) {
            if ((rc = cd_u32vec_push(&a, ' ')) < 0 || (rc = cd_u32vec_push(&a, c)) < 0)
                goto out;
            c = ' ';
        }
        if ((rc = cd_u32vec_push(&a, c)) < 0)
            goto out;
    }
    if ((rc = cd_u_nfc(&a)) < 0)
        goto out;
    /* Split on whitespace, lower-case each word, join with one space. */
    size_t i = 0;
    while (i < a.n) {
        while (i < a.n && cd_u_is_space(a.v[i]))
            i++;
        if (i == a.n)
            break;
        size_t s = i;
        while (i < a.n && !cd_u_is_space(a.v[i]))
            i++;
        if (b.n && (rc = cd_u32vec_push(&b, ' ')) < 0)
            goto out;
        if ((rc = cd_u_to_lower(a.v + s, i - s, &b)) < 0)
            goto out;
    }
    rc = pretokenize(t, b.v, b.n, out);
out:
    cd_u32vec_free(&a);
    cd_u32vec_free(&b);
    return rc;
}

int cd_clip_tokenize(const cd_clip_tokenizer *t, const char *text, size_t len, cd_clip_ids *out)
{
    static const char *special[2] = {"<|startoftext|>", "<|endoftext|>"};
    static const int32_t special_id[2] = {CD_CLIP_TOKEN_START, CD_CLIP_TOKEN_END};
    if (len > CD_CLIP_MAX_TEXT_BYTES)
        return COMFY_EINVAL;
    cd_u32vec v;
    cd_u32vec_init(&v, len + 1);
    int rc = cd_utf8_decode(text, len, &v);
    if (rc < 0)
        goto out;
    /* Split off the special strings exactly as written (the added-token
     * trie of transformers' tokenizers), tokenizing the text between. */
    size_t start = 0, i = 0;
    while (i < v.n) {
        int hit = -1;
        size_t hl = 0;
        if (v.v[i] == '<')
            for (int k = 0; k < 2 && hit < 0; k++) {
                size_t l = strlen(special[k]);
                if (i + l <= v.n && exact_ascii(v.v + i, l, special[k])) {
                    hit = k;
                    hl = l;
                }
            }
        if (hit < 0) {
            i++;
            continue;
        }
        if (i > start && (rc = tokenize_piece(t, v.v + start, i - start, out)) < 0)
            goto out;
        if ((rc = cd_clip_ids_push(out, special_id[hit])) < 0)
            goto out;
        i += hl;
        start = i;
    }
    if (v.n > start)
        rc = tokenize_piece(t, v.v + start, v.n - start, out);
out:
    cd_u32vec_free(&v);
    return rc;
}
