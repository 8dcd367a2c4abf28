/**
 * A PyTorch-exported score network round-trips: `test/fixtures/onnx/pytorch_mlp.onnx` (a DDPM
 * noise network, 3 x 128 SiLU, written by Debian's python3-torch 1.13 through torch.onnx at
 * opset 17; regenerate with `make_fixture.py` there) loaded with its sidecar gives PyTorch's own
 * outputs (`expected.npy`) within float32 tolerance, on onnxruntime-node and on jax-js. No Python
 * at test time.
 *
 * The fixture differs from our own export on purpose: `t` is a rank-1 input holding the DDPM step
 * index (sidecar `"time": "ddpm-index"`: the network sees `999 t`), the embedding is [cos, sin],
 * the graph uses Constant/Unsqueeze, and the output is named `eps`.
 *
 * Tolerance: |node - torch| <= 5e-6 + 1e-4 |torch| (outputs up to 0.1). Both sides compute in
 * float32 from the same weights and the same float32 step index (t * 999 is exact in float64 and
 * rounded once on both sides), with different sin/cos and dot-product kernels. Measured max
 * |node - torch|: 2.2e-8 on onnxruntime, 3.1e-7 on jax-js (its wasm sin/cos are float32
 * approximations, see core/engine.ts).
 */
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { keyFromSeed } from '../../src/core/key.js';
import { onnxRuntimeAvailable } from '../../src/core/onnx-runtime.js';
import { DDPMSchedule } from '../../src/diffusion/ddpm.js';
import { loadOnnxPredictor, loadOnnxScoreModel, readOnnxScoreNetwork } from '../../src/io/onnx-import.js';
import { readNpyBatch } from '../../src/io/npy.js';
import { drawSamples } from '../../src/cli/model-sampling.js';

const FIX = resolve(import.meta.dirname, '../fixtures/onnx');
const MODEL = join(FIX, 'pytorch_mlp.onnx');
const backends: ('jax' | 'onnxruntime')[] = ['jax', ...(onnxRuntimeAvailable() ? ['onnxruntime' as const] : [])];

beforeAll(async () => {
  await initEngine();
});

describe('a PyTorch-exported score network', () => {
  it('is read with its sidecar: rank-1 step-index time, output eps, DDPM schedule', () => {
    const net = readOnnxScoreNetwork(MODEL);
    expect(net.graph.producer).toBe('pytorch 1.13.0');
    expect(net.spec).toEqual({ dim: 2, x: 'x', t: 't', tRank: 1, output: 'eps', timeScale: 999, timeOffset: 0 });
    expect(net.sidecar.schedule).toEqual({ kind: 'ddpm', steps: 1000, betaStart: 1e-4, betaEnd: 0.02 });
  });

  const x = readNpyBatch(join(FIX, 'inputs_x.npy'));
  const tCol = readNpyBatch(join(FIX, 'inputs_t.npy'));
  const expected = readNpyBatch(join(FIX, 'expected.npy'));

  for (const backend of backends) {
    it(`gives PyTorch's outputs within float32 tolerance on ${backend}`, async () => {
      const p = await loadOnnxPredictor(readOnnxScoreNetwork(MODEL), { backend });
      try {
        expect(p.backend).toBe(backend);
        const t = Float64Array.from(tCol.data);
        const got = p.predict(x, t);
        let worst = 0;
        let abs = 0;
        for (let i = 0; i < got.data.length; i++) {
          const d = Math.abs(got.data[i] - expected.data[i]);
          abs = Math.max(abs, d);
          worst = Math.max(worst, d / (5e-6 + 1e-4 * Math.abs(expected.data[i])));
        }
        expect(worst, `max |node - torch| = ${abs.toExponential(2)}`).toBeLessThanOrEqual(1);
        // One shared time (what the samplers pass) is the same as that time on every row.
        const one = p.predict(x, t[5]);
        const rows = p.predict(x, new Float64Array(x.n).fill(t[5]));
        expect(Array.from(one.data)).toEqual(Array.from(rows.data));
      } finally {
        p.dispose();
      }
    });
  }

  it('serves the samplers: ancestral DDPM samples are finite and of the right shape', async () => {
    const net = readOnnxScoreNetwork(MODEL);
    const model = await loadOnnxScoreModel(net, new DDPMSchedule({ steps: 1000, betaStart: 1e-4, betaEnd: 0.02 }));
    model.dispose();
    const x0 = await drawSamples(keyFromSeed(0), net.sidecar.schedule, (s) => loadOnnxScoreModel(net, s), { n: 50, steps: 1000, sampler: 'ancestral' });
    expect([x0.n, x0.dim]).toEqual([50, 2]);
    expect(x0.data.every(Number.isFinite)).toBe(true);
  });
});
