/* Route matching: /api copies, bare-only internal routes, greedy user-data
 * parameters, methods and Allow sets (router.c). */
#include <stdlib.h>

#include "check.h"
#include "routes.h"

static const char *m(int method, const char *path, const char *p0, const char *p1,
                     int *allowed)
{
    char *params[CD_REQ_MAX_PARAMS];
    size_t n = 0;
    int a = 0;
    const char *pat = cd_router_match(method, path, params, &n, &a);
    if (allowed) *allowed = a;
    if (p0) CHECK(n >= 1 && strcmp(params[0], p0) == 0);
    if (p1) CHECK(n >= 2 && strcmp(params[1], p1) == 0);
    for (size_t i = 0; i < n; i++) free(params[i]);
    return pat;
}

int main(void)
{
    int allowed;
    CHECK_STR(m(CD_GET, "/prompt", NULL, NULL, NULL), "/prompt");
    CHECK_STR(m(CD_GET, "/api/prompt", NULL, NULL, NULL), "/prompt");
    CHECK_STR(m(CD_HEAD, "/api/prompt", NULL, NULL, NULL), "/prompt");
    CHECK_STR(m(CD_GET, "/", NULL, NULL, NULL), "/");
    CHECK_STR(m(CD_GET, "/api/", NULL, NULL, NULL), "/");
    CHECK(m(CD_GET, "/api", NULL, NULL, NULL) == NULL);
    CHECK(m(CD_GET, "/prompt/", NULL, NULL, NULL) == NULL);
    CHECK_STR(m(CD_GET, "/internal/logs", NULL, NULL, NULL), "/internal/logs");
    CHECK(m(CD_GET, "/api/internal/logs", NULL, NULL, NULL) == NULL);
    CHECK_STR(m(CD_GET, "/history/abc-1", "abc-1", NULL, NULL), "/history/{id}");
    CHECK(m(CD_GET, "/history/a/b", NULL, NULL, NULL) == NULL);
    CHECK_STR(m(CD_GET, "/api/userdata/workflows/a.json", "workflows/a.json", NULL, NULL),
              "/userdata/{file+}");
    CHECK_STR(m(CD_POST, "/userdata/w/a.json/move/w/b.json", "w/a.json", "w/b.json", NULL),
              "/userdata/{file+}/move/{dest+}");
    CHECK_STR(m(CD_POST, "/userdata/a.json", "a.json", NULL, NULL), "/userdata/{file+}");
    CHECK_STR(m(CD_GET, "/experiment/models/preview/loras/0/sub/x.safetensors", "loras", "0",
                NULL), "/experiment/models/preview/{folder}/{index}/{file+}");

    CHECK(m(CD_DELETE, "/prompt", NULL, NULL, &allowed) == NULL);
    CHECK(allowed == (CD_GET | CD_HEAD | CD_POST));
    CHECK(m(CD_PUT, "/nothing/here", NULL, NULL, &allowed) == NULL && allowed == 0);
    CHECK(m(CD_GET, "/upload/image", NULL, NULL, &allowed) == NULL);
    CHECK(allowed == CD_POST);
    CHECK_STR(m(CD_PATCH, "/internal/logs/subscribe", NULL, NULL, NULL),
              "/internal/logs/subscribe");
    DONE();
}
