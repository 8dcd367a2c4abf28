import { describe, expect, it } from 'vitest';
import { keyFromSeed } from '../../src/core/key.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { diffusionCoefficients } from '../../src/models/loss.js';

describe('training-time sampling on the continuous VP', () => {
  const sde = new VPSDE({ betaMin: 0.1, betaMax: 20 });
  const base = { parametrisation: 'noise' as const, weighting: 'uniform', tMin: 1e-3, diffusion: { kind: 'vp' as const, betaMin: 0.1, betaMax: 20 } };
  const n = 50_000;
  const Z = 4.5; // per-check two-sided p ~ 7e-6, fixed keys

  it("'logsnr' draws log-SNR uniformly between lambda(1) and lambda(tMin)", () => {
    const t = diffusionCoefficients({ ...base, timeSampling: 'logsnr' }).drawTimes(keyFromSeed(1), n);
    const lo = sde.logSnr(1);
    const hi = sde.logSnr(1e-3);
    let s = 0, s2 = 0;
    for (const ti of t) {
      expect(ti).toBeGreaterThanOrEqual(1e-3 - 1e-12);
      expect(ti).toBeLessThanOrEqual(1 + 1e-12);
      const u = (sde.logSnr(ti) - lo) / (hi - lo); // should be U(0, 1)
      s += u;
      s2 += u * u;
    }
    expect(Math.abs(s / n - 0.5)).toBeLessThan(Z * Math.sqrt(1 / 12 / n));
    expect(Math.abs(s2 / n - 1 / 3)).toBeLessThan(Z * Math.sqrt(4 / 45 / n));
  });
  it("'uniform' (the default) draws t uniformly on [tMin, 1]; unknown names are rejected", () => {
    const t = diffusionCoefficients(base).drawTimes(keyFromSeed(2), n);
    const mean = t.reduce((a, b) => a + b, 0) / n;
    const width = 1 - 1e-3;
    expect(Math.abs(mean - (1 + 1e-3) / 2)).toBeLessThan(Z * width * Math.sqrt(1 / 12 / n));
    expect(() => diffusionCoefficients({ ...base, timeSampling: 'cosine' as never })).toThrow(/unknown time sampling 'cosine'/);
  });
});
