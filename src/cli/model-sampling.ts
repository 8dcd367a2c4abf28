/**
 * Samples of a trained model by any of the three samplers, in the data's own units (the
 * model's normalisation undone). Shared by `train` (its final report) and `sample --model`.
 * The model is a checkpoint (`--model DIR`) or an imported ONNX network (`--model model.onnx`
 * with its sidecar, `io/onnx-import.ts`): both reach the samplers as a factory of score models
 * for a given noise schedule (`ScoreModelFactory`).
 */
import type { Batch } from '../core/batch.js';
import type { Key } from '../core/key.js';
import { loadOnnxRuntime } from '../core/onnx-runtime.js';
import type { NoiseSchedule } from '../core/types.js';
import { sampleAncestral } from '../diffusion/ancestral.js';
import { DDPMSchedule } from '../diffusion/ddpm.js';
import { sampleReverseSDE } from '../diffusion/em.js';
import { sampleProbabilityFlow } from '../diffusion/pfode.js';
import type { StepCallback } from '../diffusion/types.js';
import { VESDE } from '../diffusion/ve.js';
import { VPSDE } from '../diffusion/vp.js';
import type { ScoreModel } from '../core/types.js';
import { loadModel, type ModelConfig } from '../io/checkpoint.js';
import { InputError, isInputError } from '../io/errors.js';
import { exportedNetworkPredictor } from '../io/onnx-export.js';
import { isOnnxPath, loadOnnxScoreModel, readOnnxScoreNetwork } from '../io/onnx-import.js';
import type { Normalisation } from '../io/training-data.js';
import { loadNetworkScoreModel } from '../models/mlp.js';
import { onnxScoreModel, type OnnxPredictorOptions } from '../models/onnx-predictor.js';
import type { DiffusionConfig } from '../models/loss.js';
import type { Tensors } from '../models/train.js';

export const SAMPLERS = ['em', 'ancestral', 'ode'] as const;
export type SamplerName = (typeof SAMPLERS)[number];

/** The continuous VP SDE of a model (a DDPM schedule's continuous limit: `b(t) = T beta(t)`). */
export function modelSde(config: { diffusion: DiffusionConfig }): VPSDE {
  const d = config.diffusion;
  if (d.kind === 've') {
    throw new InputError('this command needs a variance-preserving model; the model uses the variance-exploding schedule (an iDEM baseline): sample it with tweedie amortized sample');
  }
  return d.kind === 'vp'
    ? new VPSDE({ betaMin: d.betaMin, betaMax: d.betaMax })
    : new DDPMSchedule({ steps: d.steps, betaStart: d.betaStart, betaEnd: d.betaEnd }).continuousLimit();
}

/** Builds a model's score model for a noise schedule (the SDE's, or the ancestral chain's). */
export type ScoreModelFactory = (schedule: NoiseSchedule) => Promise<ScoreModel & { dispose(): void }>;

/** `n` samples of the model, in model space (see `toDataUnits`); `steps` is the number of sampler steps (the DDPM chain length for ancestral). */
export async function drawModelSamples(
  key: Key, config: ModelConfig, params: Tensors, opts: { n: number; steps: number; sampler: SamplerName; callback?: StepCallback },
): Promise<Batch> {
  return drawSamples(key, config.diffusion, (s) => loadNetworkScoreModel(config.network, params, config.parametrisation, s), opts);
}

/** `drawModelSamples` for any source of score models (a checkpoint's network, an ONNX file). */
export async function drawSamples(
  key: Key, d: DiffusionConfig, makeModel: ScoreModelFactory, opts: { n: number; steps: number; sampler: SamplerName; callback?: StepCallback },
): Promise<Batch> {
  if (d.kind === 've') {
    // A variance-exploding model (the iDEM baseline): reverse-SDE Euler–Maruyama only.
    if (opts.sampler !== 'em') throw new InputError(`a variance-exploding model is sampled with --sampler em, not ${opts.sampler}`);
    const ve = new VESDE({ sigmaMin: d.sigmaMin, sigmaMax: d.sigmaMax });
    const m = await makeModel(ve);
    try {
      return sampleReverseSDE(key, m, ve, { n: opts.n, steps: opts.steps, callback: opts.callback });
    } finally {
      m.dispose();
    }
  }
  const sde = modelSde({ diffusion: d });
  if (opts.sampler === 'ancestral' && d.kind === 'vp' && d.betaMax / opts.steps > 0.2) {
    throw new InputError(`ancestral sampling of a continuous-VP model runs the DDPM chain beta_i = b(t_i) / steps, which needs steps >= ${Math.ceil(5 * d.betaMax)} (got ${opts.steps}); raise --steps or use --sampler em`);
  }
  // The network is always evaluated at continuous t in [0, 1]; a DDPM model was trained at t = i/T.
  const ddpm = opts.sampler !== 'ancestral' ? undefined : d.kind === 'ddpm'
    ? new DDPMSchedule({ steps: d.steps, betaStart: d.betaStart, betaEnd: d.betaEnd })
    // A VP model sampled ancestrally: the DDPM chain of `steps` steps with beta_i = b(t_i) / steps.
    : new DDPMSchedule({ steps: opts.steps, betaStart: d.betaMin / opts.steps, betaEnd: d.betaMax / opts.steps });
  const schedule: NoiseSchedule = ddpm ?? sde;
  const model = await makeModel(schedule);
  try {
    if (ddpm) return sampleAncestral(key, model, ddpm, { n: opts.n, callback: opts.callback });
    if (opts.sampler === 'ode') return sampleProbabilityFlow(key, model, sde, { n: opts.n, steps: opts.steps, callback: opts.callback });
    return sampleReverseSDE(key, model, sde, { n: opts.n, steps: opts.steps, callback: opts.callback });
  } finally {
    model.dispose();
  }
}

/**
 * What `sample` and `issgm` need of a `--model`, whatever its source: the diffusion, the data
 * (source for metrics, normalisation), a factory of score models, and a description.
 */
export interface SamplingModel {
  description: string;
  /** Training step of a checkpoint; undefined for an imported network. */
  step?: number;
  diffusion: DiffusionConfig;
  data: { source?: string; normalisation: Normalisation };
  makeModel: ScoreModelFactory;
  /** The config recorded in result.json. */
  record: Record<string, unknown>;
}

/**
 * `--model SPEC`: a checkpoint folder (or its model.safetensors) or an ONNX file with its sidecar
 * (`model.onnx` + `model.onnx.json`). `onnx` picks the ONNX backend and threads.
 */
export function loadSamplingModel(spec: string, onnx: OnnxPredictorOptions = {}): SamplingModel {
  if (isOnnxPath(spec)) {
    const net = readOnnxScoreNetwork(spec);
    const s = net.sidecar;
    return {
      description: `ONNX network ${spec} (${s.parametrisation}, ${s.time} time, ${s.schedule.kind} schedule)`,
      diffusion: s.schedule,
      data: { source: s.data?.source, normalisation: s.data?.normalisation ?? { scale: 1, shift: 0 } },
      makeModel: (schedule) => loadOnnxScoreModel(net, schedule, onnx),
      record: { onnx: { sidecar: s, producer: net.graph.producer, opsets: net.graph.opsets, ops: net.graph.ops, backend: onnx.backend ?? 'auto' } },
    };
  }
  const { config, params, step } = loadModel(spec);
  // A checkpoint's network, MLP or EGNN, runs on onnxruntime (exported in memory) unless `jax`
  // is asked for: ~10x the jax-js forward for the MLP at batch 10,000 (DESIGN "Performance
  // shape"), 7.5x for the DW-4 EGNN (3 x 128) at 10,000 and 9.8x at 256 (1 ort thread, measured
  // on a loaded 2-core machine). `auto` (the default) without onnxruntime-node keeps the compiled
  // jax-js network (faster than the same graph via @jax-js/onnx), after the one warning that the
  // runtime is missing.
  const engine = onnx.backend ?? 'auto';
  const useOrt = engine === 'onnxruntime' || (engine === 'auto' && loadOnnxRuntime() !== undefined);
  return {
    description: `trained model ${spec} (step ${step}, data ${config.data.source})`,
    step,
    diffusion: config.diffusion,
    data: config.data,
    makeModel: useOrt
      ? async (schedule) => {
        const p = await exportedNetworkPredictor(config.network, params, { ...onnx, backend: 'onnxruntime' }).catch((e: unknown) => {
          throw isInputError(e) ? e : new InputError((e as Error).message, { cause: e });
        });
        return onnxScoreModel(p, config.parametrisation, schedule);
      }
      : (schedule) => loadNetworkScoreModel(config.network, params, config.parametrisation, schedule),
    record: { modelStep: step, modelConfig: config, engine: useOrt ? 'onnxruntime' : 'jax' },
  };
}

/** Model-space samples in the data's own units: `raw = x * scale + shift`. */
export function toDataUnits(x: Batch, config: { data: { normalisation: Normalisation } }): Batch {
  const { scale, shift } = config.data.normalisation;
  if (scale === 1 && shift === 0) return x;
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = x.data[i] * scale + shift;
  return { n: x.n, dim: x.dim, data: out };
}
