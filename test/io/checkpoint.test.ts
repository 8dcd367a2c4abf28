/**
 * Checkpoints hold any architecture: an EGNN run round-trips through `saveCheckpoint` /
 * `loadCheckpoint` / `loadModel` bit for bit and serves the same scores as the in-memory model;
 * the MLP checkpoint shipped in `data/` (written before architectures were generic) still loads
 * unchanged; mismatched or unknown network configs are input errors.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { foldIn, keyFromSeed, normalBatch, uniform } from '../../src/core/key.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { CHECKPOINT_FILE, MODEL_FILE, loadCheckpoint, loadModel, saveCheckpoint, type RunConfig } from '../../src/io/checkpoint.js';
import { isInputError } from '../../src/io/errors.js';
import { encodeSafetensors, parseSafetensors } from '../../src/io/safetensors.js';
import type { NetworkConfig } from '../../src/models/architecture.js';
import { defaultEgnnConfig } from '../../src/models/egnn.js';
import { loadNetworkScoreModel, mlpForwardReference, networkScoreModel, type MlpConfig } from '../../src/models/mlp.js';
import { createTrainer, defaultTrainConfig, initTrainState } from '../../src/models/train.js';

const work = mkdtempSync(join(tmpdir(), 'tweedie-checkpoint-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  await initEngine();
});

const egnn: NetworkConfig = { kind: 'egnn', ...defaultEgnnConfig(), hidden: 16, layers: 2, embDim: 8 };
const train = { ...defaultTrainConfig(), batch: 16, parametrisation: 'mean' as const, weighting: 'uniform', totalSteps: 3 };
const run: RunConfig = {
  model: {
    format: 'tweedie-model', version: 1, network: egnn, parametrisation: 'mean', diffusion: train.diffusion,
    data: { source: 'dw4', dim: 8, normalisation: { scale: 1, shift: 0 } },
  },
  train, steps: 3, seed: 0, checkpointEvery: 3,
};

function expectError(f: () => unknown, re: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(isInputError(e), String(e)).toBe(true);
    expect((e as Error).message).toMatch(re);
    return;
  }
  throw new Error('expected an input error');
}

describe('checkpoints of any architecture', () => {
  it('an EGNN run round-trips bit for bit and its model serves the same scores', async () => {
    const tr = await createTrainer(egnn, train, initTrainState(keyFromSeed(1), egnn, train));
    for (let k = 0; k < 3; k++) tr.step(normalBatch(foldIn(keyFromSeed(2), k), 16, 8), foldIn(keyFromSeed(3), k));
    const state = tr.snapshot();
    tr.dispose?.();
    const dir = join(work, 'egnn');
    mkdirSync(dir);
    saveCheckpoint(dir, run, state);

    const back = loadCheckpoint(dir);
    expect(back.run).toEqual(run);
    expect(back.state).toEqual(state);
    const model = loadModel(dir);
    expect(model.config.network).toEqual(egnn);
    expect(model.step).toBe(3);
    expect(model.params).toEqual(state.ema);

    const sde = new VPSDE();
    const loaded = await loadNetworkScoreModel(model.config.network, model.params, model.config.parametrisation, sde);
    const direct = networkScoreModel(egnn, state.ema, 'mean', sde);
    const x = normalBatch(keyFromSeed(4), 20, 8);
    const t = uniform(keyFromSeed(5), 20, 0.05, 1);
    expect(loaded.dim).toBe(8);
    expect(loaded.score(x, t).data).toEqual(direct.score(x, t).data);
    loaded.dispose();
    direct.dispose();
  });

  it('the MLP checkpoint in data/ (2spirals, written before generic architectures) loads unchanged', async () => {
    const path = join(process.cwd(), 'data/2spirals-model.safetensors');
    const before = readFileSync(path);
    const { config, params, step } = loadModel(path);
    expect(config.network).toEqual({ kind: 'mlp', dim: 2, hidden: 128, depth: 3, embDim: 32, activation: 'silu' });
    expect(step).toBe(20000);
    const sde = new VPSDE();
    const model = await loadNetworkScoreModel(config.network, params, config.parametrisation, sde);
    const x = normalBatch(keyFromSeed(6), 10, 2);
    const eps = mlpForwardReference(config.network as MlpConfig, params, x, 0.5);
    const s = model.score(x, 0.5).data;
    for (let j = 0; j < s.length; j++) expect(s[j]).toBeCloseTo(-eps.data[j] / sde.sigma(0.5), 3);
    model.dispose();
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('rejects weights that do not match the EGNN config, an invalid config and an unknown kind', () => {
    const dir = join(work, 'egnn');
    const bytes = readFileSync(join(dir, MODEL_FILE));
    const { tensors, metadata } = parseSafetensors(bytes);
    const rewrite = (name: string, network: unknown): string => {
      const model = { ...JSON.parse(metadata.tweedie_model), network };
      const path = join(work, name);
      writeFileSync(path, encodeSafetensors(tensors, { ...metadata, tweedie_model: JSON.stringify(model) }));
      return path;
    };
    expectError(() => loadModel(rewrite('wide.safetensors', { ...egnn, hidden: 32 })), /'embedding\.weight' has shape \[16,8\] but the config needs \[32,8\].*does not match the weights/);
    expectError(() => loadModel(rewrite('deep.safetensors', { ...egnn, layers: 3 })), /missing tensor 'layers\.1\.node_mlp\.0\.weight' for the configured network \(EGNN 3 x 16, 4 particles in 2-D\).*does not match the weights/);
    expectError(() => loadModel(rewrite('one.safetensors', { ...egnn, particles: 1 })), /invalid network config.*particles/);
    expectError(() => loadModel(rewrite('gnn.safetensors', { ...egnn, kind: 'gnn' })), /unknown network kind 'gnn'/);
    // The checkpoint (params, EMA, Adam moments) is checked the same way.
    const ck = parseSafetensors(readFileSync(join(dir, CHECKPOINT_FILE)));
    const r = JSON.parse(ck.metadata.tweedie_run);
    r.model.network.hidden = 8;
    const bad = join(work, 'bad-ck');
    mkdirSync(bad);
    saveCheckpoint(bad, run, loadCheckpoint(dir).state);
    writeFileSync(join(bad, CHECKPOINT_FILE), encodeSafetensors(ck.tensors, { ...ck.metadata, tweedie_run: JSON.stringify(r) }));
    expectError(() => loadCheckpoint(bad), /does not match the weights/);
  });
});
