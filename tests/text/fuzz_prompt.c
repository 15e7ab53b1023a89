/*
 * fuzz_prompt.c — fuzz target for the prompt parser and the tokenizer.
 *
 * LLVMFuzzerTestOneInput runs cd_clip_tokenize_with_weights (with an
 * embedding loader that knows every name beginning with 'e') and
 * cd_py_float on the input and checks the output's invariants: every
 * window is 77 long and starts with the start token, every id is in the
 * vocabulary, embedding rows point at data, weights were produced by the
 * syntax.  A libFuzzer build uses it directly; with CD_FUZZ_DRIVER it has
 * its own main that replays the prompts of data/prompts.json and then
 * mutates them (byte flips, inserts of syntax characters, splices,
 * truncation) for --seconds (bounded, for ctest).
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <comfy/comfy.h>

#include "prompt_weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fake_embedding(void *ctx, const char *name, size_t size, const char *key,
                          cd_clip_embedding *out)
{
    (void)ctx;
    (void)key;
    if (name[0] != 'e')
        return 0;
    size_t rows = 1 + strlen(name) % 3;
    out->data = calloc(rows * size, sizeof(float));
    if (!out->data)
        return COMFY_ENOMEM;
    out->rows = rows;
    out->width = size;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const cd_clip_tokenizer *tok = cd_clip_tokenizer_shared();
    if (!tok)
        abort();
    for (int e = 0; e < 2; e++) {
        cd_clip_tw_config cfg;
        cd_clip_tw_config_init(&cfg, e ? "clip_g" : "clip_l", e ? 1280 : 768);
        cfg.embed_fn = e ? fake_embedding : NULL;
        cd_clip_tw_list l;
        int rc = cd_clip_tokenize_with_weights(tok, &cfg, (const char *)data, size, &l);
        if (rc == 0) {
            if (l.n_chunks < 1)
                abort();
            for (size_t c = 0; c < l.n_chunks; c++) {
                const cd_clip_tw *w = l.v + c * CD_CLIP_WINDOW;
                if (w[0].token != CD_CLIP_TOKEN_START)
                    abort();
                if (w[CD_CLIP_WINDOW - 1].token != cfg.end_token &&
                    w[CD_CLIP_WINDOW - 1].token != cfg.pad_token)
                    abort();
                for (size_t j = 0; j < CD_CLIP_WINDOW; j++) {
                    if (w[j].token >= CD_CLIP_VOCAB_SIZE || w[j].token < -1)
                        abort();
                    if (w[j].token < 0 && (!w[j].embed || w[j].width != cfg.embedding_size))
                        abort();
                }
            }
        } else if (rc != COMFY_EINVAL && rc != COMFY_ENOMEM) {
            abort();
        } else if (l.v || l.n_chunks) {
            abort(); /* a failure leaves nothing behind */
        }
        cd_clip_tw_list_free(&l);
    }
    double f;
    (void)cd_py_float((const char *)data, size, &f);
    return 0;
}

#ifdef CD_FUZZ_DRIVER
static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t x = (rng_state += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

int main(int argc, char **argv)
{
    double seconds = 2;
    const char *corpus = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            rng_state = strtoull(argv[++i], NULL, 10);
        else
            corpus = argv[i];
    }
    json_object *prompts = corpus ? json_object_from_file(corpus) : NULL;
    if (!prompts) {
        fprintf(stderr, "usage: fuzz_prompt [--seconds S] [--seed N] prompts.json\n");
        return 2;
    }
    size_t n = json_object_array_length(prompts);
    for (size_t i = 0; i < n; i++) {
        json_object *p = json_object_array_get_idx(prompts, i);
        LLVMFuzzerTestOneInput((const uint8_t *)json_object_get_string(p),
                               (size_t)json_object_get_string_len(p));
    }
    static const char syntax[] = "():\\ ,.1e\n_<|>'";
    static const char *words[] = {"embedding:", " embedding:", "(", ")", ":1.5", "\\(", "\\)",
                                  "<|endoftext|>", "\xce\xa3", "\xcc\x81", "\xe4\xb8\x80",
                                  "\xf0\x9f\x98\x80", "\xff", "\xc3", "inf", "nan"};
    size_t runs = 0;
    clock_t t0 = clock();
    unsigned char buf[2048];
    while ((double)(clock() - t0) / CLOCKS_PER_SEC < seconds) {
        json_object *p = json_object_array_get_idx(prompts, rnd() % n);
        size_t len = (size_t)json_object_get_string_len(p);
        if (len > sizeof buf / 2)
            len = sizeof buf / 2;
        memcpy(buf, json_object_get_string(p), len);
        int muts = 1 + (int)(rnd() % 8);
        for (int m = 0; m < muts; m++) {
            size_t at = len ? rnd() % (len + 1) : 0;
            switch (rnd() % 5) {
            case 0: /* flip a byte */
                if (len)
                    buf[rnd() % len] ^= (unsigned char)(1u << (rnd() % 8));
                break;
            case 1: /* insert a syntax character */
                if (len + 1 < sizeof buf) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = (unsigned char)syntax[rnd() % (sizeof syntax - 1)];
                    len++;
                }
                break;
            case 2: { /* insert a word */
                const char *w = words[rnd() % (sizeof words / sizeof *words)];
                size_t wl = strlen(w);
                if (len + wl < sizeof buf) {
                    memmove(buf + at + wl, buf + at, len - at);
                    memcpy(buf + at, w, wl);
                    len += wl;
                }
                break;
            }
            case 3: /* truncate */
                len = at;
                break;
            default: { /* splice another prompt in */
                json_object *q = json_object_array_get_idx(prompts, rnd() % n);
                size_t ql = (size_t)json_object_get_string_len(q);
                if (ql > sizeof buf - len)
                    ql = sizeof buf - len;
                memmove(buf + at + ql, buf + at, len - at);
                memcpy(buf + at, json_object_get_string(q), ql);
                len += ql;
                break;
            }
            }
        }
        LLVMFuzzerTestOneInput(buf, len);
        runs++;
    }
    printf("fuzz_prompt: %zu corpus inputs, %zu mutated runs\n", n, runs);
    json_object_put(prompts);
    return 0;
}
#endif
