/**
 * The VE SDE with iDEM's geometric schedule (src/diffusion/ve.ts).
 *  1. Exact invariants: the closed forms of sigma, g and their inverses; g^2 = d sigma^2/dt by
 *     central differences; drift, divergence and prior.
 *  2. Marginal: sample moments of `x_0 + sigma eps` against (x_0, sigma^2), z < 4.5.
 *  3. Sampling with the unchanged `sampleReverseSDE` on Gaussian data N(m, s^2) with its exact
 *     diffused score N(m, s^2 + sigma_t^2). The score is affine, so the Euler–Maruyama chain is an
 *     affine-Gaussian map whose exact output law is propagated step by step (helpers.ts):
 *      - floor (closed form): the exact reverse SDE started from the prior N(0, sigma_1^2) instead
 *        of p_1 = N(m, s^2 + sigma_1^2) outputs p(x_0 | x_1) averaged over the prior:
 *        N(m (1 - c), c^2 sigma_1^2 + c sigma_1^2), c = s^2 / (s^2 + sigma_1^2);
 *      - discretisation bias (deterministic): the chain's law against that limit, with stated
 *        bounds and its order (first in the mean, faster in the variance here);
 *      - Monte Carlo: sample moments of n = 4000 draws against the chain's law, z < 4.5 (Gaussian
 *        standard errors). Calibrated once over 200 seeds (800 z-scores: mean 0.00, sd 1.02,
 *        max |z| 3.9).
 *     Failure budget: 4 such checks x 6.8e-6 = 3e-5 for a random key (the keys here are fixed).
 */
import { describe, expect, it } from 'vitest';
import { fromRows, makeBatch, type Batch } from '../../src/core/batch.js';
import { keyFromSeed } from '../../src/core/key.js';
import type { ScoreModel } from '../../src/core/types.js';
import { reverseEulerMaruyamaStep, sampleReverseSDE } from '../../src/diffusion/em.js';
import { uniformTimeGrid } from '../../src/diffusion/grids.js';
import { VESDE, VE_PRESETS } from '../../src/diffusion/ve.js';
import { Gaussian } from '../../src/targets/gaussian.js';
import { moments, propagate, zScores } from './helpers.js';

const Z = 4.5; // two-sided normal quantile per check: P(|N(0,1)| > 4.5) = 6.8e-6
const sde = new VESDE(); // iDEM's GMM-40 schedule in data coordinates: sigmaMin 5e-4, sigmaMax 50

type Law = { mean: number; variance: number };

describe('VESDE schedule', () => {
  it('defaults to iDEM\'s GMM-40 values in data coordinates, with the DW-4 preset', () => {
    expect(sde.sigmaMin).toBe(5e-4);
    expect(sde.sigmaMax).toBe(50);
    expect(sde.T).toBe(1);
    const dw4 = new VESDE(VE_PRESETS.dw4);
    expect([dw4.sigmaMin, dw4.sigmaMax]).toEqual([1e-5, 3]);
  });

  it('has sigma^2 = sigmaMin^2 (r^(2t) - 1), alpha = 1, g = sigmaMin r^t sqrt(2 log r)', () => {
    const r = 50 / 5e-4;
    for (const t of [0, 1e-3, 0.25, 0.5, 0.9, 1]) {
      const s2 = 5e-4 ** 2 * (r ** (2 * t) - 1);
      expect(Math.abs(sde.sigma2(t) - s2)).toBeLessThanOrEqual(1e-12 * s2 + 1e-300);
      expect(sde.sigma(t)).toBeCloseTo(Math.sqrt(s2), 12);
      expect(sde.alpha(t)).toBe(1);
      const g = 5e-4 * r ** t * Math.sqrt(2 * Math.log(r));
      expect(Math.abs(sde.diffusion(t) / g - 1)).toBeLessThan(1e-13);
    }
    expect(sde.sigma(0)).toBe(0);
    // sigma(1)^2 = sigmaMax^2 - sigmaMin^2 (iDEM's h(1)).
    expect(Math.abs(sde.sigma2(1) - (2500 - 2.5e-7))).toBeLessThan(1e-9);
    // Relative accuracy at tiny t (expm1): sigma^2 ~ sigmaMin^2 2 t log r.
    const t = 1e-12;
    const x = 2 * t * Math.log(r);
    expect(Math.abs(sde.sigma2(t) / (5e-4 ** 2 * (x + (x * x) / 2)) - 1)).toBeLessThan(1e-14);
  });

  it('has g^2 = d sigma^2 / dt (central differences, truncation error h^2/6 (2 log r)^2 relative)', () => {
    for (const s of [sde, new VESDE(VE_PRESETS.dw4), new VESDE({ sigmaMin: 0.01, sigmaMax: 1 })]) {
      const L = s.logRatio;
      const h = 1e-5;
      for (const t of [0.05, 0.3, 0.5, 0.77, 0.99]) {
        const fd = (s.sigma2(t + h) - s.sigma2(t - h)) / (2 * h);
        const g2 = s.diffusion(t) ** 2;
        // Truncation: (h^2/6) f''' / f' = (h^2/6)(2L)^2; round-off: ~1e-16 f / (h f') < 1e-16 / (h 2L t).
        const bound = ((h * h) / 6) * (2 * L) ** 2 * 1.01 + 1e-16 / (h * 2 * L * t) * 20;
        expect(Math.abs(fd / g2 - 1)).toBeLessThan(bound);
      }
    }
  });

  it('inverts sigma and log SNR in closed form', () => {
    for (const t of [1e-6, 0.01, 0.4, 1]) {
      expect(sde.timeFromSigma(sde.sigma(t))).toBeCloseTo(t, 12);
      expect(sde.timeFromLogSnr(sde.logSnr(t))).toBeCloseTo(t, 10);
    }
    expect(sde.timeFromSigma(0)).toBe(0);
    expect(() => sde.timeFromSigma(-1)).toThrow(RangeError);
  });

  it('has zero drift and divergence and the N(0, sigma_1^2 I) prior', () => {
    const x = fromRows([[1, -2], [0.5, 3]]);
    expect(Array.from(sde.drift(x, 0.3).data)).toEqual([0, 0, 0, 0]);
    expect(Array.from(sde.driftDivergence(x, 0.3))).toEqual([0, 0]);
    const v = sde.sigma2(1);
    const lp = sde.priorLogDensity(x);
    expect(lp[0]).toBeCloseTo(-0.5 * 5 / v - Math.log(2 * Math.PI * v), 12);
    expect(lp[1]).toBeCloseTo(-0.5 * 9.25 / v - Math.log(2 * Math.PI * v), 12);
    expect(Array.from(x.data)).toEqual([1, -2, 0.5, 3]);
    const n = 20000;
    const p = sde.priorSample(keyFromSeed(5), n, 2);
    for (const j of [0, 1]) {
      const m = moments(p, j);
      expect(Math.abs(m.mean) / Math.sqrt(v / n)).toBeLessThan(Z);
      expect(Math.abs(m.variance - v) / (v * Math.sqrt(2 / (n - 1)))).toBeLessThan(Z);
    }
  });

  it('rejects bad parameters', () => {
    expect(() => new VESDE({ sigmaMin: 0 })).toThrow(RangeError);
    expect(() => new VESDE({ sigmaMin: 2, sigmaMax: 1 })).toThrow(RangeError);
    expect(() => new VESDE({ sigmaMax: Infinity })).toThrow(RangeError);
  });
});

describe('VESDE marginal', () => {
  it('perturbs exactly as x0 + sigma eps, with one time per row, and Tweedie inverts a point mass', () => {
    const x0 = fromRows([[1, 2], [3, 4]]);
    const eps = fromRows([[0.5, -1], [2, 0]]);
    const t = Float64Array.of(0.1, 0.9);
    const xt = sde.perturb(x0, eps, t);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 2; j++) expect(xt.data[i * 2 + j]).toBeCloseTo(x0.data[i * 2 + j] + sde.sigma(t[i]) * eps.data[i * 2 + j], 12);
    }
    // The score of N(x0, sigma^2) at xt is -eps / sigma; Tweedie gives back x0.
    const s = makeBatch(2, 2, eps.data.map((e, j) => -e / sde.sigma(t[j >> 1])));
    const back = sde.tweedie(xt, s, t);
    for (let j = 0; j < 4; j++) expect(back.data[j]).toBeCloseTo(x0.data[j], 10);
    expect(Array.from(x0.data)).toEqual([1, 2, 3, 4]);
  });

  it('has mean x0 and variance sigma^2 (z < 4.5 on sample moments, n = 20000)', () => {
    const n = 20000;
    const t = 0.35;
    const x0 = makeBatch(n, 2, new Float64Array(2 * n).map((_, j) => (j % 2 === 0 ? 1.5 : -0.7)));
    const xt = sde.marginal(keyFromSeed(11), x0, t);
    const s2 = sde.sigma2(t);
    for (const [j, m0] of [[0, 1.5], [1, -0.7]] as const) {
      const m = moments(xt, j);
      expect(Math.abs(m.mean - m0) / Math.sqrt(s2 / n)).toBeLessThan(Z);
      expect(Math.abs(m.variance - s2) / (s2 * Math.sqrt(2 / (n - 1)))).toBeLessThan(Z);
    }
    expect(sde.marginal(keyFromSeed(11), x0, t).data).toEqual(xt.data);
  });
});

describe('reverse SDE (Euler–Maruyama, unchanged) on the VE SDE, Gaussian data', () => {
  const M = [1.5, -2];
  const S = [1.3132616875182228, 0.4]; // GMM-40's component std, and a narrow one
  const data = new Gaussian(M, { std: S });
  const score = data.diffusedScore(sde);
  const grid = (K: number): Float64Array => uniformTimeGrid(K, { tMin: 0 }); // iDEM's grid: 1 -> 0

  /** Exact law of coordinate j of the EM chain on `grid` from the prior (coordinates are independent). */
  function chainLaw(j: number, g: Float64Array): Law {
    const one = new Gaussian([M[j]], { std: S[j] }).diffusedScore(sde);
    let law: Law = { mean: 0, variance: sde.sigma2(1) };
    for (let k = 0; k + 1 < g.length; k++) {
      const t = g[k];
      law = propagate((x, z) => reverseEulerMaruyamaStep(x, one.score(x, t), t, t - g[k + 1], z ?? makeBatch(1, 1), sde), law, true);
    }
    return law; // the last time is 0, where Tweedie's correction sigma^2 s vanishes
  }

  /** Closed-form law of the exact continuous reverse SDE started from the prior (module comment). */
  function limitLaw(j: number): Law {
    const v1 = sde.sigma2(1);
    const c = (S[j] * S[j]) / (S[j] * S[j] + v1);
    return { mean: M[j] * (1 - c), variance: c * c * v1 + c * v1 };
  }

  it('has a prior floor of 1e-3 in the mean (closed form) and a bias below 1e-4 at 1000 steps, first order', () => {
    for (const j of [0, 1]) {
      const lim = limitLaw(j);
      const v = S[j] * S[j];
      // Floor: mean m (1 - c), variance s^2 (1 - c^2), with c = s^2 / (s^2 + 2500) <= 6.9e-4.
      expect(Math.abs(lim.mean - M[j])).toBeLessThan(1.1e-3);
      expect(Math.abs(lim.variance / v - 1)).toBeLessThan(5e-7);
      const a = chainLaw(j, grid(1000));
      const b = chainLaw(j, grid(2000));
      const dm = [a.mean - lim.mean, b.mean - lim.mean];
      const dv = [a.variance / lim.variance - 1, b.variance / lim.variance - 1];
      expect(Math.abs(dm[0])).toBeLessThan(1e-4);
      expect(Math.abs(dv[0])).toBeLessThan(5e-5);
      // First order in the mean (ratio 2 when the step halves); faster in the variance (measured
      // ratios 4.3 and 5.0: the first-order terms of the variance nearly cancel here).
      expect(dm[0] / dm[1]).toBeGreaterThan(1.8);
      expect(dm[0] / dm[1]).toBeLessThan(2.2);
      expect(dv[0] / dv[1]).toBeGreaterThan(3.5);
    }
  });

  it('samples p: sample moments against the chain\'s exact law (n = 4000, z < 4.5), which is within 1.2e-3 of p', () => {
    const n = 4000;
    const x = sampleReverseSDE(keyFromSeed(2024), score, sde, { n, grid: grid(1000) });
    for (const j of [0, 1]) {
      const law = chainLaw(j, grid(1000));
      const z = zScores(moments(x, j), law, n);
      expect(Math.abs(z.zMean)).toBeLessThan(Z);
      expect(Math.abs(z.zVar)).toBeLessThan(Z);
      // The deterministic distance from the chain's law to p: floor + discretisation bias.
      expect(Math.abs(law.mean - M[j])).toBeLessThan(1.2e-3);
      expect(Math.abs(law.variance / (S[j] * S[j]) - 1)).toBeLessThan(1e-4);
    }
  });

  it('is deterministic given the key and row-consistent (row i does not depend on how many rows run)', () => {
    const run = (n: number): Batch => sampleReverseSDE(keyFromSeed(3), score as ScoreModel, sde, { n, grid: grid(50) });
    const a = run(8);
    expect(run(8).data).toEqual(a.data);
    expect(Array.from(run(3).data)).toEqual(Array.from(a.data.subarray(0, 6)));
  });
});
