/**
 * Posterior means by plain HMC (the paper's "Ours (HMC)"; Appendix C: 10 chains, 5 iterations of
 * 5 leapfrog steps of 0.2): `chains` chains per problem start from the likelihood base
 * `N(x_t / alpha, (sigma/alpha)^2 I)` and the estimate is the average of their final states.
 * Starting from the base, not from the buffer's `x_0`, keeps the target from collapsing onto
 * the buffer when the chains mix poorly. The estimate is biased on multimodal targets: 25
 * leapfrog steps do not cross between modes, so it keeps the mode weights of the starting
 * distribution (GMM-40, paper settings: 0.21-0.34 noise units off `E[x0|xt]` at t = 0.5-0.7,
 * against under 0.02 for AIS; README, Table 1).
 */
import { split, type Key } from '../core/key.js';
import { hmcStep } from '../mcmc/hmc.js';
import { initChains, type LogDensityFn } from '../mcmc/types.js';
import { countingLogDensity, groupMeans, type PosteriorEstimate } from './estimate.js';
import { checkProblems, likelihoodBase, posteriorLogDensity, type PosteriorProblems } from './posterior.js';

export interface HmcPosteriorOptions {
  /** Chains per problem (paper: 10). */
  chains: number;
  /** HMC transitions (paper: 5). */
  iterations: number;
  /** Leapfrog steps per transition (paper: 5). */
  leapfrogSteps: number;
  /** Leapfrog step size (paper: 0.2). */
  stepSize: number;
  /** Reference-prior scale of the chains' starting distribution (see `likelihoodBase`) [none]. */
  referenceScale?: number;
}

export function paperHmcOptions(): HmcPosteriorOptions {
  return { chains: 10, iterations: 5, leapfrogSteps: 5, stepSize: 0.2 };
}

export function checkHmcPosteriorOptions(o: HmcPosteriorOptions): void {
  for (const [name, v] of [['chains', o.chains], ['iterations', o.iterations], ['leapfrogSteps', o.leapfrogSteps]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`HMC posterior: ${name} must be a positive integer, got ${v}`);
  }
  if (!(o.stepSize > 0) || !Number.isFinite(o.stepSize)) throw new RangeError(`HMC posterior: stepSize must be positive, got ${o.stepSize}`);
}

export function hmcPosteriorMean(key: Key, prior: LogDensityFn, problems: PosteriorProblems, opts: HmcPosteriorOptions): PosteriorEstimate {
  checkProblems(problems);
  checkHmcPosteriorOptions(opts);
  const B = problems.xt.n;
  const C = opts.chains;
  const counted = countingLogDensity(prior);
  const post = posteriorLogDensity(counted.fn, problems, C);
  const [kInit, kRun] = split(key, 2);
  let state = initChains(likelihoodBase(problems, C, problems.reference ?? opts.referenceScale ?? Infinity).sample(kInit, B * C), post);
  let acc = 0;
  let nonFinite = 0;
  for (const k of split(kRun, opts.iterations)) {
    const [next, info] = hmcStep(k, state, post, { stepSize: opts.stepSize, numSteps: opts.leapfrogSteps });
    state = next;
    nonFinite += info.nonFinite;
    let s = 0;
    for (let i = 0; i < info.acceptanceRate.length; i++) s += info.acceptanceRate[i];
    acc += s / info.acceptanceRate.length;
  }
  return {
    x0: groupMeans(state.position, C), ess: new Float64Array(B).fill(C), acceptance: acc / opts.iterations, refineAcceptance: NaN,
    targetEvaluations: counted.count(), nonFinite,
  };
}
