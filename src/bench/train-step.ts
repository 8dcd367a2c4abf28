/**
 * Speed of one training step (issue 3, item 6): this project's step (forward, backward, global
 * clipping, Adam, EMA and the NaN guard in one compiled jax-js program; the times, noise and
 * schedule values drawn in TS) against the same network and step in PyTorch
 * (`bench/reference/train_step.py`), for batch 64 and 1024, side by side with the ratio.
 *
 * Run from the repository root: `npm run build && node dist/bench/train-step.js`
 * [`--steps N`]. Writes bench/results/train-step.json (relative to the working directory).
 *
 * The PyTorch reference runs under Debian's /usr/bin/python3 with `python3-torch`, with OpenBLAS
 * loaded (LD_LIBRARY_PATH at the openblas-openmp folder of `libopenblas0-openmp` when present,
 * see DESIGN.md: Debian's torch otherwise links the slow reference BLAS), once with 1 thread and
 * once with 2 (`torch.set_num_threads` and OMP_NUM_THREADS). Without it one line says that the
 * reference is skipped and why (install: `apt-get install -y python3-torch libopenblas0-openmp`).
 * This project's step is single-threaded (jax-js' wasm worker pool is asynchronous, and the
 * trainer's `step()` is synchronous). Every figure is the best of 5 repetitions, because other
 * work on a 2-core machine makes single timings noisy; the load average is recorded with them.
 * A benchmark, not a test: the numbers depend on the machine.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { foldIn, keyFromSeed, normalBatch } from '../core/key.js';
import { defaultMlpConfig } from '../models/mlp.js';
import { createTrainer, defaultTrainConfig, initTrainState } from '../models/train.js';

const BATCHES = [64, 1024];
const OPENBLAS = '/usr/lib/x86_64-linux-gnu/openblas-openmp';

interface RefResult {
  threads: number;
  batch: number;
  ms_per_step: number;
}

/** Best-of-5 milliseconds per step of this project's trainer at batch `b`. */
async function timeOurs(b: number, steps: number): Promise<number> {
  const mlp = defaultMlpConfig(2);
  const cfg = { ...defaultTrainConfig(), batch: b };
  const tr = await createTrainer(mlp, cfg, initTrainState(keyFromSeed(0), mlp, cfg));
  const x0 = normalBatch(keyFromSeed(1), b, 2);
  const noise = keyFromSeed(2);
  let k = 0;
  for (; k < 30; k++) tr.step(x0, foldIn(noise, k)); // compile + warm up
  const per = Math.max(1, Math.floor(steps / 5));
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < per; i++, k++) tr.step(x0, foldIn(noise, k));
    best = Math.min(best, (performance.now() - t0) / per);
  }
  tr.dispose?.();
  return best;
}

function pythonEnv(threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(threads) };
  if (existsSync(OPENBLAS)) env.LD_LIBRARY_PATH = [OPENBLAS, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return env;
}

/** The PyTorch reference's results, or the reason it was skipped. */
function runReference(steps: number): { results: RefResult[]; torch: string; blas: string; peak_rss_mb: number } | { skipped: string } {
  const python = '/usr/bin/python3';
  const script = fileURLToPath(new URL('../../bench/reference/train_step.py', import.meta.url));
  if (!existsSync(script)) return { skipped: `reference script not found at ${script}` };
  if (!existsSync(python)) return { skipped: `${python} not found (install: apt-get install -y python3-torch libopenblas0-openmp)` };
  const probe = spawnSync(python, ['-c', 'import torch'], { env: pythonEnv(1), encoding: 'utf8' });
  if (probe.status !== 0) {
    const why = (probe.stderr || probe.error?.message || 'unknown error').trim().split('\n').pop();
    return { skipped: `'import torch' failed under ${python}: ${why} (install: apt-get install -y python3-torch libopenblas0-openmp)` };
  }
  const results: RefResult[] = [];
  let torch = '';
  let peak = 0;
  for (const threads of [1, 2]) {
    const r = spawnSync(python, [script, '--threads', String(threads), '--batches', BATCHES.join(','), '--steps', String(steps)], {
      env: pythonEnv(threads), encoding: 'utf8', maxBuffer: 1 << 20,
    });
    if (r.status !== 0) return { skipped: `reference run failed: ${(r.stderr || '').trim().split('\n').pop()}` };
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { torch: string; results: RefResult[]; peak_rss_mb: number };
    torch = out.torch;
    peak = Math.max(peak, out.peak_rss_mb);
    results.push(...out.results);
  }
  return { results, torch, peak_rss_mb: peak, blas: existsSync(OPENBLAS) ? `OpenBLAS (${OPENBLAS})` : 'default BLAS (libopenblas0-openmp not installed)' };
}

function fmt(v: number | undefined, digits = 2): string {
  return v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

async function main(): Promise<void> {
  const stepsArg = process.argv.indexOf('--steps');
  const steps = stepsArg > 0 ? Number(process.argv[stepsArg + 1]) : 200;
  const load0 = loadavg();
  const ours: Record<number, number> = {};
  for (const b of BATCHES) ours[b] = await timeOurs(b, b <= 256 ? steps : Math.max(50, Math.floor(steps / 4)));
  const ref = runReference(steps);
  const load1 = loadavg();

  const refAt = (threads: number, b: number): number | undefined =>
    'results' in ref ? ref.results.find((r) => r.threads === threads && r.batch === b)?.ms_per_step : undefined;
  console.log('train step, MLP 3x128 SiLU, dim 2 (ms per step, best of 5; lower is better)');
  console.log('batch | tweedie (jax-js wasm, 1 thread) | PyTorch 1 thread | ratio | PyTorch 2 threads | ratio');
  const rows = BATCHES.map((b) => {
    const p1 = refAt(1, b);
    const p2 = refAt(2, b);
    const row = {
      batch: b,
      tweedie_ms: Number(ours[b].toFixed(4)),
      pytorch_1thread_ms: p1 ?? null,
      ratio_vs_1thread: p1 ? Number((ours[b] / p1).toFixed(3)) : null,
      pytorch_2threads_ms: p2 ?? null,
      ratio_vs_2threads: p2 ? Number((ours[b] / p2).toFixed(3)) : null,
    };
    console.log(
      `${String(b).padStart(5)} | ${fmt(ours[b]).padStart(31)} | ${fmt(p1).padStart(16)} | ${fmt(row.ratio_vs_1thread ?? undefined).padStart(5)} | ` +
        `${fmt(p2).padStart(17)} | ${fmt(row.ratio_vs_2threads ?? undefined).padStart(5)}`,
    );
    return row;
  });
  if ('skipped' in ref) console.log(`PyTorch reference skipped: ${ref.skipped}`);
  console.log(`load average ${load0.map((v) => v.toFixed(2)).join(' ')} before, ${load1.map((v) => v.toFixed(2)).join(' ')} after`);
  // Other work on the machine: single-threaded figures stay usable (best of 5), but a 2-thread
  // OpenMP run then competes with it and its threads spin-wait, so that figure is not meaningful.
  const busy = Math.max(load0[0], load1[0]) > cpus().length - 1;
  const warning = busy
    ? `machine busy (load average above ${cpus().length - 1} on ${cpus().length} cores): the 2-thread PyTorch figures are not meaningful; compare against 1 thread`
    : undefined;
  if (warning) console.log(`note: ${warning}`);

  const out = {
    benchmark: 'train-step',
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, loadavg_before: load0, loadavg_after: load1 },
    network: { dim: 2, hidden: 128, depth: 3, embDim: 32, activation: 'silu' },
    step: 'noise-parametrisation DSM loss on the VP SDE, backward, global-norm clipping, Adam, EMA, finite-loss guard',
    timing: 'best of 5 repetitions after 30 warm-up steps; ms per step',
    tweedie: {
      engine: 'jax-js 0.1.25 wasm, single thread, float32', results: BATCHES.map((b) => ({ batch: b, ms_per_step: Number(ours[b].toFixed(4)) })),
      // Peak resident memory of the whole Node process (V8, the wasm heap, the jax-js module graph).
      peak_rss_mb: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
    },
    pytorch: 'skipped' in ref ? { skipped: ref.skipped } : { version: ref.torch, blas: ref.blas, results: ref.results, peak_rss_mb: ref.peak_rss_mb },
    rows,
    ...(warning ? { warning } : {}),
  };
  const dir = join('bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train-step.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${join(dir, 'train-step.json')}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
