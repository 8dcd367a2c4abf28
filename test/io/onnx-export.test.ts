/**
 * ONNX export of our MLP: the graph has the declared interface (x [n, dim], t [n, 1] -> [n, dim])
 * and metadata, and run by onnxruntime-node and by @jax-js/onnx it reproduces the jax-js network
 * (`networkPredictor`) within float32 tolerance, for per-row and shared times, in the small-dim
 * (broadcast) and matmul first-layer paths; the file + sidecar load back as the same score model.
 *
 * Tolerance: both sides compute in float32 from the same float32 weights and the same float32
 * phase t * f, but with different kernels (sin/cos approximations, summation order of the 128-wide
 * dot products, Gemm vs split first layer), so they agree to a few float32 ulps of the hidden
 * activations: |a - b| <= 2e-5 + 1e-4 |b| (measured max 1.5e-6 at t = 1, where the phases reach 1000 rad; float32 eps 1.2e-7).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch } from '../../src/core/batch.js';
import { initEngine } from '../../src/core/engine.js';
import { keyFromSeed, normalBatch, uniform } from '../../src/core/key.js';
import { onnxRuntimeAvailable } from '../../src/core/onnx-runtime.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import type { ModelConfig } from '../../src/io/checkpoint.js';
import { mlpOnnxBytes, writeModelOnnx } from '../../src/io/onnx-export.js';
import { loadOnnxPredictor, loadOnnxScoreModel, readOnnxGraph, readOnnxScoreNetwork } from '../../src/io/onnx-import.js';
import { initMlp, networkPredictor, networkScoreModel, type MlpConfig } from '../../src/models/mlp.js';

const work = mkdtempSync(join(tmpdir(), 'tweedie-onnx-export-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  await initEngine();
});

const hasOrt = onnxRuntimeAvailable();
const backends: ('jax' | 'onnxruntime')[] = ['jax', ...(hasOrt ? ['onnxruntime' as const] : [])];

/** max over entries of |a - b| / (2e-5 + 1e-4 |b|): <= 1 passes. */
function worst(a: Batch, b: Batch): { ratio: number; abs: number } {
  expect([a.n, a.dim]).toEqual([b.n, b.dim]);
  let ratio = 0;
  let abs = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    abs = Math.max(abs, d);
    ratio = Math.max(ratio, d / (2e-5 + 1e-4 * Math.abs(b.data[i])));
  }
  return { ratio, abs };
}

const configs: [string, MlpConfig][] = [
  ['default 3 x 128, dim 2', { dim: 2, hidden: 128, depth: 3, embDim: 32, activation: 'silu' }],
  ['2 x 16, dim 5 (matmul first layer)', { dim: 5, hidden: 16, depth: 2, embDim: 8, activation: 'silu' }],
  ['2 x 16, dim 2, inputScale 2, outputScale 0.5', { dim: 2, hidden: 16, depth: 2, embDim: 8, activation: 'silu', inputScale: 2, outputScale: 0.5 }],
];

describe('ONNX export of the MLP', () => {
  it('declares x [n, dim], t [n, 1] -> out [n, dim] with the expected ops and metadata', () => {
    const cfg = configs[0][1];
    const g = readOnnxGraph(mlpOnnxBytes(cfg, initMlp(keyFromSeed(0), cfg), { 'tweedie.parametrisation': 'noise' }), 'mlp.onnx');
    expect(g.inputs).toEqual([{ name: 'x', elemType: 'FLOAT', dims: ['n', 2] }, { name: 't', elemType: 'FLOAT', dims: ['n', 1] }]);
    expect(g.outputs).toEqual([{ name: 'out', elemType: 'FLOAT', dims: ['n', 2] }]);
    expect(g.ops).toEqual(['Mul', 'Sin', 'Cos', 'Concat', 'Gemm', 'Sigmoid']);
    expect(g.opsets).toEqual({ 'ai.onnx': 17 });
    expect(g.metadata['tweedie.parametrisation']).toBe('noise');
  });

  for (const [name, cfg] of configs) {
    for (const backend of backends) {
      it(`${name}: ${backend} runs the export as the jax-js network does`, async () => {
        const params = initMlp(keyFromSeed(3), cfg);
        const ref = networkPredictor(cfg, params);
        const path = join(work, `${cfg.dim}-${backend}.onnx`);
        const config: ModelConfig = {
          format: 'tweedie-model', version: 1, network: { kind: 'mlp', ...cfg }, parametrisation: 'noise',
          diffusion: { kind: 'vp', betaMin: 0.1, betaMax: 20 }, data: { source: 'test', dim: cfg.dim, normalisation: { scale: 1, shift: 0 } },
        };
        writeModelOnnx(path, config, params);
        const p = await loadOnnxPredictor(readOnnxScoreNetwork(path), { backend });
        try {
          expect(p.backend).toBe(backend);
          const x = normalBatch(keyFromSeed(4), 300, cfg.dim);
          const ts = uniform(keyFromSeed(5), 300, 1e-3, 1);
          for (const t of [ts, 0.37, 1e-3, 1] as const) {
            const w = worst(p.predict(x, t), ref.predict(x, t));
            expect(w.ratio, `max abs diff ${w.abs} at t = ${typeof t === 'number' ? t : 'per row'}`).toBeLessThanOrEqual(1);
          }
        } finally {
          p.dispose();
          ref.dispose();
        }
      });
    }
  }

  it('the written file and sidecar load back as the same score model', async () => {
    const cfg = configs[0][1];
    const params = initMlp(keyFromSeed(7), cfg);
    const sde = new VPSDE({ betaMin: 0.1, betaMax: 20 });
    const config: ModelConfig = {
      format: 'tweedie-model', version: 1, network: { kind: 'mlp', ...cfg }, parametrisation: 'mean',
      diffusion: { kind: 'vp', betaMin: 0.1, betaMax: 20 }, data: { source: '8gaussians', dim: 2, normalisation: { scale: 2, shift: 0.5 } },
    };
    const path = join(work, 'model.onnx');
    writeModelOnnx(path, config, params);
    const side = JSON.parse(readFileSync(`${path}.json`, 'utf8'));
    expect(side).toMatchObject({
      format: 'tweedie-onnx-score', version: 1, dim: 2, parametrisation: 'mean', time: 'continuous',
      schedule: { kind: 'vp', betaMin: 0.1, betaMax: 20 }, data: { source: '8gaussians', normalisation: { scale: 2, shift: 0.5 } },
    });
    const meta = readOnnxGraph(readFileSync(path), path).metadata;
    expect(JSON.parse(meta['tweedie.schedule'])).toEqual({ kind: 'vp', betaMin: 0.1, betaMax: 20 });
    expect(JSON.parse(meta['tweedie.normalisation'])).toEqual({ scale: 2, shift: 0.5 });
    expect(JSON.parse(meta['tweedie.sidecar'])).toEqual(side);

    const mine = networkScoreModel(cfg, params, 'mean', sde);
    const theirs = await loadOnnxScoreModel(path, sde);
    try {
      const x = normalBatch(keyFromSeed(8), 200, 2);
      // The mean parametrisation divides by sigma_t^2: compare where it is O(1) (t >= 0.05).
      for (const t of [0.05, 0.5, 1]) {
        const w = worst(theirs.score(x, t), mine.score(x, t));
        expect(w.ratio, `max abs diff ${w.abs} at t = ${t}`).toBeLessThanOrEqual(10);
      }
    } finally {
      mine.dispose();
      theirs.dispose();
    }
  });
});
