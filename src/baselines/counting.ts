/**
 * Counting the work of a sampler, so that methods can be compared at an equal budget of network
 * evaluations (SPEC §2: "same budget of network evaluations where it applies").
 *
 * Counts are in rows: a call of `score` on a batch of 1000 points is 1000 score evaluations.
 * A vector-Jacobian product through a score network (DPS, TDS) is counted apart (`vjpRows`): it
 * costs a backward pass, roughly two forward passes when the forward pass is shared with the
 * score evaluation. A finite-difference VJP is built on the counted model, so its two extra score
 * evaluations per row show up in `scoreRows` instead.
 */
import type { Batch } from '../core/batch.js';
import type { LogWeight, ScoreModel, ValueAndGrad } from '../core/types.js';
import type { ScoreModelWithVjp } from './vjp.js';

export interface EvaluationCounts {
  /** Calls of `score` (batched network forward passes). */
  scoreCalls: number;
  /** Rows evaluated by `score`. */
  scoreRows: number;
  /** Calls of an analytic or autodiff `scoreVjp`. */
  vjpCalls: number;
  /** Rows of those calls. */
  vjpRows: number;
  /** Rows where `log l` was evaluated (value only or with its gradient). */
  logWeightRows: number;
  /** Rows where the gradient of `log l` was evaluated. */
  logWeightGradRows: number;
}

export function zeroCounts(): EvaluationCounts {
  return { scoreCalls: 0, scoreRows: 0, vjpCalls: 0, vjpRows: 0, logWeightRows: 0, logWeightGradRows: 0 };
}

/**
 * Network evaluations in forward-pass units: `scoreRows + vjpCost * vjpRows`, with `vjpCost` [2]
 * the cost of one backward pass relative to a forward pass (the forward pass of a DPS/TDS VJP is
 * the score evaluation already counted).
 */
export function networkEvaluations(c: EvaluationCounts, vjpCost = 2): number {
  return c.scoreRows + vjpCost * c.vjpRows;
}

/** A score model that adds its work to `counts` (keeps `scoreVjp` when the model has one). */
export function countedScoreModel(model: ScoreModel, counts: EvaluationCounts): ScoreModel | ScoreModelWithVjp {
  const score = (x: Batch, t: number | Float64Array): Batch => {
    counts.scoreCalls++;
    counts.scoreRows += x.n;
    return model.score(x, t);
  };
  const vjp = (model as Partial<ScoreModelWithVjp>).scoreVjp;
  if (typeof vjp !== 'function') return { dim: model.dim, score };
  return {
    dim: model.dim,
    score,
    scoreVjp: (x: Batch, t: number | Float64Array, v: Batch): Batch => {
      counts.vjpCalls++;
      counts.vjpRows += x.n;
      return vjp.call(model, x, t, v);
    },
  };
}

/** A log-weight that adds its work to `counts`. */
export function countedLogWeight(lw: LogWeight, counts: EvaluationCounts): LogWeight {
  return {
    dim: lw.dim,
    value: (x: Batch): Float64Array => {
      counts.logWeightRows += x.n;
      return lw.value(x);
    },
    valueAndGrad: (x: Batch): ValueAndGrad => {
      counts.logWeightRows += x.n;
      counts.logWeightGradRows += x.n;
      return lw.valueAndGrad(x);
    },
  };
}
