import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeBatch } from '../../src/core/batch.js';
import { keyFromSeed, normalBatch } from '../../src/core/key.js';
import { GMM40_MEANS_2D, GMM40_STD, gmm40, gmm40_5d } from '../../src/targets/gmm40.js';
import { expectGradientMatches, expectMomentsMatch, vp } from './helpers.js';

const meansFile = fileURLToPath(new URL('../fixtures/data/gmm40_means_2d.json', import.meta.url));

describe('GMM-40', () => {
  it('meets the check value log p([0, 0]) = -23.31635 (SPEC §3)', () => {
    expect(gmm40().logDensity(makeBatch(1, 2, [0, 0]))[0]).toBeCloseTo(-23.31635, 5);
    expect(GMM40_STD).toBe(Math.log1p(Math.E));
  });

  it('holds exactly the means of data/gmm40_means_2d.json', () => {
    const ref = JSON.parse(readFileSync(meansFile, 'utf8')).means as number[][];
    expect(GMM40_MEANS_2D.map((m) => [...m])).toEqual(ref);
  });

  it('5-D: zero-padded means; log p(0) adds three 1-D normal log-densities at 0', () => {
    const g5 = gmm40_5d();
    expect(g5.dim).toBe(5);
    expect(g5.name).toBe('gmm40-5d');
    expect(Array.from(g5.componentMean(3))).toEqual([...GMM40_MEANS_2D[3], 0, 0, 0]);
    const extra = 3 * (-0.5 * Math.log(2 * Math.PI) - Math.log(GMM40_STD));
    expect(g5.logDensity(makeBatch(1, 5))[0]).toBeCloseTo(-23.31635 + extra, 5);
    expect(gmm40(5).logDensity(makeBatch(1, 5))[0]).toBe(g5.logDensity(makeBatch(1, 5))[0]);
    expect(() => gmm40(1)).toThrow(/>= 2/);
  });

  it('gradients match central finite differences (rtol 1e-6), 2-D and 5-D, target and diffused', () => {
    for (const g of [gmm40(), gmm40_5d()]) {
      const x = normalBatch(keyFromSeed(9), 30, g.dim);
      for (let i = 0; i < x.data.length; i++) x.data[i] *= 25;
      expectGradientMatches((y) => g.logDensity(y), g.logDensityAndGrad(x).grad, x);
      const t = 0.4;
      const pt = g.diffused(vp.alpha(t), vp.sigma(t));
      expectGradientMatches((y) => pt.logDensity(y), g.diffusedScore(vp).score(x, t), x);
    }
  });

  it('samples: mixture mean and covariance within z < 4.5', () => {
    const g = gmm40();
    const mo = g.moments();
    expectMomentsMatch(g.sample(keyFromSeed(40), 20000), mo.mean, mo.cov);
  });
});
