/*
 * statedict.h — a name index over an array of tensor views.
 *
 * Both checkpoint readers hand out their tensors as an array of cd_tensor;
 * a cd_sd sorts their names once so the detector and loaders can look a key
 * up, or count the keys under a prefix, in O(log n).  The index borrows the
 * tensor array (which must outlive it) and owns only its order table.
 * Read-only after cd_sd_init, so any number of threads may query it.
 */
#ifndef CD_MODEL_STATEDICT_H
#define CD_MODEL_STATEDICT_H

#include "tensor.h"

typedef struct cd_sd {
    const cd_tensor *t;   /* borrowed */
    size_t n;
    uint32_t *order;      /* owned: indices into t sorted by name (bytewise) */
} cd_sd;

/* Builds the index.  Returns 0, CD_MODEL_ENOMEM, or CD_MODEL_EFORMAT when
 * two tensors share a name (err then names it). */
int cd_sd_init(cd_sd *sd, const cd_tensor *t, size_t n, char *err, size_t errlen);

/* Frees the order table; the tensors are untouched.  Safe on a zeroed sd. */
void cd_sd_free(cd_sd *sd);

/* The tensor called name, or NULL. */
const cd_tensor *cd_sd_find(const cd_sd *sd, const char *name);

/* Same with a printf-built name (NULL if it does not fit in 512 bytes). */
const cd_tensor *cd_sd_findf(const cd_sd *sd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Number of names starting with prefix. */
size_t cd_sd_count_prefix(const cd_sd *sd, const char *prefix);

/* ComfyUI's count_blocks: the smallest k >= 0 such that no name starts with
 * the printf pattern fmt (one %d) formatted with k. */
int cd_sd_count_blocks(const cd_sd *sd, const char *fmt);

/* i-th tensor in name order (i < n). */
const cd_tensor *cd_sd_at(const cd_sd *sd, size_t i);

#endif
