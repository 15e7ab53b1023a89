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

typedef struct cd_paths cd_paths;

/* Absolute directories; borrowed, valid for the paths' lifetime. */
const char *cd_paths_base(const cd_paths *p);
const char *cd_paths_input(const cd_paths *p);
const char *cd_paths_output(const cd_paths *p);
const char *cd_paths_temp(const cd_paths *p);
const char *cd_paths_user(const cd_paths *p);

/* The directory for a /view or upload "type": "input", "output" or "temp";
 * NULL for anything else. */
const char *cd_paths_by_type(const cd_paths *p, const char *type);

/* Joins `rel` (a subfolder and/or file name from a client) under `dir` into
 * out[cap] and checks that the result stays inside `dir` after resolving
 * "..", absolute paths and symbolic links.  0, or -1 (escapes, does not
 * fit, or an empty/NUL-containing name). */
int cd_paths_join_beneath(const char *dir, const char *rel, char *out,
                          size_t cap);

#endif
