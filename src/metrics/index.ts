/** Sample-quality metrics (SPEC §4): histograms, JSD, TVD, exact and sliced Wasserstein, moments, ESS. */
export * from './histogram.js';
export * from './jsd.js';
export * from './tvd.js';
export * from './assignment.js';
export * from './wasserstein.js';
export * from './wasserstein1d.js';
export * from './sliced.js';
export * from './moments.js';
export * from './ess.js';
