/**
 * What every solver in `diffusion/` is written against: a forward Itô SDE
 * `dx = f(x, t) dt + g(t) dW` on `[0, T]` whose Gaussian marginal is `x_t = alpha_t x_0 + sigma_t eps`
 * (Song et al. 2021, "Score-based generative modeling through SDEs", eq. 5), and the one callback
 * hook a sampler calls per step (k-diffusion's shape: progress bars and plots live outside).
 *
 * The SDE, the time grid (`grids.ts`) and the solver (`em.ts`, `pfode.ts`, ...) are three separate
 * things: a solver takes an SDE and a plain decreasing array of times.
 */
import type { Batch } from '../core/batch.js';
import type { Key } from '../core/key.js';
import type { NoiseSchedule } from '../core/types.js';

export interface DiffusionSDE extends NoiseSchedule {
  /** End time: the prior `priorSample` stands in for `p_T`. */
  readonly T: number;
  /** Drift `f(x, t)` (a new batch; `x` is not mutated). */
  drift(x: Batch, t: number): Batch;
  /** Diffusion coefficient `g(t)` (scalar, state-independent). */
  diffusion(t: number): number;
  /** `div_x f(x, t)` per row (needed by the ODE likelihood). */
  driftDivergence(x: Batch, t: number): Float64Array;
  /** `n` draws from the prior that stands in for `p_T`. */
  priorSample(key: Key, n: number, dim: number): Batch;
  /** Normalised log-density of that prior, per row. */
  priorLogDensity(x: Batch): Float64Array;
}

/**
 * What a sampler reports at each step, before it moves: the step index, the current time `t`, the
 * current state `x` at that time, and (when the step evaluated a score) the Tweedie denoised mean
 * `x0hat = E[x_0 | x_t = x]`. The batches are the sampler's own: read them, do not mutate them.
 */
export interface StepInfo {
  readonly step: number;
  readonly t: number;
  readonly x: Batch;
  readonly x0hat?: Batch;
}

/** The one per-step hook of every sampler (progress, plots, trajectories). */
export type StepCallback = (info: StepInfo) => void;
