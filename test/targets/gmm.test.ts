import { describe, expect, it } from 'vitest';
import { makeBatch, type Batch } from '../../src/core/batch.js';
import { keyFromSeed, normal, normalBatch } from '../../src/core/key.js';
import { Gaussian } from '../../src/targets/gaussian.js';
import { GaussianMixture } from '../../src/targets/gmm.js';
import { expectGradientMatches, expectMomentsMatch, maxRelError, spdFrom, vp, Z } from './helpers.js';

const means = [[-3, 0, 1], [2, 2, -1], [0, -3, 0.5], [4, -1, 2]];
const weights = [0.1, 0.4, 0.2, 0.3];
const fulls = means.map((_, k) => spdFrom(normal(keyFromSeed(100 + k), 9), 3, 0.2));
const cases: [string, () => GaussianMixture][] = [
  ['isotropic', () => new GaussianMixture({ means, weights, covariance: { std: 0.8 } })],
  ['diagonal', () => new GaussianMixture({ means, weights, covariance: means.map((_, k) => ({ std: [0.5 + 0.1 * k, 1, 0.7] })) })],
  ['full', () => new GaussianMixture({ means, weights, covariance: fulls.map((c) => ({ cov: c })) })],
];

function points(seed: number, n: number, dim: number, scale: number): Batch {
  const x = normalBatch(keyFromSeed(seed), n, dim);
  for (let i = 0; i < x.data.length; i++) x.data[i] *= scale;
  return x;
}

/** log p by the definition: log sum_k w_k N(x; mu_k, S_k), each component an independent Gaussian. */
function referenceLogDensity(g: GaussianMixture, x: Batch): Float64Array {
  const comps = Array.from({ length: g.k }, (_, k) => new Gaussian(g.componentMean(k), g.covariances[k]));
  const w = g.weights();
  const out = new Float64Array(x.n);
  const per = comps.map((c) => c.logDensity(x));
  for (let i = 0; i < x.n; i++) {
    let s = 0;
    for (let k = 0; k < g.k; k++) s += w[k] * Math.exp(per[k][i]);
    out[i] = Math.log(s);
  }
  return out;
}

describe.each(cases)('GaussianMixture (%s covariances)', (_, make) => {
  const g = make();
  const x = points(1, 24, 3, 3);

  it('has the normalised mixture log-density', () => {
    expect(maxRelError(g.logDensity(x), referenceLogDensity(g, x))).toBeLessThan(1e-12);
    expect(Array.from(g.weights()).map((v) => +v.toFixed(12))).toEqual(weights);
  });

  it('has an analytic gradient that matches central finite differences (rtol 1e-6)', () => {
    const { value, grad } = g.logDensityAndGrad(x);
    expect(maxRelError(value, g.logDensity(x))).toBe(0);
    expectGradientMatches((y) => g.logDensity(y), grad, x);
  });

  it('has an exact diffused score: FD of diffused(alpha, sigma).logDensity at several t; t = 0 gives the target score', () => {
    const sm = g.diffusedScore(vp);
    for (const t of [0.02, 0.2, 0.6, 1]) {
      const pt = g.diffused(vp.alpha(t), vp.sigma(t));
      expectGradientMatches((y) => pt.logDensity(y), sm.score(x, t), x);
      expect(maxRelError(g.scoreAt(x, vp.alpha(t), vp.sigma(t)), sm.score(x, t))).toBe(0);
    }
    expect(maxRelError(sm.score(x, 0), g.logDensityAndGrad(x).grad)).toBeLessThan(1e-13);
  });

  it('gives the same per-row-t score as one call per row', () => {
    const sm = g.diffusedScore(vp);
    // Repeated times exercise the cache of per-time quantities.
    const ts = Float64Array.from({ length: x.n }, (_, i) => [0.1, 0.1, 0.5, 0.5, 0.9, 0.1][i % 6]);
    const all = sm.score(x, ts);
    for (let i = 0; i < x.n; i++) {
      const xi = makeBatch(1, 3, x.data.subarray(3 * i, 3 * i + 3));
      expect(maxRelError(all.data.subarray(3 * i, 3 * i + 3), sm.score(xi, ts[i]).data)).toBe(0);
    }
  });

  it('posterior mean satisfies Tweedie: E[x0|xt] = (xt + sigma^2 score_t(xt)) / alpha', () => {
    for (const t of [0.05, 0.3, 0.8]) {
      const a = vp.alpha(t);
      const s = vp.sigma(t);
      const xt = points(2, 30, 3, 3 * a + s);
      const pm = g.posteriorMean(xt, a, s);
      const sc = g.scoreAt(xt, a, s);
      const tw = xt.data.map((v, i) => (v + s * s * sc.data[i]) / a);
      expect(maxRelError(pm.data, tw)).toBeLessThan(1e-9);
    }
    // alpha = 0: x_t carries no information, the posterior mean is the prior mean.
    const pm0 = g.posteriorMean(x, 0, 1);
    const m = g.moments().mean;
    for (let i = 0; i < x.n; i++) for (let j = 0; j < 3; j++) expect(pm0.data[3 * i + j]).toBeCloseTo(m[j], 12);
  });

  it('samples with the mixture mean and covariance (z < 4.5)', () => {
    const mo = g.moments();
    expectMomentsMatch(g.sample(keyFromSeed(21), 20000), mo.mean, mo.cov);
  });

  it('tilts exactly: log q - log p - a.x is the constant -log E_p[exp(a.x)]', () => {
    const a = [0.4, -0.3, 0.6];
    const q = g.tilted(a);
    const lq = q.logDensity(x);
    const lp = g.logDensity(x);
    const logZ = g.logNormalizerOfTilt(a);
    for (let i = 0; i < x.n; i++) {
      const ax = a[0] * x.data[3 * i] + a[1] * x.data[3 * i + 1] + a[2] * x.data[3 * i + 2];
      expect(lq[i] - lp[i] - ax).toBeCloseTo(-logZ, 9);
    }
  });
});

describe('GaussianMixture sampling', () => {
  it('draws components at their weights (binomial z < 4.5) and is deterministic and prefix-consistent', () => {
    // Components 40 std apart: the nearest mean identifies the component with certainty.
    const ms = [[-20, 0], [20, 0], [0, 20], [0, -20]];
    const w = [0.1, 0.2, 0.3, 0.4];
    const g = new GaussianMixture({ means: ms, weights: w, covariance: { std: 0.5 } });
    const n = 20000;
    const s = g.sample(keyFromSeed(3), n);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bd = Infinity;
      ms.forEach(([a, b], k) => {
        const d = (s.data[2 * i] - a) ** 2 + (s.data[2 * i + 1] - b) ** 2;
        if (d < bd) {
          bd = d;
          best = k;
        }
      });
      counts[best]++;
    }
    w.forEach((wk, k) => expect(Math.abs(counts[k] - n * wk) / Math.sqrt(n * wk * (1 - wk))).toBeLessThan(Z));
    expect(g.sample(keyFromSeed(3), n).data).toEqual(s.data);
    expect(g.sample(keyFromSeed(3), 101).data).toEqual(s.data.subarray(0, 202));
    expect(g.sample(keyFromSeed(4), 10).data).not.toEqual(s.data.subarray(0, 20));
  });
});

describe('GaussianMixture posterior mean by quadrature (1-D, independent of the score)', () => {
  it('matches int x0 p(x0) N(xt; a x0, s^2) dx0 / int p(x0) N(xt; a x0, s^2) dx0', () => {
    const g = new GaussianMixture({ means: [[-2], [1], [3]], weights: [0.5, 0.3, 0.2], covariance: [{ std: 0.5 }, { std: 1 }, { std: 0.3 }] });
    const grid = makeBatch(20001, 1, Float64Array.from({ length: 20001 }, (_, i) => -10 + i * 0.001));
    const lp = g.logDensity(grid);
    for (const [a, s] of [[0.9, 0.4], [0.5, 0.85], [0.2, 0.98]]) {
      const xt = makeBatch(5, 1, [-3, -1, 0, 1.5, 3].map((v) => v * a));
      const pm = g.posteriorMean(xt, a, s);
      for (let i = 0; i < xt.n; i++) {
        let num = 0;
        let den = 0;
        for (let j = 0; j < grid.n; j++) {
          const x0 = grid.data[j];
          const w = Math.exp(lp[j] - (xt.data[i] - a * x0) ** 2 / (2 * s * s));
          num += x0 * w;
          den += w;
        }
        expect(pm.data[i]).toBeCloseTo(num / den, 7);
      }
    }
  });
});

describe('GaussianMixture validation and tilt edge cases', () => {
  it('rejects bad weights and shapes', () => {
    expect(() => new GaussianMixture({ means: [[0], [1]], weights: [1, 0], covariance: { std: 1 } })).toThrow(/weight 1 must be positive/);
    expect(() => new GaussianMixture({ means: [[0], [1]], weights: [1, -1], covariance: { std: 1 } })).toThrow(/positive/);
    expect(() => new GaussianMixture({ means: [[0], [1]], weights: [1], covariance: { std: 1 } })).toThrow(/1 weights for 2/);
    expect(() => new GaussianMixture({ means: [[0], [1, 2]], covariance: { std: 1 } })).toThrow(/mean 1 has 2 values/);
    expect(() => new GaussianMixture({ means: [], covariance: { std: 1 } })).toThrow(/at least one/);
    expect(() => new GaussianMixture({ means: [[0, 0]], covariance: [{ std: 1 }, { std: 1 }] })).toThrow(/2 covariances for 1/);
    expect(() => new GaussianMixture({ means: [[0, 0]], covariance: { cov: [[1, 3], [3, 1]] } })).toThrow(/component|not positive definite/);
  });
  it('normalises weights and keeps equal weights by default', () => {
    const g = new GaussianMixture({ means: [[0], [1]], weights: [2, 6], covariance: { std: 1 } });
    expect(g.weights()[0]).toBeCloseTo(0.25, 15);
    const h = new GaussianMixture({ means: [[0], [1], [2]], covariance: { std: 1 } });
    expect(h.weights()[2]).toBeCloseTo(1 / 3, 15);
  });
  it('a strong tilt whose weights underflow in linear space stays finite (log-space weights)', () => {
    const g = new GaussianMixture({ means: [[-50], [50]], covariance: { std: 1 } });
    const q = g.tilted([20]);
    expect(q.weights()[0]).toBe(0);
    const x = makeBatch(2, 1, [70, 71]);
    const d = q.logDensity(x)[1] - q.logDensity(x)[0] - (g.logDensity(x)[1] - g.logDensity(x)[0]) - 20;
    expect(Math.abs(d)).toBeLessThan(1e-8);
    expect(Number.isFinite(g.logNormalizerOfTilt([20]))).toBe(true);
  });
});

describe('GaussianMixture isotropic fast path', () => {
  it.each([2, 5])('log p and its gradient equal the general path in %i-D (shared isotropic covariance)', (d) => {
    const key = keyFromSeed(11);
    const means = Array.from({ length: 7 }, (_, k) => Array.from({ length: d }, (_, j) => 6 * Math.sin(3 * k + j)));
    const g = new GaussianMixture({ means, weights: [1, 2, 3, 1, 2, 3, 4], covariance: { variance: 1.7 } });
    const x = normalBatch(key, 300, d);
    for (let i = 0; i < x.data.length; i++) x.data[i] *= 8;
    expect((g as unknown as { isotropic?: unknown }).isotropic).toBeDefined(); // the fast path is the one taken
    const fast = g.logDensityAndGrad(x);
    const general = g.diffusedLogDensityAndGrad(x, 1, 0); // the eigenbasis path
    expect(maxRelError(fast.value, general.value)).toBeLessThan(1e-12);
    expect(maxRelError(fast.grad.data, general.grad.data)).toBeLessThan(1e-10);
    expect(maxRelError(g.logDensity(x), general.value)).toBeLessThan(1e-12);
  });
});

describe('GaussianMixture marginal bin probabilities', () => {
  // Exact probabilities against the frequencies of 100,000 exact samples, bin by bin, within 4.5
  // binomial standard errors; and they sum to the mass inside the edges (1 on a wide range).
  it.each([0, 1])('match exact samples in coordinate %i (anisotropic components)', (j) => {
    const g = new GaussianMixture({ means: [[-3, 1], [2, -1], [4, 4]], weights: [1, 2, 3], covariance: [{ std: 0.7 }, { variance: [1.5, 0.4] }, { std: 1.2 }] });
    const edges = Float64Array.from({ length: 25 }, (_, i) => -8 + (16 * i) / 24);
    const p = g.marginalBinProbabilities(j, edges);
    const wide = g.marginalBinProbabilities(j, Float64Array.of(-100, 100));
    expect(wide[0]).toBeCloseTo(1, 6);
    const N = 100_000;
    const s = g.sample(keyFromSeed(21), N);
    const f = new Float64Array(24);
    for (let i = 0; i < N; i++) {
      const b = Math.floor((s.data[i * 2 + j] + 8) / (16 / 24));
      if (b >= 0 && b < 24) f[b] += 1 / N;
    }
    for (let b = 0; b < 24; b++) expect(Math.abs(f[b] - p[b])).toBeLessThanOrEqual(4.5 * Math.sqrt(Math.max(p[b] * (1 - p[b]), 1 / N) / N));
    expect(() => g.marginalBinProbabilities(2, edges)).toThrow(/coordinate 2/);
  });
});
