/*
 * pickle_ckpt.h — a restricted reader for PyTorch .ckpt/.pt/.pth/.bin files
 * (torch.save's zip format: "<archive>/data.pkl" + "<archive>/data/<key>").
 *
 * The pickle is interpreted by a small VM that knows only what a tensor
 * state dict needs, the same allow-list idea as torch.load(weights_only=True):
 * dicts/OrderedDicts, lists, tuples, ints, floats, strings, bytes, None and
 * booleans; the globals collections.OrderedDict, torch._utils
 * ._rebuild_tensor_v2 / _rebuild_parameter, torch.<Type>Storage,
 * torch.Size and _codecs.encode; the training-checkpoint extras ComfyUI
 * allows (pytorch_lightning...ModelCheckpoint, numpy scalar/dtype/
 * Float64DType), which become opaque values; persistent ids of the form
 * ('storage', torch.<Type>Storage, key, location, numel).  Any other global
 * or opcode is refused with an error naming it: nothing in the file is ever
 * executed.  Legacy (pre-1.6, non-zip) files and compressed storages are
 * refused with a clear error.
 *
 * The state dict is the pickle's top-level dict, or its "state_dict" entry,
 * or the value of a one-entry dict whose value is a dict (ComfyUI's rule);
 * its string-keyed tensor entries become cd_tensor views into the mapped
 * archive (non-contiguous tensors are copied into owned memory).  Other
 * entries (global_step, epoch, ...) are ignored.
 *
 * Ownership: cd_ckpt_open returns a new object the caller closes with
 * cd_ckpt_close; tensors and names are borrowed from it.  Immutable after
 * open; any thread may read it.
 */
#ifndef CD_MODEL_PICKLE_CKPT_H
#define CD_MODEL_PICKLE_CKPT_H

#include <stddef.h>

#include "statedict.h"
#include "tensor.h"

#define CD_CKPT_MAX_PICKLE (512u << 20)   /* bytes of data.pkl             */
#define CD_CKPT_MAX_OBJECTS (1u << 20)    /* objects the VM may create (~230 MB worst case) */
#define CD_CKPT_MAX_STACK (1u << 20)      /* VM stack and memo entries     */

typedef struct cd_ckpt_file cd_ckpt_file;

/* Opens and reads path.  Returns 0 and sets *out, or a negative status with
 * a one-line reason in err (may be NULL). */
int cd_ckpt_open(const char *path, cd_ckpt_file **out, char *err, size_t errlen);

/* Same on a caller-owned image that must outlive the object. */
int cd_ckpt_open_mem(const void *data, size_t size, cd_ckpt_file **out, char *err,
                     size_t errlen);

void cd_ckpt_close(cd_ckpt_file *f);

size_t cd_ckpt_count(const cd_ckpt_file *f);
const cd_tensor *cd_ckpt_tensor(const cd_ckpt_file *f, size_t i); /* pickle order */
const cd_tensor *cd_ckpt_find(const cd_ckpt_file *f, const char *name);
const cd_sd *cd_ckpt_index(const cd_ckpt_file *f);

/* 1 when the image starts like a zip archive (a torch.save file). */
int cd_ckpt_sniff(const void *data, size_t size);

#endif
