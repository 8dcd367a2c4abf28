/**
 * What `tweedie amortized` trains on and judges against: the target density, and where its
 * reference samples come from (validation for model selection, test for the reported metrics,
 * and a second independent set of the test's size for the floor).
 *  - GMM-40 2-D / 5-D: exact samples, three disjoint keys.
 *  - DW-4: the shipped sets, `data/val_split_DW4.npy` (validation and floor) and
 *    `data/test_split_DW4.npy` (test), centred; energy TVD and interatomic-distance TVD added.
 *  - a module file exporting `logDensity(x, np)`: no references unless `--reference FILE.npy`.
 */
import { fileURLToPath } from 'node:url';
import { makeBatch, type Batch } from '../core/batch.js';
import { foldIn, keyFromSeed, split, type Key } from '../core/key.js';
import { compareSamples } from '../evaluate/compare.js';
import type { Target } from '../core/types.js';
import type { CompareOptions, EnergyName, MetricName } from '../evaluate/compare.js';
import { loadEnergyModule } from '../io/energy-module.js';
import { InputError } from '../io/errors.js';
import { readNpyBatch } from '../io/npy.js';
import { dw4, randomSymmetry, removeCentreOfMass } from '../targets/dw4.js';
import type { GaussianMixture } from '../targets/gmm.js';
import { gmm40 } from '../targets/gmm40.js';

export const AMORTIZED_TARGETS = ['gmm40', 'gmm40-5d', 'dw4'] as const;

const DATA = (name: string): string => fileURLToPath(new URL(`../../data/${name}`, import.meta.url));

export interface AmortizedProblem {
  name: string;
  target: Target;
  /** `n` validation samples (model selection), or null when there is no reference. */
  validation(key: Key, n: number): Batch | null;
  /** `n` test samples and `n` more independent ones for the floor, or null. */
  test(key: Key, n: number): { test: Batch; floor: Batch } | null;
  /**
   * A random symmetry of the target applied row by row (DW-4: `randomSymmetry`): the floor samples
   * moved by it give the score of an exact sampler when the reference sets are not symmetric.
   */
  symmetrise?: (key: Key, x: Batch) => Batch;
  metrics: MetricName[];
  /** Exact marginal bin probabilities (GMM targets: `marginal_tvd_exact`). */
  exactMarginals?: (j: number, edges: Float64Array) => Float64Array;
  energy?: EnergyName;
  /** Histogram square for TVD in 2-D. */
  range: number;
  bins: number;
}

function rows(b: Batch, start: number, n: number, what: string): Batch {
  if (start + n > b.n) throw new InputError(`${what} holds ${b.n} samples; ${start + n} are needed (lower --validate-n / --eval-n)`);
  return makeBatch(n, b.dim, b.data.slice(start * b.dim, (start + n) * b.dim));
}

function exact(name: string, target: GaussianMixture): AmortizedProblem {
  return {
    name,
    target,
    validation: (key, n) => target.sample(foldIn(key, 1), n),
    test: (key, n) => ({ test: target.sample(foldIn(key, 2), n), floor: target.sample(foldIn(key, 3), n) }),
    // The paper's TVD for GMM-40: per-coordinate histograms, 1000 bins on [-100, 100], against the
    // test set (marginal_tvd) and against the exact bin probabilities (marginal_tvd_exact, the
    // protocol the paper's values match; metrics/tvd.ts).
    metrics: ['w1', 'w2', 'marginal_tvd', 'marginal_tvd_exact', 'mean'],
    exactMarginals: (j, edges) => target.marginalBinProbabilities(j, edges),
    range: 50,
    bins: 100,
  };
}

/** The problem for a built-in target name or a module path (`reference`: optional .npy for a module). */
export async function amortizedProblem(spec: string, reference?: string): Promise<AmortizedProblem> {
  if (spec === 'gmm40') return exact('gmm40', gmm40(2));
  if (spec === 'gmm40-5d') return exact('gmm40-5d', gmm40(5));
  if (spec === 'dw4') {
    const target = dw4();
    const load = (file: string): Batch => removeCentreOfMass(readNpyBatch(DATA(file), { dim: 8 }), 4, 2);
    return {
      name: 'dw4',
      target,
      validation: (_key, n) => rows(load('val_split_DW4.npy'), 0, n, 'data/val_split_DW4.npy'),
      test: (_key, n) => ({ test: rows(load('test_split_DW4.npy'), 0, n, 'data/test_split_DW4.npy'), floor: rows(load('val_split_DW4.npy'), 0, n, 'data/val_split_DW4.npy') }),
      metrics: ['w1', 'w2', 'mean'],
      energy: 'dw4',
      symmetrise: (key, x) => randomSymmetry(key, x, 4, 2),
      range: 50,
      bins: 100,
    };
  }
  if (!/\.(m?js)$/.test(spec)) {
    throw new InputError(`unknown target '${spec}'; choose one of ${AMORTIZED_TARGETS.join(', ')} or give a module file (.mjs) exporting logDensity(x, np)`);
  }
  const target = await loadEnergyModule(spec);
  const ref = reference === undefined ? undefined : readNpyBatch(reference, { dim: target.dim });
  return {
    name: spec,
    target,
    validation: (_key, n) => (ref ? rows(ref, 0, Math.min(n, Math.floor(ref.n / 3)), reference!) : null),
    test: (_key, n) => {
      if (!ref) return null;
      const m = Math.min(n, Math.floor(ref.n / 3));
      return { test: rows(ref, m, m, reference!), floor: rows(ref, 2 * m, m, reference!) };
    },
    metrics: ['w1', 'w2', 'marginal_tvd', 'mean'],
    range: 50,
    bins: 100,
  };
}

/**
 * Keys of the references and evaluation draws of a run with `seed`: `[refs, validation, eval] =
 * split(foldIn(key(seed), 7), 3)`, never shared with training.
 */
export function referenceKeys(seed: number): { refs: Key; validation: Key; evaluation: Key } {
  const [refs, validation, evaluation] = split(foldIn(keyFromSeed(seed), 7), 3);
  return { refs, validation, evaluation };
}

export interface Judgement {
  metrics: Record<string, number>;
  floor: Record<string, number>;
  /**
   * The floor samples moved by random symmetries of the target, against the same test set: what an
   * exact sampler scores when the reference sets are not symmetric (DW-4 only).
   */
  symmetricFloor?: Record<string, number>;
  protocol: Record<string, unknown>;
}

function compareOptions(problem: AmortizedProblem): CompareOptions {
  return {
    metrics: problem.metrics, bins: problem.bins, range: problem.range, energy: problem.energy, maxTransportPoints: 5000,
    ...(problem.exactMarginals ? { exactMarginals: problem.exactMarginals } : {}),
  };
}

/** Metrics of `samples` against the problem's test set, with the floor at the same size. */
export function judgeSamples(key: Key, problem: AmortizedProblem, samples: Batch): Judgement | null {
  const refs = problem.test(key, samples.n);
  if (!refs) return null;
  const opts = compareOptions(problem);
  const [k1, k2] = split(key, 2);
  const r = compareSamples(k1, samples, refs.test, opts);
  const f = compareSamples(k2, refs.floor, refs.test, opts);
  const sym = symmetricFloor(key, problem, samples.n);
  return { metrics: r.metrics, floor: f.metrics, ...(sym ? { symmetricFloor: sym } : {}), protocol: r.protocol };
}

/**
 * The metrics of `n` floor samples moved by random symmetries of the target (`symmetrise`) against
 * the test set of `judgeSamples(key, ...)`: what an exact sampler scores there. Null for a problem
 * without symmetries or references.
 */
export function symmetricFloor(key: Key, problem: AmortizedProblem, n: number): Record<string, number> | null {
  const refs = problem.test(key, n);
  if (!refs || !problem.symmetrise) return null;
  const opts = compareOptions(problem);
  // foldIn, not a third split of judgeSamples' key: its other figures stay as they were.
  const [k1, k2] = split(foldIn(key, 1), 2);
  return compareSamples(k1, problem.symmetrise(k2, refs.floor), refs.test, opts).metrics;
}

