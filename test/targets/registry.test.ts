import { describe, expect, it } from 'vitest';
import { keyFromSeed, normalBatch } from '../../src/core/key.js';
import {
  exactScoreModel, exactScoreNames, getMixture, getSampleable, getTarget, sampleableTargetNames, targetNames,
} from '../../src/targets/registry.js';
import { vp } from './helpers.js';

describe('registry', () => {
  it('lists and builds every sampleable target', () => {
    expect(sampleableTargetNames()).toEqual(['circles', '2spirals', 'pinwheel', '8gaussians', 'moons', 'checkerboard', 'gmm40', 'gmm40-5d']);
    for (const name of sampleableTargetNames()) {
      const s = getSampleable(name);
      expect(s.name).toBe(name);
      const b = s.sample(keyFromSeed(0), 7);
      expect([b.n, b.dim]).toEqual([7, s.dim]);
    }
    expect(getSampleable('gmm40-5d').dim).toBe(5);
  });

  it('gives targets with densities and exact scores', () => {
    expect(targetNames()).toEqual(['8gaussians', 'gmm40', 'gmm40-5d', 'dw4']);
    expect(exactScoreNames()).toEqual(['8gaussians', 'gmm40', 'gmm40-5d']);
    for (const name of targetNames()) {
      const t = getTarget(name);
      const x = normalBatch(keyFromSeed(1), 3, t.dim);
      expect(t.logDensity(x).length).toBe(3);
    }
    const x = normalBatch(keyFromSeed(2), 5, 2);
    const s = exactScoreModel('gmm40', vp).score(x, 0.3);
    expect(s.data).toEqual(getMixture('gmm40').scoreAt(x, vp.alpha(0.3), vp.sigma(0.3)).data);
  });

  it('rejects unknown names with the list of valid ones', () => {
    expect(() => getSampleable('spiral')).toThrow(/unknown sampleable target 'spiral'; valid names: circles, 2spirals, pinwheel/);
    expect(() => getTarget('circles')).toThrow(/valid names: 8gaussians, gmm40, gmm40-5d, dw4/);
    expect(() => exactScoreModel('dw4', vp)).toThrow(/valid names: 8gaussians, gmm40, gmm40-5d/);
    expect(() => getTarget('toString')).toThrow(/unknown target/);
  });
});
