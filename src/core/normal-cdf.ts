/**
 * The standard normal CDF, `Phi(x) = erfc(-x / sqrt 2) / 2`, with `erfc` by the Chebyshev fit of
 * Press et al., "Numerical Recipes in C" (2nd ed., 1992), Sec. 6.2 (`erfcc`): fractional error
 * below 1.2e-7 everywhere. Enough for exact histogram-bin probabilities (TVD against a density);
 * not for tail log-probabilities.
 */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}

/** `P(Z <= x)` for a standard normal Z (see `erfc`). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}
