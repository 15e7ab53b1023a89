/*
 * comfyd/kernels.h — the CPU compute kernels of comfyd (prefix ck_).
 *
 * A plain C API over raw pointers and shapes, so that node packs can call it
 * without the runtime.  Every op takes the thread pool it may use (a
 * ck_pool, passed explicitly; NULL runs the op on the calling thread only).
 * There is no hidden global state apart from what oneDNN keeps itself
 * (its primitive cache and its OpenMP threads).
 *
 * Conventions
 *  - Activations are f32.  Weights may be f32, f16 or bf16 (comfy_dtype
 *    values COMFY_F32 / COMFY_F16 / COMFY_BF16).  `prec` chooses the compute
 *    precision of matmul and convolution: CK_PREC_F32 (exact f32, ComfyUI's
 *    CPU default) or CK_PREC_BF16 (bf16 inputs, f32 accumulation; uses
 *    AVX-512 BF16 through oneDNN where the CPU has it).
 *  - Arrays are contiguous row-major unless a stride argument says
 *    otherwise.  Input and output must not overlap unless the contract says
 *    in-place is allowed.
 *  - Functions return 0 on success and a negative comfy_status on failure
 *    (COMFY_EINVAL for bad shapes or arguments, COMFY_ENOMEM when scratch
 *    memory cannot be had).  Nothing aborts on bad input.
 *  - Threading: a ck_pool runs one op at a time.  Call the ops of one pool
 *    from one thread at a time (the executor thread); different pools may
 *    be used from different threads.
 *
 * How ops are chosen at run time: kernels/README.md.
 */
#ifndef COMFYD_KERNELS_H
#define COMFYD_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <comfy/comfy.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* CPU features and build options.                                          */

enum {
    CK_CPU_AVX2 = 1u << 0,      /* AVX2 + FMA                               */
    CK_CPU_AVX512 = 1u << 1,    /* AVX-512 F/BW/VL/DQ                       */
    CK_CPU_AVX512BF16 = 1u << 2 /* AVX-512 BF16 (vdpbf16ps)                 */
};

/* The features of this CPU (CK_CPU_* bits), detected once; thread-safe.
 * Setting the environment variable COMFYD_CPU_MAX to "avx2" or "none" before
 * the first call hides the wider features (for tests of the fallbacks). */
unsigned ck_cpu_features(void);

/* 1 when the library was built with oneDNN, else 0. */
int ck_have_dnnl(void);

/* Compute precision of matmul, convolution and ck_attention_prec. */
enum { CK_PREC_F32 = 0, CK_PREC_BF16 = 1 };

/* ------------------------------------------------------------------------ */
/* Thread pool.
 *
 * A pool of n threads: the calling thread plus n-1 workers that sleep
 * between ops.  ck_pool_run hands out tasks 0..n_tasks-1 to the threads and
 * returns when all are done.  A task that calls ck_pool_run on the same
 * pool gets a serial run on its own thread (correct, without parallelism).
 * The pool also carries the oneDNN engine and stream when built with oneDNN.
 */
typedef struct ck_pool ck_pool;

/* fn(arg, task, thread): thread is 0..ck_pool_threads()-1, unique among the
 * threads running at the same time (use it to index per-thread scratch). */
typedef void (*ck_task_fn)(void *arg, int64_t task, int thread);

/* Makes a pool of n_threads (0: the number of online cores, capped at 256).
 * Returns a new pool (free with ck_pool_free) or NULL when threads or
 * memory cannot be had.  Also sets oneDNN's OpenMP thread count to match. */
ck_pool *ck_pool_new(int n_threads);
/* Stops the workers and frees the pool.  NULL is fine. */
void ck_pool_free(ck_pool *p);
/* Thread count of the pool; 1 for NULL. */
int ck_pool_threads(const ck_pool *p);
/* Whether ops on this pool may use oneDNN where it is faster (default 1 when
 * built with it).  0 forces our own kernels; tests use it to check both. */
void ck_pool_use_dnnl(ck_pool *p, int on);
/* Runs fn for every task in 0..n_tasks-1 on the pool (NULL: on the caller)
 * and waits for all of them. */
void ck_pool_run(ck_pool *p, int64_t n_tasks, ck_task_fn fn, void *arg);

/* ------------------------------------------------------------------------ */
/* Arena: per-graph scratch.
 *
 * A bump allocator for the temporaries of one graph run (one prompt):
 * allocations are 64-byte aligned, never freed one by one, and all go at
 * once with ck_arena_reset (keeps the memory for the next run) or
 * ck_arena_free.  The ceiling set at creation is never exceeded: an
 * allocation past it returns NULL (a clear error for the caller, not an
 * OOM).  Memory comes in blocks of at least 16 MiB as needed.  Not
 * thread-safe: one owner (the executor thread) at a time.
 */
typedef struct ck_arena ck_arena;

/* A new empty arena of at most cap_bytes (0: no ceiling); NULL on OOM.
 * Free with ck_arena_free. */
ck_arena *ck_arena_new(size_t cap_bytes);
/* Frees the arena and everything allocated from it.  NULL is fine. */
void ck_arena_free(ck_arena *a);
/* bytes of scratch owned by the arena (valid until the next reset/free),
 * or NULL when the ceiling or memory runs out. */
void *ck_arena_alloc(ck_arena *a, size_t bytes);
/* Forgets every allocation; keeps the largest block for reuse. */
void ck_arena_reset(ck_arena *a);
/* Bytes handed out since the last reset, and the most ever at once. */
size_t ck_arena_used(const ck_arena *a);
size_t ck_arena_peak(const ck_arena *a);

/* ------------------------------------------------------------------------ */
/* Conversion.  Round-to-nearest-even, NaN stays NaN, overflow gives inf.  */

float ck_f16_to_f32_1(uint16_t h);
uint16_t ck_f32_to_f16_1(float f);
float ck_bf16_to_f32_1(uint16_t h);
uint16_t ck_f32_to_bf16_1(float f);

void ck_f16_to_f32(ck_pool *p, const uint16_t *src, float *dst, int64_t n);
void ck_f32_to_f16(ck_pool *p, const float *src, uint16_t *dst, int64_t n);
void ck_bf16_to_f32(ck_pool *p, const uint16_t *src, float *dst, int64_t n);
void ck_f32_to_bf16(ck_pool *p, const float *src, uint16_t *dst, int64_t n);
/* Converts n elements of dtype `dt` (F32, F16 or BF16) to f32.  Returns 0,
 * or COMFY_EINVAL for another dtype. */
int ck_to_f32(ck_pool *p, const void *src, int dt, float *dst, int64_t n);

/* ------------------------------------------------------------------------ */
/* Matrix products.                                                          */

/* C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C, all f32 row-major
 * with leading dimensions lda/ldb/ldc; op transposes when trans_* is
 * nonzero.  beta == 0 ignores what C held (NaN included).  Returns 0 or
 * COMFY_EINVAL / COMFY_ENOMEM. */
int ck_gemm_f32(ck_pool *p, int trans_a, int trans_b, int64_t M, int64_t N,
                int64_t K, float alpha, const float *A, int64_t lda,
                const float *B, int64_t ldb, float beta, float *C,
                int64_t ldc);

/* A linear layer: y[M,N] = x[M,K] · w[N,K]ᵀ + bias[N] (PyTorch's weight
 * layout).  w has dtype wdt (F32, F16 or BF16); bias may be NULL.  With
 * CK_PREC_BF16, x and w are rounded to bf16 and products accumulate in f32.
 * Weights of another dtype than the compute precision are converted per call
 * into scratch memory: convert them once at load for speed. */
int ck_linear(ck_pool *p, const float *x, int64_t M, int64_t K, const void *w,
              int wdt, int64_t N, const float *bias, float *y, int prec);

/* ------------------------------------------------------------------------ */
/* Convolution, NHWC activations, PyTorch OIHW weights, groups = 1.          */

typedef struct ck_conv2d_desc {
    int64_t n, h, w, c_in;      /* input  [n, h, w, c_in]                   */
    int64_t c_out, kh, kw;      /* weight [c_out, c_in, kh, kw]             */
    int64_t stride_h, stride_w; /* >= 1                                     */
    int64_t pad_h, pad_w;       /* zero padding on both sides, >= 0         */
} ck_conv2d_desc;

/* Output height and width of d (<= 0 when the input is too small). */
int64_t ck_conv2d_out_h(const ck_conv2d_desc *d);
int64_t ck_conv2d_out_w(const ck_conv2d_desc *d);

/* y[n, oh, ow, c_out] = conv(x, w) + bias.  w has dtype wdt (F32, F16 or
 * BF16); bias (f32, c_out) may be NULL.  prec as for ck_linear. */
int ck_conv2d_nhwc(ck_pool *p, const ck_conv2d_desc *d, const float *x,
                   const void *w, int wdt, const float *bias, float *y,
                   int prec);

/* Layout changes between NCHW and NHWC ([n, c, hw] <-> [n, hw, c]). */
void ck_nchw_to_nhwc(ck_pool *p, const float *x, float *y, int64_t n,
                     int64_t c, int64_t hw);
void ck_nhwc_to_nchw(ck_pool *p, const float *x, float *y, int64_t n,
                     int64_t c, int64_t hw);

/* ------------------------------------------------------------------------ */
/* Attention.
 *
 * Scaled dot-product attention, softmax(q·kᵀ·scale)·v per batch and head,
 * computed in tiles with an online softmax: the Lq×Lk score matrix is never
 * materialised.  Element (b, l, h, d) of q lives at
 *   q[(b * Lq + l) * q_ld + h * D + d]
 * (so [B, L, H*D] with q_ld = H*D, or a slice of a packed qkv row with
 * q_ld = 3*H*D); likewise k and v with Lk and k_ld / v_ld, and o with Lq and
 * o_ld.  o must not overlap q, k or v. */
typedef struct ck_attn_desc {
    int64_t batch, heads, lq, lk, head_dim;
    int64_t q_ld, k_ld, v_ld, o_ld; /* row strides in elements             */
    float scale;                    /* usually 1/sqrt(head_dim)             */
} ck_attn_desc;

int ck_attention(ck_pool *p, const ck_attn_desc *d, const float *q,
                 const float *k, const float *v, float *o);

/* ck_attention with a compute precision: CK_PREC_F32 is ck_attention;
 * CK_PREC_BF16 rounds q, k, v and the softmax weights to bf16 and sums the
 * products in f32 (AVX-512 BF16, about twice as fast); on CPUs without
 * AVX-512 BF16, and for short sequences (lq < 512 or lk < 128) where
 * bf16 gains nothing, it runs the f32 path. */
int ck_attention_prec(ck_pool *p, const ck_attn_desc *d, int prec,
                      const float *q, const float *k, const float *v, float *o);

/* ------------------------------------------------------------------------ */
/* Normalisation and softmax.                                                */

enum { CK_LAYOUT_NCHW = 0, CK_LAYOUT_NHWC = 1 };

/* Group norm over x [n, c, hw] (NCHW) or [n, hw, c] (NHWC): each of the
 * `groups` channel groups of each sample is normalised by its mean and
 * biased variance, then y = norm * gamma[c] + beta[c] (gamma/beta may be
 * NULL: 1 and 0), then SiLU when silu != 0.  c % groups must be 0.  y may
 * equal x (in place). */
int ck_group_norm(ck_pool *p, const float *x, float *y, int64_t n, int64_t c,
                  int64_t hw, int64_t groups, const float *gamma,
                  const float *beta, float eps, int layout, int silu);

/* Layer norm over the last dimension of x [rows, cols]; gamma/beta may be
 * NULL.  y may equal x. */
int ck_layer_norm(ck_pool *p, const float *x, float *y, int64_t rows,
                  int64_t cols, const float *gamma, const float *beta,
                  float eps);

/* Softmax over the last dimension of x [rows, cols].  y may equal x. */
int ck_softmax(ck_pool *p, const float *x, float *y, int64_t rows,
               int64_t cols);

/* ------------------------------------------------------------------------ */
/* Elementwise.  y may equal x.                                              */

enum {
    CK_ACT_SILU = 0,       /* x * sigmoid(x)                                */
    CK_ACT_GELU = 1,       /* exact: 0.5 x (1 + erf(x / sqrt 2))            */
    CK_ACT_GELU_TANH = 2,  /* tanh approximation                            */
    CK_ACT_QUICK_GELU = 3  /* x * sigmoid(1.702 x)                          */
};
int ck_activation(ck_pool *p, int act, const float *x, float *y, int64_t n);

/* GEGLU: x [rows, 2*cols] -> y [rows, cols], y = a * gelu(g) where a is the
 * first half of each row and g the second (exact GELU). */
int ck_geglu(ck_pool *p, const float *x, float *y, int64_t rows,
             int64_t cols);

/* Binary ops with NumPy broadcasting of contiguous a and b to y's shape
 * (each dim of a and b is 1 or y's; shorter shapes align to the right). */
enum { CK_BIN_ADD = 0, CK_BIN_SUB = 1, CK_BIN_MUL = 2, CK_BIN_DIV = 3 };
int ck_binary(ck_pool *p, int op, const float *a, const int64_t *a_shape,
              int a_ndim, const float *b, const int64_t *b_shape, int b_ndim,
              float *y);
/* The shape ck_binary writes: y_shape gets max(a_ndim, b_ndim) dims.
 * Returns that count, or COMFY_EINVAL when the shapes do not broadcast. */
int ck_broadcast_shape(const int64_t *a_shape, int a_ndim,
                       const int64_t *b_shape, int b_ndim,
                       int64_t y_shape[COMFY_MAX_DIMS]);

/* y = x * a + b elementwise (scale and shift), n elements; y may equal x. */
void ck_axpb(ck_pool *p, const float *x, float *y, int64_t n, float a,
             float b);

/* Concatenates n_in contiguous arrays of equal rank along `axis`; each
 * shape must equal the others except along axis.  y is contiguous.
 * elem_size is the element size in bytes (any dtype). */
int ck_concat(ck_pool *p, int n_in, const void *const *in,
              const int64_t *const *shapes, int ndim, int axis,
              size_t elem_size, void *y);

/* ------------------------------------------------------------------------ */
/* Resize of x [n, h, w, c] to y [n, oh, ow, c] (c innermost; NCHW data is
 * the same with n = batch*channels and c = 1).  PyTorch interpolate
 * conventions, align_corners = False, no antialias (see
 * spec nodes-and-models.md §14.4). */
enum {
    CK_RESIZE_NEAREST = 0,       /* torch "nearest": floor(dst * in/out)    */
    CK_RESIZE_NEAREST_EXACT = 1, /* torch "nearest-exact"                   */
    CK_RESIZE_BILINEAR = 2,
    CK_RESIZE_BICUBIC = 3,       /* Keys, A = -0.75                         */
    CK_RESIZE_AREA = 4           /* adaptive average pooling                */
};
int ck_resize(ck_pool *p, int mode, const float *x, int64_t n, int64_t h,
              int64_t w, int64_t c, float *y, int64_t oh, int64_t ow);

/* ------------------------------------------------------------------------ */
/* Sinusoidal timestep embedding (the UNet's, flip_sin_to_cos = True):
 * half = dim / 2, f_i = exp(-ln(max_period) * i / half),
 * y[j] = [cos(t_j f_0..), sin(t_j f_0..)] and a zero column when dim is odd.
 * t has n entries, y is [n, dim]. */
int ck_timestep_embedding(const float *t, int64_t n, int64_t dim,
                          float max_period, float *y);

/* ------------------------------------------------------------------------ */
/* Backends.
 *
 * One dispatch interface that the CPU backend and the CUDA backend
 * (kernels/cuda, built when the toolkit is found) both implement.  Pointers
 * passed to a backend's ops live in that backend's memory (host memory for
 * the CPU, device memory for CUDA); alloc/free/upload/download move data.
 * Each op has the contract of the CPU function of the same name; `ctx` is
 * the backend context (a ck_pool for the CPU).
 */
typedef struct ck_backend {
    uint32_t size;           /* sizeof(ck_backend)                         */
    const char *name;        /* "cpu", "cuda"                              */
    void *ctx;               /* backend context, owned by the backend      */
    void *(*alloc)(void *ctx, size_t bytes);
    void (*free)(void *ctx, void *ptr);
    int (*upload)(void *ctx, void *dst, const void *src, size_t bytes);
    int (*download)(void *ctx, void *dst, const void *src, size_t bytes);
    int (*sync)(void *ctx);
    int (*linear)(void *ctx, const float *x, int64_t M, int64_t K,
                  const void *w, int wdt, int64_t N, const float *bias,
                  float *y, int prec);
    int (*conv2d_nhwc)(void *ctx, const ck_conv2d_desc *d, const float *x,
                       const void *w, int wdt, const float *bias, float *y,
                       int prec);
    int (*attention)(void *ctx, const ck_attn_desc *d, const float *q,
                     const float *k, const float *v, float *o);
    int (*group_norm)(void *ctx, const float *x, float *y, int64_t n,
                      int64_t c, int64_t hw, int64_t groups,
                      const float *gamma, const float *beta, float eps,
                      int layout, int silu);
    int (*layer_norm)(void *ctx, const float *x, float *y, int64_t rows,
                      int64_t cols, const float *gamma, const float *beta,
                      float eps);
    int (*softmax)(void *ctx, const float *x, float *y, int64_t rows,
                   int64_t cols);
    int (*activation)(void *ctx, int act, const float *x, float *y,
                      int64_t n);
    int (*geglu)(void *ctx, const float *x, float *y, int64_t rows,
                 int64_t cols);
    void (*destroy)(struct ck_backend *b); /* frees b and its context      */
} ck_backend;

/* The CPU backend over pool p (borrowed; must outlive the backend).
 * Returns a new backend (free with b->destroy(b)) or NULL on OOM. */
ck_backend *ck_backend_cpu_new(ck_pool *p);

/* The CUDA backend on device `device`, or NULL when the library was built
 * without CUDA or no GPU is present (*why, when not NULL, then gets a
 * static message).  Free with b->destroy(b). */
ck_backend *ck_backend_cuda_new(int device, const char **why);

#ifdef __cplusplus
}
#endif
#endif
