/**
 * DPS-style guidance (after Chung et al. 2023, "Diffusion posterior sampling for general noisy
 * inverse problems", Algorithm 1, where the likelihood gradient is taken through Tweedie's
 * estimate; SPEC §2, baseline 2): the reverse-time SDE (Song et al. 2021, eq. 6) run with the
 * score of `p_t` replaced by
 *
 *   s_zeta(x, t) = s(x, t) + zeta grad_x log l(x0h(x)),   x0h(x) = (x + sigma_t^2 s(x, t)) / alpha_t,
 *
 * i.e. the approximation `E[l(x_0) | x_t] ≈ l(E[x_0 | x_t])` of the conditional score of
 * `q_t ∝ E[l(x_0) | x_t] p_t`. The gradient back-propagates through the score:
 * `grad_x log l(x0h(x)) = (g + sigma_t^2 H^T g) / alpha_t` with `g = grad log l (x0h)` and `H`
 * the Jacobian of the score (`vjp.ts`). The guidance scale `zeta` [1] is a named option (Chung et
 * al. scale it by `1 / |y - A(x0h)|` for their Gaussian likelihood; for a general `l` a constant
 * scale is the usual "DPS-style" choice).
 *
 * Exactness: for Gaussian `p` and linear `log l` (an exponential tilt), `E[l(x_0) | x_t]` is
 * `l(x0h(x_t))` times a constant, so `s_1` is exactly the conditional score (the tests check it).
 * For other `p` or `l` it is biased and no number of steps removes the bias.
 *
 * Work per step and sample: 1 score evaluation + 1 score VJP (analytic or autodiff; 2 more score
 * evaluations instead when the finite-difference fallback is used) + 1 `grad log l`; plus one
 * score evaluation for the final Tweedie denoising (`denoiseLast`).
 */
import { assertFinite, type Batch } from '../core/batch.js';
import { foldIn, normalBatch, split, type Key } from '../core/key.js';
import type { LogWeight, ScoreModel } from '../core/types.js';
import { initialState, resolveGrid, type SamplerGridOptions } from '../diffusion/common.js';
import { reverseEulerMaruyamaStep } from '../diffusion/em.js';
import { meanFromScore } from '../diffusion/parametrisation.js';
import type { DiffusionSDE, StepCallback } from '../diffusion/types.js';
import { countedLogWeight, countedScoreModel, zeroCounts, type EvaluationCounts } from './counting.js';
import { tweedieGuidance } from './guidance.js';
import { withScoreVjp, type FiniteDifferenceOptions } from './vjp.js';

export interface DpsOptions extends SamplerGridOptions {
  /** Number of samples (required unless `x` is given). */
  n?: number;
  /** Start state at the first grid time instead of a prior draw (not mutated). */
  x?: Batch;
  /** Guidance scale `zeta` [1]; 0 gives the plain reverse SDE (the same draws as `sampleReverseSDE`). */
  zeta?: number;
  /** Return Tweedie's mean at the last time (plain score) instead of the raw state [true]. */
  denoiseLast?: boolean;
  /** Step of the finite-difference VJP used when the model has no `scoreVjp`. */
  finiteDifference?: FiniteDifferenceOptions;
  /** Called before every step with `{step, t, x, x0hat}`. */
  callback?: StepCallback;
}

export interface DpsResult {
  readonly samples: Batch;
  /** Number of reverse steps taken. */
  readonly steps: number;
  readonly evaluations: EvaluationCounts;
}

/**
 * Sample by DPS-style guidance with Euler–Maruyama. Keys as in `sampleReverseSDE` (prior from
 * `split(key)[0]`, step k's noise from `foldIn(split(key)[1], k)`).
 */
export function dps(key: Key, model: ScoreModel, logWeight: LogWeight, sde: DiffusionSDE, opts: DpsOptions): DpsResult {
  const what = 'dps';
  if (logWeight.dim !== model.dim) throw new RangeError(`${what}: log-weight has dimension ${logWeight.dim}, score model ${model.dim}`);
  const zeta = opts.zeta ?? 1;
  if (!Number.isFinite(zeta)) throw new RangeError(`${what}: zeta must be finite, got ${zeta}`);
  const grid = resolveGrid(sde, opts, what);
  const counts = zeroCounts();
  const counted = countedScoreModel(model, counts);
  const m = withScoreVjp(counted, opts.finiteDifference);
  const lw = countedLogWeight(logWeight, counts);
  const [kPrior, kNoise] = split(key, 2);
  let x = initialState(opts, model, what, (n) => sde.priorSample(kPrior, n, model.dim));
  const K = grid.length - 1;
  for (let k = 0; k < K; k++) {
    const t = grid[k];
    // Stage 1: score, Tweedie estimate and guidance term at (x, t).
    const g = tweedieGuidance(m, lw, sde, x, t, zeta, `${what} step ${k}`);
    opts.callback?.({ step: k, t, x, x0hat: g.x0hat });
    // Stage 2: reverse-SDE Euler–Maruyama step with the guided score in place of s.
    const z = normalBatch(foldIn(kNoise, k), x.n, x.dim);
    x = reverseEulerMaruyamaStep(x, g.guided, t, t - grid[k + 1], z, sde);
  }
  if (opts.denoiseLast ?? true) {
    const t = grid[K];
    const s = m.score(x, t);
    const x0hat = meanFromScore(s, x, sde, t);
    opts.callback?.({ step: K, t, x, x0hat });
    x = x0hat;
  }
  assertFinite(x, `${what} output`);
  return { samples: x, steps: K, evaluations: counts };
}
