/**
 * One MCMC transition by name (MALA or HMC), for the loops that let the user choose the kernel
 * (AIS/SMC, the MCMC baseline): blackjax's `build_kernel` with every parameter as an argument.
 * Also the exact gradient cost of a transition, for equal-budget comparisons.
 */
import type { Key } from '../core/key.js';
import { hmcStep } from './hmc.js';
import { malaStep } from './mala.js';
import type { ChainState, LogDensityFn, StepSize } from './types.js';

export type KernelName = 'mala' | 'hmc';

export interface TransitionParams {
  kernel: KernelName;
  stepSize: StepSize;
  /** Leapfrog steps of an HMC transition (default 1). */
  hmcSteps?: number;
  /** Scalar inverse mass of HMC (default 1). */
  inverseMass?: StepSize;
}

/** What both kernels report. */
export interface TransitionInfo {
  acceptanceRate: Float64Array;
  accepted: Uint8Array;
  nonFinite: number;
}

export function checkKernel(kernel: string, what: string): asserts kernel is KernelName {
  if (kernel !== 'mala' && kernel !== 'hmc') throw new RangeError(`${what}: kernel must be 'mala' or 'hmc', got '${kernel}'`);
}

/** One transition of every chain with the named kernel. Pure. */
export function transition(key: Key, state: ChainState, logDensity: LogDensityFn, params: TransitionParams): [ChainState, TransitionInfo] {
  checkKernel(params.kernel, 'transition');
  if (params.kernel === 'mala') return malaStep(key, state, logDensity, params.stepSize);
  return hmcStep(key, state, logDensity, { stepSize: params.stepSize, numSteps: params.hmcSteps ?? 1, inverseMass: params.inverseMass });
}

/** `logDensity` calls of one transition: 1 for MALA, `hmcSteps` for HMC (each on all rows). */
export function callsPerTransition(params: Pick<TransitionParams, 'kernel' | 'hmcSteps'>): number {
  checkKernel(params.kernel, 'callsPerTransition');
  if (params.kernel === 'mala') return 1;
  const l = params.hmcSteps ?? 1;
  if (!Number.isInteger(l) || l < 1) throw new RangeError(`callsPerTransition: hmcSteps must be a positive integer, got ${l}`);
  return l;
}
