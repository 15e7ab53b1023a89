/* Deterministic mutation fuzzing of the network layer's parsers: multipart
 * bodies, query strings, route matching, the origin check and the image
 * decoders are fed random mutations of valid inputs.  Under ASan/UBSan any
 * out-of-bounds access fails the test; otherwise it checks only that each
 * call returns. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "http.h"
#include "image.h"
#include "multipart.h"
#include "routes.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

/* Mutates seed[0..n) into out (at most cap bytes); returns the new length. */
static size_t mutate(const unsigned char *seed, size_t n, unsigned char *out, size_t cap)
{
    size_t len = n < cap ? n : cap;
    memcpy(out, seed, len);
    int edits = 1 + (int)(next() % 8);
    for (int e = 0; e < edits; e++) {
        uint32_t op = next() % 4;
        size_t at = len ? next() % len : 0;
        if (op == 0 && len) out[at] = (unsigned char)next();                 /* flip */
        else if (op == 1 && len) len = at;                                    /* cut  */
        else if (op == 2 && len < cap) {                                      /* insert */
            memmove(out + at + 1, out + at, len - at);
            out[at] = "\r\n-%=&;\"/.\0"[next() % 11];
            len++;
        } else if (op == 3 && len > 1) {                                      /* dup  */
            size_t k = next() % len, m = next() % (len - k) + 1;
            static unsigned char chunk[8192];
            if (len + m <= cap && m <= sizeof(chunk)) {
                memcpy(chunk, out + k, m);
                memmove(out + at + m, out + at, len - at);
                memcpy(out + at, chunk, m);
                len += m;
            }
        }
    }
    return len;
}

int main(void)
{
    static const char mp[] =
        "--B\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
        "Content-Type: image/png\r\n\r\nDATA\r\n--B\r\n"
        "Content-Disposition: form-data; name=\"subfolder\"\r\n\r\nsub\r\n--B--\r\n";
    static const char qs[] = "filename=a%20b.png&type=output&subfolder=&preview=webp%3B50";
    static const char *paths[] = {"/api/userdata/a/b/move/c/d", "/view", "/api/",
                                  "/experiment/models/preview/x/0/a/b.c", "/history/x"};
    unsigned char buf[1024];
    cd_multipart m;

    for (int i = 0; i < 20000; i++) {
        size_t n = mutate((const unsigned char *)mp, sizeof(mp) - 1, buf, sizeof(buf));
        char *copy = malloc(n ? n : 1);          /* exact size: ASan sees overruns */
        memcpy(copy, buf, n);
        if (cd_mp_parse(copy, n, "B", &m) == 0)
            for (size_t k = 0; k < m.n; k++)
                CHECK(m.parts[k].data >= copy && m.parts[k].data + m.parts[k].len <= copy + n);
        free(copy);

        n = mutate((const unsigned char *)qs, sizeof(qs) - 1, buf, sizeof(buf));
        copy = malloc(n ? n : 1);
        memcpy(copy, buf, n);
        cd_req r;
        memset(&r, 0, sizeof(r));
        CHECK(cd_req_parse_query(&r, copy, n) == 0);
        cd_req_clear(&r);
        char *d = cd_url_decode(copy, n, 1);
        free(d);
        free(copy);

        const char *p = paths[i % 5];
        n = mutate((const unsigned char *)p, strlen(p), buf, sizeof(buf) - 1);
        buf[n] = '\0';
        char *params[CD_REQ_MAX_PARAMS];
        size_t np = 0;
        int allowed;
        cd_router_match(CD_GET | (i & 1 ? 0 : 0), (char *)buf, params, &np, &allowed);
        for (size_t k = 0; k < np; k++) free(params[k]);

        cd_req o;
        memset(&o, 0, sizeof(o));
        char host[64], origin[64];
        n = mutate((const unsigned char *)"[::1]:8188", 10, buf, 63);
        memcpy(host, buf, n);
        host[n] = '\0';
        n = mutate((const unsigned char *)"http://u@[::1]:8188/x", 21, buf, 63);
        memcpy(origin, buf, n);
        origin[n] = '\0';
        o.host = host;
        o.origin = origin;
        (void)cd_mw_origin_rejected(&o);
    }

    /* image decoders on mutated PNG/JPEG/WebP */
    unsigned char px[8 * 8 * 4];
    for (size_t i = 0; i < sizeof(px); i++) px[i] = (unsigned char)(i * 7);
    unsigned char *enc[3] = {NULL, NULL, NULL};
    size_t elen[3] = {0, 0, 0};
    CHECK(cd_img_encode_png(px, 8, 8, 4, 6, NULL, 0, &enc[0], &elen[0]) == 0);
    CHECK(cd_img_encode_jpeg(px, 8, 8, 4, 90, &enc[1], &elen[1]) == 0);
    CHECK(cd_img_encode_webp(px, 8, 8, 4, 90, &enc[2], &elen[2]) == 0);
    static unsigned char big[4096];
    for (int i = 0; i < 3000; i++) {
        int k = i % 3;
        if (!enc[k]) continue;
        size_t n = mutate(enc[k], elen[k], big, sizeof(big));
        unsigned char *copy = malloc(n ? n : 1);
        memcpy(copy, big, n);
        cd_image img;
        if (cd_img_decode(copy, n, &img) == 0)
            CHECK(img.width > 0 && img.height > 0 && img.width <= CD_IMG_MAX_SIDE);
        cd_img_free(&img);
        free(copy);
    }
    for (int k = 0; k < 3; k++) free(enc[k]);
    DONE();
}
