/**
 * MCMC and SMC baselines: exact gradient-budget accounting (rows x calls, the largest number of
 * whole transitions / bridges that fits); moments of the MCMC chains' last states on a correlated
 * Gaussian (CLT over independent chains); on a 1-D two-component Gaussian mixture, SMC's mode
 * weight, mean and Z (the mixture is normalised: E[Z^] = 1) over R independent runs, against the
 * truth with the standard error of the R runs (|z| < 4.5; with R = 30 the t(29) tail is ~1e-4).
 */
import { describe, expect, it } from 'vitest';
import { foldIn, keyFromSeed } from '../../src/core/key.js';
import type { Target } from '../../src/core/types.js';
import { runMcmcBaseline, runSmcBaseline } from '../../src/baselines/mcmc.js';
import { normalizeLogWeights } from '../../src/mcmc/resampling.js';
import { Gaussian } from '../../src/targets/gaussian.js';
import { GaussianMixture } from '../../src/targets/gmm.js';
import { gaussianMomentZ } from '../mcmc/helpers.js';
import { Z } from './helpers.js';

function counted(t: Target): { target: Target; rows: () => number } {
  let rows = 0;
  return {
    target: {
      name: t.name,
      dim: t.dim,
      logDensity: (x) => t.logDensity(x),
      logDensityAndGrad: (x) => {
        rows += x.n;
        return t.logDensityAndGrad(x);
      },
    },
    rows: () => rows,
  };
}

const MEAN = [1, -2];
const COV = [2, 1.2, 1.2, 1];
const gauss = new Gaussian(MEAN, { cov: COV });

describe('runMcmcBaseline', () => {
  it.each([['mala', 1], ['hmc', 4]] as const)('%s: spends the budget exactly (rows x calls) and returns n samples', (kernel, calls) => {
    const c = counted(gauss);
    const budget = 10_007;
    const r = runMcmcBaseline(keyFromSeed(1), c.target, { n: 50, kernel, hmcSteps: 4, gradientBudget: budget, stepSize: 0.2 });
    const T = Math.floor((budget - 50) / (50 * calls));
    expect(r.info.transitions).toBe(T);
    expect(r.info.gradientEvaluations).toBe(c.rows());
    expect(c.rows()).toBe(50 * (1 + T * calls));
    expect(budget - c.rows()).toBeLessThan(50 * calls);
    expect(r.samples.n).toBe(50);
    expect(r.info.warmup).toBe(Math.round(T / 2));
    const again = runMcmcBaseline(keyFromSeed(1), gauss, { n: 50, kernel, hmcSteps: 4, gradientBudget: budget, stepSize: 0.2 });
    expect(Array.from(again.samples.data)).toEqual(Array.from(r.samples.data));
    expect(() => runMcmcBaseline(keyFromSeed(1), gauss, { n: 50, kernel, hmcSteps: 4, gradientBudget: 50 * (1 + calls) - 1, stepSize: 0.2 })).toThrow(/does not cover/);
  });

  it.each(['mala', 'hmc'] as const)('%s: the last states of 2000 chains have the target moments (adapted step size)', (kernel) => {
    // 150 warm-up + 150 sampling transitions from N(0, 3^2 I); the slow mode (variance 2.8)
    // relaxes within a few dozen transitions at the adapted step size.
    const n = 2000;
    const calls = kernel === 'mala' ? 1 : 5;
    const r = runMcmcBaseline(keyFromSeed(2), gauss, { n, kernel, gradientBudget: n * (1 + 300 * calls), stepSize: 0.01, initScale: 3 });
    expect(r.info.transitions).toBe(300);
    expect(r.info.acceptance).toBeGreaterThan(0.3);
    for (const z of gaussianMomentZ(r.samples, MEAN, COV)) expect(Math.abs(z)).toBeLessThan(Z);
  });
});

describe('runSmcBaseline on a 1-D two-component Gaussian mixture', () => {
  const w1 = 0.7;
  const gmm = new GaussianMixture({ means: [[-3], [3]], weights: [1 - w1, w1], covariance: { std: 0.6 } });
  const trueMean = w1 * 3 - (1 - w1) * 3;

  it('spends the budget exactly', () => {
    const c = counted(gmm);
    const r = runSmcBaseline(keyFromSeed(3), c.target, { n: 100, kernel: 'hmc', hmcSteps: 3, stepsPerBridge: 2, gradientBudget: 20_000, stepSize: 0.3, initScale: 5 });
    const K = Math.floor((20_000 - 100) / (100 * 2 * 3));
    expect(r.info.bridges).toBe(K);
    expect(r.info.gradientEvaluations).toBe(c.rows());
    expect(c.rows()).toBe(100 * (1 + K * 2 * 3));
    expect(r.samples.n).toBe(100);
    expect(() => runSmcBaseline(keyFromSeed(3), gmm, { n: 100, kernel: 'mala', gradientBudget: 100 + 199, stepSize: 0.3 })).toThrow(/does not cover/);
  });

  // Equal gradient cost per bridge: MALA 6 transitions, HMC 2 transitions x 3 leapfrog steps. (With
  // 2 MALA transitions the per-run estimates are heavy-tailed: the t-statistic over 30 runs had
  // sd 1.3 over 50 seeds; with 6 it is 1.0.)
  it.each([['mala', 6, 1], ['hmc', 2, 3]] as const)('%s: mode weight, mean and Z within the standard error of 30 runs', (kernel, stepsPerBridge, calls) => {
    const R = 30;
    const est: Record<'w' | 'mean' | 'z', number[]> = { w: [], mean: [], z: [] };
    for (let r = 0; r < R; r++) {
      const res = runSmcBaseline(foldIn(keyFromSeed(4), r), gmm, {
        n: 400, kernel, hmcSteps: 3, stepsPerBridge, gradientBudget: 400 * (1 + 40 * stepsPerBridge * calls), stepSize: 0.3, initScale: 5,
      });
      expect(res.info.bridges).toBe(40);
      const w = normalizeLogWeights(res.logWeights);
      let right = 0;
      let mean = 0;
      for (let i = 0; i < 400; i++) {
        if (res.particles.data[i] > 0) right += w[i];
        mean += w[i] * res.particles.data[i];
      }
      est.w.push(right);
      est.mean.push(mean);
      est.z.push(Math.exp(res.logZ));
      for (const v of res.samples.data) expect(Number.isFinite(v)).toBe(true);
    }
    for (const [k, truth] of [['w', w1], ['mean', trueMean], ['z', 1]] as const) {
      const v = est[k];
      const m = v.reduce((a, b) => a + b, 0) / R;
      const sd = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (R - 1));
      expect(Math.abs(m - truth) / (sd / Math.sqrt(R))).toBeLessThan(Z);
    }
  });
});
