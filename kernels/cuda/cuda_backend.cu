/*
 * cuda_backend.cu — the CUDA implementation of ck_backend (comfyd/kernels.h).
 *
 * Built as its own shared object (libcomfyd_kernels_cuda.so) when the CUDA
 * toolkit is found; comfyd_kernels loads it with dlopen() from
 * ck_backend_cuda_new(), so nothing else links against CUDA and a machine
 * without a GPU or driver simply gets NULL.
 *
 * Matmul goes through cuBLAS (f32 with TF32 off, so results follow the CPU's
 * f32; bf16 through cublasGemmEx with f32 accumulation), convolution through
 * cuDNN with NHWC tensors, and our own kernels do bias, attention (one warp
 * per query row, online softmax, keys streamed), group norm (+SiLU), layer
 * norm, softmax, activations and GEGLU.  Every op has the contract of the
 * CPU function of the same name; pointers are device pointers.
 * One backend = one device, one stream; calls from one thread at a time.
 */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "comfyd/kernels.h"

struct cuda_ctx {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cudnnHandle_t dnn;
};

#define THREADS 256

static int grid_for(int64_t n) { return (int)((n + THREADS - 1) / THREADS); }

static int64_t out_h(const ck_conv2d_desc *d)
{
    return d->stride_h < 1 ? 0 : (d->h + 2 * d->pad_h - d->kh) / d->stride_h + 1;
}

static int64_t out_w(const ck_conv2d_desc *d)
{
    return d->stride_w < 1 ? 0 : (d->w + 2 * d->pad_w - d->kw) / d->stride_w + 1;
}

/* ---- small kernels ------------------------------------------------------ */

__global__ void k_to_f32(const void *src, int dt, float *dst, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    if (dt == COMFY_F16)
        dst[i] = __half2float(((const __half *)src)[i]);
    else if (dt == COMFY_BF16)
        dst[i] = __bfloat162float(((const __nv_bfloat16 *)src)[i]);
    else
        dst[i] = ((const float *)src)[i];
}

__global__ void k_to_bf16(const void *src, int dt, __nv_bfloat16 *dst, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float v;
    if (dt == COMFY_F16)
        v = __half2float(((const __half *)src)[i]);
    else if (dt == COMFY_BF16) {
        dst[i] = ((const __nv_bfloat16 *)src)[i];
        return;
    } else
        v = ((const float *)src)[i];
    dst[i] = __float2bfloat16_rn(v);
}

__global__ void k_add_bias(float *y, const float *bias, int64_t rows, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < rows * n)
        y[i] += bias[i % n];
}

__device__ float act_one(int act, float x)
{
    switch (act) {
    case CK_ACT_SILU: return x / (1.0f + expf(-x));
    case CK_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case CK_ACT_GELU_TANH:
        return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    default: return x / (1.0f + expf(-1.702f * x));
    }
}

__global__ void k_act(int act, const float *x, float *y, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = act_one(act, x[i]);
}

__global__ void k_geglu(const float *x, float *y, int64_t rows, int64_t cols)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows * cols)
        return;
    int64_t r = i / cols, c = i % cols;
    float a = x[r * 2 * cols + c], g = x[r * 2 * cols + cols + c];
    y[i] = a * act_one(CK_ACT_GELU, g);
}

/* Block-wide sum of v (blockDim.x = THREADS). */
__device__ float block_sum(float v, float *sh)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    __syncthreads();
    if (l == 0)
        sh[w] = v;
    __syncthreads();
    float t = threadIdx.x < blockDim.x / 32 ? sh[threadIdx.x] : 0.0f;
    if (w == 0)
        for (int o = 16; o > 0; o >>= 1)
            t += __shfl_xor_sync(0xffffffffu, t, o);
    if (threadIdx.x == 0)
        sh[0] = t;
    __syncthreads();
    return sh[0];
}

__device__ float block_max(float v, float *sh)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    __syncthreads();
    if (l == 0)
        sh[w] = v;
    __syncthreads();
    float t = threadIdx.x < blockDim.x / 32 ? sh[threadIdx.x] : -INFINITY;
    if (w == 0)
        for (int o = 16; o > 0; o >>= 1)
            t = fmaxf(t, __shfl_xor_sync(0xffffffffu, t, o));
    if (threadIdx.x == 0)
        sh[0] = t;
    __syncthreads();
    return sh[0];
}

/* One block per (sample, group); two-pass statistics like the CPU. */
__global__ void k_group_norm(const float *x, float *y, int64_t c, int64_t hw,
                             int64_t groups, const float *gamma, const float *beta,
                             float eps, int nhwc, int silu)
{
    __shared__ float sh[32];
    int64_t s = blockIdx.x / groups, g = blockIdx.x % groups, cpg = c / groups;
    int64_t len = cpg * hw;
#define GN_IDX(k) (nhwc ? (s * hw + (k) % hw) * c + g * cpg + (k) / hw \
                        : (s * c + g * cpg) * hw + (k))
    float acc = 0;
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x)
        acc += x[GN_IDX(k)];
    float mean = block_sum(acc, sh) / (float)len;
    acc = 0;
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) {
        float d = x[GN_IDX(k)] - mean;
        acc += d * d;
    }
    float rstd = rsqrtf(block_sum(acc, sh) / (float)len + eps);
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) {
        int64_t ch = g * cpg + k / hw;
        float v = (x[GN_IDX(k)] - mean) * rstd;
        v = v * (gamma ? gamma[ch] : 1.0f) + (beta ? beta[ch] : 0.0f);
        y[GN_IDX(k)] = silu ? v / (1.0f + expf(-v)) : v;
    }
#undef GN_IDX
}

__global__ void k_layer_norm(const float *x, float *y, int64_t cols, const float *gamma,
                             const float *beta, float eps)
{
    __shared__ float sh[32];
    const float *xr = x + blockIdx.x * cols;
    float *yr = y + blockIdx.x * cols;
    float acc = 0;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
        acc += xr[i];
    float mean = block_sum(acc, sh) / (float)cols;
    acc = 0;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
        acc += (xr[i] - mean) * (xr[i] - mean);
    float rstd = rsqrtf(block_sum(acc, sh) / (float)cols + eps);
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
        float v = (xr[i] - mean) * rstd;
        yr[i] = v * (gamma ? gamma[i] : 1.0f) + (beta ? beta[i] : 0.0f);
    }
}

__global__ void k_softmax(const float *x, float *y, int64_t cols)
{
    __shared__ float sh[32];
    const float *xr = x + blockIdx.x * cols;
    float *yr = y + blockIdx.x * cols;
    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
        m = fmaxf(m, xr[i]);
    m = block_max(m, sh);
    float acc = 0;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
        acc += expf(xr[i] - m);
    float inv = 1.0f / block_sum(acc, sh);
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
        yr[i] = expf(xr[i] - m) * inv;
}

/* Attention: one warp per (batch, head, query row); lane l holds output
 * elements l, l+32, ... (head_dim <= 32 * ATT_PER_LANE).  Keys stream with
 * an online softmax, so no score matrix exists. */
#define ATT_PER_LANE 8
__global__ void k_attention(ck_attn_desc d, const float *q, const float *k,
                            const float *v, float *o)
{
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    int64_t total = d.batch * d.heads * d.lq;
    if (warp >= total)
        return;
    int64_t i = warp % d.lq, bh = warp / d.lq, h = bh % d.heads, b = bh / d.heads;
    int64_t D = d.head_dim;
    const float *qr = q + (b * d.lq + i) * d.q_ld + h * D;
    float qv[ATT_PER_LANE], acc[ATT_PER_LANE];
    for (int t = 0; t < ATT_PER_LANE; t++) {
        int64_t e = lane + 32 * t;
        qv[t] = e < D ? qr[e] * d.scale : 0.0f;
        acc[t] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int64_t j = 0; j < d.lk; j++) {
        const float *kr = k + (b * d.lk + j) * d.k_ld + h * D;
        float s = 0;
        for (int t = 0; t < ATT_PER_LANE; t++) {
            int64_t e = lane + 32 * t;
            if (e < D)
                s += qv[t] * kr[e];
        }
        for (int off = 16; off > 0; off >>= 1)
            s += __shfl_xor_sync(0xffffffffu, s, off);
        float mn = fmaxf(m, s);
        float alpha = expf(m - mn), p = expf(s - mn);
        l = l * alpha + p;
        m = mn;
        const float *vr = v + (b * d.lk + j) * d.v_ld + h * D;
        for (int t = 0; t < ATT_PER_LANE; t++) {
            int64_t e = lane + 32 * t;
            acc[t] = acc[t] * alpha + (e < D ? p * vr[e] : 0.0f);
        }
    }
    float *orow = o + (b * d.lq + i) * d.o_ld + h * D;
    for (int t = 0; t < ATT_PER_LANE; t++) {
        int64_t e = lane + 32 * t;
        if (e < D)
            orow[e] = acc[t] / l;
    }
}

/* ---- backend functions --------------------------------------------------- */

static int ok(cudaError_t e) { return e == cudaSuccess ? 0 : COMFY_ERR; }
static int launched(void) { return ok(cudaGetLastError()); }

static void *c_alloc(void *ctx, size_t bytes)
{
    (void)ctx;
    void *p = NULL;
    return cudaMalloc(&p, bytes ? bytes : 64) == cudaSuccess ? p : NULL;
}

static void c_free(void *ctx, void *ptr)
{
    (void)ctx;
    if (ptr)
        cudaFree(ptr);
}

static int c_upload(void *ctx, void *dst, const void *src, size_t bytes)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    return ok(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
}

static int c_download(void *ctx, void *dst, const void *src, size_t bytes)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream) != cudaSuccess)
        return COMFY_ERR;
    return ok(cudaStreamSynchronize(c->stream));
}

static int c_sync(void *ctx) { return ok(cudaStreamSynchronize(((cuda_ctx *)ctx)->stream)); }

/* y[M,N] = x[M,K] · w[N,K]ᵀ + bias: in cuBLAS's column-major terms
 * yᵀ[N,M] = w · xᵀ, i.e. op(A) = wᵀᵀ (OP_T on the [K,N] view of w). */
static int c_linear(void *ctx, const float *x, int64_t M, int64_t K, const void *w,
                    int wdt, int64_t N, const float *bias, float *y, int prec)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (M < 0 || K <= 0 || N <= 0 || !x || !w || !y || M > INT32_MAX || K > INT32_MAX ||
        N > INT32_MAX || (wdt != COMFY_F32 && wdt != COMFY_F16 && wdt != COMFY_BF16))
        return COMFY_EINVAL;
    if (M == 0)
        return 0;
    const float one = 1.0f, zero = 0.0f;
    int rc = 0;
    void *tmp_w = NULL, *tmp_x = NULL;
    if (prec == CK_PREC_BF16) {
        if (cudaMalloc(&tmp_x, (size_t)(M * K) * 2) != cudaSuccess) {
            rc = COMFY_ENOMEM;
            goto out;
        }
        k_to_bf16<<<grid_for(M * K), THREADS, 0, c->stream>>>(x, COMFY_F32,
                                                             (__nv_bfloat16 *)tmp_x, M * K);
        const void *wb = w;
        if (wdt != COMFY_BF16) {
            if (cudaMalloc(&tmp_w, (size_t)(N * K) * 2) != cudaSuccess) {
                rc = COMFY_ENOMEM;
                goto out;
            }
            k_to_bf16<<<grid_for(N * K), THREADS, 0, c->stream>>>(w, wdt,
                                                                 (__nv_bfloat16 *)tmp_w, N * K);
            wb = tmp_w;
        }
        if (cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &one,
                         wb, CUDA_R_16BF, (int)K, tmp_x, CUDA_R_16BF, (int)K, &zero, y,
                         CUDA_R_32F, (int)N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) !=
            CUBLAS_STATUS_SUCCESS)
            rc = COMFY_ERR;
    } else {
        const float *wf = (const float *)w;
        if (wdt != COMFY_F32) {
            if (cudaMalloc(&tmp_w, (size_t)(N * K) * 4) != cudaSuccess) {
                rc = COMFY_ENOMEM;
                goto out;
            }
            k_to_f32<<<grid_for(N * K), THREADS, 0, c->stream>>>(w, wdt, (float *)tmp_w, N * K);
            wf = (const float *)tmp_w;
        }
        if (cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &one, wf,
                        (int)K, x, (int)K, &zero, y, (int)N) != CUBLAS_STATUS_SUCCESS)
            rc = COMFY_ERR;
    }
    if (rc == 0 && bias) {
        k_add_bias<<<grid_for(M * N), THREADS, 0, c->stream>>>(y, bias, M, N);
        rc = launched();
    }
out:
    /* cudaFree synchronises the device, so the temporaries outlive their use */
    if (tmp_w)
        cudaFree(tmp_w);
    if (tmp_x)
        cudaFree(tmp_x);
    return rc;
}

/* cuDNN convolution, NHWC activations, OIHW (NCHW-format) f32 filters.
 * bf16 precision runs in f32 here (weights converted on the device). */
static int c_conv(void *ctx, const ck_conv2d_desc *d, const float *x, const void *w,
                  int wdt, const float *bias, float *y, int prec)
{
    (void)prec;
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!d || !x || !w || !y || d->n < 0 || d->h <= 0 || d->w <= 0 || d->c_in <= 0 ||
        d->c_out <= 0 || d->kh <= 0 || d->kw <= 0 || d->stride_h < 1 || d->stride_w < 1 ||
        d->pad_h < 0 || d->pad_w < 0 || out_h(d) <= 0 || out_w(d) <= 0 ||
        (wdt != COMFY_F32 && wdt != COMFY_F16 && wdt != COMFY_BF16))
        return COMFY_EINVAL;
    if (d->n == 0)
        return 0;
    int64_t oh = out_h(d), ow = out_w(d);
    int64_t nw = d->c_out * d->c_in * d->kh * d->kw;
    cudnnTensorDescriptor_t xd = NULL, yd = NULL;
    cudnnFilterDescriptor_t fd = NULL;
    cudnnConvolutionDescriptor_t cd = NULL;
    void *tmp_w = NULL, *ws = NULL;
    size_t ws_size = 0;
    int rc = COMFY_ERR, found = 0;
    const float one = 1.0f, zero = 0.0f;
    cudnnConvolutionFwdAlgoPerf_t perf;
    const float *wf = (const float *)w;
    if (wdt != COMFY_F32) {
        if (cudaMalloc(&tmp_w, (size_t)nw * 4) != cudaSuccess)
            return COMFY_ENOMEM;
        k_to_f32<<<grid_for(nw), THREADS, 0, c->stream>>>(w, wdt, (float *)tmp_w, nw);
        wf = (const float *)tmp_w;
    }
    if (cudnnCreateTensorDescriptor(&xd) || cudnnCreateTensorDescriptor(&yd) ||
        cudnnCreateFilterDescriptor(&fd) || cudnnCreateConvolutionDescriptor(&cd))
        goto out;
    if (cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, (int)d->n,
                                   (int)d->c_in, (int)d->h, (int)d->w) ||
        cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, (int)d->n,
                                   (int)d->c_out, (int)oh, (int)ow) ||
        cudnnSetFilter4dDescriptor(fd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, (int)d->c_out,
                                   (int)d->c_in, (int)d->kh, (int)d->kw) ||
        cudnnSetConvolution2dDescriptor(cd, (int)d->pad_h, (int)d->pad_w, (int)d->stride_h,
                                        (int)d->stride_w, 1, 1, CUDNN_CROSS_CORRELATION,
                                        CUDNN_DATA_FLOAT) ||
        cudnnSetConvolutionMathType(cd, CUDNN_FMA_MATH))
        goto out;
    if (cudnnGetConvolutionForwardAlgorithm_v7(c->dnn, xd, fd, cd, yd, 1, &found, &perf) ||
        found < 1)
        goto out;
    if (cudnnGetConvolutionForwardWorkspaceSize(c->dnn, xd, fd, cd, yd, perf.algo, &ws_size))
        goto out;
    if (ws_size && cudaMalloc(&ws, ws_size) != cudaSuccess) {
        rc = COMFY_ENOMEM;
        goto out;
    }
    if (cudnnConvolutionForward(c->dnn, &one, xd, x, fd, wf, cd, perf.algo, ws, ws_size,
                                &zero, yd, y))
        goto out;
    rc = 0;
    if (bias) {
        k_add_bias<<<grid_for(d->n * oh * ow * d->c_out), THREADS, 0, c->stream>>>(
            y, bias, d->n * oh * ow, d->c_out);
        rc = launched();
    }
out:
    if (cd) cudnnDestroyConvolutionDescriptor(cd);
    if (fd) cudnnDestroyFilterDescriptor(fd);
    if (yd) cudnnDestroyTensorDescriptor(yd);
    if (xd) cudnnDestroyTensorDescriptor(xd);
    if (ws) cudaFree(ws);
    if (tmp_w) cudaFree(tmp_w);
    return rc;
}

static int c_attention(void *ctx, const ck_attn_desc *d, const float *q, const float *k,
                       const float *v, float *o)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!d || !q || !k || !v || !o || d->batch < 0 || d->heads <= 0 || d->lq < 0 ||
        d->lk <= 0 || d->head_dim <= 0 || d->head_dim > 32 * ATT_PER_LANE ||
        d->q_ld < d->heads * d->head_dim || d->k_ld < d->heads * d->head_dim ||
        d->v_ld < d->heads * d->head_dim || d->o_ld < d->heads * d->head_dim)
        return COMFY_EINVAL;
    int64_t warps = d->batch * d->heads * d->lq;
    if (warps == 0)
        return 0;
    k_attention<<<grid_for(warps * 32), THREADS, 0, c->stream>>>(*d, q, k, v, o);
    return launched();
}

static int c_group_norm(void *ctx, const float *x, float *y, int64_t n, int64_t ch,
                        int64_t hw, int64_t groups, const float *gamma, const float *beta,
                        float eps, int layout, int silu)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!x || !y || n < 0 || ch <= 0 || hw <= 0 || groups <= 0 || ch % groups ||
        (layout != CK_LAYOUT_NCHW && layout != CK_LAYOUT_NHWC))
        return COMFY_EINVAL;
    if (n == 0)
        return 0;
    k_group_norm<<<(unsigned)(n * groups), THREADS, 0, c->stream>>>(
        x, y, ch, hw, groups, gamma, beta, eps, layout == CK_LAYOUT_NHWC, silu != 0);
    return launched();
}

static int c_layer_norm(void *ctx, const float *x, float *y, int64_t rows, int64_t cols,
                        const float *gamma, const float *beta, float eps)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!x || !y || rows < 0 || cols <= 0)
        return COMFY_EINVAL;
    if (rows == 0)
        return 0;
    k_layer_norm<<<(unsigned)rows, THREADS, 0, c->stream>>>(x, y, cols, gamma, beta, eps);
    return launched();
}

static int c_softmax(void *ctx, const float *x, float *y, int64_t rows, int64_t cols)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!x || !y || rows < 0 || cols <= 0)
        return COMFY_EINVAL;
    if (rows == 0)
        return 0;
    k_softmax<<<(unsigned)rows, THREADS, 0, c->stream>>>(x, y, cols);
    return launched();
}

static int c_activation(void *ctx, int act, const float *x, float *y, int64_t n)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!x || !y || n < 0 || act < CK_ACT_SILU || act > CK_ACT_QUICK_GELU)
        return COMFY_EINVAL;
    if (n == 0)
        return 0;
    k_act<<<grid_for(n), THREADS, 0, c->stream>>>(act, x, y, n);
    return launched();
}

static int c_geglu(void *ctx, const float *x, float *y, int64_t rows, int64_t cols)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!x || !y || rows < 0 || cols <= 0)
        return COMFY_EINVAL;
    if (rows == 0)
        return 0;
    k_geglu<<<grid_for(rows * cols), THREADS, 0, c->stream>>>(x, y, rows, cols);
    return launched();
}

static void c_destroy(ck_backend *b)
{
    if (!b)
        return;
    cuda_ctx *c = (cuda_ctx *)b->ctx;
    if (c) {
        cudaSetDevice(c->device);
        if (c->dnn) cudnnDestroy(c->dnn);
        if (c->blas) cublasDestroy(c->blas);
        if (c->stream) cudaStreamDestroy(c->stream);
        free(c);
    }
    free(b);
}

/* The entry point comfyd_kernels looks up with dlsym().  Returns a new
 * backend or NULL with *why set to a static message. */
extern "C" __attribute__((visibility("default"))) ck_backend *
ck_cuda_backend_new(int device, const char **why)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        if (why)
            *why = "no CUDA device (or no driver) present";
        return NULL;
    }
    if (device < 0 || device >= count) {
        if (why)
            *why = "CUDA device index out of range";
        return NULL;
    }
    ck_backend *b = (ck_backend *)calloc(1, sizeof(*b));
    cuda_ctx *c = (cuda_ctx *)calloc(1, sizeof(*c));
    if (!b || !c) {
        free(b);
        free(c);
        if (why)
            *why = "out of memory";
        return NULL;
    }
    b->ctx = c;
    c->device = device;
    if (cudaSetDevice(device) != cudaSuccess ||
        cudaStreamCreate(&c->stream) != cudaSuccess ||
        cublasCreate(&c->blas) != CUBLAS_STATUS_SUCCESS ||
        cublasSetStream(c->blas, c->stream) != CUBLAS_STATUS_SUCCESS ||
        cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS ||
        cudnnCreate(&c->dnn) != CUDNN_STATUS_SUCCESS ||
        cudnnSetStream(c->dnn, c->stream) != CUDNN_STATUS_SUCCESS) {
        c_destroy(b);
        if (why)
            *why = "CUDA, cuBLAS or cuDNN initialisation failed";
        return NULL;
    }
    b->size = sizeof(*b);
    b->name = "cuda";
    b->alloc = c_alloc;
    b->free = c_free;
    b->upload = c_upload;
    b->download = c_download;
    b->sync = c_sync;
    b->linear = c_linear;
    b->conv2d_nhwc = c_conv;
    b->attention = c_attention;
    b->group_norm = c_group_norm;
    b->layer_norm = c_layer_norm;
    b->softmax = c_softmax;
    b->activation = c_activation;
    b->geglu = c_geglu;
    b->destroy = c_destroy;
    return b;
}
