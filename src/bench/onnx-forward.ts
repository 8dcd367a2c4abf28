/**
 * Speed of one network forward pass (issue 6, fast forward path): the default MLP (3 x 128, SiLU,
 * dim 2) at batch 10,000 and one shared time (what the samplers pass), through
 *  - jax-js: this project's compiled network (`networkPredictor`, chunks of 1024 rows);
 *  - jax-js running the exported ONNX graph (`@jax-js/onnx`, the fallback for imported networks);
 *  - onnxruntime-node on the exported ONNX graph, 1 and 2 intra-op threads,
 * with the ratio jax-js / onnxruntime. Outputs are checked to agree (float32) before timing.
 *
 * Run from the repository root: `npm run build && node dist/bench/onnx-forward.js [--reps N]`.
 * Every figure is the best of 5 rounds of `reps` forwards after 3 warm-up calls (other work on a
 * 2-core machine makes single timings noisy); the load average is printed with them. A benchmark,
 * not a test: the numbers depend on the machine. Takes a few seconds.
 */
import { loadavg } from 'node:os';
import type { Batch } from '../core/batch.js';
import { initEngine } from '../core/engine.js';
import { keyFromSeed, normalBatch } from '../core/key.js';
import { onnxRuntimeAvailable, onnxRuntimeLoadError } from '../core/onnx-runtime.js';
import { mlpOnnxBytes } from '../io/onnx-export.js';
import { defaultMlpConfig, initMlp, networkPredictor } from '../models/mlp.js';
import { onnxPredictor, type OnnxNetworkSpec } from '../models/onnx-predictor.js';

const N = 10_000;

function bestMs(f: () => unknown, reps: number): number {
  for (let i = 0; i < 3; i++) f();
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) f();
    best = Math.min(best, (performance.now() - t0) / reps);
  }
  return best;
}

function maxDiff(a: Batch, b: Batch): number {
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
}

async function main(): Promise<void> {
  const argReps = process.argv.indexOf('--reps');
  const reps = argReps >= 0 ? Number(process.argv[argReps + 1]) : 10;
  if (!Number.isInteger(reps) || reps < 1) throw new RangeError('--reps must be a positive integer');
  await initEngine();
  const cfg = defaultMlpConfig(2);
  const params = initMlp(keyFromSeed(0), cfg);
  const x = normalBatch(keyFromSeed(1), N, 2);
  const t = 0.5;
  const bytes = mlpOnnxBytes(cfg, params);
  const spec: OnnxNetworkSpec = { dim: 2, x: 'x', t: 't', tRank: 2, output: 'out', timeScale: 1 };

  const rows: { engine: string; ms: number; maxDiff: number }[] = [];
  const ours = networkPredictor(cfg, params);
  const ref = ours.predict(x, t);
  rows.push({ engine: 'jax-js (compiled network)', ms: bestMs(() => ours.predict(x, t), reps), maxDiff: 0 });
  ours.dispose();

  const viaOnnx = await onnxPredictor(bytes, spec, { backend: 'jax' });
  rows.push({ engine: 'jax-js (@jax-js/onnx graph)', ms: bestMs(() => viaOnnx.predict(x, t), reps), maxDiff: maxDiff(viaOnnx.predict(x, t), ref) });
  viaOnnx.dispose();

  if (onnxRuntimeAvailable()) {
    for (const threads of [1, 2]) {
      const p = await onnxPredictor(bytes, spec, { backend: 'onnxruntime', threads });
      rows.push({ engine: `onnxruntime-node, ${threads} thread${threads > 1 ? 's' : ''}`, ms: bestMs(() => p.predict(x, t), reps), maxDiff: maxDiff(p.predict(x, t), ref) });
      p.dispose();
    }
  } else {
    process.stdout.write(`onnxruntime-node skipped: ${onnxRuntimeLoadError()} (install: ONNXRUNTIME_NODE_INSTALL=skip npm install)\n`);
  }

  const jaxMs = rows[0].ms;
  process.stdout.write(`forward of the ${cfg.depth} x ${cfg.hidden} MLP (dim 2), batch ${N}, one shared t; best of 5 x ${reps}; load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}\n`);
  for (const r of rows) {
    process.stdout.write(`  ${r.engine.padEnd(30)} ${r.ms.toFixed(2).padStart(8)} ms   jax-js / this ${(jaxMs / r.ms).toFixed(2).padStart(6)}x   max |diff| ${r.maxDiff.toExponential(1)}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
