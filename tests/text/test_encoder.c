/*
 * test_encoder.c — CLIP text encoders against ComfyUI's SDClipModel.
 *
 * data/encoder.json / encoder.bin hold ComfyUI's encode_token_weights
 * output (cond [77n, 128] and pooled [128]) for a small generated model
 * (width 128, 2 heads, 3 layers, MLP 256, full vocabulary) under the SD1,
 * SD2 and SDXL-bigG options, with clip skip, weights and embeddings.  The
 * weights come from the formula in gen/make_encoder_golden.py, repeated
 * here; the SD1 cases load them under HF names, the others under OpenCLIP
 * names (packed in_proj, transposed text_projection).
 *
 * Tolerance: max |ours - ComfyUI| <= 1e-4 * max(1, max |ComfyUI|) per
 * case (f32 on both sides; the order of the sums differs).  Max abs error
 * and cosine similarity are printed for each case.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>

#include "clip_stack.h"
#include "text_check.h"

#define W 128
#define MLP 256
#define LAYERS 3
#define VOCAB 49408
#define POS 77

/* An in-memory state dict of the generated model. */
typedef struct fake_sd {
    cd_tensor t[128];
    char names[128][128];
    float *data[128];
    size_t n;
} fake_sd;

static float *add(fake_sd *s, const char *name, int64_t d0, int64_t d1)
{
    size_t i = s->n++;
    snprintf(s->names[i], sizeof s->names[i], "%s", name);
    int64_t n = d0 * (d1 ? d1 : 1);
    s->data[i] = calloc((size_t)n, sizeof(float));
    cd_tensor *t = &s->t[i];
    memset(t, 0, sizeof *t);
    t->name = s->names[i];
    t->dtype = CD_DT_F32;
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->data = s->data[i];
    t->nbytes = (uint64_t)n * 4;
    return s->data[i];
}

static const char *layer_keys[16] = {
    "layer_norm1.weight", "layer_norm1.bias", "self_attn.q_proj.weight", "self_attn.q_proj.bias",
    "self_attn.k_proj.weight", "self_attn.k_proj.bias", "self_attn.v_proj.weight",
    "self_attn.v_proj.bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
    "layer_norm2.weight", "layer_norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight",
    "mlp.fc2.bias"};

/* Values of layer tensor k (index into layer_keys) of layer l. */
static void layer_values(float *dst, int l, int k)
{
    int64_t tid = 100 + l * 20 + k;
    const char *key = layer_keys[k];
    if (k == 0 || k == 10)
        weight_values(dst, tid, W, K_LNW, 1);
    else if (strstr(key, ".bias"))
        weight_values(dst, tid, k == 13 ? MLP : W, K_BIAS, 1);
    else if (k == 12)
        weight_values(dst, tid, MLP * W, K_W, W);
    else if (k == 14)
        weight_values(dst, tid, W * MLP, K_W, MLP);
    else
        weight_values(dst, tid, W * W, K_W, W);
}

static void build_sd(fake_sd *s, int openclip)
{
    char name[128];
    s->n = 0;
    if (!openclip) {
        weight_values(add(s, "te.text_model.embeddings.token_embedding.weight", VOCAB, W), 1, VOCAB * W, K_EMB, 1);
        weight_values(add(s, "te.text_model.embeddings.position_embedding.weight", POS, W), 2, POS * W, K_POS, 1);
        weight_values(add(s, "te.text_model.final_layer_norm.weight", W, 0), 3, W, K_LNW, 1);
        weight_values(add(s, "te.text_model.final_layer_norm.bias", W, 0), 4, W, K_BIAS, 1);
        weight_values(add(s, "te.text_projection.weight", W, W), 5, W * W, K_W, W);
        for (int l = 0; l < LAYERS; l++)
            for (int k = 0; k < 16; k++) {
                snprintf(name, sizeof name, "te.text_model.encoder.layers.%d.%s", l, layer_keys[k]);
                int64_t d0 = k == 12 || k == 13 ? MLP : W;
                int64_t d1 = strstr(layer_keys[k], "weight") && k != 0 && k != 10 ? (k == 14 ? MLP : W) : 0;
                layer_values(add(s, name, d0, d1), l, k);
            }
        return;
    }
    weight_values(add(s, "oc.token_embedding.weight", VOCAB, W), 1, VOCAB * W, K_EMB, 1);
    weight_values(add(s, "oc.positional_embedding", POS, W), 2, POS * W, K_POS, 1);
    weight_values(add(s, "oc.ln_final.weight", W, 0), 3, W, K_LNW, 1);
    weight_values(add(s, "oc.ln_final.bias", W, 0), 4, W, K_BIAS, 1);
    float *proj = malloc(W * W * sizeof *proj), *pt = add(s, "oc.text_projection", W, W);
    weight_values(proj, 5, W * W, K_W, W);
    for (int i = 0; i < W; i++)
        for (int j = 0; j < W; j++)
            pt[i * W + j] = proj[j * W + i];
    free(proj);
    static const struct { int k; const char *oc; } map[] = {
        {0, "ln_1.weight"}, {1, "ln_1.bias"}, {8, "attn.out_proj.weight"}, {9, "attn.out_proj.bias"},
        {10, "ln_2.weight"}, {11, "ln_2.bias"}, {12, "mlp.c_fc.weight"}, {13, "mlp.c_fc.bias"},
        {14, "mlp.c_proj.weight"}, {15, "mlp.c_proj.bias"}};
    for (int l = 0; l < LAYERS; l++) {
        for (size_t m = 0; m < sizeof map / sizeof *map; m++) {
            int k = map[m].k;
            snprintf(name, sizeof name, "oc.transformer.resblocks.%d.%s", l, map[m].oc);
            int64_t d0 = k == 12 || k == 13 ? MLP : W;
            int64_t d1 = strstr(layer_keys[k], "weight") && k != 0 && k != 10 ? (k == 14 ? MLP : W) : 0;
            layer_values(add(s, name, d0, d1), l, k);
        }
        snprintf(name, sizeof name, "oc.transformer.resblocks.%d.attn.in_proj_weight", l);
        float *w = add(s, name, 3 * W, W);
        snprintf(name, sizeof name, "oc.transformer.resblocks.%d.attn.in_proj_bias", l);
        float *b = add(s, name, 3 * W, 0);
        for (int q = 0; q < 3; q++) {
            layer_values(w + q * W * W, l, 2 + 2 * q);
            layer_values(b + q * W, l, 3 + 2 * q);
        }
    }
}

static void free_sd(fake_sd *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->data[i]);
    s->n = 0;
}

static int serve_embedding(void *ctx, const char *name, size_t size, const char *key,
                           cd_clip_embedding *out)
{
    (void)ctx;
    (void)size;
    (void)key;
    int64_t rows, width, tid;
    if (strcmp(name, "emb_w") == 0) {
        rows = 2, width = W, tid = 901;
    } else if (strcmp(name, "emb_m") == 0) {
        rows = 1, width = 96, tid = 902;
    } else {
        return 0;
    }
    out->data = malloc((size_t)(rows * width) * sizeof(float));
    if (!out->data)
        return COMFY_ENOMEM;
    weight_values(out->data, tid, rows * width, K_EMB, 1);
    out->rows = (size_t)rows;
    out->width = (size_t)width;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_text_encoder DATA_DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/encoder.json", argv[1]);
    json_object *idx = json_object_from_file(path);
    snprintf(path, sizeof path, "%s/encoder.bin", argv[1]);
    FILE *f = fopen(path, "rb");
    CHECK(idx && f, "golden data missing");
    if (!idx || !f)
        return 1;
    fseek(f, 0, SEEK_END);
    long blen = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *blob = malloc((size_t)blen);
    if (!blob || fread(blob, 1, (size_t)blen, f) != (size_t)blen)
        return 1;
    fclose(f);

    const cd_clip_tokenizer *tok = cd_clip_tokenizer_shared();
    ck_pool *pool = ck_pool_new(2);
    cd_clip_text_model *models[2][2] = {{NULL, NULL}, {NULL, NULL}}; /* [openclip][gelu] */
    json_object *cases = json_object_object_get(idx, "cases");
    size_t n = json_object_array_length(cases);
    size_t sdxl_cases[16], n_sdxl = 0;
    for (size_t c = 0; c < n; c++) {
        json_object *cs = json_object_array_get_idx(cases, c);
#define GET(k) json_object_object_get(cs, k)
        const char *preset = json_object_get_string(GET("preset"));
        if (strcmp(preset, "sdxl") == 0) {
            sdxl_cases[n_sdxl++] = c;
            continue;
        }
        int gelu = strcmp(json_object_get_string(GET("act")), "gelu") == 0;
        int oc = strncmp(preset, "sd1", 3) != 0;
        if (!models[oc][gelu]) {
            fake_sd *s = calloc(1, sizeof *s);
            char err[256] = "";
            build_sd(s, oc);
            cd_sd sd;
            int rc = cd_sd_init(&sd, s->t, s->n, err, sizeof err);
            if (rc == 0)
                rc = cd_clip_text_model_load(&sd, oc ? "oc." : "te.text_model.", oc ? CD_CLIP_NAMES_OPENCLIP : CD_CLIP_NAMES_HF,
                                             gelu ? CD_CLIP_ACT_GELU : CD_CLIP_ACT_QUICK_GELU, 0,
                                             &models[oc][gelu], err, sizeof err);
            CHECK(rc == 0, "load: %s", err);
            if (rc == 0)
                CHECK(models[oc][gelu]->cfg.width == W && models[oc][gelu]->cfg.layers == LAYERS &&
                          models[oc][gelu]->cfg.heads == 2 && models[oc][gelu]->cfg.mlp == MLP &&
                          models[oc][gelu]->proj, "inferred config");
            cd_sd_free(&sd);
            free_sd(s);
            free(s);
            if (rc)
                continue;
        }
        cd_clip_text_model *m = models[oc][gelu];
        cd_clip_encode_opts o;
        memset(&o, 0, sizeof o);
        o.start_token = CD_CLIP_TOKEN_START;
        o.end_token = CD_CLIP_TOKEN_END;
        o.pad_token = json_object_get_int(GET("pad"));
        o.last = json_object_get_boolean(GET("last"));
        o.layer_idx = json_object_get_int(GET("layer_idx"));
        o.norm_hidden = json_object_get_boolean(GET("norm_hidden"));
        o.projected_pooled = json_object_get_boolean(GET("projected_pooled"));
        if (json_object_get_int(GET("clip_skip")))
            cd_clip_encode_opts_set_layer(&o, m->cfg.layers, json_object_get_int(GET("clip_skip")));
        if (strcmp(preset, "sd1") == 0 || strcmp(preset, "sd2") == 0 || strcmp(preset, "sdxl_g") == 0) {
            cd_clip_encode_opts po;
            cd_clip_encode_opts_preset(&po, preset);
            CHECK(po.last == o.last && po.layer_idx == o.layer_idx && po.norm_hidden == o.norm_hidden &&
                      po.projected_pooled == o.projected_pooled && po.pad_token == o.pad_token,
                  "preset %s", preset);
        }

        cd_clip_tw_config cfg;
        cd_clip_tw_config_init(&cfg, "clip_x", W);
        cfg.pad_token = o.pad_token;
        cfg.embed_fn = serve_embedding;
        const char *prompt = json_object_get_string(GET("prompt"));
        cd_clip_tw_list tw;
        int rc = cd_clip_tokenize_with_weights(tok, &cfg, prompt, strlen(prompt), &tw);
        CHECK(rc == 0, "tokenize %s", prompt);
        if (rc)
            continue;
        float *cond = NULL, pooled[W];
        rc = cd_clip_encode_token_weights(pool, m, &o, &tw, &cond, pooled);
        CHECK(rc == 0, "encode rc %d", rc);
        size_t rows = (size_t)json_object_get_int(GET("rows"));
        size_t off = (size_t)json_object_get_int64(GET("offset")) / sizeof(float);
        CHECK(rows == tw.n_chunks * CD_CLIP_WINDOW, "rows %zu vs %zu", rows, tw.n_chunks * 77);
        if (rc == 0 && rows == tw.n_chunks * CD_CLIP_WINDOW) {
            for (int part = 0; part < 2; part++) {
                const float *ref = blob + off + (part ? rows * W : 0);
                const float *got = part ? pooled : cond;
                size_t cnt = part ? W : rows * W;
                double maxerr = 0, maxref = 0, dot = 0, na = 0, nb = 0;
                for (size_t i = 0; i < cnt; i++) {
                    double e = fabs((double)got[i] - ref[i]);
                    if (e > maxerr || isnan(e))
                        maxerr = isnan(e) ? INFINITY : e;
                    if (fabs(ref[i]) > maxref)
                        maxref = fabs(ref[i]);
                    dot += (double)got[i] * ref[i];
                    na += (double)got[i] * got[i];
                    nb += (double)ref[i] * ref[i];
                }
                double cosv = dot / (sqrt(na) * sqrt(nb) + 1e-300);
                double tol = 1e-4 * (maxref > 1 ? maxref : 1);
                printf("%-13s %-6s %-48.48s max|err| %.3g (scale %.3g) cos %.9f\n", preset,
                       part ? "pooled" : "cond", prompt, maxerr, maxref, cosv);
                CHECK(maxerr <= tol, "case %zu %s: max err %g > %g", c, part ? "pooled" : "cond", maxerr, tol);
            }
        }
        free(cond);
        cd_clip_tw_list_free(&tw);
#undef GET
    }
    /* SDXL through the stack: "l" = the HF quick_gelu model, "g" = the
     * OpenCLIP gelu one (same weights, as in the generator). */
    CHECK(n_sdxl > 0, "sdxl cases");
    for (size_t k = 0; k < n_sdxl && models[0][0] && models[1][1]; k++) {
        json_object *cs = json_object_array_get_idx(cases, sdxl_cases[k]);
        cd_clip_stack st;
        memset(&st, 0, sizeof st);
        st.family = CD_CLIP_SDXL;
        st.l = models[0][0];
        st.g = models[1][1];
        st.embed_fn = serve_embedding;
        char err[256] = "";
        cd_clip_cond out;
        const char *tg = json_object_get_string(json_object_object_get(cs, "prompt"));
        json_object *jl = json_object_object_get(cs, "prompt_l");
        int rc = jl ? cd_clip_stack_encode_sdxl(&st, pool, tg, strlen(tg), json_object_get_string(jl),
                                               strlen(json_object_get_string(jl)), &out, err, sizeof err)
                    : cd_clip_stack_encode(&st, pool, tg, strlen(tg), &out, err, sizeof err);
        size_t rows = (size_t)json_object_get_int(json_object_object_get(cs, "rows"));
        size_t width = (size_t)json_object_get_int(json_object_object_get(cs, "width"));
        size_t off = (size_t)json_object_get_int64(json_object_object_get(cs, "offset")) / sizeof(float);
        CHECK(rc == 0 && (size_t)out.rows == rows && (size_t)out.width == width && out.pooled_width == W,
              "sdxl encode rc %d (%s) rows %lld", rc, err, (long long)out.rows);
        if (rc == 0 && (size_t)out.rows == rows && (size_t)out.width == width) {
            double e1 = 0, e2 = 0, scale = 0;
            for (size_t i = 0; i < rows * width; i++) {
                e1 = fmax(e1, fabs((double)out.cond[i] - blob[off + i]));
                scale = fmax(scale, fabs(blob[off + i]));
            }
            for (size_t i = 0; i < W; i++)
                e2 = fmax(e2, fabs((double)out.pooled[i] - blob[off + rows * width + i]));
            printf("sdxl          %-13s %-41.41s max|err| cond %.3g pooled %.3g (scale %.3g)\n",
                   jl ? "EncodeSDXL" : "Encode", tg, e1, e2, scale);
            CHECK(e1 <= 1e-4 * fmax(1, scale) && e2 <= 1e-4 * fmax(1, scale), "sdxl case %zu", k);
        }
        cd_clip_cond_free(&out);
    }

    /* Bad input is an error, not a crash. */
    if (models[0][0]) {
        cd_clip_text_model *m = models[0][0];
        cd_clip_encode_opts o;
        cd_clip_encode_opts_preset(&o, "sd1");
        cd_clip_tw win[CD_CLIP_WINDOW];
        for (int j = 0; j < CD_CLIP_WINDOW; j++)
            win[j] = (cd_clip_tw){j == 0 ? 49406 : 49407, 0, NULL, 1.0};
        float *z = malloc(CD_CLIP_WINDOW * W * sizeof *z), pooled[W];
        CHECK(cd_clip_text_forward(pool, m, &o, win, 1, z, pooled) == 0, "plain window");
        o.pad_token = VOCAB;
        CHECK(cd_clip_text_forward(pool, m, &o, win, 1, z, pooled) == COMFY_EINVAL, "bad pad");
        cd_clip_encode_opts_preset(&o, "sd1");
        win[3].token = VOCAB + 5;
        CHECK(cd_clip_text_forward(pool, m, &o, win, 1, z, pooled) == COMFY_EINVAL, "bad token");
        win[3].token = 49407;
        o.last = 0;
        o.layer_idx = LAYERS;
        CHECK(cd_clip_text_forward(pool, m, &o, win, 1, z, pooled) == COMFY_EINVAL, "bad layer");
        cd_clip_encode_opts_set_layer(&o, LAYERS, -(LAYERS + 1));
        CHECK(o.last == 1, "clip skip beyond the layers falls back to the last layer");
        cd_clip_encode_opts_set_layer(&o, LAYERS, -1);
        CHECK(o.last == 0 && o.layer_idx == -1, "clip skip -1");
        CHECK(cd_clip_encode_opts_preset(&o, "sd3") == COMFY_EINVAL, "unknown preset");
        CHECK(cd_clip_text_forward(pool, m, &o, win, 0, z, pooled) == COMFY_EINVAL, "no windows");
        free(z);
    }
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            cd_clip_text_model_free(models[a][b]);
    ck_pool_free(pool);
    json_object_put(idx);
    free(blob);
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    return failures ? 1 : 0;
}
