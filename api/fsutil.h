/*
 * fsutil.h — file-system helpers of the network layer: joining a client's
 * relative path under a root without escaping it (lexically and through
 * symbolic links), creating directories, reading and writing whole files
 * with a ceiling.  Thread-safe (no shared state).
 */
#ifndef CD_API_FSUTIL_H
#define CD_API_FSUTIL_H

#include <stddef.h>

#define CD_PATH_MAX 4096

/* Normalises `rel` as Python's os.path.normpath would (collapsing "." and
 * "..", repeated slashes) and joins it under `root` into out[cap].  Fails
 * (-1) when rel is absolute, contains a NUL, climbs above the root, does
 * not fit, or when the deepest existing ancestor of the result resolves
 * (symbolic links followed) outside the resolved root.  An empty rel gives
 * the root itself.  0 on success. */
int cd_fs_join_beneath(const char *root, const char *rel, char *out, size_t cap);

/* mkdir -p.  0 or -1 (errno set). */
int cd_fs_mkdirs(const char *path);
/* Creates the parent directory of `path`.  0 or -1. */
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
