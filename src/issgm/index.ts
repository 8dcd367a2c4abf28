/** Barrel of `issgm/`: the guided reverse SDE of eq. (16) (and its posterior-variance correction), built-in and spectral weights, and the accept/reject ground truth. */
export * from './sampler.js';
export * from './weights.js';
export * from './ground-truth.js';
export * from './smoothed-weight.js';
export * from './frequency-weight.js';
