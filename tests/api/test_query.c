/* Query strings, url-decoding and mime guesses (http.c). */
#include <stdlib.h>

#include "check.h"
#include "http.h"

int main(void)
{
    char *s = cd_url_decode("a%20b+c%2Fd%zz%4", 17, 1);
    CHECK_STR(s, "a b c/d%zz%4");
    free(s);
    s = cd_url_decode("a+b%2B", 6, 0);
    CHECK_STR(s, "a+b+");
    free(s);

    cd_req r;
    memset(&r, 0, sizeof(r));
    const char *q = "filename=a%26b.png&type=out+put&empty=&flag&filename=second&=x";
    CHECK(cd_req_parse_query(&r, q, strlen(q)) == 0);
    CHECK_STR(cd_req_query(&r, "filename"), "a&b.png");     /* first value wins */
    CHECK_STR(cd_req_query(&r, "type"), "out put");
    CHECK_STR(cd_req_query(&r, "empty"), "");
    CHECK_STR(cd_req_query(&r, "flag"), "");
    CHECK(cd_req_query(&r, "missing") == NULL);
    cd_req_clear(&r);

    /* more keys than the ceiling: the rest is ignored, nothing overflows */
    char big[4096] = "";
    for (int i = 0; i < 100; i++) {
        char kv[16];
        snprintf(kv, sizeof(kv), "k%d=v&", i);
        strncat(big, kv, sizeof(big) - strlen(big) - 1);
    }
    CHECK(cd_req_parse_query(&r, big, strlen(big)) == 0);
    CHECK(r.n_query == CD_REQ_MAX_QUERY);
    cd_req_clear(&r);

    CHECK_STR(cd_mime_guess("x.PNG"), "image/png");
    CHECK_STR(cd_mime_guess("dir.d/app.js"), "application/javascript; charset=utf-8");
    CHECK_STR(cd_mime_guess("a.webp"), "image/webp");
    CHECK(cd_mime_guess("noext") == NULL);
    CHECK(cd_mime_guess("dir.png/file") == NULL);
    DONE();
}
