/**
 * Plain MCMC and SMC baselines for diffusion samplers of unnormalised densities (SPEC §3:
 * "plain MCMC/SMC at equal target-evaluation budget: a strong, often winning baseline"). Both
 * spend a budget of target gradient evaluations, counted exactly in rows x calls of
 * `target.logDensityAndGrad`, and return `n` samples.
 *
 * - `runMcmcBaseline`: `n` independent MALA (Roberts & Tweedie 1996) or HMC (Neal 2011) chains
 *   from `N(0, initScale^2 I)`; the first `warmupFraction` of the transitions adapt one shared
 *   step size by SPEC §3's x/÷1.5 rule on the mean acceptance over chains, the rest sample with
 *   it frozen (adapting with the chains' own past would break their invariance). The samples are
 *   the chains' last states.
 * - `runSmcBaseline`: AIS/SMC (Neal 2001; Del Moral, Doucet & Jasra 2006) from the broad Gaussian
 *   `N(0, initScale^2 I)` along `b_k = (k/K)^betaExponent`, resampling whenever the ESS falls below
 *   `essThreshold * n`, with the step size adapted from the population's acceptance after every
 *   transition; the samples are the final particles resampled to equal weights (systematic).
 *
 * Budget: one evaluation of all n rows at the start, then per transition 1 (MALA) or `hmcSteps`
 * (HMC) evaluations of all rows; the number of transitions (MCMC) or bridges (SMC) is the largest
 * that fits. The Gaussian base of SMC is analytic and not counted.
 */
import { makeBatch, type Batch } from '../core/batch.js';
import { normal, split, type Key } from '../core/key.js';
import type { Target } from '../core/types.js';
import { adaptStepSize, type AdaptStepSizeOptions } from '../mcmc/adaptation.js';
import { ais, powerBetas } from '../mcmc/ais.js';
import { callsPerTransition, checkKernel, transition, type KernelName } from '../mcmc/kernel.js';
import { gatherRows, systematicResample } from '../mcmc/resampling.js';
import { initChains, type LogDensityFn } from '../mcmc/types.js';

export interface McmcBaselineOptions {
  /** Number of chains (= samples returned). */
  n: number;
  /** Start: `'gaussian'` draws `N(0, initScale^2 I)` (the default); a batch of n rows starts there. */
  init?: 'gaussian' | Batch;
  /** Default 1. */
  initScale?: number;
  kernel: KernelName;
  /** Total target gradient evaluations (rows x calls) allowed. */
  gradientBudget: number;
  /** Initial step size (MALA's h, or the leapfrog step). */
  stepSize: number;
  /** Leapfrog steps per HMC transition (default 5). */
  hmcSteps?: number;
  /** Adapt the step size during warm-up (default true). */
  adapt?: boolean;
  /** Fraction of the transitions spent adapting (default 0.5; ignored without `adapt`). */
  warmupFraction?: number;
  adaptOptions?: AdaptStepSizeOptions;
}

export interface McmcBaselineInfo {
  /** Target gradient evaluations used (rows x calls); <= the budget. */
  gradientEvaluations: number;
  transitions: number;
  /** Transitions spent adapting. */
  warmup: number;
  /** Mean acceptance rate over chains and the sampling transitions (all transitions without warm-up). */
  acceptance: number;
  /** The step size used for sampling. */
  stepSize: number;
  /** Non-finite proposals rejected. */
  nonFinite: number;
}

export interface McmcBaselineResult {
  samples: Batch;
  info: McmcBaselineInfo;
}

function checkCommon(what: string, n: number, budget: number, stepSize: number, initScale: number, kernel: string): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what}: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(budget) || budget < 0) throw new RangeError(`${what}: gradientBudget must be a non-negative integer, got ${budget}`);
  if (!(stepSize > 0) || !Number.isFinite(stepSize)) throw new RangeError(`${what}: stepSize must be positive, got ${stepSize}`);
  if (!(initScale > 0) || !Number.isFinite(initScale)) throw new RangeError(`${what}: initScale must be positive, got ${initScale}`);
  checkKernel(kernel, what);
}

/** A log density that adds its rows to a counter. */
function countedTarget(target: Target): { fn: LogDensityFn; rows: () => number } {
  let rows = 0;
  return {
    fn: (x) => {
      rows += x.n;
      return target.logDensityAndGrad(x);
    },
    rows: () => rows,
  };
}

function gaussianInit(key: Key, n: number, dim: number, scale: number): Batch {
  const z = normal(key, n * dim);
  for (let k = 0; k < z.length; k++) z[k] *= scale;
  return makeBatch(n, dim, z);
}

/** `n` independent MCMC chains on the target within the gradient budget (see the module comment). */
export function runMcmcBaseline(key: Key, target: Target, opts: McmcBaselineOptions): McmcBaselineResult {
  const what = 'runMcmcBaseline';
  const { n, gradientBudget: budget, kernel } = opts;
  const initScale = opts.initScale ?? 1;
  checkCommon(what, n, budget, opts.stepSize, initScale, kernel);
  const hmcSteps = opts.hmcSteps ?? 5;
  const calls = callsPerTransition({ kernel, hmcSteps });
  const transitions = Math.floor((budget - n) / (n * calls));
  if (!(transitions >= 1)) {
    throw new RangeError(`${what}: a budget of ${budget} evaluations does not cover the start (${n}) and one ${kernel} transition (${n * calls}) of ${n} chains`);
  }
  const adapt = opts.adapt ?? true;
  const warmupFraction = opts.warmupFraction ?? 0.5;
  if (!(warmupFraction >= 0 && warmupFraction <= 1)) throw new RangeError(`${what}: warmupFraction must be in [0, 1], got ${warmupFraction}`);
  const warmup = adapt ? Math.round(warmupFraction * transitions) : 0;

  const [kInit, kRun] = split(key, 2);
  let x0: Batch;
  if (opts.init === undefined || opts.init === 'gaussian') x0 = gaussianInit(kInit, n, target.dim, initScale);
  else {
    x0 = opts.init;
    if (x0.n !== n || x0.dim !== target.dim) throw new RangeError(`${what}: init is ${x0.n} x ${x0.dim}, expected ${n} x ${target.dim}`);
  }
  const counted = countedTarget(target);
  let state = initChains(x0, counted.fn);
  let stepSize: Float64Array = Float64Array.of(opts.stepSize);
  let accSum = 0;
  let nonFinite = 0;
  const keys = split(kRun, transitions);
  for (let t = 0; t < transitions; t++) {
    const [next, info] = transition(keys[t], state, counted.fn, { kernel, stepSize: stepSize[0], hmcSteps });
    state = next;
    nonFinite += info.nonFinite;
    if (t < warmup) {
      stepSize = adaptStepSize(stepSize, info.acceptanceRate, opts.adaptOptions);
    } else {
      let a = 0;
      for (let i = 0; i < n; i++) a += info.acceptanceRate[i];
      accSum += a / n;
    }
  }
  const sampling = transitions - warmup;
  return {
    samples: state.position,
    info: {
      gradientEvaluations: counted.rows(),
      transitions,
      warmup,
      acceptance: sampling > 0 ? accSum / sampling : NaN,
      stepSize: stepSize[0],
      nonFinite,
    },
  };
}

export interface SmcBaselineOptions {
  /** Particles (= samples returned). */
  n: number;
  /** Scale of the Gaussian base `N(0, initScale^2 I)`: broad enough to cover the target (default 1). */
  initScale?: number;
  kernel: KernelName;
  /** Total target gradient evaluations (rows x calls) allowed. */
  gradientBudget: number;
  /** Initial step size (adapted from the acceptance unless `adapt` is false). */
  stepSize: number;
  /** Leapfrog steps per HMC transition (default 5). */
  hmcSteps?: number;
  /** MCMC transitions per bridge (default 2). */
  stepsPerBridge?: number;
  /** `b_k = (k/K)^betaExponent` (default 3: finer steps near the broad base, where the weights change fastest). */
  betaExponent?: number;
  /** Resample when the Kish ESS is below `essThreshold * n` (default 0.5). */
  essThreshold?: number;
  /** Adapt the step size on the population's mean acceptance (default true). */
  adapt?: boolean;
  adaptOptions?: AdaptStepSizeOptions;
}

export interface SmcBaselineResult {
  /** The final particles resampled to equal weights (systematic). */
  samples: Batch;
  /** The final particles before that, with their log-weights. */
  particles: Batch;
  logWeights: Float64Array;
  /** Estimate of log Z of the target's unnormalised density. */
  logZ: number;
  /** Kish ESS of the final weights. */
  ess: number;
  info: {
    gradientEvaluations: number;
    bridges: number;
    resamplings: number;
    acceptance: number;
    nonFinite: number;
    /** The step size at the end. */
    stepSize: number;
  };
}

/** SMC (AIS with adaptive resampling) from a broad Gaussian within the gradient budget (see the module comment). */
export function runSmcBaseline(key: Key, target: Target, opts: SmcBaselineOptions): SmcBaselineResult {
  const what = 'runSmcBaseline';
  const { n, gradientBudget: budget, kernel } = opts;
  const initScale = opts.initScale ?? 1;
  checkCommon(what, n, budget, opts.stepSize, initScale, kernel);
  const hmcSteps = opts.hmcSteps ?? 5;
  const stepsPerBridge = opts.stepsPerBridge ?? 2;
  if (!Number.isInteger(stepsPerBridge) || stepsPerBridge < 1) throw new RangeError(`${what}: stepsPerBridge must be a positive integer, got ${stepsPerBridge}`);
  const perBridge = n * stepsPerBridge * callsPerTransition({ kernel, hmcSteps });
  const bridges = Math.floor((budget - n) / perBridge);
  if (!(bridges >= 1)) {
    throw new RangeError(`${what}: a budget of ${budget} evaluations does not cover the start (${n}) and one bridge (${perBridge})`);
  }
  const d = target.dim;
  const logNorm = -0.5 * d * Math.log(2 * Math.PI * initScale * initScale);
  const iv = 1 / (initScale * initScale);
  const baseLogDensity: LogDensityFn = (x) => {
    const value = new Float64Array(x.n);
    const grad = new Float64Array(x.n * d);
    for (let i = 0; i < x.n; i++) {
      let q = 0;
      for (let j = 0; j < d; j++) {
        const v = x.data[i * d + j];
        q += v * v;
        grad[i * d + j] = -v * iv;
      }
      value[i] = logNorm - 0.5 * q * iv;
    }
    return { value, grad: { n: x.n, dim: d, data: grad } };
  };
  const counted = countedTarget(target);
  const [kSmc, kFinal] = split(key, 2);
  const r = ais(kSmc, n, {
    base: { sample: (k, m) => gaussianInit(k, m, d, initScale), logDensity: baseLogDensity },
    target: counted.fn,
    betas: powerBetas(bridges, opts.betaExponent ?? 3),
    transition: kernel,
    stepSize: opts.stepSize,
    hmcSteps,
    stepsPerBridge,
    resample: { essThreshold: opts.essThreshold ?? 0.5 },
    adapt: (opts.adapt ?? true) ? (opts.adaptOptions ?? true) : false,
  });
  const samples = r.ess[0] > 0 ? gatherRows(r.particles, systematicResample(kFinal, r.logWeights, n)) : r.particles;
  return {
    samples,
    particles: r.particles,
    logWeights: r.logWeights,
    logZ: r.logZ[0],
    ess: r.ess[0],
    info: {
      gradientEvaluations: counted.rows(),
      bridges,
      resamplings: r.resamplings,
      acceptance: r.acceptance,
      nonFinite: r.nonFinite,
      stepSize: r.stepSize[0],
    },
  };
}
