/**
 * Baselines for ISSGM (SPEC §2): SNIR (sample p, weight by l, resample), DPS-style guidance through
 * Tweedie's estimate, and TDS (twisted SMC with Tweedie twisting); with their shared parts:
 * resampling from log-weights, score VJPs (exact for Gaussian / GMM scores, finite differences
 * otherwise) and evaluation counting for equal-budget comparisons. For the amortized sampler
 * (SPEC §3): plain MCMC and SMC at an equal target-gradient budget (`mcmc.ts`), and iDEM's
 * K-sample score estimator with score-norm clipping (`idem.ts`).
 */
export * from './resampling.js';
export * from './counting.js';
export * from './vjp.js';
export * from './guidance.js';
export * from './snir.js';
export * from './dps.js';
export * from './tds.js';
export * from './flow.js';
export * from './mcmc.js';
export * from './idem.js';
