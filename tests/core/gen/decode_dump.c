/*
 * decode_dump.c — decodes one image file with the core pack's decoders
 * (core_image_load) and writes its raw 8-bit pixels to a file, printing
 * "frames h w channels"; the decoder side of decode_differential.py
 * (build line there).  A development tool, not part of any target.
 */
#include <stdio.h>
#include "core.h"
int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: decode_dump IMAGE OUT.raw\n");
        return 2;
    }
    core_image img; char err[256];
    int rc = core_image_load(argv[1], &img, err, sizeof err);
    if (rc) { fprintf(stderr, "%s\n", err); return 1; }
    if (img.mixed_masks) { /* LoadImage's torch.cat fails */
        fprintf(stderr, "frames mix masks\n");
        core_image_free(&img);
        return 1;
    }
    FILE *f = fopen(argv[2], "wb");
    if (!f) {
        perror(argv[2]);
        core_image_free(&img);
        return 1;
    }
    fwrite(img.pixels, 1, (size_t)(img.frames * img.w * img.h * img.channels), f);
    fclose(f);
    printf("%lld %lld %lld %d\n", (long long)img.frames, (long long)img.h, (long long)img.w, img.channels);
    core_image_free(&img);
    return 0;
}
