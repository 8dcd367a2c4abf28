/**
 * Without onnxruntime-node (simulated with TWEEDIE_DISABLE_ONNXRUNTIME=1 before the runtime is
 * first looked up; vitest runs each test file in its own process), `createTrainer` with engine
 * 'auto' trains on jax-js after ONE process warning, and 'onnxruntime' is an error saying how to
 * install the package.
 */
import { describe, expect, it, vi } from 'vitest';
import { keyFromSeed, normalBatch } from '../../src/core/key.js';
import { DISABLE_ONNXRUNTIME_ENV, onnxRuntimeAvailable } from '../../src/core/onnx-runtime.js';
import type { MlpConfig } from '../../src/models/mlp.js';
import { createTrainer, defaultTrainConfig, initTrainState } from '../../src/models/train.js';

process.env[DISABLE_ONNXRUNTIME_ENV] = '1';

describe('training without onnxruntime-node', () => {
  it("falls back to jax-js with one warning for 'auto'; 'onnxruntime' is an error", async () => {
    const net: MlpConfig = { dim: 2, hidden: 8, depth: 1, embDim: 4, activation: 'silu' };
    const cfg = { ...defaultTrainConfig(), batch: 8 };
    const state = initTrainState(keyFromSeed(0), net, cfg);
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      expect(onnxRuntimeAvailable()).toBe(false);
      for (let k = 0; k < 2; k++) {
        const tr = await createTrainer(net, cfg, state, { engine: 'auto' });
        expect(tr.engine).toBe('jax');
        expect(tr.step(normalBatch(keyFromSeed(1), 8, 2), keyFromSeed(2)).skipped).toBe(false);
        tr.dispose?.();
      }
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/onnxruntime-node is not available.*ONNXRUNTIME_NODE_INSTALL=skip npm install/);
      await expect(createTrainer(net, cfg, state, { engine: 'onnxruntime' })).rejects.toThrow(/onnxruntime-node is not available.*ONNXRUNTIME_NODE_INSTALL=skip npm install/);
    } finally {
      warn.mockRestore();
    }
  });
});
