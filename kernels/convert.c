/*
 * convert.c — f16 / bf16 <-> f32 conversion.
 */
#include "internal.h"

float ck_bf16_to_f32_1(uint16_t h) { return ck_u2f((uint32_t)h << 16); }

uint16_t ck_f32_to_bf16_1(float f)
{
    uint32_t u = ck_f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float ck_f16_to_f32_1(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        u = sign | ((exp + 112u) << 23) | (man << 13);
    } else {
        /* zero or subnormal: man * 2^-24 is exact in f32 */
        float v = (float)man * 5.9604644775390625e-8f;
        u = sign | ck_f2u(v);
    }
    return ck_u2f(u);
}

uint16_t ck_f32_to_f16_1(float f)
{
    uint32_t u = ck_f2u(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) /* rounds to >= 65520: inf */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) {
        /* result is subnormal or zero: round a * 2^24 to an integer, RNE */
        float v = ck_u2f(a) * 16777216.0f;
        /* v < 1024; rounding via the magic constant keeps RNE */
        float r = (v + 8388608.0f) - 8388608.0f;
        return (uint16_t)(sign | (uint16_t)r);
    }
    uint32_t e = (a >> 23) - 112u;
    uint32_t m = a & 0x7fffffu;
    uint32_t h = (e << 10) | (m >> 13);
    uint32_t rest = m & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
        h++;
    return (uint16_t)(sign | h);
}

CK_CLONES
static void bf16_to_f32_range(const uint16_t *s, float *d, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        d[i] = ck_u2f((uint32_t)s[i] << 16);
}

CK_CLONES
static void f32_to_bf16_range(const float *s, uint16_t *d, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = ck_f2u(s[i]);
        uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        uint32_t nan = (u >> 16) | 0x40u;
        d[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : r);
    }
}

CK_CLONES
static void f16_to_f32_range(const uint16_t *s, float *d, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        d[i] = ck_f16_to_f32_1(s[i]);
}

CK_CLONES
static void f32_to_f16_range(const float *s, uint16_t *d, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        d[i] = ck_f32_to_f16_1(s[i]);
}

enum { K_BF16_F32, K_F32_BF16, K_F16_F32, K_F32_F16 };
struct conv_job {
    int kind;
    const void *src;
    void *dst;
    int64_t n, parts;
};

static void conv_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct conv_job *j = arg;
    int64_t b, e;
    ck_split(j->n, j->parts, t, &b, &e);
    switch (j->kind) {
    case K_BF16_F32:
        bf16_to_f32_range((const uint16_t *)j->src + b, (float *)j->dst + b, e - b);
        break;
    case K_F32_BF16:
        f32_to_bf16_range((const float *)j->src + b, (uint16_t *)j->dst + b, e - b);
        break;
    case K_F16_F32:
        f16_to_f32_range((const uint16_t *)j->src + b, (float *)j->dst + b, e - b);
        break;
    default:
        f32_to_f16_range((const float *)j->src + b, (uint16_t *)j->dst + b, e - b);
        break;
    }
}

static void convert(ck_pool *p, int kind, const void *src, void *dst, int64_t n)
{
    if (n <= 0)
        return;
    struct conv_job j = { kind, src, dst, n, 1 };
    if (n >= 65536)
        j.parts = CK_MIN((int64_t)ck_pool_threads(p) * 4, n / 16384);
    ck_pool_run(p, j.parts, conv_task, &j);
}

void ck_f16_to_f32(ck_pool *p, const uint16_t *s, float *d, int64_t n) { convert(p, K_F16_F32, s, d, n); }
void ck_f32_to_f16(ck_pool *p, const float *s, uint16_t *d, int64_t n) { convert(p, K_F32_F16, s, d, n); }
void ck_bf16_to_f32(ck_pool *p, const uint16_t *s, float *d, int64_t n) { convert(p, K_BF16_F32, s, d, n); }
void ck_f32_to_bf16(ck_pool *p, const float *s, uint16_t *d, int64_t n) { convert(p, K_F32_BF16, s, d, n); }

int ck_to_f32(ck_pool *p, const void *src, int dt, float *dst, int64_t n)
{
    switch (dt) {
    case COMFY_F32:
        if (n > 0 && (const void *)dst != src)
            memmove(dst, src, (size_t)n * sizeof(float));
        return 0;
    case COMFY_F16:
        ck_f16_to_f32(p, src, dst, n);
        return 0;
    case COMFY_BF16:
        ck_bf16_to_f32(p, src, dst, n);
        return 0;
    default:
        return COMFY_EINVAL;
    }
}
