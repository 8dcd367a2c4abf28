/**
 * Vectorised MCMC kernels, blackjax-shaped (DESIGN.md): one chain per row of a `Batch`, pure
 * `step(key, state, ...) -> [state, info]` functions, explicit keys split by name; MALA, HMC with
 * its leapfrog integrator, step-size adaptation, resampling, and AIS/SMC on the geometric path.
 */
export * from './types.js';
export * from './integrators.js';
export * from './mala.js';
export * from './hmc.js';
export * from './kernel.js';
export * from './adaptation.js';
export * from './resampling.js';
export * from './ais.js';
