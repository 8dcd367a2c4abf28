/**
 * Built-in weights: values against their definitions, gradients against central finite
 * differences (step 1e-6, float64: agreement to ~1e-8), the one floor rule, and the spec parser's
 * errors.
 */
import { describe, expect, it } from 'vitest';
import { makeBatch, type Batch } from '../../src/core/batch.js';
import { keyFromSeed, normalBatch } from '../../src/core/key.js';
import type { LogWeight } from '../../src/core/types.js';
import { isInputError } from '../../src/io/errors.js';
import {
  applyFloor, floorValues, FloorStatus, norm2Weight, parseWeightSpec, sigmoidWeight, sum2Weight, tiltWeight, withFloor,
} from '../../src/issgm/weights.js';

function fdGradient(w: LogWeight, x: Batch, h = 1e-6): Float64Array {
  const out = new Float64Array(x.data.length);
  for (let k = 0; k < x.data.length; k++) {
    const up = makeBatch(x.n, x.dim, x.data.slice());
    const dn = makeBatch(x.n, x.dim, x.data.slice());
    up.data[k] += h;
    dn.data[k] -= h;
    const i = Math.floor(k / x.dim);
    out[k] = (w.value(up)[i] - w.value(dn)[i]) / (2 * h);
  }
  return out;
}

function expectGradientMatches(w: LogWeight, x: Batch): void {
  const { value, grad } = w.valueAndGrad(x);
  expect(Array.from(value)).toEqual(Array.from(w.value(x)));
  const fd = fdGradient(w, x);
  for (let k = 0; k < fd.length; k++) expect(Math.abs(grad.data[k] - fd[k])).toBeLessThan(1e-7 * (1 + Math.abs(fd[k])));
}

describe('built-in weights', () => {
  // Points where every weight is positive (sum x > -2, x != 0), 3-D.
  const x = makeBatch(4, 3, [0.5, -0.3, 1.2, 1, 1, 1, -0.4, 0.2, 0.1, 2, -1, 0.3]);

  it('have the documented values', () => {
    const n2 = norm2Weight(3).value(x);
    [1.78, 3, 0.21, 5.09].forEach((v, i) => expect(n2[i]).toBeCloseTo(Math.log(v), 14));
    expect(sum2Weight(3).value(x)[1]).toBeCloseTo(Math.log(5), 15);
    expect(tiltWeight([1, -2, 0.5]).value(x)[0]).toBeCloseTo(0.5 + 0.6 + 0.6, 15);
    const z = 0.3 * 0.5 - 0.3 + 1.2 - 0.2; // a.x + b for row 0, a = (0.3, 1, 1), b = -0.2
    expect(sigmoidWeight([0.3, 1, 1], -0.2).value(x)[0]).toBeCloseTo(Math.log(1 / (1 + Math.exp(-z))), 15);
  });

  it('have gradients equal to central finite differences', () => {
    expectGradientMatches(norm2Weight(3), x);
    expectGradientMatches(sum2Weight(3), x);
    expectGradientMatches(tiltWeight([1, -2, 0.5]), x);
    expectGradientMatches(sigmoidWeight([0.3, 1, 1], -0.2), x);
    expectGradientMatches(sigmoidWeight([3, -2, 1], 0.5), normalBatch(keyFromSeed(0), 20, 3));
  });

  it('sigmoid stays finite far out on both sides (no overflow)', () => {
    const w = sigmoidWeight([1], 0);
    const r = w.valueAndGrad(makeBatch(3, 1, [800, -800, 0]));
    expect(r.value[0]).toBe(-0);
    expect(r.value[1]).toBe(-800);
    expect(r.value[2]).toBeCloseTo(Math.log(0.5), 15);
    expect(Array.from(r.grad.data)).toEqual([0, 1, 0.5]);
    expect(w.upperBound).toBe(1);
  });

  it('return -Infinity with gradient 0 where l <= 0 (raw), and the floor makes it log m with gradient 0, counted', () => {
    const y = makeBatch(3, 2, [0, 0, -3, 0.5, 1, 1]);
    const n2 = norm2Weight(2).valueAndGrad(y);
    expect(n2.value[0]).toBe(-Infinity);
    expect(Array.from(n2.grad.data.subarray(0, 2))).toEqual([0, 0]);
    const s2 = sum2Weight(2).valueAndGrad(y);
    expect(s2.value[1]).toBe(-Infinity);
    const f = applyFloor(s2, 1e-6);
    expect(Array.from(f.status)).toEqual([FloorStatus.Ok, FloorStatus.Floored, FloorStatus.Ok]);
    expect(f.value[1]).toBe(Math.log(1e-6));
    expect(Array.from(f.grad.data.subarray(2, 4))).toEqual([0, 0]);
    expect([f.floored, f.nonFinite, f.badGradient]).toEqual([1, 0, 0]);
    // Small positive l below m is floored too (sum x + 2 = 1e-8).
    const tiny = applyFloor(sum2Weight(2).valueAndGrad(makeBatch(1, 2, [-1, -1 + 1e-8])), 1e-6);
    expect(tiny.status[0]).toBe(FloorStatus.Floored);
    // Idempotent: flooring a floored weight keeps the value and gradient and counts the same rows.
    const fw = withFloor(sum2Weight(2), 1e-6);
    const again = applyFloor(fw.valueAndGrad(y), 1e-6);
    expect(Array.from(again.value)).toEqual(Array.from(f.value));
    expect(Array.from(again.grad.data)).toEqual(Array.from(f.grad.data));
    expect(again.floored).toBe(1);
    expect(Array.from(fw.value(y))).toEqual(Array.from(f.value));
  });

  it('floors NaN and +Infinity as non-finite, and flags a non-finite gradient of a finite value', () => {
    const r = applyFloor({ value: Float64Array.of(NaN, Infinity, 1, 2), grad: makeBatch(4, 1, [NaN, 1, NaN, 1]) }, 1e-3);
    expect(Array.from(r.status)).toEqual([2, 2, 0, 0]);
    expect([r.floored, r.nonFinite, r.badGradient]).toEqual([0, 2, 1]);
    expect(Array.from(r.value.subarray(0, 2))).toEqual([Math.log(1e-3), Math.log(1e-3)]);
    expect(Array.from(floorValues(Float64Array.of(NaN, -Infinity, 5), 1))).toEqual([0, 0, 5]);
    expect(() => applyFloor(r, 0)).toThrow(/floor m must be positive/);
  });

  it('reject points of the wrong dimension', () => {
    expect(() => tiltWeight([1, 2]).value(makeBatch(1, 3))).toThrow(/dimension 3, the weight is for dimension 2/);
  });
});

describe('parseWeightSpec', () => {
  it('parses the four built-ins', () => {
    expect(parseWeightSpec('norm2', 2).spec).toBe('norm2');
    expect(parseWeightSpec(' sum2 ', 5).dim).toBe(5);
    const t = parseWeightSpec('tilt:1, 0.5', 2);
    expect(t.spec).toBe('tilt:1,0.5');
    expect(t.value(makeBatch(1, 2, [2, 2]))[0]).toBe(3);
    const s = parseWeightSpec('sigmoid:1,-1,0.25', 2);
    expect(s.spec).toBe('sigmoid:1,-1,0.25');
    expect(s.description).toMatch(/soft indicator of a\.x \+ b > 0/);
  });

  it('fails with clear InputErrors', () => {
    const msg = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        expect(isInputError(e)).toBe(true);
        return (e as Error).message;
      }
      throw new Error('did not throw');
    };
    expect(msg(() => parseWeightSpec('norm3', 2))).toMatch(/unknown weight 'norm3'; valid weights: norm2 .*sum2 .*tilt:a1,...,ad .*sigmoid:a1,...,ad,b/);
    expect(msg(() => parseWeightSpec('tilt:1,2,3', 2))).toMatch(/tilt needs 2 coefficients \(one per dimension, dimension 2\), got 3/);
    expect(msg(() => parseWeightSpec('sigmoid:1,2', 2))).toMatch(/sigmoid needs 3 coefficients \(a1..a2 for dimension 2, then the offset b\), got 2/);
    expect(msg(() => parseWeightSpec('tilt:1,abc', 2))).toMatch(/coefficient 2 \('abc'\) is not a finite number/);
    expect(msg(() => parseWeightSpec('tilt', 2))).toMatch(/give the tilt vector, e\.g\. tilt:1,1 \(2 coefficients for dimension 2\)/);
    expect(msg(() => parseWeightSpec('norm2:1', 2))).toMatch(/'norm2' takes no coefficients/);
    expect(msg(() => parseWeightSpec('tilt:', 2))).toMatch(/no coefficients after ':'/);
  });
});
