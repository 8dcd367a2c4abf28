/**
 * The target replay (`target-replay.ts`): rows round-trip exactly, the FIFO keeps the newest,
 * the trainer takes `updates` Adam steps per iteration from it, and a run resumed from a
 * snapshot or a checkpoint file repeats the uninterrupted one exactly.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { keyFromSeed } from '../../src/core/key.js';
import { TargetReplay, checkTargetReplay } from '../../src/amortized/target-replay.js';
import { AmortizedTrainer, checkAmortizedConfig, innerTrainConfig, paperAmortizedConfig, type AmortizedConfig } from '../../src/amortized/train.js';
import { loadAmortizedCheckpoint, saveAmortizedCheckpoint, type AmortizedRun } from '../../src/io/amortized-checkpoint.js';
import type { PreparedBatch } from '../../src/models/loss.js';
import { GaussianMixture } from '../../src/targets/gmm.js';

function rows(n: number, dim: number, from: number): PreparedBatch {
  const v = (k: number): Float64Array => Float64Array.from({ length: k }, (_, i) => from + i / 8);
  return { n, dim, xt: v(n * dim), t: v(n).map((x) => x + 100), target: v(n * dim).map((x) => x + 200), w: v(n).map((x) => x + 300), eps: v(n * dim).map((x) => -x) };
}

describe('TargetReplay', () => {
  it('returns exactly the rows pushed, keeps the newest capacity rows, and restores from its snapshot', () => {
    const r = new TargetReplay(5, 2);
    r.push(rows(3, 2, 0));
    r.push(rows(3, 2, 10)); // 6 rows into 5: the first one is gone
    expect(r.size).toBe(5);
    const snap = r.snapshot();
    expect(snap.dim).toBe(TargetReplay.width(2));
    const pushed = [rows(3, 2, 0), rows(3, 2, 10)];
    const all = pushed.flatMap((b) => Array.from({ length: 3 }, (_, i) => JSON.stringify([
      Array.from(b.xt.subarray(2 * i, 2 * i + 2)), b.t[i], Array.from(b.target.subarray(2 * i, 2 * i + 2)), b.w[i], Array.from(b.eps.subarray(2 * i, 2 * i + 2)),
    ])));
    const kept = new Set(all.slice(1));
    const s = TargetReplay.restore(5, 2, snap).sample(keyFromSeed(3), 400);
    const seen = new Set<string>();
    for (let i = 0; i < s.n; i++) {
      const row = JSON.stringify([Array.from(s.xt.subarray(2 * i, 2 * i + 2)), s.t[i], Array.from(s.target.subarray(2 * i, 2 * i + 2)), s.w[i], Array.from(s.eps.subarray(2 * i, 2 * i + 2))]);
      expect(kept.has(row)).toBe(true); // every drawn row is a pushed row, intact, and never the evicted one
      seen.add(row);
    }
    expect(seen.size).toBe(5); // 400 draws from 5 rows miss one with probability < 1e-37
    expect(() => r.push(rows(1, 3, 0))).toThrow(/dimension 2/);
    expect(() => TargetReplay.restore(5, 3, snap)).toThrow(/columns/);
    expect(() => checkTargetReplay({ capacity: 0, updates: 1 })).toThrow(/capacity/);
    expect(() => checkTargetReplay({ capacity: 10, updates: 1.5 })).toThrow(/updates/);
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
  c.targetReplay = { capacity: 40, updates: 3 };
  return c;
}

const target = new GaussianMixture({ means: [[-2, 0], [2, 1]], covariance: { variance: 0.5 } });
const dir = mkdtempSync(join(tmpdir(), 'tweedie-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('amortized trainer with a target replay', () => {
  it('takes `updates` Adam steps per iteration, stretches the cosine over them, and a resumed run (snapshot or checkpoint file) repeats the uninterrupted one', async () => {
    const c = tinyConfig();
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
