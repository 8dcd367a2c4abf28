/**
 * Score VJPs: the analytic GMM / Gaussian Hessian-vector products against central finite
 * differences of the exact score (independent code path), symmetry of the Hessian, the
 * finite-difference fallback and its cost, and Tweedie's VJP against differences of x0h.
 */
import { describe, expect, it } from 'vitest';
import { makeBatch, type Batch } from '../../src/core/batch.js';
import { keyFromSeed, normalBatch } from '../../src/core/key.js';
import type { ScoreModel } from '../../src/core/types.js';
import { meanFromScore } from '../../src/diffusion/parametrisation.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { Gaussian } from '../../src/targets/gaussian.js';
import { GaussianMixture } from '../../src/targets/gmm.js';
import {
  countedScoreModel, finiteDifferenceVjp, gaussianScoreWithVjp, gmmScoreWithVjp, hasScoreVjp, tweedieVjp, withScoreVjp, zeroCounts,
} from '../../src/baselines/index.js';

const sde = new VPSDE();
const gmm = new GaussianMixture({
  means: [[-2.5, 0, 1], [2, 1.5, -1], [0.5, -2.5, 0]], weights: [0.5, 0.3, 0.2],
  covariance: [{ cov: [[0.4, 0.1, 0], [0.1, 0.3, 0.05], [0, 0.05, 0.6]] }, { std: [0.5, 0.7, 0.4] }, { std: 0.6 }],
});
const gauss = new Gaussian([1, -0.5, 0.2], { cov: [[1.0, 0.6, 0.1], [0.6, 0.8, 0], [0.1, 0, 0.5]] });

function points(seed: number, n: number, d: number, scale: number): Batch {
  const x = normalBatch(keyFromSeed(seed), n, d);
  for (let i = 0; i < x.data.length; i++) x.data[i] *= scale;
  return x;
}

/** (s(x + h v) - s(x - h v)) / 2h with an explicit small h, straight from the score. */
function fdHv(model: ScoreModel, x: Batch, t: number | Float64Array, v: Batch, h = 1e-5): Batch {
  const xp = makeBatch(x.n, x.dim);
  const xm = makeBatch(x.n, x.dim);
  for (let j = 0; j < x.data.length; j++) {
    xp.data[j] = x.data[j] + h * v.data[j];
    xm.data[j] = x.data[j] - h * v.data[j];
  }
  const sp = model.score(xp, t);
  const sm = model.score(xm, t);
  return makeBatch(x.n, x.dim, sp.data.map((u, j) => (u - sm.data[j]) / (2 * h)));
}

function relErr(a: Batch, b: Batch): number {
  let num = 0;
  let den = 0;
  for (let j = 0; j < a.data.length; j++) {
    num = Math.max(num, Math.abs(a.data[j] - b.data[j]));
    den = Math.max(den, Math.abs(b.data[j]));
  }
  return num / Math.max(den, 1e-12);
}

describe.each([
  ['GMM', gmmScoreWithVjp(gmm, sde)],
  ['Gaussian', gaussianScoreWithVjp(gauss, sde)],
] as const)('%s exact score VJP', (_, model) => {
  const x = points(1, 40, 3, 2.5);
  const v = points(2, 40, 3, 1);
  const u = points(3, 40, 3, 1);

  it.each([0.005, 0.1, 0.4, 0.9])('matches central differences of the score at t = %s', (t) => {
    expect(relErr(model.scoreVjp(x, t, v), fdHv(model, x, t, v))).toBeLessThan(1e-6);
  });

  it('accepts one time per row and is symmetric (u.Hv = v.Hu)', () => {
    const t = Float64Array.from({ length: 40 }, (_, i) => 0.01 + (0.98 * i) / 39);
    expect(relErr(model.scoreVjp(x, t, v), fdHv(model, x, t, v))).toBeLessThan(1e-6);
    const hv = model.scoreVjp(x, 0.2, v);
    const hu = model.scoreVjp(x, 0.2, u);
    for (let i = 0; i < 40; i++) {
      let a = 0;
      let b = 0;
      for (let j = 0; j < 3; j++) {
        a += u.data[i * 3 + j] * hv.data[i * 3 + j];
        b += v.data[i * 3 + j] * hu.data[i * 3 + j];
      }
      expect(Math.abs(a - b)).toBeLessThan(1e-10 * (1 + Math.abs(a)));
    }
  });
});

describe('finite-difference fallback', () => {
  const exact = gmmScoreWithVjp(gmm, sde);
  const plain: ScoreModel = gmm.diffusedScore(sde);
  const x = points(4, 30, 3, 2.5);
  const v = points(5, 30, 3, 3);

  it('is used only when the model has no scoreVjp, and agrees with the exact VJP', () => {
    expect(hasScoreVjp(plain)).toBe(false);
    expect(withScoreVjp(exact)).toBe(exact);
    const fd = withScoreVjp(plain);
    for (const t of [0.01, 0.3, 0.9]) expect(relErr(fd.scoreVjp(x, t, v), exact.scoreVjp(x, t, v))).toBeLessThan(1e-6);
    // A zero direction gives an exact zero.
    expect(Array.from(fd.scoreVjp(x, 0.3, makeBatch(30, 3)).data).every((u) => u === 0)).toBe(true);
  });

  it('costs one score call of 2n rows', () => {
    const counts = zeroCounts();
    const fd = finiteDifferenceVjp(countedScoreModel(plain, counts));
    fd.scoreVjp(x, Float64Array.from({ length: 30 }, () => 0.5), v);
    expect(counts).toMatchObject({ scoreCalls: 1, scoreRows: 60, vjpCalls: 0, vjpRows: 0 });
    const c2 = zeroCounts();
    countedScoreModel(exact, c2);
    (countedScoreModel(exact, c2) as typeof exact).scoreVjp(x, 0.5, v);
    expect(c2).toMatchObject({ scoreRows: 0, vjpCalls: 1, vjpRows: 30 });
  });
});

describe('Tweedie VJP', () => {
  it('J_{x0h}^T v = (v + sigma^2 H v) / alpha matches differences of x0h (J is symmetric)', () => {
    const model = gmmScoreWithVjp(gmm, sde);
    const x = points(6, 25, 3, 2);
    const v = points(7, 25, 3, 1);
    for (const t of [0.02, 0.3, 0.8]) {
      const x0h = { score: (y: Batch) => meanFromScore(model.score(y, t), y, sde, t), dim: 3 };
      const fd = fdHv({ dim: 3, score: (y) => x0h.score(y) }, x, t, v);
      expect(relErr(tweedieVjp(model, sde, x, t, v), fd)).toBeLessThan(1e-6);
    }
  });
});
