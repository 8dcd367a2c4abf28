export { EigenCovariance, symmetricEigen, type CovarianceSpec } from './covariance.js';
export { Gaussian } from './gaussian.js';
export { GaussianMixture, type GaussianMixtureOptions } from './gmm.js';
export { gmm40, gmm40_5d, GMM40_MEANS_2D, GMM40_STD } from './gmm40.js';
export { dw4, MultiDoubleWell, removeCentreOfMass, type MultiDoubleWellOptions } from './dw4.js';
export { checkCount, permuteRows, type DatasetSampler } from './dataset.js';
export * from './toy/index.js';
export {
  exactScoreModel, exactScoreNames, getMixture, getSampleable, getTarget, sampleableTargetNames, targetNames,
} from './registry.js';
