/**
 * AIS / SMC on Gaussian bridges with known normalising constants (DESIGN.md, "How to test a
 * sampler" 2-3): base N(c, I) (normalised), target `gamma(x) = exp(-|x - m|^2 / (2 s^2))` with
 * `log Z = (d/2) log(2 pi s^2)`.
 *  - one run: |log Z^ - log Z| / se < Z, with the delta-method `se = sqrt((n / ESS - 1) / n)`
 *    (sample variance of the weights over their squared mean; Kish ESS), and the self-normalised
 *    mean of the particles against m with its delta-method SE;
 *  - grouped runs with row-specific bases and targets: AIS is unbiased for Z on the natural scale,
 *    so the ratios `exp(log Z^_g - log Z_g)` of G independent groups average to 1 (CLT over groups);
 *    the same holds for SMC with resampling (Del Moral, Doucet & Jasra 2006).
 * Exact: the target-evaluation budget; row i's path does not depend on the number of groups.
 */
import { describe, expect, it } from 'vitest';
import { makeBatch, type Batch } from '../../src/core/batch.js';
import { keyFromSeed, normal, type Key } from '../../src/core/key.js';
import { ais, aisTargetEvaluations, powerBetas, type AisOptions } from '../../src/mcmc/ais.js';
import { selfNormalisedMean } from '../../src/mcmc/resampling.js';
import type { LogDensityFn } from '../../src/mcmc/types.js';
import { counting, Z } from './helpers.js';

const LOG_2PI = Math.log(2 * Math.PI);

/** Row-specific N(center_g, I) base, g = floor(i / m); normalised. */
function base(d: number, m: number, center: (g: number) => number[]): AisOptions['base'] {
  const logDensity: LogDensityFn = (x) => {
    const value = new Float64Array(x.n);
    const grad = makeBatch(x.n, d);
    for (let i = 0; i < x.n; i++) {
      const c = center(Math.floor(i / m));
      let q = 0;
      for (let j = 0; j < d; j++) {
        const r = x.data[i * d + j] - c[j];
        q += r * r;
        grad.data[i * d + j] = -r;
      }
      value[i] = -0.5 * q - 0.5 * d * LOG_2PI;
    }
    return { value, grad };
  };
  const sample = (key: Key, n: number): Batch => {
    const z = normal(key, n * d);
    for (let i = 0; i < n; i++) {
      const c = center(Math.floor(i / m));
      for (let j = 0; j < d; j++) z[i * d + j] += c[j];
    }
    return makeBatch(n, d, z);
  };
  return { sample, logDensity };
}

/** Row-specific unnormalised `exp(-|x - m_g|^2 / (2 s_g^2))`. */
function gaussTarget(d: number, m: number, mean: (g: number) => number[], s: (g: number) => number): LogDensityFn {
  return (x) => {
    const value = new Float64Array(x.n);
    const grad = makeBatch(x.n, d);
    for (let i = 0; i < x.n; i++) {
      const g = Math.floor(i / m);
      const mu = mean(g);
      const v = s(g) ** 2;
      let q = 0;
      for (let j = 0; j < d; j++) {
        const r = x.data[i * d + j] - mu[j];
        q += r * r;
        grad.data[i * d + j] = -r / v;
      }
      value[i] = -q / (2 * v);
    }
    return { value, grad };
  };
}

const logZOf = (d: number, s: number): number => 0.5 * d * Math.log(2 * Math.PI * s * s);

const kernels = [
  ['mala', { transition: 'mala' as const, stepSize: 0.5 }],
  ['hmc', { transition: 'hmc' as const, stepSize: 0.5, hmcSteps: 3 }],
] as const;

describe.each(kernels)('ais with %s transitions', (_, kernel) => {
  it('log Z of a Gaussian-to-Gaussian bridge within its standard error; weighted mean within its SE', () => {
    const d = 2;
    const n = 2000;
    const m = [1.5, -1];
    const s = 0.7;
    const r = ais(keyFromSeed(1), n, {
      base: base(d, n, () => [0, 0]), target: gaussTarget(d, n, () => m, () => s), betas: powerBetas(30, 2), ...kernel,
    });
    const ess = r.ess[0];
    expect(ess >= 1 && ess <= n).toBe(true);
    expect(ess).toBeGreaterThan(n / 4); // a usable path; not a statistical claim
    const se = Math.sqrt((n / ess - 1) / n);
    expect(Math.abs(r.logZ[0] - logZOf(d, s)) / se).toBeLessThan(Z);
    const est = selfNormalisedMean(r.particles, r.logWeights);
    for (let j = 0; j < d; j++) expect(Math.abs(est.mean[j] - m[j]) / est.se[j]).toBeLessThan(Z);
    expect(r.nonFinite).toBe(0);
    expect(r.acceptance > 0.3 && r.acceptance <= 1).toBe(true);
  });

  it('grouped: row-specific bases and targets, per-group log Z unbiased for Z (CLT over 200 groups)', () => {
    const d = 2;
    const G = 200;
    const M = 25;
    const center = (g: number): number[] => [Math.sin(g), Math.cos(g)];
    const mean = (g: number): number[] => [1 + (g % 5) * 0.3, -(g % 3) * 0.5];
    const sd = (g: number): number => 0.5 + (g % 4) * 0.1;
    const r = ais(keyFromSeed(2), G * M, {
      base: base(d, M, center), target: gaussTarget(d, M, mean, sd), betas: powerBetas(20, 2), groups: G, ...kernel,
    });
    expect(r.logZ.length).toBe(G);
    expect(r.ess.length).toBe(G);
    const ratios = Array.from(r.logZ, (l, g) => Math.exp(l - logZOf(d, sd(g))));
    for (const e of r.ess) expect(e >= 1 && e <= M).toBe(true);
    const mu = ratios.reduce((a, b) => a + b, 0) / G;
    const sdev = Math.sqrt(ratios.reduce((a, b) => a + (b - mu) ** 2, 0) / (G - 1));
    expect(Math.abs(mu - 1) / (sdev / Math.sqrt(G))).toBeLessThan(Z);

    // Row i's path does not depend on how many groups run: the first 20 groups alone agree exactly.
    const few = ais(keyFromSeed(2), 20 * M, {
      base: base(d, M, center), target: gaussTarget(d, M, mean, sd), betas: powerBetas(20, 2), groups: 20, ...kernel,
    });
    expect(Array.from(few.logZ)).toEqual(Array.from(r.logZ.subarray(0, 20)));
    expect(Array.from(few.particles.data)).toEqual(Array.from(r.particles.data.subarray(0, 20 * M * d)));
  });

  it('SMC mode (resample below ESS n/2, adapted step size): per-group log Z unbiased for Z (CLT over 200 groups)', () => {
    const d = 2;
    const G = 200;
    const M = 25;
    const sd = (g: number): number => 0.3 + (g % 4) * 0.1;
    const c = counting(gaussTarget(d, M, () => [2, -1], sd));
    const r = ais(keyFromSeed(3), G * M, {
      base: base(d, M, () => [0, 0]), target: c.fn, betas: powerBetas(10, 2), groups: G, stepsPerBridge: 2,
      resample: { essThreshold: 0.5 }, adapt: true, ...kernel,
    });
    expect(r.resamplings).toBeGreaterThan(G); // ~every group resampled at least once on this short path
    const ratios = Array.from(r.logZ, (l, g) => Math.exp(l - logZOf(d, sd(g))));
    const mu = ratios.reduce((a, b) => a + b, 0) / G;
    const sdev = Math.sqrt(ratios.reduce((a, b) => a + (b - mu) ** 2, 0) / (G - 1));
    expect(Math.abs(mu - 1) / (sdev / Math.sqrt(G))).toBeLessThan(Z);
    // Adapted per group: constant within a group.
    for (let g = 0; g < G; g++) for (let i = 1; i < M; i++) expect(r.stepSize[g * M + i]).toBe(r.stepSize[g * M]);
    expect(r.targetEvaluations).toBe(c.rows());
    expect(c.rows()).toBe(aisTargetEvaluations(G * M, 10, { ...kernel, stepsPerBridge: 2 }));
  });

  it('counts target evaluations exactly (rows x calls) and is deterministic', () => {
    const c = counting(gaussTarget(2, 10, () => [1, 1], () => 1));
    const opts: AisOptions = { base: base(2, 10, () => [0, 0]), target: c.fn, betas: powerBetas(7), stepsPerBridge: 3, groups: 2, ...kernel };
    const r = ais(keyFromSeed(4), 20, opts);
    const calls = kernel.transition === 'mala' ? 1 : 3;
    expect(c.rows()).toBe(20 * (1 + 7 * 3 * calls));
    expect(r.targetEvaluations).toBe(c.rows());
    expect(aisTargetEvaluations(20, 7, { ...kernel, stepsPerBridge: 3 })).toBe(c.rows());
    const again = ais(keyFromSeed(4), 20, opts);
    expect(Array.from(again.logWeights)).toEqual(Array.from(r.logWeights));
  });

  it('non-finite target values: weights -> -Infinity (counted), proposals rejected, never NaN', () => {
    // The target is NaN where x_0 > 1.2 (with a NaN gradient): particles starting there get zero
    // weight; the others stay in x_0 <= 1.2.
    const inner = gaussTarget(2, 500, () => [1, 0], () => 0.8);
    const cut: LogDensityFn = (x) => {
      const r = inner(x);
      for (let i = 0; i < x.n; i++) {
        if (x.data[2 * i] > 1.2) {
          r.value[i] = NaN;
          r.grad.data[2 * i] = NaN;
        }
      }
      return r;
    };
    const r = ais(keyFromSeed(5), 500, { base: base(2, 500, () => [0, 0]), target: cut, betas: powerBetas(10), ...kernel });
    expect(r.nonFiniteWeights).toBeGreaterThan(0);
    expect(r.nonFiniteProposals).toBeGreaterThan(0);
    expect(r.nonFinite).toBe(r.nonFiniteWeights + r.nonFiniteProposals);
    for (const l of r.logWeights) expect(Number.isNaN(l)).toBe(false);
    for (let i = 0; i < 500; i++) {
      if (r.logWeights[i] > -Infinity) expect(r.particles.data[2 * i]).toBeLessThanOrEqual(1.2);
    }
    for (const v of r.particles.data) expect(Number.isFinite(v)).toBe(true);
    expect(Number.isFinite(r.logZ[0])).toBe(true);
    expect(r.ess[0] >= 1 && r.ess[0] <= 500).toBe(true);
  });
});

describe('ais input checks', () => {
  const opts = (): AisOptions => ({ base: base(1, 4, () => [0]), target: gaussTarget(1, 4, () => [0], () => 1), betas: powerBetas(3), transition: 'mala', stepSize: 0.1 });
  it('rejects bad betas, groups, step sizes and kernels', () => {
    const k = keyFromSeed(0);
    expect(() => ais(k, 4, { ...opts(), betas: Float64Array.from([0, 0.5, 0.5, 1]) })).toThrow(/increase strictly/);
    expect(() => ais(k, 4, { ...opts(), betas: Float64Array.from([0.1, 1]) })).toThrow(/start at 0/);
    expect(() => ais(k, 4, { ...opts(), groups: 3 })).toThrow(/equal groups/);
    expect(() => ais(k, 4, { ...opts(), stepSize: 0 })).toThrow(/positive/);
    expect(() => ais(k, 4, { ...opts(), transition: 'nuts' as 'mala' })).toThrow(/'mala' or 'hmc'/);
    expect(() => ais(k, 4, { ...opts(), resample: { essThreshold: 2 } })).toThrow(/essThreshold/);
    expect(Array.from(powerBetas(4, 2))).toEqual([0, 1 / 16, 1 / 4, 9 / 16, 1]);
  });
});
