/*
 * torch_rng.c - torch's CPU MT19937 and randn (see torch_rng.h and
 * shared/spec/torch-rng.md).  Compiled with -ffp-contract=off: every fused
 * multiply-add below is an explicit fmaf(), every other operation rounds.
 */
#include "torch_rng.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void cd_torch_gen_seed(cd_torch_gen *g, uint64_t seed)
{
  uint32_t s = (uint32_t)seed;
  g->mt[0] = s;
  for (int i = 1; i < CD_TORCH_MT_N; i++)
    g->mt[i] = 1812433253u * (g->mt[i - 1] ^ (g->mt[i - 1] >> 30)) + (uint32_t)i;
  g->left = 1;
  g->next = 0;
  g->normal_cache = 0.0;
  g->normal_cache_valid = 0;
  g->variant = CD_TORCH_RANDN_AVX2_FMA;
}

static void regenerate(cd_torch_gen *g)
{
  uint32_t *mt = g->mt;
  for (int k = 0; k < CD_TORCH_MT_N; k++) {
    uint32_t nx = mt[(k + 1) % CD_TORCH_MT_N];
    uint32_t m = (mt[k] & 0x80000000u) | (nx & 0x7fffffffu);
    mt[k] = mt[(k + 397) % CD_TORCH_MT_N] ^ (m >> 1) ^ ((nx & 1u) ? 0x9908b0dfu : 0u);
  }
  g->left = CD_TORCH_MT_N;
  g->next = 0;
}

uint32_t cd_torch_gen_u32(cd_torch_gen *g)
{
  if (--g->left == 0)
    regenerate(g);
  uint32_t y = g->mt[g->next++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

float cd_torch_gen_uniform_f32(cd_torch_gen *g)
{
  return (float)(cd_torch_gen_u32(g) & 0xffffffu) * 0x1p-24f;
}

double cd_torch_gen_uniform_f64(cd_torch_gen *g)
{
  uint64_t hi = cd_torch_gen_u32(g);
  uint64_t lo = cd_torch_gen_u32(g);
  uint64_t v = (hi << 32) | lo;
  return (double)(v & ((UINT64_C(1) << 53) - 1)) * 0x1p-53;
}

/* ---- the AVX2 kernel's maths, one lane at a time ---- */

static float fbits(uint32_t b)
{
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}

static uint32_t bitsf(float f)
{
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

/* With fused == 0 the same sequence runs with every fma split into a rounded
 * product and a rounded sum (the uncontracted build). */
static inline __attribute__((always_inline)) float mad(int fused, float a, float b, float c)
{
  if (fused)
    return fmaf(a, b, c);
  float p = a * b;
  return p + c;
}

static inline __attribute__((always_inline)) float log_avx2(int fused, float xin)
{
  static const uint32_t pb[9] = {0x3d9021bb, 0xbdebd1b8, 0x3def251a, 0xbdfe5d4f, 0x3e11e9bf,
                                 0xbe2aae50, 0x3e4cceac, 0xbe7ffffc, 0x3eaaaaaa};
  uint32_t b = bitsf(xin);
  float e = (float)((int)(b >> 23) - 127) + 1.0f;
  float m = fbits((b & 0x007fffffu) | 0x3f000000u);
  /* branch-free (both forms are exact) so the 8 lanes can vectorise */
  int lo = m < fbits(0x3f3504f3);
  e = lo ? e - 1.0f : e;
  float x = lo ? (m - 1.0f) + m : m - 1.0f;
  float z = x * x;
  float y = fbits(pb[0]);
  y = mad(fused, y, x, fbits(pb[1]));
  y = mad(fused, y, x, fbits(pb[2]));
  y = mad(fused, y, x, fbits(pb[3]));
  y = mad(fused, y, x, fbits(pb[4]));
  y = mad(fused, y, x, fbits(pb[5]));
  y = mad(fused, y, x, fbits(pb[6]));
  y = mad(fused, y, x, fbits(pb[7]));
  y = mad(fused, y, x, fbits(pb[8]));
  y = y * x;
  float eq1 = e * fbits(0xb95e8083);
  y = mad(fused, y, z, eq1);
  y = mad(fused, -z, 0.5f, y);
  x = x + y;
  return mad(fused, e, fbits(0x3f318000), x);
}

static inline __attribute__((always_inline)) void sincos_avx2(int fused, float t, float *s_out,
                                                             float *c_out)
{
  int k = (int)(t * fbits(0x3fa2f983));
  k = (k + 1) & ~1;
  float y = (float)k;
  float x = mad(fused, y, fbits(0xbf490000), t);
  x = mad(fused, y, fbits(0xb97da000), x);
  x = mad(fused, y, fbits(0xb3222169), x);
  float z = x * x;
  float pc = mad(fused, fbits(0x37ccf5ce), z, fbits(0xbab6061a));
  pc = mad(fused, pc, z, fbits(0x3d2aaaa5));
  pc = pc * z;
  pc = mad(fused, pc, z, -(z * 0.5f));
  pc = pc + 1.0f;
  float ps = mad(fused, fbits(0xb94ca1f9), z, fbits(0x3c08839e));
  ps = mad(fused, ps, z, fbits(0xbe2aaaa3));
  ps = ps * z;
  ps = mad(fused, ps, x, x);
  int swap = (k & 2) != 0;
  float sm = swap ? pc : ps;
  float cm = swap ? ps : pc;
  *s_out = (k & 4) ? -sm : sm;
  *c_out = ((k - 2) & 4) ? cm : -cm;
}

/* One 16-block of the AVX2 kernel's maths; fused selects variant A or B. */
static inline __attribute__((always_inline)) void bm16_avx2_math(int fused, float *d)
{
  for (int j = 0; j < 8; j++) {
    float u1 = 1.0f - d[j];
    float u2 = d[j + 8];
    float l = log_avx2(fused, u1);
    float r = sqrtf(-2.0f * l);
    float th = fbits(0x40c90fdb) * u2;
    float s, c;
    sincos_avx2(fused, th, &s, &c);
    d[j] = r * c;
    d[j + 8] = r * s;
  }
}

static void bm16_fused_generic(float *d)
{
  bm16_avx2_math(1, d);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* The same 16-block with AVX2/FMA intrinsics, 8 lanes at once: each
 * intrinsic is the rounded (or, for fmadd/fmsub/fnmadd, singly rounded)
 * operation of the portable code above, so the bits are identical. */
__attribute__((target("avx2,fma"))) static void bm16_fused_avx2(float *d)
{
#define F(b) _mm256_castsi256_ps(_mm256_set1_epi32((int)(b)))
  const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
  __m256 u1 = _mm256_sub_ps(one, _mm256_loadu_ps(d));
  __m256 u2 = _mm256_loadu_ps(d + 8);
  /* log */
  __m256i bi = _mm256_castps_si256(u1);
  __m256 e = _mm256_add_ps(
      _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bi, 23), _mm256_set1_epi32(127))), one);
  __m256 m = _mm256_castsi256_ps(_mm256_or_si256(
      _mm256_and_si256(bi, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f000000)));
  __m256 lo = _mm256_cmp_ps(m, F(0x3f3504f3), _CMP_LT_OQ);
  e = _mm256_blendv_ps(e, _mm256_sub_ps(e, one), lo);
  __m256 xm1 = _mm256_sub_ps(m, one);
  __m256 x = _mm256_blendv_ps(xm1, _mm256_add_ps(xm1, m), lo);
  __m256 z = _mm256_mul_ps(x, x);
  __m256 y = F(0x3d9021bb);
  y = _mm256_fmadd_ps(y, x, F(0xbdebd1b8));
  y = _mm256_fmadd_ps(y, x, F(0x3def251a));
  y = _mm256_fmadd_ps(y, x, F(0xbdfe5d4f));
  y = _mm256_fmadd_ps(y, x, F(0x3e11e9bf));
  y = _mm256_fmadd_ps(y, x, F(0xbe2aae50));
  y = _mm256_fmadd_ps(y, x, F(0x3e4cceac));
  y = _mm256_fmadd_ps(y, x, F(0xbe7ffffc));
  y = _mm256_fmadd_ps(y, x, F(0x3eaaaaaa));
  y = _mm256_mul_ps(y, x);
  y = _mm256_fmadd_ps(y, z, _mm256_mul_ps(e, F(0xb95e8083)));
  y = _mm256_fnmadd_ps(z, half, y);
  x = _mm256_add_ps(x, y);
  __m256 l = _mm256_fmadd_ps(e, F(0x3f318000), x);
  __m256 r = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), l));
  /* sincos */
  __m256 th = _mm256_mul_ps(F(0x40c90fdb), u2);
  __m256i k = _mm256_cvttps_epi32(_mm256_mul_ps(th, F(0x3fa2f983)));
  k = _mm256_and_si256(_mm256_add_epi32(k, _mm256_set1_epi32(1)), _mm256_set1_epi32(~1));
  __m256 yk = _mm256_cvtepi32_ps(k);
  x = _mm256_fmadd_ps(yk, F(0xbf490000), th);
  x = _mm256_fmadd_ps(yk, F(0xb97da000), x);
  x = _mm256_fmadd_ps(yk, F(0xb3222169), x);
  z = _mm256_mul_ps(x, x);
  __m256 pc = _mm256_fmadd_ps(F(0x37ccf5ce), z, F(0xbab6061a));
  pc = _mm256_fmadd_ps(pc, z, F(0x3d2aaaa5));
  pc = _mm256_mul_ps(pc, z);
  pc = _mm256_fmsub_ps(pc, z, _mm256_mul_ps(z, half));
  pc = _mm256_add_ps(pc, one);
  __m256 ps = _mm256_fmadd_ps(F(0xb94ca1f9), z, F(0x3c08839e));
  ps = _mm256_fmadd_ps(ps, z, F(0xbe2aaaa3));
  ps = _mm256_mul_ps(ps, z);
  ps = _mm256_fmadd_ps(ps, x, x);
  __m256 swap = _mm256_castsi256_ps(
      _mm256_cmpeq_epi32(_mm256_and_si256(k, _mm256_set1_epi32(2)), _mm256_set1_epi32(2)));
  __m256 sm = _mm256_blendv_ps(ps, pc, swap);
  __m256 cm = _mm256_blendv_ps(pc, ps, swap);
  __m256 ssign = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_and_si256(k, _mm256_set1_epi32(4)), 29));
  __m256 csign = _mm256_castsi256_ps(_mm256_andnot_si256(
      _mm256_slli_epi32(_mm256_and_si256(_mm256_sub_epi32(k, _mm256_set1_epi32(2)), _mm256_set1_epi32(4)), 29),
      _mm256_set1_epi32((int)0x80000000u)));
  __m256 sn = _mm256_xor_ps(sm, ssign);
  __m256 cs = _mm256_xor_ps(cm, csign);
  _mm256_storeu_ps(d, _mm256_mul_ps(r, cs));
  _mm256_storeu_ps(d + 8, _mm256_mul_ps(r, sn));
#undef F
}

static int have_fma(void)
{
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

static void box_muller_16(cd_torch_randn_variant v, float *d)
{
  if (v == CD_TORCH_RANDN_AVX2_FMA) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (have_fma()) {
      bm16_fused_avx2(d);
      return;
    }
#endif
    bm16_fused_generic(d);
    return;
  }
  if (v == CD_TORCH_RANDN_AVX2_FMA_PORTABLE) {
    bm16_fused_generic(d);
    return;
  }
  if (v == CD_TORCH_RANDN_AVX2_NOFMA) {
    bm16_avx2_math(0, d);
    return;
  }
  for (int j = 0; j < 8; j++) {
    float u1 = 1.0f - d[j];
    float u2 = d[j + 8];
    float r = sqrtf(-2.0f * logf(u1));
    float th = (float)(6.283185307179586 * (double)u2);
    d[j] = r * cosf(th);
    d[j + 8] = r * sinf(th);
  }
}

void cd_torch_randn(cd_torch_gen *g, float *out, size_t n)
{
  if (n < 16) {
    for (size_t i = 0; i < n; i++) {
      double v;
      if (g->normal_cache_valid) {
        v = g->normal_cache;
        g->normal_cache_valid = 0;
      } else {
        double u1 = cd_torch_gen_uniform_f64(g);
        double u2 = cd_torch_gen_uniform_f64(g);
        double r = sqrt(-2.0 * log1p(-u2));
        double th = 6.283185307179586 * u1;
        g->normal_cache = r * sin(th);
        g->normal_cache_valid = 1;
        v = r * cos(th);
      }
      out[i] = (float)v;
    }
    return;
  }
  for (size_t i = 0; i < n; i++)
    out[i] = cd_torch_gen_uniform_f32(g);
  for (size_t b = 0; b + 16 <= n; b += 16)
    box_muller_16(g->variant, out + b);
  if (n % 16 != 0) {
    float *t = out + n - 16;
    for (int i = 0; i < 16; i++)
      t[i] = cd_torch_gen_uniform_f32(g);
    box_muller_16(g->variant, t);
  }
}

int cd_torch_prepare_noise(uint64_t seed, size_t batch, size_t item_numel,
                           const int64_t *batch_index, size_t nbatch_index,
                           float *out)
{
  cd_torch_gen g;
  if (item_numel != 0 && batch > SIZE_MAX / sizeof(float) / item_numel)
    return -EINVAL;
  cd_torch_gen_seed(&g, seed);
  if (!batch_index) {
    cd_torch_randn(&g, out, batch * item_numel);
    return 0;
  }
  if (nbatch_index != batch)
    return -EINVAL;
  int64_t maxi = -1;
  for (size_t k = 0; k < batch; k++) {
    if (batch_index[k] < 0 || batch_index[k] > (1 << 20))
      return -EINVAL;
    if (batch_index[k] > maxi)
      maxi = batch_index[k];
  }
  if (batch == 0 || item_numel == 0)
    return 0;
  float *tmp = malloc(item_numel * sizeof(float)); /* freed below */
  if (!tmp)
    return -ENOMEM;
  for (int64_t i = 0; i <= maxi; i++) {
    cd_torch_randn(&g, tmp, item_numel);
    for (size_t k = 0; k < batch; k++)
      if (batch_index[k] == i)
        memcpy(out + k * item_numel, tmp, item_numel * sizeof(float));
  }
  free(tmp);
  return 0;
}
