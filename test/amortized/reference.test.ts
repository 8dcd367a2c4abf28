/**
 * The reference prior of the AIS base from an SMC pilot (`amortized/reference.ts`): the moments it
 * finds, and what it buys on GMM-40 5-D, where the paper's likelihood base degenerates.
 */
import { describe, expect, it } from 'vitest';
import { makeBatch } from '../../src/core/batch.js';
import { keyFromSeed, normal, split } from '../../src/core/key.js';
import { aisPosteriorMean } from '../../src/amortized/ais-posterior.js';
import { checkReferencePilot, defaultReferencePilot, pilotReference } from '../../src/amortized/reference.js';
import { defaultAmortizedConfig } from '../../src/amortized/presets.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { Gaussian } from '../../src/targets/gaussian.js';
import { gmm40 } from '../../src/targets/gmm40.js';

describe('reference pilot', () => {
  it('finds the mean and (widened) std of an anisotropic Gaussian from a start 100x too broad', () => {
    const target = new Gaussian([3, -2, 0.5], { variance: [100, 1, 0.04] });
    const std = [10, 1, 0.2];
    const { reference, targetEvaluations } = pilotReference(4, target, { particles: 1000, gradientBudget: 5e5, initScale: 150, widen: 1.5 });
    expect(targetEvaluations).toBeLessThanOrEqual(5e5);
    // SMC particles are correlated by resampling: the tolerance takes an effective size of 100 of the
    // 1000 particles (4.5 standard errors), and +-20% on the std (its SE at ESS 100 is ~7%).
    // Over 20 seeds: largest error 1.2 such standard errors; std ratios 0.96-1.06.
    for (let j = 0; j < 3; j++) {
      expect(Math.abs(reference.mean[j] - [3, -2, 0.5][j])).toBeLessThan(4.5 * std[j] / Math.sqrt(100));
      expect(reference.scale[j] / (1.5 * std[j])).toBeGreaterThan(0.8);
      expect(reference.scale[j] / (1.5 * std[j])).toBeLessThan(1.2);
    }
    // Keyed by the seed: a resumed run recomputes the same reference.
    const again = pilotReference(4, target, { particles: 1000, gradientBudget: 5e5, initScale: 150, widen: 1.5 });
    expect(Array.from(again.reference.mean)).toEqual(Array.from(reference.mean));
  });

  it('rejects bad options', () => {
    expect(() => checkReferencePilot({ ...defaultReferencePilot(150), particles: 1 })).toThrow(/particles/);
    expect(() => checkReferencePilot({ ...defaultReferencePilot(150), widen: 0 })).toThrow(/widen/);
    expect(() => checkReferencePilot({ ...defaultReferencePilot(Number.NaN) })).toThrow(/initScale/);
  });

  it('is on in the default config (VP), starting at the likelihood width at t = 1', () => {
    const c = defaultAmortizedConfig(5);
    const sde = new VPSDE();
    expect(c.referencePilot?.initScale).toBeCloseTo(sde.sigma(1) / sde.alpha(1), 10);
  });

  it('GMM-40 5-D at t = 0.7: AIS posterior means with the pilot reference are far closer to the exact ones than from the bare likelihood', () => {
    const target = gmm40(5);
    const sde = new VPSDE();
    const t = 0.7;
    const a = sde.alpha(t);
    const s = sde.sigma(t);
    const B = 32;
    const [k0, ke, kAis] = split(keyFromSeed(11), 3);
    const x0 = target.sample(k0, B);
    const e = normal(ke, B * 5);
    const xt = makeBatch(B, 5);
    for (let i = 0; i < B * 5; i++) xt.data[i] = a * x0.data[i] + s * e[i];
    const problems = { xt, alpha: new Float64Array(B).fill(a), sigma: new Float64Array(B).fill(s) };
    const exact = target.posteriorMean(xt, a, s);
    const prior = (x: typeof xt) => target.logDensityAndGrad(x);
    const opts = { particles: 100, bridges: 10, transition: 'hmc' as const, stepSize: 1, leapfrogSteps: 1, estimate: 'mean' as const, refineSteps: 0, refineStepSize: 0.01 };
    const rmse = (est: typeof xt): number => {
      let q = 0;
      for (let i = 0; i < est.data.length; i++) q += (est.data[i] - exact.data[i]) ** 2;
      return Math.sqrt(q / B);
    };
    const bare = aisPosteriorMean(kAis, prior, problems, opts);
    const { reference } = pilotReference(0, target, defaultReferencePilot(sde.sigma(1) / sde.alpha(1)));
    const shaped = aisPosteriorMean(kAis, prior, { ...problems, reference }, opts);
    // Measured over 20 keys: bare rmse 9.7-14.8 with mean ESS ~1.3; shaped 3.4-5.0 with ESS 11-14
    // (ratio 0.27-0.40).
    expect(rmse(shaped.x0)).toBeLessThan(0.6 * rmse(bare.x0));
    let essBare = 0;
    let essShaped = 0;
    for (let b = 0; b < B; b++) {
      essBare += bare.ess[b] / B;
      essShaped += shaped.ess[b] / B;
    }
    expect(essShaped).toBeGreaterThan(3 * essBare);
  });
});
