/**
 * Benchmark of the exact assignment behind W1/W2 (SPEC §4): W2 between two GMM-like point sets of
 * n = 500, 1000, 2000 points in 2-D. Prints a table and writes bench/results/assignment.json
 * (relative to the working directory). Run: `npm run build && node dist/bench/assignment.js`.
 * A benchmark, not a test: the numbers depend on the machine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { makeBatch, type Batch } from '../core/batch.js';
import { foldIn, keyFromSeed, normalBatch, randint, type Key } from '../core/key.js';
import { linearSumAssignment } from '../metrics/assignment.js';
import { squaredDistanceMatrix } from '../metrics/wasserstein.js';

/** `n` points from an 8-component 2-D mixture: centres on a circle of radius 4, unit std. */
function gmmLike(key: Key, n: number): Batch {
  const z = normalBatch(foldIn(key, 0), n, 2);
  const comp = randint(foldIn(key, 1), n, 8);
  const out = makeBatch(n, 2);
  for (let i = 0; i < n; i++) {
    const ang = (2 * Math.PI * comp[i]) / 8;
    out.data[2 * i] = 4 * Math.cos(ang) + z.data[2 * i];
    out.data[2 * i + 1] = 4 * Math.sin(ang) + z.data[2 * i + 1];
  }
  return out;
}

interface Row {
  n: number;
  distanceMs: number;
  assignmentMs: number;
  totalMs: number;
  w2: number;
  /** Assignment on the Euclidean (not squared) cost, i.e. the W1 problem, for comparison. */
  w1AssignmentMs: number;
  w1: number;
}

function main(): void {
  const sizes = [500, 1000, 2000];
  const reps = 3;
  const rows: Row[] = [];
  const key = keyFromSeed(2024);
  for (const n of sizes) {
    let best: Row | undefined;
    for (let r = 0; r < reps; r++) {
      const a = gmmLike(foldIn(key, 2 * r), n);
      const b = gmmLike(foldIn(key, 2 * r + 1), n);
      const t0 = performance.now();
      const c = squaredDistanceMatrix(a, b);
      const t1 = performance.now();
      const { cost } = linearSumAssignment(c, n);
      const t2 = performance.now();
      for (let k = 0; k < c.length; k++) c[k] = Math.sqrt(c[k]);
      const t3 = performance.now();
      const w1 = linearSumAssignment(c, n).cost / n;
      const t4 = performance.now();
      const row = {
        n,
        distanceMs: t1 - t0,
        assignmentMs: t2 - t1,
        totalMs: t2 - t0,
        w2: Math.sqrt(cost / n),
        w1AssignmentMs: t4 - t3,
        w1,
      };
      if (!best || row.totalMs < best.totalMs) best = row;
    }
    rows.push(best!);
  }
  console.log(`W2 by exact assignment, 2-D GMM-like points, best of ${reps} (${cpus()[0]?.model ?? 'cpu'}, node ${process.version})`);
  console.log('      n   distance ms  assignment ms    total ms        W2   W1 assign ms        W1');
  for (const r of rows) {
    console.log(
      `${String(r.n).padStart(7)} ${r.distanceMs.toFixed(1).padStart(12)} ${r.assignmentMs.toFixed(1).padStart(14)} ${r.totalMs
        .toFixed(1)
        .padStart(11)} ${r.w2.toFixed(4).padStart(9)} ${r.w1AssignmentMs.toFixed(1).padStart(13)} ${r.w1.toFixed(4).padStart(9)}`,
    );
  }
  const dir = join('bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'assignment.json');
  writeFileSync(
    file,
    JSON.stringify(
      {
        benchmark: 'W2 exact assignment (Jonker–Volgenant / Crouse shortest augmenting path)',
        points: '2-D, 8-component GMM-like (centres radius 4, unit std), two independent sets of equal size',
        repetitions: reps,
        statistic: 'best of repetitions',
        node: process.version,
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        date: new Date().toISOString(),
        rows,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`wrote ${file}`);
}

main();
