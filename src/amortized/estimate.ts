/**
 * What a posterior-mean estimator returns, and the bookkeeping both estimators share.
 */
import { makeBatch, type Batch } from '../core/batch.js';
import type { LogDensityFn } from '../mcmc/types.js';

export interface PosteriorEstimate {
  /** The estimate of `E[x_0 | x_t]` per problem (`B x d`). */
  readonly x0: Batch;
  /** Per problem: effective sample size of the particle weights (AIS) or the chain count (HMC). */
  readonly ess: Float64Array;
  /** Mean acceptance rate of the annealing / sampling transitions. */
  readonly acceptance: number;
  /** Mean acceptance rate of the MALA refinement (NaN when there is none). */
  readonly refineAcceptance: number;
  /** Rows evaluated by the target's `logDensityAndGrad` (the budget iDEM and MCMC are compared at). */
  readonly targetEvaluations: number;
  /** Particles or proposals whose target value or gradient was NaN/Inf (rejected, never averaged). */
  readonly nonFinite: number;
}

/** A log-density that counts the rows it evaluates. */
export function countingLogDensity(f: LogDensityFn): { fn: LogDensityFn; count(): number } {
  let rows = 0;
  return {
    fn: (x) => {
      rows += x.n;
      return f(x);
    },
    count: () => rows,
  };
}

/** Mean of each group of `particles` consecutive rows (`B x d`). */
export function groupMeans(x: Batch, particles: number): Batch {
  const B = x.n / particles;
  const d = x.dim;
  const out = makeBatch(B, d);
  for (let r = 0; r < x.n; r++) {
    const b = (r / particles) | 0;
    for (let j = 0; j < d; j++) out.data[b * d + j] += x.data[r * d + j];
  }
  for (let i = 0; i < out.data.length; i++) out.data[i] /= particles;
  return out;
}

/** Self-normalised weighted mean of each group (weights in log space, max-shifted; -Infinity allowed). */
export function groupWeightedMeans(x: Batch, logWeights: Float64Array, particles: number): Batch {
  const B = x.n / particles;
  const d = x.dim;
  const out = makeBatch(B, d);
  for (let b = 0; b < B; b++) {
    let m = -Infinity;
    for (let k = 0; k < particles; k++) m = Math.max(m, logWeights[b * particles + k]);
    let total = 0;
    for (let k = 0; k < particles; k++) {
      const r = b * particles + k;
      const w = m === -Infinity ? 0 : Math.exp(logWeights[r] - m);
      if (w === 0) continue;
      total += w;
      for (let j = 0; j < d; j++) out.data[b * d + j] += w * x.data[r * d + j];
    }
    for (let j = 0; j < d; j++) out.data[b * d + j] /= total;
  }
  return out;
}
