/**
 * The interfaces every layer above `core/` is written against. A target is a pure density; a
 * score model is anything that returns `grad_x log p_t(x)`; a log-weight is ISSGM's `log l`.
 */
import type { Batch } from './batch.js';
import type { Key } from './key.js';

/** Per-row log-density values with their gradients (`grad` has the shape of `x`). */
export interface ValueAndGrad {
  readonly value: Float64Array;
  readonly grad: Batch;
}

/** An unnormalised density `p(x) ∝ exp(logDensity(x))` on R^dim. */
export interface Target {
  readonly name: string;
  readonly dim: number;
  /** `log p(x)` per row, up to an additive constant unless the target says it is normalised. */
  logDensity(x: Batch): Float64Array;
  logDensityAndGrad(x: Batch): ValueAndGrad;
}

/** A target that can also be sampled exactly. */
export interface SampleableTarget extends Target {
  sample(key: Key, n: number): Batch;
}

/**
 * The Gaussian marginal of a forward diffusion: `x_t = alpha(t) x_0 + sigma(t) eps`.
 * Implemented by the VP SDE in `diffusion/`; targets with exact diffused scores take it as input.
 */
export interface NoiseSchedule {
  alpha(t: number): number;
  sigma(t: number): number;
}

/**
 * A score model `s(x, t) ≈ grad_x log p_t(x)`. `t` is one time for all rows, or one per row.
 * Exact (Gaussian, GMM), trained networks and imported networks all fit behind this.
 */
export interface ScoreModel {
  readonly dim: number;
  score(x: Batch, t: number | Float64Array): Batch;
}

/** ISSGM's weight in log space: `log l(x)` per row and its gradient. */
export interface LogWeight {
  readonly dim: number;
  value(x: Batch): Float64Array;
  valueAndGrad(x: Batch): ValueAndGrad;
}

/** Time of row i when `t` is a scalar or a per-row array. */
export function timeAt(t: number | Float64Array, i: number): number {
  return typeof t === 'number' ? t : t[i];
}
