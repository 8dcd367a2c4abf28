/**
 * The variance-preserving SDE (Song et al. 2021, eq. 11; the continuous limit of DDPM):
 *
 *   dx = -1/2 beta(t) x dt + sqrt(beta(t)) dW,   beta(t) = betaMin + t (betaMax - betaMin),  t in [0, T].
 *
 * Its transition from `x_0` is Gaussian (Song et al. 2021, eq. 29):
 *   x_t | x_0 ~ N(alpha_t x_0, sigma_t^2 I),  alpha_t = exp(-1/2 B(t)),  sigma_t^2 = 1 - alpha_t^2,
 * with `B(t) = int_0^t beta = betaMin t + 1/2 (betaMax - betaMin) t^2`. ISSGM writes
 * `abar(t) = alpha_t^2` (SPEC §1). The prior standing in for `p_T` is `N(0, I)`; at the defaults
 * (0.1, 20, T = 1) `alpha_T^2 = exp(-10.05) ≈ 4.3e-5`, which is the size of that approximation.
 */
import { assertFinite, type Batch } from '../core/batch.js';
import { normalBatch, type Key } from '../core/key.js';
import { timeAt } from '../core/types.js';
import { meanFromScore } from './parametrisation.js';
import type { DiffusionSDE } from './types.js';

export interface VPSDEOptions {
  /** `beta(0)` [0.1]. */
  betaMin?: number;
  /** `beta(1)` [20]. */
  betaMax?: number;
  /** End time where the prior is used [1]. */
  T?: number;
}

const LOG_2PI = Math.log(2 * Math.PI);

export class VPSDE implements DiffusionSDE {
  readonly betaMin: number;
  readonly betaMax: number;
  readonly T: number;

  constructor(opts: VPSDEOptions = {}) {
    this.betaMin = opts.betaMin ?? 0.1;
    this.betaMax = opts.betaMax ?? 20;
    this.T = opts.T ?? 1;
    if (!(this.betaMin >= 0) || !(this.betaMax >= this.betaMin) || !(this.betaMax > 0)) {
      throw new RangeError(`VPSDE needs 0 <= betaMin <= betaMax, betaMax > 0; got ${this.betaMin}, ${this.betaMax}`);
    }
    if (!(this.T > 0) || !Number.isFinite(this.T)) throw new RangeError(`VPSDE needs T > 0, got ${this.T}`);
  }

  /** `beta(t) = betaMin + t (betaMax - betaMin)`. */
  beta(t: number): number {
    return this.betaMin + t * (this.betaMax - this.betaMin);
  }

  /** `B(t) = int_0^t beta(s) ds = betaMin t + 1/2 (betaMax - betaMin) t^2`. */
  integralBeta(t: number): number {
    return t * (this.betaMin + 0.5 * t * (this.betaMax - this.betaMin));
  }

  /** Inverse of `B` on `t >= 0`: the positive root of `1/2 d t^2 + betaMin t - B = 0`, written
   * as `2B / (betaMin + sqrt(betaMin^2 + 2 d B))` to avoid cancellation (and to allow `d = 0`). */
  timeFromIntegral(b: number): number {
    const d = this.betaMax - this.betaMin;
    return (2 * b) / (this.betaMin + Math.sqrt(this.betaMin * this.betaMin + 2 * d * b));
  }

  /** `log alpha_t = -1/2 B(t)`. */
  logAlpha(t: number): number {
    return -0.5 * this.integralBeta(t);
  }

  /** `alpha_t = exp(-1/2 B(t))`, the scale of `x_0` in `x_t`. */
  alpha(t: number): number {
    return Math.exp(-0.5 * this.integralBeta(t));
  }

  /** `sigma_t^2 = 1 - alpha_t^2 = -expm1(-B(t))`: expm1 keeps full relative accuracy as t -> 0. */
  sigma2(t: number): number {
    return Math.max(0, -Math.expm1(-this.integralBeta(t))); // max: +0, not -0, at t = 0
  }

  /** `sigma_t = sqrt(1 - alpha_t^2)`. */
  sigma(t: number): number {
    return Math.sqrt(this.sigma2(t));
  }

  /** `log SNR(t) = log(alpha_t^2 / sigma_t^2) = -B - log(-expm1(-B))`, decreasing in t. */
  logSnr(t: number): number {
    const b = this.integralBeta(t);
    return -b - Math.log(-Math.expm1(-b));
  }

  /** Inverse of `logSnr`: `alpha^2 = sigmoid(lambda)`, so `B = softplus(-lambda)`. */
  timeFromLogSnr(lambda: number): number {
    const b = lambda < 0 ? -lambda + Math.log1p(Math.exp(lambda)) : Math.log1p(Math.exp(-lambda));
    return this.timeFromIntegral(b);
  }

  /** Drift `f(x, t) = -1/2 beta(t) x`. */
  drift(x: Batch, t: number): Batch {
    const c = -0.5 * this.beta(t);
    const out = new Float64Array(x.data.length);
    for (let j = 0; j < out.length; j++) out[j] = c * x.data[j];
    return { n: x.n, dim: x.dim, data: out };
  }

  /** `g(t) = sqrt(beta(t))`. */
  diffusion(t: number): number {
    return Math.sqrt(this.beta(t));
  }

  /** `div f = -1/2 beta(t) dim` for every row (the drift is linear). */
  driftDivergence(x: Batch, t: number): Float64Array {
    return new Float64Array(x.n).fill(-0.5 * this.beta(t) * x.dim);
  }

  /**
   * `x_t = alpha_t x_0 + sigma_t eps` for given noise `eps` (pure; `t` one time or one per row).
   * Trainers that regress on `eps` use this with their own noise.
   */
  perturb(x0: Batch, eps: Batch, t: number | Float64Array): Batch {
    if (eps.n !== x0.n || eps.dim !== x0.dim) throw new RangeError('perturb: x0 and eps differ in shape');
    if (typeof t !== 'number' && t.length !== x0.n) throw new RangeError(`perturb: ${t.length} times for ${x0.n} rows`);
    const d = x0.dim;
    const out = new Float64Array(x0.data.length);
    for (let i = 0; i < x0.n; i++) {
      const ti = timeAt(t, i);
      const a = this.alpha(ti);
      const s = this.sigma(ti);
      for (let j = i * d; j < (i + 1) * d; j++) out[j] = a * x0.data[j] + s * eps.data[j];
    }
    return { n: x0.n, dim: d, data: out };
  }

  /** A draw of `x_t ~ N(alpha_t x_0, sigma_t^2 I)` (Song et al. 2021, eq. 29); noise from `key`. */
  marginal(key: Key, x0: Batch, t: number | Float64Array): Batch {
    return this.perturb(x0, normalBatch(key, x0.n, x0.dim), t);
  }

  /** `n` draws from the prior `N(0, I)` in `dim` dimensions. */
  priorSample(key: Key, n: number, dim: number): Batch {
    return normalBatch(key, n, dim);
  }

  /** `log N(x; 0, I)` per row. */
  priorLogDensity(x: Batch): Float64Array {
    const out = new Float64Array(x.n);
    const d = x.dim;
    for (let i = 0; i < x.n; i++) {
      let s = 0;
      for (let j = i * d; j < (i + 1) * d; j++) s += x.data[j] * x.data[j];
      out[i] = -0.5 * s - 0.5 * d * LOG_2PI;
    }
    return out;
  }

  /** Tweedie's formula `E[x_0 | x_t = x] = (x + sigma_t^2 s) / alpha_t` (SPEC §1), pure. */
  tweedie(x: Batch, score: Batch, t: number | Float64Array): Batch {
    const out = meanFromScore(score, x, this, t);
    assertFinite(out, 'VPSDE.tweedie');
    return out;
  }
}
