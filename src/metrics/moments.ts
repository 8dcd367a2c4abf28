/**
 * Errors of the mean and sample moments (SPEC §4 "MSE / L1 / L2 of the mean"): with
 * `delta = mean(a) - mean(b)` over coordinates, `mse = |delta|^2 / dim` (averaged over dimensions),
 * `l1 = sum_k |delta_k|`, `l2 = |delta|` (Euclidean norm).
 */
import type { Batch } from '../core/batch.js';
import { checkBatch, checkPair } from './validate.js';

/** Coordinate-wise mean of a batch. */
export function mean(b: Batch): Float64Array {
  checkBatch(b, 'mean');
  const d = b.dim;
  const mu = new Float64Array(d);
  for (let i = 0; i < b.n; i++) for (let k = 0; k < d; k++) mu[k] += b.data[i * d + k];
  for (let k = 0; k < d; k++) mu[k] /= b.n;
  return mu;
}

/** MSE (averaged over dimensions), L1 and L2 norms of the difference of the coordinate-wise means. */
export function meanErrors(a: Batch, b: Batch): { mse: number; l1: number; l2: number } {
  checkPair(a, b, 'meanErrors');
  const ma = mean(a);
  const mb = mean(b);
  let sq = 0;
  let l1 = 0;
  for (let k = 0; k < a.dim; k++) {
    const t = ma[k] - mb[k];
    sq += t * t;
    l1 += Math.abs(t);
  }
  return { mse: sq / a.dim, l1, l2: Math.sqrt(sq) };
}

/**
 * Mean and unbiased sample covariance (divisor `n - 1`, numpy.cov's default) of a batch; the
 * covariance is `dim x dim` row-major. Needs at least two points. Two-pass (centre, then sum
 * products) for accuracy.
 */
export function meanAndCov(b: Batch): { mean: Float64Array; cov: Float64Array } {
  checkBatch(b, 'meanAndCov');
  if (b.n < 2) throw new RangeError(`meanAndCov: a sample covariance needs at least 2 points, got ${b.n}`);
  const d = b.dim;
  const mu = mean(b);
  const cov = new Float64Array(d * d);
  const c = new Float64Array(d);
  for (let i = 0; i < b.n; i++) {
    for (let k = 0; k < d; k++) c[k] = b.data[i * d + k] - mu[k];
    for (let k = 0; k < d; k++) for (let l = k; l < d; l++) cov[k * d + l] += c[k] * c[l];
  }
  for (let k = 0; k < d; k++) {
    for (let l = k; l < d; l++) {
      cov[k * d + l] /= b.n - 1;
      cov[l * d + k] = cov[k * d + l];
    }
  }
  return { mean: mu, cov };
}
