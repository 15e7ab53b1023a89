/*
 * upload.c — POST /upload/image and /upload/mask (spec/api.md §1.6-1.7):
 * multipart form fields, path checks, duplicate names "name (1).png" with
 * identical-content detection, overwrite, subfolders, and the mask upload
 * that writes the original image with the mask's alpha channel.  Network
 * thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fsutil.h"
#include "paths.h"
#include "image.h"
#include "multipart.h"
#include "pyjson.h"
#include "routes.h"

#define UPLOAD_READ_MAX ((size_t)1 << 31)

/* A form field: from the multipart parts or the url-encoded body. */
typedef struct form {
    cd_multipart mp;
    int multipart;
    cd_req *r;                       /* url-encoded fields live in r->query */
} form;

typedef struct field { const char *data; size_t len; int is_file; const char *filename; } field;

static int form_get(const form *f, const char *name, field *out)
{
    if (f->multipart) {
        const cd_part *p = cd_mp_get(&f->mp, name);
        if (!p) return 0;
        out->data = p->data;
        out->len = p->len;
        out->is_file = p->is_file;
        out->filename = p->filename;
        return 1;
    }
    const char *v = cd_req_query(f->r, name);
    if (!v) return 0;
    out->data = v;
    out->len = strlen(v);
    out->is_file = 0;
    out->filename = "";
    return 1;
}

static int field_is(const field *fl, const char *s)
{
    return fl->len == strlen(s) && memcmp(fl->data, s, fl->len) == 0;
}

/* Same bytes as the file at path? */
static int same_content(const char *path, const char *data, size_t len)
{
    size_t flen;
    char *cur = cd_fs_read(path, UPLOAD_READ_MAX, &flen);
    int same = cur && flen == len && memcmp(cur, data, len) == 0;
    free(cur);
    return same;
}

/* "<stem> (<i>)<ext>" with Python's splitext rules. */
static void numbered_name(const char *name, int i, char *out, size_t cap)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strrchr(base, '.');
    /* leading dots of the base name do not start an extension */
    const char *b = base;
    while (*b == '.') b++;
    if (!dot || dot < b) dot = NULL;
    if (dot)
        snprintf(out, cap, "%.*s (%d)%s", (int)(dot - name), name, i, dot);
    else
        snprintf(out, cap, "%s (%d)", name, i);
}

/* Writes the mask composite for /upload/mask.  0: written or skipped per
 * the quirks of §1.7; -1: a 500 case. */
static int write_mask(cd_req *r, const form *f, const field *mask, const char *path)
{
    field ref;
    struct json_object *o = NULL, *v;
    cd_image orig, m;
    char name[CD_PATH_MAX], rel[CD_PATH_MAX], opath[CD_PATH_MAX];
    const char *type = "output", *ann, *dir;
    char *odata = NULL;
    size_t olen;
    unsigned char *png = NULL;
    size_t plen;
    int rc = -1;
    char err[96];

    memset(&orig, 0, sizeof(orig));
    memset(&m, 0, sizeof(m));
    if (!form_get(f, "original_ref", &ref)) return -1;
    o = cd_json_parse(ref.data, ref.len, 16, err, sizeof(err));
    if (!o || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "filename", &v))
        goto out;
    snprintf(name, sizeof(name), "%s", json_object_get_string(v));
    ann = cd_strip_annotation(name);
    if (!ann && json_object_object_get_ex(o, "type", &v) && json_object_is_type(v, json_type_string))
        type = json_object_get_string(v);
    dir = cd_paths_by_type(cd_api_paths(r->api), ann ? ann : type);
    rc = 0;                            /* from here on, failures answer 200 */
    if (!dir || !name[0] || name[0] == '/' || strstr(name, "..")) goto out;
    rel[0] = '\0';
    if (json_object_object_get_ex(o, "subfolder", &v) && json_object_is_type(v, json_type_string) &&
        json_object_get_string(v)[0])
        snprintf(rel, sizeof(rel), "%s/", json_object_get_string(v));
    if (strlen(rel) + strlen(name) + 1 > sizeof(rel)) goto out;
    memcpy(rel + strlen(rel), name, strlen(name) + 1);
    if (cd_paths_join_beneath(dir, rel, opath, sizeof(opath)) < 0 || !cd_fs_is_file(opath))
        goto out;

    rc = -1;                           /* decode failures are 500s */
    odata = cd_fs_read(opath, UPLOAD_READ_MAX, &olen);
    if (!odata || cd_img_decode((unsigned char *)odata, olen, &orig) < 0) goto out;
    if (cd_img_decode((const unsigned char *)mask->data, mask->len, &m) < 0) goto out;
    if (m.width != orig.width || m.height != orig.height) goto out;
    size_t n = (size_t)orig.width * orig.height;
    for (size_t i = 0; i < n; i++) orig.rgba[4 * i + 3] = m.rgba[4 * i + 3];
    const char *dot = strrchr(path, '.');
    int wr;
    if (dot && (strcasecmp(dot, ".webp") == 0))
        wr = cd_img_encode_webp(orig.rgba, orig.width, orig.height, 4, 80, &png, &plen);
    else if (dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0))
        wr = cd_img_encode_jpeg(orig.rgba, orig.width, orig.height, 4, 75, &png, &plen);
    else
        wr = cd_img_encode_png(orig.rgba, orig.width, orig.height, 4, 4, orig.texts,
                               orig.n_texts, &png, &plen);
    if (wr < 0 || cd_fs_write(path, png, plen) < 0) goto out;
    rc = 0;
out:
    json_object_put(o);
    free(odata);
    free(png);
    cd_img_free(&orig);
    cd_img_free(&m);
    return rc;
}

static int upload(cd_req *r, cd_resp *w, int is_mask)
{
    form f;
    field img, fl;
    char boundary[256], type[16] = "input", sub[CD_PATH_MAX] = "";
    char fname[CD_PATH_MAX], rel[CD_PATH_MAX * 2], path[CD_PATH_MAX], dir[CD_PATH_MAX];
    const char *tdir;
    int overwrite = 0;
    uint64_t L = cd_api_max_body(r->api);

    memset(&f, 0, sizeof(f));
    f.r = r;
    if (cd_mp_boundary(r->content_type, boundary, sizeof(boundary)) == 0) {
        if (cd_mp_parse(r->body ? r->body : "", r->body_len, boundary, &f.mp) < 0)
            return -1;
        f.multipart = 1;
        for (size_t i = 0; i < f.mp.n; i++) {
            if (f.mp.parts[i].len > L) {
                char msg[160];
                snprintf(msg, sizeof(msg),
                         "Maximum request body size %llu exceeded, actual body size %llu",
                         (unsigned long long)L, (unsigned long long)f.mp.parts[i].len);
                return cd_resp_text(w, 413, msg);
            }
        }
    } else if (r->body_len && cd_req_parse_query(r, r->body, r->body_len) < 0) {
        return -1;
    }

    if (form_get(&f, "type", &fl)) {
        if (!(field_is(&fl, "input") || field_is(&fl, "temp") || field_is(&fl, "output")))
            return -1;
        snprintf(type, sizeof(type), "%.*s", (int)fl.len, fl.data);
    }
    if (!form_get(&f, "image", &img) || (!img.is_file && img.len == 0))
        return cd_resp_empty(w, 400);
    if (!img.is_file) return -1;
    if (form_get(&f, "subfolder", &fl)) {
        if (fl.len >= sizeof(sub) || memchr(fl.data, '\0', fl.len)) return cd_resp_empty(w, 400);
        snprintf(sub, sizeof(sub), "%.*s", (int)fl.len, fl.data);
    }
    if (form_get(&f, "overwrite", &fl)) overwrite = field_is(&fl, "true") || field_is(&fl, "1");

    tdir = cd_paths_by_type(cd_api_paths(r->api), type);
    if (!tdir) return -1;
    snprintf(fname, sizeof(fname), "%s", img.filename);
    if (sub[0] == '/' || fname[0] == '/') return cd_resp_empty(w, 400);
    if (cd_paths_join_beneath(tdir, sub, dir, sizeof(dir)) < 0) return cd_resp_empty(w, 400);
    snprintf(rel, sizeof(rel), "%s%s%s", sub, sub[0] ? "/" : "", fname);
    if (cd_paths_join_beneath(tdir, rel, path, sizeof(path)) < 0 ||
        strcmp(path, dir) == 0)
        return cd_resp_empty(w, 400);
    if (cd_path_mkdirs(dir) < 0 || cd_fs_mkparent(path) < 0) return -1;

    int write_it = 1;
    if (!overwrite) {
        char cand[CD_PATH_MAX];
        for (int i = 1; cd_fs_is_file(path) || cd_fs_is_dir(path); i++) {
            if (cd_fs_is_file(path) && same_content(path, img.data, img.len)) {
                write_it = 0;
                break;
            }
            if (i > 100000) return -1;
            numbered_name(img.filename, i, cand, sizeof(cand));
            snprintf(fname, sizeof(fname), "%s", cand);
            snprintf(rel, sizeof(rel), "%s%s%s", sub, sub[0] ? "/" : "", fname);
            if (cd_paths_join_beneath(tdir, rel, path, sizeof(path)) < 0)
                return cd_resp_empty(w, 400);
        }
    }
    if (write_it) {
        if (is_mask) {
            if (write_mask(r, &f, &img, path) < 0) return -1;
        } else if (cd_fs_write(path, img.data, img.len) < 0) {
            cd_log(cd_api_logger(r->api), COMFY_LOG_ERROR, "upload: cannot write %s: %s",
                   path, strerror(errno));
            return -1;
        }
    }

    struct json_object *o = json_object_new_object();
    if (!o) return -1;
    json_object_object_add(o, "name", json_object_new_string(fname));
    json_object_object_add(o, "subfolder", json_object_new_string(sub));
    json_object_object_add(o, "type", json_object_new_string(type));
    int rc = cd_resp_json(w, 200, o);
    json_object_put(o);
    return rc;
}

int cd_h_upload_image(cd_req *r, cd_resp *w) { return upload(r, w, 0); }
int cd_h_upload_mask(cd_req *r, cd_resp *w) { return upload(r, w, 1); }
