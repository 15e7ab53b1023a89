/*
 * view.c — GET /view (spec/api.md §1.8): a file from the input, output or
 * temp directory, raw (with Range/ETag) or re-encoded (preview=webp|jpeg,
 * channel=rgb|a).  Network thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "paths.h"
#include "image.h"
#include "routes.h"

#define VIEW_DECODE_MAX ((size_t)512 << 20)

/* Strips a " [output]" / " [input]" / " [temp]" annotation (spec §8.5,
 * including its slice quirk) from name in place.  Returns the annotated
 * type, or NULL. */
const char *cd_strip_annotation(char *name)
{
    static const struct { const char *suffix; size_t cut; const char *type; } a[] = {
        {"[output]", 9, "output"}, {"[input]", 8, "input"}, {"[temp]", 7, "temp"},
    };
    size_t n = strlen(name);
    for (size_t i = 0; i < 3; i++) {
        size_t sl = strlen(a[i].suffix);
        if (n >= sl && strcmp(name + n - sl, a[i].suffix) == 0) {
            name[n >= a[i].cut ? n - a[i].cut : 0] = '\0';
            return a[i].type;
        }
    }
    return NULL;
}

static int disposition(cd_resp *w, const char *name)
{
    char v[CD_PATH_MAX + 16];
    snprintf(v, sizeof(v), "filename=\"%s\"", name);
    return cd_resp_header(w, "Content-Disposition", v, 1);
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* Re-encodes the image at path per preview/channel.  0, or -1 (500). */
static int reencode(cd_resp *w, const char *path, const char *name,
                    const char *preview, const char *channel)
{
    size_t len;
    char *data = cd_fs_read(path, VIEW_DECODE_MAX, &len);
    cd_image img;
    unsigned char *out = NULL, *px = NULL;
    size_t olen = 0;
    int rc = -1;

    if (!data) return -1;
    if (cd_img_decode((unsigned char *)data, len, &img) < 0) {
        free(data);
        return -1;
    }
    free(data);
    const char *ctype;
    if (preview) {
        char fmt[16];
        const char *semi = strchr(preview, ';');
        const char *last = strrchr(preview, ';');
        snprintf(fmt, sizeof(fmt), "%.*s", (int)(semi ? (size_t)(semi - preview)
                                                      : strlen(preview)), preview);
        const char *qs = last ? last + 1 : preview;
        int quality = 90;
        if (all_digits(qs)) {
            long q = strlen(qs) > 6 ? 100 : strtol(qs, NULL, 10);
            quality = (int)q;
        }
        int jpeg = strcmp(fmt, "jpeg") == 0 && !(channel && strchr(channel, 'a'));
        int to_rgb = jpeg || (channel && strcmp(channel, "rgb") == 0);
        if (quality > 100) quality = 100;
        if (to_rgb || !img.has_alpha) {
            px = cd_img_rgba_to_rgb(img.rgba, img.width, img.height);
            if (!px) goto out;
            rc = jpeg ? cd_img_encode_jpeg(px, img.width, img.height, 3, quality, &out, &olen)
                      : cd_img_encode_webp(px, img.width, img.height, 3, quality, &out, &olen);
        } else {
            rc = cd_img_encode_webp(img.rgba, img.width, img.height, 4, quality, &out, &olen);
        }
        ctype = jpeg ? "image/jpeg" : "image/webp";
    } else if (strcmp(channel, "rgb") == 0) {
        px = cd_img_rgba_to_rgb(img.rgba, img.width, img.height);
        if (!px) goto out;
        rc = cd_img_encode_png(px, img.width, img.height, 3, 6, NULL, 0, &out, &olen);
        ctype = "image/png";
    } else {
        size_t n = (size_t)img.width * img.height;
        px = calloc(n > 0 ? n * 4 : 1, 1);
        if (!px) goto out;
        for (size_t i = 0; i < n; i++)
            px[4 * i + 3] = img.mode_rgba ? img.rgba[4 * i + 3] : 255;
        rc = cd_img_encode_png(px, img.width, img.height, 4, 6, NULL, 0, &out, &olen);
        ctype = "image/png";
    }
    if (rc < 0) goto out;
    rc = cd_resp_bytes(w, 200, ctype, out, olen);
    if (rc == 0) rc = disposition(w, name);
out:
    free(out);
    free(px);
    cd_img_free(&img);
    return rc;
}

int cd_h_view(cd_req *r, cd_resp *w)
{
    const char *fn = cd_req_query(r, "filename");
    const char *type = cd_req_query(r, "type");
    const char *sub = cd_req_query(r, "subfolder");
    const char *preview = cd_req_query(r, "preview");
    const char *channel = cd_req_query(r, "channel");
    const cd_paths *p = cd_api_paths(r->api);
    char name[CD_PATH_MAX], dir[CD_PATH_MAX], path[CD_PATH_MAX];
    const char *base, *ann;

    if (!fn) return cd_resp_empty(w, 404);
    snprintf(name, sizeof(name), "%s", fn);
    ann = cd_strip_annotation(name);
    if (!name[0]) return cd_resp_empty(w, 400);
    if (name[0] == '/' || strstr(name, "..")) return cd_resp_empty(w, 400);
    base = cd_paths_by_type(p, ann ? ann : (type ? type : "output"));
    if (!base) return cd_resp_empty(w, 400);
    snprintf(dir, sizeof(dir), "%s", base);
    if (sub) {
        if (cd_paths_join_beneath(base, sub, dir, sizeof(dir)) < 0)
            return cd_resp_empty(w, 403);
    }
    const char *bn = strrchr(name, '/');
    bn = bn ? bn + 1 : name;
    if (!*bn) return cd_resp_empty(w, 404);
    if (snprintf(path, sizeof(path), "%s/%s", dir, bn) >= (int)sizeof(path))
        return cd_resp_empty(w, 404);
    if (!cd_fs_is_file(path)) return cd_resp_empty(w, 404);

    if (preview) return reencode(w, path, bn, preview, channel);
    if (channel && (strcmp(channel, "rgb") == 0 || strcmp(channel, "a") == 0))
        return reencode(w, path, bn, NULL, channel);

    const char *guess = cd_mime_guess(bn);
    if (!guess) guess = "application/octet-stream";
    static const char *unsafe[] = {"text/html", "text/html-sandboxed",
                                   "application/xhtml+xml", "text/javascript",
                                   "text/css"};
    for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++)
        if (strcmp(guess, unsafe[i]) == 0) guess = "application/octet-stream";
    if (cd_resp_file(w, r, path, guess) < 0) return -1;
    return disposition(w, bn);
}
