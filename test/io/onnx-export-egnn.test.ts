/**
 * ONNX export of the EGNN score network (`egnnOnnxBytes`): a small random EGNN (fixed key) run
 * from its ONNX graph on @jax-js/onnx and, when installed, onnxruntime-node reproduces the jax-js
 * network (`egnnPredictor`) and the float64 reference within float32 tolerance, for both output
 * kinds and per-row or shared times; the ONNX output is equivariant (rotation + reflection +
 * particle permutation) and translation invariant; a DW-4 amortized model exports through
 * `tweedie export` (round trip checked by the command) with its sidecar; bad cases are one
 * InputError.
 *
 * The random network's phi_x output layer is scaled up (x 300): EGNN's own init (EDM's
 * xavier gain 0.001) makes the coordinate updates ~1e-4, so an export that dropped or garbled
 * them would still match an untrained network to float32 tolerance.
 *
 * Tolerance as for the MLP export (`onnx-export.test.ts`): |a - b| <= 2e-5 + 1e-4 |b|, both sides
 * float32 from the same float32 weights with different kernels and summation orders.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dw4AmortizedConfig } from '../../src/amortized/presets.js';
import type { Batch } from '../../src/core/batch.js';
import { initEngine } from '../../src/core/engine.js';
import { keyFromSeed, normalBatch, permutation, split, uniform } from '../../src/core/key.js';
import { onnxRuntimeAvailable } from '../../src/core/onnx-runtime.js';
import { registerExport } from '../../src/cli/commands/export.js';
import { drawSamples, loadSamplingModel } from '../../src/cli/model-sampling.js';
import { amortizedModelConfig } from '../../src/io/amortized-checkpoint.js';
import { MODEL_FILE, toTensors, type ModelConfig } from '../../src/io/checkpoint.js';
import { isInputError } from '../../src/io/errors.js';
import { egnnOnnxBytes, exportedNetworkPredictor, modelOnnxBytes, writeModelOnnx } from '../../src/io/onnx-export.js';
import { loadOnnxPredictor, readOnnxGraph, readOnnxScoreNetwork } from '../../src/io/onnx-import.js';
import { writeSafetensors, type Tensor } from '../../src/io/safetensors.js';
import type { NetworkConfig } from '../../src/models/architecture.js';
import { egnnForwardReference, egnnPredictor, type EgnnConfig } from '../../src/models/egnn.js';
import { randomEgnn } from '../models/random-egnn.js';

const work = mkdtempSync(join(tmpdir(), 'tweedie-onnx-egnn-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  await initEngine();
});

const hasOrt = onnxRuntimeAvailable();
const backends: ('jax' | 'onnxruntime')[] = ['jax', ...(hasOrt ? ['onnxruntime' as const] : [])];

const small = (output: EgnnConfig['output']): EgnnConfig => ({ particles: 4, spaceDim: 2, hidden: 16, layers: 3, embDim: 8, activation: 'silu', output });

/** max over entries of |a - b| / (2e-5 + 1e-4 |b|): <= 1 passes; and max |a - b|. */
function worst(a: Batch, b: Batch): { ratio: number; abs: number } {
  expect([a.n, a.dim]).toEqual([b.n, b.dim]);
  let ratio = 0;
  let abs = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    expect(Number.isFinite(a.data[i])).toBe(true);
    abs = Math.max(abs, d);
    ratio = Math.max(ratio, d / (2e-5 + 1e-4 * Math.abs(b.data[i])));
  }
  return { ratio, abs };
}

/** Largest |entry| of a batch: the outputs compared must not be trivially small. */
const maxAbs = (b: Batch): number => b.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

const net = (cfg: EgnnConfig): NetworkConfig => ({ kind: 'egnn', ...cfg });

describe('EGNN ONNX graph', () => {
  it('uses only ops that both engines run, with the MLP export\'s interface', () => {
    const cfg = small('position');
    const g = readOnnxGraph(egnnOnnxBytes(cfg, randomEgnn(cfg, 1)), 'egnn.onnx');
    expect(g.inputs).toEqual([{ name: 'x', elemType: 'FLOAT', dims: ['n', 8] }, { name: 't', elemType: 'FLOAT', dims: ['n', 1] }]);
    expect(g.outputs).toEqual([{ name: 'out', elemType: 'FLOAT', dims: ['n', 8] }]);
    const allowed = ['Reshape', 'Mul', 'Sin', 'Cos', 'Concat', 'Gemm', 'Unsqueeze', 'Sub', 'Gather', 'ReduceSum', 'Add', 'Sigmoid', 'Sqrt', 'Div'];
    expect(g.ops.filter((o) => !allowed.includes(o))).toEqual([]);
  });

  for (const output of ['position', 'displacement'] as const) {
    for (const backend of backends) {
      it(`${output} output on ${backend} equals the jax-js EGNN and the float64 reference`, async () => {
        const cfg = small(output);
        const params = randomEgnn(cfg, output === 'position' ? 2 : 3);
        const ref = egnnPredictor(cfg, params);
        const onnx = await exportedNetworkPredictor(net(cfg), params, { backend });
        try {
          expect(onnx.backend).toBe(backend);
          const [kx, kt] = split(keyFromSeed(4));
          // DW-4-sized coordinates (a few units), 37 rows (not a bucket size).
          const x0 = normalBatch(kx, 37, 8);
          const x: Batch = { ...x0, data: x0.data.map((v) => 2 * v) };
          const tRow = uniform(kt, 37, 1e-3, 1);
          for (const t of [tRow, 0.5, 1]) {
            const a = onnx.predict(x, t);
            const b = ref.predict(x, t);
            const f64 = egnnForwardReference(cfg, params, x, t);
            const r = worst(a, b);
            expect(r.ratio, `max abs diff ${r.abs}`).toBeLessThanOrEqual(1);
            expect(worst(a, f64).ratio).toBeLessThanOrEqual(1);
            // The coordinate updates are not negligible (an order-1 network).
            const upd = output === 'position' ? worst(a, x).abs : maxAbs(a);
            expect(upd).toBeGreaterThan(0.05);
          }
        } finally {
          onnx.dispose();
          ref.dispose();
        }
      });
    }
  }

  it('other particle counts, dimensions and depths: 3 particles in 3-D with 1 layer, 5 in 2-D with 2', async () => {
    const cfgs: EgnnConfig[] = [
      { ...small('position'), particles: 3, spaceDim: 3, layers: 1 },
      { ...small('displacement'), particles: 5, spaceDim: 2, layers: 2, hidden: 8, embDim: 4 },
    ];
    for (const [c, cfg] of cfgs.entries()) {
      const params = randomEgnn(cfg, 20 + c);
      const ref = egnnPredictor(cfg, params);
      const dim = cfg.particles * cfg.spaceDim;
      const x = normalBatch(keyFromSeed(30 + c), 11, dim);
      const t = uniform(keyFromSeed(40 + c), 11, 0.01, 1);
      for (const backend of backends) {
        const onnx = await exportedNetworkPredictor(net(cfg), params, { backend });
        try {
          const r = worst(onnx.predict(x, t), ref.predict(x, t));
          expect(r.ratio, `${backend}, config ${c}: max abs diff ${r.abs}`).toBeLessThanOrEqual(1);
        } finally {
          onnx.dispose();
        }
      }
      ref.dispose();
    }
  });

  for (const backend of backends) {
    it(`is equivariant on ${backend}: rotation + reflection + permutation in, the same out; translation-invariant`, async () => {
      const cfg = small('displacement');
      const params = randomEgnn(cfg, 5);
      const onnx = await exportedNetworkPredictor(net(cfg), params, { backend });
      try {
        const [kx, ka, kp, kt] = split(keyFromSeed(6), 4);
        const n = 16;
        const x = normalBatch(kx, n, 8);
        const t = uniform(kt, n, 0.05, 1);
        const angle = uniform(ka, 1, 0, 2 * Math.PI)[0];
        const perm = permutation(kp, 4);
        // g(x): particle perm[i] of x, rotated by `angle` and reflected in the first axis, at slot i;
        // plus a translation (the output must not see it).
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        const g = (b: Batch, shift: number): Batch => {
          const o = new Float64Array(b.data.length);
          for (let r = 0; r < b.n; r++) {
            for (let i = 0; i < 4; i++) {
              const u = b.data[r * 8 + perm[i] * 2];
              const v = b.data[r * 8 + perm[i] * 2 + 1];
              o[r * 8 + i * 2] = -(c * u - s * v) + shift;
              o[r * 8 + i * 2 + 1] = s * u + c * v - 0.5 * shift;
            }
          }
          return { n: b.n, dim: 8, data: o };
        };
        const gOfF = g(onnx.predict(x, t), 0);
        const fOfG = onnx.predict(g(x, 3), t);
        // Displacements of order 0.01-0.1 (the random network's), 500x the tolerance.
        expect(maxAbs(gOfF)).toBeGreaterThan(0.01);
        expect(worst(fOfG, gOfF).ratio).toBeLessThanOrEqual(1);
      } finally {
        onnx.dispose();
      }
    });
  }
});

/** The model config of a DW-4 amortized run (`tweedie amortized train --target dw4`), network shrunk. */
function dw4ModelConfig(cfg: EgnnConfig): ModelConfig {
  const config = dw4AmortizedConfig();
  config.network = net(cfg);
  return amortizedModelConfig({ format: 'tweedie-amortized', version: 1, target: 'dw4', config, seconds: 0, history: [], best: null });
}

describe('EGNN model export', () => {
  it('writes the sidecar of a DW-4 amortized model, and the file loads back as the same network', async () => {
    const cfg = small('position');
    const params = randomEgnn(cfg, 7);
    const config = dw4ModelConfig(cfg);
    const out = join(work, 'dw4.onnx');
    const sidecar = writeModelOnnx(out, config, params);
    expect(sidecar).toMatchObject({ dim: 8, parametrisation: 'mean', time: 'continuous', schedule: { kind: 'vp', betaMin: 0.1, betaMax: 20 }, data: { source: 'amortized:dw4' } });
    expect(sidecar.network).toMatchObject({ kind: 'egnn', particles: 4, spaceDim: 2, output: 'position' });
    const imported = readOnnxScoreNetwork(out);
    expect(JSON.parse(readFileSync(`${out}.json`, 'utf8'))).toEqual(sidecar);
    expect(imported.graph.metadata['tweedie.parametrisation']).toBe('mean');
    expect(JSON.parse(imported.graph.metadata['tweedie.network'])).toEqual(config.network);
    const ref = egnnPredictor(cfg, params);
    for (const backend of backends) {
      const p = await loadOnnxPredictor(imported, { backend });
      try {
        const x = normalBatch(keyFromSeed(8), 20, 8);
        expect(worst(p.predict(x, 0.3), ref.predict(x, 0.3)).ratio).toBeLessThanOrEqual(1);
      } finally {
        p.dispose();
      }
    }
    ref.dispose();
  });

  it('tweedie export accepts a DW-4 amortized model folder and checks the round trip', async () => {
    const cfg = small('position');
    const params = randomEgnn(cfg, 9);
    const dir = mkdtempSync(join(work, 'dw4-run-'));
    const tensors: Record<string, Tensor> = {};
    toTensors(params, '', tensors);
    writeSafetensors(join(dir, MODEL_FILE), tensors, { tweedie_model: JSON.stringify(dw4ModelConfig(cfg)), tweedie_step: '12' });
    const program = new Command('tweedie').exitOverride();
    registerExport(program);
    let text = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      text += String(s);
      return true;
    });
    try {
      await program.parseAsync(['export', '--model', dir, '--out', join(work, 'cli-dw4.onnx')], { from: 'user' });
    } finally {
      spy.mockRestore();
    }
    expect(text).toMatch(/EGNN of step 12, mean parametrisation, vp schedule/);
    expect(text).toMatch(/reproduces the network/);
    expect(readOnnxScoreNetwork(join(work, 'cli-dw4.onnx')).sidecar.network).toMatchObject({ kind: 'egnn' });
  });

  it('an EGNN checkpoint samples on onnxruntime by default (auto), the same samples as on jax-js', async () => {
    const cfg = small('position');
    const params = randomEgnn(cfg, 11);
    const dir = mkdtempSync(join(work, 'dw4-auto-'));
    const tensors: Record<string, Tensor> = {};
    toTensors(params, '', tensors);
    writeSafetensors(join(dir, MODEL_FILE), tensors, { tweedie_model: JSON.stringify(dw4ModelConfig(cfg)), tweedie_step: '3' });
    const auto = loadSamplingModel(dir);
    expect(auto.record.engine).toBe(hasOrt ? 'onnxruntime' : 'jax');
    const jax = loadSamplingModel(dir, { backend: 'jax' });
    expect(jax.record.engine).toBe('jax');
    const opts = { n: 24, steps: 20, sampler: 'em' as const };
    const a = await drawSamples(keyFromSeed(12), auto.diffusion, auto.makeModel, opts);
    const b = await drawSamples(keyFromSeed(12), jax.diffusion, jax.makeModel, opts);
    // 20 reverse-SDE steps compound the per-forward float32 differences a little: 1e-4 absolute.
    const r = worst(a, b);
    expect(r.abs).toBeLessThan(1e-4);
  });

  it('refuses what it cannot export with one InputError', async () => {
    const cfg = small('displacement');
    const params = randomEgnn(cfg, 10);
    const expectInputError = (f: () => unknown, re: RegExp): void => {
      try {
        f();
      } catch (e) {
        expect(isInputError(e), String(e)).toBe(true);
        expect((e as Error).message).toMatch(re);
        return;
      }
      throw new Error('expected an InputError');
    };
    // The iDEM DW-4 baseline: variance-exploding, which the sidecar cannot describe.
    const idem = { ...dw4ModelConfig(cfg), parametrisation: 'score' as const, diffusion: { kind: 've' as const, sigmaMin: 0.01, sigmaMax: 2 } };
    expectInputError(() => modelOnnxBytes(idem, params), /variance-exploding/);
    // A config the EGNN does not support (a hand-edited checkpoint): named, not a crash.
    const bad = { ...dw4ModelConfig(cfg), network: { ...net(cfg), activation: 'relu' } as unknown as NetworkConfig };
    expectInputError(() => modelOnnxBytes(bad, params), /cannot export this EGNN network to ONNX: EGNN activation must be 'silu'/);
    const oneParticle = { ...dw4ModelConfig(cfg), network: net({ ...cfg, particles: 1 }) };
    expectInputError(() => modelOnnxBytes(oneParticle, params), /EGNN particles must be an integer >= 2/);
    await expect(exportedNetworkPredictor(net({ ...cfg, particles: 1 }), params)).rejects.toThrow(/EGNN particles must be an integer >= 2/);
  });
});
