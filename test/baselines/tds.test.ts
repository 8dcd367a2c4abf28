/**
 * TDS against exact ground truths with no network.
 *  - Gaussian p, tilt exp(a.x): TDS targets the plain EM chain's output law tilted by l,
 *    q_K = N(m_K + C_K a, C_K) (exact, helpers.ts), with E[l] = exp(a.m_K + a^T C_K a / 2). Groups
 *    are independent, so the n outputs (one per group) are i.i.d. from TDS's output law: mean and
 *    covariance z-tested with Gaussian standard errors, and mean_g exp(logZ_g) (unbiased for E[l])
 *    with its sample standard error. Here the Tweedie twist is exact up to a constant (Gaussian p,
 *    linear log l), so the weights stay near uniform and the O(1/K) SMC bias is negligible even
 *    at K = 4. |z| < 4.5, 6 checks.
 *  - GMM p (2-D, 3 components) with a tilt: the weighted population's component fractions, per
 *    group, averaged over independent groups; |f - w| < 4.5 se + 0.005 with K = 16 (the 0.005
 *    allows for the O(1/K) bias and the discretisation; measured at K = 16: within 1.2 se of the
 *    truth at se ~ 0.0015; at K = 4 the bias is ~ 0.006, z ~ 4).
 *  - Kernel: purity, determinism, resampling rules, evaluation counts per step.
 * Calibration (run once over 40 seeds, Gaussian; 15 seeds, GMM): z of the means mean -0.12 sd 1.03,
 * of the covariances 0.35 / 0.85, of E[l] -0.16 / 0.93, of the GMM weights -0.03 / 1.03; max |z| 2.7.
 */
import { describe, expect, it } from 'vitest';
import { cloneBatch, makeBatch } from '../../src/core/batch.js';
import { foldIn, keyFromSeed } from '../../src/core/key.js';
import { uniformTimeGrid } from '../../src/diffusion/grids.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { Gaussian } from '../../src/targets/gaussian.js';
import { GaussianMixture } from '../../src/targets/gmm.js';
import { buildTdsKernel, gaussianScoreWithVjp, gmmScoreWithVjp, normalizeLogWeights, tds } from '../../src/baselines/index.js';
import {
  linearLogWeight, momentZScores, plainEmLaw, nearestComponent, propagate, sampleMoments, standardLaw, tiltLaw, Z, type Law,
} from './helpers.js';

const sde = new VPSDE();
const p = new Gaussian([1, -0.5], { cov: [[1.0, 0.6], [0.6, 0.8]] });
const a = [0.7, -0.4];
const model = gaussianScoreWithVjp(p, sde);
const lw = linearLogWeight(a);

const plainLaw = (steps: number): Law => plainEmLaw(model, sde, 2, steps);

describe('TDS on a Gaussian with an exponential tilt', () => {
  const steps = 40;
  const n = 1500;
  const K = 4;
  const { law: qK, logNormalizer } = tiltLaw(plainLaw(steps), a);
  const r = tds(keyFromSeed(1), model, lw, sde, { n, particles: K, steps });

  it('one sample per group: mean and covariance of the exact target', () => {
    const z = momentZScores(sampleMoments(r.samples), qK, n);
    for (const v of [...z.mean, ...z.cov]) expect(Math.abs(v)).toBeLessThan(Z);
  });

  it('the normalising-constant estimate is unbiased for E[l]; weights stay near uniform', () => {
    const zs = r.logZ.map((v) => Math.exp(v - logNormalizer));
    const m = zs.reduce((s, v) => s + v, 0) / n;
    const sd = Math.sqrt(zs.reduce((s, v) => s + (v - m) ** 2, 0) / (n - 1));
    expect(Math.abs(m - 1) / (sd / Math.sqrt(n))).toBeLessThan(Z);
    for (const e of r.essHistory) expect(e).toBeGreaterThan(0.95 * K);
  });

  it('counts per step and particle: 1 score + 1 VJP + 1 grad log l (plus the same at initialisation)', () => {
    const N = n * K;
    expect(r.evaluations).toEqual({
      scoreCalls: steps + 1, scoreRows: N * (steps + 1), vjpCalls: steps + 1, vjpRows: N * (steps + 1),
      logWeightRows: N * (steps + 1), logWeightGradRows: N * (steps + 1),
    });
    const fd = tds(keyFromSeed(1), p.diffusedScore(sde), lw, sde, { n: 3, particles: 2, steps: 5 });
    expect(fd.evaluations).toMatchObject({ scoreRows: 3 * 2 * 6 * 3, vjpRows: 0 });
  });
});

describe('TDS on a Gaussian mixture with a tilt', () => {
  it('recovers the tilted component weights (weighted population, K = 16)', () => {
    const gmm = new GaussianMixture({
      means: [[-2.5, 0], [2, 1.5], [0.5, -2.5]], weights: [0.5, 0.3, 0.2],
      covariance: [{ cov: [[0.4, 0.1], [0.1, 0.3]] }, { cov: [[0.3, -0.08], [-0.08, 0.5]] }, { std: [0.5, 0.4] }],
    });
    const at = [0.8, 0.4];
    const q = gmm.tilted(at);
    const comps = Array.from({ length: 3 }, (_, k) => new Gaussian(q.componentMean(k), q.covariances[k]));
    const n = 800;
    const K = 16;
    const r = tds(keyFromSeed(2), gmmScoreWithVjp(gmm, sde), linearLogWeight(at), sde, { n, particles: K, steps: 30, output: 'weighted' });
    expect(r.samples.n).toBe(n * K);
    const lp = comps.map((c) => c.logDensity(r.samples));
    const per = Array.from({ length: 3 }, () => new Float64Array(n));
    for (let g = 0; g < n; g++) {
      const w = normalizeLogWeights(r.logWeights.subarray(g * K, (g + 1) * K));
      for (let j = 0; j < K; j++) per[nearestComponent(lp, g * K + j)][g] += w[j];
    }
    const exact = q.weights();
    const report: string[] = [];
    for (let k = 0; k < 3; k++) {
      const m = per[k].reduce((s, v) => s + v, 0) / n;
      const se = Math.sqrt(per[k].reduce((s, v) => s + (v - m) ** 2, 0) / (n - 1) / n);
      report.push(`${m.toFixed(4)} (exact ${exact[k].toFixed(4)}, se ${se.toFixed(4)})`);
      expect(Math.abs(m - exact[k])).toBeLessThan(Z * se + 0.005);
    }
    console.log(`TDS GMM tilted weights, K = ${K}: ${report.join(', ')}`);
  });
});

describe('TDS kernel', () => {
  const grid = uniformTimeGrid(6);

  it('step is pure and deterministic in its key; info has one ESS per group', () => {
    const kernel = buildTdsKernel(model, lw, sde, grid, { particles: 3, resample: 'always' });
    const s0 = kernel.init(keyFromSeed(3), 4);
    expect(s0.x.n).toBe(12);
    expect(Array.from(s0.logWeights)).toEqual(Array.from(s0.logTwist));
    const copy = { x: cloneBatch(s0.x), lw: s0.logWeights.slice(), tw: cloneBatch(s0.twistedScore) };
    const [s1, info] = kernel.step(keyFromSeed(4), s0);
    const [s1b] = kernel.step(keyFromSeed(4), s0);
    expect(Array.from(s0.x.data)).toEqual(Array.from(copy.x.data));
    expect(Array.from(s0.logWeights)).toEqual(Array.from(copy.lw));
    expect(Array.from(s0.twistedScore.data)).toEqual(Array.from(copy.tw.data));
    expect(Array.from(s1.x.data)).toEqual(Array.from(s1b.x.data));
    expect(Array.from(s1.logWeights)).toEqual(Array.from(s1b.logWeights));
    expect(info.ess.length).toBe(4);
    expect(Array.from(info.resampled)).toEqual([1, 1, 1, 1]);
    expect(s1.step).toBe(1);
    let s = s1;
    for (let k = 1; k < 6; k++) s = kernel.step(foldIn(keyFromSeed(5), k), s)[0];
    expect(() => kernel.step(keyFromSeed(6), s)).toThrow(/last grid time/);
  });

  it('resampling rules: always = every group every step, never = none; same key, same output', () => {
    const always = tds(keyFromSeed(7), model, lw, sde, { n: 5, particles: 3, steps: 6, resample: 'always' });
    expect(always.resamplings).toBe(5 * 6);
    const never = tds(keyFromSeed(7), model, lw, sde, { n: 5, particles: 3, steps: 6, resample: 'never' });
    expect(never.resamplings).toBe(0);
    const again = tds(keyFromSeed(7), model, lw, sde, { n: 5, particles: 3, steps: 6, resample: 'never' });
    expect(Array.from(again.samples.data)).toEqual(Array.from(never.samples.data));
    expect(always.samples.n).toBe(5);
    expect(() => tds(keyFromSeed(7), model, lw, sde, { n: 5, particles: 0, steps: 6 })).toThrow(/particles/);
    expect(() => tds(keyFromSeed(7), model, lw, sde, { n: 5, steps: 6, resample: 'sometimes' as never })).toThrow(/resample rule/);
  });

  it('calls the callback before every step and at the end', () => {
    const seen: number[] = [];
    tds(keyFromSeed(8), model, lw, sde, { n: 2, particles: 2, steps: 4, callback: (i) => seen.push(i.step) });
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });
});
