/*
 * test_decode.c — the image decoders never crash on damaged input: every
 * file of tests/core/data/load (PNG, JPEG, WebP, BMP, GIF, TIFF) is
 * truncated at many lengths and mutated
 * with deterministic byte flips, and each result must be either a clean
 * error with a message or a sane image.  Meant for the ASan build.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static int failures;

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static int try_decode(const uint8_t *d, size_t n, const char *what)
{
    core_image img;
    char err[256] = "";
    int rc = core_image_decode(d, n, &img, err, sizeof(err));
    if (rc == 0) {
        if (img.w < 1 || img.h < 1 || img.w > CORE_MAX_SIDE ||
            img.h > CORE_MAX_SIDE || img.channels < 1 || img.channels > 4 ||
            img.frames < 1 ||
            !img.pixels) {
            fprintf(stderr, "%s: decoded to a bad image\n", what);
            failures++;
        }
        core_image_free(&img);
    } else if (err[0] == '\0') {
        fprintf(stderr, "%s: error %d without a message\n", what, rc);
        failures++;
    }
    return rc;
}

int main(void)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/load", CORE_TEST_DATA);
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return 1;
    }
    struct dirent *e;
    int files = 0, errors = 0, tries = 0;
    while ((e = readdir(d)) != NULL) {
        const char *ext = strrchr(e->d_name, '.');
        if (!ext || (strcmp(ext, ".png") && strcmp(ext, ".jpg") &&
                     strcmp(ext, ".webp") && strcmp(ext, ".bmp") &&
                     strcmp(ext, ".gif") && strcmp(ext, ".tif")))
            continue;
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        uint8_t buf[65536];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        files++;
        if (try_decode(buf, n, e->d_name) != 0) {
            fprintf(stderr, "%s: the intact file does not decode\n",
                    e->d_name);
            failures++;
        }
        /* truncations */
        for (size_t k = 0; k < n; k += 1 + n / 97) {
            errors += try_decode(buf, k, e->d_name) != 0;
            tries++;
        }
        /* byte flips */
        uint8_t m[65536];
        for (int it = 0; it < 150; it++) {
            memcpy(m, buf, n);
            int flips = 1 + (int)(rnd() % 4);
            for (int j = 0; j < flips; j++)
                m[rnd() % n] ^= (uint8_t)(1 + rnd() % 255);
            errors += try_decode(m, n, e->d_name) != 0;
            tries++;
        }
    }
    closedir(d);

    /* a valid PNG header announcing 20000x10: refused before decoding */
    static const uint8_t big_png[] = {
        0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
        0, 0, 0, 13, 'I', 'H', 'D', 'R',
        0, 0, 0x4e, 0x20, 0, 0, 0, 10, 8, 2, 0, 0, 0,
        0xde, 0x11, 0xf9, 0x1a
    };
    core_image img;
    char err[256] = "";
    int rc = core_image_decode(big_png, sizeof(big_png), &img, err,
                               sizeof(err));
    if (rc == 0 || !strstr(err, "16384")) {
        fprintf(stderr, "20000-wide PNG: rc %d, message '%s'\n", rc, err);
        failures++;
    }
    /* BMP, GIF and TIFF headers over the ceilings: refused before
     * decoding */
    static const uint8_t big_bmp[] = {
        'B', 'M', 0, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0,
        40, 0, 0, 0, 0x20, 0x4e, 0, 0, 10, 0, 0, 0, 1, 0, 24, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0
    };
    static const uint8_t big_gif[] = {
        'G', 'I', 'F', '8', '9', 'a', 0x20, 0x4e, 10, 0, 0, 0, 0,
        ',', 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x4c, 0x01, 0, ';'
    };
    /* little-endian TIFF, one IFD: 20000x10 8-bit grey, one strip */
    static const uint8_t big_tif[] = {
        'I', 'I', 42, 0, 8, 0, 0, 0, 6, 0,
        0x00, 0x01, 3, 0, 1, 0, 0, 0, 0x20, 0x4e, 0, 0,   /* width  */
        0x01, 0x01, 3, 0, 1, 0, 0, 0, 10, 0, 0, 0,        /* length */
        0x02, 0x01, 3, 0, 1, 0, 0, 0, 8, 0, 0, 0,         /* bits   */
        0x06, 0x01, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0,         /* photo  */
        0x11, 0x01, 4, 0, 1, 0, 0, 0, 8, 0, 0, 0,         /* offset */
        0x17, 0x01, 4, 0, 1, 0, 0, 0, 0x40, 0x0d, 3, 0,   /* count  */
        0, 0, 0, 0
    };
    static const struct { const uint8_t *d; size_t n; const char *what; }
    bigs[] = { { big_bmp, sizeof(big_bmp), "BMP" },
               { big_gif, sizeof(big_gif), "GIF" },
               { big_tif, sizeof(big_tif), "TIFF" } };
    for (size_t i = 0; i < sizeof(bigs) / sizeof(bigs[0]); i++) {
        err[0] = '\0';
        rc = core_image_decode(bigs[i].d, bigs[i].n, &img, err, sizeof(err));
        if (rc == 0 || !strstr(err, "16384")) {
            fprintf(stderr, "20000-wide %s: rc %d, message '%s'\n",
                    bigs[i].what, rc, err);
            failures++;
        }
        if (rc == 0)
            core_image_free(&img);
    }
    if (files < 60) {
        fprintf(stderr, "only %d sample files\n", files);
        failures++;
    }
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("decoded %d damaged variants of %d files: %d clean errors, no "
           "crash\n", tries, files, errors);
    return 0;
}
