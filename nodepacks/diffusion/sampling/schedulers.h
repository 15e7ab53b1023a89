/*
 * schedulers.h - ComfyUI's sigma schedules (KSampler SCHEDULERS, in order)
 * and the KSampler's sigma selection (discard-penultimate samplers, denoise,
 * start/end steps), shared/spec/nodes-and-models.md sections 3.1 and 5.
 *
 * Pure functions over a cd_model_sampling; callers own every buffer.  Any
 * thread may call them.
 */
#ifndef CD_SCHEDULERS_H
#define CD_SCHEDULERS_H

#include "model_sampling.h"

#include <stddef.h>

typedef enum cd_scheduler {
  CD_SCHED_SIMPLE = 0,
  CD_SCHED_SGM_UNIFORM,
  CD_SCHED_KARRAS,
  CD_SCHED_EXPONENTIAL,
  CD_SCHED_DDIM_UNIFORM,
  CD_SCHED_BETA,
  CD_SCHED_NORMAL,
  CD_SCHED_LINEAR_QUADRATIC,
  CD_SCHED_KL_OPTIMAL,
  CD_SCHED_COUNT
} cd_scheduler;

#define CD_SCHED_MAX_STEPS 10000

/* Name of scheduler i in ComfyUI's list order ("simple", ...), NULL when
 * out of range; and the inverse (-1 for an unknown name). */
const char *cd_scheduler_name(int i);
int cd_scheduler_from_name(const char *name);

/* Largest number of sigmas a schedule of `steps` steps can produce. */
size_t cd_scheduler_max_len(int steps);

/* calculate_sigmas(model_sampling, scheduler, steps) into out[0..*n_out-1]
 * (float32, descending, normally ending in 0).  Returns 0, -EINVAL for an
 * unknown scheduler or steps outside 1..CD_SCHED_MAX_STEPS, -ENOSPC when cap
 * (at least cd_scheduler_max_len(steps) suffices) is too small. */
int cd_scheduler_sigmas(const cd_model_sampling *ms, cd_scheduler sched, int steps, float *out,
                        size_t cap, size_t *n_out);

/* The individual schedules for callers with their own sigma range
 * (KarrasScheduler / ExponentialScheduler nodes): n+1 values into out. */
void cd_sigmas_karras(int n, double sigma_min, double sigma_max, double rho, float *out);
void cd_sigmas_exponential(int n, double sigma_min, double sigma_max, float *out);

/* The custom-sampling schedules (PolyexponentialScheduler, VPScheduler,
 * LaplaceScheduler, SDTurboScheduler, BetaSamplingScheduler nodes).
 * polyexponential and vp write n+1 values (ending in 0), laplace n values
 * (no final 0).  sdturbo writes steps+1 values and returns that count
 * (fewer when denoise leaves fewer than `steps` timesteps), or -EINVAL for
 * steps outside 1..10.  beta writes at most steps+1 values and returns the
 * count, or -EINVAL for steps outside 1..CD_SCHED_MAX_STEPS or alpha/beta <= 0. */
void cd_sigmas_polyexponential(int n, double sigma_min, double sigma_max, double rho, float *out);
void cd_sigmas_vp(int n, double beta_d, double beta_min, double eps_s, float *out);
void cd_sigmas_laplace(int n, double sigma_min, double sigma_max, double mu, double beta, float *out);
int cd_sigmas_sdturbo(const cd_model_sampling *ms, int steps, double denoise, float *out);
int cd_sigmas_beta(const cd_model_sampling *ms, int steps, double alpha, double beta, float *out);

/* scipy.stats.beta.ppf(p, a, b): inverse of the regularised incomplete beta
 * function, to about 1e-14 absolute (NaN outside 0 <= p <= 1, a, b > 0). */
double cd_beta_ppf(double p, double a, double b);

/* KSampler sigma selection for `sampler_name` (unknown names are treated like
 * any non-discarding sampler): the schedule for steps (or steps+1 with the
 * penultimate sigma dropped for dpm_2, dpm_2_ancestral, uni_pc,
 * uni_pc_bh2); denoise < 1 computes int(steps/denoise) steps and keeps the
 * last steps+1; denoise <= 0 gives no sigmas.  Then KSampler.sample's
 * trimming: last_step >= 0 and < len-1 cuts to last_step+1 sigmas (and
 * force_full_denoise zeroes the new last one); start_step >= 0 drops the
 * first start_step sigmas, or, if start_step >= len-1, gives *n_out = 0 with
 * return value 1 ("return the latent unchanged").  Pass -1 for an absent
 * start/last step.  out must hold cd_scheduler_max_len(int(steps/denoise)+1).
 * Returns 0 or 1 as above, or a negative errno. */
int cd_ksampler_sigmas(const cd_model_sampling *ms, cd_scheduler sched, const char *sampler_name,
                       int steps, double denoise, int start_step, int last_step,
                       int force_full_denoise, float *out, size_t cap, size_t *n_out);

#endif
