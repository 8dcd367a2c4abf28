/**
 * Posterior means for a batch of problems, in fixed chunks of problems so that the work can be
 * spread over worker threads (`worker-pool.ts`) without changing the result: chunk `c` (problems
 * `c C .. (c+1) C - 1`, `C = CHUNK_PROBLEMS`) always uses the key `foldIn(key, c)`, whichever
 * thread runs it and however many threads there are.
 */
import { makeBatch, type Batch } from '../core/batch.js';
import { foldIn, keyData, keyFromData, type Key } from '../core/key.js';
import type { Target, ValueAndGrad } from '../core/types.js';
import { idemScoreEstimate, type IdemScoreOptions } from '../baselines/idem.js';
import { aisPosteriorMean, type AisPosteriorOptions } from './ais-posterior.js';
import type { PosteriorEstimate } from './estimate.js';
import { hmcPosteriorMean, type HmcPosteriorOptions } from './hmc-posterior.js';
import type { GaussianReference, PosteriorProblems } from './posterior.js';

/**
 * The estimator of the regression target. 'idem' is the iDEM baseline's K-sample importance
 * estimate of the score (`baselines/idem.ts`), returned here as the Tweedie mean
 * `x0hat = (x_t + sigma^2 s_hat) / alpha` so that one training loop serves both methods (the
 * loop turns it back into `s_hat` exactly).
 */
export type PosteriorConfig =
  | ({ kind: 'ais' } & AisPosteriorOptions)
  | ({ kind: 'hmc' } & HmcPosteriorOptions)
  | ({ kind: 'idem' } & IdemScoreOptions);

/** Problems per chunk: small enough to balance 2–16 threads at batch 64–256, large enough to vectorise. */
export const CHUNK_PROBLEMS = 8;

/** One chunk's work, as plain data (what crosses to a worker thread). */
export interface ChunkTask {
  key: [number, number];
  dim: number;
  xt: Float64Array;
  alpha: Float64Array;
  sigma: Float64Array;
  posterior: PosteriorConfig;
  reference?: GaussianReference;
}

/** One chunk's result, as plain data. */
export interface ChunkResult {
  x0: Float64Array;
  ess: Float64Array;
  acceptance: number;
  refineAcceptance: number;
  targetEvaluations: number;
  nonFinite: number;
}

/** Solve one chunk (in this thread). */
export function runChunk(target: Target, task: ChunkTask): ChunkResult {
  const n = task.alpha.length;
  const problems: PosteriorProblems = { xt: makeBatch(n, task.dim, task.xt), alpha: task.alpha, sigma: task.sigma, reference: task.reference };
  const key = keyFromData(task.key);
  const prior = (x: Batch) => target.logDensityAndGrad(x);
  const p = task.posterior;
  if (p.kind === 'idem') return idemChunk(key, prior, problems, p);
  const e = p.kind === 'ais' ? aisPosteriorMean(key, prior, problems, p) : hmcPosteriorMean(key, prior, problems, p);
  return {
    x0: e.x0.data, ess: e.ess, acceptance: e.acceptance, refineAcceptance: e.refineAcceptance, targetEvaluations: e.targetEvaluations, nonFinite: e.nonFinite,
  };
}

function idemChunk(key: Key, prior: (x: Batch) => ValueAndGrad, problems: PosteriorProblems, opts: IdemScoreOptions): ChunkResult {
  const { xt, alpha, sigma } = problems;
  const e = idemScoreEstimate(key, prior, { xt, sigma, alpha }, opts);
  const d = xt.dim;
  const x0 = new Float64Array(xt.data.length);
  for (let b = 0; b < xt.n; b++) {
    for (let j = b * d; j < (b + 1) * d; j++) x0[j] = (xt.data[j] + sigma[b] * sigma[b] * e.score.data[j]) / alpha[b];
  }
  return { x0, ess: e.ess, acceptance: NaN, refineAcceptance: NaN, targetEvaluations: e.targetEvaluations, nonFinite: e.nonFinite };
}

/** Cut a batch of problems into chunk tasks. */
export function chunkTasks(key: Key, problems: PosteriorProblems, posterior: PosteriorConfig): ChunkTask[] {
  const { n, dim } = problems.xt;
  const tasks: ChunkTask[] = [];
  for (let c = 0, start = 0; start < n; c++, start += CHUNK_PROBLEMS) {
    const end = Math.min(n, start + CHUNK_PROBLEMS);
    tasks.push({
      key: keyData(foldIn(key, c)),
      dim,
      xt: problems.xt.data.slice(start * dim, end * dim),
      alpha: problems.alpha.slice(start, end),
      sigma: problems.sigma.slice(start, end),
      posterior,
      ...(problems.reference ? { reference: problems.reference } : {}),
    });
  }
  return tasks;
}

/** Join chunk results in order into one estimate (acceptance rates weighted by chunk size). */
export function mergeChunks(results: readonly ChunkResult[], dim: number): PosteriorEstimate {
  const n = results.reduce((s, r) => s + r.ess.length, 0);
  const x0 = makeBatch(n, dim);
  const ess = new Float64Array(n);
  let at = 0;
  let acc = 0;
  let refine = 0;
  let evals = 0;
  let nonFinite = 0;
  for (const r of results) {
    const m = r.ess.length;
    x0.data.set(r.x0, at * dim);
    ess.set(r.ess, at);
    acc += r.acceptance * m;
    refine += r.refineAcceptance * m;
    evals += r.targetEvaluations;
    nonFinite += r.nonFinite;
    at += m;
  }
  return { x0, ess, acceptance: acc / n, refineAcceptance: refine / n, targetEvaluations: evals, nonFinite };
}

/** Runs chunk tasks: in this thread, or on a pool of worker threads. */
export interface ChunkRunner {
  run(tasks: ChunkTask[]): Promise<ChunkResult[]>;
  close(): Promise<void>;
}

/** The single-thread runner. */
export function inThreadRunner(target: Target): ChunkRunner {
  return {
    run: async (tasks) => tasks.map((t) => runChunk(target, t)),
    close: async () => {},
  };
}

/** Posterior means of a batch of problems (see the module comment for the keys). */
export async function estimatePosteriorMeans(key: Key, runner: ChunkRunner, problems: PosteriorProblems, posterior: PosteriorConfig): Promise<PosteriorEstimate> {
  return mergeChunks(await runner.run(chunkTasks(key, problems, posterior)), problems.xt.dim);
}
