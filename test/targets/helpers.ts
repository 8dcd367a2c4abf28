/** Shared checks for the target tests (not a test file itself). */
import { expect } from 'vitest';
import { makeBatch, type Batch } from '../../src/core/batch.js';
import type { NoiseSchedule } from '../../src/core/types.js';

/**
 * Central finite differences of `f` at every row and coordinate of `x`, in one batched call:
 * `(f(x + h e_j) - f(x - h e_j)) / 2h`, `h = hRel * max(1, |x_j|)`.
 */
export function finiteDifferenceGrad(f: (x: Batch) => Float64Array, x: Batch, hRel = 1e-5): Batch {
  const { n, dim } = x;
  const pts = makeBatch(2 * n * dim, dim);
  const hs = new Float64Array(n * dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) {
      const h = hRel * Math.max(1, Math.abs(x.data[i * dim + j]));
      hs[i * dim + j] = h;
      for (let s = 0; s < 2; s++) {
        const r = (i * dim + j) * 2 + s;
        pts.data.set(x.data.subarray(i * dim, (i + 1) * dim), r * dim);
        pts.data[r * dim + j] += s === 0 ? h : -h;
      }
    }
  }
  const v = f(pts);
  const g = makeBatch(n, dim);
  for (let k = 0; k < n * dim; k++) g.data[k] = (v[2 * k] - v[2 * k + 1]) / (2 * hs[k]);
  return g;
}

/**
 * Largest error `|a - b| / max(1, |b|)` over all entries (relative where the gradient is large,
 * absolute where it is below 1).
 */
export function maxRelError(a: Batch | Float64Array, b: Batch | Float64Array): number {
  const da = a instanceof Float64Array ? a : a.data;
  const db = b instanceof Float64Array ? b : b.data;
  expect(da.length).toBe(db.length);
  let m = 0;
  for (let i = 0; i < da.length; i++) {
    const e = Math.abs(da[i] - db[i]) / Math.max(1, Math.abs(db[i]));
    if (!(e <= m)) m = Number.isNaN(e) ? Infinity : Math.max(m, e);
  }
  return m;
}

/** Assert an analytic gradient against central finite differences (relative tolerance `rtol`). */
export function expectGradientMatches(
  f: (x: Batch) => Float64Array,
  grad: Batch,
  x: Batch,
  rtol = 1e-6,
  hRel = 1e-5,
): void {
  const fd = finiteDifferenceGrad(f, x, hRel);
  expect(maxRelError(grad, fd)).toBeLessThan(rtol);
}

/** VP SDE with linear beta (SPEC §1), b_min 0.1, b_max 20: alpha = exp(-1/2 int b), sigma^2 = 1 - alpha^2. */
export const vp: NoiseSchedule = {
  alpha: (t) => Math.exp(-0.5 * (0.1 * t + 0.5 * (20 - 0.1) * t * t)),
  sigma: (t) => Math.sqrt(-Math.expm1(-(0.1 * t + 0.5 * (20 - 0.1) * t * t))),
};

/** Sample mean and covariance (row-major). */
export function sampleMoments(x: Batch): { mean: Float64Array; cov: Float64Array } {
  const { n, dim } = x;
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += x.data[i * dim + j] / n;
  const cov = new Float64Array(dim * dim);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < dim; a++) {
      for (let b = 0; b < dim; b++) {
        cov[a * dim + b] += ((x.data[i * dim + a] - mean[a]) * (x.data[i * dim + b] - mean[b])) / (n - 1);
      }
    }
  }
  return { mean, cov };
}

/** The z-quantile used by every statistical test here (two-sided failure rate ~7e-6 per check). */
export const Z = 4.5;

/**
 * Check sample mean and covariance against the truth within Z standard errors. Standard errors
 * are estimated from the sample itself (valid for any distribution with finite 4th moments):
 * `se(mean_a) = sd_a / sqrt(n)`, `se(cov_ab) = sd((x_a - m_a)(x_b - m_b)) / sqrt(n)`.
 */
export function expectMomentsMatch(x: Batch, mean: ArrayLike<number>, cov: ArrayLike<number>): void {
  const { n, dim } = x;
  const m = sampleMoments(x);
  for (let a = 0; a < dim; a++) {
    const se = Math.sqrt(m.cov[a * dim + a] / n);
    expect(Math.abs(m.mean[a] - mean[a]) / se).toBeLessThan(Z);
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      let s1 = 0;
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        const p = (x.data[i * dim + a] - m.mean[a]) * (x.data[i * dim + b] - m.mean[b]);
        s1 += p;
        s2 += p * p;
      }
      const v = s2 / n - (s1 / n) ** 2;
      const se = Math.sqrt(v / n);
      expect(Math.abs(m.cov[a * dim + b] - cov[a * dim + b]) / se).toBeLessThan(Z);
    }
  }
}

/** A random symmetric positive definite matrix `A A^T + eps I` from given normals. */
export function spdFrom(z: ArrayLike<number>, dim: number, eps = 0.3): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < dim; i++) {
    out.push([]);
    for (let j = 0; j < dim; j++) {
      let s = i === j ? eps : 0;
      for (let k = 0; k < dim; k++) s += z[i * dim + k] * z[j * dim + k];
      out[i].push(s);
    }
  }
  return out;
}
