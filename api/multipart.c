/*
 * multipart.c — see multipart.h.  RFC 7578 form data: parts separated by
 * "--boundary" lines, each with headers (Content-Disposition carries name
 * and filename), a blank line, then the bytes up to "\r\n--boundary".
 */
#include "multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *memfind(const char *h, size_t hl, const char *n, size_t nl)
{
    if (nl == 0 || hl < nl) return NULL;
    const char *end = h + hl - nl;
    for (const char *p = h; p <= end; p++) {
        p = memchr(p, n[0], (size_t)(end - p) + 1);
        if (!p) return NULL;
        if (memcmp(p, n, nl) == 0) return p;
    }
    return NULL;
}

int cd_mp_boundary(const char *ct, char *out, size_t cap)
{
    if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0) return -1;
    const char *b = strcasestr(ct, "boundary=");
    if (!b) return -1;
    b += 9;
    size_t n;
    if (*b == '"') {
        b++;
        const char *e = strchr(b, '"');
        if (!e) return -1;
        n = (size_t)(e - b);
    } else {
        n = strcspn(b, "; \t");
    }
    if (n == 0 || n > 200 || n + 1 > cap) return -1;
    memcpy(out, b, n);
    out[n] = '\0';
    return 0;
}

/* Copies the value of parameter `key` (name= / filename=) of a
 * Content-Disposition header line into out.  1 found, 0 not. */
static int disp_param(const char *line, size_t len, const char *key, char *out,
                      size_t cap)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl < len; i++) {
        if ((i == 0 || line[i - 1] == ';' || line[i - 1] == ' ' || line[i - 1] == '\t') &&
            strncasecmp(line + i, key, kl) == 0 && line[i + kl] == '=') {
            const char *v = line + i + kl + 1;
            const char *end = line + len;
            size_t n = 0;
            if (v < end && *v == '"') {
                v++;
                while (v < end && *v != '"' && n + 1 < cap) {
                    if (*v == '\\' && v + 1 < end) v++;
                    out[n++] = *v++;
                }
            } else {
                while (v < end && *v != ';' && n + 1 < cap) out[n++] = *v++;
                while (n && isspace((unsigned char)out[n - 1])) n--;
            }
            out[n] = '\0';
            return 1;
        }
    }
    return 0;
}

int cd_mp_parse(const char *body, size_t len, const char *boundary, cd_multipart *mp)
{
    char delim[256];
    size_t dl;
    const char *p, *end = body + len;

    memset(mp, 0, sizeof(*mp));
    dl = (size_t)snprintf(delim, sizeof(delim), "--%s", boundary);
    if (dl >= sizeof(delim)) return -1;
    p = memfind(body, len, delim, dl);
    if (!p) return -1;
    p += dl;
    for (;;) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') return 0;   /* final */
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') p += 2;
        else if (p < end && *p == '\n') p++;
        else return -1;
        if (mp->n >= CD_MP_MAX_PARTS) return -1;
        cd_part *part = &mp->parts[mp->n];
        memset(part, 0, sizeof(*part));
        /* headers */
        for (;;) {
            const char *eol = memchr(p, '\n', (size_t)(end - p));
            if (!eol) return -1;
            size_t ll = (size_t)(eol - p);
            if (ll && p[ll - 1] == '\r') ll--;
            if (ll == 0) {
                p = eol + 1;
                break;
            }
            if (ll > 20 && strncasecmp(p, "content-disposition:", 20) == 0) {
                disp_param(p + 20, ll - 20, "name", part->name, sizeof(part->name));
                if (disp_param(p + 20, ll - 20, "filename", part->filename,
                               sizeof(part->filename)) && part->filename[0])
                    part->is_file = 1;
            }
            p = eol + 1;
        }
        /* data up to CRLF--boundary */
        char crdelim[260];
        size_t cl = (size_t)snprintf(crdelim, sizeof(crdelim), "\r\n%s", delim);
        const char *q = memfind(p, (size_t)(end - p), crdelim, cl);
        if (!q) return -1;
        part->data = p;
        part->len = (size_t)(q - p);
        mp->n++;
        p = q + cl;
    }
}

const cd_part *cd_mp_get(const cd_multipart *mp, const char *name)
{
    for (size_t i = 0; i < mp->n; i++)
        if (strcmp(mp->parts[i].name, name) == 0) return &mp->parts[i];
    return NULL;
}
