/*
 * test_preview.c — preview images are fitted as ComfyUI's server fits them
 * (runtime/preview.c): for each case of data/preview_contain.txt (made by
 * gen/preview_goldens.py with Pillow 9.4's ImageOps.contain + BILINEAR) the
 * output size and the FNV-1a of the output bytes equal Pillow's, i.e. the
 * pixels are Pillow's byte for byte.  Upscaling (64 -> 512), shrinking
 * (1024 -> 512, where the filter widens), odd aspect ratios and the
 * unchanged size are among the cases.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "preview.h"

static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
    uint64_t x = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        x = (x ^ p[i]) * 0x100000001b3ull;
    return x;
}

/* The input formula of gen/preview_goldens.py. */
static unsigned char *pattern(int w, int h)
{
    unsigned char *p = malloc((size_t)w * (size_t)h * 3);
    for (int y = 0; p && y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                p[((size_t)y * (size_t)w + (size_t)x) * 3 + (size_t)c] =
                    (unsigned char)((x * 37 + y * 91 + c * 53 + (x * y) % 17 + (x ^ y) * 5) & 255);
    return p;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "preview_contain.txt";
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f)
        CHECK_DONE();
    char line[256];
    int cases = 0;
    while (fgets(line, sizeof(line), f)) {
        int w, h, s, ow, oh;
        uint64_t want;
        if (line[0] == '#' || sscanf(line, "%d %d %d %d %d %" SCNx64, &w, &h, &s, &ow, &oh, &want) != 6)
            continue;
        int gw, gh;
        cd_preview_fit(w, h, s, &gw, &gh);
        CHECK_INT(gw, ow);
        CHECK_INT(gh, oh);
        unsigned char *in = pattern(w, h);
        unsigned char *out = gw == w && gh == h ? NULL : cd_preview_resize(in, w, h, gw, gh);
        const unsigned char *res = out ? out : in;
        uint64_t got = fnv1a64(res, (size_t)gw * (size_t)gh * 3);
        if (got != want)
            fprintf(stderr, "%dx%d in %d: fnv %016" PRIx64 ", want %016" PRIx64 "\n", w, h, s, got, want);
        CHECK(got == want);
        free(in);
        free(out);
        cases++;
    }
    fclose(f);
    CHECK(cases >= 10);
    /* sizes that cannot be made */
    unsigned char px[3] = {1, 2, 3};
    CHECK(cd_preview_resize(px, 1, 1, 0, 5) == NULL);
    CHECK(cd_preview_resize(px, 0, 1, 5, 5) == NULL);
    printf("preview: %d cases equal to Pillow's\n", cases);
    CHECK_DONE();
}
