/**
 * Gaussian mixtures `p(x) = sum_k w_k N(x; mu_k, S_k)`: normalised density, analytic gradient,
 * exact samples, and the exact quantities of the forward diffusion `x_t = alpha x_0 + sigma eps`
 * (SPEC §1): the marginal `p_t = sum_k w_k N(alpha mu_k, alpha^2 S_k + sigma^2 I)`, its score,
 * and the posterior mean `E[x_0 | x_t]`. Also closed under exponential tilts (DESIGN.md, tests).
 *
 * Hot path: the diffused score is called with 10^4 points x 10^3 steps and K = 40. All
 * per-time component quantities (`alpha mu_k`, `1/v_kj`, normalising constants) are computed
 * once per call when t is one number (and once per distinct consecutive time when t is per row);
 * the row loop allocates nothing.
 */
import { normalCdf } from '../core/normal-cdf.js';
import { makeBatch, type Batch } from '../core/batch.js';
import { normal, split, uniform, type Key } from '../core/key.js';
import type { NoiseSchedule, SampleableTarget, ScoreModel, ValueAndGrad } from '../core/types.js';
import { EigenCovariance, type CovarianceSpec } from './covariance.js';

const LOG_2PI = Math.log(2 * Math.PI);

export interface GaussianMixtureOptions {
  /** K component means, each of length `dim`. */
  readonly means: ReadonlyArray<ArrayLike<number>>;
  /** Positive weights (normalised here); default equal. Give `weights` or `logWeights`, not both. */
  readonly weights?: ArrayLike<number>;
  /** Finite unnormalised log-weights (used by `tilted`, where weights may underflow). */
  readonly logWeights?: ArrayLike<number>;
  /** One covariance for every component, or one per component. */
  readonly covariance: CovarianceSpec | EigenCovariance | ReadonlyArray<CovarianceSpec | EigenCovariance>;
  readonly name?: string;
}

/** What the row kernel returns besides the log-density. */
const Mode = { Value: 0, Score: 1, PosteriorMean: 2 } as const;
type Mode = (typeof Mode)[keyof typeof Mode];

/** Per-time component quantities for one `(alpha, sigma)`. */
interface Prepared {
  alpha: number;
  sigma: number;
  /** `alpha mu_k`, K x d. */
  readonly am: Float64Array;
  /** `1 / (alpha^2 lambda_kj + sigma^2)`, K x d (eigenbasis of S_k). */
  readonly iv: Float64Array;
  /** `alpha lambda_kj / (alpha^2 lambda_kj + sigma^2)`: the posterior gain, K x d. */
  readonly gain: Float64Array;
  /** `log w_k - 1/2 log det(alpha^2 S_k + sigma^2 I) - d/2 log 2 pi`. */
  readonly c: Float64Array;
}

function logSumExp(v: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < v.length; i++) if (v[i] > m) m = v[i];
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += Math.exp(v[i] - m);
  return m + Math.log(s);
}

export class GaussianMixture implements SampleableTarget {
  readonly name: string;
  readonly dim: number;
  /** Number of components K. */
  readonly k: number;
  /** Component means, K x d row-major. */
  readonly means: Float64Array;
  /** Normalised log-weights (log-sum-exp = 0). */
  readonly logWeights: Float64Array;
  readonly covariances: readonly EigenCovariance[];
  private readonly lambda: Float64Array;
  private readonly allDiagonal: boolean;
  /** Set when every component has the same covariance `v I` (see `isotropicLogDensity`). */
  private readonly isotropic?: { v: number; a: Float64Array; b: Float64Array };

  constructor(opts: GaussianMixtureOptions) {
    const K = opts.means.length;
    if (K < 1) throw new RangeError('GaussianMixture: needs at least one component');
    const d = opts.means[0].length;
    if (d < 1) throw new RangeError('GaussianMixture: means must have at least one coordinate');
    this.name = opts.name ?? 'gmm';
    this.dim = d;
    this.k = K;
    this.means = new Float64Array(K * d);
    opts.means.forEach((m, k) => {
      if (m.length !== d) throw new RangeError(`GaussianMixture: mean ${k} has ${m.length} values, expected ${d}`);
      for (let j = 0; j < d; j++) {
        if (!Number.isFinite(m[j])) throw new RangeError(`GaussianMixture: mean ${k} is not finite`);
        this.means[k * d + j] = m[j];
      }
    });

    // Weights: validated > 0 (or finite log-weights), normalised in log space.
    if (opts.weights !== undefined && opts.logWeights !== undefined) {
      throw new TypeError('GaussianMixture: give weights or logWeights, not both');
    }
    const lw = new Float64Array(K);
    if (opts.logWeights !== undefined) {
      if (opts.logWeights.length !== K) throw new RangeError(`GaussianMixture: ${opts.logWeights.length} log-weights for ${K} components`);
      for (let k = 0; k < K; k++) {
        if (!Number.isFinite(opts.logWeights[k])) throw new RangeError(`GaussianMixture: log-weight ${k} is not finite`);
        lw[k] = opts.logWeights[k];
      }
    } else if (opts.weights !== undefined) {
      if (opts.weights.length !== K) throw new RangeError(`GaussianMixture: ${opts.weights.length} weights for ${K} components`);
      for (let k = 0; k < K; k++) {
        const w = opts.weights[k];
        if (!(w > 0) || !Number.isFinite(w)) throw new RangeError(`GaussianMixture: weight ${k} must be positive and finite, got ${w}`);
        lw[k] = Math.log(w);
      }
    }
    const lz = logSumExp(lw);
    this.logWeights = lw.map((v) => v - lz);

    const cov = opts.covariance;
    if (Array.isArray(cov)) {
      if (cov.length !== K) throw new RangeError(`GaussianMixture: ${cov.length} covariances for ${K} components`);
      this.covariances = cov.map((c: CovarianceSpec | EigenCovariance, k: number) =>
        EigenCovariance.fromSpec(c, d, `GaussianMixture component ${k}`));
    } else {
      const shared = EigenCovariance.fromSpec(cov as CovarianceSpec | EigenCovariance, d, 'GaussianMixture');
      this.covariances = Array.from({ length: K }, () => shared);
    }
    this.lambda = new Float64Array(K * d);
    this.covariances.forEach((c, k) => this.lambda.set(c.values, k * d));
    this.allDiagonal = this.covariances.every((c) => c.isDiagonal);
    const v0 = this.lambda[0];
    if (this.allDiagonal && this.lambda.every((v) => v === v0)) {
      const a = new Float64Array(K * d);
      const b = new Float64Array(K);
      for (let k = 0; k < K; k++) {
        let mm = 0;
        for (let j = 0; j < d; j++) {
          a[k * d + j] = this.means[k * d + j] / v0;
          mm += this.means[k * d + j] ** 2;
        }
        b[k] = this.logWeights[k] - 0.5 * d * Math.log(2 * Math.PI * v0) - (0.5 * mm) / v0;
      }
      this.isotropic = { v: v0, a, b };
    }
  }

  /** Mixture weights (normalised). */
  weights(): Float64Array {
    return this.logWeights.map(Math.exp);
  }

  /**
   * Exact probabilities of the bins `[edges[i], edges[i+1])` under the mixture's marginal of
   * coordinate `j`: `sum_k w_k (Phi((e_{i+1} - mu_kj) / s_kj) - Phi((e_i - mu_kj) / s_kj))` with
   * `s_kj^2` the component's variance of that coordinate (`core/normal-cdf`, error ~1e-7 per bin).
   */
  marginalBinProbabilities(j: number, edges: Float64Array): Float64Array {
    if (!Number.isInteger(j) || j < 0 || j >= this.dim) throw new RangeError(`${this.name}: coordinate ${j} is not in 0..${this.dim - 1}`);
    const w = this.weights();
    const bins = edges.length - 1;
    const out = new Float64Array(bins);
    for (let k = 0; k < this.k; k++) {
      const m = this.means[k * this.dim + j];
      const s = Math.sqrt(this.covariances[k].matrix()[j * this.dim + j]);
      let prev = normalCdf((edges[0] - m) / s);
      for (let i = 0; i < bins; i++) {
        const next = normalCdf((edges[i + 1] - m) / s);
        out[i] += w[k] * (next - prev);
        prev = next;
      }
    }
    return out;
  }

  /** Mean of component k (a copy). */
  componentMean(k: number): Float64Array {
    return this.means.slice(k * this.dim, (k + 1) * this.dim);
  }

  /** Mean and covariance (row-major) of the whole mixture: `sum w_k mu_k`, `sum w_k (S_k + mu_k mu_k^T) - m m^T`. */
  moments(): { mean: Float64Array; cov: Float64Array } {
    const d = this.dim;
    const w = this.weights();
    const mean = new Float64Array(d);
    const cov = new Float64Array(d * d);
    for (let k = 0; k < this.k; k++) {
      const s = this.covariances[k].matrix();
      for (let i = 0; i < d; i++) {
        mean[i] += w[k] * this.means[k * d + i];
        for (let j = 0; j < d; j++) cov[i * d + j] += w[k] * (s[i * d + j] + this.means[k * d + i] * this.means[k * d + j]);
      }
    }
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cov[i * d + j] -= mean[i] * mean[j];
    return { mean, cov };
  }

  logDensity(x: Batch): Float64Array {
    if (this.isotropic) return this.isotropicLogDensity(x, this.isotropic, false).value;
    return this.run(x, 1, 0, Mode.Value).value;
  }

  logDensityAndGrad(x: Batch): ValueAndGrad {
    if (this.isotropic) return this.isotropicLogDensity(x, this.isotropic, true);
    const r = this.run(x, 1, 0, Mode.Score);
    return { value: r.value, grad: r.out };
  }

  /**
   * Fast path of `log p` and its gradient when every component has the same isotropic covariance
   * `v I` (GMM-40, 8gaussians): with `a_k = mu_k / v` and `b_k = log w_k - d/2 log(2 pi v) - |mu_k|^2 / (2v)`,
   *   `l_k = b_k + x.a_k - |x|^2 / (2v)`,   `grad log p = sum_k r_k a_k - x / v`,
   * i.e. one dot product per component instead of a squared distance scaled per coordinate. This
   * is the inner loop of AIS/HMC posterior sampling (millions of rows per second of training).
   */
  private isotropicLogDensity(x: Batch, iso: { v: number; a: Float64Array; b: Float64Array }, wantGrad: boolean): ValueAndGrad {
    if (x.dim !== this.dim) throw new RangeError(`${this.name}: points have dimension ${x.dim}, expected ${this.dim}`);
    const { n } = x;
    const d = this.dim;
    const K = this.k;
    const { a, b, v } = iso;
    const xd = x.data;
    const value = new Float64Array(n);
    const grad = makeBatch(wantGrad ? n : 0, d);
    const gd = grad.data;
    const l = new Float64Array(K);
    const iv = 1 / v;
    // A component more than `cut` nats below the largest is skipped: all K of them together weigh
    // less than 2^-53 of the sum (>= 1), below the rounding of the value and of the
    // responsibility-weighted gradient. Most GMM-40 components are that far from any point.
    const cut = 53 * Math.LN2 + Math.log(K);
    const acc = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const off = i * d;
      let xx = 0;
      for (let j = 0; j < d; j++) xx += xd[off + j] * xd[off + j];
      // Pass 1: l_k up to the shared -|x|^2 / (2v), and their maximum.
      let m = -Infinity;
      if (d === 2) {
        // The common 2-D case, unrolled.
        const x0 = xd[off];
        const x1 = xd[off + 1];
        for (let k = 0; k < K; k++) {
          const s = b[k] + x0 * a[2 * k] + x1 * a[2 * k + 1];
          l[k] = s;
          if (s > m) m = s;
        }
      } else {
        for (let k = 0; k < K; k++) {
          let s = b[k];
          const kb = k * d;
          for (let j = 0; j < d; j++) s += xd[off + j] * a[kb + j];
          l[k] = s;
          if (s > m) m = s;
        }
      }
      // Pass 2, fused: the sum of exp(l_k - m) and, for the gradient, of exp(l_k - m) a_k.
      const lo = m - cut;
      let sum = 0;
      if (!wantGrad) {
        for (let k = 0; k < K; k++) if (l[k] >= lo) sum += Math.exp(l[k] - m);
      } else if (d === 2) {
        let g0 = 0;
        let g1 = 0;
        for (let k = 0; k < K; k++) {
          if (l[k] < lo) continue;
          const w = Math.exp(l[k] - m);
          sum += w;
          g0 += w * a[2 * k];
          g1 += w * a[2 * k + 1];
        }
        gd[off] = g0 / sum - xd[off] * iv;
        gd[off + 1] = g1 / sum - xd[off + 1] * iv;
      } else {
        acc.fill(0);
        for (let k = 0; k < K; k++) {
          if (l[k] < lo) continue;
          const w = Math.exp(l[k] - m);
          sum += w;
          const kb = k * d;
          for (let j = 0; j < d; j++) acc[j] += w * a[kb + j];
        }
        for (let j = 0; j < d; j++) gd[off + j] = acc[j] / sum - xd[off + j] * iv;
      }
      value[i] = m + Math.log(sum) - 0.5 * xx * iv;
    }
    return { value, grad };
  }

  /** Exact score `grad log p_t(x)` of the marginal of `alpha x_0 + sigma eps` (per-row arrays allowed). */
  scoreAt(x: Batch, alpha: number | Float64Array, sigma: number | Float64Array): Batch {
    return this.run(x, alpha, sigma, Mode.Score).out;
  }

  /** `log p_t(x)` of the diffused marginal at `(alpha, sigma)` and its gradient. */
  diffusedLogDensityAndGrad(x: Batch, alpha: number | Float64Array, sigma: number | Float64Array): ValueAndGrad {
    const r = this.run(x, alpha, sigma, Mode.Score);
    return { value: r.value, grad: r.out };
  }

  /** The exact score of the diffused mixture under a schedule, for one time or one per row. */
  diffusedScore(schedule: NoiseSchedule): ScoreModel {
    return {
      dim: this.dim,
      score: (x: Batch, t: number | Float64Array): Batch => {
        if (typeof t === 'number') return this.run(x, schedule.alpha(t), schedule.sigma(t), Mode.Score).out;
        if (t.length !== x.n) throw new RangeError(`score: ${t.length} times for ${x.n} rows (give one time, or one per row)`);
        const a = new Float64Array(x.n);
        const s = new Float64Array(x.n);
        for (let i = 0; i < x.n; i++) {
          a[i] = schedule.alpha(t[i]);
          s[i] = schedule.sigma(t[i]);
        }
        return this.run(x, a, s, Mode.Score).out;
      },
    };
  }

  /**
   * Exact posterior mean `E[x_0 | x_t]` for `x_t = alpha x_0 + sigma eps`. Given component k,
   * `x_0 | x_t` is Gaussian with mean `mu_k + alpha S_k (alpha^2 S_k + sigma^2 I)^{-1} (x_t - alpha mu_k)`
   * (Gaussian conditioning); the components are weighted by their responsibilities
   * `r_k ∝ w_k N(x_t; alpha mu_k, alpha^2 S_k + sigma^2 I)`. Computed directly (not through
   * Tweedie), so Tweedie's identity is an independent check; valid at `alpha = 0` too.
   */
  posteriorMean(xt: Batch, alpha: number | Float64Array, sigma: number | Float64Array): Batch {
    return this.run(xt, alpha, sigma, Mode.PosteriorMean).out;
  }

  /** The marginal of `alpha x_0 + sigma eps` as a mixture. */
  diffused(alpha: number, sigma: number): GaussianMixture {
    return new GaussianMixture({
      name: `${this.name}-diffused`,
      means: Array.from({ length: this.k }, (_, k) => this.componentMean(k).map((m) => alpha * m)),
      logWeights: this.logWeights,
      covariance: this.covariances.map((c) => c.scaledPlusIdentity(alpha * alpha, sigma * sigma)),
    });
  }

  /**
   * Exponential tilt `q(x) ∝ exp(a.x) p(x)`. Each component tilts to `N(mu_k + S_k a, S_k)` with
   * mass `w_k exp(a.mu_k + a^T S_k a / 2)`, so `q` is a mixture with those means and weights.
   */
  tilted(a: ArrayLike<number>): GaussianMixture {
    this.checkVector(a);
    const lw = this.tiltLogMasses(a);
    return new GaussianMixture({
      name: `${this.name}-tilted`,
      means: Array.from({ length: this.k }, (_, k) => {
        const sa = this.covariances[k].apply(a);
        return this.componentMean(k).map((m, j) => m + sa[j]);
      }),
      logWeights: lw,
      covariance: this.covariances,
    });
  }

  /** `log E_p[exp(a.x)] = logsumexp_k (log w_k + a.mu_k + a^T S_k a / 2)`. */
  logNormalizerOfTilt(a: ArrayLike<number>): number {
    this.checkVector(a);
    return logSumExp(this.tiltLogMasses(a));
  }

  private tiltLogMasses(a: ArrayLike<number>): Float64Array {
    const d = this.dim;
    const lw = new Float64Array(this.k);
    for (let k = 0; k < this.k; k++) {
      let am = 0;
      for (let j = 0; j < d; j++) am += a[j] * this.means[k * d + j];
      lw[k] = this.logWeights[k] + am + 0.5 * this.covariances[k].quadratic(a);
    }
    return lw;
  }

  /**
   * Exact samples: component by inverse CDF of one uniform per row, then `mu_k + U_k sqrt(lambda_k) z`.
   * Row i depends only on the key and i (the streams are prefix-consistent), not on n.
   */
  sample(key: Key, n: number): Batch {
    const d = this.dim;
    const [kc, kz] = split(key, 2);
    const u = uniform(kc, n);
    const z = normal(kz, n * d);
    const cdf = new Float64Array(this.k);
    let acc = 0;
    for (let k = 0; k < this.k; k++) {
      acc += Math.exp(this.logWeights[k]);
      cdf[k] = acc;
    }
    const out = makeBatch(n, d);
    const y = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      // Scale u by the total so that rounding in the cumulative sum cannot leave a gap at 1.
      const target = u[i] * acc;
      let k = 0;
      while (k < this.k - 1 && cdf[k] <= target) k++;
      const c = this.covariances[k];
      for (let j = 0; j < d; j++) y[j] = Math.sqrt(c.values[j]) * z[i * d + j];
      c.fromEigenbasis(y, out.data, i * d);
      for (let j = 0; j < d; j++) out.data[i * d + j] += this.means[k * d + j];
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // Kernel.

  private newPrepared(): Prepared {
    const kd = this.k * this.dim;
    return {
      alpha: NaN,
      sigma: NaN,
      am: new Float64Array(kd),
      iv: new Float64Array(kd),
      gain: new Float64Array(kd),
      c: new Float64Array(this.k),
    };
  }

  private prepare(p: Prepared, alpha: number, sigma: number): void {
    if (p.alpha === alpha && p.sigma === sigma) return;
    if (!Number.isFinite(alpha) || !Number.isFinite(sigma)) {
      throw new RangeError(`${this.name}: alpha and sigma must be finite, got ${alpha}, ${sigma}`);
    }
    const d = this.dim;
    const a2 = alpha * alpha;
    const s2 = sigma * sigma;
    const base = -0.5 * d * LOG_2PI;
    let logDet = 0;
    for (let k = 0; k < this.k; k++) {
      if (k > 0 && this.covariances[k] === this.covariances[k - 1]) {
        // Shared covariance (e.g. GMM-40): same variances and log-determinant as component k-1.
        for (let j = 0; j < d; j++) {
          const idx = k * d + j;
          p.am[idx] = alpha * this.means[idx];
          p.iv[idx] = p.iv[idx - d];
          p.gain[idx] = p.gain[idx - d];
        }
        p.c[k] = this.logWeights[k] + base - 0.5 * logDet;
        continue;
      }
      logDet = 0;
      for (let j = 0; j < d; j++) {
        const idx = k * d + j;
        const lam = this.lambda[idx];
        const v = a2 * lam + s2;
        if (!(v > 0)) throw new RangeError(`${this.name}: degenerate diffused covariance at alpha=${alpha}, sigma=${sigma}`);
        p.am[idx] = alpha * this.means[idx];
        p.iv[idx] = 1 / v;
        p.gain[idx] = (alpha * lam) / v;
        logDet += Math.log(v);
      }
      p.c[k] = this.logWeights[k] + base - 0.5 * logDet;
    }
    p.alpha = alpha;
    p.sigma = sigma;
  }

  /**
   * Evaluate every row at `(alpha, sigma)` (scalars, or per-row arrays). Responsibilities are
   * kept in log space with a max shift: `log p_t(x) = m + log sum_k exp(l_k - m)`,
   * `l_k = c_k - 1/2 sum_j y_kj^2 / v_kj`, `y_k = U_k^T (x - alpha mu_k)`.
   *   Score:  `grad = -sum_k r_k U_k (y_k / v_k)`.
   *   PosteriorMean: `sum_k r_k (mu_k + U_k (gain_k * y_k))`.
   */
  private run(
    x: Batch,
    alpha: number | Float64Array,
    sigma: number | Float64Array,
    mode: Mode,
  ): { value: Float64Array; out: Batch } {
    if (x.dim !== this.dim) throw new RangeError(`${this.name}: points have dimension ${x.dim}, expected ${this.dim}`);
    const n = x.n;
    if (typeof alpha !== 'number' && alpha.length !== n) throw new RangeError(`${this.name}: ${alpha.length} alphas for ${n} rows`);
    if (typeof sigma !== 'number' && sigma.length !== n) throw new RangeError(`${this.name}: ${sigma.length} sigmas for ${n} rows`);
    const d = this.dim;
    const K = this.k;
    const xd = x.data;
    const value = new Float64Array(n);
    const out = makeBatch(mode === Mode.Value ? 0 : n, d);
    const od = out.data;
    const p = this.newPrepared();
    const lg = new Float64Array(K);
    const r = new Float64Array(d);
    const y = new Float64Array(d);
    const acc = new Float64Array(d);
    // Full covariances: keep U_k^T r per component for the second pass.
    const ys = this.allDiagonal ? null : new Float64Array(K * d);
    const scalar = typeof alpha === 'number' && typeof sigma === 'number';
    if (scalar) this.prepare(p, alpha, sigma);
    const { am, iv, gain, c } = p;
    const means = this.means;

    for (let i = 0; i < n; i++) {
      if (!scalar) this.prepare(p, typeof alpha === 'number' ? alpha : alpha[i], typeof sigma === 'number' ? sigma : sigma[i]);
      const off = i * d;
      // Pass 1: component log-densities l_k and their maximum.
      let mx = -Infinity;
      for (let k = 0; k < K; k++) {
        const kb = k * d;
        let q = 0;
        if (ys === null) {
          for (let j = 0; j < d; j++) {
            const rj = xd[off + j] - am[kb + j];
            q += rj * rj * iv[kb + j];
          }
        } else {
          for (let j = 0; j < d; j++) r[j] = xd[off + j] - am[kb + j];
          this.covariances[k].toEigenbasis(r, 0, y);
          for (let j = 0; j < d; j++) {
            ys[kb + j] = y[j];
            q += y[j] * y[j] * iv[kb + j];
          }
        }
        const l = c[k] - 0.5 * q;
        lg[k] = l;
        if (l > mx) mx = l;
      }
      // Pass 2: unnormalised responsibilities exp(l_k - m).
      // A component below exp(-50) ~ 2e-22 of the largest cannot change the sum (>= 1) in double
      // precision: set it to exactly 0 and skip it in pass 3 (most of GMM-40's are that far).
      let sum = 0;
      for (let k = 0; k < K; k++) {
        const e = lg[k] - mx;
        const w = e < -50 ? 0 : Math.exp(e);
        lg[k] = w;
        sum += w;
      }
      value[i] = mx + Math.log(sum);
      if (mode === Mode.Value) continue;
      const inv = 1 / sum;
      // Pass 3: responsibility-weighted sum of the per-component score or posterior mean.
      if (ys === null) {
        acc.fill(0);
        for (let k = 0; k < K; k++) {
          const w = lg[k];
          if (w === 0) continue;
          const kb = k * d;
          if (mode === Mode.Score) {
            for (let j = 0; j < d; j++) acc[j] -= w * (xd[off + j] - am[kb + j]) * iv[kb + j];
          } else {
            for (let j = 0; j < d; j++) acc[j] += w * (means[kb + j] + gain[kb + j] * (xd[off + j] - am[kb + j]));
          }
        }
        for (let j = 0; j < d; j++) od[off + j] = acc[j] * inv;
      } else {
        acc.fill(0);
        for (let k = 0; k < K; k++) {
          const w = lg[k] * inv;
          if (w === 0) continue;
          const kb = k * d;
          if (mode === Mode.Score) for (let j = 0; j < d; j++) y[j] = -ys[kb + j] * iv[kb + j];
          else for (let j = 0; j < d; j++) y[j] = ys[kb + j] * gain[kb + j];
          this.covariances[k].fromEigenbasis(y, r, 0);
          if (mode === Mode.Score) for (let j = 0; j < d; j++) acc[j] += w * r[j];
          else for (let j = 0; j < d; j++) acc[j] += w * (means[kb + j] + r[j]);
        }
        for (let j = 0; j < d; j++) od[off + j] = acc[j];
      }
    }
    return { value, out };
  }

  private checkVector(a: ArrayLike<number>): void {
    if (a.length !== this.dim) throw new RangeError(`${this.name}: tilt vector has ${a.length} values, expected ${this.dim}`);
  }
}
