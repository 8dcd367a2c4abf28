/**
 * Chunked sampling in this thread or on a pool of worker threads (piscina: a maintained pool with
 * task queueing and error propagation), for `sample --model` and `issgm`, with or without
 * `--shard i/N`. Chunk `c` of a run draws with `foldIn(runKey, c)` for each of the run's keys
 * (`sample-chunk.ts`), so the result is the same for any thread count and any sharding.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { foldIn, keyData, type Key } from '../core/key.js';
import { InputError } from '../io/errors.js';
import type { Progress } from './progress.js';
import { CHUNK_ROWS, type ChunkJob, type ChunkOutput, type ChunkRunner, type ChunkTask } from './sample-chunk.js';

/** A half-open range of chunk indices `[first, end)`. */
export interface ChunkRange {
  first: number;
  end: number;
}

/** Chunks of a run of `n` rows (the last one may be short). */
export function chunkCount(n: number): number {
  return Math.ceil(n / CHUNK_ROWS);
}

/** First row and row count of chunk `c` of a run of `n` rows. */
export function chunkRows(n: number, c: number): { start: number; rows: number } {
  const start = c * CHUNK_ROWS;
  return { start, rows: Math.min(CHUNK_ROWS, n - start) };
}

/** Rows `[start, start + rows)` covered by a range of chunks. */
export function rangeRows(n: number, range: ChunkRange): { start: number; rows: number } {
  const start = range.first * CHUNK_ROWS;
  const end = Math.min(n, range.end * CHUNK_ROWS);
  return { start, rows: end - start };
}

/**
 * The default of `--threads`: one thread (in process, no start-up) when the work is at most two
 * chunks (2,000 rows: loading the model and the engine on a worker costs about what it saves);
 * otherwise one worker per core, but no more workers than chunks.
 */
export function defaultThreads(chunks: number): number {
  if (chunks <= 2) return 1;
  return Math.max(1, Math.min(availableParallelism(), chunks));
}

/** `--threads` help text (shared by the sampling commands). */
export const THREADS_HELP = 'sampling threads: 1 runs in this thread, N > 1 on N worker threads, each loading the model once; ' +
  'the samples do not depend on it [1 for at most 2,000 rows, else one per core (at most one per 1,000-row chunk)]';

/**
 * onnxruntime intra-op threads when not given: with T > 1 worker threads one each (the workers
 * already fill the cores; more would oversubscribe them), else the runtime's default (2).
 */
export function defaultOrtThreads(threads: number, given: number | undefined): number | undefined {
  return given ?? (threads > 1 ? 1 : undefined);
}

/** The compiled worker: next to this module in `dist/`; from `src/` (tests), the built copy in `dist/`. */
function workerFile(): string {
  const here = fileURLToPath(new URL('./sample-worker.js', import.meta.url));
  if (existsSync(here)) return here;
  const built = here.replace(/([\\/])src([\\/]cli[\\/])/, '$1dist$2');
  if (existsSync(built)) return built;
  throw new Error(`sample worker not found at ${here} or ${built}; run 'npm run build' first`);
}

/** What a worker sends back: the chunk, or its error as plain data (an error's class does not survive the thread boundary). */
export type WorkerReply = { output: ChunkOutput } | { error: { name: string; message: string; stack?: string } };

export interface RunChunksOptions {
  job: ChunkJob;
  /** The run's keys; chunk `c` gets `foldIn(k, c)` of each. */
  runKeys: Key[];
  /** Rows of the whole run (all shards). */
  n: number;
  /** The chunks to run (all of them, or a shard's). */
  range: ChunkRange;
  /** 1: in this thread with `local`; more: worker threads. */
  threads: number;
  /** The in-process runner (built from the already loaded model). */
  local: () => ChunkRunner | Promise<ChunkRunner>;
  /** Progress in sampler steps: `stepsPerChunk` per chunk. */
  progress?: Progress;
  stepsPerChunk: number;
  /** Named in error messages, e.g. 'shard 3/10'. */
  label?: string;
}

function task(o: RunChunksOptions, c: number): ChunkTask {
  return { job: o.job, chunk: c, rows: chunkRows(o.n, c).rows, keys: o.runKeys.map((k) => keyData(foldIn(k, c))) };
}

/** Run the chunks of `o.range`; outputs in chunk order. Any failure rejects the whole run. */
export async function runChunks(o: RunChunksOptions): Promise<ChunkOutput[]> {
  const count = o.range.end - o.range.first;
  const threads = Math.min(o.threads, count);
  let done = 0;
  if (threads <= 1) {
    const runner = await o.local();
    try {
      const outs: ChunkOutput[] = [];
      for (let c = o.range.first; c < o.range.end; c++) {
        const before = done;
        outs.push(await runner.run(task(o, c), (k) => o.progress?.tick(before + k)));
        done += o.stepsPerChunk;
      }
      return outs;
    } finally {
      runner.dispose();
    }
  }
  const pool = new Piscina({ filename: workerFile(), minThreads: threads, maxThreads: threads, idleTimeout: 60_000 });
  // When a chunk fails, Promise.all rejects and the pool is destroyed while other workers may still
  // be answering; piscina reports such a late reply as an 'error' event, which would crash the
  // process (exit 1, seen on a loaded machine) instead of the chunk's own message. The failure
  // is already being reported: late replies are dropped.
  pool.on('error', () => {});
  try {
    const jobs: Promise<ChunkOutput>[] = [];
    for (let c = o.range.first; c < o.range.end; c++) {
      const t = task(o, c);
      const { start } = chunkRows(o.n, c);
      const where = `chunk ${c} (rows ${start}..${start + t.rows - 1}${o.label ? `, ${o.label}` : ''}) failed on a worker thread`;
      jobs.push(
        (pool.run(t) as Promise<WorkerReply>).then(
          (reply) => {
            if ('error' in reply) throw workerError(where, reply.error);
            done += o.stepsPerChunk;
            o.progress?.tick(done);
            return reply.output;
          },
          (e: unknown) => {
            // The worker itself died (process.exit, an uncaught error outside the task, out of memory).
            const err = new Error(`${where}: the worker thread crashed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
            err.stack = `Error: ${err.message}`;
            throw err;
          },
        ),
      );
    }
    return await Promise.all(jobs);
  } finally {
    await pool.destroy();
  }
}

/** A worker's error, rebuilt with the chunk named: an InputError or RangeError stays one (exit code 2). */
function workerError(where: string, e: { name: string; message: string; stack?: string }): Error {
  const message = `${where}: ${e.message}`;
  if (e.name === 'InputError') return new InputError(message);
  if (e.name === 'RangeError') return new RangeError(message);
  const err = new Error(message);
  err.stack = `Error: ${message}\n  in the worker: ${e.stack ?? '(no stack)'}`;
  return err;
}
