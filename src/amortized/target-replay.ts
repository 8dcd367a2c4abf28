/**
 * A replay of regression targets (beyond the paper): the rows `(x_t, t, target, w)` that the
 * posterior sampler produced in recent iterations, kept in a FIFO so that each iteration can take
 * several Adam steps on batches drawn from them.
 *
 * Why this is sound: in Algorithm 1 the target of a noisy point, an estimate of `E[x_0 | x_t]`,
 * depends on the target density and `x_t` only, never on the network, so a row stays a valid
 * (unbiased, for the resampled estimate) regression example however many updates later it is
 * used; only the distribution of the `x_t` lags the buffer by `capacity / batch` iterations.
 * Why it pays: on GMM-40 an iteration's posterior sampling costs ~40-55 ms (100 particles) and an Adam step of the
 * MLP ~0.6 ms, and the network, not the targets, is what limits the result: trained on *exact*
 * posterior means, 15,000 steps reach marginal TVD 0.25 and 60,000 steps 0.18 (floor 0.17);
 * 15,000 fresh batches each used for 4 steps from a 6,400-row replay also reach 0.18.
 */
import { makeBatch, type Batch } from '../core/batch.js';
import type { Key } from '../core/key.js';
import type { PreparedBatch } from '../models/loss.js';
import { ReplayBuffer } from './buffer.js';

export interface TargetReplayOptions {
  /** Rows kept (FIFO). */
  capacity: number;
  /** Adam steps per iteration, each on a batch drawn from the replay with replacement. */
  updates: number;
}

export function checkTargetReplay(o: TargetReplayOptions): void {
  for (const [name, v] of [['capacity', o.capacity], ['updates', o.updates]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`amortized targetReplay.${name} must be a positive integer, got ${v}`);
  }
}

/** Row layout: `x_t` (dim), `t`, `target` (dim), `w`, `eps` (dim). */
export class TargetReplay {
  private readonly rows: ReplayBuffer;

  constructor(capacity: number, readonly dim: number) {
    this.rows = new ReplayBuffer(capacity, TargetReplay.width(dim));
  }

  /** Columns of one stored row. */
  static width(dim: number): number {
    return 3 * dim + 2;
  }

  get size(): number {
    return this.rows.size;
  }

  push(b: PreparedBatch): void {
    if (b.dim !== this.dim) throw new RangeError(`target replay holds dimension ${this.dim}, got ${b.dim}`);
    const d = this.dim;
    const packed = makeBatch(b.n, TargetReplay.width(d));
    for (let i = 0; i < b.n; i++) {
      const row = packed.data.subarray(i * packed.dim, (i + 1) * packed.dim);
      row.set(b.xt.subarray(i * d, (i + 1) * d), 0);
      row[d] = b.t[i];
      row.set(b.target.subarray(i * d, (i + 1) * d), d + 1);
      row[2 * d + 1] = b.w[i];
      row.set(b.eps.subarray(i * d, (i + 1) * d), 2 * d + 2);
    }
    this.rows.push(packed);
  }

  /** `n` rows drawn uniformly with replacement, as a training batch. */
  sample(key: Key, n: number): PreparedBatch {
    const d = this.dim;
    const packed = this.rows.sample(key, n);
    const b: PreparedBatch = { n, dim: d, xt: new Float64Array(n * d), t: new Float64Array(n), target: new Float64Array(n * d), w: new Float64Array(n), eps: new Float64Array(n * d) };
    for (let i = 0; i < n; i++) {
      const row = packed.data.subarray(i * packed.dim, (i + 1) * packed.dim);
      b.xt.set(row.subarray(0, d), i * d);
      b.t[i] = row[d];
      b.target.set(row.subarray(d + 1, 2 * d + 1), i * d);
      b.w[i] = row[2 * d + 1];
      b.eps.set(row.subarray(2 * d + 2), i * d);
    }
    return b;
  }

  /** The packed rows for a checkpoint, oldest first. */
  snapshot(): Batch {
    return this.rows.snapshot();
  }

  /** A replay holding `packed` rows (oldest first), as after pushing them in order. */
  static restore(capacity: number, dim: number, packed: Batch): TargetReplay {
    if (packed.dim !== TargetReplay.width(dim)) throw new RangeError(`target replay rows have ${packed.dim} columns, expected ${TargetReplay.width(dim)} for dimension ${dim}`);
    const r = new TargetReplay(capacity, dim);
    r.rows.push(packed);
    return r;
  }
}
