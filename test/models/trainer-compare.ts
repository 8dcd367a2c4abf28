/**
 * Comparing two trainers' states and reports (the onnxruntime steps of `onnx-train-step.ts`
 * against the jax-js `JitTrainer`): shared by the MLP's and the EGNN's step tests.
 */
import { expect } from 'vitest';
import type { StepReport, TrainState } from '../../src/models/train.js';
import type { Tensors } from '../../src/models/tensors.js';

export function maxAbsDiff(a: Tensors, b: Tensors): number {
  let m = 0;
  for (const k of Object.keys(a)) {
    const x = a[k].data;
    const y = b[k].data;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  }
  return m;
}

export function maxAbs(a: Tensors): number {
  let m = 0;
  for (const k of Object.keys(a)) for (const v of a[k].data) m = Math.max(m, Math.abs(v));
  return m;
}

/** Largest differences between two states, part by part; the moments relative to their largest entry. */
export function stateDiff(a: TrainState, b: TrainState): { params: number; ema: number; m: number; v: number } {
  return {
    params: maxAbsDiff(a.params, b.params),
    ema: maxAbsDiff(a.ema, b.ema),
    m: maxAbsDiff(a.adamM, b.adamM) / Math.max(1e-30, maxAbs(a.adamM)),
    v: maxAbsDiff(a.adamV, b.adamV) / Math.max(1e-30, maxAbs(a.adamV)),
  };
}

export function bitEqual(a: Tensors, b: Tensors): boolean {
  return Object.keys(a).every((k) => Buffer.from(a[k].data.buffer, a[k].data.byteOffset, a[k].data.byteLength)
    .equals(Buffer.from(b[k].data.buffer, b[k].data.byteOffset, b[k].data.byteLength)));
}

export function expectStateBitEqual(a: TrainState, b: TrainState): void {
  expect(a.step).toBe(b.step);
  for (const part of ['params', 'ema', 'adamM', 'adamV'] as const) expect(bitEqual(a[part], b[part]), part).toBe(true);
}

/**
 * Step reports of two engines agree: the same skips, steps and learning rates, and loss and
 * gradient norm within `tol` relative.
 */
export function expectReportsAgree(jax: StepReport[], ort: StepReport[], tol: { loss: number; gradNorm: number }): void {
  expect(ort.length).toBe(jax.length);
  for (let k = 0; k < jax.length; k++) {
    expect(ort[k].skipped).toBe(jax[k].skipped);
    expect(ort[k].step).toBe(jax[k].step);
    expect(ort[k].lr).toBe(jax[k].lr);
    if (!jax[k].skipped) {
      expect(Math.abs(ort[k].loss - jax[k].loss) / jax[k].loss, `loss at step ${k}`).toBeLessThan(tol.loss);
      expect(Math.abs(ort[k].gradNorm - jax[k].gradNorm) / jax[k].gradNorm, `grad norm at step ${k}`).toBeLessThan(tol.gradNorm);
    }
  }
}
