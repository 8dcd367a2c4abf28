import { describe, expect, it } from 'vitest';
import { fromRows, makeBatch } from '../../src/core/batch.js';
import { keyFromSeed, normalBatch, uniform } from '../../src/core/key.js';
import { DDPMSchedule } from '../../src/diffusion/ddpm.js';
import { logSnrTimeGrid, quadraticTimeGrid, uniformTimeGrid } from '../../src/diffusion/grids.js';
import {
  fromScore, meanFromScore, noiseFromScore, scoreFromMean, scoreFromNoise, scoreModelFrom, toScore,
} from '../../src/diffusion/parametrisation.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { Gaussian } from '../../src/targets/gaussian.js';
import { GaussianMixture } from '../../src/targets/gmm.js';
import { moments } from './helpers.js';

const sde = new VPSDE();
const Z = 4.5; // two-sided normal quantile per check: P(|N(0,1)| > 4.5) = 6.8e-6

describe('VPSDE schedule', () => {
  it('matches the closed form alpha = exp(-t^2 (bMax - bMin)/4 - t bMin / 2)', () => {
    for (const t of [0, 1e-6, 0.01, 0.3, 0.77, 1]) {
      const a = Math.exp(-0.25 * t * t * (20 - 0.1) - 0.5 * t * 0.1);
      expect(sde.alpha(t)).toBeCloseTo(a, 15);
      expect(sde.alpha(t) ** 2 + sde.sigma(t) ** 2).toBeCloseTo(1, 14);
      expect(sde.integralBeta(t)).toBeCloseTo(0.1 * t + 0.5 * 19.9 * t * t, 14);
      expect(sde.beta(t)).toBeCloseTo(0.1 + 19.9 * t, 14);
      expect(sde.diffusion(t) ** 2).toBeCloseTo(sde.beta(t), 13);
    }
  });

  it('keeps full relative accuracy of sigma^2 at small t (expm1)', () => {
    for (const t of [1e-10, 1e-7, 1e-4]) {
      const b = sde.integralBeta(t);
      const series = b - (b * b) / 2 + (b * b * b) / 6;
      expect(Math.abs(sde.sigma2(t) / series - 1)).toBeLessThan(1e-13);
    }
  });

  it('inverts B(t) and log SNR in closed form', () => {
    for (const t of [1e-4, 0.05, 0.5, 1]) {
      expect(sde.timeFromIntegral(sde.integralBeta(t))).toBeCloseTo(t, 13);
      expect(sde.timeFromLogSnr(sde.logSnr(t))).toBeCloseTo(t, 10);
    }
    const flat = new VPSDE({ betaMin: 2, betaMax: 2 });
    expect(flat.timeFromIntegral(flat.integralBeta(0.4))).toBeCloseTo(0.4, 14);
  });

  it('has the linear drift, its divergence and the N(0, I) prior', () => {
    const x = fromRows([[1, -2], [0.5, 3]]);
    const t = 0.4;
    const f = sde.drift(x, t);
    expect(Array.from(f.data)).toEqual(Array.from(x.data).map((v) => -0.5 * sde.beta(t) * v));
    expect(Array.from(sde.driftDivergence(x, t))).toEqual([-sde.beta(t), -sde.beta(t)]);
    const lp = sde.priorLogDensity(x);
    expect(lp[0]).toBeCloseTo(-0.5 * 5 - Math.log(2 * Math.PI), 14);
    expect(Array.from(x.data)).toEqual([1, -2, 0.5, 3]);
  });

  it('rejects bad parameters', () => {
    expect(() => new VPSDE({ betaMin: -1 })).toThrow(RangeError);
    expect(() => new VPSDE({ betaMin: 5, betaMax: 1 })).toThrow(RangeError);
    expect(() => new VPSDE({ T: 0 })).toThrow(RangeError);
  });
});

describe('VPSDE marginal', () => {
  it('perturbs exactly as alpha x0 + sigma eps, with one time per row', () => {
    const x0 = fromRows([[1, 2], [3, 4]]);
    const eps = fromRows([[0.5, -1], [2, 0]]);
    const t = Float64Array.of(0.1, 0.9);
    const xt = sde.perturb(x0, eps, t);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 2; j++) {
        expect(xt.data[i * 2 + j]).toBeCloseTo(sde.alpha(t[i]) * x0.data[i * 2 + j] + sde.sigma(t[i]) * eps.data[i * 2 + j], 14);
      }
    }
    expect(Array.from(x0.data)).toEqual([1, 2, 3, 4]);
  });

  it('has mean alpha x0 and variance sigma^2 (z < 4.5 on sample moments, n = 20000)', () => {
    const n = 20000;
    const t = 0.35;
    const x0 = makeBatch(n, 2, new Float64Array(2 * n).map((_, j) => (j % 2 === 0 ? 1.5 : -0.7)));
    const xt = sde.marginal(keyFromSeed(11), x0, t);
    const s2 = sde.sigma2(t);
    for (const [j, m0] of [[0, 1.5], [1, -0.7]] as const) {
      const m = moments(xt, j);
      expect(Math.abs(m.mean - sde.alpha(t) * m0) / Math.sqrt(s2 / n)).toBeLessThan(Z);
      expect(Math.abs(m.variance - s2) / (s2 * Math.sqrt(2 / (n - 1)))).toBeLessThan(Z);
    }
    // Same key, same draw.
    expect(sde.marginal(keyFromSeed(11), x0, t).data).toEqual(xt.data);
  });
});

describe('Tweedie', () => {
  // x0 ~ N(mu, S) with a full covariance: E[x0 | xt] = mu + alpha S (alpha^2 S + sigma^2 I)^{-1} (xt - alpha mu).
  const mu = [0.8, -1.2];
  const S = [[1.0, 0.6], [0.6, 0.5]];
  const gauss = new Gaussian(mu, { cov: S });
  const posteriorMean = (x: number[], t: number): number[] => {
    const a = sde.alpha(t);
    const s2 = sde.sigma2(t);
    const C = [[a * a * S[0][0] + s2, a * a * S[0][1]], [a * a * S[1][0], a * a * S[1][1] + s2]];
    const det = C[0][0] * C[1][1] - C[0][1] * C[1][0];
    const r = [x[0] - a * mu[0], x[1] - a * mu[1]];
    const u = [(C[1][1] * r[0] - C[0][1] * r[1]) / det, (-C[1][0] * r[0] + C[0][0] * r[1]) / det];
    return [mu[0] + a * (S[0][0] * u[0] + S[0][1] * u[1]), mu[1] + a * (S[1][0] * u[0] + S[1][1] * u[1])];
  };

  it('of the exact Gaussian score is the closed-form posterior mean', () => {
    const x = fromRows([[0, 0], [1.3, -2.1], [-3, 4]]);
    for (const t of [0.01, 0.3, 0.9]) {
      const s = gauss.diffusedScore(sde).score(x, t);
      const m = sde.tweedie(x, s, t);
      for (let i = 0; i < x.n; i++) {
        const e = posteriorMean([x.data[2 * i], x.data[2 * i + 1]], t);
        expect(m.data[2 * i]).toBeCloseTo(e[0], 10);
        expect(m.data[2 * i + 1]).toBeCloseTo(e[1], 10);
      }
    }
  });

  it('of the exact GMM score is the GMM posterior mean (computed without Tweedie), one time per row', () => {
    const gmm = new GaussianMixture({ means: [[-2, 0], [2, 1]], weights: [0.3, 0.7], covariance: [{ std: 0.5 }, { std: [0.3, 0.8] }] });
    const x = normalBatch(keyFromSeed(3), 50, 2);
    const t = uniform(keyFromSeed(4), 50, 0.01, 0.99);
    const m = sde.tweedie(x, gmm.diffusedScore(sde).score(x, t), t);
    const a = t.map((u) => sde.alpha(u));
    const s = t.map((u) => sde.sigma(u));
    const e = gmm.posteriorMean(x, a, s);
    for (let j = 0; j < m.data.length; j++) expect(m.data[j]).toBeCloseTo(e.data[j], 9);
  });
});

describe('parametrisations', () => {
  const x0 = fromRows([[1, -1], [0.2, 2]]);
  const eps = fromRows([[0.3, 0.9], [-1.1, 0.4]]);
  const t = Float64Array.of(0.2, 0.7);
  const x = sde.perturb(x0, eps, t);

  it('agree on a point-mass posterior: noise eps and mean x0 give the same score -(x - alpha x0)/sigma^2', () => {
    const a = scoreFromNoise(eps, sde, t);
    const b = scoreFromMean(x0, x, sde, t);
    for (let j = 0; j < 4; j++) expect(a.data[j]).toBeCloseTo(b.data[j], 12);
    const back = meanFromScore(a, x, sde, t);
    const e = noiseFromScore(a, sde, t);
    for (let j = 0; j < 4; j++) {
      expect(back.data[j]).toBeCloseTo(x0.data[j], 12);
      expect(e.data[j]).toBeCloseTo(eps.data[j], 12);
    }
  });

  it('round-trip through every kind and wrap a network as a ScoreModel', () => {
    const gauss = new Gaussian([0.5, 0.5], { std: [1, 0.4] });
    const exact = gauss.diffusedScore(sde);
    const s = exact.score(x, t);
    for (const kind of ['score', 'noise', 'mean'] as const) {
      const out = fromScore(kind, s, x, sde, t);
      const r = toScore(kind, out, x, sde, t);
      for (let j = 0; j < 4; j++) expect(r.data[j]).toBeCloseTo(s.data[j], 11);
      const model = scoreModelFrom(kind, { dim: 2, predict: (y, u) => fromScore(kind, exact.score(y, u), y, sde, u) }, sde);
      const r2 = model.score(x, 0.4);
      const s2 = exact.score(x, 0.4);
      for (let j = 0; j < 4; j++) expect(r2.data[j]).toBeCloseTo(s2.data[j], 11);
    }
  });
});

describe('DDPM schedule', () => {
  const ddpm = new DDPMSchedule();

  it('has the linear betas of Ho et al. and abar = prod (1 - beta)', () => {
    expect(ddpm.beta(1)).toBe(1e-4);
    expect(ddpm.beta(1000)).toBeCloseTo(0.02, 15);
    let prod = 1;
    for (let i = 1; i <= 1000; i++) {
      prod *= 1 - ddpm.beta(i);
      if (i % 97 === 0 || i === 1000) {
        expect(Math.abs(ddpm.alphaBar(i) / prod - 1)).toBeLessThan(1e-12);
        expect(ddpm.alpha(ddpm.time(i)) ** 2 / prod).toBeCloseTo(1, 12);
        expect(ddpm.alpha(i / 1000) ** 2 + ddpm.sigma(i / 1000) ** 2).toBeCloseTo(1, 14);
      }
    }
    expect(ddpm.alpha(0)).toBe(1);
    expect(ddpm.sigma(0)).toBe(0);
    expect(ddpm.index(0.5004)).toBe(500);
  });

  it('interpolates log abar linearly between grid times (continuous and monotone)', () => {
    const small = new DDPMSchedule({ steps: 10 });
    const mid = small.logAlphaBar(0.35);
    expect(mid).toBeCloseTo(0.5 * (small.logAlphaBars[3] + small.logAlphaBars[4]), 14);
    expect(small.alpha(0.34)).toBeGreaterThan(small.alpha(0.36));
    expect(() => small.alpha(1.01)).toThrow(RangeError);
  });

  it('approaches its continuous limit, the VP SDE (0.1, 20), within a computed bound', () => {
    const vp = ddpm.continuousLimit();
    expect(vp.betaMin).toBeCloseTo(0.1, 14);
    expect(vp.betaMax).toBeCloseTo(20, 12);
    // |log abar_i + B(i/T)| <= sum_j beta_j^2 / (2 (1 - beta_j))  (from log(1 - b) = -b - O(b^2))
    //                         + (betaEnd - betaStart) i / T        (Riemann sum of a linear beta).
    let quad = 0;
    for (let i = 1; i <= 1000; i++) {
      const b = ddpm.beta(i);
      quad += (b * b) / (2 * (1 - b));
      const bound = quad + (0.02 - 1e-4) * (i / 1000);
      expect(Math.abs(ddpm.logAlphaBars[i] + vp.integralBeta(i / 1000))).toBeLessThan(bound);
    }
  });
});

describe('time grids', () => {
  it('uniform: steps + 1 decreasing times from tEnd to tMin', () => {
    const g = uniformTimeGrid(4, { tMin: 0.2 });
    expect(g.length).toBe(5);
    for (let k = 0; k < 4; k++) expect(g[k]).toBeCloseTo([1, 0.8, 0.6, 0.4][k], 15);
    expect(g[4]).toBe(0.2);
    expect(() => uniformTimeGrid(0)).toThrow(RangeError);
    expect(() => uniformTimeGrid(3, { tMin: 2 })).toThrow(RangeError);
  });

  it('quadratic: denser near tMin', () => {
    const g = quadraticTimeGrid(10, { tMin: 1e-3 });
    expect(g[0]).toBe(1);
    expect(g[10]).toBe(1e-3);
    expect(g[9] - g[10]).toBeLessThan(g[0] - g[1]);
  });

  it('log SNR: equally spaced in log(alpha^2 / sigma^2)', () => {
    const g = logSnrTimeGrid(20, sde, { tMin: 1e-3 });
    expect(g[0]).toBe(1);
    expect(g[20]).toBe(1e-3);
    const d0 = sde.logSnr(g[1]) - sde.logSnr(g[0]);
    for (let k = 1; k < 20; k++) expect(sde.logSnr(g[k + 1]) - sde.logSnr(g[k])).toBeCloseTo(d0, 8);
  });
});
