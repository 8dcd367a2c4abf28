import { describe, expect, it } from 'vitest';
import { amortizedProblem, judgeSamples, referenceKeys, symmetricFloor } from '../../src/cli/amortized-problem.js';
import { randomSymmetry } from '../../src/targets/dw4.js';
import { keyFromSeed } from '../../src/core/key.js';
import { compareSamples } from '../../src/evaluate/compare.js';

describe('judgeSamples: the exact-sampler floor of DW-4', () => {
  it('judges symmetrised floor samples beside the floor for DW-4 (same energies, so the same energy and distance TVD), and not for GMM-40', async () => {
    const dw4 = await amortizedProblem('dw4');
    const key = referenceKeys(3).refs;
    const n = 300;
    const refs = dw4.test(key, n)!;
    const j = judgeSamples(key, dw4, randomSymmetry(keyFromSeed(1), refs.test, 4, 2))!;
    expect(j.symmetricFloor).toBeDefined();
    const sym = j.symmetricFloor!;
    expect(Object.keys(sym)).toEqual(Object.keys(j.metrics));
    expect(sym.energy_tvd).toBeCloseTo(j.floor.energy_tvd, 9);
    expect(sym.distance_tvd).toBeCloseTo(j.floor.distance_tvd, 9);
    // Moved samples are different samples: the transport distances change.
    expect(sym.w2).not.toBeCloseTo(j.floor.w2, 3);
    expect(symmetricFloor(key, dw4, n)).toEqual(sym);
    const gmm = await amortizedProblem('gmm40');
    const g = judgeSamples(key, gmm, gmm.test(key, n)!.floor)!;
    expect(g.symmetricFloor).toBeUndefined();
    // GMM-40 is also judged against its exact marginals (the paper's TVD protocol).
    expect(g.metrics.marginal_tvd_exact).toBeGreaterThan(0);
    expect(g.metrics.marginal_tvd_exact).toBeLessThan(1);
    expect(() => compareSamples(key, refs.test, refs.floor, { metrics: ['marginal_tvd_exact'] })).toThrow(/exact marginals/);
    expect(symmetricFloor(key, gmm, n)).toBeNull();
  });
});
