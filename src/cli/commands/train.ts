/**
 * `tweedie train --data NAME|FILE.npy|digits`: denoising score matching of an MLP score network,
 * with checkpoints that resume exactly (`--resume`), then samples of the EMA model judged
 * against the data next to the floor.
 *
 * Keys: `[init, data, noise, eval] = split(key(seed), 4)`; step k uses `foldIn(data, k)` for its
 * minibatch and `foldIn(noise, k)` for its times and noise, so a resumed run repeats exactly
 * what an uninterrupted one does (on the same `--engine`: onnxruntime and jax-js agree to float32
 * rounding, not bit for bit).
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { foldIn, keyFromSeed, split } from '../../core/key.js';
import { type RunConfig, hasCheckpoint, loadCheckpoint, saveCheckpoint } from '../../io/checkpoint.js';
import { InputError } from '../../io/errors.js';
import { writeNpy } from '../../io/npy.js';
import { DATA_HELP, resolveTrainingData } from '../../io/training-data.js';
import { defaultMlpConfig } from '../../models/mlp.js';
import { TIME_SAMPLINGS, type TimeSampling, WEIGHTINGS } from '../../models/loss.js';
import { onnxRuntimeAvailable, onnxRuntimeLoadError } from '../../core/onnx-runtime.js';
import { type TrainConfig, type TrainEngineChoice, TRAIN_ENGINES, createTrainer, defaultTrainConfig, initTrainState } from '../../models/train.js';
import { choiceParser, parseNonNegativeInt, parsePositiveInt, parsePositiveNumber, parseUnitInterval } from '../options.js';
import { ensureOutDir, stopwatch, writeResult } from '../output.js';
import { createProgress } from '../progress.js';
import { formatReport, reportModelSamples } from '../model-report.js';
import { drawModelSamples, SAMPLERS, type SamplerName, toDataUnits } from '../model-sampling.js';

interface TrainOptions {
  data: string;
  steps: number;
  batch: number;
  lr?: number;
  parametrisation: 'noise' | 'mean' | 'score';
  weighting: string;
  timeSampling: TimeSampling;
  diffusion: 'vp' | 'ddpm';
  emaDecay: number;
  hidden: number;
  depth: number;
  checkpointEvery: number;
  evalSamples: number;
  sampleSteps: number;
  sampler: SamplerName;
  seed: number;
  out: string;
  resume: boolean;
  quiet: boolean;
  engine: TrainEngineChoice;
  ortThreads?: number;
}

/**
 * `--engine` of the training step. 'auto' takes onnxruntime (the step as one ONNX graph,
 * `models/onnx-train-step.ts`: 3-4x faster than jax-js at batch 64-1024, see
 * bench/results/train-step.json) when onnxruntime-node is installed, else jax-js. The two agree to
 * float32 rounding, not bit for bit: a run resumed under another engine continues from the same
 * state but is no longer identical to an uninterrupted one.
 */
const TRAIN_ENGINE_HELP = 'engine of the training step: auto (onnxruntime-node when installed, else jax-js), onnxruntime, jax [auto]';

export function registerTrain(program: Command): void {
  const d = defaultTrainConfig();
  program
    .command('train')
    .description('train an MLP score model by denoising score matching; checkpoints resume exactly')
    .requiredOption('--data <source>', `training data: ${DATA_HELP}`)
    .option('--steps <N>', 'training steps', parsePositiveInt, d.totalSteps)
    .option('--batch <B>', 'minibatch size', parsePositiveInt, d.batch)
    .option('--lr <rate>', `peak learning rate [${d.lr}]`, parsePositiveNumber)
    .option('--parametrisation <kind>', 'network output: noise, mean or score', choiceParser(['noise', 'mean', 'score']), d.parametrisation)
    .option('--weighting <w>', `time weighting of the loss: ${WEIGHTINGS.join(', ')}`, choiceParser(WEIGHTINGS), d.weighting)
    .option('--time-sampling <s>', 'training times on the VP: uniform in t, or logsnr (uniform in log-SNR)', choiceParser(TIME_SAMPLINGS), d.timeSampling ?? 'uniform')
    .option('--diffusion <kind>', 'vp (continuous, b_min 0.1, b_max 20) or ddpm (1000 discrete steps, linear betas 1e-4..0.02)', choiceParser(['vp', 'ddpm']), d.diffusion.kind)
    .option('--ema-decay <d>', 'EMA decay of the weights (the model that is sampled)', parseUnitInterval, d.emaDecay)
    .option('--hidden <H>', 'hidden width', parsePositiveInt, 128)
    .option('--depth <L>', 'hidden layers', parsePositiveInt, 3)
    .option('--checkpoint-every <N>', 'write a checkpoint every N steps (and at the end)', parsePositiveInt, 1000)
    .option('--eval-samples <N>', 'model samples drawn after training to judge it (0: none)', parseNonNegativeInt, 2000)
    .option('--sample-steps <S>', 'sampler steps for those samples', parsePositiveInt, 1000)
    .option('--sampler <name>', `sampler for those samples: ${SAMPLERS.join(', ')}`, choiceParser(SAMPLERS), 'em')
    .option('--seed <S>', 'random seed', parseNonNegativeInt, 0)
    .option('--out <DIR>', 'output folder (checkpoint, model, samples, result.json)', 'runs/train')
    .option('--resume', 'continue the checkpoint in --out (its config wins; --steps may extend it)', false)
    .option('--quiet', 'no progress output', false)
    .option('--engine <name>', TRAIN_ENGINE_HELP, choiceParser(TRAIN_ENGINES), 'auto')
    .option('--ort-threads <N>', 'onnxruntime intra-op threads of the training step [1]', parsePositiveInt)
    .addHelpText('after', '\nExamples:\n  tweedie train --data 2spirals --out runs/spirals\n  tweedie train --data 2spirals --out runs/spirals --resume      # after an interruption\n  tweedie train --data digits --steps 20000 --out runs/digits\n')
    .action(async (opts: TrainOptions) => {
      const clock = stopwatch();
      let run: RunConfig;
      let state;
      if (opts.resume) {
        ({ run, state } = loadCheckpoint(opts.out));
        if (run.model.data.source !== opts.data) {
          throw new InputError(`--data '${opts.data}' differs from the checkpoint's data '${run.model.data.source}'; resume with the same data`);
        }
        run = { ...run, steps: Math.max(opts.steps, state.step) };
      } else {
        if (hasCheckpoint(opts.out)) {
          throw new InputError(`${opts.out} already holds a checkpoint; pass --resume to continue it, or choose another --out`);
        }
        const data0 = resolveTrainingData(opts.data);
        const network = { ...defaultMlpConfig(data0.dim), hidden: opts.hidden, depth: opts.depth };
        const diffusion: TrainConfig['diffusion'] = opts.diffusion === 'ddpm' ? { kind: 'ddpm', steps: 1000, betaStart: 1e-4, betaEnd: 0.02 } : defaultTrainConfig().diffusion;
        const train: TrainConfig = {
          ...defaultTrainConfig(), batch: opts.batch, totalSteps: opts.steps, parametrisation: opts.parametrisation,
          weighting: opts.weighting, timeSampling: opts.timeSampling as TimeSampling, diffusion, emaDecay: opts.emaDecay, ...(opts.lr ? { lr: opts.lr } : {}),
        };
        run = {
          model: { format: 'tweedie-model', version: 1, network: { kind: 'mlp', ...network }, parametrisation: train.parametrisation, diffusion: train.diffusion, data: { source: data0.source, dim: data0.dim, normalisation: data0.normalisation } },
          train, steps: opts.steps, seed: opts.seed, checkpointEvery: opts.checkpointEvery,
        };
      }
      const data = resolveTrainingData(run.model.data.source);
      if (data.dim !== run.model.data.dim) throw new InputError(`data '${data.source}' has dimension ${data.dim} but the checkpoint was trained on ${run.model.data.dim}`);
      const [kInit, kData, kNoise, kEval] = split(keyFromSeed(run.seed), 4);
      const { network } = run.model;
      state ??= initTrainState(kInit, network, run.train);
      const dir = ensureOutDir(opts.out);
      if (opts.engine === 'onnxruntime' && !onnxRuntimeAvailable()) {
        throw new InputError(`--engine onnxruntime: onnxruntime-node is not available (${onnxRuntimeLoadError() ?? 'unknown reason'}); install it (ONNXRUNTIME_NODE_INSTALL=skip npm install) or use --engine jax`);
      }
      const trainer = await createTrainer(network, run.train, state, { engine: opts.engine, ...(opts.ortThreads !== undefined ? { threads: opts.ortThreads } : {}) });
      const engine = trainer.engine ?? 'jax';
      const startStep = state.step;
      const progress = createProgress('train', run.steps, { quiet: opts.quiet });
      const history: { step: number; loss: number; lr: number }[] = [];
      const skipped: { step: number; reason: string }[] = [];
      let lossAvg = NaN;
      const trainClock = stopwatch();
      for (let step = startStep; step < run.steps; step++) {
        const x0 = data.batch(foldIn(kData, step), run.train.batch);
        const r = trainer.step(x0, foldIn(kNoise, step));
        if (r.skipped) {
          skipped.push({ step, reason: r.reason ?? 'non-finite' });
          process.stderr.write(`\nstep ${step}: update skipped (${r.reason}); the last good state is kept\n`);
        } else {
          lossAvg = Number.isNaN(lossAvg) ? r.loss : 0.99 * lossAvg + 0.01 * r.loss;
        }
        if ((step + 1) % 100 === 0) history.push({ step: step + 1, loss: lossAvg, lr: r.lr });
        const rate = (step + 1 - startStep) / trainClock();
        progress.tick(step + 1, `loss ${lossAvg.toFixed(4)} | ${rate.toFixed(0)} steps/s`);
        if ((step + 1) % run.checkpointEvery === 0 || step + 1 === run.steps) saveCheckpoint(dir, run, trainer.snapshot());
      }
      progress.finish(`loss ${lossAvg.toFixed(4)}`);
      const trainSeconds = trainClock();
      if (startStep >= run.steps) saveCheckpoint(dir, run, trainer.snapshot());
      const final = trainer.snapshot();
      trainer.dispose?.();
      let report;
      const sampleClock = stopwatch();
      if (opts.evalSamples > 0) {
        const samples = await drawModelSamples(kEval, run.model, final.ema, { n: opts.evalSamples, steps: opts.sampleSteps, sampler: opts.sampler });
        writeNpy(join(dir, 'samples.npy'), toDataUnits(samples, run.model));
        report = await reportModelSamples(foldIn(kEval, 1), samples, data, dir,
          `${data.source}: ${samples.n} samples after ${run.steps} steps (${opts.sampler}, ${opts.sampleSteps} steps)`);
      }
      writeResult(dir, {
        command: 'train',
        seed: run.seed,
        config: { ...run, resumedFrom: opts.resume ? startStep : null, engine, ...(engine === 'onnxruntime' ? { ortThreads: opts.ortThreads ?? 1 } : {}), sampler: opts.sampler, sampleSteps: opts.sampleSteps, evalSamples: opts.evalSamples, protocol: report?.protocol },
        metrics: { finalLoss: lossAvg, skippedSteps: skipped.length, ...(report?.metrics ?? {}) },
        floor: report?.floor,
        outputs: { checkpoint: 'checkpoint.safetensors', model: 'model.safetensors', config: 'config.json', ...(report ? { samples: 'samples.npy', plot: report.plots[0] ?? '' } : {}) },
        timings: { trainSeconds, stepsPerSecond: (run.steps - startStep) / trainSeconds, sampleSeconds: sampleClock(), totalSeconds: clock() },
        notes: skipped.map((s) => `step ${s.step}: skipped (${s.reason})`),
      });
      // Loss history is data, not metadata: its own file.
      writeNpy(join(dir, 'loss.npy'), { shape: [history.length, 2], data: history.flatMap((h) => [h.step, h.loss]) });
      process.stdout.write(`trained ${run.steps} steps on ${data.source} (final loss ${lossAvg.toFixed(4)}); model in ${join(dir, 'model.safetensors')}\n`);
      if (report) process.stdout.write(`${formatReport(report)}\n`);
    });
}
