/**
 * The diffusion sampler for unnormalised densities by amortized posterior inference
 * (Algorithm 1 of the amortized-posterior paper): posterior problems, AIS/HMC posterior means,
 * the replay buffer, the target replay, the trainer, and the presets (paper, defaults, DW-4, iDEM baseline).
 */
export * from './posterior.js';
export * from './estimate.js';
export * from './ais-posterior.js';
export * from './hmc-posterior.js';
export * from './posterior-means.js';
export * from './buffer.js';
export * from './target-replay.js';
export * from './train.js';
export * from './presets.js';
