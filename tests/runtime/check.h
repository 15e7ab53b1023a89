/* check.h — the few assertion macros the runtime unit tests share.  A
 * failed check prints where and what, and the test exits 1 at the end. */
#ifndef RT_CHECK_H
#define RT_CHECK_H

#include <stdio.h>
#include <string.h>

static int g_failures;

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, \
                    #c);                                                      \
            g_failures++;                                                     \
        }                                                                     \
    } while (0)

#define CHECK_STR(got, want)                                                  \
    do {                                                                      \
        const char *g_ = (got), *w_ = (want);                                 \
        if (!g_ || strcmp(g_, w_) != 0) {                                     \
            fprintf(stderr, "%s:%d: %s\n  got:  %s\n  want: %s\n", __FILE__,  \
                    __LINE__, #got, g_ ? g_ : "(null)", w_);                  \
            g_failures++;                                                     \
        }                                                                     \
    } while (0)

#define CHECK_INT(got, want)                                                  \
    do {                                                                      \
        long long g_ = (long long)(got), w_ = (long long)(want);              \
        if (g_ != w_) {                                                       \
            fprintf(stderr, "%s:%d: %s = %lld, want %lld\n", __FILE__,        \
                    __LINE__, #got, g_, w_);                                  \
            g_failures++;                                                     \
        }                                                                     \
    } while (0)

#define CHECK_DONE()                                                          \
    do {                                                                      \
        if (g_failures)                                                       \
            fprintf(stderr, "%d check(s) failed\n", g_failures);              \
        else                                                                  \
            printf("all checks passed\n");                                    \
        return g_failures ? 1 : 0;                                            \
    } while (0)

#endif
