/**
 * The posterior problems of eq. (4)–(5) and the two posterior-mean estimators, against the exact
 * posterior mean of a Gaussian mixture (no network).
 */
import { describe, expect, it } from 'vitest';
import { makeBatch, type Batch } from '../../src/core/batch.js';
import { keyFromSeed, normalBatch, split } from '../../src/core/key.js';
import { aisPosteriorMean, paperAisOptions } from '../../src/amortized/ais-posterior.js';
import { hmcPosteriorMean } from '../../src/amortized/hmc-posterior.js';
import { likelihoodBase, posteriorLogDensity, scoreTargets, type PosteriorProblems } from '../../src/amortized/posterior.js';
import { chunkTasks, estimatePosteriorMeans, inThreadRunner, mergeChunks, runChunk } from '../../src/amortized/posterior-means.js';
import { GaussianMixture } from '../../src/targets/gmm.js';

/** A 2-D, 3-component mixture with well separated, unequal components. */
function mixture(): GaussianMixture {
  return new GaussianMixture({ means: [[-3, 0], [3, 1], [0, 4]], weights: [0.5, 0.3, 0.2], covariance: { variance: 0.6 } });
}

/** `copies` identical problems at one `x_t` (so the spread of the estimates gives their standard error). */
function repeated(xt: number[], alpha: number, sigma: number, copies: number): PosteriorProblems {
  const d = xt.length;
  const x = makeBatch(copies, d);
  for (let b = 0; b < copies; b++) for (let j = 0; j < d; j++) x.data[b * d + j] = xt[j];
  return { xt: x, alpha: new Float64Array(copies).fill(alpha), sigma: new Float64Array(copies).fill(sigma) };
}

function sliceFirst(x: Batch): Batch {
  return makeBatch(1, x.dim, x.data.slice(0, x.dim));
}

/** Mean over rows and its standard error (sd / sqrt(rows)) per coordinate. */
function meanAndSe(x: Batch): { mean: number[]; se: number[] } {
  const mean: number[] = [];
  const se: number[] = [];
  for (let j = 0; j < x.dim; j++) {
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < x.n; i++) {
      const v = x.data[i * x.dim + j];
      s += v;
      s2 += v * v;
    }
    const m = s / x.n;
    mean.push(m);
    se.push(Math.sqrt(Math.max(0, s2 / x.n - m * m) / (x.n - 1)));
  }
  return { mean, se };
}

// Failure budget: z = 4.5 per coordinate (two-sided p ~ 7e-6); a handful of such checks in the file.
const Z = 4.5;

describe('posterior problems (eq. 4, 5)', () => {
  const g = mixture();
  const prior = (x: Batch) => g.logDensityAndGrad(x);
  const problems: PosteriorProblems = { xt: makeBatch(2, 2, [0.5, -0.2, 1.5, 2]), alpha: Float64Array.of(0.8, 0.3), sigma: Float64Array.of(0.6, 0.95) };

  it('the likelihood base is the normalised N(x0 | x_t / alpha, (sigma/alpha)^2 I)', () => {
    const base = likelihoodBase(problems, 3);
    const x = normalBatch(keyFromSeed(1), 6, 2);
    const r = base.logDensity(x);
    for (let i = 0; i < 6; i++) {
      const b = Math.floor(i / 3);
      const a = problems.alpha[b];
      const s = problems.sigma[b];
      let q = 0;
      for (let j = 0; j < 2; j++) q += (x.data[i * 2 + j] - problems.xt.data[b * 2 + j] / a) ** 2;
      const expected = -q / (2 * (s / a) ** 2) - 2 * Math.log(s / a) - Math.log(2 * Math.PI);
      expect(r.value[i]).toBeCloseTo(expected, 12);
    }
  });

  it('with a reference scale s the base is the posterior of the likelihood under N(0, s^2 I); s = Infinity is the likelihood', () => {
    const s = 2;
    const base = likelihoodBase(problems, 1, s);
    const x = makeBatch(2, 2, [0.3, -1, 2, 0.5]);
    const r = base.logDensity(x);
    for (let b = 0; b < 2; b++) {
      const a = problems.alpha[b];
      const s2 = problems.sigma[b] ** 2;
      const v = 1 / (a * a / s2 + 1 / (s * s));
      let q = 0;
      for (let j = 0; j < 2; j++) q += (x.data[b * 2 + j] - (v * a * problems.xt.data[b * 2 + j]) / s2) ** 2;
      expect(r.value[b]).toBeCloseTo(-q / (2 * v) - Math.log(v) - Math.log(2 * Math.PI), 10);
    }
    const inf = likelihoodBase(problems, 1, Infinity).logDensity(x);
    const plain = likelihoodBase(problems, 1).logDensity(x);
    expect(Array.from(inf.value)).toEqual(Array.from(plain.value));
    expect(() => likelihoodBase(problems, 1, 0)).toThrow(/reference scale/);
  });

  it('with a diagonal reference N(m, diag(s^2)) the base is, per coordinate, the posterior of the likelihood under it; gradient analytic', () => {
    const reference = { mean: Float64Array.of(1, -2), scale: Float64Array.of(0.7, 3) };
    const base = likelihoodBase(problems, 1, reference);
    const x = makeBatch(2, 2, [0.3, -1, 2, 0.5]);
    const r = base.logDensity(x);
    for (let b = 0; b < 2; b++) {
      const a = problems.alpha[b];
      const s2 = problems.sigma[b] ** 2;
      let expected = -Math.log(2 * Math.PI);
      for (let j = 0; j < 2; j++) {
        const r2 = reference.scale[j] ** 2;
        const v = 1 / (a * a / s2 + 1 / r2);
        const c = v * (a * problems.xt.data[b * 2 + j] / s2 + reference.mean[j] / r2);
        const u = x.data[b * 2 + j] - c;
        expected += -u * u / (2 * v) - 0.5 * Math.log(v);
        expect(r.grad.data[b * 2 + j]).toBeCloseTo(-u / v, 10);
      }
      expect(r.value[b]).toBeCloseTo(expected, 10);
    }
    // Its draws have that mean and variance (1e5 draws: 4.5 standard errors).
    const many = likelihoodBase({ ...problems, xt: sliceFirst(problems.xt), alpha: problems.alpha.slice(0, 1), sigma: problems.sigma.slice(0, 1) }, 100_000, reference);
    const draws = meanAndSe(many.sample(keyFromSeed(3), 100_000));
    const a = problems.alpha[0];
    const s2 = problems.sigma[0] ** 2;
    for (let j = 0; j < 2; j++) {
      const r2 = reference.scale[j] ** 2;
      const v = 1 / (a * a / s2 + 1 / r2);
      const c = v * (a * problems.xt.data[j] / s2 + reference.mean[j] / r2);
      expect(Math.abs(draws.mean[j] - c)).toBeLessThan(Z * Math.sqrt(v / 100_000));
    }
    expect(() => likelihoodBase(problems, 1, { mean: Float64Array.of(0), scale: Float64Array.of(1) })).toThrow(/1 means and 1 scales for dimension 2/);
    expect(() => likelihoodBase(problems, 1, { mean: Float64Array.of(0, NaN), scale: Float64Array.of(1, 1) })).toThrow(/coordinate 1/);
  });

  it('posterior log-density = prior + Gaussian likelihood up to a per-problem constant; gradient matches central differences', () => {
    const post = posteriorLogDensity(prior, problems, 3);
    const x = normalBatch(keyFromSeed(2), 6, 2);
    const r = post(x);
    const h = 1e-6;
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 2; j++) {
        const up = makeBatch(6, 2, x.data.slice());
        const dn = makeBatch(6, 2, x.data.slice());
        up.data[i * 2 + j] += h;
        dn.data[i * 2 + j] -= h;
        const fd = (post(up).value[i] - post(dn).value[i]) / (2 * h);
        expect(r.grad.data[i * 2 + j]).toBeCloseTo(fd, 5);
      }
    }
    // The difference of two rows' values of one problem equals the difference of log p + log N(x_t | alpha x0, sigma^2).
    const lik = (i: number): number => {
      const b = Math.floor(i / 3);
      let q = 0;
      for (let j = 0; j < 2; j++) q += (problems.xt.data[b * 2 + j] - problems.alpha[b] * x.data[i * 2 + j]) ** 2;
      return -q / (2 * problems.sigma[b] ** 2);
    };
    const pv = g.logDensity(x);
    expect(r.value[1] - r.value[0]).toBeCloseTo(pv[1] + lik(1) - pv[0] - lik(0), 10);
  });

  it('score targets are (alpha x0hat - x_t) / sigma^2 and eps = -sigma s', () => {
    const x0 = makeBatch(2, 2, [1, 2, -1, 0.5]);
    const { score, noise } = scoreTargets(problems, x0);
    expect(score.data[0]).toBeCloseTo((0.8 * 1 - 0.5) / 0.36, 12);
    expect(score.data[3]).toBeCloseTo((0.3 * 0.5 - 2) / 0.95 ** 2, 12);
    expect(noise.data[2]).toBeCloseTo(-0.95 * score.data[2], 12);
  });

  it('rejects mismatched alpha/sigma and non-positive values', () => {
    expect(() => aisPosteriorMean(keyFromSeed(0), prior, { ...problems, alpha: Float64Array.of(1) }, paperAisOptions())).toThrow(/alphas/);
    expect(() => aisPosteriorMean(keyFromSeed(0), prior, { ...problems, sigma: Float64Array.of(0, 1) }, paperAisOptions())).toThrow(/positive/);
    expect(() => aisPosteriorMean(keyFromSeed(0), prior, problems, { ...paperAisOptions(), particles: 0 })).toThrow(/particles/);
  });
});

describe('posterior means against the exact GMM posterior mean', () => {
  const g = mixture();
  const prior = (x: Batch) => g.logDensityAndGrad(x);
  // A multimodal posterior: x_t between the modes at a middle noise level.
  const cases = [
    { name: 'multimodal (alpha 0.5, sigma 0.87)', xt: [0.2, 1.0], alpha: 0.5, sigma: Math.sqrt(1 - 0.25) },
    { name: 'nearly Gaussian (alpha 0.95, sigma 0.31)', xt: [2.6, 1.2], alpha: 0.95, sigma: Math.sqrt(1 - 0.95 ** 2) },
  ];

  it.each(cases)('AIS, resample + MALA (as in the paper): the mean of many picks is the posterior mean, $name', ({ xt, alpha, sigma }) => {
    const copies = 300;
    const p = repeated(xt, alpha, sigma, copies);
    const exact = g.posteriorMean(makeBatch(1, 2, xt), alpha, sigma).data;
    const est = aisPosteriorMean(keyFromSeed(3), prior, p, { ...paperAisOptions(), particles: 100, stepSize: 0.3 });
    const { mean, se } = meanAndSe(est.x0);
    for (let j = 0; j < 2; j++) expect(Math.abs(mean[j] - exact[j]) / se[j]).toBeLessThan(Z);
    expect(est.targetEvaluations).toBe(copies * 100 * 11 + copies * 6); // 10 bridges + start; refinement: start + 5 steps
    expect(est.nonFinite).toBe(0);
  });

  it('AIS, resample + adapted MALA refinement (the paper\'s DW-4 rule): from a step 20x too large each problem\'s step adapts, and the picks still average to the posterior mean', () => {
    const { xt, alpha, sigma } = cases[0];
    const copies = 300;
    const p = repeated(xt, alpha, sigma, copies);
    const exact = g.posteriorMean(makeBatch(1, 2, xt), alpha, sigma).data;
    const opts = { ...paperAisOptions(), particles: 100, stepSize: 0.3, refineSteps: 50, refineStepSize: 5 };
    const fixed = aisPosteriorMean(keyFromSeed(5), prior, p, opts);
    const adapted = aisPosteriorMean(keyFromSeed(5), prior, p, { ...opts, refineAdapt: true });
    expect(fixed.refineAcceptance).toBeLessThan(0.1);
    expect(adapted.refineAcceptance).toBeGreaterThan(0.35);
    const { mean, se } = meanAndSe(adapted.x0);
    for (let j = 0; j < 2; j++) expect(Math.abs(mean[j] - exact[j]) / se[j]).toBeLessThan(Z);
    expect(() => aisPosteriorMean(keyFromSeed(5), prior, p, { ...opts, refineAdapt: 1 as unknown as boolean })).toThrow(/refineAdapt/);
  });

  it.each(cases)('AIS, weighted mean: each estimate is close to the exact mean, $name', ({ xt, alpha, sigma }) => {
    const copies = 40;
    const p = repeated(xt, alpha, sigma, copies);
    const exact = g.posteriorMean(makeBatch(1, 2, xt), alpha, sigma).data;
    const est = aisPosteriorMean(keyFromSeed(4), prior, p, { ...paperAisOptions(), particles: 1000, stepSize: 0.3, estimate: 'mean' });
    const { mean, se } = meanAndSe(est.x0);
    // The self-normalised bias is O(1/ESS), far below the standard error of the average of 40 estimates.
    for (let j = 0; j < 2; j++) expect(Math.abs(mean[j] - exact[j]) / se[j]).toBeLessThan(Z);
    for (const e of est.ess) expect(e).toBeGreaterThan(1);
  });

  it('AIS from the reference-prior base (scale 1.5): the weighted means still target the exact posterior mean', () => {
    const { xt, alpha, sigma } = cases[0];
    const copies = 40;
    const p = repeated(xt, alpha, sigma, copies);
    const exact = g.posteriorMean(makeBatch(1, 2, xt), alpha, sigma).data;
    const est = aisPosteriorMean(keyFromSeed(8), prior, p, { ...paperAisOptions(), particles: 1000, stepSize: 0.3, estimate: 'mean', referenceScale: 1.5 });
    const { mean, se } = meanAndSe(est.x0);
    for (let j = 0; j < 2; j++) expect(Math.abs(mean[j] - exact[j]) / se[j]).toBeLessThan(Z);
  });

  it('AIS from a diagonal reference carried by the problems: the weighted means still target the exact posterior mean', () => {
    const { xt, alpha, sigma } = cases[0];
    const copies = 40;
    const p = { ...repeated(xt, alpha, sigma, copies), reference: { mean: Float64Array.of(0.5, 1), scale: Float64Array.of(4, 2.5) } };
    const exact = g.posteriorMean(makeBatch(1, 2, xt), alpha, sigma).data;
    // Over 20 keys: z from -1.7 to 2.5 (mean 0.4: the O(1/ESS) self-normalisation bias).
    const est = aisPosteriorMean(keyFromSeed(9), prior, p, { ...paperAisOptions(), particles: 1000, stepSize: 0.3, estimate: 'mean' });
    const { mean, se } = meanAndSe(est.x0);
    for (let j = 0; j < 2; j++) expect(Math.abs(mean[j] - exact[j]) / se[j]).toBeLessThan(Z);
  });

  it('HMC chains from the base: the average of long chains is the posterior mean (nearly Gaussian case)', () => {
    const { xt, alpha, sigma } = cases[1];
    const copies = 200;
    const p = repeated(xt, alpha, sigma, copies);
    const exact = g.posteriorMean(makeBatch(1, 2, xt), alpha, sigma).data;
    const est = hmcPosteriorMean(keyFromSeed(5), prior, p, { chains: 4, iterations: 30, leapfrogSteps: 5, stepSize: 0.1 });
    // Chains are independent, so each problem's average of 4 has variance var/4: the CLT over 200 problems applies.
    const { mean, se } = meanAndSe(est.x0);
    for (let j = 0; j < 2; j++) expect(Math.abs(mean[j] - exact[j]) / se[j]).toBeLessThan(Z);
    expect(est.targetEvaluations).toBe(copies * 4 * (1 + 30 * 5));
  });

  it('HMC chains started from the base under a diagonal reference carried by the problems: still the posterior mean', () => {
    const { xt, alpha, sigma } = cases[1];
    const copies = 200;
    const p = { ...repeated(xt, alpha, sigma, copies), reference: { mean: Float64Array.of(1, 0), scale: Float64Array.of(3, 2) } };
    const exact = g.posteriorMean(makeBatch(1, 2, xt), alpha, sigma).data;
    const est = hmcPosteriorMean(keyFromSeed(15), prior, p, { chains: 4, iterations: 30, leapfrogSteps: 5, stepSize: 0.1 });
    const { mean, se } = meanAndSe(est.x0);
    for (let j = 0; j < 2; j++) expect(Math.abs(mean[j] - exact[j]) / se[j]).toBeLessThan(Z);
  });
});

describe('chunked posterior means', () => {
  it('chunks reassemble in order, and each problem depends only on its chunk (not on the batch size)', async () => {
    const g = mixture();
    const [k1, k2] = split(keyFromSeed(6), 2);
    const n = 21; // 3 chunks of 8, 8, 5
    const xt = normalBatch(k1, n, 2);
    const p: PosteriorProblems = { xt, alpha: new Float64Array(n).fill(0.7), sigma: new Float64Array(n).fill(Math.sqrt(1 - 0.49)) };
    const cfg = { kind: 'ais' as const, ...paperAisOptions(), particles: 16 };
    const all = await estimatePosteriorMeans(k2, inThreadRunner(g), p, cfg);
    const tasks = chunkTasks(k2, p, cfg);
    expect(tasks.map((t) => t.alpha.length)).toEqual([8, 8, 5]);
    const merged = mergeChunks(tasks.map((t) => runChunk(g, t)), 2);
    expect(Array.from(merged.x0.data)).toEqual(Array.from(all.x0.data));
    // The first 16 problems alone give the same first 16 estimates.
    const head: PosteriorProblems = { xt: makeBatch(16, 2, xt.data.slice(0, 32)), alpha: p.alpha.slice(0, 16), sigma: p.sigma.slice(0, 16) };
    const part = await estimatePosteriorMeans(k2, inThreadRunner(g), head, cfg);
    expect(Array.from(part.x0.data)).toEqual(Array.from(all.x0.data.slice(0, 32)));
  });
});
