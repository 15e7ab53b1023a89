/*
 * bench-kernels — prints how close the kernels run to the machine's peak.
 *
 *   bench-kernels [--threads N] [--model sd15|sdxl|all] [--reps N] [--own]
 *                 [--cputime] [--op conv|linear|attn]
 *
 * --cputime runs on one thread and times with that thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID): figures that stay meaningful while other
 * processes share the cores.  Without it, wall-clock time on all threads.
 *
 * First an FMA loop on all threads measures the f32 and bf16 peak
 * (vfmadd231ps / vdpbf16ps on AVX-512, AVX2 FMA otherwise) and a large
 * memcpy the memory bandwidth.  Then every distinct convolution, linear and
 * attention shape of one UNet pass (batch 1) of SD1.5 at 512² and SDXL at
 * 1024² runs through ck_conv2d_nhwc / ck_linear / ck_attention (f32 and
 * bf16) and, for comparison, the same GEMM through OpenBLAS sgemm (for
 * convolution the im2col GEMM, im2col not timed; for attention two sgemm per
 * head plus our softmax).  Each figure is the best of --reps runs.
 * Figures only: this program asserts nothing.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <comfyd/kernels.h>

#ifdef BENCH_HAVE_OPENBLAS
#include <cblas.h>
#endif

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* --cputime: one thread, timed by that thread's CPU time, so that other
 * processes sharing the cores do not distort the figures. */
static int use_cputime;

static double now(void)
{
    struct timespec ts;
    clock_gettime(use_cputime ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *buf(int64_t n)
{
    float *p = NULL;
    if (posix_memalign((void **)&p, 64, (size_t)(n > 0 ? n : 1) * sizeof(float)))
        return NULL;
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)((i * 7919) % 1000) * 0.001f - 0.5f;
    return p;
}

/* ---- peak --------------------------------------------------------------- */

#define PEAK_ITERS 40000000L /* per thread, ~0.15 s at 3.5 GHz */

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static float fma512(long iters)
{
    __m512 a[12], b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            a[i] = _mm512_fmadd_ps(a[i], b, c);
    }
    __m512 s = a[0];
    for (int i = 1; i < 12; i++)
        s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512bf16"))) static float bf16_512(long iters)
{
    __m512 a[12];
    __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f80), c = b;
    for (int i = 0; i < 12; i++)
        a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            a[i] = _mm512_dpbf16_ps(a[i], b, c);
    }
    __m512 s = a[0];
    for (int i = 1; i < 12; i++)
        s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma256(long iters)
{
    __m256 a[12], b = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            a[i] = _mm256_fmadd_ps(a[i], b, c);
    }
    __m256 s = a[0];
    for (int i = 1; i < 12; i++)
        s = _mm256_add_ps(s, a[i]);
    float o[8];
    _mm256_storeu_ps(o, s);
    return o[0];
}
#endif

struct peak_job {
    int kind;   /* 0 f32, 1 bf16 */
    long iters;
    volatile float sink;
};

static void peak_task(void *arg, int64_t t, int thread)
{
    (void)t; (void)thread;
    struct peak_job *j = arg;
#if defined(__x86_64__)
    unsigned f = ck_cpu_features();
    if (j->kind == 1 && (f & CK_CPU_AVX512BF16))
        j->sink = bf16_512(j->iters);
    else if (j->kind == 0 && (f & CK_CPU_AVX512))
        j->sink = fma512(j->iters);
    else if (f & CK_CPU_AVX2)
        j->sink = fma256(j->iters);
#else
    (void)j;
#endif
}

/* Returns GFLOP/s of the loop on all pool threads (best of 3). */
static double measure_peak(ck_pool *p, int kind)
{
    unsigned f = ck_cpu_features();
    double flops_per_iter;
    if (kind == 1 && (f & CK_CPU_AVX512BF16))
        flops_per_iter = 12 * 16 * 2 * 2;
    else if (kind == 1)
        return 0;
    else if (f & CK_CPU_AVX512)
        flops_per_iter = 12 * 16 * 2;
    else if (f & CK_CPU_AVX2)
        flops_per_iter = 12 * 8 * 2;
    else
        return 0;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        struct peak_job j = { kind, PEAK_ITERS, 0 };
        int nt = ck_pool_threads(p);
        double t0 = now();
        ck_pool_run(p, nt, peak_task, &j);
        double dt = now() - t0;
        double g = flops_per_iter * (double)j.iters * nt / dt * 1e-9;
        if (g > best)
            best = g;
    }
    return best;
}

struct copy_job {
    const float *a;
    float *b;
    int64_t n, parts;
};

static void copy_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct copy_job *j = arg;
    int64_t b = j->n * t / j->parts, e = j->n * (t + 1) / j->parts;
    memcpy(j->b + b, j->a + b, (size_t)(e - b) * sizeof(float));
}

/* GB/s (bytes read + written) of a parallel memcpy of n floats. */
static double measure_bw(ck_pool *p, int64_t n)
{
    float *a = buf(n), *b = buf(n);
    if (!a || !b)
        return 0;
    double best = 0;
    for (int rep = 0; rep < 6; rep++) {
        struct copy_job j = { a, b, n, ck_pool_threads(p) };
        double t0 = now();
        ck_pool_run(p, j.parts, copy_task, &j);
        double dt = now() - t0;
        double g = 2.0 * (double)n * 4 / dt * 1e-9;
        if (rep > 0 && g > best)
            best = g;
    }
    free(a);
    free(b);
    return best;
}

/* ---- the shapes --------------------------------------------------------- */

enum { OP_CONV, OP_LINEAR, OP_ATTN };

struct shape {
    const char *model;
    int op;
    /* conv: h w cin cout k stride; linear: M K N; attn: heads Lq Lk D */
    int64_t a, b, c, d, e, f;
    const char *what;
    int count;  /* occurrences in one UNet pass (linear: per-ST sums)   */
};

static const struct shape shapes[] = {
    /* SD1.5 512x512: latent 64x64 */
    { "sd15", OP_CONV, 64, 64, 4, 320, 3, 1, "conv_in", 1 },
    { "sd15", OP_CONV, 64, 64, 320, 320, 3, 1, "res 320", 7 },
    { "sd15", OP_CONV, 64, 64, 320, 320, 3, 2, "down 320", 1 },
    { "sd15", OP_CONV, 32, 32, 320, 640, 3, 1, "res 320>640", 1 },
    { "sd15", OP_CONV, 32, 32, 640, 640, 3, 1, "res 640", 6 },
    { "sd15", OP_CONV, 32, 32, 320, 640, 1, 1, "skip 320>640", 1 },
    { "sd15", OP_CONV, 32, 32, 640, 640, 3, 2, "down 640", 1 },
    { "sd15", OP_CONV, 16, 16, 640, 1280, 3, 1, "res 640>1280", 1 },
    { "sd15", OP_CONV, 16, 16, 1280, 1280, 3, 1, "res 1280@16", 7 },
    { "sd15", OP_CONV, 16, 16, 640, 1280, 1, 1, "skip 640>1280", 1 },
    { "sd15", OP_CONV, 16, 16, 1280, 1280, 3, 2, "down 1280", 1 },
    { "sd15", OP_CONV, 8, 8, 1280, 1280, 3, 1, "res 1280@8", 11 },
    { "sd15", OP_CONV, 8, 8, 2560, 1280, 3, 1, "up res 2560@8", 3 },
    { "sd15", OP_CONV, 8, 8, 2560, 1280, 1, 1, "up skip 2560@8", 3 },
    { "sd15", OP_CONV, 16, 16, 2560, 1280, 3, 1, "up res 2560@16", 2 },
    { "sd15", OP_CONV, 16, 16, 1920, 1280, 3, 1, "up res 1920@16", 1 },
    { "sd15", OP_CONV, 16, 16, 2560, 1280, 1, 1, "up skip 2560@16", 2 },
    { "sd15", OP_CONV, 16, 16, 1920, 1280, 1, 1, "up skip 1920@16", 1 },
    { "sd15", OP_CONV, 32, 32, 1280, 1280, 3, 1, "upsample 1280", 1 },
    { "sd15", OP_CONV, 32, 32, 1920, 640, 3, 1, "up res 1920@32", 1 },
    { "sd15", OP_CONV, 32, 32, 1280, 640, 3, 1, "up res 1280@32", 1 },
    { "sd15", OP_CONV, 32, 32, 960, 640, 3, 1, "up res 960@32", 1 },
    { "sd15", OP_CONV, 32, 32, 1920, 640, 1, 1, "up skip 1920@32", 1 },
    { "sd15", OP_CONV, 32, 32, 1280, 640, 1, 1, "up skip 1280@32", 1 },
    { "sd15", OP_CONV, 32, 32, 960, 640, 1, 1, "up skip 960@32", 1 },
    { "sd15", OP_CONV, 64, 64, 640, 640, 3, 1, "upsample 640", 1 },
    { "sd15", OP_CONV, 64, 64, 960, 320, 3, 1, "up res 960@64", 1 },
    { "sd15", OP_CONV, 64, 64, 640, 320, 3, 1, "up res 640@64", 2 },
    { "sd15", OP_CONV, 64, 64, 960, 320, 1, 1, "up skip 960@64", 1 },
    { "sd15", OP_CONV, 64, 64, 640, 320, 1, 1, "up skip 640@64", 2 },
    { "sd15", OP_CONV, 64, 64, 320, 4, 3, 1, "conv_out", 1 },
    { "sd15", OP_LINEAR, 4096, 320, 320, 0, 0, 0, "attn/proj 320", 40 },
    { "sd15", OP_LINEAR, 77, 768, 320, 0, 0, 0, "ctx k/v 320", 10 },
    { "sd15", OP_LINEAR, 4096, 320, 2560, 0, 0, 0, "ff geglu 320", 5 },
    { "sd15", OP_LINEAR, 4096, 1280, 320, 0, 0, 0, "ff out 320", 5 },
    { "sd15", OP_LINEAR, 1024, 640, 640, 0, 0, 0, "attn/proj 640", 40 },
    { "sd15", OP_LINEAR, 77, 768, 640, 0, 0, 0, "ctx k/v 640", 10 },
    { "sd15", OP_LINEAR, 1024, 640, 5120, 0, 0, 0, "ff geglu 640", 5 },
    { "sd15", OP_LINEAR, 1024, 2560, 640, 0, 0, 0, "ff out 640", 5 },
    { "sd15", OP_LINEAR, 256, 1280, 1280, 0, 0, 0, "attn/proj 1280", 40 },
    { "sd15", OP_LINEAR, 77, 768, 1280, 0, 0, 0, "ctx k/v 1280", 12 },
    { "sd15", OP_LINEAR, 256, 1280, 10240, 0, 0, 0, "ff geglu 1280", 5 },
    { "sd15", OP_LINEAR, 256, 5120, 1280, 0, 0, 0, "ff out 1280", 5 },
    { "sd15", OP_LINEAR, 64, 1280, 1280, 0, 0, 0, "mid attn/proj", 8 },
    { "sd15", OP_LINEAR, 64, 1280, 10240, 0, 0, 0, "mid ff geglu", 1 },
    { "sd15", OP_LINEAR, 64, 5120, 1280, 0, 0, 0, "mid ff out", 1 },
    { "sd15", OP_LINEAR, 1, 320, 1280, 0, 0, 0, "time emb 1", 1 },
    { "sd15", OP_LINEAR, 1, 1280, 1280, 0, 0, 0, "time emb 2/res", 13 },
    { "sd15", OP_ATTN, 8, 4096, 4096, 40, 0, 0, "self 64x64", 5 },
    { "sd15", OP_ATTN, 8, 4096, 77, 40, 0, 0, "cross 64x64", 5 },
    { "sd15", OP_ATTN, 8, 1024, 1024, 80, 0, 0, "self 32x32", 5 },
    { "sd15", OP_ATTN, 8, 1024, 77, 80, 0, 0, "cross 32x32", 5 },
    { "sd15", OP_ATTN, 8, 256, 256, 160, 0, 0, "self 16x16", 5 },
    { "sd15", OP_ATTN, 8, 256, 77, 160, 0, 0, "cross 16x16", 5 },
    { "sd15", OP_ATTN, 8, 64, 64, 160, 0, 0, "self mid 8x8", 1 },
    { "sd15", OP_ATTN, 8, 64, 77, 160, 0, 0, "cross mid 8x8", 1 },
    /* SDXL 1024x1024: latent 128x128 */
    { "sdxl", OP_CONV, 128, 128, 4, 320, 3, 1, "conv_in", 1 },
    { "sdxl", OP_CONV, 128, 128, 320, 320, 3, 1, "res 320", 7 },
    { "sdxl", OP_CONV, 128, 128, 320, 320, 3, 2, "down 320", 1 },
    { "sdxl", OP_CONV, 64, 64, 320, 640, 3, 1, "res 320>640", 1 },
    { "sdxl", OP_CONV, 64, 64, 640, 640, 3, 1, "res 640", 6 },
    { "sdxl", OP_CONV, 64, 64, 320, 640, 1, 1, "skip 320>640", 1 },
    { "sdxl", OP_CONV, 64, 64, 640, 640, 3, 2, "down 640", 1 },
    { "sdxl", OP_CONV, 32, 32, 640, 1280, 3, 1, "res 640>1280", 1 },
    { "sdxl", OP_CONV, 32, 32, 1280, 1280, 3, 1, "res 1280", 10 },
    { "sdxl", OP_CONV, 32, 32, 640, 1280, 1, 1, "skip 640>1280", 1 },
    { "sdxl", OP_CONV, 32, 32, 2560, 1280, 3, 1, "up res 2560@32", 2 },
    { "sdxl", OP_CONV, 32, 32, 1920, 1280, 3, 1, "up res 1920@32", 1 },
    { "sdxl", OP_CONV, 32, 32, 2560, 1280, 1, 1, "up skip 2560@32", 2 },
    { "sdxl", OP_CONV, 32, 32, 1920, 1280, 1, 1, "up skip 1920@32", 1 },
    { "sdxl", OP_CONV, 64, 64, 1280, 1280, 3, 1, "upsample 1280", 1 },
    { "sdxl", OP_CONV, 64, 64, 1920, 640, 3, 1, "up res 1920@64", 1 },
    { "sdxl", OP_CONV, 64, 64, 1280, 640, 3, 1, "up res 1280@64", 1 },
    { "sdxl", OP_CONV, 64, 64, 960, 640, 3, 1, "up res 960@64", 1 },
    { "sdxl", OP_CONV, 64, 64, 1920, 640, 1, 1, "up skip 1920@64", 1 },
    { "sdxl", OP_CONV, 64, 64, 1280, 640, 1, 1, "up skip 1280@64", 1 },
    { "sdxl", OP_CONV, 64, 64, 960, 640, 1, 1, "up skip 960@64", 1 },
    { "sdxl", OP_CONV, 128, 128, 640, 640, 3, 1, "upsample 640", 1 },
    { "sdxl", OP_CONV, 128, 128, 960, 320, 3, 1, "up res 960@128", 1 },
    { "sdxl", OP_CONV, 128, 128, 640, 320, 3, 1, "up res 640@128", 2 },
    { "sdxl", OP_CONV, 128, 128, 960, 320, 1, 1, "up skip 960@128", 1 },
    { "sdxl", OP_CONV, 128, 128, 640, 320, 1, 1, "up skip 640@128", 2 },
    { "sdxl", OP_CONV, 128, 128, 320, 4, 3, 1, "conv_out", 1 },
    { "sdxl", OP_LINEAR, 4096, 640, 640, 0, 0, 0, "attn/proj 640", 70 },
    { "sdxl", OP_LINEAR, 77, 2048, 640, 0, 0, 0, "ctx k/v 640", 20 },
    { "sdxl", OP_LINEAR, 4096, 640, 5120, 0, 0, 0, "ff geglu 640", 10 },
    { "sdxl", OP_LINEAR, 4096, 2560, 640, 0, 0, 0, "ff out 640", 10 },
    { "sdxl", OP_LINEAR, 1024, 1280, 1280, 0, 0, 0, "attn/proj 1280", 372 },
    { "sdxl", OP_LINEAR, 77, 2048, 1280, 0, 0, 0, "ctx k/v 1280", 120 },
    { "sdxl", OP_LINEAR, 1024, 1280, 10240, 0, 0, 0, "ff geglu 1280", 60 },
    { "sdxl", OP_LINEAR, 1024, 5120, 1280, 0, 0, 0, "ff out 1280", 60 },
    { "sdxl", OP_LINEAR, 1, 2816, 1280, 0, 0, 0, "label emb", 1 },
    { "sdxl", OP_LINEAR, 1, 1280, 1280, 0, 0, 0, "time emb/res", 9 },
    { "sdxl", OP_ATTN, 10, 4096, 4096, 64, 0, 0, "self 64x64", 10 },
    { "sdxl", OP_ATTN, 10, 4096, 77, 64, 0, 0, "cross 64x64", 10 },
    { "sdxl", OP_ATTN, 20, 1024, 1024, 64, 0, 0, "self 32x32", 60 },
    { "sdxl", OP_ATTN, 20, 1024, 77, 64, 0, 0, "cross 32x32", 60 },
};

struct run_ctx {
    ck_pool *pool;
    int prec;
    const struct shape *s;
    float *x, *w, *y, *bias, *q, *k, *v, *col;
    uint16_t *wb;
};

static double flops_of(const struct shape *s)
{
    if (s->op == OP_CONV) {
        int64_t oh = (s->a + 2 * (s->e / 2) - s->e) / s->f + 1;
        int64_t ow = (s->b + 2 * (s->e / 2) - s->e) / s->f + 1;
        return 2.0 * oh * ow * s->d * s->c * s->e * s->e;
    }
    if (s->op == OP_LINEAR)
        return 2.0 * s->a * s->b * s->c;
    return 4.0 * s->a * s->b * s->c * s->d;
}

static int run_ours(struct run_ctx *r)
{
    const struct shape *s = r->s;
    if (s->op == OP_CONV) {
        ck_conv2d_desc d = { 1, s->a, s->b, s->c, s->d, s->e, s->e, s->f, s->f,
                             s->e / 2, s->e / 2 };
        return ck_conv2d_nhwc(r->pool, &d, r->x, r->prec ? (void *)r->wb : r->w,
                              r->prec ? COMFY_BF16 : COMFY_F32, r->bias, r->y, r->prec);
    }
    if (s->op == OP_LINEAR)
        return ck_linear(r->pool, r->x, s->a, s->b, r->prec ? (void *)r->wb : r->w,
                         r->prec ? COMFY_BF16 : COMFY_F32, s->c, r->bias, r->y, r->prec);
    ck_attn_desc d = { 1, s->a, s->b, s->c, s->d, s->a * s->d, s->a * s->d,
                       s->a * s->d, s->a * s->d, 1.0f / sqrtf((float)s->d) };
    return ck_attention_prec(r->pool, &d, r->prec, r->q, r->k, r->v, r->y);
}

#ifdef BENCH_HAVE_OPENBLAS
static int run_blas(struct run_ctx *r)
{
    const struct shape *s = r->s;
    if (s->op == OP_CONV) {
        /* the im2col GEMM: [pixels, cin*k*k] x [cin*k*k, cout] (col prepared) */
        int64_t oh = (s->a + 2 * (s->e / 2) - s->e) / s->f + 1;
        int64_t ow = (s->b + 2 * (s->e / 2) - s->e) / s->f + 1;
        int64_t K = s->c * s->e * s->e;
        const float *a = s->e == 1 && s->f == 1 ? r->x : r->col;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(oh * ow), (int)s->d,
                    (int)K, 1.0f, a, (int)K, r->w, (int)K, 0.0f, r->y, (int)s->d);
        return 0;
    }
    if (s->op == OP_LINEAR) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)s->a, (int)s->c,
                    (int)s->b, 1.0f, r->x, (int)s->b, r->w, (int)s->b, 0.0f, r->y,
                    (int)s->c);
        return 0;
    }
    /* attention, unfused: per head S = QKᵀ, softmax, O = SV */
    int64_t H = s->a, Lq = s->b, Lk = s->c, D = s->d, ld = H * D;
    float *S = r->col;
    for (int64_t h = 0; h < H; h++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Lq, (int)Lk, (int)D,
                    1.0f / sqrtf((float)D), r->q + h * D, (int)ld, r->k + h * D, (int)ld,
                    0.0f, S, (int)Lk);
        ck_softmax(r->pool, S, S, Lq, Lk);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Lq, (int)D, (int)Lk,
                    1.0f, S, (int)Lk, r->v + h * D, (int)ld, 0.0f, r->y + h * D, (int)ld);
    }
    return 0;
}
#endif

/* Best time of reps runs after one warm-up; < 0 on error. */
static double best_time(int (*fn)(struct run_ctx *), struct run_ctx *r, int reps)
{
    if (fn(r) != 0)
        return -1;
    double best = 1e30;
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        fn(r);
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    return best;
}

static int own_f32(struct run_ctx *r)
{
    ck_pool_use_dnnl(r->pool, 0);
    int rc = run_ours(r);
    ck_pool_use_dnnl(r->pool, 1);
    return rc;
}

int main(int argc, char **argv)
{
    int threads = 0, reps = 3, own = 0;
    const char *model = "all", *opname = "all";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--own"))
            own = 1;
        else if (!strcmp(argv[i], "--cputime"))
            use_cputime = 1;
        else if (!strcmp(argv[i], "--op") && i + 1 < argc)
            opname = argv[++i];
        else {
            fprintf(stderr, "usage: bench-kernels [--threads N] [--model sd15|sdxl|all] "
                            "[--reps N] [--own] [--cputime] [--op conv|linear|attn]\n");
            return 2;
        }
    }
    if (reps < 1)
        reps = 1;
    if (use_cputime)
        threads = 1;
    ck_pool *pool = ck_pool_new(threads);
    if (!pool) {
        fprintf(stderr, "bench-kernels: cannot make the thread pool\n");
        return 1;
    }
    int nt = ck_pool_threads(pool);
#ifdef BENCH_HAVE_OPENBLAS
    openblas_set_num_threads(nt);
#endif
    double pf = measure_peak(pool, 0), pb = measure_peak(pool, 1);
    double bw = measure_bw(pool, 64 << 20);
    printf("threads %d  cpu features %#x  oneDNN %s  timing %s\n", nt, ck_cpu_features(),
           ck_have_dnnl() ? "yes" : "no",
           use_cputime ? "thread CPU time" : "wall clock");
#ifdef BENCH_HAVE_OPENBLAS
    printf("OpenBLAS core %s, %d threads\n", openblas_get_corename(), openblas_get_num_threads());
#endif
    printf("peak f32 FMA %.1f GFLOP/s   peak bf16 dot %.1f GFLOP/s   memcpy 256 MiB %.1f GB/s\n",
           pf, pb, bw);
    printf("batch 1, best of %d; %%pk = share of the measured peak (bf16 column: of the bf16 peak)\n\n", reps);
    printf("%-5s %-6s %-16s %-22s %7s | %8s %5s | %8s %5s |%s %8s %6s\n", "model", "op",
           "layer", "shape", "GFLOP", "f32 GF/s", "%pk", "bf16", "%pk",
           own ? " own f32 |" : "", "sgemm", "ratio");

    size_t n_shapes = sizeof(shapes) / sizeof(shapes[0]);
    /* per model (0 sd15, 1 sdxl): seconds of one pass, f32 / bf16 / sgemm */
    double pass[2][3] = { { 0 } };
    int seen[2] = { 0, 0 };
    for (size_t i = 0; i < n_shapes; i++) {
        const struct shape *s = &shapes[i];
        if (strcmp(model, "all") && strcmp(model, s->model))
            continue;
        static const char *const op_names[] = { "conv", "linear", "attn" };
        if (strcmp(opname, "all") && strcmp(opname, op_names[s->op]))
            continue;
        struct run_ctx r = { pool, 0, s, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
        char shp[64];
        int64_t nx, nw, ny, ncol = 1;
        if (s->op == OP_CONV) {
            int64_t oh = (s->a + 2 * (s->e / 2) - s->e) / s->f + 1;
            int64_t ow = (s->b + 2 * (s->e / 2) - s->e) / s->f + 1;
            nx = s->a * s->b * s->c;
            nw = s->d * s->c * s->e * s->e;
            ny = oh * ow * s->d;
            ncol = oh * ow * s->c * s->e * s->e;
            snprintf(shp, sizeof(shp), "%lldx%lldx%lld>%lld k%lld s%lld", (long long)s->a,
                     (long long)s->b, (long long)s->c, (long long)s->d, (long long)s->e,
                     (long long)s->f);
        } else if (s->op == OP_LINEAR) {
            nx = s->a * s->b;
            nw = s->b * s->c;
            ny = s->a * s->c;
            snprintf(shp, sizeof(shp), "M%lld K%lld N%lld", (long long)s->a, (long long)s->b,
                     (long long)s->c);
        } else {
            nx = s->b * s->a * s->d;
            nw = 2 * s->c * s->a * s->d;
            ny = nx;
            ncol = s->b * s->c;
            snprintf(shp, sizeof(shp), "h%lld q%lld k%lld d%lld", (long long)s->a,
                     (long long)s->b, (long long)s->c, (long long)s->d);
        }
        r.x = buf(nx);
        r.w = buf(nw);
        r.y = buf(ny);
        r.bias = buf(s->op == OP_CONV ? s->d : s->c);
        r.col = buf(ncol);
        r.wb = malloc((size_t)nw * 2);
        if (!r.x || !r.w || !r.y || !r.bias || !r.col || !r.wb) {
            fprintf(stderr, "bench-kernels: out of memory\n");
            return 1;
        }
        ck_f32_to_bf16(pool, r.w, r.wb, nw);
        r.q = r.x;
        r.k = r.w;
        r.v = r.w + s->c * s->a * s->d;
        double fl = flops_of(s);
        double t32 = best_time(run_ours, &r, reps);
        double tbf = -1, town = -1, tbl = -1;
        if (pb > 0) {
            r.prec = 1;
            tbf = best_time(run_ours, &r, reps);
            r.prec = 0;
        }
        if (own)
            town = best_time(own_f32, &r, reps);
#ifdef BENCH_HAVE_OPENBLAS
        tbl = best_time(run_blas, &r, reps);
#endif
        int mi = strcmp(s->model, "sd15") ? 1 : 0;
        seen[mi] = 1;
        pass[mi][0] += s->count * (t32 > 0 ? t32 : 0);
        pass[mi][1] += s->count * (tbf > 0 ? tbf : t32 > 0 ? t32 : 0);
        pass[mi][2] += s->count * (tbl > 0 ? tbl : 0);
        double g32 = t32 > 0 ? fl / t32 * 1e-9 : 0;
        double gbf = tbf > 0 ? fl / tbf * 1e-9 : 0;
        double gbl = tbl > 0 ? fl / tbl * 1e-9 : 0;
        printf("%-5s %-6s %-16s %-22s %7.2f | %8.1f %4.0f%% | ", s->model,
               s->op == OP_CONV ? "conv" : s->op == OP_LINEAR ? "linear" : "attn", s->what,
               shp, fl * 1e-9, g32, pf > 0 ? 100 * g32 / pf : 0);
        if (gbf > 0)
            printf("%8.1f %4.0f%% |", gbf, 100 * gbf / pb);
        else
            printf("%8s %5s |", "-", "");
        if (own)
            printf(" %7.1f |", town > 0 ? fl / town * 1e-9 : 0);
        if (gbl > 0)
            printf(" %8.1f %5.2fx\n", gbl, g32 / gbl);
        else
            printf(" %8s %6s\n", "-", "");
        fflush(stdout);
        free(r.x); free(r.w); free(r.y); free(r.bias); free(r.col); free(r.wb);
    }

    for (int mi = 0; mi < 2; mi++)
        if (seen[mi] && !strcmp(opname, "all"))
            printf("\n%s: one UNet pass at batch 1 (CFG doubles it), convolution + linear + "
                   "attention only, each shape times its count: f32 %.2f s, bf16 %.2f s, "
                   "OpenBLAS sgemm %.2f s\n", mi ? "SDXL 1024x1024" : "SD1.5 512x512",
                   pass[mi][0], pass[mi][1], pass[mi][2]);

    /* group norm + SiLU, NHWC, at the SD1.5 64x64x320 shape: bandwidth */
    {
        int64_t n = 64 * 64 * 320;
        float *x = buf(n), *y = buf(n);
        double best = 1e30;
        for (int i = 0; i < reps + 1 && x && y; i++) {
            double t0 = now();
            ck_group_norm(pool, x, y, 1, 320, 64 * 64, 32, NULL, NULL, 1e-5f, CK_LAYOUT_NHWC, 1);
            double dt = now() - t0;
            if (i > 0 && dt < best)
                best = dt;
        }
        /* the NHWC path reads the tensor twice (moments, apply) and writes
         * it once; compared with memcpy (one read, one write) of a large
         * buffer (DRAM) and of the same tensor (cache-resident) */
        double gbs = 3.0 * n * 4 / best * 1e-9, cbw = measure_bw(pool, n);
        printf("\ngroup_norm+silu NHWC 64x64x320 (%.1f MiB): %.3f ms, %.1f GB/s moved "
               "(2 reads + 1 write) = %.0f%% of DRAM memcpy, %.0f%% of same-size memcpy "
               "(%.1f GB/s)\n", n * 4.0 / 1048576, best * 1e3, gbs,
               bw > 0 ? 100 * gbs / bw : 0, cbw > 0 ? 100 * gbs / cbw : 0, cbw);
        free(x);
        free(y);
    }
    ck_pool_free(pool);
    return 0;
}
