/*
 * embedding_file.h — textual-inversion embedding files, found and read as
 * ComfyUI's load_embed does, for the cd_clip_embed_fn loader that
 * cd_clip_tokenize_with_weights calls.
 *
 * Finding: the embeddings folder and each of its sub-folders (root first,
 * then sub-folders in name order; ComfyUI walks them in set order) is
 * tried in turn with NAME as a file, then NAME + ".safetensors", ".pt",
 * ".bin".  A NAME that is absolute or has a ".." component is never found
 * (ComfyUI refuses paths leaving the folder).
 *
 * Reading (.safetensors, or torch.save zips through the restricted pickle
 * reader): the tensor is picked as ComfyUI does: the first entry under
 * "string_to_param" (A1111 files), else the tensor named `key` ("clip_l",
 * "clip_g", "clip_h"), else the "bundle_emb.*.string_to_param.*" tensors
 * of a LoRA bundle, else "bundle_emb.*.<key>", else the first tensor (file
 * order).  Rows are the tensor viewed as [-1, last dim].
 *
 * Thread-safety: re-entrant.
 */
#ifndef CD_EMBEDDING_FILE_H
#define CD_EMBEDDING_FILE_H

#include <stddef.h>

#include "prompt_weights.h"

/* Index into files[0..n) (relative names "x.pt", "sub/y.safetensors", as
 * host->folder_list("embeddings") lists them) of the file that embedding
 * NAME resolves to, or -1. */
long cd_clip_embedding_find(const char *const *files, size_t n, const char *name);

/* Reads the embedding tensor from the file at `path` for an encoder of
 * width `embedding_size` and id `key`.  Returns 0 with *out filled (data
 * malloc'd, caller frees), or a negative status with a one-line reason in
 * err: COMFY_EINVAL for a file that is not a readable embedding (ComfyUI
 * logs it and skips the embedding), COMFY_ENOMEM. */
int cd_clip_embedding_read(const char *path, size_t embedding_size, const char *key,
                           cd_clip_embedding *out, char *err, size_t errlen);

/* A ready cd_clip_embed_fn over one embeddings folder: pass a
 * cd_clip_embed_dir as the context.  Lookups go find -> resolve -> read;
 * a file that cannot be read is skipped with ComfyUI's warning ("error
 * loading embedding, skipping loading: NAME") and counts as not found. */
typedef struct cd_clip_embed_dir {
    const char *const *files; /* relative names as host->folder_list gives them */
    size_t n_files;
    /* host->folder_resolve("embeddings", rel, path, cap) or the like: 0 and
     * the absolute path, or a negative status. */
    int (*resolve)(void *ctx, const char *rel, char *path, size_t cap);
    void *resolve_ctx;
    void (*warn)(void *ctx, const char *msg); /* optional */
    void *warn_ctx;
} cd_clip_embed_dir;

int cd_clip_embed_dir_fn(void *dir, const char *name, size_t embedding_size, const char *key,
                         cd_clip_embedding *out);

#endif
