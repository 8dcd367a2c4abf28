/**
 * Step-size adaptation: the x/÷ rule of SPEC §3 (exact behaviour, block means, clamps, purity)
 * and dual averaging (Hoffman & Gelman 2014) on a deterministic acceptance curve, where it must
 * converge to the step size whose acceptance is the target; then on MALA, where the adapted step
 * size must give an acceptance rate near the target (CLT over chains).
 */
import { describe, expect, it } from 'vitest';
import { keyFromSeed, split } from '../../src/core/key.js';
import { adaptStepSize, dualAveragingInit, dualAveragingUpdate, repeatPerBlock } from '../../src/mcmc/adaptation.js';
import { malaStep } from '../../src/mcmc/mala.js';
import { initChains } from '../../src/mcmc/types.js';
import { gaussianLogDensity, sampleGaussian, Z } from './helpers.js';

describe('adaptStepSize', () => {
  it('multiplies by the factor above hi, divides below lo, keeps the step inside [lo, hi]', () => {
    const s = Float64Array.from([1, 1, 1, 1, 1, 2]);
    const a = Float64Array.from([0.9, 0.61, 0.6, 0.55, 0.5, 0.1]);
    const copy = s.slice();
    expect(Array.from(adaptStepSize(s, a))).toEqual([1.5, 1.5, 1, 1, 1, 2 / 1.5]);
    expect(Array.from(s)).toEqual(Array.from(copy)); // pure
    expect(Array.from(adaptStepSize(s, a, { lo: 0.2, hi: 0.7, factor: 2 }))).toEqual([2, 1, 1, 1, 1, 1]);
    // NaN acceptance: no information, no change.
    expect(Array.from(adaptStepSize(Float64Array.of(0.3), Float64Array.of(NaN)))).toEqual([0.3]);
  });

  it('adapts one step size per block of chains on the block mean; clamps to [min, max]', () => {
    const a = Float64Array.from([0.9, 0.7, 0.1, 0.2, 0.5, 0.6]);
    // Blocks of 2: means 0.8, 0.15, 0.55.
    expect(Array.from(adaptStepSize(Float64Array.from([1, 1, 1]), a))).toEqual([1.5, 1 / 1.5, 1]);
    expect(Array.from(adaptStepSize(Float64Array.of(1), a))).toEqual([1]); // global mean 0.5
    expect(Array.from(repeatPerBlock(Float64Array.from([1, 2]), 4))).toEqual([1, 1, 2, 2]);
    expect(Array.from(adaptStepSize(Float64Array.of(1e-12), Float64Array.of(0)))).toEqual([1e-12]);
    expect(Array.from(adaptStepSize(Float64Array.of(3), Float64Array.of(1), { max: 4 }))).toEqual([4]);
    expect(() => adaptStepSize(Float64Array.from([1, 1, 1, 1]), a)).toThrow(/cannot be split/);
    expect(() => adaptStepSize(Float64Array.of(1), a, { lo: 0.7, hi: 0.6 })).toThrow(/lo <= hi/);
    expect(() => adaptStepSize(Float64Array.of(1), a, { factor: 1 })).toThrow(/factor/);
  });

  it('from a bad start reaches the band in O(log) iterations when the band spans more than the factor', () => {
    // Acceptance exp(-h^{1/4}) (a slowly varying curve): the band [0.5, 0.6] is h in
    // [0.0681, 0.2306], a ratio of 3.4 > 1.5, so the rule cannot jump over it.
    const acc = (h: number): number => Math.exp(-Math.pow(h, 0.25));
    for (const start of [1e-6, 1e3]) {
      let h: Float64Array = Float64Array.of(start);
      for (let t = 0; t < 60; t++) h = adaptStepSize(h, Float64Array.of(acc(h[0])));
      expect(acc(h[0])).toBeGreaterThanOrEqual(0.5);
      expect(acc(h[0])).toBeLessThanOrEqual(0.6);
    }
  });
});

describe('dual averaging', () => {
  it('converges to the step size whose acceptance is the target at rate O(1/sqrt(t)) (deterministic curve)', () => {
    const acc = (h: number): number => Math.exp(-h); // target a* <=> h* = -log a*
    for (const target of [0.55, 0.8]) {
      // From far below and far above h*; the averaged iterate's relative error is below 1.5 / sqrt(t).
      let st = dualAveragingInit(Float64Array.from([0.01, 5]));
      for (let t = 1; t <= 2000; t++) {
        st = dualAveragingUpdate(st, Float64Array.from([acc(st.stepSize[0]), acc(st.stepSize[1])]), { target });
        if (t === 500 || t === 2000) {
          for (let b = 0; b < 2; b++) expect(Math.abs(st.finalStepSize[b] / -Math.log(target) - 1)).toBeLessThan(1.5 / Math.sqrt(t));
        }
      }
      expect(st.t).toBe(2000);
    }
    expect(() => dualAveragingInit(Float64Array.of(0))).toThrow(/positive/);
  });

  it('tunes MALA on a correlated Gaussian to its target acceptance (CLT over 1000 chains)', () => {
    const mean = [1, -2];
    const cov = [2, 1.2, 1.2, 1];
    const fn = gaussianLogDensity(mean, cov);
    let state = initChains(sampleGaussian(keyFromSeed(1), 1000, mean, cov), fn);
    let da = dualAveragingInit(Float64Array.of(0.01));
    for (const k of split(keyFromSeed(2), 150)) {
      const [next, info] = malaStep(k, state, fn, da.stepSize[0]);
      state = next;
      da = dualAveragingUpdate(da, info.acceptanceRate); // one step size, the mean of all chains
    }
    // Measure at the final step size: mean acceptance over independent stationary chains. The
    // averaged step size is within a relative 1.5 / sqrt(150) = 0.12 of h* (previous test's rate);
    // the acceptance moves by at most ~0.5 per unit of log h here (0.78 at h = 0.2, 0.63 at 0.3),
    // so we allow 0.06 for it, on top of the CLT band of the measurement.
    const [, info] = malaStep(keyFromSeed(3), state, fn, da.finalStepSize[0]);
    const a = info.acceptanceRate;
    const m = a.reduce((x, y) => x + y, 0) / a.length;
    const sd = Math.sqrt(a.reduce((x, y) => x + (y - m) ** 2, 0) / (a.length - 1));
    expect(Math.abs(m - 0.55)).toBeLessThan(0.06 + (Z * sd) / Math.sqrt(a.length));
  });
});
