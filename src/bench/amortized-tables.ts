/**
 * The amortized-posterior paper's Table 1 (GMM-40 2-D / 5-D: W1, W2, TVD, MSE / L1 / L2 of the
 * mean) and Table 2 (DW-4: W1, W2, energy TVD, ...) for this method (AIS and HMC posteriors),
 * the iDEM baseline, and plain MCMC / SMC given the same number of target-gradient evaluations
 * as our AIS run of the same target and seed. Every figure sits next to the floor of its protocol
 * (two reference sets of the same size), as mean (standard error) over seeds.
 *
 * Trained methods run `tweedie amortized train` (the built CLI) with `--minutes M` as the
 * training budget (scaled down from the paper's to fit 2 cores; stated in the output) and report
 * the weights selected by validation W2. MCMC: `n` HMC chains from a broad Gaussian with the step
 * size adapted during the first half; SMC: annealed importance sampling from the same Gaussian
 * with resampling (`baselines/mcmc.ts`). Their evaluation budget is capped by `--mcmc-cap`.
 *
 * 'ais-ir' refines each AIS run by importance resampling with the probability-flow ODE density
 * (`--refine M` candidates, default 10,000; GMM targets only).
 *
 * Run: `npm run bench:amortized [-- --targets gmm40,gmm40-5d,dw4 --methods ais,ais-ir,hmc,idem,mcmc,smc
 *   --seeds 5 --minutes 10 [--epochs E] [--threads T] --n 2000 --merge]`. Writes bench/results/amortized-tables.json (or
 * `--out FILE`) and prints Markdown tables. A trained run whose folder under `--runs DIR`
 * (bench/runs/amortized) holds a checkpoint is resumed: give another budget its own `--runs` and `--out`.
 * `--merge --rejudge --seeds 0` recomputes every kept run's metrics from its saved samples.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { foldIn, keyFromSeed } from '../core/key.js';
import { runMcmcBaseline, runSmcBaseline } from '../baselines/mcmc.js';
import { amortizedProblem, judgeSamples, referenceKeys, symmetricFloor } from '../cli/amortized-problem.js';
import { readNpyBatch } from '../io/npy.js';
import { removeCentreOfMass } from '../targets/dw4.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CLI = join(ROOT, 'dist/cli/main.js');
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const targets = arg('targets', 'gmm40,gmm40-5d,dw4').split(',');
const methods = arg('methods', 'ais,ais-ir,hmc,idem,mcmc,smc').split(',');
const seeds = Number(arg('seeds', '5'));
const firstSeed = Number(arg('first-seed', '0'));
const minutes = Number(arg('minutes', '10'));
/** Epochs of the trained methods (so that a decaying lr completes within the budget) [preset]. */
const epochs = arg('epochs', '');
/** Worker threads of each training run [all cores]. */
const threads = arg('threads', '');
const n = Number(arg('n', '2000'));
const mcmcCap = Number(arg('mcmc-cap', '2e9'));
const runsDir = arg('runs', join(ROOT, 'bench/runs/amortized'));
const outFile = arg('out', join(ROOT, 'bench/results/amortized-tables.json'));
const merge = process.argv.includes('--merge');
/**
 * Judge every kept run again from its saved samples (`--runs DIR/target/method/seedS/samples.npy`)
 * with today's metrics, e.g. after a metric was added; runs without saved samples (MCMC, SMC) keep theirs.
 */
const rejudge = process.argv.includes('--rejudge');
/** W2 above which a run counts as diverged (the floors are 1.5-4.5). */
const DIVERGED_W2 = 1e3;
/** Candidates of the 'ais-ir' refinement (resampled to n). */
const refineCandidates = Number(arg('refine', '10000'));

interface Run {
  target: string; method: string; seed: number; metrics: Record<string, number>; floor: Record<string, number>; seconds: number; targetEvaluations: number;
  /** Training iterations of a trained method (its budget in steps: runs with a --minutes cap stop at different counts). */
  iterations?: number;
  notes: string[];
}

function trained(target: string, method: string, seed: number): Run {
  const out = join(runsDir, target, method, `seed${seed}`);
  mkdirSync(out, { recursive: true });
  const args = ['amortized', 'train', '--target', target, '--posterior', method, '--seed', String(seed), '--minutes', String(minutes), '--eval-n', String(n), '--out', out, '--quiet'];
  if (epochs) args.push('--epochs', epochs);
  if (threads) args.push('--threads', threads);
  if (existsSync(join(out, 'checkpoint.safetensors'))) args.push('--resume');
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${target}/${method}/seed ${seed} failed: ${r.stderr}`);
  const res = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  const metrics = Object.fromEntries(Object.entries(res.metrics as Record<string, number>).filter(([k]) => k in res.floor));
  // result.json's total sums the sessions of a resumed run (a call that only finishes one would count seconds).
  const seconds = typeof res.timings?.totalSeconds === 'number' ? res.timings.totalSeconds : (Date.now() - t0) / 1000;
  return { target, method, seed, metrics, floor: res.floor, seconds, targetEvaluations: res.metrics.targetEvaluations, iterations: res.metrics.iterations, notes: res.notes };
}

/**
 * 'ais-ir': the AIS run of the same target and seed refined by importance resampling
 * (`tweedie amortized sample --refine`, the paper's optional refinement): `refineCandidates`
 * probability-flow ODE candidates resampled to `n`. No training of its own; its seconds and target
 * evaluations add the refinement's to the AIS run's.
 */
function refined(target: string, seed: number): Run {
  const model = join(runsDir, target, 'ais', `seed${seed}`);
  if (!existsSync(join(model, 'result.json'))) throw new Error(`${target}/ais-ir/seed ${seed}: needs the AIS run ${model} first (add ais to --methods)`);
  const base = JSON.parse(readFileSync(join(model, 'result.json'), 'utf8'));
  const out = join(runsDir, target, 'ais-ir', `seed${seed}`);
  mkdirSync(out, { recursive: true });
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [CLI, 'amortized', 'sample', '--model', model, '--n', String(n), '--refine', String(refineCandidates), '--seed', String(seed), '--out', out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${target}/ais-ir/seed ${seed} failed: ${r.stderr}`);
  const res = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  const metrics = Object.fromEntries(Object.entries(res.metrics as Record<string, number>).filter(([k]) => k in res.floor));
  return {
    target, method: 'ais-ir', seed, metrics, floor: res.floor, seconds: base.timings.totalSeconds + (Date.now() - t0) / 1000,
    targetEvaluations: base.metrics.targetEvaluations + res.metrics.targetEvaluations, iterations: base.metrics.iterations, notes: [...res.notes, `ESS fraction ${res.metrics.essFraction.toFixed(3)}`],
  };
}

async function sampler(target: string, method: 'mcmc' | 'smc', seed: number, budget: number): Promise<Run> {
  const problem = await amortizedProblem(target);
  const keys = referenceKeys(seed);
  const key = foldIn(keyFromSeed(seed), 11);
  const t0 = Date.now();
  // A broad start: GMM-40's means lie in [-40, 40]^2; DW-4's interatomic distances are ~4.
  const initScale = target.startsWith('gmm40') ? 40 : 2;
  const gradientBudget = Math.min(budget, mcmcCap);
  const raw = method === 'mcmc'
    ? runMcmcBaseline(key, problem.target, { n, kernel: 'hmc', gradientBudget, stepSize: 0.5, initScale, adapt: true }).samples
    : runSmcBaseline(key, problem.target, { n, kernel: 'hmc', gradientBudget, stepSize: 0.5, initScale, adapt: true }).samples;
  // DW-4 is judged in centre-of-mass-free coordinates (the references are; SPEC §3): its density
  // is flat along translations, so SMC's resampled particles drift there (mean L1 error ~4 before).
  const samples = target === 'dw4' ? removeCentreOfMass(raw, 4, 2) : raw;
  const j = judgeSamples(keys.refs, problem, samples)!;
  return { target, method, seed, metrics: j.metrics, floor: j.floor, seconds: (Date.now() - t0) / 1000, targetEvaluations: gradientBudget, notes: [`budget: ${gradientBudget} target gradients (our AIS run used ${budget})`] };
}

function meanSe(v: number[]): { mean: number; se: number } {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : NaN;
  return { mean: m, se: sd / Math.sqrt(v.length) };
}

async function main(): Promise<void> {
  const previous: Run[] = merge && existsSync(outFile) ? JSON.parse(readFileSync(outFile, 'utf8')).runs : [];
  const runs: Run[] = previous.filter((r) => !(targets.includes(r.target) && methods.includes(r.method) && r.seed >= firstSeed && r.seed < firstSeed + seeds));
  if (rejudge) {
    for (const r of runs) {
      const file = join(runsDir, r.target, r.method, `seed${r.seed}`, 'samples.npy');
      if (!existsSync(file)) continue;
      const j = judgeSamples(referenceKeys(r.seed).refs, await amortizedProblem(r.target), readNpyBatch(file))!;
      r.metrics = j.metrics;
      r.floor = j.floor;
      process.stderr.write(`rejudged ${r.target} ${r.method} seed ${r.seed} from ${file}\n`);
    }
  }
  for (const target of targets) {
    for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
      let aisEvaluations = NaN;
      for (const method of methods) {
        // The ODE density of a DW-4 model is not a density on R^8 (centre-of-mass-free samples): no refinement.
        if (method === 'ais-ir' && target === 'dw4') continue;
        const run = method === 'ais-ir' ? refined(target, seed) : method === 'mcmc' || method === 'smc'
          ? await sampler(target, method, seed, Number.isFinite(aisEvaluations) ? aisEvaluations : (runs.find((r) => r.target === target && r.method === 'ais' && r.seed === seed)?.targetEvaluations ?? mcmcCap))
          : trained(target, method, seed);
        if (method === 'ais') aisEvaluations = run.targetEvaluations;
        runs.push(run);
        process.stderr.write(`${target} ${method} seed ${seed}: W2 ${run.metrics.w2?.toFixed(3)} (floor ${run.floor.w2?.toFixed(3)}), ${run.seconds.toFixed(0)} s, ${run.targetEvaluations.toExponential(2)} target evaluations\n`);
      }
    }
  }
  const table: Record<string, Record<string, Record<string, { mean: number; se: number }>>> = {};
  for (const r of runs) (table[r.target] ??= {})[r.method] ??= {};
  for (const t of Object.keys(table)) {
    for (const m of Object.keys(table[t])) {
      const rs = runs.filter((r) => r.target === t && r.method === m);
      const names = Object.keys(rs[0].metrics);
      // A diverged run (samples ~1e11 and beyond: iDEM, 7 of 10 GMM runs) would swamp any mean;
      // it is counted in `diverged` and left out of the metric means.
      const ok = rs.filter((r) => Number.isFinite(r.metrics.w2) && r.metrics.w2 < DIVERGED_W2);
      if (ok.length > 0) for (const k of names) table[t][m][k] = meanSe(ok.map((r) => r.metrics[k]));
      table[t][m].diverged = { mean: rs.length - ok.length, se: 0 };
      for (const k of names) table[t][m][`floor_${k}`] = meanSe(rs.map((r) => r.floor[k]));
      table[t][m].seconds = meanSe(rs.map((r) => r.seconds));
      table[t][m].targetEvaluations = meanSe(rs.map((r) => r.targetEvaluations));
      table[t][m].seeds = { mean: rs.length, se: 0 };
      const its = rs.map((r) => r.iterations).filter((v): v is number => v !== undefined);
      if (its.length === rs.length) table[t][m].iterations = meanSe(its);
    }
  }
  // Where the reference sets are not symmetric (DW-4), the score of an exact sampler: the floor
  // samples moved by random symmetries of the target, per seed of the table.
  const exactSampler: Record<string, Record<string, { mean: number; se: number }>> = {};
  for (const t of Object.keys(table)) {
    const problem = await amortizedProblem(t);
    const seedsOf = [...new Set(runs.filter((r) => r.target === t).map((r) => r.seed))];
    const per = seedsOf.map((s) => symmetricFloor(referenceKeys(s).refs, problem, n)).filter((m): m is Record<string, number> => m !== null);
    if (per.length > 0) exactSampler[t] = Object.fromEntries(Object.keys(per[0]).map((k) => [k, meanSe(per.map((m) => m[k]))]));
  }
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify({
    created: new Date().toISOString(), machine: `${cpus().length} cores, ${cpus()[0]?.model ?? ''}`,
    protocol: { n, minutesPerTrainingRun: minutes, epochs: epochs || 'preset', threads: threads || 'all cores', selection: 'validation W2 on 2000 held-out reference samples, every 10 epochs', mcmcCap, refineCandidates }, table,
    exactSampler: { about: 'the floor samples moved by random symmetries of the target (rotations, reflections, particle permutations) against the same test sets: what an exact sampler scores where the reference sets are not symmetric', ...exactSampler },
    runs,
  }, null, 2)}\n`);
  for (const t of Object.keys(table)) {
    // From the floor entries, which every method has even when all its runs diverged.
    const metricNames = Object.keys(table[t][Object.keys(table[t])[0]]).filter((k) => k.startsWith('floor_')).map((k) => k.slice('floor_'.length));
    process.stdout.write(`\n### ${t} (${n} samples; mean (standard error) over seeds)\n\n| method | ${metricNames.join(' | ')} | seconds | iterations | target evals | seeds |\n|---|${metricNames.map(() => '---').join('|')}|---|---|---|---|\n`);
    const f = (c: { mean: number; se: number }) => `${c.mean.toPrecision(3)} (${Number.isFinite(c.se) ? c.se.toPrecision(2) : '-'})`;
    for (const m of Object.keys(table[t])) {
      const c = table[t][m];
      process.stdout.write(`| ${m}${c.diverged.mean > 0 ? ` (${c.diverged.mean} diverged, not in the means)` : ''} | ${metricNames.map((k) => (c[k] ? f(c[k]) : '—')).join(' | ')} | ${c.seconds.mean.toFixed(0)} | ${c.iterations ? c.iterations.mean.toFixed(0) : '—'} | ${c.targetEvaluations.mean.toExponential(1)} | ${c.seeds.mean} |\n`);
    }
    const any = table[t][Object.keys(table[t])[0]];
    process.stdout.write(`| floor | ${metricNames.map((k) => f(any[`floor_${k}`])).join(' | ')} | | | | |\n`);
    const ex = exactSampler[t];
    if (ex) process.stdout.write(`| exact sampler (symmetrised floor) | ${metricNames.map((k) => (ex[k] ? f(ex[k]) : '—')).join(' | ')} | | | | |\n`);
  }
  process.stdout.write(`\nwrote ${outFile}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
