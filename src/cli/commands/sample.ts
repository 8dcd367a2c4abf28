/**
 * `tweedie sample --target NAME`: exact samples of a built-in target.
 * `tweedie sample --model DIR|model.onnx`: samples of a trained model or of an imported ONNX score
 * network (with its sidecar model.onnx.json), judged against its training data when known (W2
 * and, in 2-D, JSD, with the floor).
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { foldIn, keyFromSeed } from '../../core/key.js';
import { InputError } from '../../io/errors.js';
import { writeNpy } from '../../io/npy.js';
import { resolveTrainingData } from '../../io/training-data.js';
import { scatterPlot } from '../../plot/scatter.js';
import { getSampleable, sampleableTargetNames } from '../../targets/registry.js';
import { formatReport, reportModelSamples } from '../model-report.js';
import { ONNX_BACKENDS, type OnnxBackend } from '../../models/onnx-predictor.js';
import { drawSamples, loadSamplingModel, SAMPLERS, type SamplerName, toDataUnits } from '../model-sampling.js';
import { choiceParser, ENGINE_HELP, ORT_THREADS_HELP, parseNonNegativeInt, parsePositiveInt } from '../options.js';
import { ensureOutDir, stopwatch, writeResult } from '../output.js';
import { createProgress } from '../progress.js';

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
    .addHelpText('after', '\nExamples:\n  tweedie sample --target 2spirals --n 10000 --seed 1 --out runs/spirals\n  tweedie sample --model runs/train --n 10000 --sampler em --steps 1000 --out runs/model-samples\n  tweedie sample --model model.onnx --n 10000 --out runs/onnx-samples\n')
    .action(async (opts: SampleOptions) => {
      if ((opts.target === undefined) === (opts.model === undefined)) {
        throw new InputError('give exactly one of --target NAME (exact samples) or --model DIR (a trained model)');
      }
      if (opts.model !== undefined) return sampleModel(opts as SampleOptions & { model: string });
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

async function sampleModel(opts: SampleOptions & { model: string }): Promise<void> {
  const clock = stopwatch();
  const model = loadSamplingModel(opts.model, { ...(opts.engine !== undefined ? { backend: opts.engine } : {}), ...(opts.ortThreads !== undefined ? { threads: opts.ortThreads } : {}) });
  const { step } = model;
  const key = keyFromSeed(opts.seed);
  const total = opts.sampler === 'ancestral' && model.diffusion.kind === 'ddpm' ? model.diffusion.steps : opts.steps;
  const progress = createProgress(`sample (${opts.sampler})`, total, { quiet: opts.quiet });
  const x = await drawSamples(key, model.diffusion, model.makeModel, { n: opts.n, steps: opts.steps, sampler: opts.sampler, callback: ({ step: k }) => progress.tick(k + 1) });
  progress.finish();
  const sampleSeconds = clock();
  const dir = ensureOutDir(opts.out);
  writeNpy(join(dir, 'samples.npy'), toDataUnits(x, model));
  let report;
  const source = model.data.source;
  if (source === undefined) {
    process.stderr.write('no metrics: the model names no training data (set "data": {"source": ...} in the sidecar)\n');
  } else {
    try {
      const data = resolveTrainingData(source);
      report = await reportModelSamples(foldIn(key, 1), x, data, dir,
        `${source} model${step !== undefined ? ` (step ${step})` : ' (ONNX)'}: ${opts.n} samples, ${opts.sampler} ${opts.steps} steps`);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      process.stderr.write(`no metrics: the training data '${source}' cannot be read here (${e.message})\n`);
    }
  }
  writeResult(dir, {
    command: 'sample',
    seed: opts.seed,
    config: { model: opts.model, ...model.record, n: opts.n, sampler: opts.sampler, steps: opts.steps, protocol: report?.protocol },
    metrics: report?.metrics,
    floor: report?.floor,
    outputs: { samples: 'samples.npy', ...(report?.plots.length ? { plot: report.plots[0] } : {}) },
    timings: { sampleSeconds, totalSeconds: clock() },
  });
  process.stdout.write(`wrote ${opts.n} x ${x.dim} model samples to ${join(dir, 'samples.npy')}\n${report ? `${formatReport(report)}\n` : ''}`);
}
