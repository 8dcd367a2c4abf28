/**
 * Vector-Jacobian products of a score model, for guidance through Tweedie's estimate (DPS, TDS).
 *
 * With `s(x) = score(x, t)`, `H(x) = d s / d x` and Tweedie's `x0h(x) = (x + sigma_t^2 s(x)) / alpha_t`
 * (SPEC §1), the chain rule gives
 *
 *   grad_x log l(x0h(x)) = J_{x0h}(x)^T g = (g + sigma_t^2 H(x)^T g) / alpha_t,   g = grad log l (x0h(x)).
 *
 * A `ScoreModel` has no VJP: `ScoreModelWithVjp` adds `scoreVjp(x, t, v) = H(x)^T v` per row.
 * Implementations here:
 *  - exact, for the diffused Gaussian and Gaussian-mixture scores (`gaussianScoreWithVjp`,
 *    `gmmScoreWithVjp`), from the analytic Hessian of the log-density;
 *  - central finite differences along `v` for any score model (`finiteDifferenceVjp`): the score
 *    of a density is a gradient, so `H` is symmetric and `H^T v = H v ≈ (s(x + h v) - s(x - h v)) / 2h`.
 *    Two score evaluations per row (one batched call of `2n` rows). A trained network's output need
 *    not be an exact gradient, so there this is the VJP of the symmetrised Jacobian: documented,
 *    and the reason a network adapter should supply its own autodiff `scoreVjp`.
 */
import { makeBatch, type Batch } from '../core/batch.js';
import type { NoiseSchedule, ScoreModel } from '../core/types.js';
import { timeAt } from '../core/types.js';
import type { Gaussian } from '../targets/gaussian.js';
import type { GaussianMixture } from '../targets/gmm.js';

/** A score model that can also return `H(x, t)^T v`, `H = d score / d x`, row by row. */
export interface ScoreModelWithVjp extends ScoreModel {
  scoreVjp(x: Batch, t: number | Float64Array, v: Batch): Batch;
}

export function hasScoreVjp(model: ScoreModel): model is ScoreModelWithVjp {
  return typeof (model as Partial<ScoreModelWithVjp>).scoreVjp === 'function';
}

function checkShapes(x: Batch, v: Batch, dim: number, what: string): void {
  if (x.dim !== dim) throw new RangeError(`${what}: points have dimension ${x.dim}, expected ${dim}`);
  if (v.n !== x.n || v.dim !== x.dim) throw new RangeError(`${what}: v is ${v.n} x ${v.dim}, x is ${x.n} x ${x.dim}`);
}

/**
 * Exact score and VJP of the diffused Gaussian `N(alpha mu, alpha^2 S + sigma^2 I)`: the Hessian is
 * the constant `-(alpha^2 S + sigma^2 I)^{-1}`.
 */
export function gaussianScoreWithVjp(g: Gaussian, schedule: NoiseSchedule): ScoreModelWithVjp {
  const base = g.diffusedScore(schedule);
  const c = g.covariance;
  const d = g.dim;
  return {
    dim: d,
    score: (x, t) => base.score(x, t),
    scoreVjp: (x, t, v) => {
      checkShapes(x, v, d, 'gaussianScoreWithVjp');
      const out = makeBatch(x.n, d);
      const y = new Float64Array(d);
      for (let i = 0; i < x.n; i++) {
        const ti = timeAt(t, i);
        const a = schedule.alpha(ti);
        const s = schedule.sigma(ti);
        c.toEigenbasis(v.data, i * d, y);
        for (let j = 0; j < d; j++) y[j] *= -1 / (a * a * c.values[j] + s * s);
        c.fromEigenbasis(y, out.data, i * d);
      }
      return out;
    },
  };
}

/**
 * Exact Hessian-vector product of the log-density of the diffused mixture
 * `p_t = sum_k w_k N(alpha mu_k, C_k)`, `C_k = alpha^2 S_k + sigma^2 I`, from the public fields of
 * `GaussianMixture` (means, logWeights, covariances). With `g_k = -C_k^{-1} (x - alpha mu_k)`,
 * responsibilities `r_k ∝ w_k N(x; alpha mu_k, C_k)` and `s = sum_k r_k g_k`:
 *
 *   H = sum_k r_k (g_k g_k^T - C_k^{-1}) - s s^T,   so   H v = sum_k r_k (g_k (g_k.v) - C_k^{-1} v) - s (s.v).
 *
 * (Differentiate `s = sum_k r_k g_k` with `grad r_k = r_k (g_k - s)` and `grad g_k = -C_k^{-1}`.)
 * Returns both `s` and `H v`; O(K d^2) per row.
 */
export function gmmScoreAndHessianVector(
  gmm: GaussianMixture, x: Batch, alpha: number | Float64Array, sigma: number | Float64Array, v: Batch,
): { score: Batch; hv: Batch } {
  const d = gmm.dim;
  const K = gmm.k;
  checkShapes(x, v, d, 'gmmScoreAndHessianVector');
  const score = makeBatch(x.n, d);
  const hv = makeBatch(x.n, d);
  const logr = new Float64Array(K);
  const gk = new Float64Array(K * d); // g_k per component
  const civ = new Float64Array(K * d); // C_k^{-1} v per component
  const y = new Float64Array(d);
  const yv = new Float64Array(d);
  const r = new Float64Array(d);
  const tmp = new Float64Array(d);
  const LOG_2PI = Math.log(2 * Math.PI);
  for (let i = 0; i < x.n; i++) {
    const a = typeof alpha === 'number' ? alpha : alpha[i];
    const s = typeof sigma === 'number' ? sigma : sigma[i];
    const off = i * d;
    let mx = -Infinity;
    for (let k = 0; k < K; k++) {
      const cov = gmm.covariances[k];
      for (let j = 0; j < d; j++) r[j] = x.data[off + j] - a * gmm.means[k * d + j];
      cov.toEigenbasis(r, 0, y);
      cov.toEigenbasis(v.data, off, yv);
      let q = 0;
      let logDet = 0;
      for (let j = 0; j < d; j++) {
        const vj = a * a * cov.values[j] + s * s;
        if (!(vj > 0)) throw new RangeError(`gmmScoreAndHessianVector: degenerate diffused covariance at alpha=${a}, sigma=${s}`);
        q += (y[j] * y[j]) / vj;
        logDet += Math.log(vj);
        y[j] = -y[j] / vj; // eigen-coordinates of g_k
        yv[j] = yv[j] / vj; // eigen-coordinates of C_k^{-1} v
      }
      cov.fromEigenbasis(y, gk, k * d);
      cov.fromEigenbasis(yv, civ, k * d);
      logr[k] = gmm.logWeights[k] - 0.5 * (q + logDet + d * LOG_2PI);
      if (logr[k] > mx) mx = logr[k];
    }
    let sum = 0;
    for (let k = 0; k < K; k++) {
      logr[k] = Math.exp(logr[k] - mx);
      sum += logr[k];
    }
    tmp.fill(0);
    for (let k = 0; k < K; k++) {
      const w = logr[k] / sum;
      logr[k] = w;
      for (let j = 0; j < d; j++) tmp[j] += w * gk[k * d + j];
    }
    let sv = 0;
    for (let j = 0; j < d; j++) {
      score.data[off + j] = tmp[j];
      sv += tmp[j] * v.data[off + j];
    }
    for (let j = 0; j < d; j++) hv.data[off + j] = -tmp[j] * sv;
    for (let k = 0; k < K; k++) {
      const w = logr[k];
      if (w === 0) continue;
      let gv = 0;
      for (let j = 0; j < d; j++) gv += gk[k * d + j] * v.data[off + j];
      for (let j = 0; j < d; j++) hv.data[off + j] += w * (gk[k * d + j] * gv - civ[k * d + j]);
    }
  }
  return { score, hv };
}

/** Exact score and VJP of a Gaussian mixture's diffused score under `schedule`. */
export function gmmScoreWithVjp(gmm: GaussianMixture, schedule: NoiseSchedule): ScoreModelWithVjp {
  const base = gmm.diffusedScore(schedule);
  const times = (t: number | Float64Array, n: number): { a: number | Float64Array; s: number | Float64Array } => {
    if (typeof t === 'number') return { a: schedule.alpha(t), s: schedule.sigma(t) };
    if (t.length !== n) throw new RangeError(`gmmScoreWithVjp: ${t.length} times for ${n} rows`);
    return { a: t.map((u) => schedule.alpha(u)), s: t.map((u) => schedule.sigma(u)) };
  };
  return {
    dim: gmm.dim,
    score: (x, t) => base.score(x, t),
    scoreVjp: (x, t, v) => {
      const { a, s } = times(t, x.n);
      return gmmScoreAndHessianVector(gmm, x, a, s, v).hv;
    },
  };
}

export interface FiniteDifferenceOptions {
  /** Step along the unit direction `v / |v|` [1e-4]; the result is scaled back by `|v|`. */
  h?: number;
}

/**
 * `H^T v ≈ |v| (s(x + h u) - s(x - h u)) / 2h`, `u = v / |v|` (central differences; error
 * O(h^2) plus rounding O(eps |s| / h)); rows with `v = 0` give 0. One `score` call of `2n` rows.
 */
export function finiteDifferenceVjp(model: ScoreModel, opts: FiniteDifferenceOptions = {}): ScoreModelWithVjp {
  const h = opts.h ?? 1e-4;
  if (!(h > 0) || !Number.isFinite(h)) throw new RangeError(`finiteDifferenceVjp: h must be positive, got ${h}`);
  return {
    dim: model.dim,
    score: (x, t) => model.score(x, t),
    scoreVjp: (x, t, v) => {
      checkShapes(x, v, model.dim, 'finiteDifferenceVjp');
      const n = x.n;
      const d = x.dim;
      const both = makeBatch(2 * n, d);
      const norms = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let q = 0;
        for (let j = 0; j < d; j++) q += v.data[i * d + j] * v.data[i * d + j];
        const nv = Math.sqrt(q);
        norms[i] = nv;
        const c = nv > 0 ? h / nv : 0;
        for (let j = 0; j < d; j++) {
          both.data[i * d + j] = x.data[i * d + j] + c * v.data[i * d + j];
          both.data[(n + i) * d + j] = x.data[i * d + j] - c * v.data[i * d + j];
        }
      }
      let tt: number | Float64Array = t;
      if (typeof t !== 'number') {
        if (t.length !== n) throw new RangeError(`finiteDifferenceVjp: ${t.length} times for ${n} rows`);
        const t2 = new Float64Array(2 * n);
        t2.set(t, 0);
        t2.set(t, n);
        tt = t2;
      }
      const s = model.score(both, tt);
      const out = makeBatch(n, d);
      for (let i = 0; i < n; i++) {
        const c = norms[i] / (2 * h);
        for (let j = 0; j < d; j++) out.data[i * d + j] = c * (s.data[i * d + j] - s.data[(n + i) * d + j]);
      }
      return out;
    },
  };
}

/** The model itself when it has `scoreVjp`, otherwise the finite-difference fallback on it. */
export function withScoreVjp(model: ScoreModel, opts: FiniteDifferenceOptions = {}): ScoreModelWithVjp {
  return hasScoreVjp(model) ? model : finiteDifferenceVjp(model, opts);
}

/**
 * `J_{x0h}(x)^T v = (v + sigma_t^2 H(x)^T v) / alpha_t` per row: the gradient of `f(x0h(x))` in x
 * when `v = grad f` at `x0h` (Tweedie, SPEC §1). One `scoreVjp` call.
 */
export function tweedieVjp(
  model: ScoreModelWithVjp, schedule: NoiseSchedule, x: Batch, t: number | Float64Array, v: Batch,
): Batch {
  const hv = model.scoreVjp(x, t, v);
  if (hv.n !== x.n || hv.dim !== x.dim) throw new RangeError(`tweedieVjp: scoreVjp returned ${hv.n} x ${hv.dim} for ${x.n} x ${x.dim}`);
  const d = x.dim;
  const out = makeBatch(x.n, d);
  let a = 0;
  let s2 = 0;
  for (let i = 0; i < x.n; i++) {
    if (i === 0 || typeof t !== 'number') {
      const ti = timeAt(t, i);
      a = schedule.alpha(ti);
      const s = schedule.sigma(ti);
      s2 = s * s;
    }
    for (let j = i * d; j < (i + 1) * d; j++) out.data[j] = (v.data[j] + s2 * hv.data[j]) / a;
  }
  return out;
}
