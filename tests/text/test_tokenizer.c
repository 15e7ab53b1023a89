/*
 * test_tokenizer.c — CLIP token ids against transformers' CLIPTokenizer.
 *
 * data/prompts.json holds the corpus, data/expected_ids.json the ids the
 * reference produced for each prompt (start and end included).  Every
 * prompt must match exactly.  Also checks the vocabulary layout and the
 * input ceilings.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>

#include "clip_tokenizer.h"
#include "text_check.h"

static json_object *load_json(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_object *o = json_object_from_file(path);
    if (!o)
        fprintf(stderr, "cannot read %s\n", path);
    return o;
}

static void print_escaped(const char *s, size_t n)
{
    for (size_t i = 0; i < n && i < 200; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F)
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
}

static void test_corpus(const cd_clip_tokenizer *tok, const char *dir)
{
    json_object *prompts = load_json(dir, "prompts.json");
    json_object *exp = load_json(dir, "expected_ids.json");
    CHECK(prompts && exp, "golden data missing");
    if (!prompts || !exp)
        goto out;
    json_object *ids = json_object_object_get(exp, "ids");
    size_t n = json_object_array_length(prompts);
    CHECK(n >= 500 && n == json_object_array_length(ids), "corpus size %zu", n);
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *p = json_object_array_get_idx(prompts, i);
        const char *s = json_object_get_string(p);
        size_t len = (size_t)json_object_get_string_len(p);
        json_object *e = json_object_array_get_idx(ids, i);
        cd_clip_ids got;
        cd_clip_ids_init(&got, 1 << 20);
        int rc = cd_clip_ids_push(&got, CD_CLIP_TOKEN_START);
        if (rc == 0)
            rc = cd_clip_tokenize(tok, s, len, &got);
        if (rc == 0)
            rc = cd_clip_ids_push(&got, CD_CLIP_TOKEN_END);
        size_t en = json_object_array_length(e);
        int same = rc == 0 && en == got.n;
        for (size_t k = 0; same && k < en; k++)
            same = json_object_get_int(json_object_array_get_idx(e, k)) == got.v[k];
        if (same) {
            ok++;
        } else {
            fprintf(stderr, "prompt %zu \"", i);
            print_escaped(s, len);
            fprintf(stderr, "\": rc %d\n  want:", rc);
            for (size_t k = 0; k < en && k < 40; k++)
                fprintf(stderr, " %d", json_object_get_int(json_object_array_get_idx(e, k)));
            fprintf(stderr, "\n  got: ");
            for (size_t k = 0; k < got.n && k < 40; k++)
                fprintf(stderr, " %d", got.v[k]);
            fputc('\n', stderr);
            failures++;
        }
        cd_clip_ids_free(&got);
    }
    printf("token ids: %zu / %zu prompts match\n", ok, n);
out:
    json_object_put(prompts);
    json_object_put(exp);
}

static void test_vocab(const cd_clip_tokenizer *tok)
{
    char s[64];
    CHECK(cd_clip_token_text(tok, 0, s, sizeof s) == 1 && strcmp(s, "!") == 0, "id 0");
    CHECK(cd_clip_token_text(tok, 256, s, sizeof s) > 0 && strcmp(s, "!</w>") == 0, "id 256");
    CHECK(cd_clip_token_text(tok, 512, s, sizeof s) > 0 && strcmp(s, "in") == 0, "id 512");
    CHECK(cd_clip_token_text(tok, 49405, s, sizeof s) > 0 && strcmp(s, "jekyll</w>") == 0, "id 49405");
    CHECK(cd_clip_token_text(tok, 49406, s, sizeof s) > 0 && strcmp(s, "<|startoftext|>") == 0, "start");
    CHECK(cd_clip_token_text(tok, 49407, s, sizeof s) > 0 && strcmp(s, "<|endoftext|>") == 0, "end");
    CHECK(cd_clip_token_text(tok, 49408, s, sizeof s) == COMFY_EINVAL, "id out of range");
    CHECK(cd_clip_token_text(tok, 49406, s, 4) == COMFY_EINVAL, "short buffer");
}

static void test_limits(const cd_clip_tokenizer *tok)
{
    cd_clip_ids ids;
    cd_clip_ids_init(&ids, 3);
    CHECK(cd_clip_tokenize(tok, "a b c d", 7, &ids) == COMFY_EINVAL, "ids ceiling");
    cd_clip_ids_free(&ids);

    cd_clip_ids_init(&ids, 1 << 20);
    size_t n = 1 << 18;
    char *big = malloc(n);
    if (big) {
        /* One 256 KiB word of "a": BPE is O(n log n), so this is quick;
         * "a" * 8 is one token (aaaaaaaa</w> does not exist: the last
         * piece ends the word). */
        memset(big, 'a', n);
        CHECK(cd_clip_tokenize(tok, big, n, &ids) == 0 && ids.n > 0 && ids.n < n / 4, "long run");
        for (size_t i = 1; i < n; i += 2)
            big[i] = ' ';
        ids.n = 0;
        CHECK(cd_clip_tokenize(tok, big, n, &ids) == 0 && ids.n == n / 2, "many short words");
        free(big);
    }
    CHECK(cd_clip_tokenize(tok, "x", CD_CLIP_MAX_TEXT_BYTES + 1, &ids) == COMFY_EINVAL,
          "text ceiling");
    /* Ill-formed UTF-8 is dropped like U+FFFD. */
    ids.n = 0;
    CHECK(cd_clip_tokenize(tok, "a\xff\xc0\x80\xed\xa0\x80" "b", 9, &ids) == 0 && ids.n == 1,
          "ill-formed UTF-8");
    cd_clip_ids_free(&ids);

    /* Malformed merges are refused. */
    cd_clip_tokenizer *t2 = NULL;
    CHECK(cd_clip_tokenizer_new_from_merges("i n\n", 4, &t2) == COMFY_EINVAL && !t2, "short merges");
    CHECK(cd_clip_tokenizer_new_from_merges("in n\n", 5, &t2) == COMFY_EINVAL && !t2, "unknown symbol");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_text_tokenizer DATA_DIR\n");
        return 2;
    }
    const cd_clip_tokenizer *tok = cd_clip_tokenizer_shared();
    CHECK(tok != NULL, "tokenizer");
    if (!tok)
        return 1;
    printf("unicode tables: %s\n", cd_clip_unicode_version());
    test_vocab(tok);
    test_limits(tok);
    test_corpus(tok, argv[1]);
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    return failures ? 1 : 0;
}
