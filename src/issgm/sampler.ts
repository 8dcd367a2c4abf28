/**
 * ISSGM: training-free importance sampling with a score model (paper `issgm-...`, Sec. 3.2;
 * SPEC §2). Given a score model of `p` and a weight `l >= m > 0`, it samples `q ∝ l p` by running
 * the reverse SDE with the approximate score of `q_t` of eq. (16), in place of `p_t`'s score:
 *
 *   x0h = (x + (1 - abar) s(x)) / sqrt(abar)                                         (13) Tweedie
 *   g   = grad_{x0h} log l(x0h)            (x0h a free variable: no backprop through s)
 *   sq  = s(x) + g / sqrt(abar) + (1 - abar) / (eps sqrt(abar)) (s(x + eps g) - s(x))  (16)
 *
 * Why this is `grad log q_t`: by (9)-(10), `grad log q_t(x) = grad log p_t(x) + grad_x log
 * E[l(X0) | X_t = x]`; the first-order Taylor expansion (11) gives `log E[l(X0)|x] ≈ log l(x0h(x))`
 * (12), whose x-gradient is `(I + (1 - abar) H_{p_t}(x)) g / sqrt(abar)` by the chain rule through
 * (13), i.e. (14); the Hessian-vector product `H g` is a forward difference of the score along g
 * (15). So each step costs two score evaluations (at x and at x + eps g) and one gradient of
 * `log l`, and never differentiates the score network.
 *
 * Exactness: for a Gaussian `p` (linear score) and a linear `log l` (exponential tilt), (11) is
 * exact in expectation (E[a.X0 | x] = a.x0h and the conditional covariance does not depend on x),
 * so (12) is exact; (14) is the exact chain rule; and the difference quotient (15) of a linear
 * score is exact too. So there `sq` IS the score of `q_t` up to rounding (tested to 1e-9 relative,
 * measured 4e-11 at t = 1 where (1 - abar) / (eps sqrt(abar)) amplifies it), and
 * ISSGM is the exact reverse SDE of `q`. For other `p` (a GMM), (12) has a Jensen gap that
 * vanishes as t -> 0 (Theorem 1); the tests measure its effect on a GMM.
 *
 * Choices (SPEC §2), all options, recorded in the result:
 *  - `eps` of (15): `eps0` [1e-3] with rule `relative` [default]: `eps = eps0 / max(1, |g|)` per row,
 *    so the probe `eps g` never moves x by more than eps0 (a large |g|, e.g. `norm2` near 0, would
 *    otherwise step out of the region where the difference quotient is a derivative); `fixed`:
 *    `eps = eps0`.
 *  - the floor `m` [1e-6]: `log l = log max(l, m)` (`weights.ts`, `applyFloor`); floored and
 *    non-finite weights are counted per sample and reported as warnings, never turned into NaN.
 *  - the time grid (`steps` [500] uniform to `tMin` [1e-3], or an explicit `grid`), and the step:
 *    reverse Euler–Maruyama on a `DiffusionSDE` (`em.ts`, Song et al. 2021) or DDPM ancestral on a
 *    `DDPMSchedule` (`ancestral.ts`, Ho et al. 2020 Alg. 2; the paper uses DDPM).
 */
import { makeBatch, type Batch } from '../core/batch.js';
import { foldIn, normalBatch, split, type Key } from '../core/key.js';
import type { LogWeight, NoiseSchedule, ScoreModel } from '../core/types.js';
import { ancestralStep, type AncestralVariance } from '../diffusion/ancestral.js';
import { resolveGrid } from '../diffusion/common.js';
import { DDPMSchedule } from '../diffusion/ddpm.js';
import { reverseEulerMaruyamaStep } from '../diffusion/em.js';
import { meanFromScore } from '../diffusion/parametrisation.js';
import type { DiffusionSDE, StepInfo } from '../diffusion/types.js';
import { InputError } from '../io/errors.js';
import { DEFAULT_SMOOTHING_DRAWS, posteriorVariance, smoothedLogWeight } from './smoothed-weight.js';
import { applyFloor, DEFAULT_FLOOR, FloorStatus } from './weights.js';

/** How `eps` of eq. (15) is chosen per row. */
export type EpsRule = 'relative' | 'fixed';

/** Default `eps0` of eq. (15) (SPEC §2). */
export const DEFAULT_EPS0 = 1e-3;

/** The quantities the sampler checks for NaN/Inf, in the order they are computed in a step. */
export type IssgmQuantity = 'x' | 'score' | 'x0hat' | 'g' | 'score at x + eps g' | 'guided score';

/**
 * A non-finite value in the sampler's state: names the step, the time, the quantity and the row.
 * Sampling stops rather than returning NaN samples (issue 4, "Bad input").
 */
export class IssgmNonFiniteError extends Error {
  override readonly name = 'IssgmNonFiniteError';
  constructor(
    readonly quantity: IssgmQuantity, readonly row: number, readonly value: number,
    readonly step: number | undefined, readonly t: number,
  ) {
    super(
      `ISSGM stopped${step === undefined ? '' : ` at step ${step}`} (t = ${t}): ${quantity} is not finite ` +
        `(${value}) at row ${row}` + hint(quantity),
    );
  }
}

function hint(q: IssgmQuantity): string {
  switch (q) {
    case 'g': return '; the weight returned a finite log l but a non-finite gradient there';
    case 'score':
    case 'score at x + eps g': return '; the score model returned NaN/Inf';
    case 'x': return '; the state diverged (too few steps, or a score/weight gradient too large)';
    default: return '';
  }
}

function checkFinite(b: Batch, quantity: IssgmQuantity, step: number | undefined, t: number): void {
  const d = b.data;
  for (let k = 0; k < d.length; k++) {
    if (!Number.isFinite(d[k])) throw new IssgmNonFiniteError(quantity, Math.floor(k / b.dim), d[k], step, t);
  }
}

export interface IssgmScoreOptions {
  /** `eps0` of eq. (15) [1e-3]. */
  eps0?: number;
  /** `relative` [default]: `eps = eps0 / max(1, |g|)` per row; `fixed`: `eps = eps0`. */
  epsRule?: EpsRule;
  /** Floor `m` of `l` [1e-6]: `log l = log max(l, m)`. */
  floor?: number;
  /** Step number, for error messages only. */
  step?: number;
  /**
   * The posterior-variance correction (`smoothed-weight.ts`; not in the paper): `g` is the gradient
   * of the log of `l` smoothed by `N(0, variance_i I)` around `x0h`, from `draws` draws keyed by
   * `key`. Absent: the paper's `g = grad log l(x0h)`.
   */
  smoothing?: { variance: Float64Array; draws: number; key: Key };
}

/** Per-row by-products of one guided score evaluation. */
export interface IssgmScoreDiagnostics {
  /** `s(x)`, the base score (`p_t`'s). */
  readonly baseScore: Batch;
  /** `eps` of eq. (15) per row. */
  readonly eps: Float64Array;
  /** `log max(l(x0h), m)` per row. */
  readonly logWeight: Float64Array;
  /** `FloorStatus` per row (0 ok, 1 floored, 2 non-finite weight). */
  readonly status: Uint8Array;
  /** Rows whose weight was floored (`l <= m`). */
  readonly floored: number;
  /** Rows whose weight was NaN or `+Infinity` (floored too). */
  readonly nonFinite: number;
  /** Score evaluations made (always 2). */
  readonly scoreEvals: number;
  /** `grad log l` calls made (always 1; with smoothing, one call on `n * draws` rows). */
  readonly weightGradEvals: number;
  /**
   * Per row: the Rayleigh quotient `g.Hg / |g|^2` of `p_t`'s Hessian along `g`, from the
   * difference quotient of eq. (15) (NaN where `g = 0`); what the correction's variance uses.
   */
  readonly curvature: Float64Array;
}

export interface IssgmScoreResult {
  /** `sq`, the approximate score of `q_t` of eq. (16). */
  readonly score: Batch;
  /** Tweedie's `x0h = E_p[x_0 | x_t = x]`, eq. (13). */
  readonly x0hat: Batch;
  /** `g = grad log max(l, m)` at `x0h` (0 on floored rows). */
  readonly g: Batch;
  readonly diagnostics: IssgmScoreDiagnostics;
}

function resolveEps(opts: IssgmScoreOptions): { eps0: number; rule: EpsRule } {
  const eps0 = opts.eps0 ?? DEFAULT_EPS0;
  const rule = opts.epsRule ?? 'relative';
  if (!(eps0 > 0) || !Number.isFinite(eps0)) throw new RangeError(`ISSGM: eps0 must be positive and finite, got ${eps0}`);
  if (rule !== 'relative' && rule !== 'fixed') throw new RangeError(`ISSGM: epsRule must be 'relative' or 'fixed', got '${String(rule)}'`);
  return { eps0, rule };
}

function checkDims(x: Batch, model: ScoreModel, logWeight: LogWeight): void {
  if (model.dim !== logWeight.dim) {
    throw new InputError(`ISSGM: the score model has dimension ${model.dim} but the weight is for dimension ${logWeight.dim}`);
  }
  if (x.dim !== model.dim) throw new InputError(`ISSGM: the state has dimension ${x.dim}, the score model ${model.dim}`);
}

function checkShape(b: Batch, x: Batch, what: string): void {
  if (b.n !== x.n || b.dim !== x.dim) throw new RangeError(`ISSGM: ${what} returned ${b.n} x ${b.dim} for a ${x.n} x ${x.dim} batch`);
}

/**
 * The guided score `sq` of eq. (16) at `(x, t)` (pure: nothing is mutated), with Tweedie's `x0h`,
 * the weight gradient `g` at `x0h`, and per-row diagnostics. Exactly two `model.score` calls and one
 * `logWeight.valueAndGrad` call. Throws `IssgmNonFiniteError` naming the first non-finite quantity.
 */
export function issgmScore(
  x: Batch, t: number, model: ScoreModel, logWeight: LogWeight, schedule: NoiseSchedule, opts: IssgmScoreOptions = {},
): IssgmScoreResult {
  checkDims(x, model, logWeight);
  const { eps0, rule } = resolveEps(opts);
  const m = opts.floor ?? DEFAULT_FLOOR;
  const step = opts.step;
  const d = x.dim;
  const n = x.n;
  checkFinite(x, 'x', step, t);
  const alpha = schedule.alpha(t); // sqrt(abar)
  const sigma = schedule.sigma(t);
  const s2 = sigma * sigma; // 1 - abar
  if (!(alpha > 0)) throw new RangeError(`ISSGM: sqrt(abar) = alpha(t) must be positive, got ${alpha} at t = ${t}`);

  // Stage 1: the base score s(x) = grad log p_t(x) (score evaluation 1 of 2).
  const s = model.score(x, t);
  checkShape(s, x, 'the score model');
  checkFinite(s, 'score', step, t);

  // Stage 2: Tweedie's denoised mean, eq. (13): x0h = (x + (1 - abar) s) / sqrt(abar). Written
  // out rather than `meanFromScore` (the same expression, so the same bits): that one evaluates the
  // schedule once per row, for per-row times, and this loop checks finiteness as it goes.
  const x0hat = makeBatch(n, d);
  const invA = 1 / alpha;
  {
    const xd = x.data;
    const sd = s.data;
    const od = x0hat.data;
    for (let j = 0; j < od.length; j++) {
      const v = (xd[j] + s2 * sd[j]) * invA;
      if (!Number.isFinite(v)) throw new IssgmNonFiniteError('x0hat', Math.floor(j / d), v, step, t);
      od[j] = v;
    }
  }

  // Stage 3: g = grad_{x0h} log max(l, m) at x0h, x0h a free variable (the one weight gradient);
  // with the correction, the gradient of the log of l smoothed around x0h.
  const floored = opts.smoothing
    ? smoothedLogWeight(opts.smoothing.key, logWeight, x0hat, opts.smoothing.variance, opts.smoothing.draws, m)
    : applyFloor(logWeight.valueAndGrad(x0hat), m);
  checkShape(floored.grad, x, 'the weight gradient');
  const g = floored.grad;
  checkFinite(g, 'g', step, t);

  // Stage 4: eps per row and the probe point x + eps g of eq. (15).
  const eps = new Float64Array(n);
  const probe = makeBatch(n, d);
  {
    const gd = g.data;
    const xd = x.data;
    const pd = probe.data;
    for (let i = 0; i < n; i++) {
      let e = eps0;
      if (rule === 'relative') {
        let g2 = 0;
        for (let j = i * d; j < (i + 1) * d; j++) g2 += gd[j] * gd[j];
        e = eps0 / Math.max(1, Math.sqrt(g2));
      }
      eps[i] = e;
      for (let j = i * d; j < (i + 1) * d; j++) pd[j] = xd[j] + e * gd[j];
    }
  }

  // Stage 5: s(x + eps g) (score evaluation 2 of 2): (s(x + eps g) - s(x)) / eps ≈ H_{p_t}(x) g, eq. (15).
  const sp = model.score(probe, t);
  checkShape(sp, x, 'the score model');
  checkFinite(sp, 'score at x + eps g', step, t);

  // Stage 6: eq. (16): sq = s + g / sqrt(abar) + (1 - abar) / (eps sqrt(abar)) (s(x + eps g) - s(x)),
  // checked for finiteness in the same pass.
  const sq = makeBatch(n, d);
  const curvature = new Float64Array(n);
  {
    const sd = s.data;
    const gd = g.data;
    const pd = sp.data;
    const qd = sq.data;
    for (let i = 0; i < n; i++) {
      const c = s2 / (eps[i] * alpha);
      let gHg = 0;
      let gg = 0;
      for (let j = i * d; j < (i + 1) * d; j++) {
        const v = sd[j] + gd[j] * invA + c * (pd[j] - sd[j]);
        if (!Number.isFinite(v)) throw new IssgmNonFiniteError('guided score', i, v, step, t);
        qd[j] = v;
        gHg += (gd[j] * (pd[j] - sd[j])) / eps[i];
        gg += gd[j] * gd[j];
      }
      curvature[i] = gg > 0 ? gHg / gg : Number.NaN;
    }
  }

  return {
    score: sq,
    x0hat,
    g,
    diagnostics: {
      baseScore: s,
      eps,
      logWeight: floored.value,
      status: floored.status,
      floored: floored.floored,
      nonFinite: floored.nonFinite,
      scoreEvals: 2,
      weightGradEvals: 1,
      curvature,
    },
  };
}

/** What the sampler reports before every step (and once more at `tMin` when denoising). */
export interface IssgmStepInfo extends StepInfo {
  /** Tweedie's `x0h` under `p` at the current state (the Fig. 2 quantity). */
  readonly x0hat: Batch;
  /** `g = grad log l(x0h)` (0 on floored rows). */
  readonly g: Batch;
  /** The guided score `sq` of eq. (16). */
  readonly score: Batch;
}

export type IssgmStepper = 'em' | 'ancestral';

export interface IssgmOptions extends IssgmScoreOptions {
  /** Number of samples (required unless `x` is given). */
  n?: number;
  /** Start state instead of a prior draw (not mutated). */
  x?: Batch;
  /** `em` (reverse Euler–Maruyama on a `DiffusionSDE`) or `ancestral` (DDPM, on a `DDPMSchedule`) [by the schedule's type]. */
  stepper?: IssgmStepper;
  /** EM: steps of the uniform grid [500]. Ancestral: must equal the schedule's `steps` when given. */
  steps?: number;
  /** EM: explicit decreasing grid (overrides steps/tMin/tEnd). */
  grid?: Float64Array;
  /** EM: last time [1e-3]. */
  tMin?: number;
  /** EM: first time [sde.T]. */
  tEnd?: number;
  /** Ancestral: the step variance ['beta']. */
  variance?: AncestralVariance;
  /**
   * EM: return `E_q[x_0 | x_tMin] ≈ (x + (1 - abar) sq) / sqrt(abar)` from one more guided
   * evaluation at `tMin` (2 scores + 1 gradient) instead of the raw `x_tMin` [true].
   * Ancestral ends at `x_0` and ignores it.
   */
  denoiseLast?: boolean;
  /** Called before every step with `{step, t, x, x0hat, g, score}`. */
  callback?: (info: IssgmStepInfo) => void;
  /**
   * `none` [default]: the paper's eq. (16). `variance`: the posterior-variance correction of the
   * weight term (`smoothed-weight.ts`): same two score evaluations per step, `draws` weight
   * evaluations per row instead of one.
   */
  correction?: IssgmCorrection;
  /** Draws K of the smoothed weight with `correction: 'variance'` [8]. */
  draws?: number;
}

export type IssgmCorrection = 'none' | 'variance';

/** The choices a run was made with (SPEC: every choice recorded in every result). */
export interface IssgmRunOptions {
  readonly stepper: IssgmStepper;
  readonly steps: number;
  readonly tEnd: number;
  readonly tMin: number;
  readonly eps0: number;
  readonly epsRule: EpsRule;
  readonly floor: number;
  readonly denoiseLast: boolean;
  readonly variance?: AncestralVariance;
  readonly correction: IssgmCorrection;
  /** Draws of the smoothed weight (with the variance correction). */
  readonly draws?: number;
}

export interface IssgmDiagnostics {
  readonly options: IssgmRunOptions;
  /** Guided evaluations made (steps, plus one when denoising). */
  readonly evaluations: number;
  /** Score-model calls (2 per guided evaluation). */
  readonly scoreEvals: number;
  /** `grad log l` calls (1 per guided evaluation). */
  readonly weightGradEvals: number;
  /** (row, evaluation) pairs where `l(x0h) <= m` was floored. */
  readonly floored: number;
  /** (row, evaluation) pairs where `log l(x0h)` was NaN or `+Infinity` (floored and counted). */
  readonly nonFinite: number;
  /** Per sample: evaluations at which its weight was floored. */
  readonly flooredPerSample: Uint32Array;
  /** Per sample: evaluations at which its weight was non-finite. */
  readonly nonFinitePerSample: Uint32Array;
  /** Human-readable warnings (floored / non-finite weights); empty when none. */
  readonly warnings: readonly string[];
}

export interface IssgmResult {
  readonly samples: Batch;
  readonly diagnostics: IssgmDiagnostics;
}

function countRows(perSample: Uint32Array): number {
  let c = 0;
  for (const v of perSample) if (v > 0) c++;
  return c;
}

/**
 * The warnings of a run from its counts: floored and non-finite (sample, evaluation) pairs, and the
 * rows they touched. Exported so that a run sampled in chunks (`cli/sample-chunk.ts`) reports
 * the same text from its summed counts.
 */
export function issgmWarnings(c: {
  floor: number; n: number; evaluations: number; floored: number; nonFinite: number; flooredRows: number; nonFiniteRows: number;
}): string[] {
  const warnings: string[] = [];
  const total = c.evaluations * c.n;
  if (c.floored > 0) {
    warnings.push(
      `weight floored at m = ${c.floor} in ${c.floored} of ${total} (sample, step) evaluations ` +
        `(${c.flooredRows} of ${c.n} samples affected): there l(x0h) <= m, so log l = log m and g = 0`,
    );
  }
  if (c.nonFinite > 0) {
    warnings.push(
      `weight non-finite (NaN or +Infinity) in ${c.nonFinite} of ${total} (sample, step) evaluations ` +
        `(${c.nonFiniteRows} of ${c.n} samples affected): floored to m = ${c.floor} with g = 0`,
    );
  }
  return warnings;
}

/**
 * Draw samples of `q ∝ l p` by ISSGM: the reverse SDE of eq. (16) with `sq` (`issgmScore`) in place
 * of the score, stepped by reverse Euler–Maruyama (`em`, on a `DiffusionSDE` such as `VPSDE`) or
 * DDPM ancestral steps (`ancestral`, on a `DDPMSchedule`).
 *
 * Keys are split exactly as `sampleReverseSDE` / `sampleAncestral` do (prior from `split(key)[0]`,
 * step k's noise from `foldIn(split(key)[1], k)`), so with a constant weight (g = 0, `sq = s`)
 * ISSGM reproduces those samplers bit for bit, and row i's path does not depend on n.
 * Cost: 2 score evaluations and 1 `grad log l` per step (+ one guided evaluation with `denoiseLast`).
 */
export function sampleIssgm(
  key: Key, model: ScoreModel, logWeight: LogWeight, sde: DiffusionSDE | DDPMSchedule, opts: IssgmOptions = {},
): IssgmResult {
  const what = 'sampleIssgm';
  const isDDPM = sde instanceof DDPMSchedule;
  const stepper: IssgmStepper = opts.stepper ?? (isDDPM ? 'ancestral' : 'em');
  if (stepper === 'ancestral' && !isDDPM) throw new RangeError(`${what}: the ancestral stepper needs a DDPMSchedule`);
  if (stepper === 'em' && isDDPM) {
    throw new RangeError(`${what}: the em stepper needs a DiffusionSDE (e.g. schedule.continuousLimit()), got a DDPMSchedule`);
  }
  if (stepper !== 'em' && stepper !== 'ancestral') throw new RangeError(`${what}: stepper must be 'em' or 'ancestral', got '${String(stepper)}'`);
  if (model.dim !== logWeight.dim) {
    throw new InputError(`${what}: the score model has dimension ${model.dim} but the weight is for dimension ${logWeight.dim}`);
  }
  const { eps0, rule } = resolveEps(opts);
  const floor = opts.floor ?? DEFAULT_FLOOR;
  if (!(floor > 0) || !Number.isFinite(floor)) throw new RangeError(`${what}: the floor m must be positive and finite, got ${floor}`);

  // Time grid: EM's from `resolveGrid` (as sampleReverseSDE); ancestral's is t_i = i/T, i = T..1.
  let grid: Float64Array;
  if (stepper === 'em') {
    grid = resolveGrid(sde as DiffusionSDE, opts, what);
  } else {
    const sch = sde as DDPMSchedule;
    if (opts.steps !== undefined && opts.steps !== sch.steps) {
      throw new RangeError(`${what}: the ancestral stepper takes the schedule's ${sch.steps} steps, got steps = ${opts.steps}`);
    }
    if (opts.grid !== undefined) throw new RangeError(`${what}: the ancestral stepper uses the schedule's own times; do not pass a grid`);
    grid = new Float64Array(sch.steps);
    for (let k = 0; k < sch.steps; k++) grid[k] = sch.time(sch.steps - k);
  }
  const denoiseLast = stepper === 'em' && (opts.denoiseLast ?? true);
  const K = stepper === 'em' ? grid.length - 1 : grid.length;

  const [kPrior, kNoise] = split(key, 2);
  let x: Batch;
  if (opts.x) {
    if (opts.x.dim !== model.dim) throw new InputError(`${what}: initial state has dimension ${opts.x.dim}, model ${model.dim}`);
    if (opts.n !== undefined && opts.n !== opts.x.n) throw new RangeError(`${what}: n = ${opts.n} but the initial state has ${opts.x.n} rows`);
    x = opts.x;
  } else {
    if (opts.n === undefined) throw new RangeError(`${what}: give n or an initial state x`);
    x = stepper === 'em' ? (sde as DiffusionSDE).priorSample(kPrior, opts.n, model.dim) : normalBatch(kPrior, opts.n, model.dim);
  }
  const n = x.n;
  const scoreOpts = { eps0, epsRule: rule, floor };
  const correction = opts.correction ?? 'none';
  if (correction !== 'none' && correction !== 'variance') throw new RangeError(`${what}: correction must be 'none' or 'variance', got '${String(correction)}'`);
  const draws = opts.draws ?? DEFAULT_SMOOTHING_DRAWS;
  if (!Number.isInteger(draws) || draws < 1) throw new RangeError(`${what}: draws must be a positive integer, got ${draws}`);
  // The correction's curvature along g, carried from the previous step (eq. (15)'s own difference
  // quotient, so no extra score evaluation). Before the first step: -1, the curvature of p_T ≈
  // N(0, I), i.e. a posterior variance of 1 - abar(T) ≈ 1 at t = T.
  const curvature = new Float64Array(n).fill(-1);
  // A key stream of its own, so that correction 'none' keeps the samplers' keys bit for bit.
  const kSmooth = foldIn(key, 0x5a00);
  const flooredPerSample = new Uint32Array(n);
  const nonFinitePerSample = new Uint32Array(n);
  let floored = 0;
  let nonFinite = 0;
  let evaluations = 0;
  let scoreEvals = 0;
  let weightGradEvals = 0;
  const guided = (xs: Batch, t: number, step: number): IssgmScoreResult => {
    const smoothing = correction === 'variance'
      ? { variance: posteriorVariance(curvature, sde.alpha(t), sde.sigma(t) ** 2), draws, key: foldIn(kSmooth, step) }
      : undefined;
    const r = issgmScore(xs, t, model, logWeight, sde, { ...scoreOpts, step, ...(smoothing ? { smoothing } : {}) });
    if (correction === 'variance') {
      const rho = r.diagnostics.curvature;
      for (let i = 0; i < n; i++) if (!Number.isNaN(rho[i])) curvature[i] = rho[i];
    }
    evaluations++;
    scoreEvals += r.diagnostics.scoreEvals;
    weightGradEvals += r.diagnostics.weightGradEvals;
    floored += r.diagnostics.floored;
    nonFinite += r.diagnostics.nonFinite;
    const st = r.diagnostics.status;
    for (let i = 0; i < n; i++) {
      if (st[i] === FloorStatus.Floored) flooredPerSample[i]++;
      else if (st[i] === FloorStatus.NonFinite) nonFinitePerSample[i]++;
    }
    return r;
  };

  for (let k = 0; k < K; k++) {
    const t = grid[k];
    // Stages 1-6 of issgmScore: the guided score sq of eq. (16) at (x, t).
    const r = guided(x, t, k);
    opts.callback?.({ step: k, t, x, x0hat: r.x0hat, g: r.g, score: r.score });
    // Stage 7: one reverse step with sq in place of the score (eq. 16 discretised).
    if (stepper === 'em') {
      const z = normalBatch(foldIn(kNoise, k), n, x.dim);
      x = reverseEulerMaruyamaStep(x, r.score, t, t - grid[k + 1], z, sde as DiffusionSDE);
    } else {
      const i = (sde as DDPMSchedule).steps - k;
      const z = i > 1 ? normalBatch(foldIn(kNoise, k), n, x.dim) : null;
      x = ancestralStep(x, r.score, i, sde as DDPMSchedule, z, opts.variance ?? 'beta');
    }
    checkFinite(x, 'x', k + 1, stepper === 'em' ? grid[k + 1] : (sde as DDPMSchedule).time((sde as DDPMSchedule).steps - k - 1));
  }
  if (denoiseLast) {
    // Tweedie under q at tMin: E_q[x_0 | x] = (x + (1 - abar) grad log q_t(x)) / sqrt(abar), with sq for grad log q_t.
    const t = grid[K];
    const r = guided(x, t, K);
    const x0q = meanFromScore(r.score, x, sde, t);
    checkFinite(x0q, 'x0hat', K, t);
    opts.callback?.({ step: K, t, x, x0hat: r.x0hat, g: r.g, score: r.score });
    x = x0q;
  }

  const warnings = issgmWarnings({
    floor, n, evaluations, floored, nonFinite, flooredRows: countRows(flooredPerSample), nonFiniteRows: countRows(nonFinitePerSample),
  });
  const options: IssgmRunOptions = {
    stepper,
    steps: K,
    tEnd: grid[0],
    tMin: stepper === 'em' ? grid[K] : (sde as DDPMSchedule).time(1),
    eps0,
    epsRule: rule,
    floor,
    denoiseLast,
    ...(stepper === 'ancestral' ? { variance: opts.variance ?? 'beta' } : {}),
    correction,
    ...(correction === 'variance' ? { draws } : {}),
  };
  return {
    samples: x,
    diagnostics: {
      options, evaluations, scoreEvals, weightGradEvals, floored, nonFinite, flooredPerSample, nonFinitePerSample, warnings,
    },
  };
}
