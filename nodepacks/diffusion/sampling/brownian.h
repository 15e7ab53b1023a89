/*
 * brownian.h - the Brownian-tree noise of ComfyUI's SDE samplers.
 *
 * Reproduces ComfyUI's BrownianTreeNoiseSampler(x, sigma_min, sigma_max,
 * seed, cpu=True), which is torchsde 0.2.6's BrownianTree (tol 1e-6,
 * pool_size 24, dyadic "halfway" tree, no Levy area) over float32 CPU
 * tensors: numpy's SeedSequence for the node seeds, torch's CPU randn for
 * every random tensor, and a Brownian bridge down the tree
 * (shared/spec/torch-rng.md section 9).
 *
 * A tree object is owned by its creator (cd_brownian_new / cd_brownian_free)
 * and used by one thread at a time.  Its memory is bounded: a node table
 * capped at CD_BROWNIAN_MAX_NODES, one buffer of numel floats per tree level
 * visited, and an LRU cache of node increments (at most 64 of them and
 * 16 MiB, at least 4).  A query walks down from the root once, costing one
 * randn(numel) per visited node whose children are not cached: about 35
 * per query for SD schedules, as torchsde's dyadic splitting to 1e-6
 * resolution needs about 24 levels.
 */
#ifndef CD_BROWNIAN_H
#define CD_BROWNIAN_H

#include <stddef.h>
#include <stdint.h>

#define CD_BROWNIAN_MAX_NODES (1 << 20)

typedef struct cd_brownian cd_brownian;

/* numpy SeedSequence(entropy, spawn_key=(key, depth) if has_key,
 * pool_size=24).generate_state(n) into out[0..n-1] (u32 words). */
void cd_seed_sequence_state(uint64_t entropy, int has_key, uint64_t key, uint64_t depth,
                            uint32_t *out, size_t n);

/* A tree for tensors of numel floats over [min(s0, s1), max(s0, s1)] (the
 * two float32 sigmas ComfyUI passes: the smallest positive and the largest
 * sigma of the schedule), with entropy = the sampler seed (all 64 bits).
 * Returns a new tree the caller frees with cd_brownian_free, or NULL when
 * numel is 0, a sigma is not finite, or memory is short. */
cd_brownian *cd_brownian_new(size_t numel, float s0, float s1, uint64_t seed);
void cd_brownian_free(cd_brownian *t);

/* The noise for one step, ComfyUI's noise_sampler(sigma, sigma_next):
 * W(lo, hi) * sign / sqrt(|sigma_next - sigma|) with sign +1 when
 * sigma < sigma_next, in float32 as torch computes it (equal sigmas give
 * 0/0 = NaN, as in torch).  Writes numel floats to out.  Returns 0, -EINVAL
 * for a NaN sigma, or -ENOMEM / -ERANGE (tree deeper than
 * 60 levels or more than CD_BROWNIAN_MAX_NODES nodes). */
int cd_brownian_noise(cd_brownian *t, float sigma, float sigma_next, float *out);

#endif
