import { describe, expect, it } from 'vitest';
import { makeBatch } from '../../src/core/batch.js';
import { marginalTvd, marginalTvdExact } from '../../src/metrics/tvd.js';

describe('marginalTvd (the amortized-posterior paper GMM TVD)', () => {
  it('averages per-coordinate histogram TVDs; points outside the range count in neither histogram', () => {
    // 2 bins on [0, 2]: coordinate 0 of a is [0.5, 1.5] (one per bin), of b [0.5, 0.5]: TVD 0.5.
    // Coordinate 1: a [0.5, 5] (5 is outside: a's histogram holds 1/2 in bin 0), b [0.5, 0.5]: 1/2 |1/2 - 1| = 0.25.
    const a = makeBatch(2, 2, [0.5, 0.5, 1.5, 5]);
    const b = makeBatch(2, 2, [0.5, 0.5, 0.5, 0.5]);
    expect(marginalTvd(a, b, 2, 0, 2)).toBeCloseTo((0.5 + 0.25) / 2, 12);
    expect(marginalTvd(a, a, 2, 0, 2)).toBe(0);
    expect(() => marginalTvd(a, makeBatch(2, 3), 2, 0, 2)).toThrow(/dimensions/);
  });
});

describe('marginalTvdExact', () => {
  it('is 0 against the sample\'s own bin frequencies and 1/2 when half the mass is missing', () => {
    const a = makeBatch(4, 1, [0.05, 0.05, 0.15, 0.15]);
    const own = (): Float64Array => Float64Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 0);
    expect(marginalTvdExact(a, own, 20, -1, 1)).toBeCloseTo(0, 12);
    const half = (): Float64Array => Float64Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.5, 0, 0, 0, 0, 0, 0, 0, 0.5, 0);
    expect(marginalTvdExact(a, half, 20, -1, 1)).toBeCloseTo(0.5, 12);
    expect(() => marginalTvdExact(a, () => new Float64Array(3), 20, -1, 1)).toThrow(/3 bin probabilities for 20 bins/);
  });
});
