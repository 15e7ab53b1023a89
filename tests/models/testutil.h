/* testutil.h — tiny assertion helpers shared by the models_* tests. */
#ifndef MODELS_TESTUTIL_H
#define MODELS_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failures;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            t_failures++;                                                        \
        }                                                                        \
    } while (0)

#define CHECK_EQ(a, b)                                                           \
    do {                                                                         \
        long long a_ = (long long)(a), b_ = (long long)(b);                      \
        if (a_ != b_) {                                                          \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s = %lld, %s = %lld\n",     \
                    __FILE__, __LINE__, #a, a_, #b, b_);                         \
            t_failures++;                                                        \
        }                                                                        \
    } while (0)

#define CHECK_STR(hay, needle)                                                   \
    do {                                                                         \
        if (!strstr((hay), (needle))) {                                          \
            fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", __FILE__,      \
                    __LINE__, (hay), (needle));                                  \
            t_failures++;                                                        \
        }                                                                        \
    } while (0)

static inline const char *test_dir(void)
{
    const char *d = getenv("MODELS_TEST_DIR");
    return d && *d ? d : "/tmp";
}

static inline int test_done(const char *name)
{
    if (t_failures) {
        fprintf(stderr, "%s: %d failure(s)\n", name, t_failures);
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}

#endif
