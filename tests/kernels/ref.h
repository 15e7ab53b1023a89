/*
 * ref.h — naive reference implementations of the kernels, used only by the
 * tests.  Straight from the definitions, accumulating in double.
 */
#ifndef CK_TEST_REF_H
#define CK_TEST_REF_H

#include <stdint.h>

#include <comfyd/kernels.h>

void ref_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc);
/* w is f32 [N,K] (already rounded when testing bf16) */
void ref_linear(const float *x, int64_t M, int64_t K, const float *w, int64_t N,
                const float *bias, float *y);
/* x NHWC, w OIHW f32 */
void ref_conv2d(const ck_conv2d_desc *d, const float *x, const float *w,
                const float *bias, float *y);
void ref_attention(const ck_attn_desc *d, const float *q, const float *k,
                   const float *v, float *o);
void ref_group_norm(const float *x, float *y, int64_t n, int64_t c, int64_t hw,
                    int64_t groups, const float *gamma, const float *beta,
                    float eps, int layout, int silu);
void ref_layer_norm(const float *x, float *y, int64_t rows, int64_t cols,
                    const float *gamma, const float *beta, float eps);
void ref_softmax(const float *x, float *y, int64_t rows, int64_t cols);
float ref_act(int act, float x);
void ref_resize(int mode, const float *x, int64_t n, int64_t h, int64_t w,
                int64_t c, float *y, int64_t oh, int64_t ow);

#endif
