/**
 * Test helpers (not a test file). For Gaussian data the exact diffused score is affine in x, so a
 * reverse-SDE Euler–Maruyama step (plain, or with DPS guidance for a linear log l) is an affine-
 * Gaussian map `x' = A x + b + B z`: the exact law of the sampler's output is Gaussian, with moments
 * propagated step by step through the very step functions under test (in d dimensions, reading
 * A, b, B off the step at 0 and the unit vectors). That separates the discretisation bias
 * (deterministic) from Monte-Carlo error (calibrated) in the tests.
 */
import { makeBatch, type Batch } from '../../src/core/batch.js';
import type { LogWeight, ScoreModel } from '../../src/core/types.js';
import { reverseEulerMaruyamaStep } from '../../src/diffusion/em.js';
import { uniformTimeGrid } from '../../src/diffusion/grids.js';
import { meanFromScore } from '../../src/diffusion/parametrisation.js';
import type { VPSDE } from '../../src/diffusion/vp.js';

export const Z = 4.5;

export interface Law {
  mean: Float64Array;
  cov: Float64Array; // d x d row-major
}

/** Propagate `N(mean, cov)` through an affine-Gaussian step `F(x, z)` (z = null: no noise). */
export function propagate(step: (x: Batch, z: Batch | null) => Batch, law: Law, noisy: boolean): Law {
  const d = law.mean.length;
  const zero = makeBatch(1, d);
  const b = step(zero, noisy ? zero : null).data;
  const A = new Float64Array(d * d); // column j = F(e_j, 0) - b
  const B = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    const e = makeBatch(1, d);
    e.data[j] = 1;
    const fa = step(e, noisy ? zero : null).data;
    for (let i = 0; i < d; i++) A[i * d + j] = fa[i] - b[i];
    if (noisy) {
      const fb = step(zero, e).data;
      for (let i = 0; i < d; i++) B[i * d + j] = fb[i] - b[i];
    }
  }
  const mean = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = b[i];
    for (let j = 0; j < d; j++) s += A[i * d + j] * law.mean[j];
    mean[i] = s;
  }
  // cov' = A C A^T + B B^T
  const AC = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += A[i * d + k] * law.cov[k * d + j];
    AC[i * d + j] = s;
  }
  const cov = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += AC[i * d + k] * A[j * d + k] + B[i * d + k] * B[j * d + k];
    cov[i * d + j] = s;
  }
  return { mean, cov };
}

/** `N(0, I)` in d dimensions. */
export function standardLaw(d: number): Law {
  const cov = new Float64Array(d * d);
  for (let i = 0; i < d; i++) cov[i * d + i] = 1;
  return { mean: new Float64Array(d), cov };
}

/** The exponential tilt of a Gaussian law by `exp(a.x)`: `N(m + C a, C)`, and `log E[exp(a.x)] = a.m + a^T C a / 2`. */
export function tiltLaw(law: Law, a: ArrayLike<number>): { law: Law; logNormalizer: number } {
  const d = law.mean.length;
  const mean = new Float64Array(d);
  let am = 0;
  let aca = 0;
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += law.cov[i * d + j] * a[j];
    mean[i] = law.mean[i] + s;
    am += a[i] * law.mean[i];
    aca += a[i] * s;
  }
  return { law: { mean, cov: law.cov.slice() }, logNormalizer: am + 0.5 * aca };
}

/** `log l(x) = a.x` with gradient `a`. */
export function linearLogWeight(a: ArrayLike<number>): LogWeight {
  const d = a.length;
  return {
    dim: d,
    value: (x) => {
      const out = new Float64Array(x.n);
      for (let i = 0; i < x.n; i++) for (let j = 0; j < d; j++) out[i] += a[j] * x.data[i * d + j];
      return out;
    },
    valueAndGrad: (x) => {
      const value = new Float64Array(x.n);
      const grad = makeBatch(x.n, d);
      for (let i = 0; i < x.n; i++) for (let j = 0; j < d; j++) {
        value[i] += a[j] * x.data[i * d + j];
        grad.data[i * d + j] = a[j];
      }
      return { value, grad };
    },
  };
}

/** Sample mean and (unbiased) covariance, row-major. */
export function sampleMoments(x: Batch): Law {
  const d = x.dim;
  const mean = new Float64Array(d);
  for (let i = 0; i < x.n; i++) for (let j = 0; j < d; j++) mean[j] += x.data[i * d + j] / x.n;
  const cov = new Float64Array(d * d);
  for (let i = 0; i < x.n; i++) for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) {
    cov[j * d + k] += ((x.data[i * d + j] - mean[j]) * (x.data[i * d + k] - mean[k])) / (x.n - 1);
  }
  return { mean, cov };
}

/**
 * z-scores of a sample's mean and covariance entries against a Gaussian law from n independent
 * draws: `se(mean_j) = sqrt(C_jj / n)`, `se(cov_jk) = sqrt((C_jj C_kk + C_jk^2) / (n - 1))`
 * (exact for Gaussian samples).
 */
export function momentZScores(sample: Law, exact: Law, n: number): { mean: number[]; cov: number[] } {
  const d = exact.mean.length;
  const C = exact.cov;
  const mean = Array.from({ length: d }, (_, j) => (sample.mean[j] - exact.mean[j]) / Math.sqrt(C[j * d + j] / n));
  const cov: number[] = [];
  for (let j = 0; j < d; j++) for (let k = j; k < d; k++) {
    const se = Math.sqrt((C[j * d + j] * C[k * d + k] + C[j * d + k] ** 2) / (n - 1));
    cov.push((sample.cov[j * d + k] - C[j * d + k]) / se);
  }
  return { mean, cov };
}

/** Largest absolute entry difference of two arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Index of the component with the largest responsibility under a mixture's log-densities. */
export function nearestComponent(perComponentLogDensity: Float64Array[], i: number): number {
  let best = -Infinity;
  let arg = 0;
  perComponentLogDensity.forEach((lp, k) => {
    if (lp[i] > best) {
      best = lp[i];
      arg = k;
    }
  });
  return arg;
}

/**
 * The exact output law of the plain reverse-SDE Euler–Maruyama sampler (uniform grid of `steps`,
 * Tweedie denoising at the end) for a model whose score is affine in x (a Gaussian p): the chain
 * is affine, so its law is pushed through the real step functions exactly.
 */
export function plainEmLaw(model: ScoreModel, sde: VPSDE, dim: number, steps: number): Law {
  const grid = uniformTimeGrid(steps);
  let law = standardLaw(dim);
  for (let k = 0; k < steps; k++) {
    const t = grid[k];
    law = propagate((x, z) => reverseEulerMaruyamaStep(x, model.score(x, t), t, t - grid[k + 1], z ?? makeBatch(1, dim), sde), law, true);
  }
  return propagate((x) => meanFromScore(model.score(x, grid[steps]), x, sde, grid[steps]), law, false);
}
