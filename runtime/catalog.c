/*
 * catalog.c — the catalogue routes of runtime.h: /object_info,
 * /extensions, /embeddings, /models, /internal/logs and
 * /internal/folder_paths (spec/api.md §1.3-1.5, §1.14, §1.24).  They read
 * the registry (safe for lock-free readers; see registry.h) and the disk;
 * network thread.
 */
#include "runtime_int.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pyjson.h"

int cd_runtime_object_info(cd_runtime *rt, const char *cls, cd_buf *out)
{
    if (cls) {
        const cd_class *c = cd_registry_find(rt->reg, cls);
        if (!c)
            return cd_buf_puts(out, "{}") < 0 ? 500 : 200;
        if (cd_buf_putc(out, '{') < 0 || cd_json_dump_string(out, cls, strlen(cls)) < 0 ||
            cd_buf_puts(out, ": ") < 0 || cd_class_object_info(rt->reg, c, out) < 0 ||
            cd_buf_putc(out, '}') < 0) {
            cd_log(rt->log, COMFY_LOG_ERROR, "object_info for %s failed", cls);
            return 500;
        }
        return 200;
    }
    cd_buf one;
    cd_buf_init(&one, out->max);
    if (cd_buf_putc(out, '{') < 0)
        goto fail;
    int first = 1;
    for (size_t i = 0; i < cd_registry_count(rt->reg); i++) {
        const cd_class *c = cd_registry_at(rt->reg, i);
        cd_buf_reset(&one);
        if (cd_class_object_info(rt->reg, c, &one) < 0) {
            cd_log(rt->log, COMFY_LOG_ERROR, "[ERROR] An error occurred while "
                                             "retrieving information for the '%s' "
                                             "node.", c->def->name);
            continue;
        }
        if ((!first && cd_buf_puts(out, ", ") < 0) ||
            cd_json_dump_string(out, c->def->name, strlen(c->def->name)) < 0 ||
            cd_buf_puts(out, ": ") < 0 || cd_buf_append(out, one.data, one.len) < 0)
            goto fail;
        first = 0;
    }
    if (cd_buf_putc(out, '}') < 0)
        goto fail;
    cd_buf_free(&one);
    return 200;
fail:
    cd_buf_free(&one);
    return 500;
}

/* Python's urllib.parse.quote(s) with safe "/". */
static int put_urlquoted(cd_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
                   c == '~' || c == '/';
        if (keep ? cd_buf_putc(b, (char)c) < 0 : cd_buf_printf(b, "%%%02X", c) < 0)
            return -1;
    }
    return 0;
}

/* Collects the *.js files under root/rel (recursive, dot names skipped as
 * glob does), as relative paths. */
static int collect_js(const char *root, const char *rel, int depth, cd_strlist *out)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel) >=
        (int)sizeof dir)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) && rc == 0) {
        if (e->d_name[0] == '.')
            continue;
        char full[PATH_MAX], sub[PATH_MAX];
        if (snprintf(full, sizeof full, "%s/%s", dir, e->d_name) >= (int)sizeof full ||
            snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
                (int)sizeof sub)
            continue;
        struct stat st;
        if (stat(full, &st) < 0)
            continue;
        size_t len = strlen(e->d_name);
        if (S_ISDIR(st.st_mode)) {
            if (depth < 16)
                rc = collect_js(root, sub, depth + 1, out);
        } else if (len > 3 && strcmp(e->d_name + len - 3, ".js") == 0) {
            if (out->n >= 100000 || cd_strlist_push(out, sub) < 0)
                rc = -1;
        }
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cd_runtime_extensions(cd_runtime *rt, cd_buf *out)
{
    int first = 1;
    if (cd_buf_putc(out, '[') < 0)
        return 500;
    if (rt->cfg->front_end_root) {
        char ext[PATH_MAX];
        cd_strlist l = {0};
        if (snprintf(ext, sizeof ext, "%s/extensions", rt->cfg->front_end_root) <
            (int)sizeof ext)
            collect_js(ext, "", 0, &l);
        qsort(l.v, l.n, sizeof *l.v, cmp_str);
        for (size_t i = 0; i < l.n; i++) {
            if ((!first && cd_buf_puts(out, ", ") < 0) ||
                cd_buf_puts(out, "\"/extensions/") < 0) {
                cd_strlist_free(&l);
                return 500;
            }
            first = 0;
            /* The name is JSON-escaped by writing it as a string and
             * dropping the quotes. */
            cd_buf tmp;
            cd_buf_init(&tmp, PATH_MAX * 8);
            int bad = cd_json_dump_string(&tmp, l.v[i], strlen(l.v[i])) < 0 ||
                      cd_buf_append(out, tmp.data + 1, tmp.len - 2) < 0 ||
                      cd_buf_putc(out, '"') < 0;
            cd_buf_free(&tmp);
            if (bad) {
                cd_strlist_free(&l);
                return 500;
            }
        }
        cd_strlist_free(&l);
    }
    for (size_t p = 0; p < cd_registry_pack_count(rt->reg); p++) {
        const cd_pack *pk = cd_registry_pack_at(rt->reg, p);
        const char *dir = cd_pack_web_dir(pk);
        if (!dir)
            continue;
        cd_strlist l = {0};
        collect_js(dir, "", 0, &l);
        qsort(l.v, l.n, sizeof *l.v, cmp_str);
        for (size_t i = 0; i < l.n; i++) {
            cd_buf url;
            cd_buf_init(&url, PATH_MAX * 4);
            int bad = cd_buf_puts(&url, "/extensions/") < 0 ||
                      put_urlquoted(&url, cd_pack_name(pk)) < 0 ||
                      cd_buf_putc(&url, '/') < 0 || cd_buf_puts(&url, l.v[i]) < 0 ||
                      (!first && cd_buf_puts(out, ", ") < 0) ||
                      cd_json_dump_string(out, url.data, url.len) < 0;
            cd_buf_free(&url);
            first = 0;
            if (bad) {
                cd_strlist_free(&l);
                return 500;
            }
        }
        cd_strlist_free(&l);
    }
    return cd_buf_putc(out, ']') < 0 ? 500 : 200;
}

const char *cd_runtime_extension_dir(cd_runtime *rt, const char *name)
{
    const cd_pack *p = cd_registry_find_pack(rt->reg, name);
    return p ? cd_pack_web_dir(p) : NULL;
}

/* Writes a list of strings as a JSON array; `strip_ext` drops each name's
 * extension as os.path.splitext does. */
static int put_strlist(cd_buf *out, const cd_strlist *l, int strip_ext)
{
    if (cd_buf_putc(out, '[') < 0)
        return -1;
    for (size_t i = 0; i < l->n; i++) {
        const char *s = l->v[i];
        size_t len = strlen(s);
        if (strip_ext) {
            const char *name = strrchr(s, '/');
            name = name ? name + 1 : s;
            while (*name == '.')
                name++;
            const char *dot = strrchr(name, '.');
            if (dot)
                len = (size_t)(dot - s);
        }
        if ((i && cd_buf_puts(out, ", ") < 0) || cd_json_dump_string(out, s, len) < 0)
            return -1;
    }
    return cd_buf_putc(out, ']');
}

int cd_runtime_embeddings(cd_runtime *rt, cd_buf *out)
{
    cd_strlist l = {0};
    int rc = cd_paths_list(rt->paths, "embeddings", 0, &l);
    if (rc == COMFY_OK)
        rc = put_strlist(out, &l, 1);
    cd_strlist_free(&l);
    return rc == 0 ? 200 : 500;
}

int cd_runtime_models(cd_runtime *rt, const char *folder, cd_buf *out)
{
    if (!folder) {
        if (cd_buf_putc(out, '[') < 0)
            return 500;
        for (size_t i = 0; i < cd_paths_folder_count(rt->paths); i++) {
            const char *n = cd_paths_folder_name(rt->paths, i);
            if ((i && cd_buf_puts(out, ", ") < 0) ||
                cd_json_dump_string(out, n, strlen(n)) < 0)
                return 500;
        }
        return cd_buf_putc(out, ']') < 0 ? 500 : 200;
    }
    cd_strlist l = {0};
    int rc = cd_paths_list(rt->paths, folder, 0, &l);
    if (rc == COMFY_ENOENT) {
        cd_strlist_free(&l);
        return 404; /* empty body */
    }
    if (rc == COMFY_OK)
        rc = put_strlist(out, &l, 0);
    cd_strlist_free(&l);
    return rc == 0 ? 200 : 500;
}

int cd_runtime_logs(cd_runtime *rt, int raw, cd_buf *out)
{
    return cd_logger_dump(rt->log, raw, out) < 0 ? 500 : 200;
}

int cd_runtime_folder_paths(cd_runtime *rt, cd_buf *out)
{
    if (cd_buf_putc(out, '{') < 0)
        return 500;
    for (size_t i = 0; i < cd_paths_folder_count(rt->paths); i++) {
        const char *n = cd_paths_folder_name(rt->paths, i);
        const cd_strlist *dirs = cd_paths_folder_dirs(rt->paths, n, 0);
        if ((i && cd_buf_puts(out, ", ") < 0) ||
            cd_json_dump_string(out, n, strlen(n)) < 0 || cd_buf_puts(out, ": ") < 0 ||
            put_strlist(out, dirs, 0) < 0)
            return 500;
    }
    return cd_buf_putc(out, '}') < 0 ? 500 : 200;
}
