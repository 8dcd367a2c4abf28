/** Small shared helpers of the solvers (internal: not part of the public API). */
import type { Batch } from '../core/batch.js';
import type { ScoreModel } from '../core/types.js';
import { gridDirection, uniformTimeGrid } from './grids.js';
import type { DiffusionSDE } from './types.js';

/** Options that choose a decreasing time grid for a sampler. */
export interface SamplerGridOptions {
  /** Number of steps of the default uniform grid [500]. Ignored when `grid` is given. */
  steps?: number;
  /** Explicit decreasing grid (first time: where the prior is drawn); overrides steps/tMin/tEnd. */
  grid?: Float64Array;
  /** Last time of the default grid [1e-3]. */
  tMin?: number;
  /** First time of the default grid [sde.T]. */
  tEnd?: number;
}

export function resolveGrid(sde: DiffusionSDE, opts: SamplerGridOptions, what: string, defaultSteps = 500): Float64Array {
  const grid = opts.grid ?? uniformTimeGrid(opts.steps ?? defaultSteps, { tEnd: opts.tEnd ?? sde.T, tMin: opts.tMin ?? 1e-3 });
  if (gridDirection(grid, what) !== -1) throw new RangeError(`${what}: the time grid must decrease (noise -> data)`);
  return grid;
}

export function checkScore(model: ScoreModel, x: Batch, s: Batch, what: string): void {
  if (s.n !== x.n || s.dim !== x.dim) {
    throw new RangeError(`${what}: score model returned ${s.n} x ${s.dim} for a ${x.n} x ${x.dim} batch`);
  }
  if (model.dim !== x.dim) throw new RangeError(`${what}: score model has dimension ${model.dim}, state has ${x.dim}`);
}

export function checkInitial(x: Batch, n: number | undefined, model: ScoreModel, what: string): void {
  if (x.dim !== model.dim) throw new RangeError(`${what}: initial state has dimension ${x.dim}, model ${model.dim}`);
  if (n !== undefined && n !== x.n) throw new RangeError(`${what}: n = ${n} but the initial state has ${x.n} rows`);
}

/** The start of a sampler: the given state `x` (checked, not copied) or `draw(n)` from its prior. */
export function initialState(
  opts: { x?: Batch; n?: number }, model: ScoreModel, what: string, draw: (n: number) => Batch,
): Batch {
  if (opts.x) {
    checkInitial(opts.x, opts.n, model, what);
    return opts.x;
  }
  if (opts.n === undefined) throw new RangeError(`${what}: give n or an initial state x`);
  return draw(opts.n);
}
