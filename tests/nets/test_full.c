/*
 * test_full.c — full-width SD1.5 UNet and VAE against ComfyUI (goldens
 * from tests/nets/gen/make_goldens_full.py): real widths, 8 heads of 40 /
 * 80 / 160 channels, context 768, VAE base width 128.
 *
 *   test_nets_full SD15_FULL.safetensors GOLDEN_DIR
 *
 * The inputs are closed-form (see the generator); the UNet keeps the
 * file's f16 weights (widened per call), the VAE converts to f32.
 * Tolerance 1e-4 · max(1, max|golden|).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "modelfile.h"
#include "unet.h"
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
    printf("%-12s max|golden| %.4g, max abs err %.3g (tol %.3g)\n", what, scale, maxerr, tol);
    return !(maxerr <= tol);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s SD15_FULL GOLDEN_DIR\n", argv[0]);
        return 2;
    }
    char err[512] = "";
    cd_model_file *f = NULL;
    if (cd_model_file_open(argv[1], &f, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const cd_sd *sd = cd_model_file_index(f);
    cd_detect det;
    golden g;
    if (cd_detect_checkpoint(sd, &det, err, sizeof err) < 0 || det.family != CD_FAMILY_SD1 ||
        det.reduced_width || golden_load(&g, argv[2], "full_sd15") < 0) {
        fprintf(stderr, "not a full-width SD1.5 file or no golden: %s\n", err);
        cd_model_file_unref(f);
        return 1;
    }
    const gtensor *uo = golden_get(&g, "unet_out"), *vd = golden_get(&g, "vae_decoded"),
                  *ve = golden_get(&g, "vae_encoded");
    ck_pool *pool = ck_pool_new(0);
    cd_nets_run run = {pool, NULL, NULL, NULL, err, sizeof err};
    int fail = 1;
    float *x = malloc(2 * 4 * 16 * 16 * sizeof *x), *ctx = malloc(2 * 77 * 768 * sizeof *ctx);
    float *out = malloc(64 * 64 * 3 * sizeof *out);
    float *z = malloc(4 * 8 * 8 * sizeof *z), *img = malloc(64 * 48 * 3 * sizeof *img);
    cd_unet *u = NULL;
    cd_vae *v = NULL;
    if (!uo || !vd || !ve || !x || !ctx || !out || !z || !img)
        goto done;
    for (int i = 0; i < 2 * 4 * 16 * 16; i++)
        x[i] = (float)sin(0.37 * i + 0.1);
    for (int i = 0; i < 2 * 77 * 768; i++)
        ctx[i] = (float)(0.8 * cos(0.013 * i));
    for (int i = 0; i < 4 * 8 * 8; i++)
        z[i] = (float)(2.5 * sin(0.21 * i + 0.4));
    for (int i = 0; i < 64 * 48 * 3; i++)
        img[i] = (float)(0.5 + 0.45 * sin(0.11 * i));
    const float t[2] = {999.0f, 421.0f};

    cd_nets_load_opts stored = {CD_NETS_WEIGHTS_STORED, CK_PREC_F32};
    if (cd_unet_load(sd, det.unet_prefix, &det.unet, &stored, &u, err, sizeof err) < 0 ||
        cd_unet_forward(u, &run, x, 2, 16, 16, t, ctx, 77, NULL, out) < 0) {
        fprintf(stderr, "unet: %s\n", err);
        goto done;
    }
    fail = check("unet", out, uo);
    if (cd_vae_load(sd, det.vae_prefix, NULL, &v, err, sizeof err) < 0 ||
        cd_vae_decode(v, &run, z, 1, 8, 8, out) < 0) {
        fprintf(stderr, "vae: %s\n", err);
        fail = 1;
        goto done;
    }
    fail |= check("vae decode", out, vd);
    if (cd_vae_encode(v, &run, img, 1, 64, 48, out) < 0) {
        fprintf(stderr, "vae: %s\n", err);
        fail = 1;
        goto done;
    }
    fail |= check("vae encode", out, ve);
done:
    cd_unet_free(u);
    cd_vae_free(v);
    free(x);
    free(ctx);
    free(out);
    free(z);
    free(img);
    ck_pool_free(pool);
    golden_free(&g);
    cd_model_file_unref(f);
    return fail;
}
