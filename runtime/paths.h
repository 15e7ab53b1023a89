/*
 * paths.h — ComfyUI's folder layout (spec/api.md §8).
 *
 * Base, input, output, temp and user directories, and the model folders
 * ("checkpoints", "loras", ... with their accepted extensions, plus the
 * folders that extra_model_paths.yaml adds).  Listings read the disk each
 * time, so new files show up without a restart.
 */
#ifndef CD_PATHS_H
#define CD_PATHS_H

#include <stddef.h>
#include <stdint.h>

#include "comfy/comfy.h"
#include "config.h"
#include "log.h"

typedef struct cd_paths cd_paths;

/* A growable list of owned strings. */
typedef struct cd_strlist {
    char **v;        /* owned strings */
    size_t n, cap;
} cd_strlist;
int cd_strlist_push(cd_strlist *l, const char *s);   /* copies s; 0 or -1 */
void cd_strlist_free(cd_strlist *l);                 /* frees and empties */

/* Builds the layout from the configuration (spec/api.md §8.1-8.3): makes
 * base-relative defaults absolute, registers the model folders of §8.2,
 * loads <base>/extra_model_paths.yaml when present and every
 * --extra-model-paths-config file (a file that fails is logged and
 * skipped), appends the output directory's model subfolders, empties the
 * temp directory and creates input, output, temp and user.  Returns NULL
 * when a directory cannot be created or memory runs out (logged).  `log`
 * is borrowed and must outlive the paths.  Caller frees with
 * cd_paths_free, which also empties the temp directory again. */
cd_paths *cd_paths_new(const cd_config *cfg, cd_logger *log);
void cd_paths_free(cd_paths *p);

/* Absolute directories; borrowed, valid for the paths' lifetime. */
const char *cd_paths_base(const cd_paths *p);
const char *cd_paths_input(const cd_paths *p);
const char *cd_paths_output(const cd_paths *p);
const char *cd_paths_temp(const cd_paths *p);
const char *cd_paths_user(const cd_paths *p);

const char *cd_paths_models(const cd_paths *p);     /* <base>/models */

/* The directory for a /view or upload "type": "input", "output" or "temp";
 * NULL for anything else. */
const char *cd_paths_by_type(const cd_paths *p, const char *type);

/* Joins `rel` (a subfolder and/or file name from a client) under `dir` into
 * out[cap], the one path check of runtime and network layer.  `rel` is
 * normalised as Python's os.path.normpath would ("." and repeated slashes
 * dropped, ".." taking back the previous name); an empty rel gives `dir`
 * itself.  Fails (-1) when rel is absolute, climbs above `dir` (even if it
 * would come back in), does not fit, when the deepest existing part of the
 * result resolves (symbolic links followed) outside the resolved `dir`, or
 * when that part or the result is a dangling symbolic link.  A `dir` that
 * does not exist yet passes (nothing beneath it can lead out).  0 on
 * success.  Thread-safe. */
int cd_paths_join_beneath(const char *dir, const char *rel, char *out,
                          size_t cap);

/* Model folders in registration order (/models, /internal/folder_paths). */
size_t cd_paths_folder_count(const cd_paths *p);
const char *cd_paths_folder_name(const cd_paths *p, size_t i);
/* The directories of folder `name` (borrowed), or NULL when unknown.  With
 * `aliases` the legacy names "unet" and "clip" are accepted too. */
const cd_strlist *cd_paths_folder_dirs(const cd_paths *p, const char *name,
                                       int aliases);

/* Appends to `out` the files of folder `name`: every directory walked
 * recursively (symlinks followed, .git skipped), relative names
 * "sub/x.ext" kept when the extension is accepted, de-duplicated and
 * sorted by code point.  COMFY_OK, COMFY_ENOENT for an unknown folder,
 * COMFY_ENOMEM. */
int cd_paths_list(const cd_paths *p, const char *name, int aliases,
                  cd_strlist *out);

/* Resolves `file` in folder `name` (aliases accepted) to the first
 * directory holding it as a regular file, into out[cap].  COMFY_OK,
 * COMFY_ENOENT (unknown folder or no such file), COMFY_EACCES (absolute
 * or ".." in `file`), COMFY_EINVAL (does not fit). */
int cd_paths_resolve(const cd_paths *p, const char *name, const char *file,
                     char *out, size_t cap);

/* Resolves an annotated name (spec/api.md §8.5: "x.png [output]", "[temp]",
 * "[input]"; no annotation: the `default_type` directory, NULL meaning
 * "input") into out[cap].  COMFY_OK; COMFY_ENOENT when no regular file is
 * there (out is still filled); COMFY_EACCES when it escapes; COMFY_EINVAL. */
int cd_paths_annotated(const cd_paths *p, const char *name,
                       const char *default_type, char *out, size_t cap);

/* ComfyUI's get_save_image_path (spec/api.md §8.7) in `which` ("output" or
 * "temp"; NULL = "output"): expands %width% ... %second%, splits off the
 * subfolder, refuses one leaving the directory (COMFY_EACCES), creates it
 * when missing and computes the next counter.  `out->size` must be set.
 * COMFY_OK, COMFY_EINVAL, COMFY_EACCES or COMFY_ERR (cannot create). */
int cd_paths_save_path(const cd_paths *p, const char *which, const char *prefix,
                       int64_t width, int64_t height, comfy_save_path *out);

/* Adds a model directory as extra_model_paths.yaml does (aliases applied;
 * is_default puts it first; an unknown folder is created accepting every
 * file).  Only while building, before the paths are shared.  0 or -1. */
int cd_paths_add_model_dir(cd_paths *p, const char *name, const char *dir,
                           int is_default);
/* Loads one extra_model_paths.yaml (§8.3).  0, or -1 (logged). */
int cd_paths_load_extra_yaml(cd_paths *p, const char *file);

/* Python's os.path.normpath of `path` into out[cap].  0 or -1. */
int cd_path_normalize(const char *path, char *out, size_t cap);

/* mkdir -p: makes `dir` and its missing parents (mode 0755), the one
 * directory maker of runtime and network layer.  0, or -1 with errno set
 * (ENOTDIR when something other than a directory is in the way,
 * ENAMETOOLONG).  Thread-safe. */
int cd_path_mkdirs(const char *dir);

#endif
