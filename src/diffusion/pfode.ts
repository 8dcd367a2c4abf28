/**
 * The probability-flow ODE (Song et al. 2021, eq. 13): the deterministic process with the same
 * marginals `p_t` as the forward SDE,
 *
 *   dx/dt = v(x, t) = f(x, t) - 1/2 g(t)^2 grad_x log p_t(x),
 *
 * integrated with Heun's second-order method (the trapezoidal predictor–corrector of Karras et al.
 * 2022, Algorithm 1, without its final Euler step since tMin > 0), or RK4 / Euler on request.
 * From noise to data (a decreasing grid) it samples; from data to noise (an increasing grid) it
 * encodes, which `likelihood.ts` uses. The map is a bijection, so encode(sample(z)) ≈ z up to the
 * integrator's error.
 */
import { assertFinite, type Batch } from '../core/batch.js';
import { split, type Key } from '../core/key.js';
import type { ScoreModel } from '../core/types.js';
import { initialState, checkScore, resolveGrid, type SamplerGridOptions } from './common.js';
import { gridDirection, uniformTimeGrid } from './grids.js';
import { meanFromScore } from './parametrisation.js';
import type { DiffusionSDE, StepCallback } from './types.js';

export type OdeMethod = 'euler' | 'heun' | 'rk4';

/** `v = f(x, t) - 1/2 g(t)^2 score`, the probability-flow velocity for a given score (pure). */
export function probabilityFlowVelocity(x: Batch, score: Batch, t: number, sde: DiffusionSDE): Batch {
  if (score.n !== x.n || score.dim !== x.dim) throw new RangeError('probabilityFlowVelocity: score and x differ in shape');
  const f = sde.drift(x, t);
  const g = sde.diffusion(t);
  const c = 0.5 * g * g;
  const out = new Float64Array(x.data.length);
  for (let j = 0; j < out.length; j++) out[j] = f.data[j] - c * score.data[j];
  return { n: x.n, dim: x.dim, data: out };
}

/** `x + sum_m c_m k_m` as a new batch. */
function axpy(x: Batch, ks: Batch[], cs: number[]): Batch {
  const out = x.data.slice();
  for (let m = 0; m < ks.length; m++) {
    const k = ks[m].data;
    const c = cs[m];
    for (let j = 0; j < out.length; j++) out[j] += c * k[j];
  }
  return { n: x.n, dim: x.dim, data: out };
}

/**
 * One step of the probability-flow ODE from `t` to `tNext` (either direction). Returns the new
 * state and the score at the start `(x, t)` (for Tweedie estimates). Score evaluations: 1 (Euler),
 * 2 (Heun), 4 (RK4). Pure.
 */
export function probabilityFlowStep(
  model: ScoreModel, sde: DiffusionSDE, x: Batch, t: number, tNext: number, method: OdeMethod = 'heun',
): { x: Batch; score: Batch } {
  const h = tNext - t;
  const vel = (y: Batch, s: number): [Batch, Batch] => {
    const sc = model.score(y, s);
    checkScore(model, y, sc, 'probabilityFlowStep');
    return [probabilityFlowVelocity(y, sc, s, sde), sc];
  };
  const [k1, s1] = vel(x, t);
  switch (method) {
    case 'euler':
      return { x: axpy(x, [k1], [h]), score: s1 };
    case 'heun': {
      // Predictor (Euler), then corrector (trapezoid): x + h/2 (v(x, t) + v(x_e, t + h)).
      const [k2] = vel(axpy(x, [k1], [h]), tNext);
      return { x: axpy(x, [k1, k2], [h / 2, h / 2]), score: s1 };
    }
    case 'rk4': {
      const tm = t + h / 2;
      const [k2] = vel(axpy(x, [k1], [h / 2]), tm);
      const [k3] = vel(axpy(x, [k2], [h / 2]), tm);
      const [k4] = vel(axpy(x, [k3], [h]), tNext);
      return { x: axpy(x, [k1, k2, k3, k4], [h / 6, h / 3, h / 3, h / 6]), score: s1 };
    }
    default:
      throw new RangeError(`unknown ODE method ${String(method)}`);
  }
}

export interface FlowIntegrationOptions {
  /** Integrator ['heun']. */
  method?: OdeMethod;
  /** Called before every step with `{step, t, x, x0hat}`. */
  callback?: StepCallback;
}

/** Integrate the probability-flow ODE along `grid` (monotone, either direction) from `x` (not mutated). */
export function integrateProbabilityFlow(
  model: ScoreModel, sde: DiffusionSDE, x: Batch, grid: Float64Array, opts: FlowIntegrationOptions = {},
): Batch {
  gridDirection(grid, 'integrateProbabilityFlow');
  if (x.dim !== model.dim) throw new RangeError(`integrateProbabilityFlow: state has dimension ${x.dim}, model ${model.dim}`);
  let y = x;
  for (let k = 0; k + 1 < grid.length; k++) {
    const r = probabilityFlowStep(model, sde, y, grid[k], grid[k + 1], opts.method ?? 'heun');
    opts.callback?.({ step: k, t: grid[k], x: y, x0hat: meanFromScore(r.score, y, sde, grid[k]) });
    y = r.x;
  }
  assertFinite(y, 'integrateProbabilityFlow output');
  return y;
}

export interface ProbabilityFlowSampleOptions extends SamplerGridOptions, FlowIntegrationOptions {
  /** Number of samples (required unless `x` is given). */
  n?: number;
  /** Start state at the first grid time instead of a prior draw (not mutated). */
  x?: Batch;
  /** Return Tweedie's `E[x_0 | x_tMin]` (one more score evaluation) instead of `x_tMin` [true]. */
  denoiseLast?: boolean;
}

/**
 * Deterministic sampling: draw `x_T` from the prior (key `split(key)[0]`, the only randomness),
 * then integrate the ODE down the grid (default: 100 uniform steps to tMin = 1e-3).
 */
export function sampleProbabilityFlow(
  key: Key, model: ScoreModel, sde: DiffusionSDE, opts: ProbabilityFlowSampleOptions,
): Batch {
  const what = 'sampleProbabilityFlow';
  const grid = resolveGrid(sde, opts, what, 100);
  let x = initialState(opts, model, what, (n) => sde.priorSample(split(key, 2)[0], n, model.dim));
  x = integrateProbabilityFlow(model, sde, x, grid, opts);
  if (opts.denoiseLast ?? true) {
    const t = grid[grid.length - 1];
    const s = model.score(x, t);
    checkScore(model, x, s, what);
    const x0hat = meanFromScore(s, x, sde, t);
    opts.callback?.({ step: grid.length - 1, t, x, x0hat });
    x = x0hat;
  }
  return x;
}

export interface EncodeOptions extends FlowIntegrationOptions {
  /** Steps of the default uniform grid [100]. */
  steps?: number;
  /** Explicit increasing grid (data time first); overrides steps/tMin/tEnd. */
  grid?: Float64Array;
  /** Start time of the default grid [1e-3]. */
  tMin?: number;
  /** End time of the default grid [sde.T]. */
  tEnd?: number;
}

/** The increasing grid of an encoding (the reverse of the sampling grid). */
export function resolveEncodeGrid(sde: DiffusionSDE, opts: EncodeOptions, what: string): Float64Array {
  const grid = opts.grid ?? uniformTimeGrid(opts.steps ?? 100, { tEnd: opts.tEnd ?? sde.T, tMin: opts.tMin ?? 1e-3 }).reverse();
  if (gridDirection(grid, what) !== 1) throw new RangeError(`${what}: the time grid must increase (data -> noise)`);
  return grid;
}

/** Data -> noise: integrate the ODE up the grid from `x` at `grid[0]` (≈ 0) to `grid[K]` (= T). */
export function encodeProbabilityFlow(model: ScoreModel, sde: DiffusionSDE, x: Batch, opts: EncodeOptions = {}): Batch {
  return integrateProbabilityFlow(model, sde, x, resolveEncodeGrid(sde, opts, 'encodeProbabilityFlow'), opts);
}
