/*
 * clip_tokenizer.h — CLIP's byte-level BPE tokenizer, as ComfyUI runs it.
 *
 * ComfyUI tokenizes prompts with transformers' (slow) CLIPTokenizer loaded
 * from comfy/sd1_tokenizer, without the optional `ftfy` package.  This
 * module reproduces that tokenizer id for id:
 *   1. the special strings "<|startoftext|>" / "<|endoftext|>" are split off
 *      the raw text first (case-sensitive) and become 49406 / 49407;
 *   2. every other piece goes through BERT's BasicTokenizer clean-up: drop
 *      NUL, U+FFFD and category C* (except \t \n \r), map whitespace to a
 *      space, put spaces around CJK ideographs, NFC, split on whitespace,
 *      lower-case each word (Python's str.lower), join with single spaces;
 *   3. CLIP's pre-tokenisation pattern cuts the text into runs of letters,
 *      single digits, runs of other symbols and the 's 't 're 've 'm 'll 'd
 *      contractions;
 *   4. each run is UTF-8 encoded, mapped to the 256 byte symbols (the last
 *      one marked end-of-word) and merged by rank with the 48894 merges of
 *      OpenAI's bpe_simple_vocab_16e6 (embedded in the library).
 * cd_clip_tokenize returns only the content ids, as ComfyUI keeps them
 * (it drops the start/end ids that the tokenizer adds).
 *
 * Thread-safety: a tokenizer is immutable once made; any number of threads
 * may tokenize with it at once.  Create and free from one thread.
 *
 *     const cd_clip_tokenizer *tok = cd_clip_tokenizer_shared();
 *     cd_clip_ids ids;
 *     cd_clip_ids_init(&ids, 1 << 20);
 *     if (tok && cd_clip_tokenize(tok, "a photo of a cat", 16, &ids) == 0)
 *         use(ids.v, ids.n);                    // 320 1125 539 320 2368
 *     cd_clip_ids_free(&ids);
 */
#ifndef CD_CLIP_TOKENIZER_H
#define CD_CLIP_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#define CD_CLIP_VOCAB_SIZE 49408
#define CD_CLIP_N_MERGES 48894
#define CD_CLIP_TOKEN_START 49406 /* <|startoftext|> */
#define CD_CLIP_TOKEN_END 49407   /* <|endoftext|>, also the unknown token */
/* Ceiling on the text given to one cd_clip_tokenize call, in bytes. */
#define CD_CLIP_MAX_TEXT_BYTES ((size_t)4 << 20)

typedef struct cd_clip_tokenizer cd_clip_tokenizer;

/* A growable array of token ids with a ceiling (max) set at init. */
typedef struct cd_clip_ids {
    int32_t *v; /* owned; free with cd_clip_ids_free */
    size_t n, cap, max;
} cd_clip_ids;

void cd_clip_ids_init(cd_clip_ids *ids, size_t max);
void cd_clip_ids_free(cd_clip_ids *ids);
/* Appends one id: 0, COMFY_ENOMEM, or COMFY_EINVAL past the ceiling. */
int cd_clip_ids_push(cd_clip_ids *ids, int32_t id);

/* Builds a tokenizer from the embedded merges.  0 and *out (caller frees
 * with cd_clip_tokenizer_free), or COMFY_ENOMEM. */
int cd_clip_tokenizer_new(cd_clip_tokenizer **out);

/* Builds a tokenizer from merges text: CD_CLIP_N_MERGES lines "a b" in rank
 * order, written in the byte-to-unicode alphabet (what merges.txt holds
 * after its "#version" line).  COMFY_EINVAL if the text is malformed or a
 * merge uses a symbol not made by an earlier merge. */
int cd_clip_tokenizer_new_from_merges(const char *text, size_t len,
                                      cd_clip_tokenizer **out);

void cd_clip_tokenizer_free(cd_clip_tokenizer *tok);

/* A process-wide tokenizer built on first use (thread-safe).  Borrowed
 * until cd_clip_tokenizer_shared_free.  NULL only when memory ran out
 * while building it. */
const cd_clip_tokenizer *cd_clip_tokenizer_shared(void);

/* Frees the shared tokenizer (the diffusion pack's fini calls it).  No
 * thread may still use a pointer cd_clip_tokenizer_shared returned; a
 * later cd_clip_tokenizer_shared builds a new one.  Safe when none was
 * built. */
void cd_clip_tokenizer_shared_free(void);

/* Tokenizes text[0..len) (UTF-8; ill-formed bytes are dropped as U+FFFD
 * would be) and appends the content ids to `out` (no start/end ids).
 * BPE costs O(n log n) in the length of a run.
 * Returns 0; COMFY_EINVAL if len > CD_CLIP_MAX_TEXT_BYTES or `out` reaches
 * its ceiling; COMFY_ENOMEM.  On
 * error `out` may hold a partial result. */
int cd_clip_tokenize(const cd_clip_tokenizer *tok, const char *text, size_t len,
                     cd_clip_ids *out);

/* The vocabulary entry of `id` as stored in vocab.json (byte-to-unicode
 * symbols, "</w>" marking a word end), NUL-terminated into out[cap].
 * Returns its length, or COMFY_EINVAL (bad id or does not fit). */
int cd_clip_token_text(const cd_clip_tokenizer *tok, int32_t id, char *out, size_t cap);

/* Where the Unicode tables came from ("Python 3.11.2, Unicode 14.0.0, ..."). */
const char *cd_clip_unicode_version(void);

#endif
