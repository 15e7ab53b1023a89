/*
 * test_encoder_full.c — full-width CLIP text encoders against ComfyUI.
 *
 * data/encoder_full.json: ComfyUI's encode_token_weights of one weighted
 * prompt on generated models at full width: CLIP-L (768, 12 heads, 12
 * layers, quick_gelu, last layer) and bigG's width (1280, 20 heads, MLP
 * 5120, gelu, layer -2 un-normed, projected pooled) with 4 of its 32
 * layers.  Stored: pooled, the first 4 rows of cond, and every row's sum
 * and sum of squares.  Weights from gen/make_encoder_golden.py's formula.
 *
 * Tolerances: pooled and rows: max |err| <= 1e-4 * max(1, scale);
 * row sums: |err| <= 1e-4 * max(1, scale) * width; sums of squares:
 * relative error <= 1e-5.  Slow under sanitizers (ctest label no-asan).
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <comfy/comfy.h>

#include "clip_text_model.h"
#include "text_check.h"

/* Fills a model made by cd_clip_text_model_new with the formula weights
 * (tensor numbers as the generator's make_state_dict). */
static void fill(cd_clip_text_model *m)
{
    const int64_t W = m->cfg.width, F = m->cfg.mlp;
    weight_values(m->tok_emb, 1, m->cfg.vocab * W, K_EMB, 1);
    weight_values(m->pos_emb, 2, m->cfg.positions * W, K_POS, 1);
    weight_values(m->final_w, 3, W, K_LNW, 1);
    weight_values(m->final_b, 4, W, K_BIAS, 1);
    if (m->proj)
        weight_values(m->proj, 5, W * W, K_W, W);
    for (int64_t l = 0; l < m->cfg.layers; l++) {
        cd_clip_text_layer *L = &m->layer[l];
        int64_t t = 100 + l * 20;
        weight_values(L->ln1_w, t + 0, W, K_LNW, 1);
        weight_values(L->ln1_b, t + 1, W, K_BIAS, 1);
        weight_values(L->q_w, t + 2, W * W, K_W, W);
        weight_values(L->q_b, t + 3, W, K_BIAS, 1);
        weight_values(L->k_w, t + 4, W * W, K_W, W);
        weight_values(L->k_b, t + 5, W, K_BIAS, 1);
        weight_values(L->v_w, t + 6, W * W, K_W, W);
        weight_values(L->v_b, t + 7, W, K_BIAS, 1);
        weight_values(L->o_w, t + 8, W * W, K_W, W);
        weight_values(L->o_b, t + 9, W, K_BIAS, 1);
        weight_values(L->ln2_w, t + 10, W, K_LNW, 1);
        weight_values(L->ln2_b, t + 11, W, K_BIAS, 1);
        weight_values(L->fc1_w, t + 12, F * W, K_W, W);
        weight_values(L->fc1_b, t + 13, F, K_BIAS, 1);
        weight_values(L->fc2_w, t + 14, W * F, K_W, F);
        weight_values(L->fc2_b, t + 15, W, K_BIAS, 1);
    }
}

static double num(json_object *a, size_t i)
{
    return strtod(json_object_get_string(json_object_array_get_idx(a, i)), NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_text_encoder_full DATA_DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/encoder_full.json", argv[1]);
    json_object *idx = json_object_from_file(path);
    CHECK(idx, "golden data missing");
    if (!idx)
        return 1;
    const cd_clip_tokenizer *tok = cd_clip_tokenizer_shared();
    ck_pool *pool = ck_pool_new(0);
    json_object *cases = json_object_object_get(idx, "cases");
    for (size_t c = 0; c < json_object_array_length(cases); c++) {
        json_object *cs = json_object_array_get_idx(cases, c);
#define GET(k) json_object_object_get(cs, k)
        cd_clip_text_config cfg = {0};
        cfg.width = json_object_get_int(GET("width"));
        cfg.heads = json_object_get_int(GET("heads"));
        cfg.layers = json_object_get_int(GET("layers"));
        cfg.mlp = json_object_get_int(GET("mlp"));
        cfg.vocab = CD_CLIP_VOCAB_SIZE;
        cfg.positions = CD_CLIP_WINDOW;
        cfg.act = strcmp(json_object_get_string(GET("act")), "gelu") == 0 ? CD_CLIP_ACT_GELU
                                                                         : CD_CLIP_ACT_QUICK_GELU;
        cfg.has_projection = 1;
        cd_clip_text_model *m = NULL;
        int rc = cd_clip_text_model_new(&cfg, &m);
        CHECK(rc == 0, "model");
        if (rc)
            continue;
        fill(m);
        cd_clip_encode_opts o;
        memset(&o, 0, sizeof o);
        o.start_token = CD_CLIP_TOKEN_START;
        o.end_token = CD_CLIP_TOKEN_END;
        o.pad_token = json_object_get_int(GET("pad"));
        o.last = json_object_get_boolean(GET("last"));
        o.layer_idx = json_object_get_int(GET("layer_idx"));
        o.norm_hidden = json_object_get_boolean(GET("norm_hidden"));
        o.projected_pooled = json_object_get_boolean(GET("projected_pooled"));
        cd_clip_tw_config tc;
        cd_clip_tw_config_init(&tc, "clip_x", (size_t)cfg.width);
        tc.pad_token = o.pad_token;
        const char *prompt = json_object_get_string(GET("prompt"));
        cd_clip_tw_list tw;
        rc = cd_clip_tokenize_with_weights(tok, &tc, prompt, strlen(prompt), &tw);
        CHECK(rc == 0, "tokenize");
        float *cond = NULL, *pooled = malloc((size_t)cfg.width * sizeof *pooled);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (rc == 0)
            rc = cd_clip_encode_token_weights(pool, m, &o, &tw, &cond, pooled);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        CHECK(rc == 0, "encode %d", rc);
        size_t rows = (size_t)json_object_get_int(GET("rows")), W = (size_t)cfg.width;
        if (rc == 0 && rows == tw.n_chunks * CD_CLIP_WINDOW) {
            json_object *jp = GET("pooled"), *jh = GET("head_rows"), *js = GET("row_sum"), *jq = GET("row_sumsq");
            double scale = 0, e_pool = 0, e_rows = 0, e_sum = 0, e_sq = 0;
            for (size_t i = 0; i < rows * W; i++)
                scale = fmax(scale, fabs(cond[i]));
            double tol = 1e-4 * fmax(1.0, scale);
            for (size_t i = 0; i < W; i++)
                e_pool = fmax(e_pool, fabs(pooled[i] - num(jp, i)));
            for (size_t r = 0; r < 4; r++)
                for (size_t i = 0; i < W; i++)
                    e_rows = fmax(e_rows, fabs(cond[r * W + i] - num(json_object_array_get_idx(jh, r), i)));
            for (size_t r = 0; r < rows; r++) {
                double s = 0, q = 0;
                for (size_t i = 0; i < W; i++) {
                    s += cond[r * W + i];
                    q += (double)cond[r * W + i] * cond[r * W + i];
                }
                e_sum = fmax(e_sum, fabs(s - num(js, r)));
                e_sq = fmax(e_sq, fabs(q - num(jq, r)) / fmax(1e-30, num(jq, r)));
            }
            printf("%-12s W %zu: pooled max|err| %.3g, rows 0-3 max|err| %.3g, row-sum max|err| %.3g, "
                   "row-sumsq max rel err %.3g (scale %.3g), encode %.0f ms\n",
                   json_object_get_string(GET("name")), W, e_pool, e_rows, e_sum, e_sq, scale,
                   ((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec)) * 1e3);
            CHECK(e_pool <= tol && e_rows <= tol && e_sum <= tol * (double)W && e_sq <= 1e-5,
                  "%s outside tolerance", json_object_get_string(GET("name")));
        } else {
            CHECK(0, "row count");
        }
        free(cond);
        free(pooled);
        cd_clip_tw_list_free(&tw);
        cd_clip_text_model_free(m);
#undef GET
    }
    ck_pool_free(pool);
    json_object_put(idx);
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    return failures ? 1 : 0;
}
