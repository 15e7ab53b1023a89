/*
 * ckpt_writer.h — writes a deterministic single-file .safetensors
 * checkpoint with the tensors of an arch.h table entry.
 *
 * Weights are seeded per tensor (seed x hash of the key), so a tensor's
 * values depend only on (seed, name, shape): uniform with variance 1/fan_in
 * for linear/conv weights (the scale of torch's default init, which keeps
 * activations finite through the whole network), norm weights 1, biases 0,
 * embeddings std 0.02, position_ids 0..76, logit_scale ln 100, and the real
 * LDM schedule buffers for SD1/SD2.  Data is generated and written in
 * chunks, so a 2 GB file needs a few MB of memory.  The file is written to
 * "<path>.tmp" and renamed into place when complete.
 *
 * Called from one thread at a time per output path.
 */
#ifndef CD_MODEL_CKPT_WRITER_H
#define CD_MODEL_CKPT_WRITER_H

#include <stdint.h>

#include "arch.h"
#include "tensor.h"

/* dtype is CD_DT_F16, CD_DT_BF16 or CD_DT_F32 (float tensors; position_ids
 * stay int64).  Returns 0, CD_MODEL_EINVAL for another dtype, CD_MODEL_EIO
 * (err says why; nothing is left at path) or CD_MODEL_ENOMEM.  *total_bytes
 * and *n_params (either may be NULL) receive the file size and the number of
 * float elements written. */
int cd_ckpt_write(const cd_arch *a, cd_dtype dtype, uint64_t seed, const char *path,
                  uint64_t *total_bytes, uint64_t *n_params, char *err, size_t errlen);

#endif
