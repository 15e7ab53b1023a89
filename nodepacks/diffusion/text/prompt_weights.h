/*
 * prompt_weights.h — ComfyUI's prompt syntax and its 77-token windows.
 *
 * cd_clip_tokenize_with_weights turns a prompt into what ComfyUI's
 * SDTokenizer.tokenize_with_weights returns for one text encoder: a list of
 * 77-position windows ("chunks"), each position a token id or one row of a
 * textual-inversion embedding, with its weight.  The steps, as ComfyUI:
 *   1. "\(" and "\)" are escaped to literal parentheses;
 *   2. the text is cut into weighted segments: "(x)" multiplies the weight
 *      by 1.1, "(x:1.3)" sets it (Python float() syntax after the last
 *      ':'), nesting recurses; unbalanced or stray parentheses stay text
 *      exactly as ComfyUI's parse_parentheses leaves them;
 *   3. each segment is split before " embedding:" / "\nembedding:"; with
 *      an embedding loader, "embedding:NAME rest" becomes one position per
 *      embedding row (weight of the segment) followed by the tokens of
 *      "rest"; a NAME that is not found is skipped with a warning; without
 *      a loader the text is tokenized as written;
 *   4. every piece is tokenized on its own (cd_clip_tokenize) into a group;
 *   5. groups are packed into windows: start token, up to 75 positions, end
 *      token, pad tokens up to 77.  A group that does not fit in the room
 *      left moves whole to the next window when it has fewer than 8
 *      positions, and is split at the window edge otherwise.
 * cd_prompt_token_weights exposes step 1-2 alone; cd_py_float is Python's
 * float() of a string.
 *
 * Thread-safety: all functions are re-entrant; the loader and warning
 * callbacks run on the calling thread.
 */
#ifndef CD_PROMPT_WEIGHTS_H
#define CD_PROMPT_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "clip_tokenizer.h"

#define CD_CLIP_WINDOW 77 /* positions per chunk (max_length) */
/* Deepest parenthesis nesting accepted (ComfyUI recurses in Python and
 * fails somewhat below 1000 levels with RecursionError). */
#define CD_PROMPT_MAX_DEPTH 900
/* Ceilings on one prompt's output. */
#define CD_PROMPT_MAX_CHUNKS 4096
#define CD_PROMPT_MAX_EMBED_ROWS 4096

/* ---- Step 1-2: weighted segments --------------------------------------- */

typedef struct cd_prompt_segment {
    char *text;    /* owned by the list; escapes resolved; NUL-terminated,
                      but may hold NUL bytes: use len                      */
    size_t len;
    double weight; /* Python float semantics (1.1 ** depth, or the value)  */
} cd_prompt_segment;

typedef struct cd_prompt_segments {
    cd_prompt_segment *v; /* owned; free with cd_prompt_segments_free */
    size_t n, cap;
} cd_prompt_segments;

/* Splits text[0..len) into weighted segments as ComfyUI's token_weights
 * (after escape_important; segments are unescaped).  `out` must be zeroed
 * or freshly freed.  0; COMFY_EINVAL when nesting passes
 * CD_PROMPT_MAX_DEPTH; COMFY_ENOMEM.  On error `out` is freed. */
int cd_prompt_token_weights(const char *text, size_t len, cd_prompt_segments *out);
void cd_prompt_segments_free(cd_prompt_segments *s);

/* Python float(s) for a str s[0..len) (UTF-8): surrounding whitespace,
 * '_' between digits, any script's decimal digits, "inf", "infinity",
 * "nan" (any case, signed).  0 and *out, or COMFY_EINVAL. */
int cd_py_float(const char *s, size_t len, double *out);

/* ---- Step 3-5: windows -------------------------------------------------- */

/* Rows of one textual-inversion embedding, as a loader returns them. */
typedef struct cd_clip_embedding {
    float *data;  /* rows * width floats, malloc'd by the loader; ownership
                     passes to the token list                              */
    size_t rows;
    size_t width; /* may differ from the encoder width (ComfyUI keeps such
                     rows here; the encoder drops them)                    */
} cd_clip_embedding;

/* Looks up embedding `name` (as written in the prompt, possibly empty or
 * holding '/' or "..") the way ComfyUI's load_embed does: in the
 * embeddings folders and their sub-folders, the exact file name, else
 * name + ".safetensors", ".pt", ".bin"; picks the tensor for
 * `embedding_key` / `embedding_size`.  Returns 1 with *out filled, 0 if
 * there is no such embedding (or it cannot be read: ComfyUI logs and
 * skips it), or a negative status to abort tokenization. */
typedef int (*cd_clip_embed_fn)(void *ctx, const char *name, size_t embedding_size,
                                const char *embedding_key, cd_clip_embedding *out);

typedef struct cd_clip_tw_config {
    int32_t start_token;        /* 49406 */
    int32_t end_token;          /* 49407 */
    int32_t pad_token;          /* 49407 CLIP-L, 0 OpenCLIP H / bigG */
    size_t embedding_size;      /* 768 / 1024 / 1280 */
    const char *embedding_key;  /* "clip_l" / "clip_h" / "clip_g" */
    cd_clip_embed_fn embed_fn;  /* NULL: "embedding:" is plain text */
    void *embed_ctx;
    /* Optional: receives ComfyUI's warnings ("warning, embedding:NAME does
     * not exist, ignoring"). */
    void (*warn)(void *ctx, const char *msg);
    void *warn_ctx;
    int disable_weights;        /* non-zero: the whole text at weight 1.0 */
} cd_clip_tw_config;

/* Fills a config for an encoder: pad 49407 for "clip_l", 0 otherwise. */
void cd_clip_tw_config_init(cd_clip_tw_config *cfg, const char *embedding_key,
                            size_t embedding_size);

typedef struct cd_clip_tw {
    int32_t token;      /* token id, or -1 for an embedding row           */
    uint32_t width;     /* embedding row width; 0 for a token id          */
    const float *embed; /* the embedding row (borrowed from the list)     */
    double weight;
} cd_clip_tw;

typedef struct cd_clip_tw_list {
    cd_clip_tw *v;      /* owned: n_chunks * CD_CLIP_WINDOW positions     */
    size_t n_chunks;
    float **blocks;     /* owned: the embeddings' data                    */
    size_t n_blocks;
    char error[256];    /* on failure, ComfyUI's message where it has one */
} cd_clip_tw_list;

/* Tokenizes `text` into windows for one encoder (see the top of this
 * file).  `out` must be zeroed or freshly freed; free with
 * cd_clip_tw_list_free.  0; COMFY_EINVAL with out->error set for a prompt
 * ComfyUI rejects ("embedding:" followed by no name: "list index out of
 * range") or one over a ceiling; COMFY_ENOMEM; a loader's error. */
int cd_clip_tokenize_with_weights(const cd_clip_tokenizer *tok, const cd_clip_tw_config *cfg,
                                  const char *text, size_t len, cd_clip_tw_list *out);
void cd_clip_tw_list_free(cd_clip_tw_list *l);

/* Appends the windows of `src` to `dst` (CLIPTextEncodeSDXL pads the
 * shorter of its "l" and "g" lists with the windows of the empty prompt
 * until both have as many).  Embedding rows of src must not be used by
 * dst beyond src's lifetime (they stay borrowed from src).  0,
 * COMFY_EINVAL past CD_PROMPT_MAX_CHUNKS, COMFY_ENOMEM (dst unchanged). */
int cd_clip_tw_list_append(cd_clip_tw_list *dst, const cd_clip_tw_list *src);

#endif
