/**
 * The onnxruntime training step of the EGNN (`models/onnx-egnn-train-step.ts`: forward from
 * `egnn-onnx.ts`, backward by `core/onnx-autodiff.ts`, the shared loss and optimiser) against the
 * jax-js step (`lossAndGradient`, `JitTrainer` in `models/train.ts`): the graph's gradient equals
 * jax-js autodiff on three small EGNNs (particles/dimension/depth/output kind varied); 20 steps of
 * each engine from the same state and batches agree in reports, parameters, moments and EMA —
 * with the amortized trainer's settings (mean parametrisation, uniform weights, constant lr, no
 * warm-up), with clipping active, with a batch size that changes between steps (one graph, the
 * batch symbolic) and with a NaN step that is skipped leaving the state bit for bit; a snapshot
 * round trip continues bit for bit; `createTrainer` picks the engine.
 *
 * The networks are random EGNNs with phi_x's output layer scaled up (x 300, `random-egnn.ts`):
 * with EGNN's own init (gain 0.001) the coordinate updates are ~1e-4 and a wrong gradient
 * through them would hide under float32 rounding.
 *
 * Tolerances (float32 rounding): both engines compute in float32 from the same float32 inputs
 * with different kernels and summation orders (a gradient entry sums n P (P-1) edge terms over
 * several layers), so each differs from the exact value by a few hundred eps32 (6e-8) relative to
 * the gradient's scale; measured up to 1.2e-6 of each tensor's largest entry, bounded by 1e-4.
 * Over steps, see `compare`: Adam's normalised step carries rounding into the parameters.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { foldIn, keyFromSeed, normalBatch } from '../../src/core/key.js';
import { createOrtSession, onnxRuntimeAvailable } from '../../src/core/onnx-runtime.js';
import type { NetworkConfig } from '../../src/models/architecture.js';
import { egnnTensorSpecs, type EgnnConfig } from '../../src/models/egnn.js';
import { diffusionCoefficients, prepareBatch, type PreparedBatch } from '../../src/models/loss.js';
import { egnnTrainStepOnnxBytes } from '../../src/models/onnx-egnn-train-step.js';
import { flatLayoutOf, flattenTensors, HYPER_SIZE, unflattenTensors } from '../../src/models/onnx-step-graph.js';
import { createOrtTrainer } from '../../src/models/onnx-train-step.js';
import {
  createTrainer, defaultTrainConfig, initTrainState, lossAndGradient, type StepReport, type TrainConfig, type TrainState,
} from '../../src/models/train.js';
import type { Tensors } from '../../src/models/tensors.js';
import { expectReportsAgree, expectStateBitEqual, maxAbs, stateDiff } from './trainer-compare.js';
import { randomEgnn } from './random-egnn.js';

const hasOrt = onnxRuntimeAvailable();

beforeAll(async () => {
  await initEngine();
});

const egnn = (over: Partial<EgnnConfig> = {}): NetworkConfig => ({
  kind: 'egnn', particles: 4, spaceDim: 2, hidden: 16, layers: 2, embDim: 8, activation: 'silu', output: 'position', ...over,
});

/** The amortized trainer's TrainConfig shape (`innerTrainConfig`): constant lr, no warm-up, mean, uniform. */
function amortizedLike(over: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...defaultTrainConfig(), batch: 32, lr: 1e-3, warmupSteps: 0, totalSteps: 100, lrSchedule: 'constant',
    parametrisation: 'mean', weighting: 'uniform', clipNorm: Infinity, emaDecay: 0.999, ...over,
  };
}

/** Prepared batches of step k, DW-4-sized coordinates (N(0, 2^2) data). */
function batches(net: NetworkConfig & { kind: 'egnn' }, cfg: TrainConfig, steps: number, n = 32): PreparedBatch[] {
  const coef = diffusionCoefficients(cfg);
  const dim = net.particles * net.spaceDim;
  return Array.from({ length: steps }, (_, k) => {
    const x = normalBatch(foldIn(keyFromSeed(11), k), n, dim);
    return prepareBatch(cfg, coef, { ...x, data: x.data.map((v) => 2 * v) }, foldIn(keyFromSeed(12), k));
  });
}

/** Loss and flat-layout gradient from the step graph's `grad_out` (one run, fresh moments). */
function ortLossAndGradient(cfg: EgnnConfig, train: TrainConfig, params: Tensors, b: PreparedBatch): { loss: number; grad: Tensors } {
  const layout = flatLayoutOf(egnnTensorSpecs(cfg));
  const s = createOrtSession(egnnTrainStepOnnxBytes(cfg, train, { gradientOutput: true }), { threads: 1 });
  const P = layout.size;
  const p = new Float32Array(P);
  flattenTensors(layout, params, p);
  const zero = new Float32Array(P);
  const nd = b.n * b.dim;
  const r = s.run({
    params: [p, [P]], adam_m: [zero, [P]], adam_v: [zero, [P]], ema: [p, [P]],
    xt: [Float32Array.from(b.xt), [b.n, b.dim]], t: [Float32Array.from(b.t), [b.n, 1]],
    target: [Float32Array.from(b.target), [b.n, b.dim]], w: [Float32Array.from(b.w), [b.n, 1]],
    hyper: [Float32Array.from([1e-3, 1, 1, 0.9, 0.1, 1 / nd, 2 / nd]), [HYPER_SIZE]],
  }, ['stats', 'grad_out']);
  s.dispose();
  return { loss: r.stats.data[0], grad: unflattenTensors(layout, r.grad_out.data) };
}

/** Run both trainers from `state` over `bs`; compare every report and the final states. */
async function compare(net: NetworkConfig, cfg: TrainConfig, state: TrainState, bs: PreparedBatch[]): Promise<{ jax: StepReport[]; ort: StepReport[] }> {
  const jt = await createTrainer(net, cfg, state, { engine: 'jax' });
  const ot = createOrtTrainer(net, cfg, state, { threads: 1 });
  expect(jt.engine).toBe('jax');
  expect(ot.engine).toBe('onnxruntime');
  const jax = bs.map((b) => jt.stepPrepared(b));
  const ort = bs.map((b) => ot.stepPrepared(b));
  const a = jt.snapshot();
  const b = ot.snapshot();
  jt.dispose?.();
  ot.dispose();
  // Measured: below 6e-7 (loss) and 3e-6 (gradient norm) relative.
  expectReportsAgree(jax, ort, { loss: 1e-5, gradNorm: 1e-4 });
  expect(b.step).toBe(a.step);
  const d = stateDiff(a, b);
  // Adam moves a coordinate by at most ~lr per step; where a coordinate's gradient is within
  // rounding of zero (1e-6 of its tensor's scale, the gradient test's bound) the two engines'
  // m / sqrt(v) differ by O(1), so drift grows in lr steps. Measured: up to 8.5e-4 lr steps
  // (params and EMA), moments within 2e-6 of their largest entry.
  const drift = 5e-3 * cfg.lr * bs.length;
  expect(d.params).toBeLessThan(drift);
  expect(d.ema).toBeLessThan(drift);
  expect(d.m).toBeLessThan(1e-4);
  expect(d.v).toBeLessThan(1e-4);
  // The comparison is not vacuous: the parameters moved by many drift bounds (up to lr per step).
  let moved = 0;
  for (const k of Object.keys(state.params)) {
    const x = state.params[k].data;
    const y = b.params[k].data;
    for (let i = 0; i < x.length; i++) moved = Math.max(moved, Math.abs(x[i] - y[i]));
  }
  expect(moved).toBeGreaterThan(20 * drift);
  return { jax, ort };
}

describe.skipIf(!hasOrt)('EGNN training step on onnxruntime against jax-js', () => {
  const configs: [string, NetworkConfig & { kind: 'egnn' }][] = [
    ['4 particles in 2-D, 2 layers x 16, position output', egnn() as NetworkConfig & { kind: 'egnn' }],
    ['3 particles in 3-D, 3 layers x 8, displacement output', egnn({ particles: 3, spaceDim: 3, layers: 3, hidden: 8, embDim: 4, output: 'displacement' }) as NetworkConfig & { kind: 'egnn' }],
    ['5 particles in 2-D, 1 layer x 8', egnn({ particles: 5, layers: 1, hidden: 8 }) as NetworkConfig & { kind: 'egnn' }],
  ];
  for (const [label, net] of configs) {
    it(`the graph's gradient equals jax-js lossAndGradient: ${label}`, () => {
      const train = amortizedLike({ weighting: 'likelihood' }); // non-uniform weights
      const params = randomEgnn(net, 1);
      const b = batches(net, train, 1, 33)[0];
      const a = ortLossAndGradient(net, train, params, b);
      const j = lossAndGradient(net, params, b);
      expect(Math.abs(a.loss - j.loss) / j.loss).toBeLessThan(1e-5);
      expect(Object.keys(a.grad)).toEqual(Object.keys(j.grad));
      for (const k of Object.keys(j.grad)) {
        const scale = maxAbs({ [k]: j.grad[k] });
        expect(scale, `${k} has a gradient`).toBeGreaterThan(0);
        let d = 0;
        for (let i = 0; i < j.grad[k].data.length; i++) d = Math.max(d, Math.abs(j.grad[k].data[i] - a.grad[k].data[i]));
        expect(d / scale, k).toBeLessThan(1e-4);
      }
    });
  }

  it('20 steps agree with the amortized settings, the batch size changing between steps', async () => {
    const net = configs[0][1];
    const cfg = amortizedLike();
    const state = { ...initTrainState(keyFromSeed(3), net, cfg), params: randomEgnn(net, 3) };
    const big = batches(net, cfg, 20);
    const odd = batches(net, cfg, 20, 7);
    const { ort } = await compare(net, cfg, state, big.map((b, k) => (k % 4 === 3 ? odd[k] : b)));
    expect(ort.every((r) => !r.skipped)).toBe(true);
  });

  it('20 steps agree with clipping active on every step (3-D, displacement output)', async () => {
    const net = configs[1][1];
    const cfg = amortizedLike({ clipNorm: 0.5, lrSchedule: 'cosine', warmupSteps: 5 });
    const state = { ...initTrainState(keyFromSeed(4), net, cfg), params: randomEgnn(net, 4) };
    const { jax, ort } = await compare(net, cfg, state, batches(net, cfg, 20));
    expect(jax.every((r) => r.gradNorm > 0.5) && ort.every((r) => r.gradNorm > 0.5)).toBe(true);
  });

  it('skips a step with a NaN input, state bit for bit unchanged, and continues like jax-js', async () => {
    const net = configs[0][1];
    const cfg = amortizedLike({ clipNorm: 1 });
    const state = { ...initTrainState(keyFromSeed(5), net, cfg), params: randomEgnn(net, 5) };
    const bs = batches(net, cfg, 20);
    const bad = { ...bs[8], xt: bs[8].xt.slice() };
    bad.xt[5] = NaN;
    bs[8] = bad;
    const { jax, ort } = await compare(net, cfg, state, bs);
    expect(jax[8].skipped && ort[8].skipped).toBe(true);
    expect(ort[8].reason).toMatch(/non-finite/);
    expect(ort[8].step).toBe(8);
    expect(ort[19].step).toBe(19);

    const ot = createOrtTrainer(net, cfg, state, { threads: 1 });
    for (let k = 0; k < 8; k++) ot.stepPrepared(bs[k]);
    const before = ot.snapshot();
    expect(ot.stepPrepared(bad).skipped).toBe(true);
    expectStateBitEqual(ot.snapshot(), before);
    ot.dispose();
  });

  it('snapshot round trip: a fresh trainer\'s snapshot is its state; a rebuilt trainer continues bit for bit', () => {
    const net = configs[0][1];
    const cfg = amortizedLike();
    const params = randomEgnn(net, 6);
    const scaled = (t: Tensors, f: number, sq = false): Tensors =>
      Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { shape: v.shape, data: v.data.map((x) => (sq ? x * x : x) * f) }]));
    // Distinct moments and EMA so that a swapped part would show.
    const start: TrainState = { step: 3, params, ema: scaled(params, 0.5), adamM: scaled(params, 1e-3), adamV: scaled(params, 1e-4, true) };
    const fresh = createOrtTrainer(net, cfg, start, { threads: 1 });
    expectStateBitEqual(fresh.snapshot(), start);
    expect(Object.keys(fresh.snapshot().params)).toEqual(egnnTensorSpecs(net).map((s) => s.name));
    fresh.dispose();

    const bs = batches(net, cfg, 12);
    const whole = createOrtTrainer(net, cfg, start, { threads: 1 });
    for (const b of bs) whole.stepPrepared(b);
    const first = createOrtTrainer(net, cfg, start, { threads: 1 });
    for (const b of bs.slice(0, 6)) first.stepPrepared(b);
    const mid = first.snapshot();
    first.dispose();
    expect(mid.step).toBe(9);
    const second = createOrtTrainer(net, cfg, mid, { threads: 1 });
    for (const b of bs.slice(6)) second.stepPrepared(b);
    expectStateBitEqual(second.snapshot(), whole.snapshot());
    second.dispose();
    whole.dispose();
  });

  it("createTrainer: 'auto' and 'onnxruntime' train the EGNN on onnxruntime; step() draws as jax-js does", async () => {
    const net = configs[0][1];
    const cfg = amortizedLike();
    const state = initTrainState(keyFromSeed(7), net, cfg);
    const jt = await createTrainer(net, cfg, state, { engine: 'jax' });
    const ot = await createTrainer(net, cfg, state, { engine: 'auto', threads: 1 });
    const ot2 = await createTrainer(net, cfg, state, { engine: 'onnxruntime', threads: 1 });
    expect([jt.engine, ot.engine, ot2.engine]).toEqual(['jax', 'onnxruntime', 'onnxruntime']);
    ot2.dispose?.();
    const x0 = normalBatch(keyFromSeed(9), 32, 8);
    for (let k = 0; k < 3; k++) {
      const a = jt.step(x0, foldIn(keyFromSeed(10), k));
      const b = ot.step(x0, foldIn(keyFromSeed(10), k));
      expect(Math.abs(a.loss - b.loss) / a.loss).toBeLessThan(1e-5);
    }
    jt.dispose?.();
    ot.dispose?.();
  });
});
