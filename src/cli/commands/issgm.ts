/**
 * `tweedie issgm --model DIR|exact:NAME --weight W`: samples of `q ∝ l p` by ISSGM (eq. 16) from a
 * score model of `p` — a trained model or the exact diffused score of a built-in mixture — with
 * ground truth by accept/reject from exact samples of `p`, JSD/W2 against it next to the floor,
 * `E_p[l]`, `E_q[l]`, the ESS of `l` under `p`, and plots: `p` vs `q` samples and the paper's
 * Fig. 2 panel (histograms of `E[x0 | xt]` along the reverse process for `p` and `q`).
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Batch } from '../../core/batch.js';
import { foldIn, keyFromSeed, split } from '../../core/key.js';
import type { LogWeight, ScoreModel } from '../../core/types.js';
import { VPSDE } from '../../diffusion/vp.js';
import { compareSamples, type MetricName } from '../../evaluate/compare.js';
import { InputError } from '../../io/errors.js';
import { writeNpy } from '../../io/npy.js';
import { resolveTrainingData } from '../../io/training-data.js';
import { isOnnxWeightSpec, loadOnnxWeight } from '../../io/onnx-weight.js';
import { loadWeightModule } from '../../io/weight-module.js';
import { acceptReject, boundFromSample, expectedWeight } from '../../issgm/ground-truth.js';
import { issgmWarnings, type IssgmCorrection, type IssgmRunOptions } from '../../issgm/sampler.js';
import { DEFAULT_SMOOTHING_DRAWS } from '../../issgm/smoothed-weight.js';
import { floorValues, parseWeightSpec } from '../../issgm/weights.js';
import { essFromLogWeights } from '../../metrics/ess.js';
import { ONNX_BACKENDS, type OnnxBackend, type OnnxPredictorOptions } from '../../models/onnx-predictor.js';
import { histogramPanelPlot, type PanelCell } from '../../plot/panel.js';
import { scatterPlot } from '../../plot/scatter.js';
import { exactScoreNames, getMixture } from '../../targets/registry.js';
import { loadSamplingModel, modelSde } from '../model-sampling.js';
import { TOY_HISTOGRAM } from '../model-report.js';
import { choiceParser, ENGINE_HELP, ORT_THREADS_HELP, parseNonNegativeInt, parsePositiveInt, parsePositiveNumber } from '../options.js';
import { ensureOutDir, stopwatch, writeResult } from '../output.js';
import { createProgress } from '../progress.js';
import { defaultOrtThreads, defaultThreads, runChunks, THREADS_HELP } from '../chunked-sampling.js';
import { issgmChunkRunner, type ChunkOutput, type IssgmChunkStats, type IssgmJob } from '../sample-chunk.js';
import { parseShard, partialNote, SHARD_HELP, shardManifest, shardRange, specHash, writeManifest, type ShardSpec } from '../sharding.js';

export interface IssgmCliOptions {
  model: string;
  weight: string;
  n: number;
  steps: number;
  eps0: number;
  floor: number;
  /** The weight term: `none` (the paper's eq. 16) or `variance` (the posterior-variance correction). */
  correction?: IssgmCorrection;
  /** Draws of the smoothed weight with `--correction variance`. */
  draws?: number;
  bins: number;
  range: number;
  panelTimes: number;
  seed: number;
  out: string;
  quiet: boolean;
  /** Engine of the network forward passes and onnxruntime threads (`--engine`, `--ort-threads`). */
  engine?: OnnxBackend;
  ortThreads?: number;
  /** Sampling threads (`--threads`; default by size, see `defaultThreads`) and `--shard i/N`. */
  threads?: number;
  shard?: ShardSpec;
}

export interface BaseModel {
  description: string;
  score: ScoreModel;
  sde: VPSDE;
  /** Exact samples of `p` for the ground truth. */
  sampleP: (key: ReturnType<typeof keyFromSeed>, n: number) => Batch;
  dispose(): void;
}

export async function loadBase(spec: string, onnx: OnnxPredictorOptions = {}): Promise<BaseModel> {
  if (spec.startsWith('exact:')) {
    const name = spec.slice('exact:'.length);
    if (!exactScoreNames().includes(name)) {
      throw new InputError(`'${spec}': no exact score for '${name}'; exact scores exist for ${exactScoreNames().map((n) => `exact:${n}`).join(', ')}`);
    }
    const mixture = getMixture(name);
    const sde = new VPSDE({ betaMin: 0.1, betaMax: 20 });
    return { description: `exact diffused score of ${name}`, score: mixture.diffusedScore(sde), sde, sampleP: (k, n) => mixture.sample(k, n), dispose() {} };
  }
  // A checkpoint folder or an imported ONNX network (model.onnx + sidecar).
  const model = loadSamplingModel(spec, onnx);
  const sde = modelSde(model);
  const source = model.data.source;
  if (source === undefined) {
    throw new InputError(`${spec}: issgm judges its samples against accept/reject from the training data, and this model names none; set "data": {"source": NAME or FILE.npy} in the sidecar`);
  }
  const data = resolveTrainingData(source);
  const net = await model.makeModel(sde);
  return {
    description: `${model.description}${model.step === undefined ? `, data ${source}` : ''}`,
    score: net, sde, sampleP: (k, n) => data.reference(k, n), dispose: () => net.dispose(),
  };
}

export async function loadWeight(spec: string, dim: number): Promise<LogWeight & { name: string }> {
  if (/\.(mjs|js)$/.test(spec)) return Object.assign(await loadWeightModule(spec, { dim }), { name: spec });
  // An ONNX classifier/autoencoder/log-l network, differentiated through the graph (io/onnx-weight.ts).
  if (isOnnxWeightSpec(spec)) return Object.assign(await loadOnnxWeight(spec, { dim }), { name: spec });
  return Object.assign(parseWeightSpec(spec, dim), { name: spec });
}

export function registerIssgm(program: Command): void {
  program
    .command('issgm')
    .description('importance sampling of q ∝ l·p with a score model of p, training-free (ISSGM, eq. 16), judged against accept/reject ground truth')
    .requiredOption('--model <DIR|FILE.onnx|exact:NAME>', `a trained model folder, an ONNX score network FILE.onnx with its sidecar FILE.onnx.json, or the exact score of ${exactScoreNames().map((n) => `exact:${n}`).join(', ')}`)
    .requiredOption('--weight <W>', "weight l(x): norm2 (|x|^2), sum2 (sum x + 2), tilt:a1,a2,... (exp(a.x)), sigmoid:a1,...,b, a module FILE.mjs exporting logWeight(x, np) or value(rows) and grad(rows), or an ONNX network FILE.onnx:class=K (classifier logits: probability of class K), FILE.onnx:recon (autoencoder: |AE(x) - x|^2) or FILE.onnx:log (output is log l), evaluated in the model's units")
    .option('--n <N>', 'number of samples', parsePositiveInt, 10_000)
    .option('--steps <S>', 'reverse-SDE (Euler–Maruyama) steps', parsePositiveInt, 1000)
    .option('--eps0 <e>', 'finite-difference step of the Hessian-vector product, eps = eps0 / max(1, |g|)', parsePositiveNumber, 1e-3)
    .option('--floor <m>', 'floor of l: log l = log max(l, m)', parsePositiveNumber, 1e-6)
    .option('--correction <c>', "weight term: none (the paper's eq. 16: grad log l at Tweedie's mean) or variance (beyond the paper: l smoothed by an isotropic posterior variance of x0, which shrinks the Jensen gap that over-tilts e.g. |x|^2 (exact for a Gaussian p; in high dimension it can over-smooth); same score evaluations, --draws weight evaluations per sample and step)", choiceParser(['none', 'variance'] as const), 'none')
    .option('--draws <K>', 'weight draws per sample and step with --correction variance', parsePositiveInt, DEFAULT_SMOOTHING_DRAWS)
    .option('--bins <B>', 'JSD histogram bins per axis (2-D)', parsePositiveInt, TOY_HISTOGRAM.bins)
    .option('--range <L>', 'JSD histogram square [-L, L]^2 (2-D)', parsePositiveNumber, TOY_HISTOGRAM.range)
    .option('--panel-times <K>', 'columns of the Fig. 2 panel (0: no panel)', parseNonNegativeInt, 5)
    .option('--seed <S>', 'random seed', parseNonNegativeInt, 0)
    .option('--out <DIR>', 'output folder', 'runs/issgm')
    .option('--quiet', 'no progress output', false)
    .option('--engine <name>', ENGINE_HELP, choiceParser(ONNX_BACKENDS))
    .option('--ort-threads <N>', ORT_THREADS_HELP, parsePositiveInt)
    .option('--threads <N>', THREADS_HELP, parsePositiveInt)
    .option('--shard <i/N>', SHARD_HELP, parseShard)
    .addHelpText('after', '\nExamples:\n  tweedie issgm --model exact:8gaussians --weight tilt:1,0.5 --out runs/issgm-8g\n  tweedie issgm --model runs/spirals --weight norm2 --n 10000 --out runs/issgm-spiral\n  tweedie issgm --model runs/spirals --weight ./my-weight.mjs --out runs/issgm-mine\n')
    .action(issgmCommand);
}

/** The whole `issgm` command on already-parsed options (also what `tweedie demo` runs). */
export async function issgmCommand(opts: IssgmCliOptions): Promise<void> {
  const clock = stopwatch();
  const range = shardRange(opts.n, opts.shard);
  const threads = opts.threads ?? defaultThreads(range.end - range.first);
  const ortThreads = defaultOrtThreads(threads, opts.ortThreads);
  const base = await loadBase(opts.model, { ...(opts.engine !== undefined ? { backend: opts.engine } : {}), ...(ortThreads !== undefined ? { threads: ortThreads } : {}) });
  try {
    await runIssgm(opts, base, clock, { range, threads, ortThreads });
  } finally {
    base.dispose();
  }
}

/** The config of an issgm run that its samples and evaluation depend on (shard manifests; threads and output excluded). */
export function issgmConfig(opts: IssgmCliOptions): Record<string, unknown> {
  return {
    model: opts.model, weight: opts.weight, engine: opts.engine ?? 'auto', n: opts.n, steps: opts.steps, eps0: opts.eps0, floor: opts.floor,
    correction: opts.correction ?? 'none', ...(opts.correction === 'variance' ? { draws: opts.draws ?? DEFAULT_SMOOTHING_DRAWS } : {}),
    bins: opts.bins, range: opts.range, panelTimes: opts.panelTimes,
  };
}

/** What the evaluation of an issgm run needs of its sampling: q with its diagnostics, p, the Fig. 2 panel cells. */
export interface IssgmSampled {
  q: { samples: Batch; diagnostics: { options: IssgmRunOptions; warnings: readonly string[] } };
  p: Batch;
  panels: PanelCell[];
  issgmSeconds: number;
}

/** Sum the ISSGM diagnostics of chunks (every chunk makes the same number of evaluations). */
export function sumIssgmStats(stats: IssgmChunkStats[]): IssgmChunkStats {
  const s = { ...stats[0] };
  for (const c of stats.slice(1)) {
    s.scoreEvals += c.scoreEvals;
    s.weightGradEvals += c.weightGradEvals;
    s.floored += c.floored;
    s.nonFinite += c.nonFinite;
    s.flooredRows += c.flooredRows;
    s.nonFiniteRows += c.nonFiniteRows;
  }
  return s;
}

/**
 * Rows of the sampled arrays (q, p, panel snapshots) and the summed diagnostics as IssgmSampled.
 * `panels`: rows x 4P as in `ChunkOutput.panels`; `panelTimes[j]` labels panel step j.
 */
export function issgmSampled(
  q: Batch, p: Batch, panels: Float64Array | undefined, panelTimes: number[], stats: IssgmChunkStats, issgmSeconds: number,
): IssgmSampled {
  const cells: PanelCell[] = [];
  const P = panelTimes.length;
  if (panels !== undefined && P > 0) {
    for (const [row, offset] of [['q (ISSGM)', 0], ['p', P]] as const) {
      for (let j = 0; j < P; j++) {
        const pts = new Float64Array(2 * q.n);
        for (let i = 0; i < q.n; i++) {
          pts[2 * i] = panels[i * 4 * P + 2 * (offset + j)];
          pts[2 * i + 1] = panels[i * 4 * P + 2 * (offset + j) + 1];
        }
        cells.push({ row, column: `t = ${panelTimes[j].toFixed(3)}`, points: { n: q.n, dim: 2, data: pts } });
      }
    }
  }
  const warnings = issgmWarnings({ ...stats, floor: stats.options.floor, n: q.n });
  return { q: { samples: q, diagnostics: { options: stats.options, warnings } }, p, panels: cells, issgmSeconds };
}

function concatRows(outs: ChunkOutput[], pick: (o: ChunkOutput) => Float64Array | undefined, cols: number): Batch {
  const rows = outs.reduce((a, o) => a + o.rows, 0);
  const data = new Float64Array(rows * cols);
  let off = 0;
  for (const o of outs) {
    const d = pick(o)!;
    data.set(d, off);
    off += d.length;
  }
  return { n: rows, dim: cols, data };
}

async function runIssgm(
  opts: IssgmCliOptions, base: BaseModel, clock: () => number, plan: { range: { first: number; end: number }; threads: number; ortThreads?: number },
): Promise<void> {
  const dim = base.score.dim;
  const weight = await loadWeight(opts.weight, dim);
  const [kQ, kP] = split(keyFromSeed(opts.seed), 6);
  const panelSteps = new Set<number>();
  for (let j = 0; j < opts.panelTimes; j++) panelSteps.add(Math.round((j * opts.steps) / Math.max(1, opts.panelTimes - 1)));

  // 1. ISSGM samples of q (eq. 16), and plain reverse-SDE samples of p, in chunks of CHUNK_ROWS
  //    rows: chunk c uses foldIn(kQ, c) and foldIn(kP, c), on this thread or on worker threads.
  const job: IssgmJob = {
    kind: 'issgm', model: opts.model, weight: opts.weight, steps: opts.steps, eps0: opts.eps0, floor: opts.floor,
    correction: opts.correction ?? 'none', draws: opts.draws ?? DEFAULT_SMOOTHING_DRAWS,
    panelSteps: [...panelSteps].sort((a, b) => a - b),
    ...(opts.engine !== undefined ? { engine: opts.engine } : {}), ...(plan.ortThreads !== undefined ? { ortThreads: plan.ortThreads } : {}),
  };
  const label = opts.shard ? `shard ${opts.shard.index}/${opts.shard.count}` : undefined;
  const chunks = plan.range.end - plan.range.first;
  const progress = createProgress(`issgm (q, then p)${label ? `, ${label}` : ''}`, chunks * 2 * opts.steps, { quiet: opts.quiet });
  const outs = await runChunks({
    job, runKeys: [kQ, kP], n: opts.n, range: plan.range, threads: plan.threads, local: () => issgmChunkRunner(job, base, weight),
    progress, stepsPerChunk: 2 * opts.steps, ...(label ? { label } : {}),
  });
  progress.finish();
  // Timings: q and p are sampled together, chunk by chunk.
  const issgmSeconds = clock();
  const q = concatRows(outs, (o) => o.samples, dim);
  const p = concatRows(outs, (o) => o.p, dim);
  const P = job.panelSteps.length;
  const panels = outs[0].panels ? concatRows(outs, (o) => o.panels, 4 * P) : undefined;
  const panelTimes = outs[0].panelTimes ?? [];
  const stats = sumIssgmStats(outs.map((o) => o.issgm!));
  if (opts.shard) {
    writeIssgmShard(opts, opts.shard, plan.range, q, p, panels, panelTimes, stats, { issgmSeconds, totalSeconds: clock() }, plan.threads);
    return;
  }
  await evaluateIssgm(opts, base, weight, issgmSampled(q, p, panels?.data, panelTimes, stats, issgmSeconds), clock);
}

/** A shard of issgm: q, p and the panel snapshots of its rows, a partial result.json, and the manifest last. */
function writeIssgmShard(
  opts: IssgmCliOptions, shard: ShardSpec, range: { first: number; end: number }, q: Batch, p: Batch, panels: Batch | undefined,
  panelTimes: number[], stats: IssgmChunkStats, timings: Record<string, number>, threads: number,
): void {
  const dir = ensureOutDir(opts.out);
  writeNpy(join(dir, 'samples.npy'), q);
  writeNpy(join(dir, 'p_samples.npy'), p);
  if (panels) writeNpy(join(dir, 'panels.npy'), panels);
  const config = issgmConfig(opts);
  const weightHash = specHash(opts.weight);
  const manifest = shardManifest({
    command: 'issgm', seed: opts.seed, n: opts.n, dim: q.dim, shard, range, config, dir,
    hashes: { model: specHash(opts.model), weight: weightHash },
    files: {
      samples: { file: 'samples.npy', columns: q.dim }, p: { file: 'p_samples.npy', columns: p.dim },
      ...(panels ? { panels: { file: 'panels.npy', columns: panels.dim } } : {}),
    },
    extra: { panelTimes, stats }, timings: { issgmSeconds: timings.issgmSeconds },
  });
  writeResult(dir, {
    command: 'issgm', seed: opts.seed,
    config: { ...config, shard: { ...shard, partial: true, run: manifest.run, rows: manifest.rows, chunks: manifest.chunks }, threads, issgm: stats.options },
    outputs: { samples: 'samples.npy', p: 'p_samples.npy', ...(panels ? { panels: 'panels.npy' } : {}), manifest: 'shard.json' },
    timings,
    notes: [partialNote(shard, manifest)],
  });
  writeManifest(dir, manifest);
  process.stdout.write(`wrote issgm shard ${shard.index}/${shard.count}: ${q.n} x ${q.dim} samples of q (rows ${manifest.rows.start}..${manifest.rows.start + q.n - 1} of ${opts.n}) to ${dir}; merge all shards with tweedie merge\n`);
}

/**
 * Sections 2-4 of issgm on sampled q and p: ground truth, metrics, outputs. Shared with
 * `tweedie merge`, which gives it the merged shards.
 */
export async function evaluateIssgm(
  opts: IssgmCliOptions, base: BaseModel, weight: LogWeight & { name: string }, sampled: IssgmSampled, clock: () => number,
): Promise<void> {
  const dim = base.score.dim;
  const [, , kGt, kFloor, kMetric, kBound] = split(keyFromSeed(opts.seed), 6);
  const { q, p, panels, issgmSeconds } = sampled;

  // 2. Ground truth: accept/reject from exact samples of p, two independent sets (one for the floor).
  const pool = base.sampleP(kBound, Math.max(opts.n, 20_000));
  const M = boundFromSample(pool, weight, { floor: opts.floor, margin: 1.5 });
  const gt = acceptReject(kGt, { dim, sample: base.sampleP }, weight, { n: opts.n, M, floor: opts.floor });
  const gtFloor = acceptReject(kFloor, { dim, sample: base.sampleP }, weight, { n: opts.n, M, floor: opts.floor });

  // 3. Metrics.
  const metricNames: MetricName[] = dim === 2 ? ['jsd', 'w2'] : ['w2', 'mean'];
  const protocol = { metrics: metricNames, bins: opts.bins, range: opts.range, maxTransportPoints: 2000 };
  const [km1, km2] = split(kMetric, 2);
  const vsTruth = compareSamples(km1, q.samples, gt.samples, protocol);
  const floor = compareSamples(km2, gtFloor.samples, gt.samples, protocol);
  const pExact = base.sampleP(foldIn(kBound, 1), opts.n);
  const logL = floorValues(weight.value(pExact), opts.floor);
  const metrics = {
    ...vsTruth.metrics,
    E_q_l_issgm: expectedWeight(q.samples, weight, { floor: opts.floor }).mean,
    E_q_l_truth: expectedWeight(gt.samples, weight, { floor: opts.floor }).mean,
    E_p_l_model: expectedWeight(p, weight, { floor: opts.floor }).mean,
    E_p_l_exact: expectedWeight(pExact, weight, { floor: opts.floor }).mean,
    ess_of_l_under_p: essFromLogWeights(logL),
    floored_fraction_of_p: gt.flooredFraction,
  };

  // 4. Outputs.
  const dir = ensureOutDir(opts.out);
  writeNpy(join(dir, 'samples.npy'), q.samples);
  writeNpy(join(dir, 'p_samples.npy'), p);
  writeNpy(join(dir, 'ground_truth.npy'), gt.samples);
  const plots: string[] = [];
  if (dim >= 2) {
    const lim = dim === 2 ? opts.range : undefined;
    const series = [{ name: 'p (reverse SDE)', points: p }, { name: 'q (ISSGM)', points: q.samples }, { name: 'q (ground truth)', points: gt.samples }];
    const title = `ISSGM, l = ${weight.name}: ${base.description}`;
    for (const f of ['samples.png', 'samples.svg']) await scatterPlot(join(dir, f), series, { title, layout: 'panels', ...(lim ? { range: [-lim, lim] as const } : {}) });
    plots.push('samples.png');
    if (panels.length > 0) {
      panels.sort((a, b) => Number(a.row !== 'p') - Number(b.row !== 'p')); // p on top, q below (stable)
      const panelOpts = { title: `E[x0 | xt] along the reverse process (Fig. 2), l = ${weight.name}`, bins: 48, range: lim ?? 50 };
      for (const f of ['fig2_panel.png', 'fig2_panel.svg']) await histogramPanelPlot(join(dir, f), panels, panelOpts);
      plots.push('fig2_panel.png');
    }
  }
  writeResult(dir, {
    command: 'issgm',
    seed: opts.seed,
    config: {
      model: opts.model, base: base.description, weight: weight.name, n: opts.n, steps: opts.steps,
      sde: { type: 'vp', betaMin: base.sde.betaMin, betaMax: base.sde.betaMax },
      issgm: q.diagnostics.options, groundTruth: { method: 'accept/reject from exact samples of p', M, proposals: gt.proposals, acceptanceRate: gt.acceptanceRate, exceedances: gt.exceedances },
      protocol: { ...protocol, ...vsTruth.protocol },
    },
    metrics,
    floor: floor.metrics,
    outputs: { samples: 'samples.npy', p: 'p_samples.npy', groundTruth: 'ground_truth.npy', plots: plots.join(',') },
    timings: { issgmSeconds, totalSeconds: clock() },
    notes: [...q.diagnostics.warnings, ...gt.warnings],
  });
  const fmt = (v: number) => v.toPrecision(4);
  const lines = Object.keys(vsTruth.metrics).map((k) => `  ${k.padEnd(6)} ${fmt(vsTruth.metrics[k]).padStart(9)}   floor ${fmt(floor.metrics[k]).padStart(9)}`);
  process.stdout.write(
    `ISSGM with l = ${weight.name} on ${base.description}: ${opts.n} samples, ${opts.steps} steps\n${lines.join('\n')}\n` +
    `  E_p[l] ${fmt(metrics.E_p_l_exact)} (exact p), ${fmt(metrics.E_p_l_model)} (model p);  E_q[l] ${fmt(metrics.E_q_l_issgm)} (ISSGM), ${fmt(metrics.E_q_l_truth)} (ground truth)\n` +
    `${q.diagnostics.warnings.map((w) => `  warning: ${w}\n`).join('')}wrote ${dir}/{samples.npy,p_samples.npy,ground_truth.npy,${plots.join(',')},result.json}\n`,
  );
}
