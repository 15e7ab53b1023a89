/*
 * middleware.c — what wraps every handler (spec/api.md §0.5): the origin
 * check that protects a loopback server from cross-site requests (a Host
 * name counts as loopback when it is an IP literal in 127/8 or ::1,
 * "localhost", or maps to loopback in /etc/hosts; unlike the reference, no
 * DNS query is made, so a request can never stall the loop), the CORS
 * headers of --enable-cors-header, Cache-Control by path, and gzip of JSON
 * and text bodies with --enable-compress-response-body.  Network thread.
 */
#include "routes.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <zlib.h>

/* ---- origin check -------------------------------------------------------- */

/* Looks `name` up in /etc/hosts: 1 when its first IPv4 address (or, with
 * none, its first IPv6 address) is loopback.  DNS is not asked: a lookup
 * would block the network thread for as long as the resolver takes. */
static int hosts_file_loopback(const char *name)
{
    FILE *f = fopen("/etc/hosts", "re");
    char line[1024];
    int v4 = -1, v6 = -1;
    if (!f) return 0;
    while (fgets(line, sizeof(line), f) && v4 < 0) {
        char *save = NULL, *addr, *tok;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        if (!(addr = strtok_r(line, " \t\r\n", &save))) continue;
        while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
            if (strcasecmp(tok, name) != 0) continue;
            struct in_addr a4;
            struct in6_addr a6;
            if (inet_pton(AF_INET, addr, &a4) == 1 && v4 < 0)
                v4 = (ntohl(a4.s_addr) >> 24) == 127;
            else if (inet_pton(AF_INET6, addr, &a6) == 1 && v6 < 0)
                v6 = IN6_IS_ADDR_LOOPBACK(&a6);
            break;
        }
    }
    fclose(f);
    return v4 >= 0 ? v4 : v6 > 0;
}

int cd_mw_host_is_loopback(const char *hostname)
{
    struct in_addr a4;
    struct in6_addr a6;
    size_t n;

    if (!hostname || !*hostname) return 0;
    if (inet_pton(AF_INET, hostname, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, hostname, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    n = strlen(hostname);
    if (strcasecmp(hostname, "localhost") == 0 ||
        (n > 10 && strcasecmp(hostname + n - 10, ".localhost") == 0))
        return 1;
    return hosts_file_loopback(hostname);
}

/* Splits a lower-cased netloc "user@host:port" into its hostname (no
 * brackets) and whether an explicit port is present. */
static void split_netloc(const char *netloc, char *host, size_t cap, int *has_port)
{
    const char *at = strrchr(netloc, '@');
    const char *s = at ? at + 1 : netloc;
    const char *end;
    *has_port = 0;
    if (*s == '[') {
        end = strchr(s, ']');
        if (!end) end = s + strlen(s);
        snprintf(host, cap, "%.*s", (int)(end - s - 1), s + 1);
        if (*end == ']' && end[1] == ':' && end[2]) *has_port = 1;
        return;
    }
    end = strchr(s, ':');
    if (end) {
        if (end[1]) *has_port = 1;
        snprintf(host, cap, "%.*s", (int)(end - s), s);
    } else {
        snprintf(host, cap, "%s", s);
    }
}

static void lower(char *s)
{
    for (; *s; s++) *s = (char)tolower((unsigned char)*s);
}

int cd_mw_origin_rejected(const cd_req *r)
{
    char host[512], origin_netloc[512], host_name[512], origin_name[512];
    const char *cmp_host, *cmp_origin;
    int host_port, origin_port;

    if (!r->host || !r->origin) return 0;
    snprintf(host, sizeof(host), "%s", r->host);
    lower(host);
    /* netloc of the Origin URL: after "scheme://", up to the next '/'. */
    const char *o = strstr(r->origin, "://");
    if (o) {
        o += 3;
        size_t n = strcspn(o, "/?#");
        snprintf(origin_netloc, sizeof(origin_netloc), "%.*s", (int)n, o);
    } else {
        origin_netloc[0] = '\0';
    }
    lower(origin_netloc);
    split_netloc(host, host_name, sizeof(host_name), &host_port);
    split_netloc(origin_netloc, origin_name, sizeof(origin_name), &origin_port);

    cmp_host = host;
    cmp_origin = origin_netloc;
    if (!origin_port) cmp_host = host_name;
    if (!host_port) cmp_origin = origin_name;
    if (!*cmp_host || !*cmp_origin) return 0;
    if (!cd_mw_host_is_loopback(host_name)) return 0;
    return strcmp(cmp_host, cmp_origin) != 0;
}

/* ---- cache-control ------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

void cd_mw_cache_control(const cd_req *r, cd_resp *w)
{
    static const char *img[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm",
                                ".tif", ".tiff", ".webp"};
    const char *path = r->path ? r->path : "";
    const char *last = strrchr(path, '/');
    last = last ? last + 1 : path;

    if (w->framework_error || cd_resp_get_header(w, "Cache-Control")) return;
    if (ends_with(path, ".js") || ends_with(path, ".css") ||
        (strncmp(last, "index", 5) == 0 && ends_with(last, ".json"))) {
        (void)cd_resp_header(w, "Cache-Control", "no-cache", 0);
        return;
    }
    char low[1024];
    snprintf(low, sizeof(low), "%s", path);
    lower(low);
    for (size_t i = 0; i < sizeof(img) / sizeof(img[0]); i++) {
        if (!ends_with(low, img[i])) continue;
        int s = w->status;
        if (s == 404)
            (void)cd_resp_header(w, "Cache-Control", "public, max-age=3600", 0);
        else if ((s >= 200 && s <= 206) || s == 301 || s == 308)
            (void)cd_resp_header(w, "Cache-Control", "public, max-age=86400", 0);
        else if (s == 302 || s == 303 || s == 307)
            (void)cd_resp_header(w, "Cache-Control", "no-cache", 0);
        return;
    }
}

/* ---- CORS ------------------------------------------------------------------ */

void cd_mw_cors(const cd_req *r, cd_resp *w)
{
    const char *origin = cd_api_config(r->api)->cors_origin;
    if (!origin || w->framework_error) return;
    (void)cd_resp_header(w, "Access-Control-Allow-Origin", origin, 1);
    (void)cd_resp_header(w, "Access-Control-Allow-Methods",
                         "POST, GET, DELETE, PUT, OPTIONS", 1);
    (void)cd_resp_header(w, "Access-Control-Allow-Headers",
                         "Content-Type, Authorization", 1);
    (void)cd_resp_header(w, "Access-Control-Allow-Credentials", "true", 1);
}

/* ---- gzip ------------------------------------------------------------------ */

void cd_mw_compress(const cd_req *r, cd_resp *w)
{
    z_stream zs;
    cd_buf out;
    const char *ct = w->content_type;
    size_t mlen;

    if (!cd_api_config(r->api)->enable_compress || !ct || w->fd >= 0 ||
        w->body.len == 0 || !r->accept_encoding ||
        !strstr(r->accept_encoding, "gzip"))
        return;
    mlen = strcspn(ct, ";");
    if (!((mlen == 16 && strncmp(ct, "application/json", 16) == 0) ||
          (mlen == 10 && strncmp(ct, "text/plain", 10) == 0)))
        return;

    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return;
    cd_buf_init(&out, w->body.max);
    uLong bound = deflateBound(&zs, (uLong)w->body.len) + 32;
    char *dst = malloc(bound);
    if (!dst) goto out;
    zs.next_in = (Bytef *)w->body.data;
    zs.avail_in = (uInt)w->body.len;
    zs.next_out = (Bytef *)dst;
    zs.avail_out = (uInt)bound;
    if (deflate(&zs, Z_FINISH) == Z_STREAM_END &&
        cd_buf_append(&out, dst, bound - zs.avail_out) == 0) {
        cd_buf_free(&w->body);
        w->body = out;
        cd_buf_init(&out, w->body.max);
        (void)cd_resp_header(w, "Content-Encoding", "gzip", 1);
        (void)cd_resp_header(w, "Vary", "Accept-Encoding", 1);
    }
out:
    free(dst);
    cd_buf_free(&out);
    deflateEnd(&zs);
}
