/*
 * cpu.c — run-time CPU feature detection (ck_cpu_features).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static unsigned detect(void)
{
    unsigned f = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        f |= CK_CPU_AVX2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        f |= CK_CPU_AVX512;
    if ((f & CK_CPU_AVX512) && __builtin_cpu_supports("avx512bf16"))
        f |= CK_CPU_AVX512BF16;
#endif
    const char *cap = getenv("COMFYD_CPU_MAX");
    if (cap && strcmp(cap, "avx2") == 0)
        f &= CK_CPU_AVX2;
    else if (cap && strcmp(cap, "none") == 0)
        f = 0;
    return f;
}

unsigned ck_cpu_features(void)
{
    /* bit 31 marks "detected"; detection is idempotent, so a race is fine */
    static atomic_uint cached;
    unsigned v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (!(v & 0x80000000u)) {
        v = detect() | 0x80000000u;
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v & 0x7fffffffu;
}

int ck_have_dnnl(void)
{
#ifdef CK_HAVE_DNNL
    return 1;
#else
    return 0;
#endif
}
