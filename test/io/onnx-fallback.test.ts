/**
 * Without onnxruntime-node (simulated with TWEEDIE_DISABLE_ONNXRUNTIME=1, set before the runtime
 * is first looked up; vitest runs each test file in its own process) the library falls back to
 * jax-js with ONE process warning however many networks are loaded, and asking for onnxruntime
 * explicitly is an InputError that says how to install it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { keyFromSeed, normalBatch } from '../../src/core/key.js';
import { DISABLE_ONNXRUNTIME_ENV, onnxRuntimeAvailable } from '../../src/core/onnx-runtime.js';
import type { ModelConfig } from '../../src/io/checkpoint.js';
import { isInputError } from '../../src/io/errors.js';
import { writeModelOnnx } from '../../src/io/onnx-export.js';
import { loadOnnxPredictor, readOnnxScoreNetwork } from '../../src/io/onnx-import.js';
import { initMlp, type MlpConfig } from '../../src/models/mlp.js';

process.env[DISABLE_ONNXRUNTIME_ENV] = '1';
const work = mkdtempSync(join(tmpdir(), 'tweedie-onnx-fallback-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('without onnxruntime-node', () => {
  it('falls back to jax-js with one warning, and explicit onnxruntime is an input error', async () => {
    const cfg: MlpConfig = { dim: 2, hidden: 8, depth: 1, embDim: 4, activation: 'silu' };
    const config: ModelConfig = {
      format: 'tweedie-model', version: 1, network: { kind: 'mlp', ...cfg }, parametrisation: 'noise',
      diffusion: { kind: 'vp', betaMin: 0.1, betaMax: 20 }, data: { source: 'test', dim: 2, normalisation: { scale: 1, shift: 0 } },
    };
    const path = join(work, 'm.onnx');
    writeModelOnnx(path, config, initMlp(keyFromSeed(0), cfg));
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      expect(onnxRuntimeAvailable()).toBe(false);
      for (let k = 0; k < 3; k++) {
        const p = await loadOnnxPredictor(readOnnxScoreNetwork(path));
        expect(p.backend).toBe('jax');
        expect(p.predict(normalBatch(keyFromSeed(1), 5, 2), 0.3).data.every(Number.isFinite)).toBe(true);
        p.dispose();
      }
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/onnxruntime-node is not available .*run on jax-js.*ONNXRUNTIME_NODE_INSTALL=skip npm install/);
      const e = await loadOnnxPredictor(readOnnxScoreNetwork(path), { backend: 'onnxruntime' }).catch((err: unknown) => err);
      expect(isInputError(e)).toBe(true);
      expect((e as Error).message).toMatch(/onnxruntime-node is not installed.*ONNXRUNTIME_NODE_INSTALL=skip npm install/);
    } finally {
      warn.mockRestore();
    }
  });
});
