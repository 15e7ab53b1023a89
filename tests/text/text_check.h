/*
 * text_check.h — what the text tests share: CHECK(cond, fmt, ...), which
 * reports a failed condition with its place and counts it in `failures`,
 * and the generator's weight formula (gen/make_encoder_golden.py's
 * weight_values) for the encoder tests.  One test program per include.
 */
#ifndef CD_TEST_TEXT_CHECK_H
#define CD_TEST_TEXT_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
            failures++;                                                   \
        }                                                                 \
    } while (0)

/* Kinds of generated tensor: token/position embeddings, layer-norm
 * weights, biases, matrices (scaled by 1/sqrt(fan_in)). */
enum { K_EMB, K_POS, K_LNW, K_BIAS, K_W };

/* The generator's weight_values(): n values of tensor number `tid`. */
static inline void weight_values(float *dst, int64_t tid, int64_t n, int kind, int64_t fan_in)
{
    const int64_t p = 2147483647LL;
    for (int64_t i = 0; i < n; i++) {
        int64_t r1 = (i * 1103515245LL + 12345 + tid * 2654435LL) % p;
        int64_t r2 = (r1 * r1 + tid) % p;
        double r = (double)r2 / (double)p - 0.5, v;
        switch (kind) {
        case K_EMB: v = r * 0.5; break;
        case K_POS: v = r * 0.1; break;
        case K_LNW: v = 1.0 + r * 0.2; break;
        case K_BIAS: v = r * 0.1; break;
        default: v = r * (2.0 / sqrt((double)fan_in)); break;
        }
        dst[i] = (float)v;
    }
}

#endif
