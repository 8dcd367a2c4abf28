/**
 * Benchmark of the exact assignment behind W1/W2 (SPEC §4): W2 between two GMM-like point sets of
 * n = 500, 1000, 2000 points in 2-D. Prints a table and writes bench/results/assignment.json
 * (relative to the working directory). Run from the repository root:
 * `npm run build && node dist/bench/assignment.js`.
 *
 * In the same run, a reference: the same point sets are written to temporary .npy files and
 * bench/reference/assignment.py solves them with SciPy's `linear_sum_assignment` (and POT's
 * `ot.emd2` when importable) under Debian's /usr/bin/python3, timed the same way. The table
 * shows both side by side with the ratio ours/SciPy, and every W2 must agree to 1e-9 relative
 * (otherwise the exit code is 1). Without Python or SciPy one line says the reference is
 * skipped and why (install: `apt-get install -y python3-scipy python3-pot`).
 * A benchmark, not a test: the numbers depend on the machine.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBatch, type Batch } from '../core/batch.js';
import { foldIn, keyFromSeed, normalBatch, randint, type Key } from '../core/key.js';
import { writeNpy } from '../io/npy.js';
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
  /** W2 of every repetition (each on its own pair of point sets), for the reference check. */
  w2PerRep: number[];
}

const PYTHON = '/usr/bin/python3';
const W2_RTOL = 1e-9;

interface RefCase {
  n: number;
  rep: number;
  distanceMs: number;
  scipyMs: number;
  scipyW2: number;
  potMs?: number;
  potW2?: number;
}

interface RefOutput {
  python: string;
  numpy: string;
  scipy: string;
  pot: string | null;
  potMissing: string | null;
  cases: RefCase[];
}

interface RefRow {
  n: number;
  distanceMs: number;
  assignmentMs: number;
  totalMs: number;
  potMs: number | null;
  /** ours / SciPy, best of repetitions each. */
  ratioAssignment: number;
  ratioTotal: number;
  /** Largest |W2 ours - W2 ref| / W2 ref over the repetitions. */
  scipyW2MaxRelDiff: number;
  potW2MaxRelDiff: number | null;
}

type Reference =
  | { available: false; reason: string }
  | {
      available: true;
      tool: string;
      python: string;
      numpy: string;
      scipy: string;
      pot: string | null;
      potMissing: string | null;
      statistic: string;
      w2RelTolerance: number;
      agree: boolean;
      rows: RefRow[];
    };

function findScript(): string | undefined {
  const candidates = [fileURLToPath(new URL('../../bench/reference/assignment.py', import.meta.url)), join('bench', 'reference', 'assignment.py')];
  return candidates.find((p) => existsSync(p));
}

/** Why the Python reference cannot run here, or undefined when it can. */
function referenceUnavailable(script: string | undefined): string | undefined {
  if (!script) return 'bench/reference/assignment.py not found (run from the repository root)';
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const r = spawnSync(PYTHON, ['-c', 'import numpy, scipy.optimize'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return `${PYTHON} could not run: ${r.error.message}`;
  if (r.status !== 0) {
    const last = r.stderr.trim().split('\n').pop() ?? '';
    return `SciPy is not importable by ${PYTHON} (${last}); install with: apt-get install -y python3-scipy python3-pot`;
  }
  return undefined;
}

function runReference(rows: Row[], sets: Map<string, [Batch, Batch]>, reps: number): Reference {
  const script = findScript();
  const why = referenceUnavailable(script);
  if (why) return { available: false, reason: why };
  const tmp = mkdtempSync(join(tmpdir(), 'tweedie-bench-'));
  try {
    const cases: { n: number; rep: number; a: string; b: string }[] = [];
    for (const [id, [a, b]] of sets) {
      const [n, rep] = id.split(':').map(Number);
      const pa = join(tmp, `a_${n}_${rep}.npy`);
      const pb = join(tmp, `b_${n}_${rep}.npy`);
      writeNpy(pa, a);
      writeNpy(pb, b);
      cases.push({ n, rep, a: pa, b: pb });
    }
    const manifest = join(tmp, 'manifest.json');
    writeFileSync(manifest, JSON.stringify({ cases }));
    const r = spawnSync(PYTHON, [script!, manifest], { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20 });
    if (r.error || r.status !== 0) {
      const detail = r.error ? r.error.message : r.stderr.trim().split('\n').slice(-3).join(' | ');
      return { available: false, reason: `the Python reference failed (exit ${r.status}): ${detail}` };
    }
    const ref = JSON.parse(r.stdout) as RefOutput;
    const refRows: RefRow[] = [];
    let agree = true;
    for (const row of rows) {
      const mine = ref.cases.filter((c) => c.n === row.n);
      if (mine.length !== reps) return { available: false, reason: `the Python reference returned ${mine.length} cases for n = ${row.n}, expected ${reps}` };
      const best = mine.reduce((p, c) => (c.distanceMs + c.scipyMs < p.distanceMs + p.scipyMs ? c : p));
      const relDiff = (key: 'scipyW2' | 'potW2'): number => Math.max(...mine.map((c) => Math.abs(row.w2PerRep[c.rep] - c[key]!) / c[key]!));
      const scipyW2MaxRelDiff = relDiff('scipyW2');
      const hasPot = mine.every((c) => c.potW2 !== undefined);
      const potW2MaxRelDiff = hasPot ? relDiff('potW2') : null;
      // NaN (a failed comparison) must count as disagreement.
      if (!(scipyW2MaxRelDiff <= W2_RTOL) || (potW2MaxRelDiff !== null && !(potW2MaxRelDiff <= W2_RTOL))) agree = false;
      refRows.push({
        n: row.n,
        distanceMs: best.distanceMs,
        assignmentMs: best.scipyMs,
        totalMs: best.distanceMs + best.scipyMs,
        potMs: hasPot ? Math.min(...mine.map((c) => c.potMs!)) : null,
        ratioAssignment: row.assignmentMs / best.scipyMs,
        ratioTotal: row.totalMs / (best.distanceMs + best.scipyMs),
        scipyW2MaxRelDiff,
        potW2MaxRelDiff,
      });
    }
    return {
      available: true,
      tool: 'scipy.optimize.linear_sum_assignment on the NumPy squared-distance matrix; POT ot.emd2 (uniform weights) when importable',
      python: ref.python,
      numpy: ref.numpy,
      scipy: ref.scipy,
      pot: ref.pot,
      potMissing: ref.potMissing,
      statistic: 'best of repetitions (same point sets as ours); potMs: fastest repetition',
      w2RelTolerance: W2_RTOL,
      agree,
      rows: refRows,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function main(): void {
  const sizes = [500, 1000, 2000];
  const reps = 3;
  const rows: Row[] = [];
  const key = keyFromSeed(2024);
  const sets = new Map<string, [Batch, Batch]>();
  for (const n of sizes) {
    let best: Row | undefined;
    const w2PerRep: number[] = [];
    for (let r = 0; r < reps; r++) {
      const a = gmmLike(foldIn(key, 2 * r), n);
      const b = gmmLike(foldIn(key, 2 * r + 1), n);
      sets.set(`${n}:${r}`, [a, b]);
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
        w2PerRep,
      };
      w2PerRep.push(row.w2);
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
  const reference = runReference(rows, sets, reps);
  if (!reference.available) {
    console.log(`Reference (SciPy) skipped: ${reference.reason}`);
  } else {
    const potNote = reference.pot ? `, POT ${reference.pot}` : `; POT not importable (${reference.potMissing})`;
    console.log('');
    console.log(`Same point sets, reference: SciPy ${reference.scipy} linear_sum_assignment (Python ${reference.python}, NumPy ${reference.numpy}${potNote}), best of ${reps}`);
    console.log('      n   ours assign   scipy assign  ratio   ours total  scipy total  ratio    POT emd2 ms   max rel dW2 (scipy / POT)');
    for (const q of reference.rows) {
      const r = rows.find((x) => x.n === q.n)!;
      console.log(
        `${String(q.n).padStart(7)} ${r.assignmentMs.toFixed(1).padStart(13)} ${q.assignmentMs.toFixed(1).padStart(14)} ${q.ratioAssignment.toFixed(2).padStart(6)} ${r.totalMs
          .toFixed(1)
          .padStart(12)} ${q.totalMs.toFixed(1).padStart(12)} ${q.ratioTotal.toFixed(2).padStart(6)} ${(q.potMs === null ? '-' : q.potMs.toFixed(1)).padStart(14)}   ${q.scipyW2MaxRelDiff.toExponential(1)} / ${
          q.potW2MaxRelDiff === null ? '-' : q.potW2MaxRelDiff.toExponential(1)
        }`,
      );
    }
    if (reference.agree) {
      console.log(`W2 agrees with the reference to ${W2_RTOL} relative for every point set`);
    } else {
      console.log(`MISMATCH: W2 differs from the reference by more than ${W2_RTOL} relative (see the table)`);
      process.exitCode = 1;
    }
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
        reference,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`wrote ${file}`);
}

main();
