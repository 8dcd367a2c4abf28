/**
 * Leapfrog: exact invariants (DESIGN.md, "How to test a sampler" 1). On a Gaussian the leapfrog
 * map is linear with a known closed form, and it conserves the "shadow" Hamiltonian
 * `H~ = sum_k p_k^2/2 + w_k^2 y_k^2/2 (1 - h^2 w_k^2/4)` exactly (y, p in the eigenbasis,
 * `w_k^2` = 1 / eigenvalue), so the energy error has a computed O(h^2) bound
 * `|H(t) - H(0)| <= e (H(0) - min H) / (1 - e)`, `e = h^2 w_max^2 / 4`, and on a long trajectory
 * reaches a fixed fraction of it. Time reversibility on a non-Gaussian target; divergence.
 */
import { describe, expect, it } from 'vitest';
import { makeBatch, type Batch } from '../../src/core/batch.js';
import { keyFromSeed, normal, split } from '../../src/core/key.js';
import { hmcStep } from '../../src/mcmc/hmc.js';
import { kineticEnergy, leapfrog } from '../../src/mcmc/integrators.js';
import { initChains, type LogDensityFn } from '../../src/mcmc/types.js';
import { GaussianMixture } from '../../src/targets/gmm.js';
import { counting, gaussianLogDensity } from './helpers.js';

const randomBatch = (seed: number, n: number, d: number, scale = 1): Batch => {
  const b = makeBatch(n, d, normal(keyFromSeed(seed), n * d));
  for (let k = 0; k < b.data.length; k++) b.data[k] *= scale;
  return b;
};

describe('leapfrog on a harmonic oscillator (N(0, s^2) in 1-D)', () => {
  it('matches the closed form of the discrete map, and the continuous trajectory to O(h^2)', () => {
    // H = p^2/2 + w^2 x^2/2. One leapfrog step is M = [[c, h], [-h w^2 (1 - h^2 w^2/4), c]] with
    // c = 1 - h^2 w^2/2 = cos(theta); M^k = cos(k theta) I + sin(k theta)/sin(theta) (M - c I).
    const s = 0.8;
    const w = 1 / s;
    const fn = gaussianLogDensity([0], [s * s]);
    const x0 = randomBatch(1, 5, 1, 2);
    const p0 = randomBatch(2, 5, 1);
    for (const [h, L] of [[0.1, 40], [0.05, 80], [0.025, 160]] as const) {
      const { state, momentum } = leapfrog(initChains(x0, fn), p0, fn, h, L);
      const c = 1 - (h * h * w * w) / 2;
      const theta = Math.acos(c);
      const T = h * L;
      for (let i = 0; i < 5; i++) {
        const a = x0.data[i];
        const b = p0.data[i];
        const r = Math.sin(L * theta) / Math.sin(theta);
        const xk = Math.cos(L * theta) * a + r * h * b;
        const pk = Math.cos(L * theta) * b - r * h * w * w * (1 - (h * h * w * w) / 4) * a;
        expect(Math.abs(state.position.data[i] - xk)).toBeLessThan(1e-12 * (1 + Math.abs(a) + Math.abs(b)) * L);
        expect(Math.abs(momentum.data[i] - pk)).toBeLessThan(1e-12 * (1 + Math.abs(a) + Math.abs(b)) * L);
        // Continuous solution x(T) = a cos(wT) + (b/w) sin(wT). The discrete phase theta/h - w
        // = w (h w)^2/24 + O(h^4) and amplitude h/sin(theta) - 1/w = (h^2 w)/8 + O(h^4) give the bound.
        const xt = a * Math.cos(w * T) + (b / w) * Math.sin(w * T);
        const bound = 1.1 * ((Math.abs(a) + Math.abs(b) / w) * (T * w * (h * w) ** 2) / 24 + (Math.abs(b) * h * h * w) / 8);
        expect(Math.abs(state.position.data[i] - xt)).toBeLessThan(bound);
      }
    }
  });
});

describe('leapfrog energy error on a correlated 2-D Gaussian', () => {
  const mean = [0.5, -1];
  const cov = [2, 1.2, 1.2, 1];
  const fn = gaussianLogDensity(mean, cov);
  // Eigenvalues of cov: (3 +- sqrt(1 + 4 * 1.44)) / 2.
  const lamMin = (3 - Math.sqrt(1 + 4 * 1.44)) / 2;
  const w2max = 1 / lamMin;
  const n = 50;
  const x0 = randomBatch(3, n, 2, 1.5);
  const p0 = randomBatch(4, n, 2);

  it.each([0.2, 0.1, 0.05])('h = %s: max |H(t) - H(0)| is below its O(h^2) bound and a fixed fraction of it', (h) => {
    const state0 = initChains(x0, fn);
    const H0 = kineticEnergy(p0).map((k, i) => k - state0.logDensity[i]);
    const maxErr = new Float64Array(n);
    let state = state0;
    let p = p0;
    // 1 step at a time over a time T = 20 (several periods of both modes).
    for (let s = 0; s < Math.round(20 / h); s++) {
      const r = leapfrog(state, p, fn, h, 1);
      state = r.state;
      p = r.momentum;
      const K = kineticEnergy(p);
      for (let i = 0; i < n; i++) maxErr[i] = Math.max(maxErr[i], Math.abs(K[i] - state.logDensity[i] - H0[i]));
    }
    // E = H - min H is the quadratic energy; 0 <= E(t) - E~ <= e E~ / (1 - e) with e = h^2 w_max^2 / 4
    // and E~ <= E(0), so |E(t) - E(0)| <= e E(0) / (1 - e).
    const e = (h * h * w2max) / 4;
    const hMin = -fn(makeBatch(1, 2, mean)).value[0];
    let worst = 0;
    let worstBound = 0;
    for (let i = 0; i < n; i++) {
      const bound = (e * (H0[i] - hMin)) / (1 - e);
      expect(maxErr[i]).toBeLessThanOrEqual(bound * (1 + 1e-9));
      worst = Math.max(worst, maxErr[i]);
      worstBound = Math.max(worstBound, bound);
    }
    // Not o(h^2) either: a chain with much energy in the fast mode swings through about half its
    // range of E - E~, so over 50 random chains the worst error is a fixed fraction of the worst bound.
    expect(worst).toBeGreaterThan(worstBound / 2);
  });
});

describe('leapfrog invariants on a non-Gaussian target (2-component GMM)', () => {
  const gmm = new GaussianMixture({ means: [[-1, 0], [1.5, 1]], weights: [0.4, 0.6], covariance: { cov: [1, 0.3, 0.3, 0.5] } });
  const fn: LogDensityFn = (x) => gmm.logDensityAndGrad(x);

  it('is time-reversible: flip the momentum, integrate back, recover the start to 1e-10', () => {
    const x0 = randomBatch(5, 20, 2, 2);
    const p0 = randomBatch(6, 20, 2);
    const fwd = leapfrog(initChains(x0, fn), p0, fn, 0.1, 25);
    const flipped = makeBatch(20, 2, fwd.momentum.data.map((v) => -v));
    const back = leapfrog(fwd.state, flipped, fn, 0.1, 25);
    for (let k = 0; k < 40; k++) {
      expect(Math.abs(back.state.position.data[k] - x0.data[k])).toBeLessThan(1e-10);
      expect(Math.abs(-back.momentum.data[k] - p0.data[k])).toBeLessThan(1e-10);
    }
  });

  it('is pure, costs numSteps calls on n rows, and per-chain step sizes act per chain', () => {
    const x0 = randomBatch(7, 6, 2);
    const p0 = randomBatch(8, 6, 2);
    const state = initChains(x0, fn);
    const snapshot = [state.position.data.slice(), state.logDensity.slice(), state.grad.data.slice(), p0.data.slice()];
    const c = counting(fn);
    const h = Float64Array.from([0.1, 0.2, 0.05, 0.1, 0.3, 0.01]);
    const r = leapfrog(state, p0, c.fn, h, 7);
    expect(c.calls()).toBe(7);
    expect(c.rows()).toBe(42);
    expect([state.position.data, state.logDensity, state.grad.data, p0.data].map((a) => Array.from(a))).toEqual(snapshot.map((a) => Array.from(a)));
    // Chain 4 alone with its scalar step size gives the same row.
    const one = leapfrog(initChains(makeBatch(1, 2, x0.data.subarray(8, 10)), fn), makeBatch(1, 2, p0.data.subarray(8, 10)), fn, 0.3, 7);
    expect(Array.from(r.state.position.data.subarray(8, 10))).toEqual(Array.from(one.state.position.data));
  });
});

describe('divergence', () => {
  // log p = -x^4 / 4: with a large step the trajectory explodes to Infinity within a few steps.
  const quartic: LogDensityFn = (x) => {
    const value = new Float64Array(x.n);
    const grad = makeBatch(x.n, x.dim);
    for (let i = 0; i < x.n; i++) {
      for (let j = 0; j < x.dim; j++) {
        const v = x.data[i * x.dim + j];
        value[i] -= v ** 4 / 4;
        grad.data[i * x.dim + j] = -(v ** 3);
      }
    }
    return { value, grad };
  };

  it('freezes diverged rows (the target never sees non-finite input); HMC rejects and counts them', () => {
    const c = counting(quartic);
    const x0 = makeBatch(3, 1, [0.1, 3, -4]);
    const state = initChains(x0, c.fn);
    const h = Float64Array.from([0.1, 2, 2]);
    const r = leapfrog(state, makeBatch(3, 1), c.fn, h, 20);
    expect(Array.from(r.diverged)).toEqual([0, 1, 1]);
    expect(Number.isNaN(r.state.logDensity[1])).toBe(true);
    expect(Number.isFinite(r.state.logDensity[0])).toBe(true);
    const [next, info] = hmcStep(split(keyFromSeed(0), 1)[0], state, c.fn, { stepSize: h, numSteps: 20 });
    expect(info.nonFinite).toBe(2);
    expect(Array.from(info.accepted.subarray(1))).toEqual([0, 0]);
    expect(Array.from(info.acceptanceRate.subarray(1))).toEqual([0, 0]);
    expect(Array.from(info.energyError.subarray(1))).toEqual([Infinity, Infinity]);
    expect(Array.from(next.position.data.subarray(1))).toEqual([3, -4]);
    for (const v of next.position.data) expect(Number.isFinite(v)).toBe(true);
  });
});
