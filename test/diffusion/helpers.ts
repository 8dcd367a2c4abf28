/**
 * Test helpers (not a test file). For 1-D Gaussian data the exact diffused score is linear in x,
 * so every sampler step is an affine-Gaussian map `x' = a x + b + c z`: the law of the sampler's
 * output is Gaussian with moments we can propagate exactly, step by step, through the very step
 * functions under test. That separates the discretisation bias (deterministic, computed here)
 * from the Monte-Carlo error (calibrated by standard errors in the tests).
 */
import type { Batch } from '../../src/core/batch.js';
import { column } from '../../src/core/batch.js';

const one = (v: number): Batch => ({ n: 1, dim: 1, data: Float64Array.of(v) });

/** A 1-D step `F(x, z)` (a function of one row and its noise, `z = null` for none). */
export type Step1d = (x: Batch, z: Batch | null) => Batch;

/** Propagate `N(mean, variance)` through an affine-Gaussian step: `a, b, c` read off F at 0 and 1. */
export function propagate(step: Step1d, m: { mean: number; variance: number }, noisy: boolean): { mean: number; variance: number } {
  const b = step(one(0), noisy ? one(0) : null).data[0];
  const a = step(one(1), noisy ? one(0) : null).data[0] - b;
  const c = noisy ? step(one(0), one(1)).data[0] - b : 0;
  return { mean: a * m.mean + b, variance: a * a * m.variance + c * c };
}

/** Sample mean and unbiased variance of column j. */
export function moments(x: Batch, j = 0): { mean: number; variance: number } {
  const v = column(x, j);
  let s = 0;
  for (const u of v) s += u;
  const mean = s / v.length;
  let q = 0;
  for (const u of v) q += (u - mean) * (u - mean);
  return { mean, variance: q / (v.length - 1) };
}

/**
 * z-scores of the sample mean and variance of n Gaussian draws against exact moments: standard
 * errors `sqrt(var/n)` and `var sqrt(2/(n-1))` (exact for Gaussian samples).
 */
export function zScores(sample: { mean: number; variance: number }, exact: { mean: number; variance: number }, n: number): { zMean: number; zVar: number } {
  return {
    zMean: (sample.mean - exact.mean) / Math.sqrt(exact.variance / n),
    zVar: (sample.variance - exact.variance) / (exact.variance * Math.sqrt(2 / (n - 1))),
  };
}

/** Mean and sample standard deviation. */
export function meanSd(v: number[]): { mean: number; sd: number } {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const s = Math.sqrt(v.reduce((a, b) => a + (b - m) * (b - m), 0) / (v.length - 1));
  return { mean: m, sd: s };
}
