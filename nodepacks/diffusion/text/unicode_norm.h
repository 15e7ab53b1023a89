/*
 * unicode_norm.h — the text clean-up in front of CLIP's BPE: code-point
 * classification, NFC normalisation and Python's str.lower(), over arrays
 * of code points.  Internal to the text library.  Pure functions over
 * read-only tables: any thread.
 */
#ifndef CD_UNICODE_NORM_H
#define CD_UNICODE_NORM_H

#include <stddef.h>
#include <stdint.h>

/* A growable array of code points with a ceiling fixed at init. */
typedef struct cd_u32vec {
    uint32_t *v;   /* owned; free with cd_u32vec_free */
    size_t n, cap, max;
} cd_u32vec;

void cd_u32vec_init(cd_u32vec *a, size_t max);
void cd_u32vec_free(cd_u32vec *a);
/* Appends one code point.  0, or COMFY_ENOMEM / COMFY_EINVAL (ceiling). */
int cd_u32vec_push(cd_u32vec *a, uint32_t cp);

/* Decodes UTF-8 into `out` (appending).  Ill-formed sequences (overlong,
 * surrogates, truncated, > U+10FFFF) each become one U+FFFD, which the
 * clean-up then drops.  0 or the push error. */
int cd_utf8_decode(const char *s, size_t len, cd_u32vec *out);
/* Appends the UTF-8 encoding of `cp` (a valid scalar) to buf[*n], which
 * must have 4 bytes free. */
void cd_utf8_put(uint32_t cp, unsigned char *buf, size_t *n);

int cd_u_is_cat_c(uint32_t cp);      /* general category C*        */
int cd_u_is_zs(uint32_t cp);         /* general category Zs        */
int cd_u_is_space(uint32_t cp);      /* Python str.isspace()       */
/* The pattern's classes, compiled IGNORECASE (U+0345 is in none). */
int cd_u_is_letter(uint32_t cp);     /* regex [\p{L}]              */
int cd_u_is_number(uint32_t cp);     /* regex [\p{N}]              */
int cd_u_is_other(uint32_t cp);      /* regex [^\s\p{L}\p{N}]      */
int cd_u_is_cjk(uint32_t cp);        /* BERT's "Chinese character" */
/* The decimal digit value of cp (0..9, any script), or -1. */
int cd_u_decimal(uint32_t cp);

/* Replaces `a` by its NFC form (Python unicodedata.normalize("NFC")).
 * 0 or a push error (`a` is then unchanged). */
int cd_u_nfc(cd_u32vec *a);

/* Appends Python's str.lower() of w[0..n) (full mappings, final sigma
 * decided within w) to out.  0 or a push error. */
int cd_u_to_lower(const uint32_t *w, size_t n, cd_u32vec *out);

#endif
