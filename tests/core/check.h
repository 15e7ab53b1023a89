/*
 * check.h — the failure counter and CHECK(cond, fmt, ...) the core-pack
 * tests share: a failed condition is printed with its place and text and
 * counted in `failures`.  One test program per include.
 */
#ifndef CD_TEST_CORE_CHECK_H
#define CD_TEST_CORE_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...) do { \
    if (!(cond)) { \
        failures++; \
        fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
        fprintf(stderr, __VA_ARGS__); \
        fputc('\n', stderr); \
    } \
} while (0)

#endif
