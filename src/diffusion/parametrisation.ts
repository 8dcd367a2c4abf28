/**
 * The three parametrisations of a score network (SPEC §1), as pure conversions between outputs at
 * the same `(x, t)` of a Gaussian-marginal diffusion `x_t = alpha_t x_0 + sigma_t eps`:
 *
 *  - score  `s(x, t) ≈ grad_x log p_t(x)`;
 *  - noise  `eps(x, t) ≈ E[eps | x_t = x]`, with `s = -eps / sigma_t`
 *    (Ho et al. 2020 eq. 11; Song et al. 2021 App. C);
 *  - mean   `x0(x, t) ≈ E[x_0 | x_t = x]`, with `s = (alpha_t x0 - x) / sigma_t^2`, the inverse of
 *    Tweedie's formula `x0 = (x + sigma_t^2 s) / alpha_t` (Efron 2011).
 *
 * All of them take `t` as one time or one time per row, and never mutate their inputs.
 * `scoreModelFrom` wraps a network of any parametrisation as a `ScoreModel`, so that every solver
 * sees one interface.
 */
import { assertSameDim, type Batch } from '../core/batch.js';
import type { NoiseSchedule, ScoreModel } from '../core/types.js';
import { timeAt } from '../core/types.js';

export type Parametrisation = 'score' | 'noise' | 'mean';

function checkTimes(b: Batch, t: number | Float64Array, what: string): void {
  if (typeof t !== 'number' && t.length !== b.n) {
    throw new RangeError(`${what}: ${t.length} times for ${b.n} rows`);
  }
}

/** `y_i = a(t_i) * u_i` row by row, as a new batch. */
function scaleRows(u: Batch, t: number | Float64Array, a: (t: number) => number): Batch {
  const out = new Float64Array(u.data.length);
  const d = u.dim;
  let c = typeof t === 'number' ? a(t) : 0;
  for (let i = 0; i < u.n; i++) {
    if (typeof t !== 'number') c = a(t[i]);
    for (let j = i * d; j < (i + 1) * d; j++) out[j] = c * u.data[j];
  }
  return { n: u.n, dim: d, data: out };
}

/** Score from a noise prediction: `s = -eps / sigma_t`. */
export function scoreFromNoise(eps: Batch, schedule: NoiseSchedule, t: number | Float64Array): Batch {
  checkTimes(eps, t, 'scoreFromNoise');
  return scaleRows(eps, t, (s) => -1 / schedule.sigma(s));
}

/** Noise prediction from a score: `eps = -sigma_t s`. */
export function noiseFromScore(score: Batch, schedule: NoiseSchedule, t: number | Float64Array): Batch {
  checkTimes(score, t, 'noiseFromScore');
  return scaleRows(score, t, (s) => -schedule.sigma(s));
}

/** Score from a mean (x0) prediction at state `x`: `s = (alpha_t x0 - x) / sigma_t^2`. */
export function scoreFromMean(x0: Batch, x: Batch, schedule: NoiseSchedule, t: number | Float64Array): Batch {
  assertSameDim(x0, x, 'scoreFromMean');
  if (x0.n !== x.n) throw new RangeError(`scoreFromMean: ${x0.n} means for ${x.n} states`);
  checkTimes(x, t, 'scoreFromMean');
  const d = x.dim;
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < x.n; i++) {
    const ti = timeAt(t, i);
    const a = schedule.alpha(ti);
    const s = schedule.sigma(ti);
    const inv = 1 / (s * s);
    for (let j = i * d; j < (i + 1) * d; j++) out[j] = (a * x0.data[j] - x.data[j]) * inv;
  }
  return { n: x.n, dim: d, data: out };
}

/**
 * Mean (x0) prediction from a score at state `x`, i.e. Tweedie's formula
 * `E[x_0 | x_t = x] = (x + sigma_t^2 s(x, t)) / alpha_t` (SPEC §1).
 */
export function meanFromScore(score: Batch, x: Batch, schedule: NoiseSchedule, t: number | Float64Array): Batch {
  assertSameDim(score, x, 'meanFromScore');
  if (score.n !== x.n) throw new RangeError(`meanFromScore: ${score.n} scores for ${x.n} states`);
  checkTimes(x, t, 'meanFromScore');
  const d = x.dim;
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < x.n; i++) {
    const ti = timeAt(t, i);
    const a = schedule.alpha(ti);
    const s = schedule.sigma(ti);
    const s2 = s * s;
    const inv = 1 / a;
    for (let j = i * d; j < (i + 1) * d; j++) out[j] = (x.data[j] + s2 * score.data[j]) * inv;
  }
  return { n: x.n, dim: d, data: out };
}

/** Tweedie's denoised mean; the same as `meanFromScore`, under the name the papers use. */
export const tweedie = meanFromScore;

/** Convert a network output of parametrisation `kind` at `(x, t)` to a score. */
export function toScore(
  kind: Parametrisation, output: Batch, x: Batch, schedule: NoiseSchedule, t: number | Float64Array,
): Batch {
  switch (kind) {
    case 'score': return output;
    case 'noise': return scoreFromNoise(output, schedule, t);
    case 'mean': return scoreFromMean(output, x, schedule, t);
  }
}

/** Convert a score at `(x, t)` to the output a network of parametrisation `kind` would give. */
export function fromScore(
  kind: Parametrisation, score: Batch, x: Batch, schedule: NoiseSchedule, t: number | Float64Array,
): Batch {
  switch (kind) {
    case 'score': return score;
    case 'noise': return noiseFromScore(score, schedule, t);
    case 'mean': return meanFromScore(score, x, schedule, t);
  }
}

/** Anything that maps `(x, t)` to a batch of the shape of `x` (a network's forward pass). */
export interface Predictor {
  readonly dim: number;
  predict(x: Batch, t: number | Float64Array): Batch;
}

/** A `ScoreModel` from a network of any parametrisation (the conversion happens per call). */
export function scoreModelFrom(kind: Parametrisation, net: Predictor, schedule: NoiseSchedule): ScoreModel {
  return {
    dim: net.dim,
    score: (x, t) => toScore(kind, net.predict(x, t), x, schedule, t),
  };
}
