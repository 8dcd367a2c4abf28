/**
 * The variance-exploding SDE with the geometric noise schedule that iDEM uses (Akhound-Sadegh et
 * al. 2024, "Iterated Denoising Energy Matching for sampling from Boltzmann densities"; the VE SDE
 * is Song et al. 2021, eq. 9, with the geometric sigma of their App. C):
 *
 *   dx = g(t) dW,   g(t)^2 = 2 log(r) sigmaMin^2 r^(2t),   r = sigmaMax / sigmaMin,   t in [0, 1],
 *
 * so the drift is 0, `alpha(t) = 1`, and from `x_0` at t = 0 the marginal is exactly
 *
 *   x_t = x_0 + sigma(t) eps,   sigma(t)^2 = int_0^t g^2 = sigmaMin^2 (r^(2t) - 1),
 *
 * which is Song et al.'s VE transition kernel `N(x_0, [s(t)^2 - s(0)^2] I)` (their eq. 29) for the
 * geometric `s(t) = sigmaMin r^t`.
 *
 * This is the iDEM reference code's definition (`GeometricNoiseSchedule` in
 * jarridrb/DEM `dem/models/components/noise_schedules.py`: `g(t) = sigma_min r^t sqrt(2 log r)`,
 * citing Karras et al. 2022, arXiv:2206.00364 eq. 192 and 199,
 * `h(t) = sigma_min^2 (r^(2t) - 1)`, the noise variance used for training and for the MC score
 * estimator; the prior is `N(0, h(1) I)`, `dem_module.py` `setup`). It differs from the textbook
 * geometric `sigma(t) = sigmaMin r^t` only by `sigmaMin^2` in variance (1e-10 at sigmaMin = 1e-5)
 * and is chosen because then `sigma(0) = 0` and `g^2 = d sigma^2/dt` hold exactly: the forward SDE
 * from the data at t = 0 has exactly this marginal, and the reverse sampler ends on the data.
 *
 * iDEM's settings (jarridrb/DEM `configs/experiment/{gmm,dw4}_idem.yaml`): GMM-40 sigma_min 1e-5,
 * sigma_max 1.0 *in coordinates divided by 50* (`configs/energy/gmm.yaml`:
 * `data_normalization_factor: 50`; the amortized paper, App. C.4, notes the same scaling), i.e.
 * sigmaMin = 5e-4, sigmaMax = 50 in the data coordinates of this project's GMM-40 (the default
 * here, `VE_PRESETS.gmm40`); DW-4 sigma_min 1e-5, sigma_max 3 with no rescaling (`VE_PRESETS.dw4`).
 * The code's default (`configs/model/noise_schedule/geometric.yaml`) is 1e-3 and 1.
 * iDEM integrates the reverse SDE by Euler–Maruyama on a uniform grid from t = 1 to 0 with 1000
 * steps (`sde_integration.py`): `uniformTimeGrid(1000, { tMin: 0 })` with `sampleReverseSDE`.
 */
import { assertFinite, type Batch } from '../core/batch.js';
import { normalBatch, type Key } from '../core/key.js';
import { timeAt } from '../core/types.js';
import { meanFromScore } from './parametrisation.js';
import type { DiffusionSDE } from './types.js';

export interface VESDEOptions {
  /** `sigma_min` of the geometric schedule [5e-4: iDEM's GMM-40 value in data coordinates]. */
  sigmaMin?: number;
  /** `sigma_max` of the geometric schedule [50: iDEM's GMM-40 value in data coordinates]. */
  sigmaMax?: number;
}

/**
 * iDEM's schedules in this project's data coordinates (see the module comment for where each
 * number comes from): GMM-40 is 50 x (1e-5, 1) because iDEM trains on GMM-40 data divided by 50.
 */
export const VE_PRESETS = {
  gmm40: { sigmaMin: 5e-4, sigmaMax: 50 },
  dw4: { sigmaMin: 1e-5, sigmaMax: 3 },
} as const satisfies Record<string, Required<VESDEOptions>>;

const LOG_2PI = Math.log(2 * Math.PI);

export class VESDE implements DiffusionSDE {
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  /** The schedule is defined on [0, 1]; the prior stands in for `p_1`. */
  readonly T = 1;
  /** `log r = log(sigmaMax / sigmaMin)`. */
  readonly logRatio: number;

  constructor(opts: VESDEOptions = {}) {
    this.sigmaMin = opts.sigmaMin ?? VE_PRESETS.gmm40.sigmaMin;
    this.sigmaMax = opts.sigmaMax ?? VE_PRESETS.gmm40.sigmaMax;
    if (!(this.sigmaMin > 0) || !(this.sigmaMax > this.sigmaMin) || !Number.isFinite(this.sigmaMax)) {
      throw new RangeError(`VESDE needs 0 < sigmaMin < sigmaMax < Infinity, got ${this.sigmaMin}, ${this.sigmaMax}`);
    }
    this.logRatio = Math.log(this.sigmaMax / this.sigmaMin);
  }

  /** `alpha(t) = 1`: the VE SDE does not scale the data. */
  alpha(_t: number): number {
    return 1;
  }

  /** `sigma(t)^2 = sigmaMin^2 (r^(2t) - 1)`, by expm1 for full relative accuracy as t -> 0. */
  sigma2(t: number): number {
    return Math.max(0, this.sigmaMin * this.sigmaMin * Math.expm1(2 * t * this.logRatio)); // max: +0 at t = 0
  }

  /** `sigma(t) = sigmaMin sqrt(r^(2t) - 1)`. */
  sigma(t: number): number {
    return Math.sqrt(this.sigma2(t));
  }

  /** Inverse of `sigma` on `sigma >= 0`: `t = log1p(sigma^2 / sigmaMin^2) / (2 log r)`. */
  timeFromSigma(sigma: number): number {
    if (!(sigma >= 0)) throw new RangeError(`VESDE.timeFromSigma needs sigma >= 0, got ${sigma}`);
    return Math.log1p((sigma / this.sigmaMin) ** 2) / (2 * this.logRatio);
  }

  /** `log SNR(t) = log(alpha^2 / sigma^2) = -log sigma(t)^2`, decreasing in t. */
  logSnr(t: number): number {
    return -Math.log(this.sigma2(t));
  }

  /** Inverse of `logSnr`: `sigma^2 = exp(-lambda)`. */
  timeFromLogSnr(lambda: number): number {
    return Math.log1p(Math.exp(-lambda) / (this.sigmaMin * this.sigmaMin)) / (2 * this.logRatio);
  }

  /** Drift `f = 0` (a new zero batch of the shape of `x`). */
  drift(x: Batch, _t: number): Batch {
    return { n: x.n, dim: x.dim, data: new Float64Array(x.data.length) };
  }

  /** `g(t) = sigmaMin r^t sqrt(2 log r)`, so that `g^2 = d sigma^2 / dt`. */
  diffusion(t: number): number {
    return this.sigmaMin * Math.exp(t * this.logRatio) * Math.sqrt(2 * this.logRatio);
  }

  /** `div f = 0` for every row. */
  driftDivergence(x: Batch, _t: number): Float64Array {
    return new Float64Array(x.n);
  }

  /** `x_t = x_0 + sigma(t) eps` for given noise (pure; `t` one time or one per row). */
  perturb(x0: Batch, eps: Batch, t: number | Float64Array): Batch {
    if (eps.n !== x0.n || eps.dim !== x0.dim) throw new RangeError('perturb: x0 and eps differ in shape');
    if (typeof t !== 'number' && t.length !== x0.n) throw new RangeError(`perturb: ${t.length} times for ${x0.n} rows`);
    const d = x0.dim;
    const out = new Float64Array(x0.data.length);
    for (let i = 0; i < x0.n; i++) {
      const s = this.sigma(timeAt(t, i));
      for (let j = i * d; j < (i + 1) * d; j++) out[j] = x0.data[j] + s * eps.data[j];
    }
    return { n: x0.n, dim: d, data: out };
  }

  /** A draw of `x_t ~ N(x_0, sigma(t)^2 I)`; noise from `key` (row i uses values `i*dim..`). */
  marginal(key: Key, x0: Batch, t: number | Float64Array): Batch {
    return this.perturb(x0, normalBatch(key, x0.n, x0.dim), t);
  }

  /** `n` draws from the prior `N(0, sigma(1)^2 I)` (iDEM's `Prior(scale = h(1)^0.5)`). */
  priorSample(key: Key, n: number, dim: number): Batch {
    const z = normalBatch(key, n, dim);
    const s = this.sigma(this.T);
    for (let j = 0; j < z.data.length; j++) z.data[j] *= s;
    return z;
  }

  /** `log N(x; 0, sigma(1)^2 I)` per row. */
  priorLogDensity(x: Batch): Float64Array {
    const v = this.sigma2(this.T);
    const d = x.dim;
    const c = -0.5 * d * (LOG_2PI + Math.log(v));
    const out = new Float64Array(x.n);
    for (let i = 0; i < x.n; i++) {
      let q = 0;
      for (let j = i * d; j < (i + 1) * d; j++) q += x.data[j] * x.data[j];
      out[i] = c - (0.5 * q) / v;
    }
    return out;
  }

  /** Tweedie's formula with `alpha = 1`: `E[x_0 | x_t = x] = x + sigma(t)^2 s`, pure. */
  tweedie(x: Batch, score: Batch, t: number | Float64Array): Batch {
    const out = meanFromScore(score, x, this, t);
    assertFinite(out, 'VESDE.tweedie');
    return out;
  }
}
