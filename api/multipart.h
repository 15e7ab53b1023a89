/*
 * multipart.h — a bounded multipart/form-data parser over a body already in
 * memory (the uploads of spec/api.md §1.6-1.7).  Parts point into the body;
 * nothing is copied except the short header values.  Thread-safe.
 */
#ifndef CD_API_MULTIPART_H
#define CD_API_MULTIPART_H

#include <stddef.h>

#define CD_MP_MAX_PARTS 64

typedef struct cd_part {
    char name[256];          /* form field name                          */
    char filename[1024];     /* "" when the part is not a file           */
    int is_file;             /* a non-empty filename was given           */
    const char *data;        /* borrowed from the body                   */
    size_t len;
} cd_part;

typedef struct cd_multipart {
    cd_part parts[CD_MP_MAX_PARTS];
    size_t n;
} cd_multipart;

/* Extracts the boundary from a Content-Type value into out[cap].  0, or -1
 * when the type is not multipart/form-data or has no boundary. */
int cd_mp_boundary(const char *content_type, char *out, size_t cap);

/* Parses body[0..len) with `boundary`.  0, or -1 when the body is
 * malformed (no opening boundary, a part without its closing boundary,
 * headers that do not end, more than CD_MP_MAX_PARTS parts). */
int cd_mp_parse(const char *body, size_t len, const char *boundary,
                cd_multipart *mp);

/* The first part named `name`, or NULL. */
const cd_part *cd_mp_get(const cd_multipart *mp, const char *name);

#endif
