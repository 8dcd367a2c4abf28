/**
 * Resampling moved to `mcmc/resampling.ts` (it serves AIS/SMC there, and `mcmc/` sits below
 * `baselines/` in the architecture). This re-export keeps `baselines/` importers and the public
 * surface unchanged.
 */
export * from '../mcmc/resampling.js';
