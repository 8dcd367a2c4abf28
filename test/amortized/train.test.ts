/**
 * Algorithm 1's trainer: the replay buffer, the prepared batches, a short run on an exact GMM,
 * and resumption from a snapshot repeating the uninterrupted run exactly (also with a target
 * replay, through a checkpoint file).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeBatch } from '../../src/core/batch.js';
import { foldIn, keyFromSeed, split } from '../../src/core/key.js';
import { idemScoreEstimate } from '../../src/baselines/idem.js';
import { dw4AmortizedConfig, idemAmortizedConfig } from '../../src/amortized/presets.js';
import { VESDE, VE_PRESETS } from '../../src/diffusion/ve.js';
import { ReplayBuffer } from '../../src/amortized/buffer.js';
import { inThreadRunner } from '../../src/amortized/posterior-means.js';
import { pilotReference } from '../../src/amortized/reference.js';
import { AmortizedTrainer, amortizedBatch, checkAmortizedConfig, innerTrainConfig, paperAmortizedConfig, type AmortizedConfig } from '../../src/amortized/train.js';
import { loadAmortizedCheckpoint, saveAmortizedCheckpoint, type AmortizedRun } from '../../src/io/amortized-checkpoint.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { GaussianMixture } from '../../src/targets/gmm.js';
import { getTarget } from '../../src/targets/registry.js';
import { onnxRuntimeAvailable } from '../../src/core/onnx-runtime.js';

describe('ReplayBuffer', () => {
  it('is a FIFO of fixed capacity; snapshot/restore keeps the order; non-finite rows are skipped', () => {
    const b = new ReplayBuffer(3, 1);
    expect(b.push(makeBatch(2, 1, [1, 2]))).toEqual({ added: 2, skipped: 0 });
    expect(b.push(makeBatch(3, 1, [NaN, 3, 4]))).toEqual({ added: 2, skipped: 1 });
    expect(b.size).toBe(3);
    expect(Array.from(b.snapshot().data)).toEqual([2, 3, 4]); // 1 was the oldest and is gone
    const r = ReplayBuffer.restore(3, b.snapshot());
    r.push(makeBatch(1, 1, [5]));
    expect(Array.from(r.snapshot().data)).toEqual([3, 4, 5]);
    const s = r.sample(keyFromSeed(0), 1000);
    const counts = [3, 4, 5].map((v) => s.data.filter((x) => x === v).length);
    for (const c of counts) expect(Math.abs(c - 1000 / 3)).toBeLessThan(4.5 * Math.sqrt(1000 * (1 / 3) * (2 / 3))); // binomial, z = 4.5
    // After the FIFO wraps, a buffer restored from its snapshot draws what the original draws.
    expect(Array.from(ReplayBuffer.restore(3, r.snapshot()).sample(keyFromSeed(9), 50).data)).toEqual(Array.from(r.sample(keyFromSeed(9), 50).data));
    expect(() => new ReplayBuffer(0, 1)).toThrow(/capacity/);
    expect(() => b.push(makeBatch(1, 2))).toThrow(/dimension/);
  });
});

function tinyConfig(): AmortizedConfig {
  const c = paperAmortizedConfig(2);
  c.network = { ...c.network, hidden: 32, depth: 2 };
  c.epochs = 3;
  c.iterationsPerEpoch = 4;
  c.batch = 16;
  c.buffer = { capacity: 100, refresh: 32, sampleSteps: 20 };
  if (c.posterior.kind === 'ais') c.posterior.particles = 16;
  return c;
}

const target = new GaussianMixture({ means: [[-2, 0], [2, 1]], covariance: { variance: 0.5 } });

describe('amortized trainer', () => {
  it('validates its config', () => {
    expect(() => checkAmortizedConfig({ ...tinyConfig(), epochs: 0 })).toThrow(/epochs/);
    expect(() => checkAmortizedConfig({ ...tinyConfig(), tMin: 0 })).toThrow(/tMin/);
    expect(() => checkAmortizedConfig({ ...tinyConfig(), weighting: 'sigma' as never })).toThrow(/weighting/);
  });

  it('builds batches with noise targets (x_t - alpha x0hat) / sigma and weights 1/alpha', async () => {
    const c = tinyConfig();
    const sde = new VPSDE();
    const x0 = makeBatch(16, 2, Array.from({ length: 32 }, (_, i) => Math.sin(i)));
    const { batch, estimate, dropped } = await amortizedBatch(keyFromSeed(1), inThreadRunner(target), x0, c, sde);
    expect(dropped).toBe(0);
    expect(batch.n).toBe(16);
    for (let i = 0; i < 16; i++) {
      const a = sde.alpha(batch.t[i]);
      const s = sde.sigma(batch.t[i]);
      expect(batch.w[i]).toBeCloseTo(1 / a, 10);
      for (let j = 0; j < 2; j++) {
        expect(batch.xt[i * 2 + j]).toBeCloseTo(a * x0.data[i * 2 + j] + s * batch.eps[i * 2 + j], 10);
        expect(batch.target[i * 2 + j]).toBeCloseTo((batch.xt[i * 2 + j] - a * estimate.x0.data[i * 2 + j]) / s, 8);
      }
    }
  });

  it('runs epochs with finite losses, counts target evaluations, and a resumed run repeats the uninterrupted one exactly', async () => {
    const c = tinyConfig();
    const full = await AmortizedTrainer.create(target, c);
    const reports = [];
    for (let e = 0; e < 3; e++) reports.push(await full.runEpoch());
    for (const r of reports) {
      expect(Number.isFinite(r.meanLoss)).toBe(true);
      expect(r.skipped).toBe(0);
    }
    // Per iteration: 16 problems x (16 particles x 11 + 6 refinement evaluations).
    expect(reports[2].targetEvaluations).toBe(3 * 4 * 16 * (16 * 11 + 6));
    expect(reports[2].bufferSize).toBe(100); // 4 refreshes of 32 into a FIFO of capacity 100
    const end = full.snapshot();
    await full.close();

    const first = await AmortizedTrainer.create(target, c);
    await first.runEpoch();
    const mid = first.snapshot();
    await first.close();
    const resumed = await AmortizedTrainer.create(target, c, mid);
    await resumed.runEpoch();
    await resumed.runEpoch();
    const again = resumed.snapshot();
    await resumed.close();
    expect(again.epoch).toBe(3);
    expect(again.targetEvaluations).toBe(end.targetEvaluations);
    expect(Array.from(again.buffer.data)).toEqual(Array.from(end.buffer.data));
    for (const name of Object.keys(end.train.params)) expect(Array.from(again.train.params[name].data)).toEqual(Array.from(end.train.params[name].data));
  });

  it('with a reference pilot: the buffer starts as the pilot samples, the problems carry its reference, the pilot evaluations are counted once, resume repeats the run', async () => {
    const c = { ...tinyConfig(), referencePilot: { particles: 50, gradientBudget: 20_000, initScale: 30, widen: 1.5 } };
    const pilot = pilotReference(c.seed, target, c.referencePilot);
    const run = await AmortizedTrainer.create(target, c);
    expect(run.bufferSize).toBe(50);
    expect(Array.from(run.snapshot().buffer.data)).toEqual(Array.from(pilot.samples.data));
    expect(Array.from(run.reference!.scale)).toEqual(Array.from(pilot.reference.scale));
    expect(run.snapshot().targetEvaluations).toBe(pilot.targetEvaluations);
    const r1 = await run.runEpoch();
    expect(r1.targetEvaluations).toBe(pilot.targetEvaluations + 4 * 16 * (16 * 11 + 6));
    const mid = run.snapshot();
    const r2 = await run.runEpoch();
    const end = run.snapshot();
    await run.close();
    const resumed = await AmortizedTrainer.create(target, c, mid);
    const r2b = await resumed.runEpoch();
    expect(r2b.targetEvaluations).toBe(r2.targetEvaluations);
    for (const name of Object.keys(end.train.params)) expect(Array.from(resumed.snapshot().train.params[name].data)).toEqual(Array.from(end.train.params[name].data));
    await resumed.close();
    expect(() => checkAmortizedConfig({ ...c, referencePilot: { ...c.referencePilot, widen: -1 } })).toThrow(/widen/);
  });

  it('gives the same run on worker threads as in this thread (the workers load the target by name)', async () => {
    const c = tinyConfig();
    c.epochs = 1;
    const g8 = getTarget('8gaussians');
    const x = await AmortizedTrainer.create(g8, c);
    await x.runEpoch();
    const sx = x.snapshot();
    await x.close();
    const y = await AmortizedTrainer.create(g8, c, undefined, { threads: 2, targetSpec: '8gaussians' });
    await y.runEpoch();
    const sy = y.snapshot();
    await y.close();
    for (const name of Object.keys(sx.train.params)) expect(Array.from(sy.train.params[name].data)).toEqual(Array.from(sx.train.params[name].data));
    await expect(AmortizedTrainer.create(g8, c, undefined, { threads: 2 })).rejects.toThrow(/targetSpec/);
  });
});

describe('the iDEM baseline in the same loop', () => {
  it("regresses iDEM's clipped K-sample score estimate under the VE schedule, with weight sigma^2", async () => {
    const c = idemAmortizedConfig(2, 'gmm40');
    c.network = { ...c.network, hidden: 32, depth: 2 };
    c.batch = 8; // one chunk
    const idem = { ...(c.posterior as Extract<typeof c.posterior, { kind: 'idem' }>), samples: 64 };
    c.posterior = idem;
    const sde = new VESDE(VE_PRESETS.gmm40);
    const x0 = makeBatch(8, 2, Array.from({ length: 16 }, (_, i) => 20 * Math.sin(i)));
    const key = keyFromSeed(9);
    const { batch } = await amortizedBatch(key, inThreadRunner(target), x0, c, sde);
    // The same estimate computed directly: chunk 0 uses foldIn(kp, 0), kp = split(key, 3)[2].
    const sigma = Float64Array.from(batch.t, (t) => sde.sigma(t));
    const direct = idemScoreEstimate(foldIn(split(key, 3)[2], 0), (x) => target.logDensityAndGrad(x), { xt: makeBatch(8, 2, batch.xt), sigma }, idem);
    for (let i = 0; i < 16; i++) expect(batch.target[i]).toBeCloseTo(direct.score.data[i], 6);
    for (let i = 0; i < 8; i++) expect(batch.w[i]).toBeCloseTo(sigma[i] ** 2, 12);
    const run = await AmortizedTrainer.create(target, { ...c, epochs: 1, iterationsPerEpoch: 2, buffer: { capacity: 64, refresh: 16, sampleSteps: 20 } });
    const rep = await run.runEpoch();
    await run.close();
    expect(Number.isFinite(rep.meanLoss)).toBe(true);
    expect(rep.targetEvaluations).toBe(2 * 8 * 64);
  });
});

describe('particle systems (DW-4 with an EGNN)', () => {
  it('keeps buffer samples, noise and mean targets free of centre of mass', async () => {
    const c = dw4AmortizedConfig();
    c.network = { ...c.network, hidden: 16, layers: 1 } as typeof c.network;
    c.batch = 8;
    c.epochs = 1;
    c.iterationsPerEpoch = 2;
    c.buffer = { capacity: 64, refresh: 8, sampleSteps: 5 };
    if (c.posterior.kind === 'ais') c.posterior = { ...c.posterior, particles: 8 };
    // The preset's reference pilot at a small budget: its samples (projected) seed the buffer.
    c.referencePilot = { ...c.referencePilot!, particles: 64, gradientBudget: 1e5 };
    const dw = getTarget('dw4');
    const sde = new VPSDE();
    const x0 = makeBatch(8, 8, Array.from({ length: 64 }, (_, i) => 2 * Math.sin(i)));
    const { batch } = await amortizedBatch(keyFromSeed(2), inThreadRunner(dw), x0, c, sde);
    const com = (v: Float64Array, r: number, k: number): number => (v[r * 8 + k] + v[r * 8 + 2 + k] + v[r * 8 + 4 + k] + v[r * 8 + 6 + k]) / 4;
    for (let r = 0; r < 8; r++) {
      for (let k = 0; k < 2; k++) {
        expect(Math.abs(com(batch.eps, r, k))).toBeLessThan(1e-12);
        expect(Math.abs(com(batch.target, r, k))).toBeLessThan(1e-12);
      }
    }
    const run = await AmortizedTrainer.create(dw, c);
    const rep = await run.runEpoch();
    const snap = run.snapshot();
    await run.close();
    expect(Number.isFinite(rep.meanLoss)).toBe(true);
    for (let r = 0; r < snap.buffer.n; r++) for (let k = 0; k < 2; k++) expect(Math.abs(com(snap.buffer.data, r, k))).toBeLessThan(1e-9);
  });
});

describe('the network that draws model samples', () => {
  const ort = onnxRuntimeAvailable();
  for (const kind of ['MLP', 'EGNN'] as const) {
    it.skipIf(!ort)(`${kind}: onnxruntime and jax-js give the same samples to float32 rounding; onnxruntime samples and trains by default when installed`, async () => {
      const c = kind === 'MLP' ? tinyConfig() : dw4AmortizedConfig();
      if (kind === 'EGNN') {
        c.network = { ...c.network, hidden: 16, layers: 2 } as typeof c.network;
        c.referencePilot = undefined;
      }
      c.buffer = { capacity: 64, refresh: 32, sampleSteps: 20 };
      const t = kind === 'MLP' ? target : getTarget('dw4');
      const viaOrt = await AmortizedTrainer.create(t, c);
      const viaJax = await AmortizedTrainer.create(t, c, undefined, { sampler: 'jax', trainEngine: 'jax' });
      expect([viaOrt.samplingEngine, viaJax.samplingEngine]).toEqual(['onnxruntime', 'jax']);
      expect([viaOrt.trainEngine, viaJax.trainEngine]).toEqual(['onnxruntime', 'jax']);
      // Weights away from the init (whose zero-initialised output layers would make any engine agree).
      const params = viaJax.snapshot().train.params;
      for (const v of Object.values(params)) for (let i = 0; i < v.data.length; i++) v.data[i] += 0.05 * Math.sin(7 * i + v.data.length);
      const a = await viaOrt.sampleWith(keyFromSeed(5), params, 64);
      const b = await viaJax.sampleWith(keyFromSeed(5), params, 64);
      await viaOrt.close();
      await viaJax.close();
      let worst = 0;
      for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i] - b.data[i]) / (1 + Math.abs(b.data[i])));
      expect(worst).toBeLessThan(1e-3); // measured 3e-5 (MLP), 2e-7 (EGNN) over 20 EM steps
    });
  }
});

const dir = mkdtempSync(join(tmpdir(), 'tweedie-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('amortized trainer with a target replay', () => {
  it('takes `updates` Adam steps per iteration, stretches the cosine over them, and a run resumed from a checkpoint file repeats the uninterrupted one', async () => {
    const c = { ...tinyConfig(), targetReplay: { capacity: 40, updates: 3 } };
    expect(() => checkAmortizedConfig({ ...c, targetReplay: { capacity: 40, updates: 0 } })).toThrow(/updates/);
    expect(innerTrainConfig(c).totalSteps).toBe(3 * 4 * 3);
    const full = await AmortizedTrainer.create(target, c);
    for (let e = 0; e < 3; e++) expect(Number.isFinite((await full.runEpoch()).meanLoss)).toBe(true);
    const end = full.snapshot();
    await full.close();
    expect(end.train.step).toBe(3 * 4 * 3);
    expect(end.targets!.n).toBe(40); // 12 iterations x 16 rows into a FIFO of 40

    const first = await AmortizedTrainer.create(target, c);
    await first.runEpoch();
    const mid = first.snapshot();
    await first.close();
    expect(mid.targets!.n).toBe(40); // 4 iterations x 16 rows, the newest 40 kept
    const run: AmortizedRun = { format: 'tweedie-amortized', version: 1, target: 'tiny', config: c, seconds: 0, history: [], best: null };
    saveAmortizedCheckpoint(dir, run, mid, null);
    const loaded = loadAmortizedCheckpoint(dir).snapshot;
    expect(Array.from(loaded.targets!.data)).toEqual(Array.from(mid.targets!.data));
    const resumed = await AmortizedTrainer.create(target, c, loaded);
    await resumed.runEpoch();
    await resumed.runEpoch();
    const again = resumed.snapshot();
    await resumed.close();
    expect(Array.from(again.targets!.data)).toEqual(Array.from(end.targets!.data));
    for (const name of Object.keys(end.train.params)) expect(Array.from(again.train.params[name].data)).toEqual(Array.from(end.train.params[name].data));

    // A checkpoint of a replay run without its rows is refused with the reason.
    saveAmortizedCheckpoint(dir, run, { ...mid, targets: undefined }, null);
    expect(() => loadAmortizedCheckpoint(dir)).toThrow(/'targets' tensor/);
  });
});
