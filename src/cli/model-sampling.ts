/**
 * Samples of a trained model by any of the three samplers, in the data's own units (the
 * model's normalisation undone). Shared by `train` (its final report) and `sample --model`.
 */
import type { Batch } from '../core/batch.js';
import type { Key } from '../core/key.js';
import type { NoiseSchedule } from '../core/types.js';
import { sampleAncestral } from '../diffusion/ancestral.js';
import { DDPMSchedule } from '../diffusion/ddpm.js';
import { sampleReverseSDE } from '../diffusion/em.js';
import { sampleProbabilityFlow } from '../diffusion/pfode.js';
import type { StepCallback } from '../diffusion/types.js';
import { VESDE } from '../diffusion/ve.js';
import { VPSDE } from '../diffusion/vp.js';
import type { ModelConfig } from '../io/checkpoint.js';
import { InputError } from '../io/errors.js';
import { loadNetworkScoreModel } from '../models/mlp.js';
import type { Tensors } from '../models/train.js';

export const SAMPLERS = ['em', 'ancestral', 'ode'] as const;
export type SamplerName = (typeof SAMPLERS)[number];

/** The continuous VP SDE of a model (a DDPM schedule's continuous limit: `b(t) = T beta(t)`). */
export function modelSde(config: ModelConfig): VPSDE {
  const d = config.diffusion;
  if (d.kind === 've') {
    throw new InputError('this command needs a variance-preserving model; the model uses the variance-exploding schedule (an iDEM baseline): sample it with tweedie amortized sample');
  }
  return d.kind === 'vp'
    ? new VPSDE({ betaMin: d.betaMin, betaMax: d.betaMax })
    : new DDPMSchedule({ steps: d.steps, betaStart: d.betaStart, betaEnd: d.betaEnd }).continuousLimit();
}

/** `n` samples of the model, in model space (see `toDataUnits`); `steps` is the number of sampler steps (the DDPM chain length for ancestral). */
export async function drawModelSamples(
  key: Key, config: ModelConfig, params: Tensors, opts: { n: number; steps: number; sampler: SamplerName; callback?: StepCallback },
): Promise<Batch> {
  const d = config.diffusion;
  if (d.kind === 've') {
    // A variance-exploding model (the iDEM baseline): reverse-SDE Euler–Maruyama only.
    if (opts.sampler !== 'em') throw new InputError(`a variance-exploding model is sampled with --sampler em, not ${opts.sampler}`);
    const ve = new VESDE({ sigmaMin: d.sigmaMin, sigmaMax: d.sigmaMax });
    const m = await loadNetworkScoreModel(config.network, params, config.parametrisation, ve);
    try {
      return sampleReverseSDE(key, m, ve, { n: opts.n, steps: opts.steps, callback: opts.callback });
    } finally {
      m.dispose();
    }
  }
  const sde = modelSde(config);
  if (opts.sampler === 'ancestral' && d.kind === 'vp' && d.betaMax / opts.steps > 0.2) {
    throw new InputError(`ancestral sampling of a continuous-VP model runs the DDPM chain beta_i = b(t_i) / steps, which needs steps >= ${Math.ceil(5 * d.betaMax)} (got ${opts.steps}); raise --steps or use --sampler em`);
  }
  // The network is always evaluated at continuous t in [0, 1]; a DDPM model was trained at t = i/T.
  const ddpm = opts.sampler !== 'ancestral' ? undefined : d.kind === 'ddpm'
    ? new DDPMSchedule({ steps: d.steps, betaStart: d.betaStart, betaEnd: d.betaEnd })
    // A VP model sampled ancestrally: the DDPM chain of `steps` steps with beta_i = b(t_i) / steps.
    : new DDPMSchedule({ steps: opts.steps, betaStart: d.betaMin / opts.steps, betaEnd: d.betaMax / opts.steps });
  const schedule: NoiseSchedule = ddpm ?? sde;
  const model = await loadNetworkScoreModel(config.network, params, config.parametrisation, schedule);
  try {
    if (ddpm) return sampleAncestral(key, model, ddpm, { n: opts.n, callback: opts.callback });
    if (opts.sampler === 'ode') return sampleProbabilityFlow(key, model, sde, { n: opts.n, steps: opts.steps, callback: opts.callback });
    return sampleReverseSDE(key, model, sde, { n: opts.n, steps: opts.steps, callback: opts.callback });
  } finally {
    model.dispose();
  }
}

/** Model-space samples in the data's own units: `raw = x * scale + shift`. */
export function toDataUnits(x: Batch, config: ModelConfig): Batch {
  const { scale, shift } = config.data.normalisation;
  if (scale === 1 && shift === 0) return x;
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = x.data[i] * scale + shift;
  return { n: x.n, dim: x.dim, data: out };
}
