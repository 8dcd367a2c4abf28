/**
 * Checkpoints of an amortized-sampler run (`tweedie amortized train`).
 *
 * `DIR/checkpoint.safetensors` is self-contained and is the only file `--resume` reads: the
 * weights, EMA and Adam moments (float32, as in `checkpoint.ts`), the replay buffer (`buffer`,
 * float64, oldest row first), the target replay's rows if the run keeps one (`targets`, float64,
 * `[rows, 3 dim + 2]`, oldest first), the weights selected by validation so far (`best/…`), and in its
 * metadata the run (config, target, epochs done, target evaluations, validation history).
 * Written atomically, so a kill leaves the previous checkpoint or the new one. Every key is
 * derived from the seed and the epoch/iteration number, so nothing else needs storing.
 *
 * `DIR/model.safetensors` holds the selected weights with a standard model config (data source
 * `amortized:<target>`, no normalisation), so `tweedie sample --model DIR` and
 * `tweedie amortized sample --model DIR` both read it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeBatch, type Batch } from '../core/batch.js';
import { TargetReplay } from '../amortized/target-replay.js';
import type { AmortizedConfig, AmortizedSnapshot } from '../amortized/train.js';
import { architecture, networkConfig } from '../models/architecture.js';
import type { Tensors } from '../models/tensors.js';
import type { TrainState } from '../models/train.js';
import { writeFileAtomic } from './atomic.js';
import { CHECKPOINT_FILE, CONFIG_FILE, MODEL_FILE, type ModelConfig, checkWeights, toTensors } from './checkpoint.js';
import { InputError } from './errors.js';
import { type Tensor, readSafetensors, writeSafetensors } from './safetensors.js';

/** One validation of the model during training. */
export interface ValidationRecord {
  epoch: number;
  iterations: number;
  seconds: number;
  targetEvaluations: number;
  w2: number;
}

/** What the checkpoint's metadata records besides the tensors. */
export interface AmortizedRun {
  format: 'tweedie-amortized';
  version: 1;
  /** Target name or module path. */
  target: string;
  config: AmortizedConfig;
  /** Seconds of training before this checkpoint (summed over resumed sessions). */
  seconds: number;
  history: ValidationRecord[];
  /** The selected weights: the best validation W2 so far ('best/…' tensors), or none yet. */
  best: ValidationRecord | null;
}

const GROUPS = { params: 'params', ema: 'ema', adamM: 'adam_m', adamV: 'adam_v' } as const;

/** The model config of an amortized run's network (identity normalisation: the target's own units). */
export function amortizedModelConfig(run: AmortizedRun): ModelConfig {
  const c = run.config;
  return {
    format: 'tweedie-model',
    version: 1,
    network: networkConfig(c.network),
    parametrisation: c.parametrisation,
    diffusion: c.diffusion,
    data: { source: `amortized:${run.target}`, dim: architecture(c.network).dim, normalisation: { scale: 1, shift: 0 } },
  };
}

/** Write the checkpoint (atomically), then model.safetensors (the selected weights) and config.json. */
export function saveAmortizedCheckpoint(dir: string, run: AmortizedRun, snap: AmortizedSnapshot, best: Tensors | null): void {
  const tensors: Record<string, Tensor> = {};
  for (const [g, prefix] of Object.entries(GROUPS)) toTensors(snap.train[g as keyof typeof GROUPS], prefix, tensors);
  tensors.buffer = { dtype: 'F64', shape: [snap.buffer.n, snap.buffer.dim], data: snap.buffer.data };
  if (snap.targets) tensors.targets = { dtype: 'F64', shape: [snap.targets.n, snap.targets.dim], data: snap.targets.data };
  if (best) toTensors(best, 'best', tensors);
  const meta = { tweedie_amortized: JSON.stringify(run), tweedie_epoch: String(snap.epoch), tweedie_step: String(snap.train.step), tweedie_evaluations: String(snap.targetEvaluations) };
  writeSafetensors(join(dir, CHECKPOINT_FILE), tensors, meta);
  const model: Record<string, Tensor> = {};
  toTensors(best ?? snap.train.ema, '', model);
  const modelConfig = amortizedModelConfig(run);
  writeSafetensors(join(dir, MODEL_FILE), model, { tweedie_model: JSON.stringify(modelConfig), tweedie_step: String(snap.train.step) });
  writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify({ ...run, epoch: snap.epoch, model: modelConfig }, null, 2)}\n`);
}

/** Read and validate a checkpoint for `--resume`. */
export function loadAmortizedCheckpoint(dir: string): { run: AmortizedRun; snapshot: AmortizedSnapshot; best: Tensors | null } {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) throw new InputError(`${dir} holds no ${CHECKPOINT_FILE} to resume from; start without --resume`);
  const { tensors, metadata } = readSafetensors(path);
  const text = metadata.tweedie_amortized;
  if (text === undefined) throw new InputError(`${path} is not an amortized-sampler checkpoint (no run in its metadata); was it written by 'tweedie train'?`);
  let run: AmortizedRun;
  try {
    run = JSON.parse(text) as AmortizedRun;
  } catch {
    throw new InputError(`${path}: the run in the metadata is not valid JSON`);
  }
  if (run.format !== 'tweedie-amortized' || run.version !== 1) throw new InputError(`${path}: unknown run format ${String(run.format)} version ${String(run.version)}`);
  const num = (k: string): number => {
    const v = Number(metadata[k]);
    if (!Number.isSafeInteger(v) || v < 0) throw new InputError(`${path}: invalid ${k} '${metadata[k]}' in the metadata`);
    return v;
  };
  const train = { step: num('tweedie_step') } as TrainState;
  for (const [g, prefix] of Object.entries(GROUPS)) (train as unknown as Record<string, Tensors>)[g] = checkWeights(networkConfig(run.config.network), tensors, prefix, path);
  const d = architecture(run.config.network).dim;
  // A float64 [rows, cols] tensor of finite values: the replay buffer, and the target replay's rows.
  const rows = (name: string, cols: number, what: string): Batch => {
    const t = tensors[name];
    if (!t || t.dtype !== 'F64' || t.shape.length !== 2 || t.shape[1] !== cols) {
      throw new InputError(`${path}: missing or malformed '${name}' tensor (expected F64 [rows, ${cols}]: ${what})`);
    }
    if (!(t.data as Float64Array).every(Number.isFinite)) throw new InputError(`${path}: the ${what} holds non-finite values`);
    return makeBatch(t.shape[0], cols, t.data as Float64Array);
  };
  const buffer = rows('buffer', d, 'the replay buffer');
  const targets = run.config.targetReplay !== undefined ? rows('targets', TargetReplay.width(d), 'the target replay') : undefined;
  const best = run.best ? checkWeights(networkConfig(run.config.network), tensors, 'best', path) : null;
  const snapshot: AmortizedSnapshot = { epoch: num('tweedie_epoch'), train, buffer, targetEvaluations: num('tweedie_evaluations'), ...(targets ? { targets } : {}) };
  return { run, snapshot, best };
}
