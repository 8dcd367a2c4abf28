/**
 * Samplers on 1-D Gaussian data N(m, v0) with its exact diffused score. The score is linear, so
 * each sampler is an affine-Gaussian chain started from N(0, 1): the exact law of its output,
 * N(mu_K, var_K), is propagated step by step through the exported step functions (helpers.ts).
 *  1. Floor: the continuous-time limit of each sampler, started from the N(0, 1) prior instead of
 *     the true p_1, has a closed-form law (`limitLaw`); it differs from the data by the prior
 *     mismatch (alpha_1 = 6.6e-3: 5e-3 in the ODE's mean, which does not forget its start) and by
 *     Tweedie's shrinkage at tMin (1.1e-4 in the variance).
 *  2. Discretisation bias (deterministic): |law_K - limit| against stated bounds, and its order of
 *     convergence from K and 2K steps (first order for EM and ancestral, second for Heun).
 *  3. Monte Carlo (calibrated): sample mean and variance of n draws against (mu_K, var_K) with
 *     z < 4.5 (Gaussian standard errors; P(|z| > 4.5) = 6.8e-6 per check, 6 such checks here:
 *     failure budget 4e-5 for a random key; the keys here are fixed).
 */
import { describe, expect, it } from 'vitest';
import { cloneBatch, makeBatch, sliceRows, type Batch } from '../../src/core/batch.js';
import { keyFromSeed } from '../../src/core/key.js';
import type { ScoreModel } from '../../src/core/types.js';
import { ancestralStep, sampleAncestral } from '../../src/diffusion/ancestral.js';
import { DDPMSchedule } from '../../src/diffusion/ddpm.js';
import { reverseEulerMaruyamaStep, sampleReverseSDE } from '../../src/diffusion/em.js';
import { uniformTimeGrid } from '../../src/diffusion/grids.js';
import { probabilityFlowStep, sampleProbabilityFlow } from '../../src/diffusion/pfode.js';
import type { StepInfo } from '../../src/diffusion/types.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { Gaussian } from '../../src/targets/gaussian.js';
import { moments, propagate, zScores } from './helpers.js';

const Z = 4.5;
const M = 1.5;
const V0 = 0.25;
const sde = new VPSDE();
const data = new Gaussian([M], { variance: V0 });
const score = data.diffusedScore(sde);
const N = 4000;
const prior = { mean: 0, variance: 1 };

/** Exact output law of the reverse-SDE EM chain on `grid`, with the final Tweedie step. */
function emLaw(model: ScoreModel, grid: Float64Array): { mean: number; variance: number } {
  let m = prior;
  for (let k = 0; k + 1 < grid.length; k++) {
    const t = grid[k];
    m = propagate((x, z) => reverseEulerMaruyamaStep(x, model.score(x, t), t, t - grid[k + 1], z ?? makeBatch(1, 1), sde), m, true);
  }
  const tl = grid[grid.length - 1];
  return propagate((x) => sde.tweedie(x, model.score(x, tl), tl), m, false);
}

function odeLaw(model: ScoreModel, grid: Float64Array): { mean: number; variance: number } {
  let m = prior;
  for (let k = 0; k + 1 < grid.length; k++) m = propagate((x) => probabilityFlowStep(model, sde, x, grid[k], grid[k + 1]).x, m, false);
  const tl = grid[grid.length - 1];
  return propagate((x) => sde.tweedie(x, model.score(x, tl), tl), m, false);
}

function ancestralLaw(model: ScoreModel, sch: DDPMSchedule): { mean: number; variance: number } {
  let m = prior;
  for (let i = sch.steps; i >= 1; i--) {
    m = propagate((x, z) => ancestralStep(x, model.score(x, sch.time(i)), i, sch, z), m, i > 1);
  }
  return m;
}

type Law = { mean: number; variance: number };

/**
 * Closed-form law at t = 0 of the exact continuous-time sampler from x_1 ~ N(0, 1), then Tweedie
 * at eps = 1e-3. With sd_t^2 = alpha_t^2 v0 + sigma_t^2:
 *  - ODE: the flow map of 1-D Gaussians is affine, x_eps = alpha_eps m + (sd_eps / sd_1)(x_1 - alpha_1 m);
 *  - SDE: the reverse SDE samples p(x_eps | x_1), Gaussian with Cov(x_eps, x_1) = (alpha_1/alpha_eps) sd_eps^2;
 *  - Tweedie at eps: x0hat = A x + B, A = (1 - sigma^2/sd^2)/alpha, B = sigma^2 m / sd^2.
 */
function limitLaw(kind: 'ode' | 'sde', eps = 1e-3): Law {
  const sd2 = (t: number): number => sde.alpha(t) ** 2 * V0 + sde.sigma2(t);
  const a1 = sde.alpha(1);
  const ae = sde.alpha(eps);
  let m: Law;
  if (kind === 'ode') {
    const r = Math.sqrt(sd2(eps) / sd2(1));
    m = { mean: ae * M - r * a1 * M, variance: r * r };
  } else {
    const c = (a1 / ae) * sd2(eps);
    const g = c / sd2(1);
    m = { mean: ae * M - g * a1 * M, variance: sd2(eps) - c * g + g * g };
  }
  const A = (1 - sde.sigma2(eps) / sd2(eps)) / ae;
  const B = (sde.sigma2(eps) * M) / sd2(eps);
  return { mean: A * m.mean + B, variance: A * A * m.variance };
}

const dist = (a: Law, b: Law): number => Math.hypot(a.mean - b.mean, a.variance - b.variance);

function expectSampleMatches(x: Batch, law: Law): void {
  const z = zScores(moments(x), law, x.n);
  expect(Math.abs(z.zMean)).toBeLessThan(Z);
  expect(Math.abs(z.zVar)).toBeLessThan(Z);
}

describe('reverse SDE, Euler–Maruyama, on N(1.5, 0.25)', () => {
  const grid = uniformTimeGrid(500);

  it('has a floor below 2e-4 and a discretisation bias below 3e-3 at 500 steps, first order', () => {
    const limit = limitLaw('sde');
    // The floor is Tweedie's shrinkage, Var E[x0 | x_eps] = v0 - ~sigma_eps^2 (1.1e-4); the prior is forgotten.
    expect(dist(limit, { mean: M, variance: V0 })).toBeLessThan(2e-4);
    const b500 = dist(emLaw(score, grid), limit);
    const b1000 = dist(emLaw(score, uniformTimeGrid(1000)), limit);
    // Measured: 1.93e-3 at 500 steps, 9.6e-4 at 1000 (ratio 2.0); floor 1.1e-4.
    expect(b500).toBeLessThan(3e-3);
    expect(b500 / b1000).toBeGreaterThan(1.8);
    expect(b500 / b1000).toBeLessThan(2.3);
  });

  it('draws samples with the chain\'s exact moments (n = 4000, z < 4.5)', () => {
    const x = sampleReverseSDE(keyFromSeed(1), score, sde, { n: N, grid });
    expectSampleMatches(x, emLaw(score, grid));
  });

  it('is deterministic, pure, row-consistent, and reports every step', () => {
    const key = keyFromSeed(2);
    const x0 = sde.priorSample(keyFromSeed(9), 10, 1);
    const keep = cloneBatch(x0);
    const infos: StepInfo[] = [];
    const a = sampleReverseSDE(key, score, sde, { x: x0, steps: 20, callback: (i) => infos.push(i) });
    const b = sampleReverseSDE(key, score, sde, { x: x0, steps: 20 });
    expect(a.data).toEqual(b.data);
    expect(x0.data).toEqual(keep.data);
    expect(infos.map((i) => i.step)).toEqual(Array.from({ length: 21 }, (_, k) => k));
    expect(infos[0].t).toBe(1);
    expect(infos[20].t).toBe(1e-3);
    expect(infos[20].x0hat!.data).toEqual(a.data);
    // Row i's path does not depend on how many rows run.
    const c = sampleReverseSDE(key, score, sde, { n: 7, steps: 20 });
    const d = sampleReverseSDE(key, score, sde, { n: 3, steps: 20 });
    expect(d.data).toEqual(sliceRows(c, 0, 3).data);
    // Raw x_tMin when not denoising.
    const raw = sampleReverseSDE(key, score, sde, { x: x0, steps: 20, denoiseLast: false });
    expect(raw.data).not.toEqual(a.data);
  });

  it('exposes a pure step that does not mutate its inputs', () => {
    const x = makeBatch(2, 1, [0.3, -1]);
    const s = makeBatch(2, 1, [1, 2]);
    const z = makeBatch(2, 1, [0.5, 0.5]);
    const y = reverseEulerMaruyamaStep(x, s, 0.5, 0.01, z, sde);
    const b = sde.beta(0.5);
    expect(y.data[0]).toBeCloseTo(0.3 + 0.5 * b * 0.3 * 0.01 + b * 1 * 0.01 + Math.sqrt(b * 0.01) * 0.5, 14);
    expect(Array.from(x.data)).toEqual([0.3, -1]);
    expect(Array.from(s.data)).toEqual([1, 2]);
    expect(() => reverseEulerMaruyamaStep(x, s, 0.5, -0.01, z, sde)).toThrow(RangeError);
  });
});

describe('DDPM ancestral sampling (Ho et al. Alg. 2) on N(1.5, 0.25)', () => {
  const sch = new DDPMSchedule();
  const model = data.diffusedScore(sch);

  it('has a bias below 1.5e-3 at T = 1000, first order in 1/T', () => {
    // The discrete chain has no closed-form limit of its own: compare with the data directly.
    // Measured: 7.5e-4 at T = 1000 (betas 1e-4..0.02), 1.5e-3 at T = 500 (betas 2e-4..0.04).
    const b1000 = dist(ancestralLaw(model, sch), { mean: M, variance: V0 });
    const half = new DDPMSchedule({ steps: 500, betaStart: 2e-4, betaEnd: 0.04 });
    const b500 = dist(ancestralLaw(data.diffusedScore(half), half), { mean: M, variance: V0 });
    expect(b1000).toBeLessThan(1.5e-3);
    expect(b500 / b1000).toBeGreaterThan(1.8);
    expect(b500 / b1000).toBeLessThan(2.2);
  });

  it('draws samples with the chain\'s exact moments (n = 4000, z < 4.5)', () => {
    const x = sampleAncestral(keyFromSeed(3), model, sch, { n: N });
    expectSampleMatches(x, ancestralLaw(model, sch));
  });

  it('is deterministic and pure; the last step adds no noise; both variances run', () => {
    const small = new DDPMSchedule({ steps: 50, betaStart: 1e-3, betaEnd: 0.2 });
    const m = data.diffusedScore(small);
    const x0 = makeBatch(5, 1, [0, 1, 2, 3, 4]);
    const steps: number[] = [];
    const a = sampleAncestral(keyFromSeed(4), m, small, { x: x0, callback: (i) => steps.push(i.step) });
    expect(sampleAncestral(keyFromSeed(4), m, small, { x: x0 }).data).toEqual(a.data);
    expect(Array.from(x0.data)).toEqual([0, 1, 2, 3, 4]);
    expect(steps).toEqual(Array.from({ length: 50 }, (_, k) => k));
    const y = makeBatch(1, 1, [0.7]);
    const s = makeBatch(1, 1, [0.1]);
    const z = makeBatch(1, 1, [1]);
    expect(ancestralStep(y, s, 1, small, z).data).toEqual(ancestralStep(y, s, 1, small, null).data);
    const post = sampleAncestral(keyFromSeed(4), m, small, { x: x0, variance: 'posterior' });
    expect(post.data).not.toEqual(a.data);
  });
});

describe('probability-flow ODE sampling (Heun) on N(1.5, 0.25)', () => {
  const grid = uniformTimeGrid(100);

  it('has a prior floor of 5e-3 (closed form) and a bias below 5e-4 at 100 Heun steps, second order', () => {
    const limit = limitLaw('ode');
    expect(dist(limit, { mean: M, variance: V0 })).toBeLessThan(6e-3);
    const b100 = dist(odeLaw(score, grid), limit);
    const b200 = dist(odeLaw(score, uniformTimeGrid(200)), limit);
    // Measured: 2.3e-4 at 100 steps, 5.8e-5 at 200 (ratio 4.0); floor 4.9e-3.
    expect(b100).toBeLessThan(5e-4);
    expect(b100 / b200).toBeGreaterThan(3.5);
    expect(b100 / b200).toBeLessThan(4.5);
  });

  it('draws samples with the exact moments (n = 4000, z < 4.5), deterministically given the key', () => {
    const key = keyFromSeed(5);
    const x = sampleProbabilityFlow(key, score, sde, { n: N, grid });
    expectSampleMatches(x, odeLaw(score, grid));
    expect(sampleProbabilityFlow(key, score, sde, { n: 10, grid }).data).toEqual(sliceRows(x, 0, 10).data);
  });
});
