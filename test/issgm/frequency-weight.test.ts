/**
 * The high-frequency weight of the digits experiments (paper Sec. 4.3-2): the energy on images
 * whose spectrum is known (constant, checkerboard), Parseval at cutoff 0, and the engine weight's
 * value and gradient against the float64 reference.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { keyFromSeed, uniform } from '../../src/core/key.js';
import { highFrequencyEnergy, highFrequencyPowerWeight, highFrequencyWeight, highPassBasis } from '../../src/issgm/frequency-weight.js';

beforeAll(async () => {
  await initEngine();
});

/** One 8x8 image in model units from intensities u in [0, 1]. */
function image(u: (r: number, c: number) => number): Float64Array {
  const x = new Float64Array(64);
  for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) x[r * 8 + c] = 2 * u(r, c) - 1;
  return x;
}

describe('high-frequency energy', () => {
  it('is 0 for a constant image and all the AC energy of a checkerboard', () => {
    const flat = image(() => 0.7);
    expect(highFrequencyEnergy({ n: 1, dim: 64, data: flat })[0]).toBeCloseTo(0, 12);
    // u = 1/2 + 1/2 (-1)^(r+c): DC 1/2 (mean square 1/4) plus the (4, 4) frequency, |k| = 4 sqrt 2,
    // mean square 1/4; so H = 1/4 at any cutoff up to 4 sqrt 2 and 1/2 (= mean u^2) at cutoff 0.
    const cb = image((r, c) => ((r + c) % 2 === 0 ? 1 : 0));
    expect(highFrequencyEnergy({ n: 1, dim: 64, data: cb }, { cutoff: 2.5 })[0]).toBeCloseTo(0.25, 12);
    expect(highFrequencyEnergy({ n: 1, dim: 64, data: cb }, { cutoff: 0 })[0]).toBeCloseTo(0.5, 12);
    // A stripe pattern along columns with period 8 (|k| = 1) has no energy above 2.5.
    const slow = image((_r, c) => 0.5 + 0.5 * Math.cos((2 * Math.PI * c) / 8));
    expect(highFrequencyEnergy({ n: 1, dim: 64, data: slow }, { cutoff: 2.5 })[0]).toBeCloseTo(0, 12);
  });

  it('at cutoff 0 equals the mean square intensity (Parseval)', () => {
    const data = uniform(keyFromSeed(3), 5 * 64, -1, 1);
    const h = highFrequencyEnergy({ n: 5, dim: 64, data }, { cutoff: 0 });
    for (let i = 0; i < 5; i++) {
      let s = 0;
      for (let j = 0; j < 64; j++) s += ((data[i * 64 + j] + 1) / 2) ** 2;
      expect(h[i]).toBeCloseTo(s / 64, 12);
    }
    expect(highPassBasis(8, 0).columns).toBe(128);
  });

  it('the engine weight is lambda H with the gradient of the float64 reference', () => {
    const n = 4;
    const data = uniform(keyFromSeed(4), n * 64, -1, 1);
    const x = { n, dim: 64, data };
    const lambda = 100;
    const w = highFrequencyWeight({ lambda });
    const vg = w.valueAndGrad(x);
    const h = highFrequencyEnergy(x);
    const eps = 1e-4;
    for (let i = 0; i < n; i++) {
      expect(vg.value[i]).toBeCloseTo(lambda * h[i], 4);
      for (const j of [0, 9, 27, 36, 63]) {
        const up = data.slice(i * 64, (i + 1) * 64); up[j] += eps;
        const dn = data.slice(i * 64, (i + 1) * 64); dn[j] -= eps;
        const fd = (lambda * (highFrequencyEnergy({ n: 1, dim: 64, data: up })[0] - highFrequencyEnergy({ n: 1, dim: 64, data: dn })[0])) / (2 * eps);
        expect(Math.abs(vg.grad.data[i * 64 + j] - fd)).toBeLessThan(1e-4 * Math.max(1, Math.abs(fd)));
      }
    }
  });
});

describe('high-frequency power weight', () => {
  it('is gamma log(H / H0) with the gradient of the float64 reference', () => {
    const n = 4;
    const data = uniform(keyFromSeed(5), n * 64, -1, 1);
    const x = { n, dim: 64, data };
    const gamma = 4;
    const reference = 0.028;
    const w = highFrequencyPowerWeight({ gamma, reference });
    const vg = w.valueAndGrad(x);
    const logL = (row: Float64Array): number => gamma * Math.log(highFrequencyEnergy({ n: 1, dim: 64, data: row })[0] / reference);
    const eps = 1e-4;
    for (let i = 0; i < n; i++) {
      const row = data.slice(i * 64, (i + 1) * 64);
      expect(vg.value[i]).toBeCloseTo(logL(row), 4);
      for (const j of [1, 14, 30, 45, 62]) {
        const up = row.slice(); up[j] += eps;
        const dn = row.slice(); dn[j] -= eps;
        const fd = (logL(up) - logL(dn)) / (2 * eps);
        expect(Math.abs(vg.grad.data[i * 64 + j] - fd)).toBeLessThan(1e-3 * Math.max(1, Math.abs(fd)));
      }
    }
    // A constant image has H = 0 (float32 rounding of the basis leaves ~1e-15): log l far below
    // any floor, which the sampler applies.
    expect(w.value({ n: 1, dim: 64, data: new Float64Array(64).fill(0.3) })[0]).toBeLessThan(-100);
    expect(() => highFrequencyPowerWeight({ gamma: 4, reference: 0 })).toThrow(/reference/);
  });
});
