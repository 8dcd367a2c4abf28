/**
 * The posterior inference problems of the amortized sampler (paper `amortized-...`, eq. 4–5):
 * for a noisy point `x_t` at time `t`,
 *
 *   p(x_0 | x_t) ∝ p(x_0) N(x_t | alpha_t x_0, sigma_t^2 I),                          (eq. 4)
 *
 * and the score target `s_hat(x_t) = (alpha_t E[x_0 | x_t] - x_t) / sigma_t^2`          (eq. 5).
 *
 * A batch of `B` problems is solved with `P` particles each: particle rows `b P .. (b+1) P - 1`
 * belong to problem `b` (the "groups" of `mcmc/ais`). The Gaussian likelihood, read as a density
 * of `x_0`, is `N(x_0 | x_t / alpha_t, (sigma_t / alpha_t)^2 I)` times the constant `alpha_t^-d`;
 * it is the base (proposal) of AIS and the start of the HMC chains, so that the geometric path
 * `base^(1-b) posterior^b ∝ base p^b` only ever anneals the prior in.
 */
import { makeBatch, type Batch } from '../core/batch.js';
import { normal, type Key } from '../core/key.js';
import type { ValueAndGrad } from '../core/types.js';
import type { LogDensityFn } from '../mcmc/types.js';

const LOG_2PI = Math.log(2 * Math.PI);

/** `B` noisy points with their own `alpha_t`, `sigma_t`. */
export interface PosteriorProblems {
  readonly xt: Batch;
  readonly alpha: Float64Array;
  readonly sigma: Float64Array;
  /** A reference prior that shapes the AIS base and the HMC starts (see `likelihoodBase`) [none]. */
  readonly reference?: GaussianReference;
}

/** Check the shapes and values of a set of problems (programming errors, not user input). */
export function checkProblems(p: PosteriorProblems): void {
  const B = p.xt.n;
  if (p.alpha.length !== B || p.sigma.length !== B) {
    throw new RangeError(`posterior problems: ${p.alpha.length} alphas and ${p.sigma.length} sigmas for ${B} points`);
  }
  for (let b = 0; b < B; b++) {
    if (!(p.alpha[b] > 0) || !(p.sigma[b] > 0) || !Number.isFinite(p.alpha[b]) || !Number.isFinite(p.sigma[b])) {
      throw new RangeError(`posterior problem ${b}: alpha and sigma must be positive and finite, got ${p.alpha[b]}, ${p.sigma[b]}`);
    }
  }
}

/**
 * A diagonal Gaussian reference prior `N(mean, diag(scale^2))` for the AIS base and the HMC
 * starts (see `likelihoodBase`), e.g. the moments of the replay buffer.
 */
export interface GaussianReference {
  readonly mean: Float64Array;
  readonly scale: Float64Array;
}

/** An isotropic reference `N(0, s^2 I)` in `dim` dimensions (`s = Infinity`: none). */
export function isotropicReference(dim: number, s: number): GaussianReference {
  if (!(s > 0)) throw new RangeError(`reference scale must be positive (Infinity for none), got ${s}`);
  return { mean: new Float64Array(dim), scale: new Float64Array(dim).fill(s) };
}

/**
 * The likelihood as a normalised density of `x_0`, for `particles` rows per problem:
 * `N(x_0 | x_t / alpha, (sigma / alpha)^2 I)` — or, given a reference prior `N(m, diag(s^2))`,
 * the posterior of the same likelihood under it, coordinate by coordinate
 * `N(x_0j | v_j (alpha x_tj / sigma^2 + m_j / s_j^2), v_j)`, `v_j = 1 / (alpha^2 / sigma^2 + 1 / s_j^2)`.
 * Why the second: at large t the likelihood is ~150 units wide while the target lives on a scale
 * of a few units (DW-4) or tens (GMM-40) — and, in GMM-40 5-D, of one unit in three of its five
 * coordinates; annealing from there cannot bring particles home (AIS weights degenerate: ESS ~1
 * of 100 at t >= 0.6 in 5-D, measured), whereas the reference posterior shrinks to the target's
 * scale and still equals the likelihood at small t. Any reference keeps AIS consistent; it only
 * changes its variance. A number is the isotropic reference `N(0, s^2 I)`.
 * Sampling row `r` uses the normals at positions `r d ..` of `normal(key, n d)`, so a row's draw
 * does not depend on how many rows are drawn.
 */
export function likelihoodBase(p: PosteriorProblems, particles: number, reference: number | GaussianReference = Infinity): { sample(key: Key, n: number): Batch; logDensity: LogDensityFn } {
  const d = p.xt.dim;
  const B = p.xt.n;
  const ref = typeof reference === 'number' ? isotropicReference(d, reference) : reference;
  if (ref.mean.length !== d || ref.scale.length !== d) throw new RangeError(`reference prior has ${ref.mean.length} means and ${ref.scale.length} scales for dimension ${d}`);
  for (let j = 0; j < d; j++) {
    if (!(ref.scale[j] > 0) || !Number.isFinite(ref.mean[j])) throw new RangeError(`reference prior, coordinate ${j}: need a finite mean and a positive scale, got ${ref.mean[j]}, ${ref.scale[j]}`);
  }
  const centre = new Float64Array(B * d);
  const sd = new Float64Array(B * d);
  const precision = new Float64Array(B * d);
  // Per problem: log of the normalising constant, -d/2 log(2 pi) - 1/2 sum_j log v_j (once, not per row).
  const logNorm = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const a = p.alpha[b];
    const s2 = p.sigma[b] * p.sigma[b];
    let c = -0.5 * d * LOG_2PI;
    for (let j = 0; j < d; j++) {
      const r2 = ref.scale[j] * ref.scale[j];
      const v = 1 / ((a * a) / s2 + 1 / r2);
      sd[b * d + j] = Math.sqrt(v);
      precision[b * d + j] = 1 / v;
      centre[b * d + j] = v * ((a * p.xt.data[b * d + j]) / s2 + ref.mean[j] / r2);
      c -= 0.5 * Math.log(v);
    }
    logNorm[b] = c;
  }
  const rows = B * particles;
  const check = (n: number): void => {
    if (n !== rows) throw new RangeError(`likelihood base: ${n} rows for ${B} problems x ${particles} particles`);
  };
  return {
    sample(key: Key, n: number): Batch {
      check(n);
      const z = normal(key, n * d);
      for (let r = 0; r < n; r++) {
        const b = (r / particles) | 0;
        for (let j = 0; j < d; j++) z[r * d + j] = centre[b * d + j] + sd[b * d + j] * z[r * d + j];
      }
      return makeBatch(n, d, z);
    },
    logDensity(x: Batch): ValueAndGrad {
      check(x.n);
      const value = new Float64Array(x.n);
      const grad = makeBatch(x.n, d);
      for (let r = 0; r < x.n; r++) {
        const b = (r / particles) | 0;
        let q = 0;
        for (let j = 0; j < d; j++) {
          const pr = precision[b * d + j];
          const u = x.data[r * d + j] - centre[b * d + j];
          q += u * u * pr;
          grad.data[r * d + j] = -u * pr;
        }
        value[r] = logNorm[b] - 0.5 * q;
      }
      return { value, grad };
    },
  };
}

/**
 * The unnormalised posterior log-density of eq. (4) for `particles` rows per problem:
 * `log p(x_0) + log N(x_t | alpha x_0, sigma^2 I)` and its gradient
 * `grad log p(x_0) + alpha (x_t - alpha x_0) / sigma^2`.
 */
export function posteriorLogDensity(prior: LogDensityFn, p: PosteriorProblems, particles: number): LogDensityFn {
  const base = likelihoodBase(p, particles);
  return (x: Batch): ValueAndGrad => {
    const pr = prior(x);
    // The likelihood's arrays are this module's own fresh ones: sum into them (the prior's output
    // belongs to the target and is left alone). This runs once per MCMC step of every particle.
    const lik = base.logDensity(x);
    for (let r = 0; r < x.n; r++) lik.value[r] += pr.value[r];
    for (let i = 0; i < lik.grad.data.length; i++) lik.grad.data[i] += pr.grad.data[i];
    return lik;
  };
}

/** `s_hat = (alpha x0hat - x_t) / sigma^2` (eq. 5) and the equivalent noise `eps_hat = -sigma s_hat`. */
export function scoreTargets(p: PosteriorProblems, x0hat: Batch): { score: Batch; noise: Batch } {
  const { n, dim } = p.xt;
  if (x0hat.n !== n || x0hat.dim !== dim) throw new RangeError(`score targets: x0hat is ${x0hat.n} x ${x0hat.dim}, problems are ${n} x ${dim}`);
  const score = makeBatch(n, dim);
  const noise = makeBatch(n, dim);
  for (let b = 0; b < n; b++) {
    const a = p.alpha[b];
    const s = p.sigma[b];
    for (let j = b * dim; j < (b + 1) * dim; j++) {
      const v = (a * x0hat.data[j] - p.xt.data[j]) / (s * s);
      score.data[j] = v;
      noise.data[j] = -s * v;
    }
  }
  return { score, noise };
}
