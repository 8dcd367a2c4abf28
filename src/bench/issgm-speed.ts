/**
 * Speed of ISSGM sampling against PyTorch (issue 6, item 6): this project's sampler
 * (`sampleIssgm`, the checkpoint's MLP on onnxruntime-node, the default engine) against the same
 * sampler written in PyTorch (`bench/reference/issgm_sampler.py`): the same network (the
 * reference parses our model.safetensors with numpy), weight l = |x|^2 (`norm2`), particles,
 * steps (reverse Euler–Maruyama on the VP SDE, 2 score evaluations + 1 grad log l per step,
 * Tweedie at tMin) and threads (onnxruntime intra-op threads = torch.set_num_threads).
 *
 * Run from the repository root: `npm run build && node dist/bench/issgm-speed.js`
 * [`--n 10000 --steps 1000 --threads 2 --reps 1 --one-thread 1 --model FILE --profile-steps 50
 * --reference 0|1`].
 * Writes bench/results/issgm-speed.json.
 *
 * Fairness on a shared machine: ours and PyTorch's runs alternate (A B A B: `--reps` pairs at
 * `--threads`, then one pair at 1 thread) in this one invocation, so that background load hits
 * both sides alike; each figure is the best of its repetitions; the load average before and after
 * is recorded. One pair per thread count by default, to keep `npm run bench` near 10 minutes
 * (about 3 minutes for this part on an idle 2-core machine). Each PyTorch run is its own
 * process (Debian's /usr/bin/python3 with python3-torch, OpenBLAS via LD_LIBRARY_PATH as in
 * DESIGN.md), warmed up by a 5-step run; only the sampler is timed, not torch's import. Without
 * torch one line says the reference is skipped and why.
 *
 * Besides timing: (1) a pointwise check that both sides run the same network: s(x) and the
 * guided score sq(x) of eq. (16) at a few times on the same points; (2) a statistical check that
 * both sample the same distribution: mean |x|^2 of the outputs, compared within Monte Carlo
 * error (the random streams differ, so samples cannot match one by one); (3) peak memory
 * (Node: process.resourceUsage().maxRSS; Python: resource.getrusage); (4) a profile of our step:
 * onnxruntime forward vs float32/float64 conversion vs the parametrisation and the JS float64
 * loops vs grad log l vs the noise draw. A benchmark, not a test.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Batch } from '../core/batch.js';
import { foldIn, keyFromSeed, normalBatch } from '../core/key.js';
import { createOrtSession, onnxRuntimeAvailable, onnxRuntimeLoadError } from '../core/onnx-runtime.js';
import type { LogWeight, ScoreModel } from '../core/types.js';
import { reverseEulerMaruyamaStep } from '../diffusion/em.js';
import { scoreModelFrom, type Predictor } from '../diffusion/parametrisation.js';
import type { VPSDE } from '../diffusion/vp.js';
import { loadModel } from '../io/checkpoint.js';
import { exportedNetworkPredictor, mlpOnnxBytes } from '../io/onnx-export.js';
import { issgmScore, sampleIssgm } from '../issgm/sampler.js';
import { norm2Weight } from '../issgm/weights.js';
import { loadSamplingModel, modelSde } from '../cli/model-sampling.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const OPENBLAS = '/usr/lib/x86_64-linux-gnu/openblas-openmp';
const PYTHON = '/usr/bin/python3';
const INSTALL = 'install: apt-get install -y python3-torch libopenblas0-openmp';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const N = Number(arg('n', '10000'));
const STEPS = Number(arg('steps', '1000'));
const THREADS = Number(arg('threads', '2'));
const REPS = Number(arg('reps', '1'));
/** Also compare at 1 thread (one run each side) [1 = yes]. */
const ONE_THREAD = arg('one-thread', '1') === '1' && THREADS !== 1;
const PROFILE_STEPS = Number(arg('profile-steps', '50'));
// The committed copy of bench/runs/quality/2spirals/model.safetensors (same bytes; bench/runs is not committed).
const MODEL = resolve(arg('model', join(ROOT, 'data/2spirals-model.safetensors')));
for (const [k, v] of Object.entries({ n: N, steps: STEPS, threads: THREADS, reps: REPS, 'profile-steps': PROFILE_STEPS })) {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`--${k} must be a positive integer, got ${v}`);
}

interface RunStats {
  seconds: number;
  /** Median duration of one step (ms): robust to the pauses other processes' load causes. */
  median_step_ms: number;
  mean_norm2: number;
  sd_norm2: number;
}

interface RefRun extends RunStats {
  torch: string;
  threads: number;
  peak_rss_mb: number;
  rss_after_import_mb: number;
  rss_before_timed_run_mb: number;
  finite: boolean;
}

function norm2Stats(x: Batch): { mean: number; sd: number } {
  const r = new Float64Array(x.n);
  for (let i = 0; i < x.n; i++) {
    let s = 0;
    for (let j = 0; j < x.dim; j++) s += x.data[i * x.dim + j] ** 2;
    r[i] = s;
  }
  const mean = r.reduce((a, b) => a + b, 0) / x.n;
  const v = r.reduce((a, b) => a + (b - mean) ** 2, 0) / (x.n - 1);
  return { mean, sd: Math.sqrt(v) };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

function pythonEnv(threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(threads) };
  if (existsSync(OPENBLAS)) env.LD_LIBRARY_PATH = [OPENBLAS, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return env;
}

const SCRIPT = join(ROOT, 'bench/reference/issgm_sampler.py');

/** Why the reference cannot run here, or undefined when it can. */
function referenceUnavailable(): string | undefined {
  if (!existsSync(SCRIPT)) return `reference script not found at ${SCRIPT}`;
  if (!existsSync(PYTHON)) return `${PYTHON} not found (${INSTALL})`;
  const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { env: pythonEnv(1), encoding: 'utf8' });
  if (probe.status !== 0) {
    const why = (probe.stderr || probe.error?.message || 'unknown error').trim().split('\n').pop();
    return `'import torch, numpy' failed under ${PYTHON}: ${why} (${INSTALL})`;
  }
  return undefined;
}

function runPython(args: string[], threads: number): unknown {
  const r = spawnSync(PYTHON, [SCRIPT, '--model', MODEL, '--threads', String(threads), ...args], {
    env: pythonEnv(threads), encoding: 'utf8', maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`PyTorch reference failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function fmt(v: number | null | undefined, digits = 2): string {
  return v === undefined || v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

/** A timer around `f`, accumulating into `acc[key]` (ms). */
function timed<A extends unknown[], R>(acc: Record<string, number>, key: string, f: (...a: A) => R): (...a: A) => R {
  return (...a: A) => {
    const t0 = performance.now();
    try {
      return f(...a);
    } finally {
      acc[key] = (acc[key] ?? 0) + performance.now() - t0;
    }
  };
}

function bestMs(f: () => unknown, reps: number, rounds = 5): number {
  for (let i = 0; i < 2; i++) f();
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) f();
    best = Math.min(best, (performance.now() - t0) / reps);
  }
  return best;
}

/**
 * Where our step's time goes, at n particles and `threads` onnxruntime threads: an instrumented
 * sampler run (timers around predictor.predict, the score model and grad log l) for the shares in
 * the real loop, plus micro-timings at the same batch (the bare onnxruntime run with prepared
 * float32 feeds; the noise draw; the EM step) to split the predictor's time into forward and
 * conversions, and the rest into its parts.
 */
async function profile(n: number, steps: number, threads: number, sde: VPSDE): Promise<Record<string, unknown>> {
  const { config, params } = loadModel(MODEL);
  if (config.network.kind !== 'mlp') throw new Error('profile: MLP models only');
  const p = await exportedNetworkPredictor(config.network, params, { backend: 'onnxruntime', threads });
  const acc: Record<string, number> = {};
  const wrappedP: Predictor = { dim: p.dim, predict: timed(acc, 'predict', (x: Batch, t: number | Float64Array) => p.predict(x, t)) };
  const inner = scoreModelFrom(config.parametrisation, wrappedP, sde);
  const model: ScoreModel = { dim: inner.dim, score: timed(acc, 'score', inner.score) };
  const w0 = norm2Weight(2);
  const weight: LogWeight = { dim: 2, value: w0.value, valueAndGrad: timed(acc, 'weight', w0.valueAndGrad) };
  sampleIssgm(keyFromSeed(7), model, weight, sde, { n, steps: 3 }); // warm-up
  for (const k of Object.keys(acc)) acc[k] = 0;
  const t0 = performance.now();
  sampleIssgm(keyFromSeed(8), model, weight, sde, { n, steps });
  const total = performance.now() - t0;
  const inRun = { ...acc }; // before the micro-timings below call the wrapped predictor again
  const evals = steps + 1; // + the guided evaluation of denoiseLast
  const per = (v: number): number => v / evals;

  // Micro-timings at the same batch (t = 0.5; all rows share t, as in the sampler).
  const { mlp, bytes } = (() => {
    const { kind: _k, ...m } = config.network;
    return { mlp: m, bytes: mlpOnnxBytes(m, params) };
  })();
  void mlp;
  const session = createOrtSession(bytes, { threads });
  const x = normalBatch(keyFromSeed(9), n, 2);
  const xs = Float32Array.from(x.data);
  const ts = new Float32Array(n).fill(0.5);
  const ortRun = bestMs(() => session.run({ x: [xs, [n, 2]], t: [ts, [n, 1]] }, ['out']), 5);
  const predict = bestMs(() => p.predict(x, 0.5), 5);
  const noise = bestMs(() => normalBatch(foldIn(keyFromSeed(10), 1), n, 2), 10);
  const s = inner.score(x, 0.5);
  const emStep = bestMs(() => reverseEulerMaruyamaStep(x, s, 0.5, 1e-3, x, sde), 20);
  const guidedJs = (() => {
    // issgmScore with a free "network" (a constant score): its own float64 loops and checks.
    const free: ScoreModel = { dim: 2, score: () => s };
    return bestMs(() => issgmScore(x, 0.5, free, w0, sde), 10);
  })();
  const weightMicro = bestMs(() => w0.valueAndGrad(x), 10);
  session.dispose();
  p.dispose();

  const predictMs = per(inRun.predict);
  const stepMs = total / evals;
  // The predictor's own JS work per call, timed directly: float64 -> float32 input, the time
  // column, and the float32 -> float64 output copy (what onnx-predictor.ts does around run()).
  const conversion = bestMs(() => {
    const a = Float32Array.from(x.data);
    const tt = new Float32Array(n).fill(0.5);
    const o = new Float64Array(n * 2);
    for (let k = 0; k < o.length; k++) o[k] = a[k];
    return tt;
  }, 20);
  const parts = {
    onnxruntime_forward_ms: predictMs - 2 * conversion,
    float32_conversion_and_copies_ms: 2 * conversion,
    parametrisation_noise_to_score_ms: per(inRun.score - inRun.predict),
    grad_log_l_ms: per(inRun.weight),
    noise_draw_ms: noise * (steps / evals),
    em_step_ms: emStep * (steps / evals),
  };
  const accounted = Object.values(parts).reduce((a, b) => a + b, 0);
  const breakdown = { ...parts, issgm_loops_checks_and_rest_ms: stepMs - accounted };
  return {
    n, steps, threads,
    ms_per_step: stepMs,
    breakdown_ms_per_step: Object.fromEntries(Object.entries(breakdown).map(([k, v]) => [k, Number(v.toFixed(4))])),
    share: Object.fromEntries(Object.entries(breakdown).map(([k, v]) => [k.replace(/_ms$/, ''), Number((v / stepMs).toFixed(4))])),
    micro_ms: {
      onnxruntime_run: Number(ortRun.toFixed(4)),
      predictor_predict: Number(predict.toFixed(4)),
      conversions_per_call: Number(conversion.toFixed(4)),
      noise_draw: Number(noise.toFixed(4)),
      em_step: Number(emStep.toFixed(4)),
      issgm_score_without_network: Number(guidedJs.toFixed(4)),
      grad_log_l: Number(weightMicro.toFixed(4)),
    },
    method: 'timers around predictor.predict, the score model and grad log l inside a real sampleIssgm run; ' +
      'the conversions around the forward (float64 -> float32 in, float32 -> float64 out) micro-timed at the same batch and subtracted from the predictor time; ' +
      'noise draw and EM step from micro-timings; the rest (Tweedie mean, eps, probe point, eq. 16, finiteness checks) by difference',
  };
}

async function main(): Promise<void> {
  const load0 = loadavg();
  const why = arg('reference', '1') === '0' ? 'disabled by --reference 0' : referenceUnavailable();
  const sm = loadSamplingModel(MODEL, { threads: THREADS });
  const sde = modelSde({ diffusion: sm.diffusion });
  const engine = String((sm.record as { engine?: string }).engine ?? 'unknown');
  const w = norm2Weight(2);
  const rssMb = (): number => process.resourceUsage().maxRSS / 1024;

  const oursRun = async (threads: number, seed: number): Promise<RunStats> => {
    const s = threads === THREADS ? sm : loadSamplingModel(MODEL, { threads });
    const model = await s.makeModel(sde);
    try {
      sampleIssgm(keyFromSeed(1000 + seed), model, w, sde, { n: N, steps: 5 }); // warm-up, as the reference's
      // The callback runs once per step (and once more at tMin): its timestamps give step durations.
      const stamps: number[] = [];
      const t0 = performance.now();
      const r = sampleIssgm(keyFromSeed(seed), model, w, sde, { n: N, steps: STEPS, callback: () => stamps.push(performance.now()) });
      const seconds = (performance.now() - t0) / 1000;
      const st = norm2Stats(r.samples);
      return { seconds, median_step_ms: median(stamps.slice(1).map((v, i) => v - stamps[i])), mean_norm2: st.mean, sd_norm2: st.sd };
    } finally {
      model.dispose();
    }
  };
  const refRun = (threads: number, seed: number): RefRun =>
    runPython(['--n', String(N), '--steps', String(STEPS), '--seed', String(seed), '--warmup', '5'], threads) as RefRun;

  console.log(`ISSGM ${N} particles x ${STEPS} steps, l = |x|^2, model ${MODEL} (engine ${engine})`);
  if (why) console.log(`PyTorch reference skipped: ${why}`);
  const rssBefore = rssMb();

  // Interleaved A B A B at the headline thread count; then one pair at 1 thread.
  const ours: RunStats[] = [];
  const ref: RefRun[] = [];
  for (let r = 0; r < REPS; r++) {
    ours.push(await oursRun(THREADS, r));
    console.log(`  tweedie  ${THREADS} threads, run ${r + 1}: ${ours[r].seconds.toFixed(2)} s (load ${loadavg()[0].toFixed(2)})`);
    if (!why) {
      ref.push(refRun(THREADS, r));
      console.log(`  PyTorch  ${THREADS} threads, run ${r + 1}: ${ref[r].seconds.toFixed(2)} s (load ${loadavg()[0].toFixed(2)})`);
    }
  }
  const oursPeakMb = rssMb();
  let ours1: RunStats | undefined;
  let ref1: RefRun | undefined;
  if (ONE_THREAD) {
    ours1 = await oursRun(1, 100);
    console.log(`  tweedie  1 thread: ${ours1.seconds.toFixed(2)} s (load ${loadavg()[0].toFixed(2)})`);
    if (!why) {
      ref1 = refRun(1, 100);
      console.log(`  PyTorch  1 thread: ${ref1.seconds.toFixed(2)} s (load ${loadavg()[0].toFixed(2)})`);
    }
  }

  // Pointwise: the same network and eq. (16) on both sides, on the same float32 points.
  let pointwise: Record<string, unknown> | undefined;
  if (!why) {
    const m = 256;
    const xp = normalBatch(keyFromSeed(42), m, 2);
    for (let k = 0; k < xp.data.length; k++) xp.data[k] = Math.fround(xp.data[k] * 1.5);
    const times = [0.9, 0.5, 0.1, 0.01];
    const dir = mkdtempSync(join(tmpdir(), 'tweedie-issgm-speed-'));
    try {
      const inFile = join(dir, 'check.json');
      const rows: number[][] = [];
      for (let i = 0; i < m; i++) rows.push([xp.data[2 * i], xp.data[2 * i + 1]]);
      writeFileSync(inFile, JSON.stringify({ t: times, x: rows }));
      const out = runPython(['--check', inFile], THREADS) as { results: { t: number; score: number[][]; sq: number[][] }[] };
      const model = await sm.makeModel(sde);
      try {
        pointwise = {
          points: m,
          per_time: out.results.map((res) => {
            const g = issgmScore(xp, res.t, model, w, sde);
            const rel = (a: Batch, b: number[][]): number => {
              let num = 0;
              let den = 0;
              for (let i = 0; i < m; i++) {
                for (let j = 0; j < 2; j++) {
                  num = Math.max(num, Math.abs(a.data[2 * i + j] - b[i][j]));
                  den = Math.max(den, Math.abs(b[i][j]));
                }
              }
              return num / den;
            };
            return { t: res.t, score_max_rel_diff: Number(rel(g.diagnostics.baseScore, res.score).toExponential(2)), guided_score_max_rel_diff: Number(rel(g.score, res.sq).toExponential(2)) };
          }),
          note: 'max |ours - PyTorch| / max |PyTorch| over the points; the guided score divides a float32 difference of two network outputs by eps (1e-3), so it agrees to ~1e-3 where s(x) agrees to ~1e-6',
        };
      } finally {
        model.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const prof = engine === 'onnxruntime' && onnxRuntimeAvailable() ? await profile(N, PROFILE_STEPS, THREADS, sde) : { skipped: `onnxruntime-node not available (${onnxRuntimeLoadError()})` };
  const load1 = loadavg();

  // Statistics: mean |x|^2 per side (pooled over its runs, each of N particles) and the z-score of the difference.
  const pool = (runs: RunStats[]): { mean: number; se: number } => {
    const mean = runs.reduce((a, r) => a + r.mean_norm2, 0) / runs.length;
    const sd = Math.sqrt(runs.reduce((a, r) => a + r.sd_norm2 ** 2, 0) / runs.length);
    return { mean, se: sd / Math.sqrt(N * runs.length) };
  };
  const oursAll = [...ours, ...(ours1 ? [ours1] : [])];
  const refAll = [...ref, ...(ref1 ? [ref1] : [])];
  const po = pool(oursAll);
  const pr = refAll.length > 0 ? pool(refAll) : undefined;
  const z = pr ? (po.mean - pr.mean) / Math.hypot(po.se, pr.se) : undefined;

  const best = (runs: RunStats[]): number => Math.min(...runs.map((r) => r.seconds));
  const bestMed = (runs: RunStats[]): number => Math.min(...runs.map((r) => r.median_step_ms));
  const rowsOut = [
    { threads: THREADS, o: ours, p: ref },
    ...(ours1 ? [{ threads: 1, o: [ours1], p: ref1 ? [ref1] : [] }] : []),
  ].map(({ threads, o, p }) => {
    const ts = best(o);
    const ps = p.length ? best(p) : null;
    const tm = bestMed(o);
    const pm = p.length ? bestMed(p) : null;
    return {
      threads,
      runs_each: o.length,
      tweedie_s: Number(ts.toFixed(3)),
      pytorch_s: ps === null ? null : Number(ps.toFixed(3)),
      ratio: ps ? Number((ts / ps).toFixed(3)) : null,
      tweedie_median_step_ms: Number(tm.toFixed(3)),
      pytorch_median_step_ms: pm === null ? null : Number(pm.toFixed(3)),
      ratio_median_step: pm ? Number((tm / pm).toFixed(3)) : null,
    };
  });

  console.log(`\nISSGM sampling, ${N} particles x ${STEPS} steps (seconds, best of the runs; lower is better; goal ratio <= 0.5)`);
  console.log('threads | tweedie (onnxruntime) | PyTorch 1.13 | ratio | median step ms: tweedie | PyTorch | ratio');
  for (const r of rowsOut) {
    console.log(`${String(r.threads).padStart(7)} | ${fmt(r.tweedie_s).padStart(21)} | ${fmt(r.pytorch_s).padStart(12)} | ${fmt(r.ratio, 3).padStart(5)} | ` +
      `${fmt(r.tweedie_median_step_ms).padStart(23)} | ${fmt(r.pytorch_median_step_ms).padStart(7)} | ${fmt(r.ratio_median_step, 3).padStart(5)}`);
  }
  console.log(`peak RSS: tweedie ${oursPeakMb.toFixed(0)} MB (process, ${rssBefore.toFixed(0)} MB before sampling); ` +
    (ref.length ? `PyTorch ${Math.max(...ref.map((r) => r.peak_rss_mb)).toFixed(0)} MB (${ref[0].rss_before_timed_run_mb.toFixed(0)} MB before the timed run)` : 'PyTorch -'));
  console.log(`mean |x|^2 of the samples: tweedie ${po.mean.toFixed(4)} ± ${po.se.toFixed(4)}` +
    (pr ? `, PyTorch ${pr.mean.toFixed(4)} ± ${pr.se.toFixed(4)} (z = ${z!.toFixed(2)})` : ''));
  if (pointwise) {
    for (const r of pointwise.per_time as { t: number; score_max_rel_diff: number; guided_score_max_rel_diff: number }[]) {
      console.log(`same network: t = ${r.t}: s(x) max rel diff ${r.score_max_rel_diff}, sq(x) ${r.guided_score_max_rel_diff}`);
    }
  }
  if ('breakdown_ms_per_step' in prof) {
    console.log(`profile of our step (${prof.n} particles, ${prof.threads} threads, ${fmt(prof.ms_per_step as number)} ms per guided evaluation):`);
    const sh = prof.share as Record<string, number>;
    for (const [k, v] of Object.entries(prof.breakdown_ms_per_step as Record<string, number>)) {
      console.log(`  ${k.replace(/_ms$/, '').padEnd(36)} ${fmt(v, 3).padStart(8)} ms  ${(100 * sh[k.replace(/_ms$/, '')]).toFixed(1).padStart(5)}%`);
    }
    console.log(`  micro-timings at the same batch (ms): ${Object.entries(prof.micro_ms as Record<string, number>).map(([k, v]) => `${k} ${fmt(v, 3)}`).join(', ')}`);
  }
  console.log(`load average ${load0.map((v) => v.toFixed(2)).join(' ')} before, ${load1.map((v) => v.toFixed(2)).join(' ')} after (${cpus().length} cores)`);
  const busy = Math.max(load0[0], load1[0]) > cpus().length - 1;
  const warning = busy
    ? `machine busy (load average above ${cpus().length - 1} on ${cpus().length} cores): absolute times are inflated and noisy; the runs were interleaved so the ratio is the fairer figure`
    : undefined;
  if (warning) console.log(`note: ${warning}`);

  const out = {
    benchmark: 'issgm-speed',
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, loadavg_before: load0, loadavg_after: load1 },
    model: { file: MODEL.startsWith(ROOT) ? MODEL.slice(ROOT.length + 1) : MODEL, network: (sm.record as { modelConfig?: { network: unknown } }).modelConfig?.network, parametrisation: (sm.record as { modelConfig?: { parametrisation: unknown } }).modelConfig?.parametrisation, diffusion: sm.diffusion },
    job: { n: N, steps: STEPS, weight: 'norm2 (l = |x|^2)', sampler: 'reverse Euler-Maruyama on the VP SDE, uniform grid 1 -> 1e-3, eps0 1e-3 (relative), floor 1e-6, Tweedie under q at tMin', score_evaluations_per_sample: 2 * (STEPS + 1) },
    timing: `ours and PyTorch interleaved (A B A B), ${REPS} runs each at ${THREADS} threads${ONE_THREAD ? ', then one each at 1 thread' : ''}; best of the runs; each after a 5-step warm-up; seconds for the whole sampler (excluding model load and torch import); also the median duration of one step per run (robust to pauses from other processes), best over the runs`,
    tweedie: { engine, threads: THREADS, runs: ours.map((r) => ({ ...r, seconds: Number(r.seconds.toFixed(3)) })), one_thread: ours1, peak_rss_mb: Number(oursPeakMb.toFixed(1)), rss_before_sampling_mb: Number(rssBefore.toFixed(1)), memory_note: 'process.resourceUsage().maxRSS of the whole Node process (V8, onnxruntime, the jax-js module graph) after the headline runs' },
    pytorch: why ? { skipped: why } : { version: ref[0]?.torch, blas: existsSync(OPENBLAS) ? `OpenBLAS (${OPENBLAS})` : 'default BLAS (libopenblas0-openmp not installed)', runs: ref, one_thread: ref1, peak_rss_mb: Math.max(...ref.map((r) => r.peak_rss_mb)) },
    rows: rowsOut,
    agreement: {
      mean_norm2: { tweedie: po, pytorch: pr ?? null, z: z === undefined ? null : Number(z.toFixed(3)) },
      pointwise: pointwise ?? null,
    },
    profile: prof,
    ...(warning ? { warning } : {}),
  };
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'issgm-speed.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${join('bench', 'results', 'issgm-speed.json')}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
