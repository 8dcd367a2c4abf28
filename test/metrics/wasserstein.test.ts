import { describe, expect, it } from 'vitest';
import { makeBatch, type Batch } from '../../src/core/batch.js';
import { foldIn, keyFromSeed, normal, normalBatch, permutation } from '../../src/core/key.js';
import { slicedWasserstein, wasserstein, wasserstein1d, wassersteinBoth } from '../../src/metrics/index.js';

const key = keyFromSeed(0);

function shifted(b: Batch, v: number[]): Batch {
  const out = makeBatch(b.n, b.dim, b.data.slice());
  for (let i = 0; i < b.n; i++) for (let k = 0; k < b.dim; k++) out.data[i * b.dim + k] += v[k];
  return out;
}

function permuted(b: Batch, p: Int32Array): Batch {
  const out = makeBatch(b.n, b.dim);
  for (let i = 0; i < b.n; i++) out.data.set(b.data.subarray(p[i] * b.dim, (p[i] + 1) * b.dim), i * b.dim);
  return out;
}

describe('exact W1 / W2', () => {
  it('is 0 for identical and for permuted copies', () => {
    const a = normalBatch(key, 200, 3);
    expect(wasserstein(a, a, 1)).toBe(0);
    expect(wasserstein(a, a, 2)).toBe(0);
    const b = permuted(a, permutation(foldIn(key, 1), a.n));
    expect(wassersteinBoth(a, b)).toEqual({ w1: 0, w2: 0 });
  });

  it('equals |v| for a copy shifted by v (identity is optimal by the triangle inequality)', () => {
    const a = normalBatch(foldIn(key, 2), 150, 2);
    const v = [0.3, -1.2];
    const norm = Math.hypot(...v);
    const b = shifted(a, v);
    // Exact up to the rounding of (a_i + v) - a_i.
    expect(wasserstein(a, b, 1)).toBeCloseTo(norm, 12);
    expect(wasserstein(a, b, 2)).toBeCloseTo(norm, 12);
    // A shift of a permuted copy: the same.
    const c = permuted(b, permutation(foldIn(key, 3), b.n));
    const both = wassersteinBoth(a, c);
    expect(both.w1).toBeCloseTo(norm, 12);
    expect(both.w2).toBeCloseTo(norm, 12);
  });

  it('in 1-D equals the sorted-difference formula (monotone coupling is optimal)', () => {
    const x = normal(foldIn(key, 4), 120);
    const y = normal(foldIn(key, 5), 120).map((t) => 2 * t + 1);
    const xs = x.slice().sort();
    const ys = y.slice().sort();
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < xs.length; i++) {
      s1 += Math.abs(xs[i] - ys[i]);
      s2 += (xs[i] - ys[i]) ** 2;
    }
    const a = makeBatch(x.length, 1, x);
    const b = makeBatch(y.length, 1, y);
    expect(wasserstein(a, b, 1)).toBeCloseTo(s1 / xs.length, 12);
    expect(wasserstein(a, b, 2)).toBeCloseTo(Math.sqrt(s2 / xs.length), 12);
    expect(wasserstein1d(x, y, 1)).toBeCloseTo(s1 / xs.length, 12);
    expect(wasserstein1d(x, y, 2)).toBeCloseTo(Math.sqrt(s2 / xs.length), 12);
  });

  it('satisfies W1 <= W2 and symmetry', () => {
    const a = normalBatch(foldIn(key, 6), 100, 4);
    const b = shifted(normalBatch(foldIn(key, 7), 100, 4), [1, 0, 0, 0]);
    const ab = wassersteinBoth(a, b);
    const ba = wassersteinBoth(b, a);
    expect(ab.w1).toBeLessThanOrEqual(ab.w2 + 1e-12);
    expect(ba.w1).toBeCloseTo(ab.w1, 12);
    expect(ba.w2).toBeCloseTo(ab.w2, 12);
  });

  it('rejects unequal sizes, dimension mismatch, empty sets and non-finite values', () => {
    const a = normalBatch(key, 10, 2);
    expect(() => wasserstein(a, normalBatch(key, 11, 2), 2)).toThrow(/sub-sample both to equal size/);
    expect(() => wasserstein(a, normalBatch(key, 10, 3), 1)).toThrow(/dimensions differ \(2 vs 3\)/);
    expect(() => wasserstein(makeBatch(0, 2), makeBatch(0, 2), 1)).toThrow(/empty point set/);
    const bad = makeBatch(10, 2, a.data.slice());
    bad.data[5] = NaN;
    expect(() => wassersteinBoth(a, bad)).toThrow(/second set: non-finite value NaN at row 2, column 1/);
    expect(() => wasserstein(a, a, 3 as 1)).toThrow(/p must be 1 or 2/);
  });
});

describe('1-D W_p with unequal sizes', () => {
  it('matches a hand computation', () => {
    // F^{-1} of {0, 1} vs {0, 0, 3}: on (0,1/3] 0 vs 0, (1/3,1/2] 0 vs 0, (1/2,2/3] 1 vs 0, (2/3,1] 1 vs 3.
    expect(wasserstein1d([0, 1], [0, 0, 3], 1)).toBeCloseTo(1 / 6 + 2 / 3, 15);
    expect(wasserstein1d([0, 1], [0, 0, 3], 2)).toBeCloseTo(Math.sqrt(1 / 6 + 4 / 3), 15);
    expect(wasserstein1d([0, 1, 3], [5, 6, 8])).toBe(5);
  });

  it('is 0 for a duplicated copy (sizes n and 2n) and ignores order', () => {
    const x = normal(key, 31);
    const y = new Float64Array(62);
    y.set(x);
    y.set(x.slice().reverse(), 31);
    expect(wasserstein1d(x, y, 1)).toBe(0);
    expect(wasserstein1d(x, y, 2)).toBe(0);
  });

  it('rejects empty and non-finite input', () => {
    expect(() => wasserstein1d([], [1])).toThrow(/first set: empty/);
    expect(() => wasserstein1d([1], [Infinity])).toThrow(/second set: non-finite value Infinity/);
    expect(() => wasserstein1d([1], [2], 0.5)).toThrow(/p must be/);
  });
});

describe('sliced Wasserstein', () => {
  it('is 0 for permuted copies, deterministic per key, and SW2^2 = |v|^2 / d for a shift', () => {
    const a = normalBatch(foldIn(key, 8), 300, 3);
    const b = permuted(a, permutation(foldIn(key, 9), a.n));
    expect(slicedWasserstein(foldIn(key, 10), a, b)).toBe(0);
    const v = [2, 0, 0];
    const c = shifted(a, v);
    const k = foldIn(key, 11);
    const s2 = slicedWasserstein(k, a, c, { projections: 2000, p: 2 });
    expect(slicedWasserstein(k, a, c, { projections: 2000, p: 2 })).toBe(s2);
    // For a shift, each slice's W2 is |theta . v| exactly; E[(theta . u)^2] = 1/d on S^{d-1}.
    // Monte-Carlo with 2000 directions: the estimate of E[(theta.u)^2] has sd ~ sqrt(4/45)/sqrt(2000) ~ 0.0067.
    expect(Math.abs(s2 ** 2 / 4 - 1 / 3)).toBeLessThan(4 * 0.0067);
  });

  it('works with unequal sizes and rejects dimension mismatch', () => {
    const a = normalBatch(key, 40, 2);
    const b = normalBatch(foldIn(key, 1), 70, 2);
    expect(slicedWasserstein(key, a, b, { projections: 16, p: 1 })).toBeGreaterThan(0);
    expect(() => slicedWasserstein(key, a, normalBatch(key, 40, 3))).toThrow(/dimensions differ/);
    expect(() => slicedWasserstein(key, a, b, { projections: 0 })).toThrow(/projections/);
  });
});
