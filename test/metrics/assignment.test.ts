import { describe, expect, it } from 'vitest';
import { foldIn, keyFromSeed, permutation, uniform } from '../../src/core/key.js';
import { linearSumAssignment } from '../../src/metrics/assignment.js';

/** Minimum over all permutations (Heap's algorithm), for n <= 7. */
function bruteForce(cost: Float64Array, n: number): number {
  const p = Array.from({ length: n }, (_, i) => i);
  const c = new Array<number>(n).fill(0);
  const evalP = () => p.reduce((s, j, i) => s + cost[i * n + j], 0);
  let best = evalP();
  let i = 0;
  while (i < n) {
    if (c[i] < i) {
      const k = i % 2 === 0 ? 0 : c[i];
      [p[k], p[i]] = [p[i], p[k]];
      best = Math.min(best, evalP());
      c[i]++;
      i = 0;
    } else {
      c[i] = 0;
      i++;
    }
  }
  return best;
}

/** An independent O(n^3) Hungarian algorithm (potentials, 1-indexed, e-maxx form) for larger n. */
function hungarianReference(cost: Float64Array, n: number): number {
  const u = new Array<number>(n + 1).fill(0);
  const v = new Array<number>(n + 1).fill(0);
  const p = new Array<number>(n + 1).fill(0);
  const way = new Array<number>(n + 1).fill(0);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Array<number>(n + 1).fill(Infinity);
    const used = new Array<boolean>(n + 1).fill(false);
    do {
      used[j0] = true;
      const i0 = p[j0];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (!used[j]) {
          const cur = cost[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
          if (cur < minv[j]) {
            minv[j] = cur;
            way[j] = j0;
          }
          if (minv[j] < delta) {
            delta = minv[j];
            j1 = j;
          }
        }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  let s = 0;
  for (let j = 1; j <= n; j++) s += cost[(p[j] - 1) * n + (j - 1)];
  return s;
}

function isPermutation(x: Int32Array, m: number): boolean {
  const seen = new Set<number>();
  for (const j of x) {
    if (j < 0 || j >= m || seen.has(j)) return false;
    seen.add(j);
  }
  return true;
}

describe('linearSumAssignment', () => {
  it('matches brute force over all permutations for n <= 7 (continuous and tied integer costs)', () => {
    const key = keyFromSeed(0);
    for (let seed = 0; seed < 300; seed++) {
      const n = 1 + (seed % 7);
      const u = uniform(foldIn(key, seed), n * n);
      // Every third case uses small integer costs, so that ties and degenerate duals occur.
      const cost = seed % 3 === 0 ? u.map((x) => Math.floor(x * 4)) : u.map((x) => 10 * x - 3);
      const res = linearSumAssignment(cost, n);
      expect(isPermutation(res.rowToCol, n)).toBe(true);
      const recomputed = Array.from(res.rowToCol).reduce((s, j, i) => s + cost[i * n + j], 0);
      expect(res.cost).toBe(recomputed);
      expect(res.cost).toBeCloseTo(bruteForce(cost, n), 10);
    }
  });

  it('matches an independent Hungarian implementation for n = 80', () => {
    const key = keyFromSeed(7);
    for (let seed = 0; seed < 10; seed++) {
      const n = 80;
      const cost = uniform(foldIn(key, seed), n * n).map((x) => (seed % 2 ? Math.floor(x * 10) : x));
      expect(linearSumAssignment(cost, n).cost).toBeCloseTo(hungarianReference(cost, n), 9);
    }
  });

  it('recovers a planted permutation when it is the unique zero-cost assignment', () => {
    const n = 50;
    const perm = permutation(keyFromSeed(3), n);
    const noise = uniform(keyFromSeed(4), n * n);
    const cost = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) cost[i * n + j] = j === perm[i] ? 0 : 1 + noise[i * n + j];
    const res = linearSumAssignment(cost, n);
    expect(Array.from(res.rowToCol)).toEqual(Array.from(perm));
    expect(res.cost).toBe(0);
  });

  it('handles rectangular problems (rows <= columns) against brute force on padded squares', () => {
    const key = keyFromSeed(11);
    for (let seed = 0; seed < 40; seed++) {
      const n = 1 + (seed % 4);
      const m = n + 1 + (seed % 3);
      const cost = uniform(foldIn(key, seed), n * m);
      const res = linearSumAssignment(cost, n, m);
      expect(isPermutation(res.rowToCol, m)).toBe(true);
      // Pad with zero-cost dummy rows: the square optimum equals the rectangular one.
      const sq = new Float64Array(m * m);
      sq.set(cost);
      expect(res.cost).toBeCloseTo(bruteForce(sq, m), 10);
    }
  });

  it('rejects bad input with named errors', () => {
    expect(() => linearSumAssignment(new Float64Array(3), 2)).toThrow(/expected 2 x 2/);
    expect(() => linearSumAssignment(new Float64Array([0, NaN, 1, 2]), 2)).toThrow(/non-finite cost NaN at row 0, column 1/);
    expect(() => linearSumAssignment(new Float64Array(0), 0)).toThrow(RangeError);
    expect(() => linearSumAssignment(new Float64Array(6), 3, 2)).toThrow(/nCols >= nRows/);
  });
});
