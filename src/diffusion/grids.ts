/**
 * Time grids: plain decreasing arrays made by pure functions (k-diffusion's `get_sigmas_*`).
 * A grid of `steps` steps has `steps + 1` times, from `tEnd` (where the prior is drawn) down to
 * `tMin > 0` (the score of data with a density blows up as t -> 0, so samplers stop short of it;
 * Song et al. 2021 use 1e-3 for the VP SDE, App. C). Reverse a grid (`.slice().reverse()`) to
 * integrate forwards (data -> noise).
 */
import type { VPSDE } from './vp.js';

export interface GridOptions {
  /** First time [1]. */
  tEnd?: number;
  /** Last time [1e-3]. */
  tMin?: number;
}

function check(steps: number, tEnd: number, tMin: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`a time grid needs a positive integer step count, got ${steps}`);
  if (!(tMin >= 0) || !(tEnd > tMin)) throw new RangeError(`a time grid needs 0 <= tMin < tEnd, got tMin ${tMin}, tEnd ${tEnd}`);
}

/** `t_k = tEnd - (k / steps) (tEnd - tMin)`, k = 0..steps (Song et al. 2021's sampler grid). */
export function uniformTimeGrid(steps: number, opts: GridOptions = {}): Float64Array {
  const tEnd = opts.tEnd ?? 1;
  const tMin = opts.tMin ?? 1e-3;
  check(steps, tEnd, tMin);
  const out = new Float64Array(steps + 1);
  for (let k = 0; k <= steps; k++) out[k] = tEnd - (k / steps) * (tEnd - tMin);
  out[steps] = tMin; // exact end point despite rounding
  return out;
}

/**
 * `t_k = tMin + (tEnd - tMin) (1 - k/steps)^2`: steps shrink linearly towards `tMin`, where the
 * score changes fastest (the quadratic grid of DDIM, Song, Meng & Ermon 2021, App. D.2).
 */
export function quadraticTimeGrid(steps: number, opts: GridOptions = {}): Float64Array {
  const tEnd = opts.tEnd ?? 1;
  const tMin = opts.tMin ?? 1e-3;
  check(steps, tEnd, tMin);
  const out = new Float64Array(steps + 1);
  for (let k = 0; k <= steps; k++) {
    const u = 1 - k / steps;
    out[k] = tMin + (tEnd - tMin) * u * u;
  }
  return out;
}

/**
 * Times equally spaced in log signal-to-noise ratio `log(alpha_t^2 / sigma_t^2)` of a VP SDE
 * (the spacing of Kingma et al. 2021 and of DPM-Solver, Lu et al. 2022), through the SDE's closed
 * form inverse `timeFromLogSnr`.
 */
export function logSnrTimeGrid(steps: number, sde: VPSDE, opts: GridOptions = {}): Float64Array {
  const tEnd = opts.tEnd ?? sde.T;
  const tMin = opts.tMin ?? 1e-3;
  check(steps, tEnd, tMin);
  if (tMin === 0) throw new RangeError('logSnrTimeGrid needs tMin > 0 (log SNR is infinite at t = 0)');
  const l0 = sde.logSnr(tEnd);
  const l1 = sde.logSnr(tMin);
  const out = new Float64Array(steps + 1);
  for (let k = 0; k <= steps; k++) out[k] = sde.timeFromLogSnr(l0 + (k / steps) * (l1 - l0));
  out[0] = tEnd;
  out[steps] = tMin;
  return out;
}

/** Throw unless `grid` has at least two finite, strictly monotone times; returns +1 or -1. */
export function gridDirection(grid: ArrayLike<number>, what: string): 1 | -1 {
  if (grid.length < 2) throw new RangeError(`${what}: a time grid needs at least two times`);
  const dir = grid[1] > grid[0] ? 1 : -1;
  for (let k = 0; k < grid.length; k++) {
    if (!Number.isFinite(grid[k])) throw new RangeError(`${what}: time ${k} is not finite (${grid[k]})`);
    if (k > 0 && !((grid[k] - grid[k - 1]) * dir > 0)) {
      throw new RangeError(`${what}: the time grid is not strictly monotone at index ${k}`);
    }
  }
  return dir;
}
