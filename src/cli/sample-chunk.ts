/**
 * One chunk of a sampling run (`sample --model`, `issgm`), described by plain data so that it can
 * run in this thread or on a worker thread (`sample-worker.ts`) with the same result.
 *
 * Why chunks: a run of `n` rows is cut into chunks of `CHUNK_ROWS` rows, and chunk `c` always
 * draws with the key `foldIn(runKey, c)`. A chunk's rows therefore do not depend on which thread
 * runs it, how many threads there are, or which shard (`--shard i/N`, `sharding.ts`) it belongs
 * to: all N shards concatenated are exactly the unsharded run, and `--threads 1` and `--threads 8`
 * give the same bytes. The samplers are row-independent (a row's path does not depend on the
 * other rows), so the chunk size only fixes the random streams, not the statistics.
 */
import { makeBatch, type Batch } from '../core/batch.js';
import { keyFromData } from '../core/key.js';
import type { LogWeight, NoiseSchedule, ScoreModel } from '../core/types.js';
import { sampleReverseSDE } from '../diffusion/em.js';
import type { VPSDE } from '../diffusion/vp.js';
import { sampleIssgm, type IssgmCorrection, type IssgmRunOptions } from '../issgm/sampler.js';
import type { OnnxBackend, OnnxPredictorOptions } from '../models/onnx-predictor.js';
import { drawSamples, type SamplerName, type SamplingModel, type ScoreModelFactory } from './model-sampling.js';

/**
 * Rows per chunk. Part of the random stream's definition (changing it changes every sample), so
 * a constant, not an option: large enough that a network call stays vectorised, small enough
 * that 10,000 rows spread over 10 threads or shards.
 */
export const CHUNK_ROWS = 1000;

/** `sample --model`: the model, its engine, and the sampler. */
export interface SampleJob {
  kind: 'sample';
  model: string;
  engine?: OnnxBackend;
  ortThreads?: number;
  sampler: SamplerName;
  steps: number;
}

/** `issgm`: the model of `p`, the weight spec (resolved by the command's own `loadWeight`), and the sampler options. */
export interface IssgmJob {
  kind: 'issgm';
  model: string;
  weight: string;
  engine?: OnnxBackend;
  ortThreads?: number;
  steps: number;
  eps0: number;
  floor: number;
  /** The weight term: the paper's (`none`) or the posterior-variance correction, with its draws. */
  correction: IssgmCorrection;
  draws: number;
  /** Steps at which `E[x0 | xt]` is kept for the Fig. 2 panel (first two coordinates). */
  panelSteps: number[];
}

export type ChunkJob = SampleJob | IssgmJob;

/** One chunk: its index, its row count, and its keys (already folded with the chunk index; `keyData` words). */
export interface ChunkTask {
  job: ChunkJob;
  chunk: number;
  rows: number;
  keys: [number, number][];
}

/** ISSGM's diagnostics of one chunk, as counts that add up over chunks. */
export interface IssgmChunkStats {
  options: IssgmRunOptions;
  evaluations: number;
  scoreEvals: number;
  weightGradEvals: number;
  floored: number;
  nonFinite: number;
  flooredRows: number;
  nonFiniteRows: number;
}

/** One chunk's result, as plain data (what crosses back from a worker). */
export interface ChunkOutput {
  chunk: number;
  rows: number;
  dim: number;
  /** `sample`: model-space samples; `issgm`: samples of q. Row-major, rows x dim. */
  samples: Float64Array;
  /** `issgm`: plain reverse-SDE samples of p with the chunk's own key. */
  p?: Float64Array;
  /**
   * `issgm`: `E[x0 | xt]` at the panel steps, rows x (2 P 2): for panel step j, q's first two
   * coordinates at columns 2j, 2j+1 and p's at 2(P+j), 2(P+j)+1. Row-aligned, so that chunks and
   * shards concatenate like the samples.
   */
  panels?: Float64Array;
  /** `issgm`: the time of each panel step. */
  panelTimes?: number[];
  issgm?: IssgmChunkStats;
}

/** Runs chunks of one job with the model loaded once. `onStep(k)`: sampler steps done in this chunk. */
export interface ChunkRunner {
  run(task: ChunkTask, onStep?: (done: number) => void): Promise<ChunkOutput>;
  dispose(): void;
}

/** Steps one chunk reports through `onStep` (ISSGM runs q then p, both `steps` long). */
export function stepsPerChunk(job: ChunkJob, model?: { diffusion: SamplingModel['diffusion'] }): number {
  if (job.kind === 'issgm') return 2 * job.steps;
  return job.sampler === 'ancestral' && model?.diffusion.kind === 'ddpm' ? model.diffusion.steps : job.steps;
}

export function onnxOptions(job: { engine?: OnnxBackend; ortThreads?: number }): OnnxPredictorOptions {
  return { ...(job.engine !== undefined ? { backend: job.engine } : {}), ...(job.ortThreads !== undefined ? { threads: job.ortThreads } : {}) };
}

/**
 * A factory that builds each schedule's score model once and keeps it: `drawSamples` asks for (and
 * disposes) a model per call, and a worker runs many chunks; an onnxruntime session per chunk would
 * be wasted work. The kept models are disposed with the runner.
 */
function memoisedFactory(make: ScoreModelFactory): { makeModel: ScoreModelFactory; dispose(): void } {
  const cache = new Map<string, Promise<ScoreModel & { dispose(): void }>>();
  return {
    makeModel: async (schedule: NoiseSchedule) => {
      const id = `${schedule.constructor.name}:${JSON.stringify(schedule)}`;
      let m = cache.get(id);
      if (m === undefined) {
        m = make(schedule);
        cache.set(id, m);
      }
      const model = await m;
      return { dim: model.dim, score: (x, t) => model.score(x, t), dispose() {} };
    },
    dispose() {
      for (const m of cache.values()) m.then((x) => x.dispose(), () => {});
      cache.clear();
    },
  };
}

/** Chunks of `sample --model` on an already loaded model. */
export function sampleChunkRunner(job: SampleJob, model: SamplingModel): ChunkRunner {
  const factory = memoisedFactory(model.makeModel);
  return {
    async run(task, onStep) {
      const x = await drawSamples(keyFromData(task.keys[0]), model.diffusion, factory.makeModel, {
        n: task.rows, steps: job.steps, sampler: job.sampler, callback: onStep ? ({ step }) => onStep(step + 1) : undefined,
      });
      return { chunk: task.chunk, rows: task.rows, dim: x.dim, samples: x.data };
    },
    dispose: () => factory.dispose(),
  };
}

/** Chunks of `issgm` on an already loaded score model of `p` and weight: q by ISSGM and p by the reverse SDE, with the panel snapshots. */
export function issgmChunkRunner(job: IssgmJob, base: { score: ScoreModel; sde: VPSDE }, weight: LogWeight): ChunkRunner {
  const dim = base.score.dim;
  const P = job.panelSteps.length;
  const panelIndex = new Map(job.panelSteps.map((s, j) => [s, j]));
  return {
    async run(task, onStep) {
      const rows = task.rows;
      const panels = P > 0 && dim >= 2 ? new Float64Array(rows * 4 * P) : undefined;
      const panelTimes: number[] = new Array<number>(P).fill(NaN);
      const keep = (offset: number) => (info: { step: number; t: number; x0hat?: Batch }) => {
        const j = panelIndex.get(info.step);
        if (j === undefined || panels === undefined || info.x0hat === undefined) return;
        panelTimes[j] = info.t;
        const src = info.x0hat.data;
        for (let i = 0; i < rows; i++) {
          panels[i * 4 * P + 2 * (offset + j)] = src[i * dim];
          panels[i * 4 * P + 2 * (offset + j) + 1] = src[i * dim + 1];
        }
      };
      const keepQ = keep(0);
      const keepP = keep(P);
      const q = sampleIssgm(keyFromData(task.keys[0]), base.score, weight, base.sde, {
        n: rows, steps: job.steps, eps0: job.eps0, floor: job.floor, correction: job.correction, draws: job.draws,
        callback: (info) => { onStep?.(Math.min(job.steps, info.step + 1)); keepQ(info); },
      });
      const p = sampleReverseSDE(keyFromData(task.keys[1]), base.score, base.sde, {
        n: rows, steps: job.steps,
        callback: (info) => { onStep?.(job.steps + Math.min(job.steps, info.step + 1)); keepP(info); },
      });
      const d = q.diagnostics;
      let flooredRows = 0;
      let nonFiniteRows = 0;
      for (let i = 0; i < rows; i++) {
        if (d.flooredPerSample[i] > 0) flooredRows++;
        if (d.nonFinitePerSample[i] > 0) nonFiniteRows++;
      }
      return {
        chunk: task.chunk, rows, dim, samples: q.samples.data, p: p.data,
        ...(panels ? { panels, panelTimes } : {}),
        issgm: {
          options: d.options, evaluations: d.evaluations, scoreEvals: d.scoreEvals, weightGradEvals: d.weightGradEvals,
          floored: d.floored, nonFinite: d.nonFinite, flooredRows, nonFiniteRows,
        },
      };
    },
    dispose() {},
  };
}

/** Rows of a chunk output as a Batch. */
export function chunkBatch(out: ChunkOutput): Batch {
  return makeBatch(out.rows, out.dim, out.samples);
}
