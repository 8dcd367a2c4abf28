/**
 * The reference prior of the AIS base, found by a short SMC pilot on the target (beyond the
 * paper). The paper's AIS base is the likelihood `N(x_t / alpha, (sigma / alpha)^2 I)`, ~150 units
 * wide at t = 1 under the VP schedule; annealing from there with 10 one-leapfrog bridges leaves the
 * AIS weights degenerate wherever the target is narrow in some coordinates. Measured on GMM-40 5-D
 * (three of five coordinates have std 1.3): ESS ~1 of 100 particles and a posterior-mean error
 * larger than the spread of the exact means for t >= 0.6 — the model then cannot learn the mode
 * weights. With the base shaped by a diagonal Gaussian matched to the target's moments
 * (`posterior.ts`, `likelihoodBase`), ESS 13–24 and errors as in 2-D.
 *
 * The moments come from the target itself, not from the replay buffer: a buffer-matched reference
 * would feed the model's own mistakes back (an untrained model's buffer is ~N(0, I), and a
 * reference that narrow cannot find modes 30 units out). The pilot is `runSmcBaseline` from the
 * broad Gaussian of the likelihood's width at t = 1, with a small budget (2e6 gradient rows by
 * default: ~2 s, under 0.1% of a default training run); the reference is `N(mean, (widen std)^2)`
 * per coordinate, widened so that AIS keeps covering the target when the pilot's moments are off.
 *
 * The pilot's samples also seed the replay buffer in place of the untrained model's (~N(0, I)):
 * the regression target `E[x_0 | x_t]` is the same whatever the buffer holds — the buffer only
 * decides where the score is fitted — and a buffer that already spans the modes spares the
 * model from having to grow outwards from the origin, which on GMM-40 5-D it had not done after
 * 66 epochs (samples on one filament between two modes, W2 23 against a floor of 2.8; measured).
 */
import type { Batch } from '../core/batch.js';
import { foldIn, keyFromSeed } from '../core/key.js';
import type { Target } from '../core/types.js';
import { runSmcBaseline } from '../baselines/mcmc.js';
import type { GaussianReference } from './posterior.js';

export interface ReferencePilotOptions {
  /** SMC particles (default 1000). */
  particles: number;
  /** Target gradient evaluations (rows x calls) of the pilot (default 2e6). */
  gradientBudget: number;
  /** Std of the SMC's Gaussian start, e.g. `sigma_1 / alpha_1` of the diffusion. */
  initScale: number;
  /** Factor on the pilot's per-coordinate std (default 1.5). */
  widen: number;
}

export function defaultReferencePilot(initScale: number): ReferencePilotOptions {
  return { particles: 1000, gradientBudget: 2e6, initScale, widen: 1.5 };
}

export function checkReferencePilot(o: ReferencePilotOptions): void {
  if (!Number.isInteger(o.particles) || o.particles < 2) throw new RangeError(`reference pilot: particles must be an integer >= 2, got ${o.particles}`);
  for (const [name, v] of [['gradientBudget', o.gradientBudget], ['initScale', o.initScale], ['widen', o.widen]] as const) {
    if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`reference pilot: ${name} must be positive and finite, got ${v}`);
  }
}

/**
 * The pilot's reference for `target`, keyed by the run's seed (so a resumed run recomputes the
 * same one), with its samples and the gradient evaluations it spent. `project` maps the samples
 * first, e.g. onto the centre-of-mass-free subspace of a particle system (DW-4), whose density
 * is flat along translations so that SMC particles drift there.
 */
export function pilotReference(
  seed: number, target: Target, opts: ReferencePilotOptions, project: (x: Batch) => Batch = (x) => x,
): { reference: GaussianReference; samples: Batch; targetEvaluations: number } {
  checkReferencePilot(opts);
  // 'refp' in ASCII: a stream of its own, apart from the trainer's [init, data, buffer] keys.
  const key = foldIn(keyFromSeed(seed), 0x72656670);
  const r = runSmcBaseline(key, target, { n: opts.particles, kernel: 'hmc', gradientBudget: opts.gradientBudget, stepSize: 0.5, initScale: opts.initScale, adapt: true });
  const samples = project(r.samples);
  const { n, dim: d, data } = samples;
  const mean = new Float64Array(d);
  const scale = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += data[i * d + j] / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) scale[j] += (data[i * d + j] - mean[j]) ** 2 / (n - 1);
  for (let j = 0; j < d; j++) {
    scale[j] = opts.widen * Math.sqrt(scale[j]);
    if (!(scale[j] > 0) || !Number.isFinite(scale[j]) || !Number.isFinite(mean[j])) {
      throw new RangeError(`reference pilot: the SMC pilot on '${target.name}' gave no usable spread in coordinate ${j} (mean ${mean[j]}, std ${scale[j]}); its samples collapsed or diverged — run without the reference pilot or give a reference scale`);
    }
  }
  return { reference: { mean, scale }, samples, targetEvaluations: r.info.gradientEvaluations };
}
