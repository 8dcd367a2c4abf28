/**
 * The discrete DDPM noise schedule (Ho et al. 2020, Sec. 4): `T` steps, `beta_i` linear from
 * `betaStart` to `betaEnd` (defaults 1e-4 and 0.02, the paper's), `abar_i = prod_{j<=i} (1 - beta_j)`,
 * `x_i | x_0 ~ N(sqrt(abar_i) x_0, (1 - abar_i) I)` (their eq. 4).
 *
 * It implements the continuous `NoiseSchedule` through the time map `t_i = i / T` (i = 0..T, with
 * `abar_0 = 1`), so the exact diffused scores of `targets/` (which only ask for `alpha(t)` and
 * `sigma(t)`) serve it unchanged: the score of step i is `score(x, i / T)`. Between grid points
 * `log abar` is interpolated linearly in t (so `alpha` is continuous and decreasing); solvers of
 * this schedule only ever ask at grid points, where the values are exact.
 *
 * Its continuous limit is the VP SDE with `betaMin = T betaStart`, `betaMax = T betaEnd`
 * (Song et al. 2021, App. B): `continuousLimit()` returns it (T = 1000 gives 0.1 and 20).
 */
import type { NoiseSchedule } from '../core/types.js';
import { VPSDE } from './vp.js';

export interface DDPMScheduleOptions {
  /** Number of steps `T` [1000]. */
  steps?: number;
  /** `beta_1` [1e-4]. */
  betaStart?: number;
  /** `beta_T` [0.02]. */
  betaEnd?: number;
}

export class DDPMSchedule implements NoiseSchedule {
  readonly steps: number;
  readonly betaStart: number;
  readonly betaEnd: number;
  /** `beta_i` at index i = 1..T (`betas[0]` is 0, unused, so that indices match the paper). */
  readonly betas: Float64Array;
  /** `log abar_i` for i = 0..T (`logAlphaBars[0] = 0`), accumulated with log1p for accuracy. */
  readonly logAlphaBars: Float64Array;

  constructor(opts: DDPMScheduleOptions = {}) {
    this.steps = opts.steps ?? 1000;
    this.betaStart = opts.betaStart ?? 1e-4;
    this.betaEnd = opts.betaEnd ?? 0.02;
    const T = this.steps;
    if (!Number.isInteger(T) || T < 1) throw new RangeError(`DDPMSchedule needs a positive integer step count, got ${T}`);
    if (!(this.betaStart > 0) || !(this.betaEnd >= this.betaStart) || !(this.betaEnd < 1)) {
      throw new RangeError(`DDPMSchedule needs 0 < betaStart <= betaEnd < 1, got ${this.betaStart}, ${this.betaEnd}`);
    }
    this.betas = new Float64Array(T + 1);
    this.logAlphaBars = new Float64Array(T + 1);
    for (let i = 1; i <= T; i++) {
      // Linear in i, exactly betaStart at i = 1 and betaEnd at i = T (torch.linspace).
      const b = T === 1 ? this.betaStart : this.betaStart + ((i - 1) / (T - 1)) * (this.betaEnd - this.betaStart);
      this.betas[i] = b;
      this.logAlphaBars[i] = this.logAlphaBars[i - 1] + Math.log1p(-b);
    }
  }

  /** `beta_i`. */
  beta(i: number): number {
    this.checkIndex(i, 1);
    return this.betas[i];
  }

  /** `abar_i = prod_{j<=i} (1 - beta_j)`, `abar_0 = 1`. */
  alphaBar(i: number): number {
    this.checkIndex(i, 0);
    return Math.exp(this.logAlphaBars[i]);
  }

  /** The continuous time of index i: `t_i = i / T`. */
  time(i: number): number {
    return i / this.steps;
  }

  /** The index whose time is nearest to t (`round(t T)`). */
  index(t: number): number {
    this.checkTime(t);
    return Math.round(t * this.steps);
  }

  /** `log abar(t)`: exact at `t = i/T`, linear in t between grid points. */
  logAlphaBar(t: number): number {
    this.checkTime(t);
    const u = t * this.steps;
    const i = Math.min(Math.floor(u), this.steps - 1);
    const w = u - i;
    if (w === 0) return this.logAlphaBars[i];
    return (1 - w) * this.logAlphaBars[i] + w * this.logAlphaBars[i + 1];
  }

  /** `alpha(t) = sqrt(abar(t))`. */
  alpha(t: number): number {
    return Math.exp(0.5 * this.logAlphaBar(t));
  }

  /** `sigma(t) = sqrt(1 - abar(t))`, by expm1 for accuracy near t = 0. */
  sigma(t: number): number {
    return Math.sqrt(Math.max(0, -Math.expm1(this.logAlphaBar(t)))); // max: +0, not -0, at t = 0
  }

  /** The VP SDE this schedule discretises (`betaMin = T betaStart`, `betaMax = T betaEnd`). */
  continuousLimit(): VPSDE {
    return new VPSDE({ betaMin: this.steps * this.betaStart, betaMax: this.steps * this.betaEnd });
  }

  private checkIndex(i: number, lo: number): void {
    if (!Number.isInteger(i) || i < lo || i > this.steps) {
      throw new RangeError(`DDPM index must be an integer in [${lo}, ${this.steps}], got ${i}`);
    }
  }

  private checkTime(t: number): void {
    if (!(t >= 0 && t <= 1)) throw new RangeError(`DDPM time must lie in [0, 1], got ${t}`);
  }
}
