/**
 * The posterior-variance correction's pieces (src/issgm/smoothed-weight.ts) against closed forms:
 * Tweedie's second-order variance of a Gaussian `p` is its exact posterior variance; a log-linear
 * weight's smoothed gradient is its own gradient for any draws; `|x|^2` smoothed by N(0, cI) has
 * `grad log E = 2u / (|u|^2 + d c)` (Monte Carlo ratio estimate within its delta-method standard
 * error); zero variance is the plain floored weight, bit for bit.
 */
import { describe, expect, it } from 'vitest';
import { keyFromSeed } from '../../src/core/key.js';
import { posteriorVariance, smoothedLogWeight } from '../../src/issgm/smoothed-weight.js';
import { applyFloor, norm2Weight, sum2Weight, tiltWeight } from '../../src/issgm/weights.js';

describe('posteriorVariance', () => {
  it('is the exact posterior variance of X0 | X_t for a Gaussian p = N(0, v I)', () => {
    for (const v of [0.3, 1, 7]) {
      for (const [alpha, s2] of [[0.999, 1 - 0.999 ** 2], [0.5, 0.75], [0.01, 1 - 1e-4]]) {
        // p_t = N(0, (alpha^2 v + s2) I): the Hessian is -I / (alpha^2 v + s2) in every direction.
        const rho = new Float64Array([-1 / (alpha * alpha * v + s2)]);
        const exact = 1 / (1 / v + (alpha * alpha) / s2);
        expect(posteriorVariance(rho, alpha, s2)[0]).toBeCloseTo(exact, 9);
      }
    }
  });

  it('clamps a curvature beyond the flat-prior bound to 0 and ignores non-finite curvature', () => {
    const c = posteriorVariance(new Float64Array([-10, Number.NaN]), 0.5, 0.75);
    expect(Array.from(c)).toEqual([0, 0]);
  });
});

describe('smoothedLogWeight', () => {
  const u = { n: 3, dim: 2, data: new Float64Array([0.1, -0.2, 1.5, 0.3, -2, 2]) };

  it('with zero variance is the plain floored weight', () => {
    const w = norm2Weight(2);
    const r = smoothedLogWeight(keyFromSeed(1), w, u, new Float64Array(3), 4, 1e-6);
    const plain = applyFloor(w.valueAndGrad(u), 1e-6);
    expect(Array.from(r.grad.data)).toEqual(Array.from(plain.grad.data));
    for (let i = 0; i < 3; i++) expect(r.value[i]).toBeCloseTo(plain.value[i], 12);
  });

  it('leaves a log-linear weight\'s gradient unchanged (exp(a.x) smoothed is exp(a.x + c|a|^2/2))', () => {
    const a = [0.7, -1.3];
    const r = smoothedLogWeight(keyFromSeed(2), tiltWeight(a), u, new Float64Array([0.5, 2, 9]), 5, 1e-6);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) expect(r.grad.data[i * 2 + j]).toBeCloseTo(a[j], 12);
  });

  it('estimates grad log E|u + sqrt(c) xi|^2 = 2u / (|u|^2 + 2c) within its standard error', () => {
    const K = 20_000;
    const c = 0.8;
    const one = { n: 1, dim: 2, data: new Float64Array([0.3, -0.4]) };
    const r = smoothedLogWeight(keyFromSeed(3), norm2Weight(2), one, new Float64Array([c]), K, 1e-6);
    const exact = [0.6 / (0.25 + 2 * c), -0.8 / (0.25 + 2 * c)];
    // The estimate is the ratio sum_k 2 z_k / sum_k |z_k|^2; its delta-method variance uses the
    // exact moments of z ~ N(u, cI): E|z|^2 = |u|^2 + 2c, Var|z|^2 = 4c|u|^2 + 4c^2 (d = 2),
    // Var(2 z_j) = 4c, Cov(2 z_j, |z|^2) = 4 c u_j.
    const B = 0.25 + 2 * c;
    const varB = 4 * c * 0.25 + 4 * c * c;
    for (let j = 0; j < 2; j++) {
      const R = exact[j];
      const uj = one.data[j];
      const se = Math.sqrt((4 * c - 2 * R * 4 * c * uj + R * R * varB) / (K * B * B));
      expect(Math.abs(r.grad.data[j] - R)).toBeLessThan(4.5 * se);
    }
  });

  it('floors like the paper: a row whose draws are all below m has gradient 0 and counts as floored', () => {
    // sum2 = x1 + x2 + 2 is <= 0 far in the lower-left: every draw there is floored.
    const far = { n: 1, dim: 2, data: new Float64Array([-50, -50]) };
    const r = smoothedLogWeight(keyFromSeed(4), sum2Weight(2), far, new Float64Array([1]), 6, 1e-6);
    expect(r.floored).toBe(1);
    expect(Array.from(r.grad.data)).toEqual([0, 0]);
    expect(r.value[0]).toBeCloseTo(Math.log(1e-6), 12);
  });

  it('is a pure function of its key', () => {
    const v = new Float64Array([0.5, 0.5, 0.5]);
    const a = smoothedLogWeight(keyFromSeed(5), norm2Weight(2), u, v, 4, 1e-6);
    const b = smoothedLogWeight(keyFromSeed(5), norm2Weight(2), u, v, 4, 1e-6);
    expect(Array.from(a.grad.data)).toEqual(Array.from(b.grad.data));
  });
});
