import { describe, expect, it } from 'vitest';
import { fromRows, makeBatch } from '../../src/core/batch.js';
import { foldIn, keyFromSeed, normal, normalBatch } from '../../src/core/key.js';
import {
  edgesFromReference,
  energyTvd,
  energyTvdDetailed,
  histogram1d,
  histogram2d,
  jsdFromCounts,
  jsdHistogram2d,
  jsdHistogram2dDetailed,
  linspaceEdges,
  tvdFromCounts,
  tvdHistogram2d,
  tvdHistogram2dDetailed,
} from '../../src/metrics/index.js';

const key = keyFromSeed(0);

describe('histogram edge conventions (numpy)', () => {
  it('bins are [e_i, e_{i+1}) with the last bin closed; outside points are counted and dropped', () => {
    const edges = linspaceEdges(0, 1, 4); // 0, .25, .5, .75, 1
    expect(Array.from(edges)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    const h = histogram1d([0, 0.25, 0.2499, 0.5, 0.75, 1, -1e-12, 1 + 1e-12], edges);
    expect(Array.from(h.counts)).toEqual([2, 1, 1, 2]);
    expect(h.outside).toBe(2);
    expect(h.inside).toBe(6);
  });

  it('2-D: x is the slow index, right/top edges inclusive, outside in any coordinate dropped', () => {
    const pts = fromRows([
      [-1, -1], // bin (0, 0)
      [1, 1], // last edge on both axes: bin (1, 1)
      [0, -1], // x on the inner edge: bin (1, 0)
      [-1, 0.5], // bin (0, 1)
      [1.0001, 0], // outside in x
      [0, -1.5], // outside in y
    ]);
    const h = histogram2d(pts, 2, 1);
    expect(Array.from(h.counts)).toEqual([1, 1, 1, 1]);
    expect(h.outside).toBe(2);
    const h2 = histogram2d(fromRows([[-1, 0.9]]), 2, [[-1, 1], [0, 2]]);
    expect(Array.from(h2.counts)).toEqual([1, 0, 0, 0]);
  });

  it('uses the stored linspace edges, not the raw formula, for points on computed edges', () => {
    // 0.1 * 3 + 0 = 0.30000000000000004 is edge 3 of linspace(0, 1, 11): a value 0.3 lies below it.
    const e = linspaceEdges(0, 1, 10);
    expect(e[3]).toBe(3 * 0.1);
    const x = 0.3; // floor(0.3 * 10) = 3 by the formula, but 0.3 < e[3]
    const h1 = histogram1d([x], e);
    expect(h1.counts[2]).toBe(1);
    const h2 = histogram2d(fromRows([[x, x]]), 10, [0, 1]);
    expect(h2.counts[2 * 10 + 2]).toBe(1);
  });

  it('edgesFromReference spans min..max of the reference (numpy widens a constant set by 0.5)', () => {
    const e = edgesFromReference([3, -1, 2], 4);
    expect(e[0]).toBe(-1);
    expect(e[4]).toBe(3);
    expect(e.length).toBe(5);
    expect(Array.from(edgesFromReference([2, 2], 2))).toEqual([1.5, 2, 2.5]);
  });

  it('rejects bad input', () => {
    expect(() => histogram2d(normalBatch(key, 3, 3), 4, 1)).toThrow(/2-D points, got dimension 3/);
    expect(() => histogram2d(normalBatch(key, 3, 2), 0, 1)).toThrow(/bins must be a positive integer/);
    expect(() => histogram2d(normalBatch(key, 3, 2), 4, [1, 1])).toThrow(/hi > lo/);
    expect(() => histogram1d([1], [0, 2, 1])).toThrow(/non-decreasing/);
    expect(() => histogram1d([NaN], [0, 1])).toThrow(/non-finite value NaN/);
    expect(() => edgesFromReference([], 10)).toThrow(/empty/);
  });
});

describe('JSD and TVD of 2-D histograms', () => {
  const a = normalBatch(foldIn(key, 1), 2000, 2);
  const b = normalBatch(foldIn(key, 2), 2000, 2);

  it('are 0 for identical sets', () => {
    expect(jsdHistogram2d(a, a)).toBe(0);
    expect(tvdHistogram2d(a, a)).toBe(0);
  });

  it('are ln 2 and 1 for sets in disjoint bins', () => {
    const left = fromRows([[-3, 0], [-2, 1], [-2.5, -1]]);
    const right = fromRows([[3, 0], [2, 2]]);
    expect(jsdHistogram2d(left, right)).toBeCloseTo(Math.LN2, 15);
    expect(tvdHistogram2d(left, right)).toBe(1);
    expect(jsdFromCounts([1, 0, 0], [0, 0, 5])).toBeCloseTo(Math.LN2, 15);
  });

  it('are symmetric and bounded', () => {
    const j1 = jsdHistogram2d(a, b, { bins: 32, range: 4 });
    const j2 = jsdHistogram2d(b, a, { bins: 32, range: 4 });
    expect(j1).toBeCloseTo(j2, 15);
    expect(j1).toBeGreaterThan(0);
    expect(j1).toBeLessThan(Math.LN2);
    expect(tvdHistogram2d(a, b)).toBeCloseTo(tvdHistogram2d(b, a), 15);
  });

  it('match a hand computation on two-bin histograms', () => {
    // p = (1/2, 1/2), q = (1, 0): m = (3/4, 1/4).
    const expected = 0.5 * (0.5 * Math.log(0.5 / 0.75) + 0.5 * Math.log(0.5 / 0.25) + Math.log(1 / 0.75));
    expect(jsdFromCounts([1, 1], [3, 0])).toBeCloseTo(expected, 15);
    expect(tvdFromCounts([1, 1], [3, 0])).toBeCloseTo(0.5, 15);
  });

  it('drop out-of-range points, normalise inside, and report the counts', () => {
    const inside = fromRows([[0, 0], [1, 1]]);
    const withOutliers = fromRows([[0, 0], [1, 1], [10, 0], [0, -7]]);
    const d = jsdHistogram2dDetailed(inside, withOutliers);
    expect(d.value).toBe(0);
    expect([d.insideA, d.outsideA, d.insideB, d.outsideB]).toEqual([2, 0, 2, 2]);
    expect(d.bins).toBe(64);
    expect(d.range).toEqual([[-4.5, 4.5], [-4.5, 4.5]]);
    // One set entirely outside: maximal values; both outside: an error.
    const far = fromRows([[9, 9]]);
    expect(jsdHistogram2d(inside, far)).toBe(Math.LN2);
    expect(tvdHistogram2dDetailed(far, inside).value).toBe(1);
    expect(() => jsdHistogram2d(far, far)).toThrow(/widen the range/);
  });

  it('reject dimension mismatch, 3-D input and NaN', () => {
    expect(() => jsdHistogram2d(a, normalBatch(key, 5, 3))).toThrow(/dimensions differ/);
    expect(() => tvdHistogram2d(normalBatch(key, 5, 3), normalBatch(key, 5, 3))).toThrow(/2-D points/);
    const bad = makeBatch(1, 2, [0, NaN]);
    expect(() => jsdHistogram2d(a, bad)).toThrow(/second set: non-finite value NaN at row 0, column 1/);
  });
});

describe('energy TVD (iDEM convention)', () => {
  it('is 0 for identical sets and 1 when every value lies outside the reference range', () => {
    const ref = normal(key, 500);
    expect(energyTvd(ref, ref)).toBe(0);
    const r = energyTvdDetailed([100, 200], ref);
    expect(r.value).toBe(1);
    expect(r.outside).toBe(2);
    expect(r.edges.length).toBe(201);
  });

  it('drops values outside the reference range instead of clamping them', () => {
    // Reference uniform over 4 bins; values: two in bin 0, two far outside. Dropping gives
    // h_values = (1, 0, 0, 0) vs (1/4, ...): TVD = 3/4. Clamping would give a different number.
    const ref = [0.5, 1.5, 2.5, 3.5, 0, 4];
    const vals = [0.1, 0.2, -50, 50];
    const r = energyTvdDetailed(vals, ref, 4);
    expect(r.outside).toBe(2);
    // ref counts: [0,1): 0, .5 -> 2; [1,2): 1; [2,3): 1; [3,4]: 3.5, 4 -> 2. Total 6.
    expect(r.value).toBeCloseTo(0.5 * (Math.abs(1 - 2 / 6) + 1 / 6 + 1 / 6 + 2 / 6), 15);
  });
});
