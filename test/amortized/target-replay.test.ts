/**
 * The target replay (`target-replay.ts`): rows round-trip exactly and the FIFO keeps the newest.
 * The trainer's use of it (steps per iteration, exact resume through a checkpoint file) is tested
 * in `train.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { keyFromSeed } from '../../src/core/key.js';
import { TargetReplay, checkTargetReplay } from '../../src/amortized/target-replay.js';
import type { PreparedBatch } from '../../src/models/loss.js';

function rows(n: number, dim: number, from: number): PreparedBatch {
  const v = (k: number): Float64Array => Float64Array.from({ length: k }, (_, i) => from + i / 8);
  return { n, dim, xt: v(n * dim), t: v(n).map((x) => x + 100), target: v(n * dim).map((x) => x + 200), w: v(n).map((x) => x + 300), eps: v(n * dim).map((x) => -x) };
}

describe('TargetReplay', () => {
  it('returns exactly the rows pushed, keeps the newest capacity rows, and restores from its snapshot', () => {
    const r = new TargetReplay(5, 2);
    r.push(rows(3, 2, 0));
    r.push(rows(3, 2, 10)); // 6 rows into 5: the first one is gone
    expect(r.size).toBe(5);
    const snap = r.snapshot();
    expect(snap.dim).toBe(TargetReplay.width(2));
    const pushed = [rows(3, 2, 0), rows(3, 2, 10)];
    const all = pushed.flatMap((b) => Array.from({ length: 3 }, (_, i) => JSON.stringify([
      Array.from(b.xt.subarray(2 * i, 2 * i + 2)), b.t[i], Array.from(b.target.subarray(2 * i, 2 * i + 2)), b.w[i], Array.from(b.eps.subarray(2 * i, 2 * i + 2)),
    ])));
    const kept = new Set(all.slice(1));
    const s = TargetReplay.restore(5, 2, snap).sample(keyFromSeed(3), 400);
    const seen = new Set<string>();
    for (let i = 0; i < s.n; i++) {
      const row = JSON.stringify([Array.from(s.xt.subarray(2 * i, 2 * i + 2)), s.t[i], Array.from(s.target.subarray(2 * i, 2 * i + 2)), s.w[i], Array.from(s.eps.subarray(2 * i, 2 * i + 2))]);
      expect(kept.has(row)).toBe(true); // every drawn row is a pushed row, intact, and never the evicted one
      seen.add(row);
    }
    expect(seen.size).toBe(5); // 400 draws from 5 rows miss one with probability < 1e-37
    expect(() => r.push(rows(1, 3, 0))).toThrow(/dimension 2/);
    expect(() => TargetReplay.restore(5, 3, snap)).toThrow(/columns/);
    expect(() => checkTargetReplay({ capacity: 0, updates: 1 })).toThrow(/capacity/);
    expect(() => checkTargetReplay({ capacity: 10, updates: 1.5 })).toThrow(/updates/);
  });
});
