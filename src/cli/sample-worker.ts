/**
 * Worker-thread entry of `chunked-sampling.ts`: runs chunks of `sample --model` and `issgm` jobs.
 * The model (checkpoint folder, model.onnx or exact:NAME) and the weight are rebuilt here from the
 * same spec strings, by the same functions the commands use, once per thread and job.
 */
import { loadBase, loadWeight } from './commands/issgm.js';
import type { WorkerReply } from './chunked-sampling.js';
import { loadSamplingModel } from './model-sampling.js';
import { issgmChunkRunner, onnxOptions, sampleChunkRunner, type ChunkJob, type ChunkRunner, type ChunkTask } from './sample-chunk.js';

let cached: { id: string; runner: Promise<ChunkRunner> } | undefined;

async function load(job: ChunkJob): Promise<ChunkRunner> {
  if (job.kind === 'sample') return sampleChunkRunner(job, loadSamplingModel(job.model, onnxOptions(job)));
  const base = await loadBase(job.model, onnxOptions(job));
  const weight = await loadWeight(job.weight, base.score.dim);
  return issgmChunkRunner(job, base, weight);
}

export default async function runTask(task: ChunkTask): Promise<WorkerReply> {
  try {
    const id = JSON.stringify(task.job);
    if (cached?.id !== id) {
      if (cached) (await cached.runner.catch(() => undefined))?.dispose();
      cached = { id, runner: load(task.job) };
    }
    const runner = await cached.runner;
    return { output: await runner.run(task) };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return { error: { name: err.name, message: err.message, ...(err.stack !== undefined ? { stack: err.stack } : {}) } };
  }
}
