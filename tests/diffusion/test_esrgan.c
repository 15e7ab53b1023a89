/*
 * test_esrgan.c — ESRGAN / RRDBNet (nets/esrgan.c) against spandrel +
 * ComfyUI's tiled_scale (data/upscale, made by gen/upscale_ref.py) on the
 * random models of gen/esrgan_weights.py: old, new and BSRGAN key layouts,
 * x1 / x2 / x4, Real-ESRGAN's pixel-unshuffle, ESRGAN+, Real-ESRGAN
 * Compact x4 / x3, several tiles and one;
 * a "module." prefix; unsupported and broken files.
 *
 *   test_esrgan DATA_DIR WEIGHTS_DIR
 *   test_esrgan --bench MODEL H W     (timing, gen/upscale_timing.py)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <comfy/comfy.h>

#include "esrgan.h"
#include "modelfile.h"

#define TOL 2e-5f

static int failures;

#define CHECK(c, ...)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* Reads a whole f32 file of exactly n floats (malloc'd), or NULL. */
static float *read_f32(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    float *p = malloc(n * sizeof *p + 1);
    size_t got = p ? fread(p, sizeof *p, n + 1, f) : 0;
    fclose(f);
    if (got != n) {
        free(p);
        return NULL;
    }
    return p;
}

typedef struct tcase {
    const char *name, *file;
    int64_t H, W, tile, overlap, scale;
} tcase;

/* gen/esrgan_weights.py's CASES */
static const tcase cases[] = {
    {"old_x4", "old_x4", 24, 20, 12, 4, 4},
    {"new_x2", "new_x2", 21, 17, 10, 3, 2},
    {"unshuffle_x2", "unshuffle_x2", 18, 15, 9, 2, 2},
    {"plus_x1", "plus_x1", 13, 11, 8, 4, 1},
    {"bsrgan_x4", "bsrgan_x4", 10, 14, 8, 2, 4},
    {"compact_x4", "compact_x4", 11, 9, 6, 2, 4},
    {"compact_x3", "compact_x3", 7, 10, 5, 2, 3},
    {"single_x2", "single_x2", 9, 7, 512, 32, 2},
    {"new_x2", "prefixed", 21, 17, 10, 3, 2},
};

static int steps_seen;
static void on_progress(void *user, int64_t done, int64_t total)
{
    (void)user;
    (void)total;
    steps_seen = (int)done;
}

static void run_case(const char *data, const char *wdir, const tcase *c)
{
    char path[1024], err[512] = "";
    snprintf(path, sizeof path, "%s/%s.safetensors", wdir, c->file);
    cd_model_file *f = NULL;
    if (cd_model_file_open(path, &f, err, sizeof err) < 0) {
        CHECK(0, "%s: open: %s", c->file, err);
        return;
    }
    cd_esrgan *m = NULL;
    int rc = cd_esrgan_load(cd_model_file_index(f), &m, err, sizeof err);
    cd_model_file_unref(f);
    CHECK(rc == 0, "%s: load: %d %s", c->file, rc, err);
    if (rc < 0)
        return;
    CHECK(cd_esrgan_scale(m) == c->scale, "%s: scale %d", c->file, cd_esrgan_scale(m));
    const int64_t H = c->H, W = c->W, s = c->scale, on = H * s * W * s * 3;
    snprintf(path, sizeof path, "%s/%s.img.f32", wdir, c->name);
    float *img = read_f32(path, (size_t)(H * W * 3));
    snprintf(path, sizeof path, "%s/%s.out.f32", data, c->name);
    float *ref = read_f32(path, (size_t)on);
    float *out = malloc((size_t)on * sizeof *out);
    CHECK(img && ref && out, "%s: cannot read the image / golden", c->name);
    if (img && ref && out) {
        ck_pool *pool = ck_pool_new(0);
        cd_nets_run run = {pool, NULL, NULL, NULL, err, sizeof err};
        steps_seen = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = cd_esrgan_upscale(m, &run, img, 1, H, W, c->tile, c->overlap, out, on_progress,
                               NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        CHECK(rc == 0, "%s: upscale: %d %s", c->file, rc, err);
        const int64_t steps = cd_esrgan_tile_steps(H, W, c->tile, c->overlap);
        CHECK(steps_seen == steps, "%s: progress %d of %lld", c->file, steps_seen,
              (long long)steps);
        float md = 0.0f;
        double mref = 0.0;
        for (int64_t i = 0; i < on; i++) {
            float d = out[i] - ref[i];
            d = d < 0 ? -d : d;
            md = d > md ? d : md;
            mref += ref[i];
        }
        printf("%-14s %-22s %lldx%lld -> %lldx%lld, %lld tiles: max |diff| %.2e (mean %.3f) "
               "%.1f ms\n",
               c->file, cd_esrgan_describe(m), (long long)W, (long long)H, (long long)(W * s),
               (long long)(H * s), (long long)steps, md, mref / (double)on,
               (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
        CHECK(md <= TOL, "%s: max |diff| %g over %g", c->file, md, TOL);
        /* a batch of 2 (tiled_scale runs each image alone): both as one */
        float *img2 = malloc((size_t)(2 * H * W * 3) * sizeof *img2);
        float *out2 = malloc((size_t)(2 * on) * sizeof *out2);
        if (img2 && out2) {
            memcpy(img2, img, (size_t)(H * W * 3) * sizeof *img2);
            memcpy(img2 + H * W * 3, img, (size_t)(H * W * 3) * sizeof *img2);
            rc = cd_esrgan_upscale(m, &run, img2, 2, H, W, c->tile, c->overlap, out2, on_progress,
                                   NULL);
            CHECK(rc == 0 && steps_seen == 2 * steps, "%s: batch of 2: %d %s (%d steps)",
                  c->file, rc, err, steps_seen);
            CHECK(rc == 0 && memcmp(out2, out, (size_t)on * sizeof *out) == 0 &&
                      memcmp(out2 + on, out, (size_t)on * sizeof *out) == 0,
                  "%s: the batch of 2 differs from the single image", c->file);
        }
        free(img2);
        free(out2);
        ck_pool_free(pool);
    }
    free(img);
    free(ref);
    free(out);
    cd_esrgan_free(m);
}

/* A state dict of another architecture, and ESRGAN keys with a bad shape. */
static void bad_files(const char *wdir)
{
    char path[1024], err[512] = "";
    snprintf(path, sizeof path, "%s/other.safetensors", wdir);
    FILE *f = fopen(path, "wb");
    if (!f) {
        CHECK(0, "cannot write %s", path);
        return;
    }
    /* one F32 tensor "layers.0.residual_group.blocks.0.norm1.weight" [2] */
    const char *hdr = "{\"layers.0.residual_group.blocks.0.norm1.weight\":{\"dtype\":\"F32\","
                      "\"shape\":[2],\"data_offsets\":[0,8]}}";
    uint64_t hl = strlen(hdr);
    float two[2] = {1, 2};
    fwrite(&hl, 8, 1, f);
    fwrite(hdr, 1, hl, f);
    fwrite(two, 4, 2, f);
    fclose(f);
    cd_model_file *mf = NULL;
    int rc = cd_model_file_open(path, &mf, err, sizeof err);
    CHECK(rc == 0, "other.safetensors: open %s", err);
    if (rc == 0) {
        cd_esrgan *m = NULL;
        CHECK(!cd_esrgan_detect(cd_model_file_index(mf)), "other: detected as ESRGAN");
        rc = cd_esrgan_load(cd_model_file_index(mf), &m, err, sizeof err);
        CHECK(rc == COMFY_EINVAL && !m && strstr(err, "unsupported upscale model architecture"),
              "other: %d %s", rc, err);
        cd_model_file_unref(mf);
    }
    /* bad upscale arguments */
    snprintf(path, sizeof path, "%s/old_x4.safetensors", wdir);
    if (cd_model_file_open(path, &mf, err, sizeof err) == 0) {
        cd_esrgan *m = NULL;
        if (cd_esrgan_load(cd_model_file_index(mf), &m, err, sizeof err) == 0) {
            float img[40 * 3] = {0}, out[40 * 16 * 3];
            cd_nets_run run = {NULL, NULL, NULL, NULL, err, sizeof err};
            rc = cd_esrgan_upscale(m, &run, img, 1, 4, 10, 4, 4, out, NULL, NULL);
            CHECK(rc == COMFY_EINVAL && strstr(err, "overlap"), "overlap = tile: %d %s", rc, err);
            /* a 1-pixel-high image: padded (replicate) to 2 inside, cropped back */
            rc = cd_esrgan_upscale(m, &run, img, 1, 1, 10, 512, 32, out, NULL, NULL);
            CHECK(rc == 0, "1x10 image: %d %s", rc, err);
            cd_esrgan_free(m);
        }
        cd_model_file_unref(mf);
    }
}

/* --bench MODEL H W: one ImageUpscaleWithModel-style run (tile 512,
 * overlap 32) of a mid-grey ramp, best of 3, on every core. */
static int bench(const char *path, int64_t H, int64_t W)
{
    char err[512] = "";
    cd_model_file *f = NULL;
    cd_esrgan *m = NULL;
    if (cd_model_file_open(path, &f, err, sizeof err) < 0 ||
        cd_esrgan_load(cd_model_file_index(f), &m, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        cd_model_file_unref(f);
        return 1;
    }
    cd_model_file_unref(f);
    const int64_t s = cd_esrgan_scale(m);
    float *img = malloc((size_t)(H * W * 3) * sizeof *img);
    float *out = malloc((size_t)(H * s * W * s * 3) * sizeof *out);
    ck_pool *pool = ck_pool_new(0);
    int rc = img && out ? 0 : 1;
    double best = 1e30;
    for (int64_t i = 0; img && i < H * W * 3; i++)
        img[i] = (float)(i % 97) / 96.0f;
    for (int k = 0; k < 3 && rc == 0; k++) {
        cd_nets_run run = {pool, NULL, NULL, NULL, err, sizeof err};
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = cd_esrgan_upscale(m, &run, img, 1, H, W, 512, 32, out, NULL, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        best = ms < best ? ms : best;
    }
    if (rc == 0)
        printf("%s %lldx%lld -> %lldx%lld: %.0f ms (best of 3)\n", cd_esrgan_describe(m),
               (long long)W, (long long)H, (long long)(W * s), (long long)(H * s), best);
    else
        fprintf(stderr, "bench: %d %s\n", rc, err);
    ck_pool_free(pool);
    free(img);
    free(out);
    cd_esrgan_free(m);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--bench") == 0)
        return bench(argv[2], strtol(argv[3], NULL, 10), strtol(argv[4], NULL, 10));
    if (argc != 3) {
        fprintf(stderr, "usage: %s DATA_DIR WEIGHTS_DIR\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(argv[1], argv[2], &cases[i]);
    bad_files(argv[2]);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
