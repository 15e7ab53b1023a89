/*
 * test_cuda.c — compares every op of the CUDA backend with its CPU twin on
 * random inputs.  Exits 77 (ctest: skipped) with a message when no CUDA
 * backend can be made: built without the toolkit, or no GPU present.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <comfyd/kernels.h>

static int failures;
static uint64_t rng = 0x243f6a8885a308d3ull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static float *rnd(int64_t n, float s)
{
    float *p = malloc((size_t)n * sizeof(float));
    if (!p)
        abort();
    for (int64_t i = 0; i < n; i++)
        p[i] = frand() * s;
    return p;
}

static void check(const char *what, const float *got, const float *want, int64_t n,
                  float atol, float rtol)
{
    for (int64_t i = 0; i < n; i++) {
        float err = fabsf(got[i] - want[i]);
        if (!(err <= atol + rtol * fabsf(want[i]))) {
            printf("FAIL %s: [%lld] cuda %.9g cpu %.9g\n", what, (long long)i, got[i], want[i]);
            failures++;
            return;
        }
    }
    printf("ok   %s\n", what);
}

/* Device copy of a host array (freed with b->free). */
static void *up(ck_backend *b, const void *h, size_t bytes)
{
    void *d = b->alloc(b->ctx, bytes);
    if (!d || b->upload(b->ctx, d, h, bytes)) {
        printf("FAIL device alloc/upload\n");
        exit(1);
    }
    return d;
}

static void down(ck_backend *b, float *h, const void *d, int64_t n)
{
    if (b->download(b->ctx, h, d, (size_t)n * sizeof(float))) {
        printf("FAIL download\n");
        failures++;
    }
}

int main(void)
{
    const char *why = NULL;
    ck_backend *g = ck_backend_cuda_new(0, &why);
    if (!g) {
        printf("SKIP: no CUDA backend: %s\n", why ? why : "unknown reason");
        return 77;
    }
    ck_pool *pool = ck_pool_new(0);
    ck_backend *c = ck_backend_cpu_new(pool);
    if (!pool || !c)
        return 1;

    /* linear, f32 and bf16 precision */
    for (int prec = 0; prec < 2; prec++) {
        int64_t M = 77, K = 320, N = 130;
        float *x = rnd(M * K, 1), *w = rnd(N * K, 0.1f), *bias = rnd(N, 1);
        float *yc = malloc((size_t)(M * N) * 4), *yg = malloc((size_t)(M * N) * 4);
        void *dx = up(g, x, (size_t)(M * K) * 4), *dw = up(g, w, (size_t)(N * K) * 4);
        void *db = up(g, bias, (size_t)N * 4), *dy = g->alloc(g->ctx, (size_t)(M * N) * 4);
        c->linear(c->ctx, x, M, K, w, COMFY_F32, N, bias, yc, prec);
        if (g->linear(g->ctx, dx, M, K, dw, COMFY_F32, N, db, dy, prec))
            failures++;
        down(g, yg, dy, M * N);
        check(prec ? "linear bf16" : "linear f32", yg, yc, M * N, prec ? 2e-2f : 1e-4f, 1e-3f);
        g->free(g->ctx, dx); g->free(g->ctx, dw); g->free(g->ctx, db); g->free(g->ctx, dy);
        free(x); free(w); free(bias); free(yc); free(yg);
    }
    /* conv 3x3 pad 1 and stride 2 */
    for (int s = 1; s <= 2; s++) {
        ck_conv2d_desc d = { 2, 17, 13, 8, 12, 3, 3, s, s, 1, 1 };
        int64_t oh = ck_conv2d_out_h(&d), ow = ck_conv2d_out_w(&d);
        int64_t nx = 2 * 17 * 13 * 8, nw = 12 * 8 * 9, ny = 2 * oh * ow * 12;
        float *x = rnd(nx, 1), *w = rnd(nw, 0.3f), *bias = rnd(12, 1);
        float *yc = malloc((size_t)ny * 4), *yg = malloc((size_t)ny * 4);
        void *dx = up(g, x, (size_t)nx * 4), *dw = up(g, w, (size_t)nw * 4);
        void *db = up(g, bias, 48), *dy = g->alloc(g->ctx, (size_t)ny * 4);
        c->conv2d_nhwc(c->ctx, &d, x, w, COMFY_F32, bias, yc, CK_PREC_F32);
        if (g->conv2d_nhwc(g->ctx, &d, dx, dw, COMFY_F32, db, dy, CK_PREC_F32))
            failures++;
        down(g, yg, dy, ny);
        check(s == 1 ? "conv 3x3" : "conv 3x3 stride 2", yg, yc, ny, 1e-4f, 1e-4f);
        g->free(g->ctx, dx); g->free(g->ctx, dw); g->free(g->ctx, db); g->free(g->ctx, dy);
        free(x); free(w); free(bias); free(yc); free(yg);
    }
    /* attention at the head dims SD uses */
    static const int64_t dims[] = { 40, 64, 80, 160 };
    for (int i = 0; i < 4; i++) {
        ck_attn_desc d = { 2, 2, 100, 77, dims[i], 0, 0, 0, 0, 0 };
        int64_t C = d.heads * d.head_dim;
        d.q_ld = d.k_ld = d.v_ld = d.o_ld = C;
        d.scale = 1.0f / sqrtf((float)d.head_dim);
        int64_t nq = 2 * 100 * C, nk = 2 * 77 * C;
        float *q = rnd(nq, 2), *k = rnd(nk, 2), *v = rnd(nk, 2);
        float *oc = malloc((size_t)nq * 4), *og = malloc((size_t)nq * 4);
        void *dq = up(g, q, (size_t)nq * 4), *dk = up(g, k, (size_t)nk * 4);
        void *dv = up(g, v, (size_t)nk * 4), *dout = g->alloc(g->ctx, (size_t)nq * 4);
        c->attention(c->ctx, &d, q, k, v, oc);
        if (g->attention(g->ctx, &d, dq, dk, dv, dout))
            failures++;
        down(g, og, dout, nq);
        char what[48];
        snprintf(what, sizeof(what), "attention d%lld", (long long)dims[i]);
        check(what, og, oc, nq, 1e-4f, 1e-3f);
        g->free(g->ctx, dq); g->free(g->ctx, dk); g->free(g->ctx, dv); g->free(g->ctx, dout);
        free(q); free(k); free(v); free(oc); free(og);
    }
    /* norms, softmax, activations, geglu */
    {
        int64_t n = 2, ch = 64, hw = 99, tot = n * ch * hw;
        float *x = rnd(tot, 3), *gm = rnd(ch, 1), *bt = rnd(ch, 1);
        float *yc = malloc((size_t)tot * 4), *yg = malloc((size_t)tot * 4);
        void *dx = up(g, x, (size_t)tot * 4), *dg = up(g, gm, (size_t)ch * 4);
        void *dbt = up(g, bt, (size_t)ch * 4), *dy = g->alloc(g->ctx, (size_t)tot * 4);
        for (int layout = 0; layout < 2; layout++) {
            c->group_norm(c->ctx, x, yc, n, ch, hw, 32, gm, bt, 1e-5f, layout, 1);
            g->group_norm(g->ctx, dx, dy, n, ch, hw, 32, dg, dbt, 1e-5f, layout, 1);
            down(g, yg, dy, tot);
            check(layout ? "group_norm+silu nhwc" : "group_norm+silu nchw", yg, yc, tot,
                  1e-4f, 1e-4f);
        }
        c->layer_norm(c->ctx, x, yc, 2 * 99, 64, gm, bt, 1e-5f);
        g->layer_norm(g->ctx, dx, dy, 2 * 99, 64, dg, dbt, 1e-5f);
        down(g, yg, dy, tot);
        check("layer_norm", yg, yc, tot, 1e-4f, 1e-4f);
        c->softmax(c->ctx, x, yc, 64, 2 * 99);
        g->softmax(g->ctx, dx, dy, 64, 2 * 99);
        down(g, yg, dy, tot);
        check("softmax", yg, yc, tot, 1e-6f, 1e-4f);
        for (int act = CK_ACT_SILU; act <= CK_ACT_QUICK_GELU; act++) {
            c->activation(c->ctx, act, x, yc, tot);
            g->activation(g->ctx, act, dx, dy, tot);
            down(g, yg, dy, tot);
            check("activation", yg, yc, tot, 1e-5f, 1e-4f);
        }
        c->geglu(c->ctx, x, yc, 99, 64);
        g->geglu(g->ctx, dx, dy, 99, 64);
        down(g, yg, dy, 99 * 64);
        check("geglu", yg, yc, 99 * 64, 1e-5f, 1e-4f);
        g->free(g->ctx, dx); g->free(g->ctx, dg); g->free(g->ctx, dbt); g->free(g->ctx, dy);
        free(x); free(gm); free(bt); free(yc); free(yg);
    }
    g->destroy(g);
    c->destroy(c);
    ck_pool_free(pool);
    printf("cuda: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
