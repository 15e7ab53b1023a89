/*
 * safetensors.h — a validating, mmap-based .safetensors reader.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {string: string}}), then the data region.  Opening a file
 * maps it read-only and checks everything before handing out a tensor:
 * N <= CD_ST_MAX_HEADER and inside the file, the JSON is well formed (depth
 * bounded) and of the expected shape, every dtype is known, shape x element
 * size equals the byte span, spans lie inside the data region, do not
 * overlap and cover it exactly as the reference implementation requires.
 * A file that fails any check gives CD_MODEL_EFORMAT/EUNSUPPORTED and a
 * message naming the problem; nothing is mapped afterwards.
 *
 * Nothing is read from the data region at open, so opening a 2 GB file
 * costs one header parse; pages come in when a tensor is first touched.
 *
 * Ownership: cd_st_open returns a new cd_st_file the caller closes with
 * cd_st_close; tensor views, names and metadata strings are borrowed from it.
 * A file object is immutable after open: any thread may read it.
 */
#ifndef CD_MODEL_SAFETENSORS_H
#define CD_MODEL_SAFETENSORS_H

#include <stdint.h>
#include <sys/types.h>

#include "statedict.h"
#include "tensor.h"

#define CD_ST_MAX_HEADER 100000000u /* bytes of header JSON, as the reference reader */
#define CD_ST_MAX_NAME 4096                      /* bytes in one key      */
#define CD_ST_JSON_DEPTH 8                       /* nesting of the header */

typedef struct cd_st_file cd_st_file;

/* Opens and validates path.  Returns 0 and sets *out, or a negative status
 * with a one-line reason in err (which may be NULL). */
int cd_st_open(const char *path, cd_st_file **out, char *err, size_t errlen);

/* Same on a caller-owned memory image (not copied; must outlive the file).
 * Used by tests and the fuzz target. */
int cd_st_open_mem(const void *data, size_t size, cd_st_file **out,
                   char *err, size_t errlen);

/* Unmaps and frees.  NULL is ignored. */
void cd_st_close(cd_st_file *f);

/* Tensors in data-offset order (the order of the file). */
size_t cd_st_count(const cd_st_file *f);
const cd_tensor *cd_st_tensor(const cd_st_file *f, size_t i);

/* Lookup by name; NULL when absent. */
const cd_tensor *cd_st_find(const cd_st_file *f, const char *name);

/* The name index (for detect.h and loaders). */
const cd_sd *cd_st_index(const cd_st_file *f);

/* __metadata__: number of entries, and key/value of entry i (in the
 * order of the header).  Returns NULL for an out-of-range i. */
size_t cd_st_metadata_count(const cd_st_file *f);
const char *cd_st_metadata_key(const cd_st_file *f, size_t i);
const char *cd_st_metadata_value(const cd_st_file *f, size_t i);
/* Value for key, or NULL. */
const char *cd_st_metadata_get(const cd_st_file *f, const char *key);
/* 1 when the header had a __metadata__ object (even an empty one). */
int cd_st_has_metadata(const cd_st_file *f);

/* Size of the whole file, of the header JSON, and of all tensor bytes. */
uint64_t cd_st_file_size(const cd_st_file *f);
uint64_t cd_st_header_size(const cd_st_file *f);

/* Identity of the file at open time (for caches): st_dev/st_ino/st_mtim. */
void cd_st_identity(const cd_st_file *f, int64_t *mtime_ns, uint64_t *size);

/* Copies tensor `name` converted to float32 into dst (n floats).  Returns
 * 0, CD_MODEL_ENOTFOUND, or CD_MODEL_EINVAL when n is not its numel. */
int cd_st_read_f32(const cd_st_file *f, const char *name, float *dst, size_t n);

/* Asks the kernel to read the tensor's pages ahead (MADV_WILLNEED). */
void cd_st_prefetch(const cd_st_file *f, const cd_tensor *t);

#endif
