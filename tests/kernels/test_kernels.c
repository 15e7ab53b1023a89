/*
 * test_kernels.c — compares every kernel with its naive reference (ref.c)
 * on random inputs of several shapes, odd ones included, with oneDNN on and
 * off and with 1 to 3 threads.  Usage: test-kernels <group>; exit 0 on
 * success, 1 on a mismatch (printed), 77 when the group is skipped.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

static int failures;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static float *rnd(int64_t n, float scale)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p)
        abort();
    for (int64_t i = 0; i < n; i++)
        p[i] = frand() * scale;
    return p;
}

static float *zeros(int64_t n)
{
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (!p)
        abort();
    return p;
}

/* Checks |got - want| <= atol + rtol * |want| everywhere. */
static void check(const char *what, const float *got, const float *want, int64_t n,
                  float atol, float rtol)
{
    double worst = 0;
    int64_t at = -1;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        double lim = atol + rtol * fabs(want[i]);
        if (!(err <= lim) && (isnan(got[i]) || err - lim > worst)) {
            worst = isnan(got[i]) ? INFINITY : err - lim;
            at = i;
        }
    }
    if (at >= 0) {
        printf("FAIL %s: [%lld] got %.9g want %.9g\n", what, (long long)at,
               got[at], want[at]);
        failures++;
    }
}

static void round_bf16(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = ck_bf16_to_f32_1(ck_f32_to_bf16_1(x[i]));
}

/* pools to run each case on: NULL, 2 threads with and without oneDNN, 3 */
#define N_POOLS 4
static ck_pool *pools[N_POOLS];
static const char *pool_names[N_POOLS] = { "serial", "2t+dnnl", "2t-own", "3t-own" };

static void make_pools(void)
{
    pools[0] = NULL;
    pools[1] = ck_pool_new(2);
    pools[2] = ck_pool_new(2);
    pools[3] = ck_pool_new(3);
    if (!pools[1] || !pools[2] || !pools[3]) {
        printf("FAIL cannot make pools\n");
        exit(1);
    }
    ck_pool_use_dnnl(pools[2], 0);
    ck_pool_use_dnnl(pools[3], 0);
}

/* ---- pool ---------------------------------------------------------------- */

struct count_job {
    atomic_int *hits;
    atomic_int bad_thread;
    int threads;
};

static void count_task(void *arg, int64_t t, int thread)
{
    struct count_job *j = arg;
    atomic_fetch_add(&j->hits[t], 1);
    if (thread < 0 || thread >= j->threads)
        atomic_store(&j->bad_thread, 1);
}

struct nest_job {
    ck_pool *p;
    atomic_int inner;
};

static void nest_inner(void *arg, int64_t t, int thread)
{
    (void)t; (void)thread;
    atomic_fetch_add(&((struct nest_job *)arg)->inner, 1);
}

static void nest_outer(void *arg, int64_t t, int thread)
{
    (void)t; (void)thread;
    struct nest_job *j = arg;
    ck_pool_run(j->p, 10, nest_inner, j); /* runs serially, must not hang */
}

static void test_pool(void)
{
    {
        ck_pool *p = ck_pool_new(2);
        struct nest_job j = { p, 0 };
        ck_pool_run(p, 7, nest_outer, &j);
        if (atomic_load(&j.inner) != 70) {
            printf("FAIL nested pool run: %d inner tasks\n", atomic_load(&j.inner));
            failures++;
        }
        ck_pool_free(p);
    }
    for (int nt = 1; nt <= 5; nt++) {
        ck_pool *p = ck_pool_new(nt);
        if (!p || ck_pool_threads(p) != nt) {
            printf("FAIL pool_new(%d)\n", nt);
            failures++;
            ck_pool_free(p);
            continue;
        }
        for (int rep = 0; rep < 50; rep++) {
            int64_t n = 1 + rep * 7;
            atomic_int *hits = calloc((size_t)n, sizeof(atomic_int));
            struct count_job j = { hits, 0, nt };
            ck_pool_run(p, n, count_task, &j);
            for (int64_t i = 0; i < n; i++)
                if (atomic_load(&hits[i]) != 1) {
                    printf("FAIL pool %d threads: task %lld ran %d times\n", nt,
                           (long long)i, atomic_load(&hits[i]));
                    failures++;
                    break;
                }
            if (atomic_load(&j.bad_thread)) {
                printf("FAIL pool thread index out of range\n");
                failures++;
            }
            free(hits);
        }
        ck_pool_free(p);
    }
    ck_pool_free(NULL);
    if (ck_pool_threads(NULL) != 1)
        failures++;
    ck_pool *p = ck_pool_new(0);
    if (!p || ck_pool_threads(p) < 1)
        failures++;
    ck_pool_free(p);
}

/* ---- conversion ---------------------------------------------------------- */

static void test_convert(void)
{
    /* every f16 value converts to f32 and back to itself (NaN stays NaN) */
    uint16_t *h = malloc(65536 * 2), *h2 = malloc(65536 * 2);
    float *f = malloc(65536 * 4);
    for (int i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    ck_f16_to_f32(pools[1], h, f, 65536);
    ck_f32_to_f16(pools[1], f, h2, 65536);
    for (int i = 0; i < 65536; i++) {
        int nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff);
        if (nan ? !isnan(f[i]) || (h2[i] & 0x7c00) != 0x7c00 || !(h2[i] & 0x3ff)
                : h2[i] != h[i]) {
            printf("FAIL f16 roundtrip %04x -> %g -> %04x\n", i, f[i], h2[i]);
            failures++;
            break;
        }
        if (!nan && ck_f16_to_f32_1((uint16_t)i) != f[i] && !isnan(f[i])) {
            failures++;
            break;
        }
    }
    /* known values */
    if (ck_f16_to_f32_1(0x3c00) != 1.0f || ck_f16_to_f32_1(0x0001) != 5.9604644775390625e-8f ||
        ck_f16_to_f32_1(0xfbff) != -65504.0f || ck_f32_to_f16_1(65520.0f) != 0x7c00 ||
        ck_f32_to_f16_1(65519.0f) != 0x7bff || ck_f32_to_f16_1(1.0f + 1.0f / 2048) != 0x3c00 ||
        ck_f32_to_f16_1(1.0f + 3.0f / 2048) != 0x3c02 ||
        ck_f32_to_f16_1(2.98023224e-8f) != 0x0000 || ck_f32_to_f16_1(nextafterf(2.98023224e-8f, 1.0f)) != 0x0001 ||
        ck_f32_to_f16_1(1e-10f) != 0 || ck_f32_to_f16_1(-0.0f) != 0x8000) {
        printf("FAIL f16 known values\n");
        failures++;
    }
    /* f32 -> f16 on random values: nearest f16 by comparison */
    for (int i = 0; i < 20000; i++) {
        float v = frand() * (float)pow(2.0, (int)(frand() * 20));
        if (fabsf(v) >= 65504.0f)
            continue;
        uint16_t r = ck_f32_to_f16_1(v);
        double d0 = fabs((double)ck_f16_to_f32_1(r) - v);
        double d1 = fabs((double)ck_f16_to_f32_1((uint16_t)(r + 1)) - v);
        double dm = fabs((double)ck_f16_to_f32_1((uint16_t)(r - 1)) - v);
        if (d1 < d0 || dm < d0) {
            printf("FAIL f32->f16 not nearest for %.9g\n", v);
            failures++;
            break;
        }
    }
    /* bf16: ties to even, NaN, vector and scalar agree */
    if (ck_f32_to_bf16_1(1.0f + 1.0f / 256) != 0x3f80 ||
        ck_f32_to_bf16_1(1.0f + 3.0f / 256) != 0x3f82 ||
        ck_bf16_to_f32_1(0x3f80) != 1.0f || !isnan(ck_bf16_to_f32_1(ck_f32_to_bf16_1(NAN))) ||
        ck_f32_to_bf16_1(INFINITY) != 0x7f80) {
        printf("FAIL bf16 known values\n");
        failures++;
    }
    int64_t n = 100003;
    float *x = rnd(n, 1000.0f), *y = zeros(n);
    uint16_t *b = malloc((size_t)n * 2);
    for (int pi = 0; pi < N_POOLS; pi++) {
        ck_f32_to_bf16(pools[pi], x, b, n);
        ck_bf16_to_f32(pools[pi], b, y, n);
        for (int64_t i = 0; i < n; i++)
            if (b[i] != ck_f32_to_bf16_1(x[i]) || y[i] != ck_bf16_to_f32_1(b[i])) {
                printf("FAIL bf16 vector/scalar mismatch at %lld\n", (long long)i);
                failures++;
                break;
            }
        check("bf16 relative error", y, x, n, 0, 1.0f / 256);
    }
    if (ck_to_f32(NULL, x, COMFY_I32, y, 4) != COMFY_EINVAL)
        failures++;
    free(x); free(y); free(b); free(h); free(h2); free(f);
}

/* ---- gemm / linear / conv ------------------------------------------------ */

static void test_gemm(void)
{
    static const int64_t shapes[][3] = { { 1, 1, 1 }, { 7, 13, 5 }, { 37, 65, 129 },
                                         { 100, 33, 300 }, { 6, 32, 1 }, { 97, 515, 17 } };
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
        for (int t = 0; t < 4; t++)
            for (int pi = 0; pi < N_POOLS; pi++) {
                int ta = t & 1, tb = t >> 1;
                int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
                float *A = rnd((ta ? K : M) * lda, 1), *B = rnd((tb ? N : K) * ldb, 1);
                float *C = rnd(M * ldc, 1), *R = malloc((size_t)(M * ldc) * 4);
                memcpy(R, C, (size_t)(M * ldc) * 4);
                float beta = (s % 2) ? 0.5f : 0.0f;
                if (ck_gemm_f32(pools[pi], ta, tb, M, N, K, 1.5f, A, lda, B, ldb, beta, C, ldc)) {
                    printf("FAIL gemm rc\n");
                    failures++;
                }
                ref_gemm(ta, tb, M, N, K, 1.5f, A, lda, B, ldb, beta, R, ldc);
                char what[96];
                snprintf(what, sizeof(what), "gemm %lldx%lldx%lld t%d %s", (long long)M,
                         (long long)N, (long long)K, t, pool_names[pi]);
                check(what, C, R, M * ldc, 1e-4f * sqrtf((float)K), 1e-4f);
                free(A); free(B); free(C); free(R);
            }
    if (ck_gemm_f32(NULL, 0, 0, 2, 2, 2, 1, NULL, 2, NULL, 2, 0, NULL, 2) != COMFY_EINVAL)
        failures++;
}

static void test_linear(void)
{
    static const int64_t shapes[][3] = { { 5, 77, 33 }, { 64, 96, 160 }, { 1, 16, 1 }, { 130, 40, 48 } };
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
        for (int wdt = 0; wdt < 3; wdt++)
            for (int prec = 0; prec < 2; prec++)
                for (int pi = 0; pi < N_POOLS; pi++) {
                    int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
                    float *x = rnd(M * K, 1), *w = rnd(N * K, 0.2f), *bias = rnd(N, 1);
                    float *y = zeros(M * N), *r = zeros(M * N);
                    uint16_t *wh = malloc((size_t)(N * K) * 2);
                    const void *wp = w;
                    int dt = wdt == 0 ? COMFY_F32 : wdt == 1 ? COMFY_F16 : COMFY_BF16;
                    if (dt == COMFY_F16) {
                        for (int64_t i = 0; i < N * K; i++) {
                            wh[i] = ck_f32_to_f16_1(w[i]);
                            w[i] = ck_f16_to_f32_1(wh[i]);
                        }
                        wp = wh;
                    } else if (dt == COMFY_BF16) {
                        ck_f32_to_bf16(NULL, w, wh, N * K);
                        round_bf16(w, N * K);
                        wp = wh;
                    }
                    const float *bp = (s % 2) ? bias : NULL;
                    int rc = ck_linear(pools[pi], x, M, K, wp, dt, N, bp, y, prec);
                    if (prec == CK_PREC_BF16) {
                        round_bf16(x, M * K);
                        round_bf16(w, N * K);
                    }
                    ref_linear(x, M, K, w, N, bp, r);
                    char what[96];
                    snprintf(what, sizeof(what), "linear %lldx%lldx%lld dt%d prec%d %s",
                             (long long)M, (long long)K, (long long)N, dt, prec, pool_names[pi]);
                    if (rc) {
                        printf("FAIL %s rc %d\n", what, rc);
                        failures++;
                    }
                    check(what, y, r, M * N, 2e-5f * sqrtf((float)K), 1e-4f);
                    free(x); free(w); free(bias); free(y); free(r); free(wh);
                }
    float x = 1, w = 1, y;
    if (ck_linear(NULL, &x, 1, 1, &w, COMFY_I32, 1, NULL, &y, 0) != COMFY_EINVAL)
        failures++;
}

static void test_conv(void)
{
    static const ck_conv2d_desc ds[] = {
        { 2, 9, 7, 5, 11, 3, 3, 1, 1, 1, 1 },
        { 1, 16, 16, 32, 24, 3, 3, 1, 1, 1, 1 },
        { 2, 9, 8, 16, 8, 3, 3, 2, 2, 1, 1 },   /* downsample, odd h */
        { 1, 10, 6, 24, 40, 1, 1, 1, 1, 0, 0 }, /* 1x1 */
        { 1, 5, 5, 3, 4, 3, 3, 1, 1, 0, 0 },    /* no padding */
        { 1, 4, 4, 8, 8, 1, 1, 2, 2, 0, 0 },    /* strided 1x1 */
        { 1, 32, 33, 8, 12, 3, 3, 1, 1, 1, 1 }, /* >= 1024 pixels: oneDNN conv */
        { 2, 64, 40, 4, 8, 3, 3, 2, 2, 1, 1 },  /* the same, strided */
    };
    for (size_t s = 0; s < sizeof(ds) / sizeof(ds[0]); s++)
        for (int prec = 0; prec < 2; prec++)
            for (int pi = 0; pi < N_POOLS; pi++) {
                const ck_conv2d_desc *d = &ds[s];
                int64_t oh = ck_conv2d_out_h(d), ow = ck_conv2d_out_w(d);
                int64_t nx = d->n * d->h * d->w * d->c_in;
                int64_t nw = d->c_out * d->c_in * d->kh * d->kw;
                int64_t ny = d->n * oh * ow * d->c_out;
                float *x = rnd(nx, 1), *w = rnd(nw, 0.3f), *bias = rnd(d->c_out, 1);
                float *y = zeros(ny), *r = zeros(ny);
                uint16_t *wb = malloc((size_t)nw * 2);
                int dt = COMFY_F32;
                const void *wp = w;
                if (s % 2) { /* bf16 weights on odd cases */
                    ck_f32_to_bf16(NULL, w, wb, nw);
                    round_bf16(w, nw);
                    dt = COMFY_BF16;
                    wp = wb;
                }
                int rc = ck_conv2d_nhwc(pools[pi], d, x, wp, dt, bias, y, prec);
                if (prec == CK_PREC_BF16) {
                    round_bf16(x, nx);
                    round_bf16(w, nw);
                }
                ref_conv2d(d, x, w, bias, r);
                char what[96];
                snprintf(what, sizeof(what), "conv case %zu prec%d %s", s, prec, pool_names[pi]);
                if (rc) {
                    printf("FAIL %s rc %d\n", what, rc);
                    failures++;
                }
                check(what, y, r, ny, 1e-4f, 1e-4f);
                free(x); free(w); free(bias); free(y); free(r); free(wb);
            }
    /* layout helpers */
    float *a = rnd(2 * 5 * 7, 1), *b = zeros(70), *c = zeros(70);
    ck_nchw_to_nhwc(pools[1], a, b, 2, 5, 7);
    ck_nhwc_to_nchw(pools[1], b, c, 2, 5, 7);
    check("nchw<->nhwc", c, a, 70, 0, 0);
    if (b[1] != a[7])
        failures++;
    free(a); free(b); free(c);
    ck_conv2d_desc bad = { 1, 2, 2, 1, 1, 3, 3, 1, 1, 0, 0 };
    float x = 0, w = 0, y = 0;
    if (ck_conv2d_nhwc(NULL, &bad, &x, &w, COMFY_F32, NULL, &y, 0) != COMFY_EINVAL)
        failures++;
}

/* ---- attention ----------------------------------------------------------- */

static void test_attention(void)
{
    static const int64_t cases[][5] = { /* batch, heads, lq, lk, D */
        { 2, 2, 37, 77, 40 }, { 1, 3, 100, 130, 64 }, { 2, 1, 7, 5, 80 },
        { 1, 2, 97, 64, 160 }, { 1, 1, 13, 200, 8 }, { 1, 2, 6, 1, 3 },
        { 2, 2, 64, 64, 24 },
    };
    for (size_t s = 0; s < sizeof(cases) / sizeof(cases[0]); s++)
        for (int packed = 0; packed < 2; packed++)
            for (int pi = 0; pi < N_POOLS; pi++) {
                ck_attn_desc d = { cases[s][0], cases[s][1], cases[s][2], cases[s][3],
                                   cases[s][4], 0, 0, 0, 0, 0 };
                int64_t C = d.heads * d.head_dim;
                d.scale = 1.0f / sqrtf((float)d.head_dim);
                float *q, *k, *v, *qkv = NULL, *kv = NULL;
                if (packed) { /* q, k, v inside one [B, L, 3C] array (lq == lk only) */
                    d.lk = d.lq;
                    qkv = rnd(d.batch * d.lq * 3 * C, 3);
                    q = qkv; k = qkv + C; v = qkv + 2 * C;
                    d.q_ld = d.k_ld = d.v_ld = 3 * C;
                } else {
                    q = rnd(d.batch * d.lq * C, 3);
                    kv = rnd(2 * d.batch * d.lk * C, 3);
                    k = kv; v = kv + d.batch * d.lk * C;
                    d.q_ld = d.k_ld = d.v_ld = C;
                }
                d.o_ld = C + 5;
                float *o = zeros(d.batch * d.lq * d.o_ld), *r = zeros(d.batch * d.lq * d.o_ld);
                int rc = ck_attention(pools[pi], &d, q, k, v, o);
                ref_attention(&d, q, k, v, r);
                char what[96];
                snprintf(what, sizeof(what), "attention case %zu packed %d %s", s, packed,
                         pool_names[pi]);
                if (rc) {
                    printf("FAIL %s rc %d\n", what, rc);
                    failures++;
                }
                check(what, o, r, d.batch * d.lq * d.o_ld, 2e-5f, 2e-4f);
                if (!packed)
                    free(q);
                free(qkv); free(kv); free(o); free(r);
            }
    /* bf16 precision: against the reference on bf16-rounded q, k, v (the
     * softmax weights are rounded too, hence the looser bound) */
    static const int64_t bcases[][5] = { /* long enough for the bf16 kernel */
        { 1, 2, 520, 131, 40 }, { 1, 1, 600, 200, 64 }, { 2, 1, 513, 128, 80 },
        { 1, 1, 512, 150, 7 }, { 1, 2, 37, 77, 40 },
    };
    for (size_t s = 0; s < sizeof(bcases) / sizeof(bcases[0]); s++)
        for (int pi = 0; pi < N_POOLS; pi += 3) {
            ck_attn_desc d = { bcases[s][0], bcases[s][1], bcases[s][2], bcases[s][3],
                               bcases[s][4], 0, 0, 0, 0, 0 };
            int64_t C = d.heads * d.head_dim;
            d.scale = 1.0f / sqrtf((float)d.head_dim);
            d.q_ld = d.k_ld = d.v_ld = d.o_ld = C;
            int64_t nq = d.batch * d.lq * C, nk = d.batch * d.lk * C;
            float *q = rnd(nq, 2), *k = rnd(nk, 2), *v = rnd(nk, 2);
            float *o = zeros(nq), *r = zeros(nq);
            int rc = ck_attention_prec(pools[pi], &d, CK_PREC_BF16, q, k, v, o);
            round_bf16(q, nq);
            round_bf16(k, nk);
            round_bf16(v, nk);
            ref_attention(&d, q, k, v, r);
            char what[96];
            snprintf(what, sizeof(what), "attention bf16 case %zu %s", s, pool_names[pi]);
            if (rc) {
                printf("FAIL %s rc %d\n", what, rc);
                failures++;
            }
            check(what, o, r, nq, 1.5e-2f, 1e-2f);
            free(q); free(k); free(v); free(o); free(r);
        }
    ck_attn_desc bad = { 1, 1, 1, 0, 4, 4, 4, 4, 4, 1 };
    float z[4] = { 0 };
    if (ck_attention(NULL, &bad, z, z, z, z) != COMFY_EINVAL)
        failures++;
}

/* ---- norms, softmax ------------------------------------------------------ */

static void test_norm(void)
{
    static const int64_t gcases[][4] = { /* n, c, hw, groups */
        { 2, 12, 35, 4 }, { 1, 64, 100, 32 }, { 3, 6, 1, 3 }, { 1, 320, 130, 32 },
    };
    for (size_t s = 0; s < sizeof(gcases) / sizeof(gcases[0]); s++)
        for (int layout = 0; layout < 2; layout++)
            for (int silu = 0; silu < 2; silu++)
                for (int pi = 0; pi < N_POOLS; pi++) {
                    int64_t n = gcases[s][0], c = gcases[s][1], hw = gcases[s][2];
                    int64_t tot = n * c * hw;
                    float *x = rnd(tot, 4), *y = zeros(tot), *r = zeros(tot);
                    for (int64_t i = 0; i < tot; i++)
                        x[i] += 3.0f; /* a mean far from zero */
                    float *g = rnd(c, 1), *b = rnd(c, 1);
                    const float *gp = s % 2 ? NULL : g;
                    int rc = ck_group_norm(pools[pi], x, y, n, c, hw, gcases[s][3], gp, b,
                                           1e-5f, layout, silu);
                    ref_group_norm(x, r, n, c, hw, gcases[s][3], gp, b, 1e-5f, layout, silu);
                    char what[96];
                    snprintf(what, sizeof(what), "group_norm case %zu layout %d silu %d %s", s,
                             layout, silu, pool_names[pi]);
                    if (rc) {
                        printf("FAIL %s rc\n", what);
                        failures++;
                    }
                    check(what, y, r, tot, 2e-5f, 2e-5f);
                    /* in place */
                    ck_group_norm(pools[pi], x, x, n, c, hw, gcases[s][3], gp, b, 1e-5f,
                                  layout, silu);
                    check("group_norm in place", x, r, tot, 2e-5f, 2e-5f);
                    free(x); free(y); free(r); free(g); free(b);
                }
    if (ck_group_norm(NULL, (float[1]){ 0 }, (float[1]){ 0 }, 1, 5, 1, 2, NULL, NULL,
                      1e-5f, 0, 0) != COMFY_EINVAL)
        failures++;

    static const int64_t lcases[][2] = { { 77, 768 }, { 5, 33 }, { 1, 1 }, { 300, 40 } };
    for (size_t s = 0; s < sizeof(lcases) / sizeof(lcases[0]); s++)
        for (int pi = 0; pi < N_POOLS; pi++) {
            int64_t rows = lcases[s][0], cols = lcases[s][1];
            float *x = rnd(rows * cols, 5), *y = zeros(rows * cols), *r = zeros(rows * cols);
            float *g = rnd(cols, 1), *b = rnd(cols, 1);
            ck_layer_norm(pools[pi], x, y, rows, cols, g, b, 1e-5f);
            ref_layer_norm(x, r, rows, cols, g, b, 1e-5f);
            check("layer_norm", y, r, rows * cols, 2e-5f, 2e-5f);
            ck_layer_norm(pools[pi], x, y, rows, cols, NULL, NULL, 1e-6f);
            ref_layer_norm(x, r, rows, cols, NULL, NULL, 1e-6f);
            check("layer_norm no affine", y, r, rows * cols, 2e-5f, 2e-5f);
            for (int64_t i = 0; i < rows * cols; i++)
                x[i] *= 10; /* logits up to ±50 */
            ck_softmax(pools[pi], x, y, rows, cols);
            ref_softmax(x, r, rows, cols);
            check("softmax", y, r, rows * cols, 1e-7f, 1e-5f);
            ck_softmax(pools[pi], x, x, rows, cols);
            check("softmax in place", x, r, rows * cols, 1e-7f, 1e-5f);
            free(x); free(y); free(r); free(g); free(b);
        }
}

/* ---- elementwise ---------------------------------------------------------- */

static void test_eltwise(void)
{
    int64_t n = 40001;
    float *x = rnd(n, 12), *y = zeros(n), *r = zeros(n);
    x[0] = 0; x[1] = -100; x[2] = 100; x[3] = 1e-8f; x[4] = -88.5f;
    for (int act = CK_ACT_SILU; act <= CK_ACT_QUICK_GELU; act++)
        for (int pi = 0; pi < N_POOLS; pi++) {
            if (ck_activation(pools[pi], act, x, y, n))
                failures++;
            for (int64_t i = 0; i < n; i++)
                r[i] = ref_act(act, x[i]);
            char what[64];
            snprintf(what, sizeof(what), "activation %d %s", act, pool_names[pi]);
            check(what, y, r, n, 1e-6f, 1e-5f);
        }
    /* GEGLU */
    int64_t rows = 33, cols = 130;
    float *gx = rnd(rows * 2 * cols, 4), *gy = zeros(rows * cols), *gr = zeros(rows * cols);
    for (int pi = 0; pi < N_POOLS; pi++) {
        ck_geglu(pools[pi], gx, gy, rows, cols);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t c = 0; c < cols; c++)
                gr[i * cols + c] = (float)((double)gx[i * 2 * cols + c] *
                                           ref_act(CK_ACT_GELU, gx[i * 2 * cols + cols + c]));
        check("geglu", gy, gr, rows * cols, 1e-6f, 1e-5f);
    }
    /* broadcast binary ops */
    static const int64_t bc[][2][4] = {
        { { 2, 3, 4, 5 }, { 2, 3, 4, 5 } }, { { 2, 3, 4, 5 }, { 1, 3, 1, 1 } },
        { { 2, 1, 4, 1 }, { 1, 3, 1, 5 } }, { { 1, 1, 1, 1 }, { 2, 3, 4, 5 } },
        { { 2, 3, 4, 5 }, { 1, 1, 1, 5 } },
    };
    for (size_t s = 0; s < sizeof(bc) / sizeof(bc[0]); s++)
        for (int op = CK_BIN_ADD; op <= CK_BIN_DIV; op++) {
            const int64_t *as = bc[s][0], *bs = bc[s][1];
            int64_t ys[COMFY_MAX_DIMS];
            int nd = ck_broadcast_shape(as, 4, bs + (s == 4 ? 3 : 0), s == 4 ? 1 : 4, ys);
            if (nd != 4) {
                failures++;
                continue;
            }
            int64_t na = as[0] * as[1] * as[2] * as[3], nb = bs[0] * bs[1] * bs[2] * bs[3];
            float *a = rnd(na, 2), *b = rnd(nb, 2), *o = zeros(120), *rr = zeros(120);
            for (int64_t i = 0; i < nb; i++)
                b[i] = b[i] + (b[i] >= 0 ? 0.5f : -0.5f);
            if (ck_binary(pools[1], op, a, as, 4, b, bs + (s == 4 ? 3 : 0), s == 4 ? 1 : 4, o))
                failures++;
            for (int64_t i0 = 0; i0 < 2; i0++)
                for (int64_t i1 = 0; i1 < 3; i1++)
                    for (int64_t i2 = 0; i2 < 4; i2++)
                        for (int64_t i3 = 0; i3 < 5; i3++) {
                            int64_t ia = (((as[0] > 1 ? i0 : 0) * as[1] + (as[1] > 1 ? i1 : 0)) *
                                          as[2] + (as[2] > 1 ? i2 : 0)) * as[3] + (as[3] > 1 ? i3 : 0);
                            int64_t ib = (((bs[0] > 1 ? i0 : 0) * bs[1] + (bs[1] > 1 ? i1 : 0)) *
                                          bs[2] + (bs[2] > 1 ? i2 : 0)) * bs[3] + (bs[3] > 1 ? i3 : 0);
                            float u = a[ia], v = b[ib], w;
                            w = op == CK_BIN_ADD ? u + v : op == CK_BIN_SUB ? u - v
                              : op == CK_BIN_MUL ? u * v : u / v;
                            rr[((i0 * 3 + i1) * 4 + i2) * 5 + i3] = w;
                        }
            char what[64];
            snprintf(what, sizeof(what), "binary case %zu op %d", s, op);
            check(what, o, rr, 120, 0, 1e-6f);
            free(a); free(b); free(o); free(rr);
        }
    int64_t s1[2] = { 2, 3 }, s2[2] = { 3, 2 };
    int64_t ys[COMFY_MAX_DIMS];
    if (ck_broadcast_shape(s1, 2, s2, 2, ys) != COMFY_EINVAL)
        failures++;
    /* concat along each axis of [2, 3, 4] and [2, 5, 4] style shapes */
    for (int axis = 0; axis < 3; axis++) {
        int64_t sa[3] = { 2, 3, 4 }, sb[3] = { 2, 3, 4 };
        sb[axis] = 5;
        float *a = rnd(24, 1), *b = rnd(2 * 3 * 4 * 5 / sb[axis] * 5, 1);
        int64_t nb = sb[0] * sb[1] * sb[2];
        float *o = zeros(24 + nb), *rr = zeros(24 + nb);
        const void *in[2] = { a, b };
        const int64_t *shapes[2] = { sa, sb };
        if (ck_concat(pools[1], 2, in, shapes, 3, axis, sizeof(float), o))
            failures++;
        int64_t os[3] = { 2, 3, 4 };
        os[axis] += 5;
        for (int64_t i = 0; i < os[0]; i++)
            for (int64_t j = 0; j < os[1]; j++)
                for (int64_t k = 0; k < os[2]; k++) {
                    int64_t id[3] = { i, j, k };
                    float val;
                    if (id[axis] < sa[axis])
                        val = a[(i * 3 + j) * 4 + k];
                    else {
                        id[axis] -= sa[axis];
                        val = b[(id[0] * sb[1] + id[1]) * sb[2] + id[2]];
                    }
                    rr[(i * os[1] + j) * os[2] + k] = val;
                }
        check("concat", o, rr, 24 + nb, 0, 0);
        free(a); free(b); free(o); free(rr);
    }
    /* axpb */
    ck_axpb(pools[1], x, y, n, 0.5f, 2.0f);
    for (int64_t i = 0; i < n; i++)
        r[i] = x[i] * 0.5f + 2.0f;
    check("axpb", y, r, n, 0, 1e-7f);
    /* timestep embedding, flip_sin_to_cos: cos first */
    float t[3] = { 0, 1, 999 }, e[3 * 321];
    ck_timestep_embedding(t, 3, 321, 10000.0f, e);
    for (int j = 0; j < 3; j++)
        for (int i = 0; i < 160; i++) {
            double f = exp(-log(10000.0) * i / 160.0);
            float wc = (float)cos(t[j] * f), ws = (float)sin(t[j] * f);
            if (fabsf(e[j * 321 + i] - wc) > 2e-3f || fabsf(e[j * 321 + 160 + i] - ws) > 2e-3f) {
                printf("FAIL timestep %d %d: %g %g want %g %g\n", j, i, e[j * 321 + i],
                       e[j * 321 + 160 + i], wc, ws);
                failures++;
                j = 3;
                break;
            }
        }
    if (e[320] != 0 || e[2 * 321 - 1] != 0)
        failures++;
    free(x); free(y); free(r); free(gx); free(gy); free(gr);
}

/* ---- resize --------------------------------------------------------------- */

static void test_resize(void)
{
    static const int64_t cases[][6] = { /* n, h, w, c, oh, ow */
        { 2, 8, 8, 3, 16, 16 }, { 1, 7, 9, 1, 3, 4 }, { 1, 5, 5, 4, 13, 11 },
        { 3, 16, 10, 2, 5, 7 }, { 1, 1, 1, 1, 3, 2 }, { 1, 6, 6, 3, 6, 6 },
    };
    for (int mode = CK_RESIZE_NEAREST; mode <= CK_RESIZE_AREA; mode++)
        for (size_t s = 0; s < sizeof(cases) / sizeof(cases[0]); s++)
            for (int pi = 0; pi < N_POOLS; pi += 2) {
                const int64_t *cs = cases[s];
                int64_t nx = cs[0] * cs[1] * cs[2] * cs[3], ny = cs[0] * cs[4] * cs[5] * cs[3];
                float *x = rnd(nx, 1), *y = zeros(ny), *r = zeros(ny);
                if (ck_resize(pools[pi], mode, x, cs[0], cs[1], cs[2], cs[3], y, cs[4], cs[5]))
                    failures++;
                ref_resize(mode, x, cs[0], cs[1], cs[2], cs[3], r, cs[4], cs[5]);
                char what[64];
                snprintf(what, sizeof(what), "resize mode %d case %zu", mode, s);
                check(what, y, r, ny, 1e-6f, 1e-5f);
                free(x); free(y); free(r);
            }
}

/* ---- arena --------------------------------------------------------------- */

static void test_arena(void)
{
    ck_arena *a = ck_arena_new(64 << 20);
    if (!a) {
        failures++;
        return;
    }
    for (int round = 0; round < 3; round++) {
        char *prev = NULL;
        for (int i = 0; i < 100; i++) {
            size_t sz = (size_t)(i * 1237 % 100000) + 1;
            char *p = ck_arena_alloc(a, sz);
            if (!p || ((uintptr_t)p & 63) || p == prev) {
                printf("FAIL arena alloc %zu\n", sz);
                failures++;
                break;
            }
            memset(p, i, sz); /* ASan checks the bounds */
            prev = p;
        }
        if (ck_arena_used(a) == 0 || ck_arena_peak(a) < ck_arena_used(a))
            failures++;
        /* a large allocation gets a block of its own */
        if (!ck_arena_alloc(a, (size_t)20 << 20))
            failures++;
        ck_arena_reset(a);
        if (ck_arena_used(a) != 0)
            failures++;
    }
    /* the ceiling is a clear NULL, and the arena stays usable */
    if (ck_arena_alloc(a, (size_t)65 << 20) != NULL || !ck_arena_alloc(a, 100)) {
        printf("FAIL arena ceiling\n");
        failures++;
    }
    ck_arena_free(a);
    ck_arena_free(NULL);
}

/* ---- backends ------------------------------------------------------------- */

static void test_backend(void)
{
    ck_backend *b = ck_backend_cpu_new(pools[1]);
    if (!b || b->size != sizeof(ck_backend)) {
        printf("FAIL cpu backend\n");
        failures++;
        return;
    }
    float *x = rnd(7 * 9, 1), *w = rnd(5 * 9, 1), *y = zeros(35), *r = zeros(35);
    float *dx = b->alloc(b->ctx, 63 * 4);
    b->upload(b->ctx, dx, x, 63 * 4);
    b->linear(b->ctx, dx, 7, 9, w, COMFY_F32, 5, NULL, y, CK_PREC_F32);
    b->sync(b->ctx);
    ref_linear(x, 7, 9, w, 5, NULL, r);
    check("backend linear", y, r, 35, 1e-5f, 1e-5f);
    b->free(b->ctx, dx);
    b->destroy(b);
    free(x); free(w); free(y); free(r);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test-kernels <group>\n");
        return 2;
    }
    make_pools();
    const char *g = argv[1];
    printf("cpu features %#x, oneDNN %d\n", ck_cpu_features(), ck_have_dnnl());
    if (!strcmp(g, "pool")) test_pool();
    else if (!strcmp(g, "convert")) test_convert();
    else if (!strcmp(g, "gemm")) test_gemm();
    else if (!strcmp(g, "linear")) test_linear();
    else if (!strcmp(g, "conv")) test_conv();
    else if (!strcmp(g, "attention")) test_attention();
    else if (!strcmp(g, "norm")) test_norm();
    else if (!strcmp(g, "eltwise")) test_eltwise();
    else if (!strcmp(g, "resize")) test_resize();
    else if (!strcmp(g, "backend")) test_backend();
    else if (!strcmp(g, "arena")) test_arena();
    else {
        fprintf(stderr, "unknown group %s\n", g);
        return 2;
    }
    for (int i = 0; i < N_POOLS; i++)
        ck_pool_free(pools[i]);
    printf("%s: %s\n", g, failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
