/**
 * Reverse-time SDE sampling by Euler–Maruyama (Song et al. 2021, eq. 6 and App. G, "reverse
 * diffusion / Euler–Maruyama predictor"; Anderson 1982 for the reverse-time SDE):
 *
 *   dx = [f(x, t) - g(t)^2 grad_x log p_t(x)] dt + g(t) dW_bar,   t from T down to tMin.
 *
 * One step from `t` to `t - dt` (dt > 0), with `z ~ N(0, I)`:
 *   x' = x - [f(x, t) - g(t)^2 s(x, t)] dt + g(t) sqrt(dt) z.
 *
 * The step is exported on its own, taking the score as a batch, so that ISSGM can pass its
 * modified score `sq` (SPEC §2, eq. 16 of the ISSGM paper) in place of `s`.
 */
import { assertFinite, type Batch } from '../core/batch.js';
import { foldIn, normalBatch, split, type Key } from '../core/key.js';
import type { ScoreModel } from '../core/types.js';
import { initialState, checkScore, resolveGrid, type SamplerGridOptions } from './common.js';
import { meanFromScore } from './parametrisation.js';
import type { DiffusionSDE, StepCallback } from './types.js';

/**
 * One reverse Euler–Maruyama step from time `t` to `t - dt` (`dt > 0`):
 * `x - [f(x, t) - g(t)^2 score] dt + g(t) sqrt(dt) noise`. Pure: returns a new batch.
 * Pass `noise = null` for the noise-free step (the mean of the transition).
 */
export function reverseEulerMaruyamaStep(
  x: Batch, score: Batch, t: number, dt: number, noise: Batch | null, sde: DiffusionSDE,
): Batch {
  if (score.n !== x.n || score.dim !== x.dim) throw new RangeError('reverseEulerMaruyamaStep: score and x differ in shape');
  if (noise && (noise.n !== x.n || noise.dim !== x.dim)) throw new RangeError('reverseEulerMaruyamaStep: noise and x differ in shape');
  if (!(dt > 0)) throw new RangeError(`reverseEulerMaruyamaStep: dt must be positive (a step back in time), got ${dt}`);
  const f = sde.drift(x, t);
  const g = sde.diffusion(t);
  const g2dt = g * g * dt;
  const sd = g * Math.sqrt(dt);
  const out = new Float64Array(x.data.length);
  for (let j = 0; j < out.length; j++) {
    // Stage 1 (drift of the reverse SDE, eq. 6): x - f dt + g^2 s dt.
    let v = x.data[j] - f.data[j] * dt + g2dt * score.data[j];
    // Stage 2 (Brownian increment over dt): + g sqrt(dt) z.
    if (noise) v += sd * noise.data[j];
    out[j] = v;
  }
  return { n: x.n, dim: x.dim, data: out };
}

export interface ReverseSDEOptions extends SamplerGridOptions {
  /** Number of samples (required unless `x` is given). */
  n?: number;
  /** Start state at the first grid time instead of a prior draw (not mutated). */
  x?: Batch;
  /**
   * Return Tweedie's denoised mean `E[x_0 | x_tMin]` from one more score evaluation at the last
   * time, instead of the raw `x_tMin` [true] (removes the residual noise of scale sigma_tMin).
   */
  denoiseLast?: boolean;
  /** Called before every step with `{step, t, x, x0hat}`, and once more at `tMin` when denoising. */
  callback?: StepCallback;
}

/**
 * Sample by the reverse-time SDE with Euler–Maruyama from the prior at `grid[0]` down to
 * `grid[K]`. Keys: the prior from `split(key)[0]`; the noise of step k from
 * `foldIn(split(key)[1], k)`; row i of every draw uses values `i*dim..`, so a row's path does not
 * depend on how many rows run. Score evaluations: `K` (+1 with `denoiseLast`).
 */
export function sampleReverseSDE(key: Key, model: ScoreModel, sde: DiffusionSDE, opts: ReverseSDEOptions): Batch {
  const what = 'sampleReverseSDE';
  const grid = resolveGrid(sde, opts, what);
  const [kPrior, kNoise] = split(key, 2);
  let x = initialState(opts, model, what, (n) => sde.priorSample(kPrior, n, model.dim));
  const K = grid.length - 1;
  for (let k = 0; k < K; k++) {
    const t = grid[k];
    const s = model.score(x, t);
    checkScore(model, x, s, what);
    opts.callback?.({ step: k, t, x, x0hat: meanFromScore(s, x, sde, t) });
    const z = normalBatch(foldIn(kNoise, k), x.n, x.dim);
    x = reverseEulerMaruyamaStep(x, s, t, t - grid[k + 1], z, sde);
  }
  if (opts.denoiseLast ?? true) {
    const t = grid[K];
    const s = model.score(x, t);
    checkScore(model, x, s, what);
    const x0hat = meanFromScore(s, x, sde, t);
    opts.callback?.({ step: K, t, x, x0hat });
    x = x0hat;
  }
  assertFinite(x, `${what} output`);
  return x;
}
