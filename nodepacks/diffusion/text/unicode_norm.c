/*
 * unicode_norm.c — code-point classes, NFC and str.lower() for the CLIP
 * tokenizer, driven by the generated tables in unicode_tables.h.
 */
#include "unicode_norm.h"

#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>

#include "unicode_tables.h"

/* Hangul syllable algorithm constants (Unicode ch. 3.12). */
#define H_SBASE 0xAC00u
#define H_LBASE 0x1100u
#define H_VBASE 0x1161u
#define H_TBASE 0x11A7u
#define H_LCOUNT 19u
#define H_VCOUNT 21u
#define H_TCOUNT 28u
#define H_NCOUNT (H_VCOUNT * H_TCOUNT)
#define H_SCOUNT (H_LCOUNT * H_NCOUNT)

void cd_u32vec_init(cd_u32vec *a, size_t max)
{
    a->v = NULL;
    a->n = a->cap = 0;
    a->max = max;
}

void cd_u32vec_free(cd_u32vec *a)
{
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

int cd_u32vec_push(cd_u32vec *a, uint32_t cp)
{
    if (a->n >= a->max)
        return COMFY_EINVAL;
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        if (nc > a->max)
            nc = a->max;
        uint32_t *nv = realloc(a->v, nc * sizeof *nv);
        if (!nv)
            return COMFY_ENOMEM;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = cp;
    return 0;
}

int cd_utf8_decode(const char *str, size_t len, cd_u32vec *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        uint32_t cp;
        size_t need;
        uint32_t min;
        if (c < 0x80) {
            cp = c; need = 0; min = 0;
        } else if (c >= 0xC2 && c <= 0xDF) {
            cp = c & 0x1F; need = 1; min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            cp = c & 0x0F; need = 2; min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            cp = c & 0x07; need = 3; min = 0x10000;
        } else {
            i++;
            int rc = cd_u32vec_push(out, 0xFFFD);
            if (rc < 0)
                return rc;
            continue;
        }
        size_t k = 1;
        for (; k <= need; k++) {
            if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
                break;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (k <= need || cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            /* Ill-formed: consume the lead and the continuation bytes read. */
            cp = 0xFFFD;
            i += k;
        } else {
            i += need + 1;
        }
        int rc = cd_u32vec_push(out, cp);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void cd_utf8_put(uint32_t cp, unsigned char *b, size_t *n)
{
    if (cp < 0x80) {
        b[(*n)++] = (unsigned char)cp;
    } else if (cp < 0x800) {
        b[(*n)++] = (unsigned char)(0xC0 | (cp >> 6));
        b[(*n)++] = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        b[(*n)++] = (unsigned char)(0xE0 | (cp >> 12));
        b[(*n)++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[(*n)++] = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        b[(*n)++] = (unsigned char)(0xF0 | (cp >> 18));
        b[(*n)++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        b[(*n)++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[(*n)++] = (unsigned char)(0x80 | (cp & 0x3F));
    }
}

static int in_ranges(const cd_u_range *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

int cd_u_is_cat_c(uint32_t cp) { return in_ranges(cd_u_cat_c, cd_u_cat_c_n, cp); }
int cd_u_is_zs(uint32_t cp) { return in_ranges(cd_u_cat_zs, cd_u_cat_zs_n, cp); }
int cd_u_is_space(uint32_t cp) { return in_ranges(cd_u_isspace, cd_u_isspace_n, cp); }

int cd_u_is_letter(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    return in_ranges(cd_u_letter, cd_u_letter_n, cp);
}

int cd_u_is_number(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= '0' && cp <= '9';
    return in_ranges(cd_u_number, cd_u_number_n, cp);
}

int cd_u_is_other(uint32_t cp)
{
    if (cp < 0x80)
        return cp != ' ' && !(cp >= '\t' && cp <= '\r') && !(cp >= 'a' && cp <= 'z') &&
               !(cp >= 'A' && cp <= 'Z') && !(cp >= '0' && cp <= '9');
    return in_ranges(cd_u_other, cd_u_other_n, cp);
}

int cd_u_decimal(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= '0' && cp <= '9' ? (int)(cp - '0') : -1;
    size_t lo = 0, hi = cd_u_decimal_zero_n;
    while (lo < hi) { /* last zero <= cp */
        size_t mid = lo + (hi - lo) / 2;
        if (cd_u_decimal_zero[mid] <= cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || cp - cd_u_decimal_zero[lo - 1] > 9)
        return -1;
    return (int)(cp - cd_u_decimal_zero[lo - 1]);
}

int cd_u_is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static unsigned ccc_of(uint32_t cp)
{
    if (cp < 0x300)
        return 0;
    size_t lo = 0, hi = cd_u_ccc_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < cd_u_ccc[mid].lo)
            hi = mid;
        else if (cp > cd_u_ccc[mid].hi)
            lo = mid + 1;
        else
            return cd_u_ccc[mid].ccc;
    }
    return 0;
}

static const cd_u_decomp *decomp_of(uint32_t cp)
{
    size_t lo = 0, hi = cd_u_decomps_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < cd_u_decomps[mid].cp)
            hi = mid;
        else if (cp > cd_u_decomps[mid].cp)
            lo = mid + 1;
        else
            return &cd_u_decomps[mid];
    }
    return NULL;
}

/* Full canonical decomposition of cp, appended to out. */
static int decompose(uint32_t cp, cd_u32vec *out, int depth)
{
    int rc;
    if (cp >= H_SBASE && cp < H_SBASE + H_SCOUNT) {
        uint32_t s = cp - H_SBASE;
        if ((rc = cd_u32vec_push(out, H_LBASE + s / H_NCOUNT)) < 0)
            return rc;
        if ((rc = cd_u32vec_push(out, H_VBASE + (s % H_NCOUNT) / H_TCOUNT)) < 0)
            return rc;
        if (s % H_TCOUNT)
            return cd_u32vec_push(out, H_TBASE + s % H_TCOUNT);
        return 0;
    }
    const cd_u_decomp *d = cp >= 0xC0 && depth < 8 ? decomp_of(cp) : NULL;
    if (!d)
        return cd_u32vec_push(out, cp);
    if ((rc = decompose(d->a, out, depth + 1)) < 0)
        return rc;
    if (d->b)
        return decompose(d->b, out, depth + 1);
    return 0;
}

/* The primary composite of (a, b), or 0. */
static uint32_t compose(uint32_t a, uint32_t b)
{
    if (a >= H_LBASE && a < H_LBASE + H_LCOUNT && b >= H_VBASE && b < H_VBASE + H_VCOUNT)
        return H_SBASE + ((a - H_LBASE) * H_VCOUNT + (b - H_VBASE)) * H_TCOUNT;
    if (a >= H_SBASE && a < H_SBASE + H_SCOUNT && (a - H_SBASE) % H_TCOUNT == 0 &&
        b > H_TBASE && b < H_TBASE + H_TCOUNT)
        return a + (b - H_TBASE);
    size_t lo = 0, hi = cd_u_composes_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const cd_u_compose *c = &cd_u_composes[mid];
        if (a < c->a || (a == c->a && b < c->b))
            hi = mid;
        else if (a > c->a || b > c->b)
            lo = mid + 1;
        else
            return c->cp;
    }
    return 0;
}

int cd_u_nfc(cd_u32vec *a)
{
    /* Fast path: ASCII and Latin-1 below U+0300 never change under NFC. */
    size_t i;
    for (i = 0; i < a->n; i++)
        if (a->v[i] >= 0x300)
            break;
    if (i == a->n)
        return 0;

    cd_u32vec d;
    cd_u32vec_init(&d, a->max);
    int rc = 0;
    for (i = 0; i < a->n; i++)
        if ((rc = decompose(a->v[i], &d, 0)) < 0)
            goto out;

    /* Canonical ordering: stable insertion sort of each non-starter run. */
    for (i = 1; i < d.n; i++) {
        unsigned c = ccc_of(d.v[i]);
        if (!c)
            continue;
        size_t j = i;
        uint32_t cp = d.v[i];
        while (j > 0) {
            unsigned p = ccc_of(d.v[j - 1]);
            if (p <= c)
                break;
            d.v[j] = d.v[j - 1];
            j--;
        }
        d.v[j] = cp;
    }

    /* Canonical composition, in place over d. */
    size_t n = 0;
    long starter = -1;
    unsigned last = 0;
    for (i = 0; i < d.n; i++) {
        uint32_t cp = d.v[i];
        unsigned c = ccc_of(cp);
        if (starter >= 0 && (n == (size_t)starter + 1 || last < c)) {
            uint32_t comp = compose(d.v[starter], cp);
            if (comp) {
                d.v[starter] = comp;
                continue;
            }
        }
        if (c == 0)
            starter = (long)n;
        last = c;
        d.v[n++] = cp;
    }
    d.n = n;

    free(a->v);
    a->v = d.v;
    a->n = d.n;
    a->cap = d.cap;
    return 0;
out:
    cd_u32vec_free(&d);
    return rc;
}

static const cd_u_lower *lower_of(uint32_t cp)
{
    size_t lo = 0, hi = cd_u_lowers_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < cd_u_lowers[mid].cp)
            hi = mid;
        else if (cp > cd_u_lowers[mid].cp)
            lo = mid + 1;
        else
            return &cd_u_lowers[mid];
    }
    return NULL;
}

static int is_cased(uint32_t cp) { return in_ranges(cd_u_cased, cd_u_cased_n, cp); }
static int is_ignorable(uint32_t cp)
{
    return in_ranges(cd_u_case_ignorable, cd_u_case_ignorable_n, cp);
}

/* CPython's rule for U+03A3 at w[i]: final sigma when preceded by a cased
 * letter (skipping case-ignorables) and not followed by one. */
static int final_sigma(const uint32_t *w, size_t n, size_t i)
{
    size_t j = i;
    while (j > 0 && is_ignorable(w[j - 1]))
        j--;
    if (j == 0 || !is_cased(w[j - 1]))
        return 0;
    j = i + 1;
    while (j < n && is_ignorable(w[j]))
        j++;
    return j == n || !is_cased(w[j]);
}

int cd_u_to_lower(const uint32_t *w, size_t n, cd_u32vec *out)
{
    int rc;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = w[i];
        if (cp < 0x80) {
            if (cp >= 'A' && cp <= 'Z')
                cp += 32;
            if ((rc = cd_u32vec_push(out, cp)) < 0)
                return rc;
            continue;
        }
        if (cp == 0x3A3) {
            if ((rc = cd_u32vec_push(out, final_sigma(w, n, i) ? 0x3C2 : 0x3C3)) < 0)
                return rc;
            continue;
        }
        const cd_u_lower *l = lower_of(cp);
        if (!l) {
            if ((rc = cd_u32vec_push(out, cp)) < 0)
                return rc;
            continue;
        }
        for (unsigned k = 0; k < l->n; k++)
            if ((rc = cd_u32vec_push(out, l->to[k])) < 0)
                return rc;
    }
    return 0;
}
