/*
 * test_vae.c — VAE decode / encode and their tiled variants against
 * ComfyUI's AutoencoderKL + process_input/process_output + tiled_scale
 * (goldens from tests/nets/gen/make_goldens.py) on the reduced-width SD1.5
 * checkpoint made by comfyd-mkcheckpoint.
 *
 *   test_nets_vae CKPT GOLDEN_DIR
 *
 * Tolerance: max abs error <= 1e-4 · max(1, max|golden|) (f32 compute; the
 * images are in 0..1).  Also: f16-as-stored weights with an arena and a
 * 2-thread pool, bad inputs refused with a message.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "modelfile.h"
#include "vae.h"

static int check(const char *what, const float *got, const gtensor *want)
{
    double scale = 1.0, maxerr = 0;
    for (int64_t i = 0; i < want->n; i++) {
        scale = fmax(scale, fabs(want->v[i]));
        double e = fabs((double)got[i] - want->v[i]);
        /* a non-finite value on either side fails (fmax would skip NaN) */
        maxerr = isfinite(got[i]) && isfinite(want->v[i]) ? fmax(maxerr, e) : INFINITY;
    }
    double tol = 1e-4 * scale;
    printf("  %-15s max abs err %.3g (tol %.3g)\n", what, maxerr, tol);
    return !(maxerr <= tol);
}

static int run_all(const cd_sd *sd, const golden *g, int weights, ck_pool *pool, int use_arena,
                   int tiled_encode)
{
    char err[512] = "";
    cd_nets_load_opts lo = {weights, CK_PREC_F32};
    cd_vae *v = NULL;
    if (cd_vae_load(sd, "first_stage_model.", &lo, &v, err, sizeof err) < 0) {
        fprintf(stderr, "load: %s\n", err);
        return 1;
    }
    cd_vae_info info;
    cd_vae_get_info(v, &info);
    printf("vae weights=%s threads=%d arena=%d: latent %d, x%d, params %lld\n",
           weights == CD_NETS_WEIGHTS_F32 ? "f32" : "stored", ck_pool_threads(pool), use_arena,
           info.latent_channels, info.downscale, (long long)info.n_params);
    const gtensor *z = golden_get(g, "z"), *img = golden_get(g, "img"),
                  *dec = golden_get(g, "decoded"), *enc = golden_get(g, "encoded"),
                  *zt = golden_get(g, "zt"), *dect = golden_get(g, "decoded_tiled"),
                  *it = golden_get(g, "it"), *enct = golden_get(g, "encoded_tiled");
    if (!z || !img || !dec || !enc || !zt || !dect || !it || !enct) {
        cd_vae_free(v);
        return 1;
    }
    ck_arena *arena = use_arena ? ck_arena_new(0) : NULL;
    cd_nets_run run = {pool, arena, NULL, NULL, err, sizeof err};
    int fail = 0, rc;
    float *out = calloc(1 << 16, sizeof *out);

    rc = cd_vae_decode(v, &run, z->v, z->shape[0], z->shape[2], z->shape[3], out);
    fail |= rc < 0 || check("decode", out, dec);
    ck_arena_reset(arena);
    rc = cd_vae_encode(v, &run, img->v, img->shape[0], img->shape[1], img->shape[2], out);
    fail |= rc < 0 || check("encode", out, enc);
    /* tiled: with an arena, exactly the bytes cd_vae_tiled_scratch_bytes says */
    ck_arena *ta = use_arena ? ck_arena_new(cd_vae_tiled_scratch_bytes(v, 0, zt->shape[2],
                                                                       zt->shape[3], 4, 4))
                             : NULL;
    cd_nets_run trun = {pool, ta, NULL, NULL, err, sizeof err};
    rc = cd_vae_decode_tiled(v, &trun, zt->v, 1, zt->shape[2], zt->shape[3], 4, 4, 1, out);
    fail |= rc < 0 || check("decode_tiled", out, dect);
    ck_arena_free(ta);
    if (tiled_encode) { /* 14 encoder runs: once is enough under ASan */
        ta = use_arena ? ck_arena_new(cd_vae_tiled_scratch_bytes(v, 1, it->shape[1], it->shape[2],
                                                                 32, 32))
                       : NULL;
        trun.arena = ta;
        rc = cd_vae_encode_tiled(v, &trun, it->v, 1, it->shape[1], it->shape[2], 32, 32, 8, out);
        fail |= rc < 0 || check("encode_tiled", out, enct);
        ck_arena_free(ta);
    }
    if (fail && rc < 0)
        fprintf(stderr, "call failed: %d %s\n", rc, err);

    /* bad input: zero sizes, overlap >= tile, an image too small */
    err[0] = 0;
    if (cd_vae_decode(v, &run, z->v, 1, 0, 4, out) != COMFY_EINVAL || !err[0])
        fail |= 1, fprintf(stderr, "zero latent not refused\n");
    if (cd_vae_decode_tiled(v, &run, zt->v, 1, zt->shape[2], zt->shape[3], 4, 4, 4, out) !=
        COMFY_EINVAL)
        fail |= 1, fprintf(stderr, "overlap >= tile not refused\n");
    if (cd_vae_encode(v, &run, img->v, 1, 1, 1, out) != COMFY_EINVAL)
        fail |= 1, fprintf(stderr, "1x1 image not refused\n");
    /* a ceiling too small is a clear ENOMEM */
    ck_arena *tiny = ck_arena_new(4096);
    cd_nets_run r2 = {pool, tiny, NULL, NULL, err, sizeof err};
    if (cd_vae_decode(v, &r2, z->v, 1, z->shape[2], z->shape[3], out) != COMFY_ENOMEM ||
        !strstr(err, "MiB"))
        fail |= 1, fprintf(stderr, "arena ceiling not reported: %s\n", err);
    ck_arena_free(tiny);

    free(out);
    ck_arena_free(arena);
    cd_vae_free(v);
    return fail;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s CKPT GOLDEN_DIR\n", argv[0]);
        return 2;
    }
    char err[512];
    cd_model_file *f = NULL;
    if (cd_model_file_open(argv[1], &f, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    golden g;
    if (golden_load(&g, argv[2], "vae") < 0) {
        cd_model_file_unref(f);
        return 1;
    }
    const cd_sd *sd = cd_model_file_index(f);
    ck_pool *p2 = ck_pool_new(2);
    int fail = run_all(sd, &g, CD_NETS_WEIGHTS_F32, NULL, 0, 0);
    fail |= run_all(sd, &g, CD_NETS_WEIGHTS_STORED, p2, 1, 1);
    cd_vae *v = NULL;
    if (cd_vae_load(sd, "nope.", NULL, &v, err, sizeof err) != COMFY_ENOENT || v)
        fail |= 1, fprintf(stderr, "missing VAE not refused\n");
    ck_pool_free(p2);
    golden_free(&g);
    cd_model_file_unref(f);
    return fail;
}
