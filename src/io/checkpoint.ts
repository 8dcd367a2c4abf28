/**
 * Checkpoints of a training run and the trained model, as safetensors plus JSON.
 *
 * `DIR/checkpoint.safetensors` is self-contained and is the only file `--resume` reads: the
 * weights, their EMA and the Adam moments as float32 tensors (`params/…`, `ema/…`, `adam_m/…`,
 * `adam_v/…`), and in its metadata the full run config and the step. One file, written
 * atomically (temp file, fsync, rename), so a kill at any moment leaves the previous good
 * checkpoint or the new one, never a mix. The PRNG state needs no storing: every step's keys are
 * `foldIn(key(seed), step)`, so the seed and the step determine them.
 * `DIR/model.safetensors` (EMA weights, model config in metadata) and `DIR/config.json` are
 * written next to it for users and for `tweedie sample --model DIR`.
 *
 * The network is any architecture of `models/architecture.ts`: `model.network` records its kind
 * and config (`{ kind: 'mlp', dim, hidden, depth, embDim, activation }` — unchanged, so older MLP
 * files load as before — or `{ kind: 'egnn', particles, spaceDim, hidden, layers, embDim,
 * activation, output }`), and the tensors are checked against that architecture's specs.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Parametrisation } from '../diffusion/parametrisation.js';
import { type NetworkConfig, NETWORK_KINDS, architecture } from '../models/architecture.js';
import type { TensorSpec } from '../models/layers.js';
import type { Tensors, TrainConfig, TrainState } from '../models/train.js';
import { writeFileAtomic } from './atomic.js';
import { InputError } from './errors.js';
import { type Tensor, readSafetensors, writeSafetensors } from './safetensors.js';
import type { Normalisation } from './training-data.js';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const MODEL_FILE = 'model.safetensors';
export const CONFIG_FILE = 'config.json';

/** What a trained model is: enough to rebuild its score and undo its data normalisation. */
export interface ModelConfig {
  format: 'tweedie-model';
  version: 1;
  /** The architecture and its config (`models/architecture.ts`). */
  network: NetworkConfig;
  parametrisation: Parametrisation;
  diffusion: TrainConfig['diffusion'];
  data: { source: string; dim: number; normalisation: Normalisation };
}

/** A training run: the model plus how it is trained and from which seed. */
export interface RunConfig {
  model: ModelConfig;
  train: TrainConfig;
  steps: number;
  seed: number;
  checkpointEvery: number;
}

const GROUPS = ['params', 'ema', 'adamM', 'adamV'] as const;
const PREFIX: Record<(typeof GROUPS)[number], string> = { params: 'params', ema: 'ema', adamM: 'adam_m', adamV: 'adam_v' };

/** Add tensors under `prefix/` (float32) to a safetensors record. */
export function toTensors(t: Tensors, prefix: string, out: Record<string, Tensor>): void {
  for (const [name, v] of Object.entries(t)) out[prefix ? `${prefix}/${name}` : name] = { dtype: 'F32', shape: v.shape, data: v.data };
}

/** The architecture's tensor specs and description; an invalid config is an input error. */
function networkSpecs(cfg: NetworkConfig, source: string): { specs: TensorSpec[]; what: string } {
  try {
    const arch = architecture(cfg);
    return { specs: arch.tensorSpecs(), what: arch.describe() };
  } catch (e) {
    throw new InputError(`${source}: invalid network config: ${(e as Error).message}`);
  }
}

/** Check a set of tensors against the network's specification: names, shapes, dtype, finiteness. */
export function checkWeights(cfg: NetworkConfig, tensors: Record<string, Tensor>, prefix: string, source: string): Tensors {
  const { specs, what } = networkSpecs(cfg, source);
  const out: Tensors = {};
  const expected = new Set(specs.map((s) => (prefix ? `${prefix}/${s.name}` : s.name)));
  for (const name of Object.keys(tensors)) {
    if ((prefix === '' || name.startsWith(`${prefix}/`)) && !expected.has(name)) {
      throw new InputError(`${source}: tensor '${name}' is not part of the configured network (${what}); the config does not match the weights`);
    }
  }
  for (const s of specs) {
    const name = prefix ? `${prefix}/${s.name}` : s.name;
    const t = tensors[name];
    if (!t) throw new InputError(`${source}: missing tensor '${name}' for the configured network (${what}); the config does not match the weights`);
    if (t.dtype !== 'F32') throw new InputError(`${source}: tensor '${name}' is ${t.dtype}, expected F32`);
    if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i])) {
      throw new InputError(`${source}: tensor '${name}' has shape [${t.shape}] but the config needs [${s.shape}]; the config does not match the weights`);
    }
    const data = t.data as Float32Array;
    const bad = data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new InputError(`${source}: tensor '${name}' holds a non-finite value at index ${bad}`);
    out[s.name] = { shape: [...s.shape], data };
  }
  return out;
}

function parseJson<T>(text: string | undefined, what: string, source: string): T {
  if (text === undefined) throw new InputError(`${source}: no ${what} in the metadata; is this a tweedie file?`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new InputError(`${source}: the ${what} in the metadata is not valid JSON`);
  }
}

function checkModelConfig(c: ModelConfig, source: string): void {
  if (c?.format !== 'tweedie-model' || c.version !== 1) throw new InputError(`${source}: not a tweedie model config (format ${String(c?.format)}, version ${String(c?.version)})`);
  if (!(NETWORK_KINDS as readonly unknown[]).includes(c.network?.kind)) {
    throw new InputError(`${source}: unknown network kind '${String(c.network?.kind)}' (expected one of ${NETWORK_KINDS.join(', ')})`);
  }
  if (!['noise', 'mean', 'score'].includes(c.parametrisation)) throw new InputError(`${source}: unknown parametrisation '${String(c.parametrisation)}'`);
}

/** Write the checkpoint (atomically), then the model file and config.json derived from it. */
export function saveCheckpoint(dir: string, run: RunConfig, state: TrainState): void {
  const tensors: Record<string, Tensor> = {};
  for (const g of GROUPS) toTensors(state[g], PREFIX[g], tensors);
  writeSafetensors(join(dir, CHECKPOINT_FILE), tensors, { tweedie_run: JSON.stringify(run), tweedie_step: String(state.step) });
  const model: Record<string, Tensor> = {};
  toTensors(state.ema, '', model);
  writeSafetensors(join(dir, MODEL_FILE), model, { tweedie_model: JSON.stringify(run.model), tweedie_step: String(state.step) });
  writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify({ ...run, step: state.step }, null, 2)}\n`);
}

/** Whether `dir` holds a checkpoint. */
export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, CHECKPOINT_FILE));
}

/** Read and validate a checkpoint for `--resume`. */
export function loadCheckpoint(dir: string): { run: RunConfig; state: TrainState } {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) throw new InputError(`${dir} holds no ${CHECKPOINT_FILE} to resume from; start without --resume`);
  const { tensors, metadata } = readSafetensors(path);
  const run = parseJson<RunConfig>(metadata.tweedie_run, 'run config', path);
  checkModelConfig(run.model, path);
  const step = Number(metadata.tweedie_step);
  if (!Number.isSafeInteger(step) || step < 0) throw new InputError(`${path}: invalid step '${metadata.tweedie_step}' in the metadata`);
  const state = { step } as TrainState;
  for (const g of GROUPS) (state as unknown as Record<string, Tensors>)[g] = checkWeights(run.model.network, tensors, PREFIX[g], path);
  return { run, state };
}

/** Read a trained model: `DIR` (its model.safetensors) or a `.safetensors` file. */
export function loadModel(pathOrDir: string): { config: ModelConfig; params: Tensors; step: number } {
  const path = pathOrDir.endsWith('.safetensors') ? pathOrDir : join(pathOrDir, MODEL_FILE);
  if (!existsSync(path)) throw new InputError(`no model at ${path}; train one with 'tweedie train --out DIR' and pass that DIR`);
  const { tensors, metadata } = readSafetensors(path);
  const config = parseJson<ModelConfig>(metadata.tweedie_model, 'model config', path);
  checkModelConfig(config, path);
  return { config, params: checkWeights(config.network, tensors, '', path), step: Number(metadata.tweedie_step ?? 0) };
}
