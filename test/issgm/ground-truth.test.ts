/**
 * Accept/reject ground truth on the Gaussian-tilt closed form. The weight must be bounded, so the
 * tilt is truncated: l(x) = exp(min(a.x, c)) with M = e^c. With p = N(mu, S), a.x ~ N(a.mu, a^T S a)
 * = N(0.5, 0.15) under p and N(0.65, 0.15) under q = N(mu + S a, S); at c = 3 the truncation touches
 * mass P(z > 6.0) = 1e-9 of q, so q, E_p[l] = exp(a.mu + a^T S a / 2) and E_q[l] = exp(a.mu +
 * 3/2 a^T S a) are the untruncated closed forms to ~1e-9. All checks |z| < 4.5 (6.8e-6 each).
 */
import { describe, expect, it } from 'vitest';
import { makeBatch } from '../../src/core/batch.js';
import { keyFromSeed } from '../../src/core/key.js';
import type { LogWeight } from '../../src/core/types.js';
import { acceptReject, boundFromSample, expectedWeight } from '../../src/issgm/ground-truth.js';
import { sigmoidWeight, sum2Weight } from '../../src/issgm/weights.js';
import { Gaussian } from '../../src/targets/gaussian.js';
import { zScores2, type Law2 } from './helpers.js';

const Z = 4.5;
const p = new Gaussian([0.5, -1], { cov: [[1, 0.6], [0.6, 0.8]] });
const A = [0.5, -0.25];
const C = 3;
const q = p.tilted(A);
const aSa = 0.15;
const aMu = 0.5;

const truncatedTilt: LogWeight = {
  dim: 2,
  value: (x) => Float64Array.from({ length: x.n }, (_, i) => Math.min(A[0] * x.data[2 * i] + A[1] * x.data[2 * i + 1], C)),
  valueAndGrad: () => {
    throw new Error('accept/reject needs values only');
  },
};

describe('acceptReject', () => {
  it('draws q exactly: mean and covariance of q = N(mu + S a, S) within |z| < 4.5; rate E_p[l]/M', () => {
    const n = 4000;
    const r = acceptReject(keyFromSeed(1), p, truncatedTilt, { n, M: Math.exp(C) });
    const truth: Law2 = { mean: Float64Array.from(q.mean), cov: q.covarianceMatrix() };
    const z = zScores2(r.samples, truth);
    for (const v of [...z.mean, ...z.cov]) expect(Math.abs(v)).toBeLessThan(Z);
    const rate = Math.exp(aMu + aSa / 2 - C); // 0.089
    expect(Math.abs(r.acceptanceRate - rate) / Math.sqrt((rate * (1 - rate)) / r.proposals)).toBeLessThan(Z);
    expect(r.accepted).toBeGreaterThanOrEqual(n);
    expect(r.samples.n).toBe(n);
    expect([r.exceedances, r.flooredFraction, r.warnings.length]).toEqual([0, 0, 0]);
    expect(r.maxL).toBeLessThanOrEqual(Math.exp(C));
    // Deterministic.
    expect(acceptReject(keyFromSeed(1), p, truncatedTilt, { n, M: Math.exp(C) }).samples.data).toEqual(r.samples.data);
  });

  it('logs and counts proposals with l > M (exactness lost), with the largest l', () => {
    const r = acceptReject(keyFromSeed(2), p, truncatedTilt, { n: 500, M: 2 });
    expect(r.exceedances).toBeGreaterThan(0);
    expect(r.maxL).toBeGreaterThan(2);
    expect(r.warnings[0]).toMatch(new RegExp(`^${r.exceedances} of ${r.proposals} proposals have l > M = 2 \\(largest l = .*raise M`));
  });

  it('stops with a clear error when the proposal cap is reached', () => {
    expect(() => acceptReject(keyFromSeed(3), p, truncatedTilt, { n: 1000, M: 1e6, maxProposals: 5000, batchSize: 1000 })).toThrow(
      /only \d+ of 1000 samples accepted after 5000 proposals \(acceptance rate .* choose M closer to max l, or raise maxProposals/,
    );
    expect(() => acceptReject(keyFromSeed(3), p, truncatedTilt, { n: 10, M: 0 })).toThrow(/bound M must be positive/);
  });

  it('reports the fraction of p\'s mass the floor affects (sum2: P(sum x <= -2) = Phi(-1.5/sqrt(3)) = 0.193)', () => {
    const r = acceptReject(keyFromSeed(4), p, sum2Weight(2), { n: 2000, M: 20 });
    const want = 0.19313; // Phi(-0.8660)
    expect(Math.abs(r.flooredFraction - want) / Math.sqrt((want * (1 - want)) / r.proposals)).toBeLessThan(Z);
    // A bounded sigmoid weight takes M = its upper bound, 1.
    const s = sigmoidWeight([1, 1], 0.5);
    const t = acceptReject(keyFromSeed(5), p, s, { n: 200, M: s.upperBound! });
    expect(t.exceedances).toBe(0);
  });
});

describe('expectedWeight and boundFromSample', () => {
  it('estimate E_p[l] and E_q[l] of the (truncated) tilt within |z| < 4.5 of the closed forms', () => {
    const xp = p.sample(keyFromSeed(6), 20000);
    const ep = expectedWeight(xp, truncatedTilt);
    expect(Math.abs(ep.mean - Math.exp(aMu + aSa / 2)) / ep.se).toBeLessThan(Z); // E_p[l] = 1.78
    const xq = acceptReject(keyFromSeed(7), p, truncatedTilt, { n: 20000, M: Math.exp(C) }).samples;
    const eq = expectedWeight(xq, truncatedTilt);
    expect(Math.abs(eq.mean - Math.exp(aMu + 1.5 * aSa)) / eq.se).toBeLessThan(Z); // E_q[l] = 2.06
    expect([ep.floored, eq.floored, ep.n]).toEqual([0, 0, 20000]);
  });

  it('count floored samples; boundFromSample is margin * max l', () => {
    const x = makeBatch(3, 2, [-3, 0, 1, 1, 0, 0]);
    const e = expectedWeight(x, sum2Weight(2));
    expect(e.floored).toBe(1);
    expect(e.mean).toBeCloseTo((1e-6 + 4 + 2) / 3, 12);
    expect(boundFromSample(x, sum2Weight(2))).toBeCloseTo(4.4, 12);
    expect(boundFromSample(x, sum2Weight(2), { margin: 1 })).toBeCloseTo(4, 12);
  });
});
