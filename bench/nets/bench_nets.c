/*
 * bench_nets.c — timings of the UNet and VAE forward passes.
 *
 *   bench-nets --ckpt FILE [--threads N] [--reps N] [--weights f32|stored|bf16]
 *              [--prec f32|bf16] [--what unet|vae|all] [--latent H W]
 *              [--batch B]
 *
 * FILE is any SD checkpoint; for the figures in the README it is
 *   comfyd-mkcheckpoint --arch sd15 --width full --seed 1 --out /tmp/sd15.safetensors
 * (never committed).  Defaults: one CFG step of SD1.5 at 512x512 (batch 2,
 * latent 64x64, 77 context tokens) and a VAE decode of one 64x64 latent.
 * Inputs are deterministic pseudo-random values; prints the best of
 * --reps runs (the machine is shared: best-of is the honest figure), the
 * operation count and rate, the load time and the process's peak RSS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "detect.h"
#include "modelfile.h"
#include "unet.h"
#include "vae.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* User + system CPU seconds of the process so far. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static void fill(float *x, size_t n, unsigned seed, float scale)
{
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = scale * ((float)(s >> 8) / 16777216.0f * 2.0f - 1.0f);
    }
}

static long arg_long(const char *s, long lo, long hi, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    const char *ckpt = NULL, *what = "all";
    int threads = 0, reps = 3;
    int64_t lh = 64, lw = 64, batch = 2;
    cd_nets_load_opts lo = {CD_NETS_WEIGHTS_F32, CK_PREC_F32};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--ckpt") && v) {
            ckpt = v;
            i++;
        } else if (!strcmp(a, "--threads") && v) {
            threads = (int)arg_long(v, 0, 256, "--threads");
            i++;
        } else if (!strcmp(a, "--reps") && v) {
            reps = (int)arg_long(v, 1, 100, "--reps");
            i++;
        } else if (!strcmp(a, "--batch") && v) {
            batch = arg_long(v, 1, 64, "--batch");
            i++;
        } else if (!strcmp(a, "--what") && v) {
            what = v;
            i++;
        } else if (!strcmp(a, "--weights") && v) {
            lo.weights = !strcmp(v, "stored") ? CD_NETS_WEIGHTS_STORED
                       : !strcmp(v, "bf16")   ? CD_NETS_WEIGHTS_BF16
                                              : CD_NETS_WEIGHTS_F32;
            i++;
        } else if (!strcmp(a, "--prec") && v) {
            lo.prec = !strcmp(v, "bf16") ? CK_PREC_BF16 : CK_PREC_F32;
            i++;
        } else if (!strcmp(a, "--latent") && i + 2 < argc) {
            lh = arg_long(argv[i + 1], 1, 1024, "--latent H");
            lw = arg_long(argv[i + 2], 1, 1024, "--latent W");
            i += 2;
        } else {
            fprintf(stderr, "usage: %s --ckpt FILE [--threads N] [--reps N] [--weights "
                            "f32|stored|bf16] [--prec f32|bf16] [--what unet|vae|all] "
                            "[--latent H W] [--batch B]\n", argv[0]);
            return 2;
        }
    }
    if (!ckpt) {
        fprintf(stderr, "--ckpt is required\n");
        return 2;
    }
    char err[512];
    cd_model_file *f = NULL;
    if (cd_model_file_open(ckpt, &f, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const cd_sd *sd = cd_model_file_index(f);
    cd_detect det;
    if (cd_detect_checkpoint(sd, &det, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    ck_pool *pool = ck_pool_new(threads);
    printf("checkpoint %s: %s%s, threads %d, weights %s, prec %s\n", ckpt, det.name,
           det.reduced_width ? " (reduced)" : "", ck_pool_threads(pool),
           lo.weights == CD_NETS_WEIGHTS_F32 ? "f32" : lo.weights == CD_NETS_WEIGHTS_BF16 ? "bf16" : "stored",
           lo.prec == CK_PREC_BF16 ? "bf16" : "f32");
    int rc = 0;
    if (!strcmp(what, "unet") || !strcmp(what, "all")) {
        double t0 = now();
        cd_unet *u = NULL;
        if (cd_unet_load(sd, det.unet_prefix, &det.unet, &lo, &u, err, sizeof err) < 0) {
            fprintf(stderr, "unet: %s\n", err);
            return 1;
        }
        double tl = now() - t0;
        cd_unet_info info;
        cd_unet_get_info(u, &info);
        const int64_t T = 77, B = batch;
        size_t nx = (size_t)(B * info.in_channels * lh * lw), nc = (size_t)(B * T * info.context_dim);
        float *x = malloc(nx * sizeof *x), *ctx = malloc(nc * sizeof *ctx),
              *out = malloc(nx * sizeof *out), ts[64], *y = NULL;
        fill(x, nx, 1, 1.0f);
        fill(ctx, nc, 2, 1.0f);
        for (int64_t b = 0; b < B; b++)
            ts[b] = 999.0f - 50.0f * (float)b;
        if (info.adm_in_channels) {
            y = malloc((size_t)(B * info.adm_in_channels) * sizeof *y);
            fill(y, (size_t)(B * info.adm_in_channels), 3, 1.0f);
        }
        size_t sb = cd_unet_scratch_bytes(u, B, lh, lw, T);
        ck_arena *arena = ck_arena_new(0);
        cd_nets_run run = {pool, arena, NULL, NULL, err, sizeof err};
        double best = 1e30, bestcpu = 1e30;
        for (int r = 0; r < reps; r++) {
            double a = now(), c = cpu_s();
            if ((rc = cd_unet_forward(u, &run, x, B, lh, lw, ts, ctx, T, y, out)) < 0) {
                fprintf(stderr, "forward: %s\n", err);
                break;
            }
            double e = now() - a, ce = cpu_s() - c;
            ck_arena_reset(arena);
            printf("  unet run %d: %.3f s wall, %.3f CPU-s\n", r, e, ce);
            if (e < best)
                best = e;
            if (ce < bestcpu)
                bestcpu = ce;
        }
        double fl = cd_unet_flops(u, B, lh, lw, T);
        printf("UNet %lldx%lld latent, batch %lld: load %.2f s (%.2f GB owned), best forward %.3f s, "
               "%.1f GFLOP, %.1f GFLOP/s, %.1f GFLOP per CPU-second, scratch %.0f MB\n",
               (long long)lh, (long long)lw, (long long)B, tl, (double)info.weight_bytes / 1e9,
               best, fl / 1e9, fl / best / 1e9, fl / bestcpu / 1e9, (double)sb / 1e6);
        ck_arena_free(arena);
        free(x);
        free(ctx);
        free(out);
        free(y);
        cd_unet_free(u);
    }
    if (rc == 0 && (!strcmp(what, "vae") || !strcmp(what, "all"))) {
        double t0 = now();
        cd_vae *v = NULL;
        if (cd_vae_load(sd, det.vae_prefix, &lo, &v, err, sizeof err) < 0) {
            fprintf(stderr, "vae: %s\n", err);
            return 1;
        }
        double tl = now() - t0;
        size_t nz = (size_t)(4 * lh * lw), ni = (size_t)(64 * lh * lw * 3);
        float *z = malloc(nz * sizeof *z), *img = malloc(ni * sizeof *img);
        fill(z, nz, 4, 3.0f);
        cd_nets_run run = {pool, NULL, NULL, NULL, err, sizeof err};
        double best = 1e30, bestcpu = 1e30;
        for (int r = 0; r < reps; r++) {
            double a = now(), c = cpu_s();
            if ((rc = cd_vae_decode(v, &run, z, 1, lh, lw, img)) < 0) {
                fprintf(stderr, "decode: %s\n", err);
                break;
            }
            double e = now() - a, ce = cpu_s() - c;
            printf("  vae run %d: %.3f s wall, %.3f CPU-s\n", r, e, ce);
            if (e < best)
                best = e;
            if (ce < bestcpu)
                bestcpu = ce;
        }
        double fl = cd_vae_decode_flops(v, 1, lh, lw);
        printf("VAE decode %lldx%lld -> %lldx%lld: load %.2f s, best %.3f s, %.1f GFLOP, %.1f GFLOP/s, "
               "%.1f GFLOP per CPU-second, scratch %.0f MB\n",
               (long long)lh, (long long)lw, (long long)lh * 8, (long long)lw * 8, tl, best,
               fl / 1e9, fl / best / 1e9, fl / bestcpu / 1e9, (double)cd_vae_decode_scratch_bytes(v, 1, lh, lw) / 1e6);
        free(z);
        free(img);
        cd_vae_free(v);
    }
    printf("peak RSS %.0f MB\n", peak_rss_mb());
    ck_pool_free(pool);
    cd_model_file_unref(f);
    return rc < 0;
}
