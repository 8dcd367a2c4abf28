/** Barrel of `issgm/`: the guided reverse SDE of eq. (16), built-in weights, and the accept/reject ground truth. */
export * from './sampler.js';
export * from './weights.js';
export * from './ground-truth.js';
