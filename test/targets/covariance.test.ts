import { describe, expect, it } from 'vitest';
import { keyFromSeed, normal } from '../../src/core/key.js';
import { EigenCovariance, symmetricEigen } from '../../src/targets/covariance.js';
import { spdFrom } from './helpers.js';

describe('symmetricEigen', () => {
  it('reconstructs a random symmetric matrix with orthonormal eigenvectors', () => {
    for (const dim of [2, 3, 6]) {
      const m = spdFrom(normal(keyFromSeed(dim), dim * dim), dim).flat();
      const { values, vectors } = symmetricEigen(m, dim);
      for (let i = 0; i < dim; i++) {
        for (let k = 0; k < dim; k++) {
          let rec = 0;
          let dot = 0;
          for (let j = 0; j < dim; j++) {
            rec += vectors[i * dim + j] * values[j] * vectors[k * dim + j];
            dot += vectors[j * dim + i] * vectors[j * dim + k];
          }
          expect(Math.abs(rec - m[i * dim + k])).toBeLessThan(1e-12 * 10);
          expect(Math.abs(dot - (i === k ? 1 : 0))).toBeLessThan(1e-13);
        }
      }
    }
  });
});

describe('EigenCovariance.fromSpec', () => {
  it('accepts std, variance and full matrices (nested or flat) and agrees on the dense matrix', () => {
    const a = EigenCovariance.fromSpec({ std: [1, 2] }, 2);
    const b = EigenCovariance.fromSpec({ variance: [1, 4] }, 2);
    const c = EigenCovariance.fromSpec({ cov: [[1, 0], [0, 4]] }, 2);
    expect(Array.from(a.matrix())).toEqual([1, 0, 0, 4]);
    expect(Array.from(b.matrix())).toEqual([1, 0, 0, 4]);
    expect(Array.from(c.matrix())).toEqual([1, 0, 0, 4]);
    expect(c.isDiagonal).toBe(true);
    const full = EigenCovariance.fromSpec({ cov: [2, 0.5, 0.5, 1] }, 2);
    expect(full.isDiagonal).toBe(false);
    const m = full.matrix();
    [2, 0.5, 0.5, 1].forEach((v, i) => expect(m[i]).toBeCloseTo(v, 13));
    expect(full.logDet()).toBeCloseTo(Math.log(2 - 0.25), 13);
    const sv = full.apply([1, -1]);
    expect(sv[0]).toBeCloseTo(1.5, 13);
    expect(sv[1]).toBeCloseTo(-0.5, 13);
    expect(full.quadratic([1, -1])).toBeCloseTo(2, 13);
  });
  it('rejects non positive definite, non-symmetric and malformed covariances with clear messages', () => {
    expect(() => EigenCovariance.fromSpec({ cov: [[1, 2], [2, 1]] }, 2)).toThrow(/not positive definite.*smallest eigenvalue -1\.00000/);
    expect(() => EigenCovariance.fromSpec({ cov: [[1, 1], [1, 1]] }, 2)).toThrow(/not positive definite/);
    expect(() => EigenCovariance.fromSpec({ cov: [[1, 0.1], [0.2, 1]] }, 2)).toThrow(/not symmetric/);
    expect(() => EigenCovariance.fromSpec({ std: [1, 0] }, 2)).toThrow(/positive/);
    expect(() => EigenCovariance.fromSpec({ variance: -1 }, 2)).toThrow(/not positive definite/);
    expect(() => EigenCovariance.fromSpec({ std: [1, 2, 3] }, 2)).toThrow(/expected 2/);
    expect(() => EigenCovariance.fromSpec({ cov: [[1, 0, 0], [0, 1, 0]] }, 2)).toThrow(/row 0 must have 2 values/);
  });
});
