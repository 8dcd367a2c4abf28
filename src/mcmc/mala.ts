/**
 * The Metropolis-adjusted Langevin algorithm, vectorised over chains (Roberts & Tweedie 1996,
 * "Exponential convergence of Langevin distributions and their discrete approximations",
 * Bernoulli 2(4), Sec. 1.4; blackjax `mcmc/mala.py`). With step size h (one, or one per chain):
 *
 *   proposal   x' = x + h grad log pi(x) + sqrt(2h) z,   z ~ N(0, I)
 *   q(x' | x)  ∝ exp(-|x' - x - h grad log pi(x)|^2 / (4h))
 *   accept with probability  min(1, pi(x') q(x | x') / (pi(x) q(x' | x))).
 *
 * The proposal is a Euler–Maruyama step of the Langevin diffusion, which leaves pi invariant only
 * as h -> 0; the Metropolis–Hastings correction with the asymmetric Gaussian proposal density
 * makes every step exactly pi-invariant. One `logDensity` call per step (the state holds the
 * gradient at the current point), and it is at the proposal.
 *
 * Randomness: one `normal(kNoise, n*dim)` and one `uniform(kAccept, n)` call; both are counter-
 * based, so chain i's path does not depend on how many chains run.
 */
import type { Batch } from '../core/batch.js';
import { normal, split, uniform, type Key } from '../core/key.js';
import { checkEvaluation, checkState, checkStepSize, rowFinite, stepSizeAt, type ChainState, type LogDensityFn, type StepSize } from './types.js';

export interface MalaInfo {
  /** Per chain `min(1, MH ratio)` (0 for a non-finite proposal). */
  acceptanceRate: Float64Array;
  /** 1 where the proposal was accepted. */
  accepted: Uint8Array;
  /** Proposals with a non-finite position, log density (NaN, ±Inf) or gradient: all rejected. */
  nonFinite: number;
}

/** One MALA step of every chain. Pure: `state` is not modified. */
export function malaStep(key: Key, state: ChainState, logDensity: LogDensityFn, stepSize: StepSize): [ChainState, MalaInfo] {
  checkState(state, 'malaStep');
  const { n, dim } = state.position;
  checkStepSize(stepSize, n, 'malaStep');
  const x = state.position.data;
  const g = state.grad.data;
  const lp = state.logDensity;
  const [kNoise, kAccept] = split(key, 2);
  const z = normal(kNoise, n * dim);

  // Stage 1: Langevin proposals. A row whose proposal is not finite is evaluated at its current
  // position instead (the target never sees non-finite input) and rejected in stage 3.
  const xp = new Float64Array(n * dim);
  const bad = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const h = stepSizeAt(stepSize, i);
    const s = Math.sqrt(2 * h);
    const o = i * dim;
    let ok = true;
    for (let j = 0; j < dim; j++) {
      const v = x[o + j] + h * g[o + j] + s * z[o + j];
      xp[o + j] = v;
      if (!Number.isFinite(v)) ok = false;
    }
    if (!ok) {
      bad[i] = 1;
      for (let j = 0; j < dim; j++) xp[o + j] = x[o + j];
    }
  }

  // Stage 2: one batched evaluation at the proposals.
  const xb: Batch = { n, dim, data: xp };
  const r = logDensity(xb);
  checkEvaluation(r, xb, 'malaStep');
  const lpp = r.value;
  const gp = r.grad.data;

  // Stage 3: Metropolis–Hastings with the Langevin proposal density (Roberts & Tweedie 1996, eq. 1.6).
  const u = uniform(kAccept, n);
  // Outputs reuse this step's own buffers (allocation-light hot path): the proposal buffer
  // becomes the new position (rejected rows copied back), the noise buffer the new gradient
  // (row i's noise is read before row i's gradient is written).
  const pos = xp;
  const outG = z;
  const outLp = new Float64Array(n);
  const acceptanceRate = new Float64Array(n);
  const accepted = new Uint8Array(n);
  let nonFinite = 0;
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    let take = false;
    if (bad[i] !== 0 || !rowFinite(gp, dim, i, lpp)) {
      nonFinite++;
    } else {
      const h = stepSizeAt(stepSize, i);
      // log q(x'|x) = -|sqrt(2h) z|^2 / (4h) = -|z|^2 / 2;  log q(x|x') = -|x - x' - h g'|^2 / (4h).
      let fwd = 0;
      let rev = 0;
      for (let j = 0; j < dim; j++) {
        fwd += z[o + j] * z[o + j];
        const d = x[o + j] - xp[o + j] - h * gp[o + j];
        rev += d * d;
      }
      const logRatio = lpp[i] - lp[i] - rev / (4 * h) + 0.5 * fwd;
      // NaN (a current state with NaN log density) rejects; +Inf (current -Inf) accepts.
      if (logRatio >= 0) acceptanceRate[i] = 1;
      else if (logRatio < 0) acceptanceRate[i] = Math.exp(logRatio);
      take = Math.log(u[i]) < logRatio;
    }
    if (take) {
      accepted[i] = 1;
      outLp[i] = lpp[i];
      for (let j = 0; j < dim; j++) outG[o + j] = gp[o + j];
    } else {
      outLp[i] = lp[i];
      for (let j = 0; j < dim; j++) {
        pos[o + j] = x[o + j];
        outG[o + j] = g[o + j];
      }
    }
  }
  return [{ position: { n, dim, data: pos }, logDensity: outLp, grad: { n, dim, data: outG } }, { acceptanceRate, accepted, nonFinite }];
}
