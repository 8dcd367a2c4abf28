/**
 * The onnxruntime training step (`models/onnx-train-step.ts`) against the jax-js one
 * (`JitTrainer` in `models/train.ts`): from the same `initTrainState` and the same prepared
 * batches, N steps of each agree to float32 rounding in loss, gradient norm, parameters, Adam
 * moments and EMA — with non-uniform weights, active clipping, a skipped (NaN) step, cosine and
 * constant schedules — and a trainer rebuilt from `snapshot()` continues bit for bit.
 *
 * Tolerances: the two engines round differently (jax-js computes the first layer as two matmuls,
 * its own sin/cos and summation order), so values differ by float32 rounding, which Adam's
 * normalised step carries into the parameters; the bounds (in `compare`) are a few times the
 * largest difference measured and far below what a step changes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { foldIn, keyFromSeed, normalBatch } from '../../src/core/key.js';
import { onnxRuntimeAvailable } from '../../src/core/onnx-runtime.js';
import { diffusionCoefficients, prepareBatch, type PreparedBatch } from '../../src/models/loss.js';
import { defaultMlpConfig, type MlpConfig } from '../../src/models/mlp.js';
import { createOrtTrainer, mlpFlatLayout } from '../../src/models/onnx-train-step.js';
import {
  createTrainer, defaultTrainConfig, initTrainState, type StepReport, type TrainConfig, type Trainer, type TrainState,
} from '../../src/models/train.js';
import type { Tensors } from '../../src/models/tensors.js';
import { expectReportsAgree, expectStateBitEqual, stateDiff } from './trainer-compare.js';

const hasOrt = onnxRuntimeAvailable();

beforeAll(async () => {
  await initEngine();
});

const net: MlpConfig = defaultMlpConfig(2);

function cfgWith(over: Partial<TrainConfig>): TrainConfig {
  return { ...defaultTrainConfig(), batch: 64, warmupSteps: 5, totalSteps: 25, ...over };
}

/** Prepared batches of step k (data and noise keys folded with k), as `tweedie train` draws them. */
function batches(cfg: TrainConfig, steps: number, n = 64): PreparedBatch[] {
  const coef = diffusionCoefficients(cfg);
  const out: PreparedBatch[] = [];
  for (let k = 0; k < steps; k++) {
    out.push(prepareBatch(cfg, coef, normalBatch(foldIn(keyFromSeed(11), k), n, net.dim), foldIn(keyFromSeed(12), k)));
  }
  return out;
}

/** Run both trainers over `bs`; compare every report and the final states. */
async function compare(cfg: TrainConfig, bs: PreparedBatch[]): Promise<{ jax: StepReport[]; ort: StepReport[]; jaxState: TrainState; ortState: TrainState }> {
  const state = initTrainState(keyFromSeed(3), net, cfg);
  const jt = await createTrainer(net, cfg, state);
  const ot = createOrtTrainer(net, cfg, state, { threads: 1 });
  expect(jt.engine).toBe('jax');
  expect(ot.engine).toBe('onnxruntime');
  const run = (t: Trainer): StepReport[] => bs.map((b) => t.stepPrepared(b));
  const jax = run(jt);
  const ort = run(ot);
  const jaxState = jt.snapshot();
  const ortState = ot.snapshot();
  jt.dispose?.();
  ot.dispose();
  // Measured: below 1e-6 (loss) and 1e-5 (gradient norm) relative.
  expectReportsAgree(jax, ort, { loss: 1e-5, gradNorm: 1e-4 });
  const d = stateDiff(jaxState, ortState);
  expect(ortState.step).toBe(jaxState.step);
  // Adam moves a coordinate by at most ~lr per step, so lr * steps bounds how far the engines
  // could drift apart; they stay within 1e-3 of that (measured: up to 4e-4 of it, on the
  // coordinates whose gradient is near zero, where Adam's m / sqrt(v) magnifies rounding).
  const drift = 1e-3 * cfg.lr * bs.length;
  expect(d.params).toBeLessThan(drift);
  expect(d.ema).toBeLessThan(drift);
  // Moments relative to their largest entry (measured: below 4e-6).
  expect(d.m).toBeLessThan(1e-4);
  expect(d.v).toBeLessThan(1e-4);
  return { jax, ort, jaxState, ortState };
}

describe.skipIf(!hasOrt)('onnxruntime training step against jax-js', () => {
  it('agrees over 20 steps: noise parametrisation, likelihood (non-uniform) weights, warm-up + cosine', async () => {
    const cfg = cfgWith({ parametrisation: 'noise', weighting: 'likelihood', lrSchedule: 'cosine', clipNorm: 1e6 });
    const bs = batches(cfg, 20);
    expect(new Set(bs[0].w).size).toBeGreaterThan(1); // the weights do vary
    const { ort } = await compare(cfg, bs);
    expect(ort.every((r) => !r.skipped)).toBe(true);
  });

  it('agrees when clipping is active on every step', async () => {
    const cfg = cfgWith({ clipNorm: 0.05 });
    const { jax, ort } = await compare(cfg, batches(cfg, 20));
    expect(jax.every((r) => r.gradNorm > 0.05) && ort.every((r) => r.gradNorm > 0.05)).toBe(true);
  });

  it('agrees with a constant schedule, mean parametrisation, no clipping and a batch size that changes', async () => {
    const cfg = cfgWith({ parametrisation: 'mean', weighting: 'uniform', lrSchedule: 'constant', clipNorm: Infinity, emaDecay: 0.9 });
    const big = batches(cfg, 20);
    const odd = batches(cfg, 20, 17);
    await compare(cfg, big.map((b, k) => (k % 3 === 2 ? odd[k] : b)));
  });

  it('skips a step with a NaN target, state unchanged, and continues like jax-js', async () => {
    const cfg = cfgWith({});
    const bs = batches(cfg, 12);
    const bad = { ...bs[6], target: bs[6].target.slice() };
    bad.target[3] = NaN;
    bs[6] = bad;
    const { jax, ort } = await compare(cfg, bs);
    expect(jax[6].skipped && ort[6].skipped).toBe(true);
    expect(ort[6].reason).toMatch(/non-finite loss/);
    expect(ort[6].step).toBe(6);
    expect(ort[11].step).toBe(11);

    // The skipped step leaves every array bit for bit as it was.
    const state = initTrainState(keyFromSeed(3), net, cfg);
    const ot = createOrtTrainer(net, cfg, state, { threads: 1 });
    for (let k = 0; k < 6; k++) ot.stepPrepared(bs[k]);
    const before = ot.snapshot();
    expect(ot.stepPrepared(bad).skipped).toBe(true);
    expectStateBitEqual(ot.snapshot(), before);
    ot.dispose();
  });

  it('reads and writes the PyTorch layout: snapshot of a fresh trainer is its state, and a rebuilt trainer continues bit for bit', async () => {
    const cfg = cfgWith({ weighting: 'likelihood' });
    const state = initTrainState(keyFromSeed(5), net, cfg);
    // Distinct moments and EMA so that a swapped part would show.
    const scaled = (t: Tensors, f: number): Tensors =>
      Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { shape: v.shape, data: v.data.map((x) => x * f) }]));
    const squared = (t: Tensors, f: number): Tensors =>
      Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { shape: v.shape, data: v.data.map((x) => x * x * f) }]));
    const start: TrainState = { step: 3, params: state.params, ema: scaled(state.params, 0.5), adamM: scaled(state.params, 1e-3), adamV: squared(state.params, 1e-4) };
    const fresh = createOrtTrainer(net, cfg, start, { threads: 1 });
    expectStateBitEqual(fresh.snapshot(), start);
    expect(Object.keys(fresh.snapshot().params)).toEqual(Object.keys(state.params));
    expect(mlpFlatLayout(net).size).toBe(Object.values(state.params).reduce((a, t) => a + t.data.length, 0));
    fresh.dispose();

    const bs = batches(cfg, 20);
    const whole = createOrtTrainer(net, cfg, start, { threads: 1 });
    for (const b of bs) whole.stepPrepared(b);
    const first = createOrtTrainer(net, cfg, start, { threads: 1 });
    for (const b of bs.slice(0, 10)) first.stepPrepared(b);
    const mid = first.snapshot();
    first.dispose();
    expect(mid.step).toBe(13);
    const second = createOrtTrainer(net, cfg, mid, { threads: 1 });
    for (const b of bs.slice(10)) second.stepPrepared(b);
    expectStateBitEqual(second.snapshot(), whole.snapshot());
    second.dispose();
    whole.dispose();

    // And the jax-js trainer from the same non-trivial state agrees.
    const jt = await createTrainer(net, cfg, start);
    const ot = createOrtTrainer(net, cfg, start, { threads: 1 });
    for (const b of bs) {
      jt.stepPrepared(b);
      ot.stepPrepared(b);
    }
    const d = stateDiff(jt.snapshot(), ot.snapshot());
    expect(d.params).toBeLessThan(1e-3 * cfg.lr * bs.length);
    expect(d.ema).toBeLessThan(1e-3 * cfg.lr * bs.length);
    jt.dispose?.();
    ot.dispose();
  });

  it('does not leak: 2,000 steps (the binding hands back a fresh copy of every output) keep the process memory flat', () => {
    const cfg = cfgWith({});
    const tr = createOrtTrainer(net, cfg, initTrainState(keyFromSeed(71), net, cfg), { threads: 1 });
    const x0 = normalBatch(keyFromSeed(72), 64, 2);
    for (let k = 0; k < 200; k++) tr.step(x0, foldIn(keyFromSeed(73), k));
    const rss0 = process.memoryUsage().rss;
    for (let k = 200; k < 2000; k++) tr.step(x0, foldIn(keyFromSeed(73), k));
    // One leaked copy of the state per step would be 4 x 150 KB x 1,800 steps ~ 1 GB.
    expect(process.memoryUsage().rss - rss0).toBeLessThan(60 * 2 ** 20);
    expect(tr.snapshot().step).toBe(2000);
    tr.dispose();
    expect(() => tr.snapshot()).toThrow(/dispose/);
  });

  it('step() draws the batch as the jax-js trainer does; createTrainer picks the engine', async () => {
    const cfg = cfgWith({});
    const state = initTrainState(keyFromSeed(3), net, cfg);
    const jt = await createTrainer(net, cfg, state, { engine: 'jax' });
    const ot = await createTrainer(net, cfg, state, { engine: 'auto', threads: 1 });
    expect(ot.engine).toBe('onnxruntime');
    const x0 = normalBatch(keyFromSeed(9), 64, 2);
    for (let k = 0; k < 5; k++) {
      const a = jt.step(x0, foldIn(keyFromSeed(10), k));
      const b = ot.step(x0, foldIn(keyFromSeed(10), k));
      expect(Math.abs(a.loss - b.loss) / a.loss).toBeLessThan(1e-4);
    }
    jt.dispose?.();
    ot.dispose?.();
    // The EGNN has its own onnxruntime step (onnx-egnn-train-step.test.ts); a scaled MLP does not.
    const egnn = { kind: 'egnn' as const, particles: 3, spaceDim: 2, hidden: 8, layers: 1, embDim: 4, activation: 'silu' as const, output: 'displacement' as const };
    const et = await createTrainer(egnn, cfg, initTrainState(keyFromSeed(1), egnn, cfg), { engine: 'auto' });
    expect(et.engine).toBe('onnxruntime');
    et.dispose?.();
    const scaled: MlpConfig = { ...net, inputScale: 50, outputScale: 50 };
    const ss = initTrainState(keyFromSeed(1), scaled, cfg);
    const st = await createTrainer(scaled, cfg, ss, { engine: 'auto' });
    expect(st.engine).toBe('jax');
    st.dispose?.();
    await expect(createTrainer(scaled, cfg, ss, { engine: 'onnxruntime' })).rejects.toThrow(/without inputScale/);
    expect(() => createOrtTrainer(scaled, cfg, ss)).toThrow(/without inputScale/);
  });
});
