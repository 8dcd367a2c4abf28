import { describe, expect, it } from 'vitest';
import { makeBatch } from '../../src/core/batch.js';
import { keyFromSeed, normal, normalBatch } from '../../src/core/key.js';
import { Gaussian } from '../../src/targets/gaussian.js';
import { expectGradientMatches, expectMomentsMatch, maxRelError, spdFrom, vp } from './helpers.js';

const key = keyFromSeed(7);
const fullCov = spdFrom(normal(keyFromSeed(3), 9), 3);
const cases: [string, () => Gaussian][] = [
  ['isotropic', () => new Gaussian([1, -2, 0.5], { std: 0.7 })],
  ['diagonal', () => new Gaussian([1, -2, 0.5], { variance: [0.5, 2, 1.5] })],
  ['full', () => new Gaussian([1, -2, 0.5], { cov: fullCov })],
];

/** Reference log-density by explicit Gaussian elimination (independent of the eigen code). */
function logNormalDense(x: number[], mu: ArrayLike<number>, S: number[][]): number {
  const d = x.length;
  const a = S.map((r, i) => [...r, x[i] - mu[i]]);
  let logDet = 0;
  for (let c = 0; c < d; c++) {
    logDet += Math.log(a[c][c]);
    for (let r = c + 1; r < d; r++) {
      const f = a[r][c] / a[c][c];
      for (let k = c; k <= d; k++) a[r][k] -= f * a[c][k];
    }
  }
  const sol = new Array<number>(d).fill(0);
  for (let r = d - 1; r >= 0; r--) {
    let s = a[r][d];
    for (let k = r + 1; k < d; k++) s -= a[r][k] * sol[k];
    sol[r] = s / a[r][r];
  }
  let q = 0;
  for (let i = 0; i < d; i++) q += (x[i] - mu[i]) * sol[i];
  return -0.5 * (q + logDet + d * Math.log(2 * Math.PI));
}

describe.each(cases)('Gaussian (%s covariance)', (_, make) => {
  const g = make();
  const x = normalBatch(key, 20, 3);
  for (let i = 0; i < x.data.length; i++) x.data[i] *= 2;

  it('has the normalised log-density of N(mu, S)', () => {
    const S = Array.from({ length: 3 }, (_, i) => Array.from(g.covarianceMatrix().subarray(3 * i, 3 * i + 3)));
    const v = g.logDensity(x);
    for (let i = 0; i < x.n; i++) {
      expect(v[i]).toBeCloseTo(logNormalDense(Array.from(x.data.subarray(3 * i, 3 * i + 3)), g.mean, S), 10);
    }
  });

  it('has an analytic gradient that matches central finite differences (rtol 1e-6)', () => {
    const { value, grad } = g.logDensityAndGrad(x);
    expect(Array.from(value)).toEqual(Array.from(g.logDensity(x)));
    expectGradientMatches((y) => g.logDensity(y), grad, x);
  });

  it('has an exact diffused score: matches FD of diffused(alpha, sigma).logDensity, per-row t included', () => {
    const sm = g.diffusedScore(vp);
    for (const t of [0.05, 0.3, 0.9]) {
      const pt = g.diffused(vp.alpha(t), vp.sigma(t));
      expectGradientMatches((y) => pt.logDensity(y), sm.score(x, t), x);
    }
    const ts = Float64Array.from({ length: x.n }, (_, i) => 0.01 + (0.98 * i) / x.n);
    const perRow = sm.score(x, ts);
    for (let i = 0; i < x.n; i++) {
      const xi = makeBatch(1, 3, x.data.subarray(3 * i, 3 * i + 3));
      const ref = g.diffused(vp.alpha(ts[i]), vp.sigma(ts[i])).logDensityAndGrad(xi).grad;
      expect(maxRelError(perRow.data.subarray(3 * i, 3 * i + 3), ref.data)).toBeLessThan(1e-12);
    }
    // alpha = 1, sigma = 0 at t = 0: the score of the target itself.
    expect(maxRelError(sm.score(x, 0), g.logDensityAndGrad(x).grad)).toBeLessThan(1e-12);
    expect(() => sm.score(x, new Float64Array(3))).toThrow(/3 times for 20 rows/);
  });

  it('samples with the right mean and covariance (z < 4.5), deterministically, prefix-consistently', () => {
    const s = g.sample(keyFromSeed(11), 20000);
    expect(s.n).toBe(20000);
    expectMomentsMatch(s, g.mean, g.covarianceMatrix());
    expect(g.sample(keyFromSeed(11), 50).data).toEqual(s.data.subarray(0, 150));
  });

  it('tilts exactly: log q - log p - a.x = -log E_p[exp(a.x)] for every x, and q = N(mu + S a, S)', () => {
    const a = [0.3, -0.2, 0.5];
    const q = g.tilted(a);
    const lq = q.logDensity(x);
    const lp = g.logDensity(x);
    const logZ = g.logNormalizerOfTilt(a);
    for (let i = 0; i < x.n; i++) {
      let ax = 0;
      for (let j = 0; j < 3; j++) ax += a[j] * x.data[3 * i + j];
      expect(lq[i] - lp[i] - ax).toBeCloseTo(-logZ, 10);
    }
    const S = g.covarianceMatrix();
    for (let j = 0; j < 3; j++) {
      let sa = 0;
      for (let k = 0; k < 3; k++) sa += S[3 * j + k] * a[k];
      expect(q.mean[j]).toBeCloseTo(g.mean[j] + sa, 12);
    }
  });
});

describe('Gaussian validation', () => {
  it('rejects bad input', () => {
    expect(() => new Gaussian([0, 0], { cov: [[1, 2], [2, 1]] })).toThrow(/not positive definite/);
    expect(() => new Gaussian([], { std: 1 })).toThrow(/at least one/);
    expect(() => new Gaussian([0, 0], { std: 1 }).logDensity(makeBatch(1, 3))).toThrow(/dimension 3, expected 2/);
    expect(() => new Gaussian([0, 0], { std: 1 }).scoreAt(makeBatch(1, 2), 0, 0)).toThrow(/degenerate/);
  });
  it('the log-normaliser of a tilt is the Gaussian MGF, checked by Monte Carlo', () => {
    const g = new Gaussian([0.5, -1], { cov: [[1, 0.3], [0.3, 0.5]] });
    const a = [0.4, 0.2];
    const s = g.sample(keyFromSeed(5), 40000);
    let m = 0;
    let m2 = 0;
    for (let i = 0; i < s.n; i++) {
      const e = Math.exp(a[0] * s.data[2 * i] + a[1] * s.data[2 * i + 1]);
      m += e / s.n;
      m2 += (e * e) / s.n;
    }
    const se = Math.sqrt((m2 - m * m) / s.n);
    expect(Math.abs(m - Math.exp(g.logNormalizerOfTilt(a))) / se).toBeLessThan(4.5);
  });
});
