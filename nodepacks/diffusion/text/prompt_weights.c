/*
 * prompt_weights.c — ComfyUI's prompt syntax and 77-token windows (see
 * prompt_weights.h).
 */
#include "prompt_weights.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>

#include "unicode_norm.h"

#define EMB_PREFIX "embedding:"
#define EMB_PREFIX_LEN 10

/* ---- Python float() ---------------------------------------------------- */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static int ascii_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static int lower_eq(const char *s, size_t n, const char *lit)
{
    size_t k = 0;
    for (; lit[k]; k++) {
        if (k >= n)
            return 0;
        char c = s[k];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != lit[k])
            return 0;
    }
    return 1;
}

/* CPython's _Py_dg_strtod / _Py_parse_inf_or_nan on s[0..n), which must
 * be consumed entirely. */
static int parse_ascii_float(const char *s, size_t n, double *out)
{
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    size_t rest = n - i;
    if (rest == 3 && lower_eq(s + i, rest, "inf")) {
        *out = s[0] == '-' ? -HUGE_VAL : HUGE_VAL;
        return 0;
    }
    if (rest == 8 && lower_eq(s + i, rest, "infinity")) {
        *out = s[0] == '-' ? -HUGE_VAL : HUGE_VAL;
        return 0;
    }
    if (rest == 3 && lower_eq(s + i, rest, "nan")) {
        *out = __builtin_nan("");
        return 0;
    }
    size_t digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (!digits)
        return COMFY_EINVAL;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t ed = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, ed++;
        if (!ed)
            return COMFY_EINVAL;
    }
    if (i != n)
        return COMFY_EINVAL;
    char buf[512];
    if (n >= sizeof buf) {
        /* Long digit strings: keep the value exact by handing the whole
         * string to strtod from a heap copy. */
        char *h = malloc(n + 1);
        if (!h)
            return COMFY_ENOMEM;
        memcpy(h, s, n);
        h[n] = 0;
        pthread_once(&c_locale_once, c_locale_init);
        *out = c_locale ? strtod_l(h, NULL, c_locale) : strtod(h, NULL);
        free(h);
        return 0;
    }
    memcpy(buf, s, n);
    buf[n] = 0;
    pthread_once(&c_locale_once, c_locale_init);
    *out = c_locale ? strtod_l(buf, NULL, c_locale) : strtod(buf, NULL);
    return 0;
}

int cd_py_float(const char *s, size_t len, double *out)
{
    int rc = COMFY_EINVAL;
    cd_u32vec cps;
    char *a = malloc(len + 1);
    cd_u32vec_init(&cps, len + 1);
    if (!a) {
        rc = COMFY_ENOMEM;
        goto out;
    }
    if ((rc = cd_utf8_decode(s, len, &cps)) < 0)
        goto out;
    rc = COMFY_EINVAL;
    /* _PyUnicode_TransformDecimalAndSpaceToASCII */
    size_t n = 0;
    for (size_t i = 0; i < cps.n; i++) {
        uint32_t c = cps.v[i];
        int d;
        if (c < 127)
            a[n++] = (char)c;
        else if (cd_u_is_space(c))
            a[n++] = ' ';
        else if ((d = cd_u_decimal(c)) >= 0)
            a[n++] = (char)('0' + d);
        else
            goto out;
    }
    size_t b = 0, e = n;
    while (b < e && ascii_space(a[b]))
        b++;
    if (b == e)
        goto out;
    while (e > b + 1 && ascii_space(a[e - 1]))
        e--;
    /* Underscores only between digits; then dropped. */
    size_t m = b;
    char prev = 0;
    for (size_t i = b; i < e; i++) {
        char c = a[i];
        if (c == '_') {
            if (!(prev >= '0' && prev <= '9'))
                goto out;
        } else {
            if (prev == '_' && !(c >= '0' && c <= '9'))
                goto out;
            a[m++] = c;
        }
        prev = c;
    }
    if (prev == '_')
        goto out;
    rc = parse_ascii_float(a + b, m - b, out);
out:
    free(a);
    cd_u32vec_free(&cps);
    return rc;
}

/* ---- Weighted segments -------------------------------------------------- */

typedef struct span { size_t off, len; double w; } span;
typedef struct spans { span *v; size_t n, cap; } spans;

static int spans_push(spans *s, size_t off, size_t len, double w)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        span *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv)
            return COMFY_ENOMEM;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = (span){off, len, w};
    return 0;
}

/* ComfyUI's parse_parentheses over t[b..e): top-level items, each a
 * contiguous substring, appended to `items` (weights unused). */
static int parse_parentheses(const char *t, size_t b, size_t e, spans *items)
{
    size_t start = b;
    long nest = 0;
    int rc;
    for (size_t i = b; i < e; i++) {
        if (t[i] == '(') {
            if (nest == 0) {
                if (i > start && (rc = spans_push(items, start, i - start, 0)) < 0)
                    return rc;
                start = i;
            }
            nest++;
        } else if (t[i] == ')') {
            nest--;
            if (nest == 0) {
                if ((rc = spans_push(items, start, i + 1 - start, 0)) < 0)
                    return rc;
                start = i + 1;
            }
        }
    }
    if (e > start)
        return spans_push(items, start, e - start, 0);
    return 0;
}

/* ComfyUI's token_weights(t[b..e), w), appending weighted spans to out. */
static int token_weights(const char *t, size_t b, size_t e, double w, int depth, spans *out)
{
    if (depth > CD_PROMPT_MAX_DEPTH)
        return COMFY_EINVAL;
    spans items = {NULL, 0, 0};
    int rc = parse_parentheses(t, b, e, &items);
    for (size_t k = 0; rc == 0 && k < items.n; k++) {
        size_t ib = items.v[k].off, il = items.v[k].len;
        if (il >= 2 && t[ib] == '(' && t[ib + il - 1] == ')') {
            size_t xb = ib + 1, xe = ib + il - 1;
            double nw = w * 1.1;
            size_t colon = xe;
            for (size_t i = xe; i > xb; i--)
                if (t[i - 1] == ':') {
                    colon = i - 1;
                    break;
                }
            if (colon != xe && colon > xb) {
                double f;
                int frc = cd_py_float(t + colon + 1, xe - colon - 1, &f);
                if (frc == COMFY_ENOMEM)
                    rc = frc;
                else if (frc == 0) {
                    nw = f;
                    xe = colon;
                }
            }
            if (rc == 0)
                rc = token_weights(t, xb, xe, nw, depth + 1, out);
        } else {
            rc = spans_push(out, ib, il, w);
        }
    }
    free(items.v);
    return rc;
}

void cd_prompt_segments_free(cd_prompt_segments *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].text);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* str.replace(a2, b2) for two-byte patterns, in place (same length). */
static void replace2(char *t, size_t n, const char *from, const char *to)
{
    for (size_t i = 0; i + 1 < n;) {
        if (t[i] == from[0] && t[i + 1] == from[1]) {
            t[i] = to[0];
            t[i + 1] = to[1];
            i += 2;
        } else {
            i++;
        }
    }
}

/* unescape_important(t[0..n)) into a new NUL-terminated string. */
static char *unescape(const char *t, size_t n, size_t *out_len)
{
    char *a = malloc(n + 1), *r = NULL;
    if (!a)
        return NULL;
    const char *pats[2][2] = {{"\0\1", ")"}, {"\0\2", "("}};
    size_t m = n;
    memcpy(a, t, n);
    for (int p = 0; p < 2; p++) {
        size_t o = 0;
        for (size_t i = 0; i < m;) {
            if (i + 1 < m && a[i] == pats[p][0][0] && a[i + 1] == pats[p][0][1]) {
                a[o++] = pats[p][1][0];
                i += 2;
            } else {
                a[o++] = a[i++];
            }
        }
        m = o;
    }
    a[m] = 0;
    r = a;
    *out_len = m;
    return r;
}

/* Steps 1-2 on an already escaped copy when `weights` is set; the whole
 * text at 1.0 otherwise. */
static int segments(const char *text, size_t len, int weights, cd_prompt_segments *out)
{
    int rc = COMFY_ENOMEM;
    spans sp = {NULL, 0, 0};
    char *esc = malloc(len + 1);
    memset(out, 0, sizeof *out);
    if (!esc)
        goto out;
    memcpy(esc, text, len);
    esc[len] = 0;
    replace2(esc, len, "\\)", "\0\1");
    replace2(esc, len, "\\(", "\0\2");
    if (weights)
        rc = token_weights(esc, 0, len, 1.0, 0, &sp);
    else
        rc = spans_push(&sp, 0, len, 1.0);
    if (rc < 0)
        goto out;
    out->v = calloc(sp.n ? sp.n : 1, sizeof *out->v);
    if (!out->v) {
        rc = COMFY_ENOMEM;
        goto out;
    }
    out->cap = sp.n;
    for (size_t i = 0; i < sp.n; i++) {
        cd_prompt_segment *s = &out->v[out->n];
        s->text = unescape(esc + sp.v[i].off, sp.v[i].len, &s->len);
        if (!s->text) {
            rc = COMFY_ENOMEM;
            goto out;
        }
        s->weight = sp.v[i].w;
        out->n++;
    }
    rc = 0;
out:
    free(esc);
    free(sp.v);
    if (rc < 0)
        cd_prompt_segments_free(out);
    return rc;
}

int cd_prompt_token_weights(const char *text, size_t len, cd_prompt_segments *out)
{
    return segments(text, len, 1, out);
}

/* ---- Windows ------------------------------------------------------------ */

void cd_clip_tw_config_init(cd_clip_tw_config *cfg, const char *embedding_key,
                            size_t embedding_size)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->start_token = CD_CLIP_TOKEN_START;
    cfg->end_token = CD_CLIP_TOKEN_END;
    cfg->pad_token = strcmp(embedding_key, "clip_l") == 0 ? CD_CLIP_TOKEN_END : 0;
    cfg->embedding_size = embedding_size;
    cfg->embedding_key = embedding_key;
}

void cd_clip_tw_list_free(cd_clip_tw_list *l)
{
    for (size_t i = 0; i < l->n_blocks; i++)
        free(l->blocks[i]);
    free(l->blocks);
    free(l->v);
    l->v = NULL;
    l->blocks = NULL;
    l->n_chunks = l->n_blocks = 0;
}

/* The token groups of a prompt before windowing. */
typedef struct groups {
    cd_clip_tw *items;   /* owned */
    size_t n, cap;
    size_t *start;       /* owned: group g is items[start[g] .. start[g+1]) */
    size_t n_groups, cap_groups;
    size_t embed_rows;
} groups;

static int items_push(groups *g, cd_clip_tw it)
{
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 128;
        if (nc > (size_t)CD_PROMPT_MAX_CHUNKS * CD_CLIP_WINDOW)
            nc = (size_t)CD_PROMPT_MAX_CHUNKS * CD_CLIP_WINDOW;
        if (g->n >= nc)
            return COMFY_EINVAL;
        cd_clip_tw *nv = realloc(g->items, nc * sizeof *nv);
        if (!nv)
            return COMFY_ENOMEM;
        g->items = nv;
        g->cap = nc;
    }
    g->items[g->n++] = it;
    return 0;
}

static int group_begin(groups *g)
{
    if (g->n_groups + 1 >= g->cap_groups) {
        size_t nc = g->cap_groups ? g->cap_groups * 2 : 32;
        size_t *nv = realloc(g->start, nc * sizeof *nv);
        if (!nv)
            return COMFY_ENOMEM;
        g->start = nv;
        g->cap_groups = nc;
    }
    g->start[g->n_groups++] = g->n;
    return 0;
}

static int add_block(cd_clip_tw_list *l, float *data)
{
    float **nb = realloc(l->blocks, (l->n_blocks + 1) * sizeof *nb);
    if (!nb)
        return COMFY_ENOMEM;
    l->blocks = nb;
    l->blocks[l->n_blocks++] = data;
    return 0;
}

/* One group of token ids for `word` at `weight`. */
static int tokenize_word(const cd_clip_tokenizer *tok, const char *word, size_t n, double weight,
                         groups *g)
{
    cd_clip_ids ids;
    cd_clip_ids_init(&ids, (size_t)CD_PROMPT_MAX_CHUNKS * CD_CLIP_WINDOW);
    int rc = cd_clip_tokenize(tok, word, n, &ids);
    if (rc == 0)
        rc = group_begin(g);
    for (size_t i = 0; rc == 0 && i < ids.n; i++)
        rc = items_push(g, (cd_clip_tw){ids.v[i], 0, NULL, weight});
    cd_clip_ids_free(&ids);
    return rc;
}

static int ask_embedding(const cd_clip_tw_config *cfg, const char *name, cd_clip_embedding *e)
{
    memset(e, 0, sizeof *e);
    int r = cfg->embed_fn(cfg->embed_ctx, name, cfg->embedding_size, cfg->embedding_key, e);
    if (r <= 0) {
        free(e->data);
        memset(e, 0, sizeof *e);
    }
    return r;
}

/* ComfyUI's "embedding:" handling for one word (the text after the
 * prefix is word[0..n)).  Adds the embedding group when found and returns
 * the leftover text in *left (new string, caller frees; may be empty). */
static int embedding_word(const cd_clip_tw_config *cfg, const char *word, size_t n, double weight,
                          groups *g, cd_clip_tw_list *l, char **left, size_t *left_n)
{
    int rc = 0;
    cd_u32vec cps;
    char *name = NULL, *rest = NULL, *stripped = NULL;
    cd_clip_embedding e = {NULL, 0, 0};
    cd_u32vec_init(&cps, n + 1);
    *left = NULL;
    *left_n = 0;

    /* .strip('\n') */
    while (n && word[0] == '\n')
        word++, n--;
    while (n && word[n - 1] == '\n')
        n--;
    if ((rc = cd_utf8_decode(word, n, &cps)) < 0)
        goto out;
    /* .split(): first word is the name, the others joined by one space. */
    size_t i = 0, nb = 0, ne = 0;
    while (i < cps.n && cd_u_is_space(cps.v[i]))
        i++;
    if (i == cps.n) {
        snprintf(l->error, sizeof l->error, "list index out of range");
        rc = COMFY_EINVAL;
        goto out;
    }
    nb = i;
    while (i < cps.n && !cd_u_is_space(cps.v[i]))
        i++;
    ne = i;
    name = malloc(4 * (ne - nb) + 1);
    rest = malloc(4 * cps.n + 1);
    stripped = malloc(4 * (ne - nb) + 1);
    if (!name || !rest || !stripped) {
        rc = COMFY_ENOMEM;
        goto out;
    }
    size_t name_n = 0, rest_n = 0;
    for (size_t k = nb; k < ne; k++)
        cd_utf8_put(cps.v[k], (unsigned char *)name, &name_n);
    name[name_n] = 0;
    while (i < cps.n) {
        while (i < cps.n && cd_u_is_space(cps.v[i]))
            i++;
        if (i == cps.n)
            break;
        if (rest_n)
            rest[rest_n++] = ' ';
        while (i < cps.n && !cd_u_is_space(cps.v[i]))
            cd_utf8_put(cps.v[i++], (unsigned char *)rest, &rest_n);
    }
    rest[rest_n] = 0;

    int found = ask_embedding(cfg, name, &e);
    if (found < 0) {
        rc = found;
        goto out;
    }
    if (!found) {
        /* Retry with commas stripped from both ends; the leftover becomes
         * name[len(stripped):] + " " + leftover (in code points). */
        size_t sb = 0, se = name_n;
        while (sb < se && name[sb] == ',')
            sb++;
        while (se > sb && name[se - 1] == ',')
            se--;
        if (se - sb < name_n) {
            memcpy(stripped, name + sb, se - sb);
            stripped[se - sb] = 0;
            found = ask_embedding(cfg, stripped, &e);
            if (found < 0) {
                rc = found;
                goto out;
            }
            size_t skip_cp = ne - nb - (name_n - (se - sb)); /* len(stripped) */
            size_t off = 0;
            for (size_t k = 0; k < skip_cp; k++) { /* advance skip_cp code points */
                off++;
                while (off < name_n && ((unsigned char)name[off] & 0xC0) == 0x80)
                    off++;
            }
            char *nl = malloc(name_n - off + 1 + rest_n + 1);
            if (!nl) {
                rc = COMFY_ENOMEM;
                goto out;
            }
            memcpy(nl, name + off, name_n - off);
            nl[name_n - off] = ' ';
            memcpy(nl + name_n - off + 1, rest, rest_n);
            free(rest);
            rest = nl;
            rest_n = name_n - off + 1 + rest_n;
            rest[rest_n] = 0;
        }
    }
    if (!found) {
        if (cfg->warn) {
            char msg[512];
            snprintf(msg, sizeof msg, "warning, embedding:%.*s does not exist, ignoring",
                     (int)(n > 400 ? 400 : n), word);
            cfg->warn(cfg->warn_ctx, msg);
        }
    } else {
        if (g->embed_rows + e.rows > CD_PROMPT_MAX_EMBED_ROWS || e.width > UINT32_MAX ||
            (e.rows && !e.data)) {
            free(e.data);
            snprintf(l->error, sizeof l->error, "too many embedding rows in one prompt");
            rc = COMFY_EINVAL;
            goto out;
        }
        if (e.data && (rc = add_block(l, e.data)) < 0) {
            free(e.data);
            goto out;
        }
        g->embed_rows += e.rows;
        if ((rc = group_begin(g)) < 0)
            goto out;
        for (size_t r = 0; r < e.rows; r++)
            if ((rc = items_push(g, (cd_clip_tw){-1, (uint32_t)e.width, e.data + r * e.width,
                                                 weight})) < 0)
                goto out;
    }
    *left = rest;
    *left_n = rest_n;
    rest = NULL;
out:
    free(name);
    free(rest);
    free(stripped);
    cd_u32vec_free(&cps);
    return rc;
}

/* Step 3-4 for one segment: split before " embedding:" / "\nembedding:". */
static int segment_groups(const cd_clip_tokenizer *tok, const cd_clip_tw_config *cfg,
                          const cd_prompt_segment *seg, groups *g, cd_clip_tw_list *l)
{
    const char *t = seg->text;
    size_t n = seg->len, start = 0, i = 0;
    int rc = 0;
    int first = 1;
    for (;;) {
        /* Find the next separator from i. */
        size_t sep = n;
        for (; i + 1 + EMB_PREFIX_LEN <= n; i++)
            if ((t[i] == ' ' || t[i] == '\n') && memcmp(t + i + 1, EMB_PREFIX, EMB_PREFIX_LEN) == 0) {
                sep = i;
                break;
            }
        /* The piece: t[start..sep), re-prefixed unless it is the first. */
        size_t pb = first ? start : start - EMB_PREFIX_LEN;
        size_t pn = sep - pb;
        if (pn) {
            const char *w = t + pb;
            if (cfg->embed_fn && pn >= EMB_PREFIX_LEN && memcmp(w, EMB_PREFIX, EMB_PREFIX_LEN) == 0) {
                char *left = NULL;
                size_t left_n = 0;
                rc = embedding_word(cfg, w + EMB_PREFIX_LEN, pn - EMB_PREFIX_LEN, seg->weight, g, l,
                                    &left, &left_n);
                if (rc == 0 && left_n)
                    rc = tokenize_word(tok, left, left_n, seg->weight, g);
                free(left);
            } else {
                rc = tokenize_word(tok, w, pn, seg->weight, g);
            }
            if (rc < 0)
                return rc;
        }
        if (sep == n)
            break;
        first = 0;
        start = sep + 1 + EMB_PREFIX_LEN;
        i = start;
    }
    return 0;
}

static int window_push(cd_clip_tw_list *l, size_t *cap, size_t *n, cd_clip_tw it)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : CD_CLIP_WINDOW * 2;
        cd_clip_tw *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return COMFY_ENOMEM;
        l->v = nv;
        *cap = nc;
    }
    l->v[(*n)++] = it;
    return 0;
}

int cd_clip_tokenize_with_weights(const cd_clip_tokenizer *tok, const cd_clip_tw_config *cfg,
                                  const char *text, size_t len, cd_clip_tw_list *out)
{
    int rc;
    cd_prompt_segments segs = {NULL, 0, 0};
    groups g;
    memset(&g, 0, sizeof g);
    memset(out, 0, sizeof *out);
    if (len > CD_CLIP_MAX_TEXT_BYTES) {
        snprintf(out->error, sizeof out->error, "prompt longer than %zu bytes",
                 (size_t)CD_CLIP_MAX_TEXT_BYTES);
        return COMFY_EINVAL;
    }

    if ((rc = segments(text, len, !cfg->disable_weights, &segs)) < 0) {
        if (rc == COMFY_EINVAL)
            snprintf(out->error, sizeof out->error, "prompt nests parentheses too deeply");
        goto fail;
    }
    for (size_t s = 0; s < segs.n; s++)
        if ((rc = segment_groups(tok, cfg, &segs.v[s], &g, out)) < 0)
            goto fail;

    /* Step 5: windows of start + content + end + pad. */
    const size_t max = CD_CLIP_WINDOW;
    const cd_clip_tw start = {cfg->start_token, 0, NULL, 1.0};
    const cd_clip_tw end = {cfg->end_token, 0, NULL, 1.0};
    const cd_clip_tw pad = {cfg->pad_token, 0, NULL, 1.0};
    size_t cap = 0, n = 0, batch = 0; /* batch: index where the current window starts */
    if ((rc = window_push(out, &cap, &n, start)) < 0)
        goto fail;
    for (size_t k = 0; k < g.n_groups; k++) {
        size_t gb = g.start[k], ge = k + 1 < g.n_groups ? g.start[k + 1] : g.n;
        int is_large = ge - gb >= 8;
        while (gb < ge) {
            size_t blen = n - batch;
            if ((ge - gb) + blen > max - 1) {
                size_t remaining = max - blen - 1;
                if (is_large) {
                    for (size_t r = 0; r < remaining; r++)
                        if ((rc = window_push(out, &cap, &n, g.items[gb + r])) < 0)
                            goto fail;
                    gb += remaining;
                    if ((rc = window_push(out, &cap, &n, end)) < 0)
                        goto fail;
                } else {
                    if ((rc = window_push(out, &cap, &n, end)) < 0)
                        goto fail;
                    for (size_t r = 0; r < remaining; r++)
                        if ((rc = window_push(out, &cap, &n, pad)) < 0)
                            goto fail;
                }
                if (n / max >= CD_PROMPT_MAX_CHUNKS) {
                    snprintf(out->error, sizeof out->error, "prompt longer than %d windows",
                             CD_PROMPT_MAX_CHUNKS);
                    rc = COMFY_EINVAL;
                    goto fail;
                }
                batch = n;
                if ((rc = window_push(out, &cap, &n, start)) < 0)
                    goto fail;
            } else {
                for (; gb < ge; gb++)
                    if ((rc = window_push(out, &cap, &n, g.items[gb])) < 0)
                        goto fail;
            }
        }
    }
    if ((rc = window_push(out, &cap, &n, end)) < 0)
        goto fail;
    while (n - batch < max)
        if ((rc = window_push(out, &cap, &n, pad)) < 0)
            goto fail;
    out->n_chunks = n / max;
    free(g.items);
    free(g.start);
    cd_prompt_segments_free(&segs);
    return 0;
fail:
    free(g.items);
    free(g.start);
    cd_prompt_segments_free(&segs);
    if (rc == COMFY_EINVAL && !out->error[0])
        snprintf(out->error, sizeof out->error, "prompt has more tokens than %d windows hold",
                 CD_PROMPT_MAX_CHUNKS);
    {
        char keep[sizeof out->error];
        memcpy(keep, out->error, sizeof keep);
        cd_clip_tw_list_free(out);
        memcpy(out->error, keep, sizeof keep);
    }
    return rc;
}

int cd_clip_tw_list_append(cd_clip_tw_list *dst, const cd_clip_tw_list *src)
{
    size_t n = dst->n_chunks + src->n_chunks;
    if (n > CD_PROMPT_MAX_CHUNKS)
        return COMFY_EINVAL;
    if (!src->n_chunks)
        return 0;
    cd_clip_tw *v = realloc(dst->v, n * CD_CLIP_WINDOW * sizeof *v);
    if (!v)
        return COMFY_ENOMEM;
    memcpy(v + dst->n_chunks * CD_CLIP_WINDOW, src->v, src->n_chunks * CD_CLIP_WINDOW * sizeof *v);
    dst->v = v;
    dst->n_chunks = n;
    return 0;
}
