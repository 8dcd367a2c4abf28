/**
 * SNIR: self-normalised importance resampling (SPEC §2, baseline 1; Rubin 1988, "Using the SIR
 * algorithm to simulate posterior distributions"; Smith & Gelfand 1992).
 *
 *   1. draw a pool `x_1..x_M ~ p` with the plain reverse SDE (`sampleReverseSDE`);
 *   2. log-weights `log w_i = log l(x_i)`, normalised `w_i = l(x_i) / sum_j l(x_j)`;
 *   3. resample `n` of them with probabilities `w` (systematic by default).
 *
 * For any test function f, `sum_i w_i f(x_i)` is consistent for `E_q[f]`, `q ∝ l p_model`
 * (`p_model` the law of the plain sampler's output), with the delta-method variance
 * `sum_i w_i^2 (f(x_i) - mu)^2` (`selfNormalisedMean`). `mean_i l(x_i)` is unbiased for `E_p[l]`.
 *
 * Work: `M (steps + 1)` score evaluations (with `denoiseLast`) and `M` values of `log l`, no
 * gradient; per output sample `(M / n) (steps + 1)`.
 */
import type { Batch } from '../core/batch.js';
import { split, type Key } from '../core/key.js';
import type { LogWeight, ScoreModel } from '../core/types.js';
import type { SamplerGridOptions } from '../diffusion/common.js';
import { sampleReverseSDE } from '../diffusion/em.js';
import type { DiffusionSDE } from '../diffusion/types.js';
import { essFromLogWeights, logSumExp } from '../metrics/ess.js';
import { countedLogWeight, countedScoreModel, zeroCounts, type EvaluationCounts } from './counting.js';
import { gatherRows, resampleIndices, type ResamplingScheme } from './resampling.js';

export interface SnirOptions extends SamplerGridOptions {
  /** Number of output samples. */
  n: number;
  /** Number of `p` samples drawn and weighted [n]. */
  pool?: number;
  /** Resampling scheme ['systematic']. */
  scheme?: ResamplingScheme;
  /** Denoise the pool by Tweedie at the last time, as `sampleReverseSDE` does [true]. */
  denoiseLast?: boolean;
}

export interface SnirResult {
  /** `n` resampled points. */
  readonly samples: Batch;
  /** The weighted pool (`M` rows) and its log-weights `log l(x_i)`. */
  readonly pool: Batch;
  readonly logWeights: Float64Array;
  /** Pool rows that were drawn, one per output sample. */
  readonly indices: Int32Array;
  /** Kish effective sample size of the pool's weights. */
  readonly ess: number;
  /** `log mean_i l(x_i)`, an estimate of `log E_p[l]` (its exponential is unbiased). */
  readonly logMeanWeight: number;
  readonly evaluations: EvaluationCounts;
}

/**
 * Keys: the pool from `split(key)[0]` (so a larger pool extends a smaller one row by row), the
 * resampling from `split(key)[1]`.
 */
export function snir(key: Key, model: ScoreModel, logWeight: LogWeight, sde: DiffusionSDE, opts: SnirOptions): SnirResult {
  const what = 'snir';
  const n = opts.n;
  const pool = opts.pool ?? n;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what}: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(pool) || pool < 1) throw new RangeError(`${what}: pool must be a positive integer, got ${pool}`);
  if (logWeight.dim !== model.dim) throw new RangeError(`${what}: log-weight has dimension ${logWeight.dim}, score model ${model.dim}`);
  const counts = zeroCounts();
  const [kPool, kRes] = split(key, 2);
  // Stage 1: the pool from p by the plain reverse SDE.
  const x = sampleReverseSDE(kPool, countedScoreModel(model, counts), sde, {
    n: pool, steps: opts.steps, grid: opts.grid, tMin: opts.tMin, tEnd: opts.tEnd, denoiseLast: opts.denoiseLast,
  });
  // Stage 2: log-weights log l(x_i).
  const lw = countedLogWeight(logWeight, counts).value(x);
  if (lw.length !== pool) throw new RangeError(`${what}: log-weight returned ${lw.length} values for ${pool} points`);
  for (let i = 0; i < pool; i++) {
    if (Number.isNaN(lw[i]) || lw[i] === Infinity) throw new RangeError(`${what}: log l is ${lw[i]} at pool row ${i}`);
  }
  // Stage 3: resample n rows with probabilities w_i ∝ l(x_i).
  const indices = resampleIndices(kRes, lw, n, opts.scheme ?? 'systematic');
  return {
    samples: gatherRows(x, indices),
    pool: x,
    logWeights: lw,
    indices,
    ess: essFromLogWeights(lw),
    logMeanWeight: logSumExp(lw) - Math.log(pool),
    evaluations: counts,
  };
}
