/**
 * DDPM ancestral sampling (Ho et al. 2020, Algorithm 2) on the discrete schedule of `ddpm.ts`.
 *
 * With `alpha_i = 1 - beta_i` and the noise prediction written through the score,
 * `eps(x, i) = -sqrt(1 - abar_i) s(x, t_i)` (Ho et al. eq. 11 / SPEC §1), line 4 of Algorithm 2
 *   x_{i-1} = 1/sqrt(alpha_i) (x_i - beta_i / sqrt(1 - abar_i) eps(x_i, i)) + sigma_i z
 * becomes
 *   x_{i-1} = (x_i + beta_i s(x_i, t_i)) / sqrt(1 - beta_i) + sigma_i z,   t_i = i / T,
 * with `z ~ N(0, I)` for i > 1 and `z = 0` at i = 1. Ho et al. found both `sigma_i^2 = beta_i`
 * ('beta', the default, optimal for x_0 ~ N(0, I)) and the posterior variance
 * `sigma_i^2 = (1 - abar_{i-1}) / (1 - abar_i) beta_i` ('posterior', optimal for a point mass,
 * their eq. 7) to work; both are offered.
 */
import { assertFinite, type Batch } from '../core/batch.js';
import { foldIn, normalBatch, split, type Key } from '../core/key.js';
import type { ScoreModel } from '../core/types.js';
import { initialState, checkScore } from './common.js';
import type { DDPMSchedule } from './ddpm.js';
import { meanFromScore } from './parametrisation.js';
import type { StepCallback } from './types.js';

export type AncestralVariance = 'beta' | 'posterior';

/** `sigma_i^2` of step i under the chosen variance. */
export function ancestralVariance(schedule: DDPMSchedule, i: number, variance: AncestralVariance = 'beta'): number {
  const b = schedule.beta(i);
  if (variance === 'beta') return b;
  // (1 - abar_{i-1}) / (1 - abar_i) beta_i, with expm1 for accuracy at small i (zero at i = 1).
  return (Math.expm1(schedule.logAlphaBars[i - 1]) / Math.expm1(schedule.logAlphaBars[i])) * b;
}

/**
 * One ancestral step from index `i` (time i/T) to `i - 1`, given the score at `(x, i/T)`:
 * `(x + beta_i score) / sqrt(1 - beta_i) + sigma_i noise`. Pure. `noise = null` (or i = 1, where
 * Algorithm 2 adds none) gives the mean.
 */
export function ancestralStep(
  x: Batch, score: Batch, i: number, schedule: DDPMSchedule, noise: Batch | null, variance: AncestralVariance = 'beta',
): Batch {
  if (score.n !== x.n || score.dim !== x.dim) throw new RangeError('ancestralStep: score and x differ in shape');
  if (noise && (noise.n !== x.n || noise.dim !== x.dim)) throw new RangeError('ancestralStep: noise and x differ in shape');
  const b = schedule.beta(i);
  const inv = 1 / Math.sqrt(1 - b);
  const sd = noise && i > 1 ? Math.sqrt(ancestralVariance(schedule, i, variance)) : 0;
  const out = new Float64Array(x.data.length);
  for (let j = 0; j < out.length; j++) {
    // Stage 1 (posterior mean, Alg. 2 line 4 in score form); stage 2 (+ sigma_i z).
    out[j] = (x.data[j] + b * score.data[j]) * inv + (sd > 0 ? sd * noise!.data[j] : 0);
  }
  return { n: x.n, dim: x.dim, data: out };
}

export interface AncestralOptions {
  /** Number of samples (required unless `x` is given). */
  n?: number;
  /** Start state `x_T` instead of a `N(0, I)` draw (not mutated). */
  x?: Batch;
  /** Variance of each step ['beta']. */
  variance?: AncestralVariance;
  /** Called before every step with `{step, t: i/T, x: x_i, x0hat}` (step = T - i). */
  callback?: StepCallback;
}

/**
 * Ho et al. 2020 Algorithm 2: `x_T ~ N(0, I)`, then `T` ancestral steps to `x_0` (the last one
 * noise-free). `model` is asked for `score(x, i/T)`; exact targets take `schedule` as their
 * `NoiseSchedule`. Keys: the start from `split(key)[0]`, the noise of step k (from index T-k) from
 * `foldIn(split(key)[1], k)`. Score evaluations: `T`.
 */
export function sampleAncestral(key: Key, model: ScoreModel, schedule: DDPMSchedule, opts: AncestralOptions): Batch {
  const what = 'sampleAncestral';
  const [kPrior, kNoise] = split(key, 2);
  let x = initialState(opts, model, what, (n) => normalBatch(kPrior, n, model.dim));
  const T = schedule.steps;
  for (let i = T; i >= 1; i--) {
    const k = T - i;
    const t = schedule.time(i);
    const s = model.score(x, t);
    checkScore(model, x, s, what);
    opts.callback?.({ step: k, t, x, x0hat: meanFromScore(s, x, schedule, t) });
    const z = i > 1 ? normalBatch(foldIn(kNoise, k), x.n, x.dim) : null;
    x = ancestralStep(x, s, i, schedule, z, opts.variance ?? 'beta');
  }
  assertFinite(x, `${what} output`);
  return x;
}
