/**
 * Annealed importance sampling on the geometric path, grouped (Neal 2001, "Annealed importance
 * sampling", Statistics and Computing 11, Sec. 2; with optional adaptive resampling it is the SMC
 * sampler of Del Moral, Doucet & Jasra 2006, JRSS B 68, Sec. 3.3).
 *
 * Path: `log pi_b(x) = (1 - b) log p_0(x) + b log gamma(x)`, `0 = b_0 < ... < b_K = 1`, with `p_0`
 * the normalised base and `gamma` the unnormalised target (both may differ per row). For every
 * bridge k = 1..K (Neal 2001, eq. 3):
 *   1. weight:  log w += (b_k - b_{k-1}) (log gamma(x) - log p_0(x)) at the current particle;
 *   2. (optional) resample the groups whose Kish ESS fell below `essThreshold * n/groups`;
 *   3. move:    `stepsPerBridge` MALA or HMC transitions that leave pi_{b_k} invariant.
 * Then `Z = E[w]`: per group `log Z = LSE(log w) - log m` (m = n/groups), plus the log-means of
 * the weights at each resampling of that group.
 *
 * Cost: one target call on all n rows at the start, then per transition 1 (MALA) or `hmcSteps`
 * (HMC) calls. The chains keep the base and target values and gradients of their positions apart,
 * so that changing b costs no evaluation; after a transition, the accepted rows take them from
 * the kernel's last call, which is at the proposal (`mala.ts`, `integrators.ts`).
 *
 * Non-finite weights (a NaN / ±Inf target or base value) become `-Infinity`, counted, never NaN.
 */
import { assertSameDim, type Batch } from '../core/batch.js';
import { split, type Key } from '../core/key.js';
import { adaptStepSize, repeatPerBlock, type AdaptStepSizeOptions } from './adaptation.js';
import { callsPerTransition, transition } from './kernel.js';
import { gatherRows, gatherValues, groupedEss, groupedLogSumExp, groupedResample, groupSize, type ResamplingScheme } from './resampling.js';
import { checkEvaluation, checkStepSize, type ChainState, type LogDensityFn, type StepSize } from './types.js';

export interface AisOptions {
  /** Normalised base, may differ per row (the caller builds row-specific bases). */
  base: { sample(key: Key, n: number): Batch; logDensity: LogDensityFn };
  /** Unnormalised target, per row. */
  target: LogDensityFn;
  /** `0 = b_0 < b_1 < ... < b_K = 1`. */
  betas: Float64Array;
  transition: 'mala' | 'hmc';
  stepSize: StepSize;
  /** Leapfrog steps per HMC transition (default 1). */
  hmcSteps?: number;
  /** MCMC transitions per intermediate bridge (default 1). */
  stepsPerBridge?: number;
  /** Rows are `groups` independent AIS runs of n/groups particles each (default 1). */
  groups?: number;
  /**
   * SMC mode: after each reweighting, resample (within the group) every group whose Kish ESS is
   * below `essThreshold * n/groups` (e.g. 0.5). Default: never (plain AIS).
   */
  resample?: { essThreshold: number; scheme?: ResamplingScheme };
  /**
   * Adapt the step size after every transition by `adaptStepSize` on each group's mean
   * acceptance (SPEC §3's x/÷1.5 rule to [0.5, 0.6]; `true` for its defaults). Default off.
   * Population-based adaptation (every particle of a group shares the factor) keeps each
   * transition pi_b-invariant given the past; the estimate of Z is then consistent, not unbiased.
   */
  adapt?: boolean | AdaptStepSizeOptions;
}

export interface AisResult {
  particles: Batch;
  /** Per row; relative to the last resampling of the row's group (SMC mode). */
  logWeights: Float64Array;
  /** Per group. */
  logZ: Float64Array;
  /** Per group, Kish, of the final weights (in [1, n/groups]; 0 when all weights are zero). */
  ess: Float64Array;
  /** Mean acceptance rate over rows and transitions. */
  acceptance: number;
  /** `nonFiniteProposals + nonFiniteWeights`. */
  nonFinite: number;
  /** Non-finite proposals rejected by the kernels. */
  nonFiniteProposals: number;
  /** Particles whose log-weight became `-Infinity` through a non-finite increment. */
  nonFiniteWeights: number;
  /** Target evaluations: rows x calls of `target`. */
  targetEvaluations: number;
  /** Group resamplings done (SMC mode). */
  resamplings: number;
  /** The step size at the end, per row (differs from the input when adapting). */
  stepSize: Float64Array;
}

/** `b_k = (k / K)^exponent`, k = 0..K: linear for exponent 1; > 1 spends more bridges near the base. */
export function powerBetas(bridges: number, exponent = 1): Float64Array {
  if (!Number.isInteger(bridges) || bridges < 1) throw new RangeError(`powerBetas: bridges must be a positive integer, got ${bridges}`);
  if (!(exponent > 0) || !Number.isFinite(exponent)) throw new RangeError(`powerBetas: exponent must be positive, got ${exponent}`);
  const b = new Float64Array(bridges + 1);
  for (let k = 0; k <= bridges; k++) b[k] = Math.pow(k / bridges, exponent);
  b[bridges] = 1;
  return b;
}

function checkBetas(betas: Float64Array): void {
  const K = betas.length - 1;
  if (K < 1) throw new RangeError(`ais: need at least two betas (0 and 1), got ${betas.length}`);
  if (betas[0] !== 0 || betas[K] !== 1) throw new RangeError(`ais: betas must start at 0 and end at 1, got ${betas[0]} .. ${betas[K]}`);
  for (let k = 1; k <= K; k++) {
    if (!(betas[k] > betas[k - 1])) throw new RangeError(`ais: betas must increase strictly, got b_${k - 1} = ${betas[k - 1]}, b_${k} = ${betas[k]}`);
  }
}

function positiveInt(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`ais: ${name} must be a positive integer, got ${v}`);
}

/** Base and target values and gradients at the chains' positions. */
interface Parts {
  lb: Float64Array;
  lt: Float64Array;
  gb: Float64Array;
  gt: Float64Array;
}

/** `(1 - b) u + b v`, exact at the ends (so that `0 * -Infinity` never makes a NaN). */
function mix(b: number, u: number, v: number): number {
  if (b === 1) return v;
  if (b === 0) return u;
  return (1 - b) * u + b * v;
}

/** The chain state for pi_b from the parts. */
function temperedState(position: Batch, parts: Parts, b: number): ChainState {
  const { n, dim } = position;
  const value = new Float64Array(n);
  const grad = new Float64Array(n * dim);
  for (let i = 0; i < n; i++) value[i] = mix(b, parts.lb[i], parts.lt[i]);
  for (let k = 0; k < n * dim; k++) grad[k] = mix(b, parts.gb[k], parts.gt[k]);
  return { position, logDensity: value, grad: { n, dim, data: grad } };
}

/** Run AIS (or SMC with `resample`) with `n` particles in `groups` groups. */
export function ais(key: Key, n: number, opts: AisOptions): AisResult {
  const groups = opts.groups ?? 1;
  const m = groupSize(n, groups, 'ais');
  const betas = opts.betas;
  checkBetas(betas);
  const K = betas.length - 1;
  const stepsPerBridge = opts.stepsPerBridge ?? 1;
  const hmcSteps = opts.hmcSteps ?? 1;
  positiveInt(stepsPerBridge, 'stepsPerBridge');
  positiveInt(hmcSteps, 'hmcSteps');
  callsPerTransition({ kernel: opts.transition, hmcSteps }); // validates the kernel name
  checkStepSize(opts.stepSize, n, 'ais');
  const threshold = opts.resample?.essThreshold;
  if (threshold !== undefined && !(threshold >= 0 && threshold <= 1)) throw new RangeError(`ais: essThreshold must be in [0, 1], got ${threshold}`);
  const adaptOpts = opts.adapt === true ? {} : opts.adapt === false || opts.adapt === undefined ? null : opts.adapt;
  let stepSize: StepSize = adaptOpts !== null && typeof opts.stepSize === 'number' ? new Float64Array(n).fill(opts.stepSize) : opts.stepSize;

  const [kInit, kRun] = split(key, 2);
  const bridgeKeys = split(kRun, K);

  // Stage 0: particles from the base, with base and target values and gradients.
  let x = opts.base.sample(kInit, n);
  if (x.n !== n) throw new RangeError(`ais: base.sample returned ${x.n} rows, asked for ${n}`);
  const dim = x.dim;
  let targetEvaluations = 0;
  const evalParts = (xb: Batch): Parts => {
    const B = opts.base.logDensity(xb);
    checkEvaluation(B, xb, 'ais (base)');
    const T = opts.target(xb);
    checkEvaluation(T, xb, 'ais (target)');
    assertSameDim(T.grad, xb, 'ais (target gradient)');
    targetEvaluations += xb.n;
    return { lb: B.value, lt: T.value, gb: B.grad.data, gt: T.grad.data };
  };
  let parts = evalParts(x);
  // Owned copies: the chain updates them row by row.
  parts = { lb: parts.lb.slice(), lt: parts.lt.slice(), gb: parts.gb.slice(), gt: parts.gt.slice() };

  let logw = new Float64Array(n);
  const logZAcc = new Float64Array(groups);
  let nonFiniteWeights = 0;
  let nonFiniteProposals = 0;
  let accSum = 0;
  let transitions = 0;
  let resamplings = 0;
  const logM = Math.log(m);

  for (let k = 1; k <= K; k++) {
    const b = betas[k];
    const db = b - betas[k - 1];
    const [kResample, kMove] = split(bridgeKeys[k - 1], 2);

    // Stage 1: incremental weights at the current particles (Neal 2001, eq. 3).
    for (let i = 0; i < n; i++) {
      if (logw[i] === -Infinity) continue;
      const inc = db * (parts.lt[i] - parts.lb[i]);
      if (Number.isFinite(inc)) logw[i] += inc;
      else {
        logw[i] = -Infinity;
        nonFiniteWeights++;
      }
    }

    // Stage 2 (SMC mode): resample the groups whose ESS fell below the threshold; each such group
    // contributes its mean weight to log Z and restarts from equal weights.
    if (threshold !== undefined) {
      const ess = groupedEss(logw, groups);
      const only = new Uint8Array(groups);
      let any = false;
      for (let g = 0; g < groups; g++) {
        if (ess[g] > 0 && ess[g] < threshold * m) {
          only[g] = 1;
          any = true;
        }
      }
      if (any) {
        const idx = groupedResample(kResample, logw, groups, { scheme: opts.resample?.scheme, only });
        const lse = groupedLogSumExp(logw, groups);
        for (let g = 0; g < groups; g++) {
          if (only[g] === 0) continue;
          logZAcc[g] += lse[g] - logM;
          logw.fill(0, g * m, (g + 1) * m);
          resamplings++;
        }
        x = gatherRows(x, idx);
        parts = {
          lb: gatherValues(parts.lb, idx),
          lt: gatherValues(parts.lt, idx),
          gb: gatherRows({ n, dim, data: parts.gb }, idx).data,
          gt: gatherRows({ n, dim, data: parts.gt }, idx).data,
        };
        if (typeof stepSize !== 'number') stepSize = gatherValues(stepSize, idx);
      }
    }

    // Stage 3: move with pi_b-invariant transitions. The bridge density records its last call's
    // parts, which accepted rows take over.
    let last: Parts | null = null;
    const bridge: LogDensityFn = (xb) => {
      const p = evalParts(xb);
      last = p;
      const value = new Float64Array(xb.n);
      const grad = new Float64Array(xb.n * dim);
      for (let i = 0; i < xb.n; i++) value[i] = mix(b, p.lb[i], p.lt[i]);
      for (let j = 0; j < grad.length; j++) grad[j] = mix(b, p.gb[j], p.gt[j]);
      return { value, grad: { n: xb.n, dim, data: grad } };
    };
    let state = temperedState(x, parts, b);
    const stepKeys = split(kMove, stepsPerBridge);
    for (let s = 0; s < stepsPerBridge; s++) {
      const [next, info] = transition(stepKeys[s], state, bridge, { kernel: opts.transition, stepSize, hmcSteps });
      const rec = last as Parts | null;
      if (rec === null) throw new Error('ais: the kernel did not evaluate the bridge density');
      for (let i = 0; i < n; i++) {
        if (info.accepted[i] === 0) continue;
        parts.lb[i] = rec.lb[i];
        parts.lt[i] = rec.lt[i];
        const o = i * dim;
        for (let j = 0; j < dim; j++) {
          parts.gb[o + j] = rec.gb[o + j];
          parts.gt[o + j] = rec.gt[o + j];
        }
      }
      state = next;
      nonFiniteProposals += info.nonFinite;
      let a = 0;
      for (let i = 0; i < n; i++) a += info.acceptanceRate[i];
      accSum += a / n;
      transitions++;
      if (adaptOpts !== null) {
        const groupAcc = new Float64Array(groups);
        for (let g = 0; g < groups; g++) {
          let s2 = 0;
          for (let i = g * m; i < (g + 1) * m; i++) s2 += info.acceptanceRate[i];
          groupAcc[g] = s2 / m;
        }
        stepSize = adaptStepSize(stepSize as Float64Array, repeatPerBlock(groupAcc, n), adaptOpts);
      }
    }
    x = state.position;
  }

  const lse = groupedLogSumExp(logw, groups);
  const logZ = new Float64Array(groups);
  for (let g = 0; g < groups; g++) logZ[g] = logZAcc[g] + lse[g] - logM;
  return {
    particles: x,
    logWeights: logw,
    logZ,
    ess: groupedEss(logw, groups),
    acceptance: transitions > 0 ? accSum / transitions : NaN,
    nonFinite: nonFiniteProposals + nonFiniteWeights,
    nonFiniteProposals,
    nonFiniteWeights,
    targetEvaluations,
    resamplings,
    stepSize: typeof stepSize === 'number' ? new Float64Array(n).fill(stepSize) : stepSize.slice(),
  };
}

/** Target evaluations (rows) that `ais` spends: `n (1 + K stepsPerBridge calls)` with calls 1 (MALA) or hmcSteps (HMC). */
export function aisTargetEvaluations(n: number, bridges: number, opts: { transition: 'mala' | 'hmc'; hmcSteps?: number; stepsPerBridge?: number }): number {
  return n * (1 + bridges * (opts.stepsPerBridge ?? 1) * callsPerTransition({ kernel: opts.transition, hmcSteps: opts.hmcSteps }));
}
