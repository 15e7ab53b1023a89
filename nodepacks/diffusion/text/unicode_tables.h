/*
 * unicode_tables.h — Unicode property tables for the CLIP tokenizer.
 *
 * The definitions live in generated/unicode_tables.c, written by
 * gen/make_unicode_tables.py from the Python interpreter (unicodedata) and
 * `regex` module that the reference tokenizer ran on, so that every
 * property matches the reference exactly.  Read-only data; any thread.
 */
#ifndef CD_UNICODE_TABLES_H
#define CD_UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

typedef struct cd_u_range { uint32_t lo, hi; } cd_u_range;
typedef struct cd_u_ccc_range { uint32_t lo, hi; uint8_t ccc; } cd_u_ccc_range;
typedef struct cd_u_decomp { uint32_t cp, a, b; } cd_u_decomp;     /* b = 0: singleton */
typedef struct cd_u_compose { uint32_t a, b, cp; } cd_u_compose;
typedef struct cd_u_lower { uint32_t cp; uint8_t n; uint32_t to[3]; } cd_u_lower;

/* "Python x.y.z, Unicode a.b.c, regex v": where the tables came from. */
extern const char cd_u_version[];

/* Sorted, disjoint code-point ranges. */
extern const cd_u_range cd_u_cat_c[];          extern const size_t cd_u_cat_c_n;
extern const cd_u_range cd_u_cat_zs[];         extern const size_t cd_u_cat_zs_n;
extern const cd_u_range cd_u_isspace[];        extern const size_t cd_u_isspace_n;
extern const cd_u_range cd_u_letter[];         extern const size_t cd_u_letter_n;
extern const cd_u_range cd_u_number[];         extern const size_t cd_u_number_n;
extern const cd_u_range cd_u_other[];          extern const size_t cd_u_other_n;
extern const cd_u_range cd_u_cased[];          extern const size_t cd_u_cased_n;
extern const cd_u_range cd_u_case_ignorable[]; extern const size_t cd_u_case_ignorable_n;

/* Sorted code points of each decimal digit zero (digit k is zero + k). */
extern const uint32_t cd_u_decimal_zero[];     extern const size_t cd_u_decimal_zero_n;

/* Non-zero canonical combining classes, sorted ranges. */
extern const cd_u_ccc_range cd_u_ccc[];        extern const size_t cd_u_ccc_n;
/* One level of canonical decomposition, sorted by cp (no Hangul). */
extern const cd_u_decomp cd_u_decomps[];       extern const size_t cd_u_decomps_n;
/* Primary composites, sorted by (a, b) (no Hangul). */
extern const cd_u_compose cd_u_composes[];     extern const size_t cd_u_composes_n;
/* str.lower() of single characters where it is not the identity, by cp. */
extern const cd_u_lower cd_u_lowers[];         extern const size_t cd_u_lowers_n;

#endif
