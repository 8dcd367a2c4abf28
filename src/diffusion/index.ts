/** Barrel of `diffusion/`: the VP and VE SDEs, the DDPM schedule, time grids and the samplers. */
export * from './types.js';
export * from './parametrisation.js';
export * from './vp.js';
export * from './ve.js';
export * from './ddpm.js';
export * from './grids.js';
export * from './em.js';
export * from './ancestral.js';
export * from './pfode.js';
export * from './likelihood.js';
