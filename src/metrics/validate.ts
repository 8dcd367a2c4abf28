/**
 * Input checks shared by the metrics. Every metric rejects empty sets, dimension mismatches and
 * non-finite values with a RangeError naming the problem: a NaN that slipped into a sample set
 * would otherwise give a plausible-looking but meaningless number.
 */
import type { Batch } from '../core/batch.js';

/** Throw unless `b` is a well-formed, non-empty batch of finite values. */
export function checkBatch(b: Batch, what: string): void {
  if (!Number.isInteger(b.n) || b.n < 1) throw new RangeError(`${what}: empty point set (n = ${b.n})`);
  if (!Number.isInteger(b.dim) || b.dim < 1) throw new RangeError(`${what}: dimension must be >= 1, got ${b.dim}`);
  if (b.data.length !== b.n * b.dim) {
    throw new RangeError(`${what}: data has ${b.data.length} values but n*dim = ${b.n * b.dim}`);
  }
  const d = b.data;
  for (let k = 0; k < d.length; k++) {
    if (!Number.isFinite(d[k])) {
      throw new RangeError(
        `${what}: non-finite value ${d[k]} at row ${Math.floor(k / b.dim)}, column ${k % b.dim}`,
      );
    }
  }
}

/** Throw unless both batches are valid and share a dimension. */
export function checkPair(a: Batch, b: Batch, what: string): void {
  checkBatch(a, `${what}: first set`);
  checkBatch(b, `${what}: second set`);
  if (a.dim !== b.dim) throw new RangeError(`${what}: dimensions differ (${a.dim} vs ${b.dim})`);
}

/** Throw unless `v` is non-empty and finite. */
export function checkValues(v: ArrayLike<number>, what: string): void {
  if (v.length < 1) throw new RangeError(`${what}: empty set of values`);
  for (let k = 0; k < v.length; k++) {
    if (!Number.isFinite(v[k])) throw new RangeError(`${what}: non-finite value ${v[k]} at index ${k}`);
  }
}

/** Throw unless `bins` is a positive integer. */
export function checkBins(bins: number, what: string): void {
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`${what}: bins must be a positive integer, got ${bins}`);
}
