/**
 * The library's public surface. `cli/` and `plot/` are not part of it (plots: `tweedie/plot`
 * later); the autodiff engine adapter is exported as `valueAndGrad`/`initEngine`/`np`.
 */
export * from './core/batch.js';
export * from './core/key.js';
export * from './core/types.js';
export { initEngine, engineReady, np, valueAndGrad, rowValues } from './core/engine.js';
export * from './targets/index.js';
export * from './diffusion/index.js';
export * from './metrics/index.js';
export * from './evaluate/compare.js';
export { InputError, isInputError } from './io/errors.js';
export { parseNpy, readNpy, readNpyBatch, encodeNpy, writeNpy, type NpyArray, type NpyDtype } from './io/npy.js';
