/**
 * The MLP score network: parameter layout, deterministic init, the compiled forward against the
 * float64 reference, batch-size handling (buckets, chunks), and its use as a ScoreModel under
 * the three parametrisations.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { makeBatch } from '../../src/core/batch.js';
import { initEngine } from '../../src/core/engine.js';
import { keyFromSeed, normalBatch, uniform } from '../../src/core/key.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { scoreFromMean } from '../../src/diffusion/parametrisation.js';
import {
  bucketSize, defaultMlpConfig, initMlp, mlpForwardReference, mlpParamCount, mlpTensorSpecs, networkPredictor,
  networkScoreModel, type MlpConfig,
} from '../../src/models/mlp.js';

beforeAll(async () => {
  await initEngine();
});

const small: MlpConfig = { dim: 3, hidden: 16, depth: 2, embDim: 8, activation: 'silu' };

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]) / (1e-3 + Math.abs(want[i])));
  return e;
}

describe('MLP parameters', () => {
  it('default is 3 hidden layers x 128, SiLU, PyTorch layout', () => {
    const cfg = defaultMlpConfig(2);
    expect(cfg).toMatchObject({ dim: 2, hidden: 128, depth: 3, activation: 'silu' });
    const specs = mlpTensorSpecs(cfg);
    expect(specs.map((s) => s.name)).toEqual([
      'layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias',
      'layers.2.weight', 'layers.2.bias', 'layers.3.weight', 'layers.3.bias',
    ]);
    expect(specs[0].shape).toEqual([128, 2 + cfg.embDim]);
    expect(specs[6].shape).toEqual([2, 128]);
    expect(mlpParamCount(cfg)).toBe(128 * (2 + cfg.embDim) + 128 + 2 * (128 * 128 + 128) + 2 * 128 + 2);
  });

  it('init is deterministic from the key, within PyTorch bounds, and differs between keys', () => {
    const a = initMlp(keyFromSeed(7), small);
    const b = initMlp(keyFromSeed(7), small);
    const c = initMlp(keyFromSeed(8), small);
    for (const [name, t] of Object.entries(a)) {
      expect(b[name].data).toEqual(t.data);
      const fanIn = name.startsWith('layers.0') ? small.dim + small.embDim : small.hidden;
      for (const v of t.data) expect(Math.abs(v)).toBeLessThanOrEqual(1 / Math.sqrt(fanIn));
    }
    expect(c['layers.0.weight'].data).not.toEqual(a['layers.0.weight'].data);
  });

  it('rejects bad configurations', () => {
    expect(() => mlpTensorSpecs({ ...small, embDim: 7 })).toThrow(/even/);
    expect(() => mlpTensorSpecs({ ...small, depth: 0 })).toThrow(/depth/);
  });
});

describe('compiled forward', () => {
  it('matches the float64 reference (float32 tolerance), per-row and scalar t', () => {
    const params = initMlp(keyFromSeed(1), small);
    const net = networkPredictor(small, params);
    const x = normalBatch(keyFromSeed(2), 37, 3);
    const t = uniform(keyFromSeed(3), 37, 0.001, 1);
    expect(maxRelErr(net.predict(x, t).data, mlpForwardReference(small, params, x, t).data)).toBeLessThan(1e-3);
    const y = net.predict(x, 0.3);
    expect(maxRelErr(y.data, mlpForwardReference(small, params, x, 0.3).data)).toBeLessThan(1e-3);
    expect(y.data).toBeInstanceOf(Float64Array);
    net.dispose();
    expect(() => net.predict(x, 0.3)).toThrow(/dispose/);
  });

  it('matches the reference above the low-dimension path too (dim 6 uses a matmul for x)', () => {
    const cfg: MlpConfig = { ...small, dim: 6 };
    const params = initMlp(keyFromSeed(9), cfg);
    const net = networkPredictor(cfg, params);
    const x = normalBatch(keyFromSeed(10), 21, 6);
    const t = uniform(keyFromSeed(11), 21, 0.001, 1);
    expect(maxRelErr(net.predict(x, t).data, mlpForwardReference(cfg, params, x, t).data)).toBeLessThan(1e-3);
    expect(maxRelErr(net.predict(x, 0.7).data, mlpForwardReference(cfg, params, x, 0.7).data)).toBeLessThan(1e-3);
    net.dispose();
  });

  for (const dim of [3, 6]) {
    it(`inputScale / outputScale: outputScale f(x / inputScale), compiled and reference agree (dim ${dim})`, () => {
      const plain: MlpConfig = { ...small, dim };
      const scaled: MlpConfig = { ...plain, inputScale: 50, outputScale: 0.02 };
      const params = initMlp(keyFromSeed(14), plain);
      const x = normalBatch(keyFromSeed(15), 25, dim);
      for (let i = 0; i < x.data.length; i++) x.data[i] *= 40; // data coordinates: GMM-40's range
      const t = uniform(keyFromSeed(16), 25, 0.001, 1);
      const inside = mlpForwardReference(plain, params, makeBatch(x.n, dim, x.data.map((v) => v / 50)), t);
      const want = mlpForwardReference(scaled, params, x, t);
      for (let i = 0; i < want.data.length; i++) expect(want.data[i]).toBeCloseTo(0.02 * inside.data[i], 12);
      const net = networkPredictor(scaled, params);
      expect(maxRelErr(net.predict(x, t).data, want.data)).toBeLessThan(1e-3);
      expect(maxRelErr(net.predict(x, 0.4).data, mlpForwardReference(scaled, params, x, 0.4).data)).toBeLessThan(1e-3);
      net.dispose();
    });
  }

  it('rejects scales that are not finite and positive', () => {
    for (const bad of [0, -1, NaN, Infinity]) {
      expect(() => mlpTensorSpecs({ ...small, inputScale: bad })).toThrow(/inputScale must be a finite number > 0/);
      expect(() => mlpTensorSpecs({ ...small, outputScale: bad })).toThrow(/outputScale must be a finite number > 0/);
    }
  });

  it('any batch size: rows do not depend on padding or chunking', () => {
    expect([1, 8, 9, 256, 257, 2048].map(bucketSize)).toEqual([8, 8, 16, 256, 512, 2048]);
    const params = initMlp(keyFromSeed(1), small);
    const net = networkPredictor(small, params);
    const x = normalBatch(keyFromSeed(4), 2100, 3); // two full chunks of 1024 + 52 rows
    const t = uniform(keyFromSeed(5), 2100, 0.001, 1);
    const all = net.predict(x, t);
    expect(all.n).toBe(2100);
    expect(all.dim).toBe(3);
    for (const i of [0, 1000, 2047, 2048, 2099]) {
      const one = net.predict(makeBatch(1, 3, x.data.slice(3 * i, 3 * i + 3)), Float64Array.of(t[i]));
      for (let j = 0; j < 3; j++) expect(one.data[j]).toBeCloseTo(all.data[3 * i + j], 5);
    }
    expect(net.predict(makeBatch(0, 3), 0.5).n).toBe(0);
    expect(() => net.predict(makeBatch(2, 2), 0.5)).toThrow(/dimension 3/);
    expect(() => net.predict(x, new Float64Array(5))).toThrow(/times/);
    net.dispose();
  });
});

describe('network as ScoreModel', () => {
  const sde = new VPSDE();
  const params = initMlp(keyFromSeed(11), small);
  const x = normalBatch(keyFromSeed(12), 20, 3);
  const t = uniform(keyFromSeed(13), 20, 0.01, 1);

  it("'noise': score = -eps_hat / sigma_t, by hand", () => {
    const model = networkScoreModel(small, params, 'noise', sde);
    const eps = mlpForwardReference(small, params, x, t);
    const s = model.score(x, t);
    expect(s.n).toBe(20);
    expect(s.dim).toBe(3);
    const want = eps.data.map((e, k) => -e / sde.sigma(t[Math.floor(k / 3)]));
    expect(maxRelErr(s.data, want)).toBeLessThan(1e-3);
    model.dispose();
  });

  it("'mean': score = (alpha_t x0_hat - x) / sigma_t^2; 'score': the output itself", () => {
    const mean = networkScoreModel(small, params, 'mean', sde);
    const x0 = mlpForwardReference(small, params, x, 0.4);
    const want = x0.data.map((v, k) => (sde.alpha(0.4) * v - x.data[k]) / sde.sigma2(0.4));
    expect(maxRelErr(mean.score(x, 0.4).data, want)).toBeLessThan(1e-3);
    expect(maxRelErr(mean.score(x, 0.4).data, scoreFromMean(x0, x, sde, 0.4).data)).toBeLessThan(1e-3);
    const score = networkScoreModel(small, params, 'score', sde);
    expect(maxRelErr(score.score(x, t).data, mlpForwardReference(small, params, x, t).data)).toBeLessThan(1e-3);
    mean.dispose();
    score.dispose();
  });
});
