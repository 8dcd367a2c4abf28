/**
 * Shared shapes of the vectorised MCMC kernels (blackjax's `State` / `Info` split, DESIGN.md
 * "Core types"): one chain per row of a `Batch`, every kernel a pure function
 * `step(key, state, ...) -> [state, info]` that never mutates its input.
 *
 * The state carries the log density and its gradient at the position, so a step evaluates the
 * target only at its proposal: MALA costs one `logDensity` call per step, HMC one per leapfrog
 * step. Gradient budgets are counted in rows x calls of `LogDensityFn`.
 */
import type { Batch } from '../core/batch.js';
import type { ValueAndGrad } from '../core/types.js';

/**
 * Per-row unnormalised log density and its gradient. May differ per row (a row-specific
 * posterior, a row-specific AIS base); must neither mutate `x` nor keep it after returning (the
 * kernels reuse the buffers they pass as their output, to keep the hot path allocation-light).
 * The arrays it returns are only read.
 *
 * Kernels never call it with non-finite coordinates: rows whose proposal is not finite are
 * evaluated at their current position instead (the result is discarded and the proposal
 * rejected), so a target may assume finite input.
 */
export type LogDensityFn = (x: Batch) => ValueAndGrad;

/** The chains: positions with their log densities and gradients (all `n` rows). */
export interface ChainState {
  readonly position: Batch;
  readonly logDensity: Float64Array;
  readonly grad: Batch;
}

/** A step size for all chains (a number), or one per chain (length n). */
export type StepSize = number | Float64Array;

/** Evaluate `logDensity` once at `position` (copied, so later changes to it do not leak in). */
export function initChains(position: Batch, logDensity: LogDensityFn): ChainState {
  const pos: Batch = { n: position.n, dim: position.dim, data: position.data.slice() };
  const r = logDensity(pos);
  checkEvaluation(r, pos, 'initChains');
  return { position: pos, logDensity: r.value.slice(), grad: { n: pos.n, dim: pos.dim, data: r.grad.data.slice() } };
}

/** Throw when a log-density function returned arrays of the wrong shape. */
export function checkEvaluation(r: ValueAndGrad, x: Batch, what: string): void {
  if (r.value.length !== x.n) throw new RangeError(`${what}: log density returned ${r.value.length} values for ${x.n} rows`);
  if (r.grad.n !== x.n || r.grad.dim !== x.dim || r.grad.data.length !== x.n * x.dim) {
    throw new RangeError(`${what}: log density returned a ${r.grad.n} x ${r.grad.dim} gradient for a ${x.n} x ${x.dim} batch`);
  }
}

/** Throw unless `s` is a positive finite number, or `n` of them. `what` names the caller. */
export function checkStepSize(s: StepSize, n: number, what: string, name = 'step size'): void {
  if (typeof s === 'number') {
    if (!(s > 0) || !Number.isFinite(s)) throw new RangeError(`${what}: ${name} must be positive and finite, got ${s}`);
    return;
  }
  if (s.length !== n) throw new RangeError(`${what}: ${s.length} values of the ${name} for ${n} chains (give one, or one per chain)`);
  for (let i = 0; i < n; i++) {
    if (!(s[i] > 0) || !Number.isFinite(s[i])) throw new RangeError(`${what}: ${name} of chain ${i} must be positive and finite, got ${s[i]}`);
  }
}

/** Step size of chain i. */
export function stepSizeAt(s: StepSize, i: number): number {
  return typeof s === 'number' ? s : s[i];
}

/** Throw unless `state` is a consistent state of `n x dim` chains. */
export function checkState(state: ChainState, what: string): void {
  const { position: x, logDensity, grad } = state;
  if (x.data.length !== x.n * x.dim) throw new RangeError(`${what}: position has ${x.data.length} values for ${x.n} x ${x.dim}`);
  if (logDensity.length !== x.n) throw new RangeError(`${what}: ${logDensity.length} log densities for ${x.n} chains`);
  if (grad.n !== x.n || grad.dim !== x.dim || grad.data.length !== x.n * x.dim) {
    throw new RangeError(`${what}: gradient is ${grad.n} x ${grad.dim}, position ${x.n} x ${x.dim}`);
  }
}

/** True when row i of `values` (`dim` per row) and `scalar[i]` are all finite. */
export function rowFinite(values: Float64Array, dim: number, i: number, scalar?: Float64Array): boolean {
  if (scalar !== undefined && !Number.isFinite(scalar[i])) return false;
  const o = i * dim;
  for (let j = 0; j < dim; j++) if (!Number.isFinite(values[o + j])) return false;
  return true;
}
