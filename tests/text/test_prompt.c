/*
 * test_prompt.c — ComfyUI's prompt syntax and 77-token windows against
 * ComfyUI's SDTokenizer.tokenize_with_weights.
 *
 * data/expected_weights.json holds, per prompt of data/prompts.json, the
 * windows ComfyUI made for a CLIP-L tokenizer ("l", pad 49407) and an
 * OpenCLIP-H one ("h", pad 0, embedding size 1024), with a test embeddings
 * folder.  data/embeddings.json lists each embedding lookup ComfyUI made
 * and its rows (first value, width); the loader here serves exactly those,
 * so a lookup ComfyUI did not make is a failure too.  Weights must match
 * bit for bit.  data/expected_floats.json checks cd_py_float against
 * Python's float().
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>

#include "prompt_weights.h"
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

static int same_double(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

/* ---- the embedding loader serving embeddings.json ---------------------- */

typedef struct loader {
    json_object *calls;
    int unexpected;
    int warnings;
} loader;

static int load_embedding(void *ctx, const char *name, size_t size, const char *key,
                          cd_clip_embedding *out)
{
    loader *ld = ctx;
    char k[1024];
    snprintf(k, sizeof k, "%s\t%zu\t%s", name, size, key);
    json_object *v;
    if (!json_object_object_get_ex(ld->calls, k, &v)) {
        fprintf(stderr, "unexpected embedding lookup \"%s\"\n", k);
        ld->unexpected++;
        return 0;
    }
    if (!v)
        return 0;
    size_t rows = json_object_array_length(v);
    size_t width = (size_t)json_object_get_int(
        json_object_array_get_idx(json_object_array_get_idx(v, 0), 1));
    out->data = calloc(rows * width + 1, sizeof(float));
    if (!out->data)
        return COMFY_ENOMEM;
    for (size_t r = 0; r < rows; r++)
        out->data[r * width] =
            (float)json_object_get_double(json_object_array_get_idx(json_object_array_get_idx(v, r), 0));
    out->rows = rows;
    out->width = width;
    return 1;
}

static void count_warning(void *ctx, const char *msg)
{
    (void)msg;
    ((loader *)ctx)->warnings++;
}

/* ---- comparison ------------------------------------------------------------ */

static int compare(const cd_clip_tw_list *got, json_object *want, int32_t pad, char *why, size_t cap)
{
    size_t nc = json_object_array_length(want);
    if (got->n_chunks != nc) {
        snprintf(why, cap, "%zu chunks, want %zu", got->n_chunks, nc);
        return 0;
    }
    for (size_t c = 0; c < nc; c++) {
        json_object *ch = json_object_array_get_idx(want, c);
        size_t m = json_object_array_length(ch);
        for (size_t j = 0; j < CD_CLIP_WINDOW; j++) {
            const cd_clip_tw *t = &got->v[c * CD_CLIP_WINDOW + j];
            int32_t id = pad;
            double w = 1.0, first = 0;
            size_t width = 0;
            if (j < m) {
                json_object *e = json_object_array_get_idx(ch, j);
                if (json_object_is_type(e, json_type_int)) {
                    id = json_object_get_int(e);
                } else {
                    json_object *tok = json_object_array_get_idx(e, 0);
                    w = strtod(json_object_get_string(json_object_array_get_idx(e, 1)), NULL);
                    if (json_object_is_type(tok, json_type_int)) {
                        id = json_object_get_int(tok);
                    } else {
                        id = -1;
                        first = json_object_get_double(json_object_array_get_idx(tok, 0));
                        width = (size_t)json_object_get_int(json_object_array_get_idx(tok, 1));
                    }
                }
            }
            int ok = t->token == id && same_double(t->weight, w);
            if (ok && id < 0)
                ok = t->width == width && t->embed && t->embed[0] == (float)first;
            if (!ok) {
                snprintf(why, cap, "chunk %zu pos %zu: got %d w %.17g, want %d w %.17g", c, j,
                         t->token, t->weight, id, w);
                return 0;
            }
        }
    }
    return 1;
}

static void test_corpus(const cd_clip_tokenizer *tok, const char *dir)
{
    json_object *prompts = load_json(dir, "prompts.json");
    json_object *exp = load_json(dir, "expected_weights.json");
    json_object *emb = load_json(dir, "embeddings.json");
    CHECK(prompts && exp && emb, "golden data missing");
    if (!prompts || !exp || !emb)
        goto out;
    loader ld = {json_object_object_get(emb, "calls"), 0, 0};
    json_object *all = json_object_object_get(exp, "prompts");
    size_t n = json_object_array_length(prompts), ok = 0, total = 0;
    CHECK(n == json_object_array_length(all), "prompt count");
    static const struct { const char *name, *key; size_t size; } enc[2] = {
        {"l", "clip_l", 768}, {"h", "clip_h", 1024}};
    for (size_t i = 0; i < n; i++) {
        json_object *p = json_object_array_get_idx(prompts, i);
        const char *s = json_object_get_string(p);
        size_t len = (size_t)json_object_get_string_len(p);
        for (int e = 0; e < 2; e++) {
            json_object *want = json_object_object_get(json_object_array_get_idx(all, i), enc[e].name);
            cd_clip_tw_config cfg;
            cd_clip_tw_config_init(&cfg, enc[e].key, enc[e].size);
            cfg.embed_fn = load_embedding;
            cfg.embed_ctx = &ld;
            cfg.warn = count_warning;
            cfg.warn_ctx = &ld;
            cd_clip_tw_list got;
            int rc = cd_clip_tokenize_with_weights(tok, &cfg, s, len, &got);
            char why[512] = "";
            int same;
            total++;
            if (json_object_is_type(want, json_type_object)) {
                same = rc == COMFY_EINVAL && got.error[0];
                snprintf(why, sizeof why, "want error %s, got rc %d",
                         json_object_get_string(json_object_object_get(want, "error")), rc);
            } else {
                same = rc == 0 && compare(&got, want, cfg.pad_token, why, sizeof why);
                if (rc)
                    snprintf(why, sizeof why, "rc %d (%s)", rc, got.error);
            }
            if (same)
                ok++;
            else {
                fprintf(stderr, "prompt %zu [%s] %.80s: %s\n", i, enc[e].name, s, why);
                failures++;
            }
            cd_clip_tw_list_free(&got);
        }
    }
    CHECK(ld.unexpected == 0, "%d embedding lookups ComfyUI did not make", ld.unexpected);
    CHECK(ld.warnings > 0, "no missing-embedding warning seen");
    printf("weighted windows: %zu / %zu (prompt, encoder) pairs match\n", ok, total);
out:
    json_object_put(prompts);
    json_object_put(exp);
    json_object_put(emb);
}

static void test_floats(const char *dir)
{
    json_object *cases = load_json(dir, "expected_floats.json");
    CHECK(cases, "expected_floats.json");
    if (!cases)
        return;
    size_t n = json_object_array_length(cases), ok = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(cases, i);
        json_object *in = json_object_array_get_idx(c, 0), *want = json_object_array_get_idx(c, 1);
        double got = 0;
        int rc = cd_py_float(json_object_get_string(in), (size_t)json_object_get_string_len(in), &got);
        int same;
        if (!want)
            same = rc == COMFY_EINVAL;
        else
            same = rc == 0 && same_double(got, strtod(json_object_get_string(want), NULL));
        if (same)
            ok++;
        else {
            fprintf(stderr, "float(\"%s\"): rc %d got %.17g want %s\n", json_object_get_string(in), rc,
                    got, want ? json_object_get_string(want) : "ValueError");
            failures++;
        }
    }
    printf("float(): %zu / %zu match\n", ok, n);
    json_object_put(cases);
}

static void test_segments(void)
{
    cd_prompt_segments s;
    const char *t = "a (b:1.5) ((c)) \\(d\\)";
    CHECK(cd_prompt_token_weights(t, strlen(t), &s) == 0 && s.n == 5, "segments");
    if (s.n == 5) {
        CHECK(strcmp(s.v[0].text, "a ") == 0 && s.v[0].weight == 1.0, "seg 0");
        CHECK(strcmp(s.v[1].text, "b") == 0 && s.v[1].weight == 1.5, "seg 1");
        CHECK(strcmp(s.v[2].text, " ") == 0 && s.v[2].weight == 1.0, "seg 2");
        CHECK(strcmp(s.v[3].text, "c") == 0 && s.v[3].weight == 1.1 * 1.1, "seg 3");
        CHECK(strcmp(s.v[4].text, " (d)") == 0 && s.v[4].weight == 1.0, "seg 4");
    }
    cd_prompt_segments_free(&s);

    /* Nesting beyond the ceiling is an error, not a stack overflow. */
    size_t depth = CD_PROMPT_MAX_DEPTH + 10;
    char *deep = malloc(2 * depth + 1);
    if (deep) {
        memset(deep, '(', depth);
        deep[depth] = 'x';
        memset(deep + depth + 1, ')', depth);
        CHECK(cd_prompt_token_weights(deep, 2 * depth + 1, &s) == COMFY_EINVAL && !s.v, "depth");
        free(deep);
    }
}

static void test_no_loader(const cd_clip_tokenizer *tok)
{
    /* Without a loader "embedding:" is plain text, but still cuts groups. */
    cd_clip_tw_config cfg;
    cd_clip_tw_config_init(&cfg, "clip_g", 1280);
    CHECK(cfg.pad_token == 0 && cfg.start_token == 49406 && cfg.end_token == 49407, "config");
    cd_clip_tw_list l;
    int rc = cd_clip_tokenize_with_weights(tok, &cfg, "embedding:", 10, &l);
    CHECK(rc == 0 && l.n_chunks == 1 && l.v[1].token >= 0 && l.v[1].token != 49407, "literal embedding");
    cd_clip_tw_list_free(&l);
    /* Over the window ceiling: a clean error with a message. */
    size_t words = (size_t)CD_PROMPT_MAX_CHUNKS * 76, n = 2 * words;
    char *big = malloc(n);
    if (big) {
        for (size_t i = 0; i < n; i += 2) {
            big[i] = 'a';
            big[i + 1] = ' ';
        }
        rc = cd_clip_tokenize_with_weights(tok, &cfg, big, n, &l);
        CHECK(rc == COMFY_EINVAL && l.error[0] && !l.v && l.n_chunks == 0, "window ceiling");
        rc = cd_clip_tokenize_with_weights(tok, &cfg, big, CD_CLIP_MAX_TEXT_BYTES + 1, &l);
        CHECK(rc == COMFY_EINVAL && l.error[0], "text ceiling");
        free(big);
    }
    rc = cd_clip_tokenize_with_weights(tok, &cfg, "", 0, &l);
    CHECK(rc == 0 && l.n_chunks == 1 && l.v[0].token == 49406 && l.v[1].token == 49407 &&
              l.v[2].token == 0 && l.v[76].token == 0, "empty prompt");
    /* CLIPTextEncodeSDXL's padding of the shorter list with empty windows. */
    cd_clip_tw_list two;
    const char *longp = "a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a "
                        "a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a";
    rc = cd_clip_tokenize_with_weights(tok, &cfg, longp, strlen(longp), &two);
    CHECK(rc == 0 && two.n_chunks == 2, "two windows");
    cd_clip_tw_list one;
    rc = cd_clip_tokenize_with_weights(tok, &cfg, "b", 1, &one);
    CHECK(rc == 0 && cd_clip_tw_list_append(&one, &l) == 0 && one.n_chunks == 2 &&
              one.v[77].token == 49406 && one.v[78].token == 49407 && one.v[79].token == 0,
          "append empty window");
    cd_clip_tw_list_free(&one);
    cd_clip_tw_list_free(&two);
    cd_clip_tw_list_free(&l);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_text_prompt DATA_DIR\n");
        return 2;
    }
    const cd_clip_tokenizer *tok = cd_clip_tokenizer_shared();
    CHECK(tok != NULL, "tokenizer");
    if (!tok)
        return 1;
    test_segments();
    test_floats(argv[1]);
    test_no_loader(tok);
    test_corpus(tok, argv[1]);
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    return failures ? 1 : 0;
}
