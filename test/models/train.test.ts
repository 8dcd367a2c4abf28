/**
 * The trainer: gradient against finite differences of a float64 reference, the wiring of Adam,
 * clipping and EMA in the compiled step, the NaN guard, exact resumption, determinism, memory
 * over many steps, and that training on a 2-D Gaussian learns it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Batch } from '../../src/core/batch.js';
import { initEngine } from '../../src/core/engine.js';
import { foldIn, keyFromSeed, normal, normalBatch, type Key } from '../../src/core/key.js';
import { sampleReverseSDE } from '../../src/diffusion/em.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { diffusionCoefficients, lossReference, prepareBatch } from '../../src/models/loss.js';
import { initMlp, mlpForwardReference, networkScoreModel, type MlpConfig } from '../../src/models/mlp.js';
import {
  createTrainer, defaultTrainConfig, initTrainState, lossAndGradient, type TrainConfig, type TrainState,
} from '../../src/models/train.js';
import type { Tensors } from '../../src/models/tensors.js';

beforeAll(async () => {
  await initEngine();
});

const small: MlpConfig = { dim: 2, hidden: 16, depth: 2, embDim: 8, activation: 'silu' };

function cfgWith(over: Partial<TrainConfig>): TrainConfig {
  return { ...defaultTrainConfig(), ...over };
}

/** A 2-D Gaussian N(mu, L L^T) batch drawn from `key`. */
const MU = [1, -0.5];
const L = [[1, 0], [0.6, Math.sqrt(0.8 - 0.36)]]; // cov [[1, 0.6], [0.6, 0.8]]
function gaussianBatch(key: Key, n: number): Batch {
  const z = normal(key, 2 * n);
  const data = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    data[2 * i] = MU[0] + L[0][0] * z[2 * i];
    data[2 * i + 1] = MU[1] + L[1][0] * z[2 * i] + L[1][1] * z[2 * i + 1];
  }
  return { n, dim: 2, data };
}

function expectSameTensors(a: Tensors, b: Tensors): void {
  expect(Object.keys(a)).toEqual(Object.keys(b));
  for (const k of Object.keys(a)) expect(Buffer.from(a[k].data.buffer).equals(Buffer.from(b[k].data.buffer))).toBe(true);
}

function expectSameState(a: TrainState, b: TrainState): void {
  expect(a.step).toBe(b.step);
  expectSameTensors(a.params, b.params);
  expectSameTensors(a.ema, b.ema);
  expectSameTensors(a.adamM, b.adamM);
  expectSameTensors(a.adamV, b.adamV);
}

describe('loss gradient', () => {
  it('matches finite differences for a 6-D network too (input layer by matmul)', () => {
    const cfg = cfgWith({ parametrisation: 'noise', weighting: 'sigma2', tMin: 0.05 });
    const net6: MlpConfig = { ...small, dim: 6 };
    const params = initMlp(keyFromSeed(24), net6);
    const b = prepareBatch(cfg, diffusionCoefficients(cfg), normalBatch(keyFromSeed(25), 12, 6), keyFromSeed(26));
    const refLoss = (p: Tensors): number => lossReference(b, mlpForwardReference(net6, p, { n: b.n, dim: 6, data: b.xt }, b.t).data);
    const { grad } = lossAndGradient(net6, params, b);
    let gscale = 0;
    for (const t of Object.values(grad)) for (const v of t.data) gscale = Math.max(gscale, Math.abs(v));
    for (const [name, i] of [['layers.0.weight', 3], ['layers.0.weight', 40], ['layers.0.bias', 1]] as [string, number][]) {
      const plus = structuredClone(params);
      const minus = structuredClone(params);
      plus[name].data[i] += 1e-3;
      minus[name].data[i] -= 1e-3;
      const fd = (refLoss(plus) - refLoss(minus)) / (plus[name].data[i] - minus[name].data[i]);
      expect(Math.abs(grad[name].data[i] - fd)).toBeLessThan(2e-3 * Math.abs(fd) + 1e-3 * gscale);
    }
  });

  for (const dim of [2, 6]) {
    it(`matches finite differences with inputScale / outputScale (iDEM's coordinates; dim ${dim})`, () => {
      const cfg = cfgWith({ parametrisation: 'score', weighting: 'sigma2', tMin: 0.05 });
      const net: MlpConfig = { ...small, dim, inputScale: 50, outputScale: 0.02 };
      const params = initMlp(keyFromSeed(27), net);
      const x0 = normalBatch(keyFromSeed(28), 12, dim);
      for (let i = 0; i < x0.data.length; i++) x0.data[i] *= 30;
      const b = prepareBatch(cfg, diffusionCoefficients(cfg), x0, keyFromSeed(29));
      const refLoss = (p: Tensors): number => lossReference(b, mlpForwardReference(net, p, { n: b.n, dim, data: b.xt }, b.t).data);
      const { loss, grad } = lossAndGradient(net, params, b);
      expect(Math.abs(loss - refLoss(params)) / refLoss(params)).toBeLessThan(1e-4);
      let gscale = 0;
      for (const t of Object.values(grad)) for (const v of t.data) gscale = Math.max(gscale, Math.abs(v));
      for (const [name, i] of [['layers.0.weight', 0], ['layers.0.weight', 1], ['layers.0.bias', 3], ['layers.2.weight', 5]] as [string, number][]) {
        const plus = structuredClone(params);
        const minus = structuredClone(params);
        plus[name].data[i] += 1e-3;
        minus[name].data[i] -= 1e-3;
        const fd = (refLoss(plus) - refLoss(minus)) / (plus[name].data[i] - minus[name].data[i]);
        expect(Math.abs(grad[name].data[i] - fd), `${name}[${i}]`).toBeLessThan(2e-3 * Math.abs(fd) + 1e-3 * gscale);
      }
    });
  }

  it('a scaled MLP trains on jax-js: onnxruntime refuses it by name, auto falls back', async () => {
    const net: MlpConfig = { ...small, inputScale: 50, outputScale: 0.02 };
    const train = defaultTrainConfig();
    const state = initTrainState(keyFromSeed(30), net, train);
    await expect(createTrainer(net, train, state, { engine: 'onnxruntime' })).rejects.toThrow(/without inputScale\/outputScale; use the jax engine/);
    const tr = await createTrainer(net, train, state, { engine: 'auto' });
    expect(tr.engine ?? 'jax').toBe('jax');
    tr.dispose?.();
  });

  for (const parametrisation of ['noise', 'mean', 'score'] as const) {
    it(`matches central finite differences of the float64 reference loss ('${parametrisation}', likelihood weighting)`, () => {
      const cfg = cfgWith({ parametrisation, weighting: 'likelihood', tMin: 0.05 });
      const params = initMlp(keyFromSeed(21), small);
      const b = prepareBatch(cfg, diffusionCoefficients(cfg), gaussianBatch(keyFromSeed(22), 16), keyFromSeed(23));
      const refLoss = (p: Tensors): number => lossReference(b, mlpForwardReference(small, p, { n: b.n, dim: 2, data: b.xt }, b.t).data);
      const { loss, grad } = lossAndGradient(small, params, b);
      expect(Math.abs(loss - refLoss(params)) / refLoss(params)).toBeLessThan(1e-4);
      let gscale = 0;
      for (const t of Object.values(grad)) for (const v of t.data) gscale = Math.max(gscale, Math.abs(v));
      const picks: [string, number][] = [
        ['layers.0.weight', 0], ['layers.0.weight', 13], ['layers.0.bias', 5], ['layers.1.weight', 100],
        ['layers.1.bias', 2], ['layers.2.weight', 17], ['layers.2.bias', 1],
      ];
      for (const [name, i] of picks) {
        const plus = structuredClone(params);
        const minus = structuredClone(params);
        plus[name].data[i] += 1e-3;
        minus[name].data[i] -= 1e-3;
        const h = plus[name].data[i] - minus[name].data[i]; // the float32-representable step
        const fd = (refLoss(plus) - refLoss(minus)) / h;
        // Float32 forward/backward against a float64 O(h^2) difference: 1e-3 relative to the
        // largest gradient entry (tight enough to catch a missing factor or a wrong sign).
        expect(Math.abs(grad[name].data[i] - fd), `${name}[${i}]: engine ${grad[name].data[i]}, fd ${fd}`)
          .toBeLessThan(2e-3 * Math.abs(fd) + 1e-3 * gscale);
      }
    });
  }
});

describe('training step', () => {
  it('first step is Adam (-lr sign g), EMA d_0 = 0.1, moments (1-b) g and (1-b2) g^2; gradNorm reported', async () => {
    const cfg = cfgWith({ clipNorm: Infinity, lr: 0.01, warmupSteps: 0, weighting: 'uniform' });
    const state = initTrainState(keyFromSeed(31), small, cfg);
    const x0 = gaussianBatch(keyFromSeed(32), 64);
    const key = keyFromSeed(33);
    const { grad } = lossAndGradient(small, state.params, prepareBatch(cfg, diffusionCoefficients(cfg), x0, key));
    const tr = await createTrainer(small, cfg, state);
    const r = tr.step(x0, key);
    expect(r.skipped).toBe(false);
    expect(r.step).toBe(1);
    expect(r.lr).toBe(0.01);
    let n2 = 0;
    for (const t of Object.values(grad)) for (const v of t.data) n2 += v * v;
    expect(r.gradNorm).toBeCloseTo(Math.sqrt(n2), 4);
    const s = tr.snapshot();
    expect(s.step).toBe(1);
    for (const name of Object.keys(grad)) {
      const g = grad[name].data;
      for (let i = 0; i < g.length; i++) {
        const p0 = state.params[name].data[i];
        const p1 = s.params[name].data[i];
        // Bias-corrected first Adam step: m_hat = g, v_hat = g^2, update = -lr g / (|g| + eps).
        expect(p1 - p0).toBeCloseTo((-0.01 * g[i]) / (Math.abs(g[i]) + cfg.adam.eps), 5);
        expect(s.ema[name].data[i]).toBeCloseTo(0.1 * p0 + 0.9 * p1, 6);
        expect(s.adamM[name].data[i]).toBeCloseTo(0.1 * g[i], 6);
        expect(s.adamV[name].data[i]).toBeCloseTo(0.001 * g[i] * g[i], 8);
      }
    }
    tr.dispose?.();
  });

  it('clips the gradient by its global norm before Adam', async () => {
    const cfg = cfgWith({ clipNorm: 0.01, warmupSteps: 0 });
    const state = initTrainState(keyFromSeed(31), small, cfg);
    const x0 = gaussianBatch(keyFromSeed(32), 64);
    const { grad } = lossAndGradient(small, state.params, prepareBatch(cfg, diffusionCoefficients(cfg), x0, keyFromSeed(34)));
    const tr = await createTrainer(small, cfg, state);
    const r = tr.step(x0, keyFromSeed(34));
    expect(r.gradNorm).toBeGreaterThan(0.01);
    const s = tr.snapshot();
    for (const name of Object.keys(grad)) {
      for (let i = 0; i < grad[name].data.length; i += 7) {
        expect(s.adamM[name].data[i]).toBeCloseTo((0.1 * grad[name].data[i] * 0.01) / r.gradNorm, 7);
      }
    }
  });

  it('NaN in the data: the step is skipped, reported, and the state is unchanged', async () => {
    const cfg = cfgWith({ batch: 32 });
    const tr = await createTrainer(small, cfg, initTrainState(keyFromSeed(41), small, cfg));
    for (let k = 0; k < 3; k++) tr.step(gaussianBatch(foldIn(keyFromSeed(42), k), 32), foldIn(keyFromSeed(43), k));
    const before = tr.snapshot();
    const bad = gaussianBatch(keyFromSeed(44), 32);
    bad.data[17] = NaN;
    const r = tr.step(bad, keyFromSeed(45));
    expect(r.skipped).toBe(true);
    expect(r.reason).toMatch(/non-finite loss/);
    expect(r.step).toBe(3);
    expectSameState(tr.snapshot(), before);
    const inf = gaussianBatch(keyFromSeed(44), 32);
    inf.data[3] = Infinity;
    expect(tr.step(inf, keyFromSeed(46)).skipped).toBe(true);
    expectSameState(tr.snapshot(), before);
    const ok = tr.step(gaussianBatch(keyFromSeed(47), 32), keyFromSeed(48));
    expect(ok.skipped).toBe(false);
    expect(ok.step).toBe(4);
  });

  it('resumes exactly: 10 + snapshot + new trainer + 10 equals 20 straight (bit for bit)', async () => {
    const cfg = cfgWith({ batch: 32, warmupSteps: 5, totalSteps: 20, parametrisation: 'mean', weighting: 'sigma2' });
    const init = initTrainState(keyFromSeed(51), small, cfg);
    const dataKey = keyFromSeed(52);
    const noiseKey = keyFromSeed(53);
    const run = (tr: { step(x: Batch, k: Key): unknown }, from: number, to: number): void => {
      for (let k = from; k < to; k++) tr.step(gaussianBatch(foldIn(dataKey, k), 32), foldIn(noiseKey, k));
    };
    const straight = await createTrainer(small, cfg, init);
    run(straight, 0, 20);
    const first = await createTrainer(small, cfg, init);
    run(first, 0, 10);
    const mid = first.snapshot();
    first.dispose?.();
    const second = await createTrainer(small, cfg, structuredClone(mid));
    run(second, 10, 20);
    expectSameState(second.snapshot(), straight.snapshot());
  });

  it('is deterministic: same key, same parameters; another noise key, other parameters', async () => {
    const cfg = cfgWith({ batch: 16, diffusion: { kind: 'ddpm', steps: 1000, betaStart: 1e-4, betaEnd: 0.02 } });
    const go = async (noise: number): Promise<TrainState> => {
      const tr = await createTrainer(small, cfg, initTrainState(keyFromSeed(61), small, cfg));
      for (let k = 0; k < 5; k++) tr.step(gaussianBatch(foldIn(keyFromSeed(62), k), 16), foldIn(keyFromSeed(noise), k));
      return tr.snapshot();
    };
    const a = await go(63);
    expectSameState(a, await go(63));
    expect(a.params['layers.0.weight'].data).not.toEqual((await go(64)).params['layers.0.weight'].data);
  });

  it('does not leak: 2,000 steps keep the process memory flat', async () => {
    const cfg = cfgWith({ batch: 64 });
    const mlp: MlpConfig = { dim: 2, hidden: 128, depth: 3, embDim: 32, activation: 'silu' };
    const tr = await createTrainer(mlp, cfg, initTrainState(keyFromSeed(71), mlp, cfg));
    const x0 = gaussianBatch(keyFromSeed(72), 64);
    for (let k = 0; k < 200; k++) tr.step(x0, foldIn(keyFromSeed(73), k));
    tr.snapshot();
    const rss0 = process.memoryUsage().rss;
    for (let k = 200; k < 2000; k++) {
      tr.step(x0, foldIn(keyFromSeed(73), k));
      if (k % 500 === 0) tr.snapshot();
    }
    const grown = process.memoryUsage().rss - rss0;
    // One leaked copy of the state per step would be 4 x 150 KB x 1,800 steps ~ 1 GB.
    expect(grown).toBeLessThan(60 * 2 ** 20);
    tr.dispose?.();
  });

  it('rejects data of the wrong dimension and bad configurations', async () => {
    const cfg = cfgWith({});
    const tr = await createTrainer(small, cfg, initTrainState(keyFromSeed(1), small, cfg));
    expect(() => tr.step(normalBatch(keyFromSeed(2), 4, 3), keyFromSeed(3))).toThrow(/dimension 3/);
    expect(() => initTrainState(keyFromSeed(1), small, cfgWith({ weighting: 'snr' }))).toThrow(/weighting/);
    await expect(createTrainer(small, cfg, initTrainState(keyFromSeed(1), { ...small, hidden: 8 }, cfg))).rejects.toThrow(/shape/);
  });
});

describe('learning', () => {
  it('a short run on a 2-D Gaussian lowers the loss and its reverse-SDE samples match mean and covariance', async () => {
    const mlp: MlpConfig = { dim: 2, hidden: 64, depth: 3, embDim: 16, activation: 'silu' };
    const steps = 1500;
    const cfg = cfgWith({ batch: 256, lr: 3e-3, warmupSteps: 50, totalSteps: steps, emaDecay: 0.995 });
    const tr = await createTrainer(mlp, cfg, initTrainState(keyFromSeed(81), mlp, cfg));
    const losses: number[] = [];
    for (let k = 0; k < steps; k++) {
      const r = tr.step(gaussianBatch(foldIn(keyFromSeed(82), k), 256), foldIn(keyFromSeed(83), k));
      expect(r.skipped).toBe(false);
      losses.push(r.loss);
    }
    const avg = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
    const first = avg(losses.slice(0, 20));
    const last = avg(losses.slice(-100));
    expect(last).toBeLessThan(0.6 * first);

    const sde = new VPSDE();
    const model = networkScoreModel(mlp, tr.snapshot().ema, 'noise', sde);
    const n = 4000;
    const x = sampleReverseSDE(keyFromSeed(84), model, sde, { n, steps: 300 });
    const m = [0, 0];
    for (let i = 0; i < n; i++) for (let j = 0; j < 2; j++) m[j] += x.data[2 * i + j] / n;
    const c = [[0, 0], [0, 0]];
    for (let i = 0; i < n; i++) {
      for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) c[a][b] += ((x.data[2 * i + a] - m[a]) * (x.data[2 * i + b] - m[b])) / (n - 1);
    }
    // Sampling error of the moments at n = 4000 is ~0.02; the tolerance allows for model error.
    expect(Math.abs(m[0] - MU[0])).toBeLessThan(0.1);
    expect(Math.abs(m[1] - MU[1])).toBeLessThan(0.1);
    expect(Math.abs(c[0][0] - 1)).toBeLessThan(0.15);
    expect(Math.abs(c[0][1] - 0.6)).toBeLessThan(0.15);
    expect(Math.abs(c[1][1] - 0.8)).toBeLessThan(0.15);
    model.dispose();
    tr.dispose?.();
  });
});

describe('numerical safety of the activation', () => {
  it('a unit with a huge negative pre-activation gives a finite gradient (no NaN from exp overflow in SiLU)', async () => {
    const cfg = cfgWith({ clipNorm: 1, weighting: 'uniform' });
    const state = initTrainState(keyFromSeed(41), small, cfg);
    // First-layer bias of unit 0 at -1000: its pre-activation is ~ -1000 for every input. jax-js's
    // plain silu, z / (1 + exp(-z)), has a NaN gradient there (exp(1000) overflows float32).
    const b0 = Object.keys(state.params).find((k) => k.startsWith('layers.0.bias'))!;
    state.params[b0].data[0] = -1000;
    const tr = await createTrainer(small, cfg, state);
    const r = tr.step(gaussianBatch(keyFromSeed(42), 64), keyFromSeed(43));
    expect(r.skipped, r.reason).toBe(false);
    expect(Number.isFinite(r.gradNorm)).toBe(true);
    expect(Number.isFinite(r.loss)).toBe(true);
    tr.dispose?.();
  });
});
