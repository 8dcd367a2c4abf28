/**
 * Resampling from log-weights: unbiased offspring counts (E[count_i] = m w_i) by z-tests over R
 * independent keys, with the exact count variances (multinomial: m w (1 - w); systematic: the count
 * is floor(m w) or ceil(m w), variance f (1 - f) with f the fractional part); determinism; Kish ESS.
 * Failure budget: |z| < 4.5 over 2 schemes x 7 weights (P ~ 1e-4 for a random key; keys fixed).
 */
import { describe, expect, it } from 'vitest';
import { fromRows } from '../../src/core/batch.js';
import { foldIn, keyFromSeed } from '../../src/core/key.js';
import {
  essFromLogWeights, gatherRows, multinomialResample, offspringCounts, resampleIndices, selfNormalisedMean, systematicResample,
} from '../../src/baselines/resampling.js';
import { Z } from './helpers.js';

const w = [0.05, 0.3, 0.01, 0.2, 0.14, 0.25, 0.05];
// Log-weights with a large common offset: normalisation must not overflow.
const logw = w.map((v) => Math.log(v) + 700);

describe.each([
  ['systematic', systematicResample, (mw: number) => { const f = mw - Math.floor(mw); return f * (1 - f); }],
  ['multinomial', multinomialResample, (mw: number, m: number) => mw * (1 - mw / m)],
] as const)('%s resampling', (_, resample, variance) => {
  it('offspring counts are unbiased: E[count_i] = m w_i', () => {
    const R = 3000;
    for (const m of [7, 20]) {
      const sum = new Float64Array(w.length);
      for (let r = 0; r < R; r++) {
        const c = offspringCounts(resample(foldIn(keyFromSeed(11), r), logw, m), w.length);
        for (let i = 0; i < w.length; i++) sum[i] += c[i];
      }
      for (let i = 0; i < w.length; i++) {
        const v = variance(m * w[i], m);
        const mean = sum[i] / R;
        if (v === 0) expect(mean).toBe(m * w[i]);
        else expect(Math.abs(mean - m * w[i]) / Math.sqrt(v / R)).toBeLessThan(Z);
      }
    }
  });

  it('is deterministic in the key, draws m indices in range, and never picks a zero weight', () => {
    const k = keyFromSeed(0);
    expect(Array.from(resample(k, logw, 50))).toEqual(Array.from(resample(k, logw, 50)));
    // Many small weights: two keys give the same systematic draw with probability ~ 1/(mean gap).
    const many = Array.from({ length: 500 }, (_, i) => Math.log(1 + (i % 7)));
    expect(Array.from(resample(k, many, 100))).not.toEqual(Array.from(resample(keyFromSeed(1), many, 100)));
    const lz = [-Infinity, 0, -Infinity, Math.log(3), -Infinity];
    for (let r = 0; r < 200; r++) {
      const idx = resample(foldIn(k, r), lz, 9);
      expect(idx.length).toBe(9);
      for (const i of idx) expect(i === 1 || i === 3).toBe(true);
    }
    expect(resample(k, logw, 0).length).toBe(0);
  });
});

describe('resampling details', () => {
  it('systematic counts are floor or ceil of m w_i', () => {
    for (let r = 0; r < 300; r++) {
      const c = offspringCounts(systematicResample(foldIn(keyFromSeed(5), r), logw, 20), w.length);
      for (let i = 0; i < w.length; i++) {
        expect(c[i]).toBeGreaterThanOrEqual(Math.floor(20 * w[i] - 1e-9));
        expect(c[i]).toBeLessThanOrEqual(Math.ceil(20 * w[i] + 1e-9));
      }
    }
  });

  it('resampleIndices dispatches by scheme and rejects unknown schemes and NaN weights', () => {
    const k = keyFromSeed(3);
    expect(Array.from(resampleIndices(k, logw, 10, 'multinomial'))).toEqual(Array.from(multinomialResample(k, logw, 10)));
    expect(Array.from(resampleIndices(k, logw))).toEqual(Array.from(systematicResample(k, logw)));
    expect(() => resampleIndices(k, logw, 3, 'residual' as never)).toThrow(/unknown resampling scheme/);
    expect(() => systematicResample(k, [0, NaN])).toThrow(/NaN/);
    expect(() => systematicResample(k, [-Infinity, -Infinity])).toThrow(/all weights are zero/);
  });

  it('Kish ESS: n for equal weights, 1 for a single non-zero weight, invariant to a shift', () => {
    expect(essFromLogWeights(new Float64Array(37).fill(-3.2))).toBeCloseTo(37, 12);
    expect(essFromLogWeights([-Infinity, 5, -Infinity])).toBe(1);
    expect(essFromLogWeights(logw)).toBeCloseTo(essFromLogWeights(w.map(Math.log)), 10);
    expect(essFromLogWeights(w.map(Math.log))).toBeCloseTo(1 / w.reduce((s, v) => s + v * v, 0), 10);
  });

  it('gatherRows copies rows; selfNormalisedMean with equal weights is the plain mean', () => {
    const x = fromRows([[1, 2], [3, 4], [5, 7]]);
    expect(Array.from(gatherRows(x, [2, 0, 2]).data)).toEqual([5, 7, 1, 2, 5, 7]);
    const { mean, se } = selfNormalisedMean(x, [0, 0, 0]);
    expect(Array.from(mean)).toEqual([3, 13 / 3]);
    // Delta method with w = 1/n: se^2 = sum (x - mean)^2 / n^2.
    expect(se[0]).toBeCloseTo(Math.sqrt(8) / 3, 12);
  });
});
