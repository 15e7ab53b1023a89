/*
 * modelfile.h — one opened weights file of either format, reference
 * counted, and a cache of them keyed by path + mtime + size.
 *
 * cd_model_file_open sniffs the content (a zip archive is a torch .ckpt/.pt,
 * anything else is read as .safetensors), so a misnamed file still loads or
 * fails with the right message.  A cd_model_file is immutable once open;
 * any thread may read it and take/drop references.
 *
 * The cache is what loaders use: cd_model_cache_get returns the cached file
 * when the path's mtime and size are unchanged, else opens it again (the
 * stale object lives on while someone holds it).  cd_model_cache_clear is
 * the /free {"unload_models": true} hook; cd_model_cache_bytes feeds the RAM
 * figure of /system_stats.  All cache calls are thread-safe (one mutex).
 */
#ifndef CD_MODEL_MODELFILE_H
#define CD_MODEL_MODELFILE_H

#include <stdint.h>

#include "pickle_ckpt.h"
#include "safetensors.h"
#include "statedict.h"

typedef enum cd_model_format { CD_FORMAT_SAFETENSORS = 1, CD_FORMAT_CKPT = 2 } cd_model_format;

typedef struct cd_model_file cd_model_file;

/* Opens path.  Returns 0 and a new reference in *out, or a negative status
 * with a message in err. */
int cd_model_file_open(const char *path, cd_model_file **out, char *err, size_t errlen);

/* Takes / drops a reference; the last drop unmaps.  NULL is ignored. */
cd_model_file *cd_model_file_ref(cd_model_file *f);
void cd_model_file_unref(cd_model_file *f);

cd_model_format cd_model_file_format(const cd_model_file *f);
const cd_sd *cd_model_file_index(const cd_model_file *f);
const cd_tensor *cd_model_file_find(const cd_model_file *f, const char *name);
size_t cd_model_file_count(const cd_model_file *f);
const cd_tensor *cd_model_file_tensor(const cd_model_file *f, size_t i);
/* The safetensors object (for __metadata__), or NULL for a .ckpt. */
const cd_st_file *cd_model_file_safetensors(const cd_model_file *f);
const char *cd_model_file_path(const cd_model_file *f);
uint64_t cd_model_file_size(const cd_model_file *f);

typedef struct cd_model_cache cd_model_cache;

/* A cache holding at most max_files files (least recently used dropped
 * first).  Returns NULL when memory runs out. */
cd_model_cache *cd_model_cache_new(size_t max_files);
void cd_model_cache_free(cd_model_cache *c);

/* Returns 0 and a new reference in *out (the caller unrefs it), or the
 * open error. */
int cd_model_cache_get(cd_model_cache *c, const char *path, cd_model_file **out, char *err,
                       size_t errlen);

/* Drops every cached file (holders keep theirs alive). */
void cd_model_cache_clear(cd_model_cache *c);

/* Number of cached files and the total size of their mappings. */
size_t cd_model_cache_count(cd_model_cache *c);
uint64_t cd_model_cache_bytes(cd_model_cache *c);

#endif
