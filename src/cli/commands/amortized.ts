/**
 * `tweedie amortized train --target gmm40|gmm40-5d|dw4|FILE.mjs`: train a diffusion sampler for an
 * unnormalised density with no data (Algorithm 1 of the amortized-posterior paper), selecting the
 * weights by validation W2 against held-out reference samples (the paper's rule), with checkpoints
 * that resume exactly.
 * `tweedie amortized sample --model DIR`: samples of a trained sampler, judged against the
 * target's references next to the floor.
 *
 * Keys: the trainer's own (`amortized/train.ts`); references and evaluation draws from
 * `referenceKeys` (`amortized-problem.ts`), never shared with training.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { type Batch } from '../../core/batch.js';
import { foldIn, type Key } from '../../core/key.js';
import {
  AMORTIZED_WEIGHTINGS, type AmortizedConfig, type AmortizedWeighting, AmortizedTrainer, paperAmortizedConfig,
} from '../../amortized/train.js';
import { defaultAmortizedConfig, dw4AmortizedConfig, idemAmortizedConfig } from '../../amortized/presets.js';
import { defaultEgnnConfig } from '../../models/egnn.js';
import {
  type AmortizedRun, type ValidationRecord, loadAmortizedCheckpoint, saveAmortizedCheckpoint,
} from '../../io/amortized-checkpoint.js';
import { hasCheckpoint, loadModel } from '../../io/checkpoint.js';
import { InputError } from '../../io/errors.js';
import { writeNpy } from '../../io/npy.js';
import { wasserstein } from '../../metrics/wasserstein.js';
import { cloneTensors, type Tensors } from '../../models/tensors.js';
import { histogramPlot } from '../../plot/histogram.js';
import { scatterPlot } from '../../plot/scatter.js';
import { dw4 } from '../../targets/dw4.js';
import { AMORTIZED_TARGETS, type AmortizedProblem, type Judgement, amortizedProblem, judgeSamples, referenceKeys } from '../amortized-problem.js';
import { choiceParser, parseNonNegativeInt, parsePositiveInt, parsePositiveNumber } from '../options.js';
import { ensureOutDir, stopwatch, writeResult } from '../output.js';
import { createProgress } from '../progress.js';
import { defaultThreads, runChunks, THREADS_HELP } from '../chunked-sampling.js';
import { loadSamplingModel, modelSde } from '../model-sampling.js';
import { importanceRefine } from '../../amortized/refine.js';
import { sampleChunkRunner, type SampleJob } from '../sample-chunk.js';
import { parseShard, partialNote, SHARD_HELP, shardManifest, shardRange, specHash, writeManifest, type ShardSpec } from '../sharding.js';

interface TrainOptions {
  target: string;
  reference?: string;
  posterior: 'ais' | 'hmc' | 'idem';
  preset: 'default' | 'paper';
  epochs?: number;
  iterations?: number;
  batch?: number;
  lr?: number;
  lrSchedule?: 'constant' | 'cosine';
  particles?: number;
  bridges?: number;
  stepSize?: number;
  refineSteps?: number;
  refineStepSize?: number;
  refineAdapt?: boolean;
  estimate?: 'resample' | 'mean';
  referenceScale?: number;
  referencePilot: boolean;
  replayUpdates?: number;
  replayCapacity?: number;
  weighting?: AmortizedWeighting;
  parametrisation?: 'noise' | 'mean';
  validateEvery: number;
  validateN: number;
  evalN: number;
  minutes?: number;
  threads: number;
  engine: 'auto' | 'jax' | 'onnxruntime';
  checkpointEvery: number;
  seed: number;
  out: string;
  resume: boolean;
  quiet: boolean;
}

/** The run's config: the preset, then the options given. */
function buildConfig(opts: TrainOptions, dim: number, targetName: string): AmortizedConfig {
  const particle = targetName === 'dw4';
  if (particle && opts.preset === 'paper') {
    // The paper's DW-4 AIS ends with 50 MALA steps whose size adapts to acceptance 0.5-0.6; that
    // adaptation is not built, so a 'paper' DW-4 run would not be the paper's.
    throw new InputError("--preset paper covers GMM-40; for dw4 use the default preset (the paper's network and schedule; its deviations are listed in the README) and set --lr, --particles, --epochs as needed");
  }
  const c = opts.posterior === 'idem'
    ? idemAmortizedConfig(dim, targetName)
    : particle ? dw4AmortizedConfig(opts.posterior)
    : opts.preset === 'paper' ? paperAmortizedConfig(dim, opts.posterior) : defaultAmortizedConfig(dim, opts.posterior);
  if (particle && opts.posterior === 'idem') {
    // iDEM regresses the score: the EGNN's equivariant, centre-of-mass-free displacement output.
    c.network = { kind: 'egnn', ...defaultEgnnConfig(4, 2), output: 'displacement' };
    c.particles = { count: 4, spaceDim: 2 };
  }
  c.seed = opts.seed;
  if (opts.epochs !== undefined) c.epochs = opts.epochs;
  if (opts.iterations !== undefined) c.iterationsPerEpoch = opts.iterations;
  if (opts.batch !== undefined) c.batch = opts.batch;
  if (opts.lr !== undefined) c.lr = opts.lr;
  if (opts.lrSchedule !== undefined) c.lrSchedule = opts.lrSchedule;
  if (opts.weighting !== undefined) c.weighting = opts.weighting;
  if (opts.parametrisation !== undefined) c.parametrisation = opts.parametrisation;
  if (opts.replayUpdates === 0) {
    if (opts.replayCapacity !== undefined) throw new InputError('--replay-capacity sizes the target replay that --replay-updates 0 turns off: drop one of them');
    delete c.targetReplay;
  } else if (opts.replayUpdates !== undefined || opts.replayCapacity !== undefined) {
    c.targetReplay = {
      capacity: opts.replayCapacity ?? c.targetReplay?.capacity ?? 100 * c.batch,
      updates: opts.replayUpdates ?? c.targetReplay?.updates ?? 1,
    };
  }
  // An explicit reference scale replaces the pilot's reference.
  if (!opts.referencePilot || opts.referenceScale !== undefined) delete c.referencePilot;
  const p = c.posterior;
  if (p.kind === 'ais') {
    if (opts.particles !== undefined) p.particles = opts.particles;
    if (opts.bridges !== undefined) p.bridges = opts.bridges;
    if (opts.stepSize !== undefined) p.stepSize = opts.stepSize;
    if (opts.refineSteps !== undefined) p.refineSteps = opts.refineSteps;
    if (opts.refineStepSize !== undefined) p.refineStepSize = opts.refineStepSize;
    if (opts.refineAdapt) p.refineAdapt = true;
    if (opts.estimate !== undefined) p.estimate = opts.estimate;
    if ((opts.refineSteps ?? 0) > 0 && p.estimate !== 'resample') throw new InputError('--refine-steps refines the resampled particle: add --estimate resample');
    if (opts.referenceScale !== undefined) p.referenceScale = opts.referenceScale;
  } else {
    if (opts.referenceScale !== undefined && p.kind === 'hmc') p.referenceScale = opts.referenceScale;
    if (opts.stepSize !== undefined) {
      if (p.kind !== 'hmc') throw new InputError('--step-size applies to --posterior ais or hmc');
      p.stepSize = opts.stepSize;
    }
    if (opts.bridges !== undefined || opts.estimate !== undefined || opts.refineSteps !== undefined || opts.refineStepSize !== undefined || opts.refineAdapt) {
      throw new InputError('--bridges, --estimate and --refine-* apply to --posterior ais only');
    }
    if (opts.particles !== undefined) {
      if (p.kind === 'hmc') p.chains = opts.particles;
      else c.posterior = { ...p, samples: opts.particles };
    }
  }
  return c;
}

/** samples.npy, the plots, and the metrics vs the references (when there are any). */
async function writeSamplesAndPlots(dir: string, problem: AmortizedProblem, samples: Batch, key: Key): Promise<Judgement | null> {
  writeNpy(join(dir, 'samples.npy'), samples);
  const judged = judgeSamples(key, problem, samples);
  const refs = problem.test(key, samples.n);
  const title = `amortized sampler: ${problem.name}`;
  const series = refs ? [{ name: 'reference', points: refs.test }, { name: 'model', points: samples }] : [{ name: 'model', points: samples }];
  if (problem.energy === 'dw4') {
    const m = dw4();
    const e = (b: Batch): Float64Array => m.energy(b);
    const hist = refs ? [{ name: 'reference', values: e(refs.test) }, { name: 'model', values: e(samples) }] : [{ name: 'model', values: e(samples) }];
    await histogramPlot(join(dir, 'energy.png'), hist, { title: `${title}: energy`, bins: 100, xLabel: 'E(x)' });
    const dist = (b: Batch): Float64Array => m.pairDistances(b).data;
    const dh = refs ? [{ name: 'reference', values: dist(refs.test) }, { name: 'model', values: dist(samples) }] : [{ name: 'model', values: dist(samples) }];
    await histogramPlot(join(dir, 'distances.png'), dh, { title: `${title}: interatomic distances`, bins: 100, xLabel: 'd_ij' });
  } else {
    await scatterPlot(join(dir, 'samples.png'), series, { title, layout: 'panels', ...(problem.name.startsWith('gmm40') ? { range: [-55, 55] as const } : {}) });
  }
  return judged;
}

function fmt(v: Float64Array): string {
  return Array.from(v, (x) => x.toPrecision(3)).join(', ');
}

function formatMetrics(j: Judgement): string {
  const sym = j.symmetricFloor;
  return Object.entries(j.metrics).map(([k, v]) => `  ${k.padEnd(14)} ${v.toPrecision(5).padStart(10)}   floor ${(j.floor[k] ?? NaN).toPrecision(5).padStart(10)}${sym ? `   exact sampler ${(sym[k] ?? NaN).toPrecision(5).padStart(10)}` : ''}`).join('\n');
}

async function trainAction(opts: TrainOptions): Promise<void> {
  const clock = stopwatch();
  const problem = await amortizedProblem(opts.target, opts.reference);
  const dir = ensureOutDir(opts.out);
  const parallel = { threads: opts.threads, targetSpec: opts.target, sampler: opts.engine, trainEngine: opts.engine };
  let run: AmortizedRun;
  let trainer: AmortizedTrainer;
  let best: Tensors | null = null;
  if (opts.resume) {
    const ck = loadAmortizedCheckpoint(dir);
    if (ck.run.target !== opts.target) throw new InputError(`--target '${opts.target}' differs from the checkpoint's target '${ck.run.target}'; resume with the same target`);
    run = ck.run;
    if (opts.epochs !== undefined) run.config.epochs = opts.epochs;
    best = ck.best;
    trainer = await AmortizedTrainer.create(problem.target, run.config, ck.snapshot, parallel);
  } else {
    if (hasCheckpoint(dir)) throw new InputError(`${dir} already holds a checkpoint; pass --resume to continue it, or choose another --out`);
    const config = buildConfig(opts, problem.target.dim, problem.name);
    run = { format: 'tweedie-amortized', version: 1, target: opts.target, config, seconds: 0, history: [], best: null };
    trainer = await AmortizedTrainer.create(problem.target, config, undefined, parallel);
  }
  const c = run.config;
  const keys = referenceKeys(c.seed);
  const validation = problem.validation(keys.refs, opts.validateN);
  const secondsBefore = run.seconds;
  const elapsed = (): number => secondsBefore + clock();
  const total = c.epochs * c.iterationsPerEpoch;
  const progress = createProgress('amortized train', total, { quiet: opts.quiet });
  let last = '';
  const validate = async (): Promise<void> => {
    if (!validation) return;
    const snap = trainer.snapshot();
    const ema = snap.train.ema;
    const s = await trainer.sampleWith(foldIn(keys.validation, trainer.epoch), ema, validation.n);
    const rec: ValidationRecord = {
      epoch: trainer.epoch, iterations: trainer.epoch * c.iterationsPerEpoch, seconds: elapsed(), targetEvaluations: snap.targetEvaluations,
      w2: wasserstein(s, validation, 2),
    };
    run.history.push(rec);
    if (run.best === null || rec.w2 < run.best.w2) {
      run.best = rec;
      best = cloneTensors(ema);
    }
  };
  const save = (): void => {
    run.seconds = elapsed();
    saveAmortizedCheckpoint(dir, run, trainer.snapshot(), best);
  };
  let stoppedEarly = false;
  // Problems met during this session's epochs: reported in result.json, never silent.
  const problems = { skippedUpdates: 0, droppedRows: 0, nonFiniteProposals: 0, nonFiniteBufferSamples: 0 };
  try {
    while (trainer.epoch < c.epochs) {
      const epochStart = trainer.epoch;
      const rep = await trainer.runEpoch((r) => {
        last = `loss ${r.loss.toPrecision(3)}, ess ${r.ess.toFixed(1)}, acc ${r.acceptance.toFixed(2)}`;
        progress.tick(r.iteration, `${last}, buffer ${trainer.bufferSize}${run.best ? `, best W2 ${run.best.w2.toFixed(2)} @${run.best.epoch}` : ''}`);
      }).catch((e: unknown) => {
        // The model's own samples went non-finite: training diverged. Say so, and where the last good state is.
        if (e instanceof Error && /non-finite/.test(e.message)) {
          const saved = hasCheckpoint(dir) ? `the last checkpoint in ${dir} is from before it` : 'no checkpoint was written yet';
          throw new InputError(
            `training diverged in epoch ${epochStart + 1} (last: ${last || 'none'}): ${e.message}; ${saved}. ` +
              'Try a smaller --lr, more --particles or --bridges, or --posterior hmc',
          );
        }
        throw e;
      });
      problems.skippedUpdates += rep.skipped;
      problems.droppedRows += rep.dropped;
      problems.nonFiniteProposals += rep.nonFinite;
      problems.nonFiniteBufferSamples += rep.bufferSkipped;
      if (rep.skipped > 0 || rep.dropped > 0 || rep.nonFinite > 0) {
        last += ` | epoch ${rep.epoch}: ${rep.skipped} updates skipped, ${rep.dropped} rows dropped, ${rep.nonFinite} non-finite proposals rejected`;
      }
      const done = trainer.epoch === c.epochs;
      const outOfTime = opts.minutes !== undefined && elapsed() >= opts.minutes * 60;
      if (done || outOfTime || trainer.epoch % opts.validateEvery === 0) await validate();
      if (done || outOfTime || trainer.epoch % opts.checkpointEvery === 0) save();
      if (outOfTime && !done) {
        stoppedEarly = true;
        break;
      }
    }
  } finally {
    progress.finish(last);
  }
  save();

  // The reported model: the weights selected by validation W2 (or the final EMA without references).
  const selected = best ?? trainer.snapshot().train.ema;
  const trainSeconds = elapsed();
  let judged = null;
  if (opts.evalN > 0) {
    const samples = await trainer.sampleWith(keys.evaluation, selected, opts.evalN);
    judged = await writeSamplesAndPlots(dir, problem, samples, keys.refs);
  }
  const epochs = trainer.epoch;
  const evaluations = trainer.snapshot().targetEvaluations;
  await trainer.close();
  writeResult(dir, {
    command: 'amortized train',
    seed: c.seed,
    config: { target: opts.target, preset: opts.preset, ...c, validateEvery: opts.validateEvery, validateN: opts.validateN, evalN: opts.evalN, minutes: opts.minutes ?? null, protocol: judged?.protocol },
    metrics: { ...(judged?.metrics ?? {}), ...problems, epochs, iterations: epochs * c.iterationsPerEpoch, targetEvaluations: evaluations, bestValidationW2: run.best?.w2 ?? null },
    floor: judged?.floor,
    symmetricFloor: judged?.symmetricFloor,
    outputs: { checkpoint: 'checkpoint.safetensors', model: 'model.safetensors', samples: opts.evalN > 0 ? 'samples.npy' : '' },
    timings: { trainSeconds, totalSeconds: elapsed() },
    notes: [
      ...(Object.values(problems).some((v) => v > 0)
        ? [`non-finite values met and handled: ${problems.nonFiniteProposals} MCMC proposals rejected, ${problems.droppedRows} batch rows dropped, ${problems.skippedUpdates} updates skipped, ${problems.nonFiniteBufferSamples} model samples kept out of the buffer`]
        : []),
      run.best ? `selected: epoch ${run.best.epoch} (validation W2 ${run.best.w2.toFixed(3)} on ${opts.validateN} held-out reference samples, every ${opts.validateEvery} epochs; EMA weights)` : 'no references: the final EMA weights are the model',
      ...(trainer.reference
        ? [`reference pilot: SMC on the target (${c.referencePilot?.gradientBudget.toExponential(0)} gradient rows, counted in targetEvaluations) seeded the buffer and shaped the AIS base with N(mean, diag(scale^2)), mean [${fmt(trainer.reference.mean)}], scale [${fmt(trainer.reference.scale)}] (--no-reference-pilot for the paper's base)`]
        : []),
      ...(c.targetReplay
        ? [`target replay: ${c.targetReplay.updates} Adam steps per iteration on batches of ${c.batch} drawn from the last ${c.targetReplay.capacity} regression targets (--replay-updates 0 for the paper's one step on the fresh batch)`]
        : []),
      `model samples (buffer, validation, evaluation) drawn with the network on ${trainer.samplingEngine === 'onnxruntime' ? 'onnxruntime (exported in memory)' : 'jax-js'}; training steps on ${trainer.trainEngine === 'onnxruntime' ? 'onnxruntime' : 'jax-js'}`,
      ...(stoppedEarly ? [`stopped at the --minutes ${opts.minutes} budget after ${epochs} of ${c.epochs} epochs (resume with --resume)`] : []),
    ],
  });
  process.stdout.write(`${judged ? `${formatMetrics(judged)}\n` : ''}trained ${epochs} epochs in ${trainSeconds.toFixed(0)} s; wrote ${join(dir, 'result.json')}\n`);
}

interface SampleOptions {
  model: string;
  n: number;
  steps: number;
  seed: number;
  out: string;
  threads?: number;
  shard?: ShardSpec;
  refine?: number;
}

async function sampleAction(opts: SampleOptions): Promise<void> {
  const clock = stopwatch();
  const { config } = loadModel(opts.model);
  const source = config.data.source;
  if (!source.startsWith('amortized:')) throw new InputError(`${opts.model} was not trained by 'tweedie amortized train' (its data source is '${source}'); use 'tweedie sample --model'`);
  const problem = await amortizedProblem(source.slice('amortized:'.length));
  const keys = referenceKeys(opts.seed);
  if (opts.refine !== undefined) {
    await refinedSample(opts, problem, clock);
    return;
  }
  // In chunks of CHUNK_ROWS rows keyed foldIn(keys.evaluation, c) (sample-chunk.ts), on jax-js as
  // before: the same samples for any --threads and --shard, and the same as the committed
  // amortized results. (EGNN networks now export to ONNX too, and `tweedie sample --model DIR`
  // runs them on onnxruntime, ~7x faster at batch 10,000; this command still pins jax-js.)
  const range = shardRange(opts.n, opts.shard);
  const threads = opts.threads ?? defaultThreads(range.end - range.first);
  const job: SampleJob = { kind: 'sample', model: opts.model, sampler: 'em', steps: opts.steps, engine: 'jax' };
  const model = loadSamplingModel(opts.model, { backend: 'jax' });
  const label = opts.shard ? `shard ${opts.shard.index}/${opts.shard.count}` : undefined;
  const outs = await runChunks({
    job, runKeys: [keys.evaluation], n: opts.n, range, threads, local: () => sampleChunkRunner(job, model), stepsPerChunk: opts.steps, ...(label ? { label } : {}),
  });
  const rows = outs.reduce((a, o) => a + o.rows, 0);
  const data = new Float64Array(rows * outs[0].dim);
  for (let i = 0, off = 0; i < outs.length; off += outs[i].samples.length, i++) data.set(outs[i].samples, off);
  const samples: Batch = { n: rows, dim: outs[0].dim, data };
  const dir = ensureOutDir(opts.out);
  const runConfig = { model: opts.model, n: opts.n, steps: opts.steps };
  if (opts.shard) {
    writeNpy(join(dir, 'samples.npy'), samples);
    const manifest = shardManifest({
      command: 'amortized sample', seed: opts.seed, n: opts.n, dim: samples.dim, shard: opts.shard, range, config: runConfig,
      hashes: { model: specHash(opts.model) }, dir, files: { samples: { file: 'samples.npy', columns: samples.dim } }, timings: { sampleSeconds: clock() },
    });
    writeResult(dir, {
      command: 'amortized sample', seed: opts.seed,
      config: { ...runConfig, shard: { ...opts.shard, partial: true, run: manifest.run, rows: manifest.rows, chunks: manifest.chunks }, threads },
      outputs: { samples: 'samples.npy', manifest: 'shard.json' }, timings: { totalSeconds: clock() }, notes: [partialNote(opts.shard, manifest)],
    });
    writeManifest(dir, manifest);
    process.stdout.write(`wrote shard ${opts.shard.index}/${opts.shard.count}: ${rows} x ${samples.dim} samples (rows ${manifest.rows.start}..${manifest.rows.start + rows - 1} of ${opts.n}) to ${join(dir, 'samples.npy')}; merge all shards with tweedie merge\n`);
    return;
  }
  await reportAmortizedSample(dir, { seed: opts.seed, config: runConfig, threads }, problem, samples, clock);
}

/**
 * `--refine M`: the paper's optional refinement (`amortized/refine.ts`): M probability-flow ODE
 * candidates weighted by `log p - log p_model` and resampled to `--n`. In this thread, on the
 * fastest engine (onnxruntime when present).
 */
async function refinedSample(opts: SampleOptions, problem: AmortizedProblem, clock: () => number): Promise<void> {
  const M = opts.refine!;
  if (opts.shard) throw new InputError('--refine resamples the whole candidate set at once and cannot be sharded; drop --shard');
  if (M < opts.n) throw new InputError(`--refine ${M} draws fewer candidates than the --n ${opts.n} samples it returns; give --refine >= --n (e.g. 5 x --n)`);
  if (problem.energy === 'dw4') {
    throw new InputError("--refine needs a density that is normalisable on R^d; DW-4's is flat along translations (the model lives in centre-of-mass-free coordinates), so the ODE density weights would be wrong");
  }
  const sm = loadSamplingModel(opts.model);
  if (sm.diffusion.kind !== 'vp') throw new InputError(`--refine integrates the VP probability-flow ODE; this model uses a ${sm.diffusion.kind.toUpperCase()} schedule (iDEM)`);
  const sde = modelSde({ diffusion: sm.diffusion });
  const model = await sm.makeModel(sde);
  let r;
  try {
    r = importanceRefine(foldIn(referenceKeys(opts.seed).evaluation, 0x72666e), model, sde, problem.target, { n: opts.n, candidates: M, steps: opts.steps });
  } finally {
    model.dispose();
  }
  const dir = ensureOutDir(opts.out);
  const refinement = { candidates: M, ess: r.ess, essFraction: r.ess / M, nonFiniteWeights: r.nonFinite, scoreEvaluationsPerCandidate: r.nfe, targetEvaluations: M };
  await reportAmortizedSample(dir, { seed: opts.seed, config: { model: opts.model, n: opts.n, steps: opts.steps, refine: M, sampler: 'probability-flow ODE (Heun)' } }, problem, r.samples, clock, {
    metrics: refinement,
    notes: [
      `importance-resampling refinement: ${M} probability-flow ODE candidates (${opts.steps} Heun steps), weights log p(x) - log p_model(x) by the same ODE, ESS ${r.ess.toFixed(0)} (${(100 * r.ess / M).toFixed(1)}%), resampled to ${opts.n} (systematic)`,
      ...(r.nonFinite > 0 ? [`${r.nonFinite} candidates had a non-finite weight and were dropped`] : []),
    ],
  });
}

/** samples.npy, plots, metrics and result.json of `amortized sample` (shared with `tweedie merge`). */
export async function reportAmortizedSample(
  dir: string, run: { seed: number; config: Record<string, unknown>; threads?: number }, problem: AmortizedProblem, samples: Batch, clock: () => number,
  extra: { metrics?: Record<string, number>; notes?: string[] } = {},
): Promise<void> {
  const keys = referenceKeys(run.seed);
  const judged = await writeSamplesAndPlots(dir, problem, samples, keys.refs);
  writeResult(dir, {
    command: 'amortized sample', seed: run.seed, config: { ...run.config, protocol: judged?.protocol, ...(run.threads !== undefined ? { threads: run.threads } : {}) },
    metrics: { ...(judged?.metrics ?? {}), ...(extra.metrics ?? {}) }, floor: judged?.floor, symmetricFloor: judged?.symmetricFloor, outputs: { samples: 'samples.npy' }, timings: { totalSeconds: clock() },
    ...(extra.notes ? { notes: extra.notes } : {}),
  });
  process.stdout.write(`${judged ? `${formatMetrics(judged)}\n` : ''}wrote ${join(dir, 'samples.npy')} and ${join(dir, 'result.json')}\n`);
}

export function registerAmortized(program: Command): void {
  const cmd = program.command('amortized').description('diffusion sampler for an unnormalised density, trained by amortized posterior inference (no data)');
  cmd
    .command('train')
    .description('train the sampler (Algorithm 1): replay buffer, AIS or HMC posterior means, validation-W2 model selection')
    .requiredOption('--target <name|FILE.mjs>', `${AMORTIZED_TARGETS.join(', ')}, or a module exporting 'dim' and logDensity(x, np)`)
    .option('--reference <FILE.npy>', 'reference samples of a module target (thirds: validation, test, floor)')
    .option('--posterior <kind>', "posterior sampler: ais (annealed importance sampling) or hmc; idem runs the iDEM baseline (VE, K-sample score estimate) in the same loop", choiceParser(['ais', 'hmc', 'idem']), 'ais')
    .option('--preset <name>', "default (~7 min on 2 cores for gmm40: 300 AIS particles, target replay, 50 epochs) or paper (the paper's full budget; GMM-40 targets)", choiceParser(['default', 'paper']), 'default')
    .option('--epochs <N>', 'epochs [preset]', parsePositiveInt)
    .option('--iterations <I>', 'iterations per epoch [preset]', parsePositiveInt)
    .option('--batch <B>', 'noisy points per iteration [preset]', parsePositiveInt)
    .option('--lr <rate>', 'Adam learning rate [preset]', parsePositiveNumber)
    .option('--lr-schedule <kind>', 'constant, or cosine decay to the last of --epochs (set --epochs to what the --minutes budget reaches, or the rate stays high) [preset]', choiceParser(['constant', 'cosine']))
    .option('--particles <P>', 'AIS particles (HMC chains, iDEM samples) per noisy point [preset]', parsePositiveInt)
    .option('--bridges <K>', 'AIS annealing steps [preset]', parsePositiveInt)
    .option('--step-size <h>', 'step size of the AIS transitions (HMC leapfrog or MALA) or of the HMC posterior chains [preset]', parsePositiveNumber)
    .option('--reference-scale <s>', 'rough scale of the target: the AIS base (HMC start) becomes the likelihood times N(0, s^2 I) instead of the bare likelihood [preset]', parsePositiveNumber)
    .option('--no-reference-pilot', "the paper's start: buffer from the untrained model and AIS base the bare likelihood, instead of a 2-second SMC pilot on the target seeding the buffer and shaping the base with a Gaussian matched to it (the default, also for DW-4; --preset paper has none)")
    .option('--estimate <kind>', "AIS estimate: resample (one particle + MALA, the paper's) or mean (weighted mean)", choiceParser(['resample', 'mean']))
    .option('--refine-steps <S>', 'MALA steps on the posterior after resampling (--estimate resample) [preset]', parseNonNegativeInt)
    .option('--refine-step-size <h>', 'step size of those MALA steps (with --refine-adapt, the first) [preset]', parsePositiveNumber)
    .option('--refine-adapt', "adapt each noisy point's refinement step size to acceptance 0.5-0.6 (x or / 1.5 per step; the paper's DW-4 rule)")
    .option('--replay-updates <U>', 'Adam steps per iteration, each on a batch drawn from the last --replay-capacity regression targets (posterior estimates do not depend on the network, so they stay valid); 0: one step on the fresh batch, as in the paper [preset]', parseNonNegativeInt)
    .option('--replay-capacity <R>', 'regression targets kept for --replay-updates [preset, else 100 batches]', parsePositiveInt)
    .option('--weighting <w>', `loss weight w(t): ${AMORTIZED_WEIGHTINGS.join(', ')} [preset]`, choiceParser(AMORTIZED_WEIGHTINGS))
    .option('--parametrisation <kind>', 'network output: noise or mean [preset]', choiceParser(['noise', 'mean']))
    .option('--validate-every <E>', 'validate (W2 on held-out references) every E epochs', parsePositiveInt, 10)
    .option('--validate-n <N>', 'validation samples', parsePositiveInt, 2000)
    .option('--eval-n <N>', 'samples drawn at the end and judged against the test references (0: none)', parseNonNegativeInt, 2000)
    .option('--minutes <M>', 'stop (with a checkpoint) after M minutes of training', parsePositiveNumber)
    .option('--threads <T>', 'worker threads for posterior sampling (0: main thread only; results do not depend on it)', parseNonNegativeInt, availableParallelism())
    .option('--engine <name>', 'what runs the network (training step and model sampling): auto (onnxruntime-node when installed, else jax-js), onnxruntime, jax; they agree to float32 rounding, not bit for bit', choiceParser(['auto', 'onnxruntime', 'jax']), 'auto')
    .option('--checkpoint-every <E>', 'write a checkpoint every E epochs (and at the end)', parsePositiveInt, 10)
    .option('--seed <S>', 'random seed', parseNonNegativeInt, 0)
    .option('--out <DIR>', 'output folder', 'runs/amortized')
    .option('--resume', 'continue the checkpoint in --out (its config wins; --epochs may extend it)', false)
    .option('--quiet', 'no progress output', false)
    .addHelpText('after', '\nExamples:\n  tweedie amortized train --target gmm40 --out runs/gmm40\n  tweedie amortized train --target gmm40 --out runs/gmm40 --resume\n  tweedie amortized train --target ./ring.mjs --epochs 50 --out runs/ring\n  tweedie amortized sample --model runs/gmm40 --n 2000 --out runs/gmm40-samples\n')
    .action(trainAction);
  cmd
    .command('sample')
    .description('sample a trained amortized sampler and judge it against the target references (with the floor)')
    .requiredOption('--model <DIR>', "the --out folder of 'tweedie amortized train' (or its model.safetensors)")
    .option('--n <N>', 'number of samples', parsePositiveInt, 2000)
    .option('--steps <S>', 'reverse-SDE steps', parsePositiveInt, 100)
    .option('--seed <S>', 'random seed', parseNonNegativeInt, 0)
    .option('--out <DIR>', 'output folder', 'runs/amortized-sample')
    .option('--threads <N>', THREADS_HELP, parsePositiveInt)
    .option('--shard <i/N>', SHARD_HELP, parseShard)
    .option('--refine <M>', "the paper's optional refinement: draw M candidates with the probability-flow ODE (--steps Heun steps), weight each by log p(x) - log p_model(x) (model density by the same ODE) and resample --n of them; reports the ESS (not for DW-4)", parsePositiveInt)
    .action(sampleAction);
}
