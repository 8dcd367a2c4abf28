/**
 * Test helpers (not a test file): Gaussian log densities with known moments, exact Gaussian
 * samples, a counting wrapper that also checks the kernels never send non-finite input, and
 * Monte-Carlo z-scores.
 *
 * Failure budget: every statistical assertion uses |z| < Z = 4.5 (two-sided normal tail 6.8e-6);
 * with < 100 such assertions in test/mcmc the chance of a spurious failure for a random key is
 * below 1e-3 (keys are fixed, so a pass is reproducible).
 */
import { makeBatch, type Batch } from '../../src/core/batch.js';
import { normal, type Key } from '../../src/core/key.js';
import type { LogDensityFn } from '../../src/mcmc/types.js';

export const Z = 4.5;

/** Upper 1 - 1e-4 quantile of chi-square with 6 degrees of freedom (scipy.stats.chi2.ppf(0.9999, 6)). */
export const CHI2_6_9999 = 27.85634123601417;

/** Inverse of a symmetric positive definite d x d matrix by Gauss–Jordan (small d only). */
export function inverse(a: ArrayLike<number>, d: number): Float64Array {
  const m = Float64Array.from(a);
  const inv = new Float64Array(d * d);
  for (let i = 0; i < d; i++) inv[i * d + i] = 1;
  for (let c = 0; c < d; c++) {
    const p = m[c * d + c];
    for (let j = 0; j < d; j++) {
      m[c * d + j] /= p;
      inv[c * d + j] /= p;
    }
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = m[r * d + c];
      for (let j = 0; j < d; j++) {
        m[r * d + j] -= f * m[c * d + j];
        inv[r * d + j] -= f * inv[c * d + j];
      }
    }
  }
  return inv;
}

/** Lower Cholesky factor of an SPD d x d matrix. */
export function cholesky(a: ArrayLike<number>, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j];
      for (let k = 0; k < j; k++) s -= l[i * d + k] * l[j * d + k];
      l[i * d + j] = i === j ? Math.sqrt(s) : s / l[j * d + j];
    }
  }
  return l;
}

/** log N(x; mean, cov) (normalised) and its gradient, per row. */
export function gaussianLogDensity(mean: ArrayLike<number>, cov: ArrayLike<number>): LogDensityFn {
  const d = mean.length;
  const prec = inverse(cov, d);
  const l = cholesky(cov, d);
  let logDet = 0;
  for (let i = 0; i < d; i++) logDet += 2 * Math.log(l[i * d + i]);
  const c = -0.5 * (logDet + d * Math.log(2 * Math.PI));
  return (x: Batch) => {
    const value = new Float64Array(x.n);
    const grad = makeBatch(x.n, d);
    const r = new Float64Array(d);
    for (let i = 0; i < x.n; i++) {
      for (let j = 0; j < d; j++) r[j] = x.data[i * d + j] - mean[j];
      let q = 0;
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += prec[j * d + k] * r[k];
        grad.data[i * d + j] = -s;
        q += r[j] * s;
      }
      value[i] = c - 0.5 * q;
    }
    return { value, grad };
  };
}

/** `n` exact draws of N(mean, cov). */
export function sampleGaussian(key: Key, n: number, mean: ArrayLike<number>, cov: ArrayLike<number>): Batch {
  const d = mean.length;
  const l = cholesky(cov, d);
  const z = normal(key, n * d);
  const out = makeBatch(n, d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let s = mean[j];
      for (let k = 0; k <= j; k++) s += l[j * d + k] * z[i * d + k];
      out.data[i * d + j] = s;
    }
  }
  return out;
}

/** A log density that counts rows x calls and throws if it ever receives a non-finite coordinate. */
export function counting(fn: LogDensityFn): { fn: LogDensityFn; calls: () => number; rows: () => number } {
  let calls = 0;
  let rows = 0;
  return {
    fn: (x) => {
      for (let k = 0; k < x.data.length; k++) {
        if (!Number.isFinite(x.data[k])) throw new Error(`log density called with a non-finite coordinate at index ${k}`);
      }
      calls++;
      rows += x.n;
      return fn(x);
    },
    calls: () => calls,
    rows: () => rows,
  };
}

/** Sample mean and variance (divisor n - 1) of column j. */
export function columnMoments(b: Batch, j: number): { mean: number; variance: number } {
  let s = 0;
  for (let i = 0; i < b.n; i++) s += b.data[i * b.dim + j];
  const mean = s / b.n;
  let v = 0;
  for (let i = 0; i < b.n; i++) v += (b.data[i * b.dim + j] - mean) ** 2;
  return { mean, variance: v / (b.n - 1) };
}

/** Sample covariance of columns j and k. */
export function columnCovariance(b: Batch, j: number, k: number): number {
  const mj = columnMoments(b, j).mean;
  const mk = columnMoments(b, k).mean;
  let s = 0;
  for (let i = 0; i < b.n; i++) s += (b.data[i * b.dim + j] - mj) * (b.data[i * b.dim + k] - mk);
  return s / (b.n - 1);
}

/**
 * z-scores of the mean, variances and covariance of N independent draws (rows of `b`) against a
 * Gaussian law: mean SE sqrt(S_jj / N); for a Gaussian, var(S_jk estimate) = (S_jk^2 + S_jj S_kk) / (N - 1).
 */
export function gaussianMomentZ(b: Batch, mean: ArrayLike<number>, cov: ArrayLike<number>): number[] {
  const d = b.dim;
  const N = b.n;
  const z: number[] = [];
  for (let j = 0; j < d; j++) z.push((columnMoments(b, j).mean - mean[j]) / Math.sqrt(cov[j * d + j] / N));
  for (let j = 0; j < d; j++) {
    for (let k = j; k < d; k++) {
      const s = cov[j * d + k];
      const se = Math.sqrt((s * s + cov[j * d + j] * cov[k * d + k]) / (N - 1));
      z.push((columnCovariance(b, j, k) - s) / se);
    }
  }
  return z;
}
