/* The origin check of spec §0.5 (middleware.c). */
#include "check.h"
#include "routes.h"

static int rej(const char *host, const char *origin)
{
    cd_req r;
    memset(&r, 0, sizeof(r));
    r.host = (char *)host;
    r.origin = (char *)origin;
    return cd_mw_origin_rejected(&r);
}

int main(void)
{
    CHECK(rej("127.0.0.1:8188", "http://example.com") == 1);
    CHECK(rej("127.0.0.1:8188", "http://127.0.0.1:8188") == 0);
    CHECK(rej("127.0.0.1:8188", "http://127.0.0.1") == 0);       /* origin without port */
    CHECK(rej("127.0.0.1", "http://127.0.0.1:8188") == 0);       /* host without port */
    CHECK(rej("127.0.0.1:8188", "http://127.0.0.1:9999") == 1);
    CHECK(rej("LOCALHOST:8188", "http://localhost:8188") == 0);
    CHECK(rej("localhost:8188", "http://evil.com:8188") == 1);
    CHECK(rej("192.168.1.5:8188", "http://evil.com") == 0);      /* not loopback */
    CHECK(rej("127.0.0.1:8188", "null") == 0);
    CHECK(rej("[::1]:8188", "http://[::1]:8188") == 0);
    CHECK(rej("[::1]:8188", "http://[::1]") == 1);                /* the reference's quirk */
    CHECK(rej(NULL, "http://evil.com") == 0);
    CHECK(rej("127.0.0.1:8188", NULL) == 0);
    CHECK(cd_mw_host_is_loopback("127.5.5.5"));
    CHECK(cd_mw_host_is_loopback("::1"));
    CHECK(!cd_mw_host_is_loopback("10.0.0.1"));
    CHECK(!cd_mw_host_is_loopback(""));
    DONE();
}
