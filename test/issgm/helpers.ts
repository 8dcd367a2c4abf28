/**
 * Test helpers (not a test file). For Gaussian data with an exact (linear) diffused score and an
 * exponential tilt, every ISSGM step is an affine-Gaussian map `x' = A x + b + C z` (g is the
 * constant tilt vector, eps is constant, the score is linear): the law of the sampler's output is
 * Gaussian with moments propagated exactly, step by step, through the very step functions under
 * test. That separates the discretisation bias (deterministic, computed here) from the Monte-Carlo
 * error (calibrated by standard errors in the tests). 2-D, full covariance.
 */
import { makeBatch, type Batch } from '../../src/core/batch.js';

/** A 2-D Gaussian law: mean (2) and covariance (2 x 2 row-major). */
export interface Law2 {
  mean: Float64Array;
  cov: Float64Array;
}

/** A step `F(x, z)` on a batch (z = null: no noise). */
export type Step = (x: Batch, z: Batch | null) => Batch;

const pt = (a: number, b: number): Batch => makeBatch(1, 2, [a, b]);

/** Propagate `N(m, S)` through an affine-Gaussian step: `b = F(0, 0)`, `A e_j = F(e_j, 0) - b`, `C e_j = F(0, e_j) - b`. */
export function propagate2(step: Step, law: Law2, noisy: boolean): Law2 {
  const zero = noisy ? pt(0, 0) : null;
  const b = step(pt(0, 0), zero).data;
  const A = new Float64Array(4);
  const C = new Float64Array(4);
  for (let j = 0; j < 2; j++) {
    const e = j === 0 ? pt(1, 0) : pt(0, 1);
    const fa = step(e, zero).data;
    for (let i = 0; i < 2; i++) A[i * 2 + j] = fa[i] - b[i];
    if (noisy) {
      const fc = step(pt(0, 0), e).data;
      for (let i = 0; i < 2; i++) C[i * 2 + j] = fc[i] - b[i];
    }
  }
  const mean = new Float64Array(2);
  for (let i = 0; i < 2; i++) mean[i] = A[i * 2] * law.mean[0] + A[i * 2 + 1] * law.mean[1] + b[i];
  const cov = add(mul(mul(A, law.cov), transpose(A)), mul(C, transpose(C)));
  return { mean, cov };
}

export function mul(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const o = new Float64Array(4);
  for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) o[i * 2 + j] = a[i * 2] * b[j] + a[i * 2 + 1] * b[2 + j];
  return o;
}
export function add(a: ArrayLike<number>, b: ArrayLike<number>, s = 1): Float64Array {
  return Float64Array.from({ length: 4 }, (_, k) => a[k] + s * b[k]);
}
export function transpose(a: ArrayLike<number>): Float64Array {
  return Float64Array.of(a[0], a[2], a[1], a[3]);
}
export function inv(a: ArrayLike<number>): Float64Array {
  const det = a[0] * a[3] - a[1] * a[2];
  return Float64Array.of(a[3] / det, -a[1] / det, -a[2] / det, a[0] / det);
}
export function matvec(a: ArrayLike<number>, v: ArrayLike<number>): Float64Array {
  return Float64Array.of(a[0] * v[0] + a[1] * v[1], a[2] * v[0] + a[3] * v[1]);
}
export function scale(a: ArrayLike<number>, s: number): Float64Array {
  return Float64Array.from(a, (v) => s * v);
}
export const I2 = Float64Array.of(1, 0, 0, 1);

/** Largest absolute difference of means and of covariances. */
export function lawDistance(a: Law2, b: Law2): number {
  let d = 0;
  for (let i = 0; i < 2; i++) d = Math.max(d, Math.abs(a.mean[i] - b.mean[i]));
  for (let k = 0; k < 4; k++) d = Math.max(d, Math.abs(a.cov[k] - b.cov[k]));
  return d;
}

/**
 * z-scores of the sample mean (2) and covariance entries (00, 01, 11) of n draws against an exact
 * Gaussian law: SE(mean_i) = sqrt(S_ii / n), SE(cov_ij) = sqrt((S_ij^2 + S_ii S_jj) / (n - 1))
 * (exact for Gaussian samples, unbiased covariance).
 */
export function zScores2(x: Batch, law: Law2): { mean: number[]; cov: number[] } {
  const n = x.n;
  const m = [0, 0];
  for (let i = 0; i < n; i++) for (let j = 0; j < 2; j++) m[j] += x.data[2 * i + j] / n;
  const c = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const u = x.data[2 * i] - m[0];
    const v = x.data[2 * i + 1] - m[1];
    c[0] += (u * u) / (n - 1);
    c[1] += (u * v) / (n - 1);
    c[3] += (v * v) / (n - 1);
  }
  c[2] = c[1];
  const S = law.cov;
  const zm = [0, 1].map((j) => (m[j] - law.mean[j]) / Math.sqrt(S[j * 3] / n));
  const pairs: [number, number][] = [[0, 0], [0, 1], [1, 1]];
  const zc = pairs.map(([i, j]) => (c[i * 2 + j] - S[i * 2 + j]) / Math.sqrt((S[i * 2 + j] ** 2 + S[i * 3] * S[j * 3]) / (n - 1)));
  return { mean: zm, cov: zc };
}

/** Standard errors of the mean and covariance entries of n Gaussian draws from `law` (same order as zScores2). */
export function standardErrors2(law: Law2, n: number): { mean: number[]; cov: number[] } {
  const S = law.cov;
  const pairs: [number, number][] = [[0, 0], [0, 1], [1, 1]];
  return {
    mean: [0, 1].map((j) => Math.sqrt(S[j * 3] / n)),
    cov: pairs.map(([i, j]) => Math.sqrt((S[i * 2 + j] ** 2 + S[i * 3] * S[j * 3]) / (n - 1))),
  };
}

/** Sample mean and unbiased covariance of a 2-D batch. */
export function sampleLaw(x: Batch): Law2 {
  const n = x.n;
  const mean = new Float64Array(2);
  for (let i = 0; i < n; i++) for (let j = 0; j < 2; j++) mean[j] += x.data[2 * i + j] / n;
  const cov = new Float64Array(4);
  for (let i = 0; i < n; i++) {
    const u = x.data[2 * i] - mean[0];
    const v = x.data[2 * i + 1] - mean[1];
    cov[0] += (u * u) / (n - 1);
    cov[1] += (u * v) / (n - 1);
    cov[3] += (v * v) / (n - 1);
  }
  cov[2] = cov[1];
  return { mean, cov };
}
