// Cross-check against POT and SciPy through a committed fixture
// (regenerate with /usr/bin/python3 test/fixtures/metrics/make_fixture.py; no Python needed here).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromRows } from '../../src/core/batch.js';
import {
  edgesFromReference,
  energyTvdDetailed,
  histogram2d,
  jsdHistogram2dDetailed,
  tvdHistogram2d,
  wasserstein,
  wasserstein1d,
  wassersteinBoth,
  type Range2d,
} from '../../src/metrics/index.js';

interface HistCase {
  bins: number;
  range: [[number, number], [number, number]];
  jsd: number;
  tvd: number;
  insideA: number;
  insideB: number;
  countsA: number[];
}
interface Fixture {
  d2: { a: number[][]; b: number[][]; w1: number; w2: number; hist: HistCase[] };
  d8: { a: number[][]; b: number[][]; w1: number; w2: number };
  d1: { x: number[]; y: number[]; w1: number; w2: number };
  energy: { reference: number[]; values: number[]; tvd: number; outside: number; edges: number[] };
}

const fx = JSON.parse(
  readFileSync(new URL('../fixtures/metrics/pot_scipy.json', import.meta.url), 'utf8'),
) as Fixture;

const REL = 1e-6;
function close(actual: number, expected: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(REL * Math.abs(expected) + 1e-12);
}

describe('agreement with POT (ot.emd2) and SciPy', () => {
  it('W1 and W2 in 2-D (300 points) match ot.emd2', () => {
    const a = fromRows(fx.d2.a);
    const b = fromRows(fx.d2.b);
    close(wasserstein(a, b, 1), fx.d2.w1);
    close(wasserstein(a, b, 2), fx.d2.w2);
  });

  it('W1 and W2 in 8-D (100 points) match ot.emd2, also through wassersteinBoth', () => {
    const a = fromRows(fx.d8.a);
    const b = fromRows(fx.d8.b);
    const { w1, w2 } = wassersteinBoth(a, b);
    close(w1, fx.d8.w1);
    close(w2, fx.d8.w2);
  });

  it('JSD and TVD of 2-D histograms match scipy jensenshannon**2 on numpy.histogram2d', () => {
    const a = fromRows(fx.d2.a);
    const b = fromRows(fx.d2.b);
    for (const h of fx.d2.hist) {
      const opts = { bins: h.bins, range: h.range as Range2d };
      const hist = histogram2d(a, h.bins, opts.range);
      expect(Array.from(hist.counts)).toEqual(h.countsA); // bin-edge conventions identical
      const d = jsdHistogram2dDetailed(a, b, opts);
      close(d.value, h.jsd);
      expect([d.insideA, d.insideB]).toEqual([h.insideA, h.insideB]);
      expect(d.outsideA + d.insideA).toBe(a.n);
      close(tvdHistogram2d(a, b, opts), h.tvd);
    }
  });

  it('1-D W1 matches scipy.stats.wasserstein_distance and W2 matches ot.emd2 (unequal sizes)', () => {
    close(wasserstein1d(fx.d1.x, fx.d1.y, 1), fx.d1.w1);
    close(wasserstein1d(fx.d1.x, fx.d1.y, 2), fx.d1.w2);
  });

  it('energy TVD matches numpy.histogram(ref, bins=200) edges, outside values dropped', () => {
    const edges = edgesFromReference(fx.energy.reference, 200);
    expect(Array.from(edges)).toEqual(fx.energy.edges);
    const r = energyTvdDetailed(fx.energy.values, fx.energy.reference);
    close(r.value, fx.energy.tvd);
    expect(r.outside).toBe(fx.energy.outside);
    expect(r.outside).toBeGreaterThan(0); // the fixture exercises the drop rule
  });
});
