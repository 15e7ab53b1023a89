/* check.h — a tiny assertion helper for the api_* unit tests. */
#ifndef API_TEST_CHECK_H
#define API_TEST_CHECK_H
#include <stdio.h>
#include <string.h>

static int g_failures;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK(%s) failed\n", \
    __FILE__, __LINE__, #c); g_failures++; } } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) { fprintf(stderr, \
    "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, a_ ? a_ : "(null)", \
    b_ ? b_ : "(null)"); g_failures++; } } while (0)
#define DONE() do { if (g_failures) { fprintf(stderr, "%d failure(s)\n", g_failures); \
    return 1; } puts("ok"); return 0; } while (0)
#endif
