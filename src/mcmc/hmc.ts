/**
 * Hamiltonian Monte Carlo with a fixed number of leapfrog steps, vectorised over chains (Neal
 * 2011, "MCMC using Hamiltonian dynamics", Handbook of MCMC, Sec. 5.3.2; blackjax `mcmc/hmc.py`):
 *
 *   1. momentum p ~ N(0, m I) (m = 1 / inverseMass);
 *   2. (x', p') = `numSteps` leapfrog steps of size h from (x, p) (`integrators.ts`);
 *   3. accept with probability min(1, exp(-(H(x', p') - H(x, p)))),
 *      H(x, p) = -log pi(x) + 1/2 m^{-1} |p|^2.
 *
 * The leapfrog map is volume-preserving and reversible (with a momentum flip, irrelevant for a
 * symmetric kinetic energy that is refreshed every step), so this Metropolis test makes each step
 * exactly pi-invariant. `numSteps` `logDensity` calls per step.
 *
 * Randomness: one `normal(kMomentum, n*dim)` and one `uniform(kAccept, n)` call (chain i's path
 * does not depend on how many chains run).
 */
import { normal, split, uniform, type Key } from '../core/key.js';
import { leapfrog } from './integrators.js';
import { checkState, checkStepSize, rowFinite, stepSizeAt, type ChainState, type LogDensityFn, type StepSize } from './types.js';

export interface HmcOptions {
  stepSize: StepSize;
  /** Leapfrog steps per transition (gradient evaluations per step). */
  numSteps: number;
  /** Scalar inverse mass, for all chains or one per chain (default 1). */
  inverseMass?: StepSize;
}

export interface HmcInfo {
  /** Per chain `min(1, exp(-energyError))` (0 for a divergent or non-finite proposal). */
  acceptanceRate: Float64Array;
  accepted: Uint8Array;
  /** Proposals whose trajectory diverged or ended at a non-finite log density or gradient: rejected. */
  nonFinite: number;
  /** `H(proposal) - H(start)` per chain; `+Infinity` for the non-finite proposals. */
  energyError: Float64Array;
}

/** One HMC transition of every chain. Pure: `state` is not modified. */
export function hmcStep(key: Key, state: ChainState, logDensity: LogDensityFn, opts: HmcOptions): [ChainState, HmcInfo] {
  checkState(state, 'hmcStep');
  const { n, dim } = state.position;
  const invMass = opts.inverseMass ?? 1;
  checkStepSize(opts.stepSize, n, 'hmcStep');
  checkStepSize(invMass, n, 'hmcStep', 'inverse mass');
  const [kMomentum, kAccept] = split(key, 2);

  // Stage 1: momentum p = z / sqrt(m^{-1}) ~ N(0, m I); its kinetic energy 1/2 m^{-1} |p|^2 = |z|^2 / 2.
  const p0 = normal(kMomentum, n * dim);
  const k0 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    const c = 1 / Math.sqrt(stepSizeAt(invMass, i));
    let s = 0;
    for (let j = 0; j < dim; j++) {
      s += p0[o + j] * p0[o + j];
      p0[o + j] *= c;
    }
    k0[i] = 0.5 * s;
  }

  // Stage 2: the trajectory.
  const traj = leapfrog(state, { n, dim, data: p0 }, logDensity, opts.stepSize, opts.numSteps, invMass);
  const prop = traj.state;
  const p1 = traj.momentum.data;

  // Stage 3: Metropolis test on the energy error.
  const u = uniform(kAccept, n);
  const x = state.position.data;
  const g = state.grad.data;
  // Outputs reuse the trajectory's buffers, which this step owns (allocation-light hot path).
  const pos = prop.position.data;
  const outLp = prop.logDensity;
  const outG = prop.grad.data;
  const acceptanceRate = new Float64Array(n);
  const accepted = new Uint8Array(n);
  const energyError = new Float64Array(n);
  let nonFinite = 0;
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    let take = false;
    if (traj.diverged[i] !== 0 || !rowFinite(outG, dim, i, outLp)) {
      nonFinite++;
      energyError[i] = Infinity;
    } else {
      let s = 0;
      for (let j = 0; j < dim; j++) s += p1[o + j] * p1[o + j];
      const k1 = 0.5 * stepSizeAt(invMass, i) * s;
      const dH = (-outLp[i] + k1) - (-state.logDensity[i] + k0[i]);
      energyError[i] = dH;
      // NaN (a current state with NaN log density) rejects; -Inf (current -Inf) accepts.
      if (dH <= 0) acceptanceRate[i] = 1;
      else if (dH > 0) acceptanceRate[i] = Math.exp(-dH);
      take = Math.log(u[i]) < -dH;
    }
    if (take) {
      accepted[i] = 1;
    } else {
      outLp[i] = state.logDensity[i];
      for (let j = 0; j < dim; j++) {
        pos[o + j] = x[o + j];
        outG[o + j] = g[o + j];
      }
    }
  }
  return [
    { position: { n, dim, data: pos }, logDensity: outLp, grad: { n, dim, data: outG } },
    { acceptanceRate, accepted, nonFinite, energyError },
  ];
}
