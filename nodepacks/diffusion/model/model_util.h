/*
 * model_util.h — what the model library's readers share (safetensors.c,
 * pickle_ckpt.c, detect.c): writing an error message, the read-only
 * mapping of a whole file and the "<path>: " prefix on a reader's message.
 * Internal to the library; thread-safe (no shared state).
 */
#ifndef CD_MODEL_UTIL_H
#define CD_MODEL_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Formats a message into err[errlen]; nothing when err is NULL or errlen
 * is 0. */
void cd_model_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A whole file mapped read-only. */
typedef struct cd_model_map {
    const void *base; /* the mapping; released with cd_model_unmap      */
    size_t size;
    int64_t mtime_ns; /* modification time, nanoseconds since the epoch */
} cd_model_map;

/* Maps the regular file `path`.  0 with *m filled (the caller releases it
 * with cd_model_unmap), or CD_MODEL_EIO (cannot open, not a regular file,
 * cannot map) or CD_MODEL_EFORMAT (shorter than `min_size` bytes, `what`
 * naming what it is too short for), with the reason in err[errlen]. */
int cd_model_map_file(const char *path, size_t min_size, const char *what, cd_model_map *m,
                      char *err, size_t errlen);

/* Releases a mapping of cd_model_map_file (NULL base: nothing). */
void cd_model_unmap(cd_model_map *m);

/* Prefixes the reason in err[errlen], when there is one, with "<path>: ". */
void cd_model_err_prefix(char *err, size_t errlen, const char *path);

#endif
