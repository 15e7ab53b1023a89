/*
 * test_taesd.c — the TAESD nets (nets/taesd.c) against ComfyUI's own
 * comfy/taesd/taesd.py and latent_preview.py (data/taesd, made by
 * gen/taesd_ref.py with the weights of gen/taesd_weights.py).
 *
 *   test_diffusion_taesd DATA_DIR WEIGHTS_DIR
 *   test_diffusion_taesd --bench WEIGHTS_DIR H W   (times a preview decode
 *                                                   of an H x W latent)
 *
 * WEIGHTS_DIR holds taesd_{encoder,decoder}.safetensors (seed 1) and
 * taesd16_{encoder,decoder}.safetensors (16 latent channels, refused).
 * Checks: the preview bytes (scale 1), VAEDecode's image (scale 0.18215,
 * batch 2) and VAEEncode's latent against the goldens, the tiled forms
 * (VAE.decode_tiled / encode_tiled); a truncated file, a
 * decoder given as an encoder and a 16-channel TAESD fail with a message.
 */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <comfy/comfy.h>

#include "modelfile.h"
#include "taesd.h"

static int failures;

#define CHECK(c, ...)                                                                          \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                               \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fprintf(stderr, "\n");                                                             \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

/* Reads exactly `bytes` of a file into a malloc'd buffer (caller frees). */
static void *read_all(const char *dir, const char *name, size_t bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    void *p = malloc(bytes);
    size_t got = p ? fread(p, 1, bytes, f) : 0;
    fclose(f);
    if (got != bytes) {
        fprintf(stderr, "%s: expected %zu bytes\n", path, bytes);
        free(p);
        return NULL;
    }
    return p;
}

static cd_model_file *open_file(const char *dir, const char *name, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cd_model_file *f = NULL;
    if (cd_model_file_open(path, &f, err, errlen) < 0)
        return NULL;
    return f;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m))
            m = d;
    }
    return m;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Times cd_taesd_decode (scale 1) of one h x w latent on a pool of all
 * cores; prints the best of 3. */
static int bench(const char *wdir, int64_t h, int64_t w)
{
    char err[512] = "";
    cd_model_file *fd = open_file(wdir, "taesd_decoder.safetensors", err, sizeof err);
    cd_taesd *t = NULL;
    if (!fd || cd_taesd_load(cd_model_file_index(fd), "", NULL, NULL, &t, err, sizeof err) < 0) {
        fprintf(stderr, "bench: %s\n", err);
        cd_model_file_unref(fd);
        return 1;
    }
    cd_model_file_unref(fd);
    float *z = calloc((size_t)(4 * h * w), sizeof *z), *y = malloc((size_t)(h * w * 192) * 4);
    ck_pool *pool = ck_pool_new(0);
    cd_nets_run run = {pool, NULL, NULL, NULL, err, sizeof err};
    double best = 1e30;
    int rc = 0;
    for (int i = 0; i < 3 && z && y && rc == 0; i++) {
        double t0 = now();
        rc = cd_taesd_decode(t, &run, z, 1, h, w, 1.0f, 0.0f, y);
        double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    if (rc == 0 && z && y)
        printf("TAESD decode %lldx%lld latent -> %lldx%lld: %.3f s (best of 3, %d threads)\n",
               (long long)h, (long long)w, (long long)(8 * h), (long long)(8 * w), best,
               ck_pool_threads(pool));
    ck_pool_free(pool);
    cd_taesd_free(t);
    free(z);
    free(y);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--bench") == 0)
        return bench(argv[2], strtol(argv[3], NULL, 10), strtol(argv[4], NULL, 10));
    if (argc != 3) {
        fprintf(stderr, "usage: %s DATA_DIR WEIGHTS_DIR\n", argv[0]);
        return 2;
    }
    const char *data = argv[1], *wdir = argv[2];
    char err[512] = "";
    cd_model_file *fd = open_file(wdir, "taesd_decoder.safetensors", err, sizeof err);
    cd_model_file *fe = open_file(wdir, "taesd_encoder.safetensors", err, sizeof err);
    if (!fd || !fe) {
        fprintf(stderr, "cannot open the weights: %s\n", err);
        return 1;
    }
    cd_taesd *t = NULL;
    int rc = cd_taesd_load(cd_model_file_index(fd), "", cd_model_file_index(fe), NULL, &t, err,
                           sizeof err);
    CHECK(rc == 0 && t, "load: %d %s", rc, err);
    if (!t)
        return 1;
    /* the weights are copies: the files may go */
    cd_model_file_unref(fd);
    cd_model_file_unref(fe);
    CHECK(cd_taesd_latent_channels(t) == 4 && cd_taesd_has_decoder(t) && cd_taesd_has_encoder(t),
          "info");

    const int64_t B = 2, h = 8, w = 8, H = 64, W = 64;
    float *z = read_all(data, "z.f32", (size_t)(B * 4 * h * w) * 4);
    float *img = read_all(data, "img.f32", (size_t)(B * H * W * 3) * 4);
    uint8_t *prev = read_all(data, "preview.u8", (size_t)(H * W * 3));
    float *dec = read_all(data, "dec.f32", (size_t)(B * H * W * 3) * 4);
    float *enc = read_all(data, "enc.f32", (size_t)(B * 4 * h * w) * 4);
    float *y = malloc((size_t)(B * H * W * 3) * 4);
    float *zo = malloc((size_t)(B * 4 * h * w) * 4);
    if (!z || !img || !prev || !dec || !enc || !y || !zo)
        return 1;
    ck_pool *pool = ck_pool_new(2);
    cd_nets_run run = {pool, NULL, NULL, NULL, err, sizeof err};

    /* preview: scale 1, shift 0, first item, ComfyUI's preview_to_image */
    rc = cd_taesd_decode(t, &run, z, 1, h, w, 1.0f, 0.0f, y);
    CHECK(rc == 0, "preview decode: %d %s", rc, err);
    int worst = 0, off = 0;
    for (int64_t i = 0; i < H * W * 3; i++) {
        float v = (y[i] + 1.0f) / 2.0f;
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        int d = abs((int)(uint8_t)(v * 255.0f) - (int)prev[i]);
        if (d > worst)
            worst = d;
        off += d != 0;
    }
    printf("preview: max |diff| %d/255, %d of %lld bytes differ\n", worst, off,
           (long long)(H * W * 3));
    CHECK(worst <= 1 && off <= H * W * 3 / 100, "preview bytes off");

    /* VAEDecode with the taesd choice (scale 0.18215), batch 2 */
    rc = cd_taesd_decode(t, &run, z, B, h, w, 0.18215f, 0.0f, y);
    CHECK(rc == 0, "decode: %d %s", rc, err);
    for (int64_t i = 0; i < B * H * W * 3; i++) {
        float v = (y[i] + 1.0f) / 2.0f;
        y[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    double md = max_diff(y, dec, (size_t)(B * H * W * 3));
    printf("VAE decode: max |diff| %.3g\n", md);
    CHECK(md < 2e-5, "decode off by %g", md);

    /* VAEEncode */
    rc = cd_taesd_encode(t, &run, img, B, H, W, 0.18215f, 0.0f, zo);
    CHECK(rc == 0, "encode: %d %s", rc, err);
    double me = max_diff(zo, enc, (size_t)(B * 4 * h * w));
    double mag = 0;
    for (int64_t i = 0; i < B * 4 * h * w; i++)
        mag = fabs(enc[i]) > mag ? fabs(enc[i]) : mag;
    printf("VAE encode: max |diff| %.3g (values up to %.3g)\n", me, mag);
    CHECK(me < 1e-4 * (mag > 1 ? mag : 1), "encode off by %g", me);

    /* tiled: decode tiles 4x4 latent, overlap 1; encode tiles 32x32, overlap 8 */
    {
        float *dt = read_all(data, "dec_tiled.f32", (size_t)(B * H * W * 3) * 4);
        float *et = read_all(data, "enc_tiled.f32", (size_t)(B * 4 * h * w) * 4);
        CHECK(dt && et, "tiled goldens");
        if (dt && et) {
            rc = cd_taesd_decode_tiled(t, &run, z, B, h, w, 4, 4, 1, 0.18215f, 0.0f, y);
            CHECK(rc == 0, "tiled decode: %d %s", rc, err);
            for (int64_t i = 0; i < B * H * W * 3; i++) {
                float v = (y[i] + 1.0f) / 2.0f;
                y[i] = v < 0 ? 0 : v > 1 ? 1 : v;
            }
            md = max_diff(y, dt, (size_t)(B * H * W * 3));
            printf("VAE decode tiled: max |diff| %.3g (moved %.3g by tiling)\n", md,
                   max_diff(dt, dec, (size_t)(B * H * W * 3)));
            CHECK(md < 2e-5, "tiled decode off by %g", md);
            rc = cd_taesd_encode_tiled(t, &run, img, B, H, W, 32, 32, 8, 0.18215f, 0.0f, zo);
            CHECK(rc == 0, "tiled encode: %d %s", rc, err);
            me = max_diff(zo, et, (size_t)(B * 4 * h * w));
            printf("VAE encode tiled: max |diff| %.3g (moved %.3g by tiling)\n", me,
                   max_diff(et, enc, (size_t)(B * 4 * h * w)));
            CHECK(me < 1e-4 * (mag > 1 ? mag : 1), "tiled encode off by %g", me);
            err[0] = 0;
            rc = cd_taesd_decode_tiled(t, &run, z, B, h, w, 2, 2, 2, 1.0f, 0.0f, y);
            CHECK(rc == COMFY_EINVAL && strstr(err, "overlap"), "overlap: %d %s", rc, err);
        }
        free(dt);
        free(et);
    }

    /* sizes: odd images encode to ceil sizes, bad sizes are errors */
    CHECK(cd_taesd_encoded_size(64) == 8 && cd_taesd_encoded_size(65) == 9 &&
              cd_taesd_encoded_size(1) == 1,
          "encoded sizes");
    err[0] = 0;
    rc = cd_taesd_decode(t, &run, z, 1, 0, w, 1.0f, 0.0f, y);
    CHECK(rc == COMFY_EINVAL && strstr(err, "TAESD decode"), "bad size: %d %s", rc, err);
    cd_taesd_free(t);

    /* a truncated file is a clear error */
    {
        char src[4096], dst[4096];
        snprintf(src, sizeof src, "%s/taesd_decoder.safetensors", wdir);
        snprintf(dst, sizeof dst, "%s/truncated_decoder.safetensors", wdir);
        FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
        CHECK(a && b, "copy");
        if (a && b) {
            char buf[4096];
            size_t left = 100000, n;
            while (left && (n = fread(buf, 1, left < sizeof buf ? left : sizeof buf, a)) > 0) {
                fwrite(buf, 1, n, b);
                left -= n;
            }
        }
        if (a)
            fclose(a);
        if (b)
            fclose(b);
        err[0] = 0;
        cd_model_file *ft = open_file(wdir, "truncated_decoder.safetensors", err, sizeof err);
        CHECK(!ft && err[0], "truncated file opened");
        printf("truncated: %s\n", err);
        cd_model_file_unref(ft);
        remove(dst);
    }

    /* a decoder passed as the encoder: missing tensor, named */
    fd = open_file(wdir, "taesd_decoder.safetensors", err, sizeof err);
    if (fd) {
        t = NULL;
        rc = cd_taesd_load(NULL, NULL, cd_model_file_index(fd), "", &t, err, sizeof err);
        CHECK(rc == COMFY_ENOENT && !t && strstr(err, "14.weight"), "wrong half: %d %s", rc, err);
        printf("wrong half: %s\n", err);
        cd_model_file_unref(fd);
    }
    /* 16 latent channels (taesd3 / taef1 shapes) are refused */
    fd = open_file(wdir, "taesd16_decoder.safetensors", err, sizeof err);
    CHECK(fd != NULL, "taesd16 file: %s", err);
    if (fd) {
        t = NULL;
        rc = cd_taesd_load(cd_model_file_index(fd), "", NULL, NULL, &t, err, sizeof err);
        CHECK(rc == COMFY_EINVAL && !t && strstr(err, "16 latent channels"), "16 ch: %d %s", rc,
              err);
        printf("16 channels: %s\n", err);
        cd_model_file_unref(fd);
    }

    ck_pool_free(pool);
    free(z);
    free(img);
    free(prev);
    free(dec);
    free(enc);
    free(y);
    free(zo);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
