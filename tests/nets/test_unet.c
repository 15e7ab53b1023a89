/*
 * test_unet.c — the UNet forward against ComfyUI's own PyTorch UNetModel
 * (goldens from tests/nets/gen/make_goldens.py) on reduced-width
 * checkpoints made by comfyd-mkcheckpoint.
 *
 *   test_nets_unet CKPT GOLDEN_DIR CASE
 *
 * Runs the forward with f32 weights, with weights kept as stored (f16,
 * widened per call) and through an arena, on a serial pool and a
 * 2-thread pool; prints the max abs error against the golden output and
 * fails above 1e-4 · max|golden| (f32 compute; bf16 compute: 3e-2).  Also checks bad inputs
 * give errors, not crashes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "modelfile.h"
#include "unet.h"

static int run_case(const cd_sd *sd, const cd_detect *det, const golden *g, int weights,
                    ck_pool *pool, int use_arena, int prec, double rel_tol)
{
    char err[512] = "";
    cd_nets_load_opts lo = {weights, prec};
    cd_unet *u = NULL;
    int rc = cd_unet_load(sd, det->unet_prefix, &det->unet, &lo, &u, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "load failed: %d %s\n", rc, err);
        return 1;
    }
    const gtensor *x = golden_get(g, "x"), *t = golden_get(g, "timesteps"),
                  *c = golden_get(g, "context"), *y = golden_get(g, "y"),
                  *o = golden_get(g, "out");
    if (!x || !t || !c || !o) {
        fprintf(stderr, "golden incomplete\n");
        cd_unet_free(u);
        return 1;
    }
    const int64_t B = x->shape[0], h = x->shape[2], w = x->shape[3], T = c->shape[1];
    float *out = calloc((size_t)o->n, sizeof *out);
    ck_arena *arena = use_arena ? ck_arena_new(cd_unet_scratch_bytes(u, B, h, w, T)) : NULL;
    cd_nets_run run = {pool, arena, NULL, NULL, err, sizeof err};
    rc = cd_unet_forward(u, &run, x->v, B, h, w, t->v, c->v, T, y ? y->v : NULL, out);
    int fail = 0;
    if (rc < 0) {
        fprintf(stderr, "forward failed: %d %s\n", rc, err);
        fail = 1;
    } else {
        double scale = 0, maxerr = 0;
        for (int64_t i = 0; i < o->n; i++) {
            scale = fmax(scale, fabs(o->v[i]));
            double e = fabs((double)out[i] - o->v[i]);
            /* a non-finite value on either side fails (fmax would skip NaN) */
            maxerr = isfinite(out[i]) && isfinite(o->v[i]) ? fmax(maxerr, e) : INFINITY;
        }
        double tol = rel_tol * scale;
        cd_unet_info info;
        cd_unet_get_info(u, &info);
        printf("%-6s weights=%s prec=%s threads=%d arena=%d: max|out| %.4g, max abs err %.3g (tol %.3g)"
               " params %lld owned %.1f MB\n",
               g->name, weights == CD_NETS_WEIGHTS_F32 ? "f32" : weights == CD_NETS_WEIGHTS_BF16 ? "bf16" : "stored",
               prec == CK_PREC_BF16 ? "bf16" : "f32", ck_pool_threads(pool),
               use_arena, scale, maxerr, tol, (long long)info.n_params,
               (double)info.weight_bytes / 1e6);
        if (!(maxerr <= tol))
            fail = 1;
    }
    /* bad inputs: a missing y / a y for a model without ADM, a zero size */
    float dummy[4096] = {0};
    if (cd_unet_forward(u, &run, x->v, B, h, w, t->v, c->v, T, y ? NULL : dummy, out) !=
        COMFY_EINVAL) {
        fprintf(stderr, "ADM mismatch not refused\n");
        fail = 1;
    }
    if (cd_unet_forward(u, &run, x->v, B, 0, w, t->v, c->v, T, y ? y->v : NULL, out) !=
        COMFY_EINVAL) {
        fprintf(stderr, "zero height not refused\n");
        fail = 1;
    }
    ck_arena_free(arena);
    free(out);
    cd_unet_free(u);
    return fail;
}

static int stop_now(void *user)
{
    int *calls = user;
    return ++*calls >= 3; /* let a few blocks run, then stop */
}

/* A copy of the file's tensor list with tensor `victim` reshaped or
 * dropped must be refused at load with its name in the message. */
static int corrupt_case(const cd_sd *sd, const cd_detect *det, const char *victim, int drop)
{
    size_t n = sd->n, m = 0;
    cd_tensor *t = malloc(n * sizeof *t);
    if (!t)
        return 1;
    for (size_t i = 0; i < n; i++) {
        const cd_tensor *src = cd_sd_at(sd, i);
        if (strstr(src->name, victim) && drop)
            continue;
        t[m] = *src;
        if (strstr(src->name, victim) && t[m].ndim >= 2) {
            t[m].shape[0] /= 2; /* the bytes stay: only the shape lies */
            t[m].shape[1] *= 2;
        }
        m++;
    }
    cd_sd bad;
    char err[512] = "";
    int fail = 1;
    if (cd_sd_init(&bad, t, m, err, sizeof err) == 0) {
        cd_unet *u = NULL;
        int rc = cd_unet_load(&bad, det->unet_prefix, &det->unet, NULL, &u, err, sizeof err);
        fail = !(rc == (drop ? COMFY_ENOENT : COMFY_EINVAL) && !u && strstr(err, victim));
        printf("%s %s: %d \"%s\"\n", drop ? "dropped" : "reshaped", victim, rc, err);
        cd_unet_free(u);
        cd_sd_free(&bad);
    }
    free(t);
    return fail;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s CKPT GOLDEN_DIR CASE\n", argv[0]);
        return 2;
    }
    char err[512];
    cd_model_file *f = NULL;
    if (cd_model_file_open(argv[1], &f, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const cd_sd *sd = cd_model_file_index(f);
    cd_detect det;
    if (cd_detect_checkpoint(sd, &det, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        cd_model_file_unref(f);
        return 1;
    }
    golden g;
    if (golden_load(&g, argv[2], argv[3]) < 0) {
        cd_model_file_unref(f);
        return 1;
    }
    ck_pool *p2 = ck_pool_new(2);
    int fail = 0;
    fail |= run_case(sd, &det, &g, CD_NETS_WEIGHTS_F32, NULL, 0, CK_PREC_F32, 1e-4);
    fail |= run_case(sd, &det, &g, CD_NETS_WEIGHTS_STORED, p2, 1, CK_PREC_F32, 1e-4);
    fail |= run_case(sd, &det, &g, CD_NETS_WEIGHTS_F32, p2, 0, CK_PREC_F32, 1e-4);
    /* bf16 compute (--bf16-unet): bf16 rounding of every matmul input,
     * f32 accumulation; a looser bound, 3e-2 of the output scale. */
    fail |= run_case(sd, &det, &g, CD_NETS_WEIGHTS_BF16, p2, 1, CK_PREC_BF16, 3e-2);

    /* a truncated config is refused with a message */
    cd_unet_config bad = det.unet;
    bad.n_transformer_depth = 1;
    cd_unet *u = NULL;
    char e2[256] = "";
    if (cd_unet_load(sd, det.unet_prefix, &bad, NULL, &u, e2, sizeof e2) != COMFY_EINVAL || u ||
        !e2[0]) {
        fprintf(stderr, "bad config not refused\n");
        fail = 1;
    }
    /* a wrong prefix names the missing tensor */
    if (cd_unet_load(sd, "nothing.", &det.unet, NULL, &u, e2, sizeof e2) != COMFY_ENOENT ||
        !strstr(e2, "nothing.")) {
        fprintf(stderr, "missing tensor not reported: %s\n", e2);
        fail = 1;
    }
    /* corrupt files: a conv weight with a lying shape, a missing norm */
    fail |= corrupt_case(sd, &det, "input_blocks.1.0.in_layers.2.weight", 0);
    fail |= corrupt_case(sd, &det, "output_blocks.3.0.out_layers.0.bias", 1);

    /* the interrupt callback stops a forward with COMFY_EINTERRUPTED */
    if (cd_unet_load(sd, det.unet_prefix, &det.unet, NULL, &u, e2, sizeof e2) == 0) {
        const gtensor *x = golden_get(&g, "x"), *t = golden_get(&g, "timesteps"),
                      *c = golden_get(&g, "context"), *y = golden_get(&g, "y");
        float *out = malloc((size_t)x->n * sizeof *out);
        int calls = 0;
        cd_nets_run run = {NULL, NULL, stop_now, &calls, e2, sizeof e2};
        int rc = cd_unet_forward(u, &run, x->v, x->shape[0], x->shape[2], x->shape[3], t->v, c->v,
                                 c->shape[1], y ? y->v : NULL, out);
        if (rc != COMFY_EINTERRUPTED || calls != 3) {
            fprintf(stderr, "interrupt not honoured: %d after %d polls\n", rc, calls);
            fail = 1;
        }
        /* an arena one byte short of the plan: COMFY_ENOMEM saying how much */
        size_t need = cd_unet_scratch_bytes(u, x->shape[0], x->shape[2], x->shape[3], c->shape[1]);
        ck_arena *small = ck_arena_new(need - 64);
        cd_nets_run r2 = {NULL, small, NULL, NULL, e2, sizeof e2};
        rc = cd_unet_forward(u, &r2, x->v, x->shape[0], x->shape[2], x->shape[3], t->v, c->v,
                             c->shape[1], y ? y->v : NULL, out);
        printf("arena of %zu bytes: %d \"%s\"\n", need - 64, rc, e2);
        if (rc != COMFY_ENOMEM || !strstr(e2, "MiB"))
            fail = 1;
        ck_arena_free(small);
        free(out);
        cd_unet_free(u);
    } else {
        fail = 1;
    }
    ck_pool_free(p2);
    golden_free(&g);
    cd_model_file_unref(f);
    return fail;
}
