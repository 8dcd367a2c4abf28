import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeBatch, type Batch } from '../../src/core/batch.js';
import { keyFromSeed, normalBatch } from '../../src/core/key.js';
import { dw4, MultiDoubleWell, randomSymmetry, removeCentreOfMass } from '../../src/targets/dw4.js';
import { expectGradientMatches, maxRelError } from './helpers.js';

const valFile = fileURLToPath(new URL('../../data/val_split_DW4.npy', import.meta.url));

/** Minimal reader for a little-endian float32, C-order, 2-D .npy file (test-only). */
function readNpyF4(path: string): Batch {
  const buf = readFileSync(path);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.subarray(start, start + hlen).toString('latin1');
  expect(header).toMatch(/'descr': '<f4'/);
  expect(header).toMatch(/'fortran_order': False/);
  const [n, d] = /'shape': \((\d+), (\d+)\)/.exec(header)!.slice(1).map(Number);
  const off = start + hlen;
  const data = new Float64Array(n * d);
  for (let i = 0; i < n * d; i++) data[i] = buf.readFloatLE(off + 4 * i);
  return makeBatch(n, d, data);
}

function transform(x: Batch, f: (p: [number, number], i: number) => [number, number], perm = [0, 1, 2, 3]): Batch {
  const out = makeBatch(x.n, 8);
  for (let r = 0; r < x.n; r++) {
    for (let i = 0; i < 4; i++) {
      const src = perm[i];
      const [a, b] = f([x.data[r * 8 + 2 * src], x.data[r * 8 + 2 * src + 1]], i);
      out.data[r * 8 + 2 * i] = a;
      out.data[r * 8 + 2 * i + 1] = b;
    }
  }
  return out;
}

describe('DW-4', () => {
  const target = dw4();
  const x = normalBatch(keyFromSeed(4), 40, 8);
  for (let i = 0; i < x.data.length; i++) x.data[i] *= 2;

  it('has the SPEC energy on a hand-computed configuration (square of side 4)', () => {
    const sq = makeBatch(1, 8, [0, 0, 4, 0, 4, 4, 0, 4]);
    const u = 4 * Math.SQRT2 - 4;
    // Four sides at d = 4 contribute 0; two diagonals at 4 sqrt 2.
    expect(target.energy(sq)[0]).toBeCloseTo(2 * (0.9 * u ** 4 - 4 * u ** 2), 12);
    expect(target.logDensity(sq)[0]).toBeCloseTo(-target.energy(sq)[0], 15);
    expect(target.dim).toBe(8);
    expect(target.name).toBe('dw4');
  });

  it('has an analytic gradient matching central finite differences (rtol 1e-6)', () => {
    const { value, grad } = target.logDensityAndGrad(x);
    expect(maxRelError(value, target.logDensity(x))).toBe(0);
    expectGradientMatches((y) => target.logDensity(y), grad, x);
  });

  it('is safe where two particles coincide (finite gradient)', () => {
    const c = makeBatch(1, 8, [1, 1, 1, 1, 5, 0, 0, 4]);
    const { value, grad } = target.logDensityAndGrad(c);
    expect(Number.isFinite(value[0])).toBe(true);
    expect(Array.from(grad.data).every(Number.isFinite)).toBe(true);
  });

  it('energy is invariant under rotation, reflection, translation and permutation; the gradient rotates with x', () => {
    const e = target.energy(x);
    const th = 0.7;
    const c = Math.cos(th);
    const s = Math.sin(th);
    const rot = transform(x, ([a, b]) => [c * a - s * b, s * a + c * b]);
    const refl = transform(x, ([a, b]) => [a, -b]);
    const shift = transform(x, ([a, b]) => [a + 3.5, b - 1.25]);
    const perm = transform(x, (p) => p, [2, 0, 3, 1]);
    for (const y of [rot, refl, shift, perm]) expect(maxRelError(target.energy(y), e)).toBeLessThan(1e-12);
    const g = target.logDensityAndGrad(x).grad;
    const gr = target.logDensityAndGrad(rot).grad;
    expect(maxRelError(gr, transform(g, ([a, b]) => [c * a - s * b, s * a + c * b]))).toBeLessThan(1e-10);
  });

  it('removes the centre of mass and gives the 6 pair distances in order (0,1),(0,2),(0,3),(1,2),(1,3),(2,3)', () => {
    const y = target.removeCentreOfMass(x);
    for (let r = 0; r < y.n; r++) {
      for (let k = 0; k < 2; k++) {
        let m = 0;
        for (let i = 0; i < 4; i++) m += y.data[r * 8 + 2 * i + k];
        expect(Math.abs(m)).toBeLessThan(1e-12);
      }
    }
    expect(maxRelError(target.energy(y), target.energy(x))).toBeLessThan(1e-12);
    const d = target.pairDistances(makeBatch(1, 8, [0, 0, 3, 0, 0, 4, 1, 1]));
    const want = [3, 4, Math.SQRT2, 5, Math.sqrt(5), Math.sqrt(10)];
    want.forEach((w, i) => expect(d.data[i]).toBeCloseTo(w, 14));
    expect(d.dim).toBe(6);
    expect(() => target.energy(makeBatch(1, 6))).toThrow(/dimension 6, expected 8/);
  });

  it('mean energy of the reference val split is -22.4686 (numpy, float64) ~ SPEC -22.45', () => {
    const val = readNpyF4(valFile);
    expect([val.n, val.dim]).toEqual([10000, 8]);
    const e = target.energy(val);
    const mean = e.reduce((a, b) => a + b, 0) / e.length;
    expect(mean).toBeCloseTo(-22.46864, 4);
  });

  it('generalises to other particle counts (DW-n)', () => {
    const t = new MultiDoubleWell({ particles: 3, spaceDim: 3 });
    expect(t.dim).toBe(9);
    expect(t.pairs).toBe(3);
    const y = normalBatch(keyFromSeed(8), 10, 9);
    expectGradientMatches((z) => t.logDensity(z), t.logDensityAndGrad(y).grad, y);
  });
});

describe('randomSymmetry', () => {
  it('keeps the energy, the centre of mass and the pair distances of every row; same key, same rows', () => {
    const m = dw4();
    const x = removeCentreOfMass(normalBatch(keyFromSeed(3), 200, 8), 4, 2);
    for (let i = 0; i < x.data.length; i++) x.data[i] *= 2;
    const y = randomSymmetry(keyFromSeed(4), x, 4, 2);
    expect(maxRelError(m.energy(y), m.energy(x))).toBeLessThan(1e-12);
    const sorted = (b: Batch, r: number): number[] => Array.from(m.pairDistances(b).data.subarray(r * 6, r * 6 + 6)).sort((a, c) => a - c);
    for (let r = 0; r < x.n; r++) {
      const [dx, dy] = [sorted(x, r), sorted(y, r)];
      for (let p = 0; p < 6; p++) expect(Math.abs(dx[p] - dy[p])).toBeLessThan(1e-12);
      for (let k = 0; k < 2; k++) expect(Math.abs(y.data[r * 8 + k] + y.data[r * 8 + 2 + k] + y.data[r * 8 + 4 + k] + y.data[r * 8 + 6 + k])).toBeLessThan(1e-12);
    }
    expect(Array.from(randomSymmetry(keyFromSeed(4), x, 4, 2).data)).toEqual(Array.from(y.data));
    expect(() => randomSymmetry(keyFromSeed(4), x, 3, 2)).toThrow(/dimension 8 is not 3 x 2/);
  });

  // One configuration moved N times: a Haar-random orthogonal map and a uniform permutation give
  // every coordinate mean 0 and, per particle slot, second moments |v|^2 / D I with |v|^2 the
  // particles' mean squared norm. Tolerance: 4.5 standard errors of each moment (sample sd).
  it.each([[4, 2], [3, 3]])('spreads one configuration of %i particles in %i-D isotropically over orientations and labels', (P, D) => {
    const N = 4000;
    const v = removeCentreOfMass(normalBatch(keyFromSeed(P * 10 + D), 1, P * D), P, D);
    let s = 0;
    for (let i = 0; i < P * D; i++) s += v.data[i] ** 2 / P;
    const x = makeBatch(N, P * D);
    for (let r = 0; r < N; r++) x.data.set(v.data, r * P * D);
    const y = randomSymmetry(keyFromSeed(9), x, P, D);
    const check = (f: (r: number) => number, expected: number): void => {
      let m = 0;
      let m2 = 0;
      for (let r = 0; r < N; r++) {
        const z = f(r);
        m += z / N;
        m2 += (z * z) / N;
      }
      const se = Math.sqrt((m2 - m * m) / N);
      expect(Math.abs(m - expected)).toBeLessThan(4.5 * se);
    };
    for (let c = 0; c < P * D; c++) check((r) => y.data[r * P * D + c], 0);
    for (let a = 0; a < D; a++) {
      for (let b = a; b < D; b++) check((r) => y.data[r * P * D + a] * y.data[r * P * D + b], a === b ? s / D : 0);
    }
  });
});
