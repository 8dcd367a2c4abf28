/**
 * Where training data come from: a built-in sampleable target (fresh exact samples every step:
 * infinite data), a user's `.npy` file, or the bundled digits (64-D, scaled to [-1, 1]).
 * Minibatches are a pure function of a key, so a resumed run sees the same batches.
 */
import { existsSync } from 'node:fs';
import type { Batch } from '../core/batch.js';
import { type Key, permutation, randint } from '../core/key.js';
import { getSampleable, sampleableTargetNames } from '../targets/registry.js';
import { loadDigits } from './digits.js';
import { InputError } from './errors.js';
import { readNpyBatch } from './npy.js';

/** How stored data relate to the raw data: `raw = x * scale + shift` (identity when absent). */
export interface Normalisation {
  readonly scale: number;
  readonly shift: number;
}

export interface TrainingData {
  /** What `--data` said: a target name, `digits`, or a file path. */
  readonly source: string;
  readonly kind: 'builtin' | 'file' | 'digits';
  readonly dim: number;
  /** Rows in the data set (undefined for a built-in generator: infinite). */
  readonly size?: number;
  readonly normalisation: Normalisation;
  /** A minibatch of `size` rows (with replacement for finite sets). */
  batch(key: Key, size: number): Batch;
  /** `n` reference rows for metrics (fresh samples, or a random subset of a finite set). */
  reference(key: Key, n: number): Batch;
}

export const DATA_HELP = `${sampleableTargetNames().join(', ')}, digits, or a FILE.npy (n x dim)`;

function fromArray(source: string, kind: 'file' | 'digits', data: Batch, normalisation: Normalisation): TrainingData {
  const rows = (idx: Int32Array): Batch => {
    const out = new Float64Array(idx.length * data.dim);
    idx.forEach((r, i) => out.set(data.data.subarray(r * data.dim, (r + 1) * data.dim), i * data.dim));
    return { n: idx.length, dim: data.dim, data: out };
  };
  return {
    source, kind, dim: data.dim, size: data.n, normalisation,
    batch: (key, size) => rows(randint(key, size, data.n)),
    reference: (key, n) => {
      if (n >= data.n) return data;
      return rows(permutation(key, data.n).subarray(0, n));
    },
  };
}

/** Resolve `--data`: a built-in name, `digits`, or a path to a `.npy` file. */
export function resolveTrainingData(source: string): TrainingData {
  if (sampleableTargetNames().includes(source)) {
    const target = getSampleable(source);
    return {
      source, kind: 'builtin', dim: target.dim, normalisation: { scale: 1, shift: 0 },
      batch: (key, size) => target.sample(key, size),
      reference: (key, n) => target.sample(key, n),
    };
  }
  if (source === 'digits') {
    // Pixels 0..16 are stored as x = raw / 8 - 1, i.e. raw = 8 x + 8.
    return fromArray(source, 'digits', loadDigits().images, { scale: 8, shift: 8 });
  }
  if (source.endsWith('.npy') || existsSync(source)) {
    const data = readNpyBatch(source);
    if (data.n < 2) throw new InputError(`${source}: training data need at least 2 rows, found ${data.n}`);
    return fromArray(source, 'file', data, { scale: 1, shift: 0 });
  }
  throw new InputError(`unknown data '${source}': give ${DATA_HELP}`);
}
