/**
 * The multivariate normal `N(mu, S)` as a normalised, exactly sampleable target, with its exact
 * diffused score and its exact exponential tilt (the closed-form ground truths of DESIGN.md,
 * "How to test a sampler", item 2).
 */
import { makeBatch, type Batch } from '../core/batch.js';
import { normal, type Key } from '../core/key.js';
import type { NoiseSchedule, SampleableTarget, ScoreModel, ValueAndGrad } from '../core/types.js';
import { EigenCovariance, type CovarianceSpec } from './covariance.js';

const LOG_2PI = Math.log(2 * Math.PI);

function checkTime(t: number | Float64Array, n: number): void {
  if (typeof t !== 'number' && t.length !== n) {
    throw new RangeError(`score: ${t.length} times for ${n} rows (give one time, or one per row)`);
  }
}

export class Gaussian implements SampleableTarget {
  readonly name: string;
  readonly dim: number;
  readonly mean: Float64Array;
  readonly covariance: EigenCovariance;

  /**
   * @param mean the mean vector
   * @param cov `{std}` / `{variance}` (scalar: isotropic, array: diagonal) or `{cov}` (full,
   *   symmetric positive definite; an Error names the smallest eigenvalue otherwise)
   */
  constructor(mean: ArrayLike<number>, cov: CovarianceSpec | EigenCovariance, name = 'gaussian') {
    this.dim = mean.length;
    if (this.dim < 1) throw new RangeError('Gaussian: the mean must have at least one coordinate');
    this.mean = Float64Array.from(mean);
    if (this.mean.some((v) => !Number.isFinite(v))) throw new RangeError('Gaussian: the mean must be finite');
    this.covariance = EigenCovariance.fromSpec(cov, this.dim, 'Gaussian');
    this.name = name;
  }

  /** The dense covariance matrix (row-major). */
  covarianceMatrix(): Float64Array {
    return this.covariance.matrix();
  }

  logDensity(x: Batch): Float64Array {
    return this.evaluate(x, 1, 0, false).value;
  }

  logDensityAndGrad(x: Batch): ValueAndGrad {
    return this.evaluate(x, 1, 0, true);
  }

  /**
   * `log N(x; alpha mu, alpha^2 S + sigma^2 I)` and its gradient. With `y = U^T (x - alpha mu)`
   * and `v = alpha^2 lambda + sigma^2`: `log p = -1/2 (sum y^2/v + sum log v + d log 2 pi)`,
   * `grad = -U (y / v)`.
   */
  private evaluate(x: Batch, alpha: number, sigma: number, wantGrad: true): ValueAndGrad;
  private evaluate(x: Batch, alpha: number, sigma: number, wantGrad: false): { value: Float64Array };
  private evaluate(x: Batch, alpha: number, sigma: number, wantGrad: boolean): { value: Float64Array; grad?: Batch } {
    this.checkDim(x);
    const d = this.dim;
    const c = this.covariance;
    const inv = new Float64Array(d);
    let logDet = 0;
    for (let j = 0; j < d; j++) {
      const v = alpha * alpha * c.values[j] + sigma * sigma;
      if (!(v > 0)) throw new RangeError(`${this.name}: degenerate diffused covariance at alpha=${alpha}, sigma=${sigma}`);
      inv[j] = 1 / v;
      logDet += Math.log(v);
    }
    const norm = -0.5 * (logDet + d * LOG_2PI);
    const value = new Float64Array(x.n);
    const grad = wantGrad ? makeBatch(x.n, d) : undefined;
    const r = new Float64Array(d);
    const y = new Float64Array(d);
    for (let i = 0; i < x.n; i++) {
      const off = i * d;
      for (let j = 0; j < d; j++) r[j] = x.data[off + j] - alpha * this.mean[j];
      c.toEigenbasis(r, 0, y);
      let q = 0;
      for (let j = 0; j < d; j++) {
        q += y[j] * y[j] * inv[j];
        y[j] *= -inv[j];
      }
      value[i] = norm - 0.5 * q;
      if (grad) c.fromEigenbasis(y, grad.data, off);
    }
    return grad ? { value, grad } : { value };
  }

  /** Exact samples `mu + U sqrt(lambda) z`, `z ~ N(0, I)`; row i depends only on the key and i. */
  sample(key: Key, n: number): Batch {
    const d = this.dim;
    const z = normal(key, n * d);
    const out = makeBatch(n, d);
    const sd = this.covariance.values.map(Math.sqrt);
    const y = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) y[j] = sd[j] * z[i * d + j];
      this.covariance.fromEigenbasis(y, out.data, i * d);
      for (let j = 0; j < d; j++) out.data[i * d + j] += this.mean[j];
    }
    return out;
  }

  /** The marginal of `x_t = alpha x_0 + sigma eps`: `N(alpha mu, alpha^2 S + sigma^2 I)`. */
  diffused(alpha: number, sigma: number): Gaussian {
    return new Gaussian(
      this.mean.map((m) => alpha * m),
      this.covariance.scaledPlusIdentity(alpha * alpha, sigma * sigma),
      `${this.name}-diffused`,
    );
  }

  /**
   * The exact score of the diffused marginal, `grad_x log p_t(x) = -(alpha^2 S + sigma^2 I)^{-1}
   * (x - alpha mu)`, for one time or one time per row (O(d^2) per row: the eigenvectors do not
   * depend on t).
   */
  diffusedScore(schedule: NoiseSchedule): ScoreModel {
    return {
      dim: this.dim,
      score: (x: Batch, t: number | Float64Array): Batch => {
        this.checkDim(x);
        checkTime(t, x.n);
        if (typeof t === 'number') return this.evaluate(x, schedule.alpha(t), schedule.sigma(t), true).grad;
        const out = makeBatch(x.n, this.dim);
        const d = this.dim;
        const c = this.covariance;
        const r = new Float64Array(d);
        const y = new Float64Array(d);
        for (let i = 0; i < x.n; i++) {
          const a = schedule.alpha(t[i]);
          const s = schedule.sigma(t[i]);
          for (let j = 0; j < d; j++) r[j] = x.data[i * d + j] - a * this.mean[j];
          c.toEigenbasis(r, 0, y);
          for (let j = 0; j < d; j++) {
            const v = a * a * c.values[j] + s * s;
            if (!(v > 0)) throw new RangeError(`${this.name}: degenerate diffused covariance at alpha=${a}, sigma=${s}`);
            y[j] *= -1 / v;
          }
          c.fromEigenbasis(y, out.data, i * d);
        }
        return out;
      },
    };
  }

  /** Exact score of the diffused marginal at given `alpha`, `sigma` (one for all rows). */
  scoreAt(x: Batch, alpha: number, sigma: number): Batch {
    return this.evaluate(x, alpha, sigma, true).grad;
  }

  /**
   * The exponential tilt `q(x) ∝ exp(a.x) N(x; mu, S)`: completing the square gives
   * `q = N(mu + S a, S)`.
   */
  tilted(a: ArrayLike<number>): Gaussian {
    this.checkVector(a);
    const sa = this.covariance.apply(a);
    return new Gaussian(this.mean.map((m, j) => m + sa[j]), this.covariance, `${this.name}-tilted`);
  }

  /** `log E_p[exp(a.x)] = a.mu + a^T S a / 2` (the Gaussian moment generating function). */
  logNormalizerOfTilt(a: ArrayLike<number>): number {
    this.checkVector(a);
    let s = 0;
    for (let j = 0; j < this.dim; j++) s += a[j] * this.mean[j];
    return s + 0.5 * this.covariance.quadratic(a);
  }

  private checkVector(a: ArrayLike<number>): void {
    if (a.length !== this.dim) throw new RangeError(`${this.name}: tilt vector has ${a.length} values, expected ${this.dim}`);
  }

  private checkDim(x: Batch): void {
    if (x.dim !== this.dim) throw new RangeError(`${this.name}: points have dimension ${x.dim}, expected ${this.dim}`);
  }
}
