import { describe, expect, it } from 'vitest';
import { type Batch } from '../../src/core/batch.js';
import { keyFromSeed } from '../../src/core/key.js';
import type { DatasetSampler } from '../../src/targets/dataset.js';
import { checkerboard, circles, eightGaussians, moons, pinwheel, twoSpirals } from '../../src/targets/toy/index.js';
import { expectMomentsMatch, sampleMoments, Z } from './helpers.js';

const n = 20000;
const key = keyFromSeed(2024);
const samplers: DatasetSampler[] = [circles(), circles({ randomAngles: true }), twoSpirals(), pinwheel(), moons(), checkerboard(), eightGaussians()];

function radii(b: Batch): Float64Array {
  return Float64Array.from({ length: b.n }, (_, i) => Math.hypot(b.data[2 * i], b.data[2 * i + 1]));
}
function mean(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s / v.length;
}

describe.each(samplers.map((s) => [s.name, s] as const))('toy set %s', (_, s) => {
  it('is deterministic given the key, has the right shape (odd n, n = 0) and finite values', () => {
    const a = s.sample(key, 1001);
    expect([a.n, a.dim, s.dim]).toEqual([1001, 2, 2]);
    expect(s.sample(key, 1001).data).toEqual(a.data);
    expect(s.sample(keyFromSeed(1), 1001).data).not.toEqual(a.data);
    expect(Array.from(a.data).every(Number.isFinite)).toBe(true);
    expect(s.sample(key, 0).n).toBe(0);
  });
});

describe('toy set shapes', () => {
  it('circles: half the points at radius ~3, half at ~1.5 (noise 0.24 after scaling)', () => {
    for (const c of [circles(), circles({ randomAngles: true })]) {
      const r = radii(c.sample(key, n));
      const outer = r.filter((v) => v > 2.25);
      const inner = r.filter((v) => v <= 2.25);
      expect(Math.abs(outer.length - n / 2)).toBeLessThan(60);
      // E|c + e| ~ R + s^2 / (2R) for small isotropic noise s = 0.24.
      expect(mean(outer)).toBeCloseTo(3 + 0.24 ** 2 / 6, 1);
      expect(mean(inner)).toBeCloseTo(1.5 + 0.24 ** 2 / 3, 1);
      expect(Math.abs(mean(outer) - 3.0096)).toBeLessThan(0.01);
      expect(Math.abs(mean(inner) - 1.5192)).toBeLessThan(0.01);
    }
  });

  it('moons: mean (0, 0.3) after x * 2 + [-1, -0.2]; arcs within [-3, 3] x [-1.2, 1.8] up to noise', () => {
    const b = moons().sample(key, n);
    const m = sampleMoments(b).mean;
    expect(Math.abs(m[0])).toBeLessThan(0.02);
    expect(Math.abs(m[1] - 0.3)).toBeLessThan(0.02);
    // Noise std after scaling is 0.2; allow 6 of them outside the noiseless arcs.
    for (let i = 0; i < n; i++) {
      expect(Math.abs(b.data[2 * i])).toBeLessThan(3 + 1.2);
      expect(b.data[2 * i + 1]).toBeGreaterThan(-1.2 - 1.2);
      expect(b.data[2 * i + 1]).toBeLessThan(1.8 + 1.2);
    }
  });

  it('pinwheel: 5 balanced arms; the angle minus the arm curl 0.25 exp(r/2) sits near 2 pi c / 5', () => {
    const b = pinwheel().sample(key, n);
    const counts = [0, 0, 0, 0, 0];
    let near = 0;
    for (let i = 0; i < n; i++) {
      const x = b.data[2 * i];
      const y = b.data[2 * i + 1];
      const r = Math.hypot(x, y) / 2;
      // out = f R(angle): polar angle of out is -(angle) + atan2(f2, f1), f1 ~ r.
      const phi = -Math.atan2(y, x) - 0.25 * Math.exp(r);
      const arm = ((Math.round(phi / ((2 * Math.PI) / 5)) % 5) + 5) % 5;
      const res = phi - Math.round(phi / ((2 * Math.PI) / 5)) * ((2 * Math.PI) / 5);
      counts[arm]++;
      if (Math.abs(res) < 0.3) near++;
    }
    expect(near / n).toBeGreaterThan(0.97);
    counts.forEach((c) => expect(Math.abs(c - n / 5)).toBeLessThan(Z * Math.sqrt(n * 0.2 * 0.8)));
    expect(Math.abs(mean(radii(b)) - 2 * 1.005)).toBeLessThan(0.03);
  });

  it('2spirals: point-symmetric, mean ~ 0, radius within the 1.5-turn spiral', () => {
    const b = twoSpirals().sample(key, n);
    const m = sampleMoments(b).mean;
    expect(Math.abs(m[0])).toBeLessThan(0.01);
    expect(Math.abs(m[1])).toBeLessThan(0.01);
    const r = radii(b);
    expect(Math.max(...r)).toBeLessThan((3 * Math.PI + 0.75) / 3 + 0.6);
    // s = sqrt(U) 3 pi has mean 2 pi: radius ~ s / 3, so mean radius ~ 2 pi / 3 ~ 2.09.
    expect(mean(r)).toBeGreaterThan(1.9);
    expect(mean(r)).toBeLessThan(2.3);
  });

  it('checkerboard: uniform on the 8 dark squares of a 4 x 4 board on [-4, 4]^2', () => {
    const b = checkerboard().sample(key, n);
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const x = b.data[2 * i];
      const y = b.data[2 * i + 1];
      expect(Math.abs(x) <= 4 && Math.abs(y) <= 4).toBe(true);
      const cx = Math.floor(x / 2);
      const cy = Math.floor(y / 2);
      expect((((cx + cy) % 2) + 2) % 2).toBe(0);
      counts.set(`${cx},${cy}`, (counts.get(`${cx},${cy}`) ?? 0) + 1);
    }
    expect(counts.size).toBe(8);
    for (const c of counts.values()) expect(Math.abs(c - n / 8)).toBeLessThan(Z * Math.sqrt(n * (1 / 8) * (7 / 8)));
  });

  it('8gaussians: the FFJORD mixture (centres 4 c / 1.414, std 0.5 / 1.414), exact moments', () => {
    const g = eightGaussians();
    expect(g.k).toBe(8);
    const r = radii(g.sample(key, n));
    // E|c + e| ~ R + s^2 / (2R) for isotropic noise s << R.
    const R = 4 / 1.414;
    const sd = 0.5 / 1.414;
    expect(Math.abs(mean(r) - (R + (sd * sd) / (2 * R)))).toBeLessThan(0.01);
    // Mixture covariance: (s^2 + R^2 / 2) I with R = 4 / 1.414, s = 0.5 / 1.414.
    const v = (0.5 / 1.414) ** 2 + (4 / 1.414) ** 2 / 2;
    expectMomentsMatch(g.sample(key, n), [0, 0], [v, 0, 0, v]);
  });
});
