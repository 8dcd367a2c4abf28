/**
 * The denoising-score-matching batch: perturbation, regression targets per parametrisation and
 * the time weightings, against the formulas of SPEC §1 computed by hand.
 */
import { describe, expect, it } from 'vitest';
import { keyFromSeed, normalBatch } from '../../src/core/key.js';
import { DDPMSchedule } from '../../src/diffusion/ddpm.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { diffusionCoefficients, nativeWeight, prepareBatch, type LossConfig } from '../../src/models/loss.js';

const vp: LossConfig = { parametrisation: 'noise', weighting: 'uniform', tMin: 0.01, diffusion: { kind: 'vp', betaMin: 0.1, betaMax: 20 } };
const x0 = normalBatch(keyFromSeed(1), 50, 3);

describe('prepared batch', () => {
  it('x_t = alpha_t x0 + sigma_t eps with t in [tMin, 1]; targets eps, x0, -eps/sigma', () => {
    const sde = new VPSDE();
    for (const parametrisation of ['noise', 'mean', 'score'] as const) {
      const cfg = { ...vp, parametrisation };
      const b = prepareBatch(cfg, diffusionCoefficients(cfg), x0, keyFromSeed(2));
      for (let i = 0; i < 50; i++) {
        const t = b.t[i];
        expect(t).toBeGreaterThanOrEqual(0.01);
        expect(t).toBeLessThanOrEqual(1);
        expect(b.w[i]).toBe(1);
        for (let j = 3 * i; j < 3 * i + 3; j++) {
          expect(b.xt[j]).toBeCloseTo(sde.alpha(t) * x0.data[j] + sde.sigma(t) * b.eps[j], 12);
          const want = parametrisation === 'noise' ? b.eps[j] : parametrisation === 'mean' ? x0.data[j] : -b.eps[j] / sde.sigma(t);
          expect(b.target[j]).toBeCloseTo(want, 10);
        }
      }
    }
    // Same key: same draws; the noise does not depend on the parametrisation.
    const a = prepareBatch(vp, diffusionCoefficients(vp), x0, keyFromSeed(2));
    const m = prepareBatch({ ...vp, parametrisation: 'mean' }, diffusionCoefficients(vp), x0, keyFromSeed(2));
    expect(a.eps).toEqual(m.eps);
    expect(a.t).toEqual(m.t);
  });

  it('DDPM: t = i/T on the grid, alpha^2 = abar_i', () => {
    const cfg: LossConfig = { ...vp, diffusion: { kind: 'ddpm', steps: 100, betaStart: 1e-3, betaEnd: 0.2 } };
    const sch = new DDPMSchedule({ steps: 100, betaStart: 1e-3, betaEnd: 0.2 });
    const b = prepareBatch(cfg, diffusionCoefficients(cfg), x0, keyFromSeed(3));
    for (let i = 0; i < 50; i++) {
      const idx = Math.round(b.t[i] * 100);
      expect(idx).toBeGreaterThanOrEqual(1);
      expect(idx).toBeLessThanOrEqual(100);
      expect(b.t[i]).toBe(idx / 100);
      const a = Math.sqrt(sch.alphaBar(idx));
      expect(b.xt[3 * i]).toBeCloseTo(a * x0.data[3 * i] + Math.sqrt(1 - a * a) * b.eps[3 * i], 10);
    }
    expect(diffusionCoefficients(cfg).beta(0.5)).toBeCloseTo(100 * sch.beta(50), 12);
  });

  it('weightings: score-space lambda(t) times the native-to-score factor', () => {
    const [a, s, beta] = [0.8, 0.6, 7];
    expect(nativeWeight('noise', 'uniform', a, s, beta)).toBe(1);
    expect(nativeWeight('mean', 'uniform', a, s, beta)).toBe(1);
    // sigma2: lambda = sigma^2. noise: sigma^2 / sigma^2 = 1; mean: alpha^2 / sigma^2; score: sigma^2.
    expect(nativeWeight('noise', 'sigma2', a, s, beta)).toBeCloseTo(1, 14);
    expect(nativeWeight('mean', 'sigma2', a, s, beta)).toBeCloseTo(0.64 / 0.36, 14);
    expect(nativeWeight('score', 'sigma2', a, s, beta)).toBeCloseTo(0.36, 14);
    // likelihood: lambda = beta(t) = g^2.
    expect(nativeWeight('noise', 'likelihood', a, s, beta)).toBeCloseTo(7 / 0.36, 12);
    expect(nativeWeight('mean', 'likelihood', a, s, beta)).toBeCloseTo((7 * 0.64) / 0.36 ** 2, 12);
    expect(nativeWeight('score', 'likelihood', a, s, beta)).toBe(7);
  });

  it('rejects an unknown weighting and a bad tMin', () => {
    expect(() => prepareBatch({ ...vp, weighting: 'snr' }, diffusionCoefficients(vp), x0, keyFromSeed(1))).toThrow(/weighting/);
    expect(() => diffusionCoefficients({ ...vp, tMin: 0 })).toThrow(/tMin/);
  });
});
