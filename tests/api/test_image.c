/* PNG/JPEG/WebP round trips and hostile input (image.c). */
#include <stdlib.h>

#include "check.h"
#include "image.h"

int main(void)
{
    enum { W = 5, H = 3 };
    unsigned char rgba[W * H * 4];
    for (int i = 0; i < W * H; i++) {
        rgba[4 * i] = (unsigned char)(i * 10);
        rgba[4 * i + 1] = (unsigned char)(255 - i);
        rgba[4 * i + 2] = 7;
        rgba[4 * i + 3] = (unsigned char)(i * 17);
    }
    cd_text_chunk t = {"prompt", "{\"a\": 1}"};
    unsigned char *png = NULL;
    size_t plen = 0;
    CHECK(cd_img_encode_png(rgba, W, H, 4, 4, &t, 1, &png, &plen) == 0);
    cd_image img;
    CHECK(cd_img_decode(png, plen, &img) == 0);
    CHECK(img.width == W && img.height == H && img.mode_rgba && img.has_alpha);
    CHECK(memcmp(img.rgba, rgba, sizeof(rgba)) == 0);
    CHECK(img.n_texts == 1 && strcmp(img.texts[0].key, "prompt") == 0 &&
          strcmp(img.texts[0].text, "{\"a\": 1}") == 0);
    cd_img_free(&img);

    /* every truncation of a valid PNG fails cleanly */
    for (size_t n = 0; n < plen; n += 7) {
        cd_image bad;
        CHECK(cd_img_decode(png, n, &bad) < 0 || n >= plen - 12);
        cd_img_free(&bad);
    }
    free(png);

    unsigned char *rgb = cd_img_rgba_to_rgb(rgba, W, H);
    CHECK(rgb && rgb[3] == rgba[4] && rgb[5] == rgba[6]);
    CHECK(cd_img_encode_png(rgb, W, H, 3, 6, NULL, 0, &png, &plen) == 0);
    CHECK(cd_img_decode(png, plen, &img) == 0);
    CHECK(!img.mode_rgba && !img.has_alpha && img.rgba[3] == 255);
    cd_img_free(&img);
    free(png);

    unsigned char *jpg = NULL;
    size_t jlen = 0;
    CHECK(cd_img_encode_jpeg(rgba, W, H, 4, 95, &jpg, &jlen) == 0);
    CHECK(jlen > 4 && jpg[0] == 0xff && jpg[1] == 0xd8);
    CHECK(cd_img_decode(jpg, jlen, &img) == 0 && img.width == W && img.height == H);
    CHECK(!img.mode_rgba);
    cd_img_free(&img);
    free(jpg);

    unsigned char *webp = NULL;
    size_t wlen = 0;
    CHECK(cd_img_encode_webp(rgba, W, H, 4, 90, &webp, &wlen) == 0);
    CHECK(wlen > 12 && memcmp(webp, "RIFF", 4) == 0 && memcmp(webp + 8, "WEBP", 4) == 0);
    CHECK(cd_img_decode(webp, wlen, &img) == 0 && img.width == W && img.has_alpha);
    cd_img_free(&img);
    free(webp);
    free(rgb);

    cd_image g;
    CHECK(cd_img_decode((const unsigned char *)"GIF89a....", 10, &g) < 0);
    static const unsigned char fake_jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0, 0};
    CHECK(cd_img_decode(fake_jpeg, sizeof(fake_jpeg), &g) < 0);
    DONE();
}
