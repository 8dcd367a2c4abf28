/**
 * The trainer on the EGNN (architecture-generic training): the loss gradient through the
 * generic path against finite differences of the float64 reference, exact resumption, and a
 * short run with `stepPrepared` on a tiny particle problem whose Bayes-optimal loss is computed
 * by quadrature, so "the loss went down" is measured against the trivial predictors, the best
 * linear predictor and the optimum.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Batch } from '../../src/core/batch.js';
import { initEngine } from '../../src/core/engine.js';
import { foldIn, keyFromSeed, permutation, uniform, type Key } from '../../src/core/key.js';
import { architecture, type NetworkConfig } from '../../src/models/architecture.js';
import { egnnForwardReference, initEgnn } from '../../src/models/egnn.js';
import { diffusionCoefficients, lossReference, prepareBatch, type PreparedBatch } from '../../src/models/loss.js';
import { createTrainer, defaultTrainConfig, initTrainState, lossAndGradient, type TrainConfig, type TrainState } from '../../src/models/train.js';
import type { Tensors } from '../../src/models/tensors.js';

beforeAll(async () => {
  await initEngine();
});

const egnn: NetworkConfig = { kind: 'egnn', particles: 4, spaceDim: 2, hidden: 16, layers: 2, embDim: 8, activation: 'silu', output: 'position' };

/** DW-4's training settings in kind (SPEC §3: mean parametrisation, constant weight), scaled down. */
function meanCfg(over: Partial<TrainConfig> = {}): TrainConfig {
  return { ...defaultTrainConfig(), parametrisation: 'mean', weighting: 'uniform', timeSampling: 'uniform', tMin: 0.01, ...over };
}

/** A square's corners, centred; side 4 as DW-4's preferred distance. */
const SQUARE = [[2, 2], [-2, 2], [-2, -2], [2, -2]];

/**
 * Squares of side 4 at a uniform random angle, corners in random order: a CoM-free distribution
 * invariant under rotations, reflections and permutations (so its posterior mean is equivariant,
 * representable by the network).
 */
function squares(key: Key, n: number): Batch {
  const theta = uniform(foldIn(key, 0), n, 0, 2 * Math.PI);
  const data = new Float64Array(8 * n);
  for (let r = 0; r < n; r++) {
    const perm = permutation(foldIn(key, r + 1), 4);
    const c = Math.cos(theta[r]);
    const s = Math.sin(theta[r]);
    for (let i = 0; i < 4; i++) {
      const [u, v] = SQUARE[perm[i]];
      data[8 * r + 2 * i] = c * u - s * v;
      data[8 * r + 2 * i + 1] = s * u + c * v;
    }
  }
  return { n, dim: 8, data };
}

const PERMS: number[][] = [];
(function perms(prefix: number[]): void {
  if (prefix.length === 4) PERMS.push(prefix);
  for (let i = 0; i < 4; i++) if (!prefix.includes(i)) perms([...prefix, i]);
})([]);

/**
 * `E[x0 | x_t]` for the `squares` distribution: x0 = R_theta S_pi, theta uniform, pi uniform; the
 * posterior weight of (theta, pi) is `exp(-|x_t - alpha x0|^2 / (2 sigma^2))`, summed on a
 * 720-point grid in theta (the integrand is smooth and periodic: the trapezoid rule converges
 * fast) and over the 24 orderings.
 */
function posteriorMean(b: PreparedBatch, alpha: (t: number) => number, sigma: (t: number) => number): Float64Array {
  const G = 720;
  // The candidates x0 = R_theta S_pi, [G * 24, 8], shared by all rows.
  const cands = new Float64Array(G * PERMS.length * 8);
  let k = 0;
  for (let g = 0; g < G; g++) {
    const c = Math.cos((2 * Math.PI * g) / G);
    const s = Math.sin((2 * Math.PI * g) / G);
    for (const p of PERMS) {
      for (let i = 0; i < 4; i++) {
        const [u, v] = SQUARE[p[i]];
        cands[k++] = c * u - s * v;
        cands[k++] = s * u + c * v;
      }
    }
  }
  const m = cands.length / 8;
  const out = new Float64Array(b.n * 8);
  const logw = new Float64Array(m);
  for (let r = 0; r < b.n; r++) {
    const a = alpha(b.t[r]);
    const s2 = sigma(b.t[r]) ** 2;
    let max = -Infinity;
    for (let q = 0; q < m; q++) {
      let d = 0;
      for (let j = 0; j < 8; j++) d += (b.xt[8 * r + j] - a * cands[8 * q + j]) ** 2;
      logw[q] = -d / (2 * s2);
      max = Math.max(max, logw[q]);
    }
    let z = 0;
    for (let q = 0; q < m; q++) {
      const w = Math.exp(logw[q] - max);
      z += w;
      for (let j = 0; j < 8; j++) out[8 * r + j] += w * cands[8 * q + j];
    }
    for (let j = 0; j < 8; j++) out[8 * r + j] /= z;
  }
  return out;
}

/** Each row of `[n, 8]` (4 particles in 2-D) without its centre of mass. */
function comFree(x: Float64Array): Float64Array {
  const out = x.slice();
  for (let r = 0; r < x.length / 8; r++) {
    for (let a = 0; a < 2; a++) {
      let c = 0;
      for (let i = 0; i < 4; i++) c += x[8 * r + 2 * i + a] / 4;
      for (let i = 0; i < 4; i++) out[8 * r + 2 * i + a] -= c;
    }
  }
  return out;
}

function expectSameTensors(a: Tensors, b: Tensors): void {
  expect(Object.keys(a)).toEqual(Object.keys(b));
  for (const k of Object.keys(a)) expect(Buffer.from(a[k].data.buffer).equals(Buffer.from(b[k].data.buffer)), k).toBe(true);
}

function expectSameState(a: TrainState, b: TrainState): void {
  expect(a.step).toBe(b.step);
  expectSameTensors(a.params, b.params);
  expectSameTensors(a.ema, b.ema);
  expectSameTensors(a.adamM, b.adamM);
  expectSameTensors(a.adamV, b.adamV);
}

describe('EGNN through the generic trainer', () => {
  it('the architecture: kind, dimension, specs, init from the key', () => {
    const arch = architecture(egnn);
    expect(arch.kind).toBe('egnn');
    expect(arch.dim).toBe(8);
    expect(arch.config).toEqual(egnn);
    expect(arch.init(keyFromSeed(3))).toEqual(initEgnn(keyFromSeed(3), egnn as never));
    expect(architecture({ dim: 2, hidden: 8, depth: 1, embDim: 4, activation: 'silu' }).config.kind).toBe('mlp');
    expect(() => architecture({ kind: 'transformer' } as never)).toThrow(/unknown network kind/);
  });

  it('loss gradient matches central finite differences of the float64 reference loss', () => {
    const cfg = meanCfg();
    const params = initEgnn(keyFromSeed(1), egnn as never);
    // Make the coordinate path carry weight (at the EDM init its last layer is ~1e-4).
    for (const [name, v] of Object.entries(params)) if (name.endsWith('coord_mlp.2.weight')) for (let i = 0; i < v.data.length; i++) v.data[i] *= 1000;
    const b = prepareBatch(cfg, diffusionCoefficients(cfg), squares(keyFromSeed(2), 12), keyFromSeed(3));
    const refLoss = (p: Tensors): number => lossReference(b, egnnForwardReference(egnn as never, p, { n: b.n, dim: 8, data: b.xt }, b.t).data);
    const { loss, grad } = lossAndGradient(egnn, params, b);
    expect(Math.abs(loss - refLoss(params)) / refLoss(params)).toBeLessThan(1e-4);
    let gscale = 0;
    for (const t of Object.values(grad)) for (const v of t.data) gscale = Math.max(gscale, Math.abs(v));
    const picks: [string, number][] = [
      ['embedding.weight', 5], ['embedding.bias', 3], ['layers.0.edge_mlp.0.weight', 32], ['layers.0.edge_mlp.0.weight', 5 * 33 + 32],
      ['layers.0.edge_mlp.2.bias', 4], ['layers.0.coord_mlp.2.weight', 7], ['layers.0.node_mlp.0.weight', 40], ['layers.1.edge_mlp.0.bias', 9],
      ['layers.1.coord_mlp.0.weight', 100], ['layers.1.coord_mlp.2.weight', 2],
    ];
    for (const [name, i] of picks) {
      const plus = structuredClone(params);
      const minus = structuredClone(params);
      plus[name].data[i] += 1e-3;
      minus[name].data[i] -= 1e-3;
      const fd = (refLoss(plus) - refLoss(minus)) / (plus[name].data[i] - minus[name].data[i]);
      expect(Math.abs(grad[name].data[i] - fd), `${name}[${i}]: engine ${grad[name].data[i]}, fd ${fd}`)
        .toBeLessThan(2e-3 * Math.abs(fd) + 1e-3 * gscale);
    }
  });

  it('resumes exactly: 5 + snapshot + new trainer + 5 equals 10 straight (bit for bit)', async () => {
    const cfg = meanCfg({ batch: 16, warmupSteps: 2, totalSteps: 10 });
    const init = initTrainState(keyFromSeed(5), egnn, cfg);
    const run = (tr: { step(x: Batch, k: Key): unknown }, from: number, to: number): void => {
      for (let k = from; k < to; k++) tr.step(squares(foldIn(keyFromSeed(6), k), 16), foldIn(keyFromSeed(7), k));
    };
    const straight = await createTrainer(egnn, cfg, init);
    run(straight, 0, 10);
    const first = await createTrainer(egnn, cfg, init);
    run(first, 0, 5);
    const mid = first.snapshot();
    first.dispose?.();
    const second = await createTrainer(egnn, cfg, structuredClone(mid));
    run(second, 5, 10);
    expectSameState(second.snapshot(), straight.snapshot());
    straight.dispose?.();
    second.dispose?.();
  });

  it('learns: a few hundred stepPrepared steps beat the best linear predictor and come close to the Bayes-optimal loss', async () => {
    const steps = 250;
    const n = 64;
    const cfg = meanCfg({ batch: n, lr: 3e-3, warmupSteps: 20, totalSteps: steps, clipNorm: 1, emaDecay: 0.99 });
    const coef = diffusionCoefficients(cfg);
    const net: NetworkConfig = { ...egnn, hidden: 32 };
    const state = initTrainState(keyFromSeed(11), net, cfg);
    const tr = await createTrainer(net, cfg, state);

    // A held-out batch (the same for every predictor, so the comparisons are paired) and the
    // reference losses on it: the untrained network (~ the CoM-free x_t, its phi_x starts near
    // 0), the data mean 0, the best linear predictor, and the Bayes-optimal E[x0 | x_t].
    const evalBatch = prepareBatch(cfg, coef, squares(keyFromSeed(12), 512), keyFromSeed(13));
    const lossAt = (p: Tensors): number => lossAndGradient(net, p, evalBatch).loss;
    const initial = lossAt(state.params);
    const zero = lossReference(evalBatch, new Float64Array(evalBatch.n * 8));
    const optimal = lossReference(evalBatch, posteriorMean(evalBatch, coef.alpha, coef.sigma));
    // The best linear predictor is Bayes-optimal for a Gaussian with the data's covariance, which
    // by the symmetries is isotropic in the 6-D CoM-free subspace (|x0|^2 / 6 = 32/6 per
    // direction): x0_hat = alpha v / (alpha^2 v + sigma^2) P x_t, P the CoM projection.
    const v = 32 / 6;
    const linear = lossReference(evalBatch, comFree(evalBatch.xt).map((x, j) => {
      const t = evalBatch.t[Math.floor(j / 8)];
      const a = coef.alpha(t);
      return (x * a * v) / (a * a * v + coef.sigma(t) ** 2);
    }));
    // Measured: initial 2.62, zero 4.00, linear 2.38, optimal 2.25; trained 2.26.
    expect(linear).toBeLessThan(Math.min(initial, zero));
    expect(optimal).toBeLessThan(linear - 0.05); // something to learn beyond shrinking x_t

    for (let k = 0; k < steps; k++) {
      const r = tr.stepPrepared(prepareBatch(cfg, coef, squares(foldIn(keyFromSeed(14), k), n), foldIn(keyFromSeed(15), k)));
      expect(r.skipped, r.reason).toBe(false);
    }
    const trained = lossAt(tr.snapshot().ema);
    const msg = `initial ${initial}, zero ${zero}, linear ${linear}, optimal ${optimal}, trained ${trained}`;
    // Closes at least 70% of the gap from the best linear predictor to the optimum.
    expect(trained, msg).toBeLessThan(optimal + 0.3 * (linear - optimal));
    expect(trained, msg).toBeGreaterThan(optimal - 0.02); // the optimum bounds it (up to sampling noise)
    tr.dispose?.();
  });
});
