/* multipart/form-data parsing (multipart.c), including malformed input. */
#include "check.h"
#include "multipart.h"

int main(void)
{
    char b[256];
    CHECK(cd_mp_boundary("multipart/form-data; boundary=XyZ", b, sizeof(b)) == 0);
    CHECK_STR(b, "XyZ");
    CHECK(cd_mp_boundary("multipart/form-data; boundary=\"q t\"; x=y", b, sizeof(b)) == 0);
    CHECK_STR(b, "q t");
    CHECK(cd_mp_boundary("application/json", b, sizeof(b)) < 0);
    CHECK(cd_mp_boundary("multipart/form-data", b, sizeof(b)) < 0);
    CHECK(cd_mp_boundary(NULL, b, sizeof(b)) < 0);

    static const char body[] =
        "preamble\r\n--XyZ\r\n"
        "Content-Disposition: form-data; name=\"image\"; filename=\"a b.png\"\r\n"
        "Content-Type: image/png\r\n\r\n"
        "\x89PNG\r\n--X not the end\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"type\"\r\n\r\n"
        "temp\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"empty\"; filename=\"\"\r\n\r\n"
        "\r\n"
        "--XyZ--\r\n";
    cd_multipart mp;
    CHECK(cd_mp_parse(body, sizeof(body) - 1, "XyZ", &mp) == 0);
    CHECK(mp.n == 3);
    const cd_part *img = cd_mp_get(&mp, "image");
    CHECK(img && img->is_file);
    CHECK_STR(img ? img->filename : NULL, "a b.png");
    CHECK(img && img->len == 21 && memcmp(img->data, "\x89PNG\r\n--X not the end", 21) == 0);
    const cd_part *t = cd_mp_get(&mp, "type");
    CHECK(t && !t->is_file && t->len == 4 && memcmp(t->data, "temp", 4) == 0);
    const cd_part *e = cd_mp_get(&mp, "empty");
    CHECK(e && !e->is_file && e->len == 0);
    CHECK(cd_mp_get(&mp, "nope") == NULL);

    /* malformed: no closing boundary, no opening boundary, endless headers */
    static const char trunc[] = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc";
    CHECK(cd_mp_parse(trunc, sizeof(trunc) - 1, "XyZ", &mp) < 0);
    CHECK(cd_mp_parse("garbage", 7, "XyZ", &mp) < 0);
    static const char hdrs[] = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"";
    CHECK(cd_mp_parse(hdrs, sizeof(hdrs) - 1, "XyZ", &mp) < 0);
    CHECK(cd_mp_parse("", 0, "XyZ", &mp) < 0);

    /* too many parts is an error, not an overflow */
    static char many[CD_MP_MAX_PARTS * 64 + 128];
    size_t n = 0;
    for (int i = 0; i <= CD_MP_MAX_PARTS; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n,
                              "--B\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n", i);
    n += (size_t)snprintf(many + n, sizeof(many) - n, "--B--\r\n");
    CHECK(cd_mp_parse(many, n, "B", &mp) < 0);
    DONE();
}
