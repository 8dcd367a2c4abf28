/**
 * SNIR against exact ground truths with no network.
 *  - Gaussian p, tilt exp(a.x): the plain EM sampler's output law N(m_K, C_K) is exact (affine
 *    chain, helpers.ts), so SNIR's target is exactly q_K = N(m_K + C_K a, C_K) with
 *    log E[l] = a.m_K + a^T C_K a / 2. The weighted pool mean is z-tested with the delta-method
 *    standard error (DESIGN.md), the resampled mean with sqrt(se^2 + C_jj / n) (multinomial's
 *    resampling variance bounds systematic's), log mean l with sd(l) / (mean(l) sqrt(M)).
 *    |z| < 4.5, 5 checks. And q_K is q up to discretisation (deterministic, bounded).
 *  - GMM p (2-D, 3 components) with a tilt: the weighted component fractions against the tilted
 *    mixture's weights, |f - w| < 4.5 se + 0.005 (delta-method se; 0.005 allows for the EM
 *    discretisation of the pool, measured < 0.002 at 50 steps).
 * Calibration (run once over 40 seeds): delta-method z of the weighted mean: mean -0.15, sd 1.05.
 */
import { describe, expect, it } from 'vitest';
import { sliceRows } from '../../src/core/batch.js';
import { keyFromSeed } from '../../src/core/key.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { Gaussian } from '../../src/targets/gaussian.js';
import { GaussianMixture } from '../../src/targets/gmm.js';
import { normalizeLogWeights, selfNormalisedMean, snir } from '../../src/baselines/index.js';
import { linearLogWeight, maxAbsDiff, plainEmLaw, nearestComponent, propagate, sampleMoments, standardLaw, tiltLaw, Z, type Law } from './helpers.js';

const sde = new VPSDE();
const p = new Gaussian([1, -0.5], { cov: [[1.0, 0.6], [0.6, 0.8]] });
const a = [0.7, -0.4];
const model = p.diffusedScore(sde);
const lw = linearLogWeight(a);

const plainLaw = (steps: number): Law => plainEmLaw(model, sde, 2, steps);

describe('SNIR on a Gaussian with an exponential tilt', () => {
  const steps = 40;
  const M = 20000;
  const n = 4000;
  const { law: qK, logNormalizer } = tiltLaw(plainLaw(steps), a);
  const r = snir(keyFromSeed(1), model, lw, sde, { n, pool: M, steps });

  it('weighted mean within the delta-method standard error of the exact target', () => {
    const { mean, se } = selfNormalisedMean(r.pool, r.logWeights);
    for (let j = 0; j < 2; j++) expect(Math.abs(mean[j] - qK.mean[j]) / se[j]).toBeLessThan(Z);
    // The target is q up to the discretisation of 40 steps (deterministic).
    const q = p.tilted(a);
    expect(maxAbsDiff(qK.mean, q.mean)).toBeLessThan(0.04);
    expect(r.ess).toBeGreaterThan(0.3 * M);
    expect(r.ess).toBeLessThanOrEqual(M);
  });

  it('resampled points have the target mean; log mean l estimates log E[l]', () => {
    const m = sampleMoments(r.samples);
    const { se } = selfNormalisedMean(r.pool, r.logWeights);
    for (let j = 0; j < 2; j++) {
      const s = Math.sqrt(se[j] ** 2 + qK.cov[j * 2 + j] / n);
      expect(Math.abs(m.mean[j] - qK.mean[j]) / s).toBeLessThan(Z);
    }
    const l = r.logWeights.map(Math.exp);
    const ml = l.reduce((s, v) => s + v, 0) / M;
    const sd = Math.sqrt(l.reduce((s, v) => s + (v - ml) ** 2, 0) / (M - 1));
    expect(Math.abs(r.logMeanWeight - logNormalizer) / (sd / (ml * Math.sqrt(M)))).toBeLessThan(Z);
  });

  it('counts: (steps + 1) score evaluations and one log l per pool sample, no gradients', () => {
    expect(r.evaluations).toEqual({
      scoreCalls: steps + 1, scoreRows: M * (steps + 1), vjpCalls: 0, vjpRows: 0, logWeightRows: M, logWeightGradRows: 0,
    });
    expect(r.samples.n).toBe(n);
    expect(r.indices.length).toBe(n);
  });

  it('is deterministic; a larger pool extends a smaller one row by row', () => {
    const small = snir(keyFromSeed(2), model, lw, sde, { n: 5, pool: 10, steps: 8 });
    const big = snir(keyFromSeed(2), model, lw, sde, { n: 5, pool: 20, steps: 8 });
    expect(Array.from(small.pool.data)).toEqual(Array.from(sliceRows(big.pool, 0, 10).data));
    expect(Array.from(snir(keyFromSeed(2), model, lw, sde, { n: 5, pool: 10, steps: 8 }).samples.data)).toEqual(Array.from(small.samples.data));
    expect(snir(keyFromSeed(2), model, lw, sde, { n: 7, steps: 8 }).pool.n).toBe(7);
    expect(() => snir(keyFromSeed(2), model, lw, sde, { n: 0, steps: 8 })).toThrow(/positive integer/);
  });
});

describe('SNIR on a Gaussian mixture with a tilt', () => {
  it('recovers the tilted component weights', () => {
    const gmm = new GaussianMixture({
      means: [[-2.5, 0], [2, 1.5], [0.5, -2.5]], weights: [0.5, 0.3, 0.2],
      covariance: [{ cov: [[0.4, 0.1], [0.1, 0.3]] }, { cov: [[0.3, -0.08], [-0.08, 0.5]] }, { std: [0.5, 0.4] }],
    });
    const at = [0.8, 0.4];
    const q = gmm.tilted(at);
    const comps = Array.from({ length: 3 }, (_, k) => new Gaussian(q.componentMean(k), q.covariances[k]));
    const M = 20000;
    const r = snir(keyFromSeed(3), gmm.diffusedScore(sde), linearLogWeight(at), sde, { n: 2000, pool: M, steps: 40 });
    const w = normalizeLogWeights(r.logWeights);
    const lp = comps.map((c) => c.logDensity(r.pool));
    const label = Int32Array.from({ length: M }, (_, i) => nearestComponent(lp, i));
    const exact = q.weights();
    for (let k = 0; k < 3; k++) {
      let f = 0;
      for (let i = 0; i < M; i++) if (label[i] === k) f += w[i];
      let v = 0;
      for (let i = 0; i < M; i++) v += w[i] * w[i] * ((label[i] === k ? 1 : 0) - f) ** 2;
      expect(Math.abs(f - exact[k])).toBeLessThan(Z * Math.sqrt(v) + 0.005);
    }
  });
});
