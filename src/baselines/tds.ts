/**
 * TDS, the twisted diffusion sampler (Wu, Trippe, Naesseth, Blei & Cunningham 2023, "Practical and
 * asymptotically exact conditional sampling in diffusion models", Sec. 3 and Algorithm 1; SPEC §2,
 * baseline 3): sequential Monte Carlo over the reverse chain of the diffusion model, with twisting
 * functions built from Tweedie's estimate.
 *
 * Target. The model's reverse chain on a decreasing grid `t_0 > ... > t_K` is
 * `p(x_{k+1} | x_k) = N(x_{k+1}; m(x_k), v_k I)`, the reverse-SDE Euler–Maruyama transition
 * (`reverseEulerMaruyamaStep`: `m(x) = x - [f(x, t_k) - g(t_k)^2 s(x, t_k)] dt_k`, `v_k = g(t_k)^2 dt_k`),
 * started from the prior; its output is Tweedie's `x0h(x_K)` at the last time (as in
 * `sampleReverseSDE` with `denoiseLast`). TDS targets that path law tilted by `l(x0h(x_K))`, so its
 * output law is `q_model ∝ l p_model`: the same target as SNIR (asymptotically exact in the number
 * of particles `K`, for any number of steps).
 *
 * Twisting functions (Wu et al., Sec. 3.1): `p~_k(x) = l(x0h(x, t_k))`, the likelihood at Tweedie's
 * estimate (exact at the last time by construction of the target).
 * Twisted proposal (Sec. 3.2): the Euler–Maruyama step with the twisted score
 * `s~_k(x) = s(x, t_k) + grad_x log p~_k(x)` (`guidance.ts`: through the score's VJP), i.e.
 * `p~(x_{k+1} | x_k) = N(m~(x_k), v_k I)`, `m~ = m + v_k grad_x log p~_k`.
 * Weights (Algorithm 1): `w_0 = p~_0(x_0)` for `x_0` from the prior, then
 *
 *   w_{k+1} = p(x_{k+1} | x_k) p~_{k+1}(x_{k+1}) / [ p~(x_{k+1} | x_k) p~_k(x_k) ],
 *
 * whose product along a path telescopes to `[prior path law / proposal path law] l(x0h(x_K))`.
 * Resampling within each group of `K` particles (every step, or when the group's Kish ESS falls
 * below `essThreshold K`), systematic by default; weights are kept as logs (blackjax's SMC shape:
 * `init`, `step(key, state) -> [state, info]`). The product of the groups' mean weights at each
 * resampling and at the end estimates `E_{p_model}[l]` (`logZ`, unbiased on the natural scale).
 *
 * Work per particle and step: 1 score evaluation, 1 `log l` value and gradient, 1 score VJP
 * (2 score evaluations instead with the finite-difference fallback); plus the same once at
 * initialisation. No extra evaluation at the end: Tweedie's `x0h(x_K)` is the last twist's.
 * So `K (steps + 1)` score evaluations per output sample, against `steps + 1` for the plain sampler.
 */
import { makeBatch, type Batch } from '../core/batch.js';
import { foldIn, normalBatch, split, type Key } from '../core/key.js';
import type { LogWeight, ScoreModel } from '../core/types.js';
import { resolveGrid, type SamplerGridOptions } from '../diffusion/common.js';
import { reverseEulerMaruyamaStep } from '../diffusion/em.js';
import type { DiffusionSDE, StepCallback } from '../diffusion/types.js';
import { essFromLogWeights, logSumExp } from '../metrics/ess.js';
import { countedLogWeight, countedScoreModel, zeroCounts, type EvaluationCounts } from './counting.js';
import { tweedieGuidance } from './guidance.js';
import { resampleIndices, type ResamplingScheme } from './resampling.js';
import { withScoreVjp, type FiniteDifferenceOptions } from './vjp.js';

/** When a group resamples: every step, when its ESS < essThreshold * K, or never (plain SIS). */
export type ResampleWhen = 'always' | 'ess' | 'never';

export interface TdsParameters {
  /** Particles per group `K` [8]; each group yields one output sample. */
  particles?: number;
  /** Resampling rule ['ess']. */
  resample?: ResampleWhen;
  /** Fraction of K under which a group's ESS triggers resampling with `resample: 'ess'` [0.5]. */
  essThreshold?: number;
  /** Resampling scheme within a group ['systematic']. */
  scheme?: ResamplingScheme;
  /** Step of the finite-difference VJP used when the model has no `scoreVjp`. */
  finiteDifference?: FiniteDifferenceOptions;
}

/** The particle system at grid time `grid[step]`: `groups * K` rows, group g in rows `gK..gK+K-1`. */
export interface TdsState {
  readonly step: number;
  readonly groups: number;
  readonly particles: number;
  readonly x: Batch;
  /** Unnormalised log-weights, per particle. */
  readonly logWeights: Float64Array;
  /** Per group: log of the product of mean weights at the resampling times so far. */
  readonly logZ: Float64Array;
  /** `s(x, t)`, the twisted score `s~(x, t)`, Tweedie's `x0h(x)` and `log p~(x) = log l(x0h)`. */
  readonly score: Batch;
  readonly twistedScore: Batch;
  readonly x0hat: Batch;
  readonly logTwist: Float64Array;
}

export interface TdsInfo {
  /** Index of the step taken (from `grid[step]` to `grid[step + 1]`). */
  readonly step: number;
  readonly t: number;
  /** Kish ESS of each group before this step's resampling. */
  readonly ess: Float64Array;
  /** 1 where the group resampled at this step. */
  readonly resampled: Uint8Array;
}

export interface TdsKernel {
  readonly grid: Float64Array;
  /** Work done by this kernel so far (all calls together). */
  readonly evaluations: EvaluationCounts;
  /** `groups * K` prior draws from `key`, twisted and weighted at `grid[0]`. */
  init(key: Key, groups: number): TdsState;
  /** Start from given points at `grid[0]` (`groups * K` rows). */
  initFrom(x: Batch, groups: number): TdsState;
  /** One SMC step (resample, propose, reweight); pure: `state` is not mutated. */
  step(key: Key, state: TdsState): [TdsState, TdsInfo];
}

/** Copy rows `idx` of several per-particle arrays at once. */
function gather(b: Batch, idx: Int32Array): Batch {
  const d = b.dim;
  const out = makeBatch(idx.length, d);
  for (let j = 0; j < idx.length; j++) out.data.set(b.data.subarray(idx[j] * d, (idx[j] + 1) * d), j * d);
  return out;
}

/**
 * The TDS kernel on a fixed decreasing grid, every parameter explicit (blackjax's `build_kernel`).
 */
export function buildTdsKernel(
  model: ScoreModel, logWeight: LogWeight, sde: DiffusionSDE, grid: Float64Array, params: TdsParameters = {},
): TdsKernel {
  const what = 'tds';
  if (logWeight.dim !== model.dim) throw new RangeError(`${what}: log-weight has dimension ${logWeight.dim}, score model ${model.dim}`);
  const K = params.particles ?? 8;
  if (!Number.isInteger(K) || K < 1) throw new RangeError(`${what}: particles must be a positive integer, got ${K}`);
  const when = params.resample ?? 'ess';
  if (when !== 'always' && when !== 'ess' && when !== 'never') throw new RangeError(`${what}: unknown resample rule '${String(when)}' (always, ess, never)`);
  const threshold = params.essThreshold ?? 0.5;
  if (!(threshold >= 0 && threshold <= 1)) throw new RangeError(`${what}: essThreshold must be in [0, 1], got ${threshold}`);
  const scheme = params.scheme ?? 'systematic';
  const counts = zeroCounts();
  const m = withScoreVjp(countedScoreModel(model, counts), params.finiteDifference);
  const lw = countedLogWeight(logWeight, counts);
  const steps = grid.length - 1;

  function twistAt(x: Batch, groups: number, k: number, logWeights: Float64Array, logZ: Float64Array): TdsState {
    const g = tweedieGuidance(m, lw, sde, x, grid[k], 1, `${what} at grid index ${k}`);
    return {
      step: k, groups, particles: K, x, logWeights, logZ,
      score: g.score, twistedScore: g.guided, x0hat: g.x0hat, logTwist: g.logL,
    };
  }

  function initFrom(x: Batch, groups: number): TdsState {
    if (!Number.isInteger(groups) || groups < 1) throw new RangeError(`${what}: groups must be a positive integer, got ${groups}`);
    if (x.n !== groups * K) throw new RangeError(`${what}: ${x.n} initial points for ${groups} groups of ${K}`);
    if (x.dim !== model.dim) throw new RangeError(`${what}: initial points have dimension ${x.dim}, model ${model.dim}`);
    const s = twistAt(x, groups, 0, new Float64Array(x.n), new Float64Array(groups));
    // Algorithm 1, initial weights: w_0 = p~_0(x_0) for x_0 from the prior.
    s.logWeights.set(s.logTwist);
    return s;
  }

  function step(key: Key, st: TdsState): [TdsState, TdsInfo] {
    const k = st.step;
    if (k >= steps) throw new RangeError(`${what}: the state is already at the last grid time (step ${k} of ${steps})`);
    const t = grid[k];
    const dt = t - grid[k + 1];
    const G = st.groups;
    const N = G * K;
    const d = st.x.dim;
    const [kRes, kNoise] = split(key, 2);

    // Stage 1: resample within each group (Algorithm 1), keeping the weights' mean in logZ.
    const ess = new Float64Array(G);
    const resampled = new Uint8Array(G);
    const idx = new Int32Array(N);
    const logW = new Float64Array(st.logWeights);
    const logZ = new Float64Array(st.logZ);
    let any = false;
    for (let g = 0; g < G; g++) {
      const wg = st.logWeights.subarray(g * K, (g + 1) * K);
      ess[g] = essFromLogWeights(wg);
      const go = when === 'always' || (when === 'ess' && ess[g] < threshold * K);
      if (go) {
        const a = resampleIndices(foldIn(kRes, g), wg, K, scheme);
        for (let j = 0; j < K; j++) idx[g * K + j] = g * K + a[j];
        logZ[g] += logSumExp(wg) - Math.log(K);
        logW.fill(0, g * K, (g + 1) * K);
        resampled[g] = 1;
        any = true;
      } else {
        for (let j = 0; j < K; j++) idx[g * K + j] = g * K + j;
      }
    }
    const x = any ? gather(st.x, idx) : st.x;
    const score = any ? gather(st.score, idx) : st.score;
    const twisted = any ? gather(st.twistedScore, idx) : st.twistedScore;
    const logTwist = any ? Float64Array.from(idx, (i) => st.logTwist[i]) : st.logTwist;

    // Stage 2: twisted proposal x' ~ N(m~(x), v I), the EM step with the twisted score (Sec. 3.2).
    const z = normalBatch(kNoise, N, d);
    const xNew = reverseEulerMaruyamaStep(x, twisted, t, dt, z, sde);
    // Means of the model's transition and of the proposal (noise-free steps).
    const mean = reverseEulerMaruyamaStep(x, score, t, dt, null, sde);
    const meanTw = reverseEulerMaruyamaStep(x, twisted, t, dt, null, sde);
    const gt = sde.diffusion(t);
    const v = gt * gt * dt;

    // Stage 3: twisting function and twisted score at the new points (Sec. 3.1).
    const next = twistAt(xNew, G, k + 1, logW, logZ);

    // Stage 4: incremental weights p(x'|x) p~_{k+1}(x') / [p~(x'|x) p~_k(x)] (Algorithm 1).
    for (let i = 0; i < N; i++) {
      if (logW[i] === -Infinity) continue;
      let q = 0;
      for (let j = i * d; j < (i + 1) * d; j++) {
        const a = xNew.data[j] - mean.data[j];
        const b = xNew.data[j] - meanTw.data[j];
        q += b * b - a * a;
      }
      const inc = q / (2 * v) + next.logTwist[i] - logTwist[i];
      logW[i] += inc;
      if (Number.isNaN(logW[i])) throw new RangeError(`${what}: NaN log-weight at step ${k}, particle ${i}`);
    }
    return [next, { step: k, t, ess, resampled }];
  }

  return {
    grid,
    evaluations: counts,
    init: (key, groups) => initFrom(sde.priorSample(key, groups * K, model.dim), groups),
    initFrom,
    step,
  };
}

export interface TdsOptions extends SamplerGridOptions, TdsParameters {
  /** Number of groups = number of output samples with `output: 'resample'`. */
  n: number;
  /** One resampled particle per group ['resample'], or the whole weighted population ('weighted'). */
  output?: 'resample' | 'weighted';
  /** Called before every step with `{step, t, x, x0hat}` of all particles, and once at the end. */
  callback?: StepCallback;
}

export interface TdsResult {
  /** `n` points (one per group), or all `n K` particles' Tweedie estimates with `output: 'weighted'`. */
  readonly samples: Batch;
  /** Log-weights of `samples` with `output: 'weighted'`; zeros after the final resampling. */
  readonly logWeights: Float64Array;
  /** The final population (`n K` rows, Tweedie's estimate at the last time) and its log-weights. */
  readonly particles: Batch;
  readonly particleLogWeights: Float64Array;
  /** Per group, the estimate of `log E_{p_model}[l]`. */
  readonly logZ: Float64Array;
  /** Mean over groups of the Kish ESS before each step's resampling, and at the end (steps + 1 values). */
  readonly essHistory: Float64Array;
  /** Number of (group, step) resampling events. */
  readonly resamplings: number;
  readonly steps: number;
  readonly evaluations: EvaluationCounts;
}

/**
 * Run TDS with `n` groups of `K` particles. Keys: initial particles from `split(key)[0]`, step k
 * from `foldIn(split(key)[1], k)`, the final draw of group g from `foldIn(split(key)[2], g)`.
 */
export function tds(key: Key, model: ScoreModel, logWeight: LogWeight, sde: DiffusionSDE, opts: TdsOptions): TdsResult {
  const grid = resolveGrid(sde, opts, 'tds');
  const n = opts.n;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`tds: n must be a positive integer, got ${n}`);
  const kernel = buildTdsKernel(model, logWeight, sde, grid, opts);
  const [kInit, kSteps, kFinal] = split(key, 3);
  let state = kernel.init(kInit, n);
  const K = state.particles;
  const steps = grid.length - 1;
  const essHistory = new Float64Array(steps + 1);
  let resamplings = 0;
  for (let k = 0; k < steps; k++) {
    opts.callback?.({ step: k, t: grid[k], x: state.x, x0hat: state.x0hat });
    const [next, info] = kernel.step(foldIn(kSteps, k), state);
    let e = 0;
    for (let g = 0; g < n; g++) {
      e += info.ess[g];
      resamplings += info.resampled[g];
    }
    essHistory[k] = e / n;
    state = next;
  }
  opts.callback?.({ step: steps, t: grid[steps], x: state.x, x0hat: state.x0hat });

  // Final stage: the output is Tweedie's x0h(x_K) with weights w_K; close each group's logZ.
  const logZ = new Float64Array(state.logZ);
  let e = 0;
  for (let g = 0; g < n; g++) {
    const wg = state.logWeights.subarray(g * K, (g + 1) * K);
    logZ[g] += logSumExp(wg) - Math.log(K);
    e += essFromLogWeights(wg);
  }
  essHistory[steps] = e / n;
  const particles = state.x0hat;
  const result = {
    particles, particleLogWeights: state.logWeights, logZ, essHistory, resamplings, steps,
    evaluations: kernel.evaluations,
  };
  if ((opts.output ?? 'resample') === 'weighted') {
    return { ...result, samples: particles, logWeights: state.logWeights };
  }
  const idx = new Int32Array(n);
  for (let g = 0; g < n; g++) {
    idx[g] = g * K + resampleIndices(foldIn(kFinal, g), state.logWeights.subarray(g * K, (g + 1) * K), 1, 'multinomial')[0];
  }
  return { ...result, samples: gather(particles, idx), logWeights: new Float64Array(n) };
}
