/**
 * Grouped resampling pieces: Gumbel-max picks (frequencies against the weights by a chi-square
 * test at the named 1 - 1e-4 quantile), grouped log-sum-exp and Kish ESS against the ungrouped
 * functions of metrics/ess.ts, grouped resampling (unbiased offspring counts by z-tests with the
 * exact count variances, as in test/baselines/resampling.test.ts), and the re-export from
 * baselines/.
 */
import { describe, expect, it } from 'vitest';
import { foldIn, keyFromSeed } from '../../src/core/key.js';
import * as fromBaselines from '../../src/baselines/resampling.js';
import {
  essFromLogWeights, groupedEss, groupedLogSumExp, groupedResample, gumbelMaxPick, logSumExp, offspringCounts, systematicResample,
} from '../../src/mcmc/resampling.js';
import { CHI2_6_9999, Z } from './helpers.js';

const w = [0.05, 0.3, 0.01, 0.2, 0.14, 0.25, 0.05];

function tiled(groups: number, offset: (g: number) => number): Float64Array {
  const l = new Float64Array(groups * w.length);
  for (let g = 0; g < groups; g++) for (let i = 0; i < w.length; i++) l[g * w.length + i] = Math.log(w[i]) + offset(g);
  return l;
}

describe('gumbelMaxPick', () => {
  it('picks each row of a group with probability ∝ exp(logWeight): chi-square over 20000 groups', () => {
    const G = 20000;
    // Offsets differ per group (large ones too): only the within-group weights matter.
    const idx = gumbelMaxPick(keyFromSeed(1), tiled(G, (g) => (g % 3) * 300 - 200), G);
    const counts = new Float64Array(w.length);
    for (let g = 0; g < G; g++) {
      const local = idx[g] - g * w.length;
      expect(local >= 0 && local < w.length).toBe(true); // a global index inside the group
      counts[local]++;
    }
    let chi2 = 0;
    for (let i = 0; i < w.length; i++) chi2 += (counts[i] - G * w[i]) ** 2 / (G * w[i]);
    expect(chi2).toBeLessThan(CHI2_6_9999);
  });

  it('never picks a zero weight; a group of zero weights gets a uniform pick in the group; NaN throws', () => {
    const l = Float64Array.from([-Infinity, 0, -Infinity, -Infinity, -Infinity, -Infinity]);
    for (let r = 0; r < 50; r++) {
      const idx = gumbelMaxPick(foldIn(keyFromSeed(2), r), l, 2);
      expect(idx[0]).toBe(1);
      expect(idx[1] >= 3 && idx[1] < 6).toBe(true);
    }
    expect(() => gumbelMaxPick(keyFromSeed(0), Float64Array.from([0, NaN]), 1)).toThrow(/NaN/);
    expect(() => gumbelMaxPick(keyFromSeed(0), Float64Array.from([0, 0, 0]), 2)).toThrow(/equal groups/);
    const k = keyFromSeed(3);
    expect(Array.from(gumbelMaxPick(k, tiled(10, () => 0), 10))).toEqual(Array.from(gumbelMaxPick(k, tiled(10, () => 0), 10)));
  });
});

describe('grouped log-sum-exp and ESS', () => {
  it('equal the ungrouped functions on each group; ESS in [1, n/groups], 0 for zero weights', () => {
    const l = Float64Array.from([0.1, -2, 700, 699, -Infinity, -Infinity, 3, 3, 3]);
    const lse = groupedLogSumExp(l, 3);
    const ess = groupedEss(l, 3);
    for (let g = 0; g < 3; g++) {
      const part = l.subarray(3 * g, 3 * g + 3);
      expect(lse[g]).toBeCloseTo(logSumExp(part), 12);
      expect(ess[g]).toBeCloseTo(essFromLogWeights(part), 12);
      expect(ess[g] >= 1 && ess[g] <= 3).toBe(true);
    }
    expect(ess[2]).toBeCloseTo(3, 12);
    expect(Array.from(groupedLogSumExp(Float64Array.of(-Infinity, -Infinity), 1))).toEqual([-Infinity]);
    expect(Array.from(groupedEss(Float64Array.of(-Infinity, -Infinity), 1))).toEqual([0]);
    expect(() => groupedEss(Float64Array.of(0, Infinity), 1)).toThrow(/Infinity/);
  });
});

describe('groupedResample', () => {
  it.each(['systematic', 'multinomial'] as const)('%s: unbiased offspring counts within each selected group; others untouched', (scheme) => {
    const R = 3000;
    const G = 3;
    const m = w.length;
    const l = tiled(G, (g) => g * 100);
    const only = Uint8Array.from([1, 0, 1]);
    const sum = new Float64Array(G * m);
    let misplaced = 0;
    for (let r = 0; r < R; r++) {
      const idx = groupedResample(foldIn(keyFromSeed(4), r), l, G, { scheme, only });
      for (let j = 0; j < m; j++) if (idx[m + j] !== m + j) misplaced++;
      for (const g of [0, 2]) for (let j = 0; j < m; j++) if (Math.floor(idx[g * m + j] / m) !== g) misplaced++;
      const c = offspringCounts(idx, G * m);
      for (let i = 0; i < G * m; i++) sum[i] += c[i];
    }
    expect(misplaced).toBe(0);
    for (const g of [0, 2]) {
      for (let i = 0; i < m; i++) {
        const mw = m * w[i];
        const f = mw - Math.floor(mw);
        const v = scheme === 'systematic' ? f * (1 - f) : mw * (1 - w[i]);
        expect(Math.abs(sum[g * m + i] / R - mw) / Math.sqrt(v / R)).toBeLessThan(Z);
      }
    }
  });

  it('systematic on one group equals systematicResample with the same uniform', () => {
    const l = Float64Array.from(w.map(Math.log));
    // groupedResample draws uniform(key, groups)[g]; systematicResample draws uniform(key, 1)[0].
    expect(Array.from(groupedResample(keyFromSeed(5), l, 1))).toEqual(Array.from(systematicResample(keyFromSeed(5), l)));
    expect(() => groupedResample(keyFromSeed(5), l, 1, { scheme: 'residual' as never })).toThrow(/unknown resampling scheme/);
  });

  it('baselines/resampling re-exports the moved module', () => {
    expect(fromBaselines.systematicResample).toBe(systematicResample);
    expect(fromBaselines.gumbelMaxPick).toBe(gumbelMaxPick);
  });
});
