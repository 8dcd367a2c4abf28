/**
 * The replay buffer of Algorithm 1 (Mnih et al. 2015; as in iDEM): a FIFO of model samples with
 * a fixed capacity; once full, each new sample overwrites the oldest. Training inputs are drawn
 * uniformly with replacement from what it holds.
 */
import { makeBatch, type Batch } from '../core/batch.js';
import { randint, type Key } from '../core/key.js';

export class ReplayBuffer {
  readonly capacity: number;
  readonly dim: number;
  /** `capacity x dim`, row-major; rows `0 .. size-1` are filled. */
  readonly data: Float64Array;
  private next = 0;
  private filled = 0;

  constructor(capacity: number, dim: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`replay buffer capacity must be a positive integer, got ${capacity}`);
    if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`replay buffer dimension must be a positive integer, got ${dim}`);
    this.capacity = capacity;
    this.dim = dim;
    this.data = new Float64Array(capacity * dim);
  }

  get size(): number {
    return this.filled;
  }

  /** Add rows (non-finite rows are skipped and counted: they would poison every later batch). */
  push(x: Batch): { added: number; skipped: number } {
    if (x.dim !== this.dim) throw new RangeError(`replay buffer holds dimension ${this.dim}, got ${x.dim}`);
    let added = 0;
    let skipped = 0;
    for (let i = 0; i < x.n; i++) {
      const row = x.data.subarray(i * this.dim, (i + 1) * this.dim);
      if (!row.every(Number.isFinite)) {
        skipped++;
        continue;
      }
      this.data.set(row, this.next * this.dim);
      this.next = (this.next + 1) % this.capacity;
      this.filled = Math.min(this.filled + 1, this.capacity);
      added++;
    }
    return { added, skipped };
  }

  /**
   * `n` rows drawn uniformly with replacement. Row `k` is the k-th oldest, not the k-th slot: a
   * buffer restored from its snapshot (oldest first) then draws what the original draws, also
   * after the FIFO has wrapped.
   */
  sample(key: Key, n: number): Batch {
    if (this.filled === 0) throw new Error('replay buffer is empty');
    const idx = randint(key, n, this.filled);
    const out = makeBatch(n, this.dim);
    for (let i = 0; i < n; i++) {
      const r = this.slot(idx[i]);
      out.data.set(this.data.subarray(r * this.dim, (r + 1) * this.dim), i * this.dim);
    }
    return out;
  }

  /** The slot holding the k-th oldest row. */
  private slot(k: number): number {
    return this.filled < this.capacity ? k : (this.next + k) % this.capacity;
  }

  /** The state for a checkpoint: the rows in insertion order (oldest first). */
  snapshot(): Batch {
    const out = makeBatch(this.filled, this.dim);
    for (let i = 0; i < this.filled; i++) {
      const r = this.slot(i);
      out.data.set(this.data.subarray(r * this.dim, (r + 1) * this.dim), i * this.dim);
    }
    return out;
  }

  /** A buffer holding `rows` (oldest first), as after pushing them in order. */
  static restore(capacity: number, rows: Batch): ReplayBuffer {
    const b = new ReplayBuffer(capacity, rows.dim);
    b.push(rows);
    return b;
  }
}
