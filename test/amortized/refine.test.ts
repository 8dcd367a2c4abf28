/**
 * Importance-resampling refinement (`amortized/refine.ts`) with exact diffused scores: a model
 * whose mode weights are wrong is corrected to the target's, and the ODE log-density of its
 * candidates is the model's exact density.
 */
import { describe, expect, it } from 'vitest';
import { keyFromSeed } from '../../src/core/key.js';
import { importanceRefine } from '../../src/amortized/refine.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { GaussianMixture } from '../../src/targets/gmm.js';

const means = [[-2, 0], [2, 0.5]];
const target = new GaussianMixture({ means, weights: [0.5, 0.5], covariance: { variance: 0.3 } });
// The "model": the same components with mode weights 0.8 / 0.2, through its exact diffused score.
const wrong = new GaussianMixture({ means, weights: [0.8, 0.2], covariance: { variance: 0.3 } });
const sde = new VPSDE();

describe('importance refinement by the probability-flow ODE density', () => {
  it('corrects wrong mode weights: the refined share of the left mode is 0.5 (the model gives 0.8)', () => {
    const n = 2000;
    const r = importanceRefine(keyFromSeed(3), wrong.diffusedScore(sde), sde, target, { n, candidates: 4000, steps: 100 });
    const left = (x: { n: number; data: Float64Array }): number => {
      let c = 0;
      for (let i = 0; i < x.n; i++) if (x.data[2 * i] < 0) c++;
      return c / x.n;
    };
    expect(r.nonFinite).toBe(0);
    expect(r.samples.n).toBe(n);
    // Weights 0.5/0.8 and 0.5/0.2: ESS = M / E_q[w^2] = 4000 / 1.5625 = 2560 in expectation.
    expect(r.ess / 2560).toBeGreaterThan(0.85);
    expect(r.ess / 2560).toBeLessThan(1.15);
    const candShare = left(r.candidates);
    expect(Math.abs(candShare - 0.8)).toBeLessThan(4.5 * Math.sqrt(0.16 / 4000));
    // SE of the refined share: importance sampling at that ESS plus the resampling of n.
    const se = Math.sqrt(0.25 / r.ess + 0.25 / n);
    expect(Math.abs(left(r.samples) - 0.5)).toBeLessThan(4.5 * se);
  });

  it("the weights are log p - log q with q the model's own density (exact here): constant within a mode up to the ODE error", () => {
    const r = importanceRefine(keyFromSeed(4), wrong.diffusedScore(sde), sde, target, { n: 100, candidates: 400, steps: 100 });
    // log p - log q_model = log(0.5/0.8) on the left mode, log(0.5/0.2) on the right (plus the
    // 1e-3-time noise, which both mixtures share to first order), up to a common constant.
    const byMode: number[][] = [[], []];
    for (let i = 0; i < 400; i++) byMode[r.candidates.data[2 * i] < 0 ? 0 : 1].push(r.logWeights[i]);
    const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
    expect(mean(byMode[1]) - mean(byMode[0])).toBeCloseTo(Math.log(0.8 / 0.2), 1);
    for (const v of byMode) for (const w of v) expect(Math.abs(w - mean(v))).toBeLessThan(0.05);
  });

  it('rejects bad sizes and dimension mismatches', () => {
    const m = wrong.diffusedScore(sde);
    expect(() => importanceRefine(keyFromSeed(0), m, sde, target, { n: 10, candidates: 5 })).toThrow(/candidates must be an integer >= n/);
    expect(() => importanceRefine(keyFromSeed(0), m, sde, new GaussianMixture({ means: [[0, 0, 0]], covariance: { variance: 1 } }), { n: 1, candidates: 1 })).toThrow(/dimension 3/);
  });
});
