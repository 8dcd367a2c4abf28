/**
 * `8gaussians` (FFJORD toy data): centres `4 (cos, sin)` of the 8 angles `k pi / 4`, noise
 * N(0, 0.5^2 I), then everything divided by 1.414 (the reference's rounded sqrt 2, kept so
 * that samples match the de-facto definition). This is exactly an equal-weight 8-component
 * Gaussian mixture with means `4 c / 1.414` and std `0.5 / 1.414`, so it is returned as a
 * `GaussianMixture`: density, exact samples and exact diffused score all come with it.
 */
import { GaussianMixture } from '../gmm.js';

export function eightGaussians(): GaussianMixture {
  const r = Math.SQRT1_2;
  // The reference's order of centres (it matters only for component indices).
  const unit: [number, number][] = [[1, 0], [-1, 0], [0, 1], [0, -1], [r, r], [r, -r], [-r, r], [-r, -r]];
  return new GaussianMixture({
    name: '8gaussians',
    means: unit.map(([a, b]) => [(4 * a) / 1.414, (4 * b) / 1.414]),
    covariance: { std: 0.5 / 1.414 },
  });
}
