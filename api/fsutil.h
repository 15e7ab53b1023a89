/*
 * fsutil.h — file-system helpers of the network layer: a file's parent
 * directory, reading and writing whole files with a ceiling.  A client's
 * relative path is joined under a root with cd_paths_join_beneath and
 * directories are made with cd_path_mkdirs (both runtime/paths.h).
 * Thread-safe (no shared state).
 */
#ifndef CD_API_FSUTIL_H
#define CD_API_FSUTIL_H

#include <stddef.h>

#define CD_PATH_MAX 4096

/* Creates the parent directory of `path` (cd_path_mkdirs, runtime/paths.h).
 * 0 or -1. */
int cd_fs_mkparent(const char *path);

/* Reads a whole regular file of at most `max` bytes into a new buffer
 * (NUL-terminated, caller frees).  NULL when missing, too large or on
 * error. */
char *cd_fs_read(const char *path, size_t max, size_t *len);

/* Writes len bytes to path (via a temporary file renamed into place).
 * 0 or -1 (errno set). */
int cd_fs_write(const char *path, const void *p, size_t len);

/* Whether path is a regular file / a directory (following links). */
int cd_fs_is_file(const char *path);
int cd_fs_is_dir(const char *path);

#endif
