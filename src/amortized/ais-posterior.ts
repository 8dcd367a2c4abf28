/**
 * Posterior means by annealed importance sampling (the paper's "Ours (AIS)"; Appendix C):
 * for each problem, `particles` draws from the likelihood base `N(x_t / alpha, (sigma/alpha)^2 I)`
 * are annealed along `base · p^b`, `b = 0 .. 1` in `bridges` equal steps, with one HMC (or MALA)
 * transition per bridge (Neal 2001). Then either
 *  - 'resample' (the paper): pick one particle per problem with probability ∝ its AIS weight
 *    (Gumbel-max) and refine it with `refineSteps` MALA steps on the posterior; the result is one
 *    approximate posterior *sample*, an unbiased but noisy regression target for `E[x_0 | x_t]`;
 *  - 'mean': the self-normalised weighted mean of all particles (lower variance, biased by
 *    O(1/ESS); no refinement).
 */
import { split, type Key } from '../core/key.js';
import { ais } from '../mcmc/ais.js';
import { initChains } from '../mcmc/types.js';
import { adaptStepSize } from '../mcmc/adaptation.js';
import { malaStep } from '../mcmc/mala.js';
import { gumbelMaxPick, gatherRows } from '../mcmc/resampling.js';
import type { LogDensityFn } from '../mcmc/types.js';
import { countingLogDensity, groupWeightedMeans, type PosteriorEstimate } from './estimate.js';
import { checkProblems, likelihoodBase, posteriorLogDensity, type PosteriorProblems } from './posterior.js';

export interface AisPosteriorOptions {
  /** Particles per problem (paper: 500). */
  particles: number;
  /** Annealing steps from the base to the posterior (paper: 10). */
  bridges: number;
  /** Transition at each bridge (paper: 'hmc' with one leapfrog step). */
  transition: 'hmc' | 'mala';
  /** Leapfrog step size (HMC) or Langevin step size (MALA) (paper: 1.0). */
  stepSize: number;
  /** Leapfrog steps per HMC transition (paper: 1). */
  leapfrogSteps: number;
  estimate: 'resample' | 'mean';
  /** MALA refinement steps after resampling (paper: 5; 'resample' only). */
  refineSteps: number;
  /** MALA step size of the refinement (paper: 0.01; with `refineAdapt`, the starting one). */
  refineStepSize: number;
  /**
   * Adapt each problem's refinement step size after every step: x 1.5 above acceptance 0.6,
   * / 1.5 below 0.5 (the paper's DW-4 refinement, Appendix C; `mcmc/adaptation.ts`) [false].
   */
  refineAdapt?: boolean;
  /**
   * Scale `s` of a reference prior `N(0, s^2 I)` that shapes the AIS base (see `likelihoodBase`);
   * absent: the paper's base, the likelihood itself.
   */
  referenceScale?: number;
}

/** The paper's AIS setting for GMM-40 (Appendix C). */
export function paperAisOptions(): AisPosteriorOptions {
  return { particles: 500, bridges: 10, transition: 'hmc', stepSize: 1, leapfrogSteps: 1, estimate: 'resample', refineSteps: 5, refineStepSize: 0.01 };
}

/** `b_k = k / K`, k = 0..K. */
export function linearBetas(bridges: number): Float64Array {
  const b = new Float64Array(bridges + 1);
  for (let k = 0; k <= bridges; k++) b[k] = k / bridges;
  return b;
}

export function checkAisPosteriorOptions(o: AisPosteriorOptions): void {
  const int = (v: number, name: string, min: number): void => {
    if (!Number.isInteger(v) || v < min) throw new RangeError(`AIS posterior: ${name} must be an integer >= ${min}, got ${v}`);
  };
  int(o.particles, 'particles', 1);
  int(o.bridges, 'bridges', 1);
  int(o.leapfrogSteps, 'leapfrogSteps', 1);
  int(o.refineSteps, 'refineSteps', 0);
  if (!(o.stepSize > 0) || !Number.isFinite(o.stepSize)) throw new RangeError(`AIS posterior: stepSize must be positive, got ${o.stepSize}`);
  if (!(o.refineStepSize > 0) || !Number.isFinite(o.refineStepSize)) throw new RangeError(`AIS posterior: refineStepSize must be positive, got ${o.refineStepSize}`);
  if (o.transition !== 'hmc' && o.transition !== 'mala') throw new RangeError(`AIS posterior: transition must be 'hmc' or 'mala', got '${String(o.transition)}'`);
  if (o.refineAdapt !== undefined && typeof o.refineAdapt !== 'boolean') throw new RangeError(`AIS posterior: refineAdapt must be true or false, got ${String(o.refineAdapt)}`);
  if (o.estimate !== 'resample' && o.estimate !== 'mean') throw new RangeError(`AIS posterior: estimate must be 'resample' or 'mean', got '${String(o.estimate)}'`);
}

/** Estimate `E[x_0 | x_t]` for every problem (see the module comment). Keys: split into AIS, pick, refinement. */
export function aisPosteriorMean(key: Key, prior: LogDensityFn, problems: PosteriorProblems, opts: AisPosteriorOptions): PosteriorEstimate {
  checkProblems(problems);
  checkAisPosteriorOptions(opts);
  const B = problems.xt.n;
  const P = opts.particles;
  const counted = countingLogDensity(prior);
  const [kAis, kPick, kRefine] = split(key, 3);
  const r = ais(kAis, B * P, {
    base: likelihoodBase(problems, P, problems.reference ?? opts.referenceScale ?? Infinity),
    target: posteriorLogDensity(counted.fn, problems, P),
    betas: linearBetas(opts.bridges),
    transition: opts.transition,
    stepSize: opts.stepSize,
    hmcSteps: opts.leapfrogSteps,
    groups: B,
  });
  let nonFinite = r.nonFinite;
  if (opts.estimate === 'mean') {
    return { x0: groupWeightedMeans(r.particles, r.logWeights, P), ess: r.ess, acceptance: r.acceptance, refineAcceptance: NaN, targetEvaluations: counted.count(), nonFinite };
  }
  const picked = gatherRows(r.particles, gumbelMaxPick(kPick, r.logWeights, B));
  if (opts.refineSteps === 0) {
    return { x0: picked, ess: r.ess, acceptance: r.acceptance, refineAcceptance: NaN, targetEvaluations: counted.count(), nonFinite };
  }
  const post = posteriorLogDensity(counted.fn, problems, 1);
  let state = initChains(picked, post);
  let acc = 0;
  const keys = split(kRefine, opts.refineSteps);
  // One step size per problem: at small t the posterior is ~sigma/alpha wide, at large t the target's width.
  let h: Float64Array = new Float64Array(B).fill(opts.refineStepSize);
  for (const k of keys) {
    const [next, info] = malaStep(k, state, post, opts.refineAdapt ? h : opts.refineStepSize);
    if (opts.refineAdapt) h = adaptStepSize(h, info.acceptanceRate);
    state = next;
    nonFinite += info.nonFinite;
    let s = 0;
    for (let b = 0; b < B; b++) s += info.acceptanceRate[b];
    acc += s / B;
  }
  return {
    x0: state.position, ess: r.ess, acceptance: r.acceptance, refineAcceptance: acc / opts.refineSteps, targetEvaluations: counted.count(), nonFinite,
  };
}
