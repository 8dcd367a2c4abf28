import { describe, expect, it } from 'vitest';
import { fromRows, makeBatch } from '../../src/core/batch.js';
import { keyFromSeed, normal } from '../../src/core/key.js';
import {
  essFromLogWeights,
  logSumExp,
  mean,
  meanAndCov,
  meanErrors,
  normalizeLogWeights,
} from '../../src/metrics/index.js';

describe('moments', () => {
  it('meanErrors: MSE averaged over dims, L1 sum, L2 norm of the mean difference', () => {
    const a = fromRows([[1, 2, 3], [3, 2, 1]]); // mean (2, 2, 2)
    const b = fromRows([[0, 0, 5]]); // mean (0, 0, 5): diff (2, 2, -3)
    const e = meanErrors(a, b);
    expect(e.mse).toBeCloseTo(17 / 3, 15);
    expect(e.l1).toBe(7);
    expect(e.l2).toBeCloseTo(Math.sqrt(17), 15);
    expect(meanErrors(a, a)).toEqual({ mse: 0, l1: 0, l2: 0 });
    expect(() => meanErrors(a, fromRows([[1, 2]]))).toThrow(/dimensions differ/);
  });

  it('meanAndCov matches hand values (divisor n - 1)', () => {
    const b = fromRows([[0, 0], [2, 0], [0, 2], [2, 2]]);
    const { mean: mu, cov } = meanAndCov(b);
    expect(Array.from(mu)).toEqual([1, 1]);
    expect(Array.from(cov)).toEqual([4 / 3, 0, 0, 4 / 3]);
    expect(Array.from(mean(fromRows([[5, -1]])))).toEqual([5, -1]);
    expect(() => meanAndCov(fromRows([[1, 2]]))).toThrow(/at least 2 points/);
    expect(() => mean(makeBatch(0, 2))).toThrow(/empty/);
  });
});

describe('log-weights and ESS', () => {
  it('ESS of equal weights is n, of one-hot is 1, shift-invariant and never overflows', () => {
    expect(essFromLogWeights(new Float64Array(250).fill(-3.7))).toBe(250);
    expect(essFromLogWeights([0, -Infinity, -Infinity, -Infinity])).toBe(1);
    expect(essFromLogWeights([1000, 1000])).toBe(2);
    expect(essFromLogWeights([-1000, -1000 + Math.log(3)])).toBeCloseTo(16 / 10, 12); // w = (1, 3)
    const l = normal(keyFromSeed(1), 100);
    expect(essFromLogWeights(l.map((x) => x + 700))).toBeCloseTo(essFromLogWeights(l), 10);
  });

  it('handles -Infinity: zero weights, and ESS 0 when every weight is zero', () => {
    expect(essFromLogWeights([-Infinity, -Infinity])).toBe(0);
    expect(logSumExp([-Infinity, -Infinity])).toBe(-Infinity);
    expect(logSumExp([])).toBe(-Infinity);
    const w = normalizeLogWeights([0, -Infinity, Math.log(3)]);
    expect(w[0]).toBeCloseTo(0.25, 15);
    expect(w[1]).toBe(0);
    expect(w[2]).toBeCloseTo(0.75, 15);
    expect(() => normalizeLogWeights([-Infinity])).toThrow(/all weights are zero/);
  });

  it('logSumExp is exact on simple inputs and stable for large ones', () => {
    expect(logSumExp([Math.log(2), Math.log(3)])).toBeCloseTo(Math.log(5), 15);
    expect(logSumExp([1000, 1000])).toBeCloseTo(1000 + Math.LN2, 12);
    const w = normalizeLogWeights([-800, -801, -802]);
    expect(w.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 15);
    expect(w[1] / w[0]).toBeCloseTo(Math.exp(-1), 15);
  });

  it('rejects NaN, +Infinity and empty input', () => {
    expect(() => essFromLogWeights([0, NaN])).toThrow(/log-weight NaN at index 1/);
    expect(() => essFromLogWeights([Infinity])).toThrow(/log-weight Infinity at index 0/);
    expect(() => essFromLogWeights([])).toThrow(/empty/);
    expect(() => logSumExp([NaN])).toThrow(/NaN at index 0/);
  });
});
