/*
 * backend.c — the CPU implementation of the ck_backend dispatch table, and
 * ck_backend_cuda_new when the library is built without CUDA.
 */
#include <dlfcn.h>
#include <stdlib.h>

#include "internal.h"

static void *cpu_alloc(void *ctx, size_t bytes) { (void)ctx; return ck_alloc(bytes); }
static void cpu_free(void *ctx, void *ptr) { (void)ctx; ck_free(ptr); }

static int cpu_copy(void *ctx, void *dst, const void *src, size_t bytes)
{
    (void)ctx;
    if (bytes && (!dst || !src))
        return COMFY_EINVAL;
    if (bytes)
        memmove(dst, src, bytes);
    return 0;
}

static int cpu_sync(void *ctx) { (void)ctx; return 0; }

static int cpu_linear(void *ctx, const float *x, int64_t M, int64_t K,
                      const void *w, int wdt, int64_t N, const float *bias,
                      float *y, int prec)
{
    return ck_linear(ctx, x, M, K, w, wdt, N, bias, y, prec);
}

static int cpu_conv(void *ctx, const ck_conv2d_desc *d, const float *x,
                    const void *w, int wdt, const float *bias, float *y, int prec)
{
    return ck_conv2d_nhwc(ctx, d, x, w, wdt, bias, y, prec);
}

static int cpu_attention(void *ctx, const ck_attn_desc *d, const float *q,
                         const float *k, const float *v, float *o)
{
    return ck_attention(ctx, d, q, k, v, o);
}

static int cpu_group_norm(void *ctx, const float *x, float *y, int64_t n,
                          int64_t c, int64_t hw, int64_t groups,
                          const float *gamma, const float *beta, float eps,
                          int layout, int silu)
{
    return ck_group_norm(ctx, x, y, n, c, hw, groups, gamma, beta, eps, layout, silu);
}

static int cpu_layer_norm(void *ctx, const float *x, float *y, int64_t rows,
                          int64_t cols, const float *gamma, const float *beta,
                          float eps)
{
    return ck_layer_norm(ctx, x, y, rows, cols, gamma, beta, eps);
}

static int cpu_softmax(void *ctx, const float *x, float *y, int64_t rows,
                       int64_t cols)
{
    return ck_softmax(ctx, x, y, rows, cols);
}

static int cpu_activation(void *ctx, int act, const float *x, float *y, int64_t n)
{
    return ck_activation(ctx, act, x, y, n);
}

static int cpu_geglu(void *ctx, const float *x, float *y, int64_t rows, int64_t cols)
{
    return ck_geglu(ctx, x, y, rows, cols);
}

static void cpu_destroy(ck_backend *b) { free(b); }

ck_backend *ck_backend_cpu_new(ck_pool *p)
{
    ck_backend *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->size = sizeof(*b);
    b->name = "cpu";
    b->ctx = p;
    b->alloc = cpu_alloc;
    b->free = cpu_free;
    b->upload = cpu_copy;
    b->download = cpu_copy;
    b->sync = cpu_sync;
    b->linear = cpu_linear;
    b->conv2d_nhwc = cpu_conv;
    b->attention = cpu_attention;
    b->group_norm = cpu_group_norm;
    b->layer_norm = cpu_layer_norm;
    b->softmax = cpu_softmax;
    b->activation = cpu_activation;
    b->geglu = cpu_geglu;
    b->destroy = cpu_destroy;
    return b;
}

/* The CUDA backend lives in libcomfyd_kernels_cuda.so (kernels/cuda), loaded
 * here on demand: $COMFYD_KERNELS_CUDA, then the build tree's copy, then the
 * library search path.  The handle stays loaded for the process lifetime
 * (backends made from it may outlive any caller's scope). */
typedef ck_backend *(*cuda_new_fn)(int device, const char **why);

ck_backend *ck_backend_cuda_new(int device, const char **why)
{
    const char *cands[3];
    int n = 0;
    const char *env = getenv("COMFYD_KERNELS_CUDA");
    if (env && *env)
        cands[n++] = env;
#ifdef CK_CUDA_BUILD_PATH
    cands[n++] = CK_CUDA_BUILD_PATH;
#endif
    cands[n++] = "libcomfyd_kernels_cuda.so";
    void *h = NULL;
    for (int i = 0; i < n && !h; i++)
        h = dlopen(cands[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        if (why)
            *why = "libcomfyd_kernels_cuda.so not found (built without the CUDA "
                   "toolkit, or its CUDA libraries are missing)";
        return NULL;
    }
    cuda_new_fn fn;
    void *sym = dlsym(h, "ck_cuda_backend_new");
    memcpy(&fn, &sym, sizeof(fn));
    if (!fn) {
        if (why)
            *why = "libcomfyd_kernels_cuda.so lacks ck_cuda_backend_new";
        return NULL;
    }
    return fn(device, why);
}
