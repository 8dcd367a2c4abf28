/**
 * The leapfrog (velocity Verlet) integrator of Hamiltonian dynamics with
 * `H(x, p) = -log pi(x) + 1/2 m^{-1} |p|^2`, vectorised over chains (Neal 2011, "MCMC using
 * Hamiltonian dynamics", Handbook of MCMC, Sec. 5.2.3.3, eqs. 5.18-5.20):
 *
 *   p <- p + h/2 grad log pi(x);   then `numSteps` times:   x <- x + h m^{-1} p,
 *   p <- p + h grad log pi(x)      (h/2 on the last step).
 *
 * Symplectic and time-reversible, so the energy error is O(h^2) over a fixed time and HMC's
 * Metropolis correction needs no Jacobian. The half kicks of consecutive steps are merged, so
 * `numSteps` steps cost exactly `numSteps` calls of `logDensity` (the state already holds the
 * gradient at the start); the last call is at the final position (AIS relies on this).
 *
 * Divergence: a row whose position, log density, gradient or momentum stops being finite is
 * frozen where it was last finite (the target is never called with non-finite input), flagged
 * in `diverged`, and returned with `logDensity = NaN`, so that HMC rejects it.
 */
import type { Batch } from '../core/batch.js';
import { checkEvaluation, checkState, checkStepSize, stepSizeAt, type ChainState, type LogDensityFn, type StepSize } from './types.js';

export interface LeapfrogResult {
  state: ChainState;
  momentum: Batch;
  /** 1 where the row's trajectory stopped being finite (see the module comment). */
  diverged: Uint8Array;
}

/**
 * Integrate `numSteps` leapfrog steps of size `stepSize` from `state` with `momentum`.
 * `inverseMass` (default 1) is the scalar inverse mass `m^{-1}`, for all chains or one per chain.
 * Pure: neither `state` nor `momentum` is modified.
 */
export function leapfrog(
  state: ChainState, momentum: Batch, logDensity: LogDensityFn, stepSize: StepSize, numSteps: number, inverseMass: StepSize = 1,
): LeapfrogResult {
  checkState(state, 'leapfrog');
  const { n, dim } = state.position;
  if (momentum.n !== n || momentum.dim !== dim) throw new RangeError(`leapfrog: momentum is ${momentum.n} x ${momentum.dim}, position ${n} x ${dim}`);
  if (!Number.isInteger(numSteps) || numSteps < 1) throw new RangeError(`leapfrog: numSteps must be a positive integer, got ${numSteps}`);
  checkStepSize(stepSize, n, 'leapfrog');
  checkStepSize(inverseMass, n, 'leapfrog', 'inverse mass');

  const p = momentum.data.slice();
  const diverged = new Uint8Array(n);
  let x = state.position.data;
  let value = state.logDensity;
  let grad = state.grad.data;

  // Stage 1: the first half kick, with the gradient the state already holds.
  for (let i = 0; i < n; i++) {
    const c = 0.5 * stepSizeAt(stepSize, i);
    const o = i * dim;
    for (let j = 0; j < dim; j++) p[o + j] += c * grad[o + j];
  }

  for (let s = 0; s < numSteps; s++) {
    // Stage 2: drift x <- x + h m^{-1} p, into a fresh buffer (the previous one may be the caller's).
    const xn = new Float64Array(n * dim);
    for (let i = 0; i < n; i++) {
      const o = i * dim;
      if (diverged[i] === 0) {
        const c = stepSizeAt(stepSize, i) * stepSizeAt(inverseMass, i);
        let ok = true;
        for (let j = 0; j < dim; j++) {
          const v = x[o + j] + c * p[o + j];
          xn[o + j] = v;
          if (!Number.isFinite(v)) ok = false;
        }
        if (ok) continue;
        diverged[i] = 1;
      }
      for (let j = 0; j < dim; j++) xn[o + j] = x[o + j]; // frozen at its last finite position
    }
    // Stage 3: one batched gradient evaluation, then the kick (a half kick on the last step).
    const xb: Batch = { n, dim, data: xn };
    const r = logDensity(xb);
    checkEvaluation(r, xb, 'leapfrog');
    const gn = r.grad.data;
    const vn = r.value;
    const last = s === numSteps - 1;
    for (let i = 0; i < n; i++) {
      if (diverged[i] !== 0) continue;
      const o = i * dim;
      if (!Number.isFinite(vn[i])) {
        diverged[i] = 1;
        continue;
      }
      const c = (last ? 0.5 : 1) * stepSizeAt(stepSize, i);
      for (let j = 0; j < dim; j++) {
        const g = gn[o + j];
        const v = p[o + j] + c * g;
        p[o + j] = v;
        if (!Number.isFinite(v)) diverged[i] = 1; // also catches a non-finite gradient
      }
    }
    x = xn;
    value = vn;
    grad = gn;
  }

  // Copies of the target's arrays: the caller owns its returned state.
  const outValue = Float64Array.from(value);
  for (let i = 0; i < n; i++) if (diverged[i] !== 0) outValue[i] = NaN;
  return {
    state: { position: { n, dim, data: x }, logDensity: outValue, grad: { n, dim, data: grad.slice() } },
    momentum: { n, dim, data: p },
    diverged,
  };
}

/** Kinetic energy `1/2 m^{-1} |p_i|^2` of each row. */
export function kineticEnergy(momentum: Batch, inverseMass: StepSize = 1): Float64Array {
  const { n, dim, data } = momentum;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * dim;
    for (let j = 0; j < dim; j++) s += data[o + j] * data[o + j];
    out[i] = 0.5 * stepSizeAt(inverseMass, i) * s;
  }
  return out;
}
