/**
 * The iDEM baseline's GMM-40 preset works in iDEM's coordinates (data / 50, `MlpConfig.inputScale`):
 * the untrained network's reverse-SDE samples, which fill the first buffer, stay on the prior's
 * scale (sigma_max = 50). In data coordinates the same init sent them to 1e5..1e12 for 3 of 6 keys
 * (the VE drift `g^2 s` with g^2 up to 2 * 50^2 * log(1e5) times an output linear in x), and every
 * later update was skipped as non-finite (bench:amortized, 7 of 10 iDEM runs diverged).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { keyFromSeed, split } from '../../src/core/key.js';
import { sampleReverseSDE } from '../../src/diffusion/em.js';
import { VESDE } from '../../src/diffusion/ve.js';
import { idemAmortizedConfig } from '../../src/amortized/presets.js';
import { architecture } from '../../src/models/architecture.js';
import { networkScoreModel } from '../../src/models/mlp.js';

beforeAll(async () => {
  await initEngine();
});

describe('iDEM GMM-40 preset', () => {
  for (const dim of [2, 5]) {
    it(`the untrained network's samples stay within 10 sigma_max for 6 init keys (dim ${dim})`, () => {
      const c = idemAmortizedConfig(dim, dim === 2 ? 'gmm40' : 'gmm40-5d');
      expect(c.network).toMatchObject({ inputScale: 50, outputScale: 1 / 50 });
      if (c.diffusion.kind !== 've') throw new Error('iDEM is VE');
      const sde = new VESDE(c.diffusion);
      for (let seed = 0; seed < 6; seed++) {
        const [kInit, kSample] = split(keyFromSeed(seed), 2);
        const model = networkScoreModel(c.network, architecture(c.network).init(kInit), c.parametrisation, sde);
        const x = sampleReverseSDE(kSample, model, sde, { n: 100, steps: c.buffer.sampleSteps, tMin: c.tMin });
        model.dispose();
        const largest = x.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        expect(largest, `seed ${seed}`).toBeLessThan(10 * sde.sigmaMax);
      }
    });
  }
});
