/*
 * attention.c — scaled dot-product attention in flash form.
 *
 * First K is packed per (batch, head) as Kᵀ in key blocks [Lk'/BK][D][BK]
 * and V as [Lk'][D']
 * (Lk' = Lk rounded up to the key block, D' = D rounded up to 16, padding
 * zero).  Then one pool task per (batch, head, block of BQ query rows)
 * walks the keys in blocks of BK: S = Q·Kᵀ for R rows at a time, an online
 * softmax (running max m and sum l per row, earlier output rescaled by
 * 2^(m_old - m_new)), and O += P·V.  Scores use base 2: Q is pre-scaled by
 * scale·log2(e).  The Lq×Lk score matrix is never materialised: a thread
 * holds R×BK scores at a time.
 *
 * Three kernels, chosen at run time by ck_cpu_features(): AVX-512
 * intrinsics (R = 6 rows × 64 keys of scores in 24 registers), its bf16
 * twin for CK_PREC_BF16 (vdpbf16ps on bf16 pairs: Kᵀ paired along D, V and
 * P paired along keys; the softmax stays f32), and portable C (built per
 * CPU by CK_CLONES).
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

#if defined(CK_X86_INTRIN)
#include <immintrin.h>
#endif

#define BQ 96
#define BK 64
#define R 6

struct attn_job {
    const ck_attn_desc *d;
    const float *q, *k, *v;
    float *o;
    int64_t D, Dp, lkp, qblocks;
    float *kt, *vp;        /* packed, [B*H] blocks                         */
    float *scratch;        /* per thread                                   */
    size_t per_thread;     /* floats                                       */
    int avx512;
    int bf16;              /* the AVX-512 BF16 path: kt, vp hold bf16 pairs */
    int64_t D2;            /* head_dim rounded up to even (bf16 pairs)     */
};

static void pack_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct attn_job *j = arg;
    const ck_attn_desc *d = j->d;
    int64_t b = t / d->heads, h = t % d->heads;
    float *kt = j->kt + t * j->D * j->lkp;
    float *vp = j->vp + t * j->lkp * j->Dp;
    for (int64_t l = 0; l < j->lkp; l++) {
        int real = l < d->lk;
        const float *kr = j->k + (b * d->lk + l) * d->k_ld + h * j->D;
        const float *vr = j->v + (b * d->lk + l) * d->v_ld + h * j->D;
        /* key blocks contiguous: [block][D][BK], so a block's rows do not
         * alias in L1 as a [D][Lk] layout with a large Lk stride would */
        float *kb = kt + (l / BK) * j->D * BK + l % BK;
        for (int64_t e = 0; e < j->D; e++)
            kb[e * BK] = real ? kr[e] : 0.0f;
        for (int64_t e = 0; e < j->Dp; e++)
            vp[l * j->Dp + e] = real && e < j->D ? vr[e] : 0.0f;
    }
}

/* bf16 packing: Kᵀ as [Lk'/BK][D2/2][BK][2] (pairs along D, for the score
 * dot products) and V as [Lk'/2][Dp][2] (pairs along keys, for P·V). */
static void pack_bf16_task(void *arg, int64_t t, int thread)
{
    (void)thread;
    struct attn_job *j = arg;
    const ck_attn_desc *d = j->d;
    int64_t b = t / d->heads, h = t % d->heads;
    uint16_t *kt = (uint16_t *)j->kt + t * j->D2 * j->lkp;
    uint16_t *vp = (uint16_t *)j->vp + t * j->lkp * j->Dp;
    for (int64_t l = 0; l < j->lkp; l++) {
        int real = l < d->lk;
        const float *kr = j->k + (b * d->lk + l) * d->k_ld + h * j->D;
        const float *vr = j->v + (b * d->lk + l) * d->v_ld + h * j->D;
        uint16_t *kb = kt + (l / BK) * j->D2 * BK + (l % BK) * 2;
        for (int64_t e = 0; e < j->D2; e++)
            kb[(e / 2) * BK * 2 + e % 2] =
                real && e < j->D ? ck_f32_to_bf16_1(kr[e]) : 0;
        uint16_t *vb = vp + (l / 2) * j->Dp * 2 + l % 2;
        for (int64_t e = 0; e < j->Dp; e++)
            vb[e * 2] = real && e < j->D ? ck_f32_to_bf16_1(vr[e]) : 0;
    }
}

/* ---- portable kernel ---------------------------------------------------- */

/* One block of keys (cnt at k0) for `rows` query rows, one row at a time:
 * scores into s, online softmax with scalar m and l, then acc += P·V. */
CK_CLONES
static void block_generic(const float *qs, float *acc, float *m, float *l,
                          float *s, const float *kt, const float *vp,
                          int64_t D, int64_t Dp, int64_t k0,
                          int64_t cnt, int64_t rows)
{
    for (int64_t r = 0; r < rows; r++) {
        float *sr = s;
        for (int64_t c = 0; c < cnt; c++)
            sr[c] = 0.0f;
        for (int64_t e = 0; e < D; e++) {
            float qv = qs[r * Dp + e];
            const float *kr = kt + (k0 / BK) * D * BK + e * BK;
            for (int64_t c = 0; c < cnt; c++)
                sr[c] += qv * kr[c];
        }
        float mx = m[r];
        for (int64_t c = 0; c < cnt; c++)
            mx = sr[c] > mx ? sr[c] : mx;
        float alpha = ck_expf((m[r] - mx) * 0.6931471805599453f);
        float sum = 0.0f;
        for (int64_t c = 0; c < cnt; c++) {
            sr[c] = ck_expf((sr[c] - mx) * 0.6931471805599453f);
            sum += sr[c];
        }
        l[r] = l[r] * alpha + sum;
        m[r] = mx;
        float *ar = acc + r * Dp;
        for (int64_t e = 0; e < Dp; e++)
            ar[e] *= alpha;
        for (int64_t c = 0; c < cnt; c++) {
            float pv = sr[c];
            const float *vr = vp + (k0 + c) * Dp;
            for (int64_t e = 0; e < Dp; e++)
                ar[e] += pv * vr[e];
        }
    }
}

/* ---- AVX-512 kernel ----------------------------------------------------- */

#if defined(CK_X86_INTRIN)
#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl")))

/* 2^x for x <= 0 (x = -inf gives ~0): rounding split, degree-6 polynomial
 * on [-0.5, 0.5], scalef for the exponent. */
AVX512 static inline __m512 exp2_512(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-127.0f));
    __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(x, n);
    __m512 p = _mm512_set1_ps(1.5353362e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3398874e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6184057e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5503406e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022650e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* o[R][nv*16] (row stride ld) += P[R][cnt] · V[cnt][nv*16] (row stride
 * ld); nv is a constant at each call so the loops unroll. */
AVX512 __attribute__((always_inline)) static inline void
pv_chunk(const int nv, float *o, int64_t ld, const float *s, const float *v,
         int64_t cnt)
{
    __m512 acc[R][4];
    for (int r = 0; r < R; r++)
        for (int u = 0; u < nv; u++)
            acc[r][u] = _mm512_loadu_ps(o + r * ld + 16 * u);
    for (int64_t cc = 0; cc < cnt; cc++) {
        __m512 vv[4];
        for (int u = 0; u < nv; u++)
            vv[u] = _mm512_loadu_ps(v + cc * ld + 16 * u);
        for (int r = 0; r < R; r++) {
            __m512 pv = _mm512_set1_ps(s[r * BK + cc]);
            for (int u = 0; u < nv; u++)
                acc[r][u] = _mm512_fmadd_ps(pv, vv[u], acc[r][u]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int u = 0; u < nv; u++)
            _mm512_storeu_ps(o + r * ld + 16 * u, acc[r][u]);
}

/* c[r][u] = Σ_e qs[r][e] · kb[e][16u..16u+15] for R rows and nk vectors
 * of keys; nk is a constant at each call so the loops unroll. */
AVX512 __attribute__((always_inline)) static inline void
scores(const int nk, const float *qs, int64_t Dp, const float *kb, int64_t D,
       __m512 c[R][4])
{
    __m512 acc[R][4];
    for (int r = 0; r < R; r++)
        for (int u = 0; u < nk; u++)
            acc[r][u] = _mm512_setzero_ps();
    for (int64_t e = 0; e < D; e++) {
        __m512 kv[4];
        for (int u = 0; u < nk; u++)
            kv[u] = _mm512_loadu_ps(kb + e * BK + 16 * u);
        for (int r = 0; r < R; r++) {
            __m512 qv = _mm512_set1_ps(qs[r * Dp + e]);
            for (int u = 0; u < nk; u++)
                acc[r][u] = _mm512_fmadd_ps(qv, kv[u], acc[r][u]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int u = 0; u < nk; u++)
            c[r][u] = acc[r][u];
}

/* The online-softmax step of one block for R rows.  c holds the scores
 * (nk vectors, cnt real keys); on return c[r][u] = 2^(score - m[r]).  The
 * row max m moves lazily: only when the block's max exceeds it by more than
 * 8 (so P stays below 2^8), and then the running sums lv (16 lanes per row,
 * reduced at the end) and the output rows acc are rescaled. */
AVX512 __attribute__((always_inline)) static inline void
softmax_step(__m512 c[R][4], int nk, int64_t cnt, float *m, float *lv,
             float *acc, int64_t Dp)
{
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (int r = 0; r < R; r++) {
        if (cnt < BK)
            for (int u = 0; u < nk; u++) {
                int64_t left = cnt - 16 * u;
                __mmask16 keep = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
                c[r][u] = _mm512_mask_blend_ps(keep, ninf, c[r][u]);
            }
        __m512 mx4 = c[r][0];
        for (int u = 1; u < nk; u++)
            mx4 = _mm512_max_ps(mx4, c[r][u]);
        float mx = _mm512_reduce_max_ps(mx4);
        __m512 sum = _mm512_loadu_ps(lv + r * 16);
        if (m[r] == -INFINITY) {
            m[r] = mx;
        } else if (mx > m[r] + 8.0f) {
            __m512 al = exp2_512(_mm512_set1_ps(m[r] - mx));
            sum = _mm512_mul_ps(sum, al);
            float *ar = acc + r * Dp;
            for (int64_t e = 0; e < Dp; e += 16)
                _mm512_storeu_ps(ar + e, _mm512_mul_ps(al, _mm512_loadu_ps(ar + e)));
            m[r] = mx;
        }
        __m512 mv = _mm512_set1_ps(m[r]);
        for (int u = 0; u < nk; u++) {
            c[r][u] = exp2_512(_mm512_sub_ps(c[r][u], mv));
            sum = _mm512_add_ps(sum, c[r][u]);
        }
        _mm512_storeu_ps(lv + r * 16, sum);
    }
}

/* One block of R rows × BK keys (cnt real keys at k0). */
AVX512 static void block_avx512(const float *qs, float *acc, float *m, float *l,
                                float *s, const float *kt, const float *vp,
                                int64_t D, int64_t Dp, int64_t k0,
                                int64_t cnt)
{
    __m512 c[R][4];
    /* only the 16-key vectors that hold real keys (cross-attention has 77) */
    int nk = (int)((cnt + 15) / 16);
    const float *kb = kt + (k0 / BK) * D * BK;
    switch (nk) {
    case 4: scores(4, qs, Dp, kb, D, c); break;
    case 3: scores(3, qs, Dp, kb, D, c); break;
    case 2: scores(2, qs, Dp, kb, D, c); break;
    default: scores(1, qs, Dp, kb, D, c); break;
    }
    softmax_step(c, nk, cnt, m, l, acc, Dp);
    for (int r = 0; r < R; r++)
        for (int u = 0; u < nk; u++)
            _mm512_storeu_ps(s + r * BK + 16 * u, c[r][u]);
    /* O[R][Dp] += P[R][cnt] · V[cnt][Dp], 64 columns of D at a time */
    const float *vb = vp + k0 * Dp;
    for (int64_t e0 = 0; e0 < Dp; e0 += 64) {
        switch ((int)CK_MIN(4, (Dp - e0) / 16)) {
        case 4: pv_chunk(4, acc + e0, Dp, s, vb + e0, cnt); break;
        case 3: pv_chunk(3, acc + e0, Dp, s, vb + e0, cnt); break;
        case 2: pv_chunk(2, acc + e0, Dp, s, vb + e0, cnt); break;
        default: pv_chunk(1, acc + e0, Dp, s, vb + e0, cnt); break;
        }
    }
}

#define AVX512BF16 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx512bf16")))

/* scores with bf16 pairs: c[r][u] = Σ_pairs qb[r] · kb (nk vectors of 16
 * keys); qb rows are D2/2 32-bit words (two bf16 each). */
AVX512BF16 __attribute__((always_inline)) static inline void
scores_bf16(const int nk, const uint32_t *qb, int64_t D2, const uint16_t *kb,
            __m512 c[R][4])
{
    __m512 acc[R][4];
    for (int r = 0; r < R; r++)
        for (int u = 0; u < nk; u++)
            acc[r][u] = _mm512_setzero_ps();
    for (int64_t e2 = 0; e2 < D2 / 2; e2++) {
        __m512bh kv[4];
        for (int u = 0; u < nk; u++)
            kv[u] = (__m512bh)_mm512_loadu_si512(kb + (e2 * BK + 16 * u) * 2);
        for (int r = 0; r < R; r++) {
            __m512bh qv = (__m512bh)_mm512_set1_epi32((int)qb[r * (D2 / 2) + e2]);
            for (int u = 0; u < nk; u++)
                acc[r][u] = _mm512_dpbf16_ps(acc[r][u], qv, kv[u]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int u = 0; u < nk; u++)
            c[r][u] = acc[r][u];
}

/* o[R][nv*16] += P[R][cnt] · V with P as bf16 pairs (sp, row stride BK
 * bf16) and V as pairs along keys (vb, row pair stride ld*2 bf16). */
AVX512BF16 __attribute__((always_inline)) static inline void
pv_chunk_bf16(const int nv, float *o, int64_t ld, const uint16_t *sp,
              const uint16_t *vb, int64_t pairs)
{
    __m512 acc[R][4];
    for (int r = 0; r < R; r++)
        for (int u = 0; u < nv; u++)
            acc[r][u] = _mm512_loadu_ps(o + r * ld + 16 * u);
    for (int64_t j2 = 0; j2 < pairs; j2++) {
        __m512bh vv[4];
        for (int u = 0; u < nv; u++)
            vv[u] = (__m512bh)_mm512_loadu_si512(vb + (j2 * ld + 16 * u) * 2);
        for (int r = 0; r < R; r++) {
            uint32_t w;
            memcpy(&w, sp + r * BK + 2 * j2, 4);
            __m512bh pv = (__m512bh)_mm512_set1_epi32((int)w);
            for (int u = 0; u < nv; u++)
                acc[r][u] = _mm512_dpbf16_ps(acc[r][u], pv, vv[u]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int u = 0; u < nv; u++)
            _mm512_storeu_ps(o + r * ld + 16 * u, acc[r][u]);
}

/* The bf16 twin of block_avx512: same online softmax in f32. */
AVX512BF16 static void block_bf16(const uint32_t *qb, float *acc, float *m, float *l,
                                  uint16_t *sp, const uint16_t *kt, const uint16_t *vp,
                                  int64_t D2, int64_t Dp, int64_t k0, int64_t cnt)
{
    __m512 c[R][4];
    int nk = (int)((cnt + 15) / 16);
    const uint16_t *kb = kt + (k0 / BK) * D2 * BK;
    switch (nk) {
    case 4: scores_bf16(4, qb, D2, kb, c); break;
    case 3: scores_bf16(3, qb, D2, kb, c); break;
    case 2: scores_bf16(2, qb, D2, kb, c); break;
    default: scores_bf16(1, qb, D2, kb, c); break;
    }
    softmax_step(c, nk, cnt, m, l, acc, Dp);
    for (int r = 0; r < R; r++)
        for (int u = 0; u < nk; u++) {
            __m256bh pb = _mm512_cvtneps_pbh(c[r][u]);
            memcpy(sp + r * BK + 16 * u, &pb, 32);
        }
    int64_t pairs = (cnt + 1) / 2; /* an odd tail pairs with a zero V row */
    const uint16_t *vb = vp + (k0 / 2) * Dp * 2;
    for (int64_t e0 = 0; e0 < Dp; e0 += 64) {
        switch ((int)CK_MIN(4, (Dp - e0) / 16)) {
        case 4: pv_chunk_bf16(4, acc + e0, Dp, sp, vb + e0 * 2, pairs); break;
        case 3: pv_chunk_bf16(3, acc + e0, Dp, sp, vb + e0 * 2, pairs); break;
        case 2: pv_chunk_bf16(2, acc + e0, Dp, sp, vb + e0 * 2, pairs); break;
        default: pv_chunk_bf16(1, acc + e0, Dp, sp, vb + e0 * 2, pairs); break;
        }
    }
}
#endif

/* qs = q row * scale, zero-padded to Dp (zeros for a padding row, q NULL);
 * acc row = 0. */
CK_CLONES
static void load_row(float *qs, float *acc, const float *q, int64_t D, int64_t Dp,
                     float scale)
{
    int64_t n = q ? D : 0;
    for (int64_t e = 0; e < n; e++)
        qs[e] = q[e] * scale;
    for (int64_t e = n; e < Dp; e++)
        qs[e] = 0.0f;
    for (int64_t e = 0; e < Dp; e++)
        acc[e] = 0.0f;
}

/* The sum of a row's 16 partial sums (AVX-512 kernels). */
static float lane_sum(const float *v)
{
    double s = 0;
    for (int i = 0; i < 16; i++)
        s += v[i];
    return (float)s;
}

CK_CLONES
static void store_row(float *o, const float *acc, int64_t D, float inv)
{
    for (int64_t e = 0; e < D; e++)
        o[e] = acc[e] * inv;
}

static void attn_task(void *arg, int64_t t, int thread)
{
    struct attn_job *j = arg;
    const ck_attn_desc *d = j->d;
    int64_t bh = t / j->qblocks, qb = t % j->qblocks;
    int64_t b = bh / d->heads, h = bh % d->heads;
    int64_t q0 = qb * BQ, rows = CK_MIN(BQ, d->lq - q0);
    int64_t D = j->D, Dp = j->Dp;
    float *qs = j->scratch + (size_t)thread * j->per_thread;
    float *acc = qs + BQ * Dp;
    float *m = acc + BQ * Dp;
    float *l = m + BQ;     /* generic: BQ sums; AVX-512: BQ x 16 lanes     */
    float *s = l + BQ * 16;
    const float *kt = j->kt + bh * D * j->lkp;
    const float *vp = j->vp + bh * j->lkp * Dp;
    const float qscale = d->scale * 1.4426950408889634f;
    int64_t rows_r = (rows + R - 1) / R * R;
    for (int64_t r = 0; r < rows_r; r++) {
        const float *qr = r < rows ? j->q + (b * d->lq + q0 + r) * d->q_ld + h * D : NULL;
        load_row(qs + r * Dp, acc + r * Dp, qr, D, Dp, qscale);
        m[r] = -INFINITY;
    }
    memset(l, 0, (size_t)(BQ * 16) * sizeof(float));
#if defined(CK_X86_INTRIN)
    if (j->bf16) {
        /* q rows as bf16 pairs, in the scores buffer's place */
        uint32_t *qb = (uint32_t *)s;
        uint16_t *sp = (uint16_t *)(qb + BQ * (j->D2 / 2));
        for (int64_t r = 0; r < rows_r; r++) /* pairs: little-endian halves */
            ck_f32_to_bf16(NULL, qs + r * Dp, (uint16_t *)(qb + r * (j->D2 / 2)), j->D2);
        const uint16_t *kt16 = (const uint16_t *)j->kt + bh * j->D2 * j->lkp;
        const uint16_t *vp16 = (const uint16_t *)j->vp + bh * j->lkp * Dp;
        for (int64_t k0 = 0; k0 < d->lk; k0 += BK)
            for (int64_t r = 0; r < rows_r; r += R)
                block_bf16(qb + r * (j->D2 / 2), acc + r * Dp, m + r, l + r * 16, sp,
                           kt16, vp16, j->D2, Dp, k0, CK_MIN(BK, d->lk - k0));
        for (int64_t r = 0; r < rows; r++)
            store_row(j->o + (b * d->lq + q0 + r) * d->o_ld + h * D, acc + r * Dp, D,
                      1.0f / lane_sum(l + r * 16));
        return;
    }
#endif
    for (int64_t k0 = 0; k0 < d->lk; k0 += BK) {
        int64_t cnt = CK_MIN(BK, d->lk - k0);
#if defined(CK_X86_INTRIN)
        if (j->avx512) {
            for (int64_t r = 0; r < rows_r; r += R)
                block_avx512(qs + r * Dp, acc + r * Dp, m + r, l + r * 16, s, kt, vp,
                             D, Dp, k0, cnt);
            continue;
        }
#endif
        block_generic(qs, acc, m, l, s, kt, vp, D, Dp, k0, cnt, rows);
    }
    for (int64_t r = 0; r < rows; r++)
        store_row(j->o + (b * d->lq + q0 + r) * d->o_ld + h * D, acc + r * Dp, D,
                  1.0f / (j->avx512 ? lane_sum(l + r * 16) : l[r]));
}

int ck_attention(ck_pool *p, const ck_attn_desc *d, const float *q,
                 const float *k, const float *v, float *o)
{
    return ck_attention_prec(p, d, CK_PREC_F32, q, k, v, o);
}

int ck_attention_prec(ck_pool *p, const ck_attn_desc *d, int prec,
                      const float *q, const float *k, const float *v, float *o)
{
    if (!d || !q || !k || !v || !o || d->batch < 0 || d->heads <= 0 ||
        d->lq < 0 || d->lk <= 0 || d->head_dim <= 0 ||
        d->q_ld < d->heads * d->head_dim || d->k_ld < d->heads * d->head_dim ||
        d->v_ld < d->heads * d->head_dim || d->o_ld < d->heads * d->head_dim ||
        d->head_dim > 4096 || (prec != CK_PREC_F32 && prec != CK_PREC_BF16))
        return COMFY_EINVAL;
    if (d->batch == 0 || d->lq == 0)
        return 0;
    struct attn_job j = { 0 };
    j.d = d;
    j.q = q;
    j.k = k;
    j.v = v;
    j.o = o;
    j.D = d->head_dim;
    j.Dp = (j.D + 15) / 16 * 16;
    j.lkp = (d->lk + BK - 1) / BK * BK;
    j.qblocks = (d->lq + BQ - 1) / BQ;
    j.avx512 = (ck_cpu_features() & CK_CPU_AVX512) != 0;
#if defined(CK_X86_INTRIN)
    /* bf16 pays off once packing is amortised over many queries and keys;
     * short sequences run the f32 kernel (more precise, and as fast) */
    j.bf16 = prec == CK_PREC_BF16 && (ck_cpu_features() & CK_CPU_AVX512BF16) &&
             d->lq >= 512 && d->lk >= 128;
#endif
    j.D2 = (j.D + 1) / 2 * 2;
    int64_t bh = d->batch * d->heads;
    int nt = ck_pool_threads(p);
    /* the scores area also holds the bf16 q pairs and P: BQ*D2/2 + R*BK/2
     * floats, within BQ*Dp + R*BK */
    j.per_thread = (size_t)(3 * BQ * j.Dp + 17 * BQ + R * BK + 16);
    j.kt = ck_alloc((size_t)bh * (size_t)j.lkp * (size_t)(j.D2 + j.Dp) * sizeof(float));
    j.scratch = ck_alloc((size_t)nt * j.per_thread * sizeof(float));
    if (!j.kt || !j.scratch) {
        ck_free(j.kt);
        ck_free(j.scratch);
        return COMFY_ENOMEM;
    }
    if (j.bf16) {
        j.vp = (float *)((uint16_t *)j.kt + bh * j.lkp * j.D2);
        ck_pool_run(p, bh, pack_bf16_task, &j);
    } else {
        j.vp = j.kt + bh * j.lkp * j.D;
        ck_pool_run(p, bh, pack_task, &j);
    }
    ck_pool_run(p, bh * j.qblocks, attn_task, &j);
    ck_free(j.kt);
    ck_free(j.scratch);
    return 0;
}
