/* pyjson.c — see pyjson.h. */
#include "pyjson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cd_json_is_uint64(const struct json_object *o, uint64_t *out)
{
    if (json_object_get_type(o) != json_type_int)
        return 0;
    /* json-c clamps get_int64 of a uint64 above INT64_MAX to INT64_MAX. */
    if (json_object_get_int64(o) != INT64_MAX)
        return 0;
    uint64_t u = json_object_get_uint64(o);
    if (u <= (uint64_t)INT64_MAX)
        return 0;
    if (out)
        *out = u;
    return 1;
}

int cd_json_dump_int(cd_buf *b, const struct json_object *o)
{
    uint64_t u;
    if (cd_json_is_uint64(o, &u))
        return cd_buf_printf(b, "%llu", (unsigned long long)u);
    return cd_buf_printf(b, "%lld", (long long)json_object_get_int64(o));
}

int cd_json_dump_double(cd_buf *b, double d)
{
    if (isnan(d))
        return cd_buf_puts(b, "NaN");
    if (isinf(d))
        return cd_buf_puts(b, d < 0 ? "-Infinity" : "Infinity");
    if (d == 0.0)
        return cd_buf_puts(b, signbit(d) ? "-0.0" : "0.0");

    /* Shortest precision that round-trips, as Python's repr. */
    char sci[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, d);
        if (strtod(sci, NULL) == d)
            break;
    }
    /* sci is "[-]D[.DDD]e[+-]XX": split into digits and exponent. */
    char digits[24];
    size_t nd = 0;
    const char *p = sci;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && nd < sizeof digits - 1)
            digits[nd++] = *p;
    digits[nd] = '\0';
    int exp10 = (*p == 'e') ? (int)strtol(p + 1, NULL, 10) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        digits[--nd] = '\0';

    char out[64];
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -exp10 - 1; i++)
                out[o++] = '0';
            for (size_t i = 0; i < nd; i++)
                out[o++] = digits[i];
        } else {
            size_t intlen = (size_t)exp10 + 1;
            for (size_t i = 0; i < intlen; i++)
                out[o++] = i < nd ? digits[i] : '0';
            out[o++] = '.';
            if (nd > intlen)
                for (size_t i = intlen; i < nd; i++)
                    out[o++] = digits[i];
            else
                out[o++] = '0';
        }
        out[o] = '\0';
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (size_t i = 1; i < nd; i++)
                out[o++] = digits[i];
        }
        snprintf(out + o, sizeof out - o, "e%c%02d", exp10 < 0 ? '-' : '+',
                 exp10 < 0 ? -exp10 : exp10);
    }
    return cd_buf_puts(b, out);
}

/* Decodes one UTF-8 sequence at s[0..n).  Returns its length and the code
 * point in *cp, or 1 with U+FFFD for an invalid byte. */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2; min = 0x80; c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3; min = 0x800; c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4; min = 0x10000; c &= 0x07;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if (len > n)
        goto bad;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            goto bad;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        goto bad;
    *cp = c;
    return len;
bad:
    *cp = 0xFFFD;
    return 1;
}

int cd_json_dump_string(cd_buf *b, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    if (cd_buf_putc(b, '"') < 0)
        return -1;
    size_t i = 0;
    while (i < len) {
        /* Copy a run of plain ASCII at once. */
        size_t j = i;
        while (j < len && s[j] >= 0x20 && s[j] < 0x7F && s[j] != '"' &&
               s[j] != '\\')
            j++;
        if (j > i && cd_buf_append(b, s + i, j - i) < 0)
            return -1;
        if (j >= len)
            break;
        i = j;
        unsigned cp;
        size_t n = utf8_next(s + i, len - i, &cp);
        i += n;
        int rc;
        switch (cp) {
        case '"': rc = cd_buf_puts(b, "\\\""); break;
        case '\\': rc = cd_buf_puts(b, "\\\\"); break;
        case '\n': rc = cd_buf_puts(b, "\\n"); break;
        case '\r': rc = cd_buf_puts(b, "\\r"); break;
        case '\t': rc = cd_buf_puts(b, "\\t"); break;
        case '\b': rc = cd_buf_puts(b, "\\b"); break;
        case '\f': rc = cd_buf_puts(b, "\\f"); break;
        default:
            if (cp >= 0x10000) {
                unsigned v = cp - 0x10000;
                rc = cd_buf_printf(b, "\\u%04x\\u%04x", 0xD800 + (v >> 10),
                                   0xDC00 + (v & 0x3FF));
            } else {
                rc = cd_buf_printf(b, "\\u%04x", cp);
            }
        }
        if (rc < 0)
            return -1;
    }
    return cd_buf_putc(b, '"');
}

int cd_json_dump(cd_buf *b, const struct json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_null:
        return cd_buf_puts(b, "null");
    case json_type_boolean:
        return cd_buf_puts(b, json_object_get_boolean(o) ? "true" : "false");
    case json_type_int:
        return cd_json_dump_int(b, o);
    case json_type_double:
        return cd_json_dump_double(b, json_object_get_double(o));
    case json_type_string:
        return cd_json_dump_string(b, json_object_get_string((struct json_object *)o),
                                   (size_t)json_object_get_string_len(o));
    case json_type_array: {
        size_t n = json_object_array_length(o);
        if (cd_buf_putc(b, '[') < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            if (i && cd_buf_puts(b, ", ") < 0)
                return -1;
            if (cd_json_dump(b, json_object_array_get_idx(o, i)) < 0)
                return -1;
        }
        return cd_buf_putc(b, ']');
    }
    case json_type_object: {
        if (cd_buf_putc(b, '{') < 0)
            return -1;
        int first = 1;
        struct json_object_iterator it = json_object_iter_begin((struct json_object *)o);
        struct json_object_iterator end = json_object_iter_end(o);
        while (!json_object_iter_equal(&it, &end)) {
            const char *k = json_object_iter_peek_name(&it);
            if (!first && cd_buf_puts(b, ", ") < 0)
                return -1;
            first = 0;
            if (cd_json_dump_string(b, k, strlen(k)) < 0 ||
                cd_buf_puts(b, ": ") < 0 ||
                cd_json_dump(b, json_object_iter_peek_value(&it)) < 0)
                return -1;
            json_object_iter_next(&it);
        }
        return cd_buf_putc(b, '}');
    }
    }
    return -1;
}

/* Whether the digits d[0..n) (no sign, no leading zeros beyond one "0")
 * are at most the decimal `limit`. */
static int digits_le(const char *d, size_t n, const char *limit)
{
    size_t ln = strlen(limit);
    if (n != ln)
        return n < ln;
    return memcmp(d, limit, n) <= 0;
}

/* json-c silently clamps integers outside int64/uint64 (a seed of 2^64
 * would read as 2^64 - 1).  Python keeps them exactly; we cannot, so such
 * a document is refused instead of changed.  Returns the offset of the
 * first out-of-range integer literal, or (size_t)-1 when there is none. */
static size_t find_wide_integer(const char *t, size_t len)
{
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
            continue;
        }
        if (c != '-' && !(c >= '0' && c <= '9'))
            continue;
        size_t start = i;
        int neg = c == '-';
        if (neg)
            i++;
        size_t d0 = i;
        while (i < len && t[i] >= '0' && t[i] <= '9')
            i++;
        size_t nd = i - d0;
        int is_int = !(i < len && (t[i] == '.' || t[i] == 'e' || t[i] == 'E'));
        /* skip the rest of a float literal */
        while (i < len && ((t[i] >= '0' && t[i] <= '9') || t[i] == '.' || t[i] == 'e' ||
                           t[i] == 'E' || t[i] == '+' || t[i] == '-'))
            i++;
        if (is_int && nd > 0 &&
            !digits_le(t + d0, nd, neg ? "9223372036854775808" : "18446744073709551615"))
            return start;
        i--; /* the loop's i++ */
    }
    return (size_t)-1;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* json-c 0.16 decodes some escaped surrogate pairs to U+FFFD (those whose
 * high surrogate ends in 0x36/0x37 modulo 0x40, e.g. "\ud837\ude00"),
 * while Python's ensure_ascii output is full of them.  So pairs inside
 * strings are decoded here, to raw UTF-8, before json-c sees the text.
 * Returns a new buffer (caller frees) with its length in *out_len, or NULL
 * when there is nothing to rewrite or memory runs out. */
static char *decode_surrogate_pairs(const char *t, size_t len, size_t *out_len)
{
    int any = 0;
    for (size_t i = 0; i + 1 < len; i++)
        if (t[i] == '\\' && (t[i + 1] == 'u' || t[i + 1] == 'U')) {
            any = 1;
            break;
        }
    if (!any)
        return NULL;
    char *o = malloc(len + 1);
    if (!o)
        return NULL;
    size_t n = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (!in_str) {
            if (c == '"')
                in_str = 1;
            o[n++] = c;
            continue;
        }
        if (c == '"') {
            in_str = 0;
            o[n++] = c;
            continue;
        }
        if (c != '\\') {
            o[n++] = c;
            continue;
        }
        unsigned hi, lo;
        if (i + 11 < len && t[i + 1] == 'u' && hex4(t + i + 2, &hi) == 0 &&
            hi >= 0xD800 && hi <= 0xDBFF && t[i + 6] == '\\' && t[i + 7] == 'u' &&
            hex4(t + i + 8, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
            unsigned cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            o[n++] = (char)(0xF0 | (cp >> 18));
            o[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            o[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            o[n++] = (char)(0x80 | (cp & 0x3F));
            i += 11;
            continue;
        }
        /* any other escape: copy it and the escaped character as they are */
        o[n++] = c;
        if (i + 1 < len)
            o[n++] = t[++i];
    }
    o[n] = '\0';
    *out_len = n;
    return o;
}

struct json_object *cd_json_parse(const char *text, size_t len, int max_depth,
                                  char *err, size_t cap)
{
    if (len > (size_t)INT32_MAX) {
        snprintf(err, cap, "JSON document too large");
        return NULL;
    }
    size_t wide = find_wide_integer(text, len);
    if (wide != (size_t)-1) {
        snprintf(err, cap, "integer out of the 64-bit range at char %zu", wide);
        return NULL;
    }
    size_t dlen = 0;
    char *decoded = decode_surrogate_pairs(text, len, &dlen);
    if (decoded) {
        text = decoded;
        len = dlen;
    }
    struct json_tokener *tok = json_tokener_new_ex(max_depth);
    if (!tok) {
        snprintf(err, cap, "out of memory");
        free(decoded);
        return NULL;
    }
    /* Strict: refuses what Python's json.loads refuses too (trailing
     * commas, comments, leading zeros, "nan"); NaN and Infinity pass. */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    int fed_terminator = 0;
    if (e == json_tokener_continue) {
        /* Input ended inside a value (a bare number, say): feed the
         * terminator json-c needs.  All of `text` was consumed then. */
        o = json_tokener_parse_ex(tok, "", 1);
        e = json_tokener_get_error(tok);
        fed_terminator = 1;
    }
    if (!o || e != json_tokener_success) {
        snprintf(err, cap, "%s at char %zu",
                 json_tokener_error_desc(e == json_tokener_success ?
                                         json_tokener_error_parse_eof : e),
                 json_tokener_get_parse_end(tok));
        json_object_put(o);
        o = NULL;
    } else if (!fed_terminator) {
        /* Only whitespace may follow the document. */
        size_t end = json_tokener_get_parse_end(tok);
        for (size_t i = end; i < len; i++) {
            char c = text[i];
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                snprintf(err, cap, "Extra data at char %zu", i);
                json_object_put(o);
                o = NULL;
                break;
            }
        }
    }
    json_tokener_free(tok);
    free(decoded);
    return o;
}

char *cd_json_to_string(const struct json_object *o, size_t max)
{
    cd_buf b;
    cd_buf_init(&b, max);
    if (cd_json_dump(&b, o) < 0) {
        cd_buf_free(&b);
        return NULL;
    }
    return cd_buf_steal(&b, NULL);
}
