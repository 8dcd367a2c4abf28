/**
 * Speed of one training step (issue 3, item 6): this project's step (forward, backward, global
 * clipping, Adam, EMA and the NaN guard in one compiled program per engine; the times, noise and
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
 * This project's step runs on two engines: jax-js (one compiled wasm program, single-threaded:
 * jax-js' wasm worker pool is asynchronous, and the trainer's `step()` is synchronous) and
 * onnxruntime-node (the step as one hand-written ONNX graph, `models/onnx-train-step.ts`), with 1
 * and 2 intra-op threads; the onnxruntime rows are left out, with a note, when the package is not
 * installed. Every figure is the best of 5 repetitions, because other work on a 2-core machine
 * makes single timings noisy; the load average is recorded with them. Ratios are against
 * PyTorch with 1 thread (and 2). A benchmark, not a test: the numbers depend on the machine.
 *
 * EGNN rows (`egnn` in the JSON): the DW-4 network (`defaultEgnnConfig(4, 2)`, 3 layers x 128)
 * with the amortized trainer's loss (mean parametrisation, uniform weights), batch 64 and 256,
 * jax-js against onnxruntime (`models/onnx-egnn-train-step.ts`), no PyTorch reference.
 * `--only egnn` times just these (fewer steps: `--egnn-steps N`, default 20) and prints them
 * without writing the results file.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { foldIn, keyFromSeed, normalBatch } from '../core/key.js';
import { onnxRuntimeAvailable } from '../core/onnx-runtime.js';
import type { NetworkSpec } from '../models/architecture.js';
import { defaultEgnnConfig } from '../models/egnn.js';
import { defaultMlpConfig } from '../models/mlp.js';
import { createTrainer, defaultTrainConfig, initTrainState, type TrainConfig, type TrainEngine } from '../models/train.js';

const BATCHES = [64, 1024];
const EGNN_BATCHES = [64, 256];
const OPENBLAS = '/usr/lib/x86_64-linux-gnu/openblas-openmp';

interface RefResult {
  threads: number;
  batch: number;
  ms_per_step: number;
}

/** One of this project's engines as timed here. */
interface OurEngine {
  key: string;
  label: string;
  engine: TrainEngine;
  threads: number;
}

const OUR_ENGINES: OurEngine[] = [
  { key: 'jax', label: 'jax-js wasm, 1 thread', engine: 'jax', threads: 1 },
  { key: 'ort1', label: 'onnxruntime, 1 thread', engine: 'onnxruntime', threads: 1 },
  { key: 'ort2', label: 'onnxruntime, 2 threads', engine: 'onnxruntime', threads: 2 },
];

/**
 * Best-of-5 milliseconds per step of this project's trainer at batch `b`: the MLP 3 x 128 on
 * 2-D data with the default loss, or `net` with `loss` (warm-up steps: 30, or `warm`).
 */
async function timeOurs(
  e: OurEngine, b: number, steps: number, net: NetworkSpec = defaultMlpConfig(2), dim = 2, loss: Partial<TrainConfig> = {}, warm = 30,
): Promise<number> {
  const cfg = { ...defaultTrainConfig(), ...loss, batch: b };
  const tr = await createTrainer(net, cfg, initTrainState(keyFromSeed(0), net, cfg), { engine: e.engine, threads: e.threads });
  if ((tr.engine ?? 'jax') !== e.engine) throw new Error(`asked for the ${e.engine} trainer, got ${tr.engine ?? 'jax'}`);
  const x0 = normalBatch(keyFromSeed(1), b, dim);
  const noise = keyFromSeed(2);
  let k = 0;
  for (; k < warm; k++) tr.step(x0, foldIn(noise, k)); // compile + warm up
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

/** The EGNN rows: ms per step by engine key and batch, and the JSON section. */
async function egnnRows(engines: OurEngine[], steps: number): Promise<object> {
  const net = { kind: 'egnn' as const, ...defaultEgnnConfig(4, 2) };
  const loss: Partial<TrainConfig> = { parametrisation: 'mean', weighting: 'uniform', warmupSteps: 0, lrSchedule: 'constant', lr: 1e-4 };
  const ms: Record<string, Record<number, number>> = {};
  for (const e of engines) {
    ms[e.key] = {};
    for (const b of EGNN_BATCHES) ms[e.key][b] = await timeOurs(e, b, steps, net, 8, loss, 3);
  }
  console.log('train step, EGNN 3 x 128, 4 particles in 2-D (DW-4), mean parametrisation (ms per step, best of 5; speed-up = jax-js / engine)');
  console.log('batch | engine                  |     ms | speed-up');
  for (const b of EGNN_BATCHES) {
    for (const e of engines) console.log(`${String(b).padStart(5)} | ${e.label.padEnd(23)} | ${fmt(ms[e.key][b], 1).padStart(6)} | ${fmt(ms.jax[b] / ms[e.key][b]).padStart(8)}`);
  }
  return {
    network: { kind: 'egnn', ...defaultEgnnConfig(4, 2) },
    step: 'mean-parametrisation DSM loss, uniform weights (the DW-4 amortized trainer\'s), backward, clipping, Adam, EMA, finite-loss guard',
    timing: 'best of 5 repetitions after 3 warm-up steps; ms per step',
    rows: EGNN_BATCHES.map((b) => ({
      batch: b,
      ...Object.fromEntries(engines.map((e) => [`${e.key}_ms`, Number(ms[e.key][b].toFixed(3))])),
      ...Object.fromEntries(engines.filter((e) => e.key !== 'jax').map((e) => [`${e.key}_speedup_vs_jax`, Number((ms.jax[b] / ms[e.key][b]).toFixed(2))])),
    })),
  };
}

async function main(): Promise<void> {
  const stepsArg = process.argv.indexOf('--steps');
  const steps = stepsArg > 0 ? Number(process.argv[stepsArg + 1]) : 200;
  const egnnStepsArg = process.argv.indexOf('--egnn-steps');
  const egnnSteps = egnnStepsArg > 0 ? Number(process.argv[egnnStepsArg + 1]) : 20;
  const hasOrt = onnxRuntimeAvailable();
  const engines = OUR_ENGINES.filter((e) => e.engine === 'jax' || hasOrt);
  const only = process.argv.indexOf('--only');
  if (only > 0 && process.argv[only + 1] === 'egnn') {
    const load0 = loadavg();
    await egnnRows(engines.filter((e) => e.key !== 'ort2'), egnnSteps);
    console.log(`load average ${load0.map((v) => v.toFixed(2)).join(' ')} before, ${loadavg().map((v) => v.toFixed(2)).join(' ')} after (results file not written)`);
    return;
  }
  const load0 = loadavg();
  // ours[engine key][batch]
  const ours: Record<string, Record<number, number>> = {};
  for (const e of engines) {
    ours[e.key] = {};
    for (const b of BATCHES) ours[e.key][b] = await timeOurs(e, b, b <= 256 ? steps : Math.max(50, Math.floor(steps / 4)));
  }
  const egnn = await egnnRows(engines, egnnSteps);
  const ref = runReference(steps);
  const load1 = loadavg();

  const refAt = (threads: number, b: number): number | undefined =>
    'results' in ref ? ref.results.find((r) => r.threads === threads && r.batch === b)?.ms_per_step : undefined;
  const ratio = (a: number | undefined, p: number | undefined): number | null =>
    a !== undefined && p !== undefined && p > 0 ? Number((a / p).toFixed(3)) : null;
  console.log('train step, MLP 3x128 SiLU, dim 2 (ms per step, best of 5; lower is better; ratio = ours / PyTorch)');
  console.log('batch | engine                  |    ms | PyTorch 1 thread | ratio | PyTorch 2 threads | ratio');
  const rows = BATCHES.map((b) => {
    const p1 = refAt(1, b);
    const p2 = refAt(2, b);
    for (const e of engines) {
      const v = ours[e.key][b];
      console.log(
        `${String(b).padStart(5)} | ${e.label.padEnd(23)} | ${fmt(v).padStart(5)} | ${fmt(p1).padStart(16)} | ${fmt(ratio(v, p1) ?? undefined).padStart(5)} | ` +
          `${fmt(p2).padStart(17)} | ${fmt(ratio(v, p2) ?? undefined).padStart(5)}`,
      );
    }
    const o1 = ours.ort1?.[b];
    const o2 = ours.ort2?.[b];
    return {
      batch: b,
      // jax-js (the key names of the earlier results, kept)
      tweedie_ms: Number(ours.jax[b].toFixed(4)),
      pytorch_1thread_ms: p1 ?? null,
      ratio_vs_1thread: ratio(ours.jax[b], p1),
      pytorch_2threads_ms: p2 ?? null,
      ratio_vs_2threads: ratio(ours.jax[b], p2),
      onnxruntime_1thread_ms: o1 !== undefined ? Number(o1.toFixed(4)) : null,
      onnxruntime_1thread_ratio_vs_1thread: ratio(o1, p1),
      onnxruntime_2threads_ms: o2 !== undefined ? Number(o2.toFixed(4)) : null,
      onnxruntime_2threads_ratio_vs_1thread: ratio(o2, p1),
      onnxruntime_2threads_ratio_vs_2threads: ratio(o2, p2),
    };
  });
  if (!hasOrt) console.log('onnxruntime rows skipped: onnxruntime-node is not installed (ONNXRUNTIME_NODE_INSTALL=skip npm install)');
  if ('skipped' in ref) console.log(`PyTorch reference skipped: ${ref.skipped}`);
  console.log(`load average ${load0.map((v) => v.toFixed(2)).join(' ')} before, ${load1.map((v) => v.toFixed(2)).join(' ')} after`);
  // Other work on the machine: single-threaded figures stay usable (best of 5), but a 2-thread
  // run (OpenMP or onnxruntime's pool) then competes with it and its threads spin-wait, so those
  // figures are not meaningful.
  const busy = Math.max(load0[0], load1[0]) > cpus().length - 1;
  const warning = busy
    ? `machine busy (load average above ${cpus().length - 1} on ${cpus().length} cores): the 2-thread figures (PyTorch, onnxruntime) are not meaningful; compare 1 thread against 1 thread`
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
      engine: 'jax-js 0.1.25 wasm, single thread, float32', results: BATCHES.map((b) => ({ batch: b, ms_per_step: Number(ours.jax[b].toFixed(4)) })),
      engines: engines.map((e) => ({
        engine: e.engine, threads: e.threads, label: e.label,
        results: BATCHES.map((b) => ({ batch: b, ms_per_step: Number(ours[e.key][b].toFixed(4)) })),
      })),
      ...(hasOrt ? {} : { onnxruntime: 'skipped: onnxruntime-node is not installed' }),
      // Peak resident memory of the whole Node process (V8, the wasm heap, the jax-js module
      // graph, and onnxruntime when it ran).
      peak_rss_mb: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
    },
    pytorch: 'skipped' in ref ? { skipped: ref.skipped } : { version: ref.torch, blas: ref.blas, results: ref.results, peak_rss_mb: ref.peak_rss_mb },
    rows,
    egnn,
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
