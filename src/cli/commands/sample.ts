/**
 * `tweedie sample --target NAME`: exact samples of a built-in target.
 * `tweedie sample --model DIR|model.onnx`: samples of a trained model or of an imported ONNX score
 * network (with its sidecar model.onnx.json), judged against its training data when known (W2
 * and, in 2-D, JSD, with the floor).
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Batch } from '../../core/batch.js';
import { keyFromSeed, split, type Key } from '../../core/key.js';
import { InputError } from '../../io/errors.js';
import { writeNpy } from '../../io/npy.js';
import { resolveTrainingData } from '../../io/training-data.js';
import { scatterPlot } from '../../plot/scatter.js';
import { getSampleable, sampleableTargetNames } from '../../targets/registry.js';
import { formatReport, reportModelSamples } from '../model-report.js';
import { ONNX_BACKENDS, type OnnxBackend } from '../../models/onnx-predictor.js';
import { defaultOrtThreads, defaultThreads, runChunks, THREADS_HELP } from '../chunked-sampling.js';
import { loadSamplingModel, SAMPLERS, type SamplerName, type SamplingModel, toDataUnits } from '../model-sampling.js';
import { choiceParser, ENGINE_HELP, ORT_THREADS_HELP, parseNonNegativeInt, parsePositiveInt } from '../options.js';
import { ensureOutDir, stopwatch, writeResult } from '../output.js';
import { createProgress } from '../progress.js';
import { onnxOptions, sampleChunkRunner, stepsPerChunk, type SampleJob } from '../sample-chunk.js';
import { parseShard, partialNote, SHARD_HELP, shardManifest, shardRange, specHash, writeManifest, type ShardSpec } from '../sharding.js';

interface SampleOptions {
  target?: string;
  model?: string;
  n: number;
  steps: number;
  sampler: SamplerName;
  seed: number;
  out: string;
  plot: boolean;
  quiet: boolean;
  engine?: OnnxBackend;
  ortThreads?: number;
  threads?: number;
  shard?: ShardSpec;
}

export function registerSample(program: Command): void {
  program
    .command('sample')
    .description('draw samples of a built-in target (exact) or of a trained model, and write DIR/samples.npy')
    .option('--target <name>', `built-in target: ${sampleableTargetNames().join(', ')}`)
    .option('--model <DIR|FILE.onnx>', "a trained model: the --out folder of 'tweedie train' (or its model.safetensors), or an ONNX score network FILE.onnx with its sidecar FILE.onnx.json")
    .option('--n <N>', 'number of samples', parsePositiveInt, 10_000)
    .option('--steps <S>', 'sampler steps (--model only)', parsePositiveInt, 1000)
    .option('--sampler <name>', `sampler (--model only): ${SAMPLERS.join(', ')}`, choiceParser(SAMPLERS), 'em')
    .option('--seed <S>', 'random seed (non-negative integer)', parseNonNegativeInt, 0)
    .option('--out <DIR>', 'output folder', 'runs/sample')
    .option('--no-plot', 'skip the scatter plot')
    .option('--quiet', 'no progress output', false)
    .option('--engine <name>', ENGINE_HELP, choiceParser(ONNX_BACKENDS))
    .option('--ort-threads <N>', ORT_THREADS_HELP, parsePositiveInt)
    .option('--threads <N>', `${THREADS_HELP} (--model only)`, parsePositiveInt)
    .option('--shard <i/N>', `${SHARD_HELP} (--model only)`, parseShard)
    .addHelpText('after', '\nExamples:\n  tweedie sample --target 2spirals --n 10000 --seed 1 --out runs/spirals\n  tweedie sample --model runs/train --n 10000 --sampler em --steps 1000 --out runs/model-samples\n  tweedie sample --model model.onnx --n 10000 --out runs/onnx-samples\n')
    .action(async (opts: SampleOptions) => {
      if ((opts.target === undefined) === (opts.model === undefined)) {
        throw new InputError('give exactly one of --target NAME (exact samples) or --model DIR (a trained model)');
      }
      if (opts.model !== undefined) return sampleModel(opts as SampleOptions & { model: string });
      if (opts.shard !== undefined) throw new InputError('--shard is for --model runs; exact samples of a target are drawn in one go');
      const names = sampleableTargetNames();
      if (!names.includes(opts.target!)) {
        throw new InputError(`unknown target '${opts.target}'; choose one of ${names.join(', ')}`);
      }
      const clock = stopwatch();
      const target = getSampleable(opts.target!);
      const samples = target.sample(keyFromSeed(opts.seed), opts.n);
      const sampleSeconds = clock();
      const dir = ensureOutDir(opts.out);
      const outputs: Record<string, string> = { samples: 'samples.npy' };
      writeNpy(join(dir, 'samples.npy'), samples);
      if (opts.plot && samples.dim >= 2) {
        const title = `${opts.target}: ${opts.n} exact samples (seed ${opts.seed})`;
        await scatterPlot(join(dir, 'samples.png'), [{ name: opts.target!, points: samples }], { title });
        await scatterPlot(join(dir, 'samples.svg'), [{ name: opts.target!, points: samples }], { title });
        outputs.plot = 'samples.png';
      }
      writeResult(dir, {
        command: 'sample',
        seed: opts.seed,
        config: { target: opts.target, n: opts.n, dim: samples.dim },
        outputs,
        timings: { sampleSeconds, totalSeconds: clock() },
      });
      process.stdout.write(`wrote ${opts.n} x ${samples.dim} samples of ${opts.target} to ${join(dir, 'samples.npy')}\n`);
    });
}

/** The config of a `sample --model` run that its samples depend on (recorded in shard manifests; threads and output excluded). */
function sampleConfig(opts: SampleOptions & { model: string }, model: SamplingModel): Record<string, unknown> {
  return { model: opts.model, engine: model.record.engine ?? opts.engine ?? 'auto', n: opts.n, sampler: opts.sampler, steps: opts.steps };
}

async function sampleModel(opts: SampleOptions & { model: string }): Promise<void> {
  const clock = stopwatch();
  const range = shardRange(opts.n, opts.shard);
  const threads = opts.threads ?? defaultThreads(range.end - range.first);
  const ortThreads = defaultOrtThreads(threads, opts.ortThreads);
  const job: SampleJob = {
    kind: 'sample', model: opts.model, sampler: opts.sampler, steps: opts.steps,
    ...(opts.engine !== undefined ? { engine: opts.engine } : {}), ...(ortThreads !== undefined ? { ortThreads } : {}),
  };
  const model = loadSamplingModel(opts.model, onnxOptions(job));
  // Chunk c draws with foldIn(kSample, c) (sample-chunk.ts); kEval keys the metrics' reference sets.
  const [kSample, kEval] = split(keyFromSeed(opts.seed), 2);
  const perChunk = stepsPerChunk(job, model);
  const label = opts.shard ? `shard ${opts.shard.index}/${opts.shard.count}` : undefined;
  const progress = createProgress(`sample (${opts.sampler})${label ? `, ${label}` : ''}`, (range.end - range.first) * perChunk, { quiet: opts.quiet });
  const outs = await runChunks({
    job, runKeys: [kSample], n: opts.n, range, threads, local: () => sampleChunkRunner(job, model), progress, stepsPerChunk: perChunk, ...(label ? { label } : {}),
  });
  progress.finish();
  const rows = outs.reduce((a, o) => a + o.rows, 0);
  const dim = outs[0].dim;
  const data = new Float64Array(rows * dim);
  for (let i = 0, off = 0; i < outs.length; off += outs[i].samples.length, i++) data.set(outs[i].samples, off);
  const x: Batch = { n: rows, dim, data };
  const sampleSeconds = clock();
  const dir = ensureOutDir(opts.out);
  const config = sampleConfig(opts, model);
  if (opts.shard) {
    // A shard: its rows in data units, a result.json marked partial, and the manifest last.
    writeNpy(join(dir, 'samples.npy'), toDataUnits(x, model));
    const manifest = shardManifest({
      command: 'sample', seed: opts.seed, n: opts.n, dim, shard: opts.shard, range, config, hashes: { model: specHash(opts.model) }, dir,
      files: { samples: { file: 'samples.npy', columns: dim } }, timings: { sampleSeconds },
    });
    writeResult(dir, {
      command: 'sample', seed: opts.seed,
      config: { ...config, ...model.record, shard: { ...opts.shard, partial: true, run: manifest.run, rows: manifest.rows, chunks: manifest.chunks }, threads },
      outputs: { samples: 'samples.npy', manifest: 'shard.json' },
      timings: { sampleSeconds, totalSeconds: clock() },
      notes: [partialNote(opts.shard, manifest)],
    });
    writeManifest(dir, manifest);
    process.stdout.write(`wrote shard ${opts.shard.index}/${opts.shard.count}: ${rows} x ${dim} model samples (rows ${manifest.rows.start}..${manifest.rows.start + rows - 1} of ${opts.n}) to ${join(dir, 'samples.npy')}; merge all shards with tweedie merge\n`);
    return;
  }
  writeNpy(join(dir, 'samples.npy'), toDataUnits(x, model));
  await reportSampleModel(dir, { seed: opts.seed, config, threads }, model, x, kEval, { sampleSeconds }, clock);
}

/**
 * The evaluation and result.json of `sample --model` on its model-space samples `x` (whose
 * data-unit copy is already in DIR/samples.npy). Shared with `tweedie merge`, which gives it the
 * merged shards.
 */
export async function reportSampleModel(
  dir: string, run: { seed: number; config: Record<string, unknown>; threads?: number },
  model: SamplingModel, x: Batch, kEval: Key, timings: Record<string, number>, clock: () => number,
): Promise<void> {
  const { n, sampler, steps } = run.config as { n: number; sampler: string; steps: number };
  const { step } = model;
  let report;
  const source = model.data.source;
  if (source === undefined) {
    process.stderr.write('no metrics: the model names no training data (set "data": {"source": ...} in the sidecar)\n');
  } else {
    try {
      const data = resolveTrainingData(source);
      report = await reportModelSamples(kEval, x, data, dir,
        `${source} model${step !== undefined ? ` (step ${step})` : ' (ONNX)'}: ${n} samples, ${sampler} ${steps} steps`);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      process.stderr.write(`no metrics: the training data '${source}' cannot be read here (${e.message})\n`);
    }
  }
  writeResult(dir, {
    command: 'sample',
    seed: run.seed,
    config: { ...run.config, ...model.record, protocol: report?.protocol, ...(run.threads !== undefined ? { threads: run.threads } : {}) },
    metrics: report?.metrics,
    floor: report?.floor,
    outputs: { samples: 'samples.npy', ...(report?.plots.length ? { plot: report.plots[0] } : {}) },
    timings: { ...timings, totalSeconds: clock() },
  });
  process.stdout.write(`wrote ${n} x ${x.dim} model samples to ${join(dir, 'samples.npy')}\n${report ? `${formatReport(report)}\n` : ''}`);
}
