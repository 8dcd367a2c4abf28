/**
 * Datasets: distributions known only through a sampler (no closed-form density), such as the
 * FFJORD toy sets. Every `SampleableTarget` also fits this shape, so code that only needs
 * samples (ground truths, metrics, training data) takes a `DatasetSampler`.
 */
import { makeBatch, type Batch } from '../core/batch.js';
import { permutation, type Key } from '../core/key.js';

export interface DatasetSampler {
  readonly name: string;
  readonly dim: number;
  /** `n` samples; the same key always gives the same batch. */
  sample(key: Key, n: number): Batch;
}

/** Rows of `b` in a uniformly random order (a new batch). */
export function permuteRows(key: Key, b: Batch): Batch {
  const p = permutation(key, b.n);
  const out = makeBatch(b.n, b.dim);
  for (let i = 0; i < b.n; i++) out.data.set(b.data.subarray(p[i] * b.dim, (p[i] + 1) * b.dim), i * b.dim);
  return out;
}

/** Throw unless `n` is a non-negative integer. */
export function checkCount(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name}: sample count must be a non-negative integer, got ${n}`);
}
