/**
 * Guidance through Tweedie's estimate, shared by DPS-style guidance (`dps.ts`) and the twisting
 * functions of TDS (`tds.ts`). At one time `t`, with `s = score(x, t)`:
 *
 *   x0h    = (x + sigma_t^2 s) / alpha_t                       (Tweedie, SPEC §1)
 *   logL   = log l(x0h),   g = grad log l (x0h)                (the weight at x0h as a free variable)
 *   guided = s + zeta J_{x0h}(x)^T g
 *          = s + zeta (g + sigma_t^2 H(x)^T g) / alpha_t       (chain rule through x0h; vjp.ts)
 *
 * so that `guided = grad_x [log p_t(x) + zeta log l(x0h(x))]`. Work: one score evaluation, one
 * `log l` value and gradient, one score VJP per row.
 */
import { firstNonFinite, type Batch } from '../core/batch.js';
import type { LogWeight, NoiseSchedule } from '../core/types.js';
import { meanFromScore } from '../diffusion/parametrisation.js';
import { tweedieVjp, type ScoreModelWithVjp } from './vjp.js';

export interface TweedieGuidance {
  /** `s(x, t)`. */
  readonly score: Batch;
  /** Tweedie's `E[x_0 | x_t = x]`. */
  readonly x0hat: Batch;
  /** `log l(x0hat)` per row. */
  readonly logL: Float64Array;
  /** `s + zeta grad_x log l(x0h(x))`. */
  readonly guided: Batch;
}

/** The quantities above at `(x, t)`; throws, naming `what`, on a non-finite value. */
export function tweedieGuidance(
  model: ScoreModelWithVjp, logWeight: LogWeight, schedule: NoiseSchedule, x: Batch, t: number, zeta: number, what: string,
): TweedieGuidance {
  const score = model.score(x, t);
  if (score.n !== x.n || score.dim !== x.dim) throw new RangeError(`${what}: score model returned ${score.n} x ${score.dim} for ${x.n} x ${x.dim}`);
  checkFinite(score.data, x.dim, `${what}: the score at t = ${t}`);
  const x0hat = meanFromScore(score, x, schedule, t);
  const { value: logL, grad } = logWeight.valueAndGrad(x0hat);
  if (logL.length !== x.n || grad.n !== x.n || grad.dim !== x.dim) {
    throw new RangeError(`${what}: log-weight returned ${logL.length} values and a ${grad.n} x ${grad.dim} gradient for ${x.n} x ${x.dim} points`);
  }
  for (let i = 0; i < logL.length; i++) {
    if (Number.isNaN(logL[i]) || logL[i] === Infinity) throw new RangeError(`${what}: log l(x0hat) is ${logL[i]} at row ${i}, t = ${t}`);
  }
  checkFinite(grad.data, x.dim, `${what}: grad log l(x0hat) at t = ${t}`);
  const guided = { n: x.n, dim: x.dim, data: new Float64Array(score.data) };
  if (zeta !== 0) {
    const jg = tweedieVjp(model, schedule, x, t, grad);
    for (let j = 0; j < guided.data.length; j++) guided.data[j] += zeta * jg.data[j];
    checkFinite(guided.data, x.dim, `${what}: the guided score at t = ${t}`);
  }
  return { score, x0hat, logL, guided };
}

function checkFinite(v: Float64Array, dim: number, what: string): void {
  const k = firstNonFinite(v);
  if (k >= 0) throw new RangeError(`${what} is not finite (${v[k]}) at row ${Math.floor(k / dim)}`);
}
