/*
 * gemm.c — our own blocked SGEMM: the fallback when oneDNN is absent or
 * switched off, and the reference speed for the benchmark.
 *
 * C is cut into MC×NC tiles, one pool task each.  A task walks K in KC
 * steps, packs its slice of A into MR-row strips and of B into NR-column
 * panels, and runs an MR×NR register-blocked micro-kernel written with GCC
 * vector extensions (16 floats per vector), built per CPU by CK_CLONES.
 */
#include <stdlib.h>

#include "internal.h"

#define MR 6
#define NR 32
#define MC 96
#define NC 512
#define KC 256

typedef float v16 __attribute__((vector_size(64), aligned(4)));

struct gemm_job {
    int ta, tb;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    int64_t lda, ldb, ldc;
    float *C;
    int64_t tiles_n, mrows; /* column tiles; rows per task (MC multiple)  */
    float *scratch;       /* per thread: MC*KC + KC*NC floats             */
};

/* Packs rows [i0, i0+mc) x [k0, k0+kc) of op(A) as strips [kc][MR]. */
static void pack_a(const struct gemm_job *j, int64_t i0, int64_t mc, int64_t k0,
                   int64_t kc, float *dst)
{
    for (int64_t s = 0; s < mc; s += MR) {
        int64_t rows = CK_MIN(MR, mc - s);
        if (rows < MR)
            memset(dst, 0, (size_t)(kc * MR) * sizeof(float));
        for (int64_t r = 0; r < rows; r++) {
            if (!j->ta) { /* row r of A is contiguous along k */
                const float *src = j->A + (i0 + s + r) * j->lda + k0;
                for (int64_t k = 0; k < kc; k++)
                    dst[k * MR + r] = src[k];
            } else {
                for (int64_t k = 0; k < kc; k++)
                    dst[k * MR + r] = j->A[(k0 + k) * j->lda + i0 + s + r];
            }
        }
        dst += kc * MR;
    }
}

/* Packs [k0, k0+kc) x columns [n0, n0+nc) of op(B) as panels [kc][NR]. */
static void pack_b(const struct gemm_job *j, int64_t n0, int64_t nc, int64_t k0,
                   int64_t kc, float *dst)
{
    for (int64_t s = 0; s < nc; s += NR) {
        int64_t cols = CK_MIN(NR, nc - s);
        if (cols < NR)
            memset(dst, 0, (size_t)(kc * NR) * sizeof(float));
        if (!j->tb) { /* rows of B are contiguous along n */
            for (int64_t k = 0; k < kc; k++)
                memcpy(dst + k * NR, j->B + (k0 + k) * j->ldb + n0 + s,
                       (size_t)cols * sizeof(float));
        } else {      /* B is [N, K] (a linear layer's weight): column c is a row */
            for (int64_t c = 0; c < cols; c++) {
                const float *src = j->B + (n0 + s + c) * j->ldb + k0;
                for (int64_t k = 0; k < kc; k++)
                    dst[k * NR + c] = src[k];
            }
        }
        dst += kc * NR;
    }
}

/* acc = Ap[kc][MR] · Bp[kc][NR]; C[rows, cols] += alpha * acc. */
CK_CLONES
static void micro(int64_t kc, const float *ap, const float *bp, float *c,
                  int64_t ldc, int64_t rows, int64_t cols, float alpha)
{
    v16 acc[MR][2];
    for (int r = 0; r < MR; r++)
        acc[r][0] = acc[r][1] = (v16){ 0 };
    for (int64_t k = 0; k < kc; k++) {
        v16 b0, b1;
        memcpy(&b0, bp + k * NR, 64);
        memcpy(&b1, bp + k * NR + 16, 64);
        for (int r = 0; r < MR; r++) {
            float a = ap[k * MR + r];
            acc[r][0] += a * b0;
            acc[r][1] += a * b1;
        }
    }
    if (rows == MR && cols == NR) {
        for (int r = 0; r < MR; r++) {
            v16 c0, c1;
            memcpy(&c0, c + r * ldc, 64);
            memcpy(&c1, c + r * ldc + 16, 64);
            c0 += alpha * acc[r][0];
            c1 += alpha * acc[r][1];
            memcpy(c + r * ldc, &c0, 64);
            memcpy(c + r * ldc + 16, &c1, 64);
        }
        return;
    }
    float tmp[MR][NR];
    memcpy(tmp, acc, sizeof(tmp));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t q = 0; q < cols; q++)
            c[r * ldc + q] += alpha * tmp[r][q];
}

/* One task: rows [i0, i0 + mrows) x columns [n0, n0 + NC); B's panel for a
 * K block is packed once and reused by every MC-row strip of A. */
static void gemm_task(void *arg, int64_t t, int thread)
{
    struct gemm_job *j = arg;
    int64_t i0 = (t / j->tiles_n) * j->mrows, n0 = (t % j->tiles_n) * NC;
    int64_t mrows = CK_MIN(j->mrows, j->M - i0), nc = CK_MIN(NC, j->N - n0);
    float *ap = j->scratch + (size_t)thread * (MC * KC + KC * NC);
    float *bp = ap + MC * KC;
    for (int64_t i = 0; i < mrows; i++) {
        float *c = j->C + (i0 + i) * j->ldc + n0;
        if (j->beta == 0.0f)
            memset(c, 0, (size_t)nc * sizeof(float));
        else if (j->beta != 1.0f)
            for (int64_t q = 0; q < nc; q++)
                c[q] *= j->beta;
    }
    for (int64_t k0 = 0; k0 < j->K; k0 += KC) {
        int64_t kc = CK_MIN(KC, j->K - k0);
        pack_b(j, n0, nc, k0, kc, bp);
        for (int64_t m0 = 0; m0 < mrows; m0 += MC) {
            int64_t mc = CK_MIN(MC, mrows - m0);
            pack_a(j, i0 + m0, mc, k0, kc, ap);
            for (int64_t s = 0; s < nc; s += NR)
                for (int64_t r = 0; r < mc; r += MR)
                    micro(kc, ap + (r / MR) * kc * MR, bp + (s / NR) * kc * NR,
                          j->C + (i0 + m0 + r) * j->ldc + n0 + s, j->ldc,
                          CK_MIN(MR, mc - r), CK_MIN(NR, nc - s), j->alpha);
        }
    }
}

int ck_gemm_own(ck_pool *p, int ta, int tb, int64_t M, int64_t N, int64_t K,
                float alpha, const float *A, int64_t lda, const float *B,
                int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M == 0 || N == 0)
        return 0;
    int nt = ck_pool_threads(p);
    struct gemm_job j = { ta, tb, M, N, K, alpha, beta, A, B, lda, ldb, ldc,
                          C, (N + NC - 1) / NC, MC, NULL };
    /* as many rows per task as still leaves ~3 tasks per thread */
    int64_t strips = (M + MC - 1) / MC;
    int64_t per = strips * j.tiles_n / (3 * nt);
    j.mrows = MC * CK_MAX(1, CK_MIN(8, per / CK_MAX(j.tiles_n, 1)));
    j.scratch = ck_alloc((size_t)nt * (MC * KC + KC * NC) * sizeof(float));
    if (!j.scratch)
        return COMFY_ENOMEM;
    ck_pool_run(p, ((M + j.mrows - 1) / j.mrows) * j.tiles_n, gemm_task, &j);
    ck_free(j.scratch);
    return 0;
}

int ck_gemm_f32(ck_pool *p, int ta, int tb, int64_t M, int64_t N, int64_t K,
                float alpha, const float *A, int64_t lda, const float *B,
                int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M < 0 || N < 0 || K < 0 || !C || (K > 0 && (!A || !B)) ||
        ldc < CK_MAX(N, 1) || lda < CK_MAX(ta ? M : K, 1) ||
        ldb < CK_MAX(tb ? K : N, 1))
        return COMFY_EINVAL;
    if (ck_pool_dnnl_on(p)) {
        int rc = ck_dnnl_gemm_f32(p, ta, tb, M, N, K, alpha, A, lda, B, ldb,
                                  beta, C, ldc);
        if (rc <= 0)
            return rc;
    }
    return ck_gemm_own(p, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
