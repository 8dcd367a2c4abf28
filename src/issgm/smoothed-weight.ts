/**
 * The second-order (posterior-variance) correction of ISSGM's weight term: an extension beyond the
 * paper, built from its own Theorem 1.
 *
 * Why: eq. (12) replaces `log E[l(X0) | X_t = x]` by `log l(x0h)`, a first-order Taylor step (11)
 * whose error is the Jensen gap `E[l(X0)|x] - l(x0h) ≈ ½ tr(H_l Cov[X0|x])` — Theorem 1 bounds the
 * score gap by exactly this conditional variance (17). Early in the reverse process the posterior
 * of `X0` is as wide as `p` itself, so the gap is large; for `l = |x|^2` it is catastrophic:
 * `x0h ≈ E_p[X0] ≈ 0` makes `grad log l(x0h) = 2 x0h / |x0h|^2` huge although `E[|X0|^2 | x]`
 * hardly depends on `x` then (measured: the paper's update over-tilts every toy set with `|x|^2`).
 *
 * The correction keeps the paper's structure (two score evaluations per step, the chain rule
 * through Tweedie's mean by the finite-difference Hessian-vector product of eq. (15)) and only
 * replaces `g = grad log l(x0h)` by the gradient of the log of a Gaussian-smoothed weight,
 *
 *   g~ = grad_u log E_{xi ~ N(0, I)} [ l(u + sqrt(c) xi) ]  at u = x0h,
 *
 * i.e. `E[l(X0) | x]` under the Gaussian approximation `X0 | x ~ N(x0h, c I)`, estimated with K
 * common draws per row (self-normalised: `g~ = sum_k w_k grad log l(z_k)`, `w_k ∝ l(z_k)`).
 * The isotropic variance `c` comes from Tweedie's second-order formula
 * `Cov[X0 | x] = (1 - abar)/abar (I + (1 - abar) H_{p_t}(x))` along the guidance direction:
 * `c = (1 - abar)/abar * max(0, 1 + (1 - abar) rho)`, `rho = g.Hg / |g|^2` the Rayleigh quotient of
 * the Hessian that eq. (15) already measures (the sampler carries it from the previous step, so the
 * correction costs no extra score evaluation; only K weight evaluations per row).
 * With `c = 0` (t -> 0, or a flat weight) it reduces to the paper's update exactly.
 */
import type { Batch } from '../core/batch.js';
import { normal, type Key } from '../core/key.js';
import type { LogWeight } from '../core/types.js';
import { applyFloor, FloorStatus, type FlooredValueAndGrad } from './weights.js';

/** Default number of draws K of the smoothed weight. */
export const DEFAULT_SMOOTHING_DRAWS = 8;

/**
 * `log E_xi[max(l, m)(u + sqrt(c_i) xi)]` and its gradient in `u`, per row, from `draws` standard
 * normal draws per row keyed by `key` (one `valueAndGrad` call on `n * draws` rows). Rows with
 * `c_i = 0` are the plain floored `log l(u)` and its gradient. Status per row: floored when every
 * draw was floored (then g~ = 0, as the paper's floor gives), non-finite when any draw was.
 */
export function smoothedLogWeight(
  key: Key, logWeight: LogWeight, u: Batch, variance: Float64Array, draws: number, m: number,
): FlooredValueAndGrad {
  const { n, dim } = u;
  if (variance.length !== n) throw new RangeError(`smoothedLogWeight: ${variance.length} variances for ${n} rows`);
  if (!Number.isInteger(draws) || draws < 1) throw new RangeError(`smoothedLogWeight: draws must be a positive integer, got ${draws}`);
  const xi = normal(key, n * draws * dim);
  const z = new Float64Array(n * draws * dim);
  for (let i = 0; i < n; i++) {
    const sd = Math.sqrt(Math.max(0, variance[i]));
    for (let k = 0; k < draws; k++) {
      const o = (i * draws + k) * dim;
      for (let j = 0; j < dim; j++) z[o + j] = u.data[i * dim + j] + sd * xi[o + j];
    }
  }
  const f = applyFloor(logWeight.valueAndGrad({ n: n * draws, dim, data: z }), m);
  const value = new Float64Array(n);
  const grad = new Float64Array(n * dim);
  const status = new Uint8Array(n);
  let floored = 0;
  let nonFinite = 0;
  let badGradient = 0;
  for (let i = 0; i < n; i++) {
    // Self-normalised weights w_k ∝ l(z_k), in log space for stability.
    let max = -Infinity;
    let allFloored = true;
    let anyNonFinite = false;
    for (let k = 0; k < draws; k++) {
      const r = i * draws + k;
      max = Math.max(max, f.value[r]);
      if (f.status[r] !== FloorStatus.Floored) allFloored = false;
      if (f.status[r] === FloorStatus.NonFinite) anyNonFinite = true;
    }
    let sum = 0;
    for (let k = 0; k < draws; k++) sum += Math.exp(f.value[i * draws + k] - max);
    value[i] = max + Math.log(sum / draws);
    let ok = true;
    for (let k = 0; k < draws; k++) {
      const r = i * draws + k;
      const w = Math.exp(f.value[r] - max) / sum;
      for (let j = 0; j < dim; j++) grad[i * dim + j] += w * f.grad.data[r * dim + j];
    }
    for (let j = i * dim; j < (i + 1) * dim; j++) if (!Number.isFinite(grad[j])) ok = false;
    if (!ok) badGradient++;
    if (anyNonFinite) {
      status[i] = FloorStatus.NonFinite;
      nonFinite++;
    } else if (allFloored) {
      status[i] = FloorStatus.Floored;
      floored++;
    }
  }
  return { value, grad: { n, dim, data: grad }, status, floored, nonFinite, badGradient };
}

/**
 * The isotropic posterior variance `c` of the correction from Tweedie's second-order formula along
 * the guidance direction: `c = (1 - abar)/abar * max(0, 1 + (1 - abar) rho)`, written with
 * `alpha = sqrt(abar)`, `s2 = 1 - abar`.
 */
export function posteriorVariance(rho: Float64Array, alpha: number, s2: number): Float64Array {
  const scale = s2 / (alpha * alpha);
  return rho.map((r) => (Number.isFinite(r) ? scale * Math.max(0, 1 + s2 * r) : 0));
}
