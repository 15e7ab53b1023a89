/*
 * torch_rng.h - torch's CPU random generator, reproduced bit for bit.
 *
 * What ComfyUI gets from `torch.manual_seed(s); torch.randn(...)` on a
 * Linux x86-64 build (the MT19937 engine, the scalar double Box-Muller with
 * its cached sine for fewer than 16 values, the 16-block float Box-Muller
 * with torch's AVX2 log/sincos polynomials as GCC compiles them, and the
 * 16-fresh-uniform tail), the initial latent noise ComfyUI draws
 * (prepare_noise with batch_index), and the per-sampler generator of the
 * ancestral samplers.  Reference: shared/spec/torch-rng.md.
 *
 * A generator is a plain value owned by its caller; nothing here allocates
 * except cd_torch_prepare_noise's scratch (freed before it returns).  A
 * generator is not thread safe; distinct generators may be used from any
 * threads at once.
 */
#ifndef CD_TORCH_RNG_H
#define CD_TORCH_RNG_H

#include <stddef.h>
#include <stdint.h>

#define CD_TORCH_MT_N 624

/* Which float32 Box-Muller maths the 16-block path uses. */
typedef enum cd_torch_randn_variant {
  CD_TORCH_RANDN_AVX2_FMA = 0, /* torch on Linux x86-64 (GCC): the default */
  CD_TORCH_RANDN_AVX2_NOFMA,   /* same kernel without contraction (unverified builds) */
  CD_TORCH_RANDN_GENERIC,      /* torch's scalar kernel with libm logf/sinf/cosf (ARM64) */
  CD_TORCH_RANDN_AVX2_FMA_PORTABLE /* AVX2_FMA's bits without vector code (tests) */
} cd_torch_randn_variant;

typedef struct cd_torch_gen {
  uint32_t mt[CD_TORCH_MT_N];
  int left;
  int next;
  double normal_cache; /* sine half of the last scalar Box-Muller pair */
  int normal_cache_valid;
  cd_torch_randn_variant variant;
} cd_torch_gen;

/* Seeds like torch.manual_seed(seed): only the low 32 bits reach the engine
 * (a negative Python seed is passed as its two's complement u64).  Clears the
 * normal cache and selects CD_TORCH_RANDN_AVX2_FMA. */
void cd_torch_gen_seed(cd_torch_gen *g, uint64_t seed);

/* One tempered 32-bit engine output. */
uint32_t cd_torch_gen_u32(cd_torch_gen *g);

/* torch.rand float32 / float64 uniforms in [0, 1). */
float cd_torch_gen_uniform_f32(cd_torch_gen *g);
double cd_torch_gen_uniform_f64(cd_torch_gen *g);

/* torch.randn(n) float32 into out[0..n-1] (n == 0 draws nothing).  The
 * scalar path (n < 16) reads and writes the generator's normal cache exactly
 * as torch does, so sequences of calls continue torch's stream. */
void cd_torch_randn(cd_torch_gen *g, float *out, size_t n);

/* ComfyUI's prepare_noise for a latent of `batch` items of `item_numel`
 * floats each, into out[0 .. batch*item_numel-1]:
 *   batch_index == NULL: torch.manual_seed(seed); randn(batch*item_numel);
 *   else: one randn(item_numel) per index 0..max(batch_index), item k of the
 *   output is draw batch_index[k] (nbatch_index must equal batch).
 * Returns 0, -EINVAL on a negative index, an index above 1<<20, a count
 * mismatch or overflow, -ENOMEM when scratch cannot be had. */
int cd_torch_prepare_noise(uint64_t seed, size_t batch, size_t item_numel,
                           const int64_t *batch_index, size_t nbatch_index,
                           float *out);

#endif
