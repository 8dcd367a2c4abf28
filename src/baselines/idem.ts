/**
 * iDEM's K-sample Monte-Carlo score estimator with score-norm clipping (Akhound-Sadegh et al.
 * 2024, "Iterated Denoising Energy Matching for sampling from Boltzmann densities", §3, the
 * estimator `S_K` of denoising energy matching). iDEM regresses its score network on this
 * estimate; here it is one pure function, so that it can be tested against exact diffused scores
 * and compared with the amortized sampler's posterior means at an equal target-evaluation budget.
 *
 * For the VE marginal `p_t = p * N(0, sigma^2 I)` of an unnormalised `p = exp(-E)`,
 *
 *   grad log p_t(x_t) = E[grad p(x_0)] / E[p(x_0)],   x_0 ~ N(x_t, sigma^2 I)
 *
 * (differentiate under the convolution and move the gradient from the Gaussian kernel onto p), and
 * iDEM estimates both expectations with the same K draws `x0_k = x_t + sigma e_k`:
 *
 *   S_K(x_t) = grad_x log (1/K) sum_k p(x_t + sigma e_k)  =  sum_k softmax_k(log p(x0_k)) grad log p(x0_k).
 *
 * It is self-normalised importance sampling of the posterior `p(x_0 | x_t)` with the Gaussian
 * kernel as proposal: consistent, biased by O(1/K), and poor when sigma is large against the
 * scale of p (the weights degenerate: `ess` reports Kish's effective sample size per point).
 * The reference code computes exactly this gradient by autodiff of `logsumexp(log p) - log K`
 * with the noise held fixed (jarridrb/DEM `dem/models/components/score_estimator.py`,
 * `log_expectation_reward` and `estimate_grad_Rt`; the noise variance is `h(t) = sigma(t)^2` of
 * `diffusion/ve.ts`). Here the weights are formed in log space with a max shift.
 *
 * Clipping (iDEM's `Clipper.clip_scores`, `dem/models/components/clipper.py`, applied to the
 * estimate in `dem_module.py` `get_loss`): each estimate is scaled to norm at most `clip`. For
 * molecules (DW-4) the code reshapes to (particles, spatial dims) first, so each particle's
 * vector is clipped on its own: `clipBlock` = spatial dimension. The code divides by
 * `norm + 1e-6`; here a norm is capped exactly at `clip` (a difference of 1e-6 / clip relative).
 *
 * A VP-type marginal `x_t = alpha x_0 + sigma eps` (optional `alpha`) reduces to the VE case:
 * `p_t(x) = alpha^-d (p * N(0, (sigma/alpha)^2 I))(x / alpha)`, so the draws are
 * `x0_k = (x_t + sigma e_k) / alpha` and the estimate is divided by `alpha`.
 *
 * Non-finite target values or gradients (NaN, ±Infinity) get weight 0 and are counted; a point
 * whose K draws are all non-finite gets the score 0 and `ess` 0.
 */
import { assertFinite, makeBatch, type Batch } from '../core/batch.js';
import { normal, type Key } from '../core/key.js';
import type { LogDensityFn } from '../mcmc/types.js';
import { checkEvaluation } from '../mcmc/types.js';

/** The noisy points: `x_t = alpha x_0 + sigma eps`, one `sigma` (and `alpha`) for all, or one per point. */
export interface IdemPoints {
  /** `B x d` noisy points. */
  readonly xt: Batch;
  /** Noise scale `sigma >= 0` (for the VE SDE: `VESDE.sigma(t)`). */
  readonly sigma: number | Float64Array;
  /** Signal scale `alpha > 0` [1: the VE SDE, as in iDEM]. */
  readonly alpha?: number | Float64Array;
}

export interface IdemScoreOptions {
  /** Monte-Carlo draws per point, K (iDEM: 500 for GMM-40, 1000 for DW-4). */
  readonly samples: number;
  /** Largest norm of an estimate (of each block, see `clipBlock`); `Infinity` for none. */
  readonly clip: number;
  /** Coordinates per clipped block [d: the whole row]; must divide d (iDEM's DW-4: 2, per particle). */
  readonly clipBlock?: number;
}

export interface IdemScoreEstimate {
  /** The clipped estimates of `grad log p_t(x_t)`, `B x d`. */
  readonly score: Batch;
  /** Kish's effective sample size `(sum w)^2 / sum w^2` of each point's K weights (0 when none is finite). */
  readonly ess: Float64Array;
  /** Rows evaluated by `logDensity` (B K, in one call). */
  readonly targetEvaluations: number;
  /** Draws whose log-density or gradient was not finite (weight 0, never averaged). */
  readonly nonFinite: number;
  /** Blocks (rows when `clipBlock` is d) whose norm was capped at `clip`. */
  readonly clipped: number;
}

/**
 * iDEM's settings, in this project's coordinates (jarridrb/DEM `configs/experiment/gmm_idem.yaml`
 * and `dw4_idem.yaml`, `num_estimator_mc_samples` and `clipper.max_score_norm`). GMM-40: iDEM
 * works on the data divided by 50 (`configs/energy/gmm.yaml`), where it clips at 70; a score in
 * data coordinates is the score there divided by 50, so the same clip is 70 / 50 = 1.4 here
 * (use with `VE_PRESETS.gmm40`). DW-4: 20 per particle, unscaled (with `VE_PRESETS.dw4`).
 */
export const IDEM_PRESETS = {
  gmm40: { samples: 500, clip: 70 / 50 },
  dw4: { samples: 1000, clip: 20, clipBlock: 2 },
} as const satisfies Record<string, IdemScoreOptions>;

function perPoint(v: number | Float64Array | undefined, fallback: number, B: number, name: string): Float64Array {
  if (v === undefined) return new Float64Array(B).fill(fallback);
  if (typeof v === 'number') return new Float64Array(B).fill(v);
  if (v.length !== B) throw new RangeError(`idemScoreEstimate: ${v.length} values of ${name} for ${B} points (give one, or one per point)`);
  return v;
}

function checkOptions(o: IdemScoreOptions, d: number): number {
  if (!Number.isInteger(o.samples) || o.samples < 1) throw new RangeError(`idemScoreEstimate: samples must be a positive integer, got ${o.samples}`);
  if (!(o.clip > 0)) throw new RangeError(`idemScoreEstimate: clip must be positive (Infinity for none), got ${o.clip}`);
  const block = o.clipBlock ?? d;
  if (!Number.isInteger(block) || block < 1 || d % block !== 0) {
    throw new RangeError(`idemScoreEstimate: clipBlock must be a positive integer dividing the dimension ${d}, got ${block}`);
  }
  return block;
}

/**
 * Estimate `grad log p_t(x_t)` at every point by iDEM's `S_K`, then clip (module comment).
 * Randomness: one `normal(key, B K d)`; draw k of point b is row `r = b K + k` and uses the
 * normals at `r d ..`, so point b's estimate does not depend on how many points follow it.
 * The target is called once, on all `B K` rows (rows `b K .. (b+1) K - 1` belong to point b).
 */
export function idemScoreEstimate(key: Key, logDensity: LogDensityFn, points: IdemPoints, opts: IdemScoreOptions): IdemScoreEstimate {
  const what = 'idemScoreEstimate';
  const { xt } = points;
  const B = xt.n;
  const d = xt.dim;
  const K = opts.samples;
  const block = checkOptions(opts, d);
  assertFinite(xt, `${what} points`);
  const sigma = perPoint(points.sigma, 0, B, 'sigma');
  const alpha = perPoint(points.alpha, 1, B, 'alpha');
  for (let b = 0; b < B; b++) {
    if (!(sigma[b] >= 0) || !Number.isFinite(sigma[b])) throw new RangeError(`${what}: sigma of point ${b} must be finite and >= 0, got ${sigma[b]}`);
    if (!(alpha[b] > 0) || !Number.isFinite(alpha[b])) throw new RangeError(`${what}: alpha of point ${b} must be finite and > 0, got ${alpha[b]}`);
  }

  // Stage 1: the draws x0_k = (x_t + sigma e_k) / alpha, written over the normals.
  const rows = B * K;
  const x0 = normal(key, rows * d);
  for (let r = 0; r < rows; r++) {
    const b = (r / K) | 0;
    const s = sigma[b];
    const ia = 1 / alpha[b];
    for (let j = 0; j < d; j++) x0[r * d + j] = (xt.data[b * d + j] + s * x0[r * d + j]) * ia;
  }
  const draws = makeBatch(rows, d, x0);

  // Stage 2: log p and grad log p at all B K draws, in one call.
  const ev = logDensity(draws);
  checkEvaluation(ev, draws, what);
  const lp = ev.value;
  const g = ev.grad.data;

  // Stage 3: per point, softmax weights of log p over its finite draws (max shift), weighted mean
  // of the gradients (S_K), Kish ESS; divided by alpha for a VP marginal.
  const score = makeBatch(B, d);
  const ess = new Float64Array(B);
  const finite = new Uint8Array(K);
  let nonFinite = 0;
  for (let b = 0; b < B; b++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) {
      const r = b * K + k;
      let ok = Number.isFinite(lp[r]);
      for (let j = 0; ok && j < d; j++) ok = Number.isFinite(g[r * d + j]);
      finite[k] = ok ? 1 : 0;
      if (ok) {
        if (lp[r] > m) m = lp[r];
      } else {
        nonFinite++;
      }
    }
    if (m === -Infinity) continue; // no finite draw: score 0, ess 0
    let sw = 0;
    let sw2 = 0;
    const out = score.data.subarray(b * d, (b + 1) * d);
    for (let k = 0; k < K; k++) {
      if (!finite[k]) continue;
      const r = b * K + k;
      const w = Math.exp(lp[r] - m);
      sw += w;
      sw2 += w * w;
      for (let j = 0; j < d; j++) out[j] += w * g[r * d + j];
    }
    const c = 1 / (sw * alpha[b]);
    for (let j = 0; j < d; j++) out[j] *= c;
    ess[b] = (sw * sw) / sw2;
  }

  // Stage 4: score-norm clipping, per block of `block` coordinates (iDEM's Clipper).
  let clipped = 0;
  if (opts.clip < Infinity) {
    for (let off = 0; off < score.data.length; off += block) {
      let q = 0;
      for (let j = off; j < off + block; j++) q += score.data[j] * score.data[j];
      const norm = Math.sqrt(q);
      if (norm > opts.clip) {
        const c = opts.clip / norm;
        for (let j = off; j < off + block; j++) score.data[j] *= c;
        clipped++;
      }
    }
  }
  return { score, ess, targetEvaluations: rows, nonFinite, clipped };
}
