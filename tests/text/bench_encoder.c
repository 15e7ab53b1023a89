/*
 * bench_encoder.c — encode time of one 77-token window with full-size
 * CLIP-L (768 wide, 12 layers) and OpenCLIP bigG (1280 wide, 32 layers),
 * weights generated (values do not matter for speed), f32 on the CPU pool.
 * Prints the best of N runs and GFLOP/s (linear layers and attention
 * products: T * layers * (8 W^2 + 4 W F + 4 T W) * ... see flops()).
 * Not a test.  Usage: bench_text_encoder [runs] [threads]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <comfy/comfy.h>

#include "clip_text_model.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double flops(const cd_clip_text_config *c)
{
    double T = CD_CLIP_WINDOW, W = (double)c->width, F = (double)c->mlp;
    /* q, k, v, out (2 T W^2 each), fc1 + fc2 (2 T W F each), QK^T and SV (2 T^2 W each) */
    return (double)c->layers * (8 * T * W * W + 4 * T * W * F + 4 * T * T * W);
}

static void fill(float *p, size_t n, float scale)
{
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * scale;
    }
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 3;
    int threads = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 0;
    if (runs < 1)
        runs = 1;
    static const struct { const char *name, *preset; int64_t w, layers, mlp; int act; } enc[2] = {
        {"CLIP-L", "sd1", 768, 12, 3072, CD_CLIP_ACT_QUICK_GELU},
        {"bigG", "sdxl_g", 1280, 32, 5120, CD_CLIP_ACT_GELU}};
    ck_pool *pool = ck_pool_new(threads);
    const cd_clip_tokenizer *tok = cd_clip_tokenizer_shared();
    const char *prompt = "a photo of an astronaut riding a horse on mars, highly detailed";
    for (int e = 0; e < 2; e++) {
        cd_clip_text_config cfg = {enc[e].w, enc[e].layers, enc[e].w / 64, enc[e].mlp,
                                   CD_CLIP_VOCAB_SIZE, CD_CLIP_WINDOW, enc[e].act, 1};
        cd_clip_text_model *m = NULL;
        if (cd_clip_text_model_new(&cfg, &m) < 0) {
            fprintf(stderr, "%s: out of memory\n", enc[e].name);
            continue;
        }
        const int64_t W = cfg.width, F = cfg.mlp;
        fill(m->tok_emb, (size_t)(cfg.vocab * W), 0.5f);
        fill(m->pos_emb, (size_t)(cfg.positions * W), 0.1f);
        for (int64_t i = 0; i < W; i++)
            m->final_w[i] = 1.0f;
        fill(m->proj, (size_t)(W * W), 0.05f);
        for (int64_t l = 0; l < cfg.layers; l++) {
            cd_clip_text_layer *L = &m->layer[l];
            for (int64_t i = 0; i < W; i++)
                L->ln1_w[i] = L->ln2_w[i] = 1.0f;
            fill(L->q_w, (size_t)(W * W), 0.05f);
            fill(L->k_w, (size_t)(W * W), 0.05f);
            fill(L->v_w, (size_t)(W * W), 0.05f);
            fill(L->o_w, (size_t)(W * W), 0.05f);
            fill(L->fc1_w, (size_t)(F * W), 0.05f);
            fill(L->fc2_w, (size_t)(W * F), 0.02f);
        }
        cd_clip_encode_opts o;
        cd_clip_encode_opts_preset(&o, enc[e].preset);
        cd_clip_tw_config tc;
        cd_clip_tw_config_init(&tc, e ? "clip_g" : "clip_l", (size_t)W);
        cd_clip_tw_list tw;
        if (cd_clip_tokenize_with_weights(tok, &tc, prompt, strlen(prompt), &tw) < 0) {
            cd_clip_text_model_free(m);
            continue;
        }
        float *pooled = malloc((size_t)W * sizeof *pooled);
        double best = 1e30, best_cpu = 0;
        for (int r = 0; r < runs && pooled; r++) {
            float *cond = NULL;
            double t0 = now(), c0 = cpu_now();
            int rc = cd_clip_encode_token_weights(pool, m, &o, &tw, &cond, pooled);
            double t = now() - t0, ct = cpu_now() - c0;
            free(cond);
            if (rc < 0) {
                fprintf(stderr, "encode failed: %d\n", rc);
                break;
            }
            if (t < best) {
                best = t;
                best_cpu = ct;
            }
        }
        printf("%-6s %4lld wide, %2lld layers: one 77-token window %.1f ms, %.1f GFLOP/s "
               "(%.2f GFLOP, best of %d, %d threads, %.0f ms CPU time)\n",
               enc[e].name, (long long)W, (long long)cfg.layers, best * 1e3, flops(&cfg) / best * 1e-9,
               flops(&cfg) * 1e-9, runs, ck_pool_threads(pool), best_cpu * 1e3);
        free(pooled);
        cd_clip_tw_list_free(&tw);
        cd_clip_text_model_free(m);
    }
    ck_pool_free(pool);
    return 0;
}
