/**
 * Exact model log-likelihood through the probability-flow ODE (Song et al. 2021, App. D.2;
 * the instantaneous change of variables of Chen et al. 2018, "Neural ODEs", Theorem 1):
 * along a solution of `dx/dt = v(x, t) = f(x, t) - 1/2 g(t)^2 s(x, t)`,
 *
 *   d/dt log p_t(x_t) = -div_x v(x_t, t),   so   log p_0(x_0) = log p_T(x_T) + int_0^T div v(x_t, t) dt,
 *
 * with `div v = div f - 1/2 g^2 tr(grad_x s)`. The state `x` and the running integral are advanced
 * together, from `tMin` (default 1e-5, Song et al.'s choice for likelihoods) up to T, by Heun's
 * method (or RK4 / Euler); `log p_T` is the SDE's prior. What is returned is therefore
 * `log p_tMin(x)` of the model, up to the integrator's error (second order in the step) and the
 * prior's mismatch with the true `p_T` (default VP SDE: `alpha_T ≈ 6.6e-3`, worth ~1e-2 nats on
 * data of scale 3; pass the exact `p_T` as `priorLogDensity` to remove it in tests).
 *
 * Divergence of the score: exact Jacobian trace by central differences,
 *   tr(grad s)(x) ≈ sum_j [s_j(x + h_j e_j) - s_j(x - h_j e_j)] / (2 h_j),  h_j = h max(1, |x_j|),
 * 2 dim extra score evaluations per velocity (all rows and perturbations in one batched call); the
 * truncation error is O(h^2 s''') and the rounding error O(eps |s| / h), so h = 1e-4 balances them
 * for scores of unit scale (and the difference is exact for linear scores, e.g. Gaussian data).
 * For high dimension, the Hutchinson estimator `E_v[v^T (grad s) v]` (Hutchinson 1989; FFJORD,
 * Grathwohl et al. 2019) with the directional derivative also by central differences: 2 extra
 * evaluations per probe, probes fixed along the trajectory (as FFJORD does), unbiased.
 */
import { assertFinite, type Batch } from '../core/batch.js';
import { foldIn, normal, uniform, type Key } from '../core/key.js';
import type { ScoreModel } from '../core/types.js';
import { checkScore } from './common.js';
import { resolveEncodeGrid, type EncodeOptions, type OdeMethod } from './pfode.js';
import type { DiffusionSDE } from './types.js';

/** How to estimate `tr(grad_x s)`. */
export type DivergenceOptions =
  | { kind: 'exact'; /** Finite-difference step [1e-4], scaled by max(1, |x_j|). */ h?: number }
  | {
    kind: 'hutchinson';
    /** Key of the probe vectors (drawn once, kept along the trajectory). */
    key: Key;
    /** Probes per row [1]. */
    probes?: number;
    /** Probe distribution ['rademacher']. */
    noise?: 'rademacher' | 'gaussian';
    /** Finite-difference step along the probe [1e-4]. */
    h?: number;
  };

export interface ScoreAndDivergence {
  readonly score: Batch;
  /** `tr(grad_x s)` (or its estimate) per row. */
  readonly div: Float64Array;
}

/** `[x; x + d_1; x - d_1; ...; x + d_M; x - d_M]` stacked as one batch (for a single score call). */
function stackPerturbed(x: Batch, deltas: Float64Array[]): Batch {
  const len = x.data.length;
  const out = new Float64Array(len * (1 + 2 * deltas.length));
  out.set(x.data, 0);
  deltas.forEach((d, m) => {
    const p = out.subarray(len * (1 + 2 * m), len * (2 + 2 * m));
    const q = out.subarray(len * (2 + 2 * m), len * (3 + 2 * m));
    for (let j = 0; j < len; j++) {
      p[j] = x.data[j] + d[j];
      q[j] = x.data[j] - d[j];
    }
  });
  return { n: x.n * (1 + 2 * deltas.length), dim: x.dim, data: out };
}

function callScore(model: ScoreModel, y: Batch, t: number): Batch {
  const s = model.score(y, t);
  checkScore(model, y, s, 'score divergence');
  return s;
}

/** Score and exact Jacobian trace by central differences (one score call on `n (1 + 2 dim)` rows). */
export function scoreDivergenceExact(model: ScoreModel, x: Batch, t: number, h = 1e-4): ScoreAndDivergence {
  const { n, dim } = x;
  const steps = new Float64Array(n * dim);
  for (let j = 0; j < steps.length; j++) steps[j] = h * Math.max(1, Math.abs(x.data[j]));
  const deltas: Float64Array[] = [];
  for (let c = 0; c < dim; c++) {
    const d = new Float64Array(n * dim);
    for (let i = 0; i < n; i++) d[i * dim + c] = steps[i * dim + c];
    deltas.push(d);
  }
  const s = callScore(model, stackPerturbed(x, deltas), t);
  const len = n * dim;
  const div = new Float64Array(n);
  for (let c = 0; c < dim; c++) {
    const plus = len * (1 + 2 * c);
    const minus = len * (2 + 2 * c);
    for (let i = 0; i < n; i++) {
      const j = i * dim + c;
      div[i] += (s.data[plus + j] - s.data[minus + j]) / (2 * steps[j]);
    }
  }
  return { score: { n, dim, data: s.data.slice(0, len) }, div };
}

/** Probe vectors of a Hutchinson estimate: `probes` batches of the shape of `x`, from `key`. */
export function hutchinsonProbes(
  key: Key, n: number, dim: number, probes = 1, noise: 'rademacher' | 'gaussian' = 'rademacher',
): Float64Array[] {
  const out: Float64Array[] = [];
  for (let m = 0; m < probes; m++) {
    const k = foldIn(key, m);
    if (noise === 'gaussian') out.push(normal(k, n * dim).slice());
    else out.push(uniform(k, n * dim).map((u) => (u < 0.5 ? -1 : 1)));
  }
  return out;
}

/**
 * Score and the Hutchinson estimate `mean_m v_m . [s(x + h v_m) - s(x - h v_m)] / (2h)` of
 * `tr(grad s)` for the given probes (one score call on `n (1 + 2 M)` rows).
 */
export function scoreDivergenceHutchinson(
  model: ScoreModel, x: Batch, t: number, probes: Float64Array[], h = 1e-4,
): ScoreAndDivergence {
  const { n, dim } = x;
  const len = n * dim;
  for (const v of probes) if (v.length !== len) throw new RangeError('scoreDivergenceHutchinson: probe shape differs from x');
  const s = callScore(model, stackPerturbed(x, probes.map((v) => v.map((u) => h * u))), t);
  const div = new Float64Array(n);
  probes.forEach((v, m) => {
    const plus = len * (1 + 2 * m);
    const minus = len * (2 + 2 * m);
    for (let j = 0; j < len; j++) {
      div[Math.floor(j / dim)] += (v[j] * (s.data[plus + j] - s.data[minus + j])) / (2 * h * probes.length);
    }
  });
  return { score: { n, dim, data: s.data.slice(0, len) }, div };
}

export interface LikelihoodOptions extends Omit<EncodeOptions, 'callback' | 'method' | 'steps' | 'tMin'> {
  /** Steps of the default uniform grid [200]. */
  steps?: number;
  /** Start time of the default grid [1e-5]. */
  tMin?: number;
  /** Integrator of the augmented ODE ['heun']. */
  method?: OdeMethod;
  /** Divergence estimator [{ kind: 'exact' }]. */
  divergence?: DivergenceOptions;
  /** `log p_T` at the end point [the SDE's prior]; a test may pass the exact `p_T`. */
  priorLogDensity?: (xT: Batch) => Float64Array;
}

export interface LikelihoodResult {
  /** `log p_tMin(x)` of the model, per row. */
  readonly logp: Float64Array;
  /** `log p_T(x_T)` per row. */
  readonly priorLogp: Float64Array;
  /** `int_tMin^T div v dt` per row (so `logp = priorLogp + deltaLogp`). */
  readonly deltaLogp: Float64Array;
  /** The encoded points `x_T`. */
  readonly xT: Batch;
  /** Score evaluations, counted per row. */
  readonly nfe: number;
}

/**
 * `log p(x)` of the model by the probability-flow ODE (see the file comment). Default grid: 200
 * uniform Heun steps from tMin = 1e-5 to T. Pure; deterministic (Hutchinson: given its key).
 * Cost per row: `2 (1 + 2 dim)` score evaluations per Heun step with the exact trace.
 */
export function odeLogLikelihood(model: ScoreModel, sde: DiffusionSDE, x: Batch, opts: LikelihoodOptions = {}): LikelihoodResult {
  const grid = resolveEncodeGrid(sde, { ...opts, steps: opts.steps ?? 200, tMin: opts.tMin ?? 1e-5 }, 'odeLogLikelihood');
  if (x.dim !== model.dim) throw new RangeError(`odeLogLikelihood: x has dimension ${x.dim}, model ${model.dim}`);
  const dv = opts.divergence ?? { kind: 'exact' };
  const probes = dv.kind === 'hutchinson' ? hutchinsonProbes(dv.key, x.n, x.dim, dv.probes ?? 1, dv.noise ?? 'rademacher') : [];
  const perCall = 1 + 2 * (dv.kind === 'exact' ? x.dim : probes.length);
  let nfe = 0;
  // The augmented field: (v(y, t), div v(y, t)).
  const field = (y: Batch, t: number): [Float64Array, Float64Array] => {
    const sd = dv.kind === 'exact' ? scoreDivergenceExact(model, y, t, dv.h ?? 1e-4) : scoreDivergenceHutchinson(model, y, t, probes, dv.h ?? 1e-4);
    nfe += perCall;
    const f = sde.drift(y, t);
    const divF = sde.driftDivergence(y, t);
    const g = sde.diffusion(t);
    const c = 0.5 * g * g;
    const v = new Float64Array(y.data.length);
    for (let j = 0; j < v.length; j++) v[j] = f.data[j] - c * sd.score.data[j];
    const dl = new Float64Array(y.n);
    for (let i = 0; i < y.n; i++) dl[i] = divF[i] - c * sd.div[i];
    return [v, dl];
  };
  const add = (base: Float64Array, ks: Float64Array[], cs: number[]): Float64Array => {
    const out = base.slice();
    ks.forEach((k, m) => {
      for (let j = 0; j < out.length; j++) out[j] += cs[m] * k[j];
    });
    return out;
  };
  const asBatch = (data: Float64Array): Batch => ({ n: x.n, dim: x.dim, data });
  let y: Float64Array = x.data.slice();
  let ell: Float64Array = new Float64Array(x.n);
  const method = opts.method ?? 'heun';
  for (let k = 0; k + 1 < grid.length; k++) {
    const t = grid[k];
    const h = grid[k + 1] - t;
    const [v1, l1] = field(asBatch(y), t);
    if (method === 'euler') {
      y = add(y, [v1], [h]);
      ell = add(ell, [l1], [h]);
    } else if (method === 'heun') {
      const [v2, l2] = field(asBatch(add(y, [v1], [h])), t + h);
      y = add(y, [v1, v2], [h / 2, h / 2]);
      ell = add(ell, [l1, l2], [h / 2, h / 2]);
    } else if (method === 'rk4') {
      const [v2, l2] = field(asBatch(add(y, [v1], [h / 2])), t + h / 2);
      const [v3, l3] = field(asBatch(add(y, [v2], [h / 2])), t + h / 2);
      const [v4, l4] = field(asBatch(add(y, [v3], [h])), t + h);
      const w = [h / 6, h / 3, h / 3, h / 6];
      y = add(y, [v1, v2, v3, v4], w);
      ell = add(ell, [l1, l2, l3, l4], w);
    } else {
      throw new RangeError(`unknown ODE method ${String(method)}`);
    }
  }
  const xT = asBatch(y);
  assertFinite(xT, 'odeLogLikelihood end point');
  const priorLogp = (opts.priorLogDensity ?? ((b: Batch) => sde.priorLogDensity(b)))(xT);
  const logp = new Float64Array(x.n);
  for (let i = 0; i < x.n; i++) logp[i] = priorLogp[i] + ell[i];
  return { logp, priorLogp, deltaLogp: ell, xT, nfe };
}
