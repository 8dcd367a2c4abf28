import { describe, expect, it } from 'vitest';
import { erfc, normalCdf } from '../../src/core/normal-cdf.js';

describe('erfc and the normal CDF', () => {
  it('erfc agrees with Python math.erfc to its stated fractional error (1.2e-7)', () => {
    // Python 3 math.erfc (correctly rounded libm) at these points.
    const ref: [number, number][] = [
      [-3, 1.9999779095030015], [-1, 1.842700792949715], [-0.3, 1.3286267594591274], [0, 1], [0.5, 0.4795001221869535],
      [1, 0.15729920705028513], [2, 0.004677734981047265], [3, 2.2090496998585438e-5], [5, 1.5374597944280351e-12],
    ];
    for (const [x, v] of ref) expect(Math.abs(erfc(x) - v) / v).toBeLessThan(1.2e-7);
  });

  it('normalCdf: Phi(0) = 1/2, Phi(-x) = 1 - Phi(x), Phi(1.959964) = 0.975', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    for (const x of [0.3, 1, 2.5]) expect(normalCdf(-x) + normalCdf(x)).toBeCloseTo(1, 7);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 7);
  });
});
