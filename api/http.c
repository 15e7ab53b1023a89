/*
 * http.c — request helpers (query strings, JSON bodies) and the response
 * forms of spec/api.md §0.3, including file responses with Range, ETag and
 * conditional requests.  Network thread only.
 */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pyjson.h"

#define RESP_BODY_MAX ((size_t)1 << 31)   /* ceiling of a memory body */

/* ---- requests ------------------------------------------------------------ */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *cd_url_decode(const char *s, size_t len, int plus_space)
{
    char *out = malloc(len + 1);
    size_t j = 0;
    if (!out) return NULL;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            out[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (plus_space && s[i] == '+') {
            out[j++] = ' ';
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

int cd_req_parse_query(cd_req *r, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i, eq;
        while (end < len && s[end] != '&') end++;
        eq = i;
        while (eq < end && s[eq] != '=') eq++;
        if (end > i && r->n_query < CD_REQ_MAX_QUERY) {
            char *k = cd_url_decode(s + i, eq - i, 1);
            char *v = eq < end ? cd_url_decode(s + eq + 1, end - eq - 1, 1)
                               : strdup("");
            if (!k || !v) {
                free(k);
                free(v);
                return -1;
            }
            r->query[r->n_query].key = k;
            r->query[r->n_query].val = v;
            r->n_query++;
        }
        i = end + 1;
    }
    return 0;
}

const char *cd_req_query(const cd_req *r, const char *k)
{
    for (size_t i = 0; i < r->n_query; i++)
        if (strcmp(r->query[i].key, k) == 0) return r->query[i].val;
    return NULL;
}

void cd_req_clear(cd_req *r)
{
    free(r->path);
    for (size_t i = 0; i < r->n_query; i++) {
        free(r->query[i].key);
        free(r->query[i].val);
    }
    for (size_t i = 0; i < r->n_params; i++) free(r->params[i]);
    free(r->host); free(r->origin); free(r->accept); free(r->accept_encoding);
    free(r->range); free(r->if_none_match); free(r->if_modified_since);
    free(r->if_match); free(r->if_unmodified_since); free(r->content_type);
    free(r->comfy_user); free(r->upgrade);
    cd_api *a = r->api;
    memset(r, 0, sizeof(*r));
    r->api = a;
}

struct json_object *cd_req_json(const cd_req *r)
{
    char err[128];
    if (!r->body || r->body_len == 0) return NULL;
    return cd_json_parse(r->body, r->body_len, CD_JSON_DEPTH, err, sizeof(err));
}

/* ---- responses ----------------------------------------------------------- */

void cd_resp_init(cd_resp *w)
{
    memset(w, 0, sizeof(*w));
    w->status = 200;
    w->fd = -1;
    cd_buf_init(&w->body, RESP_BODY_MAX);
}

void cd_resp_clear(cd_resp *w)
{
    free(w->content_type);
    for (size_t i = 0; i < w->n_headers; i++) {
        free(w->headers[i].name);
        free(w->headers[i].value);
    }
    cd_buf_free(&w->body);
    if (w->fd >= 0) close(w->fd);
    cd_resp_init(w);
}

const char *cd_resp_get_header(const cd_resp *w, const char *name)
{
    for (size_t i = 0; i < w->n_headers; i++)
        if (strcasecmp(w->headers[i].name, name) == 0) return w->headers[i].value;
    return NULL;
}

int cd_resp_header(cd_resp *w, const char *name, const char *value, int replace)
{
    char *v;
    for (size_t i = 0; i < w->n_headers; i++) {
        if (strcasecmp(w->headers[i].name, name) != 0) continue;
        if (!replace) return 0;
        if (!(v = strdup(value))) return -1;
        free(w->headers[i].value);
        w->headers[i].value = v;
        return 0;
    }
    if (w->n_headers >= CD_REQ_MAX_HEADERS) return -1;
    char *n = strdup(name);
    v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    w->headers[w->n_headers].name = n;
    w->headers[w->n_headers].value = v;
    w->n_headers++;
    return 0;
}

int cd_resp_set_type(cd_resp *w, const char *type)
{
    char *t = NULL;
    if (type && !(t = strdup(type))) return -1;
    free(w->content_type);
    w->content_type = t;
    return 0;
}

static void reset_body(cd_resp *w, int status)
{
    w->status = status;
    cd_buf_reset(&w->body);
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    w->file_off = w->file_len = 0;
}

int cd_resp_empty(cd_resp *w, int status)
{
    reset_body(w, status);
    return cd_resp_set_type(w, NULL);
}

int cd_resp_text(cd_resp *w, int status, const char *text)
{
    reset_body(w, status);
    if (cd_resp_set_type(w, "text/plain; charset=utf-8") < 0) return -1;
    return cd_buf_puts(&w->body, text);
}

int cd_resp_json(cd_resp *w, int status, const struct json_object *o)
{
    reset_body(w, status);
    if (cd_resp_set_type(w, "application/json; charset=utf-8") < 0) return -1;
    return cd_json_dump(&w->body, o);
}

int cd_resp_json_text(cd_resp *w, int status, const char *text, size_t len)
{
    reset_body(w, status);
    if (cd_resp_set_type(w, "application/json; charset=utf-8") < 0) return -1;
    return cd_buf_append(&w->body, text, len);
}

int cd_resp_bytes(cd_resp *w, int status, const char *type, const void *p,
                  size_t n)
{
    reset_body(w, status);
    if (cd_resp_set_type(w, type) < 0) return -1;
    return cd_buf_append(&w->body, p, n);
}

/* ---- mime types ---------------------------------------------------------- */

static const struct { const char *ext, *type; } mime_table[] = {
    {"png", "image/png"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"},
    {"gif", "image/gif"}, {"webp", "image/webp"}, {"bmp", "image/bmp"},
    {"tif", "image/tiff"}, {"tiff", "image/tiff"}, {"svg", "image/svg+xml"},
    {"ico", "image/vnd.microsoft.icon"}, {"avif", "image/avif"},
    {"ppm", "image/x-portable-pixmap"}, {"pgm", "image/x-portable-graymap"},
    {"pbm", "image/x-portable-bitmap"}, {"heic", "image/heic"},
    {"json", "application/json"}, {"js", "application/javascript; charset=utf-8"},
    {"mjs", "text/javascript"}, {"css", "text/css"}, {"html", "text/html"},
    {"htm", "text/html"}, {"xhtml", "application/xhtml+xml"},
    {"txt", "text/plain"}, {"md", "text/markdown"}, {"csv", "text/csv"},
    {"xml", "text/xml"}, {"wasm", "application/wasm"}, {"woff", "font/woff"},
    {"woff2", "font/woff2"}, {"ttf", "font/ttf"}, {"otf", "font/otf"},
    {"mp4", "video/mp4"}, {"webm", "video/webm"}, {"mov", "video/quicktime"},
    {"mkv", "video/x-matroska"}, {"mp3", "audio/mpeg"}, {"wav", "audio/x-wav"},
    {"flac", "audio/flac"}, {"ogg", "audio/ogg"}, {"opus", "audio/opus"},
    {"pdf", "application/pdf"}, {"zip", "application/zip"},
    {"yaml", "application/yaml"}, {"yml", "application/yaml"},
    {"glb", "model/gltf-binary"}, {"gltf", "model/gltf+json"},
    {"map", "application/json"}, {"wmv", "video/x-ms-wmv"},
};

const char *cd_mime_guess(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash + 1 : name, '.');
    if (!dot || !dot[1]) return NULL;
    for (size_t i = 0; i < sizeof(mime_table) / sizeof(mime_table[0]); i++)
        if (strcasecmp(dot + 1, mime_table[i].ext) == 0) return mime_table[i].type;
    return NULL;
}

/* ---- file responses ------------------------------------------------------ */

static void http_date(time_t t, char *out, size_t cap)
{
    struct tm tm;
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    gmtime_r(&t, &tm);
    snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
             tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
}

/* Parses an IMF-fixdate; -1 when it is not one. */
static time_t parse_http_date(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end) return (time_t)-1;
    return timegm(&tm);
}

static int etag_matches(const char *list, const char *etag)
{
    /* A comma-separated list of entity tags, or "*"; weak tags compare too. */
    const char *p = list;
    size_t el = strlen(etag);
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == '*') return 1;
        if (p[0] == 'W' && p[1] == '/') p += 2;
        const char *q = p;
        while (*q && *q != ',') q++;
        size_t n = (size_t)(q - p);
        while (n && p[n - 1] == ' ') n--;
        if (n == el && memcmp(p, etag, el) == 0) return 1;
        p = q;
    }
    return 0;
}

/* Parses "bytes=a-b" against size.  1: a valid range in *off and *len; 0: no
 * usable Range header (serve all); -1: unsatisfiable (416). */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    char *end;
    if (strncmp(h, "bytes=", 6) != 0) return 0;
    h += 6;
    if (strchr(h, ',')) return 0;   /* several ranges: serve the whole file */
    if (*h == '-') {
        errno = 0;
        unsigned long long n = strtoull(h + 1, &end, 10);
        if (errno || end == h + 1 || *end) return 0;
        if (n == 0) return -1;
        if (n > size) n = size;
        *off = size - n;
        *len = n;
        return size ? 1 : -1;
    }
    errno = 0;
    unsigned long long a = strtoull(h, &end, 10);
    if (errno || end == h || *end != '-') return 0;
    const char *bs = end + 1;
    unsigned long long b = size ? size - 1 : 0;
    if (*bs) {
        b = strtoull(bs, &end, 10);
        if (errno || *end) return 0;
        if (b < a) return 0;
        if (b >= size) b = size ? size - 1 : 0;
    }
    if (a >= size) return -1;
    *off = a;
    *len = b - a + 1;
    return 1;
}

int cd_resp_file(cd_resp *w, const cd_req *r, const char *path, const char *type)
{
    struct stat st;
    char etag[96], lm[64], cr[96];
    uint64_t off = 0, len;
    int fd, rc;

    if (stat(path, &st) != 0) return cd_resp_empty(w, 404);
    if (S_ISDIR(st.st_mode)) return cd_resp_text(w, 403, "403: Forbidden");
    if (!S_ISREG(st.st_mode)) return cd_resp_empty(w, 404);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cd_resp_empty(w, errno == EACCES ? 403 : 404);

    uint64_t mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull +
                        (uint64_t)st.st_mtim.tv_nsec;
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)mtime_ns,
             (unsigned long long)st.st_size);
    http_date(st.st_mtim.tv_sec, lm, sizeof(lm));
    reset_body(w, 200);
    if (cd_resp_set_type(w, type ? type : (cd_mime_guess(path)
                                           ? cd_mime_guess(path)
                                           : "application/octet-stream")) < 0)
        goto oom;
    if (cd_resp_header(w, "Last-Modified", lm, 1) < 0 ||
        cd_resp_header(w, "ETag", etag, 1) < 0 ||
        cd_resp_header(w, "Accept-Ranges", "bytes", 1) < 0 ||
        cd_resp_header(w, "X-Content-Type-Options", "nosniff", 1) < 0)
        goto oom;

    if (r->if_match && !etag_matches(r->if_match, etag)) {
        close(fd);
        return cd_resp_empty(w, 412);
    }
    if (!r->if_match && r->if_unmodified_since) {
        time_t t = parse_http_date(r->if_unmodified_since);
        if (t != (time_t)-1 && st.st_mtim.tv_sec > t) {
            close(fd);
            return cd_resp_empty(w, 412);
        }
    }
    if (r->if_none_match) {
        if (etag_matches(r->if_none_match, etag)) goto not_modified;
    } else if (r->if_modified_since) {
        time_t t = parse_http_date(r->if_modified_since);
        if (t != (time_t)-1 && st.st_mtim.tv_sec <= t) goto not_modified;
    }

    len = (uint64_t)st.st_size;
    if (r->range) {
        rc = parse_range(r->range, (uint64_t)st.st_size, &off, &len);
        if (rc < 0) {
            close(fd);
            snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)st.st_size);
            if (cd_resp_text(w, 416, "416: Requested Range Not Satisfiable") < 0 ||
                cd_resp_header(w, "Content-Range", cr, 1) < 0)
                return -1;
            return 0;
        }
        if (rc > 0) {
            w->status = 206;
            snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)off,
                     (unsigned long long)(off + len - 1),
                     (unsigned long long)st.st_size);
            if (cd_resp_header(w, "Content-Range", cr, 1) < 0) goto oom;
        } else {
            off = 0;
            len = (uint64_t)st.st_size;
        }
    }
    w->fd = fd;
    w->file_off = off;
    w->file_len = len;
    return 0;

not_modified:
    close(fd);
    w->status = 304;
    return cd_resp_set_type(w, NULL);
oom:
    close(fd);
    return -1;
}
