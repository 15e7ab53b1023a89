/*
 * paths.c — ComfyUI's folder layout (see paths.h and spec/api.md §8).
 *
 * The cd_paths object is built once at start-up (cd_paths_new) and is
 * read-only afterwards; every function here may be called from any thread.
 * Listings read the disk on each call.
 */
#include "paths.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wordexp.h>
#include <yaml.h>

#include "comfy/comfy.h"

#define WALK_MAX_DEPTH 32         /* symlink loops end here            */
#define WALK_MAX_FILES 200000     /* one listing never grows past this */

typedef struct folder {
    char *name;
    cd_strlist dirs;     /* absolute directories, in search order */
    cd_strlist exts;     /* lower-case ".ext"; "" = no extension  */
    int any_ext;         /* empty set: every file                 */
} folder;

struct cd_paths {
    char *base, *models, *input, *output, *temp, *user;
    folder *folders;
    size_t n_folders, cap_folders;
    cd_logger *log;
};

/* ---- string lists ----------------------------------------------------------- */

void cd_strlist_free(cd_strlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

int cd_strlist_push(cd_strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    char *d = strdup(s);
    if (!d)
        return -1;
    l->v[l->n++] = d;
    return 0;
}

static int strlist_insert_front(cd_strlist *l, const char *s)
{
    if (cd_strlist_push(l, s) < 0)
        return -1;
    char *last = l->v[l->n - 1];
    memmove(l->v + 1, l->v, (l->n - 1) * sizeof *l->v);
    l->v[0] = last;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts by code point (bytewise on UTF-8) and drops duplicates. */
static void strlist_sort_unique(cd_strlist *l)
{
    if (l->n < 2)
        return;
    qsort(l->v, l->n, sizeof *l->v, cmp_str);
    size_t w = 1;
    for (size_t i = 1; i < l->n; i++) {
        if (strcmp(l->v[i], l->v[w - 1]) == 0)
            free(l->v[i]);
        else
            l->v[w++] = l->v[i];
    }
    l->n = w;
}

/* ---- path text -------------------------------------------------------------- */

/* Python's posixpath.normpath into out[cap].  0, or -1 if it does not fit. */
int cd_path_normalize(const char *path, char *out, size_t cap)
{
    if (cap < 2)
        return -1;
    int absolute = path[0] == '/';
    /* Python keeps exactly two leading slashes; treat them as one. */
    const char *comps[512];
    size_t lens[512];
    size_t n = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - s);
        if (len == 1 && s[0] == '.')
            continue;
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            if (n > 0 && !(lens[n - 1] == 2 && comps[n - 1][0] == '.' &&
                           comps[n - 1][1] == '.')) {
                n--;
                continue;
            }
            if (absolute)
                continue;
        }
        if (n == sizeof comps / sizeof comps[0])
            return -1;
        comps[n] = s;
        lens[n] = len;
        n++;
    }
    size_t o = 0;
    if (absolute)
        out[o++] = '/';
    for (size_t i = 0; i < n; i++) {
        if (i) {
            if (o + 1 >= cap)
                return -1;
            out[o++] = '/';
        }
        if (o + lens[i] >= cap)
            return -1;
        memcpy(out + o, comps[i], lens[i]);
        o += lens[i];
    }
    if (o == 0)
        out[o++] = '.';
    out[o] = '\0';
    return 0;
}

/* Joins a and b with one '/' (b absolute: b alone, as os.path.join). */
static int path_join(const char *a, const char *b, char *out, size_t cap)
{
    int n;
    if (b[0] == '/')
        n = snprintf(out, cap, "%s", b);
    else if (!a[0])
        n = snprintf(out, cap, "%s", b);
    else if (a[strlen(a) - 1] == '/')
        n = snprintf(out, cap, "%s%s", a, b);
    else
        n = snprintf(out, cap, "%s/%s", a, b);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* os.path.abspath: joined to the working directory, then normalised. */
static char *abspath_dup(const char *p)
{
    char cwd[PATH_MAX], joined[PATH_MAX * 2], norm[PATH_MAX];
    if (p[0] != '/') {
        if (!getcwd(cwd, sizeof cwd))
            return NULL;
        if (path_join(cwd, p, joined, sizeof joined) < 0)
            return NULL;
    } else if (snprintf(joined, sizeof joined, "%s", p) >= (int)sizeof joined) {
        return NULL;
    }
    if (cd_path_normalize(joined, norm, sizeof norm) < 0)
        return NULL;
    return strdup(norm);
}

/* The lower-cased extension of a relative path, as Python's
 * os.path.splitext(path)[1].lower() (leading dots of the name don't
 * start an extension). */
static void lower_ext(const char *path, char *out, size_t cap)
{
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    const char *s = name;
    while (*s == '.')
        s++;
    const char *dot = strrchr(s, '.');
    out[0] = '\0';
    if (!dot)
        return;
    size_t i = 0;
    for (; dot[i] && i < cap - 1; i++)
        out[i] = (dot[i] >= 'A' && dot[i] <= 'Z') ? (char)(dot[i] + 32) : dot[i];
    out[i] = '\0';
}

int cd_path_mkdirs(const char *dir)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(tmp, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(p) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(p) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf without following symbolic links. */
static int remove_tree(const char *dir)
{
    struct stat st;
    if (lstat(dir, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- folders ---------------------------------------------------------------- */

static const char *const PT[] = {".ckpt", ".pt", ".pt2", ".bin", ".pth",
                                 ".safetensors", ".pkl", ".sft", NULL};
static const char *const YAML_EXT[] = {".yaml", NULL};
static const char *const FOLDER_EXT[] = {"folder", NULL};
static const char *const NOEXT[] = {"", NULL};

static const struct {
    const char *name;
    const char *dirs[2];    /* under models/ unless "@base/" */
    const char *const *exts;
} default_folders[] = {
    {"checkpoints", {"checkpoints"}, PT},
    {"configs", {"configs"}, YAML_EXT},
    {"loras", {"loras"}, PT},
    {"vae", {"vae"}, PT},
    {"text_encoders", {"text_encoders", "clip"}, PT},
    {"diffusion_models", {"unet", "diffusion_models"}, PT},
    {"clip_vision", {"clip_vision"}, PT},
    {"style_models", {"style_models"}, PT},
    {"embeddings", {"embeddings"}, PT},
    {"diffusers", {"diffusers"}, FOLDER_EXT},
    {"vae_approx", {"vae_approx"}, PT},
    {"controlnet", {"controlnet", "t2i_adapter"}, PT},
    {"gligen", {"gligen"}, PT},
    {"upscale_models", {"upscale_models"}, PT},
    {"custom_nodes", {"@base/custom_nodes"}, NULL},
    {"hypernetworks", {"hypernetworks"}, PT},
    {"photomaker", {"photomaker"}, PT},
    {"classifiers", {"classifiers"}, NOEXT},
    {"model_patches", {"model_patches"}, PT},
    {"audio_encoders", {"audio_encoders"}, PT},
};

/* Legacy names accepted from YAML and when resolving files. */
static const char *alias(const char *name)
{
    if (strcmp(name, "unet") == 0)
        return "diffusion_models";
    if (strcmp(name, "clip") == 0)
        return "text_encoders";
    return name;
}

static folder *find_folder(const cd_paths *p, const char *name)
{
    for (size_t i = 0; i < p->n_folders; i++)
        if (strcmp(p->folders[i].name, name) == 0)
            return &p->folders[i];
    return NULL;
}

static folder *add_folder(cd_paths *p, const char *name,
                          const char *const *exts)
{
    if (p->n_folders == p->cap_folders) {
        size_t cap = p->cap_folders ? p->cap_folders * 2 : 32;
        folder *f = realloc(p->folders, cap * sizeof *f);
        if (!f)
            return NULL;
        p->folders = f;
        p->cap_folders = cap;
    }
    folder *f = &p->folders[p->n_folders];
    memset(f, 0, sizeof *f);
    f->name = strdup(name);
    if (!f->name)
        return NULL;
    f->any_ext = exts == NULL;
    for (size_t i = 0; exts && exts[i]; i++)
        if (cd_strlist_push(&f->exts, exts[i]) < 0) {
            cd_strlist_free(&f->exts);
            free(f->name);
            return NULL;
        }
    p->n_folders++;
    return f;
}

/* folder_paths.add_model_folder_path: appends `dir` to folder `name` (after
 * the legacy aliases), or moves/puts it first when is_default; an unknown
 * folder is created accepting every file.  0 or -1. */
int cd_paths_add_model_dir(cd_paths *p, const char *name, const char *dir,
                           int is_default)
{
    name = alias(name);
    folder *f = find_folder(p, name);
    if (!f) {
        f = add_folder(p, name, NULL);
        if (!f)
            return -1;
    }
    for (size_t i = 0; i < f->dirs.n; i++) {
        if (strcmp(f->dirs.v[i], dir) != 0)
            continue;
        if (is_default && i != 0) {
            char *d = f->dirs.v[i];
            memmove(f->dirs.v + 1, f->dirs.v, i * sizeof *f->dirs.v);
            f->dirs.v[0] = d;
        }
        return 0;
    }
    return is_default ? strlist_insert_front(&f->dirs, dir)
                      : cd_strlist_push(&f->dirs, dir);
}

/* Expands "~" and $VARS as os.path.expanduser(os.path.expandvars()). */
static char *expand_path(const char *s)
{
    char buf[PATH_MAX];
    size_t o = 0;
    const char *p = s;
    if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
        const char *home = getenv("HOME");
        if (home) {
            int n = snprintf(buf, sizeof buf, "%s", home);
            if (n < 0 || (size_t)n >= sizeof buf)
                return NULL;
            o = (size_t)n;
            p++;
        }
    }
    while (*p) {
        if (*p == '$') {
            const char *v = p + 1;
            int braced = *v == '{';
            if (braced)
                v++;
            const char *e = v;
            while ((*e >= 'A' && *e <= 'Z') || (*e >= 'a' && *e <= 'z') ||
                   (*e >= '0' && *e <= '9') || *e == '_')
                e++;
            if (e > v && (!braced || *e == '}')) {
                char name[256];
                size_t nl = (size_t)(e - v);
                if (nl < sizeof name) {
                    memcpy(name, v, nl);
                    name[nl] = '\0';
                    const char *val = getenv(name);
                    if (val) {
                        size_t vl = strlen(val);
                        if (o + vl >= sizeof buf)
                            return NULL;
                        memcpy(buf + o, val, vl);
                        o += vl;
                        p = braced ? e + 1 : e;
                        continue;
                    }
                }
            }
        }
        if (o + 1 >= sizeof buf)
            return NULL;
        buf[o++] = *p++;
    }
    buf[o] = '\0';
    return strdup(buf);
}

/* Loads one extra_model_paths.yaml (spec/api.md §8.3).  0, or -1 when the
 * file cannot be read or parsed (logged). */
int cd_paths_load_extra_yaml(cd_paths *p, const char *file)
{
    int rc = -1;
    FILE *f = fopen(file, "rb");
    if (!f) {
        cd_log(p->log, COMFY_LOG_ERROR, "extra model paths: cannot read %s: %s",
               file, strerror(errno));
        return -1;
    }
    char *yaml_dir = NULL, *absfile = abspath_dup(file);
    if (absfile) {
        char *slash = strrchr(absfile, '/');
        yaml_dir = strndup(absfile, slash && slash != absfile ?
                                    (size_t)(slash - absfile) : 1);
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_doc = 0;
    if (!yaml_dir || !yaml_parser_initialize(&parser)) {
        fclose(f);
        free(absfile);
        free(yaml_dir);
        return -1;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        cd_log(p->log, COMFY_LOG_ERROR, "extra model paths: %s: %s at line %zu",
               file, parser.problem ? parser.problem : "invalid YAML",
               parser.problem_mark.line + 1);
        goto out;
    }
    have_doc = 1;
    cd_log(p->log, COMFY_LOG_INFO, "Adding extra search paths from %s", file);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = 0;
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        cd_log(p->log, COMFY_LOG_ERROR, "extra model paths: %s is not a mapping",
               file);
        goto out;
    }
    for (yaml_node_pair_t *sec = root->data.mapping.pairs.start;
         sec < root->data.mapping.pairs.top; sec++) {
        yaml_node_t *conf = yaml_document_get_node(&doc, sec->value);
        if (!conf || conf->type != YAML_MAPPING_NODE)
            continue; /* a null section is skipped */
        char *base_path = NULL;
        int is_default = 0;
        /* First pass: base_path and is_default. */
        for (yaml_node_pair_t *kv = conf->data.mapping.pairs.start;
             kv < conf->data.mapping.pairs.top; kv++) {
            yaml_node_t *k = yaml_document_get_node(&doc, kv->key);
            yaml_node_t *v = yaml_document_get_node(&doc, kv->value);
            if (!k || !v || k->type != YAML_SCALAR_NODE ||
                v->type != YAML_SCALAR_NODE)
                continue;
            const char *key = (const char *)k->data.scalar.value;
            const char *val = (const char *)v->data.scalar.value;
            if (strcmp(key, "base_path") == 0) {
                free(base_path);
                char *e = expand_path(val);
                base_path = NULL;
                if (e && e[0] != '/') {
                    char j[PATH_MAX];
                    if (path_join(yaml_dir, e, j, sizeof j) == 0)
                        base_path = strdup(j);
                    free(e);
                } else {
                    base_path = e;
                }
            } else if (strcmp(key, "is_default") == 0) {
                is_default = strcmp(val, "true") == 0 || strcmp(val, "True") == 0 ||
                             strcmp(val, "yes") == 0 || strcmp(val, "on") == 0;
            }
        }
        for (yaml_node_pair_t *kv = conf->data.mapping.pairs.start;
             kv < conf->data.mapping.pairs.top; kv++) {
            yaml_node_t *k = yaml_document_get_node(&doc, kv->key);
            yaml_node_t *v = yaml_document_get_node(&doc, kv->value);
            if (!k || !v || k->type != YAML_SCALAR_NODE)
                continue;
            const char *key = (const char *)k->data.scalar.value;
            if (strcmp(key, "base_path") == 0 || strcmp(key, "is_default") == 0)
                continue;
            if (v->type != YAML_SCALAR_NODE) {
                cd_log(p->log, COMFY_LOG_WARNING,
                       "extra model paths: %s: '%s' is not a path; skipped",
                       file, key);
                continue;
            }
            const char *val = (const char *)v->data.scalar.value;
            const char *line = val;
            while (*line) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t)(nl - line) : strlen(line);
                if (len > 0 && len < PATH_MAX) {
                    char one[PATH_MAX], full[PATH_MAX * 2], norm[PATH_MAX * 2];
                    memcpy(one, line, len);
                    one[len] = '\0';
                    int ok;
                    if (base_path)
                        ok = path_join(base_path, one, full, sizeof full) == 0;
                    else if (one[0] != '/')
                        ok = path_join(yaml_dir, one, full, sizeof full) == 0;
                    else
                        ok = snprintf(full, sizeof full, "%s", one) < (int)sizeof full;
                    if (ok && cd_path_normalize(full, norm, sizeof norm) == 0) {
                        cd_log(p->log, COMFY_LOG_INFO, "Adding extra search path %s %s",
                               key, norm);
                        if (cd_paths_add_model_dir(p, key, norm, is_default) < 0) {
                            free(base_path);
                            goto out;
                        }
                    }
                }
                line += len;
                if (*line == '\n')
                    line++;
            }
        }
        free(base_path);
    }
    rc = 0;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    free(absfile);
    free(yaml_dir);
    return rc;
}

static char *dir_or_default(const char *given, const char *base, const char *sub)
{
    if (given)
        return abspath_dup(given);
    char j[PATH_MAX];
    if (path_join(base, sub, j, sizeof j) < 0)
        return NULL;
    return strdup(j);
}

cd_paths *cd_paths_new(const cd_config *cfg, cd_logger *log)
{
    cd_paths *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->log = log;
    p->base = abspath_dup(cfg->base_directory ? cfg->base_directory : ".");
    if (!p->base)
        goto nomem;
    p->models = dir_or_default(NULL, p->base, "models");
    p->input = dir_or_default(cfg->input_directory, p->base, "input");
    p->output = dir_or_default(cfg->output_directory, p->base, "output");
    if (cfg->temp_directory) {
        char *t = abspath_dup(cfg->temp_directory);
        char j[PATH_MAX];
        if (t && path_join(t, "temp", j, sizeof j) == 0)
            p->temp = strdup(j);
        free(t);
    } else {
        p->temp = dir_or_default(NULL, p->base, "temp");
    }
    p->user = dir_or_default(cfg->user_directory, p->base, "user");
    if (!p->models || !p->input || !p->output || !p->temp || !p->user)
        goto nomem;

    for (size_t i = 0; i < sizeof default_folders / sizeof default_folders[0]; i++) {
        folder *f = add_folder(p, default_folders[i].name, default_folders[i].exts);
        if (!f)
            goto nomem;
        for (size_t d = 0; d < 2 && default_folders[i].dirs[d]; d++) {
            const char *rel = default_folders[i].dirs[d];
            char j[PATH_MAX];
            int r = strncmp(rel, "@base/", 6) == 0
                        ? path_join(p->base, rel + 6, j, sizeof j)
                        : path_join(p->models, rel, j, sizeof j);
            if (r < 0 || cd_strlist_push(&f->dirs, j) < 0)
                goto nomem;
        }
    }

    /* extra_model_paths.yaml beside the base directory, then the flags. */
    char extra[PATH_MAX];
    if (path_join(p->base, "extra_model_paths.yaml", extra, sizeof extra) == 0 &&
        access(extra, R_OK) == 0)
        cd_paths_load_extra_yaml(p, extra);
    for (size_t i = 0; i < cfg->n_extra_model_paths; i++)
        cd_paths_load_extra_yaml(p, cfg->extra_model_paths[i]);

    static const char *const out_sub[][2] = {
        {"checkpoints", "checkpoints"}, {"text_encoders", "clip"},
        {"vae", "vae"}, {"diffusion_models", "diffusion_models"},
        {"loras", "loras"}};
    for (size_t i = 0; i < 5; i++) {
        char j[PATH_MAX];
        if (path_join(p->output, out_sub[i][1], j, sizeof j) < 0 ||
            cd_paths_add_model_dir(p, out_sub[i][0], j, 0) < 0)
            goto nomem;
    }

    if (cfg->base_directory)
        cd_log(log, COMFY_LOG_INFO, "Setting base directory to: %s", p->base);
    if (cfg->input_directory)
        cd_log(log, COMFY_LOG_INFO, "Setting input directory to: %s", p->input);
    if (cfg->output_directory)
        cd_log(log, COMFY_LOG_INFO, "Setting output directory to: %s", p->output);
    if (cfg->temp_directory)
        cd_log(log, COMFY_LOG_INFO, "Setting temp directory to: %s", p->temp);
    if (cfg->user_directory)
        cd_log(log, COMFY_LOG_INFO, "Setting user directory to: %s", p->user);

    /* Temp is emptied at start-up (and at shutdown), as ComfyUI does. */
    if (remove_tree(p->temp) < 0)
        cd_log(log, COMFY_LOG_WARNING, "could not empty the temp directory %s: %s",
               p->temp, strerror(errno));
    const char *make[] = {p->input, p->output, p->temp, p->user};
    for (size_t i = 0; i < 4; i++) {
        if (cd_path_mkdirs(make[i]) < 0) {
            cd_log(log, COMFY_LOG_ERROR, "cannot create directory %s: %s",
                   make[i], strerror(errno));
            cd_paths_free(p);
            return NULL;
        }
    }
    return p;
nomem:
    cd_log(log, COMFY_LOG_ERROR, "folder setup failed: out of memory or a path "
                                 "too long");
    cd_paths_free(p);
    return NULL;
}

void cd_paths_free(cd_paths *p)
{
    if (!p)
        return;
    if (p->temp)
        remove_tree(p->temp);
    for (size_t i = 0; i < p->n_folders; i++) {
        free(p->folders[i].name);
        cd_strlist_free(&p->folders[i].dirs);
        cd_strlist_free(&p->folders[i].exts);
    }
    free(p->folders);
    free(p->base);
    free(p->models);
    free(p->input);
    free(p->output);
    free(p->temp);
    free(p->user);
    free(p);
}

const char *cd_paths_base(const cd_paths *p) { return p->base; }
const char *cd_paths_models(const cd_paths *p) { return p->models; }
const char *cd_paths_input(const cd_paths *p) { return p->input; }
const char *cd_paths_output(const cd_paths *p) { return p->output; }
const char *cd_paths_temp(const cd_paths *p) { return p->temp; }
const char *cd_paths_user(const cd_paths *p) { return p->user; }

const char *cd_paths_by_type(const cd_paths *p, const char *type)
{
    if (!type)
        return NULL;
    if (strcmp(type, "input") == 0)
        return p->input;
    if (strcmp(type, "output") == 0)
        return p->output;
    if (strcmp(type, "temp") == 0)
        return p->temp;
    return NULL;
}

size_t cd_paths_folder_count(const cd_paths *p) { return p->n_folders; }

const char *cd_paths_folder_name(const cd_paths *p, size_t i)
{
    return i < p->n_folders ? p->folders[i].name : NULL;
}

const cd_strlist *cd_paths_folder_dirs(const cd_paths *p, const char *name,
                                       int aliases)
{
    const folder *f = find_folder(p, aliases ? alias(name) : name);
    return f ? &f->dirs : NULL;
}

/* ---- listing ---------------------------------------------------------------- */

static int ext_ok(const folder *f, const char *rel)
{
    if (f->any_ext || f->exts.n == 0)
        return 1;
    char ext[64];
    lower_ext(rel, ext, sizeof ext);
    for (size_t i = 0; i < f->exts.n; i++)
        if (strcmp(f->exts.v[i], ext) == 0)
            return 1;
    return 0;
}

static int walk(const folder *f, const char *root, const char *rel, int depth,
                cd_strlist *out)
{
    char dirpath[PATH_MAX];
    if (rel[0] ? path_join(root, rel, dirpath, sizeof dirpath) < 0
               : snprintf(dirpath, sizeof dirpath, "%s", root) >= (int)sizeof dirpath)
        return 0;
    DIR *d = opendir(dirpath);
    if (!d)
        return 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char full[PATH_MAX], sub[PATH_MAX];
        if (path_join(dirpath, e->d_name, full, sizeof full) < 0)
            continue;
        if (rel[0] ? path_join(rel, e->d_name, sub, sizeof sub) < 0
                   : snprintf(sub, sizeof sub, "%s", e->d_name) >= (int)sizeof sub)
            continue;
        struct stat st;
        if (stat(full, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (strcmp(e->d_name, ".git") == 0 || depth >= WALK_MAX_DEPTH)
                continue;
            if ((rc = walk(f, root, sub, depth + 1, out)) < 0)
                break;
        } else if (S_ISREG(st.st_mode) && ext_ok(f, sub)) {
            if (out->n >= WALK_MAX_FILES || cd_strlist_push(out, sub) < 0) {
                rc = -1;
                break;
            }
        }
    }
    closedir(d);
    return rc;
}

int cd_paths_list(const cd_paths *p, const char *name, int aliases,
                  cd_strlist *out)
{
    const folder *f = find_folder(p, aliases ? alias(name) : name);
    if (!f)
        return COMFY_ENOENT;
    for (size_t i = 0; i < f->dirs.n; i++)
        if (walk(f, f->dirs.v[i], "", 0, out) < 0)
            return COMFY_ENOMEM;
    strlist_sort_unique(out);
    return COMFY_OK;
}

/* ---- resolving -------------------------------------------------------------- */

/* Whether `rel` is a name a client may use below a directory: not empty,
 * not absolute, no ".." component. */
static int rel_ok(const char *rel)
{
    if (!rel || !rel[0] || rel[0] == '/')
        return 0;
    const char *p = rel;
    while (*p) {
        const char *s = p;
        while (*p && *p != '/')
            p++;
        if (p - s == 2 && s[0] == '.' && s[1] == '.')
            return 0;
        while (*p == '/')
            p++;
    }
    return 1;
}

int cd_paths_join_beneath(const char *dir, const char *rel, char *out,
                          size_t cap)
{
    char norm[PATH_MAX], joined[PATH_MAX], rdir[PATH_MAX], probe[PATH_MAX],
        rprobe[PATH_MAX];
    struct stat st;
    if (!dir || !dir[0] || !rel || rel[0] == '/')
        return -1;
    /* Lexically: "." and repeated slashes drop out, ".." takes back the
     * previous name; climbing above `dir` is refused even when the path
     * would come back in. */
    if (cd_path_normalize(rel, norm, sizeof norm) < 0 || strcmp(norm, "..") == 0 ||
        strncmp(norm, "../", 3) == 0)
        return -1;
    if (strcmp(norm, ".") == 0 ? snprintf(joined, sizeof joined, "%s", dir) >= (int)sizeof joined
                               : path_join(dir, norm, joined, sizeof joined) < 0)
        return -1;
    if (!realpath(dir, rdir)) {
        /* A directory not made yet (nothing at all at its name): nothing
         * beneath it exists, so no link can lead out.  Anything else (a
         * dangling link, no access) is refused. */
        if (errno == ENOENT && lstat(dir, &st) < 0 && errno == ENOENT)
            goto done;
        return -1;
    }
    /* Resolve the deepest part that exists: every symlink on the way must
     * keep us inside `dir`. */
    if (snprintf(probe, sizeof probe, "%s", joined) >= (int)sizeof probe)
        return -1;
    for (;;) {
        if (realpath(probe, rprobe))
            break;
        if (errno != ENOENT && errno != ENOTDIR)
            return -1;
        char *slash = strrchr(probe, '/');
        if (!slash || slash == probe)
            return -1;
        *slash = '\0';
        /* A dangling symlink as the last existing part could later be
         * created outside: refuse it. */
        if (lstat(probe, &st) == 0 && S_ISLNK(st.st_mode) && stat(probe, &st) < 0)
            return -1;
    }
    size_t dl = strlen(rdir);
    int inside = strcmp(rprobe, rdir) == 0 ||
                 (strncmp(rprobe, rdir, dl) == 0 &&
                  (rprobe[dl] == '/' || (dl == 1 && rdir[0] == '/')));
    if (!inside)
        return -1;
    /* A dangling symlink at the full path would write outside. */
    if (lstat(joined, &st) == 0 && S_ISLNK(st.st_mode) && stat(joined, &st) < 0)
        return -1;
done:
    if (snprintf(out, cap, "%s", joined) >= (int)cap)
        return -1;
    return 0;
}

int cd_paths_resolve(const cd_paths *p, const char *name, const char *file,
                     char *out, size_t cap)
{
    const folder *f = find_folder(p, alias(name));
    if (!f)
        return COMFY_ENOENT;
    if (!rel_ok(file))
        return COMFY_EACCES;
    char norm[PATH_MAX];
    if (cd_path_normalize(file, norm, sizeof norm) < 0)
        return COMFY_EINVAL;
    for (size_t i = 0; i < f->dirs.n; i++) {
        char full[PATH_MAX];
        if (path_join(f->dirs.v[i], norm, full, sizeof full) < 0)
            continue;
        struct stat st;
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
            if (snprintf(out, cap, "%s", full) >= (int)cap)
                return COMFY_EINVAL;
            return COMFY_OK;
        }
    }
    return COMFY_ENOENT;
}

int cd_paths_annotated(const cd_paths *p, const char *name,
                       const char *default_type, char *out, size_t cap)
{
    static const struct { const char *tag; const char *type; } tags[] = {
        {"[output]", "output"}, {"[input]", "input"}, {"[temp]", "temp"}};
    if (!name)
        return COMFY_EINVAL;
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", name) >= (int)sizeof buf)
        return COMFY_EINVAL;
    const char *dir = cd_paths_by_type(p, default_type ? default_type : "input");
    size_t len = strlen(buf);
    for (size_t i = 0; i < 3; i++) {
        size_t tl = strlen(tags[i].tag);
        if (len >= tl && strcmp(buf + len - tl, tags[i].tag) == 0) {
            /* Drops " [output]"; unlike ComfyUI, "x.png[output]" keeps its
             * last character (spec/api.md §8.5 QUIRK, fixed). */
            len -= tl;
            if (len > 0 && buf[len - 1] == ' ')
                len--;
            buf[len] = '\0';
            dir = cd_paths_by_type(p, tags[i].type);
            break;
        }
    }
    if (!dir)
        return COMFY_EINVAL;
    if (!buf[0])
        return COMFY_EINVAL;
    if (cd_paths_join_beneath(dir, buf, out, cap) < 0)
        return COMFY_EACCES; /* escapes (or does not fit in out) */
    struct stat st;
    if (stat(out, &st) < 0 || !S_ISREG(st.st_mode))
        return COMFY_ENOENT;
    return COMFY_OK;
}

/* ---- output file names (§8.7) ----------------------------------------------- */

/* Replaces every `key` in s[cap] by `val`.  0 or -1 if it does not fit. */
static int replace_all(char *s, size_t cap, const char *key, const char *val)
{
    char tmp[4096];
    size_t kl = strlen(key), vl = strlen(val), o = 0;
    const char *p = s;
    const char *hit;
    while ((hit = strstr(p, key))) {
        size_t n = (size_t)(hit - p);
        if (o + n + vl >= sizeof tmp)
            return -1;
        memcpy(tmp + o, p, n);
        o += n;
        memcpy(tmp + o, val, vl);
        o += vl;
        p = hit + kl;
    }
    size_t rest = strlen(p);
    if (o + rest >= sizeof tmp || o + rest >= cap)
        return -1;
    memcpy(tmp + o, p, rest);
    o += rest;
    tmp[o] = '\0';
    memcpy(s, tmp, o + 1);
    return 0;
}

/* Byte offset of the n-th code point of UTF-8 `s` (its length if shorter). */
static size_t utf8_offset(const char *s, size_t n)
{
    size_t i = 0;
    while (s[i] && n > 0) {
        i++;
        while ((s[i] & 0xC0) == 0x80)
            i++;
        n--;
    }
    return i;
}

static size_t utf8_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if ((*s & 0xC0) != 0x80)
            n++;
    return n;
}

int cd_paths_save_path(const cd_paths *p, const char *which, const char *prefix,
                       int64_t width, int64_t height, comfy_save_path *out)
{
    const char *root = which ? cd_paths_by_type(p, which) : p->output;
    if (!root || !prefix || !out ||
        !COMFY_HAS_FIELD(out, comfy_save_path, counter))
        return COMFY_EINVAL;
    if (strcmp(which ? which : "output", "output") != 0 &&
        strcmp(which, "temp") != 0)
        return COMFY_EINVAL;
    char pre[2048];
    if (snprintf(pre, sizeof pre, "%s", prefix) >= (int)sizeof pre)
        return COMFY_EINVAL;
    if (strchr(pre, '%')) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char v[8][32];
        snprintf(v[0], sizeof v[0], "%lld", (long long)width);
        snprintf(v[1], sizeof v[1], "%lld", (long long)height);
        snprintf(v[2], sizeof v[2], "%d", tm.tm_year + 1900);
        snprintf(v[3], sizeof v[3], "%02d", tm.tm_mon + 1);
        snprintf(v[4], sizeof v[4], "%02d", tm.tm_mday);
        snprintf(v[5], sizeof v[5], "%02d", tm.tm_hour);
        snprintf(v[6], sizeof v[6], "%02d", tm.tm_min);
        snprintf(v[7], sizeof v[7], "%02d", tm.tm_sec);
        static const char *const keys[] = {"%width%", "%height%", "%year%",
                                           "%month%", "%day%", "%hour%",
                                           "%minute%", "%second%"};
        for (size_t i = 0; i < 8; i++)
            if (replace_all(pre, sizeof pre, keys[i], v[i]) < 0)
                return COMFY_EINVAL;
    }
    /* k: the length (in characters) of the prefix's base name before
     * normalisation, as ComfyUI's map_filename uses it. */
    const char *bn = strrchr(pre, '/');
    size_t k = utf8_count(bn ? bn + 1 : pre);

    char norm[2048];
    if (cd_path_normalize(pre, norm, sizeof norm) < 0)
        return COMFY_EINVAL;
    const char *slash = strrchr(norm, '/');
    char subfolder[1024], filename[1024];
    if (slash) {
        size_t sl = (size_t)(slash - norm);
        if (sl == 0)
            sl = 1; /* "/x": dirname "/" */
        if (sl >= sizeof subfolder)
            return COMFY_EINVAL;
        memcpy(subfolder, norm, sl);
        subfolder[sl] = '\0';
        if (snprintf(filename, sizeof filename, "%s", slash + 1) >= (int)sizeof filename)
            return COMFY_EINVAL;
    } else {
        subfolder[0] = '\0';
        if (snprintf(filename, sizeof filename, "%s", norm) >= (int)sizeof filename)
            return COMFY_EINVAL;
    }
    /* The folder must stay inside root (lexically, as os.path.commonpath). */
    char full[PATH_MAX], fnorm[PATH_MAX];
    if (subfolder[0] == '/' || strcmp(subfolder, "..") == 0 ||
        strncmp(subfolder, "../", 3) == 0)
        return COMFY_EACCES;
    if ((subfolder[0] ? path_join(root, subfolder, full, sizeof full)
                      : snprintf(full, sizeof full, "%s", root) >= (int)sizeof full) ||
        cd_path_normalize(full, fnorm, sizeof fnorm) < 0)
        return COMFY_EINVAL;
    size_t rl = strlen(root);
    if (!(strncmp(fnorm, root, rl) == 0 && (fnorm[rl] == '\0' || fnorm[rl] == '/')))
        return COMFY_EACCES;

    int64_t best = 0;
    DIR *d = opendir(fnorm);
    if (!d) {
        if (errno != ENOENT || cd_path_mkdirs(fnorm) < 0)
            return COMFY_ERR;
    } else {
        size_t fl = strlen(filename);
        struct dirent *e;
        while ((e = readdir(d))) {
            const char *n = e->d_name;
            /* ComfyUI: prefix = name[:k + 1], which must be filename + "_". */
            size_t cut = utf8_offset(n, k + 1);
            if (cut != fl + 1 || strncmp(n, filename, fl) != 0 || n[fl] != '_')
                continue;
            /* digits = int(name[k + 1:].split('_')[0]), or 0. */
            const char *s = n + cut;
            const char *u = strchr(s, '_');
            size_t dl = u ? (size_t)(u - s) : strlen(s);
            char num[32];
            int64_t v = 0;
            if (dl > 0 && dl < sizeof num) {
                memcpy(num, s, dl);
                num[dl] = '\0';
                char *end;
                errno = 0;
                long long x = strtoll(num, &end, 10);
                while (*end == ' ' || *end == '\t' || *end == '\n')
                    end++;
                if (!errno && end != num && *end == '\0')
                    v = x;
            }
            if (v + 1 > best)
                best = v + 1;
        }
        closedir(d);
    }
    if (best < 1)
        best = 1;
    if (snprintf(out->full_folder, sizeof out->full_folder, "%s", fnorm) >=
            (int)sizeof out->full_folder ||
        snprintf(out->filename, sizeof out->filename, "%s", filename) >=
            (int)sizeof out->filename ||
        snprintf(out->subfolder, sizeof out->subfolder, "%s", subfolder) >=
            (int)sizeof out->subfolder)
        return COMFY_EINVAL;
    out->counter = best;
    return COMFY_OK;
}
